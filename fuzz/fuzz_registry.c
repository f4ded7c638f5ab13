/*
 * fuzz_registry.c — the daemon's interpretation of the events a peer writes into its ring
 * (src/core: registry, report, legacy log lines) on arbitrary bytes. ring.c only copies slots;
 * every field of every event is the peer's word, so the registry must take any sequence of
 * them: any kind, memtype, flags, device, size, address and object id, interleaved between
 * processes and exits, with its bounds small enough to be reached. Never crashes, never reads
 * or writes out of bounds, and every query afterwards stays within what it was given.
 *
 * Input: a first byte choosing the configuration (bit 0: small bounds, bit 1: a default
 * architecture), then records of 1 control byte + one 64-byte ttm_event. Control byte: bits
 * 0-1 the process (pid 100..103), bit 6 apply through ttm_registry_apply_batch, bit 7 the
 * process exits after the event. The causes of the unmatched frees (core/causes.h) are read
 * back and checked against the classes, and survive a save and load unchanged.
 */
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "core/legacy.h"
#include "core/registry.h"
#include "core/report.h"
#include "ttmem/ttmem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t ttm__fuzz_seeds(const uint8_t *const **seeds, const size_t **sizes);

#define REC (1 + sizeof(ttm_event))
#define CAP 64

static bool count_live(const ttm_live *l, void *arg)
{
    (void)l;
    return ++*(size_t *)arg < 100000;
}

/* The causes hold their invariants: one cause for every unmatched free and duplicate alloc. */
static void check_causes(const ttm_registry *reg, ttm_cause_stats *cs, ttm_causes_info *info)
{
    ttm_registry_causes(reg, cs, info);
    ttm_totals t;
    ttm_registry_totals(reg, &t);
    uint64_t frees = 0, allocs = 0;
    for (unsigned c = 0; c < TTM_CAUSE__COUNT; c++) {
        if (cs[c].cause != c || cs[c].ambiguous > cs[c].frees ||
            cs[c].pending > cs[c].frees + cs[c].allocs || cs[c].ninstances > TTM_CAUSE_INSTANCES ||
            cs[c].npids > TTM_CAUSE_PIDS)
            abort();
        frees += cs[c].frees;
        allocs += cs[c].allocs;
    }
    /* (frees of an object id have no cause: only address-only events are attributed) */
    if (info->enabled && (frees > t.class_count[TTM_CLASS_EXCESS_FREE] +
                                      t.class_count[TTM_CLASS_UNKNOWN_FREE] ||
                          allocs > t.class_count[TTM_CLASS_DUPLICATE_ALLOC] ||
                          info->attributed != frees + allocs || info->keys > info->keys_max))
        abort();
}

static void query_all(ttm_registry *reg)
{
    static ttm_cause_stats cs[TTM_CAUSE__COUNT], cs2[TTM_CAUSE__COUNT];
    ttm_causes_info info, info2;
    check_causes(reg, cs, &info);
    uint8_t *buf;
    size_t len;
    if (ttm_registry_save(reg, NULL, 0, &buf, &len) == TTM_OK) {
        ttm_registry *b;
        const uint8_t *annex;
        size_t alen;
        char msg[160];
        ttm_registry_config cfg = {.max_cause_keys = (uint32_t)info.keys_max};
        if (ttm_registry_load(&b, &cfg, buf, len, &annex, &alen, msg, sizeof msg) != TTM_OK)
            abort();
        check_causes(b, cs2, &info2);
        for (unsigned c = 0; c < TTM_CAUSE__COUNT; c++)
            if (cs[c].frees != cs2[c].frees || cs[c].allocs != cs2[c].allocs ||
                cs[c].pending != cs2[c].pending || cs[c].addrs != cs2[c].addrs)
                abort();
        ttm_registry_close(b);
        ttm__free(buf);
    }
    ttm_totals t;
    ttm_registry_totals(reg, &t);
    static ttm_device_stats devs[CAP];
    (void)ttm_registry_devices(reg, devs, CAP);
    for (unsigned c = 0; c < TTM_CLASS__COUNT; c++) {
        static ttm_offender off[CAP];
        (void)ttm_registry_offenders(reg, c, off, CAP);
    }
    static ttm_leak leaks[CAP];
    (void)ttm_registry_leaks(reg, leaks, CAP);
    static ttm_proc_stats procs[CAP];
    (void)ttm_registry_processes(reg, procs, CAP);
    size_t live = 0;
    ttm_registry_foreach_live(reg, count_live, &live);
    (void)ttm_registry_live_memory(reg);
    ttm_report *r;
    ttm_report_options opt = {.top = 3, .max_leaks = 4};
    if (ttm_report_build(reg, &opt, &r) == TTM_OK) {
        if (r->nleaks > opt.max_leaks)
            abort();
        ttm_report_free(r);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    ttm_registry_config small = {.max_live_per_pid = 8, .max_offenders = 16,
                                 .max_history = 64, .max_freed_objs = 16,
                                 .max_leaks_listed = 4, .max_processes = 3,
                                 .max_cause_keys = 4};
    ttm_registry *reg;
    if (ttm_registry_open(&reg, (data[0] & 1) ? &small : NULL) != TTM_OK)
        return 0;
    if (data[0] & 2)
        ttm_registry_set_default_arch(reg, (ttm_arch)(data[0] >> 2));
    for (size_t off = 1; off + REC <= size; off += REC) {
        uint8_t ctl = data[off];
        uint32_t pid = 100 + (ctl & 3);
        ttm_event ev;
        memcpy(&ev, data + off + 1, sizeof ev);
        ttm_apply_info info;
        uint32_t mask;
        if (ctl & 0x40) {
            ttm_registry_apply_batch(reg, pid, &ev, 1, &mask);
            memset(&info, 0, sizeof info);
        } else {
            mask = ttm_registry_apply_ex(reg, pid, &ev, &info);
        }
        char line[256];
        size_t n = ttm_legacy_log_line(line, sizeof line, pid, &ev, mask, &info);
        if (n >= sizeof line)
            abort();
        if (ctl & 0x80)
            ttm_registry_process_exit(reg, pid, ev.ts);
    }
    query_all(reg);
    ttm_registry_close(reg);
    return 0;
}

/* ---- seeds: event sequences as libttmem writes them, covering every class ---- */

#define NSEEDS 3
#define SEED_EVENTS 25
static uint8_t seed_buf[NSEEDS][1 + SEED_EVENTS * REC];
static const uint8_t *seed_ptrs[NSEEDS];
static size_t seed_lens[NSEEDS];

static size_t put(uint8_t *buf, size_t off, uint8_t ctl, const ttm_event *ev)
{
    buf[off] = ctl;
    memcpy(buf + off + 1, ev, sizeof *ev);
    return off + REC;
}

static ttm_event ev_mem(uint8_t kind, uint8_t memtype, uint16_t device, uint64_t addr,
                        uint64_t size, uint64_t obj, uint32_t seq)
{
    ttm_event e;
    memset(&e, 0, sizeof e);
    e.kind = kind;
    e.memtype = memtype;
    e.device = device;
    e.tid = 7;
    e.seq = seq;
    e.ts = 1000 * seq;
    e.addr = addr;
    e.size = size;
    e.obj = obj;
    return e;
}

size_t ttm__fuzz_seeds(const uint8_t *const **seeds, const size_t **sizes)
{
    if (seed_lens[0] != 0)
        goto done;
    for (size_t i = 0; i < NSEEDS; i++) {
        uint8_t *b = seed_buf[i];
        size_t off = 1;
        uint32_t q = 1;
        /* default bounds, small bounds, a default architecture */
        b[0] = i == 2 ? (uint8_t)(2 | TTM_ARCH_WORMHOLE_B0 << 2) : (uint8_t)i;
        ttm_event e;
        memset(&e, 0, sizeof e);
        e.kind = TTM_EV_PROC_START;
        e.seq = q++;
        off = put(b, off, 0, &e);
        memset(&e, 0, sizeof e);
        e.kind = TTM_EV_DEVICE_INFO;
        e.seq = q++;
        e.dram_capacity = 12ull << 30;
        e.l1_capacity = 108ull << 20;
        e.arch = TTM_ARCH_WORMHOLE_B0;
        e.worker_cores = 72;
        e.l1_per_core = 1536 * 1024;
        off = put(b, off, 0, &e);
        for (uint64_t k = 0; k < 4; k++) { /* alloc and free */
            e = ev_mem(TTM_EV_ALLOC, (uint8_t)(k % 2), 0, 0x1000 * (k + 1), 4096, 0, q++);
            off = put(b, off, 0, &e);
        }
        e = ev_mem(TTM_EV_FREE, TTM_MEM_DRAM, 0, 0x1000, 4096, 0, q++);
        off = put(b, off, 0, &e);
        e = ev_mem(TTM_EV_FREE, TTM_MEM_DRAM, 0, 0x1000, 4096, 0, q++); /* double free */
        e.flags = TTM__FLAG_ADDR_DEC; /* written in decimal */
        off = put(b, off, 0, &e);
        e = ev_mem(TTM_EV_FREE, TTM_MEM_DRAM, 1, 0x1000, 4096, 0, q++); /* a mesh burst's */
        off = put(b, off, 0, &e);
        e = ev_mem(TTM_EV_FREE, TTM_MEM_ANY, 0, 0x99000, 0, 0, q++); /* unknown free */
        off = put(b, off, 0x40, &e);
        e = ev_mem(TTM_EV_ALLOC, TTM_MEM_DRAM, 0, 0x3000, 8192, 0, q++); /* overlap */
        off = put(b, off, 1, &e);
        e = ev_mem(TTM_EV_ALLOC, TTM_MEM_L1, 1, 0x20, 64, 0xabc, q++); /* an object */
        off = put(b, off, 1, &e);
        e = ev_mem(TTM_EV_ALLOC, TTM_MEM_L1, 1, 0x20, 64, 0xabc, q++); /* re-referenced */
        off = put(b, off, 1, &e);
        e = ev_mem(TTM_EV_ALLOC, TTM_MEM_DRAM, 1, 0x20000, 1u << 20, 0, q++);
        e.flags = TTM_FLAG_VIEW;
        off = put(b, off, 2, &e);
        e = ev_mem(TTM_EV_FREE, TTM_MEM_TRACE, 2, 0x5000, 4096, 0, q++);
        off = put(b, off, 2, &e);
        memset(&e, 0, sizeof e);
        e.kind = TTM_EV_MARK;
        e.seq = q++;
        off = put(b, off, 0, &e);
        e = ev_mem(TTM_EV_ALLOC, TTM_MEM_CB, 3, 0x7000, 2048, 0, q++); /* leaked at exit */
        off = put(b, off, 0x80 | 3, &e);
        e = ev_mem(TTM_EV_ALLOC, TTM_MEM_KERNEL, 0, 0x8000, 512, 0, q++);
        off = put(b, off, 0x80, &e);
        seed_ptrs[i] = b;
        seed_lens[i] = off;
    }
done:
    *seeds = seed_ptrs;
    *sizes = seed_lens;
    return NSEEDS;
}
