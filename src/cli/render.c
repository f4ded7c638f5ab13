/*
 * render.c — the report model as text for people and as JSON for programs
 * (schema: docs/REPORT_SCHEMA.md; bump TTM_REPORT_SCHEMA_VERSION on incompatible changes).
 */
#include <inttypes.h>
#include <stdio.h>

#include "cli/cli.h"
#include "common/arch.h"
#include "common/fmt.h"
#include "common/json.h"

static const char *arch_name(unsigned arch)
{
    const ttm_arch_profile *p = ttm__arch_profile(arch);
    return p ? p->name : "unknown";
}

static void print_pids(FILE *out, const uint32_t *pids, unsigned n, bool more)
{
    for (unsigned i = 0; i < n; i++)
        fprintf(out, "%s%" PRIu32, i ? "," : "", pids[i]);
    if (more)
        fputs(",…", out);
}

static void text_headline(FILE *out, const ttm_report *r)
{
    char a[TTM_FMT_LEN], b[TTM_FMT_LEN], c[TTM_FMT_LEN], d[TTM_FMT_LEN];
    const ttm_totals *t = &r->totals;
    fprintf(out, "Events      %s: %s allocations, %s frees", ttm__fmt_count(a, t->events),
            ttm__fmt_count(b, t->allocs), ttm__fmt_count(c, t->frees));
    if (t->allocs > 0 && t->frees > t->allocs)
        fprintf(out, " (%.1f%% more frees than allocations)", r->excess_free_pct);
    fputc('\n', out);

    const uint64_t *cc = t->class_count;
    if (r->unmatched_frees > 0) {
        char e[TTM_FMT_LEN];
        fprintf(out, "Unmatched   %s frees on %s addresses: %s unknown, %s excess, %s double\n",
                ttm__fmt_count(a, r->unmatched_frees), ttm__fmt_count(b, r->unmatched_addrs),
                ttm__fmt_count(c, cc[TTM_CLASS_UNKNOWN_FREE]),
                ttm__fmt_count(d, cc[TTM_CLASS_EXCESS_FREE]),
                ttm__fmt_count(e, cc[TTM_CLASS_DOUBLE_FREE]));
        const ttm_report_unmatched *w = &r->unmatched[0];
        fprintf(out, "Worst       device %u %s 0x%" PRIX64 " freed %s more times than allocated (pid ",
                w->device, ttm__memtype_name(w->memtype), w->addr, ttm__fmt_count(a, w->total));
        print_pids(out, w->pids, w->npids, w->more_pids);
        fputs(")\n", out);
    } else {
        fputs("Unmatched   none: every free matched an allocation\n", out);
    }
    if (cc[TTM_CLASS_UNKNOWN_FREE] > 0)
        fprintf(out, "            unknown: %s (%s distinct addresses)\n",
                ttm__fmt_count(a, cc[TTM_CLASS_UNKNOWN_FREE]),
                ttm__fmt_count(b, r->classes[TTM_CLASS_UNKNOWN_FREE].distinct_addrs));
    uint64_t views = cc[TTM_CLASS_FREE_VIEW] + cc[TTM_CLASS_VIEW_AFTER_OWNER];
    if (views > 0)
        fprintf(out, "Views       %s view frees explained (%s after their owner): not warnings\n",
                ttm__fmt_count(a, views), ttm__fmt_count(b, cc[TTM_CLASS_VIEW_AFTER_OWNER]));
    if (r->leaked_count > 0)
        fprintf(out, "Leaks       %s buffers, %s still allocated at process exit\n",
                ttm__fmt_count(a, r->leaked_count), ttm__fmt_bytes(b, r->leaked_bytes));
    else
        fputs("Leaks       none at process exit\n", out);
    fprintf(out, "Live now    %s buffers", ttm__fmt_count(a, t->live_records));
    if (t->reuse_allocs > 0)
        fprintf(out, "; %s allocations reused an address, %s with a new size",
                ttm__fmt_count(b, t->reuse_allocs), ttm__fmt_count(c, t->reuse_size_changes));
    fputc('\n', out);
}

static void text_classes(FILE *out, const ttm_report *r)
{
    char a[TTM_FMT_LEN], b[TTM_FMT_LEN], c[TTM_FMT_LEN];
    fprintf(out, "\n%-20s %12s %12s %10s  %s\n", "Diagnosis", "count", "bytes", "addresses",
            "meaning");
    for (unsigned k = 0; k < TTM_CLASS__COUNT; k++) {
        const ttm_report_class *rc = &r->classes[k];
        if (rc->count == 0)
            continue;
        bool anomaly = ttm_class_is_anomaly(k);
        fprintf(out, "%s %-18s %12s %12s %10s  %s\n", anomaly ? "!" : " ", ttm_class_name(k),
                ttm__fmt_count(a, rc->count), ttm__fmt_bytes(b, rc->bytes),
                anomaly ? ttm__fmt_count(c, rc->distinct_addrs) : "", ttm_class_help(k));
    }
    const ttm_totals *t = &r->totals;
    if (t->offenders_dropped || t->history_dropped || t->freed_objs_dropped ||
        t->processes_dropped)
        fprintf(out, "  (tables full: %" PRIu64 " offender, %" PRIu64 " history, %" PRIu64
                     " freed-object, %" PRIu64 " process entries not kept; counts stay exact)\n",
                t->offenders_dropped, t->history_dropped, t->freed_objs_dropped,
                t->processes_dropped);
}

static void text_unmatched(FILE *out, const ttm_report *r)
{
    if (r->nunmatched == 0)
        return;
    char a[TTM_FMT_LEN], b[TTM_FMT_LEN], c[TTM_FMT_LEN], d[TTM_FMT_LEN];
    fprintf(out, "\nFrees matched to no allocation, worst addresses\n");
    fprintf(out, "  %6s %-13s %-18s %10s %8s %8s %8s  %s\n", "device", "type", "address",
            "unmatched", "excess", "unknown", "double", "pids");
    for (size_t i = 0; i < r->nunmatched; i++) {
        const ttm_report_unmatched *u = &r->unmatched[i];
        fprintf(out, "  %6u %-13s 0x%-16" PRIX64 " %10s %8s %8s %8s  ", u->device,
                ttm__memtype_name(u->memtype), u->addr, ttm__fmt_count(a, u->total),
                ttm__fmt_count(b, u->excess), ttm__fmt_count(c, u->unknown),
                ttm__fmt_count(d, u->dbl));
        print_pids(out, u->pids, u->npids, u->more_pids);
        fputc('\n', out);
    }
}

static void text_offenders(FILE *out, const ttm_report *r)
{
    char a[TTM_FMT_LEN], b[TTM_FMT_LEN];
    for (unsigned k = 0; k < TTM_CLASS__COUNT; k++) {
        const ttm_report_class *rc = &r->classes[k];
        if (rc->noffenders == 0 || k == TTM_CLASS_EXCESS_FREE || k == TTM_CLASS_UNKNOWN_FREE ||
            k == TTM_CLASS_DOUBLE_FREE || k == TTM_CLASS_LEAKED_AT_EXIT)
            continue;
        fprintf(out, "\n%s: worst addresses\n", ttm_class_name(k));
        for (size_t i = 0; i < rc->noffenders; i++) {
            const ttm_offender *o = &rc->offenders[i];
            fprintf(out, "  device %u %-13s 0x%-16" PRIX64 " %8s %-5s %10s  pids ", o->device,
                    ttm__memtype_name(o->memtype), o->addr, ttm__fmt_count(a, o->count),
                    o->count == 1 ? "time," : "times,", ttm__fmt_bytes(b, o->bytes));
            print_pids(out, o->pids, o->npids, o->more_pids);
            fputc('\n', out);
        }
    }
}

static void text_leaks(FILE *out, const ttm_report *r)
{
    if (r->nleaks == 0)
        return;
    char a[TTM_FMT_LEN], b[TTM_FMT_LEN];
    fprintf(out, "\nLeaked at exit, oldest first (%zu of %s)\n", r->nleaks,
            ttm__fmt_count(a, r->leaked_count));
    fprintf(out, "  %8s %6s %-13s %-18s %12s %18s\n", "pid", "device", "type", "address", "size",
            "object");
    for (size_t i = 0; i < r->nleaks; i++) {
        const ttm_leak *l = &r->leaks[i];
        fprintf(out, "  %8" PRIu32 " %6u %-13s 0x%-16" PRIX64 " %12s %18s\n", l->pid, l->device,
                ttm__memtype_name(l->memtype), l->addr, ttm__fmt_bytes(a, l->size),
                l->obj ? (snprintf(b, sizeof b, "0x%" PRIx64, l->obj), b) : "-");
    }
}

static void text_devices(FILE *out, const ttm_report *r)
{
    if (r->ndevices == 0)
        return;
    char a[TTM_FMT_LEN], b[TTM_FMT_LEN], c[TTM_FMT_LEN], d[TTM_FMT_LEN], e[TTM_FMT_LEN],
        f[TTM_FMT_LEN];
    fprintf(out, "\nDevices (DRAM = DRAM+TRACE, L1 = L1+L1_SMALL+CB+KERNEL)\n");
    fprintf(out, "  %6s %-12s %10s %10s %10s   %10s %10s %10s\n", "device", "arch", "DRAM used",
            "peak", "capacity", "L1 used", "peak", "capacity");
    for (size_t i = 0; i < r->ndevices; i++) {
        const ttm_device_stats *dv = &r->devices[i];
        fprintf(out, "  %6u %-12s %10s %10s %10s   %10s %10s %10s\n", dv->device,
                arch_name(dv->arch), ttm__fmt_bytes(a, ttm_device_space_used(dv, TTM_SPACE_DRAM)),
                ttm__fmt_bytes(b, dv->space_peak[TTM_SPACE_DRAM]),
                dv->capacity[TTM_SPACE_DRAM] ? ttm__fmt_bytes(c, dv->capacity[TTM_SPACE_DRAM])
                                             : "N/A",
                ttm__fmt_bytes(d, ttm_device_space_used(dv, TTM_SPACE_L1)),
                ttm__fmt_bytes(e, dv->space_peak[TTM_SPACE_L1]),
                dv->capacity[TTM_SPACE_L1] ? ttm__fmt_bytes(f, dv->capacity[TTM_SPACE_L1])
                                           : "N/A");
    }
    fprintf(out, "\nPeaks per device and type\n");
    for (size_t i = 0; i < r->ndevices; i++) {
        const ttm_device_stats *dv = &r->devices[i];
        fprintf(out, "  device %-3u", dv->device);
        for (unsigned m = 0; m < TTM_MEMTYPE_COUNT; m++)
            if (dv->mem[m].peak_bytes > 0)
                fprintf(out, " %s %s", ttm__memtype_name(m), ttm__fmt_bytes(a, dv->mem[m].peak_bytes));
        fputc('\n', out);
    }
}

void ttm_render_text(FILE *out, const ttm_report *r, const char *title)
{
    if (title != NULL)
        fprintf(out, "ttmem report: %s\n\n", title);
    text_headline(out, r);
    text_classes(out, r);
    text_unmatched(out, r);
    text_offenders(out, r);
    text_leaks(out, r);
    text_devices(out, r);
}

/* ---- JSON ----------------------------------------------------------------------------------- */

/* The report's sections in the document, in the report table's order: every row of the
 * records they hold, written by the table walker (docs/REPORT_SCHEMA.md is generated from the
 * same tables). */
void ttm_render_json(FILE *out, const ttm_report *r, const char *source)
{
    ttm_json j;
    ttm__json_init(&j, out, true);
    ttm__json_obj_begin(&j, NULL);
    ttm__json_str(&j, "schema", "ttmem.report");
    ttm__json_u64(&j, "schema_version", (uint64_t)r->schema_version);
    ttm__json_str(&j, "source", source);
    ttm_render_json_sections(&j, r, TTM_REPORT_SECTIONS);
    ttm__json_obj_end(&j);
    ttm__json_finish(&j);
}

void ttm_render_json_sections(ttm_json *j, const ttm_report *r, uint32_t sections)
{
    for (unsigned id = 1; id < 32; id++)
        if (sections & r->sections & TTM_SNAP_BIT(id))
            ttm__schema_json(j, &ttm_rec_report, r, id);
}
