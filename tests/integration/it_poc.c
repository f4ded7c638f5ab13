/*
 * it_poc.c — integration tests of ttmemd's legacy socket (`--poc-socket`, docs/COMPAT.md): a
 * real daemon on sockets in a temporary directory, and test clients that speak the
 * allocation-server prototype's protocol as docs/COMPAT.md ("The wire format") writes it. Messages
 * and expected replies are packed here by hand at the spec's offsets (not with src/common/poc.c,
 * whose bugs they would share), and replies are compared byte by byte.
 *
 * One case per run: `it_poc CASE TTMEMD TTMEM`; ctest runs each case as its own test with a
 * timeout. Every process a case starts is killed at exit and the temporary directory removed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/report.h"
#include "core/registry.h"
#include "harness.h"

#define CASE_TIMEOUT_S 90

static const char *g_ttmemd, *g_ttmem;
static char g_sock[96], g_query[108], g_poc[96], g_log[128];
static pid_t g_daemon = -1;

/* ---- harness --------------------------------------------------------------------------------- */


/* Starts ttmemd with the legacy socket and extra arguments (NULL-terminated); its log goes to
 * g_log. Waits until it listens. */
static void start_daemon(const char *const *extra)
{
    char poc_arg[160];
    snprintf(poc_arg, sizeof poc_arg, "--poc-socket=%s", g_poc);
    const char *args[24] = {poc_arg};
    int n = 1;
    for (int i = 0; extra != NULL && extra[i] != NULL && n < 23; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    g_daemon = it_start_ttmemd(g_ttmemd, g_sock, g_log, args);
}

/* Stops the daemon: it must stop cleanly on SIGTERM (under the sanitizers a leak or an error
 * makes the status non-zero), and its log may hold no sanitizer report. */
static void stop_daemon(void)
{
    if (g_daemon <= 0)
        return;
    CHECK(kill(g_daemon, SIGTERM) == 0, "SIGTERM to the daemon");
    int64_t deadline = it_now_ms() + 10000;
    int status = 0;
    for (;;) {
        pid_t r = waitpid(g_daemon, &status, WNOHANG);
        if (r == g_daemon)
            break;
        CHECK(it_now_ms() < deadline, "the daemon did not stop within 10 s");
        it_sleep_us(5000);
    }
    it_untrack(g_daemon);
    g_daemon = -1;
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the daemon stopped with 0x%x", status);
}

/* Counts the lines of the daemon's log that contain needle. */
static int log_count(const char *needle)
{
    int n = it_count_lines(g_log, needle);
    return n < 0 ? 0 : n;
}

static void snap(ttm_report *s)
{
    it_snap(g_query, TTM_SNAP_WANT_STATUS, 5000, s);
}

/* ---- the protocol, from the spec ------------------------------------------------------------- */

enum {
    ALLOC = 1, FREE = 2, QUERY = 3, RESPONSE = 4, DUMP_REMAINING = 5, DEVICE_INFO_QUERY = 6,
    DEVICE_INFO_RESPONSE = 7, CB_ALLOC = 8, CB_FREE = 9, KERNEL_LOAD = 10, KERNEL_UNLOAD = 11,
    DUMP_KERNELS = 12
};
enum { DRAM = 0, L1 = 1, SYSTEM_MEMORY = 2, L1_SMALL = 3, TRACE = 4 };

#define FAKE_PID 0x7fffffff /* what the messages claim; the daemon must not believe it */

static void le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++, v >>= 8)
        p[i] = (uint8_t)v;
}

/* The common 40-byte prefix; the rest of the size bytes zero. */
static void pack(uint8_t *b, size_t size, uint8_t type, int32_t dev, uint64_t bytes,
                 uint8_t buffer_type, uint64_t id)
{
    memset(b, 0, size);
    b[0] = type;
    le(b + 4, (uint32_t)dev, 4);
    le(b + 8, bytes, 8);
    b[16] = buffer_type;
    le(b + 20, (uint32_t)FAKE_PID, 4);
    le(b + 24, id, 8);
    le(b + 32, type == ALLOC ? 1700000000000000000ull : 0, 8);
}

typedef struct totals {
    uint64_t dram, l1, l1_small, trace, cb, kernel;
} totals;

/* The RESPONSE the spec describes: zeroed, type 4, device_id echoed, per-type totals (v3 also
 * cb and kernel). */
static void expect_response(uint8_t *b, size_t size, int32_t dev, const totals *t)
{
    memset(b, 0, size);
    b[0] = RESPONSE;
    le(b + 4, (uint32_t)dev, 4);
    le(b + 40, t->dram, 8);
    le(b + 48, t->l1, 8);
    le(b + 56, t->l1_small, 8);
    le(b + 64, t->trace, 8);
    if (size == 144) {
        le(b + 72, t->cb, 8);
        le(b + 80, t->kernel, 8);
    }
}

typedef struct devinfo {
    uint64_t total_dram, total_l1;
    uint32_t arch, channels, per_channel, l1_per_core, available, num_devices;
} devinfo;

/* The DEVICE_INFO_RESPONSE: v2 and v3 place the fields differently; v1 has none of them. */
static void expect_devinfo(uint8_t *b, size_t size, int32_t dev, const devinfo *i)
{
    memset(b, 0, size);
    b[0] = DEVICE_INFO_RESPONSE;
    le(b + 4, (uint32_t)dev, 4);
    size_t o = size == 144 ? 88 : 72;
    if (size == 72)
        return;
    le(b + o, i->total_dram, 8);
    le(b + o + 8, i->total_l1, 8);
    le(b + o + 16, i->arch, 4);
    le(b + o + 20, i->channels, 4);
    le(b + o + 24, i->per_channel, 4);
    le(b + o + 28, i->l1_per_core, 4);
    le(b + o + 32, i->available, 4);
    le(b + o + 36, i->num_devices, 4);
}

/* Blackhole: 8 DRAM channels of 4278190080 bytes, 140 worker cores of 1.5 MiB of L1. */
static const devinfo BLACKHOLE = {
    .total_dram = 8ull * 4278190080ull, .total_l1 = 140ull * 1572864ull, .arch = 3,
    .channels = 8, .per_channel = 4278190080u, .l1_per_core = 1572864u, .available = 1};

static int poc_connect(void)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0, "socket");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", g_poc);
    CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0, "connect %s: %s", g_poc,
          strerror(errno));
    return fd;
}

/* Sends len bytes in writes of at most chunk bytes (0 = one write), pausing pause_us between. */
static void send_bytes(int fd, const uint8_t *b, size_t len, size_t chunk, long pause_us)
{
    size_t off = 0;
    while (off < len) {
        size_t n = chunk == 0 || len - off < chunk ? len - off : chunk;
        ssize_t w = write(fd, b + off, n);
        CHECK(w > 0, "write: %s", strerror(errno));
        off += (size_t)w;
        if (pause_us > 0 && off < len)
            it_sleep_us(pause_us);
    }
}

/* Sends what it can: the daemon may close the connection in the middle (garbage). */
static void send_lossy(int fd, const uint8_t *b, size_t len, size_t chunk)
{
    for (size_t off = 0; off < len; off += chunk) {
        size_t n = len - off < chunk ? len - off : chunk;
        if (write(fd, b + off, n) != (ssize_t)n)
            return;
    }
}

static void send_msg(int fd, size_t size, uint8_t type, int32_t dev, uint64_t bytes,
                     uint8_t buffer_type, uint64_t id)
{
    uint8_t b[144];
    pack(b, size, type, dev, bytes, buffer_type, id);
    send_bytes(fd, b, size, 0, 0);
}

/* Reads exactly len bytes within timeout_ms. Returns the count read (less on EOF/timeout). */
static size_t read_exact(int fd, uint8_t *b, size_t len, int timeout_ms)
{
    size_t off = 0;
    int64_t deadline = it_now_ms() + timeout_ms;
    while (off < len) {
        int64_t left = deadline - it_now_ms();
        if (left <= 0)
            break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        ssize_t n = read(fd, b + off, len - off);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    return off;
}

/* Reads one reply of size bytes and compares it with want, byte by byte. */
static void check_reply(int line, int fd, size_t size, const uint8_t *want)
{
    uint8_t got[144];
    size_t n = read_exact(fd, got, size, 5000);
    if (n != size)
        it_fail(line, "reply of %zu bytes expected, got %zu", size, n);
    for (size_t i = 0; i < size; i++)
        if (got[i] != want[i])
            it_fail(line, "%zu-byte reply differs at offset %zu: got 0x%02x, expected 0x%02x", size,
                 i, got[i], want[i]);
}

static void query(int line, int fd, size_t size, int32_t dev, const totals *t)
{
    uint8_t want[144];
    send_msg(fd, size, QUERY, dev, 0, 0, 0);
    expect_response(want, size, dev, t);
    check_reply(line, fd, size, want);
}

static void device_info(int line, int fd, size_t size, int32_t dev, const devinfo *i)
{
    uint8_t want[144];
    send_msg(fd, size, DEVICE_INFO_QUERY, dev, 0, 0, 0);
    expect_devinfo(want, size, dev, i);
    check_reply(line, fd, size, want);
}

/* True when the daemon closed fd (EOF) within timeout_ms; bytes before it are discarded. */
static bool closed_by_daemon(int fd, int timeout_ms)
{
    int64_t deadline = it_now_ms() + timeout_ms;
    uint8_t b[256];
    while (it_now_ms() < deadline) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        ssize_t n = read(fd, b, sizeof b);
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            return true;
    }
    return false;
}

/* Waits until the registry has no live record and the process's exit was settled. */
static void wait_leaked(uint32_t pid, uint64_t leaked, int timeout_ms)
{
    int64_t deadline = it_now_ms() + timeout_ms;
    for (;;) {
        ttm_report s;
        snap(&s);
        const ttm_report_proc *p = it_proc_of(&s, pid);
        bool done = p != NULL && !p->stats.alive && p->stats.leaked_count == leaked;
        ttm_report_clear(&s);
        if (done)
            return;
        CHECK(it_now_ms() < deadline, "pid %u: exit with %llu leaks not settled", pid,
              (unsigned long long)leaked);
        it_sleep_us(20000);
    }
}

/* Forks a child that talks with this process over two pipes: *go carries the parent's word to
 * the child, *ready the child's to the parent; each side gets its own ends (the others closed).
 * Returns the child's pid in the parent (tracked), 0 in the child. */
static pid_t fork_talking(int *go, int *ready)
{
    int g[2], r[2];
    CHECK(pipe(g) == 0 && pipe(r) == 0, "pipe");
    pid_t child = fork();
    CHECK(child >= 0, "fork");
    if (child == 0) {
        close(g[1]);
        close(r[0]);
        *go = g[0];
        *ready = r[1];
        return 0;
    }
    it_track(child);
    close(g[0]);
    close(r[1]);
    *go = g[1];
    *ready = r[0];
    return child;
}

/* ---- cases ----------------------------------------------------------------------------------- */

/* One client of one message size: every message type, and every reply checked byte by byte. */
static void run_size(size_t size)
{
    static const char *const extra[] = {"--devices", "4", "--arch", "blackhole", NULL};
    start_daemon(extra);
    int fd = poc_connect();
    /* device 0 and device 1, every buffer type; the same address on both devices */
    send_msg(fd, size, ALLOC, 0, 4096, DRAM, 0x10000);
    send_msg(fd, size, ALLOC, 0, 1024, L1, 0x2000);
    send_msg(fd, size, ALLOC, 0, 512, L1_SMALL, 0x3000);
    send_msg(fd, size, ALLOC, 0, 65536, TRACE, 0x80000000ull);
    send_msg(fd, size, ALLOC, 0, 1 << 20, SYSTEM_MEMORY, 0x100000000ull);
    send_msg(fd, size, ALLOC, 1, 8192, DRAM, 0x10000);
    send_msg(fd, size, ALLOC, 1, 2048, L1, 0x2000);
    send_msg(fd, size, ALLOC, 0, 4096, DRAM, 0x10000); /* again: reference count 2 */
    /* SYSTEM_MEMORY is in l1_small_allocated, as the prototype had it (case_query) */
    totals t0 = {.dram = 4096, .l1 = 1024, .l1_small = 512 + (1 << 20), .trace = 65536};
    totals t1 = {.dram = 8192, .l1 = 2048};
    if (size == 144) {
        send_msg(fd, size, CB_ALLOC, 0, 3000, 0, 0x5000);
        send_msg(fd, size, KERNEL_LOAD, 0, 700, 1 /* Fabric */, 77);
        send_msg(fd, size, CB_ALLOC, 1, 100, 0, 0x5000);
        t0.cb = 3000;
        t0.kernel = 700;
        t1.cb = 100;
    }
    query(__LINE__, fd, size, 0, &t0);
    query(__LINE__, fd, size, 1, &t1);
    totals zero = {0};
    query(__LINE__, fd, size, 3, &zero);  /* a known device with nothing on it */
    query(__LINE__, fd, size, 9, &zero);  /* a device nobody mentioned */
    query(__LINE__, fd, size, -1, &zero); /* not a device */

    /* frees: the size and buffer type of a FREE are not used */
    send_msg(fd, size, FREE, 0, 0, 0, 0x10000);
    query(__LINE__, fd, size, 0, &t0); /* one reference left */
    send_msg(fd, size, FREE, 0, 999999, TRACE, 0x10000);
    send_msg(fd, size, FREE, 0, 0, 0, 0x2000);
    t0.dram = 0;
    t0.l1 = 0;
    if (size == 144) {
        send_msg(fd, size, CB_FREE, 0, 3000, 0, 0x5000);
        send_msg(fd, size, KERNEL_UNLOAD, 0, 700, 1, 77);
        t0.cb = 0;
        t0.kernel = 0;
    }
    send_msg(fd, size, FREE, 0, 0, 0, 0xdead0000ull); /* never allocated */
    query(__LINE__, fd, size, 0, &t0);

    /* device information: --devices 4 --arch blackhole */
    devinfo all = {.available = 1, .num_devices = 4};
    device_info(__LINE__, fd, size, -1, &all);
    device_info(__LINE__, fd, size, 2, &BLACKHOLE);
    devinfo none = {0};
    device_info(__LINE__, fd, size, 7, &none);

    /* reports: no reply (the next reply is the query's), a report on the daemon's output */
    send_msg(fd, size, DUMP_REMAINING, 0, 0, 0, 0);
    send_msg(fd, size, DUMP_KERNELS, 0, 0, 0, 0);
    send_msg(fd, size, DUMP_REMAINING, 0, 0, 0, 0); /* within a second: skipped, counted */
    query(__LINE__, fd, size, 1, &t1);
    CHECK_EQ(log_count("REMAINING ALLOCATED BUFFERS"), 1);
    CHECK_EQ(log_count("LOADED KERNELS"), 1);
    char want_line[64];
    snprintf(want_line, sizeof want_line, "legacy client pid %d sends %zu-byte", (int)getpid(),
             size);
    CHECK_EQ(log_count(want_line), 1);

    /* the registry holds the kernel's pid, never the claimed one */
    ttm_report s;
    snap(&s);
    const ttm_report_proc *me = it_proc_of(&s, (uint32_t)getpid());
    CHECK(me != NULL && me->connected, "this process is a connected process");
    CHECK(it_proc_of(&s, FAKE_PID) == NULL, "no process has the claimed pid");
    CHECK_EQ(it_class(&s, TTM_CLASS_DUPLICATE_ALLOC), 1);
    CHECK_EQ(it_class(&s, TTM_CLASS_UNKNOWN_FREE), 1);
    CHECK_EQ(it_class(&s, TTM_CLASS_FREE_OK), size == 144 ? 5 : 3);
    CHECK_EQ(s.totals.live_records, size == 144 ? 6 : 5);
    CHECK_EQ(s.legacy.rejected, 1);
    CHECK_EQ(s.legacy.messages[DUMP_REMAINING], 2);
    ttm_report_clear(&s);
    close(fd);
    stop_daemon();
}

static void case_v1(void)
{
    run_size(72);
}

static void case_v2(void)
{
    run_size(112);
}

static void case_v3(void)
{
    run_size(144);
}

/* A 112-byte and a 144-byte client at once, sending in turns: each reply has its request's
 * size, the totals hold both. Closing one connection settles nothing while the other is open. */
static void case_mixed(void)
{
    static const char *const extra[] = {"--devices", "2", "--arch", "wormhole_b0", NULL};
    start_daemon(extra);
    int a = poc_connect(), b = poc_connect();
    for (int i = 0; i < 50; i++) {
        send_msg(a, 112, ALLOC, 0, 1000, DRAM, 0x100000 + (uint64_t)i * 0x1000);
        send_msg(b, 144, ALLOC, 1, 2000, L1, 0x1000 + (uint64_t)i * 0x100);
        send_msg(b, 144, CB_ALLOC, 0, 10, 0, 0x90000 + (uint64_t)i * 0x100);
    }
    totals t0 = {.dram = 50000, .cb = 500}, t1 = {.l1 = 100000};
    query(__LINE__, a, 112, 0, &t0);
    query(__LINE__, b, 144, 0, &t0);
    query(__LINE__, a, 112, 1, &t1);
    query(__LINE__, b, 144, 1, &t1);
    devinfo wh = {.total_dram = 12ull << 30, .total_l1 = 64ull * 1499136, .arch = 2,
                  .channels = 12, .per_channel = 1u << 30, .l1_per_core = 1499136,
                  .available = 1};
    device_info(__LINE__, a, 112, 1, &wh);
    device_info(__LINE__, b, 144, 1, &wh);
    close(a); /* the process still has b: nothing is settled */
    it_sleep_us(100000);
    query(__LINE__, b, 144, 0, &t0);
    ttm_report s;
    snap(&s);
    CHECK_EQ(it_class(&s, TTM_CLASS_LEAKED_AT_EXIT), 0);
    CHECK_EQ(s.totals.live_records, 150);
    ttm_report_clear(&s);
    close(b);
    stop_daemon();
}

/* Garbage, corrupted messages and a client that speaks no protocol at all; the clean client
 * beside them never notices. */
static void case_garbage(void)
{
    start_daemon(NULL);
    int clean = poc_connect();
    send_msg(clean, 72, ALLOC, 0, 100, DRAM, 0x1000);

    /* garbage before the first message: skipped, the size still detected */
    int g = poc_connect();
    uint8_t junk[2000];
    memset(junk, 0xee, sizeof junk);
    send_bytes(g, junk, 13, 0, 0);
    send_msg(g, 112, ALLOC, 0, 200, DRAM, 0x2000);
    send_msg(g, 112, ALLOC, 0, 300, DRAM, 0x3000);
    /* garbage between messages */
    send_bytes(g, junk, 5, 0, 0);
    send_msg(g, 112, ALLOC, 0, 400, DRAM, 0x4000);
    /* a corrupted message: type 1, but its pads are not zero and nothing in it is small */
    uint8_t bad[112];
    memset(bad, 0x41, sizeof bad);
    bad[0] = ALLOC;
    send_bytes(g, bad, sizeof bad, 0, 0);
    send_msg(g, 112, ALLOC, 0, 500, DRAM, 0x5000);
    /* a server-to-client type from a client: ignored */
    send_msg(g, 112, RESPONSE, 0, 0, 0, 0);
    totals t = {.dram = 100 + 200 + 300 + 400 + 500};
    /* the clean client's lone ALLOC waits until its size is known: its query tells it */
    query(__LINE__, clean, 72, 0, &t);
    query(__LINE__, g, 112, 0, &t);

    /* nothing but garbage: closed after 10 bad messages in a row, with one log line */
    int noise = poc_connect();
    send_lossy(noise, junk, sizeof junk, sizeof junk);
    CHECK(closed_by_daemon(noise, 5000), "a client sending only garbage is disconnected");
    close(noise);
    CHECK_EQ(log_count("bad messages in a row"), 1);
    /* garbage after the size is known: the same */
    int noise2 = poc_connect();
    send_msg(noise2, 144, ALLOC, 0, 1, DRAM, 0x6000);
    send_msg(noise2, 144, ALLOC, 0, 1, DRAM, 0x7000);
    send_lossy(noise2, junk, sizeof junk, 7);
    CHECK(closed_by_daemon(noise2, 5000), "garbage after good messages disconnects too");
    close(noise2);
    CHECK_EQ(log_count("bad messages in a row"), 2);

    /* the others still work */
    t.dram += 2;
    query(__LINE__, clean, 72, 0, &t);
    send_msg(g, 112, FREE, 0, 0, 0, 0x5000);
    t.dram -= 500;
    query(__LINE__, g, 112, 0, &t);
    /* the counters say what happened */
    ttm_report s;
    snap(&s);
    const ttm_report_legacy *l = &s.legacy;
    CHECK(s.sections & TTM_SNAP_BIT(TTM_SNAP_SEC_LEGACY), "the snapshot has the legacy section");
    CHECK(strcmp(l->path, g_poc) == 0, "legacy socket path '%s'", l->path);
    CHECK_EQ(l->connected, 2);
    CHECK_EQ(l->connections, 4);
    CHECK_EQ(l->closed_bad, 2);
    CHECK_EQ(l->resyncs, 3); /* after the leading junk, the junk between, the corrupted one */
    CHECK_EQ(l->bad, 3 + 10 + 10);
    CHECK(l->ntypes > RESPONSE && l->messages[RESPONSE] == 1, "one RESPONSE counted");
    CHECK_EQ(l->messages[ALLOC], 1 + 4 + 2);
    ttm_report_clear(&s);
    close(g);
    close(clean);
    stop_daemon();
    CHECK_EQ(log_count("only the server sends"), 1);
}

/* Messages split over many small writes; two such clients interleaved; a stream cut inside a
 * message. */
static void case_split(void)
{
    start_daemon(NULL);
    int a = poc_connect(), b = poc_connect();
    uint8_t sa[144 * 8], sb[72 * 8];
    size_t na = 0, nb = 0;
    for (int i = 0; i < 6; i++) {
        pack(sa + na, 144, i % 2 ? CB_ALLOC : ALLOC, 2, 64 + (uint64_t)i, L1, 0x100 * (i + 1));
        na += 144;
        pack(sb + nb, 72, ALLOC, 3, 1000, DRAM, 0x10000 * (i + 1));
        nb += 72;
    }
    pack(sa + na, 144, QUERY, 2, 0, 0, 0);
    na += 144;
    pack(sb + nb, 72, QUERY, 3, 0, 0, 0);
    nb += 72;
    /* interleave: a few bytes of one, then of the other */
    size_t oa = 0, ob = 0;
    unsigned k = 1;
    while (oa < na || ob < nb) {
        size_t ca = 1 + k % 13, cb = 1 + (k * 7) % 11;
        k++;
        if (oa < na) {
            size_t n = na - oa < ca ? na - oa : ca;
            send_bytes(a, sa + oa, n, 0, 0);
            oa += n;
        }
        if (ob < nb) {
            size_t n = nb - ob < cb ? nb - ob : cb;
            send_bytes(b, sb + ob, n, 0, 0);
            ob += n;
        }
        it_sleep_us(100);
    }
    uint8_t want[144];
    totals ta = {.l1 = 64 + 66 + 68, .cb = 65 + 67 + 69}, tb = {.dram = 6000};
    expect_response(want, 144, 2, &ta);
    check_reply(__LINE__, a, 144, want);
    expect_response(want, 72, 3, &tb);
    check_reply(__LINE__, b, 72, want);

    /* one message and a half, then the connection closes: the half is dropped */
    int c = poc_connect();
    uint8_t two[144];
    pack(two, 72, ALLOC, 4, 5000, DRAM, 0x1000);
    pack(two + 72, 72, ALLOC, 4, 7000, DRAM, 0x2000);
    send_bytes(c, two, 72 + 50, 0, 0);
    close(c);
    /* a lone 40-byte header, then close */
    c = poc_connect();
    send_bytes(c, two, 40, 0, 0);
    close(c);
    it_sleep_us(200000);
    totals t4 = {.dram = 5000};
    query(__LINE__, b, 72, 4, &t4);
    close(a);
    close(b);
    stop_daemon();
}

/* The pid is the kernel's: a client that claims another pid is shown under its own by
 * `ttmem status --json`. Its exit settles its buffers as leaked_at_exit, whether it closes
 * the connection before exiting or exits after closing. */
static void case_pid(void)
{
    start_daemon(NULL);
    int go, ready;
    pid_t child = fork_talking(&go, &ready);
    if (child == 0) {
        int fd = poc_connect();
        send_msg(fd, 72, ALLOC, 5, 4096, DRAM, 0x1000);
        send_msg(fd, 72, ALLOC, 5, 2048, L1, 0x2000);
        totals t = {.dram = 4096, .l1 = 2048};
        query(__LINE__, fd, 72, 5, &t);
        (void)!write(ready, "r", 1);
        char x;
        (void)!read(go, &x, 1); /* 1: close and stay; EOF: exit */
        close(fd);
        (void)!write(ready, "c", 1);
        (void)!read(go, &x, 1);
        _exit(0);
    }
    char x;
    CHECK(read(ready, &x, 1) == 1, "the child is ready");

    char cmd[512], out[128];
    snprintf(cmd, sizeof cmd, "%s status --json --socket %s > %s/status.json", g_ttmem, g_sock,
             it_dir);
    CHECK(system(cmd) == 0, "ttmem status --json");
    snprintf(cmd, sizeof cmd,
             "python3 -c \"import json,sys; s=json.load(open('%s/status.json')); "
             "p={x['pid']:x for x in s['processes']}; "
             "assert %d in p and p[%d]['bytes']['DRAM']==4096 and p[%d]['connected'], p; "
             "assert %d not in p\"",
             it_dir, (int)child, (int)child, (int)child, FAKE_PID);
    CHECK(system(cmd) == 0, "status --json shows the real pid with its bytes, not the claimed");

    /* the connection closes, the process runs on: its buffers stay */
    CHECK(write(go, "1", 1) == 1, "tell the child");
    CHECK(read(ready, &x, 1) == 1, "the child closed its connection");
    it_sleep_us(300000);
    ttm_report s;
    snap(&s);
    const ttm_report_proc *p = it_proc_of(&s, (uint32_t)child);
    CHECK(p != NULL && p->stats.alive && !p->connected && p->stats.live_records == 2, "buffers stay");
    CHECK_EQ(it_class(&s, TTM_CLASS_LEAKED_AT_EXIT), 0);
    ttm_report_clear(&s);
    /* then it exits: leaked_at_exit within the once-a-second check */
    close(go);
    close(ready);
    CHECK(waitpid(child, NULL, 0) == child, "the child exits");
    it_untrack(child);
    wait_leaked((uint32_t)child, 2, 5000);
    snprintf(out, sizeof out, "pid %d", (int)child);

    /* a process that exits with its connection open: settled when the connection closes */
    child = fork();
    CHECK(child >= 0, "fork");
    if (child == 0) {
        int fd = poc_connect();
        send_msg(fd, 144, KERNEL_LOAD, 6, 300, 2, 5);
        totals t = {.kernel = 300};
        query(__LINE__, fd, 144, 6, &t);
        _exit(0);
    }
    it_track(child);
    CHECK(waitpid(child, NULL, 0) == child, "the second child exits");
    it_untrack(child);
    wait_leaked((uint32_t)child, 1, 5000);
    stop_daemon();
    CHECK(log_count(out) >= 2, "the log names the real pid");
}

/* A client that sends queries and does not read the replies: the daemon stops reading it
 * (instead of buffering without bound or blocking) and serves the others; when the client
 * reads, every reply arrives, in order. */
static void case_stall(void)
{
    enum { N = 10000 }; /* 720 KB each way: more than the socket buffers hold */
    start_daemon(NULL);
    int slow = poc_connect(), other = poc_connect();
    send_msg(slow, 72, ALLOC, 0, 123, DRAM, 0x1000);
    uint8_t *msgs = calloc(N, 72);
    CHECK(msgs != NULL, "memory");
    for (int i = 0; i < N; i++)
        pack(msgs + (size_t)i * 72, 72, QUERY, i % 2, 0, 0, 0);
    /* the socket buffers fill: write from a child so this process can go on */
    pid_t writer = fork();
    CHECK(writer >= 0, "fork");
    if (writer == 0) {
        send_bytes(slow, msgs, (size_t)N * 72, 0, 0);
        _exit(0);
    }
    it_track(writer);
    it_sleep_us(300000);
    totals t0 = {.dram = 123}, t1 = {0};
    for (int i = 0; i < 20; i++) {
        send_msg(other, 72, ALLOC, 1, 10, L1, 0x100 + (uint64_t)i * 0x10);
        t1.l1 += 10;
        query(__LINE__, other, 72, 1, &t1);
    }
    uint8_t want0[72], want1[72];
    expect_response(want0, 72, 0, &t0);
    for (int i = 0; i < N; i++) {
        expect_response(want1, 72, 1, &t1);
        /* device 1's totals grew while the queries waited: the early replies may say less */
        uint8_t got[72];
        CHECK_EQ(read_exact(slow, got, 72, 5000), 72);
        if (i % 2 == 0) {
            CHECK(memcmp(got, want0, 72) == 0, "reply %d to the stalled client", i);
        } else {
            CHECK(got[0] == RESPONSE && got[4] == 1, "reply %d is device 1's", i);
        }
    }
    CHECK(waitpid(writer, NULL, 0) == writer, "the writer finished");
    it_untrack(writer);
    free(msgs);
    close(slow);
    close(other);
    stop_daemon();
}

/* --poc-size forces the size: 144-byte messages on a connection forced to 72 are taken as two
 * 72-byte ones (the second is not plausible: bad). Bad options get one line and exit 2. */
static void case_options(void)
{
    static const char *const extra[] = {"--poc-size", "72", NULL};
    start_daemon(extra);
    int fd = poc_connect();
    send_msg(fd, 72, ALLOC, 0, 100, DRAM, 0x1000);
    totals t = {.dram = 100};
    query(__LINE__, fd, 72, 0, &t);
    close(fd);
    stop_daemon();
    CHECK_EQ(log_count("messages forced to 72 bytes"), 1);

    static const char *const bad[][4] = {
        {"--poc-size", "100", NULL},
        {"--devices", "4", NULL},
        {"--devices", "0", "--arch", "blackhole"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "%s --foreground --socket %s/x.sock %s %s %s %s 2>%s/opt.err",
                 g_ttmemd, it_dir, bad[i][0], bad[i][1], bad[i][2] ? bad[i][2] : "",
                 bad[i][3] ? bad[i][3] : "", it_dir);
        int st = system(cmd);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 2, "'%s' exits 2 (0x%x)", cmd, st);
        snprintf(cmd, sizeof cmd, "test $(wc -l < %s/opt.err) -eq 1", it_dir);
        CHECK(system(cmd) == 0, "one line on stderr for option set %zu", i);
    }
    /* the optional path as a separate word, with a detached daemon */
    char cmd[600], path[160];
    snprintf(cmd, sizeof cmd,
             "%s --no-state --socket %s/y.sock --poc-socket %s/z.sock --pid-file %s/y.pid "
             "--log-file %s/y.log",
             g_ttmemd, it_dir, it_dir, it_dir, it_dir);
    CHECK(system(cmd) == 0, "a detached ttmemd with --poc-socket PATH starts");
    snprintf(path, sizeof path, "%s/y.pid", it_dir);
    FILE *f = fopen(path, "r");
    int dpid = 0;
    bool have_pid = f != NULL && fscanf(f, "%d", &dpid) == 1 && dpid > 0;
    if (f != NULL)
        fclose(f);
    CHECK(have_pid, "the pid file names the daemon");
    snprintf(path, sizeof path, "%s/z.sock", it_dir);
    bool there = access(path, F_OK) == 0;
    kill(dpid, SIGTERM);
    for (int i = 0; i < 500 && access(path, F_OK) == 0; i++)
        it_sleep_us(10000);
    CHECK(there, "--poc-socket PATH (a separate word) listens at PATH");
    CHECK(access(path, F_OK) != 0, "the legacy socket is removed at a clean stop");
}

static uint64_t rnd(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* Streams of random messages of every type from several connections at once, some bytes
 * flipped, inserted or dropped, so that the parser takes every path (detection, resync,
 * replies to queries nobody reads, the bad-message limit): the daemon survives, and a clean
 * client on a device nobody else names gets exact answers. */
static void case_random(void)
{
    enum { CONNS = 4, BYTES = 1 << 18 };
    static const size_t sizes[CONNS] = {72, 112, 144, 72};
    start_daemon(NULL);
    int clean = poc_connect();
    uint64_t x = 0x9E3779B97F4A7C15ull;
    uint8_t *buf = malloc(BYTES + 256);
    CHECK(buf != NULL, "memory");
    int fds[CONNS];
    for (int k = 0; k < CONNS; k++) {
        fds[k] = poc_connect();
        CHECK(fcntl(fds[k], F_SETFL, O_NONBLOCK) == 0, "non-blocking");
    }
    totals t = {0};
    uint64_t sent = 0;
    for (int round = 0; round < 8; round++) {
        for (int k = 0; k < CONNS; k++) {
            size_t len = 0, size = sizes[k];
            while (len + size + 1 < BYTES) {
                uint64_t r = rnd(&x);
                uint8_t type = r % 4 == 0 ? (uint8_t)(1 + (r >> 8) % 12) : (uint8_t)(1 + r % 2);
                pack(buf + len, size, type, (int32_t)((r >> 16) % 8), (r >> 24) % 65536,
                     (uint8_t)((r >> 40) % 6), ((r >> 44) % 64) * 0x100);
                switch ((r >> 52) % 512) {
                case 0: /* a flipped byte */
                    buf[len + (r >> 20) % size] ^= (uint8_t)(1 + (r >> 30) % 255);
                    break;
                case 1: /* an inserted byte */
                    memmove(buf + len + 1, buf + len, size);
                    buf[len] = (uint8_t)(r >> 33);
                    len++;
                    break;
                case 2: /* a dropped byte */
                    len--;
                    break;
                default:
                    break;
                }
                len += size;
            }
            size_t off = 0; /* what fits: the daemon stops reading where replies pile up */
            while (off < len) {
                size_t n = 1 + (size_t)(rnd(&x) % 4096);
                ssize_t w = write(fds[k], buf + off, len - off < n ? len - off : n);
                if (w <= 0)
                    break;
                off += (size_t)w;
            }
            sent += off;
        }
        send_msg(clean, 144, ALLOC, 999, 100, DRAM, 0x1000 + (uint64_t)round * 0x100);
        t.dram += 100;
        query(__LINE__, clean, 144, 999, &t);
    }
    for (int k = 0; k < CONNS; k++)
        close(fds[k]);
    free(buf);
    query(__LINE__, clean, 144, 999, &t);
    close(clean);
    ttm_report s;
    snap(&s);
    CHECK(s.legacy.bad > 0 && s.legacy.resyncs > 0, "the noise was noticed");
    CHECK(s.legacy.messages[ALLOC] > 1000, "most messages got through (%llu bytes sent)",
          (unsigned long long)sent);
    ttm_report_clear(&s);
    stop_daemon();
}

/* Issue 9, item 7: two allocations of 2^64-1 bytes and one of 2 once made DRAM `used: 0` with
 * three live buffers, and every other client's QUERY then said 0. The impossible sizes are
 * refused (class oversize, counted) and the totals stay exact. */
static void case_overflow(void)
{
    static const char *const extra[] = {"--devices", "1", "--arch", "wormhole_b0", NULL};
    start_daemon(extra);
    int fd = poc_connect();
    send_msg(fd, 144, ALLOC, 0, UINT64_MAX, DRAM, 0x10000);
    send_msg(fd, 144, ALLOC, 0, UINT64_MAX, DRAM, 0x20000);
    send_msg(fd, 144, ALLOC, 0, 2, DRAM, 0x30000);
    totals t = {.dram = 2};
    query(__LINE__, fd, 144, 0, &t);
    int other = poc_connect(); /* another client, after the first one's messages were applied */
    query(__LINE__, other, 112, 0, &t);
    ttm_report s;
    snap(&s);
    CHECK_EQ(it_class(&s, TTM_CLASS_OVERSIZE), 2);
    CHECK_EQ(it_class(&s, TTM_CLASS_ALLOC_OK), 1);
    CHECK_EQ(s.totals.live_records, 1);
    ttm_report_clear(&s);
    CHECK_EQ(log_count("first oversize"), 1);
    close(other);
    close(fd);
    stop_daemon();
}

/* The QUERY decisions of docs/COMPAT.md ("What a QUERY counts"), each against a real daemon and
 * with the value the prototype would have replied beside it:
 *  1. SYSTEM_MEMORY is in l1_small_allocated (the prototype's choice, kept);
 *  2. one address allocated as L1 then as DRAM on one device is two buffers, each in its own
 *     field (the prototype: one buffer, L1, the DRAM one a reference), and a FREE releases the
 *     most recent of them first;
 *  3. two processes at one key are both counted (the prototype: once, the second a reference);
 *  4. a non-owner's free releases nothing (the prototype released the owner's buffer); the
 *     bytes go when the owner frees them or exits.
 * A QUERY on a connection is the barrier between its messages and another connection's: the
 * daemon answers it after everything sent before it on that connection. */
static void case_query(void)
{
    start_daemon(NULL);
    int fd = poc_connect();

    /* 1. SYSTEM_MEMORY; the 72-byte layout too (a v1 monitor has the field) */
    send_msg(fd, 144, ALLOC, 0, 512, L1_SMALL, 0x3000);
    send_msg(fd, 144, ALLOC, 0, 1 << 20, SYSTEM_MEMORY, 0x100000000ull);
    totals t0 = {.l1_small = 512 + (1 << 20)}; /* the prototype: the same */
    query(__LINE__, fd, 144, 0, &t0);
    int v1 = poc_connect();
    query(__LINE__, v1, 72, 0, &t0);
    close(v1);
    send_msg(fd, 144, FREE, 0, 0, 0, 0x100000000ull);
    t0.l1_small = 512;
    query(__LINE__, fd, 144, 0, &t0);
    send_msg(fd, 144, FREE, 0, 0, 0, 0x3000);
    t0.l1_small = 0;
    query(__LINE__, fd, 144, 0, &t0);

    /* 2. L1 then DRAM at one address of one device */
    send_msg(fd, 144, ALLOC, 1, 4096, L1, 0x40000);
    totals t1 = {.l1 = 4096};
    query(__LINE__, fd, 144, 1, &t1); /* the two allocations in two reads: two times */
    send_msg(fd, 144, ALLOC, 1, 8192, DRAM, 0x40000);
    t1.dram = 8192; /* the prototype: dram 0, l1 4096 (ref_count=2) */
    query(__LINE__, fd, 144, 1, &t1);
    send_msg(fd, 144, FREE, 1, 0, 0, 0x40000);
    t1.dram = 0; /* the most recent; the prototype: dram 0, l1 4096 (ref_count=1 remaining) */
    query(__LINE__, fd, 144, 1, &t1);
    send_msg(fd, 144, FREE, 1, 0, 0, 0x40000);
    t1.l1 = 0;
    query(__LINE__, fd, 144, 1, &t1);
    ttm_report s;
    snap(&s);
    CHECK_EQ(it_class(&s, TTM_CLASS_AMBIGUOUS_FREE), 1); /* the first FREE had two candidates */
    CHECK_EQ(it_class(&s, TTM_CLASS_DUPLICATE_ALLOC), 0);
    CHECK_EQ(it_class(&s, TTM_CLASS_FREE_OK), 4);
    CHECK_EQ(s.totals.live_records, 0);
    ttm_report_clear(&s);

    /* 3 and 4: another process */
    int go, ready;
    pid_t child = fork_talking(&go, &ready);
    if (child == 0) {
        int cfd = poc_connect();
        send_msg(cfd, 144, ALLOC, 2, 4096, DRAM, 0x1000);
        totals c2 = {.dram = 4096};
        query(__LINE__, cfd, 144, 2, &c2);
        (void)!write(ready, "a", 1);
        char x;
        if (read(go, &x, 1) != 1)
            _exit(1);
        send_msg(cfd, 144, FREE, 3, 0, 0, 0x2000); /* the parent's buffer */
        totals c3 = {.dram = 1000};                /* nothing released */
        query(__LINE__, cfd, 144, 3, &c3);
        (void)!write(ready, "f", 1);
        (void)!read(go, &x, 1); /* EOF: exit without freeing 0x1000 */
        _exit(0);
    }
    char x;
    CHECK(read(ready, &x, 1) == 1, "the child allocated");
    send_msg(fd, 144, ALLOC, 2, 4096, DRAM, 0x1000);
    totals t2 = {.dram = 8192}; /* the prototype: 4096 (ref_count=2) */
    query(__LINE__, fd, 144, 2, &t2);
    send_msg(fd, 144, ALLOC, 3, 1000, DRAM, 0x2000);
    totals t3 = {.dram = 1000};
    query(__LINE__, fd, 144, 3, &t3);
    CHECK(write(go, "g", 1) == 1, "tell the child");
    CHECK(read(ready, &x, 1) == 1, "the child freed the parent's buffer");
    query(__LINE__, fd, 144, 3, &t3); /* still 1000; the prototype: 0 */
    snap(&s);
    CHECK_EQ(it_class(&s, TTM_CLASS_OVERLAP), 1);
    CHECK_EQ(it_class(&s, TTM_CLASS_FOREIGN_FREE), 1);
    const ttm_report_proc *me = it_proc_of(&s, (uint32_t)getpid());
    const ttm_report_proc *other = it_proc_of(&s, (uint32_t)child);
    CHECK(me != NULL && other != NULL, "both processes are known");
    CHECK_EQ(me->stats.live_records, 2);
    CHECK_EQ(other->stats.live_records, 1);
    ttm_report_clear(&s);
    /* the owner's own frees: each process's record is its own */
    send_msg(fd, 144, FREE, 2, 0, 0, 0x1000);
    t2.dram = 4096; /* the child's; the prototype: 4096 (ref_count=1 remaining) */
    query(__LINE__, fd, 144, 2, &t2);
    send_msg(fd, 144, FREE, 3, 0, 0, 0x2000);
    t3.dram = 0;
    query(__LINE__, fd, 144, 3, &t3);
    /* the child exits holding its buffer: leaked_at_exit, released */
    close(go);
    close(ready);
    CHECK(waitpid(child, NULL, 0) == child, "the child exits");
    it_untrack(child);
    wait_leaked((uint32_t)child, 1, 5000);
    t2.dram = 0;
    query(__LINE__, fd, 144, 2, &t2);
    close(fd);
    stop_daemon();
}

static const it_case_entry cases[] = {
    {"v1", case_v1},         {"v2", case_v2},     {"v3", case_v3},
    {"mixed", case_mixed},   {"garbage", case_garbage}, {"split", case_split},
    {"pid", case_pid},       {"stall", case_stall}, {"options", case_options},
    {"random", case_random}, {"overflow", case_overflow}, {"query", case_query},
};

int main(int argc, char **argv)
{
    static const it_program prog = {"it_poc", "TTMEMD TTMEM", {&g_ttmemd, &g_ttmem},
                                    cases, sizeof cases / sizeof cases[0],
                                    "/tmp/ttmem-poc.XXXXXX", CASE_TIMEOUT_S};
    int status;
    void (*fn)(void) = it_main_begin(&prog, argc, argv, &status);
    if (fn == NULL)
        return status;
    snprintf(g_sock, sizeof g_sock, "%s/d.sock", it_dir);
    snprintf(g_query, sizeof g_query, "%s.query", g_sock);
    snprintf(g_poc, sizeof g_poc, "%s/poc.sock", it_dir);
    snprintf(g_log, sizeof g_log, "%s/ttmemd.err", it_dir);
    fn();
    stop_daemon();
    CHECK(log_count("Sanitizer") == 0 && log_count("runtime error") == 0,
          "sanitizer report in the daemon's log");
    return it_passed();
}
