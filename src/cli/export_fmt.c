/*
 * export_fmt.c — what the export formats share (export.h): the table of formats, and the few
 * fields every format writes the same way (class names, buffer names, command lines).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/export.h"
#include "core/registry.h"

static const ttm_export_format *const formats[] = {&ttm_export_perfetto, &ttm_export_sqlite,
                                                    &ttm_export_csv};

const ttm_export_format *ttm_export_format_find(const char *name)
{
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
        if (strcmp(formats[i]->name, name) == 0)
            return formats[i];
    return NULL;
}

const char *ttm_export_classes(uint32_t mask, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = '\0';
    for (unsigned c = 0; c < TTM_CLASS__COUNT; c++) {
        if (!(mask & TTM_CLASS_BIT(c)))
            continue;
        int n = snprintf(buf + o, len - o, "%s%s", o > 0 ? "|" : "", ttm_class_name(c));
        if (n < 0 || (size_t)n >= len - o) {
            buf[o] = '\0'; /* whole names only */
            break;
        }
        o += (size_t)n;
    }
    return buf;
}

void ttm_export_buffer_name(const ttm_replay_buffer *b, char *buf, size_t len)
{
    snprintf(buf, len, "b%" PRIx64 "_%" PRIu32, b->addr, b->reuse);
}

const char *ttm_export_cmdline(const char *cmdline, size_t len, char *buf, size_t cap)
{
    size_t n = cmdline == NULL ? 0 : len < cap - 1 ? len : cap - 1;
    while (n > 0 && cmdline[n - 1] == '\0') /* the last argument's terminator */
        n--;
    for (size_t i = 0; i < n; i++)
        buf[i] = cmdline[i] == '\0' ? ' ' : cmdline[i];
    buf[n] = '\0';
    return buf;
}
