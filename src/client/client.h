/*
 * client.h — libttmem's internal state, shared by its three core files:
 *   api.c      the public calls: the enable gate, the producer hot path, stacks and scopes,
 *              flush, stats;
 *   session.c  the ring's creation, the daemon session (HELLO, watcher thread, reconnect with
 *              back-off), fork and exit handling, diagnostics through the log callback;
 *   clock.c    the event timestamp: TSC scaled to CLOCK_MONOTONIC nanoseconds where the
 *              kernel itself trusts the TSC, else clock_gettime.
 * The call-site pieces have headers of their own: stack.h (capture, interning), side_writer.h
 * (the side log), unwind.h and pystack.h.
 *
 * One process has at most one ring at a time (a forked child makes its own). The ring pointer
 * is published with release order once the ring is fully initialised; producers read it with
 * acquire order and never take a lock.
 */
#ifndef TTM_CLIENT_CLIENT_H
#define TTM_CLIENT_CLIENT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/ring.h"

/* Enable gate: read once from the environment at the first call. */
enum { TTM__GATE_UNKNOWN = 0, TTM__GATE_OFF = 1, TTM__GATE_ON = 2 };

/* Session states, as seen by producers (ttm__client.session). */
enum {
    TTM__SESS_NONE = 0,   /* no ring yet: the next call creates one */
    TTM__SESS_READY = 1,  /* ring exists */
    TTM__SESS_FAILED = 2, /* the ring could not be created: every event is dropped */
};

/* A daemon that answers neither the HELLO nor makes any progress (its CPU time stands still)
 * for TTM__REPLY_IDLE_MS is dead; a busy one is waited for up to TTM__REPLY_CAP_MS. Where the
 * daemon's progress cannot be seen (its pid is not visible), TTM__REPLY_IDLE_MS is the bound. */
#define TTM__REPLY_IDLE_MS 5000
#define TTM__REPLY_CAP_MS 60000
/* The first enabled call waits this long for the first attempt's outcome; the attempt itself
 * goes on in the background, and producers that fill the ring meanwhile wait for it. */
#define TTM__FIRST_WAIT_MS 1500
/* Bound on a producer's wait for room while the daemon makes no progress on this ring (its
 * tail stands still): a daemon that consumes keeps the producer waiting, one that stalls for
 * this long costs one bounded wait. */
#define TTM__FULL_WAIT_NS 5000000000ll
#define TTM__EXIT_FLUSH_MS 1000
#define TTM__NO_STALL UINT64_MAX
#define TTM__BACKOFF_MIN_MS 50
#define TTM__BACKOFF_MAX_MS 2000

typedef struct ttm__client {
    _Atomic int gate;
    _Atomic int session;
    ttm_ring_hdr *_Atomic ring; /* published once initialised; NULL before; replaced only when
                                   the application took the memfd away (session.c) */
    uint32_t nslots;            /* of every ring of this process; set before the first ring */
    size_t ring_bytes;
    _Atomic int connected;       /* 1 while a daemon holds the ring */
    _Atomic int memfd, eventfd;  /* -1 when closed or no longer ours */
    _Atomic int sock;            /* the session socket, -1 when none */
    _Atomic uint64_t reconnects;
    _Atomic uint64_t dropped_noring; /* events dropped because no ring could be made */
    _Atomic uint64_t stall_tail;     /* tail when a wait for room timed out, else NO_STALL */
    _Atomic uint64_t events_base;    /* events committed to retired rings, not carried over */
    _Atomic uint64_t rebuilds;       /* sessions rebuilt because a descriptor was lost */
    pthread_mutex_t mu;              /* session setup, fork, log state; never on the hot path */
} ttm__client;

extern ttm__client ttm__g;
/* The calling thread's kernel id, 0 until first needed (api.c); reset in a forked child. */
extern __thread uint32_t ttm__t_tid __attribute__((tls_model("initial-exec")));

/* ---- session.c ---- */

/* Creates the ring, registers the fork and exit handlers, starts the watcher thread and waits
 * (bounded) for its first connection attempt. Called by the first enabled call, under no lock;
 * concurrent callers serialise inside. Returns 0 or a ttm_err (session becomes FAILED). */
int ttm__session_start(void);

/* Reports a diagnostic through the log callback (default: one stderr line for the first of
 * each err). */
void ttm__client_log(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Rings the doorbell: one eventfd write, after checking the descriptor is still the ring's. */
void ttm__client_doorbell(void);

/* Called by a producer that found the ring full while no daemon holds it. Returns true when a
 * daemon holds the ring now (wait for room), false when none accepts it (drop, counted): it
 * waits for a connection attempt in progress, and asks the watcher for one at once when
 * nothing has shown that it would fail (the last failure's socket path is unchanged). Bounded
 * by the handshake's own bounds. */
bool ttm__session_await_daemon(void);

/* ---- clock.c ---- */

/* The event timestamp, monotonic nanoseconds (CLOCK_MONOTONIC's scale and origin). */
uint64_t ttm__clock_now(void);
/* Takes the first TSC/CLOCK_MONOTONIC pair; later ttm__clock_calibrate() calls (from the
 * watcher thread, about once a second) switch to and refine the TSC scale. */
void ttm__clock_init(void);
void ttm__clock_calibrate(void);

#endif /* TTM_CLIENT_CLIENT_H */
