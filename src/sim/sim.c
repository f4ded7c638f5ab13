/*
 * sim.c — the simulator's front: the scenario table, running a scenario, and checking the core
 * registry's verdict against the scenario's ground truth.
 *
 * The table is TTM__SIM_SCENARIO_MAP in sim_internal.h, the single list from which both the
 * public name/summary table and the dispatch are generated.
 */
#include "sim/sim.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "sim/sim_internal.h"

static const ttm_sim_scenario scenario_table[] = {
#define TTM__SIM_ROW(id, name, summary) {name, summary},
    TTM__SIM_SCENARIO_MAP(TTM__SIM_ROW)
#undef TTM__SIM_ROW
};

static void (*const scenario_fns[])(ttm__sim *) = {
#define TTM__SIM_FN(id, name, summary) ttm__sim_scenario_##id,
    TTM__SIM_SCENARIO_MAP(TTM__SIM_FN)
#undef TTM__SIM_FN
};

#define NSCENARIOS (sizeof scenario_table / sizeof scenario_table[0])

const ttm_sim_scenario *ttm_sim_scenarios(size_t *count)
{
    if (count != NULL)
        *count = NSCENARIOS;
    return scenario_table;
}

/* A scenario run with the peak sets told to peak_fn (NULL: not). */
static int run_scenario(const char *name, ttm_sim_client client, uint64_t seed, ttm_stacks *stacks,
                        ttm__sim_expect_fn fn, void *arg, ttm_sim_truth *truth,
                        ttm_sim_peak_fn peak_fn, void *peak_arg)
{
    size_t i = 0;
    while (name != NULL && i < NSCENARIOS && strcmp(name, scenario_table[i].name) != 0)
        i++;
    if (name == NULL || i == NSCENARIOS)
        return TTM_ENOENT;
    if (client != TTM_SIM_IDENTITY && client != TTM_SIM_LEGACY)
        return TTM_EINVAL;
    ttm_sim_truth *local = NULL;
    if (truth == NULL)
        truth = local = ttm__xmalloc(sizeof *local);
    ttm__sim S;
    ttm__sim_init(&S, client, seed, stacks, fn, arg, truth);
    S.peak_fn = peak_fn;
    S.peak_arg = peak_arg;
    scenario_fns[i](&S);
    ttm__sim_fini(&S);
    ttm__free(local);
    return TTM_OK;
}

int ttm__sim_run_expect(const char *name, ttm_sim_client client, uint64_t seed, ttm_stacks *stacks,
                        ttm__sim_expect_fn fn, void *arg, ttm_sim_truth *truth)
{
    return run_scenario(name, client, seed, stacks, fn, arg, truth, NULL, NULL);
}

typedef struct emit_adapter {
    ttm_sim_emit_fn emit;
    void *arg;
} emit_adapter;

static void emit_only(void *arg, uint32_t pid, const ttm_event *ev, uint32_t expect)
{
    const emit_adapter *a = arg;
    (void)expect;
    a->emit(a->arg, pid, ev);
}

int ttm_sim_run_stacks(const char *name, ttm_sim_client client, uint64_t seed, ttm_stacks *stacks,
                       ttm_sim_emit_fn emit, void *arg, ttm_sim_truth *truth)
{
    if (emit == NULL)
        return TTM_EINVAL;
    emit_adapter a = {emit, arg};
    return ttm__sim_run_expect(name, client, seed, stacks, emit_only, &a, truth);
}

int ttm_sim_run_peaks(const char *name, ttm_sim_client client, uint64_t seed, ttm_stacks *stacks,
                      ttm_sim_emit_fn emit, void *arg, ttm_sim_truth *truth,
                      ttm_sim_peak_fn peak_fn, void *peak_arg)
{
    if (emit == NULL || peak_fn == NULL)
        return TTM_EINVAL;
    emit_adapter a = {emit, arg};
    return run_scenario(name, client, seed, stacks, emit_only, &a, truth, peak_fn, peak_arg);
}

int ttm_sim_run(const char *name, ttm_sim_client client, uint64_t seed, ttm_sim_emit_fn emit,
                void *arg, ttm_sim_truth *truth)
{
    return ttm_sim_run_stacks(name, client, seed, NULL, emit, arg, truth);
}

/* ---- check --------------------------------------------------------------------------------- */

typedef struct diff_out {
    void (*fn)(void *arg, const char *line);
    void *arg;
    size_t n;
} diff_out;

static void differ(diff_out *o, const char *what, uint64_t expected, uint64_t got)
{
    if (expected == got)
        return;
    o->n++;
    if (o->fn == NULL)
        return;
    char line[320];
    snprintf(line, sizeof line, "%s: expected %" PRIu64 ", got %" PRIu64, what, expected, got);
    o->fn(o->arg, line);
}

/* A (class, stack) count of the registry's: its offender entries' sites summed by stack, and
 * its leak groups. */
typedef struct site_sum {
    ttm_sim_site *v;
    size_t n, cap;
} site_sum;

static void site_add(site_sum *a, unsigned cls, uint32_t stack, uint64_t count)
{
    for (size_t i = 0; i < a->n; i++) {
        if (a->v[i].cls == cls && a->v[i].stack == stack) {
            a->v[i].count += count;
            return;
        }
    }
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 64;
        a->v = ttm__xreallocarray(a->v, a->cap, sizeof *a->v);
    }
    a->v[a->n++] = (ttm_sim_site){.cls = (uint8_t)cls, .stack = stack, .count = count};
}

static uint64_t site_count(const ttm_sim_site *v, size_t n, unsigned cls, uint32_t stack)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].cls == cls && v[i].stack == stack)
            return v[i].count;
    return 0;
}

/* Each (class, stack) of the truth against the registry's sites, and each of the registry's
 * against the truth (see sim.h). */
static void check_sites(diff_out *o, const ttm_sim_truth *truth, const ttm_registry *reg)
{
    char what[96];
    differ(o, "sites past the truth's bound", 0, truth->sites_lost);
    site_sum got = {0};
    bool inexact[TTM_CLASS__COUNT] = {false};
    size_t noffs = ttm_registry_offenders(reg, TTM_CLASS__COUNT, NULL, 0);
    ttm_offender *offs = ttm__xcalloc(noffs ? noffs : 1, sizeof *offs);
    noffs = ttm_registry_offenders(reg, TTM_CLASS__COUNT, offs, noffs);
    for (size_t i = 0; i < noffs; i++) {
        if (offs[i].cls == TTM_CLASS_LEAKED_AT_EXIT)
            continue; /* the leak groups below say it (by allocation stack, exactly) */
        inexact[offs[i].cls] = inexact[offs[i].cls] || offs[i].sites_other > 0;
        for (size_t k = 0; k < offs[i].nsites; k++)
            site_add(&got, offs[i].cls, offs[i].sites[k].stack, offs[i].sites[k].count);
    }
    ttm__free(offs);
    size_t ngroups = ttm_registry_leak_groups(reg, NULL, 0);
    ttm_leak_group *groups = ttm__xcalloc(ngroups ? ngroups : 1, sizeof *groups);
    ngroups = ttm_registry_leak_groups(reg, groups, ngroups);
    for (size_t i = 0; i < ngroups; i++)
        site_add(&got, TTM_CLASS_LEAKED_AT_EXIT, groups[i].stack, groups[i].count);
    ttm__free(groups);

    for (size_t i = 0; i < truth->nsites; i++) {
        const ttm_sim_site *s = &truth->sites[i];
        uint64_t n = site_count(got.v, got.n, s->cls, s->stack);
        /* an entry that saw more sites than it keeps: space-saving never reports more than a
         * site's true count */
        if (inexact[s->cls] && n <= s->count)
            continue;
        snprintf(what, sizeof what, "class %s from stack %" PRIu32, ttm_class_name(s->cls),
                 s->stack);
        differ(o, what, s->count, n);
    }
    for (size_t i = 0; i < got.n; i++) {
        const ttm_sim_site *s = &got.v[i];
        if (site_count(truth->sites, truth->nsites, s->cls, s->stack) != 0)
            continue;
        snprintf(what, sizeof what, "class %s from stack %" PRIu32, ttm_class_name(s->cls),
                 s->stack);
        differ(o, what, 0, s->count);
    }
    ttm__free(got.v);
}

void ttm_sim_cause_score_of(const ttm_sim_truth *truth, const ttm_registry *reg,
                            ttm_sim_cause_score *out)
{
    memset(out, 0, sizeof *out);
    ttm_cause_stats st[TTM_CAUSE__COUNT];
    ttm_causes_info info;
    ttm_registry_causes(reg, st, &info);
    out->attributed = info.enabled;
    uint64_t ambiguous = 0;
    for (unsigned c = 0; c < TTM_CAUSE__COUNT; c++)
        ambiguous += truth->cause_ambiguous[c];
    for (unsigned c = 0; c < TTM_CAUSE__COUNT; c++) {
        uint64_t want = truth->cause_count[c], amb = truth->cause_ambiguous[c];
        out->got[c] = st[c].frees;
        out->got_ambiguous[c] = st[c].ambiguous;
        out->got_allocs[c] = st[c].allocs;
        out->low[c] = want - (amb < want ? amb : want);
        out->high[c] = want + (ambiguous - amb);
        out->truth_frees += want;
        out->got_frees += st[c].frees;
        out->right += st[c].frees < want ? st[c].frees : want;
    }
    if (out->truth_frees > 0)
        out->accuracy = (uint32_t)(out->right * 10000 / out->truth_frees);
    else
        out->accuracy = out->got_frees == 0 ? 10000 : 0;
}

uint64_t ttm_sim_storm_period_ns(const ttm_sim_storm *s)
{
    if (s->frees < 2)
        return 0;
    return (uint64_t)((double)(s->last_ts - s->first_ts) / (double)(s->frees - 1) + 0.5);
}

bool ttm_sim_storm_regular(const ttm_sim_storm *s)
{
    if (s->frees < 2)
        return false;
    double n = (double)(s->frees - 1);
    double mean = (double)(s->last_ts - s->first_ts) / n;
    return mean > 0 && s->gaps_sq / n - mean * mean < 0.25 * mean * mean;
}

/* A difference line of its own wording. */
static void differ_line(diff_out *o, const char *line)
{
    o->n++;
    if (o->fn != NULL)
        o->fn(o->arg, line);
}

/* Each storm of the truth among the registry's storm instances, with its evidence. */
static void check_storms(diff_out *o, const ttm_sim_truth *truth, const ttm_registry *reg)
{
    char what[200];
    differ(o, "storm frees past the truth's bound", 0, truth->storms_lost);
    ttm_cause_stats st[TTM_CAUSE__COUNT];
    ttm_registry_causes(reg, st, NULL);
    const ttm_cause_stats *cs = &st[TTM_CAUSE_EXCESS_STORM];
    for (size_t i = 0; i < truth->nstorms; i++) {
        const ttm_sim_storm *t = &truth->storms[i];
        const ttm_cause_instance *in = NULL;
        for (size_t k = 0; k < cs->ninstances && in == NULL; k++)
            if (cs->instances[k].device == t->device && cs->instances[k].addr == t->addr)
                in = &cs->instances[k];
        snprintf(what, sizeof what, "storm at device %u 0x%" PRIX64, t->device, t->addr);
        if (in == NULL) {
            char line[240];
            snprintf(line, sizeof line, "%s: not among the registry's storms", what);
            differ_line(o, line);
            continue;
        }
        size_t n = strlen(what);
        bool pid = false;
        for (uint8_t k = 0; k < in->npids; k++)
            pid = pid || in->pids[k] == t->pid;
        snprintf(what + n, sizeof what - n, " frees");
        differ(o, what, t->frees, in->frees);
        snprintf(what + n, sizeof what - n, " first time");
        differ(o, what, t->first_ts, in->first_ts);
        snprintf(what + n, sizeof what - n, " last time");
        differ(o, what, t->last_ts, in->last_ts);
        snprintf(what + n, sizeof what - n, " period (ns)");
        differ(o, what, ttm_sim_storm_period_ns(t), in->period_ns);
        snprintf(what + n, sizeof what - n, " regular");
        differ(o, what, ttm_sim_storm_regular(t), in->regular);
        snprintf(what + n, sizeof what - n, " has pid %" PRIu32, t->pid);
        differ(o, what, 1, pid);
    }
}

/* The causes of the registry against the truth's (see sim.h). */
static void check_causes(diff_out *o, const ttm_sim_truth *truth, const ttm_registry *reg)
{
    char what[200];
    differ(o, "address-only unmatched events without a stated cause", 0, truth->cause_unstated);
    ttm_sim_cause_score sc;
    ttm_sim_cause_score_of(truth, reg, &sc);
    if (!sc.attributed)
        return;
    differ(o, "unmatched frees of all causes", sc.truth_frees, sc.got_frees);
    for (unsigned c = 0; c < TTM_CAUSE__COUNT; c++) {
        if (sc.got[c] < sc.low[c] || sc.got[c] > sc.high[c]) {
            snprintf(what, sizeof what,
                     "cause %s: expected %" PRIu64 " frees (%" PRIu64 " to %" PRIu64
                     " with the ambiguous ones), got %" PRIu64,
                     ttm_cause_name(c), truth->cause_count[c], sc.low[c], sc.high[c], sc.got[c]);
            differ_line(o, what);
        }
        /* the report says how sure it is: frees it puts on c beyond the truth's are ones it
         * calls ambiguous itself */
        if (sc.got[c] > truth->cause_count[c] + sc.got_ambiguous[c]) {
            snprintf(what, sizeof what,
                     "cause %s: %" PRIu64 " frees beyond the truth's %" PRIu64
                     ", of which the registry calls only %" PRIu64 " ambiguous",
                     ttm_cause_name(c), sc.got[c] - truth->cause_count[c], truth->cause_count[c],
                     sc.got_ambiguous[c]);
            differ_line(o, what);
        }
        snprintf(what, sizeof what, "cause %s duplicate allocs", ttm_cause_name(c));
        differ(o, what, truth->cause_allocs[c], sc.got_allocs[c]);
    }
    check_storms(o, truth, reg);
    if (sc.accuracy < TTM_SIM_CAUSE_ACCURACY) {
        snprintf(what, sizeof what,
                 "causes: expected at least %u.%02u%% of the unmatched frees on the right cause, "
                 "got %u.%02u%% (%" PRIu64 " of %" PRIu64 ")",
                 TTM_SIM_CAUSE_ACCURACY / 100, TTM_SIM_CAUSE_ACCURACY % 100, sc.accuracy / 100,
                 sc.accuracy % 100, sc.right, sc.truth_frees);
        differ_line(o, what);
    }
}

size_t ttm_sim_check(const ttm_sim_truth *truth, const ttm_registry *reg,
                     void (*fn)(void *arg, const char *line), void *arg)
{
    diff_out o = {fn, arg, 0};
    ttm_totals t;
    ttm_registry_totals(reg, &t);
    char what[96];

    differ(&o, "events", truth->events, t.events);
    for (unsigned c = 0; c < TTM_CLASS__COUNT; c++) {
        snprintf(what, sizeof what, "class %s", ttm_class_name(c));
        differ(&o, what, truth->class_count[c], t.class_count[c]);
    }
    differ(&o, "leaked bytes", truth->leaked_bytes, t.class_bytes[TTM_CLASS_LEAKED_AT_EXIT]);

    size_t ndev = ttm_registry_devices(reg, NULL, 0);
    ttm_device_stats *devs = ttm__xcalloc(ndev ? ndev : 1, sizeof *devs);
    ndev = ttm_registry_devices(reg, devs, ndev);
    for (size_t i = 0; i < truth->npeaks && i < TTM_SIM_MAX_PEAKS; i++) {
        const ttm_sim_peak *p = &truth->peaks[i];
        uint64_t got = 0;
        for (size_t j = 0; j < ndev; j++)
            if (devs[j].device == p->device && p->memtype < TTM_MEMTYPE_COUNT)
                got = devs[j].mem[p->memtype].peak_bytes;
        snprintf(what, sizeof what, "peak device %u %s", p->device, ttm__memtype_name(p->memtype));
        differ(&o, what, p->bytes, got);
    }
    ttm__free(devs);
    if (truth->has_sites)
        check_sites(&o, truth, reg);
    check_causes(&o, truth, reg);
    return o.n;
}
