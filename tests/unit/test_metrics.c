/*
 * test_metrics.c — the Prometheus exposition of a hand-built snapshot: values, labels, escaping,
 * HELP/TYPE before every sample, dead processes' series gone, counters-only regions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/alloc.h"
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
    assert_non_null(strstr(t, "ttmem_device_memory_used_bytes{device=\"7\",memtype=\"dram\"} 8192\n"));
    assert_non_null(strstr(t, "ttmem_device_memory_used_bytes{device=\"0\",memtype=\"trace\"} 134217728\n"));
    assert_non_null(strstr(t, "ttmem_device_memory_peak_bytes{device=\"0\",memtype=\"dram\"} 8192\n"));
    assert_non_null(strstr(t, "ttmem_device_memory_capacity_bytes{device=\"0\",space=\"dram\"} 12884901888\n"));
    assert_null(strstr(t, "capacity_bytes{device=\"0\",space=\"l1\"}")); /* unknown: absent */
    assert_non_null(strstr(t, "ttmem_diagnosis_events_total{class=\"unknown_free\",device=\"7\"} 9\n"));
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_and_labels),
        cmocka_unit_test(test_help_and_type_for_every_family),
        cmocka_unit_test(test_no_daemon_and_regions),
        cmocka_unit_test(test_legacy_socket),
        cmocka_unit_test(test_scrape_families),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
