/*
 * top_sites.c — the sites view of `ttmem top`: the daemon's live owning buffers grouped by
 * allocation stack, largest first (heaptrack's "top allocations"), each with its innermost
 * frame and callers as the model symbolized them once (top_model.c).
 */
#include <stdio.h>

#include "cli/top_parts.h"

void ttm__top_site_frames(ttm_top_lay *L, int line, int col, uint32_t stack)
{
    const ttm_top_site_text *t = ttm__top_model_site(L->m, stack);
    if (t == NULL || t->nframes == 0) {
        ttm__top_put(L, line, col, TTM_TOP_A_DIM,
                     stack == 0 ? "(no call stack: the process runs without TTMEM_STACKS)"
                                : "(stack not in the snapshot)");
        return;
    }
    ttm__top_put(L, line, col, TTM_TOP_A_NORMAL, t->frames[0]);
    for (unsigned k = 1; k < t->nframes; k++) {
        int l2 = ttm__top_line(L);
        ttm__top_put(L, l2, col + 2, TTM_TOP_A_DIM, "<- ");
        ttm__top_put(L, l2, col + 5, TTM_TOP_A_DIM, t->frames[k]);
    }
}

int ttm__top_sites(ttm_top_lay *L, int rows, int first)
{
    const ttm_top_model *m = L->m;
    const ttm_report *s = &m->snap;
    int limit = L->limit;
    if (rows >= 0 && (int)L->f->nlines + rows < limit)
        L->limit = (int)L->f->nlines + rows;
    int n = (int)s->nlive_sites;
    char a[TTM_FMT_LEN], b[TTM_FMT_LEN];
    int line = ttm__top_line(L);
    int col = ttm__top_put(L, line, 0, TTM_TOP_A_TITLE, "LIVE ALLOCATION SITES");
    if (m->dstate == TTM_TOP_DAEMON_NONE || !(s->sections & TTM_SNAP_BIT(TTM_SNAP_SEC_STACKS))) {
        ttm__top_wrap(L, 2, TTM_TOP_A_DIM,
                      m->dstate == TTM_TOP_DAEMON_NONE
                          ? "no daemon: the sites come from ttmemd"
                          : "waiting for the daemon's call sites (they are fetched while this "
                            "view is shown)");
        L->limit = limit;
        return 0;
    }
    ttm__top_putf(L, line, col, TTM_TOP_A_TITLE, "  %d site%s, bytes by allocation stack%s", n,
                  n == 1 ? "" : "s",
                  n > 0 && first > 0 ? " (scrolled)" : "");
    if (n == 0 || (n == 1 && s->live_sites[0].stack == 0 && s->live_sites[0].count == 0)) {
        ttm__top_wrap(L, 2, TTM_TOP_A_DIM, "no live buffers");
        L->limit = limit;
        return n;
    }
    line = ttm__top_line(L);
    ttm__top_putr(L, line, 0, 10, TTM_TOP_A_TITLE, "bytes");
    ttm__top_putr(L, line, 11, 8, TTM_TOP_A_TITLE, "buffers");
    ttm__top_put(L, line, 21, TTM_TOP_A_TITLE, "allocated at");
    for (int i = first < 0 ? 0 : first; i < n; i++) {
        const ttm_live_site *ls = &s->live_sites[i];
        line = ttm__top_line(L);
        if (line < 0)
            break;
        ttm__top_putr(L, line, 0, 10, TTM_TOP_A_NORMAL, ttm__top_fmt_size(L, a, ls->bytes));
        ttm__top_putr(L, line, 11, 8, TTM_TOP_A_NORMAL, ttm__top_fmt_num(b, ls->count));
        ttm__top_site_frames(L, line, 21, ls->stack);
    }
    L->limit = limit;
    return n;
}
