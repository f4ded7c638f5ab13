/*
 * report_fill.c — the report a query is answered with: the core's report of the registry
 * (ttm_report_fill: with the causes of the unmatched frees when CAUSES is asked), the daemon's
 * processes merged into it with their transport counters (and, with PROCINFO, the command
 * lines read when they connected),
 * the live buffers (with STACKS, their stacks resolved too), and the daemon's own records
 * (daemon, legacy socket, query socket). The snapshot codec encodes it as it is: there is no
 * copy of any field here.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/cmdline.h"
#include "core/report.h"
#include "core/report_merge.h"
#include "daemon/daemon.h"

static void fill_daemon(ttm_daemon *d, ttm_report_daemon *o)
{
    uint64_t now = ttm__mono_ns();
    snprintf(o->version, sizeof o->version, "%s", TTM_VERSION);
    o->pid = (uint32_t)getpid();
    o->max_clients = d->cfg.max_clients;
    o->max_live_per_client = d->cfg.max_live_per_client;
    o->clients_connected = d->nactive;
    o->uptime_ns = now - d->start_ns;
    o->now_ns = now;
    o->clients_total = d->clients_total;
    o->clients_rejected = d->clients_rejected;
    o->clients_refused = d->clients_refused;
    o->reattached = d->reattached;
    o->events = d->events;
    o->events_rejected = d->events_rejected;
    o->prior_events = d->prior_events;
    o->dropped = d->dropped;
    o->ring_errors = d->ring_errors;
    o->queries = d->queries;
    o->procs_dropped = d->procs_dropped;
    o->side = d->side;
    uint64_t waited = 0;
    for (size_t i = 0; i < d->nprocs; i++)
        waited += d->procs[i]->waited;
    o->waited = waited;
}

/* The daemon's view of a process (its transport) on the report's entry. */
static void proc_transport(const ttm_dproc *dp, ttm_report_proc *o)
{
    o->stats.pid = dp->pid;
    o->stats.alive = !dp->exited;
    o->uid = dp->uid;
    snprintf(o->name, sizeof o->name, "%s", dp->name);
    o->connected = dp->sessions_open > 0;
    o->reattached = dp->reattached;
    o->events = dp->events;
    o->waited = dp->waited;
    o->dropped = dp->dropped;
    o->prior_events = dp->prior_events;
    o->sessions = dp->sessions;
    o->side = dp->side;
}

/* Merges the daemon's processes (ascending by pid, as the registry's are) into r->procs with
 * the core's merge (core/report_merge.h), the one a replay of the journal uses too. */
static int merge_procs(ttm_daemon *d, ttm_report *r)
{
    if (d->nprocs == 0)
        return ttm_report_merge_procs(r, NULL, 0);
    ttm_report_proc *mine = ttm__calloc(d->nprocs, sizeof *mine);
    if (mine == NULL)
        return TTM_ENOMEM;
    for (size_t i = 0; i < d->nprocs; i++)
        proc_transport(d->procs[i], &mine[i]);
    int err = ttm_report_merge_procs(r, mine, d->nprocs);
    ttm__free(mine);
    return err;
}

/* The command line of each of r's processes the daemon read one for (proc.c), as text: asked
 * with PROCINFO only, as only that section carries them. */
static int fill_cmdlines(ttm_daemon *d, ttm_report *r)
{
    for (size_t k = 0; k < r->nprocs; k++) {
        const ttm_dproc *dp = ttm__proc_find(d, r->procs[k].stats.pid);
        if (dp == NULL || dp->cmdline == NULL || r->procs[k].cmdline != NULL)
            continue;
        int err = ttm__cmdline_text(dp->cmdline, dp->cmdline_len, &r->procs[k].cmdline);
        if (err != TTM_OK)
            return err;
    }
    return TTM_OK;
}

typedef struct live_ctx {
    ttm_live *out;
    size_t n, cap;
} live_ctx;

static bool live_one(const ttm_live *l, void *arg)
{
    live_ctx *c = arg;
    if (c->n >= c->cap)
        return false;
    c->out[c->n++] = *l;
    return true;
}

static int fill_live(ttm_daemon *d, const ttm_snap_query *q, ttm_report *r)
{
    ttm_totals t;
    ttm_registry_totals(d->reg, &t);
    r->live_total = t.live_records;
    size_t cap = (size_t)t.live_records;
    if (q->max_live > 0 && cap > q->max_live)
        cap = q->max_live;
    if (cap > TTM_DAEMON_QUERY_MAX_LIVE) /* one reply's work and size are bounded */
        cap = TTM_DAEMON_QUERY_MAX_LIVE;
    if (cap == 0)
        return TTM_OK;
    live_ctx c = {.out = ttm__calloc(cap, sizeof(ttm_live)), .cap = cap};
    if (c.out == NULL)
        return TTM_ENOMEM;
    ttm_registry_foreach_live(d->reg, live_one, &c);
    r->live = c.out;
    r->nlive = c.n;
    return TTM_OK;
}

void ttm__report_part_add(ttm_daemon *d, ttm_report_part *p)
{
    p->next = d->report_parts;
    d->report_parts = p;
}

void ttm__report_part_del(ttm_daemon *d, ttm_report_part *p)
{
    for (ttm_report_part **at = &d->report_parts; *at != NULL; at = &(*at)->next)
        if (*at == p) {
            *at = p->next;
            return;
        }
}

int ttm__daemon_snapshot(ttm_daemon *d, const ttm_snap_query *q, ttm_report *out)
{
    memset(out, 0, sizeof *out);
    uint32_t want = q->sections;
    const uint32_t from_registry =
        TTM_SNAP_BIT(TTM_SNAP_SEC_TOTALS) | TTM_SNAP_BIT(TTM_SNAP_SEC_DEVICES) |
        TTM_SNAP_BIT(TTM_SNAP_SEC_PROCS) | TTM_SNAP_BIT(TTM_SNAP_SEC_FINDINGS) |
        TTM_SNAP_BIT(TTM_SNAP_SEC_STACKS) | TTM_SNAP_BIT(TTM_SNAP_SEC_CAUSES) |
        TTM_SNAP_BIT(TTM_SNAP_SEC_PROCSITES);
    const uint32_t live_stacks =
        TTM_SNAP_BIT(TTM_SNAP_SEC_LIVE) | TTM_SNAP_BIT(TTM_SNAP_SEC_STACKS);
    int err = TTM_OK;
    if (want & from_registry) {
        ttm_report_options opt = {.top = q->top, .max_leaks = q->max_leaks,
                                  .sections = want & from_registry};
        err = ttm_report_fill(d->reg, &opt, out);
    }
    if (err == TTM_OK && (want & TTM_SNAP_BIT(TTM_SNAP_SEC_PROCS)))
        err = merge_procs(d, out);
    if (err == TTM_OK && (want & TTM_SNAP_BIT(TTM_SNAP_SEC_PROCS)) &&
        (want & TTM_SNAP_BIT(TTM_SNAP_SEC_PROCINFO)))
        err = fill_cmdlines(d, out);
    if (err == TTM_OK && (want & TTM_SNAP_BIT(TTM_SNAP_SEC_LIVE)))
        err = fill_live(d, q, out);
    if (err == TTM_OK && (want & live_stacks) == live_stacks) /* the live buffers' stacks too */
        err = ttm_report_resolve(out, ttm_registry_stacks_c(d->reg));
    if (want & TTM_SNAP_BIT(TTM_SNAP_SEC_DAEMON))
        fill_daemon(d, &out->daemon);
    for (const ttm_report_part *p = d->report_parts; p != NULL; p = p->next)
        if (want & p->sections)
            p->fill(d, p->owner, out);
    if (want & TTM_SNAP_BIT(TTM_SNAP_SEC_SERVICE)) {
        out->service = d->qsvc;
        out->service.query_conns = d->nqconns;
        out->service.query_max_conns = TTM_DAEMON_MAX_QUERY_CONNS;
        out->service.query_out_max = TTM_DAEMON_QUERY_OUT_MAX;
    }
    /* only the sections this daemon knows */
    uint32_t known = 0;
#define TTM__SNAP_SEC_BIT(name, value, text) known |= TTM_SNAP_BIT(value);
    TTM_SNAP_SECTION_MAP(TTM__SNAP_SEC_BIT)
#undef TTM__SNAP_SEC_BIT
    out->schema_version = TTM_REPORT_SCHEMA_VERSION;
    out->sections = want & known;
    if (err != TTM_OK)
        ttm_report_clear(out);
    return err;
}
