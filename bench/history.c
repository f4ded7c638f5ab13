/*
 * bench/history.c — what ttmemd's usage history costs (src/daemon/history.c): one sample of
 * 32 devices on the loop's tick, beside the baseline of the same run, the read a sample is
 * made of (ttm_registry_devices() of the same 32 devices into an array); and the HISTORY
 * section `ttmem top` asks for at its first frame, 32 devices x 720 samples (bytes, fill +
 * encode), with the history's memory.
 *
 * Usage: bench_history [SAMPLES]   (default 200000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "common/alloc.h"
#include "core/registry.h"
#include "core/report.h"
#include "daemon/history.c"
#include "ttmem/ttmem.h"

#define NDEV 32u
#define T0 5000000000ull

int main(int argc, char **argv)
{
    unsigned n = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 200000;
    if (n == 0) {
        fprintf(stderr, "usage: bench_history [SAMPLES] (SAMPLES >= 1)\n");
        return 2;
    }
    ttm_bench_machine();
    ttm_registry *reg = NULL;
    ttm_history *h = NULL;
    if (ttm_registry_open(&reg, NULL) != TTM_OK ||
        ttm__history_open(&h, 1000, TTM_HISTORY_LEN_DEFAULT) != TTM_OK) {
        fprintf(stderr, "bench_history: out of memory\n");
        return 1;
    }
    for (unsigned dev = 0; dev < NDEV; dev++)
        for (unsigned k = 0; k < 64; k++) {
            ttm_event ev;
            memset(&ev, 0, sizeof ev);
            ev.kind = TTM_EV_ALLOC;
            ev.device = (uint16_t)dev;
            ev.memtype = k % 2 ? TTM_MEM_L1 : TTM_MEM_DRAM;
            ev.addr = 0x100000ull + k * 0x10000ull;
            ev.size = 4096;
            ev.ts = T0 + k;
            ttm_registry_apply(reg, 10, &ev);
        }
    ttm_device_stats stats[NDEV];
    uint64_t sink = 0, t0 = ttm_bench_now_ns();
    for (unsigned i = 0; i < n; i++) {
        sink += ttm_registry_devices(reg, stats, NDEV);
        sink += stats[i % NDEV].mem[TTM_MEM_L1].live_bytes;
    }
    uint64_t t1 = ttm_bench_now_ns();
    for (unsigned i = 0; i < n; i++)
        (void)ttm__history_sample(h, reg, T0 + i);
    uint64_t t2 = ttm_bench_now_ns();
    double base = (double)(t1 - t0) / n, sample = (double)(t2 - t1) / n;

    ttm_report r;
    memset(&r, 0, sizeof r);
    r.schema_version = TTM_REPORT_SCHEMA_VERSION;
    r.sections = TTM_SNAP_BIT(TTM_SNAP_SEC_HISTORY);
    ttm_bytes b = {0};
    uint64_t t3 = ttm_bench_now_ns();
    int err = ttm__history_fill(h, &r.history);
    if (err == TTM_OK)
        err = ttm_report_encode(&r, &b);
    uint64_t t4 = ttm_bench_now_ns();
    printf("%-52s %10.1f ns\n", "read the 32 devices' stats (baseline)", base);
    printf("%-52s %10.1f ns  (%.1f ns a device)\n", "one history sample of 32 devices", sample,
           sample / NDEV);
    printf("ratio sample / baseline: %.2f\n", sample / base);
    printf("HISTORY section, %u devices x %u samples: %zu bytes, fill + encode %.2f ms\n", NDEV,
           TTM_HISTORY_LEN_DEFAULT, b.len, (double)(t4 - t3) / 1e6);
    printf("history memory: %zu bytes (checksum %llu)\n", ttm__history_memory(h),
           (unsigned long long)(sink & 1));
    ttm__bytes_free(&b);
    ttm_report_clear(&r);
    ttm__history_close(h);
    ttm_registry_close(reg);
    return err == TTM_OK ? 0 : 1;
}
