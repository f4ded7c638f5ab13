/*
 * it_client.c — a client process for the integration tests: it reports through the real
 * libttmem what its options ask for, talks to the test runner on stdin/stdout, and prints its
 * own counters at the end so the runner can compare them with the daemon's.
 *
 * Steps run in this order, each only when asked (--closefrom, --wait-line, --free-leaks and
 * --then run after --leak, in the order they are given, each as often as given):
 *   --pairs K --threads M --device D   M threads each allocate K distinct buffers on device D,
 *                                      then free them all (2*M*K events)
 *   --barrier                          the --pairs threads make their first call together,
 *                                      released by one barrier (a first use from many threads)
 *   --leak N                           N more buffers (L1), not freed unless --free-leaks
 *   --closefrom                        close every descriptor from 3 up, as an application does
 *                                      before an exec, then open files of its own that take
 *                                      the freed numbers (a file, a pipe, an eventfd, a
 *                                      socket pair); at the end, report whether libttmem wrote
 *                                      into any of them: "files untouched" or "files TOUCHED"
 *   --wait-line                        print "waiting", wait for a line on stdin
 *   --free-leaks                       free the --leak buffers
 *   --then K                           K alloc/free pairs on the main thread
 *   --alloc-at ADDR / --free-at ADDR   one allocation / free (obj 0) on device D, DRAM
 *   --double-free                      one buffer allocated and freed twice (same obj)
 *   --hold                             flush, print "ready", wait for a line on stdin
 *   --burst K                          K allocations never freed, no flush, print "committed K",
 *                                      then wait to be killed
 *   --stream                           alloc/free pairs until "q" arrives on stdin
 * At the end: flush, print "stats events=E dropped=D waited=W reconnects=R connected=C
 * enabled=N", exit 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ttmem/ttmem.h"

static uint16_t device;
static uint64_t pairs;
static pthread_barrier_t barrier;
static bool use_barrier;

static uint64_t parse(const char *s, const char *what)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (s[0] == '\0' || *end != '\0' || errno != 0) {
        fprintf(stderr, "it_client: %s '%s' is not a number\n", what, s);
        exit(2);
    }
    return v;
}

static void check(int rc, const char *what)
{
    if (rc != TTM_OK && rc != TTM_EDISABLED) {
        fprintf(stderr, "it_client: %s failed: %s\n", what, ttm_strerror(rc));
        exit(1);
    }
}

static void *thread_main(void *arg)
{
    uint64_t t = (uint64_t)(uintptr_t)arg;
    uint64_t base = (t + 1) << 32;
    if (use_barrier)
        pthread_barrier_wait(&barrier);
    for (uint64_t i = 0; i < pairs; i++)
        check(ttm_buffer_alloc(device, TTM_MEM_DRAM, base + (i << 12), 4096, base + i + 1, 0),
              "alloc");
    for (uint64_t i = 0; i < pairs; i++)
        check(ttm_buffer_free(device, TTM_MEM_DRAM, base + (i << 12), 4096, base + i + 1, 0),
              "free");
    return NULL;
}

static void wait_line(void)
{
    char buf[64];
    if (fgets(buf, sizeof buf, stdin) == NULL)
        return;
}

/* The application's own files, opened after --closefrom on the numbers libttmem had. */
static int own_fds[8];
static int n_own;

static void close_all_and_reopen(void)
{
    for (int fd = 3; fd < 1024; fd++)
        close(fd);
    char tmpl[] = "/tmp/it_client-own-XXXXXX";
    int f = mkstemp(tmpl);
    if (f >= 0)
        unlink(tmpl);
    int p[2] = {-1, -1}, sp[2] = {-1, -1};
    if (pipe(p) != 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, sp) != 0) {
        fprintf(stderr, "it_client: cannot open its own files\n");
        exit(1);
    }
    int e = eventfd(0, EFD_NONBLOCK);
    int all[] = {f, p[0], p[1], e, sp[0], sp[1]};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        own_fds[n_own++] = all[i];
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    fcntl(sp[0], F_SETFL, O_NONBLOCK);
    fcntl(sp[1], F_SETFL, O_NONBLOCK);
}

/* True when nothing was written into, or closed among, the files opened after --closefrom. */
static bool own_files_untouched(void)
{
    char buf[64];
    for (int i = 0; i < n_own; i++)
        if (fcntl(own_fds[i], F_GETFD) < 0)
            return false; /* closed under us */
    if (lseek(own_fds[0], 0, SEEK_END) != 0)
        return false;
    if (read(own_fds[1], buf, sizeof buf) >= 0)
        return false; /* the pipe had data */
    uint64_t v;
    if (read(own_fds[3], &v, sizeof v) >= 0)
        return false; /* the eventfd was written */
    if (recv(own_fds[4], buf, sizeof buf, MSG_DONTWAIT) >= 0 ||
        recv(own_fds[5], buf, sizeof buf, MSG_DONTWAIT) >= 0)
        return false;
    return true;
}

static bool quit_requested(void)
{
    struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
    if (poll(&p, 1, 0) <= 0)
        return false;
    char c;
    ssize_t n = read(STDIN_FILENO, &c, 1);
    return n <= 0 || c == 'q';
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"pairs", required_argument, NULL, 'p'},   {"threads", required_argument, NULL, 't'},
        {"device", required_argument, NULL, 'd'},  {"leak", required_argument, NULL, 'l'},
        {"alloc-at", required_argument, NULL, 'a'}, {"free-at", required_argument, NULL, 'f'},
        {"double-free", no_argument, NULL, 'D'},    {"hold", no_argument, NULL, 'H'},
        {"burst", required_argument, NULL, 'b'},   {"stream", no_argument, NULL, 's'},
        {"barrier", no_argument, NULL, 'B'},        {"closefrom", no_argument, NULL, 'C'},
        {"wait-line", no_argument, NULL, 'W'},      {"free-leaks", no_argument, NULL, 'F'},
        {"then", required_argument, NULL, 'T'},     {NULL, 0, NULL, 0},
    };
    uint64_t threads = 1, leak = 0, burst = 0;
    bool closefrom = false;
    struct step {
        int opt;
        uint64_t arg;
    } steps[16];
    int nsteps = 0;
    uint64_t alloc_at = 0, free_at = 0;
    bool have_alloc = false, have_free = false, dbl = false, hold = false, stream = false;
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'p':
            pairs = parse(optarg, "--pairs");
            break;
        case 't':
            threads = parse(optarg, "--threads");
            break;
        case 'd':
            device = (uint16_t)parse(optarg, "--device");
            break;
        case 'l':
            leak = parse(optarg, "--leak");
            break;
        case 'a':
            alloc_at = parse(optarg, "--alloc-at");
            have_alloc = true;
            break;
        case 'f':
            free_at = parse(optarg, "--free-at");
            have_free = true;
            break;
        case 'D':
            dbl = true;
            break;
        case 'H':
            hold = true;
            break;
        case 'b':
            burst = parse(optarg, "--burst");
            break;
        case 's':
            stream = true;
            break;
        case 'B':
            use_barrier = true;
            break;
        case 'C':
        case 'W':
        case 'F':
        case 'T':
            if (nsteps == (int)(sizeof steps / sizeof steps[0])) {
                fprintf(stderr, "it_client: too many steps\n");
                return 2;
            }
            closefrom |= c == 'C';
            steps[nsteps].opt = c;
            steps[nsteps++].arg = c == 'T' ? parse(optarg, "--then") : 0;
            break;
        default:
            fprintf(stderr, "it_client: bad option\n");
            return 2;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);

    if (pairs > 0) {
        pthread_t th[64];
        if (threads == 0 || threads > 64)
            threads = 1;
        pthread_barrier_init(&barrier, NULL, (unsigned)threads);
        for (uint64_t t = 0; t < threads; t++)
            pthread_create(&th[t], NULL, thread_main, (void *)(uintptr_t)t);
        for (uint64_t t = 0; t < threads; t++)
            pthread_join(th[t], NULL);
    }
    for (uint64_t i = 0; i < leak; i++)
        check(ttm_buffer_alloc(device, TTM_MEM_L1, 0x100000 + (i << 10), 1024, 0x7000 + i, 0),
              "alloc");
    for (int k = 0; k < nsteps; k++) {
        switch (steps[k].opt) {
        case 'C':
            close_all_and_reopen();
            break;
        case 'W':
            printf("waiting\n");
            wait_line();
            break;
        case 'F':
            for (uint64_t i = 0; i < leak; i++)
                check(ttm_buffer_free(device, TTM_MEM_L1, 0x100000 + (i << 10), 1024,
                                      0x7000 + i, 0),
                      "free");
            break;
        default:
            for (uint64_t i = 0; i < steps[k].arg; i++) {
                uint64_t addr = 0x60000000ull + (i << 12);
                uint64_t obj = 0xa0000000ull + ((uint64_t)k << 24) + i;
                check(ttm_buffer_alloc(device, TTM_MEM_DRAM, addr, 4096, obj, 0), "alloc");
                check(ttm_buffer_free(device, TTM_MEM_DRAM, addr, 4096, obj, 0), "free");
            }
            break;
        }
    }
    if (have_alloc)
        check(ttm_buffer_alloc(device, TTM_MEM_DRAM, alloc_at, 4096, 0, 0), "alloc");
    if (have_free)
        check(ttm_buffer_free(device, TTM_MEM_DRAM, free_at, 0, 0, 0), "free");
    if (dbl) {
        check(ttm_buffer_alloc(device, TTM_MEM_DRAM, 0x9000000, 8192, 0xd0b1e, 0), "alloc");
        check(ttm_buffer_free(device, TTM_MEM_DRAM, 0x9000000, 8192, 0xd0b1e, 0), "free");
        check(ttm_buffer_free(device, TTM_MEM_DRAM, 0x9000000, 8192, 0xd0b1e, 0), "free");
    }
    if (hold) {
        int f = ttm_client_flush(10000);
        printf("ready %d\n", f);
        wait_line();
    }
    if (burst > 0) {
        for (uint64_t i = 0; i < burst; i++)
            check(ttm_buffer_alloc(device, TTM_MEM_DRAM, 0x40000000 + (i << 12), 4096,
                                   0xb000000 + i, 0),
                  "alloc");
        printf("committed %" PRIu64 "\n", burst);
        for (;;)
            pause();
    }
    if (stream) {
        uint64_t i = 0;
        do {
            for (int k = 0; k < 64; k++, i++) {
                uint64_t addr = 0x80000000ull + ((i % 4096) << 12);
                ttm_buffer_alloc(device, TTM_MEM_DRAM, addr, 4096, i + 1, 0);
                ttm_buffer_free(device, TTM_MEM_DRAM, addr, 4096, i + 1, 0);
            }
            struct timespec ts = {0, 50000};
            nanosleep(&ts, NULL);
        } while (!quit_requested());
    }
    int f = ttm_client_flush(10000);
    if (closefrom)
        printf("files %s\n", own_files_untouched() ? "untouched" : "TOUCHED");
    ttm_client_stats st;
    ttm_client_stats_get(&st);
    printf("stats events=%" PRIu64 " dropped=%" PRIu64 " waited=%" PRIu64 " reconnects=%" PRIu64
           " connected=%d enabled=%d flush=%d\n",
           st.events, st.dropped, st.waited, st.reconnects, st.connected, st.enabled, f);
    return 0;
}
