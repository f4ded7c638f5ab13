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

/* ---- seeds: every message type of every version, from the real encoder ---- */

#define NSEEDS 27 /* 5 types in v1, 7 in v2, 12 in v3 (+3 spare) */
static uint8_t seed_buf[NSEEDS][TTM_POC_MAX_SIZE];
static const uint8_t *seed_ptrs[NSEEDS];
static size_t seed_lens[NSEEDS];

size_t ttm__fuzz_seeds(const uint8_t *const **seeds, const size_t **sizes)
{
    static size_t n;
    if (n == 0) {
        static const size_t vsize[] = {TTM_POC_V1_SIZE, TTM_POC_V2_SIZE, TTM_POC_V3_SIZE};
        for (unsigned v = 1; v <= 3; v++) {
            for (unsigned t = TTM_POC_TYPE_MIN; t <= TTM_POC_TYPE_MAX; t++) {
                if (ttm__poc_type_since(t) > v)
                    continue;
                ttm_poc_msg m = {.type = (uint8_t)t, .device_id = (int32_t)(t % 4),
                                 .size = 16384, .buffer_type = (uint8_t)(t % 5),
                                 .process_id = 2685613, .buffer_id = 328467008 + t,
                                 .timestamp = 1700000000000000000ull};
                if (t == TTM_POC_RESPONSE || t == TTM_POC_DEVICE_INFO_RESPONSE) {
                    m.dram_allocated = 1u << 30;
                    m.l1_allocated = 1u << 20;
                    m.l1_small_allocated = 4096;
                    m.trace_allocated = 8192;
                    if (v >= 2) {
                        m.total_dram_size = 12ull << 30;
                        m.total_l1_size = 108ull << 20;
                        m.arch_type = 2;
                        m.num_dram_channels = 12;
                        m.dram_size_per_channel = 1u << 30;
                        m.l1_size_per_core = 1464 * 1024;
                        m.is_available = 1;
                        m.num_devices = 4;
                    }
                    if (v >= 3) {
                        m.cb_allocated = 65536;
                        m.kernel_allocated = 32768;
                        m.ringbuffer_total_size = 1u << 20;
                        m.ringbuffer_used_bytes = 4096;
                        m.ringbuffer_num_programs = 3;
                    }
                }
                if (n == NSEEDS || ttm__poc_encode(&m, vsize[v - 1], seed_buf[n]) != TTM_OK)
                    abort();
                seed_ptrs[n] = seed_buf[n];
                seed_lens[n] = vsize[v - 1];
                n++;
            }
        }
    }
    *seeds = seed_ptrs;
    *sizes = seed_lens;
    return n;
}
