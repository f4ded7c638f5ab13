/*
 * test_registry.c — unit tests of the core registry's classification (docs/CLASSIFICATION.md):
 * every FREE class, every ALLOC class, and the event orderings behind the legacy prototype's
 * unexplained warnings, each as a short hand-built event sequence with its exact class masks,
 * counters and live bytes. Statistics, offender tables, process tables under limits, allocation
 * failure and the memory budget are in test_registry_stats.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "registry_util.h"


/* ---- FREE classes ------------------------------------------------------------------------- */

static void test_free_ok(void **state)
{
    ttm_registry *reg = *state;
    assert_int_equal(alloc(reg, 1, 0, DRAM, A, 4096, 11, 0, 10), B(ALLOC_OK));
    assert_int_equal(live_bytes(reg, 0, DRAM), 4096);
    assert_int_equal(mem(reg, 0, DRAM).live_count, 1);
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A, 4096, 11, 0, 20), B(FREE_OK));
    ttm_memstat m = mem(reg, 0, DRAM);
    assert_int_equal(m.live_bytes, 0);
    assert_int_equal(m.live_count, 0);
    assert_int_equal(m.allocs, 1);
    assert_int_equal(m.frees, 1);

    /* A FREE that does not know the size (0) is no mismatch. */
    assert_int_equal(alloc(reg, 1, 0, DRAM, A2, 512, 12, 0, 30), B(ALLOC_OK));
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A2, 0, 12, 0, 40), B(FREE_OK));
    /* A FREE without obj matches a record with one ... */
    assert_int_equal(alloc(reg, 1, 0, DRAM, A3, 256, 13, 0, 50), B(ALLOC_OK));
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A3, 256, 0, 0, 60), B(FREE_OK));
    /* ... and a record without obj matches a FREE with one. */
    assert_int_equal(alloc(reg, 1, 0, L1, A, 128, 0, 0, 70), B(ALLOC_OK));
    assert_int_equal(dealloc(reg, 1, 0, L1, A, 128, 14, 0, 80), B(FREE_OK));

    ttm_totals t = totals(reg);
    assert_int_equal(t.class_count[TTM_CLASS_ALLOC_OK], 4);
    assert_int_equal(t.class_count[TTM_CLASS_FREE_OK], 4);
    assert_int_equal(t.allocs, 4);
    assert_int_equal(t.frees, 4);
    assert_int_equal(t.live_records, 0);
    assert_int_equal(live_bytes(reg, 0, DRAM), 0);
    assert_int_equal(live_bytes(reg, 0, L1), 0);
    assert_int_equal(dev_stats(reg, 0).class_count[TTM_CLASS_FREE_OK], 4);
    check_invariants(reg);
}

static void test_free_view(void **state)
{
    ttm_registry *reg = *state;
    assert_int_equal(alloc(reg, 1, 0, DRAM, A, 8192, 1, 0, 10), B(ALLOC_OK));
    assert_int_equal(alloc(reg, 1, 0, DRAM, A, 8192, 2, VIEW, 11), B(ALLOC_VIEW));
    /* The view at the owner's key closes; the owner keeps its bytes. */
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A, 8192, 2, VIEW, 12), B(FREE_VIEW));
    assert_int_equal(live_bytes(reg, 0, DRAM), 8192);
    assert_int_equal(totals(reg).live_records, 1);
    assert_int_equal(find_live(reg, 1, 0, DRAM, A, 1, NULL), 1);
    /* A view standing alone. */
    assert_int_equal(alloc(reg, 1, 0, DRAM, A2, 4096, 3, VIEW, 13), B(ALLOC_VIEW));
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A2, 4096, 3, VIEW, 14), B(FREE_VIEW));
    assert_int_equal(live_bytes(reg, 0, DRAM), 8192);
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A, 8192, 1, 0, 15), B(FREE_OK));
    ttm_totals t = totals(reg);
    assert_int_equal(t.class_count[TTM_CLASS_FREE_VIEW], 2);
    assert_int_equal(t.class_count[TTM_CLASS_FREE_OK], 1);
    assert_int_equal(t.class_count[TTM_CLASS_VIEW_AFTER_OWNER], 0);
    assert_int_equal(t.live_records, 0);
    assert_int_equal(live_bytes(reg, 0, DRAM), 0);
    check_invariants(reg);
}

/* "free_view: no match, the FREE carries VIEW, a live owner is at the key". */
static void test_free_view_unmatched_live_owner(void **state)
{
    ttm_registry *reg = *state;
    assert_int_equal(alloc(reg, 1, 0, DRAM, A, 8192, 100, 0, 10), B(ALLOC_OK));
    /* A view (obj 101) never reported allocated, freed while its owner (obj 100) is live. */
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A, 8192, 101, VIEW, 11), B(FREE_VIEW));
    assert_int_equal(live_bytes(reg, 0, DRAM), 8192);
    assert_int_equal(find_live(reg, 1, 0, DRAM, A, 100, NULL), 1);
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A, 8192, 100, 0, 12), B(FREE_OK));
    assert_int_equal(live_bytes(reg, 0, DRAM), 0);
    check_invariants(reg);
}

/* A live view record whose owner was released. */
static void test_view_after_owner_live_view(void **state)
{
    ttm_registry *reg = *state;
    assert_int_equal(alloc(reg, 1, 0, DRAM, A, 65536, 1, 0, 10), B(ALLOC_OK));
    assert_int_equal(alloc(reg, 1, 0, DRAM, A, 65536, 2, VIEW, 11), B(ALLOC_VIEW));
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A, 65536, 1, 0, 12), B(FREE_OK));
    assert_int_equal(live_bytes(reg, 0, DRAM), 0);
    assert_int_equal(totals(reg).live_records, 1);
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A, 65536, 2, VIEW, 13), B(VIEW_AFTER_OWNER));
    ttm_totals t = totals(reg);
    assert_int_equal(t.live_records, 0);
    assert_int_equal(t.class_count[TTM_CLASS_VIEW_AFTER_OWNER], 1);
    assert_int_equal(t.class_count[TTM_CLASS_FREE_VIEW], 0);
    assert_int_equal(t.class_count[TTM_CLASS_UNKNOWN_FREE], 0);
    assert_int_equal(t.class_count[TTM_CLASS_EXCESS_FREE], 0);
    assert_int_equal(live_bytes(reg, 0, DRAM), 0);
    /* Benign: not an anomaly, no offender entry. */
    assert_false(ttm_class_is_anomaly(TTM_CLASS_VIEW_AFTER_OWNER));
    assert_int_equal(ttm_registry_offenders(reg, TTM_CLASS__COUNT, NULL, 0), 0);
    check_invariants(reg);
}

/* An unmatched VIEW-flagged free at a key in history. */
static void test_view_after_owner_unmatched(void **state)
{
    ttm_registry *reg = *state;
    assert_int_equal(alloc(reg, 1, 0, DRAM, A, 4096, 1, 0, 10), B(ALLOC_OK));
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A, 4096, 1, 0, 11), B(FREE_OK));
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A, 4096, 5, VIEW, 12), B(VIEW_AFTER_OWNER));
    /* The VIEW row comes before the obj = 0 rows: not an excess free. */
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A, 4096, 0, VIEW, 13), B(VIEW_AFTER_OWNER));
    /* Never allocated at that key: unknown. */
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A2, 4096, 6, VIEW, 14), B(UNKNOWN_FREE));
    ttm_totals t = totals(reg);
    assert_int_equal(t.class_count[TTM_CLASS_VIEW_AFTER_OWNER], 2);
    assert_int_equal(t.class_count[TTM_CLASS_UNKNOWN_FREE], 1);
    assert_int_equal(t.class_count[TTM_CLASS_EXCESS_FREE], 0);
    assert_int_equal(t.class_count[TTM_CLASS_DOUBLE_FREE], 0);
    check_invariants(reg);
}

static void test_double_free(void **state)
{
    ttm_registry *reg = *state;
    assert_int_equal(alloc(reg, 1, 0, DRAM, A, 4096, 7, 0, 10), B(ALLOC_OK));
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A, 4096, 7, 0, 11), B(FREE_OK));
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A, 4096, 7, 0, 12), B(DOUBLE_FREE));
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A, 4096, 7, 0, 13), B(DOUBLE_FREE));
    /* The freed set is keyed by (pid, obj), not by address. */
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A2, 4096, 7, 0, 14), B(DOUBLE_FREE));
    /* Another pid never freed obj 7: unknown. */
    assert_int_equal(dealloc(reg, 2, 0, DRAM, A, 4096, 7, 0, 15), B(UNKNOWN_FREE));
    ttm_totals t = totals(reg);
    assert_int_equal(t.class_count[TTM_CLASS_DOUBLE_FREE], 3);
    assert_int_equal(t.class_count[TTM_CLASS_UNKNOWN_FREE], 1);
    assert_int_equal(t.class_count[TTM_CLASS_EXCESS_FREE], 0);
    assert_int_equal(t.class_count[TTM_CLASS_FREE_OK], 1);
    assert_int_equal(live_bytes(reg, 0, DRAM), 0);
    assert_int_equal(mem(reg, 0, DRAM).frees, 1);
    assert_int_equal(offender_at(reg, TTM_CLASS_DOUBLE_FREE, 0, A).count, 2);
    assert_int_equal(offender_at(reg, TTM_CLASS_DOUBLE_FREE, 0, A2).count, 1);
    assert_int_equal(proc_stats(reg, 1).anomalies, 3);
    check_invariants(reg);
}

static void test_excess_free(void **state)
{
    ttm_registry *reg = *state;
    assert_int_equal(alloc(reg, 1, 0, DRAM, A, 4096, 0, 0, 10), B(ALLOC_OK));
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A, 4096, 0, 0, 11), B(FREE_OK));
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A, 4096, 0, 0, 12), B(EXCESS_FREE));
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A, 0, 0, 0, 13), B(EXCESS_FREE));
    ttm_totals t = totals(reg);
    assert_int_equal(t.class_count[TTM_CLASS_EXCESS_FREE], 2);
    assert_int_equal(t.class_count[TTM_CLASS_UNKNOWN_FREE], 0);
    assert_int_equal(t.class_count[TTM_CLASS_DOUBLE_FREE], 0);
    assert_int_equal(live_bytes(reg, 0, DRAM), 0);
    ttm_offender o = offender_at(reg, TTM_CLASS_EXCESS_FREE, 0, A);
    assert_int_equal(o.cls, TTM_CLASS_EXCESS_FREE);
    assert_int_equal(o.count, 2);
    assert_int_equal(o.first_ts, 12);
    assert_int_equal(o.last_ts, 13);
    assert_int_equal(o.memtype, DRAM);
    assert_int_equal(o.npids, 1);
    assert_int_equal(o.pids[0], 1);
    assert_false(o.more_pids);
    check_invariants(reg);
}

static void test_unknown_free(void **state)
{
    ttm_registry *reg = *state;
    /* Never allocated. */
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A, 4096, 0, 0, 10), B(UNKNOWN_FREE));
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A, 4096, 9, 0, 11), B(UNKNOWN_FREE));
    /* An obj never seen, at a key in history: unknown, not excess (obj tells objects apart). */
    assert_int_equal(alloc(reg, 1, 0, DRAM, A2, 4096, 1, 0, 12), B(ALLOC_OK));
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A2, 4096, 1, 0, 13), B(FREE_OK));
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A2, 4096, 99, 0, 14), B(UNKNOWN_FREE));
    /* The key includes the device and the space. */
    assert_int_equal(dealloc(reg, 1, 1, DRAM, A2, 4096, 0, 0, 15), B(UNKNOWN_FREE));
    assert_int_equal(dealloc(reg, 1, 0, L1, A2, 4096, 0, 0, 16), B(UNKNOWN_FREE));
    /* TRACE shares DRAM's space: the key is in history there. */
    assert_int_equal(dealloc(reg, 1, 0, TRACE, A2, 4096, 0, 0, 17), B(EXCESS_FREE));
    ttm_totals t = totals(reg);
    assert_int_equal(t.class_count[TTM_CLASS_UNKNOWN_FREE], 5);
    assert_int_equal(t.class_count[TTM_CLASS_EXCESS_FREE], 1);
    assert_int_equal(t.class_count[TTM_CLASS_DOUBLE_FREE], 0);
    assert_int_equal(offender_at(reg, TTM_CLASS_UNKNOWN_FREE, 0, A).count, 2);
    assert_int_equal(ttm_registry_offenders(reg, TTM_CLASS_UNKNOWN_FREE, NULL, 0), 3);
    check_invariants(reg);
}

/* The top-k of the offender list: for every cap, the first cap entries of the whole list in
 * its order (count descending, then device, addr), whether cap is small or near the length
 * (the heap behind it), and the count of every entry whatever cap is. */
static void test_offenders_top_k(void **state)
{
    ttm_registry *reg = *state;
    enum { N = 200 };
    uint64_t ts = 1;
    /* address i freed (i * 37) % 11 + 1 times, never allocated: ties in count, told apart by
     * the address; addresses visited in a scrambled order */
    for (unsigned k = 0; k < N; k++) {
        unsigned i = (k * 73u) % N;
        for (unsigned f = 0; f < (i * 37u) % 11u + 1u; f++)
            assert_int_equal(dealloc(reg, 1, 0, DRAM, 0x100000u + i * 0x1000u, 4096, 0, 0, ts++),
                             B(UNKNOWN_FREE));
    }
    static ttm_offender all[N + 8], top[N + 8];
    assert_int_equal(ttm_registry_offenders(reg, TTM_CLASS_UNKNOWN_FREE, all, N + 8), N);
    for (unsigned i = 1; i < N; i++)
        assert_true(all[i - 1].count > all[i].count ||
                    (all[i - 1].count == all[i].count && all[i - 1].addr < all[i].addr));
    static const size_t caps[] = {1, 2, 3, 10, 99, 100, 101, N - 1, N, N + 8};
    for (size_t c = 0; c < sizeof caps / sizeof caps[0]; c++) {
        memset(top, 0, sizeof top);
        assert_int_equal(ttm_registry_offenders(reg, TTM_CLASS_UNKNOWN_FREE, top, caps[c]), N);
        size_t want = caps[c] < N ? caps[c] : N;
        for (size_t i = 0; i < want; i++) {
            assert_int_equal(top[i].addr, all[i].addr);
            assert_int_equal(top[i].count, all[i].count);
        }
        if (want < N + 8)
            assert_int_equal(top[want].count, 0); /* nothing written past what was kept */
    }
    check_invariants(reg);
}

static void test_foreign_free(void **state)
{
    ttm_registry *reg = *state;
    assert_int_equal(alloc(reg, 1, 0, DRAM, A, 1000, 0, 0, 10), B(ALLOC_OK));
    assert_int_equal(alloc(reg, 2, 0, L1, A3, 64, 0, 0, 11), B(ALLOC_OK)); /* pid 2 is live */
    assert_int_equal(dealloc(reg, 2, 0, DRAM, A, 1000, 0, 0, 12), B(FOREIGN_FREE));
    /* The record stays, its bytes stay, its owner is unchanged. */
    assert_int_equal(live_bytes(reg, 0, DRAM), 1000);
    assert_int_equal(proc_live_bytes(reg, 1, 0, DRAM), 1000);
    assert_int_equal(proc_live_bytes(reg, 2, 0, DRAM), 0);
    assert_int_equal(find_live(reg, 1, 0, DRAM, A, 0, NULL), 1);
    /* With an obj on both sides. */
    assert_int_equal(alloc(reg, 1, 0, DRAM, A2, 500, 5, 0, 13), B(ALLOC_OK));
    assert_int_equal(dealloc(reg, 2, 0, DRAM, A2, 500, 5, 0, 14), B(FOREIGN_FREE));
    assert_int_equal(live_bytes(reg, 0, DRAM), 1500);
    assert_int_equal(proc_stats(reg, 2).anomalies, 2);
    assert_int_equal(proc_stats(reg, 1).anomalies, 0);
    /* The owner frees them normally. */
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A, 1000, 0, 0, 15), B(FREE_OK));
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A2, 500, 5, 0, 16), B(FREE_OK));
    assert_int_equal(live_bytes(reg, 0, DRAM), 0);
    ttm_totals t = totals(reg);
    assert_int_equal(t.class_count[TTM_CLASS_FOREIGN_FREE], 2);
    assert_int_equal(t.class_count[TTM_CLASS_FREE_OK], 2);
    ttm_offender o = offender_at(reg, TTM_CLASS_FOREIGN_FREE, 0, A);
    assert_int_equal(o.count, 1);
    assert_int_equal(o.npids, 1);
    assert_int_equal(o.pids[0], 2);
    check_invariants(reg);
}

static void test_size_mismatch(void **state)
{
    ttm_registry *reg = *state;
    assert_int_equal(alloc(reg, 1, 0, DRAM, A2, 1000, 0, 0, 9), B(ALLOC_OK));
    assert_int_equal(alloc(reg, 1, 0, DRAM, A, 4096, 1, 0, 10), B(ALLOC_OK));
    assert_int_equal(live_bytes(reg, 0, DRAM), 5096);
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A, 100, 1, 0, 11), B(FREE_OK) | B(SIZE_MISMATCH));
    /* The record's size is released, not the FREE's. */
    ttm_memstat m = mem(reg, 0, DRAM);
    assert_int_equal(m.live_bytes, 1000);
    assert_int_equal(m.live_count, 1);
    assert_int_equal(m.frees, 1);
    /* Larger than the record: still the record's size. */
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A2, 8192, 0, 0, 12), B(FREE_OK) | B(SIZE_MISMATCH));
    assert_int_equal(live_bytes(reg, 0, DRAM), 0);
    ttm_totals t = totals(reg);
    assert_int_equal(t.class_count[TTM_CLASS_SIZE_MISMATCH], 2);
    assert_int_equal(t.class_count[TTM_CLASS_FREE_OK], 2);
    assert_int_equal(offender_at(reg, TTM_CLASS_SIZE_MISMATCH, 0, A).count, 1);
    check_invariants(reg);
}

static void test_ambiguous_free(void **state)
{
    ttm_registry *reg = *state;
    /* The L1 record is the more recent one. */
    assert_int_equal(alloc(reg, 1, 0, DRAM, A, 100, 0, 0, 10), B(ALLOC_OK));
    assert_int_equal(alloc(reg, 1, 0, L1, A, 200, 0, 0, 20), B(ALLOC_OK));
    assert_int_equal(dealloc(reg, 1, 0, ANY, A, 0, 0, 0, 30), B(FREE_OK) | B(AMBIGUOUS_FREE));
    assert_int_equal(live_bytes(reg, 0, L1), 0);
    assert_int_equal(live_bytes(reg, 0, DRAM), 100);
    /* Only one space matches now: no ambiguity. */
    assert_int_equal(dealloc(reg, 1, 0, ANY, A, 0, 0, 0, 40), B(FREE_OK));
    assert_int_equal(live_bytes(reg, 0, DRAM), 0);

    /* The DRAM record is the more recent one. */
    assert_int_equal(alloc(reg, 1, 1, L1, A, 300, 0, 0, 50), B(ALLOC_OK));
    assert_int_equal(alloc(reg, 1, 1, DRAM, A, 400, 0, 0, 60), B(ALLOC_OK));
    assert_int_equal(dealloc(reg, 1, 1, ANY, A, 0, 0, 0, 70), B(FREE_OK) | B(AMBIGUOUS_FREE));
    assert_int_equal(live_bytes(reg, 1, DRAM), 0);
    assert_int_equal(live_bytes(reg, 1, L1), 300);

    ttm_totals t = totals(reg);
    assert_int_equal(t.class_count[TTM_CLASS_AMBIGUOUS_FREE], 2);
    assert_int_equal(t.class_count[TTM_CLASS_FREE_OK], 3);
    assert_int_equal(offender_at(reg, TTM_CLASS_AMBIGUOUS_FREE, 0, A).count, 1);
    assert_int_equal(offender_at(reg, TTM_CLASS_AMBIGUOUS_FREE, 1, A).count, 1);
    check_invariants(reg);
}

/* Among matching records a FREE prefers the same pid, then an exact obj, then an owning
 * record, then the most recent. */
static void test_free_match_preference(void **state)
{
    ttm_registry *reg = *state;
    /* Exact obj beats a more recent view without obj. */
    assert_int_equal(alloc(reg, 1, 0, DRAM, A, 1000, 5, 0, 10), B(ALLOC_OK));
    assert_int_equal(alloc(reg, 1, 0, DRAM, A, 1000, 0, VIEW, 20), B(ALLOC_VIEW));
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A, 1000, 5, 0, 30), B(FREE_OK));
    assert_int_equal(live_bytes(reg, 0, DRAM), 0);
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A, 0, 0, 0, 31), B(VIEW_AFTER_OWNER));

    /* Owning beats a more recent view when the FREE has no obj. */
    assert_int_equal(alloc(reg, 1, 0, DRAM, A2, 2000, 7, 0, 40), B(ALLOC_OK));
    assert_int_equal(alloc(reg, 1, 0, DRAM, A2, 2000, 8, VIEW, 50), B(ALLOC_VIEW));
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A2, 0, 0, 0, 60), B(FREE_OK));
    assert_int_equal(live_bytes(reg, 0, DRAM), 0);
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A2, 0, 8, VIEW, 61), B(VIEW_AFTER_OWNER));

    /* The most recent of two equal views. */
    assert_int_equal(alloc(reg, 1, 0, DRAM, A3, 64, 0, VIEW, 70), B(ALLOC_VIEW));
    assert_int_equal(alloc(reg, 1, 0, DRAM, A3, 64, 0, VIEW, 80), B(ALLOC_VIEW));
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A3, 0, 0, VIEW, 90), B(FREE_VIEW));
    ttm_live rec = {0};
    assert_int_equal(find_live(reg, 1, 0, DRAM, A3, 0, &rec), 1);
    assert_int_equal(rec.ts, 70);
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A3, 0, 0, VIEW, 91), B(FREE_VIEW));

    /* The same pid beats another pid's exact obj. */
    assert_int_equal(alloc(reg, 1, 1, DRAM, A, 100, 0, 0, 100), B(ALLOC_OK));
    assert_int_equal(alloc(reg, 2, 1, DRAM, A, 200, 9, 0, 110), B(OVERLAP));
    assert_int_equal(dealloc(reg, 1, 1, DRAM, A, 0, 9, 0, 120), B(FREE_OK));
    assert_int_equal(live_bytes(reg, 1, DRAM), 200);
    assert_int_equal(find_live(reg, 2, 1, DRAM, A, 9, NULL), 1);
    assert_int_equal(proc_live_bytes(reg, 2, 1, DRAM), 200);

    ttm_totals t = totals(reg);
    assert_int_equal(t.live_records, 1);
    assert_int_equal(t.class_count[TTM_CLASS_FOREIGN_FREE], 0);
    check_invariants(reg);
}

static void test_invalid_events(void **state)
{
    ttm_registry *reg = *state;
    assert_int_equal(alloc(reg, 1, 0, 7, A, 4096, 0, 0, 10), B(INVALID));
    assert_int_equal(alloc(reg, 1, 0, 254, A, 4096, 0, 0, 11), B(INVALID));
    assert_int_equal(alloc(reg, 1, 0, ANY, A, 4096, 0, 0, 12), B(INVALID));
    assert_int_equal(alloc(reg, 1, 0, DRAM, A, 4096, 0, 0x0002, 13), B(INVALID));
    assert_int_equal(alloc(reg, 1, 0, DRAM, A, 4096, 0, 0x4000 | VIEW, 14), B(INVALID));
    ttm_totals t = totals(reg);
    assert_int_equal(t.live_records, 0);
    assert_int_equal(t.class_count[TTM_CLASS_INVALID], 5);
    assert_int_equal(t.reuse_allocs, 0);

    /* Nothing was stored: a FREE there is unknown. */
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A, 4096, 0, 0, 15), B(UNKNOWN_FREE));

    /* An invalid FREE does not touch a live record. */
    assert_int_equal(alloc(reg, 1, 0, DRAM, A2, 4096, 0, 0, 16), B(ALLOC_OK));
    assert_int_equal(dealloc(reg, 1, 0, 9, A2, 4096, 0, 0, 17), B(INVALID));
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A2, 4096, 0, 0x0004, 18), B(INVALID));
    assert_int_equal(live_bytes(reg, 0, DRAM), 4096);
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A2, 4096, 0, 0, 19), B(FREE_OK));

    t = totals(reg);
    assert_int_equal(t.class_count[TTM_CLASS_INVALID], 7);
    assert_int_equal(t.allocs, 6);
    assert_int_equal(t.frees, 4);
    assert_int_equal(t.live_records, 0);
    check_invariants(reg);
}

static void test_invalid_kind(void **state)
{
    ttm_registry *reg = *state;
    ttm_event ev = util_event(77, 0, DRAM, A, 4096, 0, 0, 10);
    assert_int_equal(ttm_registry_apply(reg, 1, &ev), B(INVALID));
    ev.kind = 200;
    assert_int_equal(ttm_registry_apply(reg, 1, &ev), B(INVALID));
    ttm_totals t = totals(reg);
    assert_int_equal(t.class_count[TTM_CLASS_INVALID], 2);
    assert_int_equal(t.events, 2);
    assert_int_equal(t.allocs, 0);
    assert_int_equal(t.frees, 0);
    assert_int_equal(t.live_records, 0);
}

/* ---- ALLOC classes ------------------------------------------------------------------------ */

static void test_alloc_ok(void **state)
{
    ttm_registry *reg = *state;
    assert_int_equal(alloc(reg, 42, 3, L1S, 0x4000, 2048, 77, 0, 123), B(ALLOC_OK));
    ttm_live rec = {0};
    assert_int_equal(find_live(reg, 42, 3, L1S, 0x4000, 77, &rec), 1);
    assert_int_equal(rec.flags, 0);
    assert_int_equal(rec.refs, 1);
    assert_int_equal(rec.size, 2048);
    assert_int_equal(rec.ts, 123);
    ttm_memstat m = mem(reg, 3, L1S);
    assert_int_equal(m.live_bytes, 2048);
    assert_int_equal(m.live_count, 1);
    assert_int_equal(m.allocs, 1);
    assert_int_equal(m.frees, 0);
    assert_int_equal(m.peak_bytes, 2048);
    assert_int_equal(m.peak_ts, 123);
    assert_int_equal(proc_live_bytes(reg, 42, 3, L1S), 2048);
    ttm_totals t = totals(reg);
    assert_int_equal(t.class_count[TTM_CLASS_ALLOC_OK], 1);
    assert_int_equal(t.live_records, 1);
    assert_int_equal(t.allocs, 1);
    assert_int_equal(t.reuse_allocs, 0);
    check_invariants(reg);
}

static void test_duplicate_alloc(void **state)
{
    ttm_registry *reg = *state;
    /* Neither carries an obj. */
    assert_int_equal(alloc(reg, 1, 0, DRAM, A, 4096, 0, 0, 10), B(ALLOC_OK));
    assert_int_equal(alloc(reg, 1, 0, DRAM, A, 4096, 0, 0, 11), B(DUPLICATE_ALLOC));
    ttm_memstat m = mem(reg, 0, DRAM);
    assert_int_equal(m.live_bytes, 4096);
    assert_int_equal(m.live_count, 1);
    assert_int_equal(m.allocs, 1);
    ttm_live rec = {0};
    assert_int_equal(find_live(reg, 1, 0, DRAM, A, 0, &rec), 1);
    assert_int_equal(rec.refs, 2);
    assert_int_equal(totals(reg).live_records, 1);
    /* Released only at the second free. */
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A, 4096, 0, 0, 12), B(FREE_OK));
    assert_int_equal(live_bytes(reg, 0, DRAM), 4096);
    assert_int_equal(mem(reg, 0, DRAM).frees, 0);
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A, 4096, 0, 0, 13), B(FREE_OK));
    assert_int_equal(live_bytes(reg, 0, DRAM), 0);
    assert_int_equal(mem(reg, 0, DRAM).frees, 1);
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A, 4096, 0, 0, 14), B(EXCESS_FREE));

    /* The same obj on both. */
    assert_int_equal(alloc(reg, 1, 0, L1, A2, 512, 42, 0, 20), B(ALLOC_OK));
    assert_int_equal(alloc(reg, 1, 0, L1, A2, 512, 42, 0, 21), B(DUPLICATE_ALLOC));
    assert_int_equal(live_bytes(reg, 0, L1), 512);
    assert_int_equal(dealloc(reg, 1, 0, L1, A2, 512, 42, 0, 22), B(FREE_OK));
    assert_int_equal(live_bytes(reg, 0, L1), 512);
    assert_int_equal(dealloc(reg, 1, 0, L1, A2, 512, 42, 0, 23), B(FREE_OK));
    assert_int_equal(live_bytes(reg, 0, L1), 0);

    ttm_totals t = totals(reg);
    assert_int_equal(t.class_count[TTM_CLASS_DUPLICATE_ALLOC], 2);
    assert_int_equal(t.class_count[TTM_CLASS_ALLOC_OK], 2);
    assert_int_equal(t.class_count[TTM_CLASS_FREE_OK], 4);
    assert_int_equal(t.class_count[TTM_CLASS_EXCESS_FREE], 1);
    assert_int_equal(offender_at(reg, TTM_CLASS_DUPLICATE_ALLOC, 0, A).count, 1);
    check_invariants(reg);
}

static void test_alloc_view(void **state)
{
    ttm_registry *reg = *state;
    assert_int_equal(alloc(reg, 1, 0, DRAM, A, 1000, 1, 0, 10), B(ALLOC_OK));
    /* Attached to the owner at the key. */
    assert_int_equal(alloc(reg, 1, 0, DRAM, A, 1000, 2, VIEW, 11), B(ALLOC_VIEW));
    assert_int_equal(live_bytes(reg, 0, DRAM), 1000);
    /* Standing alone (no owner at the key), with a size: still no bytes. */
    assert_int_equal(alloc(reg, 1, 0, DRAM, A2, 500, 3, VIEW, 12), B(ALLOC_VIEW));
    assert_int_equal(alloc(reg, 1, 5, L1, A2, 500, 4, VIEW, 13), B(ALLOC_VIEW));
    ttm_memstat m = mem(reg, 0, DRAM);
    assert_int_equal(m.live_bytes, 1000);
    assert_int_equal(m.live_count, 1);
    assert_int_equal(m.allocs, 1);
    assert_int_equal(m.peak_bytes, 1000);
    assert_int_equal(live_bytes(reg, 5, L1), 0);
    assert_int_equal(mem(reg, 5, L1).peak_bytes, 0);
    assert_int_equal(proc_live_bytes(reg, 1, 0, DRAM), 1000);
    ttm_live rec = {0};
    assert_int_equal(find_live(reg, 1, 0, DRAM, A, 2, &rec), 1);
    assert_true(rec.flags & VIEW);
    ttm_totals t = totals(reg);
    assert_int_equal(t.live_records, 4);
    assert_int_equal(t.class_count[TTM_CLASS_ALLOC_VIEW], 3);
    assert_int_equal(t.class_count[TTM_CLASS_ALLOC_OK], 1);
    assert_int_equal(t.reuse_allocs, 0);
    check_invariants(reg);
}

static void test_overlap_missed_free(void **state)
{
    ttm_registry *reg = *state;
    assert_int_equal(alloc(reg, 1, 0, DRAM, A, 100, 1, 0, 10), B(ALLOC_OK));
    uint32_t mask = alloc(reg, 1, 0, DRAM, A, 300, 2, 0, 20);
    assert_true(mask & B(OVERLAP));
    assert_int_equal(mask & ~(B(OVERLAP) | B(MISSED_FREE)), 0);
    /* The old record is closed and its bytes released; the new one is counted. */
    ttm_memstat m = mem(reg, 0, DRAM);
    assert_int_equal(m.live_bytes, 300);
    assert_int_equal(m.live_count, 1);
    assert_int_equal(m.allocs, 2);
    assert_int_equal(m.frees, 1);
    assert_int_equal(m.peak_bytes, 300);
    assert_int_equal(find_live(reg, 1, 0, DRAM, A, 1, NULL), 0);
    ttm_live rec = {0};
    assert_int_equal(find_live(reg, 1, 0, DRAM, A, 2, &rec), 1);
    assert_int_equal(rec.size, 300);
    assert_int_equal(rec.refs, 1);
    ttm_totals t = totals(reg);
    assert_int_equal(t.live_records, 1);
    assert_int_equal(t.class_count[TTM_CLASS_OVERLAP], 1);
    assert_int_equal(t.class_count[TTM_CLASS_MISSED_FREE], 1);
    assert_int_equal(t.class_count[TTM_CLASS_ALLOC_OK], 1);
    assert_int_equal(offender_at(reg, TTM_CLASS_OVERLAP, 0, A).count, 1);
    assert_int_equal(offender_at(reg, TTM_CLASS_MISSED_FREE, 0, A).count, 1);
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A, 300, 2, 0, 30), B(FREE_OK));
    assert_int_equal(live_bytes(reg, 0, DRAM), 0);
    assert_int_equal(class_count(reg, TTM_CLASS_MISSED_FREE), 1);
    check_invariants(reg);
}

static void test_overlap_other_pid(void **state)
{
    ttm_registry *reg = *state;
    assert_int_equal(alloc(reg, 1, 0, DRAM, A, 100, 1, 0, 10), B(ALLOC_OK));
    assert_int_equal(alloc(reg, 2, 0, DRAM, A, 200, 2, 0, 20), B(OVERLAP));
    /* A process changes only its own records: both stay. */
    assert_int_equal(class_count(reg, TTM_CLASS_MISSED_FREE), 0);
    assert_int_equal(live_bytes(reg, 0, DRAM), 300);
    assert_int_equal(proc_live_bytes(reg, 1, 0, DRAM), 100);
    assert_int_equal(proc_live_bytes(reg, 2, 0, DRAM), 200);
    assert_int_equal(totals(reg).live_records, 2);
    /* A FREE without obj from pid 2 takes pid 2's record. */
    assert_int_equal(dealloc(reg, 2, 0, DRAM, A, 0, 0, 0, 30), B(FREE_OK));
    assert_int_equal(live_bytes(reg, 0, DRAM), 100);
    assert_int_equal(find_live(reg, 1, 0, DRAM, A, 1, NULL), 1);
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A, 0, 0, 0, 40), B(FREE_OK));
    assert_int_equal(live_bytes(reg, 0, DRAM), 0);

    /* No obj on either side, different pids: overlap, not duplicate. */
    assert_int_equal(alloc(reg, 1, 0, L1, A2, 64, 0, 0, 50), B(ALLOC_OK));
    assert_int_equal(alloc(reg, 2, 0, L1, A2, 64, 0, 0, 60), B(OVERLAP));
    assert_int_equal(live_bytes(reg, 0, L1), 128);
    ttm_totals t = totals(reg);
    assert_int_equal(t.class_count[TTM_CLASS_OVERLAP], 2);
    assert_int_equal(t.class_count[TTM_CLASS_DUPLICATE_ALLOC], 0);
    assert_int_equal(t.class_count[TTM_CLASS_MISSED_FREE], 0);
    assert_int_equal(t.live_records, 2);
    check_invariants(reg);
}

static void test_limit(void **state)
{
    (void)state;
    ttm_registry_config cfg = {.max_live_per_pid = 2};
    ttm_registry *reg = open_reg(&cfg);
    assert_int_equal(alloc(reg, 1, 0, DRAM, A, 100, 1, 0, 10), B(ALLOC_OK));
    assert_int_equal(alloc(reg, 1, 0, DRAM, A2, 100, 2, 0, 11), B(ALLOC_OK));
    assert_int_equal(alloc(reg, 1, 0, DRAM, A3, 100, 3, 0, 12), B(LIMIT));
    assert_int_equal(live_bytes(reg, 0, DRAM), 200);
    assert_int_equal(totals(reg).live_records, 2);
    assert_int_equal(find_live(reg, 1, 0, DRAM, A3, 3, NULL), 0);
    /* The limit is per process. */
    assert_int_equal(alloc(reg, 2, 0, DRAM, A3, 100, 4, 0, 13), B(ALLOC_OK));
    /* A release makes room. */
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A, 100, 1, 0, 14), B(FREE_OK));
    assert_int_equal(alloc(reg, 1, 0, L1, A3, 100, 3, 0, 15), B(ALLOC_OK));
    ttm_totals t = totals(reg);
    assert_int_equal(t.class_count[TTM_CLASS_LIMIT], 1);
    assert_int_equal(t.live_records, 3);
    assert_int_equal(offender_at(reg, TTM_CLASS_LIMIT, 0, A3).count, 1);
    assert_int_equal(proc_stats(reg, 1).anomalies, 1);
    assert_int_equal(proc_stats(reg, 1).live_records, 2);
    check_invariants(reg);
    ttm_registry_close(reg);
}

/* ---- the orderings behind the legacy prototype's warnings ----------------------------------- */

/* A MeshBuffer's backing buffer freed before its views: benign, no unknown or excess free. */
static void test_mesh_backing_freed_before_views(void **state)
{
    ttm_registry *reg = *state;
    const uint64_t size = 32ull << 20;
    assert_int_equal(alloc(reg, 1, 0, DRAM, A, size, 100, 0, 10), B(ALLOC_OK));
    for (unsigned i = 0; i < 3; i++)
        assert_int_equal(alloc(reg, 1, 0, DRAM, A, size / 8, 101 + i, VIEW, 11 + i), B(ALLOC_VIEW));
    /* The per-device buffer on a device without the backing buffer stands alone. */
    assert_int_equal(alloc(reg, 1, 1, DRAM, A, size / 8, 110, VIEW, 15), B(ALLOC_VIEW));
    assert_int_equal(live_bytes(reg, 0, DRAM), size);
    assert_int_equal(live_bytes(reg, 1, DRAM), 0);

    assert_int_equal(dealloc(reg, 1, 0, DRAM, A, size, 100, 0, 20), B(FREE_OK));
    assert_int_equal(live_bytes(reg, 0, DRAM), 0);
    for (unsigned i = 0; i < 3; i++)
        assert_int_equal(dealloc(reg, 1, 0, DRAM, A, size / 8, 101 + i, VIEW, 21 + i),
                         B(VIEW_AFTER_OWNER));
    assert_int_equal(dealloc(reg, 1, 1, DRAM, A, size / 8, 110, VIEW, 25), B(FREE_VIEW));

    ttm_totals t = totals(reg);
    assert_int_equal(t.class_count[TTM_CLASS_VIEW_AFTER_OWNER], 3);
    assert_int_equal(t.class_count[TTM_CLASS_FREE_VIEW], 1);
    assert_int_equal(t.class_count[TTM_CLASS_UNKNOWN_FREE], 0);
    assert_int_equal(t.class_count[TTM_CLASS_EXCESS_FREE], 0);
    assert_int_equal(t.class_count[TTM_CLASS_DOUBLE_FREE], 0);
    assert_int_equal(t.live_records, 0);
    assert_int_equal(ttm_registry_offenders(reg, TTM_CLASS__COUNT, NULL, 0), 0);
    check_invariants(reg);
}

/* Views freed that were never reported allocated (only the backing buffer was). */
static void test_views_never_allocated(void **state)
{
    ttm_registry *reg = *state;
    assert_int_equal(alloc(reg, 1, 0, DRAM, A, 4 << 20, 100, 0, 10), B(ALLOC_OK));
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A, 4 << 20, 101, VIEW, 11), B(FREE_VIEW));
    assert_int_equal(live_bytes(reg, 0, DRAM), 4 << 20);
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A, 4 << 20, 100, 0, 12), B(FREE_OK));
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A, 4 << 20, 102, VIEW, 13), B(VIEW_AFTER_OWNER));
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A, 4 << 20, 103, VIEW, 14), B(VIEW_AFTER_OWNER));
    /* On a device where nothing was ever allocated at that address: unknown. */
    assert_int_equal(dealloc(reg, 1, 1, DRAM, A, 4 << 20, 104, VIEW, 15), B(UNKNOWN_FREE));
    ttm_totals t = totals(reg);
    assert_int_equal(t.class_count[TTM_CLASS_FREE_VIEW], 1);
    assert_int_equal(t.class_count[TTM_CLASS_VIEW_AFTER_OWNER], 2);
    assert_int_equal(t.class_count[TTM_CLASS_UNKNOWN_FREE], 1);
    assert_int_equal(t.class_count[TTM_CLASS_EXCESS_FREE], 0);
    assert_int_equal(t.class_count[TTM_CLASS_DOUBLE_FREE], 0);
    assert_int_equal(live_bytes(reg, 0, DRAM), 0);
    assert_int_equal(t.live_records, 0);
    check_invariants(reg);
}

/* One address reused by many successive buffers, then freed 1,000 more times than allocated. */
static void test_reused_address_excess_frees(void **state)
{
    ttm_registry *reg = *state;
    const uint32_t pid = 4242;
    const uint64_t addr = 0x1e0000;
    const uint64_t sizes[3] = {512, 8192, 262144};
    uint64_t ts = 1;
    for (unsigned i = 0; i < 50; i++) {
        uint64_t size = sizes[i % 3];
        assert_int_equal(alloc(reg, pid, 2, DRAM, addr, size, 1 + i, 0, ts++), B(ALLOC_OK));
        assert_int_equal(dealloc(reg, pid, 2, DRAM, addr, size, 1 + i, 0, ts++), B(FREE_OK));
    }
    const uint64_t first = ts;
    for (unsigned i = 0; i < 1000; i++)
        assert_int_equal(dealloc(reg, pid, 2, DRAM, addr, 0, 0, 0, ts++), B(EXCESS_FREE));

    ttm_totals t = totals(reg);
    assert_int_equal(t.class_count[TTM_CLASS_EXCESS_FREE], 1000);
    assert_int_equal(t.class_count[TTM_CLASS_UNKNOWN_FREE], 0);
    assert_int_equal(t.class_count[TTM_CLASS_DOUBLE_FREE], 0);
    assert_int_equal(t.class_count[TTM_CLASS_ALLOC_OK], 50);
    assert_int_equal(t.class_count[TTM_CLASS_FREE_OK], 50);
    assert_int_equal(t.reuse_allocs, 49);
    assert_int_equal(t.reuse_size_changes, 49);
    assert_int_equal(dev_stats(reg, 2).class_count[TTM_CLASS_EXCESS_FREE], 1000);
    assert_int_equal(live_bytes(reg, 2, DRAM), 0);

    ttm_offender top[2];
    memset(top, 0, sizeof top);
    assert_int_equal(ttm_registry_offenders(reg, TTM_CLASS_EXCESS_FREE, top, 2), 1);
    assert_int_equal(top[0].cls, TTM_CLASS_EXCESS_FREE);
    assert_int_equal(top[0].count, 1000);
    assert_int_equal(top[0].device, 2);
    assert_int_equal(top[0].addr, addr);
    assert_int_equal(top[0].memtype, DRAM);
    assert_int_equal(top[0].first_ts, first);
    assert_int_equal(top[0].last_ts, ts - 1);
    assert_int_equal(top[0].npids, 1);
    assert_int_equal(top[0].pids[0], pid);
    assert_false(top[0].more_pids);
    /* Also first among every anomaly class. */
    assert_int_equal(ttm_registry_offenders(reg, TTM_CLASS__COUNT, top, 1), 1);
    assert_int_equal(top[0].count, 1000);
    assert_int_equal(proc_stats(reg, pid).anomalies, 1000);
    check_invariants(reg);
}

/* Frees that do not give the memtype. */
static void test_free_any_memtype(void **state)
{
    ttm_registry *reg = *state;
    assert_int_equal(alloc(reg, 1, 0, L1, A, 256, 0, 0, 10), B(ALLOC_OK));
    assert_int_equal(alloc(reg, 1, 0, TRACE, A2, 1 << 20, 0, 0, 11), B(ALLOC_OK));
    assert_int_equal(alloc(reg, 1, 0, SYS, A3, 4096, 0, 0, 12), B(ALLOC_OK));
    assert_int_equal(alloc(reg, 1, 0, KERNEL, A3 + 0x1000, 204800, 0, 0, 13), B(ALLOC_OK));
    assert_int_equal(dealloc(reg, 1, 0, ANY, A, 0, 0, 0, 20), B(FREE_OK));
    assert_int_equal(live_bytes(reg, 0, L1), 0);
    assert_int_equal(dealloc(reg, 1, 0, ANY, A2, 0, 0, 0, 21), B(FREE_OK));
    assert_int_equal(live_bytes(reg, 0, TRACE), 0);
    assert_int_equal(dealloc(reg, 1, 0, ANY, A3, 0, 0, 0, 22), B(FREE_OK));
    assert_int_equal(live_bytes(reg, 0, SYS), 0);
    assert_int_equal(dealloc(reg, 1, 0, ANY, A3 + 0x1000, 204800, 0, 0, 23), B(FREE_OK));
    assert_int_equal(live_bytes(reg, 0, KERNEL), 0);
    /* Never allocated in any space. */
    assert_int_equal(dealloc(reg, 1, 0, ANY, 0x999000, 0, 0, 0, 24), B(UNKNOWN_FREE));
    /* Allocated earlier, nothing live, no obj. */
    assert_int_equal(dealloc(reg, 1, 0, ANY, A, 0, 0, 0, 25), B(EXCESS_FREE));
    ttm_totals t = totals(reg);
    assert_int_equal(t.class_count[TTM_CLASS_FREE_OK], 4);
    assert_int_equal(t.class_count[TTM_CLASS_UNKNOWN_FREE], 1);
    assert_int_equal(t.class_count[TTM_CLASS_EXCESS_FREE], 1);
    assert_int_equal(t.class_count[TTM_CLASS_AMBIGUOUS_FREE], 0);
    assert_int_equal(t.live_records, 0);
    check_invariants(reg);
}

/* The same address on two devices: two independent keys. */
static void test_same_addr_two_devices(void **state)
{
    ttm_registry *reg = *state;
    assert_int_equal(alloc(reg, 1, 0, DRAM, A, 1000, 0, 0, 10), B(ALLOC_OK));
    assert_int_equal(alloc(reg, 1, 1, DRAM, A, 2000, 0, 0, 11), B(ALLOC_OK));
    assert_int_equal(live_bytes(reg, 0, DRAM), 1000);
    assert_int_equal(live_bytes(reg, 1, DRAM), 2000);
    assert_int_equal(dealloc(reg, 1, 1, DRAM, A, 2000, 0, 0, 12), B(FREE_OK));
    assert_int_equal(live_bytes(reg, 0, DRAM), 1000);
    assert_int_equal(live_bytes(reg, 1, DRAM), 0);
    assert_int_equal(dealloc(reg, 1, 1, DRAM, A, 2000, 0, 0, 13), B(EXCESS_FREE));
    assert_int_equal(live_bytes(reg, 0, DRAM), 1000);
    assert_int_equal(dealloc(reg, 1, 2, DRAM, A, 2000, 0, 0, 14), B(UNKNOWN_FREE));
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A, 1000, 0, 0, 15), B(FREE_OK));
    assert_int_equal(live_bytes(reg, 0, DRAM), 0);
    assert_int_equal(dev_stats(reg, 0).class_count[TTM_CLASS_FREE_OK], 1);
    assert_int_equal(dev_stats(reg, 1).class_count[TTM_CLASS_FREE_OK], 1);
    assert_int_equal(dev_stats(reg, 1).class_count[TTM_CLASS_EXCESS_FREE], 1);
    assert_int_equal(dev_stats(reg, 0).class_count[TTM_CLASS_EXCESS_FREE], 0);
    assert_int_equal(dev_stats(reg, 2).class_count[TTM_CLASS_UNKNOWN_FREE], 1);
    check_invariants(reg);
}

/* pid 7 leaves three owning records (one with two references) and two views; pid 8 stays. */
static void exit_scenario(ttm_registry *reg)
{
    assert_int_equal(alloc(reg, 7, 0, DRAM, 0x3000, 300, 1, 0, 10), B(ALLOC_OK));
    assert_int_equal(alloc(reg, 8, 0, DRAM, 0x9000, 50, 1, 0, 12), B(ALLOC_OK));
    assert_int_equal(alloc(reg, 7, 0, DRAM, 0x5000, 999, 2, 0, 15), B(ALLOC_OK));
    assert_int_equal(dealloc(reg, 7, 0, DRAM, 0x5000, 999, 2, 0, 16), B(FREE_OK));
    assert_int_equal(alloc(reg, 7, 1, L1, 0x1000, 100, 3, 0, 20), B(ALLOC_OK));
    assert_int_equal(alloc(reg, 7, 0, DRAM, 0x2000, 200, 4, 0, 30), B(ALLOC_OK));
    assert_int_equal(alloc(reg, 7, 0, DRAM, 0x2000, 200, 4, 0, 31), B(DUPLICATE_ALLOC));
    assert_int_equal(alloc(reg, 7, 0, DRAM, 0x3000, 300, 5, VIEW, 40), B(ALLOC_VIEW));
    assert_int_equal(alloc(reg, 7, 2, DRAM, 0x7000, 64, 6, VIEW, 41), B(ALLOC_VIEW));
    assert_int_equal(totals(reg).live_records, 6);
    assert_int_equal(live_bytes(reg, 0, DRAM), 550);
}

static void check_exit_scenario(ttm_registry *reg)
{
    ttm_totals t = totals(reg);
    assert_int_equal(t.class_count[TTM_CLASS_LEAKED_AT_EXIT], 3);
    assert_int_equal(t.class_bytes[TTM_CLASS_LEAKED_AT_EXIT], 600);
    assert_int_equal(t.live_records, 1);
    /* Views at exit are not leaks and get no class. */
    assert_int_equal(t.class_count[TTM_CLASS_VIEW_AFTER_OWNER], 0);
    assert_int_equal(t.class_count[TTM_CLASS_FREE_VIEW], 0);

    ttm_device_stats d0 = dev_stats(reg, 0), d1 = dev_stats(reg, 1);
    assert_int_equal(d0.class_count[TTM_CLASS_LEAKED_AT_EXIT], 2);
    assert_int_equal(d0.class_bytes[TTM_CLASS_LEAKED_AT_EXIT], 500);
    assert_int_equal(d1.class_count[TTM_CLASS_LEAKED_AT_EXIT], 1);
    assert_int_equal(d1.class_bytes[TTM_CLASS_LEAKED_AT_EXIT], 100);
    /* Reclaimed: only pid 8's buffer is left. */
    assert_int_equal(d0.mem[DRAM].live_bytes, 50);
    assert_int_equal(d0.mem[DRAM].live_count, 1);
    assert_int_equal(d0.mem[DRAM].frees, 3);
    assert_int_equal(d0.mem[DRAM].peak_bytes, 1349);
    assert_int_equal(d1.mem[L1].live_bytes, 0);
    assert_int_equal(d1.mem[L1].live_count, 0);
    assert_int_equal(d1.mem[L1].frees, 1);

    ttm_leak leaks[8];
    memset(leaks, 0, sizeof leaks);
    assert_int_equal(ttm_registry_leaks(reg, leaks, 8), 3);
    const uint64_t addr[3] = {0x3000, 0x1000, 0x2000};
    const uint64_t size[3] = {300, 100, 200};
    const uint64_t obj[3] = {1, 3, 4};
    const uint64_t ts[3] = {10, 20, 30};
    const uint16_t dev[3] = {0, 1, 0};
    const uint8_t type[3] = {DRAM, L1, DRAM};
    for (unsigned i = 0; i < 3; i++) {
        assert_int_equal(leaks[i].pid, 7);
        assert_int_equal(leaks[i].device, dev[i]);
        assert_int_equal(leaks[i].memtype, type[i]);
        assert_int_equal(leaks[i].addr, addr[i]);
        assert_int_equal(leaks[i].size, size[i]);
        assert_int_equal(leaks[i].obj, obj[i]);
        assert_int_equal(leaks[i].alloc_ts, ts[i]);
        assert_int_equal(leaks[i].exit_ts, 100);
    }
    /* cap smaller than the list. */
    assert_int_equal(ttm_registry_leaks(reg, leaks, 1), 3);
    assert_int_equal(ttm_registry_leaks(reg, NULL, 0), 3);

    ttm_proc_stats p7 = proc_stats(reg, 7);
    assert_false(p7.alive);
    assert_int_equal(p7.exit_ts, 100);
    assert_int_equal(p7.live_records, 0);
    assert_int_equal(p7.leaked_count, 3);
    assert_int_equal(p7.leaked_bytes, 600);
    const ttm_proc_mem *pm = proc_dev(&p7, 0);
    if (pm != NULL)
        assert_int_equal(pm->mem[DRAM].live_bytes, 0);
    pm = proc_dev(&p7, 1);
    if (pm != NULL)
        assert_int_equal(pm->mem[L1].live_bytes, 0);
    ttm_proc_stats p8 = proc_stats(reg, 8);
    assert_true(p8.alive);
    assert_int_equal(p8.leaked_count, 0);
    assert_int_equal(p8.live_records, 1);

    assert_int_equal(offender_at(reg, TTM_CLASS_LEAKED_AT_EXIT, 0, 0x2000).count, 1);
    assert_int_equal(ttm_registry_offenders(reg, TTM_CLASS_LEAKED_AT_EXIT, NULL, 0), 3);
    check_invariants(reg);
}

static void test_process_exit_leaks(void **state)
{
    ttm_registry *reg = *state;
    exit_scenario(reg);
    ttm_registry_process_exit(reg, 7, 100);
    check_exit_scenario(reg);
}

static void test_proc_exit_event(void **state)
{
    ttm_registry *reg = *state;
    exit_scenario(reg);
    ttm_event ev = util_event(TTM_EV_PROC_EXIT, 0, 0, 0, 0, 0, 0, 100);
    assert_int_equal(ttm_registry_apply(reg, 7, &ev), 0);
    check_exit_scenario(reg);
}

/* The leak list is ordered by allocation time across exits. */
static void test_leaks_sorted_across_exits(void **state)
{
    ttm_registry *reg = *state;
    assert_int_equal(alloc(reg, 2, 0, DRAM, 0x2000, 20, 0, 0, 5), B(ALLOC_OK));
    assert_int_equal(alloc(reg, 1, 0, DRAM, 0x1000, 10, 0, 0, 10), B(ALLOC_OK));
    assert_int_equal(alloc(reg, 2, 0, L1, 0x3000, 30, 0, 0, 15), B(ALLOC_OK));
    ttm_registry_process_exit(reg, 1, 50);
    ttm_registry_process_exit(reg, 2, 60);
    ttm_leak leaks[4];
    memset(leaks, 0, sizeof leaks);
    assert_int_equal(ttm_registry_leaks(reg, leaks, 4), 3);
    assert_int_equal(leaks[0].alloc_ts, 5);
    assert_int_equal(leaks[0].pid, 2);
    assert_int_equal(leaks[1].alloc_ts, 10);
    assert_int_equal(leaks[1].pid, 1);
    assert_int_equal(leaks[1].exit_ts, 50);
    assert_int_equal(leaks[2].alloc_ts, 15);
    assert_int_equal(leaks[2].exit_ts, 60);
    assert_int_equal(class_count(reg, TTM_CLASS_LEAKED_AT_EXIT), 3);
    assert_int_equal(live_bytes(reg, 0, DRAM), 0);
    assert_int_equal(live_bytes(reg, 0, L1), 0);
    check_invariants(reg);
}

/* The leak list is bounded; the count is not. */
static void test_leaks_list_bound(void **state)
{
    (void)state;
    ttm_registry_config cfg = {.max_leaks_listed = 2};
    ttm_registry *reg = open_reg(&cfg);
    for (unsigned i = 0; i < 5; i++)
        assert_int_equal(alloc(reg, 3, 0, DRAM, 0x1000 * (i + 1), 10, 0, 0, 10 + i), B(ALLOC_OK));
    ttm_registry_process_exit(reg, 3, 100);
    assert_int_equal(class_count(reg, TTM_CLASS_LEAKED_AT_EXIT), 5);
    assert_int_equal(ttm_registry_leaks(reg, NULL, 0), 2);
    ttm_proc_stats p = proc_stats(reg, 3);
    assert_int_equal(p.leaked_count, 5);
    assert_int_equal(p.leaked_bytes, 50);
    assert_int_equal(live_bytes(reg, 0, DRAM), 0);
    check_invariants(reg);
    ttm_registry_close(reg);
}


/* ---- exits in steps ------------------------------------------------------------------------ */

#define BIG_LIVE 100000u

/* An exit visits only the exiting process's records: a process holding 3 buffers and a view
 * exits in one step that goes through 4 records, however many another process holds. */
static void test_exit_cost_own_records(void **state)
{
    ttm_registry *reg = *state;
    for (uint32_t i = 0; i < BIG_LIVE; i++)
        assert_int_equal(alloc(reg, 1, (uint16_t)(i % 4), DRAM, 0x100000 + (uint64_t)i * 64, 64,
                               0, 0, 1 + i),
                         B(ALLOC_OK));
    for (uint64_t k = 0; k < 3; k++)
        assert_int_equal(alloc(reg, 2, 0, L1, 0x1000 + k * 0x100, 16, 0, 0, 200000 + k),
                         B(ALLOC_OK));
    assert_int_equal(alloc(reg, 2, 0, L1, 0x1000, 0, 0, VIEW, 200010), B(ALLOC_VIEW));
    ttm_exit_progress pr;
    assert_true(ttm_registry_process_exit_step(reg, 2, 300000, SIZE_MAX, &pr));
    assert_int_equal(pr.visited, 4);
    assert_int_equal(pr.leaked_count, 3);
    assert_int_equal(pr.leaked_bytes, 48);
    assert_false(ttm_registry_process_settling(reg, 2));
    assert_false(proc_stats(reg, 2).alive);
    assert_int_equal(totals(reg).live_records, BIG_LIVE);
    /* the same again, with the big process exited first: the small one costs the same */
    assert_true(ttm_registry_process_exit_step(reg, 1, 300001, SIZE_MAX, &pr));
    assert_int_equal(pr.visited, BIG_LIVE);
    for (uint64_t k = 0; k < 3; k++)
        assert_int_equal(alloc(reg, 3, 0, L1, 0x1000 + k * 0x100, 16, 0, 0, 400000 + k),
                         B(ALLOC_OK));
    assert_true(ttm_registry_process_exit_step(reg, 3, 500000, SIZE_MAX, &pr));
    assert_int_equal(pr.visited, 3);
    assert_int_equal(totals(reg).live_records, 0);
    check_invariants(reg);
}

/* An exit settled in budgeted steps: each step settles at most the budget, the oldest
 * records first; between steps the statistics, the leak list and the offenders are
 * consistent, the process is alive with what is left; the end is the whole exit's. */
static void test_exit_steps_consistent(void **state)
{
    ttm_registry *reg = *state;
    ttm_registry_config cfg = {.max_leaks_listed = 8};
    ttm_registry *whole = open_reg(&cfg), *steps = open_reg(&cfg);
    (void)reg;
    const unsigned n = 50, budget = 7;
    for (ttm_registry *r = whole; r != NULL; r = r == whole ? steps : NULL) {
        for (unsigned i = 0; i < n; i++) {
            /* ts descending with the address: the leak list sorts by time */
            assert_int_equal(alloc(r, 5, (uint16_t)(i % 2), DRAM, 0x10000 + i * 0x100, 100 + i,
                                   0, 0, 1000 - i),
                             B(ALLOC_OK));
            if (i % 10 == 0)
                assert_int_equal(alloc(r, 5, (uint16_t)(i % 2), DRAM, 0x10000 + i * 0x100, 0, 0,
                                       VIEW, 2000 + i),
                                 B(ALLOC_VIEW));
        }
        assert_int_equal(alloc(r, 6, 0, DRAM, 0x900000, 4096, 0, 0, 3000), B(ALLOC_OK));
    }
    ttm_registry_process_exit(whole, 5, 5000);

    uint64_t settled = 0, bytes = 0, records = totals(steps).live_records;
    unsigned calls = 0;
    for (;;) {
        ttm_exit_progress pr;
        /* later ts are ignored: the exit's time is the first step's */
        bool done = ttm_registry_process_exit_step(steps, 5, 5000 + calls, budget, &pr);
        calls++;
        assert_true(pr.visited <= budget);
        records -= pr.visited;
        assert_int_equal(totals(steps).live_records, records);
        check_invariants(steps);
        ttm_proc_stats ps = proc_stats(steps, 5);
        assert_true(pr.leaked_count >= settled);
        settled = pr.leaked_count;
        bytes = pr.leaked_bytes;
        assert_int_equal(ps.leaked_count, settled);
        assert_int_equal(ps.leaked_bytes, bytes);
        assert_int_equal(class_count(steps, TTM_CLASS_LEAKED_AT_EXIT), settled);
        assert_int_equal(ttm_registry_offenders(steps, TTM_CLASS_LEAKED_AT_EXIT, NULL, 0),
                         settled);
        size_t nl = ttm_registry_leaks(steps, NULL, 0);
        assert_int_equal(nl, settled < 8 ? settled : 8);
        ttm_leak leaks[8];
        ttm_registry_leaks(steps, leaks, 8);
        for (size_t i = 0; i < nl; i++) {
            assert_int_equal(leaks[i].exit_ts, 5000);
            if (i > 0)
                assert_true(leaks[i - 1].alloc_ts <= leaks[i].alloc_ts);
        }
        if (done) {
            assert_false(ps.alive);
            assert_false(ttm_registry_process_settling(steps, 5));
            break;
        }
        assert_true(ps.alive);
        assert_true(ttm_registry_process_settling(steps, 5));
        assert_int_equal(pr.visited, budget);
        assert_int_equal(ps.live_records, records - 1); /* pid 6's one */
    }
    assert_int_equal(calls, (n + n / 10 + budget - 1) / budget);
    assert_int_equal(settled, n);
    /* the oldest records first: the first step settled the first made */
    ttm_leak lw[8], ls[8];
    assert_int_equal(ttm_registry_leaks(whole, lw, 8), 8);
    assert_int_equal(ttm_registry_leaks(steps, ls, 8), 8);
    assert_memory_equal(lw, ls, sizeof lw);
    ttm_totals tw = totals(whole), tsx = totals(steps);
    assert_memory_equal(&tw, &tsx, sizeof tw);
    ttm_proc_stats pw = proc_stats(whole, 5), pst = proc_stats(steps, 5);
    assert_int_equal(pw.leaked_bytes, pst.leaked_bytes);
    assert_int_equal(pw.exit_ts, pst.exit_ts);
    assert_int_equal(ttm_registry_process_forget(steps, 5), TTM_OK);
    ttm_registry_close(whole);
    ttm_registry_close(steps);
}

/* A process that exits in steps cannot be forgotten half way (it is alive until the end). */
static void test_exit_steps_forget(void **state)
{
    ttm_registry *reg = *state;
    for (unsigned i = 0; i < 10; i++)
        assert_int_equal(alloc(reg, 9, 0, DRAM, 0x1000 + i * 0x100, 8, 0, 0, 1 + i), B(ALLOC_OK));
    assert_false(ttm_registry_process_exit_step(reg, 9, 100, 4, NULL));
    assert_int_equal(ttm_registry_process_forget(reg, 9), TTM_EINVAL);
    assert_false(ttm_registry_process_exit_step(reg, 9, 100, 4, NULL));
    assert_true(ttm_registry_process_exit_step(reg, 9, 100, 4, NULL));
    assert_int_equal(ttm_registry_process_forget(reg, 9), TTM_OK);
    /* a budget of 0 settles nothing; an exit with nothing left is done at once */
    assert_int_equal(alloc(reg, 10, 0, DRAM, 0x9000, 8, 0, 0, 200), B(ALLOC_OK));
    assert_false(ttm_registry_process_exit_step(reg, 10, 300, 0, NULL));
    assert_true(ttm_registry_process_exit_step(reg, 10, 300, 1, NULL));
    assert_true(ttm_registry_process_exit_step(reg, 11, 300, 0, NULL));
    check_invariants(reg);
}

/* Records made while the process table was full (orphans) are reclaimed at their exit too. */
static void test_exit_orphans(void **state)
{
    (void)state;
    ttm_registry_config cfg = {.max_processes = 1};
    ttm_registry *reg = open_reg(&cfg);
    assert_int_equal(alloc(reg, 1, 0, DRAM, 0x1000, 8, 0, 0, 1), B(ALLOC_OK));
    assert_int_equal(alloc(reg, 2, 0, DRAM, 0x2000, 8, 0, 0, 2), B(ALLOC_OK));
    assert_int_equal(alloc(reg, 2, 0, DRAM, 0x3000, 8, 0, 0, 3), B(ALLOC_OK));
    assert_int_equal(alloc(reg, 3, 0, DRAM, 0x4000, 8, 0, 0, 4), B(ALLOC_OK));
    assert_true(totals(reg).processes_dropped > 0);
    assert_int_equal(dealloc(reg, 2, 0, DRAM, 0x2000, 8, 0, 0, 5), B(FREE_OK));
    ttm_exit_progress pr;
    assert_true(ttm_registry_process_exit_step(reg, 2, 10, 1, &pr));
    assert_int_equal(pr.leaked_count, 1);
    assert_int_equal(pr.visited, 2); /* the orphans walked: pid 2's and pid 3's */
    assert_int_equal(totals(reg).live_records, 2);
    ttm_registry_process_exit(reg, 3, 11);
    ttm_registry_process_exit(reg, 1, 12);
    assert_int_equal(totals(reg).live_records, 0);
    assert_int_equal(class_count(reg, TTM_CLASS_LEAKED_AT_EXIT), 3);
    assert_int_equal(live_bytes(reg, 0, DRAM), 0);
    ttm_registry_close(reg);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_free_ok),
        T(test_free_view),
        T(test_free_view_unmatched_live_owner),
        T(test_view_after_owner_live_view),
        T(test_view_after_owner_unmatched),
        T(test_double_free),
        T(test_excess_free),
        T(test_unknown_free),
        T(test_offenders_top_k),
        T(test_foreign_free),
        T(test_size_mismatch),
        T(test_ambiguous_free),
        T(test_free_match_preference),
        T(test_invalid_events),
        T(test_invalid_kind),
        T(test_alloc_ok),
        T(test_duplicate_alloc),
        T(test_alloc_view),
        T(test_overlap_missed_free),
        T(test_overlap_other_pid),
        cmocka_unit_test(test_limit),
        T(test_mesh_backing_freed_before_views),
        T(test_views_never_allocated),
        T(test_reused_address_excess_frees),
        T(test_free_any_memtype),
        T(test_same_addr_two_devices),
        T(test_process_exit_leaks),
        T(test_proc_exit_event),
        T(test_leaks_sorted_across_exits),
        cmocka_unit_test(test_leaks_list_bound),
        T(test_exit_cost_own_records),
        T(test_exit_steps_consistent),
        T(test_exit_steps_forget),
        cmocka_unit_test(test_exit_orphans),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
