/*
 * top_model.c — `ttmem top`'s model: the daemon's snapshot and TT-Metal's shared-memory
 * regions turned into device and process rows with valid bits, and a usage history per device.
 *
 * Rows are rebuilt from scratch at every ingest (a Galaxy's 32 devices x 64 processes is a few
 * thousand small copies); only the history persists, keyed by (source, device).
 */
#include "cli/top_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/sites.h"
#include "common/alloc.h"

#define TTM_TOP_MAX_HIST 1024u /* distinct (source, device) histories kept */

int ttm__top_model_init(ttm_top_model *m, const char *host, const char *socket_path,
                        const char *shm_dir)
{
    memset(m, 0, sizeof *m);
    snprintf(m->host, sizeof m->host, "%s", host != NULL && host[0] ? host : "?");
    snprintf(m->socket_path, sizeof m->socket_path, "%s", socket_path ? socket_path : "");
    snprintf(m->shm_dir, sizeof m->shm_dir, "%s",
             shm_dir != NULL && shm_dir[0] ? shm_dir : TTM_TTSHM_DEFAULT_DIR);
    return TTM_OK;
}

static void site_text_clear(ttm_top_model *m)
{
    for (size_t i = 0; i < m->nsite_text; i++)
        for (unsigned k = 0; k < m->site_text[i].nframes; k++)
            ttm__free(m->site_text[i].frames[k]);
    m->nsite_text = 0;
}

void ttm__top_model_free(ttm_top_model *m)
{
    if (m == NULL)
        return;
    site_text_clear(m);
    ttm__free(m->site_text);
    ttm_sym_close(m->sym);
    ttm_report_clear(&m->snap);
    ttm__free(m->devices);
    ttm__free(m->procs);
    ttm__free(m->pdevs);
    for (size_t i = 0; i < m->nhist; i++)
        ttm__free(m->hist[i]);
    ttm__free(m->hist);
    memset(m, 0, sizeof *m);
}

uint64_t ttm__top_space_used(const uint64_t bytes[TTM_MEMTYPE_COUNT], uint32_t valid,
                             ttm_space space, bool *valid_out)
{
    static const unsigned dram[] = {TTM_MEM_DRAM, TTM_MEM_TRACE};
    static const unsigned l1[] = {TTM_MEM_L1, TTM_MEM_L1_SMALL, TTM_MEM_CB, TTM_MEM_KERNEL};
    const unsigned *members = space == TTM_SPACE_DRAM ? dram : l1;
    size_t n = space == TTM_SPACE_DRAM ? 2 : space == TTM_SPACE_L1 ? 4 : 0;
    uint64_t sum = 0;
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        if (valid & TTM_TOP_V_MEM(members[i])) {
            sum += bytes[members[i]];
            any = true;
        }
    }
    if (valid_out != NULL)
        *valid_out = any;
    return sum;
}

bool ttm__top_model_empty(const ttm_top_model *m)
{
    return m->dstate == TTM_TOP_DAEMON_NONE && m->nregions == 0;
}

const ttm_top_hist *ttm__top_model_hist(const ttm_top_model *m, const ttm_top_device *d)
{
    return d != NULL && d->hist < m->nhist ? m->hist[d->hist] : NULL;
}

/* ---- growable arrays ----------------------------------------------------------------------- */

static int reserve(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return TTM_OK;
    size_t n = *cap ? *cap : 16;
    while (n < need)
        n *= 2;
    void *p = ttm__reallocarray(*arr, n, elem);
    if (p == NULL)
        return TTM_ENOMEM;
    *arr = p;
    *cap = n;
    return TTM_OK;
}

static ttm_top_device *add_device(ttm_top_model *m)
{
    if (reserve((void **)&m->devices, &m->cap_devices, m->ndevices + 1, sizeof *m->devices))
        return NULL;
    ttm_top_device *d = &m->devices[m->ndevices++];
    memset(d, 0, sizeof *d);
    d->hist = SIZE_MAX;
    return d;
}

static ttm_top_proc *add_proc(ttm_top_model *m)
{
    if (reserve((void **)&m->procs, &m->cap_procs, m->nprocs + 1, sizeof *m->procs))
        return NULL;
    ttm_top_proc *p = &m->procs[m->nprocs++];
    memset(p, 0, sizeof *p);
    p->first_dev = m->npdevs;
    return p;
}

static ttm_top_pdev *add_pdev(ttm_top_model *m)
{
    if (reserve((void **)&m->pdevs, &m->cap_pdevs, m->npdevs + 1, sizeof *m->pdevs))
        return NULL;
    ttm_top_pdev *pd = &m->pdevs[m->npdevs++];
    memset(pd, 0, sizeof *pd);
    return pd;
}

/* ---- the daemon's rows --------------------------------------------------------------------- */

static void copy_name(char *dst, size_t len, const char *src, size_t srclen)
{
    size_t n = 0;
    while (n + 1 < len && n < srclen && src[n] != '\0') {
        unsigned char c = (unsigned char)src[n];
        dst[n] = c >= 0x20 && c < 0x7f ? (char)c : '?';
        n++;
    }
    dst[n] = '\0';
}

static int daemon_rows(ttm_top_model *m, const ttm_report *s)
{
    if (s->sections & TTM_SNAP_BIT(TTM_SNAP_SEC_DEVICES)) {
        for (size_t i = 0; i < s->ndevices; i++) {
            const ttm_device_stats *sd = &s->devices[i];
            ttm_top_device *d = add_device(m);
            if (d == NULL)
                return TTM_ENOMEM;
            d->src = TTM_TOP_SRC_DAEMON;
            d->device = sd->device;
            d->valid = TTM_TOP_V_MEM_ALL;
            for (unsigned t = 0; t < TTM_MEMTYPE_COUNT; t++)
                d->bytes[t] = sd->mem[t].live_bytes;
            if (sd->arch != 0) {
                d->arch = sd->arch;
                d->valid |= TTM_TOP_V_ARCH;
            }
            for (unsigned sp = 0; sp < 2; sp++) {
                d->cap[sp] = sd->capacity[sp];
                d->peak[sp] = sd->space_peak[sp];
                if (sd->capacity[sp] != 0)
                    d->valid |= sp == TTM_SPACE_DRAM ? TTM_TOP_V_CAP_DRAM : TTM_TOP_V_CAP_L1;
                d->valid |= sp == TTM_SPACE_DRAM ? TTM_TOP_V_PEAK_DRAM : TTM_TOP_V_PEAK_L1;
            }
            d->nclasses = TTM_CLASS__COUNT;
            memcpy(d->class_count, sd->class_count, d->nclasses * sizeof d->class_count[0]);
            memcpy(d->class_bytes, sd->class_bytes, d->nclasses * sizeof d->class_bytes[0]);
            d->valid |= TTM_TOP_V_CLASSES;
        }
    }
    if (s->sections & TTM_SNAP_BIT(TTM_SNAP_SEC_PROCS)) {
        for (size_t i = 0; i < s->nprocs; i++) {
            const ttm_report_proc *sp = &s->procs[i];
            ttm_top_proc *p = add_proc(m);
            if (p == NULL)
                return TTM_ENOMEM;
            p->src = TTM_TOP_SRC_DAEMON;
            p->pid = sp->stats.pid;
            copy_name(p->name, sizeof p->name, sp->name, sizeof sp->name);
            p->cmdline = sp->cmdline;
            p->valid = TTM_TOP_V_MEM_ALL | TTM_TOP_V_ANOM;
            p->alive = sp->stats.alive;
            p->connected = sp->connected;
            p->anomalies = sp->stats.anomalies;
            p->leaked_count = sp->stats.leaked_count;
            p->leaked_bytes = sp->stats.leaked_bytes;
            p->events = sp->events;
            p->dropped = sp->dropped;
            for (size_t k = 0; k < sp->stats.ndevices; k++) {
                ttm_top_pdev *pd = add_pdev(m);
                if (pd == NULL)
                    return TTM_ENOMEM;
                pd->device = sp->stats.devices[k].device;
                for (unsigned t = 0; t < TTM_MEMTYPE_COUNT; t++)
                    pd->bytes[t] = sp->stats.devices[k].mem[t].live_bytes;
                p->ndevs++;
            }
        }
    }
    if (s->sections & TTM_SNAP_BIT(TTM_SNAP_SEC_TOTALS)) {
        m->diag_valid = true;
        m->nclasses = TTM_CLASS__COUNT;
        memcpy(m->class_count, s->totals.class_count, m->nclasses * sizeof m->class_count[0]);
        memcpy(m->class_bytes, s->totals.class_bytes, m->nclasses * sizeof m->class_bytes[0]);
    }
    if (s->sections & TTM_SNAP_BIT(TTM_SNAP_SEC_DAEMON))
        m->dropped = s->daemon.dropped;
    return TTM_OK;
}

/* ---- the shared-memory rows ---------------------------------------------------------------- */

typedef struct shm_slot {
    int32_t pid;
    uint32_t device;
    uint32_t valid;
    bool alive;
    const char *name;
    uint64_t bytes[TTM_MEMTYPE_COUNT];
} shm_slot;

static int cmp_slot(const void *a, const void *b)
{
    const shm_slot *x = a, *y = b;
    if (x->pid != y->pid)
        return x->pid < y->pid ? -1 : 1;
    return x->device < y->device ? -1 : x->device > y->device;
}

/* Counter order of a region -> memtype. KERNEL exists only in the older layout (version 1). */
static uint32_t shm_bytes(const uint64_t in[TTM_TTSHM_NCOUNTERS], uint32_t version,
                          uint64_t out[TTM_MEMTYPE_COUNT])
{
    static const unsigned map[TTM_TTSHM_NCOUNTERS] = {TTM_MEM_DRAM, TTM_MEM_L1,
                                                      TTM_MEM_L1_SMALL, TTM_MEM_TRACE,
                                                      TTM_MEM_CB, TTM_MEM_KERNEL};
    uint32_t valid = 0;
    for (unsigned c = 0; c < TTM_TTSHM_NCOUNTERS; c++) {
        if (c == TTM_TTSHM_KERNEL && version != 1)
            continue;
        out[map[c]] = in[c];
        valid |= TTM_TOP_V_MEM(map[c]);
    }
    return valid;
}

static uint32_t region_device(const ttm_ttshm_region *r)
{
    return r->device_id >= 0 ? (uint32_t)r->device_id : (uint32_t)r->id;
}

static int shm_rows(ttm_top_model *m, const ttm_ttshm_region *regions, size_t n)
{
    size_t nslots = 0;
    for (size_t i = 0; i < n; i++) {
        const ttm_ttshm_region *r = &regions[i];
        if (r->state != TTM_TTSHM_OK)
            continue;
        ttm_top_device *d = add_device(m);
        if (d == NULL)
            return TTM_ENOMEM;
        d->src = TTM_TOP_SRC_SHM;
        d->device = region_device(r);
        d->region = r->id;
        d->valid = shm_bytes(r->total, r->version, d->bytes);
        nslots += r->nprocs;
    }
    if (nslots == 0)
        return TTM_OK;
    shm_slot *slots = ttm__calloc(nslots, sizeof *slots);
    if (slots == NULL)
        return TTM_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const ttm_ttshm_region *r = &regions[i];
        if (r->state != TTM_TTSHM_OK)
            continue;
        for (size_t j = 0; j < r->nprocs && k < nslots; j++) {
            shm_slot *sl = &slots[k++];
            sl->pid = r->procs[j].pid;
            sl->device = region_device(r);
            sl->alive = r->procs[j].alive;
            sl->name = r->procs[j].name;
            sl->valid = shm_bytes(r->procs[j].bytes, r->version, sl->bytes);
        }
    }
    qsort(slots, k, sizeof *slots, cmp_slot);
    int err = TTM_OK;
    for (size_t i = 0; i < k && err == TTM_OK;) {
        ttm_top_proc *p = add_proc(m);
        if (p == NULL) {
            err = TTM_ENOMEM;
            break;
        }
        p->src = TTM_TOP_SRC_SHM;
        p->pid = (uint32_t)slots[i].pid;
        copy_name(p->name, sizeof p->name, slots[i].name, TTM_TOP_NAME_LEN);
        p->valid = TTM_TOP_V_MEM_ALL;
        p->alive = slots[i].alive;
        size_t j = i;
        for (; j < k && slots[j].pid == slots[i].pid; j++) {
            ttm_top_pdev *pd = add_pdev(m);
            if (pd == NULL) {
                err = TTM_ENOMEM;
                break;
            }
            pd->device = slots[j].device;
            memcpy(pd->bytes, slots[j].bytes, sizeof pd->bytes);
            p->valid &= slots[j].valid | ~TTM_TOP_V_MEM_ALL;
            p->ndevs++;
        }
        i = j;
    }
    ttm__free(slots);
    return err;
}

/* ---- history ------------------------------------------------------------------------------- */

static size_t find_hist(ttm_top_model *m, ttm_top_src src, uint32_t device)
{
    for (size_t i = 0; i < m->nhist; i++)
        if (m->hist[i]->src == src && m->hist[i]->device == device)
            return i;
    if (m->nhist >= TTM_TOP_MAX_HIST)
        return SIZE_MAX;
    if (reserve((void **)&m->hist, &m->cap_hist, m->nhist + 1, sizeof *m->hist))
        return SIZE_MAX;
    ttm_top_hist *h = ttm__malloc(sizeof *h);
    if (h == NULL)
        return SIZE_MAX;
    h->src = src;
    h->device = device;
    for (size_t s = 0; s < TTM_TOP_HIST_LEN; s++)
        h->used[0][s] = h->used[1][s] = TTM_TOP_HIST_NONE;
    m->hist[m->nhist] = h;
    return m->nhist++;
}

/* A new cell at the ring's end stamped ts, every history's value NONE in it (the oldest cell
 * goes when the ring is full). */
static size_t new_slot(ttm_top_model *m, uint64_t ts)
{
    size_t slot;
    if (m->hist_count < TTM_TOP_HIST_LEN) {
        slot = (m->hist_head + m->hist_count) % TTM_TOP_HIST_LEN;
        m->hist_count++;
    } else {
        slot = m->hist_head;
        m->hist_head = (m->hist_head + 1) % TTM_TOP_HIST_LEN;
    }
    m->hist_ts[slot] = ts;
    for (size_t i = 0; i < m->nhist; i++)
        m->hist[i]->used[0][slot] = m->hist[i]->used[1][slot] = TTM_TOP_HIST_NONE;
    return slot;
}

static void record_sample(ttm_top_model *m)
{
    size_t slot = new_slot(m, m->now_ns);
    bool fresh_daemon = m->dstate == TTM_TOP_DAEMON_OK;
    for (size_t i = 0; i < m->ndevices; i++) {
        ttm_top_device *d = &m->devices[i];
        d->hist = find_hist(m, d->src, d->device);
        if (d->hist == SIZE_MAX || (d->src == TTM_TOP_SRC_DAEMON && !fresh_daemon))
            continue; /* a stale row is not a new sample */
        for (unsigned sp = 0; sp < 2; sp++) {
            bool ok;
            uint64_t used = ttm__top_space_used(d->bytes, d->valid, (ttm_space)sp, &ok);
            m->hist[d->hist]->used[sp][slot] = ok ? used : TTM_TOP_HIST_NONE;
        }
    }
}

/* ---- the daemon's history seeded into the ring ---------------------------------------------- */

/* The daemon's start on its clock: the same value in every snapshot of one daemon. */
static uint64_t daemon_start(const ttm_report *snap)
{
    return snap->daemon.now_ns - snap->daemon.uptime_ns;
}

bool ttm__top_model_seed_due(const ttm_top_model *m, const ttm_report *snap)
{
    if (!(snap->sections & TTM_SNAP_BIT(TTM_SNAP_SEC_DAEMON)))
        return false;
    return m->seeded_pid == 0 || snap->daemon.pid != m->seeded_pid ||
           daemon_start(snap) != m->seeded_start_ns;
}

/* A daemon's sample time on the model's clock (dnow on the daemon's is now on the model's);
 * one from before the model's clock began is 0 (older than any cell). */
static uint64_t seed_time(uint64_t ts, uint64_t dnow, uint64_t now)
{
    if (now >= dnow)
        return ts + (now - dnow);
    return ts >= dnow - now ? ts - (dnow - now) : 0;
}

/* One device's value in the cell [lo, hi) of centre tc: the highest of its samples in ts
 * indices [k, kend), else the sample k - 1 before the cell when it is at most hold older than
 * tc. False when it has neither. */
static bool seed_value(const ttm_report_hist_device *d, const uint64_t *mt, size_t k, size_t kend,
                       uint64_t tc, uint64_t hold, uint64_t v[2])
{
    size_t from = k > d->first ? k : d->first, to = d->first + d->nsamples;
    if (kend < to)
        to = kend;
    bool any = false;
    for (size_t j = from; j < to; j++) {
        const ttm_report_hist_use *u = &d->samples[j - d->first];
        if (!any || u->dram > v[0])
            v[0] = u->dram;
        if (!any || u->l1 > v[1])
            v[1] = u->l1;
        any = true;
    }
    if (any || k == 0)
        return any;
    size_t j = k - 1;
    if (j < d->first || j >= d->first + d->nsamples || tc - mt[j] > hold)
        return false;
    v[0] = d->samples[j - d->first].dram;
    v[1] = d->samples[j - d->first].l1;
    return true;
}

size_t ttm__top_model_seed_history(ttm_top_model *m, const ttm_report *snap, uint64_t now_ns)
{
    if (!(snap->sections & TTM_SNAP_BIT(TTM_SNAP_SEC_DAEMON)))
        return 0;
    m->seeded_pid = snap->daemon.pid;
    m->seeded_start_ns = daemon_start(snap);
    m->seeded = 0;
    const ttm_report_history *h = &snap->history;
    if (!(snap->sections & TTM_SNAP_BIT(TTM_SNAP_SEC_HISTORY)) || h->nts == 0 ||
        h->interval_ns == 0)
        return 0;
    uint64_t step = (uint64_t)(m->hist_step_ms ? m->hist_step_ms : 1000) * 1000000ull;
    uint64_t hold = h->interval_ns + h->interval_ns / 2;
    uint64_t *mt = ttm__calloc(h->nts, sizeof *mt);          /* the samples' times, our clock */
    size_t *idx = ttm__calloc(h->ndevices + 1, sizeof *idx); /* each device's history */
    if (mt == NULL || idx == NULL)
        goto out_free;
    for (size_t k = 0; k < h->nts; k++) {
        mt[k] = seed_time(h->ts[k].ts, snap->daemon.now_ns, now_ns);
        if (k > 0 && mt[k] < mt[k - 1])
            goto out_free; /* not oldest first: not a history this can place */
    }
    for (size_t i = 0; i < h->ndevices; i++) {
        const ttm_report_hist_device *d = &h->devices[i];
        bool fits = d->first <= h->nts && d->nsamples <= h->nts - d->first;
        idx[i] = fits ? find_hist(m, TTM_TOP_SRC_DAEMON, d->device) : SIZE_MAX;
    }
    bool have_after = m->hist_count > 0;
    uint64_t after =
        have_after ? m->hist_ts[(m->hist_head + m->hist_count - 1) % TTM_TOP_HIST_LEN] : 0;
    if (mt[0] >= now_ns)
        goto out_free;
    /* the cells the ring holds where a device the history covers has no value (refreshes
     * while the daemon was restarting, or before top saw the device): filled from it */
    size_t kb = 0;
    for (size_t s = 0; s < m->hist_count; s++) {
        size_t slot = (m->hist_head + s) % TTM_TOP_HIST_LEN;
        uint64_t tc = m->hist_ts[slot], lo = tc > step / 2 ? tc - step / 2 : 0;
        while (kb < h->nts && mt[kb] < lo)
            kb++;
        size_t kend = kb;
        while (kend < h->nts && mt[kend] < tc + step / 2)
            kend++;
        bool filled = false;
        for (size_t i = 0; i < h->ndevices; i++) {
            uint64_t v[2];
            if (idx[i] == SIZE_MAX || m->hist[idx[i]]->used[0][slot] != TTM_TOP_HIST_NONE ||
                m->hist[idx[i]]->used[1][slot] != TTM_TOP_HIST_NONE ||
                !seed_value(&h->devices[i], mt, kb, kend, tc, hold, v))
                continue;
            m->hist[idx[i]]->used[0][slot] = v[0];
            m->hist[idx[i]]->used[1][slot] = v[1];
            filled = true;
        }
        m->seeded += filled;
    }
    uint64_t cmax = (now_ns - mt[0] + step / 2) / step;
    if (cmax > TTM_TOP_HIST_LEN - 1) /* room for the refresh's own sample */
        cmax = TTM_TOP_HIST_LEN - 1;
    if (cmax * step > now_ns)
        cmax = now_ns / step;
    size_t k = 0;
    for (uint64_t c = cmax; c >= 1; c--) {
        uint64_t tc = now_ns - c * step, lo = tc > step / 2 ? tc - step / 2 : 0;
        uint64_t hi = tc + step / 2;
        while (k < h->nts && mt[k] < lo)
            k++;
        size_t kend = k;
        while (kend < h->nts && mt[kend] < hi)
            kend++;
        if (have_after && tc <= after + step / 2)
            continue; /* the ring has this time already */
        size_t slot = SIZE_MAX;
        for (size_t i = 0; i < h->ndevices; i++) {
            uint64_t v[2];
            if (idx[i] == SIZE_MAX || !seed_value(&h->devices[i], mt, k, kend, tc, hold, v))
                continue;
            if (slot == SIZE_MAX) {
                slot = new_slot(m, tc);
                m->seeded++;
            }
            m->hist[idx[i]]->used[0][slot] = v[0];
            m->hist[idx[i]]->used[1][slot] = v[1];
        }
    }
out_free:
    ttm__free(mt);
    ttm__free(idx);
    return m->seeded;
}

/* At a daemon's first answer (the first frame, or a restart: another pid or start), asks for
 * its history (one query of DAEMON and HISTORY) and seeds the ring with it, before the ingest
 * of snap records this refresh's sample. An answer without the section (a daemon that keeps
 * none, or does not know it) marks the daemon seeded all the same. */
static void seed_from_daemon(ttm_top_model *m, const ttm_report *snap, const char *qpath,
                             int timeout_ms, uint64_t now_ns)
{
    if (!ttm__top_model_seed_due(m, snap))
        return;
    ttm_report hs;
    memset(&hs, 0, sizeof hs);
    char msg[200];
    ttm_snap_query q = {.sections = TTM_SNAP_BIT(TTM_SNAP_SEC_DAEMON) |
                                    TTM_SNAP_BIT(TTM_SNAP_SEC_HISTORY)};
    if (ttm_report_fetch(qpath, &q, timeout_ms, &hs, msg, sizeof msg) == TTM_OK)
        (void)ttm__top_model_seed_history(m, &hs, now_ns);
    ttm_report_clear(&hs);
    /* asked once per daemon, whatever the answer */
    m->seeded_pid = snap->daemon.pid;
    m->seeded_start_ns = daemon_start(snap);
}

/* ---- ingest -------------------------------------------------------------------------------- */

static int cmp_device(const void *a, const void *b)
{
    const ttm_top_device *x = a, *y = b;
    if (x->src != y->src)
        return x->src < y->src ? -1 : 1;
    if (x->device != y->device)
        return x->device < y->device ? -1 : 1;
    return x->region < y->region ? -1 : x->region > y->region;
}

int ttm__top_model_ingest(ttm_top_model *m, ttm_report *snap, const char *daemon_err,
                          const ttm_ttshm_region *regions, size_t nregions, const char *shm_err,
                          uint64_t now_ns)
{
    m->now_ns = now_ns;
    m->refreshes++;
    if (snap != NULL) {
        /* the previous fresh counters become the baseline for "+N since the last refresh" */
        m->prev_valid = m->diag_valid && m->dstate == TTM_TOP_DAEMON_OK;
        memcpy(m->prev_class_count, m->class_count, sizeof m->prev_class_count);
        m->prev_dropped = m->dropped;
        ttm_report_clear(&m->snap);
        m->snap = *snap;
        memset(snap, 0, sizeof *snap);
        m->dstate = TTM_TOP_DAEMON_OK;
        m->last_ok_ns = now_ns;
        m->daemon_err[0] = '\0';
    } else {
        if (m->dstate != TTM_TOP_DAEMON_NONE)
            m->dstate = TTM_TOP_DAEMON_STALE;
        snprintf(m->daemon_err, sizeof m->daemon_err, "%s",
                 daemon_err != NULL && daemon_err[0] ? daemon_err : "no answer");
    }

    m->ndevices = m->nprocs = m->npdevs = 0;
    m->diag_valid = false;
    m->nclasses = 0;
    memset(m->class_count, 0, sizeof m->class_count);
    memset(m->class_bytes, 0, sizeof m->class_bytes);
    m->dropped = 0;

    m->nregions = nregions;
    m->nregions_ok = m->nregions_bad = m->nregions_ghosts = 0;
    m->shm_err[0] = '\0';
    for (size_t i = 0; i < nregions; i++) {
        if (regions[i].state == TTM_TTSHM_OK) {
            m->nregions_ok++;
            m->nregions_ghosts += regions[i].ghosts;
        } else if (regions[i].state == TTM_TTSHM_INVALID) {
            m->nregions_bad++;
            if (m->shm_err[0] == '\0') /* one footer line: the path and the reason, cut */
                snprintf(m->shm_err, sizeof m->shm_err, "%.300s: %.90s", regions[i].path,
                         regions[i].why);
        }
    }
    if (shm_err != NULL && shm_err[0])
        snprintf(m->shm_err, sizeof m->shm_err, "%s", shm_err);

    int err = TTM_OK;
    if (m->dstate != TTM_TOP_DAEMON_NONE)
        err = daemon_rows(m, &m->snap);
    if (err == TTM_OK)
        err = shm_rows(m, regions, nregions);
    if (err != TTM_OK) {
        m->ndevices = m->nprocs = m->npdevs = 0;
        return err;
    }
    if (m->ndevices > 1)
        qsort(m->devices, m->ndevices, sizeof *m->devices, cmp_device);
    record_sample(m);
    return TTM_OK;
}

const ttm_top_site_text *ttm__top_model_site(const ttm_top_model *m, uint32_t stack)
{
    for (size_t i = 0; i < m->nsite_text; i++)
        if (m->site_text[i].stack == stack)
            return &m->site_text[i];
    return NULL;
}

/* The stack of the i-th site to symbolize: the live sites, then the processes' sites. */
static uint32_t site_stack(const ttm_report *snap, size_t i)
{
    return i < snap->nlive_sites ? snap->live_sites[i].stack
                                 : snap->proc_sites[i - snap->nlive_sites].stack;
}

/* Symbolizes the stacks of snap's live sites and processes' sites that site_text does not hold
 * yet (each once per daemon: another pid or start time starts the cache over, as does a full
 * one). I/O: it reads the modules' files. */
static void sites_symbolize(ttm_top_model *m, ttm_report *snap)
{
    uint64_t start = snap->daemon.now_ns - snap->daemon.uptime_ns;
    size_t nsites = snap->nlive_sites + snap->nproc_sites;
    if (snap->daemon.pid != m->sites_pid || start != m->sites_start_ns ||
        m->nsite_text + nsites > TTM_TOP_SITE_CACHE) {
        site_text_clear(m);
        m->sites_pid = snap->daemon.pid;
        m->sites_start_ns = start;
    }
    if (m->sym == NULL && ttm_sym_open(&m->sym) != TTM_OK)
        m->sym = NULL; /* frames stay module+offset */
    for (size_t i = 0; i < nsites && i < TTM_TOP_SITE_CACHE; i++) {
        uint32_t id = site_stack(snap, i);
        ttm_report_stack *st = (ttm_report_stack *)ttm_cli_stack(snap, id);
        if (st == NULL || ttm__top_model_site(m, id) != NULL)
            continue;
        void *grown = ttm__grow(m->site_text, &m->cap_site_text, m->nsite_text,
                                sizeof *m->site_text, 64);
        if (grown == NULL)
            return;
        m->site_text = grown;
        if (m->sym != NULL)
            ttm_cli_symbolize_stack(snap, st, m->sym);
        ttm_top_site_text *t = &m->site_text[m->nsite_text++];
        memset(t, 0, sizeof *t);
        t->stack = id;
        char text[512];
        for (size_t k = 0; k < st->nframes && t->nframes < TTM_TOP_SITE_FRAMES; k++) {
            ttm_cli_frame_text(snap, &st->frames[k], text, sizeof text);
            t->frames[t->nframes++] = ttm__xstrdup(text);
        }
    }
}

int ttm__top_model_refresh(ttm_top_model *m, int timeout_ms, uint64_t now_ns)
{
    char qpath[300], msg[200] = "";
    ttm_report snap;
    memset(&snap, 0, sizeof snap);
    bool have = false;
    int qerr = TTM_ERANGE;
    if (ttm__snap_query_path(m->socket_path, qpath, sizeof qpath) != TTM_OK) {
        snprintf(msg, sizeof msg, "socket path too long");
    } else {
        ttm_snap_query q = {.sections = TTM_SNAP_WANT_STATUS};
        if (m->want_sites || m->want_procsites)
            q.sections |= TTM_SNAP_BIT(TTM_SNAP_SEC_STACKS);
        if (m->want_procsites)
            q.sections |= TTM_SNAP_BIT(TTM_SNAP_SEC_PROCSITES);
        qerr = ttm_report_fetch(qpath, &q, timeout_ms, &snap, msg, sizeof msg);
        have = qerr == TTM_OK;
        if (have)
            seed_from_daemon(m, &snap, qpath, timeout_ms, now_ns);
        if (have && (m->want_sites || m->want_procsites))
            sites_symbolize(m, &snap);
        if (!have && msg[0] == '\0')
            snprintf(msg, sizeof msg, "%s", ttm_strerror(qerr));
    }

    ttm_ttshm_region *regions = NULL;
    size_t nregions = 0;
    char shm_err[400] = "";
    int serr = ttm__ttshm_scan(m->shm_dir, &regions, &nregions);
    if (serr != TTM_OK && serr != TTM_ENOENT)
        snprintf(shm_err, sizeof shm_err, "cannot scan %s: %s", m->shm_dir, ttm_strerror(serr));

    m->daemon_code = qerr;
    int err = ttm__top_model_ingest(m, have ? &snap : NULL, msg, regions, nregions, shm_err,
                                    now_ns);
    ttm_report_clear(&snap);
    ttm__free(regions);
    return err;
}
