/*
 * poc.c — ttmemd's legacy listener: the allocation-server prototype's socket protocol
 * (../shared/spec/poc-protocol.md; user documentation in docs/COMPAT.md), so that TT-Metal
 * builds instrumented for the prototype, its demo client, its Python client and its monitors
 * work unchanged against ttmemd.
 *
 * Every connection is a non-blocking socket in the daemon's epoll loop with an input buffer
 * (messages arrive in pieces) and an output buffer (replies leave in pieces). The message size
 * (72, 112 or 144 bytes) is detected per connection from the stream (ttm__poc_detect_size), or
 * forced by --poc-size. Buffer messages become events of the same core as native ones
 * (ttm_registry_apply_ex), for the process the kernel names (SO_PEERCRED): the pid a message
 * claims is never used. QUERY and DEVICE_INFO_QUERY are answered from the registry; the DUMP
 * messages print a report on the daemon's output.
 *
 * Nothing a peer sends is trusted: a header that is not plausible (type 1..12, zero pads, a
 * device id from -1 to 65535) is a bad message, the stream is resynchronised by skipping one
 * byte at a time to the next plausible header, and a connection with 10 bad messages in a row
 * is closed with one log line. Other connections never notice.
 *
 * Processes: the prototype's client keeps one connection for its process's life. When a
 * connection closes and the process has no other connection or ring session, the process has
 * exited if it is gone (its live buffers are leaked_at_exit and reclaimed); if it still runs,
 * its buffers stay, and its exit is settled when the once-a-second check finds it gone (or a
 * new connection of it takes over).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/arch.h"
#include "common/fmt.h"
#include "common/poc.h"
#include "core/legacy.h"
#include "daemon/daemon.h"
#include "daemon/log.h"

#define POC_IN_CAP 16384         /* bytes of a connection's input held at once */
#define POC_OUT_CAP 16384        /* replies waiting; beyond, the connection is not read */
#define POC_READ_BUDGET 262144   /* bytes read from one connection per wake-up */
#define POC_BAD_LIMIT 10         /* bad messages in a row that close a connection */
#define POC_LOG_CAP 65536        /* --poc-log lines gathered before one write */
#define POC_DUMP_MAX 10000       /* buffers listed by one DUMP report */
#define POC_DUMP_GAP_NS 1000000000ull /* one DUMP report of each kind per second at most */
#define POC_WATCH_MAX TTM_DAEMON_MAX_PROCS

typedef struct poc_conn {
    ttm_ep ep;
    struct poc_conn *prev, *next;
    int fd;                   /* -1 when closed */
    uint32_t pid, uid;
    ttm_dproc *proc;
    uint32_t size;            /* message size; 0 until detected */
    uint32_t interest;        /* epoll events registered */
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
    int listen_fd;            /* -1 when not listening */
    ttm_ep listen_ep;
    poc_conn *conns;
    poc_conn *dead;           /* closed during this epoll batch (linked by next) */
    uint32_t nconns;
    uint32_t *watch;          /* pids whose connection closed while they still ran */
    size_t nwatch;
    /* counters (docs/COMPAT.md) */
    uint64_t connections, refused, closed_bad, bad, resyncs, skipped_bytes, truncated;
    uint64_t rejected;        /* well-formed messages that cannot apply (device -1, ...) */
    uint64_t messages[TTM_POC_TYPE_MAX + 1];
    uint64_t dumps_skipped;   /* DUMP requests within a second of the previous one */
    uint64_t last_dump_ns[2]; /* DUMP_REMAINING, DUMP_KERNELS */
    bool refused_logged, rejected_logged, response_logged, watch_full_logged;
    size_t loglen;
    char logbuf[POC_LOG_CAP];
};

/* ---- output on the daemon's log -------------------------------------------------------------- */

static void log_flush(ttm_poc *P)
{
    if (P->loglen > 0)
        ttm__log_raw(P->logbuf, P->loglen);
    P->loglen = 0;
}

/* Every log line of this file: the per-event lines gathered so far go out first, so the
 * daemon's output keeps the order in which things happened. */
#define POC_LOG(d, level, ...)                                                                   \
    do {                                                                                         \
        log_flush((d)->poc);                                                                     \
        TTM_LOG(level, __VA_ARGS__);                                                             \
    } while (0)

static void log_line(ttm_poc *P, const char *line, size_t len)
{
    if (P->loglen + len + 1 > sizeof P->logbuf)
        log_flush(P);
    if (len + 1 > sizeof P->logbuf)
        return; /* cannot happen: lines are a few hundred bytes */
    memcpy(P->logbuf + P->loglen, line, len);
    P->loglen += len;
    P->logbuf[P->loglen++] = '\n';
}

/* ---- process lifecycle ----------------------------------------------------------------------- */

bool ttm__poc_holds(const ttm_daemon *d, uint32_t pid)
{
    if (d->poc == NULL)
        return false;
    for (const poc_conn *c = d->poc->conns; c != NULL; c = c->next)
        if (c->pid == pid)
            return true;
    return false;
}

static void watch_remove(ttm_poc *P, uint32_t pid)
{
    for (size_t i = 0; i < P->nwatch; i++)
        if (P->watch[i] == pid) {
            P->watch[i] = P->watch[--P->nwatch];
            return;
        }
}

/* The process exited: its live buffers are leaked_at_exit and reclaimed (one info line). */
static void settle_exit(ttm_daemon *d, uint32_t pid, const char *why)
{
    ttm_totals before, after;
    ttm_registry_totals(d->reg, &before);
    ttm_registry_process_exit(d->reg, pid, ttm__now_ns());
    ttm_registry_totals(d->reg, &after);
    ttm_dproc *p = ttm__proc_find(d, pid);
    if (p != NULL && p->sessions_open == 0)
        p->exited = true;
    POC_LOG(d, INFO,
            "pid %u (%s) exited (%s): %llu events, %llu buffers (%llu bytes) leaked at exit and "
            "reclaimed",
            pid, p != NULL && p->name[0] ? p->name : "?", why,
            (unsigned long long)(p != NULL ? p->events : 0),
            (unsigned long long)(after.class_count[TTM_CLASS_LEAKED_AT_EXIT] -
                                 before.class_count[TTM_CLASS_LEAKED_AT_EXIT]),
            (unsigned long long)(after.class_bytes[TTM_CLASS_LEAKED_AT_EXIT] -
                                 before.class_bytes[TTM_CLASS_LEAKED_AT_EXIT]));
}

/* After a connection of pid closed: the process exited when it is gone and holds no other
 * connection or session; if it still runs, it is watched. */
static void after_close(ttm_daemon *d, uint32_t pid)
{
    ttm_poc *P = d->poc;
    if (ttm__poc_holds(d, pid) || ttm__session_holds(d, pid))
        return; /* whoever holds it last settles its exit */
    if (ttm__process_gone(pid)) {
        settle_exit(d, pid, "legacy connection closed");
        return;
    }
    for (size_t i = 0; i < P->nwatch; i++)
        if (P->watch[i] == pid)
            return;
    if (P->nwatch >= POC_WATCH_MAX) {
        if (!P->watch_full_logged)
            POC_LOG(d, WARN, "pid %u closed its legacy connection but still runs, and %d such "
                             "processes are already watched: its buffers stay until the daemon "
                             "stops (logged once)",
                    pid, POC_WATCH_MAX);
        P->watch_full_logged = true;
        return;
    }
    P->watch[P->nwatch++] = pid;
    POC_LOG(d, DEBUG, "pid %u closed its legacy connection but still runs: its buffers stay "
                      "until it exits",
            pid);
}

/* ---- connections ----------------------------------------------------------------------------- */

static void conn_close(ttm_daemon *d, poc_conn *c, bool settle, const char *why)
{
    ttm_poc *P = d->poc;
    if (c->dead)
        return;
    log_flush(P);
    ttm__ep_del(d, c->fd);
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
    c->prev = NULL;
    c->next = P->dead;
    P->dead = c;
    if (c->proc != NULL) {
        c->proc->sessions_open--;
        c->proc->last_ns = ttm__now_ns();
    }
    POC_LOG(d, DEBUG, "legacy client pid %u: connection closed (%s): %llu messages, %llu bad, "
                      "%llu resynchronisations",
            c->pid, why, (unsigned long long)c->messages, (unsigned long long)c->bad,
            (unsigned long long)c->resyncs);
    if (settle)
        after_close(d, c->pid);
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
    if (want != c->interest && ttm__ep_mod(d, c->fd, want, &c->ep) == TTM_OK)
        c->interest = want;
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

/* Logs the first appearance of each anomaly class (as session.c does for rings). */
static void note_classes(ttm_daemon *d, const poc_conn *c, const ttm_event *ev, uint32_t mask)
{
    uint32_t fresh = mask & ~d->classes_seen;
    d->classes_seen |= mask;
    for (unsigned k = 0; k < TTM_CLASS__COUNT; k++) {
        if (!(fresh & TTM_CLASS_BIT(k)) || !ttm_class_is_anomaly(k))
            continue;
        POC_LOG(d, WARN,
                "first %s: pid %u (%s, legacy client) %s device %u %s 0x%llx (%s); further ones "
                "are counted, not logged",
                ttm_class_name(k), c->pid, c->proc && c->proc->name[0] ? c->proc->name : "?",
                ttm__event_kind_name(ev->kind), ev->device, ttm__memtype_name(ev->memtype),
                (unsigned long long)ev->addr, ttm_class_help(k));
    }
}

/* A buffer message as an event of the core. */
static void apply_buffer(ttm_daemon *d, poc_conn *c, const ttm_poc_msg *m)
{
    ttm_poc *P = d->poc;
    if (m->device_id < 0 || m->device_id > 65535) {
        P->rejected++;
        if (!P->rejected_logged)
            POC_LOG(d, WARN, "legacy client pid %u sent %s for device %d: ignored (counted, "
                             "logged once)",
                    c->pid, ttm__poc_type_name(m->type), (int)m->device_id);
        P->rejected_logged = true;
        return;
    }
    ttm_event ev;
    memset(&ev, 0, sizeof ev);
    ev.device = (uint16_t)m->device_id;
    ev.addr = m->buffer_id;
    ev.ts = ttm__now_ns();
    switch (m->type) {
    case TTM_POC_ALLOC:
        ev.kind = TTM_EV_ALLOC;
        /* 0..4 are TT-Metal's buffer types; anything else is an invalid memtype (counted) */
        ev.memtype = m->buffer_type <= TTM_MEM_TRACE ? m->buffer_type : 0xfe;
        ev.size = m->size;
        break;
    case TTM_POC_FREE:
        ev.kind = TTM_EV_FREE; /* keyed by (device, address): size and type are not used */
        ev.memtype = TTM_MEM_ANY;
        break;
    case TTM_POC_CB_ALLOC:
    case TTM_POC_KERNEL_LOAD:
        ev.kind = TTM_EV_ALLOC;
        ev.memtype = m->type == TTM_POC_CB_ALLOC ? TTM_MEM_CB : TTM_MEM_KERNEL;
        ev.size = m->size;
        break;
    default: /* CB_FREE, KERNEL_UNLOAD */
        ev.kind = TTM_EV_FREE;
        ev.memtype = m->type == TTM_POC_CB_FREE ? TTM_MEM_CB : TTM_MEM_KERNEL;
        ev.size = m->size;
        break;
    }
    ttm_apply_info info;
    uint32_t mask = ttm_registry_apply_ex(d->reg, c->pid, &ev, &info);
    if (c->proc != NULL)
        c->proc->events++;
    if (d->cfg.poc_log) {
        char line[256];
        size_t n = ttm_legacy_log_line(line, sizeof line, c->pid, &ev, mask, &info);
        if (n > 0)
            log_line(P, line, n);
    }
    if (mask & ~d->classes_seen)
        note_classes(d, c, &ev, mask);
}

/* The statistics of one device; false when the registry has not seen it. */
static bool device_stats(ttm_daemon *d, int32_t id, ttm_device_stats *out)
{
    if (id < 0 || id > 65535)
        return false;
    size_t n = ttm_registry_devices(d->reg, NULL, 0);
    ttm_device_stats *all = n ? ttm__calloc(n, sizeof *all) : NULL;
    if (all == NULL)
        return false;
    n = ttm_registry_devices(d->reg, all, n);
    bool found = false;
    for (size_t i = 0; i < n && !found; i++)
        if (all[i].device == (uint16_t)id) {
            *out = all[i];
            found = true;
        }
    ttm__free(all);
    return found;
}

/* A device the daemon can describe: its architecture or its capacity is known. */
static bool device_known(const ttm_device_stats *s)
{
    return s->arch != 0 || s->capacity[TTM_SPACE_DRAM] != 0 || s->capacity[TTM_SPACE_L1] != 0;
}

static uint32_t clamp32(uint64_t v)
{
    return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

static void reply_query(ttm_daemon *d, const ttm_poc_msg *m, ttm_poc_msg *r)
{
    r->type = TTM_POC_RESPONSE;
    ttm_device_stats s;
    if (!device_stats(d, m->device_id, &s))
        return;
    r->dram_allocated = s.mem[TTM_MEM_DRAM].live_bytes;
    r->l1_allocated = s.mem[TTM_MEM_L1].live_bytes;
    r->l1_small_allocated = s.mem[TTM_MEM_L1_SMALL].live_bytes;
    r->trace_allocated = s.mem[TTM_MEM_TRACE].live_bytes;
    r->cb_allocated = s.mem[TTM_MEM_CB].live_bytes;
    r->kernel_allocated = s.mem[TTM_MEM_KERNEL].live_bytes;
}

static void reply_device_info(ttm_daemon *d, const ttm_poc_msg *m, ttm_poc_msg *r)
{
    r->type = TTM_POC_DEVICE_INFO_RESPONSE;
    if (m->device_id == -1) {
        size_t n = ttm_registry_devices(d->reg, NULL, 0);
        ttm_device_stats *all = n ? ttm__calloc(n, sizeof *all) : NULL;
        uint32_t known = 0;
        if (all != NULL) {
            n = ttm_registry_devices(d->reg, all, n);
            for (size_t i = 0; i < n; i++)
                known += device_known(&all[i]);
            ttm__free(all);
        }
        r->num_devices = known;
        r->is_available = known > 0;
        return;
    }
    ttm_device_stats s;
    if (!device_stats(d, m->device_id, &s) || !device_known(&s))
        return;
    r->is_available = 1;
    r->arch_type = s.arch;
    const ttm_arch_profile *p = ttm__arch_profile(s.arch);
    if (p != NULL) {
        r->num_dram_channels = p->dram_channels;
        r->dram_size_per_channel = clamp32(p->dram_per_channel);
        r->l1_size_per_core = p->l1_per_core;
    }
    r->total_dram_size = s.capacity[TTM_SPACE_DRAM];
    r->total_l1_size = s.capacity[TTM_SPACE_L1];
}

typedef struct live_list {
    ttm_live *v;
    size_t n, cap;
    uint64_t total;
    bool kernels_only;
} live_list;

static bool live_take(const ttm_live *l, void *arg)
{
    live_list *ll = arg;
    if (l->flags & TTM_FLAG_VIEW)
        return true;
    if (ll->kernels_only && l->memtype != TTM_MEM_KERNEL)
        return true;
    ll->total++;
    if (ll->n < ll->cap)
        ll->v[ll->n++] = *l;
    return true;
}

static int live_cmp(const void *a, const void *b)
{
    const ttm_live *x = a, *y = b;
    if (x->device != y->device)
        return x->device < y->device ? -1 : 1;
    if (x->memtype != y->memtype)
        return x->memtype < y->memtype ? -1 : 1;
    if (x->addr != y->addr)
        return x->addr < y->addr ? -1 : 1;
    return x->pid < y->pid ? -1 : x->pid > y->pid;
}

/* DUMP_REMAINING and DUMP_KERNELS: the prototype's boxed report of the buffers (or the kernel
 * code) still live, per device and type, on the daemon's output. No line of it can be taken
 * for an event by a log parser (no "[PID" after a glyph). */
static void dump_report(ttm_daemon *d, const poc_conn *c, bool kernels)
{
    ttm_totals t;
    ttm_registry_totals(d->reg, &t);
    live_list ll = {.kernels_only = kernels};
    ll.cap = t.live_records < POC_DUMP_MAX ? (size_t)t.live_records : POC_DUMP_MAX;
    ll.v = ll.cap ? ttm__calloc(ll.cap, sizeof *ll.v) : NULL;
    if (ll.cap > 0 && ll.v == NULL) {
        POC_LOG(d, ERROR, "out of memory for the report pid %u asked for", c->pid);
        return;
    }
    ttm_registry_foreach_live(d->reg, live_take, &ll);
    qsort(ll.v, ll.n, sizeof *ll.v, live_cmp);

    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f == NULL) {
        ttm__free(ll.v);
        POC_LOG(d, ERROR, "out of memory for the report pid %u asked for", c->pid);
        return;
    }
    const char *title = kernels ? "           LOADED KERNELS            "
                                : "     REMAINING ALLOCATED BUFFERS     ";
    fprintf(f, "\n\u2554");
    for (int i = 0; i < 37; i++)
        fputs("\u2550", f);
    fprintf(f, "\u2557\n\u2551%s\u2551\n\u255a", title);
    for (int i = 0; i < 37; i++)
        fputs("\u2550", f);
    fprintf(f, "\u255d\n");
    fprintf(f, "Requested by pid %u; %llu %s live\n", c->pid, (unsigned long long)ll.total,
            kernels ? "kernels" : "buffers");
    size_t i = 0;
    while (i < ll.n) {
        uint16_t dev = ll.v[i].device;
        fprintf(f, "Device %u:\n", dev);
        while (i < ll.n && ll.v[i].device == dev) {
            uint8_t mt = ll.v[i].memtype;
            size_t j = i;
            uint64_t bytes = 0;
            while (j < ll.n && ll.v[j].device == dev && ll.v[j].memtype == mt)
                bytes += ll.v[j++].size;
            fprintf(f, "  %s: %zu %s, %llu bytes\n", ttm__memtype_name(mt), j - i,
                    kernels ? "kernels" : "buffers", (unsigned long long)bytes);
            for (; i < j; i++)
                fprintf(f, "    %s %llu: %llu bytes, pid %u, ref_count=%u\n",
                        kernels ? "kernel" : "buffer", (unsigned long long)ll.v[i].addr,
                        (unsigned long long)ll.v[i].size, ll.v[i].pid, ll.v[i].refs);
        }
    }
    if (ll.total > ll.n)
        fprintf(f, "... and %llu more not listed\n", (unsigned long long)(ll.total - ll.n));
    if (ll.total == 0)
        fprintf(f, "  (none)\n");
    fclose(f);
    log_flush(d->poc);
    ttm__log_raw(text, len);
    free(text); /* open_memstream's buffer comes from malloc */
    ttm__free(ll.v);
}

/* Handles one plausible message of c->size bytes. */
static void handle(ttm_daemon *d, poc_conn *c, const uint8_t *buf)
{
    ttm_poc *P = d->poc;
    ttm_poc_msg m;
    if (ttm__poc_decode(buf, c->size, &m, NULL) != TTM_OK)
        return; /* plausible headers always decode; kept for safety */
    P->messages[m.type]++;
    c->messages++;
    switch (m.type) {
    case TTM_POC_ALLOC:
    case TTM_POC_FREE:
    case TTM_POC_CB_ALLOC:
    case TTM_POC_CB_FREE:
    case TTM_POC_KERNEL_LOAD:
    case TTM_POC_KERNEL_UNLOAD:
        apply_buffer(d, c, &m);
        break;
    case TTM_POC_QUERY:
    case TTM_POC_DEVICE_INFO_QUERY: {
        ttm_poc_msg r;
        memset(&r, 0, sizeof r);
        r.device_id = m.device_id;
        if (m.type == TTM_POC_QUERY)
            reply_query(d, &m, &r);
        else
            reply_device_info(d, &m, &r);
        ttm__poc_encode(&r, c->size, c->out + c->outlen); /* out_room() was checked */
        c->outlen += c->size;
        break;
    }
    case TTM_POC_DUMP_REMAINING:
    case TTM_POC_DUMP_KERNELS: {
        /* a report can be 10,000 lines: a client asking in a loop must not flood the log */
        bool kernels = m.type == TTM_POC_DUMP_KERNELS;
        uint64_t now = ttm__now_ns();
        if (P->last_dump_ns[kernels] != 0 && now - P->last_dump_ns[kernels] < POC_DUMP_GAP_NS) {
            P->dumps_skipped++;
            POC_LOG(d, DEBUG, "legacy client pid %u: %s within a second of the last one: "
                              "skipped",
                    c->pid, ttm__poc_type_name(m.type));
            break;
        }
        P->last_dump_ns[kernels] = now;
        dump_report(d, c, kernels);
        break;
    }
    default: /* RESPONSE, DEVICE_INFO_RESPONSE: the server's own types */
        if (!P->response_logged)
            POC_LOG(d, WARN, "legacy client pid %u sent a %s message, which only the server "
                             "sends: ignored (counted, logged once)",
                    c->pid, ttm__poc_type_name(m.type));
        P->response_logged = true;
        break;
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
        if (avail < 40)
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
            if (avail < TTM_POC_MAX_SIZE + 40 && !c->eof && !c->idle)
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

static void conn_read(ttm_daemon *d, poc_conn *c)
{
    size_t budget = POC_READ_BUDGET;
    while (!c->dead && !c->eof && !c->stalled && budget > 0 && c->inlen < POC_IN_CAP) {
        ssize_t n = recv(c->fd, c->in + c->inlen, POC_IN_CAP - c->inlen, MSG_DONTWAIT);
        if (n > 0) {
            c->inlen += (size_t)n;
            budget -= (size_t)n < budget ? (size_t)n : budget;
            c->last_rx_ns = ttm__now_ns();
            c->idle = false;
            conn_process(d, c);
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
    log_flush(d->poc);
}

/* ---- entry points ---------------------------------------------------------------------------- */

/* Device-info events for devices 0..N-1 with the --arch profile. */
static void announce_devices(ttm_daemon *d)
{
    const ttm_arch_profile *p = ttm__arch_profile(d->cfg.default_arch);
    for (uint32_t i = 0; i < d->cfg.devices && p != NULL; i++) {
        ttm_event ev;
        memset(&ev, 0, sizeof ev);
        ev.kind = TTM_EV_DEVICE_INFO;
        ev.device = (uint16_t)i;
        ev.ts = ttm__now_ns();
        ev.dram_capacity = ttm__arch_dram_bytes(p);
        ev.l1_capacity = ttm__arch_l1_bytes(p);
        ev.arch = (uint32_t)p->arch;
        ev.worker_cores = p->worker_cores;
        ev.l1_per_core = p->l1_per_core;
        ev.dram_channels = p->dram_channels;
        ttm_registry_apply(d->reg, 0, &ev);
    }
}

int ttm__poc_open(ttm_daemon *d, char *msg, size_t msg_len)
{
    announce_devices(d);
    if (d->cfg.poc_path[0] == '\0')
        return TTM_OK;
    ttm_poc *P = ttm__calloc(1, sizeof *P);
    if (P == NULL) {
        snprintf(msg, msg_len, "out of memory for the legacy listener");
        return TTM_ENOMEM;
    }
    P->watch = ttm__calloc(POC_WATCH_MAX, sizeof *P->watch);
    if (P->watch == NULL) {
        snprintf(msg, msg_len, "out of memory for the legacy listener");
        goto out_free_state;
    }
    P->listen_fd = ttm__listen_unix(d->cfg.poc_path, 0600, "--poc-socket=", msg, msg_len);
    if (P->listen_fd < 0) {
        int err = P->listen_fd;
        ttm__free(P->watch);
        ttm__free(P);
        return err;
    }
    P->listen_ep = (ttm_ep){TTM_EP_POC_LISTEN, P};
    d->poc = P;
    return TTM_OK;

out_free_state:
    ttm__free(P);
    return TTM_ENOMEM;
}

int ttm__poc_watch(ttm_daemon *d)
{
    if (d->poc == NULL)
        return TTM_OK;
    TTM_LOG(INFO, "legacy allocation-server protocol on %s (%s%s)", d->cfg.poc_path,
            d->cfg.poc_size ? "messages forced to " : "message size detected per connection",
            d->cfg.poc_size == 72    ? "72 bytes"
            : d->cfg.poc_size == 112 ? "112 bytes"
            : d->cfg.poc_size == 144 ? "144 bytes"
                                     : "");
    return ttm__ep_add(d, d->poc->listen_fd, EPOLLIN, &d->poc->listen_ep);
}

void ttm__poc_accept(ttm_daemon *d)
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
        if (why == NULL && (proc = ttm__proc_attach(d, (uint32_t)cred.pid, cred.uid)) == NULL)
            why = "the daemon's process table is full";
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
        c->ep = (ttm_ep){TTM_EP_POC, c};
        c->fd = fd;
        c->pid = (uint32_t)cred.pid;
        c->uid = cred.uid;
        c->proc = proc;
        c->size = d->cfg.poc_size;
        c->last_rx_ns = ttm__now_ns();
        c->next = P->conns;
        if (P->conns)
            P->conns->prev = c;
        P->conns = c;
        P->nconns++;
        P->connections++;
        watch_remove(P, c->pid); /* it runs and speaks again */
        ttm_event start;
        memset(&start, 0, sizeof start);
        start.kind = TTM_EV_PROC_START;
        start.ts = ttm__now_ns();
        ttm_registry_apply(d->reg, c->pid, &start); /* a no-op for a process already known */
        c->interest = EPOLLIN | EPOLLRDHUP;
        if (ttm__ep_add(d, fd, c->interest, &c->ep) != TTM_OK) {
            POC_LOG(d, ERROR, "cannot watch a legacy client socket: %s", strerror(errno));
            conn_close(d, c, true, "cannot be watched");
            continue;
        }
        POC_LOG(d, INFO, "pid %u (%s) uid %u connected to the legacy socket", c->pid,
                proc->name[0] ? proc->name : "?", c->uid);
    }
}

void ttm__poc_on_event(ttm_daemon *d, void *conn, uint32_t events)
{
    poc_conn *c = conn;
    if (d->poc == NULL || c->dead)
        return;
    conn_run(d, c, events);
}

void ttm__poc_tick(ttm_daemon *d)
{
    ttm_poc *P = d->poc;
    if (P == NULL)
        return;
    uint64_t now = ttm__now_ns();
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
    if (d->ticks % (1000 / TTM_DAEMON_TICK_MS) != 0)
        return;
    for (size_t i = 0; i < P->nwatch;) {
        uint32_t pid = P->watch[i];
        const ttm_dproc *p = ttm__proc_find(d, pid);
        if (ttm__poc_holds(d, pid) || ttm__session_holds(d, pid) || (p != NULL && p->exited)) {
            /* reconnected, or a ring session of it settled its exit */
            P->watch[i] = P->watch[--P->nwatch];
        } else if (ttm__process_gone(pid)) {
            P->watch[i] = P->watch[--P->nwatch];
            settle_exit(d, pid, "gone after closing its legacy connection");
        } else {
            i++;
        }
    }
    log_flush(P);
}

void ttm__poc_fill(const ttm_daemon *d, ttm_report_legacy *out)
{
    memset(out, 0, sizeof *out);
    const ttm_poc *P = d->poc;
    if (P == NULL)
        return;
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
    out->rejected = P->rejected + P->dumps_skipped;
    _Static_assert(TTM_POC_TYPE_MAX < TTM_REPORT_LEGACY_TYPES, "every type has a counter");
    out->ntypes = TTM_POC_TYPE_MAX + 1;
    for (unsigned t = 0; t <= TTM_POC_TYPE_MAX; t++)
        out->messages[t] = P->messages[t];
}

void ttm__poc_reap(ttm_daemon *d)
{
    ttm_poc *P = d->poc;
    if (P == NULL)
        return;
    while (P->dead != NULL) {
        poc_conn *c = P->dead;
        P->dead = c->next;
        ttm__free(c);
    }
}

void ttm__poc_close(ttm_daemon *d)
{
    ttm_poc *P = d->poc;
    if (P == NULL)
        return;
    while (P->conns != NULL) {
        poc_conn *c = P->conns;
        uint32_t pid = c->pid;
        conn_close(d, c, false, "daemon stopping");
        if (!ttm__poc_holds(d, pid) && !ttm__session_holds(d, pid) && ttm__process_gone(pid))
            settle_exit(d, pid, "legacy connection closed");
    }
    for (size_t i = 0; i < P->nwatch; i++)
        if (ttm__process_gone(P->watch[i]))
            settle_exit(d, P->watch[i], "gone after closing its legacy connection");
    ttm__poc_reap(d);
    log_flush(P);
    char a[TTM_FMT_LEN];
    TTM_LOG(INFO, "legacy protocol: %s connections (%llu refused, %llu closed for bad "
                  "messages), %llu bad messages, %llu resynchronisations",
            ttm__fmt_count(a, P->connections), (unsigned long long)P->refused,
            (unsigned long long)P->closed_bad, (unsigned long long)P->bad,
            (unsigned long long)P->resyncs);
    ttm__ep_del(d, P->listen_fd);
    if (P->listen_fd >= 0) {
        close(P->listen_fd);
        P->listen_fd = -1;
        unlink(d->cfg.poc_path);
    }
    ttm__free(P->watch);
    ttm__free(P);
    d->poc = NULL;
}
