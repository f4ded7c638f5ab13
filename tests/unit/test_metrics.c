/*
 * test_metrics.c — the Prometheus exposition of a hand-built snapshot: values, labels, escaping,
 * HELP/TYPE before every sample, dead processes' series gone, counters-only regions; and a
 * report whose every field holds a distinct value (filled by walking the record tables), whose
 * every sample must carry the value of the row its family names, labels from the rows they
 * name, for every family of the tables.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "common/schema.h"
#include "common/snapshot.h"
#include "core/metrics.h"
#include "core/registry.h"

static char *render(const ttm_report *s, const ttm_ttshm_region *r, size_t n)
{
    ttm_bytes b = {0};
    assert_int_equal(ttm_metrics_render(s, r, n, &b), TTM_OK);
    char *text = malloc(b.len + 1);
    memcpy(text, b.data, b.len);
    text[b.len] = '\0';
    ttm__bytes_free(&b);
    return text;
}

static void build(ttm_report *s, ttm_proc_mem *pm)
{
    static ttm_device_stats dev[2];
    static ttm_report_proc procs[2];
    memset(s, 0, sizeof *s);
    memset(dev, 0, sizeof dev);
    memset(procs, 0, sizeof procs);
    s->sections = TTM_SNAP_WANT_STATUS;
    s->daemon.clients_connected = 3;
    s->daemon.dropped = 17;
    s->daemon.waited = 5;
    s->daemon.uptime_ns = 2500000000ull;
    s->totals.allocs = 100;
    s->totals.frees = 110;
    s->totals.marks = 2;
    s->totals.events = 215;
    for (int i = 0; i < 2; i++) {
        dev[i].device = (uint16_t)(i * 7);
        dev[i].capacity[TTM_SPACE_DRAM] = 12ull << 30;
        dev[i].mem[TTM_MEM_DRAM].live_bytes = 4096u * (unsigned)(i + 1);
        dev[i].mem[TTM_MEM_DRAM].peak_bytes = 8192;
        dev[i].mem[TTM_MEM_TRACE].live_bytes = 1u << 27;
        dev[i].class_count[TTM_CLASS_UNKNOWN_FREE] = 9;
    }
    s->ndevices = 2;
    s->devices = dev;
    procs[0].stats.pid = 4242;
    procs[0].stats.alive = true;
    strcpy(procs[0].name, "py\"th\\on");
    procs[0].stats.ndevices = 1;
    procs[0].stats.devices = pm;
    pm->device = 7;
    pm->mem[TTM_MEM_L1].allocs = 1;
    pm->mem[TTM_MEM_L1].live_bytes = 256;
    procs[1].stats.pid = 99;
    procs[1].stats.alive = false; /* exited: no series */
    procs[1].stats.ndevices = 1;
    procs[1].stats.devices = pm;
    s->nprocs = 2;
    s->procs = procs;
}

static void test_values_and_labels(void **state)
{
    (void)state;
    ttm_report s;
    ttm_proc_mem pm = {0};
    build(&s, &pm);
    char *t = render(&s, NULL, 0);
    assert_non_null(strstr(t, "ttmem_daemon_up 1\n"));
    assert_non_null(strstr(t, "ttmem_clients_connected 3\n"));
    assert_non_null(strstr(t, "ttmem_events_dropped_total 17\n"));
    assert_non_null(strstr(t, "ttmem_events_waited_total 5\n"));
    assert_non_null(strstr(t, "ttmem_daemon_uptime_seconds 2.500\n"));
    assert_non_null(strstr(t, "ttmem_events_total{kind=\"free\"} 110\n"));
    assert_non_null(strstr(t, "ttmem_events_total{kind=\"other\"} 3\n"));
    assert_non_null(
        strstr(t, "ttmem_device_memory_used_bytes{device=\"7\",memtype=\"dram\"} 8192\n"));
    assert_non_null(
        strstr(t, "ttmem_device_memory_used_bytes{device=\"0\",memtype=\"trace\"} 134217728\n"));
    assert_non_null(
        strstr(t, "ttmem_device_memory_peak_bytes{device=\"0\",memtype=\"dram\"} 8192\n"));
    assert_non_null(
        strstr(t, "ttmem_device_memory_capacity_bytes{device=\"0\",space=\"dram\"} 12884901888\n"));
    assert_null(strstr(t, "capacity_bytes{device=\"0\",space=\"l1\"}")); /* unknown: absent */
    assert_non_null(
        strstr(t, "ttmem_diagnosis_events_total{class=\"unknown_free\",device=\"7\"} 9\n"));
    assert_non_null(strstr(t, "ttmem_process_memory_bytes{pid=\"4242\",process=\"py\\\"th\\\\on\","
                              "device=\"7\",memtype=\"l1\"} 256\n"));
    assert_null(strstr(t, "pid=\"99\""));
    free(t);
}

/* Every sample's family has # HELP and # TYPE lines before its first sample, once. */
static void test_help_and_type_for_every_family(void **state)
{
    (void)state;
    ttm_report s;
    ttm_proc_mem pm = {0};
    build(&s, &pm);
    char *t = render(&s, NULL, 0);
    char seen_type[128][96];
    size_t ntypes = 0;
    for (char *line = strtok(t, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        if (strncmp(line, "# TYPE ", 7) == 0) {
            char name[96];
            assert_int_equal(sscanf(line + 7, "%95s", name), 1);
            for (size_t i = 0; i < ntypes; i++)
                assert_string_not_equal(seen_type[i], name);
            assert_true(ntypes < 128);
            strcpy(seen_type[ntypes++], name);
            continue;
        }
        if (line[0] == '#')
            continue;
        size_t n = strcspn(line, "{ ");
        bool found = false;
        for (size_t i = 0; i < ntypes && !found; i++)
            found = strlen(seen_type[i]) == n && strncmp(seen_type[i], line, n) == 0;
        if (!found)
            fail_msg("sample without TYPE: %s", line);
        assert_true(strncmp(line, "ttmem_", 6) == 0);
    }
    free(t);
}

static void test_no_daemon_and_regions(void **state)
{
    (void)state;
    ttm_ttshm_region r[2];
    memset(r, 0, sizeof r);
    r[0].state = TTM_TTSHM_OK;
    r[0].id = 5;
    r[0].total[TTM_TTSHM_DRAM] = 1000;
    r[0].nprocs = 2;
    r[0].procs[0].pid = 10;
    r[0].procs[0].alive = true;
    strcpy(r[0].procs[0].name, "llama");
    r[0].procs[0].bytes[TTM_TTSHM_L1] = 64;
    r[0].procs[1].pid = 11; /* a ghost: not a process series, counted as ghost */
    r[0].procs[1].bytes[TTM_TTSHM_L1] = 32;
    r[0].ghosts = 1;
    r[1].state = TTM_TTSHM_INVALID;
    char *t = render(NULL, r, 2);
    assert_non_null(strstr(t, "ttmem_daemon_up 0\n"));
    assert_null(strstr(t, "ttmem_clients_connected"));
    assert_non_null(strstr(t, "ttmem_ttmetal_regions{state=\"ok\"} 1\n"));
    assert_non_null(strstr(t, "ttmem_ttmetal_regions{state=\"invalid\"} 1\n"));
    assert_non_null(strstr(t, "ttmem_ttmetal_memory_bytes{region=\"5\",memtype=\"dram\"} 1000\n"));
    assert_non_null(strstr(t, "ttmem_ttmetal_process_memory_bytes{region=\"5\",pid=\"10\","
                              "process=\"llama\",memtype=\"l1\"} 64\n"));
    assert_null(strstr(t, "pid=\"11\""));
    assert_non_null(strstr(t, "ttmem_ttmetal_ghost_processes{region=\"5\"} 1\n"));
    free(t);
}

/* The endpoint's own families, appended to a render: values, summary shape, and that
 * allocation failure is reported, never a half-written family. */
static void test_scrape_families(void **state)
{
    (void)state;
    ttm_bytes b = {0};
    assert_int_equal(ttm_metrics_render(NULL, NULL, 0, &b), TTM_OK);
    size_t before = b.len;
    ttm_metrics_scrapes st = {.ok = 41, .unavailable = 2, .builds = 40, .build_ns = 1500000};
    assert_int_equal(ttm_metrics_render_scrapes(&st, &b), TTM_OK);
    char *t = malloc(b.len + 1);
    memcpy(t, b.data, b.len);
    t[b.len] = '\0';
    assert_true(b.len > before);
    assert_non_null(strstr(t, "ttmem_daemon_up 0\n")); /* the render before is kept */
    assert_non_null(strstr(t, "# TYPE ttmem_scrapes_total counter\n"
                              "ttmem_scrapes_total{code=\"200\"} 41\n"
                              "ttmem_scrapes_total{code=\"503\"} 2\n"));
    assert_non_null(strstr(t, "# TYPE ttmem_scrape_duration_seconds summary\n"
                              "ttmem_scrape_duration_seconds_sum 0.001500\n"
                              "ttmem_scrape_duration_seconds_count 40\n"));
    free(t);
    ttm__bytes_free(&b);
    ttm_bytes empty = {0};
    ttm__alloc_fail_at(1);
    assert_int_equal(ttm_metrics_render_scrapes(&st, &empty), TTM_ENOMEM);
    ttm__alloc_fail_at(0);
    ttm__bytes_free(&empty);
}

static void test_legacy_socket(void **state)
{
    (void)state;
    ttm_report s;
    ttm_proc_mem pm = {0};
    build(&s, &pm);
    char *t = render(&s, NULL, 0);
    assert_null(strstr(t, "ttmem_legacy_")); /* no --poc-socket: no legacy families */
    free(t);
    s.sections |= TTM_SNAP_BIT(TTM_SNAP_SEC_LEGACY);
    strcpy(s.legacy.path, "/tmp/tt_allocation_server.sock");
    s.legacy.connected = 2;
    s.legacy.connections = 9;
    s.legacy.bad = 4;
    s.legacy.resyncs = 3;
    s.legacy.closed_bad = 1;
    s.legacy.ntypes = TTM_REPORT_LEGACY_TYPES;
    s.legacy.messages[1] = 100; /* ALLOC */
    s.legacy.messages[12] = 7;  /* DUMP_KERNELS */
    t = render(&s, NULL, 0);
    assert_non_null(strstr(t, "ttmem_legacy_connections 2\n"));
    assert_non_null(strstr(t, "ttmem_legacy_connections_total 9\n"));
    assert_non_null(strstr(t, "ttmem_legacy_messages_total{type=\"alloc\"} 100\n"));
    assert_non_null(strstr(t, "ttmem_legacy_messages_total{type=\"dump_kernels\"} 7\n"));
    assert_non_null(strstr(t, "ttmem_legacy_bad_messages_total 4\n"));
    assert_non_null(strstr(t, "ttmem_legacy_resyncs_total 3\n"));
    assert_non_null(strstr(t, "ttmem_legacy_closed_total{reason=\"bad_messages\"} 1\n"));
    free(t);
}

/* ---- every family of the tables, from a report of distinct values ------------------------------
 */

/* Which row each distinct value was written to: a number, or a string ("s1234"). */
typedef struct filled {
    uint64_t v;
    char str[24];
    const ttm_field *row;
} filled;

static filled g_filled[8192];
static size_t g_nfilled;
static uint64_t g_value = 1000;

static void fill_row(const ttm_field *f, ttm_ftype t, size_t size, uint8_t *p)
{
    uint64_t v = g_value++;
    if (t == TTM_FT_BOOL) {
        *(bool *)p = true; /* alive, registered...: every condition of a path holds */
        return;
    }
    if (t == TTM_FT_F64) {
        double d = (double)v;
        memcpy(p, &d, sizeof d);
        return;
    }
    if (f->values != NULL) {
        ttm__schema_set_uint(p, size, v % f->values->count); /* not distinct: no export */
        return;
    }
    if (f->unit != NULL && strcmp(f->unit, "ns") == 0)
        v *= 1000000; /* whole milliseconds: exact in the text's seconds */
    ttm__schema_set_uint(p, size, v);
    assert_true(g_nfilled < sizeof g_filled / sizeof g_filled[0]);
    g_filled[g_nfilled++] = (filled){.v = v, .row = f};
}

static size_t scalar_size(ttm_ftype t)
{
    return t == TTM_FT_U8 || t == TTM_FT_BOOL ? 1 : t == TTM_FT_U16 ? 2 : t == TTM_FT_U32 ? 4 : 8;
}

/* Every row of rec at obj a distinct value; lists of 2; counted arrays full. */
static void fill_distinct(const ttm_record *rec, uint8_t *obj)
{
    for (size_t i = 0; i < rec->nfields; i++) {
        const ttm_field *f = &rec->fields[i];
        uint8_t *p = obj + f->off;
        if ((f->flags & TTM_FF_NOWIRE) || f->type == TTM_FT_VSTR)
            continue; /* no family reads a vstr (the stacks section's texts) */
        if (f->type == TTM_FT_STR) {
            assert_true(g_nfilled < sizeof g_filled / sizeof g_filled[0]);
            filled *e = &g_filled[g_nfilled++];
            snprintf(e->str, sizeof e->str, "s%llu", (unsigned long long)g_value++);
            snprintf((char *)p, f->csize, "%s", e->str);
            e->row = f;
        } else if (f->type == TTM_FT_REC) {
            fill_distinct(f->rec, p);
        } else if (f->type == TTM_FT_ARR) {
            for (size_t k = 0; k < f->count; k++) {
                if (f->elem == TTM_FT_REC)
                    fill_distinct(f->rec, p + k * f->stride);
                else
                    fill_row(f, f->elem, f->stride, p + k * f->stride);
            }
        } else if (f->type == TTM_FT_DYN) {
            uint8_t *arr = ttm__calloc(2, f->rec->size);
            assert_non_null(arr);
            for (size_t k = 0; k < 2; k++)
                fill_distinct(f->rec, arr + k * f->rec->size);
            memcpy(p, &arr, sizeof arr);
            ttm__schema_set_uint(obj + f->count_off, f->count_size, 2);
        } else {
            fill_row(f, f->type, scalar_size(f->type), p);
        }
    }
    for (size_t i = 0; i < rec->nfields; i++) {
        const ttm_field *f = &rec->fields[i];
        if (f->type == TTM_FT_ARR && (f->flags & TTM_FF_COUNTED))
            ttm__schema_set_uint(obj + f->count_off, f->count_size, f->count);
    }
}

/* The row a value (a sample's or a label's text) was written to, or NULL. */
static const ttm_field *row_of(const char *text, bool seconds)
{
    char *end;
    uint64_t v = seconds ? (uint64_t)(strtod(text, &end) * 1e9 + 0.5) : strtoull(text, &end, 10);
    for (size_t i = 0; i < g_nfilled; i++)
        if (g_filled[i].str[0] != '\0' ? strcmp(g_filled[i].str, text) == 0
                                       : (*end == '\0' && g_filled[i].v == v))
            return g_filled[i].row;
    return NULL;
}

static uint64_t value_of(const ttm_field *f)
{
    for (size_t i = 0; i < g_nfilled; i++)
        if (g_filled[i].row == f)
            return g_filled[i].v;
    fail_msg("row %s was not filled", f->name);
    return 0;
}

/* The record a row belongs to. */
static const ttm_record *record_of(const ttm_field *f)
{
    for (size_t r = 0; r < ttm_report_nrecords; r++) {
        const ttm_record *rec = ttm_report_records[r];
        if (f >= rec->fields && f < rec->fields + rec->nfields)
            return rec;
    }
    fail_msg("row %s is in no record", f->name);
    return NULL;
}

/* The last name of the row an entry binds label name[0..len) to ("stats.pid": "pid"), or
 * NULL when the label is an index's name or a constant. */
static const char *bound_row(const char *path, const char *name, size_t len, size_t *row_len)
{
    char item[64]; /* "name=", after a '[' or a ',' of the path */
    snprintf(item, sizeof item, "%.*s=", (int)len, name);
    for (const char *p = path; (p = strstr(p, item)) != NULL; p++) {
        if (p == path || (p[-1] != '[' && p[-1] != ','))
            continue;
        const char *r = p + len + 1;
        size_t n = strcspn(r, ",]");
        for (size_t k = n; k-- > 0;)
            if (r[k] == '.') {
                *row_len = n - k - 1;
                return r + k + 1;
            }
        *row_len = n;
        return r;
    }
    return NULL;
}

/* Each sample of an entry's family carries the value of the row its path ends at, and each
 * label bound to a row the value of a row of that name; returns the samples that came from
 * this entry. */
static size_t check_entry_samples(const char *text, const ttm_prom_family *fam)
{
    const ttm_field *vrow = ttm_metrics_value_row(fam);
    if (vrow == NULL)
        fail_msg("%s: the path %s names no row", fam->name, fam->path);
    bool seconds = vrow->unit != NULL && strcmp(vrow->unit, "ns") == 0;
    /* Prometheus's names: base units, _total on counters */
    size_t nl = strlen(fam->name);
    bool total = nl > 6 && strcmp(fam->name + nl - 6, "_total") == 0;
    size_t base = total ? nl - 6 : nl;
    bool bytes = base > 6 && strncmp(fam->name + base - 6, "_bytes", 6) == 0;
    if (bytes != (vrow->unit != NULL && strcmp(vrow->unit, "bytes") == 0))
        fail_msg("%s is written from %s (unit %s)", fam->name, vrow->name,
                 vrow->unit ? vrow->unit : "none");
    assert_int_equal(strcmp(fam->kind, "counter") == 0, total);
    const char *minus = strchr(fam->path, '-');
    uint64_t derived = 0;
    if (minus != NULL) { /* ROW-ROW-...: computed from the filled values of the rows */
        const ttm_record *rec = record_of(vrow);
        derived = value_of(vrow);
        for (const char *m = minus; m != NULL; m = strchr(m + 1, '-')) {
            size_t n = strcspn(m + 1, "-");
            const ttm_field *g = NULL;
            for (size_t i = 0; i < rec->nfields && g == NULL; i++)
                if (strncmp(rec->fields[i].name, m + 1, n) == 0 && rec->fields[i].name[n] == 0)
                    g = &rec->fields[i];
            assert_non_null(g);
            derived -= value_of(g);
        }
    }
    size_t mine = 0, nname = strlen(fam->name);
    static char values[4096][32]; /* this entry's sample values, each distinct */
    for (const char *line = text; *line != '\0'; line = strchr(line, '\n') + 1) {
        size_t len = strcspn(line, "\n");
        char buf[1024];
        assert_true(len < sizeof buf);
        memcpy(buf, line, len);
        buf[len] = '\0';
        if (strncmp(buf, fam->name, nname) != 0 || (buf[nname] != '{' && buf[nname] != ' '))
            continue;
        char *value = strrchr(buf, ' ') + 1;
        /* a constant label of the entry picks its samples; others belong to other entries */
        bool other = false;
        for (const char *l = fam->labels; l != NULL && *l != '\0';) {
            size_t n = strcspn(l, ",");
            if (memchr(l, '=', n) != NULL) {
                char item[128];
                snprintf(item, sizeof item, "%.*s", (int)n, l);
                other = other || strstr(buf, item) == NULL;
            }
            l += n + (l[n] == ',');
        }
        if (other)
            continue;
        if (minus != NULL) {
            assert_int_equal(strtoull(value, NULL, 10), derived);
        } else {
            assert_true(mine < sizeof values / sizeof values[0]);
            for (size_t k = 0; k < mine; k++)
                if (strcmp(values[k], value) == 0)
                    fail_msg("%s: the value %s twice: an element read twice", fam->name, value);
            snprintf(values[mine], sizeof values[0], "%s", value);
            const ttm_field *got = row_of(value, seconds);
            if (got != vrow)
                fail_msg("%s: the value %s is of row %s, not %s", buf, value,
                         got ? got->name : "(none)", vrow->name);
        }
        /* labels: name="value",... between the braces */
        char *p = buf[nname] == '{' ? buf + nname + 1 : NULL;
        while (p != NULL && *p != '}') {
            char *eq = strchr(p, '='), *q = eq + 2, *close = q;
            while (*close != '"')
                close += *close == '\\' ? 2 : 1;
            size_t rl = 0;
            const char *rn = bound_row(fam->path, p, (size_t)(eq - p), &rl);
            if (rn != NULL) { /* (the filled strings need no escaping) */
                *close = '\0';
                const ttm_field *got = row_of(q, false);
                if (got == NULL || strlen(got->name) != rl || strncmp(got->name, rn, rl) != 0)
                    fail_msg("%s: label %.*s is from row %s, not %.*s", fam->name, (int)(eq - p), p,
                             got ? got->name : "(none)", (int)rl, rn);
            }
            p = close[1] == ',' ? close + 2 : close + 1;
        }
        mine++;
    }
    return mine;
}

static void test_every_family_of_the_tables(void **state)
{
    (void)state;
    ttm_report s;
    memset(&s, 0, sizeof s);
    g_nfilled = 0;
    fill_distinct(&ttm_rec_report, (uint8_t *)&s);
    s.schema_version = TTM_REPORT_SCHEMA_VERSION;
    for (unsigned id = 1; id < 32; id++)
        if (ttm__snap_section_name(id)[0] != '?')
            s.sections |= TTM_SNAP_BIT(id);
    char *t = render(&s, NULL, 0);
    /* the families of the paths */
    for (size_t i = 0; i < ttm_prom_nfamilies; i++) {
        const ttm_prom_family *fam = &ttm_prom_families[i];
        if (fam->name == NULL)
            continue;
        if (check_entry_samples(t, fam) == 0)
            fail_msg("no sample of %s from %s", fam->name, fam->path);
    }
    /* the families of the rows: the exported rows of each record the table names */
    for (size_t i = 0; i < ttm_prom_nfamilies; i++) {
        const ttm_prom_family *fam = &ttm_prom_families[i];
        if (fam->name != NULL)
            continue;
        const ttm_record *rec = NULL;
        for (size_t k = 0; k < ttm_rec_report.nfields; k++)
            if (strcmp(ttm_rec_report.fields[k].name, fam->path) == 0)
                rec = ttm_rec_report.fields[k].rec;
        assert_non_null(rec);
        size_t exported = 0;
        for (size_t k = 0; k < rec->nfields; k++) {
            const ttm_field *f = &rec->fields[k];
            if (f->prom == NULL)
                continue;
            char line[256];
            uint64_t v = value_of(f);
            if (f->unit != NULL && strcmp(f->unit, "ns") == 0)
                snprintf(line, sizeof line, "\n%s%s%s%s %.3f\n", f->prom, f->prom_labels ? "{" : "",
                         f->prom_labels ? f->prom_labels : "", f->prom_labels ? "}" : "",
                         (double)v / 1e9);
            else
                snprintf(line, sizeof line, "\n%s%s%s%s %" PRIu64 "\n", f->prom,
                         f->prom_labels ? "{" : "", f->prom_labels ? f->prom_labels : "",
                         f->prom_labels ? "}" : "", v);
            if (strstr(t, line) == NULL)
                fail_msg("row %s.%s: no sample%s", rec->name, f->name, line);
            exported++;
        }
        assert_true(exported > 0);
    }
    free(t);
    ttm__schema_free(&ttm_rec_report, &s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_and_labels),
        cmocka_unit_test(test_help_and_type_for_every_family),
        cmocka_unit_test(test_no_daemon_and_regions),
        cmocka_unit_test(test_legacy_socket),
        cmocka_unit_test(test_scrape_families),
        cmocka_unit_test(test_every_family_of_the_tables),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
