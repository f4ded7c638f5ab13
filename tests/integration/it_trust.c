/*
 * it_trust.c — who may listen, who may connect, and which files ttmemd creates, against real
 * processes of other uids (docs/RELIABILITY.md, items 16-18): a hostile "daemon" of another
 * user planted at the victim's default path, a symlinked socket directory, links planted at
 * the daemon's lock, log and pid files, a real ttmemd running as another uid, and the system
 * daemon serving clients of several uids. One case per run:
 * `it_trust CASE TTMEMD IT_CLIENT TTMEM`.
 *
 * The other uids are nobody (65534) and two uids without a passwd entry, set with setresuid()
 * in forked children: no user or group is created on the machine, and everything the case
 * made is removed at its end. Needs root (CI runs as root); otherwise every case is skipped
 * (exit 77).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/report.h"
#include "core/registry.h"
#include "harness.h"

#define CASE_TIMEOUT_S 90
#define NOBODY 65534u  /* the attacker, or the system daemon's unprivileged client */
#define OTHER 64999u   /* a second client uid (no passwd entry needed), group NOBODY */
#define OUTSIDER 64998u /* a uid outside the daemon's group */

static const char *g_ttmemd, *g_client, *g_ttmem;
static pid_t g_main;

/* ---- processes of other users ------------------------------------------------------------- */

/* Becomes uid:gid with no supplementary group, or exits 126. */
static void become(uid_t uid, gid_t gid)
{
    if (setgroups(0, NULL) != 0 || setresgid(gid, gid, gid) != 0 || setresuid(uid, uid, uid) != 0)
        _exit(126);
}

/* The environment every client and CLI run starts from: nothing of the runner's. */
static void clean_env(const char *const *env)
{
    unsetenv("TTMEM");
    unsetenv("TT_ALLOC_TRACKING_ENABLED");
    unsetenv("TTMEM_SOCKET");
    unsetenv("TTMEM_SYSTEM_DIR");
    unsetenv("XDG_RUNTIME_DIR");
    for (int i = 0; env != NULL && env[i] != NULL; i++)
        putenv((char *)env[i]);
}

typedef struct proc {
    pid_t pid;
    int in, out; /* its stdin (we write), its stdout (we read) */
} proc;

/* Runs prog argv as uid:gid (-1: unchanged) with env added, stdin and stdout on pipes, stderr
 * into errfile. */
static proc run_as(uid_t uid, gid_t gid, const char *const *env, const char *errfile,
                   const char *const *argv)
{
    int in[2], out[2];
    CHECK(pipe(in) == 0 && pipe(out) == 0, "pipe");
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(in[0], STDIN_FILENO);
        dup2(out[1], STDOUT_FILENO);
        int fd = open(errfile, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0)
            dup2(fd, STDERR_FILENO);
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        if (uid != (uid_t)-1)
            become(uid, gid);
        clean_env(env);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    it_track(pid);
    close(in[0]);
    close(out[1]);
    return (proc){.pid = pid, .in = in[1], .out = out[0]};
}

static void proc_close(proc *p)
{
    close(p->in);
    close(p->out);
    p->in = p->out = -1;
}

/* Waits for p to exit and returns its exit status (it_fail if it did not exit normally). */
static int proc_status(proc *p)
{
    int st = it_wait_exit(p->pid, 20000);
    proc_close(p);
    CHECK(WIFEXITED(st), "pid %d ended with status 0x%x", (int)p->pid, st);
    return WEXITSTATUS(st);
}

/* The file's lines: how many, and whether one contains needle. */
static int count_lines(const char *path, const char *needle, bool *found, char *first, size_t len)
{
    FILE *f = fopen(path, "r");
    int n = 0;
    *found = false;
    if (first != NULL && len > 0)
        first[0] = '\0';
    if (f == NULL)
        return 0;
    char line[1024];
    while (fgets(line, sizeof line, f) != NULL) {
        if (n == 0 && first != NULL)
            snprintf(first, len, "%.*s", (int)(len - 1), line);
        n++;
        *found |= strstr(line, needle) != NULL;
    }
    fclose(f);
    return n;
}

/* Checks that errfile holds exactly one line and that it contains needle. */
#define CHECK_ONE_LINE(errfile, needle)                                                         \
    do {                                                                                        \
        bool found_;                                                                            \
        char first_[512];                                                                       \
        int n_ = count_lines(errfile, needle, &found_, first_, sizeof first_);                  \
        CHECK(n_ == 1 && found_, "%s: %d lines, expected one with '%s'; first: %s", errfile,   \
              n_, needle, first_);                                                              \
    } while (0)

/* Runs it_client as uid:gid with TTMEM=1 and env, args after it; returns the process. */
static proc client_as(uid_t uid, gid_t gid, const char *const *env, const char *errfile,
                      const char *const *args)
{
    const char *e[16] = {"TTMEM=1"};
    int n = 1;
    for (int i = 0; env != NULL && env[i] != NULL && n < 15; i++)
        e[n++] = env[i];
    e[n] = NULL;
    const char *argv[16] = {g_client};
    int k = 1;
    for (int i = 0; args != NULL && args[i] != NULL && k < 15; i++)
        argv[k++] = args[i];
    argv[k] = NULL;
    return run_as(uid, gid, e, errfile, argv);
}

/* Reads the client's final stats line; returns its connected= value. */
static int client_connected(proc *p)
{
    char line[256];
    CHECK(it_read_line(p->out, line, sizeof line, 20000) == 0, "no stats from pid %d: '%s'",
          (int)p->pid, line);
    const char *c = strstr(line, "connected=");
    CHECK(c != NULL, "bad stats line '%s'", line);
    return atoi(c + strlen("connected="));
}

/* Runs `ttmem ARGS` as uid:gid with env; stdout into outfile; returns the exit status. */
static int cli_as(uid_t uid, gid_t gid, const char *const *env, const char *outfile,
                  const char *errfile, const char *const *args)
{
    const char *argv[16] = {g_ttmem};
    int k = 1;
    for (int i = 0; args != NULL && args[i] != NULL && k < 15; i++)
        argv[k++] = args[i];
    argv[k] = NULL;
    proc p = run_as(uid, gid, env, errfile, argv);
    FILE *out = fopen(outfile, "w");
    CHECK(out != NULL, "cannot write %s", outfile);
    char buf[4096];
    ssize_t n;
    while ((n = read(p.out, buf, sizeof buf)) > 0)
        fwrite(buf, 1, (size_t)n, out);
    fclose(out);
    return proc_status(&p);
}

/* ---- the hostile daemon --------------------------------------------------------------------- */

/* A listener run by another user: it accepts whatever connects and counts connections, bytes
 * and passed descriptors; "r" on its control pipe makes it print "conns=C bytes=B fds=F" after
 * draining everything pending. */
typedef struct hostile {
    pid_t pid;
    int ctl, rep;
} hostile;

/* A socket address for path (the case's paths are short: it_fail otherwise). */
static struct sockaddr_un sun_of(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    CHECK(strlen(path) < sizeof sa.sun_path, "socket path %s too long", path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    return sa;
}

static void hostile_main(const char *sock, int ctl, int rep)
{
    int l = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_un sa = sun_of(sock);
    if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof sa) != 0 || chmod(sock, 0777) != 0 ||
        listen(l, 64) != 0)
        _exit(1);
    dprintf(rep, "listening\n");
    int conns = 0, fds = 0, peers[64], npeers = 0;
    long bytes = 0;
    for (;;) {
        struct pollfd p[66];
        p[0] = (struct pollfd){.fd = l, .events = POLLIN};
        p[1] = (struct pollfd){.fd = ctl, .events = POLLIN};
        for (int i = 0; i < npeers; i++)
            p[2 + i] = (struct pollfd){.fd = peers[i], .events = POLLIN};
        bool report = false;
        if (poll(p, (nfds_t)(2 + npeers), -1) > 0 && (p[1].revents & (POLLIN | POLLHUP))) {
            char c;
            if (read(ctl, &c, 1) != 1)
                _exit(0);
            report = true;
        }
        int fd;
        while (npeers < 64 && (fd = accept4(l, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
            conns++;
            peers[npeers++] = fd;
        }
        for (int i = 0; i < npeers; i++) {
            for (;;) {
                char data[4096];
                union {
                    struct cmsghdr h;
                    char b[CMSG_SPACE(sizeof(int) * 8)];
                } ctrl;
                struct iovec iov = {.iov_base = data, .iov_len = sizeof data};
                struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctrl.b,
                                   .msg_controllen = sizeof ctrl.b};
                ssize_t n = recvmsg(peers[i], &m, MSG_DONTWAIT);
                if (n <= 0)
                    break;
                bytes += n;
                for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c != NULL; c = CMSG_NXTHDR(&m, c))
                    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
                        fds += (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            }
        }
        if (report)
            dprintf(rep, "conns=%d bytes=%ld fds=%d\n", conns, bytes, fds);
    }
}

/* Starts the hostile listener as uid at sock; when dir is not NULL it first creates dir there
 * with mode dirmode, as the attacker who squats a victim's default directory would. */
static hostile hostile_start(uid_t uid, const char *dir, mode_t dirmode, const char *sock)
{
    int ctl[2], rep[2];
    CHECK(pipe(ctl) == 0 && pipe(rep) == 0, "pipe");
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        close(ctl[1]);
        close(rep[0]);
        become(uid, uid);
        umask(0);
        if (dir != NULL && (mkdir(dir, dirmode) != 0 || chmod(dir, dirmode) != 0))
            _exit(1);
        hostile_main(sock, ctl[0], rep[1]);
        _exit(0);
    }
    it_track(pid);
    close(ctl[0]);
    close(rep[1]);
    char line[128];
    CHECK(it_read_line(rep[0], line, sizeof line, 10000) == 0 && strcmp(line, "listening") == 0,
          "the hostile listener did not start: '%s'", line);
    return (hostile){.pid = pid, .ctl = ctl[1], .rep = rep[0]};
}

/* What the hostile listener received so far. */
static void hostile_report(hostile *h, int *conns, long *bytes, int *fds)
{
    CHECK(write(h->ctl, "r", 1) == 1, "write to the hostile listener");
    char line[128];
    CHECK(it_read_line(h->rep, line, sizeof line, 10000) == 0, "no report: '%s'", line);
    int got = sscanf(line, "conns=%d bytes=%ld fds=%d", conns, bytes, fds);
    CHECK(got == 3, "report '%s'", line);
}

/* ---- the case's directory ------------------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    if (ftw->level > 0)
        remove(path);
    return 0;
}

/* Removes everything under it_dir (the harness removes it_dir itself). */
static void remove_tree(void)
{
    if (getpid() == g_main && it_dir[0] != '\0')
        nftw(it_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A path under it_dir. */
static const char *at(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", it_dir, name);
    return buf;
}

static bool file_has(const char *path, const char *text)
{
    char buf[256] = {0};
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    return n >= 0 && strcmp(buf, text) == 0;
}

static void write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text), "write %s", path);
    close(fd);
}

static void snap_at(const char *query, ttm_report *s)
{
    it_snap(query, TTM_SNAP_WANT_STATUS, 10000, s);
}

/* With env (XDG_RUNTIME_DIR pointing at a planted default directory, no system daemon): the
 * victim's client stays detached, `ttmem CMD` exits 1 and ttmemd itself refuses to start, each
 * with one line containing needle. */
static void default_dir_refused(const char *const *env, const char *cmd, const char *needle)
{
    char err[160], out[160];
    const char *args[] = {"--alloc-at", "0x5000", NULL};
    proc c = client_as((uid_t)-1, (gid_t)-1, env, at(err, sizeof err, "client.err"), args);
    CHECK_EQ(client_connected(&c), 0);
    CHECK_EQ(proc_status(&c), 0);
    CHECK_ONE_LINE(err, needle);
    const char *st[] = {cmd, NULL};
    CHECK_EQ(cli_as((uid_t)-1, (gid_t)-1, env, at(out, sizeof out, "cli.out"),
                    at(err, sizeof err, "cli.err"), st),
             1);
    CHECK_ONE_LINE(err, needle);
    const char *dargs[] = {g_ttmemd, "--foreground", NULL};
    proc d = run_as((uid_t)-1, (gid_t)-1, env, at(err, sizeof err, "ttmemd.err"), dargs);
    CHECK_EQ(proc_status(&d), 1);
    CHECK_ONE_LINE(err, needle);
}

/* ---- cases ------------------------------------------------------------------------------------ */

/* Item 16: the attacker (nobody) pre-creates the victim's (root's) default directory 0777 and
 * listens in it. The victim's client, CLI and ttmemd refuse it in one line each; the attacker
 * gets nothing, not even a connection. */
static void case_planted(void)
{
    char xdg[128], dir[160], sock[200], env_xdg[160];
    at(xdg, sizeof xdg, "xdg");
    CHECK(mkdir(xdg, 01777) == 0 && chmod(xdg, 01777) == 0, "mkdir %s", xdg); /* like /tmp */
    snprintf(dir, sizeof dir, "%s/ttmem", xdg);
    snprintf(sock, sizeof sock, "%s/ttmemd.sock", dir);
    hostile h = hostile_start(NOBODY, dir, 0777, sock);

    snprintf(env_xdg, sizeof env_xdg, "XDG_RUNTIME_DIR=%s", xdg);
    const char *env[] = {env_xdg, "TTMEM_SYSTEM_DIR=/nonexistent", NULL};
    const char *needle = "must belong to uid 0 with mode 0700 (it has uid 65534, mode 0777)";
    default_dir_refused(env, "status", needle);
    /* every other command that connects: one line each (metrics still prints daemon_up 0) */
    struct {
        const char *args[3];
        int status;
    } cmds[] = {{{"dump", NULL}, 1}, {{"top", "--once", NULL}, 1}, {{"metrics", NULL}, 0}};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char out[160], err[160];
        int rc = cli_as((uid_t)-1, (gid_t)-1, env, at(out, sizeof out, "cli.out"),
                        at(err, sizeof err, "cli.err"), cmds[i].args);
        CHECK(rc == cmds[i].status, "ttmem %s exited %d", cmds[i].args[0], rc);
        CHECK_ONE_LINE(err, needle);
    }
    int conns, fds;
    long bytes;
    hostile_report(&h, &conns, &bytes, &fds);
    CHECK_EQ(conns, 0);
    CHECK_EQ(bytes, 0);
    CHECK_EQ(fds, 0);
}

/* Item 16: the default directory is a symbolic link (planted by nobody) to the victim's own
 * daemon's directory: neither the client nor the CLI follows it, nor does ttmemd. */
static void case_symlink(void)
{
    char real[128], sock[160], xdg[128], link[160], env_xdg[160], err[160],
        query[180];
    at(real, sizeof real, "real");
    CHECK(mkdir(real, 0700) == 0, "mkdir");
    snprintf(sock, sizeof sock, "%s/ttmemd.sock", real);
    snprintf(query, sizeof query, "%s.query", sock);
    it_start_ttmemd(g_ttmemd, sock, at(err, sizeof err, "real.err"), NULL);
    at(xdg, sizeof xdg, "xdg");
    CHECK(mkdir(xdg, 01777) == 0 && chmod(xdg, 01777) == 0, "mkdir %s", xdg);
    snprintf(link, sizeof link, "%s/ttmem", xdg);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        become(NOBODY, NOBODY);
        _exit(symlink(real, link) == 0 ? 0 : 1);
    }
    it_track(pid);
    CHECK(WEXITSTATUS(it_wait_exit(pid, 10000)) == 0, "nobody could not plant the link");

    snprintf(env_xdg, sizeof env_xdg, "XDG_RUNTIME_DIR=%s", xdg);
    const char *env[] = {env_xdg, "TTMEM_SYSTEM_DIR=/nonexistent", NULL};
    default_dir_refused(env, "dump", "is a symbolic link");
    ttm_report s;
    snap_at(query, &s);
    CHECK_EQ(s.daemon.clients_total, 0);
    ttm_report_clear(&s);
}

/* Item 17: a link planted at the lock, log or pid file (symbolic, or hard to a file of ours)
 * makes ttmemd refuse to start in one line; the target is never opened for writing. */
static void case_files(void)
{
    char dir[128], sock[160], target[128], path[200], err[160];
    at(dir, sizeof dir, "d");
    CHECK(mkdir(dir, 0700) == 0, "mkdir");
    snprintf(sock, sizeof sock, "%s/ttmemd.sock", dir);
    at(target, sizeof target, "precious");
    write_file(target, "precious\n");
    struct {
        const char *file; /* under dir */
        bool hard;
        const char *option, *needle;
    } plants[] = {
        {"ttmemd.sock.lock", false, NULL, "cannot open lock file"},
        {"ttmemd.log", false, "--log-file", "cannot open log file"},
        {"d.pid", false, "--pid-file", "cannot write pid file"},
        {"d.pid", true, "--pid-file", "cannot write pid file"},
        {"ttmemd.log", true, "--log-file", "cannot open log file"},
    };
    for (size_t i = 0; i < sizeof plants / sizeof plants[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, plants[i].file);
        CHECK((plants[i].hard ? link(target, path) : symlink(target, path)) == 0, "plant %s",
              path);
        const char *argv[] = {g_ttmemd, "--foreground", "--socket", sock,
                              plants[i].option, plants[i].option ? path : NULL, NULL};
        proc d = run_as((uid_t)-1, (gid_t)-1, NULL, at(err, sizeof err, "ttmemd.err"), argv);
        CHECK(proc_status(&d) == 1, "ttmemd started over a planted %s", path);
        CHECK_ONE_LINE(err, plants[i].needle);
        CHECK(file_has(target, "precious\n"), "%s was written through %s", target, path);
        struct stat st;
        CHECK(stat(target, &st) == 0 && st.st_size == 9, "target changed");
        CHECK(unlink(path) == 0, "unlink");
    }
    /* the detached daemon's default log, next to its socket: one line, from the parent only */
    snprintf(path, sizeof path, "%s/ttmemd.log", dir);
    CHECK(symlink(target, path) == 0, "plant %s", path);
    const char *argv[] = {g_ttmemd, "--socket", sock, NULL};
    proc d = run_as((uid_t)-1, (gid_t)-1, NULL, at(err, sizeof err, "detached.err"), argv);
    CHECK_EQ(proc_status(&d), 1);
    CHECK_ONE_LINE(err, "it is a symbolic link");
    CHECK(file_has(target, "precious\n"), "%s was written through the log link", target);
}

/* Item 16: a real ttmemd running as another uid, named explicitly ($TTMEM_SOCKET, --socket):
 * the client and the CLI refuse it once connected, before sending a byte; a hostile listener
 * of another uid at an explicit path receives no byte and no descriptor. */
static void case_peer(void)
{
    char dir[128], sock[160], env_sock[200], err[160], out[160];
    at(dir, sizeof dir, "n");
    CHECK(mkdir(dir, 0700) == 0 && chown(dir, NOBODY, NOBODY) == 0, "mkdir");
    snprintf(sock, sizeof sock, "%s/ttmemd.sock", dir);
    it_start_ttmemd_as(g_ttmemd, sock, at(err, sizeof err, "nobody.err"), NULL, NOBODY, NOBODY);
    CHECK(chmod(sock, 0666) == 0, "chmod"); /* as a careless or hostile owner would */

    snprintf(env_sock, sizeof env_sock, "TTMEM_SOCKET=%s", sock);
    const char *env[] = {env_sock, NULL};
    const char *args[] = {"--alloc-at", "0x5000", NULL};
    proc c = client_as((uid_t)-1, (gid_t)-1, env, at(err, sizeof err, "client.err"), args);
    CHECK_EQ(client_connected(&c), 0);
    CHECK_EQ(proc_status(&c), 0);
    CHECK_ONE_LINE(err, "it runs as uid 65534");
    const char *st[] = {"status", "--socket", sock, NULL};
    CHECK_EQ(cli_as((uid_t)-1, (gid_t)-1, NULL, at(out, sizeof out, "status.out"),
                    at(err, sizeof err, "status.err"), st),
             1);
    CHECK_ONE_LINE(err, "it runs as uid 65534");

    char hsock[160];
    snprintf(hsock, sizeof hsock, "%s/hostile.sock", dir);
    hostile h = hostile_start(NOBODY, NULL, 0, hsock);
    snprintf(env_sock, sizeof env_sock, "TTMEM_SOCKET=%s", hsock);
    c = client_as((uid_t)-1, (gid_t)-1, env, at(err, sizeof err, "client2.err"), args);
    CHECK_EQ(client_connected(&c), 0);
    CHECK_EQ(proc_status(&c), 0);
    CHECK_ONE_LINE(err, "it runs as uid 65534");
    int conns, fds;
    long bytes;
    hostile_report(&h, &conns, &bytes, &fds);
    CHECK(conns >= 1, "the client never tried the explicit socket");
    CHECK_EQ(bytes, 0);
    CHECK_EQ(fds, 0);
}

/* Item 18: `ttmemd --system` (as root, in a private directory, group nogroup) serves clients
 * of every uid in its group: nobody's client is accepted and its record is its own, another
 * uid's free of it is a foreign free that changes nothing, a uid outside the group cannot
 * connect, and root's and the group's `ttmem status` list every process. A stale per-user
 * socket does not hide the system daemon. */
static void case_system(void)
{
    char run[128], sock[160], query[180], err[160], out[160], env_sys[200], env_xdg[200];
    at(run, sizeof run, "run");
    snprintf(sock, sizeof sock, "%s/ttmemd.sock", run);
    snprintf(query, sizeof query, "%s.query", sock);
    struct group *g = getgrgid(NOBODY);
    CHECK(g != NULL, "no group %u", NOBODY);
    char group[64];
    snprintf(group, sizeof group, "%s", g->gr_name);
    const char *extra[] = {"--system", "--system-dir", run, "--group", group, NULL};
    it_start_ttmemd_as(g_ttmemd, NULL, at(err, sizeof err, "system.err"), extra, (uid_t)-1,
                       (gid_t)-1);
    struct stat st;
    CHECK(lstat(run, &st) == 0 && st.st_uid == 0 && st.st_gid == NOBODY &&
              (st.st_mode & 07777) == 0750,
          "system directory uid %u gid %u mode %o", st.st_uid, st.st_gid, st.st_mode & 07777);
    CHECK(lstat(sock, &st) == 0 && st.st_gid == NOBODY && (st.st_mode & 0777) == 0660,
          "socket gid %u mode %o", st.st_gid, st.st_mode & 0777);
    CHECK(lstat(query, &st) == 0 && st.st_gid == NOBODY && (st.st_mode & 0777) == 0660,
          "query socket gid %u mode %o", st.st_gid, st.st_mode & 0777);

    /* no per-user daemon for anyone: their default directories do not exist */
    snprintf(env_sys, sizeof env_sys, "TTMEM_SYSTEM_DIR=%s", run);
    snprintf(env_xdg, sizeof env_xdg, "XDG_RUNTIME_DIR=%s/none", it_dir);
    const char *env[] = {env_sys, env_xdg, NULL};
    const char *own_args[] = {"--alloc-at", "0x5000", "--hold", NULL};
    proc owner = client_as(NOBODY, NOBODY, env, at(err, sizeof err, "owner.err"), own_args);
    char line[64];
    CHECK(it_read_line(owner.out, line, sizeof line, 15000) == 0 && strcmp(line, "ready 0") == 0,
          "nobody's client not ready: '%s'", line);
    ttm_report s;
    snap_at(query, &s);
    const ttm_report_proc *p = it_proc_of(&s, owner.pid);
    CHECK(p != NULL && p->connected && p->uid == NOBODY && p->stats.live_records == 1,
          "nobody's client is not attached with its record");
    ttm_report_clear(&s);

    const char *thief_args[] = {"--free-at", "0x5000", NULL};
    proc thief = client_as(OTHER, NOBODY, env, at(err, sizeof err, "thief.err"), thief_args);
    CHECK_EQ(client_connected(&thief), 1);
    pid_t thief_pid = thief.pid;
    CHECK_EQ(proc_status(&thief), 0);
    int64_t deadline = it_now_ms() + 10000;
    for (;;) { /* until the thief's exit is settled */
        snap_at(query, &s);
        const ttm_report_proc *t = it_proc_of(&s, thief_pid);
        if (t != NULL && !t->connected)
            break;
        ttm_report_clear(&s);
        CHECK(it_now_ms() < deadline, "the other uid's session never ended");
        it_sleep_ms(10);
    }
    const ttm_report_proc *t = it_proc_of(&s, thief_pid);
    CHECK(t->uid == OTHER, "thief uid %u", t->uid);
    CHECK_EQ(s.totals.class_count[TTM_CLASS_FOREIGN_FREE], 1);
    CHECK_EQ(s.totals.class_count[TTM_CLASS_FREE_OK], 0);
    p = it_proc_of(&s, owner.pid);
    CHECK(p != NULL && p->stats.live_records == 1, "the owner lost its record to another uid");
    CHECK_EQ(s.devices[0].mem[TTM_MEM_DRAM].live_bytes, 4096);
    ttm_report_clear(&s);

    /* outside the group: the 0660 socket is closed to it, and it is told so */
    proc out_c = client_as(OUTSIDER, OUTSIDER, env, at(err, sizeof err, "outsider.err"),
                           thief_args);
    CHECK_EQ(client_connected(&out_c), 0);
    CHECK_EQ(proc_status(&out_c), 0);
    CHECK_ONE_LINE(err, "Permission denied");

    /* root, with a stale per-user socket left by a killed daemon, and the group: every process */
    char xdg[160], udir[180], usock[200], lock[210];
    snprintf(xdg, sizeof xdg, "%s/xdg", it_dir);
    snprintf(udir, sizeof udir, "%s/ttmem", xdg);
    snprintf(usock, sizeof usock, "%s/ttmemd.sock", udir);
    snprintf(lock, sizeof lock, "%s.lock", usock);
    CHECK(mkdir(xdg, 0700) == 0 && mkdir(udir, 0700) == 0, "mkdir");
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = sun_of(usock);
    CHECK(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0, "bind stale");
    close(fd);
    pid_t dead = fork();
    if (dead == 0)
        _exit(0);
    waitpid(dead, NULL, 0);
    char pidline[32];
    snprintf(pidline, sizeof pidline, "%d\n", (int)dead);
    write_file(lock, pidline);
    snprintf(env_xdg, sizeof env_xdg, "XDG_RUNTIME_DIR=%s", xdg);
    const char *root_env[] = {env_sys, env_xdg, NULL};
    const char *sargs[] = {"status", "--json", NULL};
    struct {
        uid_t uid;
        const char *const *env;
    } viewers[] = {{(uid_t)-1, root_env}, {NOBODY, env}};
    for (size_t v = 0; v < 2; v++) {
        CHECK_EQ(cli_as(viewers[v].uid, viewers[v].uid, viewers[v].env,
                        at(out, sizeof out, "status.json"), at(err, sizeof err, "status.err"),
                        sargs),
                 0);
        char needle[64];
        bool found;
        snprintf(needle, sizeof needle, "\"pid\": %d,", (int)owner.pid);
        count_lines(out, needle, &found, NULL, 0);
        CHECK(found, "viewer %zu: the owner (pid %d) is missing from status", v, (int)owner.pid);
        snprintf(needle, sizeof needle, "\"pid\": %d,", (int)thief_pid);
        count_lines(out, needle, &found, NULL, 0);
        CHECK(found, "viewer %zu: the other uid (pid %d) is missing from status", v,
              (int)thief_pid);
    }
    CHECK(write(owner.in, "done\n", 5) == 5, "write");
    CHECK_EQ(client_connected(&owner), 1);
    CHECK_EQ(proc_status(&owner), 0);
}

int main(int argc, char **argv)
{
    static const it_case_entry cases[] = {
        {"planted", case_planted}, {"symlink", case_symlink}, {"files", case_files},
        {"peer", case_peer},       {"system", case_system},
    };
    if (argc != 5) {
        fprintf(stderr, "usage: it_trust CASE TTMEMD IT_CLIENT TTMEM\n");
        return 2;
    }
    g_ttmemd = argv[2];
    g_client = argv[3];
    g_ttmem = argv[4];
    void (*fn)(void) = it_find_case(cases, sizeof cases / sizeof cases[0], argv[1]);
    if (fn == NULL)
        return 2;
    if (geteuid() != 0) {
        printf("it_trust: %s: needs root (other uids are played with setresuid); skipped\n",
               argv[1]);
        return 77;
    }
    if (it_begin("it_trust", argv[1], "/tmp/ttmem-trust.XXXXXX", CASE_TIMEOUT_S) != 0)
        return 1;
    g_main = getpid();
    atexit(remove_tree); /* runs before the harness's clean-up removes it_dir */
    CHECK(chmod(it_dir, 0755) == 0, "chmod %s", it_dir); /* the other uids work in it */
    fn();
    return 0;
}
