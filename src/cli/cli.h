/*
 * cli.h — what the ttmem subcommands share: the command table entry points, report rendering,
 * and the one way a command reports a failure.
 */
#ifndef TTM_CLI_CLI_H
#define TTM_CLI_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "core/report.h"

/* One entry of main.c's command table: dispatch, the help text, and (gendoc.c) the man page and
 * the shell completion. usage names every option of the command: an option is a word starting
 * with '-' after a space, '[' or '|'; the word after it is its argument unless that word starts
 * with '-', ']', '|' or "[-" ("--stacks[=python]": an optional one), and an argument of
 * lowercase alternatives (a|b|c) lists its values. */
typedef struct cli_command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *usage;
    const char *summary;
} cli_command;

/* `ttmem gen-docs bash|zsh|man1|man8 HELP|man3 HEADER` (hidden; gendoc.c): the bash or zsh
 * completion, or the roff source of ttmem(1) from the table, of ttmemd(8) from the daemon's
 * --help text in file HELP, or of libttmem(3) from the public header, on stdout. */
int ttm_cli_gendoc(const cli_command *cmds, size_t n, int argc, char **argv);

/* Every subcommand: argv[0] is the subcommand's name. Returns the process exit status. */
int ttm_cli_simulate(int argc, char **argv);
int ttm_cli_demo(int argc, char **argv);
int ttm_cli_analyze_log(int argc, char **argv);
int ttm_cli_metrics(int argc, char **argv);
/* `ttmem journal` (cmd_journal.c): what run journals hold, without replaying them. */
int ttm_cli_journal(int argc, char **argv);
/* `ttmem report FILE...` (cmd_report.c, cmd_report_at.c): a run's report from its journal. */
int ttm_cli_report(int argc, char **argv);
/* `ttmem timeline` (cmd_timeline.c): a journal as one HTML page (docs/TIMELINE.md). */
int ttm_cli_timeline(int argc, char **argv);

/* Prints "ttmem: " + the formatted message + newline on stderr. Returns 2 (usage errors) so
 * callers can `return ttm_cli_fail(...)`. */
int ttm_cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The default branch of a getopt_long loop (opterr = 0): one line naming the unknown option,
 * or the option missing its value, for subcommand cmd. Returns 2. */
int ttm_cli_bad_option(const char *cmd, char **argv);

/* Parses --top N (1..10000) into *out. Returns 0, or prints one line and returns 2. */
int ttm_cli_parse_top(const char *cmd, const char *arg, size_t *out);

/* Parses a whole decimal or 0x-hex unsigned number; returns 0 or TTM_EINVAL / TTM_ERANGE. */
int ttm_cli_parse_u64(const char *s, uint64_t *out);

/* Renders a report. title may be NULL. Stacks show TTM_CLI_TEXT_DEPTH frames (cli/sites.h). */
void ttm_render_text(FILE *out, const ttm_report *r, const char *title);
/* The same, stacks cut at depth frames (`--stack-depth`). */
void ttm_render_text_depth(FILE *out, const ttm_report *r, const char *title, unsigned depth);
/* The call-site part of the text report, depth frames per stack: the unmatched frees by call
 * site, "Leaks by allocation site", "Live buffers by allocation site", "By phase", "By scope"
 * (each only when there is something to show). `ttmem status --stacks` prints it alone. */
void ttm_render_sites(FILE *out, const ttm_report *r, unsigned depth);
/* The "Causes" section of r (its causes of the unmatched frees, one line each: count, share,
 * evidence; what the attributor's bounds cut), prefixed by a blank line and `title`; nothing
 * when r has no cause. The text report and `ttmem status` print it. */
void ttm_render_causes(FILE *out, const ttm_report *r, const char *title);
/* The schema versions of the status (also `ttmem top --json`) and dump documents; 2: their
 * records are written by the report's tables (docs/REPORT_SCHEMA.md, "Changes"). */
#define TTM_CLI_STATUS_SCHEMA_VERSION 2
#define TTM_CLI_DUMP_SCHEMA_VERSION 2

void ttm_render_json(FILE *out, const ttm_report *r, const char *source);

/* When, where and by what a document was made: the "made" member every report and status
 * document carries (docs/REPORT_SCHEMA.md, "When and where a document was made"). */
struct ttm_journal_made;
typedef struct ttm_cli_made {
    const char *command; /* the command the document is the run of; NULL: none */
    int exit_status;     /* its exit status (shell convention, 128 + signal); < 0: none */
    /* how that command ran, as `record` saw it (its journal's MADE chunk): written as the
     * document's "recorded" member after "made"; NULL: none (no "recorded" member) */
    const struct ttm_journal_made *recorded;
} ttm_cli_made;

/* Writes "made": {time, time_ns, host, ttmem_version, command, exit_status} into the object j
 * is in. The time is now (CLOCK_REALTIME), or SOURCE_DATE_EPOCH's when that is set to a whole
 * number of seconds (reproducible documents); m NULL: no command, no exit status (null). */
void ttm_render_json_made(ttm_json *j, const ttm_cli_made *m);
/* The same as one text line, "Made        TIME on HOST by ttmem VERSION", with m's command
 * and exit status after a colon when m has them: the last line of record's text report. */
void ttm_render_text_made(FILE *out, const ttm_cli_made *m);
/* "recorded": {command, argv, exit_status, exit_code, signal, core_dumped, start, start_ns, end,
 * end_ns, run_ns, host, ttmem_version} of a journal's MADE chunk into the object j is in; m
 * NULL: "recorded": null (docs/REPORT_SCHEMA.md, "When and where a document was made"). */
void ttm_render_json_recorded(ttm_json *j, const struct ttm_journal_made *m);
/* The same as one text line, "Recorded    `CMD ARGS` on HOST at TIME, exit status N (ran
 * 3.2 s)"; nothing when m is NULL. */
void ttm_render_text_recorded(FILE *out, const struct ttm_journal_made *m);
/* m's arguments joined by spaces (as "made"'s command) into buf of n bytes; "" without any. */
void ttm_cli_made_command(const struct ttm_journal_made *m, char *buf, size_t n);
/* ttm_render_json() with the command and exit status of m (may be NULL) in its "made". */
void ttm_render_json_made_by(FILE *out, const ttm_report *r, const char *source,
                             const ttm_cli_made *m);
/* Writes the members of the sections of r that are set in sections (TTM_SNAP_BIT set) into the
 * object j is in, through the report's tables: the one JSON vocabulary of report, status and
 * dump. */
void ttm_render_json_sections(ttm_json *j, const ttm_report *r, uint32_t sections);

/* The processes' command lines in text (ttm_report_proc.cmdline): a COMMAND column last in
 * the process tables of status, the report and dump, cut with "…" to the terminal's width
 * (that of out when it is one, else $COLUMNS) or, with neither, to TTM_RENDER_CMDLINE_COLS
 * characters; never narrower than TTM_RENDER_CMDLINE_MIN. JSON has the whole string. */
#define TTM_RENDER_CMDLINE_COLS 60
#define TTM_RENDER_CMDLINE_MIN 20
/* The columns of out's terminal, else $COLUMNS, else 0 (unknown). */
int ttm_render_width(FILE *out);
/* Whether a process of r has a command line (the tables show the column only then: a report of
 * an analyze-log or simulate run, or of an older daemon, looks as it did). */
bool ttm_render_any_cmdline(const ttm_report *r);
/* The characters a command line may take after used columns of its line. */
int ttm_render_cmdline_room(FILE *out, int used);
/* Writes cmdline cut to room characters (the last one "…" when cut); NULL: "N/A". */
void ttm_render_cmdline(FILE *out, const char *cmdline, int room);
/* The report's and dump's "Processes" table (pid, name, state, events, leaked, command), only
 * when a process has a command line. */
void ttm_render_procs(FILE *out, const ttm_report *r);

/* Reads from fd until a newline, end of file, a full buffer or timeout_ms, into buf (len
 * bytes, always NUL-terminated). Returns the bytes read (0: end of file with nothing), or -1
 * when the time ran out first. */
ssize_t ttm_cli_read_line(int fd, char *buf, size_t len, int timeout_ms);

/* ---- talking to ttmemd (cmd_status.c, cmd_dump.c, cmd_record.c, cmd_demo.c) -------------- */
#include <sys/types.h>

#include "common/json.h"
#include "core/report.h"
#include "common/ttshm.h"

int ttm_cli_status(int argc, char **argv);
int ttm_cli_dump(int argc, char **argv);
int ttm_cli_record(int argc, char **argv);

#define TTM_CLI_PATH_MAX 108 /* a Unix socket path, NUL included */

/* Works out the daemon socket (socket, else ttm__socket_resolve's choice: $TTMEM_SOCKET, the
 * user's daemon, the system daemon) and its query socket (query, else SOCKET.query) into the
 * two buffers of len bytes. Returns 0, or an exit status after printing the error (1: the
 * default directory must not be trusted). */
int ttm_cli_socket_paths(const char *socket, const char *query, char *sock_out,
                         char *query_out, size_t len);
/* Fetches a snapshot from the query socket. On failure prints one line ("ttmemd is not running
 * at SOCKET: ..." when nothing listens) and returns 1; returns 0 with *out filled (free it with
 * ttm_report_clear). */
int ttm_cli_fetch(const char *socket, const char *query, const ttm_snap_query *q,
                  ttm_report *out);
/* The daemon's identity, clients and transport counters: three lines of text, or a "daemon"
 * object in JSON. */
void ttm_cli_print_daemon(FILE *out, const ttm_report *s, const char *socket);
void ttm_cli_json_daemon(ttm_json *j, const ttm_report *s, const char *socket);
/* Prints the one line that says why a snapshot could not be fetched (err, msg from
 * ttm_report_fetch): "ttmemd is not running at SOCKET: ..." when nothing listens. */
void ttm_cli_fetch_error(const char *socket, const char *query, int err, const char *msg);

/* TT-Metal's shared-memory regions as a command scanned them (ttm__ttshm_scan). */
typedef struct ttm_cli_shm {
    const char *dir;                 /* the directory scanned */
    const ttm_ttshm_region *regions; /* sorted by id; NULL when n is 0 */
    size_t n;
    ttm_ttshm_scan_stats left_out;   /* what the scan's bounds left out (ttm__ttshm_scan_ex) */
} ttm_cli_shm;

/* Writes the members of the ttmem.status document (schema "ttmem.status", docs/DAEMON.md and
 * docs/COMPAT.md) into the object the caller opened: from s the daemon, totals, classes,
 * devices and processes; with s NULL, "daemon": null and "daemon_error": daemon_err instead;
 * then, when shm is not NULL, the "shm" member (TT-Metal's regions, counters only). `ttmem
 * status --json` and `ttmem top --json` both write their documents with it. */
void ttm_cli_json_status(ttm_json *j, const ttm_report *s, const char *socket,
                         const char *daemon_err, const ttm_cli_shm *shm);

/* "Transport" lines: events taken, waited, dropped, reattached rings, per process when any
 * were lost. */
void ttm_cli_print_transport(FILE *out, const ttm_report *s);

/* A private ttmemd on a socket in a fresh temporary directory (`ttmem record`, `ttmem demo`).
 * Lifecycle: ttm_cli_private_start() starts it and waits until it listens;
 * ttm_cli_private_stop() stops it and removes the directory; stop(NULL) is a no-op. */
typedef struct ttm_cli_private ttm_cli_private;
/* Returns 0, or prints one line and returns 1. */
int ttm_cli_private_start(ttm_cli_private **out);
/* The same with extra ttmemd options (NULL-terminated; NULL: none), e.g. `ttmem record`'s
 * --journal FILE --journal-title TEXT. */
int ttm_cli_private_start_args(ttm_cli_private **out, const char *const *extra);
const char *ttm_cli_private_socket(const ttm_cli_private *p);
/* Starts argv with TTMEM=1 and TTMEM_SOCKET set. stdout_fd >= 0 replaces its stdout. Returns
 * the pid, or -1 after printing why. */
pid_t ttm_cli_private_spawn(const ttm_cli_private *p, char *const argv[], int stdout_fd);
/* Waits up to timeout_ms until no client session is open (every process's exit handled).
 * Returns 0, or 1 when some are still open (printed). */
int ttm_cli_private_settle(ttm_cli_private *p, int timeout_ms);
/* Fetches the report sections (top offenders per class, max leaks listed). Returns 0 or 1
 * (printed). */
int ttm_cli_private_report(ttm_cli_private *p, uint32_t top, uint32_t max_leaks,
                           ttm_report *out);
void ttm_cli_private_stop(ttm_cli_private *p);
/* Path of a program installed next to the ttmem binary (ttmemd, ttmem-simproc) into buf; when
 * there is none, the bare name (found on PATH). */
void ttm_cli_sibling(const char *name, char *buf, size_t len);

/* `ttmem top` (cmd_top.c): the live monitor, and --once / --loop / --json. */
int ttm_cli_top(int argc, char **argv);

/* `ttmem export` (cmd_export.c): journals to Perfetto, SQLite or CSV (docs/EXPORT.md). */
int ttm_cli_export(int argc, char **argv);

#endif /* TTM_CLI_CLI_H */
