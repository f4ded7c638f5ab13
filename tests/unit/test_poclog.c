/*
 * test_poclog.c — the prototype's log lines back into events: every variant the spec lists,
 * the noise around them, truncated lines and invalid bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/poclog.h"

static ttm_poclog_kind parse(const char *line, ttm_poclog_stats *st, uint32_t *pid,
                             ttm_event *ev)
{
    return ttm__poclog_parse_line(line, strlen(line), st, pid, ev);
}

static void test_alloc_lines(void **state)
{
    (void)state;
    ttm_poclog_stats st = {0};
    uint32_t pid = 0;
    ttm_event ev;
    assert_int_equal(parse("✓ [PID 2685613] Allocated 16384 bytes of DRAM on device 0 "
                           "(buffer_id=328467008)",
                           &st, &pid, &ev),
                     TTM_POCLOG_EVENT);
    assert_int_equal(pid, 2685613);
    assert_int_equal(ev.kind, TTM_EV_ALLOC);
    assert_int_equal(ev.memtype, TTM_MEM_DRAM);
    assert_int_equal(ev.device, 0);
    assert_int_equal(ev.size, 16384);
    assert_int_equal(ev.addr, 328467008);
    assert_int_equal(ev.obj, 0);

    assert_int_equal(parse("✓ [PID 7] Allocated 256 bytes of L1_SMALL on device 31 "
                           "(buffer_id=0x296C4260, ref_count=2)",
                           &st, &pid, &ev),
                     TTM_POCLOG_EVENT);
    assert_int_equal(ev.memtype, TTM_MEM_L1_SMALL);
    assert_int_equal(ev.device, 31);
    assert_int_equal(ev.addr, 0x296C4260);

    static const struct {
        const char *word;
        unsigned type;
    } words[] = {{"L1", TTM_MEM_L1},
                 {"SYSTEM_MEMORY", TTM_MEM_SYSTEM},
                 {"TRACE", TTM_MEM_TRACE}};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        char line[200];
        snprintf(line, sizeof line, "✓ [PID 1] Allocated 8 bytes of %s on device 2 (buffer_id=9)",
                 words[i].word);
        assert_int_equal(parse(line, &st, &pid, &ev), TTM_POCLOG_EVENT);
        assert_int_equal(ev.memtype, words[i].type);
    }
    assert_int_equal(st.allocs, 5);
    assert_int_equal(st.events, 5);
}

static void test_free_lines(void **state)
{
    (void)state;
    ttm_poclog_stats st = {0};
    uint32_t pid = 0;
    ttm_event ev;
    assert_int_equal(parse("✗ [PID 1691149] Freed buffer 3700768 on device 0 (1048576 bytes, "
                           "ref_count=1 remaining)",
                           &st, &pid, &ev),
                     TTM_POCLOG_EVENT);
    assert_int_equal(ev.kind, TTM_EV_FREE);
    assert_int_equal(ev.memtype, TTM_MEM_ANY);
    assert_int_equal(ev.addr, 3700768);
    assert_int_equal(ev.size, 1048576);
    assert_int_equal(pid, 1691149);
    assert_int_equal(parse("✗ [PID 1691149] Freed buffer 0x387820 on device 3 (1048576 bytes, "
                           "FINAL)",
                           &st, &pid, &ev),
                     TTM_POCLOG_EVENT);
    assert_int_equal(ev.addr, 0x387820);
    assert_int_equal(ev.device, 3);
    assert_int_equal(parse("⚠ [PID 1714322] Deallocation for unknown buffer 694960736 on device 4 "
                           "(allocated before tracking started)",
                           &st, &pid, &ev),
                     TTM_POCLOG_EVENT);
    assert_int_equal(ev.kind, TTM_EV_FREE);
    assert_int_equal(ev.device, 4);
    assert_int_equal(ev.addr, 694960736);
    assert_int_equal(ev.size, 0);
    assert_int_equal(st.frees, 2);
    assert_int_equal(st.unknown_lines, 1);
}

static void test_noise_is_skipped(void **state)
{
    (void)state;
    static const char *const noise[] = {
        "",
        "🚀 Allocation Server started on /tmp/tt_allocation_server.sock",
        "📊 Current Statistics:",
        "  Device 0: DRAM 16384 bytes, L1 0 bytes",
        "╔══════════ REMAINING ALLOCATED BUFFERS ══════════╗",
        "║ Device 0: buffer_id=328467008 size=16384 DRAM  ║",
        "⚠ Process 12345 is dead, cleaning up 17 buffers",
        "✓ [PID 12] Client disconnected",
        "random text with [PID 5] in it but no glyph",
    };
    ttm_poclog_stats st = {0};
    uint32_t pid;
    ttm_event ev;
    for (size_t i = 0; i < sizeof noise / sizeof noise[0]; i++)
        assert_int_equal(parse(noise[i], &st, &pid, &ev), TTM_POCLOG_SKIPPED);
    assert_int_equal(st.skipped, sizeof noise / sizeof noise[0]);
    assert_int_equal(st.events, 0);
    assert_int_equal(st.bad, 0);
}

static void test_bad_lines_counted_and_kept(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "✓ [PID 2685613] Allocated 16384 bytes of DRAM on device 0 (buffer_id=3284", /* cut */
        "✓ [PID 1] Allocated 16384 bytes of HBM on device 0 (buffer_id=1)",
        "✓ [PID 1] Allocated 1 bytes of DRAM on device 70000 (buffer_id=1)",
        "✗ [PID x] Freed buffer 1 on device 0 (8 bytes, FINAL)",
        "✗ [PID 1] Freed buffer 1 on device 0 (8 bytes, ref_count=2)",
        "⚠ [PID 1] Deallocation for unknown buffer 0xZZ on device 1",
        "✓ [PID 1] Allocated 99999999999999999999999 bytes of DRAM on device 0 (buffer_id=1)",
    };
    ttm_poclog_stats st = {0};
    uint32_t pid;
    ttm_event ev;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(parse(bad[i], &st, &pid, &ev), TTM_POCLOG_BAD);
    assert_int_equal(st.bad, sizeof bad / sizeof bad[0]);
    assert_int_equal(st.nkept, TTM_POCLOG_KEEP_BAD);
    assert_string_equal(st.kept[1], bad[1]);
    assert_int_equal(st.kept_lineno[0], 1);
    assert_int_equal(st.kept_lineno[4], 5);
}

static void test_invalid_utf8_and_binary(void **state)
{
    (void)state;
    ttm_poclog_stats st = {0};
    uint32_t pid;
    ttm_event ev;
    const char junk[] = "\xff\xfe\xe2\x9c [PID \x80\x00\x01 Allocated";
    assert_int_not_equal(ttm__poclog_parse_line(junk, sizeof junk - 1, &st, &pid, &ev),
                         TTM_POCLOG_EVENT);
    /* a valid line after garbage bytes still parses: the glyph is searched before [PID */
    const char *ok = "\xff\xff garbage ✓ [PID 3] Allocated 64 bytes of L1 on device 1 "
                     "(buffer_id=100)";
    assert_int_equal(parse(ok, &st, &pid, &ev), TTM_POCLOG_EVENT);
    assert_int_equal(pid, 3);
    /* lone lead byte at the very end */
    const char cut[] = "\xe2";
    assert_int_equal(ttm__poclog_parse_line(cut, 1, &st, &pid, &ev), TTM_POCLOG_SKIPPED);
    assert_int_equal(st.lines, 3);
}

/* Issue 13: an event whose buffer id the line wrote in decimal carries TTM__FLAG_ADDR_DEC; one
 * written in 0x-hex carries no flag; the other numbers of the line (pid, size, device) do not
 * count. */
static void test_decimal_ids_flagged(void **state)
{
    (void)state;
    static const struct {
        const char *line;
        bool dec;
    } cases[] = {
        {"✓ [PID 1] Allocated 16 bytes of DRAM on device 0 (buffer_id=328467008)", true},
        {"✓ [PID 1] Allocated 16 bytes of DRAM on device 0 (buffer_id=0x1393F040)", false},
        {"✓ [PID 1] Allocated 16 bytes of DRAM on device 0 (buffer_id=0, ref_count=2)", true},
        {"✗ [PID 1] Freed buffer 3700768 on device 0 (16 bytes, FINAL)", true},
        {"✗ [PID 1] Freed buffer 0x387820 on device 0x1 (16 bytes, ref_count=1 remaining)", false},
        {"⚠ [PID 1] Deallocation for unknown buffer 694960736 on device 4 (allocated before "
         "tracking started)", true},
        {"⚠ [PID 1] Deallocation for unknown buffer 0X296C4260 on device 4", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ttm_poclog_stats st = {0};
        uint32_t pid = 0;
        ttm_event ev;
        assert_int_equal(parse(cases[i].line, &st, &pid, &ev), TTM_POCLOG_EVENT);
        assert_int_equal(ev.flags, cases[i].dec ? TTM__FLAG_ADDR_DEC : 0);
    }
}

static void test_timestamps_follow_lines(void **state)
{
    (void)state;
    ttm_poclog_stats st = {0};
    uint32_t pid;
    ttm_event a, b;
    assert_int_equal(parse("✓ [PID 1] Allocated 8 bytes of DRAM on device 0 (buffer_id=1)", &st,
                           &pid, &a),
                     TTM_POCLOG_EVENT);
    assert_int_equal(parse("noise", &st, &pid, &b), TTM_POCLOG_SKIPPED);
    assert_int_equal(parse("✗ [PID 1] Freed buffer 1 on device 0 (8 bytes, FINAL)", &st, &pid,
                           &b),
                     TTM_POCLOG_EVENT);
    assert_true(b.ts > a.ts);
    assert_int_equal(b.ts, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_lines),
        cmocka_unit_test(test_free_lines),
        cmocka_unit_test(test_noise_is_skipped),
        cmocka_unit_test(test_bad_lines_counted_and_kept),
        cmocka_unit_test(test_invalid_utf8_and_binary),
        cmocka_unit_test(test_timestamps_follow_lines),
        cmocka_unit_test(test_decimal_ids_flagged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
