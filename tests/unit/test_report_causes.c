/*
 * test_report_causes.c — the causes of the unmatched frees in the report (report.h "causes",
 * core/cause_text.c, src/cli/render.c): the words of each cause from its figures (ambiguity and
 * provisional frees said), the list's order and shares, the CAUSES section on the wire and in
 * JSON, the join of several runs (sums, worst instances, devices renumbered), the text report's
 * "Causes" section above the offender table with decimal addresses shown beside the hex; and
 * the same from a registry fed a hand-built address-only stream (a mesh burst, a storm, a
 * double release, pre-tracking frees), built, encoded, decoded and rendered.
 *
 * render.c and the CLI's call-site helpers live in the ttmem program, so their sources are
 * compiled into this test (as test_top_layout.c does with top's).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/render.c"
#include "cli/sites.c"
#include "common/alloc.h"
#include "core/report_merge.h"
#include "registry_util.h"
#include "report_util.h"

#define STORM_ADDR 0x2000000ull /* 33554432 */

/* ---- hand-built figures --------------------------------------------------------------------- */

static ttm_cause_stats mesh_stats(void)
{
    ttm_cause_stats s = {.cause = TTM_CAUSE_MESH_MULTIPLICITY, .frees = 3504, .addrs = 438,
                         .groups = 438, .mesh_devices = 8, .frees_per_group = 8,
                         .first_ts = 100, .last_ts = 900, .npids = 1, .pids = {2604}};
    s.ninstances = 1;
    s.instances[0] = (ttm_cause_instance){.device = 3, .memtype = TTM_MEM_DRAM, .addr = 0x4000,
                                          .frees = 8, .npids = 1, .pids = {2604}};
    return s;
}

static ttm_cause_stats storm_stats(void)
{
    ttm_cause_stats s = {.cause = TTM_CAUSE_EXCESS_STORM, .frees = 1100, .addrs = 1,
                         .groups = 1, .first_ts = 50, .last_ts = 2000, .npids = 1,
                         .pids = {2604}};
    s.ninstances = 1;
    s.instances[0] = (ttm_cause_instance){
        .device = 1, .memtype = TTM_MEM_DRAM, .addr_dec = true, .addr = STORM_ADDR,
        .frees = 1100, .allocs = 1, .first_ts = 50, .last_ts = 2000, .period_ns = 2100000,
        .period_events = 42, .regular = true, .npids = 1, .pids = {2604}};
    return s;
}

/* Every cause: mesh 3,504, storm 1,100, double release 12 (all ambiguous, 3 provisional),
 * none pre-tracking, unexplained with 5 duplicate allocations only. */
static void all_stats(ttm_cause_stats all[TTM_CAUSE__COUNT])
{
    memset(all, 0, sizeof(ttm_cause_stats) * TTM_CAUSE__COUNT);
    for (unsigned c = 0; c < TTM_CAUSE__COUNT; c++)
        all[c].cause = (ttm_cause)c;
    all[TTM_CAUSE_MESH_MULTIPLICITY] = mesh_stats();
    all[TTM_CAUSE_EXCESS_STORM] = storm_stats();
    all[TTM_CAUSE_DOUBLE_RELEASE] = (ttm_cause_stats){
        .cause = TTM_CAUSE_DOUBLE_RELEASE, .frees = 12, .groups = 12, .addrs = 12,
        .ambiguous = 12, .pending = 3, .npids = 2, .pids = {1000, 1001}};
    all[TTM_CAUSE_UNEXPLAINED].allocs = 5;
    all[TTM_CAUSE_UNEXPLAINED].addrs = 2;
}

static const ttm_causes_info some_info = {.enabled = true, .attributed = 4621, .pending = 3,
                                          .window_events = 48, .devices = 8, .keys = 2433,
                                          .keys_max = 65536, .dropped = 7};

/* A report holding only the CAUSES section (and TOTALS, as every report does). */
static void causes_report(ttm_report *r)
{
    memset(r, 0, sizeof *r);
    r->schema_version = TTM_REPORT_SCHEMA_VERSION;
    r->sections = TTM_SNAP_BIT(TTM_SNAP_SEC_TOTALS) | TTM_SNAP_BIT(TTM_SNAP_SEC_CAUSES);
    ttm_cause_stats all[TTM_CAUSE__COUNT];
    all_stats(all);
    assert_int_equal(ttm__report_causes_set(r, all, &some_info), TTM_OK);
}

/* The text report of r in a string of its own (the caller frees it). A copy of the stream's
 * buffer: gcc 12's -Wdangling-pointer at -O2 takes a pointer into the buffer whose address
 * open_memstream() was given for a pointer to that local variable. */
static char *render_text(const ttm_report *r)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    assert_non_null(out);
    ttm_render_text(out, r, NULL);
    fclose(out);
    char *text = strdup(buf);
    assert_non_null(text);
    free(buf);
    return text;
}

/* ---- words ----------------------------------------------------------------------------------- */

static void test_words(void **state)
{
    (void)state;
    char buf[512];
    ttm_cause_stats s = mesh_stats();
    assert_string_equal(ttm_cause_describe(&s, buf, sizeof buf),
                        "mesh multiplicity — 438 MeshBuffers on 8 devices, 8 frees each");
    s = storm_stats();
    assert_string_equal(ttm_cause_describe(&s, buf, sizeof buf),
                        "excess storm on device 1 DRAM 0x2000000 (33554432), one extra free "
                        "every ~2.1 ms over 1,100 frees (allocated once), pid 2604");
    /* irregular, two storm addresses, the memtype never known, the address in hex */
    s.instances[0].regular = false;
    s.instances[0].addr_dec = false;
    s.instances[0].memtype = TTM_MEM_ANY;
    s.groups = 2;
    s.instances[0].npids = 0;
    assert_string_equal(ttm_cause_describe(&s, buf, sizeof buf),
                        "excess storm on 2 addresses, the worst device 1 0x2000000, extra frees "
                        "at irregular intervals (~2.1 ms apart on average) over 1,100 frees "
                        "(allocated once)");
    s.instances[0].period_ns = 0; /* no times at all */
    assert_string_equal(ttm_cause_describe(&s, buf, sizeof buf),
                        "excess storm on 2 addresses, the worst device 1 0x2000000, extra frees "
                        "at irregular intervals over 1,100 frees (allocated once)");
    s.instances[0].regular = true;
    assert_string_equal(ttm_cause_describe(&s, buf, sizeof buf),
                        "excess storm on 2 addresses, the worst device 1 0x2000000, one extra "
                        "free every ~42 events over 1,100 frees (allocated once)");
    s = (ttm_cause_stats){.cause = TTM_CAUSE_DOUBLE_RELEASE, .frees = 12, .groups = 12,
                          .ambiguous = 12, .pending = 3, .npids = 2, .pids = {1000, 1001}};
    assert_string_equal(ttm_cause_describe(&s, buf, sizeof buf),
                        "double release — 12 releases freed again by the same process right "
                        "after, before anything was allocated there, pids 1000,1001; 12 of them "
                        "could also be mesh multiplicity (a one-device mesh); 3 still "
                        "provisional");
    s = (ttm_cause_stats){.cause = TTM_CAUSE_PRE_TRACKING, .frees = 3066, .addrs = 1,
                          .npids = TTM_CAUSE_PIDS, .pids = {1, 2, 3, 4}, .more_pids = true};
    assert_string_equal(ttm_cause_describe(&s, buf, sizeof buf),
                        "pre-tracking — frees of 1 address never allocated since tracking "
                        "began, in no mesh burst, pids 1,2,3,4,…");
    s = (ttm_cause_stats){.cause = TTM_CAUSE_UNEXPLAINED, .frees = 2, .allocs = 1, .addrs = 3};
    assert_string_equal(ttm_cause_describe(&s, buf, sizeof buf),
                        "unexplained — on 3 addresses, none of the causes fits; 1 duplicate "
                        "allocation outside any mesh burst");
    /* a cause number a newer peer may send, and a buffer too small: cut, still terminated */
    s = (ttm_cause_stats){.cause = (ttm_cause)77};
    assert_string_equal(ttm_cause_describe(&s, buf, sizeof buf), "cause 77");
    s = mesh_stats();
    assert_string_equal(ttm_cause_describe(&s, buf, 12), "mesh multip");

    /* the count that opens a line */
    ttm_report_cause c = {.stats = mesh_stats(), .share_pct = 76.1};
    assert_string_equal(ttm_cause_count_text(&c, 4604, true, buf, sizeof buf),
                        "3,504 of 4,604 unmatched frees (76%)");
    c.stats.frees = 1100;
    c.share_pct = 23.9;
    assert_string_equal(ttm_cause_count_text(&c, 4604, false, buf, sizeof buf), "1,100 (24%)");
    c.stats.frees = 1;
    c.share_pct = 0.02;
    assert_string_equal(ttm_cause_count_text(&c, 4604, false, buf, sizeof buf), "1 (<1%)");
    c.stats.frees = 0;
    c.stats.allocs = 5;
    assert_string_equal(ttm_cause_count_text(&c, 4604, false, buf, sizeof buf),
                        "5 duplicate allocations");
    assert_string_equal(ttm_cause_addr_text(33554432, true, buf, sizeof buf),
                        "0x2000000 (33554432)");
    assert_string_equal(ttm_cause_addr_text(0xABC, false, buf, sizeof buf), "0xABC");
}

/* ---- the list ------------------------------------------------------------------------------- */

static void test_list(void **state)
{
    (void)state;
    ttm_report r;
    causes_report(&r);
    /* the causes with frees or allocs, frees descending; pre_tracking has neither */
    assert_int_equal(r.ncauses, 4);
    assert_int_equal(r.causes[0].stats.cause, TTM_CAUSE_MESH_MULTIPLICITY);
    assert_int_equal(r.causes[1].stats.cause, TTM_CAUSE_EXCESS_STORM);
    assert_int_equal(r.causes[2].stats.cause, TTM_CAUSE_DOUBLE_RELEASE);
    assert_int_equal(r.causes[3].stats.cause, TTM_CAUSE_UNEXPLAINED);
    assert_int_equal(ttm__report_causes_frees(&r), 3504 + 1100 + 12);
    double sum = 0;
    for (size_t i = 0; i < r.ncauses; i++) {
        sum += r.causes[i].share_pct;
        char words[512];
        assert_non_null(r.causes[i].evidence);
        assert_string_equal(r.causes[i].evidence,
                            ttm_cause_describe(&r.causes[i].stats, words, sizeof words));
    }
    assert_true(sum > 99.999 && sum < 100.001);
    assert_true(r.causes[0].share_pct > 75.90 && r.causes[0].share_pct < 75.92); /* 3504/4616 */
    assert_int_equal(r.causes[3].share_pct, 0);
    assert_int_equal(r.causes_info.keys, 2433);
    /* set again: the old list is freed, nothing left from it */
    ttm_cause_stats none[TTM_CAUSE__COUNT];
    memset(none, 0, sizeof none);
    assert_int_equal(ttm__report_causes_set(&r, none, NULL), TTM_OK);
    assert_int_equal(r.ncauses, 0);
    assert_null(r.causes);
    assert_int_equal(r.causes_info.keys, 0);
    ttm_report_clear(&r);
}

/* Allocation failure at every N: TTM_ENOMEM with nothing listed (and nothing leaked). */
static void test_alloc_failure(void **state)
{
    (void)state;
    ttm_cause_stats all[TTM_CAUSE__COUNT];
    all_stats(all);
    for (unsigned n = 1;; n++) {
        ttm_report r;
        memset(&r, 0, sizeof r);
        ttm__alloc_fail_at(n);
        int err = ttm__report_causes_set(&r, all, &some_info);
        ttm__alloc_fail_at(0);
        if (err == TTM_OK) {
            assert_int_equal(r.ncauses, 4);
            ttm_report_clear(&r);
            assert_true(n > 1);
            break;
        }
        assert_int_equal(err, TTM_ENOMEM);
        assert_int_equal(r.ncauses, 0);
        assert_null(r.causes);
    }
}

/* ---- wire and JSON -------------------------------------------------------------------------- */

static void test_wire(void **state)
{
    (void)state;
    ttm_report r, back;
    causes_report(&r);
    ttm_bytes b = {0};
    assert_int_equal(ttm_report_encode(&r, &b), TTM_OK);
    char msg[200];
    assert_int_equal(decode_frame(&b, &back, msg, sizeof msg), TTM_OK);
    assert_true(back.sections & TTM_SNAP_BIT(TTM_SNAP_SEC_CAUSES));
    char where[200] = "";
    assert_true(ttm__schema_equal(&ttm_rec_report, &r, &back, 0, where, sizeof where));
    assert_int_equal(back.ncauses, 4);
    assert_string_equal(back.causes[1].evidence, r.causes[1].evidence);
    assert_true(back.causes[1].stats.instances[0].addr_dec);
    ttm_report_clear(&back);
    ttm__bytes_free(&b);

    /* without the section, nothing of it */
    r.sections &= ~TTM_SNAP_BIT(TTM_SNAP_SEC_CAUSES);
    assert_int_equal(ttm_report_encode(&r, &b), TTM_OK);
    assert_int_equal(decode_frame(&b, &back, msg, sizeof msg), TTM_OK);
    assert_false(back.sections & TTM_SNAP_BIT(TTM_SNAP_SEC_CAUSES));
    assert_int_equal(back.ncauses, 0);
    assert_int_equal(back.causes_info.keys, 0);
    ttm_report_clear(&back);
    ttm__bytes_free(&b);
    ttm_report_clear(&r);
}

static void test_json(void **state)
{
    (void)state;
    ttm_report r;
    causes_report(&r);
    char *text = json_text(&ttm_rec_report, &r, false);
    assert_non_null(strstr(text, "\"causes\":[{\"cause\":\"mesh_multiplicity\",\"frees\":3504,"
                                 "\"allocs\":0,\"pending\":0,\"ambiguous\":0,\"addresses\":438,"));
    assert_non_null(strstr(text, "\"groups\":438,\"mesh_devices\":8,\"frees_per_group\":8,"
                                 "\"pids\":[2604],\"more_pids\":false,\"instances\":[{"));
    assert_non_null(strstr(text, "{\"device\":1,\"memtype\":\"DRAM\",\"addr\":\"0x2000000\","
                                 "\"addr_dec\":true,\"frees\":1100,\"allocs\":1,\"first_ts\":50,"
                                 "\"last_ts\":2000,\"period_ns\":2100000,\"period_events\":42,"
                                 "\"regular\":true,\"pids\":[2604],\"more_pids\":false}"));
    assert_non_null(strstr(text, "\"evidence\":\"mesh multiplicity — 438 MeshBuffers on 8 "
                                 "devices, 8 frees each\""));
    assert_non_null(strstr(text, "\"causes_info\":{\"enabled\":true,\"attributed\":4621,"
                                 "\"pending\":3,\"window_events\":48,\"devices\":8,\"keys\":2433,"
                                 "\"keys_max\":65536,\"dropped\":7}"));
    assert_null(strstr(text, "pre_tracking")); /* nothing of it: no frees, no allocs */
    free(text);
    ttm_report_clear(&r);
}

/* ---- several runs joined -------------------------------------------------------------------- */

static void test_join(void **state)
{
    (void)state;
    ttm_report parts[2], out;
    causes_report(&parts[0]);
    causes_report(&parts[1]);
    /* run 1's storm is the worse one and on device 2 */
    ttm_report_cause *st = &parts[1].causes[1];
    assert_int_equal(st->stats.cause, TTM_CAUSE_EXCESS_STORM);
    st->stats.frees = st->stats.instances[0].frees = 2000;
    st->stats.instances[0].device = 2;
    st->stats.pids[0] = st->stats.instances[0].pids[0] = 7;
    st->stats.first_ts = 10;
    assert_int_equal(ttm_report_join(&out, parts, 2, NULL), TTM_OK);
    assert_true(out.sections & TTM_SNAP_BIT(TTM_SNAP_SEC_CAUSES));
    assert_int_equal(out.ncauses, 4);
    const ttm_cause_stats *m = &out.causes[0].stats, *s = &out.causes[1].stats;
    assert_int_equal(m->cause, TTM_CAUSE_MESH_MULTIPLICITY);
    assert_int_equal(m->frees, 2 * 3504);
    assert_int_equal(m->groups, 2 * 438);
    assert_int_equal(m->mesh_devices, 8);
    assert_int_equal(m->npids, 1); /* the same pid in both runs, listed once */
    assert_int_equal(m->ninstances, 2);
    assert_int_equal(m->instances[0].device, 3);
    assert_int_equal(m->instances[1].device, TTM_REPORT_JOIN_DEVICES + 3);
    assert_int_equal(s->cause, TTM_CAUSE_EXCESS_STORM);
    assert_int_equal(s->frees, 1100 + 2000);
    assert_int_equal(s->first_ts, 10);
    assert_int_equal(s->last_ts, 2000);
    assert_int_equal(s->ninstances, 2);
    assert_int_equal(s->instances[0].frees, 2000); /* the worst first */
    assert_int_equal(s->instances[0].device, TTM_REPORT_JOIN_DEVICES + 2);
    assert_int_equal(s->npids, 2);
    assert_int_equal(out.causes_info.keys, 2 * 2433);
    assert_int_equal(out.causes_info.window_events, 48);
    /* the words follow the sums */
    assert_non_null(strstr(out.causes[0].evidence, "876 MeshBuffers"));
    assert_non_null(strstr(out.causes[1].evidence, "excess storm on 2 addresses, the worst "
                                                   "device 258 DRAM 0x2000000 (33554432)"));
    ttm_report_clear(&out);
    ttm_report_clear(&parts[0]);
    ttm_report_clear(&parts[1]);

    /* more instances than are kept: the worst TTM_CAUSE_INSTANCES of every run */
    ttm_report many[3];
    for (int k = 0; k < 3; k++) {
        causes_report(&many[k]);
        ttm_cause_stats *ms = &many[k].causes[0].stats;
        ms->ninstances = 2;
        for (int i = 0; i < 2; i++)
            ms->instances[i] = (ttm_cause_instance){.device = (uint16_t)i,
                                                    .frees = (uint64_t)(10 * k + 5 - i)};
    }
    assert_int_equal(ttm_report_join(&out, many, 3, NULL), TTM_OK);
    m = &out.causes[0].stats;
    assert_int_equal(m->ninstances, TTM_CAUSE_INSTANCES);
    static const uint64_t want[] = {25, 24, 15, 14};
    for (size_t i = 0; i < TTM_CAUSE_INSTANCES; i++)
        assert_int_equal(m->instances[i].frees, want[i]);
    assert_int_equal(m->instances[0].device, 2 * TTM_REPORT_JOIN_DEVICES);
    ttm_report_clear(&out);
    for (int k = 0; k < 3; k++)
        ttm_report_clear(&many[k]);
}

/* ---- the text report ------------------------------------------------------------------------ */

static void test_text(void **state)
{
    (void)state;
    ttm_report r;
    causes_report(&r);
    r.sections |= TTM_SNAP_BIT(TTM_SNAP_SEC_FINDINGS);
    r.unmatched_frees = r.unmatched_addrs = 1;
    r.nunmatched = 1;
    r.unmatched = ttm__calloc(1, sizeof *r.unmatched);
    assert_non_null(r.unmatched);
    r.unmatched[0] = (ttm_report_unmatched){.device = 1, .memtype = TTM_MEM_DRAM,
                                            .addr = STORM_ADDR, .excess = 1, .total = 1,
                                            .addr_dec = true, .npids = 1, .pids = {2604}};
    char *text = render_text(&r);
    const char *causes = strstr(text, "\nCauses of the unmatched frees (address-only events)\n"
                                      "  3,504 of 4,616 unmatched frees (76%): mesh multiplicity "
                                      "— 438 MeshBuffers on 8 devices, 8 frees each\n"
                                      "  1,100 (24%): excess storm on device 1 DRAM 0x2000000 "
                                      "(33554432), one extra free every ~2.1 ms over 1,100 frees "
                                      "(allocated once), pid 2604\n"
                                      "  12 (<1%): double release — 12 releases freed again");
    assert_non_null(causes);
    assert_non_null(strstr(causes, "12 of them could also be mesh multiplicity (a one-device "
                                   "mesh); 3 still provisional\n"
                                   "  5 duplicate allocations: unexplained — duplicate "
                                   "allocations on 2 addresses outside any mesh burst\n"
                                   "  (attribution state full at 65,536 addresses: 7 given up"));
    /* above the offender table, whose address shows its decimal form */
    const char *table = strstr(text, "Frees matched to no allocation, worst addresses");
    assert_non_null(table);
    assert_true(causes < table);
    assert_non_null(strstr(table, " 0x2000000 (33554432)"));
    assert_non_null(strstr(text, "Worst       device 1 DRAM 0x2000000 (33554432) freed 1 more"));
    free(text);

    /* no cause: no section */
    ttm_cause_stats none[TTM_CAUSE__COUNT];
    memset(none, 0, sizeof none);
    assert_int_equal(ttm__report_causes_set(&r, none, NULL), TTM_OK);
    text = render_text(&r);
    assert_null(strstr(text, "Causes of"));
    free(text);
    ttm_report_clear(&r);
}

/* ---- from a registry fed an address-only stream --------------------------------------------- */

#define PID 10
#define MESH_ADDR 0x100000ull
#define DBL_ADDR 0x500000ull
#define PRE_ADDR 0x900000ull
#define FILL_ADDR 0x700000ull

typedef struct stream {
    ttm_registry *reg;
    uint64_t ts;
} stream;

static void ev(stream *s, uint8_t kind, uint16_t dev, unsigned memtype, uint64_t addr,
               unsigned flags)
{
    s->ts += 1000;
    ttm_event e = util_event(kind, dev, memtype, addr, kind == TTM_EV_ALLOC ? 4096 : 0, 0, flags,
                             s->ts);
    ttm_registry_apply(s->reg, PID, &e);
}

/* Events that touch none of the stream's addresses: an allocation and its free on device 2. */
static void filler(stream *s, int pairs)
{
    for (int i = 0; i < pairs; i++) {
        ev(s, TTM_EV_ALLOC, 2, TTM_MEM_L1, FILL_ADDR, 0);
        ev(s, TTM_EV_FREE, 2, TTM_MEM_L1, FILL_ADDR, 0);
    }
}

/* On 8 devices, by one process, without object ids: a MeshBuffer at MESH_ADDR (its backing
 * buffer allocated and freed on device 0, then one free per other device); device 1's
 * STORM_ADDR, written in decimal, allocated and freed once, then freed 20 more times, one every
 * 6 events; DBL_ADDR on device 0 freed twice; PRE_ADDR on device 0 freed, never allocated. */
static ttm_registry *causes_stream(void)
{
    stream s = {.reg = NULL};
    assert_int_equal(ttm_registry_open(&s.reg, NULL), TTM_OK);
    for (uint16_t d = 0; d < 8; d++) /* every device reports, so the window knows the mesh */
        ev(&s, TTM_EV_ALLOC, d, TTM_MEM_L1, 0x10000u + d * 0x1000u, 0);
    ev(&s, TTM_EV_ALLOC, 0, TTM_MEM_DRAM, MESH_ADDR, 0);
    filler(&s, 2);
    ev(&s, TTM_EV_FREE, 0, TTM_MEM_DRAM, MESH_ADDR, 0);
    for (uint16_t d = 1; d < 8; d++)
        ev(&s, TTM_EV_FREE, d, TTM_MEM_DRAM, MESH_ADDR, 0);
    filler(&s, 40);
    ev(&s, TTM_EV_ALLOC, 1, TTM_MEM_DRAM, STORM_ADDR, TTM__FLAG_ADDR_DEC);
    ev(&s, TTM_EV_FREE, 1, TTM_MEM_DRAM, STORM_ADDR, TTM__FLAG_ADDR_DEC);
    for (int i = 0; i < 20; i++) {
        filler(&s, 3);
        ev(&s, TTM_EV_FREE, 1, TTM_MEM_DRAM, STORM_ADDR, TTM__FLAG_ADDR_DEC);
    }
    filler(&s, 40);
    ev(&s, TTM_EV_ALLOC, 0, TTM_MEM_DRAM, DBL_ADDR, 0);
    ev(&s, TTM_EV_FREE, 0, TTM_MEM_DRAM, DBL_ADDR, 0);
    ev(&s, TTM_EV_FREE, 0, TTM_MEM_DRAM, DBL_ADDR, 0);
    filler(&s, 40);
    ev(&s, TTM_EV_FREE, 0, TTM_MEM_DRAM, PRE_ADDR, 0);
    filler(&s, 40); /* every stray past its window: nothing provisional */
    return s.reg;
}

static const ttm_report_cause *cause_in(const ttm_report *r, ttm_cause c)
{
    for (size_t i = 0; i < r->ncauses; i++)
        if (r->causes[i].stats.cause == c)
            return &r->causes[i];
    return NULL;
}

/* What the stream's report says of its causes, built or decoded. */
static void check_stream_causes(const ttm_report *r)
{
    assert_true(r->sections & TTM_SNAP_BIT(TTM_SNAP_SEC_CAUSES));
    assert_int_equal(r->ncauses, 4);
    assert_int_equal(r->causes[0].stats.cause, TTM_CAUSE_EXCESS_STORM);
    assert_int_equal(r->causes[1].stats.cause, TTM_CAUSE_MESH_MULTIPLICITY);
    const ttm_report_cause *storm = &r->causes[0], *mesh = &r->causes[1];
    const ttm_report_cause *dbl = cause_in(r, TTM_CAUSE_DOUBLE_RELEASE);
    const ttm_report_cause *pre = cause_in(r, TTM_CAUSE_PRE_TRACKING);
    assert_non_null(dbl);
    assert_non_null(pre);
    assert_int_equal(storm->stats.frees, 20);
    assert_int_equal(mesh->stats.frees, 7);
    assert_int_equal(mesh->stats.groups, 1);
    assert_int_equal(dbl->stats.frees, 1);
    assert_int_equal(pre->stats.frees, 1);
    assert_int_equal(ttm__report_causes_frees(r), r->unmatched_frees);
    assert_int_equal(r->causes_info.pending, 0);
    const ttm_cause_instance *w = &storm->stats.instances[0];
    assert_int_equal(w->device, 1);
    assert_int_equal(w->addr, STORM_ADDR);
    assert_true(w->addr_dec);
    assert_true(w->regular);
    assert_int_equal(w->period_events, 7); /* 3 filler pairs and the free itself */
    assert_int_equal(w->period_ns, 7000);
    assert_non_null(strstr(storm->evidence, "excess storm on device 1 DRAM 0x2000000 (33554432), "
                                            "one extra free every ~7.0 us over 20 frees"));
    assert_non_null(strstr(mesh->evidence, "mesh multiplicity — 1 MeshBuffer on 8 devices"));
    assert_non_null(strstr(pre->evidence, "pre-tracking — frees of 1 address"));
    char words[512];
    assert_string_equal(storm->evidence, ttm_cause_describe(&storm->stats, words, sizeof words));
    /* the storm's address in the findings: written in decimal */
    assert_int_equal(r->unmatched[0].addr, STORM_ADDR);
    assert_true(r->unmatched[0].addr_dec);
    const ttm_report_class *ex = &r->classes[TTM_CLASS_EXCESS_FREE];
    for (size_t i = 0; i < ex->noffenders; i++)
        assert_int_equal(ex->offenders[i].addr_dec, ex->offenders[i].addr == STORM_ADDR);
}

static void test_from_registry(void **state)
{
    (void)state;
    ttm_registry *reg = causes_stream();
    ttm_report *r = NULL;
    assert_int_equal(ttm_report_build(reg, NULL, &r), TTM_OK);
    check_stream_causes(r);

    /* the wire: both sections, then the findings without the causes as an older peer reads
     * them (the decimal flags travel in CAUSES, so FINDINGS keeps its bytes) */
    ttm_bytes b = {0}, b2 = {0};
    ttm_report back;
    char msg[200];
    assert_int_equal(ttm_report_encode(r, &b), TTM_OK);
    assert_int_equal(decode_frame(&b, &back, msg, sizeof msg), TTM_OK);
    check_stream_causes(&back);
    assert_null(back.dec_addrs);
    ttm_report_clear(&back);
    ttm__bytes_free(&b);
    r->sections &= ~TTM_SNAP_BIT(TTM_SNAP_SEC_CAUSES);
    assert_int_equal(ttm_report_encode(r, &b), TTM_OK);
    for (unsigned c = 0; c < TTM_CLASS__COUNT; c++)
        for (size_t i = 0; i < r->classes[c].noffenders; i++)
            r->classes[c].offenders[i].addr_dec = false;
    for (size_t i = 0; i < r->nunmatched; i++)
        r->unmatched[i].addr_dec = false;
    assert_int_equal(ttm_report_encode(r, &b2), TTM_OK);
    assert_int_equal(b.len, b2.len);
    assert_memory_equal(b.data, b2.data, b.len);
    ttm__bytes_free(&b);
    ttm__bytes_free(&b2);
    ttm_report_free(r);

    /* the text and the JSON of the built report */
    assert_int_equal(ttm_report_build(reg, NULL, &r), TTM_OK);
    char *text = render_text(r);
    const char *causes = strstr(text, "\nCauses of the unmatched frees (address-only events)\n"
                                      "  20 of 29 unmatched frees (69%): excess storm on device 1 "
                                      "DRAM 0x2000000 (33554432)");
    assert_non_null(causes);
    assert_non_null(strstr(causes, "\n  7 (24%): mesh multiplicity — 1 MeshBuffer on 8 "
                                   "devices"));
    const char *table = strstr(text, "Frees matched to no allocation, worst addresses");
    assert_non_null(table);
    assert_true(causes < table);
    assert_non_null(strstr(table, "0x2000000 (33554432)         20"));
    free(text);
    char *json = json_text(&ttm_rec_report, r, false);
    assert_non_null(strstr(json, "\"causes\":[{\"cause\":\"excess_storm\",\"frees\":20,"));
    assert_non_null(strstr(json, "\"addr\":\"0x2000000\",\"addr_dec\":true,"));
    free(json);
    ttm_report_free(r);

    /* a registry without attribution: no cause, no section line */
    ttm_registry_config cfg = {.no_causes = true};
    ttm_registry *off = NULL;
    assert_int_equal(ttm_registry_open(&off, &cfg), TTM_OK);
    ttm_event e = util_event(TTM_EV_FREE, 0, TTM_MEM_DRAM, PRE_ADDR, 0, 0, 0, 1);
    ttm_registry_apply(off, PID, &e);
    assert_int_equal(ttm_report_build(off, NULL, &r), TTM_OK);
    assert_int_equal(r->ncauses, 0);
    assert_false(r->causes_info.enabled);
    text = render_text(r);
    assert_null(strstr(text, "Causes of"));
    free(text);
    ttm_report_free(r);
    ttm_registry_close(off);
    ttm_registry_close(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_words),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_alloc_failure),
        cmocka_unit_test(test_wire),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_join),
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_from_registry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
