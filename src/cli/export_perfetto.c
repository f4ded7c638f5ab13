/*
 * export_perfetto.c — `ttmem export --format perfetto`: a run as a Perfetto protobuf trace
 * (common/perfetto.h writes the bytes; docs/EXPORT.md says what maps to what).
 *
 * Tracks: a process track per (run, pid), written at begin() from the processes a first replay
 * found, so every track has its name before any event refers to it (a process the first replay
 * did not list gets a track "pid P" when first needed); a counter track per (run, device,
 * memtype) the first time the replay's usage callback names it. Events: every usage callback
 * is a counter value; every anomaly class an event was given, every leak at exit, every
 * process exit and every mark is an instant on its process's track.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/export.h"
#include "common/alloc.h"
#include "common/perfetto.h"
#include "common/util.h"
#include "core/registry.h"
#include "ttmem/ttmem.h"

typedef struct pf_proc {
    uint32_t pid;
    uint64_t uuid;
} pf_proc;

/* One run's tracks: process tracks sorted by pid, counter tracks by device * MEMTYPES +
 * memtype (0 = not written yet). */
typedef struct pf_run {
    bool named;       /* device tracks "HOST device D" (a trace of several runs), else
                       * "device D" */
    char host[TTM_JOURNAL_HOST_MAX];
    pf_proc *procs;
    size_t nprocs, capprocs;
    uint64_t *counters;
    size_t ncounters;
} pf_run;

struct ttm_export_sink {
    ttm_perfetto pf;
    FILE *f;
    ttm_export_ends ends; /* lives waiting for the event that closed them */
    pf_run *runs;
    size_t nruns;
    int err;
};

static void fail(ttm_export_sink *s, int err)
{
    if (s->err == 0)
        s->err = err;
}

/* The state of run r, made on first use; NULL (and s->err) when memory ran out. */
static pf_run *run_of(ttm_export_sink *s, size_t r)
{
    if (r >= s->nruns) {
        pf_run *n = ttm__reallocarray(s->runs, r + 1, sizeof *n);
        if (n == NULL) {
            fail(s, TTM_ENOMEM);
            return NULL;
        }
        memset(n + s->nruns, 0, (r + 1 - s->nruns) * sizeof *n);
        s->runs = n;
        s->nruns = r + 1;
    }
    return &s->runs[r];
}

/* The index where pid is or would go in the run's sorted process tracks. */
static size_t proc_slot(const pf_run *pr, uint32_t pid)
{
    size_t lo = 0, hi = pr->nprocs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (pr->procs[mid].pid < pid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Writes pid's process track named name and keeps it in the run's sorted list. */
static uint64_t add_proc(ttm_export_sink *s, pf_run *pr, uint32_t pid, const char *name)
{
    pf_proc *p = ttm__grow(pr->procs, &pr->capprocs, pr->nprocs, sizeof *p, 16);
    if (p == NULL) {
        fail(s, TTM_ENOMEM);
        return 0;
    }
    pr->procs = p;
    uint64_t uuid = 0;
    int err = ttm__perfetto_process(&s->pf, pid, name, &uuid);
    if (err != 0) {
        fail(s, err);
        return 0;
    }
    size_t at = proc_slot(pr, pid);
    memmove(&pr->procs[at + 1], &pr->procs[at], (pr->nprocs - at) * sizeof *pr->procs);
    pr->procs[at] = (pf_proc){.pid = pid, .uuid = uuid};
    pr->nprocs++;
    return uuid;
}

/* The track of (run, pid), written ("pid P") when the first replay did not list it. */
static uint64_t proc_track(ttm_export_sink *s, size_t run, uint32_t pid)
{
    pf_run *pr = run_of(s, run);
    if (pr == NULL || s->err != 0)
        return 0;
    size_t at = proc_slot(pr, pid);
    if (at < pr->nprocs && pr->procs[at].pid == pid)
        return pr->procs[at].uuid;
    return add_proc(s, pr, pid, NULL);
}

/* The counter track of (run, device, memtype), written the first time. */
static uint64_t counter_track(ttm_export_sink *s, size_t run, uint16_t device, uint8_t memtype)
{
    pf_run *pr = run_of(s, run);
    if (pr == NULL || s->err != 0 || !ttm__memtype_valid(memtype))
        return 0;
    size_t i = (size_t)device * TTM_MEMTYPE_COUNT + memtype;
    if (i >= pr->ncounters) {
        size_t n = (size_t)(device + 1) * TTM_MEMTYPE_COUNT;
        uint64_t *c = ttm__reallocarray(pr->counters, n, sizeof *c);
        if (c == NULL) {
            fail(s, TTM_ENOMEM);
            return 0;
        }
        memset(c + pr->ncounters, 0, (n - pr->ncounters) * sizeof *c);
        pr->counters = c;
        pr->ncounters = n;
    }
    if (pr->counters[i] == 0) {
        int err = ttm__perfetto_counter_track_in(&s->pf, (uint32_t)run,
                                                 pr->named ? pr->host : NULL, device,
                                                 memtype, NULL, &pr->counters[i]);
        if (err != 0) {
            fail(s, err);
            return 0;
        }
    }
    return pr->counters[i];
}

static void instant(ttm_export_sink *s, size_t run, uint32_t pid, uint64_t ts, const char *name)
{
    uint64_t track = proc_track(s, run, pid);
    if (track == 0)
        return;
    int err = ttm__perfetto_instant(&s->pf, track, ts, name);
    if (err != 0)
        fail(s, err);
}

/* ---- the observer ---------------------------------------------------------------------------- */

static void on_usage(void *ctx, size_t run, uint64_t ts, uint16_t device, uint8_t memtype,
                     uint64_t bytes)
{
    ttm_export_sink *s = ctx;
    uint64_t track = counter_track(s, run, device, memtype);
    if (track == 0)
        return;
    int err = ttm__perfetto_counter(&s->pf, track, ts, (int64_t)bytes);
    if (err != 0)
        fail(s, err);
}

/* One instant per anomaly class the event was given, named "CLASS 0xADDR on device D TYPE". */
static void on_event(void *ctx, size_t run, const ttm_journal_event *e, uint32_t mask,
                     const ttm_apply_info *info)
{
    (void)info;
    ttm_export_sink *s = ctx;
    ttm_export_ends_flush(&s->ends, e->kind == TTM_EV_ALLOC);
    for (unsigned c = 0; c < TTM_CLASS__COUNT && s->err == 0; c++) {
        if (!(mask & TTM_CLASS_BIT(c)) || !ttm_class_is_anomaly(c))
            continue;
        char name[96];
        snprintf(name, sizeof name, "%s 0x%" PRIx64 " on device %u %s", ttm_class_name(c),
                 e->addr, (unsigned)e->device, ttm__memtype_name(e->memtype));
        instant(s, run, e->pid, e->ts, name);
    }
}

/* A leak and a replaced buffer (missed_free) are anomalies of a buffer, not of an event: an
 * instant on its owner's track when its life ends (a leak: at its process's exit). */
static void on_life(void *ctx, size_t run, const ttm_replay_buffer *b, ttm_export_end end)
{
    ttm_export_sink *s = ctx;
    if (end != TTM_EXPORT_LEAKED && end != TTM_EXPORT_REPLACED)
        return;
    char name[96];
    snprintf(name, sizeof name, "%s 0x%" PRIx64 " on device %u %s (%" PRIu64 " bytes)",
             ttm_class_name(end == TTM_EXPORT_LEAKED ? TTM_CLASS_LEAKED_AT_EXIT
                                                     : TTM_CLASS_MISSED_FREE),
             b->addr, (unsigned)b->device, ttm__memtype_name(b->memtype), b->size);
    instant(s, run, b->pid, b->free_ts, name);
}

static void on_buffer(void *ctx, size_t run, const ttm_replay_buffer *b)
{
    ttm_export_sink *s = ctx;
    ttm_export_ends_add(&s->ends, run, b);
}

static void on_proc(void *ctx, size_t run, const ttm_journal_proc *p)
{
    ttm_export_sink *s = ctx;
    ttm_export_ends_flush(&s->ends, false);
    if (p->state != TTM_JOURNAL_PROC_EXIT)
        return;
    char name[64];
    if (p->status >= 0)
        snprintf(name, sizeof name, "process exit (status %" PRId32 ")", p->status);
    else
        snprintf(name, sizeof name, "process exit");
    instant(s, run, p->pid, p->ts, name);
}

static void on_mark(void *ctx, size_t run, const ttm_journal_mark *m)
{
    ttm_export_sink *s = ctx;
    ttm_export_ends_flush(&s->ends, false);
    char name[TTM_MARK_NAME_MAX + 8];
    snprintf(name, sizeof name, "mark %s", m->name);
    instant(s, run, m->pid, m->ts, name);
}

/* ---- the format ------------------------------------------------------------------------------ */

static int pf_open(ttm_export_sink **out, FILE *f, const char *path, char *msg, size_t len)
{
    (void)path;
    ttm_export_sink *s = ttm__calloc(1, sizeof *s);
    if (s == NULL) {
        ttm__set_msg(msg, len, "out of memory");
        return TTM_ENOMEM;
    }
    s->f = f;
    s->ends = (ttm_export_ends){.fn = on_life, .ctx = s};
    ttm__perfetto_open(&s->pf, f);
    *out = s;
    return 0;
}

static void pf_observer(ttm_export_sink *s, ttm_replay_observer *obs)
{
    *obs = (ttm_replay_observer){.ctx = s, .event = on_event, .buffer = on_buffer,
                                 .proc = on_proc, .mark = on_mark, .usage = on_usage};
}

/* The run's process tracks, named, before any event; device tracks carry the host name when
 * the trace holds several runs, so that device 0 of two hosts stay apart. */
static int pf_begin(ttm_export_sink *s, const ttm_export_run *run)
{
    pf_run *pr = run_of(s, run->run);
    if (pr == NULL)
        return s->err;
    pr->named = run->nruns > 1;
    snprintf(pr->host, sizeof pr->host, "%s", run->host != NULL ? run->host : "");
    for (size_t i = 0; i < run->nprocs && s->err == 0; i++)
        add_proc(s, pr, run->procs[i].pid, run->procs[i].name);
    return s->err;
}

static int pf_end(ttm_export_sink *s, const ttm_export_run *run)
{
    (void)run;
    return s->err;
}

static int pf_close(ttm_export_sink *s, bool ok, char *msg, size_t len)
{
    if (s == NULL)
        return 0;
    if (ok)
        ttm_export_ends_flush(&s->ends, false);
    bool lost = s->ends.nomem;
    ttm_export_ends_free(&s->ends);
    int err = ttm__perfetto_close(&s->pf);
    if (s->err != 0)
        err = s->err;
    else if (ok && lost && err == 0)
        err = TTM_ENOMEM; /* a missed_free instant could not be told */
    for (size_t i = 0; i < s->nruns; i++) {
        ttm__free(s->runs[i].procs);
        ttm__free(s->runs[i].counters);
    }
    ttm__free(s->runs);
    ttm__free(s);
    return ttm_export_close_msg(err, msg, len);
}

const ttm_export_format ttm_export_perfetto = {
    .name = "perfetto",
    .ext = ".perfetto-trace",
    .to_stream = true,
    .needs_procs = true,
    .open = pf_open,
    .observer = pf_observer,
    .begin = pf_begin,
    .end = pf_end,
    .close = pf_close,
};
