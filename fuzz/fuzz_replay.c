/*
 * fuzz_replay.c — the journal's replay (src/core/replay.c) on journals built from arbitrary
 * bytes. The input is a little program: each op applies an event to a registry through the
 * journal's tap (core/jtap.h) as ttmemd does, ends or forgets a process as its daemon would,
 * writes a mark, a device, a raw chunk (any kind, any bytes), moves the clock or closes a
 * block; the journal that results is replayed. Unless a raw chunk could change what the replay
 * does (CONFIG, STATE, STACKS, DAEMON), the replay must agree with the writer: no event
 * classified otherwise, the same report, and the buffer lives still open at the end add up to
 * the registry's bytes in use on every (device, memtype). The input's tail, cut at the byte
 * its first byte says, also damages the file: the replay must then still end without a crash.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/bytes.h"
#include "common/journal.h"
#include "core/jtap.h"
#include "core/replay.h"
#include "core/report.h"
#include "ttmem/ttmem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t ttm__fuzz_seeds(const uint8_t *const **seeds, const size_t **sizes);

#define NDEV 4
#define MT TTM_MEMTYPE_COUNT

typedef struct prog {
    const uint8_t *p;
    size_t n, at;
} prog;

static uint8_t next(prog *g)
{
    return g->at < g->n ? g->p[g->at++] : 0;
}

typedef struct writer {
    ttm_registry *reg;
    ttm_journal_writer *w;
    ttm_jtap tap;
    uint64_t ts;
    bool tainted; /* a raw chunk the replay consumes was written */
} writer;

static void op_event(writer *wr, prog *g, uint8_t kind)
{
    ttm_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = kind;
    ev.device = next(g) % NDEV;
    uint8_t m = next(g);
    ev.memtype = m < 8 ? m : TTM_MEM_ANY;
    ev.flags = next(g) & 1 ? TTM_FLAG_VIEW : 0;
    uint32_t pid = 1 + next(g) % 4;
    ev.addr = 0x100000 + (uint64_t)next(g) * 0x1000;
    ev.size = (uint64_t)next(g) * 256;
    ev.obj = next(g) % 16;
    ev.stack = next(g) % 4;
    ev.scope = next(g) % 4;
    ev.ts = wr->ts;
    ttm_jtap_apply(&wr->tap, pid, &ev);
}

/* A process record as a daemon writes them: START names it (or is the registry's own event),
 * EXIT ends it whole, FORGET drops an exited one. */
static void op_proc(writer *wr, prog *g)
{
    uint8_t state = next(g) % 3;
    uint32_t pid = 1 + next(g) % 4;
    bool as_event = next(g) & 1;
    ttm_journal_proc p = {.state = state, .pid = pid, .status = -1, .ts = wr->ts,
                          .name = "proc", .cmdline = "a\0b", .cmdline_len = 4};
    ttm_event ev;
    memset(&ev, 0, sizeof ev);
    ev.ts = wr->ts;
    if (state == TTM_JOURNAL_PROC_START && as_event) {
        ev.kind = TTM_EV_PROC_START;
        ttm_jtap_apply(&wr->tap, pid, &ev);
    } else if (state == TTM_JOURNAL_PROC_EXIT && as_event) {
        ev.kind = TTM_EV_PROC_EXIT;
        ttm_jtap_apply(&wr->tap, pid, &ev);
    } else if (state == TTM_JOURNAL_PROC_EXIT) {
        ttm_registry_process_exit(wr->reg, pid, wr->ts);
        ttm_jtap_proc(&wr->tap, &p);
    } else if (state == TTM_JOURNAL_PROC_FORGET) {
        if (ttm_registry_process_forget(wr->reg, pid) == TTM_OK)
            ttm_jtap_proc(&wr->tap, &p);
    } else {
        ttm_jtap_proc(&wr->tap, &p);
    }
}

static void op_chunk(writer *wr, prog *g)
{
    uint32_t kind = next(g) % 8;
    uint8_t len = next(g);
    uint8_t buf[256];
    for (unsigned i = 0; i < len; i++)
        buf[i] = next(g);
    if (kind != TTM_JOURNAL_CHUNK_RUN && kind <= TTM_JOURNAL_CHUNK_RUN)
        wr->tainted = true;
    ttm_jtap_chunk(&wr->tap, kind, wr->ts, buf, len);
}

static void op_other(writer *wr, prog *g, uint8_t op)
{
    ttm_event ev;
    memset(&ev, 0, sizeof ev);
    ev.ts = wr->ts;
    switch (op) {
    case 3: {
        ev.kind = TTM_EV_MARK;
        uint8_t n = next(g) % 8;
        for (unsigned i = 0; i < n; i++)
            ev.mark[i] = (char)('a' + next(g) % 26);
        ttm_jtap_apply(&wr->tap, 1 + next(g) % 4, &ev);
        break;
    }
    case 4:
        ev.kind = TTM_EV_DEVICE_INFO;
        ev.device = next(g) % NDEV;
        ev.arch = next(g) % 4;
        ev.dram_capacity = (uint64_t)next(g) << 24;
        ttm_jtap_apply(&wr->tap, 1, &ev);
        break;
    case 6:
        wr->ts += (uint64_t)next(g) * 1000;
        break;
    default:
        ttm_journal_writer_flush(wr->w);
        break;
    }
}

/* Writes the journal the program says into fd. Returns the writer's registry. */
static ttm_registry *build(prog *g, int fd, bool *tainted)
{
    writer wr = {.ts = 1000};
    if (ttm_registry_open(&wr.reg, NULL) != TTM_OK)
        abort();
    ttm_journal_opts o = {.block_size = 128 + next(g), .host = "fuzz", .run_id = 1,
                          .created_ns = 1};
    if (ttm_journal_writer_open(NULL, dup(fd), &o, &wr.w) != TTM_OK ||
        ttm_jtap_open(&wr.tap, wr.reg, wr.w, NULL, 0) != TTM_OK)
        abort();
    while (g->at < g->n) {
        uint8_t op = next(g) % 8;
        wr.ts++;
        if (op <= 1)
            op_event(&wr, g, op == 0 ? TTM_EV_ALLOC : TTM_EV_FREE);
        else if (op == 2)
            op_proc(&wr, g);
        else if (op == 5)
            op_chunk(&wr, g);
        else
            op_other(&wr, g, op);
    }
    if (ttm_jtap_close(&wr.tap) != TTM_OK || ttm_journal_writer_close(wr.w) != TTM_OK)
        abort();
    *tainted = wr.tainted;
    return wr.reg;
}

typedef struct live {
    uint64_t bytes[NDEV][MT];
} live;

static void on_buffer(void *ctx, size_t run, const ttm_replay_buffer *b)
{
    (void)run;
    live *l = ctx;
    if (b->free_ts == 0 && !(b->flags & TTM_FLAG_VIEW) && b->device < NDEV && b->memtype < MT)
        l->bytes[b->device][b->memtype] += b->size;
    if (b->free_ts != 0 && b->free_ts < b->alloc_ts)
        abort();
}

static void encode(const ttm_report *r, ttm_bytes *out)
{
    out->len = 0;
    if (ttm_report_encode(r, out) != TTM_OK)
        abort();
}

/* The replay of the journal in fd against the registry that wrote it. */
static void check(int fd, ttm_registry *reg, bool exact)
{
    char path[64], msg[512];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    const char *paths[] = {path};
    ttm_replay *rp = NULL;
    if (ttm_replay_open(&rp, paths, 1, msg, sizeof msg) != TTM_OK)
        return; /* a damaged header: not a journal */
    live l;
    memset(&l, 0, sizeof l);
    ttm_replay_observer obs = {.ctx = &l, .buffer = on_buffer};
    if (ttm_replay_run(rp, &obs, UINT64_MAX) != TTM_OK)
        abort();
    ttm_replay_summary(rp, msg, sizeof msg);
    if (strchr(msg, '\n') != NULL)
        abort();
    const ttm_report_options opt = {
        .sections = TTM_REPORT_SECTIONS | TTM_SNAP_BIT(TTM_SNAP_SEC_STACKS)};
    ttm_report got;
    if (ttm_replay_report(rp, &opt, &got) != TTM_OK)
        abort();
    if (exact) {
        if (ttm_replay_mismatches(rp) != 0)
            abort();
        ttm_report want;
        if (ttm_report_fill(reg, &opt, &want) != TTM_OK)
            abort();
        ttm_bytes a = {0}, b = {0};
        encode(&want, &a);
        encode(&got, &b);
        if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
            abort();
        ttm__bytes_free(&a);
        ttm__bytes_free(&b);
        ttm_report_clear(&want);
        for (uint16_t d = 0; d < NDEV; d++) {
            const ttm_device_stats *s = ttm_registry_device(reg, d);
            for (unsigned m = 0; m < MT; m++)
                if (l.bytes[d][m] != (s != NULL ? s->mem[m].live_bytes : 0))
                    abort();
        }
    }
    /* a moment in the middle, and the peak */
    uint64_t ts, bytes, rec;
    if (ttm_replay_peak(rp, 0, TTM_REPLAY_ANY_DEVICE, TTM_MEM_ANY, &ts, &bytes, &rec) == TTM_OK &&
        ttm_replay_run_to(rp, &obs, 0, rec) != TTM_OK)
        abort();
    ttm_report_clear(&got);
    ttm_replay_close(rp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size > 4096)
        return 0;
    int fd = memfd_create("fuzz_replay", MFD_CLOEXEC);
    if (fd < 0)
        return 0;
    prog g = {.p = data + 1, .n = size - 1};
    bool tainted = false;
    ttm_registry *reg = build(&g, fd, &tainted);
    check(fd, reg, !tainted);
    /* damaged: a byte flipped where the first input byte says, then cut there */
    off_t len = lseek(fd, 0, SEEK_END);
    if (len > 112) {
        off_t at = 112 + (off_t)((uint64_t)data[0] * 7919 % (uint64_t)(len - 112));
        uint8_t b = 0;
        if (pread(fd, &b, 1, at) == 1) {
            b ^= 0x5a;
            if (pwrite(fd, &b, 1, at) != 1)
                abort();
        }
        check(fd, reg, false);
        if (ftruncate(fd, at + (len - at) / 2) != 0)
            abort();
        check(fd, reg, false);
    }
    ttm_registry_close(reg);
    close(fd);
    return 0;
}

/* ---- seeds: programs a simulator-like client would make ---- */

#define NSEEDS 3
static uint8_t seed_buf[NSEEDS][1024];
static const uint8_t *seed_list[NSEEDS];
static size_t seed_sizes[NSEEDS];

/* Allocations and frees of a few buffers, with exits, marks and a run title. */
static size_t make_seed(uint8_t *p, size_t cap, unsigned variant)
{
    size_t n = 0;
#define PUT(...)                                                                                 \
    do {                                                                                         \
        const uint8_t b_[] = {__VA_ARGS__};                                                      \
        if (n + sizeof b_ <= cap) {                                                              \
            memcpy(p + n, b_, sizeof b_);                                                        \
            n += sizeof b_;                                                                      \
        }                                                                                        \
    } while (0)
    PUT((uint8_t)(17 * variant + 3)); /* where the damage goes */
    PUT(64);                          /* block size: 128 + 64 */
    PUT(4, 0, 1, 0);                  /* device 0 */
    PUT(5, 5, 4, 't', 'e', 's', 't'); /* RUN "test" */
    for (unsigned i = 0; i < 12; i++) {
        uint8_t pid = (uint8_t)(i % (variant + 1)), addr = (uint8_t)(i % 5), m = (uint8_t)(i % 3);
        PUT(0, (uint8_t)(i % 2), m, (uint8_t)(variant == 2 && i % 4 == 0), pid, addr, 16,
            (uint8_t)i, 1, 2);
        if (i % 3 == 1)
            PUT(1, (uint8_t)(i % 2), m, 0, pid, addr, 0, (uint8_t)i, 0, 0);
        if (i % 4 == 3)
            PUT(3, 3, 'a', 'b', 'c', pid);
        if (i % 5 == 4)
            PUT(6, 3, 7);
    }
    PUT(2, 1, 0, (uint8_t)(variant & 1)); /* pid 1 exits */
    PUT(2, 2, 0, 0);                      /* and is forgotten */
    return n;
#undef PUT
}

size_t ttm__fuzz_seeds(const uint8_t *const **seeds, const size_t **sizes)
{
    for (unsigned i = 0; i < NSEEDS; i++) {
        seed_sizes[i] = make_seed(seed_buf[i], sizeof seed_buf[i], i);
        seed_list[i] = seed_buf[i];
    }
    *seeds = seed_list;
    *sizes = seed_sizes;
    return NSEEDS;
}
