/*
 * log.c — ttmemd's log destination, line format and per-call-site rate limits (log.h).
 *
 * The rate limits are shared by the loop thread and the metrics endpoint's threads, so a
 * mutex guards them; it is taken only when a line is about to be written, never per event.
 */
#include "daemon/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
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

static pthread_mutex_t sites_lock = PTHREAD_MUTEX_INITIALIZER;
static ttm_log_site *sites;        /* the sites that suppressed lines at least once */
static uint64_t suppressed_total;

static void vwrite_line(int level, const char *fmt, va_list ap)
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
    int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
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

void ttm__log_write(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vwrite_line(level, fmt, ap);
    va_end(ap);
}

/* Takes one token from site's bucket; false (and the line counted) when there is none. */
static bool site_admit(ttm_log_site *site, const char *file, int line, int level,
                       const char *fmt)
{
    uint64_t now = ttm__mono_ns();
    pthread_mutex_lock(&sites_lock);
    if (site->file == NULL) {
        site->file = file;
        site->line = line;
        site->level = level;
        site->fmt = fmt;
        site->tokens_milli = TTM_LOG_BURST * 1000u;
        site->refill_ns = now;
    }
    uint64_t elapsed_ms = (now - site->refill_ns) / 1000000u;
    if (elapsed_ms > 0) {
        uint64_t t = site->tokens_milli + elapsed_ms * TTM_LOG_RATE;
        site->tokens_milli = t > TTM_LOG_BURST * 1000u ? TTM_LOG_BURST * 1000u : (uint32_t)t;
        site->refill_ns += elapsed_ms * 1000000u;
    }
    bool ok = site->tokens_milli >= 1000u;
    if (ok) {
        site->tokens_milli -= 1000u;
    } else {
        site->suppressed++;
        suppressed_total++;
        if (!site->listed) {
            site->listed = true;
            site->next = sites;
            sites = site;
        }
    }
    pthread_mutex_unlock(&sites_lock);
    return ok;
}

void ttm__log_site_write(ttm_log_site *site, const char *file, int line, int level,
                         const char *fmt, ...)
{
    if (!site_admit(site, file, line, level, fmt))
        return;
    va_list ap;
    va_start(ap, fmt);
    vwrite_line(level, fmt, ap);
    va_end(ap);
}

void ttm__log_tick(void)
{
    for (;;) {
        /* one site at a time, written outside the lock */
        const char *file = NULL, *fmt = NULL;
        int line = 0, level = 0;
        uint64_t n = 0;
        pthread_mutex_lock(&sites_lock);
        for (ttm_log_site *s = sites; s != NULL; s = s->next)
            if (s->suppressed > 0) {
                n = s->suppressed;
                s->suppressed = 0;
                file = s->file;
                fmt = s->fmt;
                line = s->line;
                level = s->level;
                break;
            }
        pthread_mutex_unlock(&sites_lock);
        if (n == 0)
            return;
        const char *base = strrchr(file, '/');
        ttm__log_write(level, "%llu similar lines suppressed (%s:%d: \"%s\")",
                       (unsigned long long)n, base != NULL ? base + 1 : file, line, fmt);
    }
}

uint64_t ttm__log_suppressed_total(void)
{
    pthread_mutex_lock(&sites_lock);
    uint64_t n = suppressed_total;
    pthread_mutex_unlock(&sites_lock);
    return n;
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
