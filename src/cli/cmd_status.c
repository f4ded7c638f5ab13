/*
 * cmd_status.c — `ttmem status`: a snapshot from the running ttmemd, as a table or JSON
 * (schema "ttmem.status", docs/DAEMON.md): per device and memtype used/peak/capacity, per
 * process name and bytes per type, diagnosis counters, transport counters; and TT-Metal's own
 * shared-memory regions (docs/COMPAT.md), which need no daemon: counters only, per chip and
 * per process, ghosts of dead processes marked, `--reap` to clear them. Also the way every
 * command reaches a daemon's query socket (ttm_cli_fetch) and the one writer of the
 * ttmem.status document (ttm_cli_json_status, used by `ttmem top --json` too).
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/sites.h"
#include "common/alloc.h"
#include "common/arch.h"
#include "common/fmt.h"
#include "common/json.h"
#include "common/paths.h"
#include "common/poc.h"
#include "core/registry.h"

int ttm_cli_socket_paths(const char *socket, const char *query, char *sock_out,
                         char *query_out, size_t len)
{
    if (socket != NULL && (strlen(socket) >= len || strlen(socket) >= TTM_CLI_PATH_MAX))
        return ttm_cli_fail("--socket '%s' is too long for a Unix socket", socket), 2;
    /* --socket, $TTMEM_SOCKET, the user's daemon or the system one: only in a directory that
     * may be trusted (paths.h); the daemon's identity is checked once connected */
    char why[300];
    int err = ttm__socket_resolve(socket, sock_out, len, NULL, why, sizeof why);
    if (err == TTM_EPERM)
        return ttm_cli_fail("not connecting to a daemon: %s", why), 1;
    if (err != TTM_OK)
        return ttm_cli_fail("%s; use --socket PATH", why), 2;
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

void ttm_cli_fetch_error(const char *socket, const char *query, int err, const char *msg)
{
    if (err == TTM_ECONN)
        fprintf(stderr, "ttmemd is not running at %s: start it with 'ttmemd' or use 'ttmem "
                        "record -- CMD'\n",
                socket);
    else
        fprintf(stderr, "ttmem: cannot query ttmemd at %s: %s\n", query,
                msg != NULL && msg[0] ? msg : ttm_strerror(err));
}

int ttm_cli_fetch(const char *socket, const char *query, const ttm_snap_query *q,
                  ttm_report *out)
{
    char msg[300];
    int err = ttm_report_fetch(query, q, 10000, out, msg, sizeof msg);
    if (err == TTM_OK)
        return 0;
    ttm_cli_fetch_error(socket, query, err, msg);
    return 1;
}

/* ---- text ------------------------------------------------------------------------------------ */

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

static const char *proc_state(const ttm_report_proc *p)
{
    if (p->connected)
        return "connected";
    return p->stats.alive ? "closing" : "exited";
}

static bool mem_active(const ttm_memstat *m)
{
    return m->live_bytes || m->peak_bytes || m->allocs || m->live_count;
}

/* Bytes per memtype of a process, summed over its devices. */
static void proc_bytes(const ttm_report_proc *p, uint64_t out[TTM_MEMTYPE_COUNT])
{
    memset(out, 0, sizeof(uint64_t) * TTM_MEMTYPE_COUNT);
    for (size_t k = 0; k < p->stats.ndevices; k++)
        for (unsigned m = 0; m < TTM_MEMTYPE_COUNT; m++)
            out[m] += p->stats.devices[k].mem[m].live_bytes;
}

void ttm_cli_print_daemon(FILE *out, const ttm_report *s, const char *socket)
{
    const ttm_report_daemon *d = &s->daemon;
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

/* The legacy socket's line, when the daemon listens on one. */
static void text_legacy(FILE *out, const ttm_report *s)
{
    const ttm_report_legacy *l = &s->legacy;
    if (!(s->sections & TTM_SNAP_BIT(TTM_SNAP_SEC_LEGACY)) || l->path[0] == '\0')
        return;
    char a[TTM_FMT_LEN], b[TTM_FMT_LEN], c[TTM_FMT_LEN];
    uint64_t total = 0;
    for (uint32_t t = 0; t < l->ntypes; t++)
        total += l->messages[t];
    fprintf(out, "Legacy      %s: %" PRIu32 " connected, %s since start; %s messages", l->path,
            l->connected, ttm__fmt_count(a, l->connections), ttm__fmt_count(b, total));
    const char *sep = " (";
    for (uint32_t t = 1; t < l->ntypes && t <= TTM_POC_TYPE_MAX; t++) {
        if (l->messages[t] == 0)
            continue;
        fprintf(out, "%s%s %s", sep, ttm__poc_type_name(t), ttm__fmt_count(a, l->messages[t]));
        sep = ", ";
    }
    fputs(sep[0] == ',' ? ")" : "", out);
    if (l->bad > 0 || l->refused > 0 || l->truncated > 0 || l->rejected > 0) {
        char d[TTM_FMT_LEN], e[TTM_FMT_LEN], f[TTM_FMT_LEN];
        fprintf(out, "; %s bad, %s resynchronised, %s connections closed for bad messages, %s "
                     "refused, %s cut short, %s ignored",
                ttm__fmt_count(a, l->bad), ttm__fmt_count(b, l->resyncs),
                ttm__fmt_count(c, l->closed_bad), ttm__fmt_count(d, l->refused),
                ttm__fmt_count(e, l->truncated), ttm__fmt_count(f, l->rejected));
    }
    fputc('\n', out);
}

static void text_devices(FILE *out, const ttm_report *s)
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
        const ttm_device_stats *d = &s->devices[i];
        bool first = true;
        for (unsigned m = 0; m < TTM_MEMTYPE_COUNT; m++) {
            const ttm_memstat *mm = &d->mem[m];
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

static void text_procs(FILE *out, const ttm_report *s)
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
    /* the command line last, cut to what is left of the line (only when the daemon gave one) */
    bool command = ttm_render_any_cmdline(s);
    int width = fprintf(out, "  %8s %-16s %-9s", "pid", "name", "state");
    for (unsigned m = 0; m < TTM_MEMTYPE_COUNT; m++)
        if (used[m])
            width += fprintf(out, " %10s", ttm__memtype_name(m));
    width += fprintf(out, " %11s %8s %8s %8s", "events", "waited", "dropped", "leaked");
    fputs(command ? "  command\n" : "\n", out);
    int room = ttm_render_cmdline_room(out, width + 2);
    for (size_t i = 0; i < s->nprocs; i++) {
        const ttm_report_proc *p = &s->procs[i];
        uint64_t bytes[TTM_MEMTYPE_COUNT];
        proc_bytes(p, bytes);
        fprintf(out, "  %8" PRIu32 " %-16s %-9s", p->stats.pid, p->name[0] ? p->name : "?",
                proc_state(p));
        for (unsigned m = 0; m < TTM_MEMTYPE_COUNT; m++)
            if (used[m])
                fprintf(out, " %10s", ttm__fmt_bytes(a, bytes[m]));
        fprintf(out, " %11s %8s %8s %8s", ttm__fmt_count(b, p->events),
                ttm__fmt_count(c, p->waited), ttm__fmt_count(e, p->dropped),
                ttm__fmt_count(a, p->stats.leaked_count));
        if (command) {
            fputs("  ", out);
            ttm_render_cmdline(out, p->cmdline, room - (p->prior_events ? 18 : 0));
        }
        fputs(p->prior_events ? " (ring reattached)\n" : "\n", out);
    }
    if (s->daemon.procs_dropped > 0) /* the daemon keeps only the most recent exited ones */
        fprintf(out, "  ... and %" PRIu64 " earlier exited processes not shown (their leaks "
                     "are in the totals)\n",
                s->daemon.procs_dropped);
}

static void text_classes(FILE *out, const ttm_report *s)
{
    char a[TTM_FMT_LEN], b[TTM_FMT_LEN], c[TTM_FMT_LEN];
    const ttm_totals *t = &s->totals;
    fprintf(out, "\nDiagnosis   %s allocations, %s frees, %s live buffers\n",
            ttm__fmt_count(a, t->allocs), ttm__fmt_count(b, t->frees),
            ttm__fmt_count(c, t->live_records));
    bool any = false;
    for (unsigned k = 0; k < TTM_CLASS__COUNT; k++) {
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

/* ---- JSON ------------------------------------------------------------------------------------ */

void ttm_cli_json_daemon(ttm_json *j, const ttm_report *s, const char *socket)
{
    ttm__json_str(j, "socket", socket);
    ttm_render_json_sections(j, s, TTM_SNAP_BIT(TTM_SNAP_SEC_DAEMON));
}

/* The daemon's members of the ttmem.status document: its records through the report's
 * tables (docs/REPORT_SCHEMA.md), each process with two views of its own record added:
 * "state" (connected / closing / exited) and "bytes" (its live bytes per memtype, summed over
 * its devices). */
static void json_snapshot(ttm_json *j, const ttm_report *s, const char *socket)
{
    ttm_cli_json_daemon(j, s, socket);
    ttm_render_json_sections(j, s,
                             TTM_SNAP_BIT(TTM_SNAP_SEC_TOTALS) | TTM_SNAP_BIT(TTM_SNAP_SEC_DEVICES));
    if (s->sections & TTM_SNAP_BIT(TTM_SNAP_SEC_PROCS)) {
        ttm__json_arr_begin(j, "processes");
        for (size_t i = 0; i < s->nprocs; i++) {
            const ttm_report_proc *p = &s->procs[i];
            ttm__json_obj_begin(j, NULL);
            ttm__schema_json(j, &ttm_rec_proc, p, 0);
            ttm__json_str(j, "state", proc_state(p));
            uint64_t bytes[TTM_MEMTYPE_COUNT];
            proc_bytes(p, bytes);
            ttm__json_obj_begin(j, "bytes");
            for (unsigned m = 0; m < TTM_MEMTYPE_COUNT; m++)
                if (bytes[m])
                    ttm__json_u64(j, ttm__memtype_name(m), bytes[m]);
            ttm__json_obj_end(j);
            ttm__json_obj_end(j);
        }
        ttm__json_arr_end(j);
    }
    /* the causes of the unmatched frees, then the findings and call sites when they were asked
     * for (--stacks; symbolized by the caller) */
    ttm_render_json_sections(j, s,
                             TTM_SNAP_BIT(TTM_SNAP_SEC_LEGACY) | TTM_SNAP_BIT(TTM_SNAP_SEC_SERVICE) |
                                 TTM_SNAP_BIT(TTM_SNAP_SEC_CAUSES) |
                                 TTM_SNAP_BIT(TTM_SNAP_SEC_FINDINGS) |
                                 TTM_SNAP_BIT(TTM_SNAP_SEC_STACKS) |
                                 TTM_SNAP_BIT(TTM_SNAP_SEC_HISTORY));
}

/* Counters of a region, by TT-Metal's names; KERNEL is null where the layout has none. */
static void json_counters(ttm_json *j, const char *key, const uint64_t *c, uint32_t version)
{
    static const char *const names[TTM_TTSHM_NCOUNTERS] = {"DRAM",  "L1", "L1_SMALL",
                                                           "TRACE", "CB", "KERNEL"};
    ttm__json_obj_begin(j, key);
    for (unsigned k = 0; k < TTM_TTSHM_NCOUNTERS; k++) {
        if (k == TTM_TTSHM_KERNEL && version != 1)
            ttm__json_str(j, names[k], NULL);
        else
            ttm__json_u64(j, names[k], c[k]);
    }
    ttm__json_obj_end(j);
}

static const char *shm_state(ttm_ttshm_state st)
{
    return st == TTM_TTSHM_OK ? "ok" : st == TTM_TTSHM_NOT_READY ? "not_ready" : "invalid";
}

static void json_shm(ttm_json *j, const ttm_cli_shm *shm)
{
    ttm__json_obj_begin(j, "shm");
    ttm__json_str(j, "dir", shm->dir);
    ttm__json_bool(j, "counters_only", true);
    ttm__json_arr_begin(j, "regions");
    for (size_t i = 0; i < shm->n; i++) {
        const ttm_ttshm_region *r = &shm->regions[i];
        ttm__json_obj_begin(j, NULL);
        ttm__json_str(j, "path", r->path);
        ttm__json_u64(j, "id", r->id);
        ttm__json_str(j, "state", shm_state(r->state));
        if (r->state != TTM_TTSHM_OK) {
            ttm__json_str(j, "why", r->why);
            ttm__json_obj_end(j);
            continue;
        }
        ttm__json_u64(j, "version", r->version);
        ttm__json_i64(j, "device_id", r->device_id);
        ttm__json_u64(j, "asic_id", r->asic_id);
        ttm__json_u64(j, "num_active_processes", r->num_active_processes);
        ttm__json_u64(j, "reference_count", r->reference_count);
        ttm__json_u64(j, "last_update", r->last_update);
        ttm__json_u64(j, "ghosts", r->ghosts);
        json_counters(j, "totals", r->total, r->version);
        ttm__json_u64(j, "dram_usage", ttm__ttshm_dram_usage(r->total));
        ttm__json_u64(j, "l1_usage", ttm__ttshm_l1_usage(r->total));
        ttm__json_arr_begin(j, "chips");
        for (size_t k = 0; k < r->nchips; k++) {
            ttm__json_obj_begin(j, NULL);
            ttm__json_u64(j, "chip_id", r->chips[k].chip_id);
            ttm__json_bool(j, "remote", r->chips[k].is_remote != 0);
            json_counters(j, "bytes", r->chips[k].bytes, r->version);
            ttm__json_obj_end(j);
        }
        ttm__json_arr_end(j);
        ttm__json_arr_begin(j, "processes");
        for (size_t k = 0; k < r->nprocs; k++) {
            ttm__json_obj_begin(j, NULL);
            ttm__json_i64(j, "pid", r->procs[k].pid);
            ttm__json_str(j, "name", r->procs[k].name);
            ttm__json_bool(j, "alive", r->procs[k].alive);
            ttm__json_bool(j, "ghost", !r->procs[k].alive);
            json_counters(j, "bytes", r->procs[k].bytes, r->version);
            ttm__json_obj_end(j);
        }
        ttm__json_arr_end(j);
        ttm__json_obj_end(j);
    }
    ttm__json_arr_end(j);
    ttm__json_u64(j, "entries_examined", shm->left_out.entries);
    ttm__json_bool(j, "entries_capped", shm->left_out.entries_capped);
    ttm__json_u64(j, "regions_skipped", shm->left_out.regions_skipped);
    ttm__json_obj_end(j);
}

void ttm_cli_json_status(ttm_json *j, const ttm_report *s, const char *socket,
                         const char *daemon_err, const ttm_cli_shm *shm)
{
    ttm_render_json_made(j, NULL); /* when and where the document was made */
    if (s != NULL) {
        json_snapshot(j, s, socket);
    } else {
        ttm__json_str(j, "daemon", NULL);
        ttm__json_str(j, "daemon_error", daemon_err != NULL ? daemon_err : "no answer");
    }
    if (shm != NULL)
        json_shm(j, shm);
}

/* ---- TT-Metal's regions, as text ------------------------------------------------------------- */

static void text_counters_head(FILE *out, const char *first, int width, uint32_t version)
{
    fprintf(out, "    %-*s %10s %10s %10s %10s %10s", width, first, "DRAM", "L1", "L1_SMALL",
            "TRACE", "CB");
    if (version == 1)
        fprintf(out, " %10s", "KERNEL");
}

static void text_counters(FILE *out, const uint64_t *c, uint32_t version)
{
    char b[TTM_FMT_LEN];
    for (unsigned k = 0; k < TTM_TTSHM_KERNEL; k++)
        fprintf(out, " %10s", ttm__fmt_bytes(b, c[k]));
    if (version == 1)
        fprintf(out, " %10s", ttm__fmt_bytes(b, c[TTM_TTSHM_KERNEL]));
}

static void text_shm(FILE *out, const ttm_cli_shm *shm, bool leading_blank)
{
    char a[TTM_FMT_LEN], b[TTM_FMT_LEN];
    if (leading_blank)
        fputc('\n', out);
    fprintf(out, "TT-Metal shared memory in %s (counters only: bytes per chip and process, no "
                 "buffer identity)\n",
            shm->dir);
    if (shm->left_out.regions_skipped > 0)
        fprintf(out, "  %zu more regions not read: at most %u (the lowest ids) are read\n",
                shm->left_out.regions_skipped, TTM_TTSHM_MAX_REGIONS);
    if (shm->left_out.entries_capped)
        fprintf(out, "  the directory has more than %u entries: the rest were not examined\n",
                TTM_TTSHM_MAX_ENTRIES);
    if (shm->n == 0) {
        fputs("  no tt_device_*_memory regions\n", out);
        return;
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t now_ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
    for (size_t i = 0; i < shm->n; i++) {
        const ttm_ttshm_region *r = &shm->regions[i];
        const char *name = strrchr(r->path, '/') ? strrchr(r->path, '/') + 1 : r->path;
        if (r->state != TTM_TTSHM_OK) {
            fprintf(out, "  %s: %s: %s\n", name,
                    r->state == TTM_TTSHM_NOT_READY ? "not ready" : "invalid, not shown", r->why);
            continue;
        }
        char age[48] = "";
        if (r->last_update > 0 && r->last_update <= now_ns) {
            char d[32];
            fmt_duration(d, sizeof d, now_ns - r->last_update);
            snprintf(age, sizeof age, ", updated %s ago", d);
        }
        fprintf(out, "  %s: layout v%u, device %d, %u processes attached", name, r->version,
                (int)r->device_id, r->num_active_processes);
        if (r->ghosts > 0)
            fprintf(out, " (%zu ghost%s)", r->ghosts, r->ghosts == 1 ? "" : "s");
        fprintf(out, "%s; DRAM %s, L1 %s in use\n", age,
                ttm__fmt_bytes(a, ttm__ttshm_dram_usage(r->total)),
                ttm__fmt_bytes(b, ttm__ttshm_l1_usage(r->total)));
        text_counters_head(out, "chip", 16, r->version);
        fputc('\n', out);
        fprintf(out, "    %-16s", "total");
        text_counters(out, r->total, r->version);
        fputc('\n', out);
        for (size_t k = 0; k < r->nchips; k++) {
            char chip[32];
            snprintf(chip, sizeof chip, "%u%s", r->chips[k].chip_id,
                     r->chips[k].is_remote ? " (remote)" : "");
            fprintf(out, "    %-16s", chip);
            text_counters(out, r->chips[k].bytes, r->version);
            fputc('\n', out);
        }
        if (r->nprocs == 0)
            continue;
        text_counters_head(out, "pid     name", 24, r->version);
        fputc('\n', out);
        for (size_t k = 0; k < r->nprocs; k++) {
            const ttm_ttshm_proc *p = &r->procs[k];
            char who[48];
            snprintf(who, sizeof who, "%-7d %.16s", (int)p->pid, p->name[0] ? p->name : "?");
            fprintf(out, "    %-24s", who);
            text_counters(out, p->bytes, r->version);
            fputs(p->alive ? "\n" : "  ghost: the process is gone\n", out);
        }
    }
    size_t ghosts = 0;
    for (size_t i = 0; i < shm->n; i++)
        ghosts += shm->regions[i].state == TTM_TTSHM_OK ? shm->regions[i].ghosts : 0;
    if (ghosts > 0)
        fprintf(out, "  %zu ghost%s (killed processes whose bytes were never given back): "
                     "'ttmem status --reap' clears them\n",
                ghosts, ghosts == 1 ? "" : "s");
}

/* --reap: clears the ghosts of every valid region. Returns 0, or 1 when a region could not be
 * reaped (one line each). */
static int reap_regions(const ttm_cli_shm *shm)
{
    size_t total = 0, regions = 0, denied = 0;
    int rc = 0;
    for (size_t i = 0; i < shm->n; i++) {
        const ttm_ttshm_region *r = &shm->regions[i];
        if (r->state != TTM_TTSHM_OK)
            continue;
        size_t n = 0;
        char why[300];
        int err = ttm__ttshm_reap(r->path, &n, why, sizeof why);
        if (err == TTM_EPERM) {
            denied++;
            rc = 1;
        } else if (err != TTM_OK) {
            fprintf(stderr, "ttmem: cannot reap: %s\n", why);
            rc = 1;
        }
        total += n;
        regions += n > 0;
    }
    if (denied > 0)
        fprintf(stderr, "ttmem: cannot reap ghosts in %s: no write access to %zu region%s (run "
                        "as the regions' owner or as root)\n",
                shm->dir, denied, denied == 1 ? "" : "s");
    printf("Reaped %zu ghost process%s in %zu region%s\n", total, total == 1 ? "" : "es",
           regions, regions == 1 ? "" : "s");
    return rc;
}

/* ---- the command ----------------------------------------------------------------------------- */

int ttm_cli_status(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"socket", required_argument, NULL, 's'},
        {"query-socket", required_argument, NULL, 'q'},
        {"shm-dir", required_argument, NULL, 'd'},
        {"reap", no_argument, NULL, 'r'},
        {"stacks", no_argument, NULL, 'S'},
        {"stack-depth", required_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *socket = NULL, *query = NULL;
    const char *shm_dir = getenv("TTMEM_SHM_DIR");
    bool json = false, reap = false, stacks = false;
    unsigned depth = TTM_CLI_TEXT_DEPTH;
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
        case 'd':
            shm_dir = optarg;
            break;
        case 'r':
            reap = true;
            break;
        case 'S':
            stacks = true;
            break;
        case 'D':
            if (ttm_cli_parse_depth("status", optarg, &depth) != 0)
                return 2;
            stacks = true;
            break;
        case 'h':
            printf("usage: ttmem status [--json] [--socket PATH] [--query-socket PATH] "
                   "[--shm-dir DIR] [--reap] [--stacks] [--stack-depth N]\n"
                   "--stacks adds the call sites: live buffers and leaks by allocation site, "
                   "the\nfindings' sites, the breakdown by phase and scope (N frames each, "
                   "default %u).\n",
                   TTM_CLI_TEXT_DEPTH);
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
    if (shm_dir == NULL || shm_dir[0] == '\0')
        shm_dir = TTM_TTSHM_DEFAULT_DIR;
    char sock[TTM_CLI_PATH_MAX], qpath[TTM_CLI_PATH_MAX];
    int rc = ttm_cli_socket_paths(socket, query, sock, qpath, sizeof sock);
    if (rc != 0)
        return rc;

    ttm_cli_shm shm = {.dir = shm_dir};
    ttm_ttshm_region *regions = NULL;
    int reap_rc = 0;
    if (reap) {
        (void)ttm__ttshm_scan(shm_dir, &regions, &shm.n);
        shm.regions = regions;
        reap_rc = reap_regions(&shm);
        ttm__free(regions);
        regions = NULL;
    }
    if (ttm__ttshm_scan_ex(shm_dir, &regions, &shm.n, &shm.left_out) == TTM_ENOMEM)
        return ttm_cli_fail("status: out of memory reading %s", shm_dir), 1;
    shm.regions = regions;

    ttm_snap_query q = {.sections = TTM_SNAP_WANT_STATUS};
    if (stacks)
        q.sections |= TTM_SNAP_BIT(TTM_SNAP_SEC_STACKS) | TTM_SNAP_BIT(TTM_SNAP_SEC_FINDINGS);
    ttm_report s;
    char msg[300] = "";
    int err = ttm_report_fetch(qpath, &q, 10000, &s, msg, sizeof msg);
    if (err == TTM_OK && stacks)
        ttm_cli_symbolize(&s, NULL);
    if (err != TTM_OK) {
        /* no daemon: TT-Metal's regions still tell something */
        ttm_cli_fetch_error(sock, qpath, err, msg);
        if (msg[0] == '\0')
            snprintf(msg, sizeof msg, "%s", err == TTM_ECONN ? "not running" : ttm_strerror(err));
    }
    const ttm_report *sp = err == TTM_OK ? &s : NULL;
    if (sp == NULL && shm.n == 0) {
        ttm__free(regions);
        return 1;
    }
    if (json) {
        ttm_json j;
        ttm__json_init(&j, stdout, true);
        ttm__json_obj_begin(&j, NULL);
        ttm__json_str(&j, "schema", "ttmem.status");
        ttm__json_u64(&j, "schema_version", TTM_CLI_STATUS_SCHEMA_VERSION);
        ttm_cli_json_status(&j, sp, sock, msg, &shm);
        ttm__json_obj_end(&j);
        ttm__json_finish(&j);
    } else {
        if (sp != NULL) {
            ttm_cli_print_daemon(stdout, sp, sock);
            text_legacy(stdout, sp);
            text_devices(stdout, sp);
            text_procs(stdout, sp);
            text_classes(stdout, sp);
            ttm_render_causes(stdout, sp,
                              "Causes of the unmatched frees (address-only events: legacy "
                              "clients)");
            if (stacks)
                ttm_render_sites(stdout, sp, depth);
        }
        if (sp == NULL || shm.n > 0 || shm.left_out.entries_capped)
            text_shm(stdout, &shm, sp != NULL);
    }
    if (sp != NULL)
        ttm_report_clear(&s);
    ttm__free(regions);
    return reap_rc;
}
