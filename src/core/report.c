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

int ttm__report_unmatched_cmp(const void *a, const void *b)
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
 * more times than they were allocated. Keeps the `top` worst. Only those three classes' entries
 * are fetched (the leaks of a big exit are offenders too: thousands, none of them unmatched). */
static int build_unmatched(ttm_report *r, const ttm_registry *reg, size_t top)
{
    static const unsigned classes[] = {TTM_CLASS_EXCESS_FREE, TTM_CLASS_UNKNOWN_FREE,
                                       TTM_CLASS_DOUBLE_FREE};
    size_t counts[3], n = 0;
    for (size_t c = 0; c < 3; c++)
        n += counts[c] = ttm_registry_offenders(reg, classes[c], NULL, 0);
    if (n == 0)
        return TTM_OK;
    ttm_offender *all = ttm__calloc(n, sizeof *all);
    ttm_report_unmatched *u = ttm__calloc(n, sizeof *u);
    if (all == NULL || u == NULL) {
        ttm__free(all);
        ttm__free(u);
        return TTM_ENOMEM;
    }
    n = 0;
    for (size_t c = 0; c < 3; c++)
        n += ttm_registry_offenders(reg, classes[c], all + n, counts[c]);
    ttm__qsort(all, n, sizeof *all, offender_key_cmp);
    size_t nu = 0;
    for (size_t i = 0; i < n; i++) {
        const ttm_offender *o = &all[i];
        ttm_report_unmatched *cur = &u[nu > 0 ? nu - 1 : 0];
        if (nu == 0 || cur->device != o->device || cur->addr != o->addr) {
            cur = &u[nu++];
            cur->device = o->device;
            cur->addr = o->addr;
            cur->memtype = o->memtype;
        }
        if (cur->memtype == TTM_MEM_ANY)
            cur->memtype = o->memtype;
        cur->addr_dec = cur->addr_dec || o->addr_dec;
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
    ttm__qsort(u, nu, sizeof *u, ttm__report_unmatched_cmp);
    r->unmatched_addrs = nu;
    r->nunmatched = nu < top ? nu : top;
    r->unmatched = u;
    return TTM_OK;
}

static void free_list(const ttm_record *rec, void *arr, size_t n);

/* ---- causes ------------------------------------------------------------------------------- */

/* The order of r->causes: frees descending, then allocs descending, then the cause. */
static int cause_cmp(const void *a, const void *b)
{
    const ttm_cause_stats *x = &((const ttm_report_cause *)a)->stats;
    const ttm_cause_stats *y = &((const ttm_report_cause *)b)->stats;
    if (x->frees != y->frees)
        return x->frees > y->frees ? -1 : 1;
    if (x->allocs != y->allocs)
        return x->allocs > y->allocs ? -1 : 1;
    return x->cause < y->cause ? -1 : x->cause > y->cause;
}

uint64_t ttm__report_causes_frees(const ttm_report *r)
{
    uint64_t total = 0;
    for (size_t i = 0; i < r->ncauses; i++)
        total += r->causes[i].stats.frees;
    return total;
}

int ttm__report_causes_finish(ttm_report *r)
{
    uint64_t total = ttm__report_causes_frees(r);
    int err = TTM_OK;
    for (size_t i = 0; i < r->ncauses; i++) {
        ttm_report_cause *c = &r->causes[i];
        c->share_pct = total > 0 ? (double)c->stats.frees * 100.0 / (double)total : 0;
        char text[512];
        ttm_cause_describe(&c->stats, text, sizeof text);
        ttm__free(c->evidence);
        size_t n = strlen(text);
        if ((c->evidence = ttm__malloc(n + 1)) == NULL) {
            err = TTM_ENOMEM;
            continue;
        }
        memcpy(c->evidence, text, n + 1);
    }
    return err;
}

int ttm__report_causes_set(ttm_report *r, const ttm_cause_stats all[TTM_CAUSE__COUNT],
                           const ttm_causes_info *info)
{
    free_list(&ttm_rec_report_cause, r->causes, r->ncauses);
    r->causes = NULL;
    r->ncauses = 0;
    if (info != NULL)
        r->causes_info = *info;
    else
        memset(&r->causes_info, 0, sizeof r->causes_info);
    size_t n = 0;
    for (unsigned c = 0; c < TTM_CAUSE__COUNT; c++)
        n += all[c].frees > 0 || all[c].allocs > 0;
    if (n == 0)
        return TTM_OK;
    if ((r->causes = ttm__calloc(n, sizeof *r->causes)) == NULL)
        return TTM_ENOMEM;
    for (unsigned c = 0; c < TTM_CAUSE__COUNT; c++)
        if (all[c].frees > 0 || all[c].allocs > 0) {
            ttm_report_cause *rc = &r->causes[r->ncauses++];
            rc->stats = all[c];
            rc->stats.cause = (ttm_cause)c;
            if (rc->stats.ninstances > TTM_CAUSE_INSTANCES)
                rc->stats.ninstances = TTM_CAUSE_INSTANCES;
            if (rc->stats.npids > TTM_CAUSE_PIDS)
                rc->stats.npids = TTM_CAUSE_PIDS;
        }
    ttm__qsort(r->causes, r->ncauses, sizeof *r->causes, cause_cmp);
    if (ttm__report_causes_finish(r) != TTM_OK) {
        free_list(&ttm_rec_report_cause, r->causes, r->ncauses);
        r->causes = NULL;
        r->ncauses = 0;
        return TTM_ENOMEM;
    }
    return TTM_OK;
}

static int fill_causes(ttm_report *r, const ttm_registry *reg)
{
    ttm_cause_stats all[TTM_CAUSE__COUNT];
    ttm_causes_info info;
    memset(all, 0, sizeof all);
    memset(&info, 0, sizeof info);
    ttm_registry_causes(reg, all, &info);
    return ttm__report_causes_set(r, all, &info);
}

static int fill_findings(ttm_report *r, const ttm_registry *reg, size_t top, size_t max_leaks);
static int fill_devices(ttm_report *r, const ttm_registry *reg);
static int fill_procs(ttm_report *r, const ttm_registry *reg);
static int fill_stacks(ttm_report *r, const ttm_registry *reg, size_t top);

/* Each process's top `top` live allocation sites (one walk of the live records). */
static int fill_proc_sites(ttm_report *r, const ttm_registry *reg, size_t top)
{
    size_t n = ttm_registry_proc_sites(reg, top, NULL, 0);
    if (n == 0) /* no live buffer (or memory short for the walk's table: then none listed) */
        return TTM_OK;
    if ((r->proc_sites = ttm__calloc(n, sizeof *r->proc_sites)) == NULL)
        return TTM_ENOMEM;
    size_t got = ttm_registry_proc_sites(reg, top, r->proc_sites, n);
    if (got == 0)
        return TTM_ENOMEM;
    r->nproc_sites = got < n ? got : n;
    return TTM_OK;
}

int ttm_report_fill(const ttm_registry *reg, const ttm_report_options *opt, ttm_report *r)
{
    size_t top = opt && opt->top ? opt->top : 10;
    size_t max_leaks = opt && opt->max_leaks ? opt->max_leaks : 20;
    const uint32_t all = TTM_REPORT_SECTIONS | TTM_SNAP_BIT(TTM_SNAP_SEC_STACKS) |
                         TTM_SNAP_BIT(TTM_SNAP_SEC_PROCSITES);
    uint32_t want = opt && opt->sections ? opt->sections & all : TTM_REPORT_SECTIONS;
    memset(r, 0, sizeof *r);
    r->schema_version = TTM_REPORT_SCHEMA_VERSION;
    r->sections = want | TTM_SNAP_BIT(TTM_SNAP_SEC_TOTALS);
    ttm_registry_totals(reg, &r->totals);
    if (want & TTM_SNAP_BIT(TTM_SNAP_SEC_FINDINGS)) {
        if (fill_findings(r, reg, top, max_leaks) != TTM_OK)
            goto out_nomem;
    }
    if ((want & TTM_SNAP_BIT(TTM_SNAP_SEC_CAUSES)) && fill_causes(r, reg) != TTM_OK)
        goto out_nomem;
    if ((want & TTM_SNAP_BIT(TTM_SNAP_SEC_DEVICES)) && fill_devices(r, reg) != TTM_OK)
        goto out_nomem;
    if ((want & TTM_SNAP_BIT(TTM_SNAP_SEC_PROCS)) && fill_procs(r, reg) != TTM_OK)
        goto out_nomem;
    if ((want & TTM_SNAP_BIT(TTM_SNAP_SEC_PROCSITES)) && fill_proc_sites(r, reg, top) != TTM_OK)
        goto out_nomem;
    if ((want & TTM_SNAP_BIT(TTM_SNAP_SEC_STACKS)) &&
        (fill_stacks(r, reg, top) != TTM_OK ||
         ttm_report_resolve(r, ttm_registry_stacks_c(reg)) != TTM_OK))
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

/* The registry's call-site lists: every leak group, the top live sites, the phases, the
 * breakdown, the table's counters. The registry's group queries return 0 when memory is short:
 * the second call of one that had rows is then TTM_ENOMEM. */
static int fill_stacks(ttm_report *r, const ttm_registry *reg, size_t top)
{
    size_t n = ttm_registry_leak_groups(reg, NULL, 0);
    if (n > 0) {
        if ((r->leak_groups = ttm__calloc(n, sizeof *r->leak_groups)) == NULL)
            return TTM_ENOMEM;
        if ((r->nleak_groups = ttm_registry_leak_groups(reg, r->leak_groups, n)) == 0)
            return TTM_ENOMEM;
    }
    if ((r->live_sites = ttm__calloc(top, sizeof *r->live_sites)) == NULL)
        return TTM_ENOMEM;
    n = ttm_registry_live_sites(reg, r->live_sites, top); /* one walk: the top ones, all counted */
    r->nlive_sites = n < top ? n : top;
    n = ttm_registry_phases(reg, NULL, 0);
    if (n > 0) {
        if ((r->phases = ttm__calloc(n, sizeof *r->phases)) == NULL)
            return TTM_ENOMEM;
        r->nphases = ttm_registry_phases(reg, r->phases, n);
    }
    n = ttm_registry_breakdown(reg, NULL, 0);
    if (n > 0) {
        if ((r->breakdown = ttm__calloc(n, sizeof *r->breakdown)) == NULL ||
            (r->nbreakdown = ttm_registry_breakdown(reg, r->breakdown, n)) == 0)
            return TTM_ENOMEM;
    }
    ttm_stacks_stats_get(ttm_registry_stacks_c(reg), &r->stack_stats);
    return TTM_OK;
}

/* ---- resolving ids: the stacks, modules and strings a report refers to -------------------- */

/* A growable set of ids: collected, then sorted and made unique. */
typedef struct idset {
    uint32_t *ids;
    size_t n, cap;
    bool nomem;
} idset;

static void idset_add(idset *s, uint32_t id)
{
    if (id == 0 || s->nomem)
        return;
    uint32_t *p = ttm__grow(s->ids, &s->cap, s->n, sizeof *s->ids, 256);
    if (p == NULL) {
        s->nomem = true;
        return;
    }
    s->ids = p;
    s->ids[s->n++] = id;
}

static int id_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void idset_seal(idset *s)
{
    if (s->n == 0)
        return;
    ttm__qsort(s->ids, s->n, sizeof *s->ids, id_cmp);
    size_t k = 1;
    for (size_t i = 1; i < s->n; i++)
        if (s->ids[i] != s->ids[k - 1])
            s->ids[k++] = s->ids[i];
    s->n = k;
}

static void add_context(idset *stacks, idset *strings, uint32_t stack, uint32_t scope,
                        uint32_t phase)
{
    idset_add(stacks, stack);
    idset_add(strings, scope);
    idset_add(strings, phase);
}

/* Every stack and every scope or phase name r's records refer to. */
static void collect_refs(const ttm_report *r, idset *stacks, idset *strings)
{
    for (unsigned c = 0; c < TTM_CLASS__COUNT; c++)
        for (size_t k = 0; k < r->classes[c].noffenders; k++) {
            const ttm_offender *o = &r->classes[c].offenders[k];
            for (unsigned i = 0; i < o->nsites && i < TTM_SITES_MAX; i++) {
                const ttm_site *st = &o->sites[i];
                add_context(stacks, strings, st->stack, st->scope, st->phase);
                idset_add(stacks, st->release_stack);
            }
        }
    for (size_t i = 0; i < r->nleaks; i++)
        add_context(stacks, strings, r->leaks[i].stack, r->leaks[i].scope, r->leaks[i].phase);
    for (size_t i = 0; i < r->nlive; i++)
        add_context(stacks, strings, r->live[i].stack, r->live[i].scope, r->live[i].phase);
    for (size_t i = 0; i < r->nleak_groups; i++)
        idset_add(stacks, r->leak_groups[i].stack);
    for (size_t i = 0; i < r->nlive_sites; i++)
        idset_add(stacks, r->live_sites[i].stack);
    for (size_t i = 0; i < r->nproc_sites; i++)
        idset_add(stacks, r->proc_sites[i].stack);
    for (size_t i = 0; i < r->nphases; i++)
        idset_add(strings, r->phases[i].name);
    for (size_t i = 0; i < r->nbreakdown; i++)
        idset_add(strings, r->breakdown[i].name);
}

/* A NUL-terminated copy of string id (NULL for 0, an id not interned, or memory short: *nomem
 * tells the last). */
static char *string_dup(const ttm_stacks *s, uint32_t id, bool *nomem)
{
    size_t len;
    const char *b = ttm_stacks_string_get(s, id, &len);
    if (b == NULL)
        return NULL;
    char *out = ttm__malloc(len + 1);
    if (out == NULL) {
        *nomem = true;
        return NULL;
    }
    memcpy(out, b, len);
    out[len] = '\0';
    return out;
}

/* The modules met in the stacks' frames: a bit per module id (seen) and the list. */
typedef struct modset {
    uint8_t *seen;
    idset ids;
} modset;

/* Stack id's frames into st (id set already); its native frames' modules into mods. */
static int copy_stack(const ttm_stacks *s, uint32_t id, ttm_report_stack *st, modset *mods)
{
    const uint32_t *fr;
    size_t n = ttm_stacks_stack_get(s, id, &fr);
    if (n == 0)
        return TTM_OK;
    if ((st->frames = ttm__calloc(n, sizeof *st->frames)) == NULL)
        return TTM_ENOMEM;
    st->nframes = n;
    bool nomem = false;
    for (size_t i = 0; i < n; i++) {
        const ttm_frame *f = ttm_stacks_frame_get(s, fr[i]);
        ttm_report_frame *o = &st->frames[i];
        o->kind = f->kind;
        if (f->kind == TTM_FRAME_NATIVE) {
            o->module = f->module;
            o->offset = f->offset;
            if (f->module != 0 && !(mods->seen[f->module / 8] & (1u << (f->module % 8)))) {
                mods->seen[f->module / 8] |= (uint8_t)(1u << (f->module % 8));
                idset_add(&mods->ids, f->module);
            }
            continue;
        }
        /* PYTHON and TEXT: the names themselves (a TEXT frame's module name stands in for
         * its file when the text gave no file) */
        o->function = string_dup(s, f->function, &nomem);
        o->file = string_dup(s, f->file != 0 ? f->file
                                 : f->kind == TTM_FRAME_TEXT ? f->module : 0, &nomem);
        o->line = f->line;
    }
    return nomem || mods->ids.nomem ? TTM_ENOMEM : TTM_OK;
}

static char *hex_dup(const uint8_t *b, size_t n)
{
    char *out = ttm__malloc(2 * n + 1);
    if (out == NULL)
        return NULL;
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
    return out;
}

static int copy_module(const ttm_stacks *s, uint32_t id, ttm_report_module *m)
{
    ttm_module_info mi;
    m->id = id;
    if (!ttm_stacks_module_get(s, id, &mi))
        return TTM_OK; /* cannot be: native frames hold interned modules */
    m->path = ttm__malloc(mi.path_len + 1);
    m->build_id = hex_dup(mi.build_id, mi.build_id_len);
    if (m->path == NULL || m->build_id == NULL)
        return TTM_ENOMEM;
    memcpy(m->path, mi.path, mi.path_len);
    m->path[mi.path_len] = '\0';
    return TTM_OK;
}

/* Frees a dyn list of rec's elements and empties it. */
static void free_list(const ttm_record *rec, void *arr, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ttm__schema_free(rec, (uint8_t *)arr + i * rec->size);
    ttm__free(arr);
}

static void clear_refs(ttm_report *r)
{
    free_list(&ttm_rec_report_string, r->strings, r->nstrings);
    free_list(&ttm_rec_report_module, r->modules, r->nmodules);
    free_list(&ttm_rec_report_stack, r->stacks, r->nstacks);
    r->strings = NULL;
    r->modules = NULL;
    r->stacks = NULL;
    r->nstrings = r->nmodules = r->nstacks = 0;
}

int ttm_report_resolve(ttm_report *r, const ttm_stacks *s)
{
    clear_refs(r);
    idset stacks = {0}, strings = {0};
    modset mods = {0};
    int err = TTM_OK;
    ttm_stacks_stats ss;
    ttm_stacks_stats_get(s, &ss);
    collect_refs(r, &stacks, &strings);
    idset_seal(&stacks);
    idset_seal(&strings);
    if (stacks.nomem || strings.nomem ||
        (mods.seen = ttm__calloc((size_t)ss.modules / 8 + 1, 1)) == NULL)
        goto out_nomem;
    if (stacks.n > 0 && (r->stacks = ttm__calloc(stacks.n, sizeof *r->stacks)) == NULL)
        goto out_nomem;
    for (size_t i = 0; i < stacks.n; i++) {
        ttm_report_stack *st = &r->stacks[r->nstacks++];
        st->id = stacks.ids[i];
        if (copy_stack(s, st->id, st, &mods) != TTM_OK)
            goto out_nomem;
    }
    idset_seal(&mods.ids);
    if (mods.ids.n > 0 && (r->modules = ttm__calloc(mods.ids.n, sizeof *r->modules)) == NULL)
        goto out_nomem;
    for (size_t i = 0; i < mods.ids.n; i++)
        if (copy_module(s, mods.ids.ids[i], &r->modules[r->nmodules++]) != TTM_OK)
            goto out_nomem;
    if (strings.n > 0 && (r->strings = ttm__calloc(strings.n, sizeof *r->strings)) == NULL)
        goto out_nomem;
    for (size_t i = 0; i < strings.n; i++) {
        bool nomem = false;
        char *text = string_dup(s, strings.ids[i], &nomem);
        if (nomem)
            goto out_nomem;
        if (text != NULL)
            r->strings[r->nstrings++] = (ttm_report_string){.id = strings.ids[i], .text = text};
    }
    goto out_free_sets;

out_nomem:
    err = TTM_ENOMEM;
    clear_refs(r);
out_free_sets:
    ttm__free(stacks.ids);
    ttm__free(strings.ids);
    ttm__free(mods.ids.ids);
    ttm__free(mods.seen);
    return err;
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

static bool side_set(const ttm_report_side *c)
{
    static const ttm_report_side zero;
    return memcmp(c, &zero, sizeof zero) != 0;
}

/* The carriers of the side log counters: the daemon's, and those of the processes that have
 * some (none when their section is not sent). */
static int pack_sides(const ttm_report *r, ttm_report_packed *p)
{
    if (r->sections & TTM_SNAP_BIT(TTM_SNAP_SEC_DAEMON))
        p->daemon_side = r->daemon.side;
    size_t total = (r->sections & TTM_SNAP_BIT(TTM_SNAP_SEC_PROCS)) ? r->nprocs : 0, n = 0;
    for (size_t k = 0; k < total; k++)
        n += side_set(&r->procs[k].side);
    if (n == 0)
        return TTM_OK;
    if ((p->proc_sides = ttm__calloc(n, sizeof *p->proc_sides)) == NULL)
        return TTM_ENOMEM;
    for (size_t k = 0; k < total; k++)
        if (side_set(&r->procs[k].side))
            p->proc_sides[p->nproc_sides++] =
                (ttm_report_proc_side){.index = (uint32_t)k, .side = r->procs[k].side};
    return TTM_OK;
}

/* The carriers of r's packed rows into *p (zeroed first): the totals' counters, and of the
 * sections sent, the side log counters, the offenders that have sites, the leaks and live
 * buffers that have a context. */
static int pack(const ttm_report *r, ttm_report_packed *p)
{
    memset(p, 0, sizeof *p);
    p->phases_dropped = r->totals.phases_dropped;
    p->leak_groups_folded = r->totals.leak_groups_folded;
    p->breakdown_folded = r->totals.breakdown_folded;
    if (pack_sides(r, p) != TTM_OK)
        goto out_nomem;
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
    r->daemon.side = p->daemon_side;
    for (size_t i = 0; i < p->nproc_sides && err == TTM_OK; i++) {
        if (p->proc_sides[i].index >= r->nprocs) {
            err = TTM_EPROTO;
            ttm__set_msg(msg, msg_len, "stacks: side log counters of process %u, which is not "
                                       "there",
                         (unsigned)p->proc_sides[i].index);
            break;
        }
        r->procs[p->proc_sides[i].index].side = p->proc_sides[i].side;
    }
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

/* ---- the decimal addresses (report.h, ttm_report_dec_addr) --------------------------------- */

static const uint32_t dec_sections =
    TTM_SNAP_BIT(TTM_SNAP_SEC_FINDINGS) | TTM_SNAP_BIT(TTM_SNAP_SEC_CAUSES);

/* The carriers of the findings' addr_dec into w->dec_addrs (none unless both FINDINGS and
 * CAUSES are sent: FINDINGS holds the flags, CAUSES carries them). */
static int pack_dec_addrs(const ttm_report *r, ttm_report *w)
{
    w->dec_addrs = NULL;
    w->ndec_addrs = 0;
    if ((r->sections & dec_sections) != dec_sections)
        return TTM_OK;
    size_t n = 0;
    for (unsigned c = 0; c < TTM_CLASS__COUNT; c++)
        for (size_t k = 0; k < r->classes[c].noffenders; k++)
            n += r->classes[c].offenders[k].addr_dec;
    for (size_t k = 0; k < r->nunmatched; k++)
        n += r->unmatched[k].addr_dec;
    if (n == 0)
        return TTM_OK;
    if ((w->dec_addrs = ttm__calloc(n, sizeof *w->dec_addrs)) == NULL)
        return TTM_ENOMEM;
    for (unsigned c = 0; c < TTM_CLASS__COUNT; c++)
        for (size_t k = 0; k < r->classes[c].noffenders; k++) {
            const ttm_offender *o = &r->classes[c].offenders[k];
            if (o->addr_dec)
                w->dec_addrs[w->ndec_addrs++] =
                    (ttm_report_dec_addr){.device = o->device, .addr = o->addr};
        }
    for (size_t k = 0; k < r->nunmatched; k++) {
        const ttm_report_unmatched *u = &r->unmatched[k];
        if (u->addr_dec)
            w->dec_addrs[w->ndec_addrs++] =
                (ttm_report_dec_addr){.device = u->device, .addr = u->addr};
    }
    return TTM_OK;
}

static bool dec_listed(const ttm_report *r, uint16_t device, uint64_t addr)
{
    for (size_t i = 0; i < r->ndec_addrs; i++)
        if (r->dec_addrs[i].device == device && r->dec_addrs[i].addr == addr)
            return true;
    return false;
}

/* Puts the carriers of the decimal addresses back on the offenders and unmatched entries at
 * those (device, address) and frees them. */
static void unpack_dec_addrs(ttm_report *r)
{
    if (r->ndec_addrs > 0) {
        for (unsigned c = 0; c < TTM_CLASS__COUNT; c++)
            for (size_t k = 0; k < r->classes[c].noffenders; k++) {
                ttm_offender *o = &r->classes[c].offenders[k];
                o->addr_dec = dec_listed(r, o->device, o->addr);
            }
        for (size_t k = 0; k < r->nunmatched; k++)
            r->unmatched[k].addr_dec =
                dec_listed(r, r->unmatched[k].device, r->unmatched[k].addr);
    }
    ttm__free(r->dec_addrs);
    r->dec_addrs = NULL;
    r->ndec_addrs = 0;
}

/* ---- the command lines (report.h, ttm_report_proc_info) ------------------------------------ */

/* The carriers of the processes' cmdline into w->proc_infos, borrowing the strings (none
 * unless PROCS and PROCINFO are both sent). */
static int pack_proc_infos(const ttm_report *r, ttm_report *w)
{
    static const uint32_t both = TTM_SNAP_BIT(TTM_SNAP_SEC_PROCS) |
                                 TTM_SNAP_BIT(TTM_SNAP_SEC_PROCINFO);
    w->proc_infos = NULL;
    w->nproc_infos = 0;
    if ((r->sections & both) != both)
        return TTM_OK;
    size_t n = 0;
    for (size_t k = 0; k < r->nprocs; k++)
        n += r->procs[k].cmdline != NULL;
    if (n == 0)
        return TTM_OK;
    if ((w->proc_infos = ttm__calloc(n, sizeof *w->proc_infos)) == NULL)
        return TTM_ENOMEM;
    for (size_t k = 0; k < r->nprocs; k++)
        if (r->procs[k].cmdline != NULL)
            w->proc_infos[w->nproc_infos++] =
                (ttm_report_proc_info){.index = (uint32_t)k, .cmdline = r->procs[k].cmdline};
    return TTM_OK;
}

/* Moves the carried command lines onto their processes and frees the carriers: TTM_EPROTO (msg
 * says which) when one names a process the report does not hold. */
static int unpack_proc_infos(ttm_report *r, char *msg, size_t msg_len)
{
    int err = TTM_OK;
    for (size_t i = 0; i < r->nproc_infos; i++) {
        ttm_report_proc_info *pi = &r->proc_infos[i];
        if (pi->index >= r->nprocs) {
            if (err == TTM_OK)
                ttm__set_msg(msg, msg_len, "procinfo: command line of process %u, which is not "
                                           "there",
                             (unsigned)pi->index);
            err = TTM_EPROTO;
        } else {
            ttm__free(r->procs[pi->index].cmdline); /* a second carrier of one process wins */
            r->procs[pi->index].cmdline = pi->cmdline;
            pi->cmdline = NULL;
        }
        ttm__free(pi->cmdline);
    }
    ttm__free(r->proc_infos);
    r->proc_infos = NULL;
    r->nproc_infos = 0;
    return err;
}

int ttm_report_encode(const ttm_report *r, ttm_bytes *out)
{
    ttm_report w = *r; /* shallow: only its carriers are its own */
    memset(&w.packed, 0, sizeof w.packed);
    int err = pack_dec_addrs(r, &w);
    if (err == TTM_OK)
        err = pack_proc_infos(r, &w);
    if (err == TTM_OK && (r->sections & TTM_SNAP_BIT(TTM_SNAP_SEC_STACKS)))
        err = pack(r, &w.packed);
    if (err == TTM_OK)
        err = ttm__snap_encode_sections(&ttm_rec_report, &w, w.sections, out);
    ttm__schema_free(&ttm_rec_report_packed, &w.packed);
    ttm__free(w.dec_addrs);
    ttm__free(w.proc_infos); /* the strings are r's */
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
    unpack_dec_addrs(out);
    if ((err = unpack_proc_infos(out, msg, msg_len)) == TTM_OK)
        err = unpack(out, msg, msg_len);
    if (err != TTM_OK)
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
