// header_cxx.cc — ttmem.h from C++ (-std=c++11 -pedantic -Werror, tests/CMakeLists.txt): every
// call goes through the header's inline gate and, tracking being off, returns TTM_EDISABLED.
#include "ttmem/ttmem.h"

int main()
{
    int bad = 0;
    bad += ttm_buffer_alloc(0, TTM_MEM_DRAM, 0x1000, 64, 7, 0) != TTM_EDISABLED;
    bad += ttm_buffer_free(0, TTM_MEM_ANY, 0x1000, 0, 7, 0) != TTM_EDISABLED;
    bad += ttm_device_describe(0, TTM_ARCH_BLACKHOLE, 0, 0) != TTM_EDISABLED;
    bad += ttm_phase_mark("warmup") != TTM_EDISABLED;
    bad += ttm_scope_push("matmul") != TTM_EDISABLED;
    bad += ttm_scope_pop() != TTM_EDISABLED;
    bad += ttm_stacks_set(TTM_STACKS_NATIVE, 0) != TTM_EDISABLED;
    unsigned depth = 0;
    bad += ttm_stacks_get(&depth) != 0;
    bad += ttm__gate_word != TTM__GATE_WORD_OFF;
    return bad;
}
