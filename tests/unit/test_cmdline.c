/*
 * test_cmdline.c — a process's command line from a journal (core/replay.c): the one the DAEMON
 * chunk's snapshot carried (PROCINFO) wins; a DAEMON chunk without PROCINFO (an older daemon's)
 * or no DAEMON chunk at all gives the one of the journal's PROC records; a process no record
 * gave one for has none (NULL). And the text rule itself (common/cmdline.h).
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

#include "common/alloc.h"
#include "common/bytes.h"
#include "common/cmdline.h"
#include "common/journal.h"
#include "common/snapshot.h"
#include "core/jtap.h"
#include "core/replay.h"
#include "core/report.h"
#include "ttmem/ttmem.h"

#define PID_ARGS 42u   /* its PROC record has a command line */
#define PID_BARE 43u   /* its PROC record has none */
static const char args42[] = "prog\0--tag\0abc def"; /* as /proc/PID/cmdline holds it */

static void test_text(void **state)
{
    (void)state;
    char *s = NULL;
    static const char raw[] = "a\0b c\0\x01x\x7f\0";
    assert_int_equal(ttm__cmdline_text(raw, sizeof raw - 1, &s), TTM_OK);
    assert_string_equal(s, "a b c ?x?");
    ttm__free(s);
    assert_int_equal(ttm__cmdline_text("\0\0", 2, &s), TTM_OK);
    assert_null(s);
    assert_int_equal(ttm__cmdline_text("", 0, &s), TTM_OK);
    assert_null(s);
    ttm__alloc_fail_at(1);
    int err = ttm__cmdline_text("x", 1, &s);
    ttm__alloc_fail_at(0);
    assert_int_equal(err, TTM_ENOMEM);
    assert_null(s);
}

/* How the journal's DAEMON chunk is made. */
typedef enum daemon_kind { NO_DAEMON, DAEMON_OLD, DAEMON_PROCINFO } daemon_kind;

static void write_journal(const char *path, daemon_kind kind)
{
    ttm_registry *reg = NULL;
    assert_int_equal(ttm_registry_open(&reg, NULL), TTM_OK);
    ttm_journal_writer *w = NULL;
    ttm_journal_opts o = {.block_size = 4096, .host = "hostA", .run_id = 9};
    assert_int_equal(ttm_journal_writer_open(path, -1, &o, &w), TTM_OK);
    ttm_jtap tap;
    assert_int_equal(ttm_jtap_open_run(&tap, reg, w, NULL, 0, "cmdline test"), TTM_OK);
    const uint32_t pids[] = {PID_ARGS, PID_BARE};
    for (size_t i = 0; i < 2; i++) {
        ttm_event ev;
        memset(&ev, 0, sizeof ev);
        ev.kind = TTM_EV_PROC_START;
        ev.ts = 1000 + i;
        (void)ttm_jtap_apply(&tap, pids[i], &ev);
        ttm_journal_proc p = {.state = TTM_JOURNAL_PROC_START, .pid = pids[i], .status = -1,
                              .ts = 1000 + i, .name = "prog"};
        if (pids[i] == PID_ARGS) {
            p.cmdline = args42;
            p.cmdline_len = sizeof args42; /* its last NUL too, as some writers keep it */
        }
        assert_int_equal(ttm_jtap_proc(&tap, &p), TTM_OK);
    }
    if (kind != NO_DAEMON) {
        /* the daemon's records as a snapshot of it holds them: both processes, each with a
         * command line of its own that only PROCINFO carries */
        ttm_report r;
        memset(&r, 0, sizeof r);
        r.schema_version = TTM_REPORT_SCHEMA_VERSION;
        r.sections = TTM_SNAP_BIT(TTM_SNAP_SEC_DAEMON) | TTM_SNAP_BIT(TTM_SNAP_SEC_PROCS);
        if (kind == DAEMON_PROCINFO)
            r.sections |= TTM_SNAP_BIT(TTM_SNAP_SEC_PROCINFO);
        ttm_report_proc procs[2];
        memset(procs, 0, sizeof procs);
        char c0[] = "daemon view --of 42", c1[] = "daemon view --of 43";
        procs[0].stats.pid = PID_ARGS;
        procs[0].cmdline = c0;
        procs[1].stats.pid = PID_BARE;
        procs[1].cmdline = c1;
        for (size_t i = 0; i < 2; i++) {
            procs[i].stats.alive = true;
            snprintf(procs[i].name, sizeof procs[i].name, "prog");
        }
        r.procs = procs;
        r.nprocs = 2;
        ttm_bytes chunk = {0};
        ttm_bw bw = ttm__bw_over(&chunk);
        ttm__bw_u32(&bw, 2u); /* the reason: the file closes */
        assert_int_equal(bw.err, TTM_OK);
        assert_int_equal(ttm_report_encode(&r, &chunk), TTM_OK);
        assert_int_equal(ttm_jtap_chunk(&tap, TTM_JOURNAL_CHUNK_DAEMON, 2000, chunk.data,
                                        chunk.len),
                         TTM_OK);
        ttm__bytes_free(&chunk);
    }
    assert_int_equal(ttm_jtap_close(&tap), TTM_OK);
    assert_int_equal(ttm_journal_writer_close(w), TTM_OK);
    ttm_registry_close(reg);
}

/* The command lines of the journal's report: [0] of PID_ARGS, [1] of PID_BARE (NULL: none). */
static void report_cmdlines(const char *path, char *out[2])
{
    ttm_replay *rp = NULL;
    char msg[256];
    const char *paths[] = {path};
    assert_int_equal(ttm_replay_open(&rp, paths, 1, msg, sizeof msg), TTM_OK);
    assert_int_equal(ttm_replay_run(rp, NULL, UINT64_MAX), TTM_OK);
    ttm_report r;
    ttm_report_options opt = {.top = 10, .sections = TTM_REPORT_SECTIONS};
    assert_int_equal(ttm_replay_report(rp, &opt, &r), TTM_OK);
    out[0] = out[1] = NULL;
    size_t found = 0;
    for (size_t k = 0; k < r.nprocs; k++) {
        size_t i = r.procs[k].stats.pid == PID_ARGS ? 0 : r.procs[k].stats.pid == PID_BARE ? 1 : 2;
        assert_true(i < 2);
        found++;
        out[i] = r.procs[k].cmdline;
        r.procs[k].cmdline = NULL;
    }
    assert_int_equal(found, 2);
    ttm_report_clear(&r);
    ttm_replay_close(rp);
}

static void check_kind(daemon_kind kind, const char *want42, const char *want43)
{
    char path[] = "/tmp/ttmem-cmdline-XXXXXX.ttmem";
    int fd = mkstemps(path, 6);
    assert_true(fd >= 0);
    close(fd);
    write_journal(path, kind);
    char *got[2];
    report_cmdlines(path, got);
    unlink(path);
    const char *want[2] = {want42, want43};
    for (size_t i = 0; i < 2; i++) {
        if (want[i] == NULL) {
            assert_null(got[i]);
        } else {
            assert_non_null(got[i]);
            assert_string_equal(got[i], want[i]);
        }
        ttm__free(got[i]);
    }
}

/* No DAEMON chunk (a journal cut before its end): the PROC records' command lines. */
static void test_proc_records(void **state)
{
    (void)state;
    check_kind(NO_DAEMON, "prog --tag abc def", NULL);
}

/* An older daemon's DAEMON chunk, without PROCINFO: the PROC records' command lines. */
static void test_daemon_without_procinfo(void **state)
{
    (void)state;
    check_kind(DAEMON_OLD, "prog --tag abc def", NULL);
}

/* A DAEMON chunk with PROCINFO: the daemon's view, for both processes. */
static void test_daemon_procinfo(void **state)
{
    (void)state;
    check_kind(DAEMON_PROCINFO, "daemon view --of 42", "daemon view --of 43");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_proc_records),
        cmocka_unit_test(test_daemon_without_procinfo),
        cmocka_unit_test(test_daemon_procinfo),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
