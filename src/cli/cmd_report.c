/*
 * cmd_report.c — `ttmem report FILE... [--json] [--top N] [--stack-depth N] [--at WHEN]`: the
 * report of a run made again from its journal (core/replay.h), the same text and JSON that
 * `ttmem record` and `ttmem simulate` printed for it; several runs (the journals of a
 * multi-host job) in one report keyed by (host, device). `--at` (cmd_report_at.c) shows what
 * was live at one moment instead.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/report_at.h"
#include "cli/sites.h"
#include "common/alloc.h"
#include "common/journal.h"
#include "common/json.h"
#include "core/replay.h"
#include "core/report_merge.h"

#define USAGE                                                                                    \
    "usage: ttmem report FILE... [--json] [--top N] [--stack-depth N] "                          \
    "[--at TIME|peak[:DEVICE[:MEMTYPE]]]"

/* The report's title: the run's RUN chunk, else what wrote it; several runs: each one's. */
static void report_title(const ttm_replay *rp, char *buf, size_t len)
{
    size_t n = ttm_replay_runs(rp), off = 0;
    buf[0] = '\0';
    for (size_t k = 0; k < n && off < len; k++) {
        const char *t = ttm_replay_title(rp, k);
        const char *sep = k == 0 ? "" : "; ";
        if (t[0] != '\0')
            off += (size_t)snprintf(buf + off, len - off, "%s%s", sep, t);
        else
            off += (size_t)snprintf(buf + off, len - off, "%sttmemd on %s", sep,
                                    ttm_replay_host(rp, k)[0] ? ttm_replay_host(rp, k) : "?");
        if (n > 1 && off < len)
            off += (size_t)snprintf(buf + off, len - off, " [%s]", ttm_replay_host(rp, k));
    }
}

/* The hosts of a report of several runs: which device numbers and processes are whose
 * (core/report_merge.h, ttm_report_join; docs/REPORT_SCHEMA.md, "Reports of several hosts"). */
static void json_hosts(ttm_json *j, const ttm_replay *rp)
{
    ttm__json_arr_begin(j, "hosts");
    for (size_t k = 0; k < ttm_replay_runs(rp); k++) {
        ttm__json_obj_begin(j, NULL);
        ttm__json_u64(j, "index", k);
        ttm__json_str(j, "host", ttm_replay_host(rp, k));
        ttm__json_str(j, "source", ttm_replay_title(rp, k));
        ttm__json_u64(j, "device_base", k * TTM_REPORT_JOIN_DEVICES);
        ttm__json_u64(j, "procs", ttm_replay_report_procs(rp, k)); /* entries, in order */
        ttm__json_obj_end(j);
    }
    ttm__json_arr_end(j);
}

static void json_joined(FILE *out, const ttm_replay *rp, const ttm_report *r, const char *title)
{
    ttm_json j;
    ttm__json_init(&j, out, true);
    ttm__json_obj_begin(&j, NULL);
    ttm__json_str(&j, "schema", "ttmem.report");
    ttm__json_u64(&j, "schema_version", (uint64_t)r->schema_version);
    ttm__json_str(&j, "source", title);
    ttm_render_json_made(&j, NULL);
    json_hosts(&j, rp);
    ttm_render_json_sections(&j, r, TTM_REPORT_SECTIONS | TTM_SNAP_BIT(TTM_SNAP_SEC_STACKS));
    ttm__json_obj_end(&j);
    ttm__json_finish(&j);
}

static void text_hosts(FILE *out, const ttm_replay *rp)
{
    fprintf(out, "\nHosts (device N of host k is shown as k*%u + N)\n", TTM_REPORT_JOIN_DEVICES);
    for (size_t k = 0; k < ttm_replay_runs(rp); k++)
        fprintf(out, "  %zu  %s: devices from %zu, %s\n", k, ttm_replay_host(rp, k),
                k * TTM_REPORT_JOIN_DEVICES,
                ttm_replay_title(rp, k)[0] ? ttm_replay_title(rp, k) : "ttmemd");
}

/* How the recorded command ran: the last MADE chunk of a report of one run (docs/JOURNAL.md,
 * "Chunks"); a journal without one has none and says nothing of it. */
typedef struct made_seen {
    ttm_journal_made made;
    bool has, bad;
} made_seen;

static void on_made_chunk(void *ctx, size_t run, const ttm_journal_chunk *c)
{
    made_seen *m = ctx;
    if (run != 0 || c->kind != TTM_JOURNAL_CHUNK_MADE)
        return;
    ttm_journal_made d;
    if (ttm_journal_made_decode(c->data, c->len, &d) != TTM_OK) {
        m->bad = true;
        return;
    }
    ttm_journal_made_clear(&m->made);
    m->made = d;
    m->has = true;
}

/* The whole run's report, printed as record and simulate print theirs; recorded (NULL: none)
 * is how the command of a run of `ttmem record` ran. */
static int print_report(ttm_replay *rp, const ttm_cli_report_opts *o, const char *title,
                        const ttm_journal_made *recorded)
{
    ttm_report r;
    ttm_report_options ropt = {.top = o->top, .max_leaks = 20,
                               .sections = TTM_REPORT_SECTIONS |
                                           TTM_SNAP_BIT(TTM_SNAP_SEC_STACKS)};
    int err = ttm_replay_report(rp, &ropt, &r);
    if (err == TTM_ERANGE)
        return ttm_cli_fail("report: cannot join %zu runs: at most %u hosts with device ids "
                            "below %u each",
                            ttm_replay_runs(rp), TTM_REPORT_JOIN_HOSTS, TTM_REPORT_JOIN_DEVICES),
               1;
    if (err != TTM_OK)
        return ttm_cli_fail("report: cannot build the report: %s", ttm_strerror(err)), 1;
    bool joined = ttm_replay_runs(rp) > 1;
    ttm_cli_symbolize(&r, NULL);
    bool daemon = (r.sections & TTM_SNAP_BIT(TTM_SNAP_SEC_DAEMON)) != 0;
    if (o->json && joined) {
        json_joined(stdout, rp, &r, title);
    } else if (o->json) {
        char cmd[4096] = "";
        if (recorded != NULL)
            ttm_cli_made_command(recorded, cmd, sizeof cmd);
        const ttm_cli_made made = {.command = cmd,
                                   .exit_status = recorded ? ttm_journal_made_status(recorded) : 0,
                                   .recorded = recorded};
        ttm_render_json_made_by(stdout, &r, title, recorded != NULL ? &made : NULL);
        if (daemon && (r.daemon.dropped > 0 || r.daemon.prior_events > 0))
            ttm_cli_print_transport(stderr, &r);
    } else {
        ttm_render_text_depth(stdout, &r, title, o->depth != 0 ? o->depth : TTM_CLI_TEXT_DEPTH);
        if (joined)
            text_hosts(stdout, rp);
        if (daemon)
            ttm_cli_print_transport(stdout, &r);
        if (!joined)
            ttm_render_text_recorded(stdout, recorded);
    }
    ttm_report_clear(&r);
    return 0;
}

/* A run written by a daemon (no RUN chunk) whose DAEMON chunk is missing: its processes'
 * transport counters are zero, which the report alone would not say. */
static void note_no_daemon(const ttm_replay *rp)
{
    for (size_t k = 0; k < ttm_replay_runs(rp); k++)
        if (ttm_replay_title(rp, k)[0] == '\0' && !ttm_replay_has_daemon(rp, k))
            fprintf(stderr, "ttmem: report: no daemon records in the journal of %s (a daemon "
                            "killed before it wrote them): transport counters are zero\n",
                    ttm_replay_host(rp, k)[0] ? ttm_replay_host(rp, k) : "?");
}

static int parse_args(int argc, char **argv, ttm_cli_report_opts *o)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},           {"top", required_argument, NULL, 't'},
        {"at", required_argument, NULL, 'a'},       {"stack-depth", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
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
            if (ttm_cli_parse_top("report", optarg, &o->top) != 0)
                return 2;
            break;
        case 'd':
            if (ttm_cli_parse_depth("report", optarg, &o->depth) != 0)
                return 2;
            break;
        case 'a':
            if (ttm__cli_parse_at(optarg, &o->at) != 0)
                return 2;
            o->has_at = true;
            break;
        case 'h':
            printf("%s\n", USAGE);
            return -1;
        default:
            return ttm_cli_bad_option("report", argv);
        }
    }
    if (optind >= argc)
        return ttm_cli_fail("report: no journal given; " USAGE);
    return 0;
}

int ttm_cli_report(int argc, char **argv)
{
    ttm_cli_report_opts o = {.top = 10};
    int rc = parse_args(argc, argv, &o);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    ttm_replay *rp = NULL;
    char msg[512];
    int err = ttm_replay_open(&rp, (const char *const *)argv + optind, (size_t)(argc - optind),
                              msg, sizeof msg);
    if (err != TTM_OK)
        return ttm_cli_fail("report: %s", msg), 1;
    made_seen seen = {.has = false};
    const ttm_replay_observer obs = {.ctx = &seen, .chunk = on_made_chunk};
    err = ttm_replay_run(rp, &obs, UINT64_MAX);
    if (seen.bad)
        fprintf(stderr, "ttmem: report: the journal's record of the command (its MADE chunk) "
                        "does not decode: the command and its exit status are not shown\n");
    if (err != TTM_OK) {
        ttm_journal_made_clear(&seen.made);
        ttm_replay_close(rp);
        return ttm_cli_fail("report: cannot read the journal: %s", ttm_strerror(err)), 1;
    }
    ttm_replay_summary(rp, msg, sizeof msg);
    if (msg[0] != '\0')
        fprintf(stderr, "ttmem: report: %s\n", msg);
    if (ttm_replay_records(rp) == 0) {
        ttm_journal_made_clear(&seen.made);
        ttm_replay_close(rp);
        return ttm_cli_fail("report: nothing readable in the journal"), 1;
    }
    char title[1024];
    report_title(rp, title, sizeof title);
    if (o.has_at)
        rc = ttm__cli_report_at(rp, &o, title);
    else
        rc = print_report(rp, &o, title,
                          seen.has && ttm_replay_runs(rp) == 1 ? &seen.made : NULL);
    if (rc == 0 && !o.has_at)
        note_no_daemon(rp);
    fflush(stdout);
    ttm_journal_made_clear(&seen.made);
    ttm_replay_close(rp);
    return rc;
}
