/*
 * stack.h — call stacks in libttmem: capture of raw return addresses on the hot path, and their
 * interning into 32-bit stack ids that stay the same for the life of the process.
 *
 * Two walkers capture a stack:
 *   TTM__STACK_FP      a bounds-checked frame-pointer walk: each frame pointer must lie inside
 *                      the calling thread's stack [lo, hi) (taken once per thread with
 *                      pthread_getattr_np and cached in a thread-local), be aligned, and
 *                      strictly increase; the walk stops at the first frame that breaks a rule
 *                      (code built without frame pointers, e.g. Debian 12's libc), and records
 *                      nothing when the capture runs on another stack than the thread's own
 *                      (a signal stack, a coroutine's);
 *   TTM__STACK_UNWIND  the unwinder (unwind.h: libunwind loaded by dlopen, else libgcc), which
 *                      reads .eh_frame and needs no frame pointers (slower; docs/CLIENT.md,
 *                      "Stacks");
 *   TTM__STACK_AUTO    (an event's stack, ttm__stack_capture_at) the frame-pointer walk,
 *                      validated: kept when every address lies in a module of the side log's
 *                      last sync and the chain ended as chains end (a null link, the depth, or
 *                      a return address the unwinder showed to be followed only by start-up
 *                      frames); else the unwinder.
 * Both record return addresses, innermost first, and leave out the capture's own frame, the
 * `skip` frames above it, and the innermost frames that lie in libttmem's own text when
 * libttmem is a shared object of its own.
 *
 * The intern table maps a stack (its addresses) to an id 1, 2, 3, ... in order of first sight;
 * id 0 means "not interned" (empty stack, or a bound reached: counted). Lookups of a stack seen
 * before take no lock (an open-addressing probe with acquire loads); a new stack is inserted
 * under the table's mutex. The process's table writes each new stack's STACK record into the
 * side log (side_writer.h) under that mutex before the id is published, so no event can carry
 * an id the daemon cannot find; a stack the side log has no room for is refused (counted in
 * full). Memory comes from the libc allocator.
 */
#ifndef TTM_CLIENT_STACK_H
#define TTM_CLIENT_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TTM__STACK_DEPTH_DEFAULT 32
#define TTM__STACK_DEPTH_MAX 64 /* native frames */
/* Entries of one interned stack: native frames and Python frames together (side.h). */
#define TTM__STACK_INTERN_MAX 128
/* Bounds of the process's table: stacks, and bytes of addresses they hold together. */
#define TTM__STACK_MAX_STACKS 65536u
#define TTM__STACK_ARENA_BYTES (4u << 20)

typedef enum ttm__stack_walker {
    TTM__STACK_FP = 1,
    TTM__STACK_UNWIND = 2,
    TTM__STACK_AUTO = 3, /* ttm__stack_capture_at only */
} ttm__stack_walker;


/* The walker this build uses unless told otherwise (docs/CLIENT.md says why). */
ttm__stack_walker ttm__stack_walker_default(void);

/* Captures the caller's stack into pcs (room for depth entries; depth is clamped to
 * [0, TTM__STACK_DEPTH_MAX]): return addresses, innermost first, without this function's frame,
 * the next `skip` frames, and the innermost frames inside libttmem's text (when libttmem is a
 * shared object). Returns the number of addresses stored (0 when nothing could be walked).
 * Takes no lock; the first call on a thread reads that thread's stack bounds. */
unsigned ttm__stack_capture(uintptr_t *pcs, unsigned depth, unsigned skip, ttm__stack_walker w);

/* An event's stack: ret is the return address into the application of libttmem's public
 * call (its __builtin_return_address(0)) and fp that call's frame (__builtin_frame_address(0));
 * the stack stored in pcs (room for depth, clamped to TTM__STACK_DEPTH_MAX) starts at ret, so
 * none of libttmem's frames is in it however its functions were inlined. w: TTM__STACK_FP
 * (the walk from fp, as it is), TTM__STACK_UNWIND (the unwinder, cut before ret), or
 * TTM__STACK_AUTO (the policy above). When id is not NULL and the walk's stack was found in
 * the process's table while validating it (a stack seen before needs no module check), *id
 * receives its id, else 0. Returns the number of addresses (0: none could be found). Takes no
 * lock. */
unsigned ttm__stack_capture_at(uintptr_t *pcs, unsigned depth, uintptr_t ret, const void *fp,
                               ttm__stack_walker w, uint32_t *id);
/* How many times ttm__stack_capture_at ran the unwinder (for ttm_client_stats). */
uint64_t ttm__stack_unwinds(void);

/* The frame-pointer walk itself, from frame pointer fp over a stack [lo, hi): at most depth
 * return addresses into pcs. A frame is followed only while its pointer lies in [lo, hi - 2
 * words], is aligned and is above the previous one; nothing outside [lo, hi) is read. Returns
 * the number of addresses stored. Exposed for tests that give it forged chains. */
unsigned ttm__stack_fp_walk(const void *fp, uintptr_t lo, uintptr_t hi, uintptr_t *pcs,
                            unsigned depth);

/* The intern table: opaque. ttm__stack_table_new returns NULL when out of memory; the table
 * owns everything it holds; ttm__stack_table_free(NULL) is a no-op, and no other thread may use
 * the table while it is freed. */
typedef struct ttm__stack_table ttm__stack_table;
ttm__stack_table *ttm__stack_table_new(uint32_t max_stacks, size_t arena_bytes);
void ttm__stack_table_free(ttm__stack_table *t);

/* The process's table (bounds TTM__STACK_MAX_STACKS / TTM__STACK_ARENA_BYTES), created at the
 * first call; NULL if it could not be allocated (then every intern into it returns 0). */
ttm__stack_table *ttm__stack_table_process(void);

/* The id of the stack pcs[0..n) in t (t may be NULL: 0), inserting it when new. Returns 0 for
 * n == 0, for n > TTM__STACK_INTERN_MAX, and when the table or its arena is full or (the
 * process's table) the side log refused the record (counted in full). Thread-safe; no lock
 * when the stack was seen before. */
uint32_t ttm__stack_intern(ttm__stack_table *t, const uintptr_t *pcs, unsigned n);

/* The step that ships a new stack (the process's table: ttm__side_stack, which writes its
 * STACK record): called under the table's mutex with the id the stack is about to get and its
 * addresses, before the id is published; false refuses the stack (not interned, counted in
 * full, its id given to the next one). NULL (a new table's default): none. Set it before the
 * table is used. */
typedef bool (*ttm__stack_emit_fn)(uint32_t id, const uintptr_t *pcs, unsigned n);
void ttm__stack_table_set_emit(ttm__stack_table *t, ttm__stack_emit_fn emit);

typedef struct ttm__stack_stats {
    uint64_t stacks;      /* interned */
    uint64_t arena_bytes; /* bytes of addresses they hold */
    uint64_t full;        /* interns refused because a bound was reached or emit refused */
} ttm__stack_stats;
/* Fills *st with t's counters (all 0 for t == NULL). Thread-safe. */
void ttm__stack_table_stats(ttm__stack_table *t, ttm__stack_stats *st);

/* fork: prepare takes the process table's mutex (before the side log writer's), parent and
 * child release it; the child keeps the table (its side log starts as a copy of the parent's).
 * Called from session.c's atfork handlers. */
void ttm__stack_atfork_prepare(void);
void ttm__stack_atfork_parent(void);
void ttm__stack_atfork_child(void);

#endif /* TTM_CLIENT_STACK_H */
