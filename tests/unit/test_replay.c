/*
 * test_replay.c — journals read back (core/replay.h): for every simulator scenario and client,
 * the replay's report equals the report of the registry that wrote the journal, its usage
 * callback ends at the registry's bytes in use, its peaks are the registry's own peaks, and the
 * buffer lives still open at the end are the registry's live records.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/bytes.h"
#include "common/journal.h"
#include "common/snapshot.h"
#include "core/jtap.h"
#include "core/replay.h"
#include "core/report.h"
#include "sim/sim.h"
#include "ttmem/ttmem.h"

#define MT TTM_MEMTYPE_COUNT

static const ttm_report_options ropt = {
    .top = 10, .sections = TTM_REPORT_SECTIONS | TTM_SNAP_BIT(TTM_SNAP_SEC_STACKS)};

static void tap_event(void *arg, uint32_t pid, const ttm_event *ev)
{
    ttm_jtap_apply(arg, pid, ev);
}

/* The simulator's peaks with their live sets, copied. */
typedef struct peaks {
    size_t n;
    ttm_sim_peak_set p[TTM_SIM_MAX_PEAKS * 4];
} peaks;

static void on_peak(void *arg, const ttm_sim_peak_set *p)
{
    peaks *ps = arg;
    assert_true(ps->n < sizeof ps->p / sizeof ps->p[0]);
    ttm_sim_peak_set *c = &ps->p[ps->n++];
    *c = *p;
    ttm_sim_live *v = calloc(p->nlive ? p->nlive : 1, sizeof *v);
    assert_non_null(v);
    memcpy(v, p->live, p->nlive * sizeof *v);
    c->live = v;
}

static void peaks_free(peaks *ps)
{
    for (size_t i = 0; i < ps->n; i++)
        free((void *)ps->p[i].live);
    ps->n = 0;
}

/* Runs a scenario into a fresh registry through a journal at path (block_size small so that
 * the journal has many blocks); ps (may be NULL) gets its peaks. Returns the registry. */
static ttm_registry *write_journal_on(const char *host, uint64_t run_id, const char *scenario,
                                      ttm_sim_client client, const char *path, size_t block_size,
                                      peaks *ps)
{
    ttm_registry *reg = NULL;
    assert_int_equal(ttm_registry_open(&reg, NULL), TTM_OK);
    ttm_journal_writer *w = NULL;
    ttm_journal_opts o = {.block_size = block_size, .host = host, .run_id = run_id};
    assert_int_equal(ttm_journal_writer_open(path, -1, &o, &w), TTM_OK);
    ttm_jtap tap;
    assert_int_equal(ttm_jtap_open(&tap, reg, w, NULL, 0), TTM_OK);
    const char title[] = "simulate test";
    assert_int_equal(ttm_jtap_chunk(&tap, TTM_JOURNAL_CHUNK_RUN, 0, title, strlen(title)),
                     TTM_OK);
    peaks none = {0};
    assert_int_equal(ttm_sim_run_peaks(scenario, client, 1, ttm_registry_stacks(reg), tap_event,
                                       &tap, NULL, on_peak, ps != NULL ? ps : &none),
                     TTM_OK);
    peaks_free(&none);
    assert_int_equal(ttm_jtap_close(&tap), TTM_OK);
    assert_int_equal(ttm_journal_writer_close(w), TTM_OK);
    return reg;
}

static ttm_registry *write_journal(const char *scenario, ttm_sim_client client, const char *path,
                                   size_t block_size, peaks *ps)
{
    return write_journal_on("hostA", 7, scenario, client, path, block_size, ps);
}

static void encode(const ttm_report *r, ttm_bytes *out)
{
    out->len = 0;
    assert_int_equal(ttm_report_encode(r, out), TTM_OK);
}

/* What the observer saw. */
typedef struct seen {
    uint64_t use[4][MT]; /* devices 0..3 of the scenarios that matter here; more are summed */
    uint64_t use_other;
    uint64_t live_count[4][MT], live_bytes[4][MT];
    uint64_t lives, leaked;
    uint64_t events;
} seen;

static void on_usage(void *ctx, size_t run, uint64_t ts, uint16_t device, uint8_t memtype,
                     uint64_t bytes)
{
    (void)run;
    (void)ts;
    seen *s = ctx;
    if (device < 4)
        s->use[device][memtype] = bytes;
}

static void on_buffer(void *ctx, size_t run, const ttm_replay_buffer *b)
{
    (void)run;
    seen *s = ctx;
    s->lives++;
    s->leaked += b->leaked;
    if (b->free_ts == 0 && !(b->flags & TTM_FLAG_VIEW) && b->device < 4) {
        s->live_count[b->device][b->memtype]++;
        s->live_bytes[b->device][b->memtype] += b->size;
    }
}

static void on_event(void *ctx, size_t run, const ttm_journal_event *e, uint32_t mask,
                     const ttm_apply_info *info)
{
    (void)run;
    (void)e;
    (void)mask;
    (void)info;
    ((seen *)ctx)->events++;
}

/* ---- live at the peak ------------------------------------------------------------------ */

typedef struct live_at {
    uint16_t device;
    uint8_t memtype;
    ttm_sim_live v[1 << 16];
    size_t n;
} live_at;

static void on_live(void *ctx, size_t run, const ttm_replay_buffer *b)
{
    (void)run;
    live_at *l = ctx;
    if (b->free_ts != 0 || (b->flags & TTM_FLAG_VIEW) || b->device != l->device ||
        b->memtype != l->memtype)
        return;
    assert_true(l->n < sizeof l->v / sizeof l->v[0]);
    l->v[l->n++] = (ttm_sim_live){.pid = b->pid, .device = b->device, .memtype = b->memtype,
                                  .addr = b->addr, .size = b->size, .obj = b->obj};
}

static int sim_live_cmp(const void *a, const void *b)
{
    const ttm_sim_live *x = a, *y = b;
    if (x->addr != y->addr)
        return x->addr < y->addr ? -1 : 1;
    if (x->pid != y->pid)
        return x->pid < y->pid ? -1 : 1;
    if (x->obj != y->obj)
        return x->obj < y->obj ? -1 : 1;
    return x->size < y->size ? -1 : x->size > y->size;
}

/* Every peak of the simulator's model: the replay finds it at the same time with the same
 * bytes, and replayed to it, the buffers open there are the model's live set. */
static void check_peaks(ttm_replay *rp, const peaks *ps, const char *name)
{
    live_at *l = calloc(1, sizeof *l);
    assert_non_null(l);
    for (size_t i = 0; i < ps->n; i++) {
        const ttm_sim_peak_set *p = &ps->p[i];
        uint64_t ts, bytes, rec;
        if (ttm_replay_peak(rp, 0, p->device, p->memtype, &ts, &bytes, &rec) != TTM_OK)
            fail_msg("%s: no peak of device %u memtype %u in the replay; the model's is %llu B",
                     name, p->device, p->memtype, (unsigned long long)p->bytes);
        if (bytes != p->bytes || ts != p->ts)
            fail_msg("%s: peak of device %u memtype %u: %llu B at %llu, the model says %llu B "
                     "at %llu",
                     name, p->device, p->memtype, (unsigned long long)bytes,
                     (unsigned long long)ts, (unsigned long long)p->bytes,
                     (unsigned long long)p->ts);
        l->device = p->device;
        l->memtype = p->memtype;
        l->n = 0;
        ttm_replay_observer obs = {.ctx = l, .buffer = on_live};
        assert_int_equal(ttm_replay_run_to(rp, &obs, 0, rec), TTM_OK);
        ttm_sim_live *want = calloc(p->nlive ? p->nlive : 1, sizeof *want);
        memcpy(want, p->live, p->nlive * sizeof *want);
        qsort(want, p->nlive, sizeof *want, sim_live_cmp);
        qsort(l->v, l->n, sizeof l->v[0], sim_live_cmp);
        uint64_t sum = 0;
        for (size_t k = 0; k < l->n; k++)
            sum += l->v[k].size;
        assert_int_equal(sum, p->bytes);
        if (l->n != p->nlive || memcmp(want, l->v, l->n * sizeof *want) != 0)
            fail_msg("%s: device %u memtype %u: %zu buffers live at the peak, the model has %zu",
                     name, p->device, p->memtype, l->n, p->nlive);
        free(want);
    }
    free(l);
}

/* The replay of a whole scenario against the registry that wrote it. */
static void check_scenario(const char *name, ttm_sim_client client)
{
    char path[] = "/tmp/ttm_replay_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    peaks *ps = calloc(1, sizeof *ps);
    assert_non_null(ps);
    ttm_registry *reg = write_journal(name, client, path, 4096, ps);

    ttm_report want;
    assert_int_equal(ttm_report_fill(reg, &ropt, &want), TTM_OK);

    ttm_replay *rp = NULL;
    char msg[256];
    const char *paths[] = {path};
    assert_int_equal(ttm_replay_open(&rp, paths, 1, msg, sizeof msg), TTM_OK);
    assert_int_equal(ttm_replay_runs(rp), 1);
    seen s;
    memset(&s, 0, sizeof s);
    ttm_replay_observer obs = {.ctx = &s, .usage = on_usage, .buffer = on_buffer,
                               .event = on_event};
    assert_int_equal(ttm_replay_run(rp, &obs, UINT64_MAX), TTM_OK);
    ttm_replay_summary(rp, msg, sizeof msg);
    assert_string_equal(msg, "");
    assert_int_equal(ttm_replay_mismatches(rp), 0);
    assert_string_equal(ttm_replay_title(rp, 0), "simulate test");
    assert_string_equal(ttm_replay_host(rp, 0), "hostA");

    ttm_report got;
    assert_int_equal(ttm_replay_report(rp, &ropt, &got), TTM_OK);
    ttm_bytes a = {0}, b = {0};
    encode(&want, &a);
    encode(&got, &b);
    if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
        fail_msg("%s (%s): the replay's report differs from the writer's (%zu vs %zu bytes)",
                 name, client == TTM_SIM_LEGACY ? "legacy" : "identity", b.len, a.len);

    /* usage, peaks and live buffers against the registry's own statistics */
    ttm_totals t;
    ttm_registry_totals(reg, &t);
    assert_int_equal(s.events, t.allocs + t.frees);
    size_t nd = ttm_registry_devices(reg, NULL, 0);
    ttm_device_stats *devs = calloc(nd ? nd : 1, sizeof *devs);
    ttm_registry_devices(reg, devs, nd);
    for (size_t i = 0; i < nd; i++) {
        const ttm_device_stats *d = &devs[i];
        for (unsigned m = 0; m < MT; m++) {
            if (d->device < 4) {
                assert_int_equal(s.use[d->device][m], d->mem[m].live_bytes);
                assert_int_equal(s.live_bytes[d->device][m], d->mem[m].live_bytes);
                assert_int_equal(s.live_count[d->device][m], d->mem[m].live_count);
            }
            uint64_t ts, bytes, rec;
            int rc = ttm_replay_peak(rp, 0, d->device, (uint8_t)m, &ts, &bytes, &rec);
            if (d->mem[m].peak_bytes == 0) {
                assert_int_equal(rc, TTM_ENOENT);
            } else {
                assert_int_equal(rc, TTM_OK);
                assert_int_equal(bytes, d->mem[m].peak_bytes);
                assert_int_equal(ts, d->mem[m].peak_ts);
            }
        }
    }
    free(devs);
    assert_int_equal(s.leaked, t.class_count[TTM_CLASS_LEAKED_AT_EXIT]);
    check_peaks(rp, ps, name);
    peaks_free(ps);
    free(ps);

    ttm__bytes_free(&a);
    ttm__bytes_free(&b);
    ttm_report_clear(&want);
    ttm_report_clear(&got);
    ttm_replay_close(rp);
    ttm_registry_close(reg);
    unlink(path);
}

static void test_every_scenario(void **state)
{
    (void)state;
    size_t n = 0;
    const ttm_sim_scenario *sc = ttm_sim_scenarios(&n);
    for (size_t i = 0; i < n; i++) {
        check_scenario(sc[i].name, TTM_SIM_IDENTITY);
        check_scenario(sc[i].name, TTM_SIM_LEGACY);
    }
}


/* ---- damage: cut files and corrupt blocks --------------------------------------------------- */

#define FILE_HDR 112u
#define BLOCK_HDR 44u

typedef struct blocks {
    size_t n;
    uint64_t end[4096];     /* file offset just past block i */
    uint64_t start[4096];
    uint64_t records[4096]; /* records in blocks 0..i */
} blocks;

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc(*len ? *len : 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, *len, f), *len);
    fclose(f);
    return p;
}

static void spill(const char *path, const uint8_t *p, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, len, f), len);
    fclose(f);
}

/* The blocks of a journal as docs/JOURNAL.md lays them out, read from the bytes themselves. */
static void layout(const uint8_t *p, size_t len, blocks *b)
{
    b->n = 0;
    uint64_t off = FILE_HDR, recs = 0;
    while (off + BLOCK_HDR <= len) {
        assert_memory_equal(p + off, "TJBK", 4);
        uint32_t clen = ttm__le32(p + off + 12), count = ttm__le32(p + off + 16);
        assert_true(b->n < 4096);
        b->start[b->n] = off;
        off += BLOCK_HDR + clen;
        recs += count;
        b->end[b->n] = off;
        b->records[b->n++] = recs;
    }
    assert_int_equal(off, len);
}

/* The report (encoded) and totals of the journal at path replayed whole, or (rec set) to rec. */
static void replay_report(const char *path, uint64_t rec, ttm_bytes *enc, ttm_totals *t,
                          char *summary, size_t summary_len)
{
    ttm_replay *rp = NULL;
    char msg[256];
    const char *paths[] = {path};
    assert_int_equal(ttm_replay_open(&rp, paths, 1, msg, sizeof msg), TTM_OK);
    if (rec == UINT64_MAX)
        assert_int_equal(ttm_replay_run(rp, NULL, UINT64_MAX), TTM_OK);
    else
        assert_int_equal(ttm_replay_run_to(rp, NULL, 0, rec), TTM_OK);
    if (summary != NULL)
        ttm_replay_summary(rp, summary, summary_len);
    ttm_report r;
    assert_int_equal(ttm_replay_report(rp, &ropt, &r), TTM_OK);
    encode(&r, enc);
    if (t != NULL)
        *t = r.totals;
    ttm_report_clear(&r);
    ttm_replay_close(rp);
}

static bool same(const ttm_bytes *a, const ttm_bytes *b)
{
    return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

/* A journal cut at many byte offsets reports exactly what the blocks before the cut hold (a
 * replay of the whole file to the last record of the last complete block), and says so in one
 * line unless the cut fell between two blocks. */
static void test_cut_anywhere(void **state)
{
    (void)state;
    char path[] = "/tmp/ttm_replay_XXXXXX", cut[] = "/tmp/ttm_replay_cut_XXXXXX";
    close(mkstemp(path));
    close(mkstemp(cut));
    ttm_registry_close(write_journal("multi-process", TTM_SIM_IDENTITY, path, 256, NULL));
    size_t len = 0;
    uint8_t *p = slurp(path, &len);
    blocks *b = calloc(1, sizeof *b);
    layout(p, len, b);
    assert_true(b->n > 8);
    ttm_bytes want = {0}, got = {0};
    char summary[512];
    for (size_t at = FILE_HDR; at <= len; at += at < FILE_HDR + 3 * BLOCK_HDR ? 1 : 37) {
        spill(cut, p, at);
        size_t k = 0; /* complete blocks */
        while (k < b->n && b->end[k] <= at)
            k++;
        replay_report(cut, UINT64_MAX, &got, NULL, summary, sizeof summary);
        if (k == 0) {
            /* nothing complete: an empty registry's report */
            ttm_registry *empty = NULL;
            assert_int_equal(ttm_registry_open(&empty, NULL), TTM_OK);
            ttm_report r;
            assert_int_equal(ttm_report_fill(empty, &ropt, &r), TTM_OK);
            encode(&r, &want);
            ttm_report_clear(&r);
            ttm_registry_close(empty);
        } else {
            replay_report(path, b->records[k - 1] - 1, &want, NULL, NULL, 0);
        }
        if (!same(&want, &got))
            fail_msg("cut at %zu (%zu complete blocks): the report is not the prefix's", at, k);
        bool boundary = at == FILE_HDR || (k > 0 && b->end[k - 1] == at);
        assert_int_equal(summary[0] != '\0', !boundary);
        assert_null(strchr(summary, '\n'));
    }
    ttm__bytes_free(&want);
    ttm__bytes_free(&got);
    free(b);
    free(p);
    unlink(path);
    unlink(cut);
}

/* A block corrupted (one byte of its payload, or of its header, flipped): the replay skips it,
 * reports up to it exactly as the intact file does, goes on after it, and says so in one line. */
static void test_corrupt_block(void **state)
{
    (void)state;
    char path[] = "/tmp/ttm_replay_XXXXXX", bad[] = "/tmp/ttm_replay_bad_XXXXXX";
    close(mkstemp(path));
    close(mkstemp(bad));
    ttm_registry_close(write_journal("llama", TTM_SIM_LEGACY, path, 16384, NULL));
    size_t len = 0;
    uint8_t *p = slurp(path, &len);
    blocks *b = calloc(1, sizeof *b);
    layout(p, len, b);
    assert_true(b->n > 10);
    ttm_bytes want = {0}, got = {0};
    ttm_totals full, t;
    char summary[512];
    replay_report(path, UINT64_MAX, &want, &full, NULL, 0);
    for (size_t k = 1; k < b->n; k += b->n / 7) {
        for (int where = 0; where < 2; where++) {
            uint8_t *q = malloc(len);
            memcpy(q, p, len);
            size_t off = where == 0 ? (size_t)(b->start[k] + BLOCK_HDR + 5) : (size_t)(b->start[k] + 9);
            q[off] ^= 0x40;
            spill(bad, q, len);
            free(q);
            /* before the damage: the same as the intact file */
            replay_report(path, b->records[k - 1] - 1, &want, NULL, NULL, 0);
            replay_report(bad, b->records[k - 1] - 1, &got, NULL, NULL, 0);
            if (!same(&want, &got))
                fail_msg("block %zu damaged: the report before it differs", k);
            /* the whole file: one line, and only the damaged block's events missing */
            replay_report(bad, UINT64_MAX, &got, &t, summary, sizeof summary);
            assert_non_null(strstr(summary, "1 damaged region skipped"));
            assert_null(strchr(summary, '\n'));
            assert_true(t.allocs + t.frees < full.allocs + full.frees);
            assert_true(t.allocs + t.frees >= full.allocs + full.frees - (b->records[k] - b->records[k - 1]));
        }
    }
    ttm__bytes_free(&want);
    ttm__bytes_free(&got);
    free(b);
    free(p);
    unlink(path);
    unlink(bad);
}

/* ---- rotation: a run in two files, the second starting with a STATE chunk -------------------- */

typedef struct split {
    ttm_jtap *tap;
    ttm_journal_writer **w;
    ttm_registry *reg;
    const char *second;
    uint64_t n, at;
} split;

static void split_event(void *arg, uint32_t pid, const ttm_event *ev)
{
    split *sp = arg;
    if (sp->n++ == sp->at) { /* rotate: close file 0, open file 1 of the same run */
        assert_int_equal(ttm_jtap_close(sp->tap), TTM_OK);
        assert_int_equal(ttm_journal_writer_close(*sp->w), TTM_OK);
        ttm_journal_opts o = {.block_size = 4096, .host = "hostA", .run_id = 7, .seq = 1};
        assert_int_equal(ttm_journal_writer_open(sp->second, -1, &o, sp->w), TTM_OK);
        assert_int_equal(ttm_jtap_open(sp->tap, sp->reg, *sp->w, NULL, 0), TTM_OK);
    }
    ttm_jtap_apply(sp->tap, pid, ev);
}

static void test_rotated(void **state)
{
    (void)state;
    char a[] = "/tmp/ttm_replay_a_XXXXXX", b2[] = "/tmp/ttm_replay_b_XXXXXX";
    close(mkstemp(a));
    close(mkstemp(b2));
    ttm_registry *reg = NULL;
    assert_int_equal(ttm_registry_open(&reg, NULL), TTM_OK);
    ttm_journal_writer *w = NULL;
    ttm_journal_opts o = {.block_size = 4096, .host = "hostA", .run_id = 7};
    assert_int_equal(ttm_journal_writer_open(a, -1, &o, &w), TTM_OK);
    ttm_jtap tap;
    assert_int_equal(ttm_jtap_open(&tap, reg, w, NULL, 0), TTM_OK);
    split sp = {.tap = &tap, .w = &w, .reg = reg, .second = b2, .at = 30000};
    assert_int_equal(ttm_sim_run_stacks("llama", TTM_SIM_IDENTITY, 1, ttm_registry_stacks(reg),
                                        split_event, &sp, NULL),
                     TTM_OK);
    assert_true(sp.n > sp.at);
    assert_int_equal(ttm_jtap_close(&tap), TTM_OK);
    assert_int_equal(ttm_journal_writer_close(w), TTM_OK);

    ttm_report r;
    assert_int_equal(ttm_report_fill(reg, &ropt, &r), TTM_OK);
    ttm_bytes want = {0}, got = {0};
    encode(&r, &want);
    ttm_report_clear(&r);
    const char *both[] = {b2, a}; /* in any order: seq decides */
    for (size_t n = 1; n <= 2; n++) {
        ttm_replay *rp = NULL;
        char msg[256];
        assert_int_equal(ttm_replay_open(&rp, both, n, msg, sizeof msg), TTM_OK);
        assert_int_equal(ttm_replay_runs(rp), 1);
        seen s;
        memset(&s, 0, sizeof s);
        ttm_replay_observer obs = {.ctx = &s, .usage = on_usage, .buffer = on_buffer};
        assert_int_equal(ttm_replay_run(rp, &obs, UINT64_MAX), TTM_OK);
        ttm_replay_summary(rp, msg, sizeof msg);
        assert_string_equal(msg, "");
        assert_int_equal(ttm_replay_mismatches(rp), 0);
        assert_int_equal(ttm_replay_report(rp, &ropt, &r), TTM_OK);
        encode(&r, &got);
        ttm_report_clear(&r);
        if (!same(&want, &got))
            fail_msg("%zu file(s) of the rotated run: the report differs", n);
        /* each buffer life reported once: as many as the registry counted allocations */
        ttm_totals t;
        ttm_registry_totals(reg, &t);
        if (n == 2)
            assert_int_equal(s.lives, t.class_count[TTM_CLASS_ALLOC_OK] +
                                          t.class_count[TTM_CLASS_OVERLAP] +
                                          t.class_count[TTM_CLASS_ALLOC_VIEW]);
        ttm_replay_close(rp);
    }
    ttm__bytes_free(&want);
    ttm__bytes_free(&got);
    ttm_registry_close(reg);
    unlink(a);
    unlink(b2);
}

/* ---- several hosts: one report keyed by (host, device) -------------------------------------- */

static const ttm_report_stack *stack_by_id(const ttm_report *r, uint32_t id)
{
    for (size_t i = 0; i < r->nstacks; i++)
        if (r->stacks[i].id == id)
            return &r->stacks[i];
    return NULL;
}

/* The function names of a stack, one string, to compare stacks across id spaces. */
static void stack_text(const ttm_report *r, uint32_t id, char *buf, size_t len)
{
    const ttm_report_stack *st = stack_by_id(r, id);
    size_t off = (size_t)snprintf(buf, len, "%s", st == NULL ? "(none)" : "");
    for (size_t k = 0; st != NULL && k < st->nframes && off < len; k++)
        off += (size_t)snprintf(buf + off, len - off, "%s|",
                                st->frames[k].function ? st->frames[k].function : "?");
}

static void test_multi_host(void **state)
{
    (void)state;
    char a[] = "/tmp/ttm_replay_ha_XXXXXX", b2[] = "/tmp/ttm_replay_hb_XXXXXX";
    close(mkstemp(a));
    close(mkstemp(b2));
    ttm_registry_close(write_journal_on("hostA", 1, "mesh8", TTM_SIM_IDENTITY, a, 65536, NULL));
    ttm_registry_close(write_journal_on("hostB", 2, "leaks", TTM_SIM_IDENTITY, b2, 65536, NULL));
    ttm_report part[2], joined;
    const char *one[2][1] = {{a}, {b2}};
    char msg[256];
    for (int k = 0; k < 2; k++) {
        ttm_replay *rp = NULL;
        assert_int_equal(ttm_replay_open(&rp, one[k], 1, msg, sizeof msg), TTM_OK);
        assert_int_equal(ttm_replay_run(rp, NULL, UINT64_MAX), TTM_OK);
        assert_int_equal(ttm_replay_report(rp, &ropt, &part[k]), TTM_OK);
        ttm_replay_close(rp);
    }
    const char *both[] = {b2, a}; /* runs are ordered by host, whatever the order given */
    ttm_replay *rp = NULL;
    assert_int_equal(ttm_replay_open(&rp, both, 2, msg, sizeof msg), TTM_OK);
    assert_int_equal(ttm_replay_runs(rp), 2);
    assert_string_equal(ttm_replay_host(rp, 0), "hostA");
    assert_string_equal(ttm_replay_host(rp, 1), "hostB");
    assert_int_equal(ttm_replay_run(rp, NULL, UINT64_MAX), TTM_OK);
    assert_int_equal(ttm_replay_report(rp, &ropt, &joined), TTM_OK);
    assert_int_equal(ttm_replay_report_procs(rp, 0), part[0].nprocs);
    assert_int_equal(ttm_replay_report_procs(rp, 1), part[1].nprocs);
    ttm_replay_close(rp);

    /* counters add up */
    assert_int_equal(joined.totals.events, part[0].totals.events + part[1].totals.events);
    for (unsigned c = 0; c < TTM_CLASS__COUNT; c++)
        assert_int_equal(joined.classes[c].count,
                         part[0].classes[c].count + part[1].classes[c].count);
    assert_int_equal(joined.leaked_bytes, part[0].leaked_bytes + part[1].leaked_bytes);
    /* devices keyed by (host, device): host 1's device D is 256 + D, with its own numbers */
    assert_int_equal(joined.ndevices, part[0].ndevices + part[1].ndevices);
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < part[k].ndevices; i++) {
            const ttm_device_stats *j = &joined.devices[(k ? part[0].ndevices : 0) + i];
            ttm_device_stats want = part[k].devices[i];
            want.device = (uint16_t)(k * 256 + want.device);
            assert_memory_equal(j, &want, sizeof want);
        }
    /* processes: host 0's, then host 1's */
    assert_int_equal(joined.nprocs, part[0].nprocs + part[1].nprocs);
    for (size_t i = 0; i < part[1].nprocs; i++) {
        const ttm_report_proc *j = &joined.procs[part[0].nprocs + i];
        assert_int_equal(j->stats.pid, part[1].procs[i].stats.pid);
        assert_int_equal(j->stats.leaked_bytes, part[1].procs[i].stats.leaked_bytes);
        for (size_t d = 0; d < j->stats.ndevices; d++)
            assert_int_equal(j->stats.devices[d].device, 256 + part[1].procs[i].stats.devices[d].device);
    }
    /* every leak group keeps its own stack (the ids renumbered, the frames the same) */
    assert_int_equal(joined.nleak_groups, part[0].nleak_groups + part[1].nleak_groups);
    assert_true(part[1].nleak_groups > 0);
    for (size_t i = 0; i < part[1].nleak_groups; i++) {
        const ttm_leak_group *g = &part[1].leak_groups[i];
        char want[1024], got[1024];
        stack_text(&part[1], g->stack, want, sizeof want);
        bool found = false;
        for (size_t k = 0; k < joined.nleak_groups && !found; k++) {
            const ttm_leak_group *h = &joined.leak_groups[k];
            if (h->bytes != g->bytes || h->count != g->count)
                continue;
            stack_text(&joined, h->stack, got, sizeof got);
            found = strcmp(want, got) == 0;
        }
        if (!found)
            fail_msg("host B's leak group %zu (%s) is not in the joined report", i, want);
    }
    /* the joined report goes over the wire as one */
    ttm_bytes enc = {0};
    encode(&joined, &enc);
    ttm_report back;
    assert_int_equal(ttm_report_decode(enc.data + TTM_SNAP_HDR_SIZE, enc.len - TTM_SNAP_HDR_SIZE,
                                       &back, msg, sizeof msg),
                     TTM_OK);
    assert_int_equal(back.ndevices, joined.ndevices);
    ttm_report_clear(&back);
    ttm__bytes_free(&enc);
    for (int k = 0; k < 2; k++)
        ttm_report_clear(&part[k]);
    ttm_report_clear(&joined);
    unlink(a);
    unlink(b2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_scenario),
        cmocka_unit_test(test_cut_anywhere),
        cmocka_unit_test(test_corrupt_block),
        cmocka_unit_test(test_rotated),
        cmocka_unit_test(test_multi_host),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
