/*
 * registry_state.c — the registry's persistence codec: ttm_registry_save() and
 * ttm_registry_load() (registry.h), written with the project's one little-endian writer and
 * reader (common/bytes.h). The state's format (below) is versioned by
 * TTM_REGISTRY_STATE_VERSION: a change of its bytes is a new version.
 */
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/bytes.h"
#include "common/util.h"
#include "core/registry_internal.h"

/*
 * The state is a little-endian byte string of 64-bit words (docs/DAEMON.md, "Restart"):
 *   header   magic "TTMSTAT1", version, flags, total length, checksum of every later word
 *   shape    TTM_CLASS__COUNT, TTM_MEMTYPE_COUNT, TTM_SPACE_COUNT (a build with other tables
 *            writes another version)
 *   (v2) the call-site table: its length in bytes, then ttm_stacks_save()'s bytes, zero-padded
 *   to a word (it comes first: everything after refers to its ids);
 *   totals, devices, processes, live records, history, freed objects (current generation,
 *   then the previous one), offenders, leaks listed, (v2) phases, leak groups, breakdown rows,
 *   (v3) the attributor's state (causes.c: ttm__causes_save(), after its length in words),
 *   and the caller's annex. Version 3 adds each offender's addr_dec (bit 48 of its first
 *   word) and the causes; a state of version 1 or 2 loads with empty attribution. Version 2 adds to the entries of version 1: three totals, each
 *   process's current phase, each record's context, each freed generation's release contexts,
 *   each offender's sites (space-saving state included), each leak's context. Version 1 is
 *   still read (no call sites: every context 0).
 * Live and peak figures that follow from the live records (live bytes and counts per device,
 * memtype and process, live records per process) are not stored: load recomputes them, so a
 * loaded registry is consistent by construction. */

#define STATE_MAGIC 0x31544154534d5454ull /* "TTMSTAT1" little-endian */
#define STATE_HDR_WORDS 5
#define SITE_WORDS 5 /* stack | scope << 32, phase | release_stack << 32, count, bytes, err */
#define OFF_WORDS_V1 8
#define OFF_WORDS (OFF_WORDS_V1 + 1 + SITE_WORDS * TTM_SITES_MAX) /* + nsites, sites */
#define BD_WORDS (5 + TTM_CLASS__COUNT)

/* The n words of v, in one reservation of the writer's buffer. */
static void w_words(ttm_bw *w, const uint64_t *v, size_t n)
{
    uint8_t *p = ttm__bw_room(w, n * 8);
    for (size_t i = 0; p != NULL && i < n; i++)
        ttm__put_le64(p + 8 * i, v[i]);
}

/* A section of a known number of words, reserved in the writer at once so that its entries are
 * stored without growing the buffer each; a section written past its size fails the writer. */
typedef struct wsec {
    ttm_bw *w;
    uint8_t *p, *end; /* NULL after a failure */
} wsec;

static wsec w_section(ttm_bw *w, size_t words)
{
    uint8_t *p = ttm__bw_room(w, words * 8);
    return (wsec){w, p, p != NULL ? p + words * 8 : NULL};
}

static inline void sec_words(wsec *s, const uint64_t *v, size_t n)
{
    if (s->p == NULL)
        return;
    if ((size_t)(s->end - s->p) < n * 8) {
        ttm__bw_fail(s->w, TTM_EPROTO); /* the registry's counts disagree with its tables */
        s->p = NULL;
        return;
    }
    for (size_t i = 0; i < n; i++)
        ttm__put_le64(s->p + 8 * i, v[i]);
    s->p += n * 8;
}

/* Checks that the section got exactly its words. */
static void sec_done(const wsec *s)
{
    if (s->p != s->end)
        ttm__bw_fail(s->w, TTM_EPROTO);
}

/* FNV-style over words: any change confined to one word always changes the result. */
uint64_t ttm__registry_state_checksum(const uint8_t *p, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull ^ len;
    for (size_t i = 0; i + 8 <= len; i += 8)
        h = (h ^ ttm__le64(p + i)) * 0x100000001b3ull;
    return ttm__mix64(h);
}

static void w_memstat(ttm_bw *w, const ttm_memstat *m)
{
    w_words(w, (const uint64_t[]){m->peak_bytes, m->peak_ts, m->allocs, m->frees}, 4);
}

int ttm_registry_save(const ttm_registry *reg, const void *annex, size_t annex_len,
                      uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    ttm_stacks_stats ss;
    ttm_stacks_stats_get(reg->stacks, &ss);
    size_t guess = 512 + (size_t)reg->st.live * 56 + reg->hist.live * 16 +
                   (reg->freed[0].live + reg->freed[1].live) * 8 +
                   (reg->freed_ctx[0].live + reg->freed_ctx[1].live) * 16 +
                   reg->offs.live * OFF_WORDS * 8 + reg->nleaks * 64 + reg->nphases * 16 +
                   reg->lgroups.live * 48 + reg->bd.live * BD_WORDS * 8 + reg->ndevs * 512 +
                   reg->nprocs * 256 + (size_t)ss.memory + annex_len;
    ttm_bytes buf = {.data = ttm__malloc(guess), .cap = guess};
    if (buf.data == NULL)
        return TTM_ENOMEM;
    ttm_bw w = ttm__bw_over(&buf);
    for (unsigned i = 0; i < STATE_HDR_WORDS; i++)
        ttm__bw_u64(&w, 0); /* filled at the end */
    w_words(&w, (const uint64_t[]){TTM_CLASS__COUNT, TTM_MEMTYPE_COUNT, TTM_SPACE_COUNT}, 3);

    size_t at = buf.len;
    ttm__bw_u64(&w, 0); /* the call-site table's length, patched below */
    ttm_stacks_save(reg->stacks, &w);
    size_t slen = w.err == 0 ? buf.len - at - 8 : 0;
    static const uint8_t pad[8];
    ttm__bw_bytes(&w, pad, (8 - slen % 8) % 8);
    if (w.err == 0)
        ttm__bw_patch(&w, at, slen, 8);

    const ttm_totals *t = &reg->t;
    w_words(&w, (const uint64_t[]){t->events, t->allocs, t->frees, t->marks}, 4);
    for (unsigned c = 0; c < TTM_CLASS__COUNT; c++)
        w_words(&w, (const uint64_t[]){t->class_count[c], t->class_bytes[c]}, 2);
    w_words(&w,
            (const uint64_t[]){t->reuse_allocs, t->reuse_size_changes, t->offenders_dropped,
                               t->history_dropped, t->freed_objs_dropped, t->processes_dropped,
                               t->first_ts, t->last_ts, t->phases_dropped,
                               t->leak_groups_folded, t->breakdown_folded},
            11);

    ttm__bw_u64(&w, reg->ndevs);
    for (size_t i = 0; i < reg->ndevs; i++) {
        const dev *d = reg->devs[reg->dev_ids[i]];
        w_words(&w, (const uint64_t[]){d->s.device, d->s.arch}, 2);
        unsigned set = 0;
        for (unsigned sp = 0; sp < TTM_SPACE_COUNT; sp++) {
            w_words(&w,
                    (const uint64_t[]){d->s.capacity[sp], d->s.space_peak[sp],
                                       d->s.space_peak_ts[sp]},
                    3);
            set |= d->capacity_set[sp] ? 1u << sp : 0;
        }
        ttm__bw_u64(&w, set);
        for (unsigned m = 0; m < TTM_MEMTYPE_COUNT; m++)
            w_memstat(&w, &d->s.mem[m]);
        for (unsigned c = 0; c < TTM_CLASS__COUNT; c++)
            w_words(&w, (const uint64_t[]){d->s.class_count[c], d->s.class_bytes[c]}, 2);
    }

    ttm__bw_u64(&w, reg->nprocs);
    for (size_t i = 0; i < reg->nprocs; i++) {
        const proc *p = reg->procs[i];
        w_words(&w,
                (const uint64_t[]){p->pid, p->alive, p->first_ts, p->exit_ts, p->leaked_count,
                                   p->leaked_bytes, p->anomalies, p->phase, p->ndevices},
                9);
        for (size_t j = 0; j < p->ndevices; j++) {
            ttm__bw_u64(&w, p->devices[j].device);
            for (unsigned m = 0; m < TTM_MEMTYPE_COUNT; m++)
                w_memstat(&w, &p->devices[j].mem[m]);
        }
    }

    /* process by process, each list in its order (then the orphans), so that load rebuilds the
     * lists by appending */
    ttm__bw_u64(&w, reg->st.live);
    wsec sec = w_section(&w, reg->st.live * 7);
    for (size_t k = 0; k <= reg->nprocs; k++) {
        const reclist *l = k < reg->nprocs ? &reg->procs[k]->recs : &reg->st.orphans;
        for (uint32_t i = l->head; i != NIL;) {
            const rec *r = ttm__store_at(&reg->st, i);
            uint32_t i0 = i;
            i = r->pnext;
            sec_words(&sec,
                    (const uint64_t[]){r->addr, r->size, r->obj, r->ts,
                                       (uint64_t)r->pid << 32 | r->refs,
                                       (uint64_t)r->device << 16 | (uint64_t)r->memtype << 8 |
                                           (r->rflags & ~(unsigned)(REC_USED | REC_ORPHAN)),
                                       ttm__store_ctx(&reg->st, i0)},
                    7);
        }
    }

    sec_done(&sec);

    ttm__bw_u64(&w, reg->hist.live);
    sec = w_section(&w, reg->hist.live * 2);
    size_t pos = 0;
    for (const hist_entry *h; (h = ttm__table_next(&reg->hist, &hist_type, &pos)) != NULL;)
        sec_words(&sec, (const uint64_t[]){h->addr, h->meta}, 2);
    sec_done(&sec);

    for (unsigned g = 0; g < 2; g++) {
        unsigned gi = g == 0 ? reg->freed_cur : reg->freed_cur ^ 1;
        const ttm_table *ft = &reg->freed[gi];
        ttm__bw_u64(&w, ft->live);
        sec = w_section(&w, ft->live);
        pos = 0;
        for (const uint64_t *fp; (fp = ttm__table_next(ft, &freed_type, &pos)) != NULL;)
            sec_words(&sec, fp, 1);
        sec_done(&sec);
        const ttm_table *ct = &reg->freed_ctx[gi];
        ttm__bw_u64(&w, ct->live);
        sec = w_section(&w, ct->live * 2);
        pos = 0;
        for (const freed_ctx_entry *e; (e = ttm__table_next(ct, &freed_ctx_type, &pos)) != NULL;)
            sec_words(&sec, (const uint64_t[]){e->fp, e->ctx}, 2);
        sec_done(&sec);
    }

    ttm__bw_u64(&w, reg->offs.live);
    sec = w_section(&w, reg->offs.live * OFF_WORDS);
    pos = 0;
    for (const offender_slot *s; (s = ttm__table_next(&reg->offs, &off_type, &pos)) != NULL;) {
        const ttm_offender *o = &s->o;
        sec_words(&sec,
                (const uint64_t[]){(uint64_t)o->cls | (uint64_t)o->device << 8 |
                                       (uint64_t)o->memtype << 24 | (uint64_t)o->npids << 32 |
                                       (uint64_t)o->more_pids << 40 |
                                       (uint64_t)o->addr_dec << 48,
                                   o->addr, o->count, o->bytes, o->first_ts, o->last_ts,
                                   (uint64_t)o->pids[0] | (uint64_t)o->pids[1] << 32,
                                   (uint64_t)o->pids[2] | (uint64_t)o->pids[3] << 32, o->nsites},
                9);
        for (unsigned k = 0; k < TTM_SITES_MAX; k++) {
            const ttm_site *si = &o->sites[k];
            sec_words(&sec,
                      (const uint64_t[]){si->stack | (uint64_t)si->scope << 32,
                                         si->phase | (uint64_t)si->release_stack << 32, si->count,
                                         si->bytes, s->site_err[k]},
                      SITE_WORDS);
        }
    }

    sec_done(&sec);

    ttm__bw_u64(&w, reg->nleaks);
    sec = w_section(&w, reg->nleaks * 8);
    for (size_t i = 0; i < reg->nleaks; i++) {
        const ttm_leak *l = &reg->leaks[i];
        sec_words(&sec,
                (const uint64_t[]){(uint64_t)l->pid | (uint64_t)l->device << 32 |
                                       (uint64_t)l->memtype << 48,
                                   l->addr, l->size, l->obj, l->alloc_ts, l->exit_ts,
                                   l->stack | (uint64_t)l->scope << 32, l->phase},
                8);
    }

    sec_done(&sec);

    ttm__bw_u64(&w, reg->nphases);
    sec = w_section(&w, reg->nphases * 2);
    for (size_t i = 0; i < reg->nphases; i++) {
        const ttm_phase *ph = &reg->phases[i];
        sec_words(&sec, (const uint64_t[]){ph->pid | (uint64_t)ph->name << 32, ph->ts}, 2);
    }
    sec_done(&sec);

    /* the leak groups, the group of stack 0 among them when it has any */
    size_t ng = reg->lgroups.live + (reg->lgroup0.count != 0);
    ttm__bw_u64(&w, ng);
    sec = w_section(&w, ng * 6);
    pos = 0;
    for (size_t k = 0; k < ng; k++) {
        const lgroup_slot *ls = k < reg->lgroups.live
                                    ? ttm__table_next(&reg->lgroups, &lgroup_type, &pos)
                                    : NULL;
        const ttm_leak_group *g = ls != NULL ? &ls->g : &reg->lgroup0;
        sec_words(&sec,
                  (const uint64_t[]){g->stack | (uint64_t)g->npids << 32 |
                                         (uint64_t)g->more_pids << 40,
                                     g->count, g->bytes, g->oldest_ts,
                                     (uint64_t)g->pids[0] | (uint64_t)g->pids[1] << 32,
                                     (uint64_t)g->pids[2] | (uint64_t)g->pids[3] << 32},
                  6);
    }
    sec_done(&sec);

    /* the breakdown rows, the folded ones (name 0) among them when used */
    size_t nb = reg->bd.live + reg->bd_fold_used[0] + reg->bd_fold_used[1];
    ttm__bw_u64(&w, nb);
    sec = w_section(&w, nb * BD_WORDS);
    pos = 0;
    unsigned fold = 0;
    for (size_t k = 0; k < nb; k++) {
        const bd_slot *bs = k < reg->bd.live ? ttm__table_next(&reg->bd, &bd_type, &pos) : NULL;
        while (bs == NULL && !reg->bd_fold_used[fold])
            fold++;
        const ttm_breakdown *b = bs != NULL ? &bs->b : &reg->bd_fold[fold++];
        sec_words(&sec,
                  (const uint64_t[]){b->kind | (uint64_t)b->name << 8, b->allocs, b->anomalies,
                                     b->leaked_count, b->leaked_bytes},
                  5);
        sec_words(&sec, b->class_count, TTM_CLASS__COUNT);
    }
    sec_done(&sec);

    /* (v3) the attributor's state, in words, after its length in words (0 without one) */
    at = buf.len;
    ttm__bw_u64(&w, 0);
    if (reg->causes != NULL)
        ttm__causes_save(reg->causes, &w);
    if (w.err == 0)
        ttm__bw_patch(&w, at, (buf.len - at - 8) / 8, 8);

    /* the annex in whole words, its last one zero-padded */
    ttm__bw_u64(&w, annex_len);
    ttm__bw_bytes(&w, annex, annex_len);
    ttm__bw_bytes(&w, pad, (8 - annex_len % 8) % 8);

    if (w.err != 0) {
        ttm__bytes_free(&buf);
        return w.err;
    }
    ttm__bw_patch(&w, 0, STATE_MAGIC, 8);
    ttm__bw_patch(&w, 8, TTM_REGISTRY_STATE_VERSION, 8);
    ttm__bw_patch(&w, 16, 0, 8);
    ttm__bw_patch(&w, 24, buf.len, 8);
    size_t hdr = STATE_HDR_WORDS * 8;
    ttm__bw_patch(&w, 32, ttm__registry_state_checksum(buf.data + hdr, buf.len - hdr), 8);
    *out = buf.data;
    *out_len = buf.len;
    return TTM_OK;
}

/* The next word of the state (0, and the reader bad, past its end). */
static inline uint64_t r64(ttm_br *r)
{
    return ttm__br_u64(r, "the state is truncated");
}

/* The next n words into v (zeros, and the reader bad, past the end): one bounds check for a
 * whole entry. */
static void r_words(ttm_br *r, uint64_t *v, size_t n)
{
    const uint8_t *p = ttm__br_take(r, n * 8, "the state is truncated");
    for (size_t i = 0; i < n; i++)
        v[i] = p != NULL ? ttm__le64(p + 8 * i) : 0;
}

/* A count of entries of words_each words: at most what the rest of the buffer can hold. */
static bool r_count(ttm_br *r, size_t words_each, uint64_t *n)
{
    *n = r64(r);
    return !r->bad && *n <= ttm__br_left(r) / (8 * words_each);
}

static void r_memstat(ttm_br *r, ttm_memstat *m)
{
    m->peak_bytes = r64(r);
    m->peak_ts = r64(r);
    m->allocs = r64(r);
    m->frees = r64(r);
}

/* True for 0 or a stack id reg's table holds. */
static bool stack_ok(const ttm_registry *reg, uint64_t id)
{
    const uint32_t *frames;
    return id == 0 || (id <= UINT32_MAX && ttm_stacks_stack_get(reg->stacks, (uint32_t)id,
                                                                 &frames) != 0);
}

/* True for 0 or a string id reg's table holds. */
static bool string_ok(const ttm_registry *reg, uint64_t id)
{
    size_t len;
    return id == 0 ||
           (id <= UINT32_MAX && ttm_stacks_string_get(reg->stacks, (uint32_t)id, &len) != NULL);
}

/* True for 0 or a context id reg's table holds. */
static bool ctx_ok(const ttm_registry *reg, uint64_t id)
{
    ttm_context c;
    return id == 0 ||
           (id <= UINT32_MAX && ttm_stacks_context_get(reg->stacks, (uint32_t)id, &c));
}

/* The call-site table of a version 2 state: its length, its bytes, their padding. */
static int load_stacks(ttm_registry *reg, ttm_br *r)
{
    uint64_t slen = r64(r);
    if (r->bad || slen > ttm__br_left(r) || (8 - slen % 8) % 8 > ttm__br_left(r) - slen)
        return TTM_EPROTO;
    const uint8_t *p = ttm__br_take(r, (size_t)slen + (8 - slen % 8) % 8, "the call sites");
    if (p == NULL)
        return TTM_EPROTO;
    ttm_br sr = ttm__br_over(p, (size_t)slen);
    int err = ttm_stacks_load(reg->stacks, &sr);
    if (err == TTM_OK && ttm__br_left(&sr) != 0)
        err = TTM_EPROTO;
    return err;
}

/* The phases, leak groups and breakdown rows of a version 2 state. */
static int load_call_sites(ttm_registry *reg, ttm_br *r, char *msg, size_t msg_len)
{
#define BAD(...)                                                                               \
    do {                                                                                       \
        ttm__set_msg(msg, msg_len, __VA_ARGS__);                                               \
        return TTM_EPROTO;                                                                     \
    } while (0)
    uint64_t n;
    if (!r_count(r, 2, &n))
        BAD("the phase count is wrong");
    for (uint64_t i = 0; i < n; i++) {
        uint64_t w[2];
        r_words(r, w, 2);
        if (!string_ok(reg, w[0] >> 32))
            BAD("phase %llu: its name is not in the call-site table", (unsigned long long)i);
        if (!ttm__reg_phase_add(reg, (uint32_t)w[0], (uint32_t)(w[0] >> 32), w[1]))
            return TTM_ENOMEM;
    }

    if (!r_count(r, 6, &n))
        BAD("the leak group count is wrong");
    bool seen0 = false;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t w[6];
        r_words(r, w, 6);
        uint32_t stack = (uint32_t)w[0];
        unsigned npids = (unsigned)(w[0] >> 32) & 0xff, more = (unsigned)(w[0] >> 40);
        if (!stack_ok(reg, stack) || npids > TTM_PROC_MAX_PIDS || more > 1 || w[1] == 0)
            BAD("leak group %llu is malformed", (unsigned long long)i);
        bool dup = stack == 0 ? seen0 : ttm__table_find(&reg->lgroups, &lgroup_type,
                                                       ttm__mix64(stack), &stack) != NULL;
        if (dup)
            BAD("leak group %llu appears twice", (unsigned long long)i);
        seen0 |= stack == 0;
        /* room refused for want of memory is an error here, not a fold */
        if (stack != 0 && reg->lgroups.live < reg->lgroups.max &&
            !ttm__table_reserve(&reg->lgroups))
            return TTM_ENOMEM;
        ttm_leak_group *g = ttm__reg_lgroup(reg, stack);
        ttm_leak_group in;
        memset(&in, 0, sizeof in); /* padding included: groups are compared whole */
        in.stack = g->stack;
        in.count = w[1];
        in.bytes = w[2];
        in.oldest_ts = w[3];
        in.pids[0] = (uint32_t)w[4];
        in.pids[1] = (uint32_t)(w[4] >> 32);
        in.pids[2] = (uint32_t)w[5];
        in.pids[3] = (uint32_t)(w[5] >> 32);
        in.npids = (uint8_t)npids;
        in.more_pids = more != 0;
        if (g->count == 0) {
            *g = in;
            continue;
        }
        /* a group the loader's bound folds into the group of stack 0 */
        g->count = sat_add(g->count, in.count);
        g->bytes = sat_add(g->bytes, in.bytes);
        if (in.oldest_ts < g->oldest_ts)
            g->oldest_ts = in.oldest_ts;
        for (unsigned j = 0; j < in.npids; j++) {
            bool seen = false;
            for (unsigned q = 0; q < g->npids; q++)
                seen |= g->pids[q] == in.pids[j];
            if (seen)
                continue;
            if (g->npids < TTM_PROC_MAX_PIDS)
                g->pids[g->npids++] = in.pids[j];
            else
                g->more_pids = true;
        }
        g->more_pids |= in.more_pids;
    }

    if (!r_count(r, BD_WORDS, &n))
        BAD("the breakdown row count is wrong");
    bool seen_fold[2] = {false, false};
    for (uint64_t i = 0; i < n; i++) {
        uint64_t w[BD_WORDS];
        r_words(r, w, BD_WORDS);
        unsigned kind = (unsigned)w[0] & 0xff;
        uint64_t name = w[0] >> 8;
        if ((kind != TTM_BREAKDOWN_PHASE && kind != TTM_BREAKDOWN_SCOPE) || !string_ok(reg, name))
            BAD("breakdown row %llu is malformed", (unsigned long long)i);
        ttm_breakdown key = {.kind = (uint8_t)kind, .name = (uint32_t)name};
        unsigned k = kind == TTM_BREAKDOWN_PHASE ? 0 : 1;
        bool dup = name == 0 ? seen_fold[k]
                             : ttm__table_find(&reg->bd, &bd_type, bd_hash_of(kind, key.name),
                                               &key) != NULL;
        if (dup)
            BAD("breakdown row %llu appears twice", (unsigned long long)i);
        seen_fold[k] |= name == 0;
        if (name != 0 && reg->bd.live < reg->bd.max && !ttm__table_reserve(&reg->bd))
            return TTM_ENOMEM;
        bool folded;
        ttm_breakdown *b = ttm__reg_bd_row(reg, kind, (uint32_t)name, &folded);
        reg->t.breakdown_folded += folded;
        /* added, not set: a row the loader's bound folds joins the row of name 0 */
        b->allocs = sat_add(b->allocs, w[1]);
        b->anomalies = sat_add(b->anomalies, w[2]);
        b->leaked_count = sat_add(b->leaked_count, w[3]);
        b->leaked_bytes = sat_add(b->leaked_bytes, w[4]);
        for (unsigned c = 0; c < TTM_CLASS__COUNT; c++)
            b->class_count[c] = sat_add(b->class_count[c], w[5 + c]);
    }
    return TTM_OK;
#undef BAD
}

/* The body of ttm_registry_load(): fills reg from r. Returns 0, TTM_EPROTO with msg set, or
 * TTM_ENOMEM. */
static int load_body(ttm_registry *reg, ttm_br *r, unsigned version, const uint8_t **annex,
                     size_t *annex_len, char *msg, size_t msg_len)
{
#define BAD(...)                                                                               \
    do {                                                                                       \
        ttm__set_msg(msg, msg_len, __VA_ARGS__);                                               \
        return TTM_EPROTO;                                                                     \
    } while (0)
    bool v2 = version >= 2;
    if (v2) {
        int err = load_stacks(reg, r);
        if (err == TTM_ENOMEM)
            return err;
        if (err != TTM_OK)
            BAD("the call-site table is malformed");
        ttm_stacks_stats ss;
        ttm_stacks_stats_get(reg->stacks, &ss);
        reg->sites_on = ss.contexts != 0;
    }
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
    if (v2) {
        t->phases_dropped = r64(r);
        t->leak_groups_folded = r64(r);
        t->breakdown_folded = r64(r);
    }

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
        dev *d = ttm__reg_dev(reg, (uint16_t)id);
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
        if (ttm__reg_proc_find(reg, (uint32_t)pid) != NULL)
            BAD("process %llu appears twice", (unsigned long long)pid);
        uint64_t first_ts = r64(r);
        size_t before = reg->nprocs;
        proc *p = ttm__reg_proc(reg, (uint32_t)pid, first_ts);
        if (p == NULL && reg->nprocs == before && before < reg->cfg.max_processes)
            return TTM_ENOMEM;
        proc scratch = {0}; /* a process the table has no room for: read, then dropped */
        proc *q = p != NULL ? p : &scratch;
        q->alive = alive != 0;
        q->exit_ts = r64(r);
        q->leaked_count = r64(r);
        q->leaked_bytes = r64(r);
        q->anomalies = r64(r);
        uint64_t phase = v2 ? r64(r) : 0;
        if (!string_ok(reg, phase))
            BAD("process %llu: phase %llu is not a name", (unsigned long long)pid,
                (unsigned long long)phase);
        q->phase = (uint32_t)phase;
        reg->sites_on |= phase != 0;
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
            if (ttm__reg_proc_mem(p, (uint16_t)id, 0) == NULL)
                return TTM_ENOMEM;
            memcpy(p->devices[p->ndevices - 1].mem, ms, sizeof ms);
        }
    }

    const size_t rec_words = v2 ? 7 : 6;
    if (!r_count(r, rec_words, &n) || n >= NIL - 1)
        BAD("the live record count is wrong");
    for (uint64_t i = 0; i < n; i++) {
        uint64_t w[7] = {0};
        r_words(r, w, rec_words);
        uint64_t addr = w[0], size = w[1], obj = w[2], ts = w[3], pr = w[4], dm = w[5];
        if (!ctx_ok(reg, w[6]))
            BAD("live record %llu: context %llu is not in the call-site table",
                (unsigned long long)i, (unsigned long long)w[6]);
        uint32_t pid = (uint32_t)(pr >> 32), refs = (uint32_t)pr;
        uint64_t device = dm >> 16;
        unsigned memtype = (unsigned)(dm >> 8) & 0xff, rflags = (unsigned)dm & 0xff;
        if (device >= MAX_DEVICES || reg->devs[device] == NULL || !ttm__memtype_valid(memtype) ||
            refs == 0 || (rflags & ~(unsigned)(REC_VIEW | REC_ATTACHED | REC_OWNER_RELEASED)))
            BAD("live record %llu is malformed", (unsigned long long)i);
        proc *p = ttm__reg_proc_find(reg, pid);
        if (p == NULL && t->processes_dropped == 0) /* a record has a process unless the table
                                                     * was full */
            BAD("live record %llu belongs to no process", (unsigned long long)i);
        /* the state lists each process's records in its list's order: appending them rebuilds
         * the lists as they were */
        rec *rc = ttm__store_new(&reg->st, p != NULL ? &p->recs : NULL, pid, (uint16_t)device,
                                 memtype, addr, (uint32_t)w[6]);
        /* a new store: record i of the state is index i */
        if (rc == NULL || ttm__store_ctx(&reg->st, (uint32_t)i) != w[6])
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
            ttm_memstat *pm = ttm__reg_proc_mem(p, (uint16_t)device, memtype);
            if (pm == NULL)
                return TTM_ENOMEM;
            pm->live_bytes = sat_add(pm->live_bytes, size);
            pm->live_count++;
        }
    }

    if (!r_count(r, 2, &n))
        BAD("the history count is wrong");
    for (uint64_t i = 0; i < n; i++) {
        uint64_t w[2];
        r_words(r, w, 2);
        uint64_t addr = w[0], meta = w[1];
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
    for (unsigned g = 0; g < 2; g++) {
        if (!r_count(r, 1, &n))
            BAD("the freed-object count is wrong");
        ttm_table *ft = &reg->freed[g];
        const uint8_t *fps = ttm__br_take(r, (size_t)n * 8, "the state is truncated"); /* fits */
        for (uint64_t i = 0; fps != NULL && i < n; i++) {
            uint64_t fp = ttm__le64(fps + 8 * i);
            if (fp == 0)
                BAD("freed object %llu is malformed", (unsigned long long)i);
            if (ttm__table_find(ft, &freed_type, fp, &fp) != NULL)
                continue;
            uint64_t *slot = ttm__table_add(ft, &freed_type, fp);
            if (slot == NULL) {
                t->freed_objs_dropped++;
                continue;
            }
            *slot = fp;
        }
        if (!v2)
            continue;
        if (!r_count(r, 2, &n))
            BAD("the release context count is wrong");
        for (uint64_t i = 0; i < n; i++) {
            uint64_t w[2];
            r_words(r, w, 2);
            if (w[0] == 0 || w[1] == 0 || !ctx_ok(reg, w[1]))
                BAD("release context %llu is malformed", (unsigned long long)i);
            /* kept only for a freed object the bound kept */
            if (ttm__table_find(ft, &freed_type, w[0], &w[0]) == NULL)
                continue;
            if (!ttm__table_reserve(&reg->freed_ctx[g]))
                return TTM_ENOMEM; /* its bound is the freed set's: never full here */
            ttm__reg_freed_ctx_put(reg, g, w[0], (uint32_t)w[1], false);
        }
    }

    if (!r_count(r, v2 ? OFF_WORDS : OFF_WORDS_V1, &n))
        BAD("the offender count is wrong");
    for (uint64_t i = 0; i < n; i++) {
        uint64_t k = r64(r);
        ttm_offender o;
        memset(&o, 0, sizeof o);
        uint64_t site_err[TTM_SITES_MAX] = {0};
        unsigned cls = (unsigned)k & 0xff, memtype = (unsigned)(k >> 24) & 0xff;
        unsigned npids = (unsigned)(k >> 32) & 0xff, more = (unsigned)(k >> 40) & 0xff;
        unsigned dec = (unsigned)(k >> 48);
        o.device = (uint16_t)(k >> 8);
        o.addr = r64(r);
        o.count = r64(r);
        o.bytes = r64(r);
        o.first_ts = r64(r);
        o.last_ts = r64(r);
        uint64_t p01 = r64(r), p23 = r64(r);
        uint64_t nsites = v2 ? r64(r) : 0;
        if (nsites > TTM_SITES_MAX)
            BAD("offender entry %llu: %llu sites", (unsigned long long)i,
                (unsigned long long)nsites);
        uint64_t in_sites = 0;
        for (unsigned j = 0; v2 && j < TTM_SITES_MAX; j++) {
            uint64_t w[SITE_WORDS];
            r_words(r, w, SITE_WORDS);
            ttm_site *si = &o.sites[j];
            *si = (ttm_site){.stack = (uint32_t)w[0],
                             .scope = (uint32_t)(w[0] >> 32),
                             .phase = (uint32_t)w[1],
                             .release_stack = (uint32_t)(w[1] >> 32),
                             .count = w[2],
                             .bytes = w[3]};
            site_err[j] = w[4];
            bool used = j < nsites;
            if ((!used && (w[0] | w[1] | w[2] | w[3] | w[4]) != 0) ||
                (used && (si->count == 0 || !stack_ok(reg, si->stack) ||
                          !string_ok(reg, si->scope) || !string_ok(reg, si->phase) ||
                          !stack_ok(reg, si->release_stack))))
                BAD("offender entry %llu: site %u is malformed", (unsigned long long)i, j);
            in_sites = sat_add(in_sites, si->count);
        }
        if (in_sites > o.count)
            BAD("offender entry %llu: its sites count more events than it has",
                (unsigned long long)i);
        o.nsites = (uint8_t)nsites;
        if (cls >= TTM_CLASS__COUNT || !ttm_class_is_anomaly(cls) ||
            !(ttm__memtype_valid(memtype) || memtype == TTM_MEM_ANY) ||
            npids > TTM_PROC_MAX_PIDS || more > 1 || dec > (version >= 3 ? 1u : 0u))
            BAD("offender entry %llu is malformed", (unsigned long long)i);
        o.addr_dec = dec != 0;
        o.cls = (ttm_class)cls;
        o.memtype = (uint8_t)memtype;
        o.npids = (uint8_t)npids;
        o.more_pids = more != 0;
        o.pids[0] = (uint32_t)p01;
        o.pids[1] = (uint32_t)(p01 >> 32);
        o.pids[2] = (uint32_t)p23;
        o.pids[3] = (uint32_t)(p23 >> 32);
        uint64_t hash = off_hash_of(cls, o.device, o.addr);
        if (ttm__table_find(&reg->offs, &off_type, hash, &o) != NULL)
            BAD("offender entry %llu appears twice", (unsigned long long)i);
        offender_slot *s = ttm__table_add(&reg->offs, &off_type, hash);
        if (s == NULL) {
            t->offenders_dropped++;
            continue;
        }
        s->used = true;
        s->o = o;
        memcpy(s->site_err, site_err, sizeof site_err);
    }

    if (!r_count(r, v2 ? 8 : 6, &n))
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
        uint64_t ss = v2 ? r64(r) : 0, ph = v2 ? r64(r) : 0;
        l.stack = (uint32_t)ss;
        l.scope = (uint32_t)(ss >> 32);
        l.phase = (uint32_t)ph;
        if ((k >> 56) != 0 || !ttm__memtype_valid(l.memtype) || !stack_ok(reg, l.stack) ||
            !string_ok(reg, l.scope) || !string_ok(reg, ph))
            BAD("leak entry %llu is malformed", (unsigned long long)i);
        if (reg->nleaks >= reg->cfg.max_leaks_listed)
            continue;
        if (reg->leaks == NULL)
            reg->leaks = ttm__calloc(reg->cfg.max_leaks_listed, sizeof *reg->leaks);
        if (reg->leaks == NULL)
            return TTM_ENOMEM;
        reg->leaks[reg->nleaks++] = l;
    }
    ttm__reg_leaks_sort(reg);

    if (v2) {
        int err = load_call_sites(reg, r, msg, msg_len);
        if (err != TTM_OK)
            return err;
    }

    if (version >= 3) {
        uint64_t words;
        if (!r_count(r, 1, &words))
            BAD("the causes' length is wrong");
        const uint8_t *cz = ttm__br_take(r, (size_t)words * 8, "the state is truncated");
        /* a loader without attribution (cfg.no_causes) skips it */
        if (cz != NULL && words != 0 && reg->causes != NULL) {
            int err = ttm__causes_load(reg->causes, cz, (size_t)words * 8, msg, msg_len);
            if (err != TTM_OK)
                return err;
        }
    }

    /* what the counters say must agree with what the entries hold */
    for (unsigned c = 0; c < TTM_CLASS__COUNT; c++) {
        uint64_t sum = 0;
        for (size_t i = 0; i < reg->ndevs; i++)
            sum += reg->devs[reg->dev_ids[i]]->s.class_count[c];
        if (c != TTM_CLASS_INVALID && sum != t->class_count[c])
            BAD("the devices' %s counts do not add up to the total", ttm_class_name(c));
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
    size_t left = ttm__br_left(r);
    if (r->bad || alen > left || (alen + 7) / 8 != left / 8 || left % 8 != 0)
        BAD("the annex length is wrong");
    const uint8_t *a = ttm__br_take(r, left, "the annex");
    *annex = alen ? a : NULL;
    *annex_len = (size_t)alen;
    if (r->bad)
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
    if (version < 1 || version > TTM_REGISTRY_STATE_VERSION) {
        ttm__set_msg(msg, msg_len, "state format version %llu, this build reads versions 1 to %u",
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
    ttm_br r = ttm__br_over(buf, len);
    (void)ttm__br_take(&r, hdr, "the header");
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
    err = load_body(reg, &r, (unsigned)version, annex, annex_len, msg, msg_len);
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
