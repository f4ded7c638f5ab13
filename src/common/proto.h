/*
 * proto.h — the native control protocol on the daemon's Unix socket (SOCK_SEQPACKET or
 * SOCK_STREAM with fixed-size messages; see src/common/proto.c).
 *
 * Session: the client connects and sends one ttm_hello with two or three descriptors attached
 * (SCM_RIGHTS): the ring's memfd, its doorbell eventfd and, when hello.flags has
 * TTM_HELLO_SIDE, the side log's memfd (common/side.h: the stacks, modules and scope names the
 * events refer to). The daemon checks the message and
 * the ring (ring.h) and answers one ttm_hello_reply: status 0, or a negative ttm_err and a
 * one-line message ("protocol version 2 not supported: this daemon speaks 1"). The PID is the
 * kernel's (SO_PEERCRED), never a field. After that the socket carries no events (they go
 * through the ring); its closing tells the daemon the process is gone.
 */
#ifndef TTM_COMMON_PROTO_H
#define TTM_COMMON_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define TTM_PROTO_MAGIC 0x484d5454u /* "TTMH" */
#define TTM_PROTO_VERSION 1u

/* ttm_hello.flags: the ring was handed to a daemon before (a reconnect or a new daemon). */
#define TTM_HELLO_REATTACH 1u
/* ttm_hello.flags: a third descriptor, the session's side log (common/side.h), is attached. */
#define TTM_HELLO_SIDE 2u

typedef struct ttm_hello {
    uint32_t magic;
    uint16_t version;
    uint16_t size;          /* sizeof(ttm_hello) */
    uint32_t nslots;        /* ring geometry, checked against the memfd */
    uint32_t slot_size;
    uint64_t ring_bytes;
    uint64_t dropped;       /* events dropped while no daemon existed, not yet reported */
    uint32_t flags;         /* TTM_HELLO_* */
    uint32_t reserved;
    char comm[16];          /* informational only (the daemon reads /proc/PID/comm itself) */
} ttm_hello;

typedef struct ttm_hello_reply {
    uint32_t magic;
    uint16_t version;       /* the daemon's protocol version */
    int16_t status;         /* 0 or a negative ttm_err */
    char message[120];      /* NUL-terminated one-line reason when status != 0 */
} ttm_hello_reply;

_Static_assert(sizeof(ttm_hello) == 56, "hello is 56 bytes");
_Static_assert(sizeof(ttm_hello_reply) == 128, "hello reply is 128 bytes");


/* ---- codec (proto.c), shared by the client and the daemon ---------------------------------- */

/* Sends one HELLO with memfd, eventfd and (sidefd >= 0) sidefd attached (SCM_RIGHTS) on a
 * connected AF_UNIX socket, with MSG_NOSIGNAL (never raises SIGPIPE). The hello's
 * TTM_HELLO_SIDE flag must say whether sidefd is attached (sidefd -1: two descriptors, as
 * before). The descriptors stay owned by the caller.
 * Returns 0, TTM_EINVAL (NULL hello, a negative memfd or eventfd, or TTM_HELLO_SIDE not
 * matching sidefd), TTM_ECLOSED (peer gone) or TTM_EIO. */
int ttm__proto_send_hello(int sock, const ttm_hello *hello, int memfd, int eventfd, int sidefd);

/* Receives and checks one HELLO and its descriptors. A HELLO that arrives in pieces is
 * awaited for at most TTM_PROTO_PIECE_WAIT_MS in total; on a non-blocking socket with nothing
 * queued yet it returns TTM_EAGAIN. Checks: magic, version, size, slot size, nslots (a power
 * of two in range), ring_bytes == ttm__ring_bytes(nslots), exactly two descriptors attached
 * when TTM_HELLO_SIDE is clear (*sidefd = -1) and exactly three when it is set.
 * On success *memfd, *eventfd and *sidefd receive the descriptors (owned by the caller,
 * close-on-exec). On any error all three are -1 (whatever was received is closed) and msg (if
 * not NULL, len bytes)
 * gets one line saying what is wrong, suitable for ttm__proto_send_reply.
 * Returns 0, TTM_EAGAIN, TTM_ECLOSED (EOF before any byte), TTM_EPROTO (truncated, garbage,
 * bad geometry, missing descriptors), TTM_EVERSION (magic right, version not ours), TTM_EIO. */
int ttm__proto_recv_hello(int sock, ttm_hello *hello, int *memfd, int *eventfd, int *sidefd,
                          char *msg, size_t len);

/* Sends one ttm_hello_reply: status 0 or a negative ttm_err, and message (NULL = "", cut at
 * 119 bytes). Returns 0, TTM_ECLOSED or TTM_EIO. MSG_NOSIGNAL. */
int ttm__proto_send_reply(int sock, int status, const char *message);

/* Receives one ttm_hello_reply into *out, waiting at most timeout_ms (< 0 = no limit).
 * out->message is always NUL-terminated afterwards. Returns 0 when a well-formed reply arrived
 * (the daemon's verdict is out->status), TTM_ETIMEDOUT, TTM_ECLOSED, TTM_EPROTO (bad magic,
 * status not 0 or a negative ttm_err, short reply) or TTM_EIO. */
int ttm__proto_recv_reply(int sock, ttm_hello_reply *out, int timeout_ms);

/* Fills a HELLO for a ring of nslots slots; comm is taken from the calling process. */
void ttm__proto_hello_init(ttm_hello *hello, uint32_t nslots, uint64_t dropped, uint32_t flags);

#define TTM_PROTO_PIECE_WAIT_MS 200

#endif /* TTM_COMMON_PROTO_H */
