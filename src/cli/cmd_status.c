/*
 * cmd_status.c — `ttmem status`: a snapshot from the running ttmemd, as a table or JSON
 * (schema "ttmem.status", docs/DAEMON.md): per device and memtype used/peak/capacity, per
 * process name and bytes per type, diagnosis counters, transport counters. Also the way every
 * command reaches a daemon's query socket (ttm_cli_fetch).
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "common/arch.h"
#include "common/fmt.h"
#include "common/json.h"
#include "common/paths.h"
#include "core/registry.h"

int ttm_cli_socket_paths(const char *socket, const char *query, char *sock_out,
                         char *query_out, size_t len)
{
    if (socket != NULL) {
        if (strlen(socket) >= len || strlen(socket) >= TTM_CLI_PATH_MAX)
            return ttm_cli_fail("--socket '%s' is too long for a Unix socket", socket), 2;
        snprintf(sock_out, len, "%s", socket);
    } else if (ttm__default_socket_path(sock_out, len) != TTM_OK) {
        return ttm_cli_fail("the default socket path is too long; use --socket PATH"), 2;
    }
    if (query != NULL) {
        if (strlen(query) >= len || strlen(query) >= TTM_CLI_PATH_MAX)
            return ttm_cli_fail("--query-socket '%s' is too long for a Unix socket", query), 2;
        snprintf(query_out, len, "%s", query);
    } else if (ttm__snap_query_path(sock_out, query_out, len) != TTM_OK) {
        return ttm_cli_fail("the query socket path '%s.query' is too long; use "
                            "--query-socket PATH",
                            sock_out),
               2;
    }
    return 0;
}

int ttm_cli_fetch(const char *socket, const char *query, const ttm_snap_query *q,
                  ttm_snapshot *out)
{
    char msg[300];
    int err = ttm__snap_fetch(query, q, 10000, out, msg, sizeof msg);
    if (err == TTM_OK)
        return 0;
    if (err == TTM_ECONN) {
        fprintf(stderr, "ttmemd is not running at %s: start it with 'ttmemd' or use 'ttmem "
                        "record -- CMD'\n",
                socket);
        return 1;
    }
    fprintf(stderr, "ttmem: cannot query ttmemd at %s: %s\n", query,
            msg[0] ? msg : ttm_strerror(err));
    return 1;
}

/* ---- text --------------------------------------------------------------------------------- */

static void fmt_duration(char *buf, size_t len, uint64_t ns)
{
    uint64_t s = ns / 1000000000u;
    if (s < 60)
        snprintf(buf, len, "%" PRIu64 "s", s);
    else if (s < 3600)
        snprintf(buf, len, "%" PRIu64 "m%02" PRIu64 "s", s / 60, s % 60);
    else if (s < 86400)
        snprintf(buf, len, "%" PRIu64 "h%02" PRIu64 "m", s / 3600, s % 3600 / 60);
    else
        snprintf(buf, len, "%" PRIu64 "d%02" PRIu64 "h", s / 86400, s % 86400 / 3600);
}

static const char *arch_name(unsigned arch)
{
    const ttm_arch_profile *p = ttm__arch_profile(arch);
    return p ? p->name : "unknown";
}

static const char *proc_state(const ttm_snap_proc *p)
{
    if (p->connected)
        return "connected";
    return p->alive ? "closing" : "exited";
}

static bool mem_active(const ttm_snap_mem *m)
{
    return m->live_bytes || m->peak_bytes || m->allocs || m->live_count;
}

/* Bytes per memtype of a process, summed over its devices. */
static void proc_bytes(const ttm_snap_proc *p, uint64_t out[TTM_MEMTYPE_COUNT])
{
    memset(out, 0, sizeof(uint64_t) * TTM_MEMTYPE_COUNT);
    for (size_t k = 0; k < p->ndevices; k++)
        for (unsigned m = 0; m < TTM_MEMTYPE_COUNT; m++)
            out[m] += p->devices[k].mem[m].live_bytes;
}

void ttm_cli_print_daemon(FILE *out, const ttm_snapshot *s, const char *socket)
{
    const ttm_snap_daemon *d = &s->daemon;
    char a[TTM_FMT_LEN], b[TTM_FMT_LEN], c[TTM_FMT_LEN], up[32];
    fmt_duration(up, sizeof up, d->uptime_ns);
    fprintf(out, "ttmemd %s, pid %" PRIu32 ", up %s, socket %s\n", d->version, d->pid, up,
            socket);
    fprintf(out, "Clients     %" PRIu32 " connected, %s sessions since start; %s refused at "
                 "the limit of %" PRIu32 ", %s rejected (bad hello or ring)\n",
            d->clients_connected, ttm__fmt_count(a, d->clients_total),
            ttm__fmt_count(b, d->clients_refused), d->max_clients,
            ttm__fmt_count(c, d->clients_rejected));
    fprintf(out, "Events      %s taken from rings: %s waited for room, %s dropped while no "
                 "daemon existed",
            ttm__fmt_count(a, d->events), ttm__fmt_count(b, d->waited),
            ttm__fmt_count(c, d->dropped));
    if (d->prior_events > 0)
        fprintf(out, ", %s handled by a previous daemon (%s rings reattached)",
                ttm__fmt_count(a, d->prior_events), ttm__fmt_count(b, d->reattached));
    if (d->events_rejected > 0)
        fprintf(out, ", %s control events refused", ttm__fmt_count(a, d->events_rejected));
    if (d->ring_errors > 0)
        fprintf(out, ", %s rings broke", ttm__fmt_count(a, d->ring_errors));
    fputc('\n', out);
}

static void text_devices(FILE *out, const ttm_snapshot *s)
{
    char a[TTM_FMT_LEN], b[TTM_FMT_LEN], c[TTM_FMT_LEN], e[TTM_FMT_LEN];
    fprintf(out, "\nDevices (capacity is shared per space: DRAM = DRAM+TRACE, L1 = "
                 "L1+L1_SMALL+CB+KERNEL)\n");
    if (s->ndevices == 0) {
        fputs("  none seen yet\n", out);
        return;
    }
    fprintf(out, "  %6s %-12s %-13s %11s %11s %11s %9s\n", "device", "arch", "type", "used",
            "peak", "capacity", "buffers");
    for (size_t i = 0; i < s->ndevices; i++) {
        const ttm_snap_device *d = &s->devices[i];
        bool first = true;
        for (unsigned m = 0; m < TTM_MEMTYPE_COUNT; m++) {
            const ttm_snap_mem *mm = &d->mem[m];
            if (!mem_active(mm))
                continue;
            uint64_t cap = d->capacity[ttm__memtype_space(m)];
            fprintf(out, "  %6u %-12s %-13s %11s %11s %11s %9s\n", d->device,
                    first ? arch_name(d->arch) : "", ttm__memtype_name(m),
                    ttm__fmt_bytes(a, mm->live_bytes), ttm__fmt_bytes(b, mm->peak_bytes),
                    cap ? ttm__fmt_bytes(c, cap) : "N/A", ttm__fmt_count(e, mm->live_count));
            first = false;
        }
        if (first)
            fprintf(out, "  %6u %-12s %-13s\n", d->device, arch_name(d->arch), "(no buffers)");
    }
}

static void text_procs(FILE *out, const ttm_snapshot *s)
{
    char a[TTM_FMT_LEN], b[TTM_FMT_LEN], c[TTM_FMT_LEN], e[TTM_FMT_LEN];
    bool used[TTM_MEMTYPE_COUNT] = {false};
    for (size_t i = 0; i < s->nprocs; i++) {
        uint64_t bytes[TTM_MEMTYPE_COUNT];
        proc_bytes(&s->procs[i], bytes);
        for (unsigned m = 0; m < TTM_MEMTYPE_COUNT; m++)
            used[m] |= bytes[m] > 0;
    }
    fprintf(out, "\nProcesses\n");
    if (s->nprocs == 0) {
        fputs("  none yet\n", out);
        return;
    }
    fprintf(out, "  %8s %-16s %-9s", "pid", "name", "state");
    for (unsigned m = 0; m < TTM_MEMTYPE_COUNT; m++)
        if (used[m])
            fprintf(out, " %10s", ttm__memtype_name(m));
    fprintf(out, " %11s %8s %8s %8s\n", "events", "waited", "dropped", "leaked");
    for (size_t i = 0; i < s->nprocs; i++) {
        const ttm_snap_proc *p = &s->procs[i];
        uint64_t bytes[TTM_MEMTYPE_COUNT];
        proc_bytes(p, bytes);
        fprintf(out, "  %8" PRIu32 " %-16s %-9s", p->pid, p->name[0] ? p->name : "?",
                proc_state(p));
        for (unsigned m = 0; m < TTM_MEMTYPE_COUNT; m++)
            if (used[m])
                fprintf(out, " %10s", ttm__fmt_bytes(a, bytes[m]));
        fprintf(out, " %11s %8s %8s %8s%s\n", ttm__fmt_count(b, p->events),
                ttm__fmt_count(c, p->waited), ttm__fmt_count(e, p->dropped),
                ttm__fmt_count(a, p->leaked_count),
                p->prior_events ? " (ring reattached)" : "");
    }
}

static void text_classes(FILE *out, const ttm_snapshot *s)
{
    char a[TTM_FMT_LEN], b[TTM_FMT_LEN], c[TTM_FMT_LEN];
    const ttm_snap_totals *t = &s->totals;
    fprintf(out, "\nDiagnosis   %s allocations, %s frees, %s live buffers\n",
            ttm__fmt_count(a, t->allocs), ttm__fmt_count(b, t->frees),
            ttm__fmt_count(c, t->live_records));
    bool any = false;
    for (unsigned k = 0; k < t->nclasses && k < TTM_CLASS__COUNT; k++) {
        if (t->class_count[k] == 0)
            continue;
        any = true;
        bool anomaly = ttm_class_is_anomaly(k);
        fprintf(out, "%s %-18s %12s %12s  %s\n", anomaly ? "!" : " ", ttm_class_name(k),
                ttm__fmt_count(a, t->class_count[k]), ttm__fmt_bytes(b, t->class_bytes[k]),
                ttm_class_help(k));
    }
    if (!any)
        fputs("  no events yet\n", out);
}

/* ---- JSON --------------------------------------------------------------------------------- */

void ttm_cli_json_daemon(ttm_json *j, const ttm_snapshot *s, const char *socket)
{
    const ttm_snap_daemon *d = &s->daemon;
    ttm__json_obj_begin(j, "daemon");
    ttm__json_str(j, "version", d->version);
    ttm__json_u64(j, "pid", d->pid);
    ttm__json_str(j, "socket", socket);
    ttm__json_f64(j, "uptime_s", (double)d->uptime_ns / 1e9);
    ttm__json_obj_begin(j, "clients");
    ttm__json_u64(j, "connected", d->clients_connected);
    ttm__json_u64(j, "total", d->clients_total);
    ttm__json_u64(j, "refused", d->clients_refused);
    ttm__json_u64(j, "rejected", d->clients_rejected);
    ttm__json_u64(j, "max", d->max_clients);
    ttm__json_obj_end(j);
    ttm__json_u64(j, "max_live_per_client", d->max_live_per_client);
    ttm__json_obj_begin(j, "transport");
    ttm__json_u64(j, "events", d->events);
    ttm__json_u64(j, "waited", d->waited);
    ttm__json_u64(j, "dropped", d->dropped);
    ttm__json_u64(j, "prior_events", d->prior_events);
    ttm__json_u64(j, "reattached", d->reattached);
    ttm__json_u64(j, "events_rejected", d->events_rejected);
    ttm__json_u64(j, "ring_errors", d->ring_errors);
    ttm__json_obj_end(j);
    ttm__json_u64(j, "queries", d->queries);
    ttm__json_u64(j, "processes_dropped", d->procs_dropped);
    ttm__json_obj_end(j);
}

static void json_mem(ttm_json *j, const char *key, const ttm_snap_mem *m, uint64_t capacity)
{
    ttm__json_obj_begin(j, key);
    ttm__json_u64(j, "used", m->live_bytes);
    ttm__json_u64(j, "peak", m->peak_bytes);
    if (capacity)
        ttm__json_u64(j, "capacity", capacity);
    else
        ttm__json_str(j, "capacity", NULL);
    ttm__json_u64(j, "live_count", m->live_count);
    ttm__json_u64(j, "allocs", m->allocs);
    ttm__json_u64(j, "frees", m->frees);
    ttm__json_obj_end(j);
}

static void json_classes(ttm_json *j, const char *key, uint32_t n, const uint64_t *count,
                         const uint64_t *bytes, bool all)
{
    ttm__json_obj_begin(j, key);
    for (unsigned c = 0; c < n && c < TTM_CLASS__COUNT; c++) {
        if (!all && count[c] == 0)
            continue;
        ttm__json_obj_begin(j, ttm_class_name(c));
        ttm__json_u64(j, "count", count[c]);
        ttm__json_u64(j, "bytes", bytes[c]);
        ttm__json_obj_end(j);
    }
    ttm__json_obj_end(j);
}

static void json_status(FILE *out, const ttm_snapshot *s, const char *socket)
{
    static const char *const space_keys[TTM_SPACE_COUNT] = {"dram", "l1", "system"};
    ttm_json j;
    ttm__json_init(&j, out, true);
    ttm__json_obj_begin(&j, NULL);
    ttm__json_str(&j, "schema", "ttmem.status");
    ttm__json_u64(&j, "schema_version", 1);
    ttm_cli_json_daemon(&j, s, socket);
    const ttm_snap_totals *t = &s->totals;
    ttm__json_obj_begin(&j, "totals");
    ttm__json_u64(&j, "events", t->events);
    ttm__json_u64(&j, "allocs", t->allocs);
    ttm__json_u64(&j, "frees", t->frees);
    ttm__json_u64(&j, "marks", t->marks);
    ttm__json_u64(&j, "live_records", t->live_records);
    ttm__json_obj_end(&j);
    json_classes(&j, "classes", t->nclasses, t->class_count, t->class_bytes, true);

    ttm__json_arr_begin(&j, "devices");
    for (size_t i = 0; i < s->ndevices; i++) {
        const ttm_snap_device *d = &s->devices[i];
        ttm__json_obj_begin(&j, NULL);
        ttm__json_u64(&j, "device", d->device);
        ttm__json_str(&j, "arch", arch_name(d->arch));
        ttm__json_obj_begin(&j, "spaces");
        for (unsigned k = 0; k < TTM_SPACE_COUNT; k++) {
            uint64_t used = 0;
            for (unsigned m = 0; m < TTM_MEMTYPE_COUNT; m++)
                if (ttm__memtype_space(m) == k)
                    used += d->mem[m].live_bytes;
            ttm__json_obj_begin(&j, space_keys[k]);
            ttm__json_u64(&j, "used", used);
            ttm__json_u64(&j, "peak", d->space_peak[k]);
            if (d->capacity[k])
                ttm__json_u64(&j, "capacity", d->capacity[k]);
            else
                ttm__json_str(&j, "capacity", NULL);
            ttm__json_obj_end(&j);
        }
        ttm__json_obj_end(&j);
        ttm__json_obj_begin(&j, "memtypes");
        for (unsigned m = 0; m < TTM_MEMTYPE_COUNT; m++)
            if (mem_active(&d->mem[m]))
                json_mem(&j, ttm__memtype_name(m), &d->mem[m],
                         d->capacity[ttm__memtype_space(m)]);
        ttm__json_obj_end(&j);
        json_classes(&j, "classes", d->nclasses, d->class_count, d->class_bytes, false);
        ttm__json_obj_end(&j);
    }
    ttm__json_arr_end(&j);

    ttm__json_arr_begin(&j, "processes");
    for (size_t i = 0; i < s->nprocs; i++) {
        const ttm_snap_proc *p = &s->procs[i];
        ttm__json_obj_begin(&j, NULL);
        ttm__json_u64(&j, "pid", p->pid);
        ttm__json_str(&j, "name", p->name);
        ttm__json_u64(&j, "uid", p->uid);
        ttm__json_str(&j, "state", proc_state(p));
        ttm__json_bool(&j, "alive", p->alive);
        ttm__json_bool(&j, "connected", p->connected);
        ttm__json_bool(&j, "reattached", p->reattached);
        ttm__json_u64(&j, "sessions", p->sessions);
        ttm__json_u64(&j, "events", p->events);
        ttm__json_u64(&j, "waited", p->waited);
        ttm__json_u64(&j, "dropped", p->dropped);
        ttm__json_u64(&j, "prior_events", p->prior_events);
        ttm__json_u64(&j, "live_records", p->live_records);
        ttm__json_u64(&j, "leaked_count", p->leaked_count);
        ttm__json_u64(&j, "leaked_bytes", p->leaked_bytes);
        ttm__json_u64(&j, "anomalies", p->anomalies);
        uint64_t bytes[TTM_MEMTYPE_COUNT];
        proc_bytes(p, bytes);
        ttm__json_obj_begin(&j, "bytes");
        for (unsigned m = 0; m < TTM_MEMTYPE_COUNT; m++)
            if (bytes[m])
                ttm__json_u64(&j, ttm__memtype_name(m), bytes[m]);
        ttm__json_obj_end(&j);
        ttm__json_arr_begin(&j, "devices");
        for (size_t k = 0; k < p->ndevices; k++) {
            ttm__json_obj_begin(&j, NULL);
            ttm__json_u64(&j, "device", p->devices[k].device);
            ttm__json_obj_begin(&j, "memtypes");
            for (unsigned m = 0; m < TTM_MEMTYPE_COUNT; m++)
                if (mem_active(&p->devices[k].mem[m]))
                    json_mem(&j, ttm__memtype_name(m), &p->devices[k].mem[m], 0);
            ttm__json_obj_end(&j);
            ttm__json_obj_end(&j);
        }
        ttm__json_arr_end(&j);
        ttm__json_obj_end(&j);
    }
    ttm__json_arr_end(&j);
    ttm__json_obj_end(&j);
    ttm__json_finish(&j);
}

/* ---- the command -------------------------------------------------------------------------- */

int ttm_cli_status(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"socket", required_argument, NULL, 's'},
        {"query-socket", required_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *socket = NULL, *query = NULL;
    bool json = false;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'j':
            json = true;
            break;
        case 's':
            socket = optarg;
            break;
        case 'q':
            query = optarg;
            break;
        case 'h':
            printf("usage: ttmem status [--json] [--socket PATH] [--query-socket PATH]\n");
            return 0;
        default:
            if (optopt)
                return ttm_cli_fail("status: option '%s' is missing its value",
                                    argv[optind - 1]);
            return ttm_cli_fail("status: unknown option '%s'; see 'ttmem status --help'",
                                argv[optind - 1]);
        }
    }
    if (optind < argc)
        return ttm_cli_fail("status: unexpected argument '%s'", argv[optind]);
    char sock[TTM_CLI_PATH_MAX], qpath[TTM_CLI_PATH_MAX];
    int rc = ttm_cli_socket_paths(socket, query, sock, qpath, sizeof sock);
    if (rc != 0)
        return rc;
    ttm_snap_query q = {.sections = TTM_SNAP_WANT_STATUS};
    ttm_snapshot s;
    rc = ttm_cli_fetch(sock, qpath, &q, &s);
    if (rc != 0)
        return rc;
    if (json) {
        json_status(stdout, &s, sock);
    } else {
        ttm_cli_print_daemon(stdout, &s, sock);
        text_devices(stdout, &s);
        text_procs(stdout, &s);
        text_classes(stdout, &s);
    }
    ttm__snapshot_free(&s);
    return 0;
}
