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
 *   totals, devices, processes, live records, history, freed objects (current generation,
 *   then the previous one), offenders, leaks listed, and the caller's annex.
 * Live and peak figures that follow from the live records (live bytes and counts per device,
 * memtype and process, live records per process) are not stored: load recomputes them, so a
 * loaded registry is consistent by construction. */

#define STATE_MAGIC 0x31544154534d5454ull /* "TTMSTAT1" little-endian */
#define STATE_HDR_WORDS 5

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
    size_t guess = 512 + (size_t)reg->st.live * 48 + reg->hist.live * 16 +
                   (reg->freed[0].live + reg->freed[1].live) * 8 + reg->offs.live * 80 +
                   reg->nleaks * 48 + reg->ndevs * 512 + reg->nprocs * 256 + annex_len;
    ttm_bytes buf = {.data = ttm__malloc(guess), .cap = guess};
    if (buf.data == NULL)
        return TTM_ENOMEM;
    ttm_bw w = ttm__bw_over(&buf);
    for (unsigned i = 0; i < STATE_HDR_WORDS; i++)
        ttm__bw_u64(&w, 0); /* filled at the end */
    w_words(&w, (const uint64_t[]){TTM_CLASS__COUNT, TTM_MEMTYPE_COUNT, TTM_SPACE_COUNT}, 3);

    const ttm_totals *t = &reg->t;
    w_words(&w, (const uint64_t[]){t->events, t->allocs, t->frees, t->marks}, 4);
    for (unsigned c = 0; c < TTM_CLASS__COUNT; c++)
        w_words(&w, (const uint64_t[]){t->class_count[c], t->class_bytes[c]}, 2);
    w_words(&w,
            (const uint64_t[]){t->reuse_allocs, t->reuse_size_changes, t->offenders_dropped,
                               t->history_dropped, t->freed_objs_dropped, t->processes_dropped,
                               t->first_ts, t->last_ts},
            8);

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
                                   p->leaked_bytes, p->anomalies, p->ndevices},
                8);
        for (size_t j = 0; j < p->ndevices; j++) {
            ttm__bw_u64(&w, p->devices[j].device);
            for (unsigned m = 0; m < TTM_MEMTYPE_COUNT; m++)
                w_memstat(&w, &p->devices[j].mem[m]);
        }
    }

    /* process by process, each list in its order (then the orphans), so that load rebuilds the
     * lists by appending */
    ttm__bw_u64(&w, reg->st.live);
    wsec sec = w_section(&w, reg->st.live * 6);
    for (size_t k = 0; k <= reg->nprocs; k++) {
        const reclist *l = k < reg->nprocs ? &reg->procs[k]->recs : &reg->st.orphans;
        for (uint32_t i = l->head; i != NIL;) {
            const rec *r = ttm__store_at(&reg->st, i);
            i = r->pnext;
            sec_words(&sec,
                    (const uint64_t[]){r->addr, r->size, r->obj, r->ts,
                                       (uint64_t)r->pid << 32 | r->refs,
                                       (uint64_t)r->device << 16 | (uint64_t)r->memtype << 8 |
                                           (r->rflags & ~(unsigned)(REC_USED | REC_ORPHAN))},
                    6);
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
        const ttm_table *ft = &reg->freed[g == 0 ? reg->freed_cur : reg->freed_cur ^ 1];
        ttm__bw_u64(&w, ft->live);
        sec = w_section(&w, ft->live);
        pos = 0;
        for (const uint64_t *fp; (fp = ttm__table_next(ft, &freed_type, &pos)) != NULL;)
            sec_words(&sec, fp, 1);
        sec_done(&sec);
    }

    ttm__bw_u64(&w, reg->offs.live);
    sec = w_section(&w, reg->offs.live * 8);
    pos = 0;
    for (const offender_slot *s; (s = ttm__table_next(&reg->offs, &off_type, &pos)) != NULL;) {
        const ttm_offender *o = &s->o;
        sec_words(&sec,
                (const uint64_t[]){(uint64_t)o->cls | (uint64_t)o->device << 8 |
                                       (uint64_t)o->memtype << 24 | (uint64_t)o->npids << 32 |
                                       (uint64_t)o->more_pids << 40,
                                   o->addr, o->count, o->bytes, o->first_ts, o->last_ts,
                                   (uint64_t)o->pids[0] | (uint64_t)o->pids[1] << 32,
                                   (uint64_t)o->pids[2] | (uint64_t)o->pids[3] << 32},
                8);
    }

    sec_done(&sec);

    ttm__bw_u64(&w, reg->nleaks);
    sec = w_section(&w, reg->nleaks * 6);
    for (size_t i = 0; i < reg->nleaks; i++) {
        const ttm_leak *l = &reg->leaks[i];
        sec_words(&sec,
                (const uint64_t[]){(uint64_t)l->pid | (uint64_t)l->device << 32 |
                                       (uint64_t)l->memtype << 48,
                                   l->addr, l->size, l->obj, l->alloc_ts, l->exit_ts},
                6);
    }

    sec_done(&sec);

    /* the annex in whole words, its last one zero-padded */
    ttm__bw_u64(&w, annex_len);
    ttm__bw_bytes(&w, annex, annex_len);
    static const uint8_t pad[8];
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

/* The body of ttm_registry_load(): fills reg from r. Returns 0, TTM_EPROTO with msg set, or
 * TTM_ENOMEM. */
static int load_body(ttm_registry *reg, ttm_br *r, const uint8_t **annex, size_t *annex_len,
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

    if (!r_count(r, 6, &n) || n >= NIL - 1)
        BAD("the live record count is wrong");
    for (uint64_t i = 0; i < n; i++) {
        uint64_t w[6];
        r_words(r, w, 6);
        uint64_t addr = w[0], size = w[1], obj = w[2], ts = w[3], pr = w[4], dm = w[5];
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
                                 memtype, addr);
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
        if (cls >= TTM_CLASS__COUNT || !ttm_class_is_anomaly(cls) ||
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
    ttm__reg_leaks_sort(reg);

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
