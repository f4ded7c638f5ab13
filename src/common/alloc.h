/*
 * alloc.h — the allocation wrappers every module uses.
 *
 * Library code calls ttm__malloc/ttm__calloc/ttm__realloc and returns TTM_ENOMEM when they fail;
 * programs call the ttm__x* forms, which print one line and exit on out-of-memory. A test hook
 * makes allocation number N fail, so tests can walk every failure path.
 */
#ifndef TTM_COMMON_ALLOC_H
#define TTM_COMMON_ALLOC_H

#include <stddef.h>

void *ttm__malloc(size_t n);
void *ttm__calloc(size_t count, size_t size);
/* Like realloc(); on failure the old block is untouched. Overflow of count*size fails. */
void *ttm__reallocarray(void *p, size_t count, size_t size);
void ttm__free(void *p);
/* Makes room for one more element in an array of *cap elements of size bytes that holds n:
 * returns arr itself while n < *cap, else the array doubled (first elements the first time)
 * with *cap updated; NULL when memory is short (arr and *cap unchanged). */
void *ttm__grow(void *arr, size_t *cap, size_t n, size_t size, size_t first);

/* Program forms: never return NULL. */
void *ttm__xmalloc(size_t n);
void *ttm__xcalloc(size_t count, size_t size);
void *ttm__xreallocarray(void *p, size_t count, size_t size);
char *ttm__xstrdup(const char *s);

/* Test hook: the n-th allocation from now (1-based) and every later one fail, until reset
 * with 0. Returns how many allocations were made since the last call (for "fail every N"). */
unsigned long ttm__alloc_fail_at(unsigned long n);

#endif /* TTM_COMMON_ALLOC_H */
