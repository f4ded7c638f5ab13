/*
 * fuzz_side.c — the daemon's side log reader (src/daemon/side_ingest.c) on arbitrary records:
 * the input is what follows the header of a log of TTM_SIDE_MIN_BYTES (the rest zero), with
 * `committed` its length, cut by up to 127 bytes when the first byte is odd. The reader never
 * reads outside the log (ASan: the log is allocated to its exact size), never counts more
 * bytes than committed or more records than fit, always ends (each call with a budget from
 * the second byte makes progress), and reading the same log again from its start with a fresh
 * reader (a new daemon reattaching) interns nothing new and maps every id the same.
 */
#include <stdlib.h>
#include <string.h>

#include "common/side.h"
#include "daemon/side_ingest.h"
#include "../tests/integration/side_log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t ttm__fuzz_seeds(const uint8_t *const **seeds, const size_t **sizes);

#define LOG_BYTES TTM_SIDE_MIN_BYTES
#define RECS_MAX (LOG_BYTES - sizeof(ttm_side_hdr))
#define PROBE 24 /* client ids probed after each read */

/* Reads the whole log with a fresh reader into st, then the registry ids of client stacks and
 * scopes 1..PROBE (through events, as the daemon rewrites them). */
static void read_log(const uint8_t *log, ttm_stacks *st, size_t budget, uint32_t *stacks,
                     uint32_t *scopes, uint64_t committed)
{
    ttm_side_in *si = NULL;
    char msg[160];
    if (ttm__side_in_over(&si, log, LOG_BYTES, msg, sizeof msg) != TTM_OK)
        abort(); /* the header is the test's */
    ttm_side_counts c = {0};
    int err;
    size_t calls = 0;
    while ((err = ttm__side_in_read(si, st, budget, &c, msg, sizeof msg)) == TTM_EAGAIN)
        if (++calls > RECS_MAX / 8 + 1)
            abort(); /* a call that makes no progress */
    if (err != TTM_OK && (err != TTM_EPROTO || c.broken != 1 || msg[0] == '\0'))
        abort();
    if (c.bytes > committed || c.records > committed / 8)
        abort();
    if (c.modules + c.stacks + c.strings + c.pyframes + c.unmaps + c.skipped + c.bad >
        c.records)
        abort();
    if (ttm__side_in_pending(si) && err == TTM_OK && c.broken == 0)
        abort(); /* everything committed was read */
    ttm_event ev[PROBE];
    memset(ev, 0, sizeof ev);
    for (uint32_t i = 0; i < PROBE; i++) {
        ev[i].kind = TTM_EV_ALLOC;
        ev[i].stack = i + 1;
        ev[i].scope = i + 1;
    }
    ttm__side_in_rewrite(si, ev, PROBE, &c);
    for (uint32_t i = 0; i < PROBE; i++) {
        const uint32_t *frames;
        if (ev[i].stack != 0 && ttm_stacks_stack_get(st, ev[i].stack, &frames) == 0)
            abort(); /* a rewritten id the tables do not hold */
        size_t n;
        if (ev[i].scope != 0 && ttm_stacks_string_get(st, ev[i].scope, &n) == NULL)
            abort();
        stacks[i] = ev[i].stack;
        scopes[i] = ev[i].scope;
    }
    ttm__side_in_close(si);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *log = aligned_alloc(64, LOG_BYTES); /* the header is two cache lines */
    if (log == NULL)
        return 0;
    side_log l;
    side_log_init(&l, log, LOG_BYTES);
    size_t n = size < RECS_MAX ? size : RECS_MAX;
    memcpy(log + sizeof(ttm_side_hdr), data, n);
    uint64_t committed = n;
    if (n > 0 && (data[0] & 1))
        committed = n > (size_t)(data[0] >> 1) ? n - (data[0] >> 1) : 0;
    atomic_store(&side_log_hdr(&l)->committed, committed);
    size_t budget = n > 1 ? (size_t)data[1] * 16 + 1 : 0;

    ttm_stacks *st = NULL;
    if (ttm_stacks_open(&st, NULL) != TTM_OK) {
        free(log);
        return 0;
    }
    uint32_t s1[PROBE], c1[PROBE], s2[PROBE], c2[PROBE];
    read_log(log, st, budget, s1, c1, committed);
    ttm_stacks_stats a, b;
    ttm_stacks_stats_get(st, &a);
    read_log(log, st, 0, s2, c2, committed);
    ttm_stacks_stats_get(st, &b);
    if (memcmp(s1, s2, sizeof s1) != 0 || memcmp(c1, c2, sizeof c1) != 0)
        abort(); /* read again, the same ids */
    if (a.strings != b.strings || a.modules != b.modules || a.frames != b.frames ||
        a.stacks != b.stacks)
        abort(); /* read again, nothing new */
    ttm_stacks_close(st);
    free(log);
    return 0;
}

/* ---- seeds: logs written as side.h says (tests/integration/side_log.h) ---------------------- */

#define NSEEDS 3
static _Alignas(64) uint8_t seed_mem[NSEEDS][LOG_BYTES];
static const uint8_t *seed_ptrs[NSEEDS];
static size_t seed_lens[NSEEDS];

static void seed_basic(side_log *l)
{
    static const uint8_t bid[20] = {0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6,
                                    7,    8,    9,    10,   11, 12, 13, 14, 15, 16};
    side_log_module(l, 1, 0x7f0000000000ull, 0x7f0000001000ull, 0x7f0000009000ull, bid, 20,
                    "/usr/lib/libtt_metal.so");
    side_log_module(l, 2, 0x555555554000ull, 0x555555555000ull, 0x555555556000ull, NULL, 0,
                    "/tmp/app");
    side_log_string(l, 1, TTM_SIDE_STR_SCOPE, "matmul");
    side_log_string(l, 2, TTM_SIDE_STR_PYFILE, "/src/model.py");
    side_log_string(l, 3, TTM_SIDE_STR_PYFUNC, "forward");
    side_log_pyframe(l, 1, 2, 3, 42);
    uint64_t pcs[] = {0x7f0000001139ull, 0x555555555020ull, TTM_SIDE_PYFRAME_BIT | 1, 0x1234};
    side_log_stack(l, 1, pcs, 4);
    side_log_stack(l, 2, pcs + 1, 2);
}

static void seed_unmap(side_log *l)
{
    seed_basic(l);
    side_log_unmap(l, 1);
    uint64_t pc = 0x7f0000001139ull;
    side_log_stack(l, 3, &pc, 1);
    side_log_module(l, 3, 0x7f0000000000ull, 0x7f0000001000ull, 0x7f0000009000ull, NULL, 0,
                    "/usr/lib/libother.so");
    side_log_stack(l, 4, &pc, 1);
    side_log_string(l, 4, TTM_SIDE_STR_SCOPE, "after dlopen");
}

static void seed_odd(side_log *l)
{
    uint8_t junk[24] = {7, 0, 0, 0, 200, 0, 0, 0};
    side_log_rec(l, 77, junk, sizeof junk); /* unknown type */
    side_log_rec(l, TTM_SIDE_STACK, junk, 20);
    side_log_string(l, 1, TTM_SIDE_STR_SCOPE, "s");
    side_log_pyframe(l, 1, 9, 1, 0);
}

size_t ttm__fuzz_seeds(const uint8_t *const **seeds, const size_t **sizes)
{
    if (seed_lens[0] == 0) {
        void (*make[NSEEDS])(side_log *) = {seed_basic, seed_unmap, seed_odd};
        for (size_t i = 0; i < NSEEDS; i++) {
            side_log l;
            side_log_init(&l, seed_mem[i], LOG_BYTES);
            make[i](&l);
            seed_ptrs[i] = seed_mem[i] + sizeof(ttm_side_hdr);
            seed_lens[i] = (size_t)l.end;
        }
    }
    *seeds = seed_ptrs;
    *sizes = seed_lens;
    return NSEEDS;
}
