/*
 * model.c — the simulator's model: the context that every scenario drives, the helpers that
 * emit events together with their expected classes, the byte counts behind the expected peaks
 * and leaks, address pools and MeshBuffers.
 *
 * The helpers keep the truth in step with what the scenarios state; they do not re-derive a
 * class from the records (see sim_internal.h). Asserts document the scenarios' own invariants
 * (e.g. a free_ok is only ever stated for a live owning record).
 */
#include "sim/sim_internal.h"

#include <assert.h>
#include <string.h>

#include "common/alloc.h"
#include "common/arch.h"

/* ---- context ------------------------------------------------------------------------------- */

void ttm__sim_init(ttm__sim *S, ttm_sim_client client, uint64_t seed, ttm_stacks *stacks,
                   ttm__sim_expect_fn fn, void *arg, ttm_sim_truth *truth)
{
    memset(S, 0, sizeof *S);
    memset(truth, 0, sizeof *truth);
    S->client = client;
    S->legacy = client == TTM_SIM_LEGACY;
    S->rng = seed;
    S->ts = TTM__SIM_TS_START;
    S->next_obj = 1;
    S->fn = fn;
    S->arg = arg;
    S->truth = truth;
    S->where.stacks = stacks;
    S->cause = TTM_CAUSE__COUNT;
    truth->has_sites = stacks != NULL;
}

static void report_peaks(ttm__sim *S);

void ttm__sim_fini(ttm__sim *S)
{
    ttm_sim_truth *t = S->truth;
    if (S->peak_fn != NULL)
        report_peaks(S);
    t->npeaks = 0;
    for (uint16_t d = 0; d < S->ndev; d++) {
        for (unsigned m = 0; m < TTM_MEMTYPE_COUNT; m++) {
            if (S->peak[d][m] == 0 || t->npeaks == TTM_SIM_MAX_PEAKS)
                continue;
            t->peaks[t->npeaks++] =
                (ttm_sim_peak){.device = d, .memtype = (uint8_t)m, .bytes = S->peak[d][m]};
        }
    }
    for (size_t i = 0; i < S->npools; i++) {
        ttm__free(S->pools[i]->used);
        ttm__free(S->pools[i]);
    }
    ttm__free(S->pools);
    ttm__free(S->recs);
    ttm__free(S->hist);
    S->pools = NULL;
    S->recs = NULL;
    S->hist = NULL;
}

/* ---- randomness ---------------------------------------------------------------------------- */

uint64_t ttm__sim_rand(ttm__sim *S)
{
    uint64_t z = (S->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t ttm__sim_below(ttm__sim *S, uint64_t n)
{
    return n ? ttm__sim_rand(S) % n : 0;
}

bool ttm__sim_chance(ttm__sim *S, unsigned percent)
{
    return ttm__sim_below(S, 100) < percent;
}

uint64_t ttm__sim_pick(ttm__sim *S, const uint64_t *v, size_t n)
{
    return v[ttm__sim_below(S, n)];
}

void ttm__sim_shuffle(ttm__sim *S, uint32_t *v, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)ttm__sim_below(S, i);
        uint32_t x = v[i - 1];
        v[i - 1] = v[j];
        v[j] = x;
    }
}

/* ---- bookkeeping --------------------------------------------------------------------------- */

static ttm__sim_proc *proc_of(ttm__sim *S, uint32_t pid)
{
    for (size_t i = 0; i < S->nprocs; i++)
        if (S->procs[i].pid == pid)
            return &S->procs[i];
    assert(S->nprocs < TTM__SIM_MAX_PROCS);
    S->procs[S->nprocs] = (ttm__sim_proc){.pid = pid};
    return &S->procs[S->nprocs++];
}

/* One more expected event of class cls from stack (runs with call sites only). */
static void truth_site(ttm__sim *S, unsigned cls, uint32_t stack)
{
    ttm_sim_truth *t = S->truth;
    if (S->where.stacks == NULL)
        return;
    for (size_t i = t->nsites; i > 0; i--) {
        if (t->sites[i - 1].cls == cls && t->sites[i - 1].stack == stack) {
            t->sites[i - 1].count++;
            return;
        }
    }
    if (t->nsites == TTM_SIM_MAX_SITES) {
        t->sites_lost++;
        return;
    }
    t->sites[t->nsites++] = (ttm_sim_site){.cls = (uint8_t)cls, .stack = stack, .count = 1};
}

/* The classes whose address-only events get a cause (core/causes.h). */
#define UNMATCHED_FREES                                                                            \
    (TTM__SIM_X(EXCESS_FREE) | TTM__SIM_X(UNKNOWN_FREE) | TTM__SIM_X(DOUBLE_FREE))

void ttm__sim_because(ttm__sim *S, ttm_cause cause, bool ambiguous)
{
    assert(cause < TTM_CAUSE__COUNT);
    S->cause = cause;
    S->cause_ambiguous = ambiguous;
}

/* One more storm free at ev's address, at time ts. */
static void truth_storm(ttm_sim_truth *t, uint32_t pid, uint64_t ts, const ttm_event *ev)
{
    ttm_sim_storm *st = NULL;
    for (size_t i = 0; i < t->nstorms && st == NULL; i++)
        if (t->storms[i].device == ev->device && t->storms[i].addr == ev->addr)
            st = &t->storms[i];
    if (st == NULL) {
        if (t->nstorms == TTM_SIM_MAX_STORMS) {
            t->storms_lost++;
            return;
        }
        st = &t->storms[t->nstorms++];
        *st = (ttm_sim_storm){.device = ev->device, .pid = pid, .addr = ev->addr, .first_ts = ts};
    } else {
        double gap = (double)(ts - st->last_ts);
        st->gaps_sq += gap * gap;
    }
    st->frees++;
    st->last_ts = ts;
}

/* The cause stated for ALLOC or FREE ev into the truth, when it is address-only and unmatched;
 * the statement is used up. */
static void truth_cause(ttm__sim *S, uint32_t pid, const ttm_event *ev, uint32_t expect)
{
    ttm_sim_truth *t = S->truth;
    ttm_cause c = S->cause;
    S->cause = TTM_CAUSE__COUNT;
    bool is_free = ev->kind == TTM_EV_FREE;
    uint32_t unmatched = is_free ? UNMATCHED_FREES : TTM__SIM_X(DUPLICATE_ALLOC);
    if (ev->obj != 0 || (expect & unmatched) == 0)
        return;
    if (c == TTM_CAUSE__COUNT) {
        t->cause_unstated++;
        return;
    }
    if (is_free) {
        t->cause_count[c]++;
        t->cause_ambiguous[c] += S->cause_ambiguous;
        if (c == TTM_CAUSE_EXCESS_STORM)
            truth_storm(t, pid, S->ts, ev); /* (the time ev is about to get) */
    } else {
        t->cause_allocs[c]++;
    }
}

/* Stamps ev (time, per-process sequence, thread, call site), counts it into the truth and
 * hands it on. */
static void emit(ttm__sim *S, uint32_t pid, ttm_event *ev, uint32_t expect)
{
    if (ev->kind == TTM_EV_ALLOC || ev->kind == TTM_EV_FREE) {
        ttm__sim_context(S, ev);
        for (unsigned c = 0; c < TTM_CLASS__COUNT; c++)
            if ((expect & TTM_CLASS_BIT(c)) && ttm_class_is_anomaly(c))
                truth_site(S, c, ev->stack);
        truth_cause(S, pid, ev, expect);
    }
    ev->ts = S->ts;
    S->ts += TTM__SIM_TS_STEP;
    ev->seq = proc_of(S, pid)->seq++;
    ev->tid = pid;
    S->truth->events++;
    for (unsigned c = 0; c < TTM_CLASS__COUNT; c++)
        if (expect & TTM_CLASS_BIT(c))
            S->truth->class_count[c]++;
    S->fn(S->arg, pid, ev, expect);
}

/* Bytes of r enter the counts with the event about to be emitted (the next one). A peak is the
 * first event that reached it, as the registry and the replay count it. */
static void bytes_add(ttm__sim *S, ttm__sim_rec *r)
{
    assert(r->device < S->ndev && r->memtype < TTM_MEMTYPE_COUNT);
    uint64_t *live = &S->live[r->device][r->memtype];
    *live += r->size;
    r->born = S->truth->events;
    r->died = UINT64_MAX;
    if (*live > S->peak[r->device][r->memtype]) {
        S->peak[r->device][r->memtype] = *live;
        S->peak_event[r->device][r->memtype] = S->truth->events;
        S->peak_ts[r->device][r->memtype] = S->ts;
    }
}

/* Bytes of r leave the counts with event `at` (the next one, or a process exit's own). */
static void bytes_sub(ttm__sim *S, ttm__sim_rec *r, uint64_t at)
{
    assert(S->live[r->device][r->memtype] >= r->size);
    S->live[r->device][r->memtype] -= r->size;
    r->died = at;
}

/* Tells peak_fn the owning buffers live right after the event that reached each peak. */
static void report_peaks(ttm__sim *S)
{
    ttm_sim_live *v = ttm__xcalloc(S->nrecs ? S->nrecs : 1, sizeof *v);
    for (uint16_t d = 0; d < S->ndev; d++) {
        for (unsigned m = 0; m < TTM_MEMTYPE_COUNT; m++) {
            if (S->peak[d][m] == 0)
                continue;
            uint64_t at = S->peak_event[d][m];
            size_t n = 0;
            for (uint32_t i = 0; i < S->nrecs; i++) {
                const ttm__sim_rec *r = &S->recs[i];
                if (!r->view && r->device == d && r->memtype == m && r->born <= at &&
                    at < r->died)
                    v[n++] = (ttm_sim_live){.pid = r->pid, .device = d, .memtype = (uint8_t)m,
                                            .addr = r->addr, .size = r->size,
                                            .obj = S->legacy ? 0 : r->obj};
            }
            ttm_sim_peak_set p = {.device = d, .memtype = (uint8_t)m, .bytes = S->peak[d][m],
                                  .ts = S->peak_ts[d][m], .nlive = n, .live = v};
            S->peak_fn(S->peak_arg, &p);
        }
    }
    ttm__free(v);
}

/* The primary class of an expected mask (the extras size_mismatch and ambiguous_free aside). */
static unsigned primary_of(uint32_t expect)
{
    uint32_t p = expect & ~(TTM__SIM_X(SIZE_MISMATCH) | TTM__SIM_X(AMBIGUOUS_FREE));
    assert(p != 0 && (p & (p - 1)) == 0);
    return (unsigned)__builtin_ctz(p);
}

static uint64_t hkey_hash(uint16_t device, unsigned space, uint64_t addr)
{
    uint64_t x = addr ^ ((uint64_t)device << 44) ^ ((uint64_t)space << 60);
    x = (x ^ (x >> 31)) * 0x7fb5d329728ea185ull;
    x = (x ^ (x >> 27)) * 0x81dadef4bc2dd44dull;
    return x ^ (x >> 33);
}

static ttm__sim_hkey *hist_slot(ttm__sim_hkey *tab, size_t mask, uint16_t device, unsigned space,
                                uint64_t addr)
{
    for (size_t i = hkey_hash(device, space, addr) & mask;; i = (i + 1) & mask) {
        ttm__sim_hkey *k = &tab[i];
        if (!k->used || (k->addr == addr && k->device == device && k->space == space))
            return k;
    }
}

static bool hist_has(const ttm__sim *S, uint16_t device, unsigned space, uint64_t addr)
{
    return S->hist != NULL && hist_slot(S->hist, S->hist_mask, device, space, addr)->used;
}

static void hist_add(ttm__sim *S, uint16_t device, unsigned space, uint64_t addr)
{
    if (S->hist == NULL || (S->hist_used + 1) * 2 > S->hist_mask + 1) {
        size_t cap = S->hist ? (S->hist_mask + 1) * 2 : 1024;
        ttm__sim_hkey *tab = ttm__xcalloc(cap, sizeof *tab);
        for (size_t i = 0; S->hist != NULL && i <= S->hist_mask; i++)
            if (S->hist[i].used)
                *hist_slot(tab, cap - 1, S->hist[i].device, S->hist[i].space, S->hist[i].addr) =
                    S->hist[i];
        ttm__free(S->hist);
        S->hist = tab;
        S->hist_mask = cap - 1;
    }
    ttm__sim_hkey *k = hist_slot(S->hist, S->hist_mask, device, space, addr);
    if (!k->used) {
        *k = (ttm__sim_hkey){.addr = addr, .device = device, .space = (uint8_t)space, .used = 1};
        S->hist_used++;
    }
}

static uint32_t rec_new(ttm__sim *S, uint32_t pid, uint16_t device, unsigned memtype, uint64_t addr,
                        uint64_t size, uint64_t obj, bool view)
{
    if (S->nrecs == S->caprecs) {
        S->caprecs = S->caprecs ? S->caprecs * 2 : 1024;
        S->recs = ttm__xreallocarray(S->recs, S->caprecs, sizeof *S->recs);
    }
    S->recs[S->nrecs] = (ttm__sim_rec){.addr = addr,
                                       .size = size,
                                       .obj = obj ? obj : ttm__sim_new_obj(S),
                                       .pid = pid,
                                       .device = device,
                                       .memtype = (uint8_t)memtype,
                                       .view = view,
                                       .born = UINT64_MAX,
                                       .died = UINT64_MAX};
    return S->nrecs++;
}

ttm__sim_rec *ttm__sim_rec_at(ttm__sim *S, uint32_t i)
{
    assert(i < S->nrecs);
    return &S->recs[i];
}

bool ttm__sim_live(const ttm__sim *S, uint32_t i)
{
    return i < S->nrecs && S->recs[i].refs > 0;
}

uint64_t ttm__sim_new_obj(ttm__sim *S)
{
    return S->next_obj++;
}

/* ---- control events ------------------------------------------------------------------------ */

void ttm__sim_devices(ttm__sim *S, uint16_t ndev)
{
    assert(ndev > 0 && ndev <= TTM__SIM_MAX_DEVICES);
    const ttm_arch_profile *p = ttm__arch_profile(TTM_ARCH_WORMHOLE_B0);
    S->ndev = ndev;
    for (uint16_t d = 0; d < ndev; d++) {
        ttm_event ev;
        memset(&ev, 0, sizeof ev);
        ev.kind = TTM_EV_DEVICE_INFO;
        ev.device = d;
        ev.memtype = TTM_MEM_ANY;
        ev.dram_capacity = ttm__arch_dram_bytes(p);
        ev.l1_capacity = ttm__arch_l1_bytes(p);
        ev.arch = TTM_ARCH_WORMHOLE_B0;
        ev.worker_cores = p->worker_cores;
        ev.l1_per_core = p->l1_per_core;
        ev.dram_channels = p->dram_channels;
        emit(S, TTM__SIM_PID0, &ev, 0);
    }
}

void ttm__sim_clock_at_least(ttm__sim *S, uint64_t ts)
{
    if (S->ts < ts)
        S->ts = ts;
}

void ttm__sim_proc_start(ttm__sim *S, uint32_t pid)
{
    ttm_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = TTM_EV_PROC_START;
    ev.memtype = TTM_MEM_ANY;
    emit(S, pid, &ev, 0);
}

void ttm__sim_proc_exit(ttm__sim *S, uint32_t pid)
{
    ttm_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = TTM_EV_PROC_EXIT;
    ev.memtype = TTM_MEM_ANY;
    emit(S, pid, &ev, 0);
    for (uint32_t i = 0; i < S->nrecs; i++) {
        ttm__sim_rec *r = &S->recs[i];
        if (r->pid != pid || r->refs == 0)
            continue;
        if (!r->view) {
            S->truth->class_count[TTM_CLASS_LEAKED_AT_EXIT]++;
            S->truth->leaked_bytes += r->size;
            truth_site(S, TTM_CLASS_LEAKED_AT_EXIT, r->stack);
            bytes_sub(S, r, S->truth->events - 1); /* with the exit, emitted above */
        }
        r->refs = 0;
    }
}

void ttm__sim_mark(ttm__sim *S, uint32_t pid, const char *name)
{
    ttm_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = TTM_EV_MARK;
    ev.memtype = TTM_MEM_ANY;
    size_t n = strlen(name);
    if (n >= TTM_MARK_NAME_MAX)
        n = TTM_MARK_NAME_MAX - 1;
    memcpy(ev.mark, name, n);
    emit(S, pid, &ev, 0);
}

/* ---- allocations and frees ----------------------------------------------------------------- */

/* Emits an ALLOC of record r; returns the stack it carried. */
static uint32_t emit_alloc(ttm__sim *S, const ttm__sim_rec *r, uint64_t size, uint32_t expect)
{
    ttm_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = TTM_EV_ALLOC;
    ev.device = r->device;
    ev.memtype = r->memtype;
    ev.addr = r->addr;
    ev.size = size;
    if (!S->legacy) {
        ev.obj = r->obj;
        ev.flags = r->view ? TTM_FLAG_VIEW : 0;
    }
    emit(S, r->pid, &ev, expect);
    return ev.stack;
}

uint32_t ttm__sim_alloc_obj(ttm__sim *S, uint32_t pid, uint16_t device, unsigned memtype,
                            uint64_t addr, uint64_t size, uint64_t obj, bool view, uint32_t expect)
{
    assert(!(S->legacy && view));
    uint32_t i = rec_new(S, pid, device, memtype, addr, size, obj, view);
    ttm__sim_rec *r = &S->recs[i];
    switch (primary_of(expect)) {
    case TTM_CLASS_ALLOC_OK:
    case TTM_CLASS_OVERLAP:
        assert(!view);
        r->refs = 1;
        bytes_add(S, r);
        break;
    case TTM_CLASS_ALLOC_VIEW:
        assert(view);
        r->refs = 1;
        break;
    default:
        assert(!"an allocation of a new record is alloc_ok, overlap or alloc_view");
        break;
    }
    if (!view)
        hist_add(S, device, ttm__memtype_space(memtype), addr);
    uint32_t stack = emit_alloc(S, r, size, expect);
    S->recs[i].stack = stack;
    return i;
}

uint32_t ttm__sim_alloc(ttm__sim *S, uint32_t pid, uint16_t device, unsigned memtype, uint64_t addr,
                        uint64_t size, uint32_t expect)
{
    return ttm__sim_alloc_obj(S, pid, device, memtype, addr, size, 0, false, expect);
}

void ttm__sim_realloc(ttm__sim *S, uint32_t rec, uint64_t size, uint32_t expect)
{
    ttm__sim_rec *r = ttm__sim_rec_at(S, rec);
    assert(r->refs > 0 && !r->view && primary_of(expect) == TTM_CLASS_DUPLICATE_ALLOC);
    r->refs++;
    emit_alloc(S, r, size, expect);
}

void ttm__sim_missed(ttm__sim *S, uint32_t rec)
{
    ttm__sim_rec *r = ttm__sim_rec_at(S, rec);
    assert(r->refs > 0 && !r->view);
    S->truth->class_count[TTM_CLASS_MISSED_FREE]++;
    truth_site(S, TTM_CLASS_MISSED_FREE, r->stack);
    bytes_sub(S, r, S->truth->events);
    r->refs = 0;
}

uint32_t ttm__sim_untracked(ttm__sim *S, uint32_t pid, uint16_t device, unsigned memtype,
                            uint64_t addr, uint64_t size)
{
    return rec_new(S, pid, device, memtype, addr, size, 0, false);
}

void ttm__sim_free_size(ttm__sim *S, uint32_t pid, uint32_t rec, uint64_t size, uint32_t expect)
{
    ttm__sim_rec *r = ttm__sim_rec_at(S, rec);
    switch (primary_of(expect)) {
    case TTM_CLASS_FREE_OK:
        assert(r->refs > 0 && !r->view && r->pid == pid);
        if (--r->refs == 0)
            bytes_sub(S, r, S->truth->events);
        break;
    case TTM_CLASS_FREE_VIEW:
    case TTM_CLASS_VIEW_AFTER_OWNER:
        assert(r->refs > 0 && r->view && r->pid == pid);
        r->refs = 0;
        break;
    case TTM_CLASS_FOREIGN_FREE:
        assert(r->refs > 0 && r->pid != pid);
        break;
    case TTM_CLASS_DOUBLE_FREE:
    case TTM_CLASS_EXCESS_FREE:
    case TTM_CLASS_UNKNOWN_FREE:
        break;
    default:
        assert(!"a free is free_ok, free_view, view_after_owner or a failed free");
        break;
    }
    ttm_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = TTM_EV_FREE;
    ev.device = r->device;
    ev.addr = r->addr;
    if (S->legacy) {
        ev.memtype = TTM_MEM_ANY;
    } else {
        ev.memtype = r->memtype;
        ev.size = size;
        ev.obj = r->obj;
        ev.flags = r->view ? TTM_FLAG_VIEW : 0;
    }
    emit(S, pid, &ev, expect);
}

void ttm__sim_free(ttm__sim *S, uint32_t pid, uint32_t rec, uint32_t expect)
{
    ttm__sim_free_size(S, pid, rec, ttm__sim_rec_at(S, rec)->size, expect);
}

void ttm__sim_raw(ttm__sim *S, uint32_t pid, uint8_t kind, uint16_t device, unsigned memtype,
                  unsigned flags, uint64_t addr, uint64_t size, uint64_t obj, uint32_t expect)
{
    ttm_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = kind;
    ev.device = device;
    ev.memtype = (uint8_t)memtype;
    ev.flags = (uint16_t)flags;
    ev.addr = addr;
    ev.size = size;
    ev.obj = obj;
    emit(S, pid, &ev, expect);
}

uint32_t ttm__sim_free_again(ttm__sim *S, ttm_cause cause, bool ambiguous)
{
    ttm__sim_because(S, cause, ambiguous);
    return S->legacy ? TTM__SIM_X(EXCESS_FREE) : TTM__SIM_X(DOUBLE_FREE);
}

uint32_t ttm__sim_second_free(ttm__sim *S)
{
    return ttm__sim_free_again(S, TTM_CAUSE_DOUBLE_RELEASE, true);
}

uint32_t ttm__sim_legacy_stray(const ttm__sim *S, uint16_t device, uint64_t addr)
{
    for (unsigned s = 0; s < TTM_SPACE_COUNT; s++)
        if (hist_has(S, device, s, addr))
            return TTM__SIM_X(EXCESS_FREE);
    return TTM__SIM_X(UNKNOWN_FREE);
}

/* ---- pools and lists ----------------------------------------------------------------------- */

ttm__sim_pool *ttm__sim_pool_new(ttm__sim *S, uint64_t base, uint64_t stride, uint32_t nslots)
{
    ttm__sim_pool *p = ttm__xcalloc(1, sizeof *p);
    p->base = base;
    p->stride = stride;
    p->nslots = nslots;
    p->nfree = nslots;
    p->used = ttm__xcalloc(nslots, 1);
    S->pools = ttm__xreallocarray(S->pools, S->npools + 1, sizeof *S->pools);
    S->pools[S->npools++] = p;
    return p;
}

uint64_t ttm__sim_pool_take(ttm__sim *S, ttm__sim_pool *p)
{
    assert(p->nfree > 0);
    uint64_t k = ttm__sim_below(S, p->nfree);
    for (uint32_t i = 0; i < p->nslots; i++) {
        if (p->used[i])
            continue;
        if (k-- == 0) {
            p->used[i] = 1;
            p->nfree--;
            return p->base + (uint64_t)i * p->stride;
        }
    }
    assert(!"pool accounting");
    return p->base;
}

void ttm__sim_pool_give(ttm__sim_pool *p, uint64_t addr)
{
    uint64_t i = (addr - p->base) / p->stride;
    assert(addr >= p->base && i < p->nslots && p->used[i]);
    p->used[i] = 0;
    p->nfree++;
}

void ttm__sim_list_push(ttm__sim_list *l, uint32_t x)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = ttm__xreallocarray(l->v, l->cap, sizeof *l->v);
    }
    l->v[l->n++] = x;
}

uint32_t ttm__sim_list_take(ttm__sim *S, ttm__sim_list *l)
{
    assert(l->n > 0);
    size_t i = (size_t)ttm__sim_below(S, l->n);
    uint32_t x = l->v[i];
    l->v[i] = l->v[--l->n];
    return x;
}

void ttm__sim_list_free(ttm__sim_list *l)
{
    ttm__free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

/* ---- mesh buffers -------------------------------------------------------------------------- */

/* The mesh layer's frames (call sites) */
#define MESH_CREATE       "tt::tt_metal::distributed::MeshBuffer::create"
#define MESH_VIEW         "tt::tt_metal::distributed::MeshBuffer::create (per-device view)"
#define MESH_DEALLOC      "tt::tt_metal::distributed::MeshBuffer::deallocate"
#define MESH_DEALLOC_PART "tt::tt_metal::distributed::MeshBuffer::deallocate (per-device buffer)"

void ttm__sim_mesh_alloc(ttm__sim *S, ttm__sim_mesh *m, uint32_t pid, uint16_t first, uint16_t ndev,
                         unsigned memtype, uint64_t addr, uint64_t size)
{
    assert(ndev > 0 && ndev <= TTM__SIM_MAX_DEVICES && first + ndev <= S->ndev);
    memset(m, 0, sizeof *m);
    m->pid = pid;
    m->first = first;
    m->ndev = ndev;
    m->memtype = (uint8_t)memtype;
    m->addr = addr;
    m->size = size;
    uint64_t backing = ttm__sim_new_obj(S);
    for (uint16_t i = 0; i < ndev; i++) {
        m->backing[i] = TTM__SIM_NONE;
        m->part[i] = TTM__SIM_NONE;
    }
    ttm__sim_layer(S, MESH_CREATE);
    if (S->legacy) {
        /* The prototype's client reported the backing buffer once, on the first device, and
         * the per-device buffers not at all. */
        m->backing[0] = ttm__sim_alloc_obj(S, pid, first, memtype, addr, size, backing, false,
                                           TTM__SIM_X(ALLOC_OK));
        for (uint16_t i = 0; i < ndev; i++)
            m->part[i] = ttm__sim_untracked(S, pid, (uint16_t)(first + i), memtype, addr, size);
        ttm__sim_layer(S, NULL);
        return;
    }
    for (uint16_t i = 0; i < ndev; i++)
        m->backing[i] = ttm__sim_alloc_obj(S, pid, (uint16_t)(first + i), memtype, addr, size,
                                           backing, false, TTM__SIM_X(ALLOC_OK));
    ttm__sim_layer(S, MESH_VIEW);
    for (uint16_t i = 0; i < ndev; i++)
        m->part[i] = ttm__sim_alloc_obj(S, pid, (uint16_t)(first + i), memtype, addr, size, 0, true,
                                        TTM__SIM_X(ALLOC_VIEW));
    ttm__sim_layer(S, NULL);
}

enum { MESH_BACKING_FIRST, MESH_PARTS_FIRST, MESH_SHUFFLED };

/* An operation of a mesh free: bit 31 set for a backing free, the rest the device index. */
#define MESH_OP_BACKING 0x80000000u

/* Fills ops with the frees of a mesh in the given order: backing frees (one per device in the
 * identity client, one on the first device in the legacy one) and per-device frees. */
static size_t mesh_ops(ttm__sim *S, const ttm__sim_mesh *m, unsigned order, uint32_t *ops)
{
    uint32_t back[TTM__SIM_MAX_DEVICES], part[TTM__SIM_MAX_DEVICES];
    size_t nback = S->legacy ? 1 : m->ndev, n = 0;
    for (uint32_t i = 0; i < nback; i++)
        back[i] = MESH_OP_BACKING | i;
    for (uint32_t i = 0; i < m->ndev; i++)
        part[i] = i;
    ttm__sim_shuffle(S, back, nback);
    ttm__sim_shuffle(S, part, m->ndev);
    if (order == MESH_PARTS_FIRST) {
        memcpy(ops, part, m->ndev * sizeof *ops);
        memcpy(ops + m->ndev, back, nback * sizeof *ops);
    } else {
        memcpy(ops, back, nback * sizeof *ops);
        memcpy(ops + nback, part, m->ndev * sizeof *ops);
    }
    n = nback + m->ndev;
    if (order == MESH_SHUFFLED)
        ttm__sim_shuffle(S, ops, n);
    return n;
}

void ttm__sim_mesh_free_begin(ttm__sim *S, ttm__sim_mesh *m, ttm__sim_mesh_freeing *f)
{
    memset(f, 0, sizeof *f);
    f->m = m;
    f->n = mesh_ops(S, m, S->mesh_frees++ % 3, f->ops);
}

bool ttm__sim_mesh_free_step(ttm__sim *S, ttm__sim_mesh_freeing *f)
{
    if (f->k == f->n)
        return false;
    ttm__sim_mesh *m = f->m;
    uint32_t i = f->ops[f->k] & ~MESH_OP_BACKING;
    bool backing = (f->ops[f->k] & MESH_OP_BACKING) != 0;
    f->k++;
    ttm__sim_layer(S, backing ? MESH_DEALLOC : MESH_DEALLOC_PART);
    if (S->legacy) {
        if (i == 0) {
            /* Both frees on the first device look alike: the first releases the backing
             * record, the second finds nothing live at an address allocated before. */
            /* (a MeshBuffer on one device looks exactly like a double release) */
            if (f->released[0])
                ttm__sim_because(S, TTM_CAUSE_MESH_MULTIPLICITY, m->ndev == 1);
            ttm__sim_free(S, m->pid, m->backing[0],
                          f->released[0] ? TTM__SIM_X(EXCESS_FREE) : TTM__SIM_X(FREE_OK));
            f->released[0] = true;
        } else {
            ttm__sim_because(S, TTM_CAUSE_MESH_MULTIPLICITY, false);
            ttm__sim_free(S, m->pid, m->part[i],
                          ttm__sim_legacy_stray(S, (uint16_t)(m->first + i), m->addr));
        }
    } else if (backing) {
        ttm__sim_free(S, m->pid, m->backing[i], TTM__SIM_X(FREE_OK));
        f->released[i] = true;
    } else {
        ttm__sim_free(S, m->pid, m->part[i],
                      f->released[i] ? TTM__SIM_X(VIEW_AFTER_OWNER) : TTM__SIM_X(FREE_VIEW));
    }
    ttm__sim_layer(S, NULL);
    return true;
}

void ttm__sim_mesh_free(ttm__sim *S, ttm__sim_mesh *m)
{
    ttm__sim_mesh_freeing f;
    ttm__sim_mesh_free_begin(S, m, &f);
    while (ttm__sim_mesh_free_step(S, &f))
        ;
}
