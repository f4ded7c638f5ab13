/*
 * store.c — the registry's record store (store.h): chunks, free list, lists, bucket index.
 */
#include "core/store.h"

#include <string.h>

#include "common/alloc.h"
#include "ttmem/ttmem.h"

#define STORE_FIRST_BUCKETS 1024u

int ttm__store_init(ttm_store *st)
{
    *st = (ttm_store){
        .free_head = NIL, .orphans = {NIL, NIL}, .bucket_mask = STORE_FIRST_BUCKETS - 1};
    st->buckets = ttm__malloc(STORE_FIRST_BUCKETS * sizeof *st->buckets);
    if (st->buckets == NULL)
        return TTM_ENOMEM;
    memset(st->buckets, 0xff, STORE_FIRST_BUCKETS * sizeof *st->buckets);
    return TTM_OK;
}

void ttm__store_free(ttm_store *st)
{
    for (uint32_t i = 0; i < st->nchunks; i++)
        ttm__free(st->chunks[i]);
    ttm__free(st->chunks);
    for (uint32_t i = 0; i < st->nctx; i++)
        ttm__free(st->ctx[i]);
    ttm__free(st->ctx);
    ttm__free(st->buckets);
    *st = (ttm_store){0};
}

static bool buckets_grow(ttm_store *st)
{
    uint32_t cap = (st->bucket_mask + 1) * 2;
    uint32_t *nb = ttm__malloc((size_t)cap * sizeof *nb);
    if (nb == NULL)
        return false;
    memset(nb, 0xff, (size_t)cap * sizeof *nb);
    for (uint32_t i = 0; i < st->next_unused; i++) {
        rec *r = ttm__store_at(st, i);
        if (!(r->rflags & REC_USED))
            continue;
        uint32_t b = (uint32_t)(ttm__key_hash(r->device, 0, r->addr) & (cap - 1));
        r->next = nb[b];
        nb[b] = i;
    }
    ttm__free(st->buckets);
    st->buckets = nb;
    st->bucket_mask = cap - 1;
    return true;
}

static void list_remove(ttm_store *st, reclist *l, uint32_t i)
{
    rec *r = ttm__store_at(st, i);
    if (r->pprev != NIL)
        ttm__store_at(st, r->pprev)->pnext = r->pnext;
    else
        l->head = r->pnext;
    if (r->pnext != NIL)
        ttm__store_at(st, r->pnext)->pprev = r->pprev;
    else
        l->tail = r->pprev;
}

bool ttm__store_ctx_set_slow(ttm_store *st, uint32_t i, uint32_t ctx)
{
    uint32_t c = i >> TTM_STORE_CHUNK_SHIFT;
    if (c >= st->nctx) {
        /* cover every chunk there is: the array grows rarely (a chunk is 4096 records) */
        uint32_t n = st->nchunks > c ? st->nchunks : c + 1;
        uint32_t **nc = ttm__reallocarray(st->ctx, n, sizeof *nc);
        if (nc == NULL)
            return false;
        memset(nc + st->nctx, 0, (size_t)(n - st->nctx) * sizeof *nc);
        st->ctx = nc;
        st->nctx = n;
    }
    if (st->ctx[c] == NULL) {
        st->ctx[c] = ttm__calloc(TTM_STORE_CHUNK_SIZE, sizeof(uint32_t));
        if (st->ctx[c] == NULL)
            return false;
        st->nctx_chunks++;
    }
    st->ctx[c][i & (TTM_STORE_CHUNK_SIZE - 1)] = ctx;
    return true;
}

rec *ttm__store_new(ttm_store *st, reclist *l, uint32_t pid, uint16_t device, unsigned memtype,
                    uint64_t addr, uint32_t ctx)
{
    /* the index doubles at 1.25 records a bucket: right after, it holds 6.4 bytes per live
     * record, so a record (56) and its share of the index stay within 64 bytes at any size */
    uint64_t nb = (uint64_t)st->bucket_mask + 1;
    if (st->live + 1 > nb + nb / 4 && st->bucket_mask < (1u << 30))
        (void)buckets_grow(st); /* a full index only slows lookups down */
    uint32_t i = st->free_head;
    if (i != NIL) {
        st->free_head = ttm__store_at(st, i)->next;
    } else {
        if (st->next_unused == NIL - 1)
            return NULL;
        if ((st->next_unused >> TTM_STORE_CHUNK_SHIFT) == st->nchunks) {
            rec **nc = ttm__reallocarray(st->chunks, st->nchunks + 1, sizeof *nc);
            if (nc == NULL)
                return NULL;
            st->chunks = nc;
            rec *chunk = ttm__malloc(TTM_STORE_CHUNK_SIZE * sizeof(rec));
            if (chunk == NULL)
                return NULL;
            st->chunks[st->nchunks++] = chunk;
        }
        i = st->next_unused++;
    }
    rec *r = ttm__store_at(st, i);
    uint32_t *head = ttm__store_bucket(st, device, addr);
    bool orphan = l == NULL;
    if (orphan)
        l = &st->orphans;
    *r = (rec){
        .addr = addr,
        .pid = pid,
        .next = *head,
        .refs = 1,
        .device = device,
        .memtype = (uint8_t)memtype,
        .rflags = orphan ? REC_USED | REC_ORPHAN : REC_USED,
        .pprev = l->tail,
        .pnext = NIL,
    };
    *head = i;
    if (l->tail != NIL)
        ttm__store_at(st, l->tail)->pnext = i;
    else
        l->head = i;
    l->tail = i;
    st->live++;
    if (__builtin_expect((ctx | st->nctx) != 0, 0))
        (void)ttm__store_ctx_set(st, i, ctx); /* a context that cannot be kept is 0 */
    return r;
}

void ttm__store_delete(ttm_store *st, reclist *l, uint32_t i)
{
    rec *r = ttm__store_at(st, i);
    list_remove(st, l != NULL && !(r->rflags & REC_ORPHAN) ? l : &st->orphans, i);
    uint32_t *link = ttm__store_bucket(st, r->device, r->addr);
    while (*link != i)
        link = &ttm__store_at(st, *link)->next;
    *link = r->next;
    r->rflags = 0;
    r->next = st->free_head;
    st->free_head = i;
    st->live--;
}

size_t ttm__store_memory(const ttm_store *st)
{
    return (size_t)st->nchunks * TTM_STORE_CHUNK_SIZE * sizeof(rec) +
           ((size_t)st->bucket_mask + 1) * sizeof(uint32_t) + (size_t)st->nchunks * sizeof(rec *) +
           (size_t)st->nctx_chunks * TTM_STORE_CHUNK_SIZE * sizeof(uint32_t) +
           (size_t)st->nctx * sizeof(uint32_t *);
}
