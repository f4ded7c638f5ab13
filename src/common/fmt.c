/*
 * fmt.c — counts and byte sizes for people.
 */
#include "common/fmt.h"

#include <stdio.h>
#include <string.h>

char *ttm__fmt_count(char *buf, uint64_t v)
{
    char digits[24];
    int n = snprintf(digits, sizeof digits, "%llu", (unsigned long long)v);
    size_t o = 0;
    for (int i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

char *ttm__fmt_bytes(char *buf, uint64_t v)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    if (v < 1024) {
        snprintf(buf, TTM_FMT_LEN, "%llu B", (unsigned long long)v);
        return buf;
    }
    double x = (double)v;
    unsigned u = 0;
    while (x >= 1024.0 && u + 1 < sizeof units / sizeof units[0]) {
        x /= 1024.0;
        u++;
    }
    snprintf(buf, TTM_FMT_LEN, x < 10 ? "%.2f %s" : x < 100 ? "%.1f %s" : "%.0f %s", x, units[u]);
    return buf;
}
