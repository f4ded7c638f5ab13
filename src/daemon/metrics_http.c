/*
 * metrics_http.c — ttmemd's Prometheus endpoint (metrics_http.h): GET /metrics over
 * libmicrohttpd, and the hand-over between its threads and the event loop.
 *
 * Two sides share one small state under a mutex: tickets (a scrape takes the next number and
 * waits until the snapshot served covers it), the latest snapshot (reference-counted: a scrape
 * rendering from it keeps it alive after the loop has moved on to a newer one), the counts of
 * answered scrapes, and the open connections. The HTTP side never touches the registry; the
 * loop side never waits on a condition, only takes the mutex for a few stores, and does
 * nothing but the snapshot: TT-Metal's directory is scanned and the text rendered by the
 * scrape's own HTTP thread. Scrapes that arrive while a snapshot is being built are answered
 * by the next build, so a burst of scrapes costs the loop one build each round.
 *
 * Connections are bounded by libmicrohttpd (TTM_METRICS_MAX_CONNS in total, an idle timeout)
 * and here: at most TTM_METRICS_MAX_CONNS_PER_PEER from one address (more are shut down as they
 * start), and a total deadline per request (TTM_METRICS_DEADLINE_S from the connection's start
 * or its previous answer) that a watchdog thread enforces by shutting the socket down, which
 * libmicrohttpd then closes. libmicrohttpd reports a connection closed
 * (MHD_CONNECTION_NOTIFY_CLOSED) before it closes its socket, and the record is removed under
 * the mutex the watchdog holds, so a shutdown() never reaches a descriptor reused since.
 */
#include "daemon/metrics_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/snapshot.h"
#include "common/ttshm.h"
#include "core/metrics.h"
#include "daemon/log.h"

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* One snapshot built by the loop. refs: the endpoint's "latest" pointer, plus one per scrape
 * rendering from it. */
typedef struct msnap {
    atomic_uint refs;
    ttm_report snap;
} msnap;

/* An HTTP connection (libmicrohttpd's socket context), in ttm_metrics_http.conns. */
typedef struct hconn {
    struct hconn *prev, *next;
    int fd;
    struct sockaddr_storage addr;
    uint64_t since_ns; /* its start, or the end of its last request */
    bool cut;          /* shut down: libmicrohttpd closes it next */
} hconn;

struct ttm_metrics_http {
    ttm_watch w;               /* on efd, in the loop */
    struct MHD_Daemon *mhd;
    int efd;                   /* scrapes ring it; the loop reads it */
    ttm_metrics_addr addr;
    const char *shm_dir;       /* NULL: TT-Metal's default directory */
    char shm_dir_buf[PATH_MAX];

    /* Shared with the HTTP threads, under mu. */
    pthread_mutex_t mu;
    pthread_cond_t cv;         /* broadcast when served moves, or on closing */
    pthread_cond_t wd_cv;      /* wakes the watchdog: a connection started, or closing */
    uint64_t requested;        /* tickets handed out */
    uint64_t served;           /* snap answers every ticket up to this (written by the loop) */
    bool bell_pending;         /* efd was rung and the loop has not yet taken the tickets */
    bool closing;
    msnap *snap;               /* the latest snapshot; NULL when the last build failed */
    uint64_t ok, unavailable;  /* scrapes answered 200 and 503 */
    uint64_t builds, build_ns; /* the loop's snapshot builds */
    hconn *conns;
    uint32_t nconns;
    uint64_t cut_deadline, refused_peer;
    pthread_t watchdog;
    bool watchdog_running;
};

/* ---- the snapshot and its references ------------------------------------------------------ */

static void snap_release(msnap *m)
{
    if (m == NULL || atomic_fetch_sub(&m->refs, 1) != 1)
        return;
    ttm_report_clear(&m->snap);
    ttm__free(m);
}

/* ---- addresses ------------------------------------------------------------------------------ */

static int parse_port(const char *s, uint16_t *out)
{
    size_t n = strspn(s, "0123456789");
    if (n == 0 || n > 5 || s[n] != '\0')
        return TTM_EINVAL;
    unsigned long v = strtoul(s, NULL, 10);
    if (v < 1 || v > 65535)
        return TTM_EINVAL;
    *out = (uint16_t)v;
    return TTM_OK;
}

int ttm__metrics_addr_parse(const char *spec, ttm_metrics_addr *out, char *msg, size_t msg_len)
{
    memset(out, 0, sizeof *out);
    char host[TTM_METRICS_ADDR_TEXT] = "127.0.0.1";
    const char *port = spec;
    bool v6 = false;
    if (spec == NULL || spec[0] == '\0') {
        snprintf(msg, msg_len, "--metrics-listen is empty: give [ADDR:]PORT, e.g. 9464");
        return TTM_EINVAL;
    }
    if (spec[0] == '[') {
        const char *end = strchr(spec, ']');
        size_t n = end != NULL ? (size_t)(end - spec - 1) : 0;
        if (end == NULL || end[1] != ':' || n == 0 || n >= sizeof host) {
            snprintf(msg, msg_len,
                     "--metrics-listen '%.80s': an IPv6 address goes in brackets followed by "
                     ":PORT, as in [::1]:9464",
                     spec);
            return TTM_EINVAL;
        }
        memcpy(host, spec + 1, n);
        host[n] = '\0';
        port = end + 2;
        v6 = true;
    } else if (strchr(spec, ':') != NULL) {
        const char *colon = strchr(spec, ':');
        size_t n = (size_t)(colon - spec);
        if (strchr(colon + 1, ':') != NULL) {
            snprintf(msg, msg_len,
                     "--metrics-listen '%.80s': put an IPv6 address in brackets, as in "
                     "[::1]:9464",
                     spec);
            return TTM_EINVAL;
        }
        if (n == 0 || n >= sizeof host) {
            snprintf(msg, msg_len,
                     "--metrics-listen '%.80s': give ADDR:PORT (0.0.0.0:PORT for every "
                     "interface), or PORT alone for 127.0.0.1",
                     spec);
            return TTM_EINVAL;
        }
        memcpy(host, spec, n);
        host[n] = '\0';
        port = colon + 1;
    }
    uint16_t p = 0;
    if (parse_port(port, &p) != TTM_OK) {
        snprintf(msg, msg_len,
                 "--metrics-listen '%.80s': the port must be a number from 1 to 65535", spec);
        return TTM_EINVAL;
    }
    if (v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&out->sa;
        if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1) {
            snprintf(msg, msg_len, "--metrics-listen '%.80s': '%s' is not an IPv6 address",
                     spec, host);
            return TTM_EINVAL;
        }
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(p);
        out->len = sizeof *a;
        char text[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
        snprintf(out->text, sizeof out->text, "[%s]:%u", text, (unsigned)p);
        return TTM_OK;
    }
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof host, "127.0.0.1");
    struct sockaddr_in *a = (struct sockaddr_in *)&out->sa;
    if (inet_pton(AF_INET, host, &a->sin_addr) != 1) {
        snprintf(msg, msg_len,
                 "--metrics-listen '%.80s': '%s' is not an IPv4 address (give a numeric address, "
                 "localhost, or [IPv6])",
                 spec, host);
        return TTM_EINVAL;
    }
    a->sin_family = AF_INET;
    a->sin_port = htons(p);
    out->len = sizeof *a;
    char text[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
    snprintf(out->text, sizeof out->text, "%s:%u", text, (unsigned)p);
    return TTM_OK;
}

/* A bound, listening, non-blocking socket on a, or -1 with msg saying why. */
static int listen_socket(const ttm_metrics_addr *a, char *msg, size_t msg_len)
{
    int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int on = 1;
    if (fd >= 0) {
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
        if (a->sa.ss_family == AF_INET6)
            (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
        if (bind(fd, (const struct sockaddr *)&a->sa, a->len) == 0 &&
            listen(fd, TTM_METRICS_MAX_CONNS) == 0)
            return fd;
    }
    int e = errno;
    const char *hint = e == EADDRINUSE      ? ": something else listens there; stop it or choose "
                                              "another --metrics-listen port"
                       : e == EADDRNOTAVAIL ? ": no interface of this host has that address"
                       : e == EACCES        ? ": ports below 1024 need privileges"
                       : e == EAFNOSUPPORT  ? ": this host has no IPv6"
                                            : "";
    snprintf(msg, msg_len, "cannot listen for metrics on %s: %s%s", a->text, strerror(e), hint);
    if (fd >= 0)
        close(fd);
    return -1;
}

/* ---- the HTTP side (libmicrohttpd's threads) ------------------------------------------------ */

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    if (TTM_LOG_DEBUG > ttm__log_level)
        return;
    char line[256];
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\r\n")] = '\0';
    TTM_LOG(DEBUG, "metrics http: %s", line);
}

static enum MHD_Result reply_static(struct MHD_Connection *c, unsigned status, const char *body,
                                    const char *allow)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    if (allow != NULL)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* Takes a ticket and rings the loop when nobody has yet; scans TT-Metal's directory while the
 * loop builds; then waits up to TTM_METRICS_WAIT_MS for a snapshot that covers the ticket.
 * Returns the snapshot with a reference for the caller (and the regions, and the endpoint's
 * counters in *st), or NULL (the loop did not answer in time, could not build, or the
 * endpoint is closing; *regions is then NULL). */
static msnap *await_snap(ttm_metrics_http *h, ttm_ttshm_region **regions, size_t *nregions,
                         ttm_metrics_scrapes *st)
{
    uint64_t t0 = ttm__mono_ns();
    struct timespec deadline = ttm__mono_ts(t0 + (uint64_t)TTM_METRICS_WAIT_MS * 1000000u);
    pthread_mutex_lock(&h->mu);
    uint64_t ticket = ++h->requested;
    bool ring = !h->bell_pending && !h->closing;
    h->bell_pending = true;
    pthread_mutex_unlock(&h->mu);
    if (ring) {
        uint64_t one = 1;
        (void)!write(h->efd, &one, sizeof one);
    }
    ttm_ttshm_scan_stats sst;
    if (ttm__ttshm_scan_ex(h->shm_dir, regions, nregions, &sst) != TTM_OK)
        *nregions = 0; /* no directory: no regions; out of memory: none this time */
    pthread_mutex_lock(&h->mu);
    int rc = 0;
    while (h->served < ticket && !h->closing && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&h->cv, &h->mu, &deadline);
    msnap *m = NULL;
    *st = (ttm_metrics_scrapes){
        .ok = h->ok,
        .unavailable = h->unavailable,
        .builds = h->builds,
        .build_ns = h->build_ns,
        .conns = h->nconns,
        .max_conns = TTM_METRICS_MAX_CONNS,
        .max_conns_per_peer = TTM_METRICS_MAX_CONNS_PER_PEER,
        .deadline_s = TTM_METRICS_DEADLINE_S,
        .cut_deadline = h->cut_deadline,
        .refused_peer = h->refused_peer,
        .shm_entries = sst.entries,
        .shm_capped = sst.entries_capped,
        .shm_skipped = sst.regions_skipped,
    };
    if (h->served >= ticket && h->snap != NULL) {
        m = h->snap;
        atomic_fetch_add(&m->refs, 1);
        h->ok++;
    } else {
        h->unavailable++;
    }
    pthread_mutex_unlock(&h->mu);
    if (m == NULL) {
        ttm__free(*regions);
        *regions = NULL;
    }
    return m;
}

/* The exposition of one scrape, or NULL (out of memory). */
static ttm_bytes *render(const msnap *m, const ttm_ttshm_region *regions, size_t n,
                            const ttm_metrics_scrapes *st)
{
    ttm_bytes b = {0};
    int err = ttm_metrics_render(&m->snap, regions, n, &b);
    if (err == TTM_OK)
        err = ttm_metrics_render_scrapes(st, &b);
    if (err != TTM_OK) {
        ttm__bytes_free(&b);
        return NULL;
    }
    ttm_bytes *out = ttm__malloc(sizeof *out);
    if (out != NULL)
        *out = b;
    else
        ttm__bytes_free(&b);
    return out;
}

/* libmicrohttpd's free callback of a response: the text rendered for one scrape. */
static void buf_release(void *cls)
{
    ttm_bytes *b = cls;
    ttm__bytes_free(b);
    ttm__free(b);
}

/* libmicrohttpd's access handler. Wrong paths and methods are answered on the first call
 * (their body, if any, is never read; the connection closes). GET /metrics is answered once
 * the whole request is in, so that the connection can be kept alive for the next scrape. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    static char headers_seen;
    (void)version;
    (void)upload_data;
    ttm_metrics_http *h = cls;
    if (strcmp(url, "/metrics") != 0)
        return reply_static(c, MHD_HTTP_NOT_FOUND, "not found: ttmemd serves GET /metrics\n",
                            NULL);
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return reply_static(c, MHD_HTTP_METHOD_NOT_ALLOWED,
                            "method not allowed: /metrics answers GET and HEAD\n",
                            "GET, HEAD");
    if (*con_cls == NULL) {
        *con_cls = &headers_seen;
        return MHD_YES;
    }
    if (*upload_data_size != 0) { /* a body on a GET: read and ignored */
        *upload_data_size = 0;
        return MHD_YES;
    }
    ttm_ttshm_region *regions = NULL;
    size_t nregions = 0;
    ttm_metrics_scrapes st;
    msnap *m = await_snap(h, &regions, &nregions, &st);
    if (m == NULL)
        return reply_static(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                            "ttmemd did not produce the metrics in time; retry\n", NULL);
    ttm_bytes *b = render(m, regions, nregions, &st);
    snap_release(m);
    ttm__free(regions);
    if (b == NULL)
        return reply_static(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                            "ttmemd ran out of memory rendering the metrics; retry\n", NULL);
    struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback_cls(
        b->len, b->data, buf_release, b);
    if (r == NULL) {
        buf_release(b);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, CONTENT_TYPE);
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r); /* the connection holds it (and through it, b) while sending */
    return ret;
}

/* ---- connections: per-address limit and the per-request deadline ---------------------------- */

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return false;
    if (a->ss_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    if (a->ss_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                      &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr)) == 0;
    return true;
}

/* MHD_OPTION_NOTIFY_CONNECTION: records a connection as it starts (and shuts it down at once
 * when its address already has TTM_METRICS_MAX_CONNS_PER_PEER), forgets it as it closes. */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    ttm_metrics_http *h = cls;
    if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        hconn *k = *socket_context;
        if (k == NULL)
            return;
        pthread_mutex_lock(&h->mu);
        if (k->prev)
            k->prev->next = k->next;
        else
            h->conns = k->next;
        if (k->next)
            k->next->prev = k->prev;
        h->nconns--;
        pthread_mutex_unlock(&h->mu);
        ttm__free(k);
        *socket_context = NULL;
        return;
    }
    const union MHD_ConnectionInfo *fd = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    const union MHD_ConnectionInfo *ad =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    hconn *k = ttm__calloc(1, sizeof *k);
    if (k == NULL || fd == NULL) {
        ttm__free(k);
        if (fd != NULL)
            shutdown(fd->connect_fd, SHUT_RDWR); /* cannot be bounded: not served */
        return;
    }
    k->fd = fd->connect_fd;
    k->since_ns = ttm__mono_ns();
    if (ad != NULL && ad->client_addr != NULL)
        memcpy(&k->addr, ad->client_addr,
               ad->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                      : sizeof(struct sockaddr_in));
    pthread_mutex_lock(&h->mu);
    unsigned same = 0;
    for (const hconn *o = h->conns; o != NULL; o = o->next)
        same += !o->cut && same_addr(&o->addr, &k->addr);
    k->next = h->conns;
    if (h->conns)
        h->conns->prev = k;
    h->conns = k;
    h->nconns++;
    if (same >= TTM_METRICS_MAX_CONNS_PER_PEER) {
        k->cut = true;
        h->refused_peer++;
        shutdown(k->fd, SHUT_RDWR);
    }
    pthread_mutex_unlock(&h->mu);
    *socket_context = k;
}

/* MHD_OPTION_NOTIFY_COMPLETED: a request was answered; the next one gets a whole deadline. */
static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)con_cls;
    (void)toe;
    ttm_metrics_http *h = cls;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    if (ci == NULL || ci->socket_context == NULL)
        return;
    hconn *k = ci->socket_context;
    pthread_mutex_lock(&h->mu);
    k->since_ns = ttm__mono_ns();
    pthread_mutex_unlock(&h->mu);
}

/* The watchdog thread: shuts down every connection whose request is not answered within
 * TTM_METRICS_DEADLINE_S, sleeping until the next one is due. */
static void *watchdog_main(void *arg)
{
    ttm_metrics_http *h = arg;
    const uint64_t limit = (uint64_t)TTM_METRICS_DEADLINE_S * 1000000000u;
    uint64_t logged_ns = 0, logged_cut = 0;
    pthread_mutex_lock(&h->mu);
    while (!h->closing) {
        uint64_t now = ttm__mono_ns(), next = now + limit;
        for (hconn *k = h->conns; k != NULL; k = k->next) {
            if (k->cut)
                continue;
            if (now - k->since_ns >= limit) {
                k->cut = true;
                h->cut_deadline++;
                shutdown(k->fd, SHUT_RDWR);
            } else if (k->since_ns + limit < next) {
                next = k->since_ns + limit;
            }
        }
        if (h->cut_deadline != logged_cut && (logged_ns == 0 || now - logged_ns >= 60000000000ull)) {
            TTM_LOG(INFO,
                    "metrics: %llu connections closed at the %d s request deadline so far (this "
                    "line at most once a minute)",
                    (unsigned long long)h->cut_deadline, TTM_METRICS_DEADLINE_S);
            logged_ns = now;
            logged_cut = h->cut_deadline;
        }
        struct timespec ts = ttm__mono_ts(next);
        pthread_cond_timedwait(&h->wd_cv, &h->mu, &ts);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

/* ---- the loop's side ------------------------------------------------------------------------ */

/* Builds one snapshot: what the query socket would send for `ttmem status`. Returns it with
 * one reference, or NULL (logged). */
static msnap *build(ttm_daemon *d)
{
    msnap *m = ttm__calloc(1, sizeof *m);
    if (m == NULL) {
        TTM_LOG(WARN, "metrics: cannot build a scrape: %s", ttm_strerror(TTM_ENOMEM));
        return NULL;
    }
    atomic_init(&m->refs, 1u);
    ttm_snap_query q = {.sections = TTM_SNAP_WANT_STATUS};
    int err = ttm__daemon_snapshot(d, &q, &m->snap);
    if (err != TTM_OK) {
        TTM_LOG(WARN, "metrics: cannot build a scrape: %s", ttm_strerror(err));
        ttm__free(m);
        return NULL;
    }
    return m;
}

/* The loop's side of a scrape (the request eventfd is readable): builds the text the waiting
 * scrapes asked for and hands it over. Never blocks on HTTP. */
static void on_request_posted(ttm_loop *l, ttm_watch *w, uint32_t events)
{
    (void)l;
    (void)events;
    ttm_daemon *d = w->owner;
    ttm_metrics_http *h = d->metrics;
    if (h == NULL)
        return;
    uint64_t bells;
    while (read(h->efd, &bells, sizeof bells) < 0 && errno == EINTR)
        ;
    pthread_mutex_lock(&h->mu);
    uint64_t upto = h->requested;
    h->bell_pending = false;
    bool late = upto == h->served; /* a late bell for tickets already answered */
    pthread_mutex_unlock(&h->mu);
    if (late)
        return;
    uint64_t t0 = ttm__mono_ns();
    msnap *m = build(d);
    uint64_t spent = ttm__mono_ns() - t0;
    pthread_mutex_lock(&h->mu);
    msnap *old = h->snap;
    h->snap = m;
    h->served = upto;
    h->builds++;
    h->build_ns += spent;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    snap_release(old);
    TTM_LOG(DEBUG, "metrics: scrape snapshot built in %.3f ms", (double)spent / 1e6);
}

/* ---- life ----------------------------------------------------------------------------------- */

int ttm__metrics_http_open(ttm_daemon *d, char *msg, size_t msg_len)
{
    d->metrics = NULL;
    if (d->cfg.metrics_listen[0] == '\0')
        return TTM_OK;
    ttm_metrics_http *h = ttm__calloc(1, sizeof *h);
    if (h == NULL) {
        snprintf(msg, msg_len, "cannot start the metrics endpoint: %s", ttm_strerror(TTM_ENOMEM));
        return TTM_ENOMEM;
    }
    int err = ttm__metrics_addr_parse(d->cfg.metrics_listen, &h->addr, msg, msg_len);
    if (err != TTM_OK)
        goto out_free;
    const char *dir = d->cfg.shm_dir[0] != '\0' ? d->cfg.shm_dir : getenv("TTMEM_SHM_DIR");
    if (dir != NULL && dir[0] != '\0') {
        snprintf(h->shm_dir_buf, sizeof h->shm_dir_buf, "%s", dir);
        h->shm_dir = h->shm_dir_buf;
    }
    err = TTM_EIO;
    h->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (h->efd < 0) {
        snprintf(msg, msg_len, "cannot start the metrics endpoint: eventfd: %s", strerror(errno));
        goto out_free;
    }
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0) {
        snprintf(msg, msg_len, "cannot start the metrics endpoint: out of resources");
        goto out_close_efd;
    }
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int cerr = pthread_cond_init(&h->cv, &ca);
    if (cerr == 0 && pthread_cond_init(&h->wd_cv, &ca) != 0) {
        pthread_cond_destroy(&h->cv);
        cerr = 1;
    }
    pthread_condattr_destroy(&ca);
    if (cerr != 0) {
        snprintf(msg, msg_len, "cannot start the metrics endpoint: out of resources");
        goto out_close_efd;
    }
    pthread_mutex_init(&h->mu, NULL);
    int fd = listen_socket(&h->addr, msg, msg_len);
    if (fd < 0)
        goto out_destroy_sync;
    /* The HTTP threads inherit this mask: every signal stays for the loop's signalfd. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    h->mhd = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG |
            (h->addr.sa.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
        0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned int)TTM_METRICS_THREADS, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned int)TTM_METRICS_MAX_CONNS, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)TTM_METRICS_CONN_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)TTM_METRICS_CONN_MEMORY, MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_END);
    /* (the per-address limit is ours, in on_connection, so that every refusal is counted) */
    bool wd = h->mhd != NULL && pthread_create(&h->watchdog, NULL, watchdog_main, h) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (h->mhd == NULL) {
        snprintf(msg, msg_len, "cannot start the HTTP server for metrics on %s", h->addr.text);
        if (fcntl(fd, F_GETFD) >= 0) /* libmicrohttpd may or may not have closed it */
            close(fd);
        goto out_destroy_sync;
    }
    if (!wd) {
        snprintf(msg, msg_len, "cannot start the metrics endpoint's watchdog thread");
        MHD_stop_daemon(h->mhd);
        goto out_destroy_sync;
    }
    h->watchdog_running = true;
    ttm__watch_init(&h->w, on_request_posted, d);
    d->metrics = h;
    TTM_LOG(INFO, "metrics: serving http://%s/metrics", h->addr.text);
    return TTM_OK;

out_destroy_sync:
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
    pthread_cond_destroy(&h->wd_cv);
out_close_efd:
    close(h->efd);
out_free:
    ttm__free(h);
    return err;
}

int ttm__metrics_http_register(ttm_daemon *d)
{
    ttm_metrics_http *h = d->metrics;
    if (h == NULL)
        return TTM_OK;
    return ttm__loop_add(d->loop, &h->w, h->efd, EPOLLIN);
}

void ttm__metrics_http_close(ttm_daemon *d)
{
    ttm_metrics_http *h = d->metrics;
    if (h == NULL)
        return;
    pthread_mutex_lock(&h->mu);
    h->closing = true;
    pthread_cond_broadcast(&h->cv);
    pthread_cond_broadcast(&h->wd_cv);
    pthread_mutex_unlock(&h->mu);
    if (h->watchdog_running)
        pthread_join(h->watchdog, NULL);
    MHD_stop_daemon(h->mhd); /* joins its threads, closes the listener and every connection */
    if (d->loop != NULL)
        ttm__loop_del(d->loop, &h->w);
    close(h->efd);
    snap_release(h->snap);
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
    pthread_cond_destroy(&h->wd_cv);
    ttm__free(h);
    d->metrics = NULL;
}
