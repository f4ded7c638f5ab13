/*
 * hash.h — the project's one 64-bit mixing function, shared by the core's tables and
 * libttmem's (header-only: libttmem links none of the core).
 */
#ifndef TTM_COMMON_HASH_H
#define TTM_COMMON_HASH_H

#include <stdint.h>

/* The 64-bit finaliser of splitmix64: every bit of x moves every bit of the result. */
static inline uint64_t ttm__mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

/* ttm__mix64(x), never 0 (tables whose empty slots are 0 keep the hash as the key). */
static inline uint64_t ttm__mix64_nz(uint64_t x)
{
    uint64_t h = ttm__mix64(x);
    return h != 0 ? h : 1;
}

#endif /* TTM_COMMON_HASH_H */
