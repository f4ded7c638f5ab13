/*
 * clock.h — the one monotonic clock of the project (CLOCK_MONOTONIC, the clock clients stamp
 * events with and the daemon and CLI time their deadlines by), and deadlines on it for
 * pthread_cond_clockwait() and poll().
 *
 * The client's event timestamp (src/client/clock.c) is the TSC scaled to this clock's
 * nanoseconds; everything that is not on the event hot path calls these.
 */
#ifndef TTM_COMMON_CLOCK_H
#define TTM_COMMON_CLOCK_H

#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC in nanoseconds. */
static inline uint64_t ttm__mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CLOCK_MONOTONIC in milliseconds. */
static inline int64_t ttm__mono_ms(void)
{
    return (int64_t)(ttm__mono_ns() / 1000000u);
}

/* A CLOCK_MONOTONIC nanosecond count as a timespec. */
static inline struct timespec ttm__mono_ts(uint64_t ns)
{
    struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000u), .tv_nsec = (long)(ns % 1000000000u)};
    return ts;
}

/* The CLOCK_MONOTONIC moment ms milliseconds from now, as a timespec (ms >= 0). */
static inline struct timespec ttm__mono_deadline_ms(int64_t ms)
{
    return ttm__mono_ts(ttm__mono_ns() + (uint64_t)(ms < 0 ? 0 : ms) * 1000000u);
}

/* Milliseconds left until the deadline (a ttm__mono_ms() value) for poll(): 0 when past,
 * capped at INT32_MAX. */
static inline int ttm__ms_left(int64_t deadline_ms)
{
    int64_t left = deadline_ms - ttm__mono_ms();
    return left <= 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
}

#endif /* TTM_COMMON_CLOCK_H */
