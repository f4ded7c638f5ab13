/*
 * report_at.h — what `ttmem report` shares between its two halves: cmd_report.c (the options,
 * the report of a whole run) and cmd_report_at.c (`--at`: what was live at one moment).
 */
#ifndef TTM_CLI_REPORT_AT_H
#define TTM_CLI_REPORT_AT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/replay.h"

/* Where --at goes: a time after the run's first record, or the peak of a (device, memtype)
 * (TTM_REPLAY_ANY_DEVICE / TTM_MEM_ANY: summed). */
typedef struct ttm_cli_at {
    bool peak;
    uint64_t offset_ns; /* !peak: nanoseconds after the run's first record */
    uint32_t device;
    uint8_t memtype;
    const char *spec;   /* as given */
} ttm_cli_at;

typedef struct ttm_cli_report_opts {
    bool json;
    size_t top;
    unsigned depth;  /* --stack-depth, 0 = the default */
    bool has_at;
    ttm_cli_at at;
} ttm_cli_report_opts;

/* Parses --at's value: "12.5s", "1500ms", "250us", "42ns", a plain number of seconds, "peak",
 * "peak:DEVICE", "peak:DEVICE:MEMTYPE" (memtype names as the report prints them). Returns 0,
 * or prints one line and returns 2. */
int ttm__cli_parse_at(const char *s, ttm_cli_at *out);

/* `--at`: replays the (one) run of rp to the moment and prints what was live then. rp has
 * been replayed whole once (its span and peaks known). title names the run. Returns the exit
 * status. */
int ttm__cli_report_at(ttm_replay *rp, const ttm_cli_report_opts *o, const char *title);

#endif /* TTM_CLI_REPORT_AT_H */
