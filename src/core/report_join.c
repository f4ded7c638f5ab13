/*
 * report_join.c — the reports of several runs (the hosts of one multi-host job) joined into one
 * report keyed by (host, device) (report_merge.h, ttm_report_join; docs/REPORT_SCHEMA.md,
 * "Reports of several hosts").
 *
 * Each part is one run's report, made from its own registry: device ids, and the ids of its
 * call-site table, are its own. The joined report renumbers them so that nothing of two hosts
 * is confused: device D of host h becomes h * 256 + D, and every string, module and stack id of
 * part k is moved past those of parts 0..k-1. Counters add up; the lists are put together and
 * sorted and cut as the registry sorts and cuts one run's (registry.h says how each is ordered).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "core/report_merge.h"
#include "common/util.h"

/* How one part's ids move. */
typedef struct shift {
    uint32_t host;                    /* the part's index */
    uint32_t strings, modules, stacks; /* added to its ids (not to 0: none) */
} shift;

static uint16_t dev_of(const shift *s, uint16_t d)
{
    return (uint16_t)(s->host * TTM_REPORT_JOIN_DEVICES + d);
}

static uint32_t id_of(uint32_t base, uint32_t id)
{
    return id != 0 ? base + id : 0;
}

static void site_shift(const shift *s, ttm_site *st)
{
    st->stack = id_of(s->stacks, st->stack);
    st->release_stack = id_of(s->stacks, st->release_stack);
    st->scope = id_of(s->strings, st->scope);
    st->phase = id_of(s->strings, st->phase);
}

/* ---- the orders of the lists: the registry's own (registry.h), but for live sites ---------- */

static int live_site_cmp(const void *a, const void *b)
{
    const ttm_live_site *x = a, *y = b;
    if (x->bytes != y->bytes)
        return x->bytes > y->bytes ? -1 : 1;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return x->stack < y->stack ? -1 : x->stack > y->stack;
}

/* ---- concatenation ------------------------------------------------------------------------ */

/* Appends the n elements (size bytes each) at src to *dst (holding *dn), moving them; *at gets
 * the index of the first. Returns false when memory is short. */
static bool append(void **dst, size_t *dn, const void *src, size_t n, size_t size, size_t *at)
{
    *at = *dn;
    if (n == 0)
        return true;
    void *p = ttm__reallocarray(*dst, *dn + n, size);
    if (p == NULL)
        return false;
    *dst = p;
    memcpy((char *)p + *dn * size, src, n * size);
    *dn += n;
    return true;
}

#define APPEND(out, field, nfield, part, at)                                                     \
    append((void **)&(out)->field, &(out)->nfield, (part)->field, (part)->nfield,                \
           sizeof *(part)->field, at)

/* Sums two records made only of u64 counters (ttm_totals, ttm_stacks_stats). */
static void add_words(void *dst, const void *src, size_t size)
{
    uint64_t a, b;
    for (size_t off = 0; off + 8 <= size; off += 8) {
        memcpy(&a, (char *)dst + off, 8);
        memcpy(&b, (const char *)src + off, 8);
        a += b;
        memcpy((char *)dst + off, &a, 8);
    }
}

static void join_totals(ttm_report *out, const ttm_report *p, bool first)
{
    uint64_t f = out->totals.first_ts, l = out->totals.last_ts;
    add_words(&out->totals, &p->totals, sizeof out->totals);
    out->totals.first_ts = first || (p->totals.first_ts != 0 && p->totals.first_ts < f)
                               ? p->totals.first_ts
                               : f;
    out->totals.last_ts = p->totals.last_ts > l ? p->totals.last_ts : l;
    add_words(&out->stack_stats, &p->stack_stats, sizeof out->stack_stats);
    out->unmatched_frees += p->unmatched_frees;
    out->unmatched_addrs += p->unmatched_addrs;
    out->leaked_count += p->leaked_count;
    out->leaked_bytes += p->leaked_bytes;
    out->live_total += p->live_total;
}
_Static_assert(sizeof(ttm_totals) % 8 == 0, "ttm_totals is u64 counters");
_Static_assert(sizeof(ttm_stacks_stats) % 8 == 0, "ttm_stacks_stats is u64 counters");

/* Part p's findings, devices and processes, renumbered, appended to out (still unsorted). */
static int join_records(ttm_report *out, ttm_report *p, const shift *s)
{
    for (unsigned c = 0; c < TTM_CLASS__COUNT; c++) {
        ttm_report_class *oc = &out->classes[c], *pc = &p->classes[c];
        oc->cls = (ttm_class)c;
        oc->count += pc->count;
        oc->bytes += pc->bytes;
        oc->distinct_addrs += pc->distinct_addrs;
        size_t o;
        if (!APPEND(oc, offenders, noffenders, pc, &o))
            return TTM_ENOMEM;
        for (size_t i = o; i < oc->noffenders; i++) {
            oc->offenders[i].device = dev_of(s, oc->offenders[i].device);
            for (unsigned k = 0; k < oc->offenders[i].nsites; k++)
                site_shift(s, &oc->offenders[i].sites[k]);
        }
    }
    size_t u, l, d, pr;
    if (!APPEND(out, unmatched, nunmatched, p, &u) || !APPEND(out, leaks, nleaks, p, &l) ||
        !APPEND(out, devices, ndevices, p, &d) || !APPEND(out, procs, nprocs, p, &pr))
        return TTM_ENOMEM;
    p->nprocs = 0; /* their per-device arrays now belong to out */
    for (size_t i = u; i < out->nunmatched; i++)
        out->unmatched[i].device = dev_of(s, out->unmatched[i].device);
    for (size_t i = l; i < out->nleaks; i++) {
        ttm_leak *x = &out->leaks[i];
        x->device = dev_of(s, x->device);
        x->stack = id_of(s->stacks, x->stack);
        x->scope = id_of(s->strings, x->scope);
        x->phase = id_of(s->strings, x->phase);
    }
    for (size_t i = d; i < out->ndevices; i++)
        out->devices[i].device = dev_of(s, out->devices[i].device);
    for (size_t i = pr; i < out->nprocs; i++) /* each process's per-device copy moves with it */
        for (size_t k = 0; k < out->procs[i].stats.ndevices; k++)
            ((ttm_proc_mem *)out->procs[i].stats.devices)[k].device =
                dev_of(s, out->procs[i].stats.devices[k].device);
    return TTM_OK;
}

/* Part p's call sites and what their ids mean, renumbered, appended to out. */
static int join_sites(ttm_report *out, ttm_report *p, const shift *s)
{
    size_t g, ls, ph, bd, st, mo, sk;
    bool ok = APPEND(out, leak_groups, nleak_groups, p, &g) &&
              APPEND(out, live_sites, nlive_sites, p, &ls) &&
              APPEND(out, phases, nphases, p, &ph) &&
              APPEND(out, breakdown, nbreakdown, p, &bd);
    /* texts and frames move to out as soon as their entries do: the part must not free them */
    if (ok && APPEND(out, strings, nstrings, p, &st))
        p->nstrings = 0;
    else
        ok = false;
    if (ok && APPEND(out, modules, nmodules, p, &mo))
        p->nmodules = 0;
    else
        ok = false;
    if (ok && APPEND(out, stacks, nstacks, p, &sk))
        p->nstacks = 0;
    else
        ok = false;
    if (!ok)
        return TTM_ENOMEM;
    for (size_t i = g; i < out->nleak_groups; i++)
        out->leak_groups[i].stack = id_of(s->stacks, out->leak_groups[i].stack);
    for (size_t i = ls; i < out->nlive_sites; i++)
        out->live_sites[i].stack = id_of(s->stacks, out->live_sites[i].stack);
    for (size_t i = ph; i < out->nphases; i++)
        out->phases[i].name = id_of(s->strings, out->phases[i].name);
    for (size_t i = bd; i < out->nbreakdown; i++)
        out->breakdown[i].name = id_of(s->strings, out->breakdown[i].name);
    for (size_t i = st; i < out->nstrings; i++)
        out->strings[i].id = id_of(s->strings, out->strings[i].id);
    for (size_t i = mo; i < out->nmodules; i++)
        out->modules[i].id = id_of(s->modules, out->modules[i].id);
    for (size_t i = sk; i < out->nstacks; i++) {
        ttm_report_stack *x = &out->stacks[i];
        x->id = id_of(s->stacks, x->id);
        for (size_t k = 0; k < x->nframes; k++)
            x->frames[k].module = id_of(s->modules, x->frames[k].module);
    }
    return TTM_OK;
}

/* The largest id of a list (string, module, stack), the next part's ids go past it. */
static uint32_t max_id(const void *arr, size_t n, size_t size)
{
    uint32_t m = 0, id;
    for (size_t i = 0; i < n; i++) {
        memcpy(&id, (const char *)arr + i * size, sizeof id); /* id is each entry's first member */
        if (id > m)
            m = id;
    }
    return m;
}
_Static_assert(offsetof(ttm_report_string, id) == 0 && offsetof(ttm_report_module, id) == 0 &&
                   offsetof(ttm_report_stack, id) == 0,
               "ids first");

/* Sorts and cuts the joined lists as one run's are. */
static void finish(ttm_report *out, size_t top, size_t max_leaks)
{
    for (unsigned c = 0; c < TTM_CLASS__COUNT; c++) {
        ttm_report_class *oc = &out->classes[c];
        ttm__qsort(oc->offenders, oc->noffenders, sizeof *oc->offenders, ttm__offender_cmp);
        if (oc->noffenders > top)
            oc->noffenders = top; /* the rest stay allocated, unlisted */
    }
    ttm__qsort(out->unmatched, out->nunmatched, sizeof *out->unmatched, ttm__report_unmatched_cmp);
    if (out->nunmatched > top)
        out->nunmatched = top;
    ttm__qsort(out->leaks, out->nleaks, sizeof *out->leaks, ttm__leak_cmp);
    if (out->nleaks > max_leaks)
        out->nleaks = max_leaks;
    ttm__qsort(out->leak_groups, out->nleak_groups, sizeof *out->leak_groups, ttm__leak_group_cmp);
    ttm__qsort(out->live_sites, out->nlive_sites, sizeof *out->live_sites, live_site_cmp);
    if (out->nlive_sites > top)
        out->nlive_sites = top;
    ttm__qsort(out->breakdown, out->nbreakdown, sizeof *out->breakdown, ttm__breakdown_cmp);
    const ttm_totals *t = &out->totals;
    out->excess_free_pct =
        t->allocs > 0 ? ((double)t->frees - (double)t->allocs) * 100.0 / (double)t->allocs : 0;
}

int ttm_report_join(ttm_report *out, ttm_report *parts, size_t n, const ttm_report_options *opt)
{
    memset(out, 0, sizeof *out);
    out->schema_version = TTM_REPORT_SCHEMA_VERSION;
    if (n > TTM_REPORT_JOIN_HOSTS)
        return TTM_ERANGE;
    for (size_t k = 0; k < n; k++)
        for (size_t i = 0; i < parts[k].ndevices; i++)
            if (parts[k].devices[i].device >= TTM_REPORT_JOIN_DEVICES)
                return TTM_ERANGE;
    size_t top = opt && opt->top ? opt->top : 10;
    size_t max_leaks = opt && opt->max_leaks ? opt->max_leaks : 20;
    shift s = {0};
    int err = TTM_OK;
    ttm_cause_stats causes[TTM_CAUSE__COUNT];
    ttm_causes_info causes_info;
    memset(causes, 0, sizeof causes);
    memset(&causes_info, 0, sizeof causes_info);
    for (size_t k = 0; k < n && err == TTM_OK; k++) {
        ttm_report *p = &parts[k];
        s.host = (uint32_t)k;
        out->sections |= p->sections & (TTM_REPORT_SECTIONS | TTM_SNAP_BIT(TTM_SNAP_SEC_STACKS));
        join_totals(out, p, k == 0);
        ttm_report_causes_add(causes, &causes_info, p, dev_of(&s, 0));
        /* past every id the part's table gave, listed or not */
        uint32_t ns = max_id(p->strings, p->nstrings, sizeof *p->strings);
        uint32_t nm = max_id(p->modules, p->nmodules, sizeof *p->modules);
        uint32_t nk = max_id(p->stacks, p->nstacks, sizeof *p->stacks);
        ns = ns > p->stack_stats.strings ? ns : (uint32_t)p->stack_stats.strings;
        nm = nm > p->stack_stats.modules ? nm : (uint32_t)p->stack_stats.modules;
        nk = nk > p->stack_stats.stacks ? nk : (uint32_t)p->stack_stats.stacks;
        err = join_records(out, p, &s);
        if (err == TTM_OK)
            err = join_sites(out, p, &s);
        s.strings += ns;
        s.modules += nm;
        s.stacks += nk;
    }
    if (err == TTM_OK)
        err = ttm__report_causes_set(out, causes, &causes_info);
    if (err != TTM_OK) {
        ttm_report_clear(out);
        return err;
    }
    finish(out, top, max_leaks);
    return TTM_OK;
}
