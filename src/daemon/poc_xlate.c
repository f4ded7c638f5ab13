/*
 * poc_xlate.c — the legacy protocol's translation (poc_xlate.h): AllocMessages become events
 * of the same core as native ones, QUERY and DEVICE_INFO_QUERY are answered from the registry,
 * and the DUMP messages print the prototype's report on the daemon's output. The framing
 * (connections, buffers, resynchronisation, size detection) is poc.c's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/arch.h"
#include "common/poc.h"
#include "core/legacy.h"
#include "daemon/daemon.h"
#include "daemon/log.h"
#include "daemon/poc_xlate.h"
#include "common/util.h"

#define XLATE_DUMP_MAX 10000            /* buffers listed by one DUMP report */
#define XLATE_DUMP_GAP_NS 1000000000ull /* one DUMP report of each kind per second at most */

/* ---- output on the daemon's log ------------------------------------------------------------ */

void ttm__poc_log_flush(ttm_poc_xlate *x)
{
    if (x->loglen > 0)
        ttm__log_raw(x->logbuf, x->loglen);
    x->loglen = 0;
}

/* Every log line of translation: the per-event lines gathered so far go out first, so the
 * daemon's output keeps the order in which things happened. */
#define XLOG(x, level, ...)                                                                      \
    do {                                                                                         \
        ttm__poc_log_flush(x);                                                                   \
        TTM_LOG(level, __VA_ARGS__);                                                             \
    } while (0)

/* Gathers one --poc-log line (written at the next flush). */
static void log_line(ttm_poc_xlate *x, const char *line, size_t len)
{
    if (x->loglen + len + 1 > sizeof x->logbuf)
        ttm__poc_log_flush(x);
    if (len + 1 > sizeof x->logbuf)
        return; /* cannot happen: lines are a few hundred bytes */
    memcpy(x->logbuf + x->loglen, line, len);
    x->loglen += len;
    x->logbuf[x->loglen++] = '\n';
}

/* ---- messages ------------------------------------------------------------------------------ */

/* A buffer message as an event of the core. */
static void apply_buffer(ttm_daemon *d, ttm_poc_xlate *x, uint32_t pid, ttm_dproc *proc,
                         const ttm_poc_msg *m)
{
    if (m->device_id < 0 || m->device_id > 65535) {
        x->rejected++;
        if (!x->rejected_logged)
            XLOG(x, WARN, "legacy client pid %u sent %s for device %d: ignored (counted, "
                             "logged once)",
                    pid, ttm__poc_type_name(m->type), (int)m->device_id);
        x->rejected_logged = true;
        return;
    }
    ttm_event ev;
    memset(&ev, 0, sizeof ev);
    ev.device = (uint16_t)m->device_id;
    ev.addr = m->buffer_id;
    ev.ts = x->now_ns ? x->now_ns : ttm__mono_ns(); /* one clock read per socket read */
    switch (m->type) {
    case TTM_POC_ALLOC:
        ev.kind = TTM_EV_ALLOC;
        /* 0..4 are TT-Metal's buffer types; anything else is an invalid memtype (counted) */
        ev.memtype = m->buffer_type <= TTM_MEM_TRACE ? m->buffer_type : 0xfe;
        ev.size = m->size;
        break;
    case TTM_POC_FREE:
        ev.kind = TTM_EV_FREE; /* keyed by (device, address): size and type are not used */
        ev.memtype = TTM_MEM_ANY;
        break;
    case TTM_POC_CB_ALLOC:
    case TTM_POC_KERNEL_LOAD:
        ev.kind = TTM_EV_ALLOC;
        ev.memtype = m->type == TTM_POC_CB_ALLOC ? TTM_MEM_CB : TTM_MEM_KERNEL;
        ev.size = m->size;
        break;
    default: /* CB_FREE, KERNEL_UNLOAD */
        ev.kind = TTM_EV_FREE;
        ev.memtype = m->type == TTM_POC_CB_FREE ? TTM_MEM_CB : TTM_MEM_KERNEL;
        ev.size = m->size;
        break;
    }
    ttm_apply_info info;
    uint32_t mask = ttm_registry_apply_ex(d->reg, pid, &ev, &info);
    ttm__journal_events(d, pid, &ev, &mask, 1);
    if (proc != NULL)
        proc->events++;
    if (d->cfg.poc_log) {
        char line[256];
        size_t n = ttm_legacy_log_line(line, sizeof line, pid, &ev, mask, &info);
        if (n > 0)
            log_line(x, line, n);
    }
    if (mask & ~d->classes_seen) {
        ttm__poc_log_flush(x);
        ttm__proc_note_classes(d, pid, proc, ", legacy client", &ev, mask);
    }
}

/* The statistics of one device; false when the registry has not seen it. */
static bool device_stats(ttm_daemon *d, int32_t id, ttm_device_stats *out)
{
    if (id < 0 || id > 65535)
        return false;
    size_t n = ttm_registry_devices(d->reg, NULL, 0);
    ttm_device_stats *all = n ? ttm__calloc(n, sizeof *all) : NULL;
    if (all == NULL)
        return false;
    n = ttm_registry_devices(d->reg, all, n);
    bool found = false;
    for (size_t i = 0; i < n && !found; i++)
        if (all[i].device == (uint16_t)id) {
            *out = all[i];
            found = true;
        }
    ttm__free(all);
    return found;
}

/* A device the daemon can describe: its architecture or its capacity is known. */
static bool device_known(const ttm_device_stats *s)
{
    return s->arch != 0 || s->capacity[TTM_SPACE_DRAM] != 0 || s->capacity[TTM_SPACE_L1] != 0;
}

static uint32_t clamp32(uint64_t v)
{
    return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

/* RESPONSE: the live bytes of the device per type, all processes together, as the registry
 * keeps them (docs/COMPAT.md, "What a QUERY counts": each decision and why). The one field
 * that follows the prototype rather than the registry's types is l1_small_allocated: the
 * prototype added SYSTEM_MEMORY to it (the protocol has no field of its own for it), and a
 * monitor shows that field, so SYSTEM_MEMORY stays visible to it. Sums saturate. */
static void reply_query(ttm_daemon *d, const ttm_poc_msg *m, ttm_poc_msg *r)
{
    r->type = TTM_POC_RESPONSE;
    ttm_device_stats s;
    if (!device_stats(d, m->device_id, &s))
        return;
    uint64_t small = s.mem[TTM_MEM_L1_SMALL].live_bytes, sys = s.mem[TTM_MEM_SYSTEM].live_bytes;
    r->dram_allocated = s.mem[TTM_MEM_DRAM].live_bytes;
    r->l1_allocated = s.mem[TTM_MEM_L1].live_bytes;
    r->l1_small_allocated = small > UINT64_MAX - sys ? UINT64_MAX : small + sys;
    r->trace_allocated = s.mem[TTM_MEM_TRACE].live_bytes;
    r->cb_allocated = s.mem[TTM_MEM_CB].live_bytes;
    r->kernel_allocated = s.mem[TTM_MEM_KERNEL].live_bytes;
}

static void reply_device_info(ttm_daemon *d, const ttm_poc_msg *m, ttm_poc_msg *r)
{
    r->type = TTM_POC_DEVICE_INFO_RESPONSE;
    if (m->device_id == -1) {
        size_t n = ttm_registry_devices(d->reg, NULL, 0);
        ttm_device_stats *all = n ? ttm__calloc(n, sizeof *all) : NULL;
        uint32_t known = 0;
        if (all != NULL) {
            n = ttm_registry_devices(d->reg, all, n);
            for (size_t i = 0; i < n; i++)
                known += device_known(&all[i]);
            ttm__free(all);
        }
        r->num_devices = known;
        r->is_available = known > 0;
        return;
    }
    ttm_device_stats s;
    if (!device_stats(d, m->device_id, &s) || !device_known(&s))
        return;
    r->is_available = 1;
    r->arch_type = s.arch;
    const ttm_arch_profile *p = ttm__arch_profile(s.arch);
    if (p != NULL) {
        r->num_dram_channels = p->dram_channels;
        r->dram_size_per_channel = clamp32(p->dram_per_channel);
        r->l1_size_per_core = p->l1_per_core;
    }
    r->total_dram_size = s.capacity[TTM_SPACE_DRAM];
    r->total_l1_size = s.capacity[TTM_SPACE_L1];
}

typedef struct live_list {
    ttm_live *v;
    size_t n, cap;
    uint64_t total;
    bool kernels_only;
} live_list;

static bool live_take(const ttm_live *l, void *arg)
{
    live_list *ll = arg;
    if (l->flags & TTM_FLAG_VIEW)
        return true;
    if (ll->kernels_only && l->memtype != TTM_MEM_KERNEL)
        return true;
    ll->total++;
    if (ll->n < ll->cap)
        ll->v[ll->n++] = *l;
    return true;
}

static int live_cmp(const void *a, const void *b)
{
    const ttm_live *x = a, *y = b;
    if (x->device != y->device)
        return x->device < y->device ? -1 : 1;
    if (x->memtype != y->memtype)
        return x->memtype < y->memtype ? -1 : 1;
    if (x->addr != y->addr)
        return x->addr < y->addr ? -1 : 1;
    return x->pid < y->pid ? -1 : x->pid > y->pid;
}

/* DUMP_REMAINING and DUMP_KERNELS: the prototype's boxed report of the buffers (or the kernel
 * code) still live, per device and type, on the daemon's output. No line of it can be taken
 * for an event by a log parser (no "[PID" after a glyph). */
static void dump_report(ttm_daemon *d, ttm_poc_xlate *x, uint32_t pid, bool kernels)
{
    ttm_totals t;
    ttm_registry_totals(d->reg, &t);
    live_list ll = {.kernels_only = kernels};
    ll.cap = t.live_records < XLATE_DUMP_MAX ? (size_t)t.live_records : XLATE_DUMP_MAX;
    ll.v = ll.cap ? ttm__calloc(ll.cap, sizeof *ll.v) : NULL;
    if (ll.cap > 0 && ll.v == NULL) {
        XLOG(x, ERROR, "out of memory for the report pid %u asked for", pid);
        return;
    }
    ttm_registry_foreach_live(d->reg, live_take, &ll);
    ttm__qsort(ll.v, ll.n, sizeof *ll.v, live_cmp);

    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f == NULL) {
        ttm__free(ll.v);
        XLOG(x, ERROR, "out of memory for the report pid %u asked for", pid);
        return;
    }
    const char *title = kernels ? "           LOADED KERNELS            "
                                : "     REMAINING ALLOCATED BUFFERS     ";
    fprintf(f, "\n\u2554");
    for (int i = 0; i < 37; i++)
        fputs("\u2550", f);
    fprintf(f, "\u2557\n\u2551%s\u2551\n\u255a", title);
    for (int i = 0; i < 37; i++)
        fputs("\u2550", f);
    fprintf(f, "\u255d\n");
    fprintf(f, "Requested by pid %u; %llu %s live\n", pid, (unsigned long long)ll.total,
            kernels ? "kernels" : "buffers");
    size_t i = 0;
    while (i < ll.n) {
        uint16_t dev = ll.v[i].device;
        fprintf(f, "Device %u:\n", dev);
        while (i < ll.n && ll.v[i].device == dev) {
            uint8_t mt = ll.v[i].memtype;
            size_t j = i;
            uint64_t bytes = 0;
            while (j < ll.n && ll.v[j].device == dev && ll.v[j].memtype == mt)
                bytes += ll.v[j++].size;
            fprintf(f, "  %s: %zu %s, %llu bytes\n", ttm__memtype_name(mt), j - i,
                    kernels ? "kernels" : "buffers", (unsigned long long)bytes);
            for (; i < j; i++)
                fprintf(f, "    %s %llu: %llu bytes, pid %u, ref_count=%u\n",
                        kernels ? "kernel" : "buffer", (unsigned long long)ll.v[i].addr,
                        (unsigned long long)ll.v[i].size, ll.v[i].pid, ll.v[i].refs);
        }
    }
    if (ll.total > ll.n)
        fprintf(f, "... and %llu more not listed\n", (unsigned long long)(ll.total - ll.n));
    if (ll.total == 0)
        fprintf(f, "  (none)\n");
    fclose(f);
    ttm__poc_log_flush(x);
    ttm__log_raw(text, len);
    free(text); /* open_memstream's buffer comes from malloc */
    ttm__free(ll.v);
}

bool ttm__poc_translate(ttm_daemon *d, ttm_poc_xlate *x, uint32_t pid, ttm_dproc *proc,
                        const ttm_poc_msg *m, ttm_poc_msg *reply)
{
    switch (m->type) {
    case TTM_POC_ALLOC:
    case TTM_POC_FREE:
    case TTM_POC_CB_ALLOC:
    case TTM_POC_CB_FREE:
    case TTM_POC_KERNEL_LOAD:
    case TTM_POC_KERNEL_UNLOAD:
        apply_buffer(d, x, pid, proc, m);
        return false;
    case TTM_POC_QUERY:
    case TTM_POC_DEVICE_INFO_QUERY:
        memset(reply, 0, sizeof *reply);
        reply->device_id = m->device_id;
        if (m->type == TTM_POC_QUERY)
            reply_query(d, m, reply);
        else
            reply_device_info(d, m, reply);
        return true;
    case TTM_POC_DUMP_REMAINING:
    case TTM_POC_DUMP_KERNELS: {
        /* a report can be 10,000 lines: a client asking in a loop must not flood the log */
        bool kernels = m->type == TTM_POC_DUMP_KERNELS;
        uint64_t now = ttm__mono_ns();
        if (x->last_dump_ns[kernels] != 0 && now - x->last_dump_ns[kernels] < XLATE_DUMP_GAP_NS) {
            x->dumps_skipped++;
            XLOG(x, DEBUG, "legacy client pid %u: %s within a second of the last one: skipped",
                 pid, ttm__poc_type_name(m->type));
            return false;
        }
        x->last_dump_ns[kernels] = now;
        dump_report(d, x, pid, kernels);
        return false;
    }
    default: /* RESPONSE, DEVICE_INFO_RESPONSE: the server's own types */
        if (!x->response_logged)
            XLOG(x, WARN, "legacy client pid %u sent a %s message, which only the server sends: "
                          "ignored (counted, logged once)",
                 pid, ttm__poc_type_name(m->type));
        x->response_logged = true;
        return false;
    }
}
