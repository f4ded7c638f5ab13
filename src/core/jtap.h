/*
 * jtap.h — what a registry is fed, written to a run journal (common/journal.h) so that a replay
 * (core/replay.h) feeds a fresh registry exactly the same and reaches the same verdicts.
 *
 * Every writer of journals goes through it: ttmemd (after each event it applies), `ttmem
 * simulate --journal` and `ttmem analyze-log --journal` (which apply through it). What it
 * writes, in order (docs/JOURNAL.md, "What a journal holds"):
 *   - at open: a CONFIG chunk (the registry's configuration and default architecture), then a
 *     STATE chunk when the registry is not empty (a restored daemon, a rotated file);
 *   - before a record that follows new interns into the registry's call-site table: a STACKS
 *     chunk with what the table gained (ttm_stacks_save_since), so every id a record uses is
 *     defined before it;
 *   - one record per applied event: ALLOC/FREE as an event record with its class mask, MARK as
 *     a mark, DEVICE_INFO as a device record, PROC_START/PROC_EXIT as process records;
 *   - process records with name and command line, and FORGET, when the caller says so;
 *   - DAEMON chunks when the caller hands one over.
 *
 * The tap does not own the writer. A failed write is sticky in the writer; the tap keeps the
 * first error (ttm_jtap_error) and writes nothing more, the registry goes on.
 */
#ifndef TTM_CORE_JTAP_H
#define TTM_CORE_JTAP_H

#include <stddef.h>
#include <stdint.h>

#include "common/bytes.h"
#include "common/event.h"
#include "common/journal.h"
#include "core/registry.h"
#include "core/stacks.h"

typedef struct ttm_jtap {
    ttm_registry *reg;
    ttm_journal_writer *w;
    ttm_stacks_mark mark; /* the call-site table as of the last STACKS chunk */
    ttm_bytes buf;        /* scratch for chunks */
    int err;              /* the first failure, 0 while writing */
} ttm_jtap;

/* Starts tapping reg into w: writes the CONFIG chunk (cfg: the configuration reg was opened
 * with, NULL for defaults; default_arch as given to ttm_registry_set_default_arch, 0 none) and,
 * when reg holds anything already, a STATE chunk. *t is initialised. Returns 0 or what the
 * writer or ttm_registry_save returned (then *t writes nothing). */
int ttm_jtap_open(ttm_jtap *t, ttm_registry *reg, ttm_journal_writer *w,
                  const ttm_registry_config *cfg, uint32_t default_arch);
/* ttm_jtap_open with the run's title (the report's title/source, "" or NULL: none) in a RUN
 * chunk right after the CONFIG chunk. */
int ttm_jtap_open_run(ttm_jtap *t, ttm_registry *reg, ttm_journal_writer *w,
                      const ttm_registry_config *cfg, uint32_t default_arch, const char *title);
/* Writes a STACKS chunk when the call-site table grew since the last one. Called by the
 * record functions below; a caller that interns and then writes records itself need not. */
int ttm_jtap_sync(ttm_jtap *t);
/* The record of an event applied for pid with class mask (ALLOC/FREE: event; MARK: mark;
 * DEVICE_INFO: device; PROC_START: process start without name; PROC_EXIT: exit; both with
 * status TTM_JOURNAL_STATUS_EVENT, so that a replay applies them as the events they were).
 * Any other kind (one the registry classed invalid) is written as an event record too. Returns
 * 0 or the writer's error. */
int ttm_jtap_event(ttm_jtap *t, uint32_t pid, const ttm_event *ev, uint32_t mask);
/* The records of n events applied for pid with masks[i] each (a batch: one STACKS check for
 * all, then ALLOC/FREE records written straight; other kinds as ttm_jtap_event). Returns 0 or
 * the first error. */
int ttm_jtap_events(ttm_jtap *t, uint32_t pid, const ttm_event *ev, const uint32_t *masks,
                    size_t n);
/* ttm_registry_apply(reg, pid, ev), then its record. Returns the class mask. */
uint32_t ttm_jtap_apply(ttm_jtap *t, uint32_t pid, const ttm_event *ev);
/* A process record (start with name and command line, exit with status, forget). */
int ttm_jtap_proc(ttm_jtap *t, const ttm_journal_proc *p);
/* A chunk handed over by the caller (DAEMON). */
int ttm_jtap_chunk(ttm_jtap *t, uint32_t kind, uint64_t ts, const void *data, size_t len);
/* Writes the last STACKS chunk (if the table grew) and stops tapping; the writer stays open.
 * Returns the first error of the tap, or 0. */
int ttm_jtap_close(ttm_jtap *t);
/* The first error (a ttm_err), 0 while all went well. */
int ttm_jtap_error(const ttm_jtap *t);

/* The CONFIG chunk: version u32 (1), count u32, then count u64 values in this order:
 * max_live_per_pid, max_offenders, max_history, max_freed_objs, max_leaks_listed,
 * max_processes, the stacks bounds (max_strings, string_bytes, max_modules, max_frames,
 * max_stacks, stack_words, max_contexts), max_phases, max_leak_groups, max_breakdown,
 * default_arch. A reader takes the values it knows and ignores the rest. */
int ttm_jtap_config_encode(const ttm_registry_config *cfg, uint32_t default_arch, ttm_bytes *out);
/* Returns 0 or TTM_EPROTO (short, wrong version, a value out of range). */
int ttm_jtap_config_decode(const uint8_t *p, size_t len, ttm_registry_config *cfg,
                           uint32_t *default_arch);

#endif /* TTM_CORE_JTAP_H */
