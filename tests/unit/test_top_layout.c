/*
 * test_top_layout.c — `ttmem top` without a terminal: the model built from hand-made snapshots
 * and shared-memory regions, and the pure layout at 80x24, 200x60 and on a 32-device Galaxy;
 * sorting by every column, the device filter, the too-small, stale, nothing-to-monitor and N/A
 * states, colour thresholds at 75% and 90%, keys, history, scrolling and allocation failure;
 * and the key table: every key reaches its action, none is bound twice, every one is on the
 * help screen, and docs/TOP.md's key list is the table's.
 *
 * The model and layout live in the ttmem program (src/cli), not in a library, so their sources
 * (the layout's parts, the key table, the model) are compiled into this test directly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/top_budget.c"
#include "cli/top_devices.c"
#include "cli/top_diag.c"
#include "cli/top_draw.c"
#include "cli/top_header.c"
#include "cli/top_help.c"
#include "cli/top_history.c"
#include "cli/top_keys.c"
#include "cli/top_layout.c"
#include "cli/top_model.c"
#include "cli/top_proc.c"
#include "cli/top_procs.c"
#include "cli/top_sites.c"
#include "cli/sites.c"

#define GIB (1ull << 30)
#define MIB (1ull << 20)
#define SEC 1000000000ull

/* ---- building inputs ----------------------------------------------------------------------- */

/* A snapshot as the decoder would leave it (heap arrays), ndev wormhole devices and nproc
 * processes; process i holds (i + 1) MiB of DRAM on each of its devices, (nproc - i) KiB of L1,
 * i * 3 % 7 KiB of L1_SMALL, ... so that every column orders them differently. */
static ttm_report *make_snap(size_t ndev, size_t nproc, size_t devs_per_proc)
{
    ttm_report *s = ttm__xcalloc(1, sizeof *s);
    s->sections = TTM_SNAP_WANT_STATUS;
    snprintf(s->daemon.version, sizeof s->daemon.version, "0.1.0");
    s->daemon.pid = 777;
    s->daemon.uptime_ns = 3723 * SEC;
    s->daemon.clients_connected = (uint32_t)nproc;
    s->daemon.dropped = 5;
    s->totals.class_count[TTM_CLASS_UNKNOWN_FREE] = 11;
    s->totals.class_count[TTM_CLASS_DOUBLE_FREE] = 22;
    s->totals.class_count[TTM_CLASS_EXCESS_FREE] = 33;
    s->totals.class_count[TTM_CLASS_LEAKED_AT_EXIT] = 44;
    s->totals.class_bytes[TTM_CLASS_LEAKED_AT_EXIT] = 3 * MIB;
    s->totals.class_count[TTM_CLASS_FOREIGN_FREE] = 2;
    s->ndevices = ndev;
    s->devices = ttm__xcalloc(ndev ? ndev : 1, sizeof *s->devices);
    for (size_t d = 0; d < ndev; d++) {
        ttm_device_stats *sd = &s->devices[d];
        sd->device = (uint16_t)d;
        sd->arch = TTM_ARCH_WORMHOLE_B0;
        sd->capacity[TTM_SPACE_DRAM] = 12 * GIB;
        sd->capacity[TTM_SPACE_L1] = 64ull * 1499136;
        sd->class_count[TTM_CLASS_UNKNOWN_FREE] = d;
    }
    s->nprocs = nproc;
    s->procs = ttm__xcalloc(nproc ? nproc : 1, sizeof *s->procs);
    for (size_t i = 0; i < nproc; i++) {
        ttm_report_proc *p = &s->procs[i];
        p->stats.pid = (uint32_t)(1000 + i);
        snprintf(p->name, sizeof p->name, "proc%02u", (unsigned)((i * 7) % (nproc ? nproc : 1) % 100));
        p->stats.alive = p->connected = true;
        p->stats.anomalies = (i * 5) % 11;
        size_t nd = ndev == 0 ? 0 : devs_per_proc < ndev ? devs_per_proc : ndev;
        nd = nd > 1 ? nd - (i % 2) : nd; /* processes differ in their device count */
        p->stats.ndevices = nd;
        ttm_proc_mem *pms = ttm__xcalloc(nd ? nd : 1, sizeof *pms);
        p->stats.devices = pms;
        for (size_t k = 0; k < nd; k++) {
            ttm_proc_mem *pm = &pms[k];
            pm->device = (uint16_t)((i + k) % ndev);
            pm->mem[TTM_MEM_DRAM].live_bytes = (i + 1) * MIB;
            pm->mem[TTM_MEM_L1].live_bytes = (nproc - i) * 1024;
            pm->mem[TTM_MEM_L1_SMALL].live_bytes = (i * 3 % 7) * 1024;
            pm->mem[TTM_MEM_TRACE].live_bytes = (i * 5 % 13) * MIB;
            pm->mem[TTM_MEM_CB].live_bytes = (i * 11 % 17) * 1024;
            pm->mem[TTM_MEM_KERNEL].live_bytes = (i * 13 % 19) * 1024;
            ttm_device_stats *sd = &s->devices[pm->device];
            for (unsigned t = 0; t < TTM_MEMTYPE_COUNT; t++)
                sd->mem[t].live_bytes += pm->mem[t].live_bytes;
        }
    }
    for (size_t d = 0; d < ndev; d++) {
        ttm_device_stats *sd = &s->devices[d];
        sd->space_peak[TTM_SPACE_DRAM] = sd->mem[TTM_MEM_DRAM].live_bytes + 
                                         sd->mem[TTM_MEM_TRACE].live_bytes + MIB;
        sd->space_peak[TTM_SPACE_L1] = 2 * MIB;
    }
    return s;
}

/* Moves s into the model (and frees the shell). */
static void feed(ttm_top_model *m, ttm_report *s, const ttm_ttshm_region *r, size_t nr,
                 uint64_t now)
{
    assert_int_equal(ttm__top_model_ingest(m, s, s ? NULL : "cannot connect", r, nr, NULL, now),
                     TTM_OK);
    free(s);
}

static void model_with(ttm_top_model *m, size_t ndev, size_t nproc, size_t devs_per_proc)
{
    ttm__top_model_init(m, "testhost", "/run/ttmem/ttmemd.sock", "/dev/shm");
    feed(m, make_snap(ndev, nproc, devs_per_proc), NULL, 0, 100 * SEC);
}

/* A version-2 region with one process: counters only. */
static void make_region(ttm_ttshm_region *r, int32_t device, int32_t pid)
{
    memset(r, 0, sizeof *r);
    snprintf(r->path, sizeof r->path, "/dev/shm/tt_device_%d_memory", 9000 + device);
    r->id = (uint64_t)(9000 + device);
    r->state = TTM_TTSHM_OK;
    r->version = 2;
    r->device_id = device;
    r->total[TTM_TTSHM_DRAM] = 2 * GIB;
    r->total[TTM_TTSHM_L1] = 1 * MIB;
    r->total[TTM_TTSHM_TRACE] = 128 * MIB;
    r->nprocs = 1;
    r->procs[0].pid = pid;
    r->procs[0].alive = true;
    r->procs[0].bytes[TTM_TTSHM_DRAM] = 2 * GIB;
    r->procs[0].bytes[TTM_TTSHM_L1] = 1 * MIB;
    snprintf(r->procs[0].name, sizeof r->procs[0].name, "tt-metal-app");
}

/* ---- reading frames ------------------------------------------------------------------------ */

static int find_line(const ttm_top_frame *f, const char *needle)
{
    for (size_t i = 0; i < f->nlines; i++)
        if (strstr(ttm__top_frame_line(f, i), needle) != NULL)
            return (int)i;
    return -1;
}

static bool has(const ttm_top_frame *f, const char *needle)
{
    return find_line(f, needle) >= 0;
}

static void dump(const ttm_top_frame *f)
{
    for (size_t i = 0; i < f->nlines; i++)
        fprintf(stderr, "|%s|\n", ttm__top_frame_line(f, i));
}

/* Every line exactly width bytes, every span inside the frame. */
static void check_shape(const ttm_top_frame *f, int width, int height)
{
    if (height > 0 && !f->too_small)
        assert_int_equal(f->nlines, (size_t)height);
    for (size_t i = 0; i < f->nlines; i++)
        assert_int_equal(strlen(ttm__top_frame_line(f, i)), (size_t)width);
    for (size_t i = 0; i < f->nspans; i++) {
        const ttm_top_span *s = &f->spans[i];
        assert_true(s->line < f->nlines);
        assert_true(s->len > 0);
        assert_true(s->col + s->len <= width);
        assert_true((s->attr & TTM_TOP_A_MASK) < TTM_TOP_A__COUNT);
    }
}

/* The attribute of the span covering (line, col) last, or NORMAL. */
static unsigned attr_at(const ttm_top_frame *f, int line, int col)
{
    unsigned a = TTM_TOP_A_NORMAL;
    for (size_t i = 0; i < f->nspans; i++) {
        const ttm_top_span *s = &f->spans[i];
        if ((int)s->line == line && col >= s->col && col < s->col + s->len)
            a = s->attr;
    }
    return a;
}

static void layout(const ttm_top_model *m, const ttm_top_state *st, int w, int h,
                   ttm_top_frame *f)
{
    assert_int_equal(ttm__top_layout(m, st, w, h, f), TTM_OK);
    check_shape(f, w, h);
}

/* ---- tests --------------------------------------------------------------------------------- */

static void test_80x24(void **state)
{
    (void)state;
    ttm_top_model m;
    model_with(&m, 8, 5, 8);
    ttm_top_state st;
    ttm__top_state_init(&st, 1000);
    ttm_top_frame f = {0};
    layout(&m, &st, 80, 24, &f);
    assert_true(has(&f, "ttmem top"));
    assert_true(has(&f, "host testhost"));
    assert_true(has(&f, "ttmemd 0.1.0 pid 777 up 1h02m"));
    assert_true(has(&f, "refresh 1.0s"));
    assert_true(has(&f, "sources: ttmemd (5 clients) at /run/ttmem/ttmemd.sock"));
    assert_true(has(&f, "DEVICES 8"));
    for (int d = 0; d < 8; d++) {
        char want[32];
        snprintf(want, sizeof want, "%4d WH     DRAM [", d);
        assert_true(has(&f, want));
    }
    assert_true(has(&f, "PROCESSES 5"));
    for (int p = 0; p < 5; p++) {
        char want[16];
        snprintf(want, sizeof want, " %d ", 1000 + p);
        assert_true(has(&f, want));
    }
    assert_true(has(&f, "DIAG  unknown 11  double 22  excess 33  leaked 44 (3.00M)  dropped 5"));
    int last = (int)f.nlines - 1;
    assert_non_null(strstr(ttm__top_frame_line(&f, (size_t)last), "h help"));
    assert_non_null(strstr(ttm__top_frame_line(&f, (size_t)last), "q quit"));
    assert_int_equal(attr_at(&f, 0, 0), TTM_TOP_A_HEADER);
    /* the whole help fits the smallest terminal */
    st.help = true;
    layout(&m, &st, TTM_TOP_MIN_WIDTH, TTM_TOP_MIN_HEIGHT, &f);
    assert_int_equal(find_line(&f, "KEYS"), 2);
    assert_true(has(&f, "  STALE: ttmemd stopped answering; last frame kept, retrying"));
    assert_true(has(&f, "q quit"));
    ttm__top_frame_free(&f);
    ttm__top_model_free(&m);
}

static void test_200x60(void **state)
{
    (void)state;
    ttm_top_model m;
    model_with(&m, 32, 64, 8);
    ttm_top_state st;
    ttm__top_state_init(&st, 1000);
    ttm_top_frame f = {0};
    layout(&m, &st, 200, 60, &f);
    /* one line per device, all 32 visible, with peaks; wide byte formats in the table */
    assert_true(has(&f, "DEVICES 32"));
    assert_true(has(&f, "   0 WH     DRAM ["));
    assert_true(has(&f, "  31 WH     DRAM ["));
    assert_true(has(&f, " pk "));
    assert_true(has(&f, "L1_SMALL"));
    assert_true(has(&f, "ANOMALIES"));
    assert_true(has(&f, "PROCESSES 64"));
    assert_true(has(&f, " MiB"));
    /* the devices fit, so the process table scrolls, and says so */
    assert_true(has(&f, "PROCESSES 64  rows 1-21, arrows scroll"));
    assert_int_equal(f.scroll_max, 64 - 21);
    ttm__top_frame_free(&f);
    ttm__top_model_free(&m);
}

static void test_galaxy_32_devices(void **state)
{
    (void)state;
    ttm_top_model m;
    model_with(&m, 32, 8, 32);
    ttm_top_state st;
    ttm__top_state_init(&st, 1000);
    ttm_top_frame f = {0};
    /* 80x24: a grid of cells shows every device at once */
    layout(&m, &st, 80, 24, &f);
    assert_true(has(&f, "DEVICES 32  cells: device, DRAM %, L1 %"));
    for (int d = 0; d < 32; d++) {
        char want[16];
        snprintf(want, sizeof want, "%4d ", d);
        bool found = false;
        for (size_t i = 3; i < 12 && !found; i++) {
            const char *line = ttm__top_frame_line(&f, i);
            for (int c = 0; c + 18 <= 80; c += 18)
                found |= strncmp(line + c, want, 5) == 0;
        }
        assert_true(found);
    }
    assert_true(has(&f, "PROCESSES 8"));
    /* forced one-line mode scrolls instead */
    st.devmode = TTM_TOP_DEV_LINE;
    layout(&m, &st, 80, 24, &f);
    assert_true(f.scroll_max > 0);
    assert_true(has(&f, "   0 WH "));
    assert_false(has(&f, "  31 WH "));
    st.scroll = 1000;
    layout(&m, &st, 80, 24, &f);
    assert_int_equal(f.scroll, f.scroll_max);
    assert_true(has(&f, "  31 WH "));
    assert_false(has(&f, "   0 WH "));
    /* full mode on a tall terminal: three lines per device, the breakdown named */
    st.devmode = TTM_TOP_DEV_AUTO;
    st.scroll = 0;
    layout(&m, &st, 120, 120, &f);
    assert_true(has(&f, "  31 wormhole_b0   DRAM ["));
    assert_true(has(&f, "L1_SMALL(s)"));
    ttm__top_frame_free(&f);
    ttm__top_model_free(&m);
}

typedef struct key_of {
    ttm_top_col col;
    bool asc;
} key_of;

static uint64_t row_key(const ttm_top_model *m, const ttm_top_row *r, ttm_top_col c)
{
    const ttm_top_proc *p = &m->procs[r->proc];
    switch (c) {
    case TTM_TOP_COL_PID:
        return p->pid;
    case TTM_TOP_COL_DEVS:
        return r->ndevs;
    case TTM_TOP_COL_ANOM:
        return p->anomalies;
    default:
        return r->bytes[col_memtype[c]];
    }
}

static void test_sort_every_column(void **state)
{
    (void)state;
    ttm_top_model m;
    model_with(&m, 8, 20, 3);
    ttm_top_row rows[20];
    for (int c = 0; c < TTM_TOP_COL__COUNT; c++) {
        for (int dir = 0; dir < 2; dir++) {
            ttm_top_state st;
            ttm__top_state_init(&st, 1000);
            ttm__top_state_sort(&st, (ttm_top_col)c);
            if (dir)
                st.ascending = !st.ascending;
            size_t n = ttm__top_proc_rows(&m, &st, rows, NULL);
            assert_int_equal(n, 20);
            for (size_t i = 1; i < n; i++) {
                int cmp;
                if (c == TTM_TOP_COL_NAME)
                    cmp = strcmp(m.procs[rows[i - 1].proc].name, m.procs[rows[i].proc].name);
                else {
                    uint64_t a = row_key(&m, &rows[i - 1], (ttm_top_col)c);
                    uint64_t b = row_key(&m, &rows[i], (ttm_top_col)c);
                    cmp = a < b ? -1 : a > b;
                }
                if (st.ascending)
                    assert_true(cmp <= 0);
                else
                    assert_true(cmp >= 0);
                if (cmp == 0) /* ties by pid */
                    assert_true(m.procs[rows[i - 1].proc].pid < m.procs[rows[i].proc].pid);
            }
            /* natural directions: names and pids ascending, the rest descending */
            if (dir == 0)
                assert_int_equal(st.ascending, c == TTM_TOP_COL_PID || c == TTM_TOP_COL_NAME);
            /* the frame shows the first sorted row first, its header highlighted */
            ttm_top_frame f = {0};
            st.view = TTM_TOP_VIEW_PROCESSES;
            layout(&m, &st, 100, 30, &f);
            int hdr = find_line(&f, "S     PID NAME");
            assert_true(hdr > 0);
            char want[16];
            snprintf(want, sizeof want, "   %u ", m.procs[rows[0].proc].pid);
            assert_non_null(strstr(ttm__top_frame_line(&f, (size_t)hdr + 1), want));
            bool sorted_span = false;
            for (size_t i = 0; i < f.nspans; i++)
                sorted_span |= (int)f.spans[i].line == hdr && f.spans[i].attr == TTM_TOP_A_SORTED;
            assert_true(sorted_span);
            ttm__top_frame_free(&f);
        }
    }
    ttm__top_model_free(&m);
}

static void test_sort_na_last(void **state)
{
    (void)state;
    ttm_top_model m;
    ttm__top_model_init(&m, "h", "/s", "/dev/shm");
    ttm_ttshm_region r[2];
    make_region(&r[0], 0, 5000);
    make_region(&r[1], 1, 5001);
    feed(&m, make_snap(4, 3, 2), r, 2, SEC);
    ttm_top_row rows[8];
    for (int dir = 0; dir < 2; dir++) {
        for (int c = TTM_TOP_COL_KERNEL; c <= TTM_TOP_COL_ANOM; c++) {
            ttm_top_state st;
            ttm__top_state_init(&st, 1000);
            ttm__top_state_sort(&st, (ttm_top_col)c);
            st.ascending = dir;
            size_t n = ttm__top_proc_rows(&m, &st, rows, NULL);
            assert_int_equal(n, 5);
            /* the two counters-only processes know no KERNEL and no anomalies: last */
            assert_int_equal(m.procs[rows[3].proc].src, TTM_TOP_SRC_SHM);
            assert_int_equal(m.procs[rows[4].proc].src, TTM_TOP_SRC_SHM);
        }
    }
    ttm__top_model_free(&m);
}

static void test_filter(void **state)
{
    (void)state;
    ttm_top_model m;
    model_with(&m, 8, 6, 2);
    ttm_top_state st;
    ttm__top_state_init(&st, 1000);
    st.filter = true;
    st.filter_device = 3;
    ttm_top_row rows[6];
    size_t n = ttm__top_proc_rows(&m, &st, rows, NULL);
    /* process i is on devices i and i+1 (odd ones on i only): 2 and 3 hold device 3 */
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++) {
        const ttm_top_proc *p = &m.procs[rows[i].proc];
        assert_true(p->pid == 1002 || p->pid == 1003);
        assert_int_equal(rows[i].ndevs, 1);
        assert_int_equal(rows[i].bytes[TTM_MEM_DRAM], (p->pid - 1000 + 1) * MIB);
    }
    ttm_top_frame f = {0};
    layout(&m, &st, 80, 24, &f);
    assert_true(has(&f, "DEVICES 1 (device 3 only)"));
    assert_true(has(&f, "   3 wormhole_b0"));
    assert_false(has(&f, "   2 wormhole_b0"));
    assert_true(has(&f, "PROCESSES 2"));
    assert_true(has(&f, "device 3 only"));
    assert_true(has(&f, "DIAG  unknown 3 ")); /* the device's own counter */
    /* a device nobody uses */
    st.filter_device = 99;
    layout(&m, &st, 80, 24, &f);
    assert_true(has(&f, "no process holds memory on device 99"));
    ttm__top_frame_free(&f);
    ttm__top_model_free(&m);
}

static void test_too_small(void **state)
{
    (void)state;
    ttm_top_model m;
    model_with(&m, 2, 2, 1);
    ttm_top_state st;
    ttm__top_state_init(&st, 1000);
    ttm_top_frame f = {0};
    const int sizes[][2] = {{69, 40}, {200, 15}, {20, 5}, {1, 1}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        layout(&m, &st, sizes[i][0], sizes[i][1], &f);
        assert_true(f.too_small);
        assert_int_equal(f.nlines, 1);
        if (sizes[i][0] >= 60)
            assert_true(has(&f, "is too small: ttmem top needs 70x16"));
    }
    layout(&m, &st, 70, 16, &f);
    assert_false(f.too_small);
    layout(&m, &st, 80, 0, &f); /* unbounded height is never too small */
    assert_false(f.too_small);
    ttm__top_frame_free(&f);
    ttm__top_model_free(&m);
}

static void test_stale_and_reconnect(void **state)
{
    (void)state;
    ttm_top_model m;
    model_with(&m, 2, 3, 1);
    feed(&m, NULL, NULL, 0, 112 * SEC); /* the daemon went away */
    assert_int_equal(m.dstate, TTM_TOP_DAEMON_STALE);
    ttm_top_state st;
    ttm__top_state_init(&st, 1000);
    ttm_top_frame f = {0};
    layout(&m, &st, 100, 30, &f);
    assert_true(has(&f, "STALE 12s"));
    assert_true(has(&f, "ttmemd lost 12s ago (cannot connect): last frame kept, retrying"));
    /* the last frame's data stays */
    assert_true(has(&f, "PROCESSES 3"));
    assert_true(has(&f, " 1002 "));
    bool stale_span = false;
    for (size_t i = 0; i < f.nspans; i++)
        stale_span |= f.spans[i].attr == TTM_TOP_A_STALE;
    assert_true(stale_span);
    /* ... back */
    feed(&m, make_snap(2, 1, 1), NULL, 0, 113 * SEC);
    assert_int_equal(m.dstate, TTM_TOP_DAEMON_OK);
    layout(&m, &st, 100, 30, &f);
    assert_false(has(&f, "STALE"));
    assert_true(has(&f, "PROCESSES 1"));
    ttm__top_frame_free(&f);
    ttm__top_model_free(&m);
}

static void test_nothing_to_monitor(void **state)
{
    (void)state;
    ttm_top_model m;
    ttm__top_model_init(&m, "h", "/run/x/ttmemd.sock", "/dev/shm");
    feed(&m, NULL, NULL, 0, SEC);
    assert_true(ttm__top_model_empty(&m));
    ttm_top_state st;
    ttm__top_state_init(&st, 1000);
    ttm_top_frame f = {0};
    layout(&m, &st, 80, 24, &f);
    assert_true(has(&f, "Nothing to monitor: ttmemd is not running at"));
    assert_true(has(&f, "Start 'ttmemd'"));
    assert_true(has(&f, "'ttmem record -- CMD'"));
    assert_true(has(&f, "ttmemd not running"));
    ttm__top_frame_free(&f);
    ttm__top_model_free(&m);
}

static void test_na_values(void **state)
{
    (void)state;
    ttm_top_model m;
    ttm__top_model_init(&m, "h", "/s", "/dev/shm");
    ttm_ttshm_region r;
    make_region(&r, 4, 6000);
    feed(&m, NULL, &r, 1, SEC);
    assert_false(ttm__top_model_empty(&m));
    assert_int_equal(m.ndevices, 1);
    assert_int_equal(m.devices[0].src, TTM_TOP_SRC_SHM);
    assert_false(m.devices[0].valid & TTM_TOP_V_MEM(TTM_MEM_KERNEL));
    assert_false(m.devices[0].valid & (TTM_TOP_V_CAP_DRAM | TTM_TOP_V_PEAK_DRAM));
    ttm_top_state st;
    ttm__top_state_init(&st, 1000);
    ttm_top_frame f = {0};
    layout(&m, &st, 100, 30, &f);
    assert_true(has(&f, "1 TT-Metal shm region (counters only) in /dev/shm"));
    assert_true(has(&f, "  s4 counters only DRAM [              capacity N/A"));
    assert_true(has(&f, "2.12G / N/A    peak N/A")); /* used known; capacity, peak not */
    assert_true(has(&f, "KERNEL N/A"));
    int row = find_line(&f, " 6000 tt-metal-app");
    assert_true(row > 0);
    const char *line = ttm__top_frame_line(&f, (size_t)row);
    assert_int_equal(line[0], 'C');
    assert_non_null(strstr(line, "2.00G"));
    /* KERNEL and ANOM are N/A, never 0 */
    assert_non_null(strstr(line, "  N/A   N/A"));
    assert_true(has(&f, "DIAG  N/A"));
    /* a daemon device without a capacity: N/A in its bar, never a made-up share */
    ttm_report *s = make_snap(1, 1, 1);
    s->devices[0].capacity[TTM_SPACE_DRAM] = 0;
    s->devices[0].arch = 0;
    feed(&m, s, &r, 1, 2 * SEC);
    layout(&m, &st, 100, 30, &f);
    assert_true(has(&f, "   0 arch N/A      DRAM [              capacity N/A"));
    ttm__top_frame_free(&f);
    ttm__top_model_free(&m);
}

static void test_colour_thresholds(void **state)
{
    (void)state;
    assert_int_equal(ttm__top_level_attr(0, 1000), TTM_TOP_A_OK);
    assert_int_equal(ttm__top_level_attr(749, 1000), TTM_TOP_A_OK);
    assert_int_equal(ttm__top_level_attr(750, 1000), TTM_TOP_A_WARN);
    assert_int_equal(ttm__top_level_attr(899, 1000), TTM_TOP_A_WARN);
    assert_int_equal(ttm__top_level_attr(900, 1000), TTM_TOP_A_CRIT);
    assert_int_equal(ttm__top_level_attr(2000, 1000), TTM_TOP_A_CRIT);
    assert_int_equal(ttm__top_level_attr(5, 0), TTM_TOP_A_NA);

    /* three devices at 10%, 80% and 95% of DRAM: their bars and percentages take the colours */
    static const double share[3] = {0.10, 0.80, 0.95};
    static const unsigned want[3] = {TTM_TOP_A_OK, TTM_TOP_A_WARN, TTM_TOP_A_CRIT};
    ttm_report *s = make_snap(3, 0, 0);
    for (int d = 0; d < 3; d++)
        s->devices[d].mem[TTM_MEM_DRAM].live_bytes = (uint64_t)(share[d] * 12.0 * (double)GIB);
    ttm_top_model m;
    ttm__top_model_init(&m, "h", "/s", "/dev/shm");
    feed(&m, s, NULL, 0, SEC);
    ttm_top_state st;
    ttm__top_state_init(&st, 1000);
    ttm_top_frame f = {0};
    layout(&m, &st, 100, 30, &f);
    static const char *const pct[3] = {"10.0%", "80.0%", "95.0%"};
    for (int d = 0; d < 3; d++) {
        char label[32];
        snprintf(label, sizeof label, "%4d wormhole_b0   DRAM [", d);
        int line = find_line(&f, label);
        assert_true(line >= 0);
        int bar = (int)(strstr(ttm__top_frame_line(&f, (size_t)line), "DRAM [") -
                        ttm__top_frame_line(&f, (size_t)line)) + 6;
        assert_int_equal(attr_at(&f, line, bar), want[d]);
        int p = (int)(strstr(ttm__top_frame_line(&f, (size_t)line), pct[d]) -
                      ttm__top_frame_line(&f, (size_t)line));
        assert_int_equal(attr_at(&f, line, p), want[d]);
    }
    ttm__top_frame_free(&f);
    ttm__top_model_free(&m);
}

static void test_keys(void **state)
{
    (void)state;
    ttm_top_model m;
    model_with(&m, 16, 2, 1);
    ttm_top_state st;
    ttm__top_state_init(&st, 1000);
    uint64_t t = 50 * SEC;
    assert_int_equal(ttm__top_state_key(&st, &m, 'v', t, 10), TTM_TOP_ACT_REDRAW);
    assert_int_equal(st.view, TTM_TOP_VIEW_PROCESSES);
    ttm__top_state_key(&st, &m, '\t', t, 10);
    assert_int_equal(st.view, TTM_TOP_VIEW_DIAGNOSIS);
    /* back and forth through the cycle, which wraps through the sites view */
    static const struct {
        int key;
        ttm_top_view view;
    } cycle[] = {
        {TTM_TOP_KEY_BTAB, TTM_TOP_VIEW_PROCESSES}, {TTM_TOP_KEY_BTAB, TTM_TOP_VIEW_DEVICES},
        {TTM_TOP_KEY_BTAB, TTM_TOP_VIEW_SITES},     {TTM_TOP_KEY_BTAB, TTM_TOP_VIEW_HISTORY},
        {'v', TTM_TOP_VIEW_SITES},                  {'v', TTM_TOP_VIEW_DEVICES},
        {TTM_TOP_KEY_BTAB, TTM_TOP_VIEW_SITES},     {TTM_TOP_KEY_BTAB, TTM_TOP_VIEW_HISTORY},
    };
    for (size_t i = 0; i < sizeof cycle / sizeof cycle[0]; i++) {
        assert_int_equal(ttm__top_state_key(&st, &m, cycle[i].key, t, 10), TTM_TOP_ACT_REDRAW);
        assert_int_equal(st.view, cycle[i].view);
    }
    /* l: straight to the sites view, fetched at once (the call sites are asked for there) */
    assert_int_equal(ttm__top_state_key(&st, &m, 'l', t, 10), TTM_TOP_ACT_REFRESH);
    assert_int_equal(st.view, TTM_TOP_VIEW_SITES);
    ttm__top_state_key(&st, &m, TTM_TOP_KEY_BTAB, t, 10);
    assert_int_equal(st.view, TTM_TOP_VIEW_HISTORY);
    /* sort: DRAM -> L1 -> back, reverse */
    ttm__top_state_key(&st, &m, 's', t, 10);
    assert_int_equal(st.sort, TTM_TOP_COL_L1);
    assert_false(st.ascending);
    ttm__top_state_key(&st, &m, '<', t, 10);
    ttm__top_state_key(&st, &m, '<', t, 10);
    ttm__top_state_key(&st, &m, '<', t, 10);
    assert_int_equal(st.sort, TTM_TOP_COL_NAME);
    assert_true(st.ascending);
    ttm__top_state_key(&st, &m, 'r', t, 10);
    assert_false(st.ascending);
    /* device numbers: digits typed within a second form one number */
    ttm__top_state_key(&st, &m, '1', t, 10);
    ttm__top_state_key(&st, &m, '2', t + SEC / 2, 10);
    assert_true(st.filter);
    assert_int_equal(st.filter_device, 12);
    ttm__top_state_key(&st, &m, '3', t + 3 * SEC, 10);
    assert_int_equal(st.filter_device, 3);
    ttm__top_state_key(&st, &m, 'a', t, 10);
    assert_false(st.filter);
    /* d walks the devices, then back to all */
    for (uint32_t d = 0; d < 16; d++) {
        ttm__top_state_key(&st, &m, 'd', t, 10);
        assert_true(st.filter);
        assert_int_equal(st.filter_device, d);
    }
    ttm__top_state_key(&st, &m, 'd', t, 10);
    assert_false(st.filter);
    /* pause, resume refreshes at once */
    assert_int_equal(ttm__top_state_key(&st, &m, 'p', t, 10), TTM_TOP_ACT_REDRAW);
    assert_true(st.paused);
    assert_int_equal(ttm__top_state_key(&st, &m, ' ', t, 10), TTM_TOP_ACT_REFRESH);
    assert_false(st.paused);
    /* help: any key closes it */
    ttm__top_state_key(&st, &m, '?', t, 10);
    assert_true(st.help);
    ttm__top_state_key(&st, &m, 'v', t, 10);
    assert_false(st.help);
    assert_int_equal(st.view, TTM_TOP_VIEW_HISTORY); /* the closing key does nothing else */
    /* scrolling */
    ttm__top_state_key(&st, &m, TTM_TOP_KEY_PGDN, t, 10);
    ttm__top_state_key(&st, &m, TTM_TOP_KEY_DOWN, t, 10);
    assert_int_equal(st.scroll, 11);
    ttm__top_state_key(&st, &m, TTM_TOP_KEY_UP, t, 10);
    ttm__top_state_key(&st, &m, TTM_TOP_KEY_PGUP, t, 10);
    ttm__top_state_key(&st, &m, TTM_TOP_KEY_UP, t, 10);
    assert_int_equal(st.scroll, 0);
    ttm__top_state_key(&st, &m, 'c', t, 10);
    assert_int_equal(st.devmode, TTM_TOP_DEV_FULL);
    assert_int_equal(ttm__top_state_key(&st, &m, 'z', t, 10), TTM_TOP_ACT_NONE);
    assert_int_equal(ttm__top_state_key(&st, &m, -1, t, 10), TTM_TOP_ACT_NONE);
    assert_int_equal(ttm__top_state_key(&st, &m, TTM_TOP_KEY_RESIZE, t, 10), TTM_TOP_ACT_REDRAW);
    assert_int_equal(ttm__top_state_key(&st, &m, 'q', t, 10), TTM_TOP_ACT_QUIT);
    ttm__top_model_free(&m);
}

static void test_history(void **state)
{
    (void)state;
    ttm_top_model m;
    ttm__top_model_init(&m, "h", "/s", "/dev/shm");
    /* 60 samples a second apart, DRAM use rising from 0 to 12 GiB (full) */
    for (int i = 0; i < 60; i++) {
        ttm_report *s = make_snap(1, 0, 0);
        s->devices[0].mem[TTM_MEM_DRAM].live_bytes = (uint64_t)i * (12 * GIB) / 59;
        feed(&m, s, NULL, 0, (uint64_t)(i + 1) * SEC);
    }
    assert_int_equal(m.hist_count, 60);
    const ttm_top_hist *h = ttm__top_model_hist(&m, &m.devices[0]);
    assert_non_null(h);
    size_t lastslot = (m.hist_head + m.hist_count - 1) % TTM_TOP_HIST_LEN;
    assert_int_equal(h->used[TTM_SPACE_DRAM][lastslot], 12 * GIB);
    /* a lost daemon adds no sample for its devices */
    feed(&m, NULL, NULL, 0, 61 * SEC);
    lastslot = (m.hist_head + m.hist_count - 1) % TTM_TOP_HIST_LEN;
    assert_int_equal(h->used[TTM_SPACE_DRAM][lastslot], TTM_TOP_HIST_NONE);
    feed(&m, make_snap(1, 0, 0), NULL, 0, 62 * SEC);

    ttm_top_state st;
    ttm__top_state_init(&st, 1000);
    st.view = TTM_TOP_VIEW_HISTORY;
    ttm_top_frame f = {0};
    layout(&m, &st, 120, 30, &f);
    assert_true(has(&f, "HISTORY"));
    int line = find_line(&f, "   0 DRAM |");
    assert_true(line >= 0);
    const char *text = ttm__top_frame_line(&f, (size_t)line);
    /* levels rise left to right up to full; the right end has the reconnect's 0 */
    const char *g = strchr(text, '|') + 1;
    const char *end = strchr(g, '|');
    int prev = -1, top = -1;
    for (const char *c = g; c < end; c++) {
        if (*c == ' ')
            continue;
        const char *lv = strchr(TTM_TOP_GRAPH_GLYPHS, *c);
        assert_non_null(lv);
        int level = (int)(lv - TTM_TOP_GRAPH_GLYPHS);
        if (c < end - 2)
            assert_true(level >= prev);
        prev = level;
        top = level > top ? level : top;
    }
    assert_int_equal(top, 8);
    /* graph cells are marked for block glyphs, and the full ones are red */
    bool graph = false, crit = false;
    for (size_t i = 0; i < f.nspans; i++) {
        if ((int)f.spans[i].line == line && (f.spans[i].attr & TTM_TOP_A_GRAPH)) {
            graph = true;
            crit |= (f.spans[i].attr & TTM_TOP_A_MASK) == TTM_TOP_A_CRIT;
        }
    }
    assert_true(graph && crit);
    /* more samples than the ring holds */
    for (unsigned i = 0; i < TTM_TOP_HIST_LEN + 10; i++)
        feed(&m, make_snap(1, 0, 0), NULL, 0, (100 + i) * SEC);
    assert_int_equal(m.hist_count, TTM_TOP_HIST_LEN);
    layout(&m, &st, 80, 24, &f);
    ttm__top_frame_free(&f);
    ttm__top_model_free(&m);
}

static void test_unbounded_once(void **state)
{
    (void)state;
    ttm_top_model m;
    model_with(&m, 4, 64, 2);
    ttm_top_state st;
    ttm__top_state_init(&st, 1000);
    st.plain = true;
    ttm_top_frame f = {0};
    layout(&m, &st, 100, 0, &f);
    /* every section, every row, no key hints */
    assert_true(has(&f, "   3 wormhole_b0   DRAM ["));
    assert_true(has(&f, "PROCESSES 64"));
    assert_true(has(&f, " 1063 "));
    assert_true(has(&f, "DIAGNOSIS"));
    assert_true(has(&f, "unknown frees"));
    assert_true(has(&f, "a free of an address never allocated since tracking began"));
    assert_true(has(&f, "OTHER FINDINGS"));
    assert_true(has(&f, "foreign_free"));
    assert_true(has(&f, "TRANSPORT"));
    assert_false(has(&f, "q quit"));
    assert_false(has(&f, "refresh"));
    ttm__top_frame_free(&f);
    ttm__top_model_free(&m);
}

static void test_every_view_and_size(void **state)
{
    (void)state;
    ttm_top_model m;
    ttm__top_model_init(&m, "a-rather-long-host-name.example.com", "/s", "/dev/shm");
    ttm_ttshm_region r[3];
    for (int i = 0; i < 3; i++)
        make_region(&r[i], 40 + i, 7000 + i);
    feed(&m, make_snap(32, 64, 8), r, 3, SEC);
    feed(&m, make_snap(32, 64, 8), r, 3, 2 * SEC);
    const int sizes[][2] = {{70, 16}, {80, 24}, {100, 40}, {120, 40}, {200, 60}, {300, 100},
                            {80, 0},  {200, 0}};
    ttm_top_frame f = {0};
    for (int v = 0; v < TTM_TOP_VIEW__COUNT; v++) {
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            for (int mode = 0; mode < TTM_TOP_DEV__COUNT; mode++) {
                for (int help = 0; help < 2; help++) {
                    ttm_top_state st;
                    ttm__top_state_init(&st, 500);
                    st.view = (ttm_top_view)v;
                    st.devmode = (ttm_top_devmode)mode;
                    st.help = help;
                    st.paused = true;
                    layout(&m, &st, sizes[i][0], sizes[i][1], &f);
                    if (!has(&f, "ttmem top"))
                        dump(&f);
                    assert_true(has(&f, "ttmem top"));
                }
            }
        }
    }
    ttm__top_frame_free(&f);
    ttm__top_model_free(&m);
}

static void test_allocation_failure(void **state)
{
    (void)state;
    ttm_top_model m;
    model_with(&m, 8, 16, 4);
    ttm_top_state st;
    ttm__top_state_init(&st, 1000);
    for (unsigned long n = 1; n < 8; n++) {
        ttm_top_frame f = {0};
        ttm__alloc_fail_at(n);
        int err = ttm__top_layout(&m, &st, 80, 24, &f);
        ttm__alloc_fail_at(0);
        assert_true(err == TTM_OK || err == TTM_ENOMEM);
        if (err == TTM_ENOMEM)
            assert_int_equal(f.nlines, 0);
        ttm__top_frame_free(&f);
    }
    for (unsigned long n = 1; n < 12; n++) {
        ttm_report *s = make_snap(8, 16, 4);
        ttm__alloc_fail_at(n);
        int err = ttm__top_model_ingest(&m, s, NULL, NULL, 0, NULL, 200 * SEC);
        ttm__alloc_fail_at(0);
        free(s);
        assert_true(err == TTM_OK || err == TTM_ENOMEM);
        if (err == TTM_ENOMEM)
            assert_int_equal(m.nprocs + m.ndevices, 0);
    }
    ttm__top_model_free(&m);
}

/* ---- the key table ------------------------------------------------------------------------ */

static bool same_state(const ttm_top_state *a, const ttm_top_state *b)
{
    return a->view == b->view && a->sort == b->sort && a->ascending == b->ascending &&
           a->filter == b->filter && a->filter_device == b->filter_device &&
           a->scroll == b->scroll && a->paused == b->paused && a->help == b->help &&
           a->plain == b->plain && a->devmode == b->devmode && a->refresh_ms == b->refresh_ms &&
           a->typing == b->typing && a->typed == b->typed && a->typed_ns == b->typed_ns &&
           a->show_exited == b->show_exited && a->sel_set == b->sel_set &&
           a->sel_src == b->sel_src && a->sel_pid == b->sel_pid &&
           a->proc_open == b->proc_open && a->proc_src == b->proc_src &&
           a->proc_pid == b->proc_pid;
}

/* A state away from the defaults, so that every action changes something visible. */
static void busy_state(ttm_top_state *st, unsigned mode)
{
    ttm__top_state_init(st, 1000);
    st->view = TTM_TOP_VIEW_DIAGNOSIS;
    st->scroll = 5;
    st->filter = true;
    st->filter_device = 0; /* a device with a process: Enter has one to open */
    st->help = mode == TTM_TOP_MODE_HELP;
    st->proc_open = mode == TTM_TOP_MODE_PROC;
    st->proc_pid = 1001;
}

/* Every key of every row, in every mode the row names, reaches the row's action through the
 * state machine: the same result and state as the action called directly. */
static void test_key_table_dispatch(void **state)
{
    (void)state;
    ttm_top_model m;
    model_with(&m, 16, 2, 1);
    uint64_t t = 50 * SEC;
    assert_true(ttm__top_nkeys > 0);
    for (size_t i = 0; i < ttm__top_nkeys; i++) {
        const ttm_top_key *k = &ttm__top_keys[i];
        assert_non_null(k->act);
        assert_true(k->modes != 0);
        assert_true(k->keys[0].key != 0);
        for (const ttm_top_keybind *b = k->keys; b->key != 0; b++) {
            int last = b->last ? b->last : b->key;
            for (int key = b->key; key <= last; key++) {
                for (unsigned mode = 1; mode <= TTM_TOP_MODE_PROC; mode <<= 1) {
                    if (!(k->modes & mode))
                        continue;
                    int arg = -99;
                    assert_ptr_equal(ttm__top_key_find(key, mode, &arg), k);
                    assert_int_equal(arg, b->arg);
                    ttm_top_state got, want;
                    busy_state(&got, mode);
                    busy_state(&want, mode);
                    ttm_top_keyctx c = {&want, &m, key, t, 10, want.typing};
                    want.typing = false;
                    ttm_top_action a = k->act(&c, b->arg);
                    assert_int_not_equal(a, TTM_TOP_ACT_NONE);
                    assert_int_equal(ttm__top_state_key(&got, &m, key, t, 10), a);
                    if (!same_state(&got, &want))
                        fail_msg("key %d (%s) does not reach its action", key, k->name);
                }
            }
        }
    }
    /* and no key acts without a row: unbound keys do nothing in a view ... */
    for (int key = 0; key <= TTM_TOP_KEY_RESIZE; key++) {
        if (key == TTM_TOP_KEY_RESIZE || ttm__top_key_find(key, TTM_TOP_MODE_VIEW, NULL) != NULL)
            continue;
        ttm_top_state st, before;
        busy_state(&st, TTM_TOP_MODE_VIEW);
        before = st;
        assert_int_equal(ttm__top_state_key(&st, &m, key, t, 10), TTM_TOP_ACT_NONE);
        assert_true(same_state(&st, &before));
    }
    /* ... and close the help screen there */
    for (int key = 0; key <= TTM_TOP_KEY_BTAB; key++) {
        if (ttm__top_key_find(key, TTM_TOP_MODE_HELP, NULL) != NULL)
            continue;
        ttm_top_state st;
        busy_state(&st, TTM_TOP_MODE_HELP);
        assert_int_equal(ttm__top_state_key(&st, &m, key, t, 10), TTM_TOP_ACT_REDRAW);
        assert_false(st.help);
        assert_int_equal(st.view, TTM_TOP_VIEW_DIAGNOSIS);
    }
    ttm__top_model_free(&m);
}

/* No two rows (nor two bindings of one row) bind the same key in the same mode. */
static void test_key_table_unique(void **state)
{
    (void)state;
    for (size_t i = 0; i < ttm__top_nkeys; i++) {
        for (size_t j = i; j < ttm__top_nkeys; j++) {
            const ttm_top_key *x = &ttm__top_keys[i], *y = &ttm__top_keys[j];
            if (!(x->modes & y->modes))
                continue;
            for (const ttm_top_keybind *a = x->keys; a->key != 0; a++) {
                for (const ttm_top_keybind *b = i == j ? a + 1 : y->keys; b->key != 0; b++) {
                    int alast = a->last ? a->last : a->key, blast = b->last ? b->last : b->key;
                    if (a->key <= blast && b->key <= alast)
                        fail_msg("'%s' and '%s' both bind key %d", x->name, y->name,
                                 a->key > b->key ? a->key : b->key);
                }
            }
        }
    }
}

/* Every row's keys and help are on the help screen, whole, at the smallest terminal; every
 * section is one line of it; the footer's key hints are bound keys. */
static void test_key_table_help(void **state)
{
    (void)state;
    ttm_top_model m;
    model_with(&m, 2, 2, 1);
    ttm_top_state st;
    ttm__top_state_init(&st, 1000);
    st.help = true;
    ttm_top_frame f = {0};
    layout(&m, &st, TTM_TOP_MIN_WIDTH, TTM_TOP_MIN_HEIGHT, &f);
    for (size_t i = 0; i < ttm__top_nkeys; i++) {
        const ttm_top_key *k = &ttm__top_keys[i];
        assert_true(k->help != NULL && k->help[0] != '\0');
        assert_true((unsigned)k->section < TTM_TOP_KEYSEC__COUNT);
        char label[64], item[160];
        snprintf(item, sizeof item, "%s %s", ttm__top_key_label(k, false, label, sizeof label),
                 k->help);
        int line = find_line(&f, item);
        if (line < 0) {
            dump(&f);
            fail_msg("the help screen lacks '%s'", item);
        }
        assert_int_equal(line, 2 + (int)k->section); /* its section's line, under the header */
    }
    /* every key line fits the smallest terminal after its indent ("KEYS  " on the first) */
    for (unsigned sec = 0; sec < TTM_TOP_KEYSEC__COUNT; sec++) {
        char text[256];
        size_t indent = sec == 0 ? 6 : 2;
        assert_true(strlen(ttm__top_keys_line((ttm_top_keysec)sec, text, sizeof text)) + indent <=
                    TTM_TOP_MIN_WIDTH);
    }
    /* the footer's hints: each key character (or range "0-9") is bound in a view */
    st.help = false;
    layout(&m, &st, 80, 24, &f);
    size_t footer = f.nlines - 1, hints = 0;
    for (size_t i = 0; i < f.nspans; i++) {
        const ttm_top_span *sp = &f.spans[i];
        if (sp->line != footer || sp->attr != TTM_TOP_A_KEY)
            continue;
        const char *text = ttm__top_frame_line(&f, footer) + sp->col;
        for (int c = 0; c < sp->len; c++) {
            int lo = text[c], hi = lo;
            if (c + 2 < sp->len && text[c + 1] == '-') {
                hi = text[c + 2];
                c += 2;
            }
            for (int key = lo; key <= hi; key++) {
                if (ttm__top_key_find(key, TTM_TOP_MODE_VIEW, NULL) == NULL)
                    fail_msg("the footer shows key '%c', which nothing binds", key);
                hints++;
            }
        }
    }
    assert_true(hints >= 10);
    ttm__top_frame_free(&f);
    ttm__top_model_free(&m);
}

/* The key list of docs/TOP.md, as the key table writes it. */
static void keys_markdown(char *buf, size_t len)
{
    size_t o = (size_t)snprintf(buf, len, "| keys | action | works |\n|---|---|---|\n");
    for (size_t i = 0; i < ttm__top_nkeys && o < len; i++) {
        const ttm_top_key *k = &ttm__top_keys[i];
        char label[128];
        char works[128];
        o += (size_t)snprintf(buf + o, len - o, "| %s | %s | %s |\n",
                              ttm__top_key_label(k, true, label, sizeof label), k->help,
                              ttm__top_key_works(k, works, sizeof works));
    }
}

/* docs/TOP.md's key list is the key table's (between its two marker lines). */
static void test_key_table_docs(void **state)
{
    (void)state;
    static const char begin[] = "<!-- keys: generated from src/cli/top_keys.c -->\n";
    static const char end[] = "<!-- end of keys -->\n";
    char path[4096];
    const char *me = __FILE__, *tail = strstr(me, "tests/unit/test_top_layout.c");
    assert_non_null(tail); /* the build compiles this file by its path in the source tree */
    snprintf(path, sizeof path, "%.*sdocs/TOP.md", (int)(tail - me), me);
    FILE *fp = fopen(path, "r");
    if (fp == NULL)
        fail_msg("cannot open %s", path);
    static char doc[65536];
    size_t n = fread(doc, 1, sizeof doc - 1, fp);
    fclose(fp);
    doc[n] = '\0';
    const char *a = strstr(doc, begin), *b = a ? strstr(a, end) : NULL;
    if (a == NULL || b == NULL)
        fail_msg("%s has no key list between '%.*s' and '%.*s'", path, (int)sizeof begin - 2,
                 begin, (int)sizeof end - 2, end);
    a += sizeof begin - 1;
    static char want[8192];
    keys_markdown(want, sizeof want);
    if (strlen(want) != (size_t)(b - a) || strncmp(a, want, (size_t)(b - a)) != 0)
        fail_msg("the key list of %s differs from the key table; it should read:\n%s", path,
                 want);
}

/* ---- selection, exited processes, the process view, the command column --------------------- */

/* The line that carries the selection mark ('>' in column 1), or -1. */
static int sel_line(const ttm_top_frame *f)
{
    for (size_t i = 0; i < f->nlines; i++)
        if (ttm__top_frame_line(f, i)[1] == '>')
            return (int)i;
    return -1;
}

static bool sel_is(const ttm_top_frame *f, uint32_t pid)
{
    int l = sel_line(f);
    char want[16];
    snprintf(want, sizeof want, " %u ", pid);
    return l >= 0 && strstr(ttm__top_frame_line(f, (size_t)l), want) != NULL &&
           attr_at(f, l, 40) == TTM_TOP_A_SELECTED;
}

/* 6 processes (pid 1000 + i holds (i + 1) MiB of DRAM); pid 1004 exited when exited4. */
static ttm_report *select_snap(bool exited4)
{
    ttm_report *s = make_snap(4, 6, 1);
    s->procs[4].stats.alive = !exited4;
    s->procs[4].connected = !exited4;
    s->procs[5].cmdline = ttm__xstrdup("python3 -m app --tag abc");
    return s;
}

static void test_selection(void **state)
{
    (void)state;
    ttm_top_model m;
    ttm__top_model_init(&m, "testhost", "/s", "/dev/shm");
    feed(&m, select_snap(false), NULL, 0, SEC);
    ttm_top_state st;
    ttm__top_state_init(&st, 1000);
    st.view = TTM_TOP_VIEW_PROCESSES;
    ttm_top_frame f = {0};
    uint64_t t = 50 * SEC;
    layout(&m, &st, 100, 24, &f);
    assert_true(sel_is(&f, 1005)); /* nothing chosen yet: the first row (most DRAM) */
    assert_int_equal(ttm__top_state_key(&st, &m, TTM_TOP_KEY_DOWN, t, 10), TTM_TOP_ACT_REDRAW);
    assert_true(st.sel_set);
    assert_int_equal(st.sel_pid, 1004);
    ttm__top_state_key(&st, &m, 'j', t, 10);
    assert_int_equal(st.sel_pid, 1003);
    ttm__top_state_key(&st, &m, 'k', t, 10);
    layout(&m, &st, 100, 24, &f);
    assert_true(sel_is(&f, 1004));
    /* the selection follows the pid through a re-sort */
    ttm__top_state_sort(&st, TTM_TOP_COL_PID);
    layout(&m, &st, 100, 24, &f);
    assert_true(sel_is(&f, 1004));
    assert_int_equal(sel_line(&f), find_line(&f, "PROCESSES") + 2 + 4);
    /* ... and through a refresh; Home and End reach the ends */
    feed(&m, select_snap(false), NULL, 0, 2 * SEC);
    layout(&m, &st, 100, 24, &f);
    assert_true(sel_is(&f, 1004));
    ttm__top_state_key(&st, &m, TTM_TOP_KEY_END, t, 10);
    assert_int_equal(st.sel_pid, 1005);
    ttm__top_state_key(&st, &m, TTM_TOP_KEY_HOME, t, 10);
    assert_int_equal(st.sel_pid, 1000);
    ttm__top_state_key(&st, &m, TTM_TOP_KEY_UP, t, 10); /* stays at the top */
    assert_int_equal(st.sel_pid, 1000);
    /* pid 1004 exits: hidden by default, counted in the title; the moves skip it */
    feed(&m, select_snap(true), NULL, 0, 3 * SEC);
    layout(&m, &st, 100, 24, &f);
    assert_true(has(&f, "PROCESSES 5"));
    assert_true(has(&f, "1 exited hidden (x shows)"));
    assert_false(has(&f, " 1004 "));
    for (int i = 0; i < 3; i++)
        ttm__top_state_key(&st, &m, TTM_TOP_KEY_DOWN, t, 10);
    assert_int_equal(st.sel_pid, 1003);
    ttm__top_state_key(&st, &m, TTM_TOP_KEY_DOWN, t, 10);
    assert_int_equal(st.sel_pid, 1005);
    /* x shows it (dimmed), x hides it again */
    assert_int_equal(ttm__top_state_key(&st, &m, 'x', t, 10), TTM_TOP_ACT_REDRAW);
    layout(&m, &st, 100, 24, &f);
    assert_true(has(&f, "PROCESSES 6"));
    assert_true(has(&f, "exited shown (x hides)"));
    int l = find_line(&f, " 1004 ");
    assert_true(l >= 0);
    assert_int_equal(ttm__top_frame_line(&f, (size_t)l)[0], 'X');
    assert_int_equal(attr_at(&f, l, 10), TTM_TOP_A_DIM);
    ttm__top_state_key(&st, &m, 'x', t, 10);
    /* a selected process that becomes hidden leaves the selection on the first row */
    st.sel_pid = 1004;
    layout(&m, &st, 100, 24, &f);
    assert_true(sel_is(&f, 1000));
    /* every process exited: the table says so */
    ttm_report *gone = make_snap(4, 2, 1);
    gone->procs[0].stats.alive = gone->procs[1].stats.alive = false;
    feed(&m, gone, NULL, 0, 4 * SEC);
    layout(&m, &st, 100, 24, &f);
    assert_true(has(&f, "every process has exited (x shows them)"));
    ttm__top_frame_free(&f);
    ttm__top_model_free(&m);
}

/* A long table scrolls so that the selection stays on screen, and back. */
static void test_selection_scrolls(void **state)
{
    (void)state;
    ttm_top_model m;
    model_with(&m, 2, 60, 1);
    ttm_top_state st;
    ttm__top_state_init(&st, 1000);
    st.view = TTM_TOP_VIEW_PROCESSES;
    ttm__top_state_sort(&st, TTM_TOP_COL_PID);
    ttm_top_frame f = {0};
    uint64_t t = 50 * SEC;
    ttm__top_state_key(&st, &m, TTM_TOP_KEY_END, t, 10);
    assert_int_equal(st.sel_pid, 1059);
    layout(&m, &st, 100, 24, &f);
    assert_true(sel_is(&f, 1059));
    assert_true(f.scroll > 0);
    st.scroll = f.scroll; /* as the monitor's loop keeps it */
    ttm__top_state_key(&st, &m, TTM_TOP_KEY_PGUP, t, 10);
    assert_int_equal(st.sel_pid, 1049);
    layout(&m, &st, 100, 24, &f);
    assert_true(sel_is(&f, 1049));
    st.scroll = f.scroll;
    ttm__top_state_key(&st, &m, TTM_TOP_KEY_HOME, t, 10);
    layout(&m, &st, 100, 24, &f);
    assert_true(sel_is(&f, 1000));
    assert_int_equal(f.scroll, 0);
    /* in the devices view too */
    st.view = TTM_TOP_VIEW_DEVICES;
    ttm__top_state_key(&st, &m, TTM_TOP_KEY_END, t, 10);
    layout(&m, &st, 100, 24, &f);
    assert_true(sel_is(&f, 1059));
    /* where there is no process table the same keys scroll */
    st.view = TTM_TOP_VIEW_DIAGNOSIS;
    st.scroll = 0;
    ttm__top_state_key(&st, &m, TTM_TOP_KEY_DOWN, t, 10);
    assert_int_equal(st.scroll, 1);
    assert_int_equal(st.sel_pid, 1059);
    ttm__top_frame_free(&f);
    ttm__top_model_free(&m);
}

static void test_process_view(void **state)
{
    (void)state;
    ttm_top_model m;
    ttm__top_model_init(&m, "testhost", "/s", "/dev/shm");
    ttm_report *s = make_snap(4, 6, 3);
    s->procs[5].cmdline = ttm__xstrdup("python3 -m app --tag abc");
    s->procs[5].events = 1234;
    s->procs[5].stats.leaked_count = 3;
    s->procs[5].stats.leaked_bytes = 3 * 1024;
    feed(&m, s, NULL, 0, SEC);
    ttm_top_state st;
    ttm__top_state_init(&st, 1000);
    ttm__top_state_sort(&st, TTM_TOP_COL_PID);
    st.ascending = false;
    ttm_top_frame f = {0};
    uint64_t t = 50 * SEC;
    /* Enter opens the selected process (the first row: pid 1005) and asks for a fetch */
    assert_int_equal(ttm__top_state_key(&st, &m, TTM_TOP_KEY_ENTER, t, 10), TTM_TOP_ACT_REFRESH);
    assert_true(st.proc_open);
    assert_int_equal(st.proc_pid, 1005);
    layout(&m, &st, 100, 30, &f);
    assert_int_equal(find_line(&f, "PROCESS 1005  proc05  R  running"), 2);
    assert_int_equal(attr_at(&f, 2, 0), TTM_TOP_A_TITLE);
    assert_true(has(&f, "command  python3 -m app --tag abc"));
    assert_true(has(&f, "events 1234  dropped 0  anomalies 3  leaked 3 (3.00K)"));
    assert_true(has(&f, "BYTES BY DEVICE  2 devices"));
    /* pid 1005 (i = 5) is on devices 1 and 2 with 6 MiB of DRAM each, 1 KiB of L1 */
    int l1 = find_line(&f, "    1  6.00M  1.00K");
    int l2 = find_line(&f, "    2  6.00M  1.00K");
    int la = find_line(&f, "  all  12.0M  2.00K");
    if (!(l1 > 0 && l2 == l1 + 1 && la == l2 + 1))
        dump(&f);
    assert_true(l1 > 0 && l2 == l1 + 1 && la == l2 + 1);
    assert_true(has(&f, "Esc back"));
    /* keys of the views do nothing here; Esc goes back to the view, q still quits */
    assert_int_equal(ttm__top_state_key(&st, &m, 'v', t, 10), TTM_TOP_ACT_NONE);
    assert_int_equal(st.view, TTM_TOP_VIEW_DEVICES);
    assert_int_equal(ttm__top_state_key(&st, &m, 'q', t, 10), TTM_TOP_ACT_QUIT);
    assert_int_equal(ttm__top_state_key(&st, &m, TTM_TOP_KEY_ESC, t, 10), TTM_TOP_ACT_REDRAW);
    assert_false(st.proc_open);
    layout(&m, &st, 100, 30, &f);
    assert_true(has(&f, "PROCESSES 6"));
    assert_true(sel_is(&f, 1005));
    /* Backspace and Left go back too; a process without a command line says N/A */
    ttm__top_state_key(&st, &m, TTM_TOP_KEY_DOWN, t, 10);
    ttm__top_state_key(&st, &m, TTM_TOP_KEY_ENTER, t, 10);
    assert_int_equal(st.proc_pid, 1004);
    layout(&m, &st, 100, 30, &f);
    assert_true(has(&f, "command  N/A (the daemon does not know it)"));
    int cl = find_line(&f, "command  N/A");
    assert_int_equal(attr_at(&f, cl, 9), TTM_TOP_A_NA);
    ttm__top_state_key(&st, &m, TTM_TOP_KEY_BACKSPACE, t, 10);
    assert_false(st.proc_open);
    ttm__top_state_key(&st, &m, TTM_TOP_KEY_ENTER, t, 10);
    ttm__top_state_key(&st, &m, TTM_TOP_KEY_LEFT, t, 10);
    assert_false(st.proc_open);
    /* a process that is no longer reported */
    ttm__top_state_key(&st, &m, TTM_TOP_KEY_ENTER, t, 10);
    feed(&m, make_snap(4, 2, 1), NULL, 0, 2 * SEC);
    layout(&m, &st, 100, 30, &f);
    assert_true(has(&f, "PROCESS 1004"));
    assert_true(has(&f, "this process is no longer reported"));
    /* a TT-Metal counters-only process: no command line, no counters */
    ttm_ttshm_region r;
    make_region(&r, 5, 4242);
    feed(&m, make_snap(1, 0, 0), &r, 1, 3 * SEC);
    st.proc_src = TTM_TOP_SRC_SHM;
    st.proc_pid = 4242;
    layout(&m, &st, 100, 30, &f);
    assert_true(has(&f, "PROCESS 4242  tt-metal-app  C  TT-Metal counters only"));
    assert_true(has(&f, "command  N/A (TT-Metal's regions have no command line)"));
    assert_true(has(&f, "events, anomalies, leaks N/A"));
    assert_true(has(&f, "   s5  2.00G  1.00M     0B"));
    /* every size of the process view lays out, to the smallest */
    for (int w = TTM_TOP_MIN_WIDTH; w <= 200; w += 65)
        for (int h = TTM_TOP_MIN_HEIGHT; h <= 60; h += 22) {
            layout(&m, &st, w, h, &f);
            assert_int_equal((int)f.nlines, h);
        }
    ttm__top_frame_free(&f);
    ttm__top_model_free(&m);
}

/* The process view's sites: the snapshot's PROCSITES rows of its pid, largest first, with
 * share, memtypes and the frames symbolized (the model's cache); scrolled; the states. */
static void test_process_view_sites(void **state)
{
    (void)state;
    ttm_top_model m;
    ttm__top_model_init(&m, "testhost", "/s", "/dev/shm");
    ttm_top_state st;
    ttm__top_state_init(&st, 1000);
    st.proc_open = true;
    st.proc_pid = 1005;
    ttm_top_frame f = {0};
    /* a daemon that sends no PROCSITES (an older one, or before the first answer with it) */
    feed(&m, make_snap(4, 6, 3), NULL, 0, SEC);
    layout(&m, &st, 120, 40, &f);
    assert_true(has(&f, "waiting for the daemon's call sites of this process"));
    /* pid 1005 holds 36 MiB: a site of 9 MiB (DRAM 6 + L1 3), one of 1 MiB without a stack;
     * pid 1004's site is not its */
    ttm_report *s = make_snap(4, 6, 3);
    s->sections |= TTM_SNAP_BIT(TTM_SNAP_SEC_PROCSITES);
    s->nproc_sites = 12;
    s->proc_sites = ttm__xcalloc(12, sizeof *s->proc_sites);
    s->proc_sites[0] = (ttm_proc_site){.pid = 1004, .stack = 9, .count = 1, .bytes = 5 * MIB};
    s->proc_sites[1] = (ttm_proc_site){.pid = 1005, .stack = 7, .count = 3, .bytes = 9 * MIB};
    s->proc_sites[1].mem_bytes[TTM_MEM_DRAM] = 6 * MIB;
    s->proc_sites[1].mem_bytes[TTM_MEM_L1] = 3 * MIB;
    s->proc_sites[2] = (ttm_proc_site){.pid = 1005, .stack = 0, .count = 1, .bytes = MIB};
    s->proc_sites[2].mem_bytes[TTM_MEM_TRACE] = MIB;
    for (unsigned i = 3; i < 12; i++) /* more sites than a small terminal shows */
        s->proc_sites[i] = (ttm_proc_site){.pid = 1005, .stack = 100 + i, .count = 1,
                                           .bytes = 1024 - i};
    feed(&m, s, NULL, 0, 2 * SEC);
    static const char *const frames[] = {"hold_big (/src/app.c:44) [app]", "main (/src/app.c:60) [app]"};
    m.site_text = ttm__xcalloc(1, sizeof *m.site_text);
    m.cap_site_text = m.nsite_text = 1;
    m.site_text[0].stack = 7;
    m.site_text[0].nframes = 2;
    for (unsigned k = 0; k < 2; k++)
        m.site_text[0].frames[k] = ttm__xstrdup(frames[k]);
    layout(&m, &st, 120, 60, &f);
    int l = find_line(&f, "LIVE ALLOCATION SITES  11 sites of pid 1005, bytes by allocation stack");
    if (l < 0)
        dump(&f);
    assert_true(l > find_line(&f, "BYTES BY DEVICE"));
    assert_true(has(&f, "     bytes  buffers  share  memtypes       allocated at"));
    assert_int_equal(find_line(&f, "  9.00 MiB        3  25.0%  DRAM+L1        hold_big (/src/app.c:44) [app]"),
                     l + 2);
    assert_int_equal(find_line(&f, "<- main (/src/app.c:60) [app]"), l + 3);
    assert_int_equal(find_line(&f, "  1.00 MiB        1   2.8%  TRACE          (no call stack"), l + 4);
    assert_true(has(&f, "(stack not in the snapshot)"));
    assert_false(has(&f, "5.00 MiB        1")); /* pid 1004's */
    /* a small terminal scrolls the list: from the third site */
    st.scroll = 2;
    layout(&m, &st, 100, 24, &f);
    assert_int_equal(f.scroll, 2);
    assert_true(f.scroll_max > 2);
    assert_false(has(&f, "hold_big"));
    assert_true(has(&f, "(stack not in the snapshot)"));
    st.scroll = 1000;
    layout(&m, &st, 100, 24, &f);
    assert_int_equal(f.scroll, f.scroll_max);
    /* a process without live buffers */
    st.scroll = 0;
    st.proc_pid = 1001;
    layout(&m, &st, 120, 60, &f);
    assert_true(has(&f, "LIVE ALLOCATION SITES  0 sites of pid 1001"));
    assert_true(has(&f, "  no live buffers"));
    ttm__top_frame_free(&f);
    ttm__top_model_free(&m);
}

/* The COMMAND column: last, in the width left, cut with "...", N/A when unknown. */
static void test_command_column(void **state)
{
    (void)state;
    ttm_top_model m;
    ttm__top_model_init(&m, "testhost", "/s", "/dev/shm");
    ttm_report *s = make_snap(2, 3, 1);
    s->procs[2].cmdline = ttm__xstrdup("python3 -m pytest tests/ops/test_matmul.py -k "
                                       "'bf16 and not slow' --tag abcdefghijklmnopqrstuvwxyz");
    s->procs[1].cmdline = ttm__xstrdup("./app --short");
    feed(&m, s, NULL, 0, SEC);
    ttm_top_state st;
    ttm__top_state_init(&st, 1000);
    st.view = TTM_TOP_VIEW_PROCESSES;
    st.sel_set = true; /* the selection bar on another row than the ones checked */
    st.sel_pid = 1001;
    ttm_top_frame f = {0};
    for (int w = 80; w <= 200; w += 40) {
        layout(&m, &st, w, 24, &f);
        int hl = find_line(&f, "COMMAND");
        if (hl <= 0)
            dump(&f);
        assert_true(hl > 0);
        const char *head = ttm__top_frame_line(&f, (size_t)hl);
        int cx = (int)(strstr(head, "COMMAND") - head);
        assert_true(cx > (int)(strstr(head, "ANOM") - head)); /* last */
        int ll = find_line(&f, " 1002 ");
        const char *row = ttm__top_frame_line(&f, (size_t)ll);
        int cw = w - cx;
        assert_memory_equal(row + cx, "python3 -m pytest", (size_t)(cw - 3 < 17 ? cw - 3 : 17));
        if (w < 200) {
            assert_memory_equal(row + w - 3, "...", 3);
            assert_int_equal(attr_at(&f, ll, w - 1), TTM_TOP_A_DIM);
        }
        assert_true(strstr(ttm__top_frame_line(&f, (size_t)find_line(&f, " 1001 ")),
                           cw >= 13 ? "./app --short" : "./app ") != NULL);
        int nl = find_line(&f, " 1000 ");
        assert_memory_equal(ttm__top_frame_line(&f, (size_t)nl) + cx, "N/A", 3);
        assert_int_equal(attr_at(&f, nl, cx), TTM_TOP_A_NA);
    }
    ttm__top_frame_free(&f);
    ttm__top_model_free(&m);
}

static void test_names(void **state)
{
    (void)state;
    ttm_top_view v;
    ttm_top_col c;
    assert_int_equal(ttm__top_view_parse("Diagnosis", &v), TTM_OK);
    assert_int_equal(v, TTM_TOP_VIEW_DIAGNOSIS);
    assert_int_equal(ttm__top_view_parse("nope", &v), TTM_EINVAL);
    assert_int_equal(ttm__top_col_parse("L1_SMALL", &c), TTM_OK);
    assert_int_equal(c, TTM_TOP_COL_L1_SMALL);
    assert_int_equal(ttm__top_col_parse("anom", &c), TTM_OK);
    assert_int_equal(c, TTM_TOP_COL_ANOM);
    assert_int_equal(ttm__top_col_parse(NULL, &c), TTM_EINVAL);
    assert_string_equal(ttm__top_col_name(TTM_TOP_COL_KERNEL), "kernel");
    assert_string_equal(ttm__top_view_name(TTM_TOP_VIEW__COUNT), "?");
    char buf[TTM_FMT_LEN];
    assert_string_equal(ttm__top_fmt_short(buf, 512), "512B");
    assert_string_equal(ttm__top_fmt_short(buf, 12 * GIB), "12.0G");
    assert_string_equal(ttm__top_fmt_short(buf, 1023 * 1024 + 1000), "1024K"); /* never 6 characters */
    assert_string_equal(ttm__top_fmt_short(buf, (uint64_t)(9.999 * 1024)), "10.0K");
    ttm__top_frame_free(NULL);
    ttm__top_model_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_80x24),
        cmocka_unit_test(test_200x60),
        cmocka_unit_test(test_galaxy_32_devices),
        cmocka_unit_test(test_sort_every_column),
        cmocka_unit_test(test_sort_na_last),
        cmocka_unit_test(test_filter),
        cmocka_unit_test(test_too_small),
        cmocka_unit_test(test_stale_and_reconnect),
        cmocka_unit_test(test_nothing_to_monitor),
        cmocka_unit_test(test_na_values),
        cmocka_unit_test(test_colour_thresholds),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_history),
        cmocka_unit_test(test_unbounded_once),
        cmocka_unit_test(test_every_view_and_size),
        cmocka_unit_test(test_allocation_failure),
        cmocka_unit_test(test_key_table_dispatch),
        cmocka_unit_test(test_key_table_unique),
        cmocka_unit_test(test_key_table_help),
        cmocka_unit_test(test_key_table_docs),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_selection),
        cmocka_unit_test(test_selection_scrolls),
        cmocka_unit_test(test_process_view),
        cmocka_unit_test(test_process_view_sites),
        cmocka_unit_test(test_command_column),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
