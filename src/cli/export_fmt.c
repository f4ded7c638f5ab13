/*
 * export_fmt.c — what the export formats share (export.h): the table of formats, and the few
 * fields every format writes the same way (class names, buffer names, command lines).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/export.h"
#include "common/alloc.h"
#include "common/util.h"
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

void ttm_export_ends_add(ttm_export_ends *x, size_t run, const ttm_replay_buffer *b)
{
    if (b->free_ts == 0 || b->leaked) {
        x->fn(x->ctx, run, b, b->leaked ? TTM_EXPORT_LEAKED : TTM_EXPORT_LIVE);
        return;
    }
    if (x->n == x->cap) {
        size_t cap = x->cap == 0 ? 16 : x->cap * 2;
        ttm_replay_buffer *h = ttm__reallocarray(x->held, cap, sizeof *h);
        size_t *r = h != NULL ? ttm__reallocarray(x->runs, cap, sizeof *r) : NULL;
        if (h != NULL)
            x->held = h;
        if (r == NULL) {
            x->nomem = true;
            x->fn(x->ctx, run, b, TTM_EXPORT_FREED);
            return;
        }
        x->runs = r;
        x->cap = cap;
    }
    x->held[x->n] = *b;
    x->runs[x->n++] = run;
}

void ttm_export_ends_flush(ttm_export_ends *x, bool by_alloc)
{
    for (size_t i = 0; i < x->n; i++)
        x->fn(x->ctx, x->runs[i], &x->held[i], by_alloc ? TTM_EXPORT_REPLACED : TTM_EXPORT_FREED);
    x->n = 0;
}

void ttm_export_ends_free(ttm_export_ends *x)
{
    ttm__free(x->held);
    ttm__free(x->runs);
    x->held = NULL;
    x->runs = NULL;
    x->n = x->cap = 0;
}

const char *ttm_export_end_name(ttm_export_end end)
{
    static const char *const names[] = {"live", "freed", "replaced", "leaked"};
    return end <= TTM_EXPORT_LEAKED ? names[end] : "?";
}

int ttm_export_close_msg(int err, char *msg, size_t len)
{
    if (err != 0)
        ttm__set_msg(msg, len, "%s", err == TTM_EIO ? "write failed" : ttm_strerror(err));
    return err;
}
