/*
 * session.c — libttmem's session with the daemon (DESIGN §5): the ring in a memfd, the HELLO
 * that hands it over, the watcher thread that notices a lost daemon and hands the same ring to
 * the next one with exponential back-off, the fork and exit handlers, and diagnostics.
 *
 * Threads: the first enabled call creates the ring and the watcher, then waits (bounded) for
 * the watcher's first connection attempt so that an application starting next to a running
 * daemon is attached before its first event is counted as "no daemon". From then on only the
 * watcher does socket I/O. ttm__g.mu guards setup and every descriptor's creation and closing
 * (so fork never splits them); it is never held across I/O that waits on the daemon.
 */
#include <errno.h>
#include <fcntl.h>
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
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "client/client.h"
#include "common/paths.h"
#include "common/proto.h"
#include "common/ring.h"
#include "ttmem/ttmem.h"

#define FIRST_ATTEMPT_WAIT_MS (TTM__REPLY_TIMEOUT_MS + 500)
#define CALIBRATE_FIRST_MS 20
#define CALIBRATE_EVERY_MS 1000
#define WATCHER_STACK (256 * 1024)

/* Diagnostics. log_mu is taken after ttm__g.mu when both are needed. */
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static void (*log_fn)(int err, const char *msg, void *arg);
static void *log_arg;
static uint32_t log_seen; /* bit -err: the default sink already printed that kind */

/* Setup, guarded by ttm__g.mu. */
static pthread_cond_t first_cv = PTHREAD_COND_INITIALIZER;
static bool first_done;          /* the watcher's first attempt finished */
static bool handlers_registered; /* atfork and atexit, once per process image */
static int64_t next_calibration; /* watcher only */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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

/* Creates the ring's memfd (sealed against resizing so a daemon's mapping can never be cut
 * short under it), maps it, creates the doorbell, and stores all three in ttm__g (ring not yet
 * published). Called under ttm__g.mu. */
static int ring_create(void)
{
    uint32_t n = slots_from_env();
    size_t bytes = ttm__ring_bytes(n);
    const char *what;
    int err = TTM_EIO;

    int mfd = memfd_create("ttmem-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (mfd < 0) {
        what = "memfd_create";
        goto out_fail;
    }
    if (ftruncate(mfd, (off_t)bytes) != 0) {
        what = "ftruncate";
        goto out_close_memfd;
    }
    /* Best effort: a kernel without seals still works, the daemon copes with SIGBUS risk. */
    (void)fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
    void *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, mfd, 0);
    if (mem == MAP_FAILED) {
        what = "mmap";
        goto out_close_memfd;
    }
    int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (efd < 0) {
        what = "eventfd";
        goto out_unmap;
    }
    err = ttm__ring_init(mem, n, (uint32_t)getpid());
    if (err != TTM_OK) {
        what = "ring init";
        goto out_close_eventfd;
    }
    ttm__g.nslots = n;
    ttm__g.ring_bytes = bytes;
    atomic_store(&ttm__g.tail_cache, 0);
    atomic_store(&ttm__g.memfd, mfd);
    atomic_store(&ttm__g.eventfd, efd);
    atomic_store_explicit(&ttm__g.ring, (ttm_ring_hdr *)mem, memory_order_release);
    return TTM_OK;

out_close_eventfd:
    close(efd);
out_unmap:
    munmap(mem, bytes);
out_close_memfd:
    close(mfd);
out_fail:
    if (errno == ENOMEM)
        err = TTM_ENOMEM;
    ttm__client_log(err, "cannot create the event ring of %zu bytes (%s: %s); tracking is off "
                    "for this process", bytes, what, strerror(errno));
    return err;
}

void ttm__client_doorbell(void)
{
    int saved_errno = errno;
    int fd = atomic_load_explicit(&ttm__g.eventfd, memory_order_relaxed);
    ttm_ring_hdr *h = atomic_load_explicit(&ttm__g.ring, memory_order_relaxed);
    uint64_t one = 1;
    if (fd >= 0) {
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

/* ---- the session with a daemon ----------------------------------------------------------- */

static void close_sock(int *s)
{
    pthread_mutex_lock(&ttm__g.mu);
    if (*s >= 0)
        close(*s);
    *s = -1;
    atomic_store(&ttm__g.sock, -1);
    pthread_mutex_unlock(&ttm__g.mu);
}

/* One attempt: connect, HELLO with both descriptors, read the verdict. Returns 0 attached
 * (ttm__g.sock is the session's socket), else a ttm_err; the failure is logged when it differs
 * from the previous attempt's (*last_err), so a daemon that stays away costs one line. */
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

    pthread_mutex_lock(&ttm__g.mu);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    atomic_store(&ttm__g.sock, s);
    pthread_mutex_unlock(&ttm__g.mu);
    if (s < 0) {
        if (TTM_EIO != *last_err)
            ttm__client_log(TTM_EIO, "cannot create a socket for the daemon (%s); retrying",
                            strerror(errno));
        return *last_err = TTM_EIO;
    }

    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, path, strlen(path) + 1);
    int rc;
    do {
        rc = connect(s, (struct sockaddr *)&addr, sizeof addr);
    } while (rc != 0 && errno == EINTR);
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
    ttm_hello hello;
    ttm__proto_hello_init(&hello, ttm__g.nslots, dropped - reported, reattach ? 1u : 0u);
    err = ttm__proto_send_hello(s, &hello, atomic_load(&ttm__g.memfd),
                                atomic_load(&ttm__g.eventfd));
    ttm_hello_reply reply;
    if (err == TTM_OK)
        err = ttm__proto_recv_reply(s, &reply, TTM__REPLY_TIMEOUT_MS);
    if (err != TTM_OK) {
        if (TTM_ECONN != *last_err)
            ttm__client_log(TTM_ECONN, "the daemon at %s did not complete the handshake (%s); "
                                       "retrying in the background", path, ttm_strerror(err));
        err = TTM_ECONN;
        goto out_close_sock;
    }
    if (reply.status != 0) {
        err = reply.status;
        if (err != *last_err)
            ttm__client_log(err, "the daemon at %s refused this process: %s", path,
                            reply.message[0] != '\0' ? reply.message : ttm_strerror(err));
        goto out_close_sock;
    }
    atomic_store(&h->dropped_reported, dropped);
    atomic_store(&ttm__g.stall_tail, TTM__NO_STALL); /* a new daemon gets a fresh chance */
    atomic_store_explicit(&ttm__g.connected, 1, memory_order_release);
    *last_err = TTM_OK;
    return TTM_OK;

out_close_sock:
    close_sock(&s);
    return *last_err = err;
}

static void maybe_calibrate(void)
{
    int64_t now = now_ms();
    if (now >= next_calibration) {
        ttm__clock_calibrate();
        next_calibration = now + CALIBRATE_EVERY_MS;
    }
}

/* Sleeps ms milliseconds, keeping the clock calibrated meanwhile. */
static void nap_ms(int64_t ms)
{
    int64_t end = now_ms() + ms;
    for (;;) {
        maybe_calibrate();
        int64_t now = now_ms();
        if (now >= end)
            return;
        int64_t until = end < next_calibration ? end : next_calibration;
        int64_t d = until > now ? until - now : 1;
        struct timespec ts = {.tv_sec = d / 1000, .tv_nsec = (d % 1000) * 1000000};
        nanosleep(&ts, NULL);
    }
}

/* Waits, while attached, until the daemon's end of the socket closes. */
static void watch_until_lost(int s)
{
    for (;;) {
        maybe_calibrate();
        int64_t wait = next_calibration - now_ms();
        struct pollfd p = {.fd = s, .events = POLLIN | POLLRDHUP};
        int r = poll(&p, 1, wait > 0 ? (int)wait : 0);
        if (r < 0 && errno != EINTR)
            return;
        if (r <= 0)
            continue;
        if (p.revents & (POLLHUP | POLLERR | POLLRDHUP | POLLNVAL))
            return;
        char junk[256]; /* the daemon sends nothing after the reply; discard what it does */
        ssize_t n = recv(s, junk, sizeof junk, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            return;
    }
}

static void *watcher_main(void *unused)
{
    (void)unused;
    int64_t backoff = TTM__BACKOFF_MIN_MS;
    bool attached_before = false;
    int last_err = TTM_OK;
    next_calibration = now_ms() + CALIBRATE_FIRST_MS;
    for (bool first = true;; first = false) {
        int err = attempt(attached_before, &last_err);
        if (first) {
            pthread_mutex_lock(&ttm__g.mu);
            first_done = true;
            pthread_cond_broadcast(&first_cv);
            pthread_mutex_unlock(&ttm__g.mu);
        }
        if (err == TTM_OK) {
            if (attached_before)
                atomic_fetch_add(&ttm__g.reconnects, 1);
            attached_before = true;
            backoff = TTM__BACKOFF_MIN_MS;
            int s = atomic_load(&ttm__g.sock);
            watch_until_lost(s);
            atomic_store_explicit(&ttm__g.connected, 0, memory_order_release);
            close_sock(&s);
            ttm__client_log(TTM_ECLOSED, "lost the connection to the daemon; events wait in "
                                         "the ring and the daemon is retried in the background");
            last_err = TTM_ECLOSED;
            nap_ms(TTM__BACKOFF_MIN_MS);
            continue;
        }
        nap_ms(backoff);
        backoff = backoff * 2 > TTM__BACKOFF_MAX_MS ? TTM__BACKOFF_MAX_MS : backoff * 2;
    }
    return NULL;
}

/* ---- fork and exit ------------------------------------------------------------------------ */

static void atfork_prepare(void)
{
    pthread_mutex_lock(&ttm__g.mu);
    pthread_mutex_lock(&log_mu);
}

static void atfork_parent(void)
{
    pthread_mutex_unlock(&log_mu);
    pthread_mutex_unlock(&ttm__g.mu);
}

static void close_atomic_fd(_Atomic int *fd)
{
    int v = atomic_exchange(fd, -1);
    if (v >= 0)
        close(v);
}

/* The child has only the forking thread and no watcher. It must never write into the parent's
 * ring nor keep the parent's session socket open (the daemon would not see the parent exit):
 * drop all of it; the child's first call makes its own session. */
static void atfork_child(void)
{
    ttm_ring_hdr *h = atomic_exchange(&ttm__g.ring, NULL);
    if (h != NULL)
        munmap(h, ttm__g.ring_bytes);
    close_atomic_fd(&ttm__g.sock);
    close_atomic_fd(&ttm__g.memfd);
    close_atomic_fd(&ttm__g.eventfd);
    atomic_store(&ttm__g.session, TTM__SESS_NONE);
    atomic_store(&ttm__g.connected, 0);
    atomic_store(&ttm__g.reconnects, 0);
    atomic_store(&ttm__g.dropped_noring, 0);
    atomic_store(&ttm__g.tail_cache, 0);
    atomic_store(&ttm__g.stall_tail, TTM__NO_STALL);
    ttm__g.nslots = 0;
    ttm__g.ring_bytes = 0;
    first_done = false;
    first_cv = (pthread_cond_t)PTHREAD_COND_INITIALIZER;
    ttm__t_tid = 0;
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
    first_done = false;
    if (start_watcher() != TTM_OK)
        first_done = true;
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += FIRST_ATTEMPT_WAIT_MS / 1000;
    deadline.tv_nsec += (FIRST_ATTEMPT_WAIT_MS % 1000) * 1000000l;
    if (deadline.tv_nsec >= 1000000000l) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000l;
    }
    while (!first_done) {
        if (pthread_cond_clockwait(&first_cv, &ttm__g.mu, CLOCK_MONOTONIC, &deadline) ==
            ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&ttm__g.mu);
    errno = saved_errno;
    return TTM_OK;
}
