/*
 * test_unwind.c — unit tests of libttmem's unwinder (src/client/unwind.c), linked statically.
 * This file is built with -fomit-frame-pointer (tests/CMakeLists.txt): its call chains can be
 * unwound only from the unwind tables, as in the code of a Debian 12 process.
 *
 * Covered, with both back ends (libunwind loaded by dlopen, libgcc's _Unwind_Backtrace): a
 * known chain uw_a -> uw_b -> uw_c gives the return addresses into uw_c, uw_b, uw_a (named by
 * dladdr), then this file's caller; both back ends give the same addresses; skip and the depth
 * bound; a 50-deep recursion gives 40 frames of it at depth 40; threads capturing at once each
 * get their own chain. The fallback: TTMEM_UNWINDER=libgcc and a libunwind that cannot be
 * loaded both choose libgcc, which still unwinds the chain. The dlopen leaves glibc's
 * backtrace() (and libgcc's _Unwind_Backtrace) as they were: they still resolve to libc and
 * libgcc_s after libunwind.so.8 is loaded, and backtrace() still sees the chain. In this
 * process without Python, the Python frame capture (src/client/pystack.c) finds nothing and
 * leaves a native stack as it was.
 */
#include <dlfcn.h>
#include <execinfo.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client/pystack.h"
#include "client/unwind.h"

#if defined(__clang__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE __attribute__((noinline, noclone))
#endif
/* Exported (the test is linked with -rdynamic) so that dladdr names them. */
#define CHAIN NOINLINE __attribute__((visibility("default")))

#define DEPTH_MAX 64
static volatile int sink;

typedef unsigned (*capture_fn)(uintptr_t *pcs, unsigned depth, unsigned skip);
unsigned uw_a(uintptr_t *pcs, unsigned depth, unsigned skip, capture_fn f);
unsigned uw_b(uintptr_t *pcs, unsigned depth, unsigned skip, capture_fn f);
unsigned uw_c(uintptr_t *pcs, unsigned depth, unsigned skip, capture_fn f);
unsigned uw_recurse(unsigned k, uintptr_t *pcs, unsigned depth);
unsigned uw_glibc_capture(uintptr_t *pcs, unsigned depth, unsigned skip);

/* One link of the chain: makes the call, then does work so that it is not a tail call. */
#define LINK(name, call)                                                                       \
    CHAIN unsigned name(uintptr_t *pcs, unsigned depth, unsigned skip, capture_fn f)           \
    {                                                                                          \
        unsigned n = call;                                                                     \
        sink++;                                                                                \
        return n;                                                                              \
    }

LINK(uw_c, f(pcs, depth, skip))
LINK(uw_b, uw_c(pcs, depth, skip, f))
LINK(uw_a, uw_b(pcs, depth, skip, f))

CHAIN unsigned uw_recurse(unsigned k, uintptr_t *pcs, unsigned depth)
{
    unsigned n = k == 0 ? ttm__unwind_capture(pcs, depth, 0) : uw_recurse(k - 1, pcs, depth);
    sink++;
    return n;
}

/* The name of the function holding return address pc ("" when unknown). */
static const char *fn_of(uintptr_t pc)
{
    Dl_info info;
    if (dladdr((void *)(pc - 1), &info) == 0 || info.dli_sname == NULL)
        return "";
    return info.dli_sname;
}

/* The path of the object defining symbol name in the global scope ("" when none). */
static const char *global_owner(const char *name)
{
    Dl_info info;
    void *sym = dlsym(RTLD_DEFAULT, name);
    if (sym == NULL || dladdr(sym, &info) == 0 || info.dli_fname == NULL)
        return "";
    return info.dli_fname;
}

/* Owners of backtrace and _Unwind_Backtrace before anything here loaded libunwind (main). */
static char bt_before[512], gcc_before[512];

/* Chooses the back end: libunwind (loadable here: the test needs it), or libgcc by the
 * environment variable. */
static void use(const char *which)
{
    if (strcmp(which, "libgcc") == 0)
        setenv("TTMEM_UNWINDER", "libgcc", 1);
    else
        unsetenv("TTMEM_UNWINDER");
    ttm__unwind_reset(NULL);
    assert_string_equal(ttm__unwind_name(), which);
}

static NOINLINE void check_chain(const char *which)
{
    use(which);
    uintptr_t pcs[DEPTH_MAX];
    unsigned n = uw_a(pcs, 32, 0, ttm__unwind_capture);
    assert_true(n >= 4);
    assert_string_equal(fn_of(pcs[0]), "uw_c");
    assert_string_equal(fn_of(pcs[1]), "uw_b");
    assert_string_equal(fn_of(pcs[2]), "uw_a");
    /* Then this function (static: dladdr has no name for it, but it is none of the chain). */
    assert_string_not_equal(fn_of(pcs[3]), "uw_a");

    n = uw_a(pcs, 32, 1, ttm__unwind_capture);
    assert_true(n >= 3);
    assert_string_equal(fn_of(pcs[0]), "uw_b");
    assert_string_equal(fn_of(pcs[1]), "uw_a");
    n = uw_a(pcs, 32, 2, ttm__unwind_capture);
    assert_string_equal(fn_of(pcs[0]), "uw_a");

    assert_int_equal(uw_a(pcs, 2, 0, ttm__unwind_capture), 2);
    assert_string_equal(fn_of(pcs[0]), "uw_c");
    assert_string_equal(fn_of(pcs[1]), "uw_b");
    assert_int_equal(uw_a(pcs, 0, 0, ttm__unwind_capture), 0);

    /* Deep: 51 frames of uw_recurse, 40 asked for, all of them uw_recurse. */
    assert_int_equal(uw_recurse(50, pcs, 40), 40);
    for (unsigned i = 0; i < 40; i++)
        assert_string_equal(fn_of(pcs[i]), "uw_recurse");
}

static void test_chain_libunwind(void **state)
{
    (void)state;
    check_chain("libunwind");
}

static void test_chain_libgcc(void **state)
{
    (void)state;
    check_chain("libgcc");
}

/* The same chain, the same return addresses, whichever back end reads it. */
static void test_backends_agree(void **state)
{
    (void)state;
    uintptr_t pcs[2][DEPTH_MAX];
    unsigned n[2];
    const char *which[2] = {"libunwind", "libgcc"};
    for (int i = 0; i < 2; i++) {
        use(which[i]);
        n[i] = uw_a(pcs[i], 32, 0, ttm__unwind_capture);
    }
    assert_true(n[0] >= 4);
    assert_int_equal(n[0], n[1]);
    /* The chain, and the frames above this function (the loop may be unrolled into two call
     * sites of uw_a here: pcs[i][3] may differ). */
    assert_memory_equal(pcs[0], pcs[1], 3 * sizeof pcs[0][0]);
    assert_memory_equal(pcs[0] + 4, pcs[1] + 4, (n[0] - 4) * sizeof pcs[0][0]);
    use("libunwind");
}

/* A libunwind that cannot be loaded: libgcc, which still unwinds. */
static void test_fallback_unloadable(void **state)
{
    (void)state;
    unsetenv("TTMEM_UNWINDER");
    ttm__unwind_reset("libttm-no-such-unwinder.so.0");
    assert_string_equal(ttm__unwind_name(), "libgcc");
    uintptr_t pcs[DEPTH_MAX];
    assert_true(uw_a(pcs, 8, 0, ttm__unwind_capture) >= 3);
    assert_string_equal(fn_of(pcs[0]), "uw_c");
    assert_string_equal(fn_of(pcs[2]), "uw_a");
    ttm__unwind_reset(NULL);
    assert_string_equal(ttm__unwind_name(), "libunwind");
}

/* glibc's backtrace() as a capture function for the chain: what it gives after its entry in
 * this function (before it: a sanitizer's interceptor, in a sanitizer build). */
CHAIN unsigned uw_glibc_capture(uintptr_t *pcs, unsigned depth, unsigned skip)
{
    void *buf[DEPTH_MAX];
    int got = backtrace(buf, DEPTH_MAX);
    int i = 0;
    while (i < got && strcmp(fn_of((uintptr_t)buf[i] + 1), "uw_glibc_capture") != 0)
        i++;
    unsigned n = 0;
    for (i += 1 + (int)skip; i < got && n < depth; i++)
        pcs[n++] = (uintptr_t)buf[i];
    sink++;
    return n;
}

/* libunwind.so.8 defines `backtrace` and `_Unwind_Backtrace` too; loaded RTLD_LOCAL it
 * reroutes neither. */
static void test_backtrace_unchanged(void **state)
{
    (void)state;
    use("libunwind");
    uintptr_t pcs[DEPTH_MAX];
    assert_true(uw_a(pcs, 8, 0, ttm__unwind_capture) >= 3);
    /* Loaded, but not in the global scope. */
    void *h = dlopen("libunwind.so.8", RTLD_LAZY | RTLD_NOLOAD);
    assert_non_null(h);
    assert_non_null(dlsym(h, "backtrace"));
    dlclose(h);
    /* The same objects as before the first capture (libc's backtrace, or in a sanitizer
     * build the sanitizer runtime's interceptor; libgcc_s's _Unwind_Backtrace), never
     * libunwind's. */
    const char *bt = global_owner("backtrace");
    assert_string_equal(bt, bt_before);
    assert_true(strstr(bt, "libc.so") != NULL || strstr(bt, "san") != NULL);
    assert_null(strstr(bt, "libunwind"));
    const char *gcc = global_owner("_Unwind_Backtrace");
    assert_string_equal(gcc, gcc_before);
    assert_true(gcc[0] != 0);
    assert_null(strstr(gcc, "libunwind"));
    /* The glibc backtrace() still sees the chain. */
    unsigned n = uw_a(pcs, 8, 0, uw_glibc_capture);
    assert_true(n >= 3);
    assert_string_equal(fn_of(pcs[0]), "uw_c");
    assert_string_equal(fn_of(pcs[1]), "uw_b");
    assert_string_equal(fn_of(pcs[2]), "uw_a");
}

#define THREADS 4
#define ROUNDS 2000

typedef struct thread_arg {
    unsigned k; /* recursion depth: each thread its own */
    unsigned bad;
} thread_arg;

static void *thread_main(void *p)
{
    thread_arg *a = p;
    for (unsigned r = 0; r < ROUNDS; r++) {
        uintptr_t pcs[DEPTH_MAX];
        unsigned n = uw_recurse(a->k, pcs, DEPTH_MAX);
        unsigned rec = 0;
        while (rec < n && strcmp(fn_of(pcs[rec]), "uw_recurse") == 0)
            rec++;
        if (rec != a->k + 1)
            a->bad++;
    }
    return NULL;
}

/* Threads unwinding at once, each through its own depth of recursion (libunwind's per-thread
 * cache is made at each thread's first capture). */
static void test_threads(void **state)
{
    (void)state;
    use("libunwind");
    pthread_t th[THREADS];
    thread_arg a[THREADS];
    for (unsigned i = 0; i < THREADS; i++) {
        a[i] = (thread_arg){.k = 3 + 5 * i, .bad = 0};
        assert_int_equal(pthread_create(&th[i], NULL, thread_main, &a[i]), 0);
    }
    for (unsigned i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(a[i].bad, 0);
    }
}

static void py_frame_cb(const ttm__py_frame *f, void *arg)
{
    (void)f;
    ++*(int *)arg;
}

/* No CPython here: no frames, the native stack back as it was (cut at cap). */
static void test_no_python(void **state)
{
    (void)state;
    assert_false(ttm__py_present());
    int calls = 0;
    assert_int_equal(ttm__py_walk(py_frame_cb, &calls, 64), 0);
    assert_int_equal(calls, 0);
    uintptr_t pcs[DEPTH_MAX], copy[DEPTH_MAX];
    unsigned n = uw_a(pcs, 16, 0, ttm__unwind_capture);
    assert_true(n >= 3);
    memcpy(copy, pcs, sizeof pcs);
    assert_int_equal(ttm__py_stack(pcs, n, DEPTH_MAX), n);
    assert_memory_equal(pcs, copy, sizeof pcs);
    assert_int_equal(ttm__py_stack(pcs, n, 2), 2);
    ttm__py_stats st;
    ttm__py_stats_get(&st);
    assert_int_equal(st.frames, 0);
    assert_int_equal(st.misses, 0);
}

int main(void)
{
    if (dlopen("libunwind.so.8", RTLD_LAZY | RTLD_NOLOAD) != NULL) {
        fprintf(stderr, "test_unwind: libunwind.so.8 is loaded before the first capture\n");
        return 1;
    }
    snprintf(bt_before, sizeof bt_before, "%s", global_owner("backtrace"));
    snprintf(gcc_before, sizeof gcc_before, "%s", global_owner("_Unwind_Backtrace"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chain_libunwind),     cmocka_unit_test(test_chain_libgcc),
        cmocka_unit_test(test_backends_agree),      cmocka_unit_test(test_fallback_unloadable),
        cmocka_unit_test(test_backtrace_unchanged), cmocka_unit_test(test_threads),
        cmocka_unit_test(test_no_python),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
