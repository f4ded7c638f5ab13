/*
 * registry.c — the core registry's rules: the classification of every ALLOC and FREE, the
 * settlement of an exit, the counting of classes, bytes and peaks per device and process, and
 * the queries that read them back.
 *
 * The rules implemented here are written out in docs/CLASSIFICATION.md; keep the two in step.
 * The live records are kept by store.c, the tables that outlive a record (history, freed
 * objects, offenders, the pid map) are table.c's, the persistence codec is registry_state.c;
 * registry_internal.h holds the structures they share.
 */
#include "core/registry.h"

#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/arch.h"
#include "common/util.h"
#include "core/registry_internal.h"

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

/* ---- side tables ---------------------------------------------------------------------------- */

static uint32_t cfg_or(uint32_t v, uint32_t dflt)
{
    return v ? v : dflt;
}

/* Freed objects: two generations of fingerprints. A free is written to the current
 * generation; when that holds half of max_freed_objs, the previous generation is forgotten
 * (counted in freed_objs_dropped) and its table becomes the current one. So the most recent
 * frees are always remembered, in tables small enough to stay in cache. This is the most freed
 * objects a generation holds. */
static size_t freed_gen_cap(const ttm_registry *reg)
{
    return reg->cfg.max_freed_objs / 2 ? reg->cfg.max_freed_objs / 2 : 1;
}

/* True when (pid, obj) is in the freed-object set; *release_ctx (when found) receives the
 * context of the free that released it, 0 when it had none. */
static bool freed_contains(const ttm_registry *reg, uint32_t pid, uint64_t obj,
                           uint32_t *release_ctx)
{
    uint64_t fp = obj_fingerprint(pid, obj);
    for (unsigned k = 0; k < 2; k++) {
        unsigned g = reg->freed_cur ^ k; /* the current generation holds the latest release */
        if (ttm__table_find(&reg->freed[g], &freed_type, fp, &fp) == NULL)
            continue;
        const freed_ctx_entry *e = ttm__table_find(&reg->freed_ctx[g], &freed_ctx_type, fp, &fp);
        *release_ctx = e != NULL ? e->ctx : 0;
        return true;
    }
    return false;
}

/* Keeps the releasing free's context ctx of fingerprint fp in generation g (ctx not 0, or an
 * entry to update); a context that finds no room is lost (the double free then has no release
 * stack), never the freed object itself. fresh: fp was just added to the generation, so it has
 * no entry here yet (the two are cleared together). */
void ttm__reg_freed_ctx_put(ttm_registry *reg, unsigned g, uint64_t fp, uint32_t ctx, bool fresh)
{
    ttm_table *t = &reg->freed_ctx[g];
    freed_ctx_entry *e = fresh ? NULL : ttm__table_find(t, &freed_ctx_type, fp, &fp);
    if (e == NULL && ctx != 0 && (e = ttm__table_add(t, &freed_ctx_type, fp)) != NULL)
        e->fp = fp;
    if (e != NULL)
        e->ctx = ctx;
}

static void freed_add(ttm_registry *reg, uint32_t pid, uint64_t obj)
{
    uint64_t fp = obj_fingerprint(pid, obj);
    ttm_table *cur = &reg->freed[reg->freed_cur];
    bool added = ttm__table_find(cur, &freed_type, fp, &fp) == NULL;
    if (added) {
        if (cur->live >= freed_gen_cap(reg)) {
            /* the current generation is full: forget the previous one and reuse its table */
            reg->freed_cur ^= 1;
            cur = &reg->freed[reg->freed_cur];
            reg->t.freed_objs_dropped += cur->live;
            ttm__table_clear(cur);
            ttm__table_clear(&reg->freed_ctx[reg->freed_cur]);
        }
        uint64_t *slot = ttm__table_add(cur, &freed_type, fp);
        if (slot == NULL) {
            reg->t.freed_objs_dropped++; /* out of memory */
            return;
        }
        *slot = fp;
    }
    /* the latest release is the one a double free follows */
    if (__builtin_expect(reg->sites_on, 0))
        ttm__reg_freed_ctx_put(reg, reg->freed_cur, fp, reg->cur.ctx, added);
}

/* ---- call sites ----------------------------------------------------------------------------- */

/* The primary classes an ALLOC gets (short of being rejected: invalid, oversize). */
#define ALLOC_CLASSES                                                                          \
    (TTM_CLASS_BIT(TTM_CLASS_ALLOC_OK) | TTM_CLASS_BIT(TTM_CLASS_DUPLICATE_ALLOC) |            \
     TTM_CLASS_BIT(TTM_CLASS_ALLOC_VIEW) | TTM_CLASS_BIT(TTM_CLASS_OVERLAP) |                  \
     TTM_CLASS_BIT(TTM_CLASS_LIMIT))

void ttm__reg_ctx_get(const ttm_registry *reg, uint32_t ctx, uint32_t *stack, uint32_t *scope,
                      uint32_t *phase)
{
    ttm_context c = {0, 0, 0};
    if (ctx != 0)
        (void)ttm_stacks_context_get(reg->stacks, ctx, &c);
    *stack = c.stack;
    *scope = c.scope;
    *phase = c.phase;
}

/* Makes (stack, scope, phase) the context the rules work for: interned, through a small
 * direct-mapped cache of the contexts seen last (a process's events keep to a few call sites,
 * its phase changes rarely); a context the table refuses is none. */
static void cur_set_event(ttm_registry *reg, uint32_t stack, uint32_t scope, uint32_t phase)
{
    uint64_t key = (uint64_t)stack << 32 ^ (uint64_t)scope << 16 ^ phase;
    cur_ctx *l = &reg->ctx_cache[ttm__mix64(key) & (CTX_CACHE_SIZE - 1)];
    if (l->ctx == 0 || l->stack != stack || l->scope != scope || l->phase != phase) {
        uint32_t id = ttm_stacks_context(reg->stacks, stack, scope, phase);
        if (id == 0) {
            reg->cur = (cur_ctx){0};
            return;
        }
        *l = (cur_ctx){.ctx = id, .stack = stack, .scope = scope, .phase = phase};
    }
    reg->cur = *l;
    reg->sites_on = true;
}

/* Makes a stored context id the one the rules work for. */
static void cur_set_id(ttm_registry *reg, uint32_t ctx)
{
    reg->cur = (cur_ctx){.ctx = ctx};
    if (ctx != 0)
        ttm__reg_ctx_get(reg, ctx, &reg->cur.stack, &reg->cur.scope, &reg->cur.phase);
    if (reg->cur.stack == 0 && reg->cur.scope == 0 && reg->cur.phase == 0)
        reg->cur.ctx = 0;
}

/* Space-saving (Metwally et al.) over the entry's TTM_SITES_MAX slots: a site already kept is
 * counted; a new one takes a free slot, or else the slot whose count + err is least, inheriting
 * that sum as its err. Exact while the entry has seen at most TTM_SITES_MAX sites; beyond, any
 * site with more than count / TTM_SITES_MAX of the entry's attributed events is kept.
 * docs/CLASSIFICATION.md, "Call sites". */
static void site_note(const cur_ctx *c, offender_slot *s, uint64_t bytes)
{
    ttm_offender *o = &s->o;
    uint32_t rel = o->cls == TTM_CLASS_DOUBLE_FREE ? c->release_stack : 0;
    for (unsigned i = 0; i < o->nsites; i++) {
        ttm_site *t = &o->sites[i];
        if (t->stack == c->stack && t->scope == c->scope && t->phase == c->phase &&
            t->release_stack == rel) {
            t->count++;
            t->bytes = sat_add(t->bytes, bytes);
            return;
        }
    }
    unsigned at = o->nsites;
    uint64_t err = 0;
    if (at < TTM_SITES_MAX) {
        o->nsites++;
    } else {
        at = 0;
        for (unsigned i = 1; i < TTM_SITES_MAX; i++)
            if (o->sites[i].count + s->site_err[i] < o->sites[at].count + s->site_err[at])
                at = i;
        err = sat_add(o->sites[at].count, s->site_err[at]);
    }
    o->sites[at] = (ttm_site){.stack = c->stack,
                              .scope = c->scope,
                              .phase = c->phase,
                              .release_stack = rel,
                              .count = 1,
                              .bytes = bytes};
    s->site_err[at] = err;
}

static int site_cmp(const void *a, const void *b)
{
    const ttm_site *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    if (x->stack != y->stack)
        return x->stack < y->stack ? -1 : 1;
    if (x->scope != y->scope)
        return x->scope < y->scope ? -1 : 1;
    if (x->phase != y->phase)
        return x->phase < y->phase ? -1 : 1;
    return x->release_stack < y->release_stack ? -1 : x->release_stack > y->release_stack;
}

/* An offender as a query returns it: its sites by count, the events outside them. */
static ttm_offender offender_out(const offender_slot *s)
{
    ttm_offender o = s->o;
    if (o.nsites > 1)
        ttm__qsort(o.sites, o.nsites, sizeof o.sites[0], site_cmp);
    uint64_t in = 0;
    for (unsigned i = 0; i < o.nsites; i++)
        in = sat_add(in, o.sites[i].count);
    o.sites_other = o.count > in ? o.count - in : 0;
    return o;
}

ttm_leak_group *ttm__reg_lgroup(ttm_registry *reg, uint32_t stack)
{
    if (stack != 0) {
        uint64_t h = ttm__mix64(stack);
        lgroup_slot *s = ttm__table_find(&reg->lgroups, &lgroup_type, h, &stack);
        if (s != NULL)
            return &s->g;
        s = ttm__table_add(&reg->lgroups, &lgroup_type, h);
        if (s != NULL) {
            memset(s, 0, sizeof *s); /* padding included: rows are compared whole */
            s->g.stack = stack;
            s->used = true;
            return &s->g;
        }
        reg->t.leak_groups_folded++;
    }
    return &reg->lgroup0;
}

/* A leak (a record of pid allocated at alloc_ts, of bytes bytes) joins its stack's group. */
static void lgroup_note(ttm_registry *reg, uint32_t stack, uint32_t pid, uint64_t bytes,
                        uint64_t alloc_ts)
{
    ttm_leak_group *g = ttm__reg_lgroup(reg, stack);
    if (g->count == 0 || alloc_ts < g->oldest_ts)
        g->oldest_ts = alloc_ts;
    g->count++;
    g->bytes = sat_add(g->bytes, bytes);
    for (unsigned i = 0; i < g->npids; i++)
        if (g->pids[i] == pid)
            return;
    if (g->npids < TTM_PROC_MAX_PIDS)
        g->pids[g->npids++] = pid;
    else
        g->more_pids = true;
}

ttm_breakdown *ttm__reg_bd_row(ttm_registry *reg, unsigned kind, uint32_t name, bool *folded)
{
    *folded = false;
    if (name != 0) {
        ttm_breakdown key = {.kind = (uint8_t)kind, .name = name};
        uint64_t h = bd_hash_of(kind, name);
        bd_slot *s = ttm__table_find(&reg->bd, &bd_type, h, &key);
        if (s != NULL)
            return &s->b;
        s = ttm__table_add(&reg->bd, &bd_type, h);
        if (s != NULL) {
            memset(s, 0, sizeof *s);
            s->b.kind = (uint8_t)kind;
            s->b.name = name;
            s->used = true;
            return &s->b;
        }
        *folded = true;
    }
    unsigned k = kind == TTM_BREAKDOWN_PHASE ? 0 : 1;
    if (!reg->bd_fold_used[k]) {
        memset(&reg->bd_fold[k], 0, sizeof reg->bd_fold[k]);
        reg->bd_fold[k].kind = (uint8_t)kind;
        reg->bd_fold_used[k] = true;
    }
    return &reg->bd_fold[k];
}

/* The breakdown rows of the current context: class cls given (bytes bytes); an allocation
 * class (alloc_ok, duplicate_alloc, alloc_view, overlap, limit) counts an ALLOC too. */
static void bd_note(ttm_registry *reg, unsigned cls, uint64_t bytes)
{
    /* the rows of the last (phase, scope), while the table has not moved since */
    bd_cache *c = &reg->bdc;
    if (c->names[0] != reg->cur.phase || c->names[1] != reg->cur.scope ||
        c->slots != reg->bd.slots) {
        c->names[0] = reg->cur.phase;
        c->names[1] = reg->cur.scope;
        do { /* a row added may move the other: again until the table stays put */
            c->slots = reg->bd.slots;
            for (unsigned k = 0; k < 2; k++)
                c->rows[k] = c->names[k] == 0 ? NULL
                             : ttm__reg_bd_row(reg, k == 0 ? TTM_BREAKDOWN_PHASE
                                                           : TTM_BREAKDOWN_SCOPE,
                                               c->names[k], &c->folded[k]);
        } while (c->slots != reg->bd.slots);
    }
    for (unsigned k = 0; k < 2; k++) {
        ttm_breakdown *b = c->rows[k];
        if (b == NULL)
            continue;
        reg->t.breakdown_folded += c->folded[k];
        b->allocs += (ALLOC_CLASSES >> cls) & 1;
        b->class_count[cls]++;
        if (class_table[cls].anomaly)
            b->anomalies++;
        if (cls == TTM_CLASS_LEAKED_AT_EXIT) {
            b->leaked_count++;
            b->leaked_bytes = sat_add(b->leaked_bytes, bytes);
        }
    }
}

bool ttm__reg_phase_add(ttm_registry *reg, uint32_t pid, uint32_t name, uint64_t ts)
{
    if (reg->nphases >= reg->cfg.max_phases) {
        reg->t.phases_dropped++;
        return true;
    }
    ttm_phase *np = ttm__grow(reg->phases, &reg->cap_phases, reg->nphases, sizeof *np, 64);
    if (np == NULL)
        return false;
    reg->phases = np;
    reg->phases[reg->nphases++] = (ttm_phase){.pid = pid, .name = name, .ts = ts};
    return true;
}

/* offenders */
static void offender_note(ttm_registry *reg, unsigned cls, uint16_t device, unsigned memtype,
                          uint64_t addr, uint64_t bytes, uint32_t pid, uint64_t ts)
{
    ttm_offender key = {.cls = (ttm_class)cls, .device = device, .addr = addr};
    uint64_t hash = off_hash_of(cls, device, addr);
    offender_slot *s = ttm__table_find(&reg->offs, &off_type, hash, &key);
    if (s == NULL) {
        s = ttm__table_add(&reg->offs, &off_type, hash);
        if (s == NULL) {
            reg->t.offenders_dropped++;
            return;
        }
        memset(s, 0, sizeof *s);
        s->used = true;
        s->o = key;
        s->o.memtype = TTM_MEM_ANY;
        s->o.first_ts = ts;
    }
    ttm_offender *o = &s->o;
    o->count++;
    o->bytes = sat_add(o->bytes, bytes);
    o->last_ts = ts;
    if (reg->cur.ctx != 0)
        site_note(&reg->cur, s, bytes);
    if (memtype != TTM_MEM_ANY)
        o->memtype = (uint8_t)memtype;
    o->addr_dec |= reg->addr_dec;
    for (unsigned i = 0; i < o->npids; i++)
        if (o->pids[i] == pid)
            return;
    if (o->npids < TTM_PROC_MAX_PIDS)
        o->pids[o->npids++] = pid;
    else
        o->more_pids = true;
}

/* processes: the pid map holds (pid, index in procs + 1) pairs; a forgotten process leaves a
 * tombstone (idx1 0, pid not 0), an empty slot is all zeros */
typedef struct pidslot {
    uint32_t pid;
    uint32_t idx1; /* 0 = empty or erased */
} pidslot;

static inline uint64_t pid_hash(const void *e)
{
    return ttm__mix64(((const pidslot *)e)->pid);
}

static inline bool pid_empty(const void *e)
{
    const pidslot *s = e;
    return s->idx1 == 0 && s->pid == 0;
}

static inline bool pid_match(const void *e, const void *key)
{
    return ((const pidslot *)e)->pid == *(const uint32_t *)key;
}

static inline void pid_bury(void *e)
{
    *(pidslot *)e = (pidslot){.pid = 1, .idx1 = 0};
}

static inline bool pid_buried(const void *e)
{
    const pidslot *s = e;
    return s->idx1 == 0 && s->pid != 0;
}

static const ttm_table_type pid_type = {.entry_size = sizeof(pidslot),
                                        .hash = pid_hash,
                                        .empty = pid_empty,
                                        .match = pid_match,
                                        .bury = pid_bury,
                                        .buried = pid_buried};

static pidslot *pid_find(const ttm_registry *reg, uint32_t pid)
{
    return ttm__table_find(&reg->pidmap, &pid_type, ttm__mix64(pid), &pid);
}

proc *ttm__reg_proc_find(const ttm_registry *reg, uint32_t pid)
{
    if (reg->last_proc != NULL && reg->last_proc->pid == pid)
        return reg->last_proc;
    pidslot *s = pid_find(reg, pid);
    return s != NULL ? reg->procs[s->idx1 - 1] : NULL;
}

/* A new entry for pid (known absent), alive since ts; NULL when the table is full or memory is
 * short. */
static proc *proc_add(ttm_registry *reg, uint32_t pid, uint64_t ts)
{
    if (reg->nprocs >= reg->cfg.max_processes) {
        reg->t.processes_dropped++;
        return NULL;
    }
    proc **np = ttm__grow(reg->procs, &reg->cap_procs, reg->nprocs, sizeof *np, 16);
    if (np == NULL)
        return NULL;
    reg->procs = np;
    if (!ttm__table_reserve(&reg->pidmap))
        return NULL;
    proc *p = ttm__calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->pid = pid;
    p->alive = true;
    p->first_ts = ts;
    p->recs = (reclist){NIL, NIL};
    reg->procs[reg->nprocs++] = p;
    pidslot *s = ttm__table_add(&reg->pidmap, &pid_type, ttm__mix64(pid)); /* reserved */
    *s = (pidslot){pid, (uint32_t)reg->nprocs};
    return p;
}

proc *ttm__reg_proc(ttm_registry *reg, uint32_t pid, uint64_t ts)
{
    if (reg->last_proc != NULL && reg->last_proc->pid == pid)
        return reg->last_proc;
    proc *p = ttm__reg_proc_find(reg, pid);
    if (p == NULL && (p = proc_add(reg, pid, ts)) == NULL)
        return NULL;
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

ttm_memstat *ttm__reg_proc_mem(proc *p, uint16_t device, unsigned memtype)
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

dev *ttm__reg_dev(ttm_registry *reg, uint16_t device)
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
    reg->cfg.max_phases = cfg_or(reg->cfg.max_phases, 4096);
    reg->cfg.max_leak_groups = cfg_or(reg->cfg.max_leak_groups, 4096);
    reg->cfg.max_breakdown = cfg_or(reg->cfg.max_breakdown, 1024);
    ttm__table_init(&reg->hist, &hist_type, reg->cfg.max_history);
    for (unsigned g = 0; g < 2; g++) {
        ttm__table_init(&reg->freed[g], &freed_type, freed_gen_cap(reg));
        ttm__table_init(&reg->freed_ctx[g], &freed_ctx_type, freed_gen_cap(reg));
    }
    ttm__table_init(&reg->lgroups, &lgroup_type, reg->cfg.max_leak_groups);
    ttm__table_init(&reg->bd, &bd_type, reg->cfg.max_breakdown);
    ttm__table_init(&reg->offs, &off_type, reg->cfg.max_offenders);
    ttm__table_init(&reg->pidmap, &pid_type, reg->cfg.max_processes);
    size_bounds_init(reg);
    reg->devs = ttm__calloc(MAX_DEVICES, sizeof *reg->devs);
    reg->dev_ids = ttm__calloc(MAX_DEVICES, sizeof *reg->dev_ids);
    if (reg->devs == NULL || reg->dev_ids == NULL || ttm__store_init(&reg->st) != TTM_OK) {
        ttm_registry_close(reg);
        return TTM_ENOMEM;
    }
    int err = ttm_stacks_open(&reg->stacks, &reg->cfg.stacks);
    if (err != TTM_OK) {
        ttm_registry_close(reg);
        return err;
    }
    reg->cfg.max_cause_keys = cfg_or(reg->cfg.max_cause_keys, 65536);
    if (!reg->cfg.no_causes && (err = ttm__causes_open(&reg->causes, reg->cfg.max_cause_keys))) {
        ttm_registry_close(reg);
        return err;
    }
    *out = reg;
    return TTM_OK;
}

void ttm_registry_close(ttm_registry *reg)
{
    if (reg == NULL)
        return;
    ttm__causes_close(reg->causes);
    ttm__store_free(&reg->st);
    ttm__table_free(&reg->hist);
    for (unsigned g = 0; g < 2; g++) {
        ttm__table_free(&reg->freed[g]);
        ttm__table_free(&reg->freed_ctx[g]);
    }
    ttm__table_free(&reg->lgroups);
    ttm__table_free(&reg->bd);
    ttm__free(reg->phases);
    ttm_stacks_close(reg->stacks);
    ttm__table_free(&reg->offs);
    ttm__table_free(&reg->pidmap);
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

ttm_stacks *ttm_registry_stacks(ttm_registry *reg)
{
    return reg->stacks;
}

const ttm_stacks *ttm_registry_stacks_c(const ttm_registry *reg)
{
    return reg->stacks;
}

void ttm_registry_set_capacity(ttm_registry *reg, uint16_t device, ttm_space space,
                               uint64_t bytes)
{
    dev *d = ttm__reg_dev(reg, device);
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

static inline rec *rec_at(const ttm_registry *reg, uint32_t i)
{
    return ttm__store_at(&reg->st, i);
}

/* A new record for pid's ALLOC event ev (p its entry, or NULL: an orphan), with the current
 * context; NULL when memory is short. */
static rec *rec_open(ttm_registry *reg, proc *p, uint32_t pid, const ttm_event *ev)
{
    rec *r = ttm__store_new(&reg->st, p != NULL ? &p->recs : NULL, pid, ev->device, ev->memtype,
                            ev->addr, reg->cur.ctx);
    if (r != NULL) {
        r->size = ev->size;
        r->obj = ev->obj;
        r->ts = ev->ts;
    }
    return r;
}

/* Deletes record i. p is the entry of the record's process (records are deleted only by their
 * own process's events and exit; a process with records is never forgotten, so its entry
 * exists unless the record is an orphan). */
static void rec_delete(ttm_registry *reg, proc *p, uint32_t i)
{
    ttm__store_delete(&reg->st, p != NULL ? &p->recs : NULL, i);
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
    proc *p = ttm__reg_proc_find(reg, r->pid);
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
    if (__builtin_expect(reg->sites_on, 0) && (reg->cur.phase != 0 || reg->cur.scope != 0))
        bd_note(reg, cls, bytes);
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
    for (uint32_t i = *ttm__store_bucket(&reg->st, ev->device, ev->addr); i != NIL;) {
        rec *r = rec_at(reg, i);
        uint32_t at = i;
        i = r->next;
        if (r->addr != ev->addr || r->device != ev->device || ttm__rec_space(r) != space ||
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
    ttm_memstat *pm = p != NULL ? ttm__reg_proc_mem(p, ev->device, ev->memtype) : NULL;
    if (p != NULL && pm == NULL)
        goto out_nomem;

    unsigned cls = TTM_CLASS_ALLOC_OK;
    if (mine != NULL) {
        /* The allocator handed our live address out again: the old buffer's free was missed. */
        cls = TTM_CLASS_OVERLAP;
        bytes_out(reg, mine);
        /* the finding is the replaced buffer's: its sites are where that one was allocated */
        cur_ctx event_ctx = reg->cur;
        uint32_t mine_ctx = ttm__store_ctx(&reg->st, mine_i);
        if (mine_ctx != event_ctx.ctx)
            cur_set_id(reg, mine_ctx);
        count_class(reg, d, p, TTM_CLASS_MISSED_FREE, mine->device, mine->memtype, mine->addr,
                    mine->size, pid, ev->ts);
        reg->cur = event_ctx;
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
    for (uint32_t i = *ttm__store_bucket(&reg->st, device, addr); i != NIL;) {
        rec *r = rec_at(reg, i);
        uint32_t at = i;
        i = r->next;
        unsigned s = ttm__rec_space(r);
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
    unsigned space = ttm__rec_space(owner);
    for (uint32_t i = *ttm__store_bucket(&reg->st, owner->device, owner->addr); i != NIL;) {
        rec *r = rec_at(reg, i);
        i = r->next;
        if (r->addr == owner->addr && r->device == owner->device && ttm__rec_space(r) == space &&
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

    uint32_t extra = 0, release_ctx = 0;
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
    } else if (ev->obj != 0 && freed_contains(reg, pid, ev->obj, &release_ctx)) {
        cls = TTM_CLASS_DOUBLE_FREE;
        if (release_ctx != 0 && reg->cur.ctx != 0) {
            uint32_t scope, phase;
            ttm__reg_ctx_get(reg, release_ctx, &reg->cur.release_stack, &scope, &phase);
        }
    } else if (ev->obj == 0 && h != NULL) {
        cls = TTM_CLASS_EXCESS_FREE;
    } else {
        cls = TTM_CLASS_UNKNOWN_FREE;
    }
    if (cls != TTM_CLASS_FREE_OK && bytes == 0 && chosen == NULL)
        bytes = ev->size;
    reg->free_memtype = memtype;
    count_class(reg, d, p, cls, ev->device, memtype, ev->addr, bytes, pid, ev->ts);
    return TTM_CLASS_BIT(cls) | extra;
}

/* ---- apply ---------------------------------------------------------------------------------- */

uint32_t ttm_registry_apply(ttm_registry *reg, uint32_t pid, const ttm_event *ev)
{
    return ttm_registry_apply_ex(reg, pid, ev, NULL);
}

static uint32_t apply_one(ttm_registry *reg, uint32_t pid, const ttm_event *ev,
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
        proc *p = ttm__reg_proc(reg, pid, ev->ts);
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
        dev *d = ttm__reg_dev(reg, ev->device);
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
    case TTM_EV_MARK: {
        reg->t.marks++;
        uint32_t name = ttm_stacks_string(reg->stacks, ev->mark, strnlen(ev->mark, sizeof ev->mark));
        proc *p = ttm__reg_proc(reg, pid, ev->ts);
        if (p != NULL)
            p->phase = name;
        reg->sites_on |= name != 0;
        (void)ttm__reg_phase_add(reg, pid, name, ev->ts);
        return 0;
    }
    default: {
        reg->cur = (cur_ctx){0};
        dev *d = ttm__reg_dev(reg, ev->device);
        count_class(reg, d, ttm__reg_proc(reg, pid, ev->ts), TTM_CLASS_INVALID, ev->device,
                    TTM_MEM_ANY, 0, 0, pid, ev->ts);
        return TTM_CLASS_BIT(TTM_CLASS_INVALID);
    }
    }

    if (reg->t.first_ts == 0 || ev->ts < reg->t.first_ts)
        reg->t.first_ts = ev->ts;
    if (ev->ts > reg->t.last_ts)
        reg->t.last_ts = ev->ts;

    dev *d = ttm__reg_dev(reg, ev->device);
    proc *p = ttm__reg_proc(reg, pid, ev->ts);
    if (p != NULL && !p->alive) { /* events after exit: the pid was reused */
        p->alive = true;
        p->exit_ts = 0;
    }
    bool is_alloc = ev->kind == TTM_EV_ALLOC;
    if (is_alloc)
        reg->t.allocs++;
    else
        reg->t.frees++;
    /* stack and scope side by side, in one load: the test of a run without call sites */
    uint64_t ids;
    memcpy(&ids, (const char *)ev + offsetof(ttm_event, stack), sizeof ids);
    _Static_assert(offsetof(ttm_event, scope) == offsetof(ttm_event, stack) + 4,
                   "stack and scope are adjacent");
    if (__builtin_expect((ids | reg->sites_on) != 0, 0)) {
        uint32_t phase = p != NULL ? p->phase : 0;
        if ((ev->stack | ev->scope | phase) != 0)
            cur_set_event(reg, ev->stack, ev->scope, phase);
        else if (reg->cur.ctx != 0)
            reg->cur = (cur_ctx){0};
    }

    if (p == NULL && is_alloc && reg->nprocs < reg->cfg.max_processes) {
        /* out of memory for the process's entry: storing the record now would let the
         * process's statistics and the device's disagree later */
        count_class(reg, d, NULL, TTM_CLASS_INVALID, ev->device, TTM_MEM_ANY, ev->addr, ev->size,
                    pid, ev->ts);
        return TTM_CLASS_BIT(TTM_CLASS_INVALID);
    }
    bool bad_memtype = is_alloc ? !ttm__memtype_valid(ev->memtype)
                                : !(ttm__memtype_valid(ev->memtype) || ev->memtype == TTM_MEM_ANY);
    if (bad_memtype || (ev->flags & ~(TTM_FLAG_VIEW | TTM__FLAG_ADDR_DEC)) != 0 || d == NULL) {
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

uint32_t ttm_registry_apply_ex(ttm_registry *reg, uint32_t pid, const ttm_event *ev,
                               ttm_apply_info *info)
{
    reg->addr_dec = (ev->flags & TTM__FLAG_ADDR_DEC) != 0;
    uint32_t mask = apply_one(reg, pid, ev, info);
    /* the attributor sees every address-only ALLOC and FREE (core/causes.h) */
    if (reg->causes != NULL && (ev->kind == TTM_EV_ALLOC || ev->kind == TTM_EV_FREE) &&
        ev->obj == 0)
        ttm__causes_note(reg->causes, pid, ev, mask,
                         ev->kind == TTM_EV_FREE ? reg->free_memtype : ev->memtype,
                         reg->t.allocs + reg->t.frees);
    reg->addr_dec = false;
    return mask;
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
    __builtin_prefetch(ttm__store_bucket(&reg->st, ev->device, ev->addr));
    if (ev->kind == TTM_EV_ALLOC && reg->hist.mask != 0 && ttm__memtype_valid(ev->memtype))
        __builtin_prefetch(ttm__table_home(
            &reg->hist, &hist_type,
            ttm__key_hash(ev->device, ttm__memtype_space(ev->memtype), ev->addr)));
}

static void prefetch_near(const ttm_registry *reg, uint32_t pid, const ttm_event *ev)
{
    if (ev->kind != TTM_EV_ALLOC && ev->kind != TTM_EV_FREE)
        return;
    uint32_t head = *ttm__store_bucket(&reg->st, ev->device, ev->addr);
    if (head != NIL && head < reg->st.next_unused)
        __builtin_prefetch(rec_at(reg, head));
    const ttm_table *cur = &reg->freed[reg->freed_cur];
    if (ev->kind == TTM_EV_FREE && ev->obj != 0 && cur->mask != 0)
        __builtin_prefetch(ttm__table_home(cur, &freed_type, obj_fingerprint(pid, ev->obj)), 1);
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

int ttm__leak_cmp(const void *a, const void *b)
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

void ttm__reg_leaks_sort(ttm_registry *reg)
{
    if (reg->nleaks > 1)
        ttm__qsort(reg->leaks, reg->nleaks, sizeof *reg->leaks, ttm__leak_cmp);
}

/* Settles record i of an exiting process (p its entry, or NULL): an owning record is counted
 * leaked_at_exit and listed while the list has room, its bytes leave the statistics; then the
 * record (owning or view) is reclaimed. *listed is set when the leak list grew. */
static void exit_settle_record(ttm_registry *reg, proc *p, uint32_t i, uint64_t ts, bool *listed)
{
    rec *r = rec_at(reg, i);
    if (!(r->rflags & REC_VIEW)) {
        dev *d = reg->devs[r->device];
        uint32_t ctx = ttm__store_ctx(&reg->st, i);
        if (ctx != reg->cur.ctx)
            cur_set_id(reg, ctx);
        count_class(reg, d, p, TTM_CLASS_LEAKED_AT_EXIT, r->device, r->memtype, r->addr, r->size,
                    r->pid, ts);
        lgroup_note(reg, reg->cur.stack, r->pid, r->size, r->ts);
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
                    .stack = reg->cur.stack,
                    .scope = reg->cur.scope,
                    .phase = reg->cur.phase,
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
    proc *p = ttm__reg_proc(reg, pid, ts);
    if (p != NULL && !p->exiting) {
        p->exiting = true;
        p->exiting_ts = ts;
        p->exit_leaked_count = p->exit_leaked_bytes = 0;
        if (reg->causes != NULL)
            ttm__causes_exit(reg->causes, pid); /* its pending strays can no longer change */
    }
    if (p != NULL)
        ts = p->exiting_ts; /* every step settles at the time of the first */
    /* a process without an entry exits in one step: its leaks are the totals' growth */
    uint64_t count0 = reg->t.class_count[TTM_CLASS_LEAKED_AT_EXIT];
    uint64_t bytes0 = reg->t.class_bytes[TTM_CLASS_LEAKED_AT_EXIT];
    size_t n = 0;
    bool listed = false;
    cur_ctx outer = reg->cur; /* an exit inside an apply (PROC_EXIT): none */
    reg->cur = (cur_ctx){0};
    while (p != NULL && n < budget && p->recs.head != NIL) {
        exit_settle_record(reg, p, p->recs.head, ts, &listed);
        n++;
    }
    bool done = p == NULL || p->recs.head == NIL;
    if (done && reg->st.orphans.head != NIL) {
        /* records made while the table was full: one walk of the orphans, not budgeted */
        for (uint32_t i = reg->st.orphans.head; i != NIL; n++) {
            rec *r = rec_at(reg, i);
            uint32_t next = r->pnext;
            if (r->pid == pid)
                exit_settle_record(reg, p, i, ts, &listed);
            i = next;
        }
    }
    reg->cur = outer;
    if (listed)
        ttm__reg_leaks_sort(reg);
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
    const proc *p = ttm__reg_proc_find(reg, pid);
    return p != NULL && p->exiting;
}

void ttm_registry_process_exit(ttm_registry *reg, uint32_t pid, uint64_t ts)
{
    (void)ttm_registry_process_exit_step(reg, pid, ts, SIZE_MAX, NULL);
}

int ttm_registry_process_forget(ttm_registry *reg, uint32_t pid)
{
    proc *p = ttm__reg_proc_find(reg, pid);
    if (p == NULL)
        return TTM_ENOENT;
    if (p->alive)
        return TTM_EINVAL;
    pidslot *s = pid_find(reg, pid);
    size_t at = s->idx1 - 1;
    ttm__table_erase(&reg->pidmap, s);
    /* the last process takes the forgotten one's place in procs */
    proc *last = reg->procs[--reg->nprocs];
    if (last != p) {
        reg->procs[at] = last;
        pid_find(reg, last->pid)->idx1 = (uint32_t)(at + 1);
    }
    if (reg->last_proc == p)
        reg->last_proc = NULL;
    ttm__free(p->devices);
    ttm__free(p);
    return TTM_OK;
}

/* ---- queries -------------------------------------------------------------------------------- */

void ttm_registry_totals(const ttm_registry *reg, ttm_totals *out)
{
    *out = reg->t;
    out->live_records = reg->st.live;
}

void ttm_registry_causes(const ttm_registry *reg, ttm_cause_stats out[TTM_CAUSE__COUNT],
                         ttm_causes_info *info)
{
    ttm__causes_report(reg->causes, out, info);
    if (info != NULL)
        info->keys_max = reg->cfg.no_causes ? 0 : reg->cfg.max_cause_keys;
}

size_t ttm_registry_devices(const ttm_registry *reg, ttm_device_stats *out, size_t cap)
{
    for (size_t i = 0; out != NULL && i < reg->ndevs && i < cap; i++)
        out[i] = reg->devs[reg->dev_ids[i]]->s;
    return reg->ndevs;
}

const ttm_device_stats *ttm_registry_device(const ttm_registry *reg, uint16_t device)
{
    const dev *d = reg->devs[device];
    return d != NULL ? &d->s : NULL;
}

int ttm__offender_cmp(const void *a, const void *b)
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

/* The k best entries (by cmp, smaller first; a total order) of a stream in out[0..k), with no
 * memory of its own: while the stream lasts a heap whose root is the worst entry kept, so an
 * entry costs O(log k) whatever k is (an insertion into a sorted array cost O(k), quadratic
 * when k is near the stream's length); topk_finish() sorts what was kept. */
typedef struct topk {
    char *base;
    size_t n, cap, size;
    int (*cmp)(const void *, const void *);
} topk;

static inline void *topk_at(const topk *t, size_t i)
{
    return t->base + i * t->size;
}

static void topk_swap(topk *t, size_t i, size_t j)
{
    unsigned char *x = topk_at(t, i), *y = topk_at(t, j);
    for (size_t k = 0; k < t->size; k++) {
        unsigned char c = x[k];
        x[k] = y[k];
        y[k] = c;
    }
}

static void topk_push(topk *t, const void *entry)
{
    if (t->cap == 0)
        return;
    size_t i;
    if (t->n < t->cap) {
        i = t->n++;
        memcpy(topk_at(t, i), entry, t->size);
        while (i > 0 && t->cmp(topk_at(t, (i - 1) / 2), topk_at(t, i)) < 0) {
            topk_swap(t, (i - 1) / 2, i);
            i = (i - 1) / 2;
        }
        return;
    }
    if (t->cmp(entry, topk_at(t, 0)) >= 0)
        return; /* no better than the worst kept */
    memcpy(topk_at(t, 0), entry, t->size);
    for (i = 0;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < t->n && t->cmp(topk_at(t, l), topk_at(t, m)) > 0)
            m = l;
        if (r < t->n && t->cmp(topk_at(t, r), topk_at(t, m)) > 0)
            m = r;
        if (m == i)
            break;
        topk_swap(t, i, m);
        i = m;
    }
}

static void topk_finish(topk *t)
{
    if (t->n > 1)
        ttm__qsort(t->base, t->n, t->size, t->cmp);
}

size_t ttm_registry_offenders(const ttm_registry *reg, unsigned cls, ttm_offender *out,
                              size_t cap)
{
    size_t n = 0, pos = 0;
    topk k = {(char *)out, 0, out != NULL ? cap : 0, sizeof *out, ttm__offender_cmp};
    for (const offender_slot *s; (s = ttm__table_next(&reg->offs, &off_type, &pos)) != NULL;) {
        if (cls != TTM_CLASS__COUNT && s->o.cls != cls)
            continue;
        n++;
        if (k.cap > 0) {
            ttm_offender o = offender_out(s);
            topk_push(&k, &o);
        }
    }
    topk_finish(&k);
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
    topk k = {(char *)out, 0, out != NULL ? cap : 0, sizeof *out, proc_cmp};
    for (size_t i = 0; k.cap > 0 && i < reg->nprocs; i++) {
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
        topk_push(&k, &ps);
    }
    topk_finish(&k);
    return reg->nprocs;
}

void ttm_registry_foreach_live(const ttm_registry *reg, bool (*fn)(const ttm_live *, void *),
                               void *arg)
{
    for (uint32_t i = 0; i < reg->st.next_unused; i++) {
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
        uint32_t ctx = ttm__store_ctx(&reg->st, i);
        if (ctx != 0)
            ttm__reg_ctx_get(reg, ctx, &l.stack, &l.scope, &l.phase);
        if (!fn(&l, arg))
            return;
    }
}

/* Copies the n entries of size size at base into out (up to cap), sorted by cmp: a query's
 * rows, whatever order its table holds them in. Sorts base in place. */
static void rows_out(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *),
                     void *out, size_t cap)
{
    if (out == NULL || cap == 0 || n == 0)
        return;
    ttm__qsort(base, n, size, cmp);
    memcpy(out, base, (n < cap ? n : cap) * size);
}

/* The present entries of table t (of type type, each holding a row of row_size bytes at its
 * start), plus extra (n_extra rows), in one new array; NULL when memory is short. */
static void *rows_collect(const ttm_table *t, const ttm_table_type *type, size_t row_size,
                          const void *extra, size_t n_extra, size_t *n)
{
    *n = 0;
    char *rows = ttm__malloc((t->live + n_extra + 1) * row_size);
    if (rows == NULL)
        return NULL;
    size_t pos = 0;
    for (const void *e; (e = ttm__table_next(t, type, &pos)) != NULL;)
        memcpy(rows + (*n)++ * row_size, e, row_size);
    if (n_extra > 0)
        memcpy(rows + *n * row_size, extra, n_extra * row_size);
    *n += n_extra;
    return rows;
}

int ttm__leak_group_cmp(const void *a, const void *b)
{
    const ttm_leak_group *x = a, *y = b;
    if (x->bytes != y->bytes)
        return x->bytes > y->bytes ? -1 : 1;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return x->stack < y->stack ? -1 : x->stack > y->stack;
}

size_t ttm_registry_leak_groups(const ttm_registry *reg, ttm_leak_group *out, size_t cap)
{
    size_t n;
    ttm_leak_group *rows = rows_collect(&reg->lgroups, &lgroup_type, sizeof *rows, &reg->lgroup0,
                                        reg->lgroup0.count != 0, &n);
    if (rows == NULL)
        return 0;
    rows_out(rows, n, sizeof *rows, ttm__leak_group_cmp, out, cap);
    ttm__free(rows);
    return n;
}

/* Record i when it is a live owning buffer (not a view), with its allocation stack (0: none);
 * else NULL. */
static const rec *live_owner(const ttm_registry *reg, uint32_t i, uint32_t *stack)
{
    const rec *r = rec_at(reg, i);
    if (!(r->rflags & REC_USED) || (r->rflags & REC_VIEW))
        return NULL;
    uint32_t scope, phase, ctx = ttm__store_ctx(&reg->st, i);
    *stack = 0;
    if (ctx != 0)
        ttm__reg_ctx_get(reg, ctx, stack, &scope, &phase);
    return r;
}

size_t ttm_registry_live_sites(const ttm_registry *reg, ttm_live_site *out, size_t cap)
{
    /* grouped as the leaks at exit are (a leak group's stack, count and bytes), stack 0
     * included */
    ttm_table t;
    ttm__table_init(&t, &lgroup_type, reg->st.live + 1);
    size_t n = 0;
    for (uint32_t i = 0; i < reg->st.next_unused; i++) {
        uint32_t stack;
        const rec *r = live_owner(reg, i, &stack);
        if (r == NULL)
            continue;
        uint64_t h = ttm__mix64(stack);
        lgroup_slot *e = ttm__table_find(&t, &lgroup_type, h, &stack);
        if (e == NULL) {
            e = ttm__table_add(&t, &lgroup_type, h);
            if (e == NULL)
                goto out_nomem;
            memset(e, 0, sizeof *e);
            e->g.stack = stack;
            e->used = true;
        }
        e->g.count++;
        e->g.bytes = sat_add(e->g.bytes, r->size);
    }
    ttm_leak_group *rows = rows_collect(&t, &lgroup_type, sizeof *rows, NULL, 0, &n);
    if (rows == NULL)
        goto out_nomem;
    if (out != NULL && cap > 0 && n > 0) {
        ttm__qsort(rows, n, sizeof *rows, ttm__leak_group_cmp);
        for (size_t i = 0; i < n && i < cap; i++) {
            memset(&out[i], 0, sizeof out[i]);
            out[i].stack = rows[i].stack;
            out[i].count = rows[i].count;
            out[i].bytes = rows[i].bytes;
        }
    }
    ttm__free(rows);
    ttm__table_free(&t);
    return n;

out_nomem:
    ttm__table_free(&t);
    return 0;
}

/* The transient table of ttm_registry_proc_sites(): one entry per (pid, stack). */
typedef struct psite_slot {
    ttm_proc_site s;
    bool used;
} psite_slot;

typedef struct psite_key {
    uint32_t pid, stack;
} psite_key;

static uint64_t psite_hash_of(uint32_t pid, uint32_t stack)
{
    return ttm__mix64(((uint64_t)pid << 32) | stack);
}

static uint64_t ps_hash(const void *e)
{
    const psite_slot *p = e;
    return psite_hash_of(p->s.pid, p->s.stack);
}

static bool ps_empty(const void *e)
{
    return !((const psite_slot *)e)->used;
}

static bool ps_match(const void *e, const void *key)
{
    const psite_slot *p = e;
    const psite_key *k = key;
    return p->s.pid == k->pid && p->s.stack == k->stack;
}

static const ttm_table_type psite_type = {
    .entry_size = sizeof(psite_slot), .hash = ps_hash, .empty = ps_empty, .match = ps_match};

static int proc_site_cmp(const void *a, const void *b)
{
    const ttm_proc_site *x = a, *y = b;
    if (x->pid != y->pid)
        return x->pid < y->pid ? -1 : 1;
    if (x->bytes != y->bytes)
        return x->bytes > y->bytes ? -1 : 1;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return x->stack < y->stack ? -1 : x->stack > y->stack;
}

size_t ttm_registry_proc_sites(const ttm_registry *reg, size_t top, ttm_proc_site *out, size_t cap)
{
    ttm_table t;
    ttm__table_init(&t, &psite_type, reg->st.live + 1);
    for (uint32_t i = 0; i < reg->st.next_unused; i++) {
        uint32_t stack;
        const rec *r = live_owner(reg, i, &stack);
        if (r == NULL)
            continue;
        psite_key key = {r->pid, stack};
        uint64_t h = psite_hash_of(r->pid, stack);
        psite_slot *e = ttm__table_find(&t, &psite_type, h, &key);
        if (e == NULL) {
            e = ttm__table_add(&t, &psite_type, h);
            if (e == NULL) {
                ttm__table_free(&t);
                return 0;
            }
            memset(e, 0, sizeof *e);
            e->s.pid = r->pid;
            e->s.stack = stack;
            e->used = true;
        }
        e->s.count++;
        e->s.bytes = sat_add(e->s.bytes, r->size);
        if (r->memtype < TTM_MEMTYPE_COUNT)
            e->s.mem_bytes[r->memtype] = sat_add(e->s.mem_bytes[r->memtype], r->size);
    }
    size_t n;
    ttm_proc_site *rows = rows_collect(&t, &psite_type, sizeof *rows, NULL, 0, &n);
    ttm__table_free(&t);
    if (rows == NULL)
        return 0;
    if (n > 1)
        ttm__qsort(rows, n, sizeof *rows, proc_site_cmp);
    /* each process's first `top` rows, in place */
    size_t kept = 0, run = 0;
    for (size_t i = 0; i < n; i++) {
        run = i > 0 && rows[i].pid == rows[i - 1].pid ? run + 1 : 0;
        if (run < top)
            rows[kept++] = rows[i];
    }
    if (out != NULL && cap > 0 && kept > 0)
        memcpy(out, rows, (kept < cap ? kept : cap) * sizeof *out);
    ttm__free(rows);
    return kept;
}

size_t ttm_registry_phases(const ttm_registry *reg, ttm_phase *out, size_t cap)
{
    if (out != NULL && reg->nphases > 0)
        memcpy(out, reg->phases, (reg->nphases < cap ? reg->nphases : cap) * sizeof *out);
    return reg->nphases;
}

int ttm__breakdown_cmp(const void *a, const void *b)
{
    const ttm_breakdown *x = a, *y = b;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    if (x->anomalies != y->anomalies)
        return x->anomalies > y->anomalies ? -1 : 1;
    if (x->allocs != y->allocs)
        return x->allocs > y->allocs ? -1 : 1;
    return x->name < y->name ? -1 : x->name > y->name;
}

size_t ttm_registry_breakdown(const ttm_registry *reg, ttm_breakdown *out, size_t cap)
{
    ttm_breakdown fold[2];
    size_t nfold = 0;
    for (unsigned k = 0; k < 2; k++)
        if (reg->bd_fold_used[k])
            fold[nfold++] = reg->bd_fold[k];
    size_t n;
    ttm_breakdown *rows = rows_collect(&reg->bd, &bd_type, sizeof *rows, fold, nfold, &n);
    if (rows == NULL)
        return 0;
    rows_out(rows, n, sizeof *rows, ttm__breakdown_cmp, out, cap);
    ttm__free(rows);
    return n;
}

size_t ttm_registry_live_memory(const ttm_registry *reg)
{
    return ttm__store_memory(&reg->st);
}

