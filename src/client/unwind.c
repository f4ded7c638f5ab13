/*
 * unwind.c — the unwinder behind ttm__unwind_capture (contract in unwind.h): libunwind's
 * unw_backtrace loaded at the first use with dlopen(RTLD_LOCAL), else libgcc's
 * _Unwind_Backtrace. The costs are in docs/BENCHMARKS.md (bench_stacks).
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unwind.h>

#include "client/unwind.h"

#define LIBUNWIND_SONAME "libunwind.so.8"
/* Entries of unw_backtrace's answer before the caller's: the return address into
 * ttm__unwind_capture (unw_backtrace leaves out its own frame; test_unwind checks it). */
#define UNW_OWN 1u
/* The most entries one capture asks the back end for (depth + skip + the own ones). */
#define MAX_WANT 256u

/* libunwind's entry point, declared here rather than from <libunwind.h> (libunwind-dev is not
 * installed beside LLVM's libunwind-14-dev, whose header differs): fills buffer with at most
 * size addresses of the calling thread's stack and returns their count. */
typedef int (*unw_backtrace_fn)(void **buffer, int size);

enum { BACKEND_UNKNOWN = 0, BACKEND_LIBUNWIND = 1, BACKEND_LIBGCC = 2 };

static _Atomic int backend;             /* BACKEND_*; set once, under choose_mu */
static unw_backtrace_fn unw_bt;         /* valid when backend == BACKEND_LIBUNWIND */
static void *unw_handle;                /* kept for the life of the process */
static const char *unw_soname = LIBUNWIND_SONAME;
static pthread_mutex_t choose_mu = PTHREAD_MUTEX_INITIALIZER;

/* Makes the choice, once: libunwind unless told otherwise or not loadable. */
static int choose(void)
{
    int b = atomic_load_explicit(&backend, memory_order_acquire);
    if (__builtin_expect(b != BACKEND_UNKNOWN, 1))
        return b;
    pthread_mutex_lock(&choose_mu);
    b = atomic_load_explicit(&backend, memory_order_relaxed);
    if (b == BACKEND_UNKNOWN) {
        const char *env = getenv("TTMEM_UNWINDER");
        b = BACKEND_LIBGCC;
        if (env == NULL || strcmp(env, "libgcc") != 0) {
            if (unw_handle == NULL)
                unw_handle = dlopen(unw_soname, RTLD_LOCAL | RTLD_NOW);
            if (unw_handle != NULL) {
                /* A function pointer from dlsym's object pointer: POSIX guarantees the cast. */
                void *sym = dlsym(unw_handle, "unw_backtrace");
                memcpy(&unw_bt, &sym, sizeof unw_bt);
                if (unw_bt != NULL)
                    b = BACKEND_LIBUNWIND;
            }
        }
        atomic_store_explicit(&backend, b, memory_order_release);
    }
    pthread_mutex_unlock(&choose_mu);
    return b;
}

const char *ttm__unwind_name(void)
{
    return choose() == BACKEND_LIBUNWIND ? "libunwind" : "libgcc";
}

void ttm__unwind_reset(const char *soname)
{
    pthread_mutex_lock(&choose_mu);
    const char *want = soname != NULL ? soname : LIBUNWIND_SONAME;
    if (strcmp(want, unw_soname) != 0) {
        /* The handle of another soname is not closed: captures may still be inside it. */
        unw_handle = NULL;
        unw_soname = soname != NULL ? soname : LIBUNWIND_SONAME;
    }
    unw_bt = NULL;
    atomic_store_explicit(&backend, BACKEND_UNKNOWN, memory_order_release);
    pthread_mutex_unlock(&choose_mu);
}

/* ---- libgcc ---- */

typedef struct gcc_state {
    uintptr_t *pcs;
    unsigned n, max;
    unsigned drop; /* frames still to leave out: the capture's own, then skip */
} gcc_state;

static _Unwind_Reason_Code gcc_cb(struct _Unwind_Context *ctx, void *arg)
{
    gcc_state *s = arg;
    uintptr_t ip = (uintptr_t)_Unwind_GetIP(ctx);
    if (ip == 0)
        return _URC_END_OF_STACK;
    if (s->drop > 0) {
        s->drop--;
        return _URC_NO_REASON;
    }
    s->pcs[s->n++] = ip;
    return s->n < s->max ? _URC_NO_REASON : _URC_END_OF_STACK;
}

/* noinline: its own frame must be one of the chain, as the drop counts assume; the work after
 * the back end's call keeps that call from being a tail call. */
unsigned __attribute__((noinline)) ttm__unwind_capture(uintptr_t *pcs, unsigned depth,
                                                       unsigned skip)
{
    if (depth == 0)
        return 0;
    if (depth > MAX_WANT)
        depth = MAX_WANT;
    if (skip > MAX_WANT)
        skip = MAX_WANT;
    if (choose() == BACKEND_LIBUNWIND) {
        void *buf[MAX_WANT + UNW_OWN];
        unsigned want = depth + skip + UNW_OWN;
        if (want > sizeof buf / sizeof buf[0])
            want = sizeof buf / sizeof buf[0];
        int got = unw_bt(buf, (int)want);
        unsigned first = UNW_OWN + skip, n = 0;
        for (unsigned i = first; i < (unsigned)(got > 0 ? got : 0) && n < depth; i++)
            pcs[n++] = (uintptr_t)buf[i];
        return n;
    }
    /* The first frame _Unwind_Backtrace reports is this function's own. */
    gcc_state s = {.pcs = pcs, .n = 0, .max = depth, .drop = 1 + skip};
    _Unwind_Backtrace(gcc_cb, &s);
    return s.n;
}
