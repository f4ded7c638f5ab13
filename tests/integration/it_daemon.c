/*
 * it_daemon.c — integration tests of ttmemd with real processes: a real daemon on a socket in
 * a temporary directory, real clients (it_client, through libttmem), hostile clients
 * (it_hostile, the protocol spoken by hand, then abused), checks through the query socket's
 * snapshot. One case per run: `it_daemon CASE TTMEMD IT_CLIENT IT_HOSTILE TTMEM`; ctest runs
 * each case as its own test with a timeout. No check depends on timing: cases wait for a
 * counter, an event or a line, with a generous deadline that only turns a hang into a failure.
 *
 * Every process a case starts is recorded and killed at exit (normal, failed check, or the
 * case's own alarm), and the temporary directory is removed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/proto.h"
#include "common/ring.h"
#include "core/report.h"
#include "core/registry.h"
#include "harness.h"

extern char **environ;

#define CASE_TIMEOUT_S 90

static const char *g_ttmemd, *g_client, *g_hostile, *g_ttmem;
static char g_sock[128], g_query[140];
static pid_t g_daemons[8]; /* stopped with SIGTERM at the end: each must exit 0 */
static int g_ndaemons;

/* ---- harness ----------------------------------------------------------------------------- */

/* Copies a path known to be short (under the 64-byte it_dir) into a socket address. */
static void set_sun_path(struct sockaddr_un *sa, const char *path)
{
    size_t n = strlen(path);
    if (n >= sizeof sa->sun_path)
        n = sizeof sa->sun_path - 1;
    memcpy(sa->sun_path, path, n);
    sa->sun_path[n] = '\0';
}

/* Forgets pid: no longer killed at the end, no longer a daemon that must stop cleanly. */
static void untrack(pid_t pid)
{
    it_untrack(pid);
    for (int i = 0; i < g_ndaemons; i++)
        if (g_daemons[i] == pid)
            g_daemons[i] = -1;
}

/* Waits for pid to end; returns its wait status. */
static int wait_exit(pid_t pid, int timeout_ms)
{
    int status = it_wait_exit(pid, timeout_ms);
    untrack(pid);
    return status;
}

/* Starts ttmemd on g_sock with extra arguments (NULL-terminated). stderr goes to errfile.
 * Waits until it listens. */
static pid_t start_daemon_at(const char *sock, const char *errfile, const char *const *extra)
{
    pid_t pid = it_start_ttmemd(g_ttmemd, sock, errfile, extra);
    if (g_ndaemons < (int)(sizeof g_daemons / sizeof g_daemons[0]))
        g_daemons[g_ndaemons++] = pid;
    return pid;
}

static pid_t start_daemon(const char *const *extra)
{
    char err[160];
    snprintf(err, sizeof err, "%s/ttmemd.err", it_dir);
    return start_daemon_at(g_sock, err, extra);
}

typedef struct client {
    pid_t pid;
    int in, out; /* its stdin (we write), its stdout (we read) */
} client;

/* Starts prog with args (after argv[0]) with its stdin and stdout on pipes; enabled sets
 * TTMEM=1; TTMEM_SOCKET is always set; extra_env is one more NAME=VALUE or NULL. */
static client start_prog(const char *prog, bool enabled, const char *extra_env,
                         const char *const *args)
{
    char sock_env[160];
    snprintf(sock_env, sizeof sock_env, "TTMEM_SOCKET=%s", g_sock);
    const char *env[7] = {"TTMEM", "TT_ALLOC_TRACKING_ENABLED", "TTMEM_RING_SLOTS", sock_env};
    int nenv = 4;
    if (enabled)
        env[nenv++] = "TTMEM=1";
    if (extra_env != NULL)
        env[nenv++] = extra_env;
    const char *argv[32] = {prog};
    int n = 1;
    for (int i = 0; args != NULL && args[i] != NULL && n < 30; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    client c;
    c.pid = it_spawn(argv, env, &c.in, &c.out);
    return c;
}

/* Starts it_client with args; enabled sets TTMEM=1; extra_env is one more NAME=VALUE or NULL. */
static client start_client(bool enabled, const char *extra_env, const char *const *args)
{
    return start_prog(g_client, enabled, extra_env, args);
}

static void client_close(client *c)
{
    if (c->in >= 0)
        close(c->in);
    if (c->out >= 0)
        close(c->out);
    c->in = c->out = -1;
}

typedef struct cstats {
    unsigned long long events, dropped, waited, reconnects;
    int connected, enabled, flush;
} cstats;

/* Reads the client's final "stats ..." line. */
static cstats read_stats(client *c, int timeout_ms)
{
    char line[256];
    cstats s;
    memset(&s, 0, sizeof s);
    CHECK(it_read_line(c->out, line, sizeof line, timeout_ms) == 0, "no stats from pid %d",
          (int)c->pid);
    int n = sscanf(line,
                   "stats events=%llu dropped=%llu waited=%llu reconnects=%llu connected=%d "
                   "enabled=%d flush=%d",
                   &s.events, &s.dropped, &s.waited, &s.reconnects, &s.connected, &s.enabled,
                   &s.flush);
    CHECK(n == 7, "bad stats line '%s'", line);
    return s;
}

/* Predicates of it_wait_proc(). */
static bool proc_disconnected(const ttm_report_proc *p, void *arg)
{
    (void)arg;
    return p != NULL && !p->connected;
}

static bool proc_has_events(const ttm_report_proc *p, void *arg)
{
    (void)arg;
    return p != NULL && p->events > 0;
}

static void snap(ttm_report *s, uint32_t sections)
{
    it_snap(g_query, sections, 5000, s);
}

/* Waits until no session is open (every client's exit handled). */
static void settle(void)
{
    int64_t deadline = it_now_ms() + 10000;
    for (;;) {
        ttm_report s;
        snap(&s, TTM_SNAP_WANT_STATUS);
        bool open = s.daemon.clients_connected > 0;
        for (size_t i = 0; i < s.nprocs; i++)
            open |= s.procs[i].connected;
        ttm_report_clear(&s);
        if (!open)
            return;
        CHECK(it_now_ms() < deadline, "sessions still open after 10 s");
        it_sleep_ms(10);
    }
}

/* Waits until the daemon has taken at least n events of pid. */
static bool proc_events_at_least(const ttm_report_proc *p, void *arg)
{
    return p != NULL && p->events >= *(const uint64_t *)arg;
}

static void wait_events(pid_t pid, uint64_t n, int timeout_ms)
{
    char what[64];
    snprintf(what, sizeof what, "fewer than %llu events", (unsigned long long)n);
    it_wait_proc(g_query, pid, proc_events_at_least, &n, timeout_ms, what, NULL);
}

/* Waits until the daemon-wide counter picked by field reaches n; returns its value. */
static uint64_t wait_daemon_counter(size_t field, const char *name, uint64_t n, int timeout_ms)
{
    int64_t deadline = it_now_ms() + timeout_ms;
    for (;;) {
        ttm_report s;
        snap(&s, TTM_SNAP_WANT_STATUS);
        uint64_t v;
        memcpy(&v, (const char *)&s.daemon + field, sizeof v);
        ttm_report_clear(&s);
        if (v >= n)
            return v;
        CHECK(it_now_ms() < deadline, "%s is %llu after %d ms, expected %llu", name,
              (unsigned long long)v, timeout_ms, (unsigned long long)n);
        it_sleep_ms(10);
    }
}
#define WAIT_DAEMON(field, n, ms)                                                               \
    wait_daemon_counter(offsetof(ttm_report_daemon, field), #field, (n), (ms))

/* Maps (read-only) the ring libttmem made in process pid, through /proc/PID/fd. */
static const ttm_ring_hdr *map_client_ring(pid_t pid, size_t *bytes)
{
    char dir[64], path[400], target[256];
    snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
    DIR *dd = opendir(dir);
    CHECK(dd != NULL, "cannot list %s", dir);
    struct dirent *e;
    const ttm_ring_hdr *h = NULL;
    while (h == NULL && (e = readdir(dd)) != NULL) {
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        ssize_t n = readlink(path, target, sizeof target - 1);
        if (n <= 0)
            continue;
        target[n] = '\0';
        if (strncmp(target, "/memfd:ttmem", 12) != 0)
            continue;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0 || (size_t)st.st_size < sizeof(ttm_ring_hdr)) {
            if (fd >= 0)
                close(fd);
            continue;
        }
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
        close(fd);
        if (m == MAP_FAILED)
            continue;
        if (((const ttm_ring_hdr *)m)->magic == TTM_RING_MAGIC) {
            h = m;
            *bytes = (size_t)st.st_size;
        } else {
            munmap(m, (size_t)st.st_size);
        }
    }
    closedir(dd);
    CHECK(h != NULL, "no ring found in pid %d", (int)pid);
    return h;
}

static void write_line(client *c, const char *s)
{
    CHECK(write(c->in, s, strlen(s)) == (ssize_t)strlen(s), "write to client");
}

static bool file_contains(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    char line[1024];
    bool found = false;
    while (!found && fgets(line, sizeof line, f) != NULL)
        found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

/* ---- cases -------------------------------------------------------------------------------- */

/* N processes x M threads x K pairs, plus L leaks each: exact counts everywhere. */
static void case_counts(void)
{
    enum { N = 4, M = 4, K = 5000, L = 3 };
    start_daemon(NULL);
    client c[N];
    char dev[N][8];
    for (int i = 0; i < N; i++) {
        snprintf(dev[i], sizeof dev[i], "%d", i);
        const char *args[] = {"--pairs", "5000", "--threads", "4", "--device", dev[i],
                              "--leak", "3", NULL};
        c[i] = start_client(true, NULL, args);
    }
    const unsigned long long per = 2ull * M * K + L;
    for (int i = 0; i < N; i++) {
        cstats st = read_stats(&c[i], 60000);
        CHECK_EQ(st.enabled, 1);
        CHECK_EQ(st.events, per);
        CHECK_EQ(st.dropped, 0);
        CHECK_EQ(st.flush, TTM_OK);
        int status = wait_exit(c[i].pid, 10000);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "client exit status 0x%x", status);
    }
    settle();
    ttm_report s;
    snap(&s, TTM_SNAP_WANT_STATUS);
    CHECK_EQ(s.daemon.events, N * per);
    CHECK_EQ(s.daemon.dropped, 0);
    CHECK_EQ(s.daemon.clients_total, N);
    CHECK_EQ(s.daemon.clients_connected, 0);
    CHECK_EQ(s.totals.allocs, N * (1ull * M * K + L));
    CHECK_EQ(s.totals.frees, N * 1ull * M * K);
    CHECK_EQ(it_class(&s, TTM_CLASS_ALLOC_OK), N * (1ull * M * K + L));
    CHECK_EQ(it_class(&s, TTM_CLASS_FREE_OK), N * 1ull * M * K);
    CHECK_EQ(it_class(&s, TTM_CLASS_LEAKED_AT_EXIT), N * L);
    CHECK_EQ(s.totals.live_records, 0);
    for (unsigned k = 0; k < TTM_CLASS__COUNT; k++)
        if (k != TTM_CLASS_ALLOC_OK && k != TTM_CLASS_FREE_OK && k != TTM_CLASS_LEAKED_AT_EXIT)
            CHECK(s.totals.class_count[k] == 0, "unexpected class %s", ttm_class_name(k));
    for (int i = 0; i < N; i++) {
        const ttm_report_proc *p = it_proc_of(&s, c[i].pid);
        CHECK(p != NULL, "pid %d missing", (int)c[i].pid);
        CHECK_EQ(p->events, per);
        CHECK_EQ(p->stats.leaked_count, L);
        CHECK_EQ(p->stats.leaked_bytes, L * 1024ull);
        CHECK(!p->stats.alive && !p->connected, "pid %d still alive", (int)c[i].pid);
        CHECK(strcmp(p->name, "it_client") == 0, "name '%s'", p->name);
        client_close(&c[i]);
    }
    CHECK_EQ(s.ndevices, N);
    for (size_t i = 0; i < s.ndevices; i++) {
        const ttm_memstat *m = &s.devices[i].mem[TTM_MEM_DRAM];
        CHECK_EQ(m->live_bytes, 0);
        CHECK_EQ(m->allocs, 1ull * M * K);
        CHECK(m->peak_bytes >= 1ull * K * 4096 && m->peak_bytes <= 1ull * M * K * 4096,
              "peak %llu", (unsigned long long)m->peak_bytes);
    }
    ttm_report_clear(&s);
}

/* A client killed by SIGKILL while its committed events are still in the ring (the daemon is
 * stopped meanwhile): nothing is lost, its buffers are leaked_at_exit and reclaimed. */
static void case_sigkill(void)
{
    enum { K = 5000 };
    pid_t d = start_daemon(NULL);
    /* one allocation opens the session, then the burst waits for "go" */
    const char *args[] = {"--alloc-at", "0x5000", "--hold", "--burst", "5000", NULL};
    client c = start_client(true, NULL, args);
    char line[128];
    CHECK(it_read_line(c.out, line, sizeof line, 10000) == 0 && strcmp(line, "ready 0") == 0,
          "client not ready: '%s'", line);
    CHECK(kill(d, SIGSTOP) == 0, "SIGSTOP");
    write_line(&c, "go\n");
    CHECK(it_read_line(c.out, line, sizeof line, 10000) == 0 && strcmp(line, "committed 5000") == 0,
          "no burst: '%s'", line);
    CHECK(kill(c.pid, SIGKILL) == 0, "SIGKILL");
    int status = wait_exit(c.pid, 5000);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "status 0x%x", status);
    CHECK(kill(d, SIGCONT) == 0, "SIGCONT");
    settle();
    ttm_report s;
    snap(&s, TTM_SNAP_WANT_REPORT);
    const ttm_report_proc *p = it_proc_of(&s, c.pid);
    CHECK(p != NULL, "killed pid missing");
    CHECK_EQ(p->events, K + 1);
    CHECK_EQ(s.totals.allocs, K + 1);
    CHECK_EQ(p->stats.leaked_count, K + 1);
    CHECK_EQ(p->stats.leaked_bytes, (K + 1) * 4096ull);
    CHECK_EQ(it_class(&s, TTM_CLASS_LEAKED_AT_EXIT), K + 1);
    CHECK_EQ(s.totals.live_records, 0);
    CHECK(!p->stats.alive, "still alive");
    CHECK_EQ(s.devices[0].mem[TTM_MEM_DRAM].live_bytes, 0);
    CHECK_EQ(s.devices[0].mem[TTM_MEM_DRAM].peak_bytes, (K + 1) * 4096ull);
    CHECK_EQ(s.leaked_count, K + 1);
    CHECK(s.nleaks > 0 && s.leaks[0].pid == (uint32_t)c.pid, "leak list");
    ttm_report_clear(&s);
    client_close(&c);
}

/* The daemon killed and restarted under a running client: the client reconnects with its ring,
 * the new daemon counts what a previous daemon took and what was dropped; every committed event
 * is accounted for. */
static void case_restart(void)
{
    pid_t d = start_daemon(NULL);
    const char *args[] = {"--stream", NULL};
    client c = start_client(true, "TTMEM_RING_SLOTS=1024", args);
    it_wait_connected(g_query, c.pid, 10000);
    wait_events(c.pid, 1000, 10000); /* the first daemon took some */
    CHECK(kill(d, SIGKILL) == 0, "kill daemon");
    wait_exit(d, 5000);
    /* the ring fills: events are dropped and counted (seen in the ring's own counter) */
    size_t ring_bytes;
    const ttm_ring_hdr *ring = map_client_ring(c.pid, &ring_bytes);
    int64_t deadline = it_now_ms() + 20000;
    while (atomic_load_explicit(&ring->dropped, memory_order_relaxed) == 0) {
        CHECK(it_now_ms() < deadline, "no drops while no daemon existed");
        it_sleep_ms(5);
    }
    munmap((void *)ring, ring_bytes);
    start_daemon(NULL);
    it_wait_connected(g_query, c.pid, 15000);
    wait_events(c.pid, 1000, 15000); /* the new daemon took some too */
    write_line(&c, "q");
    cstats st = read_stats(&c, 20000);
    int status = wait_exit(c.pid, 10000);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "client status 0x%x", status);
    settle();
    ttm_report s;
    snap(&s, TTM_SNAP_WANT_STATUS);
    const ttm_report_proc *p = it_proc_of(&s, c.pid);
    CHECK(p != NULL, "client missing in the new daemon");
    CHECK(st.reconnects >= 1, "no reconnect");
    CHECK(p->reattached, "not marked reattached");
    CHECK_EQ(s.daemon.reattached, 1);
    CHECK(st.dropped > 0, "the test expected drops while no daemon existed");
    CHECK_EQ(p->dropped, st.dropped);
    CHECK_EQ(s.daemon.dropped, st.dropped);
    /* every committed event: taken by the old daemon, or by this one */
    CHECK_EQ(p->prior_events + p->events, st.events);
    CHECK(p->prior_events > 0 && p->events > 0, "prior %llu, events %llu",
          (unsigned long long)p->prior_events, (unsigned long long)p->events);
    ttm_report_clear(&s);
    client_close(&c);
}

/* Without TTMEM no connection is made. */
static void case_disabled(void)
{
    start_daemon(NULL);
    const char *args[] = {"--pairs", "100", "--leak", "2", NULL};
    client c = start_client(false, NULL, args);
    cstats st = read_stats(&c, 10000);
    wait_exit(c.pid, 5000);
    CHECK_EQ(st.enabled, 0);
    CHECK_EQ(st.events, 0);
    client c0 = start_client(false, "TTMEM=0", args);
    cstats st0 = read_stats(&c0, 10000);
    wait_exit(c0.pid, 5000);
    CHECK_EQ(st0.enabled, 0);
    /* A connection either of them had made would be ahead of this probe's in the listen
     * queue: once the probe is settled, the daemon has seen everything they did. */
    const char *probe_args[] = {"--pairs", "1", NULL};
    client probe = start_client(true, NULL, probe_args);
    read_stats(&probe, 10000);
    wait_exit(probe.pid, 5000);
    settle();
    ttm_report s;
    snap(&s, TTM_SNAP_WANT_STATUS);
    CHECK_EQ(s.daemon.clients_total, 1);
    CHECK_EQ(s.daemon.clients_rejected, 0);
    CHECK_EQ(s.daemon.events, 2);
    CHECK_EQ(s.nprocs, 1);
    CHECK(it_proc_of(&s, probe.pid) != NULL, "the probe is missing");
    ttm_report_clear(&s);
    client_close(&probe);
    client_close(&c);
    client_close(&c0);
}

/* A second daemon on the same socket refuses; a stale socket file is replaced; a file that is
 * not a socket is not. */
static void case_second(void)
{
    start_daemon(NULL);
    char err[160];
    snprintf(err, sizeof err, "%s/second.err", it_dir);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        int fd = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, STDERR_FILENO);
        execl(g_ttmemd, g_ttmemd, "--foreground", "--socket", g_sock, (char *)NULL);
        _exit(127);
    }
    it_track(pid);
    int status = wait_exit(pid, 10000);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1, "second daemon status 0x%x", status);
    CHECK(file_contains(err, "already running"), "no clear message in %s", err);
    ttm_report s;
    snap(&s, TTM_SNAP_WANT_STATUS); /* the first one still serves */
    ttm_report_clear(&s);

    /* a stale socket: bound, never listened on, left behind */
    char stale[160], stale_err[160];
    snprintf(stale, sizeof stale, "%s/stale.sock", it_dir);
    snprintf(stale_err, sizeof stale_err, "%s/stale.err", it_dir);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    set_sun_path(&sa, stale);
    CHECK(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0, "bind stale");
    close(fd);
    pid_t d2 = start_daemon_at(stale, stale_err, NULL);
    CHECK(file_contains(stale_err, "replaced stale socket"), "stale socket not reported");
    kill(d2, SIGTERM);
    status = wait_exit(d2, 5000);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "stop status 0x%x", status);
    CHECK(file_contains(stale_err, "summary:"), "no final summary");
    CHECK(access(stale, F_OK) != 0, "socket file left behind");

    /* a regular file where the socket should be */
    char plain[160];
    snprintf(plain, sizeof plain, "%s/plain.sock", it_dir);
    fd = open(plain, O_WRONLY | O_CREAT, 0600);
    close(fd);
    pid = fork();
    if (pid == 0) {
        int efd = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(efd, STDERR_FILENO);
        execl(g_ttmemd, g_ttmemd, "--foreground", "--socket", plain, (char *)NULL);
        _exit(127);
    }
    it_track(pid);
    status = wait_exit(pid, 10000);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1, "status 0x%x", status);
    CHECK(file_contains(err, "is not a socket"), "no clear message");
}

/* A client cannot free another process's buffer. */
static void case_foreign(void)
{
    start_daemon(NULL);
    const char *owner_args[] = {"--alloc-at", "0x5000", "--hold", NULL};
    client owner = start_client(true, NULL, owner_args);
    char line[64];
    CHECK(it_read_line(owner.out, line, sizeof line, 10000) == 0 && strcmp(line, "ready 0") == 0,
          "owner not ready: '%s'", line);
    const char *thief_args[] = {"--free-at", "0x5000", NULL};
    client thief = start_client(true, NULL, thief_args);
    read_stats(&thief, 10000);
    wait_exit(thief.pid, 5000);
    ttm_report s;
    it_wait_proc(g_query, thief.pid, proc_disconnected, NULL, 10000, "thief session never ended",
                 &s);
    CHECK_EQ(it_class(&s, TTM_CLASS_FOREIGN_FREE), 1);
    CHECK_EQ(it_class(&s, TTM_CLASS_FREE_OK), 0);
    CHECK_EQ(s.totals.live_records, 1);
    const ttm_report_proc *o = it_proc_of(&s, owner.pid);
    CHECK(o != NULL && o->stats.live_records == 1, "owner lost its buffer");
    CHECK_EQ(s.devices[0].mem[TTM_MEM_DRAM].live_bytes, 4096);
    ttm_report_clear(&s);
    write_line(&owner, "done\n");
    read_stats(&owner, 10000);
    wait_exit(owner.pid, 5000);
    settle();
    snap(&s, TTM_SNAP_WANT_STATUS);
    CHECK_EQ(it_class(&s, TTM_CLASS_LEAKED_AT_EXIT), 1);
    CHECK_EQ(s.totals.live_records, 0);
    ttm_report_clear(&s);
    client_close(&owner);
    client_close(&thief);
}

/* ---- raw HELLOs ---- */

static int raw_connect(void)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    set_sun_path(&sa, g_sock);
    CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0, "connect");
    return fd;
}

/* A sealed memfd holding a valid ring of nslots, truncated to bytes (0 = the ring's size). */
static int make_ring(uint32_t nslots, size_t bytes, bool seal)
{
    size_t need = ttm__ring_bytes(nslots);
    int fd = memfd_create("it-ring", MFD_CLOEXEC | (seal ? MFD_ALLOW_SEALING : 0));
    CHECK(fd >= 0 && ftruncate(fd, (off_t)need) == 0, "memfd");
    void *m = mmap(NULL, need, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(m != MAP_FAILED, "mmap");
    ttm__ring_init(m, nslots, (uint32_t)getpid());
    munmap(m, need);
    if (bytes != 0)
        CHECK(ftruncate(fd, (off_t)bytes) == 0, "truncate");
    if (seal)
        fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW);
    return fd;
}

/* Sends raw bytes with up to two descriptors, reads the reply: its status and message. */
static int exchange(const void *buf, size_t len, int fd1, int fd2, bool half_close, char *msg,
                    size_t msg_len)
{
    int s = raw_connect();
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    union {
        char b[CMSG_SPACE(2 * sizeof(int))];
        struct cmsghdr align;
    } ctl;
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    int fds[2] = {fd1, fd2};
    int nfds = (fd1 >= 0) + (fd2 >= 0);
    if (nfds > 0) {
        memset(&ctl, 0, sizeof ctl);
        m.msg_control = ctl.b;
        m.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
    }
    CHECK(sendmsg(s, &m, MSG_NOSIGNAL) == (ssize_t)len, "sendmsg");
    if (half_close)
        shutdown(s, SHUT_WR);
    ttm_hello_reply r;
    int err = ttm__proto_recv_reply(s, &r, 5000);
    close(s);
    CHECK(err == TTM_OK, "no reply: %s", ttm_strerror(err));
    snprintf(msg, msg_len, "%s", r.message);
    return r.status;
}

static void case_badhello(void)
{
    start_daemon(NULL);
    char msg[160];
    ttm_hello h;
    int memfd = make_ring(1024, 0, true);
    int efd = eventfd(0, EFD_CLOEXEC);
    int rejected = 0;

    /* malformed: not a hello at all */
    memset(&h, 0x5a, sizeof h);
    CHECK_EQ(exchange(&h, sizeof h, memfd, efd, false, msg, sizeof msg), TTM_EPROTO);
    CHECK(strstr(msg, "not a ttmem hello") != NULL, "msg '%s'", msg);
    rejected++;
    /* malformed: cut short */
    ttm__proto_hello_init(&h, 1024, 0, 0);
    CHECK_EQ(exchange(&h, 10, memfd, efd, true, msg, sizeof msg), TTM_EPROTO);
    CHECK(strstr(msg, "truncated") != NULL, "msg '%s'", msg);
    rejected++;
    /* wrong version */
    ttm__proto_hello_init(&h, 1024, 0, 0);
    h.version = 99;
    CHECK_EQ(exchange(&h, sizeof h, memfd, efd, false, msg, sizeof msg),
             TTM_EVERSION);
    CHECK(strstr(msg, "version 99") != NULL, "msg '%s'", msg);
    rejected++;
    /* no descriptors */
    ttm__proto_hello_init(&h, 1024, 0, 0);
    CHECK_EQ(exchange(&h, sizeof h, -1, -1, false, msg, sizeof msg), TTM_EPROTO);
    CHECK(strstr(msg, "descriptors") != NULL, "msg '%s'", msg);
    rejected++;
    /* bad descriptor: a pipe instead of the ring */
    int pp[2];
    CHECK(pipe(pp) == 0, "pipe");
    CHECK_EQ(exchange(&h, sizeof h, pp[0], efd, false, msg, sizeof msg), TTM_EPROTO);
    CHECK(strstr(msg, "memfd") != NULL, "msg '%s'", msg);
    rejected++;
    /* bad descriptor: a pipe instead of the eventfd */
    CHECK_EQ(exchange(&h, sizeof h, memfd, pp[1], false, msg, sizeof msg), TTM_EPROTO);
    CHECK(strstr(msg, "eventfd") != NULL, "msg '%s'", msg);
    rejected++;
    /* a ring of the wrong size */
    int small = make_ring(1024, 4096, true);
    CHECK_EQ(exchange(&h, sizeof h, small, efd, false, msg, sizeof msg), TTM_EPROTO);
    CHECK(strstr(msg, "bytes") != NULL, "msg '%s'", msg);
    rejected++;
    /* geometry that disagrees with the ring header */
    ttm__proto_hello_init(&h, 2048, 0, 0);
    int big = make_ring(1024, ttm__ring_bytes(2048), true);
    CHECK_EQ(exchange(&h, sizeof h, big, efd, false, msg, sizeof msg), TTM_EPROTO);
    CHECK(strstr(msg, "slots") != NULL, "msg '%s'", msg);
    rejected++;
    /* a ring the client could shrink under the daemon */
    ttm__proto_hello_init(&h, 1024, 0, 0);
    int unsealed = make_ring(1024, 0, false);
    CHECK_EQ(exchange(&h, sizeof h, unsealed, efd, false, msg, sizeof msg), TTM_EPROTO);
    CHECK(strstr(msg, "sealed") != NULL, "msg '%s'", msg);
    rejected++;

    /* the daemon still serves a good client */
    const char *args[] = {"--pairs", "1000", NULL};
    client c = start_client(true, NULL, args);
    cstats st = read_stats(&c, 10000);
    wait_exit(c.pid, 5000);
    CHECK_EQ(st.events, 2000);
    settle();
    ttm_report s;
    snap(&s, TTM_SNAP_WANT_STATUS);
    CHECK_EQ(s.daemon.clients_rejected, rejected);
    CHECK_EQ(s.daemon.clients_total, 1);
    CHECK_EQ(s.totals.allocs, 1000);
    CHECK_EQ(it_class(&s, TTM_CLASS_FREE_OK), 1000);
    ttm_report_clear(&s);
    client_close(&c);
    close(memfd);
    close(small);
    close(big);
    close(unsealed);
    close(efd);
    close(pp[0]);
    close(pp[1]);
}

/* --max-clients and --max-live-per-client, each with its counter. */
static void case_limits(void)
{
    const char *extra[] = {"--max-clients", "1", "--max-live-per-client", "10", NULL};
    start_daemon(extra);
    const char *hold_args[] = {"--leak", "15", "--hold", NULL};
    client a = start_client(true, NULL, hold_args);
    char line[64];
    CHECK(it_read_line(a.out, line, sizeof line, 10000) == 0 && strcmp(line, "ready 0") == 0,
          "first client not ready: '%s'", line);
    const char *args[] = {"--pairs", "10", NULL};
    client b = start_client(true, NULL, args);
    cstats st = read_stats(&b, 20000);
    wait_exit(b.pid, 5000);
    CHECK_EQ(st.connected, 0);
    ttm_report s;
    snap(&s, TTM_SNAP_WANT_STATUS);
    CHECK(s.daemon.clients_refused >= 1, "refused %llu",
          (unsigned long long)s.daemon.clients_refused);
    CHECK_EQ(s.daemon.max_clients, 1);
    CHECK_EQ(s.daemon.max_live_per_client, 10);
    CHECK_EQ(it_class(&s, TTM_CLASS_LIMIT), 5);
    CHECK_EQ(it_class(&s, TTM_CLASS_ALLOC_OK), 10);
    ttm_report_clear(&s);
    write_line(&a, "done\n");
    read_stats(&a, 10000);
    wait_exit(a.pid, 5000);
    settle();
    snap(&s, TTM_SNAP_WANT_STATUS);
    CHECK_EQ(it_class(&s, TTM_CLASS_LEAKED_AT_EXIT), 10);
    ttm_report_clear(&s);
    client_close(&a);
    client_close(&b);
}

/* A query that is not one gets an error frame; the daemon keeps answering. */
static void case_query(void)
{
    start_daemon(NULL);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    set_sun_path(&sa, g_query);
    CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0, "connect");
    uint8_t junk[16];
    memset(junk, 0xee, sizeof junk);
    CHECK(write(fd, junk, sizeof junk) == (ssize_t)sizeof junk, "write");
    uint8_t hdr[TTM_SNAP_HDR_SIZE];
    size_t off = 0;
    while (off < sizeof hdr) {
        ssize_t n = read(fd, hdr + off, sizeof hdr - off);
        CHECK(n > 0, "no error frame");
        off += (size_t)n;
    }
    ttm_snap_frame fr;
    CHECK(ttm__snap_decode_frame(hdr, sizeof hdr, &fr, NULL, 0) == TTM_OK, "frame");
    CHECK_EQ(fr.type, TTM_SNAP_MSG_ERROR);
    CHECK_EQ(fr.status, TTM_EPROTO);
    close(fd);
    ttm_report s;
    snap(&s, TTM_SNAP_WANT_STATUS | TTM_SNAP_WANT_DUMP | TTM_SNAP_WANT_REPORT);
    CHECK(s.sections == (TTM_SNAP_WANT_STATUS | TTM_SNAP_WANT_DUMP | TTM_SNAP_WANT_REPORT),
          "sections 0x%x", s.sections);
    ttm_report_clear(&s);
}

/* ---- hostile peers (issue 9): each attack runs next to an innocent client ------------------ */

/* Starts it_hostile with an attack; waits for its line saying the attack runs. */
static client start_hostile(const char *attack, const char *arg, const char *expect)
{
    const char *args[] = {g_sock, attack, arg, NULL};
    client h = start_prog(g_hostile, false, NULL, args);
    char line[64];
    CHECK(it_read_line(h.out, line, sizeof line, 15000) == 0 && strcmp(line, expect) == 0,
          "hostile %s not running: '%s'", attack, line);
    return h;
}

/* An innocent client streaming alloc/free pairs, connected. */
static client start_innocent(void)
{
    const char *args[] = {"--stream", NULL};
    client c = start_client(true, NULL, args);
    it_wait_connected(g_query, c.pid, 15000);
    return c;
}

/* Stops the innocent client and checks it lost nothing: what it committed is what the daemon
 * took, it dropped nothing. Returns the events the daemon took from it. */
static uint64_t innocent_check(client *c)
{
    write_line(c, "q");
    cstats st = read_stats(c, 30000);
    int status = wait_exit(c->pid, 10000);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "innocent status 0x%x", status);
    CHECK_EQ(st.enabled, 1);
    CHECK_EQ(st.dropped, 0);
    CHECK_EQ(st.flush, TTM_OK);
    int64_t deadline = it_now_ms() + 20000;
    for (;;) {
        ttm_report s;
        snap(&s, TTM_SNAP_WANT_STATUS);
        const ttm_report_proc *p = it_proc_of(&s, c->pid);
        CHECK(p != NULL, "innocent pid %d missing", (int)c->pid);
        bool done = !p->connected;
        uint64_t events = p->events, dropped = p->dropped, prior = p->prior_events;
        ttm_report_clear(&s);
        if (done) {
            CHECK_EQ(dropped, 0);
            CHECK_EQ(prior, 0);
            CHECK_EQ(events, st.events); /* lost: st.events - events = 0 */
            CHECK(events > 0, "the innocent client sent nothing");
            printf("it_daemon: %s: the innocent client committed %llu events, the daemon took "
                   "%llu, lost 0\n",
                   it_case, st.events, (unsigned long long)events);
            client_close(c);
            return events;
        }
        CHECK(it_now_ms() < deadline, "innocent session never ended");
        it_sleep_ms(10);
    }
}

/* Item 10: the doorbell eventfd made blocking and read back by the client itself. The daemon
 * never reads it (a blocked read() ignored SIGTERM for good). */
static void case_hostile_eventfd(void)
{
    start_daemon(NULL);
    client c = start_innocent();
    client h = start_hostile("eventfd", NULL, "attached");
    wait_events(h.pid, 20000, 30000); /* thousands of doorbells went by */
    innocent_check(&c);
    wait_events(h.pid, 40000, 30000); /* still served */
    client_close(&h);
}

/* Item 11: a client rewinding its ring's tail in a loop (and reconnecting when closed): the
 * daemon keeps its own position, detects it, counts it and closes the session, each time. */
static void case_hostile_rewind(void)
{
    start_daemon(NULL);
    client c = start_innocent();
    client h = start_hostile("rewind", NULL, "attached");
    WAIT_DAEMON(ring_errors, 20, 30000);
    wait_events(c.pid, 200000, 60000); /* the innocent one streams during the attack */
    WAIT_DAEMON(ring_errors, 21, 30000); /* and the attack still runs */
    innocent_check(&c);
    /* Each broken session settles the hostile process as gone, and its next session starts a
     * fresh entry: wait for one that has events. */
    ttm_report s;
    it_wait_proc(g_query, h.pid, proc_has_events, NULL, 30000,
                 "the hostile client's events never showed", &s);
    /* Never an event read twice: the hostile client's objects are unique over its life, so a
     * free read again would be a double_free, an allocation read again (still live) a
     * duplicate_alloc. */
    CHECK_EQ(it_class(&s, TTM_CLASS_DOUBLE_FREE), 0);
    CHECK_EQ(it_class(&s, TTM_CLASS_DUPLICATE_ALLOC), 0);
    ttm_report_clear(&s);
    client_close(&h);
}

/* Item 8: a client rewriting its ring's waited/dropped counters with impossible values. Never
 * summed (counted as ring errors), and the warning is rate-limited. */
static void case_hostile_counters(void)
{
    int64_t t0 = it_now_ms();
    start_daemon(NULL);
    client c = start_innocent();
    client h = start_hostile("counters", NULL, "attached");
    WAIT_DAEMON(ring_errors, 50, 30000);
    wait_events(c.pid, 200000, 60000); /* the innocent one streams during the attack */
    ttm_report s;
    snap(&s, TTM_SNAP_WANT_STATUS);
    const ttm_report_proc *p = it_proc_of(&s, h.pid);
    CHECK(p != NULL, "hostile missing");
    CHECK_EQ(p->dropped, 0);
    CHECK_EQ(p->waited, 0);
    CHECK_EQ(s.daemon.dropped, 0);
    CHECK(s.daemon.waited < (1ull << 40), "daemon-wide waited %llu",
          (unsigned long long)s.daemon.waited);
    uint64_t errors = s.daemon.ring_errors;
    ttm_report_clear(&s);
    innocent_check(&c);
    /* at most a burst, then a few lines a second, per call site (log.h) */
    char err[160];
    snprintf(err, sizeof err, "%s/ttmemd.err", it_dir);
    int lines = it_count_lines(err, "which no producer can do");
    int64_t secs = (it_now_ms() - t0) / 1000 + 2;
    CHECK(lines >= 0 && lines <= 20 + 5 * secs, "%d warning lines in %lld s for %llu ring errors",
          lines, (long long)secs, (unsigned long long)errors);
    client_close(&h);
}

/* Item 15: 300 connections that never say HELLO cannot use up the client slots. */
static void case_hostile_idle(void)
{
    start_daemon(NULL);
    client h = start_hostile("idle", "300", "idle 300");
    /* the oldest pre-HELLO connections beyond the per-user budget (32) are closed, counted */
    WAIT_DAEMON(clients_refused, 300 - 32, 30000);
    client c = start_innocent();
    wait_events(c.pid, 200000, 60000);
    innocent_check(&c);
    client_close(&h);
}

/* Item 2: back-to-back processes, each exiting with a DRAM buffer at the same address: the
 * previous one's exit is settled before the next one's allocation, so no overlap, ever. */
static void backtoback(void)
{
    enum { RUNS = 200 };
    start_daemon(NULL);
    const char *args[] = {"--alloc-at", "0x1000", NULL};
    for (int i = 0; i < RUNS; i++) {
        client c = start_client(true, NULL, args);
        cstats st = read_stats(&c, 10000);
        CHECK_EQ(st.events, 1);
        int status = wait_exit(c.pid, 10000);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "run %d: status 0x%x", i, status);
        client_close(&c);
    }
    settle();
    ttm_report s;
    snap(&s, TTM_SNAP_WANT_STATUS);
    CHECK_EQ(it_class(&s, TTM_CLASS_OVERLAP), 0);
    CHECK_EQ(it_class(&s, TTM_CLASS_MISSED_FREE), 0);
    CHECK_EQ(it_class(&s, TTM_CLASS_ALLOC_OK), RUNS);
    CHECK_EQ(it_class(&s, TTM_CLASS_LEAKED_AT_EXIT), RUNS);
    CHECK_EQ(s.totals.live_records, 0);
    ttm_report_clear(&s);
}

static void case_backtoback(void)
{
    backtoback();
}

/* The same where the kernel has no pidfds: exits found through /proc before every apply. */
static void case_backtoback_polled(void)
{
    setenv("TTMEMD_TEST_NO_PIDFD", "1", 1);
    backtoback();
}

/* Item 9: exited processes kept are bounded (the 64 most recent), the rest counted, and
 * `ttmem status` says so in one line. */
static void case_exited(void)
{
    enum { RUNS = 100, KEPT = 64 };
    start_daemon(NULL);
    const char *args[] = {"--leak", "1", NULL};
    for (int i = 0; i < RUNS; i++) {
        client c = start_client(true, NULL, args);
        read_stats(&c, 10000);
        wait_exit(c.pid, 10000);
        client_close(&c);
    }
    settle();
    WAIT_DAEMON(procs_dropped, RUNS - KEPT, 10000);
    ttm_report s;
    snap(&s, TTM_SNAP_WANT_STATUS);
    CHECK_EQ(s.nprocs, KEPT);
    CHECK_EQ(s.daemon.procs_dropped, RUNS - KEPT);
    CHECK_EQ(it_class(&s, TTM_CLASS_LEAKED_AT_EXIT), RUNS); /* the totals keep every leak */
    for (size_t i = 0; i < s.nprocs; i++)
        CHECK_EQ(s.procs[i].stats.leaked_count, 1);
    ttm_report_clear(&s);
    char cmd[600], out[160];
    snprintf(out, sizeof out, "%s/status.out", it_dir);
    snprintf(cmd, sizeof cmd, "'%s' status --socket '%s' > '%s' 2>&1", g_ttmem, g_sock, out);
    CHECK(system(cmd) == 0, "ttmem status failed");
    CHECK(file_contains(out, "36 earlier exited processes not shown"), "no summary line in %s",
          out);
}

/* Waits until the daemon shows pid's exit half settled: pid still alive in the registry, with
 * fewer than `held` live records but some left (the daemon answered a query in the middle of
 * the exit). Returns the records left. */
static uint64_t wait_half_settled(pid_t pid, uint64_t held, int timeout_ms)
{
    int64_t deadline = it_now_ms() + timeout_ms;
    for (;;) {
        ttm_report s;
        snap(&s, TTM_SNAP_WANT_STATUS);
        const ttm_report_proc *p = it_proc_of(&s, pid);
        uint64_t left = p != NULL ? p->stats.live_records : 0;
        bool half = p != NULL && p->stats.alive && left > 0 && left < held;
        bool done = p != NULL && !p->stats.alive;
        ttm_report_clear(&s);
        CHECK(!done, "pid %d's exit was applied before any query saw it half done", (int)pid);
        if (half)
            return left;
        CHECK(it_now_ms() < deadline, "pid %d's exit not seen half settled after %d ms",
              (int)pid, timeout_ms);
        it_sleep_ms(2);
    }
}

/* A client holding `n` live buffers, then killed: returns its pid (reaped), once the daemon
 * has taken every event. */
static pid_t start_big_and_kill(const char *n)
{
    const char *args[] = {"--leak", n, "--hold", NULL};
    client big = start_client(true, NULL, args);
    char line[128];
    CHECK(it_read_line(big.out, line, sizeof line, 240000) == 0 && strcmp(line, "ready 0") == 0,
          "big client not ready: '%s'", line);
    uint64_t held = strtoull(n, NULL, 10);
    wait_events(big.pid, held, 240000);
    CHECK(kill(big.pid, SIGKILL) == 0, "SIGKILL");
    wait_exit(big.pid, 10000);
    client_close(&big);
    return big.pid;
}

/* Items 2, 3, 11: the exit of a process holding 2 M live buffers is settled across loop turns
 * (a per-turn record budget, made small here through test hooks that also tie each step to a
 * query answered, so that the half-settled state is seen however loaded the machine): meanwhile the daemon answers queries, an innocent client streaming all along
 * loses nothing, and no later event of it is applied before the exit (no overlap, nothing
 * foreign); every leak is reported. Then a second large exit is interrupted by SIGTERM: the
 * daemon stops promptly, the state it saves holds the exit half applied, and the next daemon
 * settles the rest at load: every leak is reported once. */
static void case_bigexit(void)
{
    enum { BIG = 2000000, BIG2 = 500000 };
    setenv("TTMEMD_TEST_EXIT_RECORDS", "5000", 1);
    setenv("TTMEMD_TEST_EXIT_LOCKSTEP", "1", 1); /* one exit step per query answered */
    pid_t d = start_daemon(NULL);
    int di = g_ndaemons - 1;
    client c = start_innocent();
    pid_t big = start_big_and_kill("2000000");
    uint64_t left = wait_half_settled(big, BIG, 120000);
    uint64_t before = 0;
    {
        ttm_report s;
        snap(&s, TTM_SNAP_WANT_STATUS);
        const ttm_report_proc *p = it_proc_of(&s, c.pid);
        CHECK(p != NULL, "innocent missing");
        before = p->events;
        ttm_report_clear(&s);
    }
    printf("it_daemon: bigexit: a query answered with %llu of %d records left to settle\n",
           (unsigned long long)left, BIG);
    /* the exit goes on to its end; the innocent client is served after it */
    int64_t deadline = it_now_ms() + 240000;
    for (;;) {
        ttm_report s;
        snap(&s, TTM_SNAP_WANT_STATUS);
        const ttm_report_proc *p = it_proc_of(&s, big);
        CHECK(p != NULL, "big pid missing");
        bool done = !p->stats.alive;
        if (done) {
            CHECK_EQ(p->stats.leaked_count, BIG);
            CHECK_EQ(p->stats.leaked_bytes, BIG * 1024ull);
            CHECK_EQ(p->stats.live_records, 0);
            CHECK_EQ(it_class(&s, TTM_CLASS_LEAKED_AT_EXIT), BIG);
        }
        ttm_report_clear(&s);
        if (done)
            break;
        CHECK(it_now_ms() < deadline, "the exit of %d never finished", (int)big);
        it_sleep_ms(2); /* each query answered lets the exit take one more step */
    }
    wait_events(c.pid, before + 10000, 60000); /* the innocent one is served again */
    innocent_check(&c);
    ttm_report s;
    snap(&s, TTM_SNAP_WANT_STATUS);
    CHECK_EQ(it_class(&s, TTM_CLASS_OVERLAP), 0);
    CHECK_EQ(it_class(&s, TTM_CLASS_FOREIGN_FREE), 0);
    CHECK_EQ(it_class(&s, TTM_CLASS_UNKNOWN_FREE), 0);
    ttm_report_clear(&s);
    char err[160];
    snprintf(err, sizeof err, "%s/ttmemd.err", it_dir);
    CHECK_EQ(it_count_lines(err, "2000000 buffers (2048000000 bytes) leaked at exit"), 1);

    /* SIGTERM in the middle of an exit */
    pid_t big2 = start_big_and_kill("500000");
    wait_half_settled(big2, BIG2, 120000);
    CHECK(kill(d, SIGTERM) == 0, "SIGTERM");
    int64_t t0 = it_now_ms();
    int status = wait_exit(d, 60000);
    printf("it_daemon: bigexit: daemon stopped %lld ms after SIGTERM, an exit half settled\n",
           (long long)(it_now_ms() - t0));
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "daemon stopped with 0x%x", status);
    g_daemons[di] = 0;
    CHECK_EQ(it_count_lines(err, "exit half settled"), 1);
    /* the next daemon settles the rest at load */
    char err2[160];
    snprintf(err2, sizeof err2, "%s/ttmemd2.err", it_dir);
    start_daemon_at(g_sock, err2, NULL);
    snap(&s, TTM_SNAP_WANT_STATUS);
    const ttm_report_proc *p = it_proc_of(&s, big2);
    CHECK(p != NULL, "second big pid missing after the restart");
    CHECK(!p->stats.alive, "second big pid still alive after the restart");
    CHECK_EQ(p->stats.leaked_count, BIG2);
    CHECK_EQ(p->stats.leaked_bytes, BIG2 * 1024ull);
    CHECK_EQ(p->stats.live_records, 0);
    CHECK_EQ(it_class(&s, TTM_CLASS_LEAKED_AT_EXIT), BIG + BIG2);
    CHECK_EQ(s.totals.live_records, 0);
    ttm_report_clear(&s);
    CHECK_EQ(it_count_lines(err2, "exited while no daemon ran"), 1);
}

/* Stops the daemons still running: each must stop cleanly on SIGTERM (under the sanitizers a
 * leak or an error makes the status non-zero), and no log may hold a sanitizer report. */
static void finish(void)
{
    for (int i = 0; i < g_ndaemons; i++) {
        pid_t pid = g_daemons[i];
        if (pid <= 0)
            continue;
        /* promptly, whatever the clients still attached do (a generous deadline) */
        CHECK(kill(pid, SIGTERM) == 0, "SIGTERM to the daemon");
        int64_t t0 = it_now_ms();
        int status = wait_exit(pid, 20000);
        printf("it_daemon: %s: daemon %d stopped %lld ms after SIGTERM\n", it_case, (int)pid,
               (long long)(it_now_ms() - t0));
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "daemon %d stopped with 0x%x",
              (int)pid, status);
    }
    DIR *d = opendir(it_dir);
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n < 4 || strcmp(e->d_name + n - 4, ".err") != 0)
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", it_dir, e->d_name);
        CHECK(!file_contains(path, "Sanitizer") && !file_contains(path, "runtime error"),
              "sanitizer report in %s", path);
    }
    if (d != NULL)
        closedir(d);
}

/* The report over the socket is the core's report of the same registry, row by row of every
 * record (common/schema.h): the registry the daemon served is the one its clean stop writes
 * to SOCKET.state, loaded here and reported by the core itself. A field the daemon or the CLI
 * left out, copied wrong or zeroed differs from the core's. */
static void case_schema(void)
{
    pid_t d = start_daemon(NULL);
    const char *a0[] = {"--pairs", "300", "--device", "0", "--leak", "3", NULL};
    const char *a1[] = {"--pairs", "40", "--device", "3", "--leak", "1", NULL};
    const char *a2[] = {"--free-at", "0x7000", NULL};
    const char *const *work[] = {a0, a1, a2};
    for (size_t i = 0; i < sizeof work / sizeof work[0]; i++) {
        client c = start_client(true, NULL, work[i]);
        read_stats(&c, 10000);
        int status = wait_exit(c.pid, 10000);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "client status 0x%x", status);
        client_close(&c);
    }
    settle();
    ttm_report net;
    snap(&net, TTM_SNAP_WANT_REPORT | TTM_SNAP_BIT(TTM_SNAP_SEC_STACKS));
    CHECK(net.sections & TTM_SNAP_BIT(TTM_SNAP_SEC_STACKS), "no stacks section");
    CHECK_EQ(net.ndevices, 2);
    CHECK_EQ(net.leaked_count, 4);
    CHECK_EQ(it_class(&net, TTM_CLASS_UNKNOWN_FREE), 1);
    CHECK(kill(d, SIGTERM) == 0, "stop the daemon");
    int status = wait_exit(d, 10000);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "daemon status 0x%x", status);

    char path[160];
    snprintf(path, sizeof path, "%s.state", g_sock);
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL, "no state file %s", path);
    static uint8_t buf[1 << 20];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    CHECK(len > 0 && len < sizeof buf, "state of %zu bytes", len);
    ttm_registry *reg = NULL;
    const uint8_t *annex;
    size_t annex_len;
    char msg[200];
    CHECK(ttm_registry_load(&reg, NULL, buf, len, &annex, &annex_len, msg, sizeof msg) == TTM_OK,
          "state: %s", msg);
    ttm_report core;
    ttm_report_options opt = {.top = 10, .max_leaks = 100, /* what it_snap asks for */
                              .sections = TTM_REPORT_SECTIONS | TTM_SNAP_BIT(TTM_SNAP_SEC_STACKS)};
    CHECK(ttm_report_fill(reg, &opt, &core) == TTM_OK, "report");

    char where[160];
    const unsigned secs[] = {TTM_SNAP_SEC_TOTALS, TTM_SNAP_SEC_DEVICES, TTM_SNAP_SEC_FINDINGS,
                             TTM_SNAP_SEC_STACKS};
    for (size_t i = 0; i < sizeof secs / sizeof secs[0]; i++)
        CHECK(ttm__schema_equal(&ttm_rec_report, &net, &core, secs[i], where, sizeof where),
              "section %s: %s differs from the core's", ttm__snap_section_name(secs[i]), where);
    size_t registered = 0;
    for (size_t i = 0; i < net.nprocs; i++)
        registered += net.procs[i].registered;
    CHECK_EQ(registered, core.nprocs);
    for (size_t i = 0; i < core.nprocs; i++) {
        const ttm_report_proc *np = it_proc_of(&net, core.procs[i].stats.pid);
        CHECK(np != NULL && np->registered, "pid %u missing", (unsigned)core.procs[i].stats.pid);
        CHECK(ttm__schema_equal(&ttm_rec_proc_stats, &np->stats, &core.procs[i].stats, 0, where,
                                sizeof where),
              "pid %u: %s differs from the core's", (unsigned)np->stats.pid, where);
    }
    ttm_report_clear(&core);
    ttm_report_clear(&net);
    ttm_registry_close(reg);
}

static const it_case_entry cases[] = {
    {"counts", case_counts},   {"sigkill", case_sigkill},   {"restart", case_restart},
    {"disabled", case_disabled}, {"second", case_second},   {"foreign", case_foreign},
    {"badhello", case_badhello}, {"limits", case_limits},   {"query", case_query},
    {"hostile_eventfd", case_hostile_eventfd}, {"hostile_rewind", case_hostile_rewind},
    {"hostile_counters", case_hostile_counters}, {"hostile_idle", case_hostile_idle},
    {"backtoback", case_backtoback}, {"backtoback_polled", case_backtoback_polled},
    {"exited", case_exited},     {"bigexit", case_bigexit},
    {"schema", case_schema},
};

int main(int argc, char **argv)
{
    /* bigexit moves 2.5 M buffers through a daemon and a restart: a longer deadline */
    bool big = argc > 1 && strcmp(argv[1], "bigexit") == 0;
    const it_program prog = {"it_daemon", "TTMEMD IT_CLIENT IT_HOSTILE TTMEM",
                             {&g_ttmemd, &g_client, &g_hostile, &g_ttmem},
                             cases, sizeof cases / sizeof cases[0], "/tmp/ttmem-it.XXXXXX",
                             big ? 4 * CASE_TIMEOUT_S : CASE_TIMEOUT_S};
    int status;
    void (*fn)(void) = it_main_begin(&prog, argc, argv, &status);
    if (fn == NULL)
        return status;
    snprintf(g_sock, sizeof g_sock, "%s/d.sock", it_dir);
    snprintf(g_query, sizeof g_query, "%s.query", g_sock);
    fn();
    finish();
    return it_passed();
}
