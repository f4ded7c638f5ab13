/*
 * cmd_record.c — `ttmem record [-o report.json] [--json] -- CMD ARGS...`: runs CMD under a
 * private ttmemd and prints the report when it exits; and the private-daemon helpers that
 * `ttmem demo` shares (cli.h).
 *
 * The private daemon lives in a fresh 0700 temporary directory, in its own process group (a
 * Ctrl-C at the terminal reaches CMD, not the daemon), and reports readiness through a pipe.
 * CMD runs with TTMEM=1 and TTMEM_SOCKET pointing there. SIGINT, SIGTERM, SIGHUP and SIGQUIT
 * sent to ttmem by another process are forwarded to CMD; those the terminal sends reach CMD
 * directly and are not sent twice. ttmem exits with CMD's status (128 + signal if killed).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/alloc.h"
#include "common/fmt.h"

struct ttm_cli_private {
    char dir[64];
    char socket[TTM_CLI_PATH_MAX];
    char query[TTM_CLI_PATH_MAX];
    char log[96];
    pid_t daemon;
};

#define READY_WAIT_MS 10000
#define STOP_WAIT_MS 5000

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

void ttm_cli_sibling(const char *name, char *buf, size_t len)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash != NULL) {
            *slash = '\0';
            if ((size_t)snprintf(buf, len, "%s/%s", self, name) < len && access(buf, X_OK) == 0)
                return;
        }
    }
    snprintf(buf, len, "%s", name);
}

/* ---- the private daemon ------------------------------------------------------------------- */

/* Removes every file of the private directory, then the directory. */
static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d != NULL) {
        struct dirent *e;
        char path[PATH_MAX];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

ssize_t ttm_cli_read_line(int fd, char *buf, size_t len, int timeout_ms)
{
    size_t off = 0;
    int64_t deadline = mono_ms() + timeout_ms;
    buf[0] = '\0';
    while (off < len - 1 && strchr(buf, '\n') == NULL) {
        int64_t left = deadline - mono_ms();
        if (left <= 0)
            return -1;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, (int)left);
        if (r <= 0)
            continue; /* EINTR or the deadline: the loop decides */
        ssize_t n = read(fd, buf + off, len - 1 - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
        buf[off] = '\0';
    }
    return (ssize_t)off;
}

/* Waits for the daemon's word on fd: "ready\n", or its error line (into why). */
static int wait_ready(int fd, pid_t pid, char *why, size_t len)
{
    ssize_t got = ttm_cli_read_line(fd, why, len, READY_WAIT_MS);
    if (got < 0) {
        snprintf(why, len, "it did not become ready within %d ms", READY_WAIT_MS);
        return -1;
    }
    if (strncmp(why, "ready\n", 6) == 0)
        return 0;
    /* end of file or an error line: the daemon failed */
    int status;
    if (got == 0 && waitpid(pid, &status, WNOHANG) == pid && WIFEXITED(status) &&
        WEXITSTATUS(status) == 127)
        snprintf(why, len, "ttmemd could not be run (is it installed next to ttmem?)");
    else if (got == 0)
        snprintf(why, len, "it exited while starting");
    why[strcspn(why, "\n")] = '\0';
    if (strncmp(why, "ttmemd: ", 8) == 0)
        memmove(why, why + 8, strlen(why + 8) + 1);
    return -1;
}


int ttm_cli_private_start(ttm_cli_private **out)
{
    *out = NULL;
    ttm_cli_private *p = ttm__xcalloc(1, sizeof *p);
    p->daemon = -1;
    const char *tmp = getenv("TMPDIR");
    if (tmp == NULL || tmp[0] != '/' || strlen(tmp) > 40)
        tmp = "/tmp";
    snprintf(p->dir, sizeof p->dir, "%s/ttmem-record.XXXXXX", tmp);
    if (mkdtemp(p->dir) == NULL) {
        fprintf(stderr, "ttmem: cannot create a private directory in %s: %s\n", tmp,
                strerror(errno));
        ttm__free(p);
        return 1;
    }
    snprintf(p->socket, sizeof p->socket, "%s/ttmemd.sock", p->dir);
    snprintf(p->query, sizeof p->query, "%s/ttmemd.sock.query", p->dir);
    snprintf(p->log, sizeof p->log, "%s/ttmemd.log", p->dir);

    char daemon[PATH_MAX];
    ttm_cli_sibling("ttmemd", daemon, sizeof daemon);
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        fprintf(stderr, "ttmem: cannot create a pipe: %s\n", strerror(errno));
        goto out_remove_dir;
    }
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "ttmem: cannot fork: %s\n", strerror(errno));
        close(pipefd[0]);
        close(pipefd[1]);
        goto out_remove_dir;
    }
    if (pid == 0) {
        setpgid(0, 0); /* away from the terminal's signals: CMD gets those */
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* a killed ttmem takes its private daemon along */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, STDIN_FILENO);
            dup2(null, STDOUT_FILENO);
            dup2(null, STDERR_FILENO);
        }
        if (dup2(pipefd[1], 3) < 0)
            _exit(127);
        /* --no-state: a private daemon lives for one command; its directory is removed after */
        char *args[] = {daemon,         "--foreground", "--socket",   p->socket,
                        "--ready-fd",   "3",            "--log-file", p->log,
                        "--log-level", "info",         "--no-state", NULL};
        execvp(daemon, args);
        _exit(127);
    }
    close(pipefd[1]);
    p->daemon = pid;
    char why[512];
    int rc = wait_ready(pipefd[0], pid, why, sizeof why);
    close(pipefd[0]);
    if (rc != 0) {
        fprintf(stderr, "ttmem: cannot start a private ttmemd: %s\n", why);
        ttm_cli_private_stop(p);
        return 1;
    }
    *out = p;
    return 0;

out_remove_dir:
    remove_dir(p->dir);
    ttm__free(p);
    return 1;
}

const char *ttm_cli_private_socket(const ttm_cli_private *p)
{
    return p->socket;
}

pid_t ttm_cli_private_spawn(const ttm_cli_private *p, char *const argv[], int stdout_fd)
{
    /* The exec error travels through a close-on-exec pipe: nothing arrives on success. */
    int errpipe[2];
    if (pipe2(errpipe, O_CLOEXEC) != 0) {
        fprintf(stderr, "ttmem: cannot create a pipe: %s\n", strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "ttmem: cannot fork: %s\n", strerror(errno));
        close(errpipe[0]);
        close(errpipe[1]);
        return -1;
    }
    if (pid == 0) {
        close(errpipe[0]);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (stdout_fd >= 0)
            dup2(stdout_fd, STDOUT_FILENO);
        setenv("TTMEM", "1", 1);
        setenv("TTMEM_SOCKET", p->socket, 1);
        execvp(argv[0], argv);
        int e = errno;
        (void)!write(errpipe[1], &e, sizeof e);
        _exit(e == ENOENT ? 127 : 126);
    }
    close(errpipe[1]);
    int e = 0;
    ssize_t n;
    do
        n = read(errpipe[0], &e, sizeof e);
    while (n < 0 && errno == EINTR);
    close(errpipe[0]);
    if (n == (ssize_t)sizeof e) {
        fprintf(stderr, "ttmem: cannot run '%s': %s\n", argv[0], strerror(e));
        waitpid(pid, NULL, 0);
        return -1;
    }
    return pid;
}

/* False once the daemon has ended (reaped here; a failure is said once, in one line). */
static bool daemon_alive(ttm_cli_private *p)
{
    if (p->daemon <= 0)
        return false;
    int status;
    if (waitpid(p->daemon, &status, WNOHANG) == p->daemon) {
        p->daemon = -1;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            fprintf(stderr, "ttmem: the private ttmemd failed (%s %d)\n",
                    WIFSIGNALED(status) ? "signal" : "exit status",
                    WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        return false;
    }
    return true;
}

/* Prints the last lines of the private daemon's log (after it failed). */
static void show_log_tail(const ttm_cli_private *p)
{
    FILE *f = fopen(p->log, "r");
    if (f == NULL)
        return;
    char lines[4][512];
    size_t n = 0;
    while (fgets(lines[n % 4], sizeof lines[0], f) != NULL)
        n++;
    fclose(f);
    for (size_t i = n > 4 ? n - 4 : 0; i < n; i++)
        fprintf(stderr, "  ttmemd log: %s", lines[i % 4]);
}

int ttm_cli_private_settle(ttm_cli_private *p, int timeout_ms)
{
    int64_t deadline = mono_ms() + timeout_ms;
    ttm_snap_query q = {.sections = TTM_SNAP_BIT(TTM_SNAP_SEC_DAEMON) |
                                    TTM_SNAP_BIT(TTM_SNAP_SEC_PROCS)};
    size_t open = 0;
    for (;;) {
        if (!daemon_alive(p)) {
            fprintf(stderr, "ttmem: the private ttmemd stopped during the run\n");
            show_log_tail(p);
            return 1;
        }
        ttm_snapshot s;
        char msg[256];
        int err = ttm__snap_fetch(p->query, &q, 5000, &s, msg, sizeof msg);
        if (err != TTM_OK) {
            fprintf(stderr, "ttmem: cannot query the private ttmemd: %s\n", msg);
            return 1;
        }
        open = s.daemon.clients_connected;
        for (size_t i = 0; i < s.nprocs; i++)
            if (s.procs[i].connected && open == 0)
                open = 1; /* a closed session still settling */
        ttm__snapshot_free(&s);
        if (open == 0)
            return 0;
        if (mono_ms() >= deadline)
            break;
        sleep_ms(20);
    }
    fprintf(stderr, "ttmem: %zu tracked process%s still connected after the command exited; "
                    "their buffers are reported as live\n",
            open, open == 1 ? " is" : "es are");
    return 1;
}

int ttm_cli_private_report(ttm_cli_private *p, uint32_t top, uint32_t max_leaks,
                           ttm_snapshot *out)
{
    ttm_snap_query q = {.sections = TTM_SNAP_WANT_REPORT, .top = top, .max_leaks = max_leaks};
    char msg[256];
    int err = ttm__snap_fetch(p->query, &q, 10000, out, msg, sizeof msg);
    if (err != TTM_OK) {
        fprintf(stderr, "ttmem: cannot fetch the report from the private ttmemd: %s\n", msg);
        return 1;
    }
    return 0;
}

void ttm_cli_private_stop(ttm_cli_private *p)
{
    if (p == NULL)
        return;
    if (p->daemon > 0) {
        kill(p->daemon, SIGTERM);
        int64_t deadline = mono_ms() + STOP_WAIT_MS;
        while (daemon_alive(p) && mono_ms() < deadline)
            sleep_ms(10);
        if (p->daemon > 0) {
            fprintf(stderr, "ttmem: the private ttmemd did not stop within %d ms; killed\n",
                    STOP_WAIT_MS);
            kill(p->daemon, SIGKILL);
            waitpid(p->daemon, NULL, 0);
            p->daemon = -1;
        }
    }
    remove_dir(p->dir);
    ttm__free(p);
}

/* ---- snapshot -> report model ------------------------------------------------------------ */

static void mem_back(ttm_memstat *dst, const ttm_snap_mem *src)
{
    dst->live_bytes = src->live_bytes;
    dst->live_count = src->live_count;
    dst->peak_bytes = src->peak_bytes;
    dst->peak_ts = src->peak_ts;
    dst->allocs = src->allocs;
    dst->frees = src->frees;
}

static void pids_back(uint32_t *dst, const uint32_t *src)
{
    for (unsigned i = 0; i < TTM_PROC_MAX_PIDS && i < TTM_SNAP_MAX_PIDS; i++)
        dst[i] = src[i];
}

ttm_report *ttm_cli_report_from_snapshot(const ttm_snapshot *s)
{
    ttm_report *r = ttm__xcalloc(1, sizeof *r);
    r->schema_version = TTM_REPORT_SCHEMA_VERSION;
    const ttm_snap_totals *st = &s->totals;
    ttm_totals *t = &r->totals;
    t->events = st->events;
    t->allocs = st->allocs;
    t->frees = st->frees;
    t->marks = st->marks;
    t->live_records = st->live_records;
    t->reuse_allocs = st->reuse_allocs;
    t->reuse_size_changes = st->reuse_size_changes;
    t->offenders_dropped = st->offenders_dropped;
    t->history_dropped = st->history_dropped;
    t->freed_objs_dropped = st->freed_objs_dropped;
    t->processes_dropped = st->processes_dropped;
    t->first_ts = st->first_ts;
    t->last_ts = st->last_ts;
    for (unsigned c = 0; c < st->nclasses && c < TTM_CLASS__COUNT; c++) {
        t->class_count[c] = st->class_count[c];
        t->class_bytes[c] = st->class_bytes[c];
    }

    const ttm_snap_findings *f = &s->findings;
    r->excess_free_pct = f->excess_free_pct;
    r->unmatched_frees = f->unmatched_frees;
    r->unmatched_addrs = f->unmatched_addrs;
    r->leaked_count = f->leaked_count;
    r->leaked_bytes = f->leaked_bytes;
    for (unsigned c = 0; c < TTM_CLASS__COUNT; c++) {
        ttm_report_class *rc = &r->classes[c];
        rc->cls = (ttm_class)c;
        rc->count = t->class_count[c];
        rc->bytes = t->class_bytes[c];
        if (c >= f->nclasses)
            continue;
        const ttm_snap_class *sc = &f->classes[c];
        rc->distinct_addrs = sc->distinct_addrs;
        if (sc->noffenders == 0)
            continue;
        rc->offenders = ttm__xcalloc(sc->noffenders, sizeof *rc->offenders);
        rc->noffenders = sc->noffenders;
        for (size_t i = 0; i < sc->noffenders; i++) {
            const ttm_snap_offender *so = &sc->offenders[i];
            ttm_offender *o = &rc->offenders[i];
            o->cls = so->cls < TTM_CLASS__COUNT ? (ttm_class)so->cls : (ttm_class)c;
            o->device = so->device;
            o->memtype = so->memtype;
            o->addr = so->addr;
            o->count = so->count;
            o->bytes = so->bytes;
            o->first_ts = so->first_ts;
            o->last_ts = so->last_ts;
            pids_back(o->pids, so->pids);
            o->npids = so->npids;
            o->more_pids = so->more_pids;
        }
    }
    if (f->nunmatched > 0) {
        r->unmatched = ttm__xcalloc(f->nunmatched, sizeof *r->unmatched);
        r->nunmatched = f->nunmatched;
        for (size_t i = 0; i < f->nunmatched; i++) {
            const ttm_snap_unmatched *su = &f->unmatched[i];
            ttm_report_unmatched *u = &r->unmatched[i];
            u->device = su->device;
            u->memtype = su->memtype;
            u->addr = su->addr;
            u->excess = su->excess;
            u->unknown = su->unknown;
            u->dbl = su->dbl;
            u->total = su->total;
            pids_back(u->pids, su->pids);
            u->npids = su->npids;
            u->more_pids = su->more_pids;
        }
    }
    if (f->nleaks > 0) {
        r->leaks = ttm__xcalloc(f->nleaks, sizeof *r->leaks);
        r->nleaks = f->nleaks;
        for (size_t i = 0; i < f->nleaks; i++) {
            const ttm_snap_leak *sl = &f->leaks[i];
            r->leaks[i] = (ttm_leak){.pid = sl->pid,
                                     .device = sl->device,
                                     .memtype = sl->memtype,
                                     .addr = sl->addr,
                                     .size = sl->size,
                                     .obj = sl->obj,
                                     .alloc_ts = sl->alloc_ts,
                                     .exit_ts = sl->exit_ts};
        }
    }
    if (s->ndevices > 0) {
        r->devices = ttm__xcalloc(s->ndevices, sizeof *r->devices);
        r->ndevices = s->ndevices;
        for (size_t i = 0; i < s->ndevices; i++) {
            const ttm_snap_device *sd = &s->devices[i];
            ttm_device_stats *d = &r->devices[i];
            d->device = sd->device;
            d->arch = sd->arch;
            for (unsigned k = 0; k < TTM_SPACE_COUNT; k++) {
                d->capacity[k] = sd->capacity[k];
                d->space_peak[k] = sd->space_peak[k];
                d->space_peak_ts[k] = sd->space_peak_ts[k];
            }
            for (unsigned m = 0; m < TTM_MEMTYPE_COUNT; m++)
                mem_back(&d->mem[m], &sd->mem[m]);
            for (unsigned c = 0; c < sd->nclasses && c < TTM_CLASS__COUNT; c++) {
                d->class_count[c] = sd->class_count[c];
                d->class_bytes[c] = sd->class_bytes[c];
            }
        }
    }
    /* Processes the registry never saw (connected, no event yet) have no place in a report. */
    size_t np = 0;
    for (size_t i = 0; i < s->nprocs; i++)
        np += s->procs[i].first_ts != 0 || s->procs[i].ndevices > 0 || s->procs[i].exit_ts != 0;
    if (np > 0) {
        r->procs = ttm__xcalloc(np, sizeof *r->procs);
        for (size_t i = 0; i < s->nprocs; i++) {
            const ttm_snap_proc *sp = &s->procs[i];
            if (!(sp->first_ts != 0 || sp->ndevices > 0 || sp->exit_ts != 0))
                continue;
            ttm_proc_stats *ps = &r->procs[r->nprocs++];
            ps->pid = sp->pid;
            ps->alive = sp->alive;
            ps->first_ts = sp->first_ts;
            ps->exit_ts = sp->exit_ts;
            ps->live_records = sp->live_records;
            ps->leaked_count = sp->leaked_count;
            ps->leaked_bytes = sp->leaked_bytes;
            ps->anomalies = sp->anomalies;
            if (sp->ndevices > 0) {
                ttm_proc_mem *pm = ttm__xcalloc(sp->ndevices, sizeof *pm);
                for (size_t k = 0; k < sp->ndevices; k++) {
                    pm[k].device = sp->devices[k].device;
                    for (unsigned m = 0; m < TTM_MEMTYPE_COUNT; m++)
                        mem_back(&pm[k].mem[m], &sp->devices[k].mem[m]);
                }
                ps->devices = pm;
                ps->ndevices = sp->ndevices;
            }
        }
    }
    return r;
}

void ttm_cli_print_transport(FILE *out, const ttm_snapshot *s)
{
    char a[TTM_FMT_LEN], b[TTM_FMT_LEN], c[TTM_FMT_LEN];
    const ttm_snap_daemon *d = &s->daemon;
    size_t nproc = 0;
    for (size_t i = 0; i < s->nprocs; i++)
        nproc += s->procs[i].sessions > 0;
    fprintf(out, "\nTransport   %s events from %zu process%s through the ring; %s waited for "
                 "room, %s dropped",
            ttm__fmt_count(a, d->events), nproc, nproc == 1 ? "" : "es",
            ttm__fmt_count(b, d->waited), ttm__fmt_count(c, d->dropped));
    if (d->dropped == 0 && d->prior_events == 0)
        fputs(": nothing was lost", out);
    fputc('\n', out);
    for (size_t i = 0; i < s->nprocs; i++) {
        const ttm_snap_proc *p = &s->procs[i];
        if (p->dropped > 0)
            fprintf(out, "            pid %" PRIu32 " (%s) dropped %s events while no daemon "
                         "existed\n",
                    p->pid, p->name, ttm__fmt_count(a, p->dropped));
        if (p->prior_events > 0)
            fprintf(out, "            pid %" PRIu32 " (%s): %s earlier events went to a "
                         "previous daemon and are not in this report\n",
                    p->pid, p->name, ttm__fmt_count(a, p->prior_events));
    }
    if (d->clients_rejected > 0 || d->events_rejected > 0)
        fprintf(out, "            %s clients and %s control events were refused (see the "
                     "daemon log)\n",
                ttm__fmt_count(a, d->clients_rejected), ttm__fmt_count(b, d->events_rejected));
}

/* ---- signal forwarding ---------------------------------------------------------------------- */

static volatile sig_atomic_t forward_pid;

static void forward(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    /* A signal from the terminal (SI_KERNEL) reached the whole foreground group, CMD too. */
    if (forward_pid > 0 && si != NULL && si->si_code != SI_KERNEL)
        kill((pid_t)forward_pid, sig);
}

static void forward_install(pid_t child)
{
    forward_pid = child;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = forward;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &sa, NULL);
}

static void forward_stop(void)
{
    forward_pid = 0;
}

/* Waits for pid; returns its exit status in shell convention (128 + signal when killed). */
static int wait_status(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return 1;
    }
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return 1;
}

/* ---- the command ---------------------------------------------------------------------------- */

static int record_usage(const char *msg)
{
    return ttm_cli_fail("record: %s; usage: ttmem record [-o report.json] [--json] [--top N] "
                        "-- CMD ARGS...",
                        msg);
}

int ttm_cli_record(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'}, {"json", no_argument, NULL, 'j'},
        {"top", required_argument, NULL, 't'},    {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *output = NULL;
    bool json = false;
    uint64_t top = 10;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+o:", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            output = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 't':
            if (ttm_cli_parse_u64(optarg, &top) != TTM_OK || top == 0 || top > 10000)
                return record_usage("--top must be a number from 1 to 10000");
            break;
        case 'h':
            printf("usage: ttmem record [-o report.json] [--json] [--top N] -- CMD ARGS...\n"
                   "Runs CMD with tracking on, under a private ttmemd, and reports when it "
                   "exits.\n");
            return 0;
        default:
            if (optopt)
                return record_usage("an option is missing its value or is unknown");
            return record_usage("unknown option");
        }
    }
    if (optind >= argc)
        return record_usage("no command given");
    char **cmd = &argv[optind];
    FILE *out_file = NULL;
    if (output != NULL) {
        out_file = fopen(output, "w");
        if (out_file == NULL)
            return ttm_cli_fail("record: cannot write '%s': %s", output, strerror(errno)), 1;
    }

    ttm_cli_private *p = NULL;
    if (ttm_cli_private_start(&p) != 0) {
        if (out_file != NULL) {
            fclose(out_file);
            unlink(output);
        }
        return 1;
    }
    pid_t child = ttm_cli_private_spawn(p, cmd, -1);
    if (child < 0) {
        ttm_cli_private_stop(p);
        if (out_file != NULL) {
            fclose(out_file);
            unlink(output);
        }
        return 127;
    }
    forward_install(child);
    int status = wait_status(child);
    forward_stop();

    ttm_snapshot snap;
    int failed = ttm_cli_private_settle(p, 5000);
    if (failed && !daemon_alive(p)) {
        ttm_cli_private_stop(p);
        if (out_file != NULL)
            fclose(out_file);
        return status != 0 ? status : 1;
    }
    if (ttm_cli_private_report(p, (uint32_t)top, 20, &snap) != 0) {
        ttm_cli_private_stop(p);
        if (out_file != NULL)
            fclose(out_file);
        return status != 0 ? status : 1;
    }
    ttm_report *r = ttm_cli_report_from_snapshot(&snap);
    char title[512];
    size_t off = (size_t)snprintf(title, sizeof title, "record");
    for (char **a = cmd; *a != NULL && off < sizeof title; a++)
        off += (size_t)snprintf(title + off, sizeof title - off, " %s", *a);
    if (out_file != NULL) {
        ttm_render_json(out_file, r, title);
        if (fclose(out_file) != 0)
            fprintf(stderr, "ttmem: record: writing '%s' failed: %s\n", output,
                    strerror(errno));
        else
            fprintf(stderr, "ttmem: report written to %s\n", output);
    } else if (json) {
        ttm_render_json(stdout, r, title);
    } else {
        ttm_render_text(stdout, r, title);
        ttm_cli_print_transport(stdout, &snap);
    }
    if ((out_file != NULL || json) && (snap.daemon.dropped > 0 || snap.daemon.prior_events > 0))
        ttm_cli_print_transport(stderr, &snap);
    if (snap.daemon.clients_total == 0)
        fprintf(stderr, "ttmem: record: '%s' reported nothing: is it built with libttmem (or a "
                        "TT-Metal build with allocation tracking)? TTMEM=1 and TTMEM_SOCKET were "
                        "set for it\n",
                cmd[0]);
    fflush(stdout);
    ttm_report_free(r);
    ttm__snapshot_free(&snap);
    ttm_cli_private_stop(p);
    return status;
}
