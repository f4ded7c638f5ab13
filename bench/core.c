/*
 * bench/core.c — ingest rate of the core registry on the llama mix with 100,000 live buffers,
 * and the registry's memory per live buffer (DESIGN §6: ≥ 15 M events/s, ≤ 64 B/buffer).
 *
 * The llama scenario's events (identity and legacy client behaviours) are generated once into
 * memory; each round opens a registry, fills it with 100,000 long-lived buffers spread over 8
 * devices, then times applying the whole scenario on top of them, five passes in a row: the
 * first pass ("cold": tables still growing) and the median of the others (sustained) are
 * printed, each the median over the rounds. A baseline from the same run: a plain loop that only copies the events (memory
 * bandwidth floor), so the figures can be compared across machines.
 *
 * usage: bench_core [identity|legacy]   (both by default)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "common/alloc.h"
#include "core/registry.h"
#include "sim/sim.h"

#ifndef PREFILL
#define PREFILL 100000u
#endif
#define ROUNDS 7

typedef struct stream {
    uint32_t *pid;
    ttm_event *ev;
    size_t n, cap;
} stream;

static void collect(void *arg, uint32_t pid, const ttm_event *ev)
{
    stream *s = arg;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 4096;
        s->ev = ttm__xreallocarray(s->ev, s->cap, sizeof *s->ev);
        s->pid = ttm__xreallocarray(s->pid, s->cap, sizeof *s->pid);
    }
    s->ev[s->n] = *ev;
    s->pid[s->n++] = pid;
}

/* 100,000 live buffers owned by a long-running process, in an address range that the scenario
 * does not use (high DRAM and L1 addresses), so the scenario runs against a full registry. */
static void prefill(ttm_registry *reg)
{
    for (uint32_t i = 0; i < PREFILL; i++) {
        ttm_event ev = {.kind = TTM_EV_ALLOC,
                        .device = (uint16_t)(i % 8),
                        .memtype = (i & 1) ? TTM_MEM_L1 : TTM_MEM_DRAM,
                        .ts = 1 + i,
                        .addr = 0x7f0000000000ull + (uint64_t)i * 4096,
                        .size = 4096,
                        .obj = 0x100000000ull + i};
        ttm_registry_apply(reg, 1, &ev);
    }
}

/* One round: a fresh registry with PREFILL live buffers; the scenario applied PASSES times
 * (its processes exit at the end of each pass, so every pass starts from the same live set).
 * *cold receives the first pass's time, the return value the median of the later passes:
 * the sustained rate of a daemon whose tables have grown to their working size. */
#define PASSES 5
static double run_round(const stream *s, size_t *live_mem, uint64_t *live, double *cold)
{
    ttm_registry *reg = NULL;
    if (ttm_registry_open(&reg, NULL) != TTM_OK) {
        fprintf(stderr, "bench_core: cannot open a registry: out of memory\n");
        exit(1);
    }
    prefill(reg);
    ttm_totals t;
    ttm_registry_totals(reg, &t);
    *live = t.live_records;
    *live_mem = ttm_registry_live_memory(reg);
    double warm[PASSES - 1];
    for (int p = 0; p < PASSES; p++) {
        double t0 = ttm_bench_now_s();
        /* as the daemon does: a batch per run of one process's events */
        for (size_t i = 0; i < s->n;) {
            size_t j = i + 1;
            while (j < s->n && j - i < 1024 && s->pid[j] == s->pid[i])
                j++;
            ttm_registry_apply_batch(reg, s->pid[i], &s->ev[i], j - i, NULL);
            i = j;
        }
        double dt = ttm_bench_now_s() - t0;
        if (p == 0)
            *cold = dt;
        else
            warm[p - 1] = dt;
    }
    ttm_registry_close(reg);
    qsort(warm, PASSES - 1, sizeof warm[0], ttm_bench_cmp_double);
    return warm[(PASSES - 1) / 2];
}

static double copy_round(const stream *s)
{
    ttm_event *dst = ttm__xmalloc(s->n * sizeof *dst);
    double t0 = ttm_bench_now_s();
    memcpy(dst, s->ev, s->n * sizeof *dst);
    double dt = ttm_bench_now_s() - t0;
    volatile uint8_t sink = dst[s->n / 2].kind;
    (void)sink;
    ttm__free(dst);
    return dt;
}

int main(int argc, char **argv)
{
    static const char *const modes[] = {"identity", "legacy"};
    printf("bench_core: llama scenario on top of %u live buffers, median of %d rounds\n",
           PREFILL, ROUNDS);
    printf("%-9s %9s %12s %10s %14s %14s %12s\n", "client", "events", "events/s", "ns/event",
           "cold events/s", "B/live buffer", "copy ns/ev");
    for (int m = 0; m < 2; m++) {
        if (argc > 1 && strcmp(argv[1], modes[m]) != 0)
            continue;
        stream s = {0};
        if (ttm_sim_run("llama", (ttm_sim_client)m, 42, collect, &s, NULL) != TTM_OK) {
            fprintf(stderr, "bench_core: the llama scenario is missing\n");
            return 1;
        }
        double dts[ROUNDS], colds[ROUNDS], copies[ROUNDS];
        size_t live_mem = 0;
        uint64_t live = 0;
        for (int r = 0; r < ROUNDS; r++) {
            dts[r] = run_round(&s, &live_mem, &live, &colds[r]);
            copies[r] = copy_round(&s);
        }
        qsort(dts, ROUNDS, sizeof dts[0], ttm_bench_cmp_double);
        qsort(copies, ROUNDS, sizeof copies[0], ttm_bench_cmp_double);
        qsort(colds, ROUNDS, sizeof colds[0], ttm_bench_cmp_double);
        double med = dts[ROUNDS / 2];
        printf("%-9s %9zu %12.0f %10.1f %14.0f %14.1f %12.2f\n", modes[m], s.n,
               (double)s.n / med, med * 1e9 / (double)s.n, (double)s.n / colds[ROUNDS / 2],
               (double)live_mem / (double)live, copies[ROUNDS / 2] * 1e9 / (double)s.n);
        ttm__free(s.ev);
        ttm__free(s.pid);
    }
    return 0;
}
