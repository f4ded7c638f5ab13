/*
 * side_ingest.c — reading a client's side log (common/side.h) into the registry's call-site
 * tables, and the id translation of its events; the contract is in side_ingest.h.
 *
 * Reading: the reader's position `pos` counts bytes of records after the header, as the
 * header's `committed` does. Each call loads `committed` once (acquire), refuses one that lies
 * beyond the log or behind pos (the peer rewound it: the log is broken), then goes record by
 * record: it copies the 8-byte record header out of the mapping, checks that the record and
 * its padding end within what is committed, copies the payload (at most REC_MAX bytes: no
 * known type is longer) into the reader's own buffer, and parses only that copy. So a peer
 * rewriting a record while it is read changes at most what this one copy says, never a
 * length already checked.
 *
 * Translation: a STACK's native entry is looked up in the modules mapped when the record was
 * read (sorted [lo, hi) ranges, binary search): (registry module, pc - bias), or (0, pc) when
 * no module holds it. A Python entry names a PYFRAME read before it. Each frame and the stack
 * are interned in the registry's tables, which deduplicate by content: a log read again from
 * its start (a new daemon reattaching) maps every id to the same registry ids.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/bytes.h"
#include "common/side.h"
#include "daemon/side_ingest.h"

#define REC_HDR 8u
/* The longest payload of a known type: a MODULE with the longest path. */
#define REC_MAX (TTM_SIDE_MODULE_FIXED + TTM_SIDE_PATH_MAX)
_Static_assert(REC_MAX >= 8 + 8 * TTM_SIDE_STACK_MAX, "a STACK fits the record buffer");
_Static_assert(REC_MAX >= 8 + TTM_SIDE_STRING_MAX, "a STRING fits the record buffer");
_Static_assert(TTM_SIDE_STACK_MAX <= TTM_STACKS_DEPTH_MAX, "a side stack fits a core stack");

/* A module mapped now: its runtime range and how its addresses translate. */
typedef struct side_range {
    uint64_t lo, hi, bias;
    uint32_t client; /* the client's module id */
    uint32_t module; /* the registry's */
} side_range;

/* A dense map from client ids (1..max) to registry ids (0: not shipped, or refused). The
 * modules' map also keeps each module's range start (lo), so an UNMAP finds its range by
 * binary search. */
typedef struct id_map {
    uint32_t *ids;
    uint64_t *lo; /* modules only: lo[id], UNMAPPED once its range is gone; else NULL */
    size_t cap;   /* ids[0..cap) (and lo) allocated; ids[0] unused */
    uint32_t max;
    bool with_lo;
} id_map;

#define UNMAPPED UINT64_MAX /* never a range's lo (lo < hi) */

struct ttm_side_in {
    const uint8_t *base; /* the whole log: header, then records */
    size_t map_bytes;
    bool mapped;         /* base is ours to munmap */
    uint64_t limit;      /* bytes records may take: map_bytes - header */
    uint64_t pos;        /* bytes of records read */
    bool broken;
    id_map modules, stacks, strings, pyframes;
    side_range *ranges;  /* ascending by lo, disjoint */
    size_t nranges, ranges_cap;
    uint8_t rec[REC_MAX]; /* the record being parsed, copied out of the mapping */
};

/* The header in the mapping, for its atomic counter only (the rest was checked on a copy). */
static ttm_side_hdr *hdr_of(const ttm_side_in *si)
{
    return (ttm_side_hdr *)(uintptr_t)si->base;
}

_Static_assert(sizeof(ttm_side_counts) % sizeof(uint64_t) == 0, "counters are all u64");

void ttm__side_counts_add(ttm_side_counts *to, const ttm_side_counts *from)
{
    uint64_t *t = (uint64_t *)to;
    const uint64_t *f = (const uint64_t *)from;
    for (size_t i = 0; i < sizeof *to / sizeof(uint64_t); i++) {
        uint64_t r;
        t[i] = __builtin_add_overflow(t[i], f[i], &r) ? UINT64_MAX : r;
    }
}

/* ---- opening --------------------------------------------------------------------------------- */

/* The header checks, on a copy of the header (the peer may rewrite it). */
static int check_hdr(const void *map, size_t map_bytes, char *msg, size_t len)
{
    if (map_bytes < TTM_SIDE_MIN_BYTES || map_bytes > TTM_SIDE_MAX_BYTES) {
        snprintf(msg, len, "side log of %zu bytes: it must have %u to %u", map_bytes,
                 TTM_SIDE_MIN_BYTES, TTM_SIDE_MAX_BYTES);
        return TTM_EPROTO;
    }
    uint8_t h[32];
    memcpy(h, map, sizeof h);
    uint64_t magic = ttm__le64(h), bytes = ttm__le64(h + 16);
    uint32_t version = ttm__le32(h + 8), hdr_size = ttm__le32(h + 12);
    if (magic != TTM_SIDE_MAGIC) {
        snprintf(msg, len, "side log has magic %#llx, not TTMSIDE1", (unsigned long long)magic);
        return TTM_EPROTO;
    }
    if (version != TTM_SIDE_VERSION) {
        snprintf(msg, len, "side log version %u not supported: this daemon reads %u", version,
                 TTM_SIDE_VERSION);
        return TTM_EPROTO;
    }
    if (hdr_size != sizeof(ttm_side_hdr)) {
        snprintf(msg, len, "side log header of %u bytes: it must have %zu", hdr_size,
                 sizeof(ttm_side_hdr));
        return TTM_EPROTO;
    }
    if (bytes != map_bytes) {
        snprintf(msg, len, "side log header says %llu bytes, its memfd has %zu",
                 (unsigned long long)bytes, map_bytes);
        return TTM_EPROTO;
    }
    return TTM_OK;
}

int ttm__side_in_over(ttm_side_in **out, const void *map, size_t map_bytes, char *msg,
                      size_t len)
{
    *out = NULL;
    if ((uintptr_t)map % _Alignof(ttm_side_hdr) != 0) {
        snprintf(msg, len, "side log not aligned to %zu bytes", _Alignof(ttm_side_hdr));
        return TTM_EINVAL;
    }
    int err = check_hdr(map, map_bytes, msg, len);
    if (err != TTM_OK)
        return err;
    ttm_side_in *si = ttm__calloc(1, sizeof *si);
    if (si == NULL) {
        snprintf(msg, len, "out of memory for a side log reader");
        return TTM_ENOMEM;
    }
    si->base = map;
    si->map_bytes = map_bytes;
    si->limit = map_bytes - sizeof(ttm_side_hdr);
    si->modules.max = TTM_SIDE_IN_MAX_MODULES;
    si->modules.with_lo = true;
    si->stacks.max = TTM_SIDE_IN_MAX_STACKS;
    si->strings.max = TTM_SIDE_IN_MAX_STRINGS;
    si->pyframes.max = TTM_SIDE_IN_MAX_PYFRAMES;
    *out = si;
    return TTM_OK;
}

int ttm__side_in_open(ttm_side_in **out, int fd, char *msg, size_t len)
{
    *out = NULL;
    /* A log that can shrink could fault the mapping; one that can grow could claim more than
     * its header says. The client seals both (and F_SEAL_SEAL). */
    int seals = fcntl(fd, F_GET_SEALS);
    if (seals < 0 || (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW)) {
        snprintf(msg, len, "the side log must be a memfd sealed against shrinking and growing "
                           "(F_SEAL_SHRINK | F_SEAL_GROW)");
        return TTM_EPROTO;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(msg, len, "descriptor 3 is not a memfd holding a side log");
        return TTM_EPROTO;
    }
    if (st.st_size < (off_t)TTM_SIDE_MIN_BYTES || st.st_size > (off_t)TTM_SIDE_MAX_BYTES) {
        snprintf(msg, len, "side log of %lld bytes: it must have %u to %u",
                 (long long)st.st_size, TTM_SIDE_MIN_BYTES, TTM_SIDE_MAX_BYTES);
        return TTM_EPROTO;
    }
    size_t bytes = (size_t)st.st_size;
    void *map = mmap(NULL, bytes, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        snprintf(msg, len, "cannot map the side log read-only: %s", strerror(errno));
        return TTM_EPROTO;
    }
    int err = ttm__side_in_over(out, map, bytes, msg, len);
    if (err != TTM_OK) {
        munmap(map, bytes);
        return err;
    }
    (*out)->mapped = true;
    return TTM_OK;
}

void ttm__side_in_close(ttm_side_in *si)
{
    if (si == NULL)
        return;
    if (si->mapped)
        munmap((void *)(uintptr_t)si->base, si->map_bytes);
    ttm__free(si->modules.ids);
    ttm__free(si->modules.lo);
    ttm__free(si->stacks.ids);
    ttm__free(si->strings.ids);
    ttm__free(si->pyframes.ids);
    ttm__free(si->ranges);
    ttm__free(si);
}

/* ---- id maps --------------------------------------------------------------------------------- */

/* The registry id of client id (0: never shipped, beyond the map, or refused). */
static inline uint32_t map_get(const id_map *m, uint64_t id)
{
    return id < m->cap ? m->ids[id] : 0;
}

/* Records client id -> reg. Returns false (counted by the caller) when id is beyond the bound
 * or memory is short. */
static bool map_set(id_map *m, uint32_t id, uint32_t reg)
{
    if (id == 0 || id > m->max)
        return false;
    if (id >= m->cap) {
        size_t cap = m->cap < 256 ? 256 : m->cap * 2;
        while (cap <= id)
            cap *= 2;
        if (cap > (size_t)m->max + 1)
            cap = (size_t)m->max + 1;
        if (m->with_lo) {
            uint64_t *lo = ttm__reallocarray(m->lo, cap, sizeof *lo);
            if (lo == NULL)
                return false;
            m->lo = lo;
        }
        uint32_t *ids = ttm__reallocarray(m->ids, cap, sizeof *ids);
        if (ids == NULL)
            return false; /* lo grew alone: harmless, cap says what both hold */
        memset(ids + m->cap, 0, (cap - m->cap) * sizeof *ids);
        m->ids = ids;
        m->cap = cap;
    }
    m->ids[id] = reg;
    return true;
}

/* Whether a record (its payload valid) may take client id in m: an id 0 or shipped before is
 * bad, one beyond the bound is counted there. */
static bool id_fresh(const id_map *m, uint32_t id, bool valid, ttm_side_counts *c)
{
    if (!valid || id == 0 || map_get(m, id) != 0) {
        c->bad++;
        return false;
    }
    if (id > m->max) {
        c->bound++;
        return false;
    }
    return true;
}

/* Maps client id to reg (0: the registry's tables refused it) and counts the record taken. */
static void id_take(id_map *m, uint32_t id, uint32_t reg, uint64_t *taken, ttm_side_counts *c)
{
    if (reg == 0 || !map_set(m, id, reg)) {
        c->bound++;
        return;
    }
    (*taken)++;
}

/* ---- module ranges --------------------------------------------------------------------------- */

/* The index of the first range whose hi lies above pc (nranges when none). */
static size_t range_find(const ttm_side_in *si, uint64_t pc)
{
    size_t lo = 0, hi = si->nranges;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (si->ranges[mid].hi <= pc)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void range_remove_at(ttm_side_in *si, size_t i)
{
    memmove(&si->ranges[i], &si->ranges[i + 1], (si->nranges - i - 1) * sizeof si->ranges[0]);
    si->nranges--;
}

/* Maps r: a range it overlaps belongs to a module no longer mapped there (its UNMAP went
 * missing, or the peer lies) and is dropped. Returns false when memory is short. */
static bool range_add(ttm_side_in *si, const side_range *r)
{
    size_t i = range_find(si, r->lo);
    while (i < si->nranges && si->ranges[i].lo < r->hi)
        range_remove_at(si, i);
    side_range *ranges = ttm__grow(si->ranges, &si->ranges_cap, si->nranges, sizeof *ranges, 16);
    if (ranges == NULL)
        return false;
    si->ranges = ranges;
    memmove(&ranges[i + 1], &ranges[i], (si->nranges - i) * sizeof ranges[0]);
    ranges[i] = *r;
    si->nranges++;
    return true;
}

/* ---- records --------------------------------------------------------------------------------- */

/* MODULE: u32 id, u32 build_id_len, u64 bias, u64 lo, u64 hi, u8 build_id[32], path. */
static void rec_module(ttm_side_in *si, ttm_stacks *st, const uint8_t *p, size_t n,
                       ttm_side_counts *c)
{
    if (n <= TTM_SIDE_MODULE_FIXED || n > TTM_SIDE_MODULE_FIXED + TTM_SIDE_PATH_MAX) {
        c->bad++;
        return;
    }
    uint32_t id = ttm__le32(p), bid_len = ttm__le32(p + 4);
    side_range r = {.bias = ttm__le64(p + 8), .lo = ttm__le64(p + 16), .hi = ttm__le64(p + 24),
                    .client = id};
    const uint8_t *bid = p + 32;
    const char *path = (const char *)(p + TTM_SIDE_MODULE_FIXED);
    size_t path_len = n - TTM_SIDE_MODULE_FIXED;
    if (!id_fresh(&si->modules, id,
                  bid_len <= TTM_SIDE_BUILD_ID_MAX && r.lo < r.hi &&
                      memchr(path, '\0', path_len) == NULL,
                  c))
        return;
    r.module = ttm_stacks_module(st, bid, bid_len, path, path_len);
    if (r.module == 0 || !map_set(&si->modules, id, r.module)) {
        c->bound++;
        return;
    }
    si->modules.lo[id] = UNMAPPED;
    if (!range_add(si, &r)) {
        c->bound++; /* its id stays (stacks get module 0 for its addresses) */
        return;
    }
    si->modules.lo[id] = r.lo;
    c->modules++;
}

/* UNMAP: u32 id. The module's id stays mapped (stacks read before keep their frames); its
 * range goes. */
static void rec_unmap(ttm_side_in *si, const uint8_t *p, size_t n, ttm_side_counts *c)
{
    if (n != 4) {
        c->bad++;
        return;
    }
    uint32_t id = ttm__le32(p);
    if (map_get(&si->modules, id) != 0 && si->modules.lo[id] != UNMAPPED) {
        size_t i = range_find(si, si->modules.lo[id]);
        if (i < si->nranges && si->ranges[i].client == id) {
            range_remove_at(si, i);
            si->modules.lo[id] = UNMAPPED;
            c->unmaps++;
            return;
        }
        si->modules.lo[id] = UNMAPPED; /* its range went to a module mapped over it */
    }
    c->bad++; /* never mapped, or unmapped twice */
}

/* The frame of one native entry, in the modules mapped now. */
static uint32_t native_frame(const ttm_side_in *si, ttm_stacks *st, uint64_t pc)
{
    ttm_frame f = {.kind = TTM_FRAME_NATIVE, .offset = pc};
    size_t i = range_find(si, pc);
    if (i < si->nranges && si->ranges[i].lo <= pc) {
        f.module = si->ranges[i].module;
        f.offset = pc - si->ranges[i].bias;
    }
    return ttm_stacks_frame(st, &f);
}

/* STACK: u32 id, u32 depth, u64 pcs[depth]. An entry that cannot be translated (a Python
 * frame not shipped, a frame the tables refuse) is left out of the stack, counted. */
static void rec_stack(ttm_side_in *si, ttm_stacks *st, const uint8_t *p, size_t n,
                      ttm_side_counts *c)
{
    if (n < 16) {
        c->bad++;
        return;
    }
    uint32_t id = ttm__le32(p), depth = ttm__le32(p + 4);
    if (!id_fresh(&si->stacks, id,
                  depth > 0 && depth <= TTM_SIDE_STACK_MAX && n == 8 + (size_t)depth * 8, c))
        return;
    uint32_t frames[TTM_SIDE_STACK_MAX];
    size_t nf = 0;
    for (uint32_t k = 0; k < depth; k++) {
        uint64_t pc = ttm__le64(p + 8 + (size_t)k * 8);
        uint32_t f;
        if (pc & TTM_SIDE_PYFRAME_BIT) {
            f = (pc & ~TTM_SIDE_PYFRAME_BIT) >> 32 ? 0 : map_get(&si->pyframes, (uint32_t)pc);
            if (f == 0) {
                c->refs_unknown++;
                continue;
            }
        } else {
            f = native_frame(si, st, pc);
            if (f == 0) {
                c->bound++;
                continue;
            }
        }
        frames[nf++] = f;
    }
    if (nf == 0)
        return; /* nothing left of it (counted above): its id stays unknown */
    id_take(&si->stacks, id, ttm_stacks_stack(st, frames, nf), &c->stacks, c);
}

/* STRING: u32 id, u32 kind, bytes. */
static void rec_string(ttm_side_in *si, ttm_stacks *st, const uint8_t *p, size_t n,
                       ttm_side_counts *c)
{
    if (n <= 8 || n > 8 + TTM_SIDE_STRING_MAX) {
        c->bad++;
        return;
    }
    uint32_t id = ttm__le32(p), kind = ttm__le32(p + 4);
    if (!id_fresh(&si->strings, id, kind >= TTM_SIDE_STR_SCOPE && kind <= TTM_SIDE_STR_PYFUNC,
                  c))
        return;
    id_take(&si->strings, id, ttm_stacks_string(st, (const char *)(p + 8), n - 8),
            &c->strings, c);
}

/* The registry id of a string a PYFRAME names: 0 for 0, counted when never shipped. */
static uint32_t string_ref(const ttm_side_in *si, uint32_t id, ttm_side_counts *c)
{
    uint32_t reg = map_get(&si->strings, id);
    if (id != 0 && reg == 0)
        c->refs_unknown++;
    return reg;
}

/* PYFRAME: u32 id, u32 file, u32 function, u32 line. */
static void rec_pyframe(ttm_side_in *si, ttm_stacks *st, const uint8_t *p, size_t n,
                        ttm_side_counts *c)
{
    if (n != 16) {
        c->bad++;
        return;
    }
    uint32_t id = ttm__le32(p);
    if (!id_fresh(&si->pyframes, id, true, c))
        return;
    ttm_frame f = {.kind = TTM_FRAME_PYTHON,
                   .file = string_ref(si, ttm__le32(p + 4), c),
                   .function = string_ref(si, ttm__le32(p + 8), c),
                   .line = ttm__le32(p + 12)};
    id_take(&si->pyframes, id, ttm_stacks_frame(st, &f), &c->pyframes, c);
}

/* ---- reading --------------------------------------------------------------------------------- */

bool ttm__side_in_pending(const ttm_side_in *si)
{
    if (si == NULL || si->broken)
        return false;
    return atomic_load_explicit(&hdr_of(si)->committed, memory_order_acquire) != si->pos;
}

void ttm__side_in_break(ttm_side_in *si, ttm_side_counts *c)
{
    if (si == NULL || si->broken)
        return;
    si->broken = true;
    c->broken++;
}

/* Breaks the log in a read: one line in msg. */
static int broke(ttm_side_in *si, ttm_side_counts *c, char *msg, size_t len, const char *what,
                 uint64_t a, uint64_t b)
{
    snprintf(msg, len, "side log broken at byte %llu: %s (%llu, %llu); read no more",
             (unsigned long long)si->pos, what, (unsigned long long)a, (unsigned long long)b);
    ttm__side_in_break(si, c);
    return TTM_EPROTO;
}

int ttm__side_in_read(ttm_side_in *si, ttm_stacks *st, size_t budget, ttm_side_counts *c,
                      char *msg, size_t len)
{
    if (si == NULL || si->broken)
        return TTM_OK;
    if (budget == 0)
        budget = TTM_SIDE_IN_BUDGET;
    uint64_t committed = atomic_load_explicit(&hdr_of(si)->committed, memory_order_acquire);
    if (committed > si->limit)
        return broke(si, c, msg, len, "committed lies beyond the log", committed, si->limit);
    if (committed < si->pos)
        return broke(si, c, msg, len, "committed moved back", committed, si->pos);
    const uint8_t *recs = si->base + sizeof(ttm_side_hdr);
    uint64_t start = si->pos;
    while (si->pos < committed) {
        if (si->pos - start >= budget)
            return TTM_EAGAIN;
        uint64_t left = committed - si->pos;
        if (left < REC_HDR)
            return broke(si, c, msg, len, "a record header cut by committed", left, REC_HDR);
        uint8_t h[REC_HDR];
        memcpy(h, recs + si->pos, REC_HDR);
        uint16_t type = ttm__le16(h);
        uint32_t plen = ttm__le32(h + 4);
        uint64_t whole = REC_HDR + (((uint64_t)plen + 7) & ~(uint64_t)7);
        if (whole > left)
            return broke(si, c, msg, len, "a record runs past committed", whole, left);
        const uint8_t *src = recs + si->pos + REC_HDR;
        si->pos += whole;
        c->records++;
        c->bytes += whole;
        if (type < TTM_SIDE_MODULE || type > TTM_SIDE_PYFRAME) {
            c->skipped++;
            continue;
        }
        if (plen > REC_MAX) {
            c->bad++;
            continue;
        }
        memcpy(si->rec, src, plen);
        switch (type) {
        case TTM_SIDE_MODULE:
            rec_module(si, st, si->rec, plen, c);
            break;
        case TTM_SIDE_UNMAP:
            rec_unmap(si, si->rec, plen, c);
            break;
        case TTM_SIDE_STACK:
            rec_stack(si, st, si->rec, plen, c);
            break;
        case TTM_SIDE_STRING:
            rec_string(si, st, si->rec, plen, c);
            break;
        default:
            rec_pyframe(si, st, si->rec, plen, c);
            break;
        }
    }
    return TTM_OK;
}

/* ---- events ---------------------------------------------------------------------------------- */

void ttm__side_in_rewrite(const ttm_side_in *si, ttm_event *ev, size_t n, ttm_side_counts *c)
{
    static const id_map none = {0};
    const id_map *stacks = si != NULL ? &si->stacks : &none;
    const id_map *strings = si != NULL ? &si->strings : &none;
    for (size_t i = 0; i < n; i++) {
        ttm_event *e = &ev[i];
        if ((e->kind != TTM_EV_ALLOC && e->kind != TTM_EV_FREE) || (e->stack | e->scope) == 0)
            continue;
        if (e->stack != 0) {
            e->stack = map_get(stacks, e->stack);
            c->stack_unknown += e->stack == 0;
        }
        if (e->scope != 0) {
            e->scope = map_get(strings, e->scope);
            c->scope_unknown += e->scope == 0;
        }
    }
}
