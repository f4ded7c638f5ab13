/*
 * sim.h — workload scenarios that reproduce TT-Metal's allocation patterns, with ground truth.
 *
 * A scenario is a seeded, deterministic generator of events for one or more simulated
 * processes. While it generates, it also writes down what each event *is* from its own model of
 * the objects it creates (not by running a registry): the ground truth that the core's verdict
 * must equal. Two client behaviours are modelled: IDENTITY (object ids and VIEW flags, as
 * libttmem reports) and LEGACY (addresses only, as the prototype's client reported).
 */
#ifndef TTM_SIM_SIM_H
#define TTM_SIM_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/event.h"
#include "core/causes.h"
#include "core/registry.h"
#include "core/stacks.h"

typedef enum ttm_sim_client { TTM_SIM_IDENTITY = 0, TTM_SIM_LEGACY = 1 } ttm_sim_client;

/* Receives each generated event in order. pid is the simulated process (small numbers from
 * 1000 up); a process's end is delivered as a TTM_EV_PROC_EXIT event. DEVICE_INFO events come
 * first. */
typedef void (*ttm_sim_emit_fn)(void *arg, uint32_t pid, const ttm_event *ev);

#define TTM_SIM_MAX_PEAKS 64
#define TTM_SIM_MAX_SITES 256

/* How many events of one class came from one stack (runs with call sites only). */
typedef struct ttm_sim_site {
    uint8_t cls;    /* an anomaly class, or leaked_at_exit */
    uint32_t stack; /* the event's stack; missed_free and leaked_at_exit: the stack of the lost
                     * buffer's allocation */
    uint64_t count;
} ttm_sim_site;

typedef struct ttm_sim_peak {
    uint16_t device;
    uint8_t memtype;
    uint64_t bytes;
} ttm_sim_peak;

#define TTM_SIM_MAX_STORMS 4

/* One storm address of the truth: its extra frees, their first and last times and the sums
 * behind their spacing. */
typedef struct ttm_sim_storm {
    uint16_t device;
    uint32_t pid;
    uint64_t addr;
    uint64_t frees;
    uint64_t first_ts, last_ts;
    double gaps_sq; /* sum of the squared gaps between consecutive frees (ns) */
} ttm_sim_storm;

typedef struct ttm_sim_truth {
    uint64_t events;                         /* events emitted (control events included) */
    uint64_t class_count[TTM_CLASS__COUNT];  /* expected count of every class */
    uint64_t leaked_bytes;                   /* expected bytes of leaked_at_exit */
    size_t npeaks;                           /* expected peak bytes per (device, memtype) */
    ttm_sim_peak peaks[TTM_SIM_MAX_PEAKS];   /* (only the pairs the scenario asserts) */
    /* with call sites (ttm_sim_run_stacks): the expected sites of the anomaly classes and of
     * the leaks at exit, in order of first sight */
    bool has_sites;
    size_t nsites;
    uint64_t sites_lost; /* events of pairs past TTM_SIM_MAX_SITES */
    ttm_sim_site sites[TTM_SIM_MAX_SITES];
    /* causes (core/causes.h) of the address-only events (no object id) the scenario emitted
     * unmatched: cause_count[c] the unmatched frees (excess, unknown and double frees) it
     * emitted for cause c, cause_allocs[c] the duplicate_allocs; cause_ambiguous[c] how many of
     * cause_count[c] the stream itself cannot tell from another cause (docs/SIMULATOR.md lists
     * the cases). cause_unstated: address-only unmatched events the scenario emitted without
     * stating their cause (a scenario's bug; ttm_sim_check() reports it). Zero for the identity
     * client, which sends object ids. */
    uint64_t cause_count[TTM_CAUSE__COUNT];
    uint64_t cause_allocs[TTM_CAUSE__COUNT];
    uint64_t cause_ambiguous[TTM_CAUSE__COUNT];
    uint64_t cause_unstated;
    /* the storms (excess_storm frees by address, first seen first): the evidence the registry
     * must give for each (ttm_sim_check()) */
    size_t nstorms;
    uint64_t storms_lost; /* storm frees at addresses past TTM_SIM_MAX_STORMS */
    ttm_sim_storm storms[TTM_SIM_MAX_STORMS];
} ttm_sim_truth;

typedef struct ttm_sim_scenario {
    const char *name;
    const char *summary; /* one line for `--scenario list` */
} ttm_sim_scenario;

/* The table of scenarios; *count receives its length. */
const ttm_sim_scenario *ttm_sim_scenarios(size_t *count);

/* Runs scenario name with the given client behaviour and seed, delivering every event to emit
 * and filling truth (may be NULL). Returns 0, TTM_ENOENT for an unknown name, or TTM_EINVAL
 * for a NULL emit or an unknown client behaviour. */
int ttm_sim_run(const char *name, ttm_sim_client client, uint64_t seed, ttm_sim_emit_fn emit,
                void *arg, ttm_sim_truth *truth);

/* ttm_sim_run() whose ALLOC and FREE events carry call sites: a stack of TEXT frames naming the
 * simulated code path (the buffer call, the MeshBuffer layer, the scenario's path, the scenario
 * function) and the scope of the simulated op, interned into stacks (the registry's table,
 * ttm_registry_stacks(), for the ids to mean something to it). stacks NULL: ttm_sim_run(). The
 * events are otherwise the same as ttm_sim_run()'s, and so is the truth. */
int ttm_sim_run_stacks(const char *name, ttm_sim_client client, uint64_t seed, ttm_stacks *stacks,
                       ttm_sim_emit_fn emit, void *arg, ttm_sim_truth *truth);

/* A buffer live at a peak: owning (views hold no bytes), as the scenario's model has it. */
typedef struct ttm_sim_live {
    uint32_t pid;
    uint16_t device;
    uint8_t memtype;
    uint64_t addr, size;
    uint64_t obj; /* 0 for the legacy client (it sends none) */
} ttm_sim_live;

/* The peak of one (device, memtype) as the model counts it: the most bytes ever in use there,
 * the time of the first event that reached them (a later event that only equals them is not the
 * peak, as ttm_replay_peak() counts), and the owning buffers live right after that event. */
typedef struct ttm_sim_peak_set {
    uint16_t device;
    uint8_t memtype;
    uint64_t bytes, ts;
    size_t nlive;
    const ttm_sim_live *live; /* valid during the call */
} ttm_sim_peak_set;

typedef void (*ttm_sim_peak_fn)(void *arg, const ttm_sim_peak_set *p);

/* ttm_sim_run_stacks() that, at the end of the run, also tells peak_fn (not NULL) every
 * (device, memtype) with a non-zero peak, device-major, with the live set at its peak. */
int ttm_sim_run_peaks(const char *name, ttm_sim_client client, uint64_t seed, ttm_stacks *stacks,
                      ttm_sim_emit_fn emit, void *arg, ttm_sim_truth *truth,
                      ttm_sim_peak_fn peak_fn, void *peak_arg);

/* Compares truth with a registry that has applied the scenario's events. Each difference is
 * one line "class double_free: expected 3, got 2" passed to fn. With call sites, also each
 * (class, stack): the sites of the class's offender entries summed by stack, and the leak
 * groups, must hold the truth's counts (exactly while no entry has more sites than it keeps;
 * else each kept count at most the truth's and the rest in sites_other). Causes (when the
 * registry attributes them, i.e. not cfg.no_causes): the frees of all causes sum to the
 * truth's; each cause's frees lie within what the truth's ambiguity allows
 * (ttm_sim_cause_score); what a cause has beyond the truth's the registry itself calls
 * ambiguous; the accuracy is at least TTM_SIM_CAUSE_ACCURACY; each cause's duplicate allocs
 * equal the truth's; each storm of the truth is among the registry's storm instances with its
 * frees, first and last time, pid, mean period and regularity. Returns the number of
 * differences (0 = the core's verdict equals the ground truth). */
size_t ttm_sim_check(const ttm_sim_truth *truth, const ttm_registry *reg,
                     void (*fn)(void *arg, const char *line), void *arg);

/* The least accuracy of the causes ttm_sim_check() accepts, in hundredths of a percent (99%). */
#define TTM_SIM_CAUSE_ACCURACY 9900u

/* How the registry's causes compare with the truth's. */
typedef struct ttm_sim_cause_score {
    bool attributed;          /* the registry attributes causes (not cfg.no_causes) */
    uint64_t truth_frees;     /* sum of truth->cause_count */
    uint64_t got_frees;       /* sum of the registry's frees over the causes */
    uint64_t right;           /* sum over causes of min(got, truth): frees on the right cause */
    /* right / truth_frees in hundredths of a percent (10000 when there is nothing to attribute
     * and nothing was attributed) */
    uint32_t accuracy;
    /* per cause c: the bounds the truth allows, truth(c) - ambiguous(c) <= got(c) <= truth(c)
     * + the ambiguous frees of the other causes, and the registry's figure */
    uint64_t low[TTM_CAUSE__COUNT], high[TTM_CAUSE__COUNT], got[TTM_CAUSE__COUNT];
    uint64_t got_ambiguous[TTM_CAUSE__COUNT]; /* of got, what the registry calls ambiguous */
    uint64_t got_allocs[TTM_CAUSE__COUNT];
} ttm_sim_cause_score;

/* The evidence of a truth's storm: the mean spacing of its frees (ns, rounded) and whether
 * they recur regularly (coefficient of variation of the spacing below 0.5), as
 * docs/CLASSIFICATION.md defines them. */
uint64_t ttm_sim_storm_period_ns(const ttm_sim_storm *s);
bool ttm_sim_storm_regular(const ttm_sim_storm *s);

/* Scores the registry's causes against the truth (see ttm_sim_cause_score). */
void ttm_sim_cause_score_of(const ttm_sim_truth *truth, const ttm_registry *reg,
                            ttm_sim_cause_score *out);

#endif /* TTM_SIM_SIM_H */
