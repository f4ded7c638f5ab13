/*
 * top_help.c — the help screen of `ttmem top` (h or ?): a line per section of the key table
 * (top_keys.c), each row's keys and help, then how to read the screen. At most 13 lines of at
 * most 70 columns, so that it fits the smallest terminal (TTM_TOP_MIN_WIDTH x
 * TTM_TOP_MIN_HEIGHT, less the header and the footer).
 */
#include "cli/top_parts.h"

/* How to read the screen: the bars' members, the colours, the process states, N/A, STALE. */
static const char *const reading[] = {
    "  DRAM = DRAM(#)+TRACE(t)   L1 = L1(#)+L1_SMALL(s)+CB(c)+KERNEL(k)",
    "  green below 75% of capacity, yellow from 75%, red from 90%",
    "  S: R running, r no session, X exited, C TT-Metal counters, G ghost",
    "  N/A: the source lacks it (TT-Metal: capacity, peak, anomalies)",
    "  STALE: ttmemd stopped answering; last frame kept, retrying",
};

void ttm__top_help(ttm_top_lay *L)
{
    char text[256];
    for (unsigned s = 0; s < TTM_TOP_KEYSEC__COUNT; s++) {
        int line = ttm__top_line(L);
        /* the first section's line carries the title */
        int col = s == 0 ? ttm__top_put(L, line, 0, TTM_TOP_A_TITLE, "KEYS") + 2 : 2;
        ttm__top_put(L, line, col, TTM_TOP_A_NORMAL,
                     ttm__top_keys_line((ttm_top_keysec)s, text, sizeof text));
    }
    ttm__top_put(L, ttm__top_line(L), 0, TTM_TOP_A_TITLE, "READING IT");
    for (size_t i = 0; i < sizeof reading / sizeof reading[0]; i++)
        ttm__top_put(L, ttm__top_line(L), 0, TTM_TOP_A_NORMAL, reading[i]);
}
