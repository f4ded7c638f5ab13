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
/* Symbolic name of an error code ("TTM_EPROTO"); never NULL. */
TTM_API const char *ttm_err_name(int err);

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

#ifdef __cplusplus
}
#endif

#endif /* TTMEM_TTMEM_H */
