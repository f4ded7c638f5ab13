/*
 * test_stacks.c — unit tests of the core's call-site tables (src/core/stacks.h): ids in order
 * of first sight, deduplication by content for every kind, the rules of each kind (invalid
 * input refused and counted), every bound and its counter, allocation failure at every N, and
 * save/load: a round trip keeps every id, and every cut or damaged byte of a saved table is
 * either refused (TTM_EPROTO, the reader marked bad) or loads into a table that saves back to
 * exactly those bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "core/stacks.h"
#include "ttmem/ttmem.h"

static ttm_stacks *open_with(const ttm_stacks_config *cfg)
{
    ttm_stacks *s = NULL;
    assert_int_equal(ttm_stacks_open(&s, cfg), TTM_OK);
    assert_non_null(s);
    return s;
}

static ttm_stacks_stats stats(const ttm_stacks *s)
{
    ttm_stacks_stats st;
    ttm_stacks_stats_get(s, &st);
    return st;
}

static uint32_t str(ttm_stacks *s, const char *text)
{
    return ttm_stacks_string(s, text, strlen(text));
}

static uint32_t native(ttm_stacks *s, uint32_t module, uint64_t offset)
{
    ttm_frame f = {.kind = TTM_FRAME_NATIVE, .module = module, .offset = offset};
    return ttm_stacks_frame(s, &f);
}

static void test_strings(void **state)
{
    (void)state;
    ttm_stacks *s = open_with(NULL);
    assert_int_equal(str(s, "matmul"), 1);
    assert_int_equal(str(s, "conv"), 2);
    assert_int_equal(str(s, "matmul"), 1);
    assert_int_equal(ttm_stacks_string(s, "matmulx", 6), 1); /* by the bytes given */
    assert_int_equal(ttm_stacks_string(s, "a\0b", 3), 3);    /* bytes, not C strings */
    assert_int_equal(ttm_stacks_string(s, "a\0c", 3), 4);
    size_t len;
    const char *b = ttm_stacks_string_get(s, 3, &len);
    assert_int_equal(len, 3);
    assert_memory_equal(b, "a\0b", 3);
    b = ttm_stacks_string_get(s, 2, &len);
    assert_int_equal(len, 4);
    assert_memory_equal(b, "conv", 4);
    assert_null(ttm_stacks_string_get(s, 0, &len));
    assert_int_equal(len, 0);
    assert_null(ttm_stacks_string_get(s, 5, &len));

    /* empty: no id, not counted; over the size: counted invalid */
    assert_int_equal(ttm_stacks_string(s, "", 0), 0);
    assert_int_equal(stats(s).invalid, 0);
    char *big = calloc(TTM_STACKS_STRING_MAX + 1, 1);
    memset(big, 'x', TTM_STACKS_STRING_MAX + 1);
    assert_int_equal(ttm_stacks_string(s, big, TTM_STACKS_STRING_MAX + 1), 0);
    assert_int_equal(stats(s).invalid, 1);
    assert_int_equal(ttm_stacks_string(s, big, TTM_STACKS_STRING_MAX), 5);
    free(big);
    ttm_stacks_stats st = stats(s);
    assert_int_equal(st.strings, 5);
    assert_int_equal(st.string_bytes, 6 + 4 + 3 + 3 + TTM_STACKS_STRING_MAX);
    assert_int_equal(st.full, 0);
    assert_true(st.memory >= st.string_bytes);
    ttm_stacks_close(s);
    ttm_stacks_close(NULL);
}

/* Many strings: growth of the arena, the array and the index keeps every id and its bytes. */
static void test_many_strings(void **state)
{
    (void)state;
    ttm_stacks *s = open_with(NULL);
    char buf[32];
    for (unsigned i = 0; i < 20000; i++) {
        int n = snprintf(buf, sizeof buf, "name-%u", i);
        assert_int_equal(ttm_stacks_string(s, buf, (size_t)n), i + 1);
    }
    for (unsigned i = 0; i < 20000; i++) {
        int n = snprintf(buf, sizeof buf, "name-%u", i);
        assert_int_equal(ttm_stacks_string(s, buf, (size_t)n), i + 1);
        size_t len;
        const char *b = ttm_stacks_string_get(s, i + 1, &len);
        assert_int_equal(len, (size_t)n);
        assert_memory_equal(b, buf, len);
    }
    assert_int_equal(stats(s).strings, 20000);
    ttm_stacks_close(s);
}

static void test_modules(void **state)
{
    (void)state;
    ttm_stacks *s = open_with(NULL);
    const uint8_t a[20] = {0xab, 0x12, 3}, b[20] = {0xab, 0x12, 4};
    assert_int_equal(ttm_stacks_module(s, a, 20, "/usr/lib/libx.so", 16), 1);
    assert_int_equal(ttm_stacks_module(s, a, 20, "/usr/lib/libx.so", 16), 1); /* two processes */
    assert_int_equal(ttm_stacks_module(s, b, 20, "/usr/lib/libx.so", 16), 2); /* rebuilt */
    assert_int_equal(ttm_stacks_module(s, a, 20, "/opt/libx.so", 12), 3);     /* a copy elsewhere */
    assert_int_equal(ttm_stacks_module(s, NULL, 0, "/tmp/t", 6), 4);          /* no build-id */
    assert_int_equal(ttm_stacks_module(s, a, 8, NULL, 0), 5);                 /* no path */
    assert_int_equal(ttm_stacks_module(s, a, 8, NULL, 0), 5);
    /* the path is a string of the table */
    assert_int_equal(str(s, "/usr/lib/libx.so"), 1);

    ttm_module_info mi;
    assert_true(ttm_stacks_module_get(s, 2, &mi));
    assert_int_equal(mi.build_id_len, 20);
    assert_memory_equal(mi.build_id, b, 20);
    assert_int_equal(mi.path_len, 16);
    assert_memory_equal(mi.path, "/usr/lib/libx.so", 16);
    assert_true(ttm_stacks_module_get(s, 5, &mi));
    assert_int_equal(mi.path_len, 0);
    assert_int_equal(mi.build_id_len, 8);
    assert_false(ttm_stacks_module_get(s, 0, &mi));
    assert_false(ttm_stacks_module_get(s, 6, &mi));
    assert_null(mi.path);

    assert_int_equal(ttm_stacks_module(s, NULL, 0, NULL, 0), 0);
    assert_int_equal(stats(s).invalid, 0);
    uint8_t long_id[TTM_STACKS_BUILD_ID_MAX + 1] = {1};
    assert_int_equal(ttm_stacks_module(s, long_id, sizeof long_id, "/x", 2), 0);
    assert_int_equal(ttm_stacks_module(s, NULL, 4, "/x", 2), 0);
    assert_int_equal(stats(s).invalid, 2);
    assert_int_equal(ttm_stacks_module(s, long_id, TTM_STACKS_BUILD_ID_MAX, "/x", 2), 6);
    assert_int_equal(stats(s).modules, 6);
    ttm_stacks_close(s);
}

static void test_frames(void **state)
{
    (void)state;
    ttm_stacks *s = open_with(NULL);
    uint32_t mod = ttm_stacks_module(s, NULL, 0, "/tmp/t", 6);
    uint32_t file = str(s, "t.py"), func = str(s, "main");
    assert_int_equal(native(s, mod, 0x1139), 1);
    assert_int_equal(native(s, mod, 0x1140), 2);
    assert_int_equal(native(s, 0, 0x7f0000001139), 3); /* no module: the raw address */
    assert_int_equal(native(s, mod, 0x1139), 1);
    ttm_frame py = {.kind = TTM_FRAME_PYTHON, .function = func, .file = file, .line = 12};
    assert_int_equal(ttm_stacks_frame(s, &py), 4);
    py.line = 13;
    assert_int_equal(ttm_stacks_frame(s, &py), 5);
    ttm_frame text = {.kind = TTM_FRAME_TEXT, .module = str(s, "libtt_metal.so"), .function = func};
    assert_int_equal(ttm_stacks_frame(s, &text), 6);
    ttm_frame text_unknown = {.kind = TTM_FRAME_TEXT};
    assert_int_equal(ttm_stacks_frame(s, &text_unknown), 7);

    const ttm_frame *f = ttm_stacks_frame_get(s, 4);
    assert_non_null(f);
    assert_int_equal(f->kind, TTM_FRAME_PYTHON);
    assert_int_equal(f->function, func);
    assert_int_equal(f->file, file);
    assert_int_equal(f->line, 12);
    f = ttm_stacks_frame_get(s, 3);
    assert_int_equal(f->offset, 0x7f0000001139);
    assert_int_equal(f->module, 0);
    assert_null(ttm_stacks_frame_get(s, 0));
    assert_null(ttm_stacks_frame_get(s, 8));

    /* each rule of stacks.h */
    const ttm_frame bad[] = {
        {.kind = 0},
        {.kind = 4},
        {.kind = TTM_FRAME_NATIVE, .module = 99, .offset = 1},
        {.kind = TTM_FRAME_NATIVE, .module = mod, .offset = 1, .function = func},
        {.kind = TTM_FRAME_NATIVE, .module = mod, .offset = 1, .file = file},
        {.kind = TTM_FRAME_NATIVE, .module = mod, .offset = 1, .line = 3},
        {.kind = TTM_FRAME_PYTHON, .module = mod, .function = func},
        {.kind = TTM_FRAME_PYTHON, .offset = 8, .function = func},
        {.kind = TTM_FRAME_PYTHON, .function = 99},
        {.kind = TTM_FRAME_PYTHON, .file = 99},
        {.kind = TTM_FRAME_TEXT, .module = 99},
        {.kind = TTM_FRAME_TEXT, .offset = 8},
        {.kind = TTM_FRAME_TEXT, .function = 99},
        {.kind = TTM_FRAME_TEXT, .file = 99},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(ttm_stacks_frame(s, &bad[i]), 0);
    assert_int_equal(ttm_stacks_frame(s, NULL), 0);
    ttm_stacks_stats st = stats(s);
    assert_int_equal(st.invalid, sizeof bad / sizeof bad[0] + 1);
    assert_int_equal(st.frames, 7);
    ttm_stacks_close(s);
}

static void test_stacks_and_contexts(void **state)
{
    (void)state;
    ttm_stacks *s = open_with(NULL);
    uint32_t fr[TTM_STACKS_DEPTH_MAX + 1];
    for (unsigned i = 0; i <= TTM_STACKS_DEPTH_MAX; i++)
        fr[i] = native(s, 0, 0x1000 + i);
    assert_int_equal(ttm_stacks_stack(s, fr, 3), 1);
    assert_int_equal(ttm_stacks_stack(s, fr, 2), 2); /* a prefix is another stack */
    uint32_t rev[3] = {fr[2], fr[1], fr[0]};
    assert_int_equal(ttm_stacks_stack(s, rev, 3), 3); /* so is another order */
    assert_int_equal(ttm_stacks_stack(s, fr, 3), 1);
    assert_int_equal(ttm_stacks_stack(s, fr, TTM_STACKS_DEPTH_MAX), 4);
    const uint32_t *got;
    assert_int_equal(ttm_stacks_stack_get(s, 3, &got), 3);
    assert_memory_equal(got, rev, sizeof rev);
    assert_int_equal(ttm_stacks_stack_get(s, 4, &got), TTM_STACKS_DEPTH_MAX);
    assert_memory_equal(got, fr, TTM_STACKS_DEPTH_MAX * sizeof *fr);
    assert_int_equal(ttm_stacks_stack_get(s, 5, &got), 0);
    assert_null(got);
    assert_int_equal(ttm_stacks_stack_get(s, 0, &got), 0);

    assert_int_equal(ttm_stacks_stack(s, fr, 0), 0);
    assert_int_equal(stats(s).invalid, 0);
    assert_int_equal(ttm_stacks_stack(s, fr, TTM_STACKS_DEPTH_MAX + 1), 0);
    uint32_t zero[2] = {fr[0], 0}, unknown[2] = {fr[0], 9999};
    assert_int_equal(ttm_stacks_stack(s, zero, 2), 0);
    assert_int_equal(ttm_stacks_stack(s, unknown, 2), 0);
    assert_int_equal(ttm_stacks_stack(s, NULL, 2), 0);
    assert_int_equal(stats(s).invalid, 4);
    assert_int_equal(stats(s).stack_words, 3 + 2 + 3 + TTM_STACKS_DEPTH_MAX);

    uint32_t scope = str(s, "matmul"), phase = str(s, "warmup");
    assert_int_equal(ttm_stacks_context(s, 0, 0, 0), 0); /* no context */
    assert_int_equal(stats(s).invalid, 4);
    assert_int_equal(ttm_stacks_context(s, 1, scope, 0), 1);
    assert_int_equal(ttm_stacks_context(s, 1, 0, scope), 2); /* the same id as a phase */
    assert_int_equal(ttm_stacks_context(s, 0, 0, phase), 3);
    assert_int_equal(ttm_stacks_context(s, 1, scope, 0), 1);
    ttm_context c;
    assert_true(ttm_stacks_context_get(s, 2, &c));
    assert_int_equal(c.stack, 1);
    assert_int_equal(c.scope, 0);
    assert_int_equal(c.phase, scope);
    assert_false(ttm_stacks_context_get(s, 4, &c));
    assert_false(ttm_stacks_context_get(s, 0, &c));
    assert_int_equal(ttm_stacks_context(s, 99, 0, 0), 0);
    assert_int_equal(ttm_stacks_context(s, 0, 99, 0), 0);
    assert_int_equal(ttm_stacks_context(s, 0, 0, 99), 0);
    assert_int_equal(stats(s).invalid, 7);
    assert_int_equal(stats(s).contexts, 3);
    assert_int_equal(stats(s).full, 0);
    ttm_stacks_close(s);
}

/* Each bound: the intern beyond it returns 0 and counts full; what was interned stays found. */
static void test_bounds(void **state)
{
    (void)state;
    ttm_stacks *s = open_with(&(ttm_stacks_config){.max_strings = 3});
    assert_int_equal(str(s, "a"), 1);
    assert_int_equal(str(s, "b"), 2);
    assert_int_equal(str(s, "c"), 3);
    assert_int_equal(str(s, "d"), 0);
    assert_int_equal(str(s, "b"), 2);
    assert_int_equal(stats(s).full, 1);
    /* a module whose path cannot be kept is refused too */
    assert_int_equal(ttm_stacks_module(s, NULL, 0, "/new", 4), 0);
    assert_int_equal(stats(s).full, 2);
    assert_int_equal(ttm_stacks_module(s, NULL, 0, "a", 1), 1);
    ttm_stacks_close(s);

    s = open_with(&(ttm_stacks_config){.string_bytes = 10});
    assert_int_equal(str(s, "12345"), 1);
    assert_int_equal(str(s, "123456"), 0);
    assert_int_equal(str(s, "abcde"), 2); /* exactly at the bound */
    assert_int_equal(str(s, "x"), 0);
    assert_int_equal(stats(s).full, 2);
    assert_int_equal(stats(s).string_bytes, 10);
    ttm_stacks_close(s);

    s = open_with(&(ttm_stacks_config){.max_modules = 2});
    assert_int_equal(ttm_stacks_module(s, NULL, 0, "/a", 2), 1);
    assert_int_equal(ttm_stacks_module(s, NULL, 0, "/b", 2), 2);
    assert_int_equal(ttm_stacks_module(s, NULL, 0, "/c", 2), 0);
    assert_int_equal(ttm_stacks_module(s, NULL, 0, "/a", 2), 1);
    assert_int_equal(stats(s).full, 1);
    ttm_stacks_close(s);

    s = open_with(&(ttm_stacks_config){.max_frames = 2});
    assert_int_equal(native(s, 0, 1), 1);
    assert_int_equal(native(s, 0, 2), 2);
    assert_int_equal(native(s, 0, 3), 0);
    assert_int_equal(native(s, 0, 2), 2);
    assert_int_equal(stats(s).full, 1);
    ttm_stacks_close(s);

    s = open_with(&(ttm_stacks_config){.max_stacks = 2});
    uint32_t fr[3] = {native(s, 0, 1), native(s, 0, 2), native(s, 0, 3)};
    assert_int_equal(ttm_stacks_stack(s, fr, 1), 1);
    assert_int_equal(ttm_stacks_stack(s, fr, 2), 2);
    assert_int_equal(ttm_stacks_stack(s, fr, 3), 0);
    assert_int_equal(ttm_stacks_stack(s, fr, 2), 2);
    assert_int_equal(stats(s).full, 1);
    ttm_stacks_close(s);

    s = open_with(&(ttm_stacks_config){.stack_words = 5});
    fr[0] = native(s, 0, 1);
    fr[1] = native(s, 0, 2);
    fr[2] = native(s, 0, 3);
    assert_int_equal(ttm_stacks_stack(s, fr, 3), 1);
    assert_int_equal(ttm_stacks_stack(s, fr + 1, 2), 2); /* exactly at the bound */
    assert_int_equal(ttm_stacks_stack(s, fr, 1), 0);
    assert_int_equal(stats(s).full, 1);
    assert_int_equal(stats(s).stack_words, 5);
    ttm_stacks_close(s);

    s = open_with(&(ttm_stacks_config){.max_contexts = 1});
    uint32_t name = str(s, "p");
    assert_int_equal(ttm_stacks_context(s, 0, name, 0), 1);
    assert_int_equal(ttm_stacks_context(s, 0, 0, name), 0);
    assert_int_equal(ttm_stacks_context(s, 0, name, 0), 1);
    assert_int_equal(stats(s).full, 1);
    assert_int_equal(stats(s).invalid, 0);
    ttm_stacks_close(s);
}

/* Fills s with n records of every kind (and one invalid intern). */
static void fill(ttm_stacks *s, unsigned n)
{
    char buf[64];
    const uint8_t bid[20] = {0xde, 0xad, 0xbe, 0xef};
    uint32_t mod = ttm_stacks_module(s, bid, sizeof bid, "/usr/lib/libtt_metal.so", 23);
    uint32_t mod2 = ttm_stacks_module(s, NULL, 0, "/tmp/t", 6);
    uint32_t file = ttm_stacks_string(s, "model.py", 8);
    for (unsigned i = 0; i < n; i++) {
        int len = snprintf(buf, sizeof buf, "fn_%u", i);
        uint32_t func = ttm_stacks_string(s, buf, (size_t)len);
        ttm_frame py = {.kind = TTM_FRAME_PYTHON, .function = func, .file = file, .line = i};
        ttm_frame text = {.kind = TTM_FRAME_TEXT, .module = func, .function = func, .line = 7};
        uint32_t fr[4] = {native(s, mod, 0x1000 + i), native(s, mod2, 0x20 + i),
                          ttm_stacks_frame(s, &py), ttm_stacks_frame(s, &text)};
        uint32_t stack = ttm_stacks_stack(s, fr, 1 + i % 4);
        ttm_stacks_context(s, stack, func, i % 2 ? func : 0);
    }
    ttm_stacks_string(s, NULL, 1); /* one invalid, counted */
}

static void save(const ttm_stacks *s, ttm_bytes *b)
{
    ttm_bw w = ttm__bw_over(b);
    ttm_stacks_save(s, &w);
    assert_int_equal(w.err, 0);
}

static void assert_same(const ttm_stacks *a, const ttm_stacks *b)
{
    ttm_stacks_stats sa = stats(a), sb = stats(b);
    assert_int_equal(sa.strings, sb.strings);
    assert_int_equal(sa.modules, sb.modules);
    assert_int_equal(sa.frames, sb.frames);
    assert_int_equal(sa.stacks, sb.stacks);
    assert_int_equal(sa.contexts, sb.contexts);
    assert_int_equal(sa.string_bytes, sb.string_bytes);
    assert_int_equal(sa.stack_words, sb.stack_words);
    assert_int_equal(sa.full, sb.full);
    assert_int_equal(sa.invalid, sb.invalid);
    for (uint32_t id = 1; id <= sa.strings; id++) {
        size_t la, lb;
        const char *pa = ttm_stacks_string_get(a, id, &la), *pb = ttm_stacks_string_get(b, id, &lb);
        assert_int_equal(la, lb);
        assert_memory_equal(pa, pb, la);
    }
    for (uint32_t id = 1; id <= sa.stacks; id++) {
        const uint32_t *fa, *fb;
        size_t na = ttm_stacks_stack_get(a, id, &fa), nb = ttm_stacks_stack_get(b, id, &fb);
        assert_int_equal(na, nb);
        assert_memory_equal(fa, fb, na * sizeof *fa);
    }
    for (uint32_t id = 1; id <= sa.frames; id++) {
        const ttm_frame *fa = ttm_stacks_frame_get(a, id), *fb = ttm_stacks_frame_get(b, id);
        assert_int_equal(fa->kind, fb->kind);
        assert_int_equal(fa->module, fb->module);
        assert_int_equal(fa->offset, fb->offset);
        assert_int_equal(fa->function, fb->function);
        assert_int_equal(fa->file, fb->file);
        assert_int_equal(fa->line, fb->line);
    }
}

static void test_save_load(void **state)
{
    (void)state;
    ttm_stacks *s = open_with(NULL);
    fill(s, 50);
    ttm_stacks_stats st = stats(s);
    assert_int_equal(st.modules, 2);
    assert_int_equal(st.stacks, 50);
    assert_int_equal(st.contexts, 50);
    assert_int_equal(st.invalid, 1);
    ttm_bytes b = {0};
    save(s, &b);
    ttm_bw w = ttm__bw_over(&b); /* what follows the table belongs to the caller */
    ttm__bw_bytes(&w, "end", 3);

    ttm_stacks *t = open_with(NULL);
    ttm_br r = ttm__br_over(b.data, b.len);
    assert_int_equal(ttm_stacks_load(t, &r), TTM_OK);
    assert_false(r.bad);
    assert_int_equal(ttm__br_left(&r), 3);
    assert_same(s, t);
    /* the loaded table interns on with the same ids */
    assert_int_equal(str(t, "fn_7"), str(s, "fn_7"));
    assert_int_equal(str(t, "new"), str(s, "new"));

    /* a table not empty does not load */
    r = ttm__br_over(b.data, b.len);
    assert_int_equal(ttm_stacks_load(t, &r), TTM_EINVAL);
    assert_true(r.bad);
    ttm_stacks_close(t);

    /* an empty table round-trips too */
    ttm_stacks *e = open_with(NULL), *e2 = open_with(NULL);
    ttm_bytes eb = {0};
    save(e, &eb);
    r = ttm__br_over(eb.data, eb.len);
    assert_int_equal(ttm_stacks_load(e2, &r), TTM_OK);
    assert_int_equal(ttm__br_left(&r), 0);
    assert_same(e, e2);
    ttm_stacks_close(e);
    ttm_stacks_close(e2);
    ttm__bytes_free(&eb);
    ttm__bytes_free(&b);
    ttm_stacks_close(s);
}

/* Every cut of a saved table is refused; every byte damaged is refused or loads into a table
 * that saves back to exactly the damaged bytes (a damaged name is still a name). */
static void test_load_damage(void **state)
{
    (void)state;
    ttm_stacks *s = open_with(NULL);
    fill(s, 6);
    ttm_bytes b = {0};
    save(s, &b);
    for (size_t cut = 0; cut < b.len; cut++) {
        ttm_stacks *t = open_with(NULL);
        ttm_br r = ttm__br_over(b.data, cut);
        assert_int_equal(ttm_stacks_load(t, &r), TTM_EPROTO);
        assert_true(r.bad);
        assert_non_null(r.what);
        ttm_stacks_close(t);
    }
    uint8_t *copy = malloc(b.len);
    unsigned refused = 0, accepted = 0;
    for (size_t at = 0; at < b.len; at++) {
        for (unsigned flip = 0; flip < 3; flip++) {
            static const uint8_t masks[3] = {0x01, 0x80, 0xff};
            memcpy(copy, b.data, b.len);
            copy[at] ^= masks[flip];
            ttm_stacks *t = open_with(NULL);
            ttm_br r = ttm__br_over(copy, b.len);
            int rc = ttm_stacks_load(t, &r);
            if (rc == TTM_OK) {
                ttm_bytes again = {0};
                save(t, &again);
                assert_int_equal(again.len, r.pos);
                assert_memory_equal(again.data, copy, again.len);
                ttm__bytes_free(&again);
                accepted++;
            } else {
                assert_int_equal(rc, TTM_EPROTO);
                assert_true(r.bad);
                assert_non_null(r.what);
                refused++;
            }
            ttm_stacks_close(t);
        }
    }
    assert_true(refused > 0 && accepted > 0);
    free(copy);

    /* structure damaged in known places: version, a frame's kind, a stack's frame id */
    ttm_stacks *t = open_with(NULL);
    memcpy(b.data, (const uint8_t[]){3, 0, 0, 0}, 4);
    ttm_br r = ttm__br_over(b.data, b.len);
    assert_int_equal(ttm_stacks_load(t, &r), TTM_EPROTO);
    assert_string_equal(r.what, "stacks: version");
    ttm_stacks_close(t);
    ttm__bytes_free(&b);
    ttm_stacks_close(s);
}

/* A table saved in deltas (since a mark each time) and loaded delta by delta into a table that
 * interned some of the same records itself in between (as a replay does) ends up the same. */
static void test_save_since_load_more(void **state)
{
    (void)state;
    ttm_stacks *s = open_with(NULL), *t = open_with(NULL);
    ttm_stacks_mark m;
    ttm_stacks_mark_get(s, &m);
    assert_false(ttm_stacks_grew(s, &m));
    ttm_bytes b = {0};
    for (unsigned round = 1; round <= 3; round++) {
        fill(s, 20 * round);
        assert_true(ttm_stacks_grew(s, &m));
        str(t, "fn_3"); /* t interned one already: must come back with s's id or fail */
        b.len = 0;
        ttm_bw w = ttm__bw_over(&b);
        ttm_stacks_save_since(s, &m, &w);
        assert_int_equal(w.err, 0);
        assert_false(ttm_stacks_grew(s, &m));
        ttm_br r = ttm__br_over(b.data, b.len);
        if (round == 1) { /* "fn_3" took id 1 in t, which s gave "/usr/lib/..." */
            assert_int_equal(ttm_stacks_load_more(t, &r), TTM_EPROTO);
            ttm_stacks_close(t);
            t = open_with(NULL);
            r = ttm__br_over(b.data, b.len);
        }
        assert_int_equal(ttm_stacks_load_more(t, &r), TTM_OK);
        assert_int_equal(ttm__br_left(&r), 0);
        assert_same(s, t);
    }
    /* a delta that skips ids (one was lost) is refused */
    fill(s, 70);
    b.len = 0;
    ttm_bw w = ttm__bw_over(&b);
    ttm_stacks_save_since(s, &m, &w);
    fill(s, 90);
    b.len = 0;
    w = ttm__bw_over(&b);
    ttm_stacks_save_since(s, &m, &w);
    ttm_br r = ttm__br_over(b.data, b.len);
    assert_int_equal(ttm_stacks_load_more(t, &r), TTM_EPROTO);
    ttm__bytes_free(&b);
    ttm_stacks_close(s);
    ttm_stacks_close(t);
}

/* Hand-written tables: a duplicate, a reference forward, a stack of depth 0. */
static void test_load_references(void **state)
{
    (void)state;
    struct {
        const char *what;
        uint8_t bytes[64];
        size_t len;
    } cases[] = {
        {"stacks: string", /* "ab" twice */
         {1, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 'a', 'b', 2, 0, 0, 0, 'a', 'b'},
         20},
        {"stacks: string", /* an empty string */ {1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0}, 13},
        {"stacks: module path", /* path 1, no string */
         {1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0},
         17},
        {"stacks: frame", /* a native frame of module 1, none interned */
         {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0,
          0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
         41},
        {"stacks: stack depth", /* a stack of 0 frames */
         {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
         28},
        {"stacks: string count", /* more strings than bytes */
         {1, 0, 0, 0, 0xff, 0xff, 0xff, 0x0f, 1, 0, 0, 0},
         12},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ttm_stacks *t = open_with(NULL);
        ttm_br r = ttm__br_over(cases[i].bytes, cases[i].len);
        assert_int_equal(ttm_stacks_load(t, &r), TTM_EPROTO);
        assert_true(r.bad);
        assert_string_equal(r.what, cases[i].what);
        ttm_stacks_close(t);
    }
}

/* Allocation failure at every N: an intern refused for memory returns 0 and counts full, the
 * table stays usable; a load refused for memory returns TTM_ENOMEM. */
static void test_alloc_failure_every_n(void **state)
{
    (void)state;
    ttm_stacks *src = open_with(NULL);
    fill(src, 40);
    ttm_bytes b = {0};
    save(src, &b);
    unsigned long n;
    for (n = 1;; n++) {
        ttm__alloc_fail_at(n);
        ttm_stacks *s = NULL;
        int rc = ttm_stacks_open(&s, NULL);
        if (rc != TTM_OK) {
            ttm__alloc_fail_at(0);
            assert_int_equal(rc, TTM_ENOMEM);
            assert_null(s);
            continue;
        }
        fill(s, 40);
        ttm_stacks_stats st = stats(s);
        ttm_stacks *t = NULL;
        int lrc = ttm_stacks_open(&t, NULL);
        ttm_br r = ttm__br_over(b.data, b.len);
        if (lrc == TTM_OK)
            lrc = ttm_stacks_load(t, &r);
        unsigned long made = ttm__alloc_fail_at(0);
        assert_true(lrc == TTM_OK || lrc == TTM_ENOMEM);
        bool refused = st.full > 0 || lrc != TTM_OK;
        /* after the failures the table takes new records again */
        assert_int_not_equal(str(s, "after"), 0);
        for (uint32_t id = 1; id <= st.strings; id++) {
            size_t len;
            assert_non_null(ttm_stacks_string_get(s, id, &len));
        }
        ttm_stacks_close(s);
        ttm_stacks_close(t);
        if (!refused) {
            assert_true(made < n);
            break;
        }
    }
    assert_true(n > 5);
    ttm__bytes_free(&b);
    ttm_stacks_close(src);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_many_strings),
        cmocka_unit_test(test_modules),
        cmocka_unit_test(test_frames),
        cmocka_unit_test(test_stacks_and_contexts),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_save_since_load_more),
        cmocka_unit_test(test_load_damage),
        cmocka_unit_test(test_load_references),
        cmocka_unit_test(test_alloc_failure_every_n),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
