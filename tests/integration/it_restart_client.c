/*
 * it_restart_client.c — the client of it_restart (issue 9, item 5): through the real libttmem it
 * describes device 0 as a wormhole_b0 with capacities 0 (the profile's), holds 8.5 GiB of DRAM in
 * 17 buffers and one L1 buffer, and talks to the test on stdin/stdout:
 *   prints "ready" once the daemon has consumed everything; waits for a line (the test restarts
 *   the daemon meanwhile); frees the 17 DRAM buffers, prints "freed F" (F = the flush's result);
 *   waits for a line; exits 0 holding the L1 buffer (a leak at exit).
 */
#include <stdio.h>
#include <stdlib.h>

#include "ttmem/ttmem.h"

#define NBUF 17
#define BUF_BYTES (512ull << 20)

static void check(int rc, const char *what)
{
    if (rc != TTM_OK) {
        fprintf(stderr, "it_restart_client: %s failed: %s\n", what, ttm_strerror(rc));
        exit(1);
    }
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    char line[64];
    check(ttm_device_describe(0, TTM_ARCH_WORMHOLE_B0, 0, 0), "describe");
    for (unsigned i = 0; i < NBUF; i++)
        check(ttm_buffer_alloc(0, TTM_MEM_DRAM, (uint64_t)(i + 1) << 30, BUF_BYTES, i + 1, 0),
              "alloc");
    check(ttm_buffer_alloc(0, TTM_MEM_L1, 0x10000, 4096, 1000, 0), "alloc");
    printf("ready %d\n", ttm_client_flush(10000));
    if (fgets(line, sizeof line, stdin) == NULL)
        return 1;
    for (unsigned i = 0; i < NBUF; i++)
        check(ttm_buffer_free(0, TTM_MEM_DRAM, (uint64_t)(i + 1) << 30, BUF_BYTES, i + 1, 0),
              "free");
    printf("freed %d\n", ttm_client_flush(10000));
    if (fgets(line, sizeof line, stdin) == NULL)
        return 1;
    return 0;
}
