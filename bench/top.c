/*
 * bench/top.c — what one refresh of `ttmem top` costs for a Galaxy: 32 devices x 64 processes,
 * every process on every device (the budget, docs/ARCHITECTURE.md: a snapshot of 32 x 64 in
 * ≤ 1 ms).
 *
 * The snapshot is built in memory once, then each iteration does what the monitor does with a
 * reply, minus the socket: encode it as the daemon would (ttm_report_encode), decode it
 * as the client does (ttm_report_decode), ingest it into the model (rows, valid bits,
 * history sample), and lay out a frame (80x24 and 200x60, devices view; and the history view
 * at 200x60 once the ring is full). Figures are the median and p99 per stage over the
 * iterations. Baseline, same run: a memcpy of the encoded frame (the memory floor).
 *
 * usage: bench_top [ITERATIONS]   (2000 by default)
 *
 * The monitor's own model and layout live in the ttmem program (src/cli), so their sources are
 * compiled in here, as in tests/unit/test_top_layout.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "cli/top_budget.c"
#include "cli/top_devices.c"
#include "cli/top_diag.c"
#include "cli/top_draw.c"
#include "cli/top_header.c"
#include "cli/top_help.c"
#include "cli/top_history.c"
#include "cli/top_keys.c"
#include "cli/top_layout.c"
#include "cli/top_model.c"
#include "cli/top_proc.c"
#include "cli/top_procs.c"
#include "cli/top_sites.c"
#include "cli/sites.c"

#define NDEV 32
#define NPROC 64

typedef struct stage {
    const char *name;
    uint64_t *ns;
} stage;

static void report(const stage *st, size_t n)
{
    size_t p50 = n / 2, p99 = n * 99 / 100;
    qsort(st->ns, n, sizeof *st->ns, ttm_bench_cmp_u64);
    printf("  %-34s %9.1f %9.1f\n", st->name, (double)st->ns[p50] / 1000.0,
           (double)st->ns[p99 < n ? p99 : n - 1] / 1000.0);
}

int main(int argc, char **argv)
{
    size_t iters = 2000;
    if (argc > 1) {
        char *end;
        unsigned long v = strtoul(argv[1], &end, 10);
        if (*end != '\0' || v == 0 || v > 10000000) {
            fprintf(stderr, "usage: bench_top [ITERATIONS]\n");
            return 2;
        }
        iters = v;
    }
    ttm_report src;
    ttm_bench_galaxy_snapshot(&src, NDEV, NPROC);
    ttm_bytes frame = {0};
    if (ttm_report_encode(&src, &frame) != TTM_OK) {
        fprintf(stderr, "bench_top: cannot encode the snapshot\n");
        return 1;
    }
    uint8_t *copy = ttm__xmalloc(frame.len);

    ttm_top_model m;
    ttm__top_model_init(&m, "galaxy", "/run/ttmem/ttmemd.sock", "/dev/shm");
    ttm_top_state st;
    ttm__top_state_init(&st, 1000);
    ttm_top_frame f80 = {0}, f200 = {0}, fh = {0};

    stage stages[] = {
        {"encode (daemon side)", NULL},
        {"decode (client side)", NULL},
        {"model ingest", NULL},
        {"layout 80x24, devices view", NULL},
        {"layout 200x60, devices view", NULL},
        {"refresh: encode+decode+model+80x24", NULL},
        {"layout 200x60, history view (full)", NULL},
        {"baseline: memcpy of the frame", NULL},
    };
    size_t nst = sizeof stages / sizeof stages[0];
    for (size_t k = 0; k < nst; k++)
        stages[k].ns = ttm__xcalloc(iters, sizeof(uint64_t));

    uint64_t clock = 1000000000ull;
    for (size_t i = 0; i < iters + TTM_TOP_HIST_LEN; i++) {
        bool timed = i >= TTM_TOP_HIST_LEN; /* warm-up fills the history ring */
        size_t k = timed ? i - TTM_TOP_HIST_LEN : 0;
        uint64_t t0 = ttm_bench_now_ns();
        ttm_bytes out = {0};
        if (ttm_report_encode(&src, &out) != TTM_OK)
            return 1;
        uint64_t t1 = ttm_bench_now_ns();
        ttm_report snap;
        char msg[128];
        if (ttm_report_decode(out.data + TTM_SNAP_HDR_SIZE, out.len - TTM_SNAP_HDR_SIZE,
                                      &snap, msg, sizeof msg) != TTM_OK) {
            fprintf(stderr, "bench_top: decode: %s\n", msg);
            return 1;
        }
        uint64_t t2 = ttm_bench_now_ns();
        clock += 1000000000ull;
        if (ttm__top_model_ingest(&m, &snap, NULL, NULL, 0, NULL, clock) != TTM_OK)
            return 1;
        uint64_t t3 = ttm_bench_now_ns();
        st.view = TTM_TOP_VIEW_DEVICES;
        if (ttm__top_layout(&m, &st, 80, 24, &f80) != TTM_OK)
            return 1;
        uint64_t t4 = ttm_bench_now_ns();
        if (ttm__top_layout(&m, &st, 200, 60, &f200) != TTM_OK)
            return 1;
        uint64_t t5 = ttm_bench_now_ns();
        st.view = TTM_TOP_VIEW_HISTORY;
        if (ttm__top_layout(&m, &st, 200, 60, &fh) != TTM_OK)
            return 1;
        uint64_t t6 = ttm_bench_now_ns();
        memcpy(copy, out.data, out.len);
        __asm__ volatile("" : : "r"(copy) : "memory");
        uint64_t t7 = ttm_bench_now_ns();
        ttm__bytes_free(&out);
        ttm_report_clear(&snap);
        if (!timed)
            continue;
        stages[0].ns[k] = t1 - t0;
        stages[1].ns[k] = t2 - t1;
        stages[2].ns[k] = t3 - t2;
        stages[3].ns[k] = t4 - t3;
        stages[4].ns[k] = t5 - t4;
        stages[5].ns[k] = t4 - t0;
        stages[6].ns[k] = t6 - t5;
        stages[7].ns[k] = t7 - t6;
    }
    printf("bench_top: %d devices x %d processes (every process on every device), %zu "
           "iterations\n",
           NDEV, NPROC, iters);
    printf("  snapshot frame %zu bytes; model %zu device rows, %zu process rows, %zu "
           "process-device rows; history %zu samples\n",
           frame.len, m.ndevices, m.nprocs, m.npdevs, m.hist_count);
    printf("  %-34s %9s %9s\n", "stage", "p50 us", "p99 us");
    for (size_t k = 0; k < nst; k++)
        report(&stages[k], iters);
    size_t p50 = iters / 2;
    double total = (double)stages[5].ns[p50] / 1000.0;
    printf("budget: refresh of 32 x 64 <= 1000 us: %s (%.1f us)\n",
           total <= 1000.0 ? "met" : "MISSED", total);

    for (size_t k = 0; k < nst; k++)
        free(stages[k].ns);
    ttm__top_frame_free(&f80);
    ttm__top_frame_free(&f200);
    ttm__top_frame_free(&fh);
    ttm__top_model_free(&m);
    ttm__free(copy);
    ttm__bytes_free(&frame);
    ttm_report_clear(&src);
    return 0;
}
