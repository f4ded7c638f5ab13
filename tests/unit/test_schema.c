/*
 * test_schema.c — the record tables (core/report_schema.c) and their walkers (common/schema.c):
 * every table matches its struct and leaves no member without a row; a report whose every
 * field of every record holds a distinct value (filled by walking the tables, so a new row is
 * covered without touching this file) survives the snapshot wire and the JSON writer field by
 * field; a changed field is seen; a cut or damaged payload is refused, never half-decoded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/schema.h"
#include "common/snapshot.h"
#include "core/report.h"
#include "report_util.h"
#include "ttmem/ttmem.h"

/* ---- filling every field with a distinct value -------------------------------------------- */

static uint64_t g_next = 1;

static void fill_scalar(const ttm_field *f, ttm_ftype t, uint8_t *p)
{
    uint64_t v = g_next++;
    switch (t) {
    case TTM_FT_BOOL:
        *(bool *)p = (v & 1) != 0;
        return;
    case TTM_FT_F64: {
        double d = (double)(v % 100000) + 0.5; /* exact in JSON's 6 significant digits */
        memcpy(p, &d, sizeof d);
        return;
    }
    default:
        break;
    }
    if (f->values != NULL) { /* a value with a name (some enumerations leave 0 unnamed) */
        v %= f->values->count;
        while (f->values->label((unsigned)v)[0] == '?')
            v = (v + 1) % f->values->count;
    }
    else if (t == TTM_FT_U8)
        v = v % 250 + 1;
    else if (t == TTM_FT_U16)
        v = v % 65000 + 1;
    else if (t == TTM_FT_U64)
        v |= (uint64_t)1 << 40; /* wider than 32 bits */
    ttm__schema_set_uint(p, t == TTM_FT_U8 ? 1 : t == TTM_FT_U16 ? 2 : t == TTM_FT_U32 ? 4 : 8,
                         v);
}

static void fill(const ttm_record *rec, void *obj)
{
    uint8_t *base = obj;
    for (size_t i = 0; i < rec->nfields; i++) {
        const ttm_field *f = &rec->fields[i];
        uint8_t *p = base + f->off;
        if (f->flags & TTM_FF_NOWIRE)
            continue; /* derived: counts of dyn arrays, the report's own bookkeeping */
        switch (f->type) {
        case TTM_FT_STR:
            snprintf((char *)p, f->csize, "s%llu", (unsigned long long)g_next++);
            break;
        case TTM_FT_VSTR: { /* a text, an empty one and NULL in turn */
            uint64_t v = g_next++;
            char *str = NULL;
            if (v % 3 != 2) {
                str = ttm__malloc(32);
                assert_non_null(str);
                if (v % 3 == 0)
                    snprintf(str, 32, "v%llu", (unsigned long long)v);
                else
                    str[0] = '\0';
            }
            memcpy(p, &str, sizeof str);
            break;
        }
        case TTM_FT_REC:
            fill(f->rec, p);
            break;
        case TTM_FT_ARR:
            for (size_t k = 0; k < f->count; k++) {
                if (f->elem == TTM_FT_REC)
                    fill(f->rec, p + k * f->stride);
                else
                    fill_scalar(f, f->elem, p + k * f->stride);
            }
            break;
        case TTM_FT_DYN: {
            size_t n = 2;
            uint8_t *arr = ttm__calloc(n, f->rec->size);
            assert_non_null(arr);
            for (size_t k = 0; k < n; k++)
                fill(f->rec, arr + k * f->rec->size);
            memcpy(p, &arr, sizeof arr);
            ttm__schema_set_uint(base + f->count_off, f->count_size, n);
            break;
        }
        default:
            fill_scalar(f, f->type, p);
            break;
        }
    }
    /* a counted array's count is a row of its own: keep it within the capacity */
    for (size_t i = 0; i < rec->nfields; i++) {
        const ttm_field *f = &rec->fields[i];
        if (f->type == TTM_FT_ARR && (f->flags & TTM_FF_COUNTED))
            ttm__schema_set_uint(base + f->count_off, f->count_size,
                                 f->count - 1 - (g_next++ % (f->count - 1)));
    }
}

static uint32_t all_sections(void)
{
    uint32_t m = 0;
#define TTM__SEC_BIT(name, value, text) m |= TTM_SNAP_BIT(value);
    TTM_SNAP_SECTION_MAP(TTM__SEC_BIT)
#undef TTM__SEC_BIT
    return m;
}

static void fill_report(ttm_report *r)
{
    memset(r, 0, sizeof *r);
    fill(&ttm_rec_report, r);
    r->schema_version = TTM_REPORT_SCHEMA_VERSION;
    r->sections = all_sections();
    /* the wire's carriers of the packed rows are made by the encoder, never held */
    ttm__schema_free(&ttm_rec_report_packed, &r->packed);
    memset(&r->packed, 0, sizeof r->packed);
    ttm__free(r->dec_addrs); /* ... and those of the findings' decimal addresses */
    r->dec_addrs = NULL;
    r->ndec_addrs = 0;
    for (size_t i = 0; i < r->nproc_infos; i++) /* ... and those of the command lines */
        ttm__free(r->proc_infos[i].cmdline);
    ttm__free(r->proc_infos);
    r->proc_infos = NULL;
    r->nproc_infos = 0;
}

/* True when the rows flagged TTM_FF_PACKED (which ttm__schema_equal skips: the STACKS section
 * carries them) hold the same values at a and b, everywhere under rec; where names the first
 * that differs. Walks the tables, so a new packed row is covered without touching this. */
static bool packed_equal(const ttm_record *rec, const void *a, const void *b, char *where,
                         size_t len)
{
    const uint8_t *pa = a, *pb = b;
    for (size_t i = 0; i < rec->nfields; i++) {
        const ttm_field *f = &rec->fields[i];
        const uint8_t *x = pa + f->off, *y = pb + f->off;
        if (f->flags & TTM_FF_PACKED) {
            size_t n = f->csize;
            if (f->type == TTM_FT_ARR && (f->flags & TTM_FF_COUNTED)) {
                size_t c = (size_t)ttm__schema_get_uint(pa + f->count_off, f->count_size);
                n = (c < f->count ? c : f->count) * f->stride;
            }
            bool differ;
            if (f->type == TTM_FT_BOOL) {
                differ = *(const bool *)x != *(const bool *)y;
            } else if (f->type == TTM_FT_VSTR) { /* the strings, not the pointers */
                const char *sx, *sy;
                memcpy(&sx, x, sizeof sx);
                memcpy(&sy, y, sizeof sy);
                differ = (sx == NULL) != (sy == NULL) || (sx != NULL && strcmp(sx, sy) != 0);
            } else {
                differ = memcmp(x, y, n) != 0;
            }
            if (differ) {
                snprintf(where, len, "%s.%s", rec->name, f->name);
                return false;
            }
            continue;
        }
        if (f->type == TTM_FT_REC && !packed_equal(f->rec, x, y, where, len))
            return false;
        if (f->type == TTM_FT_ARR && f->elem == TTM_FT_REC)
            for (size_t k = 0; k < f->count; k++)
                if (!packed_equal(f->rec, x + k * f->stride, y + k * f->stride, where, len))
                    return false;
        if (f->type == TTM_FT_DYN) {
            size_t n = (size_t)ttm__schema_get_uint(pa + f->count_off, f->count_size);
            if (n != ttm__schema_get_uint(pb + f->count_off, f->count_size))
                continue; /* ttm__schema_equal says so */
            const uint8_t *ea, *eb;
            memcpy(&ea, x, sizeof ea);
            memcpy(&eb, y, sizeof eb);
            for (size_t k = 0; k < n; k++)
                if (!packed_equal(f->rec, ea + k * f->rec->size, eb + k * f->rec->size, where,
                                  len))
                    return false;
        }
    }
    return true;
}

/* A report filled as above, and its SNAPSHOT frame. */
static void filled_frame(ttm_report *r, ttm_bytes *b)
{
    fill_report(r);
    memset(b, 0, sizeof *b);
    assert_int_equal(ttm_report_encode(r, b), TTM_OK);
}

/* ---- tables ---------------------------------------------------------------------------------- */

static void test_tables_match_structs(void **state)
{
    (void)state;
    char msg[200];
    for (size_t i = 0; i < ttm_report_nrecords; i++) {
        bool ok = ttm__schema_check(ttm_report_records[i], msg, sizeof msg);
        if (!ok)
            fail_msg("%s", msg);
    }
    /* every section of the protocol is carried by some row of the report */
    ttm_report r;
    ttm_bytes b;
    filled_frame(&r, &b);
    ttm_report back;
    assert_int_equal(ttm_report_decode(b.data + TTM_SNAP_HDR_SIZE, b.len - TTM_SNAP_HDR_SIZE,
                                       &back, NULL, 0),
                     TTM_OK);
    assert_int_equal(back.sections, all_sections());
    ttm_report_clear(&back);
    ttm_report_clear(&r);
    ttm__bytes_free(&b);
}

/* A table missing a row, or two rows on one member, is refused. */
typedef struct two {
    uint32_t a;
    uint64_t b;
} two;

static void test_check_finds_missing_rows(void **state)
{
    (void)state;
    static const ttm_field missing[] = {{TTM_ROW(two, a, TTM_FT_U32)}};
    static const ttm_field twice[] = {{TTM_ROW(two, a, TTM_FT_U32)},
                                      {TTM_ROW(two, a, TTM_FT_U32)},
                                      {TTM_ROW(two, b, TTM_FT_U64)}};
    static const ttm_field wrong_type[] = {{TTM_ROW(two, a, TTM_FT_U64)},
                                           {TTM_ROW(two, b, TTM_FT_U64)}};
    static const ttm_field good[] = {{TTM_ROW(two, b, TTM_FT_U64)}, {TTM_ROW(two, a, TTM_FT_U32)}};
    const ttm_record r1 = TTM_RECORD(two, "two", "", missing);
    const ttm_record r2 = TTM_RECORD(two, "two", "", twice);
    const ttm_record r3 = TTM_RECORD(two, "two", "", wrong_type);
    const ttm_record r4 = TTM_RECORD(two, "two", "", good);
    char msg[200];
    assert_false(ttm__schema_check(&r1, msg, sizeof msg));
    assert_false(ttm__schema_check(&r2, msg, sizeof msg));
    assert_false(ttm__schema_check(&r3, msg, sizeof msg));
    assert_true(ttm__schema_check(&r4, msg, sizeof msg));
}

/* ---- the wire ------------------------------------------------------------------------------- */

static void test_wire_round_trip(void **state)
{
    (void)state;
    ttm_report r;
    fill_report(&r);
    /* zero elements of the sparse arrays travel as absent (wire form, common/schema.h) */
    ttm_proc_mem *pm = (ttm_proc_mem *)r.procs[0].stats.devices;
    memset(&pm[1].mem[2], 0, sizeof pm[1].mem[2]);
    r.devices[1].class_count[3] = 0;
    ttm_bytes b = {0};
    assert_int_equal(ttm_report_encode(&r, &b), TTM_OK);
    ttm_snap_frame fr;
    assert_int_equal(ttm__snap_decode_frame(b.data, b.len, &fr, NULL, 0), TTM_OK);
    assert_int_equal(fr.type, TTM_SNAP_MSG_SNAPSHOT);
    assert_int_equal(fr.length, b.len - TTM_SNAP_HDR_SIZE);
    ttm_report back;
    char msg[200];
    assert_int_equal(ttm_report_decode(b.data + TTM_SNAP_HDR_SIZE, fr.length, &back, msg,
                                       sizeof msg),
                     TTM_OK);
    char where[160];
    if (!ttm__schema_equal(&ttm_rec_report, &r, &back, 0, where, sizeof where))
        fail_msg("the wire changed %s", where);
    if (!packed_equal(&ttm_rec_report, &r, &back, where, sizeof where))
        fail_msg("the stacks section changed %s", where);
    assert_int_equal(back.packed.noffender_sites + back.packed.nleak_contexts +
                         back.packed.nlive_contexts,
                     0); /* put back, and freed */
    /* the packed rows are compared too: one of an offender's sites, a live buffer's scope */
    back.classes[5].offenders[1].sites[0].release_stack ^= 1;
    assert_false(packed_equal(&ttm_rec_report, &r, &back, where, sizeof where));
    assert_string_equal(where, "offender.sites");
    back.classes[5].offenders[1].sites[0].release_stack ^= 1;
    back.live[1].scope ^= 1;
    assert_false(packed_equal(&ttm_rec_report, &r, &back, where, sizeof where));
    assert_string_equal(where, "live.scope");
    back.live[1].scope ^= 1;
    /* and the comparison sees a change of any one field: the last one filled, and a nested one */
    back.totals.last_ts ^= 1;
    assert_false(ttm__schema_equal(&ttm_rec_report, &r, &back, 0, where, sizeof where));
    assert_string_equal(where, "totals.last_ts");
    back.totals.last_ts ^= 1;
    back.procs[1].stats.anomalies++;
    assert_false(ttm__schema_equal(&ttm_rec_report, &r, &back, 0, where, sizeof where));
    assert_string_equal(where, "proc_stats.anomalies");
    back.procs[1].stats.anomalies--;
    back.daemon.procs_dropped = 0;
    assert_false(ttm__schema_equal(&ttm_rec_report, &r, &back, 0, where, sizeof where));
    assert_string_equal(where, "daemon.procs_dropped");
    ttm_report_clear(&back);
    ttm_report_clear(&r);
    ttm__bytes_free(&b);
}

/* Each section alone decodes to exactly that section. */
static void test_wire_sections_alone(void **state)
{
    (void)state;
    ttm_report r;
    fill_report(&r);
    uint32_t all = r.sections;
    for (unsigned id = 1; id < 32; id++) {
        if (!(all & TTM_SNAP_BIT(id)))
            continue;
        r.sections = TTM_SNAP_BIT(id);
        ttm_bytes b = {0};
        assert_int_equal(ttm_report_encode(&r, &b), TTM_OK);
        ttm_report back;
        assert_int_equal(ttm_report_decode(b.data + TTM_SNAP_HDR_SIZE, b.len - TTM_SNAP_HDR_SIZE,
                                           &back, NULL, 0),
                         TTM_OK);
        assert_int_equal(back.sections, TTM_SNAP_BIT(id));
        char where[160];
        if (!ttm__schema_equal(&ttm_rec_report, &r, &back, id, where, sizeof where))
            fail_msg("section %s changed %s", ttm__snap_section_name(id), where);
        /* without STACKS, the packed rows stay 0: the section's records as an older peer
         * sends them */
        if (id == TTM_SNAP_SEC_FINDINGS) {
            assert_int_equal(back.classes[5].offenders[0].nsites, 0);
            assert_int_equal(back.leaks[0].stack, 0);
        }
        ttm_report_clear(&back);
        ttm__bytes_free(&b);
    }
    r.sections = all;
    ttm_report_clear(&r);
}

/* Every cut of a payload decodes to complete sections or is refused (EPROTO naming what);
 * damaged counts are refused without allocating what they claim. */
static void test_wire_cut_and_damaged(void **state)
{
    (void)state;
    ttm_report r;
    ttm_bytes b;
    filled_frame(&r, &b);
    const uint8_t *payload = b.data + TTM_SNAP_HDR_SIZE;
    size_t len = b.len - TTM_SNAP_HDR_SIZE;
    size_t refused = 0;
    for (size_t cut = 0; cut < len; cut++) {
        ttm_report back;
        char msg[200];
        int err = ttm_report_decode(payload, cut, &back, msg, sizeof msg);
        if (err == TTM_OK) {
            assert_true((back.sections & ~r.sections) == 0);
            ttm_report_clear(&back);
        } else {
            assert_int_equal(err, TTM_EPROTO);
            assert_true(msg[0] != '\0');
            refused++;
        }
    }
    assert_true(refused > len / 2);
    /* a device count that claims more than the bytes can hold */
    uint8_t *copy = ttm__malloc(len);
    assert_non_null(copy);
    memcpy(copy, payload, len);
    size_t at = 0;
    while (at + 8 <= len) { /* find the DEVICES section: its first u32 is the count */
        unsigned id = ttm__le16(copy + at);
        uint32_t slen = ttm__le32(copy + at + 4);
        if (id == TTM_SNAP_SEC_DEVICES) {
            ttm__put_le32(copy + at + 8, 0x7fffffffu);
            break;
        }
        at += 8 + slen;
    }
    ttm_report back;
    char msg[200];
    assert_int_equal(ttm_report_decode(copy, len, &back, msg, sizeof msg), TTM_EPROTO);
    assert_non_null(strstr(msg, "devices"));
    ttm__free(copy);
    ttm_report_clear(&r);
    ttm__bytes_free(&b);
}

/* A vstr: text, empty and NULL each round-trip as themselves; a length beyond the bytes left,
 * beyond TTM_SCHEMA_VSTR_MAX, or bytes holding a NUL are refused naming the row; a string
 * too long for the wire fails the encoder; free NULLs it. */
typedef struct named {
    uint32_t id;
    char *text;
} named;

static void test_wire_vstr(void **state)
{
    (void)state;
    static const ttm_field rows[] = {{TTM_ROW(named, id, TTM_FT_U32)},
                                     {TTM_ROW(named, text, TTM_FT_VSTR)}};
    const ttm_record rec = TTM_RECORD(named, "named", "", rows);
    char msg[200];
    assert_true(ttm__schema_check(&rec, msg, sizeof msg));
    assert_int_equal(ttm__schema_wire_min(&rec), 8);
    char text[] = "matmul", empty[] = "";
    char *const values[] = {text, empty, NULL};
    for (size_t i = 0; i < 3; i++) {
        named a = {.id = 7, .text = values[i]}, b = {0};
        ttm_bytes out = {0};
        ttm_bw w = ttm__bw_over(&out);
        ttm__schema_encode(&w, &rec, &a, 0);
        assert_int_equal(w.err, 0);
        assert_int_equal(out.len, 8 + (values[i] ? strlen(values[i]) : 0));
        assert_int_equal(ttm__le32(out.data + 4),
                         values[i] ? strlen(values[i]) : TTM_SCHEMA_VSTR_NULL);
        ttm_br r = ttm__br_over(out.data, out.len);
        assert_int_equal(ttm__schema_decode(&r, &rec, &b, 0), TTM_OK);
        assert_false(r.bad);
        assert_int_equal(ttm__br_left(&r), 0);
        char where[100];
        assert_true(ttm__schema_equal(&rec, &a, &b, 0, where, sizeof where));
        if (values[i] == NULL) {
            assert_null(b.text);
        } else {
            assert_non_null(b.text);
            assert_ptr_not_equal(b.text, values[i]);
        }
        ttm__schema_free(&rec, &b);
        assert_null(b.text);
        ttm__bytes_free(&out);
    }
    /* NULL and "" differ */
    named x = {.text = NULL}, y = {.text = empty};
    char where[100];
    assert_false(ttm__schema_equal(&rec, &x, &y, 0, where, sizeof where));
    assert_string_equal(where, "named.text");

    /* refused inputs */
    struct {
        uint8_t bytes[16];
        size_t len;
    } bad[] = {
        {{1, 0, 0, 0, 4, 0, 0, 0, 'a', 'b', 'c'}, 11},       /* 4 bytes said, 3 left */
        {{1, 0, 0, 0, 3, 0, 0, 0, 'a', 0, 'c'}, 11},         /* a NUL inside */
        {{1, 0, 0, 0, 0x01, 0x00, 0x01, 0x00, 'a'}, 9},      /* beyond the 64 KiB bound */
        {{1, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff}, 8},           /* 4 GiB - 2 */
        {{1, 0, 0, 0, 0xff, 0xff, 0xff}, 7},                 /* the length cut */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        named b = {0};
        ttm_br r = ttm__br_over(bad[i].bytes, bad[i].len);
        assert_int_equal(ttm__schema_decode(&r, &rec, &b, 0), TTM_OK);
        assert_true(r.bad);
        assert_string_equal(r.what, "text");
        assert_null(b.text);
    }
    /* exactly at the bound passes; one more does not leave the encoder */
    char *big = ttm__malloc(TTM_SCHEMA_VSTR_MAX + 2);
    assert_non_null(big);
    memset(big, 'x', TTM_SCHEMA_VSTR_MAX);
    big[TTM_SCHEMA_VSTR_MAX] = '\0';
    named a = {.text = big}, b = {0};
    ttm_bytes out = {0};
    ttm_bw w = ttm__bw_over(&out);
    ttm__schema_encode(&w, &rec, &a, 0);
    assert_int_equal(w.err, 0);
    ttm_br r = ttm__br_over(out.data, out.len);
    assert_int_equal(ttm__schema_decode(&r, &rec, &b, 0), TTM_OK);
    assert_false(r.bad);
    assert_int_equal(strlen(b.text), TTM_SCHEMA_VSTR_MAX);
    ttm__schema_free(&rec, &b);
    ttm__bytes_free(&out);
    big[TTM_SCHEMA_VSTR_MAX] = 'x';
    big[TTM_SCHEMA_VSTR_MAX + 1] = '\0';
    w = ttm__bw_over(&out);
    ttm__schema_encode(&w, &rec, &a, 0);
    assert_int_equal(w.err, TTM_ERANGE);
    ttm__bytes_free(&out);
    ttm__free(big);
}

/* Values a client chose (a memtype, an architecture) pass through whatever they are; a class
 * is the daemon's own and one without a name is refused. */
static void test_wire_values(void **state)
{
    (void)state;
    ttm_report r;
    fill_report(&r);
    r.live[0].memtype = 200;
    r.devices[0].arch = 77;
    ttm_bytes b = {0};
    assert_int_equal(ttm_report_encode(&r, &b), TTM_OK);
    ttm_report back;
    assert_int_equal(ttm_report_decode(b.data + TTM_SNAP_HDR_SIZE, b.len - TTM_SNAP_HDR_SIZE,
                                       &back, NULL, 0),
                     TTM_OK);
    assert_int_equal(back.live[0].memtype, 200);
    assert_int_equal(back.devices[0].arch, 77);
    ttm_report_clear(&back);
    ttm__bytes_free(&b);
    r.classes[5].offenders[0].cls = 99;
    assert_int_equal(ttm_report_encode(&r, &b), TTM_OK);
    char msg[200];
    assert_int_equal(ttm_report_decode(b.data + TTM_SNAP_HDR_SIZE, b.len - TTM_SNAP_HDR_SIZE,
                                       &back, msg, sizeof msg),
                     TTM_EPROTO);
    assert_non_null(strstr(msg, "cls"));
    ttm__bytes_free(&b);
    ttm_report_clear(&r);
}

/* A sparse array of records as a peer may send it: the reader that reads a record in place
 * (when its most bytes are left) and the one that goes row by row keep the same elements; a
 * newer peer's surplus elements are skipped; bits beyond the count are refused. */
static size_t proc_mem_wire(uint8_t *w, uint32_t count, const uint8_t *bits, unsigned present)
{
    size_t n = 0;
    ttm__put_le16(w, 5);
    ttm__put_le32(w + 2, count);
    n = 6;
    memcpy(w + n, bits, (count + 7) / 8);
    n += (count + 7) / 8;
    for (unsigned k = 0; k < present; k++)
        for (unsigned i = 0; i < sizeof(ttm_memstat) / 8; i++, n += 8)
            ttm__put_le64(w + n, 100u * (k + 1) + i);
    return n;
}

static void decode_proc_mem(const uint8_t *w, size_t len, size_t want_pos, ttm_proc_mem *out)
{
    ttm_br r = ttm__br_over(w, len);
    memset(out, 0, sizeof *out);
    assert_int_equal(ttm__schema_decode(&r, &ttm_rec_proc_mem, out, 0), TTM_OK);
    assert_false(r.bad);
    assert_int_equal(r.pos, want_pos);
}

static void test_wire_sparse_in_place(void **state)
{
    (void)state;
    static uint8_t w[1024]; /* zeros after the record: room to read it in place */
    const uint8_t mine[1] = {0x45}; /* memtypes 0, 2, 6 */
    size_t n = proc_mem_wire(w, TTM_MEMTYPE_COUNT, mine, 3);
    ttm_proc_mem a, b;
    decode_proc_mem(w, sizeof w, n, &a); /* in place */
    decode_proc_mem(w, n, n, &b);        /* row by row: no byte to spare */
    assert_memory_equal(&a, &b, sizeof a);
    assert_int_equal(a.device, 5);
    assert_int_equal(a.mem[0].live_bytes, 100);
    assert_int_equal(a.mem[2].live_bytes, 200);
    assert_int_equal(a.mem[6].frees, 305);
    assert_int_equal(a.mem[1].live_bytes, 0);
    /* a newer peer with 9 memtypes: the two this side does not know are skipped */
    const uint8_t newer[2] = {0x05, 0x01}; /* memtypes 0, 2 and 8 */
    memset(w, 0, sizeof w);
    n = proc_mem_wire(w, 9, newer, 3);
    decode_proc_mem(w, sizeof w, n, &a);
    decode_proc_mem(w, n, n, &b);
    assert_memory_equal(&a, &b, sizeof a);
    assert_int_equal(a.mem[2].live_bytes, 200);
    assert_int_equal(a.mem[6].live_bytes, 0);
    /* a bit beyond the count */
    const uint8_t beyond[1] = {0x81};
    memset(w, 0, sizeof w);
    n = proc_mem_wire(w, TTM_MEMTYPE_COUNT, beyond, 2);
    for (size_t len = n; len <= sizeof w; len += sizeof w - n) {
        ttm_br r = ttm__br_over(w, len);
        memset(&a, 0, sizeof a);
        assert_int_equal(ttm__schema_decode(&r, &ttm_rec_proc_mem, &a, 0), TTM_OK);
        assert_true(r.bad);
        assert_string_equal(r.what, "mem");
    }
}

/* ---- JSON: a small reader, and the walk that checks what it read ---------------------------- */

typedef enum jt { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } jt;

typedef struct jv {
    jt t;
    bool b;
    double num;
    char *s;            /* J_STR */
    struct jv *items;   /* J_ARR, J_OBJ */
    char **keys;        /* J_OBJ */
    size_t n;
} jv;

typedef struct jp {
    const char *p;
} jp;

static void ws(jp *j)
{
    while (*j->p == ' ' || *j->p == '\n' || *j->p == '\t' || *j->p == '\r')
        j->p++;
}

static char *jstr(jp *j)
{
    assert_int_equal(*j->p, '"');
    j->p++;
    size_t cap = 16, n = 0;
    char *s = malloc(cap);
    while (*j->p != '"') {
        assert_true(*j->p != '\0');
        char c = *j->p++;
        if (c == '\\') {
            c = *j->p++;
            c = c == 'n' ? '\n' : c == 't' ? '\t' : c;
        }
        if (n + 2 > cap)
            s = realloc(s, cap *= 2);
        s[n++] = c;
    }
    j->p++;
    s[n] = '\0';
    return s;
}

static void jparse(jp *j, jv *v)
{
    memset(v, 0, sizeof *v);
    ws(j);
    if (*j->p == '{' || *j->p == '[') {
        bool obj = *j->p == '{';
        v->t = obj ? J_OBJ : J_ARR;
        j->p++;
        ws(j);
        while (*j->p != (obj ? '}' : ']')) {
            v->items = realloc(v->items, (v->n + 1) * sizeof *v->items);
            if (obj) {
                v->keys = realloc(v->keys, (v->n + 1) * sizeof *v->keys);
                v->keys[v->n] = jstr(j);
                ws(j);
                assert_int_equal(*j->p, ':');
                j->p++;
            }
            jparse(j, &v->items[v->n++]);
            ws(j);
            if (*j->p == ',') {
                j->p++;
                ws(j);
            }
        }
        j->p++;
    } else if (*j->p == '"') {
        v->t = J_STR;
        v->s = jstr(j);
    } else if (strncmp(j->p, "true", 4) == 0 || strncmp(j->p, "false", 5) == 0) {
        v->t = J_BOOL;
        v->b = *j->p == 't';
        j->p += v->b ? 4 : 5;
    } else if (strncmp(j->p, "null", 4) == 0) {
        v->t = J_NULL;
        j->p += 4;
    } else {
        char *end;
        v->t = J_NUM;
        v->num = strtod(j->p, &end);
        assert_true(end != j->p);
        v->s = strndup(j->p, (size_t)(end - j->p)); /* the digits, for exact u64s */
        j->p = end;
    }
}

static void jfree(jv *v)
{
    for (size_t i = 0; i < v->n; i++) {
        jfree(&v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->s);
}

static const jv *jget(const jv *o, const char *key)
{
    assert_int_equal(o->t, J_OBJ);
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->keys[i], key) == 0)
            return &o->items[i];
    fail_msg("JSON key \"%s\" missing", key);
    return NULL;
}

static void check_json(const ttm_record *rec, const void *obj, const jv *o);

static void check_scalar(const ttm_field *f, ttm_ftype t, const uint8_t *p, const jv *v)
{
    if (t == TTM_FT_BOOL) {
        assert_int_equal(v->t, J_BOOL);
        assert_int_equal(v->b, *(const bool *)p);
        return;
    }
    if (t == TTM_FT_F64) {
        double d;
        memcpy(&d, p, sizeof d);
        assert_int_equal(v->t, J_NUM);
        assert_true(fabs(v->num - d) <= 1e-9 * fabs(d));
        return;
    }
    size_t w = t == TTM_FT_U8 ? 1 : t == TTM_FT_U16 ? 2 : t == TTM_FT_U32 ? 4 : 8;
    uint64_t x = ttm__schema_get_uint(p, w);
    if (f->values != NULL) {
        assert_int_equal(v->t, J_STR);
        assert_string_equal(v->s, f->values->label((unsigned)x));
    } else if (f->flags & TTM_FF_HEX) {
        assert_int_equal(v->t, J_STR);
        assert_int_equal(strtoull(v->s, NULL, 16), x);
    } else {
        assert_int_equal(v->t, J_NUM);
        assert_int_equal(strtoull(v->s, NULL, 10), x);
    }
}

static void check_elem(const ttm_field *f, const uint8_t *p, const jv *v)
{
    if (f->elem == TTM_FT_REC)
        check_json(f->rec, p, v);
    else
        check_scalar(f, f->elem, p, v);
}

static void check_json(const ttm_record *rec, const void *obj, const jv *o)
{
    const uint8_t *base = obj;
    for (size_t i = 0; i < rec->nfields; i++) {
        const ttm_field *f = &rec->fields[i];
        if (f->flags & TTM_FF_NOJSON)
            continue;
        const uint8_t *p = base + f->off;
        if (f->type == TTM_FT_REC && (f->flags & TTM_FF_FLAT)) {
            check_json(f->rec, p, o);
            continue;
        }
        const jv *v = jget(o, f->key ? f->key : f->name);
        switch (f->type) {
        case TTM_FT_STR:
            assert_int_equal(v->t, J_STR);
            assert_string_equal(v->s, (const char *)p);
            break;
        case TTM_FT_VSTR: {
            const char *str;
            memcpy(&str, p, sizeof str);
            if (str == NULL) {
                assert_int_equal(v->t, J_NULL);
            } else {
                assert_int_equal(v->t, J_STR);
                assert_string_equal(v->s, str);
            }
            break;
        }
        case TTM_FT_REC:
            check_json(f->rec, p, v);
            break;
        case TTM_FT_ARR:
            if (f->index != NULL) {
                assert_int_equal(v->t, J_OBJ);
                assert_int_equal(v->n, f->index->count);
                for (unsigned k = 0; k < f->index->count; k++)
                    check_elem(f, p + k * f->stride, jget(v, f->index->label(k)));
            } else {
                size_t n = (f->flags & TTM_FF_COUNTED)
                               ? (size_t)ttm__schema_get_uint(base + f->count_off, f->count_size)
                               : f->count;
                assert_int_equal(v->t, J_ARR);
                assert_int_equal(v->n, n);
                for (size_t k = 0; k < n; k++)
                    check_elem(f, p + k * f->stride, &v->items[k]);
            }
            break;
        case TTM_FT_DYN: {
            size_t n = (size_t)ttm__schema_get_uint(base + f->count_off, f->count_size);
            const uint8_t *arr;
            memcpy(&arr, p, sizeof arr);
            assert_int_equal(v->t, J_ARR);
            assert_int_equal(v->n, n);
            for (size_t k = 0; k < n; k++)
                check_json(f->rec, arr + k * f->rec->size, &v->items[k]);
            break;
        }
        default:
            check_scalar(f, f->type, p, v);
            break;
        }
    }
}

static void test_json_every_key_and_value(void **state)
{
    (void)state;
    ttm_report r;
    fill_report(&r);
    char *text = json_text(&ttm_rec_report, &r, true);
    jp p = {.p = text};
    jv doc;
    jparse(&p, &doc);
    check_json(&ttm_rec_report, &r, &doc);
    jfree(&doc);
    free(text);
    ttm_report_clear(&r);
}

/* ---- docs ------------------------------------------------------------------------------------ */

static void test_doc_lists_every_key(void **state)
{
    (void)state;
    for (size_t i = 0; i < ttm_report_nrecords; i++) {
        const ttm_record *rec = ttm_report_records[i];
        char *text = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&text, &len);
        ttm__schema_doc(out, rec);
        fclose(out);
        for (size_t k = 0; k < rec->nfields; k++) {
            const ttm_field *f = &rec->fields[k];
            if (f->flags & TTM_FF_NOJSON)
                continue;
            char key[80];
            snprintf(key, sizeof key, "| `%s` |", f->key ? f->key : f->name);
            if (strstr(text, key) == NULL)
                fail_msg("the doc of %s lacks %s", rec->name, key);
        }
        free(text);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tables_match_structs),
        cmocka_unit_test(test_check_finds_missing_rows),
        cmocka_unit_test(test_wire_round_trip),
        cmocka_unit_test(test_wire_sections_alone),
        cmocka_unit_test(test_wire_cut_and_damaged),
        cmocka_unit_test(test_wire_values),
        cmocka_unit_test(test_wire_vstr),
        cmocka_unit_test(test_wire_sparse_in_place),
        cmocka_unit_test(test_json_every_key_and_value),
        cmocka_unit_test(test_doc_lists_every_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
