/*
 * poclog.c — the prototype server's log lines back into events.
 */
#include "common/poclog.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/scan.h"

/* A decimal number, or a hexadecimal one after "0x". */
static bool number(ttm_scan *c, uint64_t *out)
{
    if (c->end - c->p > 2 && c->p[0] == '0' && (c->p[1] == 'x' || c->p[1] == 'X')) {
        c->p += 2;
        return ttm__scan_hexdigits(c, out);
    }
    return ttm__scan_dec(c, out);
}

/* The buffer id: a number, and the event remembers when the line wrote it in decimal (older
 * builds of the prototype, and `ttmemd --poc-log`), so a report can show that form too. */
static bool buffer_id(ttm_scan *c, ttm_event *ev)
{
    bool hex = c->end - c->p > 2 && c->p[0] == '0' && (c->p[1] == 'x' || c->p[1] == 'X');
    if (!number(c, &ev->addr))
        return false;
    if (!hex)
        ev->flags |= TTM__FLAG_ADDR_DEC;
    return true;
}

static bool device(ttm_scan *c, uint16_t *out)
{
    uint64_t v;
    if (!ttm__scan_lit(c, " on device ") || !number(c, &v) || v > UINT16_MAX)
        return false;
    *out = (uint16_t)v;
    return true;
}

static bool memtype_word(ttm_scan *c, uint8_t *out)
{
    /* longest first: L1_SMALL before L1 */
    static const struct {
        const char *word;
        uint8_t type;
    } words[] = {{"DRAM", TTM_MEM_DRAM},    {"L1_SMALL", TTM_MEM_L1_SMALL},
                 {"L1", TTM_MEM_L1},        {"SYSTEM_MEMORY", TTM_MEM_SYSTEM},
                 {"TRACE", TTM_MEM_TRACE},  {"CB", TTM_MEM_CB},
                 {"KERNEL", TTM_MEM_KERNEL}};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        if (ttm__scan_lit(c, words[i].word)) {
            *out = words[i].type;
            return true;
        }
    }
    return false;
}

static void keep_bad(ttm_poclog_stats *st, const char *line, size_t len)
{
    st->bad++;
    if (st->nkept >= TTM_POCLOG_KEEP_BAD)
        return;
    ttm__scan_keep(st->kept[st->nkept], TTM_POCLOG_BAD_LEN, line, len);
    st->kept_lineno[st->nkept++] = st->lines;
}

/* "✓" U+2713, "✗" U+2717, "⚠" U+26A0 in UTF-8 */
static bool has_glyph(const char *from, const char *to)
{
    for (const char *p = from; p + 3 <= to; p++) {
        if ((unsigned char)p[0] != 0xE2)
            continue;
        unsigned b1 = (unsigned char)p[1], b2 = (unsigned char)p[2];
        if ((b1 == 0x9C && (b2 == 0x93 || b2 == 0x97)) || (b1 == 0x9A && b2 == 0xA0))
            return true;
    }
    return false;
}

static ttm_poclog_kind parse_alloc(ttm_scan *c, ttm_event *ev)
{
    uint64_t size, refs;
    if (!number(c, &size) || !ttm__scan_lit(c, " bytes of ") || !memtype_word(c, &ev->memtype) ||
        !device(c, &ev->device) || !ttm__scan_lit(c, " (buffer_id=") || !buffer_id(c, ev))
        return TTM_POCLOG_BAD;
    if (ttm__scan_lit(c, ", ref_count=") && !number(c, &refs))
        return TTM_POCLOG_BAD;
    if (!ttm__scan_lit(c, ")"))
        return TTM_POCLOG_BAD;
    ev->kind = TTM_EV_ALLOC;
    ev->size = size;
    return TTM_POCLOG_EVENT;
}

static ttm_poclog_kind parse_freed(ttm_scan *c, ttm_event *ev)
{
    uint64_t size, refs;
    if (!buffer_id(c, ev) || !device(c, &ev->device) || !ttm__scan_lit(c, " (") ||
        !number(c, &size) || !ttm__scan_lit(c, " bytes, "))
        return TTM_POCLOG_BAD;
    if (!ttm__scan_lit(c, "FINAL") &&
        !(ttm__scan_lit(c, "ref_count=") && number(c, &refs) && ttm__scan_lit(c, " remaining")))
        return TTM_POCLOG_BAD;
    if (!ttm__scan_lit(c, ")"))
        return TTM_POCLOG_BAD;
    ev->kind = TTM_EV_FREE;
    ev->memtype = TTM_MEM_ANY;
    ev->size = size;
    return TTM_POCLOG_EVENT;
}

static ttm_poclog_kind parse_unknown(ttm_scan *c, ttm_event *ev)
{
    if (!buffer_id(c, ev) || !device(c, &ev->device))
        return TTM_POCLOG_BAD;
    if (c->p < c->end && *c->p != ' ')
        return TTM_POCLOG_BAD;
    ev->kind = TTM_EV_FREE;
    ev->memtype = TTM_MEM_ANY;
    return TTM_POCLOG_EVENT;
}

ttm_poclog_kind ttm__poclog_parse_line(const char *line, size_t len, ttm_poclog_stats *st,
                                       uint32_t *pid, ttm_event *ev)
{
    st->lines++;
    st->bytes += len + 1;
    const char *end = line + len;
    const char *tag = len >= 5 ? memmem(line, len, "[PID ", 5) : NULL;
    if (tag == NULL || !has_glyph(line, tag)) {
        st->skipped++;
        return TTM_POCLOG_SKIPPED;
    }
    ttm_scan c = {tag + 5, end};
    uint64_t p;
    if (!number(&c, &p) || p > UINT32_MAX || !ttm__scan_lit(&c, "] ")) {
        keep_bad(st, line, len);
        return TTM_POCLOG_BAD;
    }
    memset(ev, 0, sizeof *ev);
    ttm_poclog_kind k;
    uint64_t *kind_count;
    if (ttm__scan_lit(&c, "Allocated ")) {
        k = parse_alloc(&c, ev);
        kind_count = &st->allocs;
    } else if (ttm__scan_lit(&c, "Freed buffer ")) {
        k = parse_freed(&c, ev);
        kind_count = &st->frees;
    } else if (ttm__scan_lit(&c, "Deallocation for unknown buffer ")) {
        k = parse_unknown(&c, ev);
        kind_count = &st->unknown_lines;
    } else {
        /* another line of the prototype's (clean-up, dump rows): not an event */
        st->skipped++;
        return TTM_POCLOG_SKIPPED;
    }
    if (k != TTM_POCLOG_EVENT) {
        keep_bad(st, line, len);
        return TTM_POCLOG_BAD;
    }
    (*kind_count)++;
    st->events++;
    ev->ts = st->lines;
    *pid = (uint32_t)p;
    return TTM_POCLOG_EVENT;
}

int ttm__poclog_format_alloc(char *buf, size_t len, uint32_t pid, uint64_t size, unsigned memtype,
                             uint16_t device, uint64_t id, uint32_t refs)
{
    if (refs > 1)
        return snprintf(buf, len,
                        "\u2713 [PID %" PRIu32 "] Allocated %" PRIu64 " bytes of %s on device %u "
                        "(buffer_id=%" PRIu64 ", ref_count=%" PRIu32 ")",
                        pid, size, ttm__memtype_name(memtype), device, id, refs);
    return snprintf(buf, len,
                    "\u2713 [PID %" PRIu32 "] Allocated %" PRIu64 " bytes of %s on device %u "
                    "(buffer_id=%" PRIu64 ")",
                    pid, size, ttm__memtype_name(memtype), device, id);
}

int ttm__poclog_format_freed(char *buf, size_t len, uint32_t pid, uint64_t id, uint16_t device,
                             uint64_t size, uint32_t refs_left)
{
    if (refs_left > 0)
        return snprintf(buf, len,
                        "\u2717 [PID %" PRIu32 "] Freed buffer %" PRIu64 " on device %u (%" PRIu64
                        " bytes, ref_count=%" PRIu32 " remaining)",
                        pid, id, device, size, refs_left);
    return snprintf(buf, len,
                    "\u2717 [PID %" PRIu32 "] Freed buffer %" PRIu64 " on device %u (%" PRIu64
                    " bytes, FINAL)",
                    pid, id, device, size);
}

int ttm__poclog_format_unknown(char *buf, size_t len, uint32_t pid, uint64_t id, uint16_t device)
{
    return snprintf(buf, len,
                    "\u26a0 [PID %" PRIu32 "] Deallocation for unknown buffer %" PRIu64
                    " on device %u (allocated before tracking started)",
                    pid, id, device);
}
