/*
 * sites_main.c — the call-site test program (tests/cli/stacks.sh, stacks_live.sh): a leak, a
 * double free and an unknown free from functions of its own and the same three from the
 * shared library (sites_lib.c), each call on a line with its SITE marker (sites.h). Built
 * twice, with and without frame pointers.
 *
 *   ttm_sites          the six outcomes, the library's inside the scope "sites.lib", after the
 *                      phase marks "main" and "lib"; exits 0 when every call was reported
 *   ttm_sites hold     keeps live buffers from two sites (three of 1 MiB from hold_big, one
 *                      from main_leak), says "held" once the daemon has them all, and exits
 *                      when a line arrives on stdin
 */
#include <stdio.h>
#include <string.h>

#include "sites.h"

static SITES_NOINLINE int main_leak(void)
{
    int rc = ttm_buffer_alloc(0, TTM_MEM_DRAM, SITES_MAIN_BASE + SITES_LEAK, SITES_LEAK_SIZE, 0, 0); /* SITE:main_leak */
    return rc != 0;
}

static SITES_NOINLINE int main_double_free(void)
{
    uint64_t addr = SITES_MAIN_BASE + SITES_DOUBLE;
    int bad = ttm_buffer_alloc(0, TTM_MEM_DRAM, addr, SITES_DOUBLE_SIZE, addr, 0) != 0;
    bad += ttm_buffer_free(0, TTM_MEM_DRAM, addr, SITES_DOUBLE_SIZE, addr, 0) != 0; /* SITE:main_release */
    bad += ttm_buffer_free(0, TTM_MEM_DRAM, addr, SITES_DOUBLE_SIZE, addr, 0) != 0; /* SITE:main_double */
    return bad;
}

static SITES_NOINLINE int main_unknown_free(void)
{
    int rc = ttm_buffer_free(0, TTM_MEM_DRAM, SITES_MAIN_BASE + SITES_UNKNOWN, 0, 0, 0); /* SITE:main_unknown */
    return rc != 0;
}

/* Three live buffers of 1 MiB, one call site. */
static SITES_NOINLINE int hold_big(void)
{
    int bad = 0;
    for (uint64_t i = 0; i < 3; i++)
        bad += ttm_buffer_alloc(0, TTM_MEM_DRAM, SITES_MAIN_BASE + 0x100000 * (i + 1), 1u << 20, 0, 0) != 0; /* SITE:hold_big */
    return bad;
}

static int hold(void)
{
    int bad = hold_big() + main_leak();
    if (bad == 0 && ttm_client_flush(10000) != 0)
        bad++;
    printf("%s\n", bad ? "failed" : "held");
    fflush(stdout);
    (void)getchar(); /* a line, or the end of stdin */
    return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "hold") == 0)
        return hold();
    int bad = ttm_phase_mark("main") != 0;
    bad += main_leak();
    bad += main_double_free();
    bad += main_unknown_free();
    bad += ttm_phase_mark("lib") != 0;
    bad += ttm_scope_push("sites.lib") != 0;
    bad += lib_leak();
    bad += lib_double_free();
    bad += lib_unknown_free();
    bad += ttm_scope_pop() != 0;
    if (bad)
        fprintf(stderr, "ttm_sites: %d calls were not reported\n", bad);
    return bad ? 1 : 0;
}
