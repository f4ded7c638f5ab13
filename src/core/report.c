/*
 * report.c — builds the report model from a registry: totals, classes with their worst
 * offenders, frees matched to no allocation merged per address, leaks, devices, processes;
 * and carries it as a snapshot (encode, decode, fetch) through the tables of report_schema.c.
 */
#include "core/report.h"

#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/snapshot.h"

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
        u->more_pids = true;
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
            cur->more_pids = true;
    }
    ttm__free(all);
    qsort(u, nu, sizeof *u, unmatched_cmp);
    r->unmatched_addrs = nu;
    r->nunmatched = nu < top ? nu : top;
    r->unmatched = u;
    return TTM_OK;
}

static int fill_findings(ttm_report *r, const ttm_registry *reg, size_t top, size_t max_leaks);
static int fill_devices(ttm_report *r, const ttm_registry *reg);
static int fill_procs(ttm_report *r, const ttm_registry *reg);

int ttm_report_fill(const ttm_registry *reg, const ttm_report_options *opt, ttm_report *r)
{
    size_t top = opt && opt->top ? opt->top : 10;
    size_t max_leaks = opt && opt->max_leaks ? opt->max_leaks : 20;
    const uint32_t all = TTM_REPORT_SECTIONS;
    uint32_t want = opt && opt->sections ? opt->sections & all : all;
    memset(r, 0, sizeof *r);
    r->schema_version = TTM_REPORT_SCHEMA_VERSION;
    r->sections = want | TTM_SNAP_BIT(TTM_SNAP_SEC_TOTALS);
    ttm_registry_totals(reg, &r->totals);
    if (want & TTM_SNAP_BIT(TTM_SNAP_SEC_FINDINGS)) {
        if (fill_findings(r, reg, top, max_leaks) != TTM_OK)
            goto out_nomem;
    }
    if ((want & TTM_SNAP_BIT(TTM_SNAP_SEC_DEVICES)) && fill_devices(r, reg) != TTM_OK)
        goto out_nomem;
    if ((want & TTM_SNAP_BIT(TTM_SNAP_SEC_PROCS)) && fill_procs(r, reg) != TTM_OK)
        goto out_nomem;
    return TTM_OK;

out_nomem:
    ttm_report_clear(r);
    return TTM_ENOMEM;
}

/* The classes with their worst offenders, the unmatched frees, the leaks. */
static int fill_findings(ttm_report *r, const ttm_registry *reg, size_t top, size_t max_leaks)
{
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
            return TTM_ENOMEM;
        ttm_registry_offenders(reg, c, rc->offenders, k);
        rc->noffenders = k;
    }
    if (build_unmatched(r, reg, top) != TTM_OK)
        return TTM_ENOMEM;

    r->leaked_count = t->class_count[TTM_CLASS_LEAKED_AT_EXIT];
    r->leaked_bytes = t->class_bytes[TTM_CLASS_LEAKED_AT_EXIT];
    size_t nl = ttm_registry_leaks(reg, NULL, 0);
    if (nl > 0) {
        size_t k = nl < max_leaks ? nl : max_leaks;
        r->leaks = ttm__calloc(k, sizeof *r->leaks);
        if (r->leaks == NULL)
            return TTM_ENOMEM;
        ttm_registry_leaks(reg, r->leaks, k);
        r->nleaks = k;
    }
    return TTM_OK;
}

static int fill_devices(ttm_report *r, const ttm_registry *reg)
{
    size_t nd = ttm_registry_devices(reg, NULL, 0);
    if (nd > 0) {
        r->devices = ttm__calloc(nd, sizeof *r->devices);
        if (r->devices == NULL)
            return TTM_ENOMEM;
        r->ndevices = ttm_registry_devices(reg, r->devices, nd);
    }
    return TTM_OK;
}

/* Processes, each with a copy of its per-device statistics: a report must not point into the
 * registry. */
static int fill_procs(ttm_report *r, const ttm_registry *reg)
{
    size_t np = ttm_registry_processes(reg, NULL, 0);
    if (np > 0) {
        ttm_proc_stats *tmp = ttm__calloc(np, sizeof *tmp);
        r->procs = ttm__calloc(np, sizeof *r->procs);
        if (tmp == NULL || r->procs == NULL) {
            ttm__free(tmp);
            return TTM_ENOMEM;
        }
        np = ttm_registry_processes(reg, tmp, np);
        r->nprocs = np;
        for (size_t i = 0; i < np; i++) {
            ttm_report_proc *p = &r->procs[i];
            p->stats = tmp[i];
            p->stats.devices = NULL;
            p->stats.ndevices = 0;
            p->registered = true;
            if (tmp[i].ndevices > 0) {
                ttm_proc_mem *copy = ttm__calloc(tmp[i].ndevices, sizeof *copy);
                if (copy == NULL) {
                    ttm__free(tmp);
                    return TTM_ENOMEM;
                }
                memcpy(copy, tmp[i].devices, tmp[i].ndevices * sizeof *copy);
                p->stats.devices = copy;
                p->stats.ndevices = tmp[i].ndevices;
            }
        }
        ttm__free(tmp);
    }
    return TTM_OK;
}

int ttm_report_build(const ttm_registry *reg, const ttm_report_options *opt, ttm_report **out)
{
    *out = NULL;
    ttm_report *r = ttm__calloc(1, sizeof *r);
    if (r == NULL)
        return TTM_ENOMEM;
    int err = ttm_report_fill(reg, opt, r);
    if (err != TTM_OK) {
        ttm__free(r);
        return err;
    }
    *out = r;
    return TTM_OK;
}

void ttm_report_clear(ttm_report *r)
{
    if (r == NULL)
        return;
    ttm__schema_free(&ttm_rec_report, r);
    memset(r, 0, sizeof *r);
}

void ttm_report_free(ttm_report *r)
{
    ttm_report_clear(r);
    ttm__free(r);
}

int ttm_report_encode(const ttm_report *r, ttm_bytes *out)
{
    return ttm__snap_encode_sections(&ttm_rec_report, r, r->sections, out);
}

int ttm_report_decode(const uint8_t *payload, size_t len, ttm_report *out, char *msg,
                      size_t msg_len)
{
    memset(out, 0, sizeof *out);
    uint32_t sections = 0;
    int err = ttm__snap_decode_sections(&ttm_rec_report, out, &sections, payload, len, msg,
                                        msg_len);
    if (err != TTM_OK)
        return err;
    out->schema_version = TTM_REPORT_SCHEMA_VERSION;
    out->sections = sections;
    return TTM_OK;
}

int ttm_report_fetch(const char *path, const ttm_snap_query *q, int timeout_ms, ttm_report *out,
                     char *msg, size_t msg_len)
{
    memset(out, 0, sizeof *out);
    ttm_bytes payload = {0};
    int err = ttm__snap_fetch(path, q, timeout_ms, &payload, msg, msg_len);
    if (err == TTM_OK)
        err = ttm_report_decode(payload.data, payload.len, out, msg, msg_len);
    ttm__bytes_free(&payload);
    return err;
}
