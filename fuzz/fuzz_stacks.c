/*
 * fuzz_stacks.c — the core's call-site tables (core/stacks.h) loaded from arbitrary bytes, as
 * a registry state file gives them to ttm_stacks_load: never crashes, never reads out of
 * bounds; a load either fails (TTM_EPROTO with the reader marked bad, or TTM_ENOMEM) or yields
 * a table whose every reference holds (each stack's frames, each frame's module and strings,
 * each context's ids are interned) and which saves back to exactly the bytes it read.
 *
 * Input: a first byte choosing the bounds (bit 0: small ones, so that a load can reach them),
 * then the saved table.
 */
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "core/stacks.h"
#include "ttmem/ttmem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t ttm__fuzz_seeds(const uint8_t *const **seeds, const size_t **sizes);

static const ttm_stacks_config small = {.max_strings = 8,
                                        .string_bytes = 64,
                                        .max_modules = 2,
                                        .max_frames = 8,
                                        .max_stacks = 4,
                                        .stack_words = 16,
                                        .max_contexts = 4};

/* Every reference of s holds. */
static void check(const ttm_stacks *s)
{
    ttm_stacks_stats st;
    ttm_stacks_stats_get(s, &st);
    for (uint32_t id = 1; id <= st.modules; id++) {
        ttm_module_info mi;
        if (!ttm_stacks_module_get(s, id, &mi) || mi.build_id_len > TTM_STACKS_BUILD_ID_MAX ||
            (mi.build_id_len == 0 && mi.path_len == 0))
            abort();
    }
    for (uint32_t id = 1; id <= st.frames; id++) {
        const ttm_frame *f = ttm_stacks_frame_get(s, id);
        if (f == NULL || f->kind < TTM_FRAME_NATIVE || f->kind > TTM_FRAME_TEXT ||
            (f->kind == TTM_FRAME_NATIVE ? f->module > st.modules : f->module > st.strings) ||
            f->function > st.strings || f->file > st.strings)
            abort();
    }
    for (uint32_t id = 1; id <= st.stacks; id++) {
        const uint32_t *fr;
        size_t n = ttm_stacks_stack_get(s, id, &fr);
        if (n == 0 || n > TTM_STACKS_DEPTH_MAX)
            abort();
        for (size_t i = 0; i < n; i++)
            if (fr[i] == 0 || fr[i] > st.frames)
                abort();
    }
    for (uint32_t id = 1; id <= st.contexts; id++) {
        ttm_context c;
        if (!ttm_stacks_context_get(s, id, &c) || c.stack > st.stacks || c.scope > st.strings ||
            c.phase > st.strings || (c.stack | c.scope | c.phase) == 0)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    ttm_stacks *s = NULL;
    if (ttm_stacks_open(&s, (data[0] & 1) ? &small : NULL) != TTM_OK)
        return 0;
    ttm_br r = ttm__br_over(data + 1, size - 1);
    int err = ttm_stacks_load(s, &r);
    if (err == TTM_OK) {
        if (r.bad)
            abort();
        check(s);
        ttm_bytes again = {0};
        ttm_bw w = ttm__bw_over(&again);
        ttm_stacks_save(s, &w);
        if (w.err != 0 || again.len != r.pos || memcmp(again.data, data + 1, r.pos) != 0)
            abort();
        ttm__bytes_free(&again);
    } else if (err != TTM_ENOMEM && (err != TTM_EPROTO || !r.bad || r.what == NULL)) {
        abort();
    }
    ttm_stacks_close(s);
    return 0;
}

/* Seeds: tables saved by ttm_stacks_save — empty, and one with every kind of record — each
 * behind a bounds byte of 0 and of 1. */
#define NSEEDS 4
static ttm_bytes seed_bytes[NSEEDS];
static const uint8_t *seed_ptrs[NSEEDS];
static size_t seed_lens[NSEEDS];

static void fill(ttm_stacks *s)
{
    static const uint8_t bid[20] = {0xde, 0xad, 0xbe, 0xef};
    uint32_t mod = ttm_stacks_module(s, bid, sizeof bid, "/usr/lib/libtt_metal.so", 23);
    uint32_t func = ttm_stacks_string(s, "matmul", 6), file = ttm_stacks_string(s, "t.py", 4);
    ttm_frame fr[3] = {{.kind = TTM_FRAME_NATIVE, .module = mod, .offset = 0x1139},
                       {.kind = TTM_FRAME_PYTHON, .function = func, .file = file, .line = 7},
                       {.kind = TTM_FRAME_TEXT, .module = func, .function = func}};
    uint32_t ids[3];
    for (size_t i = 0; i < 3; i++)
        ids[i] = ttm_stacks_frame(s, &fr[i]);
    uint32_t stack = ttm_stacks_stack(s, ids, 3);
    ttm_stacks_stack(s, ids + 1, 2);
    ttm_stacks_context(s, stack, func, 0);
}

size_t ttm__fuzz_seeds(const uint8_t *const **seeds, const size_t **sizes)
{
    for (size_t i = 0; i < NSEEDS; i++) {
        ttm_stacks *s = NULL;
        if (ttm_stacks_open(&s, NULL) != TTM_OK)
            abort();
        if (i >= 2)
            fill(s);
        seed_bytes[i].len = 0;
        ttm_bw w = ttm__bw_over(&seed_bytes[i]);
        ttm__bw_u8(&w, (uint8_t)(i & 1));
        ttm_stacks_save(s, &w);
        if (w.err != 0)
            abort();
        ttm_stacks_close(s);
        seed_ptrs[i] = seed_bytes[i].data;
        seed_lens[i] = seed_bytes[i].len;
    }
    *seeds = seed_ptrs;
    *sizes = seed_lens;
    return NSEEDS;
}
