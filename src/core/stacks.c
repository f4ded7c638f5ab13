/*
 * stacks.c — the core's call-site tables (stacks.h): strings, modules, frames, stacks and
 * contexts interned by content into dense ids.
 *
 * Each kind keeps its records in one growable array indexed by id - 1 (strings and stacks are
 * variable-sized: their bytes and frame ids live in two arenas, the arrays hold where each one
 * starts) and one open-addressing index (core/table.h) whose 8-byte entries are (id, 32-bit
 * hash): a lookup compares the hash first and the content, read from the arrays, only on a hash
 * match. A module's path is interned as a string. The bounds of ttm_stacks_config are the
 * indexes' maxima and the arenas' sizes; an intern refused by a bound or by memory is counted
 * in full, one refused for its input in invalid.
 */
#include "core/stacks.h"

#include <string.h>

#include "common/alloc.h"
#include "core/store.h"
#include "core/table.h"
#include "ttmem/ttmem.h"

#define STACKS_SAVE_VERSION 1u  /* the whole table */
#define STACKS_DELTA_VERSION 2u /* what a table gained since a mark: each part has its first id */

typedef struct module_rec {
    uint32_t path; /* string id, 0 = no path */
    uint8_t build_id_len;
    uint8_t build_id[TTM_STACKS_BUILD_ID_MAX];
} module_rec;

/* Why the last intern returned 0 (what ttm_stacks_load reports). */
enum refusal { REFUSED_NONE, REFUSED_INVALID, REFUSED_BOUND, REFUSED_NOMEM };

struct ttm_stacks {
    ttm_stacks_config cfg; /* with the defaults filled in */

    char *str_bytes; /* every string's bytes, back to back */
    size_t str_bytes_cap;
    uint64_t str_bytes_len;
    uint64_t *str_end; /* string id i: bytes [str_end[i-2] (0 for i = 1), str_end[i-1]) */
    size_t str_cap;
    uint32_t nstr;

    module_rec *mods;
    size_t mod_cap;
    uint32_t nmod;

    ttm_frame *frames;
    size_t frame_cap;
    uint32_t nframe;

    uint32_t *words; /* every stack's frame ids, back to back */
    size_t words_cap;
    uint64_t words_len;
    uint64_t *stk_end; /* as str_end, over words */
    size_t stk_cap;
    uint32_t nstk;

    ttm_context *ctxs;
    size_t ctx_cap;
    uint32_t nctx;

    ttm_table str_index, mod_index, frame_index, stk_index, ctx_index;

    uint64_t full, invalid;
    enum refusal last;
};

/* ---- hashing ------------------------------------------------------------------------------- */

/* A hash of n bytes: 8 at a time through the core's mixer. */
static uint64_t hash_bytes(const void *p, size_t n, uint64_t seed)
{
    const uint8_t *b = p;
    uint64_t h = ttm__mix64(seed ^ n);
    while (n >= 8) {
        h = ttm__mix64(h ^ ttm__le64(b));
        b += 8;
        n -= 8;
    }
    if (n > 0)
        h = ttm__mix64(h ^ ttm__get_le(b, (unsigned)n) ^ ((uint64_t)n << 59));
    return h;
}

/* The 32 bits of a hash an index entry keeps (its id, never 0, marks it present): enough for
 * tables of at most 2^31 slots, which the bounds keep them under. */
static inline uint32_t h32(uint64_t h)
{
    return (uint32_t)(h ^ (h >> 32));
}

/* ---- the index entries: (id, hash) --------------------------------------------------------- */

typedef struct ix_entry {
    uint32_t id; /* 0 = empty slot */
    uint32_t hash;
} ix_entry;

static uint64_t ix_hash(const void *e)
{
    return ((const ix_entry *)e)->hash;
}
static bool ix_empty(const void *e)
{
    return ((const ix_entry *)e)->id == 0;
}

/* A lookup key: the table, the content and its hash. */
typedef struct ix_key {
    const ttm_stacks *s;
    uint32_t hash;
    const void *p; /* strings: the bytes; stacks: the frame ids; modules: the module_rec;
                    * frames: the ttm_frame; contexts: the ttm_context */
    size_t n;      /* strings: bytes; stacks: frames */
} ix_key;

static const char *str_at(const ttm_stacks *s, uint32_t id, size_t *len)
{
    uint64_t start = id > 1 ? s->str_end[id - 2] : 0;
    *len = (size_t)(s->str_end[id - 1] - start);
    return s->str_bytes + start;
}

static const uint32_t *stk_at(const ttm_stacks *s, uint32_t id, size_t *n)
{
    uint64_t start = id > 1 ? s->stk_end[id - 2] : 0;
    *n = (size_t)(s->stk_end[id - 1] - start);
    return s->words + start;
}

static bool str_match(const void *e, const void *key)
{
    const ix_entry *x = e;
    const ix_key *k = key;
    if (x->hash != k->hash)
        return false;
    size_t len;
    const char *b = str_at(k->s, x->id, &len);
    return len == k->n && memcmp(b, k->p, len) == 0;
}

static bool mod_match(const void *e, const void *key)
{
    const ix_entry *x = e;
    const ix_key *k = key;
    if (x->hash != k->hash)
        return false;
    const module_rec *a = &k->s->mods[x->id - 1], *b = k->p;
    return a->path == b->path && a->build_id_len == b->build_id_len &&
           memcmp(a->build_id, b->build_id, a->build_id_len) == 0;
}

static bool frame_eq(const ttm_frame *a, const ttm_frame *b)
{
    return a->kind == b->kind && a->module == b->module && a->offset == b->offset &&
           a->function == b->function && a->file == b->file && a->line == b->line;
}

static bool frame_match(const void *e, const void *key)
{
    const ix_entry *x = e;
    const ix_key *k = key;
    return x->hash == k->hash && frame_eq(&k->s->frames[x->id - 1], k->p);
}

static bool stk_match(const void *e, const void *key)
{
    const ix_entry *x = e;
    const ix_key *k = key;
    if (x->hash != k->hash)
        return false;
    size_t n;
    const uint32_t *w = stk_at(k->s, x->id, &n);
    return n == k->n && memcmp(w, k->p, n * sizeof *w) == 0;
}

static bool ctx_match(const void *e, const void *key)
{
    const ix_entry *x = e;
    const ix_key *k = key;
    const ttm_context *a = &k->s->ctxs[x->id - 1], *b = k->p;
    return x->hash == k->hash && a->stack == b->stack && a->scope == b->scope &&
           a->phase == b->phase;
}

#define IX_TYPE(name, fn)                                                                          \
    static const ttm_table_type name = {                                                           \
        .entry_size = sizeof(ix_entry), .hash = ix_hash, .empty = ix_empty, .match = fn}
IX_TYPE(str_type, str_match);
IX_TYPE(mod_type, mod_match);
IX_TYPE(frame_type, frame_match);
IX_TYPE(stk_type, stk_match);
IX_TYPE(ctx_type, ctx_match);

/* ---- lifecycle ------------------------------------------------------------------------------ */

int ttm_stacks_open(ttm_stacks **out, const ttm_stacks_config *cfg)
{
    *out = NULL;
    ttm_stacks *s = ttm__calloc(1, sizeof *s);
    if (s == NULL)
        return TTM_ENOMEM;
    if (cfg != NULL)
        s->cfg = *cfg;
    ttm_stacks_config *c = &s->cfg;
    c->max_strings = c->max_strings ? c->max_strings : 1u << 20;
    c->string_bytes = c->string_bytes ? c->string_bytes : 64ull << 20;
    c->max_modules = c->max_modules ? c->max_modules : 1u << 16;
    c->max_frames = c->max_frames ? c->max_frames : 4u << 20;
    c->max_stacks = c->max_stacks ? c->max_stacks : 1u << 20;
    c->stack_words = c->stack_words ? c->stack_words : 32ull << 20;
    c->max_contexts = c->max_contexts ? c->max_contexts : 4u << 20;
    ttm__table_init(&s->str_index, &str_type, c->max_strings);
    ttm__table_init(&s->mod_index, &mod_type, c->max_modules);
    ttm__table_init(&s->frame_index, &frame_type, c->max_frames);
    ttm__table_init(&s->stk_index, &stk_type, c->max_stacks);
    ttm__table_init(&s->ctx_index, &ctx_type, c->max_contexts);
    *out = s;
    return TTM_OK;
}

void ttm_stacks_close(ttm_stacks *s)
{
    if (s == NULL)
        return;
    ttm__table_free(&s->str_index);
    ttm__table_free(&s->mod_index);
    ttm__table_free(&s->frame_index);
    ttm__table_free(&s->stk_index);
    ttm__table_free(&s->ctx_index);
    ttm__free(s->str_bytes);
    ttm__free(s->str_end);
    ttm__free(s->mods);
    ttm__free(s->frames);
    ttm__free(s->words);
    ttm__free(s->stk_end);
    ttm__free(s->ctxs);
    ttm__free(s);
}

/* ---- interning ------------------------------------------------------------------------------ */

static uint32_t refuse(ttm_stacks *s, enum refusal why)
{
    s->last = why;
    if (why == REFUSED_INVALID)
        s->invalid++;
    else
        s->full++;
    return 0;
}

/* Room for one more record in an array of *cap holding n: false when memory is short. */
static bool room(void **arr, size_t *cap, size_t n, size_t size)
{
    void *p = ttm__grow(*arr, cap, n, size, 64);
    if (p == NULL)
        return false;
    *arr = p;
    return true;
}

/* Room for n more bytes (or words) in an arena of *cap elements holding len: grows it to at
 * least double, never beyond limit elements. */
static bool arena_room(void **arena, size_t *cap, uint64_t len, uint64_t n, uint64_t limit,
                       size_t size)
{
    if (len + n <= *cap)
        return true;
    uint64_t want = *cap ? (uint64_t)*cap * 2 : 4096;
    if (want < len + n)
        want = len + n;
    if (want > limit)
        want = limit;
    void *p = ttm__reallocarray(*arena, (size_t)want, size);
    if (p == NULL)
        return false;
    *arena = p;
    *cap = (size_t)want;
    return true;
}

/* Takes the slot of a new entry once its record is stored: the table was reserved, so this
 * cannot fail. */
static uint32_t index_new(ttm_table *t, const ttm_table_type *type, uint32_t hash, uint32_t id)
{
    ix_entry *e = ttm__table_add(t, type, hash);
    e->id = id;
    e->hash = hash;
    return id;
}

/* Starts an intern: *id is key's id when t has it (true); else true with *id 0 when a new
 * entry may be added (t has room reserved for it), false when it is refused (counted). */
static bool intern_begin(ttm_stacks *s, ttm_table *t, const ttm_table_type *type, const ix_key *k,
                         uint32_t *id)
{
    const ix_entry *e = ttm__table_find(t, type, k->hash, k);
    *id = e != NULL ? e->id : 0;
    if (e != NULL)
        return true;
    if (t->live >= t->max) {
        refuse(s, REFUSED_BOUND);
        return false;
    }
    if (!ttm__table_reserve(t)) {
        refuse(s, REFUSED_NOMEM);
        return false;
    }
    return true;
}

uint32_t ttm_stacks_string(ttm_stacks *s, const char *bytes, size_t len)
{
    s->last = REFUSED_NONE;
    if (len == 0)
        return 0;
    if (bytes == NULL || len > TTM_STACKS_STRING_MAX)
        return refuse(s, REFUSED_INVALID);
    ix_key k = {.s = s, .hash = h32(hash_bytes(bytes, len, 1)), .p = bytes, .n = len};
    uint32_t id;
    if (!intern_begin(s, &s->str_index, &str_type, &k, &id) || id != 0)
        return id;
    if (s->str_bytes_len + len > s->cfg.string_bytes)
        return refuse(s, REFUSED_BOUND);
    if (!arena_room((void **)&s->str_bytes, &s->str_bytes_cap, s->str_bytes_len, len,
                    s->cfg.string_bytes, 1) ||
        !room((void **)&s->str_end, &s->str_cap, s->nstr, sizeof *s->str_end))
        return refuse(s, REFUSED_NOMEM);
    memcpy(s->str_bytes + s->str_bytes_len, bytes, len);
    s->str_bytes_len += len;
    s->str_end[s->nstr++] = s->str_bytes_len;
    return index_new(&s->str_index, &str_type, k.hash, s->nstr);
}

uint32_t ttm_stacks_module(ttm_stacks *s, const uint8_t *build_id, size_t build_id_len,
                           const char *path, size_t path_len)
{
    s->last = REFUSED_NONE;
    if (build_id_len == 0 && path_len == 0)
        return 0;
    if (build_id_len > TTM_STACKS_BUILD_ID_MAX || (build_id_len > 0 && build_id == NULL))
        return refuse(s, REFUSED_INVALID);
    module_rec m = {.build_id_len = (uint8_t)build_id_len};
    if (build_id_len > 0)
        memcpy(m.build_id, build_id, build_id_len);
    if (path_len > 0) {
        m.path = ttm_stacks_string(s, path, path_len);
        if (m.path == 0)
            return 0; /* counted by the string's intern */
    }
    uint64_t h = hash_bytes(m.build_id, build_id_len, 2);
    ix_key k = {.s = s, .hash = h32(ttm__mix64(h ^ m.path)), .p = &m};
    uint32_t id;
    if (!intern_begin(s, &s->mod_index, &mod_type, &k, &id) || id != 0)
        return id;
    if (!room((void **)&s->mods, &s->mod_cap, s->nmod, sizeof *s->mods))
        return refuse(s, REFUSED_NOMEM);
    s->mods[s->nmod++] = m;
    return index_new(&s->mod_index, &mod_type, k.hash, s->nmod);
}

static bool string_ok(const ttm_stacks *s, uint32_t id)
{
    return id <= s->nstr;
}

/* True when f follows the rules of stacks.h for its kind. */
static bool frame_valid(const ttm_stacks *s, const ttm_frame *f)
{
    switch (f->kind) {
    case TTM_FRAME_NATIVE:
        return f->module <= s->nmod && f->function == 0 && f->file == 0 && f->line == 0;
    case TTM_FRAME_PYTHON:
        return f->module == 0 && f->offset == 0 && string_ok(s, f->function) &&
               string_ok(s, f->file);
    case TTM_FRAME_TEXT:
        return string_ok(s, f->module) && f->offset == 0 && string_ok(s, f->function) &&
               string_ok(s, f->file);
    default:
        return false;
    }
}

uint32_t ttm_stacks_frame(ttm_stacks *s, const ttm_frame *f)
{
    s->last = REFUSED_NONE;
    if (f == NULL || !frame_valid(s, f))
        return refuse(s, REFUSED_INVALID);
    /* A copy with the padding zeroed: only the fields count. */
    ttm_frame c;
    memset(&c, 0, sizeof c);
    c.kind = f->kind;
    c.module = f->module;
    c.offset = f->offset;
    c.function = f->function;
    c.file = f->file;
    c.line = f->line;
    uint64_t h = ttm__mix64(c.offset ^ ((uint64_t)c.kind << 56) ^ ((uint64_t)c.module << 24));
    h = ttm__mix64(h ^ c.function ^ ((uint64_t)c.file << 32));
    h = ttm__mix64(h ^ c.line);
    ix_key k = {.s = s, .hash = h32(h), .p = &c};
    uint32_t id;
    if (!intern_begin(s, &s->frame_index, &frame_type, &k, &id) || id != 0)
        return id;
    if (!room((void **)&s->frames, &s->frame_cap, s->nframe, sizeof *s->frames))
        return refuse(s, REFUSED_NOMEM);
    s->frames[s->nframe++] = c;
    return index_new(&s->frame_index, &frame_type, k.hash, s->nframe);
}

uint32_t ttm_stacks_stack(ttm_stacks *s, const uint32_t *frames, size_t n)
{
    s->last = REFUSED_NONE;
    if (n == 0)
        return 0;
    if (frames == NULL || n > TTM_STACKS_DEPTH_MAX)
        return refuse(s, REFUSED_INVALID);
    for (size_t i = 0; i < n; i++)
        if (frames[i] == 0 || frames[i] > s->nframe)
            return refuse(s, REFUSED_INVALID);
    ix_key k = {
        .s = s, .hash = h32(hash_bytes(frames, n * sizeof *frames, 3)), .p = frames, .n = n};
    uint32_t id;
    if (!intern_begin(s, &s->stk_index, &stk_type, &k, &id) || id != 0)
        return id;
    if (s->words_len + n > s->cfg.stack_words)
        return refuse(s, REFUSED_BOUND);
    if (!arena_room((void **)&s->words, &s->words_cap, s->words_len, n, s->cfg.stack_words,
                    sizeof *s->words) ||
        !room((void **)&s->stk_end, &s->stk_cap, s->nstk, sizeof *s->stk_end))
        return refuse(s, REFUSED_NOMEM);
    memcpy(s->words + s->words_len, frames, n * sizeof *frames);
    s->words_len += n;
    s->stk_end[s->nstk++] = s->words_len;
    return index_new(&s->stk_index, &stk_type, k.hash, s->nstk);
}

uint32_t ttm_stacks_context(ttm_stacks *s, uint32_t stack, uint32_t scope, uint32_t phase)
{
    s->last = REFUSED_NONE;
    if (stack == 0 && scope == 0 && phase == 0)
        return 0;
    if (stack > s->nstk || scope > s->nstr || phase > s->nstr)
        return refuse(s, REFUSED_INVALID);
    ttm_context c = {.stack = stack, .scope = scope, .phase = phase};
    uint64_t h = ttm__mix64(stack ^ ((uint64_t)scope << 32));
    ix_key k = {.s = s, .hash = h32(ttm__mix64(h ^ phase)), .p = &c};
    uint32_t id;
    if (!intern_begin(s, &s->ctx_index, &ctx_type, &k, &id) || id != 0)
        return id;
    if (!room((void **)&s->ctxs, &s->ctx_cap, s->nctx, sizeof *s->ctxs))
        return refuse(s, REFUSED_NOMEM);
    s->ctxs[s->nctx++] = c;
    return index_new(&s->ctx_index, &ctx_type, k.hash, s->nctx);
}

/* ---- lookups -------------------------------------------------------------------------------- */

const char *ttm_stacks_string_get(const ttm_stacks *s, uint32_t id, size_t *len)
{
    *len = 0;
    if (s == NULL || id == 0 || id > s->nstr)
        return NULL;
    return str_at(s, id, len);
}

bool ttm_stacks_module_get(const ttm_stacks *s, uint32_t id, ttm_module_info *out)
{
    memset(out, 0, sizeof *out);
    if (s == NULL || id == 0 || id > s->nmod)
        return false;
    const module_rec *m = &s->mods[id - 1];
    out->build_id = m->build_id;
    out->build_id_len = m->build_id_len;
    out->path = "";
    if (m->path != 0)
        out->path = str_at(s, m->path, &out->path_len);
    return true;
}

const ttm_frame *ttm_stacks_frame_get(const ttm_stacks *s, uint32_t id)
{
    if (s == NULL || id == 0 || id > s->nframe)
        return NULL;
    return &s->frames[id - 1];
}

size_t ttm_stacks_stack_get(const ttm_stacks *s, uint32_t id, const uint32_t **frames)
{
    *frames = NULL;
    if (s == NULL || id == 0 || id > s->nstk)
        return 0;
    size_t n;
    *frames = stk_at(s, id, &n);
    return n;
}

bool ttm_stacks_context_get(const ttm_stacks *s, uint32_t id, ttm_context *out)
{
    memset(out, 0, sizeof *out);
    if (s == NULL || id == 0 || id > s->nctx)
        return false;
    *out = s->ctxs[id - 1];
    return true;
}

/* ---- counters ------------------------------------------------------------------------------- */

static uint64_t index_bytes(const ttm_table *t)
{
    return t->mask ? (t->mask + 1) * sizeof(ix_entry) : 0;
}

void ttm_stacks_stats_get(const ttm_stacks *s, ttm_stacks_stats *out)
{
    memset(out, 0, sizeof *out);
    if (s == NULL)
        return;
    out->strings = s->nstr;
    out->modules = s->nmod;
    out->frames = s->nframe;
    out->stacks = s->nstk;
    out->contexts = s->nctx;
    out->string_bytes = s->str_bytes_len;
    out->stack_words = s->words_len;
    out->full = s->full;
    out->invalid = s->invalid;
    out->memory = sizeof *s + s->str_bytes_cap + s->str_cap * sizeof *s->str_end +
                  s->mod_cap * sizeof *s->mods + s->frame_cap * sizeof *s->frames +
                  s->words_cap * sizeof *s->words + s->stk_cap * sizeof *s->stk_end +
                  s->ctx_cap * sizeof *s->ctxs + index_bytes(&s->str_index) +
                  index_bytes(&s->mod_index) + index_bytes(&s->frame_index) +
                  index_bytes(&s->stk_index) + index_bytes(&s->ctx_index);
}

/* ---- persistence ---------------------------------------------------------------------------- */

/*
 * The layout (little-endian, bytes.h):
 *   u32 version (1)
 *   u32 nstrings,  each: u32 len, len bytes
 *   u32 nmodules,  each: u8 build_id_len, build_id_len bytes, u32 path (string id)
 *   u32 nframes,   each: u8 kind, u32 module, u64 offset, u32 function, u32 file, u32 line
 *   u32 nstacks,   each: u32 n, n u32 frame ids
 *   u32 ncontexts, each: u32 stack, u32 scope, u32 phase
 *   u64 full, u64 invalid
 * Records appear in id order, so that the loader re-interns them and checks that each gets the
 * id of its position (a duplicate or a reference forward is damage).
 */
/* A table's part starts at its first id (a delta says it; a whole save starts at 1). */
static void part_head(ttm_bw *w, bool delta, uint32_t done, uint32_t have)
{
    if (delta)
        ttm__bw_u32(w, done + 1);
    ttm__bw_u32(w, have - done);
}

/* What was interned after from (all of it when from is zero). */
static void save_from(const ttm_stacks *s, const ttm_stacks_mark *from, bool delta, ttm_bw *w)
{
    uint32_t first = from->strings + 1;
    part_head(w, delta, from->strings, s->nstr);
    for (uint32_t id = first; id <= s->nstr; id++) {
        size_t len;
        const char *b = str_at(s, id, &len);
        ttm__bw_u32(w, (uint32_t)len);
        ttm__bw_bytes(w, b, len);
    }
    part_head(w, delta, from->modules, s->nmod);
    for (uint32_t i = from->modules; i < s->nmod; i++) {
        const module_rec *m = &s->mods[i];
        ttm__bw_u8(w, m->build_id_len);
        ttm__bw_bytes(w, m->build_id, m->build_id_len);
        ttm__bw_u32(w, m->path);
    }
    part_head(w, delta, from->frames, s->nframe);
    for (uint32_t i = from->frames; i < s->nframe; i++) {
        const ttm_frame *f = &s->frames[i];
        ttm__bw_u8(w, f->kind);
        ttm__bw_u32(w, f->module);
        ttm__bw_u64(w, f->offset);
        ttm__bw_u32(w, f->function);
        ttm__bw_u32(w, f->file);
        ttm__bw_u32(w, f->line);
    }
    part_head(w, delta, from->stacks, s->nstk);
    for (uint32_t id = from->stacks + 1; id <= s->nstk; id++) {
        size_t n;
        const uint32_t *fr = stk_at(s, id, &n);
        ttm__bw_u32(w, (uint32_t)n);
        for (size_t i = 0; i < n; i++)
            ttm__bw_u32(w, fr[i]);
    }
    part_head(w, delta, from->contexts, s->nctx);
    for (uint32_t i = from->contexts; i < s->nctx; i++) {
        ttm__bw_u32(w, s->ctxs[i].stack);
        ttm__bw_u32(w, s->ctxs[i].scope);
        ttm__bw_u32(w, s->ctxs[i].phase);
    }
    ttm__bw_u64(w, s->full);
    ttm__bw_u64(w, s->invalid);
}

void ttm_stacks_save(const ttm_stacks *s, ttm_bw *w)
{
    static const ttm_stacks_mark none;
    ttm__bw_u32(w, STACKS_SAVE_VERSION);
    save_from(s, &none, false, w);
}

void ttm_stacks_mark_get(const ttm_stacks *s, ttm_stacks_mark *out)
{
    *out = (ttm_stacks_mark){.strings = s->nstr, .modules = s->nmod, .frames = s->nframe,
                             .stacks = s->nstk, .contexts = s->nctx};
}

bool ttm_stacks_grew(const ttm_stacks *s, const ttm_stacks_mark *since)
{
    return s->nstr != since->strings || s->nmod != since->modules ||
           s->nframe != since->frames || s->nstk != since->stacks;
}

void ttm_stacks_save_since(const ttm_stacks *s, ttm_stacks_mark *since, ttm_bw *w)
{
    ttm__bw_u32(w, STACKS_DELTA_VERSION);
    save_from(s, since, true, w);
    ttm_stacks_mark_get(s, since);
}

/* Checks a re-interned record got the id of its position; maps a refusal to the error. */
static int loaded(ttm_stacks *s, ttm_br *r, uint32_t got, uint32_t want, const char *what)
{
    if (r->bad)
        return TTM_EPROTO;
    if (got == want)
        return TTM_OK;
    if (s->last == REFUSED_NOMEM)
        return TTM_ENOMEM;
    ttm__br_fail(r, what);
    return TTM_EPROTO;
}

/* A table's part of a save: its first id (at most one past what s holds: no gap) and count. */
static size_t load_part(ttm_br *r, bool delta, uint32_t have, size_t min_bytes,
                        uint32_t *first, const char *what)
{
    *first = delta ? ttm__br_u32(r, what) : 1;
    size_t n = ttm__br_count(r, min_bytes, what);
    if (!r->bad && (*first == 0 || *first > have + 1 || n > UINT32_MAX - *first))
        ttm__br_fail(r, what);
    return r->bad ? 0 : n;
}

/* Interns every record of a save, in id order: a record s holds already must come back with
 * its id (the content matches), a new one gets the next id. */
static int load_body(ttm_stacks *s, ttm_br *r)
{
    int rc;
    uint32_t first;
    uint32_t version = ttm__br_u32(r, "stacks: version");
    if (version != STACKS_SAVE_VERSION && version != STACKS_DELTA_VERSION) {
        ttm__br_fail(r, "stacks: version");
        return TTM_EPROTO;
    }
    bool delta = version == STACKS_DELTA_VERSION;

    size_t n = load_part(r, delta, s->nstr, 5, &first, "stacks: string count");
    for (size_t i = 0; i < n && !r->bad; i++) {
        uint32_t len = ttm__br_u32(r, "stacks: string length");
        const uint8_t *b = ttm__br_take(r, len, "stacks: string bytes");
        uint32_t id = r->bad ? 0 : ttm_stacks_string(s, (const char *)b, len);
        if ((rc = loaded(s, r, id, first + (uint32_t)i, "stacks: string")) != TTM_OK)
            return rc;
    }

    n = load_part(r, delta, s->nmod, 5, &first, "stacks: module count");
    for (size_t i = 0; i < n && !r->bad; i++) {
        uint8_t bid_len = ttm__br_u8(r, "stacks: build-id length");
        if (bid_len > TTM_STACKS_BUILD_ID_MAX)
            ttm__br_fail(r, "stacks: build-id length");
        const uint8_t *bid = ttm__br_take(r, bid_len, "stacks: build-id");
        uint32_t path = ttm__br_u32(r, "stacks: module path");
        if (!r->bad && path > s->nstr)
            ttm__br_fail(r, "stacks: module path");
        uint32_t id = 0;
        if (!r->bad) {
            size_t plen = 0;
            const char *p = path ? str_at(s, path, &plen) : NULL;
            id = ttm_stacks_module(s, bid, bid_len, p, plen);
        }
        if ((rc = loaded(s, r, id, first + (uint32_t)i, "stacks: module")) != TTM_OK)
            return rc;
    }

    n = load_part(r, delta, s->nframe, 25, &first, "stacks: frame count");
    for (size_t i = 0; i < n && !r->bad; i++) {
        ttm_frame f = {.kind = ttm__br_u8(r, "stacks: frame kind"),
                       .module = ttm__br_u32(r, "stacks: frame module"),
                       .offset = ttm__br_u64(r, "stacks: frame offset"),
                       .function = ttm__br_u32(r, "stacks: frame function"),
                       .file = ttm__br_u32(r, "stacks: frame file"),
                       .line = ttm__br_u32(r, "stacks: frame line")};
        uint32_t id = r->bad ? 0 : ttm_stacks_frame(s, &f);
        if ((rc = loaded(s, r, id, first + (uint32_t)i, "stacks: frame")) != TTM_OK)
            return rc;
    }

    n = load_part(r, delta, s->nstk, 8, &first, "stacks: stack count");
    uint32_t fr[TTM_STACKS_DEPTH_MAX];
    for (size_t i = 0; i < n && !r->bad; i++) {
        uint32_t depth = ttm__br_u32(r, "stacks: stack depth");
        if (!r->bad && (depth == 0 || depth > TTM_STACKS_DEPTH_MAX))
            ttm__br_fail(r, "stacks: stack depth");
        for (uint32_t j = 0; j < depth && !r->bad; j++)
            fr[j] = ttm__br_u32(r, "stacks: stack frame");
        uint32_t id = r->bad ? 0 : ttm_stacks_stack(s, fr, depth);
        if ((rc = loaded(s, r, id, first + (uint32_t)i, "stacks: stack")) != TTM_OK)
            return rc;
    }

    n = load_part(r, delta, s->nctx, 12, &first, "stacks: context count");
    for (size_t i = 0; i < n && !r->bad; i++) {
        uint32_t stack = ttm__br_u32(r, "stacks: context stack");
        uint32_t scope = ttm__br_u32(r, "stacks: context scope");
        uint32_t phase = ttm__br_u32(r, "stacks: context phase");
        uint32_t id = r->bad ? 0 : ttm_stacks_context(s, stack, scope, phase);
        if ((rc = loaded(s, r, id, first + (uint32_t)i, "stacks: context")) != TTM_OK)
            return rc;
    }

    uint64_t full = ttm__br_u64(r, "stacks: full");
    uint64_t invalid = ttm__br_u64(r, "stacks: invalid");
    if (r->bad)
        return TTM_EPROTO;
    s->full = full;
    s->invalid = invalid;
    s->last = REFUSED_NONE;
    return TTM_OK;
}

int ttm_stacks_load(ttm_stacks *s, ttm_br *r)
{
    if (s->nstr || s->nmod || s->nframe || s->nstk || s->nctx) {
        ttm__br_fail(r, "stacks: table not empty");
        return TTM_EINVAL;
    }
    return load_body(s, r);
}

int ttm_stacks_load_more(ttm_stacks *s, ttm_br *r)
{
    return load_body(s, r);
}
