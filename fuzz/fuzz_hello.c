/*
 * fuzz_hello.c — ttm__proto_recv_hello() and ttm__proto_recv_reply() on arbitrary bytes
 * arriving over a socketpair (then end of stream): every input ends in a code, a rejected
 * HELLO leaves both descriptors at -1 with a one-line reason, a reply's message is always
 * NUL-terminated, and nothing hangs.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/proto.h"
#include "ttmem/ttmem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t ttm__fuzz_seeds(const uint8_t *const **seeds, const size_t **sizes);

static void feed(int sv[2], const uint8_t *data, size_t size)
{
    if (size > 4096)
        size = 4096; /* within the socket buffer: the write never blocks */
    if (size > 0 && write(sv[0], data, size) != (ssize_t)size)
        abort();
    shutdown(sv[0], SHUT_WR);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return 0;
    feed(sv, data, size);
    ttm_hello h;
    int memfd = -2, efd = -2, sidefd = -2;
    char msg[128];
    int err = ttm__proto_recv_hello(sv[1], &h, &memfd, &efd, &sidefd, msg, sizeof msg);
    /* No descriptors ever come with these bytes, so nothing may be accepted. */
    if (err == TTM_OK || memfd != -1 || efd != -1 || sidefd != -1)
        abort();
    if (err != TTM_ECLOSED && err != TTM_EPROTO && err != TTM_EVERSION)
        abort();
    if (err != TTM_ECLOSED && (msg[0] == '\0' || strlen(msg) >= sizeof msg))
        abort();
    close(sv[0]);
    close(sv[1]);

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return 0;
    feed(sv, data, size);
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

#define NSEEDS 5
static uint8_t seed_buf[NSEEDS][256];
static const uint8_t *seed_ptrs[NSEEDS];
static size_t seed_lens[NSEEDS];

/* Reads what was sent on sv[0] (descriptors attached are discarded by read()) into seed i. */
static void capture(int sv[2], size_t i)
{
    ssize_t n = read(sv[1], seed_buf[i], sizeof seed_buf[i]);
    if (n <= 0)
        abort();
    seed_ptrs[i] = seed_buf[i];
    seed_lens[i] = (size_t)n;
    close(sv[0]);
    close(sv[1]);
}

static void capture_hello(size_t i, uint32_t nslots, uint64_t dropped, uint32_t flags)
{
    int sv[2], efd[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0 ||
        pipe2(efd, O_CLOEXEC) != 0)
        abort();
    ttm_hello h;
    ttm__proto_hello_init(&h, nslots, dropped, flags);
    memset(h.comm, 0, sizeof h.comm);
    strcpy(h.comm, "python3"); /* not the fuzzer's own name: the corpus stays the same */
    /* any two descriptors will do for the bytes: they are not part of them */
    if (ttm__proto_send_hello(sv[0], &h, efd[0], efd[1], -1) != TTM_OK)
        abort();
    close(efd[0]);
    close(efd[1]);
    capture(sv, i);
}

static void capture_reply(size_t i, int status, const char *message)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0 ||
        ttm__proto_send_reply(sv[0], status, message) != TTM_OK)
        abort();
    capture(sv, i);
}

size_t ttm__fuzz_seeds(const uint8_t *const **seeds, const size_t **sizes)
{
    if (seed_lens[0] == 0) {
        capture_hello(0, 1024, 0, 0);
        capture_hello(1, 1u << 16, 3, 1); /* a reattach reporting dropped events */
        capture_reply(2, TTM_OK, NULL);
        capture_reply(3, TTM_EVERSION,
                      "protocol version 2 not supported: this daemon speaks 1");
        capture_reply(4, TTM_EPROTO, "ring: nslots 1000 is not a power of two");
    }
    *seeds = seed_ptrs;
    *sizes = seed_lens;
    return NSEEDS;
}
