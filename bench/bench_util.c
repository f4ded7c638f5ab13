/*
 * bench_util.c — shared helpers of the benchmarks (bench_util.h).
 */
#include "bench_util.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "core/registry.h"

uint64_t ttm_bench_now_ns(void)
{
    return ttm__mono_ns();
}

double ttm_bench_now_s(void)
{
    return (double)ttm_bench_now_ns() * 1e-9;
}

int ttm_bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int ttm_bench_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

void ttm_bench_machine(void)
{
    struct utsname u;
    uname(&u);
    char model[256] = "?";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f != NULL) {
        char line[512];
        while (fgets(line, sizeof line, f) != NULL) {
            if (strncmp(line, "model name", 10) == 0) {
                char *c = strchr(line, ':');
                if (c != NULL)
                    snprintf(model, sizeof model, "%s", c + 2);
                model[strcspn(model, "\n")] = '\0';
                break;
            }
        }
        fclose(f);
    }
    printf("machine: %s, %ld CPUs, Linux %s\n", model, sysconf(_SC_NPROCESSORS_ONLN), u.release);
}

uint64_t ttm_bench_copy_ns(uint8_t **dst, const void *src, size_t n)
{
    if (*dst == NULL)
        *dst = ttm__xmalloc(n);
    uint64_t t0 = ttm_bench_now_ns();
    memcpy(*dst, src, n);
    __asm__ volatile("" : : "r"(*dst) : "memory");
    return ttm_bench_now_ns() - t0;
}

void ttm_bench_galaxy_snapshot(ttm_report *s, unsigned ndev, unsigned nproc)
{
    memset(s, 0, sizeof *s);
    s->sections = TTM_SNAP_WANT_STATUS;
    snprintf(s->daemon.version, sizeof s->daemon.version, "0.1.0");
    s->daemon.pid = 4242;
    s->daemon.uptime_ns = 86400ull * 1000000000ull;
    s->daemon.clients_connected = nproc;
    for (unsigned c = 0; c < TTM_CLASS__COUNT; c++)
        s->totals.class_count[c] = 1000u + c;
    s->ndevices = ndev;
    s->devices = ttm__xcalloc(ndev, sizeof *s->devices);
    for (unsigned d = 0; d < ndev; d++) {
        ttm_device_stats *sd = &s->devices[d];
        sd->device = (uint16_t)d;
        sd->arch = TTM_ARCH_WORMHOLE_B0;
        sd->capacity[TTM_SPACE_DRAM] = 12ull << 30;
        sd->capacity[TTM_SPACE_L1] = 64ull * 1499136;
        for (unsigned c = 0; c < TTM_CLASS__COUNT; c++) {
            sd->class_count[c] = 1000u * d + c;
            sd->class_bytes[c] = (1000u * d + c) << 12;
        }
    }
    s->nprocs = nproc;
    s->procs = ttm__xcalloc(nproc, sizeof *s->procs);
    for (unsigned i = 0; i < nproc; i++) {
        ttm_report_proc *p = &s->procs[i];
        p->stats.pid = 100000 + i;
        snprintf(p->name, sizeof p->name, "python3-%02u", i % 100);
        p->stats.alive = p->connected = true;
        p->stats.anomalies = i % 5;
        p->stats.ndevices = ndev;
        ttm_proc_mem *pms = ttm__xcalloc(ndev, sizeof *pms);
        p->stats.devices = pms;
        for (unsigned d = 0; d < ndev; d++) {
            ttm_proc_mem *pm = &pms[d];
            pm->device = (uint16_t)d;
            for (unsigned t = 0; t < TTM_MEMTYPE_COUNT; t++) {
                pm->mem[t].allocs = 3;
                pm->mem[t].live_count = 1;
                pm->mem[t].live_bytes = (uint64_t)(i + 1) * (t + 1) * 40960u;
                s->devices[d].mem[t].live_bytes += pm->mem[t].live_bytes;
                s->devices[d].mem[t].live_count++;
            }
        }
    }
}

pid_t ttm_bench_ttmemd_start(const char *ttmemd, const char *sock, const char *const *extra,
                             char *err, size_t errlen)
{
    int p[2];
    if (pipe(p) != 0) {
        snprintf(err, errlen, "pipe failed");
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "fork failed");
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive the bench */
        dup2(p[1], 3);
        const char *args[32] = {ttmemd,       "--foreground", "--socket",   sock,
                                "--ready-fd", "3",            "--log-level", "warn"};
        int n = 8;
        for (int i = 0; extra != NULL && extra[i] != NULL && n < 31; i++)
            args[n++] = extra[i];
        args[n] = NULL;
        execv(ttmemd, (char *const *)args);
        _exit(127);
    }
    close(p[1]);
    char buf[256] = {0};
    struct pollfd pf = {.fd = p[0], .events = POLLIN};
    bool ready = poll(&pf, 1, 10000) > 0 && read(p[0], buf, sizeof buf - 1) > 0 &&
                 strncmp(buf, "ready", 5) == 0;
    close(p[0]);
    if (!ready) {
        buf[strcspn(buf, "\n")] = '\0';
        snprintf(err, errlen, "%s", buf[0] ? buf : "ttmemd did not start (use --ttmemd PATH)");
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return -1;
    }
    return pid;
}

void ttm_bench_ttmemd_stop(pid_t pid, const char *sock, const char *dir)
{
    if (pid > 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
    char path[300];
    snprintf(path, sizeof path, "%s.lock", sock);
    unlink(path);
    rmdir(dir);
}

void ttm_bench_find_ttmemd(char *ttmemd, size_t len)
{
    if (ttmemd[0] != '\0')
        return;
    char self[PATH_MAX - 16];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        fprintf(stderr, "bench: cannot find myself (%s); use --ttmemd PATH\n", strerror(errno));
        exit(1);
    }
    self[n] = '\0';
    *strrchr(self, '/') = '\0';
    snprintf(ttmemd, len, "%s/../ttmemd", self);
}

void ttm_bench_private_paths(const char *name, char *dir, size_t dlen, char *sock, size_t slen,
                             char *query, size_t qlen)
{
    snprintf(dir, dlen, "/tmp/ttmem-%s.XXXXXX", name);
    if (mkdtemp(dir) == NULL) {
        fprintf(stderr, "bench: cannot make a directory %s: %s\n", dir, strerror(errno));
        exit(1);
    }
    snprintf(sock, slen, "%s/d.sock", dir);
    snprintf(query, qlen, "%s.query", sock);
}
