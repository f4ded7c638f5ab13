/*
 * cmd_export.c — `ttmem export FILE... --format perfetto|sqlite|csv [-o OUT]`: run journals
 * replayed (core/replay.h) into a format other tools open (the writers: export_*.c,
 * docs/EXPORT.md).
 *
 * The output is written to a temporary file beside OUT and renamed into place once complete,
 * so a failed export (a full disk, an unwritable directory) leaves no half file behind; `-o -`
 * writes a streaming format (csv, perfetto) to stdout. A damaged journal is exported as far as
 * it can be read, and one line on stderr says what was lost.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/export.h"
#include "cli/sites.h"
#include "common/alloc.h"
#include "common/bytes.h"
#include "ttmem/ttmem.h"

#define USAGE "export FILE... --format perfetto|sqlite|csv [-o OUT|-]"

/* ---- what the command gathers for the formats -------------------------------------------------- */

/* The scope ids each run's events used, as a bit set per run (ids are dense from 1). */
typedef struct scope_sets {
    ttm_bytes *bits;
    size_t n;
    bool nomem;
} scope_sets;

typedef struct export_state {
    ttm_replay_observer inner; /* the format's */
    scope_sets scopes;
} export_state;

static void note_scope(scope_sets *ss, size_t run, uint32_t scope)
{
    if (scope == 0 || ss->nomem)
        return;
    if (run >= ss->n) {
        ttm_bytes *n = ttm__reallocarray(ss->bits, run + 1, sizeof *n);
        if (n == NULL) {
            ss->nomem = true;
            return;
        }
        memset(n + ss->n, 0, (run + 1 - ss->n) * sizeof *n);
        ss->bits = n;
        ss->n = run + 1;
    }
    ttm_bytes *b = &ss->bits[run];
    size_t byte = scope / 8;
    if (byte >= b->len) {
        ttm_bw w = ttm__bw_over(b);
        uint8_t *room = ttm__bw_room(&w, byte + 1 - b->len);
        if (room == NULL) {
            ss->nomem = true;
            return;
        }
        memset(room, 0, byte + 1 - b->len);
        b->len = byte + 1;
    }
    b->data[byte] |= (uint8_t)(1u << (scope % 8));
}

/* The format's event callback, after noting the event's scope. */
static void on_event(void *ctx, size_t run, const ttm_journal_event *e, uint32_t mask,
                     const ttm_apply_info *info)
{
    export_state *x = ctx;
    note_scope(&x->scopes, run, e->scope);
    if (x->inner.event != NULL)
        x->inner.event(x->inner.ctx, run, e, mask, info);
}

/* The format's other callbacks, unchanged: the wrapper only swaps the context back. */
static void on_buffer(void *ctx, size_t run, const ttm_replay_buffer *b)
{
    export_state *x = ctx;
    x->inner.buffer(x->inner.ctx, run, b);
}

static void on_proc(void *ctx, size_t run, const ttm_journal_proc *p)
{
    export_state *x = ctx;
    x->inner.proc(x->inner.ctx, run, p);
}

static void on_mark(void *ctx, size_t run, const ttm_journal_mark *m)
{
    export_state *x = ctx;
    x->inner.mark(x->inner.ctx, run, m);
}

static void on_device(void *ctx, size_t run, const ttm_journal_device *d)
{
    export_state *x = ctx;
    x->inner.device(x->inner.ctx, run, d);
}

static void on_usage(void *ctx, size_t run, uint64_t ts, uint16_t device, uint8_t memtype,
                     uint64_t bytes)
{
    export_state *x = ctx;
    x->inner.usage(x->inner.ctx, run, ts, device, memtype, bytes);
}

static void on_chunk(void *ctx, size_t run, const ttm_journal_chunk *c)
{
    export_state *x = ctx;
    x->inner.chunk(x->inner.ctx, run, c);
}

/* The format's observer with the scopes of its events noted on the way. */
static ttm_replay_observer noting_scopes(export_state *x)
{
    const ttm_replay_observer *in = &x->inner;
    return (ttm_replay_observer){.ctx = x,
                                 .event = on_event,
                                 .buffer = in->buffer != NULL ? on_buffer : NULL,
                                 .proc = in->proc != NULL ? on_proc : NULL,
                                 .mark = in->mark != NULL ? on_mark : NULL,
                                 .device = in->device != NULL ? on_device : NULL,
                                 .usage = in->usage != NULL ? on_usage : NULL,
                                 .chunk = in->chunk != NULL ? on_chunk : NULL};
}

/* The ids of run's bit set, ascending, in a new array (*n its count); NULL when none. */
static uint32_t *scope_list(const scope_sets *ss, size_t run, size_t *n)
{
    *n = 0;
    if (run >= ss->n)
        return NULL;
    const ttm_bytes *b = &ss->bits[run];
    uint32_t *ids = ttm__xcalloc(b->len * 8 + 1, sizeof *ids);
    for (size_t i = 0; i < b->len * 8; i++)
        if (b->data[i / 8] & (1u << (i % 8)))
            ids[(*n)++] = (uint32_t)i;
    return ids;
}

/* A report naming every stack of reg's call-site table and the given scopes (sites.h). */
static int build_sites(const ttm_registry *reg, const uint32_t *scopes, size_t nscopes,
                       ttm_report *r)
{
    ttm_stacks_stats ss;
    ttm_stacks_stats_get(ttm_registry_stacks_c(reg), &ss);
    uint32_t *ids = ttm__calloc((size_t)ss.stacks + 1, sizeof *ids);
    if (ids == NULL)
        return TTM_ENOMEM;
    for (size_t i = 0; i < ss.stacks; i++)
        ids[i] = (uint32_t)(i + 1);
    int err = ttm_cli_name_ids(reg, ids, (size_t)ss.stacks, scopes, nscopes, NULL, r);
    ttm__free(ids);
    return err;
}

/* ---- the output --------------------------------------------------------------------------------- */

/* Where the export goes: stdout, or a temporary file renamed to path when complete. */
typedef struct export_out {
    const char *path; /* NULL: stdout */
    char tmp[4096];
    FILE *f;
} export_out;

/* The default output: FILE without ".ttmem", with the format's suffix. */
static void default_output(const char *file, const char *ext, char *buf, size_t len)
{
    size_t n = strlen(file);
    if (n > 6 && strcmp(file + n - 6, ".ttmem") == 0)
        n -= 6;
    snprintf(buf, len, "%.*s%s", (int)n, file, ext);
}

/* Creates the temporary file (and opens it for a stream format). Returns 0, or prints one
 * line and returns 1. */
static int out_open(export_out *o, const ttm_export_format *fmt)
{
    if (o->path == NULL) {
        o->f = stdout;
        return 0;
    }
    snprintf(o->tmp, sizeof o->tmp, "%s.tmp%ld", o->path, (long)getpid());
    int fd = open(o->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return ttm_cli_fail("export: cannot write %s: %s", o->path, strerror(errno)), 1;
    if (!fmt->to_stream) {
        close(fd); /* SQLite opens the empty file itself as a new database */
        return 0;
    }
    o->f = fdopen(fd, "wb");
    if (o->f == NULL) {
        int e = errno;
        close(fd);
        unlink(o->tmp);
        return ttm_cli_fail("export: cannot write %s: %s", o->path, strerror(e)), 1;
    }
    return 0;
}

/* Ends the output: on success the temporary file becomes path. Returns 0, or prints one line
 * and returns 1. */
static int out_close(export_out *o, bool ok)
{
    if (o->path == NULL)
        return ok ? 0 : 1;
    if (o->f != NULL && fclose(o->f) != 0 && ok) {
        ok = false;
        ttm_cli_fail("export: cannot write %s: %s", o->path, strerror(errno));
    }
    o->f = NULL;
    if (ok && rename(o->tmp, o->path) != 0) {
        ok = false;
        ttm_cli_fail("export: cannot write %s: %s", o->path, strerror(errno));
    }
    if (!ok)
        unlink(o->tmp);
    return ok ? 0 : 1;
}

/* ---- the command -------------------------------------------------------------------------------- */

static ttm_export_run run_info(ttm_replay *rp, size_t run, bool procs)
{
    ttm_export_run ri = {.run = run, .nruns = ttm_replay_runs(rp),
                         .host = ttm_replay_host(rp, run)};
    if (procs)
        ri.procs = ttm_replay_procs(rp, run, &ri.nprocs);
    return ri;
}

/* Everything after the journals are open and the output is ready. Returns 0; 1 after printing
 * one line; -1 when the writer failed (its close() says why). */
static int export_runs(ttm_replay *rp, const ttm_export_format *fmt, ttm_export_sink *sink)
{
    size_t nruns = ttm_replay_runs(rp);
    int err = fmt->needs_procs ? ttm_replay_run(rp, NULL, UINT64_MAX) : TTM_OK;
    if (err != TTM_OK)
        return ttm_cli_fail("export: replaying the journals failed: %s", ttm_strerror(err)), 1;
    for (size_t i = 0; i < nruns; i++) {
        ttm_export_run ri = run_info(rp, i, fmt->needs_procs);
        if (fmt->begin(sink, &ri) != 0)
            return -1;
    }
    export_state x = {0};
    fmt->observer(sink, &x.inner);
    ttm_replay_observer obs = fmt->needs_sites ? noting_scopes(&x) : x.inner;
    int rc = 0;
    err = ttm_replay_run(rp, &obs, UINT64_MAX);
    if (err != TTM_OK || x.scopes.nomem) {
        rc = ttm_cli_fail("export: replaying the journals failed: %s",
                          ttm_strerror(err != TTM_OK ? err : TTM_ENOMEM)) != 0;
        goto out_free;
    }
    for (size_t i = 0; i < nruns && rc == 0; i++) {
        ttm_export_run ri = run_info(rp, i, true);
        ri.title = ttm_replay_title(rp, i);
        ttm_replay_span(rp, i, &ri.first_ts, &ri.last_ts);
        ri.reg = ttm_replay_registry(rp, i);
        ttm_report sites = {0};
        uint32_t *scopes = NULL;
        if (fmt->needs_sites) {
            scopes = scope_list(&x.scopes, i, &ri.nscopes);
            ri.scopes = scopes;
            ri.sites = &sites;
            if (build_sites(ri.reg, scopes, ri.nscopes, &sites) != TTM_OK)
                rc = ttm_cli_fail("export: out of memory resolving the call sites") != 0;
        }
        if (rc == 0 && fmt->end(sink, &ri) != 0)
            rc = -1;
        ttm_report_clear(&sites);
        ttm__free(scopes);
    }
out_free:
    for (size_t i = 0; i < x.scopes.n; i++)
        ttm__bytes_free(&x.scopes.bits[i]);
    ttm__free(x.scopes.bits);
    return rc;
}

int ttm_cli_export(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"format", required_argument, NULL, 'f'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *format = NULL, *output = NULL;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "f:o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            format = optarg;
            break;
        case 'o':
            output = optarg;
            break;
        case 'h':
            printf("usage: ttmem " USAGE "\n");
            return 0;
        default:
            return ttm_cli_bad_option("export", argv);
        }
    }
    /* getopt_long permutes: files and options in any order */
    int nfiles = argc - optind;
    char **files = argv + optind;
    if (nfiles == 0)
        return ttm_cli_fail("export: no journal given; usage: ttmem " USAGE);
    if (format == NULL)
        return ttm_cli_fail("export: --format is required (perfetto, sqlite or csv)");
    const ttm_export_format *fmt = ttm_export_format_find(format);
    if (fmt == NULL)
        return ttm_cli_fail("export: unknown format '%s'; use perfetto, sqlite or csv", format);

    export_out out = {0};
    char path[4096];
    if (output == NULL) {
        default_output(files[0], fmt->ext, path, sizeof path);
        out.path = path;
    } else if (strcmp(output, "-") == 0) {
        if (!fmt->to_stream)
            return ttm_cli_fail("export: an SQLite database cannot go to stdout; give -o FILE");
    } else {
        out.path = output;
    }

    char msg[512] = "";
    ttm_replay *rp = NULL;
    if (ttm_replay_open(&rp, (const char *const *)files, (size_t)nfiles, msg, sizeof msg) != 0)
        return ttm_cli_fail("export: %s", msg), 1;
    int rc = out_open(&out, fmt);
    if (rc != 0)
        goto out_replay;
    ttm_export_sink *sink = NULL;
    if (fmt->open(&sink, out.f, out.tmp, msg, sizeof msg) != 0) {
        ttm_cli_fail("export: %s: %s", out.path != NULL ? out.path : "stdout", msg);
        out_close(&out, false);
        rc = 1;
        goto out_replay;
    }
    rc = export_runs(rp, fmt, sink);
    if (fmt->close(sink, rc == 0, msg, sizeof msg) != 0 && rc <= 0) {
        ttm_cli_fail("export: cannot write %s: %s", out.path != NULL ? out.path : "stdout",
                     msg);
        rc = 1;
    }
    rc = rc != 0;
    if (out_close(&out, rc == 0) != 0)
        rc = 1;
    if (rc == 0) {
        char lost[512];
        ttm_replay_summary(rp, lost, sizeof lost);
        if (lost[0] != '\0')
            fprintf(stderr, "ttmem: export: %s\n", lost);
    }
out_replay:
    ttm_replay_close(rp);
    return rc;
}
