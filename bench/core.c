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
 * Each scenario runs twice in every round: as the clients send it with stacks off (no stack,
 * no scope), and "+sites": the same events carrying call sites as a daemon hands them over
 * with stacks and scopes on (budget ≥ 5 M events/s): NSITES distinct stacks of SITE_DEPTH
 * native frames over a few modules, interned in the registry's table before the timing, one
 * chosen per ALLOC by its address and size and per FREE by its address (allocation and release
 * sites differ), and one of NSCOPES scope names per run of 64 events; the prefilled buffers
 * carry sites too, so the memory per live buffer with contexts is measured beside the one
 * without.
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
#include "core/store.h"
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

#define NSITES 512
#define SITE_DEPTH 16
#define NSCOPES 32

/* The call sites of the "+sites" runs: the ids their interning gives in a fresh registry
 * (the same in every one: ids are handed out in order of first sight). */
static uint32_t site_stacks[NSITES], site_scopes[NSCOPES];

static void intern_sites(ttm_registry *reg)
{
    ttm_stacks *st = ttm_registry_stacks(reg);
    uint32_t mods[4];
    for (unsigned m = 0; m < 4; m++) {
        char path[32];
        int n = snprintf(path, sizeof path, "/usr/lib/libbench%u.so", m);
        uint8_t bid[20] = {(uint8_t)m, 0xbe, 0x7c};
        mods[m] = ttm_stacks_module(st, bid, sizeof bid, path, (size_t)n);
    }
    for (unsigned i = 0; i < NSITES; i++) {
        uint32_t frames[SITE_DEPTH];
        for (unsigned d = 0; d < SITE_DEPTH; d++) {
            /* shared outer frames (main, the runtime), distinct inner ones */
            unsigned k = d < SITE_DEPTH / 2 ? i * SITE_DEPTH + d : d;
            ttm_frame f = {.kind = TTM_FRAME_NATIVE,
                           .module = mods[k % 4],
                           .offset = 0x1000 + 0x10ull * k};
            frames[d] = ttm_stacks_frame(st, &f);
        }
        uint32_t id = ttm_stacks_stack(st, frames, SITE_DEPTH);
        if (id == 0 || (site_stacks[i] != 0 && site_stacks[i] != id)) {
            fprintf(stderr, "bench_core: cannot intern the call sites\n");
            exit(1);
        }
        site_stacks[i] = id;
    }
    for (unsigned i = 0; i < NSCOPES; i++) {
        char name[16];
        int n = snprintf(name, sizeof name, "op%u", i);
        site_scopes[i] = ttm_stacks_string(st, name, (size_t)n);
    }
}

/* The stream with call sites on its ALLOC and FREE events (intern_sites() done first). */
static void add_sites(const stream *s, stream *out)
{
    *out = (stream){.n = s->n, .cap = s->n, .pid = s->pid};
    out->ev = ttm__xmalloc(s->n * sizeof *out->ev);
    memcpy(out->ev, s->ev, s->n * sizeof *out->ev);
    for (size_t i = 0; i < s->n; i++) {
        ttm_event *ev = &out->ev[i];
        if (ev->kind != TTM_EV_ALLOC && ev->kind != TTM_EV_FREE)
            continue;
        uint64_t h = ttm__mix64(ev->addr ^ (ev->kind == TTM_EV_ALLOC ? ev->size << 48 : 0));
        ev->stack = site_stacks[(h % (NSITES / 2)) + (ev->kind == TTM_EV_FREE ? NSITES / 2 : 0)];
        ev->scope = site_scopes[(i / 64) % NSCOPES];
    }
}

/* 100,000 live buffers owned by a long-running process, in an address range that the scenario
 * does not use (high DRAM and L1 addresses), so the scenario runs against a full registry. */
static void prefill(ttm_registry *reg, bool sites)
{
    for (uint32_t i = 0; i < PREFILL; i++) {
        ttm_event ev = {.kind = TTM_EV_ALLOC,
                        .device = (uint16_t)(i % 8),
                        .memtype = (i & 1) ? TTM_MEM_L1 : TTM_MEM_DRAM,
                        .ts = 1 + i,
                        .addr = 0x7f0000000000ull + (uint64_t)i * 4096,
                        .size = 4096,
                        .obj = 0x100000000ull + i};
        if (sites) {
            ev.stack = site_stacks[i % (NSITES / 2)];
            ev.scope = site_scopes[i % NSCOPES];
        }
        ttm_registry_apply(reg, 1, &ev);
    }
}

/* One round: a fresh registry with PREFILL live buffers; the scenario applied PASSES times
 * (its processes exit at the end of each pass, so every pass starts from the same live set).
 * *cold receives the first pass's time, the return value the median of the later passes:
 * the sustained rate of a daemon whose tables have grown to their working size. */
#define PASSES 5
static double run_round(const stream *s, bool sites, size_t *live_mem, uint64_t *live,
                        double *cold)
{
    ttm_registry *reg = NULL;
    if (ttm_registry_open(&reg, NULL) != TTM_OK) {
        fprintf(stderr, "bench_core: cannot open a registry: out of memory\n");
        exit(1);
    }
    if (sites)
        intern_sites(reg);
    prefill(reg, sites);
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
    printf("%-15s %9s %12s %10s %14s %14s %12s %12s %10s\n", "client", "events", "events/s",
           "ns/event", "cold events/s", "B/live buffer", "copy ns/ev", "bare ns/ev", "ratio");
    {
        /* the call sites' ids, once (every registry gives the same) */
        ttm_registry *reg = NULL;
        if (ttm_registry_open(&reg, NULL) != TTM_OK) {
            fprintf(stderr, "bench_core: cannot open a registry: out of memory\n");
            return 1;
        }
        intern_sites(reg);
        ttm_registry_close(reg);
    }
    for (int m = 0; m < 2; m++) {
        if (argc > 1 && strcmp(argv[1], modes[m]) != 0)
            continue;
        stream s = {0}, ss;
        if (ttm_sim_run("llama", (ttm_sim_client)m, 42, collect, &s, NULL) != TTM_OK) {
            fprintf(stderr, "bench_core: the llama scenario is missing\n");
            return 1;
        }
        add_sites(&s, &ss);
        double dts[2][ROUNDS], colds[2][ROUNDS], copies[ROUNDS], bares[ROUNDS];
        size_t live_mem[2] = {0, 0};
        uint64_t live[2] = {0, 0};
        /* stacks off and "+sites" alternate within each round: the same machine state */
        for (int r = 0; r < ROUNDS; r++) {
            dts[0][r] = run_round(&s, false, &live_mem[0], &live[0], &colds[0][r]);
            dts[1][r] = run_round(&ss, true, &live_mem[1], &live[1], &colds[1][r]);
            copies[r] = copy_round(&s);
            bares[r] = bare_round(&s);
        }
        qsort(copies, ROUNDS, sizeof copies[0], ttm_bench_cmp_double);
        qsort(bares, ROUNDS, sizeof bares[0], ttm_bench_cmp_double);
        double bare = bares[ROUNDS / 2];
        for (int k = 0; k < 2; k++) {
            qsort(dts[k], ROUNDS, sizeof dts[k][0], ttm_bench_cmp_double);
            qsort(colds[k], ROUNDS, sizeof colds[k][0], ttm_bench_cmp_double);
            double med = dts[k][ROUNDS / 2];
            char name[32];
            snprintf(name, sizeof name, "%s%s", modes[m], k ? "+sites" : "");
            printf("%-15s %9zu %12.0f %10.1f %14.0f %14.1f %12.2f %12.2f %10.2f\n", name, s.n,
                   (double)s.n / med, med * 1e9 / (double)s.n,
                   (double)s.n / colds[k][ROUNDS / 2], (double)live_mem[k] / (double)live[k],
                   copies[ROUNDS / 2] * 1e9 / (double)s.n, bare * 1e9 / (double)s.n,
                   med / bare);
        }
        printf("%-15s +sites / stacks off: %.2f x the time per event\n", modes[m],
               dts[1][ROUNDS / 2] / dts[0][ROUNDS / 2]);
        ttm__free(ss.ev);
        ttm__free(s.ev);
        ttm__free(s.pid);
    }
    return 0;
}
