/*
 * it_poc_replay.c — replays a simulator scenario as the prototype's client sent it: the
 * scenario runs with the LEGACY client behaviour (addresses only, typeless frees) and each
 * ALLOC and FREE goes to ttmemd's legacy socket as one 72-byte message, over one connection,
 * as a TT-Metal process instrumented for the prototype would send them. Circular buffers and
 * kernel code go as CB_ALLOC / CB_FREE and KERNEL_LOAD / KERNEL_UNLOAD.
 *
 *   it_poc_replay SCENARIO SOCKET
 *
 * Once every message is sent, a QUERY's reply confirms the daemon handled them all. Then the
 * scenario's ground truth is printed as one JSON object of class counts, for the test to
 * compare with what `ttmem analyze-log` finds in the daemon's --poc-log output. The registry
 * keys processes by the connection's (kernel's) pid, so only single-process scenarios can be
 * replayed this way; others are refused with one line (exit 2).
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/registry.h"
#include "sim/sim.h"

typedef struct replay {
    uint8_t *buf; /* the messages, in order */
    size_t len, cap;
    uint32_t pid;  /* the one simulated process */
    bool multi;    /* more than one process sent buffer events */
    uint64_t messages, skipped;
} replay;

static void le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++, v >>= 8)
        p[i] = (uint8_t)v;
}

static void on_event(void *arg, uint32_t pid, const ttm_event *ev)
{
    replay *r = arg;
    if (ev->kind != TTM_EV_ALLOC && ev->kind != TTM_EV_FREE) {
        r->skipped++; /* device info, marks, process start/exit: the protocol has none */
        return;
    }
    if (r->pid == 0)
        r->pid = pid;
    else if (pid != r->pid)
        r->multi = true;
    if (r->len + 72 > r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 1 << 20;
        uint8_t *nb = realloc(r->buf, cap);
        if (nb == NULL) {
            fputs("it_poc_replay: out of memory\n", stderr);
            exit(1);
        }
        r->buf = nb;
        r->cap = cap;
    }
    uint8_t *m = r->buf + r->len;
    memset(m, 0, 72);
    bool alloc = ev->kind == TTM_EV_ALLOC;
    uint8_t type;
    if (ev->memtype == TTM_MEM_CB)
        type = alloc ? 8 : 9;
    else if (ev->memtype == TTM_MEM_KERNEL)
        type = alloc ? 10 : 11;
    else
        type = alloc ? 1 : 2;
    m[0] = type;
    le(m + 4, ev->device, 4);
    le(m + 8, alloc || type != 2 ? ev->size : 0, 8);
    m[16] = type == 1 ? ev->memtype : 0;
    le(m + 20, pid, 4); /* the simulated pid: the daemon must use the kernel's */
    le(m + 24, ev->addr, 8);
    le(m + 32, alloc ? ev->ts : 0, 8);
    r->len += 72;
    r->messages++;
}

static int send_all(int fd, const uint8_t *b, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, b, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        b += n;
        len -= (size_t)n;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fputs("usage: it_poc_replay SCENARIO SOCKET\n", stderr);
        return 2;
    }
    replay r = {0};
    ttm_sim_truth truth;
    int err = ttm_sim_run(argv[1], TTM_SIM_LEGACY, 1, on_event, &r, &truth);
    if (err != TTM_OK) {
        fprintf(stderr, "it_poc_replay: cannot run scenario '%s': %s\n", argv[1],
                ttm_strerror(err));
        return 2;
    }
    if (r.multi) {
        fprintf(stderr, "it_poc_replay: scenario '%s' has several processes; the legacy socket "
                        "knows one per connection\n",
                argv[1]);
        free(r.buf);
        return 2;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(argv[2]) >= sizeof sa.sun_path) {
        fprintf(stderr, "it_poc_replay: socket path too long\n");
        return 2;
    }
    memcpy(sa.sun_path, argv[2], strlen(argv[2]) + 1);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        fprintf(stderr, "it_poc_replay: cannot connect to %s: %s\n", argv[2], strerror(errno));
        return 1;
    }
    uint8_t q[72] = {3}; /* QUERY device 0: its reply says every message before it was handled */
    if (send_all(fd, r.buf, r.len) != 0 || send_all(fd, q, sizeof q) != 0) {
        fprintf(stderr, "it_poc_replay: send failed: %s\n", strerror(errno));
        return 1;
    }
    uint8_t reply[72];
    size_t got = 0;
    while (got < sizeof reply) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 30000) <= 0)
            break;
        ssize_t n = read(fd, reply + got, sizeof reply - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    free(r.buf);
    if (got != sizeof reply || reply[0] != 4) {
        fprintf(stderr, "it_poc_replay: no RESPONSE to the final QUERY (%zu bytes)\n", got);
        return 1;
    }
    static const ttm_class shown[] = {TTM_CLASS_ALLOC_OK, TTM_CLASS_DUPLICATE_ALLOC,
                                      TTM_CLASS_FREE_OK, TTM_CLASS_EXCESS_FREE,
                                      TTM_CLASS_UNKNOWN_FREE};
    printf("{\"scenario\": \"%s\", \"messages\": %llu", argv[1],
           (unsigned long long)r.messages);
    for (size_t i = 0; i < sizeof shown / sizeof shown[0]; i++)
        printf(", \"%s\": %llu", ttm_class_name(shown[i]),
               (unsigned long long)truth.class_count[shown[i]]);
    printf("}\n");
    return 0;
}
