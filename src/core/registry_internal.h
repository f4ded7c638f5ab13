/*
 * registry_internal.h — the registry's private structures, shared by the files that make it up:
 * registry.c (the rules, the process and device tables, the queries), registry_state.c (the
 * persistence codec), on top of store.c (the live records) and table.c (the side tables).
 * Nothing outside src/core/registry*.c and causes.c (the attributor) includes it.
 *
 * What outlives a record sits in open-addressing tables (table.h): the keys ever allocated
 * (history), the freed object ids (for double frees) and their releasing frees' contexts, the
 * offenders, the pid map, the leak groups, the breakdown rows.
 */
#ifndef TTM_CORE_REGISTRY_INTERNAL_H
#define TTM_CORE_REGISTRY_INTERNAL_H

#include "common/bytes.h"
#include "core/registry.h"
#include "core/store.h"
#include "core/table.h"

#define MAX_DEVICES 65536u

/* a + b, or UINT64_MAX when the sum does not fit: no byte total of the core ever wraps. */
static inline uint64_t sat_add(uint64_t a, uint64_t b)
{
    uint64_t s;
    return __builtin_add_overflow(a, b, &s) ? UINT64_MAX : s;
}

/* ---- history: a key ever allocated ---------------------------------------------------------- */

/* In 16 bytes: the address, then packed: bit 0 used, bits 1-2 space, bits 3-5 the last memtype,
 * bits 6-21 the device, bits 22-63 the last size (sizes of 4 TiB and more are kept as
 * 4 TiB - 1: only compared for "reused with a new size"). */
typedef struct hist_entry {
    uint64_t addr;
    uint64_t meta;
} hist_entry;

#define HIST_KEY_MASK ((1ull << 22) - 1 - (7ull << 3))
#define HIST_SIZE_MAX ((1ull << 42) - 1)

static inline uint64_t hist_key(uint16_t device, unsigned space)
{
    return 1u | (uint64_t)space << 1 | (uint64_t)device << 6;
}

static inline uint16_t hist_device(const hist_entry *h)
{
    return (uint16_t)(h->meta >> 6);
}

static inline unsigned hist_space(const hist_entry *h)
{
    return (unsigned)(h->meta >> 1) & 3;
}

static inline uint64_t hist_last_size(const hist_entry *h)
{
    return h->meta >> 22;
}

static inline unsigned hist_last_memtype(const hist_entry *h)
{
    return (unsigned)(h->meta >> 3) & 7;
}

static inline uint64_t hist_size_of(uint64_t size)
{
    return size < HIST_SIZE_MAX ? size : HIST_SIZE_MAX;
}

static inline void hist_set_last(hist_entry *h, unsigned memtype, uint64_t size)
{
    h->meta = (h->meta & HIST_KEY_MASK) | (uint64_t)(memtype & 7) << 3 | hist_size_of(size) << 22;
}

static inline uint64_t hist_hash(const void *e)
{
    const hist_entry *h = e;
    return ttm__key_hash(hist_device(h), hist_space(h), h->addr);
}

static inline bool hist_empty(const void *e)
{
    return ((const hist_entry *)e)->meta == 0;
}

/* The key of a lookup: the address and hist_key(). */
static inline bool hist_match(const void *e, const void *key)
{
    const hist_entry *h = e, *k = key;
    return h->addr == k->addr && (h->meta & HIST_KEY_MASK) == k->meta;
}

static const ttm_table_type hist_type = {
    .entry_size = sizeof(hist_entry), .hash = hist_hash, .empty = hist_empty, .match = hist_match};

/* ---- freed objects: 64-bit fingerprints of (pid, obj), 0 meaning an empty slot --------------- */

/* Two pairs share a fingerprint with a probability of about n^2 / 2^65. */
static inline uint64_t obj_fingerprint(uint32_t pid, uint64_t obj)
{
    uint64_t h = ttm__mix64(obj ^ ((uint64_t)pid << 32) ^ pid);
    return h ? h : 1;
}

static inline uint64_t freed_hash(const void *e)
{
    return *(const uint64_t *)e;
}

static inline bool freed_empty(const void *e)
{
    return *(const uint64_t *)e == 0;
}

static inline bool freed_match(const void *e, const void *key)
{
    return *(const uint64_t *)e == *(const uint64_t *)key;
}

static const ttm_table_type freed_type = {
    .entry_size = sizeof(uint64_t), .hash = freed_hash, .empty = freed_empty, .match = freed_match};

/* The context of the free that released a freed object (fingerprint fp), kept beside the
 * freed-object set only for frees that had one: a run without contexts never fills it. The
 * fingerprint comes first, so the set's hash, empty and match functions serve it too. */
typedef struct freed_ctx_entry {
    uint64_t fp;
    uint32_t ctx;
} freed_ctx_entry;

static const ttm_table_type freed_ctx_type = {.entry_size = sizeof(freed_ctx_entry),
                                              .hash = freed_hash,
                                              .empty = freed_empty,
                                              .match = freed_match};

/* ---- offenders: one entry per (class, device, addr) ----------------------------------------- */

typedef struct offender_slot {
    ttm_offender o;
    /* space-saving: the events a site's slot may have had before the site took it (the count
     * of the site it replaced), so that count + err bounds the site's true count from above */
    uint64_t site_err[TTM_SITES_MAX];
    bool used;
} offender_slot;

static inline uint64_t off_hash_of(unsigned cls, uint16_t device, uint64_t addr)
{
    return ttm__mix64(addr ^ ((uint64_t)device << 40) ^ ((uint64_t)cls << 56));
}

static inline uint64_t off_hash(const void *e)
{
    const ttm_offender *o = &((const offender_slot *)e)->o;
    return off_hash_of(o->cls, o->device, o->addr);
}

static inline bool off_empty(const void *e)
{
    return !((const offender_slot *)e)->used;
}

/* The key of a lookup: an offender with cls, device and addr set. */
static inline bool off_match(const void *e, const void *key)
{
    const ttm_offender *o = &((const offender_slot *)e)->o, *k = key;
    return o->cls == k->cls && o->device == k->device && o->addr == k->addr;
}

static const ttm_table_type off_type = {
    .entry_size = sizeof(offender_slot), .hash = off_hash, .empty = off_empty, .match = off_match};

/* ---- leak groups: one per allocation stack (not 0: that group is kept apart) --------------- */

typedef struct lgroup_slot {
    ttm_leak_group g;
    bool used;
} lgroup_slot;

static inline uint64_t lg_hash(const void *e)
{
    return ttm__mix64(((const lgroup_slot *)e)->g.stack);
}

static inline bool lg_empty(const void *e)
{
    return !((const lgroup_slot *)e)->used;
}

static inline bool lg_match(const void *e, const void *key)
{
    return ((const lgroup_slot *)e)->g.stack == *(const uint32_t *)key;
}

static const ttm_table_type lgroup_type = {
    .entry_size = sizeof(lgroup_slot), .hash = lg_hash, .empty = lg_empty, .match = lg_match};

/* ---- breakdown rows: one per (kind, name), name not 0 (the folded rows are kept apart) ------ */

typedef struct bd_slot {
    ttm_breakdown b;
    bool used;
} bd_slot;

static inline uint64_t bd_hash_of(unsigned kind, uint32_t name)
{
    return ttm__mix64((uint64_t)kind << 32 | name);
}

static inline uint64_t bd_hash(const void *e)
{
    const ttm_breakdown *b = &((const bd_slot *)e)->b;
    return bd_hash_of(b->kind, b->name);
}

static inline bool bd_empty(const void *e)
{
    return !((const bd_slot *)e)->used;
}

/* The key of a lookup: a ttm_breakdown with kind and name set. */
static inline bool bd_match(const void *e, const void *key)
{
    const ttm_breakdown *b = &((const bd_slot *)e)->b, *k = key;
    return b->kind == k->kind && b->name == k->name;
}

static const ttm_table_type bd_type = {
    .entry_size = sizeof(bd_slot), .hash = bd_hash, .empty = bd_empty, .match = bd_match};

/* ---- the attributor of causes (causes.c) ------------------------------------------------- */

typedef struct ttm__causes ttm__causes;

/* A new attributor keeping at most max_keys per-address states (0: 65536). Returns 0 with *out
 * set, or TTM_ENOMEM (*out NULL). Closed with ttm__causes_close() (NULL is a no-op). */
int ttm__causes_open(ttm__causes **out, uint32_t max_keys);
void ttm__causes_close(ttm__causes *c);

/* Feeds one address-only ALLOC or FREE applied on behalf of pid: mask is what the registry
 * returned for it (its classes), memtype the memtype its class was counted under, clock the
 * attribution clock after it (the count of ALLOC and FREE events applied). */
void ttm__causes_note(ttm__causes *c, uint32_t pid, const ttm_event *ev, uint32_t mask,
                      unsigned memtype, uint64_t clock);

/* The causes so far (registry.h, ttm_registry_causes()); c may be NULL (all zero). */
void ttm__causes_report(const ttm__causes *c, ttm_cause_stats out[TTM_CAUSE__COUNT],
                        ttm_causes_info *info);

/* Process pid began to exit: its pending strays wait no more for its own later events. */
void ttm__causes_exit(ttm__causes *c, uint32_t pid);

/* Appends the attributor's state to a registry state (registry_state.c, version 3). */
void ttm__causes_save(const ttm__causes *c, ttm_bw *w);

/* Fills a fresh attributor from the len bytes ttm__causes_save() wrote. Returns 0, TTM_EPROTO
 * (msg says what is wrong) or TTM_ENOMEM. Entries beyond its max_keys are dropped (counted). */
int ttm__causes_load(ttm__causes *c, const uint8_t *p, size_t len, char *msg, size_t msg_len);

/* ---- processes and devices ------------------------------------------------------------------ */

typedef struct proc {
    uint32_t pid;
    bool alive;
    uint64_t first_ts, exit_ts;
    uint64_t live_records;
    uint64_t leaked_count, leaked_bytes;
    uint64_t anomalies;
    size_t ndevices, cap_devices;
    ttm_proc_mem *devices;
    reclist recs; /* its live records, oldest first */
    /* an exit being settled in steps (ttm_registry_process_exit_step): its time, its leaks */
    bool exiting;
    uint64_t exiting_ts, exit_leaked_count, exit_leaked_bytes;
    uint32_t phase; /* the name of its last MARK (a string id), 0 before any */
} proc;

typedef struct dev {
    ttm_device_stats s;
    bool capacity_set[TTM_SPACE_COUNT]; /* set explicitly (not from the default profile) */
} dev;

/* The context the rules are working for: the event's while an ALLOC or FREE is applied, a
 * record's allocation while it is settled (a leak, a missed free); all 0 otherwise. */
typedef struct cur_ctx {
    uint32_t ctx;            /* the context id (0: none, and then so are the three below) */
    uint32_t stack, scope, phase;
    uint32_t release_stack;  /* while a double free is counted: the releasing free's stack */
} cur_ctx;

#define CTX_CACHE_SIZE 1024u

/* The breakdown rows of the last (phase, scope) noted: valid while the table's slots have not
 * moved (a row is a pointer into them, or to a folded row). */
typedef struct bd_cache {
    uint32_t names[2];        /* phase, scope */
    ttm_breakdown *rows[2];   /* NULL for a name 0 */
    bool folded[2];           /* the row is the folded one for want of room */
    const uint8_t *slots;     /* reg->bd.slots when they were found */
} bd_cache;

struct ttm_registry {
    ttm_registry_config cfg;

    ttm_stacks *stacks; /* the call-site table (core/stacks.h) */
    /* Once an event had a context or a mark a name (or a state loaded either): from then on
     * the rules look at contexts; until then (stacks off, no marks) they do nothing for them,
     * and cur stays all 0. */
    bool sites_on;
    cur_ctx cur;        /* all 0 while cur.ctx is 0 */
    cur_ctx ctx_cache[CTX_CACHE_SIZE]; /* contexts interned lately, direct-mapped */
    bd_cache bdc;

    ttm_store st; /* the live records */

    ttm_table hist;     /* hist_entry: the keys ever allocated */
    ttm_table freed[2]; /* fingerprints of freed (pid, obj): current and previous generation */
    ttm_table freed_ctx[2]; /* freed_ctx_entry: the releasing frees' contexts, same generations */
    unsigned freed_cur;
    ttm_table offs;   /* offender_slot */
    ttm_table pidmap; /* pidslot (registry.c): pid -> index in procs */

    proc **procs;
    size_t nprocs, cap_procs;
    proc *last_proc;

    dev **devs; /* MAX_DEVICES lazily created */
    uint16_t *dev_ids;
    size_t ndevs;
    ttm_arch default_arch;
    uint64_t size_max[TTM_SPACE_COUNT]; /* sizes beyond are oversize (unless a device says more) */
    uint64_t size_max_least;            /* the least of them: the hot path's one comparison */

    ttm_leak *leaks;
    size_t nleaks;

    ttm_table lgroups;     /* lgroup_slot: leak groups of stacks not 0 */
    ttm_leak_group lgroup0; /* the group of stack 0 (count 0: none) */
    ttm_table bd;          /* bd_slot: breakdown rows of names not 0 */
    ttm_breakdown bd_fold[2]; /* rows of name 0, phase then scope (used when bd_fold_used) */
    bool bd_fold_used[2];
    ttm_phase *phases;     /* the marks kept, in order */
    size_t nphases, cap_phases;

    ttm_apply_info scratch_info; /* where apply writes when the caller wants no info */
    ttm_apply_info *info;        /* during one apply: the caller's or scratch_info */

    ttm_totals t;

    ttm__causes *causes;   /* the attributor (causes.c); NULL with cfg.no_causes */
    unsigned free_memtype; /* during a FREE: the memtype its class was counted under */
    bool addr_dec;         /* during an ALLOC or FREE: the event carries TTM__FLAG_ADDR_DEC */
};

/* The history entry of (device, space, addr), or NULL. */
static inline hist_entry *hist_find(const ttm_registry *reg, uint16_t device, unsigned space,
                                    uint64_t addr)
{
    hist_entry key = {.addr = addr, .meta = hist_key(device, space)};
    return ttm__table_find(&reg->hist, &hist_type, ttm__key_hash(device, space, addr), &key);
}

/* A new history entry for a key known absent (its last memtype and size 0); NULL when the
 * history is full (counted in history_dropped) or memory is short. */
static inline hist_entry *hist_add(ttm_registry *reg, uint16_t device, unsigned space,
                                   uint64_t addr)
{
    hist_entry *h = ttm__table_add(&reg->hist, &hist_type, ttm__key_hash(device, space, addr));
    if (h == NULL) {
        reg->t.history_dropped++;
        return NULL;
    }
    *h = (hist_entry){.addr = addr, .meta = hist_key(device, space)};
    return h;
}

/* ---- what registry.c gives registry_state.c ------------------------------------------------- */

/* The device's entry, created (with the default profile) when missing; NULL when memory is
 * short. */
dev *ttm__reg_dev(ttm_registry *reg, uint16_t device);

/* pid's entry, or NULL. */
proc *ttm__reg_proc_find(const ttm_registry *reg, uint32_t pid);

/* pid's entry, created alive (first seen at ts) when missing; NULL when the table is full
 * (counted in processes_dropped) or memory is short. */
proc *ttm__reg_proc(ttm_registry *reg, uint32_t pid, uint64_t ts);

/* The process's statistics for (device, memtype), its per-device entry created (kept ascending
 * by device) when missing; NULL when memory is short. */
ttm_memstat *ttm__reg_proc_mem(proc *p, uint16_t device, unsigned memtype);

/* Sorts the leak list: oldest allocation first, then pid, device and addr. */
void ttm__reg_leaks_sort(ttm_registry *reg);

/* Keeps ctx as the context of the free that released fingerprint fp in freed generation g
 * (registry.c; load uses it too); fresh: fp is known to have no entry yet. */
void ttm__reg_freed_ctx_put(ttm_registry *reg, unsigned g, uint64_t fp, uint32_t ctx,
                            bool fresh);

/* Resolves context id ctx into out (zeros for 0 or an id the table does not hold). */
void ttm__reg_ctx_get(const ttm_registry *reg, uint32_t ctx, uint32_t *stack, uint32_t *scope,
                      uint32_t *phase);

/* Appends a mark to the phase list (counted in phases_dropped when full); false only when
 * memory is short. */
bool ttm__reg_phase_add(ttm_registry *reg, uint32_t pid, uint32_t name, uint64_t ts);

/* The breakdown row of (kind, name), created zeroed when missing: name 0, or a table without
 * room, gives the kind's folded row (*folded set when name was not 0: the caller counts it in
 * breakdown_folded). Never NULL. */
ttm_breakdown *ttm__reg_bd_row(ttm_registry *reg, unsigned kind, uint32_t name, bool *folded);

/* The leak group of stack (stack 0, or a table without room: the group of stack 0, counted in
 * leak_groups_folded when stack was not 0). Never NULL. */
ttm_leak_group *ttm__reg_lgroup(ttm_registry *reg, uint32_t stack);

#endif /* TTM_CORE_REGISTRY_INTERNAL_H */
