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

/* Waits until pid's events reached n; returns its entry (in *s, freed by the caller). */
static const ttm_report_proc *wait_events(pid_t pid, uint64_t n, ttm_report *s)
{
    it_wait_proc(g_query, pid, has_events, &n, WAIT_MS, "its events never arrived", s);
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

static void body_reattach(peer *p, void *arg)
{
    (void)arg;
    peer_start(p);
    peer_pairs(p, 100, 1, 1);
    /* wait for the daemon to go, then for the next one, and hand it the same ring and log */
    char c;
    while (recv(p->sock, &c, 1, 0) != 0)
        if (errno != EINTR)
            break;
    close(p->sock);
    while (!peer_hello(p, TTM_HELLO_REATTACH))
        it_sleep_ms(20);
    peer_pairs(p, 100, 1, 1);
}

static void case_reattach(void)
{
    pid_t d = it_start_ttmemd(g_ttmemd, g_sock, g_log, NULL);
    pid_t a = fork_client(body_reattach, NULL);
    ttm_report s;
    const ttm_report_proc *p = wait_events(a, 200, &s);
    CHECK_EQ(p->side.stacks, 2);
    ttm_report_clear(&s);
    CHECK(kill(d, SIGTERM) == 0, "kill: %s", strerror(errno));
    it_wait_exit(d, WAIT_MS);
    char log2[128];
    snprintf(log2, sizeof log2, "%s/ttmemd2.err", it_dir);
    it_start_ttmemd(g_ttmemd, g_sock, log2, NULL);
    /* the new daemon's own counters (the state restores the events, not these): it read the
     * whole log from its start */
    uint64_t n = 400;
    it_wait_proc(g_query, a, has_events, &n, WAIT_MS, "no events after the reattach", &s);
    p = it_proc_of(&s, (uint32_t)a);
    CHECK(p->reattached, "not reattached");
    CHECK_EQ(p->side.logs, 1);
    CHECK_EQ(p->side.records, records_written(NULL));
    CHECK_EQ(p->side.stacks, 2);
    CHECK_EQ(p->side.stack_unknown + p->side.scope_unknown, 0);
    ttm_report_clear(&s);
    CHECK(it_count_lines(log2, "Sanitizer") == 0, "sanitizer report in the second daemon's log");
}

static const it_case_entry cases[] = {
    {"translate", case_translate},
    {"refused", case_refused},
    {"broken", case_broken},
    {"reattach", case_reattach},
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
