/*
 * schema.h — records described once, as const tables of fields, and the walkers that every
 * output of a record goes through: the wire codec (through bytes.h), the JSON writer (through
 * json.h), the generated documentation and the checks the tests make.
 *
 * A record is a C struct and a table of rows, one per member: its name (the JSON key unless a
 * row gives another), its offset and size in the struct, its type, its unit and help text, and
 * where it is exported to Prometheus. Adding a member to a record is adding one row: the wire
 * format, the JSON, the docs and the round-trip test follow from it.
 *
 * Wire form of a record: its rows in table order, all little-endian, without padding —
 *   u8/u16/u32/u64/f64/bool  1/2/4/8/8/1 bytes (f64: the IEEE-754 bits; bool: 0 or 1);
 *   str                      the member's bytes, NUL-padded (a decoder NUL-terminates);
 *   rec                      the nested record's wire form;
 *   arr                      u32 count, then count elements (a decoder keeps the first ones
 *                            its struct has room for and skips the rest: a newer peer may
 *                            know more classes); a sparse arr (TTM_FF_SPARSE): u32 count,
 *                            ceil(count / 8) bytes of bitmap (bit k of byte k / 8: element k
 *                            is not all zero; the unused bits 0), then those elements only;
 *   dyn                      u32 count, then count elements (pointer + size_t count in C);
 *   vstr                     u32 length, then that many bytes (no NUL); length 0xFFFFFFFF
 *                            and no bytes for NULL. A decoder refuses a length beyond what is
 *                            left or beyond TTM_SCHEMA_VSTR_MAX, and bytes holding a NUL; it
 *                            allocates length + 1 bytes (ttm__schema_free frees them).
 * Rows flagged TTM_FF_NOWIRE or TTM_FF_PACKED are not on the wire. A decoder validates every
 * count against the bytes left before it allocates (count x the element's smallest wire size
 * must fit), so it never allocates more than the payload can describe, and names the first bad
 * field ("what").
 */
#ifndef TTM_COMMON_SCHEMA_H
#define TTM_COMMON_SCHEMA_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/bytes.h"
#include "common/json.h"

typedef enum ttm_ftype {
    TTM_FT_U8,
    TTM_FT_U16,
    TTM_FT_U32,
    TTM_FT_U64,
    TTM_FT_F64,
    TTM_FT_BOOL,
    TTM_FT_STR, /* char[n], NUL-terminated */
    TTM_FT_REC, /* a nested record, inline */
    TTM_FT_ARR, /* a fixed array of elements of type elem (a scalar or TTM_FT_REC) */
    TTM_FT_DYN, /* a pointer to a size_t count (count_off) of records rec */
    TTM_FT_VSTR, /* char *, owned, NUL-terminated, or NULL (unknown) */
} ttm_ftype;

/* An enumeration whose values index an array (JSON: an object keyed by the names) or are the
 * value of a field (JSON: the name as a string). */
typedef struct ttm_schema_enum {
    const char *name;               /* "class", "memtype", "space" */
    unsigned count;                 /* values 0..count-1 have names */
    const char *(*label)(unsigned); /* the name of a value */
} ttm_schema_enum;

/* Row flags. */
#define TTM_FF_NOWIRE 1u  /* not carried on the wire (derived or local) */
#define TTM_FF_NOJSON 2u  /* not written to JSON */
#define TTM_FF_HEX 4u     /* JSON: a "0x..." string (addresses) */
#define TTM_FF_FLAT 8u    /* TTM_FT_REC in JSON: its rows at this level, no object of its own */
#define TTM_FF_COUNTED 16u /* TTM_FT_ARR: the first *count_off elements are valid (JSON lists
                            * those; a decoder checks the count against the capacity) */
#define TTM_FF_CHECKED 64u /* a field with values: a decoder refuses a value without a name (the
                            * others pass through, named "?" in JSON: a client may send any) */
#define TTM_FF_SPARSE 32u  /* TTM_FT_ARR on the wire: a bitmap of the elements that are not all
                            * zero after the count, then only those (JSON is unchanged) */
#define TTM_FF_PACKED 128u /* not on the wire inside its record: the record's owner carries it
                            * elsewhere (the report's STACKS section packs the call sites of
                            * offenders, leaks and live buffers, core/report.c), so that a peer
                            * that does not ask for it reads the record as before. JSON, docs
                            * and the decoder's zeroing treat it as any row; ttm__schema_equal
                            * skips it as it skips TTM_FF_NOWIRE rows. */
#define TTM_FF_OFFWIRE (TTM_FF_NOWIRE | TTM_FF_PACKED)

struct ttm_record;

typedef struct ttm_field {
    const char *name;  /* C member name; also the JSON key unless key is set */
    const char *key;   /* JSON key when it differs from name */
    size_t off;        /* offsetof the member */
    size_t csize;      /* sizeof the member (checked against the type by ttm__schema_check) */
    ttm_ftype type;
    ttm_ftype elem;                /* TTM_FT_ARR: type of an element */
    size_t count;                  /* TTM_FT_ARR: elements */
    size_t stride;                 /* TTM_FT_ARR: sizeof an element */
    const struct ttm_record *rec;  /* TTM_FT_REC, or elements of TTM_FT_ARR / TTM_FT_DYN */
    const ttm_schema_enum *index;  /* TTM_FT_ARR: indexed by this enumeration */
    const ttm_schema_enum *values; /* an integer field holding a value of this enumeration */
    size_t count_off;              /* TTM_FT_DYN / counted TTM_FT_ARR: offset of the count */
    size_t count_size;             /* ... and its size (size_t for TTM_FT_DYN) */
    unsigned flags;                /* TTM_FF_* */
    unsigned section;              /* the snapshot section carrying it (report rows), or 0 */
    const char *unit;              /* "bytes", "ns", "events"; NULL when none */
    const char *help;              /* one line */
    const char *prom;              /* Prometheus family ("ttmem_clients_total") when exported */
    const char *prom_kind;         /* "counter" or "gauge" */
    const char *prom_labels;       /* the sample's labels ("reason=\"limit\""), or NULL */
    const char *prom_help;         /* the family's HELP, on the row that opens it (rows of one
                                    * family are contiguous); unit "ns" is written in seconds */
} ttm_field;

/* The longest vstr a decoder accepts (an encoder refuses a longer one: TTM_ERANGE). */
#define TTM_SCHEMA_VSTR_MAX (64u << 10)
/* The wire length of a NULL vstr. */
#define TTM_SCHEMA_VSTR_NULL 0xFFFFFFFFu

/* The most rows a record's table may have (ttm__schema_check refuses more): the wire walkers
 * compile a table into at most this many steps. */
#define TTM_SCHEMA_MAX_ROWS 64u /* the report record is the longest table */

/* One step of a record's wire plan (schema.c): a run of rows copied as they are, or one row. */
typedef struct ttm_plan_op {
    uint8_t kind;    /* schema.c's PLAN_* */
    uint8_t section; /* the snapshot section of its rows */
    uint16_t row;    /* its (first) row in the table */
    uint32_t off;    /* offset in the struct */
    uint32_t len;    /* a run: its bytes (wire and struct); an arr: an element's bytes when its
                      * struct is its wire form, else 0 */
} ttm_plan_op;

/* What the walkers derive from a table once (the first walk computes it; every walk that
 * computes it again stores the same values). The plan is published by plan_state (release /
 * acquire): a walk that finds it not ready yet uses one it compiled itself. */
typedef struct ttm_record_memo {
    _Atomic size_t wire_min1; /* ttm__schema_wire_min() + 1; 0 = not yet known */
    _Atomic int flat;         /* 1: every row is a scalar or a string, 2: not; 0 = unknown */
    _Atomic int same;         /* 1: the struct's bytes are its wire form (little-endian host,
                               * unchecked integers in wire order, no padding), 2: not */
    _Atomic int plan_state;   /* 0: none, 1: being stored, 2: ready */
    struct ttm_record_plan {
        unsigned nops;
        bool owns;    /* a dyn array lies under it: freeing it walks it */
        bool counted; /* it has counted arr rows: a decoder checks their counts */
        size_t bound; /* when every step is a run or an arr of raw elements: the most wire
                       * bytes they write (one reservation); 0 otherwise */
        ttm_plan_op ops[TTM_SCHEMA_MAX_ROWS];
    } plan;
} ttm_record_memo;

typedef struct ttm_record {
    const char *name; /* "totals" */
    const char *help;
    size_t size; /* sizeof the struct */
    const ttm_field *fields;
    size_t nfields;
    ttm_record_memo *memo; /* static, one per record (TTM_RECORD makes it) */
} ttm_record;

/* Row helpers: TTM_ROW(struct, member, type) fills name, offset, size and type; the rest is
 * given with designated initializers after it. */
#define TTM_ROW(S, m, T)                                                                        \
    .name = #m, .off = offsetof(S, m), .csize = sizeof(((S *)0)->m), .type = (T)
#define TTM_ROW_ARR(S, m, E)                                                                    \
    TTM_ROW(S, m, TTM_FT_ARR), .elem = (E), .stride = sizeof(((S *)0)->m[0]),                   \
        .count = sizeof(((S *)0)->m) / sizeof(((S *)0)->m[0])
#define TTM_ROW_COUNTED(S, m, E, n)                                                             \
    TTM_ROW_ARR(S, m, E), .flags = TTM_FF_COUNTED, .count_off = offsetof(S, n),                 \
                          .count_size = sizeof(((S *)0)->n)
/* A counted arr with more flags than TTM_FF_COUNTED (fl). */
#define TTM_ROW_COUNTED_FL(S, m, E, n, fl)                                                      \
    TTM_ROW_ARR(S, m, E), .flags = TTM_FF_COUNTED | (fl), .count_off = offsetof(S, n),          \
                          .count_size = sizeof(((S *)0)->n)
#define TTM_ROW_DYN(S, m, n, R)                                                                 \
    TTM_ROW(S, m, TTM_FT_DYN), .rec = (R), .count_off = offsetof(S, n),                         \
                               .count_size = sizeof(((S *)0)->n)
#define TTM_RECORD(S, recname, helptext, rows)                                                  \
    {.name = (recname), .help = (helptext), .size = sizeof(S), .fields = (rows),                \
     .nfields = sizeof(rows) / sizeof((rows)[0]), .memo = &(ttm_record_memo){0}}

/* Checks a record's table against its struct: every row's size matches its type, lies inside
 * the struct, counts are where they say, and every member of the struct has a row (the rows,
 * in offset order, leave no gap but the ABI's padding); recursively. Returns true, or false with msg (one
 * line) naming the row. */
bool ttm__schema_check(const ttm_record *rec, char *msg, size_t msg_len);

/* Wire bytes of the record's fixed part: its size when every arr and dyn is empty (the least
 * an element of a dyn array takes). */
size_t ttm__schema_wire_min(const ttm_record *rec);

/* The value of an integer or bool field (the count of a dyn / counted arr). */
uint64_t ttm__schema_get_uint(const void *p, size_t size);
void ttm__schema_set_uint(void *p, size_t size, uint64_t v);

/* Appends the wire form of the rows of rec at obj (only those of section `section` when it is
 * not 0) to w. Sticky errors as bytes.h. */
void ttm__schema_encode(ttm_bw *w, const ttm_record *rec, const void *obj, unsigned section);

/* Reads the wire form of the rows of rec (of `section` when not 0) into obj, which the caller
 * zeroed. Arrays are allocated with ttm__calloc and belong to obj (ttm__schema_free). Returns
 * 0, or TTM_ENOMEM; a malformed input leaves r bad with r->what naming the field. */
int ttm__schema_decode(ttm_br *r, const ttm_record *rec, void *obj, unsigned section);

/* Frees every dyn array and vstr under obj (recursively), zeroes the counts and NULLs the
 * pointers; obj itself stays. */
void ttm__schema_free(const ttm_record *rec, void *obj);

/* True when the rows of rec (of `section` when not 0; TTM_FF_NOWIRE rows aside) hold the same
 * values at a and b, arrays compared element by element; otherwise false with where (one
 * line: "totals.last_ts") naming the first row that differs. */
bool ttm__schema_equal(const ttm_record *rec, const void *a, const void *b, unsigned section,
                       char *where, size_t where_len);

/* Writes the rows of rec at obj to j, as members of the object j is in (the caller opens and
 * closes it). section as for ttm__schema_encode. */
void ttm__schema_json(ttm_json *j, const ttm_record *rec, const void *obj, unsigned section);

/* Writes rec as a Markdown table (key, type, unit, help), preceded by its help line. */
void ttm__schema_doc(FILE *out, const ttm_record *rec);

/* Writes the wire layout of rec's rows (of `section` when not 0) as a Markdown table: field,
 * wire form, bytes. */
void ttm__schema_doc_wire(FILE *out, const ttm_record *rec, unsigned section);

/* "u64", "string[16]", "object totals", "map class -> u64", "array of leak"... into buf. */
const char *ttm__schema_type_name(const ttm_field *f, char *buf, size_t len);

#endif /* TTM_COMMON_SCHEMA_H */
