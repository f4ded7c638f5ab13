/*
 * mix.c — the mix2, mix8 and mix32 scenarios: every cause of unmatched frees (core/causes.h) in
 * one run on a 2-, 8- or 32-device mesh, from several processes whose events interleave (also
 * between the frees of one MeshBuffer), with addresses reused. The scenario states the cause of
 * each unmatched free it emits (ttm__sim_because()); docs/SIMULATOR.md describes the run and which
 * of its frees an address-only stream cannot tell apart.
 *
 * The processes and what they free unmatched, in the legacy client (addresses only):
 * - 1000, the model, on the whole mesh: weights and activations as MeshBuffers and single-device
 *   buffers from one lock-step address pool (mesh_multiplicity: the per-device frees and the
 *   backing's second free on the first device); buffers allocated before tracking, one of them a
 *   MeshBuffer, freed while tracked, their addresses then reused (pre_tracking); program batches
 *   on device 0 whose pool frees released buffers again (double_release); an argmax program on
 *   device 1 allocated, freed and freed once more every fourth step (excess_storm).
 * - 1001, a second model on a sub-mesh (the upper half of the devices; both devices of mix2),
 *   with its own address ranges: MeshBuffers and single buffers, program batches, and a stale
 *   handle freed again every sixth step long after its one allocation (excess_storm); it also
 *   frees two buffers that 1002 left when it exited (unexplained).
 * - 1002, a worker on devices 0 and 1 that exits a third of the way in, holding buffers (leaked
 *   at exit).
 * - 1003, a worker that starts half way in and reuses 1002's addresses, and twice allocates a
 *   MeshBuffer on a 1x1 mesh (device 1): its two frees on device 1 are, to an address-only
 *   stream, a double release (mesh_multiplicity, stated ambiguous).
 *
 * Address ranges (DRAM from 16 MiB, L1 below one core's L1, as in scenarios.c) are apart by
 * process and by use: the argmax address and the stale handle lie outside every pool, and a
 * program pool lives on one device, so that no two causes meet at one address by accident.
 * A program buffer address is released twice at most MIX_DR_MAX times, far below the storm
 * threshold.
 */
#include "sim/sim_internal.h"

#include <string.h>

#include "common/alloc.h"

#define NELEM(a)      (sizeof(a) / sizeof((a)[0]))
#define A_OK          TTM__SIM_X(ALLOC_OK)
#define F_OK          TTM__SIM_X(FREE_OK)
#define TTM__SIM_FILE "src/sim/mix.c"

#define MIX_NPROC        4
#define MIX_ACT_MAX      10 /* MeshBuffer activations live at once, per model */
#define MIX_SINGLE_MAX   12
#define MIX_PRE          10 /* single-device buffers allocated before tracking */
#define MIX_PROG_SLOTS   16
#define MIX_DR_MAX       6 /* double releases per program buffer address */
#define MIX_STORM0_EVERY 4
#define MIX_STORM1_EVERY 6

/* The model (1000) */
#define M0_STORM     0x02000000ull /* the argmax program buffer, device 1 */
#define M0_PROG_BASE 0x02400000ull
#define M0_POOL_BASE 0x20000000ull
/* The second model (1001) */
#define M1_PROG_BASE 0x03000000ull
#define M1_STALE     0x05800000ull /* the stale handle, on its last device */
#define M1_POOL_BASE 0x80000000ull
/* The workers (1002, then 1003) */
#define W_DRAM_BASE 0x08000000ull
#define W_L1_BASE   0x40000ull

static const uint64_t prog_sizes[] = {KIB(16), KIB(24), KIB(32), KIB(64)};
static const uint64_t single_sizes[] = {KIB(2), KIB(64), KIB(512), MIB(1), MIB(4)};
static const uint64_t worker_sizes[] = {KIB(4), KIB(32), KIB(256), MIB(1)};

/* One model process on devices first..first+ndev-1. */
typedef struct mix_model {
    uint32_t pid;
    uint16_t first, ndev;
    uint64_t per_dev;           /* a MeshBuffer's bytes per device */
    ttm__sim_pool *pool;        /* lock-step: MeshBuffers and single buffers */
    ttm__sim_pool *prog;        /* program buffers, on device `first` */
    uint8_t dr[MIX_PROG_SLOTS]; /* double releases so far per program slot */
    ttm__sim_mesh act[MIX_ACT_MAX];
    size_t nact;
    ttm__sim_list singles;
    bool exited;
} mix_model;

typedef struct mix {
    ttm__sim *S;
    uint16_t ndev;
    mix_model m0, m1;
    ttm__sim_mesh *weights;
    unsigned nweights;
    ttm__sim_list pre;      /* 1000's buffers from before tracking */
    ttm__sim_mesh pre_mesh; /* and a MeshBuffer from before tracking (records untracked) */
    bool pre_mesh_live;
    ttm__sim_pool *wdram, *wl1;
    ttm__sim_list worker;   /* the live buffers of the worker of the moment */
    ttm__sim_list leftover; /* 1002's buffers at its exit */
    uint32_t stale;         /* 1001's stale handle */
    ttm__sim_mesh solo;     /* 1003's MeshBuffer on a 1x1 mesh */
    bool solo_live;
    uint32_t worker_pid; /* the worker running (0: none) */
} mix;

static void model_init(mix *X, mix_model *m, uint32_t pid, uint16_t first, uint16_t ndev,
                       uint64_t pool_base, uint32_t pool_slots, uint64_t prog_base)
{
    memset(m, 0, sizeof *m);
    m->pid = pid;
    m->first = first;
    m->ndev = ndev;
    m->per_dev = MIB(32) / ndev;
    m->pool = ttm__sim_pool_new(X->S, pool_base, MIB(32), pool_slots);
    m->prog = ttm__sim_pool_new(X->S, prog_base, KIB(256), MIX_PROG_SLOTS);
}

/* ---- what a model does in a step ------------------------------------------------------------ */

static void model_mesh_alloc(ttm__sim *S, mix_model *m)
{
    ttm__sim_scope(S, "ttnn::matmul");
    TTM__SIM_AT(S, TTM__SIM_SITE_TENSOR("ttnn::operations::matmul::Matmul::create_output"));
    uint64_t size = ttm__sim_chance(S, 50) ? m->per_dev : m->per_dev / 4;
    ttm__sim_mesh_alloc(S, &m->act[m->nact++], m->pid, m->first, m->ndev, TTM_MEM_DRAM,
                        ttm__sim_pool_take(S, m->pool), size);
}

static void interleave(mix *X, const mix_model *m);

/* A MeshBuffer activation freed, other processes' events now and then between its frees (the
 * daemon interleaves its clients' messages). */
static void model_mesh_free(mix *X, mix_model *m, size_t k)
{
    ttm__sim *S = X->S;
    ttm__sim_scope(S, "ttnn::deallocate");
    TTM__SIM_AT(S, TTM__SIM_SITE_DEALLOC);
    ttm__sim_mesh_freeing f;
    ttm__sim_mesh_free_begin(S, &m->act[k], &f);
    while (ttm__sim_mesh_free_step(S, &f))
        if (f.k < f.n && ttm__sim_chance(S, 30))
            interleave(X, m);
    ttm__sim_pool_give(m->pool, m->act[k].addr);
    m->act[k] = m->act[--m->nact];
}

static void model_single_alloc(ttm__sim *S, mix_model *m)
{
    ttm__sim_scope(S, "ttnn::to_device");
    TTM__SIM_AT(S, "tt::tt_metal::CreateBuffer|ttnn::operations::core::to_device");
    uint16_t d = (uint16_t)(m->first + ttm__sim_below(S, m->ndev));
    uint64_t size = ttm__sim_pick(S, single_sizes, NELEM(single_sizes));
    ttm__sim_list_push(&m->singles, ttm__sim_alloc(S, m->pid, d, TTM_MEM_DRAM,
                                                   ttm__sim_pool_take(S, m->pool), size, A_OK));
}

static void model_single_free(ttm__sim *S, mix_model *m)
{
    ttm__sim_scope(S, "ttnn::deallocate");
    TTM__SIM_AT(S, TTM__SIM_SITE_DEALLOC);
    uint32_t r = ttm__sim_list_take(S, &m->singles);
    ttm__sim_free(S, m->pid, r, F_OK);
    ttm__sim_pool_give(m->pool, ttm__sim_rec_at(S, r)->addr);
}

/* A batch of programs compiled and released: each buffer's release takes one of the program
 * paths at random, a path with a double release only while its address has had fewer than
 * MIX_DR_MAX. */
static void model_programs(ttm__sim *S, mix_model *m)
{
    uint32_t prog[4];
    unsigned n = 2 + (unsigned)ttm__sim_below(S, 3);
    ttm__sim_scope(S, "tt::tt_metal::CompileProgram");
    TTM__SIM_AT(S, TTM__SIM_SITE_PROG_ALLOC);
    for (unsigned i = 0; i < n; i++)
        prog[i] = ttm__sim_alloc(S, m->pid, m->first, TTM_MEM_DRAM, ttm__sim_pool_take(S, m->prog),
                                 ttm__sim_pick(S, prog_sizes, NELEM(prog_sizes)), A_OK);
    ttm__sim_shuffle(S, prog, n);
    ttm__sim_scope(S, "tt::tt_metal::ProgramCache::clear");
    for (unsigned i = 0; i < n; i++) {
        uint64_t addr = ttm__sim_rec_at(S, prog[i])->addr;
        size_t slot = (size_t)((addr - m->prog->base) / m->prog->stride);
        unsigned path = (unsigned)ttm__sim_below(S, TTM__SIM_PROG__COUNT);
        if (path != TTM__SIM_PROG_ONCE && m->dr[slot] >= MIX_DR_MAX)
            path = TTM__SIM_PROG_ONCE;
        m->dr[slot] += path != TTM__SIM_PROG_ONCE;
        ttm__sim_program_release(S, m->pid, prog[i], path, prog_sizes, NELEM(prog_sizes));
        ttm__sim_pool_give(m->prog, addr);
    }
}

/* One random action of a model: a MeshBuffer or a single buffer allocated or freed. */
static void model_step(mix *X, mix_model *m)
{
    ttm__sim *S = X->S;
    unsigned what = (unsigned)ttm__sim_below(S, 10);
    if (what < 3 && m->nact < MIX_ACT_MAX && m->pool->nfree > 0)
        model_mesh_alloc(S, m);
    else if (what < 5 && m->singles.n < MIX_SINGLE_MAX && m->pool->nfree > 0)
        model_single_alloc(S, m);
    else if (what < 8 && m->nact > 0)
        model_mesh_free(X, m, (size_t)ttm__sim_below(S, m->nact));
    else if (m->singles.n > 0)
        model_single_free(S, m);
}

/* Frees everything a model holds (its weights are the caller's). */
static void model_close(mix *X, mix_model *m)
{
    ttm__sim *S = X->S;
    while (m->nact > 0)
        model_mesh_free(X, m, m->nact - 1);
    while (m->singles.n > 0)
        model_single_free(S, m);
    ttm__sim_list_free(&m->singles);
}

/* ---- the model's own causes ----------------------------------------------------------------- */

/* argmax on device 1: its program buffer is allocated, freed, and freed once more. */
static void argmax(ttm__sim *S, uint32_t pid)
{
    ttm__sim_scope(S, "ttnn::argmax");
    TTM__SIM_AT(S, TTM__SIM_SITE_PROG_ALLOC);
    /* every few steps at one address: a storm, however much each looks like a double release */
    ttm__sim_program_freed_again(S, pid, 1, M0_STORM,
                                 ttm__sim_pick(S, prog_sizes, NELEM(prog_sizes)),
                                 TTM_CAUSE_EXCESS_STORM);
}

/* 1000 frees one of its buffers from before tracking (the MeshBuffer among them), and gives
 * its address back to the pool: later buffers reuse it. */
static void pre_free(mix *X)
{
    ttm__sim *S = X->S;
    mix_model *m = &X->m0;
    ttm__sim_scope(S, "ttnn::deallocate");
    TTM__SIM_AT(S, "ttnn::Tensor::~Tensor|model::release_preloaded");
    if (X->pre_mesh_live && (X->pre.n == 0 || ttm__sim_below(S, X->pre.n + 1) == 0)) {
        /* the legacy client frees the backing buffer on the first device and every
         * per-device buffer; the identity client each device's backing object */
        ttm__sim_mesh *pm = &X->pre_mesh;
        for (uint16_t i = 0; i < pm->ndev; i++) {
            if (S->legacy && i == 0) {
                ttm__sim_because(S, TTM_CAUSE_PRE_TRACKING, false);
                ttm__sim_free(S, m->pid, pm->backing[0], TTM__SIM_X(UNKNOWN_FREE));
            }
            ttm__sim_because(S, TTM_CAUSE_PRE_TRACKING, false);
            ttm__sim_free(S, m->pid, S->legacy ? pm->part[i] : pm->backing[i],
                          TTM__SIM_X(UNKNOWN_FREE));
        }
        ttm__sim_pool_give(m->pool, pm->addr);
        X->pre_mesh_live = false;
        return;
    }
    if (X->pre.n == 0)
        return;
    uint32_t r = ttm__sim_list_take(S, &X->pre);
    ttm__sim_because(S, TTM_CAUSE_PRE_TRACKING, false);
    ttm__sim_free(S, m->pid, r, TTM__SIM_X(UNKNOWN_FREE));
    ttm__sim_pool_give(m->pool, ttm__sim_rec_at(S, r)->addr);
}

/* ---- the second model's stale handle, the workers ------------------------------------------- */

/* 1001 frees its stale handle once more (allocated and freed once at the start). */
static void stale_free(ttm__sim *S, mix *X)
{
    ttm__sim_scope(S, "ttnn::deallocate");
    TTM__SIM_AT(S, "tt::tt_metal::DeallocateBuffer|model::Cache::evict_stale");
    ttm__sim_free(S, X->m1.pid, X->stale, ttm__sim_free_again(S, TTM_CAUSE_EXCESS_STORM, false));
}

/* One random action of the worker of the moment: a DRAM or L1 buffer allocated or freed. */
static void worker_step(ttm__sim *S, mix *X, uint32_t pid)
{
    ttm__sim_scope(S, "worker::step");
    if (X->worker.n < 12 && ttm__sim_chance(S, 55)) {
        TTM__SIM_AT(S, TTM__SIM_SITE_TENSOR("worker::step"));
        uint16_t d = (uint16_t)ttm__sim_below(S, 2);
        bool l1 = ttm__sim_chance(S, 40);
        ttm__sim_pool *p = l1 ? X->wl1 : X->wdram;
        if (p->nfree == 0)
            return;
        uint64_t size = l1 ? ttm__sim_pick(S, worker_sizes, 2)
                           : ttm__sim_pick(S, worker_sizes, NELEM(worker_sizes));
        ttm__sim_list_push(&X->worker, ttm__sim_alloc(S, pid, d, l1 ? TTM_MEM_L1 : TTM_MEM_DRAM,
                                                      ttm__sim_pool_take(S, p), size, A_OK));
    } else if (X->worker.n > 0) {
        TTM__SIM_AT(S, TTM__SIM_SITE_DEALLOC);
        uint32_t r = ttm__sim_list_take(S, &X->worker);
        ttm__sim_free(S, pid, r, F_OK);
        const ttm__sim_rec *rec = ttm__sim_rec_at(S, r);
        ttm__sim_pool_give(rec->memtype == TTM_MEM_L1 ? X->wl1 : X->wdram, rec->addr);
    }
}

/* Between two frees of model m's MeshBuffer: one to four actions of the other processes (the
 * worker of the moment, or the other model's single-device buffers), the site and scope of
 * the frees kept. */
static void interleave(mix *X, const mix_model *m)
{
    ttm__sim *S = X->S;
    const ttm__sim_where keep = S->where;
    mix_model *other = m == &X->m0 ? &X->m1 : &X->m0;
    for (unsigned n = 1 + (unsigned)ttm__sim_below(S, 4); n > 0; n--) {
        if (X->worker_pid != 0 && ttm__sim_chance(S, 50))
            worker_step(S, X, X->worker_pid);
        else if (other->exited)
            continue;
        else if (other->singles.n < MIX_SINGLE_MAX && other->pool->nfree > 0 &&
                 (other->singles.n == 0 || ttm__sim_chance(S, 50)))
            model_single_alloc(S, other);
        else if (other->singles.n > 0)
            model_single_free(S, other);
    }
    ttm__sim_site(S, keep.path, keep.func, keep.file);
    ttm__sim_scope(S, keep.scope);
}

/* 1002 exits holding its buffers (three at least); the allocator reclaims their addresses for
 * the next worker. */
static void worker_exit(ttm__sim *S, mix *X, uint32_t pid)
{
    ttm__sim_scope(S, "worker::step");
    TTM__SIM_AT(S, TTM__SIM_SITE_TENSOR("worker::step"));
    while (X->worker.n < 3)
        ttm__sim_list_push(&X->worker,
                           ttm__sim_alloc(S, pid, (uint16_t)X->worker.n % 2, TTM_MEM_DRAM,
                                          ttm__sim_pool_take(S, X->wdram), KIB(256), A_OK));
    ttm__sim_proc_exit(S, pid);
    ttm__sim_list_free(&X->leftover);
    X->leftover = X->worker;
    memset(&X->worker, 0, sizeof X->worker);
    X->wdram = ttm__sim_pool_new(S, W_DRAM_BASE, MIB(2), 16);
    X->wl1 = ttm__sim_pool_new(S, W_L1_BASE, KIB(16), 16);
}

/* 1001 frees a buffer 1002 left at its exit: in the legacy client an address allocated before
 * (excess), with object ids an object 1001 never saw (unknown); nothing explains it. */
static void leftover_free(ttm__sim *S, mix *X)
{
    if (X->leftover.n == 0)
        return;
    ttm__sim_scope(S, "worker::step");
    TTM__SIM_AT(S, "tt::tt_metal::DeallocateBuffer|worker::release_shared");
    ttm__sim_because(S, TTM_CAUSE_UNEXPLAINED, false);
    ttm__sim_free(S, X->m1.pid, ttm__sim_list_take(S, &X->leftover),
                  S->legacy ? TTM__SIM_X(EXCESS_FREE) : TTM__SIM_X(UNKNOWN_FREE));
}

/* 1003 allocates a MeshBuffer on a 1x1 mesh (device 1), or frees the one it has. */
static void solo_mesh(ttm__sim *S, mix *X, uint32_t pid)
{
    ttm__sim_scope(S, "ttnn::to_device");
    if (!X->solo_live) {
        TTM__SIM_AT(S, TTM__SIM_SITE_TENSOR("ttnn::to_device"));
        ttm__sim_mesh_alloc(S, &X->solo, pid, 1, 1, TTM_MEM_DRAM, ttm__sim_pool_take(S, X->wdram),
                            KIB(512));
    } else {
        TTM__SIM_AT(S, TTM__SIM_SITE_DEALLOC);
        ttm__sim_mesh_free(S, &X->solo);
        ttm__sim_pool_give(X->wdram, X->solo.addr);
    }
    X->solo_live = !X->solo_live;
}

/* ---- the run -------------------------------------------------------------------------------- */

static void mix_open(mix *X)
{
    ttm__sim *S = X->S;
    const uint16_t n = X->ndev;
    mix_model *m0 = &X->m0;
    ttm__sim_devices(S, n);
    /* the sub-mesh of 1001: the upper half, both devices of a 2-device mesh */
    uint16_t half = n > 2 ? (uint16_t)(n / 2) : 0;
    model_init(X, m0, TTM__SIM_PID0, 0, n, M0_POOL_BASE, 40, M0_PROG_BASE);
    model_init(X, &X->m1, TTM__SIM_PID0 + 1, half, (uint16_t)(n - half), M1_POOL_BASE, 24,
               M1_PROG_BASE);
    X->wdram = ttm__sim_pool_new(S, W_DRAM_BASE, MIB(2), 16);
    X->wl1 = ttm__sim_pool_new(S, W_L1_BASE, KIB(16), 16);

    /* 1000's buffers from before tracking: single-device ones and a MeshBuffer */
    for (unsigned i = 0; i < MIX_PRE; i++)
        ttm__sim_list_push(&X->pre,
                           ttm__sim_untracked(S, m0->pid, (uint16_t)ttm__sim_below(S, n),
                                              TTM_MEM_DRAM, ttm__sim_pool_take(S, m0->pool),
                                              ttm__sim_pick(S, single_sizes, 4)));
    ttm__sim_mesh *pm = &X->pre_mesh;
    memset(pm, 0, sizeof *pm);
    pm->pid = m0->pid;
    pm->ndev = n;
    pm->memtype = TTM_MEM_DRAM;
    pm->addr = ttm__sim_pool_take(S, m0->pool);
    pm->size = m0->per_dev;
    for (uint16_t d = 0; d < n; d++) {
        pm->backing[d] = ttm__sim_untracked(S, m0->pid, d, TTM_MEM_DRAM, pm->addr, pm->size);
        pm->part[d] = ttm__sim_untracked(S, m0->pid, d, TTM_MEM_DRAM, pm->addr, pm->size);
    }
    X->pre_mesh_live = true;

    for (unsigned p = 0; p < 3; p++)
        ttm__sim_proc_start(S, TTM__SIM_PID0 + p);
    ttm__sim_mark(S, m0->pid, "load weights");
    ttm__sim_scope(S, "ttnn::as_tensor");
    TTM__SIM_AT(S, TTM__SIM_SITE_TENSOR("ttnn::as_tensor"));
    for (unsigned w = 0; w < X->nweights; w++)
        ttm__sim_mesh_alloc(S, &X->weights[w], m0->pid, 0, n, TTM_MEM_DRAM,
                            ttm__sim_pool_take(S, m0->pool), m0->per_dev);
    /* 1001's stale handle: allocated and freed once */
    ttm__sim_scope(S, "model::Cache::insert");
    TTM__SIM_AT(S, "tt::tt_metal::CreateBuffer|model::Cache::insert");
    uint16_t last = (uint16_t)(n - 1);
    X->stale = ttm__sim_alloc(S, X->m1.pid, last, TTM_MEM_DRAM, M1_STALE, KIB(64), A_OK);
    ttm__sim_free(S, X->m1.pid, X->stale, F_OK);
}

static void mix_close(mix *X)
{
    ttm__sim *S = X->S;
    ttm__sim_mark(S, X->m0.pid, "close mesh");
    ttm__sim_scope(S, "ttnn::close_mesh_device");
    TTM__SIM_AT(S, TTM__SIM_SITE_CLOSE);
    while (X->pre.n > 0 || X->pre_mesh_live)
        pre_free(X);
    model_close(X, &X->m1);
    ttm__sim_proc_exit(S, X->m1.pid);
    X->m1.exited = true;
    model_close(X, &X->m0);
    TTM__SIM_AT(S, TTM__SIM_SITE_CLOSE);
    for (unsigned w = 0; w < X->nweights; w++)
        ttm__sim_mesh_free(S, &X->weights[w]);
    ttm__sim_proc_exit(S, X->m0.pid);
    TTM__SIM_AT(S, TTM__SIM_SITE_DEALLOC);
    while (X->worker.n > 0) {
        uint32_t r = ttm__sim_list_take(S, &X->worker);
        ttm__sim_free(S, TTM__SIM_PID0 + 3, r, F_OK);
    }
    ttm__sim_proc_exit(S, TTM__SIM_PID0 + 3);
    ttm__sim_list_free(&X->worker);
    ttm__sim_list_free(&X->leftover);
    ttm__sim_list_free(&X->pre);
}

/* The run: open, steps of the four processes interleaved, close (see the file comment). */
static void mix_run(ttm__sim *S, uint16_t ndev, unsigned nweights, unsigned steps)
{
    mix X = {.S = S, .ndev = ndev, .nweights = nweights};
    X.weights = ttm__xcalloc(nweights, sizeof *X.weights);
    mix_open(&X);
    const uint32_t w0 = TTM__SIM_PID0 + 2, w1 = TTM__SIM_PID0 + 3;
    const unsigned exit_at = steps / 3, start_at = steps / 2;
    ttm__sim_mark(S, X.m0.pid, "run");
    /* the steps start on a cadence with some jitter (a decode step every few tens of
     * microseconds, more on a larger mesh), so the storms recur regularly in time however
     * many events a step has */
    const uint64_t t0 = S->ts, cadence = 2 * (16 + 4 * (uint64_t)ndev) * TTM__SIM_TS_STEP;
    for (unsigned step = 0; step < steps; step++) {
        ttm__sim_clock_at_least(S, t0 + step * cadence + ttm__sim_below(S, cadence / 4));
        if (step % MIX_STORM0_EVERY == 0)
            argmax(S, X.m0.pid);
        if (step % MIX_STORM1_EVERY == 3)
            stale_free(S, &X);
        if (step % 12 == 5)
            model_programs(S, &X.m0);
        if (step % 15 == 9)
            model_programs(S, &X.m1);
        X.worker_pid = step < exit_at ? w0 : step >= start_at ? w1 : 0;
        if (step == exit_at)
            worker_exit(S, &X, w0);
        if (step == start_at)
            ttm__sim_proc_start(S, w1);
        if (step == exit_at + 7 || step == exit_at + 20)
            leftover_free(S, &X);
        if (step == start_at + 10 || step == start_at + 25 || step == start_at + 40 ||
            step == start_at + 60)
            solo_mesh(S, &X, w1);
        /* each process acts with its own odds, in an order that changes */
        unsigned who = (unsigned)ttm__sim_below(S, 10);
        if (who < 4)
            model_step(&X, &X.m0);
        else if (who < 7)
            model_step(&X, &X.m1);
        else if (who < 9 && step < exit_at)
            worker_step(S, &X, w0);
        else if (who < 9 && step >= start_at)
            worker_step(S, &X, w1);
        else if (ttm__sim_chance(S, 30))
            pre_free(&X);
    }
    mix_close(&X);
    ttm__free(X.weights);
}

/* 2-device mesh (N300), both models on both devices. */
void ttm__sim_scenario_mix2(ttm__sim *S)
{
    mix_run(S, 2, 6, 320);
}

/* 8-device mesh (T3K), the second model on devices 4-7. */
void ttm__sim_scenario_mix8(ttm__sim *S)
{
    mix_run(S, 8, 6, 320);
}

/* 32-device mesh (Galaxy), the second model on devices 16-31. */
void ttm__sim_scenario_mix32(ttm__sim *S)
{
    mix_run(S, 32, 4, 240);
}
