/*
 * test_ttshm_bounds.c — the bounds of a scan of TT-Metal's directory (ttshm.h): at most
 * TTM_TTSHM_MAX_REGIONS regions read, the lowest ids, whatever order the directory lists them
 * in; what was left out counted; files that are not regular files reported without being read.
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
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/ttshm.h"
#include "ttmem/ttmem.h"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/ttmem-shmb.XXXXXX");
    return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void plant(const char *name)
{
    char path[160];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "tiny", 4), 4);
    close(fd);
}

/* 300 region names created highest id first, plus other files: the 256 lowest are read,
 * sorted, and the 44 others counted. */
static void test_lowest_ids_kept(void **state)
{
    (void)state;
    char name[64];
    for (int id = 299; id >= 0; id--) {
        snprintf(name, sizeof name, "tt_device_%d_memory", id);
        plant(name);
    }
    plant("unrelated");
    plant("tt_device_x_memory");
    ttm_ttshm_region *r = NULL;
    size_t n = 0;
    ttm_ttshm_scan_stats st;
    assert_int_equal(ttm__ttshm_scan_ex(dir, &r, &n, &st), TTM_OK);
    assert_int_equal(n, TTM_TTSHM_MAX_REGIONS);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(r[i].id, i);
        assert_int_equal(r[i].state, TTM_TTSHM_INVALID); /* 4 bytes: too short */
    }
    assert_int_equal(st.regions_found, 300);
    assert_int_equal(st.regions_skipped, 300 - TTM_TTSHM_MAX_REGIONS);
    assert_int_equal(st.entries, 304); /* ".", "..", 300 regions, 2 others */
    assert_false(st.entries_capped);
    ttm__free(r);
}

/* A FIFO named like a region is reported as not a regular file, never opened for reading in a
 * way that could block. */
static void test_not_a_regular_file(void **state)
{
    (void)state;
    char path[160];
    snprintf(path, sizeof path, "%s/tt_device_3_memory", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    ttm_ttshm_region *r = NULL;
    size_t n = 0;
    assert_int_equal(ttm__ttshm_scan(dir, &r, &n), TTM_OK);
    assert_int_equal(n, 1);
    assert_int_equal(r[0].state, TTM_TTSHM_INVALID);
    assert_string_equal(r[0].why, "not a regular file");
    ttm__free(r);
}

/* Out of memory: reported, nothing leaked (the sanitizer build checks the latter). */
static void test_out_of_memory(void **state)
{
    (void)state;
    plant("tt_device_1_memory");
    for (unsigned long k = 1; k <= 2; k++) {
        ttm_ttshm_region *r = NULL;
        size_t n = 0;
        ttm__alloc_fail_at(k);
        int err = ttm__ttshm_scan(dir, &r, &n);
        ttm__alloc_fail_at(0);
        assert_int_equal(err, TTM_ENOMEM);
        assert_null(r);
        assert_int_equal(n, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lowest_ids_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_a_regular_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_out_of_memory, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
