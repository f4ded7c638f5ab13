/*
 * it_side.c — the side log end to end (docs/DAEMON.md, "The side log"): a real ttmemd on a
 * temporary socket and clients forked from this program that speak the protocol by hand (a
 * HELLO with a sealed ring, an eventfd and a side log written as side.h says, through
 * side_log.h), so each can also misbehave in one precise way. Checks go through the query
 * socket's per-process and daemon counters and the daemon's log lines. Usage:
 * `it_side CASE TTMEMD`, one case per run:
 *
 *   translate  records of every type taken, events' ids rewritten or counted unknown; a client
 *              without a side log beside it: its ids are all unknown, the other's unaffected
 *   refused    side logs not sealed, sealed against shrinking only, with a wrong magic: each
 *              refused with one line, the session keeps working, an innocent client beside
 *   broken     a record whose length runs past what is committed: the log is read no more,
 *              the ids read before keep working, the session and an innocent client go on
 *   reattach   a new daemon (after a clean stop) reads the same side log from its start: the
 *              reattached client's ids resolve there too
 *   big        more side log than a turn reads before the first event: the events wait for
 *              it, none with an unknown id
 *   crash      after a daemon was killed, the next one replays from the ring what the killed
 *              one took after the saved state, the ids translated through the side log too
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/snapshot.h"
#include "daemon/side_ingest.h"
#include "hand_client.h"
#include "harness.h"

#define NSLOTS 1024u
#define CASE_TIMEOUT_S 90
#define WAIT_MS 30000

static const char *g_ttmemd;
static char g_sock[96], g_query[112], g_log[96];

/* ---- the clients (forked; hand_client.h) -------------------------------------------------- */

typedef hand_client peer;

static void peer_side(peer *p, int seals)
{
    hc_side(p, TTM_SIDE_MIN_BYTES, seals);
}

static bool peer_hello(peer *p, uint32_t flags)
{
    return hc_hello(p, g_sock, flags);
}

/* n allocations, each freed right away, all carrying stack and scope. */
static void peer_pairs(peer *p, unsigned n, uint32_t stack, uint32_t scope)
{
    for (unsigned i = 0; i < n; i++) {
        hc_event(p, TTM_EV_ALLOC, stack, scope);
        hc_event(p, TTM_EV_FREE, stack, scope);
    }
}

/* The records of a process with one module, a scope name and a Python frame: 7 records, two
 * stacks (1: native + Python, 2: an address no module holds). */
static void write_records(side_log *l)
{
    static const uint8_t bid[4] = {1, 2, 3, 4};
    side_log_module(l, 1, 0x400000, 0x401000, 0x409000, bid, 4, "/tmp/it-side-main");
    side_log_string(l, 1, TTM_SIDE_STR_SCOPE, "matmul");
    side_log_string(l, 2, TTM_SIDE_STR_PYFILE, "/src/model.py");
    side_log_string(l, 3, TTM_SIDE_STR_PYFUNC, "forward");
    side_log_pyframe(l, 1, 2, 3, 7);
    uint64_t pcs[] = {0x401234, TTM_SIDE_PYFRAME_BIT | 1};
    side_log_stack(l, 1, pcs, 2);
    uint64_t raw = 0xdead0000;
    side_log_stack(l, 2, &raw, 1);
}

static void peer_records(peer *p)
{
    write_records(&p->side);
    side_log_commit(&p->side);
}

/* The records write_records() writes (*bytes: their bytes), counted on a scratch log. */
static uint64_t records_written(uint64_t *bytes)
{
    static _Alignas(64) uint8_t mem[TTM_SIDE_MIN_BYTES];
    side_log l;
    side_log_init(&l, mem, sizeof mem);
    write_records(&l);
    uint64_t n = 0;
    for (uint64_t at = 0; at < l.end; n++)
        at += 8 + ((ttm__le32(mem + sizeof(ttm_side_hdr) + at + 4) + 7) & ~7u);
    if (bytes != NULL)
        *bytes = l.end;
    return n;
}

/* A well-behaved start: a sealed side log holding write_records(), then the HELLO. */
static void peer_start(peer *p)
{
    peer_side(p, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
    peer_records(p);
    if (!peer_hello(p, 0))
        hc_die("connect");
}

/* Forks a client that runs body, then waits to be killed. */
static pid_t fork_client(void (*body)(peer *p, void *arg), void *arg)
{
    pid_t pid = fork();
    CHECK(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        peer p;
        hc_ring(&p, NSLOTS);
        body(&p, arg);
        for (;;)
            pause();
    }
    it_track(pid);
    return pid;
}

/* ---- checks ------------------------------------------------------------------------------ */

static bool has_events(const ttm_report_proc *p, void *arg)
{
    return p != NULL && p->events >= *(const uint64_t *)arg;
}

/* Waits until pid's events reached n, then takes a snapshot with the stacks section too (it
 * carries the side log counters); returns pid's entry (in *s, freed by the caller). */
static const ttm_report_proc *wait_events(pid_t pid, uint64_t n, ttm_report *s)
{
    it_wait_proc(g_query, pid, has_events, &n, WAIT_MS, "its events never arrived", NULL);
    it_snap(g_query, TTM_SNAP_WANT_STATUS | TTM_SNAP_BIT(TTM_SNAP_SEC_STACKS), WAIT_MS, s);
    const ttm_report_proc *p = it_proc_of(s, (uint32_t)pid);
    CHECK(p != NULL, "pid %d missing", (int)pid);
    return p;
}

static int log_count(const char *needle)
{
    return it_count_lines(g_log, needle);
}

/* An innocent client beside the misbehaving ones: its records taken, its ids all resolved. */
static void body_innocent(peer *p, void *arg)
{
    (void)arg;
    peer_start(p);
    peer_pairs(p, 500, 1, 1);
}

static void check_innocent(pid_t pid)
{
    ttm_report s;
    const ttm_report_proc *p = wait_events(pid, 1000, &s);
    CHECK_EQ(p->side.logs, 1);
    CHECK_EQ(p->side.records, records_written(NULL));
    CHECK_EQ(p->side.stacks, 2);
    CHECK_EQ(p->side.refused + p->side.broken + p->side.bad + p->side.skipped, 0);
    CHECK_EQ(p->side.stack_unknown + p->side.scope_unknown, 0);
    ttm_report_clear(&s);
}

static void start_daemon(void)
{
    it_start_ttmemd(g_ttmemd, g_sock, g_log, NULL);
}

/* ---- cases ------------------------------------------------------------------------------- */

static void body_translate(peer *p, void *arg)
{
    (void)arg;
    peer_start(p);
    peer_pairs(p, 100, 1, 1);  /* known */
    peer_pairs(p, 50, 2, 0);   /* known, no scope */
    peer_pairs(p, 10, 99, 42); /* never shipped */
}

static void body_no_side(peer *p, void *arg)
{
    (void)arg;
    if (!peer_hello(p, 0))
        hc_die("connect");
    peer_pairs(p, 20, 1, 1); /* two descriptors: no side log, every id unknown */
}

static void case_translate(void)
{
    start_daemon();
    pid_t a = fork_client(body_translate, NULL);
    pid_t b = fork_client(body_no_side, NULL);
    ttm_report s;
    const ttm_report_proc *p = wait_events(a, 320, &s);
    CHECK_EQ(p->side.logs, 1);
    uint64_t bytes;
    CHECK_EQ(p->side.records, records_written(&bytes));
    CHECK_EQ(p->side.bytes, bytes);
    CHECK_EQ(p->side.modules, 1);
    CHECK_EQ(p->side.strings, 3);
    CHECK_EQ(p->side.pyframes, 1);
    CHECK_EQ(p->side.stacks, 2);
    CHECK_EQ(p->side.bad + p->side.skipped + p->side.bound + p->side.refs_unknown, 0);
    CHECK_EQ(p->side.stack_unknown, 20);
    CHECK_EQ(p->side.scope_unknown, 20);
    ttm_report_clear(&s);
    p = wait_events(b, 40, &s);
    CHECK_EQ(p->side.logs, 0);
    CHECK_EQ(p->side.records, 0);
    CHECK_EQ(p->side.stack_unknown, 40);
    CHECK_EQ(p->side.scope_unknown, 40);
    /* the daemon's counters are the sum */
    CHECK_EQ(s.daemon.side.logs, 1);
    CHECK_EQ(s.daemon.side.stacks, 2);
    CHECK_EQ(s.daemon.side.stack_unknown, 60);
    ttm_report_clear(&s);
}

static void body_refused(peer *p, void *arg)
{
    int how = *(const int *)arg;
    peer_side(p, how == 0 ? 0 : how == 1 ? F_SEAL_SHRINK : F_SEAL_SHRINK | F_SEAL_GROW);
    if (how == 2)
        side_log_hdr(&p->side)->magic = 0x4242;
    peer_records(p);
    if (!peer_hello(p, 0))
        hc_die("connect");
    peer_pairs(p, 30, 1, 1);
}

static void case_refused(void)
{
    start_daemon();
    static const int hows[3] = {0, 1, 2}; /* not sealed, shrink only, wrong magic */
    pid_t bad[3];
    for (int i = 0; i < 3; i++)
        bad[i] = fork_client(body_refused, (void *)&hows[i]);
    pid_t ok = fork_client(body_innocent, NULL);
    for (int i = 0; i < 3; i++) {
        ttm_report s;
        const ttm_report_proc *p = wait_events(bad[i], 60, &s); /* its session works */
        CHECK_EQ(p->side.refused, 1);
        CHECK_EQ(p->side.logs + p->side.records, 0);
        CHECK_EQ(p->side.stack_unknown, 60);
        ttm_report_clear(&s);
    }
    check_innocent(ok);
    CHECK_EQ(log_count("side log refused"), 3);
    CHECK_EQ(log_count("sealed against shrinking and growing"), 2);
    CHECK_EQ(log_count("not TTMSIDE1"), 1);
}

static void body_broken(peer *p, void *arg)
{
    (void)arg;
    peer_start(p);
    peer_pairs(p, 50, 1, 1);
    uint8_t junk[16] = {0};
    side_log_rec_raw(&p->side, TTM_SIDE_STRING, 0x7fffffffu, junk, sizeof junk);
    side_log_string(&p->side, 4, TTM_SIDE_STR_SCOPE, "after the break");
    side_log_commit(&p->side);
    peer_pairs(p, 50, 1, 1); /* read before the break: still known */
    peer_pairs(p, 10, 2, 4); /* stack known; scope 4 lies past the break */
}

static void case_broken(void)
{
    start_daemon();
    pid_t a = fork_client(body_broken, NULL);
    pid_t ok = fork_client(body_innocent, NULL);
    ttm_report s;
    const ttm_report_proc *p = wait_events(a, 220, &s);
    CHECK_EQ(p->side.broken, 1);
    CHECK_EQ(p->side.records, records_written(NULL));
    CHECK_EQ(p->side.stack_unknown, 0);
    CHECK_EQ(p->side.scope_unknown, 20);
    ttm_report_clear(&s);
    check_innocent(ok);
    CHECK_EQ(log_count("side log broken"), 1);
}

/* Round 0: 100 pairs of known ids; then, after each daemon goes (arg: how many times), the
 * same ring and side log handed to the next one, and 100 pairs of known ids and 10 pairs of a
 * stack id never shipped. */
static void body_rounds(peer *p, void *arg)
{
    int reattaches = *(const int *)arg;
    peer_start(p);
    peer_pairs(p, 100, 1, 1);
    for (int r = 0; r < reattaches; r++) {
        char c;
        while (recv(p->sock, &c, 1, 0) != 0) /* until the daemon goes */
            if (errno != EINTR)
                break;
        close(p->sock);
        while (!peer_hello(p, TTM_HELLO_REATTACH))
            it_sleep_ms(20);
        peer_pairs(p, 100, 1, 1);
        peer_pairs(p, 10, 99, 0);
    }
}

/* A daemon stopped with SIGTERM (clean) or SIGKILL (a crash), after pid's events reached n. */
static void stop_after(pid_t d, pid_t pid, uint64_t n, int sig)
{
    ttm_report s;
    wait_events(pid, n, &s);
    ttm_report_clear(&s);
    CHECK(kill(d, sig) == 0, "kill: %s", strerror(errno));
    it_wait_exit(d, WAIT_MS);
}

/* The n-th daemon of a case (saving its state only at a clean stop), logging to the case's
 * log for the first (checked at the end), DIR/ttmemd-N.err for the others (path filled). */
static pid_t next_daemon(int n, char *path, size_t len)
{
    static const char *const extra[] = {"--checkpoint-interval", "0", NULL};
    if (n == 1)
        snprintf(path, len, "%s", g_log);
    else
        snprintf(path, len, "%s/ttmemd-%d.err", it_dir, n);
    return it_start_ttmemd(g_ttmemd, g_sock, path, extra);
}

/* pid's counters on the daemon now, once its events reached n: it read the whole side log from
 * its start (records_written), and counted unknown the stack ids it was told to expect. */
static void check_reread(pid_t pid, uint64_t n, uint64_t unknown)
{
    ttm_report s;
    const ttm_report_proc *p = wait_events(pid, n, &s);
    CHECK(p->reattached, "not reattached");
    CHECK_EQ(p->side.logs, 1);
    CHECK_EQ(p->side.records, records_written(NULL));
    CHECK_EQ(p->side.stacks, 2);
    CHECK_EQ(p->side.stack_unknown, unknown);
    CHECK_EQ(p->side.scope_unknown, 0);
    ttm_report_clear(&s);
}

static void case_reattach(void)
{
    static const int once = 1;
    char log[128];
    pid_t d = next_daemon(1, log, sizeof log);
    pid_t a = fork_client(body_rounds, (void *)&once);
    stop_after(d, a, 200, SIGTERM);
    next_daemon(2, log, sizeof log);
    /* the state restores the events, not these counters: they are the new daemon's own */
    check_reread(a, 200 + 220, 20);
    CHECK(it_count_lines(log, "Sanitizer") == 0, "sanitizer report in the second daemon's log");
}

/* A crash: the events the crashed daemon took after the last saved state are replayed from the
 * ring by the next one (state.c), their ids translated through the side log like any others. */
static void case_crash(void)
{
    static const int twice = 2;
    char log[128];
    pid_t d = next_daemon(1, log, sizeof log);
    pid_t a = fork_client(body_rounds, (void *)&twice);
    stop_after(d, a, 200, SIGTERM);      /* its state: 200 events */
    d = next_daemon(2, log, sizeof log); /* takes 220 more, saves nothing */
    stop_after(d, a, 200 + 220, SIGKILL);
    next_daemon(3, log, sizeof log);     /* replays those 220, then takes 220 */
    check_reread(a, 200 + 220 + 220, 20 + 20);
    CHECK_EQ(it_count_lines(log, "were replayed from the ring"), 1);
    CHECK(it_count_lines(log, "Sanitizer") == 0, "sanitizer report in the third daemon's log");
}

/* More records than a turn reads (TTM_SIDE_IN_BUDGET) before the first event: the events wait
 * in the ring until the log is read as far as they need, none with an unknown id. */
#define BIG_STRINGS 6000u /* of 1,000 bytes: 6 MB */

static void body_big(peer *p, void *arg)
{
    (void)arg;
    hc_side(p, TTM_SIDE_DEFAULT_BYTES, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
    write_records(&p->side); /* strings 1..3 */
    char name[1001];
    memset(name, 'x', 1000);
    name[1000] = '\0';
    for (uint32_t i = 4; i < 4 + BIG_STRINGS; i++) {
        snprintf(name, 12, "%010u", i); /* distinct strings */
        name[10] = 'x';
        side_log_string(&p->side, i, TTM_SIDE_STR_SCOPE, name);
    }
    side_log_commit(&p->side);
    if (!peer_hello(p, 0))
        hc_die("connect");
    peer_pairs(p, 100, 1, 3 + BIG_STRINGS); /* the last string */
}

static void case_big(void)
{
    start_daemon();
    pid_t a = fork_client(body_big, NULL);
    ttm_report s;
    const ttm_report_proc *p = wait_events(a, 200, &s);
    CHECK(p->side.bytes > TTM_SIDE_IN_BUDGET, "only %llu bytes", (unsigned long long)p->side.bytes);
    CHECK_EQ(p->side.strings, 3 + BIG_STRINGS);
    CHECK_EQ(p->side.stack_unknown + p->side.scope_unknown + p->side.bad, 0);
    ttm_report_clear(&s);
}

static const it_case_entry cases[] = {
    {"translate", case_translate},
    {"refused", case_refused},
    {"broken", case_broken},
    {"reattach", case_reattach},
    {"crash", case_crash},
    {"big", case_big},
};

int main(int argc, char **argv)
{
    static const it_program prog = {"it_side", "TTMEMD", {&g_ttmemd}, cases,
                                    sizeof cases / sizeof cases[0], "/tmp/ttmem-sd.XXXXXX",
                                    CASE_TIMEOUT_S};
    int status;
    void (*fn)(void) = it_main_begin(&prog, argc, argv, &status);
    if (fn == NULL)
        return status;
    snprintf(g_sock, sizeof g_sock, "%s/d.sock", it_dir);
    snprintf(g_query, sizeof g_query, "%s.query", g_sock);
    snprintf(g_log, sizeof g_log, "%s/ttmemd.err", it_dir);
    fn();
    CHECK(log_count("Sanitizer") == 0 && log_count("runtime error") == 0,
          "sanitizer report in the daemon's log");
    return it_passed();
}
