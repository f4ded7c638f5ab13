/*
 * top_budget.c — the row budget of `ttmem top`: which parts each view shows and how the
 * frame's rows are shared among them.
 *
 * A bounded frame (a terminal) is exactly its height: the devices view gives the devices what
 * is left after the process table's minimum (up to three rows), the diagnosis line and the
 * footer, picks the richest device display that fits (FULL, LINE, GRID; else LINE scrolls),
 * and lets the one list that overflows scroll (the devices when they do not fit, else the
 * processes). An unbounded frame (--once into a pipe) shows every row of every part.
 */
#include "cli/top_parts.h"

static int clamp_scroll(ttm_top_lay *L, int entries, int visible)
{
    int max = entries - visible;
    if (max < 0)
        max = 0;
    L->f->scroll_max = max;
    int s = L->st->scroll;
    s = s < 0 ? 0 : s > max ? max : s;
    L->f->scroll = s;
    return s;
}

/* clamp_scroll() of a list with a selection: the scroll moves just enough to show row sel. */
static int follow_sel(ttm_top_lay *L, int entries, int visible, size_t sel)
{
    int s = clamp_scroll(L, entries, visible);
    if (sel < (size_t)entries) {
        if ((int)sel < s)
            s = (int)sel;
        else if ((int)sel >= s + visible)
            s = (int)sel - visible + 1;
    }
    L->f->scroll = s;
    return s;
}

static ttm_top_devmode pick_mode(const ttm_top_lay *L, size_t ndev, int budget)
{
    if (L->st->devmode != TTM_TOP_DEV_AUTO)
        return L->st->devmode;
    if (budget < 0 || ttm__top_dev_rows(L, TTM_TOP_DEV_FULL, ndev) <= budget)
        return TTM_TOP_DEV_FULL;
    if (ttm__top_dev_rows(L, TTM_TOP_DEV_LINE, ndev) <= budget)
        return TTM_TOP_DEV_LINE;
    if (ttm__top_dev_rows(L, TTM_TOP_DEV_GRID, ndev) <= budget)
        return TTM_TOP_DEV_GRID;
    return TTM_TOP_DEV_LINE; /* scrolls */
}

static void view_devices(ttm_top_lay *L, ttm_top_row *rows, size_t nrows, size_t sel)
{
    const ttm_top_model *m = L->m;
    size_t ndev = L->ndev;
    if (!L->bounded) {
        ttm_top_devmode mode = pick_mode(L, ndev, -1);
        ttm__top_devices_title(L, ndev, mode, 0, 0, 0);
        if (ndev == 0)
            ttm__top_put(L, ttm__top_line(L), 2, TTM_TOP_A_DIM, "no device has reported yet");
        ttm__top_devices_list(L, mode, -1, 0);
        ttm__top_line(L);
        ttm__top_proc_table(L, rows, nrows, -1, 0, false, sel);
        ttm__top_line(L);
        ttm__top_diag_table(L);
        ttm__top_transport(L);
        if (m->diag_valid) {
            ttm__top_line(L);
            ttm__top_diag_devices(L, -1, 0);
        }
        return;
    }
    int body = L->limit - (int)L->f->nlines;
    int pmin = nrows < 1 ? 1 : nrows > 3 ? 3 : (int)nrows;
    int dev_budget = body - 1 - 1 - (2 + pmin);
    if (dev_budget < 1)
        dev_budget = 1;
    ttm_top_devmode mode = pick_mode(L, ndev, dev_budget);
    int need = ttm__top_dev_rows(L, mode, ndev);
    int per = mode == TTM_TOP_DEV_FULL ? 3 : 1;
    bool dev_scroll = need > dev_budget;
    int visible = dev_budget / per > 0 ? dev_budget / per : 1;
    int entries = mode == TTM_TOP_DEV_GRID ? need : (int)ndev;
    int first = dev_scroll ? clamp_scroll(L, entries, visible) : 0;
    int last = dev_scroll ? (first + visible < entries ? first + visible : entries) : entries;
    ttm__top_devices_title(L, ndev, mode, first, last, entries);
    if (ndev == 0) {
        ttm__top_put(L, ttm__top_line(L), 2, TTM_TOP_A_DIM,
                     "no device has reported yet: run a program with TTMEM=1, or under "
                     "'ttmem record -- CMD'");
    } else if (dev_scroll) {
        ttm__top_devices_list(L, mode, visible * per, first);
    } else {
        ttm__top_devices_list(L, mode, -1, 0);
    }
    int left = L->limit - (int)L->f->nlines - 1; /* the diag line */
    if (dev_scroll) {
        /* the scroll is the devices': the table starts where its selection shows */
        int room = left - 3 < 1 ? 1 : left - 3;
        int pfirst = (int)sel >= room ? (int)sel - room + 1 : 0;
        ttm__top_proc_table(L, rows, nrows, left, pfirst, true, sel);
    } else {
        int pvisible = left - 2;
        int pfirst = follow_sel(L, (int)nrows, pvisible < 1 ? 1 : pvisible, sel);
        ttm__top_proc_table(L, rows, nrows, left, pfirst, false, sel);
    }
    /* the diagnosis line sits right above the footer */
    while ((int)L->f->nlines < L->limit - 1 && ttm__top_line(L) >= 0) {
    }
    ttm__top_diag_summary(L);
}

static void view_processes(ttm_top_lay *L, ttm_top_row *rows, size_t nrows, size_t sel)
{
    if (!L->bounded) {
        ttm__top_proc_table(L, rows, nrows, -1, 0, false, sel);
        return;
    }
    int left = L->limit - (int)L->f->nlines;
    int first = follow_sel(L, (int)nrows, left - 2 < 1 ? 1 : left - 2, sel);
    ttm__top_proc_table(L, rows, nrows, left, first, false, sel);
}

static void view_diagnosis(ttm_top_lay *L)
{
    ttm__top_diag_table(L);
    ttm__top_transport(L);
    if (!L->m->diag_valid)
        return;
    ttm__top_line(L);
    if (!L->bounded) {
        ttm__top_diag_devices(L, -1, 0);
        return;
    }
    int left = L->limit - (int)L->f->nlines;
    size_t n = ttm__top_diag_ndev(L);
    int first = clamp_scroll(L, (int)n, left - 1 < 1 ? 1 : left - 1);
    ttm__top_diag_devices(L, left, first);
}

static void view_history(ttm_top_lay *L)
{
    if (!L->bounded) {
        ttm__top_history(L, -1, 0);
        return;
    }
    int left = L->limit - (int)L->f->nlines;
    size_t n = L->ndev;
    bool two = (int)n * 2 <= left - 2;
    int visible = (left - 2) / (two ? 2 : 1);
    int first = clamp_scroll(L, (int)n, visible < 1 ? 1 : visible);
    ttm__top_history(L, left, first);
}

static void view_sites(ttm_top_lay *L)
{
    if (!L->bounded) {
        ttm__top_sites(L, -1, 0);
        return;
    }
    int left = L->limit - (int)L->f->nlines;
    int visible = (left - 1) / (int)(1 + TTM_TOP_SITE_FRAMES);
    int first = clamp_scroll(L, (int)L->m->snap.nlive_sites, visible < 1 ? 1 : visible);
    ttm__top_sites(L, left, first);
}

void ttm__top_view_body(ttm_top_lay *L, ttm_top_row *rows, size_t nrows)
{
    if (L->st->proc_open) {
        ttm__top_proc_view(L);
        return;
    }
    size_t sel = ttm__top_sel_row(L->m, L->st, rows, nrows);
    switch (L->st->view) {
    case TTM_TOP_VIEW_SITES:
        view_sites(L);
        break;
    case TTM_TOP_VIEW_PROCESSES:
        view_processes(L, rows, nrows, sel);
        break;
    case TTM_TOP_VIEW_DIAGNOSIS:
        view_diagnosis(L);
        break;
    case TTM_TOP_VIEW_HISTORY:
        view_history(L);
        break;
    default:
        view_devices(L, rows, nrows, sel);
        break;
    }
}
