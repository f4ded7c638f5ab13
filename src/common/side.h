/*
 * side.h — the side log: what a client's events refer to but do not carry (its call stacks,
 * the modules their addresses lie in, its scope names and Python frames), in a second memfd
 * beside the ring, written by the client (src/client/side.c) and read by the daemon
 * (src/daemon/side_ingest.c). Shared by both sides; docs/CLIENT.md and docs/DAEMON.md describe
 * it for users.
 *
 * Layout: a header (ttm_side_hdr, 128 bytes), then records up to map_bytes. The client creates
 * the memfd at its full size (TTM_SIDE_DEFAULT_BYTES unless told otherwise) and seals it against
 * shrinking and growing (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL), so the daemon's mapping can
 * never fault; the daemon refuses a side log that is not sealed so.
 *
 * Records: each starts on an 8-byte boundary with a ttm_side_rec header (type, payload length),
 * then the payload, padded with zero bytes to the next multiple of 8. Writers (any thread of
 * the client) append under one process-local lock: write the record's bytes, then store
 * `committed` (bytes of records after the header) with release order. The daemon reads
 * `committed` with acquire order and parses only [hdr_size, hdr_size + committed), copying
 * each record out of the shared mapping before it looks at it (the peer may rewrite bytes
 * under it) and checking every length against what is left.
 *
 * Order is the contract: a record is committed before anything refers to it. A STRING before
 * the PYFRAME or the scope id that names it; a PYFRAME before a STACK holding it; a MODULE
 * before any STACK captured while it was mapped; a STACK before the first event carrying its
 * id is committed to the ring (the interning step writes the record, then publishes the id).
 * So the daemon, having consumed an event from the ring (acquire), finds every id it carries
 * by reading the side log up to its current `committed`; an id still unknown then is the
 * peer's fault (counted, treated as 0).
 *
 * Ids: each kind has its own sequence, 1, 2, 3, ... in commit order (0 = none). Ids are the
 * process's; the daemon maps them into its own tables (core/stacks.h). A forked child or an
 * exec'ed image makes a new side log (and a new session) of its own.
 *
 * Full: a record that does not fit is not written; the client counts it in `full` and does not
 * hand out the id (the event carries 0).
 */
#ifndef TTM_COMMON_SIDE_H
#define TTM_COMMON_SIDE_H

#include <stdatomic.h>
#include <stdint.h>

#define TTM_SIDE_MAGIC 0x31454449534d5454ull /* "TTMSIDE1" little-endian */
#define TTM_SIDE_VERSION 1u
#define TTM_SIDE_DEFAULT_BYTES (16u << 20) /* 16 MiB, touched only as far as written */
#define TTM_SIDE_MIN_BYTES (64u << 10)
#define TTM_SIDE_MAX_BYTES (256u << 20)

typedef struct ttm_side_hdr {
    /* identity: written once by the creator */
    uint64_t magic;
    uint32_t version;
    uint32_t hdr_size;  /* sizeof(ttm_side_hdr) */
    uint64_t map_bytes; /* the memfd's size (header included) */
    uint32_t creator_pid;
    uint32_t reserved0[9];
    /* the writers' */
    _Alignas(64) _Atomic uint64_t committed; /* bytes of whole records after the header */
    _Atomic uint64_t full;                   /* records not written: no room */
    _Atomic uint64_t reserved1[6];
} ttm_side_hdr;

_Static_assert(sizeof(ttm_side_hdr) == 128, "side log header is two cache lines");

/* Record types. */
enum ttm_side_type {
    TTM_SIDE_MODULE = 1,  /* a module mapped (the executable, a shared object, the vDSO) */
    TTM_SIDE_UNMAP = 2,   /* a module unmapped (dlclose) */
    TTM_SIDE_STACK = 3,   /* an interned call stack */
    TTM_SIDE_STRING = 4,  /* an interned string: a scope name, a Python file or function */
    TTM_SIDE_PYFRAME = 5, /* an interned Python frame: file, function, line */
};

typedef struct ttm_side_rec {
    uint16_t type;     /* enum ttm_side_type; the daemon skips (and counts) unknown types */
    uint16_t reserved; /* 0 */
    uint32_t len;      /* payload bytes after this header (padding not counted) */
} ttm_side_rec;

/* Payloads, little-endian, fields in this order (no padding between them). */

/* MODULE: u32 id; u32 build_id_len (0..32); u64 bias (dl_iterate_phdr's dlpi_addr: add it to
 * an ELF virtual address to get the runtime address); u64 lo, hi (the runtime range
 * [lo, hi) of the module's executable PT_LOAD segments); u8 build_id[32] (the GNU build-id
 * note's bytes, zero-padded); then the path (the rest of the payload, 1..4096 bytes, no NUL;
 * the main program's is /proc/self/exe resolved, the vDSO's "[vdso]"). A module id is never
 * reused; a library mapped again after a dlclose gets a new id. */
#define TTM_SIDE_BUILD_ID_MAX 32u
#define TTM_SIDE_PATH_MAX 4096u
#define TTM_SIDE_MODULE_FIXED (4 + 4 + 8 + 8 + 8 + TTM_SIDE_BUILD_ID_MAX)

/* UNMAP: u32 id (a module id). Stacks committed before it stay valid: they were captured while
 * the module was mapped. */

/* STACK: u32 id; u32 depth (1..TTM_SIDE_STACK_MAX); u64 pcs[depth], innermost first. A native
 * entry is a return address (the daemon looks it up in the modules mapped when the record was
 * committed); an entry with bit 63 set is a Python frame, its low 32 bits a PYFRAME id. */
#define TTM_SIDE_STACK_MAX 128u /* native frames (up to 64) and Python frames together */
#define TTM_SIDE_PYFRAME_BIT (1ull << 63)

/* STRING: u32 id; u32 kind (TTM_SIDE_STR_*); then the bytes (1..TTM_SIDE_STRING_MAX, no NUL). */
enum { TTM_SIDE_STR_SCOPE = 1, TTM_SIDE_STR_PYFILE = 2, TTM_SIDE_STR_PYFUNC = 3 };
#define TTM_SIDE_STRING_MAX 1024u

/* PYFRAME: u32 id; u32 file (a STRING id); u32 function (a STRING id); u32 line (0 unknown). */

#endif /* TTM_COMMON_SIDE_H */
