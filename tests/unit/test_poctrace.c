/*
 * test_poctrace.c — the prototype's stack-trace log back into records: a log in the exact form
 * its demo client writes (header, rule, fields, demangled frames, blank line), every field; the
 * same bytes in every chunking, with CRLF, cut at every byte; garbage, bad fields, interleaved
 * headers, long lines and too many frames. The reader never allocates, so there is no
 * allocation-failure case.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/event.h"
#include "common/poctrace.h"

#define RULE "─────────────────────────────────────────────────────\n"

/* A log in the form the demo client writes (its main() makes three allocations and two
 * deallocations at these addresses), frames as backtrace_symbols() gives them after the
 * client's split into "module : function+offset", and two it leaves as they are. */
static const char fixture[] =
    "=== TT-Metal Buffer Allocation Stack Traces ===\n"
    "PID: 2685613\n"
    "\n" RULE "Allocation #0\n"
    "Time: 2025-10-14 09:31:07\n"
    "Device: 0\n"
    "Type: L1\n"
    "Size: 1048576 bytes (1024 KB)\n"
    "Address: 0x1000000\n"
    "Stack trace:\n"
    "  /opt/tt-metal/build/lib/libtt_metal.so : "
    "tt::tt_metal::Buffer::allocate_impl(tt::tt_metal::IDevice*, unsigned long, unsigned char, "
    "unsigned long)+0x5e\n"
    "  ./allocation_client_with_stacktrace : main+0x3c\n"
    "  /lib/x86_64-linux-gnu/libc.so.6 : +0x271ca\n"
    "  /lib/x86_64-linux-gnu/libc.so.6 : __libc_start_main+0x85\n"
    "  ./allocation_client_with_stacktrace : _start+0x21\n"
    "\n" RULE "Allocation #1\n"
    "Time: 2025-10-14 09:31:07\n"
    "Device: 0\n"
    "Type: L1\n"
    "Size: 524288 bytes (512 KB)\n"
    "Address: 0x1100000\n"
    "Stack trace:\n"
    "  ./allocation_client_with_stacktrace : main+0x5d\n"
    "\n" RULE "Allocation #2\n"
    "Time: 2025-10-14 09:31:08\n"
    "Device: 1\n"
    "Type: DRAM\n"
    "Size: 3000000 bytes (2929.69 KB)\n"
    "Address: 0x2000000\n"
    "Stack trace:\n"
    "  /opt/tt-metal/build/lib/libtt_metal.so : tt::tt_metal::operator+(int)+0x10\n"
    "  [0x7f3a2b4c5d6e]\n"
    "  /opt/tt-metal/build/lib/libtt_metal.so(_ZN2tt5guardEv-0x10) [0x7f3a2b000010]\n"
    "\n" RULE "Deallocation\n"
    "Time: 2025-10-14 09:31:08\n"
    "Device: 0\n"
    "Address: 0x1000000\n"
    "Stack trace:\n"
    "  /opt/tt-metal/build/lib/libtt_metal.so : "
    "tt::tt_metal::Buffer::deallocate_impl(int, unsigned long)+0x4a\n"
    "\n" RULE "Deallocation\n"
    "Time: 2025-10-14 09:31:08\n"
    "Device: 0\n"
    "Address: 0x1100000\n"
    "Stack trace:\n"
    "\n";

#define MAXREC 64

typedef struct seen {
    size_t n;
    int stop_at; /* return nonzero on this record (1-based), 0 never */
    ttm_poctrace_record rec[MAXREC];
} seen;

static int collect(void *arg, const ttm_poctrace_record *rec)
{
    seen *s = arg;
    if (s->n < MAXREC)
        s->rec[s->n] = *rec;
    s->n++;
    return s->stop_at != 0 && (int)s->n == s->stop_at ? 7 : 0;
}

static ttm_poctrace reader; /* large: not on the stack */
static seen got, want;

/* Reads text in chunks of `chunk` bytes (0: all at once) into *s. */
static void read_text(const char *text, size_t len, size_t chunk, seen *s)
{
    memset(s, 0, sizeof *s);
    ttm__poctrace_init(&reader, collect, s);
    if (chunk == 0)
        chunk = len ? len : 1;
    for (size_t off = 0; off < len; off += chunk)
        assert_int_equal(
            ttm__poctrace_feed(&reader, text + off, off + chunk > len ? len - off : chunk), 0);
    assert_int_equal(ttm__poctrace_finish(&reader), 0);
}

static void span_equal(const ttm_poctrace_frame *f, size_t off, size_t len, const char *want_s)
{
    assert_int_equal(len, strlen(want_s));
    assert_memory_equal(f->text + off, want_s, len);
}

static void check_frame(const ttm_poctrace_frame *f, const char *module, const char *func,
                        long long offset)
{
    span_equal(f, 0, f->module_len, module);
    span_equal(f, f->func_off, f->func_len, func);
    assert_int_equal(f->has_offset, offset != 0);
    if (offset != 0) {
        assert_int_equal(f->offset_neg, offset < 0);
        assert_int_equal(f->offset, (uint64_t)(offset < 0 ? -offset : offset));
    }
    assert_false(f->cut);
}

static void records_equal(const seen *a, const seen *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const ttm_poctrace_record *x = &a->rec[i], *y = &b->rec[i];
        assert_int_equal(x->kind, y->kind);
        assert_int_equal(x->number, y->number);
        assert_int_equal(x->has_number, y->has_number);
        assert_int_equal(x->pid, y->pid);
        assert_int_equal(x->lineno, y->lineno);
        assert_string_equal(x->time, y->time);
        assert_int_equal(x->device, y->device);
        assert_int_equal(x->memtype, y->memtype);
        assert_int_equal(x->size, y->size);
        assert_int_equal(x->address, y->address);
        assert_int_equal(x->nframes, y->nframes);
        assert_int_equal(x->frames_cut, y->frames_cut);
        for (size_t k = 0; k < x->nframes; k++) {
            assert_int_equal(x->frames[k].len, y->frames[k].len);
            assert_memory_equal(x->frames[k].text, y->frames[k].text, x->frames[k].len + 1);
        }
    }
}

static void test_fixture_fields(void **state)
{
    (void)state;
    read_text(fixture, sizeof fixture - 1, 0, &got);
    const ttm_poctrace_stats *st = &reader.st;
    assert_int_equal(got.n, 5);
    assert_int_equal(st->records, 5);
    assert_int_equal(st->allocs, 3);
    assert_int_equal(st->frees, 2);
    assert_int_equal(st->headers, 1);
    assert_int_equal(st->frames, 10);
    assert_int_equal(st->garbage + st->bad + st->truncated + st->lines_cut + st->frames_cut, 0);
    assert_int_equal(st->partial_last, 0);
    assert_int_equal(st->bytes, sizeof fixture - 1);
    assert_int_equal(st->lines, 54);

    const ttm_poctrace_record *r = &got.rec[0];
    assert_int_equal(r->kind, TTM_POCTRACE_ALLOC);
    assert_true(r->has_number);
    assert_int_equal(r->number, 0);
    assert_true(r->has_pid);
    assert_int_equal(r->pid, 2685613);
    assert_int_equal(r->lineno, 5);
    assert_string_equal(r->time, "2025-10-14 09:31:07");
    assert_int_equal(r->device, 0);
    assert_int_equal(r->memtype, TTM_MEM_L1);
    assert_int_equal(r->size, 1048576);
    assert_int_equal(r->address, 0x1000000);
    assert_int_equal(r->nframes, 5);
    assert_int_equal(r->frames_cut, 0);
    check_frame(&r->frames[0], "/opt/tt-metal/build/lib/libtt_metal.so",
                "tt::tt_metal::Buffer::allocate_impl(tt::tt_metal::IDevice*, unsigned long, "
                "unsigned char, unsigned long)",
                0x5e);
    assert_string_equal(r->frames[1].text, "./allocation_client_with_stacktrace : main+0x3c");
    check_frame(&r->frames[1], "./allocation_client_with_stacktrace", "main", 0x3c);
    check_frame(&r->frames[2], "/lib/x86_64-linux-gnu/libc.so.6", "", 0x271ca);
    check_frame(&r->frames[3], "/lib/x86_64-linux-gnu/libc.so.6", "__libc_start_main", 0x85);
    check_frame(&r->frames[4], "./allocation_client_with_stacktrace", "_start", 0x21);
    assert_false(r->frames[4].has_addr);

    r = &got.rec[1];
    assert_int_equal(r->number, 1);
    assert_int_equal(r->size, 524288);
    assert_int_equal(r->address, 0x1100000);
    assert_int_equal(r->nframes, 1);
    check_frame(&r->frames[0], "./allocation_client_with_stacktrace", "main", 0x5d);

    r = &got.rec[2];
    assert_int_equal(r->number, 2);
    assert_string_equal(r->time, "2025-10-14 09:31:08");
    assert_int_equal(r->device, 1);
    assert_int_equal(r->memtype, TTM_MEM_DRAM);
    assert_int_equal(r->size, 3000000);
    assert_int_equal(r->address, 0x2000000);
    assert_int_equal(r->nframes, 3);
    check_frame(&r->frames[0], "/opt/tt-metal/build/lib/libtt_metal.so",
                "tt::tt_metal::operator+(int)", 0x10);
    check_frame(&r->frames[1], "", "", 0);
    assert_true(r->frames[1].has_addr);
    assert_int_equal(r->frames[1].addr, 0x7f3a2b4c5d6eULL);
    check_frame(&r->frames[2], "/opt/tt-metal/build/lib/libtt_metal.so", "_ZN2tt5guardEv", -0x10);
    assert_true(r->frames[2].has_addr);
    assert_int_equal(r->frames[2].addr, 0x7f3a2b000010ULL);

    r = &got.rec[3];
    assert_int_equal(r->kind, TTM_POCTRACE_FREE);
    assert_false(r->has_number);
    assert_int_equal(r->pid, 2685613);
    assert_int_equal(r->device, 0);
    assert_int_equal(r->memtype, TTM_MEM_ANY);
    assert_int_equal(r->size, 0);
    assert_int_equal(r->address, 0x1000000);
    assert_int_equal(r->nframes, 1);
    check_frame(&r->frames[0], "/opt/tt-metal/build/lib/libtt_metal.so",
                "tt::tt_metal::Buffer::deallocate_impl(int, unsigned long)", 0x4a);

    r = &got.rec[4];
    assert_int_equal(r->kind, TTM_POCTRACE_FREE);
    assert_int_equal(r->address, 0x1100000);
    assert_int_equal(r->nframes, 0);
}

/* Every chunk size, and CRLF line ends, give the same records. */
static void test_chunks_and_crlf(void **state)
{
    (void)state;
    size_t len = sizeof fixture - 1;
    read_text(fixture, len, 0, &want);
    for (size_t chunk = 1; chunk <= len; chunk += chunk < 64 ? 1 : 61) {
        read_text(fixture, len, chunk, &got);
        assert_int_equal(got.n, want.n);
        records_equal(&got, &want, want.n);
    }
    char *crlf = malloc(2 * len + 1);
    assert_non_null(crlf);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (fixture[i] == '\n')
            crlf[n++] = '\r';
        crlf[n++] = fixture[i];
    }
    for (size_t chunk = 0; chunk < 8; chunk++) {
        read_text(crlf, n, chunk, &got);
        assert_int_equal(got.n, want.n);
        records_equal(&got, &want, want.n);
        assert_int_equal(reader.st.garbage + reader.st.bad + reader.st.truncated, 0);
    }
    free(crlf);
}

/* A file cut at every byte: the records read are the complete blocks before the cut, each
 * exactly as in the whole file; a block cut open is counted as truncated. */
static void test_cut_everywhere(void **state)
{
    (void)state;
    size_t len = sizeof fixture - 1;
    read_text(fixture, len, 0, &want);
    for (size_t k = 0; k <= len; k++) {
        read_text(fixture, k, 0, &got);
        size_t blanks = 0; /* blank lines complete before the cut, after the header's */
        for (size_t i = 1; i < k; i++)
            if (fixture[i] == '\n' && fixture[i - 1] == '\n')
                blanks++;
        size_t complete = blanks > 0 ? blanks - 1 : 0;
        assert_int_equal(got.n, complete);
        records_equal(&got, &want, got.n);
        assert_int_equal(reader.st.bad + reader.st.garbage, 0);
        assert_int_equal(reader.st.partial_last, k > 0 && fixture[k - 1] != '\n');
        assert_true(reader.st.truncated <= 1);
    }
}

static void test_garbage_and_bad_fields(void **state)
{
    (void)state;
    static const char text[] = "make[2]: Entering directory\n"
                               "\n" RULE "Allocation #3\n"
                               "Time: 2025-10-14 9:31:07\n" /* one digit hour: bad */
                               "Device: 0\n" RULE "Allocation #4\n"
                               "Time: 2025-10-14 09:31:07\n"
                               "Device: zero\n" /* bad */
                               "Type: L1\n"     /* garbage: outside any block now */
        RULE "Allocation #5\n"
                               "Time: 2025-10-14 09:31:07\n"
                               "Device: -1\n"
                               "Type: SPARSE\n" RULE "Allocation #6\n"
                               "Time: 2025-10-14 09:31:07\n"
                               "Device: 2\n"
                               "Type: UNKNOWN\n"
                               "Size: 12 bytes (0.0117188 KB)\n"
                               "Address: 0xzz\n" RULE "Allocation #7\n"
                               "Time: 2025-10-14 09:31:07\n"
                               "Device: -1\n"
                               "Type: UNKNOWN\n"
                               "Size: 12 bytes (0.0117188 KB)\n"
                               "Address: 0xC0\n"
                               "Stack trace:\n"
                               "  a : f+0x1\n"
                               "not a frame\n" RULE "Deallocation #9\n"
                               "Time: 2025-10-14 09:31:07\n"
                               "Device: 3\n"
                               "Address: 0xAbC\n"
                               "Stack trace:\n"
                               "  \xff\xfe binary : \x01+0x2\n"
                               "\n"
                               "\x00\x01\x02\n";
    read_text(text, sizeof text - 1, 0, &got);
    const ttm_poctrace_stats *st = &reader.st;
    assert_int_equal(got.n, 1);
    assert_int_equal(st->bad, 5);
    assert_int_equal(st->garbage, 4);
    assert_int_equal(st->truncated, 0);
    assert_int_equal(st->nkept, TTM_POCTRACE_KEEP_BAD);
    assert_string_equal(st->kept[0], "make[2]: Entering directory");
    assert_int_equal(st->kept_lineno[0], 1);
    assert_string_equal(st->kept[1], "Time: 2025-10-14 9:31:07");
    assert_string_equal(st->kept[2], "Device: 0");
    assert_string_equal(st->kept[3], "Device: zero");
    assert_string_equal(st->kept[4], "Type: L1");
    const ttm_poctrace_record *r = &got.rec[0];
    assert_int_equal(r->kind, TTM_POCTRACE_FREE);
    assert_true(r->has_number);
    assert_int_equal(r->number, 9);
    assert_false(r->has_pid);
    assert_int_equal(r->device, 3);
    assert_int_equal(r->address, 0xabc);
    assert_int_equal(r->nframes, 1);
    check_frame(&r->frames[0], "\xff\xfe binary", "\x01", 2);
}

/* Processes appending to one log: a header in the middle of a block cuts it; the PID follows
 * the latest header. */
static void test_interleaved_headers(void **state)
{
    (void)state;
    static const char text[] = RULE "Deallocation\n"
                                    "Time: 2025-10-14 09:31:07\n"
                                    "Device: 0\n"
                                    "Address: 0x10\n"
                                    "Stack trace:\n"
                                    "\n"
                                    "=== TT-Metal Buffer Allocation Stack Traces ===\n"
                                    "PID: 7\n"
                                    "\n" RULE "Allocation #0\n"
                                    "Time: 2025-10-14 09:31:07\n"
                                    "=== TT-Metal Buffer Allocation Stack Traces ===\n"
                                    "PID: 8\n"
                                    "\n" RULE "Allocation #0\n"
                                    "Time: 2025-10-14 09:31:07\n"
                                    "Device: 4\n"
                                    "Type: TRACE\n"
                                    "Size: 64 bytes (0.0625 KB)\n"
                                    "Address: 0x40\n"
                                    "Stack trace:\n"
                                    "  m : f+0x1\n" RULE "Allocation #1\n"
                                    "Time: 2025-10-14 09:31:07\n"
                                    "Device: 4\n"
                                    "Type: L1_SMALL\n"
                                    "Size: 64 bytes\n"
                                    "Address: 0x80\n"
                                    "Stack trace:\n"
                                    "  m : f+0x1\n"
                                    "\n";
    read_text(text, sizeof text - 1, 0, &got);
    assert_int_equal(got.n, 2);
    assert_int_equal(reader.st.headers, 2);
    assert_int_equal(reader.st.truncated, 2);
    assert_false(got.rec[0].has_pid);
    assert_int_equal(got.rec[1].pid, 8);
    assert_int_equal(got.rec[1].number, 1);
    assert_int_equal(got.rec[1].memtype, TTM_MEM_L1_SMALL);
    assert_int_equal(got.rec[1].size, 64);
}

static void append(char *buf, size_t *n, const char *s)
{
    size_t k = strlen(s);
    memcpy(buf + *n, s, k);
    *n += k;
}

/* Lines past TTM_POCTRACE_LINE_MAX are cut (a frame keeps its start), frames past
 * TTM_POCTRACE_FRAMES are dropped, both counted. */
static void test_long_lines_and_many_frames(void **state)
{
    (void)state;
    size_t cap = 64 * 1024, n = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    append(buf, &n, "x");
    memset(buf + n, 'g', 3 * TTM_POCTRACE_LINE_MAX);
    n += 3 * TTM_POCTRACE_LINE_MAX;
    append(buf, &n,
           "\n" RULE "Allocation #1\nTime: 2025-10-14 09:31:07\nDevice: 0\nType: L1\n"
           "Size: 1 bytes (0.000976562 KB)\nAddress: 0x1\nStack trace:\n  lib.so : ");
    memset(buf + n, 'f', 2 * TTM_POCTRACE_LINE_MAX);
    n += 2 * TTM_POCTRACE_LINE_MAX;
    append(buf, &n, "+0x1\r\n");
    for (int i = 0; i < TTM_POCTRACE_FRAMES + 4; i++)
        append(buf, &n, "  lib.so : g+0x2\n");
    append(buf, &n, "\n");
    for (size_t chunk = 0; chunk < 3; chunk++) {
        read_text(buf, n, chunk == 0 ? 0 : chunk == 1 ? 1 : 1000, &got);
        const ttm_poctrace_stats *st = &reader.st;
        assert_int_equal(got.n, 1);
        assert_int_equal(st->lines_cut, 2);
        assert_int_equal(st->garbage, 1);
        assert_int_equal(st->kept[0][0], 'x');
        assert_int_equal(strlen(st->kept[0]), TTM_POCTRACE_BAD_LEN - 1);
        const ttm_poctrace_record *r = &got.rec[0];
        assert_int_equal(r->nframes, TTM_POCTRACE_FRAMES);
        assert_int_equal(r->frames_cut, 5);
        assert_int_equal(st->frames_cut, 5);
        assert_int_equal(st->frames, TTM_POCTRACE_FRAMES);
        const ttm_poctrace_frame *f = &r->frames[0];
        assert_true(f->cut);
        assert_int_equal(f->len, TTM_POCTRACE_LINE_MAX - 2);
        assert_int_equal(strlen(f->text), f->len);
        assert_memory_equal(f->text, "lib.so : fff", 12);
        assert_int_equal(f->module_len + f->func_len, 0);
        assert_false(f->has_offset);
        check_frame(&r->frames[1], "lib.so", "g", 2);
    }
    free(buf);
}

/* A nonzero return from the callback stops the feed there. */
static void test_callback_stops(void **state)
{
    (void)state;
    memset(&got, 0, sizeof got);
    got.stop_at = 2;
    ttm__poctrace_init(&reader, collect, &got);
    assert_int_equal(ttm__poctrace_feed(&reader, fixture, sizeof fixture - 1), 7);
    assert_int_equal(got.n, 2);
    assert_int_equal(reader.st.records, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_fields),
        cmocka_unit_test(test_chunks_and_crlf),
        cmocka_unit_test(test_cut_everywhere),
        cmocka_unit_test(test_garbage_and_bad_fields),
        cmocka_unit_test(test_interleaved_headers),
        cmocka_unit_test(test_long_lines_and_many_frames),
        cmocka_unit_test(test_callback_stops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
