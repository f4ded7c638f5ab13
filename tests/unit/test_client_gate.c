/*
 * test_client_gate.c — the header's inline gate (ttmem.h): with tracking disabled, a call
 * through the header returns TTM_EDISABLED without entering libttmem's exported function; the
 * exported functions (what dlsym and ctypes users call) keep their own gate; with tracking
 * enabled every call reaches them.
 *
 * Each exported entry point is wrapped at link time (-Wl,--wrap, tests/CMakeLists.txt): the
 * wrapper counts the calls that entered it, then calls the real function. The gate word is
 * read once per process, so the enabled half runs in a forked child with TTMEM=1.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "ttmem/ttmem.h"

static int entered[6];
enum { E_ALLOC, E_FREE, E_DESCRIBE, E_MARK, E_PUSH, E_POP };

int __real_ttm_buffer_alloc(uint16_t, ttm_memtype, uint64_t, uint64_t, uint64_t, uint32_t);
int __wrap_ttm_buffer_alloc(uint16_t, ttm_memtype, uint64_t, uint64_t, uint64_t, uint32_t);
int __real_ttm_buffer_free(uint16_t, ttm_memtype, uint64_t, uint64_t, uint64_t, uint32_t);
int __wrap_ttm_buffer_free(uint16_t, ttm_memtype, uint64_t, uint64_t, uint64_t, uint32_t);
int __real_ttm_device_describe(uint16_t, ttm_arch, uint64_t, uint64_t);
int __wrap_ttm_device_describe(uint16_t, ttm_arch, uint64_t, uint64_t);
int __real_ttm_phase_mark(const char *);
int __wrap_ttm_phase_mark(const char *);
int __real_ttm_scope_push(const char *);
int __wrap_ttm_scope_push(const char *);
int __real_ttm_scope_pop(void);
int __wrap_ttm_scope_pop(void);

int __wrap_ttm_buffer_alloc(uint16_t d, ttm_memtype t, uint64_t a, uint64_t s, uint64_t o,
                            uint32_t f)
{
    entered[E_ALLOC]++;
    return __real_ttm_buffer_alloc(d, t, a, s, o, f);
}
int __wrap_ttm_buffer_free(uint16_t d, ttm_memtype t, uint64_t a, uint64_t s, uint64_t o,
                           uint32_t f)
{
    entered[E_FREE]++;
    return __real_ttm_buffer_free(d, t, a, s, o, f);
}
int __wrap_ttm_device_describe(uint16_t d, ttm_arch a, uint64_t dram, uint64_t l1)
{
    entered[E_DESCRIBE]++;
    return __real_ttm_device_describe(d, a, dram, l1);
}
int __wrap_ttm_phase_mark(const char *name)
{
    entered[E_MARK]++;
    return __real_ttm_phase_mark(name);
}
int __wrap_ttm_scope_push(const char *name)
{
    entered[E_PUSH]++;
    return __real_ttm_scope_push(name);
}
int __wrap_ttm_scope_pop(void)
{
    entered[E_POP]++;
    return __real_ttm_scope_pop();
}

/* One call of each through the header's gate; returns how many returned TTM_EDISABLED. */
static int call_all(void)
{
    int off = 0;
    off += ttm_buffer_alloc(0, TTM_MEM_DRAM, 0x1000, 64, 0, 0) == TTM_EDISABLED;
    off += ttm_buffer_free(0, TTM_MEM_DRAM, 0x1000, 64, 0, 0) == TTM_EDISABLED;
    off += ttm_device_describe(0, TTM_ARCH_WORMHOLE_B0, 0, 0) == TTM_EDISABLED;
    off += ttm_phase_mark("p") == TTM_EDISABLED;
    off += ttm_scope_push("s") == TTM_EDISABLED;
    off += ttm_scope_pop() == TTM_EDISABLED;
    return off;
}

static void test_disabled_no_call(void **state)
{
    (void)state;
    unsetenv("TTMEM");
    unsetenv("TT_ALLOC_TRACKING_ENABLED");
    assert_int_equal(ttm__gate_word, 0); /* not read yet */
    /* the first call enters (it reads the environment), every later one stays inline */
    assert_int_equal(call_all(), 6);
    assert_int_equal(ttm__gate_word, TTM__GATE_WORD_OFF);
    assert_int_equal(entered[E_ALLOC], 1);
    for (int i = 1; i < 6; i++)
        assert_int_equal(entered[i], 0);
    for (int k = 0; k < 1000; k++)
        assert_int_equal(call_all(), 6);
    assert_int_equal(entered[E_ALLOC], 1);
    for (int i = 1; i < 6; i++)
        assert_int_equal(entered[i], 0);
    /* the exported functions, called directly, are gated too */
    assert_int_equal((ttm_buffer_alloc)(0, TTM_MEM_DRAM, 0x1000, 64, 0, 0), TTM_EDISABLED);
    assert_int_equal((ttm_scope_pop)(), TTM_EDISABLED);
    int (*fn)(const char *) = &ttm_phase_mark;
    assert_int_equal(fn("q"), TTM_EDISABLED);
    assert_int_equal(entered[E_ALLOC], 2);
    assert_int_equal(entered[E_POP], 1);
    assert_int_equal(entered[E_MARK], 1);
}

static void quiet(int err, const char *msg, void *arg)
{
    (void)err;
    (void)msg;
    (void)arg;
}

static void test_enabled_calls(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("TTMEM", "1", 1);
        setenv("TTMEM_SOCKET", "/nonexistent/ttmemd.sock", 1);
        ttm_client_set_log(quiet, NULL); /* "no daemon" is expected */
        int bad = call_all(); /* none disabled: each reached libttmem */
        for (int i = 0; i < 6; i++)
            bad += entered[i] != 1;
        bad += ttm__gate_word == TTM__GATE_WORD_OFF;
        _exit(bad == 0 ? 0 : 1);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* the enabled half first: its child must not inherit a gate already read */
        cmocka_unit_test(test_enabled_calls),
        cmocka_unit_test(test_disabled_no_call),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
