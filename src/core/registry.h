/*
 * registry.h — the core registry: live buffers, the classification of every event, statistics.
 *
 * This is the single place where the meaning of an event is decided: the rules are written out
 * in docs/CLASSIFICATION.md. It is pure: no I/O, no clocks, no globals; given the same events
 * it reaches the same state. Time comes only from the events' ts fields. Its budgets (events
 * per second, bytes per live buffer) are in docs/ARCHITECTURE.md.
 *
 * Inside: registry.c (the rules, processes, devices, queries), store.c (the live records),
 * table.c (the side tables), causes.c (the causes of unmatched frees, core/causes.h),
 * registry_state.c (save and load).
 *
 * Lifecycle: ttm_registry_open() creates a registry, ttm_registry_close() frees it and
 * everything it owns; close(NULL) is a no-op. Nothing returned by a query outlives the next
 * call that changes the registry unless the query copies it out.
 */
#ifndef TTM_CORE_REGISTRY_H
#define TTM_CORE_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/event.h"
#include "core/causes.h"
#include "core/stacks.h"

/*
 * Classes. Every ALLOC and FREE gets exactly one primary class; size_mismatch and
 * ambiguous_free are counted in addition to the primary class. leaked_at_exit is given to each
 * owning record still live when its process exits. X(name, anomaly, text):
 *   anomaly = 1 when the class is a finding worth showing a user (it has an offender table).
 */
#define TTM_CLASS_MAP(X)                                                                          \
    X(ALLOC_OK, 0, "alloc_ok", "allocation of a free key")                                       \
    X(DUPLICATE_ALLOC, 1, "duplicate_alloc",                                                      \
      "allocation at a live key with the same object (or none): reference count +1")             \
    X(ALLOC_VIEW, 0, "alloc_view", "a view (no bytes) attached to its owner or standing alone")  \
    X(OVERLAP, 1, "overlap", "allocation over a live buffer of another object")                  \
    X(MISSED_FREE, 1, "missed_free", "a buffer replaced by an overlapping allocation, its free never reported") \
    X(FREE_OK, 0, "free_ok", "free of a live owning buffer")                                      \
    X(FREE_VIEW, 0, "free_view", "free of a live view (no bytes)")                               \
    X(VIEW_AFTER_OWNER, 0, "view_after_owner", "a view freed after its owner's memory (benign)") \
    X(DOUBLE_FREE, 1, "double_free", "the same object freed again")                              \
    X(EXCESS_FREE, 1, "excess_free",                                                              \
      "a free of an address allocated earlier, with nothing live there and no object id")        \
    X(UNKNOWN_FREE, 1, "unknown_free",                                                            \
      "a free of an address never allocated since tracking began")                              \
    X(FOREIGN_FREE, 1, "foreign_free", "a free of a buffer owned by another live process")      \
    X(SIZE_MISMATCH, 1, "size_mismatch", "a free whose size differs from the allocation")       \
    X(AMBIGUOUS_FREE, 1, "ambiguous_free",                                                        \
      "a free without memtype that matched buffers in several address spaces")                  \
    X(LEAKED_AT_EXIT, 1, "leaked_at_exit", "a buffer still live when its process exited")       \
    X(INVALID, 1, "invalid", "an event with a bad kind, memtype or flags (rejected)")            \
    X(LIMIT, 1, "limit", "an allocation refused by the per-process live-record limit")         \
    X(OVERSIZE, 1, "oversize",                                                                    \
      "an allocation or free of more bytes than any device holds (rejected)")

typedef enum ttm_class {
#define TTM__CLASS_ENUM(name, anomaly, text, help) TTM_CLASS_##name,
    TTM_CLASS_MAP(TTM__CLASS_ENUM)
#undef TTM__CLASS_ENUM
        TTM_CLASS__COUNT
} ttm_class;

#define TTM_CLASS_BIT(c) (1u << (c))

/* "free_ok"; "?" when out of range. */
const char *ttm_class_name(unsigned c);
/* One-line explanation of a class. */
const char *ttm_class_help(unsigned c);
/* True for classes that are findings (they have offender tables). */
bool ttm_class_is_anomaly(unsigned c);
/* Parses a class name; returns 0 and stores it, or TTM_EINVAL. */
int ttm_class_parse(const char *s, ttm_class *out);

typedef struct ttm_registry ttm_registry;

typedef struct ttm_registry_config {
    uint32_t max_live_per_pid;     /* 0 = unlimited; beyond it ALLOCs are classed LIMIT */
    uint32_t max_offenders;        /* distinct (class, device, addr) entries kept; 0 = 65536 */
    uint32_t max_history;          /* distinct (device, space, addr) keys remembered; 0 = 4M */
    uint32_t max_freed_objs;       /* freed object ids remembered for double-free (the most
                                    * recent, in two generations of half); 0 = 512K */
    uint32_t max_leaks_listed;     /* leaked records kept for listing; 0 = 4096 (all counted) */
    uint32_t max_processes;        /* processes kept (live + exited); 0 = 4096 */
    /* call sites (docs/CLASSIFICATION.md, "Call sites") */
    ttm_stacks_config stacks;      /* bounds of the registry's call-site table */
    uint32_t max_phases;           /* marks kept in the phase list; 0 = 4096 (all counted) */
    uint32_t max_leak_groups;      /* leak groups by allocation stack; 0 = 4096 (beyond: folded
                                    * into the group of stack 0, counted) */
    uint32_t max_breakdown;        /* breakdown rows (phases and scopes together); 0 = 1024
                                    * (beyond: folded into the row of name 0, counted) */
    /* causes of unmatched frees (core/causes.h, docs/CLASSIFICATION.md) */
    bool no_causes;                /* true: no attribution at all (the verdicts are the same) */
    uint32_t max_cause_keys;       /* per-address attribution state kept; 0 = 65536 */
} ttm_registry_config;

/* Creates a registry. cfg may be NULL for defaults. Returns 0 or TTM_ENOMEM / TTM_EINVAL. */
int ttm_registry_open(ttm_registry **out, const ttm_registry_config *cfg);
/* Frees the registry and all it owns; NULL is a no-op. */
void ttm_registry_close(ttm_registry *reg);

/* The registry's call-site table (core/stacks.h): the ids of ev->stack and ev->scope, of the
 * phases and of every site a query returns are its ids. Owned by the registry (opened by
 * ttm_registry_open() with cfg->stacks, saved and loaded with it); the caller may intern into
 * it (the daemon does, from its clients' side logs) but never closes it. */
ttm_stacks *ttm_registry_stacks(ttm_registry *reg);
const ttm_stacks *ttm_registry_stacks_c(const ttm_registry *reg);

/*
 * Applies one event on behalf of process pid (the kernel's word, never the event's).
 * ALLOC and FREE are classified; DEVICE_INFO sets capacities; PROC_START registers the
 * process; PROC_EXIT is the same as ttm_registry_process_exit(reg, pid, ev->ts); MARK is
 * counted, its name interned (ttm_stacks_string) and made pid's current phase, and the mark
 * appended to the phase list (ttm_registry_phases).
 * An ALLOC or FREE carries a context: (ev->stack, ev->scope, pid's current phase), interned
 * with ttm_stacks_context() — ids the table does not hold make the context 0. The context
 * decides no verdict: it is only kept (by the live record, the offender's sites, the freed
 * object, the leak) and counted (breakdown). When all three are 0 nothing is done for it. Returns a bit mask of the classes given to the event (TTM_CLASS_BIT), 0 for control
 * events. Never fails: an event that cannot be stored (out of memory) is counted as INVALID.
 */
uint32_t ttm_registry_apply(ttm_registry *reg, uint32_t pid, const ttm_event *ev);

/* Applies n events of one process, in order, exactly as n calls of ttm_registry_apply() would,
 * but faster: the memory each event will touch is requested ahead of time. masks (may be NULL)
 * receives each event's class mask. */
void ttm_registry_apply_batch(ttm_registry *reg, uint32_t pid, const ttm_event *ev, size_t n,
                              uint32_t *masks);

/* What an ALLOC or FREE found, for outputs that mirror the legacy server's log lines. */
typedef struct ttm_apply_info {
    bool matched;       /* a live record was found (FREE) or created / re-referenced (ALLOC) */
    uint32_t owner_pid; /* the record's process */
    uint32_t refs;      /* its reference count after the event (0: the record closed) */
    uint64_t size;      /* its size */
    uint8_t memtype;    /* its memtype */
} ttm_apply_info;

/* ttm_registry_apply() that also fills *info (zeroed when nothing matched). */
uint32_t ttm_registry_apply_ex(ttm_registry *reg, uint32_t pid, const ttm_event *ev,
                               ttm_apply_info *info);

/* Process exit: every owning record of pid still live is counted leaked_at_exit (and listed,
 * oldest first), then reclaimed; its views are dropped. The process is kept as exited. The
 * whole exit at once: ttm_registry_process_exit_step() with no budget. */
void ttm_registry_process_exit(ttm_registry *reg, uint32_t pid, uint64_t ts);

typedef struct ttm_exit_progress {
    size_t visited;        /* records this step went through */
    uint64_t leaked_count; /* buffers this exit has counted leaked_at_exit so far (all steps) */
    uint64_t leaked_bytes; /* ... and their bytes */
} ttm_exit_progress;

/*
 * Process exit in steps: settles at most budget of pid's records (oldest first) as
 * ttm_registry_process_exit() does, and returns true when none is left, the process is then
 * kept as exited; false when more remain (call again). The exit's time is the ts of its first
 * step (the leaks listed carry it); later steps' ts are ignored. The cost of a step is
 * the records it settles, whatever other processes hold. Between steps the registry is
 * consistent: every record settled is counted, listed and out of the statistics, every one
 * not settled is still live and owned by pid, which stays alive until the last step. An event
 * of pid applied between steps belongs to the exiting process (its records are settled too).
 * progress (may be NULL) receives the records the step went through (those settled, plus, in
 * the last step only, the orphan records walked: made while the process table was full,
 * totals.processes_dropped > 0, a degraded mode, not budgeted) and the leaks of this exit.
 */
bool ttm_registry_process_exit_step(ttm_registry *reg, uint32_t pid, uint64_t ts, size_t budget,
                                    ttm_exit_progress *progress);

/* True while an exit of pid is settled in steps: begun, not finished. */
bool ttm_registry_process_settling(const ttm_registry *reg, uint32_t pid);

/* Forgets an exited process's statistics (its leaks stay in the totals and the leak list), so
 * that a caller keeping only the most recent exited processes bounds the table. Returns 0,
 * TTM_ENOENT (not known) or TTM_EINVAL (still alive). */
int ttm_registry_process_forget(ttm_registry *reg, uint32_t pid);

/* Sets a device's capacity for a space (DRAM or L1), overriding any profile. */
void ttm_registry_set_capacity(ttm_registry *reg, uint16_t device, ttm_space space,
                               uint64_t bytes);
/* Gives every device that has no capacity yet (and every device later seen) the capacities of
 * an architecture profile. */
void ttm_registry_set_default_arch(ttm_registry *reg, ttm_arch arch);

/* The largest size an ALLOC or FREE may carry in a space of a device; larger ones are classed
 * OVERSIZE and change nothing else (docs/CLASSIFICATION.md, "Sizes"). */
uint64_t ttm_registry_size_max(const ttm_registry *reg, uint16_t device, ttm_space space);

/* ---- queries ------------------------------------------------------------------------------ */

typedef struct ttm_memstat {
    uint64_t live_bytes;
    uint64_t live_count;  /* live owning buffers (views not counted) */
    uint64_t peak_bytes;
    uint64_t peak_ts;     /* ts of the event that set the peak */
    uint64_t allocs;      /* owning allocations accepted (ALLOC_OK, OVERLAP) */
    uint64_t frees;       /* owning releases (FREE_OK at zero refs, MISSED_FREE, leaks) */
} ttm_memstat;

typedef struct ttm_device_stats {
    uint16_t device;
    uint32_t arch;                           /* ttm_arch, 0 when unknown */
    uint64_t capacity[TTM_SPACE_COUNT];      /* bytes; 0 when unknown */
    ttm_memstat mem[TTM_MEMTYPE_COUNT];
    uint64_t space_peak[TTM_SPACE_COUNT];    /* peak of the space's total (DRAM+TRACE, L1+...) */
    uint64_t space_peak_ts[TTM_SPACE_COUNT];
    uint64_t class_count[TTM_CLASS__COUNT];
    uint64_t class_bytes[TTM_CLASS__COUNT];  /* bytes the events of the class named */
} ttm_device_stats;

/* Bytes live in a device's address space: DRAM + TRACE, L1 + L1_SMALL + CB + KERNEL, or
 * SYSTEM_MEMORY. */
uint64_t ttm_device_space_used(const ttm_device_stats *d, ttm_space sp);

typedef struct ttm_totals {
    uint64_t events;       /* every event applied, control events included */
    uint64_t allocs;       /* ALLOC events */
    uint64_t frees;        /* FREE events */
    uint64_t marks;
    uint64_t class_count[TTM_CLASS__COUNT];
    uint64_t class_bytes[TTM_CLASS__COUNT];
    uint64_t live_records; /* owning + views */
    uint64_t reuse_allocs;        /* allocations at a key allocated before */
    uint64_t reuse_size_changes;  /* ... whose size differed from the previous one there */
    uint64_t offenders_dropped;   /* anomalies not given an offender entry (table full) */
    uint64_t history_dropped;     /* keys not remembered (history full) */
    uint64_t freed_objs_dropped;  /* freed object ids forgotten (older generations) */
    uint64_t processes_dropped;   /* processes not kept (table full) */
    uint64_t first_ts, last_ts;   /* of ALLOC/FREE events */
    uint64_t phases_dropped;      /* marks not kept in the phase list (full) */
    uint64_t leak_groups_folded;  /* leaks counted in the group of stack 0 (groups full) */
    uint64_t breakdown_folded;    /* classes counted in a breakdown row of name 0 (rows full) */
} ttm_totals;

void ttm_registry_totals(const ttm_registry *reg, ttm_totals *out);

/* The causes of the unmatched frees (and duplicate allocs) of the address-only events applied
 * so far (core/causes.h): out[c] for every cause c, provisional ones as they stand; info (may
 * be NULL) what the attributor holds. With cfg.no_causes everything is zero. */
void ttm_registry_causes(const ttm_registry *reg, ttm_cause_stats out[TTM_CAUSE__COUNT],
                         ttm_causes_info *info);

/* Devices seen, ascending. Returns the count; fills up to cap entries of out (may be NULL). */
size_t ttm_registry_devices(const ttm_registry *reg, ttm_device_stats *out, size_t cap);
/* One device's statistics in place, NULL when it was never seen: a pointer into the registry,
 * valid until the next change. O(1), for a caller that follows the bytes in use event by event
 * (core/replay.h). */
const ttm_device_stats *ttm_registry_device(const ttm_registry *reg, uint16_t device);

#define TTM_PROC_MAX_PIDS 4

/* ---- call sites (docs/CLASSIFICATION.md, "Call sites") ---------------------------------- */

#define TTM_SITES_MAX 4

/* One call site of a finding: the context events came from, and how many. */
typedef struct ttm_site {
    uint32_t stack, scope, phase;   /* resolved from the event's context (0 = none) */
    uint32_t release_stack;         /* double_free: the stack of the free that released the
                                     * object first (0 when unknown); 0 for other classes */
    uint64_t count, bytes;          /* events of the site (since it took its slot, exact) */
} ttm_site;

typedef struct ttm_offender {
    ttm_class cls;
    uint16_t device;
    uint8_t memtype;       /* last memtype seen (TTM_MEM_ANY if never known) */
    bool addr_dec;         /* an event of the entry wrote its address in decimal
                            * (TTM__FLAG_ADDR_DEC): reports show that form beside the hex */
    uint64_t addr;
    uint64_t count;
    uint64_t bytes;
    uint64_t first_ts, last_ts;
    uint32_t pids[TTM_PROC_MAX_PIDS]; /* distinct pids, first seen first */
    uint8_t npids;                    /* how many of pids[] are set */
    bool more_pids;                   /* more than TTM_PROC_MAX_PIDS distinct pids */
    /* The entry's call sites, by count descending: exact while the entry has seen at most
     * TTM_SITES_MAX distinct sites, beyond that the most frequent kept by space-saving
     * (docs/CLASSIFICATION.md, "Call sites"). Events without a context have no site. */
    uint8_t nsites;
    ttm_site sites[TTM_SITES_MAX];
    uint64_t sites_other;             /* events of the entry not in sites[] (count minus the
                                       * sites' counts: events without context included) */
} ttm_offender;

/* Offender entries of class cls (or of every anomaly class when cls is TTM_CLASS__COUNT),
 * sorted by count descending, then device, then addr. Returns the number of entries of that
 * class; fills up to cap (out may be NULL). distinct_addrs of a class is this count. */
size_t ttm_registry_offenders(const ttm_registry *reg, unsigned cls, ttm_offender *out,
                              size_t cap);

typedef struct ttm_leak {
    uint32_t pid;
    uint16_t device;
    uint8_t memtype;
    uint64_t addr;
    uint64_t size;
    uint64_t obj;
    uint64_t alloc_ts;
    uint64_t exit_ts;
    uint32_t stack, scope, phase;     /* the allocation's context (0 = none) */
} ttm_leak;

/* Leaks listed at process exits, oldest allocation first. Returns how many are listed (the
 * count of leaked_at_exit may be larger when the list is full). */
size_t ttm_registry_leaks(const ttm_registry *reg, ttm_leak *out, size_t cap);

typedef struct ttm_leak_group {      /* leaks at exit grouped by allocation stack */
    uint32_t stack;                  /* 0 = allocations without a stack */
    uint64_t count, bytes, oldest_ts;/* oldest allocation */
    uint32_t pids[TTM_PROC_MAX_PIDS]; uint8_t npids; bool more_pids;
} ttm_leak_group;

/* Every leak counted at an exit (listed or not) in one group per allocation stack, at most
 * cfg.max_leak_groups of them; a leak whose stack would need one more group goes to the group
 * of stack 0 (counted in totals.leak_groups_folded). Fills up to cap (out may be NULL) by
 * bytes descending, then count descending, then stack ascending; returns the number of
 * groups. */
size_t ttm_registry_leak_groups(const ttm_registry *reg, ttm_leak_group *out, size_t cap);

typedef struct ttm_live_site { uint32_t stack; uint64_t count, bytes; } ttm_live_site;

/* Live owning buffers (views not counted) grouped by allocation stack (0: without a stack), by
 * bytes descending, then count descending, then stack ascending: one walk of the live records,
 * a transient table of the distinct stacks. Fills up to cap (out may be NULL); returns the
 * number of groups (0 also when memory is short). */
size_t ttm_registry_live_sites(const ttm_registry *reg, ttm_live_site *out, size_t cap);

/* Live owning buffers of one process grouped by allocation stack (0: without a stack). */
typedef struct ttm_proc_site {
    uint32_t pid, stack;
    uint64_t count, bytes;
    uint64_t mem_bytes[TTM_MEMTYPE_COUNT]; /* bytes by memtype (they sum to bytes) */
} ttm_proc_site;

/* The top `top` allocation sites of every process: one walk of the live records (views not
 * counted) with a transient table of the distinct (pid, stack) pairs. Ordered by pid
 * ascending, then as ttm_registry_live_sites() orders them (bytes, count descending, stack
 * ascending). Fills up to cap (out may be NULL); returns the number of sites the processes'
 * top lists hold together (0 also when memory is short). */
size_t ttm_registry_proc_sites(const ttm_registry *reg, size_t top, ttm_proc_site *out,
                               size_t cap);

typedef struct ttm_phase { uint32_t pid, name; uint64_t ts; } ttm_phase;   /* a mark */

/* The marks kept (the first cfg.max_phases; the rest counted in totals.phases_dropped), in the
 * order applied: name is a string id (0 for an empty name). Fills up to cap (out may be NULL);
 * returns how many are kept. */
size_t ttm_registry_phases(const ttm_registry *reg, ttm_phase *out, size_t cap);

#define TTM_BREAKDOWN_PHASE 1
#define TTM_BREAKDOWN_SCOPE 2

typedef struct ttm_breakdown {
    uint8_t kind;                  /* TTM_BREAKDOWN_PHASE = 1, TTM_BREAKDOWN_SCOPE = 2 */
    uint32_t name;                 /* string id, 0 = none */
    uint64_t allocs, anomalies, leaked_count, leaked_bytes;
    uint64_t class_count[TTM_CLASS__COUNT];
} ttm_breakdown;

/* Events broken down by phase and by scope: for each (kind, name) seen, the ALLOC events (those
 * given an allocation class: alloc_ok, duplicate_alloc, alloc_view, overlap, limit), the
 * anomaly classes given (one per class given, as ttm_proc_stats.anomalies), the class counts,
 * and the leaks at exit whose allocation had that phase (scope). An event counts in the phase
 * row of its context's phase and in the scope row of its scope, each only when not 0; the row
 * of name 0 holds what was folded when cfg.max_breakdown rows were taken (counted in
 * totals.breakdown_folded). Fills up to cap (out may be NULL) by kind, then the anomalies
 * descending, then allocs descending, then name ascending; returns the number of rows. */
size_t ttm_registry_breakdown(const ttm_registry *reg, ttm_breakdown *out, size_t cap);

typedef struct ttm_proc_mem {
    uint16_t device;
    ttm_memstat mem[TTM_MEMTYPE_COUNT];
} ttm_proc_mem;

typedef struct ttm_proc_stats {
    uint32_t pid;
    bool alive;
    uint64_t first_ts, exit_ts;
    uint64_t live_records;
    uint64_t leaked_count, leaked_bytes;
    uint64_t anomalies;          /* events of this pid given an anomaly class */
    size_t ndevices;
    const ttm_proc_mem *devices; /* owned by the registry; valid until the next change */
} ttm_proc_stats;

/* Processes seen, ascending by pid. Returns the count; fills up to cap. */
size_t ttm_registry_processes(const ttm_registry *reg, ttm_proc_stats *out, size_t cap);

typedef struct ttm_live {
    uint32_t pid;
    uint16_t device;
    uint8_t memtype;
    uint16_t flags;
    uint32_t refs;
    uint64_t addr, size, obj, ts;
    uint32_t stack, scope, phase;     /* the allocation's context (0 = none) */
} ttm_live;

/* Calls fn for every live record (owning and views) in no particular order; stops early when
 * fn returns false. */
void ttm_registry_foreach_live(const ttm_registry *reg, bool (*fn)(const ttm_live *, void *),
                               void *arg);

/* The orders the queries above list their rows in, for a caller that joins the lists of several
 * registries (core/report_merge.h): offenders by count descending, then device, addr, class;
 * leaks oldest allocation first, then pid, device, addr; leak groups (and live sites) by bytes
 * descending, then count descending, then stack; breakdown rows by kind, then anomalies and
 * allocs descending, then name. qsort comparators. */
int ttm__offender_cmp(const void *a, const void *b);
int ttm__leak_cmp(const void *a, const void *b);
int ttm__leak_group_cmp(const void *a, const void *b);
int ttm__breakdown_cmp(const void *a, const void *b);

/* ---- persistence (docs/DAEMON.md, "Restart") ---------------------------------------------- */

#define TTM_REGISTRY_STATE_VERSION 3u /* 2: call sites (contexts, sites, phases, groups);
                                       * 3: the causes (attributor), offenders' addr_dec */

/*
 * Serializes everything the verdicts depend on — devices and their capacities, live records
 * (owner, obj, flags, sizes, times, reference counts), per-device and per-process statistics
 * and peaks, class counters, the history of allocated keys and the freed-object set the rules
 * consult, offenders, the listed leaks, the totals, and the call sites: the call-site table
 * (ttm_stacks_save), each record's context, the offenders' sites, the freed objects' release
 * contexts, the phases and each process's current one, the leak groups, the breakdown — into
 * one new buffer: a versioned,
 * checksummed byte string, independent of the host's byte order. annex (annex_len bytes; may be
 * NULL when 0) is stored with it, opaque, and given back by ttm_registry_load(): the daemon keeps
 * its own per-process counters there. The configuration is not saved (the loader gives its own).
 * Returns 0 with *out (free with ttm__free) and *out_len set, or TTM_ENOMEM (*out NULL);
 * TTM_EPROTO only if the registry's counts disagreed with its tables (a bug, never a state).
 * Costs one pass over the live records and the tables; the registry is not changed.
 */
int ttm_registry_save(const ttm_registry *reg, const void *annex, size_t annex_len,
                      uint8_t **out, size_t *out_len);

/*
 * Rebuilds a registry from a buffer written by ttm_registry_save(), with configuration cfg (NULL
 * for defaults) and no default architecture (set it after). Everything is validated: the
 * header, the length, the checksum, then every field and count, so a damaged or crafted
 * buffer is refused whole, never half-loaded and never read out of bounds. Figures derived
 * from the live records (live bytes and counts) are recomputed, not read. Entries beyond the
 * loader's bounds (history, freed objects, offenders, processes, leaks listed) are dropped and
 * counted as when those tables fill.
 * Returns 0 with *out a new registry and *annex / *annex_len pointing into buf (valid as long
 * as buf is); TTM_EVERSION for another format version or another build's class/memtype tables;
 * TTM_EPROTO for anything else wrong; TTM_ENOMEM. On an error *out is NULL and msg (msg_len
 * bytes) gets one line saying what is wrong.
 */
int ttm_registry_load(ttm_registry **out, const ttm_registry_config *cfg, const uint8_t *buf,
                      size_t len, const uint8_t **annex, size_t *annex_len, char *msg,
                      size_t msg_len);

/* The checksum a state's header carries: of the len bytes after the header (len a multiple of
 * 8). Internal; exposed for the tests that forge states. */
uint64_t ttm__registry_state_checksum(const uint8_t *p, size_t len);

/* Bytes the registry uses for live records, their contexts' side arrays (none while no record
 * had a context) and their index (for the ≤ 64 B/buffer budget, which holds without
 * contexts; with a context on every record it is 4 bytes more). */
size_t ttm_registry_live_memory(const ttm_registry *reg);

#endif /* TTM_CORE_REGISTRY_H */
