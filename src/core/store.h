/*
 * store.h — the registry's record store: every live record (an owning buffer or a view), in
 * fixed chunks, indexed by (device, addr), each on its process's list.
 *
 * Memory layout, chosen for the ≤ 64 bytes per live buffer budget (docs/ARCHITECTURE.md) and
 * for ingest speed:
 * - records live in fixed chunks of 4096 (56 bytes each), recycled through a free list, so a
 *   growing store never moves a record and wastes at most one chunk;
 * - each record is also on a list (its process's, doubly linked through the record, in the
 *   order the records were made), so an exit visits the exiting process's records only and a
 *   record leaves its list in O(1); records made while the process table was full (no entry for
 *   their process, no list) are on one list of their own, the orphans;
 * - a record's context (its allocation's call site, a core/stacks.h context id) is not in the
 *   record but in a side array of 4096 32-bit ids per chunk, allocated the first time a
 *   non-zero context is stored in that chunk: a store that never sees one (stacks off, no
 *   marks) holds no byte more, one that does holds 4 bytes more per record;
 * - a power-of-two array of 32-bit bucket heads (one per 0.6 to 1.25 records) indexes them by
 *   (device, addr), without the space: records of every space at one address share a chain, so
 *   a FREE without memtype walks one chain, not three; records sharing a key (an owner, its
 *   views, records of other processes) sit in the same chain.
 *
 * The store decides nothing: which record an event takes is the rules' (registry.c). Records
 * are named by index (NIL for none); an index stays valid while its record is live.
 */
#ifndef TTM_CORE_STORE_H
#define TTM_CORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/event.h"
#include "common/hash.h"

#define NIL                   UINT32_MAX
#define TTM_STORE_CHUNK_SHIFT 12
#define TTM_STORE_CHUNK_SIZE  (1u << TTM_STORE_CHUNK_SHIFT)

enum {
    REC_USED = 1,           /* the slot holds a live record */
    REC_VIEW = 2,           /* the record is a view: no bytes */
    REC_ATTACHED = 4,       /* a view that found a live owner when it was allocated */
    REC_OWNER_RELEASED = 8, /* a view whose owner's memory has been released since */
    REC_ORPHAN = 16,        /* on the orphan list: its process had no entry when it was made */
};

typedef struct rec {
    uint64_t addr, size, obj, ts;
    uint32_t pid;
    uint32_t next; /* bucket chain while used; free list while not */
    uint32_t refs;
    uint16_t device;
    uint8_t memtype;
    uint8_t rflags;
    uint32_t pprev, pnext; /* the process's list (or the orphans'), NIL at its ends */
} rec;

_Static_assert(sizeof(rec) == 56, "a live record is 56 bytes");

/* A list of records through their pprev / pnext links: a process's, or the orphans'. */
typedef struct reclist {
    uint32_t head, tail; /* NIL when empty */
} reclist;

typedef struct ttm_store {
    rec **chunks;
    uint32_t nchunks;
    uint32_t next_unused; /* records ever handed out from the chunks */
    uint32_t free_head;
    uint64_t live;   /* records in use */
    reclist orphans; /* records whose process had no entry (the table was full) */
    uint32_t *buckets;
    uint32_t bucket_mask;
    uint32_t **ctx;  /* per chunk: its records' contexts, or NULL (all 0); NULL until needed */
    uint32_t nctx;   /* entries of ctx (chunks it covers) */
    uint32_t nctx_chunks; /* side arrays allocated */
} ttm_store;


/* The hash of a key (device, space, addr): the record index's (with space 0) and the
 * history's. */
static inline uint64_t ttm__key_hash(uint16_t device, unsigned space, uint64_t addr)
{
    return ttm__mix64(addr ^ ((uint64_t)device << 40) ^ ((uint64_t)space << 58));
}

/* The record with index i (it must have been handed out). */
static inline rec *ttm__store_at(const ttm_store *st, uint32_t i)
{
    return &st->chunks[i >> TTM_STORE_CHUNK_SHIFT][i & (TTM_STORE_CHUNK_SIZE - 1)];
}

/* The bucket head of (device, addr): where its chain starts. */
static inline uint32_t *ttm__store_bucket(const ttm_store *st, uint16_t device, uint64_t addr)
{
    return &st->buckets[ttm__key_hash(device, 0, addr) & st->bucket_mask];
}

static inline ttm_space ttm__rec_space(const rec *r)
{
    return ttm__memtype_space(r->memtype);
}

/* An empty store with its first index. Returns 0 or TTM_ENOMEM. */
int ttm__store_init(ttm_store *st);

/* Releases everything the store holds; a zeroed store is a no-op. */
void ttm__store_free(ttm_store *st);

/* The context of record i (0 when none was stored). */
static inline uint32_t ttm__store_ctx(const ttm_store *st, uint32_t i)
{
    uint32_t c = i >> TTM_STORE_CHUNK_SHIFT;
    return c < st->nctx && st->ctx[c] != NULL ? st->ctx[c][i & (TTM_STORE_CHUNK_SIZE - 1)] : 0;
}

/* The slow path of storing a context (store.c): allocates the chunk's side array. Returns
 * false when memory is short (the record then has context 0). */
bool ttm__store_ctx_set_slow(ttm_store *st, uint32_t i, uint32_t ctx);

/* Stores the context of record i: nothing is done (or allocated) for a 0 in a chunk that has
 * no side array. Returns false when memory is short (the record's context is then 0). */
static inline bool ttm__store_ctx_set(ttm_store *st, uint32_t i, uint32_t ctx)
{
    uint32_t c = i >> TTM_STORE_CHUNK_SHIFT;
    if (c < st->nctx && st->ctx[c] != NULL) {
        st->ctx[c][i & (TTM_STORE_CHUNK_SIZE - 1)] = ctx;
        return true;
    }
    return ctx == 0 || ttm__store_ctx_set_slow(st, i, ctx);
}

/*
 * Takes a free record for pid at (device, memtype, addr), links it into its chain and at the
 * end of list l (NULL: the record is an orphan, on the store's orphan list), with one
 * reference and context ctx (0: none; when the side array cannot be allocated the record is
 * kept with context 0); the caller fills size, obj and ts. Returns it, or NULL when memory is
 * short (nothing changed). May grow the index first. A new store hands out indices 0, 1, 2,
 * ... until a record is deleted.
 */
rec *ttm__store_new(ttm_store *st, reclist *l, uint32_t pid, uint16_t device, unsigned memtype,
                    uint64_t addr, uint32_t ctx);

/* Unlinks record i from its chain and from its list (l, the list of the record's process, or
 * the orphans when the record is one; l may be NULL then) and frees it. */
void ttm__store_delete(ttm_store *st, reclist *l, uint32_t i);

/* Bytes of the chunks, the contexts' side arrays and the index (the memory budget's
 * figure). */
size_t ttm__store_memory(const ttm_store *st);

#endif /* TTM_CORE_STORE_H */
