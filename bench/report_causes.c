/*
 * bench/report_causes.c — what the causes of the unmatched frees add to a `ttmem status` or
 * `ttmem top` refresh (issue 13): the registry part of the daemon's reply, built
 * (ttm_report_fill) and encoded, with the CAUSES section, beside the same reply without it
 * (TOTALS, DEVICES, PROCS: what a refresh asked of the registry before) and with FINDINGS
 * instead (what
 * the causes would cost if they came with the findings, whose offender tables are sorted at
 * every query). Same run, same registry, medians over the rounds; the claim is the ratios.
 *
 * The registry holds K addresses with unmatched frees, as an address-only stream leaves them:
 * on 8 devices, each address allocated and freed once, then freed again (a double release),
 * every eighth one of them 20 more times (a storm's worth); K = 2,433 (the legacy llama run's
 * addresses), 16,384 and 65,536 (the attributor's default bound of addresses).
 *
 * Usage: bench_report_causes [ROUNDS]   (default 101)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "common/alloc.h"
#include "core/registry.h"
#include "core/report.h"
#include "ttmem/ttmem.h"

static ttm_registry *stray_registry(unsigned keys)
{
    ttm_registry *reg = NULL;
    if (ttm_registry_open(&reg, NULL) != TTM_OK)
        return NULL;
    uint64_t ts = 0;
    for (unsigned i = 0; i < keys; i++) {
        ttm_event ev;
        memset(&ev, 0, sizeof ev);
        ev.device = (uint16_t)(i % 8);
        ev.memtype = TTM_MEM_DRAM;
        ev.addr = 0x1000000ull + (uint64_t)(i / 8) * 4096;
        ev.size = 4096;
        unsigned frees = 2 + (i % 8 == 0 ? 20 : 0);
        ev.kind = TTM_EV_ALLOC;
        ev.ts = ts += 1000;
        ttm_registry_apply(reg, 1000, &ev);
        ev.kind = TTM_EV_FREE;
        for (unsigned f = 0; f < frees; f++) {
            ev.ts = ts += 1000;
            ttm_registry_apply(reg, 1000, &ev);
        }
    }
    return reg;
}

/* Median µs of building the registry part of a reply with `sections` and encoding it. */
static double reply_us(const ttm_registry *reg, uint32_t sections, unsigned rounds, size_t *bytes)
{
    uint64_t *ns = ttm__xcalloc(rounds, sizeof *ns);
    ttm_bytes out = {0};
    ttm_report_options opt = {.sections = sections};
    for (unsigned k = 0; k < rounds; k++) {
        ttm_report r;
        out.len = 0;
        uint64_t t0 = ttm_bench_now_ns();
        if (ttm_report_fill(reg, &opt, &r) != TTM_OK || ttm_report_encode(&r, &out) != TTM_OK) {
            fprintf(stderr, "bench_report_causes: out of memory\n");
            exit(1);
        }
        ns[k] = ttm_bench_now_ns() - t0;
        ttm_report_clear(&r);
    }
    *bytes = out.len;
    qsort(ns, rounds, sizeof *ns, ttm_bench_cmp_u64);
    double us = (double)ns[rounds / 2] / 1e3;
    ttm__free(ns);
    ttm__bytes_free(&out);
    return us;
}

int main(int argc, char **argv)
{
    unsigned rounds = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 101;
    if (rounds < 3)
        rounds = 3;
    ttm_bench_machine();
    const uint32_t totals = TTM_SNAP_BIT(TTM_SNAP_SEC_TOTALS) | TTM_SNAP_BIT(TTM_SNAP_SEC_DEVICES) |
                            TTM_SNAP_BIT(TTM_SNAP_SEC_PROCS);
    const uint32_t causes = totals | TTM_SNAP_BIT(TTM_SNAP_SEC_CAUSES);
    const uint32_t findings = totals | TTM_SNAP_BIT(TTM_SNAP_SEC_FINDINGS);
    static const unsigned keys[] = {2433, 16384, 65536};
    printf("%8s %12s %12s %14s %10s %14s %12s\n", "keys", "status us", "+causes us", "+findings us",
           "reply KB", "causes/status", "causes/find");
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        ttm_registry *reg = stray_registry(keys[i]);
        if (reg == NULL) {
            fprintf(stderr, "bench_report_causes: out of memory\n");
            return 1;
        }
        ttm_cause_stats all[TTM_CAUSE__COUNT];
        ttm_causes_info info;
        ttm_registry_causes(reg, all, &info);
        size_t bt, bc, bf;
        unsigned r = keys[i] > 20000 ? (rounds + 4) / 5 | 1 : rounds;
        double t = reply_us(reg, totals, r, &bt);
        double c = reply_us(reg, causes, r, &bc);
        double f = reply_us(reg, findings, r, &bf);
        printf("%8llu %12.1f %12.1f %14.1f %10.1f %14.1f %12.3f\n", (unsigned long long)info.keys,
               t, c, f, (double)bc / 1024, c / t, c / f);
        ttm_registry_close(reg);
    }
    return 0;
}
