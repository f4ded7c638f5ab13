/*
 * pystack.h — the calling thread's Python frames in libttmem's stacks, for processes that
 * embed CPython (a Python program calling libttmem through ctypes, or a C extension that does),
 * without linking libpython: the CPython C API is looked up with dlsym(RTLD_DEFAULT) at the
 * first use (CPython 3.9 or later: PyThreadState_GetFrame, PyFrame_GetBack, PyFrame_GetCode
 * are 3.9's), and in a process without it every call returns at once, having done nothing
 * (each thread asks the loader whether libpython came in since, once every 1,024 calls).
 *
 * Frames are read with the GIL held: the calling thread takes it with PyGILState_Ensure (ctypes
 * releases it around a foreign call; a C extension holding it already takes it again, which
 * CPython allows) and gives it back before returning. A thread Python does not know (no thread
 * state: a thread the C code started itself) is left alone, so is an interpreter being
 * finalized. Taking the GIL may wait for the Python thread that holds it.
 *
 * Each Python frame becomes a PYFRAME of the side log (file, function, line; common/side.h),
 * interned by the side writer; a bounded cache maps (code object, instruction offset) to its
 * frame id, so a Python call site seen before costs no string work. The cache holds a reference
 * to each code object it keys on (its address can then never be reused for another one while
 * it is cached); when the cache is full, frames are still resolved, only not cached (counted).
 */
#ifndef TTM_CLIENT_PYSTACK_H
#define TTM_CLIENT_PYSTACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Slots of the (code object, instruction offset) -> frame id cache; filled up to 3/4. */
#define TTM__PY_CACHE_SLOTS 8192u

/* Interleaves the calling thread's Python frames with the native stack pcs[0..n) (return
 * addresses, innermost first, room for cap entries) and returns the new count (<= cap).
 * The rule: native frames whose address lies in libpython's text (the module that defines
 * PyEval_EvalCode; the python executable itself when it holds the interpreter) are the
 * interpreter's own; the innermost of them is replaced by the Python frames, innermost first,
 * and the other interpreter frames are left out. When no captured frame lies in libpython
 * (the capture stopped before reaching it), the Python frames are appended after the native
 * ones: they are the callers of all of them. Native frames between two runs of interpreter
 * frames (a C extension called from Python that calls Python again) stay, in their order,
 * after the Python frames: the public C API does not say which Python frames ran under which
 * C-level evaluation. Each Python frame is an entry TTM_SIDE_PYFRAME_BIT | frame id
 * (common/side.h); a frame whose id cannot be had (side log full) is left out. The output is
 * cut at cap (outermost frames go first). Returns n unchanged (cap-bounded) when Python is
 * absent, not initialized, or the thread has no Python frames. Thread-safe. */
unsigned ttm__py_stack(uintptr_t *pcs, unsigned n, unsigned cap);

/* True when the process has an initialized CPython whose C API was found. */
bool ttm__py_present(void);

/* One Python frame as read from the interpreter (strings valid only during the callback). */
typedef struct ttm__py_frame {
    const char *file, *func; /* co_filename, co_qualname (co_name before 3.11) */
    size_t file_len, func_len;
    uint32_t line; /* 0 unknown */
} ttm__py_frame;

/* Calls fn for each Python frame of the calling thread, innermost first, at most max of them,
 * reading every one afresh (no cache, no side log); returns how many. The same reading
 * ttm__py_stack does for a frame it has not cached; for tests and diagnostics. */
unsigned ttm__py_walk(void (*fn)(const ttm__py_frame *f, void *arg), void *arg, unsigned max);

typedef struct ttm__py_stats {
    uint64_t frames;     /* Python frames put into stacks */
    uint64_t misses;     /* of those: resolved afresh (strings read, ids interned) */
    uint64_t cached;     /* entries in the cache */
    uint64_t cache_full; /* frames not cached: the cache was full */
    uint64_t lost;       /* frames left out: no frame id (side log or its tables full) */
} ttm__py_stats;
/* Copies the counters. Thread-safe. */
void ttm__py_stats_get(ttm__py_stats *st);

#endif /* TTM_CLIENT_PYSTACK_H */
