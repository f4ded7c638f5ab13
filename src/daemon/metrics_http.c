/*
 * metrics_http.c — ttmemd's Prometheus endpoint (metrics_http.h): GET /metrics over
 * libmicrohttpd, and the hand-over between its threads and the event loop.
 *
 * Two sides share one small state under a mutex: tickets (a scrape takes the next number and
 * waits until the text served covers it), the latest text (reference-counted: a response
 * being written keeps it alive after the loop has moved on to a newer one), and the counts of
 * answered scrapes. The HTTP side never touches the registry; the loop side never waits on a
 * condition, only takes the mutex for a few stores. Scrapes that arrive while a text is being
 * built are answered by the next build, so a burst of scrapes costs the loop one build each
 * round, not one per scrape.
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

/* One rendered exposition. refs: the endpoint's "latest" pointer, plus one per response that
 * is being sent from it. */
typedef struct mtext {
    atomic_uint refs;
    ttm_snap_buf buf;
} mtext;

struct ttm_metrics_http {
    ttm_ep ep;                 /* TTM_EP_METRICS, on efd */
    struct MHD_Daemon *mhd;
    int efd;                   /* scrapes ring it; the loop reads it */
    ttm_metrics_addr addr;
    const char *shm_dir;       /* NULL: TT-Metal's default directory */
    char shm_dir_buf[PATH_MAX];

    /* Shared with the HTTP threads, under mu. */
    pthread_mutex_t mu;
    pthread_cond_t cv;         /* broadcast when served moves, or on closing */
    uint64_t requested;        /* tickets handed out */
    uint64_t served;           /* text answers every ticket up to this (written by the loop) */
    bool bell_pending;         /* efd was rung and the loop has not yet taken the tickets */
    bool closing;
    mtext *text;               /* the latest text; NULL when the last build failed */
    uint64_t ok, unavailable;  /* scrapes answered 200 and 503 */

    /* The loop's alone. */
    uint64_t builds, build_ns;
    size_t last_len;           /* size of the last text: the next one's first allocation */
};

/* ---- the text and its references -------------------------------------------------------- */

static void text_release(void *cls)
{
    mtext *t = cls;
    if (t == NULL || atomic_fetch_sub(&t->refs, 1) != 1)
        return;
    ttm__snap_buf_free(&t->buf);
    ttm__free(t);
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

/* Takes a ticket, rings the loop when nobody has yet, and waits up to TTM_METRICS_WAIT_MS for
 * a text that covers it. Returns the text with a reference for the caller, or NULL (the loop
 * did not answer in time, could not build, or the endpoint is closing). */
static mtext *await_text(ttm_metrics_http *h)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += TTM_METRICS_WAIT_MS / 1000;
    deadline.tv_nsec += (long)(TTM_METRICS_WAIT_MS % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&h->mu);
    uint64_t ticket = ++h->requested;
    bool ring = !h->bell_pending && !h->closing;
    h->bell_pending = true;
    pthread_mutex_unlock(&h->mu);
    if (ring) {
        uint64_t one = 1;
        (void)!write(h->efd, &one, sizeof one);
    }
    pthread_mutex_lock(&h->mu);
    int rc = 0;
    while (h->served < ticket && !h->closing && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&h->cv, &h->mu, &deadline);
    mtext *t = NULL;
    if (h->served >= ticket && h->text != NULL) {
        t = h->text;
        atomic_fetch_add(&t->refs, 1);
        h->ok++;
    } else {
        h->unavailable++;
    }
    pthread_mutex_unlock(&h->mu);
    return t;
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
    mtext *t = await_text(h);
    if (t == NULL)
        return reply_static(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                            "ttmemd did not produce the metrics in time; retry\n", NULL);
    struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback_cls(
        t->buf.len, t->buf.data, text_release, t);
    if (r == NULL) {
        text_release(t);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, CONTENT_TYPE);
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r); /* the connection holds it (and through it, t) while sending */
    return ret;
}

/* ---- the loop's side ------------------------------------------------------------------------ */

/* Builds one text: the snapshot the query socket would send for `ttmem status`, TT-Metal's
 * regions, the exposition, and the endpoint's own counters. Returns it with one reference, or
 * NULL (logged). */
static mtext *build(ttm_daemon *d, ttm_metrics_http *h, const ttm_metrics_scrapes *st)
{
    mtext *t = ttm__calloc(1, sizeof *t);
    if (t == NULL) {
        TTM_LOG(WARN, "metrics: cannot build a scrape: %s", ttm_strerror(TTM_ENOMEM));
        return NULL;
    }
    atomic_init(&t->refs, 1u);
    size_t hint = h->last_len + h->last_len / 8 + 4096;
    t->buf.data = ttm__malloc(hint);
    t->buf.cap = t->buf.data != NULL ? hint : 0;
    ttm_snap_query q = {.sections = TTM_SNAP_WANT_STATUS};
    ttm_snapshot snap;
    int err = ttm__daemon_snapshot(d, &q, &snap);
    if (err == TTM_OK) {
        ttm_ttshm_region *regions = NULL;
        size_t nregions = 0;
        if (ttm__ttshm_scan(h->shm_dir, &regions, &nregions) != TTM_OK)
            nregions = 0; /* no directory: no regions; out of memory: none this time */
        err = ttm_metrics_render(&snap, regions, nregions, &t->buf);
        if (err == TTM_OK)
            err = ttm_metrics_render_scrapes(st, &t->buf);
        ttm__free(regions);
        ttm__snapshot_free(&snap);
    }
    if (err != TTM_OK) {
        TTM_LOG(WARN, "metrics: cannot build a scrape: %s", ttm_strerror(err));
        text_release(t);
        return NULL;
    }
    h->last_len = t->buf.len;
    return t;
}

void ttm__metrics_http_on_event(ttm_daemon *d)
{
    ttm_metrics_http *h = d->metrics;
    if (h == NULL)
        return;
    uint64_t bells;
    while (read(h->efd, &bells, sizeof bells) < 0 && errno == EINTR)
        ;
    pthread_mutex_lock(&h->mu);
    uint64_t upto = h->requested;
    h->bell_pending = false;
    ttm_metrics_scrapes st = {.ok = h->ok, .unavailable = h->unavailable};
    pthread_mutex_unlock(&h->mu);
    if (upto == h->served) /* a late bell for tickets already answered */
        return;
    st.builds = h->builds;
    st.build_ns = h->build_ns;
    uint64_t t0 = ttm__now_ns();
    mtext *t = build(d, h, &st);
    uint64_t spent = ttm__now_ns() - t0;
    h->builds++;
    h->build_ns += spent;
    pthread_mutex_lock(&h->mu);
    mtext *old = h->text;
    h->text = t;
    h->served = upto;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    text_release(old);
    TTM_LOG(DEBUG, "metrics: scrape text of %zu bytes built in %.3f ms",
            t != NULL ? t->buf.len : 0, (double)spent / 1e6);
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
        (unsigned int)TTM_METRICS_MAX_CONNS, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned int)TTM_METRICS_MAX_CONNS_PER_IP, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)TTM_METRICS_CONN_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)TTM_METRICS_CONN_MEMORY, MHD_OPTION_END);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (h->mhd == NULL) {
        snprintf(msg, msg_len, "cannot start the HTTP server for metrics on %s", h->addr.text);
        if (fcntl(fd, F_GETFD) >= 0) /* libmicrohttpd may or may not have closed it */
            close(fd);
        goto out_destroy_sync;
    }
    h->ep = (ttm_ep){TTM_EP_METRICS, h};
    d->metrics = h;
    TTM_LOG(INFO, "metrics: serving http://%s/metrics", h->addr.text);
    return TTM_OK;

out_destroy_sync:
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
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
    return ttm__ep_add(d, h->efd, EPOLLIN, &h->ep);
}

void ttm__metrics_http_close(ttm_daemon *d)
{
    ttm_metrics_http *h = d->metrics;
    if (h == NULL)
        return;
    pthread_mutex_lock(&h->mu);
    h->closing = true;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    MHD_stop_daemon(h->mhd); /* joins its threads, closes the listener and every connection */
    ttm__ep_del(d, h->efd);
    close(h->efd);
    text_release(h->text);
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
    ttm__free(h);
    d->metrics = NULL;
}
