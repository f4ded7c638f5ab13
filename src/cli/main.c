/*
 * main.c — the ttmem command: one table of subcommands, used for dispatch and for the help text.
 */
#include <errno.h>
#include <inttypes.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/sites.h"
#include "ttmem/ttmem.h"

static const cli_command commands[] = {
    {"simulate", ttm_cli_simulate,
     "simulate --scenario NAME|list [--client identity|legacy] [--seed N] [--check] [--json] "
     "[--journal FILE] [--peaks]",
     "run a simulated TT-Metal workload through the core and report"},
    {"report", ttm_cli_report,
     "report FILE... [--json] [--top N] [--stack-depth N] [--at TIME|peak[:DEVICE[:MEMTYPE]]]",
     "the report of a run from its journal(s), or what was live at one moment (--at)"},
    {"demo", ttm_cli_demo, "demo",
     "record simulated TT-Metal processes (one killed mid-run) through ttmemd, reported"},
    {"analyze-log", ttm_cli_analyze_log,
     "analyze-log [--json] [--top N] [--stack-log TRACE] [--journal OUT] [FILE...]",
     "rebuild and diagnose the event stream of allocation-server prototype logs (.gz too)"},
    {"status", ttm_cli_status, "status [--json] [--stacks] [--socket PATH]",
     "what the running ttmemd sees: memory per device and process, diagnosis counters"},
    {"dump", ttm_cli_dump, "dump [--json] [--max N] [--stacks] [--socket PATH]",
     "the live buffers of the running ttmemd, by device, type and process"},
    {"record", ttm_cli_record,
     "record [-o report.json] [--json] [--top N] [--stacks[=python]] -- CMD ARGS...",
     "run CMD with tracking under a private ttmemd; report when it exits"},
    {"metrics", ttm_cli_metrics, "metrics [--socket PATH] [--shm-dir DIR]",
     "print the Prometheus metrics once (node_exporter textfile collector)"},
    {"top", ttm_cli_top, "top [--once | -l SECONDS | --json] [-d SECONDS] [--socket PATH]",
     "the live monitor: devices, processes, diagnosis, history, sites (keys: h)"},
    {"journal", ttm_cli_journal, "journal [--json] FILE...",
     "what run journals hold (header, blocks, records, classes, chunks, damage), no replay"},
    {"timeline", ttm_cli_timeline, "timeline FILE... [-o run.html] [--title TEXT]",
     "one self-contained HTML page of a journal: memory over time, the live set at the peak"},
    {"export", ttm_cli_export, "export FILE... --format perfetto|sqlite|csv [-o OUT|-]",
     "a run journal as a Perfetto trace, an SQLite database or CSV (docs/EXPORT.md)"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: ttmem COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n             %s\n", commands[i].name, commands[i].summary,
                commands[i].usage);
    fprintf(out, "\n  ttmem help | --help     this text\n  ttmem --version\n");
}

int ttm_cli_fail(const char *fmt, ...)
{
    va_list ap;
    fputs("ttmem: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 2;
}

int ttm_cli_bad_option(const char *cmd, char **argv)
{
    if (optopt)
        return ttm_cli_fail("%s: option '%s' is missing its value", cmd, argv[optind - 1]);
    return ttm_cli_fail("%s: unknown option '%s'; see 'ttmem %s --help'", cmd, argv[optind - 1],
                        cmd);
}

/* The value of cmd's option opt, a number from 1 to max, into *out; else one line, 2. */
static int parse_count(const char *cmd, const char *opt, const char *arg, uint64_t max,
                       uint64_t *out)
{
    if (ttm_cli_parse_u64(arg, out) != TTM_OK || *out == 0 || *out > max)
        return ttm_cli_fail("%s: %s '%s' must be a number from 1 to %" PRIu64, cmd, opt, arg,
                            max);
    return 0;
}

int ttm_cli_parse_top(const char *cmd, const char *arg, size_t *out)
{
    uint64_t v = 0;
    if (parse_count(cmd, "--top", arg, 10000, &v) != 0)
        return 2;
    *out = (size_t)v;
    return 0;
}

int ttm_cli_parse_depth(const char *cmd, const char *arg, unsigned *out)
{
    uint64_t v = 0;
    if (parse_count(cmd, "--stack-depth", arg, TTM_CLI_DEPTH_MAX, &v) != 0)
        return 2;
    *out = (unsigned)v;
    return 0;
}

int ttm_cli_parse_u64(const char *s, uint64_t *out)
{
    if (s == NULL || *s == '\0' || *s == '-' || *s == '+')
        return TTM_EINVAL;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (*end != '\0')
        return TTM_EINVAL;
    if (errno == ERANGE)
        return TTM_ERANGE;
    *out = v;
    return TTM_OK;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("ttmem %s\n", TTM_VERSION);
        return 0;
    }
    /* hidden: the man pages and the shell completion, generated from this table (gendoc.c) */
    if (strcmp(cmd, "gen-docs") == 0)
        return ttm_cli_gendoc(commands, sizeof commands / sizeof commands[0], argc - 1, argv + 1);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(cmd, commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    return ttm_cli_fail("unknown command '%s'; run 'ttmem help' for the list", cmd);
}
