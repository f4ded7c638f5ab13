/*
 * journal_check.c — what a run journal holds, as one JSON document per file on stdout, for the
 * shell tests of ttmemd's journal (tests/cli/journal_daemon.sh): read with the journal reader
 * only (no registry, no replay), so the tests compare the daemon's journal against the report
 * it printed from an independent reading.
 *
 *   journal_check FILE...
 *   journal_check --events FILE   one line per event: kind device memtype addr size
 *
 * Per file: the header (host, run_id, seq), the kinds of the first records (CONFIG, RUN,
 * STATE, ...), the RUN title, events by class (an event counts once in each class of its
 * mask), process records by state, the DAEMON chunks' reasons and the last one's
 * daemon.events, and the reader's stats and summary line. Exit status 1 when a file cannot be
 * opened (one line on stderr).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/bytes.h"
#include "common/journal.h"
#include "common/snapshot.h"
#include "core/registry.h"
#include "core/report.h"
#include "ttmem/ttmem.h"

#define FIRST_MAX 6

typedef struct seen {
    uint64_t events, devices, marks, procs[3];
    uint64_t classes[TTM_CLASS__COUNT];
    uint64_t first_ts, last_ts;
    const char *first[FIRST_MAX];
    size_t nfirst;
    char title[512];
    uint32_t reasons[64];
    size_t nreasons;
    int64_t last_daemon_events; /* -1: no DAEMON chunk decoded */
} seen;

static void note(seen *s, const char *what, uint64_t ts)
{
    if (s->nfirst < FIRST_MAX)
        s->first[s->nfirst++] = what;
    if (s->first_ts == 0 || ts < s->first_ts)
        s->first_ts = ts;
    if (ts > s->last_ts)
        s->last_ts = ts;
}

static bool list_events; /* --events */

static int on_event(void *ctx, const ttm_journal_event *e)
{
    seen *s = ctx;
    if (list_events) {
        printf("%u %u %u 0x%" PRIx64 " %" PRIu64 "\n", e->kind, e->device, e->memtype, e->addr,
               e->size);
        return 0;
    }
    note(s, "EVENT", e->ts);
    s->events++;
    for (unsigned c = 0; c < TTM_CLASS__COUNT; c++)
        if (e->classes & TTM_CLASS_BIT(c))
            s->classes[c]++;
    return 0;
}

static int on_device(void *ctx, const ttm_journal_device *d)
{
    seen *s = ctx;
    note(s, "DEVICE", d->ts);
    s->devices++;
    return 0;
}

static int on_proc(void *ctx, const ttm_journal_proc *p)
{
    seen *s = ctx;
    note(s, "PROC", p->ts);
    s->procs[p->state]++;
    return 0;
}

static int on_mark(void *ctx, const ttm_journal_mark *m)
{
    seen *s = ctx;
    note(s, "MARK", m->ts);
    s->marks++;
    return 0;
}

/* The events the DAEMON chunk's daemon section counts (-1 when it does not decode). */
static int64_t daemon_events(const uint8_t *p, size_t len)
{
    ttm_snap_frame fr;
    if (len < TTM_SNAP_HDR_SIZE || ttm__snap_decode_frame(p, len, &fr, NULL, 0) != TTM_OK ||
        fr.length != len - TTM_SNAP_HDR_SIZE)
        return -1;
    ttm_report r;
    if (ttm_report_decode(p + TTM_SNAP_HDR_SIZE, fr.length, &r, NULL, 0) != TTM_OK)
        return -1;
    int64_t n = (int64_t)r.daemon.events;
    ttm_report_clear(&r);
    return n;
}

static int on_chunk(void *ctx, const ttm_journal_chunk *c)
{
    seen *s = ctx;
    static const char *names[] = {"?", "STACKS", "DAEMON", "STATE", "CONFIG", "RUN"};
    note(s, c->kind < 6 ? names[c->kind] : "?", c->ts);
    if (c->kind == TTM_JOURNAL_CHUNK_RUN)
        snprintf(s->title, sizeof s->title, "%.*s", (int)c->len, (const char *)c->data);
    if (c->kind == TTM_JOURNAL_CHUNK_DAEMON && c->len >= 4) {
        if (s->nreasons < 64)
            s->reasons[s->nreasons++] = ttm__le32(c->data);
        s->last_daemon_events = daemon_events(c->data + 4, c->len - 4);
    }
    return 0;
}

/* s as a JSON string (the title: printable ASCII in the tests; others escaped). */
static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static int check_file(const char *path, bool comma)
{
    ttm_journal_reader *r = NULL;
    int err = ttm_journal_reader_open(path, -1, &r);
    if (err != TTM_OK) {
        fprintf(stderr, "journal_check: %s: %s\n", path, ttm_strerror(err));
        return 1;
    }
    seen s = {.last_daemon_events = -1};
    ttm_journal_sink sink = {.ctx = &s, .event = on_event, .device = on_device,
                             .proc = on_proc, .mark = on_mark, .chunk = on_chunk};
    err = ttm_journal_read_all(r, &sink);
    const ttm_journal_header *h = ttm_journal_reader_header(r);
    const ttm_journal_stats *st = ttm_journal_reader_stats(r);
    char summary[256];
    ttm_journal_reader_summary(r, summary, sizeof summary);
    printf("%s{\"path\": ", comma ? ",\n" : "");
    json_str(path);
    printf(", \"host\": ");
    json_str(h->host);
    printf(", \"run_id\": \"%016" PRIx64 "\", \"seq\": %" PRIu32 ", \"read_error\": %d,\n",
           h->run_id, h->seq, err);
    printf(" \"first\": [");
    for (size_t i = 0; i < s.nfirst; i++)
        printf("%s\"%s\"", i ? ", " : "", s.first[i]);
    printf("], \"title\": ");
    json_str(s.title);
    printf(",\n \"events\": %" PRIu64 ", \"devices\": %" PRIu64 ", \"marks\": %" PRIu64
           ", \"proc_start\": %" PRIu64 ", \"proc_exit\": %" PRIu64 ", \"proc_forget\": %" PRIu64
           ",\n \"classes\": {",
           s.events, s.devices, s.marks, s.procs[0], s.procs[1], s.procs[2]);
    for (unsigned c = 0; c < TTM_CLASS__COUNT; c++)
        printf("%s\"%s\": %" PRIu64, c ? ", " : "", ttm_class_name(c), s.classes[c]);
    printf("},\n \"daemon_reasons\": [");
    for (size_t i = 0; i < s.nreasons; i++)
        printf("%s%" PRIu32, i ? ", " : "", s.reasons[i]);
    printf("], \"last_daemon_events\": %" PRId64 ",\n", s.last_daemon_events);
    printf(" \"blocks\": %" PRIu64 ", \"records\": %" PRIu64 ", \"bad_blocks\": %" PRIu64
           ", \"skipped_bytes\": %" PRIu64 ", \"truncated\": %s, \"summary\": ",
           st->blocks, st->records, st->bad_blocks, st->skipped_bytes,
           st->truncated ? "true" : "false");
    json_str(summary);
    printf(", \"first_ts\": %" PRIu64 ", \"last_ts\": %" PRIu64 "}", s.first_ts, s.last_ts);
    ttm_journal_reader_close(r);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs("usage: journal_check [--events] FILE...\n", stderr);
        return 2;
    }
    if (strcmp(argv[1], "--events") == 0) {
        list_events = true;
        ttm_journal_reader *r = NULL;
        if (argc != 3 || ttm_journal_reader_open(argv[2], -1, &r) != TTM_OK)
            return fputs("journal_check: --events takes one readable journal\n", stderr), 1;
        seen s = {0};
        ttm_journal_sink sink = {.ctx = &s, .event = on_event};
        int err = ttm_journal_read_all(r, &sink);
        ttm_journal_reader_close(r);
        return err == TTM_OK ? 0 : 1;
    }
    int rc = 0, printed = 0;
    printf("[");
    for (int i = 1; i < argc; i++) {
        int one = check_file(argv[i], printed > 0);
        printed += one == 0;
        rc |= one;
    }
    printf("]\n");
    return rc;
}
