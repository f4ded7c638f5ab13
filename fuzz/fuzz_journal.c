/*
 * fuzz_journal.c — the run journal's reader (src/common/journal.c) on arbitrary files: it never
 * crashes nor reads out of bounds, always reaches the end (no error but the sink's), and its
 * counts add up: the bytes it skipped fit in the file, every delivered record was counted. The
 * seeds are journals made by the real writer (ttm__fuzz_seeds): every record kind over several
 * blocks, one cut inside a block, and one with a block damaged. Every chunk's bytes also go
 * through the MADE chunk's decoder.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/bytes.h"
#include "common/journal.h"
#include "ttmem/ttmem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t ttm__fuzz_seeds(const uint8_t *const **seeds, const size_t **sizes);

static int count_event(void *ctx, const ttm_journal_event *e)
{
    (void)e;
    (*(uint64_t *)ctx)++;
    return 0;
}
static int count_device(void *ctx, const ttm_journal_device *d)
{
    (void)d;
    (*(uint64_t *)ctx)++;
    return 0;
}
static int count_proc(void *ctx, const ttm_journal_proc *p)
{
    if (p->name == NULL || (p->cmdline_len > 0 && p->cmdline == NULL))
        abort();
    (*(uint64_t *)ctx)++;
    return 0;
}
static int count_mark(void *ctx, const ttm_journal_mark *m)
{
    if (m->name == NULL)
        abort();
    (*(uint64_t *)ctx)++;
    return 0;
}
static int count_chunk(void *ctx, const ttm_journal_chunk *c)
{
    if (c->len > 0 && c->data == NULL)
        abort();
    /* every chunk's bytes through the MADE decoder: what it accepts is argc strings */
    ttm_journal_made m;
    if (ttm_journal_made_decode(c->data, c->len, &m) == TTM_OK) {
        size_t nuls = 0;
        for (size_t i = 0; i < m.args_len; i++)
            nuls += m.args[i] == '\0';
        if (nuls != m.argc || ttm_journal_made_status(&m) < 0 || ttm_journal_made_status(&m) > 255)
            abort();
    } else if (m.args != NULL || m.argc != 0) {
        abort();
    }
    ttm_journal_made_clear(&m);
    (*(uint64_t *)ctx)++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz_journal", MFD_CLOEXEC);
    if (fd < 0)
        return 0;
    if (size > 0 && write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    ttm_journal_reader *r = NULL;
    if (ttm_journal_reader_open(NULL, fd, &r) != 0)
        return 0;
    uint64_t n = 0;
    ttm_journal_sink sink = {.ctx = &n, .event = count_event, .device = count_device,
                             .proc = count_proc, .mark = count_mark, .chunk = count_chunk};
    if (ttm_journal_read_all(r, &sink) != 0)
        abort();
    const ttm_journal_stats *st = ttm_journal_reader_stats(r);
    if (st->records != n || st->skipped_bytes > size || (st->blocks == 0 && n != 0))
        abort();
    char line[256];
    ttm_journal_reader_summary(r, line, sizeof line);
    ttm_journal_reader_close(r);
    return 0;
}

/* ---- seeds: journals from the real writer ---- */

#define NSEEDS 3
static ttm_bytes seed_buf[NSEEDS];
static const uint8_t *seed_list[NSEEDS];
static size_t seed_sizes[NSEEDS];

static void make_journal(ttm_bytes *out)
{
    int fd = memfd_create("fuzz_journal_seed", MFD_CLOEXEC);
    if (fd < 0)
        abort();
    ttm_journal_writer *w = NULL;
    ttm_journal_opts o = {.block_size = 96, .host = "seed-host",
                          .created_ns = 1764000000000000000ull, .run_id = 0x5eed};
    if (ttm_journal_writer_open(NULL, dup(fd), &o, &w) != 0)
        abort();
    static const char cmd[] = "python3\0-m\0llama\0";
    static const uint8_t blob[] = {1, 0, 0, 0, 2, 0xff};
    int rc = 0;
    for (unsigned i = 0; i < 24; i++) {
        uint64_t ts = 1000 + i * 10;
        ttm_journal_event e = {.kind = (uint8_t)(1 + (i & 1)), .memtype = (uint8_t)(i % 7),
                               .device = (uint16_t)(i % 8), .classes = i % 5 == 0 ? 2 : 0,
                               .pid = 77, .stack = i / 2, .scope = 3, .ts = ts,
                               .addr = 0x40000 + 0x1000 * (i / 2), .size = 4096, .obj = i / 2};
        rc |= ttm_journal_writer_event(w, &e);
        if (i % 8 == 0) {
            ttm_journal_device d = {.device = (uint16_t)(i / 8), .arch = 2, .worker_cores = 64,
                                    .dram_capacity = 12ull << 30, .ts = ts};
            ttm_journal_proc p = {.pid = 77, .status = -1, .ts = ts, .name = "python3",
                                  .cmdline = cmd, .cmdline_len = sizeof cmd, .state = i == 16};
            ttm_journal_mark m = {.pid = 77, .ts = ts, .name = "decode"};
            ttm_journal_chunk c = {.kind = TTM_JOURNAL_CHUNK_STACKS, .ts = ts, .data = blob,
                                   .len = sizeof blob};
            rc |= ttm_journal_writer_device(w, &d) | ttm_journal_writer_proc(w, &p) |
                  ttm_journal_writer_mark(w, &m) | ttm_journal_writer_chunk(w, &c);
        }
    }
    if (rc != 0 || ttm_journal_writer_close(w) != 0)
        abort();
    off_t n = lseek(fd, 0, SEEK_END);
    ttm_bw bw = ttm__bw_over(out);
    uint8_t *p = ttm__bw_room(&bw, (size_t)n);
    if (n <= 0 || p == NULL || pread(fd, p, (size_t)n, 0) != n)
        abort();
    close(fd);
}

size_t ttm__fuzz_seeds(const uint8_t *const **seeds, const size_t **sizes)
{
    if (seed_buf[0].len == 0) {
        for (unsigned i = 0; i < NSEEDS; i++)
            make_journal(&seed_buf[i]);
        seed_buf[1].len -= 30;                    /* cut inside the last block */
        seed_buf[2].data[seed_buf[2].len / 2] ^= 0x10; /* a block damaged */
        for (unsigned i = 0; i < NSEEDS; i++) {
            seed_list[i] = seed_buf[i].data;
            seed_sizes[i] = seed_buf[i].len;
        }
    }
    *seeds = seed_list;
    *sizes = seed_sizes;
    return NSEEDS;
}
