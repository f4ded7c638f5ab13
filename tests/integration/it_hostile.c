/*
 * it_hostile.c — hostile clients of ttmemd for the integration tests (it_daemon's attack
 * cases): each speaks the real protocol (a HELLO with a sealed memfd ring and an eventfd, then
 * the ring's producer side from ring.h) and then misbehaves in one way. Usage:
 *
 *   it_hostile SOCKET eventfd    the doorbell eventfd is blocking and a thread of this process
 *                                reads it back as soon as it is written, while events flow
 *   it_hostile SOCKET rewind     events flow and the ring's tail is rewound in a loop; after
 *                                the daemon closes the session, again with a new session
 *   it_hostile SOCKET counters   events flow and the ring's waited/dropped counters are
 *                                rewritten with impossible values (huge jumps, backwards)
 *   it_hostile SOCKET idle N     N connections that never send a HELLO
 *
 * Each prints "attached" (or "idle N") on stdout once the attack runs, then runs until killed.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
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

#define NSLOTS 1024u

typedef struct peer {
    int sock, memfd, efd;
    ttm_ring_hdr *h;
    _Atomic uint64_t tail_cache;
} peer;

static const char *g_sock;
static uint64_t g_pairs; /* pairs begun over every session: objects are unique */

static void die(const char *what)
{
    fprintf(stderr, "it_hostile: %s: %s\n", what, strerror(errno));
    exit(1);
}

static int dial(void)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", g_sock);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        die("connect");
    return fd;
}

/* A ring handed to the daemon with a HELLO; returns 0, or -1 when the daemon refused. */
static int attach(peer *p, bool blocking_efd)
{
    size_t bytes = ttm__ring_bytes(NSLOTS);
    p->memfd = memfd_create("it-hostile", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (p->memfd < 0 || ftruncate(p->memfd, (off_t)bytes) != 0)
        die("memfd");
    p->h = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, p->memfd, 0);
    if (p->h == MAP_FAILED)
        die("mmap");
    ttm__ring_init(p->h, NSLOTS, (uint32_t)getpid());
    fcntl(p->memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW);
    p->efd = eventfd(0, EFD_CLOEXEC | (blocking_efd ? 0 : EFD_NONBLOCK));
    atomic_store(&p->tail_cache, 0);
    p->sock = dial();
    ttm_hello hello;
    ttm__proto_hello_init(&hello, NSLOTS, 0, 0);
    if (ttm__proto_send_hello(p->sock, &hello, p->memfd, p->efd, -1) != TTM_OK)
        die("hello");
    ttm_hello_reply r;
    if (ttm__proto_recv_reply(p->sock, &r, 10000) != TTM_OK || r.status != 0) {
        fprintf(stderr, "it_hostile: refused: %s\n", r.message);
        return -1;
    }
    return 0;
}

static void detach(peer *p)
{
    close(p->sock);
    close(p->efd);
    close(p->memfd);
    munmap(p->h, ttm__ring_bytes(NSLOTS));
}

/* Commits the next event when there is room (alloc of pair n, then its free); rings the
 * doorbell as libttmem does. Returns false when the ring is full. */
static bool produce_one(peer *p)
{
    static bool free_next; /* the alloc of pair g_pairs is committed, its free is not */
    uint64_t pos;
    bool bell;
    if (!ttm__ring_reserve(p->h, NSLOTS, &p->tail_cache, &pos, &bell))
        return false;
    ttm_event *slot = &ttm__ring_slots(p->h)[pos & (NSLOTS - 1)];
    memset(slot, 0, offsetof(ttm_event, seq));
    slot->kind = free_next ? TTM_EV_FREE : TTM_EV_ALLOC;
    slot->memtype = TTM_MEM_DRAM;
    slot->device = 7;
    slot->ts = g_pairs;
    slot->addr = 0x70000000ull + ((g_pairs % 512) << 12);
    slot->size = 4096;
    slot->obj = g_pairs + 1;
    if (ttm__ring_commit(p->h, slot, pos, bell)) {
        uint64_t one = 1;
        (void)!write(p->efd, &one, sizeof one);
    }
    if (free_next)
        g_pairs++;
    free_next = !free_next;
    return true;
}

/* One alloc/free pair, as far as there is room. */
static void produce(peer *p)
{
    if (produce_one(p))
        produce_one(p);
}

static bool session_closed(const peer *p)
{
    char c;
    ssize_t n = recv(p->sock, &c, 1, MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static void nap_us(long us)
{
    struct timespec ts = {0, us * 1000L};
    nanosleep(&ts, NULL);
}

static void *read_back(void *arg)
{
    peer *p = arg;
    uint64_t v;
    for (;;)
        if (read(p->efd, &v, sizeof v) < 0 && errno != EINTR)
            nap_us(1000);
    return NULL;
}

static int attack_eventfd(void)
{
    peer p;
    if (attach(&p, true) != 0)
        return 1;
    pthread_t th;
    pthread_create(&th, NULL, read_back, &p);
    printf("attached\n");
    fflush(stdout);
    for (;;) {
        /* a short burst, then a pause long enough for the daemon to announce sleep: the next
         * burst rings the doorbell, which the reader thread takes back at once */
        for (int i = 0; i < 8; i++)
            produce(&p);
        nap_us(500);
    }
}

static int attack_rewind(void)
{
    bool announced = false;
    for (;;) {
        peer p;
        if (attach(&p, false) != 0) {
            nap_us(10000);
            continue;
        }
        if (!announced) {
            printf("attached\n");
            fflush(stdout);
            announced = true;
        }
        while (!session_closed(&p)) {
            for (int i = 0; i < 64; i++)
                produce(&p);
            /* the attack: make the consumer read everything again */
            atomic_store_explicit(&p.h->tail, 0, memory_order_release);
            atomic_store(&p.tail_cache, 0);
            nap_us(100);
        }
        detach(&p);
    }
    return 0;
}

static int attack_counters(void)
{
    peer p;
    if (attach(&p, false) != 0)
        return 1;
    printf("attached\n");
    fflush(stdout);
    /* each differs from every other by more than 2^60: every change is backwards or a jump no
     * producer can make, whichever of them the daemon happens to read */
    static const uint64_t values[] = {18446744073709551000ull, 1ull << 62,
                                      18000000000000000000ull, 1ull << 63};
    for (unsigned i = 0;; i++) {
        for (int k = 0; k < 16; k++)
            produce(&p);
        uint64_t v = values[i % (sizeof values / sizeof values[0])];
        atomic_store_explicit(&p.h->waited, v, memory_order_relaxed);
        atomic_store_explicit(&p.h->dropped, v, memory_order_relaxed);
        nap_us(200);
    }
}

static int attack_idle(int n)
{
    for (int i = 0; i < n; i++)
        (void)dial(); /* held open, never a byte sent */
    printf("idle %d\n", n);
    fflush(stdout);
    for (;;)
        pause();
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: it_hostile SOCKET eventfd|rewind|counters|idle N\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    g_sock = argv[1];
    if (strcmp(argv[2], "eventfd") == 0)
        return attack_eventfd();
    if (strcmp(argv[2], "rewind") == 0)
        return attack_rewind();
    if (strcmp(argv[2], "counters") == 0)
        return attack_counters();
    if (strcmp(argv[2], "idle") == 0 && argc == 4)
        return attack_idle(atoi(argv[3]));
    fprintf(stderr, "it_hostile: unknown attack '%s'\n", argv[2]);
    return 2;
}
