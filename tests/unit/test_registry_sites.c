/*
 * test_registry_sites.c — the registry's call sites (docs/CLASSIFICATION.md, "Call sites"):
 * contexts kept by live records and leaks, top sites per offender (exact below TTM_SITES_MAX,
 * space-saving above), both frees of a double free, leak groups by allocation stack, live
 * sites, phases from marks, the breakdown by phase and scope, the state round trip of all of
 * it, and the property that contexts never change a verdict.
 *
 * Events are forged with stack and scope ids interned in the registry's own table
 * (ttm_registry_stacks), as the daemon does after translating a client's side log.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <cmocka.h>

#include "common/alloc.h"
#include "common/bytes.h"
#include "registry_util.h"

/* Records per store chunk, and per side array of contexts (core/store.h, which the helpers'
 * names would shadow). */
#define CHUNK 4096u

static uint32_t name_of(ttm_registry *reg, const char *name)
{
    uint32_t id = ttm_stacks_string(ttm_registry_stacks(reg), name, strlen(name));
    assert_int_not_equal(id, 0);
    return id;
}

static uint32_t ev_at(ttm_registry *reg, uint32_t pid, uint8_t kind, unsigned memtype,
                      uint64_t addr, uint64_t size, uint64_t obj, unsigned flags, uint32_t stack,
                      uint32_t scope, uint64_t ts)
{
    ttm_event ev = util_event(kind, 0, memtype, addr, size, obj, flags, ts);
    ev.stack = stack;
    ev.scope = scope;
    return ttm_registry_apply(reg, pid, &ev);
}

static uint32_t alloc_at(ttm_registry *reg, uint32_t pid, uint64_t addr, uint64_t size,
                         uint64_t obj, uint32_t stack, uint32_t scope, uint64_t ts)
{
    return ev_at(reg, pid, TTM_EV_ALLOC, DRAM, addr, size, obj, 0, stack, scope, ts);
}

static uint32_t free_at(ttm_registry *reg, uint32_t pid, uint64_t addr, uint64_t size,
                        uint64_t obj, uint32_t stack, uint32_t scope, uint64_t ts)
{
    return ev_at(reg, pid, TTM_EV_FREE, DRAM, addr, size, obj, 0, stack, scope, ts);
}

static void mark(ttm_registry *reg, uint32_t pid, const char *name, uint64_t ts)
{
    ttm_event ev = util_event(TTM_EV_MARK, 0, 0, 0, 0, 0, 0, ts);
    snprintf(ev.mark, sizeof ev.mark, "%s", name);
    ttm_registry_apply(reg, pid, &ev);
}

static const ttm_site *site_of(const ttm_offender *o, uint32_t stack)
{
    for (unsigned i = 0; i < o->nsites; i++)
        if (o->sites[i].stack == stack)
            return &o->sites[i];
    return NULL;
}

/* ---- no context: nothing kept, nothing allocated ---------------------------------------- */

static void test_no_context(void **state)
{
    ttm_registry *reg = *state;
    for (unsigned i = 0; i < 5000; i++)
        assert_int_equal(alloc_at(reg, 1, A + 0x1000ull * i, 64, i + 1, 0, 0, i + 1), B(ALLOC_OK));
    for (unsigned i = 0; i < 3; i++)
        assert_int_equal(free_at(reg, 1, A3 + 0x10000000, 64, 0, 0, 0, 9000 + i), B(UNKNOWN_FREE));
    ttm_stacks_stats ss;
    ttm_stacks_stats_get(ttm_registry_stacks_c(reg), &ss);
    assert_int_equal(ss.contexts, 0);
    size_t chunks = (5000 + CHUNK - 1) / CHUNK;
    size_t mem = ttm_registry_live_memory(reg);
    ttm_offender o = offender_at(reg, TTM_CLASS_UNKNOWN_FREE, 0, A3 + 0x10000000);
    assert_int_equal(o.count, 3);
    assert_int_equal(o.nsites, 0);
    assert_int_equal(o.sites_other, 3);
    ttm_live_site ls[4];
    assert_int_equal(ttm_registry_live_sites(reg, ls, 4), 1);
    assert_int_equal(ls[0].stack, 0);
    assert_int_equal(ls[0].count, 5000);
    assert_int_equal(ttm_registry_breakdown(reg, NULL, 0), 0);
    assert_int_equal(ttm_registry_phases(reg, NULL, 0), 0);

    /* one context stored: one side array for the chunk that holds it (and nothing else grows:
     * the record fits the last chunk, the index keeps its size), so there was none before */
    uint32_t s1 = util_stack(reg, 0x1111);
    assert_int_equal(alloc_at(reg, 1, A2 + 0x10000000, 64, 0, s1, 0, 9100), B(ALLOC_OK));
    assert_int_equal(ttm_registry_live_memory(reg),
                     mem + CHUNK * sizeof(uint32_t) + chunks * sizeof(uint32_t *));
    check_invariants(reg);
}

/* ---- offenders' sites ------------------------------------------------------------------- */

static void test_sites_exact(void **state)
{
    ttm_registry *reg = *state;
    uint32_t s1 = util_stack(reg, 0x1001), s2 = util_stack(reg, 0x1002), s3 = util_stack(reg, 0x1003);
    uint32_t sc = name_of(reg, "matmul");
    uint64_t ts = 1;
    /* unknown frees at one address: 5 from s2, 3 from s1, 1 from s3 in scope sc, 2 bare */
    for (int i = 0; i < 3; i++)
        free_at(reg, 1, A, 100, 0, s1, 0, ts++);
    for (int i = 0; i < 5; i++)
        free_at(reg, 1, A, 10, 0, s2, 0, ts++);
    free_at(reg, 2, A, 1, 0, s3, sc, ts++);
    free_at(reg, 1, A, 1, 0, 0, 0, ts++);
    free_at(reg, 1, A, 1, 0, 0, 0, ts++);
    ttm_offender o = offender_at(reg, TTM_CLASS_UNKNOWN_FREE, 0, A);
    assert_int_equal(o.count, 11);
    assert_int_equal(o.nsites, 3);
    assert_int_equal(o.sites_other, 2);
    assert_int_equal(o.sites[0].stack, s2);
    assert_int_equal(o.sites[0].count, 5);
    assert_int_equal(o.sites[0].bytes, 50);
    assert_int_equal(o.sites[1].stack, s1);
    assert_int_equal(o.sites[1].count, 3);
    assert_int_equal(o.sites[1].bytes, 300);
    assert_int_equal(o.sites[2].stack, s3);
    assert_int_equal(o.sites[2].scope, sc);
    assert_int_equal(o.sites[2].count, 1);
    for (unsigned i = 0; i < o.nsites; i++) {
        assert_int_equal(o.sites[i].phase, 0);
        assert_int_equal(o.sites[i].release_stack, 0);
    }
    /* the same stack in another scope is another site */
    free_at(reg, 1, A, 1, 0, s1, sc, ts++);
    o = offender_at(reg, TTM_CLASS_UNKNOWN_FREE, 0, A);
    assert_int_equal(o.nsites, 4);
    assert_int_equal(o.sites_other, 2);
}

/* Space-saving's guarantee over a long stream of many sites, checked against exact counts:
 * never more than TTM_SITES_MAX sites, counts never above the truth, every site with more than
 * count / TTM_SITES_MAX of the events kept, the counts and sites_other adding up. */
#define NSTACKS 40
static void test_sites_bounded(void **state)
{
    ttm_registry *reg = *state;
    uint32_t ids[NSTACKS];
    uint64_t truth[NSTACKS] = {0};
    for (unsigned i = 0; i < NSTACKS; i++)
        ids[i] = util_stack(reg, 0x2000 + i);
    uint64_t x = 88172645463325252ull, total = 0;
    for (unsigned n = 0; n < 20040; n++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        /* after 20 events of each heavy site: two heavy sites (35% and 30%), the rest spread
         * over 38 */
        unsigned r = (unsigned)(x % 100);
        unsigned k = n < 40 ? n / 20
                     : r < 35 ? 0
                     : r < 65 ? 1
                              : 2 + (unsigned)((x >> 20) % (NSTACKS - 2));
        free_at(reg, 1, A, 8, 0, ids[k], 0, n + 1);
        truth[k]++;
        total++;
    }
    ttm_offender o = offender_at(reg, TTM_CLASS_UNKNOWN_FREE, 0, A);
    assert_int_equal(o.count, total);
    assert_int_equal(o.nsites, TTM_SITES_MAX);
    uint64_t in = 0;
    for (unsigned i = 0; i < o.nsites; i++) {
        in += o.sites[i].count;
        if (i > 0)
            assert_true(o.sites[i - 1].count >= o.sites[i].count);
        unsigned k = 0;
        while (k < NSTACKS && ids[k] != o.sites[i].stack)
            k++;
        assert_true(k < NSTACKS);
        assert_true(o.sites[i].count <= truth[k]);
        assert_int_equal(o.sites[i].bytes, o.sites[i].count * 8);
    }
    assert_int_equal(in + o.sites_other, o.count);
    for (unsigned k = 0; k < NSTACKS; k++)
        if (truth[k] > total / TTM_SITES_MAX)
            assert_non_null(site_of(&o, ids[k]));
    /* the two heavy ones entered first and were never evicted: exact */
    assert_int_equal(site_of(&o, ids[0])->count, truth[0]);
    assert_int_equal(site_of(&o, ids[1])->count, truth[1]);
}

static void test_double_free_both_stacks(void **state)
{
    ttm_registry *reg = *state;
    uint32_t sa = util_stack(reg, 0xa), sr = util_stack(reg, 0xb), sd = util_stack(reg, 0xc);
    assert_int_equal(alloc_at(reg, 1, A, 64, 7, sa, 0, 1), B(ALLOC_OK));
    assert_int_equal(free_at(reg, 1, A, 64, 7, sr, 0, 2), B(FREE_OK));
    assert_int_equal(free_at(reg, 1, A, 64, 7, sd, 0, 3), B(DOUBLE_FREE));
    assert_int_equal(free_at(reg, 1, A, 64, 7, sd, 0, 4), B(DOUBLE_FREE));
    ttm_offender o = offender_at(reg, TTM_CLASS_DOUBLE_FREE, 0, A);
    assert_int_equal(o.nsites, 1);
    assert_int_equal(o.sites[0].stack, sd);
    assert_int_equal(o.sites[0].release_stack, sr);
    assert_int_equal(o.sites[0].count, 2);

    /* reallocated and released again elsewhere: the latest release is the one followed */
    uint32_t sr2 = util_stack(reg, 0xd);
    assert_int_equal(alloc_at(reg, 1, A, 64, 7, sa, 0, 5), B(ALLOC_OK));
    assert_int_equal(free_at(reg, 1, A, 64, 7, sr2, 0, 6), B(FREE_OK));
    assert_int_equal(free_at(reg, 1, A, 64, 7, sd, 0, 7), B(DOUBLE_FREE));
    o = offender_at(reg, TTM_CLASS_DOUBLE_FREE, 0, A);
    assert_int_equal(o.nsites, 2);
    assert_int_equal(o.sites[1].stack, sd);
    assert_int_equal(o.sites[1].release_stack, sr2);

    /* a release without a context: the double free's release stack is unknown */
    assert_int_equal(alloc_at(reg, 1, A2, 64, 8, sa, 0, 8), B(ALLOC_OK));
    assert_int_equal(free_at(reg, 1, A2, 64, 8, 0, 0, 9), B(FREE_OK));
    assert_int_equal(free_at(reg, 1, A2, 64, 8, sd, 0, 10), B(DOUBLE_FREE));
    o = offender_at(reg, TTM_CLASS_DOUBLE_FREE, 0, A2);
    assert_int_equal(o.nsites, 1);
    assert_int_equal(o.sites[0].release_stack, 0);

    /* other classes never carry a release stack */
    assert_int_equal(free_at(reg, 1, A3, 64, 0, sd, 0, 11), B(UNKNOWN_FREE));
    o = offender_at(reg, TTM_CLASS_UNKNOWN_FREE, 0, A3);
    assert_int_equal(o.sites[0].release_stack, 0);
}

/* A missed free is the replaced buffer's finding: its site is where that one was allocated. */
static void test_missed_free_site(void **state)
{
    ttm_registry *reg = *state;
    uint32_t s1 = util_stack(reg, 0x51), s2 = util_stack(reg, 0x52);
    assert_int_equal(alloc_at(reg, 1, A, 64, 1, s1, 0, 1), B(ALLOC_OK));
    assert_int_equal(alloc_at(reg, 1, A, 64, 2, s2, 0, 2), B(OVERLAP));
    ttm_offender o = offender_at(reg, TTM_CLASS_MISSED_FREE, 0, A);
    assert_int_equal(o.nsites, 1);
    assert_int_equal(o.sites[0].stack, s1);
    o = offender_at(reg, TTM_CLASS_OVERLAP, 0, A);
    assert_int_equal(o.sites[0].stack, s2);
}

/* Ids the table does not hold make no context: nothing is attributed, nothing refused. */
static void test_unknown_ids(void **state)
{
    ttm_registry *reg = *state;
    assert_int_equal(alloc_at(reg, 1, A, 64, 1, 999, 0, 1), B(ALLOC_OK));
    assert_int_equal(free_at(reg, 1, A2, 64, 0, 999, 998, 2), B(UNKNOWN_FREE));
    ttm_offender o = offender_at(reg, TTM_CLASS_UNKNOWN_FREE, 0, A2);
    assert_int_equal(o.nsites, 0);
    ttm_live_site ls[2];
    assert_int_equal(ttm_registry_live_sites(reg, ls, 2), 1);
    assert_int_equal(ls[0].stack, 0);
    ttm_stacks_stats ss;
    ttm_stacks_stats_get(ttm_registry_stacks_c(reg), &ss);
    assert_int_equal(ss.contexts, 0);
    assert_true(ss.invalid >= 2);
}

/* ---- leaks ------------------------------------------------------------------------------ */

static void test_leak_groups(void **state)
{
    ttm_registry *reg = *state;
    uint32_t s1 = util_stack(reg, 0x61), s2 = util_stack(reg, 0x62);
    uint32_t sc = name_of(reg, "conv");
    alloc_at(reg, 1, A + 0x000, 100, 0, s1, 0, 10);
    alloc_at(reg, 1, A + 0x100, 200, 0, s1, sc, 20);
    alloc_at(reg, 1, A + 0x200, 300, 0, s1, 0, 30);
    alloc_at(reg, 1, A + 0x300, 1000, 0, s2, 0, 5);
    alloc_at(reg, 1, A + 0x400, 1000, 0, s2, 0, 6);
    alloc_at(reg, 1, A + 0x500, 50, 0, 0, 0, 7);
    alloc_at(reg, 1, A + 0x600, 77, 0, s2, 0, 8);
    free_at(reg, 1, A + 0x600, 77, 0, s1, 0, 9); /* freed: no leak */
    ev_at(reg, 1, TTM_EV_ALLOC, DRAM, A + 0x100, 0, 0, VIEW, s2, 0, 11); /* views do not leak */
    alloc_at(reg, 2, A2, 400, 0, s1, 0, 1);
    ttm_registry_process_exit(reg, 1, 100);
    ttm_registry_process_exit(reg, 2, 101);

    ttm_leak_group g[8];
    assert_int_equal(ttm_registry_leak_groups(reg, g, 8), 3);
    assert_int_equal(g[0].stack, s2);
    assert_int_equal(g[0].count, 2);
    assert_int_equal(g[0].bytes, 2000);
    assert_int_equal(g[0].oldest_ts, 5);
    assert_int_equal(g[0].npids, 1);
    assert_int_equal(g[1].stack, s1);
    assert_int_equal(g[1].count, 4);
    assert_int_equal(g[1].bytes, 1000);
    assert_int_equal(g[1].oldest_ts, 1);
    assert_int_equal(g[1].npids, 2);
    assert_int_equal(g[1].pids[0], 1);
    assert_int_equal(g[1].pids[1], 2);
    assert_int_equal(g[2].stack, 0);
    assert_int_equal(g[2].count, 1);
    assert_int_equal(g[2].bytes, 50);
    /* cap below the count: the first by bytes */
    assert_int_equal(ttm_registry_leak_groups(reg, g, 1), 3);
    assert_int_equal(g[0].stack, s2);

    /* each leak listed keeps its allocation's context */
    ttm_leak l[16];
    size_t nl = ttm_registry_leaks(reg, l, 16);
    assert_int_equal(nl, 7);
    unsigned seen = 0;
    for (size_t i = 0; i < nl; i++) {
        if (l[i].addr == A + 0x100) {
            assert_int_equal(l[i].stack, s1);
            assert_int_equal(l[i].scope, sc);
            seen++;
        } else if (l[i].addr == A + 0x500) {
            assert_int_equal(l[i].stack, 0);
            seen++;
        } else if (l[i].addr == A + 0x300) {
            assert_int_equal(l[i].stack, s2);
            assert_int_equal(l[i].scope, 0);
            seen++;
        }
    }
    assert_int_equal(seen, 3);
    ttm_offender o = offender_at(reg, TTM_CLASS_LEAKED_AT_EXIT, 0, A + 0x300);
    assert_int_equal(o.sites[0].stack, s2);
}

static void test_leak_groups_bounded(void **state)
{
    (void)state;
    ttm_registry_config cfg = {.max_leak_groups = 2};
    ttm_registry *reg = open_reg(&cfg);
    uint32_t s[4];
    for (unsigned i = 0; i < 4; i++)
        s[i] = util_stack(reg, 0x70 + i);
    for (unsigned i = 0; i < 4; i++)
        alloc_at(reg, 1, A + 0x100ull * i, 10 * (i + 1), 0, s[i], 0, i + 1);
    alloc_at(reg, 1, A2, 1, 0, 0, 0, 9);
    ttm_registry_process_exit(reg, 1, 100);
    ttm_leak_group g[8];
    assert_int_equal(ttm_registry_leak_groups(reg, g, 8), 3);
    /* the first two stacks got groups (leaks settle oldest first), the other two folded */
    assert_int_equal(totals(reg).leak_groups_folded, 2);
    uint64_t count = 0, bytes = 0;
    for (unsigned i = 0; i < 3; i++) {
        count += g[i].count;
        bytes += g[i].bytes;
        if (g[i].stack == 0) {
            assert_int_equal(g[i].count, 3);
            assert_int_equal(g[i].bytes, 30 + 40 + 1);
            assert_int_equal(g[i].oldest_ts, 3);
        } else {
            assert_true(g[i].stack == s[0] || g[i].stack == s[1]);
        }
    }
    assert_int_equal(count, 5);
    assert_int_equal(bytes, 10 + 20 + 30 + 40 + 1);
    ttm_registry_close(reg);
}

/* ---- live sites ------------------------------------------------------------------------- */

static void test_live_sites(void **state)
{
    ttm_registry *reg = *state;
    uint32_t s1 = util_stack(reg, 0x81), s2 = util_stack(reg, 0x82);
    for (unsigned i = 0; i < 10; i++)
        alloc_at(reg, 1, A + 0x100ull * i, 100, 0, s1, 0, i + 1);
    for (unsigned i = 0; i < 3; i++)
        alloc_at(reg, 2, A2 + 0x100ull * i, 1000, 0, s2, 0, 20 + i);
    alloc_at(reg, 2, A3, 5, 0, 0, 0, 30);
    ev_at(reg, 1, TTM_EV_ALLOC, DRAM, A, 0, 0, VIEW, s2, 0, 31); /* a view: not counted */
    free_at(reg, 1, A, 100, 0, s2, 0, 32);
    free_at(reg, 1, A + 0x100, 100, 0, 0, 0, 33);
    ttm_live_site ls[4];
    assert_int_equal(ttm_registry_live_sites(reg, ls, 4), 3);
    assert_int_equal(ls[0].stack, s2);
    assert_int_equal(ls[0].count, 3);
    assert_int_equal(ls[0].bytes, 3000);
    assert_int_equal(ls[1].stack, s1);
    assert_int_equal(ls[1].count, 8);
    assert_int_equal(ls[1].bytes, 800);
    assert_int_equal(ls[2].stack, 0);
    assert_int_equal(ls[2].count, 1);
    assert_int_equal(ttm_registry_live_sites(reg, NULL, 0), 3);
    /* every live owning record is in one site */
    ttm_totals t = totals(reg);
    assert_int_equal(t.live_records, 3 + 8 + 1 + 1);
}

static bool live_ctx_fn(const ttm_live *l, void *arg)
{
    ttm_live *want = arg;
    if (l->addr == want->addr && l->pid == want->pid) {
        *want = *l;
        return false;
    }
    return true;
}

/* ---- phases and breakdown --------------------------------------------------------------- */

static void test_phases(void **state)
{
    ttm_registry *reg = *state;
    mark(reg, 1, "load", 10);
    alloc_at(reg, 1, A, 64, 0, 0, 0, 11);
    mark(reg, 2, "warmup", 12);
    mark(reg, 1, "run", 13);
    alloc_at(reg, 1, A2, 64, 0, 0, 0, 14);
    mark(reg, 1, "", 15); /* an empty name: no phase from here */
    alloc_at(reg, 1, A3, 64, 0, 0, 0, 16);
    ttm_phase ph[8];
    assert_int_equal(ttm_registry_phases(reg, ph, 8), 4);
    uint32_t load = name_of(reg, "load"), run = name_of(reg, "run");
    assert_int_equal(ph[0].pid, 1);
    assert_int_equal(ph[0].name, load);
    assert_int_equal(ph[0].ts, 10);
    assert_int_equal(ph[1].pid, 2);
    assert_int_equal(ph[1].name, name_of(reg, "warmup"));
    assert_int_equal(ph[2].name, run);
    assert_int_equal(ph[3].name, 0);
    assert_int_equal(totals(reg).marks, 4);

    ttm_live l = {.pid = 1, .addr = A};
    ttm_registry_foreach_live(reg, live_ctx_fn, &l);
    assert_int_equal(l.phase, load);
    assert_int_equal(l.stack, 0);
    l = (ttm_live){.pid = 1, .addr = A2};
    ttm_registry_foreach_live(reg, live_ctx_fn, &l);
    assert_int_equal(l.phase, run);
    l = (ttm_live){.pid = 1, .addr = A3};
    ttm_registry_foreach_live(reg, live_ctx_fn, &l);
    assert_int_equal(l.phase, 0);

    /* leaks keep the phase of their allocation */
    ttm_registry_process_exit(reg, 1, 100);
    ttm_leak lk[4];
    assert_int_equal(ttm_registry_leaks(reg, lk, 4), 3);
    assert_int_equal(lk[0].phase, load);
    assert_int_equal(lk[1].phase, run);
    assert_int_equal(lk[2].phase, 0);
}

static void test_phases_bounded(void **state)
{
    (void)state;
    ttm_registry_config cfg = {.max_phases = 2};
    ttm_registry *reg = open_reg(&cfg);
    mark(reg, 1, "a", 1);
    mark(reg, 1, "b", 2);
    mark(reg, 1, "c", 3);
    assert_int_equal(ttm_registry_phases(reg, NULL, 0), 2);
    assert_int_equal(totals(reg).phases_dropped, 1);
    /* the phase still changes when the list is full */
    alloc_at(reg, 1, A, 64, 0, 0, 0, 4);
    ttm_live l = {.pid = 1, .addr = A};
    ttm_registry_foreach_live(reg, live_ctx_fn, &l);
    assert_int_equal(l.phase, name_of(reg, "c"));
    ttm_registry_close(reg);
}

static const ttm_breakdown *bd_find(const ttm_breakdown *b, size_t n, unsigned kind,
                                    uint32_t name)
{
    for (size_t i = 0; i < n; i++)
        if (b[i].kind == kind && b[i].name == name)
            return &b[i];
    return NULL;
}

static void test_breakdown(void **state)
{
    ttm_registry *reg = *state;
    uint32_t mm = name_of(reg, "matmul"), cv = name_of(reg, "conv");
    uint32_t s1 = util_stack(reg, 0x91);
    mark(reg, 1, "load", 1);
    alloc_at(reg, 1, A, 64, 1, s1, mm, 2);        /* load, matmul: alloc_ok */
    alloc_at(reg, 1, A + 0x100, 32, 2, 0, cv, 3); /* load, conv: alloc_ok (leaks) */
    mark(reg, 1, "run", 4);
    free_at(reg, 1, A, 64, 1, 0, mm, 5);          /* run, matmul: free_ok */
    free_at(reg, 1, A, 64, 1, 0, mm, 6);          /* run, matmul: double_free */
    free_at(reg, 1, A2, 8, 0, 0, 0, 7);           /* run: unknown_free */
    alloc_at(reg, 1, A3, 16, 3, 0, 0, 8);         /* run: alloc_ok (leaks) */
    alloc_at(reg, 2, A3 + 0x100, 16, 0, 0, 0, 9); /* no phase, no scope: not broken down */
    ttm_registry_process_exit(reg, 1, 100);

    ttm_breakdown b[8];
    size_t n = ttm_registry_breakdown(reg, b, 8);
    assert_int_equal(n, 4);
    uint32_t load = name_of(reg, "load"), run = name_of(reg, "run");
    /* ordered by kind, then anomalies */
    assert_int_equal(b[0].kind, TTM_BREAKDOWN_PHASE);
    assert_int_equal(b[0].name, run);
    assert_int_equal(b[1].name, load);
    assert_int_equal(b[2].kind, TTM_BREAKDOWN_SCOPE);
    assert_int_equal(b[2].name, mm);
    const ttm_breakdown *r = bd_find(b, n, TTM_BREAKDOWN_PHASE, run);
    assert_int_equal(r->allocs, 1);
    assert_int_equal(r->class_count[TTM_CLASS_FREE_OK], 1);
    assert_int_equal(r->class_count[TTM_CLASS_DOUBLE_FREE], 1);
    assert_int_equal(r->class_count[TTM_CLASS_UNKNOWN_FREE], 1);
    assert_int_equal(r->class_count[TTM_CLASS_LEAKED_AT_EXIT], 1);
    assert_int_equal(r->anomalies, 3);
    assert_int_equal(r->leaked_count, 1);
    assert_int_equal(r->leaked_bytes, 16);
    const ttm_breakdown *l = bd_find(b, n, TTM_BREAKDOWN_PHASE, load);
    assert_int_equal(l->allocs, 2);
    assert_int_equal(l->class_count[TTM_CLASS_ALLOC_OK], 2);
    assert_int_equal(l->anomalies, 1); /* the conv buffer leaked */
    assert_int_equal(l->leaked_count, 1);
    assert_int_equal(l->leaked_bytes, 32);
    const ttm_breakdown *m = bd_find(b, n, TTM_BREAKDOWN_SCOPE, mm);
    assert_int_equal(m->allocs, 1);
    assert_int_equal(m->class_count[TTM_CLASS_FREE_OK], 1);
    assert_int_equal(m->class_count[TTM_CLASS_DOUBLE_FREE], 1);
    assert_int_equal(m->anomalies, 1);
    assert_int_equal(m->leaked_count, 0);
    const ttm_breakdown *c = bd_find(b, n, TTM_BREAKDOWN_SCOPE, cv);
    assert_int_equal(c->allocs, 1);
    assert_int_equal(c->leaked_count, 1);
    assert_int_equal(c->leaked_bytes, 32);
    assert_null(bd_find(b, n, TTM_BREAKDOWN_PHASE, 0));
}

static void test_breakdown_bounded(void **state)
{
    (void)state;
    ttm_registry_config cfg = {.max_breakdown = 2};
    ttm_registry *reg = open_reg(&cfg);
    const char *names[4] = {"a", "b", "c", "d"};
    for (unsigned i = 0; i < 4; i++)
        alloc_at(reg, 1, A + 0x100ull * i, 8, 0, 0, name_of(reg, names[i]), i + 1);
    ttm_breakdown b[8];
    size_t n = ttm_registry_breakdown(reg, b, 8);
    assert_int_equal(n, 3);
    const ttm_breakdown *fold = bd_find(b, n, TTM_BREAKDOWN_SCOPE, 0);
    assert_non_null(fold);
    assert_int_equal(fold->allocs, 2);
    assert_int_equal(fold->class_count[TTM_CLASS_ALLOC_OK], 2);
    assert_int_equal(totals(reg).breakdown_folded, 2); /* 2 events, a class each */
    ttm_registry_close(reg);
}

/* ---- contexts never change a verdict ---------------------------------------------------- */

/* The sequence touching every path, applied twice: bare, and with a stack and a scope on every
 * ALLOC and FREE (and marks present in both); every event gets the same classes and apply
 * info, and every figure that is not a call site is the same. */
static void test_verdicts_unchanged(void **state)
{
    (void)state;
    pev *seq = calloc(SEQ_MAX, sizeof *seq);
    assert_non_null(seq);
    size_t n = build_sequence(seq);
    ttm_registry *a = open_reg(NULL), *b = open_reg(NULL);
    uint32_t stacks[7], scopes[3];
    for (unsigned i = 0; i < 7; i++)
        stacks[i] = util_stack(b, 0xc000 + i);
    for (unsigned i = 0; i < 3; i++) {
        char nm[8];
        snprintf(nm, sizeof nm, "op%u", i);
        scopes[i] = name_of(b, nm);
    }
    for (size_t i = 0; i < n; i++) {
        ttm_event ev = seq[i].ev;
        ttm_apply_info ia, ib;
        uint32_t ma = ttm_registry_apply_ex(a, seq[i].pid, &ev, &ia);
        if (ev.kind == TTM_EV_ALLOC || ev.kind == TTM_EV_FREE) {
            ev.stack = stacks[i % 7];
            ev.scope = i % 5 == 0 ? 0 : scopes[i % 3];
        }
        uint32_t mb = ttm_registry_apply_ex(b, seq[i].pid, &ev, &ib);
        assert_int_equal(ma, mb);
        assert_memory_equal(&ia, &ib, sizeof ia);
    }
    ttm_totals ta = totals(a), tb = totals(b);
    assert_memory_equal(&ta, &tb, sizeof ta);
    size_t nd = ttm_registry_devices(a, NULL, 0);
    ttm_device_stats *da = calloc(nd, sizeof *da), *db = calloc(nd, sizeof *db);
    assert_int_equal(ttm_registry_devices(b, db, nd), nd);
    ttm_registry_devices(a, da, nd);
    assert_memory_equal(da, db, nd * sizeof *da);
    size_t no = ttm_registry_offenders(a, TTM_CLASS__COUNT, NULL, 0);
    assert_int_equal(ttm_registry_offenders(b, TTM_CLASS__COUNT, NULL, 0), no);
    ttm_offender *oa = calloc(no, sizeof *oa), *ob = calloc(no, sizeof *ob);
    ttm_registry_offenders(a, TTM_CLASS__COUNT, oa, no);
    ttm_registry_offenders(b, TTM_CLASS__COUNT, ob, no);
    unsigned with_sites = 0;
    for (size_t i = 0; i < no; i++) {
        assert_int_equal(oa[i].cls, ob[i].cls);
        assert_int_equal(oa[i].addr, ob[i].addr);
        assert_int_equal(oa[i].count, ob[i].count);
        assert_int_equal(oa[i].bytes, ob[i].bytes);
        assert_int_equal(oa[i].first_ts, ob[i].first_ts);
        assert_int_equal(oa[i].last_ts, ob[i].last_ts);
        assert_memory_equal(oa[i].pids, ob[i].pids, sizeof oa[i].pids);
        with_sites += ob[i].nsites > 0;
    }
    assert_true(with_sites > 0);
    size_t nl = ttm_registry_leaks(a, NULL, 0);
    assert_int_equal(ttm_registry_leaks(b, NULL, 0), nl);
    check_invariants(b);
    free(da);
    free(db);
    free(oa);
    free(ob);
    free(seq);
    ttm_registry_close(a);
    ttm_registry_close(b);
}

/* ---- persistence ------------------------------------------------------------------------ */

/* Every call-site query gives the same answer on a and b. */
static void assert_same_sites(const ttm_registry *a, const ttm_registry *b)
{
    ttm_stacks_stats sa, sb;
    ttm_stacks_stats_get(ttm_registry_stacks_c(a), &sa);
    ttm_stacks_stats_get(ttm_registry_stacks_c(b), &sb);
    assert_int_equal(sa.contexts, sb.contexts);
    assert_int_equal(sa.stacks, sb.stacks);
    assert_int_equal(sa.strings, sb.strings);
#define SAME(fn, type)                                                                         \
    do {                                                                                       \
        size_t na = fn(a, NULL, 0);                                                            \
        assert_int_equal(fn(b, NULL, 0), na);                                                  \
        type *xa = calloc(na + 1, sizeof *xa), *xb = calloc(na + 1, sizeof *xb);              \
        fn(a, xa, na);                                                                         \
        fn(b, xb, na);                                                                         \
        assert_memory_equal(xa, xb, na * sizeof *xa);                                          \
        free(xa);                                                                              \
        free(xb);                                                                              \
    } while (0)
    SAME(ttm_registry_leak_groups, ttm_leak_group);
    SAME(ttm_registry_live_sites, ttm_live_site);
    SAME(ttm_registry_phases, ttm_phase);
    SAME(ttm_registry_breakdown, ttm_breakdown);
    SAME(ttm_registry_leaks, ttm_leak);
#undef SAME
    size_t no = ttm_registry_offenders(a, TTM_CLASS__COUNT, NULL, 0);
    ttm_offender *oa = calloc(no + 1, sizeof *oa), *ob = calloc(no + 1, sizeof *ob);
    ttm_registry_offenders(a, TTM_CLASS__COUNT, oa, no);
    assert_int_equal(ttm_registry_offenders(b, TTM_CLASS__COUNT, ob, no), no);
    assert_memory_equal(oa, ob, no * sizeof *oa);
    free(oa);
    free(ob);
}

/* A registry with call sites everywhere: stacks and scopes on the sequence's events, more
 * sites than TTM_SITES_MAX on one offender, double frees after releases with contexts, leaks
 * of a process that exited, marks. */
static ttm_registry *built_with_sites(void)
{
    pev *seq = calloc(SEQ_MAX, sizeof *seq);
    assert_non_null(seq);
    size_t n = build_sequence(seq);
    ttm_registry *reg = open_reg(NULL);
    uint32_t stacks[9];
    for (unsigned i = 0; i < 9; i++)
        stacks[i] = util_stack(reg, 0xd000 + i);
    uint32_t sc = name_of(reg, "scope");
    for (size_t i = 0; i < n; i++) {
        ttm_event ev = seq[i].ev;
        if (ev.kind == TTM_EV_ALLOC || ev.kind == TTM_EV_FREE) {
            ev.stack = stacks[i % 9];
            ev.scope = i % 4 == 0 ? sc : 0;
        }
        ttm_registry_apply(reg, seq[i].pid, &ev);
    }
    free(seq);
    for (unsigned i = 0; i < 30; i++)
        free_at(reg, 1, 0xabc000, 8, 0, stacks[i % 9], 0, 50000 + i);
    return reg;
}

static void test_state_round_trip(void **state)
{
    (void)state;
    ttm_registry *a = built_with_sites();
    uint8_t *buf = NULL, *buf2 = NULL;
    size_t len = 0, len2 = 0;
    assert_int_equal(ttm_registry_save(a, NULL, 0, &buf, &len), TTM_OK);
    ttm_registry *b = NULL;
    const uint8_t *annex;
    size_t annex_len;
    char msg[200];
    assert_int_equal(ttm_registry_load(&b, NULL, buf, len, &annex, &annex_len, msg, sizeof msg),
                     TTM_OK);
    assert_same_sites(a, b);
    /* what was loaded saves to a state that loads to the same answers again */
    assert_int_equal(ttm_registry_save(b, NULL, 0, &buf2, &len2), TTM_OK);
    ttm_registry *c = NULL;
    assert_int_equal(ttm_registry_load(&c, NULL, buf2, len2, &annex, &annex_len, msg, sizeof msg),
                     TTM_OK);
    assert_same_sites(a, c);
    ttm_registry_close(c);
    /* and goes on the same way: the same events give the same sites on both */
    uint32_t sr = util_stack(a, 0xe1), sd = util_stack(a, 0xe2);
    assert_int_equal(util_stack(b, 0xe1), sr);
    assert_int_equal(util_stack(b, 0xe2), sd);
    for (ttm_registry *r = a; r != NULL; r = r == a ? b : NULL) {
        assert_int_equal(alloc_at(r, 1, 0xfff000, 64, 4242, sr, 0, 60000), B(ALLOC_OK));
        assert_int_equal(free_at(r, 1, 0xfff000, 64, 4242, sr, 0, 60001), B(FREE_OK));
        assert_int_equal(free_at(r, 1, 0xfff000, 64, 4242, sd, 0, 60002), B(DOUBLE_FREE));
        for (uint32_t pid = 1; pid <= 3; pid++)
            ttm_registry_process_exit(r, pid, 70000);
    }
    assert_same_sites(a, b);
    ttm_offender o = offender_at(b, TTM_CLASS_DOUBLE_FREE, 0, 0xfff000);
    assert_int_equal(o.sites[0].release_stack, sr);
    ttm__free(buf);
    ttm__free(buf2);
    ttm_registry_close(a);
    ttm_registry_close(b);
}

/* A loader with smaller bounds folds what does not fit, as the tables do when they fill: every
 * leak still in one group, every class still in one row. */
static void test_state_smaller_bounds(void **state)
{
    (void)state;
    ttm_registry *a = built_with_sites();
    alloc_at(a, 1, 0x7777000, 64, 0, 0, 0, 79999); /* a leak without a stack: group 0 */
    for (uint32_t pid = 1; pid <= 3; pid++)
        ttm_registry_process_exit(a, pid, 80000);
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(ttm_registry_save(a, NULL, 0, &buf, &len), TTM_OK);
    ttm_registry_config cfg = {.max_leak_groups = 2, .max_breakdown = 1, .max_phases = 1};
    ttm_registry *b = NULL;
    const uint8_t *annex;
    size_t annex_len;
    char msg[200];
    assert_int_equal(ttm_registry_load(&b, &cfg, buf, len, &annex, &annex_len, msg, sizeof msg),
                     TTM_OK);
    ttm_leak_group ga[64], gb[64];
    size_t na = ttm_registry_leak_groups(a, ga, 64), nb = ttm_registry_leak_groups(b, gb, 64);
    assert_true(na > 3);
    assert_int_equal(nb, 3); /* two groups and the group of stack 0 */
    uint64_t ca = 0, cb = 0, ba = 0, bb = 0;
    for (size_t i = 0; i < na; i++) {
        ca += ga[i].count;
        ba += ga[i].bytes;
    }
    for (size_t i = 0; i < nb; i++) {
        cb += gb[i].count;
        bb += gb[i].bytes;
    }
    assert_int_equal(ca, cb);
    assert_int_equal(ba, bb);
    assert_true(totals(b).leak_groups_folded > totals(a).leak_groups_folded);
    ttm_breakdown ra[64], rb[64];
    size_t nra = ttm_registry_breakdown(a, ra, 64), nrb = ttm_registry_breakdown(b, rb, 64);
    assert_true(nra > 1);
    assert_true(nrb <= 3); /* one row, and the folded row of each kind */
    for (unsigned c = 0; c < TTM_CLASS__COUNT; c++) {
        uint64_t sa = 0, sb = 0;
        for (size_t i = 0; i < nra; i++)
            sa += ra[i].class_count[c];
        for (size_t i = 0; i < nrb; i++)
            sb += rb[i].class_count[c];
        assert_int_equal(sa, sb);
    }
    assert_int_equal(ttm_registry_phases(b, NULL, 0), 1);
    assert_int_equal(totals(b).phases_dropped,
                     totals(a).phases_dropped + ttm_registry_phases(a, NULL, 0) - 1);
    ttm__free(buf);
    ttm_registry_close(a);
    ttm_registry_close(b);
}

/* A state whose call-site data refer to ids its table does not hold is refused. */
static void test_state_bad_ids(void **state)
{
    (void)state;
    ttm_registry *a = open_reg(NULL);
    uint32_t s1 = util_stack(a, 0xf1);
    alloc_at(a, 1, A, 64, 0, s1, 0, 1);
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(ttm_registry_save(a, NULL, 0, &buf, &len), TTM_OK);
    /* find the record's context word (1: the only context) after the call-site table, and
     * make it 2 */
    ttm_stacks_stats ss;
    ttm_stacks_stats_get(ttm_registry_stacks_c(a), &ss);
    assert_int_equal(ss.contexts, 1);
    size_t found = 0, at = 0;
    for (size_t off = 64; off + 8 <= len; off += 8) {
        /* the record: addr, size 64, obj 0, ts 1, pid<<32|refs, dm, ctx */
        if (ttm__le64(buf + off) == A && ttm__le64(buf + off + 8) == 64 &&
            ttm__le64(buf + off + 24) == 1 && ttm__le64(buf + off + 48) == 1) {
            found++;
            at = off + 48;
        }
    }
    assert_int_equal(found, 1);
    ttm__put_le64(buf + at, 2);
    ttm__put_le64(buf + 32, ttm__registry_state_checksum(buf + 40, len - 40));
    ttm_registry *b = NULL;
    const uint8_t *annex;
    size_t annex_len;
    char msg[200] = "";
    assert_int_equal(ttm_registry_load(&b, NULL, buf, len, &annex, &annex_len, msg, sizeof msg),
                     TTM_EPROTO);
    assert_null(b);
    assert_non_null(strstr(msg, "context"));
    ttm__free(buf);
    ttm_registry_close(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_no_context, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sites_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sites_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_double_free_both_stacks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missed_free_site, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_leak_groups, setup, teardown),
        cmocka_unit_test(test_leak_groups_bounded),
        cmocka_unit_test_setup_teardown(test_live_sites, setup, teardown),
        cmocka_unit_test_setup_teardown(test_phases, setup, teardown),
        cmocka_unit_test(test_phases_bounded),
        cmocka_unit_test_setup_teardown(test_breakdown, setup, teardown),
        cmocka_unit_test(test_breakdown_bounded),
        cmocka_unit_test(test_verdicts_unchanged),
        cmocka_unit_test(test_state_round_trip),
        cmocka_unit_test(test_state_smaller_bounds),
        cmocka_unit_test(test_state_bad_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
