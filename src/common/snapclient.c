/*
 * snapclient.c — the blocking client side of the query protocol (snapshot.h): connect to a
 * daemon's query socket, check who listens there, send one QUERY and read one reply, all
 * within a deadline (clock.h). The CLI and the tests use it; the daemon never does.
 */
#include "common/snapshot.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/paths.h"
#include "common/util.h"
#include "ttmem/ttmem.h"

int ttm__snap_query_path(const char *socket_path, char *buf, size_t len)
{
    if (socket_path == NULL || buf == NULL || len == 0)
        return TTM_EINVAL;
    int n = snprintf(buf, len, "%s.query", socket_path);
    if (n < 0 || (size_t)n >= len || (size_t)n >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        buf[0] = '\0';
        return TTM_ERANGE;
    }
    return TTM_OK;
}

/* Waits for fd to become ready for events until deadline (ms, CLOCK_MONOTONIC). Returns 0,
 * TTM_ETIMEDOUT or TTM_EIO. */
static int wait_until(int fd, short events, int64_t deadline)
{
    for (;;) {
        int left = ttm__ms_left(deadline);
        if (left <= 0)
            return TTM_ETIMEDOUT;
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, left);
        if (r > 0)
            return TTM_OK;
        if (r < 0 && errno != EINTR)
            return TTM_EIO;
    }
}

static int write_all(int fd, const uint8_t *p, size_t n, int64_t deadline)
{
    size_t off = 0;
    while (off < n) {
        ssize_t k = send(fd, p + off, n - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k > 0) {
            off += (size_t)k;
            continue;
        }
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int err = wait_until(fd, POLLOUT, deadline);
            if (err != TTM_OK)
                return err;
            continue;
        }
        return (k < 0 && (errno == EPIPE || errno == ECONNRESET)) ? TTM_ECLOSED : TTM_EIO;
    }
    return TTM_OK;
}

static int read_all(int fd, uint8_t *p, size_t n, int64_t deadline)
{
    size_t off = 0;
    while (off < n) {
        ssize_t k = recv(fd, p + off, n - off, MSG_DONTWAIT);
        if (k > 0) {
            off += (size_t)k;
            continue;
        }
        if (k == 0)
            return TTM_ECLOSED;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            int err = wait_until(fd, POLLIN, deadline);
            if (err != TTM_OK)
                return err;
            continue;
        }
        return errno == ECONNRESET ? TTM_ECLOSED : TTM_EIO;
    }
    return TTM_OK;
}

int ttm__snap_fetch(const char *path, const ttm_snap_query *q, int timeout_ms, ttm_bytes *out,
                    char *msg, size_t msg_len)
{
    memset(out, 0, sizeof *out);
    ttm__set_msg(msg, msg_len, "%s", "");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (path == NULL || strlen(path) >= sizeof sa.sun_path) {
        ttm__set_msg(msg, msg_len, "query socket path is too long");
        return TTM_EINVAL;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int64_t deadline = ttm__mono_ms() + (timeout_ms > 0 ? timeout_ms : 5000);
    ttm_bytes req = {0};
    uint8_t *payload = NULL;
    int err;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        ttm__set_msg(msg, msg_len, "cannot create a socket: %s", strerror(errno));
        return TTM_EIO;
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        ttm__set_msg(msg, msg_len, "cannot connect to %s: %s", path, strerror(errno));
        err = TTM_ECONN;
        goto out_close_fd;
    }
    err = ttm__peer_check(fd, path, msg, msg_len); /* the user's own daemon or root's */
    if (err != TTM_OK)
        goto out_close_fd;
    err = ttm__snap_encode_query(q, &req);
    if (err == TTM_OK)
        err = write_all(fd, req.data, req.len, deadline);
    /* A daemon that refuses the connection (too many) writes an ERROR and closes before it
     * reads the query: the send then fails, but the ERROR is there to be read. */
    int send_err = err;
    if (err != TTM_OK && err != TTM_ECLOSED) {
        ttm__set_msg(msg, msg_len, "sending the query to %s failed: %s", path, ttm_strerror(err));
        goto out_close_fd;
    }
    uint8_t hdr[TTM_SNAP_HDR_SIZE];
    err = read_all(fd, hdr, sizeof hdr, deadline);
    if (err != TTM_OK) {
        if (send_err != TTM_OK)
            err = send_err;
        ttm__set_msg(msg, msg_len, "%s %s failed: %s",
                     send_err != TTM_OK ? "sending the query to" : "reading the reply from",
                     path, ttm_strerror(err));
        goto out_close_fd;
    }
    ttm_snap_frame fr;
    err = ttm__snap_decode_frame(hdr, sizeof hdr, &fr, msg, msg_len);
    if (err == TTM_OK && send_err != TTM_OK && fr.type != TTM_SNAP_MSG_ERROR) {
        ttm__set_msg(msg, msg_len, "sending the query to %s failed: %s", path,
                     ttm_strerror(send_err));
        err = send_err;
    }
    if (err != TTM_OK)
        goto out_close_fd;
    payload = ttm__malloc(fr.length ? fr.length : 1);
    if (payload == NULL) {
        ttm__set_msg(msg, msg_len, "out of memory for a %u-byte reply", fr.length);
        err = TTM_ENOMEM;
        goto out_close_fd;
    }
    err = read_all(fd, payload, fr.length, deadline);
    if (err != TTM_OK) {
        ttm__set_msg(msg, msg_len, "reading the reply from %s failed: %s", path, ttm_strerror(err));
        goto out_free_payload;
    }
    if (fr.type == TTM_SNAP_MSG_ERROR) {
        char text[TTM_SNAP_ERRMSG_MAX + 1];
        if (ttm__snap_decode_error(payload, fr.length, text, sizeof text) != TTM_OK) {
            ttm__set_msg(msg, msg_len, "malformed error reply from %s", path);
            err = TTM_EPROTO;
        } else {
            ttm__set_msg(msg, msg_len, "%s", text);
            err = fr.status;
        }
        goto out_free_payload;
    }
    if (fr.type != TTM_SNAP_MSG_SNAPSHOT) {
        ttm__set_msg(msg, msg_len, "unexpected %s message from %s", ttm__snap_msg_name(fr.type),
                path);
        err = TTM_EPROTO;
        goto out_free_payload;
    }
    out->data = payload; /* the caller's now */
    out->len = out->cap = fr.length;
    payload = NULL;

out_free_payload:
    ttm__free(payload);
out_close_fd:
    ttm__bytes_free(&req);
    close(fd);
    fd = -1;
    return err;
}
