/*
 * top_devices.c — the devices section of `ttmem top`: per device a DRAM bar (DRAM + TRACE) and
 * an L1 bar (L1 + L1_SMALL + CB + KERNEL) as shares of its capacity, coloured by the use level,
 * in three displays: FULL (three lines: both bars and the breakdown by memtype), LINE (one line,
 * both bars) and GRID (a cell "id DRAM% L1%" per device). Which display fits is the row
 * budget's choice (top_budget.c).
 */
#include <stdio.h>
#include <string.h>

#include "cli/top_parts.h"
#include "common/arch.h"

static const char *arch_name(const ttm_top_device *d)
{
    if (d->src == TTM_TOP_SRC_SHM)
        return "counters only";
    const ttm_arch_profile *p = (d->valid & TTM_TOP_V_ARCH) ? ttm__arch_profile(d->arch) : NULL;
    return p != NULL ? p->name : "arch N/A";
}

static const char *arch_short(const ttm_top_device *d)
{
    if (d->src == TTM_TOP_SRC_SHM)
        return "shm";
    switch ((d->valid & TTM_TOP_V_ARCH) ? d->arch : 0) {
    case TTM_ARCH_GRAYSKULL:
        return "GS";
    case TTM_ARCH_WORMHOLE_B0:
        return "WH";
    case TTM_ARCH_BLACKHOLE:
        return "BH";
    case TTM_ARCH_QUASAR:
        return "QS";
    default:
        return "?";
    }
}

void ttm__top_dev_label(const ttm_top_device *d, char buf[TTM_FMT_LEN])
{
    snprintf(buf, TTM_FMT_LEN, d->src == TTM_TOP_SRC_SHM ? "s%u" : "%u", d->device);
}

/* The members of a space's bar and their glyphs. */
static const unsigned bar_dram[] = {TTM_MEM_DRAM, TTM_MEM_TRACE};
static const unsigned bar_l1[] = {TTM_MEM_L1, TTM_MEM_L1_SMALL, TTM_MEM_CB, TTM_MEM_KERNEL};

static char mem_glyph(unsigned t)
{
    switch (t) {
    case TTM_MEM_TRACE:
        return 't';
    case TTM_MEM_L1_SMALL:
        return 's';
    case TTM_MEM_CB:
        return 'c';
    case TTM_MEM_KERNEL:
        return 'k';
    default:
        return '#';
    }
}

bool ttm__top_cap_valid(const ttm_top_device *d, unsigned sp)
{
    return (d->valid & (sp == TTM_SPACE_DRAM ? TTM_TOP_V_CAP_DRAM : TTM_TOP_V_CAP_L1)) &&
           d->cap[sp] != 0;
}

static bool peak_valid(const ttm_top_device *d, unsigned sp)
{
    return (d->valid & (sp == TTM_SPACE_DRAM ? TTM_TOP_V_PEAK_DRAM : TTM_TOP_V_PEAK_L1)) != 0;
}

/* "[####tt      ]" of barw cells inside the brackets: the members' shares of the capacity,
 * coloured by the use level; "[capacity N/A]" when the capacity is unknown. */
static void put_bar(ttm_top_lay *L, int line, int col, int barw, const ttm_top_device *d,
                    unsigned sp)
{
    char cells[256];
    if (barw > (int)sizeof cells - 1)
        barw = (int)sizeof cells - 1;
    ttm__top_put(L, line, col, TTM_TOP_A_NORMAL, "[");
    ttm__top_put(L, line, col + barw + 1, TTM_TOP_A_NORMAL, "]");
    bool ok;
    uint64_t used = ttm__top_space_used(d->bytes, d->valid, (ttm_space)sp, &ok);
    if (!ttm__top_cap_valid(d, sp) || !ok) {
        const char *na = !ok ? "N/A" : barw >= 12 ? "capacity N/A" : "N/A";
        int n = (int)strlen(na);
        if (n > barw)
            n = barw;
        char buf[64];
        snprintf(buf, sizeof buf, "%.*s", n, na);
        ttm__top_put(L, line, col + 1 + (barw - n) / 2, TTM_TOP_A_NA, buf);
        return;
    }
    memset(cells, ' ', (size_t)barw);
    cells[barw] = '\0';
    const unsigned *mem = sp == TTM_SPACE_DRAM ? bar_dram : bar_l1;
    size_t n = sp == TTM_SPACE_DRAM ? 2 : 4;
    uint64_t cap = d->cap[sp], cum = 0;
    int from = 0;
    for (size_t i = 0; i < n; i++) {
        if (!(d->valid & TTM_TOP_V_MEM(mem[i])))
            continue;
        cum += d->bytes[mem[i]];
        double frac = (double)cum / (double)cap;
        int to = frac >= 1.0 ? barw : (int)(frac * barw + 0.5);
        if (to == 0 && cum > 0)
            to = 1; /* something is there: show it */
        for (int c = from; c < to; c++)
            cells[c] = mem_glyph(mem[i]);
        if (to > from)
            from = to;
    }
    ttm__top_put(L, line, col + 1, TTM_TOP_A_NORMAL, cells);
    ttm__top_span(L, line, col + 1, from, ttm__top_level_attr(used, cap));
}

/* Bytes v in a cell of width cells (right-aligned, or left), or N/A when not known; returns the
 * column after the cell. */
static int put_size_cell(ttm_top_lay *L, int line, int col, int width, bool right, bool known,
                         uint64_t v)
{
    char buf[TTM_FMT_LEN];
    const char *text = known ? ttm__top_fmt_size(L, buf, v) : "N/A";
    unsigned attr = known ? TTM_TOP_A_NORMAL : TTM_TOP_A_NA;
    if (right)
        ttm__top_putr(L, line, col, width, attr, text);
    else
        ttm__top_putl(L, line, col, width, attr, text);
    return col + width;
}

/* "35.0%  4.20G / 12.0G  peak 5.00G" after a bar; returns the column after it. */
static int put_bar_tail(ttm_top_lay *L, int line, int col, const ttm_top_device *d, unsigned sp,
                        bool peak, bool decimals)
{
    char a[TTM_FMT_LEN];
    bool ok;
    uint64_t used = ttm__top_space_used(d->bytes, d->valid, (ttm_space)sp, &ok);
    int pw = decimals ? 6 : 4;
    if (ok && ttm__top_cap_valid(d, sp))
        ttm__top_putr(L, line, col, pw, ttm__top_level_attr(used, d->cap[sp]),
                      ttm__top_fmt_pct(a, used, d->cap[sp], decimals));
    else
        ttm__top_putr(L, line, col, pw, TTM_TOP_A_NA, "N/A");
    col += pw + (decimals ? 2 : 1);
    int uw = L->wide ? 8 : 5;
    col = put_size_cell(L, line, col, uw, true, ok, used);
    col = ttm__top_put(L, line, col, TTM_TOP_A_DIM, decimals ? " / " : "/");
    col = put_size_cell(L, line, col, uw, false, ttm__top_cap_valid(d, sp), d->cap[sp]);
    if (peak) {
        col = ttm__top_put(L, line, col, TTM_TOP_A_DIM, decimals ? "  peak " : " pk ");
        col = put_size_cell(L, line, col, uw, false, peak_valid(d, sp), d->peak[sp]);
    }
    return col;
}

static int tail_width(const ttm_top_lay *L, bool peak, bool decimals)
{
    int uw = L->wide ? 8 : 5;
    int w = (decimals ? 6 + 2 : 4 + 1) + uw + (decimals ? 3 : 1) + uw;
    if (peak)
        w += (decimals ? 7 : 4) + uw;
    return w;
}

/* Three lines: DRAM bar, L1 bar, breakdown. */
static void dev_full(ttm_top_lay *L, const ttm_top_device *d)
{
    char buf[TTM_FMT_LEN];
    const int name_col = 5, bar_col = 19;
    int tail = tail_width(L, true, true);
    int barw = L->w - bar_col - 5 - 2 - 1 - tail;
    if (barw > 100)
        barw = 100;
    if (barw < 4)
        barw = 4;
    unsigned lab_attr = d->src == TTM_TOP_SRC_SHM ? TTM_TOP_A_SHM : TTM_TOP_A_TITLE;
    for (unsigned sp = 0; sp < 2; sp++) {
        int line = ttm__top_line(L);
        if (sp == 0) {
            ttm__top_dev_label(d, buf);
            ttm__top_putr(L, line, 0, 4, lab_attr, buf);
            ttm__top_putl(L, line, name_col, 13, lab_attr, arch_name(d));
        }
        ttm__top_put(L, line, bar_col, TTM_TOP_A_TITLE, sp == 0 ? "DRAM" : "L1");
        put_bar(L, line, bar_col + 5, barw, d, sp);
        put_bar_tail(L, line, bar_col + 5 + barw + 3, d, sp, true, true);
    }
    int line = ttm__top_line(L);
    int col = name_col;
    static const unsigned order[] = {TTM_MEM_DRAM,     TTM_MEM_TRACE, TTM_MEM_L1,
                                     TTM_MEM_L1_SMALL, TTM_MEM_CB,    TTM_MEM_KERNEL};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        unsigned t = order[i];
        if (i == 2)
            col = ttm__top_put(L, line, col, TTM_TOP_A_DIM, "| ");
        char g[4] = {mem_glyph(t), '\0'};
        col = ttm__top_putf(L, line, col, TTM_TOP_A_DIM, "%s", ttm__memtype_name(t));
        if (L->wide && t != TTM_MEM_DRAM && t != TTM_MEM_L1)
            col = ttm__top_putf(L, line, col, TTM_TOP_A_DIM, "(%s)", g);
        col = ttm__top_put(L, line, col, TTM_TOP_A_NORMAL, " ");
        if (d->valid & TTM_TOP_V_MEM(t))
            col = ttm__top_put(L, line, col, TTM_TOP_A_NORMAL,
                               ttm__top_fmt_size(L, buf, d->bytes[t]));
        else
            col = ttm__top_put(L, line, col, TTM_TOP_A_NA, "N/A");
        col += 2;
    }
}

/* One line: both bars, narrow. */
static void dev_line(ttm_top_lay *L, const ttm_top_device *d)
{
    char buf[TTM_FMT_LEN];
    bool peak = L->w >= 140;
    int tail = tail_width(L, peak, false);
    int half_fixed = 5 + 2 + 1 + tail;
    int barw = (L->w - 12 - 2 - 2 * half_fixed) / 2;
    if (barw > 50)
        barw = 50;
    if (barw < 3)
        barw = 3;
    int line = ttm__top_line(L);
    unsigned lab_attr = d->src == TTM_TOP_SRC_SHM ? TTM_TOP_A_SHM : TTM_TOP_A_TITLE;
    ttm__top_dev_label(d, buf);
    ttm__top_putr(L, line, 0, 4, lab_attr, buf);
    ttm__top_putl(L, line, 5, 6, lab_attr, arch_short(d));
    int col = 12;
    for (unsigned sp = 0; sp < 2; sp++) {
        ttm__top_put(L, line, col, TTM_TOP_A_TITLE, sp == 0 ? "DRAM" : "L1");
        put_bar(L, line, col + 5, barw, d, sp);
        col = put_bar_tail(L, line, col + 5 + barw + 3, d, sp, peak, false) + 2;
    }
}

#define GRID_CELL 18

/* One cell: "  12  35%   9%" (percent of capacity, or bytes when the capacity is unknown). */
static void dev_cell(ttm_top_lay *L, int line, int col, const ttm_top_device *d)
{
    char buf[TTM_FMT_LEN];
    ttm__top_dev_label(d, buf);
    ttm__top_putr(L, line, col, 4, d->src == TTM_TOP_SRC_SHM ? TTM_TOP_A_SHM : TTM_TOP_A_TITLE,
                  buf);
    for (unsigned sp = 0; sp < 2; sp++) {
        bool ok;
        uint64_t used = ttm__top_space_used(d->bytes, d->valid, (ttm_space)sp, &ok);
        int c = col + 5 + (int)sp * 6;
        if (!ok)
            ttm__top_putr(L, line, c, 5, TTM_TOP_A_NA, "N/A");
        else if (ttm__top_cap_valid(d, sp))
            ttm__top_putr(L, line, c, 5, ttm__top_level_attr(used, d->cap[sp]),
                          ttm__top_fmt_pct(buf, used, d->cap[sp], false));
        else
            ttm__top_putr(L, line, c, 5, TTM_TOP_A_NORMAL, ttm__top_fmt_short(buf, used));
    }
}

static int grid_cells(const ttm_top_lay *L)
{
    int n = L->w / GRID_CELL;
    return n > 0 ? n : 1;
}

int ttm__top_dev_rows(const ttm_top_lay *L, ttm_top_devmode mode, size_t ndev)
{
    switch (mode) {
    case TTM_TOP_DEV_FULL:
        return (int)ndev * 3;
    case TTM_TOP_DEV_GRID:
        return (int)((ndev + (size_t)grid_cells(L) - 1) / (size_t)grid_cells(L));
    default:
        return (int)ndev;
    }
}

void ttm__top_devices_title(ttm_top_lay *L, size_t shown, ttm_top_devmode mode, int first, int last,
                            int entries)
{
    int line = ttm__top_line(L);
    int col = ttm__top_putf(L, line, 0, TTM_TOP_A_TITLE, "DEVICES %zu", shown);
    if (first > 0 || last < entries)
        col = ttm__top_putf(L, line, col + 2, TTM_TOP_A_WARN, "%s %d-%d, arrows scroll",
                            mode == TTM_TOP_DEV_GRID ? "lines" : "devices", first + 1, last);
    if (L->st->filter)
        col =
            ttm__top_putf(L, line, col, TTM_TOP_A_WARN, " (device %u only)", L->st->filter_device);
    bool any_shm = false;
    for (size_t i = 0; i < L->m->ndevices; i++)
        any_shm |= L->m->devices[i].src == TTM_TOP_SRC_SHM;
    if (mode == TTM_TOP_DEV_GRID)
        col = ttm__top_put(L, line, col + 2, TTM_TOP_A_DIM, "cells: device, DRAM %, L1 %");
    else
        col = ttm__top_put_fit(
            L, line, col + 2, TTM_TOP_A_DIM,
            L->wide ? "DRAM = DRAM(#) + TRACE(t); L1 = L1(#) + L1_SMALL(s) + CB(c) + "
                      "KERNEL(k)"
                    : "DRAM=DRAM+TRACE(t) L1=L1+L1_SMALL(s)+CB(c)+KERNEL(k)");
    if (any_shm)
        ttm__top_put_fit(L, line, col + 2, TTM_TOP_A_SHM,
                         mode == TTM_TOP_DEV_GRID ? "s = TT-Metal shm, counters only"
                                                  : "shm = TT-Metal counters only");
}

/* Draws the shown devices in mode, at most rows lines (-1: all), starting at entry `first`
 * (a device, or a grid row). Returns the number of entries the list has. */
int ttm__top_devices_list(ttm_top_lay *L, ttm_top_devmode mode, int rows, int first)
{
    const ttm_top_model *m = L->m;
    const size_t *idx = L->dev, n = L->ndev;
    int per = mode == TTM_TOP_DEV_FULL ? 3 : 1;
    int entries = mode == TTM_TOP_DEV_GRID ? ttm__top_dev_rows(L, mode, n) : (int)n;
    int fit = rows < 0 ? entries : rows / per;
    for (int e = first; e < entries && e - first < fit; e++) {
        if (mode == TTM_TOP_DEV_GRID) {
            int cells = grid_cells(L);
            int line = ttm__top_line(L);
            for (int c = 0; c < cells; c++) {
                size_t k = (size_t)e * (size_t)cells + (size_t)c;
                if (k < n)
                    dev_cell(L, line, c * GRID_CELL, &m->devices[idx[k]]);
            }
        } else if (mode == TTM_TOP_DEV_FULL) {
            dev_full(L, &m->devices[idx[e]]);
        } else {
            dev_line(L, &m->devices[idx[e]]);
        }
    }
    return entries;
}
