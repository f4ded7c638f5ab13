/*
 * report_merge.h — a daemon's own records merged into a report of its registry: each process's
 * transport counters into the report's processes, and the daemon, legacy-socket and query-socket
 * records. ttmemd merges what it holds when it answers a query (src/daemon/report_fill.c); a
 * replay merges what the journal's DAEMON chunk kept (core/replay.c): one piece of code, so
 * the two reports of one run are the same.
 */
#ifndef TTM_CORE_REPORT_MERGE_H
#define TTM_CORE_REPORT_MERGE_H

#include <stddef.h>

#include "core/report.h"

/* Copies what the daemon knows of a process beyond the registry (uid, name, connection,
 * transport counters, side logs) from src to dst; dst's registry statistics stay. */
void ttm_report_proc_transport(ttm_report_proc *dst, const ttm_report_proc *src);

/* Merges the daemon's processes (n entries ascending by pid: stats.pid, stats.alive and the
 * transport members set) into r->procs (ascending by pid, as the registry lists them): an
 * entry of both gets the transport members, one the registry never saw gets an entry of its
 * own (registered false, its pid, alive and transport members only). Returns 0 or TTM_ENOMEM
 * (r unchanged). */
int ttm_report_merge_procs(ttm_report *r, const ttm_report_proc *daemon, size_t n);

/* Merges the daemon's records d (the DAEMON, PROCS, LEGACY and SERVICE sections a daemon put in
 * its snapshot, as d->sections says) into r, a report of the same registry: the processes by
 * ttm_report_merge_procs() when both hold PROCS, the daemon, legacy and service records copied,
 * and their sections added to r->sections. Returns 0 or TTM_ENOMEM (r unchanged). */
int ttm_report_merge_daemon(ttm_report *r, const ttm_report *d);

#endif /* TTM_CORE_REPORT_MERGE_H */
