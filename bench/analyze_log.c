/*
 * bench/analyze_log.c — how fast `ttmem analyze-log` digests the prototype's logs
 * (the budget in docs/ARCHITECTURE.md: ≥ 100 MB/s of log text).
 *
 * The log is made the way the prototype made it: the llama scenario in the legacy client
 * behaviour is classified by the core and written as the prototype's log lines (legacy.c),
 * with the noise of a real log around them (a statistics block every 1,000 lines). Seeds are
 * added until the text reaches 64 MiB. Each round then splits it into lines, parses them and
 * applies the events to a fresh registry, as analyze-log does. Baseline from the same run: only
 * splitting the text into lines (memchr), the floor any line-oriented parser pays.
 *
 * Cause attribution (core/causes.h; budget: at most 20% of analyze-log's throughput) is
 * measured in the same run: the rounds alternate a registry with attribution (the default,
 * ttm_registry_causes() read at the end, as the report does) and one with cfg.no_causes, and
 * the ratio of their medians is printed.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "common/alloc.h"
#include "common/poclog.h"
#include "core/legacy.h"
#include "core/registry.h"
#include "sim/sim.h"

#define TARGET_BYTES (64u << 20)
#define ROUNDS 7

typedef struct text {
    char *buf;
    size_t len, cap;
    size_t lines;
    ttm_registry *reg;
} text;

static void append(text *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        t->cap = (t->cap + n + 1) * 2;
        t->buf = ttm__xreallocarray(t->buf, t->cap, 1);
    }
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len++] = '\n';
    if (++t->lines % 1000 == 0) {
        static const char stats[] = "\xf0\x9f\x93\x8a Current Statistics:\n"
                                    "  Device 0: DRAM 1234567 bytes, L1 4096 bytes\n"
                                    "  Active allocations: 4242\n";
        append(t, stats, sizeof stats - 2);
    }
}

static void emit_line(void *arg, uint32_t pid, const ttm_event *ev)
{
    text *t = arg;
    ttm_apply_info info;
    uint32_t mask = ttm_registry_apply_ex(t->reg, pid, ev, &info);
    char line[256];
    size_t n = ttm_legacy_log_line(line, sizeof line, pid, ev, mask, &info);
    if (n > 0)
        append(t, line, n);
}

static double analyze(const text *t, bool causes, uint64_t *events, uint64_t *attributed)
{
    ttm_registry *reg = NULL;
    ttm_registry_config cfg = {.no_causes = !causes};
    if (ttm_registry_open(&reg, &cfg) != TTM_OK)
        exit(1);
    ttm_poclog_stats st;
    memset(&st, 0, sizeof st);
    double t0 = ttm_bench_now_s();
    const char *p = t->buf, *end = t->buf + t->len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)((nl ? nl : end) - p);
        uint32_t pid;
        ttm_event ev;
        if (ttm__poclog_parse_line(p, n, &st, &pid, &ev) == TTM_POCLOG_EVENT)
            ttm_registry_apply(reg, pid, &ev);
        p += n + 1;
    }
    ttm_cause_stats cs[TTM_CAUSE__COUNT];
    ttm_causes_info info;
    ttm_registry_causes(reg, cs, &info);
    double dt = ttm_bench_now_s() - t0;
    *events = st.events;
    *attributed = info.attributed;
    ttm_registry_close(reg);
    return dt;
}

static double split_only(const text *t, size_t *lines)
{
    double t0 = ttm_bench_now_s();
    size_t n = 0;
    const char *p = t->buf, *end = t->buf + t->len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        n++;
        p = nl ? nl + 1 : end;
    }
    *lines = n;
    return ttm_bench_now_s() - t0;
}

int main(void)
{
    text t = {0};
    for (uint64_t seed = 1; t.len < TARGET_BYTES; seed++) {
        if (ttm_registry_open(&t.reg, NULL) != TTM_OK)
            return 1;
        if (ttm_sim_run("llama", TTM_SIM_LEGACY, seed, emit_line, &t, NULL) != TTM_OK) {
            fprintf(stderr, "bench_analyze_log: the llama scenario is missing\n");
            return 1;
        }
        ttm_registry_close(t.reg);
    }
    double dts[ROUNDS], offs[ROUNDS], splits[ROUNDS];
    uint64_t events = 0, attributed = 0, none = 0;
    size_t lines = 0;
    for (int r = 0; r < ROUNDS; r++) {
        dts[r] = analyze(&t, true, &events, &attributed);
        offs[r] = analyze(&t, false, &events, &none);
        splits[r] = split_only(&t, &lines);
    }
    qsort(dts, ROUNDS, sizeof dts[0], ttm_bench_cmp_double);
    qsort(offs, ROUNDS, sizeof offs[0], ttm_bench_cmp_double);
    qsort(splits, ROUNDS, sizeof splits[0], ttm_bench_cmp_double);
    double mb = (double)t.len / 1e6;
    printf("bench_analyze_log: %.1f MB of prototype log text, %zu lines, %llu events; median of "
           "%d rounds\n",
           mb, lines, (unsigned long long)events, ROUNDS);
    printf("  parse + classify (analyze-log): %8.1f MB/s  %6.1f ns/line  (%llu unmatched frees "
           "and duplicate allocs attributed)\n",
           mb / dts[ROUNDS / 2], dts[ROUNDS / 2] * 1e9 / (double)lines,
           (unsigned long long)attributed);
    printf("  ... without causes (no_causes): %8.1f MB/s  %6.1f ns/line\n", mb / offs[ROUNDS / 2],
           offs[ROUNDS / 2] * 1e9 / (double)lines);
    /* the machine may be shared: the best rounds are the least disturbed */
    printf("  attribution: throughput with causes %.1f%% of without (medians; best rounds "
           "%.1f%%), cost %.1f%% (budget 20%%)\n",
           100.0 * offs[ROUNDS / 2] / dts[ROUNDS / 2], 100.0 * offs[0] / dts[0],
           100.0 * (1.0 - offs[ROUNDS / 2] / dts[ROUNDS / 2]));
    printf("  baseline, split lines only    : %8.1f MB/s  %6.1f ns/line\n",
           mb / splits[ROUNDS / 2], splits[ROUNDS / 2] * 1e9 / (double)lines);
    ttm__free(t.buf);
    return 0;
}
