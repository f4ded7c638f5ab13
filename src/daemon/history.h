/*
 * history.h — the usage history ttmemd keeps: every device's used bytes of DRAM (DRAM + TRACE)
 * and L1 (L1 + L1_SMALL + CB + KERNEL) sampled at a fixed interval into a ring of a fixed
 * number of samples, so that a monitor that connects late (`ttmem top`) shows the last minutes
 * from its first frame. The HISTORY snapshot section carries it (docs/DAEMON.md, "History").
 *
 * A sample reads the registry's per-device counters (ttm_registry_device, O(1) per device),
 * never the buffers. Memory: one ring of len samples (16 bytes each) per device, allocated
 * when the device is first seen, and one ring of len timestamps; at most
 * TTM_HISTORY_MAX_DEVICES devices are kept (the others are counted in devices_dropped). Nothing
 * is allocated by a sample in the steady state (a device seen for the first time allocates
 * its ring once).
 *
 * This module knows nothing of the daemon's loop: main.c calls ttm__history_tick() from the
 * loop's tick and ttm__history_fill() from the report part of the HISTORY section.
 *
 * Lifecycle: ttm__history_open() creates it (NULL for a disabled history, len 0);
 * ttm__history_close() frees it (NULL is a no-op). Not thread-safe (the daemon's one thread).
 */
#ifndef TTM_DAEMON_HISTORY_H
#define TTM_DAEMON_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/registry.h"
#include "core/report.h"

#define TTM_HISTORY_INTERVAL_MS_DEFAULT 1000u /* --history-interval */
#define TTM_HISTORY_INTERVAL_MS_MIN 50u       /* the daemon's tick (TTM_DAEMON_TICK_MS) */
#define TTM_HISTORY_INTERVAL_MS_MAX 3600000u  /* an hour */
#define TTM_HISTORY_LEN_DEFAULT 720u          /* --history-len: 12 minutes at 1 s */
#define TTM_HISTORY_LEN_MAX 10080u            /* a week of minutes */
#define TTM_HISTORY_MAX_DEVICES 256u          /* devices kept (a ring each) */

typedef struct ttm_history ttm_history;

/* Creates a history of len samples (1..TTM_HISTORY_LEN_MAX) taken every interval_ms
 * (TTM_HISTORY_INTERVAL_MS_MIN..MAX) into *out; len 0 disables it (*out = NULL, returns 0).
 * Returns 0, TTM_EINVAL (out of range) or TTM_ENOMEM. */
int ttm__history_open(ttm_history **out, uint32_t interval_ms, uint32_t len);
/* Frees h; NULL is a no-op. */
void ttm__history_close(ttm_history *h);

/* Takes a sample stamped now_ns (CLOCK_MONOTONIC, as the registry's timestamps) when one is
 * due: the first call, then every interval (a tick up to half of TTM_HISTORY_INTERVAL_MS_MIN
 * early counts as on time; a late one does not move the following ones, and missed ones are
 * not made up). Returns true when it sampled. NULL h: false. */
bool ttm__history_tick(ttm_history *h, const ttm_registry *reg, uint64_t now_ns);

/* Takes one sample now, due or not (the tests, the benchmark). Returns 0 or TTM_ENOMEM (a
 * device seen for the first time could not get its ring: it is left out of this sample and
 * tried again at the next one). */
int ttm__history_sample(ttm_history *h, const ttm_registry *reg, uint64_t now_ns);

/* Samples taken since the history was opened (also those the ring no longer holds). */
uint64_t ttm__history_taken(const ttm_history *h);

/* An upper bound of the HISTORY section's wire bytes, for the query socket's reply estimate. */
uint64_t ttm__history_wire_bound(const ttm_history *h);

/* The bytes h holds (its rings and tables). */
size_t ttm__history_memory(const ttm_history *h);

/*
 * Fills *out (zeroed by the caller, or cleared) with the samples the ring holds, oldest first:
 * ts[k] is the time of sample k, and each device's samples[j] is sample first + j. NULL h
 * fills the record of a disabled history (capacity 0, no samples). Returns 0, or TTM_ENOMEM
 * (out then holds the figures but no samples).
 */
int ttm__history_fill(const ttm_history *h, ttm_report_history *out);

#endif /* TTM_DAEMON_HISTORY_H */
