/*
 * fuzz_poc.c — the legacy protocol decoder and size detection on arbitrary bytes: never
 * crashes, and whatever decodes re-encodes to the same bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "common/poc.h"
#include "ttmem/ttmem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t ttm__fuzz_seeds(const uint8_t *const **seeds, const size_t **sizes);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    (void)ttm__poc_detect_size(data, size);
    static const size_t sizes[] = {TTM_POC_V1_SIZE, TTM_POC_V2_SIZE, TTM_POC_V3_SIZE};
    for (size_t i = 0; i < 3; i++) {
        if (size < sizes[i])
            continue;
        ttm_poc_msg m;
        if (ttm__poc_decode(data, sizes[i], &m, NULL) != TTM_OK)
            continue;
        uint8_t back[TTM_POC_MAX_SIZE];
        if (ttm__poc_encode(&m, sizes[i], back) != TTM_OK)
            abort();
        /* pads are zero in both, every field round-trips; pad bytes past 136 in v3 too */
        ttm_poc_msg again;
        if (ttm__poc_decode(back, sizes[i], &again, NULL) != TTM_OK ||
            memcmp(&m, &again, sizeof m) != 0)
            abort();
        char line[200];
        ttm__poc_describe(&m, line, sizeof line);
    }
    return 0;
}

static const uint8_t seed_v1[72] = {1, 0, 0, 0, 2, 0, 0, 0, 0, 0x40};
static const uint8_t seed_v2[112] = {6, 0, 0, 0, 0xff, 0xff, 0xff, 0xff};
static const uint8_t seed_v3[144] = {8, 0, 0, 0, 1, 0, 0, 0, 0, 1};
static const uint8_t *const seed_list[] = {seed_v1, seed_v2, seed_v3};
static const size_t seed_sizes[] = {sizeof seed_v1, sizeof seed_v2, sizeof seed_v3};

size_t ttm__fuzz_seeds(const uint8_t *const **seeds, const size_t **sizes)
{
    *seeds = seed_list;
    *sizes = seed_sizes;
    return 3;
}
