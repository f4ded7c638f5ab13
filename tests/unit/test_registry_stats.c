/*
 * test_registry_stats.c — unit tests of the core registry's statistics and bookkeeping: live and
 * peak bytes per (device, memtype) and per space, per-process figures, capacities from
 * DEVICE_INFO and architecture profiles, reuse counters, offender tables and their bounds, the
 * other bounded tables, class names, control events, allocation failure at every allocation,
 * and the memory budget per live buffer (docs/ARCHITECTURE.md, the budgets: ≤ 64 bytes).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "common/arch.h"
#include "registry_util.h"


static uint32_t device_info(ttm_registry *reg, uint16_t dev, uint64_t dram, uint64_t l1,
                            unsigned arch, uint64_t ts)
{
    ttm_event ev = util_event(TTM_EV_DEVICE_INFO, dev, 0, 0, 0, 0, 0, ts);
    ev.dram_capacity = dram;
    ev.l1_capacity = l1;
    ev.arch = arch;
    ev.worker_cores = 64;
    ev.l1_per_core = (uint32_t)(l1 / 64);
    ev.dram_channels = 12;
    return ttm_registry_apply(reg, 0, &ev);
}


/* Issue 9, item 6: a DEVICE_INFO that names an architecture and leaves a capacity 0 gets that
 * capacity from the architecture's profile (ttmem.h: 0 = the profile's), space by space, and
 * the device's own architecture wins over the default one. */
static void test_device_info_profile_capacity(void **state)
{
    ttm_registry *reg = *state;
    const ttm_arch_profile *wh = ttm__arch_profile(TTM_ARCH_WORMHOLE_B0);
    const ttm_arch_profile *bh = ttm__arch_profile(TTM_ARCH_BLACKHOLE);
    assert_int_equal(device_info(reg, 0, 0, 0, TTM_ARCH_WORMHOLE_B0, 1), 0);
    ttm_device_stats d = dev_stats(reg, 0);
    assert_int_equal(d.arch, TTM_ARCH_WORMHOLE_B0);
    assert_int_equal(d.capacity[TTM_SPACE_DRAM], ttm__arch_dram_bytes(wh));
    assert_int_equal(d.capacity[TTM_SPACE_L1], ttm__arch_l1_bytes(wh));
    /* DRAM given, L1 0: L1 from the profile */
    assert_int_equal(device_info(reg, 1, 5ull << 30, 0, TTM_ARCH_BLACKHOLE, 2), 0);
    d = dev_stats(reg, 1);
    assert_int_equal(d.capacity[TTM_SPACE_DRAM], 5ull << 30);
    assert_int_equal(d.capacity[TTM_SPACE_L1], ttm__arch_l1_bytes(bh));
    /* L1 given, DRAM 0: DRAM from the profile */
    assert_int_equal(device_info(reg, 2, 0, 12345, TTM_ARCH_BLACKHOLE, 3), 0);
    d = dev_stats(reg, 2);
    assert_int_equal(d.capacity[TTM_SPACE_DRAM], ttm__arch_dram_bytes(bh));
    assert_int_equal(d.capacity[TTM_SPACE_L1], 12345);
    /* a default architecture set later does not override what a device said it is */
    ttm_registry_set_default_arch(reg, TTM_ARCH_GRAYSKULL);
    d = dev_stats(reg, 0);
    assert_int_equal(d.arch, TTM_ARCH_WORMHOLE_B0);
    assert_int_equal(d.capacity[TTM_SPACE_DRAM], ttm__arch_dram_bytes(wh));
    /* a device first given the default profile, then describing itself, takes its own */
    assert_int_equal(alloc(reg, 1, 4, DRAM, A, 64, 0, 0, 4), B(ALLOC_OK));
    assert_int_equal(dev_stats(reg, 4).arch, TTM_ARCH_GRAYSKULL);
    assert_int_equal(device_info(reg, 4, 0, 0, TTM_ARCH_BLACKHOLE, 5), 0);
    d = dev_stats(reg, 4);
    assert_int_equal(d.arch, TTM_ARCH_BLACKHOLE);
    assert_int_equal(d.capacity[TTM_SPACE_DRAM], ttm__arch_dram_bytes(bh));
    assert_int_equal(d.capacity[TTM_SPACE_L1], ttm__arch_l1_bytes(bh));
}

/* Issue 9, item 7: two allocations of 2^64-1 bytes and one of 2 once summed to 0. Sizes no
 * device holds are OVERSIZE (rejected, counted, no bytes), and byte sums saturate. */
static void test_oversize_and_saturation(void **state)
{
    ttm_registry *reg = *state;
    assert_int_equal(alloc(reg, 1, 0, DRAM, A, UINT64_MAX, 1, 0, 1), B(OVERSIZE));
    assert_int_equal(alloc(reg, 1, 0, DRAM, A2, UINT64_MAX, 2, 0, 2), B(OVERSIZE));
    assert_int_equal(alloc(reg, 1, 0, DRAM, A3, 2, 3, 0, 3), B(ALLOC_OK));
    assert_int_equal(live_bytes(reg, 0, DRAM), 2);
    assert_int_equal(mem(reg, 0, DRAM).live_count, 1);
    assert_int_equal(proc_live_bytes(reg, 1, 0, DRAM), 2);
    ttm_totals t = totals(reg);
    assert_int_equal(t.class_count[TTM_CLASS_OVERSIZE], 2);
    assert_int_equal(t.class_bytes[TTM_CLASS_OVERSIZE], 0);
    assert_int_equal(t.live_records, 1);
    assert_int_equal(offender_at(reg, TTM_CLASS_OVERSIZE, 0, A).count, 1);
    /* a free of an impossible size is rejected as well; the record stays */
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A3, UINT64_MAX, 3, 0, 4), B(OVERSIZE));
    assert_int_equal(dealloc(reg, 1, 0, ANY, A3, UINT64_MAX, 3, 0, 5), B(OVERSIZE));
    assert_int_equal(live_bytes(reg, 0, DRAM), 2);

    /* the bound: the largest profile's capacity of the space times the margin */
    uint64_t dmax = ttm_registry_size_max(reg, 0, TTM_SPACE_DRAM);
    uint64_t lmax = ttm_registry_size_max(reg, 0, TTM_SPACE_L1);
    assert_true(dmax >= 16 * ttm__arch_dram_bytes(ttm__arch_profile(TTM_ARCH_BLACKHOLE)));
    assert_true(lmax >= 16 * ttm__arch_l1_bytes(ttm__arch_profile(TTM_ARCH_BLACKHOLE)));
    assert_int_equal(alloc(reg, 1, 0, DRAM, 0x10000000, dmax, 4, 0, 6), B(ALLOC_OK));
    assert_int_equal(alloc(reg, 1, 0, DRAM, 0x20000000, dmax + 1, 5, 0, 7), B(OVERSIZE));
    assert_int_equal(alloc(reg, 1, 0, L1, 0x1000, lmax + 1, 6, 0, 8), B(OVERSIZE));
    assert_int_equal(alloc(reg, 1, 0, SYS, 0x1000, lmax + 1, 7, 0, 9), B(ALLOC_OK));
    /* a device that says it has more raises its own bound */
    ttm_registry_set_capacity(reg, 5, TTM_SPACE_L1, lmax * 2);
    assert_int_equal(alloc(reg, 1, 5, L1, 0x1000, lmax + 1, 8, 0, 10), B(ALLOC_OK));
    check_invariants(reg);

    /* sums saturate instead of wrapping: many maximal buffers in every DRAM memtype */
    ttm_registry_set_capacity(reg, 6, TTM_SPACE_DRAM, UINT64_MAX / 2);
    assert_int_equal(alloc(reg, 1, 6, DRAM, 0x1000, UINT64_MAX / 2, 10, 0, 11), B(ALLOC_OK));
    assert_int_equal(alloc(reg, 1, 6, DRAM, 0x2000, UINT64_MAX / 2, 11, 0, 12), B(ALLOC_OK));
    assert_int_equal(alloc(reg, 1, 6, DRAM, 0x3000, UINT64_MAX / 2, 12, 0, 13), B(ALLOC_OK));
    assert_int_equal(alloc(reg, 1, 6, TRACE, 0x4000, UINT64_MAX / 2, 13, 0, 14), B(ALLOC_OK));
    ttm_device_stats d = dev_stats(reg, 6);
    assert_true(d.mem[DRAM].live_bytes == UINT64_MAX);
    assert_true(d.mem[DRAM].peak_bytes == UINT64_MAX);
    assert_true(ttm_device_space_used(&d, TTM_SPACE_DRAM) == UINT64_MAX);
    assert_true(d.space_peak[TTM_SPACE_DRAM] == UINT64_MAX);
    assert_true(d.class_bytes[TTM_CLASS_ALLOC_OK] == UINT64_MAX);
    assert_true(proc_live_bytes(reg, 1, 6, DRAM) == UINT64_MAX);
    ttm_registry_process_exit(reg, 1, 20);
    ttm_proc_stats ps = proc_stats(reg, 1);
    assert_true(ps.leaked_bytes == UINT64_MAX);
    assert_true(totals(reg).class_bytes[TTM_CLASS_LEAKED_AT_EXIT] == UINT64_MAX);
}

/* ---- statistics --------------------------------------------------------------------------- */

static void test_memstat_live_peak(void **state)
{
    ttm_registry *reg = *state;
    assert_int_equal(alloc(reg, 1, 0, DRAM, 0x1000, 100, 1, 0, 1), B(ALLOC_OK));
    assert_int_equal(alloc(reg, 1, 0, DRAM, 0x2000, 200, 2, 0, 2), B(ALLOC_OK));
    assert_int_equal(dealloc(reg, 1, 0, DRAM, 0x1000, 100, 1, 0, 3), B(FREE_OK));
    assert_int_equal(alloc(reg, 1, 0, DRAM, 0x3000, 50, 3, 0, 4), B(ALLOC_OK));
    ttm_memstat m = mem(reg, 0, DRAM);
    assert_int_equal(m.live_bytes, 250);
    assert_int_equal(m.live_count, 2);
    assert_int_equal(m.peak_bytes, 300);
    assert_int_equal(m.peak_ts, 2);
    assert_int_equal(m.allocs, 3);
    assert_int_equal(m.frees, 1);
    /* A new peak moves it. */
    assert_int_equal(alloc(reg, 1, 0, DRAM, 0x4000, 100, 4, 0, 5), B(ALLOC_OK));
    m = mem(reg, 0, DRAM);
    assert_int_equal(m.live_bytes, 350);
    assert_int_equal(m.peak_bytes, 350);
    assert_int_equal(m.peak_ts, 5);
    /* Other memtypes of the device are untouched. */
    ttm_device_stats d = dev_stats(reg, 0);
    for (unsigned t = 0; t < TTM_MEMTYPE_COUNT; t++) {
        if (t == DRAM)
            continue;
        assert_int_equal(d.mem[t].live_bytes, 0);
        assert_int_equal(d.mem[t].peak_bytes, 0);
        assert_int_equal(d.mem[t].allocs, 0);
    }
    /* The same figures per process. */
    ttm_proc_stats p = proc_stats(reg, 1);
    const ttm_proc_mem *pm = proc_dev(&p, 0);
    assert_non_null(pm);
    assert_int_equal(pm->mem[DRAM].live_bytes, 350);
    assert_int_equal(pm->mem[DRAM].live_count, 3);
    assert_int_equal(pm->mem[DRAM].peak_bytes, 350);
    assert_int_equal(pm->mem[DRAM].peak_ts, 5);
    assert_int_equal(pm->mem[DRAM].allocs, 4);
    assert_int_equal(pm->mem[DRAM].frees, 1);
    check_invariants(reg);
}

static void test_space_peaks(void **state)
{
    ttm_registry *reg = *state;
    /* DRAM space = DRAM + TRACE. */
    assert_int_equal(alloc(reg, 1, 0, DRAM, 0x1000, 100, 0, 0, 1), B(ALLOC_OK));
    assert_int_equal(alloc(reg, 1, 0, TRACE, 0x2000, 50, 0, 0, 2), B(ALLOC_OK));
    assert_int_equal(dealloc(reg, 1, 0, DRAM, 0x1000, 100, 0, 0, 3), B(FREE_OK));
    assert_int_equal(alloc(reg, 1, 0, TRACE, 0x3000, 60, 0, 0, 4), B(ALLOC_OK));
    /* L1 space = L1 + L1_SMALL + CB + KERNEL. */
    assert_int_equal(alloc(reg, 1, 0, L1, 0x1000, 10, 0, 0, 5), B(ALLOC_OK));
    assert_int_equal(alloc(reg, 1, 0, L1S, 0x2000, 20, 0, 0, 6), B(ALLOC_OK));
    assert_int_equal(alloc(reg, 1, 0, CB, 0x3000, 30, 0, 0, 7), B(ALLOC_OK));
    assert_int_equal(alloc(reg, 1, 0, KERNEL, 0x4000, 40, 0, 0, 8), B(ALLOC_OK));
    assert_int_equal(dealloc(reg, 1, 0, CB, 0x3000, 30, 0, 0, 9), B(FREE_OK));
    assert_int_equal(alloc(reg, 1, 0, SYS, 0x1000, 7, 0, 0, 10), B(ALLOC_OK));

    ttm_device_stats d = dev_stats(reg, 0);
    assert_int_equal(d.space_peak[TTM_SPACE_DRAM], 150);
    assert_int_equal(d.space_peak_ts[TTM_SPACE_DRAM], 2);
    assert_int_equal(d.space_peak[TTM_SPACE_L1], 100);
    assert_int_equal(d.space_peak_ts[TTM_SPACE_L1], 8);
    assert_int_equal(d.space_peak[TTM_SPACE_SYSTEM], 7);
    assert_int_equal(d.space_peak_ts[TTM_SPACE_SYSTEM], 10);
    assert_int_equal(d.mem[DRAM].peak_bytes, 100);
    assert_int_equal(d.mem[DRAM].peak_ts, 1);
    assert_int_equal(d.mem[TRACE].peak_bytes, 110);
    assert_int_equal(d.mem[TRACE].peak_ts, 4);
    assert_int_equal(d.mem[TRACE].live_bytes, 110);
    assert_int_equal(d.mem[CB].peak_bytes, 30);
    assert_int_equal(d.mem[CB].live_bytes, 0);
    assert_int_equal(d.mem[KERNEL].live_bytes, 40);
    check_invariants(reg);
}

static void test_process_device_bytes(void **state)
{
    ttm_registry *reg = *state;
    assert_int_equal(alloc(reg, 1, 0, DRAM, 0x1000, 100, 0, 0, 3), B(ALLOC_OK));
    assert_int_equal(alloc(reg, 1, 1, L1, 0x1000, 200, 0, 0, 4), B(ALLOC_OK));
    assert_int_equal(alloc(reg, 1, 1, L1, 0x2000, 300, 0, 0, 5), B(ALLOC_OK));
    assert_int_equal(alloc(reg, 1, 1, L1, 0x3000, 0, 9, VIEW, 6), B(ALLOC_VIEW));
    assert_int_equal(alloc(reg, 2, 0, DRAM, 0x2000, 50, 0, 0, 7), B(ALLOC_OK));

    assert_int_equal(ttm_registry_processes(reg, NULL, 0), 2);
    ttm_proc_stats p1 = proc_stats(reg, 1);
    assert_true(p1.alive);
    assert_int_equal(p1.first_ts, 3);
    assert_int_equal(p1.live_records, 4);
    assert_int_equal(p1.leaked_count, 0);
    assert_int_equal(p1.anomalies, 0);
    assert_int_equal(p1.ndevices, 2);
    const ttm_proc_mem *d0 = proc_dev(&p1, 0), *d1 = proc_dev(&p1, 1);
    assert_non_null(d0);
    assert_non_null(d1);
    assert_int_equal(d0->mem[DRAM].live_bytes, 100);
    assert_int_equal(d0->mem[DRAM].live_count, 1);
    assert_int_equal(d1->mem[L1].live_bytes, 500);
    assert_int_equal(d1->mem[L1].live_count, 2);
    assert_int_equal(d1->mem[DRAM].live_bytes, 0);
    ttm_proc_stats p2 = proc_stats(reg, 2);
    assert_int_equal(p2.ndevices, 1);
    assert_int_equal(p2.live_records, 1);
    assert_int_equal(proc_live_bytes(reg, 2, 0, DRAM), 50);
    /* Device totals are the sum over processes. */
    assert_int_equal(live_bytes(reg, 0, DRAM), 150);

    assert_int_equal(dealloc(reg, 1, 1, L1, 0x1000, 200, 0, 0, 8), B(FREE_OK));
    assert_int_equal(proc_live_bytes(reg, 1, 1, L1), 300);
    assert_int_equal(live_bytes(reg, 1, L1), 300);
    check_invariants(reg);
}

static void test_device_info_capacity(void **state)
{
    ttm_registry *reg = *state;
    assert_int_equal(device_info(reg, 3, 1ull << 30, 1ull << 20, TTM_ARCH_BLACKHOLE, 1), 0);
    assert_int_equal(ttm_registry_devices(reg, NULL, 0), 1);
    ttm_device_stats d = dev_stats(reg, 3);
    assert_int_equal(d.device, 3);
    assert_int_equal(d.arch, TTM_ARCH_BLACKHOLE);
    assert_int_equal(d.capacity[TTM_SPACE_DRAM], 1ull << 30);
    assert_int_equal(d.capacity[TTM_SPACE_L1], 1ull << 20);
    assert_int_equal(d.capacity[TTM_SPACE_SYSTEM], 0);
    /* A later DEVICE_INFO replaces it. */
    assert_int_equal(device_info(reg, 3, 2ull << 30, 3ull << 20, TTM_ARCH_BLACKHOLE, 2), 0);
    d = dev_stats(reg, 3);
    assert_int_equal(d.capacity[TTM_SPACE_DRAM], 2ull << 30);
    assert_int_equal(d.capacity[TTM_SPACE_L1], 3ull << 20);
    ttm_totals t = totals(reg);
    assert_int_equal(t.events, 2);
    assert_int_equal(t.allocs, 0);
    assert_int_equal(t.frees, 0);
    for (unsigned c = 0; c < TTM_CLASS__COUNT; c++)
        assert_int_equal(t.class_count[c], 0);
}

static void test_default_arch_wormhole(void **state)
{
    ttm_registry *reg = *state;
    const uint64_t wh_dram = 12ull << 30, wh_l1 = 64ull * 1499136;
    assert_int_equal(alloc(reg, 1, 0, DRAM, 0x1000, 100, 0, 0, 1), B(ALLOC_OK));
    assert_int_equal(device_info(reg, 3, 1ull << 30, 1ull << 20, TTM_ARCH_BLACKHOLE, 2), 0);
    ttm_device_stats d = dev_stats(reg, 0);
    assert_int_equal(d.capacity[TTM_SPACE_DRAM], 0);
    assert_int_equal(d.capacity[TTM_SPACE_L1], 0);

    ttm_registry_set_default_arch(reg, TTM_ARCH_WORMHOLE_B0);
    d = dev_stats(reg, 0);
    assert_int_equal(d.capacity[TTM_SPACE_DRAM], wh_dram);
    assert_int_equal(d.capacity[TTM_SPACE_L1], wh_l1);
    /* A device with a capacity keeps it. */
    d = dev_stats(reg, 3);
    assert_int_equal(d.capacity[TTM_SPACE_DRAM], 1ull << 30);
    assert_int_equal(d.capacity[TTM_SPACE_L1], 1ull << 20);
    /* A device seen later gets the profile. */
    assert_int_equal(alloc(reg, 1, 7, L1, 0x1000, 100, 0, 0, 3), B(ALLOC_OK));
    d = dev_stats(reg, 7);
    assert_int_equal(d.capacity[TTM_SPACE_DRAM], wh_dram);
    assert_int_equal(d.capacity[TTM_SPACE_L1], wh_l1);
    /* An explicit capacity overrides the profile, one space at a time. */
    ttm_registry_set_capacity(reg, 7, TTM_SPACE_L1, 1234);
    d = dev_stats(reg, 7);
    assert_int_equal(d.capacity[TTM_SPACE_L1], 1234);
    assert_int_equal(d.capacity[TTM_SPACE_DRAM], wh_dram);
    ttm_registry_set_capacity(reg, 0, TTM_SPACE_DRAM, 1ull << 30);
    d = dev_stats(reg, 0);
    assert_int_equal(d.capacity[TTM_SPACE_DRAM], 1ull << 30);
    assert_int_equal(d.capacity[TTM_SPACE_L1], wh_l1);
}

static void test_reuse_counters(void **state)
{
    ttm_registry *reg = *state;
    assert_int_equal(alloc(reg, 1, 0, DRAM, A, 100, 1, 0, 1), B(ALLOC_OK));
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A, 100, 1, 0, 2), B(FREE_OK));
    ttm_totals t = totals(reg);
    assert_int_equal(t.reuse_allocs, 0);
    assert_int_equal(t.reuse_size_changes, 0);
    /* Same size again. */
    assert_int_equal(alloc(reg, 1, 0, DRAM, A, 100, 2, 0, 3), B(ALLOC_OK));
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A, 100, 2, 0, 4), B(FREE_OK));
    t = totals(reg);
    assert_int_equal(t.reuse_allocs, 1);
    assert_int_equal(t.reuse_size_changes, 0);
    /* Another size. */
    assert_int_equal(alloc(reg, 1, 0, DRAM, A, 200, 3, 0, 5), B(ALLOC_OK));
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A, 200, 3, 0, 6), B(FREE_OK));
    t = totals(reg);
    assert_int_equal(t.reuse_allocs, 2);
    assert_int_equal(t.reuse_size_changes, 1);
    /* Views are not counted. */
    assert_int_equal(alloc(reg, 1, 0, DRAM, A, 999, 4, VIEW, 7), B(ALLOC_VIEW));
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A, 999, 4, VIEW, 8), B(FREE_VIEW));
    t = totals(reg);
    assert_int_equal(t.reuse_allocs, 2);
    assert_int_equal(t.reuse_size_changes, 1);
    /* Another space is another key. */
    assert_int_equal(alloc(reg, 1, 0, L1, A, 64, 5, 0, 9), B(ALLOC_OK));
    assert_int_equal(alloc(reg, 1, 1, DRAM, A, 64, 6, 0, 10), B(ALLOC_OK));
    t = totals(reg);
    assert_int_equal(t.reuse_allocs, 2);
    assert_int_equal(t.reuse_size_changes, 1);
    /* TRACE shares the DRAM space. */
    assert_int_equal(alloc(reg, 1, 0, TRACE, A, 300, 7, 0, 11), B(ALLOC_OK));
    t = totals(reg);
    assert_int_equal(t.reuse_allocs, 3);
    assert_int_equal(t.reuse_size_changes, 2);
    /* An overlapping allocation of the same size at a key in history. */
    uint32_t mask = alloc(reg, 1, 0, DRAM, A, 300, 8, 0, 12);
    assert_true(mask & B(OVERLAP));
    t = totals(reg);
    assert_int_equal(t.reuse_allocs, 4);
    assert_int_equal(t.reuse_size_changes, 2);
    check_invariants(reg);
}

/* ---- offender tables ---------------------------------------------------------------------- */

static void test_offender_pids(void **state)
{
    ttm_registry *reg = *state;
    const uint32_t pids[] = {1, 2, 1, 3};
    for (unsigned i = 0; i < 4; i++)
        assert_int_equal(dealloc(reg, pids[i], 0, DRAM, A, 64, 0, 0, 10 + i), B(UNKNOWN_FREE));
    ttm_offender o = offender_at(reg, TTM_CLASS_UNKNOWN_FREE, 0, A);
    assert_int_equal(o.count, 4);
    assert_int_equal(o.npids, 3);
    assert_int_equal(o.pids[0], 1);
    assert_int_equal(o.pids[1], 2);
    assert_int_equal(o.pids[2], 3);
    assert_false(o.more_pids);
    assert_int_equal(o.first_ts, 10);
    assert_int_equal(o.last_ts, 13);
    assert_int_equal(o.memtype, DRAM);

    assert_int_equal(dealloc(reg, 4, 0, DRAM, A, 64, 0, 0, 14), B(UNKNOWN_FREE));
    o = offender_at(reg, TTM_CLASS_UNKNOWN_FREE, 0, A);
    assert_int_equal(o.npids, 4);
    assert_int_equal(o.pids[3], 4);
    assert_false(o.more_pids);

    assert_int_equal(dealloc(reg, 5, 0, DRAM, A, 64, 0, 0, 15), B(UNKNOWN_FREE));
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A, 64, 0, 0, 16), B(UNKNOWN_FREE));
    o = offender_at(reg, TTM_CLASS_UNKNOWN_FREE, 0, A);
    assert_int_equal(o.count, 7);
    assert_int_equal(o.npids, 4);
    assert_int_equal(o.pids[0], 1);
    assert_int_equal(o.pids[1], 2);
    assert_int_equal(o.pids[2], 3);
    assert_int_equal(o.pids[3], 4);
    assert_true(o.more_pids);
    assert_int_equal(o.first_ts, 10);
    assert_int_equal(o.last_ts, 16);

    /* A memtype never known stays ANY. */
    assert_int_equal(dealloc(reg, 1, 0, ANY, A2, 0, 0, 0, 17), B(UNKNOWN_FREE));
    o = offender_at(reg, TTM_CLASS_UNKNOWN_FREE, 0, A2);
    assert_int_equal(o.memtype, ANY);
    assert_int_equal(o.count, 1);
    check_invariants(reg);
}

static void test_offender_table_bound(void **state)
{
    (void)state;
    ttm_registry_config cfg = {.max_offenders = 4};
    ttm_registry *reg = open_reg(&cfg);
    for (unsigned i = 0; i < 6; i++)
        assert_int_equal(dealloc(reg, 1, 0, DRAM, 0x1000 * (i + 1), 0, 0, 0, 10 + i),
                         B(UNKNOWN_FREE));
    ttm_totals t = totals(reg);
    assert_int_equal(t.class_count[TTM_CLASS_UNKNOWN_FREE], 6);
    assert_int_equal(t.offenders_dropped, 2);
    assert_int_equal(dev_stats(reg, 0).class_count[TTM_CLASS_UNKNOWN_FREE], 6);
    ttm_offender out[8];
    memset(out, 0, sizeof out);
    assert_int_equal(ttm_registry_offenders(reg, TTM_CLASS_UNKNOWN_FREE, out, 8), 4);
    /* The first four addresses got the entries (all counts 1: sorted by addr). */
    for (unsigned i = 0; i < 4; i++) {
        assert_int_equal(out[i].addr, 0x1000 * (i + 1));
        assert_int_equal(out[i].count, 1);
    }
    /* An existing entry still counts. */
    assert_int_equal(dealloc(reg, 1, 0, DRAM, 0x1000, 0, 0, 0, 20), B(UNKNOWN_FREE));
    assert_int_equal(offender_at(reg, TTM_CLASS_UNKNOWN_FREE, 0, 0x1000).count, 2);
    assert_int_equal(totals(reg).offenders_dropped, 2);
    /* Another class shares the bound. */
    assert_int_equal(alloc(reg, 1, 0, DRAM, 0x9000, 64, 0, 0, 21), B(ALLOC_OK));
    assert_int_equal(dealloc(reg, 1, 0, DRAM, 0x9000, 64, 0, 0, 22), B(FREE_OK));
    assert_int_equal(dealloc(reg, 1, 0, DRAM, 0x9000, 64, 0, 0, 23), B(EXCESS_FREE));
    t = totals(reg);
    assert_int_equal(t.offenders_dropped, 3);
    assert_int_equal(t.class_count[TTM_CLASS_EXCESS_FREE], 1);
    assert_int_equal(ttm_registry_offenders(reg, TTM_CLASS_EXCESS_FREE, NULL, 0), 0);
    assert_int_equal(ttm_registry_offenders(reg, TTM_CLASS__COUNT, NULL, 0), 4);
    check_invariants(reg);
    ttm_registry_close(reg);
}

static void test_offenders_sorted(void **state)
{
    ttm_registry *reg = *state;
    for (unsigned i = 0; i < 3; i++)
        assert_int_equal(dealloc(reg, 1, 1, DRAM, 0x100, 0, 0, 0, 1 + i), B(UNKNOWN_FREE));
    assert_int_equal(alloc(reg, 1, 0, DRAM, 0x300, 64, 0, 0, 10), B(ALLOC_OK));
    assert_int_equal(dealloc(reg, 1, 0, DRAM, 0x300, 64, 0, 0, 11), B(FREE_OK));
    assert_int_equal(dealloc(reg, 1, 0, DRAM, 0x300, 64, 0, 0, 12), B(EXCESS_FREE));
    assert_int_equal(dealloc(reg, 1, 0, DRAM, 0x300, 64, 0, 0, 13), B(EXCESS_FREE));
    assert_int_equal(dealloc(reg, 1, 1, DRAM, 0x50, 0, 0, 0, 14), B(UNKNOWN_FREE));
    assert_int_equal(dealloc(reg, 1, 0, DRAM, 0x900, 0, 0, 0, 15), B(UNKNOWN_FREE));

    ttm_offender out[8];
    memset(out, 0, sizeof out);
    assert_int_equal(ttm_registry_offenders(reg, TTM_CLASS__COUNT, out, 8), 4);
    assert_int_equal(out[0].cls, TTM_CLASS_UNKNOWN_FREE);
    assert_int_equal(out[0].count, 3);
    assert_int_equal(out[0].device, 1);
    assert_int_equal(out[0].addr, 0x100);
    assert_int_equal(out[1].cls, TTM_CLASS_EXCESS_FREE);
    assert_int_equal(out[1].count, 2);
    assert_int_equal(out[1].addr, 0x300);
    /* Ties: device, then addr. */
    assert_int_equal(out[2].count, 1);
    assert_int_equal(out[2].device, 0);
    assert_int_equal(out[2].addr, 0x900);
    assert_int_equal(out[3].count, 1);
    assert_int_equal(out[3].device, 1);
    assert_int_equal(out[3].addr, 0x50);

    memset(out, 0, sizeof out);
    assert_int_equal(ttm_registry_offenders(reg, TTM_CLASS_UNKNOWN_FREE, out, 1), 3);
    assert_int_equal(out[0].addr, 0x100);
    assert_int_equal(out[1].count, 0); /* cap respected */
    assert_int_equal(ttm_registry_offenders(reg, TTM_CLASS_EXCESS_FREE, NULL, 0), 1);
    assert_int_equal(ttm_registry_offenders(reg, TTM_CLASS_DOUBLE_FREE, NULL, 0), 0);
    /* Non-anomaly classes have no table. */
    assert_int_equal(ttm_registry_offenders(reg, TTM_CLASS_FREE_OK, NULL, 0), 0);
    check_invariants(reg);
}

/* ---- other bounded tables ----------------------------------------------------------------- */

static void test_history_bound(void **state)
{
    (void)state;
    ttm_registry_config cfg = {.max_history = 2};
    ttm_registry *reg = open_reg(&cfg);
    const uint64_t addr[3] = {A, A2, A3};
    for (unsigned i = 0; i < 3; i++) {
        assert_int_equal(alloc(reg, 1, 0, DRAM, addr[i], 64, 0, 0, 10 + 2 * i), B(ALLOC_OK));
        assert_int_equal(dealloc(reg, 1, 0, DRAM, addr[i], 64, 0, 0, 11 + 2 * i), B(FREE_OK));
    }
    assert_int_equal(totals(reg).history_dropped, 1);
    /* A remembered key: excess; a key not remembered: unknown. */
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A, 64, 0, 0, 20), B(EXCESS_FREE));
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A3, 64, 0, 0, 21), B(UNKNOWN_FREE));
    check_invariants(reg);
    ttm_registry_close(reg);
}

static void test_freed_objs_bound(void **state)
{
    (void)state;
    ttm_registry_config cfg = {.max_freed_objs = 2};
    ttm_registry *reg = open_reg(&cfg);
    for (unsigned i = 0; i < 3; i++) {
        assert_int_equal(alloc(reg, 1, 0, DRAM, A, 64, 1 + i, 0, 10 + 2 * i), B(ALLOC_OK));
        assert_int_equal(dealloc(reg, 1, 0, DRAM, A, 64, 1 + i, 0, 11 + 2 * i), B(FREE_OK));
    }
    /* two generations of one: the oldest free (object 1) is forgotten, the recent kept */
    assert_int_equal(totals(reg).freed_objs_dropped, 1);
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A, 64, 3, 0, 20), B(DOUBLE_FREE));
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A, 64, 2, 0, 21), B(DOUBLE_FREE));
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A, 64, 1, 0, 22), B(UNKNOWN_FREE));
    check_invariants(reg);
    ttm_registry_close(reg);
}

static void test_processes_bound(void **state)
{
    (void)state;
    ttm_registry_config cfg = {.max_processes = 2};
    ttm_registry *reg = open_reg(&cfg);
    assert_int_equal(alloc(reg, 1, 0, DRAM, A, 64, 0, 0, 1), B(ALLOC_OK));
    assert_int_equal(alloc(reg, 2, 0, DRAM, A2, 64, 0, 0, 2), B(ALLOC_OK));
    uint32_t mask = alloc(reg, 3, 0, DRAM, A3, 64, 0, 0, 3);
    assert_int_not_equal(mask, 0);
    ttm_totals t = totals(reg);
    assert_true(t.processes_dropped >= 1);
    assert_int_equal(ttm_registry_processes(reg, NULL, 0), 2);
    check_consistency(reg, true, true);
    ttm_registry_close(reg);
}

/* ---- names, control events, lifecycle ----------------------------------------------------- */

static void test_class_names(void **state)
{
    (void)state;
    static const char *const names[TTM_CLASS__COUNT] = {
        "alloc_ok",     "duplicate_alloc", "alloc_view",       "overlap",        "missed_free",
        "free_ok",      "free_view",       "view_after_owner", "double_free",    "excess_free",
        "unknown_free", "foreign_free",    "size_mismatch",    "ambiguous_free", "leaked_at_exit",
        "invalid",      "limit",           "oversize",
    };
    for (unsigned c = 0; c < TTM_CLASS__COUNT; c++) {
        const char *n = ttm_class_name(c);
        assert_non_null(n);
        assert_string_equal(n, names[c]);
        ttm_class back = TTM_CLASS__COUNT;
        assert_int_equal(ttm_class_parse(n, &back), TTM_OK);
        assert_int_equal(back, c);
        const char *h = ttm_class_help(c);
        assert_non_null(h);
        assert_true(strlen(h) > 0);
        for (unsigned d = 0; d < c; d++)
            assert_string_not_equal(ttm_class_name(d), n);
        bool benign = c == TTM_CLASS_ALLOC_OK || c == TTM_CLASS_ALLOC_VIEW ||
                      c == TTM_CLASS_FREE_OK || c == TTM_CLASS_FREE_VIEW ||
                      c == TTM_CLASS_VIEW_AFTER_OWNER;
        assert_int_equal(ttm_class_is_anomaly(c), !benign);
    }
    assert_string_equal(ttm_class_name(TTM_CLASS__COUNT), "?");
    assert_string_equal(ttm_class_name(1000), "?");
    assert_false(ttm_class_is_anomaly(TTM_CLASS__COUNT));
    ttm_class out = TTM_CLASS_ALLOC_OK;
    assert_int_equal(ttm_class_parse("bogus", &out), TTM_EINVAL);
    assert_int_equal(ttm_class_parse("", &out), TTM_EINVAL);
    assert_int_equal(ttm_class_parse("free_ok ", &out), TTM_EINVAL);
    assert_int_equal(out, TTM_CLASS_ALLOC_OK);
    /* Every bit fits the 32-bit mask. */
    assert_true(TTM_CLASS__COUNT <= 32);
}

static void test_close_null(void **state)
{
    (void)state;
    ttm_registry_close(NULL);
    ttm_registry *reg = open_reg(NULL);
    ttm_registry_close(reg);
}

static void test_control_events_and_totals(void **state)
{
    ttm_registry *reg = *state;
    ttm_event ev = util_event(TTM_EV_MARK, 0, 0, 0, 0, 0, 0, 1);
    strcpy(ev.mark, "prefill");
    assert_int_equal(ttm_registry_apply(reg, 9, &ev), 0);
    ev = util_event(TTM_EV_PROC_START, 0, 0, 0, 0, 0, 0, 2);
    assert_int_equal(ttm_registry_apply(reg, 9, &ev), 0);
    ttm_proc_stats p = proc_stats(reg, 9);
    assert_true(p.alive);
    assert_int_equal(p.live_records, 0);
    assert_int_equal(alloc(reg, 9, 0, DRAM, A, 64, 0, 0, 5), B(ALLOC_OK));
    assert_int_equal(alloc(reg, 9, 0, DRAM, A2, 64, 0, 0, 6), B(ALLOC_OK));
    assert_int_equal(dealloc(reg, 9, 0, DRAM, A, 64, 0, 0, 9), B(FREE_OK));
    assert_int_equal(device_info(reg, 0, 1ull << 30, 1ull << 20, TTM_ARCH_WORMHOLE_B0, 100), 0);
    ev = util_event(TTM_EV_MARK, 0, 0, 0, 0, 0, 0, 101);
    strcpy(ev.mark, "decode");
    assert_int_equal(ttm_registry_apply(reg, 9, &ev), 0);
    ttm_totals t = totals(reg);
    assert_int_equal(t.events, 7);
    assert_int_equal(t.allocs, 2);
    assert_int_equal(t.frees, 1);
    assert_int_equal(t.marks, 2);
    assert_int_equal(t.first_ts, 5);
    assert_int_equal(t.last_ts, 9);
    assert_int_equal(t.live_records, 1);
    assert_int_equal(t.offenders_dropped, 0);
    assert_int_equal(t.history_dropped, 0);
    assert_int_equal(t.freed_objs_dropped, 0);
    assert_int_equal(t.processes_dropped, 0);
    check_invariants(reg);
}

static void test_devices_ascending(void **state)
{
    ttm_registry *reg = *state;
    assert_int_equal(alloc(reg, 1, 5, DRAM, A, 64, 0, 0, 1), B(ALLOC_OK));
    assert_int_equal(alloc(reg, 1, 1, DRAM, A, 64, 0, 0, 2), B(ALLOC_OK));
    assert_int_equal(alloc(reg, 1, 3, DRAM, A, 64, 0, 0, 3), B(ALLOC_OK));
    ttm_device_stats out[4];
    memset(out, 0, sizeof out);
    out[2].device = 0xbeef;
    assert_int_equal(ttm_registry_devices(reg, out, 2), 3);
    assert_int_equal(out[0].device, 1);
    assert_int_equal(out[1].device, 3);
    assert_int_equal(out[2].device, 0xbeef); /* cap respected */
    assert_int_equal(ttm_registry_devices(reg, out, 4), 3);
    assert_int_equal(out[2].device, 5);
    assert_int_equal(out[2].mem[DRAM].live_bytes, 64);
    check_invariants(reg);
}

/* ---- allocation failure ------------------------------------------------------------------- */

/* Sum of the counters of things not remembered. */
static uint64_t drops(const ttm_registry *reg)
{
    ttm_totals t = totals(reg);
    return t.history_dropped + t.freed_objs_dropped + t.offenders_dropped + t.processes_dropped;
}

static bool is_buffer_event(const ttm_event *ev)
{
    return ev->kind == TTM_EV_ALLOC || ev->kind == TTM_EV_FREE;
}

typedef struct proc_sum {
    uint64_t bytes[UTIL_MAX_DEV][TTM_MEMTYPE_COUNT];
} proc_sum;

static bool proc_sum_fn(const ttm_live *l, void *arg)
{
    proc_sum *s = arg;
    if (!(l->flags & VIEW) && l->device < UTIL_MAX_DEV && l->memtype < TTM_MEMTYPE_COUNT)
        s->bytes[l->device][l->memtype] += l->size;
    return true;
}

/* True when the per-process live bytes add up to the live records' bytes. */
static bool procs_ok(const ttm_registry *reg)
{
    proc_sum live = {{{0}}}, procs = {{{0}}};
    ttm_registry_foreach_live(reg, proc_sum_fn, &live);
    size_t np = ttm_registry_processes(reg, NULL, 0);
    ttm_proc_stats *ps = calloc(np ? np : 1, sizeof *ps);
    assert_non_null(ps);
    ttm_registry_processes(reg, ps, np);
    for (size_t i = 0; i < np; i++)
        for (size_t j = 0; j < ps[i].ndevices; j++)
            for (unsigned m = 0; m < TTM_MEMTYPE_COUNT; m++)
                if (ps[i].devices[j].device < UTIL_MAX_DEV)
                    procs.bytes[ps[i].devices[j].device][m] += ps[i].devices[j].mem[m].live_bytes;
    free(ps);
    return memcmp(&live, &procs, sizeof live) == 0;
}

/*
 * Makes allocation k fail (and every later one) for k = 1, 2, ... until a run completes without
 * reaching allocation k. Each run: open returns TTM_ENOMEM, or the sequence is applied; every
 * event's mask equals the reference run's until the first refused event, which is INVALID;
 * every ALLOC/FREE gets a class; the live records agree with the device statistics, and with
 * the per-process statistics when procs_too. ASan (make test) catches leaks on every path.
 */
static void check_alloc_failure(const ttm_registry_config *cfg, bool procs_too)
{
    pev *seq = calloc(SEQ_MAX, sizeof *seq);
    uint32_t *ref = calloc(SEQ_MAX, sizeof *ref);
    uint64_t *ref_drops = calloc(SEQ_MAX, sizeof *ref_drops);
    assert_non_null(seq);
    assert_non_null(ref);
    assert_non_null(ref_drops);
    size_t n = build_sequence(seq);

    /* Reference run without failures. */
    ttm__alloc_fail_at(0);
    ttm_registry *reg = open_reg(cfg);
    for (size_t i = 0; i < n; i++) {
        ref[i] = ttm_registry_apply(reg, seq[i].pid, &seq[i].ev);
        ref_drops[i] = drops(reg);
    }
    for (size_t i = 0; i < n; i++)
        if (is_buffer_event(&seq[i].ev))
            assert_int_not_equal(ref[i], 0);
    unsigned long full = ttm__alloc_fail_at(0);
    check_invariants(reg);
    ttm_registry_close(reg);

    unsigned long k;
    unsigned long open_failures = 0, invalid_runs = 0;
    for (k = 1; k < 1000000; k++) {
        ttm__alloc_fail_at(k);
        reg = NULL;
        int rc = ttm_registry_open(&reg, cfg);
        if (rc != TTM_OK) {
            ttm__alloc_fail_at(0);
            assert_int_equal(rc, TTM_ENOMEM);
            open_failures++;
            continue;
        }
        bool diverged = false;
        for (size_t i = 0; i < n; i++) {
            uint32_t mask = ttm_registry_apply(reg, seq[i].pid, &seq[i].ev);
            assert_true(mask < (1u << TTM_CLASS__COUNT));
            if (is_buffer_event(&seq[i].ev))
                assert_int_not_equal(mask, 0);
            if (!diverged && mask != ref[i]) {
                /* The first difference from the reference run is a refused event, or follows
                 * from something not remembered (history, freed ids: a counted drop, as when
                 * those bounded tables are full). */
                if (!(mask & B(INVALID)) && drops(reg) <= ref_drops[i]) {
                    uint32_t expected = ref[i];
                    ttm__alloc_fail_at(0);
                    ttm_registry_close(reg);
                    free(ref_drops);
                    free(ref);
                    free(seq);
                    fail_msg("fail_at %lu: event %zu got mask %#x, reference %#x, no drop "
                             "counted",
                             k, i, mask, expected);
                }
                diverged = true;
            }
        }
        unsigned long made = ttm__alloc_fail_at(0);
        if (diverged)
            invalid_runs++;
        ttm_totals t = totals(reg);
        assert_int_equal(t.events, n);
        if (procs_too && !procs_ok(reg)) {
            ttm_registry_close(reg);
            free(ref_drops);
            free(ref);
            free(seq);
            fail_msg("fail_at %lu (of %lu): per-process live bytes disagree with the live "
                     "records (processes_dropped %llu)",
                     k, full, (unsigned long long)t.processes_dropped);
        }
        check_consistency(reg, false, procs_too);
        ttm_registry_close(reg);
        if (made < k)
            break; /* allocation k never happened: every failure point was walked */
    }
    assert_true(k < 1000000);
    assert_true(k > full); /* the walk covered every allocation of the full run */
    assert_true(open_failures >= 1);
    free(ref_drops);
    free(ref);
    free(seq);
}

/*
 * An exit settled in budgeted steps while allocation k fails (and every later one), for every
 * k: after each step the statistics agree with the live records; at the end every buffer is
 * counted leaked and reclaimed, whatever the leak list and the offenders could hold.
 */
static void test_alloc_failure_exit_steps(void **state)
{
    (void)state;
    unsigned long k;
    for (k = 1; k < 100000; k++) {
        ttm__alloc_fail_at(0);
        ttm_registry *reg = open_reg(NULL);
        for (unsigned i = 0; i < 30; i++) {
            assert_int_equal(alloc(reg, 1, (uint16_t)(i % 2), (i & 4) ? L1 : DRAM,
                                   0x1000 + i * 0x100, 8 + i, 0, 0, 1 + i),
                             B(ALLOC_OK));
            if (i % 7 == 0)
                alloc(reg, 1, (uint16_t)(i % 2), DRAM, 0x1000 + i * 0x100, 0, 0, VIEW, 100 + i);
        }
        assert_int_equal(alloc(reg, 2, 0, DRAM, 0x90000, 64, 0, 0, 200), B(ALLOC_OK));
        ttm__alloc_fail_at(k);
        unsigned steps = 0;
        while (!ttm_registry_process_exit_step(reg, 1, 1000, 4, NULL)) {
            steps++;
            assert_true(steps < 100);
            check_consistency(reg, false, true);
        }
        unsigned long made = ttm__alloc_fail_at(0);
        check_consistency(reg, false, true);
        assert_int_equal(totals(reg).live_records, 1);
        assert_int_equal(class_count(reg, TTM_CLASS_LEAKED_AT_EXIT), 30);
        assert_int_equal(proc_stats(reg, 1).leaked_count, 30);
        assert_false(proc_stats(reg, 1).alive);
        ttm_registry_close(reg);
        if (made < k)
            break; /* allocation k never happened: every failure point was walked */
    }
    assert_true(k > 1 && k < 100000);
}

/*
 * A transient shortage: allocations fail only while event i is applied, for every i; the
 * registry must then go on normally (a half-grown table must not be left behind).
 */
static void test_alloc_failure_transient(void **state)
{
    (void)state;
    pev *seq = calloc(SEQ_MAX, sizeof *seq);
    uint32_t *ref = calloc(SEQ_MAX, sizeof *ref);
    uint64_t *ref_drops = calloc(SEQ_MAX, sizeof *ref_drops);
    assert_non_null(seq);
    assert_non_null(ref);
    assert_non_null(ref_drops);
    size_t n = build_sequence(seq);
    ttm__alloc_fail_at(0);
    ttm_registry *reg = open_reg(NULL);
    for (size_t i = 0; i < n; i++) {
        ref[i] = ttm_registry_apply(reg, seq[i].pid, &seq[i].ev);
        ref_drops[i] = drops(reg);
    }
    ttm_registry_close(reg);

    size_t failed_events = 0;
    for (size_t f = 0; f < n; f++) {
        reg = open_reg(NULL);
        bool diverged = false, hit = false;
        for (size_t i = 0; i < n; i++) {
            if (i == f)
                ttm__alloc_fail_at(1);
            uint32_t mask = ttm_registry_apply(reg, seq[i].pid, &seq[i].ev);
            if (i == f)
                hit = ttm__alloc_fail_at(0) > 0;
            assert_true(mask < (1u << TTM_CLASS__COUNT));
            if (is_buffer_event(&seq[i].ev))
                assert_int_not_equal(mask, 0);
            if (!diverged && mask != ref[i]) {
                if (!(mask & B(INVALID)) && drops(reg) <= ref_drops[i]) {
                    uint32_t expected = ref[i];
                    ttm_registry_close(reg);
                    free(ref_drops);
                    free(ref);
                    free(seq);
                    fail_msg("allocation failed in event %zu: event %zu got mask %#x, "
                             "reference %#x, no drop counted",
                             f, i, mask, expected);
                }
                diverged = true;
            }
        }
        failed_events += hit;
        ttm_totals t = totals(reg);
        assert_int_equal(t.events, n);
        check_consistency(reg, false, false);
        ttm_registry_close(reg);
    }
    assert_true(failed_events >= 5);
    free(ref_drops);
    free(ref);
    free(seq);
}

static void test_alloc_failure_defaults(void **state)
{
    (void)state;
    check_alloc_failure(NULL, false);
}

/* An event whose per-process statistics cannot be stored is refused (INVALID) rather than
 * stored with its bytes missing from its process's figures. */
static void test_alloc_failure_process_stats(void **state)
{
    (void)state;
    check_alloc_failure(NULL, true);
}

static void test_alloc_failure_small_tables(void **state)
{
    (void)state;
    ttm_registry_config cfg = {.max_live_per_pid = 200,
                               .max_offenders = 8,
                               .max_history = 64,
                               .max_freed_objs = 16,
                               .max_leaks_listed = 4,
                               .max_processes = 8};
    check_alloc_failure(&cfg, false);
}

/* Queries keep their contract ("returns the count; fills up to cap") when memory is short:
 * a caller that trusts the count must not read entries that were never written. */
static void test_queries_under_alloc_failure(void **state)
{
    ttm_registry *reg = *state;
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A, 0, 0, 0, 1), B(UNKNOWN_FREE));
    assert_int_equal(dealloc(reg, 2, 0, DRAM, A2, 0, 0, 0, 2), B(UNKNOWN_FREE));
    assert_int_equal(dealloc(reg, 2, 0, DRAM, A2, 0, 0, 0, 3), B(UNKNOWN_FREE));
    ttm_offender ref[4], out[4];
    memset(ref, 0, sizeof ref);
    assert_int_equal(ttm_registry_offenders(reg, TTM_CLASS__COUNT, ref, 4), 2);
    ttm_proc_stats pref[4], pout[4];
    memset(pref, 0, sizeof pref);
    assert_int_equal(ttm_registry_processes(reg, pref, 4), 2);

    memset(out, 0, sizeof out);
    memset(pout, 0, sizeof pout);
    ttm__alloc_fail_at(1);
    size_t n_off = ttm_registry_offenders(reg, TTM_CLASS__COUNT, out, 4);
    size_t n_proc = ttm_registry_processes(reg, pout, 4);
    ttm__alloc_fail_at(0);
    assert_int_equal(n_off, 2);
    assert_memory_equal(out, ref, 2 * sizeof out[0]);
    assert_int_equal(n_proc, 2);
    assert_int_equal(pout[0].pid, 1);
    assert_int_equal(pout[1].pid, 2);
    assert_int_equal(pout[1].anomalies, 2);
}

/* ---- memory budget ------------------------------------------------------------------------ */

/* ≤ 64 bytes per live buffer from 100,000 on, at the worst instants too: just after the index
 * doubles with a record chunk barely begun. */
static void test_live_memory_budget(void **state)
{
    ttm_registry *reg = *state;
    const unsigned n = 1400000;
    unsigned checked = 0;
    size_t last_used = 0;
    for (unsigned i = 0; i < n; i++) {
        uint32_t mask = alloc(reg, 1000 + i % 8, (uint16_t)(i % 4), i % 2 ? L1 : DRAM,
                              0x10000ull + 0x800ull * i, 2048, i + 1, 0, i + 1);
        if (mask != B(ALLOC_OK))
            fail_msg("allocation %u: mask %#x", i, mask);
        size_t used = ttm_registry_live_memory(reg);
        if (i + 1 < 100000 || (used == last_used && i + 1 != 100000))
            continue; /* the figure moves only when the index or the pool grows */
        last_used = used;
        checked++;
        if (used > (size_t)64 * (i + 1))
            fail_msg("%zu bytes for %u live buffers: %.2f B/buffer, budget 64", used, i + 1,
                     (double)used / (i + 1));
    }
    ttm_totals t = totals(reg);
    assert_int_equal(t.live_records, n);
    assert_true(checked > 300);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_memstat_live_peak),
        T(test_space_peaks),
        T(test_process_device_bytes),
        T(test_device_info_capacity),
        T(test_default_arch_wormhole),
        T(test_device_info_profile_capacity),
        T(test_oversize_and_saturation),
        T(test_reuse_counters),
        T(test_offender_pids),
        cmocka_unit_test(test_offender_table_bound),
        T(test_offenders_sorted),
        cmocka_unit_test(test_history_bound),
        cmocka_unit_test(test_freed_objs_bound),
        cmocka_unit_test(test_processes_bound),
        cmocka_unit_test(test_class_names),
        cmocka_unit_test(test_close_null),
        T(test_control_events_and_totals),
        T(test_devices_ascending),
        cmocka_unit_test(test_alloc_failure_defaults),
        cmocka_unit_test(test_alloc_failure_small_tables),
        cmocka_unit_test(test_alloc_failure_process_stats),
        cmocka_unit_test(test_alloc_failure_transient),
        cmocka_unit_test(test_alloc_failure_exit_steps),
        T(test_queries_under_alloc_failure),
        T(test_live_memory_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
