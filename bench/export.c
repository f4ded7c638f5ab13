/*
 * export.c — bench_export: what `ttmem export` costs per event in each format, beside the plain
 * replay of the same journal (core/replay.h without an observer) measured in the same run.
 *
 * The journal is the llama scenario (identity client) played REPEAT times with seeds 1..REPEAT
 * into one registry through the journal tap (core/jtap.h), as `ttmem simulate --journal` writes
 * it. Each format is timed as a user runs it: the real `ttmem export FILE --format F -o OUT`
 * (the ttmem built beside this bench), so the figure includes its start, its replay (two for
 * Perfetto), the writing and, for SQLite, the call sites and the indexes. Best of RUNS.
 *
 * Usage: bench_export [--repeat N] [--runs N] [--ttmem PATH] [--keep DIR]
 */
#include <errno.h>
#include <inttypes.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"
#include "common/journal.h"
#include "core/jtap.h"
#include "core/replay.h"
#include "sim/sim.h"
#include "ttmem/ttmem.h"

extern char **environ;

static void apply(void *arg, uint32_t pid, const ttm_event *ev)
{
    ttm_jtap_apply(arg, pid, ev);
}

/* Writes the journal of REPEAT llama runs to path; returns its ALLOC and FREE events. */
static uint64_t make_journal(const char *path, unsigned repeat)
{
    ttm_registry *reg = NULL;
    ttm_journal_writer *w = NULL;
    ttm_jtap tap;
    if (ttm_registry_open(&reg, NULL) != TTM_OK ||
        ttm_journal_writer_open(path, -1, &(ttm_journal_opts){0}, &w) != TTM_OK ||
        ttm_jtap_open(&tap, reg, w, NULL, 0) != TTM_OK) {
        fprintf(stderr, "bench_export: cannot write the journal %s\n", path);
        exit(1);
    }
    for (unsigned i = 0; i < repeat; i++) {
        ttm_sim_truth truth;
        if (ttm_sim_run_stacks("llama", TTM_SIM_IDENTITY, i + 1, ttm_registry_stacks(reg), apply,
                               &tap, &truth) != TTM_OK) {
            fprintf(stderr, "bench_export: the llama scenario failed\n");
            exit(1);
        }
    }
    ttm_totals t;
    ttm_registry_totals(reg, &t);
    if (ttm_jtap_close(&tap) != TTM_OK || ttm_journal_writer_close(w) != TTM_OK) {
        fprintf(stderr, "bench_export: cannot write the journal %s\n", path);
        exit(1);
    }
    ttm_registry_close(reg);
    return t.allocs + t.frees;
}

static void on_usage(void *ctx, size_t run, uint64_t ts, uint16_t device, uint8_t memtype,
                     uint64_t bytes)
{
    (void)run, (void)ts, (void)device, (void)memtype;
    *(uint64_t *)ctx += bytes;
}

/* Seconds of one in-process replay of path (with an observer taking the usage when obs). */
static double replay_s(const char *path, bool obs)
{
    ttm_replay *rp = NULL;
    char msg[256];
    const char *paths[1] = {path};
    double t0 = ttm_bench_now_s();
    if (ttm_replay_open(&rp, paths, 1, msg, sizeof msg) != TTM_OK) {
        fprintf(stderr, "bench_export: %s\n", msg);
        exit(1);
    }
    uint64_t sum = 0;
    ttm_replay_observer o = {.ctx = &sum, .usage = on_usage};
    if (ttm_replay_run(rp, obs ? &o : NULL, UINT64_MAX) != TTM_OK) {
        fprintf(stderr, "bench_export: the replay failed\n");
        exit(1);
    }
    ttm_replay_close(rp);
    return ttm_bench_now_s() - t0;
}

/* Seconds of `ttmem export path --format fmt -o out`. */
static double export_s(const char *ttmem, const char *path, const char *fmt, const char *out)
{
    char *argv[] = {(char *)ttmem, "export", (char *)path, "--format", (char *)fmt,
                    "-o", (char *)out, NULL};
    double t0 = ttm_bench_now_s();
    pid_t pid;
    int st = 0;
    if (posix_spawn(&pid, ttmem, NULL, NULL, argv, environ) != 0 ||
        waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "bench_export: %s export --format %s failed\n", ttmem, fmt);
        exit(1);
    }
    return ttm_bench_now_s() - t0;
}

static double best(double a, double b)
{
    return a < b ? a : b;
}

int main(int argc, char **argv)
{
    unsigned repeat = 10, runs = 3;
    char ttmem[4096] = "";
    const char *keep = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--repeat") == 0)
            repeat = (unsigned)strtoul(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--runs") == 0)
            runs = (unsigned)strtoul(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--ttmem") == 0)
            snprintf(ttmem, sizeof ttmem, "%s", argv[i + 1]);
        else if (strcmp(argv[i], "--keep") == 0)
            keep = argv[i + 1];
        else {
            fprintf(stderr, "usage: bench_export [--repeat N] [--runs N] [--ttmem PATH]"
                            " [--keep DIR]\n");
            return 2;
        }
    }
    if (repeat == 0 || runs == 0)
        return fprintf(stderr, "bench_export: --repeat and --runs must be at least 1\n"), 2;
    if (ttmem[0] == '\0') {
        ttm_bench_find_ttmemd(ttmem, sizeof ttmem);
        ttmem[strlen(ttmem) - 1] = '\0'; /* DIR/../ttmemd -> DIR/../ttmem */
    }
    char dir[256];
    snprintf(dir, sizeof dir, "%s", keep != NULL ? keep : "/tmp/ttmem-bench-export.XXXXXX");
    if (keep == NULL ? mkdtemp(dir) == NULL : mkdir(dir, 0755) != 0 && errno != EEXIST)
        return fprintf(stderr, "bench_export: cannot make %s: %s\n", dir, strerror(errno)), 1;
    char journal[512];
    snprintf(journal, sizeof journal, "%s/llama.ttmem", dir);

    ttm_bench_machine();
    uint64_t events = make_journal(journal, repeat);
    struct stat sb;
    stat(journal, &sb);
    printf("journal: llama x %u, %" PRIu64 " events, %lld bytes; best of %u runs\n", repeat,
           events, (long long)sb.st_size, runs);

    double base = 1e30, base_obs = 1e30;
    for (unsigned r = 0; r < runs; r++) {
        base = best(base, replay_s(journal, false));
        base_obs = best(base_obs, replay_s(journal, true));
    }
    printf("%-34s %8.3f s %10.2f M events/s\n", "baseline: replay, no observer", base,
           (double)events / base / 1e6);
    printf("%-34s %8.3f s %10.2f M events/s %6.2fx\n", "replay, usage observer", base_obs,
           (double)events / base_obs / 1e6, base_obs / base);
    static const char *const fmts[] = {"csv", "perfetto", "sqlite"};
    static const char *const exts[] = {"csv", "perfetto-trace", "sqlite"};
    for (size_t k = 0; k < 3; k++) {
        char out[600];
        snprintf(out, sizeof out, "%s/llama.%s", dir, exts[k]);
        double t = 1e30;
        for (unsigned r = 0; r < runs; r++)
            t = best(t, export_s(ttmem, journal, fmts[k], out));
        stat(out, &sb);
        char what[64];
        snprintf(what, sizeof what, "ttmem export --format %s", fmts[k]);
        printf("%-34s %8.3f s %10.2f M events/s %6.2fx  %.1f bytes/event\n", what, t,
               (double)events / t / 1e6, t / base, (double)sb.st_size / (double)events);
        if (keep == NULL)
            unlink(out);
    }
    if (keep == NULL) {
        unlink(journal);
        rmdir(dir);
    }
    return 0;
}
