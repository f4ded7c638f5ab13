/*
 * causes.c — the attributor: the cause of every unmatched free (and duplicate allocation) of an
 * address-only stream (core/causes.h), online and in bounded memory.
 *
 * The registry (registry.c) hands it every ALLOC and FREE without an object id, with the class
 * it gave the event and the attribution clock (the count of ALLOC and FREE events applied). The
 * rules, windows and thresholds are written out in docs/CLASSIFICATION.md, "Causes of unmatched
 * frees"; keep the two in step.
 *
 * What it holds:
 * - three rings of the recent past, each with bucket heads by address and a link to the
 *   previous entry of the same bucket (a chain newest first, checked entry by entry, so no
 *   entry is ever erased): the releases (frees that matched), the allocations, and the
 *   strays (unmatched frees and duplicate allocations) not yet final;
 * - per (device, address) that had a stray: its counts per cause and the spacing of its
 *   strays (a bounded table, cfg.max_cause_keys);
 * - the totals per cause.
 * A stray waits in its ring (pending) until no later event can change its cause: W events
 * after it, or after the release of the burst it joined. A query finalizes every pending stray
 * in a copy of the totals, seeing the per-address states through an overlay of those it
 * touches, as if the stream ended there; the counts of addresses and the worst ones are kept
 * as the counts change, so a query never walks the per-address table.
 */
#include <string.h>

#include "common/alloc.h"
#include "common/hash.h"
#include "common/util.h"
#include "core/registry_internal.h"

/* ---- the cause table ------------------------------------------------------------------------ */

static const struct {
    const char *name;
    const char *help;
} cause_table[TTM_CAUSE__COUNT] = {
#define TTM__CAUSE_ROW(cname, text, chelp) [TTM_CAUSE_##cname] = {text, chelp},
    TTM_CAUSE_MAP(TTM__CAUSE_ROW)
#undef TTM__CAUSE_ROW
};

const char *ttm_cause_name(unsigned c)
{
    return c < TTM_CAUSE__COUNT ? cause_table[c].name : "?";
}

const char *ttm_cause_help(unsigned c)
{
    return c < TTM_CAUSE__COUNT ? cause_table[c].help : "?";
}

int ttm_cause_parse(const char *s, ttm_cause *out)
{
    for (unsigned c = 0; s != NULL && c < TTM_CAUSE__COUNT; c++) {
        if (strcmp(s, cause_table[c].name) == 0) {
            *out = (ttm_cause)c;
            return TTM_OK;
        }
    }
    return TTM_EINVAL;
}

/* ---- state ---------------------------------------------------------------------------------- */

/* A release: a free that matched a live buffer (free_ok), and the burst of strays around it. */
typedef struct cz_rel {
    uint64_t seq;            /* 1, 2, ...; the slot is this entry's while ring[seq & mask] has it */
    uint64_t prev;           /* the previous release of the same bucket (0: none) */
    uint64_t clock, ts, addr;
    uint64_t cmin, cmax;     /* the clocks of the burst: the release and its strays */
    uint32_t pid;
    uint16_t device;         /* d0 */
    uint16_t nstrays;        /* strays joined (at most one per device) */
    uint16_t noff;           /* of them on devices other than d0: the burst is a mesh's when > 0 */
    uint8_t space;           /* ttm_space of the buffer released */
    uint8_t memtype;         /* its memtype */
    bool d0_member;          /* a stray on d0 joined */
    bool d0_stray;           /* a stray at (d0, addr) came since: the next is not the first */
} cz_rel;

/* An allocation (alloc_ok, duplicate_alloc, overlap) of an address-only event. */
typedef struct cz_alloc {
    uint64_t seq, prev, clock, addr;
    uint32_t pid;
    uint16_t device;
} cz_alloc;

enum { ST_FREE = 0, ST_DUP = 1 };

/* A stray: an unmatched free (excess_free, unknown_free, double_free without object) or a
 * duplicate allocation, waiting for its cause to be final. */
typedef struct cz_stray {
    uint64_t seq, prev, clock, ts, addr;
    uint64_t rel;            /* the release whose burst it joined (0: none) */
    uint32_t pid;
    uint16_t device;
    uint8_t memtype;
    uint8_t kind;            /* ST_FREE, ST_DUP */
    uint8_t space;           /* ttm_space, SPACE_ANY for a free without memtype */
    bool unknown;            /* unknown_free: the address was never allocated */
    bool dr;                 /* the first stray at its key since that key's release by pid */
    bool dec;                /* the address was written in decimal */
    bool settled;            /* its process exited: no later event can change it */
} cz_stray;

#define RING       8192u /* entries of each ring: more than 2 W events' worth of each */
#define BUCKETS    4096u
#define W_CAP      4096u /* the burst window's bound */
#define DR_WINDOW  4096u /* a double release follows its release within this many events */
#define STORM_MIN  16u   /* non-mesh strays that make an address a storm */
#define WALK_MAX   32u   /* chain entries looked at, at most */
#define HIST_MAX   256u  /* burst sizes beyond are counted as this */

/* A (device, address) that had a stray. */
typedef struct cz_key {
    uint64_t addr;
    uint16_t device;
    uint8_t memtype;
    uint8_t kflags;          /* KEY_* */
    uint8_t npids;
    uint32_t pids[TTM_CAUSE_PIDS];
    uint64_t burst;          /* the release its last stray joined */
    uint64_t allocs;         /* allocations at it since it is tracked */
    uint32_t frees[TTM_CAUSE__COUNT];
    uint32_t dups[TTM_CAUSE__COUNT];
    uint32_t amb;            /* of frees[DOUBLE_RELEASE], the ambiguous ones */
    uint32_t pend[TTM_CAUSE__COUNT]; /* of frees, the provisional ones (a query's copy only) */
    uint32_t nm;             /* non-mesh strays (final) */
    uint64_t first_ts, last_ts;
    /* the non-mesh strays' spacing: first and last time and clock, sums of squared gaps */
    uint64_t nm_first_ts, nm_last_ts, nm_first_clk, nm_last_clk;
    double sq_ns, sq_ev;
} cz_key;

#define KEY_USED  1u
#define KEY_DEC   2u
#define KEY_STORM 4u
#define KEY_MORE  8u /* more pids than kept */

static inline uint64_t key_hash_of(uint16_t device, uint64_t addr)
{
    return ttm__mix64(addr ^ ((uint64_t)device << 48) ^ 0x5a5a5a5a5a5a5a5aull);
}

static uint64_t key_hash(const void *e)
{
    const cz_key *k = e;
    return key_hash_of(k->device, k->addr);
}

static bool key_empty(const void *e)
{
    return ((const cz_key *)e)->kflags == 0;
}

static bool key_match(const void *e, const void *key)
{
    const cz_key *k = e, *q = key;
    return k->addr == q->addr && k->device == q->device;
}

static const ttm_table_type key_type = {
    .entry_size = sizeof(cz_key), .hash = key_hash, .empty = key_empty, .match = key_match};

/* The heads of the rings' chains for the addresses of one hash, side by side: an event reads
 * one cache line of them. keyed: a per-address state exists at an address of this hash (an
 * allocation elsewhere, most of them, skips the table's lookup); never cleared, as keys never
 * are. */
typedef struct cz_bucket {
    uint64_t rel, al, st;
    uint64_t keyed;
} cz_bucket;

/* Totals of one cause. */
typedef struct cz_tot {
    uint64_t frees, allocs, ambiguous, groups;
    uint64_t first_ts, last_ts;
    uint32_t pids[TTM_CAUSE_PIDS];
    uint8_t npids;
    bool more_pids;
} cz_tot;

/* A cause's worst addresses: the TOP_KEEP with the most of its frees and duplicate allocs
 * (weight), in order (weight descending, device, address), kept as the weights grow: an address
 * enters when it passes the last one (or finds a free place). An address whose weight falls to 0
 * (its frees moved to a storm) leaves a free place, which the next address counted takes:
 * exact while no address left, the first TOP_KEEP - (addresses that left) exact after. Saved
 * with the state, so a loaded registry keeps the same list. */
#define TOP_KEEP 8

typedef struct cz_top_e {
    uint64_t addr;
    uint64_t weight;
    uint16_t device;
} cz_top_e;

typedef struct cz_top {
    unsigned n;
    cz_top_e e[TOP_KEEP];
} cz_top;

/* What finalizing changes. A query works on a copy whose keys table is an overlay: the
 * per-address states it changes, copied from base (the live table) when first touched. */
typedef struct cz_acc {
    cz_tot tot[TTM_CAUSE__COUNT];
    uint64_t pending[TTM_CAUSE__COUNT]; /* only in a query's copy */
    uint64_t hist_dev[HIST_MAX + 1], hist_frees[HIST_MAX + 1]; /* mesh bursts by size */
    uint64_t attributed;
    uint64_t addrs[TTM_CAUSE__COUNT];   /* per-address states with weight in the cause */
    cz_top top[TTM_CAUSE__COUNT];
    ttm_table keys;
    const ttm_table *base;              /* NULL: keys is the live table */
} cz_acc;

struct ttm__causes {
    uint32_t max_keys;
    uint64_t clock;           /* of the last event */
    uint64_t ndevices;
    uint8_t devmap[65536 / 8];
    uint64_t max_span;        /* the widest mesh burst seen (events) */
    uint64_t dropped;         /* strays whose address found no room in the table */
    cz_rel *rel;
    cz_alloc *al;
    cz_stray *st;
    uint64_t rel_next, rel_closed; /* next seq; releases below rel_closed are closed */
    uint64_t al_next;
    uint64_t st_next, st_fin;      /* next seq; strays below st_fin are final */
    cz_bucket bk[BUCKETS];
    cz_acc acc;
};

#define SPACE_ANY 3u

static inline uint8_t space_of(unsigned memtype)
{
    return ttm__memtype_valid(memtype) ? (uint8_t)ttm__memtype_space(memtype) : SPACE_ANY;
}

/* True when two events may concern one buffer: the same address space, or one does not say. */
static inline bool space_fits(unsigned a, unsigned b)
{
    return a == b || a == SPACE_ANY || b == SPACE_ANY;
}

static inline size_t bucket_of(uint64_t addr)
{
    /* Fibonacci hashing: addresses are aligned, their middle bits vary */
    return (size_t)(((addr >> 5) * 0x9e3779b97f4a7c15ull) >> 52) & (BUCKETS - 1);
}

static inline uint64_t window(const ttm__causes *c)
{
    uint64_t w = 4 * c->ndevices + 16;
    if (2 * c->max_span > w)
        w = 2 * c->max_span;
    return w < W_CAP ? w : W_CAP;
}

static inline cz_rel *rel_get(const ttm__causes *c, uint64_t seq)
{
    cz_rel *r = &c->rel[seq & (RING - 1)];
    return seq != 0 && r->seq == seq ? r : NULL;
}

static inline cz_stray *st_get(const ttm__causes *c, uint64_t seq)
{
    cz_stray *s = &c->st[seq & (RING - 1)];
    return seq != 0 && s->seq == seq ? s : NULL;
}

static inline cz_alloc *al_get(const ttm__causes *c, uint64_t seq)
{
    cz_alloc *a = &c->al[seq & (RING - 1)];
    return seq != 0 && a->seq == seq ? a : NULL;
}

/* An allocation the attributor still consults (and a save keeps). */
static bool al_kept(const ttm__causes *c, const cz_alloc *a)
{
    return a->clock + 2 * W_CAP >= c->clock;
}

static inline uint32_t sat32(uint32_t v)
{
    return v < UINT32_MAX ? v + 1 : v;
}

static void pids_note(uint32_t *pids, uint8_t *npids, bool *more, uint32_t pid)
{
    for (unsigned i = 0; i < *npids; i++)
        if (pids[i] == pid)
            return;
    if (*npids < TTM_CAUSE_PIDS)
        pids[(*npids)++] = pid;
    else
        *more = true;
}

/* ---- open / close --------------------------------------------------------------------------- */

int ttm__causes_open(ttm__causes **out, uint32_t max_keys)
{
    *out = NULL;
    ttm__causes *c = ttm__calloc(1, sizeof *c);
    if (c == NULL)
        return TTM_ENOMEM;
    c->max_keys = max_keys ? max_keys : 65536;
    c->rel = ttm__calloc(RING, sizeof *c->rel);
    c->al = ttm__calloc(RING, sizeof *c->al);
    c->st = ttm__calloc(RING, sizeof *c->st);
    if (c->rel == NULL || c->al == NULL || c->st == NULL) {
        ttm__causes_close(c);
        return TTM_ENOMEM;
    }
    c->rel_next = c->rel_closed = c->al_next = c->st_next = c->st_fin = 1;
    ttm__table_init(&c->acc.keys, &key_type, c->max_keys);
    *out = c;
    return TTM_OK;
}

void ttm__causes_close(ttm__causes *c)
{
    if (c == NULL)
        return;
    ttm__free(c->rel);
    ttm__free(c->al);
    ttm__free(c->st);
    ttm__table_free(&c->acc.keys);
    ttm__free(c);
}

/* ---- per-address state ---------------------------------------------------------------------- */

static cz_key *table_key(const ttm_table *t, uint16_t device, uint64_t addr)
{
    cz_key q = {.addr = addr, .device = device};
    return ttm__table_find(t, &key_type, key_hash_of(device, addr), &q);
}

/* The key of (device, addr), created when missing; NULL when the table is full (the caller
 * counts the drop) or memory is short. */
static cz_key *key_get(ttm__causes *c, uint16_t device, uint64_t addr)
{
    cz_key *k = table_key(&c->acc.keys, device, addr);
    if (k != NULL)
        return k;
    uint64_t h = key_hash_of(device, addr);
    k = ttm__table_add(&c->acc.keys, &key_type, h);
    if (k == NULL)
        return NULL;
    c->bk[bucket_of(addr)].keyed = 1;
    memset(k, 0, sizeof *k);
    k->addr = addr;
    k->device = device;
    k->memtype = TTM_MEM_ANY;
    k->kflags = KEY_USED;
    /* the allocations at it before its first stray, as far as the allocation ring keeps them
     * (those a save keeps: al_kept), so that a storm's count includes the first buffer */
    unsigned steps = 0;
    for (const cz_alloc *a = al_get(c, c->bk[bucket_of(addr)].al);
         a != NULL && al_kept(c, a) && ++steps <= WALK_MAX; a = al_get(c, a->prev))
        if (a->addr == addr && a->device == device)
            k->allocs++;
    return k;
}

/* The per-address state finalizing changes in a: the live one, or in a query's copy the
 * overlay's, copied from the live table when first touched (NULL: none, or no memory). */
static cz_key *acc_key(cz_acc *a, uint16_t device, uint64_t addr)
{
    cz_key *k = table_key(&a->keys, device, addr);
    if (k != NULL || a->base == NULL)
        return k;
    const cz_key *b = table_key(a->base, device, addr);
    if (b == NULL || (k = ttm__table_add(&a->keys, &key_type, key_hash_of(device, addr))) == NULL)
        return NULL;
    *k = *b;
    return k;
}

/* The state of (device, addr) as a sees it (overlay first). */
static const cz_key *acc_key_c(const cz_acc *a, uint16_t device, uint64_t addr)
{
    const cz_key *k = table_key(&a->keys, device, addr);
    return k != NULL || a->base == NULL ? k : table_key(a->base, device, addr);
}

static inline uint64_t weight(const cz_key *k, unsigned cause)
{
    return (uint64_t)k->frees[cause] + k->dups[cause];
}

static bool top_before(const cz_top_e *x, const cz_top_e *y)
{
    if (x->weight != y->weight)
        return x->weight > y->weight;
    if (x->device != y->device)
        return x->device < y->device;
    return x->addr < y->addr;
}

/* Puts e in its place in the list (it is not in it), when it ranks among the TOP_KEEP. */
static void top_insert(cz_top *t, const cz_top_e *e)
{
    if (t->n == TOP_KEEP && !top_before(e, &t->e[TOP_KEEP - 1]))
        return;
    unsigned at = t->n < TOP_KEEP ? t->n++ : TOP_KEEP - 1;
    while (at > 0 && top_before(e, &t->e[at - 1])) {
        t->e[at] = t->e[at - 1];
        at--;
    }
    t->e[at] = *e;
}

/* k's weight in cause changed from old: the counts of addresses and the worst ones follow. */
static void key_weighed(cz_acc *a, const cz_key *k, unsigned cause, uint64_t old)
{
    uint64_t w = weight(k, cause);
    if (w == old)
        return;
    a->addrs[cause] += (old == 0) - (w == 0);
    cz_top *t = &a->top[cause];
    for (unsigned i = 0; i < t->n; i++) {
        if (t->e[i].addr != k->addr || t->e[i].device != k->device)
            continue;
        if (w == 0) { /* it left the cause (moved to a storm): its place is free */
            memmove(&t->e[i], &t->e[i + 1], (t->n - i - 1) * sizeof t->e[0]);
            t->n--;
            return;
        }
        cz_top_e e = t->e[i]; /* weights only grow but by a move to zero: it moves up */
        e.weight = w;
        memmove(&t->e[i], &t->e[i + 1], (t->n - i - 1) * sizeof t->e[0]);
        t->n--;
        top_insert(t, &e);
        return;
    }
    cz_top_e e = {.addr = k->addr, .weight = w, .device = k->device};
    if (w != 0)
        top_insert(t, &e);
}

/* ---- finalizing ----------------------------------------------------------------------------- */

static void tot_note(cz_tot *t, uint32_t pid, uint64_t ts)
{
    if (t->frees + t->allocs == 0 || ts < t->first_ts)
        t->first_ts = ts;
    if (ts > t->last_ts)
        t->last_ts = ts;
    pids_note(t->pids, &t->npids, &t->more_pids, pid);
}

static void key_note(cz_key *k, uint32_t pid, uint64_t ts)
{
    if ((k->first_ts == 0 && k->last_ts == 0) || ts < k->first_ts)
        k->first_ts = ts;
    if (ts > k->last_ts)
        k->last_ts = ts;
    bool more = (k->kflags & KEY_MORE) != 0;
    pids_note(k->pids, &k->npids, &more, pid);
    if (more)
        k->kflags |= KEY_MORE;
}

/* True when some allocation at s's address by s's pid on another device lies within w events
 * of s: s is part of a mesh's allocation burst. */
/* True when pid allocated at addr (on any device) after clock lo and before hi: a stray and a
 * release with such an allocation between them are of two buffers. */
static bool alloc_between(const ttm__causes *c, uint64_t addr, uint32_t pid, uint64_t lo,
                          uint64_t hi)
{
    unsigned steps = 0;
    for (const cz_alloc *a = al_get(c, c->bk[bucket_of(addr)].al); a != NULL;
         a = al_get(c, a->prev)) {
        if (a->clock <= lo || ++steps > WALK_MAX)
            break;
        if (a->clock < hi && a->addr == addr && a->pid == pid)
            return true;
    }
    return false;
}

/* True when pid released its buffer at (device, addr) after clock lo and before hi. */
static bool released_between(const ttm__causes *c, uint64_t addr, uint16_t device, uint32_t pid,
                             uint64_t lo, uint64_t hi)
{
    unsigned steps = 0;
    for (const cz_rel *r = rel_get(c, c->bk[bucket_of(addr)].rel); r != NULL;
         r = rel_get(c, r->prev)) {
        if (r->clock <= lo || ++steps > WALK_MAX)
            break;
        if (r->clock < hi && r->addr == addr && r->device == device && r->pid == pid)
            return true;
    }
    return false;
}

/* True when some allocation at s's address by s's pid on another device lies within w events
 * of s, and was not released before s: s is part of a mesh's allocation burst (a mesh's
 * per-device buffers are all live together). */
static bool dup_in_mesh(const ttm__causes *c, const cz_stray *s, uint64_t w)
{
    unsigned steps = 0;
    for (const cz_alloc *a = al_get(c, c->bk[bucket_of(s->addr)].al); a != NULL;
         a = al_get(c, a->prev)) {
        if (a->clock + w < s->clock || ++steps > WALK_MAX)
            break;
        if (a->clock > s->clock + w || a->addr != s->addr || a->pid != s->pid ||
            a->device == s->device)
            continue;
        if (a->clock > s->clock ||
            !released_between(c, s->addr, a->device, s->pid, a->clock, s->clock))
            return true;
    }
    return false;
}

/* Gives stray s its final cause in a (the live totals, or a query's copy). pending: s is
 * still provisional (a query's copy counts it). */
static void finalize(const ttm__causes *c, cz_acc *a, const cz_stray *s, bool pending)
{
    cz_key *k = acc_key(a, s->device, s->addr);
    ttm_cause cause;
    a->attributed++;
    if (s->kind == ST_DUP) {
        cause = dup_in_mesh(c, s, window(c)) ? TTM_CAUSE_MESH_MULTIPLICITY : TTM_CAUSE_UNEXPLAINED;
        cz_tot *t = &a->tot[cause];
        tot_note(t, s->pid, s->ts);
        t->allocs++;
        if (k != NULL) {
            uint64_t old = weight(k, cause);
            k->dups[cause] = sat32(k->dups[cause]);
            key_note(k, s->pid, s->ts);
            key_weighed(a, k, cause, old);
        }
        a->pending[cause] += pending;
        return;
    }
    const cz_rel *r = s->rel != 0 ? rel_get(c, s->rel) : NULL;
    bool amb = false;
    if (r != NULL && r->noff > 0) {
        cause = TTM_CAUSE_MESH_MULTIPLICITY;
    } else {
        if (r != NULL) { /* a burst of d0 alone: a double release, or a 1-device mesh */
            cause = TTM_CAUSE_DOUBLE_RELEASE;
            amb = true;
        } else if (s->dr) {
            cause = TTM_CAUSE_DOUBLE_RELEASE;
        } else if (s->unknown) {
            cause = TTM_CAUSE_PRE_TRACKING;
        } else {
            cause = TTM_CAUSE_UNEXPLAINED;
        }
        if (k != NULL) {
            /* the spacing of the address's non-mesh strays */
            if (k->nm == 0) {
                k->nm_first_ts = s->ts;
                k->nm_first_clk = s->clock;
            } else {
                double gn = (double)(s->ts - k->nm_last_ts);
                double ge = (double)(s->clock - k->nm_last_clk);
                k->sq_ns += gn * gn;
                k->sq_ev += ge * ge;
            }
            k->nm_last_ts = s->ts;
            k->nm_last_clk = s->clock;
            k->nm = sat32(k->nm);
            if (!(k->kflags & KEY_STORM) && k->nm >= STORM_MIN) {
                /* the address is a storm: its earlier non-mesh strays move over */
                k->kflags |= KEY_STORM;
                cz_tot *st = &a->tot[TTM_CAUSE_EXCESS_STORM];
                st->groups++;
                static const ttm_cause moved[] = {TTM_CAUSE_DOUBLE_RELEASE, TTM_CAUSE_PRE_TRACKING,
                                                  TTM_CAUSE_UNEXPLAINED};
                for (unsigned i = 0; i < sizeof moved / sizeof moved[0]; i++) {
                    uint32_t n = k->frees[moved[i]];
                    if (n == 0)
                        continue;
                    uint64_t old = weight(k, moved[i]), old_storm = weight(k, TTM_CAUSE_EXCESS_STORM);
                    cz_tot *t = &a->tot[moved[i]];
                    t->frees -= n;
                    if (moved[i] == TTM_CAUSE_DOUBLE_RELEASE) {
                        t->ambiguous -= k->amb;
                        k->amb = 0;
                    }
                    st->frees += n;
                    a->pending[moved[i]] -= k->pend[moved[i]];
                    a->pending[TTM_CAUSE_EXCESS_STORM] += k->pend[moved[i]];
                    k->pend[TTM_CAUSE_EXCESS_STORM] += k->pend[moved[i]];
                    k->pend[moved[i]] = 0;
                    if (st->frees == n || k->nm_first_ts < st->first_ts)
                        st->first_ts = k->nm_first_ts;
                    k->frees[TTM_CAUSE_EXCESS_STORM] += n;
                    k->frees[moved[i]] = 0;
                    key_weighed(a, k, moved[i], old);
                    key_weighed(a, k, TTM_CAUSE_EXCESS_STORM, old_storm);
                }
                for (unsigned i = 0; i < k->npids; i++)
                    pids_note(st->pids, &st->npids, &st->more_pids, k->pids[i]);
            }
            if (k->kflags & KEY_STORM) {
                cause = TTM_CAUSE_EXCESS_STORM;
                amb = false;
            }
        }
    }
    cz_tot *t = &a->tot[cause];
    tot_note(t, s->pid, s->ts);
    t->frees++;
    t->ambiguous += amb;
    a->pending[cause] += pending;
    if (k != NULL) {
        uint64_t old = weight(k, cause);
        k->frees[cause] = sat32(k->frees[cause]);
        k->amb += amb;
        k->pend[cause] += pending;
        key_note(k, s->pid, s->ts);
        key_weighed(a, k, cause, old);
    }
}

/* A release's burst is over: a mesh's counts its size. */
static void close_release(cz_acc *a, const cz_rel *r)
{
    if (r->noff == 0)
        return;
    a->tot[TTM_CAUSE_MESH_MULTIPLICITY].groups++;
    unsigned devs = r->noff + 1u, frees = r->nstrays;
    a->hist_dev[devs < HIST_MAX ? devs : HIST_MAX]++;
    a->hist_frees[frees < HIST_MAX ? frees : HIST_MAX]++;
}

/* The clock after which stray s can no longer change. */
static uint64_t stray_deadline(const ttm__causes *c, const cz_stray *s, uint64_t w)
{
    const cz_rel *r = s->rel != 0 ? rel_get(c, s->rel) : NULL;
    if (r != NULL && r->noff > 0)
        return 0; /* a mesh's: final */
    uint64_t base = r != NULL && r->clock > s->clock ? r->clock : s->clock;
    return base + w;
}

/* Finalizes the strays and closes the releases whose windows have passed at clock now. */
static void advance(ttm__causes *c, uint64_t now)
{
    uint64_t w = window(c);
    while (c->st_fin < c->st_next) {
        const cz_stray *s = &c->st[c->st_fin & (RING - 1)];
        if (now <= stray_deadline(c, s, w))
            break;
        finalize(c, &c->acc, s, false);
        c->st_fin++;
    }
    while (c->rel_closed < c->rel_next) {
        const cz_rel *r = rel_get(c, c->rel_closed);
        if (r == NULL) { /* (only in a forged state) */
            c->rel_closed++;
            continue;
        }
        if (now <= r->clock + w && c->rel_next - c->rel_closed < RING)
            break;
        close_release(&c->acc, r);
        c->rel_closed++;
    }
}

/* ---- the events ----------------------------------------------------------------------------- */

/* Joins stray s (seq sseq) to release r. */
static void join(ttm__causes *c, cz_rel *r, cz_stray *s, cz_key *k)
{
    s->rel = r->seq;
    r->nstrays++;
    if (s->device == r->device)
        r->d0_member = true;
    else
        r->noff++;
    if (s->clock < r->cmin)
        r->cmin = s->clock;
    if (s->clock > r->cmax)
        r->cmax = s->clock;
    if (k != NULL) {
        k->burst = r->seq;
        if (k->memtype == TTM_MEM_ANY) /* a free that did not say: the buffer released's */
            k->memtype = r->memtype;
    }
    if (r->noff > 0 && r->cmax - r->cmin > c->max_span)
        c->max_span = r->cmax - r->cmin;
}

/* True when release r's burst has no stray on s's device yet (k: the key of s, or NULL). */
static bool burst_lacks(const cz_rel *r, uint16_t device, const cz_key *k)
{
    if (device == r->device)
        return !r->d0_member;
    return k == NULL || k->burst != r->seq;
}

static void on_release(ttm__causes *c, uint32_t pid, const ttm_event *ev, unsigned memtype,
                       uint64_t clock)
{
    if (c->rel_next - c->rel_closed >= RING) { /* never with W below RING events */
        close_release(&c->acc, &c->rel[c->rel_closed & (RING - 1)]);
        c->rel_closed++;
    }
    size_t b = bucket_of(ev->addr);
    uint64_t seq = c->rel_next++;
    cz_rel *r = &c->rel[seq & (RING - 1)];
    *r = (cz_rel){.seq = seq, .prev = c->bk[b].rel, .clock = clock, .ts = ev->ts,
                  .addr = ev->addr, .cmin = clock, .cmax = clock, .pid = pid,
                  .device = ev->device, .space = space_of(memtype),
                  .memtype = (uint8_t)memtype};
    c->bk[b].rel = seq;
    /* the strays at the address by pid that came before it, within the window, join it */
    uint64_t w = window(c);
    unsigned steps = 0;
    for (cz_stray *s = st_get(c, c->bk[b].st); s != NULL; s = st_get(c, s->prev)) {
        if (s->seq < c->st_fin || s->clock + w < clock || ++steps > WALK_MAX)
            break;
        /* not one on d0: the buffer released was allocated there after that stray */
        if (s->kind != ST_FREE || s->rel != 0 || s->addr != ev->addr || s->pid != pid ||
            s->device == ev->device || !space_fits(s->space, r->space))
            continue;
        cz_key *k = table_key(&c->acc.keys, s->device, s->addr);
        if (burst_lacks(r, s->device, k) && !alloc_between(c, ev->addr, pid, s->clock, clock))
            join(c, r, s, k);
    }
}

static void on_stray(ttm__causes *c, uint32_t pid, const ttm_event *ev, unsigned memtype,
                     unsigned cls, uint64_t clock, unsigned kind)
{
    if (c->st_next - c->st_fin >= RING) { /* never with W below RING / 2 events */
        finalize(c, &c->acc, &c->st[c->st_fin & (RING - 1)], false);
        c->st_fin++;
    }
    cz_key *k = key_get(c, ev->device, ev->addr);
    if (k == NULL)
        c->dropped++;
    bool dec = (ev->flags & TTM__FLAG_ADDR_DEC) != 0;
    if (k != NULL) {
        if (memtype != TTM_MEM_ANY)
            k->memtype = (uint8_t)memtype;
        if (dec)
            k->kflags |= KEY_DEC;
    }
    size_t b = bucket_of(ev->addr);
    uint64_t seq = c->st_next++;
    cz_stray *s = &c->st[seq & (RING - 1)];
    *s = (cz_stray){.seq = seq, .prev = c->bk[b].st, .clock = clock, .ts = ev->ts,
                    .addr = ev->addr, .pid = pid, .device = ev->device,
                    .memtype = (uint8_t)memtype, .kind = (uint8_t)kind,
                    .space = space_of(memtype),
                    .unknown = cls == TTM_CLASS_UNKNOWN_FREE, .dec = dec};
    c->bk[b].st = seq;
    if (kind != ST_FREE)
        return;
    /* the releases at the address: the key's latest (a double release?) and the burst to join */
    uint64_t w = window(c);
    bool key_seen = false;
    cz_rel *to = NULL;
    unsigned steps = 0;
    for (cz_rel *r = rel_get(c, c->bk[b].rel); r != NULL; r = rel_get(c, r->prev)) {
        if (r->clock + DR_WINDOW < clock || ++steps > WALK_MAX)
            break;
        if (r->addr != ev->addr || !space_fits(r->space, s->space))
            continue;
        if (r->device == ev->device && !key_seen) {
            key_seen = true;
            s->dr = r->pid == pid && !r->d0_stray;
            r->d0_stray = true;
        }
        if (to == NULL && r->pid == pid && r->clock + w >= clock && r->seq >= c->rel_closed &&
            burst_lacks(r, ev->device, k) && !alloc_between(c, ev->addr, pid, r->clock, clock))
            to = r;
        if (to != NULL && key_seen)
            break;
    }
    if (to != NULL)
        join(c, to, s, k);
}

static void on_alloc(ttm__causes *c, uint32_t pid, const ttm_event *ev, unsigned memtype,
                     uint64_t clock)
{
    size_t b = bucket_of(ev->addr);
    uint64_t seq = c->al_next++;
    c->al[seq & (RING - 1)] = (cz_alloc){.seq = seq, .prev = c->bk[b].al, .clock = clock,
                                         .addr = ev->addr, .pid = pid, .device = ev->device};
    c->bk[b].al = seq;
    cz_key *k = c->bk[b].keyed ? table_key(&c->acc.keys, ev->device, ev->addr) : NULL;
    if (k != NULL) {
        k->allocs++;
        k->memtype = (uint8_t)memtype;
    }
}

void ttm__causes_note(ttm__causes *c, uint32_t pid, const ttm_event *ev, uint32_t mask,
                      unsigned memtype, uint64_t clock)
{
    c->clock = clock;
    uint16_t d = ev->device;
    if (!(c->devmap[d >> 3] & (1u << (d & 7)))) {
        c->devmap[d >> 3] |= (uint8_t)(1u << (d & 7));
        c->ndevices++;
    }
    advance(c, clock);
    if (ev->kind == TTM_EV_ALLOC) {
        if (mask & (TTM_CLASS_BIT(TTM_CLASS_ALLOC_OK) | TTM_CLASS_BIT(TTM_CLASS_OVERLAP) |
                    TTM_CLASS_BIT(TTM_CLASS_DUPLICATE_ALLOC)))
            on_alloc(c, pid, ev, memtype, clock);
        if (mask & TTM_CLASS_BIT(TTM_CLASS_DUPLICATE_ALLOC))
            on_stray(c, pid, ev, memtype, TTM_CLASS_DUPLICATE_ALLOC, clock, ST_DUP);
        return;
    }
    if (mask & TTM_CLASS_BIT(TTM_CLASS_FREE_OK)) {
        on_release(c, pid, ev, memtype, clock);
        return;
    }
    static const uint32_t stray = TTM_CLASS_BIT(TTM_CLASS_EXCESS_FREE) |
                                  TTM_CLASS_BIT(TTM_CLASS_UNKNOWN_FREE) |
                                  TTM_CLASS_BIT(TTM_CLASS_DOUBLE_FREE);
    if (mask & stray)
        on_stray(c, pid, ev, memtype,
                 (mask & TTM_CLASS_BIT(TTM_CLASS_UNKNOWN_FREE)) ? TTM_CLASS_UNKNOWN_FREE
                                                                 : TTM_CLASS_EXCESS_FREE,
                 clock, ST_FREE);
}

/* ---- the query ------------------------------------------------------------------------------ */

/* True when a later event may still change the cause of pending stray s. */
static bool provisional(const ttm__causes *c, const cz_stray *s, uint64_t w)
{
    return !s->settled && stray_deadline(c, s, w) != 0;
}

static uint64_t pending_count(const ttm__causes *c)
{
    uint64_t w = window(c), n = 0;
    for (uint64_t q = c->st_fin; q < c->st_next; q++)
        n += provisional(c, &c->st[q & (RING - 1)], w);
    return n;
}

/* A query's copy of src: everything but the per-address states, which it sees through an
 * overlay (acc_key()). Owns the overlay's array (freed with ttm__table_free). */
static void acc_overlay(cz_acc *dst, const cz_acc *src)
{
    *dst = *src;
    ttm__table_init(&dst->keys, &key_type, 2 * RING);
    dst->base = &src->keys;
}

static unsigned hist_mode(const uint64_t *h)
{
    unsigned best = 0;
    for (unsigned i = 1; i <= HIST_MAX; i++)
        if (h[i] > h[best])
            best = i;
    return h[best] != 0 ? best : 0;
}

/* The instance of cause at key k. */
static ttm_cause_instance instance_of(const cz_key *k, unsigned cause)
{
    ttm_cause_instance in = {
        .device = k->device,
        .memtype = k->memtype,
        .addr_dec = (k->kflags & KEY_DEC) != 0,
        .addr = k->addr,
        .frees = k->frees[cause],
        .allocs = k->allocs,
        .first_ts = k->first_ts,
        .last_ts = k->last_ts,
        .npids = k->npids,
        .more_pids = (k->kflags & KEY_MORE) != 0,
    };
    memcpy(in.pids, k->pids, sizeof in.pids);
    if (cause == TTM_CAUSE_EXCESS_STORM && k->nm >= 2) {
        in.first_ts = k->nm_first_ts;
        in.last_ts = k->nm_last_ts;
        double n = (double)(k->nm - 1);
        double mean_ns = (double)(k->nm_last_ts - k->nm_first_ts) / n;
        double mean_ev = (double)(k->nm_last_clk - k->nm_first_clk) / n;
        in.period_ns = (uint64_t)(mean_ns + 0.5);
        in.period_events = (uint64_t)(mean_ev + 0.5);
        /* coefficient of variation below 0.5: variance below a quarter of the squared mean
         * (the spacing in events when the stream has no times) */
        double mean = mean_ns > 0 ? mean_ns : mean_ev;
        double var = (mean_ns > 0 ? k->sq_ns : k->sq_ev) / n - mean * mean;
        in.regular = mean > 0 && var < 0.25 * mean * mean;
    }
    return in;
}

static void fill(const cz_acc *a, ttm_cause_stats out[TTM_CAUSE__COUNT])
{
    for (unsigned i = 0; i < TTM_CAUSE__COUNT; i++) {
        const cz_tot *t = &a->tot[i];
        ttm_cause_stats *cs = &out[i];
        cs->cause = (ttm_cause)i;
        cs->frees = t->frees;
        cs->allocs = t->allocs;
        cs->pending = a->pending[i];
        cs->ambiguous = t->ambiguous;
        cs->groups = t->groups;
        cs->first_ts = t->first_ts;
        cs->last_ts = t->last_ts;
        memcpy(cs->pids, t->pids, sizeof cs->pids);
        cs->npids = t->npids;
        cs->more_pids = t->more_pids;
        if (t->frees == 0 && t->allocs == 0) { /* everything it had moved to a storm */
            cs->first_ts = cs->last_ts = 0;
            cs->npids = 0;
            cs->more_pids = false;
            memset(cs->pids, 0, sizeof cs->pids);
        }
    }
    out[TTM_CAUSE_MESH_MULTIPLICITY].mesh_devices = (uint16_t)hist_mode(a->hist_dev);
    out[TTM_CAUSE_MESH_MULTIPLICITY].frees_per_group = (uint16_t)hist_mode(a->hist_frees);
    for (unsigned cause = 0; cause < TTM_CAUSE__COUNT; cause++) {
        ttm_cause_stats *cs = &out[cause];
        cs->addrs = a->addrs[cause];
        const cz_top *t = &a->top[cause];
        for (unsigned i = 0; i < t->n && cs->ninstances < TTM_CAUSE_INSTANCES; i++) {
            const cz_key *k = acc_key_c(a, t->e[i].device, t->e[i].addr);
            if (k != NULL)
                cs->instances[cs->ninstances++] = instance_of(k, cause);
        }
    }
}

void ttm__causes_report(const ttm__causes *c, ttm_cause_stats out[TTM_CAUSE__COUNT],
                        ttm_causes_info *info)
{
    memset(out, 0, TTM_CAUSE__COUNT * sizeof *out);
    for (unsigned i = 0; i < TTM_CAUSE__COUNT; i++)
        out[i].cause = (ttm_cause)i;
    if (info != NULL)
        *info = (ttm_causes_info){0};
    if (c == NULL)
        return;
    /* as if the stream ended now: every pending stray final, every burst closed, in a copy */
    cz_acc copy, *a = &copy;
    acc_overlay(&copy, &c->acc);
    memset(copy.pending, 0, sizeof copy.pending);
    uint64_t w = window(c);
    for (uint64_t q = c->st_fin; q < c->st_next; q++) {
        const cz_stray *s = &c->st[q & (RING - 1)];
        finalize(c, &copy, s, provisional(c, s, w));
    }
    for (uint64_t q = c->rel_closed; q < c->rel_next; q++)
        if (rel_get(c, q) != NULL)
            close_release(&copy, rel_get(c, q));
    fill(a, out);
    if (info != NULL) {
        *info = (ttm_causes_info){
            .enabled = true,
            .attributed = a->attributed,
            .pending = pending_count(c),
            .window_events = window(c),
            .devices = (uint16_t)(c->ndevices < UINT16_MAX ? c->ndevices : UINT16_MAX),
            .keys = c->acc.keys.live,
            .keys_max = c->max_keys,
            .dropped = c->dropped,
        };
    }
    ttm__table_free(&copy.keys);
}

/* ---- process exits -------------------------------------------------------------------------- */

void ttm__causes_exit(ttm__causes *c, uint32_t pid)
{
    /* a mesh burst needs a release by the stray's own process, a mesh allocation burst its
     * allocations: once it has exited, its pending strays only wait for their turn */
    for (uint64_t q = c->st_fin; q < c->st_next; q++) {
        cz_stray *s = &c->st[q & (RING - 1)];
        if (s->pid == pid)
            s->settled = true;
    }
}

/* ---- persistence ---------------------------------------------------------------------------- */

/*
 * The attributor's part of the registry state (version 3), in 64-bit words:
 *   clock, max_span, dropped, rel_next, rel_closed, al_next, st_next, st_fin, ndevices,
 *   the devices (one word each), the totals per cause (9 words each), attributed,
 *   the non-zero mesh-size counts (a count, then index | devices-or-frees << 16 and count),
 *   the releases still in reach (a count, 9 words each), the allocations (a count, 5 words
 *   each), the pending strays (a count, 7 words each), the per-address states (a count,
 *   KEY_WORDS each), and per cause its worst addresses (a count, then address and weight |
 *   device << 48).
 * Bucket heads are rebuilt from the entries in order of their sequence numbers.
 */
#define TOT_WORDS 9
#define REL_WORDS 9
#define AL_WORDS  5
#define ST_WORDS  7
#define KEY_WORDS 20

static void put(ttm_bw *w, uint64_t v)
{
    ttm__bw_u64(w, v);
}

static uint64_t pack32x2(uint32_t a, uint32_t b)
{
    return (uint64_t)a | (uint64_t)b << 32;
}

static uint64_t dbits(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

static double bitsd(uint64_t u)
{
    double v;
    memcpy(&v, &u, sizeof v);
    return v;
}

static bool rel_kept(const ttm__causes *c, const cz_rel *r)
{
    return r->seq >= c->rel_closed || r->clock + DR_WINDOW >= c->clock;
}

void ttm__causes_save(const ttm__causes *c, ttm_bw *w)
{
    put(w, c->clock);
    put(w, c->max_span);
    put(w, c->dropped);
    put(w, c->rel_next);
    put(w, c->rel_closed);
    put(w, c->al_next);
    put(w, c->st_next);
    put(w, c->st_fin);
    put(w, c->ndevices);
    for (unsigned d = 0; d < 65536; d++)
        if (c->devmap[d >> 3] & (1u << (d & 7)))
            put(w, d);
    const cz_acc *a = &c->acc;
    for (unsigned i = 0; i < TTM_CAUSE__COUNT; i++) {
        const cz_tot *t = &a->tot[i];
        put(w, t->frees);
        put(w, t->allocs);
        put(w, t->ambiguous);
        put(w, t->groups);
        put(w, t->first_ts);
        put(w, t->last_ts);
        put(w, pack32x2(t->pids[0], t->pids[1]));
        put(w, pack32x2(t->pids[2], t->pids[3]));
        put(w, (uint64_t)t->npids | (uint64_t)t->more_pids << 8);
    }
    put(w, a->attributed);
    uint64_t nh = 0;
    for (unsigned i = 0; i <= HIST_MAX; i++)
        nh += (a->hist_dev[i] != 0) + (a->hist_frees[i] != 0);
    put(w, nh);
    for (unsigned i = 0; i <= HIST_MAX; i++) {
        if (a->hist_dev[i] != 0) {
            put(w, i);
            put(w, a->hist_dev[i]);
        }
        if (a->hist_frees[i] != 0) {
            put(w, i | 1u << 16);
            put(w, a->hist_frees[i]);
        }
    }
    /* each ring's entries still in reach, after their count (patched once known) */
    size_t at = w->b->len;
    uint64_t n = 0;
    put(w, 0);
    for (uint64_t q = c->rel_next > RING ? c->rel_next - RING : 1; q < c->rel_next; q++) {
        const cz_rel *r = rel_get(c, q);
        if (r == NULL || !rel_kept(c, r))
            continue;
        n++;
        put(w, r->seq);
        put(w, r->prev);
        put(w, r->clock);
        put(w, r->ts);
        put(w, r->addr);
        put(w, r->cmin);
        put(w, r->cmax);
        put(w, (uint64_t)r->pid | (uint64_t)r->device << 32 | (uint64_t)r->space << 48 |
                   (uint64_t)r->d0_member << 56 | (uint64_t)r->d0_stray << 57);
        put(w, (uint64_t)r->nstrays | (uint64_t)r->noff << 16 | (uint64_t)r->memtype << 32);
    }
    if (w->err == 0)
        ttm__bw_patch(w, at, n, 8);
    at = w->b->len;
    n = 0;
    put(w, 0);
    for (uint64_t q = c->al_next > RING ? c->al_next - RING : 1; q < c->al_next; q++) {
        const cz_alloc *al = al_get(c, q);
        if (al == NULL || !al_kept(c, al))
            continue;
        n++;
        put(w, al->seq);
        put(w, al->prev);
        put(w, al->clock);
        put(w, al->addr);
        put(w, (uint64_t)al->pid | (uint64_t)al->device << 32);
    }
    if (w->err == 0)
        ttm__bw_patch(w, at, n, 8);
    put(w, c->st_next - c->st_fin);
    for (uint64_t q = c->st_fin; q < c->st_next; q++) {
        const cz_stray *s = &c->st[q & (RING - 1)];
        put(w, s->prev);
        put(w, s->clock);
        put(w, s->ts);
        put(w, s->addr);
        put(w, s->rel);
        put(w, (uint64_t)s->pid | (uint64_t)s->device << 32 | (uint64_t)s->memtype << 48 |
                   (uint64_t)s->kind << 56);
        put(w, (uint64_t)s->space | (uint64_t)s->unknown << 8 | (uint64_t)s->dr << 9 |
                   (uint64_t)s->dec << 10 | (uint64_t)s->settled << 11);
    }
    put(w, a->keys.live);
    for (size_t i = 0; a->keys.mask != 0 && i <= a->keys.mask; i++) {
        const cz_key *k = (const cz_key *)a->keys.slots + i;
        if (k->kflags == 0)
            continue;
        put(w, k->addr);
        put(w, (uint64_t)k->device | (uint64_t)k->memtype << 16 | (uint64_t)k->kflags << 24 |
                   (uint64_t)k->npids << 32);
        put(w, pack32x2(k->pids[0], k->pids[1]));
        put(w, pack32x2(k->pids[2], k->pids[3]));
        put(w, k->burst);
        put(w, k->allocs);
        put(w, pack32x2(k->frees[0], k->frees[1]));
        put(w, pack32x2(k->frees[2], k->frees[3]));
        put(w, pack32x2(k->frees[4], k->amb));
        put(w, pack32x2(k->dups[0], k->dups[1]));
        put(w, pack32x2(k->dups[2], k->dups[3]));
        put(w, pack32x2(k->dups[4], k->nm));
        put(w, k->first_ts);
        put(w, k->last_ts);
        put(w, k->nm_first_ts);
        put(w, k->nm_last_ts);
        put(w, k->nm_first_clk);
        put(w, k->nm_last_clk);
        put(w, dbits(k->sq_ns));
        put(w, dbits(k->sq_ev));
    }
    for (unsigned cause = 0; cause < TTM_CAUSE__COUNT; cause++) {
        const cz_top *t = &a->top[cause];
        put(w, t->n);
        for (unsigned i = 0; i < t->n; i++) {
            put(w, t->e[i].addr);
            put(w, t->e[i].weight | (uint64_t)t->e[i].device << 48);
        }
    }
}

/* A count of entries of each words: at most what is left. */
static bool get_count(ttm_br *r, size_t each, uint64_t *n)
{
    *n = ttm__br_u64(r, "the causes are truncated");
    return !r->bad && *n <= ttm__br_left(r) / (8 * each);
}

static uint64_t get(ttm_br *r)
{
    return ttm__br_u64(r, "the causes are truncated");
}

int ttm__causes_load(ttm__causes *c, const uint8_t *p, size_t len, char *msg, size_t msg_len)
{
#define BAD(...)                                                                               \
    do {                                                                                       \
        ttm__set_msg(msg, msg_len, __VA_ARGS__);                                               \
        return TTM_EPROTO;                                                                     \
    } while (0)
    ttm_br rd = ttm__br_over(p, len), *r = &rd;
    c->clock = get(r);
    c->max_span = get(r);
    c->dropped = get(r);
    c->rel_next = get(r);
    c->rel_closed = get(r);
    c->al_next = get(r);
    c->st_next = get(r);
    c->st_fin = get(r);
    uint64_t nd;
    if (r->bad || c->rel_next == 0 || c->rel_closed == 0 || c->rel_closed > c->rel_next ||
        c->rel_next - c->rel_closed > RING || c->al_next == 0 || c->st_fin == 0 ||
        c->st_fin > c->st_next ||
        c->st_next - c->st_fin > RING || c->max_span > W_CAP || !get_count(r, 1, &nd) ||
        nd > 65536)
        BAD("the causes' counters are malformed");
    for (uint64_t i = 0; i < nd; i++) {
        uint64_t d = get(r);
        if (d >= 65536 || (c->devmap[d >> 3] & (1u << (d & 7))))
            BAD("the causes' device %llu is malformed", (unsigned long long)d);
        c->devmap[d >> 3] |= (uint8_t)(1u << (d & 7));
    }
    c->ndevices = nd;
    cz_acc *a = &c->acc;
    for (unsigned i = 0; i < TTM_CAUSE__COUNT; i++) {
        cz_tot *t = &a->tot[i];
        t->frees = get(r);
        t->allocs = get(r);
        t->ambiguous = get(r);
        t->groups = get(r);
        t->first_ts = get(r);
        t->last_ts = get(r);
        uint64_t p01 = get(r), p23 = get(r), np = get(r);
        t->pids[0] = (uint32_t)p01;
        t->pids[1] = (uint32_t)(p01 >> 32);
        t->pids[2] = (uint32_t)p23;
        t->pids[3] = (uint32_t)(p23 >> 32);
        t->npids = (uint8_t)np;
        t->more_pids = (np >> 8) != 0;
        if ((np & 0xff) > TTM_CAUSE_PIDS || (np >> 8) > 1 || t->ambiguous > t->frees)
            BAD("the totals of cause %s are malformed", ttm_cause_name(i));
    }
    a->attributed = get(r);
    uint64_t n;
    if (!get_count(r, 2, &n))
        BAD("the mesh burst sizes are malformed");
    for (uint64_t i = 0; i < n; i++) {
        uint64_t k = get(r), v = get(r);
        unsigned idx = (unsigned)(k & 0xffff);
        if (idx > HIST_MAX || (k >> 16) > 1 || v == 0)
            BAD("a mesh burst size is malformed");
        ((k >> 16) ? a->hist_frees : a->hist_dev)[idx] = v;
    }
    if (!get_count(r, REL_WORDS, &n) || n > RING)
        BAD("the release count is wrong");
    for (uint64_t i = 0; i < n; i++) {
        cz_rel e;
        e.seq = get(r);
        e.prev = get(r);
        e.clock = get(r);
        e.ts = get(r);
        e.addr = get(r);
        e.cmin = get(r);
        e.cmax = get(r);
        uint64_t k = get(r), m = get(r);
        e.pid = (uint32_t)k;
        e.device = (uint16_t)(k >> 32);
        e.space = (uint8_t)(k >> 48);
        e.d0_member = (k >> 56) & 1;
        e.d0_stray = (k >> 57) & 1;
        e.nstrays = (uint16_t)m;
        e.noff = (uint16_t)(m >> 16);
        e.memtype = (uint8_t)(m >> 32);
        if (e.seq == 0 || e.seq >= c->rel_next || e.seq + RING < c->rel_next || e.prev >= e.seq ||
            e.space > SPACE_ANY || (k >> 58) != 0 || (m >> 40) != 0 || e.noff > e.nstrays ||
            !(ttm__memtype_valid(e.memtype) || e.memtype == TTM_MEM_ANY) ||
            e.cmin > e.clock || e.cmax < e.clock || e.clock > c->clock ||
            c->rel[e.seq & (RING - 1)].seq != 0)
            BAD("release %llu of the causes is malformed", (unsigned long long)i);
        c->rel[e.seq & (RING - 1)] = e;
    }
    if (!get_count(r, AL_WORDS, &n) || n > RING)
        BAD("the allocation count is wrong");
    for (uint64_t i = 0; i < n; i++) {
        cz_alloc e;
        e.seq = get(r);
        e.prev = get(r);
        e.clock = get(r);
        e.addr = get(r);
        uint64_t k = get(r);
        e.pid = (uint32_t)k;
        e.device = (uint16_t)(k >> 32);
        if (e.seq == 0 || e.seq >= c->al_next || e.seq + RING < c->al_next || e.prev >= e.seq ||
            (k >> 48) != 0 || e.clock > c->clock || c->al[e.seq & (RING - 1)].seq != 0)
            BAD("allocation %llu of the causes is malformed", (unsigned long long)i);
        c->al[e.seq & (RING - 1)] = e;
    }
    if (!get_count(r, ST_WORDS, &n) || n != c->st_next - c->st_fin)
        BAD("the pending stray count is wrong");
    for (uint64_t q = c->st_fin; q < c->st_next; q++) {
        cz_stray e;
        e.seq = q;
        e.prev = get(r);
        e.clock = get(r);
        e.ts = get(r);
        e.addr = get(r);
        e.rel = get(r);
        uint64_t k = get(r), f = get(r);
        e.pid = (uint32_t)k;
        e.device = (uint16_t)(k >> 32);
        e.memtype = (uint8_t)(k >> 48);
        e.kind = (uint8_t)(k >> 56);
        e.space = (uint8_t)f;
        e.unknown = (f >> 8) & 1;
        e.dr = (f >> 9) & 1;
        e.dec = (f >> 10) & 1;
        e.settled = (f >> 11) & 1;
        if (e.prev >= q || e.rel >= c->rel_next || e.kind > ST_DUP || e.space > SPACE_ANY ||
            (f >> 12) != 0 || !(ttm__memtype_valid(e.memtype) || e.memtype == TTM_MEM_ANY) ||
            e.clock > c->clock)
            BAD("pending stray %llu of the causes is malformed", (unsigned long long)(q - c->st_fin));
        c->st[q & (RING - 1)] = e;
    }
    if (!get_count(r, KEY_WORDS, &n))
        BAD("the address count of the causes is wrong");
    for (uint64_t i = 0; i < n; i++) {
        uint64_t w[KEY_WORDS];
        for (unsigned j = 0; j < KEY_WORDS; j++)
            w[j] = get(r);
        cz_key e = {.addr = w[0]};
        e.device = (uint16_t)w[1];
        e.memtype = (uint8_t)(w[1] >> 16);
        e.kflags = (uint8_t)(w[1] >> 24);
        e.npids = (uint8_t)(w[1] >> 32);
        e.pids[0] = (uint32_t)w[2];
        e.pids[1] = (uint32_t)(w[2] >> 32);
        e.pids[2] = (uint32_t)w[3];
        e.pids[3] = (uint32_t)(w[3] >> 32);
        e.burst = w[4];
        e.allocs = w[5];
        e.frees[0] = (uint32_t)w[6];
        e.frees[1] = (uint32_t)(w[6] >> 32);
        e.frees[2] = (uint32_t)w[7];
        e.frees[3] = (uint32_t)(w[7] >> 32);
        e.frees[4] = (uint32_t)w[8];
        e.amb = (uint32_t)(w[8] >> 32);
        e.dups[0] = (uint32_t)w[9];
        e.dups[1] = (uint32_t)(w[9] >> 32);
        e.dups[2] = (uint32_t)w[10];
        e.dups[3] = (uint32_t)(w[10] >> 32);
        e.dups[4] = (uint32_t)w[11];
        e.nm = (uint32_t)(w[11] >> 32);
        e.first_ts = w[12];
        e.last_ts = w[13];
        e.nm_first_ts = w[14];
        e.nm_last_ts = w[15];
        e.nm_first_clk = w[16];
        e.nm_last_clk = w[17];
        e.sq_ns = bitsd(w[18]);
        e.sq_ev = bitsd(w[19]);
        if (!(e.kflags & KEY_USED) || (e.kflags & ~15u) || e.npids > TTM_CAUSE_PIDS ||
            (w[1] >> 40) != 0 || !(ttm__memtype_valid(e.memtype) || e.memtype == TTM_MEM_ANY) ||
            e.amb > e.frees[TTM_CAUSE_DOUBLE_RELEASE] || !(e.sq_ns >= 0) || !(e.sq_ev >= 0) ||
            e.nm_last_clk < e.nm_first_clk || e.nm_last_ts < e.nm_first_ts)
            BAD("address %llu of the causes is malformed", (unsigned long long)i);
        if (table_key(&a->keys, e.device, e.addr) != NULL)
            BAD("address %llu of the causes appears twice", (unsigned long long)i);
        uint64_t h = key_hash_of(e.device, e.addr);
        cz_key *k = ttm__table_add(&a->keys, &key_type, h);
        if (k == NULL) {
            if (a->keys.live < c->max_keys)
                return TTM_ENOMEM;
            c->dropped++;
            continue;
        }
        c->bk[bucket_of(e.addr)].keyed = 1;
        *k = e;
        for (unsigned cause = 0; cause < TTM_CAUSE__COUNT; cause++)
            a->addrs[cause] += weight(k, cause) != 0;
    }
    for (unsigned cause = 0; cause < TTM_CAUSE__COUNT; cause++) {
        cz_top *t = &a->top[cause];
        uint64_t nt = get(r);
        if (nt > TOP_KEEP)
            BAD("the worst addresses of cause %s are malformed", ttm_cause_name(cause));
        for (t->n = 0; t->n < nt; t->n++) {
            cz_top_e *e = &t->e[t->n];
            e->addr = get(r);
            uint64_t v = get(r);
            e->weight = v & ((1ull << 48) - 1);
            e->device = (uint16_t)(v >> 48);
            if (e->weight == 0 || (t->n > 0 && !top_before(&t->e[t->n - 1], e)))
                BAD("the worst addresses of cause %s are malformed", ttm_cause_name(cause));
        }
    }
    if (r->bad || ttm__br_left(r) != 0)
        BAD("the causes have %zu bytes too many", ttm__br_left(r));
    /* the bucket heads: each ring's entries in order, newest last */
    for (uint64_t q = c->rel_next > RING ? c->rel_next - RING : 1; q < c->rel_next; q++)
        if (rel_get(c, q) != NULL)
            c->bk[bucket_of(rel_get(c, q)->addr)].rel = q;
    for (uint64_t q = c->al_next > RING ? c->al_next - RING : 1; q < c->al_next; q++)
        if (al_get(c, q) != NULL)
            c->bk[bucket_of(al_get(c, q)->addr)].al = q;
    for (uint64_t q = c->st_fin; q < c->st_next; q++)
        c->bk[bucket_of(st_get(c, q)->addr)].st = q;
    return TTM_OK;
#undef BAD
}
