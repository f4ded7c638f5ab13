/*
 * it_client.c — a client process for the integration tests: it reports through the real
 * libttmem what its options ask for, talks to the test runner on stdin/stdout, and prints its
 * own counters at the end so the runner can compare them with the daemon's.
 *
 * Steps run in this order, each only when asked:
 *   --pairs K --threads M --device D   M threads each allocate K distinct buffers on device D,
 *                                      then free them all (2*M*K events)
 *   --leak N                           N more buffers never freed
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
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ttmem/ttmem.h"

static uint16_t device;
static uint64_t pairs;

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
        {NULL, 0, NULL, 0},
    };
    uint64_t threads = 1, leak = 0, burst = 0;
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
        for (uint64_t t = 0; t < threads; t++)
            pthread_create(&th[t], NULL, thread_main, (void *)(uintptr_t)t);
        for (uint64_t t = 0; t < threads; t++)
            pthread_join(th[t], NULL);
    }
    for (uint64_t i = 0; i < leak; i++)
        check(ttm_buffer_alloc(device, TTM_MEM_L1, 0x100000 + (i << 10), 1024, 0x7000 + i, 0),
              "alloc");
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
    ttm_client_stats st;
    ttm_client_stats_get(&st);
    printf("stats events=%" PRIu64 " dropped=%" PRIu64 " waited=%" PRIu64 " reconnects=%" PRIu64
           " connected=%d enabled=%d flush=%d\n",
           st.events, st.dropped, st.waited, st.reconnects, st.connected, st.enabled, f);
    return 0;
}
