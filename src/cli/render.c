/*
 * render.c — the report model as text for people and as JSON for programs
 * (schema: docs/REPORT_SCHEMA.md; bump TTM_REPORT_SCHEMA_VERSION on incompatible changes).
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/sites.h"
#include "common/arch.h"
#include "common/fmt.h"
#include "common/journal.h"
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
        char at[64];
        fprintf(out, "Worst       device %u %s %s freed %s more times than allocated (pid ",
                w->device, ttm__memtype_name(w->memtype),
                ttm_cause_addr_text(w->addr, w->addr_dec, at, sizeof at),
                ttm__fmt_count(a, w->total));
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
        char at[64];
        fprintf(out, "  %6u %-13s %-18s %10s %8s %8s %8s  ", u->device,
                ttm__memtype_name(u->memtype),
                ttm_cause_addr_text(u->addr, u->addr_dec, at, sizeof at),
                ttm__fmt_count(a, u->total),
                ttm__fmt_count(b, u->excess), ttm__fmt_count(c, u->unknown),
                ttm__fmt_count(d, u->dbl));
        print_pids(out, u->pids, u->npids, u->more_pids);
        fputc('\n', out);
    }
}

void ttm_render_causes(FILE *out, const ttm_report *r, const char *title)
{
    if (r->ncauses == 0)
        return;
    fprintf(out, "\n%s\n", title);
    for (size_t i = 0; i < r->ncauses; i++) {
        char line[700];
        fprintf(out, "  %s\n", ttm_cause_line(r, i, line, sizeof line));
    }
    const ttm_causes_info *in = &r->causes_info;
    if (in->dropped > 0) {
        char a[TTM_FMT_LEN], b[TTM_FMT_LEN];
        fprintf(out, "  (attribution state full at %s addresses: %s given up, their later frees "
                     "attributed without their history)\n",
                ttm__fmt_count(a, in->keys_max), ttm__fmt_count(b, in->dropped));
    }
}

static const char *times(uint64_t n)
{
    return n == 1 ? "time" : "times";
}

/* An offender's call sites: count, bytes, scope and phase, then the frames; a double free's
 * with the stack of the second free and the one of the free that released the buffer. */
static void text_sites(FILE *out, const ttm_report *r, const ttm_offender *o, unsigned depth)
{
    char a[TTM_FMT_LEN], b[TTM_FMT_LEN], names[600];
    for (unsigned i = 0; i < o->nsites; i++) {
        const ttm_site *st = &o->sites[i];
        ttm_cli_names(r, st->scope, st->phase, names, sizeof names);
        fprintf(out, "    %s %s, %s%s%s\n", ttm__fmt_count(a, st->count), times(st->count),
                ttm__fmt_bytes(b, st->bytes), names[0] ? "; " : "", names);
        if (st->stack == 0 && (o->cls != TTM_CLASS_DOUBLE_FREE || st->release_stack == 0))
            continue; /* a site of names only (tracked without stacks) */
        if (o->cls == TTM_CLASS_DOUBLE_FREE) {
            fputs("      freed again:\n", out);
            ttm_cli_print_stack(out, r, st->stack, depth, 8);
            fputs("      released first by:\n", out);
            ttm_cli_print_stack(out, r, st->release_stack, depth, 8);
        } else {
            ttm_cli_print_stack(out, r, st->stack, depth, 6);
        }
    }
    if (o->nsites > 0 && o->sites_other > 0)
        fprintf(out, "    %s more %s at other sites or without one\n",
                ttm__fmt_count(a, o->sites_other), times(o->sites_other));
}

static bool unmatched_class(unsigned k)
{
    return k == TTM_CLASS_EXCESS_FREE || k == TTM_CLASS_UNKNOWN_FREE ||
           k == TTM_CLASS_DOUBLE_FREE;
}

/* The unmatched frees' offenders with their call sites (the table above has no room). */
static void text_unmatched_sites(FILE *out, const ttm_report *r, unsigned depth)
{
    char a[TTM_FMT_LEN];
    bool title = false;
    for (unsigned k = 0; k < TTM_CLASS__COUNT; k++) {
        const ttm_report_class *rc = &r->classes[k];
        if (!unmatched_class(k))
            continue;
        for (size_t i = 0; i < rc->noffenders; i++) {
            const ttm_offender *o = &rc->offenders[i];
            if (o->nsites == 0)
                continue;
            if (!title)
                fprintf(out, "\nUnmatched frees by call site (top %d per address)\n",
                        TTM_SITES_MAX);
            title = true;
            char at[64];
            fprintf(out, "  %-14s device %u %-13s %-18s %s %s\n", ttm_class_name(k), o->device,
                    ttm__memtype_name(o->memtype),
                    ttm_cause_addr_text(o->addr, o->addr_dec, at, sizeof at),
                    ttm__fmt_count(a, o->count), times(o->count));
            text_sites(out, r, o, depth);
        }
    }
}

static void text_offenders(FILE *out, const ttm_report *r, unsigned depth)
{
    char a[TTM_FMT_LEN], b[TTM_FMT_LEN];
    for (unsigned k = 0; k < TTM_CLASS__COUNT; k++) {
        const ttm_report_class *rc = &r->classes[k];
        if (rc->noffenders == 0 || unmatched_class(k) || k == TTM_CLASS_LEAKED_AT_EXIT)
            continue;
        fprintf(out, "\n%s: worst addresses\n", ttm_class_name(k));
        for (size_t i = 0; i < rc->noffenders; i++) {
            const ttm_offender *o = &rc->offenders[i];
            char at[64];
            fprintf(out, "  device %u %-13s %-18s %8s %-5s %10s  pids ", o->device,
                    ttm__memtype_name(o->memtype),
                    ttm_cause_addr_text(o->addr, o->addr_dec, at, sizeof at),
                    ttm__fmt_count(a, o->count),
                    o->count == 1 ? "time," : "times,", ttm__fmt_bytes(b, o->bytes));
            print_pids(out, o->pids, o->npids, o->more_pids);
            fputc('\n', out);
            text_sites(out, r, o, depth);
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
    bool sites = false;
    for (size_t i = 0; i < r->nleaks; i++)
        sites |= ttm_cli_stack(r, r->leaks[i].stack) != NULL;
    fprintf(out, "  %8s %6s %-13s %-18s %12s %18s%s\n", "pid", "device", "type", "address", "size",
            "object", sites ? "  allocated at" : "");
    for (size_t i = 0; i < r->nleaks; i++) {
        const ttm_leak *l = &r->leaks[i];
        fprintf(out, "  %8" PRIu32 " %6u %-13s 0x%-16" PRIX64 " %12s %18s", l->pid, l->device,
                ttm__memtype_name(l->memtype), l->addr, ttm__fmt_bytes(a, l->size),
                l->obj ? (snprintf(b, sizeof b, "0x%" PRIx64, l->obj), b) : "-");
        const ttm_report_stack *st = ttm_cli_stack(r, l->stack);
        if (st != NULL && st->nframes > 0) {
            char frame[1024];
            ttm_cli_frame_text(r, &st->frames[0], frame, sizeof frame);
            fprintf(out, "  %s", frame);
        }
        fputc('\n', out);
    }
}

/* "+1.234 s" / "+12.3 ms" / "+45 us": ns after the run's first event. */
static const char *since(char *buf, size_t len, uint64_t ts, uint64_t first)
{
    uint64_t d = ts > first ? ts - first : 0;
    if (d >= 1000000000u)
        snprintf(buf, len, "+%.3f s", (double)d / 1e9);
    else if (d >= 1000000u)
        snprintf(buf, len, "+%.1f ms", (double)d / 1e6);
    else
        snprintf(buf, len, "+%" PRIu64 " us", d / 1000u);
    return buf;
}

/* True when one of the n rows (size bytes each, a uint32_t stack id at offset off) has a
 * stack: the sections by allocation site say nothing when none has. */
static bool any_stack(const void *rows, size_t n, size_t size, size_t off)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t stack;
        memcpy(&stack, (const char *)rows + i * size + off, sizeof stack);
        if (stack != 0)
            return true;
    }
    return false;
}

/* "  4.00 KiB in 3 buffers": the head of a site's lines. */
static void site_head(FILE *out, uint64_t bytes, uint64_t count)
{
    char a[TTM_FMT_LEN], b[TTM_FMT_LEN];
    fprintf(out, "  %s in %s buffer%s", ttm__fmt_bytes(a, bytes), ttm__fmt_count(b, count),
            count == 1 ? "" : "s");
}

/* Leaks at exit grouped by allocation stack, largest first, as valgrind's loss records:
 * bytes, buffers, the oldest allocation, the pids, then the stack. Nothing when no leak had
 * a stack. */
static void text_leak_groups(FILE *out, const ttm_report *r, unsigned depth)
{
    if (!any_stack(r->leak_groups, r->nleak_groups, sizeof *r->leak_groups,
                   offsetof(ttm_leak_group, stack)))
        return;
    char c[32];
    fprintf(out, "\nLeaks by allocation site, largest first (%zu site%s)\n", r->nleak_groups,
            r->nleak_groups == 1 ? "" : "s");
    for (size_t i = 0; i < r->nleak_groups; i++) {
        const ttm_leak_group *g = &r->leak_groups[i];
        site_head(out, g->bytes, g->count);
        fprintf(out, " (record %zu of %zu), oldest %s, pid%s ", i + 1, r->nleak_groups,
                since(c, sizeof c, g->oldest_ts, r->totals.first_ts),
                g->npids == 1 && !g->more_pids ? "" : "s");
        print_pids(out, g->pids, g->npids, g->more_pids);
        fputc('\n', out);
        ttm_cli_print_stack(out, r, g->stack, depth, 4);
    }
}

static void text_live_sites(FILE *out, const ttm_report *r, unsigned depth)
{
    if (!any_stack(r->live_sites, r->nlive_sites, sizeof *r->live_sites,
                   offsetof(ttm_live_site, stack)))
        return;
    fprintf(out, "\nLive buffers by allocation site, largest first (top %zu)\n", r->nlive_sites);
    for (size_t i = 0; i < r->nlive_sites; i++) {
        const ttm_live_site *ls = &r->live_sites[i];
        site_head(out, ls->bytes, ls->count);
        fputc('\n', out);
        ttm_cli_print_stack(out, r, ls->stack, depth, 4);
    }
}

/* "By phase" and "By scope": allocations, anomalies and leaks per name, the anomaly classes
 * that happened there. Nothing for a kind without names. */
static void text_breakdown(FILE *out, const ttm_report *r)
{
    static const struct {
        uint8_t kind;
        const char *title;
    } kinds[] = {{TTM_BREAKDOWN_PHASE, "By phase"}, {TTM_BREAKDOWN_SCOPE, "By scope"}};
    char a[TTM_FMT_LEN], b[TTM_FMT_LEN], c[TTM_FMT_LEN], d[TTM_FMT_LEN], e[TTM_FMT_LEN];
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        bool title = false;
        for (size_t i = 0; i < r->nbreakdown; i++) {
            const ttm_breakdown *bd = &r->breakdown[i];
            if (bd->kind != kinds[k].kind)
                continue;
            if (!title)
                fprintf(out, "\n%s\n  %-24s %10s %10s %10s %12s  %s\n", kinds[k].title,
                        kinds[k].kind == TTM_BREAKDOWN_PHASE ? "phase" : "scope", "allocs",
                        "anomalies", "leaked", "leaked bytes", "findings");
            title = true;
            const char *name = ttm_cli_string(r, bd->name);
            fprintf(out, "  %-24s %10s %10s %10s %12s ", name != NULL ? name : "(others)",
                    ttm__fmt_count(a, bd->allocs), ttm__fmt_count(b, bd->anomalies),
                    ttm__fmt_count(c, bd->leaked_count), ttm__fmt_bytes(d, bd->leaked_bytes));
            const char *sep = " ";
            for (unsigned cl = 0; cl < TTM_CLASS__COUNT; cl++) {
                if (!ttm_class_is_anomaly(cl) || bd->class_count[cl] == 0)
                    continue;
                fprintf(out, "%s%s %s", sep, ttm_class_name(cl),
                        ttm__fmt_count(e, bd->class_count[cl]));
                sep = ", ";
            }
            fputc('\n', out);
        }
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

/* ---- the processes' command lines ---------------------------------------------------------- */

int ttm_render_width(FILE *out)
{
    struct winsize ws;
    int fd = fileno(out);
    if (fd >= 0 && isatty(fd) && ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    const char *cols = getenv("COLUMNS");
    char *end = NULL;
    long v = cols != NULL ? strtol(cols, &end, 10) : 0;
    return cols != NULL && end != cols && *end == '\0' && v > 0 && v < 100000 ? (int)v : 0;
}

bool ttm_render_any_cmdline(const ttm_report *r)
{
    for (size_t i = 0; i < r->nprocs; i++)
        if (r->procs[i].cmdline != NULL)
            return true;
    return false;
}

int ttm_render_cmdline_room(FILE *out, int used)
{
    int width = ttm_render_width(out);
    int room = width > 0 ? width - used : TTM_RENDER_CMDLINE_COLS;
    return room < TTM_RENDER_CMDLINE_MIN ? TTM_RENDER_CMDLINE_MIN : room;
}

void ttm_render_cmdline(FILE *out, const char *cmdline, int room)
{
    if (cmdline == NULL) {
        fputs("N/A", out);
        return;
    }
    /* room counts characters (UTF-8 sequences), not bytes: the last one shown becomes "…"
     * when the rest does not fit */
    int chars = 0;
    size_t cut = 0, n = 0;
    for (; cmdline[n] != '\0'; n++) {
        if (((unsigned char)cmdline[n] & 0xC0) == 0x80)
            continue;
        if (chars == room - 1)
            cut = n;
        if (++chars > room)
            break;
    }
    if (chars <= room) {
        fputs(cmdline, out);
        return;
    }
    fwrite(cmdline, 1, cut, out);
    fputs("…", out);
}

void ttm_render_procs(FILE *out, const ttm_report *r)
{
    if (!ttm_render_any_cmdline(r))
        return;
    char a[TTM_FMT_LEN], b[TTM_FMT_LEN];
    fprintf(out, "\nProcesses\n");
    int used = fprintf(out, "  %8s %-16s %-7s %11s %8s  ", "pid", "name", "state", "events",
                       "leaked");
    fputs("command\n", out);
    int room = ttm_render_cmdline_room(out, used);
    for (size_t i = 0; i < r->nprocs; i++) {
        const ttm_report_proc *p = &r->procs[i];
        fprintf(out, "  %8" PRIu32 " %-16s %-7s %11s %8s  ", p->stats.pid,
                p->name[0] ? p->name : "?", p->stats.alive ? "running" : "exited",
                ttm__fmt_count(a, p->events), ttm__fmt_count(b, p->stats.leaked_count));
        ttm_render_cmdline(out, p->cmdline, room);
        fputc('\n', out);
    }
}

void ttm_render_text(FILE *out, const ttm_report *r, const char *title)
{
    ttm_render_text_depth(out, r, title, TTM_CLI_TEXT_DEPTH);
}

void ttm_render_text_depth(FILE *out, const ttm_report *r, const char *title, unsigned depth)
{
    if (title != NULL)
        fprintf(out, "ttmem report: %s\n\n", title);
    text_headline(out, r);
    text_classes(out, r);
    ttm_render_causes(out, r, "Causes of the unmatched frees (address-only events)");
    text_unmatched(out, r);
    text_offenders(out, r, depth);
    text_leaks(out, r);
    ttm_render_sites(out, r, depth);
    text_devices(out, r);
    ttm_render_procs(out, r);
}

void ttm_render_sites(FILE *out, const ttm_report *r, unsigned depth)
{
    text_unmatched_sites(out, r, depth);
    text_leak_groups(out, r, depth);
    text_live_sites(out, r, depth);
    text_breakdown(out, r);
}

/* ---- JSON ----------------------------------------------------------------------------------- */

/* The report's sections in the document, in the report table's order: every row of the
 * records they hold, written by the table walker (docs/REPORT_SCHEMA.md is generated from the
 * same tables). */
void ttm_render_json(FILE *out, const ttm_report *r, const char *source)
{
    ttm_render_json_made_by(out, r, source, NULL);
}

/* The document's time in nanoseconds since the epoch: SOURCE_DATE_EPOCH's (whole seconds) when
 * it is set and valid, so that two documents of the same run can be compared byte for byte. */
static uint64_t made_time_ns(void)
{
    const char *e = getenv("SOURCE_DATE_EPOCH");
    if (e != NULL && e[0] >= '0' && e[0] <= '9') {
        char *end;
        errno = 0;
        unsigned long long s = strtoull(e, &end, 10);
        if (errno == 0 && *end == '\0' && s <= UINT64_MAX / 1000000000u)
            return (uint64_t)s * 1000000000u;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Where and when a document is being made: the time in both forms and the host name. */
typedef struct made_now {
    uint64_t ns;
    char when[40]; /* "2026-12-08T00:50:00Z"; "" when the time cannot be converted */
    char host[256];
} made_now;

static void made_now_fill(made_now *n)
{
    n->ns = made_time_ns();
    time_t sec = (time_t)(n->ns / 1000000000u);
    struct tm tm;
    n->when[0] = '\0';
    if (gmtime_r(&sec, &tm) != NULL)
        strftime(n->when, sizeof n->when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (gethostname(n->host, sizeof n->host) != 0)
        n->host[0] = '\0';
    n->host[sizeof n->host - 1] = '\0';
}

void ttm_render_text_made(FILE *out, const ttm_cli_made *m)
{
    made_now n;
    made_now_fill(&n);
    fprintf(out, "Made        %s on %s by ttmem %s", n.when, n.host, TTM_VERSION);
    if (m != NULL && m->command != NULL && m->exit_status >= 0)
        fprintf(out, ": '%s' exited with status %d", m->command, m->exit_status);
    fputc('\n', out);
}

void ttm_render_json_made(ttm_json *j, const ttm_cli_made *m)
{
    made_now n;
    made_now_fill(&n);
    ttm__json_obj_begin(j, "made");
    ttm__json_str(j, "time", n.when);
    ttm__json_u64(j, "time_ns", n.ns);
    ttm__json_str(j, "host", n.host);
    ttm__json_str(j, "ttmem_version", TTM_VERSION);
    ttm__json_str(j, "command", m != NULL ? m->command : NULL);
    if (m != NULL && m->exit_status >= 0)
        ttm__json_u64(j, "exit_status", (uint64_t)m->exit_status);
    else
        ttm__json_str(j, "exit_status", NULL);
    ttm__json_obj_end(j);
    if (m != NULL && m->recorded != NULL)
        ttm_render_json_recorded(j, m->recorded);
}

/* A wall time (ns since the epoch) as "2026-12-08T00:50:00Z"; "" when it cannot be shown. */
static void utc_time(uint64_t ns, char *buf, size_t n)
{
    time_t sec = (time_t)(ns / 1000000000u);
    struct tm tm;
    buf[0] = '\0';
    if (gmtime_r(&sec, &tm) != NULL)
        strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void ttm_cli_made_command(const ttm_journal_made *m, char *buf, size_t n)
{
    size_t off = 0;
    buf[0] = '\0';
    const char *a = m->args, *end = m->args + m->args_len;
    for (uint32_t i = 0; i < m->argc && a < end && off < n; i++) {
        off += (size_t)snprintf(buf + off, n - off, "%s%s", i ? " " : "", a);
        a += strlen(a) + 1;
    }
}

void ttm_render_json_recorded(ttm_json *j, const ttm_journal_made *m)
{
    if (m == NULL) {
        ttm__json_str(j, "recorded", NULL);
        return;
    }
    char cmd[4096], start[40], end[40];
    ttm_cli_made_command(m, cmd, sizeof cmd);
    utc_time(m->start_ns, start, sizeof start);
    utc_time(m->end_ns, end, sizeof end);
    ttm__json_obj_begin(j, "recorded");
    ttm__json_str(j, "command", cmd);
    ttm__json_arr_begin(j, "argv");
    const char *a = m->args;
    for (uint32_t i = 0; i < m->argc; i++) {
        ttm__json_str(j, NULL, a);
        a += strlen(a) + 1;
    }
    ttm__json_arr_end(j);
    ttm__json_u64(j, "exit_status", (uint64_t)ttm_journal_made_status(m));
    bool sig = m->how == TTM_JOURNAL_MADE_SIGNALED;
    if (sig)
        ttm__json_str(j, "exit_code", NULL);
    else
        ttm__json_u64(j, "exit_code", m->code);
    if (sig)
        ttm__json_u64(j, "signal", m->code);
    else
        ttm__json_str(j, "signal", NULL);
    ttm__json_bool(j, "core_dumped", m->core_dumped);
    ttm__json_str(j, "start", start);
    ttm__json_u64(j, "start_ns", m->start_ns);
    ttm__json_str(j, "end", end);
    ttm__json_u64(j, "end_ns", m->end_ns);
    ttm__json_u64(j, "run_ns", m->run_ns);
    ttm__json_str(j, "host", m->host);
    ttm__json_str(j, "ttmem_version", m->version);
    ttm__json_obj_end(j);
}

void ttm_render_text_recorded(FILE *out, const ttm_journal_made *m)
{
    if (m == NULL)
        return;
    char cmd[4096], start[40], ran[32];
    ttm_cli_made_command(m, cmd, sizeof cmd);
    utc_time(m->start_ns, start, sizeof start);
    if (m->run_ns < 1000000000u)
        snprintf(ran, sizeof ran, "%" PRIu64 " ms", m->run_ns / 1000000u);
    else
        snprintf(ran, sizeof ran, "%.1f s", (double)m->run_ns / 1e9);
    fprintf(out, "Recorded    `%s` on %s at %s, ", cmd, m->host[0] ? m->host : "?", start);
    if (m->how == TTM_JOURNAL_MADE_SIGNALED)
        fprintf(out, "killed by signal %" PRIu32 "%s, exit status %d", m->code,
                m->core_dumped ? ", core dumped" : "", ttm_journal_made_status(m));
    else
        fprintf(out, "exit status %" PRIu32, m->code);
    fprintf(out, " (ran %s, ttmem %s)\n", ran, m->version);
}

void ttm_render_json_made_by(FILE *out, const ttm_report *r, const char *source,
                             const ttm_cli_made *m)
{
    ttm_json j;
    ttm__json_init(&j, out, true);
    ttm__json_obj_begin(&j, NULL);
    ttm__json_str(&j, "schema", "ttmem.report");
    ttm__json_u64(&j, "schema_version", (uint64_t)r->schema_version);
    ttm__json_str(&j, "source", source);
    ttm_render_json_made(&j, m);
    ttm_render_json_sections(&j, r, TTM_REPORT_SECTIONS | TTM_SNAP_BIT(TTM_SNAP_SEC_STACKS));
    ttm__json_obj_end(&j);
    ttm__json_finish(&j);
}

void ttm_render_json_sections(ttm_json *j, const ttm_report *r, uint32_t sections)
{
    for (unsigned id = 1; id < 32; id++)
        if (sections & r->sections & TTM_SNAP_BIT(id))
            ttm__schema_json(j, &ttm_rec_report, r, id);
}
