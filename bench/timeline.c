/*
 * timeline.c (bench_timeline) — what `ttmem timeline` costs on 10 M events (issue 12's budget:
 * at most 20 MB of HTML, first paint in Chromium within 3 s). The journal: the simulator's llama
 * scenario with call sites, repeated REPS times (each repetition its own processes, times
 * shifted so the stream is one long run), applied to a registry through the journal tap
 * (core/jtap.h) as ttmemd does. Then, with the ttmem next to this program:
 *   generate  wall time of `ttmem timeline JOURNAL -o PAGE`, the page's bytes and bytes/event,
 *   paint     the page's own first-paint time in headless Chromium (performance.now() when its
 *             first canvas draw is done, which the page publishes), median of ROUNDS loads,
 * beside a baseline measured in the same run: the same Chromium loading an empty page that
 * draws one canvas pixel and publishes the same time.
 *
 *   ./build/bench/bench_timeline [REPS [DIR]]      (REPS default 93: ~10 M events)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_util.h"
#include "common/alloc.h"
#include "common/event.h"
#include "common/journal.h"
#include "core/jtap.h"
#include "core/registry.h"
#include "sim/sim.h"

#define ROUNDS 3

typedef struct stream {
    ttm_event *ev;
    uint32_t *pid;
    size_t n, cap, pcap;
} stream;

static void collect(void *arg, uint32_t pid, const ttm_event *ev)
{
    stream *s = arg;
    size_t cap = s->cap;
    s->ev = ttm__grow(s->ev, &s->cap, s->n, sizeof *s->ev, 1 << 16);
    s->pid = ttm__grow(s->pid, &s->pcap, s->n, sizeof *s->pid, 1 << 16);
    if (s->ev == NULL || s->pid == NULL) {
        fprintf(stderr, "bench_timeline: out of memory (%zu)\n", cap);
        exit(1);
    }
    s->ev[s->n] = *ev;
    s->pid[s->n++] = pid;
}

/* The journal of reps llama runs one after the other. Returns the events written. */
static uint64_t make_journal(const char *path, unsigned reps)
{
    ttm_registry *reg = NULL;
    stream s = {0};
    if (ttm_registry_open(&reg, NULL) != 0 ||
        ttm_sim_run_stacks("llama", TTM_SIM_IDENTITY, 1, ttm_registry_stacks(reg), collect, &s,
                           NULL) != 0 ||
        s.n == 0) {
        fprintf(stderr, "bench_timeline: cannot run the llama scenario\n");
        exit(1);
    }
    ttm_journal_writer *w = NULL;
    ttm_jtap tap;
    if (ttm_journal_writer_open(path, -1, NULL, &w) != 0 ||
        ttm_jtap_open(&tap, reg, w, NULL, 0) != 0) {
        fprintf(stderr, "bench_timeline: cannot create %s\n", path);
        exit(1);
    }
    uint64_t span = s.ev[s.n - 1].ts - s.ev[0].ts + 1000, n = 0;
    for (unsigned r = 0; r < reps; r++)
        for (size_t i = 0; i < s.n; i++) {
            ttm_event e = s.ev[i];
            e.ts += span * r;
            ttm_jtap_apply(&tap, s.pid[i] + 100000u * r, &e);
            n += e.kind == TTM_EV_ALLOC || e.kind == TTM_EV_FREE;
        }
    if (ttm_jtap_close(&tap) != 0 || ttm_journal_writer_close(w) != 0) {
        fprintf(stderr, "bench_timeline: writing %s failed\n", path);
        exit(1);
    }
    ttm_registry_close(reg);
    ttm__free(s.ev);
    ttm__free(s.pid);
    return n;
}

/* The number after "key": in a file (the page's published document), or -1. */
static double json_number(const char *path, const char *key)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(buf, pat);
    return p ? atof(p + strlen(pat)) : -1;
}

/* Loads page in headless Chromium; returns the first paint the page published (ms), -1 when
 * it did not. *wall gets the whole load's seconds (Chromium's start included). */
static double chromium_paint(const char *page, const char *dom, double *wall)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "chromium --headless %s --disable-gpu --no-first-run --window-size=1400,1000 "
             "--dump-dom 'file://%s' 2>/dev/null | grep -o '\"paint_ms\":[0-9.]*' >'%s'",
             geteuid() == 0 ? "--no-sandbox" : "", page, dom);
    double t0 = ttm_bench_now_s();
    int st = system(cmd);
    *wall = ttm_bench_now_s() - t0;
    return st == 0 ? json_number(dom, "paint_ms") : -1;
}

static double median(double *v)
{
    qsort(v, ROUNDS, sizeof *v, ttm_bench_cmp_double);
    return v[ROUNDS / 2];
}

int main(int argc, char **argv)
{
    unsigned reps = argc > 1 ? (unsigned)atoi(argv[1]) : 93;
    const char *dir = argc > 2 ? argv[2] : "/tmp";
    if (reps == 0)
        reps = 1;
    char journal[1024], page[1024], empty[1024], dom[1024], ttmem[1100], cmd[4096];
    snprintf(journal, sizeof journal, "%s/bench_timeline.ttmem", dir);
    snprintf(page, sizeof page, "%s/bench_timeline.html", dir);
    snprintf(empty, sizeof empty, "%s/bench_timeline_empty.html", dir);
    snprintf(dom, sizeof dom, "%s/bench_timeline.dom", dir);
    /* ttmem is built one directory up from this program (build/bench/ -> build/) */
    char self[1024];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    self[sl > 0 ? sl : 0] = '\0';
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    snprintf(ttmem, sizeof ttmem, "%s/../ttmem", self);

    ttm_bench_machine();
    double t0 = ttm_bench_now_s();
    uint64_t events = make_journal(journal, reps);
    struct stat js;
    stat(journal, &js);
    printf("journal: llama x %u = %llu events, %lld bytes, made in %.1f s\n", reps,
           (unsigned long long)events, (long long)js.st_size, ttm_bench_now_s() - t0);

    snprintf(cmd, sizeof cmd, "'%s' timeline '%s' -o '%s'", ttmem, journal, page);
    t0 = ttm_bench_now_s();
    if (system(cmd) != 0) {
        fprintf(stderr, "bench_timeline: %s failed\n", cmd);
        return 1;
    }
    double gen = ttm_bench_now_s() - t0;
    struct stat ps;
    stat(page, &ps);
    printf("generate  %.2f s  (%.0f ns/event)\n", gen, gen * 1e9 / (double)events);
    printf("html      %lld bytes = %.2f MB, %.3f bytes/event (budget 20 MB)\n",
           (long long)ps.st_size, (double)ps.st_size / 1e6, (double)ps.st_size / (double)events);

    FILE *f = fopen(empty, "w");
    if (f == NULL)
        return 1;
    fputs("<!DOCTYPE html><html><body><canvas id=\"c\" width=\"10\" height=\"10\"></canvas>"
          "<pre id=\"ttm-drawn\"></pre><script>document.getElementById('c').getContext('2d')"
          ".fillRect(0,0,1,1);document.getElementById('ttm-drawn').textContent="
          "JSON.stringify({paint_ms:performance.now()});</script></body></html>\n",
          f);
    fclose(f);
    double pp[ROUNDS], pe[ROUNDS], wp[ROUNDS], we[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        pe[r] = chromium_paint(empty, dom, &we[r]);
        pp[r] = chromium_paint(page, dom, &wp[r]);
        if (pp[r] < 0 || pe[r] < 0) {
            fprintf(stderr, "bench_timeline: chromium did not publish a paint time\n");
            return 1;
        }
    }
    double p = median(pp), e = median(pe), w1 = median(wp), w0 = median(we);
    printf("paint     %.0f ms first paint in Chromium (budget 3000 ms); empty page %.0f ms; "
           "+%.0f ms, ratio %.1f\n",
           p, e, p - e, p / e);
    printf("load      %.2f s whole headless load (Chromium start included); empty page %.2f s\n",
           w1, w0);
    unlink(journal);
    unlink(empty);
    unlink(dom);
    return 0;
}
