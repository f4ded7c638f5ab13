/*
 * sites_cxx.h — the C++ call-site test program's classes (tests/cli/stacks.sh): member
 * functions in a namespace, so a report must show demangled, qualified names. The library's
 * (sites_cxx_lib.cpp) report at SITES_LIB_BASE, the program's (sites_cxx_main.cpp) at
 * SITES_MAIN_BASE; each returns how many of its calls failed.
 */
#ifndef TTM_TESTS_SITES_CXX_H
#define TTM_TESTS_SITES_CXX_H

#include "sites.h"

namespace ttsite {

struct LibPool {
    SITES_EXPORT int leak(uint64_t base);
    SITES_EXPORT int double_free(uint64_t base);
    SITES_EXPORT int unknown_free(uint64_t base);
};

} // namespace ttsite

#endif /* TTM_TESTS_SITES_CXX_H */
