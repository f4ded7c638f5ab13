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
#include "common/util.h"

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

/* ---- the packed rows (report.h, ttm_report_packed) ------------------------------------------ */

/* A list of records with an allocation context: how the packed contexts reach them. */
typedef struct ctx_list {
    const char *what;                                  /* "leak", "live buffer" */
    size_t (*count)(const ttm_report *r);              /* records listed */
    ttm_context (*get)(const ttm_report *r, size_t k); /* record k's context */
    void (*set)(ttm_report *r, size_t k, const ttm_context *c);
    unsigned section; /* the section that carries the records */
    size_t packed_n;  /* offsetof ttm_report_packed: the count of the carriers */
    size_t packed_at; /* ... and their array */
} ctx_list;

static size_t leaks_count(const ttm_report *r) { return r->nleaks; }
static size_t live_count(const ttm_report *r) { return r->nlive; }

static ttm_context leak_get(const ttm_report *r, size_t k)
{
    return (ttm_context){r->leaks[k].stack, r->leaks[k].scope, r->leaks[k].phase};
}

static ttm_context live_get(const ttm_report *r, size_t k)
{
    return (ttm_context){r->live[k].stack, r->live[k].scope, r->live[k].phase};
}

static void leak_set(ttm_report *r, size_t k, const ttm_context *c)
{
    r->leaks[k].stack = c->stack;
    r->leaks[k].scope = c->scope;
    r->leaks[k].phase = c->phase;
}

static void live_set(ttm_report *r, size_t k, const ttm_context *c)
{
    r->live[k].stack = c->stack;
    r->live[k].scope = c->scope;
    r->live[k].phase = c->phase;
}

static const ctx_list ctx_lists[] = {
    {"leak", leaks_count, leak_get, leak_set, TTM_SNAP_SEC_FINDINGS,
     offsetof(ttm_report_packed, nleak_contexts), offsetof(ttm_report_packed, leak_contexts)},
    {"live buffer", live_count, live_get, live_set, TTM_SNAP_SEC_LIVE,
     offsetof(ttm_report_packed, nlive_contexts), offsetof(ttm_report_packed, live_contexts)},
};

static bool context_set(const ttm_context *c)
{
    return (c->stack | c->scope | c->phase) != 0;
}

/* The carriers of one list's contexts: those that are set, with their places (none when the
 * list's section is not sent). */
static int pack_contexts(const ttm_report *r, const ctx_list *l, ttm_report_packed *p)
{
    size_t total = (r->sections & TTM_SNAP_BIT(l->section)) ? l->count(r) : 0, n = 0;
    for (size_t k = 0; k < total; k++) {
        ttm_context c = l->get(r, k);
        n += context_set(&c);
    }
    if (n == 0)
        return TTM_OK;
    ttm_report_context *out = ttm__calloc(n, sizeof *out);
    if (out == NULL)
        return TTM_ENOMEM;
    n = 0;
    for (size_t k = 0; k < total; k++) {
        ttm_context c = l->get(r, k);
        if (context_set(&c))
            out[n++] = (ttm_report_context){
                .index = (uint32_t)k, .stack = c.stack, .scope = c.scope, .phase = c.phase};
    }
    memcpy((uint8_t *)p + l->packed_at, &out, sizeof out);
    memcpy((uint8_t *)p + l->packed_n, &n, sizeof n);
    return TTM_OK;
}

/* The carriers of r's packed rows into *p (zeroed first): the totals' counters, and of the
 * sections sent, the offenders that have sites, the leaks and live buffers that have a
 * context. */
static int pack(const ttm_report *r, ttm_report_packed *p)
{
    memset(p, 0, sizeof *p);
    p->phases_dropped = r->totals.phases_dropped;
    p->leak_groups_folded = r->totals.leak_groups_folded;
    p->breakdown_folded = r->totals.breakdown_folded;
    size_t n = 0;
    unsigned nclasses = (r->sections & TTM_SNAP_BIT(TTM_SNAP_SEC_FINDINGS)) ? TTM_CLASS__COUNT : 0;
    for (unsigned c = 0; c < nclasses; c++)
        for (size_t k = 0; k < r->classes[c].noffenders; k++)
            n += r->classes[c].offenders[k].nsites > 0 || r->classes[c].offenders[k].sites_other;
    if (n > 0 && (p->offender_sites = ttm__calloc(n, sizeof *p->offender_sites)) == NULL)
        goto out_nomem;
    for (unsigned c = 0; c < nclasses; c++)
        for (size_t k = 0; k < r->classes[c].noffenders; k++) {
            const ttm_offender *o = &r->classes[c].offenders[k];
            if (o->nsites == 0 && o->sites_other == 0)
                continue;
            ttm_report_offender_sites *os = &p->offender_sites[p->noffender_sites++];
            os->cls = c;
            os->index = (uint32_t)k;
            os->nsites = o->nsites;
            memcpy(os->sites, o->sites, sizeof os->sites);
            os->sites_other = o->sites_other;
        }
    for (size_t l = 0; l < sizeof ctx_lists / sizeof ctx_lists[0]; l++)
        if (pack_contexts(r, &ctx_lists[l], p) != TTM_OK)
            goto out_nomem;
    return TTM_OK;

out_nomem:
    ttm__schema_free(&ttm_rec_report_packed, p);
    return TTM_ENOMEM;
}

/* Puts the carriers of r->packed back on their records and frees them: TTM_EPROTO (msg says
 * which) when one names a record the report does not hold. */
static int unpack(ttm_report *r, char *msg, size_t msg_len)
{
    ttm_report_packed *p = &r->packed;
    int err = TTM_OK;
    r->totals.phases_dropped = p->phases_dropped;
    r->totals.leak_groups_folded = p->leak_groups_folded;
    r->totals.breakdown_folded = p->breakdown_folded;
    for (size_t i = 0; i < p->noffender_sites && err == TTM_OK; i++) {
        const ttm_report_offender_sites *os = &p->offender_sites[i];
        ttm_report_class *rc = &r->classes[os->cls]; /* a checked class: below the count */
        if (os->index >= rc->noffenders) {
            err = TTM_EPROTO;
            ttm__set_msg(msg, msg_len, "stacks: sites of offender %u of %s, which is not there",
                         (unsigned)os->index, ttm_class_name(os->cls));
            break;
        }
        ttm_offender *o = &rc->offenders[os->index];
        o->nsites = os->nsites;
        memcpy(o->sites, os->sites, sizeof o->sites);
        o->sites_other = os->sites_other;
    }
    for (size_t l = 0; l < sizeof ctx_lists / sizeof ctx_lists[0] && err == TTM_OK; l++) {
        const ctx_list *cl = &ctx_lists[l];
        size_t n, total = cl->count(r);
        const ttm_report_context *c;
        memcpy(&n, (const uint8_t *)p + cl->packed_n, sizeof n);
        memcpy(&c, (const uint8_t *)p + cl->packed_at, sizeof c);
        for (size_t i = 0; i < n; i++) {
            if (c[i].index >= total) {
                err = TTM_EPROTO;
                ttm__set_msg(msg, msg_len, "stacks: context of %s %u, which is not there",
                             cl->what, (unsigned)c[i].index);
                break;
            }
            cl->set(r, c[i].index,
                    &(ttm_context){.stack = c[i].stack, .scope = c[i].scope, .phase = c[i].phase});
        }
    }
    ttm__schema_free(&ttm_rec_report_packed, p);
    memset(p, 0, sizeof *p);
    return err;
}

int ttm_report_encode(const ttm_report *r, ttm_bytes *out)
{
    if (!(r->sections & TTM_SNAP_BIT(TTM_SNAP_SEC_STACKS)))
        return ttm__snap_encode_sections(&ttm_rec_report, r, r->sections, out);
    ttm_report w = *r; /* shallow: only its carriers are its own */
    int err = pack(r, &w.packed);
    if (err == TTM_OK)
        err = ttm__snap_encode_sections(&ttm_rec_report, &w, w.sections, out);
    ttm__schema_free(&ttm_rec_report_packed, &w.packed);
    return err;
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
    if ((err = unpack(out, msg, msg_len)) != TTM_OK)
        ttm_report_clear(out);
    return err;
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
