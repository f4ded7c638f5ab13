/*
 * cmd_analyze_log.c — `ttmem analyze-log [--json] [--top N] FILE...`: rebuilds the event stream
 * from the allocation-server prototype's logs (plain or .gz, or standard input) and renders the
 * core's report on it.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#ifdef TTM_HAVE_ZLIB
#include <zlib.h>
#endif

#include "cli/cli.h"
#include "common/alloc.h"
#include "common/fmt.h"
#include "common/poclog.h"

#define CHUNK (1u << 20)

typedef struct log_input {
#ifdef TTM_HAVE_ZLIB
    gzFile gz;
#else
    FILE *f;
#endif
    const char *name;
} log_input;

static int input_open(log_input *in, const char *path)
{
    bool std_in = strcmp(path, "-") == 0;
    in->name = std_in ? "standard input" : path;
#ifdef TTM_HAVE_ZLIB
    /* gzread passes uncompressed input through unchanged */
    in->gz = std_in ? gzdopen(0, "rb") : gzopen(path, "rb");
    if (in->gz == NULL)
        return -1;
    gzbuffer(in->gz, CHUNK);
#else
    in->f = std_in ? stdin : fopen(path, "rb");
    if (in->f == NULL)
        return -1;
#endif
    return 0;
}

/* Reads up to n bytes; returns the count, 0 at the end, -1 on error (errno or zlib message in
 * *why). */
static long input_read(log_input *in, char *buf, size_t n, const char **why)
{
#ifdef TTM_HAVE_ZLIB
    int got = gzread(in->gz, buf, (unsigned)n);
    if (got < 0) {
        int zerr = 0;
        const char *msg = gzerror(in->gz, &zerr);
        *why = zerr == Z_ERRNO ? strerror(errno) : msg;
        return -1;
    }
    return got;
#else
    size_t got = fread(buf, 1, n, in->f);
    if (got == 0 && ferror(in->f)) {
        *why = strerror(errno);
        return -1;
    }
    return (long)got;
#endif
}

static void input_close(log_input *in)
{
#ifdef TTM_HAVE_ZLIB
    if (in->gz != NULL)
        gzclose(in->gz);
    in->gz = NULL;
#else
    if (in->f != NULL && in->f != stdin)
        fclose(in->f);
    in->f = NULL;
#endif
}

static void feed_line(ttm_registry *reg, ttm_poclog_stats *st, const char *line, size_t len)
{
    if (len > 0 && line[len - 1] == '\r')
        len--;
    uint32_t pid;
    ttm_event ev;
    if (ttm__poclog_parse_line(line, len, st, &pid, &ev) == TTM_POCLOG_EVENT)
        ttm_registry_apply(reg, pid, &ev);
}

/* Feeds every line of one input to the registry. Returns 0 or prints one line and returns 1. */
static int analyze_input(const char *path, ttm_registry *reg, ttm_poclog_stats *st, char *buf)
{
    log_input in = {0};
    if (input_open(&in, path) != 0) {
        ttm_cli_fail("analyze-log: cannot open '%s': %s", path, strerror(errno ? errno : ENOENT));
        return 1;
    }
    size_t have = 0; /* bytes of an unfinished line at the start of buf */
    int rc = 0;
    for (;;) {
        const char *why = NULL;
        long got = input_read(&in, buf + have, CHUNK - have, &why);
        if (got < 0) {
            ttm_cli_fail("analyze-log: error reading '%s': %s", in.name, why);
            rc = 1;
            break;
        }
        if (got == 0) {
            if (have > 0) /* a last line without a newline, perhaps cut off */
                feed_line(reg, st, buf, have);
            break;
        }
        size_t n = have + (size_t)got;
        const char *p = buf, *end = buf + n;
        for (;;) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            if (nl == NULL)
                break;
            feed_line(reg, st, p, (size_t)(nl - p));
            p = nl + 1;
        }
        have = (size_t)(end - p);
        if (have == CHUNK) { /* a line longer than the buffer: take it as it is */
            feed_line(reg, st, buf, have);
            have = 0;
        } else {
            memmove(buf, p, have);
        }
    }
    input_close(&in);
    return rc;
}

static void print_parse_summary(FILE *out, const ttm_poclog_stats *st, int nfiles)
{
    /* one buffer per number: they are all read when fprintf runs */
    char a[TTM_FMT_LEN], b[TTM_FMT_LEN], c[TTM_FMT_LEN], d[TTM_FMT_LEN], e[TTM_FMT_LEN],
        f[TTM_FMT_LEN], g[TTM_FMT_LEN];
    fprintf(out, "Log         %s lines in %d input%s: %s events (%s allocated, %s freed, %s "
                 "unknown-buffer lines), %s other lines skipped, %s unparseable\n",
            ttm__fmt_count(a, st->lines), nfiles, nfiles == 1 ? "" : "s",
            ttm__fmt_count(b, st->events), ttm__fmt_count(c, st->allocs),
            ttm__fmt_count(d, st->frees), ttm__fmt_count(e, st->unknown_lines),
            ttm__fmt_count(f, st->skipped), ttm__fmt_count(g, st->bad));
    for (size_t i = 0; i < st->nkept; i++)
        fprintf(out, "            unparseable line %llu: %s\n",
                (unsigned long long)st->kept_lineno[i], st->kept[i]);
}

int ttm_cli_analyze_log(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"top", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool json = false;
    ttm_report_options ropt = {0};
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'j':
            json = true;
            break;
        case 't':
            if (ttm_cli_parse_top("analyze-log", optarg, &ropt.top) != 0)
                return 2;
            break;
        case 'h':
            printf("usage: ttmem analyze-log [--json] [--top N] [FILE...]   (- or none: standard "
                   "input; .gz files are read as they are)\n");
            return 0;
        default:
            return ttm_cli_bad_option("analyze-log", argv);
        }
    }

    ttm_registry *reg = NULL;
    int err = ttm_registry_open(&reg, NULL);
    if (err != TTM_OK)
        return ttm_cli_fail("analyze-log: cannot create the registry: %s", ttm_strerror(err)), 1;
    char *buf = ttm__xmalloc(CHUNK);
    ttm_poclog_stats st;
    memset(&st, 0, sizeof st);
    int rc = 0, nfiles = 0;
    char *stdin_only[] = {"-"};
    char **files = optind < argc ? argv + optind : stdin_only;
    int count = optind < argc ? argc - optind : 1;
    for (int i = 0; i < count; i++) {
        nfiles++;
        if (analyze_input(files[i], reg, &st, buf) != 0)
            rc = 1;
    }
    ttm__free(buf);

    ttm_report *r = NULL;
    if (rc == 0 && (err = ttm_report_build(reg, &ropt, &r)) != TTM_OK) {
        ttm_cli_fail("analyze-log: cannot build the report: %s", ttm_strerror(err));
        rc = 1;
    }
    if (rc == 0) {
        char title[256];
        snprintf(title, sizeof title, "analyze-log %s%s", files[0], count > 1 ? " ..." : "");
        if (json) {
            ttm_render_json(stdout, r, title);
            print_parse_summary(stderr, &st, nfiles);
        } else {
            printf("ttmem report: %s\n\n", title);
            print_parse_summary(stdout, &st, nfiles);
            ttm_render_text(stdout, r, NULL);
        }
    }
    ttm_report_free(r);
    ttm_registry_close(reg);
    return rc;
}
