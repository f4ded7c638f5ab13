/*
 * bytes.c — the little-endian writer and reader of bytes.h.
 */
#include "common/bytes.h"

#include "common/alloc.h"
#include "ttmem/ttmem.h"

void ttm__bytes_free(ttm_bytes *b)
{
    if (b == NULL)
        return;
    ttm__free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void ttm__bw_fail(ttm_bw *w, int err)
{
    if (w->err == 0)
        w->err = err;
}

uint8_t *ttm__bw_room(ttm_bw *w, size_t n)
{
    if (w->err != 0)
        return NULL;
    ttm_bytes *b = w->b;
    if (n > SIZE_MAX - b->len) {
        w->err = TTM_ENOMEM;
        return NULL;
    }
    /* (an empty buffer gets its storage even for n == 0: the room is then a real pointer) */
    if (b->data == NULL || b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap = cap > SIZE_MAX / 2 ? b->len + n : cap * 2;
        uint8_t *p = ttm__reallocarray(b->data, cap, 1);
        if (p == NULL) {
            w->err = TTM_ENOMEM;
            return NULL;
        }
        b->data = p;
        b->cap = cap;
    }
    uint8_t *at = b->data + b->len;
    b->len += n;
    return at;
}

static void bw_le(ttm_bw *w, uint64_t v, unsigned n)
{
    uint8_t *p = ttm__bw_room(w, n);
    if (p)
        ttm__put_le(p, v, n);
}

void ttm__bw_u8(ttm_bw *w, uint8_t v) { bw_le(w, v, 1); }
void ttm__bw_u16(ttm_bw *w, uint16_t v) { bw_le(w, v, 2); }
void ttm__bw_u32(ttm_bw *w, uint32_t v) { bw_le(w, v, 4); }
void ttm__bw_u64(ttm_bw *w, uint64_t v) { bw_le(w, v, 8); }

void ttm__bw_f64(ttm_bw *w, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    bw_le(w, bits, 8);
}

void ttm__bw_bytes(ttm_bw *w, const void *src, size_t n)
{
    uint8_t *p = ttm__bw_room(w, n);
    if (p && n > 0)
        memcpy(p, src, n);
}

void ttm__bw_str(ttm_bw *w, const char *s, size_t n)
{
    uint8_t *p = ttm__bw_room(w, n);
    if (p == NULL)
        return;
    memset(p, 0, n);
    if (s != NULL && n > 0)
        memcpy(p, s, strnlen(s, n - 1));
}

void ttm__bw_patch(ttm_bw *w, size_t at, uint64_t v, unsigned n)
{
    if (w->err == 0 && at <= w->b->len && n <= w->b->len - at)
        ttm__put_le(w->b->data + at, v, n);
}

void ttm__bw_varint(ttm_bw *w, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    while (v >= 0x80) {
        tmp[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (uint8_t)v;
    ttm__bw_bytes(w, tmp, n);
}

void ttm__br_fail(ttm_br *r, const char *what)
{
    if (!r->bad) {
        r->bad = true;
        r->what = what;
    }
}

size_t ttm__br_left(const ttm_br *r)
{
    return r->bad ? 0 : r->len - r->pos;
}

const uint8_t *ttm__br_take(ttm_br *r, size_t n, const char *what)
{
    if (r->bad || n > r->len - r->pos) {
        ttm__br_fail(r, what);
        return NULL;
    }
    const uint8_t *at = r->p + r->pos;
    r->pos += n;
    return at;
}

static uint64_t br_le(ttm_br *r, unsigned n, const char *what)
{
    const uint8_t *p = ttm__br_take(r, n, what);
    return p ? ttm__get_le(p, n) : 0;
}

uint8_t ttm__br_u8(ttm_br *r, const char *what) { return (uint8_t)br_le(r, 1, what); }
uint16_t ttm__br_u16(ttm_br *r, const char *what) { return (uint16_t)br_le(r, 2, what); }
uint32_t ttm__br_u32(ttm_br *r, const char *what) { return (uint32_t)br_le(r, 4, what); }
uint64_t ttm__br_u64(ttm_br *r, const char *what) { return br_le(r, 8, what); }

uint64_t ttm__br_varint(ttm_br *r, const char *what)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < 10; i++) {
        const uint8_t *p = ttm__br_take(r, 1, what);
        if (p == NULL)
            return 0;
        /* the tenth byte holds bit 63 only */
        if (i == 9 && *p > 1) {
            ttm__br_fail(r, what);
            return 0;
        }
        v |= (uint64_t)(*p & 0x7f) << (7 * i);
        if ((*p & 0x80) == 0)
            return v;
    }
    ttm__br_fail(r, what);
    return 0;
}

double ttm__br_f64(ttm_br *r, const char *what)
{
    uint64_t bits = br_le(r, 8, what);
    double v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

bool ttm__br_bool(ttm_br *r, const char *what)
{
    uint8_t v = ttm__br_u8(r, what);
    if (v > 1)
        ttm__br_fail(r, what);
    return v == 1;
}

void ttm__br_str(ttm_br *r, char *dst, size_t n, const char *what)
{
    const uint8_t *p = ttm__br_take(r, n, what);
    if (n == 0)
        return;
    memset(dst, 0, n);
    if (p != NULL)
        memcpy(dst, p, n - 1);
}

size_t ttm__br_count(ttm_br *r, size_t min_size, const char *what)
{
    uint32_t n = ttm__br_u32(r, what);
    if (r->bad)
        return 0;
    if (min_size > 0 && n > ttm__br_left(r) / min_size) {
        ttm__br_fail(r, what);
        return 0;
    }
    return n;
}
