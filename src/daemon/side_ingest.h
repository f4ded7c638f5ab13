/*
 * side_ingest.h — the daemon's reader of a client's side log (common/side.h): it checks and
 * maps the memfd a HELLO hands over as its third descriptor, reads the records the client
 * commits (modules, unmaps, stacks, strings, Python frames) into the registry's call-site
 * tables (core/stacks.h), and rewrites the stack and scope ids of the client's ALLOC/FREE
 * events into the registry's ids.
 *
 * Per session it keeps: the client's module ids mapped to the registry's, with the address
 * ranges of the modules still mapped (sorted, for the pc lookup of a stack's native entries);
 * and dense arrays from the client's stack, string and Python-frame ids to the registry's.
 * Every table is bounded per session (TTM_SIDE_IN_MAX_*); what lies beyond a bound is counted
 * and maps to 0.
 *
 * The log lives in memory the client controls: nothing is trusted. The memfd must be sealed
 * against shrinking and growing (so the read-only mapping can never fault) and of the size its
 * header says; `committed` is read with acquire order and checked against the log's size and
 * the reader's own position; each record is copied out of the mapping before it is parsed and
 * every length is checked against what is committed. A record of an unknown type is skipped
 * (counted); a record of a known type whose payload breaks the format is skipped (counted as
 * bad); a record whose length runs past `committed` (the framing is lost) breaks the log: it is
 * read no more, and the session goes on with the ids read so far. Nothing here logs: the
 * caller (session.c) gets a message and logs one line.
 *
 * Not thread-safe (the daemon has one thread).
 */
#ifndef TTM_DAEMON_SIDE_INGEST_H
#define TTM_DAEMON_SIDE_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/event.h"
#include "core/report.h"
#include "core/stacks.h"

/* Per-session bounds (client ids beyond them map to 0, counted in `bound`). */
#define TTM_SIDE_IN_MAX_STACKS (1u << 20)
#define TTM_SIDE_IN_MAX_STRINGS (1u << 20)
#define TTM_SIDE_IN_MAX_PYFRAMES (1u << 20)
#define TTM_SIDE_IN_MAX_MODULES 4096u /* a large Python process maps ~1,500; each MODULE
                                        * record may shift the sorted ranges (memmove) */
/* Bytes of records a session reads per drain (per loop turn) at most, and one
 * ttm__side_in_read() call unless told otherwise (a full 256 MiB log is read in 64 turns). */
#define TTM_SIDE_IN_BUDGET (4u << 20)

typedef struct ttm_side_in ttm_side_in;

/* What side logs did: per process (proc.h) and for the whole daemon (daemon.h), reported as
 * they are (core/report.h, whose comments say what each counter counts). Each call below adds
 * to the counters it is given. */
typedef ttm_report_side ttm_side_counts;

/* to += from, field by field (saturating). */
void ttm__side_counts_add(ttm_side_counts *to, const ttm_side_counts *from);

/* Checks and maps the side log in fd (the caller keeps fd and may close it after the call):
 * F_GET_SEALS must include F_SEAL_SHRINK and F_SEAL_GROW, fstat's size must equal the header's
 * map_bytes and lie within [TTM_SIDE_MIN_BYTES, TTM_SIDE_MAX_BYTES], the header's magic,
 * version and hdr_size must be side.h's. The mapping is read-only. Returns 0 and *out, or
 * TTM_EPROTO (msg, len bytes, says why in one line) or TTM_ENOMEM; *out is NULL then. */
int ttm__side_in_open(ttm_side_in **out, int fd, char *msg, size_t len);

/* The same checks on a side log already in memory (map, map_bytes: the whole log; aligned as
 * ttm_side_hdr is, 64 bytes, else TTM_EINVAL), which the reader does not own: it must stay
 * valid until ttm__side_in_close(). For tests and fuzzing. */
int ttm__side_in_over(ttm_side_in **out, const void *map, size_t map_bytes, char *msg,
                      size_t len);

/* Unmaps (when ttm__side_in_open mapped it) and frees. NULL is a no-op. */
void ttm__side_in_close(ttm_side_in *si);

/* True when the client has committed records the reader has not read yet (one acquire load
 * and a compare); false once the log is broken. NULL: false. */
bool ttm__side_in_pending(const ttm_side_in *si);

/* Reads the records committed since the last call into st, about budget bytes of them (0:
 * TTM_SIDE_IN_BUDGET; at least one record, and none begun past budget), adding what it did to *c. Returns 0 when it has read everything that
 * was committed when it looked, TTM_EAGAIN when the budget stopped it first (call again), or
 * TTM_EPROTO when the log broke in this call (msg says why; c->broken counted; the log is read
 * no more and later calls return 0). */
int ttm__side_in_read(ttm_side_in *si, ttm_stacks *st, size_t budget, ttm_side_counts *c,
                      char *msg, size_t len);

/* Marks the log broken (the caller found it unreadable): it is read no more; the ids read so
 * far stay. Counted in c->broken. */
void ttm__side_in_break(ttm_side_in *si, ttm_side_counts *c);

/* Rewrites ev[0..n)'s stack and scope ids (ALLOC and FREE events only) from the client's ids
 * into the registry's: an id the log has not shipped becomes 0, counted in stack_unknown /
 * scope_unknown. si NULL (a session without a side log): every id becomes 0, counted. */
void ttm__side_in_rewrite(const ttm_side_in *si, ttm_event *ev, size_t n, ttm_side_counts *c);

#endif /* TTM_DAEMON_SIDE_INGEST_H */
