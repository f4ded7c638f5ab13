/*
 * test_registry_state.c — unit tests of the registry's persistence (ttm_registry_save /
 * ttm_registry_load, docs/DAEMON.md "Restart"): a saved and reloaded registry answers every
 * query as the original and classifies every later event the same way; a damaged, truncated,
 * forged or foreign-version state is refused whole with one message and never read out of
 * bounds; allocation failure at every allocation of a load leaves nothing behind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "common/arch.h"
#include "common/util.h"
#include "registry_util.h"
#include "test_registry_state_v1.h"

/* A registry that went through the sequence touching every table, minus its last exits, so
 * that live records of several processes remain. */
static ttm_registry *built(const ttm_registry_config *cfg, size_t *n_applied)
{
    pev *seq = calloc(SEQ_MAX, sizeof *seq);
    assert_non_null(seq);
    size_t n = build_sequence(seq);
    ttm_registry *reg = open_reg(cfg);
    for (size_t i = 0; i < n; i++)
        ttm_registry_apply(reg, seq[i].pid, &seq[i].ev);
    /* something oversize, something described with a 0 capacity */
    assert_int_equal(alloc(reg, 1, 1, DRAM, 0x77000, UINT64_MAX, 0, 0, 100000), B(OVERSIZE));
    ttm_event di = util_event(TTM_EV_DEVICE_INFO, 2, 0, 0, 0, 0, 0, 100001);
    di.arch = TTM_ARCH_BLACKHOLE;
    ttm_registry_apply(reg, 0, &di);
    if (n_applied != NULL)
        *n_applied = n;
    free(seq);
    return reg;
}

static uint8_t *save(const ttm_registry *reg, const char *annex, size_t *len)
{
    uint8_t *buf = NULL;
    assert_int_equal(ttm_registry_save(reg, annex, annex ? strlen(annex) : 0, &buf, len), TTM_OK);
    assert_non_null(buf);
    assert_true(*len % 8 == 0);
    return buf;
}

static int load(ttm_registry **out, const ttm_registry_config *cfg, const uint8_t *buf,
                size_t len, char *msg, size_t msg_len)
{
    const uint8_t *annex = NULL;
    size_t annex_len = 0;
    msg[0] = '\0';
    int rc = ttm_registry_load(out, cfg, buf, len, &annex, &annex_len, msg, msg_len);
    if (rc != TTM_OK) {
        assert_null(*out);
        assert_true(strlen(msg) > 0); /* one line saying what is wrong */
        assert_null(strchr(msg, '\n'));
    }
    return rc;
}

static int live_cmp(const void *a, const void *b)
{
    const ttm_live *x = a, *y = b;
    if (x->device != y->device)
        return x->device < y->device ? -1 : 1;
    if (x->addr != y->addr)
        return x->addr < y->addr ? -1 : 1;
    if (x->pid != y->pid)
        return x->pid < y->pid ? -1 : 1;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x->memtype - y->memtype;
}

typedef struct live_vec {
    ttm_live v[4096];
    size_t n;
} live_vec;

static bool live_collect(const ttm_live *l, void *arg)
{
    live_vec *lv = arg;
    assert_true(lv->n < 4096);
    lv->v[lv->n++] = *l;
    return true;
}

/* Every query gives the same answer on a and b. */
static void assert_same(const ttm_registry *a, const ttm_registry *b)
{
    ttm_totals ta = totals(a), tb = totals(b);
    assert_memory_equal(&ta, &tb, sizeof ta);

    size_t nd = ttm_registry_devices(a, NULL, 0);
    assert_int_equal(ttm_registry_devices(b, NULL, 0), nd);
    ttm_device_stats *da = calloc(nd + 1, sizeof *da), *db = calloc(nd + 1, sizeof *db);
    ttm_registry_devices(a, da, nd);
    ttm_registry_devices(b, db, nd);
    assert_memory_equal(da, db, nd * sizeof *da);
    free(da);
    free(db);

    size_t np = ttm_registry_processes(a, NULL, 0);
    assert_int_equal(ttm_registry_processes(b, NULL, 0), np);
    ttm_proc_stats *pa = calloc(np + 1, sizeof *pa), *pb = calloc(np + 1, sizeof *pb);
    ttm_registry_processes(a, pa, np);
    ttm_registry_processes(b, pb, np);
    for (size_t i = 0; i < np; i++) {
        assert_int_equal(pa[i].pid, pb[i].pid);
        assert_int_equal(pa[i].alive, pb[i].alive);
        assert_int_equal(pa[i].first_ts, pb[i].first_ts);
        assert_int_equal(pa[i].exit_ts, pb[i].exit_ts);
        assert_int_equal(pa[i].live_records, pb[i].live_records);
        assert_int_equal(pa[i].leaked_count, pb[i].leaked_count);
        assert_int_equal(pa[i].leaked_bytes, pb[i].leaked_bytes);
        assert_int_equal(pa[i].anomalies, pb[i].anomalies);
        assert_int_equal(pa[i].ndevices, pb[i].ndevices);
        assert_memory_equal(pa[i].devices, pb[i].devices, pa[i].ndevices * sizeof *pa[i].devices);
    }
    free(pa);
    free(pb);

    size_t no = ttm_registry_offenders(a, TTM_CLASS__COUNT, NULL, 0);
    assert_int_equal(ttm_registry_offenders(b, TTM_CLASS__COUNT, NULL, 0), no);
    ttm_offender *oa = calloc(no + 1, sizeof *oa), *ob = calloc(no + 1, sizeof *ob);
    ttm_registry_offenders(a, TTM_CLASS__COUNT, oa, no);
    ttm_registry_offenders(b, TTM_CLASS__COUNT, ob, no);
    assert_memory_equal(oa, ob, no * sizeof *oa);
    free(oa);
    free(ob);

    size_t nl = ttm_registry_leaks(a, NULL, 0);
    assert_int_equal(ttm_registry_leaks(b, NULL, 0), nl);
    ttm_leak *la = calloc(nl + 1, sizeof *la), *lb = calloc(nl + 1, sizeof *lb);
    ttm_registry_leaks(a, la, nl);
    ttm_registry_leaks(b, lb, nl);
    assert_memory_equal(la, lb, nl * sizeof *la);
    free(la);
    free(lb);

    live_vec *va = calloc(1, sizeof *va), *vb = calloc(1, sizeof *vb);
    ttm_registry_foreach_live(a, live_collect, va);
    ttm_registry_foreach_live(b, live_collect, vb);
    assert_int_equal(va->n, vb->n);
    qsort(va->v, va->n, sizeof va->v[0], live_cmp);
    qsort(vb->v, vb->n, sizeof vb->v[0], live_cmp);
    assert_memory_equal(va->v, vb->v, va->n * sizeof va->v[0]);
    free(va);
    free(vb);
}

/* Events after the restart: a free of every live record (twice: the second is a double or
 * excess free), frees never allocated, reallocations at old keys, then every process exits.
 * Applied to both registries, every event must get the same classes. */
static void assert_same_future(ttm_registry *a, ttm_registry *b)
{
    live_vec *lv = calloc(1, sizeof *lv);
    ttm_registry_foreach_live(a, live_collect, lv);
    assert_true(lv->n > 0);
    uint64_t ts = 200000;
    for (size_t i = 0; i < lv->n; i++) {
        const ttm_live *l = &lv->v[i];
        for (int k = 0; k < 2; k++) {
            ttm_event ev = util_event(TTM_EV_FREE, l->device, k ? ANY : l->memtype, l->addr,
                                      l->size, l->obj, l->flags, ts++);
            assert_int_equal(ttm_registry_apply(a, l->pid, &ev), ttm_registry_apply(b, l->pid, &ev));
        }
        ttm_event re = util_event(TTM_EV_ALLOC, l->device, l->memtype, l->addr, l->size + 64,
                                  l->obj + 1, 0, ts++);
        assert_int_equal(ttm_registry_apply(a, l->pid, &re), ttm_registry_apply(b, l->pid, &re));
    }
    ttm_event never = util_event(TTM_EV_FREE, 0, DRAM, 0xfeed0000, 0, 0, 0, ts++);
    assert_int_equal(ttm_registry_apply(a, 1, &never), ttm_registry_apply(b, 1, &never));
    for (uint32_t pid = 1; pid <= 3; pid++) {
        ttm_registry_process_exit(a, pid, ts);
        ttm_registry_process_exit(b, pid, ts++);
    }
    assert_same(a, b);
    free(lv);
}

static void test_round_trip(void **state)
{
    (void)state;
    ttm_registry *a = built(NULL, NULL);
    check_invariants(a);
    size_t len;
    uint8_t *buf = save(a, "daemon annex", &len);
    ttm_registry *b = NULL;
    char msg[200];
    const uint8_t *annex;
    size_t annex_len;
    assert_int_equal(ttm_registry_load(&b, NULL, buf, len, &annex, &annex_len, msg, sizeof msg),
                     TTM_OK);
    assert_int_equal(annex_len, strlen("daemon annex"));
    assert_memory_equal(annex, "daemon annex", annex_len);
    check_invariants(b);
    assert_same(a, b);
    /* the loaded registry saves to the same bytes */
    size_t len2;
    uint8_t *buf2 = save(b, "daemon annex", &len2);
    assert_int_equal(len2, len);
    ttm_registry *c = NULL;
    assert_int_equal(load(&c, NULL, buf2, len2, msg, sizeof msg), TTM_OK);
    assert_same(a, c);
    assert_same_future(a, b);
    ttm_registry_close(c);
    ttm_registry_close(b);
    ttm_registry_close(a);
    ttm__free(buf2);
    ttm__free(buf);
}

/* A state saved while an exit is half settled (a daemon stopping in the middle of one) loads
 * consistent: the process alive with the records not reclaimed yet, in their order; finishing
 * the exit on the loaded registry gives what finishing it on the first gives. */
static void test_half_settled_exit(void **state)
{
    (void)state;
    ttm_registry_config cfg = {.max_leaks_listed = 4096};
    ttm_registry *a = built(&cfg, NULL);
    for (unsigned i = 0; i < 40; i++)
        assert_int_equal(alloc(a, 4, 0, DRAM, 0x500000 + i * 0x100, 10 + i, 0, 0, 150000 - i),
                         B(ALLOC_OK));
    ttm_exit_progress pr;
    assert_false(ttm_registry_process_exit_step(a, 4, 160000, 15, &pr));
    assert_int_equal(pr.visited, 15);
    check_invariants(a);
    size_t len;
    uint8_t *buf = save(a, NULL, &len);
    ttm_registry *b = NULL;
    char msg[200];
    assert_int_equal(load(&b, &cfg, buf, len, msg, sizeof msg), TTM_OK);
    check_invariants(b);
    assert_same(a, b);
    assert_true(proc_stats(b, 4).alive);
    assert_int_equal(proc_stats(b, 4).live_records, 25);
    /* the rest, in steps on a and at once on b (the next daemon settles it at load) */
    while (!ttm_registry_process_exit_step(a, 4, 160000, 4, NULL))
        check_invariants(a);
    ttm_registry_process_exit(b, 4, 160000);
    assert_same(a, b);
    assert_same_future(a, b);
    ttm_registry_close(b);
    ttm_registry_close(a);
    ttm__free(buf);
}

/* The restart case of the issue: a device described, 8.5 GiB held, the daemon restarts; the
 * reloaded registry knows the arch, the capacity and the bytes, and the free is ok. */
static void test_restart_picture(void **state)
{
    (void)state;
    ttm_registry *a = open_reg(NULL);
    ttm_event di = util_event(TTM_EV_DEVICE_INFO, 0, 0, 0, 0, 0, 0, 1);
    di.arch = TTM_ARCH_WORMHOLE_B0;
    ttm_registry_apply(a, 7, &di);
    for (unsigned i = 0; i < 17; i++)
        assert_int_equal(alloc(a, 7, 0, DRAM, 0x1000000ull + ((uint64_t)i << 29), 512ull << 20, i + 1, 0,
                               2 + i),
                         B(ALLOC_OK));
    size_t len;
    uint8_t *buf = save(a, NULL, &len);
    ttm_registry_close(a);
    ttm_registry *b = NULL;
    char msg[200];
    assert_int_equal(load(&b, NULL, buf, len, msg, sizeof msg), TTM_OK);
    ttm_device_stats d = dev_stats(b, 0);
    assert_int_equal(d.arch, TTM_ARCH_WORMHOLE_B0);
    assert_int_equal(d.capacity[TTM_SPACE_DRAM],
                     ttm__arch_dram_bytes(ttm__arch_profile(TTM_ARCH_WORMHOLE_B0)));
    assert_int_equal(proc_live_bytes(b, 7, 0, DRAM), 17ull * (512ull << 20));
    for (unsigned i = 0; i < 17; i++)
        assert_int_equal(dealloc(b, 7, 0, DRAM, 0x1000000ull + ((uint64_t)i << 29), 0, i + 1, 0, 100 + i),
                         B(FREE_OK));
    assert_int_equal(class_count(b, TTM_CLASS_UNKNOWN_FREE), 0);
    assert_int_equal(live_bytes(b, 0, DRAM), 0);
    check_invariants(b);
    ttm_registry_close(b);
    ttm__free(buf);
}

/* A state of version 1 (written before call sites) loads, and gives the registry the same
 * events give today (none of them has a call site or a named mark, so nothing differs), now
 * and after more events. */
static void test_load_version1(void **state)
{
    (void)state;
    assert_int_equal(ttm__le64(v1_state + 8), 1);
    ttm_registry *a = open_reg(NULL), *b = NULL;
    v1_events(a);
    char msg[200];
    const uint8_t *annex;
    size_t annex_len;
    assert_int_equal(ttm_registry_load(&b, NULL, v1_state, sizeof v1_state, &annex, &annex_len,
                                       msg, sizeof msg),
                     TTM_OK);
    assert_int_equal(annex_len, 2);
    assert_memory_equal(annex, "v1", 2);
    assert_same(a, b);
    check_invariants(b);
    assert_same_future(a, b);
    ttm_registry_close(a);
    ttm_registry_close(b);
}

static void test_empty_round_trip(void **state)
{
    (void)state;
    ttm_registry *a = open_reg(NULL);
    size_t len;
    uint8_t *buf = save(a, NULL, &len);
    ttm_registry *b = NULL;
    char msg[200];
    assert_int_equal(load(&b, NULL, buf, len, msg, sizeof msg), TTM_OK);
    assert_same(a, b);
    ttm_registry_close(a);
    ttm_registry_close(b);
    ttm__free(buf);
}

/* Truncated at every length, every byte flipped, the header's fields changed: refused with one
 * line, never read out of bounds (ASan). */
static void test_damaged(void **state)
{
    (void)state;
    ttm_registry *a = built(NULL, NULL);
    size_t len;
    uint8_t *buf = save(a, "annex", &len);
    ttm_registry_close(a);
    char msg[200];
    ttm_registry *b = NULL;
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *copy = malloc(cut + 1);
        memcpy(copy, buf, cut);
        if (load(&b, NULL, copy, cut, msg, sizeof msg) != TTM_EPROTO)
            fail_msg("a state cut to %zu of %zu bytes was not refused", cut, len);
        free(copy);
    }
    assert_int_equal(load(&b, NULL, NULL, 0, msg, sizeof msg), TTM_EPROTO);
    uint8_t *copy = malloc(len);
    for (size_t i = 0; i < len; i++) {
        memcpy(copy, buf, len);
        copy[i] ^= (uint8_t)(1u << (i % 8));
        int rc = load(&b, NULL, copy, len, msg, sizeof msg);
        if (i >= 8 && i < 16) /* another version; one this build reads finds its body wrong */
            assert_true(rc == TTM_EVERSION || rc == TTM_EPROTO);
        else
            assert_int_equal(rc, TTM_EPROTO);
    }
    /* another version: refused as such, with both versions in the message */
    memcpy(copy, buf, len);
    ttm__put_le64(copy + 8, TTM_REGISTRY_STATE_VERSION + 1);
    assert_int_equal(load(&b, NULL, copy, len, msg, sizeof msg), TTM_EVERSION);
    assert_non_null(strstr(msg, "version"));
    /* another build's class table, with a valid checksum */
    memcpy(copy, buf, len);
    ttm__put_le64(copy + 40, TTM_CLASS__COUNT + 1);
    ttm__put_le64(copy + 32, ttm__registry_state_checksum(copy + 40, len - 40));
    assert_int_equal(load(&b, NULL, copy, len, msg, sizeof msg), TTM_EVERSION);
    free(copy);
    ttm__free(buf);
}

/* Forged states (valid checksum, hostile words): every word of the body set to hostile values
 * in turn. The load either refuses or gives a registry whose queries hold their invariants. */
static void test_forged(void **state)
{
    (void)state;
    ttm_registry_config cfg = {.max_history = 64, .max_offenders = 16, .max_freed_objs = 32,
                               .max_leaks_listed = 8, .max_processes = 8};
    ttm_registry *a = open_reg(&cfg);
    /* a small state: every table holds a few entries */
    ttm_event di = util_event(TTM_EV_DEVICE_INFO, 1, 0, 0, 0, 0, 0, 1);
    di.arch = TTM_ARCH_BLACKHOLE;
    ttm_registry_apply(a, 5, &di);
    alloc(a, 5, 1, DRAM, A, 100, 1, 0, 2);
    alloc(a, 5, 1, L1, A2, 200, 2, 0, 3);
    alloc(a, 5, 1, L1, A2, 0, 3, VIEW, 4);
    alloc(a, 6, 2, TRACE, A3, 300, 0, 0, 5);
    dealloc(a, 5, 1, DRAM, A, 100, 1, 0, 6);
    dealloc(a, 5, 1, DRAM, A, 100, 1, 0, 7);
    dealloc(a, 6, 2, DRAM, 0x999000, 0, 0, 0, 8);
    alloc(a, 7, 3, DRAM, A, 10, 0, 0, 9);
    ttm_registry_process_exit(a, 7, 10);
    size_t len;
    uint8_t *buf = save(a, "xy", &len);
    ttm_registry_close(a);
    static const uint64_t hostile[] = {0, 1, 2, 0xff, 0x10000, UINT32_MAX, 1ull << 32,
                                       1ull << 63, UINT64_MAX - 1, UINT64_MAX};
    uint8_t *copy = malloc(len);
    char msg[200];
    unsigned loaded = 0, refused = 0;
    for (size_t w = 40; w < len; w += 8) {
        for (size_t h = 0; h < sizeof hostile / sizeof hostile[0]; h++) {
            memcpy(copy, buf, len);
            ttm__put_le64(copy + w, hostile[h]);
            ttm__put_le64(copy + 32, ttm__registry_state_checksum(copy + 40, len - 40));
            ttm_registry *b = NULL;
            int rc = load(&b, &cfg, copy, len, msg, sizeof msg);
            if (rc == TTM_OK) {
                loaded++;
                check_consistency(b, false, true);
                /* the loaded registry keeps working */
                alloc(b, 5, 1, DRAM, A, 100, 1, 0, 100);
                dealloc(b, 5, 1, ANY, A2, 0, 0, 0, 101);
                ttm_registry_process_exit(b, 5, 102);
                ttm_registry_process_exit(b, 6, 103);
                check_consistency(b, false, false);
                ttm_registry_close(b);
            } else {
                assert_true(rc == TTM_EPROTO || rc == TTM_EVERSION);
                refused++;
            }
        }
    }
    assert_true(loaded > 0 && refused > 0);
    free(copy);
    ttm__free(buf);
}

/* A loader with smaller bounds keeps what fits and counts the rest. */
static void test_smaller_bounds(void **state)
{
    (void)state;
    ttm_registry *a = built(NULL, NULL);
    size_t len;
    uint8_t *buf = save(a, NULL, &len);
    ttm_totals ta = totals(a);
    ttm_registry_close(a);
    ttm_registry_config small = {.max_history = 16, .max_offenders = 4, .max_freed_objs = 8,
                                 .max_leaks_listed = 2, .max_processes = 2};
    ttm_registry *b = NULL;
    char msg[200];
    assert_int_equal(load(&b, &small, buf, len, msg, sizeof msg), TTM_OK);
    ttm_totals tb = totals(b);
    assert_true(tb.history_dropped > ta.history_dropped);
    assert_true(tb.offenders_dropped > ta.offenders_dropped);
    assert_true(tb.freed_objs_dropped > ta.freed_objs_dropped);
    assert_true(tb.processes_dropped > ta.processes_dropped);
    assert_int_equal(tb.live_records, ta.live_records);
    assert_true(ttm_registry_leaks(b, NULL, 0) <= 2);
    check_consistency(b, false, false);
    ttm_registry_close(b);
    ttm__free(buf);
}

/* Allocation failure at every allocation of a save and of a load: TTM_ENOMEM, nothing leaked
 * (ASan), and once the walk passes the last allocation the result is the full state. */
static void test_alloc_failure(void **state)
{
    (void)state;
    ttm_registry *a = built(NULL, NULL);
    size_t len;
    uint8_t *buf = save(a, "annex", &len);
    char msg[200];
    unsigned long k;
    for (k = 1; k < 100000; k++) {
        ttm__alloc_fail_at(k);
        uint8_t *out = NULL;
        size_t out_len = 0;
        int rc = ttm_registry_save(a, "annex", 5, &out, &out_len);
        unsigned long made = ttm__alloc_fail_at(0);
        if (rc == TTM_OK) {
            assert_int_equal(out_len, len);
            assert_memory_equal(out, buf, len);
            ttm__free(out);
            break;
        }
        assert_int_equal(rc, TTM_ENOMEM);
        assert_null(out);
        assert_true(made >= k - 1);
    }
    assert_true(k < 100000);
    unsigned long failures = 0;
    for (k = 1; k < 100000; k++) {
        ttm__alloc_fail_at(k);
        ttm_registry *b = NULL;
        int rc = load(&b, NULL, buf, len, msg, sizeof msg);
        ttm__alloc_fail_at(0);
        if (rc == TTM_OK) {
            assert_same(a, b);
            ttm_registry_close(b);
            break;
        }
        assert_int_equal(rc, TTM_ENOMEM);
        failures++;
    }
    assert_true(k < 100000);
    assert_true(failures >= 5);
    ttm_registry_close(a);
    ttm__free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),      cmocka_unit_test(test_restart_picture),
        cmocka_unit_test(test_half_settled_exit),
        cmocka_unit_test(test_empty_round_trip), cmocka_unit_test(test_damaged),
        cmocka_unit_test(test_forged),          cmocka_unit_test(test_smaller_bounds),
        cmocka_unit_test(test_alloc_failure),
        cmocka_unit_test(test_load_version1),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
