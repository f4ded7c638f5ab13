/*
 * clock.c — the event timestamp, cheap enough for the producer's 30 ns budget.
 *
 * clock_gettime(CLOCK_MONOTONIC) through the vDSO costs about 20 ns on the reference machine
 * (docs/BENCHMARKS.md), two thirds of the budget; reading the TSC costs about 10 ns. Where the
 * kernel itself uses the TSC as its clocksource (so the TSC is invariant and synchronised across
 * CPUs), the timestamp is the TSC scaled to CLOCK_MONOTONIC nanoseconds:
 *
 *     ns = base_ns + ((tsc - base_tsc) * mult) >> 32
 *
 * The scale is measured, not assumed: the watcher thread takes a (CLOCK_MONOTONIC, TSC) pair
 * about once a second and derives mult from the last interval, so NTP slewing is followed.
 * Each new mapping starts where the old one is at that instant, or at the real clock if that is
 * later: the timestamp never goes backwards and never lags the real clock by more than one
 * interval's error. Until the first calibration (tens of milliseconds after the session starts),
 * and everywhere the TSC is not the kernel's clocksource, or with TTMEM_CLOCK=monotonic, the
 * timestamp is clock_gettime(CLOCK_MONOTONIC).
 *
 * Two mapping slots alternate; the writer (the watcher thread only) fills the slot not in use
 * and then publishes its index, so a reader always sees a complete mapping unless it stalls for
 * a whole calibration interval between two loads.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/client.h"
#include "common/clock.h"

#if defined(__x86_64__)
#include <x86intrin.h>
#define HAVE_TSC 1
#else
#define HAVE_TSC 0
#endif

typedef struct mapping {
    _Atomic uint64_t base_tsc;
    _Atomic uint64_t base_ns;
    _Atomic uint64_t mult; /* nanoseconds per TSC tick, 32.32 fixed point */
} mapping;

static mapping maps[2];
static _Atomic int map_idx = -1; /* -1: use clock_gettime */
/* Watcher-only state. */
static bool tsc_usable;
static uint64_t last_tsc, last_ns; /* the previous calibration pair */

static inline uint64_t read_tsc(void)
{
#if HAVE_TSC
    return __rdtsc();
#else
    return 0;
#endif
}

static uint64_t map_apply(const mapping *m, uint64_t tsc)
{
    uint64_t bt = atomic_load_explicit(&m->base_tsc, memory_order_relaxed);
    uint64_t bn = atomic_load_explicit(&m->base_ns, memory_order_relaxed);
    uint64_t mu = atomic_load_explicit(&m->mult, memory_order_relaxed);
    uint64_t d = tsc > bt ? tsc - bt : 0; /* another CPU's TSC a few ticks behind */
    return bn + (uint64_t)(((unsigned __int128)d * mu) >> 32);
}

uint64_t ttm__clock_now(void)
{
    int i = atomic_load_explicit(&map_idx, memory_order_acquire);
    if (__builtin_expect(i >= 0, 1))
        return map_apply(&maps[i], read_tsc());
    return ttm__mono_ns();
}

/* One (CLOCK_MONOTONIC, TSC) pair: the tightest of three tries, the TSC taken at the middle. */
static void take_pair(uint64_t *tsc, uint64_t *ns)
{
    uint64_t best = UINT64_MAX;
    *tsc = *ns = 0; /* the first round always replaces them; gcc -O3 cannot tell */
    for (int k = 0; k < 3; k++) {
        uint64_t t0 = read_tsc();
        uint64_t n = ttm__mono_ns();
        uint64_t t1 = read_tsc();
        if (t1 - t0 < best) {
            best = t1 - t0;
            *tsc = t0 + (t1 - t0) / 2;
            *ns = n;
        }
    }
}

static bool tsc_is_kernel_clocksource(void)
{
#if HAVE_TSC
    const char *env = getenv("TTMEM_CLOCK");
    if (env != NULL && strcmp(env, "monotonic") == 0)
        return false;
    FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "re");
    if (f == NULL)
        return false;
    char buf[32] = {0};
    bool ok = fgets(buf, sizeof buf, f) != NULL && strncmp(buf, "tsc", 3) == 0 &&
              (buf[3] == '\n' || buf[3] == '\0');
    fclose(f);
    return ok;
#else
    return false;
#endif
}

void ttm__clock_init(void)
{
    tsc_usable = tsc_is_kernel_clocksource();
    atomic_store_explicit(&map_idx, -1, memory_order_release);
    if (tsc_usable)
        take_pair(&last_tsc, &last_ns);
}

void ttm__clock_calibrate(void)
{
    if (!tsc_usable)
        return;
    uint64_t tsc, ns;
    take_pair(&tsc, &ns);
    if (tsc <= last_tsc || ns <= last_ns || ns - last_ns < 5000000)
        return; /* too short an interval to measure (or a TSC that went backwards) */
    uint64_t mult = (uint64_t)(((unsigned __int128)(ns - last_ns) << 32) / (tsc - last_tsc));
    if (mult == 0)
        return;
    int cur = atomic_load_explicit(&map_idx, memory_order_relaxed);
    uint64_t base_ns = ns;
    if (cur >= 0) {
        uint64_t predicted = map_apply(&maps[cur], tsc);
        if (predicted > base_ns)
            base_ns = predicted; /* never backwards */
    }
    int next = cur == 0 ? 1 : 0;
    atomic_store_explicit(&maps[next].base_tsc, tsc, memory_order_relaxed);
    atomic_store_explicit(&maps[next].base_ns, base_ns, memory_order_relaxed);
    atomic_store_explicit(&maps[next].mult, mult, memory_order_relaxed);
    atomic_store_explicit(&map_idx, next, memory_order_release);
    last_tsc = tsc;
    last_ns = ns;
}
