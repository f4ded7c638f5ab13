/*
 * test_sim.c — unit tests of the simulator (src/sim): every scenario, with both client
 * behaviours and two seeds, is run into a fresh core registry, and the registry's verdict must
 * equal the scenario's ground truth: event by event (the class mask ttm_registry_apply() returns
 * against the mask the scenario expects) and in total (ttm_sim_check()). Also: determinism, the
 * shape of the event streams each client sends, the llama run's figures (event count, the
 * legacy client's excess of frees and its worst address), the scenario table and the check's
 * difference lines. Call sites: with a stacks table every ALLOC and FREE carries a stack of
 * TEXT frames ending in the scenario's function, the stream is otherwise the same, and the
 * frames name the path each expected class comes from (the pool's double free, the mesh views).
 * Causes: the legacy client's every address-only unmatched free has its cause in the truth,
 * the registry's attribution matches it (ttm_sim_check(), in every run above), and the check
 * tells a truth with causes moved apart.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sim/sim.h"
#include "sim/sim_internal.h"

static const uint64_t seeds[] = {1, 2};

static const char *client_name(ttm_sim_client c)
{
    return c == TTM_SIM_LEGACY ? "legacy" : "identity";
}

static void class_names(uint32_t mask, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    for (unsigned c = 0; c < TTM_CLASS__COUNT; c++)
        if (mask & TTM_CLASS_BIT(c))
            n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, "%s%s", n ? "+" : "",
                                  ttm_class_name(c));
    if (n == 0)
        snprintf(out, cap, "-");
}

/* ---- one run into a registry, compared event by event ------------------------------------- */

#define MAX_REPORTED 8

typedef struct run {
    ttm_registry *reg;
    uint64_t n;          /* events */
    uint64_t mismatches; /* events whose class mask differed */
    uint64_t hash;       /* FNV-1a over pid and event bytes */
    bool ts_ok;          /* timestamps strictly increasing */
    uint64_t last_ts;
    bool control_seen;           /* a non-DEVICE_INFO event was seen */
    uint64_t device_infos_after; /* DEVICE_INFO events after the first other event */
    uint64_t device_infos;
    bool info_ok; /* DEVICE_INFO events carry the Wormhole B0 profile */
    uint64_t starts, exits;
    uint64_t shape_errors; /* ALLOC/FREE fields not as the client reports them */
    ttm_sim_client client;
    bool check_shape;
} run;

static void hash_bytes(uint64_t *h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        *h ^= b[i];
        *h *= 0x100000001b3ull;
    }
}

static void on_event(void *arg, uint32_t pid, const ttm_event *ev, uint32_t expect)
{
    run *r = arg;
    uint32_t got = ttm_registry_apply(r->reg, pid, ev);
    if (got != expect) {
        if (r->mismatches < MAX_REPORTED) {
            char e[256], g[256];
            class_names(expect, e, sizeof e);
            class_names(got, g, sizeof g);
            print_error("event %llu pid %u %s dev %u memtype %u flags %#x addr %#llx size %llu "
                        "obj %llu ts %llu: expected %s, got %s\n",
                        (unsigned long long)r->n, pid, ttm__event_kind_name(ev->kind), ev->device,
                        ev->memtype, ev->flags, (unsigned long long)ev->addr,
                        (unsigned long long)ev->size, (unsigned long long)ev->obj,
                        (unsigned long long)ev->ts, e, g);
        }
        r->mismatches++;
    }
    hash_bytes(&r->hash, &pid, sizeof pid);
    hash_bytes(&r->hash, ev, sizeof *ev);
    if (r->n > 0 && ev->ts <= r->last_ts)
        r->ts_ok = false;
    r->last_ts = ev->ts;
    r->n++;

    if (ev->kind == TTM_EV_DEVICE_INFO) {
        r->device_infos++;
        if (r->control_seen)
            r->device_infos_after++;
        if (ev->arch != TTM_ARCH_WORMHOLE_B0 || ev->dram_capacity != (12ull << 30) ||
            ev->l1_capacity != 64ull * 1499136)
            r->info_ok = false;
        return;
    }
    r->control_seen = true;
    if (ev->kind == TTM_EV_PROC_START)
        r->starts++;
    if (ev->kind == TTM_EV_PROC_EXIT)
        r->exits++;
    if (!r->check_shape || (ev->kind != TTM_EV_ALLOC && ev->kind != TTM_EV_FREE))
        return;
    if (r->client == TTM_SIM_IDENTITY) {
        if (ev->obj == 0 || ev->memtype == TTM_MEM_ANY)
            r->shape_errors++;
    } else {
        if (ev->obj != 0 || (ev->flags & TTM_FLAG_VIEW))
            r->shape_errors++;
        if (ev->kind == TTM_EV_FREE && (ev->memtype != TTM_MEM_ANY || ev->size != 0))
            r->shape_errors++;
    }
}

static void print_line(void *arg, const char *line)
{
    print_error("%s: %s\n", (const char *)arg, line);
}

/* Runs a scenario into a fresh registry, asserts that every event's class and the totals match
 * the ground truth, and returns the registry (the caller closes it). */
static ttm_registry *run_checked(const char *name, ttm_sim_client client, uint64_t seed,
                                 ttm_sim_truth *truth, run *out)
{
    run r = {.hash = 0xcbf29ce484222325ull,
             .ts_ok = true,
             .info_ok = true,
             .client = client,
             .check_shape = strcmp(name, "invalid") != 0};
    assert_int_equal(ttm_registry_open(&r.reg, NULL), TTM_OK);
    assert_int_equal(ttm__sim_run_expect(name, client, seed, NULL, on_event, &r, truth), TTM_OK);
    char who[96];
    snprintf(who, sizeof who, "%s (%s client, seed %llu)", name, client_name(client),
             (unsigned long long)seed);
    if (r.mismatches)
        print_error("%s: %llu events classified differently\n", who,
                    (unsigned long long)r.mismatches);
    size_t diffs = ttm_sim_check(truth, r.reg, print_line, who);
    assert_int_equal(r.mismatches, 0);
    assert_int_equal(diffs, 0);

    assert_int_equal(truth->events, r.n);
    assert_true(r.ts_ok);
    assert_true(r.device_infos > 0);
    assert_int_equal(r.device_infos_after, 0);
    assert_true(r.info_ok);
    assert_true(r.exits > 0);
    assert_int_equal(r.starts, r.exits);
    assert_int_equal(r.shape_errors, 0);
    assert_true(truth->npeaks > 0);
    if (out != NULL)
        *out = r;
    return r.reg;
}

typedef struct scenario_case {
    const char *name;
    ttm_sim_client client;
} scenario_case;

static bool is_mesh(const char *name)
{
    return strncmp(name, "mesh", 4) == 0 || strcmp(name, "llama") == 0;
}

/* Every scenario, both seeds: the core's verdict equals the truth. */
static void test_scenario(void **state)
{
    const scenario_case *c = *state;
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
        ttm_sim_truth truth;
        ttm_registry *reg = run_checked(c->name, c->client, seeds[i], &truth, NULL);
        ttm_totals t;
        ttm_registry_totals(reg, &t);
        if (c->client == TTM_SIM_IDENTITY && is_mesh(c->name)) {
            assert_int_equal(t.class_count[TTM_CLASS_UNKNOWN_FREE], 0);
            assert_int_equal(t.class_count[TTM_CLASS_EXCESS_FREE], 0);
            assert_true(t.class_count[TTM_CLASS_ALLOC_VIEW] > 0);
            assert_true(t.class_count[TTM_CLASS_FREE_VIEW] > 0);
            assert_true(t.class_count[TTM_CLASS_VIEW_AFTER_OWNER] > 0);
        }
        if (c->client == TTM_SIM_LEGACY && is_mesh(c->name)) {
            assert_true(t.class_count[TTM_CLASS_EXCESS_FREE] > 0);
            assert_true(t.class_count[TTM_CLASS_UNKNOWN_FREE] > 0);
            assert_int_equal(t.class_count[TTM_CLASS_ALLOC_VIEW], 0);
        }
        ttm_registry_close(reg);
    }
}

/* ---- what each scenario must show ---------------------------------------------------------- */

static uint64_t count_of(const char *name, ttm_sim_client client, ttm_class cls)
{
    ttm_sim_truth truth;
    ttm_registry *reg = run_checked(name, client, 1, &truth, NULL);
    ttm_registry_close(reg);
    return truth.class_count[cls];
}

static void test_scenario_findings(void **state)
{
    (void)state;
    const ttm_sim_client I = TTM_SIM_IDENTITY, L = TTM_SIM_LEGACY;
    assert_true(count_of("program-pool", I, TTM_CLASS_DOUBLE_FREE) > 0);
    assert_int_equal(count_of("program-pool", I, TTM_CLASS_EXCESS_FREE), 0);
    assert_true(count_of("program-pool", L, TTM_CLASS_EXCESS_FREE) > 0);
    assert_int_equal(count_of("program-pool", L, TTM_CLASS_DOUBLE_FREE), 0);
    assert_true(count_of("program-pool", I, TTM_CLASS_DUPLICATE_ALLOC) > 0);
    assert_true(count_of("pre-tracking", I, TTM_CLASS_UNKNOWN_FREE) == 24);
    assert_true(count_of("pre-tracking", L, TTM_CLASS_UNKNOWN_FREE) == 24);
    assert_true(count_of("reuse", I, TTM_CLASS_SIZE_MISMATCH) > 0);
    assert_int_equal(count_of("reuse", I, TTM_CLASS_MISSED_FREE), 1);
    assert_int_equal(count_of("reuse", I, TTM_CLASS_OVERLAP), 1);
    assert_int_equal(count_of("reuse", L, TTM_CLASS_DUPLICATE_ALLOC), 1);
    assert_int_equal(count_of("reuse", L, TTM_CLASS_LEAKED_AT_EXIT), 1);
    assert_true(count_of("leaks", I, TTM_CLASS_LEAKED_AT_EXIT) > 0);
    assert_true(count_of("leaks", L, TTM_CLASS_LEAKED_AT_EXIT) > 0);
    assert_int_equal(count_of("multi-process", I, TTM_CLASS_FOREIGN_FREE), 1);
    assert_int_equal(count_of("multi-process", L, TTM_CLASS_FOREIGN_FREE), 1);
    assert_int_equal(count_of("multi-process", I, TTM_CLASS_OVERLAP), 1);
    assert_int_equal(count_of("multi-process", I, TTM_CLASS_UNKNOWN_FREE), 1);
    assert_int_equal(count_of("multi-process", L, TTM_CLASS_EXCESS_FREE), 1);
    assert_true(count_of("ambiguous", L, TTM_CLASS_AMBIGUOUS_FREE) > 0);
    assert_int_equal(count_of("ambiguous", I, TTM_CLASS_AMBIGUOUS_FREE), 0);
    assert_true(count_of("invalid", I, TTM_CLASS_INVALID) > 0);
    assert_true(count_of("llama", I, TTM_CLASS_LEAKED_AT_EXIT) > 0);
    /* the mixes: with object ids, views, double frees (pools, storms) and unknown frees
     * (pre-tracking, another process's leftovers), no excess free; addresses only, excess and
     * unknown frees, no double free; leaks at a worker's exit with either client */
    static const char *const mixes[] = {"mix2", "mix8", "mix32"};
    for (size_t m = 0; m < sizeof mixes / sizeof mixes[0]; m++) {
        assert_true(count_of(mixes[m], I, TTM_CLASS_FREE_VIEW) > 0);
        assert_true(count_of(mixes[m], I, TTM_CLASS_DOUBLE_FREE) > 0);
        assert_true(count_of(mixes[m], I, TTM_CLASS_UNKNOWN_FREE) > 0);
        assert_int_equal(count_of(mixes[m], I, TTM_CLASS_EXCESS_FREE), 0);
        assert_true(count_of(mixes[m], L, TTM_CLASS_EXCESS_FREE) > 0);
        assert_true(count_of(mixes[m], L, TTM_CLASS_UNKNOWN_FREE) > 0);
        assert_int_equal(count_of(mixes[m], L, TTM_CLASS_DOUBLE_FREE), 0);
        assert_true(count_of(mixes[m], I, TTM_CLASS_LEAKED_AT_EXIT) >= 3);
        assert_true(count_of(mixes[m], L, TTM_CLASS_LEAKED_AT_EXIT) >= 3);
    }
}

/* Memtypes the scenarios exercise: CB and KERNEL in cb-kernel, TRACE in trace. */
static bool peak_of(const ttm_sim_truth *t, unsigned memtype, uint64_t *bytes)
{
    for (size_t i = 0; i < t->npeaks; i++) {
        if (t->peaks[i].memtype == memtype) {
            *bytes = t->peaks[i].bytes;
            return true;
        }
    }
    return false;
}

static void test_memtypes(void **state)
{
    (void)state;
    ttm_sim_truth t;
    uint64_t b = 0;
    ttm_registry_close(run_checked("cb-kernel", TTM_SIM_IDENTITY, 3, &t, NULL));
    assert_true(peak_of(&t, TTM_MEM_CB, &b) && b > 0);
    assert_true(peak_of(&t, TTM_MEM_KERNEL, &b) && b >= 204 * 1024);
    assert_true(peak_of(&t, TTM_MEM_L1_SMALL, &b) && b > 0);
    ttm_registry_close(run_checked("trace", TTM_SIM_LEGACY, 3, &t, NULL));
    assert_true(peak_of(&t, TTM_MEM_TRACE, &b) && b >= (32ull << 20) && b <= (256ull << 20));
    ttm_registry_close(run_checked("leaks", TTM_SIM_IDENTITY, 3, &t, NULL));
    assert_true(peak_of(&t, TTM_MEM_SYSTEM, &b) && b > 0);
}

/* ---- llama --------------------------------------------------------------------------------- */

static void test_llama_figures(void **state)
{
    (void)state;
    for (int c = 0; c < 2; c++) {
        ttm_sim_truth truth;
        run r;
        ttm_registry *reg = run_checked("llama", (ttm_sim_client)c, 7, &truth, &r);
        ttm_totals t;
        ttm_registry_totals(reg, &t);
        print_message("llama %s: %llu events, %llu allocs, %llu frees, %llu excess, %llu unknown, "
                      "%llu double\n",
                      client_name((ttm_sim_client)c), (unsigned long long)r.n,
                      (unsigned long long)t.allocs, (unsigned long long)t.frees,
                      (unsigned long long)t.class_count[TTM_CLASS_EXCESS_FREE],
                      (unsigned long long)t.class_count[TTM_CLASS_UNKNOWN_FREE],
                      (unsigned long long)t.class_count[TTM_CLASS_DOUBLE_FREE]);
        assert_true(r.n >= 90000 && r.n <= 120000);
        assert_int_equal(r.device_infos, 8);
        if (c == TTM_SIM_LEGACY) {
            /* frees exceed allocations by 5-15% */
            assert_true(t.frees * 100 >= t.allocs * 105);
            assert_true(t.frees * 100 <= t.allocs * 115);
            size_t n = ttm_registry_offenders(reg, TTM_CLASS_EXCESS_FREE, NULL, 0);
            assert_true(n >= 100); /* concentrated on a few hundred addresses */
            ttm_offender worst;
            assert_int_equal(ttm_registry_offenders(reg, TTM_CLASS_EXCESS_FREE, &worst, 1), n);
            assert_true(worst.count >= 1000);
            assert_int_equal(worst.device, 1);
            assert_int_equal(worst.memtype, TTM_MEM_DRAM);
        } else {
            assert_int_equal(t.frees, t.allocs - truth.class_count[TTM_CLASS_LEAKED_AT_EXIT] +
                                          truth.class_count[TTM_CLASS_DOUBLE_FREE]);
            assert_true(truth.class_count[TTM_CLASS_DOUBLE_FREE] >= 1000);
        }
        ttm_device_stats devs[8];
        assert_int_equal(ttm_registry_devices(reg, devs, 8), 8);
        for (int d = 0; d < 8; d++) {
            assert_int_equal(devs[d].arch, TTM_ARCH_WORMHOLE_B0);
            assert_int_equal(devs[d].capacity[TTM_SPACE_DRAM], 12ull << 30);
            assert_true(devs[d].mem[TTM_MEM_KERNEL].peak_bytes >= 204 * 1024);
            assert_int_equal(devs[d].mem[TTM_MEM_TRACE].peak_bytes, 128ull << 20);
        }
        ttm_registry_close(reg);
    }
}

/* ---- determinism --------------------------------------------------------------------------- */

static void hash_only(void *arg, uint32_t pid, const ttm_event *ev)
{
    uint64_t *h = arg;
    hash_bytes(h, &pid, sizeof pid);
    hash_bytes(h, ev, sizeof *ev);
}

static uint64_t stream_hash(const char *name, ttm_sim_client client, uint64_t seed,
                            ttm_sim_truth *truth)
{
    uint64_t h = 0xcbf29ce484222325ull;
    assert_int_equal(ttm_sim_run(name, client, seed, hash_only, &h, truth), TTM_OK);
    return h;
}

static void test_determinism(void **state)
{
    (void)state;
    size_t n = 0;
    const ttm_sim_scenario *s = ttm_sim_scenarios(&n);
    for (size_t i = 0; i < n; i++) {
        for (int c = 0; c < 2; c++) {
            ttm_sim_truth a, b;
            uint64_t h1 = stream_hash(s[i].name, (ttm_sim_client)c, 5, &a);
            uint64_t h2 = stream_hash(s[i].name, (ttm_sim_client)c, 5, &b);
            assert_true(h1 == h2);
            assert_memory_equal(&a, &b, sizeof a);
        }
    }
    for (int c = 0; c < 2; c++) {
        uint64_t h1 = stream_hash("llama", (ttm_sim_client)c, 1, NULL);
        uint64_t h2 = stream_hash("llama", (ttm_sim_client)c, 2, NULL);
        assert_true(h1 != h2);
    }
    /* the clients report the same run differently */
    assert_true(stream_hash("mesh8", TTM_SIM_IDENTITY, 1, NULL) !=
                stream_hash("mesh8", TTM_SIM_LEGACY, 1, NULL));
}

/* ---- table, errors, check ------------------------------------------------------------------ */

static void test_table(void **state)
{
    (void)state;
    static const char *const required[] = {"mesh2",        "mesh8", "mesh32", "program-pool",
                                           "pre-tracking", "reuse", "leaks",  "multi-process",
                                           "cb-kernel",    "trace", "llama",  "mix2",
                                           "mix8",         "mix32"};
    size_t n = 0;
    const ttm_sim_scenario *s = ttm_sim_scenarios(&n);
    assert_non_null(s);
    assert_true(n >= sizeof required / sizeof required[0]);
    assert_ptr_equal(ttm_sim_scenarios(NULL), s);
    for (size_t i = 0; i < n; i++) {
        assert_non_null(s[i].name);
        assert_non_null(s[i].summary);
        assert_true(strlen(s[i].summary) > 10 && strlen(s[i].summary) < 100);
        assert_null(strchr(s[i].summary, '\n'));
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(s[i].name, s[j].name);
    }
    for (size_t k = 0; k < sizeof required / sizeof required[0]; k++) {
        bool found = false;
        for (size_t i = 0; i < n; i++)
            found = found || strcmp(s[i].name, required[k]) == 0;
        if (!found)
            fail_msg("scenario %s is missing", required[k]);
    }
}

static void count_only(void *arg, uint32_t pid, const ttm_event *ev)
{
    (void)pid;
    (void)ev;
    (*(uint64_t *)arg)++;
}

static void test_unknown_name(void **state)
{
    (void)state;
    uint64_t n = 0;
    ttm_sim_truth truth;
    assert_int_equal(ttm_sim_run("no-such-scenario", TTM_SIM_IDENTITY, 1, count_only, &n, &truth),
                     TTM_ENOENT);
    assert_int_equal(ttm_sim_run(NULL, TTM_SIM_IDENTITY, 1, count_only, &n, NULL), TTM_ENOENT);
    assert_int_equal(ttm_sim_run("", TTM_SIM_LEGACY, 1, count_only, &n, NULL), TTM_ENOENT);
    assert_int_equal(n, 0);
    assert_int_equal(ttm_sim_run("reuse", TTM_SIM_IDENTITY, 1, NULL, NULL, NULL), TTM_EINVAL);
    /* truth may be NULL */
    assert_int_equal(ttm_sim_run("reuse", TTM_SIM_LEGACY, 1, count_only, &n, NULL), TTM_OK);
    assert_true(n > 0);
}

typedef struct lines {
    int n;
    char first[160];
} lines;

static void collect_line(void *arg, const char *line)
{
    lines *l = arg;
    if (l->n++ == 0)
        snprintf(l->first, sizeof l->first, "%s", line);
}

static void test_check_reports_differences(void **state)
{
    (void)state;
    ttm_sim_truth truth;
    ttm_registry *reg = run_checked("program-pool", TTM_SIM_IDENTITY, 1, &truth, NULL);
    ttm_sim_truth bad = truth;
    bad.class_count[TTM_CLASS_DOUBLE_FREE]++;
    lines l = {0};
    assert_int_equal(ttm_sim_check(&bad, reg, collect_line, &l), 1);
    assert_int_equal(l.n, 1);
    char want[160];
    snprintf(want, sizeof want, "class double_free: expected %llu, got %llu",
             (unsigned long long)bad.class_count[TTM_CLASS_DOUBLE_FREE],
             (unsigned long long)truth.class_count[TTM_CLASS_DOUBLE_FREE]);
    assert_string_equal(l.first, want);

    bad = truth;
    assert_true(bad.npeaks > 0);
    bad.peaks[0].bytes += 1;
    bad.leaked_bytes += 4096;
    bad.events += 1;
    memset(&l, 0, sizeof l);
    assert_int_equal(ttm_sim_check(&bad, reg, collect_line, &l), 3);
    assert_int_equal(ttm_sim_check(&bad, reg, NULL, NULL), 3);
    assert_int_equal(l.n, 3);
    assert_non_null(strstr(l.first, "events: expected"));

    bad = truth;
    bad.peaks[0].device = 7; /* a device the registry never saw */
    memset(&l, 0, sizeof l);
    assert_int_equal(ttm_sim_check(&bad, reg, collect_line, &l), 1);
    assert_non_null(strstr(l.first, "peak device 7 DRAM: expected"));
    assert_non_null(strstr(l.first, ", got 0"));
    ttm_registry_close(reg);
}

/* ---- call sites ---------------------------------------------------------------------------- */

typedef struct sites_run {
    ttm_stacks *st;
    uint64_t hash; /* the stream with stack and scope zeroed */
    uint64_t events, scoped;
    uint64_t bad; /* events whose stack breaks the rules below */
    uint64_t pool_double_frees, view_events;
    bool want_pool; /* every double_free comes from the pool's release */
    char first_bad[320];
} sites_run;

/* The function of frame k of stack id (NULL when there is none), NUL-terminated in buf. */
static const char *frame_function(const ttm_stacks *st, uint32_t stack, size_t k, char *buf,
                                  size_t cap)
{
    const uint32_t *frames = NULL;
    size_t n = ttm_stacks_stack_get(st, stack, &frames);
    if (k >= n)
        return NULL;
    const ttm_frame *f = ttm_stacks_frame_get(st, frames[k]);
    size_t len = 0;
    const char *s = f != NULL && f->kind == TTM_FRAME_TEXT
                        ? ttm_stacks_string_get(st, f->function, &len)
                        : NULL;
    if (s == NULL || len >= cap)
        return NULL;
    memcpy(buf, s, len);
    buf[len] = '\0';
    return buf;
}

static void sites_bad(sites_run *r, const char *why, uint32_t expect)
{
    char names[96];
    class_names(expect, names, sizeof names);
    if (r->bad++ == 0)
        snprintf(r->first_bad, sizeof r->first_bad, "event %llu (%s): %s",
                 (unsigned long long)r->events, names, why);
}

static void on_sited(void *arg, uint32_t pid, const ttm_event *ev, uint32_t expect)
{
    sites_run *r = arg;
    ttm_event plain = *ev;
    r->events++;
    if (ev->kind == TTM_EV_ALLOC || ev->kind == TTM_EV_FREE) {
        plain.stack = plain.scope = 0;
        char fn[256];
        const uint32_t *frames = NULL;
        size_t n = ttm_stacks_stack_get(r->st, ev->stack, &frames);
        const char *inner = frame_function(r->st, ev->stack, 0, fn, sizeof fn);
        const char *want_inner = ev->kind == TTM_EV_ALLOC ? "tt::tt_metal::Buffer::allocate_impl"
                                                          : "tt::tt_metal::Buffer::deallocate_impl";
        const ttm_frame *outer = n > 0 ? ttm_stacks_frame_get(r->st, frames[n - 1]) : NULL;
        size_t mlen = 0;
        const char *module =
            outer != NULL ? ttm_stacks_string_get(r->st, outer->module, &mlen) : NULL;
        if (n < 3)
            sites_bad(r, "fewer than 3 frames", expect);
        else if (inner == NULL || strcmp(inner, want_inner) != 0)
            sites_bad(r, "the innermost frame is not the buffer call", expect);
        else if (module == NULL || mlen != 14 || memcmp(module, "ttmem simulate", 14) != 0 ||
                 outer->file == 0)
            sites_bad(r, "the outermost frame is not a scenario's function", expect);
        if (ev->scope != 0) {
            size_t len = 0;
            if (ttm_stacks_string_get(r->st, ev->scope, &len) == NULL || len == 0)
                sites_bad(r, "a scope id the table does not hold", expect);
            r->scoped++;
        }
        if (expect & (TTM_CLASS_BIT(TTM_CLASS_ALLOC_VIEW) | TTM_CLASS_BIT(TTM_CLASS_FREE_VIEW) |
                      TTM_CLASS_BIT(TTM_CLASS_VIEW_AFTER_OWNER))) {
            const char *layer = frame_function(r->st, ev->stack, 1, fn, sizeof fn);
            if (layer == NULL || strstr(layer, "MeshBuffer") == NULL ||
                strstr(layer, "(per-device") == NULL)
                sites_bad(r, "a view without the MeshBuffer view frame", expect);
            r->view_events++;
        }
        if (expect & TTM_CLASS_BIT(TTM_CLASS_DOUBLE_FREE)) {
            const char *site = frame_function(r->st, ev->stack, 1, fn, sizeof fn);
            bool pool =
                site != NULL && strcmp(site, "tt::tt_metal::ProgramBufferPool::release") == 0;
            r->pool_double_frees += pool;
            if (r->want_pool && !pool)
                sites_bad(r, "a double free not from the pool's release", expect);
        }
    }
    hash_bytes(&r->hash, &pid, sizeof pid);
    hash_bytes(&r->hash, &plain, sizeof plain);
}

static void hash_plain(void *arg, uint32_t pid, const ttm_event *ev, uint32_t expect)
{
    (void)expect;
    hash_bytes(arg, &pid, sizeof pid);
    hash_bytes(arg, ev, sizeof *ev);
}

static void test_call_sites(void **state)
{
    (void)state;
    size_t n = 0;
    const ttm_sim_scenario *s = ttm_sim_scenarios(&n);
    for (size_t i = 0; i < n; i++) {
        for (int c = 0; c < 2; c++) {
            ttm_stacks *st = NULL;
            assert_int_equal(ttm_stacks_open(&st, NULL), TTM_OK);
            sites_run r = {.st = st, .hash = 0xcbf29ce484222325ull};
            r.want_pool = strcmp(s[i].name, "program-pool") == 0 || strcmp(s[i].name, "llama") == 0;
            ttm_sim_truth with, without;
            assert_int_equal(
                ttm__sim_run_expect(s[i].name, (ttm_sim_client)c, 3, st, on_sited, &r, &with),
                TTM_OK);
            uint64_t plain = 0xcbf29ce484222325ull;
            assert_int_equal(ttm__sim_run_expect(s[i].name, (ttm_sim_client)c, 3, NULL, hash_plain,
                                                 &plain, &without),
                             TTM_OK);
            if (r.bad > 0)
                fail_msg("%s (%s client): %llu events: %s", s[i].name,
                         client_name((ttm_sim_client)c), (unsigned long long)r.bad, r.first_bad);
            /* the same events and truth, but for the call sites */
            assert_true(r.hash == plain);
            assert_memory_equal(&with, &without, offsetof(ttm_sim_truth, has_sites));
            assert_memory_equal(with.cause_count, without.cause_count, sizeof with.cause_count);
            assert_memory_equal(with.cause_allocs, without.cause_allocs, sizeof with.cause_allocs);
            assert_memory_equal(with.cause_ambiguous, without.cause_ambiguous,
                                sizeof with.cause_ambiguous);
            assert_int_equal(with.cause_unstated, without.cause_unstated);
            assert_memory_equal(with.storms, without.storms, sizeof with.storms);
            assert_true(with.has_sites && !without.has_sites && without.nsites == 0);
            if (r.scoped == 0)
                fail_msg("%s: no event has a scope", s[i].name);
            if (r.want_pool && c == TTM_SIM_IDENTITY)
                assert_true(r.pool_double_frees > 0);
            if (strncmp(s[i].name, "mesh", 4) == 0 && c == TTM_SIM_IDENTITY)
                assert_true(r.view_events > 0);
            ttm_stacks_stats ss;
            ttm_stacks_stats_get(st, &ss);
            assert_int_equal(ss.full + ss.invalid, 0);
            assert_true(ss.stacks > 0 && ss.stacks < 200); /* a few paths, not one per event */
            ttm_stacks_close(st);
        }
    }
}

static void apply_plain(void *arg, uint32_t pid, const ttm_event *ev)
{
    ttm_registry_apply(arg, pid, ev);
}

/* With call sites into the registry's own table, the check also holds every (class, stack) of
 * the truth against the offenders' sites and the leak groups, and a truth with a site moved to
 * another stack, or counted once more, is told apart. */
static void test_sites_checked(void **state)
{
    (void)state;
    size_t n = 0;
    const ttm_sim_scenario *s = ttm_sim_scenarios(&n);
    static ttm_sim_truth truth, bad;
    for (size_t i = 0; i < n; i++) {
        for (int c = 0; c < 2; c++) {
            ttm_registry *reg = NULL;
            assert_int_equal(ttm_registry_open(&reg, NULL), TTM_OK);
            assert_int_equal(ttm_sim_run_stacks(s[i].name, (ttm_sim_client)c, 4,
                                                ttm_registry_stacks(reg), apply_plain, reg, &truth),
                             TTM_OK);
            assert_true(truth.has_sites);
            assert_int_equal(truth.sites_lost, 0);
            size_t diffs = ttm_sim_check(&truth, reg, print_line, (void *)s[i].name);
            assert_int_equal(diffs, 0);
            /* every anomaly and leak is in the truth's sites (but invalid events of no known
             * kind: they carry no call site) */
            uint64_t per_class[TTM_CLASS__COUNT] = {0};
            for (size_t k = 0; k < truth.nsites; k++) {
                assert_int_not_equal(truth.sites[k].stack, 0);
                per_class[truth.sites[k].cls] += truth.sites[k].count;
            }
            for (unsigned k = 0; k < TTM_CLASS__COUNT; k++)
                if ((ttm_class_is_anomaly(k) || k == TTM_CLASS_LEAKED_AT_EXIT) &&
                    (k == TTM_CLASS_INVALID ? per_class[k] > truth.class_count[k]
                                            : per_class[k] != truth.class_count[k]))
                    fail_msg("%s: %s: %llu in sites, %llu in all", s[i].name, ttm_class_name(k),
                             (unsigned long long)per_class[k],
                             (unsigned long long)truth.class_count[k]);
            bool inexact[TTM_CLASS__COUNT] = {false};
            size_t noffs = ttm_registry_offenders(reg, TTM_CLASS__COUNT, NULL, 0);
            ttm_offender *offs = calloc(noffs + 1, sizeof *offs);
            assert_non_null(offs);
            noffs = ttm_registry_offenders(reg, TTM_CLASS__COUNT, offs, noffs);
            for (size_t k = 0; k < noffs; k++)
                inexact[offs[k].cls] =
                    inexact[offs[k].cls] ||
                    (offs[k].sites_other > 0 && offs[k].cls != TTM_CLASS_LEAKED_AT_EXIT);
            free(offs);
            for (size_t k = 0; k < truth.nsites; k++) {
                bad = truth;
                bad.sites[k].count++; /* told apart unless the class's counts are bounds */
                assert_true(ttm_sim_check(&bad, reg, NULL, NULL) >= !inexact[truth.sites[k].cls]);
                bad = truth;
                bad.sites[k].stack = truth.sites[k].stack + 1000;
                assert_true(ttm_sim_check(&bad, reg, NULL, NULL) >= 1);
            }
            ttm_registry_close(reg);
        }
    }
}

/* ---- causes -------------------------------------------------------------------------------- */

static uint64_t sum_causes(const uint64_t v[TTM_CAUSE__COUNT])
{
    uint64_t n = 0;
    for (unsigned c = 0; c < TTM_CAUSE__COUNT; c++)
        n += v[c];
    return n;
}

/* The truth of causes: the legacy client's every address-only unmatched free and duplicate
 * alloc has its cause stated, the identity client's events (object ids) none; the figures of
 * the scenarios built around a cause. */
static void test_causes_truth(void **state)
{
    (void)state;
    size_t n = 0;
    const ttm_sim_scenario *s = ttm_sim_scenarios(&n);
    for (size_t i = 0; i < n; i++) {
        for (int c = 0; c < 2; c++) {
            uint64_t events = 0;
            ttm_sim_truth t;
            assert_int_equal(ttm_sim_run(s[i].name, (ttm_sim_client)c, 1, count_only, &events, &t),
                             TTM_OK);
            assert_int_equal(t.cause_unstated, 0);
            if (c == TTM_SIM_IDENTITY) {
                assert_int_equal(sum_causes(t.cause_count) + sum_causes(t.cause_allocs), 0);
                continue;
            }
            assert_int_equal(sum_causes(t.cause_count),
                             t.class_count[TTM_CLASS_EXCESS_FREE] +
                                 t.class_count[TTM_CLASS_UNKNOWN_FREE] +
                                 t.class_count[TTM_CLASS_DOUBLE_FREE]);
            assert_int_equal(sum_causes(t.cause_allocs), t.class_count[TTM_CLASS_DUPLICATE_ALLOC]);
            for (unsigned k = 0; k < TTM_CAUSE__COUNT; k++)
                assert_true(t.cause_ambiguous[k] <= t.cause_count[k]);
        }
    }
    ttm_sim_truth t;
    uint64_t events = 0;
    /* the figures: 3,504 mesh-view frees and 1,100 extra frees at the argmax address */
    assert_int_equal(ttm_sim_run("llama", TTM_SIM_LEGACY, 7, count_only, &events, &t), TTM_OK);
    assert_int_equal(t.cause_count[TTM_CAUSE_MESH_MULTIPLICITY], 3504);
    assert_int_equal(t.cause_count[TTM_CAUSE_EXCESS_STORM], 1100);
    assert_int_equal(sum_causes(t.cause_count), 4604);
    assert_int_equal(sum_causes(t.cause_ambiguous), 0);
    assert_int_equal(ttm_sim_run("program-pool", TTM_SIM_LEGACY, 1, count_only, &events, &t),
                     TTM_OK);
    assert_int_equal(t.cause_count[TTM_CAUSE_DOUBLE_RELEASE], 36);
    assert_int_equal(t.cause_ambiguous[TTM_CAUSE_DOUBLE_RELEASE], 36);
    assert_int_equal(t.cause_allocs[TTM_CAUSE_UNEXPLAINED], 12);
    assert_int_equal(ttm_sim_run("pre-tracking", TTM_SIM_LEGACY, 1, count_only, &events, &t),
                     TTM_OK);
    assert_int_equal(t.cause_count[TTM_CAUSE_PRE_TRACKING], 24);
    assert_int_equal(ttm_sim_run("multi-process", TTM_SIM_LEGACY, 1, count_only, &events, &t),
                     TTM_OK);
    assert_int_equal(t.cause_count[TTM_CAUSE_UNEXPLAINED], 1);
    /* the mixes: every cause, for every seed */
    static const char *const mixes[] = {"mix2", "mix8", "mix32"};
    for (size_t m = 0; m < sizeof mixes / sizeof mixes[0]; m++) {
        for (size_t k = 0; k < sizeof seeds / sizeof seeds[0]; k++) {
            assert_int_equal(ttm_sim_run(mixes[m], TTM_SIM_LEGACY, seeds[k], count_only, &events,
                                         &t),
                             TTM_OK);
            for (unsigned c = 0; c < TTM_CAUSE__COUNT; c++)
                if (t.cause_count[c] == 0)
                    fail_msg("%s seed %llu: no unmatched free of cause %s", mixes[m],
                             (unsigned long long)seeds[k], ttm_cause_name(c));
            assert_true(t.cause_count[TTM_CAUSE_EXCESS_STORM] >= 2 * 16); /* two storms */
            assert_true(t.cause_allocs[TTM_CAUSE_UNEXPLAINED] > 0);
        }
    }
}

/* The check of causes: the mixes pass, and a truth with frees moved to another cause, the
 * accuracy below 99%, a duplicate alloc more or a cause not stated is told apart; with the
 * registry's attribution off only the statements are checked. */
static void test_causes_checked(void **state)
{
    (void)state;
    static const char *const mixes[] = {"mix2", "mix8", "mix32"};
    for (size_t m = 0; m < sizeof mixes / sizeof mixes[0]; m++) {
        ttm_sim_truth truth;
        ttm_registry *reg = run_checked(mixes[m], TTM_SIM_LEGACY, 3, &truth, NULL);
        ttm_sim_cause_score sc;
        ttm_sim_cause_score_of(&truth, reg, &sc);
        assert_true(sc.attributed);
        assert_int_equal(sc.got_frees, sc.truth_frees);
        assert_true(sc.accuracy >= TTM_SIM_CAUSE_ACCURACY);

        /* 5 mesh frees the truth calls pre-tracking: the registry's mesh frees beyond the
         * truth's are not ones it calls ambiguous, and its pre-tracking frees are below the
         * least allowed */
        ttm_sim_truth bad = truth;
        bad.cause_count[TTM_CAUSE_MESH_MULTIPLICITY] -= 5;
        bad.cause_count[TTM_CAUSE_PRE_TRACKING] += 5;
        lines l = {0};
        assert_true(ttm_sim_check(&bad, reg, collect_line, &l) >= 2);
        assert_non_null(strstr(l.first, "cause mesh_multiplicity: "));
        assert_non_null(strstr(l.first, " frees beyond the truth's"));
        bad.cause_count[TTM_CAUSE_MESH_MULTIPLICITY] += 5;
        bad.cause_count[TTM_CAUSE_UNEXPLAINED] -= 2;
        bad.cause_count[TTM_CAUSE_PRE_TRACKING] -= 3;
        memset(&l, 0, sizeof l);
        assert_true(ttm_sim_check(&bad, reg, collect_line, &l) >= 1);
        assert_non_null(strstr(l.first, "cause pre_tracking: expected"));

        /* every double release a mesh free (ambiguous) in the truth: within the bounds, and
         * the registry calls its double releases ambiguous, but the accuracy fails */
        bad = truth;
        uint64_t dr = bad.cause_count[TTM_CAUSE_DOUBLE_RELEASE];
        bad.cause_count[TTM_CAUSE_DOUBLE_RELEASE] = 0;
        bad.cause_ambiguous[TTM_CAUSE_DOUBLE_RELEASE] = 0;
        bad.cause_count[TTM_CAUSE_MESH_MULTIPLICITY] += dr;
        bad.cause_ambiguous[TTM_CAUSE_MESH_MULTIPLICITY] += dr;
        assert_true(sc.got_ambiguous[TTM_CAUSE_DOUBLE_RELEASE] == sc.got[TTM_CAUSE_DOUBLE_RELEASE]);
        memset(&l, 0, sizeof l);
        assert_int_equal(ttm_sim_check(&bad, reg, collect_line, &l), 1);
        assert_non_null(strstr(l.first, "causes: expected at least 99.00%"));

        /* a storm free the truth calls a double release: within the bounds (the double
         * releases are ambiguous), but the registry does not call its storm frees ambiguous */
        bad = truth;
        bad.cause_count[TTM_CAUSE_EXCESS_STORM]--;
        bad.cause_count[TTM_CAUSE_DOUBLE_RELEASE]++;
        memset(&l, 0, sizeof l);
        assert_int_equal(ttm_sim_check(&bad, reg, collect_line, &l), 1);
        assert_non_null(strstr(l.first, "cause excess_storm: 1 frees beyond the truth's"));

        bad = truth;
        bad.cause_allocs[TTM_CAUSE_UNEXPLAINED]++;
        memset(&l, 0, sizeof l);
        assert_int_equal(ttm_sim_check(&bad, reg, collect_line, &l), 1);
        assert_non_null(strstr(l.first, "cause unexplained duplicate allocs: expected"));

        bad = truth;
        bad.cause_count[TTM_CAUSE_EXCESS_STORM]++;
        memset(&l, 0, sizeof l);
        assert_true(ttm_sim_check(&bad, reg, collect_line, &l) >= 1);
        assert_non_null(strstr(l.first, "unmatched frees of all causes: expected"));

        /* the storms: both found with their evidence; one moved, one free more, an
         * irregular one, another pid: told apart */
        assert_int_equal(truth.nstorms, 2);
        assert_true(ttm_sim_storm_regular(&truth.storms[0]) &&
                    ttm_sim_storm_regular(&truth.storms[1]));
        assert_int_equal(truth.storms[0].pid, 1000);
        assert_int_equal(truth.storms[1].pid, 1001);
        bad = truth;
        bad.storms[0].addr += 0x100;
        memset(&l, 0, sizeof l);
        assert_int_equal(ttm_sim_check(&bad, reg, collect_line, &l), 1);
        assert_non_null(strstr(l.first, "storm at device 1 0x2000100: not among the registry's"));
        bad = truth;
        bad.storms[1].frees++;
        memset(&l, 0, sizeof l);
        assert_true(ttm_sim_check(&bad, reg, collect_line, &l) >= 1);
        assert_non_null(strstr(l.first, " frees: expected"));
        bad = truth;
        bad.storms[0].gaps_sq *= 4;
        memset(&l, 0, sizeof l);
        assert_int_equal(ttm_sim_check(&bad, reg, collect_line, &l), 1);
        assert_non_null(strstr(l.first, " regular: expected 0, got 1"));
        bad = truth;
        bad.storms[1].pid = 4242;
        assert_int_equal(ttm_sim_check(&bad, reg, NULL, NULL), 1);

        bad = truth;
        bad.cause_unstated = 2;
        assert_int_equal(ttm_sim_check(&bad, reg, NULL, NULL), 1);
        ttm_registry_close(reg);

        /* attribution off: nothing to compare but the statements */
        ttm_registry_config cfg = {.no_causes = true};
        assert_int_equal(ttm_registry_open(&reg, &cfg), TTM_OK);
        assert_int_equal(ttm_sim_run(mixes[m], TTM_SIM_LEGACY, 3, apply_plain, reg, &truth),
                         TTM_OK);
        ttm_sim_cause_score_of(&truth, reg, &sc);
        assert_false(sc.attributed);
        assert_int_equal(sc.got_frees, 0);
        assert_int_equal(ttm_sim_check(&truth, reg, print_line, (void *)mixes[m]), 0);
        ttm_registry_close(reg);
    }
}

int main(void)
{
    size_t n = 0;
    const ttm_sim_scenario *s = ttm_sim_scenarios(&n);
    static const struct CMUnitTest fixed[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_unknown_name),
        cmocka_unit_test(test_check_reports_differences),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_scenario_findings),
        cmocka_unit_test(test_memtypes),
        cmocka_unit_test(test_llama_figures),
        cmocka_unit_test(test_call_sites),
        cmocka_unit_test(test_sites_checked),
        cmocka_unit_test(test_causes_truth),
        cmocka_unit_test(test_causes_checked),
    };
    size_t nfixed = sizeof fixed / sizeof fixed[0];
    size_t ntests = nfixed + 2 * n;
    struct CMUnitTest *tests = calloc(ntests, sizeof *tests);
    scenario_case *cases = calloc(2 * n, sizeof *cases);
    char(*names)[64] = calloc(2 * n, sizeof *names);
    if (tests == NULL || cases == NULL || names == NULL)
        return 1;
    for (size_t i = 0; i < 2 * n; i++) {
        cases[i] = (scenario_case){s[i / 2].name, (ttm_sim_client)(i % 2)};
        snprintf(names[i], sizeof names[i], "scenario %s (%s)", cases[i].name,
                 client_name(cases[i].client));
        tests[i] = (struct CMUnitTest){names[i], test_scenario, NULL, NULL, &cases[i]};
    }
    memcpy(tests + 2 * n, fixed, sizeof fixed);
    int rc = _cmocka_run_group_tests("sim", tests, ntests, NULL, NULL);
    free(names);
    free(cases);
    free(tests);
    return rc;
}
