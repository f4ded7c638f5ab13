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
