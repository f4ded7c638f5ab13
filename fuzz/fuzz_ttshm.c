/*
 * fuzz_ttshm.c — TT-Metal shared-memory region parsing on arbitrary bytes: never crashes, and
 * counts stay within the layout's bounds.
 */
#include <stdlib.h>
#include <string.h>

#include "common/ttshm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t ttm__fuzz_seeds(const uint8_t *const **seeds, const size_t **sizes);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ttm_ttshm_region r;
    memset(&r, 0, sizeof r);
    ttm__ttshm_parse(data, size, &r);
    if (r.nchips > TTM_TTSHM_MAX_CHIPS || r.nprocs > TTM_TTSHM_MAX_PROCS ||
        (r.state != TTM_TTSHM_OK && r.why[0] == '\0'))
        abort();
    return 0;
}

static uint8_t seed_v3[TTM_TTSHM_SIZE_V2];
static uint8_t seed_v1[TTM_TTSHM_SIZE_V1];
static const uint8_t *seed_ptrs[2] = {seed_v3, seed_v1};
static const size_t seed_lens[2] = {sizeof seed_v3, sizeof seed_v1};

size_t ttm__fuzz_seeds(const uint8_t *const **seeds, const size_t **sizes)
{
    seed_v3[0] = 3;
    seed_v1[0] = 1;
    memset(seed_v3 + 856, 0x11, 8); /* a process slot with a pid */
    *seeds = seed_ptrs;
    *sizes = seed_lens;
    return 2;
}
