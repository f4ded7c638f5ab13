/*
 * test_proto.c — unit tests of the native control protocol's codec (src/common/proto.h) and of
 * the default socket path (paths.h): a HELLO with its memfd and eventfd over a socketpair,
 * truncated, garbage, wrong-version and wrong-geometry HELLOs rejected with a clear line and no
 * descriptor leaked, HELLOs with too few or too many descriptors, the side log's third
 * descriptor (TTM_HELLO_SIDE: exactly three then, exactly two without it), a HELLO in two
 * pieces, and the reply in both directions.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/paths.h"
#include "common/proto.h"
#include "common/ring.h"

static int count_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n;
}

static void pair(int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

static void close_pair(int sv[2])
{
    close(sv[0]);
    close(sv[1]);
}

typedef struct fds {
    int mem, ev;
} fds;

static fds make_fds(uint32_t nslots)
{
    fds f;
    f.mem = memfd_create("test-ring", MFD_CLOEXEC);
    assert_true(f.mem >= 0);
    assert_int_equal(ftruncate(f.mem, (off_t)ttm__ring_bytes(nslots)), 0);
    f.ev = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    assert_true(f.ev >= 0);
    return f;
}

static void close_fds(fds f)
{
    close(f.mem);
    close(f.ev);
}

/* Sends raw bytes with n descriptors attached. */
static void send_raw(int sock, const void *buf, size_t len, const int *fdv, int n)
{
    union {
        char b[CMSG_SPACE(sizeof(int) * 8)];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    if (n > 0) {
        memset(&ctl, 0, sizeof ctl);
        m.msg_control = ctl.b;
        m.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n);
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
        memcpy(CMSG_DATA(c), fdv, sizeof(int) * (size_t)n);
    }
    assert_int_equal(sendmsg(sock, &m, MSG_NOSIGNAL), (ssize_t)len);
}

/* A HELLO and its descriptors over a socketpair, and back: with side, the side log's memfd
 * rides as the third descriptor (TTM_HELLO_SIDE). */
static void roundtrip(bool side)
{
    int base = count_open_fds();
    int sv[2];
    pair(sv);
    fds f = make_fds(1024);
    int sfd = -1;
    if (side) {
        sfd = memfd_create("test-side", MFD_CLOEXEC);
        assert_true(sfd >= 0);
        assert_int_equal(ftruncate(sfd, 4096), 0);
    }
    uint32_t flags = TTM_HELLO_REATTACH | (side ? TTM_HELLO_SIDE : 0u);
    ttm_hello h;
    ttm__proto_hello_init(&h, 1024, 7, flags);
    assert_int_equal(h.ring_bytes, ttm__ring_bytes(1024));
    /* the flag and the descriptor must agree */
    ttm_hello other;
    ttm__proto_hello_init(&other, 1024, 7, flags ^ TTM_HELLO_SIDE);
    assert_int_equal(ttm__proto_send_hello(sv[0], &other, f.mem, f.ev, sfd), TTM_EINVAL);
    assert_int_equal(ttm__proto_send_hello(sv[0], &h, f.mem, f.ev, sfd), TTM_OK);

    ttm_hello got;
    int memfd = -2, efd = -2, sidefd = -2;
    char msg[128];
    assert_int_equal(ttm__proto_recv_hello(sv[1], &got, &memfd, &efd, &sidefd, msg, sizeof msg),
                     TTM_OK);
    assert_memory_equal(&got, &h, sizeof h);
    assert_int_equal(got.dropped, 7);
    assert_int_equal(got.flags, flags);
    assert_true(memfd >= 0 && efd >= 0);
    struct stat st;
    assert_int_equal(fstat(memfd, &st), 0);
    assert_int_equal((size_t)st.st_size, ttm__ring_bytes(1024));
    assert_true((fcntl(memfd, F_GETFD) & FD_CLOEXEC) != 0);
    uint64_t one = 1, v = 0;
    assert_int_equal(write(f.ev, &one, sizeof one), 8); /* same eventfd on both ends */
    assert_int_equal(read(efd, &v, sizeof v), 8);
    assert_int_equal(v, 1);
    if (side) {
        assert_int_equal(fstat(sidefd, &st), 0);
        assert_int_equal((size_t)st.st_size, 4096); /* the side log, not the ring */
        assert_true((fcntl(sidefd, F_GETFD) & FD_CLOEXEC) != 0);
        close(sidefd);
        close(sfd);
    } else {
        assert_int_equal(sidefd, -1);
    }
    close(memfd);
    close(efd);
    close_fds(f);
    close_pair(sv);
    assert_int_equal(count_open_fds(), base);
}

static void test_hello_roundtrip(void **state)
{
    (void)state;
    roundtrip(false);
}

/* Sends hello (as bytes, len of them) with nfd descriptors, expects err and no fd leak. */
static void expect_reject(const void *hello, size_t len, int nfd, int err, const char *needle)
{
    int base = count_open_fds();
    int sv[2];
    pair(sv);
    fds f = make_fds(64);
    int fdv[6] = {f.mem, f.ev, f.mem, f.ev, f.mem, f.ev};
    send_raw(sv[0], hello, len, fdv, nfd);
    shutdown(sv[0], SHUT_WR); /* a truncated hello ends at EOF, not after the piece wait */
    ttm_hello got;
    int memfd = -2, efd = -2, sidefd = -2;
    char msg[128] = "unset";
    assert_int_equal(ttm__proto_recv_hello(sv[1], &got, &memfd, &efd, &sidefd, msg, sizeof msg),
                     err);
    assert_int_equal(memfd, -1);
    assert_int_equal(efd, -1);
    assert_int_equal(sidefd, -1);
    if (needle != NULL && strstr(msg, needle) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", msg, needle);
    close_fds(f);
    close_pair(sv);
    assert_int_equal(count_open_fds(), base);
}

static void test_hello_rejected(void **state)
{
    (void)state;
    ttm_hello good;
    ttm__proto_hello_init(&good, 64, 0, 0);
    ttm_hello h;

    expect_reject(&good, 20, 2, TTM_EPROTO, "truncated");
    expect_reject(&good, 1, 2, TTM_EPROTO, "truncated");

    char garbage[sizeof good];
    memset(garbage, 0x5a, sizeof garbage);
    expect_reject(garbage, sizeof garbage, 2, TTM_EPROTO, "magic");

    h = good;
    h.version = 2;
    expect_reject(&h, sizeof h, 2, TTM_EVERSION, "protocol version 2 not supported");

    h = good;
    h.size = 64;
    expect_reject(&h, sizeof h, 2, TTM_EPROTO, "bytes");

    h = good;
    h.slot_size = 32;
    expect_reject(&h, sizeof h, 2, TTM_EPROTO, "slot size");

    h = good;
    h.nslots = 100;
    expect_reject(&h, sizeof h, 2, TTM_EPROTO, "power of two");

    h = good;
    h.nslots = 1u << 30;
    h.ring_bytes = 0;
    expect_reject(&h, sizeof h, 2, TTM_EPROTO, "power of two");

    h = good;
    h.ring_bytes += 64;
    expect_reject(&h, sizeof h, 2, TTM_EPROTO, "must be");

    expect_reject(&good, sizeof good, 0, TTM_EPROTO, "exactly 2 descriptors");
    expect_reject(&good, sizeof good, 1, TTM_EPROTO, "exactly 2 descriptors");
    expect_reject(&good, sizeof good, 3, TTM_EPROTO, "exactly 2 descriptors");
    expect_reject(&good, sizeof good, 4, TTM_EPROTO, "exactly 2 descriptors");
}

/* TTM_HELLO_SIDE: the side log's memfd rides as the third descriptor. */
static void test_hello_side(void **state)
{
    (void)state;
    roundtrip(true);
    /* with the flag: exactly three; without it: exactly two (the 3-descriptor case above) */
    ttm_hello hs;
    ttm__proto_hello_init(&hs, 64, 0, TTM_HELLO_SIDE);
    expect_reject(&hs, sizeof hs, 2, TTM_EPROTO, "exactly 3 descriptors");
    expect_reject(&hs, sizeof hs, 0, TTM_EPROTO, "exactly 3 descriptors");
    expect_reject(&hs, sizeof hs, 4, TTM_EPROTO, "exactly 3 descriptors");
    expect_reject(&hs, sizeof hs, 6, TTM_EPROTO, "exactly 3 descriptors");
    ttm_hello h2;
    ttm__proto_hello_init(&h2, 64, 0, 0);
    expect_reject(&h2, sizeof h2, 3, TTM_EPROTO, "exactly 2 descriptors");
}

static void test_hello_eof_eagain_args(void **state)
{
    (void)state;
    int sv[2];
    ttm_hello got;
    int memfd = -2, efd = -2, sidefd = -2;
    char msg[128];

    pair(sv);
    close(sv[0]);
    assert_int_equal(ttm__proto_recv_hello(sv[1], &got, &memfd, &efd, &sidefd, msg, sizeof msg),
                     TTM_ECLOSED);
    close(sv[1]);

    pair(sv);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    assert_int_equal(ttm__proto_recv_hello(sv[1], &got, &memfd, &efd, &sidefd, msg, sizeof msg),
                     TTM_EAGAIN);
    assert_int_equal(memfd, -1);
    assert_int_equal(ttm__proto_recv_hello(sv[1], NULL, &memfd, &efd, &sidefd, msg, sizeof msg),
                     TTM_EINVAL);
    assert_int_equal(ttm__proto_recv_hello(sv[1], &got, &memfd, &efd, &sidefd, NULL, 0),
                     TTM_EAGAIN);
    ttm_hello h;
    ttm__proto_hello_init(&h, 64, 0, 0);
    assert_int_equal(ttm__proto_send_hello(sv[0], NULL, 3, 4, -1), TTM_EINVAL);
    assert_int_equal(ttm__proto_send_hello(sv[0], &h, -1, 4, -1), TTM_EINVAL);
    assert_int_equal(ttm__proto_send_reply(-1, 0, NULL), TTM_EINVAL);
    close_pair(sv);

    /* A peer that went away: no SIGPIPE, a code. */
    pair(sv);
    close(sv[1]);
    fds f = make_fds(64);
    assert_int_equal(ttm__proto_send_hello(sv[0], &h, f.mem, f.ev, -1), TTM_ECLOSED);
    assert_int_equal(ttm__proto_send_reply(sv[0], 0, "x"), TTM_ECLOSED);
    close_fds(f);
    close(sv[0]);
}

/* A HELLO that arrives in two pieces, the descriptors with the first. */
static void test_hello_in_pieces(void **state)
{
    (void)state;
    int sv[2];
    pair(sv);
    fds f = make_fds(64);
    ttm_hello h;
    ttm__proto_hello_init(&h, 64, 0, 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        int fdv[2] = {f.mem, f.ev};
        send_raw(sv[0], &h, 10, fdv, 2);
        usleep(50000);
        send_raw(sv[0], (const char *)&h + 10, sizeof h - 10, NULL, 0);
        _exit(0);
    }
    ttm_hello got;
    int memfd = -2, efd = -2, sidefd = -2;
    char msg[128];
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    int err;
    while ((err = ttm__proto_recv_hello(sv[1], &got, &memfd, &efd, &sidefd, msg, sizeof msg)) ==
           TTM_EAGAIN)
        usleep(1000);
    assert_int_equal(err, TTM_OK);
    assert_memory_equal(&got, &h, sizeof h);
    close(memfd);
    close(efd);
    int status;
    waitpid(child, &status, 0);
    close_fds(f);
    close_pair(sv);
}

/* A piece, then silence: rejected after the bounded wait, not a hang. */
static void test_hello_stalled_piece(void **state)
{
    (void)state;
    int sv[2];
    pair(sv);
    fds f = make_fds(64);
    ttm_hello h;
    ttm__proto_hello_init(&h, 64, 0, 0);
    int fdv[2] = {f.mem, f.ev};
    send_raw(sv[0], &h, 30, fdv, 2);
    ttm_hello got;
    int memfd = -2, efd = -2, sidefd = -2;
    char msg[128];
    int base = count_open_fds();
    assert_int_equal(ttm__proto_recv_hello(sv[1], &got, &memfd, &efd, &sidefd, msg, sizeof msg),
                     TTM_EPROTO);
    assert_non_null(strstr(msg, "silence"));
    assert_int_equal(count_open_fds(), base);
    close_fds(f);
    close_pair(sv);
}

static void test_reply(void **state)
{
    (void)state;
    int sv[2];
    pair(sv);
    ttm_hello_reply r;
    assert_int_equal(ttm__proto_send_reply(sv[1], TTM_EVERSION,
                                           "protocol version 2 not supported: this daemon "
                                           "speaks 1"),
                     TTM_OK);
    assert_int_equal(ttm__proto_recv_reply(sv[0], &r, 1000), TTM_OK);
    assert_int_equal(r.status, TTM_EVERSION);
    assert_int_equal(r.version, TTM_PROTO_VERSION);
    assert_string_equal(r.message, "protocol version 2 not supported: this daemon speaks 1");

    char longmsg[300];
    memset(longmsg, 'x', sizeof longmsg - 1);
    longmsg[sizeof longmsg - 1] = '\0';
    assert_int_equal(ttm__proto_send_reply(sv[1], 0, longmsg), TTM_OK);
    assert_int_equal(ttm__proto_recv_reply(sv[0], &r, 1000), TTM_OK);
    assert_int_equal(r.status, 0);
    assert_int_equal(strlen(r.message), sizeof r.message - 1);

    /* Nothing comes: timeout. */
    assert_int_equal(ttm__proto_recv_reply(sv[0], &r, 30), TTM_ETIMEDOUT);

    /* Garbage: bad magic; a positive status; a status outside the vocabulary. */
    ttm_hello_reply bad;
    memset(&bad, 0, sizeof bad);
    bad.magic = 0x12345678;
    assert_int_equal(write(sv[1], &bad, sizeof bad), (ssize_t)sizeof bad);
    assert_int_equal(ttm__proto_recv_reply(sv[0], &r, 1000), TTM_EPROTO);
    bad.magic = TTM_PROTO_MAGIC;
    bad.status = 3;
    assert_int_equal(write(sv[1], &bad, sizeof bad), (ssize_t)sizeof bad);
    assert_int_equal(ttm__proto_recv_reply(sv[0], &r, 1000), TTM_EPROTO);
    bad.status = -999;
    memset(bad.message, 'y', sizeof bad.message); /* no NUL from the peer */
    assert_int_equal(write(sv[1], &bad, sizeof bad), (ssize_t)sizeof bad);
    assert_int_equal(ttm__proto_recv_reply(sv[0], &r, 1000), TTM_EPROTO);
    assert_int_equal(r.message[sizeof r.message - 1], '\0');

    /* Short reply then EOF; then EOF alone. */
    assert_int_equal(write(sv[1], &bad, 10), 10);
    close(sv[1]);
    assert_int_equal(ttm__proto_recv_reply(sv[0], &r, 1000), TTM_EPROTO);
    assert_int_equal(ttm__proto_recv_reply(sv[0], &r, 1000), TTM_ECLOSED);
    assert_int_equal(ttm__proto_recv_reply(sv[0], NULL, 1000), TTM_EINVAL);
    close(sv[0]);
}

static void test_default_socket_path(void **state)
{
    (void)state;
    char buf[108], expect[108];
    setenv("TTMEM_SOCKET", "/run/x/ttmemd.sock", 1);
    setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
    assert_int_equal(ttm__default_socket_path(buf, sizeof buf), TTM_OK);
    assert_string_equal(buf, "/run/x/ttmemd.sock");
    setenv("TTMEM_SOCKET", "", 1);
    assert_int_equal(ttm__default_socket_path(buf, sizeof buf), TTM_OK);
    assert_string_equal(buf, "/run/user/1000/ttmem/ttmemd.sock");
    unsetenv("TTMEM_SOCKET");
    unsetenv("XDG_RUNTIME_DIR");
    assert_int_equal(ttm__default_socket_path(buf, sizeof buf), TTM_OK);
    snprintf(expect, sizeof expect, "/tmp/ttmem-%lu/ttmemd.sock", (unsigned long)getuid());
    assert_string_equal(buf, expect);
    assert_int_equal(ttm__default_socket_path(buf, 5), TTM_ERANGE);
    assert_string_equal(buf, "");
    char longp[200];
    memset(longp, 'a', sizeof longp - 1);
    longp[0] = '/';
    longp[sizeof longp - 1] = '\0';
    setenv("TTMEM_SOCKET", longp, 1);
    char big[256];
    assert_int_equal(ttm__default_socket_path(big, sizeof big), TTM_ERANGE); /* > sun_path */
    assert_int_equal(ttm__default_socket_path(NULL, 10), TTM_EINVAL);
    unsetenv("TTMEM_SOCKET");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hello_roundtrip),
        cmocka_unit_test(test_hello_rejected),
        cmocka_unit_test(test_hello_side),
        cmocka_unit_test(test_hello_eof_eagain_args),
        cmocka_unit_test(test_hello_in_pieces),
        cmocka_unit_test(test_hello_stalled_piece),
        cmocka_unit_test(test_reply),
        cmocka_unit_test(test_default_socket_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
