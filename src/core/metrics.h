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

#include "common/snapshot.h"
#include "common/ttshm.h"

/* Appends the exposition text for s (may be NULL when no daemon answered) and the regions
 * (n may be 0) to out. Returns 0 or TTM_ENOMEM. */
int ttm_metrics_render(const ttm_snapshot *s, const ttm_ttshm_region *regions, size_t nregions,
                       ttm_snap_buf *out);

#endif /* TTM_CORE_METRICS_H */
