/*
 * cmd_simulate.c — `ttmem simulate`: runs a simulator scenario through the core registry,
 * prints the report, and with --check compares the core's verdict with the scenario's ground
 * truth; with --journal FILE it writes the run journal of what the registry was fed
 * (core/jtap.h), which `ttmem report FILE` reads back into the same report. (`ttmem demo`,
 * which runs simulated processes through a real daemon, is in cmd_demo.c.)
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/alloc.h"
#include "common/fmt.h"
#include "common/json.h"
#include "core/jtap.h"
#include "sim/sim.h"

typedef struct sim_opts {
    const char *scenario;
    ttm_sim_client client;
    uint64_t seed;
    bool check;
    bool json;
    size_t top;
    const char *journal; /* --journal FILE, NULL without */
    bool peaks;          /* --peaks: the ground truth's peaks instead of the report */
    bool sweep;          /* --seeds FIRST-LAST: --check over each seed, no report */
    uint64_t seed_last;  /* (the first is seed) */
} sim_opts;

/* Where the scenario's events go: the registry, through the journal's tap when there is one. */
typedef struct sim_sink {
    ttm_registry *reg;
    ttm_jtap *tap; /* NULL without --journal */
} sim_sink;

static void apply_event(void *arg, uint32_t pid, const ttm_event *ev)
{
    sim_sink *s = arg;
    if (s->tap != NULL)
        ttm_jtap_apply(s->tap, pid, ev);
    else
        ttm_registry_apply(s->reg, pid, ev);
}

/* The report's title, and the journal's RUN chunk: `ttmem report` shows the same. */
static void sim_title(const sim_opts *o, char *buf, size_t len);

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

/* One line for a journal that could not be written: the writer's errno when it has one (the
 * open's, e, when there is no writer). */
static int journal_fail(const sim_opts *o, ttm_journal_writer *w, int err, int e)
{
    if (w != NULL)
        e = ttm_journal_writer_errno(w);
    return ttm_cli_fail("simulate: cannot write the journal '%s': %s", o->journal,
                        e != 0 ? strerror(e) : ttm_strerror(err)),
           1;
}

/* Opens --journal's writer and starts tapping reg into it: CONFIG, then the RUN chunk. Returns
 * 0, or an exit status after printing the error (*w closed). */
static int journal_open(const sim_opts *o, ttm_registry *reg, ttm_journal_writer **w,
                        ttm_jtap *tap)
{
    *w = NULL;
    int err = ttm_journal_writer_open(o->journal, -1, &(ttm_journal_opts){0}, w);
    int open_errno = err == TTM_EIO ? errno : 0;
    if (err == TTM_OK)
        err = ttm_jtap_open(tap, reg, *w, NULL, 0);
    if (err == TTM_OK) {
        char title[128];
        sim_title(o, title, sizeof title);
        err = ttm_jtap_chunk(tap, TTM_JOURNAL_CHUNK_RUN, 0, title, strlen(title));
    }
    if (err != TTM_OK) {
        int rc = journal_fail(o, *w, err, open_errno);
        ttm_journal_writer_close(*w);
        *w = NULL;
        return rc;
    }
    return 0;
}

/* Stops the tap and closes the journal. Returns 0, or 1 after printing the error. */
static int journal_close(const sim_opts *o, ttm_journal_writer *w, ttm_jtap *tap)
{
    int err = ttm_jtap_close(tap);
    int errno_w = ttm_journal_writer_errno(w);
    int cerr = ttm_journal_writer_close(w);
    if (err == TTM_OK)
        err = cerr;
    if (err == TTM_OK)
        return 0;
    return ttm_cli_fail("simulate: cannot write the journal '%s': %s", o->journal,
                        errno_w != 0 ? strerror(errno_w) : ttm_strerror(err)),
           1;
}

/* --peaks: one peak of the model, with its live set, as a member of the "peaks" array. */
static void peak_json(void *arg, const ttm_sim_peak_set *p)
{
    ttm_json *j = arg;
    ttm__json_obj_begin(j, NULL);
    ttm__json_u64(j, "device", p->device);
    ttm__json_str(j, "memtype", ttm__memtype_name(p->memtype));
    ttm__json_u64(j, "bytes", p->bytes);
    ttm__json_u64(j, "ts", p->ts);
    ttm__json_arr_begin(j, "buffers");
    for (size_t i = 0; i < p->nlive; i++) {
        ttm__json_obj_begin(j, NULL);
        ttm__json_u64(j, "pid", p->live[i].pid);
        ttm__json_u64(j, "addr", p->live[i].addr);
        ttm__json_u64(j, "size", p->live[i].size);
        ttm__json_u64(j, "obj", p->live[i].obj);
        ttm__json_obj_end(j);
    }
    ttm__json_arr_end(j);
    ttm__json_obj_end(j);
}

/* The scenario run with its ground truth's peaks printed ("ttmem.sim_peaks": for each device
 * and memtype, the first event reaching the most bytes in use and the buffers live then), the
 * truth `ttmem report --at peak:D:M` is tested against. */
static int peaks_run(const sim_opts *o, ttm_registry *reg, sim_sink *sink, ttm_sim_truth *truth)
{
    ttm_json j;
    ttm__json_init(&j, stdout, true);
    ttm__json_obj_begin(&j, NULL);
    ttm__json_str(&j, "schema", "ttmem.sim_peaks");
    ttm__json_u64(&j, "schema_version", 1);
    char title[128];
    sim_title(o, title, sizeof title);
    ttm__json_str(&j, "source", title);
    ttm__json_arr_begin(&j, "peaks");
    int err = ttm_sim_run_peaks(o->scenario, o->client, o->seed, ttm_registry_stacks(reg),
                                apply_event, sink, truth, peak_json, &j);
    ttm__json_arr_end(&j);
    ttm__json_obj_end(&j);
    ttm__json_finish(&j);
    return err;
}

/* Runs one scenario into a fresh registry (and its journal with --journal). Returns 0, or an
 * exit status after printing the error. *reg_out and *truth receive the results. */
static int run_scenario(const sim_opts *o, ttm_registry **reg_out, ttm_sim_truth *truth)
{
    ttm_registry *reg = NULL;
    int err = ttm_registry_open(&reg, NULL);
    if (err != TTM_OK)
        return ttm_cli_fail("cannot create the registry: %s", ttm_strerror(err)), 1;
    ttm_journal_writer *w = NULL;
    ttm_jtap tap;
    sim_sink sink = {.reg = reg};
    if (o->journal != NULL) {
        int rc = journal_open(o, reg, &w, &tap);
        if (rc != 0) {
            ttm_registry_close(reg);
            return rc;
        }
        sink.tap = &tap;
    }
    /* the events carry call sites interned in the registry's own table */
    if (o->peaks)
        err = peaks_run(o, reg, &sink, truth);
    else
        err = ttm_sim_run_stacks(o->scenario, o->client, o->seed, ttm_registry_stacks(reg),
                                 apply_event, &sink, truth);
    int jrc = w != NULL ? journal_close(o, w, &tap) : 0;
    if (err == TTM_ENOENT) {
        ttm_registry_close(reg);
        if (o->journal != NULL)
            unlink(o->journal);
        return ttm_cli_fail("unknown scenario '%s'; 'ttmem simulate --scenario list' lists them",
                            o->scenario);
    }
    if (err != TTM_OK) {
        ttm_registry_close(reg);
        return ttm_cli_fail("scenario '%s' failed: %s", o->scenario, ttm_strerror(err)), 1;
    }
    if (jrc != 0) {
        ttm_registry_close(reg);
        return jrc;
    }
    *reg_out = reg;
    return 0;
}

static void sim_title(const sim_opts *o, char *buf, size_t len)
{
    snprintf(buf, len, "simulate %s (%s client, seed %llu)", o->scenario, client_name(o->client),
             (unsigned long long)o->seed);
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
    sim_title(o, title, sizeof title);
    if (o->json)
        ttm_render_json(out, r, title);
    else
        ttm_render_text(out, r, title);
    ttm_report_free(r);
    return 0;
}

/* The duplicate allocs per cause, the core's of the truth's, after lead (nothing without). */
static void print_causes_allocs(const ttm_sim_truth *truth, const ttm_sim_cause_score *sc,
                                const char *lead)
{
    char a[TTM_FMT_LEN], b[TTM_FMT_LEN];
    const char *sep = "duplicate allocs: ";
    for (unsigned c = 0; c < TTM_CAUSE__COUNT; c++) {
        if (sc->got_allocs[c] == 0 && truth->cause_allocs[c] == 0)
            continue;
        fprintf(stderr, "%s%s%s %s of %s", lead, sep, ttm_cause_name(c),
                ttm__fmt_count(a, sc->got_allocs[c]), ttm__fmt_count(b, truth->cause_allocs[c]));
        lead = "";
        sep = ", ";
    }
}

/* --check: how many unmatched frees the core put on the cause the scenario knows, and per cause
 * the core's count of the truth's (stderr, one line, before the verdict). */
static void print_causes_score(const ttm_sim_truth *truth, const ttm_registry *reg)
{
    ttm_sim_cause_score sc;
    ttm_sim_cause_score_of(truth, reg, &sc);
    if (!sc.attributed) {
        fprintf(stderr, "ttmem: causes: not attributed (the registry's attribution is off)\n");
        return;
    }
    char a[TTM_FMT_LEN], b[TTM_FMT_LEN], amb[TTM_FMT_LEN];
    if (sc.truth_frees == 0 && sc.got_frees == 0) {
        fprintf(stderr, "ttmem: causes: no address-only unmatched frees to attribute");
        print_causes_allocs(truth, &sc, "; ");
        fputc('\n', stderr);
        return;
    }
    uint64_t ambiguous = 0;
    for (unsigned c = 0; c < TTM_CAUSE__COUNT; c++)
        ambiguous += truth->cause_ambiguous[c];
    fprintf(stderr,
            "ttmem: causes: %s of %s unmatched frees on the right cause (accuracy %u.%02u%%, at "
            "least %u%% required; %s ambiguous in the stream itself):",
            ttm__fmt_count(a, sc.right), ttm__fmt_count(b, sc.truth_frees), sc.accuracy / 100,
            sc.accuracy % 100, TTM_SIM_CAUSE_ACCURACY / 100, ttm__fmt_count(amb, ambiguous));
    const char *sep = " ";
    for (unsigned c = 0; c < TTM_CAUSE__COUNT; c++) {
        if (sc.got[c] == 0 && truth->cause_count[c] == 0)
            continue;
        fprintf(stderr, "%s%s %s of %s", sep, ttm_cause_name(c), ttm__fmt_count(a, sc.got[c]),
                ttm__fmt_count(b, truth->cause_count[c]));
        sep = ", ";
    }
    print_causes_allocs(truth, &sc, "; ");
    fputc('\n', stderr);
}

/* --seeds: the first difference of a seed's check and how many there were. */
typedef struct seed_diffs {
    size_t n;
    char first[200];
} seed_diffs;

static void keep_first(void *arg, const char *line)
{
    seed_diffs *d = arg;
    if (d->n++ == 0)
        snprintf(d->first, sizeof d->first, "%s", line);
}

/* --check --seeds FIRST-LAST: every seed's run checked, a line per seed that fails (stderr) and
 * one summing the causes over the seeds. Returns the exit status. */
static int sweep_seeds(sim_opts *o)
{
    uint64_t runs = 0, failed = 0, below = 0, truth_frees = 0, right = 0, ambiguous = 0;
    for (uint64_t seed = o->seed;; seed++) {
        o->seed = seed;
        ttm_registry *reg = NULL;
        ttm_sim_truth truth;
        int rc = run_scenario(o, &reg, &truth);
        if (rc != 0)
            return rc;
        seed_diffs d = {0};
        ttm_sim_check(&truth, reg, keep_first, &d);
        ttm_sim_cause_score sc;
        ttm_sim_cause_score_of(&truth, reg, &sc);
        ttm_registry_close(reg);
        runs++;
        truth_frees += sc.truth_frees;
        right += sc.right;
        for (unsigned c = 0; c < TTM_CAUSE__COUNT; c++)
            ambiguous += truth.cause_ambiguous[c];
        below += sc.accuracy < TTM_SIM_CAUSE_ACCURACY;
        if (d.n > 0) {
            failed++;
            fprintf(stderr, "ttmem: check failed: seed %llu: %zu difference%s (%s); causes %u.%02u%%\n",
                    (unsigned long long)seed, d.n, d.n == 1 ? "" : "s", d.first, sc.accuracy / 100,
                    sc.accuracy % 100);
        }
        if (seed == o->seed_last)
            break;
    }
    char a[TTM_FMT_LEN], b[TTM_FMT_LEN], amb[TTM_FMT_LEN];
    double pct = truth_frees > 0 ? 100.0 * (double)right / (double)truth_frees : 100.0;
    fprintf(stderr,
            "ttmem: %s (%s client), %llu seed%s: %llu failed the check, %llu below %u%% on the "
            "causes; causes over all seeds %s of %s unmatched frees on the right cause (%.3f%%), "
            "%s ambiguous in the stream itself\n",
            o->scenario, client_name(o->client), (unsigned long long)runs, runs == 1 ? "" : "s",
            (unsigned long long)failed, (unsigned long long)below, TTM_SIM_CAUSE_ACCURACY / 100,
            ttm__fmt_count(a, right), ttm__fmt_count(b, truth_frees), pct,
            ttm__fmt_count(amb, ambiguous));
    return failed > 0 ? 1 : 0;
}

/* "N" or "N-M" (N <= M, at most 100,000 seeds) into *first, *last. */
static int parse_seeds(const char *arg, uint64_t *first, uint64_t *last)
{
    char buf[64];
    if (strlen(arg) >= sizeof buf)
        return TTM_EINVAL;
    strcpy(buf, arg);
    char *dash = strchr(buf, '-');
    if (dash != NULL)
        *dash = '\0';
    if (ttm_cli_parse_u64(buf, first) != TTM_OK)
        return TTM_EINVAL;
    *last = *first;
    if (dash != NULL && ttm_cli_parse_u64(dash + 1, last) != TTM_OK)
        return TTM_EINVAL;
    return *last >= *first && *last - *first < 100000 ? TTM_OK : TTM_EINVAL;
}

static int usage_error(const char *msg)
{
    return ttm_cli_fail("simulate: %s; usage: ttmem simulate --scenario NAME|list "
                        "[--client identity|legacy] [--seed N] [--check [--seeds N-M]] [--json] "
                        "[--top N] [--journal FILE] [--peaks]",
                        msg);
}

int ttm_cli_simulate(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"scenario", required_argument, NULL, 's'}, {"client", required_argument, NULL, 'c'},
        {"seed", required_argument, NULL, 'S'},     {"check", no_argument, NULL, 'k'},
        {"json", no_argument, NULL, 'j'},           {"top", required_argument, NULL, 't'},
        {"journal", required_argument, NULL, 'J'},  {"peaks", no_argument, NULL, 'P'},
        {"seeds", required_argument, NULL, 'R'},    {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
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
        case 'R':
            if (parse_seeds(optarg, &o.seed, &o.seed_last) != TTM_OK)
                return ttm_cli_fail("simulate: --seeds '%s' is not N or N-M (N <= M, at most "
                                    "100000 seeds)",
                                    optarg);
            o.sweep = true;
            break;
        case 'j':
            o.json = true;
            break;
        case 't':
            if (ttm_cli_parse_top("simulate", optarg, &o.top) != 0)
                return 2;
            break;
        case 'J':
            o.journal = optarg;
            break;
        case 'P':
            o.peaks = true;
            break;
        case 'h':
            printf("usage: ttmem simulate --scenario NAME|list [--client identity|legacy] "
                   "[--seed N] [--check [--seeds N-M]] [--json] [--top N] [--journal FILE] "
                   "[--peaks]\n\n"
                   "--peaks prints the ground truth's peaks (each device and memtype's live set "
                   "at its peak) instead of the report\n"
                   "--check --seeds N-M checks the run of every seed from N to M and sums the "
                   "causes' accuracy, without a report\n\nscenarios:\n");
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

    if (o.sweep) {
        if (!o.check || o.journal != NULL || o.peaks || o.json)
            return usage_error("--seeds goes with --check, without --journal, --peaks or --json");
        return sweep_seeds(&o);
    }
    ttm_registry *reg = NULL;
    ttm_sim_truth truth;
    int rc = run_scenario(&o, &reg, &truth);
    if (rc != 0)
        return rc;
    if (!o.peaks)
        rc = report_registry(reg, &o, stdout);
    if (rc == 0 && o.check) {
        size_t diffs = ttm_sim_check(&truth, reg, print_difference, stderr);
        print_causes_score(&truth, reg);
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
