/*
 * test_ring.c — unit tests of the event ring (src/common/ring.h, ring.c): validation of a
 * peer's mapping, in-order commit and consumption, the full ring, the doorbell handshake,
 * draining a dead producer's ring past slots it reserved but never committed, bounds against a
 * peer that rewrites the header, and N producer threads x K events into one consumer with
 * every event received exactly once and each thread's order preserved.
 */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/ring.h"

static ttm_ring_hdr *ring_new(uint32_t nslots, size_t *bytes)
{
    size_t n = ttm__ring_bytes(nslots);
    void *mem = aligned_alloc(64, n);
    assert_non_null(mem);
    memset(mem, 0, n);
    assert_int_equal(ttm__ring_init(mem, nslots, 42), TTM_OK);
    if (bytes != NULL)
        *bytes = n;
    return mem;
}

/* Producer's whole step, as libttmem does it; returns false when full. */
static bool produce(ttm_ring_hdr *h, _Atomic uint64_t *tc, uint16_t device, uint64_t addr,
                    bool *rang)
{
    uint64_t pos;
    bool bell;
    if (!ttm__ring_reserve(h, h->nslots, tc, &pos, &bell))
        return false;
    ttm_event *slot = &ttm__ring_slots(h)[pos & (h->nslots - 1)];
    slot->kind = TTM_EV_ALLOC;
    slot->device = device;
    slot->addr = addr;
    slot->size = 4096;
    bool r = ttm__ring_commit(h, slot, pos, bell);
    if (rang != NULL)
        *rang = r;
    return true;
}

/* ---- geometry and validation --------------------------------------------------------------- */

static void test_bytes_and_init(void **state)
{
    (void)state;
    assert_int_equal(ttm__ring_bytes(64), 256 + 64 * 64);
    char buf[64];
    assert_int_equal(ttm__ring_init(buf, 100, 1), TTM_EINVAL); /* not a power of two */
    assert_int_equal(ttm__ring_init(buf, 32, 1), TTM_EINVAL);  /* below the minimum */
    assert_int_equal(ttm__ring_init(NULL, 64, 1), TTM_EINVAL);
    size_t bytes;
    ttm_ring_hdr *h = ring_new(64, &bytes);
    assert_int_equal(h->magic, TTM_RING_MAGIC);
    assert_int_equal(h->nslots, 64);
    assert_int_equal(h->creator_pid, 42);
    assert_int_equal(ttm__ring_validate(h, bytes, NULL, 0), TTM_OK);
    free(h);
}

static void test_validate_rejects(void **state)
{
    (void)state;
    size_t bytes;
    ttm_ring_hdr *h = ring_new(128, &bytes);
    char msg[128];

    h->magic ^= 1;
    assert_int_equal(ttm__ring_validate(h, bytes, msg, sizeof msg), TTM_EPROTO);
    assert_non_null(strstr(msg, "magic"));
    h->magic ^= 1;

    h->version = 2;
    assert_int_equal(ttm__ring_validate(h, bytes, msg, sizeof msg), TTM_EVERSION);
    assert_non_null(strstr(msg, "version 2"));
    h->version = TTM_RING_VERSION;

    h->slot_size = 128;
    assert_int_equal(ttm__ring_validate(h, bytes, msg, sizeof msg), TTM_EPROTO);
    assert_non_null(strstr(msg, "slot size"));
    h->slot_size = sizeof(ttm_event);

    h->hdr_size = 128;
    assert_int_equal(ttm__ring_validate(h, bytes, msg, sizeof msg), TTM_EPROTO);
    h->hdr_size = sizeof(ttm_ring_hdr);

    static const uint32_t bad_n[] = {0, 1, 32, 96, 100, TTM_RING_MAX_SLOTS * 2u, 0xffffffffu};
    for (size_t i = 0; i < sizeof bad_n / sizeof bad_n[0]; i++) {
        h->nslots = bad_n[i];
        assert_int_equal(ttm__ring_validate(h, bytes, msg, sizeof msg), TTM_EPROTO);
        assert_non_null(strstr(msg, "slot count"));
    }
    h->nslots = 256; /* valid in itself, but twice what the mapping holds */
    assert_int_equal(ttm__ring_validate(h, bytes, msg, sizeof msg), TTM_EPROTO);
    assert_non_null(strstr(msg, "needs"));
    h->nslots = 128;

    assert_int_equal(ttm__ring_validate(h, bytes - 1, msg, sizeof msg), TTM_EPROTO);
    assert_int_equal(ttm__ring_validate(h, 100, msg, sizeof msg), TTM_EPROTO);
    assert_non_null(strstr(msg, "shorter"));
    assert_int_equal(ttm__ring_validate(NULL, bytes, msg, sizeof msg), TTM_EPROTO);
    assert_int_equal(ttm__ring_validate(h, bytes, msg, 1), TTM_OK);
    assert_int_equal(ttm__ring_validate(h, bytes + 4096, NULL, 0), TTM_OK); /* larger map ok */
    free(h);
}

/* ---- produce and consume ------------------------------------------------------------------- */

static void test_in_order_and_partial(void **state)
{
    (void)state;
    size_t bytes;
    ttm_ring_hdr *h = ring_new(64, &bytes);
    _Atomic uint64_t tc = 0;
    ttm_event out[64];
    assert_int_equal(ttm__ring_consume(h, bytes, out, 64, false), 0);
    assert_false(ttm__ring_ready(h, bytes));
    for (int i = 0; i < 10; i++)
        assert_true(produce(h, &tc, 1, 0x1000u * (unsigned)i, NULL));
    assert_true(ttm__ring_ready(h, bytes));
    assert_int_equal(ttm__ring_consume(h, bytes, out, 4, false), 4);
    assert_int_equal(ttm__ring_consume(h, bytes, out + 4, 64, false), 6);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(out[i].addr, 0x1000u * (unsigned)i);
        assert_int_equal(out[i].seq, (uint32_t)(i + 1));
        assert_int_equal(out[i].kind, TTM_EV_ALLOC);
    }
    assert_int_equal(atomic_load(&h->tail), 10);
    assert_int_equal(ttm__ring_consume(h, bytes, out, 0, false), 0);
    assert_int_equal(ttm__ring_consume(h, bytes, NULL, 8, false), 0);
    free(h);
}

static void test_full_ring(void **state)
{
    (void)state;
    size_t bytes;
    ttm_ring_hdr *h = ring_new(64, &bytes);
    _Atomic uint64_t tc = 0;
    ttm_event out[64];
    /* Many laps: the ring takes exactly nslots, then refuses until the consumer frees room. */
    for (int lap = 0; lap < 5; lap++) {
        for (int i = 0; i < 64; i++)
            assert_true(produce(h, &tc, 0, (uint64_t)(lap * 64 + i), NULL));
        assert_false(produce(h, &tc, 0, 999, NULL));
        assert_int_equal(atomic_load(&h->head) - atomic_load(&h->tail), 64);
        assert_int_equal(ttm__ring_consume(h, bytes, out, 1, false), 1);
        assert_int_equal(out[0].addr, (uint64_t)(lap * 64));
        assert_true(produce(h, &tc, 0, (uint64_t)(lap * 64 + 64), NULL));
        assert_false(produce(h, &tc, 0, 999, NULL));
        assert_int_equal(ttm__ring_consume(h, bytes, out, 64, false), 64);
        assert_int_equal(out[63].addr, (uint64_t)(lap * 64 + 64));
        /* Realign to a lap boundary for the next round. */
        for (int i = 0; i < 63; i++)
            assert_true(produce(h, &tc, 0, 0, NULL));
        assert_int_equal(ttm__ring_consume(h, bytes, out, 64, false), 63);
    }
    free(h);
}

/* A producer killed between reserve and commit: the live consumer stops at the hole, the dead
 * drain skips it and keeps everything committed after it. */
static void test_peer_dead_skips_uncommitted(void **state)
{
    (void)state;
    size_t bytes;
    ttm_ring_hdr *h = ring_new(64, &bytes);
    _Atomic uint64_t tc = 0;
    ttm_event out[64];
    for (int lap = 0; lap < 3; lap++) { /* also on later laps, where old seqs linger */
        assert_true(produce(h, &tc, 0, 1, NULL));
        uint64_t hole = 0;
        bool bell = false;
        assert_true(ttm__ring_reserve(h, 64, &tc, &hole, &bell)); /* never committed */
        assert_true(produce(h, &tc, 0, 3, NULL));
        assert_true(produce(h, &tc, 0, 4, NULL));

        assert_int_equal(ttm__ring_consume(h, bytes, out, 64, false), 1);
        assert_int_equal(out[0].addr, 1);
        assert_int_equal(ttm__ring_consume(h, bytes, out, 64, false), 0); /* stuck at hole */

        /* max counts copied events: the hole is skipped on the way to the first one */
        assert_int_equal(ttm__ring_consume(h, bytes, out, 1, true), 1);
        assert_int_equal(out[0].addr, 3);
        assert_int_equal(ttm__ring_consume(h, bytes, out, 64, true), 1);
        assert_int_equal(out[0].addr, 4);
        assert_int_equal(atomic_load(&h->tail), atomic_load(&h->head));
        assert_int_equal(ttm__ring_consume(h, bytes, out, 64, true), 0);
        /* Fill up to the next lap so the hole's slot is reused with a stale seq behind. */
        while (atomic_load(&h->head) % 64 != 0)
            assert_true(produce(h, &tc, 0, 7, NULL));
        while (ttm__ring_consume(h, bytes, out, 64, false) > 0) {
        }
    }
    free(h);
}

/* A peer that rewrites the header after validation cannot push the consumer out of bounds. */
static void test_consume_bounds_against_peer(void **state)
{
    (void)state;
    size_t bytes;
    ttm_ring_hdr *h = ring_new(64, &bytes);
    _Atomic uint64_t tc = 0;
    ttm_event out[128];
    for (int i = 0; i < 5; i++)
        assert_true(produce(h, &tc, 0, (uint64_t)i, NULL));

    h->nslots = 1u << 20; /* larger than the mapping */
    assert_int_equal(ttm__ring_consume(h, bytes, out, 128, false), 0);
    assert_int_equal(ttm__ring_consume(h, bytes, out, 128, true), 0);
    assert_false(ttm__ring_ready(h, bytes));
    assert_true(ttm__ring_prepare_sleep(h, bytes));
    h->nslots = 63;
    assert_int_equal(ttm__ring_consume(h, bytes, out, 128, false), 0);
    h->nslots = 64;
    assert_int_equal(ttm__ring_consume(h, bytes, out, 128, false), 5);
    assert_int_equal(ttm__ring_consume(h, bytes - 64, out, 128, false), 0); /* short map */

    atomic_store(&h->head, 1ull << 40); /* absurd head: the dead drain walks one lap at most */
    size_t got = ttm__ring_consume(h, bytes, out, 128, true);
    assert_true(got <= 64);
    assert_int_equal(atomic_load(&h->tail), 5 + 64);
    atomic_store(&h->head, 3); /* head behind tail */
    assert_int_equal(ttm__ring_consume(h, bytes, out, 128, true), 0);
    assert_int_equal(ttm__ring_consume(NULL, bytes, out, 128, true), 0);
    free(h);
}

/* A consumer that hands tail beyond head must not make producers loop or write out of turn. */
static void test_reserve_with_broken_tail(void **state)
{
    (void)state;
    size_t bytes;
    ttm_ring_hdr *h = ring_new(64, &bytes);
    _Atomic uint64_t tc = 0;
    assert_true(produce(h, &tc, 0, 1, NULL));
    atomic_store(&h->tail, 1000);
    atomic_store(&tc, 1000);
    assert_false(produce(h, &tc, 0, 2, NULL));
    free(h);
}

static void test_doorbell_handshake(void **state)
{
    (void)state;
    size_t bytes;
    ttm_ring_hdr *h = ring_new(64, &bytes);
    _Atomic uint64_t tc = 0;
    ttm_event out[4];
    bool rang = true;

    /* Consumer awake: nobody rings. */
    assert_true(produce(h, &tc, 0, 1, &rang));
    assert_false(rang);
    /* Events pending: the consumer must not sleep. */
    assert_false(ttm__ring_prepare_sleep(h, bytes));
    assert_int_equal(atomic_load(&h->consumer_sleeping), 0);
    assert_int_equal(ttm__ring_consume(h, bytes, out, 4, false), 1);
    /* Empty: it may sleep; the next producer takes the job of ringing, exactly one. */
    assert_true(ttm__ring_prepare_sleep(h, bytes));
    assert_int_equal(atomic_load(&h->consumer_sleeping), 1);
    assert_true(produce(h, &tc, 0, 2, &rang));
    assert_true(rang);
    assert_int_equal(atomic_load(&h->consumer_sleeping), 0);
    assert_true(produce(h, &tc, 0, 3, &rang));
    assert_false(rang);

    /* Two producers both saw the announcement: only one rings. */
    assert_int_equal(ttm__ring_consume(h, bytes, out, 4, false), 2);
    assert_true(ttm__ring_prepare_sleep(h, bytes));
    uint64_t p1 = 0, p2 = 0;
    bool b1 = false, b2 = false;
    assert_true(ttm__ring_reserve(h, 64, &tc, &p1, &b1));
    assert_true(ttm__ring_reserve(h, 64, &tc, &p2, &b2));
    assert_true(b1 && b2);
    ttm_event *s = ttm__ring_slots(h);
    int rings = ttm__ring_commit(h, &s[p2 & 63], p2, b2);
    rings += ttm__ring_commit(h, &s[p1 & 63], p1, b1);
    assert_int_equal(rings, 1);

    /* A reservation in progress (its producer did not see the announcement): the consumer
     * spins briefly, then may block (its backstop timeout will bring it back). */
    assert_int_equal(ttm__ring_consume(h, bytes, out, 4, false), 2);
    uint64_t p3 = 0;
    bool b3 = true;
    assert_true(ttm__ring_reserve(h, 64, &tc, &p3, &b3));
    assert_false(b3);
    assert_true(ttm__ring_prepare_sleep(h, bytes));
    free(h);
}

/* ---- many producers, one consumer ---------------------------------------------------------- */

#define MT_THREADS 4
#define MT_EVENTS 200000

typedef struct mt_arg {
    ttm_ring_hdr *h;
    _Atomic uint64_t *tc;
    uint16_t id;
} mt_arg;

static void *mt_producer(void *p)
{
    mt_arg *a = p;
    for (uint64_t i = 0; i < MT_EVENTS; i++) {
        while (!produce(a->h, a->tc, a->id, i, NULL))
            sched_yield();
    }
    return NULL;
}

static void test_many_producers_one_consumer(void **state)
{
    (void)state;
    size_t bytes;
    ttm_ring_hdr *h = ring_new(256, &bytes); /* small: producers keep hitting full */
    _Atomic uint64_t tc = 0;
    pthread_t t[MT_THREADS];
    mt_arg a[MT_THREADS];
    for (int i = 0; i < MT_THREADS; i++) {
        a[i] = (mt_arg){.h = h, .tc = &tc, .id = (uint16_t)i};
        assert_int_equal(pthread_create(&t[i], NULL, mt_producer, &a[i]), 0);
    }
    uint64_t next[MT_THREADS] = {0};
    uint64_t total = 0, last_seq = 0;
    ttm_event out[64];
    while (total < (uint64_t)MT_THREADS * MT_EVENTS) {
        size_t n = ttm__ring_consume(h, bytes, out, 64, false);
        if (n == 0)
            sched_yield();
        for (size_t k = 0; k < n; k++) {
            assert_true(out[k].device < MT_THREADS);
            /* exactly once and in order per thread */
            assert_int_equal(out[k].addr, next[out[k].device]);
            next[out[k].device]++;
            /* consumed strictly in ring order */
            assert_int_equal(out[k].seq, (uint32_t)(last_seq + 1));
            last_seq++;
        }
        total += n;
    }
    for (int i = 0; i < MT_THREADS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(next[i], MT_EVENTS);
    }
    assert_int_equal(ttm__ring_consume(h, bytes, out, 64, false), 0);
    assert_int_equal(atomic_load(&h->head), (uint64_t)MT_THREADS * MT_EVENTS);
    free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bytes_and_init),
        cmocka_unit_test(test_validate_rejects),
        cmocka_unit_test(test_in_order_and_partial),
        cmocka_unit_test(test_full_ring),
        cmocka_unit_test(test_peer_dead_skips_uncommitted),
        cmocka_unit_test(test_consume_bounds_against_peer),
        cmocka_unit_test(test_reserve_with_broken_tail),
        cmocka_unit_test(test_doorbell_handshake),
        cmocka_unit_test(test_many_producers_one_consumer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
