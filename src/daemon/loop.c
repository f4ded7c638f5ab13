/*
 * loop.c — ttmemd's event loop: one epoll set holding the two listeners, a signalfd, a
 * periodic timer, every client socket and ring doorbell, and every query connection. Its waits
 * have nanosecond timeouts (epoll_pwait2) so that a ring can be looked at again a few tens of
 * microseconds after it was drained.
 *
 * Signals are read from the signalfd (no work in signal handlers): SIGINT and SIGTERM stop the
 * loop at the end of the turn that reads them, SIGHUP reopens the log file. The timer
 * (TTM_DAEMON_TICK_MS) is the safety net that drains rings whose doorbell was missed and
 * settles timeouts. Epoll events only mark work (a doorbell marks its ring due); the draining
 * of a turn happens after the batch (ttm__session_poll): exits first, then one budget per due
 * ring, so no client, however fast or hostile, holds a turn longer than its budget, and
 * handshakes, queries and signals are served between turns.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "daemon/daemon.h"
#include "daemon/log.h"
#include "daemon/metrics_http.h"

uint64_t ttm__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int ttm__ep_add(ttm_daemon *d, int fd, uint32_t events, ttm_ep *ep)
{
    struct epoll_event e = {.events = events, .data.ptr = ep};
    return epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &e) == 0 ? TTM_OK : TTM_EIO;
}

int ttm__ep_mod(ttm_daemon *d, int fd, uint32_t events, ttm_ep *ep)
{
    struct epoll_event e = {.events = events, .data.ptr = ep};
    return epoll_ctl(d->epfd, EPOLL_CTL_MOD, fd, &e) == 0 ? TTM_OK : TTM_EIO;
}

void ttm__ep_del(ttm_daemon *d, int fd)
{
    if (fd >= 0 && d->epfd >= 0)
        epoll_ctl(d->epfd, EPOLL_CTL_DEL, fd, NULL);
}

static int setup(ttm_daemon *d)
{
    d->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (d->epfd < 0)
        return TTM_EIO;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
        return TTM_EIO;
    d->sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    d->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (d->sig_fd < 0 || d->timer_fd < 0)
        return TTM_EIO;
    struct itimerspec it = {
        .it_interval = {0, TTM_DAEMON_TICK_MS * 1000000L},
        .it_value = {0, TTM_DAEMON_TICK_MS * 1000000L},
    };
    if (timerfd_settime(d->timer_fd, 0, &it, NULL) != 0)
        return TTM_EIO;
    d->listen_ep = (ttm_ep){TTM_EP_LISTEN, d};
    d->query_ep = (ttm_ep){TTM_EP_QUERY_LISTEN, d};
    d->sig_ep = (ttm_ep){TTM_EP_SIGNAL, d};
    d->timer_ep = (ttm_ep){TTM_EP_TIMER, d};
    if (ttm__ep_add(d, d->listen_fd, EPOLLIN, &d->listen_ep) != TTM_OK ||
        ttm__ep_add(d, d->query_fd, EPOLLIN, &d->query_ep) != TTM_OK ||
        ttm__ep_add(d, d->sig_fd, EPOLLIN, &d->sig_ep) != TTM_OK ||
        ttm__ep_add(d, d->timer_fd, EPOLLIN, &d->timer_ep) != TTM_OK)
        return TTM_EIO;
    if (ttm__metrics_http_register(d) != TTM_OK)
        return TTM_EIO;
    if (ttm__poc_watch(d) != TTM_OK)
        return TTM_EIO;
    return TTM_OK;
}

static void on_signal(ttm_daemon *d)
{
    struct signalfd_siginfo si;
    while (read(d->sig_fd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGHUP) {
            if (d->cfg.log_file[0] != '\0' && ttm__log_open(d->cfg.log_file) != TTM_OK)
                TTM_LOG(ERROR, "cannot reopen log file %s: %s", d->cfg.log_file,
                        strerror(errno));
            TTM_LOG(INFO, "SIGHUP: log reopened");
            continue;
        }
        TTM_LOG(INFO, "%s from pid %u: stopping", strsignal((int)si.ssi_signo), si.ssi_pid);
        d->stop = true;
    }
}

static void on_timer(ttm_daemon *d)
{
    uint64_t expirations;
    if (read(d->timer_fd, &expirations, sizeof expirations) < 0)
        return;
    d->ticks++;
    if (d->ticks % (1000 / TTM_DAEMON_TICK_MS) == 0)
        ttm__log_tick(); /* the rate limits' "N similar lines suppressed" lines */
    ttm__session_tick(d);
    ttm__query_tick(d);
    ttm__poc_tick(d);
    ttm__state_tick(d);
}

/* epoll_pwait2 (nanosecond timeouts, Linux 5.11) when the kernel has it, else epoll_wait with
 * the timeout rounded up to a millisecond. */
static int wait_events(ttm_daemon *d, struct epoll_event *evs, int max, int64_t wait_ns)
{
    static bool no_pwait2;
    if (!no_pwait2) {
        struct timespec ts = {.tv_sec = wait_ns / 1000000000, .tv_nsec = wait_ns % 1000000000};
        int n = epoll_pwait2(d->epfd, evs, max, wait_ns >= 0 ? &ts : NULL, NULL);
        if (n >= 0 || errno != ENOSYS)
            return n;
        no_pwait2 = true;
    }
    int ms = wait_ns < 0 ? -1 : (int)((wait_ns + 999999) / 1000000);
    return epoll_wait(d->epfd, evs, max, ms);
}

int ttm__daemon_run(ttm_daemon *d)
{
    if (setup(d) != TTM_OK) {
        TTM_LOG(ERROR, "cannot set up the event loop: %s", strerror(errno));
        return TTM_EIO;
    }
    d->start_ns = ttm__now_ns();
    struct epoll_event evs[64];
    int64_t wait_ns = -1;
    while (!d->stop) {
        int n = wait_events(d, evs, 64, wait_ns);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            TTM_LOG(ERROR, "epoll_wait failed: %s", strerror(errno));
            return TTM_EIO;
        }
        for (int i = 0; i < n; i++) {
            ttm_ep *ep = evs[i].data.ptr;
            uint32_t e = evs[i].events;
            switch (ep->kind) {
            case TTM_EP_LISTEN:
                ttm__session_accept(d);
                break;
            case TTM_EP_QUERY_LISTEN:
                ttm__query_accept(d);
                break;
            case TTM_EP_SIGNAL:
                on_signal(d);
                break;
            case TTM_EP_TIMER:
                on_timer(d);
                break;
            case TTM_EP_SESSION:
                ttm__session_on_socket(d, ep->owner, e);
                break;
            case TTM_EP_DOORBELL:
                ttm__session_on_doorbell(d, ep->owner);
                break;
            case TTM_EP_QUERY:
                ttm__query_on_event(d, ep->owner, e);
                break;
            case TTM_EP_METRICS:
                ttm__metrics_http_on_event(d);
                break;
            case TTM_EP_POC_LISTEN:
                ttm__poc_accept(d);
                break;
            case TTM_EP_POC:
                ttm__poc_on_event(d, ep->owner, e);
                break;
            case TTM_EP_EXIT:
                ttm__session_on_exit(d);
                break;
            }
        }
        /* Draining happens here, after the whole batch: exits (pidfds, hang-ups) and
         * doorbells of one batch are then seen together, exits settle first, and every due
         * ring gets one budget per turn. A stop signal ends the loop within this turn. */
        if (d->stop)
            break;
        wait_ns = ttm__session_poll(d);
        if (ttm__query_poll(d))
            wait_ns = 0;
        ttm__daemon_reap(d);
    }
    return TTM_OK;
}

void ttm__daemon_reap(ttm_daemon *d)
{
    while (d->dead_sessions != NULL) {
        ttm_session *s = d->dead_sessions;
        d->dead_sessions = s->next;
        ttm__free(s);
    }
    while (d->dead_qconns != NULL) {
        ttm_qconn *q = d->dead_qconns;
        d->dead_qconns = q->next;
        ttm__free(q);
    }
    ttm__poc_reap(d);
}

void ttm__daemon_summary(ttm_daemon *d)
{
    ttm__log_tick();
    if (TTM_LOG_INFO > ttm__log_level)
        return;
    ttm_totals t;
    ttm_registry_totals(d->reg, &t);
    uint64_t waited = 0;
    for (size_t i = 0; i < d->nprocs; i++)
        waited = ttm__sat_add(waited, d->procs[i]->waited);
    ttm__log_write(TTM_LOG_INFO,
            "summary: %llu events from %llu sessions (%llu refused, %llu rejected), %llu "
            "allocations, %llu frees, %llu live buffers; %llu waited for room, %llu dropped "
            "while no daemon existed, %llu handled by a previous daemon",
            (unsigned long long)d->events, (unsigned long long)d->clients_total,
            (unsigned long long)d->clients_refused, (unsigned long long)d->clients_rejected,
            (unsigned long long)t.allocs, (unsigned long long)t.frees,
            (unsigned long long)t.live_records, (unsigned long long)waited, (unsigned long long)d->dropped,
            (unsigned long long)d->prior_events);
    ttm__log_write(TTM_LOG_INFO,
                   "summary: %llu ring errors (%llu implausible counters), %llu connections "
                   "closed without a hello to make room, %llu exited processes not kept, %llu "
                   "log lines suppressed by the rate limits",
                   (unsigned long long)d->ring_errors, (unsigned long long)d->counters_rejected,
                   (unsigned long long)d->pending_evicted, (unsigned long long)d->procs_dropped,
                   (unsigned long long)ttm__log_suppressed_total());
    for (unsigned c = 0; c < TTM_CLASS__COUNT; c++)
        if (t.class_count[c] > 0)
            ttm__log_write(TTM_LOG_INFO, "summary: %-16s %llu (%llu bytes): %s", ttm_class_name(c),
                    (unsigned long long)t.class_count[c], (unsigned long long)t.class_bytes[c],
                    ttm_class_help(c));
}
