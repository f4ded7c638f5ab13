/*
 * test_common.c — unit tests of src/common: the error vocabulary, memtype names and parsing,
 * address spaces, event kind names, the architecture profiles, and the allocation wrappers
 * with their failure hook.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/arch.h"
#include "common/bytes.h"
#include "common/event.h"
#include "common/util.h"
#include "ttmem/ttmem.h"

/* ---- errors ------------------------------------------------------------------------------- */

static const int err_codes[] = {
#define X(name, value, text) TTM_##name,
    TTM_ERRNO_MAP(X)
#undef X
};
static const char *const err_names[] = {
#define X(name, value, text) "TTM_" #name,
    TTM_ERRNO_MAP(X)
#undef X
};
static const char *const err_texts[] = {
#define X(name, value, text) text,
    TTM_ERRNO_MAP(X)
#undef X
};
#define NERR (sizeof err_codes / sizeof err_codes[0])

static void test_error_vocabulary(void **state)
{
    (void)state;
    assert_int_equal(TTM_OK, 0);
    for (size_t i = 0; i < NERR; i++) {
        int e = err_codes[i];
        if (e != TTM_OK)
            assert_true(e < 0);
        const char *text = ttm_strerror(e), *name = ttm_err_name(e);
        assert_non_null(text);
        assert_non_null(name);
        assert_string_equal(text, err_texts[i]);
        assert_string_equal(name, err_names[i]);
        assert_string_not_equal(text, "unknown error");
        assert_int_equal(ttm_err_valid(e), 1);
        for (size_t j = 0; j < i; j++) {
            assert_int_not_equal(err_codes[j], e);
            assert_string_not_equal(ttm_strerror(err_codes[j]), text);
            assert_string_not_equal(ttm_err_name(err_codes[j]), name);
        }
    }
    assert_string_equal(ttm_strerror(TTM_ENOMEM), "out of memory");
    assert_string_equal(ttm_err_name(TTM_EPROTO), "TTM_EPROTO");
    assert_string_equal(ttm_strerror(TTM_OK), "success");
}

static void test_error_unknown_code(void **state)
{
    (void)state;
    const int unknown[] = {1, 2, 100, -16, -1000, INT_MIN, INT_MAX};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        assert_string_equal(ttm_strerror(unknown[i]), "unknown error");
        assert_int_equal(ttm_err_valid(unknown[i]), 0);
        const char *name = ttm_err_name(unknown[i]);
        assert_non_null(name);
        for (size_t j = 0; j < NERR; j++)
            assert_string_not_equal(name, err_names[j]);
    }
}

/* ---- memtypes, spaces, event kinds -------------------------------------------------------- */

static void test_memtype_names(void **state)
{
    (void)state;
    static const char *const names[TTM_MEMTYPE_COUNT] = {"DRAM",  "L1", "SYSTEM_MEMORY", "L1_SMALL",
                                                         "TRACE", "CB", "KERNEL"};
    for (unsigned m = 0; m < TTM_MEMTYPE_COUNT; m++) {
        assert_string_equal(ttm__memtype_name(m), names[m]);
        assert_true(ttm__memtype_valid(m));
        unsigned back = 999;
        assert_int_equal(ttm__memtype_parse(names[m], &back), TTM_OK);
        assert_int_equal(back, m);
    }
    assert_string_equal(ttm__memtype_name(TTM_MEM_ANY), "ANY");
    assert_string_equal(ttm__memtype_name(TTM_MEMTYPE_COUNT), "?");
    assert_string_equal(ttm__memtype_name(254), "?");
    assert_string_equal(ttm__memtype_name(256), "?");
    assert_false(ttm__memtype_valid(TTM_MEMTYPE_COUNT));
    assert_false(ttm__memtype_valid(TTM_MEM_ANY));
    assert_false(ttm__memtype_valid(1000));
    /* TT-Metal's numbering. */
    assert_int_equal(TTM_MEM_DRAM, 0);
    assert_int_equal(TTM_MEM_L1, 1);
    assert_int_equal(TTM_MEM_SYSTEM, 2);
    assert_int_equal(TTM_MEM_L1_SMALL, 3);
    assert_int_equal(TTM_MEM_TRACE, 4);
    assert_int_equal(TTM_MEM_ANY, 255);
}

static void test_memtype_parse(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        unsigned v;
    } good[] = {
        {"dram", TTM_MEM_DRAM},
        {"Dram", TTM_MEM_DRAM},
        {"l1", TTM_MEM_L1},
        {"l1_small", TTM_MEM_L1_SMALL},
        {"system_memory", TTM_MEM_SYSTEM},
        {"SYSTEM", TTM_MEM_SYSTEM},
        {"system", TTM_MEM_SYSTEM},
        {"trace", TTM_MEM_TRACE},
        {"cb", TTM_MEM_CB},
        {"Kernel", TTM_MEM_KERNEL},
        {"ANY", TTM_MEM_ANY},
        {"any", TTM_MEM_ANY},
        {"0", TTM_MEM_DRAM},
        {"1", TTM_MEM_L1},
        {"2", TTM_MEM_SYSTEM},
        {"3", TTM_MEM_L1_SMALL},
        {"4", TTM_MEM_TRACE},
        {"5", TTM_MEM_CB},
        {"6", TTM_MEM_KERNEL},
        {"255", TTM_MEM_ANY},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        unsigned v = 999;
        if (ttm__memtype_parse(good[i].s, &v) != TTM_OK)
            fail_msg("\"%s\" was not accepted", good[i].s);
        assert_int_equal(v, good[i].v);
    }
    static const char *const bad[] = {
        "",
        "7",
        "254",
        "256",
        "-1",
        "DRAMX",
        "DRAM ",
        "L2",
        "1x",
        "0x1",
        "x",
        "SYS",
        "L1SMALL",
        "any1",
        "4294967296",
        "4294967297",
        "4294967551",
        "18446744073709551616",
        "99999999999999999999999",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unsigned v = 12345;
        if (ttm__memtype_parse(bad[i], &v) != TTM_EINVAL)
            fail_msg("\"%s\" was accepted", bad[i]);
        assert_int_equal(v, 12345); /* untouched on error */
    }
    unsigned v = 12345;
    assert_int_equal(ttm__memtype_parse(NULL, &v), TTM_EINVAL);
    assert_int_equal(v, 12345);
}

/* Decimal numbers means digits only: no sign, no blank, no wrap-around of a negative number
 * (strtoul("-18446744073709551361") is 255, i.e. ANY). */
static void test_memtype_parse_strict_numbers(void **state)
{
    (void)state;
    static const char *const bad[] = {
        " 1", "+1", "-0", "\t2", "-18446744073709551361", "-18446744073709551615"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unsigned v = 12345;
        if (ttm__memtype_parse(bad[i], &v) != TTM_EINVAL)
            fail_msg("\"%s\" was accepted as %u", bad[i], v);
    }
}

static void test_space_mapping(void **state)
{
    (void)state;
    assert_int_equal(ttm__memtype_space(TTM_MEM_DRAM), TTM_SPACE_DRAM);
    assert_int_equal(ttm__memtype_space(TTM_MEM_TRACE), TTM_SPACE_DRAM);
    assert_int_equal(ttm__memtype_space(TTM_MEM_L1), TTM_SPACE_L1);
    assert_int_equal(ttm__memtype_space(TTM_MEM_L1_SMALL), TTM_SPACE_L1);
    assert_int_equal(ttm__memtype_space(TTM_MEM_CB), TTM_SPACE_L1);
    assert_int_equal(ttm__memtype_space(TTM_MEM_KERNEL), TTM_SPACE_L1);
    assert_int_equal(ttm__memtype_space(TTM_MEM_SYSTEM), TTM_SPACE_SYSTEM);
    assert_string_equal(ttm__space_name(TTM_SPACE_DRAM), "DRAM");
    assert_string_equal(ttm__space_name(TTM_SPACE_L1), "L1");
    assert_string_equal(ttm__space_name(TTM_SPACE_SYSTEM), "SYSTEM");
    assert_string_equal(ttm__space_name((ttm_space)TTM_SPACE_COUNT), "?");
    assert_string_equal(ttm__space_name((ttm_space)-1), "?");
}

static void test_event_kinds(void **state)
{
    (void)state;
    assert_int_equal(sizeof(ttm_event), 64);
    assert_int_equal(offsetof(ttm_event, addr) + 3 * sizeof(uint64_t) <= 64, 1);
    assert_string_equal(ttm__event_kind_name(TTM_EV_NONE), "none");
    assert_string_equal(ttm__event_kind_name(TTM_EV_ALLOC), "alloc");
    assert_string_equal(ttm__event_kind_name(TTM_EV_FREE), "free");
    assert_string_equal(ttm__event_kind_name(TTM_EV_PROC_START), "proc_start");
    assert_string_equal(ttm__event_kind_name(TTM_EV_PROC_EXIT), "proc_exit");
    assert_string_equal(ttm__event_kind_name(TTM_EV_DEVICE_INFO), "device_info");
    assert_string_equal(ttm__event_kind_name(TTM_EV_MARK), "mark");
    assert_string_equal(ttm__event_kind_name(TTM_EV__COUNT), "?");
    assert_string_equal(ttm__event_kind_name(255), "?");
}

/* ---- architecture profiles ---------------------------------------------------------------- */

static void test_arch_profiles(void **state)
{
    (void)state;
    const ttm_arch_profile *wh = ttm__arch_profile(TTM_ARCH_WORMHOLE_B0);
    assert_non_null(wh);
    assert_int_equal(wh->arch, TTM_ARCH_WORMHOLE_B0);
    assert_string_equal(wh->name, "wormhole_b0");
    assert_int_equal(ttm__arch_dram_bytes(wh), 12ull << 30);
    assert_int_equal(ttm__arch_l1_bytes(wh), 64ull * 1499136);
    assert_int_equal(wh->l1_per_core, 1499136);
    assert_int_equal(wh->worker_cores, 64);

    const ttm_arch_profile *bh = ttm__arch_profile(TTM_ARCH_BLACKHOLE);
    assert_non_null(bh);
    assert_string_equal(bh->name, "blackhole");
    assert_int_equal(ttm__arch_dram_bytes(bh), 8ull * 4278190080ull);
    /* Worker cores only, not the whole grid (devices.md). */
    assert_int_equal(ttm__arch_l1_bytes(bh), 140ull * 1572864);

    const ttm_arch_profile *gs = ttm__arch_profile(TTM_ARCH_GRAYSKULL);
    assert_non_null(gs);
    assert_string_equal(gs->name, "grayskull");
    assert_int_equal(ttm__arch_dram_bytes(gs), 8ull << 30);
    assert_int_equal(gs->worker_cores, 120);

    assert_null(ttm__arch_profile(TTM_ARCH_INVALID));
    assert_null(ttm__arch_profile(99));
    assert_null(ttm__arch_profile(UINT_MAX));
}

static void test_arch_parse(void **state)
{
    (void)state;
    ttm_arch a = TTM_ARCH_INVALID;
    assert_int_equal(ttm__arch_parse("wormhole_b0", &a), TTM_OK);
    assert_int_equal(a, TTM_ARCH_WORMHOLE_B0);
    a = TTM_ARCH_INVALID;
    assert_int_equal(ttm__arch_parse("WORMHOLE", &a), TTM_OK);
    assert_int_equal(a, TTM_ARCH_WORMHOLE_B0);
    assert_int_equal(ttm__arch_parse("Blackhole", &a), TTM_OK);
    assert_int_equal(a, TTM_ARCH_BLACKHOLE);
    assert_int_equal(ttm__arch_parse("grayskull", &a), TTM_OK);
    assert_int_equal(a, TTM_ARCH_GRAYSKULL);
    static const char *const bad[] = {"", "wormhole_b1", "wormhole ", "black", "invalid", "2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        a = TTM_ARCH_QUASAR;
        if (ttm__arch_parse(bad[i], &a) != TTM_EINVAL)
            fail_msg("\"%s\" was accepted", bad[i]);
        assert_int_equal(a, TTM_ARCH_QUASAR);
    }
    assert_int_equal(ttm__arch_parse(NULL, &a), TTM_EINVAL);
    /* Every profile's name parses back to it. */
    for (unsigned arch = 0; arch < 16; arch++) {
        const ttm_arch_profile *p = ttm__arch_profile(arch);
        if (p == NULL)
            continue;
        assert_int_equal(ttm__arch_parse(p->name, &a), TTM_OK);
        assert_int_equal(a, arch);
    }
}

/* ---- allocation wrappers and the failure hook --------------------------------------------- */

static int reset_hook(void **state)
{
    (void)state;
    ttm__alloc_fail_at(0);
    return 0;
}

static void test_alloc_fail_hook(void **state)
{
    (void)state;
    ttm__alloc_fail_at(3);
    void *p1 = ttm__malloc(16);
    void *p2 = ttm__calloc(4, 4);
    void *p3 = ttm__reallocarray(NULL, 4, 4);
    void *p4 = ttm__malloc(1);
    void *p5 = ttm__calloc(1, 1);
    assert_non_null(p1);
    assert_non_null(p2);
    assert_null(p3);
    assert_null(p4); /* every later allocation fails too */
    assert_null(p5);
    assert_int_equal(ttm__alloc_fail_at(0), 5);
    /* Reset: allocations succeed again and the count restarts. */
    void *p6 = ttm__malloc(8);
    assert_non_null(p6);
    assert_int_equal(ttm__alloc_fail_at(0), 1);
    ttm__free(p1);
    ttm__free(p2);
    ttm__free(p6);
    ttm__free(NULL);
}

static void test_alloc_fail_first(void **state)
{
    (void)state;
    ttm__alloc_fail_at(1);
    assert_null(ttm__malloc(1));
    assert_null(ttm__calloc(1, 1));
    ttm__alloc_fail_at(0);
    void *p = ttm__malloc(1);
    assert_non_null(p);
    ttm__free(p);
}

static void test_reallocarray(void **state)
{
    (void)state;
    unsigned char *p = ttm__reallocarray(NULL, 4, 1);
    assert_non_null(p);
    memcpy(p, "abcd", 4);
    /* A failed growth leaves the block as it was. */
    ttm__alloc_fail_at(1);
    assert_null(ttm__reallocarray(p, 1024, 1));
    ttm__alloc_fail_at(0);
    assert_memory_equal(p, "abcd", 4);
    /* Overflow of count * size fails. */
    assert_null(ttm__reallocarray(p, SIZE_MAX, 2));
    assert_null(ttm__reallocarray(p, SIZE_MAX / 2 + 2, 2));
    assert_memory_equal(p, "abcd", 4);
    unsigned char *q = ttm__reallocarray(p, 1024, 1);
    assert_non_null(q);
    assert_memory_equal(q, "abcd", 4);
    ttm__free(q);
}

static void test_zero_sized_and_x_forms(void **state)
{
    (void)state;
    void *p = ttm__malloc(0);
    void *q = ttm__calloc(0, 8);
    assert_non_null(p);
    assert_non_null(q);
    ttm__free(p);
    ttm__free(q);
    char *s = ttm__xstrdup("ttmem");
    assert_string_equal(s, "ttmem");
    ttm__free(s);
    int *a = ttm__xcalloc(8, sizeof *a);
    for (int i = 0; i < 8; i++)
        assert_int_equal(a[i], 0);
    a = ttm__xreallocarray(a, 16, sizeof *a);
    assert_int_equal(a[7], 0);
    ttm__free(a);
    void *m = ttm__xmalloc(32);
    assert_non_null(m);
    ttm__free(m);
}

#define T(f) cmocka_unit_test_setup_teardown(f, reset_hook, reset_hook)

/* /proc/PID/stat fields are counted from the name's last ')', whatever the name holds. */
static void test_proc_stat_field(void **state)
{
    (void)state;
    char old[17] = "", buf[512];
    prctl(PR_GET_NAME, old);
    assert_int_equal(prctl(PR_SET_NAME, "a) b (c) 1 2"), 0);
    const char *st = ttm__proc_stat_field((uint32_t)getpid(), 3, buf, sizeof buf);
    assert_non_null(st);
    assert_true(*st == 'R' || *st == 'S');
    const char *ppid = ttm__proc_stat_field((uint32_t)getpid(), 4, buf, sizeof buf);
    assert_non_null(ppid);
    assert_int_equal(strtol(ppid, NULL, 10), (long)getppid());
    prctl(PR_SET_NAME, old);
    assert_null(ttm__proc_stat_field((uint32_t)getpid(), 2, buf, sizeof buf)); /* not a field */
    assert_null(ttm__proc_stat_field((uint32_t)getpid(), 1000, buf, sizeof buf));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(ttm__proc_stat_field(0x7ffffffeu, 3, buf, sizeof buf)); /* no such process */
    assert_int_equal(errno, ENOENT);
}

/* An empty writer asked for no room still hands out a real pointer (no NULL + 0: UBSan), and
 * zero bytes written to it leave it empty; the replay fuzzer found a journal whose empty
 * DAEMON chunk did this. */
static void test_bw_empty_room(void **state)
{
    (void)state;
    ttm_bytes b = {0};
    ttm_bw w = ttm__bw_over(&b);
    uint8_t *p = ttm__bw_room(&w, 0);
    assert_non_null(p);
    assert_int_equal(b.len, 0);
    ttm__bw_bytes(&w, NULL, 0);
    assert_int_equal(w.err, 0);
    assert_int_equal(b.len, 0);
    ttm__bw_bytes(&w, "ab", 2);
    assert_int_equal(b.len, 2);
    assert_memory_equal(b.data, "ab", 2);
    ttm__bytes_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_vocabulary),
        cmocka_unit_test(test_error_unknown_code),
        cmocka_unit_test(test_memtype_names),
        cmocka_unit_test(test_memtype_parse),
        cmocka_unit_test(test_memtype_parse_strict_numbers),
        cmocka_unit_test(test_space_mapping),
        cmocka_unit_test(test_event_kinds),
        cmocka_unit_test(test_arch_profiles),
        cmocka_unit_test(test_arch_parse),
        cmocka_unit_test(test_proc_stat_field),
        cmocka_unit_test(test_bw_empty_room),
        T(test_alloc_fail_hook),
        T(test_alloc_fail_first),
        T(test_reallocarray),
        T(test_zero_sized_and_x_forms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
