/*
 * replay.c — run journals fed again into fresh registries (replay.h says what and in which
 * order; docs/JOURNAL.md, "Reading a journal back", says how damage and rotation are met).
 *
 * One run is replayed at a time: its files in seq order through one registry. Beside the
 * registry the replay keeps only what is live: the open buffer lives (a pool chained per
 * (device, addr), to tell each closing FREE, replacement or exit its life), the bytes in use per
 * (device, memtype) as last reported (for the usage callback and the peaks), the processes, and
 * the DAEMON chunk it will merge. Nothing grows with the journal's length but the table of
 * addresses ever used (their reuse counts), which the registry's own history bounds alike.
 */
#include "core/replay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/bytes.h"
#include "common/cmdline.h"
#include "common/hash.h"
#include "common/snapshot.h"
#include "core/jtap.h"
#include "core/report_merge.h"
#include "core/table.h"
#include "common/util.h"

#define NIL UINT32_MAX
#define STOP 2 /* a sink's return: the replay reached where it was asked to stop (not 1:
                * ttm_journal_read_block returns 1 for a block delivered) */
#define MT TTM_MEMTYPE_COUNT

/* ---- what a replay keeps ------------------------------------------------------------------ */

typedef struct rfile {
    char *path;
    ttm_journal_header h;
    ttm_journal_stats stats; /* of the last replay of its rrun */
    bool failed;             /* could not be opened again (its error in the summary) */
} rfile;

/* The first record at which some bytes in use were highest. */
typedef struct peak {
    uint64_t bytes, ts, rec;
} peak;

typedef struct devuse {
    uint16_t device;
    uint64_t cur[MT]; /* bytes in use as last reported */
    peak pk[MT];
    uint64_t total;   /* the sum over memtypes */
    peak pk_total;
    bool touched;     /* changed by the record being applied */
} devuse;

static const char no_text[] = ""; /* a process's name or command line before one is known */

typedef struct rrun {
    uint64_t run_id, created_ns;
    char host[TTM_JOURNAL_HOST_MAX];
    size_t *files; /* indices into rp->files, ascending by seq */
    size_t nfiles;
    ttm_registry *reg;
    ttm_registry_config cfg;
    uint32_t arch;
    bool fresh;      /* nothing applied to reg yet: a CONFIG chunk may still reopen it */
    const char *title; /* the RUN chunk, NULL when none */
    ttm_bytes daemon; /* the DAEMON chunk kept (its snapshot frame), reason in daemon_reason */
    uint32_t daemon_reason;
    ttm_replay_proc *procs; /* ascending by pid; name and cmdline owned unless no_text */
    size_t nprocs, cap_procs;
    uint64_t first_ts, last_ts;
    bool any_ts;
    uint64_t nrec;   /* records applied */
    devuse *devs;    /* in order of first use; slot[device] - 1 is the index */
    size_t ndevs, cap_devs;
    uint32_t *slot;  /* 65536 entries */
    uint64_t mt_cur[MT];
    peak mt_pk[MT];
    uint64_t all_cur;
    peak all_pk;
    uint32_t mt_touched; /* memtypes changed by the record being applied */
    /* the peaks of the last whole replay: a replay to a record (ttm_replay_run_to) keeps them */
    struct {
        devuse *devs;
        size_t ndevs;
        uint32_t *slot;
        peak mt[MT], all;
        bool valid;
    } pk;
    /* what disagreed or was refused */
    uint64_t mismatches, bad_chunks, damage;
    size_t report_procs; /* processes it gave the last ttm_replay_report */
    char bad_what[96]; /* the first refused chunk's reason */
} rrun;

/* One open buffer life, chained at its (device, addr). */
typedef struct life {
    ttm_replay_buffer b;
    uint32_t next;
    bool used, stale;
} life;

/* An address ever used on a device: its chain of open lives, and how many lives it had. */
typedef struct addr_slot {
    uint64_t addr;
    uint32_t head;
    uint32_t lives;
    uint16_t device;
    bool used;
} addr_slot;

static inline uint64_t addr_hash_of(uint16_t device, uint64_t addr)
{
    return ttm__mix64(addr ^ ((uint64_t)device << 48) ^ ((uint64_t)device >> 16));
}

static uint64_t addr_hash(const void *e)
{
    const addr_slot *a = e;
    return addr_hash_of(a->device, a->addr);
}

static bool addr_empty(const void *e)
{
    return !((const addr_slot *)e)->used;
}

static bool addr_match(const void *e, const void *key)
{
    const addr_slot *a = e, *k = key;
    return a->addr == k->addr && a->device == k->device;
}

static const ttm_table_type addr_type = {
    .entry_size = sizeof(addr_slot), .hash = addr_hash, .empty = addr_empty, .match = addr_match};

struct ttm_replay {
    rfile *files;
    size_t nfiles;
    rrun *runs;
    size_t nruns;
    size_t *order; /* every run's files, run after run (run.files point into it) */
    /* the lives of the run being replayed */
    ttm_table addrs;
    life *pool;
    size_t npool, cap_pool;
    uint32_t free_head;
    size_t nlive;
    ttm_device_stats *scratch; /* ttm_registry_devices() for exits and STATE */
    size_t cap_scratch;
};

/* ---- open, close ---------------------------------------------------------------------------- */

static int file_cmp(const void *a, const void *b, void *files)
{
    const rfile *f = files;
    const rfile *x = &f[*(const size_t *)a], *y = &f[*(const size_t *)b];
    return x->h.seq < y->h.seq ? -1 : x->h.seq > y->h.seq;
}

static int run_cmp(const void *a, const void *b)
{
    const rrun *x = a, *y = b;
    int c = strcmp(x->host, y->host);
    if (c != 0)
        return c;
    if (x->created_ns != y->created_ns)
        return x->created_ns < y->created_ns ? -1 : 1;
    return x->run_id < y->run_id ? -1 : x->run_id > y->run_id;
}

static rrun *run_of(ttm_replay *rp, const ttm_journal_header *h)
{
    for (size_t i = 0; i < rp->nruns; i++)
        if (rp->runs[i].run_id == h->run_id && strcmp(rp->runs[i].host, h->host) == 0)
            return &rp->runs[i];
    rrun *r = &rp->runs[rp->nruns++];
    memset(r, 0, sizeof *r);
    r->run_id = h->run_id;
    r->created_ns = h->created_ns;
    memcpy(r->host, h->host, sizeof r->host);
    return r;
}

/* Groups the files into runs, each run's files by seq; two files of one run with one seq are
 * refused (the same file given twice, or two daemons that shared a run id). */
static int group_runs(ttm_replay *rp, char *msg, size_t msg_len)
{
    rp->runs = ttm__calloc(rp->nfiles, sizeof *rp->runs);
    size_t *idx = ttm__calloc(rp->nfiles, sizeof *idx);
    if (rp->runs == NULL || idx == NULL) {
        ttm__free(idx);
        snprintf(msg, msg_len, "out of memory");
        return TTM_ENOMEM;
    }
    rp->order = idx;
    for (size_t i = 0; i < rp->nfiles; i++) {
        rrun *r = run_of(rp, &rp->files[i].h);
        if (r->created_ns > rp->files[i].h.created_ns)
            r->created_ns = rp->files[i].h.created_ns;
        r->nfiles++;
    }
    size_t at = 0;
    for (size_t k = 0; k < rp->nruns; k++) {
        rrun *r = &rp->runs[k];
        r->files = idx + at;
        size_t n = 0;
        for (size_t i = 0; i < rp->nfiles; i++)
            if (rp->files[i].h.run_id == r->run_id && strcmp(rp->files[i].h.host, r->host) == 0)
                r->files[n++] = i;
        at += n;
        qsort_r(r->files, n, sizeof *r->files, file_cmp, rp->files);
        for (size_t i = 1; i < n; i++) {
            const rfile *a = &rp->files[r->files[i - 1]], *b = &rp->files[r->files[i]];
            if (a->h.seq == b->h.seq) {
                snprintf(msg, msg_len, "'%s' and '%s' are both file %u of run %016llx on %s",
                         a->path, b->path, (unsigned)a->h.seq, (unsigned long long)r->run_id,
                         r->host[0] ? r->host : "?");
                return TTM_EINVAL;
            }
        }
    }
    /* runs in a stable order: host, then creation */
    ttm__qsort(rp->runs, rp->nruns, sizeof *rp->runs, run_cmp);
    return TTM_OK;
}

int ttm_replay_open(ttm_replay **out, const char *const *paths, size_t n, char *msg,
                    size_t msg_len)
{
    *out = NULL;
    if (msg_len > 0)
        msg[0] = '\0';
    ttm_replay *rp = ttm__calloc(1, sizeof *rp);
    if (rp == NULL || (n > 0 && (rp->files = ttm__calloc(n, sizeof *rp->files)) == NULL)) {
        ttm__free(rp);
        snprintf(msg, msg_len, "out of memory");
        return TTM_ENOMEM;
    }
    ttm__table_init(&rp->addrs, &addr_type, SIZE_MAX / 2);
    rp->free_head = NIL;
    int err = TTM_OK;
    for (size_t i = 0; i < n && err == TTM_OK; i++) {
        ttm_journal_reader *r = NULL;
        err = ttm_journal_reader_open(paths[i], -1, &r);
        if (err != TTM_OK) {
            snprintf(msg, msg_len, "'%s': %s", paths[i],
                     err == TTM_EPROTO     ? "not a ttmem journal"
                     : err == TTM_EVERSION ? "a journal of another format version"
                     : err == TTM_ENOENT   ? "no such file"
                                           : ttm_strerror(err));
            break;
        }
        rfile *f = &rp->files[rp->nfiles++];
        f->h = *ttm_journal_reader_header(r);
        ttm_journal_reader_close(r);
        size_t len = strlen(paths[i]);
        f->path = ttm__malloc(len + 1);
        if (f->path == NULL) {
            err = TTM_ENOMEM;
            snprintf(msg, msg_len, "out of memory");
            break;
        }
        memcpy(f->path, paths[i], len + 1);
    }
    if (err == TTM_OK)
        err = group_runs(rp, msg, msg_len);
    if (err != TTM_OK) {
        ttm_replay_close(rp);
        return err;
    }
    *out = rp;
    return TTM_OK;
}

/* Forgets what a replay of run r left (registry, processes, usage), keeping its files. */
static void run_reset(rrun *r)
{
    ttm_registry_close(r->reg);
    r->reg = NULL;
    for (size_t i = 0; i < r->nprocs; i++) {
        if (r->procs[i].name != no_text)
            ttm__free((char *)r->procs[i].name);
        if (r->procs[i].cmdline != no_text)
            ttm__free((char *)r->procs[i].cmdline);
    }
    ttm__free(r->procs);
    ttm__free(r->devs);
    ttm__free(r->slot);
    ttm__free((char *)r->title);
    ttm__bytes_free(&r->daemon);
    size_t *files = r->files, nfiles = r->nfiles;
    uint64_t run_id = r->run_id, created = r->created_ns;
    char host[TTM_JOURNAL_HOST_MAX];
    memcpy(host, r->host, sizeof host);
    __typeof__(r->pk) pk = r->pk;
    memset(r, 0, sizeof *r);
    r->pk = pk;
    r->files = files;
    r->nfiles = nfiles;
    r->run_id = run_id;
    r->created_ns = created;
    memcpy(r->host, host, sizeof host);
}

void ttm_replay_close(ttm_replay *rp)
{
    if (rp == NULL)
        return;
    for (size_t k = 0; k < rp->nruns; k++) {
        run_reset(&rp->runs[k]);
        ttm__free(rp->runs[k].pk.devs);
        ttm__free(rp->runs[k].pk.slot);
    }
    ttm__free(rp->order);
    ttm__free(rp->runs);
    for (size_t i = 0; i < rp->nfiles; i++)
        ttm__free(rp->files[i].path);
    ttm__free(rp->files);
    ttm__table_free(&rp->addrs);
    ttm__free(rp->pool);
    ttm__free(rp->scratch);
    ttm__free(rp);
}

/* ---- the player: one run's records applied ------------------------------------------------- */

typedef struct player {
    ttm_replay *rp;
    rrun *r;
    size_t run;
    const ttm_replay_observer *obs;
    uint64_t stop_ts, stop_rec;
    bool lives; /* the caller wants buffer lives: only then are they followed */
    int err;    /* TTM_ENOMEM: the replay cannot go on */
} player;

static void note_bad(rrun *r, const char *what)
{
    if (r->bad_chunks++ == 0)
        snprintf(r->bad_what, sizeof r->bad_what, "%s", what);
}

/* A fresh registry for the run (its CONFIG's configuration and default architecture). */
static int open_registry(rrun *r)
{
    ttm_registry *reg = NULL;
    int err = ttm_registry_open(&reg, &r->cfg);
    if (err != TTM_OK)
        return err;
    if (r->arch != 0)
        ttm_registry_set_default_arch(reg, (ttm_arch)r->arch);
    ttm_registry_close(r->reg);
    r->reg = reg;
    r->fresh = true;
    return TTM_OK;
}

/* -- usage and peaks -- */

static devuse *dev_use(player *pl, uint16_t device)
{
    rrun *r = pl->r;
    if (r->slot == NULL && (r->slot = ttm__calloc(65536, sizeof *r->slot)) == NULL)
        return NULL;
    if (r->slot[device] != 0)
        return &r->devs[r->slot[device] - 1];
    devuse *d = ttm__grow(r->devs, &r->cap_devs, r->ndevs, sizeof *d, 8);
    if (d == NULL)
        return NULL;
    r->devs = d;
    d = &r->devs[r->ndevs++];
    memset(d, 0, sizeof *d);
    d->device = device;
    r->slot[device] = (uint32_t)r->ndevs;
    return d;
}

static void peak_note(peak *p, uint64_t bytes, uint64_t ts, uint64_t rec)
{
    if (bytes > p->bytes)
        *p = (peak){.bytes = bytes, .ts = ts, .rec = rec};
}

/* The bytes in use on (device, memtype) are now bytes: reported when they changed. */
static void usage_set(player *pl, devuse *d, unsigned m, uint64_t bytes, uint64_t ts)
{
    rrun *r = pl->r;
    uint64_t old = d->cur[m];
    if (old == bytes)
        return;
    d->cur[m] = bytes;
    d->total = d->total - old + bytes;
    r->mt_cur[m] = r->mt_cur[m] - old + bytes;
    r->all_cur = r->all_cur - old + bytes;
    peak_note(&d->pk[m], bytes, ts, r->nrec);
    d->touched = true;
    r->mt_touched |= 1u << m;
    if (pl->obs != NULL && pl->obs->usage != NULL)
        pl->obs->usage(pl->obs->ctx, pl->run, ts, d->device, (uint8_t)m, bytes);
}

/* The sums' peaks, once every pair a record changed is in: a record that moves bytes between
 * two pairs never shows a sum it did not reach. */
static void usage_settle(player *pl, devuse *only, uint64_t ts)
{
    rrun *r = pl->r;
    for (size_t i = 0; i < r->ndevs; i++) {
        devuse *d = only != NULL ? only : &r->devs[i];
        if (d->touched) {
            peak_note(&d->pk_total, d->total, ts, r->nrec);
            d->touched = false;
        }
        if (only != NULL)
            break;
    }
    for (unsigned m = 0; m < MT; m++)
        if (r->mt_touched & (1u << m))
            peak_note(&r->mt_pk[m], r->mt_cur[m], ts, r->nrec);
    if (r->mt_touched != 0)
        peak_note(&r->all_pk, r->all_cur, ts, r->nrec);
    r->mt_touched = 0;
}

/* One device's pairs after an event on it: O(memtypes). */
static void usage_device(player *pl, uint16_t device, uint64_t ts)
{
    const ttm_device_stats *s = ttm_registry_device(pl->r->reg, device);
    if (s == NULL)
        return;
    devuse *d = dev_use(pl, device);
    if (d == NULL) {
        pl->err = TTM_ENOMEM;
        return;
    }
    for (unsigned m = 0; m < MT; m++)
        usage_set(pl, d, m, s->mem[m].live_bytes, ts);
    usage_settle(pl, d, ts);
}

/* Every pair, after an exit or a STATE chunk: those the registry no longer has drop to 0. */
static void usage_all(player *pl, uint64_t ts)
{
    rrun *r = pl->r;
    ttm_replay *rp = pl->rp;
    size_t n = ttm_registry_devices(r->reg, NULL, 0);
    if (n > rp->cap_scratch) {
        ttm_device_stats *s = ttm__reallocarray(rp->scratch, n, sizeof *s);
        if (s == NULL) {
            pl->err = TTM_ENOMEM;
            return;
        }
        rp->scratch = s;
        rp->cap_scratch = n;
    }
    n = ttm_registry_devices(r->reg, rp->scratch, n);
    for (size_t i = 0; i < r->ndevs; i++) /* devices gone (a STATE without them) */
        if (ttm_registry_device(r->reg, r->devs[i].device) == NULL)
            for (unsigned m = 0; m < MT; m++)
                usage_set(pl, &r->devs[i], m, 0, ts);
    for (size_t i = 0; i < n; i++) {
        devuse *d = dev_use(pl, rp->scratch[i].device);
        if (d == NULL) {
            pl->err = TTM_ENOMEM;
            return;
        }
        for (unsigned m = 0; m < MT; m++)
            usage_set(pl, d, m, rp->scratch[i].mem[m].live_bytes, ts);
    }
    usage_settle(pl, NULL, ts);
}

/* -- buffer lives -- */

static addr_slot *addr_get(ttm_replay *rp, uint16_t device, uint64_t addr, bool add)
{
    addr_slot key = {.addr = addr, .device = device};
    uint64_t h = addr_hash_of(device, addr);
    addr_slot *a = ttm__table_find(&rp->addrs, &addr_type, h, &key);
    if (a != NULL || !add)
        return a;
    a = ttm__table_add(&rp->addrs, &addr_type, h);
    if (a != NULL)
        *a = (addr_slot){.addr = addr, .head = NIL, .device = device, .used = true};
    return a;
}

/* Opens a life (its reuse count taken from the address). false when memory is short. */
static bool life_open(ttm_replay *rp, const ttm_replay_buffer *b)
{
    addr_slot *a = addr_get(rp, b->device, b->addr, true);
    if (a == NULL)
        return false;
    uint32_t i = rp->free_head;
    if (i != NIL) {
        rp->free_head = rp->pool[i].next;
    } else {
        if (rp->npool >= NIL - 1)
            return false;
        life *p = ttm__grow(rp->pool, &rp->cap_pool, rp->npool, sizeof *p, 1024);
        if (p == NULL)
            return false;
        rp->pool = p;
        i = (uint32_t)rp->npool++;
    }
    life *l = &rp->pool[i];
    l->b = *b;
    l->b.reuse = a->lives++;
    l->used = true;
    l->stale = false;
    l->next = a->head;
    a->head = i;
    rp->nlive++;
    return true;
}

/* Ends life i at its address a: it is reported, then its slot freed. */
static void life_close(player *pl, addr_slot *a, uint32_t i, uint64_t ts, uint32_t free_stack,
                       bool leaked)
{
    ttm_replay *rp = pl->rp;
    for (uint32_t *at = &a->head; *at != NIL; at = &rp->pool[*at].next)
        if (*at == i) {
            *at = rp->pool[i].next;
            break;
        }
    life *l = &rp->pool[i];
    l->b.free_ts = ts;
    l->b.free_stack = free_stack;
    l->b.leaked = leaked;
    if (pl->obs != NULL && pl->obs->buffer != NULL)
        pl->obs->buffer(pl->obs->ctx, pl->run, &l->b);
    l->used = false;
    l->next = rp->free_head;
    rp->free_head = i;
    rp->nlive--;
}

/* The open life at (device, addr) of pid in space, owning (view false) or a view; for a view
 * the FREE's choice among several: its object's first, then the newest. NIL when none. */
static uint32_t life_find(const ttm_replay *rp, const addr_slot *a, uint32_t pid, unsigned space,
                          bool view, uint64_t obj)
{
    uint32_t best = NIL;
    for (uint32_t i = a->head; i != NIL; i = rp->pool[i].next) {
        const ttm_replay_buffer *b = &rp->pool[i].b;
        bool is_view = (b->flags & TTM_FLAG_VIEW) != 0;
        if (b->pid != pid || is_view != view || ttm__memtype_space(b->memtype) != space)
            continue;
        if (obj != 0 && b->obj != 0 && b->obj != obj)
            continue;
        if (best == NIL)
            best = i;
        else {
            const ttm_replay_buffer *c = &rp->pool[best].b;
            bool bx = obj != 0 && b->obj == obj, cx = obj != 0 && c->obj == obj;
            if (bx != cx ? bx : b->alloc_ts > c->alloc_ts)
                best = i;
        }
    }
    return best;
}

/* What an applied ALLOC or FREE did to the lives: the registry's verdict (mask, info) says
 * whether a record was made, replaced or closed; the lives follow it. */
static void lives_event(player *pl, const ttm_journal_event *e, uint32_t mask,
                        const ttm_apply_info *info)
{
    ttm_replay *rp = pl->rp;
    const uint32_t made = TTM_CLASS_BIT(TTM_CLASS_ALLOC_OK) | TTM_CLASS_BIT(TTM_CLASS_OVERLAP);
    const uint32_t view_freed =
        TTM_CLASS_BIT(TTM_CLASS_FREE_VIEW) | TTM_CLASS_BIT(TTM_CLASS_VIEW_AFTER_OWNER);
    if (e->kind == TTM_EV_ALLOC && (mask & (made | TTM_CLASS_BIT(TTM_CLASS_ALLOC_VIEW)))) {
        bool view = (mask & TTM_CLASS_BIT(TTM_CLASS_ALLOC_VIEW)) != 0;
        if (!view) { /* the process's own live buffer there was replaced: its free was missed */
            addr_slot *a = addr_get(rp, e->device, e->addr, false);
            uint32_t i = a != NULL ? life_find(rp, a, e->pid, ttm__memtype_space(e->memtype),
                                               false, 0)
                                   : NIL;
            if (i != NIL)
                life_close(pl, a, i, e->ts, 0, false);
        }
        ttm_replay_buffer b = {.pid = e->pid, .device = e->device, .memtype = e->memtype,
                               .flags = view ? TTM_FLAG_VIEW : 0, .addr = e->addr,
                               .size = e->size, .obj = e->obj, .alloc_ts = e->ts,
                               .stack = e->stack, .scope = e->scope};
        if (!life_open(rp, &b))
            pl->err = TTM_ENOMEM;
        return;
    }
    if (e->kind != TTM_EV_FREE || !info->matched || info->refs != 0)
        return;
    bool owning = (mask & TTM_CLASS_BIT(TTM_CLASS_FREE_OK)) != 0;
    if (!owning && !(mask & view_freed))
        return; /* a foreign free: nothing closed */
    addr_slot *a = addr_get(rp, e->device, e->addr, false);
    if (a == NULL)
        return;
    uint32_t i = life_find(rp, a, info->owner_pid, ttm__memtype_space(info->memtype), !owning,
                           e->obj);
    if (i != NIL)
        life_close(pl, a, i, e->ts, e->stack, false);
}

/* A process exit: every open life of pid ends, the owning ones leaked. */
static void lives_exit(player *pl, uint32_t pid, uint64_t ts)
{
    ttm_replay *rp = pl->rp;
    for (size_t i = 0; i < rp->npool; i++) {
        life *l = &rp->pool[i];
        if (!l->used || l->b.pid != pid)
            continue;
        addr_slot *a = addr_get(rp, l->b.device, l->b.addr, false);
        if (a != NULL)
            life_close(pl, a, (uint32_t)i, ts, 0, (l->b.flags & TTM_FLAG_VIEW) == 0);
    }
}

static bool state_one(const ttm_live *lv, void *arg)
{
    player *pl = arg;
    ttm_replay *rp = pl->rp;
    addr_slot *a = addr_get(rp, lv->device, lv->addr, false);
    for (uint32_t i = a != NULL ? a->head : NIL; i != NIL; i = rp->pool[i].next) {
        life *l = &rp->pool[i];
        if (l->stale && l->b.pid == lv->pid && l->b.memtype == lv->memtype &&
            (l->b.flags & TTM_FLAG_VIEW) == (lv->flags & TTM_FLAG_VIEW) && l->b.obj == lv->obj &&
            l->b.alloc_ts == lv->ts && l->b.size == lv->size) {
            l->stale = false; /* the same life, carried on */
            return true;
        }
    }
    ttm_replay_buffer b = {.pid = lv->pid, .device = lv->device, .memtype = lv->memtype,
                           .flags = lv->flags & TTM_FLAG_VIEW, .addr = lv->addr,
                           .size = lv->size, .obj = lv->obj, .alloc_ts = lv->ts,
                           .stack = lv->stack, .scope = lv->scope};
    if (!life_open(rp, &b)) {
        pl->err = TTM_ENOMEM;
        return false;
    }
    return true;
}

/* After a STATE chunk: the lives are the new registry's records; those already open carry on,
 * the others end at ts. */
static void lives_state(player *pl, uint64_t ts)
{
    ttm_replay *rp = pl->rp;
    for (size_t i = 0; i < rp->npool; i++)
        rp->pool[i].stale = rp->pool[i].used;
    ttm_registry_foreach_live(pl->r->reg, state_one, pl);
    for (size_t i = 0; i < rp->npool; i++) {
        life *l = &rp->pool[i];
        if (!l->used || !l->stale)
            continue;
        l->stale = false;
        addr_slot *a = addr_get(rp, l->b.device, l->b.addr, false);
        if (a != NULL)
            life_close(pl, a, (uint32_t)i, ts, 0, false);
    }
}

/* -- processes -- */

/* The place of pid among run r's processes (ascending by pid): its index, or where it would
 * go. */
static size_t proc_place(const rrun *r, uint32_t pid)
{
    size_t lo = 0, hi = r->nprocs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (r->procs[mid].pid < pid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static ttm_replay_proc *proc_get(player *pl, uint32_t pid)
{
    rrun *r = pl->r;
    size_t lo = proc_place(r, pid);
    if (lo < r->nprocs && r->procs[lo].pid == pid)
        return &r->procs[lo];
    ttm_replay_proc *p = ttm__grow(r->procs, &r->cap_procs, r->nprocs, sizeof *p, 16);
    if (p == NULL)
        return NULL;
    r->procs = p;
    memmove(&r->procs[lo + 1], &r->procs[lo], (r->nprocs - lo) * sizeof *p);
    r->nprocs++;
    p = &r->procs[lo];
    *p = (ttm_replay_proc){.pid = pid, .name = no_text, .cmdline = no_text, .status = -1};
    return p;
}

/* Replaces *dst (owned unless no_text) by a copy of len bytes of src, NUL added. */
static bool set_text(const char **dst, const char *src, size_t len)
{
    char *s = ttm__malloc(len + 1);
    if (s == NULL)
        return false;
    memcpy(s, src, len);
    s[len] = '\0';
    if (*dst != NULL && *dst != no_text)
        ttm__free((char *)*dst);
    *dst = s;
    return true;
}

static void proc_note(player *pl, const ttm_journal_proc *jp)
{
    ttm_replay_proc *p = proc_get(pl, jp->pid);
    if (p == NULL) {
        pl->err = TTM_ENOMEM;
        return;
    }
    if (jp->name != NULL && jp->name[0] != '\0' && !set_text(&p->name, jp->name, strlen(jp->name)))
        pl->err = TTM_ENOMEM;
    if (jp->cmdline_len > 0) {
        if (set_text(&p->cmdline, jp->cmdline, jp->cmdline_len))
            p->cmdline_len = jp->cmdline_len;
        else
            pl->err = TTM_ENOMEM;
    }
    switch (jp->state) {
    case TTM_JOURNAL_PROC_START:
        if (p->exited && jp->status == TTM_JOURNAL_STATUS_EVENT) { /* the pid reused */
            p->exited = false;
            p->exit_ts = 0;
            p->start_ts = 0;
            p->status = -1;
        }
        if (p->start_ts == 0)
            p->start_ts = jp->ts;
        break;
    case TTM_JOURNAL_PROC_EXIT:
        p->exited = true;
        p->exit_ts = jp->ts;
        p->status = jp->status == TTM_JOURNAL_STATUS_EVENT ? -1 : jp->status;
        break;
    case TTM_JOURNAL_PROC_FORGET:
        p->forgotten = true;
        break;
    default:
        break;
    }
}

/* -- the records -- */

static void span_note(rrun *r, uint64_t ts)
{
    if (!r->any_ts || ts < r->first_ts)
        r->first_ts = ts;
    if (!r->any_ts || ts > r->last_ts)
        r->last_ts = ts;
    r->any_ts = true;
}

/* Whether the record at ts is past where the replay stops; else it is counted. */
static int begin(player *pl, uint64_t ts)
{
    if (pl->err != TTM_OK)
        return pl->err;
    if (ts > pl->stop_ts || pl->r->nrec > pl->stop_rec)
        return STOP;
    return TTM_OK;
}

static void end(player *pl)
{
    pl->r->nrec++;
    pl->r->fresh = false;
}

static int on_event(void *ctx, const ttm_journal_event *e)
{
    player *pl = ctx;
    int rc = begin(pl, e->ts);
    if (rc != TTM_OK)
        return rc;
    rrun *r = pl->r;
    ttm_event ev;
    ttm_journal_event_to(e, &ev);
    ttm_apply_info info;
    uint32_t mask = ttm_registry_apply_ex(r->reg, e->pid, &ev, &info);
    if (mask != e->classes)
        r->mismatches++;
    span_note(r, e->ts);
    if (pl->lives)
        lives_event(pl, e, mask, &info);
    usage_device(pl, e->device, e->ts);
    bool buffer_event = e->kind == TTM_EV_ALLOC || e->kind == TTM_EV_FREE;
    if (buffer_event && pl->obs != NULL && pl->obs->event != NULL)
        pl->obs->event(pl->obs->ctx, pl->run, e, mask, &info);
    end(pl);
    return pl->err;
}

static int on_device(void *ctx, const ttm_journal_device *d)
{
    player *pl = ctx;
    int rc = begin(pl, d->ts);
    if (rc != TTM_OK)
        return rc;
    ttm_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = TTM_EV_DEVICE_INFO;
    ev.device = d->device;
    ev.ts = d->ts;
    ev.arch = d->arch;
    ev.worker_cores = d->worker_cores;
    ev.l1_per_core = d->l1_per_core;
    ev.dram_channels = d->dram_channels;
    ev.dram_capacity = d->dram_capacity;
    ev.l1_capacity = d->l1_capacity;
    ttm_registry_apply(pl->r->reg, 0, &ev);
    span_note(pl->r, d->ts);
    if (pl->obs != NULL && pl->obs->device != NULL)
        pl->obs->device(pl->obs->ctx, pl->run, d);
    end(pl);
    return pl->err;
}

static int on_proc(void *ctx, const ttm_journal_proc *jp)
{
    player *pl = ctx;
    int rc = begin(pl, jp->ts);
    if (rc != TTM_OK)
        return rc;
    rrun *r = pl->r;
    bool as_event = jp->status == TTM_JOURNAL_STATUS_EVENT;
    if (jp->state == TTM_JOURNAL_PROC_START && as_event) {
        ttm_event ev;
        memset(&ev, 0, sizeof ev);
        ev.kind = TTM_EV_PROC_START;
        ev.ts = jp->ts;
        ttm_registry_apply(r->reg, jp->pid, &ev);
    } else if (jp->state == TTM_JOURNAL_PROC_EXIT) {
        if (as_event) {
            ttm_event ev;
            memset(&ev, 0, sizeof ev);
            ev.kind = TTM_EV_PROC_EXIT;
            ev.ts = jp->ts;
            ttm_registry_apply(r->reg, jp->pid, &ev);
        } else {
            ttm_registry_process_exit(r->reg, jp->pid, jp->ts);
        }
        if (pl->lives)
            lives_exit(pl, jp->pid, jp->ts);
        usage_all(pl, jp->ts);
    } else if (jp->state == TTM_JOURNAL_PROC_FORGET) {
        (void)ttm_registry_process_forget(r->reg, jp->pid);
    }
    span_note(r, jp->ts);
    proc_note(pl, jp);
    if (pl->obs != NULL && pl->obs->proc != NULL) {
        ttm_journal_proc p = *jp;
        if (p.status == TTM_JOURNAL_STATUS_EVENT)
            p.status = -1;
        pl->obs->proc(pl->obs->ctx, pl->run, &p);
    }
    end(pl);
    return pl->err;
}

static int on_mark(void *ctx, const ttm_journal_mark *m)
{
    player *pl = ctx;
    int rc = begin(pl, m->ts);
    if (rc != TTM_OK)
        return rc;
    ttm_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = TTM_EV_MARK;
    ev.ts = m->ts;
    snprintf(ev.mark, sizeof ev.mark, "%s", m->name);
    ttm_registry_apply(pl->r->reg, m->pid, &ev);
    span_note(pl->r, m->ts);
    if (pl->obs != NULL && pl->obs->mark != NULL)
        pl->obs->mark(pl->obs->ctx, pl->run, m);
    end(pl);
    return pl->err;
}

static void chunk_config(player *pl, const ttm_journal_chunk *c)
{
    rrun *r = pl->r;
    ttm_registry_config cfg;
    uint32_t arch = 0;
    if (ttm_jtap_config_decode(c->data, c->len, &cfg, &arch) != TTM_OK) {
        note_bad(r, "a CONFIG chunk that does not decode");
        return;
    }
    r->cfg = cfg;
    r->arch = arch;
    if (r->fresh) { /* the run's first: the registry is made as the daemon made its own */
        int err = open_registry(r);
        if (err != TTM_OK)
            pl->err = err;
    }
}

static void chunk_state(player *pl, const ttm_journal_chunk *c)
{
    rrun *r = pl->r;
    ttm_registry *reg = NULL;
    const uint8_t *annex = NULL;
    size_t annex_len = 0;
    char msg[128];
    int err = ttm_registry_load(&reg, &r->cfg, c->data, c->len, &annex, &annex_len, msg,
                                sizeof msg);
    if (err == TTM_ENOMEM) {
        pl->err = err;
        return;
    }
    if (err != TTM_OK) {
        char what[96];
        snprintf(what, sizeof what, "a STATE chunk refused (%.60s)", msg);
        note_bad(r, what);
        return;
    }
    if (r->arch != 0)
        ttm_registry_set_default_arch(reg, (ttm_arch)r->arch);
    ttm_registry_close(r->reg);
    r->reg = reg;
    if (pl->lives)
        lives_state(pl, c->ts);
    usage_all(pl, c->ts);
}

static void chunk_stacks(player *pl, const ttm_journal_chunk *c)
{
    ttm_br br = ttm__br_over(c->data, c->len);
    int err = ttm_stacks_load_more(ttm_registry_stacks(pl->r->reg), &br);
    if (err == TTM_ENOMEM)
        pl->err = err;
    else if (err != TTM_OK)
        note_bad(pl->r, "a STACKS chunk refused");
}

/* The DAEMON chunk kept: the last one a full report query made, else the last one. */
static void chunk_daemon(player *pl, const ttm_journal_chunk *c)
{
    rrun *r = pl->r;
    if (c->len < 4) {
        note_bad(r, "a DAEMON chunk too short");
        return;
    }
    uint32_t reason = ttm__le32(c->data);
    if (r->daemon_reason == 1 && reason != 1)
        return;
    r->daemon.len = 0;
    ttm_bw w = ttm__bw_over(&r->daemon);
    ttm__bw_bytes(&w, c->data + 4, c->len - 4);
    if (w.err != TTM_OK) {
        pl->err = w.err;
        return;
    }
    r->daemon_reason = reason;
}

static int on_chunk(void *ctx, const ttm_journal_chunk *c)
{
    player *pl = ctx;
    int rc = begin(pl, c->ts);
    if (rc != TTM_OK)
        return rc;
    rrun *r = pl->r;
    switch (c->kind) {
    case TTM_JOURNAL_CHUNK_CONFIG:
        chunk_config(pl, c);
        break;
    case TTM_JOURNAL_CHUNK_STATE:
        chunk_state(pl, c);
        break;
    case TTM_JOURNAL_CHUNK_STACKS:
        chunk_stacks(pl, c);
        break;
    case TTM_JOURNAL_CHUNK_DAEMON:
        chunk_daemon(pl, c);
        break;
    case TTM_JOURNAL_CHUNK_RUN:
        if (!set_text(&r->title, (const char *)c->data, c->len))
            pl->err = TTM_ENOMEM;
        /* the caller sees it too */
        __attribute__((fallthrough));
    default:
        if (pl->obs != NULL && pl->obs->chunk != NULL)
            pl->obs->chunk(pl->obs->ctx, pl->run, c);
        break;
    }
    if (c->kind != TTM_JOURNAL_CHUNK_CONFIG) /* CONFIG leads every file: reopen only at start */
        end(pl);
    else
        r->nrec++;
    return pl->err;
}

static void on_damage(void *ctx, uint64_t off, const char *what)
{
    (void)off;
    (void)what;
    player *pl = ctx;
    pl->r->damage++;
}

/* Forgets the lives of the previous run (every run has its own addresses). */
static void lives_reset(ttm_replay *rp)
{
    ttm__table_clear(&rp->addrs);
    rp->npool = 0;
    rp->nlive = 0;
    rp->free_head = NIL;
}

/* The lives still open at the end of the replay: reported live (free_ts 0). */
static void lives_end(player *pl)
{
    ttm_replay *rp = pl->rp;
    if (pl->obs == NULL || pl->obs->buffer == NULL)
        return;
    for (size_t i = 0; i < rp->npool; i++)
        if (rp->pool[i].used)
            pl->obs->buffer(pl->obs->ctx, pl->run, &rp->pool[i].b);
}

/* A whole replay's peaks become the run's (ttm_replay_peak). */
static void keep_peaks(rrun *r)
{
    ttm__free(r->pk.devs);
    ttm__free(r->pk.slot);
    r->pk.devs = r->devs;
    r->pk.ndevs = r->ndevs;
    r->pk.slot = r->slot;
    memcpy(r->pk.mt, r->mt_pk, sizeof r->pk.mt);
    r->pk.all = r->all_pk;
    r->pk.valid = true;
    r->devs = NULL;
    r->slot = NULL;
    r->ndevs = r->cap_devs = 0;
}

static int replay_one(ttm_replay *rp, size_t k, const ttm_replay_observer *obs, uint64_t stop_ts,
                      uint64_t stop_rec)
{
    rrun *r = &rp->runs[k];
    run_reset(r);
    lives_reset(rp);
    int err = open_registry(r);
    if (err != TTM_OK)
        return err;
    player pl = {.rp = rp, .r = r, .run = k, .obs = obs, .stop_ts = stop_ts,
                 .stop_rec = stop_rec, .lives = obs != NULL && obs->buffer != NULL};
    ttm_journal_sink sink = {.ctx = &pl, .event = on_event, .device = on_device,
                             .proc = on_proc, .mark = on_mark, .chunk = on_chunk,
                             .damage = on_damage};
    bool stopped = false;
    for (size_t i = 0; i < r->nfiles && !stopped; i++) {
        rfile *f = &rp->files[r->files[i]];
        memset(&f->stats, 0, sizeof f->stats);
        ttm_journal_reader *jr = NULL;
        err = ttm_journal_reader_open(f->path, -1, &jr);
        f->failed = err != TTM_OK;
        if (err == TTM_ENOMEM)
            return err;
        if (err != TTM_OK)
            continue; /* gone since it was opened: said in the summary */
        int rc = ttm_journal_read_all(jr, &sink);
        f->stats = *ttm_journal_reader_stats(jr);
        ttm_journal_reader_close(jr);
        if (rc == STOP)
            stopped = true;
        else if (rc != TTM_OK)
            return rc == TTM_ENOMEM ? TTM_ENOMEM : TTM_EIO;
    }
    lives_end(&pl);
    if (!stopped)
        keep_peaks(r);
    return TTM_OK;
}

int ttm_replay_run(ttm_replay *rp, const ttm_replay_observer *obs, uint64_t stop_ts)
{
    for (size_t k = 0; k < rp->nruns; k++) {
        int err = replay_one(rp, k, obs, stop_ts, UINT64_MAX);
        if (err != TTM_OK)
            return err;
    }
    return TTM_OK;
}

int ttm_replay_run_to(ttm_replay *rp, const ttm_replay_observer *obs, size_t run, uint64_t rec)
{
    if (run >= rp->nruns)
        return TTM_EINVAL;
    return replay_one(rp, run, obs, UINT64_MAX, rec);
}

/* ---- queries -------------------------------------------------------------------------------- */

size_t ttm_replay_runs(const ttm_replay *rp)
{
    return rp->nruns;
}

const char *ttm_replay_host(const ttm_replay *rp, size_t run)
{
    return run < rp->nruns ? rp->runs[run].host : "";
}

ttm_registry *ttm_replay_registry(ttm_replay *rp, size_t run)
{
    return run < rp->nruns ? rp->runs[run].reg : NULL;
}

const ttm_replay_proc *ttm_replay_procs(const ttm_replay *rp, size_t run, size_t *n)
{
    *n = run < rp->nruns ? rp->runs[run].nprocs : 0;
    return *n > 0 ? rp->runs[run].procs : NULL;
}

void ttm_replay_span(const ttm_replay *rp, size_t run, uint64_t *first_ts, uint64_t *last_ts)
{
    const rrun *r = run < rp->nruns ? &rp->runs[run] : NULL;
    *first_ts = r != NULL ? r->first_ts : 0;
    *last_ts = r != NULL ? r->last_ts : 0;
}

const char *ttm_replay_title(const ttm_replay *rp, size_t run)
{
    return run < rp->nruns && rp->runs[run].title != NULL ? rp->runs[run].title : "";
}

int ttm_replay_peak(const ttm_replay *rp, size_t run, uint32_t device, uint8_t memtype,
                    uint64_t *ts, uint64_t *bytes, uint64_t *rec)
{
    *ts = *bytes = *rec = 0;
    if (run >= rp->nruns)
        return TTM_ENOENT;
    const struct rrun *r = &rp->runs[run];
    const peak *p = NULL;
    bool any_mt = memtype == TTM_MEM_ANY;
    if (!any_mt && memtype >= MT)
        return TTM_ENOENT;
    if (!r->pk.valid)
        return TTM_ENOENT;
    if (device == TTM_REPLAY_ANY_DEVICE) {
        p = any_mt ? &r->pk.all : &r->pk.mt[memtype];
    } else {
        if (device > UINT16_MAX || r->pk.slot == NULL || r->pk.slot[device] == 0)
            return TTM_ENOENT;
        const devuse *d = &r->pk.devs[r->pk.slot[device] - 1];
        p = any_mt ? &d->pk_total : &d->pk[memtype];
    }
    if (p->bytes == 0)
        return TTM_ENOENT;
    *ts = p->ts;
    *bytes = p->bytes;
    *rec = p->rec;
    return TTM_OK;
}

/* ---- the report ---------------------------------------------------------------------------- */

/* The kept DAEMON chunk of run r decoded into *d (zeroed first). Returns 0, TTM_ENOENT (none),
 * TTM_EPROTO (noted for the summary) or TTM_ENOMEM. */
static int daemon_records(rrun *r, ttm_report *d)
{
    memset(d, 0, sizeof *d);
    if (r->daemon.len == 0)
        return TTM_ENOENT;
    ttm_snap_frame fr;
    char msg[128] = "";
    int err = ttm__snap_decode_frame(r->daemon.data, r->daemon.len, &fr, msg, sizeof msg);
    if (err == TTM_OK && (fr.type != TTM_SNAP_MSG_SNAPSHOT ||
                          fr.length != r->daemon.len - TTM_SNAP_HDR_SIZE)) {
        snprintf(msg, sizeof msg, "not one snapshot frame");
        err = TTM_EPROTO;
    }
    if (err == TTM_OK)
        err = ttm_report_decode(r->daemon.data + TTM_SNAP_HDR_SIZE, fr.length, d, msg,
                                sizeof msg);
    if (err != TTM_OK && err != TTM_ENOMEM) {
        char what[96];
        snprintf(what, sizeof what, "the DAEMON chunk refused (%.60s)", msg);
        note_bad(r, what);
        r->daemon.len = 0; /* said once */
        return TTM_EPROTO;
    }
    return err;
}

/* The journal's process record of pid in run r, or NULL. */
static const ttm_replay_proc *run_proc(const rrun *r, uint32_t pid)
{
    size_t lo = proc_place(r, pid);
    return lo < r->nprocs && r->procs[lo].pid == pid ? &r->procs[lo] : NULL;
}

/* The command line of each of out's processes: the one the DAEMON chunk's snapshot carried
 * (d, PROCINFO; NULL or without them: a journal of an older daemon, or none kept), else the
 * last one the journal's PROC records gave (joined as the daemon joins them), else NULL. Both
 * lists are ascending by pid. Returns 0 or TTM_ENOMEM. */
static int run_cmdlines(const rrun *r, const ttm_report *d, ttm_report *out)
{
    size_t j = 0;
    for (size_t k = 0; k < out->nprocs; k++) {
        ttm_report_proc *o = &out->procs[k];
        uint32_t pid = o->stats.pid;
        while (d != NULL && j < d->nprocs && d->procs[j].stats.pid < pid)
            j++;
        const char *kept = d != NULL && j < d->nprocs && d->procs[j].stats.pid == pid
                               ? d->procs[j].cmdline
                               : NULL;
        const ttm_replay_proc *jp = kept == NULL ? run_proc(r, pid) : NULL;
        int err = TTM_OK;
        if (o->cmdline != NULL)
            continue;
        if (kept != NULL)
            err = ttm__cmdline_text(kept, strlen(kept), &o->cmdline);
        else if (jp != NULL && jp->cmdline_len > 0)
            err = ttm__cmdline_text(jp->cmdline, jp->cmdline_len, &o->cmdline);
        if (err != TTM_OK)
            return err;
    }
    return TTM_OK;
}

/* The report of one run, as its daemon answered: the registry's, with the daemon's records and
 * the processes' command lines. */
static int report_run(rrun *r, const ttm_report_options *opt, ttm_report *out)
{
    memset(out, 0, sizeof *out);
    if (r->reg == NULL)
        return TTM_OK;
    int err = ttm_report_fill(r->reg, opt, out);
    if (err != TTM_OK)
        return err;
    ttm_report d;
    err = daemon_records(r, &d);
    if (err == TTM_OK) {
        err = ttm_report_merge_daemon(out, &d);
        if (err == TTM_OK)
            err = run_cmdlines(r, &d, out);
        ttm_report_clear(&d);
    } else if (err != TTM_ENOMEM) {
        err = run_cmdlines(r, NULL, out); /* none, or refused: the daemon's records stay zero */
    }
    if (err != TTM_OK)
        ttm_report_clear(out);
    return err;
}

int ttm_replay_report(ttm_replay *rp, const ttm_report_options *opt, ttm_report *out)
{
    memset(out, 0, sizeof *out);
    if (rp->nruns == 0)
        return TTM_OK;
    if (rp->nruns == 1) { /* the daemon's report, byte for byte */
        int err = report_run(&rp->runs[0], opt, out);
        rp->runs[0].report_procs = out->nprocs;
        return err;
    }
    ttm_report *parts = ttm__calloc(rp->nruns, sizeof *parts);
    if (parts == NULL)
        return TTM_ENOMEM;
    int err = TTM_OK;
    for (size_t k = 0; k < rp->nruns && err == TTM_OK; k++) {
        err = report_run(&rp->runs[k], opt, &parts[k]);
        rp->runs[k].report_procs = parts[k].nprocs;
    }
    if (err == TTM_OK)
        err = ttm_report_join(out, parts, rp->nruns, opt);
    for (size_t k = 0; k < rp->nruns; k++)
        ttm_report_clear(&parts[k]);
    ttm__free(parts);
    return err;
}

size_t ttm_replay_report_procs(const ttm_replay *rp, size_t run)
{
    return run < rp->nruns ? rp->runs[run].report_procs : 0;
}

bool ttm_replay_has_daemon(const ttm_replay *rp, size_t run)
{
    return run < rp->nruns && rp->runs[run].daemon.len > 0;
}

uint64_t ttm_replay_mismatches(const ttm_replay *rp)
{
    uint64_t n = 0;
    for (size_t k = 0; k < rp->nruns; k++)
        n += rp->runs[k].mismatches;
    return n;
}

uint64_t ttm_replay_records(const ttm_replay *rp)
{
    uint64_t n = 0;
    for (size_t k = 0; k < rp->nruns; k++)
        n += rp->runs[k].nrec;
    return n;
}

/* ---- what was lost --------------------------------------------------------------------------- */

void ttm_replay_summary(const ttm_replay *rp, char *buf, size_t n)
{
    if (n == 0)
        return;
    buf[0] = '\0';
    uint64_t bad = 0, lost = 0, cut = 0, gone = 0, mism = 0, refused = 0;
    const char *first_file = NULL, *what = NULL;
    for (size_t i = 0; i < rp->nfiles; i++) {
        const rfile *f = &rp->files[i];
        bad += f->stats.bad_blocks;
        lost += f->stats.skipped_bytes;
        cut += f->stats.truncated;
        gone += f->failed;
        if (first_file == NULL && (f->stats.bad_blocks || f->stats.truncated || f->failed))
            first_file = f->path;
    }
    for (size_t k = 0; k < rp->nruns; k++) {
        mism += rp->runs[k].mismatches;
        if (rp->runs[k].bad_chunks > 0 && what == NULL)
            what = rp->runs[k].bad_what;
        refused += rp->runs[k].bad_chunks;
    }
    if (bad == 0 && cut == 0 && gone == 0 && mism == 0 && refused == 0)
        return;
    size_t off = 0;
#define PUT(...)                                                                                 \
    do {                                                                                         \
        if (off < n)                                                                             \
            off += (size_t)snprintf(buf + off, n - off, __VA_ARGS__);                             \
    } while (0)
    PUT("journal");
    if (first_file != NULL)
        PUT(" %s%s", first_file, rp->nfiles > 1 ? " (and others)" : "");
    PUT(":");
    const char *sep = " ";
    if (bad > 0) {
        PUT("%s%llu damaged region%s skipped", sep, (unsigned long long)bad, bad == 1 ? "" : "s");
        sep = ", ";
    }
    if (cut > 0) {
        PUT("%s%llu file%s cut inside a block", sep, (unsigned long long)cut, cut == 1 ? "" : "s");
        sep = ", ";
    }
    if (bad > 0 || cut > 0) {
        PUT(" (%llu bytes lost: what they held is missing from the report)",
            (unsigned long long)lost);
        sep = "; ";
    }
    if (gone > 0) {
        PUT("%s%llu file%s could not be read again", sep, (unsigned long long)gone,
            gone == 1 ? "" : "s");
        sep = "; ";
    }
    if (refused > 0) {
        PUT("%s%llu chunk%s refused, first: %s", sep, (unsigned long long)refused,
            refused == 1 ? "" : "s", what);
        sep = "; ";
    }
    if (mism > 0)
        PUT("%s%llu event%s classified otherwise than the daemon did", sep,
            (unsigned long long)mism, mism == 1 ? "" : "s");
#undef PUT
}
