/*
 * test_timeline.c — `ttmem timeline`'s model and page (src/cli/timeline.h) fed synthetic
 * replay-observer calls: the page's blobs decoded here (base64, varints: docs/TIMELINE.md
 * "Data encoding") give back every change of every series; a small budget keeps the page
 * within it with coarser levels whose bucket maxima are still the true maxima; markers past
 * the cap are thinned evenly and all counted; the largest lives are the ones kept.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/timeline.h"
#include "common/bytes.h"
#include "common/event.h"
#include "core/registry.h"
#include "ttmem/ttmem.h"

/* The page written into memory (NUL-terminated; free it). */
static char *page_of(ttm_timeline *t, size_t *len, ttm_timeline_stats *st)
{
    /* static: open_memstream keeps the address, and gcc -O3 takes a local's for a dangling one */
    static char *buf;
    static size_t n;
    buf = NULL;
    FILE *f = open_memstream(&buf, &n);
    assert_non_null(f);
    assert_int_equal(ttm_timeline_write(t, f, st), TTM_OK);
    fclose(f);
    *len = n;
    return buf;
}

static int b64(char c)
{
    const char *al = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = strchr(al, c);
    return c && p ? (int)(p - al) : -1;
}

/* Blob id's bytes decoded (base64) into out; returns the length. */
static size_t blob(const char *page, int id, uint8_t **out)
{
    char tag[64];
    snprintf(tag, sizeof tag, "id=\"ttm-b%d\">", id);
    const char *p = strstr(page, tag);
    assert_non_null(p);
    p += strlen(tag);
    const char *end = strstr(p, "</script>");
    size_t n = 0;
    *out = calloc((size_t)(end - p) + 1, 1);
    uint32_t acc = 0;
    int bits = 0;
    for (; p < end; p++) {
        int v = b64(*p);
        if (v < 0)
            continue; /* padding */
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            (*out)[n++] = (uint8_t)(acc >> bits);
        }
    }
    return n;
}

/* The number after "key": at p, and where it ends. */
static long long num_after(const char *p, const char *key, const char **end)
{
    const char *q = strstr(p, key);
    assert_non_null(q);
    q += strlen(key);
    char *e = NULL;
    long long v = strtoll(q, &e, 10);
    if (end)
        *end = e;
    return v;
}

static void feed_series(const ttm_replay_observer *o, uint16_t dev, uint8_t mt, size_t n,
                        uint64_t *ts, uint64_t *val)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        ts[i] = 1000000 + i * 1000 + (i % 7) * 13;
        v = i % 5 == 4 ? v / 2 : v + 4096 * (i % 13 + 1);
        val[i] = v;
        o->usage(o->ctx, 0, ts[i], dev, mt, v);
    }
}

static void test_exact_roundtrip(void **state)
{
    (void)state;
    ttm_timeline *t = NULL;
    assert_int_equal(ttm_timeline_open(&t, NULL), TTM_OK);
    ttm_replay_observer o;
    ttm_timeline_observer(t, &o);
    enum { N = 3000 };
    static uint64_t ts[N], val[N], ts2[N], val2[N];
    feed_series(&o, 3, TTM_MEM_DRAM, N, ts, val);
    feed_series(&o, 5, TTM_MEM_L1, N / 3, ts2, val2);
    size_t len;
    ttm_timeline_stats st;
    char *page = page_of(t, &len, &st);
    assert_int_equal(st.series, 2);
    assert_int_equal(st.series_exact, 2);
    assert_int_equal(st.lanes, 2);
    /* the first series' exact blob: times since t0 and zigzag changes */
    const char *meta = strstr(page, "id=\"ttm-meta\"");
    assert_non_null(meta);
    long long t0 = num_after(meta, "\"t0\":", NULL);
    assert_int_equal(t0, (long long)ts[0]);
    const char *s0 = strstr(meta, "\"series\":[");
    assert_non_null(s0);
    int id = (int)num_after(s0, "\"exact\":", NULL);
    uint8_t *b = NULL;
    size_t bl = blob(page, id, &b);
    ttm_br r = ttm__br_over(b, bl);
    uint64_t tt = 0, vv = 0;
    for (size_t i = 0; i < N; i++) {
        tt += ttm__br_varint(&r, "dt");
        uint64_t z = ttm__br_varint(&r, "dv");
        vv += (uint64_t)((int64_t)(z >> 1) ^ -(int64_t)(z & 1));
        assert_int_equal(tt + (uint64_t)t0, ts[i]);
        assert_int_equal(vv, val[i]);
    }
    assert_false(r.bad);
    assert_int_equal(ttm__br_left(&r), 0);
    free(b);
    free(page);
    ttm_timeline_close(t);
}

static void test_small_budget(void **state)
{
    (void)state;
    ttm_timeline_opts opts = {.html_bytes = 200000};
    ttm_timeline *t = NULL;
    assert_int_equal(ttm_timeline_open(&t, &opts), TTM_OK);
    ttm_replay_observer o;
    ttm_timeline_observer(t, &o);
    enum { N = 200000 };
    uint64_t *ts = calloc(N, sizeof *ts), *val = calloc(N, sizeof *val), peak = 0;
    feed_series(&o, 0, TTM_MEM_DRAM, N, ts, val);
    for (size_t i = 0; i < N; i++)
        peak = val[i] > peak ? val[i] : peak;
    size_t len;
    ttm_timeline_stats st;
    char *page = page_of(t, &len, &st);
    assert_true(len <= opts.html_bytes);
    assert_int_equal(st.html_bytes, len);
    assert_int_equal(st.series_exact, 0);
    assert_true(st.finest_ns > 0);
    /* the finest level kept: its bucket maxima hold the true peak */
    const char *lv = strstr(strstr(page, "id=\"ttm-meta\""), "\"levels\":[");
    assert_non_null(lv);
    const char *last = NULL;
    for (const char *q = lv; (q = strstr(q + 1, "[")) != NULL && q < strstr(lv, "]]") + 1;)
        last = q;
    assert_non_null(last);
    const char *e;
    long long w = strtoll(last + 1, (char **)&e, 10);
    long long n = strtoll(e + 1, (char **)&e, 10);
    int id = (int)strtoll(e + 1, NULL, 10);
    assert_true(w > 0 && n > 0);
    uint8_t *b = NULL;
    size_t bl = blob(page, id, &b);
    ttm_br r = ttm__br_over(b, bl);
    uint64_t prev = 0, best = 0;
    for (long long i = 0; i < n; i++) {
        ttm__br_varint(&r, "k");
        uint64_t mx = prev + ttm__br_varint(&r, "max");
        ttm__br_varint(&r, "min");
        uint64_t z = ttm__br_varint(&r, "last");
        prev += (uint64_t)((int64_t)(z >> 1) ^ -(int64_t)(z & 1));
        best = mx > best ? mx : best;
    }
    assert_false(r.bad);
    assert_int_equal(best, peak);
    assert_int_equal(prev, val[N - 1]);
    free(b);
    free(page);
    free(ts);
    free(val);
    ttm_timeline_close(t);
}

static void test_markers_and_buffers(void **state)
{
    (void)state;
    ttm_timeline_opts opts = {.max_markers = 100, .max_buffers = 10};
    ttm_timeline *t = NULL;
    assert_int_equal(ttm_timeline_open(&t, &opts), TTM_OK);
    ttm_replay_observer o;
    ttm_timeline_observer(t, &o);
    ttm_apply_info info = {0};
    for (uint64_t i = 0; i < 1000; i++) {
        ttm_journal_event e = {.kind = TTM_EV_FREE, .device = 1, .pid = 7, .ts = 5000 + i,
                               .addr = 0x1000 + i};
        o.event(o.ctx, 0, &e, TTM_CLASS_BIT(TTM_CLASS_DOUBLE_FREE), &info);
        e.kind = TTM_EV_ALLOC;
        o.event(o.ctx, 0, &e, TTM_CLASS_BIT(TTM_CLASS_ALLOC_OK), &info); /* no marker */
    }
    for (uint64_t i = 0; i < 50; i++) {
        ttm_replay_buffer b = {.pid = 7, .device = 1, .addr = 0x100 * i, .size = 1000 + i,
                               .alloc_ts = 5000 + i, .free_ts = 9000};
        o.buffer(o.ctx, 0, &b);
    }
    ttm_journal_proc p = {.state = TTM_JOURNAL_PROC_EXIT, .pid = 7, .ts = 9500, .status = 0};
    o.proc(o.ctx, 0, &p);
    size_t len;
    ttm_timeline_stats st;
    char *page = page_of(t, &len, &st);
    assert_int_equal(st.markers, 1000);
    assert_true(st.markers_kept <= 100 && st.markers_kept >= 50);
    assert_int_equal(st.buffers, 50);
    assert_int_equal(st.buffers_kept, 10);
    const char *meta = strstr(page, "id=\"ttm-meta\"");
    const char *df = strstr(meta, "\"name\":\"double_free\"");
    assert_non_null(df);
    assert_int_equal(num_after(df, "\"events\":", NULL), 1000);
    /* the buffers blob: the ten largest (sizes 1040..1049), by alloc time */
    int id = (int)num_after(strstr(meta, "\"buffers\":{"), "\"blob\":", NULL);
    uint8_t *b = NULL;
    size_t bl = blob(page, id, &b);
    ttm_br r = ttm__br_over(b, bl);
    for (uint64_t i = 0; i < 10; i++) {
        uint64_t f[10];
        for (int k = 0; k < 10; k++)
            f[k] = ttm__br_varint(&r, "field");
        assert_int_equal(f[4], 1040 + i);       /* size */
        assert_int_equal(f[5], 0x100 * (40 + i)); /* addr */
        assert_int_equal(f[7], 7);              /* pid */
    }
    assert_int_equal(ttm__br_left(&r), 0);
    free(b);
    free(page);
    ttm_timeline_close(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_roundtrip),
        cmocka_unit_test(test_small_budget),
        cmocka_unit_test(test_markers_and_buffers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
