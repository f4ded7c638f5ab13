/*
 * test_side_ingest.c — the daemon's side log reader (src/daemon/side_ingest.c) on side logs
 * the test writes in side.h's format (side_log.h): modules, stacks, strings and Python frames
 * translated into the registry's call-site tables (core/stacks.h); events' ids rewritten;
 * every kind of peer fault (an unknown id, a record cut short, a record longer than what is
 * committed, a huge length, committed moved back or beyond the log, an unknown type, a header
 * with a wrong magic, version or size, a memfd not sealed) counted or refused, with the
 * reader still answering; a peer rewriting records while they are read; a log read again from
 * its start (a new daemon reattaching) mapping to the same registry ids, also into tables
 * restored from a saved state.
 */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/bytes.h"
#include "daemon/side_ingest.h"
#include "side_log.h"

#define LOG_BYTES TTM_SIDE_MIN_BYTES

typedef struct fixture {
    side_log log;
    ttm_stacks *st;
    ttm_side_in *si;
    ttm_side_counts c;
    char msg[160];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    void *mem = aligned_alloc(64, LOG_BYTES);
    assert_non_null(mem);
    side_log_init(&f->log, mem, LOG_BYTES);
    assert_int_equal(ttm_stacks_open(&f->st, NULL), TTM_OK);
    assert_int_equal(ttm__side_in_over(&f->si, mem, LOG_BYTES, f->msg, sizeof f->msg), TTM_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    ttm__side_in_close(f->si);
    ttm_stacks_close(f->st);
    free(f->log.mem);
    free(f);
    return 0;
}

static int read_all(fixture *f)
{
    return ttm__side_in_read(f->si, f->st, 0, &f->c, f->msg, sizeof f->msg);
}

static ttm_event alloc_ev(uint32_t stack, uint32_t scope)
{
    ttm_event e;
    memset(&e, 0, sizeof e);
    e.kind = TTM_EV_ALLOC;
    e.addr = 0x1000;
    e.size = 64;
    e.stack = stack;
    e.scope = scope;
    return e;
}

/* The registry stack of client stack id (through an event's rewrite). */
static uint32_t reg_stack(fixture *f, uint32_t client)
{
    ttm_event e = alloc_ev(client, 0);
    ttm_side_counts c = {0};
    ttm__side_in_rewrite(f->si, &e, 1, &c);
    return e.stack;
}

static uint32_t reg_scope(fixture *f, uint32_t client)
{
    ttm_event e = alloc_ev(0, client);
    ttm_side_counts c = {0};
    ttm__side_in_rewrite(f->si, &e, 1, &c);
    return e.scope;
}

static void assert_string(const ttm_stacks *st, uint32_t id, const char *want)
{
    size_t n = 0;
    const char *s = ttm_stacks_string_get(st, id, &n);
    assert_non_null(s);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(s, want, n);
}

static const uint8_t BID[20] = {0xab, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x01,
                                0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b};

/* The records of a process with one library, a scope and a Python frame. */
static void write_basic(side_log *l)
{
    side_log_module(l, 1, 0x7f0000000000ull, 0x7f0000001000ull, 0x7f0000005000ull, BID, 20,
                    "/usr/lib/libt.so");
    side_log_module(l, 2, 0x400000, 0x401000, 0x402000, NULL, 0, "/tmp/main");
    side_log_string(l, 1, TTM_SIDE_STR_SCOPE, "matmul");
    side_log_string(l, 2, TTM_SIDE_STR_PYFILE, "/src/t.py");
    side_log_string(l, 3, TTM_SIDE_STR_PYFUNC, "step");
    side_log_pyframe(l, 1, 2, 3, 12);
    uint64_t pcs[] = {0x7f0000001139ull, 0x401020, TTM_SIDE_PYFRAME_BIT | 1, 0x123456};
    side_log_stack(l, 1, pcs, 4);
    uint64_t pcs2[] = {0x401020};
    side_log_stack(l, 2, pcs2, 1);
    side_log_commit(l);
}

static void test_translate(void **state)
{
    fixture *f = *state;
    write_basic(&f->log);
    assert_true(ttm__side_in_pending(f->si));
    assert_int_equal(read_all(f), TTM_OK);
    assert_false(ttm__side_in_pending(f->si));
    assert_int_equal(f->c.records, 8);
    assert_int_equal(f->c.bytes, f->log.end);
    assert_int_equal(f->c.modules, 2);
    assert_int_equal(f->c.strings, 3);
    assert_int_equal(f->c.pyframes, 1);
    assert_int_equal(f->c.stacks, 2);
    assert_int_equal(f->c.bad + f->c.skipped + f->c.bound + f->c.refs_unknown, 0);

    uint32_t s1 = reg_stack(f, 1);
    assert_int_not_equal(s1, 0);
    const uint32_t *fr = NULL;
    assert_int_equal(ttm_stacks_stack_get(f->st, s1, &fr), 4);
    const ttm_frame *a = ttm_stacks_frame_get(f->st, fr[0]);
    assert_int_equal(a->kind, TTM_FRAME_NATIVE);
    assert_int_equal(a->offset, 0x1139); /* pc - bias */
    ttm_module_info mi;
    assert_true(ttm_stacks_module_get(f->st, a->module, &mi));
    assert_int_equal(mi.build_id_len, 20);
    assert_memory_equal(mi.build_id, BID, 20);
    assert_int_equal(mi.path_len, strlen("/usr/lib/libt.so"));
    assert_memory_equal(mi.path, "/usr/lib/libt.so", mi.path_len);
    const ttm_frame *b = ttm_stacks_frame_get(f->st, fr[1]);
    assert_int_equal(b->kind, TTM_FRAME_NATIVE);
    assert_int_not_equal(b->module, a->module);
    assert_int_equal(b->offset, 0x1020); /* bias 0x400000 */
    const ttm_frame *py = ttm_stacks_frame_get(f->st, fr[2]);
    assert_int_equal(py->kind, TTM_FRAME_PYTHON);
    assert_int_equal(py->line, 12);
    assert_string(f->st, py->file, "/src/t.py");
    assert_string(f->st, py->function, "step");
    const ttm_frame *raw = ttm_stacks_frame_get(f->st, fr[3]);
    assert_int_equal(raw->kind, TTM_FRAME_NATIVE);
    assert_int_equal(raw->module, 0); /* no module holds it: the raw address */
    assert_int_equal(raw->offset, 0x123456);
    /* the second stack shares the main program's frame */
    uint32_t s2 = reg_stack(f, 2);
    assert_int_equal(ttm_stacks_stack_get(f->st, s2, &fr), 1);
    assert_int_equal(ttm_stacks_frame_get(f->st, fr[0])->offset, 0x1020);
    assert_string(f->st, reg_scope(f, 1), "matmul");
}

static void test_rewrite(void **state)
{
    fixture *f = *state;
    write_basic(&f->log);
    assert_int_equal(read_all(f), TTM_OK);
    ttm_event ev[5];
    ev[0] = alloc_ev(1, 1);
    ev[1] = alloc_ev(2, 0);
    ev[1].kind = TTM_EV_FREE;
    ev[2] = alloc_ev(99, 77); /* never shipped */
    ev[3] = alloc_ev(0, 0);
    memset(&ev[4], 0, sizeof ev[4]);
    ev[4].kind = TTM_EV_MARK;
    snprintf(ev[4].mark, sizeof ev[4].mark, "%s", "a mark's name is not an id");
    ttm_event mark = ev[4];
    ttm__side_in_rewrite(f->si, ev, 5, &f->c);
    assert_int_equal(ev[0].stack, reg_stack(f, 1));
    assert_int_not_equal(ev[0].stack, 0);
    assert_string(f->st, ev[0].scope, "matmul");
    assert_int_equal(ev[1].stack, reg_stack(f, 2));
    assert_int_equal(ev[1].scope, 0);
    assert_int_equal(ev[2].stack, 0);
    assert_int_equal(ev[2].scope, 0);
    assert_int_equal(ev[3].stack + ev[3].scope, 0);
    assert_memory_equal(&ev[4], &mark, sizeof mark); /* other kinds untouched */
    assert_int_equal(f->c.stack_unknown, 1);
    assert_int_equal(f->c.scope_unknown, 1);

    /* a session without a side log: every id becomes 0, counted */
    ttm_side_counts c = {0};
    ev[0] = alloc_ev(1, 1);
    ev[1] = alloc_ev(3, 0);
    ttm__side_in_rewrite(NULL, ev, 2, &c);
    assert_int_equal(ev[0].stack + ev[0].scope + ev[1].stack, 0);
    assert_int_equal(c.stack_unknown, 2);
    assert_int_equal(c.scope_unknown, 1);
}

/* Records committed in pieces are read in pieces; nothing new costs nothing. */
static void test_incremental_and_budget(void **state)
{
    fixture *f = *state;
    side_log_string(&f->log, 1, TTM_SIDE_STR_SCOPE, "a");
    side_log_commit(&f->log);
    side_log_string(&f->log, 2, TTM_SIDE_STR_SCOPE, "b"); /* written, not committed */
    assert_int_equal(read_all(f), TTM_OK);
    assert_int_equal(f->c.strings, 1);
    assert_int_equal(reg_scope(f, 2), 0);
    assert_false(ttm__side_in_pending(f->si));
    side_log_commit(&f->log);
    assert_true(ttm__side_in_pending(f->si));
    assert_int_equal(read_all(f), TTM_OK);
    assert_int_equal(f->c.strings, 2);
    assert_string(f->st, reg_scope(f, 2), "b");

    /* a budget smaller than a record: one record per call */
    char name[16];
    for (uint32_t i = 3; i <= 12; i++) {
        snprintf(name, sizeof name, "s%u", i);
        side_log_string(&f->log, i, TTM_SIDE_STR_SCOPE, name);
    }
    side_log_commit(&f->log);
    int calls = 0, err;
    while ((err = ttm__side_in_read(f->si, f->st, 8, &f->c, f->msg, sizeof f->msg)) ==
           TTM_EAGAIN)
        calls++;
    assert_int_equal(err, TTM_OK);
    assert_int_equal(calls, 9); /* the tenth call reads the last one */
    assert_int_equal(f->c.strings, 12);
    assert_string(f->st, reg_scope(f, 12), "s12");
}

/* dlclose: the range goes, the id (and the stacks read before) stays; a library mapped again
 * at the same place gets its new id's module. */
static void test_unmap(void **state)
{
    fixture *f = *state;
    const uint32_t *fr0;
    side_log_module(&f->log, 1, 0x10000, 0x11000, 0x12000, NULL, 0, "/lib/a.so");
    uint64_t pc = 0x11100;
    side_log_stack(&f->log, 1, &pc, 1);
    side_log_unmap(&f->log, 1);
    side_log_stack(&f->log, 2, &pc, 1);
    side_log_module(&f->log, 2, 0x10000, 0x11000, 0x12000, NULL, 0, "/lib/b.so");
    side_log_stack(&f->log, 3, &pc, 1);
    side_log_unmap(&f->log, 1); /* twice: bad */
    side_log_unmap(&f->log, 77); /* never mapped: bad */
    /* mapped over b.so's range without its UNMAP: c.so holds the addresses, b.so's UNMAP
     * finds no range of its own */
    side_log_module(&f->log, 3, 0x10800, 0x11800, 0x11900, NULL, 0, "/lib/c.so");
    uint64_t pc2 = 0x11810;
    side_log_stack(&f->log, 4, &pc2, 1);
    side_log_unmap(&f->log, 2);
    side_log_unmap(&f->log, 3);
    side_log_stack(&f->log, 5, &pc2, 1);
    side_log_commit(&f->log);
    assert_int_equal(read_all(f), TTM_OK);
    assert_int_equal(f->c.unmaps, 2);
    assert_int_equal(f->c.bad, 3);
    assert_int_equal(ttm_stacks_stack_get(f->st, reg_stack(f, 4), &fr0), 1);
    const ttm_frame *c4 = ttm_stacks_frame_get(f->st, fr0[0]);
    ttm_module_info mi0;
    assert_true(ttm_stacks_module_get(f->st, c4->module, &mi0));
    assert_memory_equal(mi0.path, "/lib/c.so", mi0.path_len);
    assert_int_equal(c4->offset, 0x11810 - 0x10800);
    assert_int_equal(ttm_stacks_stack_get(f->st, reg_stack(f, 5), &fr0), 1);
    assert_int_equal(ttm_stacks_frame_get(f->st, fr0[0])->module, 0); /* nothing mapped there */
    const uint32_t *fr;
    ttm_module_info mi;
    assert_int_equal(ttm_stacks_stack_get(f->st, reg_stack(f, 1), &fr), 1);
    const ttm_frame *a = ttm_stacks_frame_get(f->st, fr[0]);
    assert_true(ttm_stacks_module_get(f->st, a->module, &mi));
    assert_memory_equal(mi.path, "/lib/a.so", mi.path_len);
    assert_int_equal(a->offset, 0x1100);
    assert_int_equal(ttm_stacks_stack_get(f->st, reg_stack(f, 2), &fr), 1);
    a = ttm_stacks_frame_get(f->st, fr[0]);
    assert_int_equal(a->module, 0);
    assert_int_equal(a->offset, 0x11100);
    assert_int_equal(ttm_stacks_stack_get(f->st, reg_stack(f, 3), &fr), 1);
    a = ttm_stacks_frame_get(f->st, fr[0]);
    assert_true(ttm_stacks_module_get(f->st, a->module, &mi));
    assert_memory_equal(mi.path, "/lib/b.so", mi.path_len);
}

/* Records of a known type that break its format are skipped and counted; an unknown type is
 * skipped; a reference to a frame never shipped leaves the frame out; the records after them
 * are still read. */
static void test_bad_records(void **state)
{
    fixture *f = *state;
    side_log *l = &f->log;
    uint8_t junk[64] = {1, 0, 0, 0, 9, 0, 0, 0};
    side_log_rec(l, 99, junk, sizeof junk);                 /* unknown type */
    side_log_rec(l, TTM_SIDE_STACK, junk, 12);              /* truncated STACK */
    side_log_rec(l, TTM_SIDE_STACK, junk, 24);              /* depth 9 in 24 bytes */
    side_log_rec(l, TTM_SIDE_PYFRAME, junk, 12);            /* truncated PYFRAME */
    side_log_rec(l, TTM_SIDE_UNMAP, junk, 8);               /* UNMAP of 8 bytes */
    side_log_rec(l, TTM_SIDE_STRING, junk, 8);              /* STRING without bytes */
    side_log_string(l, 1, 9, "kind 9");                     /* unknown string kind */
    side_log_module(l, 1, 0, 0x2000, 0x1000, NULL, 0, "/x"); /* lo > hi */
    uint8_t big[TTM_SIDE_MODULE_FIXED + 8] = {0};
    ttm__put_le32(big, 5);
    ttm__put_le32(big + 4, 33);                             /* build-id of 33 bytes */
    ttm__put_le64(big + 24, 1);
    memcpy(big + TTM_SIDE_MODULE_FIXED, "/y", 2);
    side_log_rec(l, TTM_SIDE_MODULE, big, TTM_SIDE_MODULE_FIXED + 2);
    side_log_string(l, 2, TTM_SIDE_STR_SCOPE, "ok");
    side_log_string(l, 2, TTM_SIDE_STR_SCOPE, "duplicate id"); /* the first one stays */
    side_log_string(l, TTM_SIDE_IN_MAX_STRINGS + 1, TTM_SIDE_STR_SCOPE, "beyond the bound");
    side_log_pyframe(l, 1, 40, 41, 3);                      /* strings never shipped */
    uint64_t pcs[] = {TTM_SIDE_PYFRAME_BIT | 7, 0x5000, TTM_SIDE_PYFRAME_BIT | (1ull << 40)};
    side_log_stack(l, 1, pcs, 3);                           /* frame 7 never shipped */
    side_log_stack(l, 2, pcs, 0);                           /* depth 0 */
    side_log_commit(l);
    assert_int_equal(read_all(f), TTM_OK);
    assert_int_equal(f->c.records, 15);
    assert_int_equal(f->c.skipped, 1);
    assert_int_equal(f->c.bad, 10);
    assert_int_equal(f->c.bound, 1);
    assert_int_equal(f->c.refs_unknown, 2 + 2); /* the pyframe's two strings, two entries */
    assert_int_equal(f->c.strings, 1);
    assert_int_equal(f->c.pyframes, 1);
    assert_int_equal(f->c.stacks, 1);
    assert_int_equal(f->c.broken, 0);
    assert_string(f->st, reg_scope(f, 2), "ok");
    const uint32_t *fr;
    assert_int_equal(ttm_stacks_stack_get(f->st, reg_stack(f, 1), &fr), 1);
    assert_int_equal(ttm_stacks_frame_get(f->st, fr[0])->offset, 0x5000);
}

/* A record that runs past committed, or a length of 4 GiB: the framing is lost, the log is
 * read no more, the ids read before stay. */
static void check_broken_after(fixture *f, void (*spoil)(side_log *l))
{
    side_log_string(&f->log, 1, TTM_SIDE_STR_SCOPE, "before");
    side_log_commit(&f->log);
    assert_int_equal(read_all(f), TTM_OK);
    spoil(&f->log);
    assert_int_equal(read_all(f), TTM_EPROTO);
    assert_true(strstr(f->msg, "side log broken") != NULL);
    assert_int_equal(f->c.broken, 1);
    assert_false(ttm__side_in_pending(f->si));
    assert_string(f->st, reg_scope(f, 1), "before");
    side_log_string(&f->log, 2, TTM_SIDE_STR_SCOPE, "after");
    side_log_commit(&f->log);
    assert_int_equal(read_all(f), TTM_OK); /* broken: nothing more is read */
    assert_int_equal(reg_scope(f, 2), 0);
    assert_int_equal(f->c.broken, 1);
}

static void spoil_past_committed(side_log *l)
{
    side_log_string(l, 2, TTM_SIDE_STR_SCOPE, "longer than committed");
    atomic_store(&side_log_hdr(l)->committed, l->end - 8);
}

static void spoil_huge(side_log *l)
{
    uint8_t p[16] = {0};
    side_log_rec_raw(l, TTM_SIDE_STRING, UINT32_MAX, p, sizeof p);
    side_log_commit(l);
}

static void spoil_huge_unknown(side_log *l)
{
    uint8_t p[16] = {0};
    side_log_rec_raw(l, 1000, UINT32_MAX - 3, p, sizeof p);
    side_log_commit(l);
}

static void spoil_cut_header(side_log *l)
{
    side_log_commit(l);
    atomic_store(&side_log_hdr(l)->committed, l->end + 4);
}

static void spoil_beyond(side_log *l)
{
    atomic_store(&side_log_hdr(l)->committed, LOG_BYTES);
}

static void test_broken_past_committed(void **state) { check_broken_after(*state, spoil_past_committed); }
static void test_broken_huge(void **state) { check_broken_after(*state, spoil_huge); }
static void test_broken_huge_unknown(void **state) { check_broken_after(*state, spoil_huge_unknown); }
static void test_broken_cut_header(void **state) { check_broken_after(*state, spoil_cut_header); }
static void test_broken_beyond(void **state) { check_broken_after(*state, spoil_beyond); }

static void test_committed_back(void **state)
{
    fixture *f = *state;
    side_log_string(&f->log, 1, TTM_SIDE_STR_SCOPE, "one");
    side_log_string(&f->log, 2, TTM_SIDE_STR_SCOPE, "two");
    side_log_commit(&f->log);
    assert_int_equal(read_all(f), TTM_OK);
    atomic_store(&side_log_hdr(&f->log)->committed, 16);
    assert_true(ttm__side_in_pending(f->si));
    assert_int_equal(read_all(f), TTM_EPROTO);
    assert_true(strstr(f->msg, "moved back") != NULL);
    assert_int_equal(f->c.broken, 1);
    assert_string(f->st, reg_scope(f, 2), "two");
}

/* Headers the reader refuses, each with its reason. */
static void test_header(void **state)
{
    (void)state;
    uint8_t *mem = aligned_alloc(64, 2 * LOG_BYTES);
    assert_non_null(mem);
    side_log l;
    ttm_side_in *si = NULL;
    char msg[160];
    struct {
        size_t off, width;
        uint64_t value;
        const char *why;
    } cases[] = {
        {offsetof(ttm_side_hdr, magic), 8, 0x1234, "magic"},
        {offsetof(ttm_side_hdr, version), 4, 2, "version"},
        {offsetof(ttm_side_hdr, hdr_size), 4, 64, "header of 64"},
        {offsetof(ttm_side_hdr, map_bytes), 8, LOG_BYTES * 2, "header says"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        side_log_init(&l, mem, LOG_BYTES);
        ttm__put_le(mem + cases[i].off, cases[i].value, (unsigned)cases[i].width);
        assert_int_equal(ttm__side_in_over(&si, mem, LOG_BYTES, msg, sizeof msg), TTM_EPROTO);
        assert_null(si);
        assert_true(strstr(msg, cases[i].why) != NULL);
    }
    side_log_init(&l, mem, LOG_BYTES / 2); /* too small */
    assert_int_equal(ttm__side_in_over(&si, mem, LOG_BYTES / 2, msg, sizeof msg), TTM_EPROTO);
    side_log_init(&l, mem, 2 * LOG_BYTES);
    assert_int_equal(ttm__side_in_over(&si, mem + 8, LOG_BYTES, msg, sizeof msg), TTM_EINVAL);
    assert_int_equal(ttm__side_in_over(&si, mem, 2 * LOG_BYTES, msg, sizeof msg), TTM_OK);
    ttm__side_in_close(si);
    free(mem);
}

/* A memfd holding a log of size bytes whose header says hdr_bytes, sealed with seals. */
static int memfd_log(size_t bytes, size_t hdr_bytes, int seals)
{
    int fd = memfd_create("side", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)bytes), 0);
    void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    assert_true(m != MAP_FAILED);
    side_log l;
    side_log_init(&l, m, bytes);
    side_log_hdr(&l)->map_bytes = hdr_bytes;
    side_log_string(&l, 1, TTM_SIDE_STR_SCOPE, "from a memfd");
    side_log_commit(&l);
    munmap(m, bytes);
    if (seals != 0)
        assert_int_equal(fcntl(fd, F_ADD_SEALS, seals), 0);
    return fd;
}

static void test_memfd(void **state)
{
    (void)state;
    ttm_side_in *si = NULL;
    char msg[160];
    int fd = memfd_log(LOG_BYTES, LOG_BYTES, 0); /* not sealed */
    assert_int_equal(ttm__side_in_open(&si, fd, msg, sizeof msg), TTM_EPROTO);
    assert_true(strstr(msg, "sealed") != NULL);
    close(fd);
    fd = memfd_log(LOG_BYTES, LOG_BYTES, F_SEAL_SHRINK); /* may still grow */
    assert_int_equal(ttm__side_in_open(&si, fd, msg, sizeof msg), TTM_EPROTO);
    close(fd);
    fd = memfd_log(LOG_BYTES, LOG_BYTES * 2, F_SEAL_SHRINK | F_SEAL_GROW); /* size lies */
    assert_int_equal(ttm__side_in_open(&si, fd, msg, sizeof msg), TTM_EPROTO);
    assert_true(strstr(msg, "header says") != NULL);
    close(fd);
    int p[2];
    assert_int_equal(pipe(p), 0); /* not a memfd at all */
    assert_int_equal(ttm__side_in_open(&si, p[0], msg, sizeof msg), TTM_EPROTO);
    close(p[0]);
    close(p[1]);
    fd = memfd_log(LOG_BYTES, LOG_BYTES, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
    assert_int_equal(ttm__side_in_open(&si, fd, msg, sizeof msg), TTM_OK);
    close(fd); /* the mapping outlives the descriptor */
    ttm_stacks *st;
    assert_int_equal(ttm_stacks_open(&st, NULL), TTM_OK);
    ttm_side_counts c = {0};
    assert_int_equal(ttm__side_in_read(si, st, 0, &c, msg, sizeof msg), TTM_OK);
    assert_int_equal(c.strings, 1);
    ttm_event e = alloc_ev(0, 1);
    ttm__side_in_rewrite(si, &e, 1, &c);
    assert_string(st, e.scope, "from a memfd");
    ttm__side_in_close(si);
    ttm_stacks_close(st);
}

/* A new daemon reads the same log from its start: the same registry ids, also in tables
 * restored from a saved state; a second session's reader on the same tables too. */
static void test_reread(void **state)
{
    fixture *f = *state;
    write_basic(&f->log);
    assert_int_equal(read_all(f), TTM_OK);
    uint32_t s1 = reg_stack(f, 1), s2 = reg_stack(f, 2), sc = reg_scope(f, 1);

    ttm_side_in *again = NULL;
    assert_int_equal(ttm__side_in_over(&again, f->log.mem, LOG_BYTES, f->msg, sizeof f->msg),
                     TTM_OK);
    ttm_side_counts c = {0};
    assert_int_equal(ttm__side_in_read(again, f->st, 0, &c, f->msg, sizeof f->msg), TTM_OK);
    ttm_event ev[2] = {alloc_ev(1, 1), alloc_ev(2, 0)};
    ttm__side_in_rewrite(again, ev, 2, &c);
    assert_int_equal(ev[0].stack, s1);
    assert_int_equal(ev[0].scope, sc);
    assert_int_equal(ev[1].stack, s2);
    ttm__side_in_close(again);

    ttm_bytes buf = {0};
    ttm_bw w = ttm__bw_over(&buf);
    ttm_stacks_save(f->st, &w);
    assert_int_equal(w.err, 0);
    ttm_stacks *restored;
    assert_int_equal(ttm_stacks_open(&restored, NULL), TTM_OK);
    ttm_br r = ttm__br_over(buf.data, buf.len);
    assert_int_equal(ttm_stacks_load(restored, &r), TTM_OK);
    assert_int_equal(ttm__side_in_over(&again, f->log.mem, LOG_BYTES, f->msg, sizeof f->msg),
                     TTM_OK);
    assert_int_equal(ttm__side_in_read(again, restored, 0, &c, f->msg, sizeof f->msg), TTM_OK);
    ev[0] = alloc_ev(1, 1);
    ev[1] = alloc_ev(2, 0);
    ttm__side_in_rewrite(again, ev, 2, &c);
    assert_int_equal(ev[0].stack, s1);
    assert_int_equal(ev[0].scope, sc);
    assert_int_equal(ev[1].stack, s2);
    ttm_stacks_stats a, b;
    ttm_stacks_stats_get(f->st, &a);
    ttm_stacks_stats_get(restored, &b);
    assert_int_equal(a.stacks, b.stacks); /* nothing new was interned */
    assert_int_equal(a.frames, b.frames);
    ttm__side_in_close(again);
    ttm_stacks_close(restored);
    ttm__bytes_free(&buf);
}

/* A peer rewriting its records while they are read: every read ends, within the log, with
 * counts that add up; the reader's tables hold only what it copied. */
typedef struct scribbler {
    uint8_t *recs;
    size_t len;
    _Atomic bool stop;
} scribbler;

static void *scribble(void *arg)
{
    scribbler *s = arg;
    uint64_t x = 88172645463325252ull;
    while (!atomic_load_explicit(&s->stop, memory_order_relaxed)) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        size_t at = (size_t)(x % s->len);
        /* volatile: the writes must really happen while the reader copies */
        ((volatile uint8_t *)s->recs)[at] = (uint8_t)(x >> 24);
    }
    return NULL;
}

static void test_peer_rewrites(void **state)
{
    fixture *f = *state;
    for (int round = 0; round < 40; round++)
        write_basic(&f->log);
    scribbler sc = {.recs = f->log.mem + sizeof(ttm_side_hdr), .len = f->log.end};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, scribble, &sc), 0);
    for (int i = 0; i < 200; i++) {
        ttm_side_in *si = NULL;
        assert_int_equal(ttm__side_in_over(&si, f->log.mem, LOG_BYTES, f->msg, sizeof f->msg),
                         TTM_OK);
        ttm_side_counts c = {0};
        int err;
        while ((err = ttm__side_in_read(si, f->st, 512, &c, f->msg, sizeof f->msg)) ==
               TTM_EAGAIN)
            ;
        assert_true(err == TTM_OK || err == TTM_EPROTO);
        assert_true(c.bytes <= f->log.end);
        assert_true(c.records <= f->log.end / 8);
        assert_true(c.modules + c.stacks + c.strings + c.pyframes + c.unmaps + c.skipped +
                        c.bad <=
                    c.records);
        ttm_event ev = alloc_ev(1, 1);
        ttm__side_in_rewrite(si, &ev, 1, &c);
        if (ev.stack != 0) {
            const uint32_t *fr;
            assert_true(ttm_stacks_stack_get(f->st, ev.stack, &fr) > 0);
        }
        ttm__side_in_close(si);
    }
    atomic_store(&sc.stop, true);
    pthread_join(t, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_translate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rewrite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incremental_and_budget, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unmap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broken_past_committed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broken_huge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broken_huge_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broken_cut_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broken_beyond, setup, teardown),
        cmocka_unit_test_setup_teardown(test_committed_back, setup, teardown),
        cmocka_unit_test(test_header),
        cmocka_unit_test(test_memfd),
        cmocka_unit_test_setup_teardown(test_reread, setup, teardown),
        cmocka_unit_test_setup_teardown(test_peer_rewrites, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
