/*
 * proto.c — the native control protocol's codec (proto.h): HELLO with the ring's memfd, its
 * doorbell eventfd and the side log's memfd attached (SCM_RIGHTS), and the daemon's one reply.
 * Used by both sides.
 *
 * Like the rest of src/common it never logs: every failure is a return code, and where a peer
 * deserves to know why, a one-line message in a caller-owned buffer.
 */
#include "common/proto.h"
#include "common/util.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/ring.h"
#include "ttmem/ttmem.h"

#define MAX_FDS 5 /* room to notice (and close) more descriptors than the three we expect */

/* Waits up to timeout_ms (< 0 = forever) for events on fd. Returns 1 ready, 0 timeout, or a
 * ttm_err. POLLHUP/POLLERR count as ready: the following read or write reports them. */
static int wait_fd(int fd, short events, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = events};
    for (;;) {
        int r = poll(&p, 1, timeout_ms);
        if (r > 0)
            return 1;
        if (r == 0)
            return 0;
        if (errno != EINTR)
            return TTM_EIO;
    }
}


static int errno_to_ttm(int e)
{
    return (e == EPIPE || e == ECONNRESET || e == ENOTCONN) ? TTM_ECLOSED : TTM_EIO;
}

/* Sends len bytes; the descriptors (nfds of them, may be 0) ride on the first byte. */
static int send_with_fds(int sock, const void *buf, size_t len, const int *fds, int nfds)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * MAX_FDS)];
        struct cmsghdr align;
    } ctl;
    size_t off = 0;
    bool fds_sent = nfds == 0;
    while (off < len) {
        struct iovec iov = {.iov_base = (char *)buf + off, .iov_len = len - off};
        struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
        if (!fds_sent) {
            memset(&ctl, 0, sizeof ctl);
            m.msg_control = ctl.buf;
            m.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
            struct cmsghdr *c = CMSG_FIRSTHDR(&m);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
            memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
        }
        ssize_t n = sendmsg(sock, &m, MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
            fds_sent = true;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int w = wait_fd(sock, POLLOUT, 1000);
            if (w == 1)
                continue;
            return w == 0 ? TTM_ETIMEDOUT : w;
        }
        return n == 0 ? TTM_ECLOSED : errno_to_ttm(errno);
    }
    return TTM_OK;
}

int ttm__proto_send_hello(int sock, const ttm_hello *hello, int memfd, int eventfd, int sidefd)
{
    if (hello == NULL || sock < 0 || memfd < 0 || eventfd < 0 ||
        ((hello->flags & TTM_HELLO_SIDE) != 0) != (sidefd >= 0))
        return TTM_EINVAL;
    int fds[3] = {memfd, eventfd, sidefd};
    return send_with_fds(sock, hello, sizeof *hello, fds, sidefd >= 0 ? 3 : 2);
}

int ttm__proto_send_reply(int sock, int status, const char *message)
{
    if (sock < 0)
        return TTM_EINVAL;
    ttm_hello_reply r;
    memset(&r, 0, sizeof r);
    r.magic = TTM_PROTO_MAGIC;
    r.version = TTM_PROTO_VERSION;
    r.status = (int16_t)status;
    if (message != NULL)
        snprintf(r.message, sizeof r.message, "%s", message);
    return send_with_fds(sock, &r, sizeof r, NULL, 0);
}

static void close_fds(int *fds, int n)
{
    for (int i = 0; i < n; i++) {
        if (fds[i] >= 0)
            close(fds[i]);
        fds[i] = -1;
    }
}

/* Takes every descriptor out of m's SCM_RIGHTS messages into fds[*nfds..]; those beyond
 * MAX_FDS are closed at once. */
static void collect_fds(struct msghdr *m, int *fds, int *nfds, int *extra)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c != NULL; c = CMSG_NXTHDR(m, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
            c->cmsg_len < CMSG_LEN(0))
            continue;
        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            if (*nfds < MAX_FDS) {
                fds[(*nfds)++] = fd;
            } else {
                close(fd);
                (*extra)++;
            }
        }
    }
}

static int check_hello(const ttm_hello *h, char *msg, size_t len)
{
    if (h->magic != TTM_PROTO_MAGIC) {
        ttm__set_msg(msg, len, "not a ttmem hello (magic 0x%08x)", h->magic);
        return TTM_EPROTO;
    }
    if (h->version != TTM_PROTO_VERSION) {
        ttm__set_msg(msg, len, "protocol version %u not supported: this daemon speaks %u",
                (unsigned)h->version, TTM_PROTO_VERSION);
        return TTM_EVERSION;
    }
    if (h->size != sizeof(ttm_hello)) {
        ttm__set_msg(msg, len, "hello of %u bytes, expected %zu", (unsigned)h->size,
                sizeof(ttm_hello));
        return TTM_EPROTO;
    }
    if (h->slot_size != sizeof(ttm_event)) {
        ttm__set_msg(msg, len, "ring slot size %u, expected %zu", h->slot_size, sizeof(ttm_event));
        return TTM_EPROTO;
    }
    uint32_t n = h->nslots;
    if (n < TTM_RING_MIN_SLOTS || n > TTM_RING_MAX_SLOTS || (n & (n - 1)) != 0) {
        ttm__set_msg(msg, len, "ring slot count %u is not a power of two in [%u, %u]", n,
                TTM_RING_MIN_SLOTS, TTM_RING_MAX_SLOTS);
        return TTM_EPROTO;
    }
    if (h->ring_bytes != ttm__ring_bytes(n)) {
        ttm__set_msg(msg, len, "ring of %u slots must be %zu bytes, hello says %llu", n,
                ttm__ring_bytes(n), (unsigned long long)h->ring_bytes);
        return TTM_EPROTO;
    }
    return TTM_OK;
}

int ttm__proto_recv_hello(int sock, ttm_hello *hello, int *memfd, int *eventfd, int *sidefd,
                          char *msg, size_t len)
{
    if (memfd != NULL)
        *memfd = -1;
    if (eventfd != NULL)
        *eventfd = -1;
    if (sidefd != NULL)
        *sidefd = -1;
    ttm__set_msg(msg, len, "%s", "");
    if (hello == NULL || memfd == NULL || eventfd == NULL || sidefd == NULL || sock < 0) {
        ttm__set_msg(msg, len, "invalid argument");
        return TTM_EINVAL;
    }
    int fds[MAX_FDS] = {-1, -1, -1, -1, -1};
    int nfds = 0, extra = 0;
    bool ctrunc = false;
    size_t off = 0;
    int64_t deadline = 0;
    int err;
    ttm_hello buf;
    memset(&buf, 0, sizeof buf);

    while (off < sizeof buf) {
        union {
            char buf[CMSG_SPACE(sizeof(int) * MAX_FDS)];
            struct cmsghdr align;
        } ctl;
        struct iovec iov = {.iov_base = (char *)&buf + off, .iov_len = sizeof buf - off};
        struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                           .msg_controllen = sizeof ctl.buf};
        ssize_t n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC | (off > 0 ? MSG_DONTWAIT : 0));
        if (n > 0) {
            collect_fds(&m, fds, &nfds, &extra);
            if (m.msg_flags & MSG_CTRUNC)
                ctrunc = true;
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (off == 0) {
                err = TTM_EAGAIN;
                goto out_close_fds;
            }
            /* The rest of a HELLO that arrived in pieces: wait, but not for long. */
            if (deadline == 0)
                deadline = ttm__mono_ms() + TTM_PROTO_PIECE_WAIT_MS;
            int64_t left = deadline - ttm__mono_ms();
            int w = left > 0 ? wait_fd(sock, POLLIN, (int)left) : 0;
            if (w == 1)
                continue;
            ttm__set_msg(msg, len, "truncated hello: %zu of %zu bytes, then silence", off,
                    sizeof buf);
            err = TTM_EPROTO;
            goto out_close_fds;
        }
        if (n == 0 && off == 0) {
            ttm__set_msg(msg, len, "connection closed before the hello");
            err = TTM_ECLOSED;
            goto out_close_fds;
        }
        if (n == 0) {
            ttm__set_msg(msg, len, "truncated hello: %zu of %zu bytes, then end of stream", off,
                    sizeof buf);
            err = TTM_EPROTO;
            goto out_close_fds;
        }
        ttm__set_msg(msg, len, "reading the hello failed: %s", strerror(errno));
        err = errno_to_ttm(errno);
        goto out_close_fds;
    }

    err = check_hello(&buf, msg, len);
    if (err != TTM_OK)
        goto out_close_fds;
    bool side = (buf.flags & TTM_HELLO_SIDE) != 0;
    int want = side ? 3 : 2;
    if (ctrunc || extra > 0 || nfds != want) {
        ttm__set_msg(msg, len, "hello must carry exactly %d descriptors (ring memfd, eventfd%s), "
                     "got %d", want, side ? ", side log memfd" : "",
                     nfds + extra + (ctrunc ? 1 : 0));
        err = TTM_EPROTO;
        goto out_close_fds;
    }
    *hello = buf;
    *memfd = fds[0];
    *eventfd = fds[1];
    *sidefd = side ? fds[2] : -1;
    return TTM_OK;

out_close_fds:
    close_fds(fds, nfds);
    return err;
}

int ttm__proto_recv_reply(int sock, ttm_hello_reply *out, int timeout_ms)
{
    if (out == NULL || sock < 0)
        return TTM_EINVAL;
    memset(out, 0, sizeof *out);
    int64_t deadline = timeout_ms >= 0 ? ttm__mono_ms() + timeout_ms : 0;
    size_t off = 0;
    while (off < sizeof *out) {
        int left = -1;
        if (timeout_ms >= 0) {
            int64_t l = deadline - ttm__mono_ms();
            left = l > 0 ? (int)l : 0;
        }
        int w = wait_fd(sock, POLLIN, left);
        if (w == 0)
            return TTM_ETIMEDOUT;
        if (w < 0)
            return w;
        /* recv() without a control buffer: descriptors a rogue peer attaches are discarded. */
        ssize_t n = recv(sock, (char *)out + off, sizeof *out - off, MSG_DONTWAIT);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
            continue;
        if (n == 0) {
            out->message[sizeof out->message - 1] = '\0';
            return off == 0 ? TTM_ECLOSED : TTM_EPROTO;
        }
        return errno_to_ttm(errno);
    }
    out->message[sizeof out->message - 1] = '\0';
    if (out->magic != TTM_PROTO_MAGIC)
        return TTM_EPROTO;
    if (!ttm_err_valid(out->status)) /* 0 or an error of the list */
        return TTM_EPROTO;
    return TTM_OK;
}

void ttm__proto_hello_init(ttm_hello *hello, uint32_t nslots, uint64_t dropped, uint32_t flags)
{
    memset(hello, 0, sizeof *hello);
    hello->magic = TTM_PROTO_MAGIC;
    hello->version = TTM_PROTO_VERSION;
    hello->size = sizeof(ttm_hello);
    hello->nslots = nslots;
    hello->slot_size = sizeof(ttm_event);
    hello->ring_bytes = ttm__ring_bytes(nslots);
    hello->dropped = dropped;
    hello->flags = flags;
    char comm[17] = {0};
    if (prctl(PR_GET_NAME, comm, 0, 0, 0) == 0)
        memcpy(hello->comm, comm, sizeof hello->comm);
}
