/*
 * stacks_nofp.h — bench_stacks's call chain built without frame pointers (stacks_nofp.c is
 * compiled with -fomit-frame-pointer, bench/CMakeLists.txt), as Debian 12's code is.
 */
#ifndef TTM_BENCH_STACKS_NOFP_H
#define TTM_BENCH_STACKS_NOFP_H

/* Recurses k frames deep through a function without a frame pointer, then calls leaf(arg). */
void ttm_bench_chain_nofp(unsigned k, void (*leaf)(void *arg), void *arg);

#endif /* TTM_BENCH_STACKS_NOFP_H */
