/*
 * proc.h — ttmemd's process table: the processes it knows (ttm_dproc, live and exited), the
 * connections through which they speak (native ring sessions and legacy connections attach
 * and detach here), their liveness (a pidfd in one exit epoll set, else /proc, and a
 * once-a-second check) and the settlement of their exits (the registry's budgeted exit step,
 * the one log line of what leaked, the bound on exited processes kept).
 *
 * The transports (session.c, poc.c) call this table and never each other: whether a process
 * still holds another connection, whether it is gone, and the applying of its exit are
 * answered here, whatever transport the other connection belongs to.
 */
#ifndef TTM_DAEMON_PROC_H
#define TTM_DAEMON_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/event.h"
#include "daemon/loop.h"
#include "daemon/side_ingest.h"

typedef struct ttm_daemon ttm_daemon;

/* A process as the daemon knows it beyond the registry: its name, user and transport
 * counters. Kept after the process exits (bounded by TTM_DAEMON_MAX_PROCS). */
typedef struct ttm_dproc {
    uint32_t pid, uid;
    char name[16];
    uint32_t sessions_open;  /* connections attached: ring sessions (lingering ones too) and
                              * legacy connections (ttm__proc_attach) */
    bool exited;
    bool reattached;
    uint64_t events, rejected, waited, dropped, prior_events, sessions;
    uint64_t last_ns;        /* last session change, for eviction */
    bool restored;           /* loaded from a state file (state.c), not reattached since */
    uint64_t state_ring_tail; /* state.c: its ring's tail when the state was written (0: none) */
    uint64_t state_ring_ino;  /* ... and that ring's inode */
    ttm_side_counts side;     /* what its sessions' side logs did (session.c) */
    uint64_t exit_ts;         /* the time of its exit's first step (the journal's EXIT record) */
    char *cmdline;            /* /proc/PID/cmdline as read when it last connected: the arguments
                               * separated by NUL bytes, cmdline_len bytes (at most
                               * TTM_DAEMON_CMDLINE_MAX), owned; NULL when it could not be read
                               * (the process already gone, a kernel thread, hidepid) */
    size_t cmdline_len;
} ttm_dproc;

#define TTM_DAEMON_CMDLINE_MAX 4096u /* bytes of a process's /proc/PID/cmdline kept */


/* How a connection's process was found gone. */
typedef enum ttm_gone_how {
    TTM_GONE_PIDFD,  /* its pidfd became readable */
    TTM_GONE_POLLED, /* /proc says so (no pidfd), looked at before applying events */
    TTM_GONE_TICK    /* /proc says so (no pidfd), at the once-a-second check */
} ttm_gone_how;

typedef struct ttm_pconn ttm_pconn;
/* Called when c's process is found gone (c stays attached: its transport decides). */
typedef void (*ttm_gone_fn)(ttm_daemon *d, ttm_pconn *c, ttm_gone_how how);

/* A connection of a process, embedded in its transport's struct (owner). */
struct ttm_pconn {
    struct ttm_pconn *prev, *next; /* d->pconns: every attached connection */
    ttm_dproc *proc;               /* NULL when not attached */
    uint32_t pid;
    bool settling;                 /* its transport settles the process's exit through it */
    int pidfd;                     /* watched: in the exit epoll set; -1 otherwise */
    bool polled;                   /* watched without a pidfd: /proc is looked at */
    ttm_gone_fn gone;              /* NULL: not watched */
    void *owner;
};

/* Prepares c (not attached, not watched) for owner. */
void ttm__pconn_init(ttm_pconn *c, void *owner);

/* Registers the table's once-a-second check in d->loop: processes without a pidfd, processes
 * whose last connection closed while they still ran, the exited processes kept. */
void ttm__proc_register(ttm_daemon *d);

/* Attaches c to the entry of pid (found, reused for a new process with a reused pid, or
 * created; its name read from /proc, else comm marked; its command line read from /proc, else
 * the one read at an earlier connection kept): counts the connection. Returns the
 * entry, or NULL when the table is full of connected processes or memory ran out. */
ttm_dproc *ttm__proc_attach(ttm_daemon *d, ttm_pconn *c, uint32_t pid, uint32_t uid,
                            const char *comm);
/* Detaches c (stops watching it): no-op when not attached. */
void ttm__proc_detach(ttm_daemon *d, ttm_pconn *c);
/* True when a connection of pid other than except (may be NULL) is attached; settling says
 * whether connections settling an exit count. */
bool ttm__proc_held(const ttm_daemon *d, uint32_t pid, const ttm_pconn *except, bool settling);
/* Replaces the characters of a process name that cannot be shown in a one-line log or a
 * table with '?'. */
void ttm__proc_name_clean(char *name);
/* Reads /proc/PID/cmdline into buf (at most len bytes: the arguments separated by NUL bytes,
 * the last one's NUL dropped). Returns the bytes read, 0 when it cannot be read or is empty.
 * The one reader of command lines in the daemon: attaching keeps what it gives (ttm_dproc). */
size_t ttm__proc_read_cmdline(uint32_t pid, char *buf, size_t len);
/* The entry of pid, or NULL. */
ttm_dproc *ttm__proc_find(const ttm_daemon *d, uint32_t pid);

/* Watches c's process for its exit (c attached; sock_fd its socket): the peer's pidfd
 * (SO_PEERPIDFD, Linux 6.5), else pidfd_open(2), else /proc. gone is called when the process
 * is found gone (from ttm__proc_note_exits or the tick). */
void ttm__proc_watch(ttm_daemon *d, ttm_pconn *c, int sock_fd, ttm_gone_fn gone);
/* Stops watching c (no-op when not watched). */
void ttm__proc_unwatch(ttm_daemon *d, ttm_pconn *c);
/* Looks for the exits that have happened: the ready pidfds, and /proc for the watched
 * connections without one; each found calls its gone callback. */
void ttm__proc_note_exits(ttm_daemon *d);
/* Whether c's process is gone now: its pidfd is readable, or /proc says so. */
bool ttm__proc_conn_gone(const ttm_pconn *c);
/* 1 when pid no longer runs (no such process, or a zombie). */
bool ttm__pid_gone(uint32_t pid);

/* The records each of nsettling exits being settled may reclaim in one loop turn: a share of
 * the turn's (32768, or TTMEMD_TEST_EXIT_RECORDS), at least TTM_DAEMON_BUDGET, at least 1. */
size_t ttm__proc_exit_records(unsigned nsettling);
/* Whether the exits being settled may take their step this turn: always, unless the test hook
 * TTMEMD_TEST_EXIT_LOCKSTEP ties the steps to the queries answered (one step per query). */
bool ttm__proc_exit_may_step(const ttm_daemon *d);
/* One step of pid's exit: at most budget of its records are reclaimed. c is the connection
 * through which it is settled (NULL: none). Returns false while records are left (call again
 * in a later turn); true when it is done (the entry is marked exited and ONE line logs what
 * leaked; away: the process exited while no daemon ran) or is not c's to apply (another
 * connection of the process remains and the exit has not begun: the last one applies it). */
bool ttm__proc_exit_step(ttm_daemon *d, const ttm_pconn *c, uint32_t pid, size_t budget,
                         const char *why, bool away);
/* A connection of pid closed (detached) while the process may run on: when no other
 * connection holds it, the process has exited if it is gone (settled at once: why), else,
 * when watch, it is watched and settled when the once-a-second check finds it gone. */
void ttm__proc_released(ttm_daemon *d, uint32_t pid, const char *why, bool watch);
/* Settles the processes released earlier that are gone now (the check of the tick; also at a
 * clean stop). */
void ttm__proc_check_released(ttm_daemon *d);
/* Keeps at most --keep-exited exited processes without a connection (the most recent); the
 * others are forgotten here and in the registry and counted in procs_dropped. */
void ttm__proc_trim(ttm_daemon *d);
/* Logs the first appearance of each anomaly class in mask (given to ev of pid, entry p, which
 * may be NULL; via: "" or ", legacy client"), never one line per event. */
void ttm__proc_note_classes(ttm_daemon *d, uint32_t pid, const ttm_dproc *p, const char *via,
                            const ttm_event *ev, uint32_t mask);
/* Frees the table and closes the exit epoll set. */
void ttm__proc_table_free(ttm_daemon *d);

#endif /* TTM_DAEMON_PROC_H */
