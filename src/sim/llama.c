/*
 * llama.c — the `llama` scenario: a llama-like inference run on an 8-device mesh (T3K), about
 * 100,000 events, shaped after a real llama run on an 8-chip mesh (about 83,000 tracked buffers:
 * 49,000 DRAM, 34,000 L1, a handful of TRACE; docs/ARCHITECTURE.md, device profiles).
 *
 * The run, per phase:
 * - open mesh: on every device 14 MiB (14.7 MB) of runtime DRAM buffers, persistent fabric and
 *   dispatch kernels (204 KiB of KERNEL in L1) and four 256 B L1 system buffers (never freed:
 *   they are the run's leaks at exit);
 * - load weights: 236 weight tensors of 32 MiB and 64 KV-cache tensors, as MeshBuffers (4 MiB and
 *   2 MiB per device), live until the mesh closes;
 * - prefill: 32 steps of large single-device DRAM and L1 activations;
 * - trace capture: one 128 MiB TRACE region per device;
 * - decode: 1,100 steps; per device 3 DRAM and 2 L1 activations from small address pools (so
 *   addresses are reused with changing sizes), an argmax program on device 1 whose program buffer
 *   the runtime frees twice, and every 8 steps an all-gather output MeshBuffer;
 * - close mesh: everything but the L1 system buffers is freed, MeshBuffers in varied orders.
 *
 * The real run tracked ~83,000 buffers (~49,000 DRAM, ~34,000 L1); this one is scaled to
 * keep the event count near 100,000 with either client (about 109,000 identity, 99,000
 * legacy), with DRAM buffers outnumbering L1 ones likewise (about 28,000 to 18,000
 * single-device buffers, plus the MeshBuffers in DRAM). With the legacy client the frees exceed
 * the allocations by about 10%: every MeshBuffer gives eight frees for one allocation, and the
 * argmax program buffer's address on device 1 collects an excess free per decode step (1,100,
 * the worst address).
 */
#include "sim/sim_internal.h"

#include "common/alloc.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define A_OK     TTM__SIM_X(ALLOC_OK)
#define F_OK     TTM__SIM_X(FREE_OK)
#define TTM__SIM_FILE "src/sim/llama.c"

#define LL_DEV        8
#define LL_WEIGHTS    236
#define LL_KV         64
#define LL_STATIC     (LL_WEIGHTS + LL_KV)
#define LL_PREFILL    32
#define LL_DECODE     1100
#define LL_MESH_EVERY 8
#define LL_DRAM_LIVE  8 /* DRAM activations kept per device between steps */

#define LL_SYS_DRAM 0x01000000ull
#define LL_PROG     0x02000000ull
#define LL_ACT_DRAM 0x04000000ull
#define LL_MESH     0x20000000ull
#define LL_MESH_DYN 0x70000000ull
#define LL_TRACE    0x80000000ull
#define LL_KERNEL   0x1000ull
#define LL_L1_SYS   0x34000ull
#define LL_ACT_L1   0x40000ull

static const uint64_t sys_dram_sizes[] = {MIB(4), MIB(4),   MIB(2),  MIB(2),
                                          MIB(1), KIB(512), KIB(512)}; /* 14 MiB */
static const uint64_t kernel_addrs[] = {LL_KERNEL, 0x1A000, 0x2A000};
static const uint64_t kernel_sizes[] = {102400, KIB(64), KIB(40)}; /* 204 KiB */
static const uint64_t prefill_dram[] = {MIB(1), MIB(2), MIB(4), MIB(8)};
static const uint64_t decode_dram[] = {KIB(2), KIB(8), KIB(64), KIB(256), MIB(1)};
static const uint64_t l1_sizes[] = {512, KIB(2), KIB(8), KIB(32), KIB(64), KIB(256)};
static const uint64_t prog_sizes[] = {KIB(16), KIB(24), KIB(32)};

typedef struct llama {
    ttm__sim *S;
    uint32_t pid;
    ttm__sim_pool *dram[LL_DEV], *l1[LL_DEV];
    ttm__sim_list dram_live[LL_DEV];
} llama;

/* One op's activations on device d: L1 buffers used and freed within the step, DRAM buffers
 * kept for a few steps. */
static void step_device(llama *L, uint16_t d, unsigned ndram, const uint64_t *dsizes, size_t nsizes)
{
    ttm__sim *S = L->S;
    uint32_t tmp[2];
    TTM__SIM_AT(S, TTM__SIM_SITE_TENSOR("ttnn::operations::matmul::Matmul::create_output|"
                                        "models::llama::Attention::forward"));
    for (unsigned k = 0; k < 2; k++)
        tmp[k] = ttm__sim_alloc(S, L->pid, d, TTM_MEM_L1, ttm__sim_pool_take(S, L->l1[d]),
                                ttm__sim_pick(S, l1_sizes, NELEM(l1_sizes)), A_OK);
    TTM__SIM_AT(S, TTM__SIM_SITE_TENSOR("ttnn::operations::transformer::SDPA::create_output|"
                                        "models::llama::Attention::forward"));
    for (unsigned k = 0; k < ndram; k++)
        ttm__sim_list_push(&L->dram_live[d],
                           ttm__sim_alloc(S, L->pid, d, TTM_MEM_DRAM,
                                          ttm__sim_pool_take(S, L->dram[d]),
                                          ttm__sim_pick(S, dsizes, nsizes), A_OK));
    ttm__sim_shuffle(S, tmp, 2);
    TTM__SIM_AT(S, TTM__SIM_SITE_DEALLOC);
    for (unsigned k = 0; k < 2; k++) {
        ttm__sim_free(S, L->pid, tmp[k], F_OK);
        ttm__sim_pool_give(L->l1[d], ttm__sim_rec_at(S, tmp[k])->addr);
    }
    while (L->dram_live[d].n > LL_DRAM_LIVE) {
        uint32_t r = ttm__sim_list_take(S, &L->dram_live[d]);
        ttm__sim_free(S, L->pid, r, F_OK);
        ttm__sim_pool_give(L->dram[d], ttm__sim_rec_at(S, r)->addr);
    }
}

/* The llama run (see the file comment). */
void ttm__sim_scenario_llama(ttm__sim *S)
{
    llama L = {.S = S, .pid = TTM__SIM_PID0};
    const uint32_t pid = L.pid;
    uint32_t sys_dram[LL_DEV][NELEM(sys_dram_sizes)], kernels[LL_DEV][NELEM(kernel_sizes)];
    uint32_t trace[LL_DEV];
    ttm__sim_mesh *stat = ttm__xcalloc(LL_STATIC, sizeof *stat);
    ttm__sim_mesh dyn;
    bool dyn_live = false;

    ttm__sim_devices(S, LL_DEV);
    ttm__sim_proc_start(S, pid);
    for (uint16_t d = 0; d < LL_DEV; d++) {
        L.dram[d] = ttm__sim_pool_new(S, LL_ACT_DRAM, MIB(8), 32);
        L.l1[d] = ttm__sim_pool_new(S, LL_ACT_L1, KIB(16), 32);
    }
    ttm__sim_pool *dyn_pool = ttm__sim_pool_new(S, LL_MESH_DYN, MIB(4), 4);

    ttm__sim_mark(S, pid, "open mesh");
    ttm__sim_scope(S, "ttnn::open_mesh_device");
    for (uint16_t d = 0; d < LL_DEV; d++) {
        uint64_t addr = LL_SYS_DRAM;
        TTM__SIM_AT(S, TTM__SIM_SITE_OPEN);
        for (size_t i = 0; i < NELEM(sys_dram_sizes); i++) {
            sys_dram[d][i] = ttm__sim_alloc(S, pid, d, TTM_MEM_DRAM, addr, sys_dram_sizes[i], A_OK);
            addr += sys_dram_sizes[i];
        }
        TTM__SIM_AT(S, "tt::tt_metal::Device::configure_fabric|tt::tt_metal::Device::initialize");
        for (size_t i = 0; i < NELEM(kernel_sizes); i++)
            kernels[d][i] =
                ttm__sim_alloc(S, pid, d, TTM_MEM_KERNEL, kernel_addrs[i], kernel_sizes[i], A_OK);
        TTM__SIM_AT(S, "tt::tt_metal::Device::init_command_queue_device|"
                       "tt::tt_metal::Device::initialize");
        for (unsigned i = 0; i < 4; i++)
            ttm__sim_alloc(S, pid, d, TTM_MEM_L1, LL_L1_SYS + i * 256u, 256, A_OK);
    }

    ttm__sim_mark(S, pid, "load weights");
    ttm__sim_scope(S, "ttnn::as_tensor");
    for (unsigned k = 0; k < LL_STATIC; k++) {
        TTM__SIM_AT(S, k < LL_WEIGHTS ? TTM__SIM_SITE_TENSOR("ttnn::as_tensor|"
                                                             "models::llama::load_weights")
                                      : TTM__SIM_SITE_TENSOR("ttnn::zeros|"
                                                             "models::llama::allocate_kv_cache"));
        ttm__sim_mesh_alloc(S, &stat[k], pid, 0, LL_DEV, TTM_MEM_DRAM, LL_MESH + k * MIB(4),
                            k < LL_WEIGHTS ? MIB(32) / LL_DEV : MIB(2));
    }

    ttm__sim_mark(S, pid, "prefill");
    ttm__sim_scope(S, "ttnn::matmul");
    for (unsigned s = 0; s < LL_PREFILL; s++)
        for (uint16_t d = 0; d < LL_DEV; d++)
            step_device(&L, d, 4, prefill_dram, NELEM(prefill_dram));

    ttm__sim_mark(S, pid, "trace capture");
    ttm__sim_scope(S, "ttnn::begin_trace_capture");
    TTM__SIM_AT(S, "tt::tt_metal::distributed::MeshDevice::begin_trace|ttnn::begin_trace_capture");
    for (uint16_t d = 0; d < LL_DEV; d++)
        trace[d] = ttm__sim_alloc(S, pid, d, TTM_MEM_TRACE, LL_TRACE, MIB(128), A_OK);

    ttm__sim_mark(S, pid, "decode");
    for (unsigned s = 0; s < LL_DECODE; s++) {
        ttm__sim_scope(S, "ttnn::paged_scaled_dot_product_attention_decode");
        for (uint16_t d = 0; d < LL_DEV; d++)
            step_device(&L, d, 3, decode_dram, NELEM(decode_dram));
        /* argmax runs on device 1; its program buffer is freed by the program and again by
         * the program cache */
        ttm__sim_scope(S, "ttnn::argmax");
        TTM__SIM_AT(S, TTM__SIM_SITE_PROG_ALLOC);
        /* one address freed once more every decode step: an excess storm (each extra free is
         * also a release freed again; the recurrence is what names it) */
        ttm__sim_program_freed_again(S, pid, 1, LL_PROG,
                                     ttm__sim_pick(S, prog_sizes, NELEM(prog_sizes)),
                                     TTM_CAUSE_EXCESS_STORM);
        ttm__sim_scope(S, "ttnn::all_gather");
        if (s % LL_MESH_EVERY == 0 && !dyn_live) {
            TTM__SIM_AT(S, TTM__SIM_SITE_TENSOR("ttnn::all_gather"));
            ttm__sim_mesh_alloc(S, &dyn, pid, 0, LL_DEV, TTM_MEM_DRAM,
                                ttm__sim_pool_take(S, dyn_pool), MIB(1));
            dyn_live = true;
        } else if (s % LL_MESH_EVERY == LL_MESH_EVERY / 2 && dyn_live) {
            TTM__SIM_AT(S, TTM__SIM_SITE_DEALLOC);
            ttm__sim_mesh_free(S, &dyn);
            ttm__sim_pool_give(dyn_pool, dyn.addr);
            dyn_live = false;
        }
    }

    ttm__sim_mark(S, pid, "close mesh");
    ttm__sim_scope(S, "ttnn::close_mesh_device");
    TTM__SIM_AT(S, TTM__SIM_SITE_CLOSE);
    if (dyn_live)
        ttm__sim_mesh_free(S, &dyn);
    for (uint16_t d = 0; d < LL_DEV; d++)
        ttm__sim_free(S, pid, trace[d], F_OK);
    for (uint16_t d = 0; d < LL_DEV; d++) {
        while (L.dram_live[d].n > 0)
            ttm__sim_free(S, pid, ttm__sim_list_take(S, &L.dram_live[d]), F_OK);
        ttm__sim_list_free(&L.dram_live[d]);
    }
    for (unsigned k = 0; k < LL_STATIC; k++)
        ttm__sim_mesh_free(S, &stat[k]);
    for (uint16_t d = 0; d < LL_DEV; d++) {
        for (size_t i = 0; i < NELEM(sys_dram_sizes); i++)
            ttm__sim_free(S, pid, sys_dram[d][i], F_OK);
        for (size_t i = 0; i < NELEM(kernel_sizes); i++)
            ttm__sim_free(S, pid, kernels[d][i], F_OK);
    }
    ttm__sim_proc_exit(S, pid);
    ttm__free(stat);
}
