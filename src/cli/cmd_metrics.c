/*
 * cmd_metrics.c — `ttmem metrics`: the Prometheus exposition that `ttmemd --metrics-listen`
 * serves, printed once (for node_exporter's textfile collector, or a look by hand).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/alloc.h"
#include "common/paths.h"
#include "core/report.h"
#include "common/ttshm.h"
#include "core/metrics.h"

int ttm_cli_metrics(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"socket", required_argument, NULL, 's'},
        {"shm-dir", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    char sock[256] = "";
    const char *shm_dir = getenv("TTMEM_SHM_DIR");
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (strlen(optarg) >= sizeof sock)
                return ttm_cli_fail("metrics: --socket path is too long");
            strcpy(sock, optarg);
            break;
        case 'd':
            shm_dir = optarg;
            break;
        case 'h':
            printf("usage: ttmem metrics [--socket PATH] [--shm-dir DIR]\n");
            return 0;
        default:
            return ttm_cli_bad_option("metrics", argv);
        }
    }
    if (optind < argc)
        return ttm_cli_fail("metrics: unexpected argument '%s'", argv[optind]);
    char chosen[256], qpath[300] = "", msg[300] = "";
    snprintf(chosen, sizeof chosen, "%s", sock);
    int rerr = ttm__socket_resolve(chosen[0] != '\0' ? chosen : NULL, sock, sizeof sock, NULL,
                                   msg, sizeof msg);
    if (rerr == TTM_ERANGE)
        return ttm_cli_fail("metrics: %s; use --socket", msg);
    ttm_report snap;
    memset(&snap, 0, sizeof snap);
    bool have = false;
    if (rerr == TTM_OK && ttm__snap_query_path(sock, qpath, sizeof qpath) == TTM_OK) {
        ttm_snap_query q = {.sections = TTM_SNAP_WANT_STATUS};
        have = ttm_report_fetch(qpath, &q, 2000, &snap, msg, sizeof msg) == TTM_OK;
    }
    if (!have)
        fprintf(stderr, "ttmem: metrics: no daemon answered at %s (%s); ttmem_daemon_up is 0\n",
                qpath[0] ? qpath : sock, msg[0] ? msg : "no answer");

    ttm_ttshm_region *regions = NULL;
    size_t nregions = 0;
    (void)ttm__ttshm_scan(shm_dir, &regions, &nregions);

    ttm_bytes text = {0};
    int err = ttm_metrics_render(have ? &snap : NULL, regions, nregions, &text);
    int rc = 0;
    if (err != TTM_OK) {
        ttm_cli_fail("metrics: cannot render: %s", ttm_strerror(err));
        rc = 1;
    } else if (fwrite(text.data, 1, text.len, stdout) != text.len || fflush(stdout) != 0) {
        ttm_cli_fail("metrics: cannot write the output");
        rc = 1;
    }
    ttm__bytes_free(&text);
    ttm__free(regions);
    ttm_report_clear(&snap);
    return rc;
}
