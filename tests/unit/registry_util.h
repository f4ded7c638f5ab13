/*
 * registry_util.h — helpers shared by the core registry's unit tests (test_registry*.c): build
 * one event and apply it, read counters back, and check the invariants that must hold after any
 * event sequence (every ALLOC and FREE has exactly one primary class; the live records, the
 * per-device statistics and the per-process statistics agree byte for byte).
 *
 * Everything here is static inline so that each test executable uses only what it needs
 * without unused-function warnings. Include cmocka (and its prerequisites) before this file.
 */
#ifndef TTM_TESTS_REGISTRY_UTIL_H
#define TTM_TESTS_REGISTRY_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/event.h"
#include "core/registry.h"
#include "core/stacks.h"

/* The bit of a class by its short name: B(FREE_OK). */
/* Short names for the hand-built sequences. */
#define DRAM   TTM_MEM_DRAM
#define L1     TTM_MEM_L1
#define SYS    TTM_MEM_SYSTEM
#define L1S    TTM_MEM_L1_SMALL
#define TRACE  TTM_MEM_TRACE
#define CB     TTM_MEM_CB
#define KERNEL TTM_MEM_KERNEL
#define ANY    TTM_MEM_ANY
#define VIEW   TTM_FLAG_VIEW

#define A  0x100000ull
#define A2 0x200000ull
#define A3 0x300000ull

/* cmocka fixtures: a fresh registry with defaults in *state. */
/* A stack of one native frame at offset pc (module 0: a raw address), interned in reg. */
static inline uint32_t util_stack(ttm_registry *reg, uint64_t pc)
{
    ttm_stacks *s = ttm_registry_stacks(reg);
    ttm_frame f = {.kind = TTM_FRAME_NATIVE, .offset = pc};
    uint32_t fid = ttm_stacks_frame(s, &f);
    assert_int_not_equal(fid, 0);
    uint32_t id = ttm_stacks_stack(s, &fid, 1);
    assert_int_not_equal(id, 0);
    return id;
}

static inline int setup(void **state)
{
    ttm_registry *reg = NULL;
    if (ttm_registry_open(&reg, NULL) != TTM_OK)
        return -1;
    *state = reg;
    return 0;
}

static inline int teardown(void **state)
{
    ttm_registry_close(*state);
    return 0;
}

#define B(c) TTM_CLASS_BIT(TTM_CLASS_##c)

/* Devices used by the tests are below this bound (for the invariant tables). */
#define UTIL_MAX_DEV 16

static inline ttm_event util_event(uint8_t kind, uint16_t dev, unsigned memtype, uint64_t addr,
                                   uint64_t size, uint64_t obj, unsigned flags, uint64_t ts)
{
    ttm_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = kind;
    ev.memtype = (uint8_t)memtype;
    ev.flags = (uint16_t)flags;
    ev.device = dev;
    ev.ts = ts;
    ev.addr = addr;
    ev.size = size;
    ev.obj = obj;
    return ev;
}

/* Applies one ALLOC and returns the class mask. */
static inline uint32_t alloc(ttm_registry *reg, uint32_t pid, uint16_t dev, unsigned memtype,
                             uint64_t addr, uint64_t size, uint64_t obj, unsigned flags,
                             uint64_t ts)
{
    ttm_event ev = util_event(TTM_EV_ALLOC, dev, memtype, addr, size, obj, flags, ts);
    return ttm_registry_apply(reg, pid, &ev);
}

/* Applies one FREE and returns the class mask. */
static inline uint32_t dealloc(ttm_registry *reg, uint32_t pid, uint16_t dev, unsigned memtype,
                               uint64_t addr, uint64_t size, uint64_t obj, unsigned flags,
                               uint64_t ts)
{
    ttm_event ev = util_event(TTM_EV_FREE, dev, memtype, addr, size, obj, flags, ts);
    return ttm_registry_apply(reg, pid, &ev);
}

static inline ttm_registry *open_reg(const ttm_registry_config *cfg)
{
    ttm_registry *reg = NULL;
    assert_int_equal(ttm_registry_open(&reg, cfg), TTM_OK);
    assert_non_null(reg);
    return reg;
}

static inline ttm_totals totals(const ttm_registry *reg)
{
    ttm_totals t;
    memset(&t, 0xa5, sizeof t); /* the query must fill every field */
    ttm_registry_totals(reg, &t);
    return t;
}

static inline uint64_t class_count(const ttm_registry *reg, ttm_class c)
{
    return totals(reg).class_count[c];
}

/* Statistics of one device; fails the test when the device is not listed. */
static inline ttm_device_stats dev_stats(const ttm_registry *reg, uint16_t dev)
{
    size_t n = ttm_registry_devices(reg, NULL, 0);
    ttm_device_stats *all = calloc(n ? n : 1, sizeof *all);
    assert_non_null(all);
    assert_int_equal(ttm_registry_devices(reg, all, n), n);
    ttm_device_stats out;
    memset(&out, 0, sizeof out);
    bool found = false;
    for (size_t i = 0; i < n; i++) {
        if (all[i].device == dev) {
            out = all[i];
            found = true;
        }
    }
    free(all);
    if (!found)
        fail_msg("device %u not listed", dev);
    return out;
}

static inline ttm_memstat mem(const ttm_registry *reg, uint16_t dev, unsigned memtype)
{
    return dev_stats(reg, dev).mem[memtype];
}

static inline uint64_t live_bytes(const ttm_registry *reg, uint16_t dev, unsigned memtype)
{
    return mem(reg, dev, memtype).live_bytes;
}

/* Statistics of one process; fails the test when the process is not listed. */
static inline ttm_proc_stats proc_stats(const ttm_registry *reg, uint32_t pid)
{
    size_t n = ttm_registry_processes(reg, NULL, 0);
    ttm_proc_stats *all = calloc(n ? n : 1, sizeof *all);
    assert_non_null(all);
    assert_int_equal(ttm_registry_processes(reg, all, n), n);
    ttm_proc_stats out;
    memset(&out, 0, sizeof out);
    bool found = false;
    for (size_t i = 0; i < n; i++) {
        if (all[i].pid == pid) {
            out = all[i];
            found = true;
        }
    }
    free(all);
    if (!found)
        fail_msg("process %u not listed", pid);
    return out;
}

/* A process's statistics on one device, or NULL when it has none there. */
static inline const ttm_proc_mem *proc_dev(const ttm_proc_stats *ps, uint16_t dev)
{
    for (size_t i = 0; i < ps->ndevices; i++)
        if (ps->devices[i].device == dev)
            return &ps->devices[i];
    return NULL;
}

static inline uint64_t proc_live_bytes(const ttm_registry *reg, uint32_t pid, uint16_t dev,
                                       unsigned memtype)
{
    ttm_proc_stats ps = proc_stats(reg, pid);
    const ttm_proc_mem *pm = proc_dev(&ps, dev);
    return pm ? pm->mem[memtype].live_bytes : 0;
}

/* The single offender entry of class cls at (dev, addr); fails when absent. */
static inline ttm_offender offender_at(const ttm_registry *reg, ttm_class cls, uint16_t dev,
                                       uint64_t addr)
{
    size_t n = ttm_registry_offenders(reg, cls, NULL, 0);
    ttm_offender *all = calloc(n ? n : 1, sizeof *all);
    assert_non_null(all);
    assert_int_equal(ttm_registry_offenders(reg, cls, all, n), n);
    ttm_offender out;
    memset(&out, 0, sizeof out);
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        if (all[i].device == dev && all[i].addr == addr) {
            out = all[i];
            found++;
        }
    }
    free(all);
    if (found != 1)
        fail_msg("%d offender entries of %s at device %u addr %#llx, expected 1", found,
                 ttm_class_name(cls), dev, (unsigned long long)addr);
    return out;
}

/* One live record, found by (pid, device, memtype, addr, obj). */
typedef struct util_find {
    uint32_t pid;
    uint16_t dev;
    uint8_t memtype;
    uint64_t addr, obj;
    int found;
    ttm_live rec;
} util_find;

static inline bool util_find_fn(const ttm_live *l, void *arg)
{
    util_find *f = arg;
    if (l->pid == f->pid && l->device == f->dev && l->memtype == f->memtype && l->addr == f->addr &&
        l->obj == f->obj) {
        f->rec = *l;
        f->found++;
    }
    return true;
}

/* Number of live records matching (pid, dev, memtype, addr, obj); *rec gets the last one. */
static inline int find_live(const ttm_registry *reg, uint32_t pid, uint16_t dev, unsigned memtype,
                            uint64_t addr, uint64_t obj, ttm_live *rec)
{
    util_find f = {.pid = pid, .dev = dev, .memtype = (uint8_t)memtype, .addr = addr, .obj = obj};
    ttm_registry_foreach_live(reg, util_find_fn, &f);
    if (rec && f.found)
        *rec = f.rec;
    return f.found;
}

/* Sums of the live records, for the invariants. */
typedef struct util_sum {
    uint64_t records;
    uint64_t bytes[UTIL_MAX_DEV][TTM_MEMTYPE_COUNT];
    uint64_t owning[UTIL_MAX_DEV][TTM_MEMTYPE_COUNT];
    bool bad;
} util_sum;

static inline bool util_sum_fn(const ttm_live *l, void *arg)
{
    util_sum *s = arg;
    s->records++;
    if (l->device >= UTIL_MAX_DEV || l->memtype >= TTM_MEMTYPE_COUNT || l->refs == 0) {
        s->bad = true;
        return true;
    }
    if (!(l->flags & TTM_FLAG_VIEW)) {
        s->bytes[l->device][l->memtype] += l->size;
        s->owning[l->device][l->memtype]++;
    }
    return true;
}

static inline bool util_is_primary(unsigned c)
{
    return c != TTM_CLASS_SIZE_MISMATCH && c != TTM_CLASS_AMBIGUOUS_FREE &&
           c != TTM_CLASS_MISSED_FREE && c != TTM_CLASS_LEAKED_AT_EXIT;
}

/*
 * The live records agree with the per-device statistics (bytes, owning counts, record count)
 * and per-device class counts add up to the totals (INVALID aside: an invalid event's device
 * field is not trusted). With primary, also checks that every ALLOC and FREE got exactly one
 * primary class; with procs, that the per-process statistics agree with the live records too
 * (when no process was dropped for a full table).
 */
static inline void check_consistency(const ttm_registry *reg, bool primary, bool procs_too)
{
    ttm_totals t = totals(reg);
    if (primary) {
        uint64_t sum = 0;
        for (unsigned c = 0; c < TTM_CLASS__COUNT; c++)
            if (util_is_primary(c))
                sum += t.class_count[c];
        assert_int_equal(sum, t.allocs + t.frees);
    }

    util_sum *s = calloc(1, sizeof *s);
    assert_non_null(s);
    ttm_registry_foreach_live(reg, util_sum_fn, s);
    assert_false(s->bad);
    assert_int_equal(s->records, t.live_records);

    size_t nd = ttm_registry_devices(reg, NULL, 0);
    ttm_device_stats *devs = calloc(nd ? nd : 1, sizeof *devs);
    assert_non_null(devs);
    assert_int_equal(ttm_registry_devices(reg, devs, nd), nd);
    uint64_t dev_class[TTM_CLASS__COUNT] = {0};
    uint64_t dev_bytes[UTIL_MAX_DEV][TTM_MEMTYPE_COUNT] = {{0}};
    for (size_t i = 0; i < nd; i++) {
        if (i > 0)
            assert_true(devs[i - 1].device < devs[i].device);
        for (unsigned c = 0; c < TTM_CLASS__COUNT; c++)
            dev_class[c] += devs[i].class_count[c];
        for (unsigned m = 0; m < TTM_MEMTYPE_COUNT; m++) {
            const ttm_memstat *ms = &devs[i].mem[m];
            assert_true(ms->peak_bytes >= ms->live_bytes);
            uint16_t d = devs[i].device;
            if (d < UTIL_MAX_DEV) {
                dev_bytes[d][m] = ms->live_bytes;
                assert_int_equal(ms->live_bytes, s->bytes[d][m]);
                assert_int_equal(ms->live_count, s->owning[d][m]);
            } else {
                assert_int_equal(ms->live_bytes, 0);
            }
        }
    }
    for (unsigned c = 0; c < TTM_CLASS__COUNT; c++)
        if (c != TTM_CLASS_INVALID)
            assert_int_equal(dev_class[c], t.class_count[c]);
    for (unsigned d = 0; d < UTIL_MAX_DEV; d++)
        for (unsigned m = 0; m < TTM_MEMTYPE_COUNT; m++)
            assert_int_equal(dev_bytes[d][m], s->bytes[d][m]);

    size_t np = ttm_registry_processes(reg, NULL, 0);
    ttm_proc_stats *procs = calloc(np ? np : 1, sizeof *procs);
    assert_non_null(procs);
    assert_int_equal(ttm_registry_processes(reg, procs, np), np);
    uint64_t proc_records = 0;
    uint64_t proc_bytes[UTIL_MAX_DEV][TTM_MEMTYPE_COUNT] = {{0}};
    for (size_t i = 0; i < np; i++) {
        if (i > 0)
            assert_true(procs[i - 1].pid < procs[i].pid);
        proc_records += procs[i].live_records;
        for (size_t j = 0; j < procs[i].ndevices; j++) {
            const ttm_proc_mem *pm = &procs[i].devices[j];
            for (unsigned m = 0; m < TTM_MEMTYPE_COUNT; m++)
                if (pm->device < UTIL_MAX_DEV)
                    proc_bytes[pm->device][m] += pm->mem[m].live_bytes;
        }
    }
    if (procs_too && t.processes_dropped == 0) {
        assert_int_equal(proc_records, t.live_records);
        for (unsigned d = 0; d < UTIL_MAX_DEV; d++)
            for (unsigned m = 0; m < TTM_MEMTYPE_COUNT; m++)
                assert_int_equal(proc_bytes[d][m], s->bytes[d][m]);
    }
    free(procs);
    free(devs);
    free(s);
}

static inline void check_invariants(const ttm_registry *reg)
{
    check_consistency(reg, true, true);
}

/* ---- a sequence of events of several processes ---------------------------------------- */

typedef struct pev {
    uint32_t pid;
    ttm_event ev;
} pev;

#define SEQ_MAX 2048

static inline size_t seq_add(pev *s, size_t n, uint32_t pid, ttm_event ev)
{
    assert_true(n < SEQ_MAX);
    s[n].pid = pid;
    s[n].ev = ev;
    return n + 1;
}

/* A sequence touching every path that allocates: devices, processes, records, views,
 * duplicates, overlaps, history, the freed set, offenders, leaks. */
static inline size_t build_sequence(pev *s)
{
    static const unsigned types[5] = {DRAM, L1, TRACE, CB, L1S};
    size_t n = 0;
    uint64_t ts = 1;
    ttm_event ev = util_event(TTM_EV_DEVICE_INFO, 0, 0, 0, 0, 0, 0, ts++);
    ev.dram_capacity = 12ull << 30;
    ev.l1_capacity = 64ull * 1499136;
    ev.arch = TTM_ARCH_WORMHOLE_B0;
    n = seq_add(s, n, 1, ev);
    n = seq_add(s, n, 1, util_event(TTM_EV_PROC_START, 0, 0, 0, 0, 0, 0, ts++));
    n = seq_add(s, n, 2, util_event(TTM_EV_PROC_START, 0, 0, 0, 0, 0, 0, ts++));
    ev = util_event(TTM_EV_MARK, 0, 0, 0, 0, 0, 0, ts++);
    strcpy(ev.mark, "phase");
    n = seq_add(s, n, 1, ev);
    for (unsigned i = 0; i < 300; i++)
        n = seq_add(s, n, 1,
                    util_event(TTM_EV_ALLOC, i % 3, types[i % 5], 0x1000ull * (i + 1),
                               64 * (i % 7 + 1), i + 1, 0, ts++));
    for (unsigned i = 0; i < 20; i++)
        n = seq_add(s, n, 1,
                    util_event(TTM_EV_ALLOC, i % 3, types[i % 5], 0x1000ull * (i + 1), 0, 1000 + i,
                               VIEW, ts++));
    n = seq_add(s, n, 1, util_event(TTM_EV_ALLOC, 0, DRAM, 0x1000, 64, 1, 0, ts++));
    n = seq_add(s, n, 1, util_event(TTM_EV_ALLOC, 2, DRAM, 0x6000, 64, 5000, 0, ts++));
    for (unsigned i = 0; i < 60; i++)
        n = seq_add(
            s, n, 2,
            util_event(TTM_EV_ALLOC, 0, DRAM, 0x800000ull + 0x1000ull * i, 128, 0, 0, ts++));
    n = seq_add(s, n, 2, util_event(TTM_EV_ALLOC, 1, L1, 0xb000, 64, 77, 0, ts++));
    for (unsigned i = 0; i < 300; i += 2) {
        unsigned t = i % 4 == 0 ? ANY : types[i % 5];
        uint64_t size = i % 10 == 0 ? 1 : 64 * (i % 7 + 1);
        n = seq_add(s, n, 1,
                    util_event(TTM_EV_FREE, i % 3, t, 0x1000ull * (i + 1), size, i + 1, 0, ts++));
    }
    for (unsigned i = 0; i < 20; i++)
        n = seq_add(s, n, 1,
                    util_event(TTM_EV_FREE, i % 3, types[i % 5], 0x1000ull * (i + 1), 0, 1000 + i,
                               VIEW, ts++));
    for (unsigned i = 0; i < 10; i++) {
        n = seq_add(s, n, 1, util_event(TTM_EV_FREE, 0, DRAM, 0x1000, 0, 3, 0, ts++));
        n = seq_add(s, n, 1,
                    util_event(TTM_EV_FREE, 3, DRAM, 0xdead000ull + 0x1000ull * i, 0, 0, 0, ts++));
    }
    for (unsigned i = 0; i < 60; i += 2)
        n = seq_add(s, n, 2,
                    util_event(TTM_EV_FREE, 0, DRAM, 0x800000ull + 0x1000ull * i, 128, 0, 0, ts++));
    for (unsigned i = 0; i < 20; i++)
        n = seq_add(s, n, 2, util_event(TTM_EV_FREE, 0, DRAM, 0x800000ull, 0, 0, 0, ts++));
    n = seq_add(s, n, 2, util_event(TTM_EV_FREE, 1, L1, 0x2000, 0, 0, 0, ts++));
    n = seq_add(s, n, 1, util_event(TTM_EV_ALLOC, 0, 9, 0x1000, 64, 0, 0, ts++));
    n = seq_add(s, n, 2, util_event(TTM_EV_PROC_EXIT, 0, 0, 0, 0, 0, 0, ts++));
    n = seq_add(s, n, 3, util_event(TTM_EV_ALLOC, 4, SYS, 0x1000, 4096, 0, 0, ts++));
    return n;
}

#endif /* TTM_TESTS_REGISTRY_UTIL_H */
