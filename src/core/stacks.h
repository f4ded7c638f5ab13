/*
 * stacks.h — the core's call-site tables: strings, modules, frames, stacks and contexts,
 * interned into 32-bit ids (1, 2, 3, ... in order of first sight; 0 = none), deduplicated by
 * content across every process, bounded, and pure (no I/O, no clocks, no symbolization).
 *
 * What each holds:
 *   string   bytes (a scope or phase name, a Python file or function, a module path, a
 *            function or file name read from a log);
 *   module   an executable file as a process mapped it: its GNU build-id (0..32 bytes) and its
 *            path; two processes mapping the same file share one module (same build-id and
 *            path), a rebuilt file (another build-id) is another module;
 *   frame    one entry of a stack, of one of three kinds:
 *              NATIVE  a return address as (module, offset): offset is the address in the
 *                      module's own numbering (ELF virtual address: runtime address minus the
 *                      load bias), or the raw address with module 0 when no module held it;
 *                      function/file/line are not known here (symbolized at report time);
 *              PYTHON  a Python frame: file, function, line (strings and a number);
 *              TEXT    a frame as a log wrote it: function (and file, line, module name when
 *                      the text had them);
 *   stack    a sequence of frame ids, innermost first (at most TTM_STACKS_DEPTH_MAX);
 *   context  a (stack, scope, phase) triple: where an event came from, in one id, which is what
 *            a live record carries (4 bytes).
 *
 * The registry owns one table (ttm_registry_stacks()); the daemon interns what its clients ship
 * (src/daemon/side_ingest.c), log readers intern what logs say, and the registry interns
 * contexts as it applies events. Nothing is ever removed. When a bound is reached the intern
 * returns 0 and a counter says how often (ttm_stacks_stats).
 *
 * Lifecycle: ttm_stacks_open() / ttm_stacks_close() (NULL is a no-op). Pointers returned by
 * the getters stay valid until the next intern call (the tables may move).
 */
#ifndef TTM_CORE_STACKS_H
#define TTM_CORE_STACKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/bytes.h"

#define TTM_STACKS_DEPTH_MAX 128u /* frames of one stack (native and Python together) */
#define TTM_STACKS_BUILD_ID_MAX 32u
#define TTM_STACKS_STRING_MAX 4096u /* bytes of one string */

typedef struct ttm_stacks ttm_stacks;

typedef struct ttm_stacks_config {
    uint32_t max_strings;  /* 0 = 1M */
    uint64_t string_bytes; /* bytes of all strings together; 0 = 64 MiB */
    uint32_t max_modules;  /* 0 = 64K */
    uint32_t max_frames;   /* 0 = 4M */
    uint32_t max_stacks;   /* 0 = 1M */
    uint64_t stack_words;  /* frame ids of all stacks together; 0 = 32M */
    uint32_t max_contexts; /* 0 = 4M */
} ttm_stacks_config;

int ttm_stacks_open(ttm_stacks **out, const ttm_stacks_config *cfg);
void ttm_stacks_close(ttm_stacks *s);

/* ---- interning (each returns the id, or 0: empty input, over a size limit, or a bound
 * reached, counted) ---- */

uint32_t ttm_stacks_string(ttm_stacks *s, const char *bytes, size_t len);
uint32_t ttm_stacks_module(ttm_stacks *s, const uint8_t *build_id, size_t build_id_len,
                           const char *path, size_t path_len);

typedef enum ttm_frame_kind {
    TTM_FRAME_NATIVE = 1,
    TTM_FRAME_PYTHON = 2,
    TTM_FRAME_TEXT = 3,
} ttm_frame_kind;

typedef struct ttm_frame {
    uint8_t kind;      /* ttm_frame_kind */
    uint32_t module;   /* NATIVE: module id (0 = none: offset is the raw address); TEXT: a
                        * string id of the module name the text gave, or 0 */
    uint64_t offset;   /* NATIVE: see above; otherwise 0 */
    uint32_t function; /* PYTHON, TEXT: string id (0 = unknown); NATIVE: 0 */
    uint32_t file;     /* PYTHON, TEXT: string id (0 = unknown); NATIVE: 0 */
    uint32_t line;     /* PYTHON, TEXT: 0 = unknown; NATIVE: 0 */
} ttm_frame;

/* The frame's id; frames equal in every field share one. A frame whose fields break the rules
 * above (a kind outside the list, an id not interned) returns 0, counted as invalid. */
uint32_t ttm_stacks_frame(ttm_stacks *s, const ttm_frame *f);
/* The id of the stack frames[0..n), innermost first: 0 for n == 0, n > TTM_STACKS_DEPTH_MAX,
 * a frame id not interned (counted invalid), or a bound reached. */
uint32_t ttm_stacks_stack(ttm_stacks *s, const uint32_t *frames, size_t n);
/* The id of (stack, scope, phase); 0 when all three are 0 (no context: nothing is stored), an
 * id not interned (counted invalid), or the bound reached. */
uint32_t ttm_stacks_context(ttm_stacks *s, uint32_t stack, uint32_t scope, uint32_t phase);

/* ---- lookups (NULL / 0 for an id not interned) ---- */

/* The bytes of string id (not NUL-terminated; *len receives their count). */
const char *ttm_stacks_string_get(const ttm_stacks *s, uint32_t id, size_t *len);

typedef struct ttm_module_info {
    const uint8_t *build_id;
    size_t build_id_len;
    const char *path;
    size_t path_len;
} ttm_module_info;
bool ttm_stacks_module_get(const ttm_stacks *s, uint32_t id, ttm_module_info *out);
const ttm_frame *ttm_stacks_frame_get(const ttm_stacks *s, uint32_t id);
/* The frames of stack id: returns their count (0 when not interned), *frames points at them. */
size_t ttm_stacks_stack_get(const ttm_stacks *s, uint32_t id, const uint32_t **frames);

typedef struct ttm_context {
    uint32_t stack, scope, phase;
} ttm_context;
bool ttm_stacks_context_get(const ttm_stacks *s, uint32_t id, ttm_context *out);

/* ---- counters ---- */

typedef struct ttm_stacks_stats {
    uint64_t strings, modules, frames, stacks, contexts; /* interned */
    uint64_t string_bytes, stack_words;
    uint64_t full;    /* interns refused: a bound reached */
    uint64_t invalid; /* interns refused: bad input (an id not interned, a bad kind, a size) */
    uint64_t memory;  /* bytes the tables hold */
} ttm_stacks_stats;
void ttm_stacks_stats_get(const ttm_stacks *s, ttm_stacks_stats *out);

/* ---- persistence (part of the registry's state, core/registry.h) ---- */

/* Appends every table to w (bytes.h; sticky errors). */
void ttm_stacks_save(const ttm_stacks *s, ttm_bw *w);

/* How much of each table there was at some moment: what a later save can start from (the run
 * journal's STACKS chunks carry only what the table gained since the previous one). */
typedef struct ttm_stacks_mark {
    uint32_t strings, modules, frames, stacks, contexts;
} ttm_stacks_mark;
void ttm_stacks_mark_get(const ttm_stacks *s, ttm_stacks_mark *out);
/* Whether strings, modules, frames or stacks were interned since the mark (contexts are not
 * counted: the registry makes them again when the events are applied again). */
bool ttm_stacks_grew(const ttm_stacks *s, const ttm_stacks_mark *since);
/* Appends what was interned since *since (in ttm_stacks_save's format, each table's part
 * starting from its first new id) and moves *since to now. */
void ttm_stacks_save_since(const ttm_stacks *s, ttm_stacks_mark *since, ttm_bw *w);
/* Rebuilds the tables from r into an empty table s: every id keeps its value. Validates every
 * count, length and reference; returns 0, or TTM_EPROTO (r marked failed, what names the
 * part) / TTM_ENOMEM. */
int ttm_stacks_load(ttm_stacks *s, ttm_br *r);
/* Adds a save (whole or since a mark) to a table that may hold records already: each part's
 * first id must be at most one past the table's end, and every record s holds already must
 * match (it gets its id back); the rest are appended with their ids. Same returns as load. */
int ttm_stacks_load_more(ttm_stacks *s, ttm_br *r);

#endif /* TTM_CORE_STACKS_H */
