/*
 * test_causes.c — unit tests of the attribution of unmatched frees to causes (core/causes.h,
 * docs/CLASSIFICATION.md "Causes of unmatched frees"), from hand-built address-only streams whose
 * causes are known by construction: mesh bursts with the per-device frees before, after and
 * around the backing free on 2, 8 and 32 devices; double releases; storms with their period and
 * regularity; pre-tracking frees; unexplained ones; duplicate allocations in a mesh allocation
 * burst; a provisional cause moved by later events; the per-address bound; persistence (a
 * registry saved and loaded at any point of a stream ends with the causes of one fed the whole
 * stream); and that the clock is the count of events, never the time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "registry_util.h"

/* ---- streams -------------------------------------------------------------------------------- */

typedef struct sev {
    uint32_t pid;
    ttm_event ev;
} sev;

typedef struct stream {
    sev *v;
    size_t n, cap;
    uint64_t ts;   /* the next event's time */
    uint64_t step; /* added to ts per event */
} stream;

static stream stream_new(void)
{
    return (stream){.ts = 1000, .step = 100};
}

static void push(stream *s, uint32_t pid, uint8_t kind, uint16_t dev, unsigned memtype,
                 uint64_t addr, unsigned flags)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 256;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        assert_non_null(s->v);
    }
    s->v[s->n++] = (sev){pid, util_event(kind, dev, memtype, addr, 4096, 0, flags, s->ts)};
    s->ts += s->step;
}

static void s_alloc(stream *s, uint32_t pid, uint16_t dev, uint64_t addr)
{
    push(s, pid, TTM_EV_ALLOC, dev, DRAM, addr, 0);
}

static void s_free(stream *s, uint32_t pid, uint16_t dev, uint64_t addr)
{
    push(s, pid, TTM_EV_FREE, dev, DRAM, addr, 0);
}

/* A buffer at (dev, addr) allocated and released. */
static void s_released(stream *s, uint32_t pid, uint16_t dev, uint64_t addr)
{
    s_alloc(s, pid, dev, addr);
    s_free(s, pid, dev, addr);
}

/* n events that are no finding: allocations and frees of fresh addresses on device dev */
static void s_filler(stream *s, uint32_t pid, uint16_t dev, unsigned n)
{
    static uint64_t next = 0x40000000;
    for (unsigned i = 0; i + 1 < n; i += 2, next += 0x1000) {
        s_released(s, pid, dev, next);
    }
    if (n % 2) {
        s_alloc(s, pid, dev, next);
        next += 0x1000;
    }
}

static void feed(ttm_registry *reg, const stream *s, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        ttm_registry_apply(reg, s->v[i].pid, &s->v[i].ev);
}

static ttm_registry *fed(const stream *s, const ttm_registry_config *cfg)
{
    ttm_registry *reg = open_reg(cfg);
    feed(reg, s, 0, s->n);
    return reg;
}

typedef struct causes {
    ttm_cause_stats c[TTM_CAUSE__COUNT];
    ttm_causes_info info;
} causes;

static causes get_causes(const ttm_registry *reg)
{
    causes out;
    ttm_registry_causes(reg, out.c, &out.info);
    return out;
}

#define MESH TTM_CAUSE_MESH_MULTIPLICITY
#define DREL TTM_CAUSE_DOUBLE_RELEASE
#define STORM TTM_CAUSE_EXCESS_STORM
#define PRE TTM_CAUSE_PRE_TRACKING
#define UNEX TTM_CAUSE_UNEXPLAINED

/* The unmatched frees the registry counted are exactly the frees attributed. */
static void check_sum(const ttm_registry *reg, const causes *k)
{
    ttm_totals t = totals(reg);
    uint64_t frees = 0, allocs = 0;
    for (unsigned c = 0; c < TTM_CAUSE__COUNT; c++) {
        frees += k->c[c].frees;
        allocs += k->c[c].allocs;
        assert_true(k->c[c].pending <= k->c[c].frees + k->c[c].allocs);
        assert_true(k->c[c].ambiguous <= k->c[c].frees);
        assert_int_equal(k->c[c].cause, c);
    }
    assert_int_equal(frees, t.class_count[TTM_CLASS_EXCESS_FREE] +
                                t.class_count[TTM_CLASS_UNKNOWN_FREE]);
    assert_int_equal(allocs, t.class_count[TTM_CLASS_DUPLICATE_ALLOC]);
    assert_int_equal(k->info.attributed, frees + allocs);
}

/* The causes of a registry fed the whole of s (checked to sum up to its unmatched frees); s is
 * freed. */
static causes run(stream *s, const ttm_registry_config *cfg)
{
    ttm_registry *reg = fed(s, cfg);
    causes k = get_causes(reg);
    check_sum(reg, &k);
    ttm_registry_close(reg);
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
    return k;
}

static void expect(const causes *k, unsigned cause, uint64_t frees)
{
    if (k->c[cause].frees != frees)
        fail_msg("%s: %llu frees, expected %llu", ttm_cause_name(cause),
                 (unsigned long long)k->c[cause].frees, (unsigned long long)frees);
}

/* Every field a report shows is the same in a and b. */
static void assert_same_causes(const causes *a, const causes *b)
{
    for (unsigned c = 0; c < TTM_CAUSE__COUNT; c++) {
        const ttm_cause_stats *x = &a->c[c], *y = &b->c[c];
        assert_int_equal(x->frees, y->frees);
        assert_int_equal(x->allocs, y->allocs);
        assert_int_equal(x->pending, y->pending);
        assert_int_equal(x->ambiguous, y->ambiguous);
        assert_int_equal(x->addrs, y->addrs);
        assert_int_equal(x->groups, y->groups);
        assert_int_equal(x->first_ts, y->first_ts);
        assert_int_equal(x->last_ts, y->last_ts);
        assert_int_equal(x->mesh_devices, y->mesh_devices);
        assert_int_equal(x->frees_per_group, y->frees_per_group);
        assert_int_equal(x->npids, y->npids);
        assert_int_equal(x->ninstances, y->ninstances);
        for (size_t i = 0; i < x->ninstances; i++) {
            const ttm_cause_instance *p = &x->instances[i], *q = &y->instances[i];
            assert_int_equal(p->device, q->device);
            assert_int_equal(p->addr, q->addr);
            assert_int_equal(p->memtype, q->memtype);
            assert_int_equal(p->addr_dec, q->addr_dec);
            assert_int_equal(p->frees, q->frees);
            assert_int_equal(p->allocs, q->allocs);
            assert_int_equal(p->first_ts, q->first_ts);
            assert_int_equal(p->last_ts, q->last_ts);
            assert_int_equal(p->period_ns, q->period_ns);
            assert_int_equal(p->period_events, q->period_events);
            assert_int_equal(p->regular, q->regular);
            assert_int_equal(p->npids, q->npids);
        }
    }
    assert_int_equal(a->info.attributed, b->info.attributed);
    assert_int_equal(a->info.pending, b->info.pending);
    assert_int_equal(a->info.window_events, b->info.window_events);
    assert_int_equal(a->info.devices, b->info.devices);
    assert_int_equal(a->info.keys, b->info.keys);
    assert_int_equal(a->info.dropped, b->info.dropped);
}

/* ---- mesh multiplicity ---------------------------------------------------------------------- */

enum { ORDER_AFTER, ORDER_BEFORE, ORDER_AROUND };

/* A MeshBuffer at addr on devices 0..ndev-1 as the prototype's client reports it: the backing
 * buffer allocated on device 0 only; at its end one free per device and the backing free, the
 * per-device frees of the other devices before, after or around the backing one (device 0's
 * two frees look alike: the first matches, the second is the stray). */
static void mesh_buffer(stream *s, uint32_t pid, unsigned ndev, uint64_t addr, unsigned order)
{
    s_alloc(s, pid, 0, addr);
    s_filler(s, pid, 0, 5);
    unsigned before = order == ORDER_AFTER ? 0 : order == ORDER_BEFORE ? ndev - 1 : (ndev - 1) / 2;
    /* the other devices in a scrambled order: 5 is prime to ndev - 1 for 2, 4, 8 and 32 */
    unsigned perm[64];
    for (unsigned i = 0; i + 1 < ndev; i++)
        perm[i] = 1 + (i * 5u) % (ndev - 1);
    for (unsigned i = 0; i < before; i++)
        s_free(s, pid, (uint16_t)perm[ndev - 2 - i], addr);
    s_free(s, pid, 0, addr); /* the backing free: matches */
    s_free(s, pid, 0, addr); /* device 0's own: a stray */
    for (unsigned i = before; i + 1 < ndev; i++)
        s_free(s, pid, (uint16_t)perm[ndev - 2 - i], addr);
}

static void check_mesh(unsigned ndev, unsigned order)
{
    stream s = stream_new();
    const unsigned nbuf = 5;
    for (unsigned b = 0; b < nbuf; b++) {
        mesh_buffer(&s, 7, ndev, 0x10000000 + b * 0x100000ull, order);
        s_filler(&s, 7, 0, 3);
    }
    /* the first MeshBuffer's address again (address reuse) */
    mesh_buffer(&s, 7, ndev, 0x10000000, order);
    ttm_registry *reg = fed(&s, NULL);
    causes k = get_causes(reg);
    check_sum(reg, &k);
    expect(&k, MESH, (nbuf + 1) * ndev);
    expect(&k, DREL, 0);
    expect(&k, STORM, 0);
    expect(&k, PRE, 0);
    expect(&k, UNEX, 0);
    const ttm_cause_stats *m = &k.c[MESH];
    assert_int_equal(m->groups, nbuf + 1);
    assert_int_equal(m->mesh_devices, ndev);
    assert_int_equal(m->frees_per_group, ndev);
    assert_int_equal(m->pending, 0); /* a burst with frees on other devices is final */
    assert_int_equal(m->ambiguous, 0);
    assert_int_equal(m->addrs, nbuf * ndev);
    assert_int_equal(m->npids, 1);
    assert_int_equal(m->pids[0], 7);
    assert_int_equal(m->ninstances, TTM_CAUSE_INSTANCES);
    /* the reused address has two frees on each device */
    assert_int_equal(m->instances[0].addr, 0x10000000);
    assert_int_equal(m->instances[0].frees, 2);
    assert_int_equal(k.info.devices, ndev);
    assert_int_equal(k.info.window_events, 4 * ndev + 16 > 2 * ndev ? 4 * ndev + 16 : 2 * ndev);
    ttm_registry_close(reg);
    free(s.v);
}

static void test_mesh_2(void **state)
{
    (void)state;
    for (unsigned o = ORDER_AFTER; o <= ORDER_AROUND; o++)
        check_mesh(2, o);
}

static void test_mesh_8(void **state)
{
    (void)state;
    for (unsigned o = ORDER_AFTER; o <= ORDER_AROUND; o++)
        check_mesh(8, o);
}

static void test_mesh_32(void **state)
{
    (void)state;
    for (unsigned o = ORDER_AFTER; o <= ORDER_AROUND; o++)
        check_mesh(32, o);
}

/* Strays of another process, or beyond the window, are not part of a burst. */
static void test_mesh_needs_pid_and_window(void **state)
{
    (void)state;
    stream s = stream_new();
    s_alloc(&s, 7, 1, 0x5000000); /* devices 0..1 seen */
    s_free(&s, 7, 1, 0x5000000);
    s_alloc(&s, 7, 0, A);
    s_free(&s, 7, 0, A);          /* the release */
    s_free(&s, 8, 1, A);          /* another process: pre_tracking */
    s_filler(&s, 7, 0, 200);      /* far beyond the window */
    s_free(&s, 7, 1, A);          /* too late: pre_tracking */
    causes k = run(&s, NULL);
    expect(&k, MESH, 0);
    expect(&k, PRE, 2);
}

/* A stray and a release of one process with an allocation of it at the address between them
 * are of two buffers: no burst. */
static void test_mesh_other_buffer(void **state)
{
    (void)state;
    stream s = stream_new();
    /* a one-device buffer at (1, A) released, then a MeshBuffer at A whose per-device free on
     * device 1 comes before its backing free: that free is the MeshBuffer's */
    s_released(&s, 7, 1, A);
    s_alloc(&s, 7, 0, A);
    s_free(&s, 7, 1, A);
    s_free(&s, 7, 0, A);
    s_free(&s, 7, 0, A);
    s_filler(&s, 7, 0, 100);
    /* frees of a buffer allocated before tracking on three devices, then a one-device buffer
     * allocated and released at the address: not its burst */
    for (uint16_t d = 1; d < 4; d++)
        s_free(&s, 7, d, A2);
    s_released(&s, 7, 0, A2);
    s_filler(&s, 7, 0, 100);
    /* a duplicate allocation after the buffer on the other device was allocated and freed */
    s_released(&s, 7, 1, A3);
    s_alloc(&s, 7, 0, A3);
    s_alloc(&s, 7, 0, A3);
    s_filler(&s, 7, 0, 100);
    causes k = run(&s, NULL);
    expect(&k, MESH, 2);
    expect(&k, DREL, 0);
    expect(&k, PRE, 3);
    assert_int_equal(k.c[MESH].groups, 1);
    assert_int_equal(k.c[MESH].allocs, 0);
    assert_int_equal(k.c[UNEX].allocs, 1);
}

/* ---- double release, unexplained, pre-tracking ---------------------------------------------- */

static void test_double_release(void **state)
{
    (void)state;
    stream s = stream_new();
    /* right after its release, within the burst window: a 1-device burst, ambiguous */
    s_released(&s, 3, 0, A);
    s_free(&s, 3, 0, A);
    s_filler(&s, 3, 0, 100);
    /* beyond the burst window, within 4096 events: a double release, not ambiguous */
    s_released(&s, 3, 0, A2);
    s_filler(&s, 3, 0, 100);
    s_free(&s, 3, 0, A2);
    /* a second stray after the first: unexplained */
    s_filler(&s, 3, 0, 100);
    s_free(&s, 3, 0, A2);
    /* beyond 4096 events of its release: unexplained */
    s_released(&s, 3, 0, A3);
    s_filler(&s, 3, 0, 4200);
    s_free(&s, 3, 0, A3);
    /* another process frees a released address: unexplained */
    s_released(&s, 3, 0, 0x400000);
    s_free(&s, 4, 0, 0x400000);
    s_filler(&s, 3, 0, 100);
    causes k = run(&s, NULL);
    expect(&k, DREL, 2);
    expect(&k, UNEX, 3);
    expect(&k, MESH, 0);
    assert_int_equal(k.c[DREL].ambiguous, 1);
    assert_int_equal(k.c[DREL].addrs, 2);
    assert_int_equal(k.c[DREL].pending, 0);
    assert_int_equal(k.c[UNEX].npids, 2);
}

static void test_pre_tracking(void **state)
{
    (void)state;
    stream s = stream_new();
    s_alloc(&s, 3, 1, 0x9000000); /* two devices seen */
    for (unsigned i = 0; i < 6; i++) {
        s_free(&s, 3, 0, 0x800000 + i * 0x1000ull);
        s_filler(&s, 3, 0, 3);
    }
    /* the same address on both devices by one process, no release: still pre-tracking (a
     * burst needs the release of a buffer that was reported) */
    s_free(&s, 3, 0, 0x900000);
    s_free(&s, 3, 1, 0x900000);
    s_filler(&s, 3, 0, 100);
    ttm_registry *reg = fed(&s, NULL);
    causes k = get_causes(reg);
    check_sum(reg, &k);
    expect(&k, PRE, 8);
    assert_int_equal(k.c[PRE].addrs, 8);
    assert_int_equal(class_count(reg, TTM_CLASS_UNKNOWN_FREE), 8);
    ttm_registry_close(reg);
    free(s.v);
}

/* ---- storms ------------------------------------------------------------------------------- */

/* An address allocated and released once, then freed n more times, one stray every
 * (gap + 1) events; times spaced by ns_of(i). */
static void storm(stream *s, uint32_t pid, uint16_t dev, uint64_t addr, unsigned n, unsigned gap,
                  uint64_t (*ns_of)(unsigned))
{
    s_released(s, pid, dev, addr);
    for (unsigned i = 0; i < n; i++) {
        s_filler(s, pid, dev, gap);
        s->ts += ns_of(i) - s->step * (gap + 1);
        s_free(s, pid, dev, addr);
    }
}

static uint64_t regular_ns(unsigned i)
{
    (void)i;
    return 2100000; /* 2.1 ms */
}

static uint64_t irregular_ns(unsigned i)
{
    return i % 3 == 0 ? 9000000 : 100000;
}

static void test_storm(void **state)
{
    (void)state;
    stream s = stream_new();
    storm(&s, 2604, 1, 0x2000000, 1100, 3, regular_ns);
    storm(&s, 2605, 0, 0x3000000, 40, 3, irregular_ns);
    /* 15 strays at an address: short of a storm */
    storm(&s, 2604, 0, 0x4000000, 15, 3, regular_ns);
    s_filler(&s, 1, 0, 100);
    ttm_registry *reg = fed(&s, NULL);
    causes k = get_causes(reg);
    check_sum(reg, &k);
    expect(&k, STORM, 1140);
    /* the third address: its first stray a double release, the rest unexplained */
    expect(&k, DREL, 1);
    expect(&k, UNEX, 14);
    assert_int_equal(k.c[DREL].ambiguous, 1); /* right after its release */
    const ttm_cause_stats *st = &k.c[STORM];
    assert_int_equal(st->groups, 2);
    assert_int_equal(st->addrs, 2);
    assert_int_equal(st->ambiguous, 0);
    assert_int_equal(st->ninstances, 2);
    const ttm_cause_instance *a = &st->instances[0], *b = &st->instances[1];
    assert_int_equal(a->device, 1);
    assert_int_equal(a->addr, 0x2000000);
    assert_int_equal(a->frees, 1100);
    assert_int_equal(a->allocs, 1); /* its one allocation, before its first stray */
    assert_int_equal(a->period_ns, 2100000);
    assert_int_equal(a->period_events, 4);
    assert_true(a->regular);
    assert_int_equal(a->npids, 1);
    assert_int_equal(a->pids[0], 2604);
    assert_int_equal(a->last_ts - a->first_ts, 1099ull * 2100000);
    assert_int_equal(b->frees, 40);
    assert_false(b->regular);
    assert_int_equal(b->period_events, 4);
    ttm_registry_close(reg);
    free(s.v);
}

/* ---- duplicate allocations ------------------------------------------------------------------ */

static void test_duplicate_alloc(void **state)
{
    (void)state;
    stream s = stream_new();
    /* a mesh allocation burst: the address on 4 devices, device 0 twice */
    for (uint16_t d = 0; d < 4; d++)
        s_alloc(&s, 5, d, A);
    s_alloc(&s, 5, 0, A);
    s_filler(&s, 5, 0, 100);
    /* alone on one device: unexplained */
    s_alloc(&s, 5, 2, A2);
    s_alloc(&s, 5, 2, A2);
    s_filler(&s, 5, 0, 100);
    causes k = run(&s, NULL);
    assert_int_equal(k.c[MESH].allocs, 1);
    assert_int_equal(k.c[UNEX].allocs, 1);
    assert_int_equal(k.c[MESH].frees + k.c[UNEX].frees, 0);
}

/* ---- provisional causes --------------------------------------------------------------------- */

static void test_provisional_then_moved(void **state)
{
    (void)state;
    ttm_registry *reg = open_reg(NULL);
    alloc(reg, 9, 1, DRAM, 0x7000000, 64, 0, 0, 1); /* devices 0..1 */
    alloc(reg, 9, 0, DRAM, A, 64, 0, 0, 2);
    dealloc(reg, 9, 0, DRAM, A, 64, 0, 0, 3);
    dealloc(reg, 9, 0, DRAM, A, 64, 0, 0, 4);
    /* as it stands: a double release (could be a 1-device mesh), provisional */
    causes k = get_causes(reg);
    expect(&k, DREL, 1);
    assert_int_equal(k.c[DREL].pending, 1);
    assert_int_equal(k.c[DREL].ambiguous, 1);
    assert_int_equal(k.info.pending, 1);
    /* the other device's free arrives: both are the mesh's, final */
    dealloc(reg, 9, 1, DRAM, A, 64, 0, 0, 5);
    k = get_causes(reg);
    expect(&k, DREL, 0);
    expect(&k, MESH, 2);
    assert_int_equal(k.c[MESH].pending, 0);
    assert_int_equal(k.c[MESH].groups, 1);
    assert_int_equal(k.info.pending, 0);

    /* an address freed again and again: unexplained until the 16th stray, then all storm */
    alloc(reg, 9, 0, DRAM, A2, 64, 0, 0, 10);
    dealloc(reg, 9, 0, DRAM, A2, 64, 0, 0, 11);
    uint64_t ts = 12;
    for (unsigned i = 0; i < 15; i++) {
        for (unsigned f = 0; f < 30; f++, ts++) /* past the window each time */
            alloc(reg, 9, 0, DRAM, 0x8000000 + (ts << 12), 64, 0, 0, ts);
        dealloc(reg, 9, 0, DRAM, A2, 64, 0, 0, ts++);
    }
    k = get_causes(reg);
    expect(&k, STORM, 0);
    expect(&k, DREL, 1);
    expect(&k, UNEX, 14);
    dealloc(reg, 9, 0, DRAM, A2, 64, 0, 0, ts++);
    k = get_causes(reg);
    expect(&k, STORM, 16);
    expect(&k, DREL, 0);
    expect(&k, UNEX, 0);
    /* the 15th and 16th are still inside their window (no event came after the 15th but
     * the 16th) */
    assert_int_equal(k.c[STORM].pending, 2);
    assert_int_equal(k.c[DREL].ambiguous, 0);
    /* its process exits: nothing of it can change any more */
    ttm_registry_process_exit(reg, 9, ts++);
    k = get_causes(reg);
    assert_int_equal(k.info.pending, 0);
    expect(&k, STORM, 16);
    check_sum(reg, &k);
    ttm_registry_close(reg);
}

/* ---- bounds --------------------------------------------------------------------------------- */

static void test_key_bound(void **state)
{
    (void)state;
    ttm_registry_config cfg = {.max_cause_keys = 4};
    stream s = stream_new();
    for (unsigned i = 0; i < 10; i++)
        s_free(&s, 3, 0, 0x800000 + i * 0x1000ull);
    /* a storm at an address that found no room: counted, without its history */
    s_released(&s, 3, 0, A);
    for (unsigned i = 0; i < 20; i++) {
        s_filler(&s, 3, 0, 30);
        s_free(&s, 3, 0, A);
    }
    ttm_registry *reg = fed(&s, &cfg);
    causes k = get_causes(reg);
    check_sum(reg, &k);
    assert_int_equal(k.info.keys, 4);
    assert_int_equal(k.info.keys_max, 4);
    assert_int_equal(k.info.dropped, 6 + 20);
    expect(&k, PRE, 10);
    assert_int_equal(k.c[PRE].addrs, 4);
    expect(&k, STORM, 0);
    expect(&k, DREL, 1);
    expect(&k, UNEX, 19);
    ttm_registry_close(reg);

    /* with the default bound the storm is one */
    reg = fed(&s, NULL);
    k = get_causes(reg);
    expect(&k, STORM, 20);
    assert_int_equal(k.info.dropped, 0);
    assert_int_equal(k.info.keys_max, 65536);
    ttm_registry_close(reg);
    free(s.v);
}

/* ---- off, flags, clock ---------------------------------------------------------------------- */

/* A stream with every cause, several processes, devices and reused addresses. */
static stream mixed(void)
{
    stream s = stream_new();
    for (unsigned b = 0; b < 6; b++) {
        mesh_buffer(&s, 11, 8, 0x10000000 + (b % 3) * 0x100000ull, b % 3);
        s_filler(&s, 12, 2, 3);
    }
    storm(&s, 12, 1, 0x2000000, 30, 2, regular_ns);
    s_filler(&s, 12, 2, 60); /* past the window: the storm's strays final */
    s_released(&s, 13, 0, A);
    s_free(&s, 13, 0, A);
    s_free(&s, 13, 3, 0x6000000);
    s_alloc(&s, 13, 3, A2);
    s_alloc(&s, 13, 3, A2);
    for (unsigned b = 0; b < 3; b++) {
        mesh_buffer(&s, 11, 4, 0x20000000 + b * 0x100000ull, ORDER_AROUND);
        s_free(&s, 14, 5, 0x30000000 + b * 0x1000ull);
    }
    return s;
}

static void test_no_causes(void **state)
{
    (void)state;
    stream s = mixed();
    ttm_registry_config off = {.no_causes = true};
    ttm_registry *a = open_reg(NULL), *b = open_reg(&off);
    for (size_t i = 0; i < s.n; i++)
        assert_int_equal(ttm_registry_apply(a, s.v[i].pid, &s.v[i].ev),
                         ttm_registry_apply(b, s.v[i].pid, &s.v[i].ev));
    causes ka = get_causes(a), kb = get_causes(b);
    check_sum(a, &ka);
    assert_true(ka.info.enabled);
    assert_false(kb.info.enabled);
    assert_int_equal(kb.info.attributed, 0);
    for (unsigned c = 0; c < TTM_CAUSE__COUNT; c++)
        assert_int_equal(kb.c[c].frees + kb.c[c].allocs, 0);
    assert_true(ka.c[MESH].frees > 0 && ka.c[STORM].frees > 0 && ka.c[DREL].frees > 0 &&
                ka.c[PRE].frees > 0 && ka.c[UNEX].allocs > 0);
    ttm_registry_close(a);
    ttm_registry_close(b);
    free(s.v);
}

static void test_addr_dec(void **state)
{
    ttm_registry *reg = *state;
    assert_int_equal(alloc(reg, 1, 0, DRAM, 328467008, 64, 0, TTM__FLAG_ADDR_DEC, 1), B(ALLOC_OK));
    assert_int_equal(dealloc(reg, 1, 0, DRAM, 328467008, 64, 0, TTM__FLAG_ADDR_DEC, 2),
                     B(FREE_OK));
    assert_int_equal(dealloc(reg, 1, 0, DRAM, 328467008, 64, 0, TTM__FLAG_ADDR_DEC, 3),
                     B(EXCESS_FREE));
    assert_int_equal(dealloc(reg, 1, 0, DRAM, A, 64, 0, 0, 4), B(UNKNOWN_FREE));
    ttm_offender o = offender_at(reg, TTM_CLASS_EXCESS_FREE, 0, 328467008);
    assert_true(o.addr_dec);
    o = offender_at(reg, TTM_CLASS_UNKNOWN_FREE, 0, A);
    assert_false(o.addr_dec);
    causes k = get_causes(reg);
    assert_int_equal(k.c[DREL].ninstances, 1);
    assert_true(k.c[DREL].instances[0].addr_dec);
    assert_int_equal(k.c[PRE].ninstances, 1);
    assert_false(k.c[PRE].instances[0].addr_dec);
    /* the flag survives a save and load */
    uint8_t *buf;
    size_t len;
    assert_int_equal(ttm_registry_save(reg, NULL, 0, &buf, &len), TTM_OK);
    ttm_registry *b = NULL;
    const uint8_t *annex;
    size_t alen;
    char msg[200];
    assert_int_equal(ttm_registry_load(&b, NULL, buf, len, &annex, &alen, msg, sizeof msg),
                     TTM_OK);
    assert_true(offender_at(b, TTM_CLASS_EXCESS_FREE, 0, 328467008).addr_dec);
    causes kb = get_causes(b);
    assert_same_causes(&k, &kb);
    ttm_registry_close(b);
    ttm__free(buf);
}

/* The clock is the count of events: other times (all zero, or running backwards) give the same
 * causes. */
static void test_clock_not_time(void **state)
{
    (void)state;
    stream s = mixed();
    ttm_registry *a = fed(&s, NULL);
    for (size_t i = 0; i < s.n; i++)
        s.v[i].ev.ts = i % 2 ? 0 : (uint64_t)(s.n - i) * 7;
    ttm_registry *b = fed(&s, NULL);
    causes ka = get_causes(a), kb = get_causes(b);
    for (unsigned c = 0; c < TTM_CAUSE__COUNT; c++) {
        assert_int_equal(ka.c[c].frees, kb.c[c].frees);
        assert_int_equal(ka.c[c].allocs, kb.c[c].allocs);
        assert_int_equal(ka.c[c].addrs, kb.c[c].addrs);
        assert_int_equal(ka.c[c].groups, kb.c[c].groups);
        assert_int_equal(ka.c[c].ambiguous, kb.c[c].ambiguous);
    }
    ttm_registry_close(a);
    ttm_registry_close(b);
    free(s.v);
}

/* ---- persistence ---------------------------------------------------------------------------- */

static ttm_registry *reload(const ttm_registry *reg, const ttm_registry_config *cfg)
{
    uint8_t *buf;
    size_t len;
    assert_int_equal(ttm_registry_save(reg, NULL, 0, &buf, &len), TTM_OK);
    ttm_registry *b = NULL;
    const uint8_t *annex;
    size_t alen;
    char msg[200];
    int rc = ttm_registry_load(&b, cfg, buf, len, &annex, &alen, msg, sizeof msg);
    if (rc != TTM_OK)
        fail_msg("load: %s", msg);
    ttm__free(buf);
    return b;
}

static void test_save_load_keeps(void **state)
{
    (void)state;
    stream s = mixed();
    ttm_registry *a = fed(&s, NULL);
    ttm_registry *b = reload(a, NULL);
    causes ka = get_causes(a), kb = get_causes(b);
    assert_same_causes(&ka, &kb);
    /* a loader without attribution skips it; one with it reads a state written without it
     * as empty */
    ttm_registry_config off = {.no_causes = true};
    ttm_registry *c = reload(a, &off);
    causes kc = get_causes(c);
    assert_false(kc.info.enabled);
    ttm_registry *d = reload(c, NULL);
    causes kd = get_causes(d);
    assert_true(kd.info.enabled);
    assert_int_equal(kd.info.attributed, 0);
    ttm_registry_close(a);
    ttm_registry_close(b);
    ttm_registry_close(c);
    ttm_registry_close(d);
    free(s.v);
}

/* Saved and loaded at any point of the stream, then fed the rest: the causes of a registry fed
 * it whole, every field. */
static void test_save_load_midstream(void **state)
{
    (void)state;
    stream s = mixed();
    ttm_registry *whole = fed(&s, NULL);
    causes kw = get_causes(whole);
    check_sum(whole, &kw);

    for (size_t cut = 0; cut <= s.n; cut += 3) {
        ttm_registry *a = open_reg(NULL);
        feed(a, &s, 0, cut);
        ttm_registry *b = reload(a, NULL);
        causes ka = get_causes(a), kb = get_causes(b);
        assert_same_causes(&ka, &kb);
        feed(b, &s, cut, s.n);
        kb = get_causes(b);
        assert_same_causes(&kw, &kb);
        ttm_registry_close(a);
        ttm_registry_close(b);
    }
    ttm_registry_close(whole);
    free(s.v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mesh_2),
        cmocka_unit_test(test_mesh_8),
        cmocka_unit_test(test_mesh_32),
        cmocka_unit_test(test_mesh_needs_pid_and_window),
        cmocka_unit_test(test_mesh_other_buffer),
        cmocka_unit_test(test_double_release),
        cmocka_unit_test(test_pre_tracking),
        cmocka_unit_test(test_storm),
        cmocka_unit_test(test_duplicate_alloc),
        cmocka_unit_test(test_provisional_then_moved),
        cmocka_unit_test(test_key_bound),
        cmocka_unit_test(test_no_causes),
        cmocka_unit_test_setup_teardown(test_addr_dec, setup, teardown),
        cmocka_unit_test(test_clock_not_time),
        cmocka_unit_test(test_save_load_keeps),
        cmocka_unit_test(test_save_load_midstream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
