/*
 * test_perfetto.c — the Perfetto trace writer: bytes.h's varints, argument and write errors
 * (a full disk), and, run as `test_perfetto --emit TRACE EXPECTED`, a trace of processes,
 * devices, counters and instants together with the list of what it wrote, for the independent
 * decoder tests/cli/perfetto_decode.py to check (ctest unit.perfetto_decode).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "common/bytes.h"
#include "common/event.h"
#include "common/hash.h"
#include "common/perfetto.h"
#include "ttmem/ttmem.h"

static void test_varint_roundtrip(void **state)
{
    (void)state;
    const uint64_t vals[] = {0,          1,          127,         128,        300,
                             16383,      16384,      UINT32_MAX,  1ull << 56, (uint64_t)INT64_MAX,
                             UINT64_MAX, (uint64_t)-5};
    ttm_bytes b = {0};
    ttm_bw w = ttm__bw_over(&b);
    size_t n = sizeof vals / sizeof vals[0];
    for (size_t i = 0; i < n; i++)
        ttm__bw_varint(&w, vals[i]);
    assert_int_equal(w.err, 0);
    /* 1+1+1+2+2+2+3+5+9+9+10+10 bytes: 7 bits a byte */
    assert_int_equal(b.len, 55);
    assert_int_equal(b.data[5], 0xac); /* 300 = 0b10_0101100: 0xac 0x02 */
    assert_int_equal(b.data[6], 0x02);
    ttm_br r = ttm__br_over(b.data, b.len);
    for (size_t i = 0; i < n; i++)
        assert_true(ttm__br_varint(&r, "v") == vals[i]);
    assert_false(r.bad);
    assert_int_equal(ttm__br_left(&r), 0);
    ttm__bytes_free(&b);
}

static void test_varint_malformed(void **state)
{
    (void)state;
    const uint8_t cut[] = {0x80, 0x80};
    ttm_br r = ttm__br_over(cut, sizeof cut);
    assert_true(ttm__br_varint(&r, "cut") == 0);
    assert_true(r.bad);
    assert_string_equal(r.what, "cut");

    uint8_t eleven[11];
    memset(eleven, 0x80, sizeof eleven);
    eleven[10] = 0x01;
    r = ttm__br_over(eleven, sizeof eleven);
    ttm__br_varint(&r, "long");
    assert_true(r.bad);

    /* ten bytes whose last carries more than bit 63 */
    uint8_t over[10];
    memset(over, 0xff, 9);
    over[9] = 0x02;
    r = ttm__br_over(over, sizeof over);
    ttm__br_varint(&r, "over");
    assert_true(r.bad);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    ttm_perfetto pf;
    assert_int_equal(ttm__perfetto_open(&pf, NULL), TTM_EINVAL);
    assert_int_equal(ttm__perfetto_open(&pf, f), 0);
    uint64_t u = 0;
    assert_int_equal(ttm__perfetto_counter(&pf, 1, 0, 5), TTM_EINVAL); /* no track yet */
    assert_int_equal(ttm__perfetto_counter_track(&pf, 0, TTM_MEMTYPE_COUNT, NULL, &u),
                     TTM_EINVAL);
    assert_int_equal(ttm__perfetto_counter_track(&pf, 0, TTM_MEM_DRAM, NULL, &u), 0);
    assert_int_equal(u, 2); /* the device's track is 1 */
    assert_int_equal(ttm__perfetto_counter(&pf, u, 10, 5), 0);
    assert_int_equal(ttm__perfetto_counter(&pf, u + 1, 10, 5), TTM_EINVAL);
    assert_int_equal(ttm__perfetto_instant(&pf, 1, 10, NULL), TTM_EINVAL);
    /* events only where Perfetto shows them: no instant on a counter track, no counter value
     * on a device or process track */
    assert_int_equal(ttm__perfetto_instant(&pf, u, 10, "x"), TTM_EINVAL);
    assert_int_equal(ttm__perfetto_counter(&pf, 1, 10, 5), TTM_EINVAL);
    uint64_t p = 0, d = 0;
    assert_int_equal(ttm__perfetto_process(&pf, 9, NULL, &p), 0);
    assert_int_equal(ttm__perfetto_counter(&pf, p, 10, 5), TTM_EINVAL);
    assert_int_equal(ttm__perfetto_device_track(&pf, 0, &d), 0);
    assert_int_equal(d, 1); /* the same track as before */
    assert_int_equal(ttm__perfetto_instant(&pf, d, 10, "x"), 0);
    assert_int_equal(ttm__perfetto_instant(&pf, p, 10, "x"), 0);
    assert_int_equal(ttm__perfetto_close(&pf), 0); /* argument errors are not sticky */
    assert_true(ftell(f) > 0);
    fclose(f);
}

/* A full disk: the first failed write is returned, by that call (unbuffered) and every later
 * one, and by close; with a buffered FILE close reports it. */
static void test_write_error(void **state)
{
    (void)state;
    FILE *f = fopen("/dev/full", "w");
    if (f == NULL)
        skip();
    setvbuf(f, NULL, _IONBF, 0);
    ttm_perfetto pf;
    assert_int_equal(ttm__perfetto_open(&pf, f), 0);
    uint64_t u = 0;
    assert_int_equal(ttm__perfetto_process(&pf, 42, "p", &u), TTM_EIO);
    assert_int_equal(ttm__perfetto_counter_track(&pf, 0, TTM_MEM_DRAM, NULL, &u), TTM_EIO);
    assert_int_equal(ttm__perfetto_close(&pf), TTM_EIO);
    fclose(f);

    f = fopen("/dev/full", "w");
    assert_non_null(f);
    assert_int_equal(ttm__perfetto_open(&pf, f), 0);
    assert_int_equal(ttm__perfetto_process(&pf, 42, "p", &u), 0); /* still in the buffer */
    assert_int_equal(ttm__perfetto_close(&pf), TTM_EIO);
    fclose(f);
}

/* The same few calls with allocation N failing, for every N until none fails: each returns
 * 0 or TTM_ENOMEM, the failure stays, close reports it and frees everything (ASan checks). */
static void test_alloc_failure(void **state)
{
    (void)state;
    for (unsigned long n = 1;; n++) {
        FILE *f = tmpfile();
        assert_non_null(f);
        ttm_perfetto pf;
        assert_int_equal(ttm__perfetto_open(&pf, f), 0);
        ttm__alloc_fail_at(n);
        uint64_t p = 0, c = 0, d = 0;
        int rc[5];
        rc[0] = ttm__perfetto_process(&pf, 1, "one", &p);
        rc[1] = ttm__perfetto_counter_track(&pf, 3, TTM_MEM_L1, NULL, &c);
        rc[2] = rc[1] == 0 ? ttm__perfetto_counter(&pf, c, 5, 1 << 20) : rc[1];
        rc[3] = ttm__perfetto_device_track(&pf, 4, &d);
        rc[4] = rc[0] == 0 ? ttm__perfetto_instant(&pf, p, 6, "exit") : rc[0];
        int first = 0;
        for (int i = 0; i < 5; i++) {
            assert_true(rc[i] == 0 || rc[i] == TTM_ENOMEM);
            if (first != 0)
                assert_int_equal(rc[i], TTM_ENOMEM); /* sticky */
            if (first == 0)
                first = rc[i];
        }
        unsigned long made = ttm__alloc_fail_at(0);
        assert_int_equal(ttm__perfetto_close(&pf), first);
        fclose(f);
        if (first == 0) {
            assert_true(made < n); /* every allocation of the sequence has been failed once */
            break;
        }
    }
    assert_int_equal(ttm__perfetto_close(NULL), 0);
}

/* ---- --emit: a trace and the list of what it holds ----------------------------------------- */

static uint64_t rng_state = 0x1234;

static uint64_t rng(void)
{
    rng_state += 0x9e3779b97f4a7c15ull;
    return ttm__mix64(rng_state);
}

static int emit(const char *trace_path, const char *expect_path)
{
    FILE *tf = fopen(trace_path, "wb");
    FILE *ef = fopen(expect_path, "w");
    if (tf == NULL || ef == NULL) {
        fprintf(stderr, "test_perfetto: cannot open the output files\n");
        if (tf != NULL)
            fclose(tf);
        if (ef != NULL)
            fclose(ef);
        return 1;
    }
    ttm_perfetto pf;
    int rc = ttm__perfetto_open(&pf, tf);
    const char *pnames[] = {"llama-server", "python3 train.py — rank 0", ""};
    const uint32_t pids[] = {4242, 77, 1000001};
    uint64_t ptrack[3];
    for (int i = 0; i < 3 && rc == 0; i++) {
        rc = ttm__perfetto_process(&pf, pids[i], pnames[i], &ptrack[i]);
        if (rc == 0)
            fprintf(ef, "process\t%llu\t%u\t%s\n", (unsigned long long)ptrack[i], pids[i],
                    pnames[i][0] ? pnames[i] : "pid 1000001");
    }
    const unsigned mts[] = {TTM_MEM_DRAM, TTM_MEM_L1, TTM_MEM_TRACE};
    uint64_t ctrack[2 * 3];
    int64_t level[2 * 3] = {0};
    for (unsigned d = 0; d < 2 && rc == 0; d++)
        for (unsigned m = 0; m < 3 && rc == 0; m++) {
            char name[64];
            snprintf(name, sizeof name, "device %u %s", d, ttm__memtype_name(mts[m]));
            const char *given = m == 2 ? NULL : name; /* NULL: the memtype's name */
            rc = ttm__perfetto_counter_track(&pf, d * 7, mts[m], given, &ctrack[d * 3 + m]);
            if (rc == 0)
                fprintf(ef, "counter_track\t%llu\t%u\t%s\n",
                        (unsigned long long)ctrack[d * 3 + m], d * 7,
                        given ? given : ttm__memtype_name(mts[m]));
        }
    uint64_t ts = 1000000000ull;
    for (int i = 0; i < 400 && rc == 0; i++) {
        ts += 1 + rng() % 5000000;
        uint64_t r = rng();
        if (r % 23 == 0) {
            /* a process's anomaly on its track, now and then a device's on the device's */
            uint64_t on = 0;
            char what[80];
            if (r % 5 == 0) {
                unsigned d = (unsigned)(r >> 8) % 2 * 7;
                rc = ttm__perfetto_device_track(&pf, d, &on);
                snprintf(what, sizeof what, "anomaly: device %u over capacity", d);
            } else {
                on = ptrack[r / 23 % 3];
                snprintf(what, sizeof what, "anomaly: double free of 0x%llx",
                         (unsigned long long)(r >> 20));
            }
            if (rc == 0)
                rc = ttm__perfetto_instant(&pf, on, ts, what);
            if (rc == 0)
                fprintf(ef, "instant\t%llu\t%llu\t%s\n", (unsigned long long)on,
                        (unsigned long long)ts, what);
            continue;
        }
        int t = (int)(r % 6);
        int64_t step = (int64_t)(rng() % (1ull << (r % 2 ? 40 : 12)));
        level[t] = (r >> 8) % 3 == 0 && level[t] >= step ? level[t] - step : level[t] + step;
        rc = ttm__perfetto_counter(&pf, ctrack[t], ts, level[t]);
        if (rc == 0)
            fprintf(ef, "counter\t%llu\t%llu\t%lld\n", (unsigned long long)ctrack[t],
                    (unsigned long long)ts, (long long)level[t]);
    }
    /* the encoding's edges: an int64's extremes (10 bytes) and a 64-bit timestamp */
    const int64_t edges[] = {INT64_MAX, INT64_MIN, -1, 0};
    for (int i = 0; i < 4 && rc == 0; i++) {
        ts = i == 3 ? UINT64_MAX : ts + 1;
        rc = ttm__perfetto_counter(&pf, ctrack[5], ts, edges[i]);
        if (rc == 0)
            fprintf(ef, "counter\t%llu\t%llu\t%lld\n", (unsigned long long)ctrack[5],
                    (unsigned long long)ts, (long long)edges[i]);
    }
    for (int i = 0; i < 3 && rc == 0; i++) {
        rc = ttm__perfetto_instant(&pf, ptrack[i], 2000000000ull + (uint64_t)i, "process exit");
        if (rc == 0)
            fprintf(ef, "instant\t%llu\t%llu\tprocess exit\n", (unsigned long long)ptrack[i],
                    2000000000ull + (unsigned long long)i);
    }
    int crc = ttm__perfetto_close(&pf);
    if (rc == 0)
        rc = crc;
    if (fclose(tf) != 0 && rc == 0)
        rc = TTM_EIO;
    if (fclose(ef) != 0 && rc == 0)
        rc = TTM_EIO;
    if (rc != 0) {
        fprintf(stderr, "test_perfetto: %s\n", ttm_strerror(rc));
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--emit") == 0)
        return emit(argv[2], argv[3]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_varint_roundtrip),
        cmocka_unit_test(test_varint_malformed),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_write_error),
        cmocka_unit_test(test_alloc_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
