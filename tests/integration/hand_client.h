/*
 * hand_client.h — a ttmemd client that speaks the protocol by hand: a sealed memfd ring with
 * its eventfd doorbell, optionally a side log (side_log.h) sealed as the test chooses, the
 * HELLO with two or three descriptors, and the ring's producer side from ring.h. Used where
 * libttmem cannot be: by tests that make a client misbehave in one precise way (it_side.c)
 * and by the benchmark of the daemon's ingest (bench/e2e.c), which fills a ring before the
 * daemon sees it. Header-only: each user includes it once. Failures print one line and _exit.
 */
#ifndef TTM_TESTS_HAND_CLIENT_H
#define TTM_TESTS_HAND_CLIENT_H

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/proto.h"
#include "common/ring.h"
#include "side_log.h"

typedef struct hand_client {
    int sock, memfd, efd, sidefd; /* sidefd -1: no side log */
    ttm_ring_hdr *h;
    uint32_t nslots;
    _Atomic uint64_t tail_cache;
    side_log side;
    uint64_t objs;
} hand_client;

static inline void hc_die(const char *what)
{
    fprintf(stderr, "hand client %d: %s: %s\n", (int)getpid(), what, strerror(errno));
    _exit(1);
}

/* The ring of nslots and its doorbell; no side log yet. */
static inline void hc_ring(hand_client *c, uint32_t nslots)
{
    memset(c, 0, sizeof *c);
    size_t bytes = ttm__ring_bytes(nslots);
    c->nslots = nslots;
    c->memfd = memfd_create("hand-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (c->memfd < 0 || ftruncate(c->memfd, (off_t)bytes) != 0)
        hc_die("memfd");
    c->h = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, c->memfd, 0);
    if (c->h == MAP_FAILED)
        hc_die("mmap");
    ttm__ring_init(c->h, nslots, (uint32_t)getpid());
    if (fcntl(c->memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) != 0)
        hc_die("seal the ring");
    c->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    c->sidefd = -1;
}

/* A side log of bytes, its header written, sealed with seals (0: not at all). */
static inline void hc_side(hand_client *c, size_t bytes, int seals)
{
    c->sidefd = memfd_create("hand-side", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (c->sidefd < 0 || ftruncate(c->sidefd, (off_t)bytes) != 0)
        hc_die("side memfd");
    void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, c->sidefd, 0);
    if (m == MAP_FAILED)
        hc_die("side mmap");
    side_log_init(&c->side, m, bytes);
    if (seals != 0 && fcntl(c->sidefd, F_ADD_SEALS, seals) != 0)
        hc_die("seal the side log");
}

/* Connects to sock and says HELLO with the ring (and the side log, when there is one).
 * Returns false when no daemon listens (yet) or it went before replying; a refusal ends the
 * client. */
static inline bool hc_hello(hand_client *c, const char *sock, uint32_t flags)
{
    c->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (c->sock < 0 || strlen(sock) >= sizeof sa.sun_path)
        hc_die("socket");
    memcpy(sa.sun_path, sock, strlen(sock) + 1);
    if (connect(c->sock, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(c->sock);
        return false;
    }
    ttm_hello hello;
    ttm__proto_hello_init(&hello, c->nslots, 0, flags | (c->sidefd >= 0 ? TTM_HELLO_SIDE : 0));
    ttm_hello_reply r;
    if (ttm__proto_send_hello(c->sock, &hello, c->memfd, c->efd, c->sidefd) != TTM_OK ||
        ttm__proto_recv_reply(c->sock, &r, 10000) != TTM_OK) {
        close(c->sock); /* a daemon stopping: try the next one */
        return false;
    }
    if (r.status != 0) {
        fprintf(stderr, "hand client %d: refused: %s\n", (int)getpid(), r.message);
        _exit(1);
    }
    return true;
}

/* Commits ev (its seq aside) as the ring's next event, waiting for room as a producer does
 * (when wait; otherwise returns false on a full ring), and rings the doorbell when the
 * consumer sleeps. */
static inline bool hc_put(hand_client *c, const ttm_event *ev, bool wait)
{
    uint64_t pos;
    bool bell;
    while (!ttm__ring_reserve(c->h, c->nslots, &c->tail_cache, &pos, &bell)) {
        if (!wait)
            return false;
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
    }
    ttm_event *e = &ttm__ring_slots(c->h)[pos & (c->nslots - 1)];
    memcpy(e, ev, offsetof(ttm_event, seq));
    memcpy((uint8_t *)e + offsetof(ttm_event, ts), (const uint8_t *)ev + offsetof(ttm_event, ts),
           sizeof *e - offsetof(ttm_event, ts));
    if (ttm__ring_commit(c->h, e, pos, bell)) {
        uint64_t one = 1;
        (void)!write(c->efd, &one, sizeof one);
    }
    return true;
}

/* One ALLOC of a new object (or the FREE of the last one) carrying stack and scope. */
static inline void hc_event(hand_client *c, uint8_t kind, uint32_t stack, uint32_t scope)
{
    ttm_event e;
    memset(&e, 0, sizeof e);
    if (kind == TTM_EV_ALLOC)
        c->objs++;
    e.kind = kind;
    e.memtype = TTM_MEM_DRAM;
    e.ts = c->objs;
    e.addr = 0x10000000ull + (c->objs << 12);
    e.size = 4096;
    e.obj = c->objs;
    e.stack = stack;
    e.scope = scope;
    hc_put(c, &e, true);
}

#endif /* TTM_TESTS_HAND_CLIENT_H */
