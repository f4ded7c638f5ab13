/*
 * bytes.h — the project's one little-endian codec: explicit fixed-width fields that do not
 * depend on the host's byte order or alignment, a growable output buffer, a writer over it
 * whose error is sticky, and a bounded reader whose error is sticky.
 *
 * Every wire format here (the query protocol, the registry's state, the daemon's state file,
 * the legacy socket, TT-Metal's regions) reads and writes its integers through this file.
 * A writer or reader is checked once, at the end of a record, instead of after every field: a
 * failed call does nothing and every later call does nothing either.
 */
#ifndef TTM_COMMON_BYTES_H
#define TTM_COMMON_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- fixed-width fields at a known place --------------------------------------------------- */

/* The low n bytes (1..8) of v at p, least significant first. */
static inline void ttm__put_le(uint8_t *p, uint64_t v, unsigned n)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(p, &v, n);
#else
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
#endif
}

/* The n-byte (1..8) little-endian integer at p. */
static inline uint64_t ttm__get_le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(&v, p, n);
#else
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
#endif
    return v;
}

static inline uint16_t ttm__le16(const uint8_t *p) { return (uint16_t)ttm__get_le(p, 2); }
static inline uint32_t ttm__le32(const uint8_t *p) { return (uint32_t)ttm__get_le(p, 4); }
static inline uint64_t ttm__le64(const uint8_t *p) { return ttm__get_le(p, 8); }
static inline void ttm__put_le16(uint8_t *p, uint16_t v) { ttm__put_le(p, v, 2); }
static inline void ttm__put_le32(uint8_t *p, uint32_t v) { ttm__put_le(p, v, 4); }
static inline void ttm__put_le64(uint8_t *p, uint64_t v) { ttm__put_le(p, v, 8); }

/* ---- a growable buffer and its writer ------------------------------------------------------ */

/* Zero-initialise it; ttm__bytes_free() releases it. */
typedef struct ttm_bytes {
    uint8_t *data;
    size_t len, cap;
} ttm_bytes;

void ttm__bytes_free(ttm_bytes *b);

typedef struct ttm_bw {
    ttm_bytes *b;
    int err; /* 0, or the first failure: TTM_ENOMEM (or a caller's, via ttm__bw_fail) */
} ttm_bw;

static inline ttm_bw ttm__bw_over(ttm_bytes *b) { return (ttm_bw){.b = b, .err = 0}; }

/* Appends n bytes and returns where they go (uninitialised), or NULL after a failure. */
uint8_t *ttm__bw_room(ttm_bw *w, size_t n);
/* Records a failure of the caller's (the first one stays). */
void ttm__bw_fail(ttm_bw *w, int err);

void ttm__bw_u8(ttm_bw *w, uint8_t v);
void ttm__bw_u16(ttm_bw *w, uint16_t v);
void ttm__bw_u32(ttm_bw *w, uint32_t v);
void ttm__bw_u64(ttm_bw *w, uint64_t v);
void ttm__bw_f64(ttm_bw *w, double v); /* the IEEE-754 bits as a u64 */
void ttm__bw_bytes(ttm_bw *w, const void *src, size_t n);
/* A fixed-width string field of n bytes (n >= 1): at most n-1 bytes of s, NUL-padded. */
void ttm__bw_str(ttm_bw *w, const char *s, size_t n);
/* Overwrites an n-byte field written earlier at offset at (e.g. a length). */
void ttm__bw_patch(ttm_bw *w, size_t at, uint64_t v, unsigned n);
/* A base-128 varint (protobuf's): 7 bits a byte, least significant first, the high bit set on
 * every byte but the last; 1..10 bytes. A negative int64 is written as its u64 (10 bytes). */
void ttm__bw_varint(ttm_bw *w, uint64_t v);

/* ---- a bounded reader ---------------------------------------------------------------------- */

typedef struct ttm_br {
    const uint8_t *p;
    size_t len, pos;
    bool bad;
    const char *what; /* the first field that did not fit or did not check */
} ttm_br;

static inline ttm_br ttm__br_over(const uint8_t *p, size_t len)
{
    return (ttm_br){.p = p, .len = len, .pos = 0, .bad = false, .what = NULL};
}

/* Marks the reader bad (the first reason stays). */
void ttm__br_fail(ttm_br *r, const char *what);
/* Bytes left; 0 once bad. */
size_t ttm__br_left(const ttm_br *r);
/* The next n bytes, or NULL (and bad) when fewer are left. */
const uint8_t *ttm__br_take(ttm_br *r, size_t n, const char *what);

uint8_t ttm__br_u8(ttm_br *r, const char *what);
uint16_t ttm__br_u16(ttm_br *r, const char *what);
uint32_t ttm__br_u32(ttm_br *r, const char *what);
uint64_t ttm__br_u64(ttm_br *r, const char *what);
/* A base-128 varint as ttm__bw_varint writes it; bad when it is cut short or over 10 bytes. */
uint64_t ttm__br_varint(ttm_br *r, const char *what);
double ttm__br_f64(ttm_br *r, const char *what);
/* A byte that must be 0 or 1. */
bool ttm__br_bool(ttm_br *r, const char *what);
/* A fixed-width string field of n bytes into dst (n bytes), always NUL-terminated. */
void ttm__br_str(ttm_br *r, char *dst, size_t n, const char *what);
/* A u32 element count, checked against what is left: that many elements of at least min_size
 * bytes each must fit (min_size 0: not checked). 0 once bad. */
size_t ttm__br_count(ttm_br *r, size_t min_size, const char *what);

#endif /* TTM_COMMON_BYTES_H */
