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

int ttm__sim_run_expect(const char *name, ttm_sim_client client, uint64_t seed,
                        ttm_stacks *stacks, ttm__sim_expect_fn fn, void *arg,
                        ttm_sim_truth *truth)
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
    scenario_fns[i](&S);
    ttm__sim_fini(&S);
    ttm__free(local);
    return TTM_OK;
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

int ttm_sim_run_stacks(const char *name, ttm_sim_client client, uint64_t seed,
                       ttm_stacks *stacks, ttm_sim_emit_fn emit, void *arg, ttm_sim_truth *truth)
{
    if (emit == NULL)
        return TTM_EINVAL;
    emit_adapter a = {emit, arg};
    return ttm__sim_run_expect(name, client, seed, stacks, emit_only, &a, truth);
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
    char line[160];
    snprintf(line, sizeof line, "%s: expected %" PRIu64 ", got %" PRIu64, what, expected, got);
    o->fn(o->arg, line);
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
    return o.n;
}
