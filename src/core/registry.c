/*
 * registry.c — the core registry: live records, history, classification, statistics.
 *
 * The rules implemented here are written out in docs/CLASSIFICATION.md; keep the two in step.
 *
 * Memory layout, chosen for the ≤ 64 bytes per live buffer budget and for ingest speed:
 * - records live in fixed chunks of 4096 (48 bytes each), recycled through a free list, so a
 *   growing registry never moves a record and wastes at most one chunk;
 * - a power-of-two array of 32-bit bucket heads indexes them by (device, space, addr); records
 *   sharing a key (an owner, its views, records of other processes) sit in the same chain;
 * - open-addressing tables hold what outlives a record: keys ever allocated (history), freed
 *   object ids (for double frees), offenders, processes.
 */
#include "core/registry.h"

#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/arch.h"

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
};

typedef struct rec {
    uint64_t addr, size, obj, ts;
    uint32_t pid;
    uint32_t next; /* bucket chain while used; free list while not */
    uint32_t refs;
    uint16_t device;
    uint8_t memtype;
    uint8_t rflags;
} rec;

_Static_assert(sizeof(rec) == 48, "a live record is 48 bytes");

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
    o->bytes += bytes;
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
static void dev_apply_profile(dev *d, ttm_arch arch)
{
    const ttm_arch_profile *prof = ttm__arch_profile(arch);
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

/* Takes a free record slot and links it into its key's chain. NULL when memory is short. */
static rec *rec_new(ttm_registry *reg, uint16_t device, unsigned memtype, uint64_t addr)
{
    if (reg->live + 1 > (uint64_t)reg->bucket_mask + 1 && reg->bucket_mask < (1u << 30))
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
    memset(r, 0, sizeof *r);
    r->device = device;
    r->memtype = (uint8_t)memtype;
    r->addr = addr;
    r->rflags = REC_USED;
    r->refs = 1;
    uint32_t b = bucket_of(reg->bucket_mask, device, addr);
    r->next = reg->buckets[b];
    reg->buckets[b] = i;
    reg->live++;
    return r;
}

/* A new record for pid's ALLOC event ev; NULL when memory is short. */
static rec *rec_open(ttm_registry *reg, uint32_t pid, const ttm_event *ev)
{
    rec *r = rec_new(reg, ev->device, ev->memtype, ev->addr);
    if (r != NULL) {
        r->pid = pid;
        r->size = ev->size;
        r->obj = ev->obj;
        r->ts = ev->ts;
    }
    return r;
}

/* Unlinks record i (at bucket b) and returns its slot to the free list. */
static void rec_delete(ttm_registry *reg, uint32_t i)
{
    rec *r = rec_at(reg, i);
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
            sum += d->mem[m].live_bytes;
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
    m->live_bytes += bytes;
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

/* Bytes of an owning record enter the statistics. */
static void bytes_in(dev *d, proc *p, const rec *r, uint64_t ts)
{
    memstat_add(&d->s.mem[r->memtype], r->size, ts);
    space_peak(d, r->memtype, ts);
    if (p != NULL) {
        ttm_memstat *pm = proc_mem(p, r->device, r->memtype);
        if (pm != NULL)
            memstat_add(pm, r->size, ts);
    }
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
    reg->t.class_bytes[cls] += bytes;
    if (d != NULL) {
        d->s.class_count[cls]++;
        d->s.class_bytes[cls] += bytes;
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
        rec *r = rec_open(reg, pid, ev);
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
    if (p != NULL && proc_mem(p, ev->device, ev->memtype) == NULL)
        goto out_nomem;

    unsigned cls = TTM_CLASS_ALLOC_OK;
    if (mine != NULL) {
        /* The allocator handed our live address out again: the old buffer's free was missed. */
        cls = TTM_CLASS_OVERLAP;
        bytes_out(reg, mine);
        count_class(reg, d, p, TTM_CLASS_MISSED_FREE, mine->device, mine->memtype, mine->addr,
                    mine->size, pid, ev->ts);
        rec_delete(reg, mine_i);
        proc_live(p, -1);
    } else if (other != NULL) {
        cls = TTM_CLASS_OVERLAP;
    }

    rec *r = rec_open(reg, pid, ev);
    if (r == NULL)
        goto out_nomem;
    proc_live(p, 1);
    note_record(reg, r);
    bytes_in(d, p, r, ev->ts);
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
        rec_delete(reg, chosen_i);
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
            rec_delete(reg, chosen_i);
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
            if (ev->dram_capacity)
                ttm_registry_set_capacity(reg, ev->device, TTM_SPACE_DRAM, ev->dram_capacity);
            if (ev->l1_capacity)
                ttm_registry_set_capacity(reg, ev->device, TTM_SPACE_L1, ev->l1_capacity);
            if (ev->arch)
                d->s.arch = ev->arch;
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

void ttm_registry_process_exit(ttm_registry *reg, uint32_t pid, uint64_t ts)
{
    proc *p = proc_get(reg, pid, ts);
    for (uint32_t i = 0; i < reg->next_unused; i++) {
        rec *r = rec_at(reg, i);
        if (!(r->rflags & REC_USED) || r->pid != pid)
            continue;
        if (!(r->rflags & REC_VIEW)) {
            dev *d = reg->devs[r->device];
            count_class(reg, d, p, TTM_CLASS_LEAKED_AT_EXIT, r->device, r->memtype, r->addr,
                        r->size, pid, ts);
            if (p != NULL) {
                p->leaked_count++;
                p->leaked_bytes += r->size;
            }
            if (reg->nleaks < reg->cfg.max_leaks_listed) {
                if (reg->leaks == NULL)
                    reg->leaks = ttm__calloc(reg->cfg.max_leaks_listed, sizeof *reg->leaks);
                if (reg->leaks != NULL)
                    reg->leaks[reg->nleaks++] = (ttm_leak){
                        .pid = pid,
                        .device = r->device,
                        .memtype = r->memtype,
                        .addr = r->addr,
                        .size = r->size,
                        .obj = r->obj,
                        .alloc_ts = r->ts,
                        .exit_ts = ts,
                    };
            }
            bytes_out(reg, r);
        }
        rec_delete(reg, i);
    }
    if (reg->nleaks > 1)
        qsort(reg->leaks, reg->nleaks, sizeof *reg->leaks, leak_cmp);
    if (p != NULL) {
        p->alive = false;
        p->exit_ts = ts;
        p->live_records = 0;
    }
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
    /* reg->leaks is NULL until the first leak: memcpy's source must not be, even for 0 bytes */
    if (out != NULL && reg->nleaks > 0 && cap > 0)
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
