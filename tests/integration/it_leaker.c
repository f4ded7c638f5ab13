/*
 * it_leaker.c — the program `ttmem record` is tested on: five buffers allocated through
 * libttmem, two freed, one of those freed a second time, three never freed; exits with 3 so
 * the test can check that record returns the program's status.
 */
#include <stdio.h>

#include "ttmem/ttmem.h"

int main(void)
{
    static const uint64_t sizes[5] = {4096, 8192, 1u << 20, 65536, 2048};
    for (uint64_t i = 0; i < 5; i++) {
        int rc = ttm_buffer_alloc(0, i == 4 ? TTM_MEM_L1 : TTM_MEM_DRAM, 0x100000 * (i + 1),
                                  sizes[i], 0x10 + i, 0);
        if (rc != TTM_OK) {
            fprintf(stderr, "it_leaker: allocation %llu not reported: %s\n",
                    (unsigned long long)i, ttm_strerror(rc));
            return 1;
        }
    }
    ttm_buffer_free(0, TTM_MEM_DRAM, 0x100000, 4096, 0x10, 0);
    ttm_buffer_free(0, TTM_MEM_DRAM, 0x200000, 8192, 0x11, 0);
    ttm_buffer_free(0, TTM_MEM_DRAM, 0x200000, 8192, 0x11, 0); /* the double free */
    printf("it_leaker: 5 allocated, 2 freed, 1 freed twice, 3 leaked\n");
    return 3;
}
