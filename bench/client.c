/*
 * bench/client.c — what one ttm_buffer_alloc() costs the application (the budgets in
 * docs/ARCHITECTURE.md): enabled with 1 thread (≤ 30 ns median), enabled with 2 threads
 * contending (≤ 100 ns), disabled (≤ 1 ns: the header's inline gate; the exported function called directly
 * beside it), and, in the same run, the legacy prototype's way as a baseline: one blocking send()
 * of a 72-byte message per event over a Unix socket to a reader thread (target: ≥ 50x cheaper).
 *
 * Call stacks on (TTMEM_STACKS=1, depth 32), 1 thread, each in a forked child of its own (the
 * stack settings are read with the gate, once per process) with its own consumer: the
 * frame-pointer walk (TTMEM_STACK_UNWINDER=fp, budget ≤ 150 ns), the unwinder (=unwind, budget
 * ≤ 600 ns) and the policy libttmem uses by default (=auto), each from a call chain 40 frames
 * deep built with frame pointers; the stacks-off figure of the same run is the baseline.
 *
 * The enabled runs go through the real libttmem (shared library) into a real ring; the daemon
 * is replaced by a minimal consumer thread in this process that accepts the HELLO on a
 * temporary socket, maps the ring and drains it with ttm__ring_consume(), sleeping on the
 * doorbell when the ring is empty. Every run ends with ttm_client_flush() and the consumer's
 * count is checked against the number of events produced (lost events are reported).
 *
 * Method: each thread times batches of BATCH calls with clock_gettime (the timer's cost, ~20 ns
 * per batch, is under 0.1 ns per event); the figures are the median and the 99th percentile
 * of the per-batch means over all batches of all threads. The disabled figure comes from a
 * forked child that never sets TTMEM, since the gate is read once per process.
 *
 * The consumer drains in batches: after a partial batch it naps 20 us so events accumulate, as
 * a throughput-minded daemon does; --eager makes it chase the producers slot by slot instead,
 * which shows what cache-line sharing with a consumer on the next core costs.
 *
 * Usage: bench_client [--eager] [events_per_thread]   (default 4,000,000)
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "common/proto.h"
#include "common/ring.h"
#include "ttmem/ttmem.h"

#define BATCH 256
#define RUN_EVENTS 16384 /* per thread per run: a quarter of the default ring, so runs measure the
                             producer, not a full ring */
#define BENCH_SLOTS "65536"
#define LEGACY_MSG 72

typedef struct samples {
    double *v;
    size_t n, cap;
    pthread_mutex_t mu;
} samples;

static void samples_add(samples *s, const double *v, size_t n)
{
    pthread_mutex_lock(&s->mu);
    if (s->n + n > s->cap) {
        s->cap = (s->n + n) * 2;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        if (s->v == NULL) {
            fprintf(stderr, "bench_client: out of memory\n");
            exit(1);
        }
    }
    memcpy(s->v + s->n, v, n * sizeof *v);
    s->n += n;
    pthread_mutex_unlock(&s->mu);
}

static void samples_stats(samples *s, double *median, double *p99)
{
    qsort(s->v, s->n, sizeof *s->v, ttm_bench_cmp_double);
    *median = s->n ? s->v[s->n / 2] : 0;
    *p99 = s->n ? s->v[(s->n * 99) / 100] : 0;
}

/* ---- the in-bench consumer (a stand-in for ttmemd) ------------------------------------- */

typedef struct consumer {
    int listen_fd;
    char path[108];
    _Atomic int stop;
    _Atomic uint64_t received;
    _Atomic uint64_t doorbells; /* the ring's count, read when the consumer stops */
    bool eager; /* --eager: drain slot by slot, never nap */
    pthread_t thread;
} consumer;

static void *consumer_main(void *arg)
{
    consumer *c = arg;
    int s = accept(c->listen_fd, NULL, NULL);
    if (s < 0) {
        perror("bench_client: accept");
        return NULL;
    }
    ttm_hello hello;
    int memfd = -1, efd = -1, sidefd = -1;
    char msg[128];
    int err = ttm__proto_recv_hello(s, &hello, &memfd, &efd, &sidefd, msg, sizeof msg);
    if (err != TTM_OK) {
        fprintf(stderr, "bench_client: hello rejected: %s\n", msg);
        ttm__proto_send_reply(s, err, msg);
        close(s);
        return NULL;
    }
    size_t bytes = (size_t)hello.ring_bytes;
    ttm_ring_hdr *h = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    if (h == MAP_FAILED || ttm__ring_validate(h, bytes, msg, sizeof msg) != TTM_OK) {
        fprintf(stderr, "bench_client: bad ring\n");
        ttm__proto_send_reply(s, TTM_EPROTO, "bad ring");
        close(s);
        return NULL;
    }
    atomic_store(&h->consumer_attached, 1);
    ttm__proto_send_reply(s, 0, NULL);
    static ttm_event buf[512];
    while (!atomic_load_explicit(&c->stop, memory_order_relaxed)) {
        size_t n = ttm__ring_consume(h, bytes, buf, 512, false);
        if (n > 0) {
            atomic_fetch_add_explicit(&c->received, n, memory_order_relaxed);
            /* Batching, as a throughput-minded daemon does: after a partial batch let events
             * accumulate instead of chasing the producers slot by slot (which bounces the
             * slot and tail cache lines between the cores on every event). */
            if (n < 512 && !c->eager) {
                struct timespec nap = {.tv_nsec = 20000};
                nanosleep(&nap, NULL);
            }
            continue;
        }
        if (!ttm__ring_prepare_sleep(h, bytes))
            continue;
        struct pollfd p = {.fd = efd, .events = POLLIN};
        if (poll(&p, 1, 50) > 0) {
            uint64_t v;
            if (read(efd, &v, sizeof v) < 0 && errno != EAGAIN)
                break;
        }
        atomic_store(&h->consumer_sleeping, 0);
    }
    atomic_store(&h->consumer_attached, 0);
    atomic_store(&c->doorbells, atomic_load(&h->doorbells));
    munmap(h, bytes);
    close(memfd);
    close(efd);
    close(s);
    return NULL;
}

static int consumer_start(consumer *c)
{
    snprintf(c->path, sizeof c->path, "/tmp/ttmem-bench-%ld.sock", (long)getpid());
    unlink(c->path);
    c->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", c->path);
    if (c->listen_fd < 0 || bind(c->listen_fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(c->listen_fd, 4) != 0) {
        perror("bench_client: listen");
        return -1;
    }
    return pthread_create(&c->thread, NULL, consumer_main, c) == 0 ? 0 : -1;
}

/* ---- producers ------------------------------------------------------------------------- */

/* What a producer calls: the header's call (inline gate), the exported function directly
 * (what a dlsym or ctypes user calls), or an op. */
#define OP_DIRECT ((int (*)(uint64_t, int))1)
#define CHAIN_FRAMES 40 /* call chain under the producer loop: deeper than any stack depth */

typedef struct run_arg {
    samples *out;
    int id;
    size_t events;
    pthread_barrier_t *start;
    int (*op)(uint64_t i, int id); /* NULL: ttm_buffer_alloc(); OP_DIRECT: (ttm_buffer_alloc) */
    bool pin;
} run_arg;

static void produce_batches(run_arg *r, double *v, size_t nb)
{
    uint64_t i = 0;
    uint16_t dev = (uint16_t)r->id;
    for (size_t b = 0; b < nb; b++) {
        uint64_t t0 = ttm_bench_now_ns();
        if (r->op == NULL) { /* the library call itself, no indirection in the loop */
            for (int k = 0; k < BATCH; k++, i++)
                (void)ttm_buffer_alloc(dev, TTM_MEM_DRAM, 0x1000 * i, 4096, i + 1, 0);
        } else if (r->op == OP_DIRECT) {
            for (int k = 0; k < BATCH; k++, i++)
                (void)(ttm_buffer_alloc)(dev, TTM_MEM_DRAM, 0x1000 * i, 4096, i + 1, 0);
        } else {
            for (int k = 0; k < BATCH; k++, i++)
                (void)r->op(i, r->id);
        }
        v[b] = (double)(ttm_bench_now_ns() - t0) / BATCH;
    }
}

/* k frames (with frame pointers: this file is built with them), then the batches. */
static __attribute__((noinline)) void chain(int k, run_arg *r, double *v, size_t nb)
{
    if (k == 0)
        produce_batches(r, v, nb);
    else
        chain(k - 1, r, v, nb);
    __asm__ volatile("" ::: "memory"); /* not a tail call: each frame stays */
}

static void *producer_main(void *arg)
{
    run_arg *r = arg;
    size_t nb = r->events / BATCH;
    double *v = malloc(nb * sizeof *v);
    if (v == NULL)
        return NULL;
    if (r->pin) { /* contending for real: each producer on its own CPU */
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(r->id % (int)sysconf(_SC_NPROCESSORS_ONLN), &set);
        pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    }
    pthread_barrier_wait(r->start);
    chain(CHAIN_FRAMES, r, v, nb);
    samples_add(r->out, v, nb);
    free(v);
    return NULL;
}

/* Runs `threads` producers for `total` events each, in runs of RUN_EVENTS flushed between. */
static void measure(int threads, size_t total, int (*op)(uint64_t, int), samples *out)
{
    for (size_t done = 0; done < total; done += RUN_EVENTS) {
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, (unsigned)threads);
        pthread_t t[8];
        run_arg a[8];
        for (int k = 0; k < threads; k++) {
            a[k] = (run_arg){.out = out, .id = k, .events = RUN_EVENTS, .start = &start, .op = op,
                             .pin = threads > 1};
            pthread_create(&t[k], NULL, producer_main, &a[k]);
        }
        for (int k = 0; k < threads; k++)
            pthread_join(t[k], NULL);
        pthread_barrier_destroy(&start);
        if (ttm_client_enabled() && ttm_client_flush(5000) != TTM_OK)
            fprintf(stderr, "bench_client: flush did not complete\n");
    }
}

/* ---- the baseline: one blocking send() per event, as the legacy client ------------------ */

static void *legacy_reader(void *arg)
{
    int fd = *(int *)arg;
    char msg[LEGACY_MSG];
    for (;;) { /* one message per recv, as the prototype server read them */
        ssize_t n = recv(fd, msg, sizeof msg, MSG_WAITALL);
        if (n <= 0)
            break;
    }
    return NULL;
}

static int legacy_fd = -1;

static int op_legacy(uint64_t i, int id)
{
    (void)id;
    unsigned char msg[LEGACY_MSG] = {1};
    memcpy(msg + 8, &i, sizeof i);
    return send(legacy_fd, msg, sizeof msg, MSG_NOSIGNAL) == (ssize_t)sizeof msg ? 0 : -1;
}

/* ---- main -------------------------------------------------------------------------------- */

static void quiet(int err, const char *msg, void *arg)
{
    (void)err;
    (void)msg;
    (void)arg;
}

static void consumer_stop(consumer *c)
{
    ttm_client_set_log(quiet, NULL); /* the consumer going away is expected here */
    atomic_store(&c->stop, 1);
    pthread_join(c->thread, NULL);
    close(c->listen_fd);
    unlink(c->path);
}

/* One stacks-on figure, in a child of its own: median, p99, and per event the unwinder's
 * share and the stacks interned. Returns 0, or -1 when the child failed. */
typedef struct stack_fig {
    double median, p99, unwinds_per_event;
    uint64_t stacks, lost;
} stack_fig;

static int stacks_child(const char *walker, size_t events, stack_fig *out)
{
    int pfd[2];
    if (pipe(pfd) != 0)
        return -1;
    pid_t child = fork();
    if (child == 0) {
        consumer c = {.listen_fd = -1};
        if (consumer_start(&c) != 0)
            _exit(1);
        setenv("TTMEM_SOCKET", c.path, 1);
        setenv("TTMEM", "1", 1);
        setenv("TTMEM_STACKS", "1", 1);
        setenv("TTMEM_STACK_DEPTH", "32", 1);
        setenv("TTMEM_STACK_UNWINDER", walker, 1);
        if (ttm_phase_mark("bench warmup") != TTM_OK || ttm_client_flush(2000) != TTM_OK)
            _exit(1);
        samples warm = {.mu = PTHREAD_MUTEX_INITIALIZER}, s = {.mu = PTHREAD_MUTEX_INITIALIZER};
        measure(1, RUN_EVENTS, NULL, &warm);
        ttm_client_stats st0, st;
        ttm_client_stats_get(&st0);
        measure(1, events, NULL, &s);
        ttm_client_stats_get(&st);
        stack_fig f;
        samples_stats(&s, &f.median, &f.p99);
        f.unwinds_per_event = (double)(st.unwinds - st0.unwinds) / (double)(st.events - st0.events);
        f.stacks = st.stacks;
        f.lost = st.events - atomic_load(&c.received) + st.dropped + st.stacks_dropped;
        consumer_stop(&c);
        _exit(write(pfd[1], &f, sizeof f) == (ssize_t)sizeof f ? 0 : 1);
    }
    close(pfd[1]);
    int ok = child > 0 && read(pfd[0], out, sizeof *out) == (ssize_t)sizeof *out ? 0 : -1;
    close(pfd[0]);
    if (child > 0)
        waitpid(child, NULL, 0);
    return ok;
}

int main(int argc, char **argv)
{
    bool eager = argc > 1 && strcmp(argv[1], "--eager") == 0;
    if (eager) {
        argc--;
        argv++;
    }
    size_t events = argc > 1 ? strtoull(argv[1], NULL, 0) : 4000000;
    if (events < RUN_EVENTS)
        events = RUN_EVENTS;
    setvbuf(stdout, NULL, _IOLBF, 0);

    /* Disabled: a child that never enables tracking (the gate is read once per process). */
    int pfd[2];
    if (pipe(pfd) != 0)
        return 1;
    unsetenv("TTMEM");
    unsetenv("TT_ALLOC_TRACKING_ENABLED");
    pid_t child = fork();
    if (child == 0) {
        samples s = {.mu = PTHREAD_MUTEX_INITIALIZER}, sc = {.mu = PTHREAD_MUTEX_INITIALIZER};
        measure(1, events * 4, NULL, &s);
        measure(1, events * 4, OP_DIRECT, &sc);
        double d[4];
        samples_stats(&s, &d[0], &d[1]);
        samples_stats(&sc, &d[2], &d[3]);
        if (write(pfd[1], d, sizeof d) != (ssize_t)sizeof d)
            _exit(1);
        _exit(ttm_client_enabled() ? 1 : 0);
    }
    double dis[4] = {0, 0, 0, 0};
    if (child < 0 || read(pfd[0], dis, sizeof dis) != (ssize_t)sizeof dis)
        fprintf(stderr, "bench_client: disabled run failed\n");
    waitpid(child, NULL, 0);

    /* Stacks on, each walker in a child of its own (forked while this process has not read
     * its gate yet), then the stacks-off figures of the same run. */
    static const char *const walkers[] = {"fp", "unwind", "auto"};
    stack_fig figs[3];
    bool figs_ok = true;
    for (int k = 0; k < 3; k++)
        if (stacks_child(walkers[k], events / 4, &figs[k]) != 0) {
            fprintf(stderr, "bench_client: the stacks run (%s) failed\n", walkers[k]);
            figs_ok = false;
        }

    /* Enabled, through a consumer thread standing in for the daemon. */
    consumer c = {.listen_fd = -1, .eager = eager};
    if (consumer_start(&c) != 0)
        return 1;
    setenv("TTMEM_SOCKET", c.path, 1);
    setenv("TTMEM", "1", 1);
    setenv("TTMEM_RING_SLOTS", BENCH_SLOTS, 0);
    if (ttm_phase_mark("bench warmup") != TTM_OK || ttm_client_flush(2000) != TTM_OK) {
        fprintf(stderr, "bench_client: the in-bench consumer did not attach\n");
        return 1;
    }
    samples warm = {.mu = PTHREAD_MUTEX_INITIALIZER};
    measure(1, RUN_EVENTS, NULL, &warm);
    samples one = {.mu = PTHREAD_MUTEX_INITIALIZER}, two = {.mu = PTHREAD_MUTEX_INITIALIZER};
    measure(1, events, NULL, &one);
    measure(2, events, NULL, &two);
    ttm_client_stats st;
    ttm_client_stats_get(&st);
    uint64_t received = atomic_load(&c.received);


    /* Baseline. */
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return 1;
    legacy_fd = sv[0];
    pthread_t reader;
    pthread_create(&reader, NULL, legacy_reader, &sv[1]);
    samples base = {.mu = PTHREAD_MUTEX_INITIALIZER};
    size_t legacy_events = events / 8 < RUN_EVENTS ? RUN_EVENTS : events / 8;
    measure(1, legacy_events, op_legacy, &base);
    shutdown(sv[0], SHUT_WR);
    pthread_join(reader, NULL);
    close(sv[0]);
    close(sv[1]);

    double m1, p1, m2, p2, mb, pb;
    samples_stats(&one, &m1, &p1);
    samples_stats(&two, &m2, &p2);
    samples_stats(&base, &mb, &pb);
    printf("bench_client: ns per event, median / p99 of per-batch means (batches of %d)\n",
           BATCH);
    printf("  enabled, 1 thread              %8.1f / %8.1f   (budget <= 30 median)\n", m1, p1);
    printf("  enabled, 2 threads contending  %8.1f / %8.1f   (budget <= 100 median)\n", m2, p2);
    printf("  disabled, inline gate          %8.2f / %8.2f   (budget <= 1)\n", dis[0], dis[1]);
    printf("  disabled, exported call        %8.2f / %8.2f\n", dis[2], dis[3]);
    static const char *const budget[] = {"(budget <= 150 median)", "(budget <= 600 median)", ""};
    for (int k = 0; figs_ok && k < 3; k++)
        printf("  stacks on, depth 32, %-6s    %8.1f / %8.1f   %s, %.3f unwinds per event, "
               "%llu stacks, %llu lost\n", walkers[k], figs[k].median, figs[k].p99, budget[k],
               figs[k].unwinds_per_event, (unsigned long long)figs[k].stacks,
               (unsigned long long)figs[k].lost);
    if (figs_ok)
        printf("  stacks on (auto) / stacks off  %8.1fx\n", figs[2].median / m1);
    printf("  baseline: blocking send() of a %d-byte message per event\n", LEGACY_MSG);
    printf("                                 %8.1f / %8.1f\n", mb, pb);
    printf("  baseline / enabled 1 thread    %8.1fx          (target >= 50x)\n", mb / m1);
    printf("  events committed %llu, received by the consumer %llu, waited %llu, dropped %llu\n",
           (unsigned long long)st.events, (unsigned long long)received,
           (unsigned long long)st.waited, (unsigned long long)st.dropped);

    consumer_stop(&c);
    printf("  doorbells rung by the producers: %llu\n",
           (unsigned long long)atomic_load(&c.doorbells));
    free(one.v);
    free(two.v);
    free(base.v);
    free(warm.v);
    bool stacks_lost = false;
    for (int k = 0; figs_ok && k < 3; k++)
        stacks_lost |= figs[k].lost != 0;
    return received == st.events && st.dropped == 0 && figs_ok && !stacks_lost ? 0 : 2;
}
