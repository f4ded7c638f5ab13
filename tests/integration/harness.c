/*
 * harness.c — the integration tests' shared harness (harness.h).
 */
#include "harness.h"

#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"

const char *it_prog = "it";
const char *it_case = "?";
char it_dir[64];

static pid_t pids[64];
static int npids;
static pid_t main_pid;

void it_remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d != NULL) {
        struct dirent *e;
        char path[512];
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

int it_count_lines(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    char line[2048];
    int n = 0;
    while (fgets(line, sizeof line, f) != NULL)
        n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

static void kill_tracked(bool reap)
{
    for (int i = 0; i < npids; i++) {
        if (pids[i] > 0) {
            kill(pids[i], SIGCONT);
            kill(pids[i], SIGKILL);
            if (reap) {
                waitpid(pids[i], NULL, 0);
                pids[i] = -1;
            }
        }
    }
}

static void cleanup(void)
{
    if (getpid() != main_pid)
        return;
    kill_tracked(true);
    if (it_dir[0] != '\0')
        it_remove_dir(it_dir);
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "integration test: case timed out\n";
    (void)!write(STDERR_FILENO, msg, sizeof msg - 1);
    kill_tracked(false);
    it_remove_dir(it_dir); /* not async-signal-safe, but the case is over either way */
    _exit(1);
}

void (*it_find_case(const it_case_entry *cases, size_t n, const char *name))(void)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(cases[i].name, name) == 0)
            return cases[i].fn;
    fprintf(stderr, "unknown case '%s'; the cases are:", name);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, " %s", cases[i].name);
    fputc('\n', stderr);
    return NULL;
}

int it_begin(const char *prog, const char *case_name, const char *tmpl, unsigned timeout_s)
{
    it_prog = prog;
    it_case = case_name;
    snprintf(it_dir, sizeof it_dir, "%s", tmpl);
    if (mkdtemp(it_dir) == NULL) {
        fprintf(stderr, "%s: cannot make a temporary directory from %s: %s\n", prog, tmpl,
                strerror(errno));
        it_dir[0] = '\0';
        return 1;
    }
    main_pid = getpid();
    atexit(cleanup);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, on_alarm);
    alarm(timeout_s);
    return 0;
}

void (*it_main_begin(const it_program *p, int argc, char **argv, int *status))(void)
{
    int nargs = 0;
    while (nargs < (int)(sizeof p->args / sizeof p->args[0]) && p->args[nargs] != NULL)
        nargs++;
    *status = 2;
    if (argc != 2 + nargs) {
        fprintf(stderr, "usage: %s CASE %s\n", p->name, p->usage);
        return NULL;
    }
    void (*fn)(void) = it_find_case(p->cases, p->ncases, argv[1]);
    if (fn == NULL)
        return NULL;
    for (int i = 0; i < nargs; i++)
        *p->args[i] = argv[2 + i];
    *status = 1;
    if (it_begin(p->name, argv[1], p->tmpl, p->timeout_s) != 0)
        return NULL;
    *status = 0;
    return fn;
}

int it_passed(void)
{
    printf("%s: %s passed\n", it_prog, it_case);
    return 0;
}

void it_fail(int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: %s: line %d: ", it_prog, it_case, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (getpid() != main_pid)
        _exit(1);
    exit(1);
}

void it_track(pid_t pid)
{
    if (npids < (int)(sizeof pids / sizeof pids[0]))
        pids[npids++] = pid;
}

void it_untrack(pid_t pid)
{
    for (int i = 0; i < npids; i++)
        if (pids[i] == pid)
            pids[i] = -1;
}

int64_t it_now_ms(void)
{
    return ttm__mono_ms();
}

void it_sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

void it_sleep_ms(long ms)
{
    it_sleep_us(ms * 1000);
}

int it_read_line(int fd, char *buf, size_t len, int timeout_ms)
{
    size_t off = 0;
    int64_t deadline = it_now_ms() + timeout_ms;
    while (off < len - 1) {
        int64_t left = deadline - it_now_ms();
        if (left <= 0)
            break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        ssize_t n = read(fd, buf + off, 1);
        if (n <= 0)
            break;
        if (buf[off] == '\n') {
            buf[off] = '\0';
            return 0;
        }
        off++;
    }
    buf[off] = '\0';
    return -1;
}

int it_wait_exit(pid_t pid, int timeout_ms)
{
    int64_t deadline = it_now_ms() + timeout_ms;
    int status;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            it_untrack(pid);
            return status;
        }
        if (it_now_ms() > deadline)
            it_fail(__LINE__, "pid %d did not exit within %d ms", (int)pid, timeout_ms);
        it_sleep_ms(5);
    }
}

pid_t it_start_ttmemd(const char *ttmemd, const char *sock, const char *errfile,
                      const char *const *extra)
{
    return it_start_ttmemd_as(ttmemd, sock, errfile, extra, (uid_t)-1, (gid_t)-1);
}

pid_t it_start_ttmemd_as(const char *ttmemd, const char *sock, const char *errfile,
                         const char *const *extra, uid_t uid, gid_t gid)
{
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
        close(p[0]);
        int fd = open(errfile, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0)
            dup2(fd, STDERR_FILENO);
        if (p[1] != 3) {
            dup2(p[1], 3);
            close(p[1]);
        }
        if (gid != (gid_t)-1 && (setgroups(0, NULL) != 0 || setresgid(gid, gid, gid) != 0))
            _exit(126);
        if (uid != (uid_t)-1 && setresuid(uid, uid, uid) != 0)
            _exit(126);
        const char *args[32] = {ttmemd, "--foreground", "--ready-fd", "3", "--log-level",
                                "debug"};
        int n = 6;
        if (sock != NULL) {
            args[n++] = "--socket";
            args[n++] = sock;
        }
        for (int i = 0; extra != NULL && extra[i] != NULL && n < 30; i++)
            args[n++] = extra[i];
        args[n] = NULL;
        execv(ttmemd, (char *const *)args);
        _exit(127);
    }
    it_track(pid);
    close(p[1]);
    char line[256];
    int rc = it_read_line(p[0], line, sizeof line, 10000);
    close(p[0]);
    CHECK(rc == 0 && strcmp(line, "ready") == 0, "ttmemd did not become ready: '%s'", line);
    return pid;
}

pid_t it_spawn(const char *const *argv, const char *const *env, int *in, int *out)
{
    return it_spawn_err(argv, env, in, out, NULL);
}

pid_t it_spawn_err(const char *const *argv, const char *const *env, int *in, int *out,
                   const char *err)
{
    int pin[2] = {-1, -1}, pout[2] = {-1, -1};
    CHECK((in == NULL || pipe(pin) == 0) && (out == NULL || pipe(pout) == 0), "pipe");
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int null = open("/dev/null", O_RDWR);
        dup2(in != NULL ? pin[0] : null, STDIN_FILENO);
        dup2(out != NULL ? pout[1] : null, STDOUT_FILENO);
        for (int i = 0; i < 2; i++) {
            if (pin[i] >= 0)
                close(pin[i]);
            if (pout[i] >= 0)
                close(pout[i]);
        }
        if (err != NULL) {
            int e = open(err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
            if (e >= 0)
                dup2(e, STDERR_FILENO);
        }
        for (int i = 0; env != NULL && env[i] != NULL; i++) {
            if (strchr(env[i], '=') != NULL)
                putenv((char *)env[i]);
            else
                unsetenv(env[i]);
        }
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    it_track(pid);
    if (in != NULL) {
        close(pin[0]);
        *in = pin[1];
    }
    if (out != NULL) {
        close(pout[1]);
        *out = pout[0];
    }
    return pid;
}

long it_proc_kib(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    long v = -1;
    size_t n = strlen(field);
    while (v < 0 && fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, field, n) == 0 && line[n] == ':')
            v = strtol(line + n + 1, NULL, 10);
    fclose(f);
    return v;
}

void it_snap(const char *query, uint32_t sections, int timeout_ms, ttm_report *s)
{
    ttm_snap_query q = {.sections = sections, .top = 10, .max_leaks = 100};
    char msg[300];
    int err = ttm_report_fetch(query, &q, timeout_ms, s, msg, sizeof msg);
    if (err != TTM_OK)
        it_fail(__LINE__, "query %s failed: %s", query, msg);
}

void it_wait_proc(const char *query, pid_t pid, bool (*pred)(const ttm_report_proc *p, void *arg),
                  void *arg, int timeout_ms, const char *what, ttm_report *out)
{
    int64_t deadline = it_now_ms() + timeout_ms;
    for (;;) {
        ttm_report s;
        it_snap(query, TTM_SNAP_WANT_STATUS, timeout_ms, &s);
        bool ok = pred(it_proc_of(&s, (uint32_t)pid), arg);
        if (ok && out != NULL) {
            *out = s;
            return;
        }
        ttm_report_clear(&s);
        if (ok)
            return;
        if (it_now_ms() >= deadline)
            it_fail(__LINE__, "pid %d: %s after %d ms", (int)pid, what, timeout_ms);
        it_sleep_ms(10);
    }
}

static bool proc_connected(const ttm_report_proc *p, void *arg)
{
    (void)arg;
    return p != NULL && p->connected;
}

void it_wait_connected(const char *query, pid_t pid, int timeout_ms)
{
    it_wait_proc(query, pid, proc_connected, NULL, timeout_ms, "never connected", NULL);
}

const ttm_report_proc *it_proc_of(const ttm_report *s, uint32_t pid)
{
    for (size_t i = 0; i < s->nprocs; i++)
        if (s->procs[i].stats.pid == pid)
            return &s->procs[i];
    return NULL;
}

uint64_t it_class(const ttm_report *s, unsigned c)
{
    return c < TTM_CLASS__COUNT ? s->totals.class_count[c] : 0;
}
