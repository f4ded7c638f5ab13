/*
 * metrics_http.h — ttmemd's Prometheus endpoint: `--metrics-listen [ADDR:]PORT` serves
 * GET /metrics with libmicrohttpd, on threads of its own.
 *
 * The registry belongs to the event loop's thread and the HTTP threads never touch it. A scrape
 * posts a request (an eventfd in the loop's epoll set) and waits, with a timeout, for the text;
 * the loop builds the snapshot exactly as for the query socket (ttm__daemon_snapshot) and
 * hands it over under a mutex; the scrape's thread scans TT-Metal's shared-memory regions
 * (bounded: ttshm.h) and renders with ttm_metrics_render. The loop never waits for HTTP and
 * never touches the directory; slow or hostile HTTP clients cost the HTTP threads, bounded by
 * a connection limit in total and per address, a per-connection memory limit, an idle timeout
 * and a total deadline per request.
 */
#ifndef TTM_DAEMON_METRICS_HTTP_H
#define TTM_DAEMON_METRICS_HTTP_H

#include <stddef.h>
#include <sys/socket.h>

#include "daemon/daemon.h"

#define TTM_METRICS_WAIT_MS 2000       /* a scrape waits this long for the loop, then 503 */
#define TTM_METRICS_MAX_CONNS 64       /* HTTP connections at once; more wait in the backlog */
#define TTM_METRICS_MAX_CONNS_PER_PEER 8 /* from one address: no host can take every slot */
#define TTM_METRICS_CONN_TIMEOUT_S 5   /* an HTTP connection idle this long is closed */
#define TTM_METRICS_DEADLINE_S 10      /* a request not answered this long after the connection
                                        * opened (or its previous answer) is cut, trickle or not */
#define TTM_METRICS_CONN_MEMORY 32768  /* bytes a connection may use for its request */
#define TTM_METRICS_THREADS 2          /* libmicrohttpd's polling threads */
#define TTM_METRICS_ADDR_TEXT 64       /* "[ffff:...:ffff]:65535" and its NUL */

typedef struct ttm_metrics_http ttm_metrics_http;

/* A parsed --metrics-listen value. */
typedef struct ttm_metrics_addr {
    struct sockaddr_storage sa;
    socklen_t len;
    char text[TTM_METRICS_ADDR_TEXT]; /* canonical: "127.0.0.1:9464", "[::1]:9464" */
} ttm_metrics_addr;

/* Parses "[ADDR:]PORT": PORT alone means 127.0.0.1:PORT; ADDR is a numeric IPv4 address,
 * "localhost" (127.0.0.1) or an IPv6 address in brackets ("[::1]:9464"); PORT is 1..65535.
 * Returns 0, or TTM_EINVAL with one line in msg (msg_len bytes) saying what is wrong. */
int ttm__metrics_addr_parse(const char *spec, ttm_metrics_addr *out, char *msg, size_t msg_len);

/* When d->cfg.metrics_listen is set: binds and listens on it and starts the HTTP threads
 * (signals blocked in them, so that the loop's signalfd gets every signal). Call after any
 * fork and before ttm__daemon_run. Sets d->metrics. Returns 0 (also when metrics are off),
 * TTM_EIO (cannot listen: msg says on what and why, e.g. the port is in use), TTM_EINVAL or
 * TTM_ENOMEM; on failure nothing is left open. */
int ttm__metrics_http_open(ttm_daemon *d, char *msg, size_t msg_len);

/* Adds the endpoint's request eventfd to d->loop: a scrape's request is answered by the loop
 * (it builds the snapshot and hands it over; it never blocks on HTTP). No-op when metrics are
 * off. Returns 0 or TTM_EIO. */
int ttm__metrics_http_register(ttm_daemon *d);

/* Stops the HTTP threads (waiting scrapes get 503 at once), closes the listener and frees the
 * endpoint; d->metrics becomes NULL. No-op when metrics are off. */
void ttm__metrics_http_close(ttm_daemon *d);

#endif /* TTM_DAEMON_METRICS_HTTP_H */
