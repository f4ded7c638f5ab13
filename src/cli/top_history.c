/*
 * top_history.c — the history view of `ttmem top`: per device, DRAM and L1 use over the last
 * TTM_TOP_HIST_WINDOW_S seconds as a graph of level glyphs (TTM_TOP_GRAPH_GLYPHS, marked
 * TTM_TOP_A_GRAPH so a UTF-8 view draws block characters), coloured like the bars. A column
 * covers at least 1.5 refresh intervals and shows the highest sample in it.
 */
#include <stdio.h>

#include "cli/top_parts.h"

/* Fills levels[0..cols) for one device and space: -1 no sample, else 0..8. *now_used and
 * *scale_max receive the last value and the scale used (capacity, or the window's maximum). */
static void hist_levels(const ttm_top_lay *L, const ttm_top_device *d, unsigned sp, int cols,
                        uint64_t step_ns, int *levels, uint64_t *maxv)
{
    const ttm_top_model *m = L->m;
    const ttm_top_hist *h = ttm__top_model_hist(m, d);
    uint64_t colmax[512];
    if (cols > 512)
        cols = 512;
    for (int c = 0; c < cols; c++) {
        colmax[c] = TTM_TOP_HIST_NONE;
        levels[c] = -1;
    }
    *maxv = 0;
    if (h == NULL || m->hist_count == 0)
        return;
    uint64_t now = m->now_ns;
    for (size_t k = m->hist_count; k-- > 0;) {
        size_t slot = (m->hist_head + k) % TTM_TOP_HIST_LEN;
        uint64_t ts = m->hist_ts[slot];
        uint64_t age = now >= ts ? now - ts : 0;
        uint64_t back = age / step_ns;
        if (back >= (uint64_t)cols)
            break;
        uint64_t v = h->used[sp][slot];
        if (v == TTM_TOP_HIST_NONE)
            continue;
        int c = cols - 1 - (int)back;
        if (colmax[c] == TTM_TOP_HIST_NONE || v > colmax[c])
            colmax[c] = v;
        if (v > *maxv)
            *maxv = v;
    }
    uint64_t scale = ttm__top_cap_valid(d, sp) ? d->cap[sp] : *maxv;
    for (int c = 0; c < cols; c++) {
        if (colmax[c] == TTM_TOP_HIST_NONE)
            continue;
        if (scale == 0 || colmax[c] == 0) {
            levels[c] = 0;
            continue;
        }
        double f = (double)colmax[c] / (double)scale;
        int lv = (int)(f * 8.0 + 0.999);
        levels[c] = lv < 1 ? 1 : lv > 8 ? 8 : lv;
    }
}

static void put_graph(ttm_top_lay *L, int line, int col, int cols, const ttm_top_device *d,
                      unsigned sp, uint64_t step_ns)
{
    int levels[512];
    char buf[TTM_FMT_LEN];
    uint64_t maxv;
    if (cols > 512)
        cols = 512;
    hist_levels(L, d, sp, cols, step_ns, levels, &maxv);
    ttm__top_put(L, line, col, TTM_TOP_A_DIM, "|");
    for (int c = 0; c < cols; c++) {
        if (levels[c] < 0)
            continue;
        char g[2] = {TTM_TOP_GRAPH_GLYPHS[levels[c]], '\0'};
        unsigned attr = TTM_TOP_A_NORMAL;
        if (ttm__top_cap_valid(d, sp))
            attr = levels[c] >= 8 ? TTM_TOP_A_CRIT : levels[c] >= 6 ? TTM_TOP_A_WARN : TTM_TOP_A_OK;
        ttm__top_put(L, line, col + 1 + c, attr | TTM_TOP_A_GRAPH, g);
    }
    ttm__top_put(L, line, col + 1 + cols, TTM_TOP_A_DIM, "|");
    bool ok;
    uint64_t used = ttm__top_space_used(d->bytes, d->valid, (ttm_space)sp, &ok);
    int tc = col + cols + 3;
    if (!ok)
        ttm__top_put(L, line, tc, TTM_TOP_A_NA, "N/A");
    else if (ttm__top_cap_valid(d, sp))
        ttm__top_putr(L, line, tc, 4, ttm__top_level_attr(used, d->cap[sp]),
                      ttm__top_fmt_pct(buf, used, d->cap[sp], false));
    else {
        char b2[TTM_FMT_LEN];
        ttm__top_putr(L, line, tc, 5, TTM_TOP_A_NORMAL, ttm__top_fmt_short(buf, used));
        ttm__top_putf(L, line, tc + 6, TTM_TOP_A_DIM, "max %s", ttm__top_fmt_short(b2, maxv));
    }
}

#define HIST_GX   10 /* column of a graph's left bar */
#define HIST_TAIL 16 /* the value after a graph: "9.9%", or "1.19G max 1.22G" */

/* Columns of one graph: two per line ("L1" label between) when not two_lines. */
static int hist_cols(const ttm_top_lay *L, bool two_lines)
{
    int cols = two_lines ? L->w - HIST_GX - 2 - 1 - HIST_TAIL
                         : (L->w - HIST_GX - 4 - 2 * (2 + 1 + HIST_TAIL)) / 2;
    return cols > 512 ? 512 : cols < 8 ? 8 : cols;
}

int ttm__top_history(ttm_top_lay *L, int rows, int first)
{
    const ttm_top_model *m = L->m;
    char a[TTM_FMT_LEN];
    const size_t *idx = L->dev, n = L->ndev;
    bool two_lines = rows < 0 || (int)n * 2 <= rows - 2;
    int cols = hist_cols(L, two_lines);
    int x2 = HIST_GX + cols + 2 + 1 + HIST_TAIL + 4; /* the second graph's bar (one line) */
    /* one column covers at least 1.5 refresh intervals, so that every column has a sample */
    uint64_t refresh_ns = (uint64_t)(L->st->refresh_ms ? L->st->refresh_ms : 1000) * 1000000ull;
    uint64_t step = (uint64_t)TTM_TOP_HIST_WINDOW_S * 1000000000ull / (uint64_t)cols;
    if (step < refresh_ns * 3 / 2)
        step = refresh_ns * 3 / 2;
    int line = ttm__top_line(L);
    int col = ttm__top_put(L, line, 0, TTM_TOP_A_TITLE, "HISTORY");
    ttm__top_put_fit(L, line, col + 2, TTM_TOP_A_DIM,
                     "use as % of capacity, highest per column (levels " TTM_TOP_GRAPH_GLYPHS ")");
    ttm__top_fmt_age(a, step * (uint64_t)cols + 500000000ull); /* to the nearest second */
    line = ttm__top_line(L);
    for (int g = 0; g < (two_lines ? 1 : 2); g++) {
        int x = g == 0 ? HIST_GX : x2;
        ttm__top_putf(L, line, x + 1, TTM_TOP_A_DIM, "-%s", a);
        ttm__top_putf(L, line, x + cols - 7, TTM_TOP_A_DIM, "%5.1fs/col", (double)step / 1e9);
    }
    if (n == 0) {
        line = ttm__top_line(L);
        ttm__top_put(L, line, 2, TTM_TOP_A_DIM, "no device to show");
        return 0;
    }
    int per = two_lines ? 2 : 1;
    int room = rows < 0 ? (int)n : (rows - 2) / per;
    for (size_t e = (size_t)(first > 0 ? first : 0); e < n && room > 0; e++, room--) {
        const ttm_top_device *d = &m->devices[idx[e]];
        ttm__top_dev_label(d, a);
        unsigned lab = d->src == TTM_TOP_SRC_SHM ? TTM_TOP_A_SHM : TTM_TOP_A_TITLE;
        for (unsigned sp = 0; sp < 2; sp++) {
            if (two_lines || sp == 0)
                line = ttm__top_line(L);
            if (sp == 0)
                ttm__top_putr(L, line, 0, 4, lab, a);
            int x = two_lines || sp == 0 ? HIST_GX : x2;
            ttm__top_put(L, line, x - 5, TTM_TOP_A_TITLE, sp == 0 ? "DRAM" : "L1");
            put_graph(L, line, x, cols, d, sp, step);
        }
    }
    return (int)n;
}
