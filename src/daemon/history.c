/*
 * history.c — the usage history ttmemd keeps (history.h): one ring of timestamps and, per
 * device, one ring of (DRAM, L1) used bytes, both indexed by the sample's sequence number
 * modulo the length, so that a sample is one write per device and a fill copies the rings out
 * oldest first.
 */
#include "daemon/history.h"

#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"

/* One device's ring: the sample of sequence number s (first_seq <= s < taken, and within the
 * ring's reach) is at ring[s % len]. */
typedef struct hist_dev {
    uint16_t device;
    uint64_t first_seq; /* the first sample that holds it */
    ttm_report_hist_use *ring;
} hist_dev;

struct ttm_history {
    uint64_t interval_ns;
    uint32_t len;
    uint64_t next_ns;   /* when the next sample is due (0: at the first tick) */
    uint64_t taken;     /* samples taken: sample s < taken is at ts[s % len] */
    uint64_t *ts;
    size_t ndevs;       /* ascending by device */
    hist_dev *devs;
    size_t reg_ndevs;   /* the registry's device count when devs was last brought up to date */
    uint32_t devices_dropped;
};

int ttm__history_open(ttm_history **out, uint32_t interval_ms, uint32_t len)
{
    *out = NULL;
    if (len == 0)
        return TTM_OK;
    if (len > TTM_HISTORY_LEN_MAX || interval_ms < TTM_HISTORY_INTERVAL_MS_MIN ||
        interval_ms > TTM_HISTORY_INTERVAL_MS_MAX)
        return TTM_EINVAL;
    ttm_history *h = ttm__calloc(1, sizeof *h);
    if (h == NULL)
        return TTM_ENOMEM;
    h->interval_ns = (uint64_t)interval_ms * 1000000u;
    h->len = len;
    /* every device may be kept: the table never moves while sampling */
    h->ts = ttm__calloc(len, sizeof *h->ts);
    h->devs = ttm__calloc(TTM_HISTORY_MAX_DEVICES, sizeof *h->devs);
    if (h->ts == NULL || h->devs == NULL) {
        ttm__history_close(h);
        return TTM_ENOMEM;
    }
    *out = h;
    return TTM_OK;
}

void ttm__history_close(ttm_history *h)
{
    if (h == NULL)
        return;
    for (size_t i = 0; i < h->ndevs; i++)
        ttm__free(h->devs[i].ring);
    ttm__free(h->devs);
    ttm__free(h->ts);
    ttm__free(h);
}

uint64_t ttm__history_taken(const ttm_history *h)
{
    return h != NULL ? h->taken : 0;
}

/* The index in devs where device is, or where it would go. */
static size_t dev_find(const ttm_history *h, uint16_t device)
{
    size_t lo = 0, hi = h->ndevs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (h->devs[mid].device < device)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Gives every device the registry knows and devs does not a ring (the registry never forgets
 * a device, so a count that did not change means nothing new). Allocates; runs only when the
 * registry's device count changed. */
static int devs_update(ttm_history *h, const ttm_registry *reg)
{
    size_t n = ttm_registry_devices(reg, NULL, 0);
    if (n == h->reg_ndevs)
        return TTM_OK;
    ttm_device_stats *all = ttm__calloc(n, sizeof *all);
    if (all == NULL)
        return TTM_ENOMEM;
    n = ttm_registry_devices(reg, all, n);
    int err = TTM_OK;
    uint32_t dropped = 0;
    for (size_t i = 0; i < n; i++) {
        size_t at = dev_find(h, all[i].device);
        if (at < h->ndevs && h->devs[at].device == all[i].device)
            continue;
        if (h->ndevs >= TTM_HISTORY_MAX_DEVICES) {
            dropped++;
            continue;
        }
        ttm_report_hist_use *ring = ttm__calloc(h->len, sizeof *ring);
        if (ring == NULL) {
            err = TTM_ENOMEM;
            break;
        }
        memmove(&h->devs[at + 1], &h->devs[at], (h->ndevs - at) * sizeof *h->devs);
        h->devs[at] = (hist_dev){.device = all[i].device, .first_seq = h->taken, .ring = ring};
        h->ndevs++;
    }
    ttm__free(all);
    if (err == TTM_OK) {
        h->reg_ndevs = n;
        h->devices_dropped = dropped;
    }
    return err;
}

int ttm__history_sample(ttm_history *h, const ttm_registry *reg, uint64_t now_ns)
{
    int err = devs_update(h, reg);
    size_t slot = (size_t)(h->taken % h->len);
    h->ts[slot] = now_ns;
    for (size_t i = 0; i < h->ndevs; i++) {
        hist_dev *d = &h->devs[i];
        const ttm_device_stats *s = ttm_registry_device(reg, d->device);
        d->ring[slot] = s == NULL ? (ttm_report_hist_use){0, 0}
                                  : (ttm_report_hist_use){
                                        .dram = ttm_device_space_used(s, TTM_SPACE_DRAM),
                                        .l1 = ttm_device_space_used(s, TTM_SPACE_L1)};
    }
    h->taken++;
    return err;
}

bool ttm__history_tick(ttm_history *h, const ttm_registry *reg, uint64_t now_ns)
{
    /* a tick a little early is on time: the loop's ticks and the intervals share a period */
    static const uint64_t slack = TTM_HISTORY_INTERVAL_MS_MIN * 1000000ull / 2;
    if (h == NULL || (h->next_ns != 0 && now_ns + slack < h->next_ns))
        return false;
    (void)ttm__history_sample(h, reg, now_ns);
    h->next_ns = h->next_ns == 0 ? now_ns + h->interval_ns : h->next_ns + h->interval_ns;
    if (h->next_ns + slack <= now_ns) /* far behind (a stalled loop): start again from now */
        h->next_ns = now_ns + h->interval_ns;
    return true;
}

/* Samples the ring holds: the last min(taken, len). */
static uint64_t held(const ttm_history *h)
{
    return h->taken < h->len ? h->taken : h->len;
}

uint64_t ttm__history_wire_bound(const ttm_history *h)
{
    if (h == NULL)
        return 64;
    uint64_t n = held(h);
    return 64 + n * sizeof(uint64_t) +
           (uint64_t)h->ndevs * (12 + n * sizeof(ttm_report_hist_use));
}

size_t ttm__history_memory(const ttm_history *h)
{
    if (h == NULL)
        return 0;
    return sizeof *h + (size_t)h->len * sizeof *h->ts +
           TTM_HISTORY_MAX_DEVICES * sizeof *h->devs +
           h->ndevs * (size_t)h->len * sizeof(ttm_report_hist_use);
}

int ttm__history_fill(const ttm_history *h, ttm_report_history *out)
{
    memset(out, 0, sizeof *out);
    if (h == NULL)
        return TTM_OK;
    out->interval_ns = h->interval_ns;
    out->capacity = h->len;
    out->devices_dropped = h->devices_dropped;
    out->taken = h->taken;
    uint64_t n = held(h), oldest = h->taken - n;
    if (n == 0)
        return TTM_OK;
    out->ts = ttm__calloc((size_t)n, sizeof *out->ts);
    out->devices = ttm__calloc(h->ndevs ? h->ndevs : 1, sizeof *out->devices);
    if (out->ts == NULL || out->devices == NULL)
        goto out_nomem;
    out->nts = (size_t)n;
    for (uint64_t k = 0; k < n; k++)
        out->ts[k].ts = h->ts[(oldest + k) % h->len];
    for (size_t i = 0; i < h->ndevs; i++) {
        const hist_dev *d = &h->devs[i];
        uint64_t from = d->first_seq > oldest ? d->first_seq : oldest;
        ttm_report_hist_device *o = &out->devices[out->ndevices];
        o->device = d->device;
        o->first = (uint32_t)(from - oldest);
        size_t m = (size_t)(h->taken - from);
        if (m == 0)
            continue; /* seen after the last sample */
        o->samples = ttm__calloc(m, sizeof *o->samples);
        if (o->samples == NULL)
            goto out_nomem;
        o->nsamples = m;
        out->ndevices++;
        for (size_t j = 0; j < m; j++)
            o->samples[j] = d->ring[(from + j) % h->len];
    }
    return TTM_OK;

out_nomem:
    ttm__schema_free(&ttm_rec_report_history, out);
    out->interval_ns = h->interval_ns;
    out->capacity = h->len;
    out->devices_dropped = h->devices_dropped;
    out->taken = h->taken;
    return TTM_ENOMEM;
}
