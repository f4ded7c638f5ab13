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

static const char *frame_kind_label(unsigned k)
{
    static const char *const names[] = {[TTM_FRAME_NATIVE] = "native",
                                        [TTM_FRAME_PYTHON] = "python",
                                        [TTM_FRAME_TEXT] = "text"};
    return k < sizeof names / sizeof names[0] && names[k] ? names[k] : "?";
}

static const char *breakdown_kind_label(unsigned k)
{
    return k == TTM_BREAKDOWN_PHASE ? "phase" : k == TTM_BREAKDOWN_SCOPE ? "scope" : "?";
}

static const char *cause_label(unsigned c)
{
    return ttm_cause_name(c);
}

const ttm_schema_enum ttm_enum_cause = {"cause", TTM_CAUSE__COUNT, cause_label};
const ttm_schema_enum ttm_enum_frame_kind = {"frame kind", TTM_FRAME_TEXT + 1, frame_kind_label};
const ttm_schema_enum ttm_enum_breakdown_kind = {"breakdown kind", TTM_BREAKDOWN_SCOPE + 1,
                                                 breakdown_kind_label};
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
    {TTM_ROW(ttm_totals, phases_dropped, TTM_FT_U64), .flags = TTM_FF_PACKED, .unit = "marks",
     .help = "marks not kept in the phase list (full; carried by the stacks section)"},
    {TTM_ROW(ttm_totals, leak_groups_folded, TTM_FT_U64), .flags = TTM_FF_PACKED,
     .unit = "buffers",
     .help = "leaks counted in the group of stack 0 (groups full; carried by the stacks section)"},
    {TTM_ROW(ttm_totals, breakdown_folded, TTM_FT_U64), .flags = TTM_FF_PACKED,
     .unit = "events",
     .help = "events counted in a breakdown row of name 0 (rows full; carried by the stacks "
             "section)"},
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

static const ttm_field site_rows[] = {
    {TTM_ROW(ttm_site, stack, TTM_FT_U32), .help = "stack id (stacks[]); 0 = none"},
    {TTM_ROW(ttm_site, scope, TTM_FT_U32), .help = "scope name, string id (strings[]); 0 = none"},
    {TTM_ROW(ttm_site, phase, TTM_FT_U32), .help = "phase name, string id (strings[]); 0 = none"},
    {TTM_ROW(ttm_site, release_stack, TTM_FT_U32),
     .help = "double_free: the stack of the free that released the object first; 0 = unknown"},
    {TTM_ROW(ttm_site, count, TTM_FT_U64), .unit = "events", .help = "events from this site"},
    {TTM_ROW(ttm_site, bytes, TTM_FT_U64), .unit = "bytes", .help = "bytes they named"},
};
const ttm_record ttm_rec_site =
    TTM_RECORD(ttm_site, "site", "a call site: where events came from, and how many", site_rows);

static const ttm_field offender_rows[] = {
    {TTM_ROW(ttm_offender, cls, TTM_FT_U32), .key = "class", .values = &ttm_enum_class,
     .flags = TTM_FF_CHECKED, .help = "the anomaly class"},
    {TTM_ROW(ttm_offender, device, TTM_FT_U16), .help = "device number"},
    {TTM_ROW(ttm_offender, memtype, TTM_FT_U8), .values = &ttm_enum_memtype,
     .help = "last memtype seen (ANY if never known)"},
    {TTM_ROW(ttm_offender, addr, TTM_FT_U64), .flags = TTM_FF_HEX, .help = "device address"},
    {TTM_ROW(ttm_offender, addr_dec, TTM_FT_BOOL), .flags = TTM_FF_PACKED,
     .help = "an event of it wrote the address in decimal (the text shows it beside the hex; "
             "the causes section carries it)"},
    {TTM_ROW(ttm_offender, count, TTM_FT_U64), .unit = "events", .help = "events of the class here"},
    {TTM_ROW(ttm_offender, bytes, TTM_FT_U64), .unit = "bytes", .help = "bytes they named"},
    {TTM_ROW(ttm_offender, first_ts, TTM_FT_U64), .unit = "ns", .help = "ts of the first"},
    {TTM_ROW(ttm_offender, last_ts, TTM_FT_U64), .unit = "ns", .help = "ts of the last"},
    {TTM_ROW_COUNTED(ttm_offender, pids, TTM_FT_U32, npids), .help = "distinct pids, first seen first"},
    {TTM_ROW(ttm_offender, npids, TTM_FT_U8), .flags = TTM_FF_NOJSON,
     .help = "how many of pids are set"},
    {TTM_ROW(ttm_offender, more_pids, TTM_FT_BOOL), .help = "more distinct pids than listed"},
    {TTM_ROW_COUNTED_FL(ttm_offender, sites, TTM_FT_REC, nsites, TTM_FF_PACKED),
     .rec = &ttm_rec_site,
     .help = "its call sites, by count (the top ones; the stacks section carries them)"},
    {TTM_ROW(ttm_offender, nsites, TTM_FT_U8), .flags = TTM_FF_NOJSON | TTM_FF_PACKED,
     .help = "how many of sites are set"},
    {TTM_ROW(ttm_offender, sites_other, TTM_FT_U64), .flags = TTM_FF_PACKED, .unit = "events",
     .help = "its events in no listed site (without a context included)"},
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
    {TTM_ROW(ttm_leak, stack, TTM_FT_U32), .flags = TTM_FF_PACKED,
     .help = "the allocation's stack id; 0 = none (the stacks section carries it)"},
    {TTM_ROW(ttm_leak, scope, TTM_FT_U32), .flags = TTM_FF_PACKED,
     .help = "the allocation's scope, string id; 0 = none"},
    {TTM_ROW(ttm_leak, phase, TTM_FT_U32), .flags = TTM_FF_PACKED,
     .help = "the allocation's phase, string id; 0 = none"},
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
    {TTM_ROW(ttm_live, stack, TTM_FT_U32), .flags = TTM_FF_PACKED,
     .help = "the allocation's stack id; 0 = none (the stacks section carries it)"},
    {TTM_ROW(ttm_live, scope, TTM_FT_U32), .flags = TTM_FF_PACKED,
     .help = "the allocation's scope, string id; 0 = none"},
    {TTM_ROW(ttm_live, phase, TTM_FT_U32), .flags = TTM_FF_PACKED,
     .help = "the allocation's phase, string id; 0 = none"},
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
    {TTM_ROW(ttm_report_unmatched, addr_dec, TTM_FT_BOOL), .flags = TTM_FF_PACKED,
     .help = "the input wrote the address in decimal (the text shows it beside the hex; the "
             "causes section carries it)"},
};
const ttm_record ttm_rec_unmatched =
    TTM_RECORD(ttm_report_unmatched, "unmatched",
               "frees matched to no allocation at one (device, address)", unmatched_rows);

/* ---- causes.h: the causes of the unmatched frees (the CAUSES section) ---------------------- */

static const ttm_field cause_instance_rows[] = {
    {TTM_ROW(ttm_cause_instance, device, TTM_FT_U16), .help = "device number"},
    {TTM_ROW(ttm_cause_instance, memtype, TTM_FT_U8), .values = &ttm_enum_memtype,
     .help = "memtype of the buffer last allocated there (ANY if never known)"},
    {TTM_ROW(ttm_cause_instance, addr, TTM_FT_U64), .flags = TTM_FF_HEX,
     .help = "device address"},
    {TTM_ROW(ttm_cause_instance, addr_dec, TTM_FT_BOOL),
     .help = "the input wrote the address in decimal"},
    {TTM_ROW(ttm_cause_instance, frees, TTM_FT_U64), .unit = "events",
     .help = "unmatched frees of the cause here"},
    {TTM_ROW(ttm_cause_instance, allocs, TTM_FT_U64), .unit = "events",
     .help = "allocations at this (device, address): every one since its first stray, and "
             "those of the 8,192 events before it"},
    {TTM_ROW(ttm_cause_instance, first_ts, TTM_FT_U64), .unit = "ns", .help = "ts of the first"},
    {TTM_ROW(ttm_cause_instance, last_ts, TTM_FT_U64), .unit = "ns", .help = "ts of the last"},
    {TTM_ROW(ttm_cause_instance, period_ns, TTM_FT_U64), .unit = "ns",
     .help = "excess_storm: the mean spacing of its extra frees; 0 otherwise"},
    {TTM_ROW(ttm_cause_instance, period_events, TTM_FT_U64), .unit = "events",
     .help = "excess_storm: the same spacing in events applied"},
    {TTM_ROW(ttm_cause_instance, regular, TTM_FT_BOOL),
     .help = "excess_storm: the spacing is regular (coefficient of variation below 0.5)"},
    {TTM_ROW_COUNTED(ttm_cause_instance, pids, TTM_FT_U32, npids),
     .help = "distinct pids, first seen first"},
    {TTM_ROW(ttm_cause_instance, npids, TTM_FT_U8), .flags = TTM_FF_NOJSON,
     .help = "how many of pids are set"},
    {TTM_ROW(ttm_cause_instance, more_pids, TTM_FT_BOOL),
     .help = "more distinct pids than listed"},
};
const ttm_record ttm_rec_cause_instance =
    TTM_RECORD(ttm_cause_instance, "cause_instance",
               "one address of a cause: a storm's address, the worst addresses of the others",
               cause_instance_rows);

static const ttm_field cause_stats_rows[] = {
    {TTM_ROW(ttm_cause_stats, cause, TTM_FT_U32), .values = &ttm_enum_cause,
     .flags = TTM_FF_CHECKED, .help = "the cause (docs/CLASSIFICATION.md)"},
    {TTM_ROW(ttm_cause_stats, frees, TTM_FT_U64), .unit = "events",
     .help = "unmatched frees attributed to it (provisional ones included)"},
    {TTM_ROW(ttm_cause_stats, allocs, TTM_FT_U64), .unit = "events",
     .help = "duplicate_alloc events attributed to it"},
    {TTM_ROW(ttm_cause_stats, pending, TTM_FT_U64), .unit = "events",
     .help = "of frees, still provisional (later events may move them)"},
    {TTM_ROW(ttm_cause_stats, ambiguous, TTM_FT_U64), .unit = "events",
     .help = "of frees, those the stream cannot tell from another cause"},
    {TTM_ROW(ttm_cause_stats, addrs, TTM_FT_U64), .key = "addresses", .unit = "addresses",
     .help = "distinct (device, address) it fell on"},
    {TTM_ROW(ttm_cause_stats, first_ts, TTM_FT_U64), .unit = "ns", .help = "ts of the first"},
    {TTM_ROW(ttm_cause_stats, last_ts, TTM_FT_U64), .unit = "ns", .help = "ts of the last"},
    {TTM_ROW(ttm_cause_stats, groups, TTM_FT_U64),
     .help = "mesh_multiplicity: bursts (MeshBuffers); double_release: releases freed again; "
             "excess_storm: storm addresses; 0 for the others"},
    {TTM_ROW(ttm_cause_stats, mesh_devices, TTM_FT_U16), .unit = "devices",
     .help = "mesh_multiplicity: the most common number of devices of a burst"},
    {TTM_ROW(ttm_cause_stats, frees_per_group, TTM_FT_U16), .unit = "events",
     .help = "mesh_multiplicity: the most common number of frees of a burst"},
    {TTM_ROW_COUNTED(ttm_cause_stats, pids, TTM_FT_U32, npids),
     .help = "distinct pids, first seen first"},
    {TTM_ROW(ttm_cause_stats, npids, TTM_FT_U8), .flags = TTM_FF_NOJSON,
     .help = "how many of pids are set"},
    {TTM_ROW(ttm_cause_stats, more_pids, TTM_FT_BOOL), .help = "more distinct pids than listed"},
    {TTM_ROW_COUNTED(ttm_cause_stats, instances, TTM_FT_REC, ninstances),
     .rec = &ttm_rec_cause_instance, .help = "its worst addresses, by frees descending"},
    {TTM_ROW(ttm_cause_stats, ninstances, TTM_FT_U64), .flags = TTM_FF_NOJSON,
     .help = "how many of instances are set"},
};
const ttm_record ttm_rec_cause_stats =
    TTM_RECORD(ttm_cause_stats, "cause_stats", "one cause's totals and evidence",
               cause_stats_rows);

static const ttm_field report_cause_rows[] = {
    {TTM_ROW(ttm_report_cause, stats, TTM_FT_REC), .rec = &ttm_rec_cause_stats,
     .flags = TTM_FF_FLAT, .help = "the attributor's figures"},
    {TTM_ROW(ttm_report_cause, share_pct, TTM_FT_F64), .unit = "%",
     .help = "frees * 100 / the unmatched frees of every cause"},
    {TTM_ROW(ttm_report_cause, evidence, TTM_FT_VSTR),
     .help = "the evidence in words, as the text report prints it after its count"},
};
const ttm_record ttm_rec_report_cause =
    TTM_RECORD(ttm_report_cause, "cause",
               "one cause of the unmatched frees of address-only events, with its evidence",
               report_cause_rows);

static const ttm_field causes_info_rows[] = {
    {TTM_ROW(ttm_causes_info, enabled, TTM_FT_BOOL),
     .help = "attribution runs (false: the registry was made with no_causes)"},
    {TTM_ROW(ttm_causes_info, attributed, TTM_FT_U64), .unit = "events",
     .help = "unmatched frees and duplicate allocs attributed, all causes"},
    {TTM_ROW(ttm_causes_info, pending, TTM_FT_U64), .unit = "events",
     .help = "provisional now"},
    {TTM_ROW(ttm_causes_info, window_events, TTM_FT_U64), .unit = "events",
     .help = "the mesh burst window now"},
    {TTM_ROW(ttm_causes_info, devices, TTM_FT_U16), .unit = "devices",
     .help = "the device set the window is derived from"},
    {TTM_ROW(ttm_causes_info, keys, TTM_FT_U64), .unit = "addresses",
     .help = "per-address attribution state held"},
    {TTM_ROW(ttm_causes_info, keys_max, TTM_FT_U64), .unit = "addresses", .help = "its bound"},
    {TTM_ROW(ttm_causes_info, dropped, TTM_FT_U64), .unit = "addresses",
     .help = "addresses whose state was given up at the bound"},
};
const ttm_record ttm_rec_causes_info =
    TTM_RECORD(ttm_causes_info, "causes_info", "what the cause attributor holds and what its "
               "bounds cut", causes_info_rows);

static const ttm_field report_dec_addr_rows[] = {
    {TTM_ROW(ttm_report_dec_addr, device, TTM_FT_U16), .help = "device number"},
    {TTM_ROW(ttm_report_dec_addr, addr, TTM_FT_U64), .flags = TTM_FF_HEX,
     .help = "device address"},
};
static const ttm_field report_proc_info_rows[] = {
    {TTM_ROW(ttm_report_proc_info, index, TTM_FT_U32), .help = "its place in the processes"},
    {TTM_ROW(ttm_report_proc_info, cmdline, TTM_FT_VSTR), .help = "its command line"},
};
const ttm_record ttm_rec_report_proc_info =
    TTM_RECORD(ttm_report_proc_info, "proc_info",
               "the command line of one process, as the wire carries it", report_proc_info_rows);

static const ttm_field report_hist_ts_rows[] = {
    {TTM_ROW(ttm_report_hist_ts, ts, TTM_FT_U64), .unit = "ns",
     .help = "when the sample was taken (CLOCK_MONOTONIC, as daemon.now_ns)"},
};
const ttm_record ttm_rec_report_hist_ts =
    TTM_RECORD(ttm_report_hist_ts, "hist_ts", "the time of one sample of the history",
               report_hist_ts_rows);
static const ttm_field report_hist_use_rows[] = {
    {TTM_ROW(ttm_report_hist_use, dram, TTM_FT_U64), .unit = "bytes",
     .help = "DRAM in use (DRAM + TRACE)"},
    {TTM_ROW(ttm_report_hist_use, l1, TTM_FT_U64), .unit = "bytes",
     .help = "L1 in use (L1 + L1_SMALL + CB + KERNEL)"},
};
const ttm_record ttm_rec_report_hist_use =
    TTM_RECORD(ttm_report_hist_use, "hist_use", "one device's use at one sample of the history",
               report_hist_use_rows);
static const ttm_field report_hist_device_rows[] = {
    {TTM_ROW(ttm_report_hist_device, device, TTM_FT_U32), .help = "logical device id"},
    {TTM_ROW(ttm_report_hist_device, first, TTM_FT_U32),
     .help = "the sample (index in ts) of samples[0]: a device first seen later starts later"},
    {TTM_ROW(ttm_report_hist_device, nsamples, TTM_FT_U64), .flags = TTM_FF_NOWIRE | TTM_FF_NOJSON,
     .help = "entries of samples"},
    {TTM_ROW_DYN(ttm_report_hist_device, samples, nsamples, &ttm_rec_report_hist_use),
     .help = "its use at samples first, first + 1, ..."},
};
const ttm_record ttm_rec_report_hist_device =
    TTM_RECORD(ttm_report_hist_device, "hist_device", "one device's samples of the history",
               report_hist_device_rows);
static const ttm_field report_history_rows[] = {
    {TTM_ROW(ttm_report_history, interval_ns, TTM_FT_U64), .unit = "ns",
     .help = "the sampling interval (--history-interval); 0: the history is off"},
    {TTM_ROW(ttm_report_history, capacity, TTM_FT_U32), .unit = "samples",
     .help = "samples kept at most (--history-len)"},
    {TTM_ROW(ttm_report_history, devices_dropped, TTM_FT_U32), .unit = "devices",
     .help = "devices seen beyond those the history keeps"},
    {TTM_ROW(ttm_report_history, taken, TTM_FT_U64), .unit = "samples",
     .help = "samples taken since the daemon started (also those no longer kept)"},
    {TTM_ROW(ttm_report_history, nts, TTM_FT_U64), .flags = TTM_FF_NOWIRE | TTM_FF_NOJSON,
     .help = "entries of ts"},
    {TTM_ROW_DYN(ttm_report_history, ts, nts, &ttm_rec_report_hist_ts),
     .help = "the samples' times, oldest first"},
    {TTM_ROW(ttm_report_history, ndevices, TTM_FT_U64), .flags = TTM_FF_NOWIRE | TTM_FF_NOJSON,
     .help = "entries of devices"},
    {TTM_ROW_DYN(ttm_report_history, devices, ndevices, &ttm_rec_report_hist_device),
     .help = "every device's samples, by device id"},
};
const ttm_record ttm_rec_report_history =
    TTM_RECORD(ttm_report_history, "history",
               "the daemon's usage history: every device's DRAM and L1 use at a fixed interval",
               report_history_rows);

const ttm_record ttm_rec_report_dec_addr =
    TTM_RECORD(ttm_report_dec_addr, "dec_addr",
               "a (device, address) the input wrote in decimal, as the wire carries the "
               "findings' addr_dec",
               report_dec_addr_rows);

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
    {TTM_ROW(ttm_report_proc, side, TTM_FT_REC), .rec = &ttm_rec_side, .flags = TTM_FF_PACKED,
     .help = "its sessions' side logs (the stacks section carries them)"},
    {TTM_ROW(ttm_report_proc, cmdline, TTM_FT_VSTR), .flags = TTM_FF_PACKED,
     .help = "its command line, arguments joined by spaces; null when unknown (the procinfo "
             "section carries it)"},
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
    {TTM_ROW(ttm_report_daemon, side, TTM_FT_REC), .rec = &ttm_rec_side, .flags = TTM_FF_PACKED,
     .help = "every session's side log (the stacks section carries them)"},
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

/* ---- call sites (the stacks section) ---------------------------------------------------- */

static const ttm_field leak_group_rows[] = {
    {TTM_ROW(ttm_leak_group, stack, TTM_FT_U32),
     .help = "the allocation stack (stacks[]); 0 = without a stack, and the groups folded"},
    {TTM_ROW(ttm_leak_group, count, TTM_FT_U64), .unit = "buffers", .help = "buffers leaked"},
    {TTM_ROW(ttm_leak_group, bytes, TTM_FT_U64), .unit = "bytes", .help = "their bytes"},
    {TTM_ROW(ttm_leak_group, oldest_ts, TTM_FT_U64), .unit = "ns",
     .help = "ts of the oldest allocation"},
    {TTM_ROW_COUNTED(ttm_leak_group, pids, TTM_FT_U32, npids),
     .help = "distinct pids, first seen first"},
    {TTM_ROW(ttm_leak_group, npids, TTM_FT_U8), .flags = TTM_FF_NOJSON,
     .help = "how many of pids are set"},
    {TTM_ROW(ttm_leak_group, more_pids, TTM_FT_BOOL), .help = "more distinct pids than listed"},
};
const ttm_record ttm_rec_leak_group = TTM_RECORD(
    ttm_leak_group, "leak_group", "leaks at exit grouped by allocation stack", leak_group_rows);

static const ttm_field live_site_rows[] = {
    {TTM_ROW(ttm_live_site, stack, TTM_FT_U32),
     .help = "the allocation stack (stacks[]); 0 = without a stack"},
    {TTM_ROW(ttm_live_site, count, TTM_FT_U64), .unit = "buffers",
     .help = "live owning buffers allocated there"},
    {TTM_ROW(ttm_live_site, bytes, TTM_FT_U64), .unit = "bytes", .help = "their bytes"},
};
const ttm_record ttm_rec_live_site =
    TTM_RECORD(ttm_live_site, "live_site", "live buffers grouped by allocation stack",
               live_site_rows);
static const ttm_field proc_site_rows[] = {
    {TTM_ROW(ttm_proc_site, pid, TTM_FT_U32), .help = "the process"},
    {TTM_ROW(ttm_proc_site, stack, TTM_FT_U32),
     .help = "the allocation stack (an id of stacks; 0: buffers without a stack)"},
    {TTM_ROW(ttm_proc_site, count, TTM_FT_U64), .unit = "buffers",
     .help = "its live owning buffers allocated there"},
    {TTM_ROW(ttm_proc_site, bytes, TTM_FT_U64), .unit = "bytes", .help = "their bytes"},
    {TTM_ROW_ARR(ttm_proc_site, mem_bytes, TTM_FT_U64), .index = &ttm_enum_memtype,
     .unit = "bytes", .help = "their bytes by memtype"},
};
const ttm_record ttm_rec_proc_site =
    TTM_RECORD(ttm_proc_site, "proc_site",
               "one process's live buffers grouped by allocation stack", proc_site_rows);

static const ttm_field phase_rows[] = {
    {TTM_ROW(ttm_phase, pid, TTM_FT_U32), .help = "the process that marked it"},
    {TTM_ROW(ttm_phase, name, TTM_FT_U32), .help = "its name, string id (strings[]); 0 = empty"},
    {TTM_ROW(ttm_phase, ts, TTM_FT_U64), .unit = "ns", .help = "ts of the mark"},
};
const ttm_record ttm_rec_phase =
    TTM_RECORD(ttm_phase, "phase", "a mark (ttm_phase_mark): the start of a phase", phase_rows);

static const ttm_field breakdown_rows[] = {
    {TTM_ROW(ttm_breakdown, kind, TTM_FT_U8), .values = &ttm_enum_breakdown_kind,
     .flags = TTM_FF_CHECKED, .help = "phase or scope"},
    {TTM_ROW(ttm_breakdown, name, TTM_FT_U32),
     .help = "its name, string id (strings[]); 0 = the rows folded when full"},
    {TTM_ROW(ttm_breakdown, allocs, TTM_FT_U64), .unit = "events", .help = "ALLOC events"},
    {TTM_ROW(ttm_breakdown, anomalies, TTM_FT_U64), .unit = "events",
     .help = "anomaly classes given"},
    {TTM_ROW(ttm_breakdown, leaked_count, TTM_FT_U64), .unit = "buffers",
     .help = "leaks at exit allocated in it"},
    {TTM_ROW(ttm_breakdown, leaked_bytes, TTM_FT_U64), .unit = "bytes", .help = "their bytes"},
    {TTM_ROW_ARR(ttm_breakdown, class_count, TTM_FT_U64), .index = &ttm_enum_class,
     .flags = TTM_FF_SPARSE, .unit = "events", .help = "its events given each class"},
};
const ttm_record ttm_rec_breakdown = TTM_RECORD(
    ttm_breakdown, "breakdown", "events and leaks of one phase or scope", breakdown_rows);

static const ttm_field report_string_rows[] = {
    {TTM_ROW(ttm_report_string, id, TTM_FT_U32), .help = "string id"},
    {TTM_ROW(ttm_report_string, text, TTM_FT_VSTR), .help = "its text"},
};
const ttm_record ttm_rec_report_string =
    TTM_RECORD(ttm_report_string, "string", "a scope or phase name the report refers to",
               report_string_rows);

static const ttm_field report_module_rows[] = {
    {TTM_ROW(ttm_report_module, id, TTM_FT_U32), .help = "module id"},
    {TTM_ROW(ttm_report_module, path, TTM_FT_VSTR),
     .help = "the file as the process mapped it; \"\" when unknown"},
    {TTM_ROW(ttm_report_module, build_id, TTM_FT_VSTR),
     .help = "its GNU build-id, lower-case hex; \"\" when none"},
};
const ttm_record ttm_rec_report_module = TTM_RECORD(
    ttm_report_module, "module", "an executable file a native frame is in", report_module_rows);

static const ttm_field report_frame_rows[] = {
    {TTM_ROW(ttm_report_frame, kind, TTM_FT_U8), .values = &ttm_enum_frame_kind,
     .flags = TTM_FF_CHECKED, .help = "native, python or text (a frame a log wrote)"},
    {TTM_ROW(ttm_report_frame, module, TTM_FT_U32),
     .help = "native: module id (modules[]); 0 = none (offset is the address)"},
    {TTM_ROW(ttm_report_frame, offset, TTM_FT_U64), .flags = TTM_FF_HEX,
     .help = "native: the return address in the module's numbering"},
    {TTM_ROW(ttm_report_frame, function, TTM_FT_VSTR),
     .help = "function; null = unknown (native: until symbolized)"},
    {TTM_ROW(ttm_report_frame, file, TTM_FT_VSTR), .help = "source file; null = unknown"},
    {TTM_ROW(ttm_report_frame, line, TTM_FT_U32), .help = "line; 0 = unknown"},
};
const ttm_record ttm_rec_report_frame =
    TTM_RECORD(ttm_report_frame, "frame", "one frame of a stack", report_frame_rows);

static const ttm_field report_stack_rows[] = {
    {TTM_ROW(ttm_report_stack, id, TTM_FT_U32), .help = "stack id"},
    {TTM_ROW_DYN(ttm_report_stack, frames, nframes, &ttm_rec_report_frame),
     .help = "its frames, innermost first"},
    {TTM_ROW(ttm_report_stack, nframes, TTM_FT_U64), .flags = TTM_FF_NOWIRE | TTM_FF_NOJSON,
     .help = "entries of frames"},
};
const ttm_record ttm_rec_report_stack =
    TTM_RECORD(ttm_report_stack, "stack", "a call stack", report_stack_rows);

static const ttm_field stack_stats_rows[] = {
    {TTM_ROW(ttm_stacks_stats, strings, TTM_FT_U64), .unit = "strings", .help = "interned"},
    {TTM_ROW(ttm_stacks_stats, modules, TTM_FT_U64), .unit = "modules", .help = "interned"},
    {TTM_ROW(ttm_stacks_stats, frames, TTM_FT_U64), .unit = "frames", .help = "interned"},
    {TTM_ROW(ttm_stacks_stats, stacks, TTM_FT_U64), .unit = "stacks", .help = "interned"},
    {TTM_ROW(ttm_stacks_stats, contexts, TTM_FT_U64), .unit = "contexts", .help = "interned"},
    {TTM_ROW(ttm_stacks_stats, string_bytes, TTM_FT_U64), .unit = "bytes",
     .help = "bytes of all strings"},
    {TTM_ROW(ttm_stacks_stats, stack_words, TTM_FT_U64), .unit = "frames",
     .help = "frame ids of all stacks"},
    {TTM_ROW(ttm_stacks_stats, full, TTM_FT_U64), .unit = "interns",
     .help = "refused: a bound reached"},
    {TTM_ROW(ttm_stacks_stats, invalid, TTM_FT_U64), .unit = "interns",
     .help = "refused: bad input"},
    {TTM_ROW(ttm_stacks_stats, memory, TTM_FT_U64), .unit = "bytes",
     .help = "bytes the tables hold"},
};
const ttm_record ttm_rec_stack_stats =
    TTM_RECORD(ttm_stacks_stats, "stack_stats", "the registry's call-site table", stack_stats_rows);

static const ttm_field offender_sites_rows[] = {
    {TTM_ROW(ttm_report_offender_sites, cls, TTM_FT_U32), .key = "class",
     .values = &ttm_enum_class, .flags = TTM_FF_CHECKED, .help = "the offender's class"},
    {TTM_ROW(ttm_report_offender_sites, index, TTM_FT_U32),
     .help = "its place in the class's offenders"},
    {TTM_ROW_COUNTED(ttm_report_offender_sites, sites, TTM_FT_REC, nsites), .rec = &ttm_rec_site,
     .help = "its sites"},
    {TTM_ROW(ttm_report_offender_sites, nsites, TTM_FT_U8), .flags = TTM_FF_NOJSON,
     .help = "how many of sites are set"},
    {TTM_ROW(ttm_report_offender_sites, sites_other, TTM_FT_U64), .unit = "events",
     .help = "its events in no listed site"},
};
const ttm_record ttm_rec_offender_sites =
    TTM_RECORD(ttm_report_offender_sites, "offender_sites",
               "the sites of one offender, as the wire carries them", offender_sites_rows);

static const ttm_field report_context_rows[] = {
    {TTM_ROW(ttm_report_context, index, TTM_FT_U32), .help = "its place in the list"},
    {TTM_ROW(ttm_report_context, stack, TTM_FT_U32), .help = "stack id"},
    {TTM_ROW(ttm_report_context, scope, TTM_FT_U32), .help = "scope, string id"},
    {TTM_ROW(ttm_report_context, phase, TTM_FT_U32), .help = "phase, string id"},
};
const ttm_record ttm_rec_report_context =
    TTM_RECORD(ttm_report_context, "context",
               "the allocation context of one leak or live buffer, as the wire carries it",
               report_context_rows);

static const ttm_field report_proc_side_rows[] = {
    {TTM_ROW(ttm_report_proc_side, index, TTM_FT_U32), .help = "its place in the processes"},
    {TTM_ROW(ttm_report_proc_side, side, TTM_FT_REC), .rec = &ttm_rec_side,
     .help = "its side log counters"},
};
const ttm_record ttm_rec_report_proc_side =
    TTM_RECORD(ttm_report_proc_side, "proc_side",
               "the side log counters of one process, as the wire carries them",
               report_proc_side_rows);

static const ttm_field report_packed_rows[] = {
    {TTM_ROW(ttm_report_packed, phases_dropped, TTM_FT_U64), .help = "totals.phases_dropped"},
    {TTM_ROW(ttm_report_packed, leak_groups_folded, TTM_FT_U64),
     .help = "totals.leak_groups_folded"},
    {TTM_ROW(ttm_report_packed, breakdown_folded, TTM_FT_U64),
     .help = "totals.breakdown_folded"},
    {TTM_ROW(ttm_report_packed, daemon_side, TTM_FT_REC), .rec = &ttm_rec_side,
     .help = "daemon.side"},
    {TTM_ROW_DYN(ttm_report_packed, proc_sides, nproc_sides, &ttm_rec_report_proc_side),
     .help = "the processes whose side log counters are not all 0"},
    {TTM_ROW(ttm_report_packed, nproc_sides, TTM_FT_U64),
     .flags = TTM_FF_NOWIRE | TTM_FF_NOJSON, .help = "entries of proc_sides"},
    {TTM_ROW_DYN(ttm_report_packed, offender_sites, noffender_sites, &ttm_rec_offender_sites),
     .help = "the findings' offenders that have sites"},
    {TTM_ROW(ttm_report_packed, noffender_sites, TTM_FT_U64),
     .flags = TTM_FF_NOWIRE | TTM_FF_NOJSON, .help = "entries of offender_sites"},
    {TTM_ROW_DYN(ttm_report_packed, leak_contexts, nleak_contexts, &ttm_rec_report_context),
     .help = "the listed leaks that have a context"},
    {TTM_ROW(ttm_report_packed, nleak_contexts, TTM_FT_U64),
     .flags = TTM_FF_NOWIRE | TTM_FF_NOJSON, .help = "entries of leak_contexts"},
    {TTM_ROW_DYN(ttm_report_packed, live_contexts, nlive_contexts, &ttm_rec_report_context),
     .help = "the listed live buffers that have a context"},
    {TTM_ROW(ttm_report_packed, nlive_contexts, TTM_FT_U64),
     .flags = TTM_FF_NOWIRE | TTM_FF_NOJSON, .help = "entries of live_contexts"},
};
const ttm_record ttm_rec_report_packed =
    TTM_RECORD(ttm_report_packed, "packed",
               "the call sites of the totals, findings and live records, as the stacks section "
               "carries them (the rows flagged packed of those records)",
               report_packed_rows);

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
    {TTM_ROW_DYN(ttm_report, causes, ncauses, &ttm_rec_report_cause), SEC(CAUSES),
     .help = "the causes of the unmatched frees of address-only events, frees descending"},
    {TTM_ROW(ttm_report, ncauses, TTM_FT_U64), .flags = TTM_FF_NOWIRE | TTM_FF_NOJSON,
     .help = "entries of causes"},
    {TTM_ROW(ttm_report, causes_info, TTM_FT_REC), .rec = &ttm_rec_causes_info, SEC(CAUSES),
     .help = "what the cause attributor holds"},
    {TTM_ROW_DYN(ttm_report, dec_addrs, ndec_addrs, &ttm_rec_report_dec_addr), SEC(CAUSES),
     .flags = TTM_FF_NOJSON,
     .help = "the findings' addresses written in decimal (their addr_dec; wire only)"},
    {TTM_ROW(ttm_report, ndec_addrs, TTM_FT_U64), .flags = TTM_FF_NOWIRE | TTM_FF_NOJSON,
     .help = "entries of dec_addrs"},
    {TTM_ROW_DYN(ttm_report, proc_infos, nproc_infos, &ttm_rec_report_proc_info),
     SEC(PROCINFO), .flags = TTM_FF_NOJSON,
     .help = "the processes' command lines (their cmdline; wire only)"},
    {TTM_ROW(ttm_report, nproc_infos, TTM_FT_U64), .flags = TTM_FF_NOWIRE | TTM_FF_NOJSON,
     .help = "entries of proc_infos"},
    {TTM_ROW(ttm_report, history, TTM_FT_REC), .rec = &ttm_rec_report_history, SEC(HISTORY),
     .help = "the daemon's usage history (snapshots that ask for it)"},
    {TTM_ROW(ttm_report, legacy, TTM_FT_REC), .rec = &ttm_rec_legacy, SEC(LEGACY),
     .help = "the legacy socket (snapshots only)"},
    {TTM_ROW(ttm_report, service, TTM_FT_REC), .rec = &ttm_rec_service, SEC(SERVICE),
     .help = "the query socket (snapshots only)"},
    {TTM_ROW_DYN(ttm_report, leak_groups, nleak_groups, &ttm_rec_leak_group), SEC(STACKS),
     .help = "leaks at exit by allocation stack, most bytes first"},
    {TTM_ROW(ttm_report, nleak_groups, TTM_FT_U64), .flags = TTM_FF_NOWIRE | TTM_FF_NOJSON,
     .help = "entries of leak_groups"},
    {TTM_ROW_DYN(ttm_report, live_sites, nlive_sites, &ttm_rec_live_site), SEC(STACKS),
     .help = "the top live allocation sites, most bytes first"},
    {TTM_ROW(ttm_report, nlive_sites, TTM_FT_U64), .flags = TTM_FF_NOWIRE | TTM_FF_NOJSON,
     .help = "entries of live_sites"},
    {TTM_ROW_DYN(ttm_report, phases, nphases, &ttm_rec_phase), SEC(STACKS),
     .help = "the marks kept, in order"},
    {TTM_ROW(ttm_report, nphases, TTM_FT_U64), .flags = TTM_FF_NOWIRE | TTM_FF_NOJSON,
     .help = "entries of phases"},
    {TTM_ROW_DYN(ttm_report, breakdown, nbreakdown, &ttm_rec_breakdown), SEC(STACKS),
     .help = "events and leaks by phase and by scope"},
    {TTM_ROW(ttm_report, nbreakdown, TTM_FT_U64), .flags = TTM_FF_NOWIRE | TTM_FF_NOJSON,
     .help = "entries of breakdown"},
    {TTM_ROW_DYN(ttm_report, strings, nstrings, &ttm_rec_report_string), SEC(STACKS),
     .help = "every scope and phase name the report refers to, by id"},
    {TTM_ROW(ttm_report, nstrings, TTM_FT_U64), .flags = TTM_FF_NOWIRE | TTM_FF_NOJSON,
     .help = "entries of strings"},
    {TTM_ROW_DYN(ttm_report, modules, nmodules, &ttm_rec_report_module), SEC(STACKS),
     .help = "every module the stacks' native frames are in, by id"},
    {TTM_ROW(ttm_report, nmodules, TTM_FT_U64), .flags = TTM_FF_NOWIRE | TTM_FF_NOJSON,
     .help = "entries of modules"},
    {TTM_ROW_DYN(ttm_report, stacks, nstacks, &ttm_rec_report_stack), SEC(STACKS),
     .help = "every stack the report refers to, by id"},
    {TTM_ROW(ttm_report, nstacks, TTM_FT_U64), .flags = TTM_FF_NOWIRE | TTM_FF_NOJSON,
     .help = "entries of stacks"},
    {TTM_ROW(ttm_report, stack_stats, TTM_FT_REC), .rec = &ttm_rec_stack_stats, SEC(STACKS),
     .help = "the registry's call-site table: sizes and refusals"},
    {TTM_ROW(ttm_report, packed, TTM_FT_REC), .rec = &ttm_rec_report_packed, SEC(STACKS),
     .flags = TTM_FF_NOJSON,
     .help = "the call sites of totals, offenders, leaks and live buffers (wire only)"},
    {TTM_ROW_DYN(ttm_report, proc_sites, nproc_sites, &ttm_rec_proc_site), SEC(PROCSITES),
     .help = "each process's top live allocation sites, by pid, then most bytes first"},
    {TTM_ROW(ttm_report, nproc_sites, TTM_FT_U64), .flags = TTM_FF_NOWIRE | TTM_FF_NOJSON,
     .help = "entries of proc_sites"},
};
const ttm_record ttm_rec_report =
    TTM_RECORD(ttm_report, "report", "a report, or a snapshot's sections of it", report_rows);

const ttm_record *const ttm_report_records[] = {
    &ttm_rec_totals,        &ttm_rec_memstat,        &ttm_rec_device,
    &ttm_rec_proc_mem,      &ttm_rec_proc_stats,     &ttm_rec_proc,
    &ttm_rec_site,          &ttm_rec_offender,       &ttm_rec_class,
    &ttm_rec_unmatched,     &ttm_rec_leak,           &ttm_rec_live,
    &ttm_rec_daemon,        &ttm_rec_legacy,         &ttm_rec_service,
    &ttm_rec_side,          &ttm_rec_report_proc_side,
    &ttm_rec_leak_group,    &ttm_rec_live_site,      &ttm_rec_phase,
    &ttm_rec_breakdown,     &ttm_rec_report_string,  &ttm_rec_report_module,
    &ttm_rec_report_frame,  &ttm_rec_report_stack,   &ttm_rec_stack_stats,
    &ttm_rec_offender_sites, &ttm_rec_report_context, &ttm_rec_report_packed,
    &ttm_rec_cause_instance, &ttm_rec_cause_stats,   &ttm_rec_report_cause,
    &ttm_rec_causes_info,    &ttm_rec_report_dec_addr, &ttm_rec_report_proc_info,
    &ttm_rec_report_hist_ts, &ttm_rec_report_hist_use, &ttm_rec_report_hist_device,
    &ttm_rec_report_history,
    &ttm_rec_proc_site,
    &ttm_rec_report,
};
const size_t ttm_report_nrecords = sizeof ttm_report_records / sizeof ttm_report_records[0];
