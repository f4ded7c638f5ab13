/*
 * it_trust_client.c — integration tests of libttmem's promise that nothing is lost while a
 * daemon accepts the ring: a real ttmemd on a temporary socket, real client processes
 * (it_client, through the static libttmem), checks through the daemon's snapshot and the
 * clients' own counters. One case per run: `it_trust_client CASE TTMEMD IT_CLIENT`.
 *
 * Cases:
 *   mt_first_use        8 threads make their first call together behind a barrier, into a ring
 *                       of 64 slots: none of the 320,000 events is dropped
 *   restart_backoff     the daemon stops and another starts while the client backs off; the
 *                       client then fills its 64-slot ring at once: nothing is dropped
 *   closefrom_attached  the application closes every descriptor from 3 and opens its own files
 *                       on the numbers; libttmem never touches them, rebuilds its session and
 *                       ring, loses nothing, and the daemon never sees the process exit early
 *   closefrom_detached  the same with no daemon running: the old ring's events are carried into
 *                       the new ring and reach the daemon that starts later, in order
 *   many                16 processes x 200,000 events at once: zero loss by every counter
 *   slow_daemon         the daemon is stopped (SIGSTOP) for 1.5 s while 8 processes start and
 *                       fill their rings: slow to answer the HELLO is not dead (the client
 *                       gives up only after 5 s without any progress): zero loss
 *   refused_line        a daemon that cannot serve a client (client limit) says so in the
 *                       client's one stderr line
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/report.h"
#include "core/registry.h"
#include "harness.h"

#define CASE_TIMEOUT_S 110

static const char *g_ttmemd, *g_client;
static char g_sock[128], g_query[140], g_err[128];

typedef struct proc {
    pid_t pid;
    int in, out; /* its stdin (we write), its stdout (we read) */
    char err[128]; /* its stderr file */
} proc;

/* Starts it_client with TTMEM=1 on g_sock, ring_slots slots (0: the default) and args. */
static proc start_client(unsigned ring_slots, const char *const *args)
{
    static int seq;
    proc c;
    snprintf(c.err, sizeof c.err, "%s/client%d.err", it_dir, seq++);
    char slots[48], sock_env[160];
    snprintf(slots, sizeof slots, "TTMEM_RING_SLOTS=%u", ring_slots);
    snprintf(sock_env, sizeof sock_env, "TTMEM_SOCKET=%s", g_sock);
    const char *env[] = {"TT_ALLOC_TRACKING_ENABLED", ring_slots != 0 ? slots : "TTMEM_RING_SLOTS",
                         sock_env, "TTMEM=1", NULL};
    const char *argv[32] = {g_client};
    int n = 1;
    for (int i = 0; args != NULL && args[i] != NULL && n < 30; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    c.pid = it_spawn_err(argv, env, &c.in, &c.out, c.err);
    return c;
}

/* Reads the client's next line and checks it starts with want. */
static void expect_line(proc *c, const char *want, char *line, size_t len)
{
    CHECK(it_read_line(c->out, line, len, 60000) == 0, "no line from pid %d (wanted '%s')",
          (int)c->pid, want);
    CHECK(strncmp(line, want, strlen(want)) == 0, "pid %d said '%s', wanted '%s'", (int)c->pid,
          line, want);
}

typedef struct cstats {
    unsigned long long events, dropped, waited, reconnects;
    int connected, enabled, flush;
} cstats;

/* Reads the final stats line, waits for a clean exit. */
static cstats finish_client(proc *c)
{
    char line[256];
    cstats s;
    memset(&s, 0, sizeof s);
    if (it_read_line(c->out, line, sizeof line, 90000) != 0) {
        char said[512] = "";
        FILE *f = fopen(c->err, "r");
        if (f != NULL) {
            size_t n = fread(said, 1, sizeof said - 1, f);
            said[n] = '\0';
            fclose(f);
        }
        it_fail(__LINE__, "no stats from pid %d (a dropped event makes it_client exit 1); its "
                "stderr: %s", (int)c->pid, said);
    }
    int n = sscanf(line,
                   "stats events=%llu dropped=%llu waited=%llu reconnects=%llu connected=%d "
                   "enabled=%d flush=%d",
                   &s.events, &s.dropped, &s.waited, &s.reconnects, &s.connected, &s.enabled,
                   &s.flush);
    CHECK(n == 7, "bad stats line '%s'", line);
    int status = it_wait_exit(c->pid, 30000);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "client exit status 0x%x", status);
    close(c->in);
    close(c->out);
    return s;
}

static void snap(ttm_report *s)
{
    it_snap(g_query, TTM_SNAP_WANT_STATUS, 10000, s);
}

/* Waits until the daemon has settled the exit of every process it saw (none alive). */
static void settle(void)
{
    int64_t deadline = it_now_ms() + 30000;
    for (;;) {
        ttm_report s;
        snap(&s);
        bool open = s.daemon.clients_connected > 0;
        for (size_t i = 0; i < s.nprocs; i++)
            open |= s.procs[i].connected || s.procs[i].stats.alive;
        ttm_report_clear(&s);
        if (!open)
            return;
        CHECK(it_now_ms() < deadline, "sessions still open after 30 s");
        it_sleep_ms(10);
    }
}

/* Lines of file that contain every one of the needles (NULL-terminated). */
static int count_lines(const char *file, const char *const *needles)
{
    FILE *f = fopen(file, "r");
    if (f == NULL)
        return 0;
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        bool all = true;
        for (int i = 0; needles[i] != NULL; i++)
            all &= strstr(line, needles[i]) != NULL;
        n += all;
    }
    fclose(f);
    return n;
}

/* Waits (bounded) until file has a line containing every needle. */
static void wait_line_in(const char *file, const char *const *needles)
{
    int64_t deadline = it_now_ms() + 30000;
    while (count_lines(file, needles) == 0) {
        CHECK(it_now_ms() < deadline, "no line with '%s' in %s", needles[0], file);
        it_sleep_ms(5);
    }
}

static pid_t start_daemon(const char *const *extra)
{
    return it_start_ttmemd(g_ttmemd, g_sock, g_err, extra);
}

static void stop_daemon(pid_t pid)
{
    kill(pid, SIGTERM);
    int status = it_wait_exit(pid, 30000);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "ttmemd exit status 0x%x", status);
}

/* Finishes n clients that each committed per events, then checks that nothing was lost by any
 * count: each client attached once and dropped nothing, the daemon took every event, dropped,
 * refused and rejected nothing, and saw no unknown free (no event applied out of order). */
static void check_all_taken(proc *c, int n, unsigned long long per)
{
    for (int i = 0; i < n; i++) {
        cstats st = finish_client(&c[i]);
        CHECK_EQ(st.dropped, 0);
        CHECK_EQ(st.events, per);
        CHECK_EQ(st.flush, TTM_OK);
        CHECK_EQ(st.reconnects, 0);
    }
    settle();
    ttm_report s;
    snap(&s);
    CHECK_EQ(s.daemon.dropped, 0);
    CHECK_EQ(s.daemon.events, per * (unsigned long long)n);
    CHECK_EQ(s.daemon.clients_total, n);
    CHECK_EQ(s.daemon.clients_refused, 0);
    CHECK_EQ(s.daemon.clients_rejected, 0);
    CHECK_EQ(it_class(&s, TTM_CLASS_UNKNOWN_FREE), 0);
    ttm_report_clear(&s);
}

/* ---- cases ------------------------------------------------------------------------------- */

static void case_mt_first_use(void)
{
    enum { T = 8, K = 20000 };
    start_daemon(NULL);
    const char *args[] = {"--pairs", "20000", "--threads", "8", "--barrier", NULL};
    proc c = start_client(64, args);
    check_all_taken(&c, 1, 2ull * T * K);
}

static void case_restart_backoff(void)
{
    pid_t d1 = start_daemon(NULL);
    const char *args[] = {"--pairs", "1000", "--wait-line", "--then", "20000", NULL};
    proc c = start_client(64, args);
    char line[128];
    expect_line(&c, "waiting", line, sizeof line);
    stop_daemon(d1);
    static const char *const lost[] = {"lost the connection", NULL};
    wait_line_in(c.err, lost);
    pid_t d2 = start_daemon(NULL);
    CHECK(write(c.in, "go\n", 3) == 3, "write");
    cstats st = finish_client(&c);
    CHECK_EQ(st.dropped, 0);
    CHECK_EQ(st.events, 2000 + 40000);
    CHECK_EQ(st.reconnects, 1);
    settle();
    ttm_report s;
    snap(&s);
    CHECK_EQ(s.daemon.dropped, 0);
    /* The second daemon took the first one's state over (state.c): its count goes on from the
     * 2000 events the first one drained. */
    CHECK_EQ(s.daemon.events, 2000 + 40000);
    ttm_report_clear(&s);
    stop_daemon(d2);
}

/* Checks what closefrom_* share: nothing lost, nothing unknown, the files untouched, and the
 * daemon saw the process exit once, when it really did. */
static void check_closefrom(proc *c, unsigned long long events)
{
    char line[128];
    expect_line(c, "files untouched", line, sizeof line);
    cstats st = finish_client(c);
    CHECK_EQ(st.dropped, 0);
    CHECK_EQ(st.events, events);
    CHECK_EQ(st.flush, TTM_OK);
    static const char *const rebuilt[] = {"closed or replaced by the application", NULL};
    CHECK(count_lines(c->err, rebuilt) == 1, "no line about the lost descriptors in %s", c->err);
    settle();
    ttm_report s;
    snap(&s);
    const ttm_report_proc *p = it_proc_of(&s, c->pid);
    CHECK(p != NULL, "pid %d unknown to the daemon", (int)c->pid);
    CHECK_EQ(p->events, events);
    CHECK_EQ(p->stats.leaked_count, 0);
    CHECK_EQ(s.daemon.dropped, 0);
    CHECK_EQ(s.daemon.ring_errors, 0);
    CHECK_EQ(s.daemon.clients_rejected, 0);
    CHECK_EQ(it_class(&s, TTM_CLASS_UNKNOWN_FREE), 0);
    CHECK_EQ(it_class(&s, TTM_CLASS_LEAKED_AT_EXIT), 0);
    ttm_report_clear(&s);
    char pidtxt[32];
    snprintf(pidtxt, sizeof pidtxt, "pid %d ", (int)c->pid);
    const char *const exited[] = {pidtxt, ") exited (", NULL};
    int n = count_lines(g_err, exited);
    if (n != 1) {
        char said[1024] = "";
        FILE *f = fopen(g_err, "r");
        char l[512];
        while (f != NULL && fgets(l, sizeof l, f) != NULL)
            if (strstr(l, pidtxt) != NULL && strlen(said) + strlen(l) < sizeof said)
                strcat(said, l);
        if (f != NULL)
            fclose(f);
        it_fail(__LINE__, "the daemon logged the exit of pid %d %d times:\n%s", (int)c->pid, n,
                said);
    }
}

static void case_closefrom_attached(void)
{
    start_daemon(NULL);
    /* Events flow while libttmem notices the loss; the leaks are freed in the new ring after
     * it did (their allocations went into the old one). */
    const char *args[] = {"--leak", "100", "--closefrom", "--then", "5000", "--wait-line",
                          "--free-leaks", "--then", "5000", NULL};
    proc c = start_client(64, args);
    char line[128];
    expect_line(&c, "waiting", line, sizeof line);
    static const char *const rebuilt[] = {"closed or replaced by the application", NULL};
    wait_line_in(c.err, rebuilt);
    CHECK(write(c.in, "go\n", 3) == 3, "write");
    check_closefrom(&c, 100 + 10000 + 100 + 10000);
}

static void case_closefrom_detached(void)
{
    const char *args[] = {"--leak", "50", "--closefrom", "--wait-line", "--free-leaks", "--then",
                          "1000", NULL};
    proc c = start_client(64, args);
    char line[128];
    expect_line(&c, "waiting", line, sizeof line);
    start_daemon(NULL);
    CHECK(write(c.in, "go\n", 3) == 3, "write");
    check_closefrom(&c, 50 + 50 + 2000);
}

static void case_many(void)
{
    enum { N = 16, K = 100000 };
    start_daemon(NULL);
    proc c[N];
    const char *args[] = {"--pairs", "100000", NULL};
    for (int i = 0; i < N; i++)
        c[i] = start_client(0, args);
    check_all_taken(c, N, 2ull * K);
}

static void case_slow_daemon(void)
{
    enum { N = 8, K = 100000 };
    pid_t d = start_daemon(NULL);
    CHECK(kill(d, SIGSTOP) == 0, "SIGSTOP");
    proc c[N];
    const char *args[] = {"--pairs", "100000", NULL};
    for (int i = 0; i < N; i++)
        c[i] = start_client(0, args);
    it_sleep_ms(1500); /* the stimulus: a daemon that answers nobody for 1.5 s */
    CHECK(kill(d, SIGCONT) == 0, "SIGCONT");
    check_all_taken(c, N, 2ull * K);
}

static void case_refused_line(void)
{
    static const char *const extra[] = {"--max-clients", "1", NULL};
    start_daemon(extra);
    const char *hold[] = {"--leak", "1", "--hold", NULL};
    proc a = start_client(0, hold);
    char line[128];
    expect_line(&a, "ready 0", line, sizeof line);
    const char *few[] = {"--then", "10", NULL};
    proc b = start_client(0, few);
    cstats st = finish_client(&b);
    CHECK_EQ(st.connected, 0);
    CHECK_EQ(st.dropped, 0);
    static const char *const any[] = {"ttmem: ", NULL};
    static const char *const why[] = {"ttmem: the daemon at ", "refused this process",
                                      "at most 1 clients", "dropped and counted", NULL};
    CHECK_EQ(count_lines(b.err, any), 1);
    CHECK_EQ(count_lines(b.err, why), 1);
    CHECK(write(a.in, "q\n", 2) == 2, "write");
    finish_client(&a);
    ttm_report s;
    snap(&s);
    CHECK(s.daemon.clients_refused >= 1, "refused %llu",
          (unsigned long long)s.daemon.clients_refused);
    ttm_report_clear(&s);
}

static const it_case_entry cases[] = {
    {"mt_first_use", case_mt_first_use},         {"restart_backoff", case_restart_backoff},
    {"closefrom_attached", case_closefrom_attached},
    {"closefrom_detached", case_closefrom_detached},
    {"many", case_many},                         {"slow_daemon", case_slow_daemon},
    {"refused_line", case_refused_line},
};

int main(int argc, char **argv)
{
    static const it_program prog = {"it_trust_client", "TTMEMD IT_CLIENT", {&g_ttmemd, &g_client},
                                    cases, sizeof cases / sizeof cases[0],
                                    "/tmp/ttmem-itc.XXXXXX", CASE_TIMEOUT_S};
    int status;
    void (*fn)(void) = it_main_begin(&prog, argc, argv, &status);
    if (fn == NULL)
        return status;
    snprintf(g_sock, sizeof g_sock, "%s/d.sock", it_dir);
    snprintf(g_query, sizeof g_query, "%s.query", g_sock);
    snprintf(g_err, sizeof g_err, "%s/ttmemd.err", it_dir);
    fn();
    return it_passed();
}
