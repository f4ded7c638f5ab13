/*
 * journal.c (bench_journal) — what the run journal (src/common/journal.h, docs/JOURNAL.md)
 * costs on the llama mix: the simulator's llama scenario with call sites (stack and scope ids of
 * the registry's table), repeated REPS times with its times shifted so the stream is one long
 * run, written to FILE (default /tmp/bench_journal.ttmem) with the default block size, then
 * read back. Prints, as the median of 5 rounds:
 *   write   events/s through ttm_journal_writer_event() to the file (zstd level 1 included),
 *           with compression on the caller's thread (threads 0) and on the writer's own
 *           (threads 1: the caller's time only encodes records; the file is the same),
 *   size    bytes per event of the file,
 *   read    events/s through ttm_journal_read_all() into a counting sink,
 * beside a baseline measured in the same run: a memcpy of the raw events (ttm_journal_event).
 *
 *   ./build/bench/bench_journal [REPS [FILE]]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "common/alloc.h"
#include "common/event.h"
#include "common/journal.h"
#include "core/stacks.h"
#include "sim/sim.h"

#define ROUNDS 5

typedef struct stream {
    ttm_journal_event *ev;
    size_t n, cap;
} stream;

static void collect(void *arg, uint32_t pid, const ttm_event *ev)
{
    stream *s = arg;
    if (ev->kind != TTM_EV_ALLOC && ev->kind != TTM_EV_FREE)
        return;
    s->ev = ttm__grow(s->ev, &s->cap, s->n, sizeof *s->ev, 1 << 16);
    if (s->ev == NULL) {
        fprintf(stderr, "bench_journal: out of memory\n");
        exit(1);
    }
    s->ev[s->n++] = (ttm_journal_event){.kind = ev->kind, .memtype = ev->memtype,
                                        .device = ev->device, .pid = pid, .stack = ev->stack,
                                        .scope = ev->scope, .ts = ev->ts, .addr = ev->addr,
                                        .size = ev->size, .obj = ev->obj};
}

static int count_event(void *ctx, const ttm_journal_event *e)
{
    (void)e;
    (*(uint64_t *)ctx)++;
    return 0;
}

static double median(double *v)
{
    qsort(v, ROUNDS, sizeof *v, ttm_bench_cmp_double);
    return v[ROUNDS / 2];
}

int main(int argc, char **argv)
{
    unsigned reps = argc > 1 ? (unsigned)atoi(argv[1]) : 20;
    const char *path = argc > 2 ? argv[2] : "/tmp/bench_journal.ttmem";
    if (reps == 0)
        reps = 1;
    ttm_stacks *stacks = NULL;
    stream s = {0};
    if (ttm_stacks_open(&stacks, NULL) != 0 ||
        ttm_sim_run_stacks("llama", TTM_SIM_IDENTITY, 1, stacks, collect, &s, NULL) != 0 ||
        s.n == 0) {
        fprintf(stderr, "bench_journal: cannot run the llama scenario\n");
        return 1;
    }
    ttm_bench_machine();
    uint64_t span = s.ev[s.n - 1].ts - s.ev[0].ts + 1000;
    size_t total = s.n * reps;
    printf("llama mix: %zu events per run x %u = %zu events\n", s.n, reps, total);

    double wr[ROUNDS], wt[ROUNDS], rd[ROUNDS], cp[ROUNDS];
    uint64_t bytes = 0;
    uint8_t *dst = NULL;
    for (int round = 0; round < 2 * ROUNDS; round++) {
        ttm_journal_writer *w = NULL;
        ttm_journal_opts o = {.threads = round % 2}; /* threads 0 and 1 in turn */
        if (ttm_journal_writer_open(path, -1, &o, &w) != 0) {
            fprintf(stderr, "bench_journal: cannot create %s\n", path);
            return 1;
        }
        uint64_t t0 = ttm_bench_now_ns();
        for (unsigned r = 0; r < reps; r++) {
            for (size_t i = 0; i < s.n; i++) {
                ttm_journal_event e = s.ev[i];
                e.ts += span * r;
                if (ttm_journal_writer_event(w, &e) != 0) {
                    fprintf(stderr, "bench_journal: write failed\n");
                    return 1;
                }
            }
        }
        if (ttm_journal_writer_flush(w) != 0) {
            fprintf(stderr, "bench_journal: write failed\n");
            return 1;
        }
        bytes = ttm_journal_writer_bytes(w);
        if (ttm_journal_writer_close(w) != 0) {
            fprintf(stderr, "bench_journal: write failed\n");
            return 1;
        }
        (round % 2 ? wt : wr)[round / 2] = (double)(ttm_bench_now_ns() - t0);
        if (round % 2 == 0)
            continue; /* read and copy once per pair */

        ttm_journal_reader *rr = NULL;
        uint64_t got = 0;
        ttm_journal_sink sink = {.ctx = &got, .event = count_event};
        t0 = ttm_bench_now_ns();
        if (ttm_journal_reader_open(path, -1, &rr) != 0 || ttm_journal_read_all(rr, &sink) != 0 ||
            got != total) {
            fprintf(stderr, "bench_journal: read back %llu of %zu events\n",
                    (unsigned long long)got, total);
            return 1;
        }
        rd[round / 2] = (double)(ttm_bench_now_ns() - t0);
        ttm_journal_reader_close(rr);

        uint64_t c = 0;
        for (unsigned r = 0; r < reps; r++)
            c += ttm_bench_copy_ns(&dst, s.ev, s.n * sizeof *s.ev);
        cp[round / 2] = (double)c;
    }
    double w_ns = median(wr), t_ns = median(wt), r_ns = median(rd), c_ns = median(cp);
    printf("write  %.1f M events/s  (%.1f ns/event), compressing on the caller's thread\n",
           total / w_ns * 1e3, w_ns / total);
    printf("write  %.1f M events/s  (%.1f ns/event), compressor thread (threads = 1); ratio "
           "%.2f\n",
           total / t_ns * 1e3, t_ns / total, w_ns / t_ns);
    printf("size   %.2f bytes/event  (%llu bytes; raw events %zu bytes each)\n",
           (double)bytes / total, (unsigned long long)bytes, sizeof(ttm_journal_event));
    printf("read   %.1f M events/s  (%.1f ns/event)\n", total / r_ns * 1e3, r_ns / total);
    printf("memcpy of the raw events  %.1f M events/s; write/memcpy time ratio %.1f\n",
           total / c_ns * 1e3, w_ns / c_ns);
    unlink(path);
    free(dst);
    ttm__free(s.ev);
    ttm_stacks_close(stacks);
    return 0;
}
