/*
 * bench/snapshot.c — what the snapshot codec costs in process for a Galaxy's status reply:
 * 32 devices x 64 processes, every process on every device and every memtype in use (the
 * snapshot ttm_bench_galaxy_snapshot makes, the one ttmem status and ttmem top receive).
 *
 * Per round: encode the SNAPSHOT frame (into a buffer kept from round to round, as the daemon's
 * connection keeps its own), decode its payload into a report and free it. Baseline, same run,
 * same rounds: a memcpy of the frame's bytes (the least any codec must do: touch each byte
 * once). The figures are medians over the rounds; the claim is the ratio to the baseline, the
 * machine being shared.
 *
 * Usage: bench_snapshot [ROUNDS]   (default 2001)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "common/alloc.h"
#include "common/snapshot.h"
#include "core/report.h"
#include "ttmem/ttmem.h"

#define NDEV 32
#define NPROC 64
#define WARM 20

static double median_us(uint64_t *ns, size_t n)
{
    qsort(ns, n, sizeof *ns, ttm_bench_cmp_u64);
    return (double)ns[n / 2] / 1e3;
}

int main(int argc, char **argv)
{
    size_t rounds = 2001;
    if (argc > 1) {
        char *end;
        rounds = strtoul(argv[1], &end, 10);
        if (*end != '\0' || rounds < 11) {
            fprintf(stderr, "usage: bench_snapshot [rounds >= 11]\n");
            return 2;
        }
    }
    ttm_report src;
    ttm_bench_galaxy_snapshot(&src, NDEV, NPROC);
    uint64_t *enc = ttm__xcalloc(rounds, sizeof *enc), *dec = ttm__xcalloc(rounds, sizeof *dec);
    uint64_t *cpy = ttm__xcalloc(rounds, sizeof *cpy);
    ttm_bytes frame = {0};
    uint8_t *dst = NULL;
    size_t len = 0;
    for (size_t i = 0; i < rounds + WARM; i++) {
        frame.len = 0;
        uint64_t t0 = ttm_bench_now_ns();
        if (ttm_report_encode(&src, &frame) != TTM_OK)
            return fprintf(stderr, "bench_snapshot: encode failed\n"), 1;
        uint64_t t1 = ttm_bench_now_ns();
        ttm_report got;
        char msg[200];
        if (ttm_report_decode(frame.data + TTM_SNAP_HDR_SIZE, frame.len - TTM_SNAP_HDR_SIZE, &got,
                              msg, sizeof msg) != TTM_OK)
            return fprintf(stderr, "bench_snapshot: decode failed: %s\n", msg), 1;
        ttm_report_clear(&got);
        uint64_t t2 = ttm_bench_now_ns();
        uint64_t copy = ttm_bench_copy_ns(&dst, frame.data, frame.len);
        len = frame.len;
        if (i >= WARM) { /* the first rounds warm the heap and the caches */
            enc[i - WARM] = t1 - t0;
            dec[i - WARM] = t2 - t1;
            cpy[i - WARM] = copy;
        }
    }
    double e = median_us(enc, rounds), d = median_us(dec, rounds), c = median_us(cpy, rounds);
    ttm_bench_machine();
    printf("snapshot codec in process: %d devices x %d processes (status sections), a %zu-byte "
           "frame; medians of %zu rounds\n",
           NDEV, NPROC, len, rounds);
    printf("  %-34s %10s %10s\n", "stage", "median us", "x memcpy");
    printf("  %-34s %10.1f %10.1f\n", "encode (frame)", e, e / c);
    printf("  %-34s %10.1f %10.1f\n", "decode + free (payload)", d, d / c);
    printf("  %-34s %10.1f %10.1f\n", "baseline: memcpy of the frame", c, 1.0);
    ttm__bytes_free(&frame);
    ttm__free(dst);
    free(enc);
    free(dec);
    free(cpy);
    ttm_report_clear(&src);
    return 0;
}
