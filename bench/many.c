/*
 * bench/many.c — many producer processes at once against one real ttmemd: N processes, each
 * committing M events through the real libttmem (alloc/free pairs with distinct object ids),
 * all started together. Printed: the events lost by every count there is (the daemon's
 * snapshot: events taken versus committed, its `dropped`, its refused/rejected clients; the
 * clients' own `dropped` and whether each attached), the daemon's peak RSS (VmHWM of
 * /proc/PID/status), and the wall time from the first fork to the daemon having taken every
 * event. Baseline, same run: 1 process x M events against a fresh daemon; the ratios follow.
 *
 * Usage: bench_many [--ttmemd PATH] [--procs N] [--events M] [--journal FILE.ttmem]
 * (defaults 64 x 1,000,000; ttmemd defaults to the one next to the bench directory)
 *
 * --journal (issue 12): instead, N x M twice in the same run, against a fresh ttmemd without a
 * journal (the baseline) and one with --journal FILE: events/s end to end both ways, the
 * daemon's CPU time per event (all its threads, /proc/PID/stat) both ways, the journal's bytes
 * per event, and the ratios.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"
#include "core/report.h"
#include "ttmem/ttmem.h"

static char dir[64], sock[128], query[140];
static pid_t daemon_pid = -1;

static void die(const char *what)
{
    fprintf(stderr, "bench_many: %s\n", what);
    if (daemon_pid > 0)
        kill(daemon_pid, SIGKILL);
    exit(1);
}

/* What one client process reports back through its pipe. */
typedef struct report {
    uint64_t events, dropped, waited;
    int connected, flush;
} report;

/* A client: the gate is read at the first call, so the environment is set first. */
static void child_main(unsigned idx, uint64_t events, int out)
{
    setenv("TTMEM", "1", 1);
    setenv("TTMEM_SOCKET", sock, 1);
    uint64_t base = (uint64_t)getpid() << 32;
    for (uint64_t i = 0; i + 1 < events; i += 2) {
        uint64_t addr = ((uint64_t)(idx + 1) << 32) + ((i / 2) % 65536) * 4096; /* its own */
        ttm_buffer_alloc(0, TTM_MEM_DRAM, addr, 4096, base + i + 1, 0);
        ttm_buffer_free(0, TTM_MEM_DRAM, addr, 4096, base + i + 1, 0);
    }
    report r;
    memset(&r, 0, sizeof r);
    r.flush = ttm_client_flush(600000);
    ttm_client_stats st;
    ttm_client_stats_get(&st);
    r.events = st.events;
    r.dropped = st.dropped;
    r.waited = st.waited;
    r.connected = st.connected;
    ssize_t n = write(out, &r, sizeof r);
    _exit(n == (ssize_t)sizeof r ? 0 : 1);
}

static uint64_t vm_hwm_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    uint64_t kib = 0;
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "VmHWM: %" SCNu64, &kib) == 1)
            break;
    fclose(f);
    return kib;
}

typedef struct result {
    unsigned procs;
    uint64_t per, committed, taken, daemon_dropped, client_dropped, refused, rejected;
    uint64_t waited, detached, flush_failed, hwm_kib;
    double wall_s, cpu_s; /* cpu_s: the daemon's user + system time, every thread */
} result;

/* User + system seconds of pid (all its threads), from /proc/PID/stat; 0 when unreadable. */
static double cpu_seconds(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the name may hold spaces */
    unsigned long long ut = 0, st = 0;
    if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
                            &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void fetch(ttm_report *s)
{
    ttm_snap_query q = {.sections = TTM_SNAP_WANT_STATUS};
    char msg[200];
    if (ttm_report_fetch(query, &q, 30000, s, msg, sizeof msg) != TTM_OK)
        die(msg);
}

static result run(const char *ttmemd, unsigned procs, uint64_t per, const char *const *extra)
{
    result r;
    memset(&r, 0, sizeof r);
    r.procs = procs;
    r.per = per & ~1ull;
    char err[256];
    daemon_pid = ttm_bench_ttmemd_start(ttmemd, sock, extra, err, sizeof err);
    if (daemon_pid < 0)
        die(err);
    int p[2];
    if (pipe(p) != 0)
        die("pipe");
    pid_t *kids = calloc(procs, sizeof *kids);
    if (kids == NULL)
        die("out of memory");
    double t0 = ttm_bench_now_s();
    for (unsigned i = 0; i < procs; i++) {
        pid_t pid = kids[i] = fork();
        if (pid < 0)
            die("fork");
        if (pid == 0) {
            close(p[0]);
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            child_main(i, r.per, p[1]);
        }
    }
    close(p[1]);
    for (unsigned i = 0; i < procs; i++) {
        report c;
        ssize_t n = read(p[0], &c, sizeof c);
        if (n != (ssize_t)sizeof c) {
            r.detached++; /* a client that died without reporting: count it as lost */
            continue;
        }
        r.committed += c.events;
        r.client_dropped += c.dropped;
        r.waited += c.waited;
        r.detached += c.connected ? 0 : 1;
        r.flush_failed += c.flush != TTM_OK;
    }
    close(p[0]);
    for (unsigned i = 0; i < procs; i++) /* reap every client (not the daemon) */
        while (waitpid(kids[i], NULL, 0) < 0 && errno == EINTR) {
        }
    free(kids);
    /* The daemon has taken everything when its count reaches what was committed, or when no
     * session is left open (what is missing then is lost). */
    ttm_report s;
    for (;;) {
        fetch(&s);
        bool open = s.daemon.clients_connected > 0;
        if (s.daemon.events >= (uint64_t)procs * r.per || !open)
            break;
        ttm_report_clear(&s);
        usleep(1000);
    }
    r.wall_s = ttm_bench_now_s() - t0;
    r.taken = s.daemon.events;
    r.daemon_dropped = s.daemon.dropped;
    r.refused = s.daemon.clients_refused;
    r.rejected = s.daemon.clients_rejected;
    ttm_report_clear(&s);
    r.hwm_kib = vm_hwm_kib(daemon_pid);
    r.cpu_s = cpu_seconds(daemon_pid);
    ttm_bench_ttmemd_stop(daemon_pid, sock, "");
    daemon_pid = -1;
    return r;
}

static uint64_t lost(const result *r)
{
    uint64_t want = (uint64_t)r->procs * r->per;
    return want > r->taken ? want - r->taken : 0;
}

static void print(const char *name, const result *r)
{
    printf("  %-9s %3u x %-9" PRIu64 " lost %-9" PRIu64 " (daemon dropped %" PRIu64
           ", clients dropped %" PRIu64 ", detached %" PRIu64 ", refused %" PRIu64
           ", rejected %" PRIu64 ")\n",
           name, r->procs, r->per, lost(r), r->daemon_dropped, r->client_dropped, r->detached,
           r->refused, r->rejected);
    printf("  %-9s daemon peak RSS %.1f MiB, wall %.2f s, %.2f M events/s, waited %" PRIu64
           ", flush failed %" PRIu64 "\n",
           "", r->hwm_kib / 1024.0, r->wall_s,
           (double)r->procs * (double)r->per / r->wall_s / 1e6, r->waited, r->flush_failed);
}

/* --journal: the same load without and with the journal, in this run. */
static int journal_compare(const char *ttmemd, unsigned procs, uint64_t per, const char *path)
{
    printf("bench_many --journal: %u processes x %" PRIu64 " events, one ttmemd without, then "
           "with --journal %s\n",
           procs, per, path);
    const char *plain[] = {"--no-state", NULL}; /* both: no checkpoints in either figure */
    result off = run(ttmemd, procs, per, plain);
    print("no journal", &off);
    const char *extra[] = {"--journal", path, "--no-state", NULL};
    result on = run(ttmemd, procs, per, extra);
    print("journal", &on);
    FILE *f = fopen(path, "r");
    long bytes = 0;
    if (f != NULL && fseek(f, 0, SEEK_END) == 0)
        bytes = ftell(f);
    if (f != NULL)
        fclose(f);
    double n = (double)procs * (double)(per & ~1ull);
    double cpu_off = off.cpu_s / n * 1e9, cpu_on = on.cpu_s / n * 1e9;
    printf("  events/s  %.2f M without, %.2f M with the journal: ratio %.3f\n",
           n / off.wall_s / 1e6, n / on.wall_s / 1e6, off.wall_s / on.wall_s);
    printf("  daemon CPU %.1f ns/event without, %.1f ns/event with (every thread): the journal "
           "costs %.1f ns/event = %.1f M events/s per core\n",
           cpu_off, cpu_on, cpu_on - cpu_off,
           cpu_on > cpu_off ? 1e3 / (cpu_on - cpu_off) : 0.0);
    printf("  journal   %ld bytes, %.2f bytes/event\n", bytes, (double)bytes / n);
    unlink(path);
    rmdir(dir);
    return lost(&off) == 0 && lost(&on) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    char ttmemd[PATH_MAX] = "";
    const char *journal = NULL;
    unsigned procs = 64;
    uint64_t per = 1000000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--ttmemd") == 0 && i + 1 < argc)
            snprintf(ttmemd, sizeof ttmemd, "%s", argv[++i]);
        else if (strcmp(argv[i], "--procs") == 0 && i + 1 < argc)
            procs = (unsigned)strtoul(argv[++i], NULL, 0);
        else if (strcmp(argv[i], "--events") == 0 && i + 1 < argc)
            per = strtoull(argv[++i], NULL, 0);
        else if (strcmp(argv[i], "--journal") == 0 && i + 1 < argc)
            journal = argv[++i];
        else {
            fprintf(stderr, "usage: bench_many [--ttmemd PATH] [--procs N] [--events M] "
                            "[--journal FILE.ttmem]\n");
            return 2;
        }
    }
    if (procs < 1 || procs > 4096 || per < 2) {
        fprintf(stderr, "bench_many: --procs must be 1..4096 and --events at least 2\n");
        return 2;
    }
    ttm_bench_find_ttmemd(ttmemd, sizeof ttmemd);
    ttm_bench_private_paths("many", dir, sizeof dir, sock, sizeof sock, query, sizeof query);

    ttm_bench_machine();
    if (journal != NULL)
        return journal_compare(ttmemd, procs, per, journal);
    printf("bench_many: %u processes x %" PRIu64 " events, all at once, one ttmemd\n", procs,
           per);
    result base = run(ttmemd, 1, per, NULL);
    print("baseline", &base);
    result many = run(ttmemd, procs, per, NULL);
    print("many", &many);
    printf("  ratio     wall %.1fx for %ux the events (%.2fx the time per event), peak RSS "
           "%.2fx\n",
           many.wall_s / base.wall_s, procs,
           many.wall_s / base.wall_s / procs, (double)many.hwm_kib / (double)base.hwm_kib);
    rmdir(dir);
    return lost(&many) == 0 && many.client_dropped == 0 ? 0 : 1;
}
