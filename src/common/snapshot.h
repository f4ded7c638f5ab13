/*
 * snapshot.h — the query protocol of ttmemd's read-only socket, and the snapshot it returns.
 *
 * A client (ttmem status, dump, record, top, metrics) connects to the query socket, sends one
 * QUERY frame naming the sections it wants, and reads one SNAPSHOT frame (or an ERROR frame);
 * it may send further queries on the same connection. Frames are a 16-byte header (magic,
 * version, type, payload length, status) and a payload. A SNAPSHOT payload is a list of
 * sections, each { u16 id, u16 zero, u32 length, bytes }; all integers are little-endian.
 *
 * A section's bytes are the wire form (common/schema.h) of the rows of a record table that
 * belong to it: the daemon encodes its report (core/report.h) and the CLI decodes into the
 * same report; this file knows frames and sections, not the report's fields. Class counters
 * travel as arrays indexed by the core's class numbers (TTM_CLASS_MAP order), with their
 * length on the wire.
 *
 * Every decoder validates every length against the bytes it was given and never allocates more
 * than the payload can describe. The blocking client is snapclient.c.
 */
#ifndef TTM_COMMON_SNAPSHOT_H
#define TTM_COMMON_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/bytes.h"
#include "common/schema.h"

#define TTM_SNAP_MAGIC 0x514d5454u /* "TTMQ" little-endian */
#define TTM_SNAP_VERSION 2u /* 2: sections are the report tables' wire form */
#define TTM_SNAP_HDR_SIZE 16u
#define TTM_SNAP_MAX_FRAME (256u << 20) /* payload bytes a reader accepts */
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
    X(SERVICE, 8, "service")   /* the query socket's limits and what they cut */             \
    X(STACKS, 9, "stacks")     /* call sites: leak groups, live sites, phases, breakdown,     \
                                * the stacks, modules and strings they refer to, and the sites \
                                * of the findings' offenders, leaks and live buffers */    \
    X(CAUSES, 10, "causes")    /* the causes of the unmatched frees (core/causes.h): small, so \
                                * status and top ask for it without the findings */          \
    X(PROCINFO, 11, "procinfo") /* what identifies each process of PROCS beyond its name: its \
                                 * command line (a section of its own, so that PROCS keeps the \
                                 * bytes an older peer reads) */                                \
    X(HISTORY, 12, "history")   /* the daemon's usage history: every device's DRAM and L1 use \
                                 * sampled at a fixed interval (daemon/history.h); asked for  \
                                 * by a monitor's first frame, not by status */              \
    X(PROCSITES, 13, "procsites") /* each process's top live allocation sites (the stacks they \
                                   * name are in STACKS when it is asked too): `ttmem top`'s  \
                                   * process view asks for it while it is shown */

typedef enum ttm_snap_section {
#define TTM__SNAP_SEC_ENUM(name, value, text) TTM_SNAP_SEC_##name = (value),
    TTM_SNAP_SECTION_MAP(TTM__SNAP_SEC_ENUM)
#undef TTM__SNAP_SEC_ENUM
} ttm_snap_section;

#define TTM_SNAP_BIT(sec) (1u << (sec))
#define TTM_SNAP_WANT_STATUS                                                                    \
    (TTM_SNAP_BIT(TTM_SNAP_SEC_DAEMON) | TTM_SNAP_BIT(TTM_SNAP_SEC_TOTALS) |                   \
     TTM_SNAP_BIT(TTM_SNAP_SEC_DEVICES) | TTM_SNAP_BIT(TTM_SNAP_SEC_PROCS) |                   \
     TTM_SNAP_BIT(TTM_SNAP_SEC_LEGACY) | TTM_SNAP_BIT(TTM_SNAP_SEC_SERVICE) |                   \
     TTM_SNAP_BIT(TTM_SNAP_SEC_CAUSES) | TTM_SNAP_BIT(TTM_SNAP_SEC_PROCINFO))
#define TTM_SNAP_WANT_DUMP                                                                      \
    (TTM_SNAP_BIT(TTM_SNAP_SEC_DAEMON) | TTM_SNAP_BIT(TTM_SNAP_SEC_PROCS) |                    \
     TTM_SNAP_BIT(TTM_SNAP_SEC_LIVE) | TTM_SNAP_BIT(TTM_SNAP_SEC_PROCINFO))
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
int ttm__snap_encode_query(const ttm_snap_query *q, ttm_bytes *out);
/* Decodes a QUERY payload. Returns 0 or TTM_EPROTO. */
int ttm__snap_decode_query(const uint8_t *payload, size_t len, ttm_snap_query *out);

/* Appends a whole ERROR frame: status (a negative ttm_err) and a one-line message (cut at
 * TTM_SNAP_ERRMSG_MAX bytes; NULL = ""). Returns 0 or TTM_ENOMEM. */
int ttm__snap_encode_error(int status, const char *msg, ttm_bytes *out);
/* Decodes an ERROR payload into msg (NUL-terminated, cut to msg_len). Returns 0 or TTM_EPROTO. */
int ttm__snap_decode_error(const uint8_t *payload, size_t len, char *msg, size_t msg_len);

/* Appends a whole SNAPSHOT frame holding, for each section set in `sections` that has rows in
 * rec, the wire form of those rows of obj. Returns 0, TTM_ENOMEM, or TTM_ERANGE (the payload
 * would exceed TTM_SNAP_MAX_FRAME); on failure out is left as it was. */
int ttm__snap_encode_sections(const ttm_record *rec, const void *obj, uint32_t sections,
                              ttm_bytes *out);
/* Decodes a SNAPSHOT payload into obj (a zeroed rec), setting *sections to those present; a
 * section this side does not know is skipped. On failure the arrays decoded so far are freed
 * (ttm__schema_free). Returns 0, TTM_EPROTO (msg says what is wrong; msg may be NULL) or
 * TTM_ENOMEM. */
int ttm__snap_decode_sections(const ttm_record *rec, void *obj, uint32_t *sections,
                              const uint8_t *payload, size_t len, char *msg, size_t msg_len);

/* Client side, blocking (snapclient.c): connects to the query socket at path, sends q, and
 * returns the SNAPSHOT reply's payload in *payload (zeroed first), all within timeout_ms.
 * Returns 0; TTM_ECONN (nothing listens at path); TTM_ETIMEDOUT; TTM_EVERSION, TTM_EPROTO,
 * TTM_ECLOSED, TTM_EIO, TTM_ENOMEM; or the daemon's negative status from an ERROR frame.
 * msg (msg_len bytes) receives one line. */
int ttm__snap_fetch(const char *path, const ttm_snap_query *q, int timeout_ms, ttm_bytes *payload,
                    char *msg, size_t msg_len);

/* The query socket path that belongs to a daemon socket path: SOCKET + ".query". Returns 0 or
 * TTM_ERANGE (does not fit len, or a sockaddr_un). */
int ttm__snap_query_path(const char *socket_path, char *buf, size_t len);

#endif /* TTM_COMMON_SNAPSHOT_H */
