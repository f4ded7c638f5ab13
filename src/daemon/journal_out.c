/*
 * journal_out.c — ttmemd's run journal (--journal): every mutation of the registry, in the
 * order the daemon made it, written through a ttm_jtap (core/jtap.h) so that a replay
 * (core/replay.h) reaches the same state and the same report.
 *
 * Who calls what: the appliers (session.c's batches and process starts, poc.c and
 * poc_xlate.c's legacy events, main.c's device announcements, state.c's reattach replay) call
 * ttm__journal_events after they applied; proc.c writes the exits (one record when an exit
 * completes) and forgets; session.c and poc.c the process names and command lines (those the
 * process table read when the process connected); query.c hands over each full
 * report it answers (a DAEMON chunk, reason 1); main.c opens it after the state was loaded and
 * closes it at a clean stop (a DAEMON chunk, reason 2).
 *
 * Two shapes (docs/DAEMON.md, "The journal"): a directory gets the files of one run,
 * ttmem-HOST-RUNID-SEQ.ttmem, rotated at --journal-file-bytes (a rotated file begins with
 * CONFIG, RUN and STATE, so it stands alone) and the oldest deleted while the run's files
 * exceed --journal-max-bytes; a path ending in .ttmem is one file capped at
 * --journal-max-bytes. A full file, a full disk or an I/O error stops the journal with one log
 * line; the file stays readable to its last complete block and the daemon goes on. Compression
 * runs on the writer's own thread (journal.h, threads = 1), so the daemon's thread only
 * encodes records.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/bytes.h"
#include "common/clock.h"
#include "common/hash.h"
#include "common/journal.h"
#include "common/snapshot.h"
#include "common/util.h"
#include "core/jtap.h"
#include "daemon/daemon.h"
#include "daemon/log.h"

#define DAEMON_REASON_REPORT 1u /* the daemon answered a full report: the snapshot it sent */
#define DAEMON_REASON_CLOSE 2u  /* the file closes: a clean stop or a rotation */
#define JOURNAL_BLOCK_MAX (1u << 20)

/* The sections of a snapshot a DAEMON chunk carries: the daemon's own records, the processes'
 * command lines among them (a reader that does not know PROCINFO skips it). */
#define DAEMON_SECTIONS                                                                          \
    (TTM_SNAP_BIT(TTM_SNAP_SEC_DAEMON) | TTM_SNAP_BIT(TTM_SNAP_SEC_PROCS) |                    \
     TTM_SNAP_BIT(TTM_SNAP_SEC_LEGACY) | TTM_SNAP_BIT(TTM_SNAP_SEC_SERVICE) |                  \
     TTM_SNAP_BIT(TTM_SNAP_SEC_PROCINFO))

/* A closed file of this run still on disk (directory mode), oldest first. */
typedef struct jout_file {
    uint32_t seq;
    uint64_t bytes;
} jout_file;

typedef struct ttm_jout {
    ttm_jtap tap;
    ttm_journal_writer *w;
    bool single;              /* one file (no rotation), capped */
    char path[PATH_MAX];      /* the file being written */
    char host[TTM_JOURNAL_HOST_MAX];
    uint64_t run_id;
    uint32_t seq;
    uint64_t base;            /* the file's bytes after its opening chunks (CONFIG, RUN, STATE):
                                 rotation counts the records after them */
    jout_file *old;           /* directory mode: the run's closed files kept */
    size_t nold, oldcap;
    uint64_t old_bytes;       /* their bytes together */
    ttm_bytes chunk;          /* scratch for DAEMON chunks */
} ttm_jout;

int ttm__journal_parse_size(const char *s, uint64_t *out)
{
    char *end = NULL;
    if (s == NULL || *s < '0' || *s > '9')
        return TTM_EINVAL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    unsigned shift = 0;
    if (*end == 'K' || *end == 'k')
        shift = 10;
    else if (*end == 'M' || *end == 'm')
        shift = 20;
    else if (*end == 'G' || *end == 'g')
        shift = 30;
    if (shift != 0)
        end++;
    if (errno != 0 || *end != '\0' || v == 0 || v > (UINT64_MAX >> 1) >> shift)
        return TTM_EINVAL;
    *out = (uint64_t)v << shift;
    return TTM_OK;
}

/* ---- files ----------------------------------------------------------------------------------- */

static void file_name(const ttm_daemon *d, const ttm_jout *j, uint32_t seq, char *buf,
                      size_t len)
{
    int n = j->single ? snprintf(buf, len, "%s", d->cfg.journal_path)
                      : snprintf(buf, len, "%.3900s/ttmem-%.63s-%016" PRIx64 "-%06" PRIu32 ".ttmem",
                                 d->cfg.journal_path, j->host, j->run_id, seq);
    (void)n; /* main.c leaves room for the name after the directory (64 bytes, host 63) */
}

/* Opens file seq of the run and starts tapping the registry into it (CONFIG, RUN, and STATE
 * when the registry is not empty). Returns 0, or an error with one line in msg. */
static int file_open(ttm_daemon *d, ttm_jout *j, uint32_t seq, char *msg, size_t msg_len)
{
    uint64_t cap = j->single ? d->cfg.journal_max_bytes : d->cfg.journal_file_bytes;
    ttm_journal_opts o = {.block_size = cap / 4 < JOURNAL_BLOCK_MAX ? (size_t)(cap / 4)
                                                                    : JOURNAL_BLOCK_MAX,
                          .size_cap = j->single ? cap : 0,
                          .host = j->host,
                          .run_id = j->run_id,
                          .seq = seq,
                          .threads = 1};
    file_name(d, j, seq, j->path, sizeof j->path);
    int err = ttm_journal_writer_open(j->path, -1, &o, &j->w);
    if (err != TTM_OK) {
        ttm__set_msg(msg, msg_len, "cannot create the journal %s: %s", j->path,
                     err == TTM_EIO ? strerror(errno) : ttm_strerror(err));
        j->w = NULL;
        return err;
    }
    j->seq = seq;
    ttm_registry_config rcfg = {.max_live_per_pid = d->cfg.max_live_per_client};
    err = ttm_jtap_open_run(&j->tap, d->reg, j->w, &rcfg, d->cfg.default_arch,
                            d->cfg.journal_title);
    if (err != TTM_OK) {
        ttm__set_msg(msg, msg_len, "cannot begin the journal %s: %s", j->path,
                     ttm_strerror(err));
        (void)ttm_jtap_close(&j->tap);
        (void)ttm_journal_writer_close(j->w);
        j->w = NULL;
        return err;
    }
    (void)ttm_journal_writer_flush(j->w); /* an error stays sticky: the first write sees it */
    j->base = ttm_journal_writer_bytes(j->w);
    return TTM_OK;
}

/* The DAEMON chunk of reason with r's daemon sections (r NULL: a snapshot made now). */
static void write_daemon_chunk(ttm_daemon *d, ttm_jout *j, uint32_t reason, const ttm_report *r)
{
    ttm_report now;
    if (r == NULL) {
        ttm_snap_query q = {.sections = DAEMON_SECTIONS};
        if (ttm__daemon_snapshot(d, &q, &now) != TTM_OK)
            return; /* out of memory: the replay takes an earlier chunk */
        r = &now;
    }
    /* A shallow copy with only the daemon's sections, and STACKS emptied of everything but
     * what the wire packs there for them: the side log counters of the daemon and of each
     * process (ttm_report_packed), which a report shows. */
    ttm_report part = *r;
    part.sections = (r->sections & DAEMON_SECTIONS) | TTM_SNAP_BIT(TTM_SNAP_SEC_STACKS);
    part.nleaks = part.nlive = 0;
    part.nleak_groups = part.nlive_sites = part.nphases = part.nbreakdown = 0;
    part.nstrings = part.nmodules = part.nstacks = 0;
    memset(&part.stack_stats, 0, sizeof part.stack_stats);
    for (unsigned c = 0; c < TTM_CLASS__COUNT; c++)
        part.classes[c].noffenders = 0;
    j->chunk.len = 0;
    ttm_bw bw = ttm__bw_over(&j->chunk);
    ttm__bw_u32(&bw, reason);
    int err = bw.err == TTM_OK ? ttm_report_encode(&part, &j->chunk) : bw.err;
    if (r == &now)
        ttm_report_clear(&now);
    if (err == TTM_OK)
        (void)ttm_jtap_chunk(&j->tap, TTM_JOURNAL_CHUNK_DAEMON, part.daemon.now_ns,
                             j->chunk.data, j->chunk.len);
}

/* Ends the file being written: the DAEMON chunk (when the tap still writes), the last block.
 * Returns the first error of the tap or the close. */
static int file_close(ttm_daemon *d, ttm_jout *j)
{
    if (j->w == NULL)
        return TTM_OK;
    if (ttm_jtap_error(&j->tap) == TTM_OK)
        write_daemon_chunk(d, j, DAEMON_REASON_CLOSE, NULL);
    int err = ttm_jtap_close(&j->tap);
    int cerr = ttm_journal_writer_close(j->w);
    j->w = NULL;
    return err != TTM_OK ? err : cerr;
}

/* ---- stopping on errors ---------------------------------------------------------------------- */

static void journal_free(ttm_daemon *d)
{
    ttm_jout *j = d->journal;
    d->journal = NULL;
    ttm__free(j->old);
    ttm__bytes_free(&j->chunk);
    ttm__free(j);
}

/* The journal failed (err: TTM_ELIMIT at the single file's cap, else the writer's I/O error
 * with its errno): one line, the file closed where it is, no journaling from now on. */
static void journal_fail(ttm_daemon *d, int err)
{
    ttm_jout *j = d->journal;
    uint64_t bytes = ttm_journal_writer_bytes(j->w);
    int sys = ttm_journal_writer_errno(j->w);
    if (err == TTM_ELIMIT) {
        char when[64] = "?";
        time_t t = time(NULL);
        struct tm tm;
        if (gmtime_r(&t, &tm) != NULL)
            strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
        TTM_LOG(WARN, "journal %s full at %llu bytes (--journal-max-bytes %llu): events after "
                      "%s are not journaled; the daemon goes on",
                j->path, (unsigned long long)bytes,
                (unsigned long long)d->cfg.journal_max_bytes, when);
    } else {
        TTM_LOG(ERROR, "journal %s: %s (errno %d) at %llu bytes: journaling stopped, the file "
                       "is readable up to its last complete block; the daemon goes on",
                j->path, sys != 0 ? strerror(sys) : ttm_strerror(err), sys,
                (unsigned long long)bytes);
    }
    (void)ttm_jtap_close(&j->tap);
    (void)ttm_journal_writer_close(j->w); /* the error is sticky: nothing more is written */
    j->w = NULL;
    journal_free(d);
}

/* ---- rotation (directory mode) --------------------------------------------------------------- */

/* Deletes the run's oldest closed files while the run's files exceed --journal-max-bytes. */
static void prune(ttm_daemon *d, ttm_jout *j)
{
    uint64_t current = ttm_journal_writer_bytes(j->w);
    size_t gone = 0;
    while (gone < j->nold && j->old_bytes + current > d->cfg.journal_max_bytes) {
        char path[PATH_MAX];
        file_name(d, j, j->old[gone].seq, path, sizeof path);
        if (unlink(path) != 0 && errno != ENOENT)
            TTM_LOG(WARN, "journal: cannot delete %s: %s", path, strerror(errno));
        else
            TTM_LOG(INFO, "journal: deleted %s (the run's files exceed --journal-max-bytes "
                          "%llu)",
                    path, (unsigned long long)d->cfg.journal_max_bytes);
        j->old_bytes -= j->old[gone].bytes;
        gone++;
    }
    memmove(j->old, j->old + gone, (j->nold - gone) * sizeof j->old[0]);
    j->nold -= gone;
}

/* The file reached --journal-file-bytes: closed, the next one of the run opened. */
static void rotate(ttm_daemon *d)
{
    ttm_jout *j = d->journal;
    int err = file_close(d, j);
    if (err != TTM_OK) {
        TTM_LOG(ERROR, "journal %s: %s when closing it for rotation: journaling stopped",
                j->path, ttm_strerror(err));
        journal_free(d);
        return;
    }
    struct stat st;
    jout_file f = {.seq = j->seq, .bytes = stat(j->path, &st) == 0 ? (uint64_t)st.st_size : 0};
    jout_file *grown = ttm__grow(j->old, &j->oldcap, j->nold, sizeof *grown, 16);
    if (grown != NULL) {
        j->old = grown;
        j->old[j->nold++] = f;
        j->old_bytes += f.bytes;
    }
    char why[PATH_MAX + 100];
    if (file_open(d, j, j->seq + 1, why, sizeof why) != TTM_OK) {
        TTM_LOG(ERROR, "journal: %s: journaling stopped", why);
        journal_free(d);
        return;
    }
    TTM_LOG(DEBUG, "journal: rotated to %s", j->path);
    prune(d, j);
}

/* After records were written: stops the journal on an error, rotates a full file. */
static void after_write(ttm_daemon *d)
{
    ttm_jout *j = d->journal;
    int err = ttm_jtap_error(&j->tap);
    if (err != TTM_OK)
        journal_fail(d, err);
    else if (!j->single && ttm_journal_writer_bytes(j->w) - j->base >= d->cfg.journal_file_bytes)
        rotate(d);
}

/* ---- the entry points -------------------------------------------------------------------------- */

int ttm__journal_open(ttm_daemon *d, char *msg, size_t msg_len)
{
    if (d->cfg.journal_path[0] == '\0')
        return TTM_OK;
    ttm_jout *j = ttm__calloc(1, sizeof *j);
    if (j == NULL) {
        ttm__set_msg(msg, msg_len, "cannot start the journal: out of memory");
        return TTM_ENOMEM;
    }
    j->single = ttm_journal_is_file_name(d->cfg.journal_path);
    if (gethostname(j->host, sizeof j->host - 1) != 0 || j->host[0] == '\0')
        snprintf(j->host, sizeof j->host, "%s", "unknown");
    for (char *c = j->host; *c; c++) /* a file name: no slash */
        if (*c == '/')
            *c = '_';
    while (j->run_id == 0) {
        uint64_t seed = ttm__mono_ns() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL);
        j->run_id = ttm__mix64_nz(seed);
    }
    if (!j->single && mkdir(d->cfg.journal_path, 0750) != 0 && errno != EEXIST) {
        ttm__set_msg(msg, msg_len, "cannot create the journal directory %s: %s",
                     d->cfg.journal_path, strerror(errno));
        ttm__free(j);
        return TTM_EIO;
    }
    struct stat st;
    if (!j->single && (stat(d->cfg.journal_path, &st) != 0 || !S_ISDIR(st.st_mode))) {
        ttm__set_msg(msg, msg_len, "--journal %s is not a directory (a single journal file "
                                   "must end in .ttmem)",
                     d->cfg.journal_path);
        ttm__free(j);
        return TTM_EINVAL;
    }
    d->journal = j;
    int err = file_open(d, j, 0, msg, msg_len);
    if (err != TTM_OK) {
        journal_free(d);
        return err;
    }
    TTM_LOG(INFO, "journal: writing %s%s", j->path,
            j->single ? "" : " (rotated at --journal-file-bytes)");
    return TTM_OK;
}

void ttm__journal_events(ttm_daemon *d, uint32_t pid, const ttm_event *ev,
                         const uint32_t *masks, size_t n)
{
    if (d->journal == NULL || n == 0)
        return;
    (void)ttm_jtap_events(&d->journal->tap, pid, ev, masks, n);
    after_write(d);
}

void ttm__journal_proc(ttm_daemon *d, uint8_t state, uint32_t pid, uint64_t ts)
{
    if (d->journal == NULL)
        return;
    const ttm_dproc *p = ttm__proc_find(d, pid);
    ttm_journal_proc r = {.state = state, .pid = pid, .status = -1, .ts = ts,
                          .name = p != NULL ? p->name : ""};
    if (state == TTM_JOURNAL_PROC_START && p != NULL && p->cmdline != NULL) {
        r.cmdline = p->cmdline; /* as the process table read it when the process connected */
        r.cmdline_len = p->cmdline_len;
    }
    (void)ttm_jtap_proc(&d->journal->tap, &r);
    after_write(d);
}

void ttm__journal_report(ttm_daemon *d, const ttm_report *r)
{
    if (d->journal == NULL)
        return;
    write_daemon_chunk(d, d->journal, DAEMON_REASON_REPORT, r);
    after_write(d);
}

void ttm__journal_close(ttm_daemon *d)
{
    if (d->journal == NULL)
        return;
    ttm_jout *j = d->journal;
    int err = file_close(d, j);
    if (err == TTM_ELIMIT || err == TTM_EIO) {
        TTM_LOG(ERROR, "journal %s: %s when closing it: the file is readable up to its last "
                       "complete block",
                j->path, ttm_strerror(err));
    } else {
        TTM_LOG(INFO, "journal: closed %s", j->path);
    }
    journal_free(d);
}
