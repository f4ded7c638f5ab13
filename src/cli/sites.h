/*
 * sites.h — call sites in the CLI: the report's stacks, modules and strings looked up by id,
 * native frames symbolized (src/sym), and a stack written as text the way every command shows
 * one ("    at function (file:line) [module]", "    at module+0x1234" when unresolved).
 *
 * The report (core/report.h) carries every stack its findings, leak groups, live sites and
 * live buffers refer to, with frames inline; the daemon knows modules and offsets only, so a
 * command that shows native frames calls ttm_cli_symbolize() on the report it fetched, after
 * which the frames have function, file and line wherever the module's file (matched by
 * build-id) or its debug file says them. JSON and text then show the same frames.
 */
#ifndef TTM_CLI_SITES_H
#define TTM_CLI_SITES_H

#include <stdio.h>

#include "core/registry.h"
#include "core/report.h"
#include "sym/sym.h"

/* Frames of a stack the text shows unless --stack-depth says otherwise. */
#define TTM_CLI_TEXT_DEPTH 5u
/* The largest --stack-depth (the client captures at most 64 native frames). */
#define TTM_CLI_DEPTH_MAX 64u

/* The stack, module, string (NUL-terminated) of id in r, or NULL (0, or not carried). */
const ttm_report_stack *ttm_cli_stack(const ttm_report *r, uint32_t id);
const ttm_report_module *ttm_cli_module(const ttm_report *r, uint32_t id);
const char *ttm_cli_string(const ttm_report *r, uint32_t id);

/* Fills in function, file and line of every native frame of r's stacks that has no function
 * yet, through sym (NULL: a handle of its own, closed before returning; a caller that
 * symbolizes again and again, `ttmem top`, keeps one so its caches serve every refresh). An
 * address inside inlined code becomes one frame per function of its inline chain, innermost
 * first, all with the address's module and offset; at the innermost address, the functions of
 * ttmem.h's inline gate (ttm__gated_*) are left out, as libttmem leaves out its own frames.
 * Frames whose module cannot be used keep function NULL (shown as module+offset). Returns the number of native frames resolved. */
size_t ttm_cli_symbolize(ttm_report *r, ttm_sym *sym);

/* A report that names the given stacks and scopes of reg's call-site table, resolved and
 * symbolized as the text report's (through sym; NULL: a handle of its own): one live site per
 * stack id and one scope per scope id are what ttm_report_resolve() reads its ids from, so
 * r->stacks holds every stack named and ttm_cli_string() every scope's name. r is overwritten
 * (ttm_report_clear() it after). Returns 0 or TTM_ENOMEM. */
int ttm_cli_name_ids(const ttm_registry *reg, const uint32_t *stacks, size_t nstacks,
                     const uint32_t *scopes, size_t nscopes, ttm_sym *sym, ttm_report *r);

/* ttm_cli_symbolize() of one stack of r (sym not NULL). */
size_t ttm_cli_symbolize_stack(const ttm_report *r, ttm_report_stack *st, ttm_sym *sym);

/* One frame as the text shows it, without the "at ": "function (file:line) [module]",
 * "function [module]", "module+0x1234", "0x7f..." (no module), Python frames "[python]". */
void ttm_cli_frame_text(const ttm_report *r, const ttm_report_frame *f, char *buf, size_t len);

/* Writes the first depth frames of stack id, one line each: indent spaces, "at ", the frame;
 * then "...N more frames" when depth cut it. A stack of 0 or one not carried prints one line
 * saying so (no call stack: tracked without stacks). */
void ttm_cli_print_stack(FILE *out, const ttm_report *r, uint32_t stack, unsigned depth,
                         int indent);

/* "scope NAME", "phase NAME", "scope NAME, phase NAME" or "" for ids (0 = none), into buf. */
const char *ttm_cli_names(const ttm_report *r, uint32_t scope, uint32_t phase, char *buf,
                          size_t len);

/* Parses --stack-depth's value (1..TTM_CLI_DEPTH_MAX). Returns 0, or prints one line naming
 * cmd and returns 2 (main.c, beside ttm_cli_parse_top). */
int ttm_cli_parse_depth(const char *cmd, const char *arg, unsigned *out);

#endif /* TTM_CLI_SITES_H */
