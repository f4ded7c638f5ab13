/*
 * report.h — the report model: what a user is told about an event stream, built from a registry
 * as plain data, rendered elsewhere (src/cli/render.c: text and JSON).
 *
 * Lifecycle: ttm_report_build() allocates a report that owns all its arrays; ttm_report_free()
 * frees it; free(NULL) is a no-op. A report does not refer to the registry after it is built.
 */
#ifndef TTM_CORE_REPORT_H
#define TTM_CORE_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/bytes.h"
#include "common/schema.h"
#include "common/snapshot.h"
#include "core/registry.h"
#include "core/stacks.h"

/* The JSON documents' schema (docs/REPORT_SCHEMA.md). */
#define TTM_REPORT_SCHEMA_VERSION 2

#define TTM_REPORT_NAME_LEN 16u     /* process name, NUL-terminated (/proc/PID/comm) */
#define TTM_REPORT_VERSION_LEN 16u  /* the daemon's version string */
#define TTM_REPORT_LEGACY_TYPES 16u /* legacy message-type counters (index = AllocMessage type) */
#define TTM_REPORT_PATH_LEN 108u    /* a Unix socket path, NUL included */

typedef struct ttm_report_options {
    size_t top;        /* offenders listed per class and in the worst list; 0 = 10 */
    size_t max_leaks;  /* leaks listed; 0 = 20 */
    uint32_t sections; /* the parts built, of TOTALS, DEVICES, PROCS, FINDINGS and STACKS
                        * (TTM_SNAP_BIT set); 0 = all of them but STACKS */
} ttm_report_options;

typedef struct ttm_report_class {
    ttm_class cls;
    uint64_t count;
    uint64_t bytes;
    uint64_t distinct_addrs;  /* entries in its offender table (anomaly classes only) */
    size_t noffenders;        /* worst offenders listed below, by count */
    ttm_offender *offenders;
} ttm_report_class;

/* Frees matched to no allocation at one (device, addr): excess + unknown + double frees. */
typedef struct ttm_report_unmatched {
    uint16_t device;
    uint8_t memtype;
    uint64_t addr;
    uint64_t excess, unknown, dbl; /* per class */
    uint64_t total;                /* freed this many more times than allocated */
    uint32_t pids[TTM_PROC_MAX_PIDS];
    uint8_t npids;
    bool more_pids;
    bool addr_dec;                 /* the input wrote the address in decimal (an offender's
                                    * addr_dec): the text shows it beside the hex */
} ttm_report_unmatched;

/* A (device, address) the input wrote in decimal, as the wire carries the addr_dec of the
 * findings' offenders and unmatched entries: in the CAUSES section, so that FINDINGS keeps the
 * bytes an older peer reads (ttm_report_encode() collects them, ttm_report_decode() puts them
 * back). A report in memory never holds any. */
typedef struct ttm_report_dec_addr {
    uint16_t device;
    uint64_t addr;
} ttm_report_dec_addr;

/* The command line of procs[index], as the wire carries ttm_report_proc.cmdline: in the
 * PROCINFO section, so that PROCS keeps the bytes an older peer reads (ttm_report_encode()
 * collects them, ttm_report_decode() puts them back). A report in memory never holds any. */
typedef struct ttm_report_proc_info {
    uint32_t index;
    char *cmdline; /* owned while on the wire side */
} ttm_report_proc_info;

/* ---- the usage history ttmemd keeps (the HISTORY section, daemon/history.h) -----------------
 * Samples of every device's used bytes taken at a fixed interval, oldest first: ts[k] is the
 * time of sample k (CLOCK_MONOTONIC ns, as daemon.now_ns), and a device's samples[j] is sample
 * first + j (a device first seen later starts later; first + nsamples <= nts, which a reader
 * checks). */
typedef struct ttm_report_hist_ts {
    uint64_t ts;
} ttm_report_hist_ts;

typedef struct ttm_report_hist_use {
    uint64_t dram; /* DRAM + TRACE */
    uint64_t l1;   /* L1 + L1_SMALL + CB + KERNEL */
} ttm_report_hist_use;

typedef struct ttm_report_hist_device {
    uint32_t device;
    uint32_t first;                /* index in ts of samples[0] */
    size_t nsamples;
    ttm_report_hist_use *samples;
} ttm_report_hist_device;

typedef struct ttm_report_history {
    uint64_t interval_ns;          /* the sampling interval; 0: the history is off */
    uint32_t capacity;             /* samples kept at most (--history-len) */
    uint32_t devices_dropped;      /* devices seen beyond those kept */
    uint64_t taken;                /* samples taken since the daemon started */
    size_t nts;
    ttm_report_hist_ts *ts;
    size_t ndevices;
    ttm_report_hist_device *devices;
} ttm_report_history;

/* One cause of the unmatched frees (core/causes.h): the attributor's figures, the share of the
 * unmatched frees it explains, and its evidence in words (cause_text.c), which the text report,
 * `ttmem status` and `ttmem top` print after "N (x%): ". */
typedef struct ttm_report_cause {
    ttm_cause_stats stats;
    double share_pct; /* stats.frees * 100 / the frees of every cause; 0 when there are none */
    char *evidence;   /* owned; NULL until ttm__report_causes_finish() */
} ttm_report_cause;

/* What side logs did (the call stacks, modules and scope names a client ships beside its
 * ring, docs/DAEMON.md "The side log"): of one process's sessions, or of all. */
typedef struct ttm_report_side {
    uint64_t logs;          /* side logs accepted */
    uint64_t refused;       /* side logs refused at the handshake (seals, size, header) */
    uint64_t broken;        /* side logs read no more: framing lost, committed moved back */
    uint64_t records;       /* records read, of every type */
    uint64_t bytes;         /* bytes of those records (headers and padding included) */
    uint64_t modules;       /* MODULE records taken */
    uint64_t stacks;        /* STACK records taken */
    uint64_t strings;       /* STRING records taken */
    uint64_t pyframes;      /* PYFRAME records taken */
    uint64_t unmaps;        /* UNMAP records taken */
    uint64_t skipped;       /* records of an unknown type, skipped */
    uint64_t bad;           /* records of a known type that break the format, skipped */
    uint64_t bound;         /* ids beyond a per-session bound, or refused by the registry's
                             * tables (full): mapped to 0 */
    uint64_t refs_unknown;  /* references inside the log to ids not shipped before (a
                             * PYFRAME's strings, a STACK's Python frames): treated as 0 */
    uint64_t stack_unknown; /* events carrying a stack id never shipped: stack 0 */
    uint64_t scope_unknown; /* events carrying a scope id never shipped: scope 0 */
} ttm_report_side;

/* The daemon that answered a query: identity, limits, clients, transport counters. */
typedef struct ttm_report_daemon {
    char version[TTM_REPORT_VERSION_LEN]; /* "0.1.0" */
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
    ttm_report_side side;         /* every session's side log */
} ttm_report_daemon;

/* The legacy allocation-server socket (docs/COMPAT.md). */
typedef struct ttm_report_legacy {
    char path[TTM_REPORT_PATH_LEN]; /* "" when the daemon does not listen on one */
    uint32_t forced_size;           /* --poc-size; 0 = detected per connection */
    uint32_t connected;             /* connections open */
    uint64_t connections;           /* accepted since start */
    uint64_t refused;               /* refused (limit, credentials, memory) */
    uint64_t closed_bad;            /* closed after 10 bad messages in a row */
    uint64_t bad;                   /* bad messages (implausible headers, garbage) */
    uint64_t resyncs;               /* resynchronisations after bad bytes */
    uint64_t skipped_bytes;         /* bytes skipped to resynchronise */
    uint64_t truncated;             /* streams that ended inside a message */
    uint64_t rejected;              /* messages ignored: device -1, a DUMP within a second */
    uint32_t ntypes;                /* entries of messages[] valid */
    uint64_t messages[TTM_REPORT_LEGACY_TYPES]; /* messages received, by type */
} ttm_report_legacy;

/* The query socket: its bounds (docs/DAEMON.md) and every time one was reached. */
typedef struct ttm_report_service {
    uint32_t query_conns;     /* connections open now */
    uint32_t query_max_conns; /* the limit; more are answered "too many" and closed */
    uint64_t query_out_max;   /* bytes of replies buffered for all connections, large replies */
    uint64_t query_buffered;  /* bytes of replies waiting to be read now */
    uint64_t query_buffered_peak;
    uint64_t query_refused;   /* connections refused at query_max_conns */
    uint64_t query_waited;    /* queries that waited for room under query_out_max */
    uint64_t query_cut;       /* connections closed: a reply not read within the deadline */
    uint64_t query_idle;      /* connections closed after the idle timeout */
    uint64_t query_evicted;   /* connections closed at the limit for a newcomer: the one whose
                               * reply had waited longest to be read */
} ttm_report_service;

/* A process: the registry's statistics and, from a daemon, its transport counters. */
typedef struct ttm_report_proc {
    ttm_proc_stats stats;           /* stats.devices is owned by the report */
    bool registered;                /* the registry knows it (false: connected, no event yet) */
    uint32_t uid;
    char name[TTM_REPORT_NAME_LEN];
    bool connected;                 /* a session holds its ring now */
    bool reattached;                /* its ring was handed over from a previous daemon */
    uint64_t events;                /* events taken from its rings */
    uint64_t waited;                /* producer waits for room */
    uint64_t dropped;               /* events dropped while no daemon existed */
    uint64_t prior_events;          /* events a previous daemon took from its ring */
    uint64_t sessions;              /* sessions opened */
    ttm_report_side side;           /* its sessions' side logs */
    char *cmdline;                  /* its command line, the arguments joined by spaces (ttmemd
                                     * reads /proc/PID/cmdline when it connects), owned; NULL
                                     * when unknown. The PROCINFO section carries it. */
} ttm_report_proc;

/* ---- call sites (the STACKS section) ------------------------------------------------------
 * Every id below is one of the registry's call-site table (core/stacks.h) when the report was
 * built; the report carries what they mean (strings, modules, stacks with their frames) so that
 * it stands alone. */

/* A string the report's sites refer to: a scope or phase name. */
typedef struct ttm_report_string {
    uint32_t id;
    char *text; /* owned */
} ttm_report_string;

/* A module a native frame refers to. */
typedef struct ttm_report_module {
    uint32_t id;
    char *path;     /* owned; "" when none */
    char *build_id; /* owned; lower-case hex, "" when none */
} ttm_report_module;

/* One frame of a stack. NATIVE: module + offset (a return address in the module's numbering:
 * the symbolizer looks up offset - 1), function/file/line filled by the CLI's symbolizer (NULL /
 * 0 until then, and when it cannot); PYTHON and TEXT: function/file/line from the strings (TEXT:
 * module 0, the module name the text gave, if any, in file's place when it had no file). */
typedef struct ttm_report_frame {
    uint8_t kind; /* ttm_frame_kind */
    uint32_t module;
    uint64_t offset;
    char *function; /* owned; NULL = unknown */
    char *file;     /* owned; NULL = unknown */
    uint32_t line;  /* 0 = unknown */
} ttm_report_frame;

/* A stack, innermost frame first. */
typedef struct ttm_report_stack {
    uint32_t id;
    size_t nframes;
    ttm_report_frame *frames;
} ttm_report_stack;

/* The wire's carriers of the call sites that belong to other sections' records (the rows of
 * ttm_totals, ttm_offender, ttm_leak and ttm_live flagged TTM_FF_PACKED): ttm_report_encode()
 * packs them into the STACKS section, ttm_report_decode() puts them back and frees these. A
 * report in memory never holds any, and a peer that does not ask for STACKS reads TOTALS,
 * FINDINGS and LIVE as before. */
typedef struct ttm_report_offender_sites {
    uint32_t cls;   /* classes[cls] */
    uint32_t index; /* .offenders[index] */
    uint8_t nsites;
    ttm_site sites[TTM_SITES_MAX];
    uint64_t sites_other;
} ttm_report_offender_sites;

typedef struct ttm_report_context {
    uint32_t index; /* leaks[index] or live[index] */
    uint32_t stack, scope, phase;
} ttm_report_context;

/* A process's side log counters (ttm_report_proc.side), as the wire carries them. */
typedef struct ttm_report_proc_side {
    uint32_t index; /* procs[index] */
    ttm_report_side side;
} ttm_report_proc_side;

typedef struct ttm_report_packed {
    uint64_t phases_dropped, leak_groups_folded, breakdown_folded; /* of totals */
    ttm_report_side daemon_side; /* daemon.side */
    size_t nproc_sides;
    ttm_report_proc_side *proc_sides; /* of the processes whose counters are not all 0 */
    size_t noffender_sites;
    ttm_report_offender_sites *offender_sites;
    size_t nleak_contexts;
    ttm_report_context *leak_contexts;
    size_t nlive_contexts;
    ttm_report_context *live_contexts;
} ttm_report_packed;

/* The sections a report built from a registry holds (and `ttmem record`'s JSON document). */
#define TTM_REPORT_SECTIONS                                                                     \
    (TTM_SNAP_BIT(TTM_SNAP_SEC_TOTALS) | TTM_SNAP_BIT(TTM_SNAP_SEC_DEVICES) |                   \
     TTM_SNAP_BIT(TTM_SNAP_SEC_PROCS) | TTM_SNAP_BIT(TTM_SNAP_SEC_FINDINGS) |                   \
     TTM_SNAP_BIT(TTM_SNAP_SEC_CAUSES))

/* A report. Built by ttm_report_build() from a registry (sections: totals, devices,
 * processes, findings, and stacks when asked), completed by a daemon with its own records, or
 * decoded from a snapshot (sections says which parts were carried: TTM_SNAP_BIT set,
 * common/snapshot.h). */
typedef struct ttm_report {
    int schema_version;
    uint32_t sections;
    ttm_totals totals;
    double excess_free_pct;      /* (frees - allocs) / allocs * 100; 0 when no allocs */
    uint64_t unmatched_frees;    /* excess + unknown + double frees */
    uint64_t unmatched_addrs;    /* distinct (device, addr) they fell on */
    size_t nunmatched;           /* worst addresses listed */
    ttm_report_unmatched *unmatched;
    ttm_report_class classes[TTM_CLASS__COUNT]; /* indexed by ttm_class */
    uint64_t leaked_count, leaked_bytes;
    size_t nleaks;               /* listed, oldest first */
    ttm_leak *leaks;
    /* the CAUSES section: why the unmatched frees of address-only events happened */
    size_t ncauses;              /* the causes with frees or allocs, frees descending */
    ttm_report_cause *causes;
    ttm_causes_info causes_info;
    size_t ndec_addrs;           /* the wire's carriers of addr_dec (see ttm_report_dec_addr) */
    ttm_report_dec_addr *dec_addrs;
    size_t nproc_infos;          /* the wire's carriers of procs' cmdline (ttm_report_proc_info) */
    ttm_report_proc_info *proc_infos;
    ttm_report_history history;  /* the daemon's usage history (HISTORY) */
    size_t ndevices;
    ttm_device_stats *devices;
    size_t nprocs;
    ttm_report_proc *procs;      /* ascending by pid */
    ttm_report_daemon daemon;
    ttm_report_legacy legacy;
    ttm_report_service service;
    uint64_t live_total;         /* live records in the registry (nlive may be fewer) */
    size_t nlive;
    ttm_live *live;
    /* the STACKS section: call sites, and what their ids mean */
    size_t nleak_groups;         /* every group (ttm_registry_leak_groups), by bytes */
    ttm_leak_group *leak_groups;
    size_t nlive_sites;          /* the top opt.top live allocation sites, by bytes */
    ttm_live_site *live_sites;
    size_t nphases;              /* the marks kept, in order */
    ttm_phase *phases;
    size_t nbreakdown;           /* by phase and by scope */
    ttm_breakdown *breakdown;
    size_t nstrings;             /* every scope and phase name referenced, by id */
    ttm_report_string *strings;
    size_t nmodules;             /* every module the stacks' native frames refer to, by id */
    ttm_report_module *modules;
    size_t nstacks;              /* every stack referenced by the report, by id */
    ttm_report_stack *stacks;
    ttm_stacks_stats stack_stats; /* the registry's call-site table */
    ttm_report_packed packed;    /* the wire's carriers (see ttm_report_packed): always empty */
    /* the PROCSITES section: each process's top opt.top live allocation sites
     * (ttm_registry_proc_sites), by pid, then bytes descending */
    size_t nproc_sites;
    ttm_proc_site *proc_sites;
} ttm_report;

/* The order of r->unmatched: total descending, then device, then addr (a qsort comparator). */
int ttm__report_unmatched_cmp(const void *a, const void *b);

/* Builds a report from reg. opt may be NULL. Returns 0 or TTM_ENOMEM (nothing allocated). */
int ttm_report_build(const ttm_registry *reg, const ttm_report_options *opt, ttm_report **out);
/* Fills *r (zeroed first) as ttm_report_build() does, in the caller's storage; on failure
 * nothing stays allocated. */
int ttm_report_fill(const ttm_registry *reg, const ttm_report_options *opt, ttm_report *r);
/* Fills r->stacks, r->modules and r->strings (freeing what they held) with every stack, module
 * and scope or phase name r's records refer to (sites, leaks, live buffers, leak groups, live
 * sites, phases, breakdown), read from s, the table the ids are of, by id ascending: PYTHON and
 * TEXT frames get their function, file and line; NATIVE ones keep module + offset (function
 * NULL). ttm_report_fill() calls it; a daemon that adds records after (live buffers) calls it
 * again. Returns 0 or TTM_ENOMEM (the three lists then empty). */
int ttm_report_resolve(ttm_report *r, const ttm_stacks *s);
/* Frees the arrays of a report and zeroes it (the struct itself stays); NULL is a no-op. */
void ttm_report_clear(ttm_report *r);
/* Frees a report made by ttm_report_build(); NULL is a no-op. */
void ttm_report_free(ttm_report *r);

/* ---- causes (report.c, cause_text.c) ------------------------------------------------------- */

/* Sets r->causes from all[c] (every cause, as ttm_registry_causes() gives them; r's old list
 * freed): the causes with frees or allocs, frees descending (then allocs, then cause), then
 * their shares and evidence (ttm__report_causes_finish). info may be NULL (zeroes). Returns 0
 * or TTM_ENOMEM (r->causes empty). */
int ttm__report_causes_set(ttm_report *r, const ttm_cause_stats all[TTM_CAUSE__COUNT],
                           const ttm_causes_info *info);
/* Recomputes every cause's share_pct and evidence from its figures (after a merge changed
 * them). Returns 0 or TTM_ENOMEM (the evidence of some then NULL). */
int ttm__report_causes_finish(ttm_report *r);

/* The evidence of one cause in words, without its count: "mesh multiplicity — 438 MeshBuffers
 * on 8 devices, 8 frees each", "excess storm on device 1 DRAM 0x2000000 (33554432), one extra
 * free every ~2.1 ms over 1,100 frees, pid 2604", with what the attributor is unsure of ("; 12
 * of them could also be mesh multiplicity", "; 3 still provisional"). Writes at most len bytes
 * (NUL included) to buf and returns buf. The one wording of the text report, `ttmem status`
 * and `ttmem top`. */
char *ttm_cause_describe(const ttm_cause_stats *s, char *buf, size_t len);
/* The count and share that open a cause's line: "3,504 of 4,604 unmatched frees (76%)" for
 * the first cause listed (first true), "1,100 (24%)" for the others, "5 duplicate
 * allocations" for a cause with allocations only. total is the frees of every cause. Writes
 * at most len bytes to buf and returns buf. */
char *ttm_cause_count_text(const ttm_report_cause *c, uint64_t total, bool first, char *buf,
                           size_t len);
/* Cause i of r's list as a line: its count and share, ": ", its evidence ("3,504 of 4,604
 * unmatched frees (76%): mesh multiplicity — ..."). Writes at most len bytes to buf and
 * returns buf. */
char *ttm_cause_line(const ttm_report *r, size_t i, char *buf, size_t len);
/* "0x2000000" or, when the input wrote it in decimal, "0x2000000 (33554432)": an address as
 * the text forms show it. Writes at most len bytes to buf and returns buf. */
char *ttm_cause_addr_text(uint64_t addr, bool dec, char *buf, size_t len);
/* The frees of every cause of r (the denominator of the shares). */
uint64_t ttm__report_causes_frees(const ttm_report *r);

/* ---- the tables (report_schema.c) ---------------------------------------------------------- */

extern const ttm_schema_enum ttm_enum_class, ttm_enum_memtype, ttm_enum_space, ttm_enum_arch;
extern const ttm_schema_enum ttm_enum_frame_kind, ttm_enum_breakdown_kind, ttm_enum_cause;
extern const ttm_record ttm_rec_totals, ttm_rec_memstat, ttm_rec_device, ttm_rec_proc_mem,
    ttm_rec_proc_stats, ttm_rec_proc, ttm_rec_site, ttm_rec_offender, ttm_rec_class,
    ttm_rec_unmatched, ttm_rec_leak, ttm_rec_live, ttm_rec_daemon, ttm_rec_legacy,
    ttm_rec_service, ttm_rec_leak_group, ttm_rec_live_site, ttm_rec_phase, ttm_rec_breakdown,
    ttm_rec_report_string, ttm_rec_report_module, ttm_rec_report_frame, ttm_rec_report_stack,
    ttm_rec_stack_stats, ttm_rec_offender_sites, ttm_rec_report_context, ttm_rec_report_packed,
    ttm_rec_side, ttm_rec_report_proc_side, ttm_rec_cause_instance, ttm_rec_cause_stats,
    ttm_rec_report_cause,
    ttm_rec_causes_info, ttm_rec_report_dec_addr, ttm_rec_report_proc_info,
    ttm_rec_report_hist_ts, ttm_rec_report_hist_use, ttm_rec_report_hist_device,
    ttm_rec_report_history, ttm_rec_proc_site, ttm_rec_report;
/* Every record above, the report last: for the docs and the tests. */
extern const ttm_record *const ttm_report_records[];
extern const size_t ttm_report_nrecords;

/* ---- the report as a snapshot (common/snapshot.h's sections) ------------------------------- */

/* Appends a whole SNAPSHOT frame holding the sections named in r->sections (with STACKS, the
 * call sites of the offenders, leaks and live buffers packed into it). Returns 0, TTM_ENOMEM,
 * or TTM_ERANGE (the payload would exceed TTM_SNAP_MAX_FRAME); on failure out is left as it
 * was. */
int ttm_report_encode(const ttm_report *r, ttm_bytes *out);
/* Decodes a SNAPSHOT payload into *out (zeroed first; on failure nothing stays allocated); the
 * packed call sites go back to their offenders, leaks and live buffers (a carrier naming one
 * that is not there is TTM_EPROTO). Returns 0, TTM_EPROTO (msg says what is wrong; msg may be
 * NULL) or TTM_ENOMEM. */
int ttm_report_decode(const uint8_t *payload, size_t len, ttm_report *out, char *msg,
                      size_t msg_len);
/* Asks the daemon at the query socket path for q's sections (common/snapclient.c) and decodes
 * the reply into *out (zeroed first). Returns what ttm__snap_fetch() and ttm_report_decode()
 * return; msg (msg_len bytes) receives one line. */
int ttm_report_fetch(const char *path, const ttm_snap_query *q, int timeout_ms, ttm_report *out,
                     char *msg, size_t msg_len);

#endif /* TTM_CORE_REPORT_H */
