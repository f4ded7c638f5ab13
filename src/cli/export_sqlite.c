/*
 * export_sqlite.c — `ttmem export --format sqlite`: a run as an SQLite database (docs/EXPORT.md
 * gives the schema and the queries it is made for).
 *
 * One transaction around the whole export, one prepared statement per table reused for every
 * row: the database is written at the speed of the replay rather than of the disk's syncs (a
 * failed export leaves no file: the command writes a temporary one and renames it). Rows come
 * from where PLAN12.md says they must: events from the observer's event callback, buffers from
 * its buffer callback (one row per life), usage from its usage callback; processes, devices,
 * call sites and scope names from the run's info after the replay. The indexes are made after
 * the rows, which is cheaper than keeping them up to date row by row.
 */
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "cli/export.h"
#include "cli/sites.h"
#include "common/alloc.h"
#include "common/arch.h"
#include "common/util.h"
#include "ttmem/ttmem.h"

/* The schema. Every id (stack, scope, site) is one of its run's call-site table: join on
 * (run, id). docs/EXPORT.md, "SQLite", describes each column. */
static const char schema[] =
    "CREATE TABLE meta(run INTEGER PRIMARY KEY, host TEXT, title TEXT, first_ts INTEGER,"
    " last_ts INTEGER, ttmem_version TEXT);"
    "CREATE TABLE events(seq INTEGER PRIMARY KEY, run INTEGER, ts INTEGER, kind TEXT,"
    " classes TEXT, mask INTEGER, pid INTEGER, device INTEGER, memtype TEXT, addr INTEGER,"
    " size INTEGER, obj INTEGER, flags INTEGER, stack INTEGER, scope INTEGER);"
    "CREATE TABLE buffers(id INTEGER PRIMARY KEY, run INTEGER, name TEXT, pid INTEGER,"
    " device INTEGER, memtype TEXT, addr INTEGER, size INTEGER, obj INTEGER, view INTEGER,"
    " alloc_ts INTEGER, free_ts INTEGER, leaked INTEGER, ended TEXT, site INTEGER,"
    " scope INTEGER, free_site INTEGER);"
    "CREATE TABLE usage(seq INTEGER PRIMARY KEY, run INTEGER, ts INTEGER, device INTEGER,"
    " memtype TEXT, bytes INTEGER);"
    "CREATE TABLE marks(seq INTEGER PRIMARY KEY, run INTEGER, ts INTEGER, pid INTEGER,"
    " name TEXT);"
    "CREATE TABLE processes(run INTEGER, pid INTEGER, name TEXT, cmdline TEXT,"
    " start_ts INTEGER, exit_ts INTEGER, status INTEGER, exited INTEGER, forgotten INTEGER,"
    " host TEXT, PRIMARY KEY(run, pid));"
    "CREATE TABLE devices(run INTEGER, host TEXT, device INTEGER, arch TEXT,"
    " dram_capacity INTEGER, l1_capacity INTEGER, system_capacity INTEGER,"
    " PRIMARY KEY(run, device));"
    "CREATE TABLE stacks(run INTEGER, id INTEGER, depth INTEGER, PRIMARY KEY(run, id));"
    "CREATE TABLE frames(run INTEGER, stack INTEGER, position INTEGER, kind TEXT,"
    " function TEXT, file TEXT, line INTEGER, module TEXT, offset INTEGER,"
    " PRIMARY KEY(run, stack, position));"
    "CREATE TABLE scopes(run INTEGER, id INTEGER, name TEXT, PRIMARY KEY(run, id));";

/* After the rows (cheaper than keeping them up to date row by row): what the documented
 * queries search by. Building them is about a third of an export's time; no more are made. */
static const char indexes[] =
    "CREATE INDEX events_addr ON events(run, device, addr);"
    "CREATE INDEX buffers_at ON buffers(run, device, memtype, alloc_ts);"
    "CREATE INDEX usage_key ON usage(run, device, memtype, ts);";

enum { ST_EVENT, ST_BUFFER, ST_USAGE, ST_MARK, ST_PROC, ST_DEVICE, ST_STACK, ST_FRAME, ST_SCOPE,
       ST_META, ST__COUNT };

static const char *const inserts[ST__COUNT] = {
    [ST_EVENT] = "INSERT INTO events VALUES(NULL,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    [ST_BUFFER] = "INSERT INTO buffers VALUES(NULL,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    [ST_USAGE] = "INSERT INTO usage VALUES(NULL,?,?,?,?,?)",
    [ST_MARK] = "INSERT INTO marks VALUES(NULL,?,?,?,?)",
    [ST_PROC] = "INSERT OR REPLACE INTO processes VALUES(?,?,?,?,?,?,?,?,?,?)",
    [ST_DEVICE] = "INSERT OR REPLACE INTO devices VALUES(?,?,?,?,?,?,?)",
    [ST_STACK] = "INSERT INTO stacks VALUES(?,?,?)",
    [ST_FRAME] = "INSERT INTO frames VALUES(?,?,?,?,?,?,?,?,?)",
    [ST_SCOPE] = "INSERT INTO scopes VALUES(?,?,?)",
    [ST_META] = "INSERT INTO meta VALUES(?,?,?,?,?,?)",
};

struct ttm_export_sink {
    sqlite3 *db;
    ttm_export_ends ends; /* lives waiting for the event that closed them */
    sqlite3_stmt *st[ST__COUNT];
    int err;       /* the first failure (TTM_EIO, TTM_ENOMEM) */
    char msg[256]; /* ... and what SQLite said */
};

/* Keeps the first failure, with SQLite's words for it. */
static void db_fail(ttm_export_sink *s, const char *what)
{
    if (s->err != 0)
        return;
    int code = sqlite3_errcode(s->db);
    s->err = code == SQLITE_NOMEM ? TTM_ENOMEM : TTM_EIO;
    ttm__set_msg(s->msg, sizeof s->msg, "%s: %s", what, sqlite3_errmsg(s->db));
}

static void exec(ttm_export_sink *s, const char *sql, const char *what)
{
    if (s->err == 0 && sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        db_fail(s, what);
}

/* Binders for column i (1-based) of a statement. Unsigned 64-bit values are stored as
 * SQLite's signed integers: addresses at or above 2^63 come out negative (docs/EXPORT.md). */
static void b_int(sqlite3_stmt *q, int i, uint64_t v)
{
    sqlite3_bind_int64(q, i, (sqlite3_int64)v);
}

static void b_text(sqlite3_stmt *q, int i, const char *t)
{
    if (t == NULL)
        sqlite3_bind_null(q, i);
    else
        sqlite3_bind_text(q, i, t, -1, SQLITE_STATIC); /* each row is stepped before its strings go */
}

/* Runs statement k with what was bound, then makes it ready for the next row. */
static void step(ttm_export_sink *s, int k)
{
    sqlite3_stmt *q = s->st[k];
    if (sqlite3_step(q) != SQLITE_DONE)
        db_fail(s, "insert");
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
}

/* ---- the observer ---------------------------------------------------------------------------- */

static void on_event(void *ctx, size_t run, const ttm_journal_event *e, uint32_t mask,
                     const ttm_apply_info *info)
{
    (void)info;
    ttm_export_sink *s = ctx;
    ttm_export_ends_flush(&s->ends, e->kind == TTM_EV_ALLOC);
    if (s->err != 0)
        return;
    char cls[512];
    sqlite3_stmt *q = s->st[ST_EVENT];
    b_int(q, 1, run);
    b_int(q, 2, e->ts);
    b_text(q, 3, ttm__event_kind_name(e->kind));
    b_text(q, 4, ttm_export_classes(mask, cls, sizeof cls));
    b_int(q, 5, mask);
    b_int(q, 6, e->pid);
    b_int(q, 7, e->device);
    b_text(q, 8, ttm__memtype_name(e->memtype));
    b_int(q, 9, e->addr);
    b_int(q, 10, e->size);
    b_int(q, 11, e->obj);
    b_int(q, 12, e->flags);
    b_int(q, 13, e->stack);
    b_int(q, 14, e->scope);
    step(s, ST_EVENT);
}

static void on_life(void *ctx, size_t run, const ttm_replay_buffer *b, ttm_export_end end)
{
    ttm_export_sink *s = ctx;
    if (s->err != 0)
        return;
    char name[48];
    ttm_export_buffer_name(b, name, sizeof name);
    sqlite3_stmt *q = s->st[ST_BUFFER];
    b_int(q, 1, run);
    b_text(q, 2, name);
    b_int(q, 3, b->pid);
    b_int(q, 4, b->device);
    b_text(q, 5, ttm__memtype_name(b->memtype));
    b_int(q, 6, b->addr);
    b_int(q, 7, b->size);
    b_int(q, 8, b->obj);
    b_int(q, 9, (b->flags & TTM_FLAG_VIEW) != 0);
    b_int(q, 10, b->alloc_ts);
    if (b->free_ts != 0)
        b_int(q, 11, b->free_ts); /* else NULL: live at the end */
    b_int(q, 12, b->leaked);
    b_text(q, 13, ttm_export_end_name(end));
    b_int(q, 14, b->stack);
    b_int(q, 15, b->scope);
    b_int(q, 16, b->free_stack);
    step(s, ST_BUFFER);
}

static void on_buffer(void *ctx, size_t run, const ttm_replay_buffer *b)
{
    ttm_export_sink *s = ctx;
    ttm_export_ends_add(&s->ends, run, b);
}

static void on_usage(void *ctx, size_t run, uint64_t ts, uint16_t device, uint8_t memtype,
                     uint64_t bytes)
{
    ttm_export_sink *s = ctx;
    if (s->err != 0)
        return;
    sqlite3_stmt *q = s->st[ST_USAGE];
    b_int(q, 1, run);
    b_int(q, 2, ts);
    b_int(q, 3, device);
    b_text(q, 4, ttm__memtype_name(memtype));
    b_int(q, 5, bytes);
    step(s, ST_USAGE);
}

static void on_mark(void *ctx, size_t run, const ttm_journal_mark *m)
{
    ttm_export_sink *s = ctx;
    ttm_export_ends_flush(&s->ends, false);
    if (s->err != 0)
        return;
    sqlite3_stmt *q = s->st[ST_MARK];
    b_int(q, 1, run);
    b_int(q, 2, m->ts);
    b_int(q, 3, m->pid);
    b_text(q, 4, m->name);
    step(s, ST_MARK);
}

/* A process record closes no life by an ALLOC: lives held are freed ones (or views dropped). */
static void on_proc(void *ctx, size_t run, const ttm_journal_proc *p)
{
    (void)run;
    (void)p;
    ttm_export_sink *s = ctx;
    ttm_export_ends_flush(&s->ends, false);
}

/* ---- what the run's info holds ----------------------------------------------------------------- */

static void put_procs(ttm_export_sink *s, const ttm_export_run *run)
{
    sqlite3_stmt *q = s->st[ST_PROC];
    for (size_t i = 0; i < run->nprocs && s->err == 0; i++) {
        const ttm_replay_proc *p = &run->procs[i];
        char cmd[4096];
        b_int(q, 1, run->run);
        b_int(q, 2, p->pid);
        b_text(q, 3, p->name);
        b_text(q, 4, ttm_export_cmdline(p->cmdline, p->cmdline_len, cmd, sizeof cmd));
        if (p->start_ts != 0)
            b_int(q, 5, p->start_ts);
        if (p->exited)
            b_int(q, 6, p->exit_ts);
        sqlite3_bind_int64(q, 7, p->status);
        b_int(q, 8, p->exited);
        b_int(q, 9, p->forgotten);
        b_text(q, 10, run->host);
        step(s, ST_PROC);
    }
}

static void put_devices(ttm_export_sink *s, const ttm_export_run *run)
{
    if (run->reg == NULL)
        return;
    size_t n = ttm_registry_devices(run->reg, NULL, 0);
    ttm_device_stats *d = n > 0 ? ttm__calloc(n, sizeof *d) : NULL;
    if (n > 0 && d == NULL) {
        s->err = TTM_ENOMEM;
        ttm__set_msg(s->msg, sizeof s->msg, "out of memory");
        return;
    }
    n = ttm_registry_devices(run->reg, d, n);
    sqlite3_stmt *q = s->st[ST_DEVICE];
    for (size_t i = 0; i < n && s->err == 0; i++) {
        const ttm_arch_profile *ap = ttm__arch_profile(d[i].arch);
        b_int(q, 1, run->run);
        b_text(q, 2, run->host);
        b_int(q, 3, d[i].device);
        b_text(q, 4, ap != NULL ? ap->name : NULL);
        b_int(q, 5, d[i].capacity[TTM_SPACE_DRAM]);
        b_int(q, 6, d[i].capacity[TTM_SPACE_L1]);
        b_int(q, 7, d[i].capacity[TTM_SPACE_SYSTEM]);
        step(s, ST_DEVICE);
    }
    ttm__free(d);
}

static const char *frame_kind(uint8_t kind)
{
    return kind == TTM_FRAME_NATIVE ? "native" : kind == TTM_FRAME_PYTHON ? "python" : "text";
}

/* Every stack of the run with its frames, resolved as the text report shows them. */
static void put_stacks(ttm_export_sink *s, const ttm_export_run *run)
{
    const ttm_report *r = run->sites;
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->nstacks && s->err == 0; i++) {
        const ttm_report_stack *st = &r->stacks[i];
        sqlite3_stmt *q = s->st[ST_STACK];
        b_int(q, 1, run->run);
        b_int(q, 2, st->id);
        b_int(q, 3, st->nframes);
        step(s, ST_STACK);
        for (size_t k = 0; k < st->nframes && s->err == 0; k++) {
            const ttm_report_frame *f = &st->frames[k];
            const ttm_report_module *m =
                f->kind == TTM_FRAME_NATIVE ? ttm_cli_module(r, f->module) : NULL;
            q = s->st[ST_FRAME];
            b_int(q, 1, run->run);
            b_int(q, 2, st->id);
            b_int(q, 3, k);
            b_text(q, 4, frame_kind(f->kind));
            b_text(q, 5, f->function);
            b_text(q, 6, f->file);
            if (f->line != 0)
                b_int(q, 7, f->line);
            b_text(q, 8, m != NULL ? m->path : NULL);
            if (f->kind == TTM_FRAME_NATIVE)
                b_int(q, 9, f->offset);
            step(s, ST_FRAME);
        }
    }
    for (size_t i = 0; i < run->nscopes && s->err == 0; i++) {
        sqlite3_stmt *q = s->st[ST_SCOPE];
        b_int(q, 1, run->run);
        b_int(q, 2, run->scopes[i]);
        b_text(q, 3, ttm_cli_string(r, run->scopes[i]));
        step(s, ST_SCOPE);
    }
}

/* ---- the format ------------------------------------------------------------------------------ */

static int sq_close(ttm_export_sink *s, bool ok, char *msg, size_t len);

static int sq_open(ttm_export_sink **out, FILE *f, const char *path, char *msg, size_t len)
{
    (void)f;
    ttm_export_sink *s = ttm__calloc(1, sizeof *s);
    if (s == NULL) {
        ttm__set_msg(msg, len, "out of memory");
        return TTM_ENOMEM;
    }
    s->ends = (ttm_export_ends){.fn = on_life, .ctx = s};
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
        db_fail(s, "cannot create the database");
        goto out_fail;
    }
    /* a new file that is renamed into place when complete: no journal of SQLite's own */
    exec(s, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA locking_mode=EXCLUSIVE;"
            " PRAGMA cache_size=-65536;", "pragma");
    exec(s, "BEGIN", "begin");
    exec(s, schema, "schema");
    for (int k = 0; k < ST__COUNT && s->err == 0; k++)
        if (sqlite3_prepare_v2(s->db, inserts[k], -1, &s->st[k], NULL) != SQLITE_OK)
            db_fail(s, "prepare");
    if (s->err != 0)
        goto out_fail;
    *out = s;
    return 0;

out_fail:
    ttm__set_msg(msg, len, "%s", s->msg);
    int err = s->err;
    sq_close(s, false, NULL, 0);
    return err;
}

static void sq_observer(ttm_export_sink *s, ttm_replay_observer *obs)
{
    *obs = (ttm_replay_observer){.ctx = s, .event = on_event, .buffer = on_buffer,
                                 .proc = on_proc, .mark = on_mark, .usage = on_usage};
}

static int sq_begin(ttm_export_sink *s, const ttm_export_run *run)
{
    (void)run;
    return s->err;
}

static int sq_end(ttm_export_sink *s, const ttm_export_run *run)
{
    ttm_export_ends_flush(&s->ends, false);
    if (s->err != 0)
        return s->err;
    sqlite3_stmt *q = s->st[ST_META];
    b_int(q, 1, run->run);
    b_text(q, 2, run->host);
    b_text(q, 3, run->title);
    b_int(q, 4, run->first_ts);
    b_int(q, 5, run->last_ts);
    b_text(q, 6, TTM_VERSION);
    step(s, ST_META);
    put_procs(s, run);
    put_devices(s, run);
    put_stacks(s, run);
    return s->err;
}

static int sq_close(ttm_export_sink *s, bool ok, char *msg, size_t len)
{
    if (s == NULL)
        return 0;
    if (ok)
        ttm_export_ends_flush(&s->ends, false);
    ttm_export_ends_free(&s->ends);
    if (ok && s->ends.nomem && s->err == 0) {
        s->err = TTM_ENOMEM;
        ttm__set_msg(s->msg, sizeof s->msg, "out of memory");
    }
    if (ok) {
        exec(s, indexes, "indexes");
        exec(s, "COMMIT", "commit");
    }
    for (int k = 0; k < ST__COUNT; k++)
        sqlite3_finalize(s->st[k]);
    if (s->db != NULL && sqlite3_close(s->db) != SQLITE_OK && s->err == 0) {
        s->err = TTM_EIO;
        ttm__set_msg(s->msg, sizeof s->msg, "close: %s", sqlite3_errmsg(s->db));
    }
    int err = s->err;
    if (err != 0)
        ttm__set_msg(msg, len, "%s", s->msg);
    ttm__free(s);
    return err;
}

const ttm_export_format ttm_export_sqlite = {
    .name = "sqlite",
    .ext = ".sqlite",
    .needs_sites = true,
    .open = sq_open,
    .observer = sq_observer,
    .begin = sq_begin,
    .end = sq_end,
    .close = sq_close,
};
