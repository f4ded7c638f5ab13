/*
 * state.c (bench_state) — what ttmemd's state file costs (docs/DAEMON.md, "Restart"): with N
 * live buffers (default 100,000, over 8 devices and 8 processes, object ids, the same number of
 * frees behind them in the history and the freed-object set), the median over 7 rounds of
 *   save    ttm_registry_save() into memory,
 *   write   the daemon's write of those bytes: a temporary file, write, rename (a checkpoint),
 *           and the same with fsync of the file and of the directory (a clean stop), in DIR
 *           (default /tmp),
 *   load    ttm_registry_load() of them,
 * beside a baseline measured in the same run: a memcpy of the same number of bytes.
 *
 *   ./build/bench/bench_state [N [DIR]]
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "common/alloc.h"
#include "core/registry.h"

#define ROUNDS 7

static double median(double *v)
{
    qsort(v, ROUNDS, sizeof *v, ttm_bench_cmp_double);
    return v[ROUNDS / 2];
}

static void write_file(const char *dir, const uint8_t *buf, size_t len, bool sync)
{
    char tmp[512], path[512];
    snprintf(tmp, sizeof tmp, "%s/bench_state.tmp", dir);
    snprintf(path, sizeof path, "%s/bench_state", dir);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, buf, len) != (ssize_t)len || (sync && fsync(fd) != 0) || close(fd) != 0 ||
        rename(tmp, path) != 0) {
        perror("bench_state: write");
        exit(1);
    }
    int dfd = sync ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
}

int main(int argc, char **argv)
{
    unsigned n = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 100000;
    const char *dir = argc > 2 ? argv[2] : "/tmp";
    ttm_registry *reg;
    if (ttm_registry_open(&reg, NULL) != TTM_OK)
        return 1;
    for (unsigned i = 0; i < 2 * n; i++) {
        ttm_event ev = {.kind = TTM_EV_ALLOC, .memtype = i % 2 ? TTM_MEM_L1 : TTM_MEM_DRAM,
                        .device = (uint16_t)(i % 8), .ts = i + 1};
        ev.addr = 0x10000ull + 0x800ull * i;
        ev.size = 2048;
        ev.obj = i + 1;
        ttm_registry_apply(reg, 1000 + i % 8, &ev);
    }
    for (unsigned i = n; i < 2 * n; i++) { /* history and freed ids behind the live ones */
        ttm_event ev = {.kind = TTM_EV_FREE, .memtype = i % 2 ? TTM_MEM_L1 : TTM_MEM_DRAM,
                        .device = (uint16_t)(i % 8), .ts = 2 * n + i};
        ev.addr = 0x10000ull + 0x800ull * i;
        ev.obj = i + 1;
        ttm_registry_apply(reg, 1000 + i % 8, &ev);
    }
    ttm_totals t;
    ttm_registry_totals(reg, &t);
    double save[ROUNDS], wr[ROUNDS], wr_nosync[ROUNDS], load[ROUNDS], copy[ROUNDS];
    size_t len = 0;
    for (int r = 0; r < ROUNDS; r++) {
        uint8_t *buf;
        double t0 = ttm_bench_now_s();
        if (ttm_registry_save(reg, NULL, 0, &buf, &len) != TTM_OK)
            return 1;
        double t1 = ttm_bench_now_s();
        write_file(dir, buf, len, false);
        double t1b = ttm_bench_now_s();
        write_file(dir, buf, len, true);
        double t2 = ttm_bench_now_s();
        ttm_registry *back;
        const uint8_t *annex;
        size_t alen;
        char msg[200];
        if (ttm_registry_load(&back, NULL, buf, len, &annex, &alen, msg, sizeof msg) != TTM_OK) {
            fprintf(stderr, "bench_state: load: %s\n", msg);
            return 1;
        }
        double t3 = ttm_bench_now_s();
        uint8_t *dst = malloc(len);
        memset(dst, 1, len);
        double t4 = ttm_bench_now_s();
        memcpy(dst, buf, len);
        double t5 = ttm_bench_now_s();
        if (dst[len / 2] != buf[len / 2])
            return 1;
        free(dst);
        ttm_registry_close(back);
        ttm__free(buf);
        save[r] = t1 - t0;
        wr_nosync[r] = t1b - t1;
        wr[r] = t2 - t1b;
        load[r] = t3 - t2;
        copy[r] = t5 - t4;
    }
    char path[512];
    snprintf(path, sizeof path, "%s/bench_state", dir);
    unlink(path);
    ttm_bench_machine();
    printf("bench_state: %llu live buffers, %zu bytes of state (%.1f B/live buffer), median of %d "
           "rounds\n",
           (unsigned long long)t.live_records, len, (double)len / (double)t.live_records, ROUNDS);
    printf("save %.2f ms   write+rename %.2f ms (checkpoint)   write+fsync+rename %.2f ms (clean "
           "stop)   in %s\n",
           median(save) * 1e3, median(wr_nosync) * 1e3, median(wr) * 1e3, dir);
    printf("load %.2f ms   baseline: memcpy of the same bytes %.2f ms\n", median(load) * 1e3,
           median(copy) * 1e3);
    ttm_registry_close(reg);
    return 0;
}
