/*
 * it_query_hostile.c — ttmemd's read side under attack (docs/RELIABILITY.md, items 12 to 14):
 * a real ttmemd on a temporary socket, a real innocent producer (it_client --stream through
 * libttmem) and hostile clients written here. One case per run:
 *
 *   query_flood        64 connections (the limit) ask the query socket for 100,000 live
 *                      buffers and never read the replies
 *   shm_flood          100,000 planted tt_device_N_memory files in the directory the metrics
 *                      endpoint and `ttmem status` read
 *   metrics_slowloris  96 HTTP connections from two addresses trickle one header line a second
 *                      and reconnect whenever they are closed
 *
 * Each case checks that the producer loses no event (its own stats and the daemon's counters
 * agree, nothing dropped), that the daemon's peak RSS (VmHWM) stays within a generous bound
 * that the unbounded code exceeds, that a legitimate query or scrape is answered while the
 * attack runs, and that each bound reached is counted. Nothing is decided by timing: every
 * wait is for a counter or an answer, under a generous overall deadline. The figures of the
 * run (peak RSS, how long the legitimate request took) are printed for docs/RELIABILITY.md.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/alloc.h"
#include "core/report.h"
#include "harness.h"

#define CASE_TIMEOUT_S 240
#define DEADLINE_MS 60000 /* what any one wait may take before the case fails */

static const char *g_ttmemd, *g_client, *g_ttmem;
static char g_sock[128], g_query[140];
static pid_t g_daemon;

/* ---- the daemon, the innocent producer ------------------------------------------------------ */

static void start_daemon(const char *const *extra)
{
    char err[160];
    snprintf(err, sizeof err, "%s/ttmemd.err", it_dir);
    /* a small quarantine under ASan, so that freed replies count as freed in the RSS */
    const char *asan = getenv("ASAN_OPTIONS");
    char opts[512];
    snprintf(opts, sizeof opts, "%s%squarantine_size_mb=8", asan ? asan : "", asan ? ":" : "");
    setenv("ASAN_OPTIONS", opts, 1);
    g_daemon = it_start_ttmemd(g_ttmemd, g_sock, err, extra);
}

/* Prints the daemon's last log lines that mention needle, to explain a failure. */
static void log_tail(const char *needle)
{
    char path[160], line[512], keep[20][512];
    size_t n = 0;
    snprintf(path, sizeof path, "%s/ttmemd.err", it_dir);
    FILE *f = fopen(path, "r");
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (strstr(line, needle) != NULL)
            snprintf(keep[n++ % 20], sizeof keep[0], "%s", line);
    if (f != NULL)
        fclose(f);
    for (size_t i = n > 20 ? n - 20 : 0; i < n; i++)
        fprintf(stderr, "  ttmemd: %s", keep[i % 20]);
}

static void snap(ttm_report *s, uint32_t sections)
{
    ttm_snap_query q = {.sections = sections};
    char msg[256];
    int err = ttm_report_fetch(g_query, &q, DEADLINE_MS, s, msg, sizeof msg);
    if (err != TTM_OK)
        log_tail("query");
    CHECK(err == TTM_OK, "query failed: %s", msg);
}

typedef struct client {
    pid_t pid;
    int in, out;
} client;

/* Starts it_client with args (NULL-terminated) reporting to the daemon. */
static client start_client(const char *const *args)
{
    static char sock_env[160];
    snprintf(sock_env, sizeof sock_env, "TTMEM_SOCKET=%s", g_sock);
    const char *env[] = {"TTMEM=1", sock_env, NULL};
    const char *argv[16] = {g_client};
    int n = 1;
    for (int i = 0; args[i] != NULL && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    client c;
    c.pid = it_spawn(argv, env, &c.in, &c.out);
    return c;
}

/* The innocent producer: alloc/free pairs as fast as it_client --stream goes. */
static client start_producer(void)
{
    client c = start_client((const char *const[]){"--device", "7", "--stream", NULL});
    it_wait_connected(g_query, c.pid, DEADLINE_MS);
    return c;
}

/* Stops the producer and checks that it lost nothing: no event dropped by the client, every
 * event it sent taken by the daemon, nothing dropped daemon-wide. */
static void finish_producer(client *c)
{
    CHECK(write(c->in, "q\n", 2) == 2, "write to the producer");
    char line[256];
    CHECK(it_read_line(c->out, line, sizeof line, DEADLINE_MS) == 0, "no stats from the producer");
    unsigned long long events = 0, dropped = 0, waited = 0;
    int fields = sscanf(line, "stats events=%llu dropped=%llu waited=%llu", &events, &dropped,
                        &waited);
    CHECK(fields == 3, "bad stats line '%s'", line);
    int st = it_wait_exit(c->pid, DEADLINE_MS);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "producer exit 0x%x", st);
    printf("%s: producer sent %llu events, dropped %llu, waited %llu times for room\n", it_case,
           events, dropped, waited);
    CHECK_EQ(dropped, 0);
    CHECK(events > 0, "the producer sent nothing");
    int64_t deadline = it_now_ms() + DEADLINE_MS;
    for (;;) {
        ttm_report s;
        snap(&s, TTM_SNAP_WANT_STATUS);
        const ttm_report_proc *p = it_proc_of(&s, c->pid);
        uint64_t got = p != NULL ? p->events : 0, pdrop = p != NULL ? p->dropped : 0;
        uint64_t ddrop = s.daemon.dropped;
        ttm_report_clear(&s);
        CHECK_EQ(pdrop, 0);
        CHECK_EQ(ddrop, 0);
        if (got == events)
            break;
        CHECK(got < events, "the daemon has %llu events of a producer that sent %llu",
              (unsigned long long)got, events);
        CHECK(it_now_ms() < deadline, "the daemon took %llu of %llu events",
              (unsigned long long)got, events);
        it_sleep_ms(20);
    }
    close(c->in);
    close(c->out);
}

/* Stops the daemon: it must exit 0 and its log hold no sanitizer report. */
static void finish_daemon(void)
{
    CHECK(kill(g_daemon, SIGTERM) == 0, "SIGTERM");
    int st = it_wait_exit(g_daemon, DEADLINE_MS);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "ttmemd stopped with 0x%x", st);
    char path[160], line[512];
    snprintf(path, sizeof path, "%s/ttmemd.err", it_dir);
    FILE *f = fopen(path, "r");
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        CHECK(strstr(line, "Sanitizer") == NULL && strstr(line, "runtime error") == NULL,
              "sanitizer report: %s", line);
    if (f != NULL)
        fclose(f);
}

static long hwm_mib(void)
{
    long k = it_proc_kib(g_daemon, "VmHWM");
    CHECK(k > 0, "no VmHWM for the daemon");
    return k / 1024;
}

/* ---- 12: the query socket -------------------------------------------------------------------- */

#define FLOOD_LIVE "100000"
#define FLOOD_CONNS 64 /* every slot of the query socket */

static int query_connect(void)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0, "socket");
    int small = 4096; /* keep what the kernel buffers for it small: the daemon must hold it */
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    CHECK(strlen(g_query) < sizeof sa.sun_path, "query path too long");
    memcpy(sa.sun_path, g_query, strlen(g_query) + 1);
    CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0, "connect to the query socket");
    return fd;
}

static void case_query_flood(void)
{
    start_daemon(NULL);
    client filler = start_client(
        (const char *const[]){"--device", "1", "--leak", FLOOD_LIVE, "--hold", NULL});
    char line[128];
    CHECK(it_read_line(filler.out, line, sizeof line, DEADLINE_MS) == 0 &&
              strncmp(line, "ready", 5) == 0,
          "the filler is not ready: '%s'", line);
    client prod = start_producer();
    ttm_report s;
    snap(&s, TTM_SNAP_WANT_STATUS);
    CHECK(s.sections & TTM_SNAP_BIT(TTM_SNAP_SEC_SERVICE), "no service section");
    /* the filler's own buffers: the producer's alloc/free pairs may hold one more meanwhile */
    const ttm_report_proc *fp = it_proc_of(&s, (uint32_t)filler.pid);
    CHECK(fp != NULL, "the filler is unknown");
    CHECK_EQ(fp->stats.live_records, atoll(FLOOD_LIVE));
    uint64_t q0 = s.daemon.queries;
    ttm_report_clear(&s);
    long base = hwm_mib();

    /* the attack: ask for every live buffer (4.8 MB each), never read */
    int att[FLOOD_CONNS];
    ttm_bytes req = {0};
    ttm_snap_query dump = {.sections = TTM_SNAP_WANT_DUMP};
    CHECK(ttm__snap_encode_query(&dump, &req) == TTM_OK, "encode");
    for (int i = 0; i < FLOOD_CONNS; i++) {
        att[i] = query_connect();
        CHECK(write(att[i], req.data, req.len) == (ssize_t)req.len, "send the query");
    }
    /* a legitimate client takes one of the slots back from them */
    ttm__bytes_free(&req);

    /* legitimate status queries meanwhile, until every attacking query was either built or is
     * waiting for room, and one reply that was not read has been cut at its deadline */
    int64_t deadline = it_now_ms() + 3 * DEADLINE_MS, worst = 0;
    uint64_t polls = 0;
    ttm_report_service v;
    uint64_t retries = 0;
    for (;;) {
        int64_t t0 = it_now_ms();
        /* every slot is taken: a newcomer gets one once an unread reply is old enough to give
         * way, and until then "too many query connections; retry" */
        ttm_snap_query sq = {.sections = TTM_SNAP_WANT_STATUS};
        char msg[256];
        int err;
        while ((err = ttm_report_fetch(g_query, &sq, DEADLINE_MS, &s, msg, sizeof msg)) ==
               TTM_ELIMIT) {
            retries++;
            CHECK(it_now_ms() < deadline, "no room for a legitimate query: %s", msg);
            it_sleep_ms(20);
        }
        CHECK(err == TTM_OK, "a legitimate query failed: %s", msg);
        int64_t took = it_now_ms() - t0;
        worst = took > worst ? took : worst;
        polls++;
        v = s.service;
        uint64_t built = s.daemon.queries - q0 - polls;
        ttm_report_clear(&s);
        if (built + v.query_waited >= FLOOD_CONNS && v.query_cut >= 1)
            break;
        CHECK(it_now_ms() < deadline, "attack not absorbed: %llu built, %llu waiting, %llu cut",
              (unsigned long long)built, (unsigned long long)v.query_waited,
              (unsigned long long)v.query_cut);
        it_sleep_ms(50);
    }
    long peak = hwm_mib();
    printf("%s: daemon peak RSS %ld MiB (%ld MiB before the attack); %llu legitimate queries "
           "answered during it (%llu retries at the connection limit), the slowest in %lld ms; "
           "replies buffered at most %llu bytes; %llu queries waited, %llu connections cut, "
           "%llu evicted\n",
           it_case, peak, base, (unsigned long long)polls, (unsigned long long)retries,
           (long long)worst, (unsigned long long)v.query_buffered_peak,
           (unsigned long long)v.query_waited, (unsigned long long)v.query_cut,
           (unsigned long long)v.query_evicted);
    CHECK(v.query_buffered_peak <= v.query_out_max + (32u << 20),
          "replies buffered: %llu bytes, budget %llu", (unsigned long long)v.query_buffered_peak,
          (unsigned long long)v.query_out_max);
    CHECK(peak - base < 192, "the daemon grew by %ld MiB during the attack", peak - base);
    for (int i = 0; i < FLOOD_CONNS; i++)
        close(att[i]);

    /* the whole dump still works for a client that reads it */
    snap(&s, TTM_SNAP_WANT_DUMP);
    CHECK_EQ(s.nlive, atoll(FLOOD_LIVE));
    ttm_report_clear(&s);
    finish_producer(&prod);
    CHECK(write(filler.in, "go\n", 3) == 3, "release the filler");
    it_wait_exit(filler.pid, DEADLINE_MS);
    finish_daemon();
}

/* ---- HTTP ------------------------------------------------------------------------------------ */

static uint16_t free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
              getsockname(fd, (struct sockaddr *)&a, &len) == 0,
          "a free port");
    close(fd);
    return ntohs(a.sin_port);
}

/* A TCP connection to 127.0.0.1:port from the address src ("127.0.0.2"); -1 when refused. */
static int tcp_connect(const char *src, uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in from = {.sin_family = AF_INET};
    inet_pton(AF_INET, src, &from.sin_addr);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    if (bind(fd, (struct sockaddr *)&from, sizeof from) != 0 ||
        connect(fd, (struct sockaddr *)&to, sizeof to) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* GET /metrics from 127.0.0.1, Connection: close; the body (malloc'ed, NUL-terminated) or
 * it_fail unless the answer is 200 within DEADLINE_MS. *took_ms gets how long it took. */
static char *scrape(uint16_t port, int64_t *took_ms)
{
    int64_t t0 = it_now_ms(), deadline = t0 + DEADLINE_MS;
    int fd = tcp_connect("127.0.0.1", port);
    CHECK(fd >= 0, "connect to the metrics port");
    static const char get[] = "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    CHECK(write(fd, get, sizeof get - 1) == (ssize_t)(sizeof get - 1), "send the request");
    size_t len = 0, cap = 1 << 16;
    char *buf = ttm__xmalloc(cap);
    for (;;) {
        int64_t left = deadline - it_now_ms();
        CHECK(left > 0, "no answer to a scrape within %d ms (%zu bytes so far)", DEADLINE_MS,
              len);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        if (len + 4096 > cap)
            buf = ttm__xreallocarray(buf, cap *= 2, 1);
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    *took_ms = it_now_ms() - t0;
    CHECK(strncmp(buf, "HTTP/1.1 200", 12) == 0, "scrape answered '%.40s'", buf);
    char *body = strstr(buf, "\r\n\r\n");
    CHECK(body != NULL, "no body");
    memmove(buf, body + 4, strlen(body + 4) + 1);
    return buf;
}

/* The value of the sample named exactly `series` in an exposition, or -1. */
static long long sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; (p = strstr(p, series)) != NULL; p += n)
        if ((p == text || p[-1] == '\n') && p[n] == ' ')
            return atoll(p + n + 1);
    return -1;
}

/* ---- 13: planted TT-Metal regions ------------------------------------------------------------ */

#define PLANTED 100000

static void case_shm_flood(void)
{
    char dir[128];
    snprintf(dir, sizeof dir, "%s/shm", it_dir);
    CHECK(mkdir(dir, 0700) == 0, "mkdir");
    for (int i = 0; i < PLANTED; i++) {
        char path[192];
        snprintf(path, sizeof path, "%s/tt_device_%d_memory", dir, i);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        CHECK(fd >= 0 && write(fd, "tiny", 4) == 4, "plant %s", path);
        close(fd);
    }
    char port[8];
    uint16_t p = free_port();
    snprintf(port, sizeof port, "%u", (unsigned)p);
    start_daemon((const char *const[]){"--metrics-listen", port, "--shm-dir", dir, NULL});
    client prod = start_producer();
    long base = hwm_mib();
    int64_t worst = 0;
    for (int k = 0; k < 5; k++) {
        int64_t took;
        char *t = scrape(p, &took);
        worst = took > worst ? took : worst;
        CHECK_EQ(sample(t, "ttmem_ttmetal_scan{kind=\"entries_capped\"}"), 1);
        CHECK(sample(t, "ttmem_ttmetal_scan{kind=\"entries\"}") > 0, "entries examined");
        CHECK_EQ(sample(t, "ttmem_ttmetal_regions{state=\"invalid\"}"), 256);
        CHECK_EQ(sample(t, "ttmem_daemon_up"), 1);
        free(t);
    }
    long peak = hwm_mib();
    printf("%s: %d planted files: daemon peak RSS %ld MiB (%ld MiB before the scrapes); 5 "
           "scrapes answered 200, the slowest in %lld ms\n",
           it_case, PLANTED, peak, base, (long long)worst);
    CHECK(peak - base < 64, "the daemon grew by %ld MiB while scraped", peak - base);

    /* `ttmem status` reads the same directory with the same bounds */
    char out[160];
    snprintf(out, sizeof out, "%s/status.out", it_dir);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, STDOUT_FILENO);
        execl(g_ttmem, g_ttmem, "status", "--socket", g_sock, "--shm-dir", dir, (char *)NULL);
        _exit(127);
    }
    int st;
    struct rusage ru;
    CHECK(wait4(pid, &st, 0, &ru) == pid, "wait4");
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "ttmem status exit 0x%x", st);
    printf("%s: ttmem status peak RSS %ld MiB\n", it_case, ru.ru_maxrss / 1024);
    CHECK(ru.ru_maxrss / 1024 < 64, "ttmem status used %ld MiB", ru.ru_maxrss / 1024);
    FILE *f = fopen(out, "r");
    char line[512];
    bool skipped = false, capped = false;
    size_t invalid = 0;
    while (f != NULL && fgets(line, sizeof line, f) != NULL) {
        skipped |= strstr(line, "more regions not read: at most 256") != NULL;
        capped |= strstr(line, "entries: the rest were not examined") != NULL;
        invalid += strstr(line, "invalid, not shown") != NULL;
    }
    if (f != NULL)
        fclose(f);
    CHECK(capped, "ttmem status does not say the directory was cut short");
    CHECK(skipped, "ttmem status does not say regions were skipped");
    CHECK_EQ(invalid, 256);
    finish_producer(&prod);
    finish_daemon();
}

/* ---- 14: slowloris ----------------------------------------------------------------------------- */

#define LORIS 96

/* The attacker (a forked process): LORIS connections, half from 127.0.0.2 and half from
 * 127.0.0.3, each sending a request line and then one header line a second, forever; a closed
 * connection is opened again at the next second. Writes "open" once all were tried. */
static void loris(uint16_t port, int report)
{
    int fd[LORIS];
    for (int i = 0; i < LORIS; i++)
        fd[i] = -1;
    bool told = false;
    for (;;) {
        for (int i = 0; i < LORIS; i++) {
            if (fd[i] >= 0) {
                char b[256];
                ssize_t n = recv(fd[i], b, sizeof b, MSG_DONTWAIT);
                if (n == 0 || (n < 0 && errno != EAGAIN) ||
                    send(fd[i], "X-Trickle: 1\r\n", 14, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
                    close(fd[i]);
                    fd[i] = -1;
                }
                continue;
            }
            fd[i] = tcp_connect(i % 2 ? "127.0.0.3" : "127.0.0.2", port);
            static const char start[] = "GET /metrics HTTP/1.1\r\nHost: t\r\n";
            if (fd[i] >= 0 &&
                send(fd[i], start, sizeof start - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
                close(fd[i]);
                fd[i] = -1;
            }
        }
        if (!told)
            told = write(report, "open\n", 5) == 5;
        sleep(1);
    }
}

static void case_metrics_slowloris(void)
{
    char port[8];
    uint16_t p = free_port();
    snprintf(port, sizeof port, "%u", (unsigned)p);
    start_daemon((const char *const[]){"--metrics-listen", port, NULL});
    client prod = start_producer();
    long base = hwm_mib();
    int rp[2];
    CHECK(pipe(rp) == 0, "pipe");
    pid_t att = fork();
    CHECK(att >= 0, "fork");
    if (att == 0) {
        close(rp[0]);
        loris(p, rp[1]);
        _exit(0);
    }
    it_track(att);
    close(rp[1]);
    char line[32];
    CHECK(it_read_line(rp[0], line, sizeof line, DEADLINE_MS) == 0, "the attacker did not start");

    /* a legitimate scrape while the attack runs, then more until the deadline has cut the
     * trickling connections (they come back: the attack goes on) */
    int64_t took, worst;
    char *t = scrape(p, &took);
    worst = took;
    long long per_addr = sample(t, "ttmem_http_connections_closed_total{reason=\"per_address\"}");
    CHECK(per_addr >= LORIS - 2 * 8 - 8, "only %lld refused at the per-address limit", per_addr);
    free(t);
    int64_t deadline = it_now_ms() + 2 * DEADLINE_MS;
    long long cut;
    int scrapes = 1;
    for (;;) {
        t = scrape(p, &took);
        scrapes++;
        worst = took > worst ? took : worst;
        cut = sample(t, "ttmem_http_connections_closed_total{reason=\"deadline\"}");
        free(t);
        if (cut >= 2 * 8)
            break;
        CHECK(it_now_ms() < deadline, "only %lld connections cut at the deadline", cut);
        it_sleep_ms(200);
    }
    long peak = hwm_mib();
    printf("%s: %d trickling connections from 2 addresses: %d scrapes answered 200 during the "
           "attack, the slowest in %lld ms; %lld connections cut at the deadline; daemon peak "
           "RSS %ld MiB (%ld MiB before)\n",
           it_case, LORIS, scrapes, (long long)worst, cut, peak, base);
    CHECK(peak - base < 64, "the daemon grew by %ld MiB", peak - base);
    kill(att, SIGKILL);
    it_wait_exit(att, DEADLINE_MS);
    close(rp[0]);
    finish_producer(&prod);
    finish_daemon();
}

static const it_case_entry cases[] = {
    {"query_flood", case_query_flood},
    {"shm_flood", case_shm_flood},
    {"metrics_slowloris", case_metrics_slowloris},
};

int main(int argc, char **argv)
{
    static const it_program prog = {"it_query_hostile", "TTMEMD IT_CLIENT TTMEM",
                                    {&g_ttmemd, &g_client, &g_ttmem},
                                    cases, sizeof cases / sizeof cases[0],
                                    "/tmp/ttmem-qh.XXXXXX", CASE_TIMEOUT_S};
    int status;
    void (*fn)(void) = it_main_begin(&prog, argc, argv, &status);
    if (fn == NULL)
        return status;
    snprintf(g_sock, sizeof g_sock, "%s/d.sock", it_dir);
    snprintf(g_query, sizeof g_query, "%s.query", g_sock);
    fn();
    return it_passed();
}
