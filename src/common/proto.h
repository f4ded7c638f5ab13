/*
 * proto.h — the native control protocol on the daemon's Unix socket (SOCK_SEQPACKET or
 * SOCK_STREAM with fixed-size messages; see src/common/proto.c).
 *
 * Session: the client connects and sends one ttm_hello with two descriptors attached
 * (SCM_RIGHTS): the ring's memfd and its doorbell eventfd. The daemon checks the message and
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

typedef struct ttm_hello {
    uint32_t magic;
    uint16_t version;
    uint16_t size;          /* sizeof(ttm_hello) */
    uint32_t nslots;        /* ring geometry, checked against the memfd */
    uint32_t slot_size;
    uint64_t ring_bytes;
    uint64_t dropped;       /* events dropped while no daemon existed, not yet reported */
    uint32_t flags;         /* 1 = reattach: the ring was handed to a daemon before */
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

#endif /* TTM_COMMON_PROTO_H */
