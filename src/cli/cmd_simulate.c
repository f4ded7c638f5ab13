/*
 * cmd_simulate.c — `ttmem simulate`: runs a simulator scenario through the core registry,
 * prints the report, and with --check compares the core's verdict with the scenario's ground
 * truth. (`ttmem demo`, which runs simulated processes through a real daemon, is in
 * cmd_demo.c.)
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "common/alloc.h"
#include "common/fmt.h"
#include "sim/sim.h"

typedef struct sim_opts {
    const char *scenario;
    ttm_sim_client client;
    uint64_t seed;
    bool check;
    bool json;
    size_t top;
} sim_opts;

static void apply_event(void *arg, uint32_t pid, const ttm_event *ev)
{
    ttm_registry_apply(arg, pid, ev);
}

static void print_difference(void *arg, const char *line)
{
    fprintf(arg, "ttmem: check failed: %s\n", line);
}

static const char *client_name(ttm_sim_client c)
{
    return c == TTM_SIM_LEGACY ? "legacy" : "identity";
}

static void list_scenarios(void)
{
    size_t n = 0;
    const ttm_sim_scenario *s = ttm_sim_scenarios(&n);
    for (size_t i = 0; i < n; i++)
        printf("%-16s %s\n", s[i].name, s[i].summary);
}

/* Runs one scenario into a fresh registry. Returns 0, or an exit status after printing the
 * error. *reg_out and *truth receive the results. */
static int run_scenario(const sim_opts *o, ttm_registry **reg_out, ttm_sim_truth *truth)
{
    ttm_registry *reg = NULL;
    int err = ttm_registry_open(&reg, NULL);
    if (err != TTM_OK)
        return ttm_cli_fail("cannot create the registry: %s", ttm_strerror(err)), 1;
    /* the events carry call sites interned in the registry's own table */
    err = ttm_sim_run_stacks(o->scenario, o->client, o->seed, ttm_registry_stacks(reg), apply_event,
                             reg, truth);
    if (err == TTM_ENOENT) {
        ttm_registry_close(reg);
        return ttm_cli_fail("unknown scenario '%s'; 'ttmem simulate --scenario list' lists them",
                            o->scenario);
    }
    if (err != TTM_OK) {
        ttm_registry_close(reg);
        return ttm_cli_fail("scenario '%s' failed: %s", o->scenario, ttm_strerror(err)), 1;
    }
    *reg_out = reg;
    return 0;
}

static int report_registry(const ttm_registry *reg, const sim_opts *o, FILE *out)
{
    ttm_report *r = NULL;
    ttm_report_options ropt = {.top = o->top,
                               .sections = TTM_REPORT_SECTIONS | TTM_SNAP_BIT(TTM_SNAP_SEC_STACKS)};
    int err = ttm_report_build(reg, &ropt, &r);
    if (err != TTM_OK)
        return ttm_cli_fail("cannot build the report: %s", ttm_strerror(err)), 1;
    char title[128];
    snprintf(title, sizeof title, "simulate %s (%s client, seed %llu)", o->scenario,
             client_name(o->client), (unsigned long long)o->seed);
    if (o->json)
        ttm_render_json(out, r, title);
    else
        ttm_render_text(out, r, title);
    ttm_report_free(r);
    return 0;
}

static int usage_error(const char *msg)
{
    return ttm_cli_fail("simulate: %s; usage: ttmem simulate --scenario NAME|list "
                        "[--client identity|legacy] [--seed N] [--check] [--json] [--top N]",
                        msg);
}

int ttm_cli_simulate(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"scenario", required_argument, NULL, 's'}, {"client", required_argument, NULL, 'c'},
        {"seed", required_argument, NULL, 'S'},     {"check", no_argument, NULL, 'k'},
        {"json", no_argument, NULL, 'j'},           {"top", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    sim_opts o = {.client = TTM_SIM_IDENTITY, .seed = 1};
    uint64_t v;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            o.scenario = optarg;
            break;
        case 'c':
            if (strcmp(optarg, "identity") == 0)
                o.client = TTM_SIM_IDENTITY;
            else if (strcmp(optarg, "legacy") == 0)
                o.client = TTM_SIM_LEGACY;
            else
                return usage_error("--client must be 'identity' or 'legacy'");
            break;
        case 'S':
            if (ttm_cli_parse_u64(optarg, &v) != TTM_OK)
                return ttm_cli_fail("simulate: --seed '%s' is not a number", optarg);
            o.seed = v;
            break;
        case 'k':
            o.check = true;
            break;
        case 'j':
            o.json = true;
            break;
        case 't':
            if (ttm_cli_parse_top("simulate", optarg, &o.top) != 0)
                return 2;
            break;
        case 'h':
            printf("usage: ttmem simulate --scenario NAME|list [--client identity|legacy] "
                   "[--seed N] [--check] [--json] [--top N]\n\nscenarios:\n");
            list_scenarios();
            return 0;
        default:
            return ttm_cli_bad_option("simulate", argv);
        }
    }
    if (optind < argc)
        return ttm_cli_fail("simulate: unexpected argument '%s'", argv[optind]);
    if (o.scenario == NULL)
        return usage_error("--scenario is required");
    if (strcmp(o.scenario, "list") == 0) {
        list_scenarios();
        return 0;
    }

    ttm_registry *reg = NULL;
    ttm_sim_truth truth;
    int rc = run_scenario(&o, &reg, &truth);
    if (rc != 0)
        return rc;
    rc = report_registry(reg, &o, stdout);
    if (rc == 0 && o.check) {
        size_t diffs = ttm_sim_check(&truth, reg, print_difference, stderr);
        if (diffs > 0) {
            fprintf(stderr, "ttmem: check failed: %zu difference%s from the ground truth of "
                            "'%s' (%s client)\n",
                    diffs, diffs == 1 ? "" : "s", o.scenario, client_name(o.client));
            rc = 1;
        } else {
            fprintf(stderr, "ttmem: check passed: the core's verdict equals the ground truth of "
                            "'%s' (%s client)\n",
                    o.scenario, client_name(o.client));
        }
    }
    ttm_registry_close(reg);
    return rc;
}
