/*
 * top_procs.c — the process table of `ttmem top`: the rows (restricted to the filtered device,
 * sorted by any column, N/A last) and their drawing: state, pid, name, devices, bytes per
 * memtype, anomalies, the command line in what is left of the width; exited processes hidden
 * unless shown (then dimmed), the selected row marked, the sorted column's header highlighted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/top_parts.h"

typedef struct sort_ctx {
    const ttm_top_model *m;
    ttm_top_col col;
    bool ascending;
} sort_ctx;

static const unsigned col_memtype[TTM_TOP_COL__COUNT] = {[TTM_TOP_COL_DRAM] = TTM_MEM_DRAM,
                                                         [TTM_TOP_COL_L1] = TTM_MEM_L1,
                                                         [TTM_TOP_COL_L1_SMALL] = TTM_MEM_L1_SMALL,
                                                         [TTM_TOP_COL_TRACE] = TTM_MEM_TRACE,
                                                         [TTM_TOP_COL_CB] = TTM_MEM_CB,
                                                         [TTM_TOP_COL_KERNEL] = TTM_MEM_KERNEL};

static int cmp_u64(uint64_t a, uint64_t b)
{
    return a < b ? -1 : a > b;
}

static int cmp_row(const void *a, const void *b, void *arg)
{
    const sort_ctx *c = arg;
    const ttm_top_row *x = a, *y = b;
    const ttm_top_proc *px = &c->m->procs[x->proc], *py = &c->m->procs[y->proc];
    int r = 0;
    switch (c->col) {
    case TTM_TOP_COL_PID:
        r = cmp_u64(px->pid, py->pid);
        break;
    case TTM_TOP_COL_NAME:
        r = strcmp(px->name, py->name);
        break;
    case TTM_TOP_COL_DEVS:
        r = cmp_u64(x->ndevs, y->ndevs);
        break;
    case TTM_TOP_COL_ANOM: {
        bool vx = px->valid & TTM_TOP_V_ANOM, vy = py->valid & TTM_TOP_V_ANOM;
        if (vx != vy)
            return vx ? -1 : 1; /* N/A last, whichever the direction */
        if (vx)
            r = cmp_u64(px->anomalies, py->anomalies);
        break;
    }
    default: {
        unsigned t = col_memtype[c->col];
        bool vx = x->valid & TTM_TOP_V_MEM(t), vy = y->valid & TTM_TOP_V_MEM(t);
        if (vx != vy)
            return vx ? -1 : 1;
        if (vx)
            r = cmp_u64(x->bytes[t], y->bytes[t]);
        break;
    }
    }
    if (r != 0)
        return c->ascending ? r : -r;
    if (px->pid != py->pid)
        return px->pid < py->pid ? -1 : 1;
    return px->src < py->src ? -1 : px->src > py->src;
}

size_t ttm__top_proc_rows(const ttm_top_model *m, const ttm_top_state *st, ttm_top_row *rows,
                          size_t *hidden)
{
    size_t n = 0, nhidden = 0;
    for (size_t i = 0; i < m->nprocs; i++) {
        const ttm_top_proc *p = &m->procs[i];
        ttm_top_row *r = &rows[n];
        memset(r, 0, sizeof *r);
        r->proc = i;
        r->valid = p->valid;
        bool on = !st->filter;
        for (size_t k = 0; k < p->ndevs; k++) {
            const ttm_top_pdev *pd = &m->pdevs[p->first_dev + k];
            if (st->filter && pd->device != st->filter_device)
                continue;
            on = true;
            r->ndevs++;
            for (unsigned t = 0; t < TTM_MEMTYPE_COUNT; t++)
                r->bytes[t] += pd->bytes[t];
        }
        if (on && !p->alive && !st->show_exited) {
            nhidden++;
            on = false;
        }
        if (on)
            n++;
    }
    sort_ctx c = {m, st->sort, st->ascending};
    if (n > 1)
        qsort_r(rows, n, sizeof *rows, cmp_row, &c);
    if (hidden != NULL)
        *hidden = nhidden;
    return n;
}

size_t ttm__top_sel_row(const ttm_top_model *m, const ttm_top_state *st, const ttm_top_row *rows,
                        size_t nrows)
{
    if (!st->sel_set)
        return 0;
    for (size_t i = 0; i < nrows; i++) {
        const ttm_top_proc *p = &m->procs[rows[i].proc];
        if (p->pid == st->sel_pid && p->src == st->sel_src)
            return i;
    }
    return 0;
}

const ttm_top_proc *ttm__top_proc_find(const ttm_top_model *m, ttm_top_src src, uint32_t pid)
{
    for (size_t i = 0; i < m->nprocs; i++)
        if (m->procs[i].pid == pid && m->procs[i].src == src)
            return &m->procs[i];
    return NULL;
}

/* "0-7", "0,2,5", "32 devs"; under a filter, the filtered device. */
static void fmt_devs(const ttm_top_lay *L, const ttm_top_proc *p, char *buf, size_t len, int width)
{
    if (L->st->filter) {
        snprintf(buf, len, "%u", L->st->filter_device);
        return;
    }
    if (p->ndevs == 0) {
        snprintf(buf, len, "-");
        return;
    }
    uint32_t ids[256];
    size_t n = 0;
    for (size_t k = 0; k < p->ndevs && n < sizeof ids / sizeof ids[0]; k++)
        ids[n++] = L->m->pdevs[p->first_dev + k].device;
    /* small insertion sort: a process's devices usually arrive sorted */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && ids[j - 1] > ids[j]; j--) {
            uint32_t t = ids[j];
            ids[j] = ids[j - 1];
            ids[j - 1] = t;
        }
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && o < len;) {
        size_t j = i;
        while (j + 1 < n && ids[j + 1] <= ids[j] + 1)
            j++;
        int w = j > i ? snprintf(buf + o, len - o, "%s%u-%u", o ? "," : "", ids[i], ids[j])
                      : snprintf(buf + o, len - o, "%s%u", o ? "," : "", ids[i]);
        if (w < 0)
            break;
        o += (size_t)w;
        i = j + 1;
    }
    if ((int)strlen(buf) > width)
        snprintf(buf, len, "%zu dev", p->ndevs);
}

typedef struct ptab {
    int x[TTM_TOP_COL__COUNT];
    int w[TTM_TOP_COL__COUNT];
    int cmd_x, cmd_w; /* the COMMAND column: what is left of the width (cmd_w 0: no room) */
} ptab;

#define TTM_TOP_CMD_MIN 9 /* the COMMAND column's narrowest width */

static void ptab_geometry(const ttm_top_lay *L, ptab *g)
{
    int bw = L->wide ? 9 : 5;
    int fixed = 2 + 7 + 1 + 1 + 7 + 6 * (1 + bw) + (1 + bw);
    int cap = L->wide ? 32 : 20, avail = L->w - fixed;
    /* the COMMAND column gets 22 cells or more while the name keeps 10 (at 80 columns the
     * name has 10 and the command 9); narrower, the name takes it all */
    int nw = avail - 1 - 22;
    if (nw < 10)
        nw = avail - 1 - TTM_TOP_CMD_MIN >= 10 ? 10 : avail;
    if (nw > cap)
        nw = cap;
    if (nw < 4)
        nw = 4;
    int x = 2;
    g->x[TTM_TOP_COL_PID] = x;
    g->w[TTM_TOP_COL_PID] = 7;
    x += 8;
    g->x[TTM_TOP_COL_NAME] = x;
    g->w[TTM_TOP_COL_NAME] = nw;
    x += nw + 1;
    g->x[TTM_TOP_COL_DEVS] = x;
    g->w[TTM_TOP_COL_DEVS] = 7;
    x += 7;
    for (int c = TTM_TOP_COL_DRAM; c <= TTM_TOP_COL_ANOM; c++) {
        g->x[c] = x + 1;
        g->w[c] = bw;
        x += 1 + bw;
    }
    g->cmd_x = x + 1;
    g->cmd_w = L->w - g->cmd_x >= TTM_TOP_CMD_MIN ? L->w - g->cmd_x : 0;
}

/* s left-aligned from col in width cells, its end replaced by "..." when it is longer. */
static void put_cut(ttm_top_lay *L, int line, int col, int width, unsigned attr, const char *s)
{
    size_t n = strlen(s);
    if ((int)n <= width) {
        ttm__top_putl(L, line, col, width, attr, s);
        return;
    }
    ttm__top_putl(L, line, col, width - 3, attr, s);
    ttm__top_put(L, line, col + width - 3, TTM_TOP_A_DIM, "...");
}

static const char *col_header(const ttm_top_lay *L, ttm_top_col c)
{
    static const char *const narrow[] = {"PID",   "NAME",  "DEVS", "DRAM",  "L1",
                                         "L1SML", "TRACE", "CB",   "KERNL", "ANOM"};
    static const char *const wide[] = {"PID",      "NAME",  "DEVICES", "DRAM",   "L1",
                                       "L1_SMALL", "TRACE", "CB",      "KERNEL", "ANOMALIES"};
    return L->wide ? wide[c] : narrow[c];
}

static void proc_header(ttm_top_lay *L, const ptab *g)
{
    int line = ttm__top_line(L);
    ttm__top_span(L, line, 0, L->w, TTM_TOP_A_TITLE);
    ttm__top_put(L, line, 0, TTM_TOP_A_TITLE, "S");
    for (int c = 0; c < TTM_TOP_COL__COUNT; c++) {
        unsigned attr = c == (int)L->st->sort ? TTM_TOP_A_SORTED : TTM_TOP_A_TITLE;
        if (c == TTM_TOP_COL_NAME || c == TTM_TOP_COL_DEVS)
            ttm__top_putl(L, line, g->x[c], g->w[c], attr, col_header(L, (ttm_top_col)c));
        else
            ttm__top_putr(L, line, g->x[c], g->w[c], attr, col_header(L, (ttm_top_col)c));
    }
    if (g->cmd_w > 0)
        ttm__top_putl(L, line, g->cmd_x, g->cmd_w, TTM_TOP_A_TITLE, "COMMAND");
}

static void proc_row(ttm_top_lay *L, const ptab *g, const ttm_top_row *r, bool selected)
{
    const ttm_top_proc *p = &L->m->procs[r->proc];
    char buf[256];
    int line = ttm__top_line(L);
    if (selected) /* a mark the text keeps too, under the highlight */
        ttm__top_put(L, line, 1, TTM_TOP_A_SELECTED, ">");
    bool dim = !p->alive;
    unsigned base = dim ? TTM_TOP_A_DIM : TTM_TOP_A_NORMAL;
    const char *state = p->src == TTM_TOP_SRC_SHM ? (p->alive ? "C" : "G")
                        : p->alive                ? (p->connected ? "R" : "r")
                                                  : "X";
    ttm__top_put(L, line, 0, p->src == TTM_TOP_SRC_SHM ? TTM_TOP_A_SHM : base, state);
    snprintf(buf, sizeof buf, "%u", p->pid);
    ttm__top_putr(L, line, g->x[TTM_TOP_COL_PID], g->w[TTM_TOP_COL_PID], base, buf);
    ttm__top_putl(L, line, g->x[TTM_TOP_COL_NAME], g->w[TTM_TOP_COL_NAME], base, p->name);
    fmt_devs(L, p, buf, sizeof buf, g->w[TTM_TOP_COL_DEVS]);
    ttm__top_putl(L, line, g->x[TTM_TOP_COL_DEVS], g->w[TTM_TOP_COL_DEVS], base, buf);
    for (int c = TTM_TOP_COL_DRAM; c <= TTM_TOP_COL_KERNEL; c++) {
        unsigned t = col_memtype[c];
        if (r->valid & TTM_TOP_V_MEM(t))
            ttm__top_putr(L, line, g->x[c], g->w[c], base, ttm__top_fmt_size(L, buf, r->bytes[t]));
        else
            ttm__top_putr(L, line, g->x[c], g->w[c], TTM_TOP_A_NA, "N/A");
    }
    if (p->valid & TTM_TOP_V_ANOM)
        ttm__top_putr(L, line, g->x[TTM_TOP_COL_ANOM], g->w[TTM_TOP_COL_ANOM],
                      p->anomalies ? TTM_TOP_A_CRIT : base, ttm__top_fmt_num(buf, p->anomalies));
    else
        ttm__top_putr(L, line, g->x[TTM_TOP_COL_ANOM], g->w[TTM_TOP_COL_ANOM], TTM_TOP_A_NA, "N/A");
    if (g->cmd_w > 0) {
        if (p->cmdline != NULL && p->cmdline[0] != '\0')
            put_cut(L, line, g->cmd_x, g->cmd_w, base, p->cmdline);
        else
            ttm__top_putl(L, line, g->cmd_x, g->cmd_w, TTM_TOP_A_NA, "N/A");
    }
    if (selected) /* the highlight covers the row's own attributes, as a selection bar does */
        ttm__top_span(L, line, 0, L->w, TTM_TOP_A_SELECTED);
}

/* Title, header and rows in at most `lines` lines (-1: all rows); `first` is the first row
 * shown when scrolling. Returns how many rows did not fit. */
size_t ttm__top_proc_table(ttm_top_lay *L, const ttm_top_row *rows, size_t nrows, int lines,
                           int first, bool hint_more, size_t sel)
{
    const ttm_top_state *st = L->st;
    int room = lines < 0 ? (int)nrows : lines - 2;
    if (room < 1)
        room = 1;
    size_t start = (size_t)(first > 0 ? first : 0);
    if (start > nrows)
        start = nrows;
    bool cut = hint_more && (size_t)room < nrows - start;
    size_t fit = cut ? (size_t)room - 1 : (size_t)room; /* the hint takes the last line */
    size_t end = start + fit < nrows ? start + fit : nrows;

    int line = ttm__top_line(L);
    int col = ttm__top_putf(L, line, 0, TTM_TOP_A_TITLE, "PROCESSES %zu", nrows);
    if (!hint_more && (start > 0 || end < nrows))
        col = ttm__top_putf(L, line, col + 2, TTM_TOP_A_WARN, "rows %zu-%zu, arrows scroll",
                            start + 1, end);
    col = ttm__top_putf(L, line, col + 2, TTM_TOP_A_DIM, "sort %s %s", ttm__top_col_name(st->sort),
                        st->ascending ? "ascending" : "descending");
    if (st->filter)
        col = ttm__top_putf(L, line, col + 2, TTM_TOP_A_WARN, "device %u only", st->filter_device);
    if (L->f->hidden > 0)
        col = ttm__top_putf(L, line, col + 2, TTM_TOP_A_WARN, "%zu exited hidden (x shows)",
                            L->f->hidden);
    else if (st->show_exited)
        col = ttm__top_put(L, line, col + 2, TTM_TOP_A_DIM, "exited shown (x hides)");
    ttm__top_put_fit(L, line, col + 2, TTM_TOP_A_DIM,
                     "S: R running, X exited, C TT-Metal counters only, G ghost");
    ptab g;
    ptab_geometry(L, &g);
    proc_header(L, &g);
    if (nrows == 0) {
        line = ttm__top_line(L);
        if (st->filter)
            ttm__top_putf(L, line, 2, TTM_TOP_A_DIM, "no process holds memory on device %u",
                          st->filter_device);
        else if (L->f->hidden > 0)
            ttm__top_put(L, line, 2, TTM_TOP_A_DIM, "every process has exited (x shows them)");
        else
            ttm__top_put(L, line, 2, TTM_TOP_A_DIM, "no process has reported yet");
        return 0;
    }
    for (size_t i = start; i < end; i++)
        proc_row(L, &g, &rows[i], i == sel && !st->plain);
    if (cut) {
        line = ttm__top_line(L);
        ttm__top_putf(L, line, 2, TTM_TOP_A_DIM, "... %zu more (v: processes view)", nrows - end);
    }
    return nrows - end;
}
