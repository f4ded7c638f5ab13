/*
 * alloc.c — allocation wrappers with an allocation-failure test hook.
 */
#include "common/alloc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned long alloc_count;   /* allocations since the hook was last set */
static unsigned long alloc_fail_at; /* 0 = never fail */

static int should_fail(void)
{
    alloc_count++;
    return alloc_fail_at != 0 && alloc_count >= alloc_fail_at;
}

unsigned long ttm__alloc_fail_at(unsigned long n)
{
    unsigned long made = alloc_count;
    alloc_count = 0;
    alloc_fail_at = n;
    return made;
}

void *ttm__malloc(size_t n)
{
    if (should_fail())
        return NULL;
    return malloc(n ? n : 1);
}

void *ttm__calloc(size_t count, size_t size)
{
    if (should_fail())
        return NULL;
    return calloc(count ? count : 1, size ? size : 1);
}

void *ttm__reallocarray(void *p, size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size)
        return NULL;
    if (should_fail())
        return NULL;
    size_t n = count * size;
    return realloc(p, n != 0 ? n : 1);
}

void ttm__free(void *p)
{
    free(p);
}

static void *oom(size_t n)
{
    fprintf(stderr, "ttmem: out of memory allocating %zu bytes\n", n);
    exit(70);
}

void *ttm__xmalloc(size_t n)
{
    void *p = ttm__malloc(n);
    return p ? p : oom(n);
}

void *ttm__xcalloc(size_t count, size_t size)
{
    void *p = ttm__calloc(count, size);
    return p ? p : oom(count * size);
}

void *ttm__grow(void *arr, size_t *cap, size_t n, size_t size, size_t first)
{
    if (n < *cap)
        return arr;
    size_t ncap = *cap ? *cap * 2 : first;
    void *p = ncap > *cap ? ttm__reallocarray(arr, ncap, size) : NULL;
    if (p != NULL)
        *cap = ncap;
    return p;
}

void *ttm__xreallocarray(void *p, size_t count, size_t size)
{
    void *q = ttm__reallocarray(p, count, size);
    return q ? q : oom(count * size);
}

char *ttm__xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = ttm__xmalloc(n);
    memcpy(d, s, n);
    return d;
}
