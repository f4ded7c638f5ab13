/*
 * top_proc.c — the process view of `ttmem top` (Enter on a selected process): who the process
 * is (pid, name, state, command line), its counters (events, dropped, anomalies, leaks), its
 * bytes on each device by memtype, and its live allocation sites by bytes.
 */
#include <stdio.h>
#include <string.h>

#include "cli/top_parts.h"

static const char *pv_state(const ttm_top_proc *p)
{
    if (p->src == TTM_TOP_SRC_SHM)
        return p->alive ? "C  TT-Metal counters only" : "G  ghost: killed while holding counters";
    if (!p->alive)
        return "X  exited";
    return p->connected ? "R  running" : "r  running without a session";
}

#define PV_NMEM 6 /* the memtypes the table shows, in the process table's order */
static const unsigned pv_mem_order[PV_NMEM] = {TTM_MEM_DRAM,  TTM_MEM_L1, TTM_MEM_L1_SMALL,
                                               TTM_MEM_TRACE, TTM_MEM_CB, TTM_MEM_KERNEL};
static const char *const pv_mem_head[PV_NMEM] = {"DRAM", "L1", "L1SML", "TRACE", "CB", "KERNL"};

/* One line of the device table: label, the bytes per memtype and their sum. */
static void pv_dev_line(ttm_top_lay *L, const char *label, const uint64_t bytes[TTM_MEMTYPE_COUNT],
                        uint32_t valid)
{
    char buf[TTM_FMT_LEN];
    int line = ttm__top_line(L);
    int bw = L->wide ? 10 : 6;
    ttm__top_putr(L, line, 0, 5, TTM_TOP_A_NORMAL, label);
    uint64_t sum = 0;
    for (unsigned i = 0; i < PV_NMEM; i++) {
        unsigned t = pv_mem_order[i];
        int x = 6 + (int)i * (bw + 1);
        if (valid & TTM_TOP_V_MEM(t)) {
            ttm__top_putr(L, line, x, bw, bytes[t] ? TTM_TOP_A_NORMAL : TTM_TOP_A_DIM,
                          ttm__top_fmt_size(L, buf, bytes[t]));
            sum += bytes[t];
        } else {
            ttm__top_putr(L, line, x, bw, TTM_TOP_A_NA, "N/A");
        }
    }
    ttm__top_putr(L, line, 6 + PV_NMEM * (bw + 1), bw, TTM_TOP_A_NORMAL,
                  ttm__top_fmt_size(L, buf, sum));
}

static void pv_devices(ttm_top_lay *L, const ttm_top_proc *p)
{
    const ttm_top_model *m = L->m;
    int line = ttm__top_line(L);
    ttm__top_putf(L, line, 0, TTM_TOP_A_TITLE, "BYTES BY DEVICE  %zu device%s", p->ndevs,
                  p->ndevs == 1 ? "" : "s");
    if (p->ndevs == 0) {
        ttm__top_put(L, ttm__top_line(L), 2, TTM_TOP_A_DIM, "no bytes on any device");
        return;
    }
    int bw = L->wide ? 10 : 6;
    line = ttm__top_line(L);
    ttm__top_span(L, line, 0, L->w, TTM_TOP_A_TITLE);
    ttm__top_putr(L, line, 0, 5, TTM_TOP_A_TITLE, "DEV");
    for (unsigned i = 0; i < PV_NMEM; i++)
        ttm__top_putr(L, line, 6 + (int)i * (bw + 1), bw, TTM_TOP_A_TITLE, pv_mem_head[i]);
    ttm__top_putr(L, line, 6 + PV_NMEM * (bw + 1), bw, TTM_TOP_A_TITLE, "TOTAL");
    uint64_t all[TTM_MEMTYPE_COUNT] = {0};
    char label[TTM_FMT_LEN];
    for (size_t k = 0; k < p->ndevs; k++) {
        const ttm_top_pdev *pd = &m->pdevs[p->first_dev + k];
        snprintf(label, sizeof label, p->src == TTM_TOP_SRC_SHM ? "s%u" : "%u", pd->device);
        pv_dev_line(L, label, pd->bytes, p->valid);
        for (unsigned t = 0; t < TTM_MEMTYPE_COUNT; t++)
            all[t] += pd->bytes[t];
    }
    if (p->ndevs > 1)
        pv_dev_line(L, "all", all, p->valid);
}

/* The memtypes of a site, largest first, joined by '+' ("DRAM", "DRAM+L1"). */
static void pv_mix(const ttm_proc_site *ps, char *buf, size_t len)
{
    unsigned order[TTM_MEMTYPE_COUNT], n = 0;
    for (unsigned t = 0; t < TTM_MEMTYPE_COUNT; t++) {
        if (ps->mem_bytes[t] == 0)
            continue;
        unsigned j = n++;
        for (; j > 0 && ps->mem_bytes[order[j - 1]] < ps->mem_bytes[t]; j--)
            order[j] = order[j - 1];
        order[j] = t;
    }
    size_t o = 0;
    buf[0] = '\0';
    for (unsigned i = 0; i < n && o + 1 < len; i++) {
        int w = snprintf(buf + o, len - o, "%s%s", i ? "+" : "", ttm__memtype_name(order[i]));
        if (w < 0)
            break;
        o += (size_t)w;
    }
    if (n == 0)
        snprintf(buf, len, "-");
}

/* The process's live allocation sites (snap.proc_sites of its pid, largest first): bytes,
 * buffers, share of the process's bytes, memtypes, the innermost frame and its callers. In a
 * bounded frame the list starts at st->scroll (clamped into f->scroll, f->scroll_max). */
static void pv_sites(ttm_top_lay *L, const ttm_top_proc *p)
{
    const ttm_top_model *m = L->m;
    const ttm_report *s = &m->snap;
    int line = ttm__top_line(L);
    int col = ttm__top_put(L, line, 0, TTM_TOP_A_TITLE, "LIVE ALLOCATION SITES");
    if (p->src == TTM_TOP_SRC_SHM) {
        ttm__top_put(L, line, col + 2, TTM_TOP_A_NA, "N/A: TT-Metal's regions have no call sites");
        return;
    }
    if (m->dstate == TTM_TOP_DAEMON_NONE || !(s->sections & TTM_SNAP_BIT(TTM_SNAP_SEC_PROCSITES))) {
        ttm__top_wrap(L, 2, TTM_TOP_A_DIM,
                      "waiting for the daemon's call sites of this process (asked for while "
                      "this view is shown; an older ttmemd does not send them)");
        return;
    }
    size_t first = 0, n = 0;
    while (first < s->nproc_sites && s->proc_sites[first].pid < p->pid)
        first++;
    while (first + n < s->nproc_sites && s->proc_sites[first + n].pid == p->pid)
        n++;
    const ttm_proc_site *sites = &s->proc_sites[first];
    ttm__top_putf(L, line, col, TTM_TOP_A_TITLE,
                  "  %zu site%s of pid %u, bytes by allocation stack", n, n == 1 ? "" : "s",
                  p->pid);
    if (n == 0) {
        ttm__top_wrap(L, 2, TTM_TOP_A_DIM, "no live buffers");
        return;
    }
    uint64_t total = 0;
    for (size_t k = 0; k < p->ndevs; k++)
        for (unsigned t = 0; t < TTM_MEMTYPE_COUNT; t++)
            total += m->pdevs[p->first_dev + k].bytes[t];
    int start = 0;
    if (L->bounded) {
        int left = L->limit - (int)L->f->nlines - 1;
        int visible = left / (int)TTM_TOP_SITE_FRAMES;
        visible = visible < 1 ? 1 : visible;
        int max = (int)n - visible > 0 ? (int)n - visible : 0;
        start = L->st->scroll < 0 ? 0 : L->st->scroll > max ? max : L->st->scroll;
        L->f->scroll = start;
        L->f->scroll_max = max;
    }
    line = ttm__top_line(L);
    ttm__top_span(L, line, 0, L->w, TTM_TOP_A_TITLE);
    ttm__top_putr(L, line, 0, 10, TTM_TOP_A_TITLE, "bytes");
    ttm__top_putr(L, line, 11, 8, TTM_TOP_A_TITLE, "buffers");
    ttm__top_putr(L, line, 20, 6, TTM_TOP_A_TITLE, "share");
    ttm__top_put(L, line, 28, TTM_TOP_A_TITLE, "memtypes");
    ttm__top_put(L, line, 43, TTM_TOP_A_TITLE, "allocated at");
    char a[TTM_FMT_LEN], b[TTM_FMT_LEN], mix[64];
    for (size_t i = (size_t)start; i < n; i++) {
        const ttm_proc_site *ps = &sites[i];
        line = ttm__top_line(L);
        if (line < 0)
            break;
        ttm__top_putr(L, line, 0, 10, TTM_TOP_A_NORMAL, ttm__top_fmt_size(L, a, ps->bytes));
        ttm__top_putr(L, line, 11, 8, TTM_TOP_A_NORMAL, ttm__top_fmt_num(b, ps->count));
        if (total > 0)
            ttm__top_putr(L, line, 20, 6, TTM_TOP_A_NORMAL,
                          ttm__top_fmt_pct(a, ps->bytes < total ? ps->bytes : total, total, true));
        else
            ttm__top_putr(L, line, 20, 6, TTM_TOP_A_NA, "N/A");
        pv_mix(ps, mix, sizeof mix);
        ttm__top_putl(L, line, 28, 14, TTM_TOP_A_NORMAL, mix);
        ttm__top_site_frames(L, line, 43, ps->stack);
    }
}

void ttm__top_proc_view(ttm_top_lay *L)
{
    const ttm_top_model *m = L->m;
    const ttm_top_state *st = L->st;
    const ttm_top_proc *p = ttm__top_proc_find(m, st->proc_src, st->proc_pid);
    char a[TTM_FMT_LEN], b[TTM_FMT_LEN];
    int line = ttm__top_line(L);
    int col = ttm__top_putf(L, line, 0, TTM_TOP_A_TITLE, "PROCESS %u", st->proc_pid);
    if (p == NULL) {
        ttm__top_wrap(L, 2, TTM_TOP_A_WARN,
                      "this process is no longer reported (its rows are gone from the "
                      "daemon and from TT-Metal's regions); Esc goes back");
        return;
    }
    col = ttm__top_put(L, line, col + 2, TTM_TOP_A_TITLE, p->name);
    ttm__top_put(L, line, col + 2, p->alive ? TTM_TOP_A_NORMAL : TTM_TOP_A_DIM, pv_state(p));
    line = ttm__top_line(L);
    ttm__top_put(L, line, 0, TTM_TOP_A_DIM, "command");
    if (p->cmdline != NULL && p->cmdline[0] != '\0')
        ttm__top_wrap_at(L, line, 9, TTM_TOP_A_NORMAL, p->cmdline);
    else
        ttm__top_put(L, line, 9, TTM_TOP_A_NA,
                     p->src == TTM_TOP_SRC_SHM ? "N/A (TT-Metal's regions have no command line)"
                                               : "N/A (the daemon does not know it)");
    line = ttm__top_line(L);
    if (p->valid & TTM_TOP_V_ANOM) {
        col = ttm__top_putf(L, line, 0, TTM_TOP_A_NORMAL, "events %s  dropped %s  anomalies ",
                            ttm__top_fmt_num(a, p->events), ttm__top_fmt_num(b, p->dropped));
        col = ttm__top_put(L, line, col, p->anomalies ? TTM_TOP_A_CRIT : TTM_TOP_A_NORMAL,
                           ttm__top_fmt_num(a, p->anomalies));
        ttm__top_putf(L, line, col, p->leaked_count ? TTM_TOP_A_CRIT : TTM_TOP_A_NORMAL,
                      "  leaked %s (%s)", ttm__top_fmt_num(a, p->leaked_count),
                      ttm__top_fmt_size(L, b, p->leaked_bytes));
    } else {
        ttm__top_put(L, line, 0, TTM_TOP_A_NA,
                     "events, anomalies, leaks N/A: TT-Metal's regions hold byte counters only");
    }
    ttm__top_line(L);
    pv_devices(L, p);
    ttm__top_line(L);
    pv_sites(L, p);
}
