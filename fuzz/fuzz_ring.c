/*
 * fuzz_ring.c — the daemon's view of a client's ring on arbitrary bytes: ttm__ring_validate()
 * and then ttm__ring_consume() (live and dead peer), ttm__ring_ready() and
 * ttm__ring_prepare_sleep() whatever validation said, since a peer may rewrite its header after
 * validation. Never reads outside the mapping (ASan checks: the mapping is allocated to its
 * exact size), never copies more than asked, and a dead drain copies each slot at most once
 * (a slot's seq matches one position only), so it ends within nslots / OUT_MAX + 1 calls.
 */
#include <stdlib.h>
#include <string.h>

#include "common/ring.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t ttm__fuzz_seeds(const uint8_t *const **seeds, const size_t **sizes);

#define OUT_MAX 96

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t map = size & ~(size_t)63; /* the header needs 64-byte alignment */
    if (map == 0)
        return 0;
    void *mem = aligned_alloc(64, map);
    if (mem == NULL)
        return 0;
    memcpy(mem, data, map);
    ttm_ring_hdr *h = mem;
    char msg[96];
    int err = ttm__ring_validate(mem, map, msg, sizeof msg);
    if (err != TTM_OK && msg[0] == '\0')
        abort(); /* every rejection says why */
    static ttm_event out[OUT_MAX + 1];
    (void)ttm__ring_ready(h, map);
    for (int round = 0; round < 3; round++) {
        size_t n = ttm__ring_consume(h, map, out, OUT_MAX, false);
        if (n > OUT_MAX)
            abort();
    }
    (void)ttm__ring_prepare_sleep(h, map);
    bool has_hdr = map >= sizeof(ttm_ring_hdr);
    size_t total = 0;
    for (int round = 0; round < 1000; round++) {
        size_t n = ttm__ring_consume(h, map, out, OUT_MAX, true);
        if (n > OUT_MAX)
            abort();
        total += n;
        if (n == 0)
            break;
    }
    if (err == TTM_OK && total > h->nslots)
        abort();
    if (!has_hdr && total != 0)
        abort();
    free(mem);
    return 0;
}

#define SEED_SLOTS 64
static _Alignas(64) uint8_t seed_live[sizeof(ttm_ring_hdr) + SEED_SLOTS * sizeof(ttm_event)];
static _Alignas(64) uint8_t seed_lap[sizeof(ttm_ring_hdr) + SEED_SLOTS * sizeof(ttm_event)];
static const uint8_t *seed_ptrs[2] = {seed_live, seed_lap};
static const size_t seed_lens[2] = {sizeof seed_live, sizeof seed_lap};

/* A ring with committed events from tail to head except one reserved, uncommitted slot. */
static void fill(uint8_t *mem, uint64_t tail, uint64_t head, uint64_t hole)
{
    ttm_ring_hdr *h = (ttm_ring_hdr *)mem;
    ttm__ring_init(mem, SEED_SLOTS, 1234);
    ttm_event *s = ttm__ring_slots(h);
    for (uint64_t p = tail; p < head; p++) {
        ttm_event *e = &s[p & (SEED_SLOTS - 1)];
        e->kind = TTM_EV_ALLOC;
        e->addr = p * 4096;
        e->size = 4096;
        e->seq = p == hole ? (uint32_t)(p + 1 - SEED_SLOTS) : (uint32_t)(p + 1);
    }
    atomic_store(&h->tail, tail);
    atomic_store(&h->head, head);
}

size_t ttm__fuzz_seeds(const uint8_t *const **seeds, const size_t **sizes)
{
    memset(seed_live, 0, sizeof seed_live);
    memset(seed_lap, 0, sizeof seed_lap);
    fill(seed_live, 3, 40, 20);
    fill(seed_lap, 100, 150, 120); /* second lap: stale seqs behind */
    *seeds = seed_ptrs;
    *sizes = seed_lens;
    return 2;
}
