/*
 * side_writer.h — libttmem's writer of the side log (format and ordering rules in
 * common/side.h): the memfd beside the ring that carries what events refer to but do not hold
 * (the modules mapped, the interned call stacks, scope names, Python frames).
 *
 * One side log per process image, created at the first need (the session's start, or the first
 * record, whichever comes first), handed to every daemon that takes the ring (the third HELLO
 * descriptor, TTM_HELLO_SIDE): a daemon that attaches later reads it from its start, so every
 * record reaches each daemon once. A forked child starts its own as a copy of what its parent
 * had committed at the fork (the ids the child inherited in its tables stay valid); an exec'ed
 * image starts from nothing.
 *
 * Writers append under one process-local mutex (never on the path of an event whose stack and
 * scope were seen before). Bounds: the memfd's size (TTM_SIDE_DEFAULT_BYTES, or
 * $TTMEM_SIDE_BYTES within [TTM_SIDE_MIN_BYTES, TTM_SIDE_MAX_BYTES]), the string table
 * (TTM__SIDE_MAX_STRINGS in TTM__SIDE_STRING_ARENA bytes), the Python frame table
 * (TTM__SIDE_MAX_PYFRAMES), the module table (TTM__SIDE_MAX_MODULES live modules); each
 * refusal is counted (ttm__side_stats_get).
 */
#ifndef TTM_CLIENT_SIDE_WRITER_H
#define TTM_CLIENT_SIDE_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/side.h"

#define TTM__SIDE_MAX_STRINGS  16384u
#define TTM__SIDE_MAX_PYFRAMES 65536u
#define TTM__SIDE_MAX_MODULES  512u       /* modules mapped at once (each: its executable range) */
#define TTM__SIDE_STRING_ARENA (1u << 20) /* bytes of all interned strings together */

/* The process's side log: makes it if there is none yet (memfd of the configured size,
 * sealed against shrinking and growing, header written), and returns its descriptor (owned by
 * libttmem: never close it) and mapping. Returns 0, TTM_ENOMEM or TTM_EIO (no side log: every
 * record is then refused and counted, events carry stack and scope 0). Thread-safe. */
int ttm__side_create(int *fd_out, ttm_side_hdr **map_out);

/* The id of the string s[0..n) of kind (TTM_SIDE_STR_*), writing a STRING record the first
 * time; n is cut at TTM_SIDE_STRING_MAX. Returns 0 (none) for n == 0, a bad kind, or when the
 * table or the side log is full (counted). Thread-safe. */
uint32_t ttm__side_string(unsigned kind, const char *s, size_t n);

/* The id of the Python frame (file and function STRING ids, line), writing a PYFRAME record
 * the first time. Returns 0 when file or func is 0 or a bound was reached (counted). */
uint32_t ttm__side_pyframe(uint32_t file, uint32_t func, uint32_t line);

/* Brings the MODULE / UNMAP records up to date with what is mapped: when dl_iterate_phdr's
 * dlpi_adds / dlpi_subs changed since the last sync (or there was none), rescans the loaded
 * objects, writes a MODULE for each new one (path: the program's is /proc/self/exe resolved,
 * the vDSO's "[vdso]"; build-id from its NT_GNU_BUILD_ID note; the range of its executable
 * PT_LOAD segments) and an UNMAP for each one gone. Called by the stack interning step before
 * it writes a STACK; cheap when nothing changed (one dl_iterate_phdr call that stops at the
 * first object). Thread-safe. */
void ttm__side_modules_sync(void);

/* Writes the STACK record of a newly interned stack (id, then pcs[0..n), innermost first;
 * entries with TTM_SIDE_PYFRAME_BIT are Python frames), after a modules sync. Called by the
 * intern step under its table lock, before the id is published: false (nothing written,
 * counted) when the side log has no room or n is out of [1, TTM_SIDE_STACK_MAX], and the
 * stack must then not be handed out. */
bool ttm__side_stack(uint32_t id, const uintptr_t *pcs, unsigned n);

/* True when every pcs[0..n) lies in the executable range of a module of the last sync.
 * Lock-free (a sequence-checked read of the range table); validates a frame-pointer walk. */
bool ttm__side_pcs_known(const uintptr_t *pcs, unsigned n);

typedef struct ttm__side_stats {
    uint64_t bytes; /* committed bytes of records */
    uint64_t full;  /* records refused for want of room (the header's `full`) */
    uint64_t strings, pyframes, modules, unmaps, stacks; /* records written */
    uint64_t table_full; /* strings / frames / modules refused: their table was full */
    uint64_t syncs;      /* module rescans */
} ttm__side_stats;
/* Copies the writer's counters (all 0 before the side log exists). Thread-safe. */
void ttm__side_stats_get(ttm__side_stats *st);

/* True when fd is still the side log's descriptor (the application may close it, as it may
 * any descriptor). When it is not, ttm__side_rebuild() makes a new memfd holding a copy of
 * everything committed, so that the next daemon still gets the whole log. Both under the
 * session's setup lock (session.c). */
bool ttm__side_fd_ours(void);
int ttm__side_rebuild(void);

/* fork: prepare takes the writer's lock (so the child's copy is consistent), parent releases
 * it, child releases it and forgets the parent's side log (the child's first need copies it into
 * a memfd of its own). Called from session.c's atfork handlers. */
void ttm__side_atfork_prepare(void);
void ttm__side_atfork_parent(void);
void ttm__side_atfork_child(void);

#endif /* TTM_CLIENT_SIDE_WRITER_H */
