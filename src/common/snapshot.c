/*
 * snapshot.c — the query protocol's codec (snapshot.h): frame headers, QUERY, ERROR and
 * SNAPSHOT payloads, and the blocking client exchange used by the CLI.
 *
 * Encoding writes explicit little-endian fields through a growable buffer; decoding reads them
 * through a bounded reader whose error is sticky, so a decoder checks once at the end of each
 * record instead of after every field. Before allocating an array the decoder checks that the
 * remaining bytes can hold that many elements of the smallest wire size.
 */
#include "common/snapshot.h"

#include "common/util.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/paths.h"
#include "ttmem/ttmem.h"

/* Wire sizes of the fixed records (bytes). */
#define W_MEM 48u                            /* 6 x u64 */
#define W_DAEMON (16u + 4u * 4u + 14u * 8u)  /* version, 4 x u32, 14 x u64 */
#define W_TOTALS_FIXED (13u * 8u + 4u)       /* 13 x u64, nclasses */
#define W_CLASS_PAIR 16u                     /* count, bytes */
#define W_DEVICE_FIXED (8u + 9u * 8u + TTM_MEMTYPE_COUNT * W_MEM)
#define W_PROC_FIXED (4u + 4u + TTM_SNAP_NAME_LEN + 4u + 11u * 8u + 4u)
#define W_PROC_MEM_MIN 4u /* device, mask of the memtypes that follow, pad */
#define W_LIVE 48u
#define W_OFFENDER 64u
#define W_UNMATCHED 64u
#define W_LEAK 48u
#define W_FIND_CLASS_FIXED (3u * 8u + 4u)

/* ---- message and section tables -------------------------------------------------------------- */

typedef struct msg_info {
    unsigned type;
    const char *name;
    uint32_t min_payload, max_payload;
} msg_info;

static const msg_info msg_table[] = {
#define TTM__SNAP_MSG_ROW(name, value, text, minp, maxp) {(value), (text), (minp), (maxp)},
    TTM_SNAP_MSG_MAP(TTM__SNAP_MSG_ROW)
#undef TTM__SNAP_MSG_ROW
};

static const msg_info *msg_lookup(unsigned type)
{
    for (size_t i = 0; i < sizeof msg_table / sizeof msg_table[0]; i++)
        if (msg_table[i].type == type)
            return &msg_table[i];
    return NULL;
}

const char *ttm__snap_msg_name(unsigned type)
{
    const msg_info *m = msg_lookup(type);
    return m ? m->name : "?";
}

const char *ttm__snap_section_name(unsigned sec)
{
    switch (sec) {
#define TTM__SNAP_SEC_CASE(name, value, text)                                                    \
    case (value):                                                                                \
        return (text);
        TTM_SNAP_SECTION_MAP(TTM__SNAP_SEC_CASE)
#undef TTM__SNAP_SEC_CASE
    default:
        return "?";
    }
}


/* ---- writer -------------------------------------------------------------------------------- */

typedef struct writer {
    ttm_snap_buf *b;
    int err;
} writer;

void ttm__snap_buf_free(ttm_snap_buf *b)
{
    if (b == NULL)
        return;
    ttm__free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

static uint8_t *w_room(writer *w, size_t n)
{
    if (w->err != 0)
        return NULL;
    ttm_snap_buf *b = w->b;
    if (n > SIZE_MAX - b->len) {
        w->err = TTM_ENOMEM;
        return NULL;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap = cap > SIZE_MAX / 2 ? b->len + n : cap * 2;
        uint8_t *p = ttm__reallocarray(b->data, cap, 1);
        if (p == NULL) {
            w->err = TTM_ENOMEM;
            return NULL;
        }
        b->data = p;
        b->cap = cap;
    }
    uint8_t *at = b->data + b->len;
    b->len += n;
    return at;
}

static inline void put_le(uint8_t *p, uint64_t v, unsigned n)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(p, &v, n); /* the low n bytes come first */
#else
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
#endif
}

static void w_u8(writer *w, uint8_t v)
{
    uint8_t *p = w_room(w, 1);
    if (p)
        p[0] = v;
}

static void w_u16(writer *w, uint16_t v)
{
    uint8_t *p = w_room(w, 2);
    if (p)
        put_le(p, v, 2);
}

static void w_u32(writer *w, uint32_t v)
{
    uint8_t *p = w_room(w, 4);
    if (p)
        put_le(p, v, 4);
}

static void w_u64(writer *w, uint64_t v)
{
    uint8_t *p = w_room(w, 8);
    if (p)
        put_le(p, v, 8);
}

static void w_bytes(writer *w, const void *src, size_t n)
{
    uint8_t *p = w_room(w, n);
    if (p && n > 0)
        memcpy(p, src, n);
}

/* A fixed-width string field: at most n-1 bytes of s, NUL-padded. */
static void w_str(writer *w, const char *s, size_t n)
{
    uint8_t *p = w_room(w, n);
    if (p == NULL)
        return;
    memset(p, 0, n);
    size_t k = strnlen(s, n - 1);
    memcpy(p, s, k);
}

/* Writes a frame header with a length to be patched; returns its offset. */
static size_t w_frame_begin(writer *w, unsigned type, int32_t status)
{
    size_t at = w->b->len;
    w_u32(w, TTM_SNAP_MAGIC);
    w_u16(w, TTM_SNAP_VERSION);
    w_u16(w, (uint16_t)type);
    w_u32(w, 0);
    w_u32(w, (uint32_t)status);
    return at;
}

static void w_patch_u32(writer *w, size_t at, uint32_t v)
{
    if (w->err == 0)
        put_le(w->b->data + at, v, 4);
}

static void w_frame_end(writer *w, size_t at)
{
    if (w->err != 0)
        return;
    size_t payload = w->b->len - at - TTM_SNAP_HDR_SIZE;
    if (payload > TTM_SNAP_MAX_FRAME) {
        w->err = TTM_ERANGE;
        return;
    }
    w_patch_u32(w, at + 8, (uint32_t)payload);
}

/* ---- reader -------------------------------------------------------------------------------- */

typedef struct reader {
    const uint8_t *p;
    size_t len, pos;
    bool bad;
    const char *what; /* the first field that did not fit or did not check */
} reader;

static void r_fail(reader *r, const char *what)
{
    if (!r->bad) {
        r->bad = true;
        r->what = what;
    }
}

static size_t r_left(const reader *r)
{
    return r->bad ? 0 : r->len - r->pos;
}

static const uint8_t *r_take(reader *r, size_t n, const char *what)
{
    if (r->bad || n > r->len - r->pos) {
        r_fail(r, what);
        return NULL;
    }
    const uint8_t *at = r->p + r->pos;
    r->pos += n;
    return at;
}

static inline uint64_t get_le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(&v, p, n);
#else
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
#endif
    return v;
}

static uint8_t r_u8(reader *r, const char *what)
{
    const uint8_t *p = r_take(r, 1, what);
    return p ? p[0] : 0;
}

static uint16_t r_u16(reader *r, const char *what)
{
    const uint8_t *p = r_take(r, 2, what);
    return p ? (uint16_t)get_le(p, 2) : 0;
}

static uint32_t r_u32(reader *r, const char *what)
{
    const uint8_t *p = r_take(r, 4, what);
    return p ? (uint32_t)get_le(p, 4) : 0;
}

static uint64_t r_u64(reader *r, const char *what)
{
    const uint8_t *p = r_take(r, 8, what);
    return p ? get_le(p, 8) : 0;
}

static bool r_bool(reader *r, const char *what)
{
    uint8_t v = r_u8(r, what);
    if (v > 1)
        r_fail(r, what);
    return v == 1;
}

/* A fixed-width string field into dst (n bytes), always NUL-terminated. */
static void r_str(reader *r, char *dst, size_t n, const char *what)
{
    const uint8_t *p = r_take(r, n, what);
    memset(dst, 0, n);
    if (p == NULL)
        return;
    memcpy(dst, p, n - 1);
}

/* Reads an element count and checks that the rest of the reader can hold that many elements
 * of at least min_size bytes each. */
static size_t r_count(reader *r, size_t min_size, const char *what)
{
    uint32_t n = r_u32(r, what);
    if (r->bad)
        return 0;
    if (min_size > 0 && n > r_left(r) / min_size) {
        r_fail(r, what);
        return 0;
    }
    return n;
}

/* ---- frame header --------------------------------------------------------------------------- */

int ttm__snap_decode_frame(const uint8_t *buf, size_t len, ttm_snap_frame *out, char *msg,
                           size_t msg_len)
{
    ttm__set_msg(msg, msg_len, "%s", "");
    if (buf == NULL || out == NULL || len < TTM_SNAP_HDR_SIZE) {
        ttm__set_msg(msg, msg_len, "query frame header of %zu bytes, expected %u", len,
                TTM_SNAP_HDR_SIZE);
        return TTM_EPROTO;
    }
    uint32_t magic = (uint32_t)get_le(buf, 4);
    out->version = (uint16_t)get_le(buf + 4, 2);
    out->type = (uint16_t)get_le(buf + 6, 2);
    out->length = (uint32_t)get_le(buf + 8, 4);
    out->status = (int32_t)(uint32_t)get_le(buf + 12, 4);
    if (magic != TTM_SNAP_MAGIC) {
        ttm__set_msg(msg, msg_len, "not a ttmem query frame (magic 0x%08x)", magic);
        return TTM_EPROTO;
    }
    const msg_info *m = msg_lookup(out->type);
    if (out->version != TTM_SNAP_VERSION && out->type != TTM_SNAP_MSG_ERROR) {
        ttm__set_msg(msg, msg_len, "query protocol version %u not supported: this side speaks %u",
                (unsigned)out->version, TTM_SNAP_VERSION);
        return TTM_EVERSION;
    }
    if (m == NULL) {
        ttm__set_msg(msg, msg_len, "unknown query message type %u", (unsigned)out->type);
        return TTM_EPROTO;
    }
    if (out->length < m->min_payload || out->length > m->max_payload) {
        ttm__set_msg(msg, msg_len, "%s message with a %u-byte payload (allowed %u to %u)", m->name,
                out->length, m->min_payload, m->max_payload);
        return TTM_EPROTO;
    }
    if (out->type != TTM_SNAP_MSG_ERROR && out->status != 0) {
        ttm__set_msg(msg, msg_len, "%s message with status %d", m->name, (int)out->status);
        return TTM_EPROTO;
    }
    if (out->type == TTM_SNAP_MSG_ERROR && out->status >= 0) {
        ttm__set_msg(msg, msg_len, "error message without an error status (%d)", (int)out->status);
        return TTM_EPROTO;
    }
    return TTM_OK;
}

/* ---- QUERY and ERROR ------------------------------------------------------------------------ */

int ttm__snap_encode_query(const ttm_snap_query *q, ttm_snap_buf *out)
{
    writer w = {.b = out};
    size_t at = w_frame_begin(&w, TTM_SNAP_MSG_QUERY, 0);
    w_u32(&w, q->sections);
    w_u32(&w, q->top);
    w_u32(&w, q->max_leaks);
    w_u32(&w, q->max_live);
    w_frame_end(&w, at);
    return w.err;
}

int ttm__snap_decode_query(const uint8_t *payload, size_t len, ttm_snap_query *out)
{
    reader r = {.p = payload, .len = len};
    out->sections = r_u32(&r, "sections");
    out->top = r_u32(&r, "top");
    out->max_leaks = r_u32(&r, "max_leaks");
    out->max_live = r_u32(&r, "max_live");
    return r.bad || r.pos != len ? TTM_EPROTO : TTM_OK;
}

int ttm__snap_encode_error(int status, const char *msg, ttm_snap_buf *out)
{
    writer w = {.b = out};
    if (msg == NULL)
        msg = "";
    size_t n = strnlen(msg, TTM_SNAP_ERRMSG_MAX);
    size_t at = w_frame_begin(&w, TTM_SNAP_MSG_ERROR, status < 0 ? status : TTM_EPROTO);
    w_u16(&w, (uint16_t)n);
    w_bytes(&w, msg, n);
    w_frame_end(&w, at);
    return w.err;
}

int ttm__snap_decode_error(const uint8_t *payload, size_t len, char *msg, size_t msg_len)
{
    reader r = {.p = payload, .len = len};
    uint16_t n = r_u16(&r, "message length");
    const uint8_t *text = r_take(&r, n, "message");
    if (r.bad || r.pos != len || n > TTM_SNAP_ERRMSG_MAX)
        return TTM_EPROTO;
    if (msg != NULL && msg_len > 0) {
        size_t k = n < msg_len - 1 ? n : msg_len - 1;
        for (size_t i = 0; i < k; i++) /* one line: control bytes become spaces */
            msg[i] = text[i] < 0x20 || text[i] == 0x7f ? ' ' : (char)text[i];
        msg[k] = '\0';
    }
    return TTM_OK;
}

/* ---- SNAPSHOT: encoding --------------------------------------------------------------------- */

static void w_mem(writer *w, const ttm_snap_mem *m)
{
    uint8_t *p = w_room(w, W_MEM); /* one reservation for the six fields */
    if (p == NULL)
        return;
    put_le(p, m->live_bytes, 8);
    put_le(p + 8, m->live_count, 8);
    put_le(p + 16, m->peak_bytes, 8);
    put_le(p + 24, m->peak_ts, 8);
    put_le(p + 32, m->allocs, 8);
    put_le(p + 40, m->frees, 8);
}

static size_t w_section_begin(writer *w, unsigned id)
{
    w_u16(w, (uint16_t)id);
    w_u16(w, 0);
    size_t at = w->b->len;
    w_u32(w, 0);
    return at;
}

static void w_section_end(writer *w, size_t at)
{
    if (w->err == 0)
        w_patch_u32(w, at, (uint32_t)(w->b->len - at - 4));
}

static uint32_t clamp_classes(uint32_t n)
{
    return n > TTM_SNAP_CLASSES_MAX ? TTM_SNAP_CLASSES_MAX : n;
}

static void enc_daemon(writer *w, const ttm_snap_daemon *d)
{
    w_str(w, d->version, sizeof d->version);
    w_u32(w, d->pid);
    w_u32(w, d->max_clients);
    w_u32(w, d->max_live_per_client);
    w_u32(w, d->clients_connected);
    const uint64_t v[] = {d->uptime_ns,      d->now_ns,          d->clients_total,
                          d->clients_rejected, d->clients_refused, d->reattached,
                          d->events,         d->events_rejected, d->prior_events,
                          d->waited,         d->dropped,         d->ring_errors,
                          d->queries,        d->procs_dropped};
    _Static_assert(sizeof v / sizeof v[0] == 14, "W_DAEMON counts 14 u64");
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        w_u64(w, v[i]);
}

static void enc_totals(writer *w, const ttm_snap_totals *t)
{
    const uint64_t v[] = {t->events,          t->allocs,           t->frees,
                          t->marks,           t->live_records,     t->reuse_allocs,
                          t->reuse_size_changes, t->offenders_dropped, t->history_dropped,
                          t->freed_objs_dropped, t->processes_dropped, t->first_ts,
                          t->last_ts};
    _Static_assert(sizeof v / sizeof v[0] == 13, "W_TOTALS_FIXED counts 13 u64");
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        w_u64(w, v[i]);
    uint32_t nc = clamp_classes(t->nclasses);
    w_u32(w, nc);
    for (uint32_t c = 0; c < nc; c++) {
        w_u64(w, t->class_count[c]);
        w_u64(w, t->class_bytes[c]);
    }
}

static void enc_devices(writer *w, const ttm_snapshot *s)
{
    /* Every device carries the same number of classes: the largest, so none is cut. */
    uint32_t nc = 0;
    for (size_t i = 0; i < s->ndevices; i++)
        if (clamp_classes(s->devices[i].nclasses) > nc)
            nc = clamp_classes(s->devices[i].nclasses);
    w_u32(w, (uint32_t)s->ndevices);
    w_u32(w, nc);
    for (size_t i = 0; i < s->ndevices; i++) {
        const ttm_snap_device *d = &s->devices[i];
        w_u16(w, d->device);
        w_u16(w, 0);
        w_u32(w, d->arch);
        for (unsigned k = 0; k < TTM_SPACE_COUNT; k++) {
            w_u64(w, d->capacity[k]);
            w_u64(w, d->space_peak[k]);
            w_u64(w, d->space_peak_ts[k]);
        }
        for (unsigned m = 0; m < TTM_MEMTYPE_COUNT; m++)
            w_mem(w, &d->mem[m]);
        for (uint32_t c = 0; c < nc; c++) {
            bool have = c < clamp_classes(d->nclasses);
            w_u64(w, have ? d->class_count[c] : 0);
            w_u64(w, have ? d->class_bytes[c] : 0);
        }
    }
}

static void enc_procs(writer *w, const ttm_snapshot *s)
{
    w_u32(w, (uint32_t)s->nprocs);
    for (size_t i = 0; i < s->nprocs; i++) {
        const ttm_snap_proc *p = &s->procs[i];
        w_u32(w, p->pid);
        w_u32(w, p->uid);
        w_str(w, p->name, sizeof p->name);
        w_u8(w, p->alive);
        w_u8(w, p->connected);
        w_u8(w, p->reattached);
        w_u8(w, 0);
        const uint64_t v[] = {p->first_ts,     p->exit_ts,      p->live_records, p->leaked_count,
                              p->leaked_bytes, p->anomalies,    p->events,       p->waited,
                              p->dropped,      p->prior_events, p->sessions};
        _Static_assert(sizeof v / sizeof v[0] == 11, "W_PROC_FIXED counts 11 u64");
        for (size_t k = 0; k < sizeof v / sizeof v[0]; k++)
            w_u64(w, v[k]);
        w_u32(w, (uint32_t)p->ndevices);
        for (size_t k = 0; k < p->ndevices; k++) {
            /* sparse: a process touches few memtypes of a device; all-zero ones are left out */
            const ttm_snap_mem *mem = p->devices[k].mem;
            uint8_t mask = 0;
            for (unsigned m = 0; m < TTM_MEMTYPE_COUNT; m++)
                if (memcmp(&mem[m], &(ttm_snap_mem){0}, sizeof mem[m]) != 0)
                    mask |= (uint8_t)(1u << m);
            w_u16(w, p->devices[k].device);
            w_u8(w, mask);
            w_u8(w, 0);
            for (unsigned m = 0; m < TTM_MEMTYPE_COUNT; m++)
                if (mask & (1u << m))
                    w_mem(w, &mem[m]);
        }
    }
}

static void enc_live(writer *w, const ttm_snapshot *s)
{
    w_u64(w, s->live_total);
    w_u32(w, (uint32_t)s->nlive);
    for (size_t i = 0; i < s->nlive; i++) {
        const ttm_snap_live *l = &s->live[i];
        w_u32(w, l->pid);
        w_u16(w, l->device);
        w_u8(w, l->memtype);
        w_u8(w, 0);
        w_u16(w, l->flags);
        w_u16(w, 0);
        w_u32(w, l->refs);
        w_u64(w, l->addr);
        w_u64(w, l->size);
        w_u64(w, l->obj);
        w_u64(w, l->ts);
    }
}

static void w_pids(writer *w, const uint32_t *pids)
{
    for (unsigned k = 0; k < TTM_SNAP_MAX_PIDS; k++)
        w_u32(w, pids[k]);
}

static void enc_findings(writer *w, const ttm_snap_findings *f)
{
    uint64_t pct;
    memcpy(&pct, &f->excess_free_pct, sizeof pct);
    w_u64(w, pct);
    w_u64(w, f->unmatched_frees);
    w_u64(w, f->unmatched_addrs);
    w_u64(w, f->leaked_count);
    w_u64(w, f->leaked_bytes);
    uint32_t nc = clamp_classes(f->nclasses);
    w_u32(w, nc);
    for (uint32_t c = 0; c < nc; c++) {
        const ttm_snap_class *k = &f->classes[c];
        w_u64(w, k->count);
        w_u64(w, k->bytes);
        w_u64(w, k->distinct_addrs);
        w_u32(w, (uint32_t)k->noffenders);
        for (size_t i = 0; i < k->noffenders; i++) {
            const ttm_snap_offender *o = &k->offenders[i];
            w_u8(w, o->cls);
            w_u8(w, o->memtype);
            w_u16(w, o->device);
            w_u8(w, o->npids > TTM_SNAP_MAX_PIDS ? TTM_SNAP_MAX_PIDS : o->npids);
            w_u8(w, o->more_pids);
            w_u16(w, 0);
            w_u64(w, o->addr);
            w_u64(w, o->count);
            w_u64(w, o->bytes);
            w_u64(w, o->first_ts);
            w_u64(w, o->last_ts);
            w_pids(w, o->pids);
        }
    }
    w_u32(w, (uint32_t)f->nunmatched);
    for (size_t i = 0; i < f->nunmatched; i++) {
        const ttm_snap_unmatched *u = &f->unmatched[i];
        w_u16(w, u->device);
        w_u8(w, u->memtype);
        w_u8(w, u->npids > TTM_SNAP_MAX_PIDS ? TTM_SNAP_MAX_PIDS : u->npids);
        w_u8(w, u->more_pids);
        w_u8(w, 0);
        w_u16(w, 0);
        w_u64(w, u->addr);
        w_u64(w, u->excess);
        w_u64(w, u->unknown);
        w_u64(w, u->dbl);
        w_u64(w, u->total);
        w_pids(w, u->pids);
    }
    w_u32(w, (uint32_t)f->nleaks);
    for (size_t i = 0; i < f->nleaks; i++) {
        const ttm_snap_leak *l = &f->leaks[i];
        w_u32(w, l->pid);
        w_u16(w, l->device);
        w_u8(w, l->memtype);
        w_u8(w, 0);
        w_u64(w, l->addr);
        w_u64(w, l->size);
        w_u64(w, l->obj);
        w_u64(w, l->alloc_ts);
        w_u64(w, l->exit_ts);
    }
}

static void enc_legacy(writer *w, const ttm_snap_legacy *l)
{
    w_str(w, l->path, sizeof l->path);
    w_u32(w, l->forced_size);
    w_u32(w, l->connected);
    const uint64_t v[] = {l->connections, l->refused,       l->closed_bad, l->bad,
                          l->resyncs,     l->skipped_bytes, l->truncated,  l->rejected};
    _Static_assert(sizeof v / sizeof v[0] == 8, "dec_legacy reads 8 u64 counters");
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        w_u64(w, v[i]);
    uint32_t n = l->ntypes < TTM_SNAP_LEGACY_TYPES ? l->ntypes : TTM_SNAP_LEGACY_TYPES;
    w_u32(w, n);
    for (uint32_t i = 0; i < n; i++)
        w_u64(w, l->messages[i]);
}

static void enc_service(writer *w, const ttm_snap_service *v)
{
    w_u32(w, v->query_conns);
    w_u32(w, v->query_max_conns);
    const uint64_t c[] = {v->query_out_max, v->query_buffered, v->query_buffered_peak,
                          v->query_refused, v->query_waited,   v->query_cut,
                          v->query_idle,    v->query_evicted};
    _Static_assert(sizeof c / sizeof c[0] == 8, "dec_service reads 8 u64 counters");
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
        w_u64(w, c[i]);
}

int ttm__snap_encode_snapshot(const ttm_snapshot *s, ttm_snap_buf *out)
{
    writer w = {.b = out};
    size_t start = out->len;
    size_t at = w_frame_begin(&w, TTM_SNAP_MSG_SNAPSHOT, 0);
    static const unsigned order[] = {TTM_SNAP_SEC_DAEMON, TTM_SNAP_SEC_TOTALS,
                                     TTM_SNAP_SEC_DEVICES, TTM_SNAP_SEC_PROCS,
                                     TTM_SNAP_SEC_LIVE,   TTM_SNAP_SEC_FINDINGS,
                                     TTM_SNAP_SEC_LEGACY, TTM_SNAP_SEC_SERVICE};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        unsigned id = order[i];
        if (!(s->sections & TTM_SNAP_BIT(id)))
            continue;
        size_t sec = w_section_begin(&w, id);
        switch (id) {
        case TTM_SNAP_SEC_DAEMON:
            enc_daemon(&w, &s->daemon);
            break;
        case TTM_SNAP_SEC_TOTALS:
            enc_totals(&w, &s->totals);
            break;
        case TTM_SNAP_SEC_DEVICES:
            enc_devices(&w, s);
            break;
        case TTM_SNAP_SEC_PROCS:
            enc_procs(&w, s);
            break;
        case TTM_SNAP_SEC_LIVE:
            enc_live(&w, s);
            break;
        case TTM_SNAP_SEC_LEGACY:
            enc_legacy(&w, &s->legacy);
            break;
        case TTM_SNAP_SEC_SERVICE:
            enc_service(&w, &s->service);
            break;
        default:
            enc_findings(&w, &s->findings);
            break;
        }
        w_section_end(&w, sec);
    }
    w_frame_end(&w, at);
    if (w.err != 0)
        out->len = start; /* leave no half frame behind */
    return w.err;
}

/* ---- SNAPSHOT: decoding --------------------------------------------------------------------- */

static void r_mem(reader *r, ttm_snap_mem *m)
{
    const uint8_t *p = r_take(r, W_MEM, "memstat");
    if (p == NULL)
        return;
    m->live_bytes = get_le(p, 8);
    m->live_count = get_le(p + 8, 8);
    m->peak_bytes = get_le(p + 16, 8);
    m->peak_ts = get_le(p + 24, 8);
    m->allocs = get_le(p + 32, 8);
    m->frees = get_le(p + 40, 8);
}

static uint32_t r_nclasses(reader *r, const char *what)
{
    uint32_t nc = r_u32(r, what);
    if (nc > TTM_SNAP_CLASSES_MAX)
        r_fail(r, what);
    return r->bad ? 0 : nc;
}

static int dec_daemon(reader *r, ttm_snap_daemon *d)
{
    r_str(r, d->version, sizeof d->version, "daemon version");
    d->pid = r_u32(r, "daemon pid");
    d->max_clients = r_u32(r, "daemon limits");
    d->max_live_per_client = r_u32(r, "daemon limits");
    d->clients_connected = r_u32(r, "daemon clients");
    uint64_t *v[] = {&d->uptime_ns,      &d->now_ns,          &d->clients_total,
                     &d->clients_rejected, &d->clients_refused, &d->reattached,
                     &d->events,         &d->events_rejected, &d->prior_events,
                     &d->waited,         &d->dropped,         &d->ring_errors,
                     &d->queries,        &d->procs_dropped};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        *v[i] = r_u64(r, "daemon counters");
    return TTM_OK;
}

static int dec_totals(reader *r, ttm_snap_totals *t)
{
    uint64_t *v[] = {&t->events,          &t->allocs,           &t->frees,
                     &t->marks,           &t->live_records,     &t->reuse_allocs,
                     &t->reuse_size_changes, &t->offenders_dropped, &t->history_dropped,
                     &t->freed_objs_dropped, &t->processes_dropped, &t->first_ts,
                     &t->last_ts};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        *v[i] = r_u64(r, "totals");
    t->nclasses = r_nclasses(r, "totals class count");
    for (uint32_t c = 0; c < t->nclasses; c++) {
        t->class_count[c] = r_u64(r, "totals classes");
        t->class_bytes[c] = r_u64(r, "totals classes");
    }
    return TTM_OK;
}

static int dec_devices(reader *r, ttm_snapshot *s)
{
    uint32_t n = r_u32(r, "device count");
    uint32_t nc = r_nclasses(r, "device class count");
    size_t each = W_DEVICE_FIXED + (size_t)nc * W_CLASS_PAIR;
    if (r->bad || n > r_left(r) / each) {
        r_fail(r, "device count");
        return TTM_OK;
    }
    if (n == 0)
        return TTM_OK;
    s->devices = ttm__calloc(n, sizeof *s->devices);
    if (s->devices == NULL)
        return TTM_ENOMEM;
    s->ndevices = n;
    for (uint32_t i = 0; i < n; i++) {
        ttm_snap_device *d = &s->devices[i];
        d->device = r_u16(r, "device id");
        (void)r_u16(r, "device pad");
        d->arch = r_u32(r, "device arch");
        for (unsigned k = 0; k < TTM_SPACE_COUNT; k++) {
            d->capacity[k] = r_u64(r, "device capacity");
            d->space_peak[k] = r_u64(r, "device peak");
            d->space_peak_ts[k] = r_u64(r, "device peak");
        }
        for (unsigned m = 0; m < TTM_MEMTYPE_COUNT; m++)
            r_mem(r, &d->mem[m]);
        d->nclasses = nc;
        for (uint32_t c = 0; c < nc; c++) {
            d->class_count[c] = r_u64(r, "device classes");
            d->class_bytes[c] = r_u64(r, "device classes");
        }
    }
    return TTM_OK;
}

static int dec_procs(reader *r, ttm_snapshot *s)
{
    size_t n = r_count(r, W_PROC_FIXED, "process count");
    if (n == 0)
        return TTM_OK;
    s->procs = ttm__calloc(n, sizeof *s->procs);
    if (s->procs == NULL)
        return TTM_ENOMEM;
    s->nprocs = n;
    for (size_t i = 0; i < n && !r->bad; i++) {
        ttm_snap_proc *p = &s->procs[i];
        p->pid = r_u32(r, "process pid");
        p->uid = r_u32(r, "process uid");
        r_str(r, p->name, sizeof p->name, "process name");
        p->alive = r_bool(r, "process flags");
        p->connected = r_bool(r, "process flags");
        p->reattached = r_bool(r, "process flags");
        (void)r_u8(r, "process pad");
        uint64_t *v[] = {&p->first_ts,     &p->exit_ts,      &p->live_records, &p->leaked_count,
                         &p->leaked_bytes, &p->anomalies,    &p->events,       &p->waited,
                         &p->dropped,      &p->prior_events, &p->sessions};
        for (size_t k = 0; k < sizeof v / sizeof v[0]; k++)
            *v[k] = r_u64(r, "process counters");
        size_t nd = r_count(r, W_PROC_MEM_MIN, "process device count");
        if (nd == 0)
            continue;
        p->devices = ttm__calloc(nd, sizeof *p->devices);
        if (p->devices == NULL)
            return TTM_ENOMEM;
        p->ndevices = nd;
        for (size_t k = 0; k < nd && !r->bad; k++) {
            p->devices[k].device = r_u16(r, "process device");
            uint8_t mask = r_u8(r, "process memtype mask");
            if (r_u8(r, "process device pad") != 0 || mask >= (1u << TTM_MEMTYPE_COUNT))
                r_fail(r, "process memtype mask");
            for (unsigned m = 0; m < TTM_MEMTYPE_COUNT; m++)
                if (mask & (1u << m))
                    r_mem(r, &p->devices[k].mem[m]);
        }
    }
    return TTM_OK;
}

static int dec_live(reader *r, ttm_snapshot *s)
{
    s->live_total = r_u64(r, "live total");
    size_t n = r_count(r, W_LIVE, "live count");
    if (n == 0)
        return TTM_OK;
    s->live = ttm__calloc(n, sizeof *s->live);
    if (s->live == NULL)
        return TTM_ENOMEM;
    s->nlive = n;
    for (size_t i = 0; i < n; i++) {
        ttm_snap_live *l = &s->live[i];
        l->pid = r_u32(r, "live pid");
        l->device = r_u16(r, "live device");
        l->memtype = r_u8(r, "live memtype");
        (void)r_u8(r, "live pad");
        l->flags = r_u16(r, "live flags");
        (void)r_u16(r, "live pad");
        l->refs = r_u32(r, "live refs");
        l->addr = r_u64(r, "live addr");
        l->size = r_u64(r, "live size");
        l->obj = r_u64(r, "live obj");
        l->ts = r_u64(r, "live ts");
    }
    return TTM_OK;
}

static void r_pids(reader *r, uint32_t *pids, uint8_t npids, const char *what)
{
    for (unsigned k = 0; k < TTM_SNAP_MAX_PIDS; k++)
        pids[k] = r_u32(r, what);
    if (npids > TTM_SNAP_MAX_PIDS)
        r_fail(r, what);
}

static int dec_findings(reader *r, ttm_snap_findings *f)
{
    uint64_t pct = r_u64(r, "excess free percentage");
    memcpy(&f->excess_free_pct, &pct, sizeof pct);
    f->unmatched_frees = r_u64(r, "unmatched frees");
    f->unmatched_addrs = r_u64(r, "unmatched addresses");
    f->leaked_count = r_u64(r, "leaked count");
    f->leaked_bytes = r_u64(r, "leaked bytes");
    f->nclasses = r_nclasses(r, "findings class count");
    for (uint32_t c = 0; c < f->nclasses && !r->bad; c++) {
        ttm_snap_class *k = &f->classes[c];
        k->count = r_u64(r, "class count");
        k->bytes = r_u64(r, "class bytes");
        k->distinct_addrs = r_u64(r, "class addresses");
        size_t n = r_count(r, W_OFFENDER, "offender count");
        if (n == 0)
            continue;
        k->offenders = ttm__calloc(n, sizeof *k->offenders);
        if (k->offenders == NULL)
            return TTM_ENOMEM;
        k->noffenders = n;
        for (size_t i = 0; i < n; i++) {
            ttm_snap_offender *o = &k->offenders[i];
            o->cls = r_u8(r, "offender class");
            if (o->cls >= TTM_SNAP_CLASSES_MAX)
                r_fail(r, "offender class");
            o->memtype = r_u8(r, "offender memtype");
            o->device = r_u16(r, "offender device");
            o->npids = r_u8(r, "offender pid count");
            o->more_pids = r_bool(r, "offender flags");
            (void)r_u16(r, "offender pad");
            o->addr = r_u64(r, "offender addr");
            o->count = r_u64(r, "offender count");
            o->bytes = r_u64(r, "offender bytes");
            o->first_ts = r_u64(r, "offender ts");
            o->last_ts = r_u64(r, "offender ts");
            r_pids(r, o->pids, o->npids, "offender pids");
        }
    }
    size_t n = r_count(r, W_UNMATCHED, "unmatched count");
    if (n > 0) {
        f->unmatched = ttm__calloc(n, sizeof *f->unmatched);
        if (f->unmatched == NULL)
            return TTM_ENOMEM;
        f->nunmatched = n;
        for (size_t i = 0; i < n; i++) {
            ttm_snap_unmatched *u = &f->unmatched[i];
            u->device = r_u16(r, "unmatched device");
            u->memtype = r_u8(r, "unmatched memtype");
            u->npids = r_u8(r, "unmatched pid count");
            u->more_pids = r_bool(r, "unmatched flags");
            (void)r_u8(r, "unmatched pad");
            (void)r_u16(r, "unmatched pad");
            u->addr = r_u64(r, "unmatched addr");
            u->excess = r_u64(r, "unmatched counts");
            u->unknown = r_u64(r, "unmatched counts");
            u->dbl = r_u64(r, "unmatched counts");
            u->total = r_u64(r, "unmatched counts");
            r_pids(r, u->pids, u->npids, "unmatched pids");
        }
    }
    n = r_count(r, W_LEAK, "leak count");
    if (n > 0) {
        f->leaks = ttm__calloc(n, sizeof *f->leaks);
        if (f->leaks == NULL)
            return TTM_ENOMEM;
        f->nleaks = n;
        for (size_t i = 0; i < n; i++) {
            ttm_snap_leak *l = &f->leaks[i];
            l->pid = r_u32(r, "leak pid");
            l->device = r_u16(r, "leak device");
            l->memtype = r_u8(r, "leak memtype");
            (void)r_u8(r, "leak pad");
            l->addr = r_u64(r, "leak addr");
            l->size = r_u64(r, "leak size");
            l->obj = r_u64(r, "leak obj");
            l->alloc_ts = r_u64(r, "leak ts");
            l->exit_ts = r_u64(r, "leak ts");
        }
    }
    return TTM_OK;
}

static int dec_legacy(reader *r, ttm_snap_legacy *l)
{
    r_str(r, l->path, sizeof l->path, "legacy path");
    l->forced_size = r_u32(r, "legacy size");
    l->connected = r_u32(r, "legacy connections");
    uint64_t *v[] = {&l->connections, &l->refused,       &l->closed_bad, &l->bad,
                     &l->resyncs,     &l->skipped_bytes, &l->truncated,  &l->rejected};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        *v[i] = r_u64(r, "legacy counters");
    uint32_t n = r_u32(r, "legacy message types");
    if (n > TTM_SNAP_LEGACY_TYPES)
        r_fail(r, "legacy message types");
    l->ntypes = r->bad ? 0 : n;
    for (uint32_t i = 0; i < l->ntypes; i++)
        l->messages[i] = r_u64(r, "legacy message counts");
    return TTM_OK;
}

static int dec_service(reader *r, ttm_snap_service *v)
{
    v->query_conns = r_u32(r, "query connections");
    v->query_max_conns = r_u32(r, "query connection limit");
    uint64_t *c[] = {&v->query_out_max, &v->query_buffered, &v->query_buffered_peak,
                     &v->query_refused, &v->query_waited,   &v->query_cut,
                     &v->query_idle,    &v->query_evicted};
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
        *c[i] = r_u64(r, "query counters");
    return TTM_OK;
}

int ttm__snap_decode_snapshot(const uint8_t *payload, size_t len, ttm_snapshot *out, char *msg,
                              size_t msg_len)
{
    memset(out, 0, sizeof *out);
    ttm__set_msg(msg, msg_len, "%s", "");
    reader top = {.p = payload, .len = payload ? len : 0};
    int err = TTM_OK;
    while (r_left(&top) > 0) {
        unsigned id = r_u16(&top, "section header");
        uint16_t pad = r_u16(&top, "section header");
        uint32_t slen = r_u32(&top, "section header");
        const uint8_t *body = r_take(&top, slen, "section length");
        if (top.bad || pad != 0) {
            ttm__set_msg(msg, msg_len, "snapshot section header is cut or corrupt at byte %zu",
                    top.pos);
            err = TTM_EPROTO;
            goto out_free;
        }
        if (id >= 32 || ttm__snap_section_name(id)[0] == '?')
            continue; /* a section of a newer daemon: skip it */
        if (out->sections & TTM_SNAP_BIT(id)) {
            ttm__set_msg(msg, msg_len, "snapshot section '%s' appears twice",
                    ttm__snap_section_name(id));
            err = TTM_EPROTO;
            goto out_free;
        }
        out->sections |= TTM_SNAP_BIT(id);
        reader r = {.p = body, .len = slen};
        switch (id) {
        case TTM_SNAP_SEC_DAEMON:
            err = dec_daemon(&r, &out->daemon);
            break;
        case TTM_SNAP_SEC_TOTALS:
            err = dec_totals(&r, &out->totals);
            break;
        case TTM_SNAP_SEC_DEVICES:
            err = dec_devices(&r, out);
            break;
        case TTM_SNAP_SEC_PROCS:
            err = dec_procs(&r, out);
            break;
        case TTM_SNAP_SEC_LIVE:
            err = dec_live(&r, out);
            break;
        case TTM_SNAP_SEC_LEGACY:
            err = dec_legacy(&r, &out->legacy);
            break;
        case TTM_SNAP_SEC_SERVICE:
            err = dec_service(&r, &out->service);
            break;
        default:
            err = dec_findings(&r, &out->findings);
            break;
        }
        if (err != TTM_OK) {
            ttm__set_msg(msg, msg_len, "out of memory decoding the '%s' section",
                    ttm__snap_section_name(id));
            goto out_free;
        }
        if (r.bad || r.pos != r.len) {
            ttm__set_msg(msg, msg_len, "snapshot section '%s' is malformed (%s)",
                    ttm__snap_section_name(id), r.bad ? r.what : "trailing bytes");
            err = TTM_EPROTO;
            goto out_free;
        }
    }
    return TTM_OK;

out_free:
    ttm__snapshot_free(out);
    return err;
}

void ttm__snapshot_free(ttm_snapshot *s)
{
    if (s == NULL)
        return;
    ttm__free(s->devices);
    for (size_t i = 0; i < s->nprocs; i++)
        ttm__free(s->procs[i].devices);
    ttm__free(s->procs);
    ttm__free(s->live);
    for (unsigned c = 0; c < TTM_SNAP_CLASSES_MAX; c++)
        ttm__free(s->findings.classes[c].offenders);
    ttm__free(s->findings.unmatched);
    ttm__free(s->findings.leaks);
    memset(s, 0, sizeof *s);
}

/* ---- client exchange ------------------------------------------------------------------------ */

int ttm__snap_query_path(const char *socket_path, char *buf, size_t len)
{
    if (socket_path == NULL || buf == NULL || len == 0)
        return TTM_EINVAL;
    int n = snprintf(buf, len, "%s.query", socket_path);
    if (n < 0 || (size_t)n >= len || (size_t)n >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        buf[0] = '\0';
        return TTM_ERANGE;
    }
    return TTM_OK;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for fd to become ready for events until deadline (ms, CLOCK_MONOTONIC). Returns 0,
 * TTM_ETIMEDOUT or TTM_EIO. */
static int wait_until(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - mono_ms();
        if (left <= 0)
            return TTM_ETIMEDOUT;
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, (int)left);
        if (r > 0)
            return TTM_OK;
        if (r < 0 && errno != EINTR)
            return TTM_EIO;
    }
}

static int write_all(int fd, const uint8_t *p, size_t n, int64_t deadline)
{
    size_t off = 0;
    while (off < n) {
        ssize_t k = send(fd, p + off, n - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k > 0) {
            off += (size_t)k;
            continue;
        }
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int err = wait_until(fd, POLLOUT, deadline);
            if (err != TTM_OK)
                return err;
            continue;
        }
        return (k < 0 && (errno == EPIPE || errno == ECONNRESET)) ? TTM_ECLOSED : TTM_EIO;
    }
    return TTM_OK;
}

static int read_all(int fd, uint8_t *p, size_t n, int64_t deadline)
{
    size_t off = 0;
    while (off < n) {
        ssize_t k = recv(fd, p + off, n - off, MSG_DONTWAIT);
        if (k > 0) {
            off += (size_t)k;
            continue;
        }
        if (k == 0)
            return TTM_ECLOSED;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            int err = wait_until(fd, POLLIN, deadline);
            if (err != TTM_OK)
                return err;
            continue;
        }
        return errno == ECONNRESET ? TTM_ECLOSED : TTM_EIO;
    }
    return TTM_OK;
}

int ttm__snap_fetch(const char *path, const ttm_snap_query *q, int timeout_ms, ttm_snapshot *out,
                    char *msg, size_t msg_len)
{
    memset(out, 0, sizeof *out);
    ttm__set_msg(msg, msg_len, "%s", "");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (path == NULL || strlen(path) >= sizeof sa.sun_path) {
        ttm__set_msg(msg, msg_len, "query socket path is too long");
        return TTM_EINVAL;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int64_t deadline = mono_ms() + (timeout_ms > 0 ? timeout_ms : 5000);
    ttm_snap_buf req = {0};
    uint8_t *payload = NULL;
    int err;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        ttm__set_msg(msg, msg_len, "cannot create a socket: %s", strerror(errno));
        return TTM_EIO;
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        ttm__set_msg(msg, msg_len, "cannot connect to %s: %s", path, strerror(errno));
        err = TTM_ECONN;
        goto out_close_fd;
    }
    err = ttm__peer_check(fd, path, msg, msg_len); /* the user's own daemon or root's */
    if (err != TTM_OK)
        goto out_close_fd;
    err = ttm__snap_encode_query(q, &req);
    if (err == TTM_OK)
        err = write_all(fd, req.data, req.len, deadline);
    /* A daemon that refuses the connection (too many) writes an ERROR and closes before it
     * reads the query: the send then fails, but the ERROR is there to be read. */
    int send_err = err;
    if (err != TTM_OK && err != TTM_ECLOSED) {
        ttm__set_msg(msg, msg_len, "sending the query to %s failed: %s", path, ttm_strerror(err));
        goto out_close_fd;
    }
    uint8_t hdr[TTM_SNAP_HDR_SIZE];
    err = read_all(fd, hdr, sizeof hdr, deadline);
    if (err != TTM_OK) {
        if (send_err != TTM_OK)
            err = send_err;
        ttm__set_msg(msg, msg_len, "%s %s failed: %s",
                     send_err != TTM_OK ? "sending the query to" : "reading the reply from",
                     path, ttm_strerror(err));
        goto out_close_fd;
    }
    ttm_snap_frame fr;
    err = ttm__snap_decode_frame(hdr, sizeof hdr, &fr, msg, msg_len);
    if (err == TTM_OK && send_err != TTM_OK && fr.type != TTM_SNAP_MSG_ERROR) {
        ttm__set_msg(msg, msg_len, "sending the query to %s failed: %s", path,
                     ttm_strerror(send_err));
        err = send_err;
    }
    if (err != TTM_OK)
        goto out_close_fd;
    payload = ttm__malloc(fr.length ? fr.length : 1);
    if (payload == NULL) {
        ttm__set_msg(msg, msg_len, "out of memory for a %u-byte reply", fr.length);
        err = TTM_ENOMEM;
        goto out_close_fd;
    }
    err = read_all(fd, payload, fr.length, deadline);
    if (err != TTM_OK) {
        ttm__set_msg(msg, msg_len, "reading the reply from %s failed: %s", path, ttm_strerror(err));
        goto out_free_payload;
    }
    if (fr.type == TTM_SNAP_MSG_ERROR) {
        char text[TTM_SNAP_ERRMSG_MAX + 1];
        if (ttm__snap_decode_error(payload, fr.length, text, sizeof text) != TTM_OK) {
            ttm__set_msg(msg, msg_len, "malformed error reply from %s", path);
            err = TTM_EPROTO;
        } else {
            ttm__set_msg(msg, msg_len, "%s", text);
            err = fr.status;
        }
        goto out_free_payload;
    }
    if (fr.type != TTM_SNAP_MSG_SNAPSHOT) {
        ttm__set_msg(msg, msg_len, "unexpected %s message from %s", ttm__snap_msg_name(fr.type),
                path);
        err = TTM_EPROTO;
        goto out_free_payload;
    }
    err = ttm__snap_decode_snapshot(payload, fr.length, out, msg, msg_len);

out_free_payload:
    ttm__free(payload);
out_close_fd:
    ttm__snap_buf_free(&req);
    close(fd);
    fd = -1;
    return err;
}
