/*
 * loop.h — a single-threaded event loop (in the manner of redis's ae.c and libuv) that knows
 * nothing of what it runs: one epoll set of watchers, a periodic tick, before-sleep hooks, a
 * signalfd and one list of objects whose memory is freed after the epoll batch that closed
 * them.
 *
 * A watcher (ttm_watch) is EMBEDDED in the struct that owns it (a connection, a listener):
 * the loop stores a pointer to it in the epoll registration and calls its callback with the
 * events; owner is whatever the callback needs back. A watcher removed (ttm__loop_del) is
 * never called again, even for an event of the batch being handled, and an owner closed during
 * a batch is handed to ttm__loop_defer so that its memory outlives every event that may still
 * name it. One turn: the before-sleep hooks in the order they were added (they say how long
 * the wait may be), the free of the deferred objects, the wait (epoll_pwait2: nanosecond
 * timeouts), then the watchers of the batch. A stop ends the loop after the batch (or the
 * hooks) that asked for it.
 *
 * Lifecycle: ttm__loop_open() creates it (ttm__loop_close() frees it; NULL is a no-op); the
 * hooks and watchers stay the caller's memory. Nothing here is thread-safe.
 */
#ifndef TTM_DAEMON_LOOP_H
#define TTM_DAEMON_LOOP_H

#include <stdbool.h>
#include <stdint.h>

typedef struct ttm_loop ttm_loop;
typedef struct ttm_watch ttm_watch;

/* Called with the epoll events (EPOLLIN, ...) of w's descriptor. */
typedef void (*ttm_watch_fn)(ttm_loop *l, ttm_watch *w, uint32_t events);

struct ttm_watch {
    ttm_watch_fn fn;
    void *owner;
    int fd;          /* -1 when not in the loop */
    uint32_t events; /* registered */
};

/* A tick hook: called every tick (ticks counts them from 1). */
typedef void (*ttm_tick_fn)(ttm_loop *l, void *arg, uint64_t ticks);
/* A before-sleep hook: called after each batch; returns how long the loop may wait for the
 * next events from its point of view: 0 (do not block), a number of nanoseconds, or -1 (no
 * wish). The loop waits for the shortest wish. */
typedef int64_t (*ttm_sleep_fn)(ttm_loop *l, void *arg);
/* A signal hook: one call per signal read from the signalfd. */
typedef void (*ttm_signal_fn)(ttm_loop *l, void *arg, int signo, uint32_t from_pid);
/* Frees a deferred object. */
typedef void (*ttm_free_fn)(void *obj);

/* A hook's node, embedded in whoever adds the hook (one node per hook). */
typedef struct ttm_loop_hook {
    struct ttm_loop_hook *next;
    union {
        ttm_tick_fn tick;
        ttm_sleep_fn sleep;
    } fn;
    void *arg;
} ttm_loop_hook;

/* A deferred free's node, embedded in the object to be freed. */
typedef struct ttm_loop_dead {
    struct ttm_loop_dead *next;
    ttm_free_fn fn;
    void *obj;
} ttm_loop_dead;

/* Creates a loop with a tick every tick_ms (> 0) and ctx for ttm__loop_ctx(). Returns 0,
 * TTM_EIO (epoll or timerfd failed) or TTM_ENOMEM; *out is NULL on failure. */
int ttm__loop_open(ttm_loop **out, unsigned tick_ms, void *ctx);
/* Frees the deferred objects, closes the loop's descriptors and frees it. NULL: no-op. The
 * watchers still registered are only forgotten (their descriptors are their owners'). */
void ttm__loop_close(ttm_loop *l);
/* The ctx given to ttm__loop_open. */
void *ttm__loop_ctx(const ttm_loop *l);

/* Prepares w (fd -1, not in the loop) to call fn with owner. */
void ttm__watch_init(ttm_watch *w, ttm_watch_fn fn, void *owner);
/* Adds fd to the loop with events, calling w's callback. Returns 0 or TTM_EIO (w unchanged). */
int ttm__loop_add(ttm_loop *l, ttm_watch *w, int fd, uint32_t events);
/* Changes the events of a watcher in the loop. Returns 0 or TTM_EIO. */
int ttm__loop_mod(ttm_loop *l, ttm_watch *w, uint32_t events);
/* Takes w out of the loop (no-op when it is not in): it is not called again, not even for an
 * event of the batch being handled. The descriptor stays open (its owner closes it). */
void ttm__loop_del(ttm_loop *l, ttm_watch *w);

/* Adds a tick hook (called in the order added). */
void ttm__loop_on_tick(ttm_loop *l, ttm_loop_hook *h, ttm_tick_fn fn, void *arg);
/* Adds a before-sleep hook (called in the order added). */
void ttm__loop_before_sleep(ttm_loop *l, ttm_loop_hook *h, ttm_sleep_fn fn, void *arg);
/* Blocks signos (n of them) in the calling thread and delivers them through a signalfd to fn.
 * One call per loop. Returns 0 or TTM_EIO. */
int ttm__loop_signals(ttm_loop *l, const int *signos, unsigned n, ttm_signal_fn fn, void *arg);
/* Frees obj with fn after the current batch and its before-sleep hooks (outside ttm__loop_run:
 * at the next ttm__loop_reap or ttm__loop_close). */
void ttm__loop_defer(ttm_loop *l, ttm_loop_dead *node, ttm_free_fn fn, void *obj);
/* Frees every deferred object now (call only where no epoll event can still name them). */
void ttm__loop_reap(ttm_loop *l);

/* Runs turns until ttm__loop_stop. Returns 0 or TTM_EIO (the wait failed). */
int ttm__loop_run(ttm_loop *l);
/* Ends ttm__loop_run at the end of the current batch, before any further before-sleep hook
 * (from a hook: after the hooks and the deferred frees of this turn). */
void ttm__loop_stop(ttm_loop *l);
/* Ticks so far. */
uint64_t ttm__loop_ticks(const ttm_loop *l);

#endif /* TTM_DAEMON_LOOP_H */
