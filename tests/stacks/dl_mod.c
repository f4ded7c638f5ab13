/*
 * dl_mod.c — a module the dlopen test program (sites_dl.c) loads, reports from and unloads;
 * built twice, as libttm_dl_a.so and libttm_dl_b.so (SITES_DL = a or b), so that two files
 * with their own build-ids and function names are mapped in turn, most likely at the same
 * address: a report must name each leak after the module that was mapped when it happened.
 */
#include "sites.h"

#define SITES_CAT2(a, b) a##b
#define SITES_CAT(a, b) SITES_CAT2(a, b)
#define SITES_DL_FN SITES_CAT(dl_leak_, SITES_DL)

/* dl_leak_a / dl_leak_b: one leak at base. Returns the calls that failed. */
SITES_EXPORT SITES_NOINLINE int SITES_DL_FN(uint64_t base);

SITES_EXPORT SITES_NOINLINE int SITES_DL_FN(uint64_t base)
{
    int rc = ttm_buffer_alloc(0, TTM_MEM_DRAM, base + SITES_LEAK, SITES_LEAK_SIZE, 0, 0); /* SITE:dl_leak */
    return rc != 0;
}
