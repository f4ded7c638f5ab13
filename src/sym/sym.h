/*
 * sym.h — the report-time symbolizer: turns a native frame, (module path, build-id, offset),
 * into function, source file and line, from the module's debug information (DWARF) when it
 * has some, else from its symbol tables (.symtab, then .dynsym). C++ names are demangled.
 *
 * Used by the CLI only, never on an event path, never in libttmem or ttmemd (it links libdw).
 * See docs/SYMBOLS.md for what is looked up where.
 *
 * Modules are matched by GNU build-id, so an answer is never taken from another build of the
 * file: the file at `path` is used when its build-id equals the report's; otherwise the debug
 * directories are searched (DIR/.build-id/xx/yyyy.debug for each DIR, default /usr/lib/debug,
 * overridden by ttm_sym_set_debug_dirs or the environment variable TTMEM_DEBUG_DIRS), then the
 * file's .gnu_debuglink; when nothing matches the lookup returns TTM_ENOENT and the caller
 * shows module+offset. A file with debug information split off (Debian -dbgsym packages) gets
 * its lines from the debug file found the same way.
 *
 * Lifecycle: ttm_sym_open() makes a handle, ttm_sym_close() frees it and every string it ever
 * returned; ttm_sym_close(NULL) is a no-op. A handle is not thread-safe (one per thread).
 * Caches: one opened module per (path, build-id) and a per-address result cache, both bounded
 * (TTM_SYM_MAX_MODULES, TTM_SYM_MAX_ADDRS); strings returned stay valid until close even when
 * their cache entry was evicted.
 */
#ifndef TTM_SYM_SYM_H
#define TTM_SYM_SYM_H

#include <stddef.h>
#include <stdint.h>

/* Where a frame's function name came from. */
#define TTM_SYM_NONE   0u /* nothing known */
#define TTM_SYM_DEBUG  1u /* DWARF (the innermost function, inlined ones included) */
#define TTM_SYM_SYMTAB 2u /* the ELF symbol table .symtab (of the file or its debug file) */
#define TTM_SYM_DYNSYM 3u /* the dynamic symbol table only (a fully stripped file) */

/* Bounds of a handle's caches: modules kept open (the least recently used one is closed
 * beyond it), and addresses whose answers are kept (the cache is emptied when full). */
#define TTM_SYM_MAX_MODULES 64u
#define TTM_SYM_MAX_ADDRS   (1u << 20)

typedef struct ttm_sym ttm_sym;

typedef struct ttm_sym_frame {
    const char *function; /* demangled; NULL unknown */
    const char *file;     /* NULL unknown */
    uint32_t line;        /* 0 unknown */
    uint8_t source;       /* TTM_SYM_NONE / _DEBUG / _SYMTAB / _DYNSYM: where function came from */
} ttm_sym_frame;          /* strings owned by s, valid until ttm_sym_close */

/* Counters of a handle, for benches and tests. */
typedef struct ttm_sym_stats {
    uint64_t lookups;         /* ttm_sym_lookup / _inline calls with valid arguments */
    uint64_t addr_hits;       /* answered from the per-address cache */
    uint64_t modules_opened;  /* (path, build-id) pairs opened with a matching file */
    uint64_t modules_failed;  /* pairs with no matching file (missing, other build-id) */
    uint64_t modules_evicted; /* modules closed by the TTM_SYM_MAX_MODULES bound */
    uint64_t addrs_evicted;   /* addresses dropped by the TTM_SYM_MAX_ADDRS bound */
} ttm_sym_stats;

/* Makes a symbolizer into *out. The debug directories start as $TTMEM_DEBUG_DIRS when set
 * (a ':'-separated list of roots), else "/usr/lib/debug". Returns 0, TTM_EINVAL (out NULL) or
 * TTM_ENOMEM (*out NULL then). */
int ttm_sym_open(ttm_sym **out);

/* Frees s, its modules, caches and every string it returned. NULL is a no-op. */
void ttm_sym_close(ttm_sym *s);

/* Replaces the debug directories by dirs, a ':'-separated list of roots searched for
 * ROOT/.build-id/xx/yyyy.debug and for debuglink targets (empty entries are skipped; "" means
 * none). Closes the modules opened so far and empties the address cache, so later answers
 * use the new directories (strings returned before stay valid). Returns 0, TTM_EINVAL (s or
 * dirs NULL), TTM_ENOMEM. */
int ttm_sym_set_debug_dirs(ttm_sym *s, const char *dirs);

/* Symbolizes one frame. path: the module's file as the report names it; build_id/build_id_len:
 * its GNU build-id from the report (NULL/0 when the report has none: the file at path is then
 * used unverified); offset: a return address in the module's own numbering (its ELF virtual
 * address), so offset - 1 is looked up. On success fills *out and returns 0: at least the
 * function or the line is known. Returns TTM_ENOENT (*out all unknown) when the module cannot
 * be used (NULL or empty path, "[vdso]" or another non-file name, file missing or of another
 * build-id with no matching debug file) or nothing covers the address; TTM_EINVAL (s or out
 * NULL); TTM_ENOMEM. */
int ttm_sym_lookup(ttm_sym *s, const char *path, const uint8_t *build_id, size_t build_id_len,
                   uint64_t offset, ttm_sym_frame *out);

/* Like ttm_sym_lookup, but reports the inlining chain at the address: out[0] is the innermost
 * function (the one ttm_sym_lookup names, with the same file and line), out[1] the function it
 * was inlined into with the file and line of that call site, and so on out to the real
 * (out-of-line) function; at most cap frames (and at most 32 levels of inlining), *n set to
 * the number filled (1 when nothing was inlined or no DWARF is there). Shares the address cache
 * with ttm_sym_lookup (an address is resolved once, chain included, whichever asks first). Same
 * returns as ttm_sym_lookup; TTM_EINVAL also for cap 0 or n NULL. */
int ttm_sym_lookup_inline(ttm_sym *s, const char *path, const uint8_t *build_id,
                          size_t build_id_len, uint64_t offset, ttm_sym_frame *out, size_t cap,
                          size_t *n);

/* Copies the counters of s into *st (zeros for s NULL). */
void ttm_sym_stats_get(const ttm_sym *s, ttm_sym_stats *st);

#endif /* TTM_SYM_SYM_H */
