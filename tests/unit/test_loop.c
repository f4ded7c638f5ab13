/*
 * test_loop.c — the event loop (src/daemon/loop.c) on its own, without the daemon: watchers
 * and their callbacks, the tick, before-sleep hooks and their wait, the deferred free of an
 * owner closed inside a batch, and a watcher removed by another inside the same batch.
 * Every wait is on an event (a pipe, a tick counter), bounded by the test's own stop.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/loop.c"

/* An owner with its watcher embedded, as the daemon's connections have. */
typedef struct conn {
    ttm_watch w;
    ttm_loop_dead dead;
    int rfd, wfd;
    int calls;
    uint32_t last_events;
    struct conn *victim; /* closed by this one's callback */
    bool close_self;
    int *freed;          /* counts frees, outside the conn */
    int *called;         /* counts calls outside the conn (may be NULL) */
} conn;

static void conn_free(void *obj)
{
    conn *c = obj;
    (*c->freed)++;
    ttm__free(c);
}

static void conn_close(ttm_loop *l, conn *c)
{
    ttm__loop_del(l, &c->w);
    close(c->rfd);
    close(c->wfd);
    c->rfd = c->wfd = -1;
    ttm__loop_defer(l, &c->dead, conn_free, c);
}

static void on_conn(ttm_loop *l, ttm_watch *w, uint32_t events)
{
    conn *c = w->owner;
    c->calls++;
    if (c->called != NULL)
        (*c->called)++;
    c->last_events = events;
    char b[16];
    (void)!read(c->rfd, b, sizeof b);
    if (c->victim != NULL) {
        conn_close(l, c->victim);
        c->victim = NULL;
    }
    if (c->close_self)
        conn_close(l, c);
    int *stop_after = ttm__loop_ctx(l);
    if (stop_after != NULL && --*stop_after <= 0)
        ttm__loop_stop(l);
}

static conn *conn_open(ttm_loop *l, int *freed)
{
    conn *c = ttm__calloc(1, sizeof *c);
    assert_non_null(c);
    int p[2];
    assert_int_equal(pipe(p), 0);
    c->rfd = p[0];
    c->wfd = p[1];
    c->freed = freed;
    ttm__watch_init(&c->w, on_conn, c);
    assert_int_equal(ttm__loop_add(l, &c->w, c->rfd, EPOLLIN), TTM_OK);
    return c;
}

/* A readable descriptor calls its watcher's callback with EPOLLIN and its owner. */
static void watcher_callback(void **state)
{
    (void)state;
    int stop_after = 1, freed = 0;
    ttm_loop *l;
    assert_int_equal(ttm__loop_open(&l, 1000, &stop_after), TTM_OK);
    conn *c = conn_open(l, &freed);
    assert_int_equal(c->w.fd, c->rfd);
    assert_int_equal(write(c->wfd, "x", 1), 1);
    assert_int_equal(ttm__loop_run(l), TTM_OK);
    assert_int_equal(c->calls, 1);
    assert_true(c->last_events & EPOLLIN);
    /* modify: no events wanted, nothing calls it; removed: fd -1 */
    assert_int_equal(ttm__loop_mod(l, &c->w, 0), TTM_OK);
    assert_int_equal(c->w.events, 0u);
    ttm__loop_del(l, &c->w);
    assert_int_equal(c->w.fd, -1);
    assert_int_equal(ttm__loop_mod(l, &c->w, EPOLLIN), TTM_EIO);
    conn_close(l, c);
    assert_int_equal(freed, 0); /* deferred */
    ttm__loop_close(l);
    assert_int_equal(freed, 1);
}

typedef struct ticker {
    ttm_loop_hook h1, h2, sleep;
    uint64_t seen[2];
    int order[8];
    int norder;
    uint64_t stop_at;
    int sleeps;
} ticker;

static void tick1(ttm_loop *l, void *arg, uint64_t ticks)
{
    ticker *t = arg;
    t->seen[0] = ticks;
    if (t->norder < 8)
        t->order[t->norder++] = 1;
    assert_int_equal(ticks, ttm__loop_ticks(l));
}

static void tick2(ttm_loop *l, void *arg, uint64_t ticks)
{
    ticker *t = arg;
    t->seen[1] = ticks;
    if (t->norder < 8)
        t->order[t->norder++] = 2;
    if (ticks >= t->stop_at)
        ttm__loop_stop(l);
}

static int64_t count_sleep(ttm_loop *l, void *arg)
{
    (void)l;
    ticker *t = arg;
    t->sleeps++;
    return -1;
}

/* The tick calls its hooks in the order they were added, with the tick count; the loop keeps
 * turning until a hook stops it, running the before-sleep hooks after each batch. */
static void tick_hooks(void **state)
{
    (void)state;
    ttm_loop *l;
    assert_int_equal(ttm__loop_open(&l, 5, NULL), TTM_OK);
    ticker t = {.stop_at = 3};
    ttm__loop_on_tick(l, &t.h1, tick1, &t);
    ttm__loop_on_tick(l, &t.h2, tick2, &t);
    ttm__loop_before_sleep(l, &t.sleep, count_sleep, &t);
    assert_int_equal(ttm__loop_run(l), TTM_OK);
    assert_int_equal(t.seen[0], 3);
    assert_int_equal(t.seen[1], 3);
    assert_int_equal(t.norder, 6);
    for (int i = 0; i < 6; i++)
        assert_int_equal(t.order[i], 1 + i % 2);
    /* before the first wait and after the first two ticks' batches; the third tick's batch
     * stopped the loop before its before-sleep hooks */
    assert_int_equal(t.sleeps, 3);
    ttm__loop_close(l);
}

typedef struct napper {
    ttm_loop_hook a, b, tick;
    int turns;
    uint64_t ticks_at_stop;
} napper;

/* Asks for no wait a number of times, then stops the loop: the loop must not block between
 * (a blocked loop would only turn again at the tick). */
static int64_t nap_a(ttm_loop *l, void *arg)
{
    napper *n = arg;
    if (++n->turns >= 1000) {
        n->ticks_at_stop = ttm__loop_ticks(l);
        ttm__loop_stop(l);
    }
    return -1;
}

static int64_t nap_b(ttm_loop *l, void *arg)
{
    (void)l;
    (void)arg;
    return 0; /* the shortest wish wins */
}

/* Before-sleep hooks set the wait: the shortest wish among them. */
static void before_sleep_wait(void **state)
{
    (void)state;
    ttm_loop *l;
    assert_int_equal(ttm__loop_open(&l, 60000, NULL), TTM_OK); /* a tick a minute */
    napper n = {0};
    ttm__loop_before_sleep(l, &n.a, nap_a, &n);
    ttm__loop_before_sleep(l, &n.b, nap_b, &n);
    assert_int_equal(ttm__loop_run(l), TTM_OK);
    assert_int_equal(n.turns, 1000);
    assert_int_equal(n.ticks_at_stop, 0); /* 1000 turns without waiting for a tick */
    ttm__loop_close(l);
}

typedef struct probe {
    ttm_loop_hook h;
    int *freed;
    int freed_at_hook; /* frees done when the before-sleep hook ran after a batch */
    int calls;
} probe;

/* The first call of a run comes before its first wait; the second, after the first batch,
 * records the frees done so far and stops the loop after this turn. */
static int64_t probe_hook(ttm_loop *l, void *arg)
{
    probe *p = arg;
    if (++p->calls % 2 == 0) {
        p->freed_at_hook = *p->freed;
        ttm__loop_stop(l);
    }
    return -1;
}

/* An owner whose watcher another callback removed in the same batch is not called, though
 * its event is in the batch; it and an owner that closes itself in its callback are freed
 * after the batch and its before-sleep hooks, never during them. */
static void deferred_free_in_batch(void **state)
{
    (void)state;
    int freed = 0;
    ttm_loop *l;
    assert_int_equal(ttm__loop_open(&l, 60000, NULL), TTM_OK);
    conn *a = conn_open(l, &freed);
    conn *b = conn_open(l, &freed);
    int a_calls = 0, b_calls = 0; /* read after one of them is freed */
    a->called = &a_calls;
    b->called = &b_calls;
    a->victim = b;
    b->victim = a;
    probe pr = {.freed = &freed, .freed_at_hook = -1};
    ttm__loop_before_sleep(l, &pr.h, probe_hook, &pr);
    /* both readable before the wait: one batch holds both events; whichever runs first
     * closes the other */
    assert_int_equal(write(a->wfd, "x", 1), 1);
    assert_int_equal(write(b->wfd, "x", 1), 1);
    assert_int_equal(ttm__loop_run(l), TTM_OK);
    assert_int_equal(a_calls + b_calls, 1);
    assert_int_equal(pr.freed_at_hook, 0);
    assert_int_equal(freed, 1);
    conn *alive = a_calls ? a : b;
    alive->victim = NULL;
    alive->close_self = true;
    assert_int_equal(write(alive->wfd, "x", 1), 1);
    pr.freed_at_hook = -1;
    assert_int_equal(ttm__loop_run(l), TTM_OK);
    assert_int_equal(pr.freed_at_hook, 1); /* closed itself in the batch: not freed yet */
    assert_int_equal(freed, 2);
    ttm__loop_close(l);
    assert_int_equal(freed, 2);
}

static int signals_seen;
static void on_sig(ttm_loop *l, void *arg, int signo, uint32_t from)
{
    (void)arg;
    assert_int_equal(signo, SIGUSR1);
    assert_int_equal(from, (uint32_t)getpid());
    signals_seen++;
    ttm__loop_stop(l);
}

/* A signal given to ttm__loop_signals arrives through the signalfd, not a handler. */
static void signal_delivery(void **state)
{
    (void)state;
    ttm_loop *l;
    assert_int_equal(ttm__loop_open(&l, 1000, NULL), TTM_OK);
    int sigs[] = {SIGUSR1};
    assert_int_equal(ttm__loop_signals(l, sigs, 1, on_sig, NULL), TTM_OK);
    assert_int_equal(ttm__loop_signals(l, sigs, 1, on_sig, NULL), TTM_EIO); /* one per loop */
    assert_int_equal(kill(getpid(), SIGUSR1), 0);
    assert_int_equal(ttm__loop_run(l), TTM_OK);
    assert_int_equal(signals_seen, 1);
    ttm__loop_close(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(watcher_callback),
        cmocka_unit_test(tick_hooks),
        cmocka_unit_test(before_sleep_wait),
        cmocka_unit_test(deferred_free_in_batch),
        cmocka_unit_test(signal_delivery),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
