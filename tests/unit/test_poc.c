/*
 * test_poc.c — the prototype's AllocMessage codec against hand-packed bytes at the spec's
 * offsets, every size, every type; size detection from a stream; bad input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/poc.h"
#include "ttmem/ttmem.h"

static void put(uint8_t *b, size_t off, uint64_t v, int n)
{
    for (int i = 0; i < n; i++, v >>= 8)
        b[off + (size_t)i] = (uint8_t)v;
}

/* the common 40-byte prefix, packed by hand from the spec's table */
static void prefix(uint8_t *b, uint8_t type, int32_t dev, uint64_t size, uint8_t bt, int32_t pid,
                   uint64_t id, uint64_t ts)
{
    b[0] = type;
    put(b, 4, (uint32_t)dev, 4);
    put(b, 8, size, 8);
    b[16] = bt;
    put(b, 20, (uint32_t)pid, 4);
    put(b, 24, id, 8);
    put(b, 32, ts, 8);
}

static void test_v1_decode(void **state)
{
    (void)state;
    uint8_t b[72] = {0};
    prefix(b, TTM_POC_ALLOC, 3, 16384, 1, 4242, 0x296C4260, 123456789);
    put(b, 40, 11, 8);
    put(b, 64, 44, 8);
    ttm_poc_msg m;
    assert_int_equal(ttm__poc_decode(b, sizeof b, &m, NULL), TTM_OK);
    assert_int_equal(m.type, TTM_POC_ALLOC);
    assert_int_equal(m.device_id, 3);
    assert_int_equal(m.size, 16384);
    assert_int_equal(m.buffer_type, 1);
    assert_int_equal(m.process_id, 4242);
    assert_int_equal(m.buffer_id, 0x296C4260);
    assert_int_equal(m.timestamp, 123456789);
    assert_int_equal(m.dram_allocated, 11);
    assert_int_equal(m.trace_allocated, 44);
    assert_int_equal(m.total_dram_size, 0);
}

static void test_v2_v3_offsets(void **state)
{
    (void)state;
    uint8_t v2[112] = {0};
    prefix(v2, TTM_POC_DEVICE_INFO_RESPONSE, -1, 0, 0, 0, 0, 0);
    put(v2, 72, 12ull << 30, 8);
    put(v2, 80, 95944704, 8);
    put(v2, 88, 2, 4);
    put(v2, 92, 12, 4);
    put(v2, 96, 1u << 30, 4);
    put(v2, 100, 1499136, 4);
    put(v2, 104, 1, 4);
    put(v2, 108, 8, 4);
    ttm_poc_msg m;
    assert_int_equal(ttm__poc_decode(v2, sizeof v2, &m, NULL), TTM_OK);
    assert_int_equal(m.device_id, -1);
    assert_int_equal(m.total_dram_size, 12ull << 30);
    assert_int_equal(m.total_l1_size, 95944704);
    assert_int_equal(m.arch_type, 2);
    assert_int_equal(m.num_dram_channels, 12);
    assert_int_equal(m.dram_size_per_channel, 1u << 30);
    assert_int_equal(m.l1_size_per_core, 1499136);
    assert_int_equal(m.is_available, 1);
    assert_int_equal(m.num_devices, 8);

    uint8_t v3[144] = {0};
    prefix(v3, TTM_POC_RESPONSE, 1, 0, 0, 0, 0, 0);
    put(v3, 72, 777, 8);  /* cb */
    put(v3, 80, 888, 8);  /* kernel */
    put(v3, 88, 999, 8);  /* total dram */
    put(v3, 104, 3, 4);   /* arch */
    put(v3, 124, 4, 4);   /* num devices */
    put(v3, 128, 1000, 4);
    put(v3, 132, 200, 4);
    put(v3, 136, 7, 4);
    assert_int_equal(ttm__poc_decode(v3, sizeof v3, &m, NULL), TTM_OK);
    assert_int_equal(m.cb_allocated, 777);
    assert_int_equal(m.kernel_allocated, 888);
    assert_int_equal(m.total_dram_size, 999);
    assert_int_equal(m.arch_type, 3);
    assert_int_equal(m.num_devices, 4);
    assert_int_equal(m.ringbuffer_total_size, 1000);
    assert_int_equal(m.ringbuffer_used_bytes, 200);
    assert_int_equal(m.ringbuffer_num_programs, 7);
}

static void test_round_trip_every_type_and_size(void **state)
{
    (void)state;
    static const size_t sizes[] = {72, 112, 144};
    for (unsigned t = TTM_POC_TYPE_MIN; t <= TTM_POC_TYPE_MAX; t++) {
        for (size_t s = 0; s < 3; s++) {
            ttm_poc_msg m = {.type = (uint8_t)t, .device_id = 5, .size = 4096 * t,
                             .buffer_type = 2, .process_id = 99, .buffer_id = 0x1000 + t,
                             .timestamp = 42, .dram_allocated = 1, .l1_allocated = 2,
                             .l1_small_allocated = 3, .trace_allocated = 4};
            if (sizes[s] >= 112) {
                m.total_dram_size = 5;
                m.arch_type = 2;
                m.num_devices = 8;
            }
            if (sizes[s] == 144) {
                m.cb_allocated = 6;
                m.kernel_allocated = 7;
                m.ringbuffer_num_programs = 9;
            }
            uint8_t buf[144];
            assert_int_equal(ttm__poc_encode(&m, sizes[s], buf), TTM_OK);
            ttm_poc_msg d;
            assert_int_equal(ttm__poc_decode(buf, sizes[s], &d, NULL), TTM_OK);
            assert_memory_equal(&m, &d, sizeof m);
            assert_string_not_equal(ttm__poc_type_name(t), "?");
        }
    }
    assert_int_equal(ttm__poc_reply_type(TTM_POC_QUERY), TTM_POC_RESPONSE);
    assert_int_equal(ttm__poc_reply_type(TTM_POC_DEVICE_INFO_QUERY), TTM_POC_DEVICE_INFO_RESPONSE);
    assert_int_equal(ttm__poc_reply_type(TTM_POC_ALLOC), 0);
    assert_int_equal(ttm__poc_type_since(TTM_POC_CB_ALLOC), 3);
    assert_int_equal(ttm__poc_type_since(TTM_POC_DEVICE_INFO_QUERY), 2);
    assert_int_equal(ttm__poc_type_since(0), 0);
}

/* The prefix decode (what ttmemd uses for requests): the seven shared fields as the full decode
 * gives them, everything past the prefix zero, for every size. */
static void test_decode_prefix(void **state)
{
    (void)state;
    static const size_t sizes[] = {72, 112, 144};
    for (size_t s = 0; s < 3; s++) {
        uint8_t b[144];
        memset(b, 0xA5, sizeof b); /* every byte past the prefix set */
        memset(b + 1, 0, 3);
        memset(b + 17, 0, 3);
        prefix(b, TTM_POC_FREE, 65535, 1ull << 40, 4, -7, 0xFEDCBA9876543210ull, 99);
        ttm_poc_msg full, got, want;
        assert_int_equal(ttm__poc_decode(b, sizes[s], &full, NULL), TTM_OK);
        assert_int_not_equal(full.dram_allocated, 0);
        memset(&want, 0, sizeof want);
        want.type = full.type;
        want.device_id = full.device_id;
        want.size = full.size;
        want.buffer_type = full.buffer_type;
        want.process_id = full.process_id;
        want.buffer_id = full.buffer_id;
        want.timestamp = full.timestamp;
        memset(&got, 0x5A, sizeof got);
        ttm__poc_decode_prefix(b, &got);
        assert_memory_equal(&want, &got, sizeof want);
        assert_int_equal(got.device_id, 65535);
        assert_int_equal(got.process_id, -7);
        assert_int_equal(got.buffer_id, 0xFEDCBA9876543210ull);
    }
}

static void test_decode_rejects(void **state)
{
    (void)state;
    uint8_t b[144] = {0};
    ttm_poc_msg m;
    const char *why = NULL;
    prefix(b, TTM_POC_ALLOC, 0, 1, 0, 1, 1, 1);
    assert_int_equal(ttm__poc_decode(b, 100, &m, &why), TTM_EPROTO);
    assert_non_null(strstr(why, "size"));
    b[0] = 13;
    assert_int_equal(ttm__poc_decode(b, 72, &m, &why), TTM_EPROTO);
    assert_non_null(strstr(why, "type"));
    b[0] = 0;
    assert_int_equal(ttm__poc_decode(b, 72, &m, &why), TTM_EPROTO);
    b[0] = TTM_POC_FREE;
    b[2] = 1;
    assert_int_equal(ttm__poc_decode(b, 72, &m, &why), TTM_EPROTO);
    assert_non_null(strstr(why, "padding"));
    b[2] = 0;
    b[18] = 7;
    assert_int_equal(ttm__poc_decode(b, 72, &m, &why), TTM_EPROTO);
    b[18] = 0;
    assert_int_equal(ttm__poc_decode(b, 72, &m, &why), TTM_OK);
    assert_int_equal(ttm__poc_encode(&m, 73, b), TTM_EINVAL);
}

static void test_detect_size(void **state)
{
    (void)state;
    uint8_t s[3 * 144] = {0};
    /* one message of each size on its own */
    prefix(s, TTM_POC_QUERY, 0, 0, 0, 1, 0, 0);
    assert_int_equal(ttm__poc_detect_size(s, 72), 72);
    assert_int_equal(ttm__poc_detect_size(s, 112), 112);
    assert_int_equal(ttm__poc_detect_size(s, 144), 144);
    assert_int_equal(ttm__poc_detect_size(s, 39), 0);
    assert_int_equal(ttm__poc_detect_size(s, 100), 0);
    /* two v1 messages back to back: 144 bytes, but the second header sits at 72 */
    prefix(s + 72, TTM_POC_FREE, 0, 0, 0, 1, 5, 0);
    assert_int_equal(ttm__poc_detect_size(s, 144), 72);
    /* v2 stream: the next message at 112 */
    memset(s, 0, sizeof s);
    prefix(s, TTM_POC_ALLOC, 1, 64, 0, 1, 5, 0);
    put(s, 72, 0x10, 8); /* total_dram_size: its first byte looks like no header */
    prefix(s + 112, TTM_POC_ALLOC, 1, 64, 0, 1, 6, 0);
    assert_int_equal(ttm__poc_detect_size(s, 112 + 60), 112);
    /* v3 stream */
    memset(s, 0, sizeof s);
    prefix(s, TTM_POC_CB_ALLOC, 1, 64, 0, 1, 5, 0);
    put(s, 72, 0xFF, 8);
    put(s, 112, 0xFF, 8);
    prefix(s + 144, TTM_POC_CB_FREE, 1, 64, 0, 1, 5, 0);
    assert_int_equal(ttm__poc_detect_size(s, 144 + 40), 144);
    /* garbage */
    memset(s, 0xAB, sizeof s);
    assert_int_equal(ttm__poc_detect_size(s, sizeof s), -1);
    /* a plausible first header but nothing plausible after it, long enough to know */
    memset(s, 0xAB, sizeof s);
    memset(s, 0, 40);
    s[0] = TTM_POC_ALLOC;
    assert_int_equal(ttm__poc_detect_size(s, sizeof s), -1);
    /* device id out of range is not a plausible header */
    memset(s, 0, sizeof s);
    prefix(s, TTM_POC_ALLOC, 70000, 0, 0, 0, 0, 0);
    assert_false(ttm__poc_header_plausible(s, 72));
    prefix(s, TTM_POC_DEVICE_INFO_QUERY, -1, 0, 0, 0, 0, 0);
    assert_true(ttm__poc_header_plausible(s, 72));
}

static void test_describe(void **state)
{
    (void)state;
    ttm_poc_msg m = {.type = TTM_POC_ALLOC, .device_id = 2, .size = 512, .buffer_id = 0x40};
    char line[128];
    ttm__poc_describe(&m, line, sizeof line);
    assert_non_null(strstr(line, "ALLOC dev=2"));
    assert_non_null(strstr(line, "id=0x40"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v1_decode),
        cmocka_unit_test(test_v2_v3_offsets),
        cmocka_unit_test(test_round_trip_every_type_and_size),
        cmocka_unit_test(test_decode_prefix),
        cmocka_unit_test(test_decode_rejects),
        cmocka_unit_test(test_detect_size),
        cmocka_unit_test(test_describe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
