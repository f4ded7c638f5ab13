/*
 * sites_cxx_main.cpp — the C++ call-site test program (tests/cli/stacks.sh): a leak, a double
 * free and an unknown free from a function template of its own (one instance per outcome),
 * and the same three from the C++ shared library (sites_cxx_lib.cpp). Exits 0 when every call
 * was reported.
 */
#include <cstdio>

#include "sites_cxx.h"

namespace ttsite {

enum Outcome { LEAK, DOUBLE, UNKNOWN };

template <Outcome O> SITES_NOINLINE int main_site(uint64_t base);

template <> SITES_NOINLINE int main_site<LEAK>(uint64_t base)
{
    int rc = ttm_buffer_alloc(0, TTM_MEM_DRAM, base + SITES_LEAK, SITES_LEAK_SIZE, 0, 0); /* SITE:cxx_main_leak */
    return rc != 0;
}

template <> SITES_NOINLINE int main_site<DOUBLE>(uint64_t base)
{
    uint64_t addr = base + SITES_DOUBLE;
    int bad = ttm_buffer_alloc(0, TTM_MEM_DRAM, addr, SITES_DOUBLE_SIZE, addr, 0) != 0;
    bad += ttm_buffer_free(0, TTM_MEM_DRAM, addr, SITES_DOUBLE_SIZE, addr, 0) != 0; /* SITE:cxx_main_release */
    bad += ttm_buffer_free(0, TTM_MEM_DRAM, addr, SITES_DOUBLE_SIZE, addr, 0) != 0; /* SITE:cxx_main_double */
    return bad;
}

template <> SITES_NOINLINE int main_site<UNKNOWN>(uint64_t base)
{
    int rc = ttm_buffer_free(0, TTM_MEM_DRAM, base + SITES_UNKNOWN, 0, 0, 0); /* SITE:cxx_main_unknown */
    return rc != 0;
}

} // namespace ttsite

int main()
{
    using namespace ttsite;
    int bad = main_site<LEAK>(SITES_MAIN_BASE);
    bad += main_site<DOUBLE>(SITES_MAIN_BASE);
    bad += main_site<UNKNOWN>(SITES_MAIN_BASE);
    LibPool pool;
    bad += pool.leak(SITES_LIB_BASE);
    bad += pool.double_free(SITES_LIB_BASE);
    bad += pool.unknown_free(SITES_LIB_BASE);
    if (bad)
        std::fprintf(stderr, "ttm_sites_cxx: %d calls were not reported\n", bad);
    return bad ? 1 : 0;
}
