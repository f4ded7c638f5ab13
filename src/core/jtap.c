/*
 * jtap.c — the registry's input written to a run journal (jtap.h says what, in which order).
 */
#include "core/jtap.h"

#include <stdlib.h>
#include <string.h>

#include "ttmem/ttmem.h"

#define CONFIG_VERSION 1u

/* Stops the tap at its first failure (the writer's error is sticky too). */
static int keep(ttm_jtap *t, int rc)
{
    if (rc != TTM_OK && t->err == TTM_OK)
        t->err = rc;
    return rc;
}

static int write_chunk(ttm_jtap *t, uint32_t kind, uint64_t ts, const void *data, size_t len)
{
    ttm_journal_chunk c = {.kind = kind, .ts = ts, .data = data, .len = len};
    return keep(t, ttm_journal_writer_chunk(t->w, &c));
}

int ttm_jtap_open(ttm_jtap *t, ttm_registry *reg, ttm_journal_writer *w,
                  const ttm_registry_config *cfg, uint32_t default_arch)
{
    return ttm_jtap_open_run(t, reg, w, cfg, default_arch, NULL);
}

int ttm_jtap_open_run(ttm_jtap *t, ttm_registry *reg, ttm_journal_writer *w,
                      const ttm_registry_config *cfg, uint32_t default_arch, const char *title)
{
    memset(t, 0, sizeof *t);
    t->reg = reg;
    t->w = w;
    ttm_totals tot;
    ttm_registry_totals(reg, &tot);
    uint64_t ts = tot.last_ts;
    int rc = ttm_jtap_config_encode(cfg, default_arch, &t->buf);
    if (rc == TTM_OK)
        rc = write_chunk(t, TTM_JOURNAL_CHUNK_CONFIG, ts, t->buf.data, t->buf.len);
    if (rc == TTM_OK && title != NULL && title[0] != '\0')
        rc = write_chunk(t, TTM_JOURNAL_CHUNK_RUN, ts, title, strlen(title));
    ttm_stacks_mark_get(ttm_registry_stacks_c(reg), &t->mark);
    bool empty = tot.events == 0 && t->mark.strings == 0 && t->mark.modules == 0 &&
                 t->mark.frames == 0 && t->mark.stacks == 0;
    if (rc == TTM_OK && !empty) {
        uint8_t *state = NULL;
        size_t len = 0;
        rc = ttm_registry_save(reg, NULL, 0, &state, &len);
        if (rc == TTM_OK)
            rc = write_chunk(t, TTM_JOURNAL_CHUNK_STATE, ts, state, len);
        free(state);
    }
    return keep(t, rc);
}

int ttm_jtap_sync(ttm_jtap *t)
{
    if (t->err != TTM_OK)
        return t->err;
    const ttm_stacks *s = ttm_registry_stacks_c(t->reg);
    if (!ttm_stacks_grew(s, &t->mark))
        return TTM_OK;
    t->buf.len = 0;
    ttm_bw bw = ttm__bw_over(&t->buf);
    ttm_stacks_save_since(s, &t->mark, &bw);
    if (bw.err != TTM_OK)
        return keep(t, bw.err);
    ttm_totals tot;
    ttm_registry_totals(t->reg, &tot);
    return write_chunk(t, TTM_JOURNAL_CHUNK_STACKS, tot.last_ts, t->buf.data, t->buf.len);
}

int ttm_jtap_event(ttm_jtap *t, uint32_t pid, const ttm_event *ev, uint32_t mask)
{
    int rc = ttm_jtap_sync(t);
    if (rc != TTM_OK)
        return rc;
    switch ((ttm_event_kind)ev->kind) {
    case TTM_EV_ALLOC:
    case TTM_EV_FREE: {
        ttm_journal_event e;
        ttm_journal_event_from(&e, pid, ev, mask);
        return keep(t, ttm_journal_writer_event(t->w, &e));
    }
    case TTM_EV_MARK: {
        char name[TTM_MARK_NAME_MAX];
        memcpy(name, ev->mark, sizeof name);
        name[sizeof name - 1] = '\0';
        ttm_journal_mark m = {.pid = pid, .ts = ev->ts, .name = name};
        return keep(t, ttm_journal_writer_mark(t->w, &m));
    }
    case TTM_EV_DEVICE_INFO: {
        ttm_journal_device d = {.device = ev->device, .arch = ev->arch,
                                .worker_cores = ev->worker_cores, .l1_per_core = ev->l1_per_core,
                                .dram_channels = ev->dram_channels,
                                .dram_capacity = ev->dram_capacity,
                                .l1_capacity = ev->l1_capacity, .ts = ev->ts};
        return keep(t, ttm_journal_writer_device(t->w, &d));
    }
    case TTM_EV_PROC_START:
    case TTM_EV_PROC_EXIT: {
        ttm_journal_proc p = {.state = ev->kind == TTM_EV_PROC_START ? TTM_JOURNAL_PROC_START
                                                                      : TTM_JOURNAL_PROC_EXIT,
                              .pid = pid, .status = TTM_JOURNAL_STATUS_EVENT, .ts = ev->ts,
                              .name = ""};
        return keep(t, ttm_journal_writer_proc(t->w, &p));
    }
    default: {
        /* a kind the registry refused (classed invalid): an event record all the same, so
         * that a replay counts it as the registry did */
        ttm_journal_event e;
        ttm_journal_event_from(&e, pid, ev, mask);
        return keep(t, ttm_journal_writer_event(t->w, &e));
    }
    }
}

int ttm_jtap_events(ttm_jtap *t, uint32_t pid, const ttm_event *ev, const uint32_t *masks,
                    size_t n)
{
    int rc = ttm_jtap_sync(t); /* once: the batch's ids were all interned before it */
    for (size_t i = 0; i < n && rc == TTM_OK; i++) {
        if (ev[i].kind == TTM_EV_ALLOC || ev[i].kind == TTM_EV_FREE) {
            ttm_journal_event e;
            ttm_journal_event_from(&e, pid, &ev[i], masks[i]);
            rc = keep(t, ttm_journal_writer_event(t->w, &e));
        } else {
            rc = ttm_jtap_event(t, pid, &ev[i], masks[i]);
        }
    }
    return rc;
}

uint32_t ttm_jtap_apply(ttm_jtap *t, uint32_t pid, const ttm_event *ev)
{
    uint32_t mask = ttm_registry_apply(t->reg, pid, ev);
    (void)ttm_jtap_event(t, pid, ev, mask);
    return mask;
}

int ttm_jtap_proc(ttm_jtap *t, const ttm_journal_proc *p)
{
    int rc = ttm_jtap_sync(t);
    return rc != TTM_OK ? rc : keep(t, ttm_journal_writer_proc(t->w, p));
}

int ttm_jtap_chunk(ttm_jtap *t, uint32_t kind, uint64_t ts, const void *data, size_t len)
{
    int rc = ttm_jtap_sync(t);
    return rc != TTM_OK ? rc : write_chunk(t, kind, ts, data, len);
}

int ttm_jtap_close(ttm_jtap *t)
{
    (void)ttm_jtap_sync(t);
    ttm__bytes_free(&t->buf);
    int err = t->err;
    t->err = TTM_EINVAL; /* closed: nothing more is written */
    return err;
}

int ttm_jtap_error(const ttm_jtap *t)
{
    return t->err;
}

/* ---- the CONFIG chunk -------------------------------------------------------------------- */

/* The configuration's values in the chunk's order (jtap.h). */
#define CONFIG_FIELDS(X)                                                                         \
    X(max_live_per_pid)                                                                          \
    X(max_offenders)                                                                             \
    X(max_history)                                                                               \
    X(max_freed_objs)                                                                            \
    X(max_leaks_listed)                                                                          \
    X(max_processes)                                                                             \
    X(stacks.max_strings)                                                                        \
    X(stacks.string_bytes)                                                                       \
    X(stacks.max_modules)                                                                        \
    X(stacks.max_frames)                                                                         \
    X(stacks.max_stacks)                                                                         \
    X(stacks.stack_words)                                                                        \
    X(stacks.max_contexts)                                                                       \
    X(max_phases)                                                                                \
    X(max_leak_groups)                                                                           \
    X(max_breakdown)

int ttm_jtap_config_encode(const ttm_registry_config *cfg, uint32_t default_arch, ttm_bytes *out)
{
    static const ttm_registry_config none;
    if (cfg == NULL)
        cfg = &none;
    out->len = 0;
    ttm_bw w = ttm__bw_over(out);
    uint32_t count = 1; /* default_arch */
#define COUNT_ONE(f) count++;
    CONFIG_FIELDS(COUNT_ONE)
#undef COUNT_ONE
    ttm__bw_u32(&w, CONFIG_VERSION);
    ttm__bw_u32(&w, count);
#define PUT_ONE(f) ttm__bw_u64(&w, (uint64_t)cfg->f);
    CONFIG_FIELDS(PUT_ONE)
#undef PUT_ONE
    ttm__bw_u64(&w, default_arch);
    return w.err;
}

int ttm_jtap_config_decode(const uint8_t *p, size_t len, ttm_registry_config *cfg,
                           uint32_t *default_arch)
{
    ttm_br r = ttm__br_over(p, len);
    memset(cfg, 0, sizeof *cfg);
    *default_arch = 0;
    if (ttm__br_u32(&r, "config version") != CONFIG_VERSION)
        return TTM_EPROTO;
    uint32_t count = ttm__br_u32(&r, "config count");
    if (r.bad || (uint64_t)count * 8 != ttm__br_left(&r))
        return TTM_EPROTO;
    uint64_t v = 0;
    uint32_t at = 0;
    /* a value wider than its field is refused: a crafted chunk never wraps a bound */
#define GET_ONE(f)                                                                               \
    if (at++ < count) {                                                                          \
        v = ttm__br_u64(&r, #f);                                                                 \
        cfg->f = (__typeof__(cfg->f))v;                                                          \
        if ((uint64_t)cfg->f != v)                                                               \
            return TTM_EPROTO;                                                                   \
    }
    CONFIG_FIELDS(GET_ONE)
#undef GET_ONE
    if (at++ < count) {
        v = ttm__br_u64(&r, "default_arch");
        if (v > UINT32_MAX)
            return TTM_EPROTO;
        *default_arch = (uint32_t)v;
    }
    return r.bad ? TTM_EPROTO : TTM_OK;
}
