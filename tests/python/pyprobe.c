/*
 * pyprobe.c — a test library that Python loads through ctypes (tests/python/test_pystack.py,
 * bench/pystack.py) to look at what libttmem's Python frame capture (src/client/pystack.c)
 * sees from the calling Python code. Linked with the static libttmem; the side log it reads
 * back is the process's own, written by the real writer (src/client/side.c).
 *
 * Every probe_* function writes lines into buf (len bytes, NUL-terminated, cut when full):
 *   walk:  "FILE\tFUNC\tLINE\n" per Python frame, innermost first (ttm__py_walk);
 *   stack: per entry of a native capture + ttm__py_stack, innermost first:
 *          "py\tFILE\tFUNC\tLINE\n" for a Python frame (its strings read back from the side
 *          log's STRING and PYFRAME records), "c\tSYMBOL\tMODULE\n" for a native one (dladdr;
 *          "?" when unknown).
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/pystack.h"
#include "client/side_writer.h"
#include "client/unwind.h"
#include "common/bytes.h"
#include "common/side.h"

#define PROBE __attribute__((visibility("default"), noinline))

/* What Python calls (the contracts are in the file's header comment). */
int probe_walk(char *buf, size_t len);
int probe_present(void);
int probe_stack(char *buf, size_t len);
int probe_stack_raising(char *buf, size_t len);
int probe_cthread(void);
void probe_stats(uint64_t *o);
double probe_bench(unsigned calls, int python);
#define NATIVE_DEPTH 32

typedef struct out {
    char *buf;
    size_t len, at;
} out;

static void put(out *o, const char *fmt, ...)
{
    if (o->at + 1 >= o->len)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->buf + o->at, o->len - o->at, fmt, ap);
    va_end(ap);
    if (n > 0)
        o->at = o->at + (size_t)n < o->len ? o->at + (size_t)n : o->len - 1;
}

static void walk_cb(const ttm__py_frame *f, void *arg)
{
    put(arg, "%.*s\t%.*s\t%u\n", (int)f->file_len, f->file, (int)f->func_len, f->func, f->line);
}

PROBE int probe_walk(char *buf, size_t len)
{
    out o = {.buf = buf, .len = len, .at = 0};
    buf[0] = 0;
    return (int)ttm__py_walk(walk_cb, &o, 256);
}

PROBE int probe_present(void)
{
    return ttm__py_present();
}

/* The record of kind type and id in the side log: its payload (after the id) into *p, *n. */
static int side_find(uint16_t type, uint32_t id, const uint8_t **p, uint32_t *n)
{
    ttm_side_hdr *h = NULL;
    if (ttm__side_create(NULL, &h) != 0 || h == NULL)
        return 0;
    const uint8_t *base = (const uint8_t *)h + h->hdr_size;
    uint64_t end = atomic_load_explicit(&h->committed, memory_order_acquire);
    for (uint64_t at = 0; at + 8 <= end;) {
        uint16_t t = ttm__le16(base + at);
        uint32_t l = ttm__le32(base + at + 4);
        if (t == type && l >= 4 && ttm__le32(base + at + 8) == id) {
            *p = base + at + 12;
            *n = l - 4;
            return 1;
        }
        at += 8 + ((l + 7u) & ~7u);
    }
    return 0;
}

static void put_string(out *o, uint32_t id)
{
    const uint8_t *p;
    uint32_t n;
    if (side_find(TTM_SIDE_STRING, id, &p, &n) && n >= 4)
        put(o, "%.*s", (int)(n - 4), (const char *)p + 4); /* after the kind */
    else
        put(o, "?");
}

PROBE int probe_stack(char *buf, size_t len)
{
    out o = {.buf = buf, .len = len, .at = 0};
    buf[0] = 0;
    uintptr_t pcs[TTM_SIDE_STACK_MAX];
    unsigned n = ttm__unwind_capture(pcs, NATIVE_DEPTH, 0);
    n = ttm__py_stack(pcs, n, TTM_SIDE_STACK_MAX);
    for (unsigned i = 0; i < n; i++) {
        if ((uint64_t)pcs[i] & TTM_SIDE_PYFRAME_BIT) {
            const uint8_t *p;
            uint32_t pn;
            put(&o, "py\t");
            if (side_find(TTM_SIDE_PYFRAME, (uint32_t)pcs[i], &p, &pn) && pn >= 12) {
                put_string(&o, ttm__le32(p));
                put(&o, "\t");
                put_string(&o, ttm__le32(p + 4));
                put(&o, "\t%u\n", ttm__le32(p + 8));
            } else {
                put(&o, "?\t?\t0\n");
            }
            continue;
        }
        Dl_info info;
        int ok = dladdr((void *)(pcs[i] - 1), &info);
        put(&o, "c\t%s\t%s\n", ok && info.dli_sname ? info.dli_sname : "?",
            ok && info.dli_fname ? info.dli_fname : "?");
    }
    return (int)n;
}

/* probe_stack with a Python exception pending, as a C extension may have when it frees a
 * buffer on its error path: sets ValueError("probe: pending") first (CPython's own
 * PyErr_SetString, found as pystack.c finds the API; the caller must hold the GIL: PyDLL), so
 * the caller sees that exception raised when the capture kept it. -1 when the API is absent. */
PROBE int probe_stack_raising(char *buf, size_t len)
{
    void (*set)(void *type, const char *msg);
    void *sym = dlsym(RTLD_DEFAULT, "PyErr_SetString");
    void **exc = dlsym(RTLD_DEFAULT, "PyExc_ValueError");
    memcpy(&set, &sym, sizeof set);
    if (set == NULL || exc == NULL)
        return -1;
    set(*exc, "probe: pending");
    return probe_stack(buf, len);
}

typedef struct cthread {
    int frames, same;
} cthread;

static void *cthread_main(void *p)
{
    cthread *c = p;
    uintptr_t pcs[TTM_SIDE_STACK_MAX];
    unsigned n = ttm__unwind_capture(pcs, NATIVE_DEPTH, 0);
    c->frames = (int)ttm__py_walk(walk_cb, &(out){.buf = (char[2]){0}, .len = 2}, 256);
    c->same = ttm__py_stack(pcs, n, TTM_SIDE_STACK_MAX) == n;
    return NULL;
}

/* A thread of its own (no Python thread state): returns its Python frame count (expected 0)
 * times 10, plus 1 when ttm__py_stack left its native stack as it was; -1 if it cannot start. */
PROBE int probe_cthread(void)
{
    pthread_t th;
    cthread c = {0, 0};
    if (pthread_create(&th, NULL, cthread_main, &c) != 0)
        return -1;
    pthread_join(th, NULL);
    return c.frames * 10 + c.same;
}

/* out[0..5): frames, misses, cached, cache_full, lost. */
PROBE void probe_stats(uint64_t *o)
{
    ttm__py_stats st;
    ttm__py_stats_get(&st);
    o[0] = st.frames;
    o[1] = st.misses;
    o[2] = st.cached;
    o[3] = st.cache_full;
    o[4] = st.lost;
}

static volatile unsigned sink;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* For bench/pystack.py: the median ns of one native capture (depth 32), plus ttm__py_stack
 * when python is set, over batches of 64 calls made from here (`calls` in all). */
PROBE double probe_bench(unsigned calls, int python)
{
    enum { BATCH = 64 };
    unsigned batches = calls / BATCH ? calls / BATCH : 1;
    double *m = malloc(batches * sizeof *m);
    if (m == NULL)
        return -1;
    for (unsigned b = 0; b < batches; b++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (unsigned i = 0; i < BATCH; i++) {
            uintptr_t pcs[TTM_SIDE_STACK_MAX];
            unsigned n = ttm__unwind_capture(pcs, NATIVE_DEPTH, 0);
            if (python)
                n = ttm__py_stack(pcs, n, TTM_SIDE_STACK_MAX);
            sink += n;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        m[b] = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) /
               BATCH;
    }
    qsort(m, batches, sizeof *m, cmp_double);
    double med = m[batches / 2];
    free(m);
    return med;
}
