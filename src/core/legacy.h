/*
 * legacy.h — the allocation-server prototype's view of a classified event: which log line it
 * would have printed. Used by `ttmemd --poc-log` (so the prototype's analysis scripts keep
 * working on ttmem's output) and by the log-analysis benchmark and tests.
 */
#ifndef TTM_CORE_LEGACY_H
#define TTM_CORE_LEGACY_H

#include <stddef.h>
#include <stdint.h>

#include "core/registry.h"

/* Writes the prototype's log line for an event that the registry classified as mask with
 * info (ttm_registry_apply_ex), without a newline, into buf (len bytes). Returns the line's
 * length, or 0 when the prototype printed nothing for it (views, control events, invalid). */
size_t ttm_legacy_log_line(char *buf, size_t len, uint32_t pid, const ttm_event *ev,
                           uint32_t mask, const ttm_apply_info *info);

#endif /* TTM_CORE_LEGACY_H */
