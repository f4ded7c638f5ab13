/*
 * top_model.h — the data of `ttmem top`: what the daemon's snapshot and TT-Metal's shared-memory
 * regions say, reduced to plain rows with valid bits, plus a history of usage per device.
 *
 * This is the first of three layers (model -> pure layout -> ncurses view, the nvtop pattern).
 * Every value carries a valid bit: a source that does not know a value (the shared-memory
 * counters know no peaks, capacities or anomalies; their current layouts have no KERNEL
 * counter) leaves the bit clear so the monitor shows N/A, never a made-up 0.
 *
 * Lifecycle: zero a ttm_top_model and call ttm__top_model_init(); ttm__top_model_free() releases
 * it (NULL is a no-op). ttm__top_model_ingest() is pure (no I/O, no clock): it takes the
 * sources' data as arguments, so tests and benchmarks feed it directly.
 * ttm__top_model_refresh() does the I/O (one query, one directory scan) and then ingests.
 * Rows returned by the model stay valid until the next ingest.
 */
#ifndef TTM_CLI_TOP_MODEL_H
#define TTM_CLI_TOP_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/event.h"
#include "core/report.h"
#include "common/ttshm.h"
#include "core/registry.h"

#define TTM_TOP_HIST_LEN 720u /* samples kept: 12 minutes at the default 1 s refresh */
#define TTM_TOP_HIST_NONE UINT64_MAX /* a history cell with no sample for that device */
#define TTM_TOP_NAME_LEN 64u
#define TTM_TOP_SITE_FRAMES 3u   /* frames of an allocation site the sites view shows */
#define TTM_TOP_SITE_CACHE 4096u /* stacks kept symbolized; the cache starts over beyond */

/* Valid bits of a device or process row. */
#define TTM_TOP_V_MEM(memtype) (1u << (memtype)) /* bytes[memtype] is known */
#define TTM_TOP_V_MEM_ALL ((1u << TTM_MEMTYPE_COUNT) - 1u)
#define TTM_TOP_V_CAP_DRAM (1u << 8)  /* cap[TTM_SPACE_DRAM] */
#define TTM_TOP_V_CAP_L1 (1u << 9)    /* cap[TTM_SPACE_L1] */
#define TTM_TOP_V_PEAK_DRAM (1u << 10)
#define TTM_TOP_V_PEAK_L1 (1u << 11)
#define TTM_TOP_V_CLASSES (1u << 12)  /* class counters (device rows) */
#define TTM_TOP_V_ANOM (1u << 13)     /* anomalies, leaks, events, dropped (process rows) */
#define TTM_TOP_V_ARCH (1u << 14)

/* Where a row comes from. */
typedef enum ttm_top_src {
    TTM_TOP_SRC_DAEMON = 0, /* ttmemd: per-buffer identity, full diagnosis */
    TTM_TOP_SRC_SHM = 1     /* TT-Metal's shared-memory region: counters only */
} ttm_top_src;

/* The daemon source's state. */
typedef enum ttm_top_dstate {
    TTM_TOP_DAEMON_NONE = 0, /* never answered in this session */
    TTM_TOP_DAEMON_OK,       /* answered the last query */
    TTM_TOP_DAEMON_STALE     /* answered before, not now: its rows are the last ones seen */
} ttm_top_dstate;

/* The live diagnosis counters the monitor always shows, X(name, label). Their explanations
 * come from ttm_class_help() (and the layout for DROPPED). */
#define TTM_TOP_DIAG_MAP(X)                                                                     \
    X(UNKNOWN_FREE, "unknown frees")                                                            \
    X(DOUBLE_FREE, "double frees")                                                              \
    X(EXCESS_FREE, "excess frees")                                                              \
    X(LEAKED, "leaks at exit")                                                                  \
    X(DROPPED, "dropped events")

typedef enum ttm_top_diag {
#define TTM__TOP_DIAG_ENUM(name, label) TTM_TOP_DIAG_##name,
    TTM_TOP_DIAG_MAP(TTM__TOP_DIAG_ENUM)
#undef TTM__TOP_DIAG_ENUM
        TTM_TOP_DIAG__COUNT
} ttm_top_diag;

/* One device as one source sees it. */
typedef struct ttm_top_device {
    ttm_top_src src;
    uint32_t device;  /* logical id (shm: the region's device_id, or its file id if negative) */
    uint64_t region;  /* shm: the region's file id; daemon: 0 */
    uint32_t valid;   /* TTM_TOP_V_* */
    uint32_t arch;    /* ttm_arch when TTM_TOP_V_ARCH */
    uint64_t bytes[TTM_MEMTYPE_COUNT];
    uint64_t cap[2];  /* by ttm_space: DRAM, L1 */
    uint64_t peak[2];
    uint32_t nclasses; /* class counters known (TTM_TOP_V_CLASSES) */
    uint64_t class_count[TTM_CLASS__COUNT];
    uint64_t class_bytes[TTM_CLASS__COUNT];
    size_t hist;      /* index of this device's history in the model */
} ttm_top_device;

/* A process's bytes on one device. */
typedef struct ttm_top_pdev {
    uint32_t device;
    uint64_t bytes[TTM_MEMTYPE_COUNT];
} ttm_top_pdev;

/* One process as one source sees it. */
typedef struct ttm_top_proc {
    ttm_top_src src;
    uint32_t pid;
    char name[TTM_TOP_NAME_LEN];
    const char *cmdline; /* the arguments joined by spaces (in m->snap), NULL = unknown */
    uint32_t valid;      /* TTM_TOP_V_MEM bits (same on every device), TTM_TOP_V_ANOM */
    bool alive;          /* not yet exited (shm: kill(pid, 0) did not say ESRCH) */
    bool connected;      /* daemon: a session holds its ring */
    uint64_t anomalies, leaked_count, leaked_bytes, events, dropped;
    size_t first_dev, ndevs; /* its ttm_top_pdev rows: model->pdevs[first_dev ...] */
} ttm_top_proc;

/* Usage history of one (source, device): used bytes of DRAM (DRAM+TRACE) and L1 (L1+L1_SMALL+
 * CB+KERNEL) per sample, TTM_TOP_HIST_NONE where the device had no sample. */
typedef struct ttm_top_hist {
    ttm_top_src src;
    uint32_t device;
    uint64_t used[2][TTM_TOP_HIST_LEN];
} ttm_top_hist;

/* An allocation stack as the sites view shows it: its first frames as text, symbolized once
 * (cli/sites.h) for as long as the same daemon answers. */
typedef struct ttm_top_site_text {
    uint32_t stack;
    uint8_t nframes;
    char *frames[TTM_TOP_SITE_FRAMES]; /* "function (file:line) [module]", owned */
} ttm_top_site_text;

typedef struct ttm_top_model {
    /* identity of the monitor's inputs (set by init, or by the caller) */
    char host[64];
    char socket_path[256]; /* the daemon socket as the user names it */
    char shm_dir[256];

    /* daemon source */
    ttm_top_dstate dstate;
    char daemon_err[200];     /* why the last query failed ("" when it did not) */
    int daemon_code;          /* its ttm_err as the refresh saw it; TTM_ECONN: nothing listens */
    ttm_report snap;        /* the last snapshot that arrived (kept while stale) */
    uint64_t last_ok_ns;      /* caller's clock at the last answer */

    /* shm source */
    size_t nregions;          /* region files found */
    size_t nregions_ok;       /* of which valid and ready */
    size_t nregions_bad;      /* INVALID (wrong size, version) */
    size_t nregions_ghosts;   /* process slots of dead processes, summed */
    char shm_err[400];        /* why the scan failed, or the first bad region's reason */

    uint64_t now_ns;          /* caller's clock at the last ingest */
    uint64_t refreshes;       /* ingests so far */

    size_t ndevices;
    ttm_top_device *devices;  /* sorted: daemon rows first, then shm, each by device id */
    size_t nprocs;
    ttm_top_proc *procs;
    size_t npdevs;
    ttm_top_pdev *pdevs;

    /* totals over every daemon device (valid when dstate != NONE and the snapshot had them) */
    bool diag_valid;
    uint32_t nclasses;
    uint64_t class_count[TTM_CLASS__COUNT];
    uint64_t class_bytes[TTM_CLASS__COUNT];
    uint64_t dropped;         /* events dropped while no daemon existed, as reported */
    /* the same counters at the previous ingest with a fresh snapshot, for "+N since" */
    bool prev_valid;
    uint64_t prev_class_count[TTM_CLASS__COUNT];
    uint64_t prev_dropped;

    /* history ring: sample k (0 = oldest) is at (hist_head + k) % TTM_TOP_HIST_LEN */
    size_t hist_head, hist_count;
    uint64_t hist_ts[TTM_TOP_HIST_LEN];
    size_t nhist, cap_hist;
    ttm_top_hist **hist;      /* one per (source, device) ever seen */
    /* the daemon's own history (its HISTORY section) seeded into the ring above at the first
     * answer of each daemon (pid, start): ttm__top_model_seed_history() */
    uint32_t hist_step_ms;    /* the refresh interval, the width of a ring cell (0: 1000) */
    uint32_t seeded_pid;      /* the daemon whose history was seeded (0: none yet) */
    uint64_t seeded_start_ns; /* ... and its start (its clock) */
    size_t seeded;            /* cells the last seeding added or filled */

    /* the sites view: set want_sites and the refresh asks for the call sites (snap.live_sites,
     * by bytes); their stacks are symbolized once each into site_text, by stack id, while the
     * same daemon (pid, start) answers */
    bool want_sites;
    /* the process view: set want_procsites and the refresh asks for each process's call sites
     * too (snap.proc_sites, PROCSITES with STACKS), symbolized into the same cache */
    bool want_procsites;
    struct ttm_sym *sym;      /* opened at the first symbolization */
    uint32_t sites_pid;
    uint64_t sites_start_ns;
    size_t nsite_text, cap_site_text;
    ttm_top_site_text *site_text;

    /* capacities of the arrays above */
    size_t cap_devices, cap_procs, cap_pdevs;
} ttm_top_model;

/* Prepares a zeroed model: host name from the caller (NULL: "?"), the daemon socket path and
 * the shm directory as they will be shown (NULL: ""). Returns 0. */
int ttm__top_model_init(ttm_top_model *m, const char *host, const char *socket_path,
                        const char *shm_dir);

/* Releases everything the model owns and zeroes it; NULL is a no-op. */
void ttm__top_model_free(ttm_top_model *m);

/*
 * Replaces the model's rows with what the sources say now, and records one history sample
 * stamped now_ns (any monotonic clock, nanoseconds).
 *   snap: the daemon's snapshot, or NULL when the daemon did not answer (daemon_err says why,
 *         may be NULL). A snapshot is moved into the model (*snap is zeroed); when NULL, rows
 *         from the last snapshot stay and the daemon becomes STALE (or stays NONE).
 *   regions, nregions: the shm scan (may be NULL / 0); shm_err: why the scan failed, or NULL.
 * Returns 0 or TTM_ENOMEM (the model is then empty but consistent).
 */
int ttm__top_model_ingest(ttm_top_model *m, ttm_report *snap, const char *daemon_err,
                          const ttm_ttshm_region *regions, size_t nregions, const char *shm_err,
                          uint64_t now_ns);

/* Queries the daemon at the query socket of m->socket_path (timeout_ms) and scans m->shm_dir
 * (empty: $TTMEM_SHM_DIR's caller-side default, i.e. /dev/shm), then ingests. Returns 0 or
 * TTM_ENOMEM; an absent daemon or directory is a state of the model, not an error. */
int ttm__top_model_refresh(ttm_top_model *m, int timeout_ms, uint64_t now_ns);

/* DRAM use (DRAM + TRACE) or L1 use (L1 + L1_SMALL + CB + KERNEL) of a bytes array, over the
 * members whose valid bit is set; *valid (may be NULL) says whether any member was. */
uint64_t ttm__top_space_used(const uint64_t bytes[TTM_MEMTYPE_COUNT], uint32_t valid,
                             ttm_space space, bool *valid_out);

/* True when there is nothing to show: no daemon rows ever and no shm region. */
bool ttm__top_model_empty(const ttm_top_model *m);

/* The text of an allocation stack of the sites view or the process view, or NULL when it was
 * not symbolized (not among the snapshot's live sites or processes' sites). */
const ttm_top_site_text *ttm__top_model_site(const ttm_top_model *m, uint32_t stack);

/*
 * Seeds the history ring from the daemon's history (snap's HISTORY section, daemon/history.h),
 * before the ingest of the refresh at now_ns records its own sample: the daemon's samples are
 * moved onto the model's clock (snap's daemon.now_ns is the daemon's time at now_ns) and put
 * into cells of the refresh interval (hist_step_ms) ending one interval before now_ns, each
 * with the highest sample in it, or the sample before it when the daemon's interval is the
 * longer one (the use holds until the next sample, for at most 1.5 of its intervals). Only
 * cells after the ring's newest sample are added, at most TTM_TOP_HIST_LEN - 1 of them (the
 * newest); a cell the ring holds where a device of the history has no value (the refreshes of
 * a restart) gets the value the same way. A device whose samples do not fit the section's
 * timestamps is skipped. Marks the daemon (pid, start) as seeded. Returns the cells added or
 * filled (0 when snap has no history).
 */
size_t ttm__top_model_seed_history(ttm_top_model *m, const ttm_report *snap, uint64_t now_ns);

/* True when snap comes from a daemon (pid, start) whose history was not seeded yet. */
bool ttm__top_model_seed_due(const ttm_top_model *m, const ttm_report *snap);

/* The history of a device row, or NULL. */
const ttm_top_hist *ttm__top_model_hist(const ttm_top_model *m, const ttm_top_device *d);

#endif /* TTM_CLI_TOP_MODEL_H */
