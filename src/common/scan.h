/*
 * scan.h — the bounded text cursor the prototype's log readers share (src/common/poclog.c for
 * the server's lines, src/common/poctrace.c for the stack-trace log): literals, decimal and
 * hexadecimal numbers that refuse to overflow, and the copy of a bad line kept for display.
 * The text need not be NUL-terminated and may hold any byte.
 */
#ifndef TTM_COMMON_SCAN_H
#define TTM_COMMON_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct ttm_scan {
    const char *p;
    const char *end;
} ttm_scan;

/* Takes the literal lit if the text goes on with it. */
static inline bool ttm__scan_lit(ttm_scan *c, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
        return false;
    c->p += n;
    return true;
}

static inline bool ttm__scan_at_end(const ttm_scan *c)
{
    return c->p == c->end;
}

/* One or more decimal digits; false on none or on a value past UINT64_MAX. */
static inline bool ttm__scan_dec(ttm_scan *c, uint64_t *out)
{
    uint64_t v = 0;
    const char *start = c->p;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        unsigned d = (unsigned)(*c->p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
        c->p++;
    }
    *out = v;
    return c->p != start;
}

/* One or more hexadecimal digits (either case, no prefix); false on none or past 64 bits. */
static inline bool ttm__scan_hexdigits(ttm_scan *c, uint64_t *out)
{
    uint64_t v = 0;
    const char *start = c->p;
    for (; c->p < c->end; c->p++) {
        unsigned ch = (unsigned char)*c->p | 0x20, d;
        if (ch >= '0' && ch <= '9')
            d = ch - '0';
        else if (ch >= 'a' && ch <= 'f')
            d = ch - 'a' + 10;
        else
            break;
        if (v >> 60)
            return false;
        v = v << 4 | d;
    }
    *out = v;
    return c->p != start;
}

/* Copies at most cap - 1 bytes of line into dst, NUL-terminated (cap > 0). */
static inline void ttm__scan_keep(char *dst, size_t cap, const char *line, size_t len)
{
    size_t n = len < cap - 1 ? len : cap - 1;
    memcpy(dst, line, n);
    dst[n] = '\0';
}

#endif /* TTM_COMMON_SCAN_H */
