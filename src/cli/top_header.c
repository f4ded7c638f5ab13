/*
 * top_header.c — the lines around a view of `ttmem top`: the title bar (host, the daemon's
 * version, pid and uptime, the refresh; PAUSED and STALE flags at the right), the sources line
 * (ttmemd and its clients, or why it is lost; the TT-Metal regions, ghosts, unreadable ones),
 * the key-hint footer, and the body shown when there is nothing to monitor.
 */
#include <stdio.h>
#include <string.h>

#include "cli/top_parts.h"

void ttm__top_header(ttm_top_lay *L)
{
    const ttm_top_model *m = L->m;
    const ttm_top_state *st = L->st;
    char a[TTM_FMT_LEN], b[TTM_FMT_LEN];
    int line = ttm__top_line(L);
    ttm__top_span(L, line, 0, L->w, TTM_TOP_A_HEADER);
    int col = ttm__top_putf(L, line, 0, TTM_TOP_A_HEADER, " ttmem top  host %s", m->host);
    if (m->dstate != TTM_TOP_DAEMON_NONE && (m->snap.sections & TTM_SNAP_BIT(TTM_SNAP_SEC_DAEMON)))
        col = ttm__top_putf(
            L, line, col, TTM_TOP_A_HEADER, "  ttmemd %.16s pid %u up %s", m->snap.daemon.version,
            m->snap.daemon.pid,
            ttm__top_fmt_age(a, m->snap.daemon.uptime_ns)); /* as of its last answer */
    else if (m->dstate == TTM_TOP_DAEMON_NONE)
        col = ttm__top_put(L, line, col, TTM_TOP_A_HEADER, "  ttmemd not running");
    if (!st->plain)
        ttm__top_putf(L, line, col, TTM_TOP_A_HEADER, "  refresh %.1fs", st->refresh_ms / 1000.0);
    /* flags at the right */
    char flags[96] = "";
    size_t fl = 0;
    int stale_at = -1, stale_len = 0;
    if (m->dstate == TTM_TOP_DAEMON_STALE) {
        stale_at = (int)fl;
        int n = snprintf(
            flags + fl, sizeof flags - fl, "STALE %s ",
            ttm__top_fmt_age(b, m->now_ns >= m->last_ok_ns ? m->now_ns - m->last_ok_ns : 0));
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
        ttm__top_put(L, line, x, TTM_TOP_A_HEADER, flags);
        if (stale_at >= 0)
            ttm__top_span(L, line, x + stale_at, stale_len, TTM_TOP_A_STALE);
        if (paused_at >= 0)
            ttm__top_span(L, line, x + paused_at, 6, TTM_TOP_A_WARN);
    }

    /* sources: what each one is first, where it is last (a long path is what gets cut) */
    line = ttm__top_line(L);
    col = ttm__top_put(L, line, 0, TTM_TOP_A_DIM, "sources: ");
    switch (m->dstate) {
    case TTM_TOP_DAEMON_OK:
        col = ttm__top_put(L, line, col, TTM_TOP_A_NORMAL, "ttmemd");
        if (m->snap.sections & TTM_SNAP_BIT(TTM_SNAP_SEC_DAEMON))
            col = ttm__top_putf(L, line, col, TTM_TOP_A_NORMAL, " (%u client%s)",
                                m->snap.daemon.clients_connected,
                                m->snap.daemon.clients_connected == 1 ? "" : "s");
        col = ttm__top_putf(L, line, col, TTM_TOP_A_DIM, " at %s", m->socket_path);
        break;
    case TTM_TOP_DAEMON_STALE:
        col = ttm__top_putf(
            L, line, col, TTM_TOP_A_STALE, "ttmemd lost %s ago (%s): last frame kept, retrying",
            ttm__top_fmt_age(a, m->now_ns >= m->last_ok_ns ? m->now_ns - m->last_ok_ns : 0),
            m->daemon_err);
        col = ttm__top_putf(L, line, col, TTM_TOP_A_DIM, " at %s", m->socket_path);
        break;
    default:
        col = ttm__top_putf(L, line, col, TTM_TOP_A_DIM, "no ttmemd at %s", m->socket_path);
        break;
    }
    col = ttm__top_put(L, line, col, TTM_TOP_A_DIM, "; ");
    if (m->nregions_ok > 0) {
        col =
            ttm__top_putf(L, line, col, TTM_TOP_A_SHM, "%zu TT-Metal shm region%s (counters only)",
                          m->nregions_ok, m->nregions_ok == 1 ? "" : "s");
        col = ttm__top_putf(L, line, col, TTM_TOP_A_DIM, " in %s", m->shm_dir);
    } else {
        col = ttm__top_putf(L, line, col, TTM_TOP_A_DIM, "TT-Metal shm: none in %s", m->shm_dir);
    }
    if (m->nregions_ghosts > 0)
        col = ttm__top_putf(L, line, col, TTM_TOP_A_WARN, ", %zu ghost slot%s", m->nregions_ghosts,
                            m->nregions_ghosts == 1 ? "" : "s");
    if (m->nregions_bad > 0)
        col = ttm__top_putf(L, line, col, TTM_TOP_A_WARN, ", %zu unreadable (%s)", m->nregions_bad,
                            m->shm_err);
}

void ttm__top_footer(ttm_top_lay *L)
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
    typedef struct {
        const char *key, *what;
    } hint;
    const hint view_items[] = {
        {"h", "help"},
        {"v", text[0]},
        {"s<>", text[1]},
        {"d0-9", text[2]},
        {"c", text[3]},
        {"p", st->paused ? "resume" : "pause"},
        {"x", st->show_exited ? "hide exited" : "show exited"},
    };
    const hint proc_items[] = {
        {"h", "help"},
        {"Esc", "back"},
        {"Up/Down", "scroll"},
        {"p", st->paused ? "resume" : "pause"},
    };
    const hint *items = st->proc_open ? proc_items : view_items;
    size_t nitems = st->proc_open ? sizeof proc_items / sizeof proc_items[0]
                                  : sizeof view_items / sizeof view_items[0];
    int line = ttm__top_line(L);
    int col = 0;
    int quit_at = L->w - 7; /* " q quit" sits at the right edge */
    for (size_t i = 0; i < nitems; i++) {
        int need = 1 + (int)strlen(items[i].key) + 1 + (int)strlen(items[i].what);
        if (col + need > quit_at)
            break;
        col = ttm__top_put(L, line, col + 1, TTM_TOP_A_KEY, items[i].key);
        col = ttm__top_put(L, line, col + 1, TTM_TOP_A_NORMAL, items[i].what) + 1;
    }
    ttm__top_put(L, line, quit_at + 1, TTM_TOP_A_KEY, "q");
    ttm__top_put(L, line, quit_at + 3, TTM_TOP_A_NORMAL, "quit");
}

void ttm__top_nothing(ttm_top_lay *L)
{
    const ttm_top_model *m = L->m;
    char text[1024];
    ttm__top_line(L);
    snprintf(text, sizeof text,
             "Nothing to monitor: ttmemd %s at %s (%s) and there are no TT-Metal regions in %s.",
             m->daemon_code == TTM_OK || m->daemon_code == TTM_ECONN ? "is not running"
                                                                     : "does not answer",
             m->socket_path, m->daemon_err[0] ? m->daemon_err : "no answer", m->shm_dir);
    ttm__top_wrap(L, 2, TTM_TOP_A_WARN, text);
    ttm__top_line(L);
    ttm__top_wrap(L, 2, TTM_TOP_A_NORMAL,
                  "Start 'ttmemd' (programs linked with libttmem report to it when TTMEM=1), or "
                  "run your program under 'ttmem record -- CMD'. TT-Metal's own shared-memory "
                  "counters appear here by themselves unless TT_METAL_SHM_TRACKING_DISABLED=1.");
    ttm__top_line(L);
    ttm__top_wrap(L, 2, TTM_TOP_A_DIM, "ttmem top keeps looking at every refresh.");
}
