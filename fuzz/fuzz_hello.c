/*
 * fuzz_hello.c — ttm__proto_recv_hello() and ttm__proto_recv_reply() on arbitrary bytes
 * arriving over a socketpair (then end of stream): every input ends in a code, a rejected
 * HELLO leaves both descriptors at -1 with a one-line reason, a reply's message is always
 * NUL-terminated, and nothing hangs.
 */
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
    int memfd = -2, efd = -2;
    char msg[128];
    int err = ttm__proto_recv_hello(sv[1], &h, &memfd, &efd, msg, sizeof msg);
    /* No descriptors ever come with these bytes, so nothing may be accepted. */
    if (err == TTM_OK || memfd != -1 || efd != -1)
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

static ttm_hello seed_hello;
static ttm_hello_reply seed_reply;
static const uint8_t *seed_ptrs[2] = {(const uint8_t *)&seed_hello, (const uint8_t *)&seed_reply};
static const size_t seed_lens[2] = {sizeof seed_hello, sizeof seed_reply};

size_t ttm__fuzz_seeds(const uint8_t *const **seeds, const size_t **sizes)
{
    ttm__proto_hello_init(&seed_hello, 1024, 3, 1);
    memset(&seed_reply, 0, sizeof seed_reply);
    seed_reply.magic = TTM_PROTO_MAGIC;
    seed_reply.version = TTM_PROTO_VERSION;
    seed_reply.status = TTM_EVERSION;
    strcpy(seed_reply.message, "protocol version 2 not supported: this daemon speaks 1");
    *seeds = seed_ptrs;
    *sizes = seed_lens;
    return 2;
}
