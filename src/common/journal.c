/*
 * journal.c — the run journal's writer and reader (format: docs/JOURNAL.md).
 *
 * A block is built in memory as a row of tagged records (varints, deltas of the time, address
 * and object against the previous record of the same block), compressed with zstd level 1 and
 * written with one write() sequence; a failed write cuts the file back to its last complete
 * block. The reader holds one block at a time and checks, in order: the block magic, the
 * header's CRC-32C, the lengths, the payload's CRC-32C, the decompression, and every record
 * (in a first pass, before anything is delivered), so a block is delivered whole or not at all.
 */
#include "common/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "common/alloc.h"
#include "common/bytes.h"
#include "common/event.h"
#include "common/hash.h"
#include "ttmem/ttmem.h"

#define FILE_MAGIC "TTMJRNL"    /* 8 bytes with its NUL */
#define FILE_HDR_LEN 112u
#define BLOCK_MAGIC 0x4B424A54u /* "TJBK" little-endian */
#define BLOCK_HDR_LEN 44u
#define BLOCK_KIND_RECORDS 1u
#define CODEC_ZSTD 1u
#define NAME_MAX_LEN 4096u

enum { REC_EVENT = 1, REC_DEVICE = 2, REC_PROC = 3, REC_MARK = 4, REC_CHUNK = 5 };

/* ---- CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), table-driven ------------------- */

static uint32_t crc_table[256];

static void crc_init(void)
{
    if (crc_table[1] != 0)
        return;
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
        crc_table[i] = c;
    }
}

static uint32_t crc32c(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++)
        c = crc_table[(c ^ p[i]) & 0xFFu] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

/* ---- varints ------------------------------------------------------------------------------- */

static inline uint64_t zz_enc(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static inline int64_t zz_dec(uint64_t v) { return (int64_t)(v >> 1) ^ -(int64_t)(v & 1); }

/* LEB128 of v at p (room for 10 bytes); returns the byte after it. */
static inline uint8_t *put_var(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

static inline uint64_t get_var(ttm_br *r, const char *what)
{
    if (r->bad)
        return 0;
    const uint8_t *p = r->p + r->pos, *end = r->p + r->len;
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64 && p < end; shift += 7) {
        uint8_t b = *p++;
        v |= (uint64_t)(b & 0x7F) << shift;
        if ((b & 0x80) == 0) {
            r->pos = (size_t)(p - r->p);
            return v;
        }
    }
    ttm__br_fail(r, what);
    return 0;
}

static inline uint8_t get_u8(ttm_br *r, const char *what)
{
    if (!r->bad && r->pos < r->len)
        return r->p[r->pos++];
    ttm__br_fail(r, what);
    return 0;
}

static inline uint32_t get_var32(ttm_br *r, const char *what)
{
    uint64_t v = get_var(r, what);
    if (v > UINT32_MAX)
        ttm__br_fail(r, what);
    return (uint32_t)v;
}

/* ---- writer -------------------------------------------------------------------------------- */

#define QUEUE_BLOCKS 3u /* filled blocks waiting for the compressor thread at most */

/* A filled block handed to the compressor thread. */
typedef struct jblock {
    ttm_bytes raw;
    uint32_t count;
    uint64_t first_ts, last_ts;
} jblock;

struct ttm_journal_writer {
    int fd;
    int err, sys_errno;   /* err: the caller's thread's sticky error */
    size_t block_size;
    uint64_t cap;
    _Atomic uint64_t bytes; /* complete blocks and header on file (the compressor's) */
    ttm_bytes raw, out;
    uint32_t count;
    uint64_t first_ts, last_ts, prev_ts, prev_addr, prev_obj;
    ZSTD_CCtx *zc;
    /* threads = 1: the compressor thread owns zc, out, fd and bytes; the caller's thread
     * fills raw and hands it over through q (a ring of QUEUE_BLOCKS, guarded by mu) */
    bool threaded;
    _Atomic int async_err; /* the compressor's first failure, seen by the caller's thread */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t work, room;
    jblock q[QUEUE_BLOCKS];
    size_t qhead, qlen;   /* qlen counts the block being compressed too */
    bool stop;
};

/* Writes all n bytes; on failure cuts the file back to w->bytes, keeps the errno and returns
 * TTM_EIO (the caller makes it sticky). */
static int write_all(ttm_journal_writer *w, const uint8_t *p, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t k = write(w->fd, p + done, n - done);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            w->sys_errno = k < 0 ? errno : ENOSPC;
            if (done > 0 && ftruncate(w->fd, (off_t)w->bytes) == 0)
                (void)lseek(w->fd, (off_t)w->bytes, SEEK_SET);
            return TTM_EIO;
        }
        done += (size_t)k;
    }
    w->bytes += n;
    return 0;
}

static int start_thread(ttm_journal_writer *w);

static void block_reset(ttm_journal_writer *w)
{
    w->raw.len = 0;
    w->count = 0;
    w->first_ts = UINT64_MAX;
    w->last_ts = 0;
    w->prev_ts = w->prev_addr = w->prev_obj = 0;
}

/* A writer without a file yet (fd -1) and its compressor; NULL when memory ran out. */
static ttm_journal_writer *writer_new(size_t block_size, uint64_t cap)
{
    ttm_journal_writer *w = ttm__calloc(1, sizeof *w);
    if (w == NULL)
        return NULL;
    w->fd = -1;
    w->block_size = block_size;
    w->cap = cap;
    w->zc = ZSTD_createCCtx();
    if (w->zc == NULL || ZSTD_isError(ZSTD_CCtx_setParameter(w->zc, ZSTD_c_compressionLevel, 1))) {
        ZSTD_freeCCtx(w->zc);
        ttm__free(w);
        return NULL;
    }
    block_reset(w);
    return w;
}

int ttm_journal_writer_open(const char *path, int fd, const ttm_journal_opts *opts,
                            ttm_journal_writer **out)
{
    if (out == NULL || (path == NULL && fd < 0))
        return TTM_EINVAL;
    crc_init();
    ttm_journal_opts o = opts != NULL ? *opts : (ttm_journal_opts){0};
    if (o.block_size == 0)
        o.block_size = 1u << 20;
    if (o.block_size > TTM_JOURNAL_BLOCK_MAX / 2)
        return TTM_EINVAL;
    ttm_journal_writer *w = writer_new(o.block_size, o.size_cap);
    if (w == NULL)
        return TTM_ENOMEM;
    int rc = TTM_ENOMEM;
    if (path != NULL) {
        w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (w->fd < 0) {
            w->sys_errno = errno;
            rc = TTM_EIO;
            goto free_writer;
        }
    } else {
        w->fd = fd;
    }
    block_reset(w);

    uint8_t hdr[FILE_HDR_LEN] = {0};
    memcpy(hdr, FILE_MAGIC, 8);
    ttm__put_le16(hdr + 8, TTM_JOURNAL_VERSION);
    ttm__put_le16(hdr + 10, FILE_HDR_LEN);
    uint64_t created = o.created_ns;
    if (created == 0) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        created = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
    }
    ttm__put_le64(hdr + 16, created);
    char host[TTM_JOURNAL_HOST_MAX] = {0};
    if (o.host != NULL)
        snprintf(host, sizeof host, "%s", o.host);
    else if (gethostname(host, sizeof host - 1) != 0)
        host[0] = '\0';
    memcpy(hdr + 24, host, sizeof host);
    uint64_t run = o.run_id;
    while (run == 0) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        run = ttm__mix64_nz((uint64_t)getpid() << 32 ^ created ^ (uint64_t)t.tv_nsec);
    }
    ttm__put_le64(hdr + 88, run);
    ttm__put_le32(hdr + 96, o.seq);
    ttm__put_le32(hdr + 108, crc32c(hdr, 108));
    if (w->cap != 0 && w->cap < FILE_HDR_LEN) {
        rc = TTM_ELIMIT;
        goto close_fd;
    }
    rc = write_all(w, hdr, sizeof hdr);
    if (rc != 0)
        goto close_fd;
    if (o.threads > 0 && (rc = start_thread(w)) != 0)
        goto close_fd;
    *out = w;
    return 0;

close_fd:
    close(w->fd);
free_writer:
    ZSTD_freeCCtx(w->zc);
    ttm__free(w);
    return rc;
}

/* Compresses a block's records and writes the block. Returns 0, TTM_ENOMEM, TTM_ELIMIT or
 * TTM_EIO (on the thread that owns zc, out, fd and bytes). */
static int emit(ttm_journal_writer *w, const ttm_bytes *raw, uint32_t count, uint64_t first_ts,
                uint64_t last_ts)
{
    size_t bound = ZSTD_compressBound(raw->len);
    w->out.len = 0;
    ttm_bw bw = ttm__bw_over(&w->out);
    uint8_t *dst = ttm__bw_room(&bw, BLOCK_HDR_LEN + bound);
    if (dst == NULL)
        return TTM_ENOMEM;
    size_t clen = ZSTD_compress2(w->zc, dst + BLOCK_HDR_LEN, bound, raw->data, raw->len);
    if (ZSTD_isError(clen))
        return TTM_ENOMEM; /* zstd fails only for want of memory with a bound this size */
    ttm__put_le32(dst, BLOCK_MAGIC);
    dst[4] = BLOCK_KIND_RECORDS;
    dst[5] = CODEC_ZSTD;
    ttm__put_le16(dst + 6, 0);
    ttm__put_le32(dst + 8, (uint32_t)raw->len);
    ttm__put_le32(dst + 12, (uint32_t)clen);
    ttm__put_le32(dst + 16, count);
    ttm__put_le32(dst + 20, crc32c(dst + BLOCK_HDR_LEN, clen));
    ttm__put_le64(dst + 24, first_ts);
    ttm__put_le64(dst + 32, last_ts);
    ttm__put_le32(dst + 40, crc32c(dst, 40));
    size_t n = BLOCK_HDR_LEN + clen;
    if (w->cap != 0 && w->bytes + n > w->cap)
        return TTM_ELIMIT;
    return write_all(w, dst, n);
}

/* ---- the compressor thread (threads = 1) ------------------------------------------------------ */

/* Takes the filled blocks in order, compresses and writes them; after a failure it drops the
 * rest (the file ends at its last complete block, as without the thread). */
static void *compressor(void *arg)
{
    ttm_journal_writer *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (w->qlen == 0 && !w->stop)
            pthread_cond_wait(&w->work, &w->mu);
        if (w->qlen == 0)
            break;
        jblock *b = &w->q[w->qhead];
        pthread_mutex_unlock(&w->mu);
        if (atomic_load(&w->async_err) == 0) {
            int rc = emit(w, &b->raw, b->count, b->first_ts, b->last_ts);
            if (rc != 0)
                atomic_store(&w->async_err, rc);
        }
        b->raw.len = 0;
        pthread_mutex_lock(&w->mu);
        w->qhead = (w->qhead + 1) % QUEUE_BLOCKS;
        w->qlen--;
        pthread_cond_broadcast(&w->room);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static int start_thread(ttm_journal_writer *w)
{
    if (pthread_mutex_init(&w->mu, NULL) != 0)
        return TTM_ENOMEM;
    if (pthread_cond_init(&w->work, NULL) != 0)
        goto free_mu;
    if (pthread_cond_init(&w->room, NULL) != 0)
        goto free_work;
    if (pthread_create(&w->thread, NULL, compressor, w) != 0)
        goto free_room;
    w->threaded = true;
    return 0;
free_room:
    pthread_cond_destroy(&w->room);
free_work:
    pthread_cond_destroy(&w->work);
free_mu:
    pthread_mutex_destroy(&w->mu);
    return TTM_ENOMEM;
}

/* The compressor's failure, made the caller's sticky error. */
static inline int seen_err(ttm_journal_writer *w)
{
    if (w->err == 0 && w->threaded)
        w->err = atomic_load_explicit(&w->async_err, memory_order_acquire);
    return w->err;
}

/* Hands the current block to the compressor (waiting while QUEUE_BLOCKS wait already): the
 * block's buffer is swapped with the slot's spare, nothing is copied. */
static void submit(ttm_journal_writer *w)
{
    pthread_mutex_lock(&w->mu);
    while (w->qlen == QUEUE_BLOCKS)
        pthread_cond_wait(&w->room, &w->mu);
    jblock *b = &w->q[(w->qhead + w->qlen) % QUEUE_BLOCKS];
    ttm_bytes spare = b->raw;
    b->raw = w->raw;
    b->count = w->count;
    b->first_ts = w->first_ts;
    b->last_ts = w->last_ts;
    w->raw = spare;
    w->qlen++;
    pthread_cond_signal(&w->work);
    pthread_mutex_unlock(&w->mu);
}

/* Waits until the compressor has written every block handed over. */
static void drain(ttm_journal_writer *w)
{
    pthread_mutex_lock(&w->mu);
    while (w->qlen > 0)
        pthread_cond_wait(&w->room, &w->mu);
    pthread_mutex_unlock(&w->mu);
}

/* Ends the current block: written now, or handed to the compressor (wait: and written). */
static int block_end(ttm_journal_writer *w, bool wait)
{
    if (seen_err(w) != 0)
        return w->err;
    if (w->count > 0 && !w->threaded) {
        int rc = emit(w, &w->raw, w->count, w->first_ts, w->last_ts);
        if (rc != 0)
            return w->err = rc;
    } else if (w->count > 0) {
        submit(w);
    }
    if (w->count > 0)
        block_reset(w);
    if (wait && w->threaded)
        drain(w);
    return seen_err(w);
}

int ttm_journal_writer_flush(ttm_journal_writer *w)
{
    return block_end(w, true);
}

#define VAR_MAX 10u /* bytes of the longest varint */

/* Starts a record of at most `most` bytes after its tag and time: flushes a full block first,
 * writes the tag and the time delta, notes the time. Returns where the fields go, or NULL with
 * *rc set. */
static uint8_t *rec_begin(ttm_journal_writer *w, uint8_t tag, uint64_t ts, size_t most, int *rc)
{
    *rc = seen_err(w);
    if (*rc != 0)
        return NULL;
    if (w->raw.len >= w->block_size && (*rc = block_end(w, false)) != 0)
        return NULL;
    ttm_bw bw = ttm__bw_over(&w->raw);
    uint8_t *p = ttm__bw_room(&bw, 1 + VAR_MAX + most);
    if (p == NULL) {
        *rc = w->err = TTM_ENOMEM;
        return NULL;
    }
    *p++ = tag;
    p = put_var(p, zz_enc((int64_t)(ts - w->prev_ts)));
    w->prev_ts = ts;
    if (ts < w->first_ts)
        w->first_ts = ts;
    if (ts > w->last_ts)
        w->last_ts = ts;
    return p;
}

/* Ends the record whose last byte is before end. */
static int rec_end(ttm_journal_writer *w, const uint8_t *end)
{
    w->raw.len = (size_t)(end - w->raw.data);
    w->count++;
    return 0;
}

static uint8_t *put_blob(uint8_t *p, const void *src, size_t n)
{
    p = put_var(p, n);
    if (n > 0)
        memcpy(p, src, n);
    return p + n;
}

int ttm_journal_writer_event(ttm_journal_writer *w, const ttm_journal_event *e)
{
    int rc;
    uint8_t *p = rec_begin(w, REC_EVENT, e->ts, 2 + 9 * VAR_MAX, &rc);
    if (p == NULL)
        return rc;
    *p++ = e->kind;
    *p++ = e->memtype;
    p = put_var(p, e->flags);
    p = put_var(p, e->device);
    p = put_var(p, e->classes);
    p = put_var(p, e->pid);
    p = put_var(p, e->stack);
    p = put_var(p, e->scope);
    p = put_var(p, zz_enc((int64_t)(e->addr - w->prev_addr)));
    p = put_var(p, e->size);
    p = put_var(p, zz_enc((int64_t)(e->obj - w->prev_obj)));
    w->prev_addr = e->addr;
    w->prev_obj = e->obj;
    return rec_end(w, p);
}

int ttm_journal_writer_device(ttm_journal_writer *w, const ttm_journal_device *d)
{
    int rc;
    uint8_t *p = rec_begin(w, REC_DEVICE, d->ts, 7 * VAR_MAX, &rc);
    if (p == NULL)
        return rc;
    p = put_var(p, d->device);
    p = put_var(p, d->arch);
    p = put_var(p, d->worker_cores);
    p = put_var(p, d->l1_per_core);
    p = put_var(p, d->dram_channels);
    p = put_var(p, d->dram_capacity);
    p = put_var(p, d->l1_capacity);
    return rec_end(w, p);
}

int ttm_journal_writer_proc(ttm_journal_writer *w, const ttm_journal_proc *p)
{
    const char *name = p->name != NULL ? p->name : "";
    size_t nlen = strlen(name);
    if (nlen > NAME_MAX_LEN || p->cmdline_len > NAME_MAX_LEN * 16 ||
        (p->cmdline_len > 0 && p->cmdline == NULL))
        return TTM_EINVAL;
    int rc;
    uint8_t *q = rec_begin(w, REC_PROC, p->ts, 1 + 4 * VAR_MAX + nlen + p->cmdline_len, &rc);
    if (q == NULL)
        return rc;
    if (p->state > TTM_JOURNAL_PROC_FORGET)
        return TTM_EINVAL;
    *q++ = p->state;
    q = put_var(q, p->pid);
    q = put_var(q, zz_enc(p->status));
    q = put_blob(q, name, nlen);
    q = put_blob(q, p->cmdline, p->cmdline_len);
    return rec_end(w, q);
}

int ttm_journal_writer_mark(ttm_journal_writer *w, const ttm_journal_mark *m)
{
    const char *name = m->name != NULL ? m->name : "";
    size_t nlen = strlen(name);
    if (nlen > NAME_MAX_LEN)
        return TTM_EINVAL;
    int rc;
    uint8_t *p = rec_begin(w, REC_MARK, m->ts, 2 * VAR_MAX + nlen, &rc);
    if (p == NULL)
        return rc;
    p = put_var(p, m->pid);
    p = put_blob(p, name, nlen);
    return rec_end(w, p);
}

int ttm_journal_writer_chunk(ttm_journal_writer *w, const ttm_journal_chunk *c)
{
    if (c->len > TTM_JOURNAL_BLOCK_MAX / 2 || (c->len > 0 && c->data == NULL))
        return TTM_EINVAL;
    if (seen_err(w) == 0 && w->raw.len > 0 && w->raw.len + c->len > w->block_size) {
        int rc = block_end(w, false); /* a big chunk gets a block of its own */
        if (rc != 0)
            return rc;
    }
    int rc;
    uint8_t *p = rec_begin(w, REC_CHUNK, c->ts, 2 * VAR_MAX + c->len, &rc);
    if (p == NULL)
        return rc;
    p = put_var(p, c->kind);
    p = put_blob(p, c->data, c->len);
    return rec_end(w, p);
}

int ttm_journal_writer_close(ttm_journal_writer *w)
{
    if (w == NULL)
        return 0;
    int rc = ttm_journal_writer_flush(w);
    if (w->threaded) {
        pthread_mutex_lock(&w->mu);
        w->stop = true;
        pthread_cond_signal(&w->work);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->thread, NULL);
        pthread_cond_destroy(&w->room);
        pthread_cond_destroy(&w->work);
        pthread_mutex_destroy(&w->mu);
        for (size_t i = 0; i < QUEUE_BLOCKS; i++)
            ttm__bytes_free(&w->q[i].raw);
    }
    if (close(w->fd) != 0 && rc == 0) {
        w->sys_errno = errno;
        rc = TTM_EIO;
    }
    ZSTD_freeCCtx(w->zc);
    ttm__bytes_free(&w->raw);
    ttm__bytes_free(&w->out);
    ttm__free(w);
    return rc;
}

uint64_t ttm_journal_writer_bytes(const ttm_journal_writer *w) { return atomic_load(&w->bytes); }
int ttm_journal_writer_errno(const ttm_journal_writer *w)
{
    /* the compressor sets it before it publishes its error */
    return w->threaded && atomic_load(&w->async_err) == 0 ? 0 : w->sys_errno;
}

/* ---- reader -------------------------------------------------------------------------------- */

struct ttm_journal_reader {
    int fd;
    uint64_t off;
    bool in_damage; /* a damaged region was reported and no good block followed yet */
    ttm_journal_header hdr;
    ttm_journal_stats stats;
    uint8_t *cbuf, *ubuf;
    size_t ccap, ucap;
    ZSTD_DCtx *zd;
};

/* Reads up to n bytes at off; returns how many (short only at end of file), or -1. */
static ssize_t read_at(int fd, uint64_t off, uint8_t *p, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t k = pread(fd, p + done, n - done, (off_t)(off + done));
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -1;
        if (k == 0)
            break;
        done += (size_t)k;
    }
    return (ssize_t)done;
}

/* Checks a file header of got bytes: 0, TTM_EPROTO (not a journal) or TTM_EVERSION. */
static int header_check(const uint8_t *hdr, size_t got)
{
    if (got < FILE_HDR_LEN || memcmp(hdr, FILE_MAGIC, 8) != 0)
        return TTM_EPROTO;
    if (ttm__le16(hdr + 8) != TTM_JOURNAL_VERSION)
        return TTM_EVERSION;
    if (ttm__le16(hdr + 10) != FILE_HDR_LEN || ttm__le32(hdr + 108) != crc32c(hdr, 108))
        return TTM_EPROTO;
    return 0;
}

int ttm_journal_reader_open(const char *path, int fd, ttm_journal_reader **out)
{
    if (out == NULL || (path == NULL && fd < 0))
        return TTM_EINVAL;
    crc_init();
    if (path != NULL) {
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return errno == ENOENT ? TTM_ENOENT : TTM_EIO;
    }
    int rc = TTM_ENOMEM;
    ttm_journal_reader *r = ttm__calloc(1, sizeof *r);
    if (r == NULL)
        goto close_fd;
    r->fd = fd;
    r->zd = ZSTD_createDCtx();
    if (r->zd == NULL)
        goto free_reader;
    uint8_t hdr[FILE_HDR_LEN];
    ssize_t got = read_at(fd, 0, hdr, sizeof hdr);
    rc = TTM_EIO;
    if (got < 0)
        goto free_reader;
    rc = header_check(hdr, (size_t)got);
    if (rc != 0)
        goto free_reader;
    r->hdr.run_id = ttm__le64(hdr + 88);
    r->hdr.seq = ttm__le32(hdr + 96);
    r->hdr.version = ttm__le16(hdr + 8);
    r->hdr.created_ns = ttm__le64(hdr + 16);
    memcpy(r->hdr.host, hdr + 24, TTM_JOURNAL_HOST_MAX);
    r->hdr.host[TTM_JOURNAL_HOST_MAX - 1] = '\0';
    r->off = FILE_HDR_LEN;
    *out = r;
    return 0;

free_reader:
    ZSTD_freeDCtx(r->zd);
    ttm__free(r);
close_fd:
    close(fd);
    return rc;
}

const ttm_journal_header *ttm_journal_reader_header(const ttm_journal_reader *r) { return &r->hdr; }
const ttm_journal_stats *ttm_journal_reader_stats(const ttm_journal_reader *r) { return &r->stats; }

static void damage(ttm_journal_reader *r, const ttm_journal_sink *s, const char *what)
{
    if (r->in_damage)
        return;
    r->in_damage = true;
    r->stats.bad_blocks++;
    if (s != NULL && s->damage != NULL)
        s->damage(s->ctx, r->off, what);
}

/* Moves r->off to the next block magic after r->off (or to the end of the file), counting the
 * bytes passed. Returns 0, or TTM_EIO. */
static int resync(ttm_journal_reader *r)
{
    uint8_t win[65536];
    uint64_t pos = r->off + 1;
    for (;;) {
        ssize_t got = read_at(r->fd, pos, win, sizeof win);
        if (got < 0)
            return TTM_EIO;
        for (ssize_t i = 0; i + 4 <= got; i++) {
            if (ttm__le32(win + i) == BLOCK_MAGIC) {
                r->stats.skipped_bytes += pos + (uint64_t)i - r->off;
                r->off = pos + (uint64_t)i;
                return 0;
            }
        }
        if ((size_t)got < sizeof win) {
            r->stats.skipped_bytes += pos + (uint64_t)got - r->off;
            r->off = pos + (uint64_t)got;
            return 0;
        }
        pos += sizeof win - 3;
    }
}

static int grow(uint8_t **buf, size_t *cap, size_t n)
{
    if (n <= *cap)
        return 0;
    uint8_t *p = ttm__reallocarray(*buf, n, 1);
    if (p == NULL)
        return TTM_ENOMEM;
    *buf = p;
    *cap = n;
    return 0;
}

/* A name (varint length, at most NAME_MAX_LEN bytes without NUL) into dst, NUL-terminated;
 * "" once the reader is bad. */
static void get_name(ttm_br *br, char dst[NAME_MAX_LEN + 1], const char *what)
{
    dst[0] = '\0';
    uint64_t n = get_var(br, what);
    if (n > NAME_MAX_LEN)
        ttm__br_fail(br, what);
    const uint8_t *p = ttm__br_take(br, (size_t)n, what);
    if (p == NULL)
        return;
    if (memchr(p, 0, (size_t)n) != NULL) {
        ttm__br_fail(br, what);
        return;
    }
    memcpy(dst, p, (size_t)n);
    dst[n] = '\0';
}

/* Walks the records of a block: checks them all (sink NULL) or delivers them. Returns 0, a
 * sink's nonzero return, or 1 when a record does not check (*what says which field). */
static int walk(const uint8_t *p, size_t len, uint32_t count, uint64_t first, uint64_t last,
                const ttm_journal_sink *s, const char **what)
{
    ttm_br br = ttm__br_over(p, len);
    uint64_t ts = 0, addr = 0, obj = 0;
    char name[NAME_MAX_LEN + 1];
    for (uint32_t i = 0; i < count; i++) {
        uint8_t tag = get_u8(&br, "record tag");
        ts += (uint64_t)zz_dec(get_var(&br, "record time"));
        if (!br.bad && (ts < first || ts > last))
            ttm__br_fail(&br, "record time outside the block's range");
        int rc = 0;
        switch (tag) {
        case REC_EVENT: {
            ttm_journal_event e = {.ts = ts};
            e.kind = get_u8(&br, "event kind");
            e.memtype = get_u8(&br, "event memtype");
            uint32_t fl = get_var32(&br, "event flags");
            if (fl > UINT16_MAX)
                ttm__br_fail(&br, "event flags");
            e.flags = (uint16_t)fl;
            uint32_t dev = get_var32(&br, "event device");
            if (dev > UINT16_MAX)
                ttm__br_fail(&br, "event device");
            e.device = (uint16_t)dev;
            e.classes = get_var32(&br, "event classes");
            e.pid = get_var32(&br, "event pid");
            e.stack = get_var32(&br, "event stack");
            e.scope = get_var32(&br, "event scope");
            addr += (uint64_t)zz_dec(get_var(&br, "event address"));
            e.size = get_var(&br, "event size");
            obj += (uint64_t)zz_dec(get_var(&br, "event object"));
            e.addr = addr;
            e.obj = obj;
            if (!br.bad && s != NULL && s->event != NULL)
                rc = s->event(s->ctx, &e);
            break;
        }
        case REC_DEVICE: {
            ttm_journal_device d = {.ts = ts};
            uint32_t dev = get_var32(&br, "device id");
            if (dev > UINT16_MAX)
                ttm__br_fail(&br, "device id");
            d.device = (uint16_t)dev;
            d.arch = get_var32(&br, "device arch");
            d.worker_cores = get_var32(&br, "device worker cores");
            d.l1_per_core = get_var32(&br, "device l1 per core");
            d.dram_channels = get_var32(&br, "device dram channels");
            d.dram_capacity = get_var(&br, "device dram capacity");
            d.l1_capacity = get_var(&br, "device l1 capacity");
            if (!br.bad && s != NULL && s->device != NULL)
                rc = s->device(s->ctx, &d);
            break;
        }
        case REC_PROC: {
            ttm_journal_proc pr = {.ts = ts};
            pr.state = get_u8(&br, "process state");
            if (pr.state > TTM_JOURNAL_PROC_FORGET)
                ttm__br_fail(&br, "process state");
            pr.pid = get_var32(&br, "process pid");
            int64_t st = zz_dec(get_var(&br, "process status"));
            if (st < INT32_MIN || st > INT32_MAX)
                ttm__br_fail(&br, "process status");
            pr.status = (int32_t)st;
            get_name(&br, name, "process name");
            uint64_t clen = get_var(&br, "process command line length");
            if (clen > NAME_MAX_LEN * 16)
                ttm__br_fail(&br, "process command line length");
            pr.cmdline = (const char *)ttm__br_take(&br, (size_t)clen, "process command line");
            pr.cmdline_len = (size_t)clen;
            pr.name = name;
            if (!br.bad && s != NULL && s->proc != NULL)
                rc = s->proc(s->ctx, &pr);
            break;
        }
        case REC_MARK: {
            ttm_journal_mark m = {.ts = ts};
            m.pid = get_var32(&br, "mark pid");
            get_name(&br, name, "mark name");
            m.name = name;
            if (!br.bad && s != NULL && s->mark != NULL)
                rc = s->mark(s->ctx, &m);
            break;
        }
        case REC_CHUNK: {
            ttm_journal_chunk c = {.ts = ts};
            c.kind = get_var32(&br, "chunk kind");
            uint64_t clen = get_var(&br, "chunk length");
            c.data = ttm__br_take(&br, (size_t)(clen > len ? len + 1 : clen), "chunk bytes");
            c.len = (size_t)clen;
            if (!br.bad && s != NULL && s->chunk != NULL)
                rc = s->chunk(s->ctx, &c);
            break;
        }
        default:
            ttm__br_fail(&br, "record tag");
        }
        if (br.bad) {
            *what = br.what;
            return 1;
        }
        if (rc != 0)
            return rc;
    }
    if (ttm__br_left(&br) != 0) {
        *what = "bytes after the last record";
        return 1;
    }
    return 0;
}

int ttm_journal_read_block(ttm_journal_reader *r, const ttm_journal_sink *sink)
{
    for (;;) {
        uint8_t h[BLOCK_HDR_LEN];
        ssize_t got = read_at(r->fd, r->off, h, sizeof h);
        if (got < 0)
            return TTM_EIO;
        if (got == 0)
            return 0;
        if ((size_t)got < sizeof h) { /* the file ends inside a block header */
            r->stats.truncated = true;
            r->stats.skipped_bytes += (uint64_t)got;
            r->off += (uint64_t)got;
            return 0;
        }
        const char *what = NULL;
        bool trust_len = false;
        uint32_t ulen = 0, clen = 0, count = 0;
        if (ttm__le32(h) != BLOCK_MAGIC)
            what = "block magic";
        else if (ttm__le32(h + 40) != crc32c(h, 40))
            what = "block header checksum";
        else {
            ulen = ttm__le32(h + 8);
            clen = ttm__le32(h + 12);
            count = ttm__le32(h + 16);
            if (h[4] != BLOCK_KIND_RECORDS || h[5] != CODEC_ZSTD)
                what = "block kind or codec";
            else if (ulen > TTM_JOURNAL_BLOCK_MAX || clen == 0 || clen > ZSTD_compressBound(ulen) ||
                     count == 0 || count > ulen)
                what = "block lengths";
        }
        if (what == NULL) {
            trust_len = true;
            if (grow(&r->cbuf, &r->ccap, clen) != 0 || grow(&r->ubuf, &r->ucap, ulen) != 0)
                return TTM_ENOMEM;
            got = read_at(r->fd, r->off + BLOCK_HDR_LEN, r->cbuf, clen);
            if (got < 0)
                return TTM_EIO;
            if ((size_t)got < clen) { /* a cut tail: the writer was killed or the disk filled */
                r->stats.truncated = true;
                r->stats.skipped_bytes += BLOCK_HDR_LEN + (uint64_t)got;
                r->off += BLOCK_HDR_LEN + (uint64_t)got;
                return 0;
            }
            if (ttm__le32(h + 20) != crc32c(r->cbuf, clen))
                what = "block checksum";
        }
        if (what == NULL) {
            size_t n = ZSTD_decompressDCtx(r->zd, r->ubuf, ulen, r->cbuf, clen);
            if (ZSTD_isError(n) || n != ulen)
                what = "block decompression";
        }
        uint64_t first = ttm__le64(h + 24), last = ttm__le64(h + 32);
        if (what == NULL && walk(r->ubuf, ulen, count, first, last, NULL, &what) == 0) {
            int rc = walk(r->ubuf, ulen, count, first, last, sink, &what);
            r->in_damage = false;
            r->stats.blocks++;
            r->stats.records += count;
            r->off += BLOCK_HDR_LEN + clen;
            return rc != 0 ? rc : 1;
        }
        damage(r, sink, what);
        if (trust_len) {
            r->stats.skipped_bytes += BLOCK_HDR_LEN + clen;
            r->off += BLOCK_HDR_LEN + clen;
        } else if (resync(r) != 0) {
            return TTM_EIO;
        }
    }
}

int ttm_journal_read_all(ttm_journal_reader *r, const ttm_journal_sink *sink)
{
    int rc;
    while ((rc = ttm_journal_read_block(r, sink)) == 1)
        ;
    return rc;
}

void ttm_journal_reader_summary(const ttm_journal_reader *r, char *buf, size_t n)
{
    const ttm_journal_stats *s = &r->stats;
    if (s->bad_blocks == 0 && !s->truncated) {
        snprintf(buf, n, "%s", "");
        return;
    }
    snprintf(buf, n, "journal: %llu damaged region(s) skipped%s, %llu bytes lost; %llu blocks "
             "(%llu records) read",
             (unsigned long long)s->bad_blocks, s->truncated ? ", file cut inside a block" : "",
             (unsigned long long)s->skipped_bytes, (unsigned long long)s->blocks,
             (unsigned long long)s->records);
}

void ttm_journal_reader_close(ttm_journal_reader *r)
{
    if (r == NULL)
        return;
    close(r->fd);
    ZSTD_freeDCtx(r->zd);
    ttm__free(r->cbuf);
    ttm__free(r->ubuf);
    ttm__free(r);
}

bool ttm_journal_is_file_name(const char *path)
{
    size_t n = strlen(path);
    return n > 6 && strcmp(path + n - 6, ".ttmem") == 0;
}

/* ---- appending to a closed journal -------------------------------------------------------- */

/* Whether the block header h (BLOCK_HDR_LEN bytes) checks as the reader checks it before it
 * reads the payload; *clen is then the compressed payload's length. */
static bool block_header_ok(const uint8_t *h, uint32_t *clen)
{
    if (ttm__le32(h) != BLOCK_MAGIC || ttm__le32(h + 40) != crc32c(h, 40))
        return false;
    uint32_t ulen = ttm__le32(h + 8), count = ttm__le32(h + 16);
    *clen = ttm__le32(h + 12);
    return h[4] == BLOCK_KIND_RECORDS && h[5] == CODEC_ZSTD && ulen <= TTM_JOURNAL_BLOCK_MAX &&
           *clen != 0 && *clen <= ZSTD_compressBound(ulen) && count != 0 && count <= ulen;
}

/* The offset of the next block magic after off in a file of size bytes, or size. */
static int next_magic(int fd, uint64_t off, uint64_t size, uint64_t *at)
{
    uint8_t win[65536];
    uint64_t pos = off + 1;
    while (pos < size) {
        ssize_t got = read_at(fd, pos, win, sizeof win);
        if (got < 0)
            return TTM_EIO;
        for (ssize_t i = 0; i + 4 <= got; i++) {
            if (ttm__le32(win + i) == BLOCK_MAGIC) {
                *at = pos + (uint64_t)i;
                return 0;
            }
        }
        if ((size_t)got < sizeof win)
            break;
        pos += sizeof win - 3;
    }
    *at = size;
    return 0;
}

/* The end of the last complete block of a journal of size bytes (FILE_HDR_LEN when it has
 * none): block headers are walked without reading payloads; a block the file does not hold
 * whole ends the walk (a torn tail), bytes that are no block header are passed by to the next
 * block magic, as the reader does. */
static int complete_end(int fd, uint64_t size, uint64_t *end)
{
    uint64_t off = FILE_HDR_LEN;
    *end = FILE_HDR_LEN;
    while (off < size) {
        uint8_t h[BLOCK_HDR_LEN];
        ssize_t got = read_at(fd, off, h, sizeof h);
        if (got < 0)
            return TTM_EIO;
        if ((size_t)got < sizeof h)
            return 0; /* the file ends inside a block header */
        uint32_t clen = 0;
        if (block_header_ok(h, &clen)) {
            if (off + BLOCK_HDR_LEN + clen > size)
                return 0; /* the file ends inside this block's payload */
            off += BLOCK_HDR_LEN + clen;
            *end = off;
            continue;
        }
        int rc = next_magic(fd, off, size, &off);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int ttm_journal_append_chunk(const char *path, const ttm_journal_chunk *c,
                             ttm_journal_append_info *info)
{
    ttm_journal_append_info none;
    if (info == NULL)
        info = &none;
    *info = (ttm_journal_append_info){0};
    if (path == NULL || c == NULL || c->len > TTM_JOURNAL_BLOCK_MAX / 2 ||
        (c->len > 0 && c->data == NULL))
        return TTM_EINVAL;
    crc_init();
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        info->sys_errno = errno;
        return errno == ENOENT ? TTM_ENOENT : TTM_EIO;
    }
    int rc = TTM_EIO;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        info->sys_errno = errno;
        goto out_close_fd;
    }
    uint64_t size = (uint64_t)st.st_size;
    uint8_t hdr[FILE_HDR_LEN];
    ssize_t got = read_at(fd, 0, hdr, sizeof hdr);
    if (got < 0) {
        info->sys_errno = errno;
        goto out_close_fd;
    }
    rc = header_check(hdr, (size_t)got);
    if (rc != 0)
        goto out_close_fd;
    uint64_t end;
    rc = complete_end(fd, size, &end);
    if (rc != 0) {
        info->sys_errno = errno;
        goto out_close_fd;
    }
    info->bytes = size;
    if (end < size) {
        if (ftruncate(fd, (off_t)end) != 0) {
            info->sys_errno = errno;
            rc = TTM_EIO;
            goto out_close_fd;
        }
        info->cut_bytes = size - end;
        info->bytes = end;
    }
    if (lseek(fd, (off_t)end, SEEK_SET) < 0) {
        info->sys_errno = errno;
        rc = TTM_EIO;
        goto out_close_fd;
    }
    /* one block: large enough that the chunk does not start a second one */
    size_t block = c->len + 64 > (1u << 20) ? c->len + 64 : (1u << 20);
    ttm_journal_writer *w = writer_new(block, 0);
    if (w == NULL) {
        rc = TTM_ENOMEM;
        goto out_close_fd;
    }
    w->fd = fd;
    w->bytes = end;
    rc = ttm_journal_writer_chunk(w, c);
    if (rc == 0)
        rc = ttm_journal_writer_flush(w);
    if (rc == 0 && fdatasync(fd) != 0 && errno != EINVAL) {
        w->sys_errno = errno;
        rc = TTM_EIO;
    }
    if (rc != 0 && ftruncate(fd, (off_t)end) == 0)
        w->bytes = end; /* the journal reads as it did */
    info->bytes = w->bytes;
    info->sys_errno = w->sys_errno;
    int close_rc = ttm_journal_writer_close(w); /* closes fd; its errno is the writer's */
    if (rc == 0 && close_rc != 0) {
        rc = close_rc;
        info->sys_errno = errno;
    }
    return rc;

out_close_fd:
    close(fd);
    return rc;
}

/* ---- the MADE chunk ------------------------------------------------------------------------ */

int ttm_journal_made_encode(const ttm_journal_made *m, ttm_bytes *out)
{
    size_t hl = strnlen(m->host, sizeof m->host), vl = strnlen(m->version, sizeof m->version);
    if (hl >= sizeof m->host || vl >= sizeof m->version ||
        m->args_len > TTM_JOURNAL_MADE_ARGS_MAX || (m->args_len > 0 && m->args == NULL))
        return TTM_EINVAL;
    size_t nuls = 0;
    for (size_t i = 0; i < m->args_len; i++)
        nuls += m->args[i] == '\0';
    if (nuls != m->argc || (m->args_len > 0 && m->args[m->args_len - 1] != '\0'))
        return TTM_EINVAL;
    ttm_bw w = ttm__bw_over(out);
    ttm__bw_u32(&w, TTM_JOURNAL_MADE_VERSION);
    ttm__bw_u64(&w, m->start_ns);
    ttm__bw_u64(&w, m->end_ns);
    ttm__bw_u64(&w, m->run_ns);
    ttm__bw_u8(&w, m->how);
    ttm__bw_u8(&w, m->core_dumped ? 1 : 0);
    ttm__bw_u32(&w, m->code);
    ttm__bw_varint(&w, hl);
    ttm__bw_bytes(&w, m->host, hl);
    ttm__bw_varint(&w, vl);
    ttm__bw_bytes(&w, m->version, vl);
    ttm__bw_u32(&w, m->argc);
    ttm__bw_varint(&w, m->args_len);
    ttm__bw_bytes(&w, m->args, m->args_len);
    return w.err;
}

/* A varint-length text field into dst (cap bytes, NUL included); no NUL inside. */
static void made_text(ttm_br *r, char *dst, size_t cap, const char *what)
{
    dst[0] = '\0';
    uint64_t n = ttm__br_varint(r, what);
    if (n >= cap) {
        ttm__br_fail(r, what);
        return;
    }
    const uint8_t *p = ttm__br_take(r, (size_t)n, what);
    if (p == NULL || memchr(p, 0, (size_t)n) != NULL) {
        ttm__br_fail(r, what);
        return;
    }
    memcpy(dst, p, (size_t)n);
    dst[n] = '\0';
}

int ttm_journal_made_decode(const uint8_t *p, size_t n, ttm_journal_made *out)
{
    memset(out, 0, sizeof *out);
    ttm_br r = ttm__br_over(p, n);
    uint32_t version = ttm__br_u32(&r, "version");
    if (!r.bad && version != TTM_JOURNAL_MADE_VERSION)
        return TTM_EVERSION;
    out->start_ns = ttm__br_u64(&r, "start");
    out->end_ns = ttm__br_u64(&r, "end");
    out->run_ns = ttm__br_u64(&r, "run time");
    out->how = ttm__br_u8(&r, "how");
    if (out->how > TTM_JOURNAL_MADE_SIGNALED)
        ttm__br_fail(&r, "how");
    out->core_dumped = ttm__br_bool(&r, "core dumped");
    out->code = ttm__br_u32(&r, "code");
    if (out->how == TTM_JOURNAL_MADE_EXITED && out->code > 255)
        ttm__br_fail(&r, "exit code");
    if (out->how == TTM_JOURNAL_MADE_SIGNALED && (out->code == 0 || out->code > 127))
        ttm__br_fail(&r, "signal");
    made_text(&r, out->host, sizeof out->host, "host");
    made_text(&r, out->version, sizeof out->version, "version");
    uint32_t argc = ttm__br_u32(&r, "argc");
    uint64_t alen = ttm__br_varint(&r, "args length");
    if (alen > TTM_JOURNAL_MADE_ARGS_MAX)
        ttm__br_fail(&r, "args length");
    const uint8_t *a = ttm__br_take(&r, (size_t)alen, "args");
    if (r.bad) {
        memset(out, 0, sizeof *out);
        return TTM_EPROTO;
    }
    size_t nuls = 0;
    for (size_t i = 0; i < alen; i++)
        nuls += a[i] == 0;
    if (nuls != argc || (alen > 0 && a[alen - 1] != 0)) {
        memset(out, 0, sizeof *out);
        return TTM_EPROTO;
    }
    if (alen > 0) {
        out->args = ttm__malloc((size_t)alen);
        if (out->args == NULL) {
            memset(out, 0, sizeof *out);
            return TTM_ENOMEM;
        }
        memcpy(out->args, a, (size_t)alen);
    }
    out->argc = argc;
    out->args_len = (size_t)alen;
    return 0;
}

void ttm_journal_made_clear(ttm_journal_made *m)
{
    if (m == NULL)
        return;
    ttm__free(m->args);
    memset(m, 0, sizeof *m);
}

int ttm_journal_made_status(const ttm_journal_made *m)
{
    return m->how == TTM_JOURNAL_MADE_SIGNALED ? 128 + (int)m->code : (int)m->code;
}

/* ---- between the registry's events and the journal's records ------------------------------- */

void ttm_journal_event_from(ttm_journal_event *out, uint32_t pid, const ttm_event *ev,
                            uint32_t mask)
{
    *out = (ttm_journal_event){.kind = ev->kind, .memtype = ev->memtype, .device = ev->device,
                               .flags = ev->flags, .classes = mask, .pid = pid,
                               .stack = ev->stack, .scope = ev->scope, .ts = ev->ts,
                               .addr = ev->addr, .size = ev->size, .obj = ev->obj};
}

void ttm_journal_event_to(const ttm_journal_event *e, ttm_event *out)
{
    memset(out, 0, sizeof *out);
    out->kind = e->kind;
    out->memtype = e->memtype;
    out->flags = e->flags;
    out->device = e->device;
    out->ts = e->ts;
    out->addr = e->addr;
    out->size = e->size;
    out->obj = e->obj;
    out->stack = e->stack;
    out->scope = e->scope;
}
