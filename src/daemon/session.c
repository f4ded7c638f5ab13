/*
 * session.c — ttmemd's clients: the HELLO handshake, the ring each client hands over, draining
 * rings into the core registry, and deciding when a process has exited.
 *
 * A client's identity is the kernel's (SO_PEERCRED), never a field of its messages. Everything
 * a client sends is checked: the HELLO by proto.c, then here the descriptors (a memfd of at
 * least the ring's size, an eventfd) and the ring's header (ring.c). A refused client gets a
 * reply with a negative status and one line, the daemon logs one line and counts it.
 *
 * Exit: when a client's connection closes the daemon drains its ring, then confirms the
 * process is gone (no such pid, or a zombie) and only then drains the slots a killed producer
 * reserved but never committed (peer_dead), reports its live buffers as leaked_at_exit and
 * reclaims them. A process that closed its connection but still runs lingers for
 * TTM_DAEMON_LINGER_MS (it may be reconnecting with the same ring), then counts as exited.
 *
 * The ring lives in memory the client controls. The daemon accepts only a memfd sealed against
 * shrinking, so its mapping cannot be cut short; as defence in depth it still drains rings
 * under a SIGBUS guard, so a fault would break only that client's session.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/proto.h"
#include "daemon/daemon.h"
#include "daemon/log.h"

/* ---- the SIGBUS guard ----------------------------------------------------------------------- */

static sigjmp_buf ring_jmp;
static volatile sig_atomic_t ring_guarded;
static bool guard_installed;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
    (void)si;
    (void)uc;
    if (ring_guarded) {
        ring_guarded = 0;
        siglongjmp(ring_jmp, 1);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static void guard_install(void)
{
    if (guard_installed)
        return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER; /* NODEFER: leaving by siglongjmp needs no mask restore */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, NULL);
    guard_installed = true;
}

/* Marks a session whose ring faulted: it is drained no more and closes as if disconnected. */
static void ring_fault(ttm_daemon *d, ttm_session *s)
{
    s->broken = true;
    d->ring_errors++;
    TTM_LOG(WARN, "pid %u: its ring became unreadable (memfd truncated?); closing the session",
            s->pid);
}

/* ---- the process table ---------------------------------------------------------------------- */

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

/* Evicts the exited process seen longest ago; false when every entry is in use. */
static bool proc_evict_one(ttm_daemon *d)
{
    size_t victim = SIZE_MAX;
    for (size_t i = 0; i < d->nprocs; i++) {
        const ttm_dproc *p = d->procs[i];
        if (p->sessions_open == 0 && (victim == SIZE_MAX || p->last_ns < d->procs[victim]->last_ns))
            victim = i;
    }
    if (victim == SIZE_MAX)
        return false;
    ttm__free(d->procs[victim]);
    memmove(&d->procs[victim], &d->procs[victim + 1],
            (d->nprocs - victim - 1) * sizeof d->procs[0]);
    d->nprocs--;
    d->procs_dropped++;
    return true;
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
    for (char *c = name; *c; c++) /* shown in one-line logs and tables */
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
}

/* The entry for a process starting a session: found, reused (a new process with a reused pid)
 * or created. NULL only when the table is full of connected processes or memory ran out. */
static ttm_dproc *proc_attach(ttm_daemon *d, uint32_t pid, uint32_t uid, const char *hello_comm)
{
    bool found;
    size_t i = proc_index(d, pid, &found);
    ttm_dproc *p = found ? d->procs[i] : NULL;
    if (p != NULL && p->sessions_open == 0 && p->exited) {
        memset(p, 0, sizeof *p); /* the pid was reused */
        p->pid = pid;
    }
    if (p == NULL) {
        if (d->nprocs >= TTM_DAEMON_MAX_PROCS) {
            if (!proc_evict_one(d))
                return NULL;
            i = proc_index(d, pid, &found);
        }
        if (d->nprocs == d->procs_cap) {
            size_t cap = d->procs_cap ? d->procs_cap * 2 : 64;
            ttm_dproc **np = ttm__reallocarray(d->procs, cap, sizeof *np);
            if (np == NULL)
                return NULL;
            d->procs = np;
            d->procs_cap = cap;
        }
        p = ttm__calloc(1, sizeof *p);
        if (p == NULL)
            return NULL;
        p->pid = pid;
        memmove(&d->procs[i + 1], &d->procs[i], (d->nprocs - i) * sizeof d->procs[0]);
        d->procs[i] = p;
        d->nprocs++;
    }
    p->uid = uid;
    read_comm(pid, p->name, sizeof p->name);
    if (p->name[0] == '\0') { /* already gone: keep what it said of itself, marked */
        char comm[sizeof p->name];
        snprintf(comm, sizeof comm, "%.*s", (int)sizeof comm - 1, hello_comm);
        for (char *c = comm; *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f)
                *c = '?';
        snprintf(p->name, sizeof p->name, "%s", comm);
    }
    p->exited = false;
    p->sessions_open++;
    p->sessions++;
    p->last_ns = ttm__now_ns();
    return p;
}

void ttm__proc_table_free(ttm_daemon *d)
{
    for (size_t i = 0; i < d->nprocs; i++)
        ttm__free(d->procs[i]);
    ttm__free(d->procs);
    d->procs = NULL;
    d->nprocs = d->procs_cap = 0;
}

/* ---- session list --------------------------------------------------------------------------- */

static void list_remove(ttm_daemon *d, ttm_session *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        d->sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
    d->nsessions--;
}

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

/* Unmaps the ring and closes every descriptor; frees the session. */
static void session_free(ttm_daemon *d, ttm_session *s)
{
    ttm__ep_del(d, s->fd);
    ttm__ep_del(d, s->efd);
    if (s->ring != NULL) {
        munmap(s->ring, s->map_bytes);
        s->ring = NULL;
    }
    close_fd(&s->fd);
    close_fd(&s->memfd);
    close_fd(&s->efd);
    if (s->state == TTM_SESSION_ACTIVE)
        d->nactive--;
    if (s->proc != NULL) {
        s->proc->sessions_open--;
        s->proc->last_ns = ttm__now_ns();
    }
    list_remove(d, s);
    s->dead = true;
    s->hot = false;
    s->next = d->dead_sessions;
    d->dead_sessions = s;
}

/* ---- draining -------------------------------------------------------------------------------- */

/* Logs the first appearance of each diagnosis class (never one line per event). */
static void note_classes(ttm_daemon *d, const ttm_session *s, const ttm_event *ev, uint32_t mask)
{
    uint32_t fresh = mask & ~d->classes_seen;
    d->classes_seen |= mask;
    for (unsigned c = 0; c < TTM_CLASS__COUNT; c++) {
        if (!(fresh & TTM_CLASS_BIT(c)) || !ttm_class_is_anomaly(c))
            continue;
        TTM_LOG(WARN,
                "first %s: pid %u (%s) %s device %u %s 0x%llx (%s); further ones are counted, "
                "not logged",
                ttm_class_name(c), s->pid, s->proc ? s->proc->name : "?",
                ttm__event_kind_name(ev->kind), ev->device, ttm__memtype_name(ev->memtype),
                (unsigned long long)ev->addr, ttm_class_help(c));
    }
}

/* Applies a run of events to the registry with the batch interface, then logs the classes that
 * appear for the first time. */
static void apply_run(ttm_daemon *d, ttm_session *s, size_t from, size_t to)
{
    if (to <= from)
        return;
    ttm_registry_apply_batch(d->reg, s->pid, &d->batch[from], to - from, &d->masks[from]);
    uint32_t seen = d->classes_seen;
    for (size_t i = from; i < to; i++)
        if (d->masks[i] & ~seen) {
            note_classes(d, s, &d->batch[i], d->masks[i]);
            seen = d->classes_seen;
        }
}

static void apply_batch(ttm_daemon *d, ttm_session *s, size_t n)
{
    size_t from = 0;
    for (size_t i = 0; i < n; i++) {
        const ttm_event *ev = &d->batch[i];
        if (ev->kind != TTM_EV_PROC_START && ev->kind != TTM_EV_PROC_EXIT)
            continue;
        /* The daemon alone says when a process starts and ends. */
        apply_run(d, s, from, i);
        from = i + 1;
        d->events_rejected++;
        s->proc->rejected++;
        if (!d->control_logged) {
            d->control_logged = true;
            TTM_LOG(WARN, "pid %u (%s) sent a %s event: clients may not send process start/exit, "
                          "ignored (counted, not logged again)",
                    s->pid, s->proc->name, ttm__event_kind_name(ev->kind));
        }
    }
    apply_run(d, s, from, n);
    d->events += n;
    s->proc->events += n;
}

/* Reads the ring's producer-side counters: waits for room and drops while no daemon existed.
 * Called under the guard. */
static void account_counters(ttm_daemon *d, ttm_session *s)
{
    ttm_ring_hdr *h = s->ring;
    uint64_t waited = atomic_load_explicit(&h->waited, memory_order_relaxed);
    if (waited > s->waited_base) {
        s->proc->waited += waited - s->waited_base;
        s->waited_base = waited;
    }
    uint64_t dropped = atomic_load_explicit(&h->dropped, memory_order_relaxed);
    if (dropped > s->dropped_base) {
        uint64_t add = dropped - s->dropped_base;
        s->proc->dropped += add;
        d->dropped += add;
        s->dropped_base = dropped;
        TTM_LOG(WARN, "pid %u (%s) dropped %llu events while no daemon held its ring", s->pid,
                s->proc->name, (unsigned long long)add);
    }
    /* Tell the client (and any next daemon) what has been accounted for. */
    if (atomic_load_explicit(&h->dropped_reported, memory_order_relaxed) < s->dropped_base)
        atomic_store_explicit(&h->dropped_reported, s->dropped_base, memory_order_relaxed);
}

/* One consume call under the SIGBUS guard. Returns the events copied into d->batch; on a
 * fault marks the session broken and returns 0. */
static size_t guarded_consume(ttm_daemon *d, ttm_session *s, bool peer_dead)
{
    guard_install();
    if (sigsetjmp(ring_jmp, 0) != 0) {
        ring_fault(d, s);
        return 0;
    }
    ring_guarded = 1;
    size_t n = ttm__ring_consume(s->ring, s->map_bytes, d->batch, TTM_DAEMON_BATCH, peer_dead);
    ring_guarded = 0;
    return n;
}

/* Reads the ring's counters (and whether more is ready) under the guard. */
static bool guarded_account(ttm_daemon *d, ttm_session *s)
{
    guard_install();
    if (sigsetjmp(ring_jmp, 0) != 0) {
        ring_fault(d, s);
        return false;
    }
    ring_guarded = 1;
    account_counters(d, s);
    bool ready = ttm__ring_ready(s->ring, s->map_bytes);
    ring_guarded = 0;
    return ready;
}

/* Drains up to budget events (SIZE_MAX = all) from s's ring. Returns the number drained;
 * sets s->hot when it stopped at the budget with more ready. */
static size_t session_drain(ttm_daemon *d, ttm_session *s, bool peer_dead, size_t budget)
{
    s->hot = false;
    if (s->ring == NULL || s->broken)
        return 0;
    size_t total = 0;
    while (total < budget) {
        size_t n = guarded_consume(d, s, peer_dead);
        if (n == 0)
            break;
        apply_batch(d, s, n);
        total += n;
    }
    if (s->broken)
        return total;
    bool ready = guarded_account(d, s);
    if (total >= budget && !peer_dead && ready)
        s->hot = true;
    return total;
}

/* Announces sleep under the guard; true when the consumer may block (see ring.h). */
static bool guarded_prepare_sleep(ttm_daemon *d, ttm_session *s)
{
    guard_install();
    if (sigsetjmp(ring_jmp, 0) != 0) {
        ring_fault(d, s);
        return true;
    }
    ring_guarded = 1;
    bool may_sleep = ttm__ring_prepare_sleep(s->ring, s->map_bytes);
    ring_guarded = 0;
    return may_sleep;
}

/* Drains; then either naps (events came: more are likely, and a producer that finds the
 * consumer awake does not pay for a doorbell) or, when the ring was already empty, arms the
 * doorbell. So under a steady stream the daemon polls every TTM_DAEMON_NAP_US and producers
 * almost never ring; an idle ring costs nothing (docs/CLIENT.md, "arm the doorbell late"). */
static void session_drain_and_sleep(ttm_daemon *d, ttm_session *s)
{
    s->napping = false;
    if (s->ring == NULL || s->broken)
        return;
    /* awake now: producers need not ring (ring.h) */
    atomic_store_explicit(&s->ring->consumer_sleeping, 0, memory_order_relaxed);
    for (;;) {
        size_t n = session_drain(d, s, false, TTM_DAEMON_BUDGET);
        if (s->hot || s->broken || s->ring == NULL)
            return;
        if (n > 0) {
            s->napping = true;
            s->nap_until_ns = ttm__now_ns() + TTM_DAEMON_NAP_US * 1000u;
            return;
        }
        if (guarded_prepare_sleep(d, s))
            return;
    }
}

/* ---- exit ------------------------------------------------------------------------------------ */

/* 1 when pid no longer runs (no such process, or a zombie), 0 when it runs. */
static bool process_gone(uint32_t pid)
{
    if (pid == 0)
        return false;
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
        return true;
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%u/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    const char *rp = strrchr(buf, ')'); /* the name may hold spaces and parentheses */
    return rp != NULL && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X');
}

static bool other_session_of(const ttm_daemon *d, const ttm_session *s)
{
    for (const ttm_session *o = d->sessions; o != NULL; o = o->next)
        if (o != s && o->pid == s->pid && o->state != TTM_SESSION_HANDSHAKE)
            return true;
    return ttm__poc_holds(d, s->pid); /* a legacy connection of the same process (poc.c) */
}

/* Ends a session. exited: the process is gone (or counts as gone); its remaining committed
 * events are drained and, unless another session of the same pid remains, the registry is
 * told it exited. Otherwise the ring is only detached. */
static void session_end(ttm_daemon *d, ttm_session *s, bool exited, const char *why)
{
    if (s->ring != NULL) {
        while (session_drain(d, s, exited, SIZE_MAX) > 0)
            ;
        if (!exited && !s->broken)
            atomic_store_explicit(&s->ring->consumer_attached, 0, memory_order_release);
    }
    if (s->proc != NULL && exited && !other_session_of(d, s)) {
        ttm_totals before, after;
        ttm_registry_totals(d->reg, &before);
        ttm_registry_process_exit(d->reg, s->pid, ttm__now_ns());
        ttm_registry_totals(d->reg, &after);
        s->proc->exited = true;
        uint64_t n = after.class_count[TTM_CLASS_LEAKED_AT_EXIT] -
                     before.class_count[TTM_CLASS_LEAKED_AT_EXIT];
        uint64_t b = after.class_bytes[TTM_CLASS_LEAKED_AT_EXIT] -
                     before.class_bytes[TTM_CLASS_LEAKED_AT_EXIT];
        TTM_LOG(INFO, "pid %u (%s) exited (%s): %llu events, %llu buffers (%llu bytes) leaked at "
                      "exit and reclaimed",
                s->pid, s->proc->name, why, (unsigned long long)s->proc->events,
                (unsigned long long)n, (unsigned long long)b);
    } else if (s->proc != NULL) {
        TTM_LOG(DEBUG, "pid %u (%s): session closed (%s)", s->pid, s->proc->name, why);
    }
    session_free(d, s);
}

/* The connection closed: settle now when the process is gone, else linger. */
static void session_hangup(ttm_daemon *d, ttm_session *s)
{
    if (s->state == TTM_SESSION_HANDSHAKE) {
        TTM_LOG(DEBUG, "pid %u: connection closed before its hello", s->pid);
        session_free(d, s);
        return;
    }
    ttm__ep_del(d, s->fd);
    close_fd(&s->fd);
    if (process_gone(s->pid)) {
        session_end(d, s, true, "connection closed");
        return;
    }
    session_drain(d, s, false, SIZE_MAX);
    if (s->state == TTM_SESSION_ACTIVE)
        d->nactive--;
    s->state = TTM_SESSION_LINGER;
    s->linger_ns = ttm__now_ns();
}

/* ---- handshake ------------------------------------------------------------------------------- */

static void reject(ttm_daemon *d, ttm_session *s, int status, const char *msg)
{
    d->clients_rejected++;
    TTM_LOG(WARN, "refused client pid %u uid %u: %s", s->pid, s->uid, msg);
    ttm__proto_send_reply(s->fd, status, msg);
    session_free(d, s);
}

static bool is_eventfd(int fd)
{
    char path[64], target[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n <= 0)
        return false;
    target[n] = '\0';
    return strcmp(target, "anon_inode:[eventfd]") == 0;
}

/* Checks the descriptors and maps the ring. Returns 0 or an error with msg filled. */
static int map_ring(ttm_daemon *d, ttm_session *s, const ttm_hello *hello, char *msg,
                    size_t msg_len)
{
    struct stat st;
    if (fstat(s->memfd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(msg, msg_len, "descriptor 1 is not a memfd or regular file holding the ring");
        return TTM_EPROTO;
    }
    if ((uint64_t)st.st_size < hello->ring_bytes) {
        snprintf(msg, msg_len, "ring memfd has %lld bytes but a ring of %u slots needs %llu",
                 (long long)st.st_size, hello->nslots, (unsigned long long)hello->ring_bytes);
        return TTM_EPROTO;
    }
    if (!is_eventfd(s->efd)) {
        snprintf(msg, msg_len, "descriptor 2 is not an eventfd (the ring's doorbell)");
        return TTM_EPROTO;
    }
    /* A ring that can shrink under the daemon's mapping could fault it: the memfd must be
     * sealed against shrinking (libttmem seals it; a client that allowed sealing but did not
     * seal gets it done here). */
    (void)fcntl(s->memfd, F_ADD_SEALS, F_SEAL_SHRINK);
    int seals = fcntl(s->memfd, F_GET_SEALS);
    if (seals < 0 || !(seals & F_SEAL_SHRINK)) {
        snprintf(msg, msg_len, "the ring must be a memfd sealed against shrinking "
                               "(F_SEAL_SHRINK)");
        return TTM_EPROTO;
    }
    void *map = mmap(NULL, (size_t)hello->ring_bytes, PROT_READ | PROT_WRITE, MAP_SHARED,
                     s->memfd, 0);
    if (map == MAP_FAILED) {
        snprintf(msg, msg_len, "cannot map the ring memfd read-write: %s", strerror(errno));
        return TTM_EPROTO;
    }
    s->ring = map;
    s->map_bytes = (size_t)hello->ring_bytes;
    s->ring_dev = st.st_dev;
    s->ring_ino = st.st_ino;
    int err;
    guard_install();
    if (sigsetjmp(ring_jmp, 0) != 0) {
        snprintf(msg, msg_len, "the ring memfd shrank while it was being checked");
        d->ring_errors++;
        return TTM_EPROTO;
    }
    ring_guarded = 1;
    err = ttm__ring_validate(map, s->map_bytes, msg, msg_len);
    if (err == TTM_OK && ((volatile ttm_ring_hdr *)s->ring)->nslots != hello->nslots) {
        snprintf(msg, msg_len, "ring header says %u slots, hello says %u",
                 ((volatile ttm_ring_hdr *)s->ring)->nslots, hello->nslots);
        err = TTM_EPROTO;
    }
    ring_guarded = 0;
    return err;
}

/* Hands the ring over when an older session of the same process holds the same ring (a
 * reconnect to this daemon): the old session is drained and freed, its counters carry over.
 * Returns true when that happened. */
static bool take_over_same_ring(ttm_daemon *d, ttm_session *s)
{
    bool found = false;
    ttm_session *o = d->sessions;
    while (o != NULL) {
        ttm_session *next = o->next;
        if (o != s && o->pid == s->pid && o->ring != NULL && o->ring_dev == s->ring_dev &&
            o->ring_ino == s->ring_ino) {
            session_drain(d, o, false, SIZE_MAX);
            TTM_LOG(DEBUG, "pid %u: ring handed from an older session to a new one", s->pid);
            s->waited_base = o->waited_base;
            found = true;
            session_free(d, o);
        }
        o = next;
    }
    return found;
}

static void handshake(ttm_daemon *d, ttm_session *s, uint32_t events)
{
    int avail = 0;
    if (ioctl(s->fd, FIONREAD, &avail) == 0 && avail < (int)sizeof(ttm_hello) &&
        !(events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR)))
        return; /* the rest of the HELLO is on its way; the handshake timeout bounds the wait */
    ttm_hello hello;
    char msg[120];
    int err = ttm__proto_recv_hello(s->fd, &hello, &s->memfd, &s->efd, msg, sizeof msg);
    if (err == TTM_EAGAIN)
        return;
    if (err == TTM_ECLOSED) {
        session_hangup(d, s);
        return;
    }
    if (err != TTM_OK) {
        reject(d, s, err, msg);
        return;
    }
    if (s->pid == 0) { /* SO_PEERCRED could not map the peer into our pid namespace */
        reject(d, s, TTM_EPERM, "the daemon cannot see this process's pid (another pid "
                                "namespace?): run ttmemd in the same pid namespace");
        return;
    }
    err = map_ring(d, s, &hello, msg, sizeof msg);
    if (err != TTM_OK) {
        reject(d, s, err, msg);
        return;
    }
    s->proc = proc_attach(d, s->pid, s->uid, hello.comm);
    if (s->proc == NULL) {
        reject(d, s, TTM_ELIMIT, "the daemon's process table is full");
        return;
    }
    ttm_ring_hdr *h = s->ring;
    bool other = other_session_of(d, s);
    bool same_ring = other && take_over_same_ring(d, s);
    /* Counters already in the ring belong to earlier daemons or sessions, except the drops the
     * client says no daemon has heard of. */
    uint64_t tail = atomic_load_explicit(&h->tail, memory_order_acquire);
    uint64_t reported = atomic_load_explicit(&h->dropped_reported, memory_order_relaxed);
    uint64_t ring_dropped = atomic_load_explicit(&h->dropped, memory_order_relaxed);
    if (!same_ring)
        s->waited_base = atomic_load_explicit(&h->waited, memory_order_relaxed);
    /* The client reports what it dropped; the ring's own counter may say more (drops after the
     * HELLO was written): the larger is accounted, once. */
    uint64_t add = hello.dropped;
    if (ring_dropped > reported && ring_dropped - reported > add)
        add = ring_dropped - reported;

    err = ttm__proto_send_reply(s->fd, TTM_OK, NULL);
    if (err != TTM_OK) { /* nothing is counted for a session that never began */
        TTM_LOG(DEBUG, "pid %u: gone before the reply: %s", s->pid, ttm_strerror(err));
        s->proc->sessions_open--;
        s->proc->sessions--;
        if (s->proc->sessions_open == 0)
            s->proc->exited = true;
        s->proc = NULL;
        session_free(d, s);
        return;
    }
    if (add > 0) {
        s->proc->dropped += add;
        d->dropped += add;
        TTM_LOG(WARN, "pid %u (%s) dropped %llu events while no daemon held its ring", s->pid,
                s->proc->name, (unsigned long long)add);
    }
    s->dropped_base = reported + add;
    atomic_store_explicit(&h->dropped_reported, s->dropped_base, memory_order_relaxed);
    if (!same_ring && tail > 0) {
        /* a previous daemon consumed these; this registry never saw them, except what a state
         * reloaded at start holds or replays from the ring (state.c) */
        uint64_t unseen = ttm__state_reattach(d, s, tail);
        s->proc->prior_events += unseen;
        d->prior_events += unseen;
    }
    s->proc->restored = false;
    if (hello.flags & 1u) {
        s->proc->reattached = true;
        d->reattached++;
    }
    atomic_store_explicit(&h->consumer_attached, 1, memory_order_release);
    s->state = TTM_SESSION_ACTIVE;
    d->nactive++;
    d->clients_total++;
    if (ttm__ep_add(d, s->efd, EPOLLIN, &s->bell_ep) != TTM_OK) {
        TTM_LOG(ERROR, "pid %u: cannot watch its doorbell (%s); its ring is drained by the "
                       "timer only",
                s->pid, strerror(errno));
        close_fd(&s->efd);
    }
    if (!other) {
        ttm_event start;
        memset(&start, 0, sizeof start);
        start.kind = TTM_EV_PROC_START;
        start.ts = ttm__now_ns();
        ttm_registry_apply(d->reg, s->pid, &start);
    }
    if (hello.flags & 1u)
        TTM_LOG(INFO, "pid %u (%s) uid %u reattached its ring of %u slots: %llu earlier events "
                      "went to a previous daemon, %llu dropped while none existed",
                s->pid, s->proc->name, s->uid, hello.nslots, (unsigned long long)tail,
                (unsigned long long)add);
    else
        TTM_LOG(INFO, "pid %u (%s) uid %u connected, ring of %u slots", s->pid, s->proc->name,
                s->uid, hello.nslots);
    session_drain_and_sleep(d, s);
}

/* ---- entry points ---------------------------------------------------------------------------- */

void ttm__session_accept(ttm_daemon *d)
{
    for (;;) {
        int fd = accept4(d->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                TTM_LOG(WARN, "accept on %s failed: %s", d->cfg.socket_path, strerror(errno));
            return;
        }
        struct ucred cred;
        socklen_t cl = sizeof cred;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0) {
            TTM_LOG(WARN, "cannot read the credentials of a client: %s", strerror(errno));
            close(fd);
            continue;
        }
        if (d->nsessions >= d->cfg.max_clients) {
            char msg[120];
            snprintf(msg, sizeof msg, "ttmemd serves at most %u clients (--max-clients)",
                     d->cfg.max_clients);
            d->clients_refused++;
            if (d->clients_refused == 1 || TTM_LOG_DEBUG <= ttm__log_level)
                TTM_LOG(WARN, "refused client pid %d: %s (counted, logged once)", (int)cred.pid,
                        msg);
            ttm__proto_send_reply(fd, TTM_ELIMIT, msg);
            close(fd);
            continue;
        }
        ttm_session *s = ttm__calloc(1, sizeof *s);
        if (s == NULL) {
            TTM_LOG(ERROR, "out of memory accepting a client");
            close(fd);
            continue;
        }
        s->sock_ep = (ttm_ep){TTM_EP_SESSION, s};
        s->bell_ep = (ttm_ep){TTM_EP_DOORBELL, s};
        s->fd = fd;
        s->memfd = s->efd = -1;
        s->pid = (uint32_t)cred.pid;
        s->uid = (uint32_t)cred.uid;
        s->state = TTM_SESSION_HANDSHAKE;
        s->opened_ns = ttm__now_ns();
        s->next = d->sessions;
        if (d->sessions)
            d->sessions->prev = s;
        d->sessions = s;
        d->nsessions++;
        if (ttm__ep_add(d, fd, EPOLLIN | EPOLLRDHUP, &s->sock_ep) != TTM_OK) {
            TTM_LOG(ERROR, "cannot watch a client socket: %s", strerror(errno));
            session_free(d, s);
        }
    }
}

void ttm__session_on_socket(ttm_daemon *d, ttm_session *s, uint32_t events)
{
    if (s->dead)
        return;
    if (s->state == TTM_SESSION_HANDSHAKE) {
        handshake(d, s, events);
        return;
    }
    if (events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR)) {
        session_hangup(d, s);
        return;
    }
    if (events & EPOLLIN) {
        /* Nothing is expected after the HELLO: discard, and notice an EOF. */
        char buf[256];
        ssize_t n = recv(s->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            session_hangup(d, s);
    }
}

void ttm__session_on_doorbell(ttm_daemon *d, ttm_session *s)
{
    if (s->dead)
        return;
    uint64_t v;
    if (s->efd >= 0 && read(s->efd, &v, sizeof v) < 0 && errno != EAGAIN && errno != EINTR) {
        ttm__ep_del(d, s->efd);
        close_fd(&s->efd);
    }
    if (s->state != TTM_SESSION_HANDSHAKE)
        session_drain_and_sleep(d, s);
    if (s->broken)
        session_hangup(d, s);
}

int64_t ttm__session_poll(ttm_daemon *d)
{
    int64_t wait = -1;
    uint64_t now = ttm__now_ns();
    ttm_session *s = d->sessions;
    while (s != NULL) {
        ttm_session *next = s->next;
        if (s->hot || (s->napping && s->nap_until_ns <= now)) {
            session_drain_and_sleep(d, s);
            if (s->broken)
                session_hangup(d, s);
            now = ttm__now_ns();
        }
        if (!s->dead) {
            if (s->hot)
                wait = 0;
            else if (s->napping) {
                int64_t left = s->nap_until_ns > now ? (int64_t)(s->nap_until_ns - now) : 0;
                if (wait < 0 || left < wait)
                    wait = left;
            }
        }
        s = next;
    }
    return wait;
}

void ttm__session_tick(ttm_daemon *d)
{
    uint64_t now = ttm__now_ns();
    bool check_alive = d->ticks % (1000 / TTM_DAEMON_TICK_MS) == 0;
    ttm_session *s = d->sessions;
    while (s != NULL) {
        ttm_session *next = s->next;
        switch (s->state) {
        case TTM_SESSION_HANDSHAKE:
            if (now - s->opened_ns > (uint64_t)TTM_DAEMON_HANDSHAKE_MS * 1000000u) {
                char msg[120];
                snprintf(msg, sizeof msg, "no hello within %d ms of connecting",
                         TTM_DAEMON_HANDSHAKE_MS);
                reject(d, s, TTM_ETIMEDOUT, msg);
            }
            break;
        case TTM_SESSION_ACTIVE:
            session_drain_and_sleep(d, s);
            if (s->broken)
                session_hangup(d, s);
            else if (check_alive && process_gone(s->pid)) {
                ttm__ep_del(d, s->fd);
                close_fd(&s->fd);
                session_end(d, s, true, "process gone, connection still open");
            }
            break;
        case TTM_SESSION_LINGER:
            if (process_gone(s->pid) || s->broken)
                session_end(d, s, true, "connection closed");
            else if (now - s->linger_ns > (uint64_t)TTM_DAEMON_LINGER_MS * 1000000u)
                session_end(d, s, true, "connection closed, process still running");
            else
                session_drain(d, s, false, SIZE_MAX);
            break;
        }
        s = next;
    }
}

void ttm__session_close_all(ttm_daemon *d)
{
    while (d->sessions != NULL) {
        ttm_session *s = d->sessions;
        if (s->state == TTM_SESSION_LINGER && process_gone(s->pid))
            session_end(d, s, true, "connection closed");
        else
            session_end(d, s, false, "daemon stopping");
    }
}

/* ---- for the legacy listener (poc.c) ------------------------------------------------------- */

ttm_dproc *ttm__proc_attach(ttm_daemon *d, uint32_t pid, uint32_t uid)
{
    return proc_attach(d, pid, uid, "");
}

bool ttm__process_gone(uint32_t pid)
{
    return process_gone(pid);
}

bool ttm__session_holds(const ttm_daemon *d, uint32_t pid)
{
    for (const ttm_session *s = d->sessions; s != NULL; s = s->next)
        if (s->pid == pid && s->state != TTM_SESSION_HANDSHAKE)
            return true;
    return false;
}
