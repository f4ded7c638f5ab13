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

/* Appends the exposition text for s (may be NULL when no daemon answered) and the regions
 * (n may be 0) to out. Returns 0 or TTM_ENOMEM. */
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
    uint64_t cut_deadline;  /* connections closed at the per-request deadline */
    uint64_t refused_peer;  /* connections closed at once: their address had its limit */
    /* TT-Metal's directory, as this scrape's scan left it */
    uint64_t shm_entries;   /* directory entries examined */
    uint64_t shm_capped;    /* 1 when the scan stopped at its entry limit */
    uint64_t shm_skipped;   /* region files not read (beyond the region limit) */
} ttm_metrics_scrapes;

/* Appends the families of the HTTP endpoint's own scrapes (ttmem_scrapes_total,
 * ttmem_scrape_duration_seconds) to out, after ttm_metrics_render's text. `ttmem metrics`
 * has no endpoint and does not print them. Returns 0 or TTM_ENOMEM. */
int ttm_metrics_render_scrapes(const ttm_metrics_scrapes *st, ttm_bytes *out);

#endif /* TTM_CORE_METRICS_H */
