/*
 * test_poctrace.c — the prototype's stack-trace log back into records: a log in the exact form
 * its demo client writes (header, rule, fields, demangled frames, blank line), every field; the
 * same bytes in every chunking, with CRLF, cut at every byte; garbage, bad fields, interleaved
 * headers, long lines and too many frames; a feed paused by its callback and resumed; frames
 * with a source line. The reader never allocates, so there is no allocation-failure case.
 * The matcher: logs written by a generator (address reuse, events the other log lacks, local
 * reordering, a foreign run at the head) must give every event exactly the stack the generator
 * attached to it, within a bounded window, and account for every record.
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
#include "ttmem/ttmem.h"

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

/* A paused feed resumes where it stopped and reads the same records as one feed. */
static void test_feed_part_resumes(void **state)
{
    (void)state;
    static seen whole;
    read_text(fixture, sizeof fixture - 1, 0, &whole);
    memset(&got, 0, sizeof got);
    ttm__poctrace_init(&reader, collect, &got);
    const char *p = fixture;
    size_t left = sizeof fixture - 1, pauses = 0;
    while (left > 0) {
        got.stop_at = (int)got.n + 1; /* pause after every record */
        size_t used = 0;
        int rc = ttm__poctrace_feed_part(&reader, p, left, &used);
        assert_true(used <= left);
        assert_true(rc == 0 ? used == left : rc == 7);
        pauses += rc != 0;
        p += used;
        left -= used;
    }
    assert_int_equal(ttm__poctrace_finish(&reader), 0);
    assert_int_equal(pauses, whole.n);
    assert_int_equal(got.n, whole.n);
    assert_int_equal(reader.st.bytes, sizeof fixture - 1);
    records_equal(&got, &whole, whole.n);
}

/* " at FILE:LINE" gives the source line; sym spans the symbol as printed. */
static void test_frame_source_line(void **state)
{
    (void)state;
    static const char text[] = RULE "Deallocation\nTime: 2025-10-14 09:31:08\nDevice: 0\n"
                                    "Address: 0x10\nStack trace:\n"
                                    "  ./app : free_twice(int)+0x1a at /src/app.cpp:42\n"
                                    "  ./app(main+0x3c) [0x55d0] at app.c:7\n"
                                    "  ./app : g at :3\n"
                                    "  ./app : +0x12\n"
                                    "  [0x7f00]\n"
                                    "\n";
    read_text(text, sizeof text - 1, 0, &got);
    assert_int_equal(got.n, 1);
    const ttm_poctrace_record *r = &got.rec[0];
    assert_int_equal(r->nframes, 5);
    const ttm_poctrace_frame *f = &r->frames[0];
    check_frame(f, "./app", "free_twice(int)", 0x1a);
    span_equal(f, f->file_off, f->file_len, "/src/app.cpp");
    assert_int_equal(f->line, 42);
    span_equal(f, f->sym_off, f->sym_len, "free_twice(int)+0x1a");
    f = &r->frames[1];
    check_frame(f, "./app", "main", 0x3c);
    assert_true(f->has_addr);
    span_equal(f, f->file_off, f->file_len, "app.c");
    assert_int_equal(f->line, 7);
    f = &r->frames[2]; /* an empty file is no source line */
    assert_int_equal(f->line, 0);
    span_equal(f, f->sym_off, f->sym_len, "g at :3");
    f = &r->frames[3];
    check_frame(f, "./app", "", 0x12);
    span_equal(f, f->sym_off, f->sym_len, "+0x12");
    assert_int_equal(f->line, 0);
    f = &r->frames[4];
    span_equal(f, f->sym_off, f->sym_len, "[0x7f00]");
    assert_int_equal(f->module_len, 0);
}

/* ---- the matcher ---- */

typedef struct gen_ev {
    ttm_event ev;   /* as the server log gives it */
    uint32_t stack; /* the stack the generator attached (0: not in the stack-trace log) */
    bool in_server; /* the server log has it */
} gen_ev;

static uint64_t rnd_state;
static uint64_t rnd(uint64_t n)
{
    rnd_state += 0x9E3779B97F4A7C15u;
    uint64_t z = rnd_state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return (z ^ (z >> 31)) % n;
}

/* n events of a process that allocates and frees from a pool of 16 addresses of 3 sizes (so
 * keys repeat), on device 0 and 1. Every fourth one is only in the server log (another
 * process: device 7) or only in the stack-trace log (device 8) when `extras`. */
static gen_ev *generate(size_t n, bool extras)
{
    gen_ev *g = calloc(n, sizeof *g);
    assert_non_null(g);
    static const uint64_t sizes[] = {4096, 65536, 1 << 20};
    bool live[2][16] = {{false}};
    uint64_t lsize[2][16] = {{0}};
    for (size_t i = 0; i < n; i++) {
        ttm_event *e = &g[i].ev;
        uint16_t dev = (uint16_t)rnd(2);
        unsigned slot = (unsigned)rnd(16);
        e->device = dev;
        e->addr = 0x100000 + slot * 0x100000;
        if (!live[dev][slot] || rnd(3) == 0) { /* an allocation (again: a duplicate) */
            e->kind = TTM_EV_ALLOC;
            e->memtype = (uint8_t)(rnd(2) ? TTM_MEM_DRAM : TTM_MEM_L1);
            e->size = live[dev][slot] ? lsize[dev][slot] : sizes[rnd(3)];
            live[dev][slot] = true;
            lsize[dev][slot] = e->size;
        } else {
            e->kind = TTM_EV_FREE;
            e->memtype = TTM_MEM_ANY;
            live[dev][slot] = false;
        }
        g[i].stack = (uint32_t)i + 1;
        g[i].in_server = true;
        if (extras && rnd(4) == 0) {
            if (rnd(2)) {
                e->device = 7; /* a process the stack-trace log does not cover */
                g[i].stack = 0;
            } else {
                e->device = 8; /* a record the server log lacks */
                g[i].in_server = false;
            }
        }
    }
    return g;
}

static void to_record(const gen_ev *g, ttm_poctrace_record *rec)
{
    memset(rec, 0, sizeof *rec);
    rec->kind = g->ev.kind == TTM_EV_ALLOC ? TTM_POCTRACE_ALLOC : TTM_POCTRACE_FREE;
    rec->device = g->ev.device;
    rec->address = g->ev.addr;
    rec->size = g->ev.kind == TTM_EV_ALLOC ? g->ev.size : 0;
    /* the log says UNKNOWN for some types: it fits any */
    rec->memtype = g->ev.kind == TTM_EV_ALLOC && g->stack % 5 != 0 ? g->ev.memtype : TTM_MEM_ANY;
}

typedef struct match_run {
    size_t events, with_stack, records;
    size_t first_match;  /* index (in server order) of the first event given a stack */
    size_t missed_after; /* events with a record that got none after the first match */
    size_t wrong;        /* events given another record's stack */
    size_t last_bad;     /* index + 1 of the last event with a record not given its stack */
} match_run;

/* Feeds the records (trace order: g[0..n), the stacked ones, after `head` foreign records)
 * into a matcher of `window` as analyze-log does (read ahead until the window is full, then
 * match one server event), the server events in server order (order[]). Checks every event's
 * stack against want(). */
static void run_matcher(const gen_ev *g, size_t n, const size_t *order, uint32_t window,
                        size_t head, ttm_poctrace_match_stats *st, match_run *mr)
{
    ttm_poctrace_matcher *m = NULL;
    assert_int_equal(ttm__poctrace_matcher_open(&m, window), TTM_OK);
    memset(mr, 0, sizeof *mr);
    size_t next = 0, foreign = 0;
    ttm_poctrace_record rec;
    for (size_t k = 0; k < n; k++) {
        while (!ttm__poctrace_matcher_full(m) && (foreign < head || next < n)) {
            if (foreign < head) { /* another run, on a device this one never uses */
                gen_ev f = {.ev = {.kind = TTM_EV_ALLOC,
                                   .device = 9,
                                   .addr = foreign,
                                   .size = 64,
                                   .memtype = TTM_MEM_L1}};
                to_record(&f, &rec);
                assert_int_equal(ttm__poctrace_matcher_add(m, &rec, 1000000 + (uint32_t)foreign),
                                 TTM_OK);
                foreign++;
                mr->records++;
                continue;
            }
            if (g[next].stack != 0) {
                to_record(&g[next], &rec);
                assert_int_equal(ttm__poctrace_matcher_add(m, &rec, g[next].stack), TTM_OK);
                mr->records++;
            }
            next++;
        }
        if (ttm__poctrace_matcher_full(m))
            assert_int_equal(ttm__poctrace_matcher_add(m, &rec, 1), TTM_ELIMIT);
        const gen_ev *e = &g[order[k]];
        if (!e->in_server)
            continue;
        mr->events++;
        uint32_t got_stack = ttm__poctrace_matcher_take(m, &e->ev);
        if (got_stack != 0) {
            mr->wrong += got_stack != e->stack;
            if (mr->with_stack++ == 0)
                mr->first_match = k;
        } else if (mr->with_stack > 0 && e->stack != 0) {
            mr->missed_after++;
        }
        if (e->stack != 0 && got_stack != e->stack)
            mr->last_bad = k + 1;
    }
    ttm__poctrace_matcher_stats(m, st);
    assert_true(st->peak <= window);
    assert_int_equal(st->added, mr->records);
    assert_int_equal(st->added, st->taken + st->dropped + st->left);
    assert_int_equal(st->taken + st->missed, mr->events);
    assert_int_equal(st->taken, mr->with_stack);
    /* control events take nothing and count nowhere */
    ttm_event mark = {.kind = TTM_EV_MARK};
    assert_int_equal(ttm__poctrace_matcher_take(m, &mark), 0);
    ttm_poctrace_match_stats again;
    ttm__poctrace_matcher_stats(m, &again);
    assert_int_equal(again.missed, st->missed);
    ttm__poctrace_matcher_close(m);
}

/* The two logs in one order, then with neighbours swapped in the server log (when their keys
 * differ, as two processes' messages may arrive), with and without events the other log lacks:
 * every event that has a record gets exactly its stack. */
static void test_matcher_generated(void **state)
{
    (void)state;
    const size_t n = 20000;
    size_t *order = malloc(n * sizeof *order);
    assert_non_null(order);
    for (int extras = 0; extras < 2; extras++) {
        for (int swap = 0; swap < 2; swap++) {
            rnd_state = 42 + (uint64_t)extras * 7 + (uint64_t)swap;
            gen_ev *g = generate(n, extras != 0);
            for (size_t i = 0; i < n; i++)
                order[i] = i;
            for (size_t i = 0; swap && i + 1 < n; i += 2) {
                const ttm_event *a = &g[order[i]].ev, *b = &g[order[i + 1]].ev;
                if (rnd(2) && (a->device != b->device || a->addr != b->addr)) {
                    size_t t = order[i];
                    order[i] = order[i + 1];
                    order[i + 1] = t;
                }
            }
            size_t expect = 0, server = 0;
            for (size_t i = 0; i < n; i++) {
                server += g[i].in_server;
                expect += g[i].in_server && g[i].stack != 0;
            }
            for (uint32_t window = 64; window <= 4096; window *= 8) {
                ttm_poctrace_match_stats st;
                match_run mr;
                run_matcher(g, n, order, window, 0, &st, &mr);
                assert_int_equal(mr.events, server);
                assert_int_equal(mr.with_stack, expect);
                assert_int_equal(st.missed, server - expect);
                assert_int_equal(st.resyncs, 0);
                /* only the records the server log lacks are given up or left over (those past
                 * the last event taken) */
                assert_int_equal(st.dropped + st.left, mr.records - expect);
                assert_true(st.left <= window / 2);
                assert_int_equal(mr.missed_after, 0);
                assert_int_equal(mr.wrong, 0);
            }
            free(g);
        }
    }
    free(order);
}

/* A run's records after 3 windows of another run's (a log appended to by an earlier run): the
 * window is resynchronised until it catches up, and from the first match on every event gets
 * its stack. */
static void test_matcher_resync(void **state)
{
    (void)state;
    const size_t n = 4000;
    const uint32_t window = 256;
    rnd_state = 5;
    gen_ev *g = generate(n, false);
    size_t *order = malloc(n * sizeof *order);
    assert_non_null(order);
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    ttm_poctrace_match_stats st;
    match_run mr;
    run_matcher(g, n, order, window, 3 * window, &st, &mr);
    assert_true(st.resyncs >= 3); /* at least the foreign records' windows */
    assert_true(st.dropped >= 3 * window);
    assert_int_equal(st.left, 0);
    /* each resync costs half a window of events and the read-ahead gains on the events: within
     * a few windows every event gets its own stack (while it catches up, an event can take an
     * earlier record with its key: these logs reuse 96 keys) */
    assert_true(mr.last_bad > 3 * window / 2);
    assert_true(mr.last_bad <= 8 * window);
    assert_true(mr.with_stack >= n - mr.last_bad);
    free(order);
    free(g);
}

static void test_matcher_bounds(void **state)
{
    (void)state;
    ttm_poctrace_matcher *m = (ttm_poctrace_matcher *)&m;
    assert_int_equal(ttm__poctrace_matcher_open(&m, 1), TTM_EINVAL);
    assert_null(m);
    assert_int_equal(ttm__poctrace_matcher_open(&m, (1u << 24) + 1), TTM_EINVAL);
    assert_int_equal(ttm__poctrace_matcher_open(NULL, 0), TTM_EINVAL);
    assert_int_equal(ttm__poctrace_matcher_open(&m, 0), TTM_OK);
    ttm_poctrace_record rec;
    memset(&rec, 0, sizeof rec);
    rec.kind = TTM_POCTRACE_FREE;
    for (uint32_t i = 0; i < TTM_POCTRACE_WINDOW; i++) {
        rec.address = i;
        assert_int_equal(ttm__poctrace_matcher_add(m, &rec, i + 1), TTM_OK);
    }
    assert_true(ttm__poctrace_matcher_full(m));
    assert_int_equal(ttm__poctrace_matcher_add(m, &rec, 1), TTM_ELIMIT);
    ttm_event ev = {.kind = TTM_EV_FREE, .addr = 77, .memtype = TTM_MEM_ANY};
    assert_int_equal(ttm__poctrace_matcher_take(m, &ev), 78);
    assert_int_equal(ttm__poctrace_matcher_take(m, &ev), 0);
    assert_true(ttm__poctrace_matcher_full(m)); /* a hole in the middle frees no room */
    ev.addr = 0;
    assert_int_equal(ttm__poctrace_matcher_take(m, &ev), 1);
    assert_false(ttm__poctrace_matcher_full(m));
    ev.addr = TTM_POCTRACE_WINDOW / 2 + 100; /* half a window past the first records */
    assert_int_equal(ttm__poctrace_matcher_take(m, &ev), TTM_POCTRACE_WINDOW / 2 + 101);
    ttm_poctrace_match_stats st;
    ttm__poctrace_matcher_stats(m, &st);
    assert_int_equal(st.dropped, 100 - 1); /* 1..100 less the one taken: the events passed them */
    assert_int_equal(st.left, TTM_POCTRACE_WINDOW - 3 - st.dropped);
    assert_int_equal(st.taken, 3);
    assert_int_equal(st.missed, 1);
    ttm__poctrace_matcher_close(m);
    ttm__poctrace_matcher_close(NULL);
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
        cmocka_unit_test(test_feed_part_resumes),
        cmocka_unit_test(test_frame_source_line),
        cmocka_unit_test(test_matcher_generated),
        cmocka_unit_test(test_matcher_resync),
        cmocka_unit_test(test_matcher_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
