/*
 * scenarios.c — the small scenarios: each one isolates a TT-Metal allocation pattern (mesh
 * buffers, program buffer pools, buffers from before tracking, address reuse, leaks, several
 * processes, circular buffers and kernel code, trace regions, typeless frees, malformed events)
 * and states the class of every event it emits. The large llama run is in llama.c.
 *
 * Address layout, shared by the scenarios so that the legacy client's typeless frees never
 * match a buffer of another address space by accident (the ambiguous scenario does it on
 * purpose): L1 addresses stay below 1,499,136 (one worker core's L1), DRAM addresses start at
 * 16 MiB, SYSTEM (host) addresses at 4 GiB.
 */
#include "sim/sim_internal.h"

#include <string.h>

#include "common/alloc.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define A_OK     TTM__SIM_X(ALLOC_OK)
#define F_OK     TTM__SIM_X(FREE_OK)
#define TTM__SIM_FILE "src/sim/scenarios.c"

#define DRAM_SYS_BASE   0x01000000ull /* runtime-owned DRAM buffers of an open device */
#define DRAM_PROG_BASE  0x02000000ull
#define DRAM_ACT_BASE   0x04000000ull
#define DRAM_MESH_BASE  0x20000000ull
#define DRAM_TRACE_BASE 0x80000000ull
#define SYSMEM_BASE     0x100000000ull
#define L1_SYS_ADDR     0x34000ull /* 256 B L1 system buffer */

/* Frees every record of a list (in random order) and gives its address back to pool (when
 * not NULL). */
static void free_all(ttm__sim *S, uint32_t pid, ttm__sim_list *l, ttm__sim_pool *pool)
{
    TTM__SIM_AT(S, TTM__SIM_SITE_DEALLOC);
    while (l->n > 0) {
        uint32_t r = ttm__sim_list_take(S, l);
        ttm__sim_free(S, pid, r, F_OK);
        if (pool != NULL)
            ttm__sim_pool_give(pool, ttm__sim_rec_at(S, r)->addr);
    }
}

/* ---- mesh2, mesh8, mesh32 ------------------------------------------------------------------ */

#define MESH_LIVE_MAX 12

/*
 * One process opens a mesh of ndev devices: runtime buffers on every device, nweights weight
 * tensors of 32 MiB (as MeshBuffers, 32 MiB / ndev per device), then steps of activations: mesh
 * buffers and single-device buffers from one lock-step allocator, so an address used by a
 * single-device buffer is later used by a MeshBuffer (the legacy client's per-device frees there
 * are excess frees, elsewhere unknown frees). Mesh buffers are freed in the three orders in turn.
 */
static void mesh_run(ttm__sim *S, uint16_t ndev, unsigned nweights, unsigned steps)
{
    static const uint64_t single_sizes[] = {KIB(2), KIB(64), KIB(512), MIB(1), MIB(4)};
    const uint32_t pid = TTM__SIM_PID0;
    const uint64_t per_dev = MIB(32) / ndev;
    uint32_t sys_dram[TTM__SIM_MAX_DEVICES], sys_l1[TTM__SIM_MAX_DEVICES];
    ttm__sim_mesh *weights = ttm__xcalloc(nweights, sizeof *weights);
    ttm__sim_mesh *act = ttm__xcalloc(MESH_LIVE_MAX, sizeof *act);
    size_t nact = 0;
    ttm__sim_list singles = {0};

    ttm__sim_devices(S, ndev);
    ttm__sim_proc_start(S, pid);
    ttm__sim_mark(S, pid, "open mesh");
    ttm__sim_scope(S, "ttnn::open_mesh_device");
    TTM__SIM_AT(S, TTM__SIM_SITE_OPEN);
    for (uint16_t d = 0; d < ndev; d++) {
        sys_dram[d] = ttm__sim_alloc(S, pid, d, TTM_MEM_DRAM, DRAM_SYS_BASE, MIB(14), A_OK);
        sys_l1[d] = ttm__sim_alloc(S, pid, d, TTM_MEM_L1, L1_SYS_ADDR, 256, A_OK);
    }
    ttm__sim_pool *pool = ttm__sim_pool_new(S, DRAM_MESH_BASE, MIB(16), 64);

    ttm__sim_mark(S, pid, "load weights");
    ttm__sim_scope(S, "ttnn::as_tensor");
    TTM__SIM_AT(S, TTM__SIM_SITE_TENSOR("ttnn::as_tensor"));
    for (unsigned w = 0; w < nweights; w++)
        ttm__sim_mesh_alloc(S, &weights[w], pid, 0, ndev, TTM_MEM_DRAM, ttm__sim_pool_take(S, pool),
                            per_dev);

    ttm__sim_mark(S, pid, "run");
    for (unsigned step = 0; step < steps; step++) {
        unsigned what = (unsigned)ttm__sim_below(S, 10);
        if (what < 4 && nact < MESH_LIVE_MAX && pool->nfree > 0) {
            ttm__sim_scope(S, "ttnn::matmul");
            TTM__SIM_AT(S, TTM__SIM_SITE_TENSOR("ttnn::operations::matmul::Matmul::create_output"));
            uint64_t size = ttm__sim_chance(S, 50) ? per_dev : per_dev / 4;
            ttm__sim_mesh_alloc(S, &act[nact++], pid, 0, ndev, TTM_MEM_DRAM,
                                ttm__sim_pool_take(S, pool), size);
        } else if (what < 6 && pool->nfree > 0) {
            ttm__sim_scope(S, "ttnn::to_device");
            TTM__SIM_AT(S, "tt::tt_metal::CreateBuffer|ttnn::operations::core::to_device");
            uint16_t d = (uint16_t)ttm__sim_below(S, ndev);
            uint64_t size = ttm__sim_pick(S, single_sizes, NELEM(single_sizes));
            ttm__sim_list_push(&singles, ttm__sim_alloc(S, pid, d, TTM_MEM_DRAM,
                                                        ttm__sim_pool_take(S, pool), size, A_OK));
        } else if (nact > 0 && (singles.n == 0 || ttm__sim_chance(S, 50))) {
            ttm__sim_scope(S, "ttnn::deallocate");
            TTM__SIM_AT(S, TTM__SIM_SITE_DEALLOC);
            size_t k = (size_t)ttm__sim_below(S, nact);
            ttm__sim_mesh_free(S, &act[k]);
            ttm__sim_pool_give(pool, act[k].addr);
            act[k] = act[--nact];
        } else if (singles.n > 0) {
            ttm__sim_scope(S, "ttnn::deallocate");
            TTM__SIM_AT(S, TTM__SIM_SITE_DEALLOC);
            uint32_t r = ttm__sim_list_take(S, &singles);
            ttm__sim_free(S, pid, r, F_OK);
            ttm__sim_pool_give(pool, ttm__sim_rec_at(S, r)->addr);
        }
    }

    ttm__sim_mark(S, pid, "close mesh");
    ttm__sim_scope(S, "ttnn::close_mesh_device");
    TTM__SIM_AT(S, TTM__SIM_SITE_CLOSE);
    while (nact > 0) {
        ttm__sim_mesh_free(S, &act[--nact]);
        ttm__sim_pool_give(pool, act[nact].addr);
    }
    free_all(S, pid, &singles, pool);
    TTM__SIM_AT(S, TTM__SIM_SITE_CLOSE);
    for (unsigned w = 0; w < nweights; w++)
        ttm__sim_mesh_free(S, &weights[w]);
    for (uint16_t d = 0; d < ndev; d++) {
        ttm__sim_free(S, pid, sys_l1[d], F_OK);
        ttm__sim_free(S, pid, sys_dram[d], F_OK);
    }
    ttm__sim_proc_exit(S, pid);

    ttm__sim_list_free(&singles);
    ttm__free(act);
    ttm__free(weights);
}

/* 2-device mesh (N300). */
void ttm__sim_scenario_mesh2(ttm__sim *S)
{
    mesh_run(S, 2, 6, 150);
}

/* 8-device mesh (T3K, 2 x 4). */
void ttm__sim_scenario_mesh8(ttm__sim *S)
{
    mesh_run(S, 8, 8, 150);
}

/* 32-device mesh (Galaxy, 4 x 8). */
void ttm__sim_scenario_mesh32(ttm__sim *S)
{
    mesh_run(S, 32, 4, 80);
}

/* ---- program-pool -------------------------------------------------------------------------- */

/* The site of the events that follow, in the function that set the last one (a helper's events
 * carry its caller's frames). */
#define AT_CALLER(S, path) ttm__sim_site((S), (path), (S)->where.func, (S)->where.file)

void ttm__sim_program_freed_again(ttm__sim *S, uint32_t pid, uint16_t device, uint64_t addr,
                                  uint64_t size, ttm_cause cause)
{
    uint32_t r = ttm__sim_alloc(S, pid, device, TTM_MEM_DRAM, addr, size, A_OK);
    AT_CALLER(S, TTM__SIM_SITE_PROG_FREE);
    ttm__sim_free(S, pid, r, F_OK);
    AT_CALLER(S, TTM__SIM_SITE_POOL_FREE);
    ttm__sim_free(S, pid, r, ttm__sim_free_again(S, cause, false));
}

void ttm__sim_program_release(ttm__sim *S, uint32_t pid, uint32_t r, unsigned path,
                              const uint64_t *sizes, size_t nsizes)
{
    const ttm__sim_rec rec = *ttm__sim_rec_at(S, r);
    switch (path) {
    case TTM__SIM_PROG_TWICE: /* the pool freed twice */
        AT_CALLER(S, TTM__SIM_SITE_PROG_FREE);
        ttm__sim_free(S, pid, r, F_OK);
        AT_CALLER(S, TTM__SIM_SITE_POOL_FREE);
        ttm__sim_free(S, pid, r, ttm__sim_second_free(S));
        break;
    case TTM__SIM_PROG_CACHED: /* a cached program buffer re-reported, then released three times */
        AT_CALLER(S, "tt::tt_metal::ProgramCache::find|tt::tt_metal::EnqueueProgram");
        ttm__sim_because(S, TTM_CAUSE_UNEXPLAINED, false); /* a re-report: no cause */
        ttm__sim_realloc(S, r, rec.size, TTM__SIM_X(DUPLICATE_ALLOC));
        AT_CALLER(S, TTM__SIM_SITE_PROG_FREE);
        ttm__sim_free(S, pid, r, F_OK);
        ttm__sim_free(S, pid, r, F_OK);
        AT_CALLER(S, TTM__SIM_SITE_POOL_FREE);
        ttm__sim_free(S, pid, r, ttm__sim_second_free(S));
        break;
    case TTM__SIM_PROG_ONCE:
        AT_CALLER(S, TTM__SIM_SITE_PROG_FREE);
        ttm__sim_free(S, pid, r, F_OK);
        break;
    default: { /* a stale second free after the address was handed out again */
        AT_CALLER(S, TTM__SIM_SITE_PROG_FREE);
        ttm__sim_free(S, pid, r, F_OK);
        AT_CALLER(S, TTM__SIM_SITE_PROG_ALLOC);
        uint32_t next = ttm__sim_alloc(S, pid, rec.device, rec.memtype, rec.addr,
                                       ttm__sim_pick(S, sizes, nsizes), A_OK);
        /* the pool's stale free, then the new program's own */
        if (S->legacy) {
            AT_CALLER(S, TTM__SIM_SITE_POOL_FREE);
            ttm__sim_free(S, pid, next, F_OK); /* the stale free, as the tracker sees it */
            AT_CALLER(S, TTM__SIM_SITE_PROG_FREE);
            /* to the stream, the release just before is freed again */
            ttm__sim_because(S, TTM_CAUSE_DOUBLE_RELEASE, true);
            ttm__sim_free(S, pid, next, TTM__SIM_X(EXCESS_FREE));
        } else {
            AT_CALLER(S, TTM__SIM_SITE_POOL_FREE);
            ttm__sim_free(S, pid, r, TTM__SIM_X(DOUBLE_FREE));
            AT_CALLER(S, TTM__SIM_SITE_PROG_FREE);
            ttm__sim_free(S, pid, next, F_OK);
        }
        break;
    }
    }
}

#define PROG_BATCH 4

/*
 * Programs are compiled in batches; each program's binaries live in a DRAM program buffer. When
 * a batch is released, each program follows one of four paths: its buffer is freed twice (the
 * program and its pool both free it); it was cached and re-reported (duplicate_alloc), freed
 * twice to zero references, then once more; it is freed once; or it is freed, its address goes
 * to a new program, and the stale second free arrives then: the legacy tracker takes the new
 * program's buffer for it (free_ok) and the new program's own free becomes the excess one,
 * while the identity client's object id makes it a double free.
 */
void ttm__sim_scenario_program_pool(ttm__sim *S)
{
    static const uint64_t sizes[] = {KIB(16), KIB(48), KIB(64), KIB(128)};
    const uint32_t pid = TTM__SIM_PID0;
    ttm__sim_devices(S, 1);
    ttm__sim_proc_start(S, pid);
    ttm__sim_pool *pool = ttm__sim_pool_new(S, DRAM_PROG_BASE, KIB(256), 16);

    for (unsigned batch = 0; batch < 12; batch++) {
        uint32_t prog[PROG_BATCH], order[PROG_BATCH];
        ttm__sim_mark(S, pid, "compile");
        ttm__sim_scope(S, "tt::tt_metal::CompileProgram");
        TTM__SIM_AT(S, TTM__SIM_SITE_PROG_ALLOC);
        for (unsigned i = 0; i < PROG_BATCH; i++) {
            prog[i] = ttm__sim_alloc(S, pid, 0, TTM_MEM_DRAM, ttm__sim_pool_take(S, pool),
                                     ttm__sim_pick(S, sizes, NELEM(sizes)), A_OK);
            order[i] = i;
        }
        ttm__sim_shuffle(S, order, PROG_BATCH);
        ttm__sim_mark(S, pid, "release");
        ttm__sim_scope(S, "tt::tt_metal::ProgramCache::clear");
        for (unsigned k = 0; k < PROG_BATCH; k++) {
            unsigned i = order[k];
            uint32_t r = prog[i];
            uint64_t addr = ttm__sim_rec_at(S, r)->addr;
            ttm__sim_program_release(S, pid, r, (batch + i) % 4, sizes, NELEM(sizes));
            ttm__sim_pool_give(pool, addr);
        }
    }
    ttm__sim_proc_exit(S, pid);
}

/* ---- pre-tracking -------------------------------------------------------------------------- */

/*
 * The process allocated DRAM and L1 buffers before tracking began (they are never reported);
 * while tracked it allocates and frees around them and frees them one by one: a free of an
 * object and an address the tracker never saw allocated, an unknown free with either client.
 * Their addresses are reused afterwards.
 */
void ttm__sim_scenario_pre_tracking(ttm__sim *S)
{
    static const uint64_t dram_sizes[] = {KIB(8), KIB(256), MIB(1), MIB(2)};
    static const uint64_t l1_sizes[] = {512, KIB(2), KIB(8), KIB(16)};
    const uint32_t pid = TTM__SIM_PID0;
    ttm__sim_list pre = {0}, live = {0};
    ttm__sim_devices(S, 1);
    ttm__sim_pool *dram = ttm__sim_pool_new(S, DRAM_ACT_BASE, MIB(2), 32);
    ttm__sim_pool *l1 = ttm__sim_pool_new(S, 0x40000, KIB(16), 32);

    for (unsigned i = 0; i < 14; i++)
        ttm__sim_list_push(&pre,
                           ttm__sim_untracked(S, pid, 0, TTM_MEM_DRAM, ttm__sim_pool_take(S, dram),
                                              ttm__sim_pick(S, dram_sizes, NELEM(dram_sizes))));
    for (unsigned i = 0; i < 10; i++)
        ttm__sim_list_push(&pre,
                           ttm__sim_untracked(S, pid, 0, TTM_MEM_L1, ttm__sim_pool_take(S, l1),
                                              ttm__sim_pick(S, l1_sizes, NELEM(l1_sizes))));
    ttm__sim_proc_start(S, pid);
    ttm__sim_mark(S, pid, "tracking enabled");

    for (unsigned step = 0; step < 240; step++) {
        unsigned what = (unsigned)ttm__sim_below(S, 10);
        if (what < 5) {
            ttm__sim_scope(S, "ttnn::empty");
            TTM__SIM_AT(S, TTM__SIM_SITE_TENSOR("ttnn::empty"));
            bool in_l1 = ttm__sim_chance(S, 40);
            ttm__sim_pool *p = in_l1 ? l1 : dram;
            if (p->nfree == 0)
                continue;
            uint64_t size = in_l1 ? ttm__sim_pick(S, l1_sizes, NELEM(l1_sizes))
                                  : ttm__sim_pick(S, dram_sizes, NELEM(dram_sizes));
            ttm__sim_list_push(&live, ttm__sim_alloc(S, pid, 0, in_l1 ? TTM_MEM_L1 : TTM_MEM_DRAM,
                                                     ttm__sim_pool_take(S, p), size, A_OK));
        } else if (what < 8 && live.n > 0) {
            ttm__sim_scope(S, "ttnn::deallocate");
            TTM__SIM_AT(S, TTM__SIM_SITE_DEALLOC);
            uint32_t r = ttm__sim_list_take(S, &live);
            ttm__sim_free(S, pid, r, F_OK);
            ttm__sim_rec *rec = ttm__sim_rec_at(S, r);
            ttm__sim_pool_give(rec->memtype == TTM_MEM_L1 ? l1 : dram, rec->addr);
        } else if (pre.n > 0) {
            ttm__sim_scope(S, "ttnn::deallocate");
            TTM__SIM_AT(S, "ttnn::Tensor::~Tensor|model::release_preloaded");
            uint32_t r = ttm__sim_list_take(S, &pre);
            ttm__sim_because(S, TTM_CAUSE_PRE_TRACKING, false);
            ttm__sim_free(S, pid, r, TTM__SIM_X(UNKNOWN_FREE));
            ttm__sim_rec *rec = ttm__sim_rec_at(S, r);
            ttm__sim_pool_give(rec->memtype == TTM_MEM_L1 ? l1 : dram, rec->addr);
        }
    }
    ttm__sim_scope(S, NULL);
    TTM__SIM_AT(S, "ttnn::Tensor::~Tensor|model::release_preloaded");
    while (pre.n > 0) {
        ttm__sim_because(S, TTM_CAUSE_PRE_TRACKING, false);
        ttm__sim_free(S, pid, ttm__sim_list_take(S, &pre), TTM__SIM_X(UNKNOWN_FREE));
    }
    free_all(S, pid, &live, NULL);
    ttm__sim_proc_exit(S, pid);
    ttm__sim_list_free(&pre);
    ttm__sim_list_free(&live);
}

/* ---- reuse --------------------------------------------------------------------------------- */

/*
 * One DRAM and one L1 address reused by successive buffers of 512 B, 8 KiB and 256 KiB. The
 * identity client sometimes frees with the size it asked for rather than the size it got (a
 * size mismatch beside the free_ok). At the end the allocator hands the DRAM address out again
 * without the free being reported: with object ids that is an overlap and a missed free; with
 * addresses only it looks like a re-report (duplicate_alloc), so one reference is left at exit.
 */
void ttm__sim_scenario_reuse(ttm__sim *S)
{
    static const uint64_t sizes[] = {512, KIB(8), KIB(256)};
    const uint32_t pid = TTM__SIM_PID0;
    const uint64_t a_dram = DRAM_ACT_BASE, a_l1 = 0x30000;
    ttm__sim_devices(S, 1);
    ttm__sim_proc_start(S, pid);

    ttm__sim_scope(S, "ttnn::reshape");
    for (unsigned round = 0; round < 60; round++) {
        TTM__SIM_AT(S, "tt::tt_metal::CreateBuffer|ttnn::operations::data_movement::reshape");
        uint32_t d = ttm__sim_alloc(S, pid, 0, TTM_MEM_DRAM, a_dram, sizes[round % 3], A_OK);
        uint32_t l = ttm__sim_alloc(S, pid, 0, TTM_MEM_L1, a_l1,
                                    ttm__sim_pick(S, sizes, NELEM(sizes)), A_OK);
        uint32_t first = d, second = l;
        if (ttm__sim_chance(S, 50)) {
            first = l;
            second = d;
        }
        uint32_t both[2] = {first, second};
        TTM__SIM_AT(S, "tt::tt_metal::DeallocateBuffer|ttnn::operations::data_movement::reshape");
        for (unsigned k = 0; k < 2; k++) {
            uint64_t size = ttm__sim_rec_at(S, both[k])->size;
            if (!S->legacy && ttm__sim_chance(S, 25))
                ttm__sim_free_size(S, pid, both[k], size - size / 8,
                                   F_OK | TTM__SIM_X(SIZE_MISMATCH));
            else
                ttm__sim_free(S, pid, both[k], F_OK);
        }
    }

    ttm__sim_mark(S, pid, "missed free");
    TTM__SIM_AT(S, "tt::tt_metal::CreateBuffer|model::reuse_without_free");
    uint32_t x = ttm__sim_alloc(S, pid, 0, TTM_MEM_DRAM, a_dram, KIB(8), A_OK);
    if (S->legacy) {
        ttm__sim_because(S, TTM_CAUSE_UNEXPLAINED, false); /* an address handed out again */
        ttm__sim_realloc(S, x, KIB(256), TTM__SIM_X(DUPLICATE_ALLOC));
        TTM__SIM_AT(S, "tt::tt_metal::DeallocateBuffer|model::reuse_without_free");
        ttm__sim_free(S, pid, x, F_OK); /* one reference stays: a leak at exit */
    } else {
        ttm__sim_missed(S, x);
        uint32_t y = ttm__sim_alloc(S, pid, 0, TTM_MEM_DRAM, a_dram, KIB(256), TTM__SIM_X(OVERLAP));
        TTM__SIM_AT(S, "tt::tt_metal::DeallocateBuffer|model::reuse_without_free");
        ttm__sim_free(S, pid, y, F_OK);
    }
    ttm__sim_proc_exit(S, pid);
}

/* ---- leaks --------------------------------------------------------------------------------- */

/*
 * Process 1000 allocates DRAM, L1, L1_SMALL and SYSTEM buffers on two devices, a cached program
 * buffer reported twice and freed once, and a MeshBuffer over both devices; it frees about half
 * and exits: the rest are leaked_at_exit (the mesh's views are dropped, not leaked). Process 1001
 * then allocates at the same addresses (reclaimed) and frees everything: no leaks. Process 1002
 * is killed holding L1 buffers.
 */
void ttm__sim_scenario_leaks(ttm__sim *S)
{
    static const unsigned types[] = {TTM_MEM_DRAM, TTM_MEM_L1, TTM_MEM_L1_SMALL, TTM_MEM_SYSTEM};
    const uint32_t p0 = TTM__SIM_PID0, p1 = p0 + 1, p2 = p0 + 2;
    ttm__sim_pool *pools[4];
    ttm__sim_list live = {0}, again = {0};
    ttm__sim_mesh mesh;

    ttm__sim_devices(S, 2);
    pools[0] = ttm__sim_pool_new(S, DRAM_ACT_BASE, MIB(4), 24);
    pools[1] = ttm__sim_pool_new(S, 0x40000, KIB(16), 24);
    pools[2] = ttm__sim_pool_new(S, 0xC0000, KIB(4), 24);
    pools[3] = ttm__sim_pool_new(S, SYSMEM_BASE, MIB(1), 24);
    static const uint64_t max_size[] = {MIB(4), KIB(16), KIB(4), MIB(1)};
    static const char *const sites[] = {
        TTM__SIM_SITE_TENSOR("model::KVCache::grow"),
        TTM__SIM_SITE_TENSOR("model::Attention::scratch"),
        "tt::tt_metal::CreateBuffer|model::Sampler::counters",
        "tt::tt_metal::CreateBuffer|model::pin_host_buffer",
    };

    ttm__sim_proc_start(S, p0);
    ttm__sim_mark(S, p0, "run");
    ttm__sim_scope(S, "model::forward");
    for (unsigned i = 0; i < 28; i++) {
        unsigned t = (unsigned)ttm__sim_below(S, 4);
        TTM__SIM_AT(S, sites[t]);
        uint64_t size = 256 + ttm__sim_below(S, max_size[t] / 256) * 256;
        ttm__sim_list_push(&live, ttm__sim_alloc(S, p0, (uint16_t)ttm__sim_below(S, 2), types[t],
                                                 ttm__sim_pool_take(S, pools[t]), size, A_OK));
    }
    TTM__SIM_AT(S, TTM__SIM_SITE_DEALLOC);
    for (unsigned i = 0; i < 14; i++) {
        uint32_t r = ttm__sim_list_take(S, &live);
        ttm__sim_free(S, p0, r, F_OK);
        const ttm__sim_rec *rec = ttm__sim_rec_at(S, r);
        for (unsigned t = 0; t < 4; t++)
            if (types[t] == rec->memtype)
                ttm__sim_pool_give(pools[t], rec->addr);
    }
    TTM__SIM_AT(S, TTM__SIM_SITE_PROG_ALLOC);
    uint32_t prog =
        ttm__sim_alloc(S, p0, 0, TTM_MEM_DRAM, ttm__sim_pool_take(S, pools[0]), KIB(64), A_OK);
    ttm__sim_because(S, TTM_CAUSE_UNEXPLAINED, false); /* a cached buffer re-reported */
    ttm__sim_realloc(S, prog, KIB(64), TTM__SIM_X(DUPLICATE_ALLOC));
    TTM__SIM_AT(S, TTM__SIM_SITE_PROG_FREE);
    ttm__sim_free(S, p0, prog, F_OK);
    ttm__sim_list_push(&live, prog);
    TTM__SIM_AT(S, TTM__SIM_SITE_TENSOR("model::Embedding::load"));
    ttm__sim_mesh_alloc(S, &mesh, p0, 0, 2, TTM_MEM_DRAM, ttm__sim_pool_take(S, pools[0]), MIB(4));
    for (unsigned i = 0; i < 2; i++)
        if (mesh.backing[i] != TTM__SIM_NONE)
            ttm__sim_list_push(&live, mesh.backing[i]);
    ttm__sim_proc_exit(S, p0);

    /* The leaked buffers were reclaimed: a new process gets their addresses. */
    ttm__sim_proc_start(S, p1);
    ttm__sim_mark(S, p1, "run");
    TTM__SIM_AT(S, TTM__SIM_SITE_TENSOR("model::forward"));
    for (size_t i = 0; i < live.n; i++) {
        const ttm__sim_rec old = *ttm__sim_rec_at(S, live.v[i]);
        ttm__sim_list_push(
            &again, ttm__sim_alloc(S, p1, old.device, old.memtype, old.addr, old.size, A_OK));
    }
    free_all(S, p1, &again, NULL);
    ttm__sim_proc_exit(S, p1);

    ttm__sim_proc_start(S, p2);
    ttm__sim_scope(S, "worker::run");
    TTM__SIM_AT(S, "tt::tt_metal::CreateBuffer|worker::run");
    for (unsigned i = 0; i < 6; i++)
        ttm__sim_alloc(S, p2, (uint16_t)(i % 2), i % 3 ? TTM_MEM_L1 : TTM_MEM_CB,
                       0x100000 + i * KIB(8), KIB(1) << (i % 4), A_OK);
    ttm__sim_proc_exit(S, p2);

    ttm__sim_list_free(&live);
    ttm__sim_list_free(&again);
}

/* ---- multi-process ------------------------------------------------------------------------- */

#define MP_NPROC 3

/*
 * Three processes share two devices, each with its own address ranges, their events
 * interleaved. Process 1001 frees a live buffer of process 1000 (foreign_free: the record stays
 * and 1000 frees it later); process 1002 allocates over a live buffer of 1000 (overlap: both
 * records stay) and frees its own; 1001 exits holding buffers, and 1002 then frees one of them
 * (with addresses only an excess free, with object ids an object it never saw: unknown free).
 */
void ttm__sim_scenario_multi_process(ttm__sim *S)
{
    static const uint64_t sizes[] = {KIB(4), KIB(32), KIB(256), MIB(1)};
    const uint32_t pid0 = TTM__SIM_PID0;
    ttm__sim_pool *dram[MP_NPROC], *l1[MP_NPROC], *sys;
    ttm__sim_list live[MP_NPROC];
    bool alive[MP_NPROC];
    uint32_t leaked_of_1001 = TTM__SIM_NONE;
    memset(live, 0, sizeof live);

    ttm__sim_devices(S, 2);
    for (unsigned p = 0; p < MP_NPROC; p++) {
        dram[p] = ttm__sim_pool_new(S, DRAM_MESH_BASE * (p + 1), MIB(2), 24);
        l1[p] = ttm__sim_pool_new(S, 0x20000 + p * 0x60000, KIB(16), 24);
        alive[p] = true;
        ttm__sim_proc_start(S, pid0 + p);
    }
    sys = ttm__sim_pool_new(S, SYSMEM_BASE, MIB(1), 8);
    ttm__sim_scope(S, "worker::step");

    for (unsigned step = 0; step < 600; step++) {
        if (step == 150 && live[0].n > 0) { /* 1001 frees a buffer of 1000 */
            TTM__SIM_AT(S, "tt::tt_metal::DeallocateBuffer|worker::release_shared");
            ttm__sim_free(S, pid0 + 1, live[0].v[ttm__sim_below(S, live[0].n)],
                          TTM__SIM_X(FOREIGN_FREE));
            continue;
        }
        if (step == 250) { /* 1002 allocates over a live DRAM buffer of 1000, frees its own */
            for (size_t i = 0; i < live[0].n; i++) {
                const ttm__sim_rec r = *ttm__sim_rec_at(S, live[0].v[i]);
                if (r.memtype != TTM_MEM_DRAM)
                    continue;
                TTM__SIM_AT(S, "tt::tt_metal::CreateBuffer|worker::map_fixed_address");
                uint32_t o = ttm__sim_alloc(S, pid0 + 2, r.device, TTM_MEM_DRAM, r.addr, KIB(4),
                                            TTM__SIM_X(OVERLAP));
                ttm__sim_free(S, pid0 + 2, o, F_OK);
                break;
            }
            continue;
        }
        if (step == 400) { /* 1001 exits holding its buffers */
            if (live[1].n > 0)
                leaked_of_1001 = live[1].v[0];
            ttm__sim_proc_exit(S, pid0 + 1);
            alive[1] = false;
            continue;
        }
        if (step == 450 && leaked_of_1001 != TTM__SIM_NONE) {
            TTM__SIM_AT(S, "tt::tt_metal::DeallocateBuffer|worker::release_shared");
            /* a free of another process's buffer after it was reclaimed: nothing explains it */
            ttm__sim_because(S, TTM_CAUSE_UNEXPLAINED, false);
            ttm__sim_free(S, pid0 + 2, leaked_of_1001,
                          S->legacy ? TTM__SIM_X(EXCESS_FREE) : TTM__SIM_X(UNKNOWN_FREE));
            continue;
        }
        unsigned p = (unsigned)ttm__sim_below(S, MP_NPROC);
        if (!alive[p])
            p = 0;
        uint32_t pid = pid0 + p;
        if (live[p].n < 16 && ttm__sim_chance(S, 60)) {
            TTM__SIM_AT(S, TTM__SIM_SITE_TENSOR("worker::step"));
            uint16_t d = (uint16_t)ttm__sim_below(S, 2);
            unsigned what = (unsigned)ttm__sim_below(S, 10);
            uint32_t r;
            if (what < 5 && dram[p]->nfree > 0)
                r = ttm__sim_alloc(S, pid, d, TTM_MEM_DRAM, ttm__sim_pool_take(S, dram[p]),
                                   ttm__sim_pick(S, sizes, NELEM(sizes)), A_OK);
            else if (what < 9 && l1[p]->nfree > 0)
                r = ttm__sim_alloc(S, pid, d, TTM_MEM_L1, ttm__sim_pool_take(S, l1[p]),
                                   ttm__sim_pick(S, sizes, 2), A_OK);
            else if (p == 0 && sys->nfree > 0)
                r = ttm__sim_alloc(S, pid, d, TTM_MEM_SYSTEM, ttm__sim_pool_take(S, sys),
                                   ttm__sim_pick(S, sizes, NELEM(sizes)), A_OK);
            else
                continue;
            ttm__sim_list_push(&live[p], r);
        } else if (live[p].n > 0) {
            TTM__SIM_AT(S, TTM__SIM_SITE_DEALLOC);
            uint32_t r = ttm__sim_list_take(S, &live[p]);
            ttm__sim_free(S, pid, r, F_OK);
            const ttm__sim_rec *rec = ttm__sim_rec_at(S, r);
            ttm__sim_pool_give(rec->memtype == TTM_MEM_DRAM ? dram[p]
                               : rec->memtype == TTM_MEM_L1 ? l1[p]
                                                            : sys,
                               rec->addr);
        }
    }
    TTM__SIM_AT(S, TTM__SIM_SITE_DEALLOC);
    for (unsigned i = live[0].n / 2; i > 0; i--)
        ttm__sim_free(S, pid0, ttm__sim_list_take(S, &live[0]), F_OK);
    ttm__sim_proc_exit(S, pid0);
    ttm__sim_proc_exit(S, pid0 + 2);
    for (unsigned p = 0; p < MP_NPROC; p++)
        ttm__sim_list_free(&live[p]);
}

/* ---- cb-kernel ----------------------------------------------------------------------------- */

#define CBK_PROGRAMS    8
#define CBK_CACHE_MAX   4
#define CBK_KERNELS_MAX 3

/*
 * Persistent dispatch and fabric kernels (about 204 KiB of KERNEL) stay for the whole run.
 * Program launches load their kernel binaries into L1 (KERNEL) when not cached, allocate
 * circular buffers (CB) for the launch and free them after it, and leave L1 and L1_SMALL
 * outputs that later launches consume. The program cache holds four programs; an evicted
 * program's kernels are freed.
 */
void ttm__sim_scenario_cb_kernel(ttm__sim *S)
{
    static const uint64_t kernel_sizes[] = {KIB(4), KIB(8), KIB(16), KIB(24)};
    static const uint64_t cb_sizes[] = {KIB(2), KIB(4), KIB(8), KIB(16)};
    const uint32_t pid = TTM__SIM_PID0;
    uint32_t kernels[CBK_PROGRAMS][CBK_KERNELS_MAX];
    unsigned nkernels[CBK_PROGRAMS] = {0};
    bool cached[CBK_PROGRAMS] = {false};
    unsigned ncached = 0;
    uint32_t persistent[3];
    ttm__sim_list outputs = {0};

    ttm__sim_devices(S, 1);
    ttm__sim_proc_start(S, pid);
    ttm__sim_pool *kpool = ttm__sim_pool_new(S, 0x40000, KIB(32), 16);
    ttm__sim_pool *cbpool = ttm__sim_pool_new(S, 0xC0000, KIB(16), 12);
    ttm__sim_pool *l1pool = ttm__sim_pool_new(S, 0xF0000, KIB(32), 8);
    ttm__sim_pool *smallpool = ttm__sim_pool_new(S, 0x130000, KIB(4), 8);

    ttm__sim_mark(S, pid, "open device");
    TTM__SIM_AT(S, "tt::tt_metal::Device::configure_fabric|tt::tt_metal::Device::initialize");
    persistent[0] = ttm__sim_alloc(S, pid, 0, TTM_MEM_KERNEL, 0x1000, 102400, A_OK);
    persistent[1] = ttm__sim_alloc(S, pid, 0, TTM_MEM_KERNEL, 0x1A000, KIB(64), A_OK);
    persistent[2] = ttm__sim_alloc(S, pid, 0, TTM_MEM_KERNEL, 0x2A000, KIB(40), A_OK);

    ttm__sim_mark(S, pid, "launches");
    for (unsigned launch = 0; launch < 80; launch++) {
        unsigned prog = (unsigned)ttm__sim_below(S, CBK_PROGRAMS);
        ttm__sim_scope(S, prog % 2 ? "ttnn::add" : "ttnn::matmul");
        if (!cached[prog]) {
            if (ncached == CBK_CACHE_MAX) { /* evict another cached program */
                unsigned victim;
                do
                    victim = (unsigned)ttm__sim_below(S, CBK_PROGRAMS);
                while (!cached[victim]);
                TTM__SIM_AT(S, "tt::tt_metal::detail::ProgramImpl::release_kernels|"
                               "tt::tt_metal::ProgramCache::evict");
                for (unsigned k = 0; k < nkernels[victim]; k++) {
                    ttm__sim_free(S, pid, kernels[victim][k], F_OK);
                    ttm__sim_pool_give(kpool, ttm__sim_rec_at(S, kernels[victim][k])->addr);
                }
                cached[victim] = false;
                ncached--;
            }
            nkernels[prog] = 2 + (unsigned)ttm__sim_below(S, 2);
            TTM__SIM_AT(S, "tt::tt_metal::detail::ProgramImpl::load_kernels|"
                           "tt::tt_metal::EnqueueProgram");
            for (unsigned k = 0; k < nkernels[prog]; k++)
                kernels[prog][k] =
                    ttm__sim_alloc(S, pid, 0, TTM_MEM_KERNEL, ttm__sim_pool_take(S, kpool),
                                   ttm__sim_pick(S, kernel_sizes, NELEM(kernel_sizes)), A_OK);
            cached[prog] = true;
            ncached++;
        }
        uint32_t cbs[6];
        unsigned ncb = 2 + (unsigned)ttm__sim_below(S, 5);
        TTM__SIM_AT(S, "tt::tt_metal::CreateCircularBuffer|tt::tt_metal::EnqueueProgram");
        for (unsigned k = 0; k < ncb; k++)
            cbs[k] = ttm__sim_alloc(S, pid, 0, TTM_MEM_CB, ttm__sim_pool_take(S, cbpool),
                                    ttm__sim_pick(S, cb_sizes, NELEM(cb_sizes)), A_OK);
        ttm__sim_shuffle(S, cbs, ncb);
        TTM__SIM_AT(S, "tt::tt_metal::detail::ProgramImpl::release_circular_buffers|"
                       "tt::tt_metal::Finish");
        for (unsigned k = 0; k < ncb; k++) {
            ttm__sim_free(S, pid, cbs[k], F_OK);
            ttm__sim_pool_give(cbpool, ttm__sim_rec_at(S, cbs[k])->addr);
        }
        TTM__SIM_AT(S, TTM__SIM_SITE_DEALLOC);
        while (outputs.n >= 6) {
            uint32_t r = ttm__sim_list_take(S, &outputs);
            ttm__sim_free(S, pid, r, F_OK);
            const ttm__sim_rec *rec = ttm__sim_rec_at(S, r);
            ttm__sim_pool_give(rec->memtype == TTM_MEM_L1 ? l1pool : smallpool, rec->addr);
        }
        TTM__SIM_AT(S, TTM__SIM_SITE_TENSOR("ttnn::operations::binary::create_output"));
        if (ttm__sim_chance(S, 70))
            ttm__sim_list_push(&outputs,
                               ttm__sim_alloc(S, pid, 0, TTM_MEM_L1, ttm__sim_pool_take(S, l1pool),
                                              KIB(8) << ttm__sim_below(S, 3), A_OK));
        else
            ttm__sim_list_push(&outputs, ttm__sim_alloc(S, pid, 0, TTM_MEM_L1_SMALL,
                                                        ttm__sim_pool_take(S, smallpool),
                                                        KIB(1) << ttm__sim_below(S, 3), A_OK));
    }
    ttm__sim_mark(S, pid, "close device");
    ttm__sim_scope(S, NULL);
    free_all(S, pid, &outputs, NULL);
    TTM__SIM_AT(S, TTM__SIM_SITE_CLOSE);
    for (unsigned p = 0; p < CBK_PROGRAMS; p++)
        for (unsigned k = 0; cached[p] && k < nkernels[p]; k++)
            ttm__sim_free(S, pid, kernels[p][k], F_OK);
    for (unsigned k = 0; k < 3; k++)
        ttm__sim_free(S, pid, persistent[k], F_OK);
    ttm__sim_proc_exit(S, pid);
    ttm__sim_list_free(&outputs);
}

/* ---- trace --------------------------------------------------------------------------------- */

/*
 * Two devices hold DRAM weights; a trace region (TRACE, 32-256 MiB, 128 MiB typically) is
 * captured on each at one address, replayed while activations come and go, and released; the
 * next capture reuses the address with another size.
 */
void ttm__sim_scenario_trace(ttm__sim *S)
{
    static const uint64_t trace_sizes[] = {MIB(32), MIB(64), MIB(128), MIB(128), MIB(256)};
    const uint32_t pid = TTM__SIM_PID0;
    ttm__sim_list weights = {0}, act = {0};
    ttm__sim_devices(S, 2);
    ttm__sim_proc_start(S, pid);
    ttm__sim_pool *wpool = ttm__sim_pool_new(S, DRAM_MESH_BASE, MIB(64), 16);
    ttm__sim_pool *apool = ttm__sim_pool_new(S, DRAM_ACT_BASE, MIB(4), 16);

    ttm__sim_scope(S, "ttnn::as_tensor");
    TTM__SIM_AT(S, TTM__SIM_SITE_TENSOR("ttnn::as_tensor"));
    for (uint16_t d = 0; d < 2; d++)
        for (unsigned i = 0; i < 6; i++)
            ttm__sim_list_push(&weights,
                               ttm__sim_alloc(S, pid, d, TTM_MEM_DRAM, ttm__sim_pool_take(S, wpool),
                                              MIB(16) << (i % 3), A_OK));
    for (unsigned round = 0; round < 6; round++) {
        uint32_t tr[2];
        ttm__sim_mark(S, pid, "trace capture");
        ttm__sim_scope(S, "ttnn::begin_trace_capture");
        TTM__SIM_AT(S, "tt::tt_metal::distributed::MeshDevice::begin_trace|"
                       "ttnn::begin_trace_capture");
        for (uint16_t d = 0; d < 2; d++)
            tr[d] = ttm__sim_alloc(
                S, pid, d, TTM_MEM_TRACE, DRAM_TRACE_BASE,
                round == 0 ? MIB(128) : ttm__sim_pick(S, trace_sizes, NELEM(trace_sizes)), A_OK);
        ttm__sim_mark(S, pid, "trace replay");
        ttm__sim_scope(S, "ttnn::matmul");
        for (unsigned i = 0; i < 20; i++) {
            if (act.n < 8 && ttm__sim_chance(S, 55)) {
                TTM__SIM_AT(
                    S, TTM__SIM_SITE_TENSOR("ttnn::operations::matmul::Matmul::create_output"));
                ttm__sim_list_push(&act, ttm__sim_alloc(S, pid, (uint16_t)ttm__sim_below(S, 2),
                                                        TTM_MEM_DRAM, ttm__sim_pool_take(S, apool),
                                                        KIB(256) << ttm__sim_below(S, 4), A_OK));
            } else if (act.n > 0) {
                TTM__SIM_AT(S, TTM__SIM_SITE_DEALLOC);
                uint32_t r = ttm__sim_list_take(S, &act);
                ttm__sim_free(S, pid, r, F_OK);
                ttm__sim_pool_give(apool, ttm__sim_rec_at(S, r)->addr);
            }
        }
        ttm__sim_mark(S, pid, "trace release");
        ttm__sim_scope(S, "ttnn::release_trace");
        TTM__SIM_AT(S, "tt::tt_metal::distributed::MeshDevice::release_trace|ttnn::release_trace");
        for (uint16_t d = 0; d < 2; d++)
            ttm__sim_free(S, pid, tr[d], F_OK);
    }
    free_all(S, pid, &act, NULL);
    free_all(S, pid, &weights, NULL);
    ttm__sim_proc_exit(S, pid);
    ttm__sim_list_free(&weights);
    ttm__sim_list_free(&act);
}

/* ---- ambiguous ----------------------------------------------------------------------------- */

/*
 * A DRAM buffer and an L1 buffer live at the same address of one device. The identity client
 * says which one it frees. The legacy client's free says neither: the first free matches both
 * spaces and takes the most recent record (the L1 one) with an ambiguous_free beside the
 * free_ok, the second finds only the DRAM one. An L1 buffer freed twice at an address that
 * DRAM never used is an excess free in the legacy client (the address is in L1's history), and
 * a later DRAM buffer there is freed without ambiguity.
 */
void ttm__sim_scenario_ambiguous(ttm__sim *S)
{
    const uint32_t pid = TTM__SIM_PID0;
    const uint64_t a = 0x100000, b = 0x80000;
    ttm__sim_devices(S, 1);
    ttm__sim_proc_start(S, pid);
    ttm__sim_scope(S, "ttnn::to_memory_config");
    for (unsigned round = 0; round < 8; round++) {
        TTM__SIM_AT(S, "tt::tt_metal::CreateBuffer|ttnn::to_memory_config");
        uint32_t d = ttm__sim_alloc(S, pid, 0, TTM_MEM_DRAM, a, MIB(1) << (round % 3), A_OK);
        uint32_t l = ttm__sim_alloc(S, pid, 0, round % 2 ? TTM_MEM_L1 : TTM_MEM_CB, a,
                                    KIB(16) << (round % 4), A_OK);
        TTM__SIM_AT(S, "tt::tt_metal::DeallocateBuffer|ttnn::to_memory_config");
        if (S->legacy) {
            ttm__sim_free(S, pid, l, F_OK | TTM__SIM_X(AMBIGUOUS_FREE));
            ttm__sim_free(S, pid, d, F_OK);
        } else if (ttm__sim_chance(S, 50)) {
            ttm__sim_free(S, pid, d, F_OK);
            ttm__sim_free(S, pid, l, F_OK);
        } else {
            ttm__sim_free(S, pid, l, F_OK);
            ttm__sim_free(S, pid, d, F_OK);
        }
    }
    TTM__SIM_AT(S, "tt::tt_metal::CreateBuffer|ttnn::to_memory_config");
    uint32_t l = ttm__sim_alloc(S, pid, 0, TTM_MEM_L1, b, KIB(8), A_OK);
    TTM__SIM_AT(S, "tt::tt_metal::DeallocateBuffer|ttnn::to_memory_config");
    ttm__sim_free(S, pid, l, F_OK);
    TTM__SIM_AT(S, "tt::tt_metal::DeallocateBuffer|ttnn::Tensor::~Tensor");
    ttm__sim_free(S, pid, l, ttm__sim_second_free(S));
    TTM__SIM_AT(S, "tt::tt_metal::CreateBuffer|ttnn::to_memory_config");
    uint32_t d = ttm__sim_alloc(S, pid, 0, TTM_MEM_DRAM, b, MIB(2), A_OK);
    TTM__SIM_AT(S, "tt::tt_metal::DeallocateBuffer|ttnn::to_memory_config");
    ttm__sim_free(S, pid, d, F_OK);
    ttm__sim_proc_exit(S, pid);
}

/* ---- invalid ------------------------------------------------------------------------------- */

/*
 * A client sending malformed events among valid ones: an ALLOC without a concrete memtype, a
 * memtype out of range, unknown flags, an unknown event kind. Each is rejected as invalid and
 * changes nothing; the valid buffer around them is allocated and freed normally.
 */
void ttm__sim_scenario_invalid(ttm__sim *S)
{
    const uint32_t pid = TTM__SIM_PID0;
    const uint32_t bad = TTM__SIM_X(INVALID);
    ttm__sim_devices(S, 1);
    ttm__sim_proc_start(S, pid);
    ttm__sim_scope(S, "client::run");
    for (unsigned round = 0; round < 10; round++) {
        uint64_t addr = DRAM_ACT_BASE + round * MIB(1);
        uint64_t obj = S->legacy ? 0 : ttm__sim_new_obj(S);
        TTM__SIM_AT(S, "tt::tt_metal::CreateBuffer|client::run");
        uint32_t r = ttm__sim_alloc(S, pid, 0, TTM_MEM_DRAM, addr, MIB(1), A_OK);
        TTM__SIM_AT(S, "client::send_malformed|client::run");
        switch (ttm__sim_below(S, 5)) {
        case 0:
            ttm__sim_raw(S, pid, TTM_EV_ALLOC, 0, TTM_MEM_ANY, 0, addr, KIB(4), obj, bad);
            break;
        case 1:
            ttm__sim_raw(S, pid, TTM_EV_ALLOC, 0, 9, 0, addr + KIB(512), KIB(4), obj, bad);
            break;
        case 2:
            ttm__sim_raw(S, pid, TTM_EV_FREE, 0, 7, 0, addr, 0, obj, bad);
            break;
        case 3:
            ttm__sim_raw(S, pid, TTM_EV_ALLOC, 0, TTM_MEM_L1, 0x8, 0x40000, KIB(4), obj, bad);
            break;
        default:
            ttm__sim_raw(S, pid, 9, 0, TTM_MEM_DRAM, 0, addr, KIB(4), obj, bad);
            break;
        }
        ttm__sim_raw(S, pid, TTM_EV_FREE, 0, TTM_MEM_DRAM, 0x100, addr, 0, obj, bad);
        TTM__SIM_AT(S, "tt::tt_metal::DeallocateBuffer|client::run");
        ttm__sim_free(S, pid, r, F_OK);
    }
    ttm__sim_proc_exit(S, pid);
}
