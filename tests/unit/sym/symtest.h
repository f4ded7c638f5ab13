/*
 * symtest.h — the functions test_sym symbolizes: each returns a return address taken inside
 * itself (the address after its call of symt_grab) and stores the source line of that call,
 * so the test knows the right answer without hard-coding it.
 *
 * symlib.c and symlib_cxx.cpp make libsymtest.so (and its copies, see CMakeLists.txt here);
 * symexe.c is linked into test_sym itself.
 */
#ifndef TTM_TESTS_SYMTEST_H
#define TTM_TESTS_SYMTEST_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The caller's return address (the address right after the call). */
uintptr_t symt_grab(void);

/* An exported C function. */
uintptr_t symt_c_leaf(unsigned *line);
/* A static C function (in .symtab only, not in .dynsym), called through this wrapper. */
uintptr_t symt_c_via_static(unsigned *line);
/* An inline function (always inlined) inside this one: *line is the line in the inline
 * function, *call_line the line here where it was inlined. */
uintptr_t symt_c_inlined(unsigned *line, unsigned *call_line);
/* Calls ttmsym::outer(int) of symlib_cxx.cpp, which takes the address. */
uintptr_t symt_cxx_leaf(unsigned *line);
/* The address of read-only data of libsymtest.so (no code). */
const void *symt_lib_data(void);

/* In the test executable. */
uintptr_t symt_exe_leaf(unsigned *line);

#ifdef __cplusplus
}
#endif

#endif /* TTM_TESTS_SYMTEST_H */
