/*
 * bench/metrics.c — what one Prometheus scrape costs ttmemd for a Galaxy: 32 devices x 64
 * processes (issue 6: a scrape of 32 x 64 in <= 5 ms in the daemon).
 *
 * Two parts, both printed with median and p99:
 *  1. in memory: a snapshot of 32 devices x 64 processes with every process on every device
 *     and every memtype in use (the largest exposition such a host can produce), rendered by
 *     ttm_metrics_render + ttm_metrics_render_scrapes as the daemon does. Baseline, same run:
 *     a memcpy of the text (the memory floor).
 *  2. a real daemon: ttmemd --metrics-listen on a free loopback port, 64 client processes
 *     (the real libttmem) each holding buffers of six memtypes on each of 32 devices, then
 *     sequential GET /metrics over one kept-alive connection. Two figures per scrape: the
 *     round trip seen by the scraper, and the time the daemon's event loop spent building the
 *     text (snapshot + /dev/shm scan + render), read back from the daemon's own
 *     ttmem_scrape_duration_seconds (sum and count move by one build per sequential scrape).
 *
 * usage: bench_metrics [--ttmemd PATH] [ITERATIONS]   (1000 renders and 201 scrapes by default;
 * ttmemd defaults to the one next to the bench directory)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "common/alloc.h"
#include "core/metrics.h"
#include "core/registry.h"
#include "ttmem/ttmem.h"

#define NDEV 32
#define NPROC 64

static char dir[64], sock[128];
static pid_t daemon_pid = -1;

static void die(const char *what)
{
    fprintf(stderr, "bench_metrics: %s\n", what);
    if (daemon_pid > 0)
        kill(daemon_pid, SIGKILL);
    exit(1);
}

static void report(const char *name, uint64_t *ns, size_t n)
{
    qsort(ns, n, sizeof *ns, ttm_bench_cmp_u64);
    size_t p99 = n * 99 / 100;
    printf("  %-52s %9.3f %9.3f\n", name, (double)ns[n / 2] / 1e6,
           (double)ns[p99 < n ? p99 : n - 1] / 1e6);
}

/* ---- 1. the render, in memory ------------------------------------------------------------- */

static void render_part(size_t iters)
{
    ttm_report s;
    ttm_bench_galaxy_snapshot(&s, NDEV, NPROC);
    uint64_t *render = ttm__xcalloc(iters, sizeof(uint64_t));
    uint64_t *copy = ttm__xcalloc(iters, sizeof(uint64_t));
    ttm_metrics_scrapes st = {.ok = 1000, .builds = 1000, .build_ns = 2000000000ull};
    size_t len = 0, samples = 0;
    char *dst = NULL;
    for (size_t i = 0; i < iters + 10; i++) {
        ttm_bytes b = {0};
        uint64_t t0 = ttm_bench_now_ns();
        if (ttm_metrics_render(&s, NULL, 0, &b) != TTM_OK ||
            ttm_metrics_render_scrapes(&st, &b) != TTM_OK)
            die("render failed");
        uint64_t t1 = ttm_bench_now_ns();
        if (dst == NULL)
            dst = ttm__xmalloc(b.len);
        memcpy(dst, b.data, b.len);
        __asm__ volatile("" : : "r"(dst) : "memory");
        uint64_t t2 = ttm_bench_now_ns();
        len = b.len;
        if (samples == 0)
            for (size_t k = 0; k < b.len; k++)
                samples += b.data[k] == '\n' && k + 1 < b.len && b.data[k + 1] != '#';
        ttm__bytes_free(&b);
        if (i >= 10) { /* the first renders warm the heap */
            render[i - 10] = t1 - t0;
            copy[i - 10] = t2 - t1;
        }
    }
    printf("\n1. render in memory: %d devices x %d processes, every process on every device, "
           "every memtype in use\n   %zu bytes, about %zu samples; %zu renders\n",
           NDEV, NPROC, len, samples, iters);
    printf("  %-52s %9s %9s\n", "stage", "p50 ms", "p99 ms");
    report("ttm_metrics_render + ttm_metrics_render_scrapes", render, iters);
    report("baseline: memcpy of the text", copy, iters);
    free(render);
    free(copy);
    ttm__free(dst);
    ttm_report_clear(&s);
}

/* ---- 2. a real daemon --------------------------------------------------------------------- */

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        die("cannot find a free port");
    close(fd);
    return ntohs(a.sin_port);
}

static void start_daemon(const char *ttmemd, int port)
{
    char listen_arg[32], err[256];
    snprintf(listen_arg, sizeof listen_arg, "127.0.0.1:%d", port);
    const char *extra[] = {"--arch", "wormhole_b0", "--metrics-listen", listen_arg, NULL};
    daemon_pid = ttm_bench_ttmemd_start(ttmemd, sock, extra, err, sizeof err);
    if (daemon_pid < 0)
        die(err);
}

static void stop_daemon(void)
{
    ttm_bench_ttmemd_stop(daemon_pid, sock, dir);
    daemon_pid = -1;
}

/* One GET /metrics on the kept-alive connection fd; the body into *body (grown as needed).
 * Returns the body's length. */
static size_t scrape(int fd, char **body, size_t *cap)
{
    static const char req[] = "GET /metrics HTTP/1.1\r\nHost: bench\r\n\r\n";
    if (send(fd, req, sizeof req - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof req - 1))
        die("send");
    char head[1024];
    size_t hl = 0;
    while (hl < sizeof head - 1) { /* headers, a byte at a time: they are short */
        ssize_t n = recv(fd, head + hl, 1, 0);
        if (n <= 0)
            die("the daemon closed the connection");
        hl++;
        if (hl >= 4 && memcmp(head + hl - 4, "\r\n\r\n", 4) == 0)
            break;
    }
    head[hl] = '\0';
    if (strncmp(head, "HTTP/1.1 200", 12) != 0)
        die(head);
    const char *cl = strcasestr(head, "Content-Length:");
    if (cl == NULL)
        die("no Content-Length");
    size_t len = strtoul(cl + 15, NULL, 10);
    if (len + 1 > *cap) {
        *cap = len + 1;
        *body = ttm__xreallocarray(*body, *cap, 1);
    }
    size_t got = 0;
    while (got < len) {
        ssize_t n = recv(fd, *body + got, len - got, 0);
        if (n <= 0)
            die("short body");
        got += (size_t)n;
    }
    (*body)[len] = '\0';
    return len;
}

static double sample(const char *text, const char *name)
{
    const char *p = strstr(text, name);
    if (p == NULL)
        die(name);
    return strtod(p + strlen(name), NULL);
}

static void daemon_part(const char *ttmemd, size_t rounds)
{
    snprintf(dir, sizeof dir, "/tmp/ttmem-bm.XXXXXX");
    if (mkdtemp(dir) == NULL)
        die("mkdtemp");
    snprintf(sock, sizeof sock, "%s/d.sock", dir);
    int port = free_port();
    start_daemon(ttmemd, port);
    setenv("TTMEM", "1", 1);
    setenv("TTMEM_SOCKET", sock, 1);

    static const ttm_memtype types[] = {TTM_MEM_DRAM,  TTM_MEM_L1, TTM_MEM_L1_SMALL,
                                        TTM_MEM_TRACE, TTM_MEM_CB, TTM_MEM_KERNEL};
    int ready[2], hold[2];
    if (pipe(ready) != 0 || pipe(hold) != 0)
        die("pipe");
    pid_t pids[NPROC];
    for (int i = 0; i < NPROC; i++) {
        pids[i] = fork();
        if (pids[i] < 0)
            die("fork");
        if (pids[i] == 0) {
            close(ready[0]);
            close(hold[1]);
            for (uint16_t d = 0; d < NDEV; d++)
                for (unsigned t = 0; t < sizeof types / sizeof types[0]; t++)
                    ttm_buffer_alloc(d, types[t], 0x1000000ull * (t + 1) + (uint64_t)i * 0x10000,
                                     4096u * (t + 1), 0, 0);
            char c = ttm_client_flush(10000) == TTM_OK ? 'r' : 'x';
            (void)!write(ready[1], &c, 1);
            (void)!read(hold[0], &c, 1); /* until the parent closes it */
            _exit(0);
        }
    }
    close(ready[1]);
    close(hold[0]);
    int good = 0;
    for (int i = 0; i < NPROC; i++) {
        char c;
        if (read(ready[0], &c, 1) == 1 && c == 'r')
            good++;
    }
    if (good != NPROC)
        die("some client processes could not report");

    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        die("cannot connect to the metrics endpoint");
    char *body = NULL;
    size_t cap = 0, len = 0;
    uint64_t *trip = ttm__xcalloc(rounds, sizeof(uint64_t));
    uint64_t *inside = ttm__xcalloc(rounds, sizeof(uint64_t));
    double prev_sum = 0, prev_count = 0;
    size_t series = 0, n = 0;
    for (size_t r = 0; r < rounds + 1; r++) {
        uint64_t t0 = ttm_bench_now_ns();
        len = scrape(fd, &body, &cap);
        uint64_t t1 = ttm_bench_now_ns();
        double sum = sample(body, "\nttmem_scrape_duration_seconds_sum ");
        double count = sample(body, "\nttmem_scrape_duration_seconds_count ");
        /* this text reports the builds before it: the previous scrape's build */
        if (r >= 2 && count == prev_count + 1)
            inside[n++] = (uint64_t)((sum - prev_sum) * 1e9 + 0.5);
        if (r >= 1)
            trip[r - 1] = t1 - t0;
        prev_sum = sum;
        prev_count = count;
        series = 0;
        for (const char *p = body; (p = strstr(p, "\nttmem_process_memory_bytes{")) != NULL; p++)
            series++;
    }
    close(fd);
    printf("\n2. a real ttmemd: %d client processes each holding 6 memtypes x %d devices; "
           "%zu sequential scrapes on one connection\n   text %zu bytes, %zu per-process "
           "series\n",
           NPROC, NDEV, rounds, len, series);
    printf("  %-52s %9s %9s\n", "stage", "p50 ms", "p99 ms");
    report("in the daemon: snapshot + shm scan + render (loop)", inside, n);
    report("round trip of GET /metrics (scraper's view)", trip, rounds);
    size_t p50 = n / 2;
    double in_ms = (double)inside[p50] / 1e6;
    printf("budget (issue 6): a scrape of 32 x 64 costs the daemon <= 5 ms: %s (median %.3f ms)\n",
           in_ms <= 5.0 ? "met" : "MISSED", in_ms);
    free(trip);
    free(inside);
    ttm__free(body);
    close(hold[1]);
    close(ready[0]);
    for (int i = 0; i < NPROC; i++)
        waitpid(pids[i], NULL, 0);
    stop_daemon();
}

int main(int argc, char **argv)
{
    char ttmemd[PATH_MAX] = "";
    size_t iters = 1000, rounds = 201;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--ttmemd") == 0 && i + 1 < argc) {
            snprintf(ttmemd, sizeof ttmemd, "%s", argv[++i]);
        } else {
            char *end;
            unsigned long v = strtoul(argv[i], &end, 10);
            if (*end != '\0' || v < 10 || v > 1000000) {
                fprintf(stderr, "usage: bench_metrics [--ttmemd PATH] [ITERATIONS >= 10]\n");
                return 2;
            }
            iters = v;
            rounds = v / 5 + 1;
        }
    }
    ttm_bench_find_ttmemd(ttmemd, sizeof ttmemd);
    ttm_bench_machine();
    render_part(iters);
    daemon_part(ttmemd, rounds);
    return 0;
}
