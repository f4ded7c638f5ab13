/*
 * fuzz_hello.c — ttm__proto_recv_hello() and ttm__proto_recv_reply() on arbitrary bytes
 * arriving over a socketpair (then end of stream), with 0 to 3 descriptors attached: every
 * input ends in a code; an accepted HELLO has the ring's two descriptors and the side log's
 * exactly when its flags say so; a rejected one leaves all three at -1 with a one-line reason;
 * no descriptor that arrived is left open; a reply's message is always NUL-terminated; and
 * nothing hangs.
 *
 * Input: one byte whose low two bits are how many descriptors come with the first message,
 * then the bytes on the stream.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/proto.h"
#include "ttmem/ttmem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t ttm__fuzz_seeds(const uint8_t *const **seeds, const size_t **sizes);

/* Writes data (at most 4096 bytes: within the socket buffer, so the write never blocks) with
 * nfds descriptors of /dev/null attached, then ends the stream. */
static void feed(int sv[2], const uint8_t *data, size_t size, unsigned nfds)
{
    if (size > 4096)
        size = 4096;
    if (size == 0)
        nfds = 0; /* descriptors travel with bytes only */
    int fds[3];
    for (unsigned i = 0; i < nfds; i++)
        if ((fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)
            abort();
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof fds)];
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct iovec iov = {.iov_base = (void *)data, .iov_len = size};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfds > 0) {
        m.msg_control = ctl.buf;
        m.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
        memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
    }
    if (size > 0 && sendmsg(sv[0], &m, MSG_NOSIGNAL) != (ssize_t)size)
        abort();
    for (unsigned i = 0; i < nfds; i++)
        close(fds[i]);
    shutdown(sv[0], SHUT_WR);
}

/* The lowest descriptor number free now (the kernel hands out the lowest): the same before and
 * after a call means the call left no descriptor open. */
static int lowest_free_fd(void)
{
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        abort();
    close(fd);
    return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    unsigned nfds = data[0] & 3u;
    data++;
    size--;
    int free_before = lowest_free_fd();
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return 0;
    feed(sv, data, size, nfds);
    ttm_hello h;
    int memfd = -2, efd = -2, sidefd = -2;
    char msg[128];
    int err = ttm__proto_recv_hello(sv[1], &h, &memfd, &efd, &sidefd, msg, sizeof msg);
    if (err == TTM_OK) {
        /* the ring's two, and the side log's exactly when the HELLO says it comes */
        bool side = (h.flags & TTM_HELLO_SIDE) != 0;
        if (memfd < 0 || efd < 0 || (side ? sidefd < 0 : sidefd != -1) || nfds != 2u + side)
            abort();
        close(memfd);
        close(efd);
        if (sidefd >= 0)
            close(sidefd);
    } else {
        if (memfd != -1 || efd != -1 || sidefd != -1)
            abort();
        if (err != TTM_ECLOSED && err != TTM_EPROTO && err != TTM_EVERSION)
            abort();
        if (err != TTM_ECLOSED && (msg[0] == '\0' || strlen(msg) >= sizeof msg))
            abort();
    }
    close(sv[0]);
    close(sv[1]);
    if (lowest_free_fd() != free_before)
        abort(); /* a descriptor that arrived was left open */

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return 0;
    feed(sv, data, size, 0);
    ttm_hello_reply r;
    err = ttm__proto_recv_reply(sv[1], &r, 1000);
    if (r.message[sizeof r.message - 1] != '\0')
        abort();
    if (err == TTM_OK && (r.magic != TTM_PROTO_MAGIC || r.status > 0))
        abort();
    close(sv[0]);
    close(sv[1]);
    return 0;
}

/* ---- seeds: the bytes the real senders put on the socket ---- */

#define NSEEDS 6
static uint8_t seed_buf[NSEEDS][256];
static const uint8_t *seed_ptrs[NSEEDS];
static size_t seed_lens[NSEEDS];

/* Reads what was sent on sv[0] (descriptors attached are discarded by read()) into seed i,
 * after the input's first byte: nfds, how many descriptors the sender attached. */
static void capture(int sv[2], size_t i, unsigned nfds)
{
    ssize_t n = read(sv[1], seed_buf[i] + 1, sizeof seed_buf[i] - 1);
    if (n <= 0)
        abort();
    seed_buf[i][0] = (uint8_t)nfds;
    seed_ptrs[i] = seed_buf[i];
    seed_lens[i] = (size_t)n + 1;
    close(sv[0]);
    close(sv[1]);
}

/* A HELLO as the client sends it, with the side log's descriptor when side. */
static void capture_hello(size_t i, uint32_t nslots, uint64_t dropped, uint32_t flags, bool side)
{
    int sv[2], efd[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0 ||
        pipe2(efd, O_CLOEXEC) != 0)
        abort();
    ttm_hello h;
    ttm__proto_hello_init(&h, nslots, dropped, flags | (side ? TTM_HELLO_SIDE : 0u));
    memset(h.comm, 0, sizeof h.comm);
    strcpy(h.comm, "python3"); /* not the fuzzer's own name: the corpus stays the same */
    /* any descriptors will do for the bytes: they are not part of them */
    if (ttm__proto_send_hello(sv[0], &h, efd[0], efd[1], side ? efd[0] : -1) != TTM_OK)
        abort();
    close(efd[0]);
    close(efd[1]);
    capture(sv, i, side ? 3 : 2);
}

static void capture_reply(size_t i, int status, const char *message)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0 ||
        ttm__proto_send_reply(sv[0], status, message) != TTM_OK)
        abort();
    capture(sv, i, 0);
}

size_t ttm__fuzz_seeds(const uint8_t *const **seeds, const size_t **sizes)
{
    if (seed_lens[0] == 0) {
        capture_hello(0, 1024, 0, 0, false); /* a client without a side log */
        capture_hello(1, 1u << 16, 3, TTM_HELLO_REATTACH, false); /* reporting dropped events */
        capture_hello(5, 1024, 0, 0, true);  /* with its side log, as libttmem sends it */
        capture_reply(2, TTM_OK, NULL);
        capture_reply(3, TTM_EVERSION,
                      "protocol version 2 not supported: this daemon speaks 1");
        capture_reply(4, TTM_EPROTO, "ring: nslots 1000 is not a power of two");
    }
    *seeds = seed_ptrs;
    *sizes = seed_lens;
    return NSEEDS;
}
