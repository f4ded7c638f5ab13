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

/* Adds the causes of a report of another registry (part->causes and part->causes_info) into
 * acc (indexed by cause, zeroed by the caller before the first part) and *info: the counts are
 * summed, first_ts / last_ts the least and greatest, the pids joined (TTM_CAUSE_PIDS kept, then
 * more_pids), the worst instances of both kept (by frees), each instance's device moved by
 * device_base (a join's numbering; 0 for none); mesh_devices and frees_per_group are those of
 * the part with more groups (a mode cannot be summed). ttm__report_causes_set(r, acc, info)
 * then makes the report's list. */
void ttm_report_causes_add(ttm_cause_stats acc[TTM_CAUSE__COUNT], ttm_causes_info *info,
                           const ttm_report *part, uint32_t device_base);

/* A joined report's device id is host * TTM_REPORT_JOIN_DEVICES + the device's id on its host:
 * at most TTM_REPORT_JOIN_HOSTS hosts with device ids below TTM_REPORT_JOIN_DEVICES each. */
#define TTM_REPORT_JOIN_DEVICES 256u
#define TTM_REPORT_JOIN_HOSTS 256u

/* Joins the reports of n runs (parts[k]: run k's report, made with opt, hosts in the order of
 * k) into out, one report keyed by (host, device): device D of part k becomes
 * k * TTM_REPORT_JOIN_DEVICES + D; the processes are part 0's, then part 1's, ... (each
 * ascending by pid, the pids as their hosts gave them); the string, module and stack ids of
 * part k are moved past those of the parts before it; the counters are summed, the lists
 * joined, sorted and cut (opt's top and max_leaks) as one run's are. The parts' arrays are moved
 * into out or left to the caller to clear (ttm_report_clear each part after). Returns 0,
 * TTM_ERANGE (more hosts, or a device id beyond, than the numbering holds) or TTM_ENOMEM (out
 * empty). */
int ttm_report_join(ttm_report *out, ttm_report *parts, size_t n, const ttm_report_options *opt);

#endif /* TTM_CORE_REPORT_MERGE_H */
