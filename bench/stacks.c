/*
 * bench/stacks.c — what a stack costs an event (issue 11's budgets: ≤ 150 ns median for the
 * frame-pointer walk at depth 32, ≤ 600 ns for the other unwinder): ns per capture + intern at
 * depth 32, for both walkers, at the bottom of a recursive call chain of 40 frames built with
 * frame pointers, beside the same-run baseline of an empty noinline call at the same place;
 * one thread, and two threads at once (pinned one per CPU) interning into the same table.
 *
 * Every capture comes from the same call site, so after the first one the intern is the
 * lookup of a stack seen before: the case of every event but the first of each call site.
 *
 * Method: each thread times batches of BATCH calls with clock_gettime; the figures are the
 * median and the 99th percentile of the per-batch means over all batches of all threads.
 *
 * Usage: bench_stacks [calls_per_thread]   (default 400,000)
 */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "client/stack.h"

#define BATCH 256
#define CHAIN 40
#define DEPTH 32

enum { KIND_BASELINE, KIND_FP_WALK, KIND_FP, KIND_UNWIND, KIND_N };
static const char *const kind_name[KIND_N] = {"baseline: empty noinline call",
                                              "frame-pointer walk alone",
                                              "frame-pointer walk + intern",
                                              "_Unwind_Backtrace + intern"};

typedef struct run {
    int kind;
    unsigned cpu;
    size_t batches;
    double *means; /* ns per call, one per batch */
    uint32_t id;
    unsigned depth;
} run;

static volatile uint32_t sink;

static __attribute__((noinline)) uint32_t empty_call(void)
{
    __asm__ volatile("" ::: "memory");
    return 1;
}

static __attribute__((noinline)) uint32_t stack_event(int kind, unsigned *depth)
{
    uintptr_t pcs[DEPTH];
    unsigned n = ttm__stack_capture(pcs, DEPTH, 0, kind == KIND_UNWIND ? TTM__STACK_UNWIND
                                                                       : TTM__STACK_FP);
    *depth = n;
    if (kind == KIND_FP_WALK)
        return (uint32_t)pcs[0] & 1;
    return ttm__stack_intern(ttm__stack_table_process(), pcs, n);
}

static void measure(run *r)
{
    for (size_t b = 0; b < r->batches; b++) {
        uint64_t t0 = ttm_bench_now_ns();
        uint32_t acc = 0;
        for (int i = 0; i < BATCH; i++)
            acc += r->kind == KIND_BASELINE ? empty_call() : stack_event(r->kind, &r->depth);
        uint64_t t1 = ttm_bench_now_ns();
        r->means[b] = (double)(t1 - t0) / BATCH;
        r->id = acc / BATCH;
    }
}

static __attribute__((noinline)) void chain(unsigned k, run *r)
{
    if (k == 0)
        measure(r);
    else
        chain(k - 1, r);
    sink++; /* not a tail call */
}

static void *thread_main(void *p)
{
    run *r = p;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(r->cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set); /* best effort */
    chain(CHAIN - 2, r); /* thread_main and chain's frames: CHAIN with measure's */
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    return ttm_bench_cmp_double(a, b);
}

/* Runs kind on nthreads threads; prints and returns the median. */
static double bench(int kind, unsigned nthreads, size_t calls)
{
    run r[2];
    pthread_t th[2];
    size_t batches = calls / BATCH ? calls / BATCH : 1;
    for (unsigned i = 0; i < nthreads; i++) {
        r[i] = (run){.kind = kind, .cpu = i, .batches = batches};
        r[i].means = calloc(batches, sizeof(double));
        if (r[i].means == NULL || pthread_create(&th[i], NULL, thread_main, &r[i]) != 0) {
            fprintf(stderr, "bench_stacks: cannot start a thread\n");
            exit(1);
        }
    }
    for (unsigned i = 0; i < nthreads; i++)
        pthread_join(th[i], NULL);
    size_t n = batches * nthreads;
    double *all = malloc(n * sizeof *all);
    if (all == NULL)
        exit(1);
    for (unsigned i = 0; i < nthreads; i++) {
        memcpy(all + i * batches, r[i].means, batches * sizeof *all);
        free(r[i].means);
    }
    qsort(all, n, sizeof *all, cmp);
    double med = all[n / 2], p99 = all[n * 99 / 100];
    free(all);
    printf("  %-32s %u thread%s  median %7.1f ns  p99 %7.1f ns", kind_name[kind], nthreads,
           nthreads > 1 ? "s" : " ", med, p99);
    if (kind != KIND_BASELINE)
        printf("  (depth %u, id %u)", r[0].depth, r[0].id);
    printf("\n");
    return med;
}

int main(int argc, char **argv)
{
    size_t calls = argc > 1 ? strtoull(argv[1], NULL, 10) : 400000;
    ttm_bench_machine();
    printf("bench_stacks: %zu calls per thread per figure, chain of %d frames, depth %d\n", calls,
           CHAIN, DEPTH);
    if (ttm__stack_table_process() == NULL) {
        fprintf(stderr, "bench_stacks: no stack table\n");
        return 1;
    }
    for (unsigned nt = 1; nt <= 2; nt++) {
        double base = bench(KIND_BASELINE, nt, calls);
        bench(KIND_FP_WALK, nt, calls);
        double fp = bench(KIND_FP, nt, calls);
        double uw = bench(KIND_UNWIND, nt, calls);
        printf("  %u thread%s: frame-pointer %.1f× the baseline, unwinder %.1f×; unwinder / "
               "frame-pointer %.1f×\n",
               nt, nt > 1 ? "s" : "", fp / base, uw / base, uw / fp);
    }
    ttm__stack_stats st;
    ttm__stack_table_stats(ttm__stack_table_process(), &st);
    printf("  table: %llu stacks, %llu bytes of addresses, %llu refused\n",
           (unsigned long long)st.stacks, (unsigned long long)st.arena_bytes,
           (unsigned long long)st.full);
    return 0;
}
