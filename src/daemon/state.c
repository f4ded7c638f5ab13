/*
 * state.c — ttmemd's memory across restarts (docs/DAEMON.md, "Restart"): the registry and the
 * process table written to SOCKET.state at a clean stop and, for crashes, as a checkpoint every
 * --checkpoint-interval (TTM_STATE_CHECKPOINT_MS) when something changed; read back at start.
 *
 * The file is the core's serialization (ttm_registry_save), with the daemon's own part — its
 * counters and the process table — in the core's annex, so one header, one length and one
 * checksum cover everything. The loop serializes; a checkpoint's file is written by a thread
 * that touches nothing but its buffer and path (one write at a time, collected by the tick), a
 * clean stop's by the loop itself. It is written atomically (a temporary file in the same directory,
 * fsync, rename, fsync of the directory) with O_NOFOLLOW | O_CLOEXEC and mode 0600, and read
 * with O_NOFOLLOW; it must be a regular file owned by the daemon's user. A file that is damaged,
 * of another version or not ours gets one log line, is renamed to STATE.bad, and the daemon
 * starts empty.
 *
 * At start, every process of the loaded state that no longer runs — no such pid, a zombie, or
 * a pid now held by another process (its start time differs) — is settled as exited: its live
 * buffers are reported leaked_at_exit and reclaimed, as if its exit had been seen. A process
 * that still runs keeps its records and is expected to reattach its ring; until it does, it is
 * checked every second.
 *
 * After a crash the state is older than the rings' tails; when a restored process reattaches,
 * the events of that window that its ring still holds are replayed (ttm__state_replay).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/bytes.h"
#include "common/ring.h"
#include "common/util.h"
#include "daemon/daemon.h"
#include "daemon/log.h"

#define ANNEX_MAGIC 0x434f5250444d5454ull /* "TTMDPROC" little-endian */
#define ANNEX_VERSION 1u
#define ANNEX_HEAD_WORDS 8
#define ANNEX_PROC_WORDS 15
#define STATE_FILE_MAX (4ull << 30) /* bytes: larger is not a state this daemon wrote */
#define TTM_STATE_DUTY 20u            /* checkpoints take at most 1/20 of the loop's time */

/* ---- process identity ------------------------------------------------------------------------ */

/* The start time of pid (clock ticks since boot, /proc/PID/stat field 22), 0 when unknown:
 * tells a process from a later one that got the same pid. */
static uint64_t proc_start_time(uint32_t pid)
{
    char buf[1024];
    const char *start = ttm__proc_stat_field(pid, 22, buf, sizeof buf);
    return start != NULL ? strtoull(start, NULL, 10) : 0;
}

/* ---- the annex: the daemon's counters and process table --------------------------------- */

/* Writes the annex into *out (zeroed). Returns 0 or TTM_ENOMEM (out freed). */
static int annex_build(const ttm_daemon *d, ttm_bytes *out)
{
    ttm_bw w = ttm__bw_over(out);
    ttm__bw_u64(&w, ANNEX_MAGIC);
    ttm__bw_u64(&w, ANNEX_VERSION);
    ttm__bw_u64(&w, d->events);
    ttm__bw_u64(&w, d->events_rejected);
    ttm__bw_u64(&w, d->prior_events);
    ttm__bw_u64(&w, d->dropped);
    ttm__bw_u64(&w, d->classes_seen);
    ttm__bw_u64(&w, d->nprocs);
    for (size_t i = 0; i < d->nprocs; i++) {
        const ttm_dproc *pr = d->procs[i];
        uint8_t name[16] = {0};
        memcpy(name, pr->name, strnlen(pr->name, sizeof pr->name - 1));
        ttm__bw_u64(&w, (uint64_t)pr->pid | (uint64_t)pr->uid << 32);
        ttm__bw_bytes(&w, name, sizeof name);
        ttm__bw_u64(&w, (uint64_t)pr->exited | (uint64_t)pr->reattached << 1);
        ttm__bw_u64(&w, pr->events);
        ttm__bw_u64(&w, pr->rejected);
        ttm__bw_u64(&w, pr->waited);
        ttm__bw_u64(&w, pr->dropped);
        ttm__bw_u64(&w, pr->prior_events);
        ttm__bw_u64(&w, pr->sessions);
        ttm__bw_u64(&w, pr->exited ? 0 : proc_start_time(pr->pid));
        /* the ring it is attached by: where its crash window will begin */
        const ttm_session *rs = NULL;
        for (const ttm_session *se = d->sessions; se != NULL && rs == NULL; se = se->next)
            if (se->pid == pr->pid && se->ring != NULL && !se->broken)
                rs = se;
        bool keep = rs == NULL && pr->restored; /* not reattached since a load: as loaded */
        ttm__bw_u64(&w, rs ? atomic_load_explicit(&rs->ring->tail, memory_order_acquire)
                           : keep ? pr->state_ring_tail : 0);
        ttm__bw_u64(&w, rs ? (uint64_t)rs->ring_ino : keep ? pr->state_ring_ino : 0);
        ttm__bw_u64(&w, 0); /* reserved */
        ttm__bw_u64(&w, 0);
    }
    if (w.err != 0)
        ttm__bytes_free(out);
    return w.err;
}

/* Rebuilds the process table from an annex (the table is empty). Returns 0, or TTM_EPROTO
 * with msg set, or TTM_ENOMEM. Start times go to starts[] (one per entry, in table order). */
static int annex_load(ttm_daemon *d, const uint8_t *a, size_t len, uint64_t **starts, char *msg,
                      size_t msg_len)
{
    *starts = NULL;
    ttm_br r = ttm__br_over(a, len);
    if (len < ANNEX_HEAD_WORDS * 8 || len % 8 != 0 || ttm__br_u64(&r, "magic") != ANNEX_MAGIC ||
        ttm__br_u64(&r, "version") != ANNEX_VERSION) {
        ttm__set_msg(msg, msg_len, "the daemon's part of the state is missing or of another "
                                   "version");
        return TTM_EPROTO;
    }
    uint64_t events = ttm__br_u64(&r, "events"), rejected = ttm__br_u64(&r, "rejected");
    uint64_t prior = ttm__br_u64(&r, "prior"), dropped = ttm__br_u64(&r, "dropped");
    uint64_t seen = ttm__br_u64(&r, "classes"), n = ttm__br_u64(&r, "processes");
    if (n > TTM_DAEMON_MAX_PROCS || n * ANNEX_PROC_WORDS * 8 != len - ANNEX_HEAD_WORDS * 8 ||
        seen > UINT32_MAX) {
        ttm__set_msg(msg, msg_len, "the daemon's process table has a wrong length");
        return TTM_EPROTO;
    }
    d->procs = n ? ttm__calloc(n, sizeof *d->procs) : NULL;
    *starts = ttm__calloc(n ? n : 1, sizeof **starts);
    if ((n && d->procs == NULL) || *starts == NULL)
        goto out_nomem;
    d->procs_cap = n;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t id = ttm__br_u64(&r, "id");
        const uint8_t *name = ttm__br_take(&r, 16, "name");
        uint64_t flags = ttm__br_u64(&r, "flags");
        uint32_t pid = (uint32_t)id;
        if (flags > 3 || pid == 0 || (i > 0 && d->procs[i - 1]->pid >= pid)) {
            ttm__set_msg(msg, msg_len, "process entry %llu is malformed or out of order",
                         (unsigned long long)i);
            return TTM_EPROTO;
        }
        ttm_dproc *pr = ttm__calloc(1, sizeof *pr);
        if (pr == NULL)
            goto out_nomem;
        d->procs[d->nprocs++] = pr;
        pr->pid = pid;
        pr->uid = (uint32_t)(id >> 32);
        memcpy(pr->name, name, sizeof pr->name - 1);
        pr->name[sizeof pr->name - 1] = '\0';
        ttm__proc_name_clean(pr->name);
        pr->exited = flags & 1;
        pr->reattached = (flags >> 1) & 1;
        pr->events = ttm__br_u64(&r, "events");
        pr->rejected = ttm__br_u64(&r, "rejected");
        pr->waited = ttm__br_u64(&r, "waited");
        pr->dropped = ttm__br_u64(&r, "dropped");
        pr->prior_events = ttm__br_u64(&r, "prior");
        pr->sessions = ttm__br_u64(&r, "sessions");
        (*starts)[i] = ttm__br_u64(&r, "start");
        pr->state_ring_tail = ttm__br_u64(&r, "ring tail");
        pr->state_ring_ino = ttm__br_u64(&r, "ring inode");
        (void)ttm__br_take(&r, 2 * 8, "reserved");
        pr->restored = !pr->exited;
        pr->last_ns = ttm__mono_ns();
    }
    d->events = events;
    d->events_rejected = rejected;
    d->prior_events = prior;
    d->dropped = dropped;
    d->classes_seen = (uint32_t)seen;
    return TTM_OK;

out_nomem:
    ttm__set_msg(msg, msg_len, "out of memory loading the process table");
    return TTM_ENOMEM;
}

/* ---- settling ---------------------------------------------------------------------------------- */

/* Settles every process the registry holds as alive that no longer runs. starts (may be NULL)
 * gives the saved start time of each process-table entry. */
static void settle_gone(ttm_daemon *d, const uint64_t *starts)
{
    size_t n = ttm_registry_processes(d->reg, NULL, 0);
    ttm_proc_stats *ps = n ? ttm__calloc(n, sizeof *ps) : NULL;
    if (ps == NULL)
        return;
    n = ttm_registry_processes(d->reg, ps, n);
    for (size_t i = 0; i < n; i++) {
        if (!ps[i].alive)
            continue;
        uint32_t pid = ps[i].pid;
        ttm_dproc *pr = ttm__proc_find(d, pid);
        if (pr != NULL && pr->sessions_open > 0)
            continue;
        uint64_t saved = 0;
        if (starts != NULL && pr != NULL)
            for (size_t k = 0; k < d->nprocs; k++)
                if (d->procs[k] == pr)
                    saved = starts[k];
        /* gone while no daemon ran: its exit is settled as if it had been seen */
        if (ttm__pid_gone(pid))
            (void)ttm__proc_exit_step(d, NULL, pid, SIZE_MAX, "no such process", true);
        else if (starts != NULL && saved != 0 && proc_start_time(pid) != saved)
            (void)ttm__proc_exit_step(d, NULL, pid, SIZE_MAX,
                                      "its pid now belongs to another process", true);
    }
    /* entries of the process table the registry does not hold as alive */
    for (size_t k = 0; k < d->nprocs; k++) {
        ttm_dproc *pr = d->procs[k];
        if (!pr->exited && pr->sessions_open == 0 && ttm__pid_gone(pr->pid)) {
            pr->exited = true;
            pr->restored = false;
        }
    }
    ttm__free(ps);
}

/* ---- files --------------------------------------------------------------------------------- */

static int write_all(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return TTM_EIO;
        p += n;
        len -= (size_t)n;
    }
    return TTM_OK;
}

static void fsync_dir_of(const char *path)
{
    char copy[PATH_MAX];
    snprintf(copy, sizeof copy, "%s", path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/* Writes len bytes atomically to path: path.tmp created exclusively, written, fsynced, renamed
 * over path, the directory fsynced. Touches nothing but its arguments (the checkpoint writer
 * runs it on its own thread). Returns 0, or TTM_EIO with *err_no set. */
static int write_state(const char *path, const uint8_t *buf, size_t len, int *err_no)
{
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    (void)unlink(tmp); /* a leftover of a crash in the middle of a write */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    int err = fd >= 0 ? TTM_OK : TTM_EIO;
    if (err == TTM_OK && (write_all(fd, buf, len) != TTM_OK || fsync(fd) != 0))
        err = TTM_EIO;
    if (fd >= 0 && close(fd) != 0 && err == TTM_OK)
        err = TTM_EIO;
    if (err == TTM_OK && rename(tmp, path) != 0)
        err = TTM_EIO;
    *err_no = errno;
    if (err != TTM_OK) {
        if (fd >= 0)
            (void)unlink(tmp);
        return err;
    }
    fsync_dir_of(path);
    return TTM_OK;
}

/* The checkpoint writer: the loop serializes, this thread writes, so a checkpoint blocks the
 * loop only for the serialization. One write at a time; the loop collects the result. */
struct ttm_state_writer {
    pthread_t thread;
    char path[PATH_MAX];
    uint8_t *buf;
    size_t len;
    uint64_t events, live, t0, serialize_ns, end_ns;
    int err, err_no;
    _Atomic bool done;
};

static void *writer_main(void *arg)
{
    struct ttm_state_writer *w = arg;
    w->err = write_state(w->path, w->buf, w->len, &w->err_no);
    w->end_ns = ttm__mono_ns();
    atomic_store_explicit(&w->done, true, memory_order_release);
    return NULL;
}

/* Counts and logs the outcome of one write. */
static void account(ttm_daemon *d, const char *why, int err, int err_no, size_t len,
                    uint64_t events, uint64_t live, uint64_t ns)
{
    if (err != TTM_OK) {
        d->state_errors++;
        if (d->state_errors == 1 || TTM_LOG_DEBUG <= ttm__log_level)
            TTM_LOG(ERROR, "cannot write the state file %s (%s): %s; the next daemon would start "
                           "without it (counted, logged once)",
                    d->cfg.state_file, why, err == TTM_ENOMEM ? "out of memory" : strerror(err_no));
        return;
    }
    d->state_saves++;
    TTM_LOG(DEBUG, "state written to %s (%s): %llu events, %llu live buffers, %zu bytes in %.1f ms",
            d->cfg.state_file, why, (unsigned long long)events, (unsigned long long)live, len,
            (double)ns / 1e6);
}

/* Waits for the checkpoint writer (if one runs) and accounts for its write. */
static void writer_join(ttm_daemon *d)
{
    struct ttm_state_writer *w = d->state_writer;
    if (w == NULL)
        return;
    pthread_join(w->thread, NULL);
    uint64_t ns = w->end_ns - w->t0;
    account(d, "checkpoint", w->err, w->err_no, w->len, w->events, w->live, ns);
    TTM_LOG(DEBUG, "checkpoint: the loop spent %.1f ms serializing, the writer thread the rest",
            (double)w->serialize_ns / 1e6);
    /* the loop was blocked only while it serialized; space checkpoints by the whole write */
    d->state_save_ns = ns;
    ttm__free(w->buf);
    ttm__free(w);
    d->state_writer = NULL;
}

/* The state in a new buffer. Returns 0 or TTM_ENOMEM. */
static int serialize(const ttm_daemon *d, uint8_t **buf, size_t *len)
{
    ttm_bytes annex = {0};
    int err = annex_build(d, &annex);
    if (err == TTM_OK)
        err = ttm_registry_save(d->reg, annex.data, annex.len, buf, len);
    ttm__bytes_free(&annex);
    return err;
}

int ttm__state_save(ttm_daemon *d, const char *why)
{
    if (d->cfg.state_file[0] == '\0' || d->reg == NULL)
        return TTM_OK;
    writer_join(d); /* a checkpoint still being written finishes first: renames stay in order */
    uint64_t t0 = ttm__mono_ns();
    uint8_t *buf = NULL;
    size_t len = 0;
    int err_no = 0;
    int err = serialize(d, &buf, &len);
    if (err == TTM_OK)
        err = write_state(d->cfg.state_file, buf, len, &err_no);
    ttm__free(buf);
    ttm_totals t;
    ttm_registry_totals(d->reg, &t);
    d->state_save_ns = ttm__mono_ns() - t0;
    account(d, why, err, err_no, len, t.events, t.live_records, d->state_save_ns);
    TTM_LOG(INFO, "state: written %llu times (%llu failed) to %s",
            (unsigned long long)d->state_saves, (unsigned long long)d->state_errors,
            d->cfg.state_file);
    return err;
}

/* A checkpoint: serialized here, written by the writer thread (synchronously when the thread
 * cannot be started). */
static void checkpoint(ttm_daemon *d)
{
    struct ttm_state_writer *w = ttm__calloc(1, sizeof *w);
    if (w == NULL) {
        account(d, "checkpoint", TTM_ENOMEM, 0, 0, 0, 0, 0);
        return;
    }
    w->t0 = ttm__mono_ns();
    int err = serialize(d, &w->buf, &w->len);
    if (err != TTM_OK) {
        account(d, "checkpoint", err, 0, 0, 0, 0, 0);
        ttm__free(w);
        return;
    }
    ttm_totals t;
    ttm_registry_totals(d->reg, &t);
    w->events = t.events;
    w->live = t.live_records;
    w->serialize_ns = ttm__mono_ns() - w->t0;
    snprintf(w->path, sizeof w->path, "%s", d->cfg.state_file);
    d->state_writer = w;
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        writer_main(w); /* no thread: write it now */
        d->state_writer = NULL;
        account(d, "checkpoint", w->err, w->err_no, w->len, w->events, w->live,
                ttm__mono_ns() - w->t0);
        d->state_save_ns = ttm__mono_ns() - w->t0;
        ttm__free(w->buf);
        ttm__free(w);
    }
}

/* Reads the whole file at path into a new buffer. Returns 0, TTM_ENOENT (no file), or an
 * error with msg set. */
static int read_file(const char *path, uint8_t **out, size_t *len, char *msg, size_t msg_len)
{
    *out = NULL;
    /* O_NONBLOCK: a FIFO planted there must not hang the start (it is refused below) */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT)
            return TTM_ENOENT;
        ttm__set_msg(msg, msg_len, "cannot open it: %s", strerror(errno));
        return TTM_EIO;
    }
    struct stat st;
    int err = TTM_OK;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
        ttm__set_msg(msg, msg_len, "not a regular file owned by this user");
        err = TTM_EPERM;
    } else if ((uint64_t)st.st_size > STATE_FILE_MAX) {
        ttm__set_msg(msg, msg_len, "%lld bytes is more than a state can be",
                     (long long)st.st_size);
        err = TTM_EPROTO;
    }
    uint8_t *buf = err == TTM_OK ? ttm__malloc((size_t)st.st_size + 1) : NULL;
    if (err == TTM_OK && buf == NULL) {
        ttm__set_msg(msg, msg_len, "out of memory");
        err = TTM_ENOMEM;
    }
    size_t off = 0;
    while (err == TTM_OK && off < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + off, (size_t)st.st_size - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            ttm__set_msg(msg, msg_len, "cannot read it: %s", n < 0 ? strerror(errno) : "short");
            err = TTM_EIO;
        } else {
            off += (size_t)n;
        }
    }
    close(fd);
    if (err != TTM_OK) {
        ttm__free(buf);
        return err;
    }
    *out = buf;
    *len = off;
    return TTM_OK;
}

int ttm__state_load(ttm_daemon *d)
{
    if (d->cfg.state_file[0] == '\0')
        return TTM_OK;
    uint8_t *buf = NULL;
    size_t len = 0;
    char msg[200] = "";
    int err = read_file(d->cfg.state_file, &buf, &len, msg, sizeof msg);
    if (err == TTM_ENOENT) {
        TTM_LOG(DEBUG, "no state file %s: starting empty", d->cfg.state_file);
        return TTM_OK;
    }
    ttm_registry *reg = NULL;
    const uint8_t *annex = NULL;
    size_t alen = 0;
    uint64_t *starts = NULL;
    if (err == TTM_OK) {
        ttm_registry_config rcfg = {.max_live_per_pid = d->cfg.max_live_per_client};
        err = ttm_registry_load(&reg, &rcfg, buf, len, &annex, &alen, msg, sizeof msg);
    }
    if (err == TTM_OK) {
        err = annex_load(d, annex, alen, &starts, msg, sizeof msg);
        if (err != TTM_OK) {
            ttm__proc_table_free(d);
            d->events = d->events_rejected = d->prior_events = d->dropped = 0;
            d->classes_seen = 0;
        }
    }
    ttm__free(buf);
    if (err != TTM_OK) {
        ttm_registry_close(reg);
        ttm__free(starts);
        char bad[PATH_MAX + 8];
        snprintf(bad, sizeof bad, "%s.bad", d->cfg.state_file);
        bool moved = err != TTM_EPERM && rename(d->cfg.state_file, bad) == 0;
        TTM_LOG(ERROR, "state file %s ignored: %s%s; starting empty", d->cfg.state_file, msg,
                moved ? " (kept as .bad)" : "");
        return TTM_OK; /* the daemon works without it */
    }
    ttm_registry_close(d->reg);
    d->reg = reg;
    if (d->cfg.default_arch != 0)
        ttm_registry_set_default_arch(d->reg, (ttm_arch)d->cfg.default_arch);
    ttm_totals t;
    ttm_registry_totals(d->reg, &t);
    TTM_LOG(INFO, "state loaded from %s: %zu bytes, %llu live buffers, %zu processes",
            d->cfg.state_file, len, (unsigned long long)t.live_records, d->nprocs);
    settle_gone(d, starts);
    ttm__free(starts);
    return TTM_OK;
}

/* A cheap summary of everything that changes the state: a checkpoint is written only when it
 * moved. */
static uint64_t state_signature(const ttm_daemon *d)
{
    ttm_totals t;
    ttm_registry_totals(d->reg, &t);
    uint64_t exited = 0;
    for (size_t i = 0; i < d->nprocs; i++)
        exited += d->procs[i]->exited;
    return t.events ^ (t.class_count[TTM_CLASS_LEAKED_AT_EXIT] << 20) ^ (d->nprocs << 40) ^
           (exited << 52) ^ (d->clients_total << 8);
}

/* The tick: a checkpoint every TTM_STATE_CHECKPOINT_MS when something changed, and the
 * settling of restored processes that exit before they reattach. */
static void state_tick(ttm_loop *l, void *arg, uint64_t ticks)
{
    (void)l;
    (void)ticks;
    ttm_daemon *d = arg;
    if (d->cfg.state_file[0] == '\0')
        return;
    if (d->state_writer != NULL) {
        if (!atomic_load_explicit(&d->state_writer->done, memory_order_acquire))
            return; /* one write at a time */
        writer_join(d);
    }
    uint64_t now = ttm__mono_ns();
    bool restored_waiting = false;
    for (size_t i = 0; i < d->nprocs && !restored_waiting; i++)
        restored_waiting = d->procs[i]->restored && d->procs[i]->sessions_open == 0;
    if (restored_waiting && now - d->state_check_ns >= 1000000000ull) {
        d->state_check_ns = now;
        settle_gone(d, NULL);
    }
    if (d->state_last_ns == 0)
        d->state_last_ns = now; /* the first checkpoint comes one interval after the start */
    /* a write blocks the loop: spacing checkpoints by TTM_STATE_DUTY times the last write's
     * time keeps them under 1/TTM_STATE_DUTY of the loop however large the state grows */
    uint64_t interval = (uint64_t)d->cfg.checkpoint_ms * 1000000u;
    if (interval != 0 && interval < d->state_save_ns * TTM_STATE_DUTY)
        interval = d->state_save_ns * TTM_STATE_DUTY;
    if (d->cfg.checkpoint_ms == 0 || now - d->state_last_ns < interval)
        return;
    d->state_last_ns = now;
    uint64_t sig = state_signature(d);
    if (sig == d->state_sig && d->state_saves > 0)
        return;
    checkpoint(d);
    d->state_sig = sig; /* a failed write is retried when the state changes again */
}

/* ---- the crash window ------------------------------------------------------------------------ */

/* Replays the events of positions [from, tail) from s's ring as long as the ring still holds
 * them whole (at most TTM_STATE_REPLAY_MAX, the newest). Returns how many were applied; *lost
 * gets how many of the window could not be. */
static uint64_t replay(ttm_daemon *d, ttm_session *s, uint64_t from, uint64_t tail,
                       uint64_t *lost)
{
    *lost = tail > from ? tail - from : 0;
    if (s->ring == NULL || tail <= from || s->map_bytes <= sizeof(ttm_ring_hdr))
        return 0;
    /* the mapping was validated for exactly this many slots (map_ring) */
    uint64_t nslots = (s->map_bytes - sizeof(ttm_ring_hdr)) / sizeof(ttm_event);
    uint64_t start = from;
    if (tail - start > nslots) /* older ones were overwritten for certain */
        start = tail - nslots;
    if (tail - start > TTM_STATE_REPLAY_MAX)
        start = tail - TTM_STATE_REPLAY_MAX;
    const ttm_event *slots = ttm__ring_slots(s->ring);
    uint64_t replayed = 0;
    bool gap = start != from;
    for (uint64_t p = start; p < tail;) {
        size_t n = tail - p < TTM_DAEMON_BATCH ? (size_t)(tail - p) : TTM_DAEMON_BATCH;
        for (size_t i = 0; i < n; i++)
            memcpy(&d->batch[i], (const void *)&slots[(p + i) & (nslots - 1)], sizeof d->batch[i]);
        /* A producer rewrites slot q & (nslots - 1) only after reserving position q + nslots
         * (head > q + nslots): what head says after the copy tells which copies were whole. */
        atomic_thread_fence(memory_order_acquire);
        uint64_t head = atomic_load_explicit(&s->ring->head, memory_order_seq_cst);
        size_t ok = 0;
        while (ok < n && p + ok + nslots >= head && d->batch[ok].seq == (uint32_t)(p + ok + 1))
            ok++;
        if (ok == 0 && replayed == 0 && !gap && p + nslots < head) {
            /* the oldest part is gone: skip it, replay what follows */
            uint64_t first = head - nslots;
            p = first > p ? first : p + 1;
            gap = true;
            continue;
        }
        size_t kept = 0;
        for (size_t i = 0; i < ok; i++) {
            if (d->batch[i].kind == TTM_EV_PROC_START || d->batch[i].kind == TTM_EV_PROC_EXIT) {
                d->events_rejected++;
                s->pc.proc->rejected++;
                continue;
            }
            d->batch[kept++] = d->batch[i];
        }
        ttm__session_side_rewrite(d, s, d->batch, kept); /* client ids -> the registry's */
        ttm_registry_apply_batch(d->reg, s->pid, d->batch, kept, d->masks);
        ttm__journal_events(d, s->pid, d->batch, d->masks, kept);
        d->events += ok;
        s->pc.proc->events += ok;
        replayed += ok;
        p += ok;
        if (ok < n)
            break; /* overwritten under us: the rest cannot be trusted */
    }
    *lost = tail - from - replayed;
    return replayed;
}

uint64_t ttm__state_reattach(ttm_daemon *d, ttm_session *s, uint64_t tail)
{
    ttm_dproc *p = s->pc.proc;
    if (!p->restored)
        return tail; /* everything before tail went to a daemon this registry knows nothing of */
    /* what the state holds of this ring: its tail at the checkpoint when it is the same ring
     * (the memfd's inode), else all the process's events */
    uint64_t known = p->state_ring_tail != 0 && p->state_ring_ino == (uint64_t)s->ring_ino
                         ? p->state_ring_tail
                         : p->events + p->prior_events;
    if (tail <= known)
        return 0;
    uint64_t lost = 0, replayed = replay(d, s, known, tail, &lost);
    TTM_LOG(WARN, "pid %u (%s): of the %llu events the previous daemon consumed after its last "
                  "checkpoint, %llu were replayed from the ring and %llu are missing from the "
                  "reloaded state",
            s->pid, p->name, (unsigned long long)(tail - known), (unsigned long long)replayed,
            (unsigned long long)lost);
    return lost;
}

void ttm__state_register(ttm_daemon *d)
{
    ttm__loop_on_tick(d->loop, &d->state_tick, state_tick, d);
}
