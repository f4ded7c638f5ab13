/*
 * bench/stacks.c — what a stack costs an event (issue 11's budgets: ≤ 150 ns median for the
 * frame-pointer walk at depth 32, ≤ 600 ns for the other unwinder, ≥ 5× cheaper than heaptrack):
 * ns per capture + intern at depth 32 at the bottom of a recursive call chain of 40 frames,
 * beside the same-run baseline of an empty noinline call at the same place; one thread, and two
 * threads at once (pinned one per CPU) interning into the same table.
 *
 *   - the frame-pointer walk on a chain built with frame pointers (this file);
 *   - the frame-pointer walk, libunwind (unw_backtrace, dlopen'ed by unwind.c; with its default
 *     caching policy, then with UNW_CACHE_PER_THREAD) and libgcc (_Unwind_Backtrace) on a chain
 *     built without them (stacks_nofp.c), as Debian 12's code is;
 *   - heaptrack's baseline: a malloc(64) + free loop at the bottom of the same chain without
 *     frame pointers, run in a child process with and without `heaptrack` (found in PATH), in
 *     this run; beside it the same loop with what ttmem adds to an alloc and a free event with
 *     stacks on (captures by libunwind + interns: on the alloc and the free, or on the alloc
 *     only), and what two frame-pointer walks would add.
 *
 * Every capture comes from the same call site, so after the first one the intern is the lookup
 * of a stack seen before: the case of every event but the first of each call site.
 *
 * Method: each thread times batches of BATCH calls with clock_gettime; the figures are the
 * median and the 99th percentile of the per-batch means over all batches of all threads.
 *
 * Usage: bench_stacks [calls_per_thread]   (default 400,000; libgcc's figure uses a tenth)
 *        bench_stacks --malloc-child CALLS (internal: the heaptrack child; prints "ns X")
 */
#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"
#include "client/stack.h"
#include "client/unwind.h"
#include "stacks_nofp.h"

#define BATCH 256
#define CHAIN 40
#define DEPTH 32

enum {
    KIND_BASELINE,
    KIND_FP_WALK,
    KIND_FP,
    KIND_FP_NOFP,
    KIND_LIBUNWIND,
    KIND_LIBUNWIND_PT,
    KIND_LIBGCC,
    KIND_MALLOC,
    KIND_MALLOC_TTM,
    KIND_MALLOC_TTM1,
    KIND_N
};
static const char *const kind_name[KIND_N] = {
    "baseline: empty noinline call",
    "fp walk alone (fp chain)",
    "fp walk + intern (fp chain)",
    "fp walk + intern (no-fp chain)",
    "libunwind + intern (no-fp)",
    "libunwind per-thread + intern",
    "libgcc + intern (no-fp)",
    "malloc+free (no-fp chain)",
    "malloc+free + 2 ttmem stacks",
    "malloc+free + 1 ttmem stack",
};

typedef struct run {
    int kind;
    unsigned cpu;
    size_t batches;
    double *means; /* ns per call, one per batch */
    uint32_t id;
    unsigned depth;
} run;

static volatile uint32_t sink;
static void *volatile sink_ptr;

static __attribute__((noinline)) uint32_t empty_call(void)
{
    __asm__ volatile("" ::: "memory");
    return 1;
}

static __attribute__((noinline)) uint32_t stack_event(int kind, unsigned *depth)
{
    uintptr_t pcs[DEPTH];
    unsigned n;
    if (kind == KIND_FP_WALK || kind == KIND_FP || kind == KIND_FP_NOFP)
        n = ttm__stack_capture(pcs, DEPTH, 0, TTM__STACK_FP);
    else
        n = ttm__unwind_capture(pcs, DEPTH, 0);
    *depth = n;
    if (kind == KIND_FP_WALK)
        return (uint32_t)pcs[0] & 1;
    return ttm__stack_intern(ttm__stack_table_process(), pcs, n);
}

static __attribute__((noinline)) uint32_t malloc_free(int kind, unsigned *depth)
{
    void *p = malloc(64);
    sink_ptr = p;
    uint32_t id = 0;
    if (kind == KIND_MALLOC_TTM || kind == KIND_MALLOC_TTM1)
        id = stack_event(KIND_LIBUNWIND, depth);
    free(p);
    if (kind == KIND_MALLOC_TTM)
        id += stack_event(KIND_LIBUNWIND, depth);
    return id;
}

static void measure(void *arg)
{
    run *r = arg;
    for (size_t b = 0; b < r->batches; b++) {
        uint64_t t0 = ttm_bench_now_ns();
        uint32_t acc = 0;
        for (int i = 0; i < BATCH; i++) {
            if (r->kind == KIND_BASELINE)
                acc += empty_call();
            else if (r->kind >= KIND_MALLOC)
                acc += malloc_free(r->kind, &r->depth);
            else
                acc += stack_event(r->kind, &r->depth);
        }
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

static bool on_nofp_chain(int kind)
{
    return kind >= KIND_FP_NOFP;
}

static void *thread_main(void *p)
{
    run *r = p;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(r->cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set); /* best effort */
    /* thread_main and the chain's frames: CHAIN with measure's */
    if (on_nofp_chain(r->kind))
        ttm_bench_chain_nofp(CHAIN - 2, measure, r);
    else
        chain(CHAIN - 2, r);
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    return ttm_bench_cmp_double(a, b);
}

/* Runs kind on nthreads threads; prints (unless quiet) and returns the median. */
static double bench(int kind, unsigned nthreads, size_t calls, bool quiet)
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
    if (quiet)
        return med;
    printf("  %-32s %u thread%s  median %8.1f ns  p99 %8.1f ns", kind_name[kind], nthreads,
           nthreads > 1 ? "s" : " ", med, p99);
    if (kind != KIND_BASELINE && kind != KIND_MALLOC)
        printf("  (depth %u, id %u)", r[0].depth, r[0].id);
    printf("\n");
    return med;
}

/* libunwind's caching policy of its local address space (UNW_CACHE_NONE 0, GLOBAL 1,
 * PER_THREAD 2), through the library unwind.c loaded; false when it cannot be set. */
static bool unw_caching(int policy)
{
#if defined(__x86_64__)
#define UNW_PREFIX "_ULx86_64_"
#elif defined(__aarch64__)
#define UNW_PREFIX "_ULaarch64_"
#else
#define UNW_PREFIX "_UL?_"
#endif
    void *h = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
    if (h == NULL)
        return false;
    int (*set)(void *as, int policy);
    void *sym = dlsym(h, UNW_PREFIX "set_caching_policy");
    void **as = dlsym(h, UNW_PREFIX "local_addr_space");
    memcpy(&set, &sym, sizeof set);
    bool ok = set != NULL && as != NULL && set(*as, policy) == 0;
    dlclose(h);
    return ok;
}

/* Runs `[heaptrack -o DIR/ht] SELF --malloc-child CALLS` and returns the child's "ns X"
 * figure, or -1 when it could not run (heaptrack's own lines go to /dev/null). */
static double malloc_child(bool heaptrack, size_t calls, const char *dir)
{
    char cmd[1024], self[512];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0)
        return -1;
    self[len] = 0;
    if (heaptrack)
        snprintf(cmd, sizeof cmd, "heaptrack -o %s/ht %s --malloc-child %zu 2>/dev/null", dir,
                 self, calls);
    else
        snprintf(cmd, sizeof cmd, "%s --malloc-child %zu", self, calls);
    FILE *p = popen(cmd, "r");
    if (p == NULL)
        return -1;
    char line[256];
    double ns = -1;
    while (fgets(line, sizeof line, p) != NULL)
        if (strncmp(line, "ns ", 3) == 0)
            ns = strtod(line + 3, NULL);
    if (pclose(p) != 0)
        return -1;
    return ns;
}

/* fp: the frame-pointer walk + intern figure of this run (on the chain with frame pointers). */
static void heaptrack_baseline(size_t calls, double fp)
{
    char dir[] = "/tmp/ttmem-bench-heaptrack.XXXXXX";
    if (mkdtemp(dir) == NULL) {
        printf("  heaptrack: no temporary directory\n");
        return;
    }
    double plain = malloc_child(false, calls, dir);
    double ht = malloc_child(true, calls, dir);
    double in_proc = bench(KIND_MALLOC, 1, calls, false);
    double ttm = bench(KIND_MALLOC_TTM, 1, calls, false);
    double ttm1 = bench(KIND_MALLOC_TTM1, 1, calls, false);
    char rm[128];
    snprintf(rm, sizeof rm, "rm -rf %s", dir);
    if (system(rm) != 0)
        fprintf(stderr, "bench_stacks: could not remove %s\n", dir);
    if (plain < 0 || ht < 0) {
        printf("  heaptrack: could not run it (is /usr/bin/heaptrack there?)\n");
        return;
    }
    printf("  malloc+free in a child: %.1f ns; under heaptrack: %.1f ns (heaptrack adds %.1f ns)\n",
           plain, ht, ht - plain);
    double add2 = ttm - in_proc, add1 = ttm1 - in_proc, ht_add = ht - plain;
    printf("  heaptrack's addition / ttmem's: libunwind, stacks on the alloc and the free "
           "(+%.1f ns) %.1f×; on the alloc only (+%.1f ns) %.1f×; frame-pointer walk, both "
           "(+%.1f ns) %.1f×, alloc only %.1f×\n",
           add2, add2 > 0 ? ht_add / add2 : 0.0, add1, add1 > 0 ? ht_add / add1 : 0.0, 2 * fp,
           ht_add / (2 * fp), ht_add / fp);
}

int main(int argc, char **argv)
{
    if (argc > 2 && strcmp(argv[1], "--malloc-child") == 0) {
        run r = {.kind = KIND_MALLOC, .cpu = 0};
        r.batches = strtoull(argv[2], NULL, 10) / BATCH;
        if (r.batches == 0)
            r.batches = 1;
        r.means = calloc(r.batches, sizeof(double));
        if (r.means == NULL)
            return 1;
        ttm_bench_chain_nofp(CHAIN - 2, measure, &r);
        qsort(r.means, r.batches, sizeof(double), cmp);
        printf("ns %.2f\n", r.means[r.batches / 2]);
        free(r.means);
        return 0;
    }
    size_t calls = argc > 1 ? strtoull(argv[1], NULL, 10) : 400000;
    ttm_bench_machine();
    printf("bench_stacks: %zu calls per thread per figure, chain of %d frames, depth %d, "
           "unwinder: %s\n",
           calls, CHAIN, DEPTH, ttm__unwind_name());
    if (ttm__stack_table_process() == NULL) {
        fprintf(stderr, "bench_stacks: no stack table\n");
        return 1;
    }
    double fp1 = 0;
    for (unsigned nt = 1; nt <= 2; nt++) {
        double base = bench(KIND_BASELINE, nt, calls, false);
        bench(KIND_FP_WALK, nt, calls, false);
        double fp = bench(KIND_FP, nt, calls, false);
        if (nt == 1)
            fp1 = fp;
        bench(KIND_FP_NOFP, nt, calls, false);
        double uw = bench(KIND_LIBUNWIND, nt, calls, false);
        double pt = -1;
        if (unw_caching(2)) {
            pt = bench(KIND_LIBUNWIND_PT, nt, calls, false);
            unw_caching(1);
        }
        setenv("TTMEM_UNWINDER", "libgcc", 1);
        ttm__unwind_reset(NULL);
        double gcc = bench(KIND_LIBGCC, nt, calls / 10, false);
        unsetenv("TTMEM_UNWINDER");
        ttm__unwind_reset(NULL);
        printf("  %u thread%s: fp %.1f× the baseline, libunwind %.1f× (per-thread cache %.1f×), "
               "libgcc %.1f×; libunwind / fp %.1f×, libgcc / libunwind %.1f×\n",
               nt, nt > 1 ? "s" : "", fp / base, uw / base, pt > 0 ? pt / base : 0.0,
               gcc / base, uw / fp, gcc / uw);
    }
    heaptrack_baseline(calls / 4, fp1);
    ttm__stack_stats st;
    ttm__stack_table_stats(ttm__stack_table_process(), &st);
    printf("  table: %llu stacks, %llu bytes of addresses, %llu refused\n",
           (unsigned long long)st.stacks, (unsigned long long)st.arena_bytes,
           (unsigned long long)st.full);
    return 0;
}
