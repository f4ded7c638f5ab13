/*
 * top_layout.c — the pure layout of `ttmem top`: header, device bars, process table,
 * diagnosis counters, history graphs, help, and the states (nothing to monitor, stale, too
 * small), as lines of ASCII with attribute spans.
 *
 * Everything here is a function of (model, state, width, height). A bounded frame (the
 * terminal) is exactly `height` lines: the sections share the rows by a budget, the richest
 * device display that fits is chosen, and the one list that overflows scrolls. An unbounded
 * frame (--once into a pipe) shows every row of every section.
 */
#include "cli/top_layout.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/alloc.h"
#include "common/arch.h"
#include "common/fmt.h"

/* ---- names --------------------------------------------------------------------------------- */

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

static const char *const diag_labels[] = {
#define TTM__TOP_DIAG_LABEL(name, label) label,
    TTM_TOP_DIAG_MAP(TTM__TOP_DIAG_LABEL)
#undef TTM__TOP_DIAG_LABEL
};

/* The class behind each diagnosis counter (DROPPED has none). */
static const int diag_class[TTM_TOP_DIAG__COUNT] = {
    TTM_CLASS_UNKNOWN_FREE, TTM_CLASS_DOUBLE_FREE, TTM_CLASS_EXCESS_FREE,
    TTM_CLASS_LEAKED_AT_EXIT, -1};

#define DROPPED_HELP                                                                            \
    "events a client could not hand over: its ring filled while no daemon was running"

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
    return pct >= TTM_TOP_CRIT_PCT ? TTM_TOP_A_CRIT
           : pct >= TTM_TOP_WARN_PCT ? TTM_TOP_A_WARN
                                     : TTM_TOP_A_OK;
}

/* ---- frame writing ------------------------------------------------------------------------- */

typedef struct lay {
    const ttm_top_model *m;
    const ttm_top_state *st;
    ttm_top_frame *f;
    int w;         /* width */
    int limit;     /* lines the current part may reach */
    bool bounded;
    bool wide;     /* room for long byte formats */
    const size_t *dev; /* the devices shown, as indexes into m->devices ... */
    size_t ndev;       /* ... and how many */
} lay;

static int line_new(lay *L)
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

static void span(lay *L, int line, int col, int len, unsigned attr)
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
    f->spans[f->nspans++] = (ttm_top_span){(uint32_t)line, (uint16_t)col, (uint16_t)len,
                                           (uint8_t)attr};
}

/* Writes s at col (clipped at the width, non-printable bytes as '?'); returns the column after
 * it. A line of -1 (no room) writes nothing. */
static int put(lay *L, int line, int col, unsigned attr, const char *s)
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
    span(L, line, col, len, attr);
    return col + n;
}

static int putf(lay *L, int line, int col, unsigned attr, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int putf(lay *L, int line, int col, unsigned attr, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return put(L, line, col, attr, buf);
}

/* s at col only when all of it fits in the width; returns the column after it, or col. */
static int put_fit(lay *L, int line, int col, unsigned attr, const char *s)
{
    if (col + (int)strlen(s) > L->w)
        return col;
    return put(L, line, col, attr, s);
}

/* s right-aligned in [col, col + width), cut to width. */
static void putr(lay *L, int line, int col, int width, unsigned attr, const char *s)
{
    int n = (int)strlen(s);
    if (n > width) {
        char buf[128];
        snprintf(buf, sizeof buf, "%.*s", width, s);
        put(L, line, col, attr, buf);
        return;
    }
    put(L, line, col + width - n, attr, s);
}

/* s left-aligned, cut to width. */
static void putl(lay *L, int line, int col, int width, unsigned attr, const char *s)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%.*s", width < 255 ? width : 255, s);
    put(L, line, col, attr, buf);
}

/* Words of text wrapped at the width, from column indent: on `line` first (-1: a new line),
 * then on new lines. */
static void put_wrapped_at(lay *L, int line, int indent, unsigned attr, const char *text)
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
            line = line_new(L);
        if (line < 0)
            return;
        char buf[512];
        snprintf(buf, sizeof buf, "%.*s", take < 511 ? take : 511, p);
        put(L, line, indent, attr, buf);
        line = -1;
        p += take;
        while (*p == ' ')
            p++;
    }
}

static void put_wrapped(lay *L, int indent, unsigned attr, const char *text)
{
    put_wrapped_at(L, -1, indent, attr, text);
}

/* ---- number formats ------------------------------------------------------------------------ */

/* At most 5 characters: "512B", "8.00K", "4.50M", "12.0G", "1023G". */
static char *fmt_short(char buf[TTM_FMT_LEN], uint64_t v)
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
    snprintf(buf, TTM_FMT_LEN, x < 9.995 ? "%.2f%c" : x < 99.95 ? "%.1f%c" : "%.0f%c", x,
             units[u]);
    return buf;
}

static char *fmt_size(const lay *L, char buf[TTM_FMT_LEN], uint64_t v)
{
    return L->wide ? ttm__fmt_bytes(buf, v) : fmt_short(buf, v);
}

/* A count in at most 6 characters: "12345", "1.2M". */
static char *fmt_num(char buf[TTM_FMT_LEN], uint64_t v)
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
static char *fmt_age(char buf[TTM_FMT_LEN], uint64_t ns)
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

static char *fmt_pct(char buf[TTM_FMT_LEN], uint64_t used, uint64_t cap, bool decimals)
{
    double pct = (double)used * 100.0 / (double)cap;
    if ((decimals && pct < 999.95) || (used > 0 && pct < 9.95))
        snprintf(buf, TTM_FMT_LEN, "%.1f%%", pct);
    else
        snprintf(buf, TTM_FMT_LEN, "%.0f%%", pct);
    return buf;
}

/* ---- devices ------------------------------------------------------------------------------- */

static bool dev_shown(const lay *L, const ttm_top_device *d)
{
    return !L->st->filter || d->device == L->st->filter_device;
}

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

static void dev_label(const ttm_top_device *d, char buf[TTM_FMT_LEN])
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

static bool cap_valid(const ttm_top_device *d, unsigned sp)
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
static void put_bar(lay *L, int line, int col, int barw, const ttm_top_device *d, unsigned sp)
{
    char cells[256];
    if (barw > (int)sizeof cells - 1)
        barw = (int)sizeof cells - 1;
    put(L, line, col, TTM_TOP_A_NORMAL, "[");
    put(L, line, col + barw + 1, TTM_TOP_A_NORMAL, "]");
    bool ok;
    uint64_t used = ttm__top_space_used(d->bytes, d->valid, (ttm_space)sp, &ok);
    if (!cap_valid(d, sp) || !ok) {
        const char *na = !ok ? "N/A" : barw >= 12 ? "capacity N/A" : "N/A";
        int n = (int)strlen(na);
        if (n > barw)
            n = barw;
        char buf[64];
        snprintf(buf, sizeof buf, "%.*s", n, na);
        put(L, line, col + 1 + (barw - n) / 2, TTM_TOP_A_NA, buf);
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
    put(L, line, col + 1, TTM_TOP_A_NORMAL, cells);
    span(L, line, col + 1, from, ttm__top_level_attr(used, cap));
}

/* "35.0%  4.20G / 12.0G  peak 5.00G" after a bar; returns the column after it. */
static int put_bar_tail(lay *L, int line, int col, const ttm_top_device *d, unsigned sp,
                        bool peak, bool decimals)
{
    char a[TTM_FMT_LEN], b[TTM_FMT_LEN];
    bool ok;
    uint64_t used = ttm__top_space_used(d->bytes, d->valid, (ttm_space)sp, &ok);
    int pw = decimals ? 6 : 4;
    if (ok && cap_valid(d, sp))
        putr(L, line, col, pw, ttm__top_level_attr(used, d->cap[sp]),
             fmt_pct(a, used, d->cap[sp], decimals));
    else
        putr(L, line, col, pw, TTM_TOP_A_NA, "N/A");
    col += pw + (decimals ? 2 : 1);
    int uw = L->wide ? 8 : 5;
    if (ok)
        putr(L, line, col, uw, TTM_TOP_A_NORMAL, fmt_size(L, a, used));
    else
        putr(L, line, col, uw, TTM_TOP_A_NA, "N/A");
    col += uw;
    col = put(L, line, col, TTM_TOP_A_DIM, decimals ? " / " : "/");
    if (cap_valid(d, sp))
        putl(L, line, col, uw, TTM_TOP_A_NORMAL, fmt_size(L, b, d->cap[sp]));
    else
        putl(L, line, col, uw, TTM_TOP_A_NA, "N/A");
    col += uw;
    if (peak) {
        col = put(L, line, col, TTM_TOP_A_DIM, decimals ? "  peak " : " pk ");
        if (peak_valid(d, sp))
            putl(L, line, col, uw, TTM_TOP_A_NORMAL, fmt_size(L, a, d->peak[sp]));
        else
            putl(L, line, col, uw, TTM_TOP_A_NA, "N/A");
        col += uw;
    }
    return col;
}

static int tail_width(const lay *L, bool peak, bool decimals)
{
    int uw = L->wide ? 8 : 5;
    int w = (decimals ? 6 + 2 : 4 + 1) + uw + (decimals ? 3 : 1) + uw;
    if (peak)
        w += (decimals ? 7 : 4) + uw;
    return w;
}

/* Three lines: DRAM bar, L1 bar, breakdown. */
static void dev_full(lay *L, const ttm_top_device *d)
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
        int line = line_new(L);
        if (sp == 0) {
            dev_label(d, buf);
            putr(L, line, 0, 4, lab_attr, buf);
            putl(L, line, name_col, 13, lab_attr, arch_name(d));
        }
        put(L, line, bar_col, TTM_TOP_A_TITLE, sp == 0 ? "DRAM" : "L1");
        put_bar(L, line, bar_col + 5, barw, d, sp);
        put_bar_tail(L, line, bar_col + 5 + barw + 3, d, sp, true, true);
    }
    int line = line_new(L);
    int col = name_col;
    static const unsigned order[] = {TTM_MEM_DRAM, TTM_MEM_TRACE, TTM_MEM_L1, TTM_MEM_L1_SMALL,
                                     TTM_MEM_CB, TTM_MEM_KERNEL};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        unsigned t = order[i];
        if (i == 2)
            col = put(L, line, col, TTM_TOP_A_DIM, "| ");
        char g[4] = {mem_glyph(t), '\0'};
        col = putf(L, line, col, TTM_TOP_A_DIM, "%s", ttm__memtype_name(t));
        if (L->wide && t != TTM_MEM_DRAM && t != TTM_MEM_L1)
            col = putf(L, line, col, TTM_TOP_A_DIM, "(%s)", g);
        col = put(L, line, col, TTM_TOP_A_NORMAL, " ");
        if (d->valid & TTM_TOP_V_MEM(t))
            col = put(L, line, col, TTM_TOP_A_NORMAL, fmt_size(L, buf, d->bytes[t]));
        else
            col = put(L, line, col, TTM_TOP_A_NA, "N/A");
        col += 2;
    }
}

/* One line: both bars, narrow. */
static void dev_line(lay *L, const ttm_top_device *d)
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
    int line = line_new(L);
    unsigned lab_attr = d->src == TTM_TOP_SRC_SHM ? TTM_TOP_A_SHM : TTM_TOP_A_TITLE;
    dev_label(d, buf);
    putr(L, line, 0, 4, lab_attr, buf);
    putl(L, line, 5, 6, lab_attr, arch_short(d));
    int col = 12;
    for (unsigned sp = 0; sp < 2; sp++) {
        put(L, line, col, TTM_TOP_A_TITLE, sp == 0 ? "DRAM" : "L1");
        put_bar(L, line, col + 5, barw, d, sp);
        col = put_bar_tail(L, line, col + 5 + barw + 3, d, sp, peak, false) + 2;
    }
}

#define GRID_CELL 18

/* One cell: "  12  35%   9%" (percent of capacity, or bytes when the capacity is unknown). */
static void dev_cell(lay *L, int line, int col, const ttm_top_device *d)
{
    char buf[TTM_FMT_LEN];
    dev_label(d, buf);
    putr(L, line, col, 4, d->src == TTM_TOP_SRC_SHM ? TTM_TOP_A_SHM : TTM_TOP_A_TITLE, buf);
    for (unsigned sp = 0; sp < 2; sp++) {
        bool ok;
        uint64_t used = ttm__top_space_used(d->bytes, d->valid, (ttm_space)sp, &ok);
        int c = col + 5 + (int)sp * 6;
        if (!ok)
            putr(L, line, c, 5, TTM_TOP_A_NA, "N/A");
        else if (cap_valid(d, sp))
            putr(L, line, c, 5, ttm__top_level_attr(used, d->cap[sp]),
                 fmt_pct(buf, used, d->cap[sp], false));
        else
            putr(L, line, c, 5, TTM_TOP_A_NORMAL, fmt_short(buf, used));
    }
}

static int grid_cells(const lay *L)
{
    int n = L->w / GRID_CELL;
    return n > 0 ? n : 1;
}

static int dev_rows_needed(const lay *L, ttm_top_devmode mode, size_t ndev)
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

static void devices_title(lay *L, size_t shown, ttm_top_devmode mode, int first, int last,
                          int entries)
{
    int line = line_new(L);
    int col = putf(L, line, 0, TTM_TOP_A_TITLE, "DEVICES %zu", shown);
    if (first > 0 || last < entries)
        col = putf(L, line, col + 2, TTM_TOP_A_WARN, "%s %d-%d, arrows scroll",
                   mode == TTM_TOP_DEV_GRID ? "lines" : "devices", first + 1, last);
    if (L->st->filter)
        col = putf(L, line, col, TTM_TOP_A_WARN, " (device %u only)", L->st->filter_device);
    bool any_shm = false;
    for (size_t i = 0; i < L->m->ndevices; i++)
        any_shm |= L->m->devices[i].src == TTM_TOP_SRC_SHM;
    if (mode == TTM_TOP_DEV_GRID)
        col = put(L, line, col + 2, TTM_TOP_A_DIM, "cells: device, DRAM %, L1 %");
    else
        col = put_fit(L, line, col + 2, TTM_TOP_A_DIM,
                      L->wide ? "DRAM = DRAM(#) + TRACE(t); L1 = L1(#) + L1_SMALL(s) + CB(c) + "
                                "KERNEL(k)"
                              : "DRAM=DRAM+TRACE(t) L1=L1+L1_SMALL(s)+CB(c)+KERNEL(k)");
    if (any_shm)
        put_fit(L, line, col + 2, TTM_TOP_A_SHM,
                mode == TTM_TOP_DEV_GRID ? "s = TT-Metal shm, counters only"
                                         : "shm = TT-Metal counters only");
}

/* Draws the shown devices in mode, at most rows lines (-1: all), starting at entry `first`
 * (a device, or a grid row). Returns the number of entries the list has. */
static int devices_list(lay *L, ttm_top_devmode mode, int rows, int first)
{
    const ttm_top_model *m = L->m;
    const size_t *idx = L->dev, n = L->ndev;
    int per = mode == TTM_TOP_DEV_FULL ? 3 : 1;
    int entries = mode == TTM_TOP_DEV_GRID ? dev_rows_needed(L, mode, n) : (int)n;
    int fit = rows < 0 ? entries : rows / per;
    for (int e = first; e < entries && e - first < fit; e++) {
        if (mode == TTM_TOP_DEV_GRID) {
            int cells = grid_cells(L);
            int line = line_new(L);
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

static size_t devices_shown(const lay *L)
{
    return L->ndev;
}

/* ---- processes ----------------------------------------------------------------------------- */

typedef struct sort_ctx {
    const ttm_top_model *m;
    ttm_top_col col;
    bool ascending;
} sort_ctx;

static const unsigned col_memtype[TTM_TOP_COL__COUNT] = {
    [TTM_TOP_COL_DRAM] = TTM_MEM_DRAM,   [TTM_TOP_COL_L1] = TTM_MEM_L1,
    [TTM_TOP_COL_L1_SMALL] = TTM_MEM_L1_SMALL, [TTM_TOP_COL_TRACE] = TTM_MEM_TRACE,
    [TTM_TOP_COL_CB] = TTM_MEM_CB,       [TTM_TOP_COL_KERNEL] = TTM_MEM_KERNEL};

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

size_t ttm__top_proc_rows(const ttm_top_model *m, const ttm_top_state *st, ttm_top_row *rows)
{
    size_t n = 0;
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
        if (on)
            n++;
    }
    sort_ctx c = {m, st->sort, st->ascending};
    if (n > 1)
        qsort_r(rows, n, sizeof *rows, cmp_row, &c);
    return n;
}

/* "0-7", "0,2,5", "32 devs"; under a filter, the filtered device. */
static void fmt_devs(const lay *L, const ttm_top_proc *p, char *buf, size_t len, int width)
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
} ptab;

static void ptab_geometry(const lay *L, ptab *g)
{
    int bw = L->wide ? 9 : 5;
    int fixed = 2 + 7 + 1 + 1 + 7 + 6 * (1 + bw) + (1 + bw);
    int nw = L->w - fixed;
    if (nw > (L->wide ? 32 : 20))
        nw = L->wide ? 32 : 20;
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
}

static const char *col_header(const lay *L, ttm_top_col c)
{
    static const char *const narrow[] = {"PID", "NAME", "DEVS", "DRAM", "L1", "L1SML",
                                         "TRACE", "CB", "KERNL", "ANOM"};
    static const char *const wide[] = {"PID", "NAME", "DEVICES", "DRAM", "L1", "L1_SMALL",
                                       "TRACE", "CB", "KERNEL", "ANOMALIES"};
    return L->wide ? wide[c] : narrow[c];
}

static void proc_header(lay *L, const ptab *g)
{
    int line = line_new(L);
    span(L, line, 0, L->w, TTM_TOP_A_TITLE);
    put(L, line, 0, TTM_TOP_A_TITLE, "S");
    for (int c = 0; c < TTM_TOP_COL__COUNT; c++) {
        unsigned attr = c == (int)L->st->sort ? TTM_TOP_A_SORTED : TTM_TOP_A_TITLE;
        if (c == TTM_TOP_COL_NAME || c == TTM_TOP_COL_DEVS)
            putl(L, line, g->x[c], g->w[c], attr, col_header(L, (ttm_top_col)c));
        else
            putr(L, line, g->x[c], g->w[c], attr, col_header(L, (ttm_top_col)c));
    }
}

static void proc_row(lay *L, const ptab *g, const ttm_top_row *r)
{
    const ttm_top_proc *p = &L->m->procs[r->proc];
    char buf[256];
    int line = line_new(L);
    bool dim = !p->alive;
    unsigned base = dim ? TTM_TOP_A_DIM : TTM_TOP_A_NORMAL;
    const char *state = p->src == TTM_TOP_SRC_SHM ? (p->alive ? "C" : "G")
                        : p->alive               ? (p->connected ? "R" : "r")
                                                 : "X";
    put(L, line, 0, p->src == TTM_TOP_SRC_SHM ? TTM_TOP_A_SHM : base, state);
    snprintf(buf, sizeof buf, "%u", p->pid);
    putr(L, line, g->x[TTM_TOP_COL_PID], g->w[TTM_TOP_COL_PID], base, buf);
    putl(L, line, g->x[TTM_TOP_COL_NAME], g->w[TTM_TOP_COL_NAME], base, p->name);
    fmt_devs(L, p, buf, sizeof buf, g->w[TTM_TOP_COL_DEVS]);
    putl(L, line, g->x[TTM_TOP_COL_DEVS], g->w[TTM_TOP_COL_DEVS], base, buf);
    for (int c = TTM_TOP_COL_DRAM; c <= TTM_TOP_COL_KERNEL; c++) {
        unsigned t = col_memtype[c];
        if (r->valid & TTM_TOP_V_MEM(t))
            putr(L, line, g->x[c], g->w[c], base, fmt_size(L, buf, r->bytes[t]));
        else
            putr(L, line, g->x[c], g->w[c], TTM_TOP_A_NA, "N/A");
    }
    if (p->valid & TTM_TOP_V_ANOM)
        putr(L, line, g->x[TTM_TOP_COL_ANOM], g->w[TTM_TOP_COL_ANOM],
             p->anomalies ? TTM_TOP_A_CRIT : base, fmt_num(buf, p->anomalies));
    else
        putr(L, line, g->x[TTM_TOP_COL_ANOM], g->w[TTM_TOP_COL_ANOM], TTM_TOP_A_NA, "N/A");
}

/* Title, header and rows in at most `lines` lines (-1: all rows); `first` is the first row
 * shown when scrolling. Returns how many rows did not fit. */
static size_t proc_table(lay *L, const ttm_top_row *rows, size_t nrows, int lines, int first,
                         bool hint_more)
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

    int line = line_new(L);
    int col = putf(L, line, 0, TTM_TOP_A_TITLE, "PROCESSES %zu", nrows);
    if (!hint_more && (start > 0 || end < nrows))
        col = putf(L, line, col + 2, TTM_TOP_A_WARN, "rows %zu-%zu, arrows scroll", start + 1,
                   end);
    col = putf(L, line, col + 2, TTM_TOP_A_DIM, "sort %s %s", ttm__top_col_name(st->sort),
               st->ascending ? "ascending" : "descending");
    if (st->filter)
        col = putf(L, line, col + 2, TTM_TOP_A_WARN, "device %u only", st->filter_device);
    put_fit(L, line, col + 2, TTM_TOP_A_DIM,
            "S: R running, X exited, C TT-Metal counters only, G ghost");
    ptab g;
    ptab_geometry(L, &g);
    proc_header(L, &g);
    if (nrows == 0) {
        line = line_new(L);
        if (st->filter)
            putf(L, line, 2, TTM_TOP_A_DIM, "no process holds memory on device %u",
                 st->filter_device);
        else
            put(L, line, 2, TTM_TOP_A_DIM, "no process has reported yet");
        return 0;
    }
    for (size_t i = start; i < end; i++)
        proc_row(L, &g, &rows[i]);
    if (cut) {
        line = line_new(L);
        putf(L, line, 2, TTM_TOP_A_DIM, "... %zu more (v: processes view)", nrows - end);
    }
    return nrows - end;
}

/* ---- diagnosis ----------------------------------------------------------------------------- */

typedef struct diag_val {
    bool valid;
    uint64_t count, bytes;
    bool delta_valid;
    uint64_t delta;
} diag_val;

static const ttm_top_device *daemon_device(const ttm_top_model *m, uint32_t id)
{
    for (size_t i = 0; i < m->ndevices; i++)
        if (m->devices[i].src == TTM_TOP_SRC_DAEMON && m->devices[i].device == id)
            return &m->devices[i];
    return NULL;
}

static diag_val diag_get(const lay *L, ttm_top_diag k)
{
    const ttm_top_model *m = L->m;
    diag_val v = {0};
    if (!m->diag_valid)
        return v;
    int cls = diag_class[k];
    if (cls < 0) { /* dropped: a transport counter of the daemon, not per device */
        v.valid = true;
        v.count = m->dropped;
        v.delta_valid = m->prev_valid && m->dstate == TTM_TOP_DAEMON_OK &&
                        m->dropped >= m->prev_dropped;
        v.delta = v.delta_valid ? m->dropped - m->prev_dropped : 0;
        return v;
    }
    if (L->st->filter) {
        const ttm_top_device *d = daemon_device(m, L->st->filter_device);
        if (d == NULL || !(d->valid & TTM_TOP_V_CLASSES) || (unsigned)cls >= d->nclasses)
            return v;
        v.valid = true;
        v.count = d->class_count[cls];
        v.bytes = d->class_bytes[cls];
        return v;
    }
    if ((unsigned)cls >= m->nclasses)
        return v;
    v.valid = true;
    v.count = m->class_count[cls];
    v.bytes = m->class_bytes[cls];
    v.delta_valid = m->prev_valid && m->dstate == TTM_TOP_DAEMON_OK &&
                    v.count >= m->prev_class_count[cls];
    v.delta = v.delta_valid ? v.count - m->prev_class_count[cls] : 0;
    return v;
}

static const char *diag_help(ttm_top_diag k)
{
    return diag_class[k] < 0 ? DROPPED_HELP : ttm_class_help((unsigned)diag_class[k]);
}

/* One line: "DIAG unknown frees 3  double frees 0 ...". */
static void diag_summary(lay *L)
{
    static const char *const short_labels[] = {"unknown", "double", "excess", "leaked",
                                               "dropped"};
    char buf[TTM_FMT_LEN], b2[TTM_FMT_LEN];
    int line = line_new(L);
    int col = put(L, line, 0, TTM_TOP_A_TITLE, "DIAG");
    if (!L->m->diag_valid) {
        put(L, line, col + 2, TTM_TOP_A_NA,
            "N/A: TT-Metal's counters carry no buffer identity; ttmemd diagnoses");
        return;
    }
    for (int k = 0; k < TTM_TOP_DIAG__COUNT; k++) {
        diag_val v = diag_get(L, (ttm_top_diag)k);
        col = put(L, line, col + 2, TTM_TOP_A_DIM, short_labels[k]) + 1;
        if (!v.valid) {
            col = put(L, line, col, TTM_TOP_A_NA, "N/A");
            continue;
        }
        col = put(L, line, col, v.count ? TTM_TOP_A_CRIT : TTM_TOP_A_OK,
                  L->wide ? ttm__fmt_count(buf, v.count) : fmt_num(buf, v.count));
        if (k == TTM_TOP_DIAG_LEAKED && v.count)
            col = putf(L, line, col, TTM_TOP_A_DIM, " (%s)", fmt_size(L, b2, v.bytes));
        if (v.delta_valid && v.delta)
            col = putf(L, line, col, TTM_TOP_A_WARN, " +%s", fmt_num(b2, v.delta));
    }
}

/* The counters with count, +new, bytes and an explanation each. */
static void diag_table(lay *L)
{
    const ttm_top_model *m = L->m;
    char buf[TTM_FMT_LEN];
    int line = line_new(L);
    int col = put(L, line, 0, TTM_TOP_A_TITLE, "DIAGNOSIS");
    if (L->st->filter)
        col = putf(L, line, col + 2, TTM_TOP_A_WARN, "device %u", L->st->filter_device);
    bool deltas = m->refreshes > 1; /* a single frame has no "previous refresh" */
    put_fit(L, line, col + 2, TTM_TOP_A_DIM,
            deltas ? "counts since ttmemd started; +NEW: since the previous refresh"
                   : "counts since ttmemd started");
    if (!m->diag_valid) {
        put_wrapped(L, 2, TTM_TOP_A_NA,
                    "N/A: TT-Metal's shared-memory counters carry no buffer identity, so "
                    "frees cannot be matched to allocations. Start 'ttmemd' and run programs "
                    "with TTMEM=1 (or under 'ttmem record -- CMD') for a diagnosis.");
        return;
    }
    bool inline_help = L->w >= 110;
    line = line_new(L);
    span(L, line, 0, L->w, TTM_TOP_A_TITLE);
    put(L, line, 2, TTM_TOP_A_TITLE, "COUNTER");
    putr(L, line, 18, 12, TTM_TOP_A_TITLE, "COUNT");
    if (deltas)
        putr(L, line, 31, 8, TTM_TOP_A_TITLE, "+NEW");
    putr(L, line, 40, 10, TTM_TOP_A_TITLE, "BYTES");
    put(L, line, inline_help ? 52 : 51, TTM_TOP_A_TITLE, inline_help ? "WHAT IT MEANS" : "");
    for (int k = 0; k < TTM_TOP_DIAG__COUNT; k++) {
        diag_val v = diag_get(L, (ttm_top_diag)k);
        line = line_new(L);
        put(L, line, 2, TTM_TOP_A_NORMAL, diag_labels[k]);
        if (!v.valid) {
            putr(L, line, 18, 12, TTM_TOP_A_NA, "N/A");
        } else {
            putr(L, line, 18, 12, v.count ? TTM_TOP_A_CRIT : TTM_TOP_A_OK,
                 ttm__fmt_count(buf, v.count));
            if (deltas && v.delta_valid)
                putr(L, line, 31, 8, v.delta ? TTM_TOP_A_WARN : TTM_TOP_A_DIM,
                     (snprintf(buf, sizeof buf, "+%llu", (unsigned long long)v.delta), buf));
            else if (deltas)
                putr(L, line, 31, 8, TTM_TOP_A_NA, "N/A");
            if (diag_class[k] >= 0)
                putr(L, line, 40, 10, TTM_TOP_A_NORMAL, ttm__fmt_bytes(buf, v.bytes));
        }
        if (inline_help)
            put_wrapped_at(L, line, 52, TTM_TOP_A_DIM, diag_help((ttm_top_diag)k));
        else
            put_wrapped(L, 4, TTM_TOP_A_DIM, diag_help((ttm_top_diag)k));
    }
    /* the other findings, when any happened */
    bool titled = false;
    for (unsigned c = 0; c < m->nclasses && c < TTM_CLASS__COUNT; c++) {
        bool main_one = false;
        for (int k = 0; k < TTM_TOP_DIAG__COUNT; k++)
            main_one |= diag_class[k] == (int)c;
        uint64_t count = m->class_count[c];
        if (L->st->filter) {
            const ttm_top_device *d = daemon_device(m, L->st->filter_device);
            count = d != NULL && c < d->nclasses ? d->class_count[c] : 0;
        }
        if (main_one || !ttm_class_is_anomaly(c) || count == 0)
            continue;
        if (!titled) {
            line = line_new(L);
            put(L, line, 0, TTM_TOP_A_TITLE, "OTHER FINDINGS");
            titled = true;
        }
        line = line_new(L);
        put(L, line, 2, TTM_TOP_A_NORMAL, ttm_class_name(c));
        putr(L, line, 18, 12, TTM_TOP_A_WARN, ttm__fmt_count(buf, count));
        if (inline_help)
            put_wrapped_at(L, line, 52, TTM_TOP_A_DIM, ttm_class_help(c));
        else
            put_wrapped(L, 4, TTM_TOP_A_DIM, ttm_class_help(c));
    }
}

static void transport_lines(lay *L)
{
    const ttm_top_model *m = L->m;
    if (m->dstate == TTM_TOP_DAEMON_NONE || !(m->snap.sections & TTM_SNAP_BIT(TTM_SNAP_SEC_DAEMON)))
        return;
    const ttm_report_daemon *d = &m->snap.daemon;
    char a[TTM_FMT_LEN], b[TTM_FMT_LEN], c[TTM_FMT_LEN];
    int line = line_new(L);
    put(L, line, 0, TTM_TOP_A_TITLE, "TRANSPORT");
    char text[512];
    snprintf(text, sizeof text,
             "clients %u connected, %llu since start (%llu refused at the limit, %llu rejected); "
             "events %s; producer waits %s; ring errors %llu; reattached %llu; queries %s",
             d->clients_connected, (unsigned long long)d->clients_total,
             (unsigned long long)d->clients_refused, (unsigned long long)d->clients_rejected,
             ttm__fmt_count(a, d->events), ttm__fmt_count(b, d->waited),
             (unsigned long long)d->ring_errors, (unsigned long long)d->reattached,
             ttm__fmt_count(c, d->queries));
    put_wrapped(L, 2, TTM_TOP_A_NORMAL, text);
}

/* Per-device counters: one row per daemon device. Returns the number of entries. */
static int diag_devices(lay *L, int rows, int first)
{
    const ttm_top_model *m = L->m;
    char buf[TTM_FMT_LEN];
    /* daemon rows come first in the model: the shown ones are a prefix of L->dev */
    const size_t *idx = L->dev;
    size_t n = 0;
    while (n < L->ndev && m->devices[idx[n]].src == TTM_TOP_SRC_DAEMON)
        n++;
    if (n == 0 || rows == 0)
        return 0;
    int line = line_new(L);
    span(L, line, 0, L->w, TTM_TOP_A_TITLE);
    put(L, line, 0, TTM_TOP_A_TITLE, " DEV");
    static const char *const heads[] = {"UNKNOWN", "DOUBLE", "EXCESS", "LEAKED"};
    for (int k = 0; k < 4; k++)
        putr(L, line, 6 + k * 12, 11, TTM_TOP_A_TITLE, heads[k]);
    put(L, line, 6 + 4 * 12 + 2, TTM_TOP_A_TITLE, "(per device)");
    int room = rows < 0 ? (int)n : rows - 1;
    for (size_t e = (size_t)(first > 0 ? first : 0); e < n && room > 0; e++, room--) {
        const ttm_top_device *d = &m->devices[idx[e]];
        line = line_new(L);
        putr(L, line, 0, 4, TTM_TOP_A_TITLE, (snprintf(buf, sizeof buf, "%u", d->device), buf));
        for (int k = 0; k < 4; k++) {
            unsigned cls = (unsigned)diag_class[k];
            if (!(d->valid & TTM_TOP_V_CLASSES) || cls >= d->nclasses) {
                putr(L, line, 6 + k * 12, 11, TTM_TOP_A_NA, "N/A");
                continue;
            }
            uint64_t v = d->class_count[cls];
            putr(L, line, 6 + k * 12, 11, v ? TTM_TOP_A_CRIT : TTM_TOP_A_DIM,
                 ttm__fmt_count(buf, v));
        }
    }
    return (int)n;
}

/* ---- history ------------------------------------------------------------------------------- */

/* Fills levels[0..cols) for one device and space: -1 no sample, else 0..8. *now_used and
 * *scale_max receive the last value and the scale used (capacity, or the window's maximum). */
static void hist_levels(const lay *L, const ttm_top_device *d, unsigned sp, int cols,
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
    uint64_t scale = cap_valid(d, sp) ? d->cap[sp] : *maxv;
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

static void put_graph(lay *L, int line, int col, int cols, const ttm_top_device *d, unsigned sp,
                      uint64_t step_ns)
{
    int levels[512];
    char buf[TTM_FMT_LEN];
    uint64_t maxv;
    if (cols > 512)
        cols = 512;
    hist_levels(L, d, sp, cols, step_ns, levels, &maxv);
    put(L, line, col, TTM_TOP_A_DIM, "|");
    for (int c = 0; c < cols; c++) {
        if (levels[c] < 0)
            continue;
        char g[2] = {TTM_TOP_GRAPH_GLYPHS[levels[c]], '\0'};
        unsigned attr = TTM_TOP_A_NORMAL;
        if (cap_valid(d, sp))
            attr = levels[c] >= 8 ? TTM_TOP_A_CRIT : levels[c] >= 6 ? TTM_TOP_A_WARN
                                                                    : TTM_TOP_A_OK;
        put(L, line, col + 1 + c, attr | TTM_TOP_A_GRAPH, g);
    }
    put(L, line, col + 1 + cols, TTM_TOP_A_DIM, "|");
    bool ok;
    uint64_t used = ttm__top_space_used(d->bytes, d->valid, (ttm_space)sp, &ok);
    int tc = col + cols + 3;
    if (!ok)
        put(L, line, tc, TTM_TOP_A_NA, "N/A");
    else if (cap_valid(d, sp))
        putr(L, line, tc, 4, ttm__top_level_attr(used, d->cap[sp]),
             fmt_pct(buf, used, d->cap[sp], false));
    else {
        char b2[TTM_FMT_LEN];
        putr(L, line, tc, 5, TTM_TOP_A_NORMAL, fmt_short(buf, used));
        putf(L, line, tc + 6, TTM_TOP_A_DIM, "max %s", fmt_short(b2, maxv));
    }
}

#define HIST_GX 10   /* column of a graph's left bar */
#define HIST_TAIL 16 /* the value after a graph: "9.9%", or "1.19G max 1.22G" */

/* Columns of one graph: two per line ("L1" label between) when not two_lines. */
static int hist_cols(const lay *L, bool two_lines)
{
    int cols = two_lines ? L->w - HIST_GX - 2 - 1 - HIST_TAIL
                         : (L->w - HIST_GX - 4 - 2 * (2 + 1 + HIST_TAIL)) / 2;
    return cols > 512 ? 512 : cols < 8 ? 8 : cols;
}

static int history_view(lay *L, int rows, int first)
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
    int line = line_new(L);
    int col = put(L, line, 0, TTM_TOP_A_TITLE, "HISTORY");
    put_fit(L, line, col + 2, TTM_TOP_A_DIM,
            "use as % of capacity, highest per column (levels " TTM_TOP_GRAPH_GLYPHS ")");
    fmt_age(a, step * (uint64_t)cols + 500000000ull); /* to the nearest second */
    line = line_new(L);
    for (int g = 0; g < (two_lines ? 1 : 2); g++) {
        int x = g == 0 ? HIST_GX : x2;
        putf(L, line, x + 1, TTM_TOP_A_DIM, "-%s", a);
        putf(L, line, x + cols - 7, TTM_TOP_A_DIM, "%5.1fs/col", (double)step / 1e9);
    }
    if (n == 0) {
        line = line_new(L);
        put(L, line, 2, TTM_TOP_A_DIM, "no device to show");
        return 0;
    }
    int per = two_lines ? 2 : 1;
    int room = rows < 0 ? (int)n : (rows - 2) / per;
    for (size_t e = (size_t)(first > 0 ? first : 0); e < n && room > 0; e++, room--) {
        const ttm_top_device *d = &m->devices[idx[e]];
        dev_label(d, a);
        unsigned lab = d->src == TTM_TOP_SRC_SHM ? TTM_TOP_A_SHM : TTM_TOP_A_TITLE;
        for (unsigned sp = 0; sp < 2; sp++) {
            if (two_lines || sp == 0)
                line = line_new(L);
            if (sp == 0)
                putr(L, line, 0, 4, lab, a);
            int x = two_lines || sp == 0 ? HIST_GX : x2;
            put(L, line, x - 5, TTM_TOP_A_TITLE, sp == 0 ? "DRAM" : "L1");
            put_graph(L, line, x, cols, d, sp, step);
        }
    }
    return (int)n;
}

/* ---- header, footer, help, states ---------------------------------------------------------- */

static void header(lay *L)
{
    const ttm_top_model *m = L->m;
    const ttm_top_state *st = L->st;
    char a[TTM_FMT_LEN], b[TTM_FMT_LEN];
    int line = line_new(L);
    span(L, line, 0, L->w, TTM_TOP_A_HEADER);
    int col = putf(L, line, 0, TTM_TOP_A_HEADER, " ttmem top  host %s", m->host);
    if (m->dstate != TTM_TOP_DAEMON_NONE && (m->snap.sections & TTM_SNAP_BIT(TTM_SNAP_SEC_DAEMON)))
        col = putf(L, line, col, TTM_TOP_A_HEADER, "  ttmemd %.16s pid %u up %s",
                   m->snap.daemon.version, m->snap.daemon.pid,
                   fmt_age(a, m->snap.daemon.uptime_ns)); /* as of its last answer */
    else if (m->dstate == TTM_TOP_DAEMON_NONE)
        col = put(L, line, col, TTM_TOP_A_HEADER, "  ttmemd not running");
    if (!st->plain)
        putf(L, line, col, TTM_TOP_A_HEADER, "  refresh %.1fs", st->refresh_ms / 1000.0);
    /* flags at the right */
    char flags[96] = "";
    size_t fl = 0;
    int stale_at = -1, stale_len = 0;
    if (m->dstate == TTM_TOP_DAEMON_STALE) {
        stale_at = (int)fl;
        int n = snprintf(flags + fl, sizeof flags - fl, "STALE %s ",
                         fmt_age(b, m->now_ns >= m->last_ok_ns ? m->now_ns - m->last_ok_ns : 0));
        stale_len = n - 1;
        fl += (size_t)n;
    }
    int paused_at = -1;
    if (st->paused) {
        paused_at = (int)fl;
        fl += (size_t)snprintf(flags + fl, sizeof flags - fl, "PAUSED ");
    }
    if (fl > 0) {
        int x = L->w - (int)fl;
        if (x < 0)
            x = 0;
        put(L, line, x, TTM_TOP_A_HEADER, flags);
        if (stale_at >= 0)
            span(L, line, x + stale_at, stale_len, TTM_TOP_A_STALE);
        if (paused_at >= 0)
            span(L, line, x + paused_at, 6, TTM_TOP_A_WARN);
    }

    /* sources: what each one is first, where it is last (a long path is what gets cut) */
    line = line_new(L);
    col = put(L, line, 0, TTM_TOP_A_DIM, "sources: ");
    switch (m->dstate) {
    case TTM_TOP_DAEMON_OK:
        col = put(L, line, col, TTM_TOP_A_NORMAL, "ttmemd");
        if (m->snap.sections & TTM_SNAP_BIT(TTM_SNAP_SEC_DAEMON))
            col = putf(L, line, col, TTM_TOP_A_NORMAL, " (%u client%s)",
                       m->snap.daemon.clients_connected,
                       m->snap.daemon.clients_connected == 1 ? "" : "s");
        col = putf(L, line, col, TTM_TOP_A_DIM, " at %s", m->socket_path);
        break;
    case TTM_TOP_DAEMON_STALE:
        col = putf(L, line, col, TTM_TOP_A_STALE,
                   "ttmemd lost %s ago (%s): last frame kept, retrying",
                   fmt_age(a, m->now_ns >= m->last_ok_ns ? m->now_ns - m->last_ok_ns : 0),
                   m->daemon_err);
        col = putf(L, line, col, TTM_TOP_A_DIM, " at %s", m->socket_path);
        break;
    default:
        col = putf(L, line, col, TTM_TOP_A_DIM, "no ttmemd at %s", m->socket_path);
        break;
    }
    col = put(L, line, col, TTM_TOP_A_DIM, "; ");
    if (m->nregions_ok > 0) {
        col = putf(L, line, col, TTM_TOP_A_SHM, "%zu TT-Metal shm region%s (counters only)",
                   m->nregions_ok, m->nregions_ok == 1 ? "" : "s");
        col = putf(L, line, col, TTM_TOP_A_DIM, " in %s", m->shm_dir);
    } else {
        col = putf(L, line, col, TTM_TOP_A_DIM, "TT-Metal shm: none in %s", m->shm_dir);
    }
    if (m->nregions_ghosts > 0)
        col = putf(L, line, col, TTM_TOP_A_WARN, ", %zu ghost slot%s", m->nregions_ghosts,
                   m->nregions_ghosts == 1 ? "" : "s");
    if (m->nregions_bad > 0)
        col = putf(L, line, col, TTM_TOP_A_WARN, ", %zu unreadable (%s)", m->nregions_bad,
                   m->shm_err);
}

static void footer(lay *L)
{
    const ttm_top_state *st = L->st;
    static const char *const modes[] = {"auto", "full", "line", "grid"};
    char text[4][48];
    snprintf(text[0], sizeof text[0], "%s", ttm__top_view_name(st->view));
    snprintf(text[1], sizeof text[1], "sort %s%s", ttm__top_col_name(st->sort),
             st->ascending ? "+" : "-");
    if (st->filter)
        snprintf(text[2], sizeof text[2], "dev %u", st->filter_device);
    else
        snprintf(text[2], sizeof text[2], "dev all");
    snprintf(text[3], sizeof text[3], "%s", modes[st->devmode % TTM_TOP_DEV__COUNT]);
    const struct {
        const char *key, *what;
    } items[] = {
        {"h", "help"},  {"v", text[0]}, {"s<>", text[1]}, {"d0-9", text[2]},
        {"c", text[3]}, {"p", st->paused ? "resume" : "pause"},
    };
    int line = line_new(L);
    int col = 0;
    int quit_at = L->w - 7; /* " q quit" sits at the right edge */
    for (size_t i = 0; i < sizeof items / sizeof items[0]; i++) {
        int need = 1 + (int)strlen(items[i].key) + 1 + (int)strlen(items[i].what);
        if (col + need > quit_at)
            break;
        col = put(L, line, col + 1, TTM_TOP_A_KEY, items[i].key);
        col = put(L, line, col + 1, TTM_TOP_A_NORMAL, items[i].what) + 1;
    }
    put(L, line, quit_at + 1, TTM_TOP_A_KEY, "q");
    put(L, line, quit_at + 3, TTM_TOP_A_NORMAL, "quit");
}

/* The help: at most 13 lines of at most 70 columns, so that it fits the smallest terminal. */
static void help_body(lay *L)
{
    static const char *const text[] = {
        "KEYS  h ? help (any key closes it)   p space pause/resume   q quit",
        "  v Tab S-Tab  view: devices, processes, diagnosis, history",
        "  s > <  r     sort by the next / previous column;  r reverses it",
        "  d 0-9 a      device filter: next / number (type digits) / all",
        "  c            device display: auto, full, line (1 per device), grid",
        "  arrows PgUp PgDn Home End   scroll the list that does not fit",
        "READING IT",
        "  DRAM = DRAM(#)+TRACE(t)   L1 = L1(#)+L1_SMALL(s)+CB(c)+KERNEL(k)",
        "  green below 75% of capacity, yellow from 75%, red from 90%",
        "  S: R running, r no session, X exited, C TT-Metal counters, G ghost",
        "  N/A: the source lacks the value (TT-Metal counters: capacity,",
        "       peak, anomalies, KERNEL); never shown as 0",
        "  STALE: ttmemd stopped answering; last frame kept, retrying",
    };
    for (size_t i = 0; i < sizeof text / sizeof text[0]; i++) {
        int line = line_new(L);
        if (i == 0 || i == 6) {
            int n = i == 0 ? 4 : 10;
            put(L, line, 0, TTM_TOP_A_NORMAL, text[i]);
            span(L, line, 0, n, TTM_TOP_A_TITLE);
        } else {
            put(L, line, 0, TTM_TOP_A_NORMAL, text[i]);
        }
    }
}

static void nothing_body(lay *L)
{
    const ttm_top_model *m = L->m;
    char text[1024];
    line_new(L);
    snprintf(text, sizeof text,
             "Nothing to monitor: ttmemd %s at %s (%s) and there are no TT-Metal regions in %s.",
             m->daemon_code == TTM_OK || m->daemon_code == TTM_ECONN ? "is not running"
                                                                     : "does not answer",
             m->socket_path, m->daemon_err[0] ? m->daemon_err : "no answer", m->shm_dir);
    put_wrapped(L, 2, TTM_TOP_A_WARN, text);
    line_new(L);
    put_wrapped(L, 2, TTM_TOP_A_NORMAL,
                "Start 'ttmemd' (programs linked with libttmem report to it when TTMEM=1), or "
                "run your program under 'ttmem record -- CMD'. TT-Metal's own shared-memory "
                "counters appear here by themselves unless TT_METAL_SHM_TRACKING_DISABLED=1.");
    line_new(L);
    put_wrapped(L, 2, TTM_TOP_A_DIM, "ttmem top keeps looking at every refresh.");
}

/* ---- views --------------------------------------------------------------------------------- */

static int clamp_scroll(lay *L, int entries, int visible)
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

static ttm_top_devmode pick_mode(const lay *L, size_t ndev, int budget)
{
    if (L->st->devmode != TTM_TOP_DEV_AUTO)
        return L->st->devmode;
    if (budget < 0 || dev_rows_needed(L, TTM_TOP_DEV_FULL, ndev) <= budget)
        return TTM_TOP_DEV_FULL;
    if (dev_rows_needed(L, TTM_TOP_DEV_LINE, ndev) <= budget)
        return TTM_TOP_DEV_LINE;
    if (dev_rows_needed(L, TTM_TOP_DEV_GRID, ndev) <= budget)
        return TTM_TOP_DEV_GRID;
    return TTM_TOP_DEV_LINE; /* scrolls */
}

static void view_devices(lay *L, ttm_top_row *rows, size_t nrows)
{
    const ttm_top_model *m = L->m;
    size_t ndev = devices_shown(L);
    if (!L->bounded) {
        ttm_top_devmode mode = pick_mode(L, ndev, -1);
        devices_title(L, ndev, mode, 0, 0, 0);
        if (ndev == 0)
            put(L, line_new(L), 2, TTM_TOP_A_DIM, "no device has reported yet");
        devices_list(L, mode, -1, 0);
        line_new(L);
        proc_table(L, rows, nrows, -1, 0, false);
        line_new(L);
        diag_table(L);
        transport_lines(L);
        if (m->diag_valid) {
            line_new(L);
            diag_devices(L, -1, 0);
        }
        return;
    }
    int body = L->limit - (int)L->f->nlines;
    int pmin = nrows < 1 ? 1 : nrows > 3 ? 3 : (int)nrows;
    int dev_budget = body - 1 - 1 - (2 + pmin);
    if (dev_budget < 1)
        dev_budget = 1;
    ttm_top_devmode mode = pick_mode(L, ndev, dev_budget);
    int need = dev_rows_needed(L, mode, ndev);
    int per = mode == TTM_TOP_DEV_FULL ? 3 : 1;
    bool dev_scroll = need > dev_budget;
    int visible = dev_budget / per > 0 ? dev_budget / per : 1;
    int entries = mode == TTM_TOP_DEV_GRID ? need : (int)ndev;
    int first = dev_scroll ? clamp_scroll(L, entries, visible) : 0;
    int last = dev_scroll ? (first + visible < entries ? first + visible : entries) : entries;
    devices_title(L, ndev, mode, first, last, entries);
    if (ndev == 0) {
        put(L, line_new(L), 2, TTM_TOP_A_DIM,
            "no device has reported yet: run a program with TTMEM=1, or under "
            "'ttmem record -- CMD'");
    } else if (dev_scroll) {
        devices_list(L, mode, visible * per, first);
    } else {
        devices_list(L, mode, -1, 0);
    }
    int left = L->limit - (int)L->f->nlines - 1; /* the diag line */
    if (dev_scroll) {
        proc_table(L, rows, nrows, left, 0, true);
    } else {
        int pvisible = left - 2;
        int pfirst = clamp_scroll(L, (int)nrows, pvisible < 1 ? 1 : pvisible);
        proc_table(L, rows, nrows, left, pfirst, false);
    }
    /* the diagnosis line sits right above the footer */
    while ((int)L->f->nlines < L->limit - 1 && line_new(L) >= 0) {
    }
    diag_summary(L);
}

static void view_processes(lay *L, ttm_top_row *rows, size_t nrows)
{
    if (!L->bounded) {
        proc_table(L, rows, nrows, -1, 0, false);
        return;
    }
    int left = L->limit - (int)L->f->nlines;
    int first = clamp_scroll(L, (int)nrows, left - 2 < 1 ? 1 : left - 2);
    proc_table(L, rows, nrows, left, first, false);
}

static void view_diagnosis(lay *L)
{
    diag_table(L);
    transport_lines(L);
    if (!L->m->diag_valid)
        return;
    line_new(L);
    if (!L->bounded) {
        diag_devices(L, -1, 0);
        return;
    }
    int left = L->limit - (int)L->f->nlines;
    size_t n = 0;
    while (n < L->ndev && L->m->devices[L->dev[n]].src == TTM_TOP_SRC_DAEMON)
        n++;
    int first = clamp_scroll(L, (int)n, left - 1 < 1 ? 1 : left - 1);
    diag_devices(L, left, first);
}

static void view_history(lay *L)
{
    if (!L->bounded) {
        history_view(L, -1, 0);
        return;
    }
    int left = L->limit - (int)L->f->nlines;
    size_t n = devices_shown(L);
    bool two = (int)n * 2 <= left - 2;
    int visible = (left - 2) / (two ? 2 : 1);
    int first = clamp_scroll(L, (int)n, visible < 1 ? 1 : visible);
    history_view(L, left, first);
}

/* ---- entry points -------------------------------------------------------------------------- */

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
    lay L = {m, st, f, width, height > 0 ? height : INT_MAX, height > 0, width >= 120};

    if (width < TTM_TOP_MIN_WIDTH || (height > 0 && height < TTM_TOP_MIN_HEIGHT)) {
        f->too_small = true;
        int line = line_new(&L);
        putf(&L, line, 0, TTM_TOP_A_WARN, "terminal %dx%d is too small: ttmem top needs %dx%d",
             width, height, TTM_TOP_MIN_WIDTH, TTM_TOP_MIN_HEIGHT);
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
    size_t nrows = m->nprocs ? ttm__top_proc_rows(m, st, f->rows) : 0;
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
        if (dev_shown(&L, &m->devices[i]))
            f->devs[L.ndev++] = i;
    L.dev = f->devs;

    if (L.bounded && !st->plain)
        L.limit = height - 1; /* the footer's line */
    header(&L);
    if (st->help)
        help_body(&L);
    else if (ttm__top_model_empty(m))
        nothing_body(&L);
    else {
        switch (st->view) {
        case TTM_TOP_VIEW_PROCESSES:
            view_processes(&L, f->rows, nrows);
            break;
        case TTM_TOP_VIEW_DIAGNOSIS:
            view_diagnosis(&L);
            break;
        case TTM_TOP_VIEW_HISTORY:
            view_history(&L);
            break;
        default:
            view_devices(&L, f->rows, nrows);
            break;
        }
    }
    if (L.bounded) {
        while (line_new(&L) >= 0) {
        }
        if (!st->plain) {
            L.limit = height;
            footer(&L);
        }
    }
    if (f->err != TTM_OK) {
        f->nlines = f->nspans = 0;
        return f->err;
    }
    return TTM_OK;
}

/* ---- keys ---------------------------------------------------------------------------------- */

/* The next device id after the filtered one among the model's rows (all: the first), or "all"
 * after the last. */
static void next_device(ttm_top_state *st, const ttm_top_model *m)
{
    bool found = false;
    uint32_t best = 0;
    for (size_t i = 0; i < m->ndevices; i++) {
        uint32_t id = m->devices[i].device;
        if (st->filter && id <= st->filter_device)
            continue;
        if (!found || id < best) {
            best = id;
            found = true;
        }
    }
    st->filter = found;
    st->filter_device = found ? best : 0;
}

ttm_top_action ttm__top_state_key(ttm_top_state *st, const ttm_top_model *m, int key,
                                  uint64_t now_ns, int page)
{
    if (page < 1)
        page = 1;
    if (key < 0)
        return TTM_TOP_ACT_NONE;
    if (key == TTM_TOP_KEY_RESIZE)
        return TTM_TOP_ACT_REDRAW;
    if (key == 'q' || key == 'Q')
        return TTM_TOP_ACT_QUIT;
    bool digit = key >= '0' && key <= '9';
    if (!digit)
        st->typing = false;
    if (st->help) { /* any key closes the help */
        st->help = false;
        return TTM_TOP_ACT_REDRAW;
    }
    switch (key) {
    case 'h':
    case '?':
        st->help = true;
        break;
    case 'v':
    case '\t':
        st->view = (ttm_top_view)((st->view + 1) % TTM_TOP_VIEW__COUNT);
        st->scroll = 0;
        break;
    case TTM_TOP_KEY_BTAB:
        st->view = (ttm_top_view)((st->view + TTM_TOP_VIEW__COUNT - 1) % TTM_TOP_VIEW__COUNT);
        st->scroll = 0;
        break;
    case 's':
    case '>':
        ttm__top_state_sort(st, (ttm_top_col)((st->sort + 1) % TTM_TOP_COL__COUNT));
        break;
    case '<':
        ttm__top_state_sort(st,
                            (ttm_top_col)((st->sort + TTM_TOP_COL__COUNT - 1) % TTM_TOP_COL__COUNT));
        break;
    case 'r':
        st->ascending = !st->ascending;
        break;
    case 'd':
        next_device(st, m);
        st->scroll = 0;
        break;
    case 'a':
        st->filter = false;
        st->scroll = 0;
        break;
    case 'c':
        st->devmode = (ttm_top_devmode)((st->devmode + 1) % TTM_TOP_DEV__COUNT);
        break;
    case 'p':
    case ' ':
        st->paused = !st->paused;
        return st->paused ? TTM_TOP_ACT_REDRAW : TTM_TOP_ACT_REFRESH;
    case TTM_TOP_KEY_UP:
        st->scroll = st->scroll > 0 ? st->scroll - 1 : 0;
        break;
    case TTM_TOP_KEY_DOWN:
        st->scroll = st->scroll < INT_MAX - 1 ? st->scroll + 1 : st->scroll;
        break;
    case TTM_TOP_KEY_PGUP:
        st->scroll = st->scroll > page ? st->scroll - page : 0;
        break;
    case TTM_TOP_KEY_PGDN:
        st->scroll = st->scroll < INT_MAX - page ? st->scroll + page : st->scroll;
        break;
    case TTM_TOP_KEY_HOME:
        st->scroll = 0;
        break;
    case TTM_TOP_KEY_END:
        st->scroll = INT_MAX / 2; /* the layout clamps it */
        break;
    default:
        if (!digit)
            return TTM_TOP_ACT_NONE;
        {
            uint32_t dgt = (uint32_t)(key - '0');
            bool join = st->typing && now_ns >= st->typed_ns &&
                        now_ns - st->typed_ns < TTM_TOP_TYPING_NS && st->typed < 10000;
            st->typed = join ? st->typed * 10 + dgt : dgt;
            st->typing = true;
            st->typed_ns = now_ns;
            st->filter = true;
            st->filter_device = st->typed;
            st->scroll = 0;
        }
        break;
    }
    return TTM_TOP_ACT_REDRAW;
}
