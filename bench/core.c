/*
 * bench/core.c — ingest rate of the core registry on the llama mix with 100,000 live buffers,
 * and the registry's memory per live buffer (the budgets, docs/ARCHITECTURE.md: ≥ 15 M events/s,
 * ≤ 64 B/buffer).
 *
 * The llama scenario's events (identity and legacy client behaviours) are generated once into
 * memory; each round opens a registry, fills it with 100,000 long-lived buffers spread over 8
 * devices, then times applying the whole scenario on top of them, five passes in a row: the
 * first pass ("cold": tables still growing) and the median of the others (sustained) are
 * printed, each the median over the rounds. Two baselines from the same run: a plain loop that
 * only copies the events (memory bandwidth floor), and a bare open-addressing table of
 * (device, space, addr) keys, prefilled with the same 100,000 keys, into which each ALLOC of
 * the scenario inserts its key and each FREE erases it (a FREE without memtype tries the
 * spaces in turn): the least any tracker must do per event. The claim is the ratio of the
 * registry's time per event to the bare table's, which the machine's speed and load largely
 * cancel out of.
 *
 * `bench_core exit`: the settle rate of an exit (records reclaimed per second) of a process
 * holding EXIT_BIG live buffers while another holds EXIT_OTHER, in steps of the daemon's
 * per-turn budget (the longest step is printed: what one loop turn spends), and the cost of a
 * tiny process's exit next to them (records visited: its own, whatever the others hold). The
 * baseline from the same run: the rate at which the same buffers were allocated.
 *
 * usage: bench_core [identity|legacy|exit]   (identity and legacy by default)
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

#define EXIT_BIG 2000000u
#define EXIT_OTHER 1000000u
#define EXIT_STEP 32768u /* the daemon's records per loop turn (session.c) */

static void fill(ttm_registry *reg, uint32_t pid, uint32_t n, uint64_t base, uint64_t *ts)
{
    for (uint32_t i = 0; i < n; i++) {
        ttm_event ev = {.kind = TTM_EV_ALLOC,
                        .device = (uint16_t)(i % 8),
                        .memtype = TTM_MEM_DRAM,
                        .ts = ++*ts,
                        .addr = base + (uint64_t)i * 4096,
                        .size = 4096,
                        .obj = base + i};
        ttm_registry_apply(reg, pid, &ev);
    }
}

static int exit_bench(void)
{
    ttm_registry *reg = NULL;
    if (ttm_registry_open(&reg, NULL) != TTM_OK) {
        fprintf(stderr, "bench_core: cannot open a registry: out of memory\n");
        return 1;
    }
    uint64_t ts = 0;
    fill(reg, 2, EXIT_OTHER, 0x100000000000ull, &ts);
    double t0 = ttm_bench_now_s();
    fill(reg, 1, EXIT_BIG, 0x200000000000ull, &ts);
    double fill_s = ttm_bench_now_s() - t0;
    fill(reg, 3, 3, 0x300000000000ull, &ts);

    ttm_exit_progress pr;
    double t1 = ttm_bench_now_s();
    bool done = ttm_registry_process_exit_step(reg, 3, ++ts, SIZE_MAX, &pr);
    double tiny_s = ttm_bench_now_s() - t1;
    size_t tiny_visited = pr.visited;

    double longest = 0, t2 = ttm_bench_now_s();
    size_t steps = 0, settled = 0;
    done = false;
    while (!done) {
        double s0 = ttm_bench_now_s();
        done = ttm_registry_process_exit_step(reg, 1, ++ts, EXIT_STEP, &pr);
        double ds = ttm_bench_now_s() - s0;
        longest = ds > longest ? ds : longest;
        settled += pr.visited;
        steps++;
    }
    double exit_s = ttm_bench_now_s() - t2;
    printf("bench_core exit: %u buffers of one process settled (%u of another live)\n", EXIT_BIG,
           EXIT_OTHER);
    printf("%-34s %14s %10s\n", "", "records/s", "ns/record");
    printf("%-34s %14.0f %10.1f\n", "allocating them (baseline)", EXIT_BIG / fill_s,
           fill_s * 1e9 / EXIT_BIG);
    printf("%-34s %14.0f %10.1f\n", "settling the exit", (double)settled / exit_s,
           exit_s * 1e9 / (double)settled);
    printf("exit/alloc ratio %.2f; %zu steps of %u, longest %.1f ms\n", fill_s / exit_s, steps,
           EXIT_STEP, longest * 1e3);
    printf("a 3-buffer process's exit next to them: %zu records visited, %.1f us\n",
           tiny_visited, tiny_s * 1e6);
    ttm_registry_close(reg);
    return 0;
}

/* ---- the bare baseline: an open-addressing set of (device, space, addr) --------------------- */

/* A slot: the address, and the key's rest packed as bit 0 used, bit 1 tombstone, bits 2-3
 * space, bits 8-23 device (0: empty). */
typedef struct bare_slot {
    uint64_t addr;
    uint64_t meta;
} bare_slot;

typedef struct bare_set {
    bare_slot *s;
    size_t mask, used, live;
} bare_set;

static uint64_t bare_hash(uint64_t addr, uint64_t meta)
{
    uint64_t x = addr ^ (meta << 40);
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t bare_meta(uint16_t device, unsigned space)
{
    return 1u | (uint64_t)space << 2 | (uint64_t)device << 8;
}

static void bare_insert(bare_set *t, uint64_t addr, uint64_t meta);

/* Doubles the table (load ≤ 1/2), dropping the tombstones. */
static void bare_grow(bare_set *t)
{
    bare_set n = {.mask = t->mask ? t->mask * 2 + 1 : 1023};
    n.s = ttm__xcalloc(n.mask + 1, sizeof *n.s);
    for (size_t i = 0; t->mask && i <= t->mask; i++)
        if (t->s[i].meta & 1)
            bare_insert(&n, t->s[i].addr, t->s[i].meta);
    ttm__free(t->s);
    *t = n;
}

static void bare_insert(bare_set *t, uint64_t addr, uint64_t meta)
{
    if ((t->used + 1) * 2 > t->mask + 1)
        bare_grow(t);
    size_t tomb = SIZE_MAX;
    for (size_t i = bare_hash(addr, meta) & t->mask;; i = (i + 1) & t->mask) {
        if (t->s[i].meta == 0) {
            if (tomb == SIZE_MAX)
                t->used++;
            else
                i = tomb;
            t->s[i] = (bare_slot){addr, meta};
            t->live++;
            return;
        }
        if (t->s[i].meta == 2 && tomb == SIZE_MAX)
            tomb = i;
        else if (t->s[i].meta == meta && t->s[i].addr == addr)
            return;
    }
}

static bool bare_erase(bare_set *t, uint64_t addr, uint64_t meta)
{
    for (size_t i = bare_hash(addr, meta) & t->mask;; i = (i + 1) & t->mask) {
        if (t->s[i].meta == 0)
            return false;
        if (t->s[i].meta == meta && t->s[i].addr == addr) {
            t->s[i].meta = 2;
            t->live--;
            return true;
        }
    }
}

/* One pass of the scenario's ALLOC / FREE keys through the bare set. noinline so that
 * callgrind can count it apart. */
__attribute__((noinline)) static void bare_pass(bare_set *t, const stream *s)
{
    for (size_t i = 0; i < s->n; i++) {
        const ttm_event *ev = &s->ev[i];
        if (ev->kind == TTM_EV_ALLOC && ev->memtype < TTM_MEMTYPE_COUNT) {
            bare_insert(t, ev->addr, bare_meta(ev->device, ttm__memtype_space(ev->memtype)));
        } else if (ev->kind == TTM_EV_FREE) {
            if (ev->memtype < TTM_MEMTYPE_COUNT) {
                (void)bare_erase(t, ev->addr,
                                 bare_meta(ev->device, ttm__memtype_space(ev->memtype)));
                continue;
            }
            for (unsigned sp = 0; sp < TTM_SPACE_COUNT; sp++)
                if (bare_erase(t, ev->addr, bare_meta(ev->device, sp)))
                    break;
        }
    }
}

/* One round of the baseline, shaped as run_round(): the set prefilled with the same keys as
 * prefill(), then PASSES passes, each from a copy of the prefilled set (made outside the
 * timing: the bare set has no exits to return it to the live set); the median of the later
 * passes. */
static double bare_round(const stream *s)
{
    bare_set pre = {0};
    for (uint32_t i = 0; i < PREFILL; i++)
        bare_insert(&pre, 0x7f0000000000ull + (uint64_t)i * 4096,
                    bare_meta((uint16_t)(i % 8), (i & 1) ? TTM_SPACE_L1 : TTM_SPACE_DRAM));
    bare_set t = pre;
    t.s = ttm__xmalloc((pre.mask + 1) * sizeof *t.s);
    double warm[PASSES - 1];
    for (int p = 0; p < PASSES; p++) {
        ttm__free(t.s);
        t = pre;
        t.s = ttm__xmalloc((pre.mask + 1) * sizeof *t.s);
        memcpy(t.s, pre.s, (pre.mask + 1) * sizeof *t.s);
        double t0 = ttm_bench_now_s();
        bare_pass(&t, s);
        double dt = ttm_bench_now_s() - t0;
        if (p > 0)
            warm[p - 1] = dt;
    }
    ttm__free(t.s);
    ttm__free(pre.s);
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
    if (argc > 1 && strcmp(argv[1], "exit") == 0)
        return exit_bench();
    printf("bench_core: llama scenario on top of %u live buffers, median of %d rounds\n",
           PREFILL, ROUNDS);
    printf("ratio = ns/event of the registry / ns/event of a bare open-addressing insert/erase "
           "of the same keys\n");
    printf("%-9s %9s %12s %10s %14s %14s %12s %12s %10s\n", "client", "events", "events/s",
           "ns/event", "cold events/s", "B/live buffer", "copy ns/ev", "bare ns/ev", "ratio");
    for (int m = 0; m < 2; m++) {
        if (argc > 1 && strcmp(argv[1], modes[m]) != 0)
            continue;
        stream s = {0};
        if (ttm_sim_run("llama", (ttm_sim_client)m, 42, collect, &s, NULL) != TTM_OK) {
            fprintf(stderr, "bench_core: the llama scenario is missing\n");
            return 1;
        }
        double dts[ROUNDS], colds[ROUNDS], copies[ROUNDS], bares[ROUNDS];
        size_t live_mem = 0;
        uint64_t live = 0;
        for (int r = 0; r < ROUNDS; r++) {
            dts[r] = run_round(&s, &live_mem, &live, &colds[r]);
            copies[r] = copy_round(&s);
            bares[r] = bare_round(&s);
        }
        qsort(dts, ROUNDS, sizeof dts[0], ttm_bench_cmp_double);
        qsort(copies, ROUNDS, sizeof copies[0], ttm_bench_cmp_double);
        qsort(colds, ROUNDS, sizeof colds[0], ttm_bench_cmp_double);
        qsort(bares, ROUNDS, sizeof bares[0], ttm_bench_cmp_double);
        double med = dts[ROUNDS / 2], bare = bares[ROUNDS / 2];
        printf("%-9s %9zu %12.0f %10.1f %14.0f %14.1f %12.2f %12.2f %10.2f\n", modes[m], s.n,
               (double)s.n / med, med * 1e9 / (double)s.n, (double)s.n / colds[ROUNDS / 2],
               (double)live_mem / (double)live, copies[ROUNDS / 2] * 1e9 / (double)s.n,
               bare * 1e9 / (double)s.n, med / bare);
        ttm__free(s.ev);
        ttm__free(s.pid);
    }
    return 0;
}
