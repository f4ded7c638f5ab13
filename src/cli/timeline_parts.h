/*
 * timeline_parts.h — the insides of `ttmem timeline`'s model, shared by timeline_model.c (which
 * fills them from the replay observer) and timeline_page.c (which writes the page from them).
 * Nothing outside those two files includes it.
 */
#ifndef TTM_CLI_TIMELINE_PARTS_H
#define TTM_CLI_TIMELINE_PARTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli/timeline.h"
#include "common/bytes.h"
#include "core/registry.h"
#include "ttmem/ttmem.h"

#define TL_MAX_SCOPES 4096u /* scope bands (run, scope) kept; more counted */
#define TL_MAX_PROCS 10000u /* processes kept; more counted */
#define TL_MAX_MARKS 20000u /* marks (phases) kept; more counted */

/* u64 key -> index; vals hold index + 1 (0: empty slot). */
typedef struct tl_map {
    uint64_t *keys;
    size_t *vals;
    size_t n, cap;
} tl_map;

size_t tl_map_get(const tl_map *m, uint64_t key); /* SIZE_MAX when absent */
void tl_map_put(tl_map *m, uint64_t key, size_t val);
void tl_map_free(tl_map *m);

/* ttm__grow() for a program: one line and exit when memory is short. */
void *tl_xgrow(void *arr, size_t *cap, size_t n, size_t size, size_t first);

/* One (lane, memtype)'s bytes in use, as the usage callback told them: every change after the
 * first as varints (time since the previous change, zigzag value change). */
typedef struct tl_series {
    uint64_t n;                  /* changes */
    uint64_t first_ts, first_val;
    uint64_t last_ts, last_val;
    uint64_t peak, peak_ts;      /* the highest value and the first time it was reached */
    ttm_bytes enc;
} tl_series;

/* A lane: one device of one run. */
typedef struct tl_lane {
    size_t run;
    uint16_t device;
    uint32_t arch;
    uint64_t cap[TTM_SPACE_COUNT]; /* from device records; 0 unknown */
    tl_series series[TTM_MEMTYPE_COUNT];
} tl_lane;

typedef struct tl_buf {
    uint32_t run, pid;
    uint16_t device;
    uint8_t memtype;
    bool view, leaked;
    bool at_peak; /* live at its run's peak */
    bool found;   /* live-at-peak lists: found among the lives kept */
    uint64_t addr, size, alloc_ts, free_ts;
    uint32_t stack, scope, reuse;
} tl_buf;

/* Orders lives by (run, device, addr, alloc_ts, pid, memtype): a life's identity. */
int tl_buf_key_cmp(const void *a, const void *b);

typedef struct tl_marker {
    uint64_t ts, addr, size;
    uint32_t pid, lane, mask;
    uint8_t kind;
} tl_marker;

typedef struct tl_markers {
    tl_marker *v;
    size_t n, cap;
    uint64_t seen;   /* markers of the class offered */
    uint64_t stride; /* every stride-th one kept */
} tl_markers;

typedef struct tl_proc {
    size_t run;
    uint32_t pid;
    char *name;
    uint64_t start_ts, exit_ts;
    int32_t status;
    bool exited;
} tl_proc;

typedef struct tl_mark {
    size_t run;
    uint32_t pid;
    uint64_t ts;
    char *name;
} tl_mark;

typedef struct tl_scope {
    size_t run;
    uint32_t id;
    char *name;
    uint64_t first, last, events;
} tl_scope;

typedef struct tl_run {
    char *host, *title;
    bool has_peak;
    uint64_t peak_ts, peak_bytes;
    uint64_t live_count, live_bytes; /* every buffer live at the peak */
    tl_buf *live;                    /* the largest of them (a min-heap by size) */
    size_t nlive, live_cap;
    tl_buf *live_sorted;             /* the same by key, for the fill pass */
} tl_run;

struct ttm_timeline {
    ttm_timeline_opts opts;
    int err;
    char *title, *damage;
    uint64_t first_ts, last_ts, events, changes, buffers;
    uint32_t anomalies; /* the mask of anomaly classes */
    tl_run *runs;
    size_t nruns;
    tl_lane *lanes;
    size_t nlanes, lanes_cap;
    tl_map lane_map;
    bool lane_cache_valid;
    uint64_t lane_cache_key;
    size_t lane_cache;
    tl_markers markers[TTM_CLASS__COUNT]; /* by the event's first anomaly class */
    uint64_t class_events[TTM_CLASS__COUNT]; /* events given each class (all of them) */
    tl_proc *procs;
    size_t nprocs, procs_cap;
    uint64_t procs_dropped;
    tl_map proc_map;
    tl_mark *marks;
    size_t nmarks, marks_cap;
    uint64_t marks_dropped;
    tl_scope *scopes;
    size_t nscopes, scopes_cap;
    uint64_t scopes_dropped;
    tl_map scope_map;
    tl_buf *bufs; /* the largest lives (a min-heap by size until the peaks are matched) */
    size_t nbufs, bufs_cap;
    bool bufs_sorted;
    tl_buf *extra; /* lives at a peak not among them, from the fill pass */
    size_t nextra, extra_cap;
    size_t peak_run;
    char **sites; /* site texts; a buffer's site is stack_site's value (index + 1) */
    size_t nsites, sites_cap;
    tl_map stack_site;
};

tl_run *tl_run_get(ttm_timeline *t, size_t run);

#endif /* TTM_CLI_TIMELINE_PARTS_H */
