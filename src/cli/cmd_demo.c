/*
 * cmd_demo.c — `ttmem demo`: `ttmem record` around simulated TT-Metal processes that report
 * through libttmem exactly like a runtime, to a private ttmemd: two llama runs on their own
 * 8-device meshes, one of them killed with SIGKILL mid-run, and a process that exits holding
 * buffers. It shows what the tool is for: per-process identity, leaks found at exit (also of a
 * process that could not say goodbye), double frees, peaks per device, nothing lost.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/fmt.h"

#define KILL_AFTER "30000"      /* events the killed process reports before it dies */
#define STOP_WAIT_MS 60000

/* Where `cmake --install` puts ttmem-simproc (LIBEXECDIR/ttmem), relative to the directory of
 * the ttmem binary (BINDIR); the build computes it from the install directories. */
#ifndef TTM_SIMPROC_REL
#error "TTM_SIMPROC_REL (the path of ttmem-simproc relative to BINDIR) is set by CMakeLists.txt"
#endif

typedef struct demo_proc {
    const char *what;
    char *argv[16];
    pid_t pid;
    bool killed;
    int status;
} demo_proc;

/* Reads the killed process's "stopped N" line. Returns 0, or -1 when it never came. */
static int wait_stopped(int fd)
{
    char buf[128];
    return ttm_cli_read_line(fd, buf, sizeof buf, STOP_WAIT_MS) > 0 &&
                   strncmp(buf, "stopped ", 8) == 0
               ? 0
               : -1;
}

static int wait_child(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return status;
}

/* Path of ttmem-simproc into buf: the one next to the ttmem binary (a build tree), else the
 * installed one (LIBEXECDIR/ttmem, TTM_SIMPROC_REL from the binary's directory), else the bare
 * name (found on PATH). */
static void find_simproc(char *buf, size_t len)
{
    ttm_cli_sibling("ttmem-simproc", buf, len);
    if (strchr(buf, '/') != NULL)
        return; /* next to ttmem */
    char installed[PATH_MAX];
    ttm_cli_sibling(TTM_SIMPROC_REL, installed, sizeof installed);
    if (strcmp(installed, TTM_SIMPROC_REL) != 0) /* found under the binary's directory */
        snprintf(buf, len, "%s", installed);
}

static const ttm_report_proc *find_proc(const ttm_report *s, pid_t pid)
{
    for (size_t i = 0; i < s->nprocs; i++)
        if (s->procs[i].stats.pid == (uint32_t)pid)
            return &s->procs[i];
    return NULL;
}

int ttm_cli_demo(int argc, char **argv)
{
    (void)argv;
    if (argc > 1)
        return ttm_cli_fail("demo: takes no arguments");
    char simproc[PATH_MAX];
    find_simproc(simproc, sizeof simproc);
    demo_proc procs[] = {
        {.what = "llama on devices 0-7, runs to the end",
         .argv = {simproc, "--scenario", "llama", "--device-base", "0", NULL}},
        {.what = "llama on devices 8-15, killed with SIGKILL after " KILL_AFTER " events",
         .argv = {simproc, "--scenario", "llama", "--device-base", "8", "--seed", "2",
                  "--stop-after", KILL_AFTER, NULL},
         .killed = true},
        {.what = "a process on devices 16-17 that exits holding buffers",
         .argv = {simproc, "--scenario", "leaks", "--device-base", "16", NULL}},
    };
    const size_t nprocs = sizeof procs / sizeof procs[0];

    printf("ttmem demo: %zu simulated TT-Metal processes report through libttmem to a private "
           "ttmemd\n",
           nprocs);
    fflush(stdout);
    ttm_cli_private *p = NULL;
    if (ttm_cli_private_start(&p) != 0)
        return 1;
    int rc = 0;
    int killpipe[2] = {-1, -1};
    size_t started = 0;
    for (size_t i = 0; i < nprocs; i++) {
        int out_fd = -1;
        if (procs[i].killed) {
            if (pipe(killpipe) != 0) {
                fprintf(stderr, "ttmem: demo: cannot create a pipe: %s\n", strerror(errno));
                rc = 1;
                break;
            }
            out_fd = killpipe[1];
        }
        procs[i].pid = ttm_cli_private_spawn(p, procs[i].argv, out_fd);
        if (out_fd >= 0) {
            close(killpipe[1]);
            killpipe[1] = -1;
        }
        if (procs[i].pid < 0) {
            rc = 1;
            break;
        }
        started++;
        printf("  pid %-8ld %s\n", (long)procs[i].pid, procs[i].what);
    }
    fflush(stdout);
    for (size_t i = 0; i < started; i++) {
        if (!procs[i].killed)
            continue;
        if (wait_stopped(killpipe[0]) != 0) {
            fprintf(stderr, "ttmem: demo: pid %ld did not reach its stopping point\n",
                    (long)procs[i].pid);
            rc = 1;
        }
        kill(procs[i].pid, SIGKILL);
    }
    if (killpipe[0] >= 0)
        close(killpipe[0]);
    for (size_t i = 0; i < started; i++) {
        procs[i].status = wait_child(procs[i].pid);
        bool ok = procs[i].killed ? WIFSIGNALED(procs[i].status) &&
                                        WTERMSIG(procs[i].status) == SIGKILL
                                  : WIFEXITED(procs[i].status) &&
                                        WEXITSTATUS(procs[i].status) == 0;
        if (!ok) {
            fprintf(stderr, "ttmem: demo: pid %ld (%s) ended unexpectedly (status 0x%x)\n",
                    (long)procs[i].pid, procs[i].what, (unsigned)procs[i].status);
            rc = 1;
        }
    }
    if (rc != 0) {
        ttm_cli_private_stop(p);
        return rc;
    }
    ttm_report snap;
    if (ttm_cli_private_settle(p, 10000) != 0 || ttm_cli_private_report(p, 5, 10, &snap) != 0) {
        ttm_cli_private_stop(p);
        return 1;
    }
    printf("\n");
    ttm_render_text(stdout, &snap, "demo (llama x2, one killed mid-run; leaks)");
    ttm_cli_print_transport(stdout, &snap);
    char a[TTM_FMT_LEN], b[TTM_FMT_LEN], c[TTM_FMT_LEN];
    for (size_t i = 0; i < nprocs; i++) {
        const ttm_report_proc *sp = find_proc(&snap, procs[i].pid);
        if (sp == NULL || !procs[i].killed)
            continue;
        printf("\nKilled      pid %ld died by SIGKILL after %s events: the daemon drained its "
               "ring (nothing it\n            committed was lost) and reported its %s live "
               "buffers (%s) as leaked_at_exit\n",
               (long)procs[i].pid, ttm__fmt_count(a, sp->events),
               ttm__fmt_count(b, sp->stats.leaked_count), ttm__fmt_bytes(c, sp->stats.leaked_bytes));
    }
    ttm_report_clear(&snap);
    ttm_cli_private_stop(p);
    return 0;
}
