/*
 * log.c — ttmemd's log destination and line format (log.h).
 */
#include "daemon/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/paths.h"
#include "ttmem/ttmem.h"

int ttm__log_level = TTM_LOG_INFO;
static int log_fd = STDERR_FILENO;

static const char *const level_names[] = {
#define TTM__LOG_NAME(name, value, text) [value] = text,
    TTM_LOG_LEVEL_MAP(TTM__LOG_NAME)
#undef TTM__LOG_NAME
};

int ttm__log_parse_level(const char *s, int *out)
{
    for (int i = 0; i < (int)(sizeof level_names / sizeof level_names[0]); i++)
        if (s != NULL && strcasecmp(s, level_names[i]) == 0) {
            *out = i;
            return TTM_OK;
        }
    return TTM_EINVAL;
}

int ttm__log_open(const char *path)
{
    if (path == NULL) {
        if (log_fd != STDERR_FILENO)
            close(log_fd);
        log_fd = STDERR_FILENO;
        return TTM_OK;
    }
    /* never through a planted link, never into a file that is not a plain file of ours */
    int fd = ttm__file_create(path, O_WRONLY | O_APPEND, 0600);
    if (fd < 0)
        return TTM_EIO;
    if (log_fd != STDERR_FILENO)
        close(log_fd);
    log_fd = fd;
    return TTM_OK;
}

void ttm__log_write(int level, const char *fmt, ...)
{
    int saved = errno;
    char line[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    const char *name = level >= 0 && level < (int)(sizeof level_names / sizeof level_names[0])
                           ? level_names[level]
                           : "?";
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ ttmemd[%ld] %s: ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, (long)getpid(), name);
    if (n < 0)
        n = 0;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m > 0 ? (size_t)m : 0);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    for (size_t i = (size_t)n; i < len; i++) /* one line, whatever a peer named itself */
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    line[len++] = '\n';
    ssize_t w;
    do
        w = write(log_fd, line, len);
    while (w < 0 && errno == EINTR);
    errno = saved;
}

void ttm__log_raw(const char *buf, size_t len)
{
    int saved = errno;
    while (len > 0) {
        ssize_t w = write(log_fd, buf, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        buf += w;
        len -= (size_t)w;
    }
    errno = saved;
}
