/*
 * symlib_cxx.cpp — a C++ function of libsymtest.so in a namespace, whose name test_sym
 * expects demangled: "ttmsym::outer(int)".
 */
#include "symtest.h"

static unsigned outer_line;

namespace ttmsym
{
__attribute__((noinline)) uintptr_t outer(int x)
{
    outer_line = __LINE__ + 1;
    uintptr_t pc = symt_grab() + (uintptr_t)(x - x);
    __asm__ volatile("" ::: "memory");
    return pc;
}
} // namespace ttmsym

extern "C" uintptr_t symt_cxx_leaf(unsigned *line)
{
    uintptr_t pc = ttmsym::outer(1);
    *line = outer_line;
    return pc;
}
