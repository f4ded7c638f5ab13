/*
 * sym.c — the report-time symbolizer (sym.h): one libdwfl offline session per module file,
 * opened after its build-id was checked against the report's, and two caches in front of it
 * (the modules, the answers per address). The lookup order and the files searched are in
 * docs/SYMBOLS.md.
 *
 * Addresses: each module is reported to libdwfl at bias 0 (dwfl_report_elf, ET_DYN placed at
 * its own p_vaddr), so a report's offset (the ELF virtual address of a return address) plus
 * the bias libdwfl gives back is the address looked up; offset - 1 lies inside the call
 * instruction. Only addresses inside an executable PT_LOAD segment of the file are looked up:
 * anything else (a header, data, an offset beyond the file) has no answer rather than the
 * nearest symbol's name.
 *
 * Demangling: __cxa_demangle of libstdc++, found with dlopen("libstdc++.so.6") at the first
 * mangled name. The CLI stays a C program with no link dependency on libstdc++; where
 * libstdc++ is absent the mangled name is shown.
 */
#include "sym/sym.h"

#include "common/alloc.h"
#include "core/store.h"
#include "core/table.h"
#include "ttmem/ttmem.h"

#include <dlfcn.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SYM_BUILD_ID_MAX 64u /* longer build-ids are not matched (GNU ld writes 20 bytes) */
#define SYM_EXEC_MAX     8u  /* executable PT_LOAD segments kept per module */
#define SYM_DEFAULT_DIRS "/usr/lib/debug"
#define SYM_STR_CHUNK    65536u
#define SYM_INLINE_MAX   32u /* inlining depth followed at one address */

/* A function's code range (in the DWARF's numbering) and its DIE. */
typedef struct sym_fn {
    Dwarf_Addr lo, hi;
    Dwarf_Die die;
} sym_fn;

/* The functions of one compilation unit with code, sorted by start: found by a binary search
 * instead of a walk of the CU's DIE tree per address (dwarf_getscopes), which costs tens of
 * microseconds per address in a large CU. Present entries have key != 0. */
typedef struct sym_cu {
    Dwarf_Off key; /* the CU DIE's offset + 1 */
    sym_fn *fns;
    size_t n;
} sym_cu;

/* A function symbol of the module's symbol table, at its libdwfl address. */
typedef struct sym_fsym {
    Dwarf_Addr addr;
    uint64_t size;
    const char *name; /* in libdwfl's mapping of the string table: valid while dwfl is open */
    int rank;         /* STB_GLOBAL 2, STB_WEAK 1, else 0: the best of aliases sorts last */
} sym_fsym;

/* A compilation unit's code range (in libdwfl's numbering), for files without .debug_aranges
 * (clang does not write it): its CU DIE and the DWARF bias. */
typedef struct sym_curange {
    Dwarf_Addr lo, hi, bias;
    Dwarf_Die cu;
} sym_curange;

/* One (path, build-id) pair asked for: usable (dwfl set) or known to have no matching file. */
typedef struct sym_mod {
    char *path;
    uint8_t bid[SYM_BUILD_ID_MAX];
    size_t bid_len;
    uint64_t hash, id, last_use;
    Dwfl *dwfl; /* NULL: no matching file */
    Dwfl_Module *mod;
    Dwarf_Addr bias; /* libdwfl address = ELF virtual address + bias */
    struct {
        uint64_t lo, hi;
    } exec[SYM_EXEC_MAX];
    unsigned nexec;
    bool main_symtab;  /* the file libdwfl reads as the module has a .symtab */
    uint8_t table_src; /* TTM_SYM_SYMTAB / _DYNSYM once known, 0 before */
    ttm_table cus;     /* sym_cu: the function index of each CU looked at */
    /* The function symbols sorted by address, built at the first lookup that needs them
     * (dwfl_module_addrinfo scans the whole table on every call). */
    sym_fsym *syms;
    size_t nsyms;
    bool syms_built;
    /* The CU ranges sorted by start, built when .debug_aranges did not know an address. */
    sym_curange *curs;
    size_t ncurs;
    bool curs_built;
} sym_mod;

/* An answer per (module id, offset); the module id is never reused, so answers of an evicted
 * module are never matched again. Present entries have mod_id != 0. */
typedef struct sym_addr {
    uint64_t mod_id, offset;
    ttm_sym_frame f;            /* the innermost function (what ttm_sym_lookup answers) */
    const ttm_sym_frame *outer; /* the functions it was inlined into (in the chunks) */
    uint32_t nouter;
} sym_addr;

/* An interned string: its hash and text (in the chunks); for a mangled C++ name, its
 * demangled form once asked for (so each name is demangled once). */
typedef struct sym_str {
    uint64_t hash;
    const char *text;
    const char *demangled;
} sym_str;

typedef struct sym_str_key {
    const char *text;
    size_t len;
} sym_str_key;

typedef struct sym_chunk {
    struct sym_chunk *next;
    size_t used, cap;
    _Alignas(8) char data[];
} sym_chunk;

typedef char *(*sym_demangle_fn)(const char *, char *, size_t *, int *);

struct ttm_sym {
    Dwfl_Callbacks cb;
    char *dipath; /* libdwfl's debuginfo_path: ":.debug:" then the roots */
    char *roots;  /* the debug roots as given, ':'-separated */
    sym_mod mods[TTM_SYM_MAX_MODULES];
    unsigned nmods;
    unsigned last; /* index of the module of the previous lookup (checked against nmods) */
    uint64_t next_mod_id, tick;
    ttm_table addrs; /* sym_addr */
    ttm_table strs;  /* sym_str */
    sym_chunk *chunks;
    void *cxx; /* dlopen handle of libstdc++, or NULL */
    sym_demangle_fn demangle;
    bool demangle_tried;
    bool oom; /* an allocation of a lookup failed since the flag was last cleared */
    ttm_sym_stats st;
};

/* The sorted arrays below (function ranges, symbols, CU ranges) start each entry with its
 * start address, so one search serves them all. */
_Static_assert(offsetof(sym_fn, lo) == 0, "sym_fn starts with its key");
_Static_assert(offsetof(sym_fsym, addr) == 0, "sym_fsym starts with its key");
_Static_assert(offsetof(sym_curange, lo) == 0, "sym_curange starts with its key");

/* How many of the n entries (of size bytes each, sorted by the Dwarf_Addr each starts with)
 * start at or below addr: the entry that may hold addr is the one before that index. */
static size_t upper_bound(const void *arr, size_t n, size_t size, Dwarf_Addr addr)
{
    const uint8_t *p = arr;
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        Dwarf_Addr key;
        memcpy(&key, p + mid * size, sizeof(key));
        if (key <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* ---- tables -------------------------------------------------------------------------------- */

static uint64_t addr_hash_of(uint64_t mod_id, uint64_t offset)
{
    return ttm__mix64(offset ^ (mod_id * 0x9e3779b97f4a7c15ull));
}

static uint64_t addr_hash(const void *e)
{
    const sym_addr *a = e;
    return addr_hash_of(a->mod_id, a->offset);
}

static bool addr_empty(const void *e)
{
    return ((const sym_addr *)e)->mod_id == 0;
}

static bool addr_match(const void *e, const void *key)
{
    const sym_addr *a = e, *k = key;
    return a->mod_id == k->mod_id && a->offset == k->offset;
}

static const ttm_table_type addr_type = {
    .entry_size = sizeof(sym_addr), .hash = addr_hash, .empty = addr_empty, .match = addr_match};

static uint64_t str_hash_of(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
    return ttm__mix64(h) | 1; /* never 0: a present entry is never all zero */
}

static uint64_t str_hash(const void *e)
{
    return ((const sym_str *)e)->hash;
}

static bool str_empty(const void *e)
{
    return ((const sym_str *)e)->text == NULL;
}

static bool str_match(const void *e, const void *key)
{
    const sym_str *s = e;
    const sym_str_key *k = key;
    return strncmp(s->text, k->text, k->len) == 0 && s->text[k->len] == '\0';
}

static const ttm_table_type str_type = {
    .entry_size = sizeof(sym_str), .hash = str_hash, .empty = str_empty, .match = str_match};

static uint64_t cu_hash(const void *e)
{
    return ttm__mix64(((const sym_cu *)e)->key);
}

static bool cu_empty(const void *e)
{
    return ((const sym_cu *)e)->key == 0;
}

static bool cu_match(const void *e, const void *key)
{
    return ((const sym_cu *)e)->key == ((const sym_cu *)key)->key;
}

static const ttm_table_type cu_type = {
    .entry_size = sizeof(sym_cu), .hash = cu_hash, .empty = cu_empty, .match = cu_match};

/* n bytes aligned to align (a power of two ≤ 8) from the chunks, kept until ttm_sym_close;
 * NULL when memory is short (s->oom set). */
static void *arena_take(ttm_sym *s, size_t n, size_t align)
{
    sym_chunk *c = s->chunks;
    size_t at = c != NULL ? (c->used + align - 1) & ~(align - 1) : 0;
    if (c == NULL || at > c->cap || c->cap - at < n) {
        size_t cap = n > SYM_STR_CHUNK ? n : SYM_STR_CHUNK;
        c = ttm__malloc(sizeof(*c) + cap);
        if (c == NULL) {
            s->oom = true;
            return NULL;
        }
        c->cap = cap;
        c->used = 0;
        c->next = s->chunks;
        s->chunks = c;
        at = 0;
    }
    c->used = at + n;
    return c->data + at;
}

/* The entry of the interned copy of s[0..n), valid until the next intern; NULL when memory is
 * short (s->oom set). */
static sym_str *intern_entry(ttm_sym *s, const char *text, size_t n)
{
    sym_str_key key = {text, n};
    uint64_t h = str_hash_of(text, n);
    sym_str *hit = ttm__table_find(&s->strs, &str_type, h, &key);
    if (hit != NULL)
        return hit;
    if (!ttm__table_reserve(&s->strs)) {
        s->oom = true;
        return NULL;
    }
    char *copy = arena_take(s, n + 1, 1);
    if (copy == NULL)
        return NULL;
    memcpy(copy, text, n);
    copy[n] = '\0';
    sym_str *e = ttm__table_add(&s->strs, &str_type, h); /* room was reserved: never NULL */
    *e = (sym_str){.hash = h, .text = copy};
    return e;
}

/* The interned copy of text (NULL for NULL), valid until ttm_sym_close; NULL when memory is
 * short (s->oom set). */
static const char *intern_str(ttm_sym *s, const char *text)
{
    const sym_str *e = text != NULL ? intern_entry(s, text, strlen(text)) : NULL;
    return e != NULL ? e->text : NULL;
}

/* The demangled, interned form of a symbol or linkage name (itself when it is no C++ name or
 * libstdc++ is not there). */
static const char *demangled(ttm_sym *s, const char *name)
{
    if (name == NULL || name[0] == '\0')
        return NULL;
    if (strncmp(name, "_Z", 2) != 0)
        return intern_str(s, name);
    if (!s->demangle_tried) {
        s->demangle_tried = true;
        s->cxx = dlopen("libstdc++.so.6", RTLD_LAZY | RTLD_LOCAL);
        void *fn = s->cxx != NULL ? dlsym(s->cxx, "__cxa_demangle") : NULL;
        memcpy(&s->demangle, &fn, sizeof(fn)); /* POSIX: a function's address as void * */
    }
    sym_str *e = intern_entry(s, name, strlen(name));
    if (e == NULL || s->demangle == NULL || e->demangled != NULL)
        return e == NULL ? NULL : e->demangled != NULL ? e->demangled : e->text;
    const char *mangled = e->text;
    int status = 0;
    char *d = s->demangle(name, NULL, NULL, &status);
    const char *r = status == 0 && d != NULL ? intern_str(s, d) : mangled;
    free(d); /* __cxa_demangle allocates with malloc */
    if (r == NULL)
        return NULL;
    /* The mangled name's entry again: interning the demangled one may have moved it. */
    e = intern_entry(s, mangled, strlen(mangled)); /* present: found, never added */
    if (e != NULL)
        e->demangled = r;
    return r;
}

/* ---- module files -------------------------------------------------------------------------- */

/* What a candidate file says about itself. */
typedef struct sym_file {
    bool matches; /* an ELF file whose build-id is the one asked for */
    bool main_symtab;
    uint64_t exec[SYM_EXEC_MAX][2];
    unsigned nexec;
    char *debuglink; /* its .gnu_debuglink name (owned), or NULL */
} sym_file;

/* Reads file's build-id, executable segments, .symtab presence and debuglink into *f.
 * bid_len 0: any ELF file matches. Returns 0 (f->matches tells), TTM_ENOENT (no such file, not
 * ELF), TTM_ENOMEM. */
static int file_probe(const char *file, const uint8_t *bid, size_t bid_len, sym_file *f)
{
    memset(f, 0, sizeof(*f));
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return TTM_ENOENT;
    int rc = TTM_ENOENT;
    Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    if (elf == NULL || elf_kind(elf) != ELF_K_ELF)
        goto out_end;
    const void *got = NULL;
    ssize_t got_len = dwelf_elf_gnu_build_id(elf, &got);
    if (bid_len == 0)
        f->matches = true;
    else
        f->matches = got_len == (ssize_t)bid_len && memcmp(got, bid, bid_len) == 0;
    size_t nph = 0;
    if (elf_getphdrnum(elf, &nph) == 0) {
        for (size_t i = 0; i < nph && f->nexec < SYM_EXEC_MAX; i++) {
            GElf_Phdr ph;
            if (gelf_getphdr(elf, (int)i, &ph) != NULL && ph.p_type == PT_LOAD &&
                (ph.p_flags & PF_X) != 0) {
                f->exec[f->nexec][0] = ph.p_vaddr;
                f->exec[f->nexec][1] = ph.p_vaddr + ph.p_memsz;
                f->nexec++;
            }
        }
    }
    for (Elf_Scn *scn = elf_nextscn(elf, NULL); scn != NULL; scn = elf_nextscn(elf, scn)) {
        GElf_Shdr sh;
        if (gelf_getshdr(scn, &sh) != NULL && sh.sh_type == SHT_SYMTAB) {
            f->main_symtab = true;
            break;
        }
    }
    GElf_Word crc;
    const char *link = dwelf_elf_gnu_debuglink(elf, &crc);
    rc = 0;
    if (link != NULL && link[0] != '\0' && strchr(link, '/') == NULL) {
        f->debuglink = ttm__malloc(strlen(link) + 1);
        if (f->debuglink == NULL)
            rc = TTM_ENOMEM;
        else
            strcpy(f->debuglink, link);
    }
out_end:
    elf_end(elf);
    close(fd);
    return rc;
}

/* Tries one candidate file for m: when it matches, reports it to a new libdwfl session and
 * returns 0; TTM_ENOENT when it does not match or cannot be used; TTM_ENOMEM. */
static int mod_try(ttm_sym *s, sym_mod *m, const char *file)
{
    sym_file f;
    int rc = file_probe(file, m->bid, m->bid_len, &f);
    ttm__free(f.debuglink);
    if (rc != 0)
        return rc;
    if (!f.matches || f.nexec == 0)
        return TTM_ENOENT;
    Dwfl *dwfl = dwfl_begin(&s->cb);
    if (dwfl == NULL)
        return TTM_ENOMEM;
    dwfl_report_begin(dwfl);
    Dwfl_Module *mod = dwfl_report_elf(dwfl, file, file, -1, 0, true);
    if (mod == NULL || dwfl_report_end(dwfl, NULL, NULL) != 0) {
        dwfl_end(dwfl);
        return TTM_ENOENT;
    }
    GElf_Addr bias = 0;
    if (dwfl_module_getelf(mod, &bias) == NULL) {
        dwfl_end(dwfl);
        return TTM_ENOENT;
    }
    m->dwfl = dwfl;
    m->mod = mod;
    m->bias = bias;
    m->main_symtab = f.main_symtab;
    m->nexec = f.nexec;
    for (unsigned i = 0; i < f.nexec; i++) {
        m->exec[i].lo = f.exec[i][0];
        m->exec[i].hi = f.exec[i][1];
    }
    return 0;
}

/* Writes "a" + "b" + "c" into a new string (owned by the caller), or NULL. */
static char *join3(const char *a, const char *b, const char *c)
{
    size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
    char *r = ttm__malloc(la + lb + lc + 1);
    if (r != NULL) {
        memcpy(r, a, la);
        memcpy(r + la, b, lb);
        memcpy(r + la + lb, c, lc + 1);
    }
    return r;
}

/* Calls mod_try(s, m, ROOT + middle + tail) for each debug root ROOT until one returns other
 * than TTM_ENOENT, and returns that (TTM_ENOENT when none did). */
static int roots_try(ttm_sym *s, sym_mod *m, const char *middle, const char *tail)
{
    const char *p = s->roots;
    while (*p != '\0') {
        const char *end = strchr(p, ':');
        size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
        if (n > 0) {
            char *root = ttm__malloc(n + 1);
            if (root == NULL)
                return TTM_ENOMEM;
            memcpy(root, p, n);
            root[n] = '\0';
            char *file = join3(root, middle, tail);
            ttm__free(root);
            if (file == NULL)
                return TTM_ENOMEM;
            int rc = mod_try(s, m, file);
            ttm__free(file);
            if (rc != TTM_ENOENT)
                return rc;
        }
        p += n;
        if (*p == ':')
            p++;
    }
    return TTM_ENOENT;
}

/* The files tried for m once the file at its path was missing or of another build: the debug
 * roots' .build-id/xx/yyyy.debug, then the path's debuglink beside it, in .debug/ beside it and
 * under each root. */
static int mod_find_elsewhere(ttm_sym *s, sym_mod *m)
{
    int rc = TTM_ENOENT;
    if (m->bid_len > 1) {
        char rel[16 + 2 * SYM_BUILD_ID_MAX + 8];
        int k = snprintf(rel, sizeof(rel), "/.build-id/%02x/", m->bid[0]);
        for (size_t i = 1; i < m->bid_len; i++)
            k += snprintf(rel + k, sizeof(rel) - (size_t)k, "%02x", m->bid[i]);
        rc = roots_try(s, m, rel, ".debug");
        if (rc != TTM_ENOENT)
            return rc;
    }
    sym_file f;
    if (file_probe(m->path, NULL, 0, &f) != 0 || f.debuglink == NULL) {
        ttm__free(f.debuglink);
        return TTM_ENOENT;
    }
    const char *slash = strrchr(m->path, '/');
    size_t dlen = slash != NULL ? (size_t)(slash - m->path) + 1 : 0; /* with the '/' */
    char *dir = ttm__malloc(dlen + 1);
    if (dir == NULL) {
        rc = TTM_ENOMEM;
        goto out_link;
    }
    memcpy(dir, m->path, dlen);
    dir[dlen] = '\0';
    static const char *const beside[] = {"", ".debug/"};
    for (size_t i = 0; i < 2 && rc == TTM_ENOENT; i++) {
        char *file = join3(dir, beside[i], f.debuglink);
        if (file == NULL) {
            rc = TTM_ENOMEM;
            break;
        }
        rc = mod_try(s, m, file);
        ttm__free(file);
    }
    if (rc == TTM_ENOENT && dir[0] == '/')
        rc = roots_try(s, m, dir, f.debuglink);
    ttm__free(dir);
out_link:
    ttm__free(f.debuglink);
    return rc;
}

static void mod_drop(sym_mod *m)
{
    size_t pos = 0;
    for (sym_cu *c; (c = ttm__table_next(&m->cus, &cu_type, &pos)) != NULL;)
        ttm__free(c->fns);
    ttm__table_free(&m->cus);
    ttm__free(m->syms);
    ttm__free(m->curs);
    if (m->dwfl != NULL)
        dwfl_end(m->dwfl);
    ttm__free(m->path);
    memset(m, 0, sizeof(*m));
}

static uint64_t mod_hash_of(const char *path, const uint8_t *bid, size_t bid_len)
{
    uint64_t h = str_hash_of(path, strlen(path));
    return ttm__mix64(h ^ str_hash_of((const char *)bid, bid_len));
}

/* True when m is the entry of (path, bid). */
static bool mod_is(const sym_mod *m, const char *path, const uint8_t *bid, size_t bid_len)
{
    return m->bid_len == bid_len && memcmp(m->bid, bid, bid_len) == 0 && strcmp(m->path, path) == 0;
}

/* The module entry of (path, bid): a cached one, or a new one (opened now; its dwfl stays NULL
 * when no matching file was found). NULL when memory is short. */
static sym_mod *mod_get(ttm_sym *s, const char *path, const uint8_t *bid, size_t bid_len)
{
    /* The module of the previous lookup first: a stack's frames come in runs of one module,
     * and this spares the hash of the path. */
    sym_mod *last = s->last < s->nmods ? &s->mods[s->last] : NULL;
    if (last != NULL && mod_is(last, path, bid, bid_len)) {
        last->last_use = ++s->tick;
        return last;
    }
    uint64_t h = mod_hash_of(path, bid, bid_len);
    for (unsigned i = 0; i < s->nmods; i++) {
        sym_mod *m = &s->mods[i];
        if (m->hash == h && mod_is(m, path, bid, bid_len)) {
            m->last_use = ++s->tick;
            s->last = i;
            return m;
        }
    }
    size_t plen = strlen(path);
    char *copy = ttm__malloc(plen + 1);
    if (copy == NULL)
        return NULL;
    memcpy(copy, path, plen + 1);
    sym_mod *m;
    if (s->nmods < TTM_SYM_MAX_MODULES) {
        m = &s->mods[s->nmods++];
    } else {
        m = &s->mods[0];
        for (unsigned i = 1; i < s->nmods; i++)
            if (s->mods[i].last_use < m->last_use)
                m = &s->mods[i];
        mod_drop(m);
        s->st.modules_evicted++;
    }
    m->path = copy;
    ttm__table_init(&m->cus, &cu_type, SIZE_MAX / 2);
    memcpy(m->bid, bid, bid_len);
    m->bid_len = bid_len;
    m->hash = h;
    m->id = ++s->next_mod_id;
    m->last_use = ++s->tick;
    int rc = mod_try(s, m, path);
    if (rc == TTM_ENOENT && bid_len > 0)
        rc = mod_find_elsewhere(s, m);
    if (rc == TTM_ENOMEM) { /* not remembered: a later lookup tries again */
        mod_drop(m);
        *m = s->mods[--s->nmods];
        memset(&s->mods[s->nmods], 0, sizeof(*m));
        return NULL;
    }
    if (rc == 0)
        s->st.modules_opened++;
    else
        s->st.modules_failed++;
    s->last = (unsigned)(m - s->mods);
    return m;
}

/* The symbol table libdwfl uses for m: the .symtab of the file or of its debug file, else the
 * dynamic one. */
static uint8_t mod_table_src(sym_mod *m)
{
    if (m->table_src != 0)
        return m->table_src;
    m->table_src = TTM_SYM_DYNSYM;
    if (m->main_symtab) {
        m->table_src = TTM_SYM_SYMTAB;
        return m->table_src;
    }
    Dwarf_Addr b;
    Dwarf *dw = dwfl_module_getdwarf(m->mod, &b);
    Elf *elf = dw != NULL ? dwarf_getelf(dw) : NULL;
    for (Elf_Scn *scn = elf != NULL ? elf_nextscn(elf, NULL) : NULL; scn != NULL;
         scn = elf_nextscn(elf, scn)) {
        GElf_Shdr sh;
        if (gelf_getshdr(scn, &sh) != NULL && sh.sh_type == SHT_SYMTAB) {
            m->table_src = TTM_SYM_SYMTAB;
            break;
        }
    }
    return m->table_src;
}

static int fsym_cmp(const void *a, const void *b)
{
    const sym_fsym *x = a, *y = b;
    if (x->addr != y->addr)
        return x->addr < y->addr ? -1 : 1;
    return (x->rank > y->rank) - (x->rank < y->rank);
}

/* Builds m's sorted function symbols from the table libdwfl chose for it (.symtab of the file
 * or of its debug file, else .dynsym). Returns 0 or TTM_ENOMEM. */
static int mod_symbols_build(sym_mod *m)
{
    int count = dwfl_module_getsymtab(m->mod);
    size_t cap = 0, n = 0;
    sym_fsym *v = NULL;
    for (int i = 0; i < count; i++) {
        GElf_Sym sym;
        GElf_Addr addr;
        GElf_Word shndx;
        const char *name = dwfl_module_getsym_info(m->mod, i, &sym, &addr, &shndx, NULL, NULL);
        unsigned type = GELF_ST_TYPE(sym.st_info), bind = GELF_ST_BIND(sym.st_info);
        if (name == NULL || name[0] == '\0' || shndx == SHN_UNDEF ||
            (type != STT_FUNC && type != STT_GNU_IFUNC))
            continue;
        sym_fsym *g = ttm__grow(v, &cap, n, sizeof(*v), 256);
        if (g == NULL) {
            ttm__free(v);
            return TTM_ENOMEM;
        }
        v = g;
        v[n++] = (sym_fsym){.addr = addr,
                            .size = sym.st_size,
                            .name = name,
                            .rank = bind == STB_GLOBAL ? 2
                                    : bind == STB_WEAK ? 1
                                                       : 0};
    }
    if (n > 1)
        qsort(v, n, sizeof(*v), fsym_cmp);
    m->syms = v;
    m->nsyms = n;
    m->syms_built = true;
    return 0;
}

/* The function symbol whose code holds addr: the one of the nearest start at or below it
 * when its size covers addr (or it has no size and nothing sized nearer does), else one
 * starting a little lower whose size covers it; NULL when none (s->oom set when memory was
 * short). */
static const sym_fsym *mod_symbol(ttm_sym *s, sym_mod *m, Dwarf_Addr addr)
{
    if (!m->syms_built && mod_symbols_build(m) != 0) {
        s->oom = true;
        return NULL;
    }
    size_t lo = upper_bound(m->syms, m->nsyms, sizeof(*m->syms), addr);
    if (lo == 0)
        return NULL;
    const sym_fsym *near = &m->syms[lo - 1];
    for (size_t i = lo, k = 0; i-- > 0 && k < 16; k++)
        if (m->syms[i].size != 0 && addr - m->syms[i].addr < m->syms[i].size)
            return &m->syms[i];
    return near->size == 0 ? near : NULL;
}

/* ---- one address --------------------------------------------------------------------------- */

/* The name of a function DIE (subprogram or inlined subroutine): its linkage name demangled,
 * else its DW_AT_name, through abstract origins and specifications. */
static const char *die_function(ttm_sym *s, Dwarf_Die *die)
{
    Dwarf_Attribute a;
    const char *name = NULL;
    if (dwarf_attr_integrate(die, DW_AT_linkage_name, &a) != NULL ||
        dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &a) != NULL)
        name = dwarf_formstring(&a);
    if (name == NULL && dwarf_attr_integrate(die, DW_AT_name, &a) != NULL)
        name = dwarf_formstring(&a);
    return demangled(s, name);
}

static int curange_cmp(const void *a, const void *b)
{
    const sym_curange *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Builds m's CU ranges from every CU DIE's ranges. Returns 0 or TTM_ENOMEM. */
static int mod_curanges_build(sym_mod *m)
{
    size_t cap = 0, n = 0;
    sym_curange *v = NULL;
    Dwarf_Addr bias;
    for (Dwarf_Die *cu = NULL; (cu = dwfl_module_nextcu(m->mod, cu, &bias)) != NULL;) {
        Dwarf_Addr base, lo, hi;
        for (ptrdiff_t off = 0; (off = dwarf_ranges(cu, off, &base, &lo, &hi)) > 0;) {
            sym_curange *g = ttm__grow(v, &cap, n, sizeof(*v), 64);
            if (g == NULL) {
                ttm__free(v);
                return TTM_ENOMEM;
            }
            v = g;
            v[n++] = (sym_curange){.lo = lo + bias, .hi = hi + bias, .bias = bias, .cu = *cu};
        }
    }
    if (n > 1)
        qsort(v, n, sizeof(*v), curange_cmp);
    m->curs = v;
    m->ncurs = n;
    m->curs_built = true;
    return 0;
}

/* The CU DIE holding the libdwfl address addr of m and its DWARF bias: from .debug_aranges
 * (libdwfl), else from the CU ranges; NULL when no CU has it (s->oom set when memory was
 * short). */
static Dwarf_Die *mod_cu_of(ttm_sym *s, sym_mod *m, Dwarf_Addr addr, Dwarf_Addr *dbias)
{
    Dwarf_Die *cu = dwfl_module_addrdie(m->mod, addr, dbias);
    if (cu != NULL)
        return cu;
    if (!m->curs_built && mod_curanges_build(m) != 0) {
        s->oom = true;
        return NULL;
    }
    size_t lo = upper_bound(m->curs, m->ncurs, sizeof(*m->curs), addr);
    if (lo == 0 || addr >= m->curs[lo - 1].hi)
        return NULL;
    *dbias = m->curs[lo - 1].bias;
    return &m->curs[lo - 1].cu;
}

/* Collects the code ranges of each function DIE dwarf_getfuncs hands over. */
typedef struct fn_vec {
    sym_fn *v;
    size_t n, cap;
    bool oom;
} fn_vec;

static int fn_collect(Dwarf_Die *die, void *arg)
{
    fn_vec *fv = arg;
    Dwarf_Addr base, lo, hi;
    for (ptrdiff_t off = 0; (off = dwarf_ranges(die, off, &base, &lo, &hi)) > 0;) {
        sym_fn *v = ttm__grow(fv->v, &fv->cap, fv->n, sizeof(*v), 64);
        if (v == NULL) {
            fv->oom = true;
            return DWARF_CB_ABORT;
        }
        fv->v = v;
        v[fv->n++] = (sym_fn){.lo = lo, .hi = hi, .die = *die};
    }
    return DWARF_CB_OK;
}

static int fn_cmp(const void *a, const void *b)
{
    const sym_fn *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* The function index of the CU cu of m, built at its first use; NULL when memory is short
 * (s->oom set). */
static const sym_cu *cu_index(ttm_sym *s, sym_mod *m, Dwarf_Die *cu)
{
    sym_cu key = {.key = dwarf_dieoffset(cu) + 1};
    uint64_t h = ttm__mix64(key.key);
    const sym_cu *hit = ttm__table_find(&m->cus, &cu_type, h, &key);
    if (hit != NULL)
        return hit;
    fn_vec fv = {0};
    dwarf_getfuncs(cu, fn_collect, &fv, 0);
    sym_cu *e = fv.oom ? NULL : ttm__table_add(&m->cus, &cu_type, h);
    if (e == NULL) {
        ttm__free(fv.v);
        s->oom = true;
        return NULL;
    }
    if (fv.n > 1)
        qsort(fv.v, fv.n, sizeof(*fv.v), fn_cmp);
    *e = (sym_cu){.key = key.key, .fns = fv.v, .n = fv.n};
    return e;
}

/* The function of c whose code holds pc (the innermost when ranges nest), or NULL. */
static const sym_fn *cu_function(const sym_cu *c, Dwarf_Addr pc)
{
    size_t lo = upper_bound(c->fns, c->n, sizeof(*c->fns), pc);
    for (size_t i = lo, k = 0; i-- > 0 && k < 16; k++)
        if (pc < c->fns[i].hi)
            return &c->fns[i];
    return NULL;
}

/* The file and line an inlined subroutine was called from (DW_AT_call_file/_line). */
static void die_call_site(ttm_sym *s, Dwarf_Die *cu, Dwarf_Die *die, ttm_sym_frame *f)
{
    Dwarf_Attribute a;
    Dwarf_Word idx, line;
    if (dwarf_attr(die, DW_AT_call_line, &a) != NULL && dwarf_formudata(&a, &line) == 0)
        f->line = (uint32_t)line;
    Dwarf_Files *files;
    size_t nfiles;
    if (dwarf_attr(die, DW_AT_call_file, &a) != NULL && dwarf_formudata(&a, &idx) == 0 &&
        dwarf_getsrcfiles(cu, &files, &nfiles) == 0 && idx < nfiles)
        f->file = intern_str(s, dwarf_filesrc(files, idx, NULL, NULL));
}

/* DIEs whose children may hold the inlined code at an address (variables, parameters, types
 * and call sites do not: their pc attributes are not looked at). */
static bool is_code_scope(int tag)
{
    return tag == DW_TAG_inlined_subroutine || tag == DW_TAG_lexical_block ||
           tag == DW_TAG_try_block || tag == DW_TAG_catch_block;
}

/* Resolves the libdwfl address addr of m into out[0..cap): out[0] the innermost function with
 * the line table's file and line, then the functions it was inlined into. Returns the number
 * of frames filled (0: nothing known). */
static size_t resolve(ttm_sym *s, sym_mod *m, Dwarf_Addr addr, ttm_sym_frame *out, size_t cap)
{
    size_t n = 0;
    memset(&out[0], 0, sizeof(out[0]));
    Dwarf_Addr dbias = 0;
    Dwarf_Die *cu = mod_cu_of(s, m, addr, &dbias);
    const sym_cu *c = cu != NULL ? cu_index(s, m, cu) : NULL;
    const sym_fn *fn = c != NULL ? cu_function(c, addr - dbias) : NULL;
    if (fn != NULL) {
        /* The concrete scopes inside the function that hold the address, outermost first:
         * the function, then each inlined subroutine down to the innermost one. */
        Dwarf_Die chain[SYM_INLINE_MAX];
        size_t nc = 1;
        chain[0] = fn->die;
        Dwarf_Die cur = fn->die, child;
        for (bool deeper = true; deeper;) {
            deeper = false;
            if (dwarf_child(&cur, &child) != 0)
                break;
            do {
                if (is_code_scope(dwarf_tag(&child)) && dwarf_haspc(&child, addr - dbias) == 1) {
                    deeper = true;
                    break;
                }
            } while (dwarf_siblingof(&child, &child) == 0);
            if (deeper && dwarf_tag(&child) == DW_TAG_inlined_subroutine && nc < SYM_INLINE_MAX)
                chain[nc++] = child;
            cur = child;
        }
        for (size_t i = nc; i-- > 0 && n < cap;) {
            ttm_sym_frame *f = &out[n];
            if (n > 0) {
                memset(f, 0, sizeof(*f));
                die_call_site(s, cu, &chain[i + 1], f);
            }
            f->function = die_function(s, &chain[i]);
            f->source = f->function != NULL ? TTM_SYM_DEBUG : TTM_SYM_NONE;
            n++;
        }
    }
    Dwarf_Line *l = cu != NULL ? dwarf_getsrc_die(cu, addr - dbias) : NULL;
    int line = 0;
    const char *file = l != NULL ? dwarf_linesrc(l, NULL, NULL) : NULL;
    if (file != NULL && dwarf_lineno(l, &line) == 0 && line > 0) {
        out[0].file = intern_str(s, file);
        out[0].line = (uint32_t)line;
    }
    if (out[0].function == NULL) {
        const sym_fsym *fs = mod_symbol(s, m, addr);
        if (fs != NULL) {
            out[0].function = demangled(s, fs->name);
            if (out[0].function != NULL)
                out[0].source = mod_table_src(m);
        }
    }
    if (out[0].function == NULL && out[0].line == 0)
        return 0;
    return n > 0 ? n : 1;
}

/* The module of a lookup and the libdwfl address of its offset - 1; TTM_ENOENT when the module
 * is unusable or the offset lies outside its executable segments. */
static int locate(ttm_sym *s, const char *path, const uint8_t *bid, size_t bid_len, uint64_t offset,
                  sym_mod **mp, Dwarf_Addr *addr)
{
    s->st.lookups++;
    if (path == NULL || path[0] == '\0' || path[0] == '[' || offset == 0 ||
        bid_len > SYM_BUILD_ID_MAX || (bid == NULL && bid_len != 0))
        return TTM_ENOENT;
    sym_mod *m = mod_get(s, path, bid != NULL ? bid : (const uint8_t *)"", bid_len);
    if (m == NULL)
        return TTM_ENOMEM;
    if (m->dwfl == NULL)
        return TTM_ENOENT;
    uint64_t at = offset - 1;
    bool inside = false;
    for (unsigned i = 0; i < m->nexec && !inside; i++)
        inside = at >= m->exec[i].lo && at < m->exec[i].hi;
    if (!inside)
        return TTM_ENOENT;
    *mp = m;
    *addr = at + m->bias;
    return 0;
}

/* ---- the API ------------------------------------------------------------------------------- */

/* Builds libdwfl's debuginfo_path from s->roots. */
static int set_dipath(ttm_sym *s)
{
    char *p = join3(":.debug", s->roots[0] != '\0' ? ":" : "", s->roots);
    if (p == NULL)
        return TTM_ENOMEM;
    ttm__free(s->dipath);
    s->dipath = p;
    return 0;
}

int ttm_sym_open(ttm_sym **out)
{
    if (out == NULL)
        return TTM_EINVAL;
    *out = NULL;
    ttm_sym *s = ttm__calloc(1, sizeof(*s));
    if (s == NULL)
        return TTM_ENOMEM;
    elf_version(EV_CURRENT);
    s->cb.find_elf = dwfl_build_id_find_elf;
    s->cb.find_debuginfo = dwfl_standard_find_debuginfo;
    s->cb.section_address = dwfl_offline_section_address;
    s->cb.debuginfo_path = &s->dipath;
    ttm__table_init(&s->addrs, &addr_type, TTM_SYM_MAX_ADDRS);
    ttm__table_init(&s->strs, &str_type, SIZE_MAX / 2);
    const char *env = getenv("TTMEM_DEBUG_DIRS");
    if (ttm_sym_set_debug_dirs(s, env != NULL ? env : SYM_DEFAULT_DIRS) != 0) {
        ttm_sym_close(s);
        return TTM_ENOMEM;
    }
    *out = s;
    return 0;
}

static void mods_drop_all(ttm_sym *s)
{
    for (unsigned i = 0; i < s->nmods; i++)
        mod_drop(&s->mods[i]);
    s->nmods = 0;
}

void ttm_sym_close(ttm_sym *s)
{
    if (s == NULL)
        return;
    mods_drop_all(s);
    ttm__table_free(&s->addrs);
    ttm__table_free(&s->strs);
    while (s->chunks != NULL) {
        sym_chunk *next = s->chunks->next;
        ttm__free(s->chunks);
        s->chunks = next;
    }
    if (s->cxx != NULL)
        dlclose(s->cxx);
    ttm__free(s->dipath);
    ttm__free(s->roots);
    ttm__free(s);
}

int ttm_sym_set_debug_dirs(ttm_sym *s, const char *dirs)
{
    if (s == NULL || dirs == NULL)
        return TTM_EINVAL;
    char *copy = join3(dirs, "", "");
    if (copy == NULL)
        return TTM_ENOMEM;
    char *old = s->roots;
    s->roots = copy;
    if (set_dipath(s) != 0) {
        s->roots = old;
        ttm__free(copy);
        return TTM_ENOMEM;
    }
    ttm__free(old);
    mods_drop_all(s);
    ttm__table_clear(&s->addrs);
    return 0;
}

/* The answer for (path, build-id, offset): from the address cache, or resolved now (the whole
 * inline chain) and kept there. *e points at the cache entry, or at tmp when the cache had no
 * room. Returns 0, TTM_ENOENT (nothing known: (*e)->f all unknown) or TTM_ENOMEM (an
 * incomplete answer is neither given nor kept). */
static int lookup_entry(ttm_sym *s, const char *path, const uint8_t *bid, size_t bid_len,
                        uint64_t offset, sym_addr *tmp, const sym_addr **e)
{
    sym_mod *m;
    Dwarf_Addr addr;
    int rc = locate(s, path, bid, bid_len, offset, &m, &addr);
    if (rc != 0)
        return rc;
    sym_addr key = {.mod_id = m->id, .offset = offset};
    uint64_t h = addr_hash_of(m->id, offset);
    const sym_addr *hit = ttm__table_find(&s->addrs, &addr_type, h, &key);
    if (hit != NULL) {
        s->st.addr_hits++;
        *e = hit;
        return hit->f.function != NULL || hit->f.line != 0 ? 0 : TTM_ENOENT;
    }
    ttm_sym_frame chain[SYM_INLINE_MAX];
    s->oom = false;
    size_t n = resolve(s, m, addr, chain, SYM_INLINE_MAX);
    *tmp = key;
    tmp->f = chain[0];
    if (n > 1 && !s->oom) {
        ttm_sym_frame *outer = arena_take(s, (n - 1) * sizeof(*outer), 8);
        if (outer != NULL) {
            memcpy(outer, chain + 1, (n - 1) * sizeof(*outer));
            tmp->outer = outer;
            tmp->nouter = (uint32_t)(n - 1);
        }
    }
    if (s->oom)
        return TTM_ENOMEM;
    if (s->addrs.live >= s->addrs.max) {
        s->st.addrs_evicted += s->addrs.live;
        ttm__table_clear(&s->addrs);
    }
    sym_addr *slot = ttm__table_add(&s->addrs, &addr_type, h);
    if (slot != NULL) /* else out of memory for the cache: the answer still stands */
        *slot = *tmp;
    *e = slot != NULL ? slot : tmp;
    return n > 0 ? 0 : TTM_ENOENT;
}

int ttm_sym_lookup(ttm_sym *s, const char *path, const uint8_t *build_id, size_t build_id_len,
                   uint64_t offset, ttm_sym_frame *out)
{
    if (s == NULL || out == NULL)
        return TTM_EINVAL;
    memset(out, 0, sizeof(*out));
    sym_addr tmp;
    const sym_addr *e;
    int rc = lookup_entry(s, path, build_id, build_id_len, offset, &tmp, &e);
    if (rc == 0)
        *out = e->f;
    return rc;
}

int ttm_sym_lookup_inline(ttm_sym *s, const char *path, const uint8_t *build_id,
                          size_t build_id_len, uint64_t offset, ttm_sym_frame *out, size_t cap,
                          size_t *n)
{
    if (s == NULL || out == NULL || cap == 0 || n == NULL)
        return TTM_EINVAL;
    *n = 0;
    memset(out, 0, sizeof(*out));
    sym_addr tmp;
    const sym_addr *e;
    int rc = lookup_entry(s, path, build_id, build_id_len, offset, &tmp, &e);
    if (rc != 0)
        return rc;
    out[0] = e->f;
    size_t k = e->nouter < cap - 1 ? e->nouter : cap - 1;
    if (k > 0)
        memcpy(out + 1, e->outer, k * sizeof(*out));
    *n = 1 + k;
    return 0;
}

void ttm_sym_stats_get(const ttm_sym *s, ttm_sym_stats *st)
{
    if (s == NULL)
        memset(st, 0, sizeof(*st));
    else
        *st = s->st;
}
