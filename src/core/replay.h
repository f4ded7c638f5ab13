/*
 * replay.h — run journals (common/journal.h) fed again into fresh registries, so that
 * everything a live daemon answers can be answered after the run: the report, the live set at
 * any moment, and the life of every buffer.
 *
 * Journals are grouped into runs: the files of one run share the header's run_id and are
 * replayed in seq order (a rotated file starts with a STATE chunk, so a run's later file alone
 * gives the whole report). Each run gets its own registry, opened with the run's CONFIG chunk.
 * Records are applied as the daemon applied them (core/jtap.h): STACKS chunks are loaded into
 * the registry's call-site table (ttm_stacks_load_more), STATE replaces the registry, process
 * records apply PROC_START / PROC_EXIT (the whole exit at once) / forget, marks are MARK
 * events, device records DEVICE_INFO events, the last DAEMON chunk is kept for the report's
 * daemon records. Damaged blocks are skipped and counted; the replay goes on.
 *
 * Several runs of different hosts merge into one report keyed by (host, device): see
 * ttm_replay_report.
 */
#ifndef TTM_CORE_REPLAY_H
#define TTM_CORE_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/journal.h"
#include "core/registry.h"
#include "core/report.h"

typedef struct ttm_replay ttm_replay;

/* A process as the journal's process records tell it. */
typedef struct ttm_replay_proc {
    uint32_t pid;
    const char *name;    /* "" when unknown */
    const char *cmdline; /* NUL-separated arguments; cmdline_len bytes */
    size_t cmdline_len;
    uint64_t start_ts, exit_ts; /* 0 when not seen */
    int32_t status;             /* waitpid status; -1 unknown */
    bool exited, forgotten;
} ttm_replay_proc;

/* One buffer's life: from the ALLOC that made its registry record to the FREE that closed it,
 * or its process's exit (leaked), or the end of the replay (free_ts 0: live). */
typedef struct ttm_replay_buffer {
    uint32_t pid; /* the owner */
    uint16_t device;
    uint8_t memtype;
    uint16_t flags;          /* TTM_FLAG_VIEW for a view */
    uint64_t addr, size, obj;
    uint64_t alloc_ts, free_ts;
    uint32_t stack, scope;   /* the allocation's call site and scope (registry ids) */
    uint32_t free_stack;     /* the closing FREE's stack, 0 when none */
    bool leaked;             /* reclaimed at its process's exit */
    uint32_t reuse;          /* earlier lives at the same (device, addr) in the run: memory_viz's
                              * block name is b<addr>_<reuse> */
} ttm_replay_buffer;

/* What a replay tells its caller as it goes; any member may be NULL. run is the run's index
 * (0 .. ttm_replay_runs() - 1). Pointers are valid during the call only. */
typedef struct ttm_replay_observer {
    void *ctx;
    /* an ALLOC or FREE applied: the record, the class mask the replay gave, what it matched */
    void (*event)(void *ctx, size_t run, const ttm_journal_event *e, uint32_t mask,
                  const ttm_apply_info *info);
    /* a buffer's life ended, or the replay ended with it live (free_ts 0) */
    void (*buffer)(void *ctx, size_t run, const ttm_replay_buffer *b);
    void (*proc)(void *ctx, size_t run, const ttm_journal_proc *p);
    void (*mark)(void *ctx, size_t run, const ttm_journal_mark *m);
    void (*device)(void *ctx, size_t run, const ttm_journal_device *d);
    /* The bytes in use on (device, memtype) became bytes, at record time ts: the registry's own
     * accounting after the record was applied (an ALLOC, a FREE that closed a record, a process
     * exit reclaiming its leaks, a STATE chunk), so the numbers are the report's. Called once
     * per record and (device, memtype) that changed, in record order. Timelines, exports and
     * the peak are drawn from it: nobody recomputes usage from the raw events. */
    void (*usage)(void *ctx, size_t run, uint64_t ts, uint16_t device, uint8_t memtype,
                  uint64_t bytes);
    /* A chunk the replay does not consume itself (RUN, and kinds it does not know), or every
     * chunk when a caller wants them; pointers valid during the call. */
    void (*chunk)(void *ctx, size_t run, const ttm_journal_chunk *c);
} ttm_replay_observer;

/* Any device / the sum over devices (ttm_replay_peak). */
#define TTM_REPLAY_ANY_DEVICE 0xFFFFFFFFu

/* Opens n journal files (each read through ttm_journal_reader_open) and groups them into runs.
 * Returns 0, or the first file's error (TTM_ENOENT, TTM_EIO, TTM_EPROTO: not a journal,
 * TTM_EVERSION, TTM_ENOMEM) with msg (msg_len bytes) one line naming the file. */
int ttm_replay_open(ttm_replay **out, const char *const *paths, size_t n, char *msg,
                    size_t msg_len);
void ttm_replay_close(ttm_replay *rp);

/* Replays every run from its beginning up to and including the records of time stop_ts
 * (UINT64_MAX: all), calling obs (NULL: none) on the way. A replay may be run again (it starts
 * over). Returns 0, TTM_ENOMEM or TTM_EIO; damage is not an error (ttm_replay_summary). */
int ttm_replay_run(ttm_replay *rp, const ttm_replay_observer *obs, uint64_t stop_ts);

size_t ttm_replay_runs(const ttm_replay *rp);
/* A run's host name (its first file's header) and registry (after ttm_replay_run). */
const char *ttm_replay_host(const ttm_replay *rp, size_t run);
ttm_registry *ttm_replay_registry(ttm_replay *rp, size_t run);
/* A run's processes, ascending by pid (after ttm_replay_run); *n gets the count. */
const ttm_replay_proc *ttm_replay_procs(const ttm_replay *rp, size_t run, size_t *n);
/* The run's time span: the smallest and largest record time (after ttm_replay_run). */
void ttm_replay_span(const ttm_replay *rp, size_t run, uint64_t *first_ts, uint64_t *last_ts);

/* The report of the replayed runs, as the daemon that wrote them answered (opt as given to
 * ttm_report_fill; with the DAEMON chunk's records merged in exactly as the daemon merges its
 * own: the same JSON for the same run). With several runs, one report keyed by (host,
 * device). Returns 0 or TTM_ENOMEM. */
int ttm_replay_report(ttm_replay *rp, const ttm_report_options *opt, ttm_report *out);

/* The peak of a run (after a whole ttm_replay_run): the first record at which the bytes in use
 * on device (TTM_REPLAY_ANY_DEVICE: summed over devices) and memtype (TTM_MEM_ANY: summed over
 * memtypes) were highest. *ts gets its time, *bytes the bytes, *rec the record's position in
 * the run (0-based, counting every record the replay applied), which ttm_replay_run_to() stops
 * at, so "live at the peak" is exact even when several records share a time. Returns 0 or
 * TTM_ENOENT (nothing was ever in use there). */
int ttm_replay_peak(const ttm_replay *rp, size_t run, uint32_t device, uint8_t memtype,
                    uint64_t *ts, uint64_t *bytes, uint64_t *rec);
/* Replays run `run` only, from its beginning through its record number rec (0-based, as
 * ttm_replay_peak counts; UINT64_MAX: all), calling obs. Same returns as ttm_replay_run. */
int ttm_replay_run_to(ttm_replay *rp, const ttm_replay_observer *obs, size_t run, uint64_t rec);
/* A run's title (its RUN chunk), "" when it has none; after ttm_replay_run. */
const char *ttm_replay_title(const ttm_replay *rp, size_t run);

/* One line saying what was lost over all files (damaged blocks, cut tails), "" when nothing;
 * after ttm_replay_run. */
void ttm_replay_summary(const ttm_replay *rp, char *buf, size_t n);

/* Whether run's report has daemon records (the journal held a DAEMON chunk that decodes);
 * after ttm_replay_run. */
bool ttm_replay_has_daemon(const ttm_replay *rp, size_t run);
/* Events whose class mask, applied again, differed from the one the journal recorded (0 when
 * the replay agrees with the daemon; also in ttm_replay_summary); after ttm_replay_run. */
uint64_t ttm_replay_mismatches(const ttm_replay *rp);

/* Records applied over every run by the last replay (0: nothing readable). */
uint64_t ttm_replay_records(const ttm_replay *rp);

#endif /* TTM_CORE_REPLAY_H */
