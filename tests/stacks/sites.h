/*
 * sites.h — what the call-site test programs share (tests/stacks/, checked by
 * tests/cli/stacks*.sh): the device addresses each half reports on, and the functions of the
 * shared library.
 *
 * Every reporting call sits on a line that ends in a marker comment "SITE:<name>"; the tests
 * grep the sources for those markers to know which function and line each finding must name,
 * so no line number is written down anywhere. Each function that reports is noinline and
 * returns how many of its calls failed (a comparison after the call), so the call is never a
 * tail call and its frame is on the stack when libttmem captures it (the programs are also
 * built with -fno-optimize-sibling-calls).
 */
#ifndef TTM_TESTS_SITES_H
#define TTM_TESTS_SITES_H

#include <stdint.h>

#include "ttmem/ttmem.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__clang__)
#define SITES_NOINLINE __attribute__((noinline)) /* clang clones no function */
#else
#define SITES_NOINLINE __attribute__((noinline, noclone))
#endif
#define SITES_EXPORT __attribute__((visibility("default")))

/* Addresses on device 0: the main program's, the shared library's, the dlopen'ed ones. */
#define SITES_MAIN_BASE 0x10000000ull
#define SITES_LIB_BASE 0x20000000ull
#define SITES_DL_A_BASE 0x30000000ull
#define SITES_DL_B_BASE 0x40000000ull
#define SITES_EXEC_BASE 0x50000000ull

/* Offsets of each outcome from a base; sizes of the buffers. A double free's buffer carries its
 * address as its object id (what makes the second free a double free, not an excess one). */
#define SITES_LEAK 0x1000u
#define SITES_DOUBLE 0x2000u
#define SITES_UNKNOWN 0x3000u
#define SITES_LEAK_SIZE 4096u
#define SITES_DOUBLE_SIZE 8192u

/* The shared library (sites_lib.c): the three outcomes at SITES_LIB_BASE; each returns the
 * number of its calls that failed. */
SITES_EXPORT int lib_leak(void);
SITES_EXPORT int lib_double_free(void);
SITES_EXPORT int lib_unknown_free(void);

#ifdef __cplusplus
}
#endif

#endif /* TTM_TESTS_SITES_H */
