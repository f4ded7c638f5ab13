/*
 * timeline_model.c — `ttmem timeline`'s model (timeline.h): the replay observer's calls
 * gathered, bounded, into what the page shows. The page itself is written by timeline_page.c
 * from the same structures (timeline_parts.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/timeline.h"
#include "cli/timeline_parts.h"
#include "common/alloc.h"
#include "common/event.h"
#include "core/registry.h"
#include "ttmem/ttmem.h"
#include "common/util.h"

#define DEFAULT_HTML_BYTES 20000000u
#define DEFAULT_MAX_BUFFERS 250000u
#define DEFAULT_MAX_MARKERS 50000u
#define DEFAULT_MAX_LIVE 100000u

/* ---- a small open-addressing map of u64 keys to indices (procs, scopes, names) ------------ */

void *tl_xgrow(void *arr, size_t *cap, size_t n, size_t size, size_t first)
{
    void *p = ttm__grow(arr, cap, n, size, first);
    if (p == NULL) {
        fputs("ttmem: out of memory\n", stderr);
        exit(1);
    }
    return p;
}

void tl_map_free(tl_map *m)
{
    ttm__free(m->keys);
    ttm__free(m->vals);
    *m = (tl_map){0};
}

static uint64_t mix(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return k;
}

/* The slot of key: its own, or the empty one it would take. */
static size_t map_slot(const tl_map *m, uint64_t key)
{
    size_t mask = m->cap - 1, i = (size_t)mix(key) & mask;
    while (m->vals[i] != 0 && m->keys[i] != key)
        i = (i + 1) & mask;
    return i;
}

size_t tl_map_get(const tl_map *m, uint64_t key)
{
    if (m->cap == 0)
        return SIZE_MAX;
    size_t i = map_slot(m, key);
    return m->vals[i] != 0 ? m->vals[i] - 1 : SIZE_MAX;
}

void tl_map_put(tl_map *m, uint64_t key, size_t val)
{
    if ((m->n + 1) * 2 > m->cap) { /* keep it at most half full */
        tl_map old = *m;
        m->cap = old.cap ? old.cap * 2 : 64;
        m->keys = ttm__xcalloc(m->cap, sizeof *m->keys);
        m->vals = ttm__xcalloc(m->cap, sizeof *m->vals);
        m->n = 0;
        for (size_t i = 0; i < old.cap; i++)
            if (old.vals[i] != 0)
                tl_map_put(m, old.keys[i], old.vals[i] - 1);
        tl_map_free(&old);
    }
    size_t i = map_slot(m, key);
    if (m->vals[i] == 0)
        m->n++;
    m->keys[i] = key;
    m->vals[i] = val + 1;
}

static uint64_t run_key(size_t run, uint32_t id)
{
    return (uint64_t)run << 32 | id;
}

/* ---- lanes and series -------------------------------------------------------------------- */

static void see_ts(ttm_timeline *t, uint64_t ts)
{
    if (ts == 0)
        return;
    if (t->first_ts == 0 || ts < t->first_ts)
        t->first_ts = ts;
    if (ts > t->last_ts)
        t->last_ts = ts;
}

tl_run *tl_run_get(ttm_timeline *t, size_t run)
{
    if (run >= t->nruns) {
        t->runs = ttm__xreallocarray(t->runs, run + 1, sizeof *t->runs);
        memset(t->runs + t->nruns, 0, (run + 1 - t->nruns) * sizeof *t->runs);
        t->nruns = run + 1;
    }
    return &t->runs[run];
}

/* The lane of (run, device), made on first sight. */
static size_t lane_of(ttm_timeline *t, size_t run, uint16_t device)
{
    uint64_t key = (uint64_t)run << 16 | device;
    if (t->lane_cache_valid && t->lane_cache_key == key)
        return t->lane_cache;
    size_t i = tl_map_get(&t->lane_map, key);
    if (i == SIZE_MAX) {
        tl_run_get(t, run);
        t->lanes = tl_xgrow(t->lanes, &t->lanes_cap, t->nlanes, sizeof *t->lanes, 8);
        i = t->nlanes++;
        t->lanes[i] = (tl_lane){.run = run, .device = device};
        tl_map_put(&t->lane_map, key, i);
    }
    t->lane_cache = i;
    t->lane_cache_key = key;
    t->lane_cache_valid = true;
    return i;
}

static void usage_cb(void *ctx, size_t run, uint64_t ts, uint16_t device, uint8_t memtype,
                     uint64_t bytes)
{
    ttm_timeline *t = ctx;
    if (!ttm__memtype_valid(memtype))
        return;
    see_ts(t, ts);
    size_t li = lane_of(t, run, device); /* may move the lanes */
    tl_lane *l = &t->lanes[li];
    tl_series *s = &l->series[memtype];
    ttm_bw w = ttm__bw_over(&s->enc);
    if (s->n == 0) {
        s->first_ts = ts;
        s->first_val = bytes;
    } else {
        /* every change after the first: time since the previous, value change (zigzag) */
        ttm__bw_varint(&w, ts - s->last_ts);
        int64_t d = (int64_t)(bytes - s->last_val);
        ttm__bw_varint(&w, ((uint64_t)d << 1) ^ (uint64_t)(d >> 63));
        if (w.err != 0)
            t->err = w.err;
    }
    s->n++;
    s->last_ts = ts;
    s->last_val = bytes;
    if (bytes > s->peak || s->n == 1) {
        if (bytes > s->peak)
            s->peak_ts = ts;
        s->peak = bytes > s->peak ? bytes : s->peak;
    }
    t->changes++;
}

static void device_cb(void *ctx, size_t run, const ttm_journal_device *d)
{
    ttm_timeline *t = ctx;
    see_ts(t, d->ts);
    size_t li = lane_of(t, run, d->device); /* may move the lanes */
    tl_lane *l = &t->lanes[li];
    l->arch = d->arch;
    l->cap[TTM_SPACE_DRAM] = d->dram_capacity;
    l->cap[TTM_SPACE_L1] = d->l1_capacity;
}

/* ---- markers: events with anomaly classes ------------------------------------------------ */

static uint32_t anomaly_mask(void)
{
    uint32_t m = 0;
    for (unsigned c = 0; c < TTM_CLASS__COUNT; c++)
        if (ttm_class_is_anomaly(c))
            m |= TTM_CLASS_BIT(c);
    return m;
}

/* Keeps marker m in class c's list: every stride-th marker of the class, the stride doubled
 * (every other one kept dropped) whenever the list is full, so what stays is spread evenly. */
static void keep_marker(ttm_timeline *t, unsigned c, const tl_marker *m)
{
    tl_markers *k = &t->markers[c];
    uint64_t i = k->seen++;
    if (k->stride == 0)
        k->stride = 1;
    if (i % k->stride != 0)
        return;
    if (k->n == t->opts.max_markers) {
        size_t o = 0;
        for (size_t j = 0; j < k->n; j += 2)
            k->v[o++] = k->v[j];
        k->n = o;
        k->stride *= 2;
        if (i % k->stride != 0)
            return;
    }
    k->v = tl_xgrow(k->v, &k->cap, k->n, sizeof *k->v, 256);
    k->v[k->n++] = *m;
}

/* The scope band of (run, scope): its first and last event. */
static void see_scope(ttm_timeline *t, size_t run, uint32_t scope, uint64_t ts)
{
    uint64_t key = run_key(run, scope);
    size_t i = tl_map_get(&t->scope_map, key);
    if (i == SIZE_MAX) {
        if (t->nscopes == TL_MAX_SCOPES) {
            t->scopes_dropped++;
            return;
        }
        t->scopes = tl_xgrow(t->scopes, &t->scopes_cap, t->nscopes, sizeof *t->scopes, 16);
        i = t->nscopes++;
        t->scopes[i] = (tl_scope){.run = run, .id = scope, .first = ts, .last = ts};
        tl_map_put(&t->scope_map, key, i);
    }
    tl_scope *s = &t->scopes[i];
    s->events++;
    if (ts < s->first)
        s->first = ts;
    if (ts > s->last)
        s->last = ts;
}

static void event_cb(void *ctx, size_t run, const ttm_journal_event *e, uint32_t mask,
                     const ttm_apply_info *info)
{
    (void)info;
    ttm_timeline *t = ctx;
    see_ts(t, e->ts);
    t->events++;
    if (e->scope != 0)
        see_scope(t, run, e->scope, e->ts);
    uint32_t a = mask & t->anomalies;
    if (a == 0)
        return;
    for (unsigned c = 0; c < TTM_CLASS__COUNT; c++)
        if (a & TTM_CLASS_BIT(c))
            t->class_events[c]++;
    /* one marker per event, in the list of its first anomaly class */
    unsigned first = (unsigned)__builtin_ctz(a);
    tl_marker m = {.ts = e->ts, .addr = e->addr, .size = e->size, .pid = e->pid,
                   .lane = (uint32_t)lane_of(t, run, e->device), .mask = a, .kind = e->kind};
    keep_marker(t, first, &m);
}

/* ---- processes and marks ------------------------------------------------------------------ */

static void proc_cb(void *ctx, size_t run, const ttm_journal_proc *p)
{
    ttm_timeline *t = ctx;
    see_ts(t, p->ts);
    uint64_t key = run_key(run, p->pid);
    size_t i = tl_map_get(&t->proc_map, key);
    if (i == SIZE_MAX) {
        if (t->nprocs == TL_MAX_PROCS) {
            t->procs_dropped++;
            return;
        }
        t->procs = tl_xgrow(t->procs, &t->procs_cap, t->nprocs, sizeof *t->procs, 16);
        i = t->nprocs++;
        t->procs[i] = (tl_proc){.run = run, .pid = p->pid, .status = -1};
        tl_map_put(&t->proc_map, key, i);
    }
    tl_proc *q = &t->procs[i];
    if (p->state == TTM_JOURNAL_PROC_START) {
        if (q->start_ts == 0)
            q->start_ts = p->ts;
        if (p->name != NULL && p->name[0] != '\0') {
            ttm__free(q->name);
            q->name = ttm__xstrdup(p->name);
        }
    } else if (p->state == TTM_JOURNAL_PROC_EXIT) {
        q->exit_ts = p->ts;
        q->exited = true;
        q->status = p->status;
    }
}

static void mark_cb(void *ctx, size_t run, const ttm_journal_mark *m)
{
    ttm_timeline *t = ctx;
    see_ts(t, m->ts);
    if (t->nmarks == TL_MAX_MARKS) {
        t->marks_dropped++;
        return;
    }
    t->marks = tl_xgrow(t->marks, &t->marks_cap, t->nmarks, sizeof *t->marks, 16);
    t->marks[t->nmarks++] = (tl_mark){.run = run, .pid = m->pid, .ts = m->ts,
                                      .name = ttm__xstrdup(m->name ? m->name : "")};
}

/* ---- buffer lives: the largest kept, in a min-heap by size ------------------------------- */

static bool buf_less(const tl_buf *a, const tl_buf *b)
{
    if (a->size != b->size)
        return a->size < b->size;
    return a->alloc_ts > b->alloc_ts; /* of equal sizes the later goes first */
}

static void heap_down(tl_buf *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && buf_less(&h[l], &h[m]))
            m = l;
        if (r < n && buf_less(&h[r], &h[m]))
            m = r;
        if (m == i)
            return;
        tl_buf x = h[i];
        h[i] = h[m];
        h[m] = x;
        i = m;
    }
}

static void heap_up(tl_buf *h, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!buf_less(&h[i], &h[p]))
            return;
        tl_buf x = h[i];
        h[i] = h[p];
        h[p] = x;
        i = p;
    }
}

static tl_buf buf_from(size_t run, const ttm_replay_buffer *b)
{
    return (tl_buf){.run = (uint32_t)run, .pid = b->pid, .device = b->device,
                    .memtype = b->memtype, .view = (b->flags & TTM_FLAG_VIEW) != 0,
                    .leaked = b->leaked, .addr = b->addr, .size = b->size,
                    .alloc_ts = b->alloc_ts, .free_ts = b->free_ts, .stack = b->stack,
                    .scope = b->scope, .reuse = b->reuse};
}

static void keep_buffer(ttm_timeline *t, const tl_buf *b)
{
    if (t->nbufs < t->opts.max_buffers) {
        t->bufs = tl_xgrow(t->bufs, &t->bufs_cap, t->nbufs, sizeof *t->bufs, 1024);
        t->bufs[t->nbufs] = *b;
        heap_up(t->bufs, t->nbufs++);
    } else if (t->nbufs > 0 && buf_less(&t->bufs[0], b)) {
        t->bufs[0] = *b;
        heap_down(t->bufs, t->nbufs, 0);
    }
}

static void buffer_cb(void *ctx, size_t run, const ttm_replay_buffer *b)
{
    ttm_timeline *t = ctx;
    see_ts(t, b->alloc_ts);
    see_ts(t, b->free_ts);
    t->buffers++;
    tl_buf x = buf_from(run, b);
    lane_of(t, run, b->device);
    keep_buffer(t, &x);
}

/* ---- the live set at a peak ---------------------------------------------------------------- */

int tl_buf_key_cmp(const void *pa, const void *pb)
{
    const tl_buf *a = pa, *b = pb;
#define KEY_CMP(f)                                                                              \
    if (a->f != b->f)                                                                           \
        return a->f < b->f ? -1 : 1;
    KEY_CMP(run) KEY_CMP(device) KEY_CMP(addr) KEY_CMP(alloc_ts) KEY_CMP(pid) KEY_CMP(memtype)
#undef KEY_CMP
    return 0;
}

static void peak_buffer_cb(void *ctx, size_t run, const ttm_replay_buffer *b)
{
    ttm_timeline *t = ctx;
    if (b->free_ts != 0 || run != t->peak_run || (b->flags & TTM_FLAG_VIEW))
        return; /* ended before the peak, or a view (it holds no bytes of its own) */
    tl_run *r = tl_run_get(t, run);
    r->live_count++;
    r->live_bytes += b->size;
    tl_buf x = buf_from(run, b);
    x.free_ts = 0;
    /* the largest max_live, in a min-heap of their own */
    if (r->nlive < t->opts.max_live) {
        r->live = tl_xgrow(r->live, &r->live_cap, r->nlive, sizeof *r->live, 256);
        r->live[r->nlive] = x;
        heap_up(r->live, r->nlive++);
    } else if (buf_less(&r->live[0], &x)) {
        r->live[0] = x;
        heap_down(r->live, r->nlive, 0);
    }
}

void ttm_timeline_set_peak(ttm_timeline *t, size_t run, uint64_t ts, uint64_t bytes)
{
    tl_run *r = tl_run_get(t, run);
    r->has_peak = true;
    r->peak_ts = ts;
    r->peak_bytes = bytes;
}

void ttm_timeline_peak_observer(ttm_timeline *t, size_t run, ttm_replay_observer *obs)
{
    *obs = (ttm_replay_observer){.ctx = t, .buffer = peak_buffer_cb};
    t->peak_run = run;
}

/* Sorts the kept lives by key and finds each live-at-peak one among them: found, it is marked
 * (live at the peak); not found, it is one that was not kept. Returns how many are missing. */
static size_t match_peaks(ttm_timeline *t)
{
    ttm__qsort(t->bufs, t->nbufs, sizeof *t->bufs, tl_buf_key_cmp);
    t->bufs_sorted = true;
    size_t missing = 0;
    for (size_t r = 0; r < t->nruns; r++)
        for (size_t i = 0; i < t->runs[r].nlive; i++) {
            tl_buf *x = &t->runs[r].live[i];
            tl_buf *f = bsearch(x, t->bufs, t->nbufs, sizeof *t->bufs, tl_buf_key_cmp);
            x->found = f != NULL;
            if (f != NULL)
                f->at_peak = true;
            else
                missing++;
        }
    return missing;
}

bool ttm_timeline_peak_missing(const ttm_timeline *t)
{
    return match_peaks((ttm_timeline *)t) > 0;
}

/* The fill pass: a whole replay again, completing the lives at a peak that were not kept. */
static void fill_buffer_cb(void *ctx, size_t run, const ttm_replay_buffer *b)
{
    ttm_timeline *t = ctx;
    tl_buf x = buf_from(run, b);
    for (size_t r = 0; r < t->nruns; r++) {
        tl_run *rr = &t->runs[r];
        tl_buf *f = bsearch(&x, rr->live_sorted, rr->nlive, sizeof *rr->live, tl_buf_key_cmp);
        if (f != NULL && !f->found) {
            x.at_peak = true;
            f->found = true;
            t->extra = tl_xgrow(t->extra, &t->extra_cap, t->nextra, sizeof *t->extra, 256);
            t->extra[t->nextra++] = x;
        }
    }
}

void ttm_timeline_fill_observer(ttm_timeline *t, ttm_replay_observer *obs)
{
    for (size_t r = 0; r < t->nruns; r++) {
        tl_run *rr = &t->runs[r];
        rr->live_sorted = ttm__xcalloc(rr->nlive + 1, sizeof *rr->live);
        memcpy(rr->live_sorted, rr->live, rr->nlive * sizeof *rr->live);
        ttm__qsort(rr->live_sorted, rr->nlive, sizeof *rr->live, tl_buf_key_cmp);
    }
    *obs = (ttm_replay_observer){.ctx = t, .buffer = fill_buffer_cb};
}

/* ---- names ------------------------------------------------------------------------------- */

size_t ttm_timeline_stacks(const ttm_timeline *t, size_t *runs, uint32_t *ids, size_t cap)
{
    tl_map seen = {0};
    size_t n = 0;
    for (size_t i = 0; i < t->nbufs + t->nextra; i++) {
        const tl_buf *b = i < t->nbufs ? &t->bufs[i] : &t->extra[i - t->nbufs];
        uint64_t key = run_key(b->run, b->stack);
        if (b->stack == 0 || tl_map_get(&seen, key) != SIZE_MAX)
            continue;
        tl_map_put(&seen, key, n);
        if (n < cap) {
            if (runs)
                runs[n] = b->run;
            if (ids)
                ids[n] = b->stack;
        }
        n++;
    }
    tl_map_free(&seen);
    return n;
}

size_t ttm_timeline_scopes(const ttm_timeline *t, size_t *runs, uint32_t *ids, size_t cap)
{
    for (size_t i = 0; i < t->nscopes && i < cap; i++) {
        if (runs)
            runs[i] = t->scopes[i].run;
        if (ids)
            ids[i] = t->scopes[i].id;
    }
    return t->nscopes;
}

/* Interns text into the site table; returns its index + 1 (0: none). */
static uint32_t site_index(ttm_timeline *t, const char *text)
{
    for (size_t i = 0; i < t->nsites; i++)
        if (strcmp(t->sites[i], text) == 0)
            return (uint32_t)i + 1;
    t->sites = tl_xgrow(t->sites, &t->sites_cap, t->nsites, sizeof *t->sites, 64);
    t->sites[t->nsites++] = ttm__xstrdup(text);
    return (uint32_t)t->nsites;
}

void ttm_timeline_name_stack(ttm_timeline *t, size_t run, uint32_t stack, const char *text)
{
    if (text == NULL || text[0] == '\0')
        return;
    tl_map_put(&t->stack_site, run_key(run, stack), site_index(t, text));
}

void ttm_timeline_name_scope(ttm_timeline *t, size_t run, uint32_t scope, const char *name)
{
    size_t i = tl_map_get(&t->scope_map, run_key(run, scope));
    if (i != SIZE_MAX && name != NULL) {
        ttm__free(t->scopes[i].name);
        t->scopes[i].name = ttm__xstrdup(name);
    }
}

void ttm_timeline_set_run(ttm_timeline *t, size_t run, const char *host, const char *title)
{
    tl_run *r = tl_run_get(t, run);
    ttm__free(r->host);
    ttm__free(r->title);
    r->host = ttm__xstrdup(host ? host : "");
    r->title = ttm__xstrdup(title ? title : "");
}

void ttm_timeline_set_title(ttm_timeline *t, const char *title)
{
    ttm__free(t->title);
    t->title = ttm__xstrdup(title ? title : "");
}

void ttm_timeline_set_damage(ttm_timeline *t, const char *line)
{
    ttm__free(t->damage);
    t->damage = ttm__xstrdup(line ? line : "");
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

int ttm_timeline_open(ttm_timeline **out, const ttm_timeline_opts *opts)
{
    ttm_timeline *t = ttm__calloc(1, sizeof *t);
    if (t == NULL)
        return TTM_ENOMEM;
    if (opts != NULL)
        t->opts = *opts;
    if (t->opts.html_bytes == 0)
        t->opts.html_bytes = DEFAULT_HTML_BYTES;
    if (t->opts.max_buffers == 0)
        t->opts.max_buffers = DEFAULT_MAX_BUFFERS;
    if (t->opts.max_markers < 2)
        t->opts.max_markers = DEFAULT_MAX_MARKERS;
    if (t->opts.max_live == 0)
        t->opts.max_live = DEFAULT_MAX_LIVE;
    t->anomalies = anomaly_mask();
    *out = t;
    return TTM_OK;
}

void ttm_timeline_observer(ttm_timeline *t, ttm_replay_observer *obs)
{
    *obs = (ttm_replay_observer){.ctx = t, .event = event_cb, .buffer = buffer_cb,
                                 .proc = proc_cb, .mark = mark_cb, .device = device_cb,
                                 .usage = usage_cb};
}

int ttm_timeline_error(const ttm_timeline *t)
{
    return t->err;
}

void ttm_timeline_close(ttm_timeline *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->nlanes; i++)
        for (unsigned m = 0; m < TTM_MEMTYPE_COUNT; m++)
            ttm__bytes_free(&t->lanes[i].series[m].enc);
    ttm__free(t->lanes);
    for (size_t r = 0; r < t->nruns; r++) {
        ttm__free(t->runs[r].host);
        ttm__free(t->runs[r].title);
        ttm__free(t->runs[r].live);
        ttm__free(t->runs[r].live_sorted);
    }
    ttm__free(t->runs);
    for (unsigned c = 0; c < TTM_CLASS__COUNT; c++)
        ttm__free(t->markers[c].v);
    for (size_t i = 0; i < t->nprocs; i++)
        ttm__free(t->procs[i].name);
    ttm__free(t->procs);
    for (size_t i = 0; i < t->nmarks; i++)
        ttm__free(t->marks[i].name);
    ttm__free(t->marks);
    for (size_t i = 0; i < t->nscopes; i++)
        ttm__free(t->scopes[i].name);
    ttm__free(t->scopes);
    for (size_t i = 0; i < t->nsites; i++)
        ttm__free(t->sites[i]);
    ttm__free(t->sites);
    ttm__free(t->bufs);
    ttm__free(t->extra);
    ttm__free(t->title);
    ttm__free(t->damage);
    tl_map_free(&t->lane_map);
    tl_map_free(&t->proc_map);
    tl_map_free(&t->scope_map);
    tl_map_free(&t->stack_site);
    ttm__free(t);
}
