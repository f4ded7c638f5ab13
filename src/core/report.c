/*
 * report.c — builds the report model from a registry: totals, classes with their worst
 * offenders, frees matched to no allocation merged per address, leaks, devices, processes.
 */
#include "core/report.h"

#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"

static int unmatched_cmp(const void *a, const void *b)
{
    const ttm_report_unmatched *x = a, *y = b;
    if (x->total != y->total)
        return x->total > y->total ? -1 : 1;
    if (x->device != y->device)
        return x->device < y->device ? -1 : 1;
    return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static int offender_key_cmp(const void *a, const void *b)
{
    const ttm_offender *x = a, *y = b;
    if (x->device != y->device)
        return x->device < y->device ? -1 : 1;
    if (x->addr != y->addr)
        return x->addr < y->addr ? -1 : 1;
    return 0;
}

static bool is_unmatched(unsigned cls)
{
    return cls == TTM_CLASS_EXCESS_FREE || cls == TTM_CLASS_UNKNOWN_FREE ||
           cls == TTM_CLASS_DOUBLE_FREE;
}

static void add_pid(ttm_report_unmatched *u, uint32_t pid)
{
    for (unsigned i = 0; i < u->npids; i++)
        if (u->pids[i] == pid)
            return;
    if (u->npids < TTM_PROC_MAX_PIDS)
        u->pids[u->npids++] = pid;
    else
        u->more_pids = 1;
}

/* Merges the excess, unknown and double-free offenders per (device, addr): the addresses freed
 * more times than they were allocated. Keeps the `top` worst. */
static int build_unmatched(ttm_report *r, const ttm_registry *reg, size_t top)
{
    size_t n = ttm_registry_offenders(reg, TTM_CLASS__COUNT, NULL, 0);
    if (n == 0)
        return TTM_OK;
    ttm_offender *all = ttm__calloc(n, sizeof *all);
    ttm_report_unmatched *u = ttm__calloc(n, sizeof *u);
    if (all == NULL || u == NULL) {
        ttm__free(all);
        ttm__free(u);
        return TTM_ENOMEM;
    }
    n = ttm_registry_offenders(reg, TTM_CLASS__COUNT, all, n);
    qsort(all, n, sizeof *all, offender_key_cmp);
    size_t nu = 0;
    for (size_t i = 0; i < n; i++) {
        const ttm_offender *o = &all[i];
        if (!is_unmatched(o->cls))
            continue;
        ttm_report_unmatched *cur = &u[nu > 0 ? nu - 1 : 0];
        if (nu == 0 || cur->device != o->device || cur->addr != o->addr) {
            cur = &u[nu++];
            cur->device = o->device;
            cur->addr = o->addr;
            cur->memtype = o->memtype;
        }
        if (cur->memtype == TTM_MEM_ANY)
            cur->memtype = o->memtype;
        if (o->cls == TTM_CLASS_EXCESS_FREE)
            cur->excess += o->count;
        else if (o->cls == TTM_CLASS_UNKNOWN_FREE)
            cur->unknown += o->count;
        else
            cur->dbl += o->count;
        cur->total += o->count;
        for (unsigned p = 0; p < o->npids; p++)
            add_pid(cur, o->pids[p]);
        if (o->more_pids)
            cur->more_pids = 1;
    }
    ttm__free(all);
    qsort(u, nu, sizeof *u, unmatched_cmp);
    r->unmatched_addrs = nu;
    r->nunmatched = nu < top ? nu : top;
    r->unmatched = u;
    return TTM_OK;
}

int ttm_report_build(const ttm_registry *reg, const ttm_report_options *opt, ttm_report **out)
{
    size_t top = opt && opt->top ? opt->top : 10;
    size_t max_leaks = opt && opt->max_leaks ? opt->max_leaks : 20;
    *out = NULL;
    ttm_report *r = ttm__calloc(1, sizeof *r);
    if (r == NULL)
        return TTM_ENOMEM;
    r->schema_version = TTM_REPORT_SCHEMA_VERSION;
    ttm_registry_totals(reg, &r->totals);
    const ttm_totals *t = &r->totals;
    if (t->allocs > 0)
        r->excess_free_pct = ((double)t->frees - (double)t->allocs) * 100.0 / (double)t->allocs;
    r->unmatched_frees = t->class_count[TTM_CLASS_EXCESS_FREE] +
                         t->class_count[TTM_CLASS_UNKNOWN_FREE] +
                         t->class_count[TTM_CLASS_DOUBLE_FREE];

    for (unsigned c = 0; c < TTM_CLASS__COUNT; c++) {
        ttm_report_class *rc = &r->classes[c];
        rc->cls = (ttm_class)c;
        rc->count = t->class_count[c];
        rc->bytes = t->class_bytes[c];
        if (!ttm_class_is_anomaly(c) || rc->count == 0)
            continue;
        rc->distinct_addrs = ttm_registry_offenders(reg, c, NULL, 0);
        size_t k = rc->distinct_addrs < top ? rc->distinct_addrs : top;
        if (k == 0)
            continue;
        rc->offenders = ttm__calloc(k, sizeof *rc->offenders);
        if (rc->offenders == NULL)
            goto out_nomem;
        ttm_registry_offenders(reg, c, rc->offenders, k);
        rc->noffenders = k;
    }
    if (build_unmatched(r, reg, top) != TTM_OK)
        goto out_nomem;

    r->leaked_count = t->class_count[TTM_CLASS_LEAKED_AT_EXIT];
    r->leaked_bytes = t->class_bytes[TTM_CLASS_LEAKED_AT_EXIT];
    size_t nl = ttm_registry_leaks(reg, NULL, 0);
    if (nl > 0) {
        size_t k = nl < max_leaks ? nl : max_leaks;
        r->leaks = ttm__calloc(k, sizeof *r->leaks);
        if (r->leaks == NULL)
            goto out_nomem;
        ttm_registry_leaks(reg, r->leaks, k);
        r->nleaks = k;
    }

    size_t nd = ttm_registry_devices(reg, NULL, 0);
    if (nd > 0) {
        r->devices = ttm__calloc(nd, sizeof *r->devices);
        if (r->devices == NULL)
            goto out_nomem;
        r->ndevices = ttm_registry_devices(reg, r->devices, nd);
    }

    size_t np = ttm_registry_processes(reg, NULL, 0);
    if (np > 0) {
        r->procs = ttm__calloc(np, sizeof *r->procs);
        if (r->procs == NULL)
            goto out_nomem;
        np = ttm_registry_processes(reg, r->procs, np);
        r->nprocs = np;
        for (size_t i = 0; i < np; i++) {
            /* copy the per-device arrays: a report must not point into the registry */
            ttm_proc_stats *ps = &r->procs[i];
            ttm_proc_mem *copy = NULL;
            if (ps->ndevices > 0) {
                copy = ttm__calloc(ps->ndevices, sizeof *copy);
                if (copy == NULL) {
                    for (size_t j = i; j < np; j++)
                        r->procs[j].devices = NULL;
                    goto out_nomem;
                }
                memcpy(copy, ps->devices, ps->ndevices * sizeof *copy);
            }
            ps->devices = copy;
        }
    }
    *out = r;
    return TTM_OK;

out_nomem:
    ttm_report_free(r);
    return TTM_ENOMEM;
}

void ttm_report_free(ttm_report *r)
{
    if (r == NULL)
        return;
    for (unsigned c = 0; c < TTM_CLASS__COUNT; c++)
        ttm__free(r->classes[c].offenders);
    ttm__free(r->unmatched);
    ttm__free(r->leaks);
    ttm__free(r->devices);
    for (size_t i = 0; i < r->nprocs; i++)
        ttm__free((void *)r->procs[i].devices);
    ttm__free(r->procs);
    ttm__free(r);
}
