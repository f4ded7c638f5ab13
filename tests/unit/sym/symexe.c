/*
 * symexe.c — a function of the test executable itself at a line test_sym checks.
 */
#include "symtest.h"

__attribute__((noinline)) uintptr_t symt_exe_leaf(unsigned *line)
{
    *line = __LINE__ + 1;
    uintptr_t pc = symt_grab();
    __asm__ volatile("" ::: "memory");
    return pc;
}
