/*
 * loop.c — the event loop of loop.h: one epoll set, a timerfd for the tick, a signalfd, hooks
 * and the deferred-free list. It includes nothing of the daemon: what runs in it registers
 * itself (ttmemd's main.c wires its modules; tests/unit/test_loop.c drives it alone).
 *
 * Its waits have nanosecond timeouts (epoll_pwait2, Linux 5.11; else epoll_wait rounded up to
 * a millisecond), so that a before-sleep hook can ask to be run again a few tens of
 * microseconds later. Epoll events only call watchers; work that must see a whole batch (the
 * daemon drains its rings there) belongs in a before-sleep hook.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "daemon/loop.h"
#include "ttmem/ttmem.h"

#define LOOP_BATCH 64 /* epoll events taken per wait */

struct ttm_loop {
    int epfd;
    void *ctx;
    bool stop;
    uint64_t ticks;
    ttm_watch timer_w, signal_w;
    ttm_loop_hook *ticks_head, *sleeps_head;
    ttm_signal_fn on_signal;
    void *signal_arg;
    ttm_loop_dead *dead;
};

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

static void on_timer(ttm_loop *l, ttm_watch *w, uint32_t events)
{
    (void)events;
    uint64_t expirations;
    if (read(w->fd, &expirations, sizeof expirations) < 0)
        return;
    l->ticks++;
    for (ttm_loop_hook *h = l->ticks_head; h != NULL; h = h->next)
        h->fn.tick(l, h->arg, l->ticks);
}

static void on_signalfd(ttm_loop *l, ttm_watch *w, uint32_t events)
{
    (void)events;
    struct signalfd_siginfo si;
    while (read(w->fd, &si, sizeof si) == (ssize_t)sizeof si)
        l->on_signal(l, l->signal_arg, (int)si.ssi_signo, si.ssi_pid);
}

int ttm__loop_open(ttm_loop **out, unsigned tick_ms, void *ctx)
{
    *out = NULL;
    ttm_loop *l = ttm__calloc(1, sizeof *l);
    if (l == NULL)
        return TTM_ENOMEM;
    l->ctx = ctx;
    ttm__watch_init(&l->timer_w, on_timer, l);
    ttm__watch_init(&l->signal_w, on_signalfd, l);
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0)
        goto out_free;
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (tfd < 0)
        goto out_close_epoll;
    long ns = (long)(tick_ms % 1000u) * 1000000L;
    struct itimerspec it = {
        .it_interval = {(time_t)(tick_ms / 1000u), ns},
        .it_value = {(time_t)(tick_ms / 1000u), ns},
    };
    if (tick_ms == 0 || timerfd_settime(tfd, 0, &it, NULL) != 0 ||
        ttm__loop_add(l, &l->timer_w, tfd, EPOLLIN) != TTM_OK)
        goto out_close_timer;
    *out = l;
    return TTM_OK;

out_close_timer:
    close(tfd);
out_close_epoll:
    close(l->epfd);
out_free:
    ttm__free(l);
    return TTM_EIO;
}

void ttm__loop_close(ttm_loop *l)
{
    if (l == NULL)
        return;
    ttm__loop_reap(l);
    int fd = l->timer_w.fd;
    ttm__loop_del(l, &l->timer_w);
    close_fd(&fd);
    fd = l->signal_w.fd;
    ttm__loop_del(l, &l->signal_w);
    close_fd(&fd);
    close_fd(&l->epfd);
    ttm__free(l);
}

void *ttm__loop_ctx(const ttm_loop *l)
{
    return l->ctx;
}

void ttm__watch_init(ttm_watch *w, ttm_watch_fn fn, void *owner)
{
    w->fn = fn;
    w->owner = owner;
    w->fd = -1;
    w->events = 0;
}

int ttm__loop_add(ttm_loop *l, ttm_watch *w, int fd, uint32_t events)
{
    struct epoll_event e = {.events = events, .data.ptr = w};
    if (fd < 0 || epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &e) != 0)
        return TTM_EIO;
    w->fd = fd;
    w->events = events;
    return TTM_OK;
}

int ttm__loop_mod(ttm_loop *l, ttm_watch *w, uint32_t events)
{
    struct epoll_event e = {.events = events, .data.ptr = w};
    if (w->fd < 0 || epoll_ctl(l->epfd, EPOLL_CTL_MOD, w->fd, &e) != 0)
        return TTM_EIO;
    w->events = events;
    return TTM_OK;
}

void ttm__loop_del(ttm_loop *l, ttm_watch *w)
{
    if (w->fd < 0)
        return;
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL);
    w->fd = -1;
    w->events = 0;
}

static void hook_append(ttm_loop_hook **head, ttm_loop_hook *h)
{
    h->next = NULL;
    while (*head != NULL)
        head = &(*head)->next;
    *head = h;
}

void ttm__loop_on_tick(ttm_loop *l, ttm_loop_hook *h, ttm_tick_fn fn, void *arg)
{
    h->fn.tick = fn;
    h->arg = arg;
    hook_append(&l->ticks_head, h);
}

void ttm__loop_before_sleep(ttm_loop *l, ttm_loop_hook *h, ttm_sleep_fn fn, void *arg)
{
    h->fn.sleep = fn;
    h->arg = arg;
    hook_append(&l->sleeps_head, h);
}

int ttm__loop_signals(ttm_loop *l, const int *signos, unsigned n, ttm_signal_fn fn, void *arg)
{
    sigset_t set;
    sigemptyset(&set);
    for (unsigned i = 0; i < n; i++)
        sigaddset(&set, signos[i]);
    if (l->signal_w.fd >= 0 || sigprocmask(SIG_BLOCK, &set, NULL) != 0)
        return TTM_EIO;
    int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0)
        return TTM_EIO;
    l->on_signal = fn;
    l->signal_arg = arg;
    if (ttm__loop_add(l, &l->signal_w, fd, EPOLLIN) != TTM_OK) {
        close(fd);
        return TTM_EIO;
    }
    return TTM_OK;
}

void ttm__loop_defer(ttm_loop *l, ttm_loop_dead *node, ttm_free_fn fn, void *obj)
{
    node->fn = fn;
    node->obj = obj;
    node->next = l->dead;
    l->dead = node;
}

void ttm__loop_reap(ttm_loop *l)
{
    while (l->dead != NULL) {
        ttm_loop_dead *node = l->dead;
        l->dead = node->next;
        node->fn(node->obj); /* may free node: it is embedded in obj */
    }
}

/* epoll_pwait2 when the kernel has it, else epoll_wait with the timeout rounded up to a
 * millisecond. */
static int wait_events(ttm_loop *l, struct epoll_event *evs, int max, int64_t wait_ns)
{
    static bool no_pwait2;
    if (!no_pwait2) {
        struct timespec ts = {.tv_sec = wait_ns / 1000000000, .tv_nsec = wait_ns % 1000000000};
        int n = epoll_pwait2(l->epfd, evs, max, wait_ns >= 0 ? &ts : NULL, NULL);
        if (n >= 0 || errno != ENOSYS)
            return n;
        no_pwait2 = true;
    }
    int ms = wait_ns < 0 ? -1 : (int)((wait_ns + 999999) / 1000000);
    return epoll_wait(l->epfd, evs, max, ms);
}

int ttm__loop_run(ttm_loop *l)
{
    struct epoll_event evs[LOOP_BATCH];
    l->stop = false;
    while (!l->stop) {
        int64_t wait_ns = -1;
        for (ttm_loop_hook *h = l->sleeps_head; h != NULL; h = h->next) {
            int64_t want = h->fn.sleep(l, h->arg);
            if (want >= 0 && (wait_ns < 0 || want < wait_ns))
                wait_ns = want;
        }
        ttm__loop_reap(l);
        if (l->stop)
            break;
        int n = wait_events(l, evs, LOOP_BATCH, wait_ns);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return TTM_EIO;
        }
        for (int i = 0; i < n; i++) {
            ttm_watch *w = evs[i].data.ptr;
            if (w->fd >= 0) /* removed earlier in this batch: its owner may be closed */
                w->fn(l, w, evs[i].events);
        }
    }
    return TTM_OK;
}

void ttm__loop_stop(ttm_loop *l)
{
    l->stop = true;
}

uint64_t ttm__loop_ticks(const ttm_loop *l)
{
    return l->ticks;
}
