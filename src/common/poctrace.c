/*
 * poctrace.c — the prototype's stack-trace log back into records, one line at a time.
 */
#include "common/poctrace.h"

#include <string.h>

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

/* The demangled form "MODULE : FUNCTION+0xOFF", else backtrace_symbols' own line
 * "MODULE(FUNCTION+0xOFF) [0xADDR]", "MODULE [0xADDR]" or "[0xADDR]". Anything else stays text. */
static void parse_frame(ttm_poctrace_frame *f, size_t n)
{
    const char *t = f->text, *end = t + n;
    const char *sep = memmem(t, n, " : ", 3);
    if (sep != NULL) {
        f->module_len = (uint16_t)(sep - t);
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

int ttm__poctrace_feed(ttm_poctrace *r, const void *data, size_t len)
{
    const char *p = data, *end = p + len;
    r->st.bytes += len;
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
        int rc = flush_line(r);
        if (rc != 0)
            return rc;
    }
    return 0;
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
