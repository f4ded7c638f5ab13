/*
 * bench/poc_socket.c — the legacy socket's throughput (issue 13): K client processes send N
 * ALLOC/FREE messages in all, in the allocation-server prototype's protocol (docs/COMPAT.md,
 * "The wire format"), the way its C++ client does (one blocking send() per message, short
 * writes retried), to
 *   (a) a read-only sink: one process, one epoll loop, that reads each connection as fast as it
 *       can (256 KiB per recv) and frames the stream the same way (messages of the connection's
 *       size, each checked for a plausible type), and nothing else — what the protocol allows;
 *   (b) a real ttmemd's legacy socket (--poc-socket, the message size detected per connection,
 *       --no-state), the clock stopping when the daemon has applied every event: its legacy
 *       counters (query socket, legacy section of the snapshot) reach N.
 * With 1 and 4 clients, several rounds in the same run, the sink and the daemon first in turn
 * (a fresh sink and a fresh daemon each time). Printed per round: events/s of each, the ratio
 * ttmemd / sink, each server's CPU time per message and the time it waited for a CPU while
 * ready (/proc/PID/schedstat: on a machine shared with other work the wall ratio moves with
 * the neighbours, and the wait says how much they took), the spread of the clients' end times
 * (fairness); then the median ratio, its spread, and the median ratio of CPU per message.
 *
 * The clients connect first and wait at a gate; the clock runs from the gate's opening to the
 * server having taken the N-th message (for ttmemd: once every client has exited, its status
 * asked every 0.2 ms, so that no query competes with the clients). Each client sends N/K
 * messages: ALLOC (DRAM, 16 KiB, device client % 8) then FREE of the same address, over 4,096
 * addresses of its own, encoded once before the gate.
 *
 * Usage: bench_poc_socket [--ttmemd PATH] [--messages N] [--size 72|112|144] [--rounds R]
 *                         [--clients K[,K...]] [--poll-during]
 * (defaults: 1,000,000 messages of 144 bytes, 5 rounds, 1 and 4 clients)
 * --poll-during: ask ttmemd's status every 0.2 ms from the gate's opening on, as a bench that
 * does not wait for its clients first would; what that costs the daemon shows in its figures.
 * Exit status 1 when a server did not take every message (or a client failed).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "common/poc.h"
#include "core/report.h"

#define SINK_READ 262144u  /* bytes a sink recv may take */
#define CLIENT_ADDRS 4096u /* addresses each client cycles over */
#define MAX_CLIENTS 64u
#define MAX_ROUNDS 50u

static char dir[64], sock[96], query[108], poc_path[96], sink_path[96];
static pid_t server_pid = -1;

static void die(const char *what)
{
    fprintf(stderr, "bench_poc_socket: %s\n", what);
    if (server_pid > 0)
        kill(server_pid, SIGKILL);
    exit(1);
}

/* What the scheduler says of pid's (single) thread: the time it ran (/proc/PID/schedstat, in
 * ns), the time it was ready but waited for a CPU (the machine's contention), and its user time
 * (/proc/PID/stat, clock ticks). Zeros when unreadable. */
typedef struct cpu_time {
    double run_s, wait_s, user_s;
} cpu_time;

static cpu_time cpu_seconds(pid_t pid)
{
    cpu_time t = {0, 0, 0};
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/schedstat", (int)pid);
    FILE *f = fopen(path, "r");
    unsigned long long run = 0, wait = 0;
    if (f != NULL && fscanf(f, "%llu %llu", &run, &wait) == 2) {
        t.run_s = (double)run / 1e9;
        t.wait_s = (double)wait / 1e9;
    }
    if (f != NULL)
        fclose(f);
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return t;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the name may hold spaces */
    unsigned long long ut = 0;
    if (p != NULL && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu", &ut) == 1)
        t.user_s = (double)ut / (double)sysconf(_SC_CLK_TCK);
    return t;
}

static cpu_time cpu_since(pid_t pid, cpu_time t0)
{
    cpu_time t = cpu_seconds(pid);
    t.run_s -= t0.run_s;
    t.wait_s -= t0.wait_s;
    t.user_s -= t0.user_s;
    return t;
}

static int connect_unix(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* ---- the clients ------------------------------------------------------------------------------ */

/* A client process: connects, says so on ready, waits for the gate to close, sends its
 * messages one blocking send() each, and exits 0 when every byte went out. */
static void client_main(unsigned idx, const char *path, uint64_t count, unsigned size, int ready,
                        int gate, int done)
{
    int fd = connect_unix(path);
    if (fd < 0)
        _exit(2);
    uint8_t *msgs = malloc((size_t)2 * CLIENT_ADDRS * size);
    if (msgs == NULL)
        _exit(3);
    for (unsigned i = 0; i < 2 * CLIENT_ADDRS; i++) {
        ttm_poc_msg m;
        memset(&m, 0, sizeof m);
        m.type = i % 2 == 0 ? TTM_POC_ALLOC : TTM_POC_FREE;
        m.device_id = (int32_t)(idx % 8);
        m.buffer_type = 0; /* DRAM */
        m.size = i % 2 == 0 ? 16384 : 0;
        m.process_id = (int32_t)getpid();
        m.buffer_id = ((uint64_t)(idx + 1) << 32) + (uint64_t)(i / 2) * 16384;
        m.timestamp = i % 2 == 0 ? 1700000000000000000ull + i : 0;
        if (ttm__poc_encode(&m, size, msgs + (size_t)i * size) != 0)
            _exit(4);
    }
    char c = 'r';
    if (write(ready, &c, 1) != 1)
        _exit(5);
    close(ready);
    while (read(gate, &c, 1) < 0 && errno == EINTR) {
    } /* returns 0 when the parent closes the gate */
    close(gate);
    for (uint64_t i = 0; i < count; i++) {
        const uint8_t *p = msgs + (size_t)(i % (2 * CLIENT_ADDRS)) * size;
        size_t off = 0;
        while (off < size) {
            ssize_t n = send(fd, p + off, size - off, MSG_NOSIGNAL);
            if (n > 0)
                off += (size_t)n;
            else if (n < 0 && errno == EINTR)
                continue;
            else
                _exit(6);
        }
    }
    double t = ttm_bench_now_s(); /* when its last message went out: fairness */
    close(fd);
    _exit(write(done, &t, sizeof t) == (ssize_t)sizeof t ? 0 : 7);
}

typedef struct clients {
    pid_t pid[MAX_CLIENTS];
    unsigned n;
    int gate;                    /* write end: closing it lets every client go */
    int done;                    /* read end: each client's end time */
    double t0;                   /* the gate's opening */
    double first_end, last_end;  /* seconds after t0: the first and the last client done */
} clients;

/* Forks k clients connected to path, each with its share of total messages (pairs), and
 * returns once every one is connected and waiting. */
static void clients_start(clients *cl, unsigned k, const char *path, uint64_t total,
                          unsigned size)
{
    int ready[2], gate[2], done[2];
    if (pipe(ready) != 0 || pipe(gate) != 0 || pipe(done) != 0)
        die("pipe");
    cl->n = k;
    uint64_t per = total / k;
    for (unsigned i = 0; i < k; i++) {
        uint64_t count = i + 1 < k ? per : total - per * (k - 1);
        pid_t pid = fork();
        if (pid < 0)
            die("fork");
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            close(ready[0]);
            close(gate[1]);
            close(done[0]);
            client_main(i, path, count, size, ready[1], gate[0], done[1]);
        }
        cl->pid[i] = pid;
    }
    close(ready[1]);
    close(gate[0]);
    close(done[1]);
    cl->done = done[0];
    for (unsigned i = 0; i < k; i++) {
        char c;
        if (read(ready[0], &c, 1) != 1)
            die("a client could not connect or prepare its messages");
    }
    close(ready[0]);
    cl->gate = gate[1];
}

static void clients_go(clients *cl)
{
    cl->t0 = ttm_bench_now_s();
    close(cl->gate);
}

/* Waits for every client to be done, notes the first and last end, and reaps them; false
 * when one failed. */
static bool clients_wait(clients *cl)
{
    bool ok = true;
    cl->first_end = 1e30;
    cl->last_end = 0;
    for (unsigned i = 0; i < cl->n; i++) {
        double t;
        if (read(cl->done, &t, sizeof t) != (ssize_t)sizeof t) {
            ok = false;
            break;
        }
        t -= cl->t0;
        cl->first_end = t < cl->first_end ? t : cl->first_end;
        cl->last_end = t > cl->last_end ? t : cl->last_end;
    }
    close(cl->done);
    for (unsigned i = 0; i < cl->n; i++) {
        int st = 0;
        while (waitpid(cl->pid[i], &st, 0) < 0 && errno == EINTR) {
        }
        ok = ok && WIFEXITED(st) && WEXITSTATUS(st) == 0;
    }
    return ok;
}

/* ---- (a) the read-only sink ------------------------------------------------------------------- */

typedef struct sink_conn {
    int fd;
    size_t held; /* bytes of a message begun in the previous read */
    uint8_t buf[SINK_READ + TTM_POC_MAX_SIZE];
} sink_conn;

/* The sink process: accepts k connections, reads and frames until total messages came, then
 * writes its count on done and exits. */
static void sink_main(int lfd, unsigned k, uint64_t total, unsigned size, int done)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        _exit(2);
    sink_conn *conns = calloc(k, sizeof *conns);
    if (conns == NULL)
        _exit(3);
    for (unsigned i = 0; i < k; i++) {
        conns[i].fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (conns[i].fd < 0)
            _exit(4);
        struct epoll_event e = {.events = EPOLLIN, .data.ptr = &conns[i]};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &e) != 0)
            _exit(5);
    }
    uint64_t got = 0, bad = 0;
    while (got < total) {
        struct epoll_event evs[64];
        int n = epoll_wait(ep, evs, 64, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            _exit(6);
        for (int i = 0; i < n; i++) {
            sink_conn *c = evs[i].data.ptr;
            for (;;) {
                ssize_t r = recv(c->fd, c->buf + c->held, SINK_READ, MSG_DONTWAIT);
                if (r == 0) /* the client is done */
                    (void)epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                if (r <= 0)
                    break;
                size_t avail = c->held + (size_t)r, pos = 0;
                for (; pos + size <= avail; pos += size) {
                    uint8_t t = c->buf[pos];
                    if (t >= TTM_POC_TYPE_MIN && t <= TTM_POC_TYPE_MAX)
                        got++;
                    else
                        bad++;
                }
                c->held = avail - pos;
                memmove(c->buf, c->buf + pos, c->held);
            }
        }
        if (bad > 0)
            break;
    }
    ssize_t w = write(done, &got, sizeof got);
    _exit(w == (ssize_t)sizeof got && bad == 0 ? 0 : 7);
}

typedef struct result {
    double wall_s;
    cpu_time cpu;               /* the server's, during the run */
    double first_end, last_end; /* the first and the last client done (s after the gate) */
    uint64_t taken;
} result;

static bool poll_during; /* --poll-during: status queries while the clients send */

static result run_sink(unsigned k, uint64_t total, unsigned size)
{
    result r = {0};
    unlink(sink_path);
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", sink_path);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 64) != 0)
        die("cannot listen on the sink's socket");
    int done[2];
    if (pipe(done) != 0)
        die("pipe");
    server_pid = fork();
    if (server_pid < 0)
        die("fork");
    if (server_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        close(done[0]);
        sink_main(lfd, k, total, size, done[1]);
    }
    close(done[1]);
    close(lfd);
    clients cl;
    clients_start(&cl, k, sink_path, total, size);
    clients_go(&cl);
    ssize_t n = read(done[0], &r.taken, sizeof r.taken);
    r.wall_s = ttm_bench_now_s() - cl.t0;
    r.cpu = cpu_seconds(server_pid); /* it has done nothing but this run */
    close(done[0]);
    if (n != (ssize_t)sizeof r.taken)
        r.taken = 0;
    if (!clients_wait(&cl))
        die("a client of the sink failed");
    r.first_end = cl.first_end;
    r.last_end = cl.last_end;
    int st;
    waitpid(server_pid, &st, 0);
    server_pid = -1;
    unlink(sink_path);
    return r;
}

/* ---- (b) ttmemd's legacy socket --------------------------------------------------------------- */

/* ALLOC + FREE messages the daemon has applied (its legacy counters), or -1 on failure. */
static int64_t daemon_taken(uint64_t *bad)
{
    ttm_snap_query q = {.sections = TTM_SNAP_BIT(TTM_SNAP_SEC_LEGACY)};
    ttm_report s;
    char msg[200];
    if (ttm_report_fetch(query, &q, 30000, &s, msg, sizeof msg) != TTM_OK)
        die(msg);
    int64_t n = (int64_t)(s.legacy.messages[TTM_POC_ALLOC] + s.legacy.messages[TTM_POC_FREE]);
    *bad = s.legacy.bad;
    ttm_report_clear(&s);
    return n;
}

static result run_daemon(const char *ttmemd, unsigned k, uint64_t total, unsigned size)
{
    result r = {0};
    const char *extra[] = {"--poc-socket", poc_path, "--no-state", NULL};
    char err[256];
    server_pid = ttm_bench_ttmemd_start(ttmemd, sock, extra, err, sizeof err);
    if (server_pid < 0)
        die(err);
    clients cl;
    clients_start(&cl, k, poc_path, total, size);
    cpu_time cpu0 = cpu_seconds(server_pid);
    clients_go(&cl);
    /* The daemon cannot be done before the last client sent its last message: no status
     * query competes with the clients for the daemon until then (--poll-during: it does). */
    bool clients_ok = poll_during || clients_wait(&cl);
    if (!clients_ok)
        die("a client of ttmemd failed");
    uint64_t bad = 0;
    for (;;) {
        int64_t n = daemon_taken(&bad);
        if (n >= (int64_t)total || bad > 0) {
            r.taken = (uint64_t)n;
            break;
        }
        /* what is left is at most the socket buffers' worth: a 0.2 ms sleep adds at most
         * that to the clock */
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
    }
    r.wall_s = ttm_bench_now_s() - cl.t0;
    r.cpu = cpu_since(server_pid, cpu0);
    if (poll_during && !clients_wait(&cl))
        die("a client of ttmemd failed");
    r.first_end = cl.first_end;
    r.last_end = cl.last_end;
    ttm_bench_ttmemd_stop(server_pid, sock, "");
    server_pid = -1;
    unlink(poc_path);
    return r;
}

/* ---- main ------------------------------------------------------------------------------------- */

static void print_row(const char *name, const result *r, uint64_t total)
{
    double n = (double)total;
    printf("    %-7s %7.1f K events/s   CPU %4.0f ns/msg (user %3.0f), waited for a CPU %4.0f "
           "ns/msg   clients done after %.3f-%.3f s",
           name, n / r->wall_s / 1e3, r->cpu.run_s / n * 1e9, r->cpu.user_s / n * 1e9,
           r->cpu.wait_s / n * 1e9, r->first_end, r->last_end);
    if (r->taken != total)
        printf("   TOOK %" PRIu64 " OF %" PRIu64, r->taken, total);
    printf("\n");
}

/* Sorts v (n > 0) and returns its median. */
static double median(double *v, unsigned n)
{
    qsort(v, n, sizeof v[0], ttm_bench_cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    char ttmemd[PATH_MAX] = "";
    uint64_t total = 1000000;
    unsigned size = TTM_POC_V3_SIZE, rounds = 5;
    unsigned ks[8] = {1, 4}, nks = 2;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--ttmemd") == 0 && i + 1 < argc)
            snprintf(ttmemd, sizeof ttmemd, "%s", argv[++i]);
        else if (strcmp(argv[i], "--messages") == 0 && i + 1 < argc)
            total = strtoull(argv[++i], NULL, 0);
        else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc)
            size = (unsigned)strtoul(argv[++i], NULL, 0);
        else if (strcmp(argv[i], "--poll-during") == 0)
            poll_during = true;
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = (unsigned)strtoul(argv[++i], NULL, 0);
        else if (strcmp(argv[i], "--clients") == 0 && i + 1 < argc) {
            nks = 0;
            for (char *s = argv[++i], *end; *s != '\0' && nks < 8; s = *end ? end + 1 : end) {
                unsigned long v = strtoul(s, &end, 10);
                if (end == s || v < 1 || v > MAX_CLIENTS) {
                    fprintf(stderr, "bench_poc_socket: --clients takes counts 1..%u, "
                                    "comma-separated\n", MAX_CLIENTS);
                    return 2;
                }
                ks[nks++] = (unsigned)v;
            }
        } else {
            fprintf(stderr, "usage: bench_poc_socket [--ttmemd PATH] [--messages N] "
                            "[--size 72|112|144] [--rounds R] [--clients K[,K...]] "
                            "[--poll-during]\n");
            return 2;
        }
    }
    if (!ttm__poc_size_valid(size) || total < 2 || rounds < 1 || rounds > MAX_ROUNDS ||
        nks == 0) {
        fprintf(stderr, "bench_poc_socket: --size must be 72, 112 or 144, --messages at least "
                        "2, --rounds 1..%u\n", MAX_ROUNDS);
        return 2;
    }
    ttm_bench_find_ttmemd(ttmemd, sizeof ttmemd);
    ttm_bench_private_paths("poc", dir, sizeof dir, sock, sizeof sock, query, sizeof query);
    snprintf(poc_path, sizeof poc_path, "%s/poc.sock", dir);
    snprintf(sink_path, sizeof sink_path, "%s/sink.sock", dir);

    ttm_bench_machine();
    printf("bench_poc_socket: %" PRIu64 " ALLOC/FREE messages of %u bytes, one blocking send() "
           "each, to a read-only sink and to ttmemd's legacy socket; %u rounds\n",
           total, size, rounds);
    int status = 0;
    for (unsigned ki = 0; ki < nks; ki++) {
        unsigned k = ks[ki];
        double ratio[MAX_ROUNDS], cpu_ratio[MAX_ROUNDS], sink_spread[MAX_ROUNDS],
            daemon_spread[MAX_ROUNDS];
        printf("%u client%s:\n", k, k == 1 ? "" : "s");
        for (unsigned round = 0; round < rounds; round++) {
            /* in turn first, so that neither gains from going second (a warm cache, a
             * neighbour's burst ending) */
            result s, d;
            if (round % 2 == 0) {
                s = run_sink(k, total, size);
                d = run_daemon(ttmemd, k, total, size);
            } else {
                d = run_daemon(ttmemd, k, total, size);
                s = run_sink(k, total, size);
            }
            if (s.taken != total || d.taken != total)
                status = 1;
            ratio[round] = s.wall_s / d.wall_s;
            cpu_ratio[round] = s.cpu.run_s > 0 ? d.cpu.run_s / s.cpu.run_s : 0;
            /* fairness: how far apart the clients finished, as a share of the last one's time */
            sink_spread[round] = s.last_end > 0 ? (s.last_end - s.first_end) / s.last_end : 0;
            daemon_spread[round] = d.last_end > 0 ? (d.last_end - d.first_end) / d.last_end : 0;
            printf("  round %u\n", round + 1);
            print_row("sink", &s, total);
            print_row("ttmemd", &d, total);
            printf("    ratio   %.3f of the sink's events/s; %.2fx its CPU per message\n",
                   ratio[round], cpu_ratio[round]);
            fflush(stdout);
        }
        double med = median(ratio, rounds), cpu_med = median(cpu_ratio, rounds);
        printf("  %u client%s over %u rounds: ttmemd / sink events/s median %.3f (min %.3f, "
               "max %.3f); CPU per message %.2fx the sink's (median)",
               k, k == 1 ? "" : "s", rounds, med, ratio[0], ratio[rounds - 1], cpu_med);
        if (k > 1)
            printf("; the clients' ends %.0f%% apart with the sink, %.0f%% with ttmemd (median)",
                   median(sink_spread, rounds) * 100, median(daemon_spread, rounds) * 100);
        printf("\n");
    }
    rmdir(dir);
    return status;
}
