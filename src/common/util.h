/*
 * util.h — small helpers: the one-line message a failing call leaves for its caller, and
 * /proc/PID/stat fields. (The little-endian codec is bytes.h, included here for its users.)
 */
#ifndef TTM_COMMON_UTIL_H
#define TTM_COMMON_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/bytes.h" /* the little-endian field access every codec here uses */

/* Formats one line into msg (len bytes, always NUL-terminated); msg NULL or len 0: nothing. */
void ttm__set_msg(char *msg, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Reads /proc/PID/stat into buf (len bytes) and returns its field `field` (1-based, as proc(5)
 * numbers them: 3 state, 14 utime, 15 stime, 22 starttime; field >= 3), the text up to the next
 * space; NULL when the file cannot be read (errno says why) or has no such field. The command
 * name (field 2) may hold spaces and parentheses: fields are counted from its last ')'. */
const char *ttm__proc_stat_field(uint32_t pid, int field, char *buf, size_t len);

/* qsort() of n elements; an empty (possibly NULL) array is left alone, as qsort may not be given
 * a NULL base even with n 0 (UBSan says so). */
static inline void ttm__qsort(void *base, size_t n, size_t size,
                              int (*cmp)(const void *, const void *))
{
    if (n > 1)
        qsort(base, n, size, cmp);
}

#endif /* TTM_COMMON_UTIL_H */
