/*
 * it_restart.c — integration tests of ttmemd's state across restarts (issue 9, item 5;
 * docs/DAEMON.md "Restart"): a real daemon on a temporary socket, the real client
 * it_restart_client (a described device, 8.5 GiB of DRAM, one L1 buffer), and the daemon
 * stopped or killed and started again on the same socket while the client lives.
 *
 * Cases (one per run: `it_restart CASE TTMEMD CLIENT`):
 *   clean     SIGTERM, restart: arch, capacity and per-process bytes as before; the frees of
 *             buffers allocated before the restart are free_ok (0 unknown_free); the L1 buffer
 *             is reported leaked when the client exits
 *   crash     SIGKILL after a checkpoint that holds every event: the same
 *   window    SIGKILL with events consumed after the state was written: they are replayed from
 *             the client's ring
 *   gone      the client dies while no daemon runs: the restarted daemon settles its exit
 *   corrupt   truncated, flipped, other-version, symlinked and FIFO state files: one log line each,
 *             the daemon starts empty and serves a client
 *   disabled  --no-state writes and reads nothing
 * Nothing waits on time: every wait is for a line, a log line or a snapshot field, under a
 * deadline that only turns a hang into a failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/arch.h"
#include "core/report.h"
#include "core/registry.h"
#include "harness.h"

#define CASE_TIMEOUT_S 100
#define NBUF 17
#define BUF_BYTES (512ull << 20)

static const char *g_ttmemd, *g_client;
static char g_sock[96], g_query[108], g_log[128], g_state[128];

typedef struct client {
    pid_t pid;
    int in, out;
} client;

static client start_client(void)
{
    char sock_env[160];
    snprintf(sock_env, sizeof sock_env, "TTMEM_SOCKET=%s", g_sock);
    const char *argv[] = {g_client, NULL};
    const char *env[] = {"TT_ALLOC_TRACKING_ENABLED", "TTMEM_RING_SLOTS", sock_env, "TTMEM=1",
                         NULL};
    client c;
    c.pid = it_spawn(argv, env, &c.in, &c.out);
    return c;
}

static void expect_line(client *c, const char *want)
{
    char line[128];
    CHECK(it_read_line(c->out, line, sizeof line, 20000) == 0, "no line from the client");
    CHECK(strcmp(line, want) == 0, "client said '%s', expected '%s'", line, want);
}

static void send_line(client *c)
{
    CHECK(write(c->in, "go\n", 3) == 3, "write to the client");
}

static pid_t start_daemon(const char *const *extra)
{
    return it_start_ttmemd(g_ttmemd, g_sock, g_log, extra);
}

static void stop_daemon(pid_t pid)
{
    CHECK(kill(pid, SIGTERM) == 0, "kill");
    int status = it_wait_exit(pid, 20000);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "daemon status 0x%x", status);
}

static void snap(ttm_report *s)
{
    it_snap(g_query, TTM_SNAP_WANT_STATUS, 5000, s);
}

static const ttm_device_stats *dev_of(const ttm_report *s, uint16_t id)
{
    for (size_t i = 0; i < s->ndevices; i++)
        if (s->devices[i].device == id)
            return &s->devices[i];
    return NULL;
}

static uint64_t proc_dram(const ttm_report_proc *p)
{
    for (size_t i = 0; i < p->stats.ndevices; i++)
        if (p->stats.devices[i].device == 0)
            return p->stats.devices[i].mem[TTM_MEM_DRAM].live_bytes;
    return 0;
}

/* Lines of the daemon's log holding needle. */
static int log_count(const char *needle)
{
    FILE *f = fopen(g_log, "r");
    if (f == NULL)
        return 0;
    char line[2048];
    int n = 0;
    while (fgets(line, sizeof line, f) != NULL)
        n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

/* True when a checkpoint holding at least `events` registry events was written. */
static bool checkpoint_with(unsigned long long events)
{
    FILE *f = fopen(g_log, "r");
    if (f == NULL)
        return false;
    char line[2048];
    bool found = false;
    while (!found && fgets(line, sizeof line, f) != NULL) {
        const char *p = strstr(line, "(checkpoint): ");
        found = p != NULL && strtoull(p + 14, NULL, 10) >= events;
    }
    fclose(f);
    return found;
}

/* Waits until the client's process is connected to the current daemon and was reattached. */
static void wait_reattached(pid_t pid)
{
    int64_t deadline = it_now_ms() + 20000;
    for (;;) {
        ttm_report s;
        snap(&s);
        const ttm_report_proc *p = it_proc_of(&s, pid);
        bool ok = p != NULL && p->connected && p->reattached;
        ttm_report_clear(&s);
        if (ok)
            return;
        CHECK(it_now_ms() < deadline, "pid %d never reattached", (int)pid);
        it_sleep_ms(10);
    }
}

/* Waits until pid is known and exited, with `leaked` buffers leaked. */
static void wait_exited(pid_t pid, uint64_t leaked)
{
    int64_t deadline = it_now_ms() + 20000;
    for (;;) {
        ttm_report s;
        snap(&s);
        const ttm_report_proc *p = it_proc_of(&s, pid);
        bool ok = p != NULL && !p->stats.alive && p->stats.leaked_count == leaked;
        ttm_report_clear(&s);
        if (ok)
            return;
        CHECK(it_now_ms() < deadline, "pid %d not settled as exited with %llu leaks", (int)pid,
              (unsigned long long)leaked);
        it_sleep_ms(10);
    }
}

/* What the daemon must know of the client before its frees: the described device with the
 * profile's capacities, and its bytes. */
static void check_picture(pid_t pid)
{
    ttm_report s;
    snap(&s);
    const ttm_device_stats *d = dev_of(&s, 0);
    CHECK(d != NULL, "device 0 unknown");
    CHECK_EQ(d->arch, TTM_ARCH_WORMHOLE_B0);
    const ttm_arch_profile *wh = ttm__arch_profile(TTM_ARCH_WORMHOLE_B0);
    CHECK_EQ(d->capacity[TTM_SPACE_DRAM], ttm__arch_dram_bytes(wh));
    CHECK_EQ(d->capacity[TTM_SPACE_L1], ttm__arch_l1_bytes(wh));
    CHECK_EQ(d->mem[TTM_MEM_DRAM].live_bytes, NBUF * BUF_BYTES);
    const ttm_report_proc *p = it_proc_of(&s, pid);
    CHECK(p != NULL, "the client is unknown");
    CHECK_EQ(proc_dram(p), NBUF * BUF_BYTES);
    CHECK_EQ(p->stats.live_records, NBUF + 1);
    ttm_report_clear(&s);
}

/* After the restart: the frees are ok, the exit reports the one leak, nothing was unseen. */
static void finish_client(client *c)
{
    send_line(c);
    expect_line(c, "freed 0");
    send_line(c);
    int status = it_wait_exit(c->pid, 20000);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "client status 0x%x", status);
    wait_exited(c->pid, 1);
    ttm_report s;
    snap(&s);
    CHECK_EQ(it_class(&s, TTM_CLASS_FREE_OK), NBUF);
    CHECK_EQ(it_class(&s, TTM_CLASS_UNKNOWN_FREE), 0);
    CHECK_EQ(it_class(&s, TTM_CLASS_EXCESS_FREE), 0);
    CHECK_EQ(it_class(&s, TTM_CLASS_LEAKED_AT_EXIT), 1);
    CHECK_EQ(it_class(&s, TTM_CLASS_ALLOC_OK), NBUF + 1);
    const ttm_report_proc *p = it_proc_of(&s, c->pid);
    CHECK_EQ(p->stats.leaked_bytes, 4096);
    CHECK_EQ(proc_dram(p), 0);
    CHECK_EQ(p->prior_events, 0); /* every event is in this daemon's registry */
    CHECK_EQ(p->events, 1 + NBUF + 1 + NBUF); /* describe, allocations, frees */
    ttm_report_clear(&s);
}

static void case_clean(void)
{
    pid_t d = start_daemon(NULL);
    client c = start_client();
    expect_line(&c, "ready 0");
    check_picture(c.pid);
    stop_daemon(d);
    struct stat st;
    CHECK(stat(g_state, &st) == 0 && S_ISREG(st.st_mode), "no state file %s", g_state);
    CHECK_EQ(st.st_mode & 0777, 0600);
    d = start_daemon(NULL);
    CHECK_EQ(log_count("state loaded from"), 1);
    wait_reattached(c.pid);
    check_picture(c.pid);
    finish_client(&c);
    stop_daemon(d);
}

static void case_crash(void)
{
    pid_t d = start_daemon(NULL);
    client c = start_client();
    expect_line(&c, "ready 0");
    /* PROC_START + DEVICE_INFO + the allocations: a checkpoint holding all of them */
    int64_t deadline = it_now_ms() + 30000;
    while (!checkpoint_with(2 + NBUF + 1)) {
        CHECK(it_now_ms() < deadline, "no checkpoint with every event");
        it_sleep_ms(20);
    }
    CHECK(kill(d, SIGKILL) == 0, "kill");
    it_wait_exit(d, 10000);
    d = start_daemon(NULL);
    wait_reattached(c.pid);
    check_picture(c.pid);
    finish_client(&c);
    stop_daemon(d);
}

/* The crash window, made deterministic: checkpoints only at a clean stop. The first daemon
 * stops cleanly with the allocations in its state; the second, reloaded, takes the 17 frees and
 * is killed before any checkpoint; the third reloads the older state and must replay the frees
 * from the client's ring, so they are free_ok and only the L1 buffer leaks. */
static void case_window(void)
{
    static const char *const slow[] = {"--checkpoint-interval", "0", NULL};
    pid_t d = start_daemon(slow);
    client c = start_client();
    expect_line(&c, "ready 0");
    stop_daemon(d);
    d = start_daemon(slow);
    wait_reattached(c.pid);
    check_picture(c.pid);
    send_line(&c);
    expect_line(&c, "freed 0"); /* the second daemon has consumed the frees */
    CHECK(kill(d, SIGKILL) == 0, "kill");
    it_wait_exit(d, 10000);
    d = start_daemon(slow);
    wait_reattached(c.pid);
    CHECK_EQ(log_count("17 were replayed from the ring and 0 are missing"), 1);
    ttm_report s;
    snap(&s);
    CHECK_EQ(it_class(&s, TTM_CLASS_FREE_OK), NBUF);
    CHECK_EQ(it_class(&s, TTM_CLASS_UNKNOWN_FREE), 0);
    const ttm_report_proc *p = it_proc_of(&s, c.pid);
    CHECK(p != NULL, "the client is unknown");
    CHECK_EQ(proc_dram(p), 0);
    CHECK_EQ(p->prior_events, 0);
    CHECK_EQ(p->events, 1 + NBUF + 1 + NBUF);
    ttm_report_clear(&s);
    send_line(&c);
    int status = it_wait_exit(c.pid, 20000);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "client status 0x%x", status);
    wait_exited(c.pid, 1);
    snap(&s);
    CHECK_EQ(it_class(&s, TTM_CLASS_LEAKED_AT_EXIT), 1);
    ttm_report_clear(&s);
    stop_daemon(d);
}

/* A state holding the client's buffers, written at a clean stop; then the client dies while no
 * daemon runs. Returns the client's pid. */
static pid_t state_of_dead_client(void)
{
    pid_t d = start_daemon(NULL);
    client c = start_client();
    expect_line(&c, "ready 0");
    stop_daemon(d);
    kill(c.pid, SIGKILL);
    it_wait_exit(c.pid, 10000);
    return c.pid;
}

static void case_gone(void)
{
    client c = {.pid = state_of_dead_client()};
    pid_t d = start_daemon(NULL);
    CHECK_EQ(log_count("exited while no daemon ran"), 1);
    wait_exited(c.pid, NBUF + 1);
    ttm_report s;
    snap(&s);
    CHECK_EQ(it_class(&s, TTM_CLASS_LEAKED_AT_EXIT), NBUF + 1);
    CHECK_EQ(s.totals.live_records, 0);
    const ttm_device_stats *dv = dev_of(&s, 0);
    CHECK(dv != NULL && dv->mem[TTM_MEM_DRAM].live_bytes == 0, "DRAM not reclaimed");
    ttm_report_clear(&s);
    stop_daemon(d);
}

static void write_file(const char *path, const uint8_t *b, size_t len)
{
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(fd >= 0, "create %s", path);
    CHECK(write(fd, b, len) == (ssize_t)len, "write %s", path);
    close(fd);
}

static void case_corrupt(void)
{
    (void)state_of_dead_client(); /* a good state to damage */
    pid_t d;
    FILE *f = fopen(g_state, "rb");
    CHECK(f != NULL, "no state file");
    static uint8_t good[1 << 20];
    size_t len = fread(good, 1, sizeof good, f);
    fclose(f);
    CHECK(len > 64 && len < sizeof good, "state of %zu bytes", len);
    static uint8_t bad[1 << 20];
    for (int variant = 0; variant < 5; variant++) {
        memcpy(bad, good, len);
        size_t blen = len;
        if (variant == 0)
            blen = len / 2; /* truncated */
        else if (variant == 1)
            bad[len / 2] ^= 0x10; /* one bit flipped */
        else if (variant == 2)
            bad[8]++; /* another format version */
        write_file(g_state, bad, blen);
        if (variant == 4) { /* a FIFO planted there: refused, the start does not hang */
            unlink(g_state);
            CHECK(mkfifo(g_state, 0600) == 0, "mkfifo");
        }
        if (variant == 3) { /* a symlink planted where the state goes */
            char target[160];
            snprintf(target, sizeof target, "%s/elsewhere", it_dir);
            write_file(target, good, len);
            unlink(g_state);
            CHECK(symlink(target, g_state) == 0, "symlink");
        }
        int before = log_count("ignored");
        d = start_daemon(NULL);
        CHECK_EQ(log_count("ignored"), before + 1);
        ttm_report s;
        snap(&s);
        CHECK_EQ(s.nprocs, 0);
        CHECK_EQ(s.totals.live_records, 0);
        ttm_report_clear(&s);
        if (variant == 3) { /* the daemon works: a client is served */
            client c2 = start_client();
            expect_line(&c2, "ready 0");
            check_picture(c2.pid);
            kill(c2.pid, SIGKILL);
            it_wait_exit(c2.pid, 10000);
        }
        stop_daemon(d);
    }
    CHECK(log_count("version") >= 1, "the version is not named");
}

static void case_disabled(void)
{
    static const char *const extra[] = {"--no-state", NULL};
    pid_t d = start_daemon(extra);
    client c = start_client();
    expect_line(&c, "ready 0");
    stop_daemon(d);
    struct stat st;
    CHECK(stat(g_state, &st) != 0 && errno == ENOENT, "a state file was written");
    d = start_daemon(extra);
    wait_reattached(c.pid);
    ttm_report s;
    snap(&s);
    const ttm_report_proc *p = it_proc_of(&s, c.pid);
    CHECK(p != NULL && proc_dram(p) == 0, "the daemon knew something without a state");
    ttm_report_clear(&s);
    kill(c.pid, SIGKILL);
    it_wait_exit(c.pid, 10000);
    stop_daemon(d);
}

static const it_case_entry cases[] = {
    {"clean", case_clean},     {"crash", case_crash},       {"window", case_window},
    {"gone", case_gone},
    {"corrupt", case_corrupt}, {"disabled", case_disabled},
};

int main(int argc, char **argv)
{
    static const it_program prog = {"it_restart", "TTMEMD CLIENT", {&g_ttmemd, &g_client},
                                    cases, sizeof cases / sizeof cases[0],
                                    "/tmp/ttmem-rs.XXXXXX", CASE_TIMEOUT_S};
    int status;
    void (*fn)(void) = it_main_begin(&prog, argc, argv, &status);
    if (fn == NULL)
        return status;
    snprintf(g_sock, sizeof g_sock, "%s/d.sock", it_dir);
    snprintf(g_query, sizeof g_query, "%s.query", g_sock);
    snprintf(g_log, sizeof g_log, "%s/ttmemd.err", it_dir);
    snprintf(g_state, sizeof g_state, "%s.state", g_sock);
    fn();
    CHECK(log_count("Sanitizer") == 0 && log_count("runtime error") == 0,
          "sanitizer report in the daemon's log");
    return it_passed();
}
