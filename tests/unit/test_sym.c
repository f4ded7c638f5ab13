/*
 * test_sym.c — the report-time symbolizer (src/sym) on real files: functions of this test
 * and of libsymtest.so (tests/unit/sym, built with -g), located as a report would locate
 * them (dl_iterate_phdr: path, GNU build-id from the loaded notes, offset from the load
 * bias), then looked up in the file, in copies stripped of their debug information or of
 * every symbol table, through a debuglink and a .build-id debug directory, and in a rebuild
 * with another build-id, which must give no answer rather than a wrong one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "sym/sym.h"
#include "symtest.h"
#include "ttmem/ttmem.h"

#include <elf.h>
#include <link.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Where a code address lies, as the client's module map gives it. */
typedef struct where {
    uintptr_t pc;
    char path[PATH_MAX];
    uint8_t bid[64];
    size_t bid_len;
    uint64_t offset;
    bool found;
} where;

static void note_build_id(where *w, const uint8_t *p, size_t len, size_t align)
{
    size_t i = 0;
    while (i + sizeof(ElfW(Nhdr)) <= len) {
        const ElfW(Nhdr) *nh = (const void *)(p + i);
        size_t name_at = i + sizeof(*nh);
        size_t desc_at = name_at + ((nh->n_namesz + align - 1) & ~(align - 1));
        size_t next = desc_at + ((nh->n_descsz + align - 1) & ~(align - 1));
        if (next > len)
            return;
        if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
            memcmp(p + name_at, "GNU", 4) == 0 && nh->n_descsz <= sizeof(w->bid)) {
            memcpy(w->bid, p + desc_at, nh->n_descsz);
            w->bid_len = nh->n_descsz;
            return;
        }
        i = next;
    }
}

static int where_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    where *w = arg;
    bool inside = false;
    for (unsigned i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && w->pc >= lo && w->pc < lo + ph->p_memsz)
            inside = true;
    }
    if (!inside)
        return 0;
    for (unsigned i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_NOTE && w->bid_len == 0)
            note_build_id(w, (const uint8_t *)(info->dlpi_addr + ph->p_vaddr), ph->p_memsz,
                          ph->p_align >= 8 ? 8 : 4);
    }
    if (info->dlpi_name[0] != '\0') {
        snprintf(w->path, sizeof(w->path), "%s", info->dlpi_name);
    } else {
        ssize_t n = readlink("/proc/self/exe", w->path, sizeof(w->path) - 1);
        w->path[n > 0 ? n : 0] = '\0';
    }
    w->offset = w->pc - info->dlpi_addr;
    w->found = true;
    return 1;
}

static where where_of(uintptr_t pc)
{
    where w = {.pc = pc};
    dl_iterate_phdr(where_cb, &w);
    assert_true(w.found);
    assert_true(w.bid_len >= 8);
    return w;
}

static bool ends_with(const char *s, const char *tail)
{
    size_t a = strlen(s), b = strlen(tail);
    return a >= b && strcmp(s + a - b, tail) == 0;
}

static ttm_sym *open_sym(const char *dirs)
{
    ttm_sym *s = NULL;
    assert_int_equal(ttm_sym_open(&s), 0);
    assert_non_null(s);
    assert_int_equal(ttm_sym_set_debug_dirs(s, dirs), 0);
    return s;
}

static int lookup(ttm_sym *s, const where *w, const char *path, ttm_sym_frame *f)
{
    return ttm_sym_lookup(s, path != NULL ? path : w->path, w->bid, w->bid_len, w->offset, f);
}

/* An empty debug root for the tests that must find nothing beyond the file itself. */
static char empty_root[] = "/tmp/ttm_sym_empty.XXXXXX";

static void check_frame(const ttm_sym_frame *f, const char *function, const char *file_tail,
                        unsigned line, unsigned source)
{
    assert_non_null(f->function);
    assert_string_equal(f->function, function);
    assert_int_equal(f->source, source);
    if (file_tail == NULL) {
        assert_null(f->file);
        assert_int_equal(f->line, 0);
    } else {
        assert_non_null(f->file);
        assert_true(ends_with(f->file, file_tail));
        assert_int_equal(f->line, line);
    }
}

/* Looks up w (in the file path, or w's own when NULL) and checks the answer. */
static void expect_frame(ttm_sym *s, const where *w, const char *path, const char *function,
                         const char *file_tail, unsigned line, unsigned source)
{
    ttm_sym_frame f;
    assert_int_equal(lookup(s, w, path, &f), 0);
    check_frame(&f, function, file_tail, line, source);
}

static void test_c_function_file_line(void **state)
{
    (void)state;
    unsigned line = 0;
    where w = where_of(symt_c_leaf(&line));
    assert_true(ends_with(w.path, "libsymtest.so"));
    ttm_sym *s = open_sym(empty_root);
    expect_frame(s, &w, NULL, "symt_c_leaf", "/symlib.c", line, TTM_SYM_DEBUG);
    where w2 = where_of(symt_c_via_static(&line));
    expect_frame(s, &w2, NULL, "symt_c_static", "/symlib.c", line, TTM_SYM_DEBUG);
    ttm_sym_close(s);
}

static void test_executable(void **state)
{
    (void)state;
    unsigned line = 0;
    where w = where_of(symt_exe_leaf(&line));
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    assert_true(n > 0);
    self[n] = '\0';
    assert_string_equal(w.path, self);
    ttm_sym *s = open_sym(empty_root);
    expect_frame(s, &w, NULL, "symt_exe_leaf", "/symexe.c", line, TTM_SYM_DEBUG);
    ttm_sym_close(s);
}

static void test_cxx_demangled(void **state)
{
    (void)state;
    unsigned line = 0;
    where w = where_of(symt_cxx_leaf(&line));
    ttm_sym *s = open_sym(empty_root);
    expect_frame(s, &w, NULL, "ttmsym::outer(int)", "/symlib_cxx.cpp", line, TTM_SYM_DEBUG);
    /* The same name from the symbol tables, where it is mangled. */
    expect_frame(s, &w, SYMTEST_DIR "/symtest-nodebug.so", "ttmsym::outer(int)", NULL, 0,
                 TTM_SYM_SYMTAB);
    expect_frame(s, &w, SYMTEST_DIR "/symtest-stripped.so", "ttmsym::outer(int)", NULL, 0,
                 TTM_SYM_DYNSYM);
    ttm_sym_close(s);
}

static void test_inline_chain(void **state)
{
    (void)state;
    unsigned line = 0, call_line = 0;
    where w = where_of(symt_c_inlined(&line, &call_line));
    ttm_sym *s = open_sym(empty_root);
    expect_frame(s, &w, NULL, "symt_c_inline_part", "/symlib.c", line, TTM_SYM_DEBUG);
    ttm_sym_frame chain[4];
    size_t n = 0;
    assert_int_equal(ttm_sym_lookup_inline(s, w.path, w.bid, w.bid_len, w.offset, chain, 4, &n), 0);
    assert_int_equal(n, 2);
    check_frame(&chain[0], "symt_c_inline_part", "/symlib.c", line, TTM_SYM_DEBUG);
    check_frame(&chain[1], "symt_c_inlined", "/symlib.c", call_line, TTM_SYM_DEBUG);
    /* Both answers came from one resolution: the second call hit the address cache. */
    ttm_sym_stats st;
    ttm_sym_stats_get(s, &st);
    assert_int_equal(st.lookups, 2);
    assert_int_equal(st.addr_hits, 1);
    /* Room for one frame: the innermost. */
    assert_int_equal(ttm_sym_lookup_inline(s, w.path, w.bid, w.bid_len, w.offset, chain, 1, &n), 0);
    assert_int_equal(n, 1);
    check_frame(&chain[0], "symt_c_inline_part", "/symlib.c", line, TTM_SYM_DEBUG);
    /* Not inlined: one frame, the function itself. */
    where w2 = where_of(symt_c_leaf(&line));
    assert_int_equal(ttm_sym_lookup_inline(s, w2.path, w2.bid, w2.bid_len, w2.offset, chain, 4, &n),
                     0);
    assert_int_equal(n, 1);
    check_frame(&chain[0], "symt_c_leaf", "/symlib.c", line, TTM_SYM_DEBUG);
    ttm_sym_close(s);
}

static void test_stripped_copies(void **state)
{
    (void)state;
    unsigned line = 0;
    where leaf = where_of(symt_c_leaf(&line));
    where stat = where_of(symt_c_via_static(&line));
    ttm_sym *s = open_sym(empty_root);
    ttm_sym_frame f;
    /* --strip-debug: names from .symtab (static functions too), no lines. */
    const char *nodebug = SYMTEST_DIR "/symtest-nodebug.so";
    expect_frame(s, &leaf, nodebug, "symt_c_leaf", NULL, 0, TTM_SYM_SYMTAB);
    expect_frame(s, &stat, nodebug, "symt_c_static", NULL, 0, TTM_SYM_SYMTAB);
    /* --strip-all: exported names from .dynsym; a static function has none, and gets no
     * neighbour's name either. */
    const char *stripped = SYMTEST_DIR "/symtest-stripped.so";
    expect_frame(s, &leaf, stripped, "symt_c_leaf", NULL, 0, TTM_SYM_DYNSYM);
    assert_int_equal(lookup(s, &stat, stripped, &f), TTM_ENOENT);
    assert_null(f.function);
    assert_null(f.file);
    assert_int_equal(f.source, TTM_SYM_NONE);
    ttm_sym_close(s);
}

static void test_debuglink(void **state)
{
    (void)state;
    unsigned line = 0;
    where w = where_of(symt_c_leaf(&line));
    ttm_sym *s = open_sym(empty_root);
    /* A stripped file whose .gnu_debuglink names symtest.debug beside it. */
    expect_frame(s, &w, SYMTEST_DIR "/symtest-linked.so", "symt_c_leaf", "/symlib.c", line,
                 TTM_SYM_DEBUG);
    ttm_sym_close(s);
}

/* Removes a directory tree the test made under /tmp/ttm_sym_*. */
static void remove_tree(const char *root)
{
    char cmd[PATH_MAX + 16];
    assert_true(strncmp(root, "/tmp/ttm_sym_", 13) == 0 && strchr(root, '\'') == NULL);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

/* A rebuilt file whose debuglink names the first build's debug file: that file is found by
 * the link (beside the file, or under a debug root followed by the file's directory) and used
 * for the first build's frames; without it, nothing. */
static void test_debuglink_of_rebuild(void **state)
{
    (void)state;
    unsigned line = 0;
    where w = where_of(symt_c_leaf(&line));
    ttm_sym *s = open_sym(empty_root);
    ttm_sym_frame f;
    expect_frame(s, &w, SYMTEST_DIR "/symtest-other-linked.so", "symt_c_leaf", "/symlib.c", line,
                 TTM_SYM_DEBUG);
    /* The same file seen from a directory without the debug file beside it... */
    char dir[] = "/tmp/ttm_sym_link.XXXXXX", root[] = "/tmp/ttm_sym_root.XXXXXX";
    assert_non_null(mkdtemp(dir));
    assert_non_null(mkdtemp(root));
    char so[PATH_MAX], sub[2 * PATH_MAX], debug[3 * PATH_MAX];
    snprintf(so, sizeof(so), "%s/rebuilt.so", dir);
    assert_int_equal(symlink(SYMTEST_DIR "/symtest-other-linked.so", so), 0);
    assert_int_equal(lookup(s, &w, so, &f), TTM_ENOENT);
    /* ...finds it under a root followed by its directory. */
    snprintf(sub, sizeof(sub), "%s/tmp", root);
    assert_int_equal(mkdir(sub, 0700), 0);
    snprintf(sub, sizeof(sub), "%s%s", root, dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    snprintf(debug, sizeof(debug), "%s/symtest.debug", sub);
    assert_int_equal(symlink(SYMTEST_DIR "/symtest.debug", debug), 0);
    assert_int_equal(ttm_sym_set_debug_dirs(s, root), 0);
    expect_frame(s, &w, so, "symt_c_leaf", "/symlib.c", line, TTM_SYM_DEBUG);
    ttm_sym_close(s);
    remove_tree(root);
    remove_tree(dir);
}

/* A debug root holding .build-id/xx/yyyy.debug for libsymtest.so; *root is set to it. */
static void make_build_id_root(const where *w, char *root, size_t cap)
{
    snprintf(root, cap, "/tmp/ttm_sym_root.XXXXXX");
    assert_non_null(mkdtemp(root));
    char dir[PATH_MAX + 64], link[PATH_MAX + 256];
    snprintf(dir, sizeof(dir), "%s/.build-id", root);
    assert_int_equal(mkdir(dir, 0700), 0);
    size_t k = strlen(dir);
    snprintf(dir + k, sizeof(dir) - k, "/%02x", w->bid[0]);
    assert_int_equal(mkdir(dir, 0700), 0);
    int m = snprintf(link, sizeof(link), "%s/", dir);
    for (size_t i = 1; i < w->bid_len; i++)
        m += snprintf(link + m, sizeof(link) - (size_t)m, "%02x", w->bid[i]);
    snprintf(link + m, sizeof(link) - (size_t)m, ".debug");
    assert_int_equal(symlink(SYMTEST_DIR "/symtest.debug", link), 0);
}

static void test_build_id_dir(void **state)
{
    (void)state;
    unsigned line = 0;
    where w = where_of(symt_c_leaf(&line));
    char root[PATH_MAX];
    make_build_id_root(&w, root, sizeof(root));
    ttm_sym_frame f;
    /* Without the root: the stripped file gives the dynamic symbol only; a missing file
     * nothing. */
    ttm_sym *s = open_sym(empty_root);
    expect_frame(s, &w, SYMTEST_DIR "/symtest-stripped.so", "symt_c_leaf", NULL, 0, TTM_SYM_DYNSYM);
    assert_int_equal(lookup(s, &w, "/nonexistent/libsymtest.so", &f), TTM_ENOENT);
    /* With it: the stripped file gets its lines from the debug file... */
    assert_int_equal(ttm_sym_set_debug_dirs(s, root), 0);
    expect_frame(s, &w, SYMTEST_DIR "/symtest-stripped.so", "symt_c_leaf", "/symlib.c", line,
                 TTM_SYM_DEBUG);
    /* ...and a file gone (or rebuilt) is answered by the debug file alone. */
    expect_frame(s, &w, "/nonexistent/libsymtest.so", "symt_c_leaf", "/symlib.c", line,
                 TTM_SYM_DEBUG);
    expect_frame(s, &w, SYMTEST_OTHER, "symt_c_leaf", "/symlib.c", line, TTM_SYM_DEBUG);
    ttm_sym_close(s);
    /* The same root given through the environment, among other entries. */
    char env[PATH_MAX + 64];
    snprintf(env, sizeof(env), "::%s:%s", empty_root, root);
    setenv("TTMEM_DEBUG_DIRS", env, 1);
    assert_int_equal(ttm_sym_open(&s), 0);
    unsetenv("TTMEM_DEBUG_DIRS");
    expect_frame(s, &w, "/nonexistent/libsymtest.so", "symt_c_leaf", "/symlib.c", line,
                 TTM_SYM_DEBUG);
    ttm_sym_close(s);
    remove_tree(root);
}

static void test_other_build(void **state)
{
    (void)state;
    unsigned line = 0;
    where w = where_of(symt_c_leaf(&line));
    ttm_sym *s = open_sym(empty_root);
    ttm_sym_frame f;
    /* The same sources linked with another build-id: not used. */
    assert_int_equal(lookup(s, &w, SYMTEST_OTHER, &f), TTM_ENOENT);
    assert_null(f.function);
    /* The right file asked for with another build-id: not used either. */
    static const uint8_t other[20] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23,
                                      0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67};
    assert_int_equal(ttm_sym_lookup(s, w.path, other, sizeof(other), w.offset, &f), TTM_ENOENT);
    /* ...nor with a prefix of its own. */
    assert_int_equal(ttm_sym_lookup(s, w.path, w.bid, w.bid_len - 1, w.offset, &f), TTM_ENOENT);
    /* The rebuild asked for with its own build-id: it is used. */
    assert_int_equal(ttm_sym_lookup(s, SYMTEST_OTHER, other, sizeof(other), w.offset, &f), 0);
    assert_string_equal(f.function, "symt_c_leaf");
    /* No build-id in the report: the file is used as it is. */
    assert_int_equal(ttm_sym_lookup(s, w.path, NULL, 0, w.offset, &f), 0);
    check_frame(&f, "symt_c_leaf", "/symlib.c", line, TTM_SYM_DEBUG);
    ttm_sym_stats st;
    ttm_sym_stats_get(s, &st);
    assert_int_equal(st.modules_failed, 3);
    assert_int_equal(st.modules_opened, 2);
    ttm_sym_close(s);
}

static void test_missing_and_garbage(void **state)
{
    (void)state;
    unsigned line = 0;
    where w = where_of(symt_c_leaf(&line));
    ttm_sym *s = open_sym(empty_root);
    ttm_sym_frame f;
    assert_int_equal(lookup(s, &w, "/nonexistent/libsymtest.so", &f), TTM_ENOENT);
    assert_int_equal(lookup(s, &w, SYMTEST_DIR "/symtest.h-not-there", &f), TTM_ENOENT);
    assert_int_equal(ttm_sym_lookup(s, NULL, NULL, 0, w.offset, &f), TTM_ENOENT);
    assert_int_equal(ttm_sym_lookup(s, "", NULL, 0, w.offset, &f), TTM_ENOENT);
    assert_int_equal(ttm_sym_lookup(s, "[vdso]", NULL, 0, 0x1000, &f), TTM_ENOENT);
    assert_int_equal(ttm_sym_lookup(s, w.path, (const uint8_t[64 + 1]){0}, 65, w.offset, &f),
                     TTM_ENOENT);
    /* A file that is no ELF file. */
    assert_int_equal(ttm_sym_lookup(s, "/proc/self/status", NULL, 0, w.offset, &f), TTM_ENOENT);
    /* Offsets that are no code of the module: 0, the ELF header, data, far beyond it. */
    const uint64_t bad[] = {0, 1, 2, 64, (uint64_t)1 << 40, UINT64_MAX};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(ttm_sym_lookup(s, w.path, w.bid, w.bid_len, bad[i], &f), TTM_ENOENT);
        assert_null(f.function);
        assert_null(f.file);
        assert_int_equal(f.line, 0);
    }
    where data = where_of((uintptr_t)symt_lib_data());
    assert_string_equal(data.path, w.path);
    assert_int_equal(lookup(s, &data, NULL, &f), TTM_ENOENT);
    data.offset += 1;
    assert_int_equal(lookup(s, &data, NULL, &f), TTM_ENOENT);
    /* The good address still answers after all that. */
    expect_frame(s, &w, NULL, "symt_c_leaf", "/symlib.c", line, TTM_SYM_DEBUG);
    ttm_sym_close(s);
}

static void test_caches(void **state)
{
    (void)state;
    unsigned l1 = 0, l2 = 0;
    where a = where_of(symt_c_leaf(&l1));
    where b = where_of(symt_cxx_leaf(&l2));
    ttm_sym *s = open_sym(empty_root);
    ttm_sym_frame f1, f2, g;
    assert_int_equal(lookup(s, &a, NULL, &f1), 0);
    assert_int_equal(lookup(s, &b, NULL, &f2), 0);
    assert_int_equal(lookup(s, &a, NULL, &g), 0);
    ttm_sym_stats st;
    ttm_sym_stats_get(s, &st);
    assert_int_equal(st.lookups, 3);
    assert_int_equal(st.addr_hits, 1);
    assert_int_equal(st.addrs_evicted, 0);
    assert_int_equal(st.modules_opened, 1);
    assert_ptr_equal(g.function, f1.function);
    assert_ptr_equal(g.file, f1.file);
    /* Strings are interned: another function of the same file gives the same pointer. */
    where c = where_of(symt_c_via_static(&l2));
    assert_int_equal(lookup(s, &c, NULL, &g), 0);
    assert_ptr_equal(g.file, f1.file);
    assert_ptr_not_equal(g.function, f1.function);
    /* More (path, build-id) pairs than the bound: the oldest are closed, answers stay right. */
    for (unsigned i = 0; i < TTM_SYM_MAX_MODULES + 3; i++) {
        uint8_t fake[20] = {0};
        memcpy(fake, &i, sizeof(i));
        assert_int_equal(ttm_sym_lookup(s, "/nonexistent/x.so", fake, sizeof(fake), 4096, &g),
                         TTM_ENOENT);
    }
    ttm_sym_stats_get(s, &st);
    assert_true(st.modules_evicted >= 4);
    assert_int_equal(lookup(s, &a, NULL, &g), 0);
    check_frame(&g, "symt_c_leaf", "/symlib.c", l1, TTM_SYM_DEBUG);
    assert_string_equal(f2.function, "ttmsym::outer(int)"); /* strings outlive their module */
    ttm_sym_close(s);
}

static void test_arguments(void **state)
{
    (void)state;
    assert_int_equal(ttm_sym_open(NULL), TTM_EINVAL);
    ttm_sym_close(NULL);
    ttm_sym_frame f;
    size_t n = 7;
    assert_int_equal(ttm_sym_lookup(NULL, "/x", NULL, 0, 1, &f), TTM_EINVAL);
    ttm_sym *s = open_sym(empty_root);
    assert_int_equal(ttm_sym_lookup(s, "/x", NULL, 0, 1, NULL), TTM_EINVAL);
    assert_int_equal(ttm_sym_lookup_inline(s, "/x", NULL, 0, 1, &f, 0, &n), TTM_EINVAL);
    assert_int_equal(ttm_sym_lookup_inline(s, "/x", NULL, 0, 1, &f, 1, NULL), TTM_EINVAL);
    assert_int_equal(ttm_sym_set_debug_dirs(s, NULL), TTM_EINVAL);
    assert_int_equal(ttm_sym_set_debug_dirs(NULL, ""), TTM_EINVAL);
    ttm_sym_stats st;
    ttm_sym_stats_get(NULL, &st);
    assert_int_equal(st.lookups, 0);
    ttm_sym_close(s);
}

/* Every allocation of open and of a first lookup made to fail in turn: TTM_ENOMEM or the right
 * answer, never a wrong one, and no leak (the ASan build checks). */
static void test_alloc_failures(void **state)
{
    (void)state;
    unsigned line = 0;
    where w = where_of(symt_cxx_leaf(&line));
    bool done = false;
    for (unsigned long n = 1; !done && n < 10000; n++) {
        ttm__alloc_fail_at(n);
        ttm_sym *s = NULL;
        int rc = ttm_sym_open(&s);
        if (rc != 0) {
            ttm__alloc_fail_at(0);
            assert_int_equal(rc, TTM_ENOMEM);
            assert_null(s);
            continue;
        }
        ttm_sym_frame f;
        rc = ttm_sym_set_debug_dirs(s, empty_root);
        if (rc == 0)
            rc = lookup(s, &w, NULL, &f);
        ttm__alloc_fail_at(0);
        if (rc == 0) {
            check_frame(&f, "ttmsym::outer(int)", "/symlib_cxx.cpp", line, TTM_SYM_DEBUG);
            done = true;
        } else {
            assert_int_equal(rc, TTM_ENOMEM);
            /* After the failure the handle still answers right. */
            assert_int_equal(ttm_sym_set_debug_dirs(s, empty_root), 0);
            assert_int_equal(lookup(s, &w, NULL, &f), 0);
            check_frame(&f, "ttmsym::outer(int)", "/symlib_cxx.cpp", line, TTM_SYM_DEBUG);
        }
        ttm_sym_close(s);
    }
    assert_true(done);
}

static int setup(void **state)
{
    (void)state;
    unsetenv("DEBUGINFOD_URLS"); /* nothing fetched from the network here */
    unsetenv("TTMEM_DEBUG_DIRS");
    return mkdtemp(empty_root) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return rmdir(empty_root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_c_function_file_line),
        cmocka_unit_test(test_executable),
        cmocka_unit_test(test_cxx_demangled),
        cmocka_unit_test(test_inline_chain),
        cmocka_unit_test(test_stripped_copies),
        cmocka_unit_test(test_debuglink),
        cmocka_unit_test(test_debuglink_of_rebuild),
        cmocka_unit_test(test_build_id_dir),
        cmocka_unit_test(test_other_build),
        cmocka_unit_test(test_missing_and_garbage),
        cmocka_unit_test(test_caches),
        cmocka_unit_test(test_arguments),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
