/*
 * query.c — ttmemd's read-only query socket: one QUERY in, one SNAPSHOT (or ERROR) out, as
 * many times as the client asks on one connection. The report a query is answered with is
 * built by report_fill.c.
 *
 * Nothing a query says can change the registry. Queries are bounded: at most
 * TTM_DAEMON_MAX_QUERY_CONNS connections, a fixed-size request, one reply per connection at a
 * time, the bytes of replies buffered for all connections together, the reply bytes built per
 * loop turn, a deadline for reading a reply, and idle connections closed (see "connections").
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/alloc.h"
#include "core/report.h"
#include "daemon/daemon.h"
#include "daemon/history.h"
#include "daemon/log.h"

/* ---- connections ----------------------------------------------------------------------------- */

/* Output bounds. A connection holds at most one reply; a reply is built only when its
 * connection's query reaches the front of d->qwait and, when it is large (estimated at
 * TTM_DAEMON_QUERY_SMALL or more), when the large replies already buffered leave room for it
 * under TTM_DAEMON_QUERY_OUT_MAX (one is always allowed). So at most TTM_DAEMON_MAX_QUERY_CONNS
 * small replies and OUT_MAX plus one large reply are held, whoever connects; a reply of which
 * nothing is read for TTM_DAEMON_QUERY_SEND_MS closes its connection (a slow reader that still
 * reads keeps it, but gives its slot up to a newcomer at the connection limit: evict_one); and
 * one loop turn builds replies worth
 * at most TTM_DAEMON_QUERY_TURN_BYTES (at least one), so rings keep being drained between. */

/* An upper bound of the reply's size, from counts the registry keeps (no walk). */
static uint64_t reply_estimate(ttm_daemon *d, const ttm_snap_query *q)
{
    uint32_t want = q->sections;
    uint64_t ndev = ttm_registry_devices(d->reg, NULL, 0);
    uint64_t est = 4096; /* header, daemon, totals, legacy, service */
    if (want & TTM_SNAP_BIT(TTM_SNAP_SEC_DEVICES))
        est += ndev * 1024;
    if (want & TTM_SNAP_BIT(TTM_SNAP_SEC_PROCS)) {
        uint64_t np = ttm_registry_processes(d->reg, NULL, 0) + d->nprocs;
        est += np * (256 + ndev * (8 + TTM_MEMTYPE_COUNT * 48));
    }
    if (want & TTM_SNAP_BIT(TTM_SNAP_SEC_PROCINFO)) /* the command lines (at most 4 KiB each) */
        for (size_t i = 0; i < d->nprocs; i++)
            est += 16 + d->procs[i]->cmdline_len;
    if (want & TTM_SNAP_BIT(TTM_SNAP_SEC_LIVE)) {
        ttm_totals t;
        ttm_registry_totals(d->reg, &t);
        uint64_t n = t.live_records;
        if (q->max_live > 0 && n > q->max_live)
            n = q->max_live;
        if (n > TTM_DAEMON_QUERY_MAX_LIVE)
            n = TTM_DAEMON_QUERY_MAX_LIVE;
        est += n * 48;
    }
    if (want & TTM_SNAP_BIT(TTM_SNAP_SEC_FINDINGS)) {
        uint64_t top = q->top ? q->top : 10, leaks = q->max_leaks ? q->max_leaks : 20;
        est += (uint64_t)TTM_CLASS__COUNT * (32 + top * 80) + top * 80 + leaks * 48;
    }
    if (want & TTM_SNAP_BIT(TTM_SNAP_SEC_CAUSES)) { /* every cause, its instances and words;
                                                     * the findings' decimal addresses */
        uint64_t top = q->top ? q->top : 10;
        est += (uint64_t)TTM_CAUSE__COUNT * 1024 + (TTM_CLASS__COUNT + 1) * top * 10;
    }
    if (want & TTM_SNAP_BIT(TTM_SNAP_SEC_HISTORY)) /* the samples the history holds */
        est += ttm__history_wire_bound(d->history);
    if (want & TTM_SNAP_BIT(TTM_SNAP_SEC_PROCSITES)) /* top sites of every process */
        est += (ttm_registry_processes(d->reg, NULL, 0) + 1) * (q->top ? q->top : 10) *
               (24 + TTM_MEMTYPE_COUNT * 10);
    return est;
}

/* Accounts a reply just queued in q->out, or (sign false) one written or dropped. */
static void out_account(ttm_daemon *d, ttm_qconn *q, bool add)
{
    ttm_report_service *v = &d->qsvc;
    uint64_t n = q->out.len;
    if (add) {
        v->query_buffered += n;
        if (v->query_buffered > v->query_buffered_peak)
            v->query_buffered_peak = v->query_buffered;
        if (q->large)
            d->qbuf_large += n;
        q->reply_ns = ttm__mono_ns();
        return;
    }
    v->query_buffered -= n < v->query_buffered ? n : v->query_buffered;
    if (q->large)
        d->qbuf_large -= n < d->qbuf_large ? n : d->qbuf_large;
    q->large = false;
}

static void out_drop(ttm_daemon *d, ttm_qconn *q)
{
    out_account(d, q, false);
    ttm__bytes_free(&q->out);
    q->outpos = 0;
}

static void wait_remove(ttm_daemon *d, ttm_qconn *q)
{
    for (ttm_qconn **p = &d->qwait; *p != NULL; p = &(*p)->wnext) {
        if (*p == q) {
            *p = q->wnext;
            break;
        }
    }
    q->wnext = NULL;
    q->pending = false;
}

static void qconn_free(ttm_daemon *d, ttm_qconn *q)
{
    ttm__loop_del(d->loop, &q->w);
    if (q->fd >= 0) {
        close(q->fd);
        q->fd = -1;
    }
    if (q->pending)
        wait_remove(d, q);
    out_drop(d, q);
    if (q->prev)
        q->prev->next = q->next;
    else
        d->qconns = q->next;
    if (q->next)
        q->next->prev = q->prev;
    d->nqconns--;
    q->dead = true;
    q->prev = NULL;
    q->next = NULL;
    ttm__loop_defer(d->loop, &q->dead_node, ttm__free, q);
}

/* At the connection limit: closes the connection whose reply has waited longest to be read,
 * when that is TTM_DAEMON_QUERY_EVICT_MS or more (a reader that does not read gives way to a
 * newcomer; connections waiting for their reply to be built are never chosen). Returns whether
 * one was closed. */
static bool evict_one(ttm_daemon *d)
{
    uint64_t now = ttm__mono_ns();
    ttm_qconn *victim = NULL;
    for (ttm_qconn *q = d->qconns; q != NULL; q = q->next)
        if (q->out.len > 0 && now - q->reply_ns >= (uint64_t)TTM_DAEMON_QUERY_EVICT_MS * 1000000u &&
            (victim == NULL || q->reply_ns < victim->reply_ns))
            victim = q;
    if (victim == NULL)
        return false;
    qconn_free(d, victim);
    return true;
}

static void on_conn(ttm_loop *l, ttm_watch *w, uint32_t events);

/* Accepts every pending connection on the query socket. */
static void query_accept(ttm_daemon *d)
{
    for (;;) {
        int fd = accept4(d->query_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                TTM_LOG(WARN, "accept on %s failed: %s", d->cfg.query_path, strerror(errno));
            return;
        }
        if (d->nqconns >= TTM_DAEMON_MAX_QUERY_CONNS && evict_one(d))
            d->qsvc.query_evicted++;
        if (d->nqconns >= TTM_DAEMON_MAX_QUERY_CONNS) {
            ttm_bytes b = {0};
            if (ttm__snap_encode_error(TTM_ELIMIT, "too many query connections; retry",
                                       &b) == TTM_OK)
                (void)!send(fd, b.data, b.len, MSG_NOSIGNAL | MSG_DONTWAIT);
            ttm__bytes_free(&b);
            close(fd);
            d->qsvc.query_refused++;
            continue;
        }
        ttm_qconn *q = ttm__calloc(1, sizeof *q);
        if (q == NULL) {
            close(fd);
            d->qsvc.query_refused++;
            continue;
        }
        ttm__watch_init(&q->w, on_conn, q);
        q->fd = fd;
        q->last_ns = ttm__mono_ns();
        q->next = d->qconns;
        if (d->qconns)
            d->qconns->prev = q;
        d->qconns = q;
        d->nqconns++;
        if (ttm__loop_add(d->loop, &q->w, fd, EPOLLIN | EPOLLRDHUP) != TTM_OK)
            qconn_free(d, q);
    }
}

/* Writes what is pending. Returns false when the connection must close. */
static bool flush_out(ttm_daemon *d, ttm_qconn *q)
{
    while (q->outpos < q->out.len) {
        ssize_t n = send(q->fd, q->out.data + q->outpos, q->out.len - q->outpos,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            q->outpos += (size_t)n;
            q->reply_ns = ttm__mono_ns(); /* the deadline counts from the last progress */
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            /* EPOLLOUT alone (hang-ups are always reported): a peer that shut its side
             * down without reading must not wake the loop again and again */
            ttm__loop_mod(d->loop, &q->w, EPOLLOUT);
            return true;
        }
        return false;
    }
    out_drop(d, q);
    if (q->close_after)
        return false;
    ttm__loop_mod(d->loop, &q->w, EPOLLIN | EPOLLRDHUP);
    return true;
}

static void answer_error(ttm_daemon *d, ttm_qconn *q, int status, const char *msg)
{
    out_drop(d, q);
    if (ttm__snap_encode_error(status, msg, &q->out) != TTM_OK)
        ttm__bytes_free(&q->out);
    out_account(d, q, true);
    q->close_after = true;
}

/* Builds the reply of a waiting query into q->out. */
static void answer(ttm_daemon *d, ttm_qconn *q)
{
    ttm_report snap;
    uint64_t t0 = ttm__mono_ns();
    int err = ttm__daemon_snapshot(d, &q->req, &snap);
    if (err == TTM_OK) {
        err = ttm_report_encode(&snap, &q->out);
        /* a full report (`ttmem record` asks for one): the journal keeps what it said */
        if (err == TTM_OK && (q->req.sections & TTM_SNAP_WANT_REPORT) == TTM_SNAP_WANT_REPORT)
            ttm__journal_report(d, &snap);
        ttm_report_clear(&snap);
    }
    if (err != TTM_OK) {
        TTM_LOG(WARN, "cannot answer a query: %s", ttm_strerror(err));
        answer_error(d, q, err, "the daemon could not build the snapshot");
        return;
    }
    out_account(d, q, true);
    d->queries++;
    TTM_LOG(DEBUG, "query: sections 0x%x, %zu bytes in %.3f ms", q->req.sections, q->out.len,
            (double)(ttm__mono_ns() - t0) / 1e6);
}

/* The before-sleep hook: builds the replies of waiting queries, within the reply budget and
 * TTM_DAEMON_QUERY_TURN_BYTES per turn. Returns 0 when some could be built now but were left
 * for the next turn (the loop should not block), else -1. */
static int64_t query_poll(ttm_loop *l, void *arg)
{
    (void)l;
    ttm_daemon *d = arg;
    uint64_t built = 0;
    ttm_qconn **p = &d->qwait;
    while (*p != NULL) {
        ttm_qconn *q = *p;
        uint64_t est = reply_estimate(d, &q->req);
        bool large = est >= TTM_DAEMON_QUERY_SMALL;
        if (large && d->qbuf_large > 0 && d->qbuf_large + est > TTM_DAEMON_QUERY_OUT_MAX) {
            if (!q->waited)
                d->qsvc.query_waited++;
            q->waited = true;
            p = &q->wnext; /* a small one behind it may still go */
            continue;
        }
        if (built > 0 && built + est > TTM_DAEMON_QUERY_TURN_BYTES)
            return 0; /* the rest next turn, after the rings */
        *p = q->wnext;
        q->wnext = NULL;
        q->pending = false;
        q->large = large;
        answer(d, q);
        built += est;
        q->last_ns = ttm__mono_ns();
        if (!flush_out(d, q))
            qconn_free(d, q);
    }
    return -1;
}

/* A whole request is in q->in: decoded into q->req, the connection waits in d->qwait (not
 * read from meanwhile: one query at a time per connection). */
static void enqueue(ttm_daemon *d, ttm_qconn *q, const ttm_snap_frame *fr)
{
    if (ttm__snap_decode_query(q->in + TTM_SNAP_HDR_SIZE, fr->length, &q->req) != TTM_OK) {
        answer_error(d, q, TTM_EPROTO, "expected a query message");
        if (!flush_out(d, q))
            qconn_free(d, q);
        return;
    }
    ttm_qconn **p = &d->qwait;
    while (*p != NULL)
        p = &(*p)->wnext;
    *p = q;
    q->wnext = NULL;
    q->pending = true;
    q->waited = false;
    ttm__loop_mod(d->loop, &q->w, 0); /* only a hang-up (EPOLLHUP, EPOLLERR) is reported */
}

/* Epoll events of a query connection. */
static void on_conn(ttm_loop *l, ttm_watch *w, uint32_t events)
{
    ttm_daemon *d = ttm__loop_ctx(l);
    ttm_qconn *q = w->owner;
    if (q->dead)
        return;
    q->last_ns = ttm__mono_ns();
    if (q->pending) { /* waiting for its reply to be built: only the end matters */
        if (events & (EPOLLHUP | EPOLLERR))
            qconn_free(d, q);
        return;
    }
    if (q->out.len > 0) { /* writing a reply: only EPOLLOUT (or the end) matters */
        if ((events & EPOLLERR) || !flush_out(d, q))
            qconn_free(d, q);
        return;
    }
    if (events & EPOLLIN) {
        for (;;) {
            size_t want = TTM_SNAP_HDR_SIZE;
            ttm_snap_frame fr = {0};
            if (q->inlen >= TTM_SNAP_HDR_SIZE) {
                char msg[160];
                int err = ttm__snap_decode_frame(q->in, q->inlen, &fr, msg, sizeof msg);
                if (err == TTM_OK && fr.type != TTM_SNAP_MSG_QUERY) {
                    err = TTM_EPROTO;
                    snprintf(msg, sizeof msg, "expected a query message, got %s",
                             ttm__snap_msg_name(fr.type));
                }
                if (err != TTM_OK) {
                    TTM_LOG(DEBUG, "bad query: %s", msg);
                    answer_error(d, q, err, msg);
                    break;
                }
                want = TTM_SNAP_HDR_SIZE + fr.length;
            }
            if (q->inlen >= want) {
                q->inlen = 0;
                enqueue(d, q, &fr);
                return;
            }
            ssize_t n = recv(q->fd, q->in + q->inlen, want - q->inlen, MSG_DONTWAIT);
            if (n > 0) {
                q->inlen += (size_t)n;
                continue;
            }
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                return;
            qconn_free(d, q); /* closed or failed */
            return;
        }
        if (q->out.len == 0 || !flush_out(d, q))
            qconn_free(d, q);
        return;
    }
    if (events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR))
        qconn_free(d, q);
}

/* The tick: closes connections whose reply is not read, or idle for too long. */
static void query_tick(ttm_loop *l, void *arg, uint64_t ticks)
{
    (void)l;
    (void)ticks;
    ttm_daemon *d = arg;
    uint64_t now = ttm__mono_ns();
    ttm_qconn *q = d->qconns;
    while (q != NULL) {
        ttm_qconn *next = q->next;
        if (q->out.len > 0 && now - q->reply_ns > (uint64_t)TTM_DAEMON_QUERY_SEND_MS * 1000000u) {
            d->qsvc.query_cut++;
            if (now - d->qcut_logged_ns > 10000000000ull || d->qcut_logged_ns == 0) {
                TTM_LOG(INFO,
                        "query: closed a connection that read nothing of its %zu-byte reply for "
                        "%d ms (%llu so far; this line at most every 10 s)",
                        q->out.len, TTM_DAEMON_QUERY_SEND_MS,
                        (unsigned long long)d->qsvc.query_cut);
                d->qcut_logged_ns = now;
            }
            qconn_free(d, q);
        } else if (!q->pending && q->out.len == 0 &&
                   now - q->last_ns > (uint64_t)TTM_DAEMON_QUERY_IDLE_MS * 1000000u) {
            d->qsvc.query_idle++;
            qconn_free(d, q);
        }
        q = next;
    }
}

void ttm__query_close_all(ttm_daemon *d)
{
    while (d->qconns != NULL)
        qconn_free(d, d->qconns);
}

static void on_listen(ttm_loop *l, ttm_watch *w, uint32_t events)
{
    (void)w;
    (void)events;
    query_accept(ttm__loop_ctx(l));
}

int ttm__query_register(ttm_daemon *d)
{
    ttm__watch_init(&d->query_w, on_listen, d);
    ttm__loop_on_tick(d->loop, &d->query_tick, query_tick, d);
    ttm__loop_before_sleep(d->loop, &d->query_sleep, query_poll, d);
    return ttm__loop_add(d->loop, &d->query_w, d->query_fd, EPOLLIN);
}
