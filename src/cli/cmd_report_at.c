/*
 * cmd_report_at.c — `ttmem report FILE --at TIME|peak[:DEVICE[:MEMTYPE]]`: the run replayed to
 * one moment (a time after its first record, or the record at which the bytes in use on a
 * device and memtype were highest: core/replay.h, ttm_replay_peak), and what was live then:
 * the bytes in use per device and memtype, then the live buffers (of that device and memtype
 * for a peak of one) by allocation site, by scope and by process, and the buffers themselves
 * named as memory_viz names blocks (b<addr>_<n>). Text, or the "ttmem.at" JSON document
 * (docs/REPORT_SCHEMA.md).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/export.h"
#include "cli/report_at.h"
#include "cli/sites.h"
#include "common/alloc.h"
#include "common/fmt.h"
#include "common/json.h"
#include "common/util.h"

#define AT_SCHEMA_VERSION 1

/* ---- --at's value -------------------------------------------------------------------------- */

static int at_fail(const char *s, const char *why)
{
    return ttm_cli_fail("report: --at '%s': %s; use a time after the run's first record "
                        "(12.5s, 1500ms, 250us; a plain number is seconds) or peak, "
                        "peak:DEVICE, peak:DEVICE:MEMTYPE",
                        s, why);
}

static int parse_peak(const char *s, ttm_cli_at *out)
{
    out->peak = true;
    out->device = TTM_REPLAY_ANY_DEVICE;
    out->memtype = TTM_MEM_ANY;
    const char *p = s + strlen("peak");
    if (*p == '\0')
        return 0;
    if (*p != ':')
        return at_fail(s, "not a time nor peak");
    char dev[32];
    const char *colon = strchr(p + 1, ':');
    size_t n = colon != NULL ? (size_t)(colon - (p + 1)) : strlen(p + 1);
    if (n == 0 || n >= sizeof dev)
        return at_fail(s, "the device must be a number");
    memcpy(dev, p + 1, n);
    dev[n] = '\0';
    uint64_t d;
    if (ttm_cli_parse_u64(dev, &d) != TTM_OK || d > UINT16_MAX)
        return at_fail(s, "the device must be a number from 0 to 65535");
    out->device = (uint32_t)d;
    if (colon == NULL)
        return 0;
    unsigned m;
    if (ttm__memtype_parse(colon + 1, &m) != TTM_OK || m == TTM_MEM_ANY)
        return at_fail(s, "unknown memtype (DRAM, L1, SYSTEM_MEMORY, L1_SMALL, TRACE, CB, "
                          "KERNEL)");
    out->memtype = (uint8_t)m;
    return 0;
}

int ttm__cli_parse_at(const char *s, ttm_cli_at *out)
{
    memset(out, 0, sizeof *out);
    out->spec = s;
    if (strncmp(s, "peak", 4) == 0)
        return parse_peak(s, out);
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || !(v >= 0) || s[0] == '-' || s[0] == '+')
        return at_fail(s, "not a time nor peak");
    static const struct {
        const char *unit;
        double ns;
    } units[] = {{"", 1e9}, {"s", 1e9}, {"ms", 1e6}, {"us", 1e3}, {"ns", 1}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(end, units[i].unit) == 0) {
            double ns = v * units[i].ns;
            if (ns >= 1.8e19)
                return at_fail(s, "too far");
            out->offset_ns = (uint64_t)(ns + 0.5);
            return 0;
        }
    return at_fail(s, "unknown unit (s, ms, us, ns)");
}

/* ---- the live set at the moment ------------------------------------------------------------ */

typedef struct at_set {
    const ttm_cli_at *at;
    ttm_replay_buffer *v; /* the live owning buffers at the moment, of the device and memtype */
    size_t n, cap;
    bool nomem;
} at_set;

static void on_buffer(void *ctx, size_t run, const ttm_replay_buffer *b)
{
    (void)run;
    at_set *s = ctx;
    if (b->free_ts != 0 || (b->flags & TTM_FLAG_VIEW)) /* views hold no bytes */
        return;
    if (s->at->peak && s->at->device != TTM_REPLAY_ANY_DEVICE && b->device != s->at->device)
        return;
    if (s->at->peak && s->at->memtype != TTM_MEM_ANY && b->memtype != s->at->memtype)
        return;
    ttm_replay_buffer *v = ttm__grow(s->v, &s->cap, s->n, sizeof *v, 256);
    if (v == NULL) {
        s->nomem = true;
        return;
    }
    s->v = v;
    s->v[s->n++] = *b;
}

/* The buffers in a stable order: device, address. */
static int buffer_cmp(const void *a, const void *b)
{
    const ttm_replay_buffer *x = a, *y = b;
    if (x->device != y->device)
        return x->device < y->device ? -1 : 1;
    if (x->addr != y->addr)
        return x->addr < y->addr ? -1 : 1;
    return x->memtype < y->memtype ? -1 : x->memtype > y->memtype;
}

/* ---- groups: by site, scope, process ------------------------------------------------------- */

typedef struct group {
    uint32_t key;
    uint64_t count, bytes;
} group;

typedef uint32_t (*key_fn)(const ttm_replay_buffer *b);
static uint32_t key_stack(const ttm_replay_buffer *b) { return b->stack; }
static uint32_t key_scope(const ttm_replay_buffer *b) { return b->scope; }
static uint32_t key_pid(const ttm_replay_buffer *b) { return b->pid; }

static int group_key_cmp(const void *a, const void *b)
{
    const group *x = a, *y = b;
    return x->key < y->key ? -1 : x->key > y->key;
}

/* Largest first, as the report's sections by site. */
static int group_cmp(const void *a, const void *b)
{
    const group *x = a, *y = b;
    if (x->bytes != y->bytes)
        return x->bytes > y->bytes ? -1 : 1;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return group_key_cmp(a, b);
}

/* The buffers grouped by key, largest first; *n gets the number of groups. NULL when there are
 * none (or memory is short: *nomem). */
static group *group_by(const at_set *s, key_fn key, size_t *n, bool *nomem)
{
    *n = 0;
    if (s->n == 0)
        return NULL;
    group *g = ttm__calloc(s->n, sizeof *g);
    if (g == NULL) {
        *nomem = true;
        return NULL;
    }
    for (size_t i = 0; i < s->n; i++)
        g[i] = (group){.key = key(&s->v[i]), .count = 1, .bytes = s->v[i].size};
    ttm__qsort(g, s->n, sizeof *g, group_key_cmp);
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (k > 0 && g[k - 1].key == g[i].key) {
            g[k - 1].count++;
            g[k - 1].bytes += g[i].bytes;
        } else {
            g[k++] = g[i];
        }
    }
    ttm__qsort(g, k, sizeof *g, group_cmp);
    *n = k;
    return g;
}

typedef struct at_view {
    const ttm_cli_report_opts *o;
    const char *title;
    ttm_replay *rp;
    uint64_t ts, first_ts, rec, peak_bytes;
    bool has_rec;
    at_set set;
    ttm_report r; /* the registry at the moment: devices, and the stacks of the buffers */
    group *sites, *scopes, *procs;
    size_t nsites, nscopes, nprocs;
    uint64_t bytes;
} at_view;

static const char *proc_name(const at_view *v, uint32_t pid)
{
    size_t n = 0;
    const ttm_replay_proc *p = ttm_replay_procs(v->rp, 0, &n);
    for (size_t i = 0; i < n; i++)
        if (p[i].pid == pid)
            return p[i].name;
    return "";
}

static size_t shown(const at_view *v, size_t n)
{
    return n < v->o->top ? n : v->o->top;
}

/* "the peak of DRAM on device 0" / "12.500 s after the first record" */
static void moment_text(const at_view *v, char *buf, size_t len)
{
    const ttm_cli_at *at = v->set.at;
    double s = (double)(v->ts - v->first_ts) / 1e9;
    if (!at->peak) {
        snprintf(buf, len, "%.6f s after the run's first record", s);
        return;
    }
    char dev[32] = "all devices", mt[32] = "all memory";
    if (at->device != TTM_REPLAY_ANY_DEVICE)
        snprintf(dev, sizeof dev, "device %u", (unsigned)at->device);
    if (at->memtype != TTM_MEM_ANY)
        snprintf(mt, sizeof mt, "%s", ttm__memtype_name(at->memtype));
    char b[TTM_FMT_LEN];
    snprintf(buf, len, "the peak of %s on %s, %s, %.6f s after the run's first record", mt, dev,
             ttm__fmt_bytes(b, v->peak_bytes), s);
}

/* ---- text ---------------------------------------------------------------------------------- */

static void text_in_use(FILE *out, const ttm_report *r)
{
    fprintf(out, "\nIn use\n");
    for (size_t i = 0; i < r->ndevices; i++) {
        const ttm_device_stats *d = &r->devices[i];
        fprintf(out, "  device %u:", (unsigned)d->device);
        bool any = false;
        for (unsigned m = 0; m < TTM_MEMTYPE_COUNT; m++)
            if (d->mem[m].live_bytes > 0) {
                char a[TTM_FMT_LEN];
                fprintf(out, " %s %s", ttm__memtype_name(m), ttm__fmt_bytes(a, d->mem[m].live_bytes));
                any = true;
            }
        fprintf(out, "%s\n", any ? "" : " nothing");
    }
}

static void text_group_head(FILE *out, const group *g)
{
    char a[TTM_FMT_LEN], b[TTM_FMT_LEN];
    fprintf(out, "  %s in %s buffer%s", ttm__fmt_bytes(a, g->bytes), ttm__fmt_count(b, g->count),
            g->count == 1 ? "" : "s");
}

static void text_groups(FILE *out, const at_view *v)
{
    unsigned depth = v->o->depth != 0 ? v->o->depth : TTM_CLI_TEXT_DEPTH;
    fprintf(out, "\nBy allocation site, largest first (top %zu of %zu)\n", shown(v, v->nsites),
            v->nsites);
    for (size_t i = 0; i < shown(v, v->nsites); i++) {
        text_group_head(out, &v->sites[i]);
        fputc('\n', out);
        ttm_cli_print_stack(out, &v->r, v->sites[i].key, depth, 4);
    }
    fprintf(out, "\nBy scope (top %zu of %zu)\n", shown(v, v->nscopes), v->nscopes);
    for (size_t i = 0; i < shown(v, v->nscopes); i++) {
        const char *name = ttm_cli_string(&v->r, v->scopes[i].key);
        text_group_head(out, &v->scopes[i]);
        fprintf(out, "  %s\n", v->scopes[i].key == 0 ? "(no scope)" : name ? name : "?");
    }
    fprintf(out, "\nBy process (top %zu of %zu)\n", shown(v, v->nprocs), v->nprocs);
    for (size_t i = 0; i < shown(v, v->nprocs); i++) {
        const char *name = proc_name(v, v->procs[i].key);
        text_group_head(out, &v->procs[i]);
        fprintf(out, "  pid %u%s%s%s\n", (unsigned)v->procs[i].key, name[0] ? " (" : "", name,
                name[0] ? ")" : "");
    }
}

static void print_text(FILE *out, const at_view *v)
{
    char m[256], a[TTM_FMT_LEN], b[TTM_FMT_LEN];
    moment_text(v, m, sizeof m);
    fprintf(out, "ttmem report: %s\n\nAt %s", v->title, m);
    if (v->has_rec)
        fprintf(out, " (record %" PRIu64 ")", v->rec);
    fprintf(out, "\n");
    text_in_use(out, &v->r);
    fprintf(out, "\nLive buffers%s: %s, %s\n",
            v->set.at->peak && (v->set.at->device != TTM_REPLAY_ANY_DEVICE ||
                                v->set.at->memtype != TTM_MEM_ANY)
                ? " there"
                : "",
            ttm__fmt_count(a, v->set.n), ttm__fmt_bytes(b, v->bytes));
    if (v->set.n > 0)
        text_groups(out, v);
}

/* ---- JSON ---------------------------------------------------------------------------------- */

static void json_moment(ttm_json *j, const at_view *v)
{
    const ttm_cli_at *at = v->set.at;
    ttm__json_obj_begin(j, "at");
    ttm__json_str(j, "spec", at->spec);
    ttm__json_str(j, "kind", at->peak ? "peak" : "time");
    if (at->peak && at->device != TTM_REPLAY_ANY_DEVICE)
        ttm__json_u64(j, "device", at->device);
    else
        ttm__json_str(j, "device", NULL);
    ttm__json_str(j, "memtype", at->peak && at->memtype != TTM_MEM_ANY
                                    ? ttm__memtype_name(at->memtype)
                                    : NULL);
    ttm__json_u64(j, "ts", v->ts);
    ttm__json_u64(j, "offset_ns", v->ts - v->first_ts);
    if (v->has_rec)
        ttm__json_u64(j, "record", v->rec);
    else
        ttm__json_str(j, "record", NULL);
    if (at->peak)
        ttm__json_u64(j, "peak_bytes", v->peak_bytes);
    else
        ttm__json_str(j, "peak_bytes", NULL);
    ttm__json_obj_end(j);
}

static void json_in_use(ttm_json *j, const ttm_report *r)
{
    ttm__json_arr_begin(j, "in_use");
    for (size_t i = 0; i < r->ndevices; i++)
        for (unsigned m = 0; m < TTM_MEMTYPE_COUNT; m++)
            if (r->devices[i].mem[m].live_bytes > 0) {
                ttm__json_obj_begin(j, NULL);
                ttm__json_u64(j, "device", r->devices[i].device);
                ttm__json_str(j, "memtype", ttm__memtype_name(m));
                ttm__json_u64(j, "bytes", r->devices[i].mem[m].live_bytes);
                ttm__json_u64(j, "buffers", r->devices[i].mem[m].live_count);
                ttm__json_obj_end(j);
            }
    ttm__json_arr_end(j);
}

static void json_groups(ttm_json *j, const at_view *v, const char *key, const char *id,
                        const group *g, size_t n)
{
    ttm__json_arr_begin(j, key);
    for (size_t i = 0; i < shown(v, n); i++) {
        ttm__json_obj_begin(j, NULL);
        ttm__json_u64(j, id, g[i].key);
        if (strcmp(id, "scope") == 0)
            ttm__json_str(j, "name", g[i].key != 0 ? ttm_cli_string(&v->r, g[i].key) : NULL);
        else if (strcmp(id, "pid") == 0)
            ttm__json_str(j, "name", proc_name(v, g[i].key));
        ttm__json_u64(j, "count", g[i].count);
        ttm__json_u64(j, "bytes", g[i].bytes);
        ttm__json_obj_end(j);
    }
    ttm__json_arr_end(j);
}

static void json_buffers(ttm_json *j, const at_view *v)
{
    ttm__json_arr_begin(j, "buffers");
    for (size_t i = 0; i < v->set.n; i++) {
        const ttm_replay_buffer *b = &v->set.v[i];
        char name[48];
        ttm_export_buffer_name(b, name, sizeof name);
        ttm__json_obj_begin(j, NULL);
        ttm__json_str(j, "name", name);
        ttm__schema_json(j, &ttm_rec_live, &v->r.live[i], 0);
        ttm__json_obj_end(j);
    }
    ttm__json_arr_end(j);
}

/* What the stack and scope ids above mean, written by the report's own tables. */
static void json_refs(ttm_json *j, const ttm_report *r)
{
    ttm__json_arr_begin(j, "strings");
    for (size_t i = 0; i < r->nstrings; i++) {
        ttm__json_obj_begin(j, NULL);
        ttm__schema_json(j, &ttm_rec_report_string, &r->strings[i], 0);
        ttm__json_obj_end(j);
    }
    ttm__json_arr_end(j);
    ttm__json_arr_begin(j, "modules");
    for (size_t i = 0; i < r->nmodules; i++) {
        ttm__json_obj_begin(j, NULL);
        ttm__schema_json(j, &ttm_rec_report_module, &r->modules[i], 0);
        ttm__json_obj_end(j);
    }
    ttm__json_arr_end(j);
    ttm__json_arr_begin(j, "stacks");
    for (size_t i = 0; i < r->nstacks; i++) {
        ttm__json_obj_begin(j, NULL);
        ttm__schema_json(j, &ttm_rec_report_stack, &r->stacks[i], 0);
        ttm__json_obj_end(j);
    }
    ttm__json_arr_end(j);
}

static void print_json(FILE *out, const at_view *v)
{
    ttm_json j;
    ttm__json_init(&j, out, true);
    ttm__json_obj_begin(&j, NULL);
    ttm__json_str(&j, "schema", "ttmem.at");
    ttm__json_u64(&j, "schema_version", AT_SCHEMA_VERSION);
    ttm__json_str(&j, "source", v->title);
    json_moment(&j, v);
    json_in_use(&j, &v->r);
    ttm__json_obj_begin(&j, "live");
    ttm__json_u64(&j, "count", v->set.n);
    ttm__json_u64(&j, "bytes", v->bytes);
    ttm__json_obj_end(&j);
    json_groups(&j, v, "by_site", "stack", v->sites, v->nsites);
    json_groups(&j, v, "by_scope", "scope", v->scopes, v->nscopes);
    json_groups(&j, v, "by_process", "pid", v->procs, v->nprocs);
    json_buffers(&j, v);
    json_refs(&j, &v->r);
    ttm__json_obj_end(&j);
    ttm__json_finish(&j);
}

/* ---- putting it together ------------------------------------------------------------------- */

/* Replays to the moment, collecting the live buffers. Returns 0 or an exit status (printed). */
static int replay_to_moment(at_view *v)
{
    const ttm_cli_at *at = v->set.at;
    ttm_replay_observer obs = {.ctx = &v->set, .buffer = on_buffer};
    uint64_t last = 0;
    ttm_replay_span(v->rp, 0, &v->first_ts, &last);
    int err;
    if (at->peak) {
        err = ttm_replay_peak(v->rp, 0, at->device, at->memtype, &v->ts, &v->peak_bytes, &v->rec);
        if (err != TTM_OK)
            return ttm_cli_fail("report: --at %s: nothing was ever in use there", at->spec), 1;
        v->has_rec = true;
        err = ttm_replay_run_to(v->rp, &obs, 0, v->rec);
    } else {
        v->ts = v->first_ts + at->offset_ns;
        if (at->offset_ns > last - v->first_ts)
            fprintf(stderr, "ttmem: report: --at %s is after the run's last record (%.6f s): "
                            "what was live at its end\n",
                    at->spec, (double)(last - v->first_ts) / 1e9);
        err = ttm_replay_run(v->rp, &obs, v->ts);
    }
    if (err == TTM_OK && v->set.nomem)
        err = TTM_ENOMEM;
    if (err != TTM_OK)
        return ttm_cli_fail("report: cannot replay the journal: %s", ttm_strerror(err)), 1;
    ttm__qsort(v->set.v, v->set.n, sizeof *v->set.v, buffer_cmp);
    return 0;
}

/* The registry at the moment as a report (devices; the stacks and scope names the buffers
 * refer to, through its live list), and the groups. Returns 0 or TTM_ENOMEM. */
static int build_view(at_view *v)
{
    ttm_registry *reg = ttm_replay_registry(v->rp, 0);
    ttm_report_options ropt = {.top = v->o->top, .sections = TTM_SNAP_BIT(TTM_SNAP_SEC_DEVICES)};
    int err = ttm_report_fill(reg, &ropt, &v->r);
    if (err != TTM_OK)
        return err;
    if (v->set.n > 0) {
        v->r.live = ttm__calloc(v->set.n, sizeof *v->r.live);
        if (v->r.live == NULL)
            return TTM_ENOMEM;
        v->r.nlive = v->r.live_total = v->set.n;
        for (size_t i = 0; i < v->set.n; i++) {
            const ttm_replay_buffer *b = &v->set.v[i];
            v->r.live[i] = (ttm_live){.pid = b->pid, .device = b->device, .memtype = b->memtype,
                                      .flags = b->flags, .refs = 1, .addr = b->addr,
                                      .size = b->size, .obj = b->obj, .ts = b->alloc_ts,
                                      .stack = b->stack, .scope = b->scope};
            v->bytes += b->size;
        }
    }
    err = ttm_report_resolve(&v->r, ttm_registry_stacks_c(reg));
    if (err != TTM_OK)
        return err;
    ttm_cli_symbolize(&v->r, NULL);
    bool nomem = false;
    v->sites = group_by(&v->set, key_stack, &v->nsites, &nomem);
    v->scopes = group_by(&v->set, key_scope, &v->nscopes, &nomem);
    v->procs = group_by(&v->set, key_pid, &v->nprocs, &nomem);
    return nomem ? TTM_ENOMEM : TTM_OK;
}

int ttm__cli_report_at(ttm_replay *rp, const ttm_cli_report_opts *o, const char *title)
{
    if (ttm_replay_runs(rp) != 1)
        return ttm_cli_fail("report: --at takes the journal of one run (the files given hold "
                            "%zu runs)",
                            ttm_replay_runs(rp)),
               2;
    at_view v = {.o = o, .title = title, .rp = rp, .set = {.at = &o->at}};
    int rc = replay_to_moment(&v);
    if (rc == 0) {
        int err = build_view(&v);
        if (err != TTM_OK) {
            ttm_cli_fail("report: --at: %s", ttm_strerror(err));
            rc = 1;
        }
    }
    if (rc == 0) {
        if (o->json)
            print_json(stdout, &v);
        else
            print_text(stdout, &v);
    }
    ttm__free(v.sites);
    ttm__free(v.scopes);
    ttm__free(v.procs);
    ttm__free(v.set.v);
    ttm_report_clear(&v.r);
    return rc;
}
