/*
 * test_ttshm.c — TT-Metal's shared-memory regions, written by a test writer in the exact
 * layouts of the spec (versions 1 to 4), then scanned, reaped, truncated, corrupted and
 * rewritten under the reader.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/ttshm.h"
#include "ttmem/ttmem.h"

static char dir[64];

static void put64(uint8_t *b, size_t off, uint64_t v)
{
    memcpy(b + off, &v, 8); /* the test host is little-endian like the runtime's */
}

static void put32(uint8_t *b, size_t off, uint32_t v)
{
    memcpy(b + off, &v, 4);
}

/* A region in the layout of `version` (1 = the older 9,280-byte one). */
static size_t make_region(uint8_t *b, uint32_t version, int32_t pid_a, int32_t pid_b)
{
    bool old = version == 1;
    size_t size = old ? TTM_TTSHM_SIZE_V1 : TTM_TTSHM_SIZE_V2;
    size_t chips = old ? 96 : 88, chip = old ? 56 : 48;
    size_t procs = old ? 992 : 856, proc = old ? 128 : 120;
    memset(b, 0, size);
    put32(b, 0, version);
    put32(b, 4, 2);
    put64(b, 8, 1700000000000000000ull);
    put32(b, 16, 2);
    put64(b, 32, 0xABCDEF);
    put32(b, 40, 3);
    put64(b, 48, 3000); /* dram */
    put64(b, 56, 300);  /* l1 */
    put64(b, 64, 30);   /* l1_small */
    put64(b, 72, 1000); /* trace */
    put64(b, 80, 7);    /* cb */
    if (old)
        put64(b, 88, 5); /* kernel */
    for (unsigned i = 0; i < TTM_TTSHM_MAX_CHIPS; i++)
        put32(b, chips + i * chip, version >= 3 ? 0xFFFFFFFFu : 0);
    put32(b, chips, 0); /* chip 0, local */
    put64(b, chips + 8, 2000);
    put32(b, chips + chip, 1); /* chip 1, remote */
    put32(b, chips + chip + 4, 1);
    put64(b, chips + chip + 8, 1000);
    /* two processes */
    put32(b, procs, (uint32_t)pid_a);
    put64(b, procs + 8, 2000);
    put64(b, procs + 16, 200);
    memcpy(b + procs + (old ? 64 : 56), "python3", 8);
    put32(b, procs + 5 * proc, (uint32_t)pid_b);
    put64(b, procs + 5 * proc + 8, 1000);
    put64(b, procs + 5 * proc + 16, 100);
    put64(b, procs + 5 * proc + 32, 1000); /* trace */
    memcpy(b + procs + 5 * proc + (old ? 64 : 56), "ghost\x01\xff", 8);
    if (version == 4)
        put32(b, 8536, TTM_TTSHM_READY);
    return size;
}

static void write_file(const char *name, const uint8_t *b, size_t n)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, b, n), (ssize_t)n);
    close(fd);
}

static int32_t dead_pid(void)
{
    pid_t p = fork();
    if (p == 0)
        _exit(0);
    int st;
    waitpid(p, &st, 0);
    return p;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/ttm-shm-test-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

static const ttm_ttshm_region *find(const ttm_ttshm_region *r, size_t n, uint64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (r[i].id == id)
            return &r[i];
    return NULL;
}

static void test_every_layout(void **state)
{
    (void)state;
    uint8_t b[TTM_TTSHM_SIZE_V1];
    int32_t ghost = dead_pid();
    for (uint32_t v = 1; v <= 4; v++) {
        char name[64];
        snprintf(name, sizeof name, "tt_device_%u_memory", 100 + v);
        write_file(name, b, make_region(b, v, getpid(), ghost));
    }
    write_file("not_a_region", b, 10);
    write_file("tt_device_x_memory", b, 10);

    ttm_ttshm_region *r = NULL;
    size_t n = 0;
    assert_int_equal(ttm__ttshm_scan(dir, &r, &n), TTM_OK);
    assert_int_equal(n, 4);
    for (uint32_t v = 1; v <= 4; v++) {
        const ttm_ttshm_region *g = find(r, n, 100 + v);
        assert_non_null(g);
        assert_int_equal(g->state, TTM_TTSHM_OK);
        assert_int_equal(g->version, v);
        assert_int_equal(g->device_id, 3);
        assert_int_equal(g->asic_id, 0xABCDEF);
        assert_int_equal(g->total[TTM_TTSHM_DRAM], 3000);
        assert_int_equal(g->total[TTM_TTSHM_TRACE], 1000);
        assert_int_equal(g->total[TTM_TTSHM_KERNEL], v == 1 ? 5 : 0);
        assert_int_equal(ttm__ttshm_dram_usage(g->total), 4000);
        assert_int_equal(ttm__ttshm_l1_usage(g->total), 337 + (v == 1 ? 5 : 0));
        assert_int_equal(g->nchips, 2);
        assert_int_equal(g->chips[1].chip_id, 1);
        assert_int_equal(g->chips[1].is_remote, 1);
        assert_int_equal(g->chips[1].bytes[TTM_TTSHM_DRAM], 1000);
        assert_int_equal(g->nprocs, 2);
        assert_int_equal(g->procs[0].pid, getpid());
        assert_true(g->procs[0].alive);
        assert_string_equal(g->procs[0].name, "python3");
        assert_int_equal(g->procs[1].pid, ghost);
        assert_false(g->procs[1].alive);
        assert_string_equal(g->procs[1].name, "ghost??");
        assert_int_equal(g->procs[1].bytes[TTM_TTSHM_TRACE], 1000);
        assert_int_equal(g->ghosts, 1);
    }
    ttm__free(r);
}

static void test_bad_regions(void **state)
{
    (void)state;
    uint8_t b[TTM_TTSHM_SIZE_V1];
    size_t n2 = make_region(b, 2, getpid(), 0);
    write_file("tt_device_1_memory", b, n2 - 1); /* truncated */
    make_region(b, 9, getpid(), 0);
    write_file("tt_device_2_memory", b, n2); /* bad version */
    make_region(b, 4, getpid(), 0);
    put32(b, 8536, 1);
    write_file("tt_device_3_memory", b, n2); /* v4 in progress */
    write_file("tt_device_4_memory", b, 0);  /* empty */
    make_region(b, 1, getpid(), 0);
    write_file("tt_device_5_memory", b, n2); /* old layout cut to the new size */

    ttm_ttshm_region *r = NULL;
    size_t n = 0;
    assert_int_equal(ttm__ttshm_scan(dir, &r, &n), TTM_OK);
    assert_int_equal(n, 5);
    assert_int_equal(r[0].state, TTM_TTSHM_INVALID);
    assert_non_null(strstr(r[0].why, "truncated"));
    assert_int_equal(r[1].state, TTM_TTSHM_INVALID);
    assert_non_null(strstr(r[1].why, "version 9"));
    assert_int_equal(r[2].state, TTM_TTSHM_NOT_READY);
    assert_int_equal(r[3].state, TTM_TTSHM_INVALID);
    assert_int_equal(r[4].state, TTM_TTSHM_INVALID);
    ttm__free(r);

    assert_int_equal(ttm__ttshm_scan("/nonexistent-ttm-dir", &r, &n), TTM_ENOENT);
    assert_int_equal(n, 0);
}

static void test_reap_ghosts(void **state)
{
    (void)state;
    uint8_t b[TTM_TTSHM_SIZE_V1];
    for (uint32_t v = 1; v <= 4; v += 3) {
        int32_t ghost = dead_pid();
        write_file("tt_device_7_memory", b, make_region(b, v, getpid(), ghost));
        char path[128], why[128] = "";
        snprintf(path, sizeof path, "%s/tt_device_7_memory", dir);
        size_t reaped = 99;
        assert_int_equal(ttm__ttshm_reap(path, &reaped, why, sizeof why), TTM_OK);
        assert_int_equal(reaped, 1);
        ttm_ttshm_region *r = NULL;
        size_t n = 0;
        assert_int_equal(ttm__ttshm_scan(dir, &r, &n), TTM_OK);
        assert_int_equal(n, 1);
        assert_int_equal(r[0].nprocs, 1);
        assert_int_equal(r[0].ghosts, 0);
        assert_int_equal(r[0].num_active_processes, 1);
        assert_int_equal(r[0].total[TTM_TTSHM_DRAM], 2000);  /* 3000 - the ghost's 1000 */
        assert_int_equal(r[0].total[TTM_TTSHM_L1], 200);     /* 300 - 100 */
        assert_int_equal(r[0].total[TTM_TTSHM_TRACE], 0);    /* 1000 - 1000 */
        ttm__free(r);
        /* a second reap finds nothing */
        assert_int_equal(ttm__ttshm_reap(path, &reaped, why, sizeof why), TTM_OK);
        assert_int_equal(reaped, 0);
        unlink(path);
    }
    char why[128] = "";
    size_t reaped;
    assert_int_equal(ttm__ttshm_reap("/nonexistent/tt_device_1_memory", &reaped, why, sizeof why),
                     TTM_EIO);
    assert_non_null(strstr(why, "cannot open"));
}

typedef struct rewriter {
    volatile int stop;
    char path[128];
} rewriter;

static void *rewrite_loop(void *arg)
{
    rewriter *w = arg;
    uint8_t b[TTM_TTSHM_SIZE_V1];
    unsigned i = 0;
    while (!w->stop) {
        uint32_t v = 1 + i % 4;
        size_t n = make_region(b, v, getpid(), 0);
        int fd = open(w->path, O_CREAT | O_WRONLY, 0600);
        if (fd >= 0) {
            /* truncate, then write in two halves: the reader sees every state in between */
            if (ftruncate(fd, (off_t)(i % 3 == 0 ? 0 : n / 2)) == 0 && pwrite(fd, b, n / 2, 0) >= 0)
                (void)!pwrite(fd, b + n / 2, n - n / 2, (off_t)(n / 2));
            close(fd);
        }
        i++;
    }
    return NULL;
}

static void test_rewritten_while_read(void **state)
{
    (void)state;
    rewriter w = {0};
    snprintf(w.path, sizeof w.path, "%s/tt_device_9_memory", dir);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, rewrite_loop, &w), 0);
    unsigned ok = 0, invalid = 0;
    for (int i = 0; i < 3000; i++) {
        ttm_ttshm_region *r = NULL;
        size_t n = 0;
        assert_int_equal(ttm__ttshm_scan(dir, &r, &n), TTM_OK);
        for (size_t k = 0; k < n; k++) {
            if (r[k].state == TTM_TTSHM_OK) {
                ok++;
                assert_true(r[k].version >= 1 && r[k].version <= 4);
                assert_true(r[k].nchips <= TTM_TTSHM_MAX_CHIPS);
                assert_true(r[k].nprocs <= TTM_TTSHM_MAX_PROCS);
            } else {
                invalid++;
                assert_true(r[k].why[0] != '\0');
            }
        }
        ttm__free(r);
    }
    w.stop = 1;
    pthread_join(th, NULL);
    unlink(w.path);
    assert_true(ok + invalid > 0);
}

/* Reaping while the region is truncated and rewritten under it: never a crash (SIGBUS is
 * caught), only OK, EPROTO or EIO. */
static void test_reap_while_truncated(void **state)
{
    (void)state;
    rewriter w = {0};
    snprintf(w.path, sizeof w.path, "%s/tt_device_11_memory", dir);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, rewrite_loop, &w), 0);
    unsigned outcomes[3] = {0};
    for (int i = 0; i < 2000; i++) {
        char why[160] = "";
        size_t reaped;
        int rc = ttm__ttshm_reap(w.path, &reaped, why, sizeof why);
        assert_true(rc == TTM_OK || rc == TTM_EPROTO || rc == TTM_EIO);
        outcomes[rc == TTM_OK ? 0 : rc == TTM_EPROTO ? 1 : 2]++;
        if (rc != TTM_OK)
            assert_true(why[0] != '\0');
    }
    w.stop = 1;
    pthread_join(th, NULL);
    unlink(w.path);
    assert_int_equal(outcomes[0] + outcomes[1] + outcomes[2], 2000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_every_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_regions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reap_ghosts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rewritten_while_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reap_while_truncated, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
