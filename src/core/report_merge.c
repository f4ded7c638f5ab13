/*
 * report_merge.c — a daemon's records merged into a report of its registry (report_merge.h).
 */
#include "core/report_merge.h"

#include <string.h>

#include "common/alloc.h"

void ttm_report_proc_transport(ttm_report_proc *dst, const ttm_report_proc *src)
{
    dst->uid = src->uid;
    memcpy(dst->name, src->name, sizeof dst->name);
    dst->name[sizeof dst->name - 1] = '\0';
    dst->connected = src->connected;
    dst->reattached = src->reattached;
    dst->events = src->events;
    dst->waited = src->waited;
    dst->dropped = src->dropped;
    dst->prior_events = src->prior_events;
    dst->sessions = src->sessions;
    dst->side = src->side;
}

int ttm_report_merge_procs(ttm_report *r, const ttm_report_proc *daemon, size_t n)
{
    size_t nr = r->nprocs, cap = nr + n;
    if (cap == 0)
        return TTM_OK;
    ttm_report_proc *out = ttm__calloc(cap, sizeof *out);
    if (out == NULL)
        return TTM_ENOMEM;
    size_t i = 0, j = 0, k = 0;
    while (i < nr || j < n) {
        ttm_report_proc *rp = i < nr ? &r->procs[i] : NULL;
        const ttm_report_proc *dp = j < n ? &daemon[j] : NULL;
        if (rp != NULL && dp != NULL && rp->stats.pid != dp->stats.pid) {
            if (rp->stats.pid < dp->stats.pid)
                dp = NULL;
            else
                rp = NULL;
        }
        ttm_report_proc *o = &out[k++];
        if (rp != NULL) {
            *o = *rp; /* takes over stats.devices */
            i++;
        } else {
            o->stats.pid = dp->stats.pid;
            o->stats.alive = dp->stats.alive;
        }
        if (dp != NULL) {
            ttm_report_proc_transport(o, dp);
            j++;
        }
    }
    ttm__free(r->procs);
    r->procs = out;
    r->nprocs = k;
    return TTM_OK;
}

int ttm_report_merge_daemon(ttm_report *r, const ttm_report *d)
{
    const uint32_t procs = TTM_SNAP_BIT(TTM_SNAP_SEC_PROCS);
    if ((r->sections & procs) && (d->sections & procs)) {
        int err = ttm_report_merge_procs(r, d->procs, d->nprocs);
        if (err != TTM_OK)
            return err;
    }
    if (d->sections & TTM_SNAP_BIT(TTM_SNAP_SEC_DAEMON))
        r->daemon = d->daemon;
    if (d->sections & TTM_SNAP_BIT(TTM_SNAP_SEC_LEGACY))
        r->legacy = d->legacy;
    if (d->sections & TTM_SNAP_BIT(TTM_SNAP_SEC_SERVICE))
        r->service = d->service;
    r->sections |= d->sections & (TTM_SNAP_BIT(TTM_SNAP_SEC_DAEMON) |
                                  TTM_SNAP_BIT(TTM_SNAP_SEC_LEGACY) |
                                  TTM_SNAP_BIT(TTM_SNAP_SEC_SERVICE));
    return TTM_OK;
}

/* ---- causes of several registries ----------------------------------------------------------- */

static void add_pids(uint32_t *pids, uint8_t *n, bool *more, const uint32_t *src, unsigned sn,
                     bool smore)
{
    for (unsigned i = 0; i < sn; i++) {
        bool have = false;
        for (unsigned k = 0; k < *n && !have; k++)
            have = pids[k] == src[i];
        if (have)
            continue;
        if (*n < TTM_CAUSE_PIDS)
            pids[(*n)++] = src[i];
        else
            *more = true;
    }
    *more = *more || smore;
}

static uint64_t min_ts(uint64_t a, uint64_t b)
{
    return a == 0 ? b : b == 0 ? a : a < b ? a : b;
}

/* Keeps the TTM_CAUSE_INSTANCES worst of acc's and in's instances, by frees (earlier first on
 * a tie: acc's are the earlier parts'). */
static void add_instance(ttm_cause_stats *acc, const ttm_cause_instance *in)
{
    size_t n = acc->ninstances < TTM_CAUSE_INSTANCES ? acc->ninstances : TTM_CAUSE_INSTANCES;
    size_t at = n;
    while (at > 0 && acc->instances[at - 1].frees < in->frees)
        at--;
    if (at >= TTM_CAUSE_INSTANCES)
        return;
    size_t keep = n < TTM_CAUSE_INSTANCES ? n : TTM_CAUSE_INSTANCES - 1;
    memmove(&acc->instances[at + 1], &acc->instances[at], (keep - at) * sizeof *in);
    acc->instances[at] = *in;
    acc->ninstances = keep + 1;
}

void ttm_report_causes_add(ttm_cause_stats acc[TTM_CAUSE__COUNT], ttm_causes_info *info,
                           const ttm_report *part, uint32_t device_base)
{
    for (size_t i = 0; i < part->ncauses; i++) {
        const ttm_cause_stats *s = &part->causes[i].stats;
        if ((unsigned)s->cause >= TTM_CAUSE__COUNT)
            continue; /* a newer peer's cause: no slot to add it to */
        ttm_cause_stats *a = &acc[s->cause];
        if (s->groups > a->groups) {
            a->mesh_devices = s->mesh_devices;
            a->frees_per_group = s->frees_per_group;
        }
        a->cause = s->cause;
        a->frees += s->frees;
        a->allocs += s->allocs;
        a->pending += s->pending;
        a->ambiguous += s->ambiguous;
        a->addrs += s->addrs;
        a->groups += s->groups;
        a->first_ts = min_ts(a->first_ts, s->first_ts);
        a->last_ts = s->last_ts > a->last_ts ? s->last_ts : a->last_ts;
        add_pids(a->pids, &a->npids, &a->more_pids, s->pids,
                 s->npids < TTM_CAUSE_PIDS ? s->npids : TTM_CAUSE_PIDS, s->more_pids);
        for (size_t k = 0; k < s->ninstances && k < TTM_CAUSE_INSTANCES; k++) {
            ttm_cause_instance in = s->instances[k];
            in.device = (uint16_t)(in.device + device_base);
            add_instance(a, &in);
        }
    }
    const ttm_causes_info *p = &part->causes_info;
    info->enabled = info->enabled || p->enabled;
    info->attributed += p->attributed;
    info->pending += p->pending;
    info->window_events = p->window_events > info->window_events ? p->window_events
                                                                  : info->window_events;
    info->devices = (uint16_t)(info->devices + p->devices);
    info->keys += p->keys;
    info->keys_max += p->keys_max;
    info->dropped += p->dropped;
}
