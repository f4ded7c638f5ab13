/*
 * daemon.h — what ttmemd's files share: its configuration, the daemon state (listeners,
 * sessions, process table, query connections, counters) and the functions that move events
 * from client rings into the core registry and snapshots out to the query socket.
 *
 * One thread runs everything from one epoll loop (loop.c): accepting clients (session.c),
 * draining their rings, detecting their exit, and answering queries (query.c). Nothing here is
 * thread-safe, by design.
 */
#ifndef TTM_DAEMON_DAEMON_H
#define TTM_DAEMON_DAEMON_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/event.h"
#include "common/ring.h"
#include "core/report.h"
#include "core/registry.h"

#define TTM_DAEMON_BATCH 1024             /* events copied out of a ring per consume call */
#define TTM_DAEMON_BUDGET 8192            /* events one ring may have applied per loop turn, at
                                             least; more when few rings are busy (session.c) */
#define TTM_DAEMON_TURN_EVENTS 262144     /* events a loop turn applies at most, split over rings */
#define TTM_DAEMON_TICK_MS 50             /* safety-net drain, timeouts, liveness */
#define TTM_DAEMON_NAP_US 50              /* after a drain that found events, look again this late */
#define TTM_DAEMON_HANDSHAKE_MS 5000      /* a client must send its HELLO within this */
#define TTM_DAEMON_LINGER_MS 1000         /* a closed session of a live process waits this */
#define TTM_DAEMON_MAX_QUERY_CONNS 64
#define TTM_DAEMON_QUERY_IDLE_MS 30000
/* The query socket's output bounds (query.c, docs/DAEMON.md) */
#define TTM_DAEMON_QUERY_SEND_MS 10000           /* a reply's reader must take some of it
                                                  * within this (from the last progress) */
#define TTM_DAEMON_QUERY_OUT_MAX (64ull << 20)   /* large replies buffered, all connections */
#define TTM_DAEMON_QUERY_SMALL (1ull << 20)      /* replies estimated below this: no budget */
#define TTM_DAEMON_QUERY_TURN_BYTES (4ull << 20) /* reply bytes (estimated) built per turn */
#define TTM_DAEMON_QUERY_MAX_LIVE (1u << 20)     /* live buffers listed per reply (48 MiB) */
#define TTM_DAEMON_QUERY_EVICT_MS 500            /* at the limit, a reply unread this long
                                                  * gives its connection to a newcomer */
#define TTM_DAEMON_MAX_PROCS 4096         /* processes remembered (live and exited) */
#define TTM_DAEMON_KEEP_EXITED 64         /* exited processes kept, most recent first */
#define TTM_DAEMON_MAX_PENDING 64         /* connections that have not said HELLO yet */
#define TTM_DAEMON_MAX_PENDING_UID 32     /* of those, from one uid */
#define TTM_DAEMON_ACCEPTS_PER_TURN 64    /* connections accepted per loop turn */
#define TTM_DAEMON_WAIT_SLACK 65536       /* producer threads that may be waiting at once */
#define TTM_SOCK_PATH_MAX 108             /* sizeof(sockaddr_un.sun_path) */
#define TTM_STATE_CHECKPOINT_MS 2000      /* state.c: a checkpoint when something changed */
#define TTM_STATE_REPLAY_MAX (1u << 20)   /* state.c: events of a crash window replayed at most */

typedef struct ttm_daemon_config {
    char socket_path[TTM_SOCK_PATH_MAX];
    char query_path[TTM_SOCK_PATH_MAX];
    char lock_path[PATH_MAX];
    char pid_file[PATH_MAX];  /* "" = none */
    char log_file[PATH_MAX];  /* "" = stderr (foreground) or DIR/ttmemd.log (daemon) */
    bool foreground;
    bool default_socket;      /* the path came from the default, not --socket */
    int ready_fd;             /* -1, or a descriptor that receives "ready\n" once listening */
    uint32_t max_clients;
    uint32_t max_live_per_client;
    uint32_t default_arch;    /* ttm_arch for devices that never describe themselves; 0 = none */
    /* the legacy allocation-server socket (poc.c, docs/COMPAT.md) */
    char poc_path[TTM_SOCK_PATH_MAX]; /* "" = not listening */
    uint32_t poc_size;        /* 72, 112 or 144 forced; 0 = detected per connection */
    bool poc_log;             /* print the prototype's per-event log lines */
    uint32_t devices;         /* --devices N: devices 0..N-1 announced with default_arch */
    /* the Prometheus endpoint (metrics_http.c, docs/METRICS.md) */
    char metrics_listen[64];  /* --metrics-listen [ADDR:]PORT; "" = off */
    char shm_dir[PATH_MAX];   /* --shm-dir: TT-Metal regions; "" = $TTMEM_SHM_DIR or /dev/shm */
    char state_file[PATH_MAX]; /* state.c: --state-file, default SOCKET.state; "" = --no-state */
    uint32_t checkpoint_ms;   /* --checkpoint-interval; 0 = only at a clean stop */
    /* the host-wide daemon (--system, listen.c, docs/DAEMON.md "System mode") */
    bool system;              /* sockets 0660 and directory 0750 of group `group`, root-owned */
    char group[64];           /* --group NAME|GID; "" = ttmem */
    gid_t gid;                /* group resolved by main.c */
    uint32_t keep_exited;     /* exited processes kept in the table; 0 = TTM_DAEMON_KEEP_EXITED */
} ttm_daemon_config;

/* What an epoll registration points at: data.ptr is a ttm_ep embedded in its owner. */
typedef enum ttm_ep_kind {
    TTM_EP_LISTEN,
    TTM_EP_QUERY_LISTEN,
    TTM_EP_SIGNAL,
    TTM_EP_TIMER,
    TTM_EP_SESSION,
    TTM_EP_DOORBELL,
    TTM_EP_QUERY,
    TTM_EP_METRICS,    /* the metrics endpoint's request eventfd (metrics_http.c) */
    TTM_EP_POC_LISTEN, /* the legacy socket (poc.c) */
    TTM_EP_POC,        /* a legacy connection; owner is poc.c's */
    TTM_EP_EXIT        /* the epoll set of the clients' pidfds (session.c) */
} ttm_ep_kind;

typedef struct ttm_ep {
    ttm_ep_kind kind;
    void *owner;
} ttm_ep;

/* A process as the daemon knows it beyond the registry: its name, user and transport
 * counters. Kept after the process exits (bounded by TTM_DAEMON_MAX_PROCS). */
typedef struct ttm_dproc {
    uint32_t pid, uid;
    char name[16];
    uint32_t sessions_open;  /* sessions holding (or lingering on) a ring of this process */
    bool exited;
    bool reattached;
    uint64_t events, rejected, waited, dropped, prior_events, sessions;
    uint64_t last_ns;        /* last session change, for eviction */
    bool restored;           /* loaded from a state file (state.c), not reattached since */
    uint64_t state_ring_tail; /* state.c: its ring's tail when the state was written (0: none) */
    uint64_t state_ring_ino;  /* ... and that ring's inode */
} ttm_dproc;

typedef enum ttm_session_state {
    TTM_SESSION_HANDSHAKE, /* connected, waiting for the HELLO */
    TTM_SESSION_ACTIVE,    /* ring mapped and drained */
    TTM_SESSION_LINGER,    /* connection closed by a process that still runs */
    TTM_SESSION_SETTLING   /* the process is gone (or counts as gone): drained, then its exit
                              is applied; no other ring's events are applied meanwhile */
} ttm_session_state;

typedef struct ttm_session {
    ttm_ep sock_ep, bell_ep;
    struct ttm_session *prev, *next;
    ttm_session_state state;
    int fd, memfd, efd;       /* -1 when closed */
    uint32_t pid, uid;
    ttm_dproc *proc;          /* NULL until ACTIVE */
    ttm_ring_hdr *ring;       /* NULL until ACTIVE */
    size_t map_bytes;
    dev_t ring_dev;
    ino_t ring_ino;
    uint64_t opened_ns, linger_ns;
    uint64_t waited_base;     /* ring's waited counter already accounted */
    uint64_t dropped_base;    /* ring's dropped counter already accounted */
    bool hot;                 /* its last drain stopped at the budget: more to do */
    bool napping;             /* its last drain found events: drain again at nap_until_ns */
    uint64_t nap_until_ns;
    bool broken;              /* the ring became unreadable */
    bool dead;                /* closed; freed after the current epoll batch */
    /* added for issue 9 (session.c) */
    int pidfd;                /* the process's pidfd in the exit epoll set, or -1 */
    bool polled;              /* no pidfd: its exit is found by polling /proc (no_pidfd) */
    const char *exit_why;     /* SETTLING: why the process counts as gone (a literal) */
    uint32_t nslots;          /* the ring's geometry as accepted at the HELLO */
    uint64_t seq;             /* sessions in the order they were accepted */
    uint64_t pos;             /* the daemon's own consumer position (tail is only published) */
    uint64_t acct_pos, acct_ns; /* position and time of the last counter check */
    uint64_t dropped_seen;    /* the ring's dropped counter as last read */
} ttm_session;

typedef struct ttm_qconn {
    ttm_ep ep;
    struct ttm_qconn *prev, *next;
    int fd;
    uint8_t in[TTM_SNAP_HDR_SIZE + 16];
    size_t inlen;
    ttm_bytes out;
    size_t outpos;
    bool close_after; /* close once out is written (after an ERROR) */
    bool dead;        /* closed; freed after the current epoll batch */
    uint64_t last_ns;
    /* query.c's output bounds: a query read waits in d->qwait until it may be built */
    struct ttm_qconn *wnext;
    bool pending, waited, large;
    ttm_snap_query req;
    uint64_t reply_ns;        /* when out was queued or last written to */
} ttm_qconn;

typedef struct ttm_daemon {
    ttm_daemon_config cfg;
    int epfd, listen_fd, query_fd, sig_fd, timer_fd, lock_fd;
    ttm_ep listen_ep, query_ep, sig_ep, timer_ep;
    ttm_registry *reg;
    uint64_t start_ns;
    bool stop;
    unsigned ticks;

    ttm_session *sessions;     /* every session, any state */
    uint32_t nsessions;        /* in the list */
    uint32_t nactive;          /* ACTIVE ones */
    ttm_qconn *qconns;
    uint32_t nqconns;
    ttm_qconn *qwait;          /* queries read and not yet built, oldest first (query.c) */
    ttm_report_service qsvc;     /* the query socket's bounds and counters (query.c) */
    uint64_t qbuf_large;       /* bytes of large replies buffered (under QUERY_OUT_MAX) */
    uint64_t qcut_logged_ns;
    /* Closed sessions and query connections wait here until the epoll batch that may still
     * name them is over (their prev pointer links this list). */
    ttm_session *dead_sessions;
    ttm_qconn *dead_qconns;

    ttm_dproc **procs;         /* ascending by pid */
    size_t nprocs, procs_cap;

    /* counters reported in the snapshot */
    uint64_t clients_total, clients_rejected, clients_refused, reattached;
    uint64_t events, events_rejected, prior_events, dropped, ring_errors, queries;
    uint64_t procs_dropped;
    struct ttm_metrics_http *metrics; /* the Prometheus endpoint (metrics_http.c); NULL when off */
    struct ttm_poc *poc;       /* the legacy listener's state (poc.c); NULL when off */
    uint32_t classes_seen;     /* TTM_CLASS_BIT of each class already logged once */
    bool control_logged;       /* the first client-sent control event was logged */
    /* state.c: persistence across restarts */
    uint64_t state_saves, state_errors, state_save_ns; /* writes, failures, last write's time */
    uint64_t state_last_ns, state_check_ns, state_sig;
    struct ttm_state_writer *state_writer; /* the checkpoint being written, or NULL */
    /* added for issue 9 (session.c) */
    uint32_t npending;         /* sessions in HANDSHAKE */
    uint32_t nsettling;        /* sessions in SETTLING */
    uint32_t no_pidfd;         /* sessions past HELLO without a pidfd (their exit is polled) */
    int exit_epfd;             /* epoll set of the pidfds; valid when exit_epoll_on */
    bool exit_epoll_on;
    bool stopping;             /* the final drains of a clean stop */
    ttm_ep exit_ep;
    uint64_t session_seq;
    uint64_t pending_evicted;  /* pre-HELLO connections closed to make room (also refused) */
    uint64_t counters_rejected; /* implausible ring counters (also ring_errors) */

    ttm_event batch[TTM_DAEMON_BATCH];
    uint32_t masks[TTM_DAEMON_BATCH]; /* class masks of the batch's events */
} ttm_daemon;

/* a + b, saturating at UINT64_MAX: sums of peer-reported counters never wrap. */
static inline uint64_t ttm__sat_add(uint64_t a, uint64_t b)
{
    uint64_t r;
    return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

/* CLOCK_MONOTONIC in nanoseconds (the clock clients stamp events with). */
uint64_t ttm__now_ns(void);

/* ---- listen.c: sockets, lock, pid file --------------------------------------------------- */

/* Makes sure the socket's directory exists (created 0700; 0750 in system mode) and may be
 * trusted: the default and the system directory must pass ttm__dir_check (paths.h), and the
 * system one is given to cfg.gid. Called before anything is created in it (the log file).
 * Returns 0, TTM_EPERM or TTM_EIO with one line in msg. */
int ttm__listen_dir(const ttm_daemon *d, char *msg, size_t msg_len);
/* After ttm__listen_dir: takes the daemon lock next to the socket, refuses when another daemon
 * holds it or listens on the socket, replaces a stale socket file, and binds and listens on
 * both sockets (0600 and 0660; both 0660 of cfg.gid in system mode). On failure msg gets one
 * line and nothing is left open. Returns 0, TTM_EEXIST (another daemon), TTM_EPERM or
 * TTM_EIO. */
int ttm__listen_open(ttm_daemon *d, char *msg, size_t msg_len);
/* Closes the listeners and removes the socket files (the lock file stays, see listen.c). */
void ttm__listen_close(ttm_daemon *d);
/* Writes the pid file when configured. Returns 0 or TTM_EIO (msg says why). */
int ttm__pidfile_write(const ttm_daemon *d, char *msg, size_t msg_len);
void ttm__pidfile_remove(const ttm_daemon *d);

/* ---- session.c: clients --------------------------------------------------------------------- */

/* Accepts every pending connection on the main socket. */
void ttm__session_accept(ttm_daemon *d);
/* Handles epoll events of a session's socket (HELLO, hang-up). */
void ttm__session_on_socket(ttm_daemon *d, ttm_session *s, uint32_t events);
/* Handles the doorbell of a session's ring (edge-triggered, never read): marks it due. */
void ttm__session_on_doorbell(ttm_daemon *d, ttm_session *s);
/* Handles the exit epoll set: sessions whose process exited start settling. */
void ttm__session_on_exit(ttm_daemon *d);
/* One loop turn's draining: first the sessions of exited processes are settled (each within a
 * budget; no other ring's events are applied until they are done), then every due ring (its
 * doorbell rang, its last drain stopped at its budget, or its nap is over) gets one budget.
 * Returns how long the loop may wait before the next one is due: 0, a number of nanoseconds,
 * or -1 (nothing due; wait for events). */
int64_t ttm__session_poll(ttm_daemon *d);
/* The periodic tick: marks every ring due, times out handshakes, ends lingering sessions,
 * checks that processes without a pidfd still exist, trims the exited processes kept. */
void ttm__session_tick(ttm_daemon *d);
/* Clean stop: settles the processes already gone, drains every other ring of at most what it
 * can hold (a producer that keeps writing cannot hold the stop up), detaches
 * (consumer_attached = 0) and closes every session without declaring the processes exited
 * (they reconnect to the next daemon). */
void ttm__session_close_all(ttm_daemon *d);
/* The process-table entry of pid, or NULL. */
ttm_dproc *ttm__proc_find(const ttm_daemon *d, uint32_t pid);
/* Frees the process table. */
void ttm__proc_table_free(ttm_daemon *d);

/* Binds and listens on path with mode after the same checks as the main socket (another
 * daemon there: TTM_EEXIST; a stale socket file is replaced); option names the option that
 * moves the path, for the error line in msg. Returns the non-blocking descriptor, or a
 * negative ttm_err. */
int ttm__listen_unix(const char *path, mode_t mode, const char *option, char *msg,
                     size_t msg_len);

/* For poc.c: the process-table entry of a process opening a connection (NULL when the table
 * is full of connected processes or memory ran out; sessions_open is incremented), whether a
 * process is gone (no such pid, or a zombie), and whether a ring session of pid is open. */
ttm_dproc *ttm__proc_attach(ttm_daemon *d, uint32_t pid, uint32_t uid);
bool ttm__process_gone(uint32_t pid);
bool ttm__session_holds(const ttm_daemon *d, uint32_t pid);

/* ---- poc.c: the legacy allocation-server socket (docs/COMPAT.md) --------------------------- */

/* Announces --devices (device-info events for devices 0..N-1 with the --arch profile) and,
 * with --poc-socket, binds the legacy socket. Returns 0, or an error with one line in msg
 * (nothing left open). */
int ttm__poc_open(ttm_daemon *d, char *msg, size_t msg_len);
/* Adds the legacy listener to the epoll set (after the loop's setup). Returns 0 or TTM_EIO. */
int ttm__poc_watch(ttm_daemon *d);
void ttm__poc_accept(ttm_daemon *d);
/* Handles epoll events of a legacy connection (owner of a TTM_EP_POC registration). */
void ttm__poc_on_event(ttm_daemon *d, void *conn, uint32_t events);
/* The periodic tick: decides the message size of idle connections, settles the exit of
 * processes whose connection closed while they still ran. */
void ttm__poc_tick(ttm_daemon *d);
/* True when a legacy connection of pid is open. */
bool ttm__poc_holds(const ttm_daemon *d, uint32_t pid);
/* Frees the connections closed during the last epoll batch. */
void ttm__poc_reap(ttm_daemon *d);
/* Clean stop: closes every connection (processes are not declared exited unless gone), the
 * listener and its socket file; frees the state. No-op when off. */
void ttm__poc_close(ttm_daemon *d);
/* The legacy protocol's counters for the snapshot (zeroes and an empty path when off). */
void ttm__poc_fill(const ttm_daemon *d, ttm_report_legacy *out);

/* ---- query.c: the read-only query socket -------------------------------------------------- */

void ttm__query_accept(ttm_daemon *d);
void ttm__query_on_event(ttm_daemon *d, ttm_qconn *q, uint32_t events);
/* Closes query connections idle for too long. */
void ttm__query_tick(ttm_daemon *d);
void ttm__query_close_all(ttm_daemon *d);
/* Builds the replies of waiting queries, within the reply budget and TTM_DAEMON_QUERY_TURN_BYTES
 * per call (the loop calls it once a turn). Returns true when some could be built now but were
 * left for the next turn (the loop should not block). */
bool ttm__query_poll(ttm_daemon *d);
/* Fills *out with the sections q asks for. Returns 0 or TTM_ENOMEM (out freed). */
int ttm__daemon_snapshot(ttm_daemon *d, const ttm_snap_query *q, ttm_report *out);

/* Frees the sessions and query connections closed during the last epoll batch. */
void ttm__daemon_reap(ttm_daemon *d);

/* ---- state.c: the state across restarts (docs/DAEMON.md, "Restart") ---------------------- */

/* Loads cfg.state_file when it exists (call with the daemon lock held, before serving): the
 * registry and process table are replaced by the saved ones, and processes that no longer run
 * are settled as exited. A missing file starts empty; a bad one gets one log line, is renamed
 * to STATE.bad and the daemon starts empty. Always returns 0: the daemon works without it. */
int ttm__state_load(ttm_daemon *d);
/* Writes the state atomically, now, after any checkpoint still being written (why names the
 * occasion in the log). Returns 0, TTM_EIO or TTM_ENOMEM (one log line for the first failure,
 * all counted). No-op with --no-state. */
int ttm__state_save(ttm_daemon *d, const char *why);
/* The periodic part: a checkpoint every TTM_STATE_CHECKPOINT_MS when something changed, and
 * the settling of restored processes that exit before they reattach. */
void ttm__state_tick(ttm_daemon *d);
/* At the handshake of a session whose ring's tail is tail (> 0; events taken by earlier
 * daemons): returns how many of them this registry never saw. For a process restored from a
 * state, the events the previous daemon consumed after the checkpoint are first replayed from
 * the ring while it still holds them whole (at most TTM_STATE_REPLAY_MAX, the newest), and one
 * line is logged; for any other process that is all of tail. */
uint64_t ttm__state_reattach(ttm_daemon *d, ttm_session *s, uint64_t tail);

/* ---- loop.c ------------------------------------------------------------------------------- */

/* Adds fd to the epoll set with events, pointing at ep. Returns 0 or TTM_EIO. */
int ttm__ep_add(ttm_daemon *d, int fd, uint32_t events, ttm_ep *ep);
/* Changes the events of a registered fd. */
int ttm__ep_mod(ttm_daemon *d, int fd, uint32_t events, ttm_ep *ep);
/* Removes fd from the epoll set (no-op for -1). */
void ttm__ep_del(ttm_daemon *d, int fd);
/* Runs the loop until a stop signal. Returns 0 or TTM_EIO. */
int ttm__daemon_run(ttm_daemon *d);
/* Logs the final summary: counters and one line per diagnosis class seen. */
void ttm__daemon_summary(ttm_daemon *d);

#endif /* TTM_DAEMON_DAEMON_H */
