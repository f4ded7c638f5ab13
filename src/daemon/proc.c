/*
 * proc.c — the process table of proc.h: entries sorted by pid, the connections attached to
 * them, the exit epoll set of their pidfds, the once-a-second check, and exit settlement.
 *
 * Exit: a process's exit is applied by the last connection that held it (a process that
 * rebuilt its ring ends with two sessions and exits once). Its live buffers become
 * leaked_at_exit and are reclaimed in budgeted steps (ttm_registry_process_exit_step), so a
 * process that held millions of buffers costs every loop turn a bounded slice; when the last
 * step is done the entry is marked exited and one line says what leaked. A process whose last
 * connection closed while it still ran (a legacy client that closed its socket) keeps its
 * buffers until the once-a-second check finds it gone.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/util.h"
#include "daemon/daemon.h"
#include "daemon/log.h"
#include "daemon/proc.h"

#define PROC_RELEASED_MAX TTM_DAEMON_MAX_PROCS /* released processes watched at most */

void ttm__pconn_init(ttm_pconn *c, void *owner)
{
    memset(c, 0, sizeof *c);
    c->pidfd = -1;
    c->owner = owner;
}

/* ---- the table ------------------------------------------------------------------------------ */

static size_t proc_index(const ttm_daemon *d, uint32_t pid, bool *found)
{
    size_t lo = 0, hi = d->nprocs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (d->procs[mid]->pid < pid)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < d->nprocs && d->procs[lo]->pid == pid;
    return lo;
}

ttm_dproc *ttm__proc_find(const ttm_daemon *d, uint32_t pid)
{
    bool found;
    size_t i = proc_index(d, pid, &found);
    return found ? d->procs[i] : NULL;
}

/* Evicts the process without a connection (only an exited one when exited_only) seen longest
 * ago, here and in the registry (its leaks stay in the totals); false when there is none. */
static bool proc_evict_one(ttm_daemon *d, bool exited_only)
{
    size_t victim = SIZE_MAX;
    for (size_t i = 0; i < d->nprocs; i++) {
        const ttm_dproc *p = d->procs[i];
        if (p->sessions_open == 0 && (p->exited || !exited_only) &&
            (victim == SIZE_MAX || p->last_ns < d->procs[victim]->last_ns))
            victim = i;
    }
    if (victim == SIZE_MAX)
        return false;
    if (ttm_registry_process_forget(d->reg, d->procs[victim]->pid) == TTM_OK)
        ttm__journal_proc(d, TTM_JOURNAL_PROC_FORGET, d->procs[victim]->pid, ttm__mono_ns());
    ttm__free(d->procs[victim]->cmdline);
    ttm__free(d->procs[victim]);
    memmove(&d->procs[victim], &d->procs[victim + 1],
            (d->nprocs - victim - 1) * sizeof d->procs[0]);
    d->nprocs--;
    d->procs_dropped++;
    return true;
}

void ttm__proc_trim(ttm_daemon *d)
{
    size_t keep = d->cfg.keep_exited ? d->cfg.keep_exited : TTM_DAEMON_KEEP_EXITED;
    size_t exited = 0;
    for (size_t i = 0; i < d->nprocs; i++)
        exited += d->procs[i]->exited && d->procs[i]->sessions_open == 0;
    while (exited > keep && proc_evict_one(d, true))
        exited--;
}

void ttm__proc_name_clean(char *name)
{
    for (char *c = name; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
}

static void read_comm(uint32_t pid, char *name, size_t len)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%u/comm", pid);
    name[0] = '\0';
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return;
    if (fgets(name, (int)len, f) != NULL)
        name[strcspn(name, "\n")] = '\0';
    fclose(f);
    ttm__proc_name_clean(name);
}

size_t ttm__proc_read_cmdline(uint32_t pid, char *buf, size_t len)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%u/cmdline", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    size_t off = 0;
    ssize_t k;
    while (off < len && ((k = read(fd, buf + off, len - off)) > 0 || (k < 0 && errno == EINTR)))
        off += k > 0 ? (size_t)k : 0;
    close(fd);
    while (off > 0 && buf[off - 1] == '\0') /* the last argument's NUL is not a separator */
        off--;
    return off;
}

/* Keeps p's command line as /proc gives it now; when it cannot be read (the process is gone
 * already, or it is a kernel thread, or hidepid hides it) or memory runs out, what an earlier
 * connection read stays (NULL when none did). */
static void note_cmdline(ttm_dproc *p)
{
    char buf[TTM_DAEMON_CMDLINE_MAX];
    size_t n = ttm__proc_read_cmdline(p->pid, buf, sizeof buf);
    if (n == 0)
        return;
    if (p->cmdline != NULL && p->cmdline_len == n && memcmp(p->cmdline, buf, n) == 0)
        return;
    char *copy = ttm__malloc(n);
    if (copy == NULL)
        return;
    memcpy(copy, buf, n);
    ttm__free(p->cmdline);
    p->cmdline = copy;
    p->cmdline_len = n;
}

/* The entry for a process opening a connection: found, reused (a new process with a reused
 * pid) or created. NULL only when the table is full of connected processes or memory ran
 * out. */
static ttm_dproc *proc_get(ttm_daemon *d, uint32_t pid)
{
    bool found;
    size_t i = proc_index(d, pid, &found);
    ttm_dproc *p = found ? d->procs[i] : NULL;
    if (p != NULL && p->sessions_open == 0 && p->exited) {
        ttm__free(p->cmdline);
        memset(p, 0, sizeof *p); /* the pid was reused */
        p->pid = pid;
    }
    if (p != NULL)
        return p;
    if (d->nprocs >= TTM_DAEMON_MAX_PROCS) {
        if (!proc_evict_one(d, false))
            return NULL;
        i = proc_index(d, pid, &found);
    }
    ttm_dproc **np = ttm__grow(d->procs, &d->procs_cap, d->nprocs, sizeof *np, 64);
    if (np == NULL)
        return NULL;
    d->procs = np;
    p = ttm__calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->pid = pid;
    memmove(&d->procs[i + 1], &d->procs[i], (d->nprocs - i) * sizeof d->procs[0]);
    d->procs[i] = p;
    d->nprocs++;
    return p;
}

/* No longer waiting for pid to be found gone (it speaks again, or its exit was applied). */
static void released_remove(ttm_daemon *d, uint32_t pid)
{
    for (size_t i = 0; i < d->nreleased; i++)
        if (d->released[i] == pid) {
            d->released[i] = d->released[--d->nreleased];
            return;
        }
}

ttm_dproc *ttm__proc_attach(ttm_daemon *d, ttm_pconn *c, uint32_t pid, uint32_t uid,
                            const char *comm)
{
    ttm_dproc *p = proc_get(d, pid);
    if (p == NULL)
        return NULL;
    p->uid = uid;
    read_comm(pid, p->name, sizeof p->name);
    if (p->name[0] == '\0') { /* already gone: keep what it said of itself, marked */
        snprintf(p->name, sizeof p->name, "%.*s", (int)sizeof p->name - 1, comm);
        ttm__proc_name_clean(p->name);
    }
    note_cmdline(p);
    p->exited = false;
    p->sessions_open++;
    p->sessions++;
    p->last_ns = ttm__mono_ns();
    c->proc = p;
    c->pid = pid;
    c->settling = false;
    c->prev = NULL;
    c->next = d->pconns;
    if (d->pconns != NULL)
        d->pconns->prev = c;
    d->pconns = c;
    released_remove(d, pid);
    return p;
}

void ttm__proc_detach(ttm_daemon *d, ttm_pconn *c)
{
    ttm__proc_unwatch(d, c);
    if (c->proc == NULL)
        return;
    c->proc->sessions_open--;
    c->proc->last_ns = ttm__mono_ns();
    c->proc = NULL;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        d->pconns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

bool ttm__proc_held(const ttm_daemon *d, uint32_t pid, const ttm_pconn *except, bool settling)
{
    for (const ttm_pconn *c = d->pconns; c != NULL; c = c->next)
        if (c != except && c->pid == pid && (settling || !c->settling))
            return true;
    return false;
}

void ttm__proc_table_free(ttm_daemon *d)
{
    if (d->exit_epoll_on) {
        if (d->loop != NULL)
            ttm__loop_del(d->loop, &d->exit_w);
        close(d->exit_epfd);
        d->exit_epfd = -1;
        d->exit_epoll_on = false;
    }
    for (size_t i = 0; i < d->nprocs; i++) {
        ttm__free(d->procs[i]->cmdline);
        ttm__free(d->procs[i]);
    }
    ttm__free(d->procs);
    ttm__free(d->released);
    d->procs = NULL;
    d->released = NULL;
    d->nprocs = d->procs_cap = d->nreleased = 0;
}

/* ---- liveness ------------------------------------------------------------------------------- */

bool ttm__pid_gone(uint32_t pid)
{
    if (pid == 0)
        return false;
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
        return true;
    char buf[256];
    const char *state = ttm__proc_stat_field(pid, 3, buf, sizeof buf);
    if (state == NULL)
        return errno == ENOENT;
    return *state == 'Z' || *state == 'X';
}

bool ttm__proc_conn_gone(const ttm_pconn *c)
{
    if (c->pidfd >= 0) {
        struct pollfd p = {.fd = c->pidfd, .events = POLLIN};
        return poll(&p, 1, 0) > 0;
    }
    return ttm__pid_gone(c->pid);
}

void ttm__proc_note_exits(ttm_daemon *d)
{
    if (d->exit_epoll_on) {
        struct epoll_event evs[32];
        int n;
        while ((n = epoll_wait(d->exit_epfd, evs, 32, 0)) > 0) {
            for (int i = 0; i < n; i++) {
                ttm_pconn *c = evs[i].data.ptr;
                c->gone(d, c, TTM_GONE_PIDFD);
            }
            if (n < 32)
                break;
        }
    }
    if (d->no_pidfd == 0) /* only on kernels without pidfds, or a process gone at its HELLO */
        return;
    ttm_pconn *c = d->pconns;
    while (c != NULL) {
        ttm_pconn *next = c->next; /* the callback may detach c */
        if (c->polled && ttm__pid_gone(c->pid))
            c->gone(d, c, TTM_GONE_POLLED);
        c = next;
    }
}

/* The exit epoll set became readable. */
static void on_exit_set(ttm_loop *l, ttm_watch *w, uint32_t events)
{
    (void)w;
    (void)events;
    ttm__proc_note_exits(ttm__loop_ctx(l));
}

void ttm__proc_watch(ttm_daemon *d, ttm_pconn *c, int sock_fd, ttm_gone_fn gone)
{
#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif
    /* test hook: TTMEMD_TEST_NO_PIDFD=1 takes the /proc path of kernels without pidfds */
    static int no_pidfds = -1;
    if (no_pidfds < 0)
        no_pidfds = getenv("TTMEMD_TEST_NO_PIDFD") != NULL;
    c->gone = gone;
    int pfd = -1;
    socklen_t len = sizeof pfd;
    if (no_pidfds ||
        getsockopt(sock_fd, SOL_SOCKET, SO_PEERPIDFD, &pfd, &len) != 0 || len != sizeof pfd)
        pfd = -1;
#ifdef SYS_pidfd_open
    if (pfd < 0 && !no_pidfds)
        pfd = (int)syscall(SYS_pidfd_open, (pid_t)c->pid, 0);
#endif
    if (pfd >= 0 && !d->exit_epoll_on) {
        d->exit_epfd = epoll_create1(EPOLL_CLOEXEC);
        ttm__watch_init(&d->exit_w, on_exit_set, d);
        if (d->exit_epfd >= 0 &&
            ttm__loop_add(d->loop, &d->exit_w, d->exit_epfd, EPOLLIN) == TTM_OK) {
            d->exit_epoll_on = true;
        } else if (d->exit_epfd >= 0) {
            close(d->exit_epfd);
            d->exit_epfd = -1;
        }
    }
    if (pfd >= 0 && d->exit_epoll_on) {
        fcntl(pfd, F_SETFD, FD_CLOEXEC);
        struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(d->exit_epfd, EPOLL_CTL_ADD, pfd, &e) == 0) {
            c->pidfd = pfd;
            return;
        }
    }
    if (pfd >= 0)
        close(pfd);
    c->polled = true;
    d->no_pidfd++;
}

void ttm__proc_unwatch(ttm_daemon *d, ttm_pconn *c)
{
    if (c->pidfd >= 0) {
        if (d->exit_epoll_on)
            epoll_ctl(d->exit_epfd, EPOLL_CTL_DEL, c->pidfd, NULL);
        close(c->pidfd);
        c->pidfd = -1;
    }
    if (c->polled) {
        c->polled = false;
        d->no_pidfd--;
    }
    c->gone = NULL;
}

/* ---- what the processes do ------------------------------------------------------------- */

void ttm__proc_note_classes(ttm_daemon *d, uint32_t pid, const ttm_dproc *p, const char *via,
                            const ttm_event *ev, uint32_t mask)
{
    uint32_t fresh = mask & ~d->classes_seen;
    d->classes_seen |= mask;
    for (unsigned c = 0; c < TTM_CLASS__COUNT; c++) {
        if (!(fresh & TTM_CLASS_BIT(c)) || !ttm_class_is_anomaly(c))
            continue;
        TTM_LOG(WARN,
                "first %s: pid %u (%s%s) %s device %u %s 0x%llx (%s); further ones are counted, "
                "not logged",
                ttm_class_name(c), pid, p != NULL && p->name[0] ? p->name : "?", via,
                ttm__event_kind_name(ev->kind), ev->device, ttm__memtype_name(ev->memtype),
                (unsigned long long)ev->addr, ttm_class_help(c));
    }
}

/* ---- exits ---------------------------------------------------------------------------------- */

/* Records of an exiting process reclaimed per loop turn, shared by the exits being settled
 * (at least TTM_DAEMON_BUDGET each); the rest of an exit goes on in the next turns, so a
 * process that held millions of buffers costs every turn a bounded slice (12-21 ms here:
 * docs/RELIABILITY.md, item 11, "Exit of a large process"). */
#define TTM__EXIT_TURN_RECORDS 32768

/* The records of a turn, all exits together. Test hook: TTMEMD_TEST_EXIT_RECORDS=N makes it N, so that a test can
 * watch an exit half settled (it waits for that state, it does not time it). */
static size_t exit_turn_records(void)
{
    static size_t n;
    if (n == 0) {
        const char *e = getenv("TTMEMD_TEST_EXIT_RECORDS");
        unsigned long v = e != NULL ? strtoul(e, NULL, 10) : 0;
        n = v > 0 ? (size_t)v : TTM__EXIT_TURN_RECORDS;
    }
    return n;
}

/* Test hook: TTMEMD_TEST_EXIT_LOCKSTEP=1 lets the exits being settled take one step per query
 * answered, so that a test polling the query socket sees an exit half settled however loaded
 * the machine is (it waits for that state, it never races the daemon for it). */
bool ttm__proc_exit_may_step(const ttm_daemon *d)
{
    static int lockstep = -1;
    static uint64_t last_queries;
    if (lockstep < 0)
        lockstep = getenv("TTMEMD_TEST_EXIT_LOCKSTEP") != NULL;
    if (!lockstep)
        return true;
    if (d->queries == last_queries)
        return false;
    last_queries = d->queries;
    return true;
}

size_t ttm__proc_exit_records(unsigned nsettling)
{
    size_t total = exit_turn_records();
    size_t records = nsettling > 0 ? total / nsettling : total;
    if (records < TTM_DAEMON_BUDGET && total >= TTM_DAEMON_BUDGET)
        records = TTM_DAEMON_BUDGET;
    return records > 0 ? records : 1;
}

bool ttm__proc_exit_step(ttm_daemon *d, const ttm_pconn *c, uint32_t pid, size_t budget,
                         const char *why, bool away)
{
    ttm_dproc *p = ttm__proc_find(d, pid);
    if (c != NULL && !ttm_registry_process_settling(d->reg, pid) &&
        ttm__proc_held(d, pid, c, true)) {
        TTM_LOG(DEBUG, "pid %u (%s): session closed (%s)", pid, p ? p->name : "?", why);
        return true;
    }
    ttm_exit_progress pr;
    uint64_t now = ttm__mono_ns();
    if (p != NULL && !ttm_registry_process_settling(d->reg, pid))
        p->exit_ts = now; /* the exit's time is its first step's (registry.h) */
    if (!ttm_registry_process_exit_step(d->reg, pid, now, budget, &pr))
        return false;
    /* one record for the whole exit: the replay applies it at once */
    ttm__journal_proc(d, TTM_JOURNAL_PROC_EXIT, pid, p != NULL ? p->exit_ts : now);
    if (p != NULL) {
        p->exited = true;
        p->restored = false;
    }
    released_remove(d, pid);
    char events[40] = "";
    if (!away)
        snprintf(events, sizeof events, "%llu events, ",
                 (unsigned long long)(p != NULL ? p->events : 0));
    TTM_LOG(INFO, "pid %u (%s) exited%s (%s): %s%llu buffers (%llu bytes) leaked at exit and "
                  "reclaimed",
            pid, p != NULL && p->name[0] ? p->name : "?", away ? " while no daemon ran" : "",
            why, events, (unsigned long long)pr.leaked_count,
            (unsigned long long)pr.leaked_bytes);
    return true;
}

void ttm__proc_released(ttm_daemon *d, uint32_t pid, const char *why, bool watch)
{
    if (ttm__proc_held(d, pid, NULL, true))
        return; /* whoever holds it last settles its exit */
    if (ttm__pid_gone(pid)) {
        (void)ttm__proc_exit_step(d, NULL, pid, SIZE_MAX, why, false);
        return;
    }
    if (!watch)
        return;
    for (size_t i = 0; i < d->nreleased; i++)
        if (d->released[i] == pid)
            return;
    if (d->released == NULL)
        d->released = ttm__calloc(PROC_RELEASED_MAX, sizeof *d->released);
    if (d->released == NULL || d->nreleased >= PROC_RELEASED_MAX) {
        if (!d->released_full_logged)
            TTM_LOG(WARN, "pid %u closed its legacy connection but still runs, and %d such "
                          "processes are already watched: its buffers stay until the daemon "
                          "stops (logged once)",
                    pid, PROC_RELEASED_MAX);
        d->released_full_logged = true;
        return;
    }
    d->released[d->nreleased++] = pid;
    TTM_LOG(DEBUG, "pid %u closed its legacy connection but still runs: its buffers stay "
                   "until it exits",
            pid);
}

void ttm__proc_check_released(ttm_daemon *d)
{
    for (size_t i = 0; i < d->nreleased;) {
        uint32_t pid = d->released[i];
        const ttm_dproc *p = ttm__proc_find(d, pid);
        if (ttm__proc_held(d, pid, NULL, true) || (p != NULL && p->exited)) {
            /* reconnected, or a ring session of it settled its exit */
            d->released[i] = d->released[--d->nreleased];
        } else if (ttm__pid_gone(pid)) {
            d->released[i] = d->released[--d->nreleased];
            (void)ttm__proc_exit_step(d, NULL, pid, SIZE_MAX,
                                      "gone after closing its legacy connection", false);
        } else {
            i++;
        }
    }
}

/* Once a second: released processes found gone are settled, the connections watched without
 * a pidfd are looked at in /proc, and the exited processes kept are trimmed. */
static void proc_tick(ttm_loop *l, void *arg, uint64_t ticks)
{
    (void)l;
    ttm_daemon *d = arg;
    if (ticks % (1000 / TTM_DAEMON_TICK_MS) != 0)
        return;
    ttm__proc_check_released(d);
    ttm_pconn *c = d->pconns;
    while (c != NULL) {
        ttm_pconn *next = c->next;
        if (c->polled && ttm__pid_gone(c->pid))
            c->gone(d, c, TTM_GONE_TICK);
        c = next;
    }
    ttm__proc_trim(d);
}

void ttm__proc_register(ttm_daemon *d)
{
    ttm__loop_on_tick(d->loop, &d->proc_tick, proc_tick, d);
}
