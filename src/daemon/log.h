/*
 * log.h — ttmemd's log: one level-checked macro, one line per call, written with a single
 * write() so lines from a daemon and its children never interleave mid-line.
 *
 * Lines look like "2026-11-25T12:50:43.123Z ttmemd[4242] warn: <message>". The level is
 * checked before the arguments are evaluated, so a debug line costs one comparison when off.
 */
#ifndef TTM_DAEMON_LOG_H
#define TTM_DAEMON_LOG_H

#include <stddef.h>

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

/* The one logging macro of the daemon. */
#define TTM_LOG(level, ...)                                                                      \
    do {                                                                                         \
        if ((int)(TTM_LOG_##level) <= ttm__log_level)                                           \
            ttm__log_write(TTM_LOG_##level, __VA_ARGS__);                                       \
    } while (0)

/* Writes one line at level (the macro has checked it). A trailing newline is added. */
void ttm__log_write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

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
