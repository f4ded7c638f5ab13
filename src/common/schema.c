/*
 * schema.c — the walkers over record tables (schema.h): the consistency check, the wire
 * encoder and decoder, the JSON writer, the Markdown documentation and the type names they
 * share. Nothing here knows a record: every record's table lives beside its struct.
 */
#include "common/schema.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/util.h"
#include "ttmem/ttmem.h"

/* Bytes of a scalar type on the wire and in C (they are the same); 0 for the others. */
static size_t scalar_width(ttm_ftype t)
{
    switch (t) {
    case TTM_FT_U8:
    case TTM_FT_BOOL:
        return 1;
    case TTM_FT_U16:
        return 2;
    case TTM_FT_U32:
        return 4;
    case TTM_FT_U64:
    case TTM_FT_F64:
        return 8;
    default:
        return 0;
    }
}

static bool row_in(const ttm_field *f, unsigned section)
{
    return !(f->flags & TTM_FF_OFFWIRE) && (section == 0 || f->section == section);
}

uint64_t ttm__schema_get_uint(const void *p, size_t size)
{
    switch (size) {
    case 1:
        return *(const uint8_t *)p;
    case 2: {
        uint16_t v;
        memcpy(&v, p, 2);
        return v;
    }
    case 4: {
        uint32_t v;
        memcpy(&v, p, 4);
        return v;
    }
    default: {
        uint64_t v;
        memcpy(&v, p, 8);
        return v;
    }
    }
}

void ttm__schema_set_uint(void *p, size_t size, uint64_t v)
{
    switch (size) {
    case 1:
        *(uint8_t *)p = (uint8_t)v;
        break;
    case 2: {
        uint16_t x = (uint16_t)v;
        memcpy(p, &x, 2);
        break;
    }
    case 4: {
        uint32_t x = (uint32_t)v;
        memcpy(p, &x, 4);
        break;
    }
    default:
        memcpy(p, &v, 8);
        break;
    }
}

/* ---- check ----------------------------------------------------------------------------------- */

static size_t rec_align(const ttm_record *rec);

/* The alignment the C ABI gives a member of this row's type. */
static size_t field_align(const ttm_field *f)
{
    switch (f->type) {
    case TTM_FT_STR:
        return 1;
    case TTM_FT_REC:
        return rec_align(f->rec);
    case TTM_FT_ARR:
        return f->elem == TTM_FT_REC ? rec_align(f->rec) : scalar_width(f->elem);
    case TTM_FT_DYN:
        return _Alignof(void *);
    case TTM_FT_VSTR:
        return _Alignof(char *);
    default:
        return scalar_width(f->type);
    }
}

static size_t rec_align(const ttm_record *rec)
{
    size_t a = 1;
    for (size_t i = 0; i < rec->nfields; i++)
        if (field_align(&rec->fields[i]) > a)
            a = field_align(&rec->fields[i]);
    return a;
}

static size_t round_up(size_t v, size_t a)
{
    return a > 1 ? (v + a - 1) / a * a : v;
}

/* Every member has a row: laid out in offset order, each row starts where the previous one
 * ended plus at most its alignment's padding, and the last one ends where the struct does
 * (plus its padding). A member without a row leaves a gap that padding cannot explain. */
static bool check_coverage(const ttm_record *rec, char *msg, size_t msg_len)
{
    size_t pos = 0, done = 0;
    while (done < rec->nfields) {
        const ttm_field *next = NULL; /* the row of the lowest offset not yet seen */
        for (size_t i = 0; i < rec->nfields; i++) {
            const ttm_field *f = &rec->fields[i];
            if (f->off >= pos && (next == NULL || f->off < next->off))
                next = f;
        }
        if (next == NULL || next->off != round_up(pos, field_align(next))) {
            ttm__set_msg(msg, msg_len, "record %s: the bytes before row %s have no row (or two "
                                       "rows share a member)",
                         rec->name, next ? next->name : "(end)");
            return false;
        }
        pos = next->off + next->csize;
        done++;
    }
    if (round_up(pos, rec_align(rec)) != rec->size) {
        ttm__set_msg(msg, msg_len, "record %s: the members after its last row have no row",
                     rec->name);
        return false;
    }
    return true;
}

bool ttm__schema_check(const ttm_record *rec, char *msg, size_t msg_len)
{
    if (rec->nfields > TTM_SCHEMA_MAX_ROWS) {
        ttm__set_msg(msg, msg_len, "record %s: %zu rows, more than the %u a plan holds",
                     rec->name, rec->nfields, TTM_SCHEMA_MAX_ROWS);
        return false;
    }
    for (size_t i = 0; i < rec->nfields; i++) {
        const ttm_field *f = &rec->fields[i];
        size_t want = 0;
        const char *why = NULL;
        switch (f->type) {
        case TTM_FT_STR:
            want = f->csize; /* any length; at least the NUL */
            if (f->csize < 1)
                why = "an empty string";
            break;
        case TTM_FT_REC:
            want = f->rec ? f->rec->size : 0;
            if (f->rec == NULL)
                why = "a nested record without its table";
            break;
        case TTM_FT_ARR: {
            size_t ew = f->elem == TTM_FT_REC ? (f->rec ? f->rec->size : 0) : scalar_width(f->elem);
            want = f->count * f->stride;
            if (ew == 0 || ew != f->stride)
                why = "an array whose element type does not match its element size";
            else if (f->index != NULL && f->index->count > f->count)
                why = "an array smaller than its index enumeration";
            else if ((f->flags & TTM_FF_COUNTED) &&
                     (f->count_size == 0 || f->count_size > 8 ||
                      f->count_off + f->count_size > rec->size))
                why = "a counted array whose count is not an integer member";
            break;
        }
        case TTM_FT_DYN:
            want = sizeof(void *);
            if (f->rec == NULL)
                why = "a dynamic array without its element table";
            else if (f->count_size != sizeof(size_t) || f->count_off + f->count_size > rec->size)
                why = "a dynamic array whose count is not a size_t member";
            break;
        case TTM_FT_VSTR:
            want = sizeof(char *);
            break;
        default:
            want = scalar_width(f->type);
            break;
        }
        if (why == NULL && want != f->csize)
            why = "a type whose size differs from the member's";
        if (why == NULL && f->off + f->csize > rec->size)
            why = "a member outside the struct";
        if (why != NULL) {
            ttm__set_msg(msg, msg_len, "record %s, row %s: %s", rec->name, f->name, why);
            return false;
        }
        if ((f->type == TTM_FT_REC || f->type == TTM_FT_DYN ||
             (f->type == TTM_FT_ARR && f->elem == TTM_FT_REC)) &&
            !ttm__schema_check(f->rec, msg, msg_len))
            return false;
    }
    return check_coverage(rec, msg, msg_len);
}

static size_t wire_min_of(const ttm_record *rec);

size_t ttm__schema_wire_min(const ttm_record *rec)
{
    if (rec->memo == NULL)
        return wire_min_of(rec);
    size_t m = atomic_load_explicit(&rec->memo->wire_min1, memory_order_relaxed);
    if (m == 0) {
        m = wire_min_of(rec) + 1;
        atomic_store_explicit(&rec->memo->wire_min1, m, memory_order_relaxed);
    }
    return m - 1;
}

static size_t wire_min_of(const ttm_record *rec)
{
    size_t n = 0;
    for (size_t i = 0; i < rec->nfields; i++) {
        const ttm_field *f = &rec->fields[i];
        if (f->flags & TTM_FF_OFFWIRE)
            continue;
        switch (f->type) {
        case TTM_FT_STR:
            n += f->csize;
            break;
        case TTM_FT_REC:
            n += ttm__schema_wire_min(f->rec);
            break;
        case TTM_FT_ARR:
        case TTM_FT_DYN:
        case TTM_FT_VSTR:
            n += 4;
            break;
        default:
            n += scalar_width(f->type);
            break;
        }
    }
    return n;
}

/* ---- wire: the plan ------------------------------------------------------------------------- */

static bool all_zero(const uint8_t *p, size_t n)
{
    uint64_t acc = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, p + i, 8);
        acc |= v;
    }
    for (; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

/* True when every row of rec is a scalar or a string: its wire form has one size and is written
 * and read in one reservation (the bulk of a snapshot: memstats, live buffers), and nothing
 * under it is allocated. */
static inline bool rec_flat(const ttm_record *rec)
{
    int known = rec->memo ? atomic_load_explicit(&rec->memo->flat, memory_order_relaxed) : 0;
    if (known != 0)
        return known == 1;
    bool flat = true;
    for (size_t i = 0; i < rec->nfields; i++) {
        const ttm_field *f = &rec->fields[i];
        if (f->type == TTM_FT_REC || f->type == TTM_FT_ARR || f->type == TTM_FT_DYN ||
            f->type == TTM_FT_VSTR)
            flat = false;
    }
    if (rec->memo != NULL)
        atomic_store_explicit(&rec->memo->flat, flat ? 1 : 2, memory_order_relaxed);
    return flat;
}

/* True when a scalar of type t (row flags) is stored as its wire form: an integer or f64 on a
 * little-endian host that a decoder does not check (bools are, so are enumerations' values). */
static bool raw_scalar(ttm_ftype t, unsigned flags)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return scalar_width(t) > 0 && t != TTM_FT_BOOL && !(flags & TTM_FF_CHECKED);
#else
    (void)t;
    (void)flags;
    return false;
#endif
}

/* True when rec's struct holds exactly its wire form: a flat record of integers without an
 * enumeration to check, laid out in row order without padding, on a little-endian host. Its
 * wire form is then copied as it is. */
static bool rec_same(const ttm_record *rec)
{
    int known = rec->memo ? atomic_load_explicit(&rec->memo->same, memory_order_relaxed) : 0;
    if (known != 0)
        return known == 1;
    bool same = rec_flat(rec);
    size_t pos = 0;
    for (size_t i = 0; same && i < rec->nfields; i++) {
        const ttm_field *f = &rec->fields[i];
        if ((f->flags & TTM_FF_OFFWIRE) || f->off != pos || !raw_scalar(f->type, f->flags))
            same = false;
        pos += f->csize;
    }
    same = same && pos == rec->size;
    if (rec->memo != NULL)
        atomic_store_explicit(&rec->memo->same, same ? 1 : 2, memory_order_relaxed);
    return same;
}

/* The steps of a plan. A run is rows next to each other in the table and in the struct, each
 * stored as its wire form (raw_scalar), of one section: one copy on either side. */
enum { PLAN_RUN, PLAN_SCALAR, PLAN_STR, PLAN_REC, PLAN_ARR, PLAN_DYN, PLAN_VSTR };

typedef struct ttm_record_plan plan;

static size_t arr_raw_bound(const ttm_field *f, const ttm_plan_op *op);

static const plan *plan_slow(const ttm_record *rec, plan *local);

static inline const plan *plan_of(const ttm_record *rec, plan *local)
{
    ttm_record_memo *m = rec->memo;
    if (m != NULL && atomic_load_explicit(&m->plan_state, memory_order_acquire) == 2)
        return &m->plan;
    return plan_slow(rec, local);
}

/* True when freeing rec walks something: a dyn array or a vstr lies under it. */
static bool rec_owns(const ttm_record *rec)
{
    plan local;
    return plan_of(rec, &local)->owns;
}

static void plan_compile(const ttm_record *rec, plan *pl)
{
    if (rec->nfields > TTM_SCHEMA_MAX_ROWS)
        abort(); /* a table ttm__schema_check refuses */
    memset(pl, 0, sizeof *pl);
    for (size_t i = 0; i < rec->nfields; i++) {
        const ttm_field *f = &rec->fields[i];
        if (f->type == TTM_FT_DYN || f->type == TTM_FT_VSTR ||
            ((f->type == TTM_FT_REC || (f->type == TTM_FT_ARR && f->elem == TTM_FT_REC)) &&
             rec_owns(f->rec)))
            pl->owns = true;
        if (f->flags & TTM_FF_OFFWIRE)
            continue;
        if (f->type == TTM_FT_ARR && (f->flags & TTM_FF_COUNTED))
            pl->counted = true;
        ttm_plan_op *last = pl->nops > 0 ? &pl->ops[pl->nops - 1] : NULL;
        if (raw_scalar(f->type, f->flags) && last != NULL && last->kind == PLAN_RUN &&
            last->section == f->section && last->off + last->len == f->off) {
            last->len += (uint32_t)f->csize;
            continue;
        }
        ttm_plan_op *op = &pl->ops[pl->nops++];
        op->row = (uint16_t)i;
        op->section = (uint8_t)f->section;
        op->off = (uint32_t)f->off;
        switch (f->type) {
        case TTM_FT_STR:
            op->kind = PLAN_STR;
            break;
        case TTM_FT_REC:
            op->kind = PLAN_REC;
            break;
        case TTM_FT_ARR:
            op->kind = PLAN_ARR;
            if (f->elem == TTM_FT_REC ? rec_same(f->rec) : raw_scalar(f->elem, f->flags))
                op->len = (uint32_t)f->stride;
            break;
        case TTM_FT_DYN:
            op->kind = PLAN_DYN;
            break;
        case TTM_FT_VSTR:
            op->kind = PLAN_VSTR;
            break;
        default:
            op->kind = raw_scalar(f->type, f->flags) ? PLAN_RUN : PLAN_SCALAR;
            op->len = (uint32_t)f->csize;
            break;
        }
    }
    for (unsigned i = 0; i < pl->nops; i++) {
        const ttm_plan_op *op = &pl->ops[i];
        if (op->kind == PLAN_RUN) {
            pl->bound += op->len;
        } else if (op->kind == PLAN_ARR && op->len != 0) {
            pl->bound += arr_raw_bound(&rec->fields[op->row], op);
        } else {
            pl->bound = 0;
            break;
        }
    }
}

/* rec's plan: compiled once and kept in its memo; until it is there, the one compiled into
 * local. */
static const plan *plan_slow(const ttm_record *rec, plan *local)
{
    ttm_record_memo *m = rec->memo;
    plan_compile(rec, local);
    int none = 0;
    if (m != NULL && atomic_compare_exchange_strong(&m->plan_state, &none, 1)) {
        m->plan = *local;
        atomic_store_explicit(&m->plan_state, 2, memory_order_release);
    }
    return local;
}

/* ---- wire: encoding -------------------------------------------------------------------------- */

static void enc_scalar(ttm_bw *w, ttm_ftype t, const uint8_t *p)
{
    switch (t) {
    case TTM_FT_U8:
        ttm__bw_u8(w, *p);
        break;
    case TTM_FT_BOOL:
        ttm__bw_u8(w, *(const bool *)p ? 1 : 0);
        break;
    case TTM_FT_U16:
        ttm__bw_u16(w, (uint16_t)ttm__schema_get_uint(p, 2));
        break;
    case TTM_FT_U32:
        ttm__bw_u32(w, (uint32_t)ttm__schema_get_uint(p, 4));
        break;
    default: /* u64, f64: the bits */
        ttm__bw_u64(w, ttm__schema_get_uint(p, 8));
        break;
    }
}

/* One scalar at q, at its width (constant widths: no call for the copy); returns q after it. */
static uint8_t *put_scalar(uint8_t *q, ttm_ftype t, const uint8_t *p)
{
    switch (t) {
    case TTM_FT_U8:
        *q = *p;
        return q + 1;
    case TTM_FT_U16:
        ttm__put_le16(q, (uint16_t)ttm__schema_get_uint(p, 2));
        return q + 2;
    case TTM_FT_U32:
        ttm__put_le32(q, (uint32_t)ttm__schema_get_uint(p, 4));
        return q + 4;
    default:
        ttm__put_le64(q, ttm__schema_get_uint(p, 8));
        return q + 8;
    }
}

static void encode_flat(ttm_bw *w, const ttm_record *rec, const uint8_t *base)
{
    if (rec_same(rec)) {
        ttm__bw_bytes(w, base, rec->size);
        return;
    }
    uint8_t *q = ttm__bw_room(w, ttm__schema_wire_min(rec));
    if (q == NULL)
        return;
    for (size_t i = 0; i < rec->nfields; i++) {
        const ttm_field *f = &rec->fields[i];
        if (f->flags & TTM_FF_OFFWIRE)
            continue;
        const uint8_t *p = base + f->off;
        if (f->type == TTM_FT_STR) {
            size_t k = strnlen((const char *)p, f->csize - 1);
            memcpy(q, p, k);
            memset(q + k, 0, f->csize - k);
            q += f->csize;
        } else if (f->type == TTM_FT_BOOL) {
            *q++ = *(const bool *)p ? 1 : 0;
        } else {
            q = put_scalar(q, f->type, p);
        }
    }
}

/* Copies an element of n bytes from p to q; returns false (q then holds garbage) when it is all
 * zero. Elements of whole words are copied and tested in one pass. */
static bool copy_nonzero(uint8_t *q, const uint8_t *p, size_t n)
{
    if (n % 8 != 0) {
        memcpy(q, p, n);
        return !all_zero(p, n);
    }
    uint64_t acc = 0;
    for (size_t i = 0; i < n; i += 8) {
        uint64_t v;
        memcpy(&v, p + i, 8);
        memcpy(q + i, &v, 8);
        acc |= v;
    }
    return acc != 0;
}

/* An arr row: its count, a sparse one's bitmap, its elements. Elements whose struct is their
 * wire form (op->len) go out in one reservation, a sparse array's zero elements taken back. */
static uint8_t *put_arr_raw(uint8_t *q, const ttm_field *f, const ttm_plan_op *op,
                            const uint8_t *p)
{
    ttm__put_le32(q, (uint32_t)f->count);
    q += 4;
    if (!(f->flags & TTM_FF_SPARSE)) {
        memcpy(q, p, f->count * op->len);
        return q + f->count * op->len;
    }
    uint8_t *bits = q;
    size_t nb = (f->count + 7) / 8;
    for (size_t b = 0; b < nb; b++)
        bits[b] = 0;
    q += nb;
    for (size_t k = 0; k < f->count; k++)
        if (copy_nonzero(q, p + k * f->stride, op->len)) {
            bits[k / 8] |= (uint8_t)(1u << (k % 8));
            q += op->len;
        }
    return q;
}

/* The most bytes an arr of raw elements writes. */
static size_t arr_raw_bound(const ttm_field *f, const ttm_plan_op *op)
{
    return 4 + ((f->flags & TTM_FF_SPARSE) ? (f->count + 7) / 8 : 0) + f->count * op->len;
}

/* Gives back the room reserved beyond q (a sparse array's zero elements). */
static void bw_trim(ttm_bw *w, const uint8_t *q)
{
    w->b->len = (size_t)(q - w->b->data);
}

static void encode_arr(ttm_bw *w, const ttm_field *f, const ttm_plan_op *op, const uint8_t *p)
{
    bool sparse = (f->flags & TTM_FF_SPARSE) != 0;
    size_t nb = sparse ? (f->count + 7) / 8 : 0;
    if (op->len != 0) {
        uint8_t *q = ttm__bw_room(w, arr_raw_bound(f, op));
        if (q != NULL)
            bw_trim(w, put_arr_raw(q, f, op, p));
        return;
    }
    uint8_t bits[nb > 0 ? nb : 1];
    if (sparse) {
        memset(bits, 0, nb);
        for (size_t k = 0; k < f->count; k++)
            if (!all_zero(p + k * f->stride, f->stride))
                bits[k / 8] |= (uint8_t)(1u << (k % 8));
    }
    ttm__bw_u32(w, (uint32_t)f->count);
    if (nb > 0)
        ttm__bw_bytes(w, bits, nb);
    for (size_t k = 0; k < f->count; k++) {
        if (sparse && !(bits[k / 8] & (1u << (k % 8))))
            continue;
        if (f->elem == TTM_FT_REC)
            ttm__schema_encode(w, f->rec, p + k * f->stride, 0);
        else
            enc_scalar(w, f->elem, p + k * f->stride);
    }
}

/* A vstr member at p: its length and bytes, or the NULL length. */
static void encode_vstr(ttm_bw *w, const uint8_t *p)
{
    const char *str;
    memcpy(&str, p, sizeof str);
    if (str == NULL) {
        ttm__bw_u32(w, TTM_SCHEMA_VSTR_NULL);
        return;
    }
    size_t n = strlen(str);
    if (n > TTM_SCHEMA_VSTR_MAX) {
        ttm__bw_fail(w, TTM_ERANGE);
        return;
    }
    ttm__bw_u32(w, (uint32_t)n);
    ttm__bw_bytes(w, str, n);
}

/* The wire form of a record of runs and raw arrays (pl->bound) at q; returns q after it. */
static uint8_t *put_bounded(uint8_t *q, const ttm_record *rec, const plan *pl,
                            const uint8_t *base)
{
    for (unsigned i = 0; i < pl->nops; i++) {
        const ttm_plan_op *op = &pl->ops[i];
        if (op->kind == PLAN_RUN) {
            memcpy(q, base + op->off, op->len);
            q += op->len;
        } else {
            q = put_arr_raw(q, &rec->fields[op->row], op, base + op->off);
        }
    }
    return q;
}

void ttm__schema_encode(ttm_bw *w, const ttm_record *rec, const void *obj, unsigned section)
{
    const uint8_t *base = obj;
    if (section == 0 && rec_flat(rec)) {
        encode_flat(w, rec, base);
        return;
    }
    plan local;
    const plan *pl = plan_of(rec, &local);
    if (section == 0 && pl->bound != 0) { /* runs and raw arrays: one reservation */
        uint8_t *q = ttm__bw_room(w, pl->bound);
        if (q != NULL)
            bw_trim(w, put_bounded(q, rec, pl, base));
        return;
    }
    for (unsigned i = 0; i < pl->nops && w->err == 0; i++) {
        const ttm_plan_op *op = &pl->ops[i];
        if (section != 0 && op->section != section)
            continue;
        const ttm_field *f = &rec->fields[op->row];
        const uint8_t *p = base + op->off;
        switch (op->kind) {
        case PLAN_RUN: {
            uint8_t *q = ttm__bw_room(w, op->len);
            if (q != NULL)
                memcpy(q, p, op->len);
            break;
        }
        case PLAN_STR: {
            char s[f->csize]; /* the string up to its NUL, whatever follows it in the member */
            memcpy(s, p, f->csize);
            s[f->csize - 1] = '\0';
            ttm__bw_str(w, s, f->csize);
            break;
        }
        case PLAN_REC:
            ttm__schema_encode(w, f->rec, p, 0);
            break;
        case PLAN_VSTR:
            encode_vstr(w, p);
            break;
        case PLAN_ARR:
            encode_arr(w, f, op, p);
            break;
        case PLAN_DYN: {
            size_t n = (size_t)ttm__schema_get_uint(base + f->count_off, f->count_size);
            const uint8_t *arr;
            memcpy(&arr, p, sizeof arr);
            if (n > UINT32_MAX) {
                ttm__bw_fail(w, TTM_ERANGE);
                break;
            }
            ttm__bw_u32(w, (uint32_t)n);
            plan el_local;
            const plan *el = rec_flat(f->rec) ? NULL : plan_of(f->rec, &el_local);
            size_t room;
            if (el != NULL && el->bound != 0 && n > 0 &&
                !__builtin_mul_overflow(n, el->bound, &room)) { /* all of them in one */
                uint8_t *q = ttm__bw_room(w, room);
                for (size_t k = 0; q != NULL && k < n; k++)
                    q = put_bounded(q, f->rec, el, arr + k * f->rec->size);
                if (q != NULL)
                    bw_trim(w, q);
                break;
            }
            for (size_t k = 0; k < n && w->err == 0; k++)
                ttm__schema_encode(w, f->rec, arr + k * f->rec->size, 0);
            break;
        }
        default:
            enc_scalar(w, f->type, p);
            break;
        }
    }
}

/* ---- wire: decoding -------------------------------------------------------------------------- */

static void dec_scalar(ttm_br *r, const ttm_field *f, ttm_ftype t, uint8_t *p)
{
    const char *what = f->name;
    uint64_t v;
    switch (t) {
    case TTM_FT_BOOL:
        *(bool *)p = ttm__br_bool(r, what);
        return;
    case TTM_FT_U8:
        v = ttm__br_u8(r, what);
        break;
    case TTM_FT_U16:
        v = ttm__br_u16(r, what);
        break;
    case TTM_FT_U32:
        v = ttm__br_u32(r, what);
        break;
    default:
        v = ttm__br_u64(r, what);
        break;
    }
    if ((f->flags & TTM_FF_CHECKED) && !r->bad && f->values->label((unsigned)v)[0] == '?')
        ttm__br_fail(r, what); /* not a value of its enumeration */
    ttm__schema_set_uint(p, scalar_width(t), v);
}

/* Skips one element of type t (an arr's surplus) without storing it. */
static void skip_elem(ttm_br *r, const ttm_field *f)
{
    if (f->elem == TTM_FT_REC) {
        uint8_t tmp[f->rec->size];
        memset(tmp, 0, sizeof tmp);
        if (ttm__schema_decode(r, f->rec, tmp, 0) != TTM_OK)
            ttm__br_fail(r, f->name);
        ttm__schema_free(f->rec, tmp);
    } else {
        (void)ttm__br_take(r, scalar_width(f->elem), f->name);
    }
}

static void decode_flat(ttm_br *r, const ttm_record *rec, uint8_t *base)
{
    const uint8_t *q = ttm__br_take(r, ttm__schema_wire_min(rec), rec->name);
    if (q == NULL)
        return;
    if (rec_same(rec)) {
        memcpy(base, q, rec->size);
        return;
    }
    for (size_t i = 0; i < rec->nfields; i++) {
        const ttm_field *f = &rec->fields[i];
        if (f->flags & TTM_FF_OFFWIRE)
            continue;
        uint8_t *p = base + f->off;
        if (f->type == TTM_FT_STR) {
            memcpy(p, q, f->csize - 1);
            p[f->csize - 1] = '\0';
            q += f->csize;
            continue;
        }
        if (f->type == TTM_FT_BOOL) {
            if (*q > 1)
                ttm__br_fail(r, f->name);
            *(bool *)p = *q++ == 1;
            continue;
        }
        size_t n = scalar_width(f->type);
        uint64_t v = n == 8 ? ttm__le64(q) : n == 4 ? ttm__le32(q) : n == 2 ? ttm__le16(q) : *q;
        q += n;
        if ((f->flags & TTM_FF_CHECKED) && f->values->label((unsigned)v)[0] == '?')
            ttm__br_fail(r, f->name); /* not a value of its enumeration */
        ttm__schema_set_uint(p, n, v);
    }
}

/* A run's bytes; when they are not all there, the row they run out in is named. */
static void decode_run(ttm_br *r, const ttm_record *rec, const ttm_plan_op *op, uint8_t *p)
{
    if (!r->bad && r->len - r->pos >= op->len) {
        memcpy(p, ttm__br_take(r, op->len, rec->fields[op->row].name), op->len);
        return;
    }
    size_t left = ttm__br_left(r), row = op->row;
    while (row + 1 < rec->nfields &&
           ((rec->fields[row].flags & TTM_FF_OFFWIRE) || rec->fields[row].csize <= left)) {
        if (!(rec->fields[row].flags & TTM_FF_OFFWIRE))
            left -= rec->fields[row].csize;
        row++;
    }
    ttm__br_fail(r, rec->fields[row].name);
}

/* Copies the first n elements of a sparse array present in bits (len bytes each, one after
 * another at q) to their places (stride apart at p): each run of present elements in one copy.
 * Returns q after them. */
static inline const uint8_t *copy_present(uint8_t *p, size_t stride, const uint8_t *q,
                                          size_t len, const uint8_t *bits, size_t n)
{
    for (size_t k0 = 0; k0 < n; k0 += 64) {
        size_t nbits = n - k0 < 64 ? n - k0 : 64;
        uint64_t x = nbits <= 8 ? bits[k0 / 8]
                                : ttm__get_le(bits + k0 / 8, (unsigned)((nbits + 7) / 8));
        if (nbits < 64)
            x &= (1ull << nbits) - 1;
        while (x != 0) {
            unsigned at = (unsigned)__builtin_ctzll(x);
            uint64_t y = ~(x >> at);
            unsigned run = y == 0 ? 64 - at : (unsigned)__builtin_ctzll(y);
            memcpy(p + (k0 + at) * stride, q, run * len);
            q += run * len;
            x = at + run >= 64 ? 0 : x & (~0ull << (at + run));
        }
    }
    return q;
}

/* An arr row (see encode_arr). */
static int decode_arr(ttm_br *r, const ttm_field *f, const ttm_plan_op *op, uint8_t *p)
{
    const uint8_t *bits = NULL;
    size_t n, present;
    if (f->flags & TTM_FF_SPARSE) { /* the bitmap bounds the count */
        n = ttm__br_u32(r, f->name);
        size_t nb = n / 8 + (n % 8 != 0);
        bits = ttm__br_take(r, nb, f->name);
        if (bits != NULL && n % 8 != 0 && (bits[n / 8] >> (n % 8)) != 0)
            ttm__br_fail(r, f->name); /* bits beyond the count */
        present = 0;
        for (size_t b = 0; bits != NULL && b < nb; b++)
            for (unsigned x = bits[b]; x != 0; x &= x - 1)
                present++;
    } else {
        size_t emin = op->len != 0             ? op->len
                      : f->elem == TTM_FT_REC ? ttm__schema_wire_min(f->rec)
                                              : scalar_width(f->elem);
        n = present = ttm__br_count(r, emin, f->name);
    }
    if (r->bad)
        return TTM_OK;
    if (op->len != 0) { /* the elements' bytes are their structs: one take */
        size_t bytes;
        if (__builtin_mul_overflow(present, (size_t)op->len, &bytes)) {
            ttm__br_fail(r, f->name);
            return TTM_OK;
        }
        const uint8_t *q = ttm__br_take(r, bytes, f->name);
        if (q == NULL)
            return TTM_OK;
        if (bits == NULL) {
            memcpy(p, q, (n < f->count ? n : f->count) * op->len);
            return TTM_OK;
        }
        size_t keep = n < f->count ? n : f->count; /* the surplus is skipped: q is past it */
        copy_present(p, f->stride, q, op->len, bits, keep);
        return TTM_OK;
    }
    int err = TTM_OK;
    for (size_t k = 0; k < n && !r->bad && err == TTM_OK; k++) {
        if (bits != NULL && !(bits[k / 8] & (1u << (k % 8))))
            continue;
        if (k >= f->count)
            skip_elem(r, f);
        else if (f->elem == TTM_FT_REC)
            err = ttm__schema_decode(r, f->rec, p + k * f->stride, 0);
        else
            dec_scalar(r, f, f->elem, p + k * f->stride);
    }
    return err;
}

/* A record of runs and raw arrays (pl->bound) whose arrays have this side's counts, read in
 * place when its most bytes are left: one take at the end. Returns false, having taken
 * nothing, when the input is another shape (a peer's other counts, bits beyond the count):
 * the step by step walk then reads it and says what is wrong. */
static bool decode_bounded(ttm_br *r, const ttm_record *rec, const plan *pl, uint8_t *base)
{
    if (r->bad || r->len - r->pos < pl->bound)
        return false;
    const uint8_t *q0 = r->p + r->pos, *q = q0;
    for (unsigned i = 0; i < pl->nops; i++) {
        const ttm_plan_op *op = &pl->ops[i];
        uint8_t *p = base + op->off;
        if (op->kind == PLAN_RUN) {
            memcpy(p, q, op->len);
            q += op->len;
            continue;
        }
        const ttm_field *f = &rec->fields[op->row];
        if (ttm__le32(q) != f->count)
            return false;
        q += 4;
        if (!(f->flags & TTM_FF_SPARSE)) {
            memcpy(p, q, f->count * op->len);
            q += f->count * op->len;
            continue;
        }
        const uint8_t *bits = q;
        q += (f->count + 7) / 8;
        if (f->count % 8 != 0 && (bits[f->count / 8] >> (f->count % 8)) != 0)
            return false;
        q = copy_present(p, f->stride, q, op->len, bits, f->count);
    }
    (void)ttm__br_take(r, (size_t)(q - q0), rec->name);
    return true;
}

/* A vstr into the member at p (NULL before): bounded by what is left and by
 * TTM_SCHEMA_VSTR_MAX, without a NUL inside. */
static int decode_vstr(ttm_br *r, const ttm_field *f, uint8_t *p)
{
    uint32_t n = ttm__br_u32(r, f->name);
    if (r->bad || n == TTM_SCHEMA_VSTR_NULL)
        return TTM_OK;
    if (n > TTM_SCHEMA_VSTR_MAX) {
        ttm__br_fail(r, f->name);
        return TTM_OK;
    }
    const uint8_t *q = ttm__br_take(r, n, f->name);
    if (q == NULL)
        return TTM_OK;
    if (memchr(q, '\0', n) != NULL) {
        ttm__br_fail(r, f->name);
        return TTM_OK;
    }
    char *str = ttm__malloc((size_t)n + 1);
    if (str == NULL)
        return TTM_ENOMEM;
    memcpy(str, q, n);
    str[n] = '\0';
    memcpy(p, &str, sizeof str);
    return TTM_OK;
}

int ttm__schema_decode(ttm_br *r, const ttm_record *rec, void *obj, unsigned section)
{
    uint8_t *base = obj;
    if (section == 0 && rec_flat(rec)) {
        decode_flat(r, rec, base);
        return TTM_OK;
    }
    plan local;
    const plan *pl = plan_of(rec, &local);
    if (section == 0 && pl->bound != 0 && !pl->counted && decode_bounded(r, rec, pl, base))
        return TTM_OK;
    for (unsigned i = 0; i < pl->nops && !r->bad; i++) {
        const ttm_plan_op *op = &pl->ops[i];
        if (section != 0 && op->section != section)
            continue;
        const ttm_field *f = &rec->fields[op->row];
        uint8_t *p = base + op->off;
        int err = TTM_OK;
        switch (op->kind) {
        case PLAN_RUN:
            decode_run(r, rec, op, p);
            break;
        case PLAN_STR:
            ttm__br_str(r, (char *)p, f->csize, f->name);
            break;
        case PLAN_REC:
            err = ttm__schema_decode(r, f->rec, p, 0);
            break;
        case PLAN_VSTR:
            err = decode_vstr(r, f, p);
            break;
        case PLAN_ARR:
            err = decode_arr(r, f, op, p);
            break;
        case PLAN_DYN: {
            size_t n = ttm__br_count(r, ttm__schema_wire_min(f->rec), f->name);
            if (n == 0)
                break;
            uint8_t *arr = ttm__calloc(n, f->rec->size);
            if (arr == NULL)
                return TTM_ENOMEM;
            memcpy(p, &arr, sizeof arr);
            ttm__schema_set_uint(base + f->count_off, f->count_size, n);
            plan el_local;
            const plan *el = rec_flat(f->rec) ? NULL : plan_of(f->rec, &el_local);
            bool in_place = el != NULL && el->bound != 0 && !el->counted;
            for (size_t k = 0; k < n && !r->bad && err == TTM_OK; k++)
                if (!in_place || !decode_bounded(r, f->rec, el, arr + k * f->rec->size))
                    err = ttm__schema_decode(r, f->rec, arr + k * f->rec->size, 0);
            break;
        }
        default:
            dec_scalar(r, f, f->type, p);
            break;
        }
        if (err != TTM_OK)
            return err;
    }
    /* counted arrays: the count fits the capacity */
    for (size_t i = 0; pl->counted && i < rec->nfields && !r->bad; i++) {
        const ttm_field *f = &rec->fields[i];
        if (f->type == TTM_FT_ARR && (f->flags & TTM_FF_COUNTED) && row_in(f, section) &&
            ttm__schema_get_uint(base + f->count_off, f->count_size) > f->count)
            ttm__br_fail(r, f->name);
    }
    return TTM_OK;
}

void ttm__schema_free(const ttm_record *rec, void *obj)
{
    uint8_t *base = obj;
    if (rec_flat(rec) || !rec_owns(rec))
        return; /* nothing under it is allocated */
    for (size_t i = 0; i < rec->nfields; i++) {
        const ttm_field *f = &rec->fields[i];
        uint8_t *p = base + f->off;
        if (f->type == TTM_FT_REC) {
            ttm__schema_free(f->rec, p);
        } else if (f->type == TTM_FT_ARR && f->elem == TTM_FT_REC && rec_owns(f->rec)) {
            for (size_t k = 0; k < f->count; k++)
                ttm__schema_free(f->rec, p + k * f->stride);
        } else if (f->type == TTM_FT_VSTR) {
            char *str;
            memcpy(&str, p, sizeof str);
            ttm__free(str);
            str = NULL;
            memcpy(p, &str, sizeof str);
        } else if (f->type == TTM_FT_DYN) {
            size_t n = (size_t)ttm__schema_get_uint(base + f->count_off, f->count_size);
            uint8_t *arr;
            memcpy(&arr, p, sizeof arr);
            for (size_t k = 0; arr != NULL && k < n && rec_owns(f->rec); k++)
                ttm__schema_free(f->rec, arr + k * f->rec->size);
            ttm__free(arr);
            arr = NULL;
            memcpy(p, &arr, sizeof arr);
            ttm__schema_set_uint(base + f->count_off, f->count_size, 0);
        }
    }
}

/* ---- comparison ------------------------------------------------------------------------------ */

static bool scalar_equal(ttm_ftype t, const uint8_t *a, const uint8_t *b)
{
    if (t == TTM_FT_BOOL)
        return *(const bool *)a == *(const bool *)b;
    return memcmp(a, b, scalar_width(t)) == 0; /* f64: the same bits */
}

static bool differ(char *where, size_t len, const char *rec, const char *field, size_t k)
{
    if (k == SIZE_MAX)
        ttm__set_msg(where, len, "%s.%s", rec, field);
    else
        ttm__set_msg(where, len, "%s.%s[%zu]", rec, field, k);
    return false;
}

bool ttm__schema_equal(const ttm_record *rec, const void *a, const void *b, unsigned section,
                       char *where, size_t where_len)
{
    const uint8_t *pa = a, *pb = b;
    for (size_t i = 0; i < rec->nfields; i++) {
        const ttm_field *f = &rec->fields[i];
        if (!row_in(f, section))
            continue;
        const uint8_t *x = pa + f->off, *y = pb + f->off;
        switch (f->type) {
        case TTM_FT_STR:
            if (strncmp((const char *)x, (const char *)y, f->csize) != 0)
                return differ(where, where_len, rec->name, f->name, SIZE_MAX);
            break;
        case TTM_FT_REC:
            if (!ttm__schema_equal(f->rec, x, y, 0, where, where_len))
                return false;
            break;
        case TTM_FT_VSTR: {
            const char *sa, *sb;
            memcpy(&sa, x, sizeof sa);
            memcpy(&sb, y, sizeof sb);
            if ((sa == NULL) != (sb == NULL) || (sa != NULL && strcmp(sa, sb) != 0))
                return differ(where, where_len, rec->name, f->name, SIZE_MAX);
            break;
        }
        case TTM_FT_ARR: {
            size_t n = f->count;
            if (f->flags & TTM_FF_COUNTED) {
                n = (size_t)ttm__schema_get_uint(pa + f->count_off, f->count_size);
                if (n != ttm__schema_get_uint(pb + f->count_off, f->count_size))
                    return differ(where, where_len, rec->name, f->name, SIZE_MAX);
                n = n < f->count ? n : f->count;
            }
            for (size_t k = 0; k < n; k++) {
                bool same = f->elem == TTM_FT_REC
                                ? ttm__schema_equal(f->rec, x + k * f->stride, y + k * f->stride,
                                                    0, where, where_len)
                                : scalar_equal(f->elem, x + k * f->stride, y + k * f->stride);
                if (!same)
                    return f->elem == TTM_FT_REC ? false
                                                 : differ(where, where_len, rec->name, f->name, k);
            }
            break;
        }
        case TTM_FT_DYN: {
            size_t n = (size_t)ttm__schema_get_uint(pa + f->count_off, f->count_size);
            if (n != ttm__schema_get_uint(pb + f->count_off, f->count_size))
                return differ(where, where_len, rec->name, f->name, SIZE_MAX);
            const uint8_t *ea, *eb;
            memcpy(&ea, x, sizeof ea);
            memcpy(&eb, y, sizeof eb);
            for (size_t k = 0; k < n; k++)
                if (!ttm__schema_equal(f->rec, ea + k * f->rec->size, eb + k * f->rec->size, 0,
                                       where, where_len))
                    return false;
            break;
        }
        default:
            if (!scalar_equal(f->type, x, y))
                return differ(where, where_len, rec->name, f->name, SIZE_MAX);
            break;
        }
    }
    return true;
}

/* ---- JSON ------------------------------------------------------------------------------------ */

static const char *field_key(const ttm_field *f)
{
    return f->key ? f->key : f->name;
}

static void json_scalar(ttm_json *j, const char *key, const ttm_field *f, ttm_ftype t,
                        const uint8_t *p)
{
    if (t == TTM_FT_BOOL) {
        ttm__json_bool(j, key, *(const bool *)p);
        return;
    }
    if (t == TTM_FT_F64) {
        double d;
        memcpy(&d, p, sizeof d);
        ttm__json_f64(j, key, d);
        return;
    }
    uint64_t v = ttm__schema_get_uint(p, scalar_width(t));
    if (f->values != NULL) {
        ttm__json_str(j, key, f->values->label((unsigned)v));
    } else if (f->flags & TTM_FF_HEX) {
        char buf[24];
        snprintf(buf, sizeof buf, "0x%" PRIX64, v);
        ttm__json_str(j, key, buf);
    } else {
        ttm__json_u64(j, key, v);
    }
}

static void json_elem(ttm_json *j, const char *key, const ttm_field *f, const uint8_t *p)
{
    if (f->elem == TTM_FT_REC) {
        ttm__json_obj_begin(j, key);
        ttm__schema_json(j, f->rec, p, 0);
        ttm__json_obj_end(j);
    } else {
        json_scalar(j, key, f, f->elem, p);
    }
}

void ttm__schema_json(ttm_json *j, const ttm_record *rec, const void *obj, unsigned section)
{
    const uint8_t *base = obj;
    for (size_t i = 0; i < rec->nfields; i++) {
        const ttm_field *f = &rec->fields[i];
        if ((f->flags & TTM_FF_NOJSON) || (section != 0 && f->section != section))
            continue;
        const uint8_t *p = base + f->off;
        const char *key = field_key(f);
        switch (f->type) {
        case TTM_FT_STR: {
            char s[f->csize];
            memcpy(s, p, f->csize);
            s[f->csize - 1] = '\0';
            ttm__json_str(j, key, s);
            break;
        }
        case TTM_FT_VSTR: {
            const char *str;
            memcpy(&str, p, sizeof str);
            ttm__json_str(j, key, str); /* NULL: null */
            break;
        }
        case TTM_FT_REC:
            if (f->flags & TTM_FF_FLAT) {
                ttm__schema_json(j, f->rec, p, 0);
            } else {
                ttm__json_obj_begin(j, key);
                ttm__schema_json(j, f->rec, p, 0);
                ttm__json_obj_end(j);
            }
            break;
        case TTM_FT_ARR:
            if (f->index != NULL) {
                ttm__json_obj_begin(j, key);
                for (unsigned k = 0; k < f->index->count; k++)
                    json_elem(j, f->index->label(k), f, p + k * f->stride);
                ttm__json_obj_end(j);
            } else {
                size_t n = (f->flags & TTM_FF_COUNTED)
                               ? (size_t)ttm__schema_get_uint(base + f->count_off, f->count_size)
                               : f->count;
                if (n > f->count)
                    n = f->count;
                ttm__json_arr_begin(j, key);
                for (size_t k = 0; k < n; k++)
                    json_elem(j, NULL, f, p + k * f->stride);
                ttm__json_arr_end(j);
            }
            break;
        case TTM_FT_DYN: {
            size_t n = (size_t)ttm__schema_get_uint(base + f->count_off, f->count_size);
            const uint8_t *arr;
            memcpy(&arr, p, sizeof arr);
            ttm__json_arr_begin(j, key);
            for (size_t k = 0; arr != NULL && k < n; k++) {
                ttm__json_obj_begin(j, NULL);
                ttm__schema_json(j, f->rec, arr + k * f->rec->size, 0);
                ttm__json_obj_end(j);
            }
            ttm__json_arr_end(j);
            break;
        }
        default:
            json_scalar(j, key, f, f->type, p);
            break;
        }
    }
}

/* ---- documentation --------------------------------------------------------------------------- */

static const char *scalar_name(ttm_ftype t)
{
    static const char *const names[] = {
        [TTM_FT_U8] = "u8",   [TTM_FT_U16] = "u16",   [TTM_FT_U32] = "u32",
        [TTM_FT_U64] = "u64", [TTM_FT_F64] = "f64",   [TTM_FT_BOOL] = "bool",
    };
    return (unsigned)t < sizeof names / sizeof names[0] && names[t] ? names[t] : "?";
}

const char *ttm__schema_type_name(const ttm_field *f, char *buf, size_t len)
{
    char elem[64];
    if (f->type == TTM_FT_ARR) {
        if (f->elem == TTM_FT_REC)
            snprintf(elem, sizeof elem, "%s", f->rec->name);
        else
            snprintf(elem, sizeof elem, "%s", f->values ? f->values->name : scalar_name(f->elem));
    }
    switch (f->type) {
    case TTM_FT_STR:
        snprintf(buf, len, "string[%zu]", f->csize);
        break;
    case TTM_FT_VSTR:
        snprintf(buf, len, "string or null");
        break;
    case TTM_FT_REC:
        snprintf(buf, len, "%s %s", (f->flags & TTM_FF_FLAT) ? "fields of" : "object",
                 f->rec->name);
        break;
    case TTM_FT_ARR:
        if (f->index != NULL)
            snprintf(buf, len, "map %s -> %s", f->index->name, elem);
        else
            snprintf(buf, len, "array[%s%zu] of %s",
                     (f->flags & TTM_FF_COUNTED) ? "<=" : "", f->count, elem);
        break;
    case TTM_FT_DYN:
        snprintf(buf, len, "array of %s", f->rec->name);
        break;
    default:
        if (f->values != NULL)
            snprintf(buf, len, "%s name", f->values->name);
        else if (f->flags & TTM_FF_HEX)
            snprintf(buf, len, "hex string");
        else
            snprintf(buf, len, "%s", scalar_name(f->type));
        break;
    }
    return buf;
}

void ttm__schema_doc(FILE *out, const ttm_record *rec)
{
    fprintf(out, "`%s`: %s\n\n", rec->name, rec->help);
    fprintf(out, "| key | type | unit | help |\n|---|---|---|---|\n");
    for (size_t i = 0; i < rec->nfields; i++) {
        const ttm_field *f = &rec->fields[i];
        if (f->flags & TTM_FF_NOJSON)
            continue;
        char type[96];
        fprintf(out, "| `%s` | %s | %s | %s |\n", field_key(f),
                ttm__schema_type_name(f, type, sizeof type), f->unit ? f->unit : "",
                f->help ? f->help : "");
    }
    fprintf(out, "\n");
}

/* True when rec's wire form has no array and no vstr: always the same size. */
static bool wire_fixed(const ttm_record *rec)
{
    for (size_t i = 0; i < rec->nfields; i++) {
        const ttm_field *f = &rec->fields[i];
        if (f->flags & TTM_FF_OFFWIRE)
            continue;
        if (f->type == TTM_FT_ARR || f->type == TTM_FT_DYN || f->type == TTM_FT_VSTR ||
            (f->type == TTM_FT_REC && !wire_fixed(f->rec)))
            return false;
    }
    return true;
}

/* The wire form of a row and its size in bytes, as text. */
static void wire_form(const ttm_field *f, char *form, size_t flen, char *bytes, size_t blen)
{
    char elem[64];
    size_t ew = 0;
    if (f->type == TTM_FT_ARR || f->type == TTM_FT_DYN) {
        if (f->type == TTM_FT_DYN || f->elem == TTM_FT_REC) {
            snprintf(elem, sizeof elem, "%s", f->rec->name);
            ew = ttm__schema_wire_min(f->rec);
        } else {
            snprintf(elem, sizeof elem, "%s", scalar_name(f->elem));
            ew = scalar_width(f->elem);
        }
    }
    switch (f->type) {
    case TTM_FT_STR:
        snprintf(form, flen, "string, NUL-padded");
        snprintf(bytes, blen, "%zu", f->csize);
        break;
    case TTM_FT_VSTR:
        snprintf(form, flen, "u32 n, then n bytes (n = 0xFFFFFFFF: null, no bytes)");
        snprintf(bytes, blen, "4 + n");
        break;
    case TTM_FT_REC:
        snprintf(form, flen, "%s", f->rec->name);
        snprintf(bytes, blen, "%s%zu", wire_fixed(f->rec) ? "" : "≥ ",
                 ttm__schema_wire_min(f->rec));
        break;
    case TTM_FT_ARR:
        snprintf(form, flen, "u32 n, %sthen %s %s (%zu%s%s)",
                 (f->flags & TTM_FF_SPARSE) ? "a bitmap of n bits, " : "",
                 (f->flags & TTM_FF_SPARSE) ? "the non-zero ones of n ×" : "n ×", elem, f->count,
                 f->index ? ", by " : "", f->index ? f->index->name : "");
        if (f->flags & TTM_FF_SPARSE)
            snprintf(bytes, blen, "4 + ⌈n / 8⌉ + set bits × %s%zu",
                     f->elem == TTM_FT_REC && !wire_fixed(f->rec) ? "≥ " : "", ew);
        else
            snprintf(bytes, blen, "4 + n × %s%zu",
                     f->elem == TTM_FT_REC && !wire_fixed(f->rec) ? "≥ " : "", ew);
        break;
    case TTM_FT_DYN:
        snprintf(form, flen, "u32 n, then n × %s", elem);
        snprintf(bytes, blen, "4 + n × %s%zu", wire_fixed(f->rec) ? "" : "≥ ", ew);
        break;
    default:
        snprintf(form, flen, "%s%s%s", scalar_name(f->type), f->values ? ", a " : "",
                 f->values ? f->values->name : "");
        snprintf(bytes, blen, "%zu", scalar_width(f->type));
        break;
    }
}

void ttm__schema_doc_wire(FILE *out, const ttm_record *rec, unsigned section)
{
    fprintf(out, "| field | wire | bytes |\n|---|---|---|\n");
    for (size_t i = 0; i < rec->nfields; i++) {
        const ttm_field *f = &rec->fields[i];
        if (!row_in(f, section))
            continue;
        char form[256], bytes[96];
        wire_form(f, form, sizeof form, bytes, sizeof bytes);
        fprintf(out, "| `%s` | %s | %s |\n", f->name, form, bytes);
    }
    fprintf(out, "\n");
}
