/*
 * test_export.c — `ttmem export`'s writers (src/cli/export_*.c) fed by synthetic observer calls,
 * without a journal or a replay: write errors, an unwritable database, and, run as
 * `test_export --emit DIR`, the three formats of a made-up two-run stream together with the
 * stream itself (DIR/expected.json), for tests/cli/export_check.py to decode and compare
 * (ctest unit.export_synthetic).
 *
 * The stream is what a replay would report for allocations and frees drawn at random on two
 * devices and two memtypes of three processes per run: each ALLOC and FREE an event callback,
 * each change of a (device, memtype)'s bytes in use a usage callback with the running total
 * the test keeps itself, each ended life a buffer callback (a reuse count per address), an
 * anomaly now and then (a free of an address nothing holds), marks, and one process exiting
 * with its buffers leaked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/export.h"
#include "common/alloc.h"
#include "common/event.h"
#include "core/registry.h"
#include "ttmem/ttmem.h"

enum { RUNS = 2, PIDS = 3, DEVS = 2, ADDRS = 24, EVENTS = 1500 };
static const uint8_t memtypes[2] = {TTM_MEM_DRAM, TTM_MEM_L1};
static const char *const hosts[RUNS] = {"node,\"0\"", "node1"};

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* A live buffer of the model, per (device, memtype slot, address slot). */
typedef struct model_buf {
    bool live;
    uint32_t pid, reuse, stack, scope;
    uint64_t size, alloc_ts, obj;
} model_buf;

typedef struct model {
    const ttm_replay_observer *obs;
    size_t run;
    uint64_t ts;
    uint64_t used[DEVS][2];
    model_buf bufs[DEVS][2][ADDRS];
    uint32_t lives[DEVS][ADDRS]; /* lives so far at (device, addr): the reuse count */
} model;

static uint64_t addr_of(int a)
{
    return 0x10000000ull + (uint64_t)a * 0x10000;
}

static void usage(model *m, int d, int t)
{
    if (m->obs->usage != NULL)
        m->obs->usage(m->obs->ctx, m->run, m->ts, (uint16_t)d, memtypes[t], m->used[d][t]);
}

static void event(model *m, uint8_t kind, uint32_t pid, int d, int t, uint64_t addr,
                  uint64_t size, uint64_t obj, uint32_t stack, uint32_t scope, uint32_t mask)
{
    ttm_journal_event e = {.kind = kind, .memtype = memtypes[t], .device = (uint16_t)d,
                           .classes = mask, .pid = pid, .stack = stack, .scope = scope,
                           .ts = m->ts, .addr = addr, .size = size, .obj = obj};
    ttm_apply_info info = {0};
    if (m->obs->event != NULL)
        m->obs->event(m->obs->ctx, m->run, &e, mask, &info);
}

/* A life ended (free_ts 0: live at the end). */
static void life(model *m, int d, int t, int a, uint64_t free_ts, bool leaked)
{
    model_buf *b = &m->bufs[d][t][a];
    ttm_replay_buffer rb = {.pid = b->pid, .device = (uint16_t)d, .memtype = memtypes[t],
                            .addr = addr_of(a), .size = b->size, .obj = b->obj,
                            .alloc_ts = b->alloc_ts, .free_ts = free_ts, .stack = b->stack,
                            .scope = b->scope, .leaked = leaked, .reuse = b->reuse};
    if (m->obs->buffer != NULL)
        m->obs->buffer(m->obs->ctx, m->run, &rb);
    b->live = false;
}

static void step_run(model *m)
{
    for (int i = 0; i < EVENTS; i++) {
        m->ts += 1 + next_rand() % 1000;
        uint64_t r = next_rand();
        int d = (int)(r % DEVS), t = (int)(r / 2 % 2), a = (int)(r / 4 % ADDRS);
        uint32_t pid = 100 + (uint32_t)(r / 128 % PIDS);
        model_buf *b = &m->bufs[d][t][a];
        if (r / 1024 % 50 == 0) {
            uint32_t mk[] = {TTM_CLASS_BIT(TTM_CLASS_UNKNOWN_FREE),
                             TTM_CLASS_BIT(TTM_CLASS_FREE_OK) |
                                 TTM_CLASS_BIT(TTM_CLASS_SIZE_MISMATCH)};
            /* an anomaly: a free nothing matched, at an address of a slot not in use */
            event(m, TTM_EV_FREE, pid, d, t, addr_of(a) + 8, 64, 0, 0, 0, mk[r / 4096 % 2]);
        } else if (!b->live) {
            *b = (model_buf){.live = true, .pid = pid, .reuse = m->lives[d][a]++,
                             .stack = (uint32_t)(r / 8192 % 3),
                             .scope = (uint32_t)(r / 65536 % 3),
                             .size = 4096 * (1 + r / 1048576 % 64), .alloc_ts = m->ts,
                             .obj = r >> 40};
            m->used[d][t] += b->size;
            usage(m, d, t);
            event(m, TTM_EV_ALLOC, pid, d, t, addr_of(a), b->size, b->obj, b->stack, b->scope,
                  TTM_CLASS_BIT(TTM_CLASS_ALLOC_OK));
        } else {
            /* in the replay's order: the life closed, the usage, then the event */
            uint32_t owner = b->pid;
            uint64_t size = b->size, obj = b->obj;
            m->used[d][t] -= size;
            life(m, d, t, a, m->ts, false);
            usage(m, d, t);
            event(m, TTM_EV_FREE, owner, d, t, addr_of(a), size, obj, 0, 0,
                  TTM_CLASS_BIT(TTM_CLASS_FREE_OK));
        }
        if (i % 500 == 250 && m->obs->mark != NULL) {
            ttm_journal_mark mk = {.pid = pid, .ts = m->ts, .name = i < 500 ? "warmup" : "run"};
            m->obs->mark(m->obs->ctx, m->run, &mk);
        }
    }
    /* pid 102 exits: its buffers leak (one usage call per changed (device, memtype)) */
    m->ts += 1000;
    for (int d = 0; d < DEVS; d++)
        for (int t = 0; t < 2; t++) {
            bool changed = false;
            for (int a = 0; a < ADDRS; a++)
                if (m->bufs[d][t][a].live && m->bufs[d][t][a].pid == 102) {
                    m->used[d][t] -= m->bufs[d][t][a].size;
                    life(m, d, t, a, m->ts, true);
                    changed = true;
                }
            if (changed)
                usage(m, d, t);
        }
    ttm_journal_proc p = {.state = TTM_JOURNAL_PROC_EXIT, .pid = 102, .status = 0, .ts = m->ts};
    if (m->obs->proc != NULL)
        m->obs->proc(m->obs->ctx, m->run, &p);
    for (int d = 0; d < DEVS; d++)
        for (int t = 0; t < 2; t++)
            for (int a = 0; a < ADDRS; a++)
                if (m->bufs[d][t][a].live)
                    life(m, d, t, a, 0, false);
}

/* Every run of the model from its start, the same stream each time (the generator reset). */
static void play(model *m)
{
    rng = 0x9e3779b97f4a7c15ull;
    for (size_t r = 0; r < RUNS; r++) {
        memset(m->bufs, 0, sizeof m->bufs);
        memset(m->used, 0, sizeof m->used);
        memset(m->lives, 0, sizeof m->lives);
        m->run = r;
        m->ts = 1000000000ull * (r + 1);
        step_run(m);
    }
}

/* The run's processes, and the call sites a replay would find: stacks 1 and 2 of text frames,
 * scope names 1 and 2. */
static const ttm_replay_proc procs[PIDS] = {
    {.pid = 100, .name = "proc A", .cmdline = "./a\0--x\0", .cmdline_len = 8, .start_ts = 1,
     .status = -1},
    {.pid = 101, .name = "", .cmdline = "", .cmdline_len = 0, .start_ts = 2, .status = -1},
    {.pid = 102, .name = "p\"q", .cmdline = "q\0", .cmdline_len = 2, .start_ts = 3,
     .exit_ts = 1, .status = 0, .exited = true},
};
static char fn1[] = "alloc_weights", fn2[] = "alloc_kv", file1[] = "model.py";
static ttm_report_frame frames1[2] = {{.kind = TTM_FRAME_TEXT, .function = fn1, .file = file1,
                                       .line = 12},
                                      {.kind = TTM_FRAME_TEXT, .function = fn2}};
static ttm_report_stack stacks[2] = {{.id = 1, .nframes = 2, .frames = frames1},
                                     {.id = 2, .nframes = 1, .frames = frames1 + 1}};
static char scope1[] = "scope,one", scope2[] = "two";
static ttm_report_string strings[2] = {{.id = 1, .text = scope1}, {.id = 2, .text = scope2}};
static const uint32_t scope_ids[2] = {1, 2};

/* Runs the model through format fmt into f / path; returns close()'s result (-1: open failed). */
static int drive(const ttm_export_format *fmt, FILE *f, const char *path)
{
    ttm_export_sink *s = NULL;
    char msg[256];
    if (fmt->open(&s, f, path, msg, sizeof msg) != 0)
        return -1;
    ttm_replay_observer obs;
    fmt->observer(s, &obs);
    model *m = ttm__xcalloc(1, sizeof *m);
    m->obs = &obs;
    for (size_t r = 0; r < RUNS; r++) {
        ttm_export_run ri = {.run = r, .nruns = RUNS, .host = hosts[r]};
        if (fmt->needs_procs) {
            ri.procs = procs;
            ri.nprocs = PIDS;
        }
        fmt->begin(s, &ri);
    }
    play(m);
    ttm_report sites = {.nstacks = 2, .stacks = stacks, .nstrings = 2, .strings = strings};
    for (size_t r = 0; r < RUNS; r++) {
        ttm_export_run ri = {.run = r, .nruns = RUNS, .host = hosts[r], .title = "synthetic",
                             .procs = procs, .nprocs = PIDS, .first_ts = 1, .last_ts = m->ts,
                             .sites = &sites, .scopes = scope_ids, .nscopes = 2};
        fmt->end(s, &ri);
    }
    ttm__free(m);
    return fmt->close(s, true, msg, sizeof msg);
}

/* ---- the expectations: the same model, written down ------------------------------------------- */

typedef struct expect {
    FILE *f;
    const char *sep[5];
    uint64_t seq;
    size_t run;
} expect;

static void x_list(expect *x, int k, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void x_list(expect *x, int k, const char *fmt, ...)
{
    fputs(x->sep[k], x->f);
    x->sep[k] = ",";
    va_list ap;
    va_start(ap, fmt);
    vfprintf(x->f, fmt, ap);
    va_end(ap);
    fputc('\n', x->f);
}

/* The observer that writes what it is told as JSON lists, one pass per list. */
static int pass_kind;
static void x_event(void *ctx, size_t run, const ttm_journal_event *e, uint32_t mask,
                    const ttm_apply_info *info)
{
    (void)info;
    expect *x = ctx;
    x->seq++;
    if (pass_kind == 0) {
        char cls[256];
        x_list(x, 0,
               "[%llu,%zu,\"%s\",%llu,\"%s\",%u,%u,%u,\"%s\",%llu,%llu,%llu,%u,%u,%u]",
               (unsigned long long)x->seq, run, ttm__event_kind_name(e->kind),
               (unsigned long long)e->ts, ttm_export_classes(mask, cls, sizeof cls), mask,
               e->pid, e->device, ttm__memtype_name(e->memtype), (unsigned long long)e->addr,
               (unsigned long long)e->size, (unsigned long long)e->obj, e->flags, e->stack,
               e->scope);
    }
}

static void x_usage(void *ctx, size_t run, uint64_t ts, uint16_t device, uint8_t memtype,
                    uint64_t bytes)
{
    expect *x = ctx;
    if (pass_kind == 1)
        x_list(x, 1, "[%zu,%llu,%u,\"%s\",%llu]", run, (unsigned long long)ts, device,
               ttm__memtype_name(memtype), (unsigned long long)bytes);
}

static void x_buffer(void *ctx, size_t run, const ttm_replay_buffer *b)
{
    expect *x = ctx;
    if (pass_kind != 2)
        return;
    char name[48];
    ttm_export_buffer_name(b, name, sizeof name);
    char free_ts[24] = "null";
    if (b->free_ts != 0)
        snprintf(free_ts, sizeof free_ts, "%llu", (unsigned long long)b->free_ts);
    x_list(x, 2, "[%zu,\"%s\",%u,%u,\"%s\",%llu,%llu,%llu,%s,%d,%u,%u]", run, name, b->pid,
           b->device, ttm__memtype_name(b->memtype), (unsigned long long)b->addr,
           (unsigned long long)b->size, (unsigned long long)b->alloc_ts, free_ts, b->leaked,
           b->stack, b->scope);
}

static void x_proc(void *ctx, size_t run, const ttm_journal_proc *p)
{
    expect *x = ctx;
    if (pass_kind == 3)
        x_list(x, 3, "[%zu,%u,%llu,\"exit\"]", run, p->pid, (unsigned long long)p->ts);
}

static void x_mark(void *ctx, size_t run, const ttm_journal_mark *m)
{
    expect *x = ctx;
    if (pass_kind == 4)
        x_list(x, 4, "[%zu,%u,%llu,\"%s\"]", run, m->pid, (unsigned long long)m->ts, m->name);
}

static void write_expected(const char *path)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    static const char *const keys[] = {"events", "usage", "buffers", "exits", "marks"};
    fprintf(f, "{\"hosts\":[\"node,\\\"0\\\"\",\"node1\"],\"pids\":[100,101,102],"
               "\"names\":[\"proc A\",\"\",\"p\\\"q\"]");
    for (pass_kind = 0; pass_kind < 5; pass_kind++) {
        expect x = {.f = f, .sep = {"", "", "", "", ""}};
        ttm_replay_observer obs = {.ctx = &x, .event = x_event, .usage = x_usage,
                                   .buffer = x_buffer, .proc = x_proc, .mark = x_mark};
        model *m = ttm__xcalloc(1, sizeof *m);
        m->obs = &obs;
        fprintf(f, ",\"%s\":[", keys[pass_kind]);
        play(m);
        fprintf(f, "]");
        ttm__free(m);
    }
    fprintf(f, "}\n");
    assert_int_equal(fclose(f), 0);
}

static int emit(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/expected.json", dir);
    write_expected(path);
    const ttm_export_format *fmts[] = {&ttm_export_perfetto, &ttm_export_csv};
    const char *names[] = {"synthetic.perfetto-trace", "synthetic.csv"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "wb");
        if (f == NULL || drive(fmts[i], f, path) != 0 || fclose(f) != 0) {
            fprintf(stderr, "test_export: writing %s failed\n", path);
            return 1;
        }
    }
    snprintf(path, sizeof path, "%s/synthetic.sqlite", dir);
    unlink(path);
    if (drive(&ttm_export_sqlite, NULL, path) != 0) {
        fprintf(stderr, "test_export: writing %s failed\n", path);
        return 1;
    }
    return 0;
}

/* ---- unit tests -------------------------------------------------------------------------------- */

static void test_names(void **state)
{
    (void)state;
    char buf[64];
    assert_string_equal(ttm_export_classes(0, buf, sizeof buf), "");
    assert_string_equal(ttm_export_classes(TTM_CLASS_BIT(TTM_CLASS_FREE_OK) |
                                               TTM_CLASS_BIT(TTM_CLASS_SIZE_MISMATCH),
                                           buf, sizeof buf),
                        "free_ok|size_mismatch");
    assert_string_equal(ttm_export_classes(TTM_CLASS_BIT(TTM_CLASS_FREE_OK) |
                                               TTM_CLASS_BIT(TTM_CLASS_SIZE_MISMATCH),
                                           buf, 10),
                        "free_ok"); /* cut at a whole name */
    ttm_replay_buffer b = {.addr = 0xabc0, .reuse = 3};
    ttm_export_buffer_name(&b, buf, sizeof buf);
    assert_string_equal(buf, "babc0_3");
    assert_string_equal(ttm_export_cmdline("./a\0-x\0", 7, buf, sizeof buf), "./a -x");
    assert_string_equal(ttm_export_cmdline("abcdef", 6, buf, 4), "abc");
    assert_string_equal(ttm_export_cmdline(NULL, 0, buf, sizeof buf), "");
    assert_ptr_equal(ttm_export_format_find("sqlite"), &ttm_export_sqlite);
    assert_null(ttm_export_format_find("json"));
}

/* A full disk: the stream formats' close() returns the failure. */
static void test_full_disk(void **state)
{
    (void)state;
    const ttm_export_format *fmts[] = {&ttm_export_perfetto, &ttm_export_csv};
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen("/dev/full", "wb");
        if (f == NULL)
            skip();
        assert_int_equal(drive(fmts[i], f, NULL), TTM_EIO);
        fclose(f);
    }
}

/* A database that cannot be created: open() fails with one line, nothing leaks (ASan). */
static void test_sqlite_unwritable(void **state)
{
    (void)state;
    ttm_export_sink *s = NULL;
    char msg[256] = "";
    assert_int_not_equal(
        ttm_export_sqlite.open(&s, NULL, "/nonexistent-dir/x.sqlite", msg, sizeof msg), 0);
    assert_non_null(strstr(msg, "cannot create the database"));
    assert_null(strchr(msg, '\n'));
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--emit") == 0)
        return emit(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_full_disk),
        cmocka_unit_test(test_sqlite_unwritable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
