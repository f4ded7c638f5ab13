/*
 * report.h — the report model: what a user is told about an event stream, built from a registry
 * as plain data, rendered elsewhere (src/cli/render.c: text and JSON).
 *
 * Lifecycle: ttm_report_build() allocates a report that owns all its arrays; ttm_report_free()
 * frees it; free(NULL) is a no-op. A report does not refer to the registry after it is built.
 */
#ifndef TTM_CORE_REPORT_H
#define TTM_CORE_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "core/registry.h"

#define TTM_REPORT_SCHEMA_VERSION 1

typedef struct ttm_report_options {
    size_t top;        /* offenders listed per class and in the worst list; 0 = 10 */
    size_t max_leaks;  /* leaks listed; 0 = 20 */
} ttm_report_options;

typedef struct ttm_report_class {
    ttm_class cls;
    uint64_t count;
    uint64_t bytes;
    uint64_t distinct_addrs;  /* entries in its offender table (anomaly classes only) */
    size_t noffenders;        /* worst offenders listed below, by count */
    ttm_offender *offenders;
} ttm_report_class;

/* Frees matched to no allocation at one (device, addr): excess + unknown + double frees. */
typedef struct ttm_report_unmatched {
    uint16_t device;
    uint8_t memtype;
    uint64_t addr;
    uint64_t excess, unknown, dbl; /* per class */
    uint64_t total;                /* freed this many more times than allocated */
    uint32_t pids[TTM_PROC_MAX_PIDS];
    uint8_t npids;
    uint8_t more_pids;
} ttm_report_unmatched;

typedef struct ttm_report {
    int schema_version;
    ttm_totals totals;
    double excess_free_pct;      /* (frees - allocs) / allocs * 100; 0 when no allocs */
    uint64_t unmatched_frees;    /* excess + unknown + double frees */
    uint64_t unmatched_addrs;    /* distinct (device, addr) they fell on */
    size_t nunmatched;           /* worst addresses listed */
    ttm_report_unmatched *unmatched;
    ttm_report_class classes[TTM_CLASS__COUNT]; /* indexed by ttm_class */
    uint64_t leaked_count, leaked_bytes;
    size_t nleaks;               /* listed, oldest first */
    ttm_leak *leaks;
    size_t ndevices;
    ttm_device_stats *devices;
    size_t nprocs;
    ttm_proc_stats *procs;       /* devices pointers are copies owned by the report */
} ttm_report;

/* Builds a report from reg. opt may be NULL. Returns 0 or TTM_ENOMEM (nothing allocated). */
int ttm_report_build(const ttm_registry *reg, const ttm_report_options *opt, ttm_report **out);
/* Frees a report; NULL is a no-op. */
void ttm_report_free(ttm_report *r);

#endif /* TTM_CORE_REPORT_H */
