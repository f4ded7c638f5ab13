/*
 * test_replay.c — journals read back (core/replay.h): for every simulator scenario and client,
 * the replay's report equals the report of the registry that wrote the journal, its usage
 * callback ends at the registry's bytes in use, its peaks are the registry's own peaks, and the
 * buffer lives still open at the end are the registry's live records.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/bytes.h"
#include "common/journal.h"
#include "core/jtap.h"
#include "core/replay.h"
#include "core/report.h"
#include "sim/sim.h"
#include "ttmem/ttmem.h"

#define MT TTM_MEMTYPE_COUNT

static const ttm_report_options ropt = {
    .top = 10, .sections = TTM_REPORT_SECTIONS | TTM_SNAP_BIT(TTM_SNAP_SEC_STACKS)};

static void tap_event(void *arg, uint32_t pid, const ttm_event *ev)
{
    ttm_jtap_apply(arg, pid, ev);
}

/* The simulator's peaks with their live sets, copied. */
typedef struct peaks {
    size_t n;
    ttm_sim_peak_set p[TTM_SIM_MAX_PEAKS * 4];
} peaks;

static void on_peak(void *arg, const ttm_sim_peak_set *p)
{
    peaks *ps = arg;
    assert_true(ps->n < sizeof ps->p / sizeof ps->p[0]);
    ttm_sim_peak_set *c = &ps->p[ps->n++];
    *c = *p;
    ttm_sim_live *v = calloc(p->nlive ? p->nlive : 1, sizeof *v);
    assert_non_null(v);
    memcpy(v, p->live, p->nlive * sizeof *v);
    c->live = v;
}

static void peaks_free(peaks *ps)
{
    for (size_t i = 0; i < ps->n; i++)
        free((void *)ps->p[i].live);
    ps->n = 0;
}

/* Runs a scenario into a fresh registry through a journal at path (block_size small so that
 * the journal has many blocks); ps (may be NULL) gets its peaks. Returns the registry. */
static ttm_registry *write_journal(const char *scenario, ttm_sim_client client, const char *path,
                                   size_t block_size, peaks *ps)
{
    ttm_registry *reg = NULL;
    assert_int_equal(ttm_registry_open(&reg, NULL), TTM_OK);
    ttm_journal_writer *w = NULL;
    ttm_journal_opts o = {.block_size = block_size, .host = "hostA", .run_id = 7};
    assert_int_equal(ttm_journal_writer_open(path, -1, &o, &w), TTM_OK);
    ttm_jtap tap;
    assert_int_equal(ttm_jtap_open(&tap, reg, w, NULL, 0), TTM_OK);
    const char title[] = "simulate test";
    assert_int_equal(ttm_jtap_chunk(&tap, TTM_JOURNAL_CHUNK_RUN, 0, title, strlen(title)),
                     TTM_OK);
    peaks none = {0};
    assert_int_equal(ttm_sim_run_peaks(scenario, client, 1, ttm_registry_stacks(reg), tap_event,
                                       &tap, NULL, on_peak, ps != NULL ? ps : &none),
                     TTM_OK);
    peaks_free(&none);
    assert_int_equal(ttm_jtap_close(&tap), TTM_OK);
    assert_int_equal(ttm_journal_writer_close(w), TTM_OK);
    return reg;
}

static void encode(const ttm_report *r, ttm_bytes *out)
{
    out->len = 0;
    assert_int_equal(ttm_report_encode(r, out), TTM_OK);
}

/* What the observer saw. */
typedef struct seen {
    uint64_t use[4][MT]; /* devices 0..3 of the scenarios that matter here; more are summed */
    uint64_t use_other;
    uint64_t live_count[4][MT], live_bytes[4][MT];
    uint64_t lives, leaked;
    uint64_t events;
} seen;

static void on_usage(void *ctx, size_t run, uint64_t ts, uint16_t device, uint8_t memtype,
                     uint64_t bytes)
{
    (void)run;
    (void)ts;
    seen *s = ctx;
    if (device < 4)
        s->use[device][memtype] = bytes;
}

static void on_buffer(void *ctx, size_t run, const ttm_replay_buffer *b)
{
    (void)run;
    seen *s = ctx;
    s->lives++;
    s->leaked += b->leaked;
    if (b->free_ts == 0 && !(b->flags & TTM_FLAG_VIEW) && b->device < 4) {
        s->live_count[b->device][b->memtype]++;
        s->live_bytes[b->device][b->memtype] += b->size;
    }
}

static void on_event(void *ctx, size_t run, const ttm_journal_event *e, uint32_t mask,
                     const ttm_apply_info *info)
{
    (void)run;
    (void)e;
    (void)mask;
    (void)info;
    ((seen *)ctx)->events++;
}

/* ---- live at the peak ------------------------------------------------------------------ */

typedef struct live_at {
    uint16_t device;
    uint8_t memtype;
    ttm_sim_live v[1 << 16];
    size_t n;
} live_at;

static void on_live(void *ctx, size_t run, const ttm_replay_buffer *b)
{
    (void)run;
    live_at *l = ctx;
    if (b->free_ts != 0 || (b->flags & TTM_FLAG_VIEW) || b->device != l->device ||
        b->memtype != l->memtype)
        return;
    assert_true(l->n < sizeof l->v / sizeof l->v[0]);
    l->v[l->n++] = (ttm_sim_live){.pid = b->pid, .device = b->device, .memtype = b->memtype,
                                  .addr = b->addr, .size = b->size, .obj = b->obj};
}

static int sim_live_cmp(const void *a, const void *b)
{
    const ttm_sim_live *x = a, *y = b;
    if (x->addr != y->addr)
        return x->addr < y->addr ? -1 : 1;
    if (x->pid != y->pid)
        return x->pid < y->pid ? -1 : 1;
    if (x->obj != y->obj)
        return x->obj < y->obj ? -1 : 1;
    return x->size < y->size ? -1 : x->size > y->size;
}

/* Every peak of the simulator's model: the replay finds it at the same time with the same
 * bytes, and replayed to it, the buffers open there are the model's live set. */
static void check_peaks(ttm_replay *rp, const peaks *ps, const char *name)
{
    live_at *l = calloc(1, sizeof *l);
    assert_non_null(l);
    for (size_t i = 0; i < ps->n; i++) {
        const ttm_sim_peak_set *p = &ps->p[i];
        uint64_t ts, bytes, rec;
        if (ttm_replay_peak(rp, 0, p->device, p->memtype, &ts, &bytes, &rec) != TTM_OK)
            fail_msg("%s: no peak of device %u memtype %u in the replay; the model's is %llu B",
                     name, p->device, p->memtype, (unsigned long long)p->bytes);
        if (bytes != p->bytes || ts != p->ts)
            fail_msg("%s: peak of device %u memtype %u: %llu B at %llu, the model says %llu B "
                     "at %llu",
                     name, p->device, p->memtype, (unsigned long long)bytes,
                     (unsigned long long)ts, (unsigned long long)p->bytes,
                     (unsigned long long)p->ts);
        l->device = p->device;
        l->memtype = p->memtype;
        l->n = 0;
        ttm_replay_observer obs = {.ctx = l, .buffer = on_live};
        assert_int_equal(ttm_replay_run_to(rp, &obs, 0, rec), TTM_OK);
        ttm_sim_live *want = calloc(p->nlive ? p->nlive : 1, sizeof *want);
        memcpy(want, p->live, p->nlive * sizeof *want);
        qsort(want, p->nlive, sizeof *want, sim_live_cmp);
        qsort(l->v, l->n, sizeof l->v[0], sim_live_cmp);
        uint64_t sum = 0;
        for (size_t k = 0; k < l->n; k++)
            sum += l->v[k].size;
        assert_int_equal(sum, p->bytes);
        if (l->n != p->nlive || memcmp(want, l->v, l->n * sizeof *want) != 0)
            fail_msg("%s: device %u memtype %u: %zu buffers live at the peak, the model has %zu",
                     name, p->device, p->memtype, l->n, p->nlive);
        free(want);
    }
    free(l);
}

/* The replay of a whole scenario against the registry that wrote it. */
static void check_scenario(const char *name, ttm_sim_client client)
{
    char path[] = "/tmp/ttm_replay_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    peaks *ps = calloc(1, sizeof *ps);
    assert_non_null(ps);
    ttm_registry *reg = write_journal(name, client, path, 4096, ps);

    ttm_report want;
    assert_int_equal(ttm_report_fill(reg, &ropt, &want), TTM_OK);

    ttm_replay *rp = NULL;
    char msg[256];
    const char *paths[] = {path};
    assert_int_equal(ttm_replay_open(&rp, paths, 1, msg, sizeof msg), TTM_OK);
    assert_int_equal(ttm_replay_runs(rp), 1);
    seen s;
    memset(&s, 0, sizeof s);
    ttm_replay_observer obs = {.ctx = &s, .usage = on_usage, .buffer = on_buffer,
                               .event = on_event};
    assert_int_equal(ttm_replay_run(rp, &obs, UINT64_MAX), TTM_OK);
    ttm_replay_summary(rp, msg, sizeof msg);
    assert_string_equal(msg, "");
    assert_int_equal(ttm_replay_mismatches(rp), 0);
    assert_string_equal(ttm_replay_title(rp, 0), "simulate test");
    assert_string_equal(ttm_replay_host(rp, 0), "hostA");

    ttm_report got;
    assert_int_equal(ttm_replay_report(rp, &ropt, &got), TTM_OK);
    ttm_bytes a = {0}, b = {0};
    encode(&want, &a);
    encode(&got, &b);
    if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
        fail_msg("%s (%s): the replay's report differs from the writer's (%zu vs %zu bytes)",
                 name, client == TTM_SIM_LEGACY ? "legacy" : "identity", b.len, a.len);

    /* usage, peaks and live buffers against the registry's own statistics */
    ttm_totals t;
    ttm_registry_totals(reg, &t);
    assert_int_equal(s.events, t.allocs + t.frees);
    size_t nd = ttm_registry_devices(reg, NULL, 0);
    ttm_device_stats *devs = calloc(nd ? nd : 1, sizeof *devs);
    ttm_registry_devices(reg, devs, nd);
    for (size_t i = 0; i < nd; i++) {
        const ttm_device_stats *d = &devs[i];
        for (unsigned m = 0; m < MT; m++) {
            if (d->device < 4) {
                assert_int_equal(s.use[d->device][m], d->mem[m].live_bytes);
                assert_int_equal(s.live_bytes[d->device][m], d->mem[m].live_bytes);
                assert_int_equal(s.live_count[d->device][m], d->mem[m].live_count);
            }
            uint64_t ts, bytes, rec;
            int rc = ttm_replay_peak(rp, 0, d->device, (uint8_t)m, &ts, &bytes, &rec);
            if (d->mem[m].peak_bytes == 0) {
                assert_int_equal(rc, TTM_ENOENT);
            } else {
                assert_int_equal(rc, TTM_OK);
                assert_int_equal(bytes, d->mem[m].peak_bytes);
                assert_int_equal(ts, d->mem[m].peak_ts);
            }
        }
    }
    free(devs);
    assert_int_equal(s.leaked, t.class_count[TTM_CLASS_LEAKED_AT_EXIT]);
    check_peaks(rp, ps, name);
    peaks_free(ps);
    free(ps);

    ttm__bytes_free(&a);
    ttm__bytes_free(&b);
    ttm_report_clear(&want);
    ttm_report_clear(&got);
    ttm_replay_close(rp);
    ttm_registry_close(reg);
    unlink(path);
}

static void test_every_scenario(void **state)
{
    (void)state;
    size_t n = 0;
    const ttm_sim_scenario *sc = ttm_sim_scenarios(&n);
    for (size_t i = 0; i < n; i++) {
        check_scenario(sc[i].name, TTM_SIM_IDENTITY);
        check_scenario(sc[i].name, TTM_SIM_LEGACY);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_scenario),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
