/*
 * cli.h — what the ttmem subcommands share: the command table entry points, report rendering,
 * and the one way a command reports a failure.
 */
#ifndef TTM_CLI_CLI_H
#define TTM_CLI_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "core/report.h"

/* Every subcommand: argv[0] is the subcommand's name. Returns the process exit status. */
int ttm_cli_simulate(int argc, char **argv);
int ttm_cli_demo(int argc, char **argv);
int ttm_cli_analyze_log(int argc, char **argv);
int ttm_cli_metrics(int argc, char **argv);

/* Prints "ttmem: " + the formatted message + newline on stderr. Returns 2 (usage errors) so
 * callers can `return ttm_cli_fail(...)`. */
int ttm_cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Parses a whole decimal or 0x-hex unsigned number; returns 0 or TTM_EINVAL / TTM_ERANGE. */
int ttm_cli_parse_u64(const char *s, uint64_t *out);

/* Renders a report. title may be NULL. */
void ttm_render_text(FILE *out, const ttm_report *r, const char *title);
void ttm_render_json(FILE *out, const ttm_report *r, const char *source);

#endif /* TTM_CLI_CLI_H */
