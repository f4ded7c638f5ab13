/*
 * top_draw.c — the drawing primitives of `ttmem top`'s layout: lines and spans of a frame,
 * clipped, aligned and wrapped text, and the short number formats (see top_draw.h).
 *
 * The one place that writes a frame's bytes: every section draws through these, so a line is
 * always exactly the frame's width, only printable ASCII, and a span never leaves the frame.
 */
#include "cli/top_draw.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"

/* ---- lines and spans ------------------------------------------------------------------------ */

int ttm__top_line(ttm_top_lay *L)
{
    ttm_top_frame *f = L->f;
    if (f->err || (int)f->nlines >= L->limit)
        return -1;
    size_t stride = (size_t)L->w + 1;
    if (f->nlines == f->cap_lines) {
        size_t cap = f->cap_lines ? f->cap_lines * 2 : 64;
        char *t = ttm__reallocarray(f->text, cap, stride);
        if (t == NULL) {
            f->err = TTM_ENOMEM;
            return -1;
        }
        f->text = t;
        f->cap_lines = cap;
    }
    char *line = f->text + f->nlines * stride;
    memset(line, ' ', (size_t)L->w);
    line[L->w] = '\0';
    return (int)f->nlines++;
}

void ttm__top_span(ttm_top_lay *L, int line, int col, int len, unsigned attr)
{
    ttm_top_frame *f = L->f;
    if (line < 0 || attr == TTM_TOP_A_NORMAL || col >= L->w || len <= 0 || f->err)
        return;
    if (col + len > L->w)
        len = L->w - col;
    if (f->nspans == f->cap_spans) {
        size_t cap = f->cap_spans ? f->cap_spans * 2 : 256;
        ttm_top_span *s = ttm__reallocarray(f->spans, cap, sizeof *s);
        if (s == NULL) {
            f->err = TTM_ENOMEM;
            return;
        }
        f->spans = s;
        f->cap_spans = cap;
    }
    f->spans[f->nspans++] =
        (ttm_top_span){(uint32_t)line, (uint16_t)col, (uint16_t)len, (uint8_t)attr};
}

/* Writes s at col (clipped at the width, non-printable bytes as '?'); returns the column after
 * it. A line of -1 (no room) writes nothing. */
int ttm__top_put(ttm_top_lay *L, int line, int col, unsigned attr, const char *s)
{
    int n = (int)strlen(s);
    if (line < 0 || col >= L->w || col < 0)
        return col + n;
    int len = n < L->w - col ? n : L->w - col;
    char *dst = L->f->text + (size_t)line * ((size_t)L->w + 1) + col;
    for (int i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        dst[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    ttm__top_span(L, line, col, len, attr);
    return col + n;
}

int ttm__top_putf(ttm_top_lay *L, int line, int col, unsigned attr, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return ttm__top_put(L, line, col, attr, buf);
}

/* s at col only when all of it fits in the width; returns the column after it, or col. */
int ttm__top_put_fit(ttm_top_lay *L, int line, int col, unsigned attr, const char *s)
{
    if (col + (int)strlen(s) > L->w)
        return col;
    return ttm__top_put(L, line, col, attr, s);
}

/* s right-aligned in [col, col + width), cut to width. */
void ttm__top_putr(ttm_top_lay *L, int line, int col, int width, unsigned attr, const char *s)
{
    int n = (int)strlen(s);
    if (n > width) {
        char buf[128];
        snprintf(buf, sizeof buf, "%.*s", width, s);
        ttm__top_put(L, line, col, attr, buf);
        return;
    }
    ttm__top_put(L, line, col + width - n, attr, s);
}

/* s left-aligned, cut to width. */
void ttm__top_putl(ttm_top_lay *L, int line, int col, int width, unsigned attr, const char *s)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%.*s", width < 255 ? width : 255, s);
    ttm__top_put(L, line, col, attr, buf);
}

/* Words of text wrapped at the width, from column indent: on `line` first (-1: a new line),
 * then on new lines. */
void ttm__top_wrap_at(ttm_top_lay *L, int line, int indent, unsigned attr, const char *text)
{
    int room = L->w - indent;
    if (room < 10)
        room = 10;
    const char *p = text;
    while (*p) {
        int len = (int)strlen(p);
        int take = len;
        if (take > room) {
            take = room;
            while (take > 0 && p[take] != ' ')
                take--;
            if (take == 0)
                take = room;
        }
        if (line < 0)
            line = ttm__top_line(L);
        if (line < 0)
            return;
        char buf[512];
        snprintf(buf, sizeof buf, "%.*s", take < 511 ? take : 511, p);
        ttm__top_put(L, line, indent, attr, buf);
        line = -1;
        p += take;
        while (*p == ' ')
            p++;
    }
}

void ttm__top_wrap(ttm_top_lay *L, int indent, unsigned attr, const char *text)
{
    ttm__top_wrap_at(L, -1, indent, attr, text);
}

/* ---- number formats ------------------------------------------------------------------------ */

/* At most 5 characters: "512B", "8.00K", "4.50M", "12.0G", "1023G". */
char *ttm__top_fmt_short(char buf[TTM_FMT_LEN], uint64_t v)
{
    static const char units[] = "BKMGTPE";
    if (v < 1024) {
        snprintf(buf, TTM_FMT_LEN, "%lluB", (unsigned long long)v);
        return buf;
    }
    double x = (double)v;
    unsigned u = 0;
    while (x >= 1024.0 && u + 1 < sizeof units - 1) {
        x /= 1024.0;
        u++;
    }
    snprintf(buf, TTM_FMT_LEN, x < 9.995 ? "%.2f%c" : x < 99.95 ? "%.1f%c" : "%.0f%c", x, units[u]);
    return buf;
}

char *ttm__top_fmt_size(const ttm_top_lay *L, char buf[TTM_FMT_LEN], uint64_t v)
{
    return L->wide ? ttm__fmt_bytes(buf, v) : ttm__top_fmt_short(buf, v);
}

/* A count in at most 6 characters: "12345", "1.2M". */
char *ttm__top_fmt_num(char buf[TTM_FMT_LEN], uint64_t v)
{
    if (v < 100000) {
        snprintf(buf, TTM_FMT_LEN, "%llu", (unsigned long long)v);
        return buf;
    }
    double x = (double)v;
    const char *u = "kMGTPE";
    unsigned i = 0;
    x /= 1000.0;
    while (x >= 999.5 && i < 5) {
        x /= 1000.0;
        i++;
    }
    snprintf(buf, TTM_FMT_LEN, x < 9.95 ? "%.1f%c" : "%.0f%c", x, u[i]);
    return buf;
}

/* "45s", "12m03s", "2h03m", "3d04h". */
char *ttm__top_fmt_age(char buf[TTM_FMT_LEN], uint64_t ns)
{
    uint64_t s = ns / 1000000000ull;
    if (s < 60)
        snprintf(buf, TTM_FMT_LEN, "%llus", (unsigned long long)s);
    else if (s < 3600)
        snprintf(buf, TTM_FMT_LEN, "%llum%02llus", (unsigned long long)(s / 60),
                 (unsigned long long)(s % 60));
    else if (s < 86400)
        snprintf(buf, TTM_FMT_LEN, "%lluh%02llum", (unsigned long long)(s / 3600),
                 (unsigned long long)(s % 3600 / 60));
    else
        snprintf(buf, TTM_FMT_LEN, "%llud%02lluh", (unsigned long long)(s / 86400),
                 (unsigned long long)(s % 86400 / 3600));
    return buf;
}

char *ttm__top_fmt_pct(char buf[TTM_FMT_LEN], uint64_t used, uint64_t cap, bool decimals)
{
    double pct = (double)used * 100.0 / (double)cap;
    if ((decimals && pct < 999.95) || (used > 0 && pct < 9.95))
        snprintf(buf, TTM_FMT_LEN, "%.1f%%", pct);
    else
        snprintf(buf, TTM_FMT_LEN, "%.0f%%", pct);
    return buf;
}