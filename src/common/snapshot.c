/*
 * snapshot.c — the query protocol's codec (snapshot.h): frame headers, QUERY, ERROR and
 * SNAPSHOT payloads. A SNAPSHOT's sections are the wire form of a record table's rows
 * (common/schema.h walks them); this file frames them and checks the frame.
 *
 * Fields go through bytes.h's sticky writer and bounded reader, so a decoder checks once at
 * the end of each record instead of after every field.
 */
#include "common/snapshot.h"

#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "ttmem/ttmem.h"

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


/* ---- framing -------------------------------------------------------------------------------- */

/* Writes a frame header with a length to be patched; returns its offset. */
static size_t w_frame_begin(ttm_bw *w, unsigned type, int32_t status)
{
    size_t at = w->b->len;
    ttm__bw_u32(w, TTM_SNAP_MAGIC);
    ttm__bw_u16(w, TTM_SNAP_VERSION);
    ttm__bw_u16(w, (uint16_t)type);
    ttm__bw_u32(w, 0);
    ttm__bw_u32(w, (uint32_t)status);
    return at;
}

static void w_frame_end(ttm_bw *w, size_t at)
{
    if (w->err != 0)
        return;
    size_t payload = w->b->len - at - TTM_SNAP_HDR_SIZE;
    if (payload > TTM_SNAP_MAX_FRAME) {
        ttm__bw_fail(w, TTM_ERANGE);
        return;
    }
    ttm__bw_patch(w, at + 8, payload, 4);
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
    uint32_t magic = (uint32_t)ttm__get_le(buf, 4);
    out->version = (uint16_t)ttm__get_le(buf + 4, 2);
    out->type = (uint16_t)ttm__get_le(buf + 6, 2);
    out->length = (uint32_t)ttm__get_le(buf + 8, 4);
    out->status = (int32_t)(uint32_t)ttm__get_le(buf + 12, 4);
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

int ttm__snap_encode_query(const ttm_snap_query *q, ttm_bytes *out)
{
    ttm_bw w = ttm__bw_over(out);
    size_t at = w_frame_begin(&w, TTM_SNAP_MSG_QUERY, 0);
    ttm__bw_u32(&w, q->sections);
    ttm__bw_u32(&w, q->top);
    ttm__bw_u32(&w, q->max_leaks);
    ttm__bw_u32(&w, q->max_live);
    w_frame_end(&w, at);
    return w.err;
}

int ttm__snap_decode_query(const uint8_t *payload, size_t len, ttm_snap_query *out)
{
    ttm_br r = ttm__br_over(payload, len);
    out->sections = ttm__br_u32(&r, "sections");
    out->top = ttm__br_u32(&r, "top");
    out->max_leaks = ttm__br_u32(&r, "max_leaks");
    out->max_live = ttm__br_u32(&r, "max_live");
    return r.bad || r.pos != len ? TTM_EPROTO : TTM_OK;
}

int ttm__snap_encode_error(int status, const char *msg, ttm_bytes *out)
{
    ttm_bw w = ttm__bw_over(out);
    if (msg == NULL)
        msg = "";
    size_t n = strnlen(msg, TTM_SNAP_ERRMSG_MAX);
    size_t at = w_frame_begin(&w, TTM_SNAP_MSG_ERROR, status < 0 ? status : TTM_EPROTO);
    ttm__bw_u16(&w, (uint16_t)n);
    ttm__bw_bytes(&w, msg, n);
    w_frame_end(&w, at);
    return w.err;
}

int ttm__snap_decode_error(const uint8_t *payload, size_t len, char *msg, size_t msg_len)
{
    ttm_br r = ttm__br_over(payload, len);
    uint16_t n = ttm__br_u16(&r, "message length");
    const uint8_t *text = ttm__br_take(&r, n, "message");
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

/* ---- SNAPSHOT --------------------------------------------------------------------------------- */

/* The sections rec has rows for. */
static uint32_t sections_of(const ttm_record *rec)
{
    uint32_t m = 0;
    for (size_t i = 0; i < rec->nfields; i++)
        if (rec->fields[i].section > 0 && rec->fields[i].section < 32)
            m |= TTM_SNAP_BIT(rec->fields[i].section);
    return m;
}

int ttm__snap_encode_sections(const ttm_record *rec, const void *obj, uint32_t sections,
                              ttm_bytes *out)
{
    ttm_bw w = ttm__bw_over(out);
    size_t start = out->len;
    size_t at = w_frame_begin(&w, TTM_SNAP_MSG_SNAPSHOT, 0);
    uint32_t have = sections & sections_of(rec);
    for (unsigned id = 1; id < 32; id++) { /* ascending ids */
        if (!(have & TTM_SNAP_BIT(id)))
            continue;
        ttm__bw_u16(&w, (uint16_t)id);
        ttm__bw_u16(&w, 0);
        size_t len_at = out->len;
        ttm__bw_u32(&w, 0);
        ttm__schema_encode(&w, rec, obj, id);
        if (w.err == 0)
            ttm__bw_patch(&w, len_at, out->len - len_at - 4, 4);
    }
    w_frame_end(&w, at);
    if (w.err != 0)
        out->len = start; /* leave no half frame behind */
    return w.err;
}

int ttm__snap_decode_sections(const ttm_record *rec, void *obj, uint32_t *sections,
                              const uint8_t *payload, size_t len, char *msg, size_t msg_len)
{
    ttm__set_msg(msg, msg_len, "%s", "");
    *sections = 0;
    uint32_t known = sections_of(rec);
    ttm_br top = ttm__br_over(payload, payload ? len : 0);
    int err = TTM_OK;
    while (ttm__br_left(&top) > 0) {
        unsigned id = ttm__br_u16(&top, "section header");
        uint16_t pad = ttm__br_u16(&top, "section header");
        uint32_t slen = ttm__br_u32(&top, "section header");
        const uint8_t *body = ttm__br_take(&top, slen, "section length");
        if (top.bad || pad != 0) {
            ttm__set_msg(msg, msg_len, "snapshot section header is cut or corrupt at byte %zu",
                         top.pos);
            err = TTM_EPROTO;
            goto out_free;
        }
        if (id >= 32 || !(known & TTM_SNAP_BIT(id)))
            continue; /* a section of a newer daemon: skip it */
        if (*sections & TTM_SNAP_BIT(id)) {
            ttm__set_msg(msg, msg_len, "snapshot section '%s' appears twice",
                         ttm__snap_section_name(id));
            err = TTM_EPROTO;
            goto out_free;
        }
        *sections |= TTM_SNAP_BIT(id);
        ttm_br r = ttm__br_over(body, slen);
        err = ttm__schema_decode(&r, rec, obj, id);
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
    ttm__schema_free(rec, obj);
    *sections = 0;
    return err;
}
