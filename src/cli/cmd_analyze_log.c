/*
 * cmd_analyze_log.c — `ttmem analyze-log [--json] [--top N] [--stack-log TRACE] FILE...`:
 * rebuilds the event stream from the allocation-server prototype's logs (plain or .gz, or
 * standard input) and renders the core's report on it. With --stack-log, the prototype's
 * stack-trace log is read beside them: each of its records' frames becomes a stack of TEXT
 * frames in the registry's table and is attached to the matching event (the matcher of
 * common/poctrace.h; docs/COMPAT.md section 4), so the report's findings and leaks have call
 * sites. The stack-trace log alone (no FILE) is analysed as the events it records.
 *
 * With --journal OUT every event goes to the registry through a journal tap (core/jtap.h), so
 * OUT is a run journal of exactly what the report was made from: `ttmem report OUT` gives the
 * same report, and the timeline, export and time travel work on old logs (docs/COMPAT.md,
 * "Prototype logs as journals").
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef TTM_HAVE_ZLIB
#include <zlib.h>
#endif

#include "cli/cli.h"
#include "common/alloc.h"
#include "common/fmt.h"
#include "common/journal.h"
#include "common/poclog.h"
#include "common/poctrace.h"
#include "core/jtap.h"
#include "core/stacks.h"

#define CHUNK (1u << 20)
#define PID_BITS (1u << 22) /* Linux's largest pid_max */

#define TRACE_HEADER "=== TT-Metal Buffer Allocation Stack Traces ==="

typedef struct log_input {
#ifdef TTM_HAVE_ZLIB
    gzFile gz;
#else
    FILE *f;
#endif
    const char *name;
} log_input;

static int input_open(log_input *in, const char *path)
{
    bool std_in = strcmp(path, "-") == 0;
    in->name = std_in ? "standard input" : path;
#ifdef TTM_HAVE_ZLIB
    /* gzread passes uncompressed input through unchanged */
    in->gz = std_in ? gzdopen(0, "rb") : gzopen(path, "rb");
    if (in->gz == NULL)
        return -1;
    gzbuffer(in->gz, CHUNK);
#else
    in->f = std_in ? stdin : fopen(path, "rb");
    if (in->f == NULL)
        return -1;
#endif
    return 0;
}

/* Reads up to n bytes; returns the count, 0 at the end, -1 on error (errno or zlib message in
 * *why). */
static long input_read(log_input *in, char *buf, size_t n, const char **why)
{
#ifdef TTM_HAVE_ZLIB
    int got = gzread(in->gz, buf, (unsigned)n);
    if (got < 0) {
        int zerr = 0;
        const char *msg = gzerror(in->gz, &zerr);
        *why = zerr == Z_ERRNO ? strerror(errno) : msg;
        return -1;
    }
    return got;
#else
    size_t got = fread(buf, 1, n, in->f);
    if (got == 0 && ferror(in->f)) {
        *why = strerror(errno);
        return -1;
    }
    return (long)got;
#endif
}

static void input_close(log_input *in)
{
#ifdef TTM_HAVE_ZLIB
    if (in->gz != NULL)
        gzclose(in->gz);
    in->gz = NULL;
#else
    if (in->f != NULL && in->f != stdin)
        fclose(in->f);
    in->f = NULL;
#endif
}

/* The stack-trace log, read ahead of the server log's events as far as the matcher's window. */
typedef struct trace_side {
    const char *path;
    log_input in;
    bool open, eof;
    char *buf;
    size_t off, len; /* unread bytes buf[off, len) */
    ttm_poctrace *reader;
    ttm_poctrace_matcher *m; /* NULL when the log is analysed alone */
    ttm_stacks *stacks;
    ttm_registry *reg;       /* alone: where its events go */
    ttm_jtap *tap;           /* alone: the journal they go to (NULL: none) */
    const uint8_t *pids;     /* the server log's pids (a bit per pid), NULL = unknown */
    uint64_t other_pids;     /* records of processes the server log does not name: skipped */
    uint64_t no_stack;       /* records whose stack could not be interned (bounds) */
    uint64_t events_stacked; /* events with a stack */
    uint64_t after_end;      /* records read after the server logs ended (matched nothing) */
    bool draining;           /* the server logs ended: the rest is read to be counted */
    bool failed;             /* a read error was reported */
} trace_side;

typedef struct analysis {
    ttm_registry *reg;
    ttm_jtap *tap;     /* --journal: every event goes through it; NULL without */
    ttm_poclog_stats st;
    trace_side *trace; /* NULL without --stack-log */
    uint8_t *pids;     /* pre-pass: the pids the server logs name */
} analysis;

/* The stack of a record's frames as TEXT frames: module name, the symbol as printed (offset
 * included: "main+0x3c", "+0x271ca", or the whole line when it names no module), and the
 * source file and line when the line ends in " at FILE:LINE". 0 for a record without frames
 * and when a bound of the table is reached (counted there). */
static uint32_t intern_stack(ttm_stacks *s, const ttm_poctrace_record *rec)
{
    uint32_t ids[TTM_POCTRACE_FRAMES];
    for (uint32_t i = 0; i < rec->nframes; i++) {
        const ttm_poctrace_frame *fr = &rec->frames[i];
        ttm_frame f = {.kind = TTM_FRAME_TEXT, .line = fr->line};
        f.module = fr->module_len ? ttm_stacks_string(s, fr->text, fr->module_len) : 0;
        f.function = ttm_stacks_string(s, fr->text + fr->sym_off, fr->sym_len);
        f.file = fr->file_len ? ttm_stacks_string(s, fr->text + fr->file_off, fr->file_len) : 0;
        if ((fr->module_len && !f.module) || (fr->sym_len && !f.function) ||
            (fr->file_len && !f.file) || (ids[i] = ttm_stacks_frame(s, &f)) == 0)
            return 0;
    }
    return ttm_stacks_stack(s, ids, rec->nframes);
}

static bool pid_known(const uint8_t *pids, uint32_t pid)
{
    return pid < PID_BITS && (pids[pid >> 3] >> (pid & 7) & 1);
}

/* Applies ev for pid to reg, through the journal's tap when there is one. The logs name
 * processes only by their pid: a pid the registry did not know yet gets a process record (start,
 * no name) right after the event that made it known, so a replay knows the processes the log
 * names and, the registry knowing the pid already, applies nothing more for it. */
static void apply(ttm_registry *reg, ttm_jtap *tap, uint32_t pid, const ttm_event *ev)
{
    if (tap == NULL) {
        ttm_registry_apply(reg, pid, ev);
        return;
    }
    size_t known = ttm_registry_processes(reg, NULL, 0);
    ttm_jtap_apply(tap, pid, ev);
    if (ttm_registry_processes(reg, NULL, 0) > known) {
        ttm_journal_proc p = {.state = TTM_JOURNAL_PROC_START, .pid = pid, .status = -1,
                              .ts = ev->ts, .name = ""};
        (void)ttm_jtap_proc(tap, &p); /* a failure is kept in the tap (journal_finish) */
    }
}

/* The reader's callback: a record into the window (pausing the feed when it is full), or,
 * alone, the event it records into the registry. */
static int on_record(void *arg, const ttm_poctrace_record *rec)
{
    trace_side *t = arg;
    if (t->m != NULL && t->pids != NULL && rec->has_pid && !pid_known(t->pids, rec->pid)) {
        t->other_pids++;
        return 0;
    }
    if (t->draining) {
        t->after_end++;
        return 0;
    }
    uint32_t stack = intern_stack(t->stacks, rec);
    if (stack == 0 && rec->nframes > 0)
        t->no_stack++;
    if (t->m != NULL) {
        ttm__poctrace_matcher_add(t->m, rec, stack); /* never full here: see trace_pump */
        return ttm__poctrace_matcher_full(t->m) ? 1 : 0;
    }
    ttm_event ev = {
        .kind = rec->kind == TTM_POCTRACE_ALLOC ? TTM_EV_ALLOC : TTM_EV_FREE,
        .memtype = rec->memtype,
        .device = (uint16_t)rec->device,
        .ts = rec->lineno,
        .addr = rec->address,
        .size = rec->size,
        .stack = stack,
    };
    t->events_stacked += stack != 0;
    apply(t->reg, t->tap, rec->has_pid ? rec->pid : 0, &ev);
    return 0;
}

/* Reads the stack-trace log until the matcher's window is full (alone or draining: to its
 * end). A read error is one line; what was read until then is used. */
static void trace_pump(trace_side *t)
{
    while (!t->eof && (t->m == NULL || t->draining || !ttm__poctrace_matcher_full(t->m))) {
        if (t->off == t->len) {
            const char *why = NULL;
            long got = input_read(&t->in, t->buf, CHUNK, &why);
            if (got <= 0) {
                if (got < 0) {
                    ttm_cli_fail("analyze-log: error reading '%s': %s; the records before it "
                                 "are used",
                                 t->in.name, why);
                    t->failed = true;
                }
                ttm__poctrace_finish(t->reader);
                t->eof = true;
                break;
            }
            t->off = 0;
            t->len = (size_t)got;
        }
        size_t used = 0;
        ttm__poctrace_feed_part(t->reader, t->buf + t->off, t->len - t->off, &used);
        t->off += used;
    }
}

static void feed_line(analysis *a, const char *line, size_t len)
{
    if (len > 0 && line[len - 1] == '\r')
        len--;
    uint32_t pid;
    ttm_event ev;
    if (ttm__poclog_parse_line(line, len, &a->st, &pid, &ev) != TTM_POCLOG_EVENT)
        return;
    if (a->trace != NULL) {
        trace_pump(a->trace);
        ev.stack = ttm__poctrace_matcher_take(a->trace->m, &ev);
        a->trace->events_stacked += ev.stack != 0;
    }
    apply(a->reg, a->tap, pid, &ev);
}

/* Notes the pid of every event line (the pre-pass that tells the stack-trace log's records of
 * this run from an earlier run's). */
static void note_pid(analysis *a, const char *line, size_t len)
{
    ttm_poclog_stats st;
    memset(&st, 0, sizeof st);
    uint32_t pid;
    ttm_event ev;
    if (ttm__poclog_parse_line(line, len, &st, &pid, &ev) == TTM_POCLOG_EVENT && pid < PID_BITS)
        a->pids[pid >> 3] |= (uint8_t)(1u << (pid & 7));
}

static bool is_trace_header(const char *line, size_t len)
{
    if (len > 0 && line[len - 1] == '\r')
        len--;
    return len == sizeof TRACE_HEADER - 1 && memcmp(line, TRACE_HEADER, len) == 0;
}

/* Feeds every line of one input to fn (the first line is checked: a stack-trace log is not a
 * server log). Returns 0 or prints one line and returns 1. */
static int analyze_input(const char *path, analysis *a, char *buf,
                         void (*fn)(analysis *a, const char *line, size_t len))
{
    log_input in = {0};
    if (input_open(&in, path) != 0) {
        ttm_cli_fail("analyze-log: cannot open '%s': %s", path, strerror(errno ? errno : ENOENT));
        return 1;
    }
    size_t have = 0; /* bytes of an unfinished line at the start of buf */
    bool first = true;
    int rc = 0;
    for (;;) {
        const char *why = NULL;
        long got = input_read(&in, buf + have, CHUNK - have, &why);
        if (got < 0) {
            ttm_cli_fail("analyze-log: error reading '%s': %s", in.name, why);
            rc = 1;
            break;
        }
        if (got == 0) {
            if (have > 0) /* a last line without a newline, perhaps cut off */
                fn(a, buf, have);
            break;
        }
        size_t n = have + (size_t)got;
        const char *p = buf, *end = buf + n;
        for (;;) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            if (nl == NULL)
                break;
            if (first && is_trace_header(p, (size_t)(nl - p))) {
                ttm_cli_fail("analyze-log: '%s' is the prototype's stack-trace log, not a server "
                             "log: give it with --stack-log (ttmem analyze-log --stack-log %s "
                             "[SERVER.log])",
                             in.name, in.name);
                input_close(&in);
                return 1;
            }
            first = false;
            fn(a, p, (size_t)(nl - p));
            p = nl + 1;
        }
        have = (size_t)(end - p);
        if (have == CHUNK) { /* a line longer than the buffer: take it as it is */
            fn(a, buf, have);
            have = 0;
        } else {
            memmove(buf, p, have);
        }
    }
    input_close(&in);
    return rc;
}

static void print_parse_summary(FILE *out, const ttm_poclog_stats *st, int nfiles)
{
    /* one buffer per number: they are all read when fprintf runs */
    char a[TTM_FMT_LEN], b[TTM_FMT_LEN], c[TTM_FMT_LEN], d[TTM_FMT_LEN], e[TTM_FMT_LEN],
        f[TTM_FMT_LEN], g[TTM_FMT_LEN];
    fprintf(out, "Log         %s lines in %d input%s: %s events (%s allocated, %s freed, %s "
                 "unknown-buffer lines), %s other lines skipped, %s unparseable\n",
            ttm__fmt_count(a, st->lines), nfiles, nfiles == 1 ? "" : "s",
            ttm__fmt_count(b, st->events), ttm__fmt_count(c, st->allocs),
            ttm__fmt_count(d, st->frees), ttm__fmt_count(e, st->unknown_lines),
            ttm__fmt_count(f, st->skipped), ttm__fmt_count(g, st->bad));
    for (size_t i = 0; i < st->nkept; i++)
        fprintf(out, "            unparseable line %llu: %s\n",
                (unsigned long long)st->kept_lineno[i], st->kept[i]);
}

/* What the stack-trace log held and what became of it: one line, then its damaged lines. */
static void print_trace_summary(FILE *out, const trace_side *t)
{
    const ttm_poctrace_stats *st = &t->reader->st;
    char a[TTM_FMT_LEN], b[TTM_FMT_LEN], c[TTM_FMT_LEN], d[TTM_FMT_LEN], e[TTM_FMT_LEN];
    fprintf(out, "Stacks      %s: %s records (%s allocations, %s deallocations) in %s lines",
            t->in.name, ttm__fmt_count(a, st->records), ttm__fmt_count(b, st->allocs),
            ttm__fmt_count(c, st->frees), ttm__fmt_count(d, st->lines));
    if (t->m != NULL) {
        ttm_poctrace_match_stats ms;
        ttm__poctrace_matcher_stats(t->m, &ms);
        fprintf(out, "; %s attached to events, %s matched no event", ttm__fmt_count(a, ms.taken),
                ttm__fmt_count(b, ms.dropped + ms.left + t->after_end));
        if (t->other_pids > 0)
            fprintf(out, ", %s of processes the server log does not name skipped",
                    ttm__fmt_count(c, t->other_pids));
        if (ms.resyncs > 0)
            fprintf(out, " (the logs were out of step %s time%s)", ttm__fmt_count(d, ms.resyncs),
                    ms.resyncs == 1 ? "" : "s");
        fprintf(out, "; %s events had no record", ttm__fmt_count(e, ms.missed));
    } else {
        fprintf(out, "; %s events with a stack", ttm__fmt_count(a, t->events_stacked));
    }
    if (t->no_stack > 0)
        fprintf(out, "; %s stacks not kept (table full)", ttm__fmt_count(a, t->no_stack));
    if (st->truncated + st->bad + st->garbage + st->partial_last > 0)
        fprintf(out, "; damaged: %s blocks cut short, %s bad blocks, %s garbage lines%s",
                ttm__fmt_count(a, st->truncated), ttm__fmt_count(b, st->bad),
                ttm__fmt_count(c, st->garbage), st->partial_last ? ", a cut last line" : "");
    fputc('\n', out);
    if (st->records == 0 && st->lines > 0)
        fprintf(out,
                "            no stack-trace records in %s: is it the prototype's stack-trace "
                "log (\"" TRACE_HEADER "\")?\n",
                t->in.name);
    for (size_t i = 0; i < st->nkept; i++)
        fprintf(out, "            stack-trace log line %llu: %s\n",
                (unsigned long long)st->kept_lineno[i], st->kept[i]);
}

/* Opens the stack-trace log for t (matched against the server logs unless alone). Returns 0
 * or prints one line and returns 1. */
static int trace_open(trace_side *t, const char *path, ttm_registry *reg, const uint8_t *pids,
                      bool alone)
{
    t->path = path;
    t->reg = reg;
    t->pids = pids;
    t->stacks = ttm_registry_stacks(reg);
    if (input_open(&t->in, path) != 0)
        return ttm_cli_fail("analyze-log: cannot open '%s': %s", path,
                            strerror(errno ? errno : ENOENT)),
               1;
    t->open = true;
    t->buf = ttm__xmalloc(CHUNK);
    t->reader = ttm__xmalloc(sizeof *t->reader);
    ttm__poctrace_init(t->reader, on_record, t);
    if (!alone) {
        int err = ttm__poctrace_matcher_open(&t->m, 0);
        if (err != TTM_OK)
            return ttm_cli_fail("analyze-log: cannot match the stack-trace log: %s",
                                ttm_strerror(err)),
                   1;
    }
    return 0;
}

static void trace_close(trace_side *t)
{
    if (t->open)
        input_close(&t->in);
    ttm__poctrace_matcher_close(t->m);
    ttm__free(t->reader);
    ttm__free(t->buf);
}

/* The journal --journal writes: the writer, and the tap around the registry. */
typedef struct journal_out {
    const char *path;
    ttm_journal_writer *w;
    ttm_jtap tap;
} journal_out;

/* True when path is one of the logs (the stack-trace log included): creating the journal would
 * truncate a log before it is read. */
static bool is_an_input(const char *path, char **files, int count, const char *stack_log)
{
    struct stat out, in;
    if (stat(path, &out) != 0)
        return false;
    for (int i = -1; i < count; i++) {
        const char *f = i < 0 ? stack_log : files[i];
        if (f != NULL && strcmp(f, "-") != 0 && stat(f, &in) == 0 && in.st_dev == out.st_dev &&
            in.st_ino == out.st_ino)
            return true;
    }
    return false;
}

/* Why a journal call failed, for a message: the system's word for TTM_EIO. */
static const char *journal_why(const journal_out *j, int err)
{
    int e = j->w != NULL ? ttm_journal_writer_errno(j->w) : errno;
    return err == TTM_EIO && e != 0 ? strerror(e) : ttm_strerror(err);
}

/* When the log was last written (its modification time, CLOCK_REALTIME ns): the journal of a
 * converted log says when its run was, not when it was converted. 0 (now) for standard input
 * and what is not a regular file. */
static uint64_t log_time(const char *path)
{
    struct stat st;
    if (strcmp(path, "-") == 0 || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return 0;
    return (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec;
}

/* Creates the journal and starts tapping reg into it: the CONFIG chunk (analyze-log's registry
 * has the default configuration), then the RUN chunk, title, the report's own title. Done
 * before any log is read, so an output that cannot be written costs no reading. host NULL:
 * this host; log: the first log, whose time the header takes. Returns 0, or prints one line
 * and returns 1. */
static int journal_start(journal_out *j, ttm_registry *reg, const char *host, const char *title,
                         const char *log)
{
    ttm_journal_opts o = {.host = host, .created_ns = log_time(log)};
    errno = 0;
    int err = ttm_journal_writer_open(j->path, -1, &o, &j->w);
    if (err != TTM_OK) {
        ttm_cli_fail("analyze-log: cannot write the journal '%s': %s", j->path,
                     journal_why(j, err));
        j->w = NULL;
        return 1;
    }
    err = ttm_jtap_open(&j->tap, reg, j->w, NULL, 0);
    if (err == TTM_OK)
        err = ttm_jtap_chunk(&j->tap, TTM_JOURNAL_CHUNK_RUN, 0, title, strlen(title));
    if (err != TTM_OK) {
        ttm_cli_fail("analyze-log: cannot write the journal '%s': %s", j->path,
                     journal_why(j, err));
        ttm_journal_writer_close(j->w);
        j->w = NULL;
        return 1;
    }
    return 0;
}

/* Writes the journal's last records and closes it. A write that failed on the way (a full disk)
 * left the registry and the report whole but the journal short: one line says so (the file
 * holds every record up to its last complete block, so it still reads). Returns 0 or 1. */
static int journal_finish(journal_out *j)
{
    if (j->w == NULL)
        return 0;
    int err = ttm_jtap_close(&j->tap);
    if (err == TTM_OK)
        err = ttm_journal_writer_flush(j->w);
    char why[128];
    snprintf(why, sizeof why, "%s", err != TTM_OK ? journal_why(j, err) : "");
    uint64_t bytes = ttm_journal_writer_bytes(j->w);
    int cerr = ttm_journal_writer_close(j->w);
    j->w = NULL;
    if (err == TTM_OK && cerr != TTM_OK)
        snprintf(why, sizeof why, "%s", ttm_strerror(err = cerr));
    if (err == TTM_OK)
        return 0;
    char b[TTM_FMT_LEN];
    ttm_cli_fail("analyze-log: the journal '%s' is incomplete: a write failed (%s); it holds "
                 "the records up to its last complete block (%s bytes); the report is whole",
                 j->path, why, ttm__fmt_count(b, bytes));
    return 1;
}

/* A failed analysis prints no report: its journal goes too (a regular file of ours only). */
static void journal_drop(journal_out *j)
{
    if (j->w == NULL)
        return;
    (void)ttm_jtap_close(&j->tap);
    ttm_journal_writer_close(j->w);
    j->w = NULL;
    struct stat st;
    if (stat(j->path, &st) == 0 && S_ISREG(st.st_mode))
        unlink(j->path);
}

/* What the command line asks for. */
typedef struct log_opts {
    bool json;
    const char *stack_log;
    const char *journal; /* --journal OUT, NULL: none */
    const char *host;    /* --host NAME for the journal, NULL: this host */
    ttm_report_options ropt;
} log_opts;

static void print_help(void)
{
    printf("usage: ttmem analyze-log [--json] [--top N] [--stack-log TRACE] [--journal OUT "
           "[--host NAME]] [FILE...]\n"
           "  FILE: the allocation server's log (- or none: standard input; .gz files "
           "are read as they are)\n"
           "  --stack-log TRACE: the stack-trace log of the prototype's client; its "
           "stacks go to the matching events (no FILE: TRACE's own events)\n"
           "  --journal OUT: also write the events as a run journal (ttmem report, timeline, "
           "export read it); its times are the events' line numbers, in nanoseconds\n"
           "  --host NAME: the host the logs came from, for the journal (the logs do not say; "
           "default: this host)\n");
}

/* Parses the options into *o. Returns -1 to go on, else the exit status (help, bad option). */
static int parse_options(int argc, char **argv, log_opts *o)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"top", required_argument, NULL, 't'},
        {"stack-log", required_argument, NULL, 's'},
        {"journal", required_argument, NULL, 'J'},
        {"host", required_argument, NULL, 'H'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'j':
            o->json = true;
            break;
        case 't':
            if (ttm_cli_parse_top("analyze-log", optarg, &o->ropt.top) != 0)
                return 2;
            break;
        case 's':
            if (o->stack_log != NULL)
                return ttm_cli_fail("analyze-log: --stack-log given twice (one stack-trace log "
                                    "holds every process's records)");
            o->stack_log = optarg;
            break;
        case 'J':
            if (strcmp(optarg, "-") == 0 || optarg[0] == '\0')
                return ttm_cli_fail("analyze-log: --journal needs a file name (the report goes "
                                    "to standard output)");
            o->journal = optarg;
            break;
        case 'H':
            if (optarg[0] == '\0' || strlen(optarg) >= TTM_JOURNAL_HOST_MAX)
                return ttm_cli_fail("analyze-log: --host '%s' must be 1 to %d bytes", optarg,
                                    TTM_JOURNAL_HOST_MAX - 1);
            o->host = optarg;
            break;
        case 'h':
            print_help();
            return 0;
        default:
            return ttm_cli_bad_option("analyze-log", argv);
        }
    }
    if (o->host != NULL && o->journal == NULL)
        return ttm_cli_fail("analyze-log: --host names the journal's host: give --journal OUT "
                            "too");
    return -1;
}

/* Reads the logs into a.reg (through a.tap when journaling): the pid pre-pass and the
 * stack-trace log when there is one, then every server log. Returns 0, or 1 after one line. */
static int analyze_all(analysis *a, trace_side *trace, const log_opts *o, char **files,
                       int count, bool alone, int *nfiles)
{
    char *buf = ttm__xmalloc(CHUNK);
    int rc = 0;
    if (o->stack_log != NULL && !alone) {
        /* the server logs' pids, when they can be read twice (not standard input) */
        bool rereadable = true;
        for (int i = 0; i < count; i++)
            rereadable = rereadable && strcmp(files[i], "-") != 0;
        if (rereadable) {
            a->pids = ttm__xcalloc(PID_BITS / 8, 1);
            for (int i = 0; i < count && rc == 0; i++)
                rc = analyze_input(files[i], a, buf, note_pid);
        }
    }
    if (rc == 0 && o->stack_log != NULL) {
        trace->tap = a->tap;
        rc = trace_open(trace, o->stack_log, a->reg, a->pids, alone);
        if (rc == 0 && alone)
            trace_pump(trace);
        a->trace = alone ? NULL : trace;
    }
    for (int i = 0; i < count && rc == 0; i++) {
        (*nfiles)++;
        if (analyze_input(files[i], a, buf, feed_line) != 0)
            rc = 1;
    }
    if (rc == 0 && a->trace != NULL) { /* the rest of the trace log, to account for all of it */
        trace->draining = true;
        trace_pump(trace);
    }
    ttm__free(buf);
    return rc;
}

/* The report of a.reg, with the Log and Stacks lines. Returns 0, or 1 after one line. */
static int print_report(const analysis *a, const trace_side *trace, const log_opts *o,
                        const char *title, bool alone, int nfiles)
{
    /* the sections every report of a run has (simulate, record, report), stacks included
     * (empty without --stack-log): the report of the journal is the same document */
    ttm_report_options ropt = o->ropt;
    ropt.sections = TTM_REPORT_SECTIONS | TTM_SNAP_BIT(TTM_SNAP_SEC_STACKS);
    ttm_report *r = NULL;
    int err = ttm_report_build(a->reg, &ropt, &r);
    if (err != TTM_OK) {
        ttm_cli_fail("analyze-log: cannot build the report: %s", ttm_strerror(err));
        return 1;
    }
    FILE *out = o->json ? stderr : stdout;
    if (o->json)
        ttm_render_json(stdout, r, title);
    else
        printf("ttmem report: %s\n\n", title);
    if (!alone)
        print_parse_summary(out, &a->st, nfiles);
    if (o->stack_log != NULL)
        print_trace_summary(out, trace);
    if (!o->json)
        ttm_render_text(stdout, r, NULL);
    ttm_report_free(r);
    return 0;
}

int ttm_cli_analyze_log(int argc, char **argv)
{
    log_opts o = {0};
    int rc = parse_options(argc, argv, &o);
    if (rc >= 0)
        return rc;

    char *stdin_only[] = {"-"};
    bool alone = o.stack_log != NULL && optind == argc;
    char **files = optind < argc ? argv + optind : stdin_only;
    int count = optind < argc ? argc - optind : alone ? 0 : 1;
    for (int i = 0; o.stack_log != NULL && strcmp(o.stack_log, "-") == 0 && i < count; i++)
        if (strcmp(files[i], "-") == 0)
            return ttm_cli_fail("analyze-log: the stack-trace log and a server log cannot both "
                                "be standard input");
    if (o.journal != NULL && is_an_input(o.journal, files, count, o.stack_log))
        return ttm_cli_fail("analyze-log: the journal '%s' is one of the logs: writing it "
                            "would destroy the log",
                            o.journal);

    char title[256];
    snprintf(title, sizeof title, "analyze-log %s%s%s%s", alone ? "" : files[0],
             count > 1 ? " ..." : "",
             alone         ? "--stack-log "
             : o.stack_log ? " --stack-log "
                           : "",
             o.stack_log ? o.stack_log : "");

    analysis a = {0};
    int err = ttm_registry_open(&a.reg, NULL);
    if (err != TTM_OK)
        return ttm_cli_fail("analyze-log: cannot create the registry: %s", ttm_strerror(err)), 1;
    journal_out j = {.path = o.journal};
    if (o.journal != NULL) {
        if (journal_start(&j, a.reg, o.host, title, alone ? o.stack_log : files[0]) != 0) {
            ttm_registry_close(a.reg);
            return 1;
        }
        a.tap = &j.tap;
    }
    int nfiles = 0;
    trace_side trace = {0};
    rc = analyze_all(&a, &trace, &o, files, count, alone, &nfiles);
    if (rc == 0)
        rc = print_report(&a, &trace, &o, title, alone, nfiles);
    if (rc == 0)
        rc = journal_finish(&j);
    else
        journal_drop(&j);
    trace_close(&trace);
    ttm__free(a.pids);
    ttm_registry_close(a.reg);
    return rc;
}
