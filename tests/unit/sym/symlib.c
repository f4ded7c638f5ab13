/*
 * symlib.c — C functions of libsymtest.so at lines test_sym checks (see symtest.h).
 */
#include "symtest.h"

__attribute__((noinline)) uintptr_t symt_grab(void)
{
    return (uintptr_t)__builtin_return_address(0);
}

__attribute__((noinline)) uintptr_t symt_c_leaf(unsigned *line)
{
    *line = __LINE__ + 1;
    uintptr_t pc = symt_grab();
    __asm__ volatile("" ::: "memory");
    return pc;
}

static __attribute__((noinline)) uintptr_t symt_c_static(unsigned *line)
{
    *line = __LINE__ + 1;
    uintptr_t pc = symt_grab();
    __asm__ volatile("" ::: "memory");
    return pc;
}

uintptr_t symt_c_via_static(unsigned *line)
{
    uintptr_t pc = symt_c_static(line);
    __asm__ volatile("" ::: "memory");
    return pc;
}

static inline __attribute__((always_inline)) uintptr_t symt_c_inline_part(unsigned *line)
{
    *line = __LINE__ + 1;
    uintptr_t pc = symt_grab();
    __asm__ volatile("" ::: "memory");
    return pc;
}

__attribute__((noinline)) uintptr_t symt_c_inlined(unsigned *line, unsigned *call_line)
{
    *call_line = __LINE__ + 1;
    uintptr_t pc = symt_c_inline_part(line);
    __asm__ volatile("" ::: "memory");
    return pc;
}

static const char symt_data[64] = "read-only data, no code";

const void *symt_lib_data(void)
{
    return symt_data;
}
