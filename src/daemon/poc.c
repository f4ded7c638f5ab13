/*
 * poc.c — ttmemd's legacy listener: the connections and framing of the allocation-server
 * prototype's socket protocol (docs/COMPAT.md), so that TT-Metal builds instrumented for the
 * prototype, its demo client, its Python client and its monitors work unchanged against
 * ttmemd. What a message means is poc_xlate.c's.
 *
 * Every connection is a non-blocking socket in the daemon's loop with an input buffer
 * (messages arrive in pieces) and an output buffer (replies leave in pieces). The message size
 * (72, 112 or 144 bytes) is detected per connection from the stream (ttm__poc_detect_size), or
 * forced by --poc-size. The process a connection speaks for is the one the kernel names
 * (SO_PEERCRED), attached in the process table (proc.h).
 *
 * Nothing a peer sends is trusted: a header that is not plausible (type 1..12, zero pads, a
 * device id from -1 to 65535) is a bad message, the stream is resynchronised by skipping one
 * byte at a time to the next plausible header, and a connection with 10 bad messages in a row
 * is closed with one log line. Other connections never notice.
 *
 * Processes: the prototype's client keeps one connection for its process's life. When a
 * connection closes, the process table settles the process's exit if it is gone and nothing
 * else holds it; if it still runs, its buffers stay until the once-a-second check finds it gone
 * (or a new connection of it takes over).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/fmt.h"
#include "common/poc.h"
#include "daemon/daemon.h"
#include "daemon/log.h"
#include "daemon/poc_xlate.h"

#define POC_IN_CAP 16384         /* bytes of a connection's input held at once */
#define POC_OUT_CAP 16384        /* replies waiting; beyond, the connection is not read */
#define POC_READ_BUDGET 262144   /* bytes read from one connection per wake-up */
#define POC_BAD_LIMIT 10         /* bad messages in a row that close a connection */

typedef struct poc_conn {
    ttm_watch w;              /* w.events: the epoll events registered */
    ttm_loop_dead dead_node;  /* freed after the epoll batch that closed it */
    struct poc_conn *prev, *next;
    int fd;                   /* -1 when closed */
    uint32_t pid, uid;
    ttm_pconn pc;             /* its connection in the process table (pc.proc: its entry) */
    uint32_t size;            /* message size; 0 until detected */
    uint32_t bad_in_row;
    uint64_t skipping;        /* bytes skipped in the current resynchronisation; 0 = in sync */
    uint64_t messages, bad, resyncs;
    uint64_t last_rx_ns;
    bool idle;                /* no bytes for a tick: a lone message may be decided by size */
    bool eof;                 /* the peer shut its side; replies still go out */
    bool stalled;             /* input waits for room in the output buffer */
    bool dead;                /* closed; freed after the current epoll batch */
    size_t inlen;
    size_t outpos, outlen;
    uint8_t in[POC_IN_CAP];
    uint8_t out[POC_OUT_CAP];
} poc_conn;

typedef struct ttm_poc ttm_poc;

struct ttm_poc {
    ttm_report_part part; /* the legacy section of every snapshot */
    int listen_fd;            /* -1 when not listening */
    ttm_watch listen_w;
    ttm_loop_hook tick;
    poc_conn *conns;
    uint32_t nconns;
    /* counters (docs/COMPAT.md) */
    uint64_t connections, refused, closed_bad, bad, resyncs, skipped_bytes, truncated;
    uint64_t messages[TTM_POC_TYPE_MAX + 1];
    bool refused_logged;
    ttm_poc_xlate x;          /* translation's counters and log lines (poc_xlate.c) */
};

/* Every log line of this file: the translation's per-event lines gathered so far go out
 * first, so the daemon's output keeps the order in which things happened. */
#define POC_LOG(d, level, ...)                                                                   \
    do {                                                                                         \
        ttm__poc_log_flush(&(d)->poc->x);                                                        \
        TTM_LOG(level, __VA_ARGS__);                                                             \
    } while (0)

/* ---- connections ----------------------------------------------------------------------------- */

static void conn_close(ttm_daemon *d, poc_conn *c, bool settle, const char *why)
{
    ttm_poc *P = d->poc;
    if (c->dead)
        return;
    ttm__poc_log_flush(&P->x);
    ttm__loop_del(d->loop, &c->w);
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        P->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    P->nconns--;
    c->dead = true;
    c->prev = c->next = NULL;
    ttm__loop_defer(d->loop, &c->dead_node, ttm__free, c);
    ttm__proc_detach(d, &c->pc);
    POC_LOG(d, DEBUG, "legacy client pid %u: connection closed (%s): %llu messages, %llu bad, "
                      "%llu resynchronisations",
            c->pid, why, (unsigned long long)c->messages, (unsigned long long)c->bad,
            (unsigned long long)c->resyncs);
    if (settle) /* the process has exited when it is gone and nothing else holds it */
        ttm__proc_released(d, c->pid, "legacy connection closed", true);
}

/* Sets the epoll interest the connection's state calls for. */
static void conn_interest(ttm_daemon *d, poc_conn *c)
{
    if (c->dead)
        return;
    uint32_t want = 0;
    bool out_pending = c->outpos < c->outlen;
    if (!c->eof && !c->stalled && c->inlen < POC_IN_CAP)
        want |= EPOLLIN | EPOLLRDHUP;
    if (out_pending)
        want |= EPOLLOUT;
    if (want != c->w.events)
        (void)ttm__loop_mod(d->loop, &c->w, want);
}

/* Writes what the output buffer holds. Returns false when the connection broke (closed). */
static bool conn_flush(ttm_daemon *d, poc_conn *c)
{
    while (c->outpos < c->outlen) {
        ssize_t n = send(c->fd, c->out + c->outpos, c->outlen - c->outpos,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            c->outpos += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return true;
        conn_close(d, c, true, "the peer stopped reading its replies");
        return false;
    }
    c->outpos = c->outlen = 0;
    return true;
}

/* Room for one more reply of the connection's size. */
static bool out_room(poc_conn *c)
{
    if (c->outpos > 0 && c->outlen + c->size > POC_OUT_CAP) {
        memmove(c->out, c->out + c->outpos, c->outlen - c->outpos);
        c->outlen -= c->outpos;
        c->outpos = 0;
    }
    return c->outlen + c->size <= POC_OUT_CAP;
}

/* ---- messages -------------------------------------------------------------------------------- */

/* Handles one plausible message of c->size bytes: counted, translated (poc_xlate.c), and its
 * reply, if any, queued (out_room() was checked). Only the prefix is decoded: the header was
 * checked (ttm__poc_header_plausible) and no request means anything past it. */
static void handle(ttm_daemon *d, poc_conn *c, const uint8_t *buf)
{
    ttm_poc *P = d->poc;
    ttm_poc_msg m, r;
    ttm__poc_decode_prefix(buf, &m);
    P->messages[m.type]++;
    c->messages++;
    if (ttm__poc_translate(d, &P->x, c->pid, c->pc.proc, &m, &r)) {
        ttm__poc_encode(&r, c->size, c->out + c->outlen);
        c->outlen += c->size;
    }
}

/* A bad byte at the head of the stream: skip it. Returns false when the connection was closed
 * for too many bad messages in a row. */
static bool skip_bad(ttm_daemon *d, poc_conn *c, size_t *pos)
{
    ttm_poc *P = d->poc;
    uint32_t unit = c->size ? c->size : TTM_POC_MAX_SIZE;
    if (c->skipping == 0 || c->skipping % unit == 0) {
        /* a bad message, and each further message's worth of garbage is one more */
        c->bad++;
        P->bad++;
        c->bad_in_row++;
    }
    c->skipping++;
    P->skipped_bytes++;
    (*pos)++;
    if (c->bad_in_row < POC_BAD_LIMIT)
        return true;
    P->closed_bad++;
    POC_LOG(d, WARN, "legacy client pid %u: %d bad messages in a row (%llu bytes skipped; "
                     "not the allocation-server protocol?): connection closed",
            c->pid, POC_BAD_LIMIT, (unsigned long long)c->skipping);
    conn_close(d, c, true, "too many bad messages");
    return false;
}

/* Consumes the complete messages of the input buffer. Stops, setting c->stalled, when a reply
 * would not fit the output buffer (the connection is then not read until the peer reads its
 * replies). */
static void conn_process(ttm_daemon *d, poc_conn *c)
{
    ttm_poc *P = d->poc;
    size_t pos = 0;
    c->stalled = false;
    while (!c->dead) {
        size_t avail = c->inlen - pos;
        const uint8_t *p = c->in + pos;
        if (avail < TTM_POC_HEADER_SIZE)
            break;
        if (!ttm__poc_header_plausible(p, avail)) {
            if (!skip_bad(d, c, &pos))
                return;
            continue;
        }
        if (c->skipping > 0) {
            c->resyncs++;
            P->resyncs++;
            POC_LOG(d, DEBUG, "legacy client pid %u: resynchronised after skipping %llu bytes",
                    c->pid, (unsigned long long)c->skipping);
            c->skipping = 0;
        }
        if (c->size == 0) {
            /* Decide only when the next message's header is here, or when nothing more is
             * coming for now: a lone message of 72 bytes may be the first half of one of 144. */
            if (avail < TTM_POC_MAX_SIZE + TTM_POC_HEADER_SIZE && !c->eof && !c->idle)
                break;
            int size = ttm__poc_detect_size(p, avail);
            if (size == 0)
                break;
            if (size < 0) {
                if (!skip_bad(d, c, &pos))
                    return;
                continue;
            }
            c->size = (uint32_t)size;
            POC_LOG(d, DEBUG, "legacy client pid %u sends %d-byte messages", c->pid, size);
        }
        if (avail < c->size)
            break;
        unsigned reply = ttm__poc_reply_type(p[0]);
        if (reply != 0 && !out_room(c)) {
            c->stalled = true;
            break;
        }
        handle(d, c, p);
        if (c->dead)
            return;
        c->bad_in_row = 0;
        pos += c->size;
    }
    if (pos > 0) {
        memmove(c->in, c->in + pos, c->inlen - pos);
        c->inlen -= pos;
    }
}

/* Reads and consumes what the connection has, up to POC_READ_BUDGET bytes a wake-up so that
 * one busy client never keeps the loop from the others (the loop is level-triggered: what is
 * left is reported again after the other connections of the batch had their turn). A read
 * that did not fill the room it was given has emptied the socket: no further recv() only to
 * hear EAGAIN (the next bytes come with the next wake-up). Held-back input consumed
 * elsewhere (after a stall, by the tick) reads the clock per message. */
static void conn_read(ttm_daemon *d, poc_conn *c)
{
    size_t budget = POC_READ_BUDGET;
    while (!c->dead && !c->eof && !c->stalled && budget > 0 && c->inlen < POC_IN_CAP) {
        size_t room = POC_IN_CAP - c->inlen;
        ssize_t n = recv(c->fd, c->in + c->inlen, room, MSG_DONTWAIT);
        if (n > 0) {
            c->inlen += (size_t)n;
            budget -= (size_t)n < budget ? (size_t)n : budget;
            /* the events of the messages this read completed carry its time: one clock
             * read per read, not one per message */
            uint64_t now = ttm__mono_ns();
            c->last_rx_ns = now;
            c->idle = false;
            d->poc->x.now_ns = now;
            conn_process(d, c);
            d->poc->x.now_ns = 0;
            if ((size_t)n < room)
                break;
            continue;
        }
        if (n == 0) {
            c->eof = true;
            break;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            break;
        conn_close(d, c, true, strerror(errno));
        return;
    }
}

/* Runs a connection after an event (events 0: the tick found it idle): write pending replies,
 * consume held-back input, read, answer; close once the peer is done and every reply went
 * out. */
static void conn_run(ttm_daemon *d, poc_conn *c, uint32_t events)
{
    if (!conn_flush(d, c))
        return;
    if (c->inlen > 0) /* held back for room in the output, or a lone message gone idle */
        conn_process(d, c);
    if (!c->dead && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
        conn_read(d, c);
    /* a peer that reads its replies promptly lets held-back input go on a few times */
    for (int round = 0; round < 4 && !c->dead; round++) {
        if (!conn_flush(d, c) || !c->stalled)
            break;
        conn_process(d, c);
    }
    if (c->dead || !conn_flush(d, c))
        return;
    if (c->eof && !c->stalled) {
        conn_process(d, c); /* a lone last message is decided by its size */
        if (c->dead || !conn_flush(d, c))
            return;
        if (c->inlen > 0 && !c->stalled) {
            d->poc->truncated++;
            POC_LOG(d, DEBUG, "legacy client pid %u: the stream ended inside a message (%zu "
                              "bytes discarded)",
                    c->pid, c->inlen);
            c->inlen = 0;
        }
        if (c->inlen == 0 && c->outpos == c->outlen) {
            conn_close(d, c, true, "closed by the client");
            return;
        }
    }
    conn_interest(d, c);
    ttm__poc_log_flush(&d->poc->x);
}

/* ---- entry points ---------------------------------------------------------------------------- */

static void on_listen(ttm_loop *l, ttm_watch *w, uint32_t events);
static void poc_tick(ttm_loop *l, void *arg, uint64_t ticks);

int ttm__poc_open(ttm_daemon *d, char *msg, size_t msg_len)
{
    if (d->cfg.poc_path[0] == '\0')
        return TTM_OK;
    ttm_poc *P = ttm__calloc(1, sizeof *P);
    if (P == NULL) {
        snprintf(msg, msg_len, "out of memory for the legacy listener");
        return TTM_ENOMEM;
    }
    P->listen_fd = ttm__listen_unix(d->cfg.poc_path, 0600, "--poc-socket=", msg, msg_len);
    if (P->listen_fd < 0) {
        int err = P->listen_fd;
        ttm__free(P);
        return err;
    }
    ttm__watch_init(&P->listen_w, on_listen, d);
    d->poc = P;
    return TTM_OK;
}


static void poc_fill(const ttm_daemon *d, const void *owner, ttm_report *r);

int ttm__poc_register(ttm_daemon *d)
{
    if (d->poc == NULL)
        return TTM_OK;
    TTM_LOG(INFO, "legacy allocation-server protocol on %s (%s%s)", d->cfg.poc_path,
            d->cfg.poc_size ? "messages forced to " : "message size detected per connection",
            d->cfg.poc_size == 72    ? "72 bytes"
            : d->cfg.poc_size == 112 ? "112 bytes"
            : d->cfg.poc_size == 144 ? "144 bytes"
                                     : "");
    ttm__loop_on_tick(d->loop, &d->poc->tick, poc_tick, d);
    d->poc->part = (ttm_report_part){.sections = TTM_SNAP_BIT(TTM_SNAP_SEC_LEGACY),
                                     .fill = poc_fill,
                                     .owner = d->poc};
    ttm__report_part_add(d, &d->poc->part);
    return ttm__loop_add(d->loop, &d->poc->listen_w, d->poc->listen_fd, EPOLLIN);
}

static void on_conn(ttm_loop *l, ttm_watch *w, uint32_t events);

/* Accepts every pending connection on the legacy socket. */
static void poc_accept(ttm_daemon *d)
{
    ttm_poc *P = d->poc;
    if (P == NULL)
        return;
    for (;;) {
        int fd = accept4(P->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                POC_LOG(d, WARN, "accept on %s failed: %s", d->cfg.poc_path, strerror(errno));
            return;
        }
        struct ucred cred = {.pid = 0};
        socklen_t cl = sizeof cred;
        const char *why = NULL;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0)
            why = "its credentials cannot be read";
        else if (cred.pid <= 0)
            why = "the daemon cannot see its pid (another pid namespace?)";
        else if (P->nconns >= d->cfg.max_clients)
            why = "the daemon serves at most --max-clients legacy connections";
        poc_conn *c = NULL;
        ttm_dproc *proc = NULL;
        if (why == NULL && (c = ttm__calloc(1, sizeof *c)) == NULL)
            why = "out of memory";
        if (why == NULL) {
            ttm__pconn_init(&c->pc, c);
            proc = ttm__proc_attach(d, &c->pc, (uint32_t)cred.pid, cred.uid, "");
            if (proc == NULL)
                why = "the daemon's process table is full";
        }
        if (why != NULL) {
            P->refused++;
            if (!P->refused_logged || TTM_LOG_DEBUG <= ttm__log_level)
                POC_LOG(d, WARN, "refused a legacy client (pid %d): %s (counted, logged once)",
                        (int)cred.pid, why);
            P->refused_logged = true;
            ttm__free(c);
            close(fd);
            continue;
        }
        ttm__watch_init(&c->w, on_conn, c);
        c->fd = fd;
        c->pid = (uint32_t)cred.pid;
        c->uid = cred.uid;
        c->size = d->cfg.poc_size;
        c->last_rx_ns = ttm__mono_ns();
        c->next = P->conns;
        if (P->conns)
            P->conns->prev = c;
        P->conns = c;
        P->nconns++;
        P->connections++;
        ttm_event start;
        memset(&start, 0, sizeof start);
        start.kind = TTM_EV_PROC_START;
        start.ts = ttm__mono_ns();
        uint32_t mask = ttm_registry_apply(d->reg, c->pid, &start); /* a no-op when known */
        ttm__journal_events(d, c->pid, &start, &mask, 1);
        ttm__journal_proc(d, TTM_JOURNAL_PROC_START, c->pid, start.ts); /* its name */
        if (ttm__loop_add(d->loop, &c->w, fd, EPOLLIN | EPOLLRDHUP) != TTM_OK) {
            POC_LOG(d, ERROR, "cannot watch a legacy client socket: %s", strerror(errno));
            conn_close(d, c, true, "cannot be watched");
            continue;
        }
        POC_LOG(d, INFO, "pid %u (%s) uid %u connected to the legacy socket", c->pid,
                proc->name[0] ? proc->name : "?", c->uid);
    }
}

static void on_listen(ttm_loop *l, ttm_watch *w, uint32_t events)
{
    (void)w;
    (void)events;
    poc_accept(ttm__loop_ctx(l));
}

/* Epoll events of a legacy connection. */
static void on_conn(ttm_loop *l, ttm_watch *w, uint32_t events)
{
    ttm_daemon *d = ttm__loop_ctx(l);
    poc_conn *c = w->owner;
    if (d->poc == NULL || c->dead)
        return;
    conn_run(d, c, events);
}

/* The tick: decides the message size of idle connections. */
static void poc_tick(ttm_loop *l, void *arg, uint64_t ticks)
{
    (void)l;
    (void)ticks;
    ttm_daemon *d = arg;
    ttm_poc *P = d->poc;
    if (P == NULL)
        return;
    uint64_t now = ttm__mono_ns();
    poc_conn *c = P->conns;
    while (c != NULL) {
        poc_conn *next = c->next;
        if (c->size == 0 && c->inlen > 0 && !c->idle &&
            now - c->last_rx_ns >= (uint64_t)TTM_DAEMON_TICK_MS * 1000000u) {
            c->idle = true; /* nothing more came: a lone message is what it is */
            conn_run(d, c, 0);
        }
        c = next;
    }
    ttm__poc_log_flush(&P->x);
}

/* The legacy section of a snapshot: this listener's counters. */
static void poc_fill(const ttm_daemon *d, const void *owner, ttm_report *r)
{
    const ttm_poc *P = owner;
    ttm_report_legacy *out = &r->legacy;
    memset(out, 0, sizeof *out);
    snprintf(out->path, sizeof out->path, "%s", d->cfg.poc_path);
    out->forced_size = d->cfg.poc_size;
    out->connected = P->nconns;
    out->connections = P->connections;
    out->refused = P->refused;
    out->closed_bad = P->closed_bad;
    out->bad = P->bad;
    out->resyncs = P->resyncs;
    out->skipped_bytes = P->skipped_bytes;
    out->truncated = P->truncated;
    out->rejected = P->x.rejected + P->x.dumps_skipped;
    _Static_assert(TTM_POC_TYPE_MAX < TTM_REPORT_LEGACY_TYPES, "every type has a counter");
    out->ntypes = TTM_POC_TYPE_MAX + 1;
    for (unsigned t = 0; t <= TTM_POC_TYPE_MAX; t++)
        out->messages[t] = P->messages[t];
}

void ttm__poc_close(ttm_daemon *d)
{
    ttm_poc *P = d->poc;
    if (P == NULL)
        return;
    ttm__report_part_del(d, &P->part);
    while (P->conns != NULL) {
        poc_conn *c = P->conns;
        uint32_t pid = c->pid;
        conn_close(d, c, false, "daemon stopping");
        ttm__proc_released(d, pid, "legacy connection closed", false);
    }
    ttm__proc_check_released(d);
    ttm__poc_log_flush(&P->x);
    char a[TTM_FMT_LEN];
    TTM_LOG(INFO, "legacy protocol: %s connections (%llu refused, %llu closed for bad "
                  "messages), %llu bad messages, %llu resynchronisations",
            ttm__fmt_count(a, P->connections), (unsigned long long)P->refused,
            (unsigned long long)P->closed_bad, (unsigned long long)P->bad,
            (unsigned long long)P->resyncs);
    if (d->loop != NULL)
        ttm__loop_del(d->loop, &P->listen_w);
    if (P->listen_fd >= 0) {
        close(P->listen_fd);
        P->listen_fd = -1;
        unlink(d->cfg.poc_path);
    }
    ttm__free(P);
    d->poc = NULL;
}
