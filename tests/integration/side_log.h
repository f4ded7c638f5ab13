/*
 * side_log.h — a side log (common/side.h) written by hand, for the tests and the fuzz target
 * of the daemon's reader (src/daemon/side_ingest.c): the header, records of every type in the
 * format side.h gives (also malformed ones, through side_log_rec), and `committed` published
 * with release order as the client's writer does. Header-only: each user includes it once.
 */
#ifndef TTM_TESTS_SIDE_LOG_H
#define TTM_TESTS_SIDE_LOG_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/bytes.h"
#include "common/side.h"

typedef struct side_log {
    uint8_t *mem;  /* the whole log, header first */
    size_t bytes;
    uint64_t end;  /* bytes of records written after the header (committed or not) */
} side_log;

/* Writes the header of a log of bytes bytes at mem (zeroed first). */
static inline void side_log_init(side_log *l, void *mem, size_t bytes)
{
    memset(mem, 0, bytes);
    l->mem = mem;
    l->bytes = bytes;
    l->end = 0;
    ttm_side_hdr *h = mem;
    h->magic = TTM_SIDE_MAGIC;
    h->version = TTM_SIDE_VERSION;
    h->hdr_size = sizeof *h;
    h->map_bytes = bytes;
    h->creator_pid = 1;
}

static inline ttm_side_hdr *side_log_hdr(const side_log *l)
{
    return (ttm_side_hdr *)(void *)l->mem;
}

/* Appends one record (not committed): its header says len, its payload is plen bytes of p
 * (plen may differ from len, for malformed records), padded to 8. Returns the record's offset
 * after the header, or UINT64_MAX when it does not fit. */
static inline uint64_t side_log_rec_raw(side_log *l, uint16_t type, uint32_t len, const void *p,
                                        size_t plen)
{
    size_t whole = 8 + ((plen + 7) & ~(size_t)7);
    if (sizeof(ttm_side_hdr) + l->end + whole > l->bytes)
        return UINT64_MAX;
    uint8_t *r = l->mem + sizeof(ttm_side_hdr) + l->end;
    ttm__put_le16(r, type);
    ttm__put_le16(r + 2, 0);
    ttm__put_le32(r + 4, len);
    if (plen > 0)
        memcpy(r + 8, p, plen);
    memset(r + 8 + plen, 0, whole - 8 - plen);
    uint64_t at = l->end;
    l->end += whole;
    return at;
}

static inline uint64_t side_log_rec(side_log *l, uint16_t type, const void *p, size_t len)
{
    return side_log_rec_raw(l, type, (uint32_t)len, p, len);
}

/* Publishes every record written so far (release order, as the client does). */
static inline void side_log_commit(side_log *l)
{
    atomic_store_explicit(&side_log_hdr(l)->committed, l->end, memory_order_release);
}

static inline uint64_t side_log_module(side_log *l, uint32_t id, uint64_t bias, uint64_t lo,
                                       uint64_t hi, const uint8_t *bid, uint32_t bid_len,
                                       const char *path)
{
    uint8_t p[TTM_SIDE_MODULE_FIXED + TTM_SIDE_PATH_MAX];
    size_t n = strlen(path);
    memset(p, 0, TTM_SIDE_MODULE_FIXED);
    ttm__put_le32(p, id);
    ttm__put_le32(p + 4, bid_len);
    ttm__put_le64(p + 8, bias);
    ttm__put_le64(p + 16, lo);
    ttm__put_le64(p + 24, hi);
    if (bid_len > 0 && bid_len <= TTM_SIDE_BUILD_ID_MAX)
        memcpy(p + 32, bid, bid_len);
    memcpy(p + TTM_SIDE_MODULE_FIXED, path, n);
    return side_log_rec(l, TTM_SIDE_MODULE, p, TTM_SIDE_MODULE_FIXED + n);
}

static inline uint64_t side_log_unmap(side_log *l, uint32_t id)
{
    uint8_t p[4];
    ttm__put_le32(p, id);
    return side_log_rec(l, TTM_SIDE_UNMAP, p, sizeof p);
}

static inline uint64_t side_log_string(side_log *l, uint32_t id, uint32_t kind, const char *s)
{
    uint8_t p[8 + TTM_SIDE_STRING_MAX];
    size_t n = strlen(s);
    ttm__put_le32(p, id);
    ttm__put_le32(p + 4, kind);
    memcpy(p + 8, s, n);
    return side_log_rec(l, TTM_SIDE_STRING, p, 8 + n);
}

static inline uint64_t side_log_pyframe(side_log *l, uint32_t id, uint32_t file, uint32_t func,
                                        uint32_t line)
{
    uint8_t p[16];
    ttm__put_le32(p, id);
    ttm__put_le32(p + 4, file);
    ttm__put_le32(p + 8, func);
    ttm__put_le32(p + 12, line);
    return side_log_rec(l, TTM_SIDE_PYFRAME, p, sizeof p);
}

static inline uint64_t side_log_stack(side_log *l, uint32_t id, const uint64_t *pcs,
                                      uint32_t depth)
{
    uint8_t p[8 + 8 * TTM_SIDE_STACK_MAX];
    if (depth > TTM_SIDE_STACK_MAX)
        return UINT64_MAX;
    ttm__put_le32(p, id);
    ttm__put_le32(p + 4, depth);
    for (uint32_t i = 0; i < depth; i++)
        ttm__put_le64(p + 8 + 8 * (size_t)i, pcs[i]);
    return side_log_rec(l, TTM_SIDE_STACK, p, 8 + 8 * (size_t)depth);
}

#endif /* TTM_TESTS_SIDE_LOG_H */
