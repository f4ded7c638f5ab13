/*
 * causes.h — why an address-only stream has unmatched frees: the cause of every excess_free and
 * unknown_free (and every duplicate_alloc) of an event without an object id.
 *
 * The registry classifies an event by its key alone (docs/CLASSIFICATION.md); the cause needs
 * the events around it: the frees of one address on the other devices of a mesh, the release
 * just before, the same address freed again and again. The attributor (causes.c) is fed by the
 * registry with every address-only ALLOC and FREE and the class it was given, online and in
 * bounded memory, and keeps per cause the count, the addresses and the evidence. Its rules,
 * windows and thresholds are in docs/CLASSIFICATION.md ("Causes of unmatched frees").
 *
 * Its clock is the count of ALLOC and FREE events the registry applied (never the time), so the
 * same stream gets the same causes live (ttmemd's legacy socket), from the prototype's log
 * (`ttmem analyze-log`) and from a journal (`ttmem report`). Times are only evidence.
 *
 * A cause decided provisionally (a free still inside its burst window, an address that may yet
 * become a storm) is reported as it stands; later events may move it (to mesh_multiplicity when
 * the release of its burst arrives, to excess_storm when its address passes the storm
 * threshold). A provisional free is reported with the cause it would get if the stream ended
 * there, so a report at the end of a stream is final.
 */
#ifndef TTM_CORE_CAUSES_H
#define TTM_CORE_CAUSES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* X(name, text, help) */
#define TTM_CAUSE_MAP(X)                                                                          \
    X(MESH_MULTIPLICITY, "mesh_multiplicity",                                                     \
      "the per-device frees of a MeshBuffer whose one backing buffer was reported")              \
    X(DOUBLE_RELEASE, "double_release",                                                           \
      "an address freed once more by the same process right after its release")                  \
    X(EXCESS_STORM, "excess_storm",                                                               \
      "an address freed many times more than it was allocated, recurring over a long span")      \
    X(PRE_TRACKING, "pre_tracking",                                                               \
      "a free of an address never allocated since tracking began, not part of a mesh burst")     \
    X(UNEXPLAINED, "unexplained", "an unmatched free that fits none of the other causes")

typedef enum ttm_cause {
#define TTM__CAUSE_ENUM(name, text, help) TTM_CAUSE_##name,
    TTM_CAUSE_MAP(TTM__CAUSE_ENUM)
#undef TTM__CAUSE_ENUM
        TTM_CAUSE__COUNT
} ttm_cause;

/* "mesh_multiplicity"; "?" when out of range. */
const char *ttm_cause_name(unsigned c);
/* One-line explanation of a cause. */
const char *ttm_cause_help(unsigned c);
/* Parses a cause name; returns 0 and stores it, or TTM_EINVAL. */
int ttm_cause_parse(const char *s, ttm_cause *out);

#define TTM_CAUSE_PIDS      4u /* distinct pids kept per cause and per instance */
#define TTM_CAUSE_INSTANCES 4u /* worst instances (addresses) kept per cause */

/* One address of a cause: a storm's address, the worst address of the others. */
typedef struct ttm_cause_instance {
    uint16_t device;
    uint8_t memtype;   /* of the buffer last allocated there (TTM_MEM_ANY: never known) */
    bool addr_dec;     /* the input wrote this address in decimal (TTM__FLAG_ADDR_DEC) */
    uint64_t addr;
    uint64_t frees;    /* unmatched frees of the cause at this address */
    uint64_t allocs;   /* allocations at this (device, address): every one since its first
                        * stray, and those of the 2 x 4096 events before it */
    uint64_t first_ts, last_ts;
    /* excess_storm: the mean spacing of its extra frees (ns and events) and whether they
     * recur regularly (coefficient of variation of the spacing below 0.5) */
    uint64_t period_ns, period_events;
    bool regular;
    uint32_t pids[TTM_CAUSE_PIDS];
    uint8_t npids;
    bool more_pids;
} ttm_cause_instance;

/* One cause's totals and evidence. */
typedef struct ttm_cause_stats {
    ttm_cause cause;
    uint64_t frees;       /* unmatched frees attributed to it (provisional ones included) */
    uint64_t allocs;      /* duplicate_allocs attributed to it */
    uint64_t pending;     /* of frees, how many are still provisional */
    uint64_t ambiguous;   /* of frees, how many the stream cannot tell from another cause
                           * (docs/CLASSIFICATION.md lists the cases) */
    uint64_t addrs;       /* distinct (device, address) it fell on (bounded count: see dropped) */
    uint64_t first_ts, last_ts;
    /* groups: mesh_multiplicity: bursts (MeshBuffers); double_release: releases freed again;
     * excess_storm: storm addresses; pre_tracking, unexplained: 0 */
    uint64_t groups;
    /* mesh_multiplicity: the most common number of devices of a burst and of frees per burst */
    uint16_t mesh_devices;
    uint16_t frees_per_group;
    uint32_t pids[TTM_CAUSE_PIDS];
    uint8_t npids;
    bool more_pids;
    size_t ninstances;    /* by the cause's frees + allocs at the address descending, then
                           * device, then address (docs/CLASSIFICATION.md, "Addresses and
                           * instances") */
    ttm_cause_instance instances[TTM_CAUSE_INSTANCES];
} ttm_cause_stats;

/* What the attributor holds and what its bounds cut. */
typedef struct ttm_causes_info {
    bool enabled;
    uint64_t attributed;     /* unmatched frees + duplicate allocs attributed, all causes */
    uint64_t pending;        /* provisional now */
    uint64_t window_events;  /* the mesh burst window now (events) */
    uint16_t devices;        /* the device set the window is derived from */
    uint64_t keys, keys_max; /* per-address state held, and its bound */
    uint64_t dropped;        /* strays (unmatched frees, duplicate allocs) whose address found
                              * no room for its state at the bound: attributed without its
                              * history (no storm, no instance) */
} ttm_causes_info;

#endif /* TTM_CORE_CAUSES_H */
