/*
 * unwind.h — libttmem's unwinder for code built without frame pointers: return addresses of
 * the calling thread's stack read from the unwind tables (.eh_frame), for the stack capture
 * (stack.c) when the frame-pointer walk cannot be trusted.
 *
 * Two back ends, the best available chosen at the first use:
 *   libunwind  libunwind's unw_backtrace (libunwind.so.8, Debian package libunwind8), which
 *              caches the unwind rule of every return address it has seen once (a per-thread
 *              cache of frame layouts), so a call site seen before costs a few ns per frame.
 *              It is loaded with dlopen(RTLD_LOCAL | RTLD_NOW), never linked: libunwind.so.8
 *              also defines `backtrace` and `_Unwind_Backtrace`, and linking it would reroute
 *              glibc's backtrace() (and libgcc's unwinder) in the whole process; loaded
 *              RTLD_LOCAL its symbols stay out of the global scope (test_unwind checks that
 *              `backtrace` still resolves to libc after the load);
 *   libgcc     libgcc's _Unwind_Backtrace (libgcc_s.so.1, which every glibc process has),
 *              when libunwind.so.8 is absent or TTMEM_UNWINDER=libgcc; it interprets the CFI
 *              of every frame afresh (~300 ns per frame).
 * Both give return addresses, innermost first (for the daemon and the symbolizer: the caller's
 * instruction is at address - 1), the same ones for the same chain.
 *
 * Environment (read once, at the first capture): TTMEM_UNWINDER=libgcc forces the fallback;
 * anything else (or unset) means the best available.
 */
#ifndef TTM_CLIENT_UNWIND_H
#define TTM_CLIENT_UNWIND_H

#include <stdint.h>

/* The back end in use, after the first capture (or the first call of this function, which
 * makes the choice): "libunwind" or "libgcc". Never NULL; thread-safe. */
const char *ttm__unwind_name(void);

/* Captures the caller's stack into pcs (room for depth entries): return addresses, innermost
 * first, starting with the one into the caller of this function, after leaving out `skip`
 * more. Returns the number stored (0 for depth 0 or when nothing could be unwound).
 * Thread-safe; the first call in the process loads the back end (dlopen, under a lock); later
 * calls take no lock and allocate nothing (libunwind's per-thread cache is allocated once per
 * thread, at that thread's first capture). Not async-signal-safe: a signal handler must not
 * capture while its thread is inside a capture or the dynamic loader. */
unsigned ttm__unwind_capture(uintptr_t *pcs, unsigned depth, unsigned skip);

/* Test hook: forgets the choice; the next capture chooses again, trying to dlopen `soname`
 * (NULL: "libunwind.so.8") and reading TTMEM_UNWINDER again. A library already loaded stays
 * loaded. Not thread-safe: only while no other thread captures. */
void ttm__unwind_reset(const char *soname);

#endif /* TTM_CLIENT_UNWIND_H */
