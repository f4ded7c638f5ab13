/*
 * export_csv.c — `ttmem export --format csv`: every ALLOC and FREE the replay applied, one row
 * each in record order, after a header row. RFC 4180: fields separated by commas, rows ended by
 * CRLF, a field holding a comma, a quote, CR or LF written in double quotes with its quotes
 * doubled (only host names can need it: every other field is a number or a fixed name).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/export.h"
#include "common/alloc.h"
#include "common/util.h"
#include "ttmem/ttmem.h"

/* The column names, in the order write_row writes them (docs/EXPORT.md lists what each is). */
static const char header[] = "seq,run,host,ts,kind,classes,mask,pid,device,memtype,addr,size,"
                             "obj,flags,stack,scope";

struct ttm_export_sink {
    FILE *f;
    uint64_t seq;
    char (*hosts)[2 * TTM_JOURNAL_HOST_MAX + 2]; /* each run's host, as a CSV field */
    size_t nhosts;
    int err;
};

/* s as one CSV field into out (cap bytes, cut): quoted when it holds , " CR or LF. */
static void csv_field(const char *s, char *out, size_t cap)
{
    if (strpbrk(s, ",\"\r\n") == NULL) {
        snprintf(out, cap, "%s", s);
        return;
    }
    size_t o = 0;
    out[o++] = '"';
    for (; *s != '\0' && o + 3 < cap; s++) {
        if (*s == '"')
            out[o++] = '"';
        out[o++] = *s;
    }
    out[o++] = '"';
    out[o] = '\0';
}

static void on_event(void *ctx, size_t run, const ttm_journal_event *e, uint32_t mask,
                     const ttm_apply_info *info)
{
    (void)info;
    ttm_export_sink *s = ctx;
    if (s->err != 0)
        return;
    char cls[512];
    ttm_export_classes(mask, cls, sizeof cls);
    const char *host = run < s->nhosts ? s->hosts[run] : "";
    if (fprintf(s->f,
                "%" PRIu64 ",%zu,%s,%" PRIu64 ",%s,%s,%" PRIu32 ",%" PRIu32 ",%u,%s,0x%" PRIx64
                ",%" PRIu64 ",%" PRIu64 ",%u,%" PRIu32 ",%" PRIu32 "\r\n",
                ++s->seq, run, host, e->ts, ttm__event_kind_name(e->kind), cls, mask, e->pid,
                (unsigned)e->device, ttm__memtype_name(e->memtype), e->addr, e->size, e->obj,
                (unsigned)e->flags, e->stack, e->scope) < 0)
        s->err = TTM_EIO;
}

static int csv_open(ttm_export_sink **out, FILE *f, const char *path, char *msg, size_t len)
{
    (void)path;
    ttm_export_sink *s = ttm__calloc(1, sizeof *s);
    if (s == NULL) {
        ttm__set_msg(msg, len, "out of memory");
        return TTM_ENOMEM;
    }
    s->f = f;
    if (fprintf(f, "%s\r\n", header) < 0)
        s->err = TTM_EIO;
    *out = s;
    return 0;
}

static void csv_observer(ttm_export_sink *s, ttm_replay_observer *obs)
{
    *obs = (ttm_replay_observer){.ctx = s, .event = on_event};
}

static int csv_begin(ttm_export_sink *s, const ttm_export_run *run)
{
    if (run->run >= s->nhosts) {
        void *n = ttm__reallocarray(s->hosts, run->run + 1, sizeof *s->hosts);
        if (n == NULL)
            return s->err = TTM_ENOMEM;
        s->hosts = n;
        memset(s->hosts + s->nhosts, 0, (run->run + 1 - s->nhosts) * sizeof *s->hosts);
        s->nhosts = run->run + 1;
    }
    csv_field(run->host != NULL ? run->host : "", s->hosts[run->run], sizeof *s->hosts);
    return s->err;
}

static int csv_end(ttm_export_sink *s, const ttm_export_run *run)
{
    (void)run;
    return s->err;
}

static int csv_close(ttm_export_sink *s, bool ok, char *msg, size_t len)
{
    (void)ok;
    if (s == NULL)
        return 0;
    int err = s->err;
    if ((fflush(s->f) != 0 || ferror(s->f)) && err == 0)
        err = TTM_EIO;
    ttm__free(s->hosts);
    ttm__free(s);
    return ttm_export_close_msg(err, msg, len);
}

const ttm_export_format ttm_export_csv = {
    .name = "csv",
    .ext = ".csv",
    .to_stream = true,
    .open = csv_open,
    .observer = csv_observer,
    .begin = csv_begin,
    .end = csv_end,
    .close = csv_close,
};
