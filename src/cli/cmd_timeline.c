/*
 * cmd_timeline.c — `ttmem timeline FILE... [-o run.html] [--title T]`: the journals replayed
 * (core/replay.h) into one self-contained HTML page of memory over time (timeline.h,
 * docs/TIMELINE.md). The replay observer is the page's only source: its usage callback the
 * series, its buffer lives the live set and the hover, its events the markers.
 *
 * Passes over the journals: one whole replay; per run, one replay to the run's peak record
 * (the buffers live at it, exactly); and, only when more lives ended than the page keeps and
 * some live at a peak were not kept, one more whole replay to complete those.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/sites.h"
#include "cli/timeline.h"
#include "common/alloc.h"
#include "core/replay.h"
#include "core/report.h"
#include "ttmem/ttmem.h"

#define SITE_FRAMES 4u /* frames of an allocation stack the page shows */

typedef struct tl_opts {
    const char *out;
    const char *title;
    ttm_timeline_opts model;
} tl_opts;

static int usage_error(void)
{
    return ttm_cli_fail("timeline: usage: ttmem timeline FILE... [-o run.html] [--title TEXT]");
}

/* FILE with its .ttmem (or any extension) replaced by .html, into a new string. */
static char *default_output(const char *file)
{
    const char *slash = strrchr(file, '/');
    const char *dot = strrchr(slash ? slash + 1 : file, '.');
    size_t stem = dot && dot != (slash ? slash + 1 : file) ? (size_t)(dot - file) : strlen(file);
    char *out = ttm__xmalloc(stem + sizeof ".html");
    memcpy(out, file, stem);
    memcpy(out + stem, ".html", sizeof ".html");
    return out;
}

/* Names the stacks and scopes of run through a report of the run's registry: its call-site
 * table read as the report reads it (ttm_report_resolve), native frames symbolized as every
 * command does (ttm_cli_symbolize), each frame written as the text report writes it. */
static void name_sites(ttm_timeline *t, ttm_replay *rp, size_t run, ttm_sym *sym)
{
    size_t nst = ttm_timeline_stacks(t, NULL, NULL, 0), nsc = ttm_timeline_scopes(t, NULL, NULL, 0);
    size_t *sruns = ttm__xcalloc(nst + nsc + 1, sizeof *sruns);
    uint32_t *ids = ttm__xcalloc(nst + nsc + 1, sizeof *ids);
    size_t nrs = 0, nrc = 0;
    ttm_timeline_stacks(t, sruns, ids, nst);
    for (size_t i = 0; i < nst; i++)
        if (sruns[i] == run)
            ids[nrs++] = ids[i];
    uint32_t *scopes = ids + nst;
    ttm_timeline_scopes(t, sruns + nst, scopes, nsc);
    for (size_t i = 0; i < nsc; i++)
        if (sruns[nst + i] == run)
            scopes[nrc++] = scopes[i];
    ttm_registry *reg = ttm_replay_registry(rp, run);
    ttm_report r = {0};
    if (reg != NULL && ttm_cli_name_ids(reg, ids, nrs, scopes, nrc, sym, &r) == TTM_OK) {
        for (size_t i = 0; i < r.nstacks; i++) {
            const ttm_report_stack *st = &r.stacks[i];
            char text[4096] = "", frame[1024];
            size_t o = 0;
            for (size_t f = 0; f < st->nframes && f < SITE_FRAMES && o < sizeof text; f++) {
                ttm_cli_frame_text(&r, &st->frames[f], frame, sizeof frame);
                int w = snprintf(text + o, sizeof text - o, "%s%s", f ? "\n" : "", frame);
                o += w > 0 ? (size_t)w : 0;
            }
            ttm_timeline_name_stack(t, run, st->id, text);
        }
        for (size_t i = 0; i < r.nbreakdown; i++)
            ttm_timeline_name_scope(t, run, r.breakdown[i].name,
                                    ttm_cli_string(&r, r.breakdown[i].name));
    }
    ttm_report_clear(&r);
    ttm__free(sruns);
    ttm__free(ids);
}

/* Names the sites of every run (after a whole replay: the registries hold every id). */
static void name_all(ttm_timeline *t, ttm_replay *rp)
{
    ttm_sym *sym = NULL;
    if (ttm_sym_open(&sym) != TTM_OK)
        sym = NULL; /* frames stay module+offset */
    for (size_t run = 0; run < ttm_replay_runs(rp); run++)
        name_sites(t, rp, run, sym);
    ttm_sym_close(sym);
}

/* Replays the journals into t: the whole run, names, the live set at each run's peak. Returns
 * 0 or an exit status after printing the error. */
static int replay_into(ttm_timeline *t, ttm_replay *rp)
{
    ttm_replay_observer obs;
    ttm_timeline_observer(t, &obs);
    int err = ttm_replay_run(rp, &obs, UINT64_MAX);
    if (err != TTM_OK)
        return ttm_cli_fail("timeline: replay failed: %s", ttm_strerror(err)), 1;
    size_t runs = ttm_replay_runs(rp);
    for (size_t run = 0; run < runs; run++)
        ttm_timeline_set_run(t, run, ttm_replay_host(rp, run), ttm_replay_title(rp, run));
    name_all(t, rp); /* before a partial replay replaces the registries */
    char line[512] = "";
    ttm_replay_summary(rp, line, sizeof line);
    ttm_timeline_set_damage(t, line);
    for (size_t run = 0; run < runs; run++) {
        uint64_t ts, bytes, rec;
        if (ttm_replay_peak(rp, run, TTM_REPLAY_ANY_DEVICE, TTM_MEM_ANY, &ts, &bytes, &rec) !=
            TTM_OK)
            continue;
        ttm_timeline_set_peak(t, run, ts, bytes);
        ttm_timeline_peak_observer(t, run, &obs);
        if ((err = ttm_replay_run_to(rp, &obs, run, rec)) != TTM_OK)
            return ttm_cli_fail("timeline: replay to the peak failed: %s", ttm_strerror(err)), 1;
    }
    if (ttm_timeline_peak_missing(t)) {
        ttm_timeline_fill_observer(t, &obs);
        if ((err = ttm_replay_run(rp, &obs, UINT64_MAX)) != TTM_OK)
            return ttm_cli_fail("timeline: replay failed: %s", ttm_strerror(err)), 1;
        name_all(t, rp); /* the lives it added */
    }
    return 0;
}

/* The page's title: --title, else the first run's title, else the first file's name. */
static const char *page_title(const tl_opts *o, ttm_replay *rp, const char *file)
{
    if (o->title != NULL)
        return o->title;
    const char *t = ttm_replay_runs(rp) > 0 ? ttm_replay_title(rp, 0) : "";
    return t != NULL && t[0] != '\0' ? t : file;
}

static int write_page(ttm_timeline *t, const char *path)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return ttm_cli_fail("timeline: output path too long: %s", path), 2;
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return ttm_cli_fail("timeline: cannot create %s: %s", tmp, strerror(errno)), 1;
    ttm_timeline_stats st;
    int err = ttm_timeline_write(t, f, &st);
    int saved = errno;
    if (fclose(f) != 0 && err == TTM_OK) {
        err = TTM_EIO;
        saved = errno;
    }
    if (err != TTM_OK) {
        remove(tmp);
        return ttm_cli_fail("timeline: cannot write %s: %s", path,
                            err == TTM_EIO ? strerror(saved) : ttm_strerror(err)),
               1;
    }
    if (rename(tmp, path) != 0) {
        saved = errno;
        remove(tmp);
        return ttm_cli_fail("timeline: cannot write %s: %s", path, strerror(saved)), 1;
    }
    fprintf(stderr,
            "ttmem: timeline: %s: %zu devices, %zu series (%zu exact, the others to %llu ns), "
            "%llu of %llu buffers, %llu of %llu markers, %llu bytes\n",
            path, st.lanes, st.series, st.series_exact, (unsigned long long)st.finest_ns,
            (unsigned long long)st.buffers_kept,
            (unsigned long long)st.buffers, (unsigned long long)st.markers_kept,
            (unsigned long long)st.markers, (unsigned long long)st.html_bytes);
    return 0;
}

static int parse(int argc, char **argv, tl_opts *o)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'}, {"title", required_argument, NULL, 't'},
        {"max-bytes", required_argument, NULL, 'B'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': o->out = optarg; break;
        case 't': o->title = optarg; break;
        case 'B':
            if (ttm_cli_parse_u64(optarg, &o->model.html_bytes) != TTM_OK ||
                o->model.html_bytes < 65536)
                return ttm_cli_fail("timeline: --max-bytes '%s' must be a number of at least "
                                    "65536",
                                    optarg);
            break;
        case 'h':
            printf("usage: ttmem timeline FILE... [-o run.html] [--title TEXT] "
                   "[--max-bytes N]\n");
            return -1;
        default: return ttm_cli_bad_option("timeline", argv);
        }
    }
    if (optind >= argc)
        return usage_error();
    return 0;
}

int ttm_cli_timeline(int argc, char **argv)
{
    tl_opts o = {0};
    int rc = parse(argc, argv, &o);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    const char *const *files = (const char *const *)argv + optind;
    size_t nfiles = (size_t)(argc - optind);
    char msg[512] = "";
    ttm_replay *rp = NULL;
    int err = ttm_replay_open(&rp, files, nfiles, msg, sizeof msg);
    if (err != TTM_OK)
        return ttm_cli_fail("timeline: %s", msg[0] ? msg : ttm_strerror(err)), 1;
    ttm_timeline *t = NULL;
    if (ttm_timeline_open(&t, &o.model) != TTM_OK) {
        ttm_replay_close(rp);
        return ttm_cli_fail("timeline: out of memory"), 1;
    }
    char *out = o.out ? NULL : default_output(files[0]);
    rc = replay_into(t, rp);
    if (rc == 0) {
        ttm_timeline_set_title(t, page_title(&o, rp, files[0]));
        char line[512] = "";
        ttm_replay_summary(rp, line, sizeof line);
        if (line[0] != '\0')
            fprintf(stderr, "ttmem: %s\n", line);
        rc = write_page(t, o.out ? o.out : out);
    }
    ttm__free(out);
    ttm_timeline_close(t);
    ttm_replay_close(rp);
    return rc;
}
