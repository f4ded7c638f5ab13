/*
 * test_history.c — the usage history ttmemd keeps (src/daemon/history.c) on a real registry:
 * what a sample reads (DRAM = DRAM + TRACE, L1 = L1 + L1_SMALL + CB + KERNEL), the ring's wrap,
 * a device first seen later, the interval (early ticks, late ones, a stalled loop), the bounds
 * of the options, a disabled history, and the HISTORY section through the snapshot codec.
 *
 * Then `ttmem top`'s side (src/cli/top_model.c): the daemon's samples seeded into its ring in
 * cells of its refresh interval (the highest sample of a cell; a coarser daemon's sample held
 * over the cells until the next), moved onto its clock, only after what the ring holds, once
 * per daemon (pid, start), and a history whose device does not fit its timestamps skipped.
 *
 * The cost of a sample and the section's size are bench/history.c's (bench_history).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/clock.h"
#include "core/report.h"
#include "cli/sites.c"
#include "cli/top_model.c"
#include "daemon/history.c"
#include "registry_util.h"
#include "report_util.h"

#define MS 1000000ull
#define T0 (5000 * MS) /* a monotonic time far from 0 */

static ttm_history *open_h(uint32_t interval_ms, uint32_t len)
{
    ttm_history *h = NULL;
    assert_int_equal(ttm__history_open(&h, interval_ms, len), TTM_OK);
    assert_non_null(h);
    return h;
}

static void test_disabled(void **state)
{
    (void)state;
    ttm_history *h = (ttm_history *)0x1;
    assert_int_equal(ttm__history_open(&h, 1000, 0), TTM_OK);
    assert_null(h);
    ttm_registry *reg = open_reg(NULL);
    assert_false(ttm__history_tick(NULL, reg, T0));
    assert_int_equal(ttm__history_taken(NULL), 0);
    ttm_report_history out;
    memset(&out, 0xa5, sizeof out);
    assert_int_equal(ttm__history_fill(NULL, &out), TTM_OK);
    assert_int_equal(out.interval_ns, 0);
    assert_int_equal(out.capacity, 0);
    assert_int_equal(out.nts, 0);
    assert_int_equal(out.ndevices, 0);
    assert_null(out.ts);
    ttm__history_close(NULL);
    ttm_registry_close(reg);
}

static void test_bounds(void **state)
{
    (void)state;
    ttm_history *h = NULL;
    assert_int_equal(ttm__history_open(&h, TTM_HISTORY_INTERVAL_MS_MIN - 1, 10), TTM_EINVAL);
    assert_int_equal(ttm__history_open(&h, TTM_HISTORY_INTERVAL_MS_MAX + 1, 10), TTM_EINVAL);
    assert_int_equal(ttm__history_open(&h, 1000, TTM_HISTORY_LEN_MAX + 1), TTM_EINVAL);
    assert_null(h);
    h = open_h(TTM_HISTORY_INTERVAL_MS_MIN, TTM_HISTORY_LEN_MAX);
    ttm__history_close(h);
    /* more devices than kept: the rest are counted, and the memory stays bounded */
    ttm_registry *reg = open_reg(NULL);
    h = open_h(1000, 8);
    for (unsigned dev = 0; dev < TTM_HISTORY_MAX_DEVICES + 3; dev++)
        alloc(reg, 10, (uint16_t)dev, DRAM, A, 4096, 0, 0, T0);
    assert_int_equal(ttm__history_sample(h, reg, T0), TTM_OK);
    ttm_report_history out;
    assert_int_equal(ttm__history_fill(h, &out), TTM_OK);
    assert_int_equal(out.ndevices, TTM_HISTORY_MAX_DEVICES);
    assert_int_equal(out.devices_dropped, 3);
    assert_true(ttm__history_memory(h) <=
                sizeof *h + 8 * 8 + TTM_HISTORY_MAX_DEVICES * (sizeof(hist_dev) + 8 * 16));
    ttm__schema_free(&ttm_rec_report_history, &out);
    ttm__history_close(h);
    ttm_registry_close(reg);
}

/* What a sample reads: the spaces' sums of the memtypes, per device. */
static void test_spaces(void **state)
{
    (void)state;
    ttm_registry *reg = open_reg(NULL);
    ttm_history *h = open_h(1000, 16);
    alloc(reg, 10, 0, DRAM, A, 1000, 0, 0, T0);
    alloc(reg, 10, 0, TRACE, A2, 20, 0, 0, T0);
    alloc(reg, 10, 0, L1, A, 300, 0, 0, T0);
    alloc(reg, 10, 0, L1S, A2, 40, 0, 0, T0);
    alloc(reg, 10, 0, CB, A3, 5, 0, 0, T0);
    alloc(reg, 10, 0, KERNEL, 0x400000, 6000, 0, 0, T0);
    alloc(reg, 10, 0, SYS, A, 77777, 0, 0, T0); /* neither space */
    assert_int_equal(ttm__history_sample(h, reg, T0 + 1), TTM_OK);
    ttm_report_history out;
    assert_int_equal(ttm__history_fill(h, &out), TTM_OK);
    assert_int_equal(out.interval_ns, 1000 * MS);
    assert_int_equal(out.capacity, 16);
    assert_int_equal(out.taken, 1);
    assert_int_equal(out.nts, 1);
    assert_int_equal(out.ts[0].ts, T0 + 1);
    assert_int_equal(out.ndevices, 1);
    assert_int_equal(out.devices[0].device, 0);
    assert_int_equal(out.devices[0].nsamples, 1);
    assert_int_equal(out.devices[0].samples[0].dram, 1020);
    assert_int_equal(out.devices[0].samples[0].l1, 300 + 40 + 5 + 6000);
    ttm__schema_free(&ttm_rec_report_history, &out);
    ttm__history_close(h);
    ttm_registry_close(reg);
}

/* Ten samples into a ring of four, the bytes growing by step: the last four remain, oldest
 * first; a device first seen at sample 8 starts there. */
static void test_wrap(void **state)
{
    (void)state;
    ttm_registry *reg = open_reg(NULL);
    ttm_history *h = open_h(1000, 4);
    for (unsigned k = 0; k < 10; k++) {
        alloc(reg, 10, 3, DRAM, A + k * 0x10000, 100, 0, 0, T0 + k);
        if (k == 8)
            alloc(reg, 10, 1, L1, A, 64, 0, 0, T0 + k);
        assert_int_equal(ttm__history_sample(h, reg, T0 + k * 1000 * MS), TTM_OK);
    }
    assert_int_equal(ttm__history_taken(h), 10);
    ttm_report_history out;
    assert_int_equal(ttm__history_fill(h, &out), TTM_OK);
    assert_int_equal(out.taken, 10);
    assert_int_equal(out.nts, 4);
    for (unsigned j = 0; j < 4; j++)
        assert_int_equal(out.ts[j].ts, T0 + (6 + j) * 1000 * MS);
    assert_int_equal(out.ndevices, 2);
    /* by device id: device 1 (from sample 8, index 2 of the four), then device 3 */
    assert_int_equal(out.devices[0].device, 1);
    assert_int_equal(out.devices[0].first, 2);
    assert_int_equal(out.devices[0].nsamples, 2);
    assert_int_equal(out.devices[0].samples[0].l1, 64);
    assert_int_equal(out.devices[0].samples[1].l1, 64);
    assert_int_equal(out.devices[1].device, 3);
    assert_int_equal(out.devices[1].first, 0);
    assert_int_equal(out.devices[1].nsamples, 4);
    for (unsigned j = 0; j < 4; j++)
        assert_int_equal(out.devices[1].samples[j].dram, (6 + j + 1) * 100);
    ttm__schema_free(&ttm_rec_report_history, &out);
    /* a free shows in the next sample */
    dealloc(reg, 10, 3, DRAM, A, 100, 0, 0, T0 + 11);
    assert_int_equal(ttm__history_sample(h, reg, T0 + 10 * 1000 * MS), TTM_OK);
    assert_int_equal(ttm__history_fill(h, &out), TTM_OK);
    assert_int_equal(out.devices[1].samples[3].dram, 900);
    assert_int_equal(out.devices[1].samples[2].dram, 1000);
    assert_int_equal(out.devices[0].first, 1);
    ttm__schema_free(&ttm_rec_report_history, &out);
    ttm__history_close(h);
    ttm_registry_close(reg);
}

/* The interval: due at the first tick and every interval after, a tick up to half the
 * minimum interval early is on time, a late one does not shift the next, and a stalled loop
 * starts again from now without making up the samples it missed. */
static void test_interval(void **state)
{
    (void)state;
    ttm_registry *reg = open_reg(NULL);
    ttm_history *h = open_h(200, 100);
    uint64_t slack = TTM_HISTORY_INTERVAL_MS_MIN * MS / 2;
    assert_true(ttm__history_tick(h, reg, T0));                 /* the first tick */
    assert_false(ttm__history_tick(h, reg, T0 + 50 * MS));
    assert_false(ttm__history_tick(h, reg, T0 + 200 * MS - slack - 1));
    assert_true(ttm__history_tick(h, reg, T0 + 200 * MS - slack)); /* early, on time */
    assert_false(ttm__history_tick(h, reg, T0 + 300 * MS));
    assert_true(ttm__history_tick(h, reg, T0 + 430 * MS));      /* late: the next stays at 600 */
    assert_true(ttm__history_tick(h, reg, T0 + 600 * MS));
    assert_int_equal(ttm__history_taken(h), 4);
    assert_true(ttm__history_tick(h, reg, T0 + 5000 * MS));     /* stalled: one sample */
    assert_false(ttm__history_tick(h, reg, T0 + 5100 * MS));
    assert_true(ttm__history_tick(h, reg, T0 + 5200 * MS));
    assert_int_equal(ttm__history_taken(h), 6);
    ttm_report_history out;
    assert_int_equal(ttm__history_fill(h, &out), TTM_OK);
    static const uint64_t want[] = {0, 200 * MS - 25 * MS, 430 * MS, 600 * MS, 5000 * MS,
                                    5200 * MS};
    assert_int_equal(out.nts, 6);
    for (unsigned k = 0; k < 6; k++)
        assert_int_equal(out.ts[k].ts, T0 + want[k]);
    ttm__schema_free(&ttm_rec_report_history, &out);
    ttm__history_close(h);
    ttm_registry_close(reg);
}

/* The HISTORY section through the snapshot codec, and a report without it. */
static void test_wire(void **state)
{
    (void)state;
    ttm_registry *reg = open_reg(NULL);
    ttm_history *h = open_h(1000, 5);
    for (unsigned k = 0; k < 7; k++) {
        alloc(reg, 10, (uint16_t)(k % 3), k % 2 ? L1 : DRAM, A + k * 0x10000, 10 + k, 0, 0,
              T0 + k);
        assert_int_equal(ttm__history_sample(h, reg, T0 + k * 1000 * MS), TTM_OK);
    }
    ttm_report r;
    memset(&r, 0, sizeof r);
    r.schema_version = TTM_REPORT_SCHEMA_VERSION;
    r.sections = TTM_SNAP_BIT(TTM_SNAP_SEC_HISTORY);
    assert_int_equal(ttm__history_fill(h, &r.history), TTM_OK);
    ttm_bytes b;
    memset(&b, 0, sizeof b);
    assert_int_equal(ttm_report_encode(&r, &b), TTM_OK);
    assert_true(b.len - TTM_SNAP_HDR_SIZE <= ttm__history_wire_bound(h));
    ttm_report back;
    char msg[200] = "";
    assert_int_equal(decode_frame(&b, &back, msg, sizeof msg), TTM_OK);
    assert_true(back.sections & TTM_SNAP_BIT(TTM_SNAP_SEC_HISTORY));
    char where[200] = "";
    assert_true(ttm__schema_equal(&ttm_rec_report_history, &r.history, &back.history, 0, where,
                                  sizeof where));
    assert_int_equal(back.history.nts, 5);
    assert_int_equal(back.history.ndevices, 3);
    ttm_report_clear(&back);
    ttm__bytes_free(&b);
    /* without the section: nothing of it on the wire, nothing decoded */
    r.sections = TTM_SNAP_BIT(TTM_SNAP_SEC_TOTALS);
    memset(&b, 0, sizeof b);
    assert_int_equal(ttm_report_encode(&r, &b), TTM_OK);
    assert_int_equal(decode_frame(&b, &back, msg, sizeof msg), TTM_OK);
    assert_int_equal(back.history.nts, 0);
    assert_null(back.history.devices);
    ttm_report_clear(&back);
    ttm__bytes_free(&b);
    ttm_report_clear(&r);
    ttm__history_close(h);
    ttm_registry_close(reg);
}

/* A snapshot of daemon pid 7 (started at 1 s on its clock, now dnow) with n samples every
 * interval ending at dnow, device 0's l1 = the sample's index + 1, dram 0. */
static void seed_snap(ttm_report *r, uint64_t dnow, uint64_t interval, size_t n)
{
    memset(r, 0, sizeof *r);
    r->sections = TTM_SNAP_BIT(TTM_SNAP_SEC_DAEMON) | TTM_SNAP_BIT(TTM_SNAP_SEC_HISTORY);
    r->daemon.pid = 7;
    r->daemon.now_ns = dnow;
    r->daemon.uptime_ns = dnow - 1000 * MS;
    ttm_report_history *h = &r->history;
    h->interval_ns = interval;
    h->capacity = (uint32_t)n;
    h->taken = n;
    h->nts = n;
    h->ts = ttm__xcalloc(n, sizeof *h->ts);
    for (size_t k = 0; k < n; k++)
        h->ts[k].ts = dnow - (n - 1 - k) * interval;
    h->ndevices = 1;
    h->devices = ttm__xcalloc(1, sizeof *h->devices);
    h->devices[0].nsamples = n;
    h->devices[0].samples = ttm__xcalloc(n, sizeof *h->devices[0].samples);
    for (size_t k = 0; k < n; k++)
        h->devices[0].samples[k].l1 = k + 1;
}

/* The ring's cell c back from the newest: its time and device 0's L1 value. */
static uint64_t cell_l1(const ttm_top_model *m, size_t back, uint64_t *ts)
{
    size_t slot = (m->hist_head + m->hist_count - 1 - back) % TTM_TOP_HIST_LEN;
    *ts = m->hist_ts[slot];
    return m->hist[0]->used[TTM_SPACE_L1][slot];
}

static void test_seed_cells(void **state)
{
    (void)state;
    ttm_top_model m;
    ttm__top_model_init(&m, "h", "", "");
    m.hist_step_ms = 1000;
    ttm_report r;
    /* 40 samples every 250 ms (10 s) up to the daemon's 20 s, which is the model's 500 s */
    const uint64_t dnow = 20000 * MS, now = 500000 * MS;
    seed_snap(&r, dnow, 250 * MS, 40);
    assert_true(ttm__top_model_seed_due(&m, &r));
    size_t n = ttm__top_model_seed_history(&m, &r, now);
    assert_false(ttm__top_model_seed_due(&m, &r));
    /* cells 1 s apart ending 1 s before now; the oldest sample (now - 9.75 s) is in cell 10 */
    assert_int_equal(n, 10);
    assert_int_equal(m.hist_count, 10);
    for (size_t back = 0; back < 10; back++) {
        uint64_t ts;
        uint64_t v = cell_l1(&m, back, &ts);
        assert_int_equal(ts, now - (back + 1) * 1000 * MS);
        /* cell [tc - 0.5 s, tc + 0.5 s): the samples there are the 4 of those times, the
         * highest the newest: index 39 - 4 * (back + 1) + 2 ... of value index + 1 */
        uint64_t tc = now - (back + 1) * 1000 * MS;
        uint64_t best = 0;
        for (size_t k = 0; k < 40; k++) {
            uint64_t t = now - (39 - k) * 250 * MS;
            if (t >= tc - 500 * MS && t < tc + 500 * MS)
                best = k + 1;
        }
        assert_true(best > 0);
        assert_int_equal(v, best);
        assert_int_equal(m.hist[0]->used[TTM_SPACE_DRAM][(m.hist_head + m.hist_count - 1 - back) %
                                                         TTM_TOP_HIST_LEN],
                         0);
    }
    /* the refresh's own sample follows them */
    ttm_report snap = r;
    memset(&r, 0, sizeof r);
    assert_int_equal(ttm__top_model_ingest(&m, &snap, NULL, NULL, 0, NULL, now), TTM_OK);
    assert_int_equal(m.hist_count, 11);
    /* the same daemon again: nothing more; after what the ring holds only */
    seed_snap(&r, dnow + 3000 * MS, 250 * MS, 40);
    assert_false(ttm__top_model_seed_due(&m, &r));
    r.daemon.pid = 8; /* a restart: another daemon */
    assert_true(ttm__top_model_seed_due(&m, &r));
    n = ttm__top_model_seed_history(&m, &r, now + 3000 * MS);
    /* cells now + 1 s and now + 2 s, after the ring's newest (now); and the refresh at now,
     * which had no device rows, filled: the highest of the samples within 0.5 s of it */
    assert_int_equal(n, 3);
    assert_int_equal(m.hist_count, 13);
    uint64_t ts;
    assert_int_equal(cell_l1(&m, 2, &ts), 29);
    assert_int_equal(ts, now);
    assert_int_equal(cell_l1(&m, 0, &ts), 37); /* now + 2 s: samples 33..36 of the 40 */
    assert_int_equal(ts, now + 2000 * MS);
    /* a cell that holds a value keeps it */
    size_t s10 = (m.hist_head + 2) % TTM_TOP_HIST_LEN; /* the third oldest: now - 8 s */
    uint64_t before = m.hist[0]->used[TTM_SPACE_L1][s10];
    assert_int_equal(ttm__top_model_seed_history(&m, &r, now + 3000 * MS), 0);
    assert_int_equal(m.hist[0]->used[TTM_SPACE_L1][s10], before);
    r.daemon.uptime_ns -= 1; /* the same pid, started again */
    assert_true(ttm__top_model_seed_due(&m, &r));
    ttm_report_clear(&r);
    ttm__top_model_free(&m);
}

/* A daemon sampling every 2 s under a 1 s refresh: every cell holds the sample before it (up
 * to 1.5 of the daemon's intervals), none beyond the oldest sample. */
static void test_seed_coarse(void **state)
{
    (void)state;
    ttm_top_model m;
    ttm__top_model_init(&m, "h", "", "");
    m.hist_step_ms = 1000;
    ttm_report r;
    const uint64_t now = 100000 * MS;
    seed_snap(&r, now, 2000 * MS, 5); /* samples at now - 8, -6, -4, -2, 0 s */
    size_t n = ttm__top_model_seed_history(&m, &r, now);
    assert_int_equal(n, 8);
    static const uint64_t want[] = {4, 4, 3, 3, 2, 2, 1, 1}; /* cells now - 1 s ... now - 8 s */
    for (size_t back = 0; back < 8; back++) {
        uint64_t ts;
        assert_int_equal(cell_l1(&m, back, &ts), want[back]);
    }
    ttm_report_clear(&r);
    ttm__top_model_free(&m);

    /* a device whose samples run past the timestamps is skipped; no DAEMON: nothing at all */
    ttm__top_model_init(&m, "h", "", "");
    seed_snap(&r, now, 1000 * MS, 5);
    r.history.devices[0].first = 1;
    assert_int_equal(ttm__top_model_seed_history(&m, &r, now), 0);
    assert_int_equal(m.hist_count, 0);
    r.history.devices[0].first = 0;
    r.sections &= ~TTM_SNAP_BIT(TTM_SNAP_SEC_DAEMON);
    assert_false(ttm__top_model_seed_due(&m, &r));
    assert_int_equal(ttm__top_model_seed_history(&m, &r, now), 0);
    /* an answer without HISTORY (an older daemon) marks it seeded: it is not asked again */
    r.sections = TTM_SNAP_BIT(TTM_SNAP_SEC_DAEMON);
    assert_int_equal(ttm__top_model_seed_history(&m, &r, now), 0);
    assert_false(ttm__top_model_seed_due(&m, &r));
    ttm_report_clear(&r);
    ttm__top_model_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_disabled), cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_spaces),   cmocka_unit_test(test_wrap),
        cmocka_unit_test(test_interval), cmocka_unit_test(test_wire),
        cmocka_unit_test(test_seed_cells), cmocka_unit_test(test_seed_coarse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
