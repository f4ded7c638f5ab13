/*
 * test_stack.c — unit tests of libttmem's stack capture and intern table (src/client/stack.c),
 * linked statically. This file is built with -fno-omit-frame-pointer (tests/CMakeLists.txt) so
 * that its call chains can be walked by frame pointers.
 *
 * Covered: a known chain chain_a -> chain_b -> chain_c gives, with both walkers, the return
 * addresses into chain_c, chain_b, chain_a (named by dladdr), and both walkers the same ones;
 * skip drops frames; the depth bound holds; forged frame chains (a loop, a pointer going down,
 * one outside the stack, a misaligned one, a wild one) stop the walk without reading outside;
 * a corrupted saved frame pointer in a real chain stops the walk in a forked child without a
 * crash; on a coroutine's stack the walk records nothing; the same call site gives the same
 * id, different ones different ids; every new stack is emitted once, before its id is
 * published, and a refused one gets none (its id goes to the next); both bounds
 * (stacks, arena) return id 0 and count; threads interning the same stacks concurrently agree
 * on every id; a new thread reads its own stack bounds.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include <cmocka.h>

#include "client/stack.h"

/* noinline, and no specialised copy under another name (gcc's noclone; clang makes none). */
#if defined(__clang__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE __attribute__((noinline, noclone))
#endif
/* A chain chain_a -> chain_b -> chain_c -> capture. The three are exported (the test is linked
 * with -rdynamic) so that dladdr names the function holding a return address; dladdr checks the
 * symbol's size, so an address elsewhere is never taken for one of them. */
#define CHAIN NOINLINE __attribute__((visibility("default")))
static volatile int sink;
unsigned chain_a(uintptr_t *pcs, unsigned depth, unsigned skip, ttm__stack_walker w);
unsigned chain_b(uintptr_t *pcs, unsigned depth, unsigned skip, ttm__stack_walker w);
unsigned chain_c(uintptr_t *pcs, unsigned depth, unsigned skip, ttm__stack_walker w);

CHAIN unsigned chain_c(uintptr_t *pcs, unsigned depth, unsigned skip, ttm__stack_walker w)
{
    unsigned n = ttm__stack_capture(pcs, depth, skip, w);
    sink++;
    return n;
}

CHAIN unsigned chain_b(uintptr_t *pcs, unsigned depth, unsigned skip, ttm__stack_walker w)
{
    unsigned n = chain_c(pcs, depth, skip, w);
    sink++;
    return n;
}

CHAIN unsigned chain_a(uintptr_t *pcs, unsigned depth, unsigned skip, ttm__stack_walker w)
{
    unsigned n = chain_b(pcs, depth, skip, w);
    sink++;
    return n;
}

/* 0, 1, 2 for a return address inside chain_c, chain_b, chain_a; -1 otherwise. */
static int owner(uintptr_t pc)
{
    Dl_info info;
    if (dladdr((void *)(pc - 1), &info) == 0 || info.dli_sname == NULL)
        return -1;
    static const char *const names[] = {"chain_c", "chain_b", "chain_a"};
    for (int i = 0; i < 3; i++)
        if (strcmp(info.dli_sname, names[i]) == 0)
            return i;
    return -1;
}

static void check_chain(ttm__stack_walker w)
{
    uintptr_t pcs[TTM__STACK_DEPTH_MAX];
    unsigned n = chain_a(pcs, 32, 0, w);
    assert_true(n >= 4); /* c, b, a, this function at least */
    assert_int_equal(owner(pcs[0]), 0);
    assert_int_equal(owner(pcs[1]), 1);
    assert_int_equal(owner(pcs[2]), 2);
    assert_int_equal(owner(pcs[3]), -1);

    /* skip 1: chain_c's return address is dropped. */
    uintptr_t pcs2[TTM__STACK_DEPTH_MAX];
    unsigned n2 = chain_a(pcs2, 32, 1, w);
    assert_true(n2 >= 3);
    assert_int_equal(owner(pcs2[0]), 1);
    assert_int_equal(owner(pcs2[1]), 2);

    /* The depth bound. */
    assert_int_equal(chain_a(pcs, 2, 0, w), 2);
    assert_int_equal(owner(pcs[0]), 0);
    assert_int_equal(owner(pcs[1]), 1);
    assert_int_equal(chain_a(pcs, 0, 0, w), 0);
}

static void test_chain_fp(void **state)
{
    (void)state;
    check_chain(TTM__STACK_FP);
}

static void test_chain_unwind(void **state)
{
    (void)state;
    check_chain(TTM__STACK_UNWIND);
}

/* Through code with frame pointers both walkers see the same return addresses. */
static void test_walkers_agree(void **state)
{
    (void)state;
    uintptr_t pcs[2][TTM__STACK_DEPTH_MAX];
    unsigned n[2];
    for (int i = 0; i < 2; i++)
        n[i] = chain_a(pcs[i], 3, 0, i == 0 ? TTM__STACK_FP : TTM__STACK_UNWIND);
    assert_int_equal(n[0], 3);
    assert_int_equal(n[1], 3);
    /* The return addresses into chain_c, chain_b and chain_a: one call site each. */
    assert_memory_equal(pcs[0], pcs[1], 3 * sizeof pcs[0][0]);
}

/* Depth is clamped to TTM__STACK_DEPTH_MAX on a deep chain. */
NOINLINE static unsigned deep(unsigned k, uintptr_t *pcs, unsigned depth, ttm__stack_walker w)
{
    unsigned n = k == 0 ? ttm__stack_capture(pcs, depth, 0, w) : deep(k - 1, pcs, depth, w);
    sink++;
    return n;
}

static void test_depth_max(void **state)
{
    (void)state;
    uintptr_t pcs[TTM__STACK_DEPTH_MAX + 8];
    pcs[TTM__STACK_DEPTH_MAX] = 0x5a5a;
    assert_int_equal(deep(100, pcs, 1000, TTM__STACK_FP), TTM__STACK_DEPTH_MAX);
    assert_int_equal(pcs[TTM__STACK_DEPTH_MAX], 0x5a5a);
    assert_int_equal(deep(100, pcs, 1000, TTM__STACK_UNWIND), TTM__STACK_DEPTH_MAX);
    assert_int_equal(pcs[TTM__STACK_DEPTH_MAX], 0x5a5a);
    assert_int_equal(deep(100, pcs, 40, TTM__STACK_FP), 40);
}

/* Forged chains over a fake stack of 64 words. */
static void test_forged(void **state)
{
    (void)state;
    _Alignas(16) uintptr_t stk[64];
    memset(stk, 0, sizeof stk);
    uintptr_t lo = (uintptr_t)stk, hi = (uintptr_t)(stk + 64);
    uintptr_t pcs[16];

    /* A good chain of three frames: 0 -> 8 -> 20, the last one ends it (return address 0). */
    stk[0] = (uintptr_t)&stk[8];
    stk[1] = 0x1001;
    stk[8] = (uintptr_t)&stk[20];
    stk[9] = 0x1002;
    stk[20] = (uintptr_t)&stk[40];
    stk[21] = 0x1003;
    stk[40] = 0;
    stk[41] = 0;
    assert_int_equal(ttm__stack_fp_walk(stk, lo, hi, pcs, 16), 3);
    assert_int_equal(pcs[0], 0x1001);
    assert_int_equal(pcs[2], 0x1003);
    assert_int_equal(ttm__stack_fp_walk(stk, lo, hi, pcs, 2), 2);

    /* A loop: frame 20 points back at itself. */
    stk[20] = (uintptr_t)&stk[20];
    assert_int_equal(ttm__stack_fp_walk(stk, lo, hi, pcs, 16), 3);
    /* Going down: frame 20 points at 8. */
    stk[20] = (uintptr_t)&stk[8];
    assert_int_equal(ttm__stack_fp_walk(stk, lo, hi, pcs, 16), 3);
    /* Overlapping the previous frame (not two words above it). */
    stk[8] = (uintptr_t)&stk[9];
    assert_int_equal(ttm__stack_fp_walk(stk, lo, hi, pcs, 16), 2);
    /* Misaligned. */
    stk[8] = (uintptr_t)&stk[20] + 4;
    assert_int_equal(ttm__stack_fp_walk(stk, lo, hi, pcs, 16), 2);
    /* The last frame would straddle hi. */
    stk[8] = (uintptr_t)&stk[63];
    assert_int_equal(ttm__stack_fp_walk(stk, lo, hi, pcs, 16), 2);
    /* Outside the stack, wild and NULL: never dereferenced. */
    stk[8] = (uintptr_t)0xdead0000u;
    assert_int_equal(ttm__stack_fp_walk(stk, lo, hi, pcs, 16), 2);
    stk[8] = 0;
    assert_int_equal(ttm__stack_fp_walk(stk, lo, hi, pcs, 16), 2);
    assert_int_equal(ttm__stack_fp_walk((void *)0x10, lo, hi, pcs, 16), 0);
    assert_int_equal(ttm__stack_fp_walk(stk, lo, 8, pcs, 16), 0);
}

/* A real chain whose caller's saved frame pointer is overwritten: in a child, so that a walk
 * that followed it would only kill the child. */
NOINLINE static unsigned corrupt_then_capture(uintptr_t bad, uintptr_t *pcs)
{
    volatile uintptr_t *frame = __builtin_frame_address(0); /* volatile: the restore stays */
    uintptr_t saved = frame[0];
    frame[0] = bad; /* our caller's frame pointer, as the walk will read it */
    unsigned n = chain_c(pcs, 32, 0, TTM__STACK_FP);
    frame[0] = saved;
    return n;
}

static void test_corrupt_fp_child(void **state)
{
    (void)state;
    const uintptr_t bad[] = {0, 1, 0xdeadbeefu, (uintptr_t)-16, (uintptr_t)&sink};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            uintptr_t pcs[TTM__STACK_DEPTH_MAX];
            unsigned n = corrupt_then_capture(bad[i], pcs);
            /* The return addresses into chain_c, corrupt_then_capture and its caller (that one
             * lies beside the bad link and is intact), then the bad link stops the walk. */
            _exit(n == 3 && owner(pcs[0]) == 0 ? 0 : 10 + (int)n);
        }
        int st = 0;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
}

/* What an emit step was handed (record_emit), and whether it refuses. */
static struct {
    int n;
    bool refuse;
    uint32_t id[4];
    unsigned depth[4];
    uintptr_t pcs[4][4];
} emitted;

static bool record_emit(uint32_t id, const uintptr_t *pcs, unsigned n)
{
    if (emitted.n < 4) {
        emitted.id[emitted.n] = id;
        emitted.depth[emitted.n] = n;
        memcpy(emitted.pcs[emitted.n], pcs, (n < 4 ? n : 4) * sizeof *pcs);
        emitted.n++;
    }
    return !emitted.refuse;
}

/* Two call sites; their stacks are taken 2 deep (the return addresses into site_one or
 * site_two and into call_sites), so that they do not depend on how the compiler lays out the
 * tests' loops around call_sites. */
NOINLINE static uint32_t site_one(ttm__stack_table *t)
{
    uintptr_t pcs[2];
    unsigned n = ttm__stack_capture(pcs, 2, 0, TTM__STACK_FP);
    sink++;
    return ttm__stack_intern(t, pcs, n);
}

NOINLINE static uint32_t site_two(ttm__stack_table *t)
{
    uintptr_t pcs[2];
    unsigned n = ttm__stack_capture(pcs, 2, 0, TTM__STACK_FP);
    sink += 2;
    return ttm__stack_intern(t, pcs, n);
}

NOINLINE static void call_sites(ttm__stack_table *t, uint32_t ids[2])
{
    ids[0] = site_one(t);
    ids[1] = site_two(t);
    sink++;
}

static void test_intern_ids(void **state)
{
    (void)state;
    ttm__stack_table *t = ttm__stack_table_new(1024, 1 << 16);
    assert_non_null(t);
    uint32_t ids[3][2];
    for (int i = 0; i < 3; i++)
        call_sites(t, ids[i]);
    assert_int_equal(ids[0][0], 1);
    assert_int_equal(ids[0][1], 2);
    for (int i = 1; i < 3; i++) {
        assert_int_equal(ids[i][0], ids[0][0]);
        assert_int_equal(ids[i][1], ids[0][1]);
    }
    /* Empty and too deep are not interned and not counted as full. */
    uintptr_t big[TTM__STACK_INTERN_MAX + 1] = {0};
    assert_int_equal(ttm__stack_intern(t, big, 0), 0);
    assert_int_equal(ttm__stack_intern(t, big, TTM__STACK_INTERN_MAX + 1), 0);
    assert_int_equal(ttm__stack_intern(NULL, big, 1), 0);

    /* Each new stack is emitted once, under the lock, with the id it is about to get and its
     * addresses; a refused one is not interned (counted) and its id goes to the next. */
    uintptr_t three[3] = {1, 2, 3}, four[4] = {4, 3, 2, 1};
    ttm__stack_table_set_emit(t, record_emit);
    emitted.n = 0;
    emitted.refuse = true;
    assert_int_equal(ttm__stack_intern(t, four, 4), 0);
    emitted.refuse = false;
    assert_int_equal(ttm__stack_intern(t, three, 3), 3);
    assert_int_equal(ttm__stack_intern(t, three, 3), 3); /* seen before: not emitted again */
    assert_int_equal(ttm__stack_intern(t, four, 4), 4);
    assert_int_equal(emitted.n, 3);
    assert_int_equal(emitted.id[0], 3); /* the refused attempt */
    assert_int_equal(emitted.id[1], 3);
    assert_int_equal(emitted.depth[1], 3);
    assert_memory_equal(emitted.pcs[1], three, sizeof three);
    assert_int_equal(emitted.id[2], 4);
    assert_memory_equal(emitted.pcs[2], four, sizeof four);
    ttm__stack_table_set_emit(t, NULL);

    ttm__stack_stats st;
    ttm__stack_table_stats(t, &st);
    assert_int_equal(st.stacks, 4);
    assert_int_equal(st.full, 1);
    ttm__stack_table_free(t);
    ttm__stack_table_free(NULL);
}

/* Stacks that differ in one address, or only in length, get different ids. */
static void test_intern_distinct(void **state)
{
    (void)state;
    ttm__stack_table *t = ttm__stack_table_new(4096, 1 << 20);
    assert_non_null(t);
    uintptr_t pcs[8] = {10, 20, 30, 40, 50, 60, 70, 80};
    uint32_t a = ttm__stack_intern(t, pcs, 8);
    uint32_t b = ttm__stack_intern(t, pcs, 7);
    pcs[7] = 81;
    uint32_t c = ttm__stack_intern(t, pcs, 8);
    assert_true(a != 0 && b != 0 && c != 0);
    assert_true(a != b && b != c && a != c);
    /* Many stacks: every one keeps its own id. */
    for (uintptr_t i = 0; i < 3000; i++) {
        pcs[0] = 1000 + i;
        assert_int_equal(ttm__stack_intern(t, pcs, 8), 4 + i);
    }
    for (uintptr_t i = 0; i < 3000; i++) {
        pcs[0] = 1000 + i;
        assert_int_equal(ttm__stack_intern(t, pcs, 8), 4 + i);
    }
    ttm__stack_table_free(t);
}

static void test_full(void **state)
{
    (void)state;
    /* Bound on stacks. */
    ttm__stack_table *t = ttm__stack_table_new(4, 1 << 16);
    assert_non_null(t);
    uintptr_t pcs[2] = {1, 2};
    for (uintptr_t i = 0; i < 4; i++) {
        pcs[0] = 100 + i;
        assert_int_equal(ttm__stack_intern(t, pcs, 2), 1 + i);
    }
    pcs[0] = 200;
    assert_int_equal(ttm__stack_intern(t, pcs, 2), 0);
    assert_int_equal(ttm__stack_intern(t, pcs, 2), 0);
    pcs[0] = 101; /* seen before: still found */
    assert_int_equal(ttm__stack_intern(t, pcs, 2), 2);
    ttm__stack_stats st;
    ttm__stack_table_stats(t, &st);
    assert_int_equal(st.stacks, 4);
    assert_int_equal(st.full, 2);
    ttm__stack_table_free(t);

    /* Bound on the arena: 10 addresses hold one 8-deep stack, not two. */
    t = ttm__stack_table_new(100, 10 * sizeof(uintptr_t));
    assert_non_null(t);
    uintptr_t deep8[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    assert_int_equal(ttm__stack_intern(t, deep8, 8), 1);
    deep8[0] = 9;
    assert_int_equal(ttm__stack_intern(t, deep8, 8), 0);
    assert_int_equal(ttm__stack_intern(t, deep8, 2), 2); /* a short one still fits */
    ttm__stack_table_stats(t, &st);
    assert_int_equal(st.full, 1);
    assert_int_equal(st.arena_bytes, 10 * sizeof(uintptr_t));
    ttm__stack_table_free(t);
}

#define MT_THREADS 4
#define MT_STACKS 2000

typedef struct mt_arg {
    ttm__stack_table *t;
    unsigned seed;
    uint32_t ids[MT_STACKS];
    pthread_barrier_t *go;
} mt_arg;

static void *mt_run(void *p)
{
    mt_arg *a = p;
    pthread_barrier_wait(a->go);
    /* Each thread walks the same stacks in its own order, twice. */
    for (int round = 0; round < 2; round++)
        for (unsigned k = 0; k < MT_STACKS; k++) {
            unsigned i = (k * 7919u + a->seed * 104729u) % MT_STACKS;
            uintptr_t pcs[5] = {i, i * 3 + 1, i * 5 + 2, 77, 88};
            uint32_t id = ttm__stack_intern(a->t, pcs, 1 + i % 5);
            if (round == 1 && id != a->ids[i])
                a->ids[i] = 0;
            else if (round == 0)
                a->ids[i] = id;
        }
    return NULL;
}

static void test_threads_agree(void **state)
{
    (void)state;
    ttm__stack_table *t = ttm__stack_table_new(MT_STACKS, MT_STACKS * 5 * sizeof(uintptr_t));
    assert_non_null(t);
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, MT_THREADS);
    static mt_arg args[MT_THREADS];
    pthread_t th[MT_THREADS];
    for (unsigned i = 0; i < MT_THREADS; i++) {
        args[i] = (mt_arg){.t = t, .seed = i, .go = &go};
        assert_int_equal(pthread_create(&th[i], NULL, mt_run, &args[i]), 0);
    }
    for (unsigned i = 0; i < MT_THREADS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&go);
    /* Every id is non-zero, the same in every thread, and the ids are 1..MT_STACKS. */
    static unsigned char seen[MT_STACKS + 1];
    memset(seen, 0, sizeof seen);
    for (unsigned i = 0; i < MT_STACKS; i++) {
        uint32_t id = args[0].ids[i];
        assert_true(id >= 1 && id <= MT_STACKS);
        assert_int_equal(seen[id], 0);
        seen[id] = 1;
        for (unsigned k = 1; k < MT_THREADS; k++)
            assert_int_equal(args[k].ids[i], id);
    }
    ttm__stack_stats st;
    ttm__stack_table_stats(t, &st);
    assert_int_equal(st.stacks, MT_STACKS);
    assert_int_equal(st.full, 0);
    ttm__stack_table_free(t);
}

/* Each thread reads its own stack bounds: a capture on a new thread works too. */
static void *thread_capture(void *p)
{
    uintptr_t pcs[TTM__STACK_DEPTH_MAX];
    *(unsigned *)p = chain_a(pcs, 32, 0, TTM__STACK_FP) >= 3 && owner(pcs[2]) == 2;
    return NULL;
}

static void test_thread_bounds(void **state)
{
    (void)state;
    unsigned ok = 0;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, thread_capture, &ok), 0);
    pthread_join(th, NULL);
    assert_int_equal(ok, 1);
}

/* On a stack that is not the thread's own (a coroutine's), the frame-pointer walk records
 * nothing rather than follow frames into memory it does not know. */
static ucontext_t uc_main, uc_co;
static unsigned co_n = 99;

static void co_run(void)
{
    uintptr_t pcs[TTM__STACK_DEPTH_MAX];
    co_n = chain_a(pcs, 32, 0, TTM__STACK_FP);
}

static void test_foreign_stack(void **state)
{
    (void)state;
    size_t size = 256 * 1024;
    void *stk = malloc(size);
    assert_non_null(stk);
    assert_int_equal(getcontext(&uc_co), 0);
    uc_co.uc_stack.ss_sp = stk;
    uc_co.uc_stack.ss_size = size;
    uc_co.uc_link = &uc_main;
    makecontext(&uc_co, co_run, 0);
    assert_int_equal(swapcontext(&uc_main, &uc_co), 0);
    assert_int_equal(co_n, 0);
    free(stk);
}

static void test_process_table(void **state)
{
    (void)state;
    ttm__stack_table *t = ttm__stack_table_process();
    assert_non_null(t);
    assert_ptr_equal(ttm__stack_table_process(), t);
    uint32_t id[2][2];
    for (int i = 0; i < 2; i++)
        call_sites(t, id[i]);
    assert_true(id[0][0] != 0 && id[0][1] != 0 && id[0][0] != id[0][1]);
    assert_memory_equal(id[0], id[1], sizeof id[0]);
    assert_true(ttm__stack_walker_default() == TTM__STACK_FP ||
                ttm__stack_walker_default() == TTM__STACK_UNWIND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chain_fp),        cmocka_unit_test(test_chain_unwind),
        cmocka_unit_test(test_walkers_agree),
        cmocka_unit_test(test_depth_max),       cmocka_unit_test(test_forged),
        cmocka_unit_test(test_corrupt_fp_child), cmocka_unit_test(test_intern_ids),
        cmocka_unit_test(test_intern_distinct), cmocka_unit_test(test_full),
        cmocka_unit_test(test_threads_agree),   cmocka_unit_test(test_thread_bounds),
        cmocka_unit_test(test_foreign_stack),   cmocka_unit_test(test_process_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
