/*
 * timeline.h — `ttmem timeline`'s model: what a replay (core/replay.h) tells its observer,
 * gathered into the data of one self-contained HTML page (docs/TIMELINE.md), and the page
 * written from it.
 *
 * The model takes the replay observer's calls only: usage (the series of bytes in use per
 * (run, device, memtype), kept as every change), buffer lives (the largest kept, bounded),
 * events with anomaly classes (markers, thinned evenly per class when there are too many; every
 * one counted), process records, marks (phases), device records (capacities) and the scope of
 * every event (scope bands). After the replay the caller names what ids mean (sites, scopes,
 * hosts, titles) and the live set at each run's peak, then writes the page, which fits a byte
 * budget: every series at several resolutions (per-bucket max, min, last), exact (every change)
 * where the budget allows.
 *
 * Lifecycle: ttm_timeline_open() / ttm_timeline_close() (NULL is a no-op). The model copies
 * everything it keeps; nothing it returns outlives the next call that changes it.
 */
#ifndef TTM_CLI_TIMELINE_H
#define TTM_CLI_TIMELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/replay.h"

typedef struct ttm_timeline ttm_timeline;

typedef struct ttm_timeline_opts {
    uint64_t html_bytes;  /* the page's size budget; 0 = 20,000,000 */
    size_t max_buffers;   /* buffer lives kept (the largest); 0 = 250,000 */
    size_t max_markers;   /* anomaly markers kept per class; 0 = 50,000 */
    size_t max_live;      /* buffers listed live at a peak (the largest); 0 = 100,000 */
} ttm_timeline_opts;

/* Returns 0 or TTM_ENOMEM. opts may be NULL (defaults). */
int ttm_timeline_open(ttm_timeline **out, const ttm_timeline_opts *opts);
void ttm_timeline_close(ttm_timeline *t);

/* The observer feeding t (ctx = t; event, buffer, proc, mark, device and usage set). */
void ttm_timeline_observer(ttm_timeline *t, ttm_replay_observer *obs);

/* The first error the model met (TTM_ENOMEM), 0 while all went well. */
int ttm_timeline_error(const ttm_timeline *t);

/* ---- after the replay: what ids mean ---------------------------------------------------- */

/* A run's host name and title (copied; NULL or "" for none). */
void ttm_timeline_set_run(ttm_timeline *t, size_t run, const char *host, const char *title);
/* The page's title (copied). */
void ttm_timeline_set_title(ttm_timeline *t, const char *title);

/* The distinct (run, stack) of the buffers kept and the (run, scope) of the scope bands, for
 * the caller to name: fills up to cap of runs[] and ids[] (either may be NULL with cap 0);
 * returns the count. */
size_t ttm_timeline_stacks(const ttm_timeline *t, size_t *runs, uint32_t *ids, size_t cap);
size_t ttm_timeline_scopes(const ttm_timeline *t, size_t *runs, uint32_t *ids, size_t cap);
/* What a stack of run is (its top frames, one per line) and a scope's name (copied). */
void ttm_timeline_name_stack(ttm_timeline *t, size_t run, uint32_t stack, const char *text);
void ttm_timeline_name_scope(ttm_timeline *t, size_t run, uint32_t scope, const char *name);

/* The peak of run (ttm_replay_peak over every device and memtype) and the observer that
 * gathers the buffers live at it: its buffer callback takes the lives still open when
 * ttm_replay_run_to() stops at the peak's record. */
void ttm_timeline_set_peak(ttm_timeline *t, size_t run, uint64_t ts, uint64_t bytes);
void ttm_timeline_peak_observer(ttm_timeline *t, size_t run, ttm_replay_observer *obs);
/* After the peak passes: whether some buffer live at a peak is not among the lives kept (only
 * when more lives than max_buffers ended), and the observer of a whole replay that completes
 * those (their free time and reuse count) and keeps them. */
bool ttm_timeline_peak_missing(const ttm_timeline *t);
void ttm_timeline_fill_observer(ttm_timeline *t, ttm_replay_observer *obs);

/* One line of what was lost reading the journals (ttm_replay_summary), shown in the page. */
void ttm_timeline_set_damage(ttm_timeline *t, const char *line);

/* ---- the page ---------------------------------------------------------------------------- */

typedef struct ttm_timeline_stats {
    uint64_t html_bytes;     /* written */
    uint64_t changes;        /* usage changes received */
    size_t series, lanes;
    size_t series_exact;     /* series whose every change is in the page */
    uint64_t finest_ns;      /* the finest bucket width of a series not exact; 0 when all are */
    uint64_t buffers, buffers_kept, markers, markers_kept;
} ttm_timeline_stats;

/* Writes the page to out. Returns 0, TTM_ENOMEM or TTM_EIO (a write failed); stats (may be
 * NULL) gets what went in. */
int ttm_timeline_write(ttm_timeline *t, FILE *out, ttm_timeline_stats *stats);

/* The page's assets (src/cli/timeline/, embedded at build time: timeline_assets.c). */
extern const char ttm_timeline_css[];
extern const char ttm_timeline_js[];

#endif /* TTM_CLI_TIMELINE_H */
