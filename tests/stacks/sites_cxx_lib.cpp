/*
 * sites_cxx_lib.cpp — the shared-library half of the C++ call-site test program: the three
 * outcomes from member functions of ttsite::LibPool, each call on a line with its SITE marker.
 */
#include "sites_cxx.h"

namespace ttsite {

SITES_NOINLINE int LibPool::leak(uint64_t base)
{
    int rc = ttm_buffer_alloc(0, TTM_MEM_DRAM, base + SITES_LEAK, SITES_LEAK_SIZE, 0, 0); /* SITE:cxx_lib_leak */
    return rc != 0;
}

SITES_NOINLINE int LibPool::double_free(uint64_t base)
{
    uint64_t addr = base + SITES_DOUBLE;
    int bad = ttm_buffer_alloc(0, TTM_MEM_DRAM, addr, SITES_DOUBLE_SIZE, addr, 0) != 0;
    bad += ttm_buffer_free(0, TTM_MEM_DRAM, addr, SITES_DOUBLE_SIZE, addr, 0) != 0; /* SITE:cxx_lib_release */
    bad += ttm_buffer_free(0, TTM_MEM_DRAM, addr, SITES_DOUBLE_SIZE, addr, 0) != 0; /* SITE:cxx_lib_double */
    return bad;
}

SITES_NOINLINE int LibPool::unknown_free(uint64_t base)
{
    int rc = ttm_buffer_free(0, TTM_MEM_DRAM, base + SITES_UNKNOWN, 0, 0, 0); /* SITE:cxx_lib_unknown */
    return rc != 0;
}

} // namespace ttsite
