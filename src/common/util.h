/*
 * util.h — small helpers every wire codec here needs: little-endian field access that does not
 * depend on the host's byte order or alignment, and the one-line message a failing call leaves
 * for its caller.
 */
#ifndef TTM_COMMON_UTIL_H
#define TTM_COMMON_UTIL_H

#include <stddef.h>
#include <stdint.h>

static inline uint32_t ttm__le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t ttm__le64(const uint8_t *p)
{
    return (uint64_t)ttm__le32(p) | (uint64_t)ttm__le32(p + 4) << 32;
}

static inline void ttm__put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++, v >>= 8)
        p[i] = (uint8_t)v;
}

static inline void ttm__put_le64(uint8_t *p, uint64_t v)
{
    ttm__put_le32(p, (uint32_t)v);
    ttm__put_le32(p + 4, (uint32_t)(v >> 32));
}

/* Formats one line into msg (len bytes, always NUL-terminated); msg NULL or len 0: nothing. */
void ttm__set_msg(char *msg, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Reads /proc/PID/stat into buf (len bytes) and returns its field `field` (1-based, as proc(5)
 * numbers them: 3 state, 14 utime, 15 stime, 22 starttime; field >= 3), the text up to the next
 * space; NULL when the file cannot be read (errno says why) or has no such field. The command
 * name (field 2) may hold spaces and parentheses: fields are counted from its last ')'. */
const char *ttm__proc_stat_field(uint32_t pid, int field, char *buf, size_t len);

#endif /* TTM_COMMON_UTIL_H */
