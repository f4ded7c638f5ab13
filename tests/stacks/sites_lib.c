/*
 * sites_lib.c — the shared-library half of the call-site test program: a leak, a double free
 * and an unknown free, each from its own function, each call on a line with its SITE marker
 * (sites.h).
 */
#include "sites.h"

SITES_NOINLINE int lib_leak(void)
{
    int rc = ttm_buffer_alloc(0, TTM_MEM_DRAM, SITES_LIB_BASE + SITES_LEAK, SITES_LEAK_SIZE, 0, 0); /* SITE:lib_leak */
    return rc != 0;
}

SITES_NOINLINE int lib_double_free(void)
{
    uint64_t addr = SITES_LIB_BASE + SITES_DOUBLE;
    int bad = ttm_buffer_alloc(0, TTM_MEM_DRAM, addr, SITES_DOUBLE_SIZE, addr, 0) != 0;
    bad += ttm_buffer_free(0, TTM_MEM_DRAM, addr, SITES_DOUBLE_SIZE, addr, 0) != 0; /* SITE:lib_release */
    bad += ttm_buffer_free(0, TTM_MEM_DRAM, addr, SITES_DOUBLE_SIZE, addr, 0) != 0; /* SITE:lib_double */
    return bad;
}

SITES_NOINLINE int lib_unknown_free(void)
{
    int rc = ttm_buffer_free(0, TTM_MEM_DRAM, SITES_LIB_BASE + SITES_UNKNOWN, 0, 0, 0); /* SITE:lib_unknown */
    return rc != 0;
}
