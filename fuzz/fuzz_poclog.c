/*
 * fuzz_poclog.c — the prototype log parser on arbitrary lines: never crashes, and a parsed
 * event always has a valid kind, device and memtype, and no flag but TTM__FLAG_ADDR_DEC.
 */
#include <stdlib.h>
#include <string.h>

#include "common/poclog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t ttm__fuzz_seeds(const uint8_t *const **seeds, const size_t **sizes);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ttm_poclog_stats st;
    memset(&st, 0, sizeof st);
    uint32_t pid;
    ttm_event ev;
    if (ttm__poclog_parse_line((const char *)data, size, &st, &pid, &ev) == TTM_POCLOG_EVENT) {
        if (ev.kind != TTM_EV_ALLOC && ev.kind != TTM_EV_FREE)
            abort();
        if (ev.kind == TTM_EV_ALLOC && !ttm__memtype_valid(ev.memtype))
            abort();
        if ((ev.flags & ~TTM__FLAG_ADDR_DEC) != 0) /* the decimal-address flag and no other */
            abort();
    }
    if (st.lines != 1 || st.events + st.skipped + st.bad != 1)
        abort();
    return 0;
}

#define SEED(s) {(const uint8_t *)(s), sizeof(s) - 1}
static const struct {
    const uint8_t *p;
    size_t n;
} seed_table[] = {
    SEED("\xe2\x9c\x93 [PID 2685613] Allocated 16384 bytes of DRAM on device 0 (buffer_id=328467008)"),
    SEED("\xe2\x9c\x93 [PID 1] Allocated 16384 bytes of L1_SMALL on device 0 (buffer_id=0x10, ref_count=2)"),
    SEED("\xe2\x9c\x97 [PID 1691149] Freed buffer 3700768 on device 0 (1048576 bytes, ref_count=1 remaining)"),
    SEED("\xe2\x9c\x97 [PID 1691149] Freed buffer 3700768 on device 0 (1048576 bytes, FINAL)"),
    SEED("\xe2\x9a\xa0 [PID 1714322] Deallocation for unknown buffer 694960736 on device 4 (allocated before tracking started)"),
};
#define NFORMATTED 4
#define NSEEDS (sizeof seed_table / sizeof seed_table[0] + NFORMATTED)
static char seed_lines[NFORMATTED][256];
static const uint8_t *seed_ptrs[NSEEDS];
static size_t seed_lens[NSEEDS];

/* The lines above are the prototype's own output; these come from ttmemd's formatters. */
size_t ttm__fuzz_seeds(const uint8_t *const **seeds, const size_t **sizes)
{
    size_t n = sizeof seed_table / sizeof seed_table[0];
    for (size_t i = 0; i < n; i++) {
        seed_ptrs[i] = seed_table[i].p;
        seed_lens[i] = seed_table[i].n;
    }
    int len[NFORMATTED];
    len[0] = ttm__poclog_format_alloc(seed_lines[0], sizeof seed_lines[0], 4242, 1u << 20,
                                      TTM_MEM_L1, 3, 0x1c0000, 1);
    len[1] = ttm__poclog_format_alloc(seed_lines[1], sizeof seed_lines[1], 4242, 65536,
                                      TTM_MEM_TRACE, 0, 0x10, 3);
    len[2] = ttm__poclog_format_freed(seed_lines[2], sizeof seed_lines[2], 4242, 0x1c0000, 3,
                                      1u << 20, 0);
    len[3] = ttm__poclog_format_unknown(seed_lines[3], sizeof seed_lines[3], 4242, 77, 1);
    for (size_t i = 0; i < NFORMATTED; i++) {
        if (len[i] <= 0 || (size_t)len[i] >= sizeof seed_lines[i])
            abort();
        seed_ptrs[n + i] = (const uint8_t *)seed_lines[i];
        seed_lens[n + i] = (size_t)len[i];
    }
    *seeds = seed_ptrs;
    *sizes = seed_lens;
    return NSEEDS;
}
