/*
 * pystack.c — Python frames of the calling thread (contract in pystack.h): the CPython C API
 * found with dlsym at the first use, the (code object, instruction offset) -> frame id cache,
 * and the interleaving of Python frames with the native ones.
 *
 * No lock is held while CPython runs: a Python call may run the garbage collector, whose
 * finalizers may free device memory through libttmem on this same thread, which comes back
 * here. The cache is read without a lock (acquire loads, as stack.c's table) and written under
 * cache_mu, held only around the insert.
 */
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "client/pystack.h"
#include "client/side_writer.h"
#include "common/side.h"

/* A stack entry holds a native address or TTM_SIDE_PYFRAME_BIT | id: 64-bit entries. */
_Static_assert(sizeof(uintptr_t) == sizeof(uint64_t), "stack entries are 64-bit");

/* The part of the CPython C API used here; PyObject * and PyFrameObject * as void *,
 * PyGILState_STATE (an enum) as int, Py_ssize_t as ssize_t. */
typedef struct py_api {
    int (*is_initialized)(void);
    int (*finalizing)(void); /* NULL when the interpreter has none */
    void *(*gil_this)(void);
    int (*gil_ensure)(void);
    void (*gil_release)(int);
    void *(*ts_frame)(void *ts);
    void *(*frame_back)(void *f);
    void *(*frame_code)(void *f);
    int (*frame_line)(void *f);
    int (*frame_lasti)(void *f); /* 3.11 and later; NULL before (the cache keys on lines) */
    void *(*getattr)(void *o, const char *name);
    const char *(*utf8)(void *o, ssize_t *size);
    void (*incref)(void *o);
    void (*decref)(void *o);
    void (*err_fetch)(void **type, void **value, void **tb);
    void (*err_restore)(void *type, void *value, void *tb);
    void (*err_clear)(void);
    uintptr_t text_lo, text_hi; /* libpython's executable segment */
} py_api;

enum { API_UNKNOWN = 0, API_PRESENT = 1, API_ABSENT = 2 };

static _Atomic int api_state;
static py_api api_v;
static unsigned long long api_adds; /* dlpi_adds when the API was found absent */
static pthread_mutex_t api_mu = PTHREAD_MUTEX_INITIALIZER;

/* A function of the global scope into *fn (NULL when absent). POSIX lets a dlsym result be
 * used as a function pointer; memcpy says so without a cast warning. */
static bool load(void *fn, size_t size, const char *name)
{
    void *sym = dlsym(RTLD_DEFAULT, name);
    memcpy(fn, &sym, size);
    return sym != NULL;
}
#define LOAD(field, name) load(&api_v.field, sizeof api_v.field, name)

static int adds_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    if (size >= offsetof(struct dl_phdr_info, dlpi_adds) + sizeof info->dlpi_adds)
        *(unsigned long long *)arg = info->dlpi_adds;
    return 1; /* the first object says it: the counter is the loader's */
}

static unsigned long long loader_adds(void)
{
    unsigned long long adds = 0;
    dl_iterate_phdr(adds_cb, &adds);
    return adds;
}

typedef struct text_find {
    uintptr_t addr, lo, hi;
} text_find;

static int text_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    text_find *t = arg;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
        if (t->addr >= lo && t->addr < hi) {
            t->lo = lo;
            t->hi = hi;
            return 1;
        }
    }
    return 0;
}

/* Looks the API up; true when every function the frames need was found. Under api_mu. */
static bool api_find(void)
{
    memset(&api_v, 0, sizeof api_v);
    bool ok = LOAD(is_initialized, "Py_IsInitialized") &&
              LOAD(gil_this, "PyGILState_GetThisThreadState") &&
              LOAD(gil_ensure, "PyGILState_Ensure") && LOAD(gil_release, "PyGILState_Release") &&
              LOAD(ts_frame, "PyThreadState_GetFrame") && LOAD(frame_back, "PyFrame_GetBack") &&
              LOAD(frame_code, "PyFrame_GetCode") && LOAD(frame_line, "PyFrame_GetLineNumber") &&
              LOAD(getattr, "PyObject_GetAttrString") &&
              LOAD(utf8, "PyUnicode_AsUTF8AndSize") && LOAD(incref, "Py_IncRef") &&
              LOAD(decref, "Py_DecRef") && LOAD(err_fetch, "PyErr_Fetch") &&
              LOAD(err_restore, "PyErr_Restore") && LOAD(err_clear, "PyErr_Clear");
    if (!ok)
        return false;
    if (!LOAD(finalizing, "Py_IsFinalizing")) /* 3.13 */
        LOAD(finalizing, "_Py_IsFinalizing");
    LOAD(frame_lasti, "PyFrame_GetLasti");
    void *eval = dlsym(RTLD_DEFAULT, "PyEval_EvalCode"); /* in every version's libpython */
    text_find t = {.addr = (uintptr_t)eval, .lo = 0, .hi = 0};
    if (eval != NULL)
        dl_iterate_phdr(text_cb, &t);
    api_v.text_lo = t.lo;
    api_v.text_hi = t.hi;
    return true;
}

/* Calls of this thread left before it asks the loader again whether CPython came in. */
#define RECHECK_CALLS 1024u
static __thread unsigned t_recheck __attribute__((tls_model("initial-exec")));

/* The API, or NULL when the process has no CPython. Looked up once; when it was absent, looked
 * up again after the loader mapped another object (an embedding program may dlopen libpython
 * after its first events), which each thread asks the loader (dl_iterate_phdr, which takes its
 * lock) once every RECHECK_CALLS calls: in between, a process without Python pays a
 * thread-local decrement. */
static const py_api *api(void)
{
    int s = atomic_load_explicit(&api_state, memory_order_acquire);
    if (__builtin_expect(s == API_PRESENT, 1))
        return &api_v;
    if (s == API_ABSENT) {
        if (t_recheck > 0) {
            t_recheck--;
            return NULL;
        }
        t_recheck = RECHECK_CALLS;
        if (loader_adds() == __atomic_load_n(&api_adds, __ATOMIC_RELAXED))
            return NULL;
    }
    pthread_mutex_lock(&api_mu);
    s = atomic_load_explicit(&api_state, memory_order_relaxed);
    if (s != API_PRESENT) {
        unsigned long long adds = loader_adds();
        s = api_find() ? API_PRESENT : API_ABSENT;
        __atomic_store_n(&api_adds, adds, __ATOMIC_RELAXED);
        atomic_store_explicit(&api_state, s, memory_order_release);
    }
    pthread_mutex_unlock(&api_mu);
    return s == API_PRESENT ? &api_v : NULL;
}

/* ---- counters ---- */

static _Atomic uint64_t st_frames, st_misses, st_cached, st_cache_full, st_lost;

void ttm__py_stats_get(ttm__py_stats *st)
{
    st->frames = atomic_load_explicit(&st_frames, memory_order_relaxed);
    st->misses = atomic_load_explicit(&st_misses, memory_order_relaxed);
    st->cached = atomic_load_explicit(&st_cached, memory_order_relaxed);
    st->cache_full = atomic_load_explicit(&st_cache_full, memory_order_relaxed);
    st->lost = atomic_load_explicit(&st_lost, memory_order_relaxed);
}

/* ---- reading a frame ---- */

/* A string attribute of o as UTF-8 into *s, *n; the attribute's reference into *hold (the
 * bytes live as long as it). False (error cleared) when o has none. */
static bool str_attr(const py_api *a, void *o, const char *name, const char **s, size_t *n,
                     void **hold)
{
    *hold = a->getattr(o, name);
    if (*hold == NULL) {
        a->err_clear();
        return false;
    }
    ssize_t len = 0;
    *s = a->utf8(*hold, &len);
    if (*s == NULL) {
        a->err_clear();
        a->decref(*hold);
        *hold = NULL;
        return false;
    }
    *n = (size_t)len;
    return true;
}

/* Reads the file and function of code into *f (line set by the caller), calls fn, releases
 * what it took. The caller has saved the error indicator. False when the code object has no
 * file or no name. */
static bool frame_read(const py_api *a, void *code, ttm__py_frame *f,
                       void (*fn)(const ttm__py_frame *f, void *arg), void *arg)
{
    void *file = NULL, *func = NULL;
    bool ok = str_attr(a, code, "co_filename", &f->file, &f->file_len, &file) &&
              (str_attr(a, code, "co_qualname", &f->func, &f->func_len, &func) ||
               str_attr(a, code, "co_name", &f->func, &f->func_len, &func));
    if (ok)
        fn(f, arg);
    if (func != NULL)
        a->decref(func);
    if (file != NULL)
        a->decref(file);
    return ok;
}

typedef struct walk_state {
    const py_api *a;
    unsigned max, n;
    void (*fn)(const ttm__py_frame *f, void *arg); /* per frame; NULL: intern (ids[]) */
    void *arg;
    uint32_t *ids;
} walk_state;

/* ---- the cache ---- */

typedef struct cache_slot {
    _Atomic uintptr_t code; /* the code object (a reference held), 0 while empty */
    int32_t at;             /* instruction offset (line where there is no PyFrame_GetLasti) */
    uint32_t id;            /* PYFRAME id */
} cache_slot;

static cache_slot cache[TTM__PY_CACHE_SLOTS];
static uint32_t cache_used; /* under cache_mu */
static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;

static inline uint32_t cache_hash(uintptr_t code, int32_t at)
{
    uint64_t h = ((uint64_t)code >> 4) * 0x9e3779b97f4a7c15ull ^ (uint32_t)at * 0xc2b2ae3dull;
    h ^= h >> 29;
    return (uint32_t)h & (TTM__PY_CACHE_SLOTS - 1);
}

/* The id cached for (code, at), 0 when none. No lock. */
static uint32_t cache_get(uintptr_t code, int32_t at)
{
    for (uint32_t i = 0, s = cache_hash(code, at); i < TTM__PY_CACHE_SLOTS;
         i++, s = (s + 1) & (TTM__PY_CACHE_SLOTS - 1)) {
        uintptr_t c = atomic_load_explicit(&cache[s].code, memory_order_acquire);
        if (c == 0)
            return 0;
        if (c == code && cache[s].at == at)
            return cache[s].id;
    }
    return 0;
}

/* Caches (code, at) -> id, taking a reference to code; counted when full. */
static void cache_put(const py_api *a, uintptr_t code, int32_t at, uint32_t id)
{
    pthread_mutex_lock(&cache_mu);
    if (cache_used >= TTM__PY_CACHE_SLOTS / 4 * 3) {
        atomic_fetch_add_explicit(&st_cache_full, 1, memory_order_relaxed);
        goto out_unlock;
    }
    for (uint32_t i = 0, s = cache_hash(code, at); i < TTM__PY_CACHE_SLOTS;
         i++, s = (s + 1) & (TTM__PY_CACHE_SLOTS - 1)) {
        uintptr_t c = atomic_load_explicit(&cache[s].code, memory_order_relaxed);
        if (c == code && cache[s].at == at)
            break; /* another thread cached it meanwhile */
        if (c != 0)
            continue;
        a->incref((void *)code); /* Py_IncRef wants the GIL: the walk holds it */
        cache[s].at = at;
        cache[s].id = id;
        atomic_store_explicit(&cache[s].code, code, memory_order_release);
        cache_used++;
        atomic_fetch_add_explicit(&st_cached, 1, memory_order_relaxed);
        break;
    }
out_unlock:
    pthread_mutex_unlock(&cache_mu);
}

/* ---- the walk ---- */

typedef struct intern_arg {
    uint32_t id;
} intern_arg;

static void intern_cb(const ttm__py_frame *f, void *arg)
{
    intern_arg *ia = arg;
    uint32_t file = ttm__side_string(TTM_SIDE_STR_PYFILE, f->file, f->file_len);
    uint32_t func = ttm__side_string(TTM_SIDE_STR_PYFUNC, f->func, f->func_len);
    ia->id = ttm__side_pyframe(file, func, f->line);
}

/* Walks the calling thread's Python frames (the GIL held), innermost first: calls w->fn for
 * each, or (w->fn NULL) puts each one's frame id into w->ids, through the cache. */
static void walk(walk_state *w)
{
    const py_api *a = w->a;
    void *f = a->ts_frame(a->gil_this());
    bool saved = false;
    void *et = NULL, *ev = NULL, *etb = NULL;
    while (f != NULL && w->n < w->max) {
        void *code = a->frame_code(f);
        int32_t at = a->frame_lasti != NULL ? a->frame_lasti(f) : a->frame_line(f);
        uint32_t id = w->fn == NULL ? cache_get((uintptr_t)code, at) : 0;
        if (id == 0) {
            if (!saved) { /* what the caller's Python code may have pending survives */
                a->err_fetch(&et, &ev, &etb);
                saved = true;
            }
            int line = a->frame_lasti != NULL ? a->frame_line(f) : at;
            ttm__py_frame fr = {.line = line > 0 ? (uint32_t)line : 0};
            intern_arg ia = {.id = 0};
            bool ok = frame_read(a, code, &fr, w->fn != NULL ? w->fn : intern_cb,
                                 w->fn != NULL ? w->arg : &ia);
            if (w->fn != NULL) {
                w->n += ok;
            } else {
                atomic_fetch_add_explicit(&st_misses, 1, memory_order_relaxed);
                id = ia.id;
                if (id != 0)
                    cache_put(a, (uintptr_t)code, at, id);
            }
        }
        if (w->fn == NULL) {
            if (id != 0)
                w->ids[w->n++] = id;
            else
                atomic_fetch_add_explicit(&st_lost, 1, memory_order_relaxed);
        }
        a->decref(code);
        void *back = a->frame_back(f);
        a->decref(f);
        f = back;
    }
    if (f != NULL)
        a->decref(f);
    if (saved)
        a->err_restore(et, ev, etb);
}

/* True when the calling thread can read its Python frames now; takes the GIL then (*gil, to
 * give back with a->gil_release). */
static const py_api *enter(int *gil)
{
    const py_api *a = api();
    if (a == NULL || !a->is_initialized() || (a->finalizing != NULL && a->finalizing()))
        return NULL;
    if (a->gil_this() == NULL) /* a thread Python does not know: no Python frames */
        return NULL;
    *gil = a->gil_ensure();
    return a;
}

bool ttm__py_present(void)
{
    const py_api *a = api();
    return a != NULL && a->is_initialized();
}

unsigned ttm__py_walk(void (*fn)(const ttm__py_frame *f, void *arg), void *arg, unsigned max)
{
    int gil;
    const py_api *a = enter(&gil);
    if (a == NULL)
        return 0;
    walk_state w = {.a = a, .max = max, .n = 0, .fn = fn, .arg = arg, .ids = NULL};
    walk(&w);
    a->gil_release(gil);
    return w.n;
}

unsigned ttm__py_stack(uintptr_t *pcs, unsigned n, unsigned cap)
{
    if (cap > TTM_SIDE_STACK_MAX)
        cap = TTM_SIDE_STACK_MAX;
    if (n > cap)
        n = cap;
    int gil;
    const py_api *a = enter(&gil);
    if (a == NULL)
        return n;
    uint32_t ids[TTM_SIDE_STACK_MAX];
    walk_state w = {.a = a, .max = cap, .n = 0, .fn = NULL, .arg = NULL, .ids = ids};
    walk(&w);
    a->gil_release(gil);
    if (w.n == 0)
        return n;
    atomic_fetch_add_explicit(&st_frames, w.n, memory_order_relaxed);

    /* The interpreter's own frames: the first one is where the Python frames go. */
    unsigned at = 0;
    while (at < n && !(pcs[at] >= a->text_lo && pcs[at] < a->text_hi))
        at++;
    uintptr_t tail[TTM_SIDE_STACK_MAX];
    unsigned ntail = 0;
    for (unsigned i = at + 1; i < n; i++)
        if (!(pcs[i] >= a->text_lo && pcs[i] < a->text_hi))
            tail[ntail++] = pcs[i];
    unsigned out = at;
    for (unsigned i = 0; i < w.n && out < cap; i++)
        pcs[out++] = (uintptr_t)(TTM_SIDE_PYFRAME_BIT | ids[i]);
    for (unsigned i = 0; i < ntail && out < cap; i++)
        pcs[out++] = tail[i];
    return out;
}
