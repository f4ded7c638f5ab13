/*
 * cmd_record.c — `ttmem record [-o report.json] [--json] -- CMD ARGS...`: runs CMD under a
 * private ttmemd and prints the report when it exits; and the private-daemon helpers that
 * `ttmem demo` shares (cli.h).
 *
 * The private daemon lives in a fresh 0700 temporary directory, in its own process group (a
 * Ctrl-C at the terminal reaches CMD, not the daemon), and reports readiness through a pipe.
 * CMD runs with TTMEM=1 and TTMEM_SOCKET pointing there; --stacks adds TTMEM_STACKS (native or
 * python) and --stack-depth TTMEM_STACK_DEPTH, which libttmem reads (docs/CLIENT.md). SIGINT,
 * SIGTERM, SIGHUP and SIGQUIT sent to ttmem by another process are forwarded to CMD; those the
 * terminal sends reach CMD directly and are not sent twice. ttmem exits with CMD's status (128 +
 * signal if killed). The outputs of -o and --journal are opened before anything runs: one that
 * cannot be written is one line and exit status 2, CMD never started. After the private ttmemd
 * closed the journal, record appends its MADE chunk (CMD's arguments, exit status, times, host,
 * version); an append that fails is one line and changes neither the journal nor the status.
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
#include "cli/sites.h"
#include "common/alloc.h"
#include "common/clock.h"
#include "common/fmt.h"
#include "common/journal.h"

struct ttm_cli_private {
    char dir[64];
    char socket[TTM_CLI_PATH_MAX];
    char query[TTM_CLI_PATH_MAX];
    char log[96];
    pid_t daemon;
};

#define READY_WAIT_MS 10000
#define STOP_WAIT_MS 5000

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
    int64_t deadline = ttm__mono_ms() + timeout_ms;
    buf[0] = '\0';
    while (off < len - 1 && strchr(buf, '\n') == NULL) {
        int64_t left = deadline - ttm__mono_ms();
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
    return ttm_cli_private_start_args(out, NULL);
}

int ttm_cli_private_start_args(ttm_cli_private **out, const char *const *extra)
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
        const char *base[] = {daemon,        "--foreground", "--socket",   p->socket,
                              "--ready-fd",  "3",            "--log-file", p->log,
                              "--log-level", "info",         "--no-state"};
        size_t nbase = sizeof base / sizeof base[0], nextra = 0;
        while (extra != NULL && extra[nextra] != NULL)
            nextra++;
        char **args = calloc(nbase + nextra + 1, sizeof *args);
        if (args == NULL)
            _exit(127);
        for (size_t i = 0; i < nbase; i++)
            args[i] = (char *)base[i];
        for (size_t i = 0; i < nextra; i++)
            args[nbase + i] = (char *)extra[i];
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
    int64_t deadline = ttm__mono_ms() + timeout_ms;
    ttm_snap_query q = {.sections = TTM_SNAP_BIT(TTM_SNAP_SEC_DAEMON) |
                                    TTM_SNAP_BIT(TTM_SNAP_SEC_PROCS)};
    size_t open = 0;
    for (;;) {
        if (!daemon_alive(p)) {
            fprintf(stderr, "ttmem: the private ttmemd stopped during the run\n");
            show_log_tail(p);
            return 1;
        }
        ttm_report s;
        char msg[256];
        int err = ttm_report_fetch(p->query, &q, 5000, &s, msg, sizeof msg);
        if (err != TTM_OK) {
            fprintf(stderr, "ttmem: cannot query the private ttmemd: %s\n", msg);
            return 1;
        }
        open = s.daemon.clients_connected;
        for (size_t i = 0; i < s.nprocs; i++)
            if (s.procs[i].connected && open == 0)
                open = 1; /* a closed session still settling */
        ttm_report_clear(&s);
        if (open == 0)
            return 0;
        if (ttm__mono_ms() >= deadline)
            break;
        sleep_ms(20);
    }
    fprintf(stderr, "ttmem: %zu tracked process%s still connected after the command exited; "
                    "their buffers are reported as live\n",
            open, open == 1 ? " is" : "es are");
    return 1;
}

int ttm_cli_private_report(ttm_cli_private *p, uint32_t top, uint32_t max_leaks,
                           ttm_report *out)
{
    /* the call sites too: a report names them whenever the program sent any */
    ttm_snap_query q = {.sections = TTM_SNAP_WANT_REPORT | TTM_SNAP_BIT(TTM_SNAP_SEC_STACKS),
                        .top = top,
                        .max_leaks = max_leaks};
    char msg[256];
    int err = ttm_report_fetch(p->query, &q, 10000, out, msg, sizeof msg);
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
        int64_t deadline = ttm__mono_ms() + STOP_WAIT_MS;
        while (daemon_alive(p) && ttm__mono_ms() < deadline)
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

void ttm_cli_print_transport(FILE *out, const ttm_report *s)
{
    char a[TTM_FMT_LEN], b[TTM_FMT_LEN], c[TTM_FMT_LEN];
    const ttm_report_daemon *d = &s->daemon;
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
        const ttm_report_proc *p = &s->procs[i];
        if (p->dropped > 0)
            fprintf(out, "            pid %" PRIu32 " (%s) dropped %s events while no daemon "
                         "existed\n",
                    p->stats.pid, p->name, ttm__fmt_count(a, p->dropped));
        if (p->prior_events > 0)
            fprintf(out, "            pid %" PRIu32 " (%s): %s earlier events went to a "
                         "previous daemon and are not in this report\n",
                    p->stats.pid, p->name, ttm__fmt_count(a, p->prior_events));
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

/* Waits for pid; returns its exit status in shell convention (128 + signal when killed), and
 * waitpid's status in *raw (-1 when waiting failed). */
static int wait_status(pid_t pid, int *raw)
{
    int status;
    *raw = -1;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return 1;
    }
    *raw = status;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return 1;
}

/* ---- the command ---------------------------------------------------------------------------- */

#define RECORD_USAGE                                                                           \
    "ttmem record [-o report.json|run.ttmem] [--journal run.ttmem] [--json] [--top N] "        \
    "[--stacks[=native|python]] [--stack-depth N] -- CMD ARGS..."

/* Makes sure the journal can be created before CMD runs (the private ttmemd truncates it
 * again). Returns 0, or prints one line and returns 2 (bad input: CMD is not run). */
static int journal_check(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return ttm_cli_fail("record: cannot write the journal '%s': %s", path,
                            strerror(errno));
    close(fd);
    return 0;
}

/* The report file of -o, opened before CMD runs so that a path that cannot be written is said
 * at once instead of after a run that may have taken hours. */
typedef struct report_out {
    const char *path;
    int fd;       /* open for writing; -1 when there is no -o */
    bool created; /* the file did not exist: removed again when no report is written */
} report_out;

/* Opens out->path for writing without truncating it (an earlier report stays whole until the
 * new one replaces it). A directory, a missing directory or a refused permission is one line
 * naming the path. Returns 0, or prints that line and returns 2. */
static int report_out_open(report_out *out, const char *path)
{
    out->path = path;
    out->fd = -1;
    out->created = false;
    struct stat st;
    bool existed = stat(path, &st) == 0;
    if (existed && S_ISDIR(st.st_mode))
        return ttm_cli_fail("record: cannot write the report '%s': %s", path, strerror(EISDIR));
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return ttm_cli_fail("record: cannot write the report '%s': %s", path, strerror(errno));
    out->fd = fd;
    out->created = !existed;
    return 0;
}

/* Gives up the report file: one that record made is removed (nothing was written to it). */
static void report_out_abandon(report_out *out)
{
    if (out->fd < 0)
        return;
    close(out->fd);
    out->fd = -1;
    if (out->created)
        unlink(out->path);
}

/* The stream the report is written to, truncated now (a FIFO or a terminal cannot be, and
 * need not be). NULL after one line on stderr; the descriptor is the stream's from now on. */
static FILE *report_out_stream(report_out *out)
{
    struct stat st;
    if (fstat(out->fd, &st) == 0 && S_ISREG(st.st_mode) && ftruncate(out->fd, 0) != 0) {
        fprintf(stderr, "ttmem: record: cannot truncate '%s': %s\n", out->path,
                strerror(errno));
        report_out_abandon(out);
        return NULL;
    }
    FILE *f = fdopen(out->fd, "w");
    if (f == NULL) {
        fprintf(stderr, "ttmem: record: cannot write '%s': %s\n", out->path, strerror(errno));
        report_out_abandon(out);
        return NULL;
    }
    out->fd = -1;
    return f;
}

typedef struct journal_count {
    uint64_t events;
} journal_count;

static int count_event(void *ctx, const ttm_journal_event *e)
{
    (void)e;
    ((journal_count *)ctx)->events++;
    return 0;
}

/* "journal written to FILE (N events, M bytes)", read back from the file the private ttmemd
 * closed, with the reader's line when something in it is lost. */
static void journal_said(const char *path)
{
    ttm_journal_reader *r = NULL;
    int err = ttm_journal_reader_open(path, -1, &r);
    if (err != TTM_OK) {
        fprintf(stderr, "ttmem: record: the journal '%s' cannot be read: %s\n", path,
                ttm_strerror(err));
        return;
    }
    journal_count c = {0};
    ttm_journal_sink sink = {.ctx = &c, .event = count_event};
    err = ttm_journal_read_all(r, &sink);
    char lost[256];
    ttm_journal_reader_summary(r, lost, sizeof lost);
    ttm_journal_reader_close(r);
    struct stat st;
    uint64_t bytes = stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
    fprintf(stderr, "ttmem: journal written to %s (%" PRIu64 " events, %" PRIu64 " bytes)\n",
            path, c.events, bytes);
    if (err != TTM_OK)
        fprintf(stderr, "ttmem: record: reading the journal back failed: %s\n",
                ttm_strerror(err));
    if (lost[0] != '\0')
        fprintf(stderr, "ttmem: %s\n", lost);
}

static uint64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* How CMD ran, for the journal's MADE chunk and the report's "recorded": its arguments as given
 * (made->args allocated; ttm_journal_made_clear frees them), host, version; the times and the
 * status are filled in by made_end. */
static void made_begin(ttm_journal_made *m, char *const *cmd)
{
    memset(m, 0, sizeof *m);
    size_t len = 0;
    for (char *const *a = cmd; *a != NULL; a++) {
        size_t n = strlen(*a) + 1;
        if (len + n > TTM_JOURNAL_MADE_ARGS_MAX)
            break; /* the arguments that fit, whole */
        len += n;
        m->argc++;
    }
    m->args = ttm__xmalloc(len > 0 ? len : 1);
    m->args_len = len;
    size_t off = 0;
    for (uint32_t i = 0; i < m->argc; i++) {
        size_t n = strlen(cmd[i]) + 1;
        memcpy(m->args + off, cmd[i], n);
        off += n;
    }
    if (gethostname(m->host, sizeof m->host) != 0)
        m->host[0] = '\0';
    m->host[sizeof m->host - 1] = '\0';
    snprintf(m->version, sizeof m->version, "%s", TTM_VERSION);
    m->start_ns = wall_ns();
}

/* The end of CMD: waitpid's status raw (-1 unknown: the shell status given stands as an
 * exit code), its run time since start_mono_ns (CLOCK_MONOTONIC). */
static void made_end(ttm_journal_made *m, int raw, int status, uint64_t start_mono_ns)
{
    m->end_ns = wall_ns();
    m->run_ns = ttm__mono_ns() - start_mono_ns;
    if (raw >= 0 && WIFSIGNALED(raw)) {
        m->how = TTM_JOURNAL_MADE_SIGNALED;
        m->code = (uint32_t)WTERMSIG(raw);
        m->core_dumped = WCOREDUMP(raw) != 0;
    } else {
        m->how = TTM_JOURNAL_MADE_EXITED;
        m->code = (uint32_t)(raw >= 0 && WIFEXITED(raw) ? WEXITSTATUS(raw) : status);
    }
}

/* Appends the MADE chunk to the journal the private ttmemd closed. A failure is one line; the
 * journal stays as the daemon left it (less a torn tail) and record's status is CMD's. */
static void made_append(const char *path, const ttm_journal_made *m)
{
    ttm_bytes b = {0};
    int err = ttm_journal_made_encode(m, &b);
    ttm_journal_append_info info = {0};
    if (err == TTM_OK) {
        ttm_journal_chunk c = {.kind = TTM_JOURNAL_CHUNK_MADE, .ts = ttm__mono_ns(),
                               .data = b.data, .len = b.len};
        /* a file size limit must not kill record before it returns CMD's status */
        struct sigaction ign = {.sa_handler = SIG_IGN}, old;
        sigemptyset(&ign.sa_mask);
        sigaction(SIGXFSZ, &ign, &old);
        err = ttm_journal_append_chunk(path, &c, &info);
        sigaction(SIGXFSZ, &old, NULL);
    }
    ttm__bytes_free(&b);
    if (err == TTM_EIO && info.sys_errno != 0)
        fprintf(stderr, "ttmem: record: cannot add the command and its exit status to the "
                        "journal '%s': %s (the journal is kept without them)\n",
                path, strerror(info.sys_errno));
    else if (err != TTM_OK)
        fprintf(stderr, "ttmem: record: cannot add the command and its exit status to the "
                        "journal '%s': %s (the journal is kept without them)\n",
                path,
                err == TTM_EPROTO     ? "it is not a journal (its header does not check)"
                : err == TTM_EVERSION ? "it is a journal of another format version"
                                      : ttm_strerror(err));
    else if (info.cut_bytes > 0)
        fprintf(stderr, "ttmem: record: the journal '%s' ended inside a block; %" PRIu64
                        " bytes cut off before the command's record was added\n",
                path, info.cut_bytes);
}

/* After the private ttmemd stopped: the MADE chunk appended to the journal (path NULL: none),
 * the journal's line, and m freed. */
static void journal_end(const char *path, ttm_journal_made *m)
{
    if (path != NULL) {
        made_append(path, m);
        journal_said(path);
    }
    ttm_journal_made_clear(m);
}

static int record_usage(const char *msg)
{
    return ttm_cli_fail("record: %s; usage: " RECORD_USAGE, msg);
}

int ttm_cli_record(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'}, {"json", no_argument, NULL, 'j'},
        {"top", required_argument, NULL, 't'},    {"help", no_argument, NULL, 'h'},
        {"stacks", optional_argument, NULL, 'S'}, {"stack-depth", required_argument, NULL, 'D'},
        {"journal", required_argument, NULL, 'J'},
        {NULL, 0, NULL, 0},
    };
    const char *output = NULL;
    const char *journal = NULL; /* the run journal the private ttmemd writes */
    const char *stacks = NULL; /* TTMEM_STACKS for CMD; NULL: left as it is */
    unsigned depth = 0;        /* TTMEM_STACK_DEPTH for CMD; 0: left to libttmem (32) */
    bool json = false;
    uint64_t top = 10;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+o:", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': /* a name ending in .ttmem is the journal (the report is printed as usual) */
            if (ttm_journal_is_file_name(optarg))
                journal = optarg;
            else
                output = optarg;
            break;
        case 'J':
            if (!ttm_journal_is_file_name(optarg))
                return record_usage("--journal takes a file name ending in .ttmem");
            journal = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 't':
            if (ttm_cli_parse_u64(optarg, &top) != TTM_OK || top == 0 || top > 10000)
                return record_usage("--top must be a number from 1 to 10000");
            break;
        case 'S':
            if (optarg == NULL || strcmp(optarg, "native") == 0)
                stacks = "native";
            else if (strcmp(optarg, "python") == 0)
                stacks = "python";
            else
                return record_usage("--stacks takes native or python");
            break;
        case 'D':
            if (ttm_cli_parse_depth("record", optarg, &depth) != 0)
                return 2;
            break;
        case 'h':
            printf("usage: " RECORD_USAGE "\n"
                   "Runs CMD with tracking on, under a private ttmemd, and reports when it "
                   "exits.\n"
                   "--stacks captures the call stack of every allocation and free (python: "
                   "also the\nPython frames); the report shows where each finding comes from. "
                   "--stack-depth N\ncaptures N frames (default 32) and shows N in the text "
                   "(default %u); it implies --stacks.\n"
                   "-o run.ttmem (or --journal run.ttmem) also writes the run journal: every "
                   "event, and at its\nend CMD's arguments, exit status, times and host; read "
                   "again by `ttmem report run.ttmem`\n(docs/JOURNAL.md).\n",
                   TTM_CLI_TEXT_DEPTH);
            return 0;
        default:
            if (optopt)
                return record_usage("an option is missing its value or is unknown");
            return record_usage("unknown option");
        }
    }
    if (optind >= argc)
        return record_usage("no command given");
    if (depth != 0 && stacks == NULL)
        stacks = "native";
    char **cmd = &argv[optind];
    /* the report's title, and the journal's RUN chunk (the same words) */
    char title[512];
    size_t off = (size_t)snprintf(title, sizeof title, "record");
    for (char **a = cmd; *a != NULL && off < sizeof title; a++)
        off += (size_t)snprintf(title + off, sizeof title - off, " %s", *a);
    /* both outputs are checked before anything runs: a bad path is bad input (2) */
    report_out rout = {.path = NULL, .fd = -1, .created = false};
    if (output != NULL && report_out_open(&rout, output) != 0)
        return 2;
    if (journal != NULL && journal_check(journal) != 0) {
        report_out_abandon(&rout);
        return 2;
    }
    const char *extra[] = {"--journal", journal, "--journal-title", title, NULL};

    ttm_cli_private *p = NULL;
    if (ttm_cli_private_start_args(&p, journal != NULL ? extra : NULL) != 0) {
        if (journal != NULL)
            unlink(journal); /* made by journal_check: nothing was run */
        report_out_abandon(&rout);
        return 1;
    }
    /* CMD inherits them (the private daemon, started already, does not) */
    if (stacks != NULL)
        setenv("TTMEM_STACKS", stacks, 1);
    if (depth != 0) {
        char d[16];
        snprintf(d, sizeof d, "%u", depth);
        setenv("TTMEM_STACK_DEPTH", d, 1);
    }
    ttm_journal_made recorded;
    made_begin(&recorded, cmd);
    uint64_t start_mono = ttm__mono_ns();
    pid_t child = ttm_cli_private_spawn(p, cmd, -1);
    if (child < 0) {
        ttm_journal_made_clear(&recorded);
        ttm_cli_private_stop(p);
        if (journal != NULL)
            unlink(journal); /* CMD did not run */
        report_out_abandon(&rout);
        return 127;
    }
    forward_install(child);
    int raw;
    int status = wait_status(child, &raw);
    forward_stop();
    made_end(&recorded, raw, status, start_mono);

    ttm_report snap;
    int failed = ttm_cli_private_settle(p, 5000);
    if (failed && !daemon_alive(p)) {
        ttm_cli_private_stop(p);
        report_out_abandon(&rout);
        journal_end(journal, &recorded);
        return status != 0 ? status : 1;
    }
    if (ttm_cli_private_report(p, (uint32_t)top, 20, &snap) != 0) {
        ttm_cli_private_stop(p);
        report_out_abandon(&rout);
        journal_end(journal, &recorded);
        return status != 0 ? status : 1;
    }
    FILE *out_file = NULL;
    if (output != NULL && (out_file = report_out_stream(&rout)) == NULL) {
        ttm_report_clear(&snap);
        ttm_cli_private_stop(p);
        journal_end(journal, &recorded);
        return status != 0 ? status : 1;
    }
    ttm_cli_symbolize(&snap, NULL); /* after the exit: modules are matched by build-id */
    const ttm_report *r = &snap;
    /* the report says what ran and how it ended: CMD ARGS joined as a journal's report joins
     * them (the title may be cut shorter) */
    char words[4096];
    ttm_cli_made_command(&recorded, words, sizeof words);
    const ttm_cli_made made = {.command = words, .exit_status = status, .recorded = &recorded};
    if (out_file != NULL) {
        ttm_render_json_made_by(out_file, r, title, &made);
        if (fclose(out_file) != 0)
            fprintf(stderr, "ttmem: record: writing '%s' failed: %s\n", output,
                    strerror(errno));
        else
            fprintf(stderr, "ttmem: report written to %s\n", output);
    } else if (json) {
        ttm_render_json_made_by(stdout, r, title, &made);
    } else {
        ttm_render_text_depth(stdout, r, title, depth != 0 ? depth : TTM_CLI_TEXT_DEPTH);
        ttm_cli_print_transport(stdout, &snap);
        ttm_render_text_made(stdout, &made);
    }
    if ((out_file != NULL || json) && (snap.daemon.dropped > 0 || snap.daemon.prior_events > 0))
        ttm_cli_print_transport(stderr, &snap);
    if (snap.daemon.clients_total == 0)
        fprintf(stderr, "ttmem: record: '%s' reported nothing: is it built with libttmem (or a "
                        "TT-Metal build with allocation tracking)? TTMEM=1 and TTMEM_SOCKET were "
                        "set for it\n",
                cmd[0]);
    fflush(stdout);
    ttm_report_clear(&snap);
    ttm_cli_private_stop(p); /* the private ttmemd closes the journal as it stops */
    journal_end(journal, &recorded);
    return status;
}
