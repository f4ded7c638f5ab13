/*
 * test_journal.c — the run journal: every record kind round trip, a file cut at every byte, every
 * byte of the blocks flipped, a full disk (/dev/full and a file size limit), and the size cap;
 * the compressor thread (threads = 1): the same bytes as without it, its errors sticky; a chunk
 * appended to a closed journal (cut at every byte, damaged, a write that fails) and the MADE
 * chunk's codec.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/bytes.h"
#include "common/journal.h"
#include "ttmem/ttmem.h"

/* ---- a sink that renders every record as one text line ------------------------------------- */

typedef struct text {
    char *s;
    size_t len, cap;
    unsigned damages;
} text;

static void add(text *t, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof line);
    if (t->len + (size_t)n + 1 > t->cap) {
        t->cap = (t->len + (size_t)n + 1) * 2;
        t->s = realloc(t->s, t->cap);
        assert_non_null(t->s);
    }
    memcpy(t->s + t->len, line, (size_t)n + 1);
    t->len += (size_t)n;
}

static int on_event(void *ctx, const ttm_journal_event *e)
{
    add(ctx, "E %u %u %u %u %u %u %u %llu %llu %llu %llu\n", e->kind, e->memtype, e->device,
        e->classes, e->pid, e->stack, e->scope, (unsigned long long)e->ts,
        (unsigned long long)e->addr, (unsigned long long)e->size, (unsigned long long)e->obj);
    return 0;
}

static int on_device(void *ctx, const ttm_journal_device *d)
{
    add(ctx, "D %u %u %u %u %u %llu %llu %llu\n", d->device, d->arch, d->worker_cores,
        d->l1_per_core, d->dram_channels, (unsigned long long)d->dram_capacity,
        (unsigned long long)d->l1_capacity, (unsigned long long)d->ts);
    return 0;
}

static void add_hex(text *t, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        add(t, "%02x", p[i]);
}

static int on_proc(void *ctx, const ttm_journal_proc *p)
{
    add(ctx, "P %d %u %d %llu [%s] ", p->state, p->pid, p->status, (unsigned long long)p->ts,
        p->name);
    add_hex(ctx, (const uint8_t *)p->cmdline, p->cmdline_len);
    add(ctx, "\n");
    return 0;
}

static int on_mark(void *ctx, const ttm_journal_mark *m)
{
    add(ctx, "M %u %llu [%s]\n", m->pid, (unsigned long long)m->ts, m->name);
    return 0;
}

static int on_chunk(void *ctx, const ttm_journal_chunk *c)
{
    add(ctx, "C %u %llu ", c->kind, (unsigned long long)c->ts);
    add_hex(ctx, c->data, c->len);
    add(ctx, "\n");
    return 0;
}

static void on_damage(void *ctx, uint64_t off, const char *what)
{
    (void)off;
    assert_non_null(what);
    ((text *)ctx)->damages++;
}

static ttm_journal_sink sink_of(text *t)
{
    return (ttm_journal_sink){.ctx = t, .event = on_event, .device = on_device, .proc = on_proc,
                              .mark = on_mark, .chunk = on_chunk, .damage = on_damage};
}

/* ---- the records every test writes --------------------------------------------------------- */

#define NREC 40

/* Writes record i (of every kind in turn, with extreme values among them) and renders it. */
static int write_rec(ttm_journal_writer *w, unsigned i, text *want)
{
    static const uint8_t blob[] = {0, 1, 2, 0xff, 0x80, 'T', 'J', 'B', 'K'};
    uint64_t ts = 1000000u + (uint64_t)i * 977u - (i % 3 == 0 ? 500u : 0u); /* not monotonic */
    switch (i % 6) {
    case 0: {
        ttm_journal_device d = {.device = (uint16_t)(i % 4), .arch = 2, .worker_cores = 64,
                                .l1_per_core = 1 << 20, .dram_channels = 12,
                                .dram_capacity = 12ull << 30, .l1_capacity = 64ull << 20, .ts = ts};
        if (want != NULL)
            on_device(want, &d);
        return ttm_journal_writer_device(w, &d);
    }
    case 1: {
        static const char cmd[] = "python3\0-m\0llama\0";
        ttm_journal_proc p = {.state = (uint8_t)(i % 3), .pid = 4000000000u - i, .status = -1 - (int)i,
                              .ts = ts, .name = "python3", .cmdline = cmd, .cmdline_len = sizeof cmd};
        if (want != NULL)
            on_proc(want, &p);
        return ttm_journal_writer_proc(w, &p);
    }
    case 2: {
        ttm_journal_mark m = {.pid = i, .ts = ts, .name = i % 4 == 2 ? "" : "decode"};
        if (want != NULL)
            on_mark(want, &m);
        return ttm_journal_writer_mark(w, &m);
    }
    case 3: {
        ttm_journal_chunk c = {.kind = TTM_JOURNAL_CHUNK_STACKS, .ts = ts, .data = blob,
                               .len = i % 12 == 3 ? 0 : sizeof blob};
        if (want != NULL)
            on_chunk(want, &c);
        return ttm_journal_writer_chunk(w, &c);
    }
    default: {
        ttm_journal_event e = {.kind = (uint8_t)(1 + (i & 1)), .memtype = i % 7 == 0 ? 255 : i % 7,
                               .device = (uint16_t)(i * 3), .classes = 0x80000001u >> (i % 32),
                               .pid = 1234, .stack = i, .scope = UINT32_MAX - i, .ts = ts,
                               .addr = i % 5 == 0 ? UINT64_MAX : 0x10000u * i,
                               .size = i % 5 == 1 ? UINT64_MAX : 4096u * i,
                               .obj = i % 2 ? 0 : 0xdead0000u + i};
        if (want != NULL)
            on_event(want, &e);
        return ttm_journal_writer_event(w, &e);
    }
    }
}

/* A memfd with n bytes of p. */
static int memfd_with(const uint8_t *p, size_t n)
{
    int fd = memfd_create("journal", MFD_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, p, n), (ssize_t)n);
    return fd;
}

static void file_bytes(int fd, ttm_bytes *out)
{
    off_t n = lseek(fd, 0, SEEK_END);
    assert_true(n >= 0);
    out->data = malloc((size_t)n + 1);
    out->len = (size_t)n;
    assert_int_equal(pread(fd, out->data, (size_t)n, 0), n);
}

/* Writes NREC records to a memfd, flushing every `per` records; the end offset and record
 * total of every block go to ends[]/counts[] (nblocks of them). Returns the memfd (still open). */
static int write_journal(unsigned per, text *want, uint64_t *ends, unsigned *counts,
                         unsigned *nblocks)
{
    int fd = memfd_create("journal", MFD_CLOEXEC);
    assert_true(fd >= 0);
    ttm_journal_writer *w = NULL;
    ttm_journal_opts o = {.host = "galaxy-07"};
    assert_int_equal(ttm_journal_writer_open(NULL, dup(fd), &o, &w), 0);
    *nblocks = 0;
    for (unsigned i = 0; i < NREC; i++) {
        assert_int_equal(write_rec(w, i, want), 0);
        if ((i + 1) % per == 0 || i + 1 == NREC) {
            assert_int_equal(ttm_journal_writer_flush(w), 0);
            ends[*nblocks] = ttm_journal_writer_bytes(w);
            counts[*nblocks] = i + 1;
            (*nblocks)++;
        }
    }
    assert_int_equal(ttm_journal_writer_close(w), 0);
    return fd;
}

/* write_journal() and the file's bytes. */
static void journal_bytes(unsigned per, text *want, uint64_t *ends, unsigned *counts,
                          unsigned *nblocks, ttm_bytes *file)
{
    int fd = write_journal(per, want, ends, counts, nblocks);
    file_bytes(fd, file);
    close(fd);
}

static void read_fd(int fd, text *got, ttm_journal_stats *st)
{
    ttm_journal_reader *r = NULL;
    assert_int_equal(ttm_journal_reader_open(NULL, fd, &r), 0);
    ttm_journal_sink s = sink_of(got);
    assert_int_equal(ttm_journal_read_all(r, &s), 0);
    *st = *ttm_journal_reader_stats(r);
    ttm_journal_reader_close(r);
}

#define HDR 112u /* the file header's length (docs/JOURNAL.md) */

/* ---- tests --------------------------------------------------------------------------------- */

/* CRC-32C bit by bit, as docs/JOURNAL.md defines it (independent of journal.c's table). */
static uint32_t crc32c_bitwise(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c & 1u) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    }
    return c ^ 0xFFFFFFFFu;
}

/* The documented layout: header fields, both checksums of the first block. */
static void test_documented_layout(void **state)
{
    (void)state;
    assert_int_equal(crc32c_bitwise((const uint8_t *)"123456789", 9), 0xE3069283u);
    text want = {0};
    uint64_t ends[NREC];
    unsigned counts[NREC], nb;
    ttm_bytes f = {0};
    journal_bytes(NREC, &want, ends, counts, &nb, &f);
    assert_int_equal(nb, 1);
    assert_int_equal(f.len, ends[0]);
    assert_memory_equal(f.data, "TTMJRNL", 8);
    assert_int_equal(ttm__le16(f.data + 8), 1);
    assert_int_equal(ttm__le16(f.data + 10), HDR);
    assert_string_equal((const char *)f.data + 24, "galaxy-07");
    assert_int_equal(ttm__le32(f.data + 108), crc32c_bitwise(f.data, 108));
    assert_int_not_equal(ttm__le64(f.data + 88), 0); /* a run id */
    assert_int_equal(ttm__le32(f.data + 96), 0);      /* the run's first file */
    const uint8_t *b = f.data + HDR;
    assert_memory_equal(b, "TJBK", 4);
    assert_int_equal(b[4], 1);
    assert_int_equal(b[5], 1);
    assert_int_equal(ttm__le32(b + 16), NREC);
    uint32_t clen = ttm__le32(b + 12);
    assert_int_equal(HDR + 44 + clen, f.len);
    assert_int_equal(ttm__le32(b + 20), crc32c_bitwise(b + 44, clen));
    assert_int_equal(ttm__le32(b + 40), crc32c_bitwise(b, 40));
    free(f.data);
    free(want.s);
}

static void test_round_trip(void **state)
{
    (void)state;
    text want = {0}, got = {0};
    uint64_t ends[NREC];
    unsigned counts[NREC], nb;
    int fd = write_journal(7, &want, ends, counts, &nb);
    ttm_journal_reader *r = NULL;
    assert_int_equal(ttm_journal_reader_open(NULL, fd, &r), 0);
    assert_string_equal(ttm_journal_reader_header(r)->host, "galaxy-07");
    assert_int_equal(ttm_journal_reader_header(r)->version, TTM_JOURNAL_VERSION);
    assert_true(ttm_journal_reader_header(r)->created_ns > 0);
    ttm_journal_sink s = sink_of(&got);
    assert_int_equal(ttm_journal_read_all(r, &s), 0);
    const ttm_journal_stats *st = ttm_journal_reader_stats(r);
    assert_int_equal(st->blocks, nb);
    assert_int_equal(st->records, NREC);
    assert_int_equal(st->bad_blocks, 0);
    assert_false(st->truncated);
    char line[256];
    ttm_journal_reader_summary(r, line, sizeof line);
    assert_string_equal(line, "");
    ttm_journal_reader_close(r);
    assert_int_equal(got.len, want.len);
    assert_string_equal(got.s, want.s);
    free(want.s);
    free(got.s);
}

/* Records of the first k blocks, as text: the lines of want up to counts[k-1]. */
static size_t prefix_len(const text *want, unsigned nrec)
{
    size_t at = 0;
    for (unsigned i = 0; i < nrec; i++)
        at = (size_t)(strchr(want->s + at, '\n') - want->s) + 1;
    return at;
}

static void test_cut_at_every_byte(void **state)
{
    (void)state;
    text want = {0};
    uint64_t ends[NREC];
    unsigned counts[NREC], nb;
    ttm_bytes file = {0};
    journal_bytes(5, &want, ends, counts, &nb, &file);
    for (size_t cut = HDR; cut <= file.len; cut++) {
        unsigned k = 0;
        while (k < nb && ends[k] <= cut)
            k++;
        text got = {0};
        ttm_journal_stats st;
        read_fd(memfd_with(file.data, cut), &got, &st);
        unsigned nrec = k == 0 ? 0 : counts[k - 1];
        assert_int_equal(st.records, nrec);
        assert_int_equal(st.blocks, k);
        assert_int_equal(st.bad_blocks, 0);
        assert_int_equal(got.damages, 0);
        assert_int_equal(st.truncated, cut != (k == 0 ? HDR : ends[k - 1]));
        size_t pl = prefix_len(&want, nrec);
        assert_int_equal(got.len, pl);
        if (pl > 0)
            assert_memory_equal(got.s, want.s, pl);
        free(got.s);
    }
    /* a cut inside the file header: not a journal */
    for (size_t cut = 0; cut < HDR; cut++) {
        ttm_journal_reader *r = NULL;
        assert_int_equal(ttm_journal_reader_open(NULL, memfd_with(file.data, cut), &r), TTM_EPROTO);
    }
    free(file.data);
    free(want.s);
}

static void test_flip_every_byte(void **state)
{
    (void)state;
    text want = {0};
    uint64_t ends[NREC];
    unsigned counts[NREC], nb;
    ttm_bytes file = {0};
    journal_bytes(8, &want, ends, counts, &nb, &file);
    for (size_t at = HDR; at < file.len; at++) {
        unsigned b = 0;
        while (ends[b] <= at)
            b++; /* the damaged block */
        for (unsigned bit = 0; bit < 8; bit += 7) {
            file.data[at] ^= (uint8_t)(1u << bit);
            text got = {0};
            ttm_journal_stats st;
            read_fd(memfd_with(file.data, file.len), &got, &st);
            file.data[at] ^= (uint8_t)(1u << bit);
            unsigned lo = b == 0 ? 0 : counts[b - 1], hi = counts[b];
            assert_int_equal(st.bad_blocks, 1);
            assert_int_equal(got.damages, 1);
            assert_int_equal(st.blocks, nb - 1);
            assert_int_equal(st.records, NREC - (hi - lo));
            assert_false(st.truncated);
            /* the other blocks arrive intact: want without the damaged block's lines */
            size_t a = prefix_len(&want, lo), z = prefix_len(&want, hi);
            assert_int_equal(got.len, want.len - (z - a));
            assert_memory_equal(got.s, want.s, a);
            assert_memory_equal(got.s + a, want.s + z, want.len - z);
            free(got.s);
        }
    }
    /* a damaged file header: refused */
    file.data[20] ^= 1;
    ttm_journal_reader *r = NULL;
    assert_int_equal(ttm_journal_reader_open(NULL, memfd_with(file.data, file.len), &r), TTM_EPROTO);
    free(file.data);
    free(want.s);
}

static void test_garbage_between_blocks(void **state)
{
    (void)state;
    text want = {0};
    uint64_t ends[NREC];
    unsigned counts[NREC], nb;
    ttm_bytes file = {0};
    journal_bytes(10, &want, ends, counts, &nb, &file);
    /* 300 bytes of noise (with a false block magic) after the first block */
    size_t g = 300, cut = (size_t)ends[0];
    uint8_t *buf = malloc(file.len + g);
    memcpy(buf, file.data, cut);
    for (size_t i = 0; i < g; i++)
        buf[cut + i] = (uint8_t)(i * 37 + 11);
    memcpy(buf + cut + 100, "TJBK", 4);
    memcpy(buf + cut + g, file.data + cut, file.len - cut);
    text got = {0};
    ttm_journal_stats st;
    read_fd(memfd_with(buf, file.len + g), &got, &st);
    assert_int_equal(st.records, NREC);
    assert_int_equal(st.bad_blocks, 1);
    assert_int_equal(got.damages, 1);
    assert_int_equal(st.skipped_bytes, g);
    assert_string_equal(got.s, want.s);
    free(got.s);
    free(buf);
    free(file.data);
    free(want.s);
}

/* A file size limit: write() fails with EFBIG part-way through a block (on the caller's
 * thread, or on the compressor's with threads = 1): TTM_EIO, sticky, with its errno, and the
 * file cut back to its last complete block, which a reader reads whole. */
static void full_disk_case(unsigned threads)
{
    char path[] = "/tmp/ttm_journal_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {.rlim_cur = 3000, .rlim_max = 3000};
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
            _exit(10);
        ttm_journal_writer *w = NULL;
        ttm_journal_opts o = {.block_size = 200, .threads = threads};
        if (ttm_journal_writer_open(path, -1, &o, &w) != 0)
            _exit(11);
        int rc = 0;
        for (unsigned i = 0; i < 1000000 && rc == 0; i++)
            rc = write_rec(w, i % NREC, NULL);
        if (rc != TTM_EIO || ttm_journal_writer_errno(w) != EFBIG)
            _exit(12);
        if (write_rec(w, 0, NULL) != TTM_EIO || ttm_journal_writer_flush(w) != TTM_EIO)
            _exit(13); /* sticky */
        if (ttm_journal_writer_bytes(w) > 3000 || ttm_journal_writer_close(w) != TTM_EIO)
            _exit(14);
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    text got = {0}, want = {0};
    ttm_journal_stats st;
    int rfd = open(path, O_RDONLY);
    assert_true(rfd >= 0);
    read_fd(rfd, &got, &st);
    assert_true(st.blocks > 3);
    assert_int_equal(st.bad_blocks, 0);
    assert_false(st.truncated);
    ttm_journal_writer *ww = NULL; /* the text of the records a prefix should hold */
    assert_int_equal(ttm_journal_writer_open("/dev/null", -1, NULL, &ww), 0);
    for (unsigned i = 0; i < st.records; i++)
        assert_int_equal(write_rec(ww, i % NREC, &want), 0);
    assert_int_equal(ttm_journal_writer_close(ww), 0);
    assert_string_equal(got.s, want.s);
    unlink(path);
    free(got.s);
    free(want.s);
}

static void test_full_disk(void **state)
{
    (void)state;
    ttm_journal_writer *w = NULL;
    assert_int_equal(ttm_journal_writer_open("/dev/full", -1, NULL, &w), TTM_EIO);
    full_disk_case(0);
}

static void test_size_cap(void **state)
{
    (void)state;
    int fd = memfd_create("journal", MFD_CLOEXEC);
    ttm_journal_writer *w = NULL;
    ttm_journal_opts o = {.block_size = 150, .size_cap = 1500};
    assert_int_equal(ttm_journal_writer_open(NULL, dup(fd), &o, &w), 0);
    int rc = 0;
    unsigned i, flushed = 0;
    for (i = 0; rc == 0; i++) {
        uint64_t before = ttm_journal_writer_bytes(w);
        rc = write_rec(w, i % NREC, NULL);
        if (rc == 0 && ttm_journal_writer_bytes(w) != before)
            flushed = i; /* the block holding records 0..i-1 went out */
    }
    assert_int_equal(rc, TTM_ELIMIT);
    assert_true(ttm_journal_writer_bytes(w) <= 1500);
    assert_int_equal(ttm_journal_writer_event(w, &(ttm_journal_event){.kind = 1}), TTM_ELIMIT);
    assert_int_equal(ttm_journal_writer_close(w), TTM_ELIMIT);
    text got = {0};
    ttm_journal_stats st;
    read_fd(fd, &got, &st);
    assert_int_equal(st.records, flushed);
    assert_int_equal(st.bad_blocks, 0);
    assert_false(st.truncated);
    ttm_journal_opts tiny = {.size_cap = 50};
    assert_int_equal(ttm_journal_writer_open("/dev/null", -1, &tiny, &w), TTM_ELIMIT);
    free(got.s);
}


/* ---- the compressor thread (threads = 1) ---------------------------------------------------- */

/* n records written with the given threads into a memfd (same header for both modes); the
 * file's bytes into *out. Returns the last call's status. */
static int threads_file(unsigned threads, unsigned n, size_t block, uint64_t cap, ttm_bytes *out,
                        text *want)
{
    int fd = memfd_create("journal", MFD_CLOEXEC);
    assert_true(fd >= 0);
    ttm_journal_writer *w = NULL;
    ttm_journal_opts o = {.block_size = block, .size_cap = cap, .host = "h", .created_ns = 7,
                          .run_id = 99, .seq = 3, .threads = threads};
    assert_int_equal(ttm_journal_writer_open(NULL, dup(fd), &o, &w), 0);
    int rc = 0;
    for (unsigned i = 0; i < n && rc == 0; i++)
        rc = write_rec(w, i % NREC, want);
    if (rc == 0 && n % 3 == 0) /* a flush in the middle of the stream waits for the thread */
        rc = ttm_journal_writer_flush(w);
    int crc = ttm_journal_writer_close(w);
    file_bytes(fd, out);
    close(fd);
    return rc != 0 ? rc : crc;
}

/* The thread changes who compresses, not what is written: the same bytes, block for block. */
static void test_threaded_same_bytes(void **state)
{
    (void)state;
    static const unsigned counts[] = {0, 1, 5, 999, 20000};
    for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
        ttm_bytes a = {0}, b = {0};
        text want = {0}, got = {0};
        assert_int_equal(threads_file(0, counts[k], 300, 0, &a, NULL), 0);
        assert_int_equal(threads_file(1, counts[k], 300, 0, &b, &want), 0);
        assert_int_equal(a.len, b.len);
        assert_memory_equal(a.data, b.data, a.len);
        ttm_journal_stats st;
        read_fd(memfd_with(b.data, b.len), &got, &st);
        assert_int_equal(st.records, counts[k]);
        assert_int_equal(st.bad_blocks, 0);
        assert_string_equal(got.s != NULL ? got.s : "", want.s != NULL ? want.s : "");
        free(a.data);
        free(b.data);
        free(want.s);
        free(got.s);
    }
}

/* At the cap the thread's refusal becomes the caller's sticky TTM_ELIMIT; the file is under
 * the cap and holds a prefix of what was written, undamaged. */
static void test_threaded_size_cap(void **state)
{
    (void)state;
    ttm_bytes f = {0};
    text want = {0}, got = {0};
    assert_int_equal(threads_file(1, 1000000, 300, 4000, &f, &want), TTM_ELIMIT);
    assert_true(f.len <= 4000 && f.len > HDR);
    ttm_journal_stats st;
    read_fd(memfd_with(f.data, f.len), &got, &st);
    assert_int_equal(st.bad_blocks, 0);
    assert_false(st.truncated);
    assert_true(st.records > 0);
    assert_int_equal(strncmp(got.s, want.s, got.len), 0);
    free(f.data);
    free(want.s);
    free(got.s);
}

static void test_threaded_full_disk(void **state)
{
    (void)state;
    full_disk_case(1);
}

static void test_refuses_other_files(void **state)
{
    (void)state;
    ttm_journal_reader *r = NULL;
    assert_int_equal(ttm_journal_reader_open("/nonexistent/run.ttmem", -1, &r), TTM_ENOENT);
    uint8_t junk[200] = "TTMJRNL";
    junk[8] = TTM_JOURNAL_VERSION; /* the right version, but no header length or checksum */
    assert_int_equal(ttm_journal_reader_open(NULL, memfd_with(junk, sizeof junk), &r), TTM_EPROTO);
    junk[8] = 9; /* a later version */
    assert_int_equal(ttm_journal_reader_open(NULL, memfd_with(junk, sizeof junk), &r),
                     TTM_EVERSION);
    ttm_journal_writer *w = NULL;
    assert_int_equal(ttm_journal_writer_open(NULL, -1, NULL, &w), TTM_EINVAL);
}

/* ---- appending a chunk to a closed journal, the MADE chunk ----------------------------------- */

/* A temporary file holding n bytes of p; its path into path (room for 64). */
static void temp_file(char *path, const uint8_t *p, size_t n)
{
    snprintf(path, 64, "/tmp/ttm-test-append.XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, p, n), (ssize_t)n);
    close(fd);
}

static void read_path(const char *path, text *got, ttm_journal_stats *st)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    read_fd(fd, got, st);
}

static const uint8_t made_bytes[] = {'M', 'A', 'D', 'E', 0, 1, 2, 0xff};

/* A journal cut at every byte from its header on, then appended to: the records of its complete
 * blocks, then the chunk, no damage and no cut tail; the torn tail's bytes are what was cut. */
static void test_append_every_cut(void **state)
{
    (void)state;
    uint64_t ends[NREC];
    unsigned counts[NREC], nblocks;
    ttm_bytes f = {0};
    journal_bytes(7, NULL, ends, counts, &nblocks, &f);
    assert_true(nblocks >= 5);
    ttm_journal_chunk c = {.kind = TTM_JOURNAL_CHUNK_MADE, .ts = 5000000, .data = made_bytes,
                           .len = sizeof made_bytes};
    text chunk_line = {0};
    on_chunk(&chunk_line, &c);
    for (size_t cut = HDR; cut <= f.len; cut++) {
        char path[64];
        temp_file(path, f.data, cut);
        text before = {0}, got = {0};
        ttm_journal_stats st;
        read_path(path, &before, &st);
        uint64_t whole = HDR; /* the end of the last complete block at or before cut */
        for (unsigned k = 0; k < nblocks; k++)
            if (ends[k] <= cut)
                whole = ends[k];
        ttm_journal_append_info info;
        assert_int_equal(ttm_journal_append_chunk(path, &c, &info), 0);
        assert_int_equal(info.cut_bytes, cut - whole);
        assert_int_equal(info.sys_errno, 0);
        read_path(path, &got, &st);
        assert_int_equal(st.bad_blocks, 0);
        assert_false(st.truncated);
        struct stat sb;
        assert_int_equal(stat(path, &sb), 0);
        assert_int_equal(info.bytes, (uint64_t)sb.st_size);
        assert_int_equal(got.len, before.len + chunk_line.len);
        assert_memory_equal(got.s, before.s != NULL ? before.s : "", before.len);
        assert_string_equal(got.s + before.len, chunk_line.s);
        unlink(path);
        free(before.s);
        free(got.s);
    }
    free(chunk_line.s);
    free(f.data);
}

/* A block damaged inside (its header checks) is kept: the reader skips it as before and reads
 * the chunk after it. Bytes after the last block that are no block are cut off. */
static void test_append_after_damage(void **state)
{
    (void)state;
    uint64_t ends[NREC];
    unsigned counts[NREC], nblocks;
    ttm_bytes f = {0};
    journal_bytes(7, NULL, ends, counts, &nblocks, &f);
    f.data[ends[1] + 44 + 2] ^= 0x40; /* the third block's payload */
    ttm_journal_chunk c = {.kind = TTM_JOURNAL_CHUNK_MADE, .ts = 1, .data = made_bytes,
                           .len = sizeof made_bytes};
    char path[64];
    temp_file(path, f.data, f.len);
    text before = {0}, got = {0};
    ttm_journal_stats st;
    read_path(path, &before, &st);
    assert_int_equal(st.bad_blocks, 1);
    ttm_journal_append_info info;
    assert_int_equal(ttm_journal_append_chunk(path, &c, &info), 0);
    assert_int_equal(info.cut_bytes, 0);
    read_path(path, &got, &st);
    assert_int_equal(st.bad_blocks, 1);
    assert_int_equal(strncmp(got.s, before.s, before.len), 0);
    assert_string_equal(got.s + before.len, "C 6 1 4d414445000102ff\n");
    unlink(path);
    free(before.s);
    free(got.s);

    /* garbage after the last block (no block magic in it) */
    free(f.data);
    journal_bytes(7, NULL, ends, counts, &nblocks, &f);
    uint8_t *g = malloc(f.len + 30);
    memcpy(g, f.data, f.len);
    memset(g + f.len, 'x', 30);
    temp_file(path, g, f.len + 30);
    assert_int_equal(ttm_journal_append_chunk(path, &c, &info), 0);
    assert_int_equal(info.cut_bytes, 30);
    text g2 = {0};
    read_path(path, &g2, &st);
    assert_int_equal(st.bad_blocks, 0);
    assert_int_equal(st.records, NREC + 1);
    unlink(path);
    free(g2.s);
    free(g);
    free(f.data);
}

static void test_append_refuses(void **state)
{
    (void)state;
    ttm_journal_chunk c = {.kind = TTM_JOURNAL_CHUNK_MADE, .data = made_bytes, .len = 8};
    ttm_journal_append_info info;
    assert_int_equal(ttm_journal_append_chunk("/nonexistent/run.ttmem", &c, &info), TTM_ENOENT);
    char path[64];
    uint8_t junk[300];
    memset(junk, 'j', sizeof junk);
    temp_file(path, junk, sizeof junk);
    assert_int_equal(ttm_journal_append_chunk(path, &c, &info), TTM_EPROTO);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, sizeof junk); /* untouched */
    unlink(path);
    assert_int_equal(ttm_journal_append_chunk(NULL, &c, &info), TTM_EINVAL);
}

/* A write that fails part-way (a file size limit inside the block): TTM_EIO with EFBIG, and the
 * file is cut back to where the block began, reading as before. */
static void test_append_write_fails(void **state)
{
    (void)state;
    uint64_t ends[NREC];
    unsigned counts[NREC], nblocks;
    ttm_bytes f = {0};
    journal_bytes(7, NULL, ends, counts, &nblocks, &f);
    char path[64];
    temp_file(path, f.data, f.len);
    text before = {0};
    ttm_journal_stats st;
    read_path(path, &before, &st);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit lim = {.rlim_cur = f.len + 20, .rlim_max = RLIM_INFINITY};
        if (setrlimit(RLIMIT_FSIZE, &lim) != 0)
            _exit(10);
        uint8_t big[4096]; /* does not compress below 20 bytes */
        for (size_t i = 0; i < sizeof big; i++)
            big[i] = (uint8_t)(i * 2654435761u >> 13);
        ttm_journal_chunk c = {.kind = TTM_JOURNAL_CHUNK_MADE, .data = big, .len = sizeof big};
        ttm_journal_append_info info;
        if (ttm_journal_append_chunk(path, &c, &info) != TTM_EIO)
            _exit(11);
        if (info.sys_errno != EFBIG || info.bytes != f.len)
            _exit(12);
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_size, f.len);
    text got = {0};
    read_path(path, &got, &st);
    assert_int_equal(st.bad_blocks, 0);
    assert_false(st.truncated);
    assert_string_equal(got.s, before.s);
    unlink(path);
    free(before.s);
    free(got.s);
    free(f.data);
}

static void test_made_round_trip(void **state)
{
    (void)state;
    static char args[] = "sh\0-c\0exit 3\0\0";
    ttm_journal_made m = {.start_ns = 1796694509000000000u, .end_ns = 1796694512200000000u,
                          .run_ns = 3200000000u, .how = TTM_JOURNAL_MADE_SIGNALED,
                          .core_dumped = true, .code = 9, .host = "galaxy-07",
                          .version = "0.1.0", .argc = 4, .args = args, .args_len = sizeof args - 1};
    ttm_bytes b = {0};
    assert_int_equal(ttm_journal_made_encode(&m, &b), 0);
    ttm_journal_made d;
    assert_int_equal(ttm_journal_made_decode(b.data, b.len, &d), 0);
    assert_int_equal(d.start_ns, m.start_ns);
    assert_int_equal(d.end_ns, m.end_ns);
    assert_int_equal(d.run_ns, m.run_ns);
    assert_int_equal(d.how, TTM_JOURNAL_MADE_SIGNALED);
    assert_true(d.core_dumped);
    assert_int_equal(d.code, 9);
    assert_int_equal(ttm_journal_made_status(&d), 137);
    assert_string_equal(d.host, "galaxy-07");
    assert_string_equal(d.version, "0.1.0");
    assert_int_equal(d.argc, 4);
    assert_int_equal(d.args_len, m.args_len);
    assert_memory_equal(d.args, args, m.args_len); /* an empty argument stays one */
    ttm_journal_made_clear(&d);
    /* cut anywhere: refused, nothing left allocated */
    for (size_t n = 0; n < b.len; n++) {
        assert_int_equal(ttm_journal_made_decode(b.data, n, &d), TTM_EPROTO);
        assert_null(d.args);
    }
    /* later versions add fields at the end: ignored */
    uint8_t longer[512];
    memcpy(longer, b.data, b.len);
    memset(longer + b.len, 0xee, 16);
    assert_int_equal(ttm_journal_made_decode(longer, b.len + 16, &d), 0);
    ttm_journal_made_clear(&d);
    longer[0] = 2;
    assert_int_equal(ttm_journal_made_decode(longer, b.len, &d), TTM_EVERSION);
    /* the args must be argc strings */
    memcpy(longer, b.data, b.len);
    longer[b.len - 1] = 'x';
    assert_int_equal(ttm_journal_made_decode(longer, b.len, &d), TTM_EPROTO);
    m.argc = 3;
    b.len = 0;
    assert_int_equal(ttm_journal_made_encode(&m, &b), TTM_EINVAL);
    m.argc = 4;
    m.how = TTM_JOURNAL_MADE_EXITED;
    m.code = 3;
    m.core_dumped = false;
    assert_int_equal(ttm_journal_made_encode(&m, &b), 0);
    assert_int_equal(ttm_journal_made_decode(b.data, b.len, &d), 0);
    assert_int_equal(ttm_journal_made_status(&d), 3);
    ttm_journal_made_clear(&d);
    ttm_journal_made_clear(NULL);
    ttm__bytes_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_documented_layout),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_cut_at_every_byte),
        cmocka_unit_test(test_flip_every_byte),
        cmocka_unit_test(test_garbage_between_blocks),
        cmocka_unit_test(test_full_disk),
        cmocka_unit_test(test_size_cap),
        cmocka_unit_test(test_refuses_other_files),
        cmocka_unit_test(test_threaded_same_bytes),
        cmocka_unit_test(test_threaded_size_cap),
        cmocka_unit_test(test_threaded_full_disk),
        cmocka_unit_test(test_append_every_cut),
        cmocka_unit_test(test_append_after_damage),
        cmocka_unit_test(test_append_refuses),
        cmocka_unit_test(test_append_write_fails),
        cmocka_unit_test(test_made_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
