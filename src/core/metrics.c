/*
 * metrics.c — the Prometheus text exposition of a snapshot.
 *
 * The families of the report are written by walking the record tables (core/report_schema.c):
 * the Prometheus columns of a record's rows (one sample per row), and ttm_prom_families, whose
 * entries name a path of rows from the report down with the labels it binds (metrics.h), so a
 * family is a table entry, never code of its own. The families that do not come from the
 * report (TT-Metal's regions, the endpoint's scrapes) are written by code and take their HELP
 * from ttm_prom_fixed. docs/METRICS.md's table is generated from these tables. Label values
 * are escaped as the format requires (backslash, double quote, newline).
 */
#include "core/metrics.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "core/registry.h"

typedef struct out {
    ttm_bytes *b;
    int err;
} out;

/* Room for n more bytes and a NUL in o's buffer; false (o->err set) when there is none. */
static bool room(out *o, size_t n)
{
    if (o->err)
        return false;
    if (o->b->cap - o->b->len > n)
        return true;
    size_t cap = o->b->cap ? o->b->cap * 2 : 16384;
    while (cap - o->b->len <= n)
        cap *= 2;
    uint8_t *p = ttm__reallocarray(o->b->data, cap, 1);
    if (p == NULL) {
        o->err = TTM_ENOMEM;
        return false;
    }
    o->b->data = p;
    o->b->cap = cap;
    return true;
}

static void emit(out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void emit(out *o, const char *fmt, ...)
{
    size_t want = 0;
    while (room(o, want)) {
        size_t left = o->b->cap - o->b->len;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf((char *)o->b->data + o->b->len, left, fmt, ap);
        va_end(ap);
        if (n < 0) {
            o->err = TTM_EINVAL;
            return;
        }
        if ((size_t)n < left) {
            o->b->len += (size_t)n;
            return;
        }
        want = (size_t)n;
    }
}

/* n bytes of s, as they are. */
static void put(out *o, const char *s, size_t n)
{
    if (room(o, n)) {
        memcpy(o->b->data + o->b->len, s, n);
        o->b->len += n;
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

/* ---- the families written by code of their own (TT-Metal's regions, the endpoint's scrapes) -- */

enum {
    FIX_UP,
    FIX_BUILD,
    FIX_SHM_REGIONS,
    FIX_SHM_MEMORY,
    FIX_SHM_PROCESS,
    FIX_SHM_GHOSTS,
    FIX_SCRAPES,
    FIX_SCRAPE_DURATION,
    FIX_HTTP_CONNS,
    FIX_HTTP_CLOSED,
    FIX_SHM_SCAN,
    FIX__COUNT
};

/* Their names, labels and HELP, in the order of the text (path: where the values come from,
 * for the docs, which are generated from this table). */
const ttm_prom_family ttm_prom_fixed[] = {
    [FIX_UP] = {"ttmem_daemon_up", "gauge", NULL,
                "whether ttmemd answered (0 from `ttmem metrics` with no daemon)", 0,
                "1 when ttmemd answered this scrape's snapshot."},
    [FIX_BUILD] = {"ttmem_build_info", "gauge", "version", "the build; the value is 1", 0,
                   "ttmem build information; always 1."},
    [FIX_SHM_REGIONS] = {"ttmem_ttmetal_regions", "gauge", "state",
                         "TT-Metal's shared-memory regions; `state`: ok, not_ready, invalid", 0,
                         "TT-Metal shared-memory regions found, by state (ok, not_ready, "
                         "invalid)."},
    [FIX_SHM_MEMORY] = {"ttmem_ttmetal_memory_bytes", "gauge", "region,memtype",
                        "a region's totals (only when a region is ok)", 0,
                        "Counters of TT-Metal's own shared-memory region (counters only: no "
                        "buffer identity), by region id and memory type."},
    [FIX_SHM_PROCESS] = {"ttmem_ttmetal_process_memory_bytes", "gauge",
                         "region,pid,process,memtype", "a region's live processes, counters not 0",
                         0,
                         "Per-process counters of TT-Metal's shared-memory region (live "
                         "processes only)."},
    [FIX_SHM_GHOSTS] = {"ttmem_ttmetal_ghost_processes", "gauge", "region",
                        "a region's dead processes still holding counters (`--reap` clears them)",
                        0,
                        "Dead processes still holding counters in a TT-Metal region (reap with "
                        "--reap)."},
    [FIX_SCRAPES] = {"ttmem_scrapes_total", "counter", "code", "the endpoint; `code`: 200, 503",
                     TTM_PROM_ENDPOINT,
                     "Scrapes of ttmemd's GET /metrics answered before this one, by HTTP "
                     "status."},
    [FIX_SCRAPE_DURATION] = {"ttmem_scrape_duration_seconds", "summary", NULL,
                             "the endpoint (`_sum`, `_count`)", TTM_PROM_ENDPOINT,
                             "Time ttmemd's event loop spent building the snapshots of scrapes "
                             "before this one (TT-Metal's directory is scanned and the text "
                             "rendered off the loop)."},
    [FIX_HTTP_CONNS] = {"ttmem_http_connections", "gauge", "kind",
                        "the endpoint; `kind`: open, limit, limit_per_address", TTM_PROM_ENDPOINT,
                        "HTTP connections to the metrics endpoint open now, and its limits."},
    [FIX_HTTP_CLOSED] = {"ttmem_http_connections_closed_total", "counter", "reason",
                         "the endpoint; `reason`: deadline (10 s), per_address (8 connections)",
                         TTM_PROM_ENDPOINT,
                         "HTTP connections the endpoint closed itself, by reason: deadline (a "
                         "request not answered within the per-request deadline), per_address "
                         "(its address had its limit)."},
    [FIX_SHM_SCAN] = {"ttmem_ttmetal_scan", "gauge", "kind",
                      "the endpoint's scan; `kind`: entries, entries_capped (1 at 65,536 "
                      "entries), regions_skipped (beyond 256)",
                      TTM_PROM_ENDPOINT,
                      "What this scrape's scan of TT-Metal's directory examined and left out "
                      "(bounded)."},
};
const size_t ttm_prom_nfixed = sizeof ttm_prom_fixed / sizeof ttm_prom_fixed[0];
_Static_assert(sizeof ttm_prom_fixed / sizeof ttm_prom_fixed[0] == FIX__COUNT &&
                   FIX_SHM_REGIONS == TTM_PROM_NHEAD,
               "every fixed family has its entry; the first TTM_PROM_NHEAD precede the report's");

static void fixed(out *o, unsigned id)
{
    family(o, ttm_prom_fixed[id].name, ttm_prom_fixed[id].kind, ttm_prom_fixed[id].help);
}

/* ---- the families written from the report's record tables ----------------------------------- */

/* The families whose samples the record tables give (docs/METRICS.md lists them with their
 * paths). Entries of one family are contiguous; the first carries the HELP. */
const ttm_prom_family ttm_prom_families[] = {
    {.path = "daemon", .help = "the exported rows of the daemon record"},
    {"ttmem_events_total", "counter", "kind=\"alloc\"", "totals.allocs", 0,
     "Events applied to the registry, by kind."},
    {"ttmem_events_total", "counter", "kind=\"free\"", "totals.frees", 0, NULL},
    {"ttmem_events_total", "counter", "kind=\"mark\"", "totals.marks", 0, NULL},
    {"ttmem_events_total", "counter", "kind=\"other\"", "totals.events-allocs-frees-marks", 0,
     NULL},
    {"ttmem_live_buffers", "gauge", NULL, "totals.live_records", 0,
     "Buffers live in the registry (owning and views)."},
    {"ttmem_device_memory_used_bytes", "gauge", "device,memtype",
     "devices[device=device].mem[memtype].live_bytes", TTM_PROM_ANY,
     "Bytes of device memory held by live buffers, by device and memory type."},
    {"ttmem_device_memory_peak_bytes", "gauge", "device,memtype",
     "devices[device=device].mem[memtype].peak_bytes", TTM_PROM_ANY,
     "Highest bytes held at once since tracking began, by device and memory type."},
    {"ttmem_device_buffers", "gauge", "device,memtype",
     "devices[device=device].mem[memtype].live_count", TTM_PROM_ANY,
     "Live owning buffers, by device and memory type."},
    {"ttmem_device_memory_capacity_bytes", "gauge", "device,space",
     "devices[device=device].capacity[space]", TTM_PROM_ANY | TTM_PROM_NONZERO,
     "Capacity of a device's memory space (dram = DRAM + TRACE; l1 = L1 + L1_SMALL + CB + "
     "KERNEL); absent when unknown."},
    {"ttmem_device_space_peak_bytes", "gauge", "device,space",
     "devices[device=device].space_peak[space]", TTM_PROM_ANY,
     "Highest total of a device's memory space held at once."},
    {"ttmem_diagnosis_events_total", "counter", "class,device",
     "devices[device=device].class_count[class]", TTM_PROM_ANY,
     "Events by diagnosis class and device (docs/CLASSIFICATION.md)."},
    {"ttmem_diagnosis_bytes_total", "counter", "class,device",
     "devices[device=device].class_bytes[class]", TTM_PROM_ANY,
     "Bytes named by the events of a diagnosis class, by device."},
    {"ttmem_process_memory_bytes", "gauge", "pid,process,device,memtype",
     "procs[?stats.alive,pid=stats.pid,process=name].stats.devices[device=device]"
     ".mem[?allocs,memtype].live_bytes",
     0,
     "Bytes held by a live process, by device and memory type (series end with the "
     "process)."},
    {"ttmem_process_events_dropped_total", "counter", "pid,process",
     "procs[?stats.alive,pid=stats.pid,process=name].dropped", 0,
     "Events a live process dropped while no daemon existed."},
    {"ttmem_legacy_connections", "gauge", NULL, "legacy[?path].connected", 0,
     "Connections open on the allocation-server prototype's socket (--poc-socket)."},
    {"ttmem_legacy_connections_total", "counter", NULL, "legacy[?path].connections", 0,
     "Connections accepted on the prototype's socket."},
    {"ttmem_legacy_messages_total", "counter", "type", "legacy[?path].messages[1..,type]", 0,
     "Prototype messages received, by message type."},
    {"ttmem_legacy_bad_messages_total", "counter", NULL, "legacy[?path].bad", 0,
     "Prototype messages that were not plausible (garbage, bad pads or type)."},
    {"ttmem_legacy_resyncs_total", "counter", NULL, "legacy[?path].resyncs", 0,
     "Resynchronisations of a prototype stream after bad bytes."},
    {"ttmem_legacy_closed_total", "counter", "reason=\"bad_messages\"", "legacy[?path].closed_bad",
     0, "Prototype connections closed by ttmemd, by reason."},
    {"ttmem_legacy_closed_total", "counter", "reason=\"refused\"", "legacy[?path].refused", 0,
     NULL},
    {.path = "service", .help = "the exported rows of the service record"},
};
const size_t ttm_prom_nfamilies = sizeof ttm_prom_families / sizeof ttm_prom_families[0];

#define MAX_LABELS 6
#define MAX_SEGS   8
#define MAX_ITEMS  6
#define MAX_MINUS  4

/* A row reached from an element through nested records: its offset there, and the row. */
typedef struct reach {
    size_t off;
    const ttm_field *f;
} reach;

enum { IT_COND, IT_ROW, IT_INDEX, IT_FROM };

/* One item of a segment's bracket, resolved. */
typedef struct item {
    int kind;    /* IT_* */
    reach r;     /* IT_COND, IT_ROW: the row in the element */
    size_t slot; /* IT_ROW, IT_INDEX: the label it binds (its position in the entry's list) */
    size_t from; /* IT_FROM: the first index kept */
} item;

/* One segment of a path: a row of the record the previous segment reached. */
typedef struct seg {
    const ttm_field *f;
    item items[MAX_ITEMS];
    size_t nitems;
    const ttm_field *minus[MAX_MINUS]; /* ROW-ROW-...: the rows subtracted */
    size_t nminus;
} seg;

/* An entry's path and labels resolved against the record tables once per render, so that
 * walking the report compares no names. */
typedef struct plan {
    const ttm_prom_family *fam;
    seg segs[MAX_SEGS];
    size_t nsegs;
    const char *names[MAX_LABELS]; /* a label's name, or NULL for a constant (name="value") */
    size_t name_len[MAX_LABELS];
    const char *consts[MAX_LABELS];
    size_t const_len[MAX_LABELS];
    size_t nlabels;
} plan;

/* A walk of one entry's plan: the label values bound so far, escaped. */
typedef struct walk {
    out *o;
    const plan *pl;
    char values[MAX_LABELS][2 * TTM_REPORT_NAME_LEN + 1];
} walk;

/* The row called name[0..len) of rec, or NULL. */
static const ttm_field *row_named(const ttm_record *rec, const char *name, size_t len)
{
    for (size_t i = 0; rec != NULL && i < rec->nfields; i++)
        if (strncmp(rec->fields[i].name, name, len) == 0 && rec->fields[i].name[len] == '\0')
            return &rec->fields[i];
    return NULL;
}

/* The row a dotted path[0..len) names below rec (through nested records); false when none. */
static bool reach_row(const ttm_record *rec, const char *path, size_t len, reach *r)
{
    r->off = 0;
    for (;;) {
        const char *dot = memchr(path, '.', len);
        size_t n = dot ? (size_t)(dot - path) : len;
        const ttm_field *f = row_named(rec, path, n);
        if (f == NULL || (dot != NULL && f->type != TTM_FT_REC))
            return false;
        r->off += f->off;
        if (dot == NULL) {
            r->f = f;
            return true;
        }
        rec = f->rec;
        path += n + 1;
        len -= n + 1;
    }
}

/* The position of label name[0..len) in the entry's list, or MAX_LABELS. */
static size_t slot_of(const plan *pl, const char *name, size_t len)
{
    for (size_t i = 0; i < pl->nlabels; i++)
        if (pl->names[i] != NULL && pl->name_len[i] == len && strncmp(pl->names[i], name, len) == 0)
            return i;
    return MAX_LABELS;
}

/* The items of a bracket, items[0..len), of segment s (elements of record elem, NULL for
 * scalars). */
static int compile_items(plan *pl, seg *s, const ttm_record *elem, const char *items, size_t len)
{
    while (len > 0) {
        const char *comma = memchr(items, ',', len);
        size_t n = comma ? (size_t)(comma - items) : len;
        const char *eq = memchr(items, '=', n);
        if (s->nitems == MAX_ITEMS || n == 0)
            return TTM_EINVAL;
        item *it = &s->items[s->nitems++];
        if (items[0] == '?') {
            it->kind = IT_COND;
            if (!reach_row(elem, items + 1, n - 1, &it->r))
                return TTM_EINVAL;
        } else if (n > 2 && items[n - 1] == '.' && items[n - 2] == '.') {
            it->kind = IT_FROM;
            it->from = (size_t)strtoul(items, NULL, 10);
        } else if (eq != NULL) {
            it->kind = IT_ROW;
            it->slot = slot_of(pl, items, (size_t)(eq - items));
            if (it->slot == MAX_LABELS ||
                !reach_row(elem, eq + 1, n - (size_t)(eq + 1 - items), &it->r))
                return TTM_EINVAL;
        } else {
            it->kind = IT_INDEX;
            it->slot = slot_of(pl, items, n);
            if (it->slot == MAX_LABELS || s->f->index == NULL)
                return TTM_EINVAL;
        }
        items += n + (comma != NULL);
        len -= n + (comma != NULL);
    }
    return 0;
}

/* The plan of an entry of ttm_prom_families (metrics.h says how a path reads); TTM_EINVAL
 * when the path or the labels do not fit the tables (the test of every family catches it). */
static int compile(const ttm_prom_family *fam, plan *pl)
{
    memset(pl, 0, sizeof *pl);
    pl->fam = fam;
    for (const char *l = fam->labels; l != NULL && *l != '\0';) {
        size_t n = strcspn(l, ",");
        if (pl->nlabels == MAX_LABELS)
            return TTM_EINVAL;
        if (memchr(l, '=', n) != NULL) {
            pl->consts[pl->nlabels] = l;
            pl->const_len[pl->nlabels] = n;
        } else {
            pl->names[pl->nlabels] = l;
            pl->name_len[pl->nlabels] = n;
        }
        pl->nlabels++;
        l += n + (l[n] == ',');
    }
    const ttm_record *rec = &ttm_rec_report;
    for (const char *p = fam->path;;) {
        if (pl->nsegs == MAX_SEGS)
            return TTM_EINVAL;
        seg *s = &pl->segs[pl->nsegs++];
        size_t n = strcspn(p, ".[-");
        if ((s->f = row_named(rec, p, n)) == NULL)
            return TTM_EINVAL;
        for (p += n; *p == '-'; p += n + 1) {
            n = strcspn(p + 1, ".[-");
            const ttm_field *g = row_named(rec, p + 1, n);
            if (g == NULL || s->nminus == MAX_MINUS)
                return TTM_EINVAL;
            s->minus[s->nminus++] = g;
        }
        if (*p == '[') {
            const char *close = strchr(p, ']');
            if (close == NULL)
                return TTM_EINVAL;
            int rc = compile_items(pl, s, s->f->rec, p + 1, (size_t)(close - p - 1));
            if (rc != 0)
                return rc;
            p = close + 1;
        }
        if (*p == '\0')
            return s->f->rec == NULL ? 0 : TTM_EINVAL; /* a path ends at a scalar */
        if (*p != '.' || (rec = s->f->rec) == NULL)
            return TTM_EINVAL;
        p++;
    }
}

const ttm_field *ttm_metrics_value_row(const ttm_prom_family *fam)
{
    plan pl;
    if (fam->name == NULL || compile(fam, &pl) != 0)
        return NULL;
    return pl.segs[pl.nsegs - 1].f;
}

/* A label value into buf: a string escaped, an integer in decimal. */
static void label_value(char *buf, size_t len, const ttm_field *f, const uint8_t *p)
{
    if (f->type == TTM_FT_STR)
        esc(buf, len, (const char *)p);
    else
        snprintf(buf, len, "%" PRIu64, ttm__schema_get_uint(p, f->csize));
}

/* A value of an enumeration as a label: its name in lower case. */
static void enum_label(char *buf, size_t len, const ttm_schema_enum *e, unsigned v)
{
    const char *n = e->label(v);
    size_t k = 0;
    for (; n[k] != '\0' && k + 1 < len; k++)
        buf[k] = (char)(n[k] >= 'A' && n[k] <= 'Z' ? n[k] + ('a' - 'A') : n[k]);
    buf[k] = '\0';
}

/* One sample: the family's name, its labels in the entry's order, the value (ns as seconds).
 * Written without printf but for seconds: a Galaxy host's text has some 16,000 samples. */
static void sample(out *o, const char *name, const char *labels, size_t labels_len,
                   const ttm_field *f, uint64_t v)
{
    put(o, name, strlen(name));
    if (labels_len) {
        put(o, "{", 1);
        put(o, labels, labels_len);
        put(o, "}", 1);
    }
    if (f->unit != NULL && strcmp(f->unit, "ns") == 0) {
        emit(o, " %.3f\n", (double)v / 1e9);
        return;
    }
    char digits[24];
    size_t k = sizeof digits;
    digits[--k] = '\n';
    do
        digits[--k] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    digits[--k] = ' ';
    put(o, digits + k, sizeof digits - k);
}

/* s (n bytes) at buf + *at when it fits in len (with a NUL); the labels of one sample. */
static void cat(char *buf, size_t len, size_t *at, const char *s, size_t n)
{
    if (*at + n < len) {
        memcpy(buf + *at, s, n);
        *at += n;
    }
}

static void leaf(walk *w, const ttm_field *f, uint64_t v)
{
    const plan *pl = w->pl;
    if ((pl->fam->flags & TTM_PROM_NONZERO) && v == 0)
        return;
    char labels[MAX_LABELS * (2 * TTM_REPORT_NAME_LEN + 40)];
    size_t n = 0;
    for (size_t i = 0; i < pl->nlabels; i++) {
        if (i > 0)
            cat(labels, sizeof labels, &n, ",", 1);
        if (pl->names[i] == NULL) {
            cat(labels, sizeof labels, &n, pl->consts[i], pl->const_len[i]);
            continue;
        }
        cat(labels, sizeof labels, &n, pl->names[i], pl->name_len[i]);
        cat(labels, sizeof labels, &n, "=\"", 2);
        cat(labels, sizeof labels, &n, w->values[i], strlen(w->values[i]));
        cat(labels, sizeof labels, &n, "\"", 1);
    }
    sample(w->o, pl->fam->name, labels, n, f, v);
}

/* The bracket of segment s applied to its element e (index k): false when the element is
 * left out; the labels it binds are set. */
static bool keep(walk *w, const seg *s, const uint8_t *e, size_t k)
{
    for (size_t i = 0; i < s->nitems; i++) {
        const item *it = &s->items[i];
        const uint8_t *at = e + it->r.off;
        switch (it->kind) {
        case IT_COND:
            if (it->r.f->type == TTM_FT_STR ? *at == '\0'
                                            : ttm__schema_get_uint(at, it->r.f->csize) == 0)
                return false;
            break;
        case IT_FROM:
            if (k < it->from)
                return false;
            break;
        case IT_ROW:
            label_value(w->values[it->slot], sizeof w->values[0], it->r.f, at);
            break;
        default:
            enum_label(w->values[it->slot], sizeof w->values[0], s->f->index, (unsigned)k);
            break;
        }
    }
    return true;
}

/* The elements of segment s's row in the record at obj: where they start, how many, and the
 * distance between two (a record or a scalar row: itself, once). */
static size_t elements(const seg *s, const uint8_t *obj, const uint8_t **p, size_t *stride)
{
    const ttm_field *f = s->f;
    *p = obj + f->off;
    *stride = 0;
    if (f->type == TTM_FT_DYN) {
        const uint8_t *arr; /* the member is the array's pointer */
        memcpy(&arr, *p, sizeof arr);
        *p = arr;
        *stride = f->rec->size;
        return (size_t)ttm__schema_get_uint(obj + f->count_off, f->count_size);
    }
    if (f->type != TTM_FT_ARR)
        return 1;
    *stride = f->stride;
    if (!(f->flags & TTM_FF_COUNTED))
        return f->count;
    uint64_t c = ttm__schema_get_uint(obj + f->count_off, f->count_size);
    return c < f->count ? (size_t)c : f->count;
}

/* The samples of segments i.. of the plan, below the record at obj. */
static void walk_seg(walk *w, size_t i, const uint8_t *obj)
{
    const seg *s = &w->pl->segs[i];
    const ttm_field *f = s->f;
    if (s->nminus > 0) { /* ROW-ROW-...: the first row less the others */
        uint64_t v = ttm__schema_get_uint(obj + f->off, f->csize);
        for (size_t m = 0; m < s->nminus; m++)
            v -= ttm__schema_get_uint(obj + s->minus[m]->off, s->minus[m]->csize);
        leaf(w, f, v);
        return;
    }
    const uint8_t *p;
    size_t stride, count = elements(s, obj, &p, &stride);
    size_t size = f->type == TTM_FT_ARR ? f->stride : f->csize;
    for (size_t k = 0; k < count; k++) {
        const uint8_t *e = p + k * stride;
        if (!keep(w, s, e, k))
            continue;
        if (i + 1 < w->pl->nsegs)
            walk_seg(w, i + 1, e);
        else
            leaf(w, f, ttm__schema_get_uint(e, size));
    }
}

/* Whether the entry's family has HELP and TYPE in this text: its part of the report is in the
 * snapshot, the brackets of the records before the first list keep them, and (TTM_PROM_ANY)
 * that list has elements. */
static bool present(walk *w, const ttm_report *s)
{
    const plan *pl = w->pl;
    const ttm_field *top = pl->segs[0].f;
    if (top->section != 0 && !(s->sections & TTM_SNAP_BIT(top->section)))
        return false;
    const uint8_t *obj = (const uint8_t *)s;
    for (size_t i = 0; i < pl->nsegs; i++) {
        const ttm_field *f = pl->segs[i].f;
        const uint8_t *p;
        size_t stride, count = elements(&pl->segs[i], obj, &p, &stride);
        if (f->type == TTM_FT_DYN || f->type == TTM_FT_ARR)
            return !(pl->fam->flags & TTM_PROM_ANY) || count > 0;
        if (f->type != TTM_FT_REC)
            return true;
        if (!keep(w, &pl->segs[i], p, 0))
            return false;
        obj = p;
    }
    return true;
}

/* The families of a record's exported rows (common/schema.h: prom, prom_kind, prom_labels,
 * prom_help), one sample per row, in row order. */
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
        const char *labels = f->prom_labels ? f->prom_labels : "";
        sample(o, f->prom, labels, strlen(labels), f,
               ttm__schema_get_uint(base + f->off, f->csize));
    }
}

/* The samples of one entry; HELP and TYPE first when it opens its family. */
static void entry_families(out *o, const ttm_report *s, const ttm_prom_family *fam)
{
    if (fam->name == NULL) { /* the exported rows of a record of the report */
        const ttm_field *f = row_named(&ttm_rec_report, fam->path, strlen(fam->path));
        if (f == NULL || f->type != TTM_FT_REC) {
            o->err = o->err ? o->err : TTM_EINVAL;
            return;
        }
        if (f->section == 0 || (s->sections & TTM_SNAP_BIT(f->section)))
            record_families(o, f->rec, (const uint8_t *)s + f->off);
        return;
    }
    plan pl;
    if (compile(fam, &pl) != 0) {
        o->err = o->err ? o->err : TTM_EINVAL;
        return;
    }
    walk w = {.o = o, .pl = &pl};
    if (!present(&w, s))
        return;
    if (fam->help != NULL)
        family(o, fam->name, fam->kind, fam->help);
    walk_seg(&w, 0, (const uint8_t *)s);
}

static void shm_families(out *o, const ttm_ttshm_region *r, size_t n)
{
    static const char *const counters[TTM_TTSHM_NCOUNTERS] = {"dram",  "l1", "l1_small",
                                                              "trace", "cb", "kernel"};
    fixed(o, FIX_SHM_REGIONS);
    size_t st[3] = {0};
    for (size_t i = 0; i < n; i++)
        st[r[i].state < 3 ? r[i].state : 2]++;
    emit(o, "ttmem_ttmetal_regions{state=\"ok\"} %zu\n", st[TTM_TTSHM_OK]);
    emit(o, "ttmem_ttmetal_regions{state=\"not_ready\"} %zu\n", st[TTM_TTSHM_NOT_READY]);
    emit(o, "ttmem_ttmetal_regions{state=\"invalid\"} %zu\n", st[TTM_TTSHM_INVALID]);
    if (st[TTM_TTSHM_OK] == 0)
        return;
    fixed(o, FIX_SHM_MEMORY);
    for (size_t i = 0; i < n; i++)
        for (unsigned c = 0; r[i].state == TTM_TTSHM_OK && c < TTM_TTSHM_NCOUNTERS; c++)
            emit(o,
                 "ttmem_ttmetal_memory_bytes{region=\"%" PRIu64 "\",memtype=\"%s\"} %" PRIu64 "\n",
                 r[i].id, counters[c], r[i].total[c]);
    fixed(o, FIX_SHM_PROCESS);
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
                         "ttmem_ttmetal_process_memory_bytes{region=\"%" PRIu64 "\",pid=\"%" PRId32
                         "\",process=\"%s\",memtype=\"%s\"} %" PRIu64 "\n",
                         r[i].id, p->pid, name, counters[c], p->bytes[c]);
        }
    }
    fixed(o, FIX_SHM_GHOSTS);
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
    fixed(&o, FIX_UP);
    emit(&o, "ttmem_daemon_up %d\n", s != NULL);
    char version[64];
    fixed(&o, FIX_BUILD);
    emit(&o, "ttmem_build_info{version=\"%s\"} 1\n", esc(version, sizeof version, TTM_VERSION));
    for (size_t i = 0; i < ttm_prom_nfamilies; i++)
        entry_families(&o, snap, &ttm_prom_families[i]);
    shm_families(&o, regions, nregions);
    return o.err;
}

int ttm_metrics_render_scrapes(const ttm_metrics_scrapes *st, ttm_bytes *b)
{
    out o = {b, 0};
    fixed(&o, FIX_SCRAPES);
    emit(&o, "ttmem_scrapes_total{code=\"200\"} %" PRIu64 "\n", st->ok);
    emit(&o, "ttmem_scrapes_total{code=\"503\"} %" PRIu64 "\n", st->unavailable);
    fixed(&o, FIX_SCRAPE_DURATION);
    emit(&o, "ttmem_scrape_duration_seconds_sum %.6f\n", (double)st->build_ns / 1e9);
    emit(&o, "ttmem_scrape_duration_seconds_count %" PRIu64 "\n", st->builds);
    fixed(&o, FIX_HTTP_CONNS);
    emit(&o, "ttmem_http_connections{kind=\"open\"} %" PRIu32 "\n", st->conns);
    emit(&o, "ttmem_http_connections{kind=\"limit\"} %" PRIu32 "\n", st->max_conns);
    emit(&o, "ttmem_http_connections{kind=\"limit_per_address\"} %" PRIu32 "\n",
         st->max_conns_per_peer);
    fixed(&o, FIX_HTTP_CLOSED);
    emit(&o, "ttmem_http_connections_closed_total{reason=\"deadline\"} %" PRIu64 "\n",
         st->cut_deadline);
    emit(&o, "ttmem_http_connections_closed_total{reason=\"per_address\"} %" PRIu64 "\n",
         st->refused_peer);
    fixed(&o, FIX_SHM_SCAN);
    emit(&o, "ttmem_ttmetal_scan{kind=\"entries\"} %" PRIu64 "\n", st->shm_entries);
    emit(&o, "ttmem_ttmetal_scan{kind=\"entries_capped\"} %" PRIu64 "\n", st->shm_capped);
    emit(&o, "ttmem_ttmetal_scan{kind=\"regions_skipped\"} %" PRIu64 "\n", st->shm_skipped);
    return o.err;
}
