/*
 * test_proc.c — the daemon's process table (src/daemon/proc.c) without sockets: connections
 * of two transports attached to one process, who applies an exit (the last connection that
 * held it, once, with one log line), a process released while it runs and settled when it is
 * found gone, and the bound on exited processes kept. Processes are real: children of the test
 * that run, or that exited and were reaped (so their pid is gone).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/log.c"
#include "daemon/loop.c"
#include "daemon/proc.c"
#include "daemon/journal_out.c" /* proc.c journals exits and forgets (off here) */
#include "daemon/report_fill.c" /* journal_out.c's DAEMON chunks */
#include "../integration/harness.c"

static char log_path[64];

static int setup(void **state)
{
    ttm_daemon *d = calloc(1, sizeof *d);
    assert_non_null(d);
    d->exit_epfd = -1;
    assert_int_equal(ttm_registry_open(&d->reg, &(ttm_registry_config){0}), TTM_OK);
    snprintf(log_path, sizeof log_path, "/tmp/test_proc.%d.log", (int)getpid());
    unlink(log_path);
    assert_int_equal(ttm__log_open(log_path), TTM_OK);
    ttm__log_level = TTM_LOG_DEBUG;
    *state = d;
    return 0;
}

static int teardown(void **state)
{
    ttm_daemon *d = *state;
    ttm__proc_table_free(d);
    ttm_registry_close(d->reg);
    ttm__log_open(NULL);
    unlink(log_path);
    free(d);
    return 0;
}

/* Lines of the log holding needle (the integration harness's counter). */
static int log_count(const char *needle)
{
    return it_count_lines(log_path, needle);
}

/* A pid that no longer exists: a child that exited and was reaped. */
static uint32_t gone_pid(void)
{
    pid_t c = fork();
    assert_true(c >= 0);
    if (c == 0)
        _exit(0);
    assert_int_equal(waitpid(c, NULL, 0), c);
    return (uint32_t)c;
}

/* A child that runs until killed. */
static pid_t running_child(void)
{
    pid_t c = fork();
    assert_true(c >= 0);
    if (c == 0) {
        pause();
        _exit(0);
    }
    return c;
}

static void alloc_one(ttm_daemon *d, uint32_t pid, uint64_t addr)
{
    ttm_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = TTM_EV_ALLOC;
    ev.memtype = TTM_MEM_DRAM;
    ev.addr = addr;
    ev.size = 4096;
    ev.ts = ttm__mono_ns();
    ttm_registry_apply(d->reg, pid, &ev);
}

static uint64_t leaked(ttm_daemon *d)
{
    ttm_totals t;
    ttm_registry_totals(d->reg, &t);
    return t.class_count[TTM_CLASS_LEAKED_AT_EXIT];
}

/* A native session and a legacy connection of one process: either holds it for the other;
 * a connection settling an exit counts only when settling ones are asked for. */
static void two_transports_hold(void **state)
{
    ttm_daemon *d = *state;
    uint32_t pid = (uint32_t)getpid();
    ttm_pconn native, legacy;
    ttm__pconn_init(&native, NULL);
    ttm__pconn_init(&legacy, NULL);
    ttm_dproc *p = ttm__proc_attach(d, &native, pid, 1000, "x");
    assert_non_null(p);
    assert_ptr_equal(ttm__proc_attach(d, &legacy, pid, 1000, ""), p);
    assert_int_equal(p->sessions_open, 2);
    assert_true(ttm__proc_held(d, pid, &native, false));
    assert_true(ttm__proc_held(d, pid, &legacy, false));
    native.settling = true;
    assert_false(ttm__proc_held(d, pid, &legacy, false));
    assert_true(ttm__proc_held(d, pid, &legacy, true));
    ttm__proc_detach(d, &native);
    assert_null(native.proc);
    assert_false(ttm__proc_held(d, pid, &legacy, true));
    assert_true(ttm__proc_held(d, pid, NULL, false));
    ttm__proc_detach(d, &legacy);
    ttm__proc_detach(d, &legacy); /* no-op */
    assert_int_equal(p->sessions_open, 0);
    assert_false(ttm__proc_held(d, pid, NULL, true));
}

/* The exit is applied by the last connection that held the process, once, with one line. */
static void exit_applied_once_by_the_last(void **state)
{
    ttm_daemon *d = *state;
    uint32_t pid = gone_pid();
    ttm_pconn a, b;
    ttm__pconn_init(&a, NULL);
    ttm__pconn_init(&b, NULL);
    assert_non_null(ttm__proc_attach(d, &a, pid, 1000, "gone"));
    assert_non_null(ttm__proc_attach(d, &b, pid, 1000, "gone"));
    alloc_one(d, pid, 0x1000);
    alloc_one(d, pid, 0x2000);
    /* b still holds it: not a's to apply */
    assert_true(ttm__proc_exit_step(d, &a, pid, SIZE_MAX, "first", false));
    assert_int_equal(leaked(d), 0);
    assert_false(ttm__proc_find(d, pid)->exited);
    ttm__proc_detach(d, &b);
    /* in steps of one record: begun, then carried on, then done */
    assert_false(ttm__proc_exit_step(d, &a, pid, 1, "last", false));
    assert_true(ttm__proc_exit_step(d, &a, pid, 1, "last", false));
    assert_int_equal(leaked(d), 2);
    assert_true(ttm__proc_find(d, pid)->exited);
    ttm__proc_detach(d, &a);
    ttm__log_open(log_path); /* flush */
    char want[96];
    snprintf(want, sizeof want, "pid %u (gone) exited (last): 0 events, 2 buffers (8192 bytes)",
             pid);
    assert_int_equal(log_count(want), 1);
    assert_int_equal(log_count("leaked at exit and reclaimed"), 1);
}

/* A legacy connection closes while its process runs: the buffers stay until the check finds
 * the process gone; a process gone at the close is settled at once. */
static void released_then_gone(void **state)
{
    ttm_daemon *d = *state;
    pid_t child = running_child();
    uint32_t pid = (uint32_t)child;
    ttm_pconn c;
    ttm__pconn_init(&c, NULL);
    assert_non_null(ttm__proc_attach(d, &c, pid, 1000, "runs"));
    alloc_one(d, pid, 0x3000);
    ttm__proc_detach(d, &c);
    ttm__proc_released(d, pid, "closed", true);
    ttm__proc_released(d, pid, "closed", true); /* watched once */
    assert_int_equal(d->nreleased, 1);
    ttm__proc_check_released(d);
    assert_int_equal(d->nreleased, 1);
    assert_int_equal(leaked(d), 0);
    assert_int_equal(kill(child, SIGKILL), 0);
    assert_int_equal(waitpid(child, NULL, 0), child);
    ttm__proc_check_released(d);
    assert_int_equal(d->nreleased, 0);
    assert_int_equal(leaked(d), 1);
    assert_true(ttm__proc_find(d, pid)->exited);

    uint32_t gone = gone_pid();
    assert_non_null(ttm__proc_attach(d, &c, gone, 1000, "g"));
    alloc_one(d, gone, 0x4000);
    ttm__proc_detach(d, &c);
    ttm__proc_released(d, gone, "closed", true);
    assert_int_equal(d->nreleased, 0);
    assert_int_equal(leaked(d), 2);
    ttm__log_open(log_path);
    assert_int_equal(log_count("gone after closing its legacy connection"), 1);
    assert_int_equal(log_count("exited (closed)"), 1);
}

/* At most --keep-exited exited processes stay; the others are counted. */
static void keep_exited_bound(void **state)
{
    ttm_daemon *d = *state;
    d->cfg.keep_exited = 2;
    for (int i = 0; i < 5; i++) {
        uint32_t pid = gone_pid();
        ttm_pconn c;
        ttm__pconn_init(&c, NULL);
        assert_non_null(ttm__proc_attach(d, &c, pid, 1000, "e"));
        ttm__proc_detach(d, &c);
        assert_true(ttm__proc_exit_step(d, NULL, pid, SIZE_MAX, "exited", false));
    }
    assert_int_equal(d->nprocs, 5);
    ttm__proc_trim(d);
    assert_int_equal(d->nprocs, 2);
    assert_int_equal(d->procs_dropped, 3);
}

/* The records of a turn are shared by the exits being settled, at least TTM_DAEMON_BUDGET. */
static void exit_records_share(void **state)
{
    (void)state;
    assert_int_equal(ttm__proc_exit_records(1), 32768);
    assert_int_equal(ttm__proc_exit_records(2), 16384);
    assert_int_equal(ttm__proc_exit_records(64), TTM_DAEMON_BUDGET);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(two_transports_hold, setup, teardown),
        cmocka_unit_test_setup_teardown(exit_applied_once_by_the_last, setup, teardown),
        cmocka_unit_test_setup_teardown(released_then_gone, setup, teardown),
        cmocka_unit_test_setup_teardown(keep_exited_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(exit_records_share, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
