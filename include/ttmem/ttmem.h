/*
 * ttmem.h — the public interface of ttmem, the device-memory tracker for TT-Metal accelerators.
 *
 * This is the only installed header. It holds the vocabulary shared by every part of ttmem
 * (error codes, memory types, event flags) and the client API of libttmem, through which an
 * application or runtime reports its device allocations to the ttmemd daemon.
 */
#ifndef TTMEM_TTMEM_H
#define TTMEM_TTMEM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define TTM_API __attribute__((visibility("default")))
#else
#define TTM_API
#endif

/* ---- errors ------------------------------------------------------------------------------- */

/* One list, three uses: the enum, ttm_strerror() and ttm_err_name(). 0 is success; errors are
 * negative. */
#define TTM_ERRNO_MAP(X)                                                                         \
    X(OK, 0, "success")                                                                          \
    X(EINVAL, -1, "invalid argument")                                                            \
    X(ENOMEM, -2, "out of memory")                                                               \
    X(EPROTO, -3, "malformed message from peer")                                                 \
    X(EVERSION, -4, "protocol version mismatch")                                                 \
    X(EIO, -5, "input/output error")                                                             \
    X(ENOENT, -6, "no such file, device or record")                                              \
    X(EEXIST, -7, "already exists")                                                              \
    X(ELIMIT, -8, "a configured limit was reached")                                              \
    X(ECONN, -9, "cannot connect to the daemon")                                                 \
    X(EAGAIN, -10, "resource temporarily unavailable")                                           \
    X(ETIMEDOUT, -11, "timed out")                                                               \
    X(ERANGE, -12, "value out of range")                                                         \
    X(EPERM, -13, "permission denied")                                                           \
    X(ECLOSED, -14, "connection closed by peer")                                                 \
    X(EDISABLED, -15, "tracking is disabled")

typedef enum ttm_err {
#define TTM__ERR_ENUM(name, value, text) TTM_##name = (value),
    TTM_ERRNO_MAP(TTM__ERR_ENUM)
#undef TTM__ERR_ENUM
} ttm_err;

/* Human-readable text of an error code; never NULL ("unknown error" for codes not in the list). */
TTM_API const char *ttm_strerror(int err);
/* Symbolic name of an error code ("TTM_EPROTO"); never NULL ("TTM_E?" for codes not in the
 * list). */
TTM_API const char *ttm_err_name(int err);
/* 1 when err is TTM_OK or an error of the list, 0 otherwise (how a status read from a peer is
 * checked). */
TTM_API int ttm_err_valid(int err);

/* ---- memory types ------------------------------------------------------------------------- */

/* TT-Metal's buffer-type numbering (0..4), extended with circular buffers and kernel code.
 * TTM_MEM_ANY is only valid on a free that does not know the type. */
typedef enum ttm_memtype {
    TTM_MEM_DRAM = 0,
    TTM_MEM_L1 = 1,
    TTM_MEM_SYSTEM = 2,
    TTM_MEM_L1_SMALL = 3,
    TTM_MEM_TRACE = 4,
    TTM_MEM_CB = 5,
    TTM_MEM_KERNEL = 6,
    TTM_MEM_ANY = 255
} ttm_memtype;

#define TTM_MEMTYPE_COUNT 7

/* Event flags. TTM_FLAG_VIEW: the object does not own its memory (a MeshBuffer's per-device
 * buffer, a Buffer::view() alias); views never hold bytes. */
#define TTM_FLAG_VIEW 0x0001u

/* Device architectures, numbered as TT-Metal's tt::ARCH (and the legacy protocol's arch_type). */
typedef enum ttm_arch {
    TTM_ARCH_INVALID = 0,
    TTM_ARCH_GRAYSKULL = 1,
    TTM_ARCH_WORMHOLE_B0 = 2,
    TTM_ARCH_BLACKHOLE = 3,
    TTM_ARCH_QUASAR = 4
} ttm_arch;

/* ---- client API (libttmem) ---------------------------------------------------------------
 *
 * An application reports its device allocations with these calls. Tracking is enabled when
 * the environment has TTMEM=1 or TT_ALLOC_TRACKING_ENABLED=1 (read once, at the first call);
 * otherwise every call returns TTM_EDISABLED after one predictable branch. The daemon's socket
 * is $TTMEM_SOCKET, else $XDG_RUNTIME_DIR/ttmem/ttmemd.sock, else /tmp/ttmem-$UID/ttmemd.sock.
 *
 * Every call is thread-safe and never blocks the caller without bound: events go into a
 * shared-memory ring with no system call; when the ring is full and a daemon is attached the
 * call waits for room (counted); when no daemon exists it drops the event (counted, and
 * reported to the next daemon). A forked child opens its own session at its first call.
 * Returns 0, TTM_EDISABLED, TTM_EINVAL (bad argument), or TTM_EAGAIN (dropped: no daemon).
 */

typedef struct ttm_client_stats {
    uint64_t events;     /* events committed to the ring */
    uint64_t waited;     /* events that waited for room */
    uint64_t dropped;    /* events dropped while no daemon existed */
    uint64_t reconnects; /* sessions opened after the first */
    int connected;       /* 1 while a daemon holds the ring */
    int enabled;         /* 1 when tracking is enabled */
    /* call stacks and scopes (the side log beside the ring) */
    uint64_t stacks;         /* distinct call stacks interned (and written to the side log) */
    uint64_t stacks_dropped; /* events sent with stack 0: nothing walked, or a bound reached */
    uint64_t side_full;      /* side log records refused: the side log is full */
    uint64_t side_bytes;     /* bytes of side log records written */
    uint64_t table_full;     /* scope names, Python frames or modules refused: their table
                                was full */
    uint64_t modules;        /* modules recorded (MODULE records), the unmapped ones included */
    uint64_t unwinds;        /* stacks the unwinder captured (the frame-pointer walk did not
                                do, or was not trusted to do) */
} ttm_client_stats;

/* 1 when tracking is enabled for this process, else 0. */
TTM_API int ttm_client_enabled(void);
/* An allocation of size bytes at addr on device. obj is the caller's identity for the buffer
 * (a unique id or pointer; 0 = none); flags may hold TTM_FLAG_VIEW. */
TTM_API int ttm_buffer_alloc(uint16_t device, ttm_memtype memtype, uint64_t addr, uint64_t size,
                             uint64_t obj, uint32_t flags);
/* A free. memtype may be TTM_MEM_ANY and size 0 when not known. */
TTM_API int ttm_buffer_free(uint16_t device, ttm_memtype memtype, uint64_t addr, uint64_t size,
                            uint64_t obj, uint32_t flags);
/* What a device is: its architecture and capacities in bytes (0 = use the profile's). */
TTM_API int ttm_device_describe(uint16_t device, ttm_arch arch, uint64_t dram_bytes,
                                uint64_t l1_bytes);
/* Marks the start of a named phase ("warmup", "trace capture"); name is cut at 39 bytes. */
TTM_API int ttm_phase_mark(const char *name);

/* Call stacks: off by default. With them on, every ttm_buffer_alloc/free records the caller's
 * stack (raw return addresses, interned into an id; symbolized by the daemon's reports, never
 * here). The environment sets them at the first call: TTMEM_STACKS=1|native|python (0|off:
 * none), TTMEM_STACK_DEPTH=N (native frames, default 32, at most 64). */
#define TTM_STACKS_NATIVE 1u /* return addresses */
#define TTM_STACKS_PYTHON 2u /* + the calling thread's Python frames (implies NATIVE) */
/* what 0 = off; depth 0 = 32, at most 64. Returns 0, TTM_EINVAL (unknown bits in what, depth
 * over 64) or TTM_EDISABLED (tracking off). */
TTM_API int ttm_stacks_set(unsigned what, unsigned depth);
/* What is on (TTM_STACKS_* bits, 0 = off); *depth (may be NULL) receives the depth. */
TTM_API unsigned ttm_stacks_get(unsigned *depth);
/* Scopes: a per-thread stack of names (an op's name between its start and end hooks); every
 * event carries the innermost one. name is cut at 255 bytes. push returns 0, TTM_EINVAL (NULL
 * or empty name), TTM_ELIMIT (64 deep already) or TTM_EDISABLED; pop returns 0, TTM_EINVAL
 * (nothing pushed) or TTM_EDISABLED. */
TTM_API int ttm_scope_push(const char *name);
TTM_API int ttm_scope_pop(void);
/* Waits up to timeout_ms until the daemon has consumed every event committed so far.
 * Returns 0, TTM_ETIMEDOUT, TTM_ECONN (no daemon) or TTM_EDISABLED. */
TTM_API int ttm_client_flush(int timeout_ms);
/* Copies the client's counters into *out. */
TTM_API void ttm_client_stats_get(ttm_client_stats *out);
/* Sets a callback for the client's diagnostics (connection lost, version mismatch, ...);
 * NULL restores the default, one line on stderr for the first of each kind. */
TTM_API void ttm_client_set_log(void (*fn)(int err, const char *msg, void *arg), void *arg);

/* The inline gate. The calls above are exported functions (dlsym and ctypes users call them);
 * C and C++ callers that include this header test the exported gate word first, inline, so
 * that a call with tracking disabled costs one load and one branch and no call. The gate word
 * is libttmem's: 0 until the first call reads the environment, then 1 (off) or 2 (on); only
 * libttmem writes it. Define TTM_NO_INLINE_GATE before including this header to call the
 * functions directly; (ttm_buffer_alloc)(...) and &ttm_buffer_alloc do so too. */
TTM_API extern int ttm__gate_word;
#define TTM__GATE_WORD_OFF 1

#if defined(__GNUC__) && !defined(TTM_NO_INLINE_GATE)
#define TTM__GATED __attribute__((always_inline, unused)) static inline
#define TTM__GATE_OFF() (__atomic_load_n(&ttm__gate_word, __ATOMIC_RELAXED) == TTM__GATE_WORD_OFF)

TTM__GATED int ttm__gated_buffer_alloc(uint16_t device, ttm_memtype memtype, uint64_t addr,
                                       uint64_t size, uint64_t obj, uint32_t flags)
{
    if (__builtin_expect(TTM__GATE_OFF(), 1))
        return TTM_EDISABLED;
    return (ttm_buffer_alloc)(device, memtype, addr, size, obj, flags);
}
TTM__GATED int ttm__gated_buffer_free(uint16_t device, ttm_memtype memtype, uint64_t addr,
                                      uint64_t size, uint64_t obj, uint32_t flags)
{
    if (__builtin_expect(TTM__GATE_OFF(), 1))
        return TTM_EDISABLED;
    return (ttm_buffer_free)(device, memtype, addr, size, obj, flags);
}
TTM__GATED int ttm__gated_device_describe(uint16_t device, ttm_arch arch, uint64_t dram_bytes,
                                          uint64_t l1_bytes)
{
    if (__builtin_expect(TTM__GATE_OFF(), 1))
        return TTM_EDISABLED;
    return (ttm_device_describe)(device, arch, dram_bytes, l1_bytes);
}
TTM__GATED int ttm__gated_phase_mark(const char *name)
{
    if (__builtin_expect(TTM__GATE_OFF(), 1))
        return TTM_EDISABLED;
    return (ttm_phase_mark)(name);
}
TTM__GATED int ttm__gated_scope_push(const char *name)
{
    if (__builtin_expect(TTM__GATE_OFF(), 1))
        return TTM_EDISABLED;
    return (ttm_scope_push)(name);
}
TTM__GATED int ttm__gated_scope_pop(void)
{
    if (__builtin_expect(TTM__GATE_OFF(), 1))
        return TTM_EDISABLED;
    return (ttm_scope_pop)();
}
#define ttm_buffer_alloc(...) ttm__gated_buffer_alloc(__VA_ARGS__)
#define ttm_buffer_free(...) ttm__gated_buffer_free(__VA_ARGS__)
#define ttm_device_describe(...) ttm__gated_device_describe(__VA_ARGS__)
#define ttm_phase_mark(...) ttm__gated_phase_mark(__VA_ARGS__)
#define ttm_scope_push(...) ttm__gated_scope_push(__VA_ARGS__)
#define ttm_scope_pop() ttm__gated_scope_pop()
#endif

#ifdef __cplusplus
}
#endif

#endif /* TTMEM_TTMEM_H */
