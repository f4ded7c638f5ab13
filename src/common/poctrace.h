/*
 * poctrace.h — a reader for the text log of the allocation-server prototype's stack-trace
 * client (docs/COMPAT.md, section 4, "The prototype's stack-trace log"), turning it back into
 * one record per event with its frames.
 *
 * The reader is incremental: it is fed the file's bytes in chunks of any size, splits them into
 * lines (a CR before the LF is dropped) and calls back once per complete block. It never does
 * I/O and never allocates: the caller owns the ttm_poctrace (about 33 KB; keep it off small
 * stacks). Recognised lines:
 *   === TT-Metal Buffer Allocation Stack Traces ===     (a process opened the log)
 *   PID: p                                             (that process)
 *   ─────…                                             (U+2500 rule before every block)
 *   Allocation #N | Deallocation [#N]
 *   Time: YYYY-MM-DD HH:MM:SS
 *   Device: D
 *   Type: DRAM|L1|SYSTEM_MEMORY|L1_SMALL|TRACE|UNKNOWN     (allocations only)
 *   Size: N bytes (K KB)                                    (allocations only)
 *   Address: 0xHEX
 *   Stack trace:
 *     MODULE : FUNCTION+0xOFF   or   MODULE(FUNCTION+0xOFF) [0xADDR]   (two-space indent;
 *     a trailing " at FILE:LINE", as addr2line -p and gdb print it, gives the source line)
 *   (a blank line ends the block)
 * A block is reported only when it ends with its blank line: a block cut by another block, a
 * header or the end of the input is counted as truncated; a block with a line that is not the
 * field expected next is counted as bad (the first few such lines are kept); lines outside any
 * block that are none of the above are counted as garbage. Lines longer than
 * TTM_POCTRACE_LINE_MAX are cut and counted; frames past TTM_POCTRACE_FRAMES are counted and
 * dropped.
 *
 * The second half is the matcher that `ttmem analyze-log --stack-log` uses to attach each
 * record's stack to the matching event of a server log (ttm_poctrace_matcher below: a bounded
 * window of pending records, docs/COMPAT.md section 4 gives the rule).
 */
#ifndef TTM_COMMON_POCTRACE_H
#define TTM_COMMON_POCTRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/event.h"

#define TTM_POCTRACE_LINE_MAX 2048 /* bytes kept of a line (longer ones are cut) */
#define TTM_POCTRACE_FRAMES   15   /* frames kept per record: the prototype prints 15 */
#define TTM_POCTRACE_KEEP_BAD 5    /* bad lines kept for display */
#define TTM_POCTRACE_BAD_LEN  160  /* bytes kept of each */

typedef enum ttm_poctrace_kind {
    TTM_POCTRACE_ALLOC = 1, /* "Allocation #N" */
    TTM_POCTRACE_FREE = 2,  /* "Deallocation" */
} ttm_poctrace_kind;

/* One frame line. text is the line without its indent, len bytes (which may hold any byte, NUL
 * too) and a NUL after them; the module is
 * text[0, module_len), the function text[func_off, func_off + func_len) (both empty when the
 * line does not have them, e.g. a stripped frame "MODULE : +0x1d"), the source file
 * text[file_off, file_off + file_len) and line when the line ends in " at FILE:LINE" (else
 * both 0). sym_off/sym_len span the symbol as printed, offset included ("main+0x3c",
 * "+0x1d"; the whole text when the line has no module). cut: the line was longer than
 * TTM_POCTRACE_LINE_MAX; text holds its start and nothing else was parsed (sym = the text). */
typedef struct ttm_poctrace_frame {
    char text[TTM_POCTRACE_LINE_MAX + 1];
    uint16_t len;
    uint16_t module_len;
    uint16_t func_off, func_len;
    uint16_t sym_off, sym_len;
    uint16_t file_off, file_len;
    uint32_t line;
    bool has_offset; /* "+0xOFF" (or "-0xOFF": offset_neg) after the function */
    bool offset_neg;
    bool has_addr; /* "[0xADDR]" at the end (backtrace_symbols' raw form) */
    bool cut;
    uint64_t offset;
    uint64_t addr;
} ttm_poctrace_frame;

typedef struct ttm_poctrace_record {
    ttm_poctrace_kind kind;
    bool has_number; /* allocations are numbered per process from 0; deallocations are not */
    bool has_pid;    /* a "PID:" line came before it */
    uint64_t number;
    uint32_t pid;    /* of the last header before the block */
    uint64_t lineno; /* line of "Allocation"/"Deallocation", from 1 */
    char time[20];   /* "YYYY-MM-DD HH:MM:SS", the writer's local time */
    int32_t device;
    uint8_t memtype;     /* TTM_MEM_*; TTM_MEM_ANY for "UNKNOWN" and on deallocations */
    uint64_t size;       /* bytes; 0 on deallocations */
    uint64_t address;    /* the buffer id the client reported */
    uint32_t nframes;    /* frames kept, innermost first */
    uint32_t frames_cut; /* frames dropped past TTM_POCTRACE_FRAMES */
    ttm_poctrace_frame frames[TTM_POCTRACE_FRAMES];
} ttm_poctrace_record;

typedef struct ttm_poctrace_stats {
    uint64_t lines, bytes;
    uint64_t headers; /* header lines */
    uint64_t records, allocs, frees;
    uint64_t frames;       /* frames in the records reported */
    uint64_t frames_cut;   /* frames dropped from them */
    uint64_t lines_cut;    /* lines longer than TTM_POCTRACE_LINE_MAX */
    uint64_t truncated;    /* blocks that ended before their blank line */
    uint64_t bad;          /* blocks dropped on an unexpected line */
    uint64_t garbage;      /* lines outside any block that are nothing known */
    uint64_t skipped;      /* blank lines, rules and PID lines outside blocks */
    uint64_t partial_last; /* 1 when the input ended in the middle of a line */
    size_t nkept;
    uint64_t kept_lineno[TTM_POCTRACE_KEEP_BAD];
    char kept[TTM_POCTRACE_KEEP_BAD][TTM_POCTRACE_BAD_LEN];
} ttm_poctrace_stats;

/* Called once per complete record (valid only during the call). A nonzero return stops the
 * feed and is returned from ttm__poctrace_feed/_finish. */
typedef int (*ttm_poctrace_fn)(void *arg, const ttm_poctrace_record *rec);

typedef struct ttm_poctrace {
    ttm_poctrace_stats st;
    ttm_poctrace_fn fn;
    void *arg;
    int state; /* the line expected next */
    bool has_pid;
    uint32_t pid;
    size_t len; /* bytes in line */
    bool line_cut;
    char line[TTM_POCTRACE_LINE_MAX + 1];
    ttm_poctrace_record rec; /* the block being read */
} ttm_poctrace;

/* Resets r to read a new input; fn(arg, record) receives the records. */
void ttm__poctrace_init(ttm_poctrace *r, ttm_poctrace_fn fn, void *arg);

/* Feeds len bytes (any bytes; chunks may split lines anywhere). Returns 0, or the first nonzero
 * return of the callback (the rest of data is then not read). */
int ttm__poctrace_feed(ttm_poctrace *r, const void *data, size_t len);

/* ttm__poctrace_feed() that can be resumed: a nonzero return of the callback pauses the feed
 * after the line that ended the record, *used receives the bytes read so far (all of them when
 * it returns 0), and the caller feeds data + *used later. */
int ttm__poctrace_feed_part(ttm_poctrace *r, const void *data, size_t len, size_t *used);

/* Ends the input: a last line without a newline is counted (lines, partial_last) but not read,
 * and a block still open is counted as truncated. No record can end here: returns 0. */
int ttm__poctrace_finish(ttm_poctrace *r);

/* ---- matching records with a server log's events ---------------------------------------- */

/*
 * The matcher holds a bounded window of pending records (in the log's order, each with the
 * stack id its caller interned for it) and hands each of a server log's events the stack of the
 * oldest pending record with the same key:
 *   ALLOC  kind, device, address, size, and type (a record of type UNKNOWN fits any type);
 *   FREE   kind, device, address.
 * The pid is not part of the key: the log names the pid of the last header before a block
 * (another process's when processes share the file) and the server names a free by its
 * buffer's owner. The server log has no times, so order is the only tie-breaker.
 * A record is given up (counted in `dropped`) when a record 1/2 window newer than it has been
 * taken (the events went past it), and the whole window is given up when it is full and 1/2
 * window of events in a row found nothing in it (the logs are out of step, e.g. the log still
 * holds an earlier run: a resynchronisation, counted; reading ahead again, the window catches
 * up at twice the pace of the events). Records still pending at the end count as `left`.
 */
#define TTM_POCTRACE_WINDOW 65536u /* pending records, by default */

typedef struct ttm_poctrace_match_stats {
    uint64_t added;   /* records put in the window */
    uint64_t taken;   /* events given a record's stack */
    uint64_t missed;  /* events no pending record matched */
    uint64_t dropped; /* records given up (the events went past them, or a resync) */
    uint64_t resyncs; /* times the window was given up */
    uint64_t left;    /* records pending at ttm__poctrace_matcher_stats() */
    uint64_t peak;    /* most records pending at once */
} ttm_poctrace_match_stats;

typedef struct ttm_poctrace_matcher ttm_poctrace_matcher;

/* A matcher of window pending records (0: TTM_POCTRACE_WINDOW; at least 2, at most 2^24).
 * Returns 0, TTM_EINVAL or TTM_ENOMEM. */
int ttm__poctrace_matcher_open(ttm_poctrace_matcher **out, uint32_t window);
/* NULL is a no-op. */
void ttm__poctrace_matcher_close(ttm_poctrace_matcher *m);
/* True when the window is full: match events before adding. */
bool ttm__poctrace_matcher_full(const ttm_poctrace_matcher *m);
/* Adds rec (the next record of the log) with its stack id; returns TTM_ELIMIT (nothing added)
 * when the window is full. */
int ttm__poctrace_matcher_add(ttm_poctrace_matcher *m, const ttm_poctrace_record *rec,
                              uint32_t stack);
/* The stack of the record that matches the server log's event ev (ALLOC or FREE; the record
 * leaves the window, counted in taken), or 0 when none does (counted in missed; any other kind
 * of event is neither). */
uint32_t ttm__poctrace_matcher_take(ttm_poctrace_matcher *m, const ttm_event *ev);
/* The counters (left = the records pending now). */
void ttm__poctrace_matcher_stats(const ttm_poctrace_matcher *m, ttm_poctrace_match_stats *out);

#endif /* TTM_COMMON_POCTRACE_H */
