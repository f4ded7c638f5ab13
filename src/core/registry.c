/*
 * registry.c — the core registry: live records, history, classification, statistics.
 *
 * The rules implemented here are written out in docs/CLASSIFICATION.md; keep the two in step.
 *
 * Memory layout, chosen for the ≤ 64 bytes per live buffer budget and for ingest speed:
 * - records live in fixed chunks of 4096 (56 bytes each), recycled through a free list, so a
 *   growing registry never moves a record and wastes at most one chunk;
 * - each record is also on its process's list (doubly linked through the record, in the order
 *   the records were made), so an exit visits the exiting process's records only and a record
 *   leaves its list in O(1); records made while the process table was full (no entry for
 *   their process) are on one list of their own, the orphans;
 * - a power-of-two array of 32-bit bucket heads (one per 0.6 to 1.25 records) indexes them by
 *   (device, space, addr); records sharing a key (an owner, its views, records of other
 *   processes) sit in the same chain;
 * - open-addressing tables hold what outlives a record: keys ever allocated (history), freed
 *   object ids (for double frees), offenders, processes.
 */
#include "core/registry.h"

#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/arch.h"
#include "common/util.h"

#define NIL UINT32_MAX
#define CHUNK_SHIFT 12
#define CHUNK_SIZE (1u << CHUNK_SHIFT)
#define MAX_DEVICES 65536u

/* ---- class table ---------------------------------------------------------------------------- */

static const struct {
    const char *name;
    const char *help;
    bool anomaly;
} class_table[TTM_CLASS__COUNT] = {
#define TTM__CLASS_ROW(cname, anom, text, chelp) [TTM_CLASS_##cname] = {text, chelp, anom},
    TTM_CLASS_MAP(TTM__CLASS_ROW)
#undef TTM__CLASS_ROW
};

const char *ttm_class_name(unsigned c)
{
    return c < TTM_CLASS__COUNT ? class_table[c].name : "?";
}

const char *ttm_class_help(unsigned c)
{
    return c < TTM_CLASS__COUNT ? class_table[c].help : "?";
}

bool ttm_class_is_anomaly(unsigned c)
{
    return c < TTM_CLASS__COUNT && class_table[c].anomaly;
}

int ttm_class_parse(const char *s, ttm_class *out)
{
    for (unsigned c = 0; s != NULL && c < TTM_CLASS__COUNT; c++) {
        if (strcmp(s, class_table[c].name) == 0) {
            *out = (ttm_class)c;
            return TTM_OK;
        }
    }
    return TTM_EINVAL;
}

/* ---- structures ----------------------------------------------------------------------------- */

enum {
    REC_USED = 1,           /* the slot holds a live record */
    REC_VIEW = 2,           /* the record is a view: no bytes */
    REC_ATTACHED = 4,       /* a view that found a live owner when it was allocated */
    REC_OWNER_RELEASED = 8, /* a view whose owner's memory has been released since */
    REC_ORPHAN = 16,        /* on the orphan list: its process had no entry when it was made */
};

typedef struct rec {
    uint64_t addr, size, obj, ts;
    uint32_t pid;
    uint32_t next; /* bucket chain while used; free list while not */
    uint32_t refs;
    uint16_t device;
    uint8_t memtype;
    uint8_t rflags;
    uint32_t pprev, pnext; /* the process's list (or the orphans'), NIL at its ends */
} rec;

_Static_assert(sizeof(rec) == 56, "a live record is 56 bytes");

/* A list of records through their pprev / pnext links: a process's, or the orphans'. */
typedef struct reclist {
    uint32_t head, tail; /* NIL when empty */
} reclist;

/* A key ever allocated, in 16 bytes: the address, then packed: bit 0 used, bits 1-2 space,
 * bits 3-5 the last memtype, bits 6-21 the device, bits 22-63 the last size (sizes of 4 TiB and
 * more are kept as 4 TiB - 1: only compared for "reused with a new size"). */
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

typedef struct offender_slot {
    ttm_offender o;
    bool used;
} offender_slot;

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
} proc;

typedef struct dev {
    ttm_device_stats s;
    bool capacity_set[TTM_SPACE_COUNT]; /* set explicitly (not from the default profile) */
} dev;

/* A growable open-addressing table of fixed-size entries. */
typedef struct otable {
    void *slots;
    size_t mask;  /* capacity - 1, capacity a power of two; 0 when not allocated */
    size_t used;  /* slots not empty (deleted included) */
    size_t live;  /* entries present */
} otable;

struct ttm_registry {
    ttm_registry_config cfg;

    rec **chunks;
    uint32_t nchunks;
    uint32_t next_unused; /* records ever handed out from the chunks */
    uint32_t free_head;
    uint64_t live; /* records in use */
    reclist orphans; /* records whose process had no entry (the table was full) */

    uint32_t *buckets;
    uint32_t bucket_mask;

    otable hist;   /* hist_entry */
    otable freed[2]; /* uint64_t fingerprints of freed (pid, obj): current and previous generation */
    unsigned freed_cur;
    otable offs;   /* offender_slot */
    otable pidmap; /* pidslot */

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

    ttm_apply_info scratch_info; /* where apply writes when the caller wants no info */
    ttm_apply_info *info;        /* during one apply: the caller's or scratch_info */

    ttm_totals t;
};

/* ---- helpers -------------------------------------------------------------------------------- */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

static uint64_t key_hash(uint16_t device, unsigned space, uint64_t addr)
{
    return mix64(addr ^ ((uint64_t)device << 40) ^ ((uint64_t)space << 58));
}

/* The record index hashes (device, addr) without the space: records of every space at one
 * address share a chain, so a FREE without memtype walks one chain, not three. */
static inline uint32_t bucket_of(uint64_t mask, uint16_t device, uint64_t addr)
{
    return (uint32_t)(key_hash(device, 0, addr) & mask);
}

static inline rec *rec_at(const ttm_registry *reg, uint32_t i)
{
    return &reg->chunks[i >> CHUNK_SHIFT][i & (CHUNK_SIZE - 1)];
}

static inline ttm_space rec_space(const rec *r)
{
    return ttm__memtype_space(r->memtype);
}

/* a + b, or UINT64_MAX when the sum does not fit: no byte total of the core ever wraps. */
static inline uint64_t sat_add(uint64_t a, uint64_t b)
{
    uint64_t s;
    return __builtin_add_overflow(a, b, &s) ? UINT64_MAX : s;
}

static uint32_t cfg_or(uint32_t v, uint32_t dflt)
{
    return v ? v : dflt;
}

/* ---- open tables ---------------------------------------------------------------------------- */

/* Ensures room for one more entry (load ≤ 1/2). Returns false when the table may not grow past
 * max entries or memory is short. rehash re-inserts the old slots into the new array. */
static bool otable_reserve(otable *t, size_t entry_size, size_t max,
                           void (*rehash)(otable *t, void *old, size_t oldcap))
{
    if (t->live >= max)
        return false;
    if (t->mask != 0 && (t->used + 1) * 2 <= t->mask + 1)
        return true;
    size_t oldcap = t->mask ? t->mask + 1 : 0;
    size_t cap = oldcap ? oldcap : 64;
    while ((t->live + 1) * 2 > cap || cap <= oldcap / 2)
        cap *= 2;
    if (oldcap && (t->live + 1) * 4 > oldcap) /* not mostly tombstones: grow */
        cap = oldcap * 2 > cap ? oldcap * 2 : cap;
    void *slots = ttm__calloc(cap, entry_size);
    if (slots == NULL)
        return false;
    void *old = t->slots;
    t->slots = slots;
    t->mask = cap - 1;
    t->used = 0;
    t->live = 0;
    if (old != NULL)
        rehash(t, old, oldcap);
    ttm__free(old);
    return true;
}

/* history */
static hist_entry *hist_find(const ttm_registry *reg, uint16_t device, unsigned space,
                             uint64_t addr)
{
    if (reg->hist.mask == 0)
        return NULL;
    hist_entry *s = reg->hist.slots;
    uint64_t key = hist_key(device, space);
    for (size_t i = key_hash(device, space, addr) & reg->hist.mask;; i = (i + 1) & reg->hist.mask) {
        if (s[i].meta == 0)
            return NULL;
        if (s[i].addr == addr && (s[i].meta & HIST_KEY_MASK) == key)
            return &s[i];
    }
}

static hist_entry *hist_slot(otable *t, uint16_t device, unsigned space, uint64_t addr)
{
    hist_entry *s = t->slots;
    size_t i = key_hash(device, space, addr) & t->mask;
    while (s[i].meta != 0)
        i = (i + 1) & t->mask;
    return &s[i];
}

static void hist_rehash(otable *t, void *old, size_t oldcap)
{
    hist_entry *o = old;
    for (size_t i = 0; i < oldcap; i++) {
        if (o[i].meta != 0) {
            uint16_t device = (uint16_t)(o[i].meta >> 6);
            unsigned space = (unsigned)(o[i].meta >> 1) & 3;
            *hist_slot(t, device, space, o[i].addr) = o[i];
            t->used++;
            t->live++;
        }
    }
}

static hist_entry *hist_add(ttm_registry *reg, uint16_t device, unsigned space, uint64_t addr)
{
    if (!otable_reserve(&reg->hist, sizeof(hist_entry), reg->cfg.max_history, hist_rehash)) {
        reg->t.history_dropped++;
        return NULL;
    }
    hist_entry *h = hist_slot(&reg->hist, device, space, addr);
    h->addr = addr;
    h->meta = hist_key(device, space);
    reg->hist.used++;
    reg->hist.live++;
    return h;
}

/* freed objects: two generations of 64-bit fingerprints of (pid, obj), 0 meaning an empty
 * slot. A free is written to the current generation; when that holds half of max_freed_objs,
 * the previous generation is forgotten (counted in freed_objs_dropped) and its table becomes
 * the current one. So the most recent frees are always remembered, in tables small enough to
 * stay in cache. Two pairs share a fingerprint with a probability of about n^2 / 2^65. */
static uint64_t obj_fingerprint(uint32_t pid, uint64_t obj)
{
    uint64_t h = mix64(obj ^ ((uint64_t)pid << 32) ^ pid);
    return h ? h : 1;
}

/* The slot holding fp, or the empty slot where it would go. */
static uint64_t *freed_slot(const otable *t, uint64_t fp)
{
    uint64_t *s = t->slots;
    size_t i = fp & t->mask;
    while (s[i] != 0 && s[i] != fp)
        i = (i + 1) & t->mask;
    return &s[i];
}

static bool freed_contains(const ttm_registry *reg, uint32_t pid, uint64_t obj)
{
    uint64_t fp = obj_fingerprint(pid, obj);
    for (unsigned g = 0; g < 2; g++)
        if (reg->freed[g].mask != 0 && *freed_slot(&reg->freed[g], fp) != 0)
            return true;
    return false;
}

static void freed_rehash(otable *t, void *old, size_t oldcap)
{
    uint64_t *o = old;
    for (size_t i = 0; i < oldcap; i++) {
        if (o[i] != 0) {
            *freed_slot(t, o[i]) = o[i];
            t->used++;
            t->live++;
        }
    }
}

static void freed_add(ttm_registry *reg, uint32_t pid, uint64_t obj)
{
    uint64_t fp = obj_fingerprint(pid, obj);
    otable *cur = &reg->freed[reg->freed_cur];
    if (cur->mask != 0 && *freed_slot(cur, fp) == fp)
        return;
    size_t gen_cap = reg->cfg.max_freed_objs / 2 ? reg->cfg.max_freed_objs / 2 : 1;
    if (cur->live >= gen_cap) {
        /* the current generation is full: forget the previous one and reuse its table */
        reg->freed_cur ^= 1;
        otable *old = &reg->freed[reg->freed_cur];
        reg->t.freed_objs_dropped += old->live;
        if (old->mask != 0)
            memset(old->slots, 0, (old->mask + 1) * sizeof(uint64_t));
        old->used = old->live = 0;
        cur = old;
    }
    if (!otable_reserve(cur, sizeof(uint64_t), gen_cap, freed_rehash)) {
        reg->t.freed_objs_dropped++; /* out of memory */
        return;
    }
    *freed_slot(cur, fp) = fp;
    cur->used++;
    cur->live++;
}

/* offenders */
static uint64_t off_hash(unsigned cls, uint16_t device, uint64_t addr)
{
    return mix64(addr ^ ((uint64_t)device << 40) ^ ((uint64_t)cls << 56));
}

static offender_slot *off_slot(const otable *t, unsigned cls, uint16_t device, uint64_t addr)
{
    offender_slot *s = t->slots;
    for (size_t i = off_hash(cls, device, addr) & t->mask;; i = (i + 1) & t->mask) {
        if (!s[i].used)
            return &s[i];
        if (s[i].o.cls == cls && s[i].o.device == device && s[i].o.addr == addr)
            return &s[i];
    }
}

static void off_rehash(otable *t, void *old, size_t oldcap)
{
    offender_slot *o = old;
    for (size_t i = 0; i < oldcap; i++) {
        if (o[i].used) {
            *off_slot(t, o[i].o.cls, o[i].o.device, o[i].o.addr) = o[i];
            t->used++;
            t->live++;
        }
    }
}

static void offender_note(ttm_registry *reg, unsigned cls, uint16_t device, unsigned memtype,
                          uint64_t addr, uint64_t bytes, uint32_t pid, uint64_t ts)
{
    offender_slot *s = reg->offs.mask ? off_slot(&reg->offs, cls, device, addr) : NULL;
    if (s == NULL || !s->used) {
        if (!otable_reserve(&reg->offs, sizeof(offender_slot), reg->cfg.max_offenders,
                            off_rehash)) {
            reg->t.offenders_dropped++;
            return;
        }
        s = off_slot(&reg->offs, cls, device, addr);
        memset(s, 0, sizeof *s);
        s->used = true;
        s->o.cls = (ttm_class)cls;
        s->o.device = device;
        s->o.addr = addr;
        s->o.memtype = TTM_MEM_ANY;
        s->o.first_ts = ts;
        reg->offs.used++;
        reg->offs.live++;
    }
    ttm_offender *o = &s->o;
    o->count++;
    o->bytes = sat_add(o->bytes, bytes);
    o->last_ts = ts;
    if (memtype != TTM_MEM_ANY)
        o->memtype = (uint8_t)memtype;
    for (unsigned i = 0; i < o->npids; i++)
        if (o->pids[i] == pid)
            return;
    if (o->npids < TTM_PROC_MAX_PIDS)
        o->pids[o->npids++] = pid;
    else
        o->more_pids = true;
}

/* processes: the pid map holds (pid, index + 1) pairs so that it can rehash on its own */
typedef struct pidslot {
    uint32_t pid;
    uint32_t idx1; /* 0 = empty */
} pidslot;

static pidslot *pid_slot(const otable *t, uint32_t pid)
{
    pidslot *s = t->slots;
    for (size_t i = mix64(pid) & t->mask;; i = (i + 1) & t->mask)
        if (s[i].idx1 == 0 || s[i].pid == pid)
            return &s[i];
}

static void pid_rehash(otable *t, void *old, size_t oldcap)
{
    pidslot *o = old;
    for (size_t i = 0; i < oldcap; i++) {
        if (o[i].idx1 != 0) {
            *pid_slot(t, o[i].pid) = o[i];
            t->used++;
            t->live++;
        }
    }
}

static proc *proc_find(const ttm_registry *reg, uint32_t pid)
{
    if (reg->last_proc != NULL && reg->last_proc->pid == pid)
        return reg->last_proc;
    if (reg->pidmap.mask == 0)
        return NULL;
    pidslot *s = pid_slot(&reg->pidmap, pid);
    return s->idx1 ? reg->procs[s->idx1 - 1] : NULL;
}

/* Finds or creates pid's entry; NULL when the table is full or memory is short (the caller
 * then goes on without per-process statistics). A new entry is alive. */
static proc *proc_get(ttm_registry *reg, uint32_t pid, uint64_t ts)
{
    if (reg->last_proc != NULL && reg->last_proc->pid == pid)
        return reg->last_proc;
    proc *p = proc_find(reg, pid);
    if (p == NULL) {
        if (reg->nprocs >= reg->cfg.max_processes) {
            reg->t.processes_dropped++;
            return NULL;
        }
        if (reg->nprocs == reg->cap_procs) {
            size_t cap = reg->cap_procs ? reg->cap_procs * 2 : 16;
            proc **np = ttm__reallocarray(reg->procs, cap, sizeof *np);
            if (np == NULL)
                return NULL;
            reg->procs = np;
            reg->cap_procs = cap;
        }
        if (!otable_reserve(&reg->pidmap, sizeof(pidslot), reg->cfg.max_processes, pid_rehash))
            return NULL;
        p = ttm__calloc(1, sizeof *p);
        if (p == NULL)
            return NULL;
        p->pid = pid;
        p->alive = true;
        p->first_ts = ts;
        p->recs = (reclist){NIL, NIL};
        reg->procs[reg->nprocs++] = p;
        *pid_slot(&reg->pidmap, pid) = (pidslot){pid, (uint32_t)reg->nprocs};
        reg->pidmap.used++;
        reg->pidmap.live++;
    }
    reg->last_proc = p;
    return p;
}

static ttm_memstat *proc_mem_find(proc *p, uint16_t device, unsigned memtype)
{
    for (size_t i = 0; i < p->ndevices; i++)
        if (p->devices[i].device == device)
            return &p->devices[i].mem[memtype];
    return NULL;
}

/* The process's statistics for (device, memtype), created when missing; NULL when memory is
 * short. */
static ttm_memstat *proc_mem(proc *p, uint16_t device, unsigned memtype)
{
    ttm_memstat *m = proc_mem_find(p, device, memtype);
    if (m != NULL)
        return m;
    if (p->ndevices == p->cap_devices) {
        size_t cap = p->cap_devices ? p->cap_devices * 2 : 4;
        ttm_proc_mem *nd = ttm__reallocarray(p->devices, cap, sizeof *nd);
        if (nd == NULL)
            return NULL;
        p->devices = nd;
        p->cap_devices = cap;
    }
    /* keep ascending by device */
    size_t at = p->ndevices;
    while (at > 0 && p->devices[at - 1].device > device)
        at--;
    memmove(&p->devices[at + 1], &p->devices[at], (p->ndevices - at) * sizeof *p->devices);
    memset(&p->devices[at], 0, sizeof *p->devices);
    p->devices[at].device = device;
    p->ndevices++;
    return &p->devices[at].mem[memtype];
}

/* devices */
/* Fills the capacities not set explicitly from a profile: the device's own architecture's
 * when it named one, else arch's (the default). */
static void dev_apply_profile(dev *d, ttm_arch arch)
{
    const ttm_arch_profile *prof = ttm__arch_profile(d->s.arch != 0 ? d->s.arch : arch);
    if (prof == NULL)
        return;
    if (!d->capacity_set[TTM_SPACE_DRAM])
        d->s.capacity[TTM_SPACE_DRAM] = ttm__arch_dram_bytes(prof);
    if (!d->capacity_set[TTM_SPACE_L1])
        d->s.capacity[TTM_SPACE_L1] = ttm__arch_l1_bytes(prof);
    if (d->s.arch == 0)
        d->s.arch = arch;
}

static dev *dev_get(ttm_registry *reg, uint16_t device)
{
    dev *d = reg->devs[device];
    if (d != NULL)
        return d;
    d = ttm__calloc(1, sizeof *d);
    if (d == NULL)
        return NULL;
    d->s.device = device;
    dev_apply_profile(d, reg->default_arch);
    size_t at = reg->ndevs;
    while (at > 0 && reg->dev_ids[at - 1] > device)
        at--;
    memmove(&reg->dev_ids[at + 1], &reg->dev_ids[at], (reg->ndevs - at) * sizeof(uint16_t));
    reg->dev_ids[at] = device;
    reg->ndevs++;
    reg->devs[device] = d;
    return d;
}

/* ---- sizes ---------------------------------------------------------------------------------- */

/* Sizes beyond any device (docs/CLASSIFICATION.md, "Sizes"): TTM_SIZE_MARGIN times the largest
 * capacity any built-in profile has in the space; SYSTEM_MEMORY (host memory, no profile) has a
 * fixed bound. A device that says it has more raises its own bound to its capacity. */
#define TTM_SIZE_MARGIN 16u
#define TTM_SYSTEM_SIZE_MAX (1ull << 44) /* 16 TiB */

static void size_bounds_init(ttm_registry *reg)
{
    uint64_t dram = 0, l1 = 0;
    for (unsigned a = 0; a < 256; a++) {
        const ttm_arch_profile *prof = ttm__arch_profile(a);
        if (prof == NULL)
            continue;
        if (ttm__arch_dram_bytes(prof) > dram)
            dram = ttm__arch_dram_bytes(prof);
        if (ttm__arch_l1_bytes(prof) > l1)
            l1 = ttm__arch_l1_bytes(prof);
    }
    reg->size_max[TTM_SPACE_DRAM] = dram * TTM_SIZE_MARGIN;
    reg->size_max[TTM_SPACE_L1] = l1 * TTM_SIZE_MARGIN;
    reg->size_max[TTM_SPACE_SYSTEM] = TTM_SYSTEM_SIZE_MAX;
    reg->size_max_least = UINT64_MAX;
    for (unsigned sp = 0; sp < TTM_SPACE_COUNT; sp++)
        if (reg->size_max[sp] < reg->size_max_least)
            reg->size_max_least = reg->size_max[sp];
}

static uint64_t size_bound(const ttm_registry *reg, const dev *d, unsigned space)
{
    uint64_t cap = d != NULL ? d->s.capacity[space] : 0;
    return cap > reg->size_max[space] ? cap : reg->size_max[space];
}

uint64_t ttm_registry_size_max(const ttm_registry *reg, uint16_t device, ttm_space space)
{
    if ((unsigned)space >= TTM_SPACE_COUNT)
        return 0;
    return size_bound(reg, reg->devs[device], space);
}

/* True when ev's size is more than its space can hold on device d (a FREE without memtype:
 * more than any space can). */
static bool size_beyond_device(const ttm_registry *reg, const dev *d, const ttm_event *ev)
{
    if (ev->memtype != TTM_MEM_ANY)
        return ev->size > size_bound(reg, d, ttm__memtype_space(ev->memtype));
    for (unsigned sp = 0; sp < TTM_SPACE_COUNT; sp++)
        if (ev->size <= size_bound(reg, d, sp))
            return false;
    return true;
}

/* ---- open / close --------------------------------------------------------------------------- */

int ttm_registry_open(ttm_registry **out, const ttm_registry_config *cfg)
{
    if (out == NULL)
        return TTM_EINVAL;
    *out = NULL;
    ttm_registry *reg = ttm__calloc(1, sizeof *reg);
    if (reg == NULL)
        return TTM_ENOMEM;
    if (cfg != NULL)
        reg->cfg = *cfg;
    reg->cfg.max_offenders = cfg_or(reg->cfg.max_offenders, 65536);
    reg->cfg.max_history = cfg_or(reg->cfg.max_history, 4u << 20);
    reg->cfg.max_freed_objs = cfg_or(reg->cfg.max_freed_objs, 1u << 19);
    reg->cfg.max_leaks_listed = cfg_or(reg->cfg.max_leaks_listed, 4096);
    reg->cfg.max_processes = cfg_or(reg->cfg.max_processes, 4096);
    reg->free_head = NIL;
    reg->orphans = (reclist){NIL, NIL};
    size_bounds_init(reg);
    reg->devs = ttm__calloc(MAX_DEVICES, sizeof *reg->devs);
    reg->dev_ids = ttm__calloc(MAX_DEVICES, sizeof *reg->dev_ids);
    reg->bucket_mask = 1023;
    reg->buckets = ttm__malloc((reg->bucket_mask + 1) * sizeof *reg->buckets);
    if (reg->devs == NULL || reg->dev_ids == NULL || reg->buckets == NULL) {
        ttm_registry_close(reg);
        return TTM_ENOMEM;
    }
    memset(reg->buckets, 0xff, (reg->bucket_mask + 1) * sizeof *reg->buckets);
    *out = reg;
    return TTM_OK;
}

void ttm_registry_close(ttm_registry *reg)
{
    if (reg == NULL)
        return;
    for (uint32_t i = 0; i < reg->nchunks; i++)
        ttm__free(reg->chunks[i]);
    ttm__free(reg->chunks);
    ttm__free(reg->buckets);
    ttm__free(reg->hist.slots);
    ttm__free(reg->freed[0].slots);
    ttm__free(reg->freed[1].slots);
    ttm__free(reg->offs.slots);
    ttm__free(reg->pidmap.slots);
    for (size_t i = 0; i < reg->nprocs; i++) {
        ttm__free(reg->procs[i]->devices);
        ttm__free(reg->procs[i]);
    }
    ttm__free(reg->procs);
    if (reg->devs != NULL)
        for (size_t i = 0; i < reg->ndevs; i++)
            ttm__free(reg->devs[reg->dev_ids[i]]);
    ttm__free(reg->devs);
    ttm__free(reg->dev_ids);
    ttm__free(reg->leaks);
    ttm__free(reg);
}

void ttm_registry_set_capacity(ttm_registry *reg, uint16_t device, ttm_space space,
                               uint64_t bytes)
{
    dev *d = dev_get(reg, device);
    if (d == NULL || (unsigned)space >= TTM_SPACE_COUNT)
        return;
    d->s.capacity[space] = bytes;
    d->capacity_set[space] = true;
}

void ttm_registry_set_default_arch(ttm_registry *reg, ttm_arch arch)
{
    reg->default_arch = arch;
    for (size_t i = 0; i < reg->ndevs; i++)
        dev_apply_profile(reg->devs[reg->dev_ids[i]], arch);
}

/* ---- records -------------------------------------------------------------------------------- */

static bool buckets_grow(ttm_registry *reg)
{
    uint32_t cap = (reg->bucket_mask + 1) * 2;
    uint32_t *nb = ttm__malloc((size_t)cap * sizeof *nb);
    if (nb == NULL)
        return false;
    memset(nb, 0xff, (size_t)cap * sizeof *nb);
    for (uint32_t i = 0; i < reg->next_unused; i++) {
        rec *r = rec_at(reg, i);
        if (!(r->rflags & REC_USED))
            continue;
        uint32_t b = bucket_of(cap - 1, r->device, r->addr);
        r->next = nb[b];
        nb[b] = i;
    }
    ttm__free(reg->buckets);
    reg->buckets = nb;
    reg->bucket_mask = cap - 1;
    return true;
}

static void list_remove(ttm_registry *reg, reclist *l, uint32_t i)
{
    rec *r = rec_at(reg, i);
    if (r->pprev != NIL)
        rec_at(reg, r->pprev)->pnext = r->pnext;
    else
        l->head = r->pnext;
    if (r->pnext != NIL)
        rec_at(reg, r->pnext)->pprev = r->pprev;
    else
        l->tail = r->pprev;
}

/* Takes a free record slot for pid (p its entry, NULL when the table had no room: the record
 * is an orphan) and links it into its key's chain and at the end of its list. NULL when memory
 * is short. */
static rec *rec_new(ttm_registry *reg, proc *p, uint32_t pid, uint16_t device, unsigned memtype,
                    uint64_t addr)
{
    /* the index doubles at 1.25 records a bucket: right after, it holds 6.4 bytes per live
     * record, so a record (56) and its share of the index stay within 64 bytes at any size */
    uint64_t nb = (uint64_t)reg->bucket_mask + 1;
    if (reg->live + 1 > nb + nb / 4 && reg->bucket_mask < (1u << 30))
        (void)buckets_grow(reg); /* a full index only slows lookups down */
    uint32_t i = reg->free_head;
    if (i != NIL) {
        reg->free_head = rec_at(reg, i)->next;
    } else {
        if (reg->next_unused == NIL - 1)
            return NULL;
        if ((reg->next_unused >> CHUNK_SHIFT) == reg->nchunks) {
            rec **nc = ttm__reallocarray(reg->chunks, reg->nchunks + 1, sizeof *nc);
            if (nc == NULL)
                return NULL;
            reg->chunks = nc;
            rec *chunk = ttm__malloc(CHUNK_SIZE * sizeof(rec));
            if (chunk == NULL)
                return NULL;
            reg->chunks[reg->nchunks++] = chunk;
        }
        i = reg->next_unused++;
    }
    rec *r = rec_at(reg, i);
    uint32_t b = bucket_of(reg->bucket_mask, device, addr);
    reclist *l = p != NULL ? &p->recs : &reg->orphans;
    *r = (rec){
        .addr = addr,
        .pid = pid,
        .next = reg->buckets[b],
        .refs = 1,
        .device = device,
        .memtype = (uint8_t)memtype,
        .rflags = p != NULL ? REC_USED : REC_USED | REC_ORPHAN,
        .pprev = l->tail,
        .pnext = NIL,
    };
    reg->buckets[b] = i;
    if (l->tail != NIL)
        rec_at(reg, l->tail)->pnext = i;
    else
        l->head = i;
    l->tail = i;
    reg->live++;
    return r;
}

/* A new record for pid's ALLOC event ev (p its entry, or NULL); NULL when memory is short. */
static rec *rec_open(ttm_registry *reg, proc *p, uint32_t pid, const ttm_event *ev)
{
    rec *r = rec_new(reg, p, pid, ev->device, ev->memtype, ev->addr);
    if (r != NULL) {
        r->size = ev->size;
        r->obj = ev->obj;
        r->ts = ev->ts;
    }
    return r;
}

/* Unlinks record i from its chain and its list and returns its slot to the free list. p is the
 * entry of the record's process (records are deleted only by their own process's events and
 * exit; a process with records is never forgotten, so its entry exists unless the record is an
 * orphan). */
static void rec_delete(ttm_registry *reg, proc *p, uint32_t i)
{
    rec *r = rec_at(reg, i);
    list_remove(reg, p != NULL && !(r->rflags & REC_ORPHAN) ? &p->recs : &reg->orphans, i);
    uint32_t b = bucket_of(reg->bucket_mask, r->device, r->addr);
    uint32_t *link = &reg->buckets[b];
    while (*link != i)
        link = &rec_at(reg, *link)->next;
    *link = r->next;
    r->rflags = 0;
    r->next = reg->free_head;
    reg->free_head = i;
    reg->live--;
}

/* ---- accounting ----------------------------------------------------------------------------- */

uint64_t ttm_device_space_used(const ttm_device_stats *d, ttm_space sp)
{
    uint64_t sum = 0;
    for (unsigned m = 0; m < TTM_MEMTYPE_COUNT; m++)
        if (ttm__memtype_space(m) == sp)
            sum = sat_add(sum, d->mem[m].live_bytes);
    return sum;
}

static void space_peak(dev *d, unsigned memtype, uint64_t ts)
{
    ttm_space sp = ttm__memtype_space(memtype);
    uint64_t sum = ttm_device_space_used(&d->s, sp);
    if (sum > d->s.space_peak[sp]) {
        d->s.space_peak[sp] = sum;
        d->s.space_peak_ts[sp] = ts;
    }
}

static void memstat_add(ttm_memstat *m, uint64_t bytes, uint64_t ts)
{
    m->live_bytes = sat_add(m->live_bytes, bytes);
    m->live_count++;
    m->allocs++;
    if (m->live_bytes > m->peak_bytes) {
        m->peak_bytes = m->live_bytes;
        m->peak_ts = ts;
    }
}

static void memstat_sub(ttm_memstat *m, uint64_t bytes)
{
    m->live_bytes = m->live_bytes >= bytes ? m->live_bytes - bytes : 0;
    if (m->live_count)
        m->live_count--;
    m->frees++;
}

/* Bytes of an owning record enter the statistics: the device's, and pm (its process's for
 * the record's device and memtype; NULL when the process has no entry). */
static void bytes_in(dev *d, ttm_memstat *pm, const rec *r, uint64_t ts)
{
    memstat_add(&d->s.mem[r->memtype], r->size, ts);
    space_peak(d, r->memtype, ts);
    if (pm != NULL)
        memstat_add(pm, r->size, ts);
}

/* Bytes of an owning record leave the statistics. */
static void bytes_out(ttm_registry *reg, const rec *r)
{
    dev *d = reg->devs[r->device];
    if (d != NULL)
        memstat_sub(&d->s.mem[r->memtype], r->size);
    proc *p = proc_find(reg, r->pid);
    if (p != NULL) {
        ttm_memstat *pm = proc_mem_find(p, r->device, r->memtype);
        if (pm != NULL)
            memstat_sub(pm, r->size);
    }
}

static void count_class(ttm_registry *reg, dev *d, proc *p, unsigned cls, uint16_t device,
                        unsigned memtype, uint64_t addr, uint64_t bytes, uint32_t pid,
                        uint64_t ts)
{
    reg->t.class_count[cls]++;
    reg->t.class_bytes[cls] = sat_add(reg->t.class_bytes[cls], bytes);
    if (d != NULL) {
        d->s.class_count[cls]++;
        d->s.class_bytes[cls] = sat_add(d->s.class_bytes[cls], bytes);
    }
    if (class_table[cls].anomaly) {
        if (p != NULL)
            p->anomalies++;
        offender_note(reg, cls, device, memtype, addr, bytes, pid, ts);
    }
}

static void note_record(ttm_registry *reg, const rec *r)
{
    *reg->info = (ttm_apply_info){
        .matched = true,
        .owner_pid = r->pid,
        .refs = r->refs,
        .size = r->size,
        .memtype = r->memtype,
    };
}

static void proc_live(proc *p, int delta)
{
    if (p != NULL)
        p->live_records += (uint64_t)(int64_t)delta;
}

/* ---- ALLOC ---------------------------------------------------------------------------------- */

static uint32_t apply_alloc(ttm_registry *reg, uint32_t pid, const ttm_event *ev, dev *d,
                            proc *p)
{
    unsigned space = ttm__memtype_space(ev->memtype);
    bool is_view = (ev->flags & TTM_FLAG_VIEW) != 0;

    if (reg->cfg.max_live_per_pid && p != NULL && p->live_records >= reg->cfg.max_live_per_pid) {
        count_class(reg, d, p, TTM_CLASS_LIMIT, ev->device, ev->memtype, ev->addr, ev->size, pid,
                    ev->ts);
        return TTM_CLASS_BIT(TTM_CLASS_LIMIT);
    }

    /* Owning records at the key: ours, and any other process's. */
    rec *mine = NULL, *other = NULL;
    uint32_t mine_i = NIL;
    uint32_t b = bucket_of(reg->bucket_mask, ev->device, ev->addr);
    for (uint32_t i = reg->buckets[b]; i != NIL;) {
        rec *r = rec_at(reg, i);
        uint32_t at = i;
        i = r->next;
        if (r->addr != ev->addr || r->device != ev->device || rec_space(r) != space ||
            (r->rflags & REC_VIEW))
            continue;
        if (r->pid == pid) {
            if (mine == NULL || r->ts > mine->ts) {
                mine = r;
                mine_i = at;
            }
        } else if (other == NULL || r->ts > other->ts) {
            other = r;
        }
    }

    if (is_view) {
        rec *r = rec_open(reg, p, pid, ev);
        if (r == NULL)
            goto out_nomem;
        r->rflags |= REC_VIEW | ((mine || other) ? REC_ATTACHED : 0);
        note_record(reg, r);
        proc_live(p, 1);
        count_class(reg, d, p, TTM_CLASS_ALLOC_VIEW, ev->device, ev->memtype, ev->addr, 0, pid,
                    ev->ts);
        return TTM_CLASS_BIT(TTM_CLASS_ALLOC_VIEW);
    }

    if (mine != NULL && mine->obj == ev->obj) {
        if (mine->refs < UINT32_MAX)
            mine->refs++;
        note_record(reg, mine);
        count_class(reg, d, p, TTM_CLASS_DUPLICATE_ALLOC, ev->device, ev->memtype, ev->addr,
                    ev->size, pid, ev->ts);
        return TTM_CLASS_BIT(TTM_CLASS_DUPLICATE_ALLOC);
    }

    hist_entry *h = hist_find(reg, ev->device, space, ev->addr);
    if (h != NULL) {
        reg->t.reuse_allocs++;
        if (hist_last_size(h) != hist_size_of(ev->size))
            reg->t.reuse_size_changes++;
    } else {
        h = hist_add(reg, ev->device, space, ev->addr);
    }
    if (h != NULL) {
        hist_set_last(h, ev->memtype, ev->size);
    }

    /* The process's per-device entry must exist before bytes move, so that its statistics
     * never miss a record that the device's statistics hold. */
    ttm_memstat *pm = p != NULL ? proc_mem(p, ev->device, ev->memtype) : NULL;
    if (p != NULL && pm == NULL)
        goto out_nomem;

    unsigned cls = TTM_CLASS_ALLOC_OK;
    if (mine != NULL) {
        /* The allocator handed our live address out again: the old buffer's free was missed. */
        cls = TTM_CLASS_OVERLAP;
        bytes_out(reg, mine);
        count_class(reg, d, p, TTM_CLASS_MISSED_FREE, mine->device, mine->memtype, mine->addr,
                    mine->size, pid, ev->ts);
        rec_delete(reg, p, mine_i);
        proc_live(p, -1);
    } else if (other != NULL) {
        cls = TTM_CLASS_OVERLAP;
    }

    rec *r = rec_open(reg, p, pid, ev);
    if (r == NULL)
        goto out_nomem;
    proc_live(p, 1);
    note_record(reg, r);
    bytes_in(d, pm, r, ev->ts); /* pm stays valid: nothing since has grown p->devices */
    count_class(reg, d, p, cls, ev->device, ev->memtype, ev->addr, ev->size, pid, ev->ts);
    return TTM_CLASS_BIT(cls);

out_nomem:
    count_class(reg, d, p, TTM_CLASS_INVALID, ev->device, ev->memtype, ev->addr, ev->size, pid,
                ev->ts);
    return TTM_CLASS_BIT(TTM_CLASS_INVALID);
}

/* ---- FREE ----------------------------------------------------------------------------------- */

/* True when a is a better match for a FREE than b (docs/CLASSIFICATION.md, "matches"). */
static bool better_match(const rec *a, const rec *b, uint32_t pid, uint64_t obj)
{
    if (b == NULL)
        return true;
    if ((a->pid == pid) != (b->pid == pid))
        return a->pid == pid;
    bool ax = obj != 0 && a->obj == obj, bx = obj != 0 && b->obj == obj;
    if (ax != bx)
        return ax;
    bool aown = !(a->rflags & REC_VIEW), bown = !(b->rflags & REC_VIEW);
    if (aown != bown)
        return aown;
    return a->ts > b->ts;
}

/* Finds the record a FREE should take in each space of space_mask at (device, addr), in one
 * walk of the chain: best[space] receives its index or NIL. Sets *owner_live when an owning
 * record of any object is live there. */
static void find_matches(ttm_registry *reg, uint32_t pid, uint16_t device, unsigned space_mask,
                         uint64_t addr, uint64_t obj, uint32_t best[TTM_SPACE_COUNT],
                         bool *owner_live)
{
    rec *bestr[TTM_SPACE_COUNT] = {NULL, NULL, NULL};
    for (unsigned s = 0; s < TTM_SPACE_COUNT; s++)
        best[s] = NIL;
    for (uint32_t i = reg->buckets[bucket_of(reg->bucket_mask, device, addr)]; i != NIL;) {
        rec *r = rec_at(reg, i);
        uint32_t at = i;
        i = r->next;
        unsigned s = rec_space(r);
        if (r->addr != addr || r->device != device || !(space_mask & (1u << s)))
            continue;
        if (!(r->rflags & REC_VIEW))
            *owner_live = true;
        if (obj != 0 && r->obj != 0 && r->obj != obj)
            continue;
        if (better_match(r, bestr[s], pid, obj)) {
            bestr[s] = r;
            best[s] = at;
        }
    }
}

/* The history entry of the first space in space_mask that has one (DRAM, L1, SYSTEM). */
static hist_entry *hist_find_any(const ttm_registry *reg, uint16_t device, unsigned space_mask,
                                 uint64_t addr)
{
    for (unsigned s = 0; s < TTM_SPACE_COUNT; s++) {
        hist_entry *h = (space_mask & (1u << s)) ? hist_find(reg, device, s, addr) : NULL;
        if (h != NULL)
            return h;
    }
    return NULL;
}

/* Marks the views attached at an owner's key as having outlived it. */
static void views_owner_released(ttm_registry *reg, const rec *owner)
{
    unsigned space = rec_space(owner);
    uint32_t b = bucket_of(reg->bucket_mask, owner->device, owner->addr);
    for (uint32_t i = reg->buckets[b]; i != NIL;) {
        rec *r = rec_at(reg, i);
        i = r->next;
        if (r->addr == owner->addr && r->device == owner->device && rec_space(r) == space &&
            (r->rflags & REC_VIEW) && (r->rflags & REC_ATTACHED))
            r->rflags |= REC_OWNER_RELEASED;
    }
}

static uint32_t apply_free(ttm_registry *reg, uint32_t pid, const ttm_event *ev, dev *d, proc *p)
{
    rec *chosen = NULL;
    uint32_t chosen_i = NIL;
    unsigned nspaces_matched = 0;
    bool owner_live = false;
    unsigned space_mask = ev->memtype == TTM_MEM_ANY
                              ? (1u << TTM_SPACE_COUNT) - 1
                              : 1u << ttm__memtype_space(ev->memtype);
    uint32_t best[TTM_SPACE_COUNT];
    find_matches(reg, pid, ev->device, space_mask, ev->addr, ev->obj, best, &owner_live);
    for (unsigned s = 0; s < TTM_SPACE_COUNT; s++) {
        if (best[s] == NIL)
            continue;
        rec *m = rec_at(reg, best[s]);
        nspaces_matched++;
        if (chosen == NULL || m->ts > chosen->ts) {
            chosen = m;
            chosen_i = best[s];
        }
    }
    /* history only matters when nothing live matched */
    hist_entry *h = chosen == NULL ? hist_find_any(reg, ev->device, space_mask, ev->addr) : NULL;

    uint32_t extra = 0;
    if (nspaces_matched > 1) {
        extra = TTM_CLASS_BIT(TTM_CLASS_AMBIGUOUS_FREE);
        count_class(reg, d, p, TTM_CLASS_AMBIGUOUS_FREE, ev->device, chosen->memtype, ev->addr,
                    0, pid, ev->ts);
    }

    unsigned memtype = chosen ? chosen->memtype : h ? hist_last_memtype(h) : ev->memtype;
    if (chosen != NULL)
        note_record(reg, chosen);
    unsigned cls;
    uint64_t bytes = 0;
    if (chosen != NULL && chosen->pid != pid) {
        cls = TTM_CLASS_FOREIGN_FREE;
        bytes = chosen->size;
    } else if (chosen != NULL && (chosen->rflags & REC_VIEW)) {
        cls = (chosen->rflags & REC_OWNER_RELEASED) ? TTM_CLASS_VIEW_AFTER_OWNER
                                                     : TTM_CLASS_FREE_VIEW;
        reg->info->refs = 0;
        rec_delete(reg, p, chosen_i);
        proc_live(p, -1);
    } else if (chosen != NULL) {
        cls = TTM_CLASS_FREE_OK;
        if (ev->size != 0 && ev->size != chosen->size) {
            extra |= TTM_CLASS_BIT(TTM_CLASS_SIZE_MISMATCH);
            count_class(reg, d, p, TTM_CLASS_SIZE_MISMATCH, ev->device, memtype, ev->addr,
                        ev->size, pid, ev->ts);
        }
        reg->info->refs = --chosen->refs;
        if (chosen->refs == 0) {
            bytes = chosen->size;
            bytes_out(reg, chosen);
            views_owner_released(reg, chosen);
            if (chosen->obj != 0)
                freed_add(reg, pid, chosen->obj);
            rec_delete(reg, p, chosen_i);
            proc_live(p, -1);
        }
    } else if (ev->flags & TTM_FLAG_VIEW) {
        cls = owner_live ? TTM_CLASS_FREE_VIEW
              : h != NULL ? TTM_CLASS_VIEW_AFTER_OWNER
                          : TTM_CLASS_UNKNOWN_FREE;
    } else if (ev->obj != 0 && freed_contains(reg, pid, ev->obj)) {
        cls = TTM_CLASS_DOUBLE_FREE;
    } else if (ev->obj == 0 && h != NULL) {
        cls = TTM_CLASS_EXCESS_FREE;
    } else {
        cls = TTM_CLASS_UNKNOWN_FREE;
    }
    if (cls != TTM_CLASS_FREE_OK && bytes == 0 && chosen == NULL)
        bytes = ev->size;
    count_class(reg, d, p, cls, ev->device, memtype, ev->addr, bytes, pid, ev->ts);
    return TTM_CLASS_BIT(cls) | extra;
}

/* ---- apply ---------------------------------------------------------------------------------- */

uint32_t ttm_registry_apply(ttm_registry *reg, uint32_t pid, const ttm_event *ev)
{
    return ttm_registry_apply_ex(reg, pid, ev, NULL);
}

uint32_t ttm_registry_apply_ex(ttm_registry *reg, uint32_t pid, const ttm_event *ev,
                               ttm_apply_info *info)
{
    reg->info = info != NULL ? info : &reg->scratch_info;
    memset(reg->info, 0, sizeof *reg->info);
    reg->t.events++;
    switch (ev->kind) {
    case TTM_EV_ALLOC:
    case TTM_EV_FREE:
        break;
    case TTM_EV_PROC_START: {
        proc *p = proc_get(reg, pid, ev->ts);
        if (p != NULL && !p->alive) { /* a pid reused by a new process */
            p->alive = true;
            p->first_ts = ev->ts;
            p->exit_ts = 0;
        }
        return 0;
    }
    case TTM_EV_PROC_EXIT:
        ttm_registry_process_exit(reg, pid, ev->ts);
        return 0;
    case TTM_EV_DEVICE_INFO: {
        dev *d = dev_get(reg, ev->device);
        if (d != NULL) {
            /* a capacity the event gives wins; one it leaves 0 comes from the profile of the
             * architecture it names (ttmem.h: 0 = the profile's), space by space */
            if (ev->dram_capacity)
                ttm_registry_set_capacity(reg, ev->device, TTM_SPACE_DRAM, ev->dram_capacity);
            if (ev->l1_capacity)
                ttm_registry_set_capacity(reg, ev->device, TTM_SPACE_L1, ev->l1_capacity);
            if (ev->arch) {
                d->s.arch = ev->arch;
                dev_apply_profile(d, (ttm_arch)ev->arch);
            }
        }
        return 0;
    }
    case TTM_EV_MARK:
        reg->t.marks++;
        return 0;
    default: {
        dev *d = dev_get(reg, ev->device);
        count_class(reg, d, proc_get(reg, pid, ev->ts), TTM_CLASS_INVALID, ev->device,
                    TTM_MEM_ANY, 0, 0, pid, ev->ts);
        return TTM_CLASS_BIT(TTM_CLASS_INVALID);
    }
    }

    if (reg->t.first_ts == 0 || ev->ts < reg->t.first_ts)
        reg->t.first_ts = ev->ts;
    if (ev->ts > reg->t.last_ts)
        reg->t.last_ts = ev->ts;

    dev *d = dev_get(reg, ev->device);
    proc *p = proc_get(reg, pid, ev->ts);
    if (p != NULL && !p->alive) { /* events after exit: the pid was reused */
        p->alive = true;
        p->exit_ts = 0;
    }
    bool is_alloc = ev->kind == TTM_EV_ALLOC;
    if (is_alloc)
        reg->t.allocs++;
    else
        reg->t.frees++;

    if (p == NULL && is_alloc && reg->nprocs < reg->cfg.max_processes) {
        /* out of memory for the process's entry: storing the record now would let the
         * process's statistics and the device's disagree later */
        count_class(reg, d, NULL, TTM_CLASS_INVALID, ev->device, TTM_MEM_ANY, ev->addr, ev->size,
                    pid, ev->ts);
        return TTM_CLASS_BIT(TTM_CLASS_INVALID);
    }
    bool bad_memtype = is_alloc ? !ttm__memtype_valid(ev->memtype)
                                : !(ttm__memtype_valid(ev->memtype) || ev->memtype == TTM_MEM_ANY);
    if (bad_memtype || (ev->flags & ~TTM_FLAG_VIEW) != 0 || d == NULL) {
        count_class(reg, d, p, TTM_CLASS_INVALID, ev->device, TTM_MEM_ANY, ev->addr, ev->size,
                    pid, ev->ts);
        return TTM_CLASS_BIT(TTM_CLASS_INVALID);
    }
    if (__builtin_expect(ev->size > reg->size_max_least, 0) && size_beyond_device(reg, d, ev)) {
        /* no byte of it is counted: the size is what is wrong */
        count_class(reg, d, p, TTM_CLASS_OVERSIZE, ev->device, ev->memtype, ev->addr, 0, pid,
                    ev->ts);
        return TTM_CLASS_BIT(TTM_CLASS_OVERSIZE);
    }
    return is_alloc ? apply_alloc(reg, pid, ev, d, p) : apply_free(reg, pid, ev, d, p);
}

/* ---- batches ------------------------------------------------------------------------------- */

/* Each event touches a few places that are rarely in cache with 100,000 buffers live: its
 * bucket, the first record of the chain, its history slot and, for a free with an object id,
 * its freed-set slot. A batch asks for them ahead of time, in two steps (the chain's first
 * record is known only once the bucket has arrived), so that the memory latency of one event
 * overlaps the work on the ones before it. */
#define PREFETCH_FAR 8
#define PREFETCH_NEAR 4

static void prefetch_far(const ttm_registry *reg, const ttm_event *ev)
{
    if (ev->kind != TTM_EV_ALLOC && ev->kind != TTM_EV_FREE)
        return;
    __builtin_prefetch(&reg->buckets[bucket_of(reg->bucket_mask, ev->device, ev->addr)]);
    if (ev->kind == TTM_EV_ALLOC && reg->hist.mask != 0 && ttm__memtype_valid(ev->memtype)) {
        const hist_entry *h = reg->hist.slots;
        __builtin_prefetch(&h[key_hash(ev->device, ttm__memtype_space(ev->memtype), ev->addr) &
                              reg->hist.mask]);
    }
}

static void prefetch_near(const ttm_registry *reg, uint32_t pid, const ttm_event *ev)
{
    if (ev->kind != TTM_EV_ALLOC && ev->kind != TTM_EV_FREE)
        return;
    uint32_t head = reg->buckets[bucket_of(reg->bucket_mask, ev->device, ev->addr)];
    if (head != NIL && head < reg->next_unused)
        __builtin_prefetch(rec_at(reg, head));
    const otable *cur = &reg->freed[reg->freed_cur];
    if (ev->kind == TTM_EV_FREE && ev->obj != 0 && cur->mask != 0) {
        const uint64_t *k = cur->slots;
        __builtin_prefetch(&k[obj_fingerprint(pid, ev->obj) & cur->mask], 1);
    }
}

void ttm_registry_apply_batch(ttm_registry *reg, uint32_t pid, const ttm_event *ev, size_t n,
                              uint32_t *masks)
{
    for (size_t i = 0; i < n && i < PREFETCH_FAR; i++)
        prefetch_far(reg, &ev[i]);
    for (size_t i = 0; i < n && i < PREFETCH_NEAR; i++)
        prefetch_near(reg, pid, &ev[i]);
    for (size_t i = 0; i < n; i++) {
        if (i + PREFETCH_FAR < n)
            prefetch_far(reg, &ev[i + PREFETCH_FAR]);
        if (i + PREFETCH_NEAR < n)
            prefetch_near(reg, pid, &ev[i + PREFETCH_NEAR]);
        uint32_t m = ttm_registry_apply_ex(reg, pid, &ev[i], NULL);
        if (masks != NULL)
            masks[i] = m;
    }
}

static int leak_cmp(const void *a, const void *b)
{
    const ttm_leak *x = a, *y = b;
    if (x->alloc_ts != y->alloc_ts)
        return x->alloc_ts < y->alloc_ts ? -1 : 1;
    if (x->pid != y->pid)
        return x->pid < y->pid ? -1 : 1;
    if (x->device != y->device)
        return x->device < y->device ? -1 : 1;
    return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* Settles record i of an exiting process (p its entry, or NULL): an owning record is counted
 * leaked_at_exit and listed while the list has room, its bytes leave the statistics; then the
 * record (owning or view) is reclaimed. *listed is set when the leak list grew. */
static void exit_settle_record(ttm_registry *reg, proc *p, uint32_t i, uint64_t ts, bool *listed)
{
    rec *r = rec_at(reg, i);
    if (!(r->rflags & REC_VIEW)) {
        dev *d = reg->devs[r->device];
        count_class(reg, d, p, TTM_CLASS_LEAKED_AT_EXIT, r->device, r->memtype, r->addr, r->size,
                    r->pid, ts);
        if (p != NULL) {
            p->leaked_count++;
            p->leaked_bytes = sat_add(p->leaked_bytes, r->size);
            p->exit_leaked_count++;
            p->exit_leaked_bytes = sat_add(p->exit_leaked_bytes, r->size);
        }
        if (reg->nleaks < reg->cfg.max_leaks_listed) {
            if (reg->leaks == NULL)
                reg->leaks = ttm__calloc(reg->cfg.max_leaks_listed, sizeof *reg->leaks);
            if (reg->leaks != NULL) {
                reg->leaks[reg->nleaks++] = (ttm_leak){
                    .pid = r->pid,
                    .device = r->device,
                    .memtype = r->memtype,
                    .addr = r->addr,
                    .size = r->size,
                    .obj = r->obj,
                    .alloc_ts = r->ts,
                    .exit_ts = ts,
                };
                *listed = true;
            }
        }
        bytes_out(reg, r);
    }
    rec_delete(reg, p, i);
    proc_live(p, -1);
}

bool ttm_registry_process_exit_step(ttm_registry *reg, uint32_t pid, uint64_t ts, size_t budget,
                                    ttm_exit_progress *progress)
{
    proc *p = proc_get(reg, pid, ts);
    if (p != NULL && !p->exiting) {
        p->exiting = true;
        p->exiting_ts = ts;
        p->exit_leaked_count = p->exit_leaked_bytes = 0;
    }
    if (p != NULL)
        ts = p->exiting_ts; /* every step settles at the time of the first */
    /* a process without an entry exits in one step: its leaks are the totals' growth */
    uint64_t count0 = reg->t.class_count[TTM_CLASS_LEAKED_AT_EXIT];
    uint64_t bytes0 = reg->t.class_bytes[TTM_CLASS_LEAKED_AT_EXIT];
    size_t n = 0;
    bool listed = false;
    while (p != NULL && n < budget && p->recs.head != NIL) {
        exit_settle_record(reg, p, p->recs.head, ts, &listed);
        n++;
    }
    bool done = p == NULL || p->recs.head == NIL;
    if (done && reg->orphans.head != NIL) {
        /* records made while the table was full: one walk of the orphans, not budgeted */
        for (uint32_t i = reg->orphans.head; i != NIL; n++) {
            rec *r = rec_at(reg, i);
            uint32_t next = r->pnext;
            if (r->pid == pid)
                exit_settle_record(reg, p, i, ts, &listed);
            i = next;
        }
    }
    if (listed && reg->nleaks > 1)
        qsort(reg->leaks, reg->nleaks, sizeof *reg->leaks, leak_cmp);
    if (progress != NULL) {
        progress->visited = n;
        progress->leaked_count = p != NULL ? p->exit_leaked_count
                                           : reg->t.class_count[TTM_CLASS_LEAKED_AT_EXIT] - count0;
        progress->leaked_bytes = p != NULL ? p->exit_leaked_bytes
                                           : reg->t.class_bytes[TTM_CLASS_LEAKED_AT_EXIT] - bytes0;
    }
    if (done && p != NULL) {
        p->alive = false;
        p->exit_ts = ts;
        p->live_records = 0;
        p->exiting = false;
    }
    return done;
}

bool ttm_registry_process_settling(const ttm_registry *reg, uint32_t pid)
{
    const proc *p = proc_find(reg, pid);
    return p != NULL && p->exiting;
}

void ttm_registry_process_exit(ttm_registry *reg, uint32_t pid, uint64_t ts)
{
    (void)ttm_registry_process_exit_step(reg, pid, ts, SIZE_MAX, NULL);
}

int ttm_registry_process_forget(ttm_registry *reg, uint32_t pid)
{
    proc *p = proc_find(reg, pid);
    if (p == NULL)
        return TTM_ENOENT;
    if (p->alive)
        return TTM_EINVAL;
    size_t at = 0;
    while (reg->procs[at] != p)
        at++;
    reg->procs[at] = reg->procs[--reg->nprocs];
    if (reg->last_proc == p)
        reg->last_proc = NULL;
    ttm__free(p->devices);
    ttm__free(p);
    /* indices moved: rebuild the pid map (its capacity is kept) */
    memset(reg->pidmap.slots, 0, (reg->pidmap.mask + 1) * sizeof(pidslot));
    reg->pidmap.used = reg->pidmap.live = 0;
    for (size_t i = 0; i < reg->nprocs; i++) {
        *pid_slot(&reg->pidmap, reg->procs[i]->pid) = (pidslot){reg->procs[i]->pid,
                                                                 (uint32_t)(i + 1)};
        reg->pidmap.used++;
        reg->pidmap.live++;
    }
    return TTM_OK;
}

/* ---- queries -------------------------------------------------------------------------------- */

void ttm_registry_totals(const ttm_registry *reg, ttm_totals *out)
{
    *out = reg->t;
    out->live_records = reg->live;
}

size_t ttm_registry_devices(const ttm_registry *reg, ttm_device_stats *out, size_t cap)
{
    for (size_t i = 0; out != NULL && i < reg->ndevs && i < cap; i++)
        out[i] = reg->devs[reg->dev_ids[i]]->s;
    return reg->ndevs;
}

static int offender_cmp(const void *a, const void *b)
{
    const ttm_offender *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    if (x->device != y->device)
        return x->device < y->device ? -1 : 1;
    if (x->addr != y->addr)
        return x->addr < y->addr ? -1 : 1;
    return (int)x->cls - (int)y->cls;
}

/* Keeps the k best entries (by cmp) of a stream in out[0..k), sorted, with no memory of its
 * own: each entry is inserted in place when it beats the worst one kept. */
static void topk_insert(void *out, size_t *kept, size_t cap, size_t size, const void *entry,
                        int (*cmp)(const void *, const void *))
{
    char *base = out;
    size_t n = *kept;
    if (n == cap && cmp(entry, base + (n - 1) * size) >= 0)
        return;
    size_t at = n < cap ? n : n - 1;
    while (at > 0 && cmp(entry, base + (at - 1) * size) < 0) {
        memcpy(base + at * size, base + (at - 1) * size, size);
        at--;
    }
    memcpy(base + at * size, entry, size);
    if (n < cap)
        *kept = n + 1;
}

size_t ttm_registry_offenders(const ttm_registry *reg, unsigned cls, ttm_offender *out,
                              size_t cap)
{
    const offender_slot *s = reg->offs.slots;
    size_t n = 0, kept = 0;
    for (size_t i = 0; reg->offs.mask && i <= reg->offs.mask; i++) {
        if (!s[i].used || (cls != TTM_CLASS__COUNT && s[i].o.cls != cls))
            continue;
        n++;
        if (out != NULL && cap > 0)
            topk_insert(out, &kept, cap, sizeof *out, &s[i].o, offender_cmp);
    }
    return n;
}

size_t ttm_registry_leaks(const ttm_registry *reg, ttm_leak *out, size_t cap)
{
    if (out != NULL && reg->leaks != NULL)
        memcpy(out, reg->leaks, (reg->nleaks < cap ? reg->nleaks : cap) * sizeof *out);
    return reg->nleaks;
}

static int proc_cmp(const void *a, const void *b)
{
    const ttm_proc_stats *x = a, *y = b;
    return x->pid < y->pid ? -1 : x->pid > y->pid;
}

size_t ttm_registry_processes(const ttm_registry *reg, ttm_proc_stats *out, size_t cap)
{
    size_t kept = 0;
    for (size_t i = 0; out != NULL && cap > 0 && i < reg->nprocs; i++) {
        const proc *p = reg->procs[i];
        ttm_proc_stats ps = {
            .pid = p->pid,
            .alive = p->alive,
            .first_ts = p->first_ts,
            .exit_ts = p->exit_ts,
            .live_records = p->live_records,
            .leaked_count = p->leaked_count,
            .leaked_bytes = p->leaked_bytes,
            .anomalies = p->anomalies,
            .ndevices = p->ndevices,
            .devices = p->devices,
        };
        topk_insert(out, &kept, cap, sizeof *out, &ps, proc_cmp);
    }
    return reg->nprocs;
}

void ttm_registry_foreach_live(const ttm_registry *reg, bool (*fn)(const ttm_live *, void *),
                               void *arg)
{
    for (uint32_t i = 0; i < reg->next_unused; i++) {
        const rec *r = rec_at(reg, i);
        if (!(r->rflags & REC_USED))
            continue;
        ttm_live l = {
            .pid = r->pid,
            .device = r->device,
            .memtype = r->memtype,
            .flags = (r->rflags & REC_VIEW) ? TTM_FLAG_VIEW : 0,
            .refs = r->refs,
            .addr = r->addr,
            .size = r->size,
            .obj = r->obj,
            .ts = r->ts,
        };
        if (!fn(&l, arg))
            return;
    }
}

size_t ttm_registry_live_memory(const ttm_registry *reg)
{
    return (size_t)reg->nchunks * CHUNK_SIZE * sizeof(rec) +
           ((size_t)reg->bucket_mask + 1) * sizeof(uint32_t) +
           (size_t)reg->nchunks * sizeof(rec *);
}

/* ---- persistence ------------------------------------------------------------------------------
 *
 * The state is a little-endian byte string of 64-bit words (docs/DAEMON.md, "Restart"):
 *   header   magic "TTMSTAT1", version, flags, total length, checksum of every later word
 *   shape    TTM_CLASS__COUNT, TTM_MEMTYPE_COUNT, TTM_SPACE_COUNT (a build with other tables
 *            writes another version)
 *   totals, devices, processes, live records, history, freed objects (current generation,
 *   then the previous one), offenders, leaks listed, and the caller's annex.
 * Live and peak figures that follow from the live records (live bytes and counts per device,
 * memtype and process, live records per process) are not stored: load recomputes them, so a
 * loaded registry is consistent by construction. */

#define STATE_MAGIC 0x31544154534d5454ull /* "TTMSTAT1" little-endian */
#define STATE_HDR_WORDS 5

typedef struct wbuf {
    uint8_t *p;
    size_t len, cap;
    bool nomem;
} wbuf;

/* Grows w for one more word; false (and w->nomem) when memory is short. */
static bool w_room(wbuf *w)
{
    size_t cap = w->cap ? w->cap * 2 : 4096;
    uint8_t *np = w->nomem ? NULL : ttm__reallocarray(w->p, cap, 1);
    if (np == NULL) {
        w->nomem = true;
        return false;
    }
    w->p = np;
    w->cap = cap;
    return true;
}

static inline void w64(wbuf *w, uint64_t v)
{
    if (__builtin_expect(w->len + 8 > w->cap, 0) && !w_room(w))
        return;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(w->p + w->len, &v, 8); /* one store: the format is little endian */
#else
    ttm__put_le64(w->p + w->len, v);
#endif
    w->len += 8;
}

/* FNV-style over words: any change confined to one word always changes the result. */
uint64_t ttm__registry_state_checksum(const uint8_t *p, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull ^ len;
    for (size_t i = 0; i + 8 <= len; i += 8)
        h = (h ^ ttm__le64(p + i)) * 0x100000001b3ull;
    return mix64(h);
}

static void w_memstat(wbuf *w, const ttm_memstat *m)
{
    w64(w, m->peak_bytes);
    w64(w, m->peak_ts);
    w64(w, m->allocs);
    w64(w, m->frees);
}

int ttm_registry_save(const ttm_registry *reg, const void *annex, size_t annex_len,
                      uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    wbuf w = {0};
    size_t guess = 512 + (size_t)reg->live * 48 + reg->hist.live * 16 +
                   (reg->freed[0].live + reg->freed[1].live) * 8 + reg->offs.live * 80 +
                   reg->nleaks * 48 + reg->ndevs * 512 + reg->nprocs * 256 + annex_len;
    w.p = ttm__malloc(guess);
    if (w.p == NULL)
        return TTM_ENOMEM;
    w.cap = guess;
    for (unsigned i = 0; i < STATE_HDR_WORDS; i++)
        w64(&w, 0); /* filled at the end */
    w64(&w, TTM_CLASS__COUNT);
    w64(&w, TTM_MEMTYPE_COUNT);
    w64(&w, TTM_SPACE_COUNT);

    const ttm_totals *t = &reg->t;
    w64(&w, t->events);
    w64(&w, t->allocs);
    w64(&w, t->frees);
    w64(&w, t->marks);
    for (unsigned c = 0; c < TTM_CLASS__COUNT; c++) {
        w64(&w, t->class_count[c]);
        w64(&w, t->class_bytes[c]);
    }
    w64(&w, t->reuse_allocs);
    w64(&w, t->reuse_size_changes);
    w64(&w, t->offenders_dropped);
    w64(&w, t->history_dropped);
    w64(&w, t->freed_objs_dropped);
    w64(&w, t->processes_dropped);
    w64(&w, t->first_ts);
    w64(&w, t->last_ts);

    w64(&w, reg->ndevs);
    for (size_t i = 0; i < reg->ndevs; i++) {
        const dev *d = reg->devs[reg->dev_ids[i]];
        w64(&w, d->s.device);
        w64(&w, d->s.arch);
        unsigned set = 0;
        for (unsigned sp = 0; sp < TTM_SPACE_COUNT; sp++) {
            w64(&w, d->s.capacity[sp]);
            w64(&w, d->s.space_peak[sp]);
            w64(&w, d->s.space_peak_ts[sp]);
            set |= d->capacity_set[sp] ? 1u << sp : 0;
        }
        w64(&w, set);
        for (unsigned m = 0; m < TTM_MEMTYPE_COUNT; m++)
            w_memstat(&w, &d->s.mem[m]);
        for (unsigned c = 0; c < TTM_CLASS__COUNT; c++) {
            w64(&w, d->s.class_count[c]);
            w64(&w, d->s.class_bytes[c]);
        }
    }

    w64(&w, reg->nprocs);
    for (size_t i = 0; i < reg->nprocs; i++) {
        const proc *p = reg->procs[i];
        w64(&w, p->pid);
        w64(&w, p->alive);
        w64(&w, p->first_ts);
        w64(&w, p->exit_ts);
        w64(&w, p->leaked_count);
        w64(&w, p->leaked_bytes);
        w64(&w, p->anomalies);
        w64(&w, p->ndevices);
        for (size_t j = 0; j < p->ndevices; j++) {
            w64(&w, p->devices[j].device);
            for (unsigned m = 0; m < TTM_MEMTYPE_COUNT; m++)
                w_memstat(&w, &p->devices[j].mem[m]);
        }
    }

    /* process by process, each list in its order (then the orphans), so that load rebuilds the
     * lists by appending */
    w64(&w, reg->live);
    for (size_t k = 0; k <= reg->nprocs; k++) {
        const reclist *l = k < reg->nprocs ? &reg->procs[k]->recs : &reg->orphans;
        for (uint32_t i = l->head; i != NIL;) {
            const rec *r = rec_at(reg, i);
            i = r->pnext;
            w64(&w, r->addr);
            w64(&w, r->size);
            w64(&w, r->obj);
            w64(&w, r->ts);
            w64(&w, (uint64_t)r->pid << 32 | r->refs);
            w64(&w, (uint64_t)r->device << 16 | (uint64_t)r->memtype << 8 |
                        (r->rflags & ~(unsigned)(REC_USED | REC_ORPHAN)));
        }
    }

    w64(&w, reg->hist.live);
    const hist_entry *hs = reg->hist.slots;
    for (size_t i = 0; reg->hist.mask && i <= reg->hist.mask; i++) {
        if (hs[i].meta != 0) {
            w64(&w, hs[i].addr);
            w64(&w, hs[i].meta);
        }
    }

    for (unsigned g = 0; g < 2; g++) {
        const otable *ft = &reg->freed[g == 0 ? reg->freed_cur : reg->freed_cur ^ 1];
        w64(&w, ft->live);
        const uint64_t *fs = ft->slots;
        for (size_t i = 0; ft->mask && i <= ft->mask; i++)
            if (fs[i] != 0)
                w64(&w, fs[i]);
    }

    w64(&w, reg->offs.live);
    const offender_slot *os = reg->offs.slots;
    for (size_t i = 0; reg->offs.mask && i <= reg->offs.mask; i++) {
        if (!os[i].used)
            continue;
        const ttm_offender *o = &os[i].o;
        w64(&w, (uint64_t)o->cls | (uint64_t)o->device << 8 | (uint64_t)o->memtype << 24 |
                    (uint64_t)o->npids << 32 | (uint64_t)o->more_pids << 40);
        w64(&w, o->addr);
        w64(&w, o->count);
        w64(&w, o->bytes);
        w64(&w, o->first_ts);
        w64(&w, o->last_ts);
        w64(&w, (uint64_t)o->pids[0] | (uint64_t)o->pids[1] << 32);
        w64(&w, (uint64_t)o->pids[2] | (uint64_t)o->pids[3] << 32);
    }

    w64(&w, reg->nleaks);
    for (size_t i = 0; i < reg->nleaks; i++) {
        const ttm_leak *l = &reg->leaks[i];
        w64(&w, (uint64_t)l->pid | (uint64_t)l->device << 32 | (uint64_t)l->memtype << 48);
        w64(&w, l->addr);
        w64(&w, l->size);
        w64(&w, l->obj);
        w64(&w, l->alloc_ts);
        w64(&w, l->exit_ts);
    }

    w64(&w, annex_len);
    const uint8_t *a = annex;
    for (size_t i = 0; i < annex_len; i += 8) {
        uint8_t word[8] = {0};
        memcpy(word, a + i, annex_len - i < 8 ? annex_len - i : 8);
        w64(&w, ttm__le64(word));
    }

    if (w.nomem) {
        ttm__free(w.p);
        return TTM_ENOMEM;
    }
    ttm__put_le64(w.p, STATE_MAGIC);
    ttm__put_le64(w.p + 8, TTM_REGISTRY_STATE_VERSION);
    ttm__put_le64(w.p + 16, 0);
    ttm__put_le64(w.p + 24, w.len);
    size_t hdr = STATE_HDR_WORDS * 8;
    ttm__put_le64(w.p + 32, ttm__registry_state_checksum(w.p + hdr, w.len - hdr));
    *out = w.p;
    *out_len = w.len;
    return TTM_OK;
}

typedef struct rbuf {
    const uint8_t *p;
    size_t len, off;
    bool short_read;
} rbuf;

static uint64_t r64(rbuf *r)
{
    if (r->off + 8 > r->len) {
        r->short_read = true;
        return 0;
    }
    uint64_t v = ttm__le64(r->p + r->off);
    r->off += 8;
    return v;
}

/* A count of entries of words_each words: at most what the rest of the buffer can hold. */
static bool r_count(rbuf *r, size_t words_each, uint64_t *n)
{
    *n = r64(r);
    return !r->short_read && *n <= (r->len - r->off) / (8 * words_each);
}

static void r_memstat(rbuf *r, ttm_memstat *m)
{
    m->peak_bytes = r64(r);
    m->peak_ts = r64(r);
    m->allocs = r64(r);
    m->frees = r64(r);
}

/* The body of ttm_registry_load(): fills reg from r. Returns 0, TTM_EPROTO with msg set, or
 * TTM_ENOMEM. */
static int load_body(ttm_registry *reg, rbuf *r, const uint8_t **annex, size_t *annex_len,
                     char *msg, size_t msg_len)
{
#define BAD(...)                                                                               \
    do {                                                                                       \
        ttm__set_msg(msg, msg_len, __VA_ARGS__);                                               \
        return TTM_EPROTO;                                                                     \
    } while (0)
    ttm_totals *t = &reg->t;
    t->events = r64(r);
    t->allocs = r64(r);
    t->frees = r64(r);
    t->marks = r64(r);
    for (unsigned c = 0; c < TTM_CLASS__COUNT; c++) {
        t->class_count[c] = r64(r);
        t->class_bytes[c] = r64(r);
    }
    t->reuse_allocs = r64(r);
    t->reuse_size_changes = r64(r);
    t->offenders_dropped = r64(r);
    t->history_dropped = r64(r);
    t->freed_objs_dropped = r64(r);
    t->processes_dropped = r64(r);
    t->first_ts = r64(r);
    t->last_ts = r64(r);

    uint64_t n;
    const size_t dev_words = 3 + 3 * TTM_SPACE_COUNT + 4 * TTM_MEMTYPE_COUNT + 2 * TTM_CLASS__COUNT;
    if (!r_count(r, dev_words, &n) || n > MAX_DEVICES)
        BAD("the device count is wrong");
    for (uint64_t i = 0; i < n; i++) {
        uint64_t id = r64(r), arch = r64(r);
        if (id >= MAX_DEVICES || arch > UINT32_MAX)
            BAD("device entry %llu: id %llu or architecture %llu out of range",
                (unsigned long long)i, (unsigned long long)id, (unsigned long long)arch);
        if (reg->devs[id] != NULL)
            BAD("device %llu appears twice", (unsigned long long)id);
        dev *d = dev_get(reg, (uint16_t)id);
        if (d == NULL)
            return TTM_ENOMEM;
        d->s.arch = (uint32_t)arch;
        for (unsigned sp = 0; sp < TTM_SPACE_COUNT; sp++) {
            d->s.capacity[sp] = r64(r);
            d->s.space_peak[sp] = r64(r);
            d->s.space_peak_ts[sp] = r64(r);
        }
        uint64_t set = r64(r);
        if (set >> TTM_SPACE_COUNT)
            BAD("device %llu: bad capacity flags", (unsigned long long)id);
        for (unsigned sp = 0; sp < TTM_SPACE_COUNT; sp++)
            d->capacity_set[sp] = (set >> sp) & 1;
        for (unsigned m = 0; m < TTM_MEMTYPE_COUNT; m++)
            r_memstat(r, &d->s.mem[m]);
        for (unsigned c = 0; c < TTM_CLASS__COUNT; c++) {
            d->s.class_count[c] = r64(r);
            d->s.class_bytes[c] = r64(r);
        }
    }

    if (!r_count(r, 8, &n))
        BAD("the process count is wrong");
    for (uint64_t i = 0; i < n; i++) {
        uint64_t pid = r64(r), alive = r64(r);
        if (pid > UINT32_MAX || alive > 1)
            BAD("process entry %llu: pid or state out of range", (unsigned long long)i);
        if (proc_find(reg, (uint32_t)pid) != NULL)
            BAD("process %llu appears twice", (unsigned long long)pid);
        uint64_t first_ts = r64(r);
        size_t before = reg->nprocs;
        proc *p = proc_get(reg, (uint32_t)pid, first_ts);
        if (p == NULL && reg->nprocs == before && before < reg->cfg.max_processes)
            return TTM_ENOMEM;
        proc scratch = {0}; /* a process the table has no room for: read, then dropped */
        proc *q = p != NULL ? p : &scratch;
        q->alive = alive != 0;
        q->exit_ts = r64(r);
        q->leaked_count = r64(r);
        q->leaked_bytes = r64(r);
        q->anomalies = r64(r);
        uint64_t nd;
        if (!r_count(r, 1 + 4 * TTM_MEMTYPE_COUNT, &nd) || nd > MAX_DEVICES)
            BAD("process %llu: the device count is wrong", (unsigned long long)pid);
        int64_t last = -1;
        for (uint64_t j = 0; j < nd; j++) {
            uint64_t id = r64(r);
            if (id >= MAX_DEVICES || (int64_t)id <= last)
                BAD("process %llu: device %llu out of order", (unsigned long long)pid,
                    (unsigned long long)id);
            last = (int64_t)id;
            ttm_memstat ms[TTM_MEMTYPE_COUNT];
            memset(ms, 0, sizeof ms);
            for (unsigned m = 0; m < TTM_MEMTYPE_COUNT; m++)
                r_memstat(r, &ms[m]);
            if (p == NULL)
                continue;
            if (proc_mem(p, (uint16_t)id, 0) == NULL)
                return TTM_ENOMEM;
            memcpy(p->devices[p->ndevices - 1].mem, ms, sizeof ms);
        }
    }

    if (!r_count(r, 6, &n) || n >= NIL - 1)
        BAD("the live record count is wrong");
    for (uint64_t i = 0; i < n; i++) {
        uint64_t addr = r64(r), size = r64(r), obj = r64(r), ts = r64(r);
        uint64_t pr = r64(r), dm = r64(r);
        uint32_t pid = (uint32_t)(pr >> 32), refs = (uint32_t)pr;
        uint64_t device = dm >> 16;
        unsigned memtype = (unsigned)(dm >> 8) & 0xff, rflags = (unsigned)dm & 0xff;
        if (device >= MAX_DEVICES || reg->devs[device] == NULL || !ttm__memtype_valid(memtype) ||
            refs == 0 || (rflags & ~(unsigned)(REC_VIEW | REC_ATTACHED | REC_OWNER_RELEASED)))
            BAD("live record %llu is malformed", (unsigned long long)i);
        proc *p = proc_find(reg, pid);
        if (p == NULL && t->processes_dropped == 0) /* a record has a process unless the table
                                                     * was full */
            BAD("live record %llu belongs to no process", (unsigned long long)i);
        /* the state lists each process's records in its list's order: appending them rebuilds
         * the lists as they were */
        rec *rc = rec_new(reg, p, pid, (uint16_t)device, memtype, addr);
        if (rc == NULL)
            return TTM_ENOMEM;
        rc->size = size;
        rc->obj = obj;
        rc->ts = ts;
        rc->refs = refs;
        rc->rflags |= (uint8_t)rflags;
        if (p != NULL)
            p->live_records++;
        if (rflags & REC_VIEW)
            continue;
        dev *d = reg->devs[device];
        d->s.mem[memtype].live_bytes = sat_add(d->s.mem[memtype].live_bytes, size);
        d->s.mem[memtype].live_count++;
        if (p != NULL) {
            ttm_memstat *pm = proc_mem(p, (uint16_t)device, memtype);
            if (pm == NULL)
                return TTM_ENOMEM;
            pm->live_bytes = sat_add(pm->live_bytes, size);
            pm->live_count++;
        }
    }

    if (!r_count(r, 2, &n))
        BAD("the history count is wrong");
    for (uint64_t i = 0; i < n; i++) {
        uint64_t addr = r64(r), meta = r64(r);
        unsigned space = (unsigned)(meta >> 1) & 3, memtype = (unsigned)(meta >> 3) & 7;
        uint16_t device = (uint16_t)(meta >> 6);
        if (!(meta & 1) || space >= TTM_SPACE_COUNT || !ttm__memtype_valid(memtype) ||
            ttm__memtype_space(memtype) != space)
            BAD("history entry %llu is malformed", (unsigned long long)i);
        if (hist_find(reg, device, space, addr) != NULL)
            BAD("history entry %llu appears twice", (unsigned long long)i);
        hist_entry *h = hist_add(reg, device, space, addr);
        if (h != NULL)
            h->meta = meta;
    }

    /* generation 0 is the current one; a shorter bound than the saver's keeps the newest */
    reg->freed_cur = 0;
    size_t gen_cap = reg->cfg.max_freed_objs / 2 ? reg->cfg.max_freed_objs / 2 : 1;
    for (unsigned g = 0; g < 2; g++) {
        if (!r_count(r, 1, &n))
            BAD("the freed-object count is wrong");
        otable *ft = &reg->freed[g];
        for (uint64_t i = 0; i < n; i++) {
            uint64_t fp = r64(r);
            if (fp == 0)
                BAD("freed object %llu is malformed", (unsigned long long)i);
            if (ft->mask != 0 && *freed_slot(ft, fp) == fp)
                continue;
            if (!otable_reserve(ft, sizeof(uint64_t), gen_cap, freed_rehash)) {
                t->freed_objs_dropped++;
                continue;
            }
            *freed_slot(ft, fp) = fp;
            ft->used++;
            ft->live++;
        }
    }

    if (!r_count(r, 8, &n))
        BAD("the offender count is wrong");
    for (uint64_t i = 0; i < n; i++) {
        uint64_t k = r64(r);
        ttm_offender o;
        memset(&o, 0, sizeof o);
        unsigned cls = (unsigned)k & 0xff, memtype = (unsigned)(k >> 24) & 0xff;
        unsigned npids = (unsigned)(k >> 32) & 0xff, more = (unsigned)(k >> 40) & 0xff;
        o.device = (uint16_t)(k >> 8);
        o.addr = r64(r);
        o.count = r64(r);
        o.bytes = r64(r);
        o.first_ts = r64(r);
        o.last_ts = r64(r);
        uint64_t p01 = r64(r), p23 = r64(r);
        if (cls >= TTM_CLASS__COUNT || !class_table[cls].anomaly ||
            !(ttm__memtype_valid(memtype) || memtype == TTM_MEM_ANY) ||
            npids > TTM_PROC_MAX_PIDS || more > 1 || (k >> 41) != 0)
            BAD("offender entry %llu is malformed", (unsigned long long)i);
        o.cls = (ttm_class)cls;
        o.memtype = (uint8_t)memtype;
        o.npids = (uint8_t)npids;
        o.more_pids = more != 0;
        o.pids[0] = (uint32_t)p01;
        o.pids[1] = (uint32_t)(p01 >> 32);
        o.pids[2] = (uint32_t)p23;
        o.pids[3] = (uint32_t)(p23 >> 32);
        if (reg->offs.mask != 0 && off_slot(&reg->offs, cls, o.device, o.addr)->used)
            BAD("offender entry %llu appears twice", (unsigned long long)i);
        if (!otable_reserve(&reg->offs, sizeof(offender_slot), reg->cfg.max_offenders,
                            off_rehash)) {
            t->offenders_dropped++;
            continue;
        }
        offender_slot *s = off_slot(&reg->offs, cls, o.device, o.addr);
        s->used = true;
        s->o = o;
        reg->offs.used++;
        reg->offs.live++;
    }

    if (!r_count(r, 6, &n))
        BAD("the leak count is wrong");
    for (uint64_t i = 0; i < n; i++) {
        uint64_t k = r64(r);
        ttm_leak l = {
            .pid = (uint32_t)k,
            .device = (uint16_t)(k >> 32),
            .memtype = (uint8_t)(k >> 48),
        };
        l.addr = r64(r);
        l.size = r64(r);
        l.obj = r64(r);
        l.alloc_ts = r64(r);
        l.exit_ts = r64(r);
        if ((k >> 56) != 0 || !ttm__memtype_valid(l.memtype))
            BAD("leak entry %llu is malformed", (unsigned long long)i);
        if (reg->nleaks >= reg->cfg.max_leaks_listed)
            continue;
        if (reg->leaks == NULL)
            reg->leaks = ttm__calloc(reg->cfg.max_leaks_listed, sizeof *reg->leaks);
        if (reg->leaks == NULL)
            return TTM_ENOMEM;
        reg->leaks[reg->nleaks++] = l;
    }
    if (reg->nleaks > 1)
        qsort(reg->leaks, reg->nleaks, sizeof *reg->leaks, leak_cmp);

    /* what the counters say must agree with what the entries hold */
    for (unsigned c = 0; c < TTM_CLASS__COUNT; c++) {
        uint64_t sum = 0;
        for (size_t i = 0; i < reg->ndevs; i++)
            sum += reg->devs[reg->dev_ids[i]]->s.class_count[c];
        if (c != TTM_CLASS_INVALID && sum != t->class_count[c])
            BAD("the devices' %s counts do not add up to the total", class_table[c].name);
    }
    for (size_t i = 0; i < reg->ndevs; i++) {
        const ttm_device_stats *ds = &reg->devs[reg->dev_ids[i]]->s;
        for (unsigned m = 0; m < TTM_MEMTYPE_COUNT; m++)
            if (ds->mem[m].peak_bytes < ds->mem[m].live_bytes)
                BAD("device %u: a peak below its live bytes", ds->device);
        for (unsigned sp = 0; sp < TTM_SPACE_COUNT; sp++)
            if (ds->space_peak[sp] < ttm_device_space_used(ds, (ttm_space)sp))
                BAD("device %u: a space peak below its live bytes", ds->device);
    }
    for (size_t i = 0; i < reg->nprocs; i++)
        for (size_t j = 0; j < reg->procs[i]->ndevices; j++)
            for (unsigned m = 0; m < TTM_MEMTYPE_COUNT; m++)
                if (reg->procs[i]->devices[j].mem[m].peak_bytes <
                    reg->procs[i]->devices[j].mem[m].live_bytes)
                    BAD("process %u: a peak below its live bytes", reg->procs[i]->pid);

    uint64_t alen = r64(r);
    if (r->short_read || alen > r->len - r->off || (alen + 7) / 8 != (r->len - r->off) / 8 ||
        (r->len - r->off) % 8 != 0)
        BAD("the annex length is wrong");
    *annex = alen ? r->p + r->off : NULL;
    *annex_len = (size_t)alen;
    r->off = r->len;
    if (r->short_read)
        BAD("the state is truncated");
    return TTM_OK;
#undef BAD
}

int ttm_registry_load(ttm_registry **out, const ttm_registry_config *cfg, const uint8_t *buf,
                      size_t len, const uint8_t **annex, size_t *annex_len, char *msg,
                      size_t msg_len)
{
    *out = NULL;
    *annex = NULL;
    *annex_len = 0;
    const size_t hdr = STATE_HDR_WORDS * 8;
    if (buf == NULL || len < hdr || ttm__le64(buf) != STATE_MAGIC) {
        ttm__set_msg(msg, msg_len, "not a ttmem state (no TTMSTAT1 header)");
        return TTM_EPROTO;
    }
    uint64_t version = ttm__le64(buf + 8);
    if (version != TTM_REGISTRY_STATE_VERSION) {
        ttm__set_msg(msg, msg_len, "state format version %llu, this build reads version %u",
                     (unsigned long long)version, TTM_REGISTRY_STATE_VERSION);
        return TTM_EVERSION;
    }
    if (ttm__le64(buf + 16) != 0) {
        ttm__set_msg(msg, msg_len, "the state's header has unknown flags (damaged)");
        return TTM_EPROTO;
    }
    if (ttm__le64(buf + 24) != len || len % 8 != 0) {
        ttm__set_msg(msg, msg_len, "the state is %zu bytes, its header says %llu (truncated?)",
                     len, (unsigned long long)ttm__le64(buf + 24));
        return TTM_EPROTO;
    }
    if (ttm__registry_state_checksum(buf + hdr, len - hdr) != ttm__le64(buf + 32)) {
        ttm__set_msg(msg, msg_len, "the state's checksum does not match (damaged)");
        return TTM_EPROTO;
    }
    rbuf r = {.p = buf, .len = len, .off = hdr};
    uint64_t nc = r64(&r), nm = r64(&r), ns = r64(&r);
    if (nc != TTM_CLASS__COUNT || nm != TTM_MEMTYPE_COUNT || ns != TTM_SPACE_COUNT) {
        ttm__set_msg(msg, msg_len, "the state has %llu classes, %llu memtypes and %llu spaces; "
                     "this build has %u, %u and %u",
                     (unsigned long long)nc, (unsigned long long)nm, (unsigned long long)ns,
                     TTM_CLASS__COUNT, TTM_MEMTYPE_COUNT, TTM_SPACE_COUNT);
        return TTM_EVERSION;
    }
    ttm_registry *reg;
    int err = ttm_registry_open(&reg, cfg);
    if (err != TTM_OK) {
        ttm__set_msg(msg, msg_len, "cannot create a registry: %s", ttm_strerror(err));
        return err;
    }
    err = load_body(reg, &r, annex, annex_len, msg, msg_len);
    if (err == TTM_ENOMEM)
        ttm__set_msg(msg, msg_len, "out of memory loading the state");
    if (err != TTM_OK) {
        ttm_registry_close(reg);
        *annex = NULL;
        *annex_len = 0;
        return err;
    }
    *out = reg;
    return TTM_OK;
}
