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
static const unsigned pv_mem_order[PV_NMEM] = {TTM_MEM_DRAM,  TTM_MEM_L1,
                                                      TTM_MEM_L1_SMALL, TTM_MEM_TRACE,
                                                      TTM_MEM_CB,    TTM_MEM_KERNEL};
static const char *const pv_mem_head[PV_NMEM] = {"DRAM",  "L1", "L1SML",
                                                        "TRACE", "CB", "KERNL"};

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
}
