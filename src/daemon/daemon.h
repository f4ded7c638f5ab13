/*
 * daemon.h — what ttmemd's files share: its configuration, the daemon state (listeners,
 * sessions, process table, query connections, counters) and the functions that move events
 * from client rings into the core registry and snapshots out to the query socket.
 *
 * One thread runs everything from one event loop (loop.h, which knows none of this): main.c
 * wires the modules into it, and each registers its own watchers and hooks: native clients and
 * the draining of their rings (session.c), the query socket (query.c), the legacy socket
 * (poc.c, poc_xlate.c), the Prometheus endpoint (metrics_http.c), the process table with
 * liveness and exits (proc.h) and the restart state (state.c). The transports call the process
 * table, never each other. Nothing here is thread-safe, by design.
 */
#ifndef TTM_DAEMON_DAEMON_H
#define TTM_DAEMON_DAEMON_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/clock.h"
#include "common/event.h"
#include "common/journal.h"
#include "common/ring.h"
#include "core/report.h"
#include "core/registry.h"
#include "daemon/loop.h"
#include "daemon/proc.h"
#include "daemon/side_ingest.h"

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
    /* the run journal (journal_out.c, docs/DAEMON.md "The journal") */
    char journal_path[PATH_MAX]; /* --journal: a directory, or one file ending in .ttmem; "" off */
    char journal_title[512];     /* --journal-title: the RUN chunk ("" = none) */
    uint64_t journal_file_bytes; /* --journal-file-bytes: rotate at this size (directory) */
    uint64_t journal_max_bytes;  /* --journal-max-bytes: the run's files in the directory, or
                                    the one file's cap */
    /* the usage history (history.h, docs/DAEMON.md "History") */
    uint32_t history_interval_ms; /* --history-interval; 0 = TTM_HISTORY_INTERVAL_MS_DEFAULT */
    uint32_t history_len;         /* --history-len: samples kept (TTM_HISTORY_LEN_DEFAULT);
                                   * 0 = off */
} ttm_daemon_config;

typedef enum ttm_session_state {
    TTM_SESSION_HANDSHAKE, /* connected, waiting for the HELLO */
    TTM_SESSION_ACTIVE,    /* ring mapped and drained */
    TTM_SESSION_LINGER,    /* connection closed by a process that still runs */
    TTM_SESSION_SETTLING   /* the process is gone (or counts as gone): drained, then its exit
                              is applied; no other ring's events are applied meanwhile */
} ttm_session_state;

typedef struct ttm_session {
    ttm_watch sock_w, bell_w;
    ttm_loop_dead dead_node;  /* freed after the epoll batch that closed it */
    struct ttm_session *prev, *next;
    ttm_session_state state;
    int fd, memfd, efd;       /* -1 when closed */
    uint32_t pid, uid;
    ttm_pconn pc;             /* its connection in the process table (proc.h): pc.proc is
                                 NULL until the HELLO is accepted */
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
    bool dead;                /* closed; freed after the current epoll batch (dead_node) */
    /* added for issue 9 (session.c) */
    const char *exit_why;     /* SETTLING: why the process counts as gone (a literal) */
    uint32_t nslots;          /* the ring's geometry as accepted at the HELLO */
    uint64_t seq;             /* sessions in the order they were accepted */
    uint64_t pos;             /* the daemon's own consumer position (tail is only published) */
    uint64_t acct_pos, acct_ns; /* position and time of the last counter check */
    uint64_t dropped_seen;    /* the ring's dropped counter as last read */
    /* added for issue 11 (session.c, side_ingest.h) */
    ttm_side_in *side;        /* the side log's reader; NULL: the client sent none, or it was
                                 refused (every stack and scope id it sends becomes 0) */
} ttm_session;

typedef struct ttm_qconn {
    ttm_watch w;
    ttm_loop_dead dead_node;  /* freed after the epoll batch that closed it */
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

struct ttm_daemon;

/* A module's part of every snapshot, embedded in the module and registered with
 * ttm__report_part_add(): after the core's sections, report_fill.c calls fill for each part
 * whose sections were asked, so a new source of report data is one module and one call. */
typedef struct ttm_report_part {
    uint32_t sections; /* the TTM_SNAP_BIT set it fills */
    void (*fill)(const struct ttm_daemon *d, const void *owner, ttm_report *out);
    const void *owner;
    struct ttm_report_part *next;
} ttm_report_part;

typedef struct ttm_daemon {
    ttm_daemon_config cfg;
    ttm_loop *loop;            /* the event loop (loop.h); main.c wires the modules into it */
    int listen_fd, query_fd, lock_fd;
    ttm_watch listen_w, query_w; /* the listeners' watchers (session.c, query.c) */
    ttm_loop_hook session_tick, session_sleep, query_tick, query_sleep, state_tick, daemon_tick;
    ttm_registry *reg;
    uint64_t start_ns;

    ttm_session *sessions;     /* every session, any state */
    uint32_t nsessions;        /* in the list */
    uint32_t nactive;          /* ACTIVE ones */
    ttm_qconn *qconns;
    uint32_t nqconns;
    ttm_qconn *qwait;          /* queries read and not yet built, oldest first (query.c) */
    ttm_report_service qsvc;     /* the query socket's bounds and counters (query.c) */
    uint64_t qbuf_large;       /* bytes of large replies buffered (under QUERY_OUT_MAX) */
    uint64_t qcut_logged_ns;

    /* the process table (proc.c) */
    ttm_dproc **procs;         /* ascending by pid */
    size_t nprocs, procs_cap;
    ttm_pconn *pconns;         /* every connection attached to a process (sessions, legacy) */
    uint32_t *released;        /* pids whose last connection closed while they still ran */
    size_t nreleased;
    bool released_full_logged;
    ttm_loop_hook proc_tick;
    uint32_t no_pidfd;         /* connections watched without a pidfd (their exit is polled) */
    int exit_epfd;             /* epoll set of the pidfds; valid when exit_epoll_on */
    bool exit_epoll_on;
    ttm_watch exit_w;

    /* counters reported in the snapshot */
    uint64_t clients_total, clients_rejected, clients_refused, reattached;
    uint64_t events, events_rejected, prior_events, dropped, ring_errors, queries;
    uint64_t procs_dropped;
    struct ttm_metrics_http *metrics; /* the Prometheus endpoint (metrics_http.c); NULL when off */
    struct ttm_poc *poc;       /* the legacy listener's state (poc.c); NULL when off */
    ttm_report_part *report_parts; /* the modules' parts of a snapshot (report_fill.c) */
    uint32_t classes_seen;     /* TTM_CLASS_BIT of each class already logged once */
    bool control_logged;       /* the first client-sent control event was logged */
    /* state.c: persistence across restarts */
    uint64_t state_saves, state_errors, state_save_ns; /* writes, failures, last write's time */
    uint64_t state_last_ns, state_check_ns, state_sig;
    struct ttm_state_writer *state_writer; /* the checkpoint being written, or NULL */
    /* added for issue 9 (session.c) */
    uint32_t npending;         /* sessions in HANDSHAKE */
    uint32_t nsettling;        /* sessions in SETTLING */
    bool stopping;             /* the final drains of a clean stop */
    uint64_t session_seq;
    uint64_t pending_evicted;  /* pre-HELLO connections closed to make room (also refused) */
    uint64_t counters_rejected; /* implausible ring counters (also ring_errors) */
    /* added for issue 11 (session.c) */
    ttm_side_counts side;      /* what the side logs of every session did */
    /* added for issue 12 (journal_out.c) */
    struct ttm_jout *journal;  /* the run journal being written; NULL when off or stopped */
    /* the usage history (history.h): sampled at the tick, the HISTORY section's part */
    struct ttm_history *history; /* NULL when off */
    ttm_loop_hook history_tick;
    ttm_report_part history_part;

    ttm_event batch[TTM_DAEMON_BATCH];
    uint32_t masks[TTM_DAEMON_BATCH]; /* class masks of the batch's events */
} ttm_daemon;

/* a + b, saturating at UINT64_MAX: sums of peer-reported counters never wrap. */
static inline uint64_t ttm__sat_add(uint64_t a, uint64_t b)
{
    uint64_t r;
    return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}


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

/* Registers the native sessions in d->loop: the main socket's watcher (accepts), every
 * session's socket and doorbell, the tick (every ring due, handshake timeouts, lingering
 * sessions) and the before-sleep hook that
 * drains: the exits first (each within a budget; no other ring's events are applied until
 * they are done), then one budget per due ring. Returns 0 or TTM_EIO. */
int ttm__session_register(ttm_daemon *d);
/* Clean stop: settles the processes already gone, drains every other ring of at most what it
 * can hold (a producer that keeps writing cannot hold the stop up), detaches
 * (consumer_attached = 0) and closes every session without declaring the processes exited
 * (they reconnect to the next daemon). */
void ttm__session_close_all(ttm_daemon *d);
/* Rewrites the stack and scope ids of ev[0..n), copied from s's ring, from the client's ids
 * into the registry's (side_ingest.h; the side log must have been read as far as the events
 * need, as session.c does before every batch), counting unknown ids for s's process and the
 * daemon. For state.c's replay of a ring at a reattach. */
void ttm__session_side_rewrite(ttm_daemon *d, ttm_session *s, ttm_event *ev, size_t n);
/* Binds and listens on path with mode after the same checks as the main socket (another
 * daemon there: TTM_EEXIST; a stale socket file is replaced); option names the option that
 * moves the path, for the error line in msg. Returns the non-blocking descriptor, or a
 * negative ttm_err. */
int ttm__listen_unix(const char *path, mode_t mode, const char *option, char *msg,
                     size_t msg_len);

/* ---- poc.c: the legacy allocation-server socket (docs/COMPAT.md) --------------------------- */

/* With --poc-socket, binds the legacy socket. Returns 0, or an error with one line in msg
 * (nothing left open). */
int ttm__poc_open(ttm_daemon *d, char *msg, size_t msg_len);
/* Registers the legacy listener in d->loop (its connections, and a tick that decides the
 * message size of idle connections). No-op when off. Returns 0 or TTM_EIO. */
int ttm__poc_register(ttm_daemon *d);
/* Clean stop: closes every connection (processes are not declared exited unless gone), the
 * listener and its socket file; frees the state. No-op when off. */
void ttm__poc_close(ttm_daemon *d);

/* ---- query.c: the read-only query socket -------------------------------------------------- */

/* Registers the query socket in d->loop: its watcher (accepts), the connections, the tick
 * (connections whose reply is not read, or idle too long, are closed) and the before-sleep
 * hook that builds the replies of waiting queries within the reply budget and
 * TTM_DAEMON_QUERY_TURN_BYTES per turn (after the rings). Returns 0 or TTM_EIO. */
int ttm__query_register(ttm_daemon *d);
/* Closes every query connection (clean stop). */
void ttm__query_close_all(ttm_daemon *d);
/* Fills *out with the sections q asks for. Returns 0 or TTM_ENOMEM (out freed). */
int ttm__daemon_snapshot(ttm_daemon *d, const ttm_snap_query *q, ttm_report *out);
/* Adds a module's part of every snapshot (p is the module's; it lives as long as d). */
void ttm__report_part_add(ttm_daemon *d, ttm_report_part *p);
/* Removes a part added before (no-op when it is not there). */
void ttm__report_part_del(ttm_daemon *d, ttm_report_part *p);

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
/* Registers the periodic part in d->loop: a checkpoint every TTM_STATE_CHECKPOINT_MS when
 * something changed, and the settling of restored processes that exit before they
 * reattach. */
void ttm__state_register(ttm_daemon *d);
/* At the handshake of a session whose ring's tail is tail (> 0; events taken by earlier
 * daemons): returns how many of them this registry never saw. For a process restored from a
 * state, the events the previous daemon consumed after the checkpoint are first replayed from
 * the ring while it still holds them whole (at most TTM_STATE_REPLAY_MAX, the newest), and one
 * line is logged; for any other process that is all of tail. */
uint64_t ttm__state_reattach(ttm_daemon *d, ttm_session *s, uint64_t tail);

/* ---- journal_out.c: the run journal (docs/DAEMON.md "The journal", docs/JOURNAL.md) ------- */

#define TTM_JOURNAL_FILE_BYTES_DEFAULT (256ull << 20)
#define TTM_JOURNAL_MAX_BYTES_DEFAULT (4ull << 30)

/* With --journal, opens the journal (call after the state is loaded: a restored registry
 * begins the file with a STATE chunk). Returns 0, or an error with one line in msg. */
int ttm__journal_open(ttm_daemon *d, char *msg, size_t msg_len);
/* The records of n events applied for pid (masks: the classes the registry gave them), after
 * they were applied. Cheap when off. */
void ttm__journal_events(ttm_daemon *d, uint32_t pid, const ttm_event *ev,
                         const uint32_t *masks, size_t n);
/* One process record: START with the name the daemon knows and the command line from /proc
 * (when it can still be read), EXIT (ts: the exit's time as the registry was given it, status
 * -1: the daemon does not wait for its clients) or FORGET. */
void ttm__journal_proc(ttm_daemon *d, uint8_t state, uint32_t pid, uint64_t ts);
/* The DAEMON chunk of a full report the query socket answered (reason 1): r's DAEMON, PROCS,
 * LEGACY and SERVICE sections as sent. */
void ttm__journal_report(ttm_daemon *d, const ttm_report *r);
/* Clean stop: a DAEMON chunk (reason 2), the last block, the file closed. */
void ttm__journal_close(ttm_daemon *d);
/* "SIZE" with an optional K, M or G suffix (powers of 1024) into *out. Returns 0 or
 * TTM_EINVAL (not a number, 0, or too large). */
int ttm__journal_parse_size(const char *s, uint64_t *out);

/* ---- main.c ------------------------------------------------------------------------------- */

/* Logs the final summary: counters and one line per diagnosis class seen. */
void ttm__daemon_summary(ttm_daemon *d);

#endif /* TTM_DAEMON_DAEMON_H */
