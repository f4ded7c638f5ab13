/*
 * cmd_dump.c — `ttmem dump`: every live buffer the running ttmemd holds, grouped by device,
 * memory type and process (the prototype's DUMP_REMAINING, returned to the caller instead of
 * printed in the server). Text, or JSON with schema "ttmem.dump" (docs/DAEMON.md); --stacks
 * adds each buffer's allocation site (its top frames, symbolized: cli/sites.h).
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/sites.h"
#include "common/fmt.h"
#include "common/json.h"

static int live_cmp(const void *a, const void *b)
{
    const ttm_live *x = a, *y = b;
    if (x->device != y->device)
        return x->device < y->device ? -1 : 1;
    if (x->memtype != y->memtype)
        return x->memtype < y->memtype ? -1 : 1;
    if (x->pid != y->pid)
        return x->pid < y->pid ? -1 : 1;
    if (x->addr != y->addr)
        return x->addr < y->addr ? -1 : 1;
    return 0;
}

static const ttm_report_proc *proc_of(const ttm_report *s, uint32_t pid)
{
    for (size_t i = 0; i < s->nprocs; i++)
        if (s->procs[i].stats.pid == pid)
            return &s->procs[i];
    return NULL;
}

static const char *proc_name(const ttm_report *s, uint32_t pid)
{
    const ttm_report_proc *p = proc_of(s, pid);
    return p != NULL && p->name[0] ? p->name : "?";
}

/* The end of the run [i, end) of entries with the same key (level 0 device, 1 memtype, 2 pid). */
static size_t run_end(const ttm_report *s, size_t i, int level)
{
    const ttm_live *a = &s->live[i];
    size_t k = i + 1;
    for (; k < s->nlive; k++) {
        const ttm_live *b = &s->live[k];
        if (b->device != a->device || (level >= 1 && b->memtype != a->memtype) ||
            (level >= 2 && b->pid != a->pid))
            break;
    }
    return k;
}

/* Owning bytes and buffer count of [i, end): views hold no bytes. */
static void run_sum(const ttm_report *s, size_t i, size_t end, uint64_t *bytes, uint64_t *n)
{
    *bytes = 0;
    *n = end - i;
    for (; i < end; i++)
        if (!(s->live[i].flags & TTM_FLAG_VIEW))
            *bytes += s->live[i].size;
}

/* depth: frames shown under each buffer (0: none, without --stacks). */
static void text_dump(FILE *out, const ttm_report *s, unsigned depth)
{
    char a[TTM_FMT_LEN], b[TTM_FMT_LEN];
    fprintf(out, "Live buffers: %s", ttm__fmt_count(a, s->live_total));
    if (s->nlive < s->live_total)
        fprintf(out, " (%s listed)", ttm__fmt_count(b, s->nlive));
    fputc('\n', out);
    for (size_t i = 0; i < s->nlive;) {
        size_t dend = run_end(s, i, 0);
        uint64_t bytes, n;
        run_sum(s, i, dend, &bytes, &n);
        fprintf(out, "\ndevice %u: %s buffers, %s\n", s->live[i].device, ttm__fmt_count(a, n),
                ttm__fmt_bytes(b, bytes));
        for (size_t t = i; t < dend;) {
            size_t tend = run_end(s, t, 1);
            run_sum(s, t, tend, &bytes, &n);
            fprintf(out, "  %s: %s buffers, %s\n", ttm__memtype_name(s->live[t].memtype),
                    ttm__fmt_count(a, n), ttm__fmt_bytes(b, bytes));
            for (size_t p = t; p < tend;) {
                size_t pend = run_end(s, p, 2);
                run_sum(s, p, pend, &bytes, &n);
                fprintf(out, "    pid %" PRIu32 " (%s): %s buffers, %s\n", s->live[p].pid,
                        proc_name(s, s->live[p].pid), ttm__fmt_count(a, n),
                        ttm__fmt_bytes(b, bytes));
                for (size_t k = p; k < pend; k++) {
                    const ttm_live *l = &s->live[k];
                    fprintf(out, "      0x%-16" PRIX64 " %10s", l->addr, ttm__fmt_bytes(a, l->size));
                    if (l->obj)
                        fprintf(out, "  obj 0x%" PRIx64, l->obj);
                    if (l->flags & TTM_FLAG_VIEW)
                        fputs("  view", out);
                    if (l->refs > 1)
                        fprintf(out, "  refs %" PRIu32, l->refs);
                    char names[600] = "";
                    if (depth)
                        ttm_cli_names(s, l->scope, l->phase, names, sizeof names);
                    fprintf(out, "%s%s\n", names[0] ? "  " : "", names);
                    if (depth)
                        ttm_cli_print_stack(out, s, l->stack, depth, 8);
                }
                p = pend;
            }
            t = tend;
        }
        i = dend;
    }
    ttm_render_procs(out, s);
}

static void json_dump(FILE *out, const ttm_report *s, const char *socket)
{
    ttm_json j;
    ttm__json_init(&j, out, true);
    ttm__json_obj_begin(&j, NULL);
    ttm__json_str(&j, "schema", "ttmem.dump");
    ttm__json_u64(&j, "schema_version", TTM_CLI_DUMP_SCHEMA_VERSION);
    ttm_render_json_made(&j, NULL);
    ttm_cli_json_daemon(&j, s, socket);
    ttm__json_u64(&j, "live_total", s->live_total);
    ttm__json_u64(&j, "listed", s->nlive);
    ttm__json_arr_begin(&j, "devices");
    for (size_t i = 0; i < s->nlive;) {
        size_t dend = run_end(s, i, 0);
        uint64_t bytes, n;
        run_sum(s, i, dend, &bytes, &n);
        ttm__json_obj_begin(&j, NULL);
        ttm__json_u64(&j, "device", s->live[i].device);
        ttm__json_u64(&j, "count", n);
        ttm__json_u64(&j, "bytes", bytes);
        ttm__json_arr_begin(&j, "memtypes");
        for (size_t t = i; t < dend;) {
            size_t tend = run_end(s, t, 1);
            run_sum(s, t, tend, &bytes, &n);
            ttm__json_obj_begin(&j, NULL);
            ttm__json_str(&j, "memtype", ttm__memtype_name(s->live[t].memtype));
            ttm__json_u64(&j, "count", n);
            ttm__json_u64(&j, "bytes", bytes);
            ttm__json_arr_begin(&j, "processes");
            for (size_t p = t; p < tend;) {
                size_t pend = run_end(s, p, 2);
                run_sum(s, p, pend, &bytes, &n);
                ttm__json_obj_begin(&j, NULL);
                ttm__json_u64(&j, "pid", s->live[p].pid);
                ttm__json_str(&j, "name", proc_name(s, s->live[p].pid));
                const ttm_report_proc *pr = proc_of(s, s->live[p].pid);
                ttm__json_str(&j, "cmdline", pr != NULL ? pr->cmdline : NULL);
                ttm__json_u64(&j, "count", n);
                ttm__json_u64(&j, "bytes", bytes);
                ttm__json_arr_begin(&j, "buffers");
                for (size_t k = p; k < pend; k++) {
                    const ttm_live *l = &s->live[k];
                    ttm__json_obj_begin(&j, NULL);
                    ttm__schema_json(&j, &ttm_rec_live, l, 0);
                    ttm__json_bool(&j, "view", (l->flags & TTM_FLAG_VIEW) != 0);
                    ttm__json_obj_end(&j);
                }
                ttm__json_arr_end(&j);
                ttm__json_obj_end(&j);
                p = pend;
            }
            ttm__json_arr_end(&j);
            ttm__json_obj_end(&j);
            t = tend;
        }
        ttm__json_arr_end(&j);
        ttm__json_obj_end(&j);
        i = dend;
    }
    ttm__json_arr_end(&j);
    /* --stacks: the stacks, modules and names the buffers' stack/scope/phase ids refer to */
    ttm_render_json_sections(&j, s, TTM_SNAP_BIT(TTM_SNAP_SEC_STACKS));
    ttm__json_obj_end(&j);
    ttm__json_finish(&j);
}

int ttm_cli_dump(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"socket", required_argument, NULL, 's'},
        {"query-socket", required_argument, NULL, 'q'},
        {"max", required_argument, NULL, 'm'},
        {"stacks", no_argument, NULL, 'S'},
        {"stack-depth", required_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *socket = NULL, *query = NULL;
    bool json = false;
    unsigned depth = 0; /* frames per buffer; 0 without --stacks */
    uint64_t max = 0;
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
        case 'm':
            if (ttm_cli_parse_u64(optarg, &max) != TTM_OK || max == 0 || max > UINT32_MAX)
                return ttm_cli_fail("dump: --max '%s' must be a positive number", optarg);
            break;
        case 'S':
            depth = depth ? depth : TTM_CLI_TEXT_DEPTH;
            break;
        case 'D':
            if (ttm_cli_parse_depth("dump", optarg, &depth) != 0)
                return 2;
            break;
        case 'h':
            printf("usage: ttmem dump [--json] [--max N] [--stacks] [--stack-depth N] "
                   "[--socket PATH]\n                  [--query-socket PATH]\n"
                   "--stacks shows each buffer's allocation site (N frames, default %u).\n",
                   TTM_CLI_TEXT_DEPTH);
            return 0;
        default:
            if (optopt)
                return ttm_cli_fail("dump: option '%s' is missing its value", argv[optind - 1]);
            return ttm_cli_fail("dump: unknown option '%s'; see 'ttmem dump --help'",
                                argv[optind - 1]);
        }
    }
    if (optind < argc)
        return ttm_cli_fail("dump: unexpected argument '%s'", argv[optind]);
    char sock[TTM_CLI_PATH_MAX], qpath[TTM_CLI_PATH_MAX];
    int rc = ttm_cli_socket_paths(socket, query, sock, qpath, sizeof sock);
    if (rc != 0)
        return rc;
    ttm_snap_query q = {.sections = TTM_SNAP_WANT_DUMP, .max_live = (uint32_t)max};
    if (depth)
        q.sections |= TTM_SNAP_BIT(TTM_SNAP_SEC_STACKS);
    ttm_report s;
    rc = ttm_cli_fetch(sock, qpath, &q, &s);
    if (rc != 0)
        return rc;
    if (depth)
        ttm_cli_symbolize(&s, NULL);
    if (s.nlive > 1)
        qsort(s.live, s.nlive, sizeof *s.live, live_cmp);
    if (json)
        json_dump(stdout, &s, sock);
    else
        text_dump(stdout, &s, depth);
    ttm_report_clear(&s);
    return 0;
}
