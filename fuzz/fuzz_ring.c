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

/* ---- seeds: rings as the real producer (ttm__ring_reserve/commit) and consumer leave them -- */

#define SEED_SLOTS 64
#define NSEEDS 3
static _Alignas(64) uint8_t seed_mem[NSEEDS][sizeof(ttm_ring_hdr) + SEED_SLOTS * sizeof(ttm_event)];
static const uint8_t *seed_ptrs[NSEEDS];
static size_t seed_lens[NSEEDS];

/* Produces n events the way the client does; with hole, the middle reservation is never
 * committed (a producer that died mid-event). */
static void produce(ttm_ring_hdr *h, _Atomic uint64_t *tail_cache, unsigned n, bool hole)
{
    for (unsigned i = 0; i < n; i++) {
        uint64_t pos;
        bool bell;
        if (!ttm__ring_reserve(h, SEED_SLOTS, tail_cache, &pos, &bell))
            abort();
        ttm_event *e = &ttm__ring_slots(h)[pos & (SEED_SLOTS - 1)];
        uint32_t seq = e->seq;
        memset(e, 0, sizeof *e);
        e->seq = seq;
        e->kind = i % 3 == 2 ? TTM_EV_FREE : TTM_EV_ALLOC;
        e->memtype = (uint8_t)(i % 2);
        e->device = (uint16_t)(i % 4);
        e->tid = 1234;
        e->ts = 1000 + pos;
        e->addr = 0x10000 + (pos / 3) * 4096;
        e->size = 4096;
        if (hole && i == n / 2)
            continue;
        (void)ttm__ring_commit(h, e, pos, bell);
    }
}

static void seed_ring(size_t i, unsigned first, unsigned consumed, unsigned then, bool hole)
{
    ttm_ring_hdr *h = (ttm_ring_hdr *)seed_mem[i];
    memset(seed_mem[i], 0, sizeof seed_mem[i]);
    if (ttm__ring_init(h, SEED_SLOTS, 1234) != TTM_OK)
        abort();
    _Atomic uint64_t tail_cache = 0;
    produce(h, &tail_cache, first, false);
    static ttm_event out[SEED_SLOTS];
    if (ttm__ring_consume(h, sizeof seed_mem[i], out, consumed, false) != consumed)
        abort();
    produce(h, &tail_cache, then, hole);
    seed_ptrs[i] = seed_mem[i];
    seed_lens[i] = sizeof seed_mem[i];
}

size_t ttm__fuzz_seeds(const uint8_t *const **seeds, const size_t **sizes)
{
    if (seed_lens[0] == 0) {
        seed_ring(0, 40, 3, 0, false);  /* first lap, events waiting */
        seed_ring(1, 60, 50, 37, true); /* second lap, stale seqs behind, one uncommitted */
        seed_ring(2, 64, 0, 0, false);  /* full */
    }
    *seeds = seed_ptrs;
    *sizes = seed_lens;
    return NSEEDS;
}
