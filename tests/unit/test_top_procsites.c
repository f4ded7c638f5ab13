/*
 * test_top_procsites.c — the per-process allocation sites `ttmem top`'s process view shows:
 * ttm_registry_proc_sites() (one walk: each process's top sites by bytes, with their bytes by
 * memtype, views not counted), the report's PROCSITES section built from it with its stacks in
 * STACKS, its wire round trip, and a snapshot without the section (an older daemon's) decoding
 * with none.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <cmocka.h>

#include "common/alloc.h"
#include "common/bytes.h"
#include "core/report.h"
#include "registry_util.h"

static void ev(ttm_registry *reg, uint32_t pid, uint8_t kind, unsigned memtype, uint64_t addr,
               uint64_t size, unsigned flags, uint32_t stack, uint64_t ts)
{
    ttm_event e = util_event(kind, 0, memtype, addr, size, 0, flags, ts);
    e.stack = stack;
    ttm_registry_apply(reg, pid, &e);
}

/* pid 1: stack s1 3 x 100 B DRAM + 1 x 50 B L1, stack s2 1 x 1000 B, 2 x 7 B without a stack;
 * pid 2: stack s1 5 x 10 B; a view and freed buffers not counted. */
static void fill(ttm_registry *reg, uint32_t *s1, uint32_t *s2)
{
    *s1 = util_stack(reg, 0x91);
    *s2 = util_stack(reg, 0x92);
    uint64_t ts = 1;
    for (unsigned i = 0; i < 3; i++)
        ev(reg, 1, TTM_EV_ALLOC, DRAM, A + 0x100ull * i, 100, 0, *s1, ts++);
    ev(reg, 1, TTM_EV_ALLOC, L1, A + 0x1000, 50, 0, *s1, ts++);
    ev(reg, 1, TTM_EV_ALLOC, DRAM, A2, 1000, 0, *s2, ts++);
    ev(reg, 1, TTM_EV_ALLOC, DRAM, A3, 7, 0, 0, ts++);
    ev(reg, 1, TTM_EV_ALLOC, DRAM, A3 + 0x100, 7, 0, 0, ts++);
    ev(reg, 1, TTM_EV_ALLOC, DRAM, A, 0, VIEW, *s2, ts++); /* a view: not counted */
    for (unsigned i = 0; i < 5; i++)
        ev(reg, 2, TTM_EV_ALLOC, DRAM, A + 0x10000 + 0x100ull * i, 10, 0, *s1, ts++);
    ev(reg, 2, TTM_EV_ALLOC, DRAM, A3 + 0x10000, 99, 0, *s2, ts++);
    ev(reg, 2, TTM_EV_FREE, DRAM, A3 + 0x10000, 99, 0, 0, ts++); /* freed: gone */
}

static void test_proc_sites(void **state)
{
    ttm_registry *reg = *state;
    uint32_t s1, s2;
    assert_int_equal(ttm_registry_proc_sites(reg, 10, NULL, 0), 0); /* nothing live */
    fill(reg, &s1, &s2);
    ttm_proc_site ps[8];
    memset(ps, 0xee, sizeof ps);
    assert_int_equal(ttm_registry_proc_sites(reg, 10, ps, 8), 4);
    /* by pid, then bytes descending */
    assert_int_equal(ps[0].pid, 1);
    assert_int_equal(ps[0].stack, s2);
    assert_int_equal(ps[0].count, 1);
    assert_int_equal(ps[0].bytes, 1000);
    assert_int_equal(ps[1].pid, 1);
    assert_int_equal(ps[1].stack, s1);
    assert_int_equal(ps[1].count, 4);
    assert_int_equal(ps[1].bytes, 350);
    assert_int_equal(ps[1].mem_bytes[TTM_MEM_DRAM], 300);
    assert_int_equal(ps[1].mem_bytes[TTM_MEM_L1], 50);
    assert_int_equal(ps[1].mem_bytes[TTM_MEM_TRACE], 0);
    assert_int_equal(ps[2].pid, 1);
    assert_int_equal(ps[2].stack, 0);
    assert_int_equal(ps[2].count, 2);
    assert_int_equal(ps[2].bytes, 14);
    assert_int_equal(ps[3].pid, 2);
    assert_int_equal(ps[3].stack, s1);
    assert_int_equal(ps[3].count, 5);
    assert_int_equal(ps[3].bytes, 50);
    /* every process's bytes by memtype sum to its bytes */
    for (unsigned i = 0; i < 4; i++) {
        uint64_t sum = 0;
        for (unsigned t = 0; t < TTM_MEMTYPE_COUNT; t++)
            sum += ps[i].mem_bytes[t];
        assert_int_equal(sum, ps[i].bytes);
    }
    /* top 1: each process's largest site only; cap cuts what is written, not the count */
    assert_int_equal(ttm_registry_proc_sites(reg, 1, ps, 8), 2);
    assert_int_equal(ps[0].stack, s2);
    assert_int_equal(ps[1].pid, 2);
    memset(ps, 0, sizeof ps);
    assert_int_equal(ttm_registry_proc_sites(reg, 10, ps, 2), 4);
    assert_int_equal(ps[1].stack, s1);
    assert_int_equal(ps[2].pid, 0); /* not written */
    assert_int_equal(ttm_registry_proc_sites(reg, 0, NULL, 0), 0);
}

/* The report: PROCSITES when asked (only then), its stacks resolved in STACKS, the wire. */
static void test_report_section(void **state)
{
    ttm_registry *reg = *state;
    uint32_t s1, s2;
    fill(reg, &s1, &s2);
    ttm_report r;
    ttm_report_options plain = {.sections = TTM_REPORT_SECTIONS};
    assert_int_equal(ttm_report_fill(reg, &plain, &r), TTM_OK);
    assert_int_equal(r.nproc_sites, 0);
    assert_false(r.sections & TTM_SNAP_BIT(TTM_SNAP_SEC_PROCSITES));
    ttm_report_clear(&r);

    ttm_report_options opt = {.sections = TTM_SNAP_BIT(TTM_SNAP_SEC_PROCS) |
                                          TTM_SNAP_BIT(TTM_SNAP_SEC_PROCSITES) |
                                          TTM_SNAP_BIT(TTM_SNAP_SEC_STACKS),
                              .top = 2};
    assert_int_equal(ttm_report_fill(reg, &opt, &r), TTM_OK);
    assert_int_equal(r.nproc_sites, 3); /* pid 1's two largest, pid 2's one */
    assert_int_equal(r.proc_sites[0].stack, s2);
    assert_int_equal(r.proc_sites[1].stack, s1);
    assert_int_equal(r.proc_sites[2].pid, 2);
    bool have1 = false, have2 = false;
    for (size_t i = 0; i < r.nstacks; i++) {
        have1 |= r.stacks[i].id == s1;
        have2 |= r.stacks[i].id == s2;
    }
    assert_true(have1 && have2);

    ttm_bytes b = {0};
    assert_int_equal(ttm_report_encode(&r, &b), TTM_OK);
    ttm_report back;
    char msg[200] = "";
    const uint8_t *body = b.data + TTM_SNAP_HDR_SIZE;
    size_t blen = b.len - TTM_SNAP_HDR_SIZE;
    int err = ttm_report_decode(body, blen, &back, msg, sizeof msg);
    if (err != TTM_OK)
        fail_msg("decode: %d %s", err, msg);
    assert_true(back.sections & TTM_SNAP_BIT(TTM_SNAP_SEC_PROCSITES));
    assert_int_equal(back.nproc_sites, r.nproc_sites);
    assert_memory_equal(back.proc_sites, r.proc_sites, r.nproc_sites * sizeof *r.proc_sites);
    ttm_report_clear(&back);
    ttm__bytes_free(&b);

    /* the same report sent without the section (as an older daemon answers): none decoded */
    r.sections &= ~TTM_SNAP_BIT(TTM_SNAP_SEC_PROCSITES);
    assert_int_equal(ttm_report_encode(&r, &b), TTM_OK);
    assert_int_equal(ttm_report_decode(b.data + TTM_SNAP_HDR_SIZE, b.len - TTM_SNAP_HDR_SIZE, &back,
                                       msg, sizeof msg),
                     TTM_OK);
    assert_false(back.sections & TTM_SNAP_BIT(TTM_SNAP_SEC_PROCSITES));
    assert_int_equal(back.nproc_sites, 0);
    assert_null(back.proc_sites);
    ttm_report_clear(&back);
    ttm__bytes_free(&b);
    ttm_report_clear(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_proc_sites, setup, teardown),
        cmocka_unit_test_setup_teardown(test_report_section, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
