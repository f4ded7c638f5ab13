/*
 * metrics.h — a snapshot (and TT-Metal's shared-memory regions) in the Prometheus text
 * exposition format, version 0.0.4. The reference of every family is docs/METRICS.md.
 *
 * Naming follows Prometheus practice: the ttmem_ prefix, base units (bytes, seconds), _total
 * on counters, HELP and TYPE for every family, bounded label sets (device, memtype, class,
 * pid + process name of live processes only). Rendering writes into memory; the caller sends
 * or prints it.
 */
#ifndef TTM_CORE_METRICS_H
#define TTM_CORE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/report.h"
#include "common/ttshm.h"

/* A family, or one sample set of it, written from the record tables (core/report_schema.c).
 * path names rows from the report record down, by their C names, separated by '.'; a list (a
 * dyn or fixed array) is walked element by element, and a bracket after a row's name, items
 * separated by ',', applies to each element: `?ROW` keeps only elements whose ROW (dotted, in
 * the element) is not 0 or empty, `NAME=ROW` binds label NAME to ROW's value, `NAME` binds it
 * to the element's index named by the row's enumeration (lower case), `N..` skips indices
 * below N. On a record row (not a list) the `?ROW` items decide whether the family is written
 * at all, as does the snapshot section of the path's first row. The last row gives the value
 * (a row in ns is written in seconds); `ROW-ROW-...` is the first less the others. */
typedef struct ttm_prom_family {
    const char *name;   /* "ttmem_device_memory_used_bytes"; NULL: the exported rows (prom
                         * columns) of the record path names, in row order */
    const char *kind;   /* "gauge", "counter" */
    const char *labels; /* label names in the text's order, constants as name="value"; NULL */
    const char *path;
    unsigned flags;   /* TTM_PROM_* */
    const char *help; /* the HELP line, on the entry that opens the family; NULL on the
                       * entries that add samples to it */
} ttm_prom_family;

#define TTM_PROM_NONZERO  1u /* no sample for a value of 0 (a capacity not known) */
#define TTM_PROM_ANY      2u /* no HELP or TYPE when the path's first list is empty */
#define TTM_PROM_ENDPOINT 4u /* written by ttmemd's endpoint only (ttm_metrics_render_scrapes) */

/* The families ttm_metrics_render writes from the report, in the order it writes them, after
 * ttmem_daemon_up and ttmem_build_info and before TT-Metal's regions. */
extern const ttm_prom_family ttm_prom_families[];
extern const size_t ttm_prom_nfamilies;

/* The families written by code of their own, with their HELP (path: where their values come
 * from, in words), in the order of the text: the first TTM_PROM_NHEAD before the report's
 * families, TT-Metal's regions after them, then the endpoint's (TTM_PROM_ENDPOINT). */
extern const ttm_prom_family ttm_prom_fixed[];
extern const size_t ttm_prom_nfixed;
#define TTM_PROM_NHEAD 2

/* The row whose value an entry of ttm_prom_families writes (of a ROW-ROW path, the first),
 * or NULL for an entry of a record's rows or a path that names no row. */
const ttm_field *ttm_metrics_value_row(const ttm_prom_family *fam);

/* Appends the exposition text for s (may be NULL when no daemon answered) and the regions
 * (n may be 0) to out. Returns 0, TTM_ENOMEM, or TTM_EINVAL when an entry of the tables names
 * a row or label they do not have (test_metrics renders every entry). */
int ttm_metrics_render(const ttm_report *s, const ttm_ttshm_region *regions, size_t nregions,
                       ttm_bytes *out);

/* What ttmemd's HTTP endpoint knows about its own scrapes, as of the moment it renders one. */
typedef struct ttm_metrics_scrapes {
    uint64_t ok;          /* GET /metrics answered 200 before this one */
    uint64_t unavailable; /* answered 503: the event loop did not hand over a text in time */
    uint64_t builds;      /* texts the event loop built (one may serve several scrapes) */
    uint64_t build_ns;    /* time the event loop spent building their snapshots */
    /* the endpoint's connection bounds (docs/METRICS.md) */
    uint32_t conns, max_conns, max_conns_per_peer, deadline_s;
    uint64_t cut_deadline; /* connections closed at the per-request deadline */
    uint64_t refused_peer; /* connections closed at once: their address had its limit */
    /* TT-Metal's directory, as this scrape's scan left it */
    uint64_t shm_entries; /* directory entries examined */
    uint64_t shm_capped;  /* 1 when the scan stopped at its entry limit */
    uint64_t shm_skipped; /* region files not read (beyond the region limit) */
} ttm_metrics_scrapes;

/* Appends the families of the HTTP endpoint's own scrapes (ttmem_scrapes_total,
 * ttmem_scrape_duration_seconds) to out, after ttm_metrics_render's text. `ttmem metrics`
 * has no endpoint and does not print them. Returns 0 or TTM_ENOMEM. */
int ttm_metrics_render_scrapes(const ttm_metrics_scrapes *st, ttm_bytes *out);

#endif /* TTM_CORE_METRICS_H */
