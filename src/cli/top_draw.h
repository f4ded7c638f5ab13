/*
 * top_draw.h — the drawing primitives of `ttmem top`'s layout (internal to src/cli/top_*.c):
 * the frame being written, lines, attribute spans, clipped and aligned text, wrapped text, and
 * the short number formats the sections share.
 *
 * Everything writes into the ttm_top_frame of a ttm_top_lay. A line number of -1 means "no
 * room" (ttm__top_line() returns it once the part's limit is reached, or after an allocation
 * failed): every primitive then writes nothing, so a section is written straight through and
 * simply stops appearing where the rows run out. An allocation failure is kept in f->err
 * (TTM_ENOMEM) and ttm__top_layout() returns it.
 */
#ifndef TTM_CLI_TOP_DRAW_H
#define TTM_CLI_TOP_DRAW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli/top_layout.h"
#include "common/fmt.h"

/* One frame being laid out. */
typedef struct ttm_top_lay {
    const ttm_top_model *m;
    const ttm_top_state *st;
    ttm_top_frame *f;
    int w;             /* width */
    int limit;         /* lines the current part may reach */
    bool bounded;      /* the frame has a height (a terminal), not every row of every section */
    bool wide;         /* room for long byte formats */
    const size_t *dev; /* the devices shown, as indexes into m->devices ... */
    size_t ndev;       /* ... and how many */
} ttm_top_lay;

/* Appends a blank line (w spaces) and returns its number, or -1 when the part's limit is
 * reached or the frame's storage cannot grow (f->err is then TTM_ENOMEM). */
int ttm__top_line(ttm_top_lay *L);

/* Marks len cells of a line from col with attr (clipped at the width). NORMAL, line -1 and
 * empty spans add nothing. */
void ttm__top_span(ttm_top_lay *L, int line, int col, int len, unsigned attr);

/* Writes s at col (clipped at the width, non-printable bytes as '?') with attr; returns the
 * column after all of s, whether it fitted or not. Line -1 writes nothing. */
int ttm__top_put(ttm_top_lay *L, int line, int col, unsigned attr, const char *s);

/* ttm__top_put() of a printf-formatted text (at most 511 bytes). */
int ttm__top_putf(ttm_top_lay *L, int line, int col, unsigned attr, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* s at col only when all of it fits in the width; returns the column after it, or col. */
int ttm__top_put_fit(ttm_top_lay *L, int line, int col, unsigned attr, const char *s);

/* s right-aligned in [col, col + width), cut to width. */
void ttm__top_putr(ttm_top_lay *L, int line, int col, int width, unsigned attr, const char *s);

/* s left-aligned from col, cut to width. */
void ttm__top_putl(ttm_top_lay *L, int line, int col, int width, unsigned attr, const char *s);

/* The words of text wrapped at the width from column indent: on `line` first (-1: a new
 * line), then on new lines while the part has room. */
void ttm__top_wrap_at(ttm_top_lay *L, int line, int indent, unsigned attr, const char *text);

/* ttm__top_wrap_at() starting on a new line. */
void ttm__top_wrap(ttm_top_lay *L, int indent, unsigned attr, const char *text);

/* Number formats into buf (TTM_FMT_LEN bytes); each returns buf. */
/* Bytes in at most 5 characters: "512B", "8.00K", "4.50M", "12.0G", "1023G". */
char *ttm__top_fmt_short(char buf[TTM_FMT_LEN], uint64_t v);
/* Bytes as the frame's width allows: the long "4.50 MiB" when L->wide, else the short form. */
char *ttm__top_fmt_size(const ttm_top_lay *L, char buf[TTM_FMT_LEN], uint64_t v);
/* A count in at most 6 characters: "12345", "1.2M". */
char *ttm__top_fmt_num(char buf[TTM_FMT_LEN], uint64_t v);
/* An age: "45s", "12m03s", "2h03m", "3d04h". */
char *ttm__top_fmt_age(char buf[TTM_FMT_LEN], uint64_t ns);
/* used as a percentage of cap (cap > 0): "35.0%", or "35%" unless decimals (small shares
 * keep their decimal). */
char *ttm__top_fmt_pct(char buf[TTM_FMT_LEN], uint64_t used, uint64_t cap, bool decimals);

#endif /* TTM_CLI_TOP_DRAW_H */
