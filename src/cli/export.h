/*
 * export.h — `ttmem export`'s formats (docs/EXPORT.md): each one a writer fed by a replay's
 * observer (core/replay.h), so that a format sees the run exactly as the report does.
 *
 * cmd_export.c drives them: it opens the journals, calls begin() of every run, replays once
 * with the format's observer, calls end() of every run, then close(). What a writer takes from
 * where (PLAN12.md, rule 6): bytes in use only from the observer's usage callback, one row per
 * buffer life only from its buffer callback, events from its event callback; processes,
 * devices and call sites from the run's info after the replay.
 *
 * Writers keep their first failure (sticky): the callbacks cannot return one, so they stop
 * writing and close() returns it with a message.
 */
#ifndef TTM_CLI_EXPORT_H
#define TTM_CLI_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/replay.h"
#include "core/report.h"

/* What the command knows of one run. At begin(): run, host, and with needs_procs the
 * processes of a first replay (else procs NULL, nprocs 0). At end(): everything; reg is the
 * run's registry after the replay; sites (only for a format that needs_sites) is a report
 * holding every stack, module and scope name of the run, symbolized as the text report's
 * (src/cli/sites.c), by id. */
typedef struct ttm_export_run {
    size_t run, nruns;
    const char *host;
    const char *title;             /* "" when the run has no RUN chunk */
    const ttm_replay_proc *procs;  /* ascending by pid */
    size_t nprocs;
    uint64_t first_ts, last_ts;
    const ttm_registry *reg;
    const ttm_report *sites;
    const uint32_t *scopes;        /* the scope ids the run's events used, ascending */
    size_t nscopes;
} ttm_export_run;

typedef struct ttm_export_sink ttm_export_sink;

typedef struct ttm_export_format {
    const char *name;  /* "perfetto" */
    const char *ext;   /* the default output's suffix: ".perfetto-trace" */
    bool to_stream;    /* writes to a FILE (so `-o -` is stdout); else to a path */
    bool needs_procs;  /* begin() needs the processes: the command replays twice */
    bool needs_sites;  /* end() needs sites */
    /* Opens the writer on f (to_stream) or path (a new file the command removes on failure).
     * Returns 0, or an error with one line in msg. */
    int (*open)(ttm_export_sink **out, FILE *f, const char *path, char *msg, size_t len);
    /* The observer that feeds it (ctx set to the sink). */
    void (*observer)(ttm_export_sink *s, ttm_replay_observer *obs);
    int (*begin)(ttm_export_sink *s, const ttm_export_run *run);
    int (*end)(ttm_export_sink *s, const ttm_export_run *run);
    /* Finishes the output (ok false: the export failed elsewhere, write nothing more), frees
     * the writer (NULL: nothing) and returns its first failure with one line in msg, or 0. */
    int (*close)(ttm_export_sink *s, bool ok, char *msg, size_t len);
} ttm_export_format;

extern const ttm_export_format ttm_export_perfetto, ttm_export_sqlite, ttm_export_csv;

/* The format named name, NULL when there is none. */
const ttm_export_format *ttm_export_format_find(const char *name);

/* The names of the classes in mask, joined by '|' ("free_ok|size_mismatch"), "" for 0, into
 * buf (cut at len bytes, NUL-terminated). Returns buf. */
const char *ttm_export_classes(uint32_t mask, char *buf, size_t len);

/* The end of a writer's close(): msg gets one line for err ("write failed" for TTM_EIO);
 * returns err. */
int ttm_export_close_msg(int err, char *msg, size_t len);

/* The memory_viz-style name of a buffer life: "b<hexaddr>_<reuse>" (PLAN12.md, rule 6). */
void ttm_export_buffer_name(const ttm_replay_buffer *b, char *buf, size_t len);

/* How a buffer life ended, which the replay's buffer callback does not say for a replaced one:
 * the replay reports a life the moment a record closes it, before that record's event callback
 * (core/replay.c), so a writer holds the lives a record closed until the event says whether it
 * was an ALLOC (which closes a live buffer only by replacing it: missed_free,
 * docs/CLASSIFICATION.md) or a FREE. Leaks and lives live at the end need no wait. */
typedef enum ttm_export_end {
    TTM_EXPORT_LIVE,     /* live when the replay ended (free_ts 0) */
    TTM_EXPORT_FREED,    /* freed, or dropped by anything but an ALLOC */
    TTM_EXPORT_REPLACED, /* replaced by an overlapping ALLOC: its free was missed */
    TTM_EXPORT_LEAKED,   /* reclaimed at its process's exit */
} ttm_export_end;

typedef void (*ttm_export_life_fn)(void *ctx, size_t run, const ttm_replay_buffer *b,
                                   ttm_export_end end);

typedef struct ttm_export_ends {
    ttm_export_life_fn fn;
    void *ctx;
    ttm_replay_buffer *held;
    size_t *runs;
    size_t n, cap;
    bool nomem; /* a life could not be held (it was handed over as freed) */
} ttm_export_ends;

/* A buffer callback's life: handed to fn now (live, leaked) or held until the next flush. */
void ttm_export_ends_add(ttm_export_ends *x, size_t run, const ttm_replay_buffer *b);
/* Hands the held lives to fn, as REPLACED when by_alloc (the event that closed them was an
 * ALLOC), else FREED. Called from the event callback, and with false from any other callback
 * and before the output closes. */
void ttm_export_ends_flush(ttm_export_ends *x, bool by_alloc);
void ttm_export_ends_free(ttm_export_ends *x);
/* "live", "freed", "replaced", "leaked". */
const char *ttm_export_end_name(ttm_export_end end);

/* The command line (NUL-separated, len bytes) with its NULs as spaces, into buf (size cap,
 * cut, NUL-terminated). Returns buf. */
const char *ttm_export_cmdline(const char *cmdline, size_t len, char *buf, size_t cap);

#endif /* TTM_CLI_EXPORT_H */
