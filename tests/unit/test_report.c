/*
 * test_report.c — the report's call sites built from a registry (core/report.c): the sites of
 * findings with both frees of a double free, leaks and live buffers with their contexts, leak
 * groups, live sites, phases, breakdown, and every stack, module and name they refer to (and
 * only those), frames resolved as report.h says; the STACKS section on the wire (the packed
 * rows put back; without it, the other sections as an older peer sends them; a carrier naming
 * a record that is not there refused); the JSON keys; allocation failure at every N.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "registry_util.h"
#include "report_util.h"
#include "ttmem/ttmem.h"

#define A4 0x400000ull

typedef struct fixture {
    ttm_registry *reg;
    uint32_t mod, s_leak, s_free1, s_free2, s_live, scope, phase, unused_name;
} fixture;

static uint32_t frame(ttm_stacks *s, ttm_frame f)
{
    uint32_t id = ttm_stacks_frame(s, &f);
    assert_int_not_equal(id, 0);
    return id;
}

static uint32_t str(ttm_stacks *s, const char *text)
{
    uint32_t id = ttm_stacks_string(s, text, strlen(text));
    assert_int_not_equal(id, 0);
    return id;
}

static void apply(ttm_registry *reg, uint32_t pid, uint8_t kind, uint64_t addr, uint32_t stack,
                  uint32_t scope, uint64_t ts)
{
    /* a double free is of an object */
    ttm_event ev = util_event(kind, 0, DRAM, addr, 4096, addr == A2 ? 42 : 0, 0, ts);
    ev.stack = stack;
    ev.scope = scope;
    ttm_registry_apply(reg, pid, &ev);
}

/* pid 1: marks "warmup", allocates A (leaked at its exit) in scope "matmul", allocates A2 and
 * frees it twice from two other stacks, frees A3 never allocated; pid 2 (alive) holds A4. */
static void make(fixture *f)
{
    memset(f, 0, sizeof *f);
    assert_int_equal(ttm_registry_open(&f->reg, NULL), TTM_OK);
    ttm_stacks *s = ttm_registry_stacks(f->reg);
    static const uint8_t bid[4] = {0xab, 0x12, 0x00, 0xff};
    f->mod = ttm_stacks_module(s, bid, sizeof bid, "/tmp/t", 6);
    assert_int_not_equal(f->mod, 0);
    f->unused_name = str(s, "never referred to");
    uint32_t n1 =
        frame(s, (ttm_frame){.kind = TTM_FRAME_NATIVE, .module = f->mod, .offset = 0x1139});
    uint32_t n2 = frame(s, (ttm_frame){.kind = TTM_FRAME_NATIVE, .offset = 0x7f0000001000});
    uint32_t py = frame(s, (ttm_frame){.kind = TTM_FRAME_PYTHON,
                                       .function = str(s, "main"),
                                       .file = str(s, "t.py"),
                                       .line = 7});
    uint32_t tx = frame(s, (ttm_frame){.kind = TTM_FRAME_TEXT,
                                       .module = str(s, "libx.so"),
                                       .function = str(s, "free_twice()")});
    f->s_leak = ttm_stacks_stack(s, (uint32_t[]){n1, py}, 2);
    f->s_free1 = ttm_stacks_stack(s, (uint32_t[]){n2}, 1);
    f->s_free2 = ttm_stacks_stack(s, (uint32_t[]){tx, n1}, 2);
    f->s_live = ttm_stacks_stack(s, (uint32_t[]){n2, n1}, 2);
    f->scope = str(s, "matmul");

    ttm_event mark = util_event(TTM_EV_MARK, 0, 0, 0, 0, 0, 0, 1);
    snprintf(mark.mark, sizeof mark.mark, "warmup");
    ttm_registry_apply(f->reg, 1, &mark);
    f->phase = ttm_stacks_string(s, "warmup", 6); /* the mark interned it */
    apply(f->reg, 1, TTM_EV_ALLOC, A, f->s_leak, f->scope, 2);
    apply(f->reg, 1, TTM_EV_ALLOC, A2, f->s_leak, 0, 3);
    apply(f->reg, 1, TTM_EV_FREE, A2, f->s_free1, 0, 4);
    apply(f->reg, 1, TTM_EV_FREE, A2, f->s_free2, 0, 5);
    apply(f->reg, 1, TTM_EV_FREE, A3, f->s_free2, f->scope, 6);
    apply(f->reg, 2, TTM_EV_ALLOC, A4, f->s_live, 0, 7);
    ttm_registry_process_exit(f->reg, 1, 8);
}

static const ttm_report_stack *stack_in(const ttm_report *r, uint32_t id)
{
    for (size_t i = 0; i < r->nstacks; i++)
        if (r->stacks[i].id == id)
            return &r->stacks[i];
    return NULL;
}

static const char *string_in(const ttm_report *r, uint32_t id)
{
    for (size_t i = 0; i < r->nstrings; i++)
        if (r->strings[i].id == id)
            return r->strings[i].text;
    return NULL;
}

static const ttm_report_options with_stacks_opt = {.sections = TTM_REPORT_SECTIONS |
                                                               TTM_SNAP_BIT(TTM_SNAP_SEC_STACKS)};

/* The fixture's registry (in f) and its report with the STACKS section. */
static ttm_report *built(fixture *f)
{
    make(f);
    ttm_report *r = NULL;
    assert_int_equal(ttm_report_build(f->reg, &with_stacks_opt, &r), TTM_OK);
    return r;
}

/* What the report of the fixture says, wherever it came from (built or decoded). */
static void check_report(const fixture *f, const ttm_report *r)
{
    const ttm_report_class *dbl = &r->classes[TTM_CLASS_DOUBLE_FREE];
    assert_int_equal(dbl->noffenders, 1);
    const ttm_offender *o = &dbl->offenders[0];
    assert_int_equal(o->nsites, 1);
    assert_int_equal(o->sites[0].stack, f->s_free2);         /* the second free */
    assert_int_equal(o->sites[0].release_stack, f->s_free1); /* the free that released it */
    assert_int_equal(o->sites[0].phase, f->phase);
    assert_int_equal(o->sites[0].count, 1);
    assert_int_equal(o->sites_other, 0);
    const ttm_report_class *unk = &r->classes[TTM_CLASS_UNKNOWN_FREE];
    assert_int_equal(unk->noffenders, 1);
    assert_int_equal(unk->offenders[0].sites[0].stack, f->s_free2);
    assert_int_equal(unk->offenders[0].sites[0].scope, f->scope);

    assert_int_equal(r->nleaks, 1);
    assert_int_equal(r->leaks[0].stack, f->s_leak);
    assert_int_equal(r->leaks[0].scope, f->scope);
    assert_int_equal(r->leaks[0].phase, f->phase);
    assert_int_equal(r->nleak_groups, 1);
    assert_int_equal(r->leak_groups[0].stack, f->s_leak);
    assert_int_equal(r->leak_groups[0].count, 1);
    assert_int_equal(r->leak_groups[0].bytes, 4096);
    assert_int_equal(r->nlive_sites, 1);
    assert_int_equal(r->live_sites[0].stack, f->s_live);
    assert_int_equal(r->nphases, 1);
    assert_int_equal(r->phases[0].name, f->phase);
    assert_int_equal(r->phases[0].pid, 1);
    assert_true(r->nbreakdown >= 2); /* the phase and the scope */
    assert_int_equal(r->stack_stats.stacks, 4);
    assert_int_equal(r->stack_stats.modules, 1);

    /* exactly the stacks referred to, by id */
    assert_int_equal(r->nstacks, 4);
    for (size_t i = 1; i < r->nstacks; i++)
        assert_true(r->stacks[i - 1].id < r->stacks[i].id);
    const ttm_report_stack *st = stack_in(r, f->s_leak);
    assert_non_null(st);
    assert_int_equal(st->nframes, 2);
    assert_int_equal(st->frames[0].kind, TTM_FRAME_NATIVE);
    assert_int_equal(st->frames[0].module, f->mod);
    assert_int_equal(st->frames[0].offset, 0x1139);
    assert_null(st->frames[0].function);
    assert_null(st->frames[0].file);
    assert_int_equal(st->frames[1].kind, TTM_FRAME_PYTHON);
    assert_string_equal(st->frames[1].function, "main");
    assert_string_equal(st->frames[1].file, "t.py");
    assert_int_equal(st->frames[1].line, 7);
    st = stack_in(r, f->s_free2);
    assert_non_null(st);
    assert_int_equal(st->frames[0].kind, TTM_FRAME_TEXT);
    assert_string_equal(st->frames[0].function, "free_twice()");
    assert_string_equal(st->frames[0].file, "libx.so");
    st = stack_in(r, f->s_free1);
    assert_non_null(st);
    assert_int_equal(st->frames[0].module, 0);
    assert_int_equal(st->frames[0].offset, 0x7f0000001000);

    /* the one module, the two names (not the strings only frames use) */
    assert_int_equal(r->nmodules, 1);
    assert_int_equal(r->modules[0].id, f->mod);
    assert_string_equal(r->modules[0].path, "/tmp/t");
    assert_string_equal(r->modules[0].build_id, "ab1200ff");
    assert_int_equal(r->nstrings, 2);
    assert_string_equal(string_in(r, f->scope), "matmul");
    assert_string_equal(string_in(r, f->phase), "warmup");
    assert_null(string_in(r, f->unused_name));
}

static void test_build(void **state)
{
    (void)state;
    fixture f;
    ttm_report *r = built(&f);
    assert_true(r->sections & TTM_SNAP_BIT(TTM_SNAP_SEC_STACKS));
    check_report(&f, r);
    /* resolving again gives the same lists (the daemon does, after adding live buffers) */
    assert_int_equal(ttm_report_resolve(r, ttm_registry_stacks_c(f.reg)), TTM_OK);
    check_report(&f, r);
    ttm_report_free(r);

    /* without STACKS: no lists, but the registry's sites are on the records all the same */
    assert_int_equal(ttm_report_build(f.reg, NULL, &r), TTM_OK);
    assert_false(r->sections & TTM_SNAP_BIT(TTM_SNAP_SEC_STACKS));
    assert_int_equal(r->nstacks + r->nleak_groups + r->nphases, 0);
    assert_int_equal(r->leaks[0].stack, f.s_leak);
    ttm_report_free(r);
    ttm_registry_close(f.reg);
}

static void test_wire(void **state)
{
    (void)state;
    fixture f;
    ttm_report *r = built(&f);
    ttm_bytes b = {0};
    assert_int_equal(ttm_report_encode(r, &b), TTM_OK);
    ttm_report back;
    char msg[200];
    assert_int_equal(decode_frame(&b, &back, msg, sizeof msg), TTM_OK);
    check_report(&f, &back);
    char where[160];
    assert_true(ttm__schema_equal(&ttm_rec_report, r, &back, 0, where, sizeof where));
    assert_int_equal(back.packed.nleak_contexts, 0); /* put back and freed */
    ttm_report_clear(&back);
    ttm__bytes_free(&b);

    /* without STACKS the other sections are what an older peer sends: no call sites */
    r->sections &= ~TTM_SNAP_BIT(TTM_SNAP_SEC_STACKS);
    assert_int_equal(ttm_report_encode(r, &b), TTM_OK);
    assert_int_equal(decode_frame(&b, &back, msg, sizeof msg), TTM_OK);
    assert_int_equal(back.classes[TTM_CLASS_DOUBLE_FREE].offenders[0].nsites, 0);
    assert_int_equal(back.leaks[0].stack, 0);
    assert_int_equal(back.leaks[0].addr, A);
    assert_int_equal(back.sections, r->sections);
    for (unsigned id = 1; id < 32; id++)
        if (r->sections & TTM_SNAP_BIT(id))
            assert_true(ttm__schema_equal(&ttm_rec_report, r, &back, id, where, sizeof where));
    ttm_report_clear(&back);
    ttm__bytes_free(&b);

    /* a carrier naming a leak that is not there */
    ttm_report w = {.sections =
                        TTM_SNAP_BIT(TTM_SNAP_SEC_FINDINGS) | TTM_SNAP_BIT(TTM_SNAP_SEC_STACKS)};
    ttm_report_context bad = {.index = 5, .stack = 1};
    w.packed.nleak_contexts = 1;
    w.packed.leak_contexts = &bad;
    assert_int_equal(ttm__snap_encode_sections(&ttm_rec_report, &w, w.sections, &b), TTM_OK);
    assert_int_equal(decode_frame(&b, &back, msg, sizeof msg), TTM_EPROTO);
    assert_non_null(strstr(msg, "leak 5"));
    ttm__bytes_free(&b);
    ttm_report_free(r);
    ttm_registry_close(f.reg);
}

static void test_json(void **state)
{
    (void)state;
    fixture f;
    ttm_report *r = built(&f);
    char *text = json_text(&ttm_rec_report, r, false);
    char want[256];
    snprintf(want, sizeof want,
             "\"sites\":[{\"stack\":%u,\"scope\":0,\"phase\":%u,\"release_stack\":%u,"
             "\"count\":1,\"bytes\":4096}]",
             f.s_free2, f.phase, f.s_free1);
    assert_non_null(strstr(text, want));
    snprintf(want, sizeof want,
             "{\"kind\":\"native\",\"module\":%u,\"offset\":\"0x1139\",\"function\":null,"
             "\"file\":null,\"line\":0}",
             f.mod);
    assert_non_null(strstr(text, want));
    assert_non_null(strstr(text, "{\"kind\":\"python\",\"module\":0,\"offset\":\"0x0\","
                                 "\"function\":\"main\",\"file\":\"t.py\",\"line\":7}"));
    snprintf(want, sizeof want,
             "\"modules\":[{\"id\":%u,\"path\":\"/tmp/t\",\"build_id\":\"ab1200ff\"}]", f.mod);
    assert_non_null(strstr(text, want));
    snprintf(want, sizeof want, "{\"id\":%u,\"text\":\"matmul\"}", f.scope);
    assert_non_null(strstr(text, want));
    assert_null(strstr(text, "\"packed\""));
    free(text);
    ttm_report_free(r);
    ttm_registry_close(f.reg);
}

/* Allocation failure at every N while building with STACKS: TTM_ENOMEM, nothing left. */
static void test_alloc_failure_every_n(void **state)
{
    (void)state;
    fixture f;
    make(&f);
    unsigned long n;
    for (n = 1;; n++) {
        ttm_report *r = NULL;
        ttm__alloc_fail_at(n);
        int err = ttm_report_build(f.reg, &with_stacks_opt, &r);
        unsigned long made = ttm__alloc_fail_at(0);
        if (err == TTM_OK) {
            assert_true(made < n);
            check_report(&f, r);
            ttm_report_free(r);
            break;
        }
        assert_int_equal(err, TTM_ENOMEM);
        assert_null(r);
    }
    assert_true(n > 10);
    ttm_registry_close(f.reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build),
        cmocka_unit_test(test_wire),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_alloc_failure_every_n),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
