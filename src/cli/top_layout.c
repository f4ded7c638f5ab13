/*
 * top_layout.c — the pure layout of `ttmem top` (see top_layout.h): the names of views and
 * columns, the view state's defaults, and ttm__top_layout(), which sets a frame up and has
 * its parts drawn: the header, then the help, the nothing-to-monitor body or the view's body,
 * then the key-hint footer.
 *
 * Everything here is a function of (model, state, width, height). A bounded frame (the
 * terminal) is exactly `height` lines, shared among the view's parts by the row budget
 * (top_budget.c); an unbounded frame (--once into a pipe) shows every row of every part. The
 * parts are in their own files (top_parts.h lists them), the drawing primitives in
 * top_draw.c, the keys and their table in top_keys.c.
 */
#include "cli/top_layout.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cli/top_parts.h"
#include "common/alloc.h"

static const char *const view_names[] = {
#define TTM__TOP_VIEW_NAME(name, text) text,
    TTM_TOP_VIEW_MAP(TTM__TOP_VIEW_NAME)
#undef TTM__TOP_VIEW_NAME
};

static const char *const col_names[] = {
#define TTM__TOP_COL_NAME(name, text) text,
    TTM_TOP_COL_MAP(TTM__TOP_COL_NAME)
#undef TTM__TOP_COL_NAME
};

const char *ttm__top_view_name(ttm_top_view v)
{
    return (unsigned)v < TTM_TOP_VIEW__COUNT ? view_names[v] : "?";
}

const char *ttm__top_col_name(ttm_top_col c)
{
    return (unsigned)c < TTM_TOP_COL__COUNT ? col_names[c] : "?";
}

int ttm__top_view_parse(const char *s, ttm_top_view *out)
{
    for (unsigned i = 0; s != NULL && i < TTM_TOP_VIEW__COUNT; i++) {
        if (strcasecmp(s, view_names[i]) == 0) {
            *out = (ttm_top_view)i;
            return TTM_OK;
        }
    }
    return TTM_EINVAL;
}

int ttm__top_col_parse(const char *s, ttm_top_col *out)
{
    for (unsigned i = 0; s != NULL && i < TTM_TOP_COL__COUNT; i++) {
        if (strcasecmp(s, col_names[i]) == 0) {
            *out = (ttm_top_col)i;
            return TTM_OK;
        }
    }
    if (s != NULL && (strcasecmp(s, "anom") == 0 || strcasecmp(s, "devs") == 0)) {
        *out = s[0] == 'a' || s[0] == 'A' ? TTM_TOP_COL_ANOM : TTM_TOP_COL_DEVS;
        return TTM_OK;
    }
    return TTM_EINVAL;
}

void ttm__top_state_sort(ttm_top_state *st, ttm_top_col c)
{
    st->sort = c;
    st->ascending = c == TTM_TOP_COL_PID || c == TTM_TOP_COL_NAME;
}

void ttm__top_state_init(ttm_top_state *st, unsigned refresh_ms)
{
    memset(st, 0, sizeof *st);
    st->view = TTM_TOP_VIEW_DEVICES;
    ttm__top_state_sort(st, TTM_TOP_COL_DRAM);
    st->refresh_ms = refresh_ms;
}

ttm_top_attr ttm__top_level_attr(uint64_t used, uint64_t capacity)
{
    if (capacity == 0)
        return TTM_TOP_A_NA;
    double pct = (double)used * 100.0 / (double)capacity;
    return pct >= TTM_TOP_CRIT_PCT   ? TTM_TOP_A_CRIT
           : pct >= TTM_TOP_WARN_PCT ? TTM_TOP_A_WARN
                                     : TTM_TOP_A_OK;
}

/* ---- the frame ----------------------------------------------------------------------------- */

static bool dev_shown(const ttm_top_state *st, const ttm_top_device *d)
{
    return !st->filter || d->device == st->filter_device;
}

void ttm__top_frame_free(ttm_top_frame *f)
{
    if (f == NULL)
        return;
    ttm__free(f->text);
    ttm__free(f->spans);
    ttm__free(f->rows);
    ttm__free(f->devs);
    memset(f, 0, sizeof *f);
}

const char *ttm__top_frame_line(const ttm_top_frame *f, size_t i)
{
    return f->text + i * ((size_t)f->width + 1);
}

int ttm__top_layout(const ttm_top_model *m, const ttm_top_state *st, int width, int height,
                    ttm_top_frame *f)
{
    if (width < 1)
        width = 1;
    if (height < 0)
        height = 0;
    if (f->width != width) { /* the line stride changes */
        ttm__free(f->text);
        f->text = NULL;
        f->cap_lines = 0;
    }
    f->width = width;
    f->height = height;
    f->nlines = f->nspans = 0;
    f->too_small = false;
    f->scroll = f->scroll_max = 0;
    f->err = TTM_OK;
    ttm_top_lay L = {m, st, f, width, height > 0 ? height : INT_MAX, height > 0, width >= 120};

    if (width < TTM_TOP_MIN_WIDTH || (height > 0 && height < TTM_TOP_MIN_HEIGHT)) {
        f->too_small = true;
        int line = ttm__top_line(&L);
        ttm__top_putf(&L, line, 0, TTM_TOP_A_WARN,
                      "terminal %dx%d is too small: ttmem top needs %dx%d", width, height,
                      TTM_TOP_MIN_WIDTH, TTM_TOP_MIN_HEIGHT);
        return f->err;
    }
    if (m->nprocs > f->cap_rows) {
        ttm_top_row *r = ttm__reallocarray(f->rows, m->nprocs, sizeof *r);
        if (r == NULL) {
            f->nlines = 0;
            return TTM_ENOMEM;
        }
        f->rows = r;
        f->cap_rows = m->nprocs;
    }
    f->hidden = 0;
    size_t nrows = m->nprocs ? ttm__top_proc_rows(m, st, f->rows, &f->hidden) : 0;
    if (m->ndevices > f->cap_devs) {
        size_t *d = ttm__reallocarray(f->devs, m->ndevices, sizeof *d);
        if (d == NULL) {
            f->nlines = 0;
            return TTM_ENOMEM;
        }
        f->devs = d;
        f->cap_devs = m->ndevices;
    }
    for (size_t i = 0; i < m->ndevices; i++)
        if (dev_shown(st, &m->devices[i]))
            f->devs[L.ndev++] = i;
    L.dev = f->devs;

    if (L.bounded && !st->plain)
        L.limit = height - 1; /* the footer's line */
    ttm__top_header(&L);
    if (st->help)
        ttm__top_help(&L);
    else if (ttm__top_model_empty(m))
        ttm__top_nothing(&L);
    else
        ttm__top_view_body(&L, f->rows, nrows);
    if (L.bounded) {
        while (ttm__top_line(&L) >= 0) {
        }
        if (!st->plain) {
            L.limit = height;
            ttm__top_footer(&L);
        }
    }
    if (f->err != TTM_OK) {
        f->nlines = f->nspans = 0;
        return f->err;
    }
    return TTM_OK;
}
