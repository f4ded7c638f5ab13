/*
 * report_schema.c — every record of the report described once (common/schema.h): the core's
 * query structs (registry.h) and the report's own (report.h). The snapshot codec, the JSON
 * writers, the Prometheus families and the generated docs walk these tables; a member added
 * to one of the structs is one row here.
 *
 * The report's own table (ttm_rec_report) says which snapshot section carries each part.
 */
#include "core/report.h"

#include "common/arch.h"
#include "common/poc.h"
#include "common/snapshot.h"

static const char *class_label(unsigned c)
{
    return ttm_class_name(c);
}

static const char *space_label(unsigned s)
{
    return ttm__space_name((ttm_space)s);
}

static const char *arch_label(unsigned a)
{
    const ttm_arch_profile *p = ttm__arch_profile(a);
    return p ? p->name : "unknown"; /* a client's device-info event may name any number */
}

static const char *legacy_type_label(unsigned t)
{
    return t == 0 ? "NONE" : ttm__poc_type_name(t);
}

/* The legacy protocol's message types (docs/COMPAT.md), by AllocMessage type number. */
static const ttm_schema_enum enum_legacy_type = {"legacy message type", TTM_POC_TYPE_MAX + 1,
                                                 legacy_type_label};

const ttm_schema_enum ttm_enum_arch = {"arch", TTM_ARCH_BLACKHOLE + 1, arch_label};
const ttm_schema_enum ttm_enum_class = {"class", TTM_CLASS__COUNT, class_label};
const ttm_schema_enum ttm_enum_memtype = {"memtype", TTM_MEMTYPE_COUNT, ttm__memtype_name};
const ttm_schema_enum ttm_enum_space = {"space", TTM_SPACE_COUNT, space_label};

/* ---- registry.h ------------------------------------------------------------------------------ */

static const ttm_field memstat_rows[] = {
    {TTM_ROW(ttm_memstat, live_bytes, TTM_FT_U64), .unit = "bytes", .help = "bytes live now"},
    {TTM_ROW(ttm_memstat, live_count, TTM_FT_U64), .unit = "buffers",
     .help = "live owning buffers (views not counted)"},
    {TTM_ROW(ttm_memstat, peak_bytes, TTM_FT_U64), .unit = "bytes",
     .help = "the most bytes live at once"},
    {TTM_ROW(ttm_memstat, peak_ts, TTM_FT_U64), .unit = "ns",
     .help = "ts of the event that set the peak"},
    {TTM_ROW(ttm_memstat, allocs, TTM_FT_U64), .unit = "buffers",
     .help = "owning allocations accepted (alloc_ok, overlap)"},
    {TTM_ROW(ttm_memstat, frees, TTM_FT_U64), .unit = "buffers",
     .help = "owning releases (free_ok at zero refs, missed_free, leaks)"},
};
const ttm_record ttm_rec_memstat =
    TTM_RECORD(ttm_memstat, "memstat", "bytes and buffers of one memtype", memstat_rows);

static const ttm_field totals_rows[] = {
    {TTM_ROW(ttm_totals, events, TTM_FT_U64), .unit = "events",
     .help = "every event applied, control events included"},
    {TTM_ROW(ttm_totals, allocs, TTM_FT_U64), .unit = "events", .help = "ALLOC events"},
    {TTM_ROW(ttm_totals, frees, TTM_FT_U64), .unit = "events", .help = "FREE events"},
    {TTM_ROW(ttm_totals, marks, TTM_FT_U64), .unit = "events", .help = "MARK events"},
    {TTM_ROW_ARR(ttm_totals, class_count, TTM_FT_U64), .index = &ttm_enum_class,
     .unit = "events", .help = "events given each class"},
    {TTM_ROW_ARR(ttm_totals, class_bytes, TTM_FT_U64), .index = &ttm_enum_class,
     .unit = "bytes", .help = "bytes the events of each class named"},
    {TTM_ROW(ttm_totals, live_records, TTM_FT_U64), .unit = "records",
     .help = "live records, owning and views"},
    {TTM_ROW(ttm_totals, reuse_allocs, TTM_FT_U64), .unit = "events",
     .help = "allocations at a key allocated before"},
    {TTM_ROW(ttm_totals, reuse_size_changes, TTM_FT_U64), .unit = "events",
     .help = "... whose size differed from the previous one there"},
    {TTM_ROW(ttm_totals, offenders_dropped, TTM_FT_U64), .unit = "events",
     .help = "anomalies not given an offender entry (table full)"},
    {TTM_ROW(ttm_totals, history_dropped, TTM_FT_U64), .unit = "keys",
     .help = "keys not remembered (history full)"},
    {TTM_ROW(ttm_totals, freed_objs_dropped, TTM_FT_U64), .unit = "objects",
     .help = "freed object ids forgotten (older generations)"},
    {TTM_ROW(ttm_totals, processes_dropped, TTM_FT_U64), .unit = "processes",
     .help = "processes not kept (table full)"},
    {TTM_ROW(ttm_totals, first_ts, TTM_FT_U64), .unit = "ns",
     .help = "ts of the first ALLOC or FREE"},
    {TTM_ROW(ttm_totals, last_ts, TTM_FT_U64), .unit = "ns",
     .help = "ts of the last ALLOC or FREE"},
};
const ttm_record ttm_rec_totals =
    TTM_RECORD(ttm_totals, "totals", "the registry's totals and class counters", totals_rows);

static const ttm_field device_rows[] = {
    {TTM_ROW(ttm_device_stats, device, TTM_FT_U16), .help = "device number"},
    {TTM_ROW(ttm_device_stats, arch, TTM_FT_U32), .values = &ttm_enum_arch,
     .help = "architecture (wormhole_b0, blackhole, grayskull); unknown when none was given"},
    {TTM_ROW_ARR(ttm_device_stats, capacity, TTM_FT_U64), .index = &ttm_enum_space,
     .unit = "bytes", .help = "capacity of each address space; 0 when unknown"},
    {TTM_ROW_ARR(ttm_device_stats, mem, TTM_FT_REC), .key = "memtypes", .rec = &ttm_rec_memstat,
     .index = &ttm_enum_memtype, .flags = TTM_FF_SPARSE, .help = "per memtype"},
    {TTM_ROW_ARR(ttm_device_stats, space_peak, TTM_FT_U64), .index = &ttm_enum_space,
     .unit = "bytes", .help = "peak of each space's total (DRAM+TRACE, L1+L1_SMALL+CB+KERNEL)"},
    {TTM_ROW_ARR(ttm_device_stats, space_peak_ts, TTM_FT_U64), .index = &ttm_enum_space,
     .unit = "ns", .help = "ts of each space's peak"},
    {TTM_ROW_ARR(ttm_device_stats, class_count, TTM_FT_U64), .index = &ttm_enum_class,
     .flags = TTM_FF_SPARSE, .unit = "events", .help = "events of the device given each class"},
    {TTM_ROW_ARR(ttm_device_stats, class_bytes, TTM_FT_U64), .index = &ttm_enum_class,
     .flags = TTM_FF_SPARSE, .unit = "bytes", .help = "bytes the device's events of each class named"},
};
const ttm_record ttm_rec_device =
    TTM_RECORD(ttm_device_stats, "device", "one device: capacities, memtypes, peaks, classes",
               device_rows);

static const ttm_field offender_rows[] = {
    {TTM_ROW(ttm_offender, cls, TTM_FT_U32), .key = "class", .values = &ttm_enum_class,
     .flags = TTM_FF_CHECKED, .help = "the anomaly class"},
    {TTM_ROW(ttm_offender, device, TTM_FT_U16), .help = "device number"},
    {TTM_ROW(ttm_offender, memtype, TTM_FT_U8), .values = &ttm_enum_memtype,
     .help = "last memtype seen (ANY if never known)"},
    {TTM_ROW(ttm_offender, addr, TTM_FT_U64), .flags = TTM_FF_HEX, .help = "device address"},
    {TTM_ROW(ttm_offender, count, TTM_FT_U64), .unit = "events", .help = "events of the class here"},
    {TTM_ROW(ttm_offender, bytes, TTM_FT_U64), .unit = "bytes", .help = "bytes they named"},
    {TTM_ROW(ttm_offender, first_ts, TTM_FT_U64), .unit = "ns", .help = "ts of the first"},
    {TTM_ROW(ttm_offender, last_ts, TTM_FT_U64), .unit = "ns", .help = "ts of the last"},
    {TTM_ROW_COUNTED(ttm_offender, pids, TTM_FT_U32, npids), .help = "distinct pids, first seen first"},
    {TTM_ROW(ttm_offender, npids, TTM_FT_U8), .flags = TTM_FF_NOJSON,
     .help = "how many of pids are set"},
    {TTM_ROW(ttm_offender, more_pids, TTM_FT_BOOL), .help = "more distinct pids than listed"},
};
const ttm_record ttm_rec_offender =
    TTM_RECORD(ttm_offender, "offender", "one (class, device, address) of an anomaly class",
               offender_rows);

static const ttm_field leak_rows[] = {
    {TTM_ROW(ttm_leak, pid, TTM_FT_U32), .help = "the process that exited"},
    {TTM_ROW(ttm_leak, device, TTM_FT_U16), .help = "device number"},
    {TTM_ROW(ttm_leak, memtype, TTM_FT_U8), .values = &ttm_enum_memtype, .help = "memtype"},
    {TTM_ROW(ttm_leak, addr, TTM_FT_U64), .flags = TTM_FF_HEX, .help = "device address"},
    {TTM_ROW(ttm_leak, size, TTM_FT_U64), .unit = "bytes", .help = "size of the buffer"},
    {TTM_ROW(ttm_leak, obj, TTM_FT_U64), .help = "object id (0: none)"},
    {TTM_ROW(ttm_leak, alloc_ts, TTM_FT_U64), .unit = "ns", .help = "ts of its allocation"},
    {TTM_ROW(ttm_leak, exit_ts, TTM_FT_U64), .unit = "ns", .help = "ts of the process exit"},
};
const ttm_record ttm_rec_leak =
    TTM_RECORD(ttm_leak, "leak", "a buffer still live when its process exited", leak_rows);

static const ttm_field proc_mem_rows[] = {
    {TTM_ROW(ttm_proc_mem, device, TTM_FT_U16), .help = "device number"},
    {TTM_ROW_ARR(ttm_proc_mem, mem, TTM_FT_REC), .key = "memtypes", .rec = &ttm_rec_memstat,
     .index = &ttm_enum_memtype, .flags = TTM_FF_SPARSE, .help = "per memtype"},
};
const ttm_record ttm_rec_proc_mem =
    TTM_RECORD(ttm_proc_mem, "proc_mem", "a process's bytes on one device", proc_mem_rows);

static const ttm_field proc_stats_rows[] = {
    {TTM_ROW(ttm_proc_stats, pid, TTM_FT_U32), .help = "process id"},
    {TTM_ROW(ttm_proc_stats, alive, TTM_FT_BOOL), .help = "not yet exited"},
    {TTM_ROW(ttm_proc_stats, first_ts, TTM_FT_U64), .unit = "ns", .help = "ts of its first event"},
    {TTM_ROW(ttm_proc_stats, exit_ts, TTM_FT_U64), .unit = "ns", .help = "ts of its exit; 0 alive"},
    {TTM_ROW(ttm_proc_stats, live_records, TTM_FT_U64), .unit = "records",
     .help = "its live records"},
    {TTM_ROW(ttm_proc_stats, leaked_count, TTM_FT_U64), .unit = "buffers",
     .help = "buffers leaked at its exit"},
    {TTM_ROW(ttm_proc_stats, leaked_bytes, TTM_FT_U64), .unit = "bytes",
     .help = "... and their bytes"},
    {TTM_ROW(ttm_proc_stats, anomalies, TTM_FT_U64), .unit = "events",
     .help = "its events given an anomaly class"},
    {TTM_ROW_DYN(ttm_proc_stats, devices, ndevices, &ttm_rec_proc_mem),
     .help = "bytes per device"},
    {TTM_ROW(ttm_proc_stats, ndevices, TTM_FT_U64), .flags = TTM_FF_NOWIRE | TTM_FF_NOJSON,
     .help = "entries of devices"},
};
const ttm_record ttm_rec_proc_stats =
    TTM_RECORD(ttm_proc_stats, "proc_stats", "the registry's view of a process", proc_stats_rows);

static const ttm_field live_rows[] = {
    {TTM_ROW(ttm_live, pid, TTM_FT_U32), .help = "owning process"},
    {TTM_ROW(ttm_live, device, TTM_FT_U16), .help = "device number"},
    {TTM_ROW(ttm_live, memtype, TTM_FT_U8), .values = &ttm_enum_memtype, .help = "memtype"},
    {TTM_ROW(ttm_live, flags, TTM_FT_U16), .help = "TTM_EVF_* flags of the allocation"},
    {TTM_ROW(ttm_live, refs, TTM_FT_U32), .help = "reference count"},
    {TTM_ROW(ttm_live, addr, TTM_FT_U64), .flags = TTM_FF_HEX, .help = "device address"},
    {TTM_ROW(ttm_live, size, TTM_FT_U64), .unit = "bytes", .help = "size"},
    {TTM_ROW(ttm_live, obj, TTM_FT_U64), .help = "object id (0: none)"},
    {TTM_ROW(ttm_live, ts, TTM_FT_U64), .key = "alloc_ts", .unit = "ns",
     .help = "ts of the allocation"},
};
const ttm_record ttm_rec_live =
    TTM_RECORD(ttm_live, "live", "a live buffer (owning or a view)", live_rows);

/* ---- report.h -------------------------------------------------------------------------------- */

static const ttm_field class_rows[] = {
    {TTM_ROW(ttm_report_class, cls, TTM_FT_U32), .key = "class", .values = &ttm_enum_class,
     .flags = TTM_FF_CHECKED, .help = "the class"},
    {TTM_ROW(ttm_report_class, count, TTM_FT_U64), .unit = "events", .help = "events given it"},
    {TTM_ROW(ttm_report_class, bytes, TTM_FT_U64), .unit = "bytes", .help = "bytes they named"},
    {TTM_ROW(ttm_report_class, distinct_addrs, TTM_FT_U64), .unit = "addresses",
     .help = "entries in its offender table (anomaly classes only)"},
    {TTM_ROW_DYN(ttm_report_class, offenders, noffenders, &ttm_rec_offender),
     .help = "worst offenders, by count"},
    {TTM_ROW(ttm_report_class, noffenders, TTM_FT_U64), .flags = TTM_FF_NOWIRE | TTM_FF_NOJSON,
     .help = "entries of offenders"},
};
const ttm_record ttm_rec_class =
    TTM_RECORD(ttm_report_class, "class", "one class with its worst offenders", class_rows);

static const ttm_field unmatched_rows[] = {
    {TTM_ROW(ttm_report_unmatched, device, TTM_FT_U16), .help = "device number"},
    {TTM_ROW(ttm_report_unmatched, memtype, TTM_FT_U8), .values = &ttm_enum_memtype,
     .help = "memtype (ANY if never known)"},
    {TTM_ROW(ttm_report_unmatched, addr, TTM_FT_U64), .flags = TTM_FF_HEX,
     .help = "device address"},
    {TTM_ROW(ttm_report_unmatched, total, TTM_FT_U64), .key = "unmatched", .unit = "events",
     .help = "freed this many more times than allocated"},
    {TTM_ROW(ttm_report_unmatched, excess, TTM_FT_U64), .key = "excess_free", .unit = "events",
     .help = "excess_free events here"},
    {TTM_ROW(ttm_report_unmatched, unknown, TTM_FT_U64), .key = "unknown_free",
     .unit = "events", .help = "unknown_free events here"},
    {TTM_ROW(ttm_report_unmatched, dbl, TTM_FT_U64), .key = "double_free", .unit = "events",
     .help = "double_free events here"},
    {TTM_ROW_COUNTED(ttm_report_unmatched, pids, TTM_FT_U32, npids),
     .help = "distinct pids, first seen first"},
    {TTM_ROW(ttm_report_unmatched, npids, TTM_FT_U8), .flags = TTM_FF_NOJSON,
     .help = "how many of pids are set"},
    {TTM_ROW(ttm_report_unmatched, more_pids, TTM_FT_BOOL),
     .help = "more distinct pids than listed"},
};
const ttm_record ttm_rec_unmatched =
    TTM_RECORD(ttm_report_unmatched, "unmatched",
               "frees matched to no allocation at one (device, address)", unmatched_rows);

static const ttm_field side_rows[] = {
    {TTM_ROW(ttm_report_side, logs, TTM_FT_U64), .unit = "logs", .help = "side logs accepted"},
    {TTM_ROW(ttm_report_side, refused, TTM_FT_U64), .unit = "logs",
     .help = "side logs refused at the handshake (seals, size, header)"},
    {TTM_ROW(ttm_report_side, broken, TTM_FT_U64), .unit = "logs",
     .help = "side logs read no more: framing lost, committed moved back"},
    {TTM_ROW(ttm_report_side, records, TTM_FT_U64), .unit = "records",
     .help = "records read, of every type"},
    {TTM_ROW(ttm_report_side, bytes, TTM_FT_U64), .unit = "bytes",
     .help = "bytes of those records"},
    {TTM_ROW(ttm_report_side, modules, TTM_FT_U64), .unit = "records",
     .help = "MODULE records taken"},
    {TTM_ROW(ttm_report_side, stacks, TTM_FT_U64), .unit = "records",
     .help = "STACK records taken"},
    {TTM_ROW(ttm_report_side, strings, TTM_FT_U64), .unit = "records",
     .help = "STRING records taken"},
    {TTM_ROW(ttm_report_side, pyframes, TTM_FT_U64), .unit = "records",
     .help = "PYFRAME records taken"},
    {TTM_ROW(ttm_report_side, unmaps, TTM_FT_U64), .unit = "records",
     .help = "UNMAP records taken"},
    {TTM_ROW(ttm_report_side, skipped, TTM_FT_U64), .unit = "records",
     .help = "records of an unknown type, skipped"},
    {TTM_ROW(ttm_report_side, bad, TTM_FT_U64), .unit = "records",
     .help = "records of a known type that break the format, skipped"},
    {TTM_ROW(ttm_report_side, bound, TTM_FT_U64), .unit = "ids",
     .help = "ids beyond a per-session bound or refused by the full tables: 0"},
    {TTM_ROW(ttm_report_side, refs_unknown, TTM_FT_U64), .unit = "ids",
     .help = "references in the log to ids not shipped before: 0"},
    {TTM_ROW(ttm_report_side, stack_unknown, TTM_FT_U64), .unit = "events",
     .help = "events whose stack id was never shipped: stack 0"},
    {TTM_ROW(ttm_report_side, scope_unknown, TTM_FT_U64), .unit = "events",
     .help = "events whose scope id was never shipped: scope 0"},
};
const ttm_record ttm_rec_side =
    TTM_RECORD(ttm_report_side, "side", "what side logs did (call stacks, modules, scopes)",
               side_rows);

static const ttm_field proc_rows[] = {
    {TTM_ROW(ttm_report_proc, stats, TTM_FT_REC), .rec = &ttm_rec_proc_stats,
     .flags = TTM_FF_FLAT, .help = "the registry's statistics"},
    {TTM_ROW(ttm_report_proc, registered, TTM_FT_BOOL),
     .help = "the registry knows it (false: connected, no event yet)"},
    {TTM_ROW(ttm_report_proc, uid, TTM_FT_U32), .help = "user id"},
    {TTM_ROW(ttm_report_proc, name, TTM_FT_STR), .help = "/proc/PID/comm"},
    {TTM_ROW(ttm_report_proc, connected, TTM_FT_BOOL), .help = "a session holds its ring now"},
    {TTM_ROW(ttm_report_proc, reattached, TTM_FT_BOOL),
     .help = "its ring was handed over from a previous daemon"},
    {TTM_ROW(ttm_report_proc, events, TTM_FT_U64), .unit = "events",
     .help = "events taken from its rings"},
    {TTM_ROW(ttm_report_proc, waited, TTM_FT_U64), .unit = "waits",
     .help = "producer waits for room"},
    {TTM_ROW(ttm_report_proc, dropped, TTM_FT_U64), .unit = "events",
     .help = "events dropped while no daemon existed"},
    {TTM_ROW(ttm_report_proc, prior_events, TTM_FT_U64), .unit = "events",
     .help = "events a previous daemon took from its ring"},
    {TTM_ROW(ttm_report_proc, sessions, TTM_FT_U64), .unit = "sessions",
     .help = "sessions opened"},
    {TTM_ROW(ttm_report_proc, side, TTM_FT_REC), .rec = &ttm_rec_side,
     .help = "its sessions' side logs"},
};
const ttm_record ttm_rec_proc =
    TTM_RECORD(ttm_report_proc, "process", "a process: statistics and transport counters",
               proc_rows);

static const ttm_field daemon_rows[] = {
    {TTM_ROW(ttm_report_daemon, version, TTM_FT_STR), .help = "the daemon's version"},
    {TTM_ROW(ttm_report_daemon, pid, TTM_FT_U32), .help = "the daemon's process id"},
    {TTM_ROW(ttm_report_daemon, max_clients, TTM_FT_U32), .unit = "sessions",
     .help = "the client limit"},
    {TTM_ROW(ttm_report_daemon, max_live_per_client, TTM_FT_U32), .unit = "records",
     .help = "live records per client; 0 = unlimited"},
    {TTM_ROW(ttm_report_daemon, uptime_ns, TTM_FT_U64), .unit = "ns", .help = "time since start",
     .prom = "ttmem_daemon_uptime_seconds", .prom_kind = "gauge",
     .prom_help = "Seconds since ttmemd started."},
    {TTM_ROW(ttm_report_daemon, clients_connected, TTM_FT_U32), .unit = "sessions",
     .help = "sessions holding a ring now", .prom = "ttmem_clients_connected",
     .prom_kind = "gauge", .prom_help = "Client sessions holding an event ring now."},
    {TTM_ROW(ttm_report_daemon, now_ns, TTM_FT_U64), .unit = "ns",
     .help = "the daemon's CLOCK_MONOTONIC when the snapshot was taken"},
    {TTM_ROW(ttm_report_daemon, clients_total, TTM_FT_U64), .unit = "sessions",
     .help = "sessions accepted since start", .prom = "ttmem_clients_total",
     .prom_kind = "counter", .prom_help = "Client sessions accepted since ttmemd started."},
    {TTM_ROW(ttm_report_daemon, clients_rejected, TTM_FT_U64), .unit = "sessions",
     .help = "HELLOs refused (malformed, version, descriptors, ring)",
     .prom = "ttmem_clients_rejected_total", .prom_kind = "counter",
     .prom_labels = "reason=\"handshake\"",
     .prom_help = "Client handshakes refused (malformed, wrong version, bad ring) or over the "
                  "limit."},
    {TTM_ROW(ttm_report_daemon, clients_refused, TTM_FT_U64), .unit = "connections",
     .help = "connections refused at the client limit", .prom = "ttmem_clients_rejected_total",
     .prom_kind = "counter", .prom_labels = "reason=\"limit\""},
    {TTM_ROW(ttm_report_daemon, reattached, TTM_FT_U64), .unit = "sessions",
     .help = "sessions that took over a ring from a previous daemon"},
    {TTM_ROW(ttm_report_daemon, events, TTM_FT_U64), .unit = "events",
     .help = "events taken from rings", .prom = "ttmem_ring_events_total", .prom_kind = "counter",
     .prom_help = "Events taken from client rings."},
    {TTM_ROW(ttm_report_daemon, events_rejected, TTM_FT_U64), .unit = "events",
     .help = "client-sent control kinds (process start/exit) ignored"},
    {TTM_ROW(ttm_report_daemon, prior_events, TTM_FT_U64), .unit = "events",
     .help = "events a previous daemon took from reattached rings"},
    {TTM_ROW(ttm_report_daemon, waited, TTM_FT_U64), .unit = "waits",
     .help = "producer waits for room, summed over rings", .prom = "ttmem_events_waited_total",
     .prom_kind = "counter",
     .prom_help = "Events whose producer waited for room in a full ring (back-pressure)."},
    {TTM_ROW(ttm_report_daemon, dropped, TTM_FT_U64), .unit = "events",
     .help = "events dropped while no daemon existed, as reported",
     .prom = "ttmem_events_dropped_total", .prom_kind = "counter",
     .prom_help = "Events dropped by clients while no daemon existed, as reported on reconnect."},
    {TTM_ROW(ttm_report_daemon, ring_errors, TTM_FT_U64), .unit = "rings",
     .help = "rings that became unreadable (truncated, corrupt)"},
    {TTM_ROW(ttm_report_daemon, queries, TTM_FT_U64), .unit = "queries",
     .help = "queries served"},
    {TTM_ROW(ttm_report_daemon, procs_dropped, TTM_FT_U64), .unit = "processes",
     .help = "process entries not kept (table full)"},
    {TTM_ROW(ttm_report_daemon, side, TTM_FT_REC), .rec = &ttm_rec_side,
     .help = "every session's side log"},
};
const ttm_record ttm_rec_daemon =
    TTM_RECORD(ttm_report_daemon, "daemon", "the daemon: identity, limits, clients, transport",
               daemon_rows);

static const ttm_field legacy_rows[] = {
    {TTM_ROW(ttm_report_legacy, path, TTM_FT_STR),
     .help = "the legacy socket; empty when the daemon does not listen on one"},
    {TTM_ROW(ttm_report_legacy, forced_size, TTM_FT_U32), .unit = "bytes",
     .help = "--poc-size; 0 = detected per connection"},
    {TTM_ROW(ttm_report_legacy, connected, TTM_FT_U32), .unit = "connections",
     .help = "connections open"},
    {TTM_ROW(ttm_report_legacy, connections, TTM_FT_U64), .unit = "connections",
     .help = "accepted since start"},
    {TTM_ROW(ttm_report_legacy, refused, TTM_FT_U64), .unit = "connections",
     .help = "refused (limit, credentials, memory)"},
    {TTM_ROW(ttm_report_legacy, closed_bad, TTM_FT_U64), .unit = "connections",
     .help = "closed after 10 bad messages in a row"},
    {TTM_ROW(ttm_report_legacy, bad, TTM_FT_U64), .unit = "messages",
     .help = "bad messages (implausible headers, garbage)"},
    {TTM_ROW(ttm_report_legacy, resyncs, TTM_FT_U64), .unit = "resyncs",
     .help = "resynchronisations after bad bytes"},
    {TTM_ROW(ttm_report_legacy, skipped_bytes, TTM_FT_U64), .unit = "bytes",
     .help = "bytes skipped to resynchronise"},
    {TTM_ROW(ttm_report_legacy, truncated, TTM_FT_U64), .unit = "streams",
     .help = "streams that ended inside a message"},
    {TTM_ROW(ttm_report_legacy, rejected, TTM_FT_U64), .unit = "messages",
     .help = "messages ignored: device -1, a DUMP within a second"},
    {TTM_ROW_COUNTED(ttm_report_legacy, messages, TTM_FT_U64, ntypes),
     .index = &enum_legacy_type, .unit = "messages", .help = "messages received, by type"},
    {TTM_ROW(ttm_report_legacy, ntypes, TTM_FT_U32), .flags = TTM_FF_NOJSON,
     .help = "entries of messages valid"},
};
const ttm_record ttm_rec_legacy =
    TTM_RECORD(ttm_report_legacy, "legacy", "the legacy allocation-server socket", legacy_rows);

static const ttm_field service_rows[] = {
    {TTM_ROW(ttm_report_service, query_conns, TTM_FT_U32), .unit = "connections",
     .help = "query connections open now", .prom = "ttmem_query_connections",
     .prom_kind = "gauge", .prom_labels = "kind=\"open\"",
     .prom_help = "Connections to ttmemd's query socket open now, and their limit."},
    {TTM_ROW(ttm_report_service, query_max_conns, TTM_FT_U32), .unit = "connections",
     .help = "the limit; more are answered \"too many\" and closed",
     .prom = "ttmem_query_connections", .prom_kind = "gauge", .prom_labels = "kind=\"limit\""},
    {TTM_ROW(ttm_report_service, query_buffered, TTM_FT_U64), .unit = "bytes",
     .help = "bytes of replies waiting to be read now", .prom = "ttmem_query_buffered_bytes",
     .prom_kind = "gauge", .prom_labels = "kind=\"now\"",
     .prom_help = "Bytes of query replies waiting to be read: now, the peak, and the budget of "
                  "large replies."},
    {TTM_ROW(ttm_report_service, query_buffered_peak, TTM_FT_U64), .unit = "bytes",
     .help = "the most bytes of replies waiting at once", .prom = "ttmem_query_buffered_bytes",
     .prom_kind = "gauge", .prom_labels = "kind=\"peak\""},
    {TTM_ROW(ttm_report_service, query_out_max, TTM_FT_U64), .unit = "bytes",
     .help = "bytes of large replies buffered for all connections",
     .prom = "ttmem_query_buffered_bytes", .prom_kind = "gauge", .prom_labels = "kind=\"budget\""},
    {TTM_ROW(ttm_report_service, query_refused, TTM_FT_U64), .unit = "connections",
     .help = "connections refused at query_max_conns", .prom = "ttmem_query_limited_total",
     .prom_kind = "counter", .prom_labels = "bound=\"refused\"",
     .prom_help = "Times a bound of the query socket was reached, by bound: refused (connection "
                  "limit), waited (reply budget), cut (reply not read in time), idle (idle "
                  "timeout), evicted (an unread reply's connection closed for a newcomer at the "
                  "limit)."},
    {TTM_ROW(ttm_report_service, query_waited, TTM_FT_U64), .unit = "queries",
     .help = "queries that waited for room under query_out_max",
     .prom = "ttmem_query_limited_total", .prom_kind = "counter",
     .prom_labels = "bound=\"waited\""},
    {TTM_ROW(ttm_report_service, query_cut, TTM_FT_U64), .unit = "connections",
     .help = "connections closed: a reply not read within the deadline",
     .prom = "ttmem_query_limited_total", .prom_kind = "counter", .prom_labels = "bound=\"cut\""},
    {TTM_ROW(ttm_report_service, query_idle, TTM_FT_U64), .unit = "connections",
     .help = "connections closed after the idle timeout", .prom = "ttmem_query_limited_total",
     .prom_kind = "counter", .prom_labels = "bound=\"idle\""},
    {TTM_ROW(ttm_report_service, query_evicted, TTM_FT_U64), .unit = "connections",
     .help = "connections closed at the limit for a newcomer (longest-waiting reply)",
     .prom = "ttmem_query_limited_total", .prom_kind = "counter",
     .prom_labels = "bound=\"evicted\""},
};
const ttm_record ttm_rec_service =
    TTM_RECORD(ttm_report_service, "service", "the query socket's bounds and what they cut",
               service_rows);

#define SEC(name) .section = TTM_SNAP_SEC_##name

static const ttm_field report_rows[] = {
    {TTM_ROW(ttm_report, schema_version, TTM_FT_U32), .flags = TTM_FF_NOWIRE | TTM_FF_NOJSON,
     .help = "TTM_REPORT_SCHEMA_VERSION"},
    {TTM_ROW(ttm_report, sections, TTM_FT_U32), .flags = TTM_FF_NOWIRE | TTM_FF_NOJSON,
     .help = "the snapshot sections present"},
    {TTM_ROW(ttm_report, daemon, TTM_FT_REC), .rec = &ttm_rec_daemon, SEC(DAEMON),
     .help = "the daemon (snapshots only)"},
    {TTM_ROW(ttm_report, totals, TTM_FT_REC), .rec = &ttm_rec_totals, SEC(TOTALS),
     .help = "the registry's totals"},
    {TTM_ROW_DYN(ttm_report, devices, ndevices, &ttm_rec_device), SEC(DEVICES),
     .help = "devices seen, ascending"},
    {TTM_ROW(ttm_report, ndevices, TTM_FT_U64), .flags = TTM_FF_NOWIRE | TTM_FF_NOJSON,
     .help = "entries of devices"},
    {TTM_ROW_DYN(ttm_report, procs, nprocs, &ttm_rec_proc), .key = "processes", SEC(PROCS),
     .help = "processes, ascending by pid"},
    {TTM_ROW(ttm_report, nprocs, TTM_FT_U64), .flags = TTM_FF_NOWIRE | TTM_FF_NOJSON,
     .help = "entries of procs"},
    {TTM_ROW(ttm_report, live_total, TTM_FT_U64), SEC(LIVE), .unit = "records",
     .help = "live records in the registry (fewer may be listed)"},
    {TTM_ROW_DYN(ttm_report, live, nlive, &ttm_rec_live), SEC(LIVE),
     .help = "the live buffers listed"},
    {TTM_ROW(ttm_report, nlive, TTM_FT_U64), .flags = TTM_FF_NOWIRE | TTM_FF_NOJSON,
     .help = "entries of live"},
    {TTM_ROW(ttm_report, excess_free_pct, TTM_FT_F64), SEC(FINDINGS), .unit = "%",
     .help = "(frees - allocs) / allocs * 100; 0 when no allocs"},
    {TTM_ROW(ttm_report, unmatched_frees, TTM_FT_U64), SEC(FINDINGS), .unit = "events",
     .help = "excess + unknown + double frees"},
    {TTM_ROW(ttm_report, unmatched_addrs, TTM_FT_U64), SEC(FINDINGS), .unit = "addresses",
     .help = "distinct (device, addr) they fell on"},
    {TTM_ROW_DYN(ttm_report, unmatched, nunmatched, &ttm_rec_unmatched), SEC(FINDINGS),
     .help = "the worst addresses"},
    {TTM_ROW(ttm_report, nunmatched, TTM_FT_U64), .flags = TTM_FF_NOWIRE | TTM_FF_NOJSON,
     .help = "entries of unmatched"},
    {TTM_ROW_ARR(ttm_report, classes, TTM_FT_REC), .rec = &ttm_rec_class,
     .index = &ttm_enum_class, SEC(FINDINGS), .help = "every class, by name"},
    {TTM_ROW(ttm_report, leaked_count, TTM_FT_U64), SEC(FINDINGS), .unit = "buffers",
     .help = "buffers leaked at process exits"},
    {TTM_ROW(ttm_report, leaked_bytes, TTM_FT_U64), SEC(FINDINGS), .unit = "bytes",
     .help = "... and their bytes"},
    {TTM_ROW_DYN(ttm_report, leaks, nleaks, &ttm_rec_leak), SEC(FINDINGS),
     .help = "leaks listed, oldest allocation first"},
    {TTM_ROW(ttm_report, nleaks, TTM_FT_U64), .flags = TTM_FF_NOWIRE | TTM_FF_NOJSON,
     .help = "entries of leaks"},
    {TTM_ROW(ttm_report, legacy, TTM_FT_REC), .rec = &ttm_rec_legacy, SEC(LEGACY),
     .help = "the legacy socket (snapshots only)"},
    {TTM_ROW(ttm_report, service, TTM_FT_REC), .rec = &ttm_rec_service, SEC(SERVICE),
     .help = "the query socket (snapshots only)"},
};
const ttm_record ttm_rec_report =
    TTM_RECORD(ttm_report, "report", "a report, or a snapshot's sections of it", report_rows);

const ttm_record *const ttm_report_records[] = {
    &ttm_rec_totals, &ttm_rec_memstat,   &ttm_rec_device,   &ttm_rec_proc_mem,
    &ttm_rec_proc_stats, &ttm_rec_proc,  &ttm_rec_offender, &ttm_rec_class,
    &ttm_rec_unmatched, &ttm_rec_leak,   &ttm_rec_live,     &ttm_rec_daemon,
    &ttm_rec_legacy, &ttm_rec_service,   &ttm_rec_side,     &ttm_rec_report,
};
const size_t ttm_report_nrecords = sizeof ttm_report_records / sizeof ttm_report_records[0];
