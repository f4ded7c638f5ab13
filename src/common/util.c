/*
 * util.c — the one-line message helper of util.h.
 */
#include "common/util.h"

#include <stdarg.h>
#include <stdio.h>

void ttm__set_msg(char *msg, size_t len, const char *fmt, ...)
{
    if (msg == NULL || len == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, len, fmt, ap);
    va_end(ap);
}
