/*
 * util.c — util.h's one-line message helper and /proc/PID/stat reader.
 */
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void ttm__set_msg(char *msg, size_t len, const char *fmt, ...)
{
    if (msg == NULL || len == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, len, fmt, ap);
    va_end(ap);
}

const char *ttm__proc_stat_field(uint32_t pid, int field, char *buf, size_t len)
{
    if (field < 3 || len < 2)
        return NULL;
    char path[64];
    snprintf(path, sizeof path, "/proc/%u/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    ssize_t n;
    do {
        n = read(fd, buf, len - 1);
    } while (n < 0 && errno == EINTR);
    int saved = errno;
    close(fd);
    errno = saved;
    if (n <= 0) {
        if (n == 0)
            errno = ENODATA;
        return NULL;
    }
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the end of field 2 */
    for (int f = 2; p != NULL && f < field; f++)
        p = strchr(p + 1, ' '); /* the space before field f + 1 */
    if (p == NULL || p[1] == '\0') {
        errno = EINVAL;
        return NULL;
    }
    return p + 1;
}
