/*
 * sites.c — the simulator's call sites: the synthetic stacks (TEXT frames naming the simulated
 * code path) and scope names its events carry when a run is given a stacks table
 * (ttm_sim_run_stacks()). The frames are described in sim_internal.h ("call sites").
 *
 * Sites, layers and scopes are string constants, so they are remembered by pointer: each
 * distinct (kind, layer, site) is interned once per run and then found in a small memo (the
 * last one first: consecutive events mostly share it). When the memo is full the stack is
 * interned again each time (the table deduplicates it: same id, more work).
 */
#include "sim/sim_internal.h"

#include <string.h>

#define LIBTT      "libtt_metal.so"
#define BUFFER_CPP "tt_metal/impl/buffers/buffer.cpp"
#define MESH_CPP   "tt_metal/distributed/mesh_buffer.cpp"

void ttm__sim_site(ttm__sim *S, const char *path, const char *func, const char *file)
{
    S->where.path = path;
    S->where.func = func;
    S->where.file = file;
}

void ttm__sim_scope(ttm__sim *S, const char *name)
{
    S->where.scope = name;
}

void ttm__sim_layer(ttm__sim *S, const char *frame)
{
    S->where.layer = frame;
}

static uint32_t str_id(ttm_stacks *t, const char *s, size_t n)
{
    return s != NULL && n > 0 ? ttm_stacks_string(t, s, n) : 0;
}

/* A TEXT frame; 0 when the table refused a part. */
static uint32_t text_frame(ttm_stacks *t, const char *module, const char *func, size_t func_len,
                           const char *file)
{
    ttm_frame f = {.kind = TTM_FRAME_TEXT};
    f.module = str_id(t, module, module ? strlen(module) : 0);
    f.function = str_id(t, func, func_len);
    f.file = str_id(t, file, file ? strlen(file) : 0);
    if (f.function == 0 || (module != NULL && f.module == 0) || (file != NULL && f.file == 0))
        return 0;
    return ttm_stacks_frame(t, &f);
}

/* Interns the stack of an event of kind from where: see sim_internal.h. */
static uint32_t make_stack(const ttm__sim_where *w, uint8_t kind)
{
    ttm_stacks *t = w->stacks;
    uint32_t ids[TTM_STACKS_DEPTH_MAX];
    size_t n = 0;
    const char *op = kind == TTM_EV_ALLOC ? "tt::tt_metal::Buffer::allocate_impl"
                                          : "tt::tt_metal::Buffer::deallocate_impl";
    ids[n++] = text_frame(t, LIBTT, op, strlen(op), BUFFER_CPP);
    if (w->layer != NULL)
        ids[n++] = text_frame(t, LIBTT, w->layer, strlen(w->layer), MESH_CPP);
    for (const char *p = w->path; p != NULL && *p != '\0' && n + 1 < TTM_STACKS_DEPTH_MAX;) {
        const char *bar = strchr(p, '|');
        size_t len = bar != NULL ? (size_t)(bar - p) : strlen(p);
        ids[n++] = text_frame(t, NULL, p, len, NULL);
        p = bar != NULL ? bar + 1 : p + len;
    }
    if (w->func != NULL)
        ids[n++] = text_frame(t, "ttmem simulate", w->func, strlen(w->func), w->file);
    for (size_t i = 0; i < n; i++)
        if (ids[i] == 0)
            return 0;
    return ttm_stacks_stack(t, ids, n);
}

static uint32_t stack_of(ttm__sim_where *w, uint8_t kind)
{
    ttm__sim_stack_memo *m = &w->stacks_memo[w->last];
    if (w->last < w->nstacks && m->kind == kind && m->path == w->path && m->func == w->func &&
        m->layer == w->layer)
        return m->id;
    for (size_t i = 0; i < w->nstacks; i++) {
        m = &w->stacks_memo[i];
        if (m->kind == kind && m->path == w->path && m->func == w->func && m->layer == w->layer) {
            w->last = i;
            return m->id;
        }
    }
    uint32_t id = make_stack(w, kind);
    if (id != 0 && w->nstacks < TTM__SIM_MEMO) {
        w->stacks_memo[w->nstacks] = (ttm__sim_stack_memo){
            .path = w->path, .func = w->func, .layer = w->layer, .kind = kind, .id = id};
        w->last = w->nstacks++;
    }
    return id;
}

static uint32_t scope_of(ttm__sim_where *w)
{
    if (w->scope == NULL)
        return 0;
    for (size_t i = 0; i < w->nscopes; i++)
        if (w->scopes_memo[i].name == w->scope)
            return w->scopes_memo[i].id;
    uint32_t id = ttm_stacks_string(w->stacks, w->scope, strlen(w->scope));
    if (id != 0 && w->nscopes < TTM__SIM_MEMO)
        w->scopes_memo[w->nscopes++] = (ttm__sim_scope_memo){.name = w->scope, .id = id};
    return id;
}

void ttm__sim_context(ttm__sim *S, ttm_event *ev)
{
    ttm__sim_where *w = &S->where;
    if (w->stacks == NULL)
        return;
    ev->stack = stack_of(w, ev->kind);
    ev->scope = scope_of(w);
}
