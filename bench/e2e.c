/*
 * bench/e2e.c — sustained events per second end to end (the budget in docs/ARCHITECTURE.md: ≥ 10 M
 * events/s with zero loss): the application calls the real libttmem, events go through the
 * shared-memory ring to a real ttmemd (started here on a temporary socket), which applies them to
 * its core registry. The clock stops when ttm_client_flush() says the daemon has consumed
 * everything; the daemon's snapshot then says how many events it took from this process, which must
 * equal what the client committed, with nothing dropped.
 *
 * Workloads: alloc/free pairs with a new object id each (every free enters the core's freed-object
 * set, the costliest path), on 1 and 2 threads, and over 100,000 long-lived buffers; the same
 * pairs without object ids (the freed-object set is not involved); and the llama scenario's mix
 * (mesh buffers, views, traces, program buffers) replayed by short-lived processes in turn, each
 * a different seed on its own 8 devices (this one includes process start-up).
 *
 * The daemon alone (its budget in docs/ARCHITECTURE.md: >= 5 M events/s with stacks on): a
 * client process fills its ring (65,536 slots) with the llama mix before its HELLO and keeps it
 * full, 2^20 events a round, and the clock runs from the HELLO to the last event consumed;
 * stacks off, and on (every event carrying a stack and a scope shipped in its side log: ids
 * rewritten, contexts kept), alternating in the same run; the daemon's CPU time per event
 * beside the wall clock.
 *
 * Baseline, same run: the prototype's way end to end — one blocking send() of a 64-byte event
 * per call over a Unix socket to a process that reads each one and applies it to a registry.
 *
 * Usage: bench_e2e [--ttmemd PATH] [--ingest] [events]   (default 10,000,000 per round, 5
 * rounds per row; ttmemd defaults to the one next to the bench directory; --ingest: only the
 * daemon's ingest rows)
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../tests/integration/hand_client.h"
#include "bench_util.h"
#include "common/alloc.h"
#include "core/report.h"
#include "core/registry.h"
#include "sim/sim.h"
#include "ttmem/ttmem.h"

#define LIVE_SET 100000

static char dir[64], sock[128], query[140];
static pid_t daemon_pid = -1;

static void die(const char *what)
{
    fprintf(stderr, "bench_e2e: %s\n", what);
    if (daemon_pid > 0)
        kill(daemon_pid, SIGKILL);
    exit(1);
}

static void start_daemon(const char *ttmemd)
{
    char err[256];
    daemon_pid = ttm_bench_ttmemd_start(ttmemd, sock, NULL, err, sizeof err);
    if (daemon_pid < 0)
        die(err);
}

static void stop_daemon(void)
{
    ttm_bench_ttmemd_stop(daemon_pid, sock, dir);
    daemon_pid = -1;
}

/* Events the daemon took from this process so far, and what it counts as dropped. */
static void daemon_counts(unsigned long long *events, unsigned long long *dropped)
{
    ttm_snap_query q = {.sections = TTM_SNAP_WANT_STATUS};
    ttm_report s;
    char msg[200];
    if (ttm_report_fetch(query, &q, 10000, &s, msg, sizeof msg) != TTM_OK)
        die(msg);
    *events = *dropped = 0;
    for (size_t i = 0; i < s.nprocs; i++)
        if (s.procs[i].stats.pid == (uint32_t)getpid()) {
            *events = s.procs[i].events;
            *dropped = s.procs[i].dropped;
        }
    ttm_report_clear(&s);
}

typedef struct job {
    uint64_t pairs;
    uint64_t base;
    bool with_obj; /* a new object id per buffer (the runtime's unique ids), else none */
} job;

static void *producer(void *arg)
{
    const job *j = arg;
    for (uint64_t i = 0; i < j->pairs; i++) {
        uint64_t addr = j->base + ((i & 4095) << 12);
        uint64_t obj = j->with_obj ? j->base + i + 1 : 0;
        ttm_buffer_alloc(0, TTM_MEM_DRAM, addr, 4096, obj, 0);
        ttm_buffer_free(0, TTM_MEM_DRAM, addr, 4096, obj, 0);
    }
    return NULL;
}

/* ---- the llama mix, generated before the clock starts ---- */

typedef struct mix {
    ttm_event *ev;
    size_t n, cap;
    uint16_t device_base;
} mix;

static void mix_add(void *arg, uint32_t pid, const ttm_event *ev)
{
    (void)pid;
    mix *m = arg;
    if (ev->kind != TTM_EV_ALLOC && ev->kind != TTM_EV_FREE)
        return; /* process start/exit are the daemon's; device info and marks are rare */
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 1 << 20;
        m->ev = ttm__xreallocarray(m->ev, m->cap, sizeof *m->ev);
    }
    m->ev[m->n] = *ev;
    m->ev[m->n].device = (uint16_t)(ev->device + m->device_base);
    m->n++;
}

static void replay(const mix *m)
{
    for (size_t i = 0; i < m->n; i++) {
        const ttm_event *e = &m->ev[i];
        if (e->kind == TTM_EV_ALLOC)
            ttm_buffer_alloc(e->device, (ttm_memtype)e->memtype, e->addr, e->size, e->obj,
                             e->flags);
        else
            ttm_buffer_free(e->device, (ttm_memtype)e->memtype, e->addr, e->size, e->obj,
                            e->flags);
    }
}

/* The llama mix: nproc processes, one after another, each replaying its own seed of the
 * scenario (generated before the clock starts) and exiting; the daemon must have taken every
 * event of every one of them. */
static double run_llama(unsigned nproc, bool *ok)
{
    mix *m = ttm__xcalloc(nproc, sizeof *m);
    uint64_t expected = 0;
    for (unsigned i = 0; i < nproc; i++) {
        m[i].device_base = (uint16_t)(8 + 8 * (i % 6));
        if (ttm_sim_run("llama", TTM_SIM_IDENTITY, i + 1, mix_add, &m[i], NULL) != TTM_OK)
            die("the llama scenario is missing");
        expected += m[i].n;
    }
    pid_t *pids = ttm__xcalloc(nproc, sizeof *pids);
    double t0 = ttm_bench_now_s();
    for (unsigned i = 0; i < nproc; i++) {
        pids[i] = fork();
        if (pids[i] < 0)
            die("fork");
        if (pids[i] == 0) {
            replay(&m[i]);
            _exit(ttm_client_flush(60000) == TTM_OK ? 0 : 1);
        }
        int status;
        waitpid(pids[i], &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            *ok = false;
    }
    double dt = ttm_bench_now_s() - t0;
    /* what the daemon took from those processes */
    ttm_snap_query q = {.sections = TTM_SNAP_WANT_STATUS};
    ttm_report s;
    char msg[200];
    unsigned long long taken = 0, dropped = 0, waited = 0;
    for (int tries = 0; tries < 500; tries++) { /* until the last exit is settled */
        if (ttm_report_fetch(query, &q, 10000, &s, msg, sizeof msg) != TTM_OK)
            die(msg);
        taken = dropped = waited = 0;
        bool open = false;
        for (size_t k = 0; k < s.nprocs; k++)
            for (unsigned i = 0; i < nproc; i++)
                if (s.procs[k].stats.pid == (uint32_t)pids[i]) {
                    taken += s.procs[k].events;
                    dropped += s.procs[k].dropped;
                    waited += s.procs[k].waited;
                    open |= s.procs[k].connected;
                }
        ttm_report_clear(&s);
        if (!open)
            break;
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    unsigned long long lost = expected > taken ? expected - taken : 0;
    double rate = (double)expected / dt;
    char name[64];
    snprintf(name, sizeof name, "llama, %u processes in turn (*)", nproc);
    printf("| %-34s | %7u | %12llu | %8.2f M | %11s | %6.1f | %9llu | %7llu | %4llu |\n", name,
           1u, (unsigned long long)expected, rate / 1e6, "-", dt * 1e9 / (double)expected,
           waited, dropped, lost);
    if (lost != 0 || dropped != 0 || taken != expected)
        *ok = false;
    for (unsigned i = 0; i < nproc; i++)
        ttm__free(m[i].ev);
    ttm__free(m);
    ttm__free(pids);
    return rate;
}

/* ---- the daemon's ingest, stacks off and on (budget: >= 5 M events/s with stacks on) ---- */

#define INGEST_EVENTS (1u << 20) /* per round */
#define INGEST_RING 65536u        /* slots: libttmem's default ring, full before the HELLO */
#define INGEST_ROUNDS 5
#define INGEST_MODULES 8
#define INGEST_STACKS 4096
#define INGEST_DEPTH 32
#define INGEST_SCOPES 64

/* The records of a process with INGEST_MODULES modules, INGEST_STACKS stacks of INGEST_DEPTH
 * return addresses inside them and INGEST_SCOPES scope names. */
static void ingest_side(side_log *l)
{
    for (uint32_t m = 0; m < INGEST_MODULES; m++) {
        char path[64];
        uint8_t bid[20] = {(uint8_t)m, 0x11, 0x22};
        snprintf(path, sizeof path, "/usr/lib/libbench%u.so", m);
        uint64_t lo = 0x7f0000000000ull + ((uint64_t)m << 32);
        side_log_module(l, m + 1, lo - 0x1000, lo, lo + (64u << 20), bid, sizeof bid, path);
    }
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (uint32_t k = 0; k < INGEST_STACKS; k++) {
        uint64_t pcs[INGEST_DEPTH];
        for (int f = 0; f < INGEST_DEPTH; f++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            /* the outer frames shared by many stacks, as real call chains are */
            uint64_t site = f < INGEST_DEPTH / 2 ? x : (uint64_t)f * 977;
            pcs[f] = 0x7f0000000000ull + ((site % INGEST_MODULES) << 32) + (site >> 40) % (64u << 20);
        }
        side_log_stack(l, k + 1, pcs, INGEST_DEPTH);
    }
    for (uint32_t k = 0; k < INGEST_SCOPES; k++) {
        char name[32];
        snprintf(name, sizeof name, "op%u", k);
        side_log_string(l, k + 1, TTM_SIDE_STR_SCOPE, name);
    }
    side_log_commit(l);
}

/* The daemon's time on a CPU so far, in seconds (/proc/PID/schedstat): on a loaded machine
 * its CPU time per event says more than the wall clock. */
static double daemon_cpu_s(void)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/schedstat", (int)daemon_pid);
    FILE *f = fopen(path, "r");
    unsigned long long ns = 0;
    if (f == NULL || fscanf(f, "%llu", &ns) != 1)
        die("cannot read the daemon's schedstat");
    fclose(f);
    return (double)ns / 1e9;
}

/* One round in a child: the ring filled with the mix (ids set when stacks), the side log
 * written, then the HELLO; the clock runs from the HELLO until the daemon has consumed the
 * whole ring. Writes the wall seconds and the daemon's CPU seconds to fd. */
static void ingest_child(const mix *m, bool stacks, int fd)
{
    hand_client c;
    hc_ring(&c, INGEST_RING);
    if (stacks) {
        hc_side(&c, TTM_SIDE_DEFAULT_BYTES, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
        ingest_side(&c.side);
    }
    double t0 = 0, cpu0 = 0;
    for (size_t i = 0; i < m->n; i++) {
        if (i == INGEST_RING) { /* the ring is full: the daemon may start */
            t0 = ttm_bench_now_s();
            cpu0 = daemon_cpu_s();
            if (!hc_hello(&c, sock, 0))
                die("the ingest client could not attach");
        }
        ttm_event e = m->ev[i];
        if (stacks) { /* each call site under one op's scope, as a runtime's are */
            e.stack = 1 + (uint32_t)((i * 2654435761u) % INGEST_STACKS);
            e.scope = 1 + e.stack % INGEST_SCOPES;
        }
        if (!hc_put(&c, &e, i >= INGEST_RING))
            die("the ingest ring is full");
    }
    while (atomic_load_explicit(&c.h->tail, memory_order_acquire) < m->n) {
        struct timespec ts = {0, 20000};
        nanosleep(&ts, NULL);
    }
    double dt[2] = {ttm_bench_now_s() - t0, daemon_cpu_s() - cpu0};
    (void)!write(fd, dt, sizeof dt);
    _exit(0);
}

/* Waits until the daemon has settled pid's exit (no other ring waits behind it). */
static void wait_settled(pid_t pid)
{
    for (int tries = 0; tries < 1000; tries++) {
        ttm_snap_query q = {.sections = TTM_SNAP_WANT_STATUS};
        ttm_report s;
        char msg[200];
        if (ttm_report_fetch(query, &q, 10000, &s, msg, sizeof msg) != TTM_OK)
            die(msg);
        bool open = false;
        for (size_t k = 0; k < s.nprocs; k++)
            if (s.procs[k].stats.pid == (uint32_t)pid)
                open = s.procs[k].connected || s.procs[k].stats.alive;
        ttm_report_clear(&s);
        if (!open)
            return;
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    die("a process's exit was never settled");
}

/* The daemon alone: the llama mix in a ring filled before the HELLO, drained by ttmemd, stacks
 * off (ids 0) and on (every event with a stack and a scope: ids rewritten, contexts kept), in
 * alternating rounds of the same run. Prints both medians and their ratio. */
static void run_ingest(bool *ok)
{
    mix m = {0};
    for (unsigned seed = 1; m.n < INGEST_EVENTS; seed++) {
        m.device_base = (uint16_t)(8 * seed); /* each seed on 8 devices of its own */
        if (ttm_sim_run("llama", TTM_SIM_IDENTITY, seed, mix_add, &m, NULL) != TTM_OK)
            die("the llama scenario is missing");
    }
    m.n = INGEST_EVENTS;
    double rate[2][INGEST_ROUNDS], cpu[2][INGEST_ROUNDS];
    for (int r = 0; r < INGEST_ROUNDS; r++)
        for (int on = 0; on < 2; on++) {
            int p[2];
            if (pipe(p) != 0)
                die("pipe");
            pid_t pid = fork();
            if (pid < 0)
                die("fork");
            if (pid == 0)
                ingest_child(&m, on, p[1]);
            close(p[1]);
            double dt[2] = {0, 0};
            if (read(p[0], dt, sizeof dt) != (ssize_t)sizeof dt || dt[0] <= 0 || dt[1] <= 0)
                *ok = false;
            close(p[0]);
            waitpid(pid, NULL, 0);
            wait_settled(pid);
            rate[on][r] = dt[0] > 0 ? (double)m.n / dt[0] : 0;
            cpu[on][r] = dt[1] > 0 ? (double)m.n / dt[1] : 0;
        }
    for (int on = 0; on < 2; on++) {
        qsort(rate[on], INGEST_ROUNDS, sizeof rate[on][0], ttm_bench_cmp_double);
        qsort(cpu[on], INGEST_ROUNDS, sizeof cpu[on][0], ttm_bench_cmp_double);
        char range[32];
        snprintf(range, sizeof range, "%.1f-%.1f", rate[on][0] / 1e6,
                 rate[on][INGEST_ROUNDS - 1] / 1e6);
        double med = rate[on][INGEST_ROUNDS / 2];
        printf("| %-34s | %7u | %12llu | %8.2f M | %11s | %6.1f | %9s | %7s | %4s |\n",
               on ? "daemon ingest, llama, stacks on (+)" : "daemon ingest, llama, stacks off",
               1u, (unsigned long long)m.n * INGEST_ROUNDS, med / 1e6, range, 1e9 / med, "-",
               "-", "-");
    }
    double off = rate[0][INGEST_ROUNDS / 2], on = rate[1][INGEST_ROUNDS / 2];
    double coff = cpu[0][INGEST_ROUNDS / 2], con = cpu[1][INGEST_ROUNDS / 2];
    printf("\n(+) %u stacks of %u frames in %u modules and %u scopes, shipped in the side log; "
           "every event carries a stack and a scope (ids rewritten, contexts kept): %.2f M "
           "events/s, %.2f x the rate with stacks off (budget: >= 5 M events/s)\n"
           "    per second of the daemon's CPU time (median): stacks off %.2f M events, on "
           "%.2f M events (%.2f x)\n",
           INGEST_STACKS, INGEST_DEPTH, INGEST_MODULES, INGEST_SCOPES, on / 1e6, on / off,
           coff / 1e6, con / 1e6, con / coff);
    ttm__free(m.ev);
}

#define PAIR_ROUNDS 5

/* One row: PAIR_ROUNDS rounds of threads x alloc/free pairs. Prints the median and the range
 * of the rounds' rates, and the sums of waits, drops and losses. Returns the median events/s. */
static double run(const char *name, unsigned threads, uint64_t events, bool with_obj, bool *ok)
{
    double rates[PAIR_ROUNDS];
    unsigned long long committed_all = 0, waited = 0, dropped = 0, lost = 0;
    for (int r = 0; r < PAIR_ROUNDS; r++) {
        ttm_client_stats before, after;
        unsigned long long d_before, d_after, drop_before, drop_after;
        ttm_client_stats_get(&before);
        daemon_counts(&d_before, &drop_before);
        pthread_t th[8];
        job jobs[8];
        double t0 = ttm_bench_now_s();
        for (unsigned t = 0; t < threads; t++) {
            jobs[t] = (job){.pairs = events / 2 / threads,
                            .base = ((uint64_t)(t + 1) << 40) + ((uint64_t)r << 36),
                            .with_obj = with_obj};
            pthread_create(&th[t], NULL, producer, &jobs[t]);
        }
        for (unsigned t = 0; t < threads; t++)
            pthread_join(th[t], NULL);
        int f = ttm_client_flush(60000);
        double dt = ttm_bench_now_s() - t0;
        ttm_client_stats_get(&after);
        daemon_counts(&d_after, &drop_after);
        unsigned long long committed = after.events - before.events;
        unsigned long long taken = d_after - d_before;
        rates[r] = (double)committed / dt;
        committed_all += committed;
        waited += after.waited - before.waited;
        dropped += (after.dropped - before.dropped) + (drop_after - drop_before);
        lost += committed > taken ? committed - taken : 0;
        if (f != TTM_OK || committed != events)
            *ok = false;
    }
    if (lost != 0 || dropped != 0)
        *ok = false;
    qsort(rates, PAIR_ROUNDS, sizeof rates[0], ttm_bench_cmp_double);
    double med = rates[PAIR_ROUNDS / 2];
    char range[32];
    snprintf(range, sizeof range, "%.1f-%.1f", rates[0] / 1e6, rates[PAIR_ROUNDS - 1] / 1e6);
    printf("| %-34s | %7u | %12llu | %8.2f M | %11s | %6.1f | %9llu | %7llu | %4llu |\n", name,
           threads, committed_all, med / 1e6, range, 1e9 / med, waited, dropped, lost);
    fflush(stdout);
    return med;
}

/* ---- the baseline: one blocking send() per event to a reader that applies it ---- */

static double baseline(uint64_t events)
{
    char path[160];
    snprintf(path, sizeof path, "%s/base.sock", dir);
    int ls = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(ls, 1) != 0)
        die("baseline socket");
    int done[2];
    if (pipe(done) != 0)
        die("pipe");
    pid_t pid = fork();
    if (pid == 0) {
        int c = accept(ls, NULL, NULL);
        ttm_registry *reg = NULL;
        if (c < 0 || ttm_registry_open(&reg, NULL) != TTM_OK)
            _exit(1);
        ttm_event ev;
        uint64_t n = 0;
        for (;;) {
            size_t off = 0;
            while (off < sizeof ev) {
                ssize_t k = recv(c, (char *)&ev + off, sizeof ev - off, 0);
                if (k <= 0)
                    goto out;
                off += (size_t)k;
            }
            ttm_registry_apply(reg, 1, &ev);
            n++;
        }
    out:
        (void)!write(done[1], &n, sizeof n);
        _exit(0);
    }
    close(done[1]);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (connect(s, (struct sockaddr *)&sa, sizeof sa) != 0)
        die("baseline connect");
    ttm_event ev;
    memset(&ev, 0, sizeof ev);
    ev.memtype = TTM_MEM_DRAM;
    ev.size = 4096;
    double t0 = ttm_bench_now_s();
    for (uint64_t i = 0; i < events; i++) {
        ev.kind = (i & 1) ? TTM_EV_FREE : TTM_EV_ALLOC;
        ev.addr = ((i / 2) & 4095) << 12;
        ev.obj = i / 2 + 1;
        if (send(s, &ev, sizeof ev, 0) != (ssize_t)sizeof ev)
            die("baseline send");
    }
    close(s);
    uint64_t got = 0;
    if (read(done[0], &got, sizeof got) != (ssize_t)sizeof got)
        die("baseline reader");
    double dt = ttm_bench_now_s() - t0;
    waitpid(pid, NULL, 0);
    close(done[0]);
    close(ls);
    unlink(path);
    double rate = (double)got / dt;
    printf("| %-34s | %7u | %12llu | %8.2f M | %11s | %6.1f | %9s | %7s | %4llu |\n",
           "baseline: blocking send() per event", 1u, (unsigned long long)got, rate / 1e6, "-",
           dt * 1e9 / (double)got, "-", "-", (unsigned long long)(events - got));
    return rate;
}

/* The budget (docs/ARCHITECTURE.md): a snapshot of 32 devices x 64 processes within 1 ms. 64
 * processes each hold a DRAM and an L1 buffer on each of 32 devices; the figure is the median round
 * trip of a status query (connect, request, the daemon builds and encodes, the client decodes). */
static void snapshot_budget(void)
{
    enum { PROCS = 64, DEVICES = 32, ROUNDS = 101 };
    int ready[2], hold[2];
    if (pipe(ready) != 0 || pipe(hold) != 0)
        die("pipe");
    pid_t pids[PROCS];
    for (int i = 0; i < PROCS; i++) {
        pids[i] = fork();
        if (pids[i] < 0)
            die("fork");
        if (pids[i] == 0) {
            close(ready[0]);
            close(hold[1]);
            for (uint16_t d = 0; d < DEVICES; d++) {
                ttm_buffer_alloc(100 + d, TTM_MEM_DRAM, 0x1000000 + (uint64_t)i * 0x100000,
                                 1 << 20, 0, 0);
                ttm_buffer_alloc(100 + d, TTM_MEM_L1, 0x10000 + (uint64_t)i * 0x400, 1024, 0, 0);
            }
            char c = ttm_client_flush(10000) == TTM_OK ? 'r' : 'x';
            (void)!write(ready[1], &c, 1);
            (void)!read(hold[0], &c, 1); /* until the parent closes it */
            _exit(0);
        }
    }
    close(ready[1]);
    close(hold[0]);
    int good = 0;
    for (int i = 0; i < PROCS; i++) {
        char c;
        if (read(ready[0], &c, 1) == 1 && c == 'r')
            good++;
    }
    double t[ROUNDS];
    size_t bytes_devices = 0, procs = 0;
    for (int r = 0; r < ROUNDS; r++) {
        ttm_snap_query q = {.sections = TTM_SNAP_WANT_STATUS};
        ttm_report s;
        char msg[200];
        double t0 = ttm_bench_now_s();
        if (ttm_report_fetch(query, &q, 10000, &s, msg, sizeof msg) != TTM_OK)
            die(msg);
        t[r] = ttm_bench_now_s() - t0;
        bytes_devices = s.ndevices;
        procs = 0;
        for (size_t k = 0; k < s.nprocs; k++)
            procs += s.procs[k].connected;
        ttm_report_clear(&s);
    }
    qsort(t, ROUNDS, sizeof t[0], ttm_bench_cmp_double);
    printf("snapshot (status query round trip) with %zu devices and %zu connected processes: "
           "median %.3f ms, p99 %.3f ms (budget 1 ms)%s\n\n",
           bytes_devices, procs, t[ROUNDS / 2] * 1e3, t[ROUNDS * 99 / 100] * 1e3,
           good == PROCS ? "" : " (some processes failed to attach)");
    close(hold[1]);
    close(ready[0]);
    for (int i = 0; i < PROCS; i++)
        waitpid(pids[i], NULL, 0);
}

int main(int argc, char **argv)
{
    char ttmemd[PATH_MAX] = "";
    uint64_t events = 10000000;
    bool ingest_only = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--ttmemd") == 0 && i + 1 < argc) {
            snprintf(ttmemd, sizeof ttmemd, "%s", argv[++i]);
        } else if (strcmp(argv[i], "--ingest") == 0) {
            ingest_only = true;
        } else {
            char *end;
            events = strtoull(argv[i], &end, 10);
            if (*end != '\0' || events < 1000) {
                fprintf(stderr, "usage: bench_e2e [--ttmemd PATH] [--ingest] [events >= 1000]\n");
                return 2;
            }
        }
    }
    events &= ~3ull; /* whole pairs on 1 and 2 threads */
    ttm_bench_find_ttmemd(ttmemd, sizeof ttmemd);
    ttm_bench_private_paths("e2e", dir, sizeof dir, sock, sizeof sock, query, sizeof query);
    start_daemon(ttmemd);
    /* The ingest rows' processes must not hold a libttmem session of their own beside their
     * hand-made one: they are forked from a process that never used libttmem. */
    bool ok = true;
    if (ingest_only) {
        ttm_bench_machine();
        run_ingest(&ok);
        stop_daemon();
        return ok ? 0 : 1;
    }
    int go[2];
    if (pipe(go) != 0)
        die("pipe");
    pid_t ingest = fork();
    if (ingest < 0)
        die("fork");
    if (ingest == 0) { /* runs its rows when told, after the others */
        close(go[1]);
        char c;
        if (read(go[0], &c, 1) != 1)
            _exit(1);
        run_ingest(&ok);
        fflush(stdout);
        _exit(ok ? 0 : 1);
    }
    close(go[0]);
    setenv("TTMEM", "1", 1);
    setenv("TTMEM_SOCKET", sock, 1);
    if (ttm_buffer_alloc(100, TTM_MEM_L1, 0, 64, 0, 0) != TTM_OK ||
        ttm_client_flush(5000) != TTM_OK)
        die("the client could not attach to ttmemd");
    ttm_buffer_free(100, TTM_MEM_L1, 0, 64, 0, 0);

    ttm_bench_machine();
    snapshot_budget(); /* first, on the fresh daemon: 32 devices, 64 processes and this one */
    printf("ring: %s slots; %d rounds of %llu events per pairs row (alloc/free pairs over 4,096 "
           "addresses): median and range\n\n",
           getenv("TTMEM_RING_SLOTS") ? getenv("TTMEM_RING_SLOTS") : "65536 (default)",
           PAIR_ROUNDS, (unsigned long long)events);
    printf("| %-34s | %7s | %12s | %10s | %11s | %6s | %9s | %7s | %4s |\n", "run", "threads",
           "events", "events/s", "range M/s", "ns/ev", "waited", "dropped", "lost");
    printf("|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n", "------------------------------------", "---------",
           "--------------", "------------", "-------------", "--------", "-----------",
           "---------", "------");
    run("pairs, new object id each", 1, events, true, &ok);
    run("pairs, new object id each", 2, events, true, &ok);
    run("pairs without object ids", 1, events, false, &ok);
    for (uint64_t i = 0; i < LIVE_SET; i++) /* long-lived buffers, as a real run holds */
        ttm_buffer_alloc(1, TTM_MEM_DRAM, 0x100000000ull + (i << 12), 4096, 0x1000000000ull + i,
                         0);
    ttm_client_flush(10000);
    run("pairs + ids, 100,000 live buffers", 1, events, true, &ok);
    run_llama(16, &ok);
    fflush(stdout);
    int status = 0;
    if (write(go[1], "g", 1) != 1 || waitpid(ingest, &status, 0) != ingest ||
        !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        ok = false;
    close(go[1]);
    baseline(events / 10);
    stop_daemon();
    printf("\n(*) each process starts, opens its session, replays one llama run and exits: the "
           "figure includes\n    process start-up and session setup, so it is not the sustained "
           "rate\n");
    printf("\nresult: %s\n", ok ? "every committed event reached the daemon; nothing dropped"
                                : "EVENTS LOST OR DROPPED");
    return ok ? 0 : 1;
}
