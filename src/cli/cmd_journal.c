/*
 * cmd_journal.c — `ttmem journal [--json] FILE...`: what run journals hold, read record by
 * record without replaying them: the file header, the blocks, records by kind, events by class
 * (the class masks the daemon gave them), chunks by kind and size, the time span, and the
 * damage the reader skipped (docs/JOURNAL.md, "Looking inside a journal: ttmem journal").
 *
 * Nothing is fed to a registry: this is the reader's view (common/journal.h), so it works on
 * any journal, a damaged or cut one included, in memory bounded by one block.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/cli.h"
#include "common/event.h"
#include "common/fmt.h"
#include "common/journal.h"
#include "common/json.h"
#include "core/registry.h"

#define MASK_BITS 32     /* a class mask is a u32 */
#define CHUNK_KINDS 7    /* kinds 1..6 by name, [0] for any other */
#define DAMAGE_KEPT 10   /* damaged regions listed (all are counted) */
#define RUN_TITLE_MAX 256

static const char *const chunk_names[CHUNK_KINDS] = {
    [0] = "other",
    [TTM_JOURNAL_CHUNK_STACKS] = "STACKS",
    [TTM_JOURNAL_CHUNK_DAEMON] = "DAEMON",
    [TTM_JOURNAL_CHUNK_STATE] = "STATE",
    [TTM_JOURNAL_CHUNK_CONFIG] = "CONFIG",
    [TTM_JOURNAL_CHUNK_RUN] = "RUN",
    [TTM_JOURNAL_CHUNK_MADE] = "MADE",
};

static const char *const proc_states[3] = {"start", "exit", "forget"};

typedef struct span {
    uint64_t first, last;
    bool any;
} span;

/* What one file holds, counted as the reader delivers it. */
typedef struct inventory {
    uint64_t events, allocs, frees, unclassified;
    uint64_t classes[MASK_BITS]; /* events with each mask bit set */
    uint64_t devices, marks, chunks;
    uint64_t procs[3]; /* by TTM_JOURNAL_PROC_* state; other states are refused by the reader */
    uint64_t chunk_count[CHUNK_KINDS], chunk_bytes[CHUNK_KINDS];
    span ev_time, rec_time; /* ALLOC/FREE records; every record */
    char run[RUN_TITLE_MAX]; /* the last RUN chunk's text */
    bool has_run;
    ttm_journal_made made; /* the last MADE chunk: how the recorded command ran */
    bool has_made, bad_made; /* bad: a MADE chunk that does not decode */
    size_t ndamage;
    uint64_t damage_off[DAMAGE_KEPT];
    const char *damage_what[DAMAGE_KEPT]; /* the reader's static strings */
} inventory;

static void span_add(span *s, uint64_t ts)
{
    if (!s->any || ts < s->first)
        s->first = ts;
    if (!s->any || ts > s->last)
        s->last = ts;
    s->any = true;
}

static int on_event(void *ctx, const ttm_journal_event *e)
{
    inventory *inv = ctx;
    inv->events++;
    inv->allocs += e->kind == TTM_EV_ALLOC;
    inv->frees += e->kind == TTM_EV_FREE;
    inv->unclassified += e->classes == 0;
    for (uint32_t m = e->classes, b = 0; m != 0; m >>= 1, b++)
        inv->classes[b] += m & 1;
    span_add(&inv->ev_time, e->ts);
    span_add(&inv->rec_time, e->ts);
    return 0;
}

static int on_device(void *ctx, const ttm_journal_device *d)
{
    inventory *inv = ctx;
    inv->devices++;
    span_add(&inv->rec_time, d->ts);
    return 0;
}

static int on_proc(void *ctx, const ttm_journal_proc *p)
{
    inventory *inv = ctx;
    if (p->state < 3)
        inv->procs[p->state]++;
    span_add(&inv->rec_time, p->ts);
    return 0;
}

static int on_mark(void *ctx, const ttm_journal_mark *m)
{
    inventory *inv = ctx;
    inv->marks++;
    span_add(&inv->rec_time, m->ts);
    return 0;
}

static int on_chunk(void *ctx, const ttm_journal_chunk *c)
{
    inventory *inv = ctx;
    unsigned k = c->kind < CHUNK_KINDS ? c->kind : 0;
    inv->chunks++;
    inv->chunk_count[k]++;
    inv->chunk_bytes[k] += c->len;
    if (c->kind == TTM_JOURNAL_CHUNK_RUN) {
        size_t n = c->len < sizeof inv->run - 1 ? c->len : sizeof inv->run - 1;
        memcpy(inv->run, c->data, n);
        inv->run[n] = '\0';
        inv->has_run = true;
    }
    if (c->kind == TTM_JOURNAL_CHUNK_MADE) {
        ttm_journal_made m;
        if (ttm_journal_made_decode(c->data, c->len, &m) == TTM_OK) {
            ttm_journal_made_clear(&inv->made);
            inv->made = m;
            inv->has_made = true;
        } else {
            inv->bad_made = true;
        }
    }
    span_add(&inv->rec_time, c->ts);
    return 0;
}

static void on_damage(void *ctx, uint64_t off, const char *what)
{
    inventory *inv = ctx;
    if (inv->ndamage < DAMAGE_KEPT) {
        inv->damage_off[inv->ndamage] = off;
        inv->damage_what[inv->ndamage] = what;
    }
    inv->ndamage++;
}

/* Reads one file whole into *inv; *out gets the reader (NULL when the file could not be
 * opened). Returns 0, or prints one line and returns 1: not opened, or a read error (then what
 * was read before it stays in *inv and is shown). */
static int inspect(const char *path, ttm_journal_reader **out, inventory *inv)
{
    memset(inv, 0, sizeof *inv);
    int err = ttm_journal_reader_open(path, -1, out);
    if (err != TTM_OK) {
        *out = NULL;
        const char *why = err == TTM_EPROTO     ? "not a journal (its header does not check)"
                          : err == TTM_EVERSION ? "a journal of another format version"
                                                : ttm_strerror(err);
        ttm_cli_fail("journal: cannot read '%s': %s", path, why);
        return 1;
    }
    ttm_journal_sink sink = {.ctx = inv,        .event = on_event, .device = on_device,
                             .proc = on_proc,   .mark = on_mark,   .chunk = on_chunk,
                             .damage = on_damage};
    err = ttm_journal_read_all(*out, &sink);
    if (err != TTM_OK) {
        ttm_cli_fail("journal: error reading '%s': %s; what was read before is shown", path,
                     ttm_strerror(err));
        return 1;
    }
    return 0;
}

static uint64_t file_bytes(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* The header's creation time as UTC, "2026-12-04T14:38:00Z". */
static void format_created(char *buf, size_t n, uint64_t ns)
{
    time_t s = (time_t)(ns / 1000000000u);
    struct tm tm;
    if (gmtime_r(&s, &tm) == NULL || strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, n, "%" PRIu64 " ns", ns);
}

static const char *class_name_of(unsigned bit, char *buf, size_t n)
{
    if (bit < TTM_CLASS__COUNT)
        return ttm_class_name(bit);
    snprintf(buf, n, "bit%u", bit);
    return buf;
}

/* ---- text ------------------------------------------------------------------------------ */

static void text_header(FILE *out, const char *path, const ttm_journal_header *h,
                        const inventory *inv)
{
    char created[64];
    format_created(created, sizeof created, h->created_ns);
    fprintf(out, "Journal     %s: format %" PRIu32 ", host %s, created %s, run %016" PRIx64
                 ", file %" PRIu32 " of its run\n",
            path, h->version, h->host[0] ? h->host : "(none)", created, h->run_id, h->seq);
    if (inv->has_run)
        fprintf(out, "Run         %s\n", inv->run);
    if (inv->has_made)
        ttm_render_text_recorded(out, &inv->made);
    else if (inv->bad_made)
        fputs("Recorded    (a MADE chunk that does not decode)\n", out);
}

static void text_counts(FILE *out, const char *path, const ttm_journal_stats *st,
                        const inventory *inv)
{
    char a[TTM_FMT_LEN], b[TTM_FMT_LEN], c[TTM_FMT_LEN], d[TTM_FMT_LEN], e[TTM_FMT_LEN],
        f[TTM_FMT_LEN];
    fprintf(out, "Blocks      %s read, %s damaged, %s bytes skipped%s; %s bytes in the file\n",
            ttm__fmt_count(a, st->blocks), ttm__fmt_count(b, st->bad_blocks),
            ttm__fmt_count(c, st->skipped_bytes), st->truncated ? ", cut inside a block" : "",
            ttm__fmt_count(d, file_bytes(path)));
    fprintf(out, "Records     %s: %s events (%s ALLOC, %s FREE), %s devices, ",
            ttm__fmt_count(a, st->records), ttm__fmt_count(b, inv->events),
            ttm__fmt_count(c, inv->allocs), ttm__fmt_count(d, inv->frees),
            ttm__fmt_count(e, inv->devices));
    fprintf(out, "%s process records (%s start, %s exit, %s forget), ",
            ttm__fmt_count(a, inv->procs[0] + inv->procs[1] + inv->procs[2]),
            ttm__fmt_count(b, inv->procs[0]), ttm__fmt_count(c, inv->procs[1]),
            ttm__fmt_count(d, inv->procs[2]));
    fprintf(out, "%s marks, %s chunks\n", ttm__fmt_count(e, inv->marks),
            ttm__fmt_count(f, inv->chunks));
}

static void text_classes(FILE *out, const inventory *inv)
{
    char n[TTM_FMT_LEN], name[16];
    const char *sep = " ";
    fprintf(out, "Classes    ");
    for (unsigned b = 0; b < MASK_BITS; b++)
        if (inv->classes[b] > 0) {
            fprintf(out, "%s%s %s", sep, class_name_of(b, name, sizeof name),
                    ttm__fmt_count(n, inv->classes[b]));
            sep = ", ";
        }
    if (inv->unclassified > 0)
        fprintf(out, "%sno class %s", sep, ttm__fmt_count(n, inv->unclassified));
    fprintf(out, "%s\n", inv->events == 0 ? " no events" : "");
}

static void text_chunks(FILE *out, const inventory *inv)
{
    char n[TTM_FMT_LEN], sz[TTM_FMT_LEN];
    const char *sep = " ";
    fprintf(out, "Chunks     ");
    for (unsigned k = 1; k <= CHUNK_KINDS; k++) {
        unsigned i = k % CHUNK_KINDS; /* the named kinds, then the others */
        if (inv->chunk_count[i] > 0) {
            fprintf(out, "%s%s %s (%s)", sep, chunk_names[i],
                    ttm__fmt_count(n, inv->chunk_count[i]),
                    ttm__fmt_bytes(sz, inv->chunk_bytes[i]));
            sep = ", ";
        }
    }
    fprintf(out, "%s\n", inv->chunks == 0 ? " none" : "");
}

static void text_time(FILE *out, const inventory *inv)
{
    if (!inv->rec_time.any) {
        fprintf(out, "Time        no records\n");
        return;
    }
    fprintf(out, "Time        records %" PRIu64 " .. %" PRIu64 " ns", inv->rec_time.first,
            inv->rec_time.last);
    char n[TTM_FMT_LEN];
    if (inv->ev_time.any)
        fprintf(out, "; events %" PRIu64 " .. %" PRIu64 " ns (a span of %s ns)",
                inv->ev_time.first, inv->ev_time.last,
                ttm__fmt_count(n, inv->ev_time.last - inv->ev_time.first));
    fputc('\n', out);
}

static void text_damage(FILE *out, const ttm_journal_reader *r, const inventory *inv)
{
    char line[256];
    ttm_journal_reader_summary(r, line, sizeof line);
    fprintf(out, "Damage      %s\n", line[0] ? line : "none");
    for (size_t i = 0; i < inv->ndamage && i < DAMAGE_KEPT; i++)
        fprintf(out, "            damaged at byte %" PRIu64 ": %s\n", inv->damage_off[i],
                inv->damage_what[i]);
    if (inv->ndamage > DAMAGE_KEPT)
        fprintf(out, "            ... %zu more damaged regions\n", inv->ndamage - DAMAGE_KEPT);
}

static void print_text(FILE *out, const char *path, const ttm_journal_reader *r,
                       const inventory *inv)
{
    text_header(out, path, ttm_journal_reader_header(r), inv);
    text_counts(out, path, ttm_journal_reader_stats(r), inv);
    text_classes(out, inv);
    text_chunks(out, inv);
    text_time(out, inv);
    text_damage(out, r, inv);
}

/* ---- JSON ------------------------------------------------------------------------------ */

static void json_span(ttm_json *j, const char *key, const span *s)
{
    if (!s->any) {
        ttm__json_str(j, key, NULL);
        return;
    }
    ttm__json_obj_begin(j, key);
    ttm__json_u64(j, "first_ts", s->first);
    ttm__json_u64(j, "last_ts", s->last);
    ttm__json_obj_end(j);
}

static void json_header(ttm_json *j, const ttm_journal_header *h)
{
    char created[64], run[24];
    format_created(created, sizeof created, h->created_ns);
    snprintf(run, sizeof run, "%016" PRIx64, h->run_id);
    ttm__json_obj_begin(j, "header");
    ttm__json_u64(j, "version", h->version);
    ttm__json_str(j, "host", h->host);
    ttm__json_u64(j, "created_ns", h->created_ns);
    ttm__json_str(j, "created", created);
    ttm__json_str(j, "run_id", run);
    ttm__json_u64(j, "seq", h->seq);
    ttm__json_obj_end(j);
}

static void json_records(ttm_json *j, const ttm_journal_stats *st, const inventory *inv)
{
    ttm__json_obj_begin(j, "records");
    ttm__json_u64(j, "total", st->records);
    ttm__json_u64(j, "events", inv->events);
    ttm__json_u64(j, "alloc", inv->allocs);
    ttm__json_u64(j, "free", inv->frees);
    ttm__json_u64(j, "devices", inv->devices);
    ttm__json_obj_begin(j, "procs");
    for (unsigned s = 0; s < 3; s++)
        ttm__json_u64(j, proc_states[s], inv->procs[s]);
    ttm__json_obj_end(j);
    ttm__json_u64(j, "marks", inv->marks);
    ttm__json_u64(j, "chunks", inv->chunks);
    ttm__json_obj_end(j);
    char name[16];
    ttm__json_obj_begin(j, "classes");
    for (unsigned b = 0; b < MASK_BITS; b++)
        if (inv->classes[b] > 0)
            ttm__json_u64(j, class_name_of(b, name, sizeof name), inv->classes[b]);
    ttm__json_obj_end(j);
    ttm__json_u64(j, "unclassified_events", inv->unclassified);
    ttm__json_arr_begin(j, "chunks");
    for (unsigned k = 1; k <= CHUNK_KINDS; k++) {
        unsigned i = k % CHUNK_KINDS;
        if (inv->chunk_count[i] == 0)
            continue;
        ttm__json_obj_begin(j, NULL);
        ttm__json_str(j, "kind", chunk_names[i]);
        ttm__json_u64(j, "count", inv->chunk_count[i]);
        ttm__json_u64(j, "bytes", inv->chunk_bytes[i]);
        ttm__json_obj_end(j);
    }
    ttm__json_arr_end(j);
}

static void json_damage(ttm_json *j, const ttm_journal_reader *r, const ttm_journal_stats *st,
                        const inventory *inv)
{
    char line[256];
    ttm_journal_reader_summary(r, line, sizeof line);
    ttm__json_obj_begin(j, "damage");
    ttm__json_str(j, "summary", line);
    ttm__json_u64(j, "bad_blocks", st->bad_blocks);
    ttm__json_u64(j, "skipped_bytes", st->skipped_bytes);
    ttm__json_bool(j, "truncated", st->truncated);
    ttm__json_arr_begin(j, "regions");
    for (size_t i = 0; i < inv->ndamage && i < DAMAGE_KEPT; i++) {
        ttm__json_obj_begin(j, NULL);
        ttm__json_u64(j, "offset", inv->damage_off[i]);
        ttm__json_str(j, "what", inv->damage_what[i]);
        ttm__json_obj_end(j);
    }
    ttm__json_arr_end(j);
    ttm__json_u64(j, "regions_total", inv->ndamage);
    ttm__json_obj_end(j);
}

static void print_json(ttm_json *j, const char *path, const ttm_journal_reader *r,
                       const inventory *inv)
{
    const ttm_journal_stats *st = ttm_journal_reader_stats(r);
    ttm__json_obj_begin(j, NULL);
    ttm__json_str(j, "path", path);
    ttm__json_u64(j, "bytes", file_bytes(path));
    json_header(j, ttm_journal_reader_header(r));
    ttm__json_str(j, "run", inv->has_run ? inv->run : NULL);
    ttm_render_json_recorded(j, inv->has_made ? &inv->made : NULL);
    ttm__json_u64(j, "blocks", st->blocks);
    json_records(j, st, inv);
    json_span(j, "records_time", &inv->rec_time);
    json_span(j, "events_time", &inv->ev_time);
    json_damage(j, r, st, inv);
    ttm__json_obj_end(j);
}

int ttm_cli_journal(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool json = false;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'j':
            json = true;
            break;
        case 'h':
            printf("usage: ttmem journal [--json] FILE...\n"
                   "  what each run journal holds, without replaying it: header, blocks, "
                   "records by kind, events by class, chunks, time span, damage\n");
            return 0;
        default:
            return ttm_cli_bad_option("journal", argv);
        }
    }
    if (optind == argc)
        return ttm_cli_fail("journal: name the journal files to inspect (ttmem journal FILE...)");

    ttm_json j;
    if (json) {
        ttm__json_init(&j, stdout, true);
        ttm__json_obj_begin(&j, NULL);
        ttm__json_str(&j, "schema", "ttmem.journal");
        ttm__json_u64(&j, "schema_version", 1);
        ttm__json_arr_begin(&j, "files");
    }
    int rc = 0;
    for (int i = optind; i < argc; i++) {
        ttm_journal_reader *r = NULL;
        inventory inv;
        rc |= inspect(argv[i], &r, &inv);
        if (r == NULL)
            continue;
        if (json)
            print_json(&j, argv[i], r, &inv);
        else {
            print_text(stdout, argv[i], r, &inv);
            if (i + 1 < argc)
                fputc('\n', stdout);
        }
        ttm_journal_made_clear(&inv.made);
        ttm_journal_reader_close(r);
    }
    if (json) {
        ttm__json_arr_end(&j);
        ttm__json_obj_end(&j);
        ttm__json_finish(&j);
    }
    return rc;
}
