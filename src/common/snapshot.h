/*
 * snapshot.h — the query protocol of ttmemd's read-only socket, and the snapshot it returns.
 *
 * A client (ttmem status, dump, record, top, metrics) connects to the query socket, sends one
 * QUERY frame naming the sections it wants, and reads one SNAPSHOT frame (or an ERROR frame);
 * it may send further queries on the same connection. Frames are a 16-byte header (magic,
 * version, type, payload length, status) and a payload. A SNAPSHOT payload is a list of
 * sections, each { u16 id, u16 zero, u32 length, bytes }; all integers are little-endian.
 *
 * The snapshot is a wire model of its own, not the core's structures: the daemon fills it from
 * the registry, the CLI turns it back into a report. Class counters travel as arrays indexed by
 * the core's class numbers (TTM_CLASS_MAP order), with their length on the wire.
 *
 * Every decoder validates every length against the bytes it was given and never allocates more
 * than the payload can describe. Decoded arrays are owned by the ttm_snapshot and freed by
 * ttm__snapshot_free().
 */
#ifndef TTM_COMMON_SNAPSHOT_H
#define TTM_COMMON_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/event.h"

#define TTM_SNAP_MAGIC 0x514d5454u /* "TTMQ" little-endian */
#define TTM_SNAP_VERSION 1u
#define TTM_SNAP_HDR_SIZE 16u
#define TTM_SNAP_MAX_FRAME (256u << 20) /* payload bytes a reader accepts */
#define TTM_SNAP_CLASSES_MAX 32u        /* room for the core's classes on the wire */
#define TTM_SNAP_MAX_PIDS 4u            /* pids listed per offender */
#define TTM_SNAP_NAME_LEN 16u           /* process name, NUL-terminated (/proc/PID/comm) */
#define TTM_SNAP_ERRMSG_MAX 200u

/* Message types, X(name, value, text, min_payload, max_payload). One table for the encoder,
 * the decoder and docs/DAEMON.md. An ERROR frame keeps its layout in every version so that a
 * client of another version can still print why it was refused. */
#define TTM_SNAP_MSG_MAP(X)                                                                     \
    X(QUERY, 1, "query", 16u, 16u)                                                              \
    X(SNAPSHOT, 2, "snapshot", 0u, TTM_SNAP_MAX_FRAME)                                          \
    X(ERROR, 3, "error", 2u, 2u + TTM_SNAP_ERRMSG_MAX)

typedef enum ttm_snap_msg {
#define TTM__SNAP_MSG_ENUM(name, value, text, minp, maxp) TTM_SNAP_MSG_##name = (value),
    TTM_SNAP_MSG_MAP(TTM__SNAP_MSG_ENUM)
#undef TTM__SNAP_MSG_ENUM
} ttm_snap_msg;

/* Sections of a snapshot, X(name, value, text). A query asks for a set of them (bit 1<<value);
 * a decoder skips a section id it does not know (newer daemon, same version). */
#define TTM_SNAP_SECTION_MAP(X)                                                                 \
    X(DAEMON, 1, "daemon")     /* daemon identity, clients, transport counters */              \
    X(TOTALS, 2, "totals")     /* registry totals and class counters */                        \
    X(DEVICES, 3, "devices")   /* per device: memtypes, capacities, peaks, classes */          \
    X(PROCS, 4, "processes")   /* per process: name, transport counters, bytes per device */   \
    X(LIVE, 5, "live")         /* the live buffers (dump) */                                   \
    X(FINDINGS, 6, "findings") /* classes with worst offenders, unmatched frees, leaks */     \
    X(LEGACY, 7, "legacy")     /* the legacy socket's counters (ttmemd --poc-socket) */    \
    X(SERVICE, 8, "service")   /* the query socket's limits and what they cut */

typedef enum ttm_snap_section {
#define TTM__SNAP_SEC_ENUM(name, value, text) TTM_SNAP_SEC_##name = (value),
    TTM_SNAP_SECTION_MAP(TTM__SNAP_SEC_ENUM)
#undef TTM__SNAP_SEC_ENUM
} ttm_snap_section;

#define TTM_SNAP_BIT(sec) (1u << (sec))
#define TTM_SNAP_WANT_STATUS                                                                    \
    (TTM_SNAP_BIT(TTM_SNAP_SEC_DAEMON) | TTM_SNAP_BIT(TTM_SNAP_SEC_TOTALS) |                   \
     TTM_SNAP_BIT(TTM_SNAP_SEC_DEVICES) | TTM_SNAP_BIT(TTM_SNAP_SEC_PROCS) |                   \
     TTM_SNAP_BIT(TTM_SNAP_SEC_LEGACY) | TTM_SNAP_BIT(TTM_SNAP_SEC_SERVICE))
#define TTM_SNAP_WANT_DUMP                                                                      \
    (TTM_SNAP_BIT(TTM_SNAP_SEC_DAEMON) | TTM_SNAP_BIT(TTM_SNAP_SEC_PROCS) |                    \
     TTM_SNAP_BIT(TTM_SNAP_SEC_LIVE))
#define TTM_SNAP_WANT_REPORT (TTM_SNAP_WANT_STATUS | TTM_SNAP_BIT(TTM_SNAP_SEC_FINDINGS))

/* Frame header as decoded. status is 0, or a negative ttm_err on an ERROR frame. */
typedef struct ttm_snap_frame {
    uint16_t version;
    uint16_t type;
    uint32_t length; /* payload bytes that follow the header */
    int32_t status;
} ttm_snap_frame;

/* QUERY payload. Zero limits mean the daemon's defaults. */
typedef struct ttm_snap_query {
    uint32_t sections;  /* TTM_SNAP_BIT set */
    uint32_t top;       /* worst offenders per class and unmatched addresses (0 = 10) */
    uint32_t max_leaks; /* leaks listed (0 = 20) */
    uint32_t max_live;  /* live buffers listed (0 = all) */
} ttm_snap_query;

typedef struct ttm_snap_daemon {
    char version[16];             /* "0.1.0" */
    uint32_t pid;
    uint32_t max_clients;
    uint32_t max_live_per_client; /* 0 = unlimited */
    uint32_t clients_connected;   /* sessions holding a ring now */
    uint64_t uptime_ns;
    uint64_t now_ns;              /* the daemon's CLOCK_MONOTONIC when the snapshot was taken */
    uint64_t clients_total;       /* sessions accepted since start */
    uint64_t clients_rejected;    /* HELLOs refused (malformed, version, descriptors, ring) */
    uint64_t clients_refused;     /* connections refused at the client limit */
    uint64_t reattached;          /* sessions that took over a ring from a previous daemon */
    uint64_t events;              /* events taken from rings */
    uint64_t events_rejected;     /* client-sent control kinds (process start/exit) ignored */
    uint64_t prior_events;        /* events a previous daemon took from reattached rings */
    uint64_t waited;              /* producer waits for room, summed over rings */
    uint64_t dropped;             /* events dropped while no daemon existed, as reported */
    uint64_t ring_errors;         /* rings that became unreadable (truncated, corrupt) */
    uint64_t queries;             /* queries served */
    uint64_t procs_dropped;       /* process entries not kept (table full) */
} ttm_snap_daemon;

#define TTM_SNAP_LEGACY_TYPES 16 /* message-type counters carried (index = AllocMessage type) */
#define TTM_SNAP_PATH_LEN 108    /* a Unix socket path, NUL included */

/* The legacy allocation-server socket (docs/COMPAT.md). */
typedef struct ttm_snap_legacy {
    char path[TTM_SNAP_PATH_LEN]; /* "" when the daemon does not listen on one */
    uint32_t forced_size;         /* --poc-size; 0 = detected per connection */
    uint32_t connected;           /* connections open */
    uint64_t connections;         /* accepted since start */
    uint64_t refused;             /* refused (limit, credentials, memory) */
    uint64_t closed_bad;          /* closed after 10 bad messages in a row */
    uint64_t bad;                 /* bad messages (implausible headers, garbage) */
    uint64_t resyncs;             /* resynchronisations after bad bytes */
    uint64_t skipped_bytes;       /* bytes skipped to resynchronise */
    uint64_t truncated;           /* streams that ended inside a message */
    uint64_t rejected;            /* messages ignored: device -1, a DUMP within a second */
    uint32_t ntypes;              /* entries of messages[] valid */
    uint64_t messages[TTM_SNAP_LEGACY_TYPES]; /* messages received, by type */
} ttm_snap_legacy;

/* The query socket: its bounds (docs/DAEMON.md) and every time one was reached. */
typedef struct ttm_snap_service {
    uint32_t query_conns;     /* connections open now */
    uint32_t query_max_conns; /* the limit; more are answered "too many" and closed */
    uint64_t query_out_max;   /* bytes of replies buffered for all connections, large replies */
    uint64_t query_buffered;  /* bytes of replies waiting to be read now */
    uint64_t query_buffered_peak;
    uint64_t query_refused;   /* connections refused at query_max_conns */
    uint64_t query_waited;    /* queries that waited for room under query_out_max */
    uint64_t query_cut;       /* connections closed: a reply not read within the deadline */
    uint64_t query_evicted;   /* connections closed at the limit for a newcomer: the one whose
                               * reply had waited longest to be read */
    uint64_t query_idle;      /* connections closed after the idle timeout */
} ttm_snap_service;

typedef struct ttm_snap_totals {
    uint64_t events, allocs, frees, marks;
    uint64_t live_records;
    uint64_t reuse_allocs, reuse_size_changes;
    uint64_t offenders_dropped, history_dropped, freed_objs_dropped, processes_dropped;
    uint64_t first_ts, last_ts;
    uint32_t nclasses;                           /* entries valid in the arrays below */
    uint64_t class_count[TTM_SNAP_CLASSES_MAX];
    uint64_t class_bytes[TTM_SNAP_CLASSES_MAX];
} ttm_snap_totals;

typedef struct ttm_snap_mem {
    uint64_t live_bytes, live_count, peak_bytes, peak_ts, allocs, frees;
} ttm_snap_mem;

typedef struct ttm_snap_device {
    uint16_t device;
    uint32_t arch;
    uint64_t capacity[TTM_SPACE_COUNT]; /* 0 = unknown */
    uint64_t space_peak[TTM_SPACE_COUNT];
    uint64_t space_peak_ts[TTM_SPACE_COUNT];
    ttm_snap_mem mem[TTM_MEMTYPE_COUNT];
    uint32_t nclasses;
    uint64_t class_count[TTM_SNAP_CLASSES_MAX];
    uint64_t class_bytes[TTM_SNAP_CLASSES_MAX];
} ttm_snap_device;

typedef struct ttm_snap_proc_mem {
    uint16_t device;
    ttm_snap_mem mem[TTM_MEMTYPE_COUNT];
} ttm_snap_proc_mem;

typedef struct ttm_snap_proc {
    uint32_t pid;
    uint32_t uid;
    char name[TTM_SNAP_NAME_LEN];
    bool alive;          /* the registry's view: not yet exited */
    bool connected;      /* a session holds its ring now */
    bool reattached;     /* its ring was handed over from a previous daemon */
    uint64_t first_ts, exit_ts;
    uint64_t live_records, leaked_count, leaked_bytes, anomalies;
    uint64_t events;       /* events taken from its rings */
    uint64_t waited;       /* producer waits for room */
    uint64_t dropped;      /* events dropped while no daemon existed */
    uint64_t prior_events; /* events a previous daemon took from its ring */
    uint64_t sessions;     /* sessions opened */
    size_t ndevices;
    ttm_snap_proc_mem *devices;
} ttm_snap_proc;

typedef struct ttm_snap_live {
    uint32_t pid;
    uint16_t device;
    uint8_t memtype;
    uint16_t flags;
    uint32_t refs;
    uint64_t addr, size, obj, ts;
} ttm_snap_live;

typedef struct ttm_snap_offender {
    uint8_t cls;
    uint8_t memtype;
    uint16_t device;
    uint64_t addr, count, bytes, first_ts, last_ts;
    uint32_t pids[TTM_SNAP_MAX_PIDS];
    uint8_t npids;
    bool more_pids;
} ttm_snap_offender;

typedef struct ttm_snap_class {
    uint64_t count, bytes, distinct_addrs;
    size_t noffenders;
    ttm_snap_offender *offenders;
} ttm_snap_class;

typedef struct ttm_snap_unmatched {
    uint16_t device;
    uint8_t memtype;
    uint64_t addr, excess, unknown, dbl, total;
    uint32_t pids[TTM_SNAP_MAX_PIDS];
    uint8_t npids;
    bool more_pids;
} ttm_snap_unmatched;

typedef struct ttm_snap_leak {
    uint32_t pid;
    uint16_t device;
    uint8_t memtype;
    uint64_t addr, size, obj, alloc_ts, exit_ts;
} ttm_snap_leak;

typedef struct ttm_snap_findings {
    double excess_free_pct;
    uint64_t unmatched_frees, unmatched_addrs;
    size_t nunmatched;
    ttm_snap_unmatched *unmatched;
    uint32_t nclasses;
    ttm_snap_class classes[TTM_SNAP_CLASSES_MAX];
    uint64_t leaked_count, leaked_bytes;
    size_t nleaks;
    ttm_snap_leak *leaks;
} ttm_snap_findings;

/* A snapshot: the sections present (TTM_SNAP_BIT set) and their contents. Arrays belong to the
 * snapshot; ttm__snapshot_free() releases them. */
typedef struct ttm_snapshot {
    uint32_t sections;
    ttm_snap_daemon daemon;
    ttm_snap_totals totals;
    size_t ndevices;
    ttm_snap_device *devices;
    size_t nprocs;
    ttm_snap_proc *procs;
    uint64_t live_total; /* live records in the registry (nlive may be fewer: max_live) */
    size_t nlive;
    ttm_snap_live *live;
    ttm_snap_findings findings;
    ttm_snap_legacy legacy;
    ttm_snap_service service;
} ttm_snapshot;

/* A growable output buffer. Zero-initialise it; ttm__snap_buf_free() releases it. */
typedef struct ttm_snap_buf {
    uint8_t *data;
    size_t len, cap;
} ttm_snap_buf;

void ttm__snap_buf_free(ttm_snap_buf *b);

/* Name of a message type or section ("snapshot", "live"); "?" when unknown. */
const char *ttm__snap_msg_name(unsigned type);
const char *ttm__snap_section_name(unsigned sec);

/* Decodes and checks a frame header (TTM_SNAP_HDR_SIZE bytes of buf): magic, a known type, a
 * payload length within the type's bounds, and the version (an ERROR frame of any version is
 * accepted so its message can be shown). Returns 0, TTM_EPROTO (msg says why) or
 * TTM_EVERSION. msg may be NULL. */
int ttm__snap_decode_frame(const uint8_t *buf, size_t len, ttm_snap_frame *out, char *msg,
                           size_t msg_len);

/* Appends a whole QUERY frame (header and payload) to out. Returns 0 or TTM_ENOMEM. */
int ttm__snap_encode_query(const ttm_snap_query *q, ttm_snap_buf *out);
/* Decodes a QUERY payload. Returns 0 or TTM_EPROTO. */
int ttm__snap_decode_query(const uint8_t *payload, size_t len, ttm_snap_query *out);

/* Appends a whole ERROR frame: status (a negative ttm_err) and a one-line message (cut at
 * TTM_SNAP_ERRMSG_MAX bytes; NULL = ""). Returns 0 or TTM_ENOMEM. */
int ttm__snap_encode_error(int status, const char *msg, ttm_snap_buf *out);
/* Decodes an ERROR payload into msg (NUL-terminated, cut to msg_len). Returns 0 or TTM_EPROTO. */
int ttm__snap_decode_error(const uint8_t *payload, size_t len, char *msg, size_t msg_len);

/* Appends a whole SNAPSHOT frame holding the sections named in s->sections. Returns 0,
 * TTM_ENOMEM, or TTM_ERANGE (the payload would exceed TTM_SNAP_MAX_FRAME). */
int ttm__snap_encode_snapshot(const ttm_snapshot *s, ttm_snap_buf *out);
/* Decodes a SNAPSHOT payload into *out (zeroed first; on failure nothing stays allocated).
 * Returns 0, TTM_EPROTO (msg says what is wrong; msg may be NULL) or TTM_ENOMEM. */
int ttm__snap_decode_snapshot(const uint8_t *payload, size_t len, ttm_snapshot *out, char *msg,
                              size_t msg_len);
/* Frees the arrays of a snapshot and zeroes it; NULL is a no-op. */
void ttm__snapshot_free(ttm_snapshot *s);

/* Client side, blocking: connects to the query socket at path, sends q, and decodes the
 * SNAPSHOT reply into *out, all within timeout_ms. Returns 0; TTM_ECONN (nothing listens at
 * path); TTM_ETIMEDOUT; TTM_EVERSION, TTM_EPROTO, TTM_ECLOSED, TTM_EIO, TTM_ENOMEM; or the
 * daemon's negative status from an ERROR frame. msg (msg_len bytes) receives one line. */
int ttm__snap_fetch(const char *path, const ttm_snap_query *q, int timeout_ms, ttm_snapshot *out,
                    char *msg, size_t msg_len);

/* The query socket path that belongs to a daemon socket path: SOCKET + ".query". Returns 0 or
 * TTM_ERANGE (does not fit len, or a sockaddr_un). */
int ttm__snap_query_path(const char *socket_path, char *buf, size_t len);

#endif /* TTM_COMMON_SNAPSHOT_H */
