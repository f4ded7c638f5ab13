/*
 * log.h — ttmemd's log: one level-checked macro, one line per call, written with a single
 * write() so lines from a daemon and its children never interleave mid-line.
 *
 * Lines look like "2026-11-25T12:50:43.123Z ttmemd[4242] warn: <message>". The level is
 * checked before the arguments are evaluated, so a debug line costs one comparison when off.
 *
 * Every call site is rate-limited on its own (a peer can make any line repeat): a token bucket
 * of TTM_LOG_BURST lines refilled at TTM_LOG_RATE lines a second. Lines beyond it are counted,
 * not written, and once a second (ttm__log_tick) each site that suppressed some writes one
 * summary: "N similar lines suppressed (FILE:LINE: FORMAT)". So a flood costs at most about
 * TTM_LOG_RATE + 1 lines a second per site, and nothing disappears without a trace.
 */
#ifndef TTM_DAEMON_LOG_H
#define TTM_DAEMON_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TTM_LOG_LEVEL_MAP(X)                                                                     \
    X(ERROR, 0, "error")                                                                         \
    X(WARN, 1, "warn")                                                                           \
    X(INFO, 2, "info")                                                                           \
    X(DEBUG, 3, "debug")

typedef enum ttm_log_level {
#define TTM__LOG_ENUM(name, value, text) TTM_LOG_##name = (value),
    TTM_LOG_LEVEL_MAP(TTM__LOG_ENUM)
#undef TTM__LOG_ENUM
} ttm_log_level;

/* The current level: lines above it are not written. */
extern int ttm__log_level;

#define TTM_LOG_BURST 20 /* lines a call site may write at once */
#define TTM_LOG_RATE 5   /* lines a second a call site may write after its burst */

/* One call site's rate limit; a static of the TTM_LOG macro, zero-initialised. */
typedef struct ttm_log_site {
    const char *file;
    int line;
    int level;
    const char *fmt;
    bool listed;                    /* on the list ttm__log_tick walks */
    uint32_t tokens_milli;          /* tokens x 1000 */
    uint64_t refill_ns;             /* when tokens were last refilled */
    uint64_t suppressed;            /* lines not written since the last summary */
    struct ttm_log_site *next;
} ttm_log_site;

/* The one logging macro of the daemon: level-checked, then rate-limited per call site. */
#define TTM_LOG(level, ...)                                                                      \
    do {                                                                                         \
        if ((int)(TTM_LOG_##level) <= ttm__log_level) {                                         \
            static ttm_log_site ttm__site_;                                                      \
            ttm__log_site_write(&ttm__site_, __FILE__, __LINE__, TTM_LOG_##level, __VA_ARGS__); \
        }                                                                                        \
    } while (0)

/* Writes one line at level (the macro has checked it) unless site's rate limit is used up
 * (then the line is counted in site->suppressed). A trailing newline is added. Thread-safe. */
void ttm__log_site_write(ttm_log_site *site, const char *file, int line, int level,
                         const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Writes one line at level, not rate-limited: for the few callers that bound their own lines
 * (the stop summary). Prefer TTM_LOG. */
void ttm__log_write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes the summary line of every call site that suppressed lines since its last summary.
 * Called once a second by the daemon's timer (and at a clean stop). */
void ttm__log_tick(void);

/* Lines suppressed by the rate limits since start (for tests and the stop summary). */
uint64_t ttm__log_suppressed_total(void);

/* Parses "error", "warn", "info" or "debug". Returns 0 and stores the level, or TTM_EINVAL. */
int ttm__log_parse_level(const char *s, int *out);

/* Writes len bytes to the log's destination as they are: no time stamp, no level, no check
 * (the caller decides). For output that other tools parse, such as the prototype's per-event
 * lines of `--poc-log` and the DUMP reports (docs/COMPAT.md). Short writes are retried. */
void ttm__log_raw(const char *buf, size_t len);

/* Sends log lines to path (appended, created 0600; never through a symbolic link, errno ELOOP,
 * nor into a file that is not a plain file of ours, EPERM), or to stderr when path is NULL.
 * Keeps the previous destination on failure. Returns 0 or TTM_EIO (errno kept). */
int ttm__log_open(const char *path);

#endif /* TTM_DAEMON_LOG_H */
