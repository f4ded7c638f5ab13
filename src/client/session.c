/*
 * session.c — libttmem's session with the daemon: the ring in a memfd, the HELLO that hands it
 * over (with the side log beside it, side_writer.h), the watcher thread that notices a lost
 * daemon and hands the same ring to the next one with exponential back-off, the descriptors'
 * identity (an application that closes or reuses them never has its own files touched), the
 * fork and exit handlers, and diagnostics.
 *
 * Threads: the first enabled call creates the ring and the watcher, then waits (bounded) for
 * the watcher's first connection attempt so that an application starting next to a running
 * daemon is attached before its first event. Producers that find the ring full while no
 * daemon holds it wait for the attempt in progress, or kick the watcher into one at once
 * (ttm__session_await_daemon). Only the watcher does socket I/O. ttm__g.mu guards setup, the
 * attempt counters and every descriptor's creation and closing (so fork never splits them); it
 * is never held across I/O that waits on the daemon.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "client/client.h"
#include "client/side_writer.h"
#include "client/stack.h"
#include "common/clock.h"
#include "common/paths.h"
#include "common/proto.h"
#include "common/ring.h"
#include "common/util.h"
#include "ttmem/ttmem.h"

#define CALIBRATE_FIRST_MS 20
#define CALIBRATE_EVERY_MS 1000
#define FD_CHECK_MS 100       /* the watcher re-checks the descriptors' identity this often */
#define SETTLE_MS 200         /* bound on producers finishing events in a retired ring */
#define GRACE_MS 20           /* then again, for a producer preempted right before reserving */
#define OLD_DRAIN_MS 500      /* bound on the daemon draining a retired ring (its linger is 1 s) */
#define WATCHER_STACK (256 * 1024)

/* Diagnostics. log_mu is taken after ttm__g.mu when both are needed. */
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static void (*log_fn)(int err, const char *msg, void *arg);
static void *log_arg;
static uint32_t log_seen; /* bit -err: the default sink already printed that kind */

/* Setup, guarded by ttm__g.mu. */
static bool handlers_registered; /* atfork and atexit, once per process image */
static bool watcher_running;
static int64_t next_calibration; /* watcher only */

/* Connection attempts, guarded by ttm__g.mu. attempts_started != attempts_finished while one is
 * in progress; state_cv is broadcast when one finishes; a producer sets kicked and signals
 * kick_cv to end the watcher's back-off at once. */
static pthread_cond_t state_cv = PTHREAD_COND_INITIALIZER;
static pthread_cond_t kick_cv = PTHREAD_COND_INITIALIZER;
static bool kicked;
static uint64_t attempts_started, attempts_finished;
static uint32_t daemon_pid; /* of the daemon holding the ring, 0 when unknown */

/* What the socket path was when the last attempt that failed began: another attempt can only
 * succeed once it changed (a daemon that starts binds a new socket), so a producer kicks the
 * watcher only then. valid is false after a success or a lost connection. */
typedef struct path_id {
    bool valid, absent;
    uint64_t dev, ino;
    int64_t ctime_ns; /* a socket re-created on a reused inode number still differs here */
} path_id;
static path_id fail_seen;
static char attempt_path[sizeof(((struct sockaddr_un *)0)->sun_path)];

/* Each descriptor's identity when libttmem made it. An application may close any descriptor
 * (closefrom(3) before an exec) and reuse its number for its own file: before a descriptor is
 * used for anything that matters (a HELLO, a doorbell write, a close), it is checked against
 * its identity, and one that is no longer ours is forgotten, never closed, written or sent.
 * Guarded by ttm__g.mu, except the doorbell's quick copy. An eventfd's inode is shared by all
 * eventfds; where the kernel shows an eventfd-id (fdinfo) it is part of the identity. */
typedef struct fd_id {
    bool set;
    uint64_t dev, ino;
    uint32_t type;     /* st_mode & S_IFMT */
    long long efd_id;  /* -1: none shown */
} fd_id;
static fd_id id_memfd, id_efd, id_sock;
/* The doorbell's quick check, read without the lock: id_efd's inode, and the owner (F_SETOWN)
 * libttmem gives its eventfd, since every eventfd has the same inode. */
static _Atomic uint64_t bell_dev, bell_ino;
static _Atomic int bell_owner;

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---- diagnostics ---------------------------------------------------------------------- */

void ttm_client_set_log(void (*fn)(int err, const char *msg, void *arg), void *arg)
{
    pthread_mutex_lock(&log_mu);
    log_fn = fn;
    log_arg = fn != NULL ? arg : NULL;
    pthread_mutex_unlock(&log_mu);
}

void ttm__client_log(int err, const char *fmt, ...)
{
    int saved_errno = errno;
    char msg[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    pthread_mutex_lock(&log_mu);
    void (*fn)(int, const char *, void *) = log_fn;
    void *arg = log_arg;
    bool print = false;
    if (fn == NULL) {
        uint32_t bit = (err < 0 && err > -32) ? 1u << -err : 1u;
        print = (log_seen & bit) == 0;
        log_seen |= bit;
    }
    pthread_mutex_unlock(&log_mu);

    if (fn != NULL)
        fn(err, msg, arg);
    else if (print)
        fprintf(stderr, "ttmem: %s\n", msg);
    errno = saved_errno;
}

/* ---- ring ------------------------------------------------------------------------------ */

static uint32_t slots_from_env(void)
{
    const char *v = getenv("TTMEM_RING_SLOTS");
    if (v == NULL || v[0] == '\0')
        return TTM_RING_DEFAULT_SLOTS;
    char *end = NULL;
    errno = 0;
    unsigned long long want = strtoull(v, &end, 0);
    if (errno != 0 || end == v || *end != '\0') {
        ttm__client_log(TTM_EINVAL, "TTMEM_RING_SLOTS=%s is not a number; using %u slots", v,
                        TTM_RING_DEFAULT_SLOTS);
        return TTM_RING_DEFAULT_SLOTS;
    }
    uint32_t n = TTM_RING_MIN_SLOTS;
    while (n < want && n < TTM_RING_MAX_SLOTS)
        n <<= 1; /* the next power of two, within range */
    return n;
}

/* ---- descriptor identity -------------------------------------------------------------- */

static long long eventfd_id(int fd)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    int f = open(path, O_RDONLY | O_CLOEXEC);
    if (f < 0)
        return -1;
    ssize_t n = read(f, buf, sizeof buf - 1);
    close(f);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    const char *p = strstr(buf, "eventfd-id:");
    return p != NULL ? strtoll(p + strlen("eventfd-id:"), NULL, 10) : -1;
}

static void fd_identify(int fd, bool is_eventfd, fd_id *out)
{
    struct stat st;
    memset(out, 0, sizeof *out);
    out->efd_id = -1;
    if (fd < 0 || fstat(fd, &st) != 0)
        return;
    out->set = true;
    out->dev = (uint64_t)st.st_dev;
    out->ino = (uint64_t)st.st_ino;
    out->type = (uint32_t)(st.st_mode & S_IFMT);
    if (is_eventfd)
        out->efd_id = eventfd_id(fd);
}

/* True when fd is still the descriptor that id describes. */
static bool fd_is(int fd, const fd_id *id, bool is_eventfd)
{
    struct stat st;
    if (fd < 0 || !id->set || fstat(fd, &st) != 0)
        return false;
    if ((uint64_t)st.st_dev != id->dev || (uint64_t)st.st_ino != id->ino ||
        (uint32_t)(st.st_mode & S_IFMT) != id->type)
        return false;
    if (is_eventfd && fcntl(fd, F_GETOWN) != atomic_load(&bell_owner))
        return false;
    if (!is_eventfd || id->efd_id < 0)
        return true;
    long long now = eventfd_id(fd); /* -1 when fdinfo cannot be read now (no fd left): the
                                       owner mark decided */
    return now < 0 || now == id->efd_id;
}

/* Installs a descriptor libttmem just made, with its identity. Under ttm__g.mu. */
static void own_memfd(int fd)
{
    fd_identify(fd, false, &id_memfd);
    atomic_store(&ttm__g.memfd, fd);
}

static void own_eventfd(int fd)
{
    int me = (int)getpid();
    (void)fcntl(fd, F_SETOWN, me); /* a mark: no O_ASYNC, so no signal is ever sent */
    atomic_store(&bell_owner, me);
    fd_identify(fd, true, &id_efd);
    atomic_store(&bell_dev, id_efd.dev);
    atomic_store(&bell_ino, id_efd.ino);
    atomic_store(&ttm__g.eventfd, fd);
}

/* Closes *fd when it is still ours, forgets it either way. Under ttm__g.mu. */
static void close_if_ours(_Atomic int *fd, fd_id *id, bool is_eventfd)
{
    int v = atomic_exchange(fd, -1);
    if (v >= 0 && fd_is(v, id, is_eventfd))
        close(v);
    memset(id, 0, sizeof *id);
}

/* ---- ring ------------------------------------------------------------------------------ */

/* Makes a ring of ttm__g.nslots slots in a memfd (sealed against resizing so a daemon's
 * mapping can never be cut short under it), mapped and initialised. Under ttm__g.mu. Returns
 * 0 with *out and *out_fd, or an error with *what naming the step that failed. */
static int ring_make(ttm_ring_hdr **out, int *out_fd, const char **what)
{
    size_t bytes = ttm__g.ring_bytes;
    int mfd = memfd_create("ttmem-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (mfd < 0) {
        *what = "memfd_create";
        goto out_fail;
    }
    if (ftruncate(mfd, (off_t)bytes) != 0) {
        *what = "ftruncate";
        goto out_close_memfd;
    }
    /* Best effort: a kernel without seals still works, the daemon copes with SIGBUS risk. */
    (void)fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
    void *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, mfd, 0);
    if (mem == MAP_FAILED) {
        *what = "mmap";
        goto out_close_memfd;
    }
    if (ttm__ring_init(mem, ttm__g.nslots, (uint32_t)getpid()) != TTM_OK) {
        *what = "ring init";
        errno = EINVAL;
        goto out_unmap;
    }
    *out = mem;
    *out_fd = mfd;
    return TTM_OK;

out_unmap:
    munmap(mem, bytes);
out_close_memfd:
    close(mfd);
out_fail:
    return errno == ENOMEM ? TTM_ENOMEM : TTM_EIO;
}

/* Makes the doorbell eventfd and installs it. Under ttm__g.mu. */
static int bell_make(void)
{
    int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (efd < 0)
        return errno == ENOMEM ? TTM_ENOMEM : TTM_EIO;
    own_eventfd(efd);
    return TTM_OK;
}

/* The first ring, with its doorbell, published. Under ttm__g.mu. */
static int ring_create(void)
{
    ttm__g.nslots = slots_from_env();
    ttm__g.ring_bytes = ttm__ring_bytes(ttm__g.nslots);
    const char *what = "eventfd";
    ttm_ring_hdr *h;
    int mfd;
    int err = ring_make(&h, &mfd, &what);
    if (err == TTM_OK) {
        err = bell_make();
        if (err != TTM_OK) {
            munmap(h, ttm__g.ring_bytes);
            close(mfd);
        }
    }
    if (err != TTM_OK) {
        ttm__client_log(err, "cannot create the event ring of %zu bytes (%s: %s); tracking is "
                        "off for this process", ttm__g.ring_bytes, what, strerror(errno));
        return err;
    }
    own_memfd(mfd);
    /* The side log (stacks, modules, scope names): without it events carry no call sites,
     * but they still flow. */
    int sfd;
    if (ttm__side_create(&sfd, NULL) != TTM_OK)
        ttm__client_log(TTM_EIO, "cannot create the side log (%s); events carry no call "
                        "stacks or scopes", strerror(errno));
    atomic_store_explicit(&ttm__g.ring, h, memory_order_release);
    return TTM_OK;
}

void ttm__client_doorbell(void)
{
    int saved_errno = errno;
    int fd = atomic_load_explicit(&ttm__g.eventfd, memory_order_relaxed);
    ttm_ring_hdr *h = atomic_load_explicit(&ttm__g.ring, memory_order_relaxed);
    struct stat st;
    uint64_t one = 1;
    /* Never write into a descriptor that the application closed and reused: the watcher
     * notices the loss and makes a new doorbell; the daemon's timer drains meanwhile. */
    if (fd >= 0 && fstat(fd, &st) == 0 && (uint64_t)st.st_ino == atomic_load(&bell_ino) &&
        (uint64_t)st.st_dev == atomic_load(&bell_dev) &&
        fcntl(fd, F_GETOWN) == atomic_load(&bell_owner)) {
        ssize_t r;
        do {
            r = write(fd, &one, sizeof one);
        } while (r < 0 && errno == EINTR);
        /* EAGAIN: the counter is saturated, the consumer is awake anyway. */
    }
    if (h != NULL)
        atomic_fetch_add_explicit(&h->doorbells, 1, memory_order_relaxed);
    errno = saved_errno;
}

/* ---- a ring whose memfd was lost ------------------------------------------------------------ */

/* Copies the events committed in old from *from on (in order, up to the first one not yet
 * committed) into ring h as a producer would. Returns how many were copied. */
static uint64_t copy_committed(ttm_ring_hdr *old, uint64_t *from, ttm_ring_hdr *h)
{
    uint32_t n = ttm__g.nslots;
    ttm_event *src = ttm__ring_slots(old), *dst = ttm__ring_slots(h);
    uint64_t head = atomic_load_explicit(&old->head, memory_order_acquire);
    uint64_t copied = 0;
    for (; *from < head; (*from)++) {
        ttm_event *e = &src[*from & (n - 1)];
        if (__atomic_load_n(&e->seq, __ATOMIC_ACQUIRE) != (uint32_t)(*from + 1))
            break;
        uint64_t pos;
        bool bell;
        if (!ttm__ring_reserve(h, n, &h->tail_cache, &pos, &bell)) {
            atomic_fetch_add_explicit(&h->dropped, 1, memory_order_relaxed);
            continue;
        }
        ttm_event *d = &dst[pos & (n - 1)];
        memcpy(d, e, sizeof *d);
        d->seq = 0;
        if (ttm__ring_commit(h, d, pos, bell))
            ttm__client_doorbell();
        copied++;
    }
    return copied;
}

/* True when every position of old in [from, head) is committed and head stood still. */
static bool settled(ttm_ring_hdr *old, uint64_t from)
{
    uint32_t n = ttm__g.nslots;
    uint64_t head = atomic_load_explicit(&old->head, memory_order_acquire);
    for (uint64_t p = from; p < head; p++)
        if (__atomic_load_n(&ttm__ring_slots(old)[p & (n - 1)].seq, __ATOMIC_ACQUIRE) !=
            (uint32_t)(p + 1))
            return false;
    return atomic_load_explicit(&old->head, memory_order_acquire) == head;
}

/* The application closed the ring's memfd: the ring can never be handed to a daemon again.
 * A new ring (new memfd) replaces it without losing what was committed in the old one:
 * - the new ring is published, so producers move to it at their next event; one that loaded
 *   the old pointer just before finishes its event there (waited for, SETTLE_MS);
 * - held_by_daemon (a daemon was attached when the loss was seen, and it still runs): that
 *   daemon drains the old ring itself, through its own mapping, as it does for any closed
 *   session; the new ring's HELLO waits (OLD_DRAIN_MS) until it has, so that the daemon sees
 *   the old ring's events before the new ring's;
 * - otherwise nobody will ever read the old ring: its committed events are copied into the
 *   new ring first, in order, before the new ring is published (the few that producers finish
 *   in the old ring after that are appended).
 * The old mapping is then replaced by anonymous memory, never unmapped: a producer preempted
 *   for longer than the settling bound writes harmlessly there instead of faulting.
 * The ring's counters carry over. Returns 0 or an error (the old ring stays, unattachable). */
static int ring_rebuild(bool held_by_daemon)
{
    pthread_mutex_lock(&ttm__g.mu);
    ttm_ring_hdr *old = atomic_load(&ttm__g.ring);
    const char *what = "";
    ttm_ring_hdr *h;
    int mfd;
    int err = old != NULL ? ring_make(&h, &mfd, &what) : TTM_EIO;
    if (err != TTM_OK) {
        pthread_mutex_unlock(&ttm__g.mu);
        ttm__client_log(err, "cannot make a new event ring after the application closed the "
                        "old one's memfd (%s: %s); events are dropped and counted once it "
                        "fills", what, strerror(errno));
        return err;
    }
    atomic_store(&h->waited, atomic_load(&old->waited));
    atomic_store(&h->dropped, atomic_load(&old->dropped));
    atomic_store(&h->dropped_reported, atomic_load(&old->dropped_reported));
    uint64_t from = atomic_load_explicit(&old->tail, memory_order_acquire);
    uint64_t copied = held_by_daemon ? 0 : copy_committed(old, &from, h);
    own_memfd(mfd);
    atomic_store_explicit(&ttm__g.ring, h, memory_order_release);
    pthread_mutex_unlock(&ttm__g.mu);

    int64_t end = ttm__mono_ms() + SETTLE_MS;
    while (!settled(old, from) && ttm__mono_ms() < end)
        sleep_ms(1);
    /* A producer between its load of the ring pointer and its reservation is nanoseconds from
     * it unless preempted: give such a one a grace, then settle again. */
    sleep_ms(GRACE_MS);
    end = ttm__mono_ms() + SETTLE_MS;
    while (!settled(old, from) && ttm__mono_ms() < end)
        sleep_ms(1);
    if (held_by_daemon) {
        end = ttm__mono_ms() + OLD_DRAIN_MS;
        while (atomic_load_explicit(&old->tail, memory_order_acquire) <
                   atomic_load_explicit(&old->head, memory_order_acquire) &&
               ttm__mono_ms() < end)
            sleep_ms(1);
        /* A daemon that died meanwhile will not drain it: nobody else will. */
        if (daemon_pid != 0 && kill((pid_t)daemon_pid, 0) != 0 && errno == ESRCH) {
            from = atomic_load_explicit(&old->tail, memory_order_acquire);
            held_by_daemon = false;
        }
    }
    if (!held_by_daemon)
        copied += copy_committed(old, &from, h);
    atomic_fetch_add(&ttm__g.events_base, atomic_load(&old->head) - copied);
    (void)mmap(old, ttm__g.ring_bytes, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    return TTM_OK;
}

/* Lost descriptors (bits). */
enum { LOST_SOCK = 1, LOST_MEMFD = 2, LOST_EVENTFD = 4 };

/* Checks that the session's descriptors are still ours; forgets those that are not (never
 * closing them: the numbers may be the application's files now). Returns the LOST_ bits. */
static int fds_check(void)
{
    pthread_mutex_lock(&ttm__g.mu);
    int s = atomic_load(&ttm__g.sock), m = atomic_load(&ttm__g.memfd);
    int e = atomic_load(&ttm__g.eventfd);
    int lost = 0;
    if (s >= 0 && !fd_is(s, &id_sock, false))
        lost |= LOST_SOCK;
    if (!fd_is(m, &id_memfd, false))
        lost |= LOST_MEMFD;
    if (!fd_is(e, &id_efd, true))
        lost |= LOST_EVENTFD;
    if (lost & LOST_SOCK) {
        atomic_store(&ttm__g.sock, -1);
        memset(&id_sock, 0, sizeof id_sock);
    }
    if ((lost & LOST_MEMFD) && m >= 0) {
        atomic_store(&ttm__g.memfd, -1);
        memset(&id_memfd, 0, sizeof id_memfd);
    }
    if ((lost & LOST_EVENTFD) && e >= 0) {
        atomic_store(&ttm__g.eventfd, -1);
        memset(&id_efd, 0, sizeof id_efd);
        atomic_store(&bell_ino, 0);
    }
    pthread_mutex_unlock(&ttm__g.mu);
    /* Only report what was lost since the last repair (a failed repair leaves -1 behind). */
    if ((lost & LOST_SOCK) || ((lost & LOST_MEMFD) && m >= 0) ||
        ((lost & LOST_EVENTFD) && e >= 0)) {
        atomic_fetch_add(&ttm__g.rebuilds, 1);
        ttm__client_log(TTM_EIO, "descriptors of libttmem were closed or replaced by the "
                        "application (%s%s%s); they are left alone and the session is rebuilt "
                        "with new ones",
                        (lost & LOST_SOCK) ? " socket" : "",
                        (lost & LOST_MEMFD) && m >= 0 ? " ring" : "",
                        (lost & LOST_EVENTFD) && e >= 0 ? " doorbell" : "");
    }
    return lost;
}

/* Makes new descriptors for those lost (fds_check). Returns true when the ring was replaced. */
static bool fds_repair(int lost, bool held_by_daemon)
{
    bool replaced = false;
    if (lost & LOST_MEMFD)
        replaced = ring_rebuild(held_by_daemon) == TTM_OK;
    if (lost & LOST_EVENTFD) {
        pthread_mutex_lock(&ttm__g.mu);
        int err = bell_make();
        pthread_mutex_unlock(&ttm__g.mu);
        if (err != TTM_OK)
            ttm__client_log(err, "cannot make a new doorbell (eventfd: %s); retrying",
                            strerror(errno));
    }
    return replaced;
}

/* ---- the session with a daemon ----------------------------------------------------------- */

static void close_sock(void)
{
    pthread_mutex_lock(&ttm__g.mu);
    close_if_ours(&ttm__g.sock, &id_sock, false);
    pthread_mutex_unlock(&ttm__g.mu);
}

static path_id path_identify(const char *path)
{
    struct stat st;
    path_id id = {.valid = true};
    if (stat(path, &st) != 0)
        id.absent = true;
    else {
        id.dev = (uint64_t)st.st_dev;
        id.ino = (uint64_t)st.st_ino;
        id.ctime_ns = (int64_t)st.st_ctim.tv_sec * 1000000000ll + st.st_ctim.tv_nsec;
    }
    return id;
}

static void maybe_calibrate(void)
{
    int64_t now = ttm__mono_ms();
    if (now >= next_calibration) {
        ttm__clock_calibrate();
        next_calibration = now + CALIBRATE_EVERY_MS;
    }
}

/* CPU time (clock ticks) the process pid has used, or ULLONG_MAX when it cannot be read. */
static unsigned long long cpu_ticks(uint32_t pid)
{
    if (pid == 0)
        return ULLONG_MAX;
    char buf[512];
    const char *utime = ttm__proc_stat_field(pid, 14, buf, sizeof buf);
    unsigned long long ut, st;
    if (utime == NULL || sscanf(utime, "%llu %llu", &ut, &st) != 2)
        return ULLONG_MAX;
    return ut + st;
}

#define NOT_OURS 1 /* recv_reply_patiently(): the socket is no longer ours */

/* Waits for the daemon's reply to the HELLO for as long as the daemon makes progress (its CPU
 * time moves: it is busy, with other clients or a backlog, not dead), at most
 * TTM__REPLY_CAP_MS; a daemon that made none for TTM__REPLY_IDLE_MS is given up on. Returns
 * 0, a ttm_err, or NOT_OURS. */
static int recv_reply_patiently(int s, ttm_hello_reply *reply, uint32_t *peer_pid)
{
    struct ucred cr;
    socklen_t len = sizeof cr;
    *peer_pid = getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0 ? (uint32_t)cr.pid : 0;
    int64_t start = ttm__mono_ms(), progress = start;
    unsigned long long cpu = cpu_ticks(*peer_pid);
    for (;;) {
        struct pollfd p = {.fd = s, .events = POLLIN};
        int r = poll(&p, 1, 100);
        pthread_mutex_lock(&ttm__g.mu);
        bool ours = fd_is(s, &id_sock, false); /* never read the application's file */
        pthread_mutex_unlock(&ttm__g.mu);
        if (!ours)
            return NOT_OURS;
        if (r > 0)
            return ttm__proto_recv_reply(s, reply, TTM__REPLY_IDLE_MS);
        if (r < 0 && errno != EINTR)
            return TTM_ECONN;
        maybe_calibrate();
        int64_t now = ttm__mono_ms();
        unsigned long long c = cpu_ticks(*peer_pid);
        if (c != ULLONG_MAX && c != cpu) {
            cpu = c;
            progress = now;
        }
        if (now - progress >= TTM__REPLY_IDLE_MS || now - start >= TTM__REPLY_CAP_MS)
            return TTM_ETIMEDOUT;
    }
}

/* One attempt: connect, HELLO with the ring's descriptors and the side log's, read the
 * verdict. Returns 0 attached (ttm__g.sock is the session's socket), else a ttm_err; the
 * failure is logged when it differs from the previous attempt's (*last_err), so a daemon that
 * stays away costs one line. */
static int attempt(bool reattach, int *last_err)
{
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)], why[300];
    /* which daemon, in a directory that may be trusted (paths.h; docs/RELIABILITY.md, 16) */
    int err = ttm__socket_resolve(NULL, path, sizeof path, NULL, why, sizeof why);
    if (err != TTM_OK) {
        err = err == TTM_EPERM ? TTM_EPERM : TTM_ECONN;
        if (err != *last_err)
            ttm__client_log(err, "not connecting to a daemon: %s; events wait in the ring, are "
                                 "dropped and counted once it fills", why);
        return *last_err = err;
    }
    path_id seen = path_identify(path);

    pthread_mutex_lock(&ttm__g.mu);
    memcpy(attempt_path, path, sizeof path);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    fd_identify(s, false, &id_sock);
    atomic_store(&ttm__g.sock, s);
    pthread_mutex_unlock(&ttm__g.mu);
    if (s < 0) {
        if (TTM_EIO != *last_err)
            ttm__client_log(TTM_EIO, "cannot create a socket for the daemon (%s); retrying",
                            strerror(errno));
        err = TTM_EIO;
        goto out_failed;
    }

    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, path, strlen(path) + 1);
    int rc;
    int64_t busy_until = ttm__mono_ms() + TTM__REPLY_IDLE_MS;
    for (;;) {
        rc = connect(s, (struct sockaddr *)&addr, sizeof addr);
        if (rc == 0)
            break;
        if (errno == EINTR)
            continue;
        /* EAGAIN: the daemon's listen backlog is full; it is busy, not absent. */
        if (errno != EAGAIN || ttm__mono_ms() >= busy_until)
            break;
        sleep_ms(2);
    }
    if (rc != 0) {
        if (TTM_ECONN != *last_err)
            ttm__client_log(TTM_ECONN,
                            "no daemon at %s (%s); events wait in the ring, are dropped and "
                            "counted once it fills, and the daemon is retried in the background",
                            path, strerror(errno));
        err = TTM_ECONN;
        goto out_close_sock;
    }
    /* the daemon must be the user's own or root's before it sees a byte or the ring */
    err = ttm__peer_check(s, path, why, sizeof why);
    if (err != TTM_OK) {
        if (err != *last_err)
            ttm__client_log(err, "%s; events wait in the ring, are dropped and counted once it "
                                 "fills", why);
        goto out_close_sock;
    }

    ttm_ring_hdr *h = atomic_load(&ttm__g.ring);
    uint64_t dropped = atomic_load(&h->dropped);
    uint64_t reported = atomic_load(&h->dropped_reported);
    /* The side log, in a new memfd holding the same records if the application closed (or
     * reused) its descriptor. */
    int sfd = -1;
    if (!ttm__side_fd_ours())
        (void)ttm__side_rebuild();
    if (ttm__side_fd_ours())
        (void)ttm__side_create(&sfd, NULL);
    ttm_hello hello;
    ttm__proto_hello_init(&hello, ttm__g.nslots, dropped - reported,
                          (reattach ? TTM_HELLO_REATTACH : 0u) | (sfd >= 0 ? TTM_HELLO_SIDE : 0u));
    pthread_mutex_lock(&ttm__g.mu);
    int mfd = atomic_load(&ttm__g.memfd), efd = atomic_load(&ttm__g.eventfd);
    /* The last check before the descriptors leave: never send the application's files. */
    bool ours = fd_is(mfd, &id_memfd, false) && fd_is(efd, &id_efd, true) &&
                fd_is(s, &id_sock, false) && (sfd < 0 || ttm__side_fd_ours());
    pthread_mutex_unlock(&ttm__g.mu);
    if (!ours)
        goto out_lost_fds;
    err = ttm__proto_send_hello(s, &hello, mfd, efd, sfd);
    ttm_hello_reply reply;
    uint32_t peer = 0;
    if (err == TTM_OK) {
        err = recv_reply_patiently(s, &reply, &peer);
        if (err == NOT_OURS)
            goto out_lost_fds;
    }
    else if (ttm__proto_recv_reply(s, &reply, 0) == TTM_OK)
        err = TTM_OK; /* refused before the HELLO was read (a limit): its reply says why */
    if (err != TTM_OK) {
        if (TTM_ECONN != *last_err) {
            if (err == TTM_ETIMEDOUT)
                ttm__client_log(TTM_ECONN, "the daemon at %s did not answer the handshake and "
                                "made no progress for %d s; events wait in the ring, are "
                                "dropped and counted once it fills, and the daemon is retried "
                                "in the background", path, TTM__REPLY_IDLE_MS / 1000);
            else
                ttm__client_log(TTM_ECONN, "the daemon at %s did not complete the handshake "
                                "(%s); retrying in the background", path, ttm_strerror(err));
        }
        err = TTM_ECONN;
        goto out_close_sock;
    }
    if (reply.status != 0) {
        err = reply.status;
        if (err != *last_err)
            ttm__client_log(err, "the daemon at %s refused this process: %s; events wait in "
                            "the ring, are dropped and counted once it fills, and the daemon "
                            "is retried in the background", path,
                            reply.message[0] != '\0' ? reply.message : ttm_strerror(err));
        goto out_close_sock;
    }
    atomic_store(&h->dropped_reported, dropped);
    atomic_store(&ttm__g.stall_tail, TTM__NO_STALL); /* a new daemon gets a fresh chance */
    pthread_mutex_lock(&ttm__g.mu);
    daemon_pid = peer;
    fail_seen.valid = false;
    atomic_store_explicit(&ttm__g.connected, 1, memory_order_release);
    pthread_mutex_unlock(&ttm__g.mu);
    *last_err = TTM_OK;
    return TTM_OK;

out_close_sock:
    close_sock();
out_failed:
    pthread_mutex_lock(&ttm__g.mu);
    fail_seen = seen;
    pthread_mutex_unlock(&ttm__g.mu);
    return *last_err = err;

out_lost_fds:
    /* The application took a descriptor away mid-attempt: not the daemon's failure. Retry at
     * once (the watcher's check at the top of its loop makes new descriptors first). */
    close_sock();
    pthread_mutex_lock(&ttm__g.mu);
    fail_seen.valid = false;
    kicked = true;
    pthread_mutex_unlock(&ttm__g.mu);
    return TTM_EIO;
}

/* Sleeps ms milliseconds, or less when a producer kicks, keeping the clock calibrated. */
static void nap_or_kick(int64_t ms)
{
    int64_t end = ttm__mono_ms() + ms;
    for (;;) {
        maybe_calibrate();
        int64_t now = ttm__mono_ms();
        pthread_mutex_lock(&ttm__g.mu);
        if (kicked || now >= end) {
            kicked = false;
            pthread_mutex_unlock(&ttm__g.mu);
            return;
        }
        int64_t until = end < next_calibration ? end : next_calibration;
        struct timespec d = ttm__mono_deadline_ms(until > now ? until - now : 1);
        pthread_cond_clockwait(&kick_cv, &ttm__g.mu, CLOCK_MONOTONIC, &d);
        pthread_mutex_unlock(&ttm__g.mu);
    }
}

/* Waits, while attached, until the daemon's end of the socket closes (0) or a descriptor of
 * the session is found lost (its LOST_ bits), checking them every FD_CHECK_MS. */
static int watch_until_lost(int s)
{
    int64_t next_check = ttm__mono_ms() + FD_CHECK_MS;
    for (;;) {
        maybe_calibrate();
        int64_t now = ttm__mono_ms();
        int64_t until = next_calibration < next_check ? next_calibration : next_check;
        struct pollfd p = {.fd = s, .events = POLLIN | POLLRDHUP};
        int r = poll(&p, 1, until > now ? (int)(until - now) : 0);
        if (r < 0 && errno != EINTR)
            return 0;
        if (r > 0 || ttm__mono_ms() >= next_check) {
            /* Whatever the socket says, it speaks for the daemon only while it is ours. */
            int lost = fds_check();
            if (lost != 0)
                return lost;
            next_check = ttm__mono_ms() + FD_CHECK_MS;
        }
        if (r <= 0)
            continue;
        if (p.revents & (POLLHUP | POLLERR | POLLRDHUP | POLLNVAL))
            return 0;
        char junk[256]; /* the daemon sends nothing after the reply; discard what it does */
        ssize_t n = recv(s, junk, sizeof junk, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            return 0;
    }
}

static void *watcher_main(void *unused)
{
    (void)unused;
    int64_t backoff = TTM__BACKOFF_MIN_MS;
    bool attached_before = false, same_ring = false;
    int last_err = TTM_OK;
    next_calibration = ttm__mono_ms() + CALIBRATE_FIRST_MS;
    for (;;) {
        int lost = fds_check();
        if (lost != 0 && fds_repair(lost, false))
            same_ring = false;
        pthread_mutex_lock(&ttm__g.mu);
        attempts_started++;
        kicked = false;
        pthread_mutex_unlock(&ttm__g.mu);
        int err = attempt(attached_before && same_ring, &last_err);
        pthread_mutex_lock(&ttm__g.mu);
        attempts_finished = attempts_started;
        pthread_cond_broadcast(&state_cv);
        pthread_mutex_unlock(&ttm__g.mu);
        if (err != TTM_OK) {
            nap_or_kick(backoff);
            backoff = backoff * 2 > TTM__BACKOFF_MAX_MS ? TTM__BACKOFF_MAX_MS : backoff * 2;
            continue;
        }
        if (attached_before)
            atomic_fetch_add(&ttm__g.reconnects, 1);
        attached_before = same_ring = true;
        backoff = TTM__BACKOFF_MIN_MS;
        lost = watch_until_lost(atomic_load(&ttm__g.sock));
        atomic_store_explicit(&ttm__g.connected, 0, memory_order_release);
        pthread_mutex_lock(&ttm__g.mu);
        fail_seen.valid = false; /* a daemon that comes back is worth a try at once */
        pthread_mutex_unlock(&ttm__g.mu);
        if (lost != 0) {
            /* The daemon still holds the ring (our socket, or its linger on the closed one):
             * repair, then hand the new descriptors over at once, within its linger. */
            if (fds_repair(lost, true))
                same_ring = false;
            close_sock();
            continue;
        }
        close_sock();
        ttm__client_log(TTM_ECLOSED, "lost the connection to the daemon; events wait in "
                                     "the ring and the daemon is retried in the background");
        last_err = TTM_ECLOSED;
        nap_or_kick(TTM__BACKOFF_MIN_MS);
    }
    return NULL;
}

/* ---- waiting for a daemon ------------------------------------------------------------------ */

/* True when an attempt now could have another outcome than the last failed one. Under mu. */
static bool worth_trying(void)
{
    if (!fail_seen.valid || attempt_path[0] == '\0')
        return true;
    path_id now = path_identify(attempt_path);
    if (now.absent || fail_seen.absent)
        return now.absent != fail_seen.absent;
    return now.dev != fail_seen.dev || now.ino != fail_seen.ino ||
           now.ctime_ns != fail_seen.ctime_ns;
}

bool ttm__session_await_daemon(void)
{
    int saved_errno = errno;
    bool ok = false;
    int kicks = 0;
    struct timespec deadline = ttm__mono_deadline_ms(TTM__REPLY_CAP_MS + TTM__REPLY_IDLE_MS);
    pthread_mutex_lock(&ttm__g.mu);
    for (;;) {
        if (atomic_load_explicit(&ttm__g.connected, memory_order_acquire)) {
            ok = true;
            break;
        }
        if (!watcher_running)
            break;
        if (attempts_started == attempts_finished) {
            /* None in progress: kick one when it could succeed now, else the ring is dropping
             * for want of a daemon that accepts it. */
            if (kicks >= 2 || !worth_trying())
                break;
            kicks++;
            kicked = true;
            pthread_cond_signal(&kick_cv);
            uint64_t target = attempts_started + 1;
            while (!atomic_load(&ttm__g.connected) && attempts_finished < target)
                if (pthread_cond_clockwait(&state_cv, &ttm__g.mu, CLOCK_MONOTONIC, &deadline) ==
                    ETIMEDOUT)
                    goto out_unlock;
            continue;
        }
        if (pthread_cond_clockwait(&state_cv, &ttm__g.mu, CLOCK_MONOTONIC, &deadline) ==
            ETIMEDOUT)
            break;
    }
out_unlock:
    pthread_mutex_unlock(&ttm__g.mu);
    errno = saved_errno;
    return ok;
}

/* ---- fork and exit ------------------------------------------------------------------------ */

static void atfork_prepare(void)
{
    pthread_mutex_lock(&ttm__g.mu);
    pthread_mutex_lock(&log_mu);
    ttm__stack_atfork_prepare(); /* the stack table, then the side log (their lock order) */
    ttm__side_atfork_prepare();
}

static void atfork_parent(void)
{
    ttm__side_atfork_parent();
    ttm__stack_atfork_parent();
    pthread_mutex_unlock(&log_mu);
    pthread_mutex_unlock(&ttm__g.mu);
}

/* The child has only the forking thread and no watcher. It must never write into the parent's
 * ring nor keep the parent's session socket open (the daemon would not see the parent exit):
 * drop all of it (closing only what is still ours); the child's first call makes its own
 * session. */
static void atfork_child(void)
{
    ttm_ring_hdr *h = atomic_exchange(&ttm__g.ring, NULL);
    if (h != NULL)
        munmap(h, ttm__g.ring_bytes);
    close_if_ours(&ttm__g.sock, &id_sock, false);
    close_if_ours(&ttm__g.memfd, &id_memfd, false);
    close_if_ours(&ttm__g.eventfd, &id_efd, true);
    atomic_store(&bell_dev, 0);
    atomic_store(&bell_ino, 0);
    atomic_store(&ttm__g.session, TTM__SESS_NONE);
    atomic_store(&ttm__g.connected, 0);
    atomic_store(&ttm__g.reconnects, 0);
    atomic_store(&ttm__g.dropped_noring, 0);
    atomic_store(&ttm__g.events_base, 0);
    atomic_store(&ttm__g.rebuilds, 0);
    atomic_store(&ttm__g.stall_tail, TTM__NO_STALL);
    ttm__g.nslots = 0;
    ttm__g.ring_bytes = 0;
    watcher_running = false;
    kicked = false;
    attempts_started = attempts_finished = 0;
    daemon_pid = 0;
    memset(&fail_seen, 0, sizeof fail_seen);
    attempt_path[0] = '\0';
    state_cv = (pthread_cond_t)PTHREAD_COND_INITIALIZER;
    kick_cv = (pthread_cond_t)PTHREAD_COND_INITIALIZER;
    ttm__t_tid = 0;
    ttm__side_atfork_child(); /* the child's own side log, a copy, at its first need */
    ttm__stack_atfork_child();
    pthread_mutex_unlock(&log_mu);
    pthread_mutex_unlock(&ttm__g.mu);
}

/* At exit, give an attached daemon a bounded chance to drain everything committed before the
 * socket closes and the daemon concludes the process is gone. */
static void at_exit(void)
{
    if (atomic_load(&ttm__g.connected) && atomic_load(&ttm__g.ring) != NULL)
        (void)ttm_client_flush(TTM__EXIT_FLUSH_MS);
}

/* ---- start ------------------------------------------------------------------------------ */

static int start_watcher(void)
{
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0)
        return TTM_ENOMEM;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, WATCHER_STACK);
    /* The watcher must never run the application's signal handlers. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t t;
    int rc = pthread_create(&t, &attr, watcher_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        ttm__client_log(TTM_EIO, "cannot start the client's watcher thread (%s); events are "
                                 "kept until the ring fills, then dropped", strerror(rc));
        return TTM_EIO;
    }
    pthread_setname_np(t, "ttmem-watch");
    return TTM_OK;
}

int ttm__session_start(void)
{
    int saved_errno = errno;
    pthread_mutex_lock(&ttm__g.mu);
    int st = atomic_load(&ttm__g.session);
    if (st != TTM__SESS_NONE) {
        pthread_mutex_unlock(&ttm__g.mu);
        errno = saved_errno;
        return st == TTM__SESS_READY ? TTM_OK : TTM_EIO;
    }
    if (!handlers_registered) {
        handlers_registered = true;
        pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
        atexit(at_exit);
    }
    int err = ring_create();
    if (err != TTM_OK) {
        atomic_store(&ttm__g.session, TTM__SESS_FAILED);
        pthread_mutex_unlock(&ttm__g.mu);
        errno = saved_errno;
        return err;
    }
    ttm__clock_init();
    atomic_store(&ttm__g.session, TTM__SESS_READY);
    watcher_running = start_watcher() == TTM_OK;
    struct timespec deadline = ttm__mono_deadline_ms(TTM__FIRST_WAIT_MS);
    while (watcher_running && attempts_finished == 0)
        if (pthread_cond_clockwait(&state_cv, &ttm__g.mu, CLOCK_MONOTONIC, &deadline) ==
            ETIMEDOUT)
            break;
    pthread_mutex_unlock(&ttm__g.mu);
    errno = saved_errno;
    return TTM_OK;
}
