/*
 * client.h — libttmem's internal state, shared by its three files:
 *   api.c      the public calls: the enable gate, the producer hot path, flush, stats;
 *   session.c  the ring's creation, the daemon session (HELLO, watcher thread, reconnect with
 *              back-off), fork and exit handling, diagnostics through the log callback;
 *   clock.c    the event timestamp: TSC scaled to CLOCK_MONOTONIC nanoseconds where the
 *              kernel itself trusts the TSC, else clock_gettime.
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

#define TTM__REPLY_TIMEOUT_MS 1000 /* a daemon that does not answer the HELLO in time is dead */
#define TTM__FULL_WAIT_NS 2000000000ll /* bound on a producer's wait for room (2 s) */
#define TTM__EXIT_FLUSH_MS 1000
#define TTM__NO_STALL UINT64_MAX
#define TTM__BACKOFF_MIN_MS 50
#define TTM__BACKOFF_MAX_MS 2000

typedef struct ttm__client {
    _Atomic int gate;
    _Atomic int session;
    ttm_ring_hdr *_Atomic ring; /* published once initialised; NULL before */
    uint32_t nslots;            /* of the ring; written before ring is published */
    size_t ring_bytes;
    _Atomic uint64_t tail_cache; /* producers' shared lower bound on the ring's tail */
    _Atomic int connected;       /* 1 while a daemon holds the ring */
    _Atomic int memfd, eventfd;  /* -1 when closed */
    _Atomic int sock;            /* the session socket, -1 when none */
    _Atomic uint64_t reconnects;
    _Atomic uint64_t dropped_noring; /* events dropped because no ring could be made */
    _Atomic uint64_t stall_tail;     /* tail when a wait for room timed out, else NO_STALL */
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

/* Rings the doorbell: one eventfd write. */
void ttm__client_doorbell(void);

/* ---- clock.c ---- */

/* The event timestamp, monotonic nanoseconds (CLOCK_MONOTONIC's scale and origin). */
uint64_t ttm__clock_now(void);
/* Takes the first TSC/CLOCK_MONOTONIC pair; later ttm__clock_calibrate() calls (from the
 * watcher thread, about once a second) switch to and refine the TSC scale. */
void ttm__clock_init(void);
void ttm__clock_calibrate(void);

#endif /* TTM_CLIENT_CLIENT_H */
