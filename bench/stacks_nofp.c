/*
 * stacks_nofp.c — a recursive call chain without frame pointers for bench_stacks (see
 * stacks_nofp.h): what the unwinders walk there is what they would walk in a Debian 12 process.
 */
#include "stacks_nofp.h"

static volatile unsigned sink;

__attribute__((noinline)) void ttm_bench_chain_nofp(unsigned k, void (*leaf)(void *arg), void *arg)
{
    if (k == 0)
        leaf(arg);
    else
        ttm_bench_chain_nofp(k - 1, leaf, arg);
    sink++; /* not a tail call */
}
