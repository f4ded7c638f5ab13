/*
 * poctrace.c — the prototype's stack-trace log back into records, one line at a time, and the
 * matcher that pairs those records with a server log's events.
 */
#include "common/poctrace.h"

#include <string.h>

#include "common/alloc.h"
#include "common/event.h"
#include "common/scan.h"

#define HEADER "=== TT-Metal Buffer Allocation Stack Traces ==="

enum {
    ST_IDLE = 0, /* between blocks */
    ST_TIME,
    ST_DEVICE,
    ST_TYPE,
    ST_SIZE,
    ST_ADDRESS,
    ST_STACK,  /* "Stack trace:" */
    ST_FRAMES, /* frame lines until the blank line */
};

/* "0x" and hex digits */
static bool hex(ttm_scan *c, uint64_t *out)
{
    return ttm__scan_lit(c, "0x") && ttm__scan_hexdigits(c, out);
}

static void keep_bad(ttm_poctrace_stats *st, const char *line, size_t len)
{
    if (st->nkept >= TTM_POCTRACE_KEEP_BAD)
        return;
    ttm__scan_keep(st->kept[st->nkept], TTM_POCTRACE_BAD_LEN, line, len);
    st->kept_lineno[st->nkept++] = st->lines;
}

/* A line of U+2500 (E2 94 80) only. */
static bool is_rule(const char *s, size_t n)
{
    if (n == 0 || n % 3 != 0)
        return false;
    for (size_t i = 0; i < n; i += 3) {
        if ((unsigned char)s[i] != 0xE2 || (unsigned char)s[i + 1] != 0x94 ||
            (unsigned char)s[i + 2] != 0x80)
            return false;
    }
    return true;
}

static bool parse_time(ttm_scan *c, char out[20])
{
    static const char pattern[] = "dddd-dd-dd dd:dd:dd";
    if ((size_t)(c->end - c->p) != sizeof pattern - 1)
        return false;
    for (size_t i = 0; i < sizeof pattern - 1; i++) {
        char ch = c->p[i];
        if (pattern[i] == 'd' ? ch < '0' || ch > '9' : ch != pattern[i])
            return false;
    }
    memcpy(out, c->p, sizeof pattern - 1);
    out[sizeof pattern - 1] = '\0';
    c->p = c->end;
    return true;
}

static bool parse_device(ttm_scan *c, int32_t *out)
{
    bool neg = ttm__scan_lit(c, "-");
    uint64_t v;
    if (!ttm__scan_dec(c, &v) || !ttm__scan_at_end(c) ||
        v > (neg ? (uint64_t)INT32_MAX + 1 : (uint64_t)INT32_MAX))
        return false;
    *out = neg ? (int32_t)(-(int64_t)v) : (int32_t)v;
    return true;
}

/* The prototype's type words are ttm's memtype names, or UNKNOWN for a type past TRACE. */
static bool parse_type(ttm_scan *c, uint8_t *out)
{
    size_t n = (size_t)(c->end - c->p);
    if (n == 7 && memcmp(c->p, "UNKNOWN", 7) == 0) {
        *out = TTM_MEM_ANY;
        return true;
    }
    for (unsigned t = 0; t < TTM_MEMTYPE_COUNT; t++) {
        const char *name = ttm__memtype_name(t);
        if (strlen(name) == n && memcmp(c->p, name, n) == 0) {
            *out = (uint8_t)t;
            return true;
        }
    }
    return false;
}

/* "N bytes (K KB)": K is N/1024 in C++'s default float format, not checked beyond its shape */
static bool parse_size(ttm_scan *c, uint64_t *out)
{
    if (!ttm__scan_dec(c, out) || !ttm__scan_lit(c, " bytes"))
        return false;
    if (ttm__scan_at_end(c))
        return true;
    size_t n = (size_t)(c->end - c->p);
    return n > 6 && ttm__scan_lit(c, " (") && memcmp(c->end - 4, " KB)", 4) == 0;
}

/* Records [from, to) of f->text as the function (the text is at most TTM_POCTRACE_LINE_MAX
 * bytes, so offsets fit in 16 bits). */
static void set_func(ttm_poctrace_frame *f, const char *from, const char *to)
{
    f->func_off = (uint16_t)(from - f->text);
    f->func_len = (uint16_t)(to - from);
}

/* "FUNCTION+0xOFF" or "-0xOFF" at the end of [from, to): the sign is the last '+' or '-' before
 * a final hex number. */
static bool func_offset(ttm_poctrace_frame *f, const char *from, const char *to)
{
    for (const char *s = to; s > from; s--) {
        if (s[-1] != '+' && s[-1] != '-')
            continue;
        ttm_scan c = {s, to};
        uint64_t off;
        if (!hex(&c, &off) || !ttm__scan_at_end(&c))
            return false;
        set_func(f, from, s - 1);
        f->has_offset = true;
        f->offset_neg = s[-1] == '-';
        f->offset = off;
        return true;
    }
    return false;
}

/* A trailing " at FILE:LINE" (addr2line -p, gdb): sets file and line, returns where it
 * starts (end when there is none). */
static const char *source_line(ttm_poctrace_frame *f, const char *t, const char *end)
{
    const char *colon = end;
    while (colon > t && colon[-1] >= '0' && colon[-1] <= '9')
        colon--;
    if (colon == end || colon == t || colon[-1] != ':' || end - colon > 9)
        return end;
    colon--;
    for (const char *at = colon; at - t >= 4; at--) {
        if (memcmp(at - 4, " at ", 4) != 0)
            continue;
        if (at == colon)
            return end;
        ttm_scan c = {colon + 1, end};
        uint64_t line;
        if (!ttm__scan_dec(&c, &line) || line == 0 || line > UINT32_MAX)
            return end;
        f->file_off = (uint16_t)(at - t);
        f->file_len = (uint16_t)(colon - at);
        f->line = (uint32_t)line;
        return at - 4;
    }
    return end;
}

static void set_sym(ttm_poctrace_frame *f, const char *from, const char *to)
{
    f->sym_off = (uint16_t)(from - f->text);
    f->sym_len = (uint16_t)(to - from);
}

/* The demangled form "MODULE : FUNCTION+0xOFF", else backtrace_symbols' own line
 * "MODULE(FUNCTION+0xOFF) [0xADDR]", "MODULE [0xADDR]" or "[0xADDR]", each perhaps followed by
 * " at FILE:LINE". Anything else stays text. */
static void parse_frame(ttm_poctrace_frame *f, size_t n)
{
    const char *t = f->text;
    const char *end = source_line(f, t, t + n);
    n = (size_t)(end - t);
    set_sym(f, t, end);
    const char *sep = memmem(t, n, " : ", 3);
    if (sep != NULL) {
        f->module_len = (uint16_t)(sep - t);
        set_sym(f, sep + 3, end);
        if (!func_offset(f, sep + 3, end))
            set_func(f, sep + 3, end);
        return;
    }
    const char *br = n >= 4 && end[-1] == ']' ? memrchr(t, '[', n) : NULL;
    if (br == NULL)
        return;
    ttm_scan c = {br + 1, end - 1};
    uint64_t addr;
    if (!hex(&c, &addr) || !ttm__scan_at_end(&c))
        return;
    f->has_addr = true;
    f->addr = addr;
    const char *mod_end = br > t && br[-1] == ' ' ? br - 1 : br;
    const char *paren = memchr(t, '(', (size_t)(mod_end - t));
    if (paren != NULL && mod_end > paren + 1 && mod_end[-1] == ')') {
        f->module_len = (uint16_t)(paren - t);
        set_sym(f, paren + 1, mod_end - 1);
        if (!func_offset(f, paren + 1, mod_end - 1))
            set_func(f, paren + 1, mod_end - 1);
    } else {
        f->module_len = (uint16_t)(mod_end - t);
    }
}

static void add_frame(ttm_poctrace *r, const char *s, size_t n)
{
    ttm_poctrace_record *rec = &r->rec;
    if (rec->nframes >= TTM_POCTRACE_FRAMES) {
        rec->frames_cut++;
        return;
    }
    ttm_poctrace_frame *f = &rec->frames[rec->nframes++];
    memset(f, 0, sizeof *f);
    memcpy(f->text, s, n);
    f->text[n] = '\0';
    f->len = (uint16_t)n;
    f->sym_len = (uint16_t)n;
    f->cut = r->line_cut;
    if (!f->cut)
        parse_frame(f, n);
}

/* A block that did not end with its blank line. */
static void drop_open(ttm_poctrace *r)
{
    if (r->state != ST_IDLE)
        r->st.truncated++;
    r->state = ST_IDLE;
}

static void bad_line(ttm_poctrace *r, const char *s, size_t n)
{
    r->st.bad++;
    keep_bad(&r->st, s, n);
    r->state = ST_IDLE;
}

static bool start_block(ttm_poctrace *r, ttm_scan *c)
{
    ttm_poctrace_kind kind;
    if (ttm__scan_lit(c, "Allocation #"))
        kind = TTM_POCTRACE_ALLOC;
    else if (ttm__scan_lit(c, "Deallocation"))
        kind = TTM_POCTRACE_FREE;
    else
        return false;
    uint64_t number = 0;
    bool has_number = kind == TTM_POCTRACE_ALLOC || ttm__scan_lit(c, " #");
    if ((has_number && !ttm__scan_dec(c, &number)) || !ttm__scan_at_end(c) || r->line_cut)
        return false;
    drop_open(r);
    ttm_poctrace_record *rec = &r->rec;
    rec->kind = kind;
    rec->has_number = has_number;
    rec->number = number;
    rec->has_pid = r->has_pid;
    rec->pid = r->pid;
    rec->lineno = r->st.lines;
    rec->time[0] = '\0';
    rec->device = 0;
    rec->memtype = TTM_MEM_ANY;
    rec->size = 0;
    rec->address = 0;
    rec->nframes = 0;
    rec->frames_cut = 0;
    r->state = ST_TIME;
    return true;
}

static int end_block(ttm_poctrace *r)
{
    ttm_poctrace_record *rec = &r->rec;
    r->state = ST_IDLE;
    r->st.records++;
    if (rec->kind == TTM_POCTRACE_ALLOC)
        r->st.allocs++;
    else
        r->st.frees++;
    r->st.frames += rec->nframes;
    r->st.frames_cut += rec->frames_cut;
    return r->fn != NULL ? r->fn(r->arg, rec) : 0;
}

/* One whole line, without its newline (and CR). */
static int line(ttm_poctrace *r, const char *s, size_t n)
{
    ttm_poctrace_stats *st = &r->st;
    ttm_poctrace_record *rec = &r->rec;
    ttm_scan c = {s, s + n};
    st->lines++;
    if (r->line_cut)
        st->lines_cut++;
    if (n == sizeof HEADER - 1 && memcmp(s, HEADER, n) == 0) {
        drop_open(r);
        st->headers++;
        r->has_pid = false;
        return 0;
    }
    if (is_rule(s, n)) {
        drop_open(r);
        st->skipped++;
        return 0;
    }
    if (start_block(r, &c))
        return 0;
    c.p = s;
    if (r->line_cut && r->state != ST_FRAMES) {
        /* no field is that long */
        if (r->state == ST_IDLE) {
            st->garbage++;
            keep_bad(st, s, n);
        } else {
            bad_line(r, s, n);
        }
        return 0;
    }
    uint64_t v;
    bool ok;
    switch (r->state) {
    case ST_IDLE:
        if (n == 0) {
            st->skipped++;
        } else if (ttm__scan_lit(&c, "PID: ") && ttm__scan_dec(&c, &v) && ttm__scan_at_end(&c) &&
                   v <= UINT32_MAX) {
            r->has_pid = true;
            r->pid = (uint32_t)v;
            st->skipped++;
        } else {
            st->garbage++;
            keep_bad(st, s, n);
        }
        return 0;
    case ST_TIME:
        ok = ttm__scan_lit(&c, "Time: ") && parse_time(&c, rec->time);
        break;
    case ST_DEVICE:
        ok = ttm__scan_lit(&c, "Device: ") && parse_device(&c, &rec->device);
        break;
    case ST_TYPE:
        ok = ttm__scan_lit(&c, "Type: ") && parse_type(&c, &rec->memtype);
        break;
    case ST_SIZE:
        ok = ttm__scan_lit(&c, "Size: ") && parse_size(&c, &rec->size);
        break;
    case ST_ADDRESS:
        ok = ttm__scan_lit(&c, "Address: ") && hex(&c, &rec->address) && ttm__scan_at_end(&c);
        break;
    case ST_STACK:
        ok = n == 12 && memcmp(s, "Stack trace:", 12) == 0;
        break;
    default: /* ST_FRAMES */
        if (n == 0)
            return end_block(r);
        if (n > 2 && s[0] == ' ' && s[1] == ' ') {
            add_frame(r, s + 2, n - 2);
            return 0;
        }
        ok = false;
        break;
    }
    if (!ok) {
        bad_line(r, s, n);
        return 0;
    }
    if (r->state == ST_DEVICE && rec->kind == TTM_POCTRACE_FREE)
        r->state = ST_ADDRESS; /* deallocations have no Type and Size */
    else
        r->state++;
    return 0;
}

void ttm__poctrace_init(ttm_poctrace *r, ttm_poctrace_fn fn, void *arg)
{
    memset(&r->st, 0, sizeof r->st);
    r->fn = fn;
    r->arg = arg;
    r->state = ST_IDLE;
    r->has_pid = false;
    r->pid = 0;
    r->len = 0;
    r->line_cut = false;
}

static int flush_line(ttm_poctrace *r)
{
    size_t n = r->len;
    if (n > 0 && r->line[n - 1] == '\r' && !r->line_cut)
        n--;
    int rc = line(r, r->line, n);
    r->len = 0;
    r->line_cut = false;
    return rc;
}

int ttm__poctrace_feed_part(ttm_poctrace *r, const void *data, size_t len, size_t *used)
{
    const char *start = data, *p = start, *end = p + len;
    int rc = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl != NULL ? nl : end;
        size_t n = (size_t)(stop - p), room = TTM_POCTRACE_LINE_MAX - r->len;
        if (n > room) {
            r->line_cut = true;
            n = room;
        }
        memcpy(r->line + r->len, p, n);
        r->len += n;
        if (nl == NULL)
            break;
        p = nl + 1;
        rc = flush_line(r);
        if (rc != 0)
            break;
    }
    if (rc == 0)
        p = end;
    r->st.bytes += (size_t)(p - start);
    *used = (size_t)(p - start);
    return rc;
}

int ttm__poctrace_feed(ttm_poctrace *r, const void *data, size_t len)
{
    size_t used;
    return ttm__poctrace_feed_part(r, data, len, &used);
}

int ttm__poctrace_finish(ttm_poctrace *r)
{
    if (r->len > 0 || r->line_cut) {
        /* cut in the middle: the line is not read (no block ends without a newline) */
        r->st.partial_last = 1;
        r->st.lines++;
        r->len = 0;
        r->line_cut = false;
    }
    drop_open(r);
    return 0;
}

/* ---- the matcher ----------------------------------------------------------------------------
 *
 * Pending records live in a ring indexed by their sequence number (seq % window), oldest at
 * head. Records with one key form a list in log order (oldest first) whose ends a key table
 * (open addressing, linear probing, backward-shift deletion, at most half full) holds, so a
 * match is one probe and, for allocations, a walk past records of another type. A record taken
 * from the middle leaves a hole that the head skips when it gets there.
 */

#define NIL UINT32_MAX

typedef struct pend {
    uint64_t addr, size, seq;
    uint32_t stack;
    uint32_t next; /* slot of the next record with the same key, NIL at the end */
    int32_t device;
    uint8_t kind, memtype;
    bool live;
} pend;

typedef struct keyent {
    uint64_t addr, size;
    int32_t device;
    uint8_t kind;
    bool used;
    uint32_t first, last; /* slots */
} keyent;

struct ttm_poctrace_matcher {
    uint32_t window;
    pend *ring;
    uint64_t head, tail; /* seq of the oldest slot, seq of the next record */
    uint64_t pending;    /* live records */
    uint64_t last_taken; /* seq + 1 of the newest record taken, 0 before any */
    uint64_t misses;     /* events in a row that found nothing while the window was full */
    keyent *keys;
    size_t kmask;
    ttm_poctrace_match_stats st;
};

static uint64_t key_hash(uint8_t kind, int32_t device, uint64_t addr, uint64_t size)
{
    uint64_t h = addr ^ (size * 0x9E3779B97F4A7C15u) ^ ((uint64_t)(uint32_t)device << 40) ^
                 ((uint64_t)kind << 62);
    h ^= h >> 31;
    h *= 0xBF58476D1CE4E5B9u;
    h ^= h >> 29;
    return h;
}

/* The key's entry, or the empty entry where it would go. */
static keyent *key_find(ttm_poctrace_matcher *m, uint8_t kind, int32_t device, uint64_t addr,
                        uint64_t size)
{
    size_t i = (size_t)key_hash(kind, device, addr, size) & m->kmask;
    for (;; i = (i + 1) & m->kmask) {
        keyent *k = &m->keys[i];
        if (!k->used ||
            (k->kind == kind && k->device == device && k->addr == addr && k->size == size))
            return k;
    }
}

/* Removes entry k, shifting back the entries after it that probed past it. */
static void key_remove(ttm_poctrace_matcher *m, keyent *k)
{
    size_t hole = (size_t)(k - m->keys);
    for (size_t i = (hole + 1) & m->kmask; m->keys[i].used; i = (i + 1) & m->kmask) {
        keyent *e = &m->keys[i];
        size_t home = (size_t)key_hash(e->kind, e->device, e->addr, e->size) & m->kmask;
        /* e may move into the hole when its home is not in (hole, i] (cyclically) */
        if (((i - home) & m->kmask) >= ((i - hole) & m->kmask)) {
            m->keys[hole] = *e;
            hole = i;
        }
    }
    m->keys[hole].used = false;
}

int ttm__poctrace_matcher_open(ttm_poctrace_matcher **out, uint32_t window)
{
    if (out == NULL)
        return TTM_EINVAL;
    *out = NULL;
    if (window == 0)
        window = TTM_POCTRACE_WINDOW;
    if (window < 2 || window > (1u << 24))
        return TTM_EINVAL;
    size_t kcap = 4;
    while (kcap < 2 * (size_t)window)
        kcap *= 2;
    ttm_poctrace_matcher *m = ttm__calloc(1, sizeof *m);
    if (m == NULL)
        return TTM_ENOMEM;
    m->ring = ttm__calloc(window, sizeof *m->ring);
    m->keys = ttm__calloc(kcap, sizeof *m->keys);
    if (m->ring == NULL || m->keys == NULL) {
        ttm__poctrace_matcher_close(m);
        return TTM_ENOMEM;
    }
    m->window = window;
    m->kmask = kcap - 1;
    *out = m;
    return TTM_OK;
}

void ttm__poctrace_matcher_close(ttm_poctrace_matcher *m)
{
    if (m == NULL)
        return;
    ttm__free(m->ring);
    ttm__free(m->keys);
    ttm__free(m);
}

bool ttm__poctrace_matcher_full(const ttm_poctrace_matcher *m)
{
    return m->tail - m->head >= m->window;
}

static pend *slot(const ttm_poctrace_matcher *m, uint64_t seq)
{
    return &m->ring[seq % m->window];
}

int ttm__poctrace_matcher_add(ttm_poctrace_matcher *m, const ttm_poctrace_record *rec,
                              uint32_t stack)
{
    if (ttm__poctrace_matcher_full(m))
        return TTM_ELIMIT;
    uint8_t kind = rec->kind == TTM_POCTRACE_ALLOC ? TTM_EV_ALLOC : TTM_EV_FREE;
    uint64_t size = kind == TTM_EV_ALLOC ? rec->size : 0;
    uint32_t s = (uint32_t)(m->tail % m->window);
    pend *p = &m->ring[s];
    *p = (pend){.addr = rec->address,
                .size = size,
                .seq = m->tail,
                .stack = stack,
                .next = NIL,
                .device = rec->device,
                .kind = kind,
                .memtype = rec->memtype,
                .live = true};
    keyent *k = key_find(m, kind, rec->device, rec->address, size);
    if (k->used) {
        m->ring[k->last].next = s;
        k->last = s;
    } else {
        *k = (keyent){.addr = rec->address,
                      .size = size,
                      .device = rec->device,
                      .kind = kind,
                      .used = true,
                      .first = s,
                      .last = s};
    }
    m->tail++;
    m->pending++;
    m->st.added++;
    if (m->pending > m->st.peak)
        m->st.peak = m->pending;
    return TTM_OK;
}

/* Unlinks live record at slot s (prev: the slot before it in its key's list, NIL when first). */
static void unlink_rec(ttm_poctrace_matcher *m, keyent *k, uint32_t prev, uint32_t s)
{
    pend *p = &m->ring[s];
    if (prev == NIL)
        k->first = p->next;
    else
        m->ring[prev].next = p->next;
    if (k->last == s)
        k->last = prev;
    if (k->first == NIL)
        key_remove(m, k);
    p->live = false;
    m->pending--;
}

/* Moves the head past holes, and past live records older than `before` (given up). */
static void advance_head(ttm_poctrace_matcher *m, uint64_t before)
{
    while (m->head < m->tail) {
        pend *p = slot(m, m->head);
        if (p->live) {
            if (p->seq >= before)
                return;
            /* the oldest record is the first of its key's list */
            keyent *k = key_find(m, p->kind, p->device, p->addr, p->size);
            unlink_rec(m, k, NIL, (uint32_t)(m->head % m->window));
            m->st.dropped++;
        }
        m->head++;
    }
}

uint32_t ttm__poctrace_matcher_take(ttm_poctrace_matcher *m, const ttm_event *ev)
{
    if (ev->kind != TTM_EV_ALLOC && ev->kind != TTM_EV_FREE)
        return 0;
    uint64_t size = ev->kind == TTM_EV_ALLOC ? ev->size : 0;
    keyent *k = key_find(m, ev->kind, ev->device, ev->addr, size);
    uint32_t prev = NIL, s = k->used ? k->first : NIL;
    while (s != NIL && ev->kind == TTM_EV_ALLOC && m->ring[s].memtype != TTM_MEM_ANY &&
           m->ring[s].memtype != ev->memtype) {
        prev = s;
        s = m->ring[s].next;
    }
    if (s == NIL) {
        m->st.missed++;
        if (ttm__poctrace_matcher_full(m) && ++m->misses >= m->window / 2) {
            /* out of step: give up the window (a read-ahead catches up at twice the pace of
             * the events) */
            m->misses = 0;
            m->st.resyncs++;
            advance_head(m, m->tail);
        }
        return 0;
    }
    m->misses = 0;
    pend *p = &m->ring[s];
    uint32_t stack = p->stack;
    uint64_t seq = p->seq;
    unlink_rec(m, k, prev, s);
    m->st.taken++;
    if (seq + 1 > m->last_taken)
        m->last_taken = seq + 1;
    advance_head(m, m->last_taken > m->window / 2 ? m->last_taken - m->window / 2 : 0);
    return stack;
}

void ttm__poctrace_matcher_stats(const ttm_poctrace_matcher *m, ttm_poctrace_match_stats *out)
{
    *out = m->st;
    out->left = m->pending;
}
