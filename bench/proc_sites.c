/*
 * bench/proc_sites.c — what `ttmem top`'s process view asks of the registry at each refresh:
 * each process's top live allocation sites (ttm_registry_proc_sites, one walk of the live
 * records with a transient (pid, stack) table), beside the sites view's walk over the same
 * records grouped by stack alone (ttm_registry_live_sites), the baseline of the same run.
 *
 * The registry holds N live buffers (default 100,000) from 64 processes, each allocating from
 * 50 call stacks on 8 devices, DRAM and L1. Medians over the rounds; the claim is the ratio.
 *
 * Usage: bench_proc_sites [LIVE [ROUNDS]]   (defaults 100000, 21)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "common/alloc.h"
#include "core/registry.h"
#include "core/stacks.h"
#include "ttmem/ttmem.h"

#define NPROCS 64u
#define NSTACKS 50u
#define TOP 10u

static ttm_registry *filled(unsigned live)
{
    ttm_registry *reg = NULL;
    if (ttm_registry_open(&reg, NULL) != TTM_OK)
        return NULL;
    uint32_t stacks[NSTACKS];
    ttm_stacks *s = ttm_registry_stacks(reg);
    for (unsigned k = 0; k < NSTACKS; k++) {
        ttm_frame f = {.kind = TTM_FRAME_NATIVE, .offset = 0x1000 + k};
        uint32_t fid = ttm_stacks_frame(s, &f);
        stacks[k] = fid != 0 ? ttm_stacks_stack(s, &fid, 1) : 0;
    }
    for (unsigned i = 0; i < live; i++) {
        ttm_event ev;
        memset(&ev, 0, sizeof ev);
        ev.kind = TTM_EV_ALLOC;
        ev.device = (uint16_t)(i % 8);
        ev.memtype = (i & 1) ? TTM_MEM_L1 : TTM_MEM_DRAM;
        ev.addr = 0x100000ull + (uint64_t)i * 4096;
        ev.size = 4096 + (i % 7) * 512;
        ev.ts = 1000 + i;
        ev.stack = stacks[(i / NPROCS) % NSTACKS];
        ttm_registry_apply(reg, 1000 + i % NPROCS, &ev);
    }
    return reg;
}

/* Median µs of one call of fn; *rows its result. */
static double median_us(const ttm_registry *reg, bool per_proc, unsigned rounds, size_t *rows)
{
    uint64_t *ns = ttm__xcalloc(rounds, sizeof *ns);
    size_t cap = (size_t)NPROCS * TOP + NSTACKS + 1;
    ttm_proc_site *ps = ttm__xcalloc(cap, sizeof *ps);
    ttm_live_site *ls = ttm__xcalloc(cap, sizeof *ls);
    for (unsigned k = 0; k < rounds; k++) {
        uint64_t t0 = ttm_bench_now_ns();
        *rows = per_proc ? ttm_registry_proc_sites(reg, TOP, ps, cap)
                         : ttm_registry_live_sites(reg, ls, cap);
        ns[k] = ttm_bench_now_ns() - t0;
    }
    qsort(ns, rounds, sizeof *ns, ttm_bench_cmp_u64);
    double us = (double)ns[rounds / 2] / 1e3;
    ttm__free(ns);
    ttm__free(ps);
    ttm__free(ls);
    return us;
}

int main(int argc, char **argv)
{
    unsigned live = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 100000;
    unsigned rounds = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 21;
    if (live == 0 || rounds < 3) {
        fprintf(stderr, "usage: bench_proc_sites [LIVE [ROUNDS]] (LIVE >= 1, ROUNDS >= 3)\n");
        return 2;
    }
    ttm_bench_machine();
    ttm_registry *reg = filled(live);
    if (reg == NULL) {
        fprintf(stderr, "bench_proc_sites: out of memory\n");
        return 1;
    }
    size_t nl, np;
    double base = median_us(reg, false, rounds, &nl);
    double per = median_us(reg, true, rounds, &np);
    printf("%u live buffers, %u processes x %u stacks, top %u sites per process\n", live, NPROCS,
           NSTACKS, TOP);
    printf("%-44s %10.1f us  %5zu rows\n", "live sites by stack (baseline)", base, nl);
    printf("%-44s %10.1f us  %5zu rows\n", "per-process sites (pid, stack)", per, np);
    printf("ratio per-process / baseline: %.2f\n", per / base);
    ttm_registry_close(reg);
    return 0;
}
