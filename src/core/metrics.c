/*
 * metrics.c — the Prometheus text exposition of a snapshot.
 *
 * One table lists the families (name, type, help); each family is written by one loop over the
 * snapshot. Label values are escaped as the format requires (backslash, double quote, newline).
 */
#include "core/metrics.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/arch.h"
#include "common/poc.h"
#include "core/registry.h"

typedef struct out {
    ttm_bytes *b;
    int err;
} out;

static void emit(out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void emit(out *o, const char *fmt, ...)
{
    if (o->err)
        return;
    for (;;) {
        size_t room = o->b->cap - o->b->len;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf((char *)o->b->data + o->b->len, room, fmt, ap);
        va_end(ap);
        if (n < 0) {
            o->err = TTM_EINVAL;
            return;
        }
        if ((size_t)n < room) {
            o->b->len += (size_t)n;
            return;
        }
        size_t cap = o->b->cap ? o->b->cap * 2 : 16384;
        while (cap - o->b->len <= (size_t)n)
            cap *= 2;
        uint8_t *p = ttm__reallocarray(o->b->data, cap, 1);
        if (p == NULL) {
            o->err = TTM_ENOMEM;
            return;
        }
        o->b->data = p;
        o->b->cap = cap;
    }
}

/* A label value, escaped, into buf (len bytes). */
static const char *esc(char *buf, size_t len, const char *s)
{
    size_t o = 0;
    for (; *s && o + 3 < len; s++) {
        if (*s == '\\' || *s == '"') {
            buf[o++] = '\\';
            buf[o++] = *s;
        } else if (*s == '\n') {
            buf[o++] = '\\';
            buf[o++] = 'n';
        } else {
            buf[o++] = *s;
        }
    }
    buf[o] = '\0';
    return buf;
}

static void family(out *o, const char *name, const char *type, const char *help)
{
    emit(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static const char *lower_memtype(unsigned m)
{
    static const char *const names[TTM_MEMTYPE_COUNT] = {"dram",     "l1",    "system_memory",
                                                         "l1_small", "trace", "cb",
                                                         "kernel"};
    return m < TTM_MEMTYPE_COUNT ? names[m] : "any";
}

static const char *space_label(unsigned s)
{
    static const char *const names[TTM_SPACE_COUNT] = {"dram", "l1", "system"};
    return s < TTM_SPACE_COUNT ? names[s] : "?";
}

/* The families of a record's exported rows (common/schema.h: prom, prom_kind, prom_labels,
 * prom_help), one sample per row, in row order; a row in ns is written in seconds. */
static void record_families(out *o, const ttm_record *rec, const void *obj)
{
    const uint8_t *base = obj;
    const char *open = NULL; /* the family whose HELP and TYPE are written */
    for (size_t i = 0; i < rec->nfields; i++) {
        const ttm_field *f = &rec->fields[i];
        if (f->prom == NULL)
            continue;
        if (open == NULL || strcmp(open, f->prom) != 0) {
            family(o, f->prom, f->prom_kind, f->prom_help ? f->prom_help : f->help);
            open = f->prom;
        }
        uint64_t v = ttm__schema_get_uint(base + f->off, f->csize);
        const char *l = f->prom_labels ? "{" : "", *r = f->prom_labels ? "}" : "";
        const char *labels = f->prom_labels ? f->prom_labels : "";
        if (f->unit != NULL && strcmp(f->unit, "ns") == 0)
            emit(o, "%s%s%s%s %.3f\n", f->prom, l, labels, r, (double)v / 1e9);
        else
            emit(o, "%s%s%s%s %" PRIu64 "\n", f->prom, l, labels, r, v);
    }
}

static void daemon_families(out *o, const ttm_report *s)
{
    char v[64];
    family(o, "ttmem_build_info", "gauge", "ttmem build information; always 1.");
    emit(o, "ttmem_build_info{version=\"%s\"} 1\n", esc(v, sizeof v, TTM_VERSION));
    if (s->sections & TTM_SNAP_BIT(TTM_SNAP_SEC_DAEMON))
        record_families(o, &ttm_rec_daemon, &s->daemon);
}

static void totals_families(out *o, const ttm_report *s)
{
    if (!(s->sections & TTM_SNAP_BIT(TTM_SNAP_SEC_TOTALS)))
        return;
    const ttm_totals *t = &s->totals;
    family(o, "ttmem_events_total", "counter", "Events applied to the registry, by kind.");
    emit(o, "ttmem_events_total{kind=\"alloc\"} %" PRIu64 "\n", t->allocs);
    emit(o, "ttmem_events_total{kind=\"free\"} %" PRIu64 "\n", t->frees);
    emit(o, "ttmem_events_total{kind=\"mark\"} %" PRIu64 "\n", t->marks);
    emit(o, "ttmem_events_total{kind=\"other\"} %" PRIu64 "\n",
         t->events - t->allocs - t->frees - t->marks);
    family(o, "ttmem_live_buffers", "gauge", "Buffers live in the registry (owning and views).");
    emit(o, "ttmem_live_buffers %" PRIu64 "\n", t->live_records);
}

static void device_families(out *o, const ttm_report *s)
{
    if (!(s->sections & TTM_SNAP_BIT(TTM_SNAP_SEC_DEVICES)) || s->ndevices == 0)
        return;
    family(o, "ttmem_device_memory_used_bytes", "gauge",
           "Bytes of device memory held by live buffers, by device and memory type.");
    for (size_t i = 0; i < s->ndevices; i++)
        for (unsigned m = 0; m < TTM_MEMTYPE_COUNT; m++)
            emit(o, "ttmem_device_memory_used_bytes{device=\"%u\",memtype=\"%s\"} %" PRIu64 "\n",
                 s->devices[i].device, lower_memtype(m), s->devices[i].mem[m].live_bytes);
    family(o, "ttmem_device_memory_peak_bytes", "gauge",
           "Highest bytes held at once since tracking began, by device and memory type.");
    for (size_t i = 0; i < s->ndevices; i++)
        for (unsigned m = 0; m < TTM_MEMTYPE_COUNT; m++)
            emit(o, "ttmem_device_memory_peak_bytes{device=\"%u\",memtype=\"%s\"} %" PRIu64 "\n",
                 s->devices[i].device, lower_memtype(m), s->devices[i].mem[m].peak_bytes);
    family(o, "ttmem_device_buffers", "gauge",
           "Live owning buffers, by device and memory type.");
    for (size_t i = 0; i < s->ndevices; i++)
        for (unsigned m = 0; m < TTM_MEMTYPE_COUNT; m++)
            emit(o, "ttmem_device_buffers{device=\"%u\",memtype=\"%s\"} %" PRIu64 "\n",
                 s->devices[i].device, lower_memtype(m), s->devices[i].mem[m].live_count);
    family(o, "ttmem_device_memory_capacity_bytes", "gauge",
           "Capacity of a device's memory space (dram = DRAM + TRACE; l1 = L1 + L1_SMALL + CB + "
           "KERNEL); absent when unknown.");
    for (size_t i = 0; i < s->ndevices; i++)
        for (unsigned sp = 0; sp < TTM_SPACE_COUNT; sp++)
            if (s->devices[i].capacity[sp] != 0)
                emit(o,
                     "ttmem_device_memory_capacity_bytes{device=\"%u\",space=\"%s\"} %" PRIu64
                     "\n",
                     s->devices[i].device, space_label(sp), s->devices[i].capacity[sp]);
    family(o, "ttmem_device_space_peak_bytes", "gauge",
           "Highest total of a device's memory space held at once.");
    for (size_t i = 0; i < s->ndevices; i++)
        for (unsigned sp = 0; sp < TTM_SPACE_COUNT; sp++)
            emit(o, "ttmem_device_space_peak_bytes{device=\"%u\",space=\"%s\"} %" PRIu64 "\n",
                 s->devices[i].device, space_label(sp), s->devices[i].space_peak[sp]);
    family(o, "ttmem_diagnosis_events_total", "counter",
           "Events by diagnosis class and device (docs/CLASSIFICATION.md).");
    for (size_t i = 0; i < s->ndevices; i++) {
        const ttm_device_stats *d = &s->devices[i];
        for (unsigned c = 0; c < TTM_CLASS__COUNT; c++)
            emit(o, "ttmem_diagnosis_events_total{class=\"%s\",device=\"%u\"} %" PRIu64 "\n",
                 ttm_class_name(c), d->device, d->class_count[c]);
    }
    family(o, "ttmem_diagnosis_bytes_total", "counter",
           "Bytes named by the events of a diagnosis class, by device.");
    for (size_t i = 0; i < s->ndevices; i++) {
        const ttm_device_stats *d = &s->devices[i];
        for (unsigned c = 0; c < TTM_CLASS__COUNT; c++)
            emit(o, "ttmem_diagnosis_bytes_total{class=\"%s\",device=\"%u\"} %" PRIu64 "\n",
                 ttm_class_name(c), d->device, d->class_bytes[c]);
    }
}

static void process_families(out *o, const ttm_report *s)
{
    if (!(s->sections & TTM_SNAP_BIT(TTM_SNAP_SEC_PROCS)))
        return;
    char name[2 * TTM_REPORT_NAME_LEN + 1];
    family(o, "ttmem_process_memory_bytes", "gauge",
           "Bytes held by a live process, by device and memory type (series end with the "
           "process).");
    for (size_t i = 0; i < s->nprocs; i++) {
        const ttm_report_proc *p = &s->procs[i];
        if (!p->stats.alive)
            continue;
        esc(name, sizeof name, p->name);
        for (size_t k = 0; k < p->stats.ndevices; k++)
            for (unsigned m = 0; m < TTM_MEMTYPE_COUNT; m++)
                if (p->stats.devices[k].mem[m].allocs > 0)
                    emit(o,
                         "ttmem_process_memory_bytes{pid=\"%" PRIu32
                         "\",process=\"%s\",device=\"%u\",memtype=\"%s\"} %" PRIu64 "\n",
                         p->stats.pid, name, p->stats.devices[k].device, lower_memtype(m),
                         p->stats.devices[k].mem[m].live_bytes);
    }
    family(o, "ttmem_process_events_dropped_total", "counter",
           "Events a live process dropped while no daemon existed.");
    for (size_t i = 0; i < s->nprocs; i++) {
        const ttm_report_proc *p = &s->procs[i];
        if (p->stats.alive)
            emit(o,
                 "ttmem_process_events_dropped_total{pid=\"%" PRIu32 "\",process=\"%s\"} %" PRIu64
                 "\n",
                 p->stats.pid, esc(name, sizeof name, p->name), p->dropped);
    }
}

static void legacy_families(out *o, const ttm_report *s)
{
    const ttm_report_legacy *l = &s->legacy;
    if (!(s->sections & TTM_SNAP_BIT(TTM_SNAP_SEC_LEGACY)) || l->path[0] == '\0')
        return;
    family(o, "ttmem_legacy_connections", "gauge",
           "Connections open on the allocation-server prototype's socket (--poc-socket).");
    emit(o, "ttmem_legacy_connections %" PRIu32 "\n", l->connected);
    family(o, "ttmem_legacy_connections_total", "counter",
           "Connections accepted on the prototype's socket.");
    emit(o, "ttmem_legacy_connections_total %" PRIu64 "\n", l->connections);
    family(o, "ttmem_legacy_messages_total", "counter",
           "Prototype messages received, by message type.");
    for (unsigned t = TTM_POC_TYPE_MIN; t <= TTM_POC_TYPE_MAX && t < l->ntypes; t++) {
        char name[32];
        const char *n = ttm__poc_type_name(t);
        size_t k = 0;
        for (; n[k] != '\0' && k < sizeof name - 1; k++)
            name[k] = (char)(n[k] >= 'A' && n[k] <= 'Z' ? n[k] + ('a' - 'A') : n[k]);
        name[k] = '\0';
        emit(o, "ttmem_legacy_messages_total{type=\"%s\"} %" PRIu64 "\n", name, l->messages[t]);
    }
    family(o, "ttmem_legacy_bad_messages_total", "counter",
           "Prototype messages that were not plausible (garbage, bad pads or type).");
    emit(o, "ttmem_legacy_bad_messages_total %" PRIu64 "\n", l->bad);
    family(o, "ttmem_legacy_resyncs_total", "counter",
           "Resynchronisations of a prototype stream after bad bytes.");
    emit(o, "ttmem_legacy_resyncs_total %" PRIu64 "\n", l->resyncs);
    family(o, "ttmem_legacy_closed_total", "counter",
           "Prototype connections closed by ttmemd, by reason.");
    emit(o, "ttmem_legacy_closed_total{reason=\"bad_messages\"} %" PRIu64 "\n", l->closed_bad);
    emit(o, "ttmem_legacy_closed_total{reason=\"refused\"} %" PRIu64 "\n", l->refused);
}

static void service_families(out *o, const ttm_report *s)
{
    if (s->sections & TTM_SNAP_BIT(TTM_SNAP_SEC_SERVICE))
        record_families(o, &ttm_rec_service, &s->service);
}

static void shm_families(out *o, const ttm_ttshm_region *r, size_t n)
{
    static const char *const counters[TTM_TTSHM_NCOUNTERS] = {"dram",  "l1", "l1_small",
                                                              "trace", "cb", "kernel"};
    family(o, "ttmem_ttmetal_regions", "gauge",
           "TT-Metal shared-memory regions found, by state (ok, not_ready, invalid).");
    size_t st[3] = {0};
    for (size_t i = 0; i < n; i++)
        st[r[i].state < 3 ? r[i].state : 2]++;
    emit(o, "ttmem_ttmetal_regions{state=\"ok\"} %zu\n", st[TTM_TTSHM_OK]);
    emit(o, "ttmem_ttmetal_regions{state=\"not_ready\"} %zu\n", st[TTM_TTSHM_NOT_READY]);
    emit(o, "ttmem_ttmetal_regions{state=\"invalid\"} %zu\n", st[TTM_TTSHM_INVALID]);
    if (st[TTM_TTSHM_OK] == 0)
        return;
    family(o, "ttmem_ttmetal_memory_bytes", "gauge",
           "Counters of TT-Metal's own shared-memory region (counters only: no buffer identity), "
           "by region id and memory type.");
    for (size_t i = 0; i < n; i++)
        for (unsigned c = 0; r[i].state == TTM_TTSHM_OK && c < TTM_TTSHM_NCOUNTERS; c++)
            emit(o, "ttmem_ttmetal_memory_bytes{region=\"%" PRIu64 "\",memtype=\"%s\"} %" PRIu64
                    "\n",
                 r[i].id, counters[c], r[i].total[c]);
    family(o, "ttmem_ttmetal_process_memory_bytes", "gauge",
           "Per-process counters of TT-Metal's shared-memory region (live processes only).");
    char name[130];
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; r[i].state == TTM_TTSHM_OK && k < r[i].nprocs; k++) {
            const ttm_ttshm_proc *p = &r[i].procs[k];
            if (!p->alive)
                continue;
            esc(name, sizeof name, p->name);
            for (unsigned c = 0; c < TTM_TTSHM_NCOUNTERS; c++)
                if (p->bytes[c] != 0)
                    emit(o,
                         "ttmem_ttmetal_process_memory_bytes{region=\"%" PRIu64
                         "\",pid=\"%" PRId32 "\",process=\"%s\",memtype=\"%s\"} %" PRIu64 "\n",
                         r[i].id, p->pid, name, counters[c], p->bytes[c]);
        }
    }
    family(o, "ttmem_ttmetal_ghost_processes", "gauge",
           "Dead processes still holding counters in a TT-Metal region (reap with --reap).");
    for (size_t i = 0; i < n; i++)
        if (r[i].state == TTM_TTSHM_OK)
            emit(o, "ttmem_ttmetal_ghost_processes{region=\"%" PRIu64 "\"} %zu\n", r[i].id,
                 r[i].ghosts);
}

int ttm_metrics_render(const ttm_report *s, const ttm_ttshm_region *regions, size_t nregions,
                       ttm_bytes *b)
{
    out o = {b, 0};
    ttm_report empty = {0};
    const ttm_report *snap = s ? s : &empty;
    family(&o, "ttmem_daemon_up", "gauge", "1 when ttmemd answered this scrape's snapshot.");
    emit(&o, "ttmem_daemon_up %d\n", s != NULL);
    daemon_families(&o, snap);
    totals_families(&o, snap);
    device_families(&o, snap);
    process_families(&o, snap);
    legacy_families(&o, snap);
    service_families(&o, snap);
    shm_families(&o, regions, nregions);
    return o.err;
}

int ttm_metrics_render_scrapes(const ttm_metrics_scrapes *st, ttm_bytes *b)
{
    out o = {b, 0};
    family(&o, "ttmem_scrapes_total", "counter",
           "Scrapes of ttmemd's GET /metrics answered before this one, by HTTP status.");
    emit(&o, "ttmem_scrapes_total{code=\"200\"} %" PRIu64 "\n", st->ok);
    emit(&o, "ttmem_scrapes_total{code=\"503\"} %" PRIu64 "\n", st->unavailable);
    family(&o, "ttmem_scrape_duration_seconds", "summary",
           "Time ttmemd's event loop spent building the snapshots of scrapes before this one "
           "(TT-Metal's directory is scanned and the text rendered off the loop).");
    emit(&o, "ttmem_scrape_duration_seconds_sum %.6f\n", (double)st->build_ns / 1e9);
    emit(&o, "ttmem_scrape_duration_seconds_count %" PRIu64 "\n", st->builds);
    family(&o, "ttmem_http_connections", "gauge",
           "HTTP connections to the metrics endpoint open now, and its limits.");
    emit(&o, "ttmem_http_connections{kind=\"open\"} %" PRIu32 "\n", st->conns);
    emit(&o, "ttmem_http_connections{kind=\"limit\"} %" PRIu32 "\n", st->max_conns);
    emit(&o, "ttmem_http_connections{kind=\"limit_per_address\"} %" PRIu32 "\n",
         st->max_conns_per_peer);
    family(&o, "ttmem_http_connections_closed_total", "counter",
           "HTTP connections the endpoint closed itself, by reason: deadline (a request not "
           "answered within the per-request deadline), per_address (its address had its limit).");
    emit(&o, "ttmem_http_connections_closed_total{reason=\"deadline\"} %" PRIu64 "\n",
         st->cut_deadline);
    emit(&o, "ttmem_http_connections_closed_total{reason=\"per_address\"} %" PRIu64 "\n",
         st->refused_peer);
    family(&o, "ttmem_ttmetal_scan", "gauge",
           "What this scrape's scan of TT-Metal's directory examined and left out (bounded).");
    emit(&o, "ttmem_ttmetal_scan{kind=\"entries\"} %" PRIu64 "\n", st->shm_entries);
    emit(&o, "ttmem_ttmetal_scan{kind=\"entries_capped\"} %" PRIu64 "\n", st->shm_capped);
    emit(&o, "ttmem_ttmetal_scan{kind=\"regions_skipped\"} %" PRIu64 "\n", st->shm_skipped);
    return o.err;
}
