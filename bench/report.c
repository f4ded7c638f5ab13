/*
 * report.c (bench_report) — what `ttmem report` costs on a 10 M-event journal (issue 12's
 * budget: at most 2 s): the simulator's llama scenario with call sites, repeated until the
 * journal holds EVENTS buffer events (times shifted so it is one long run), written through the
 * tap (core/jtap.h) as ttmemd writes it, then, as the median of 3 rounds:
 *   replay   ttm_replay_open + ttm_replay_run (every record applied to a fresh registry) +
 *            ttm_replay_report: what `ttmem report FILE --json` does before it prints;
 *   +usage   the same with an observer taking the usage and buffer callbacks (what timeline and
 *            export draw from);
 * beside a baseline measured in the same run: ttm_journal_read_all of the same file into a
 * counting sink, no registry (reading and checking the blocks alone).
 *
 *   ./build/bench/bench_report [EVENTS [FILE]]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "common/journal.h"
#include "core/jtap.h"
#include "core/replay.h"
#include "core/report.h"
#include "sim/sim.h"

#define ROUNDS 3

typedef struct feed {
    ttm_jtap *tap;
    uint64_t shift, last_ts, events;
} feed;

static void apply(void *arg, uint32_t pid, const ttm_event *ev)
{
    feed *f = arg;
    ttm_event e = *ev;
    e.ts += f->shift;
    f->last_ts = e.ts;
    f->events += e.kind == TTM_EV_ALLOC || e.kind == TTM_EV_FREE;
    ttm_jtap_apply(f->tap, pid, &e);
}

static int count(void *ctx, const ttm_journal_event *e)
{
    (void)e;
    (*(uint64_t *)ctx)++;
    return 0;
}

typedef struct sums {
    uint64_t usage, buffers;
} sums;

static void on_usage(void *ctx, size_t run, uint64_t ts, uint16_t device, uint8_t memtype,
                     uint64_t bytes)
{
    (void)run, (void)ts, (void)device, (void)memtype, (void)bytes;
    ((sums *)ctx)->usage++;
}

static void on_buffer(void *ctx, size_t run, const ttm_replay_buffer *b)
{
    (void)run, (void)b;
    ((sums *)ctx)->buffers++;
}

/* The journal: llama repeated until it holds want events. Returns the events written. */
static uint64_t write_journal(const char *path, uint64_t want)
{
    ttm_registry *reg = NULL;
    ttm_journal_writer *w = NULL;
    ttm_jtap tap;
    if (ttm_registry_open(&reg, NULL) != 0 || ttm_journal_writer_open(path, -1, NULL, &w) != 0 ||
        ttm_jtap_open(&tap, reg, w, NULL, 0) != 0) {
        fprintf(stderr, "bench_report: cannot create %s\n", path);
        exit(1);
    }
    feed f = {.tap = &tap};
    while (f.events < want) {
        if (ttm_sim_run_stacks("llama", TTM_SIM_IDENTITY, 1, ttm_registry_stacks(reg), apply, &f,
                               NULL) != 0) {
            fprintf(stderr, "bench_report: cannot run the llama scenario\n");
            exit(1);
        }
        f.shift = f.last_ts + 1000;
    }
    if (ttm_jtap_close(&tap) != 0 || ttm_journal_writer_close(w) != 0) {
        fprintf(stderr, "bench_report: writing %s failed\n", path);
        exit(1);
    }
    ttm_registry_close(reg);
    return f.events;
}

/* One replay and report; ns. */
static double replay_once(const char *path, const ttm_replay_observer *obs, uint64_t *events)
{
    uint64_t t0 = ttm_bench_now_ns();
    ttm_replay *rp = NULL;
    char msg[256];
    const char *paths[] = {path};
    ttm_report r;
    ttm_report_options opt = {.sections = TTM_REPORT_SECTIONS | TTM_SNAP_BIT(TTM_SNAP_SEC_STACKS)};
    if (ttm_replay_open(&rp, paths, 1, msg, sizeof msg) != 0 ||
        ttm_replay_run(rp, obs, UINT64_MAX) != 0 || ttm_replay_report(rp, &opt, &r) != 0) {
        fprintf(stderr, "bench_report: replay failed: %s\n", msg);
        exit(1);
    }
    double ns = (double)(ttm_bench_now_ns() - t0);
    *events = r.totals.allocs + r.totals.frees;
    if (ttm_replay_mismatches(rp) != 0) {
        fprintf(stderr, "bench_report: the replay disagrees with the writer\n");
        exit(1);
    }
    ttm_report_clear(&r);
    ttm_replay_close(rp);
    return ns;
}

static double median(double *v)
{
    qsort(v, ROUNDS, sizeof *v, ttm_bench_cmp_double);
    return v[ROUNDS / 2];
}

int main(int argc, char **argv)
{
    uint64_t want = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000000ull;
    const char *path = argc > 2 ? argv[2] : "/tmp/bench_report.ttmem";
    ttm_bench_machine();
    uint64_t total = write_journal(path, want ? want : 1);
    FILE *f = fopen(path, "rb");
    long size = 0;
    if (f != NULL && fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    if (f != NULL)
        fclose(f);
    printf("journal: %llu buffer events (llama repeated), %.1f MB\n", (unsigned long long)total,
           (double)size / 1e6);
    double rd[ROUNDS], rp[ROUNDS], ru[ROUNDS];
    sums s = {0};
    ttm_replay_observer obs = {.ctx = &s, .usage = on_usage, .buffer = on_buffer};
    for (int round = 0; round < ROUNDS; round++) {
        ttm_journal_reader *r = NULL;
        uint64_t got = 0, ev = 0;
        ttm_journal_sink sink = {.ctx = &got, .event = count};
        uint64_t t0 = ttm_bench_now_ns();
        if (ttm_journal_reader_open(path, -1, &r) != 0 || ttm_journal_read_all(r, &sink) != 0) {
            fprintf(stderr, "bench_report: cannot read %s\n", path);
            return 1;
        }
        rd[round] = (double)(ttm_bench_now_ns() - t0);
        ttm_journal_reader_close(r);
        rp[round] = replay_once(path, NULL, &ev);
        if (ev != total || got < total) {
            fprintf(stderr, "bench_report: replayed %llu of %llu events\n",
                    (unsigned long long)ev, (unsigned long long)total);
            return 1;
        }
        memset(&s, 0, sizeof s);
        ru[round] = replay_once(path, &obs, &ev);
    }
    double r_ns = median(rd), p_ns = median(rp), u_ns = median(ru);
    printf("read only (baseline)  %.3f s  (%.1f M events/s)\n", r_ns / 1e9, total / r_ns * 1e3);
    printf("replay + report       %.3f s  (%.1f M events/s)  %.2f x the baseline  budget 2 s: %s\n",
           p_ns / 1e9, total / p_ns * 1e3, p_ns / r_ns, p_ns <= 2e9 ? "met" : "NOT met");
    printf("  + usage and buffers %.3f s  (%llu usage calls, %llu buffer lives)\n", u_ns / 1e9,
           (unsigned long long)s.usage, (unsigned long long)s.buffers);
    unlink(path);
    return 0;
}
