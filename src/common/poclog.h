/*
 * poclog.h — a parser for the allocation-server prototype's log lines
 * (docs/COMPAT.md, section 3, "The prototype's logs"), turning a log back into
 * the event stream it was printed from.
 *
 * The parser is fed whole lines (without the newline) and never does I/O. Recognised lines:
 *   ✓ [PID p] Allocated N bytes of TYPE on device D (buffer_id=ID[, ref_count=R])
 *   ✗ [PID p] Freed buffer ID on device D (N bytes, ref_count=R remaining | FINAL)
 *   ⚠ [PID p] Deallocation for unknown buffer ID on device D (...)
 * IDs are decimal or 0x-hex. An allocation becomes ALLOC(memtype TYPE, size N, obj 0); a free
 * or an unknown-buffer line becomes FREE(memtype ANY, obj 0), as the prototype's client sent it.
 * An event whose buffer id the line wrote in decimal carries TTM__FLAG_ADDR_DEC (reports then
 * show the decimal form beside the hex, for a user to grep the log); no other flag is set.
 * Event timestamps are the line numbers (the logs carry none), so order is preserved.
 *
 * Every other line is classified: noise that the prototype also printed (banners, statistics
 * blocks, dumps, clean-up lines, blank lines) is counted as skipped; a line that starts like an
 * event (a ✓/✗/⚠ glyph followed by "[PID") but does not parse is counted as unparseable and the
 * first few are kept for the user.
 */
#ifndef TTM_COMMON_POCLOG_H
#define TTM_COMMON_POCLOG_H

#include <stddef.h>
#include <stdint.h>

#include "common/event.h"

#define TTM_POCLOG_KEEP_BAD 5   /* unparseable lines kept for display */
#define TTM_POCLOG_BAD_LEN 160  /* bytes kept of each */

typedef enum ttm_poclog_kind {
    TTM_POCLOG_SKIPPED = 0, /* not an event line */
    TTM_POCLOG_EVENT = 1,   /* *ev and *pid were filled */
    TTM_POCLOG_BAD = 2,     /* looked like an event, did not parse */
} ttm_poclog_kind;

typedef struct ttm_poclog_stats {
    uint64_t lines;
    uint64_t bytes;
    uint64_t events;
    uint64_t allocs, frees, unknown_lines; /* by line kind */
    uint64_t skipped;
    uint64_t bad;
    size_t nkept;
    uint64_t kept_lineno[TTM_POCLOG_KEEP_BAD];
    char kept[TTM_POCLOG_KEEP_BAD][TTM_POCLOG_BAD_LEN];
} ttm_poclog_stats;

/* Parses one line (len bytes, no newline; need not be NUL-terminated; may hold any bytes).
 * Updates st (zero it before the first line). On TTM_POCLOG_EVENT fills *pid and *ev. */
ttm_poclog_kind ttm__poclog_parse_line(const char *line, size_t len, ttm_poclog_stats *st,
                                       uint32_t *pid, ttm_event *ev);

/* The prototype's own line formats (decimal ids), for `ttmemd --poc-log` and for tests: each
 * writes one line without a newline into buf (len bytes) and returns its length, as snprintf.
 * refs > 1 adds ", ref_count=refs" to an allocation; refs_left 0 prints FINAL on a free. */
int ttm__poclog_format_alloc(char *buf, size_t len, uint32_t pid, uint64_t size, unsigned memtype,
                             uint16_t device, uint64_t id, uint32_t refs);
int ttm__poclog_format_freed(char *buf, size_t len, uint32_t pid, uint64_t id, uint16_t device,
                             uint64_t size, uint32_t refs_left);
int ttm__poclog_format_unknown(char *buf, size_t len, uint32_t pid, uint64_t id,
                               uint16_t device);

#endif /* TTM_COMMON_POCLOG_H */
