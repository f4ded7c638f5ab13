/*
 * side_dso.c — a shared object test_client dlopen()s and dlclose()s: its allocation comes from a
 * call site inside it, so the side log must name it as a module (MODULE), say when it goes
 * (UNMAP), and give it a new id when it comes back. Its calls to libttmem resolve to the test
 * program's own copy (linked statically, exported).
 */
#include <stdint.h>

#include "ttmem/ttmem.h"

int side_dso_alloc(uint64_t addr);

__attribute__((noinline, visibility("default"))) int side_dso_alloc(uint64_t addr)
{
    int r = ttm_buffer_alloc(0, TTM_MEM_DRAM, addr, 64, 0, 0);
    __asm__ volatile("" ::: "memory"); /* not a tail call: this frame stays on the stack */
    return r;
}
