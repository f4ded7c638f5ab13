/*
 * bench_util.h — what every benchmark here needs: clocks, comparators for medians, a line
 * naming the machine, and the 32-device × 64-process snapshot a Galaxy's daemon would send.
 */
#ifndef TTM_BENCH_UTIL_H
#define TTM_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/report.h"

/* CLOCK_MONOTONIC in nanoseconds, and in seconds. */
uint64_t ttm_bench_now_ns(void);
double ttm_bench_now_s(void);
/* qsort comparators, ascending. */
int ttm_bench_cmp_double(const void *a, const void *b);
int ttm_bench_cmp_u64(const void *a, const void *b);
/* The baseline of the in-memory benches: the ns a memcpy of n bytes from src into *dst takes
 * (*dst is allocated at the first call, n bytes; the caller frees it with ttm__free). */
uint64_t ttm_bench_copy_ns(uint8_t **dst, const void *src, size_t n);
/* Prints "machine: MODEL, N CPUs, Linux RELEASE". */
void ttm_bench_machine(void);
/* Fills *s (arrays from ttm__xcalloc; ttm_report_clear releases them) with the status
 * snapshot of ndev devices and nproc processes, every process holding every memtype on every
 * device and every class counted. */
void ttm_bench_galaxy_snapshot(ttm_report *s, unsigned ndev, unsigned nproc);

/* Starts `ttmemd --foreground --socket SOCK --ready-fd 3 --log-level warn EXTRA...` (dies
 * with the bench) and waits until it is ready. Returns its pid, or -1 with one line in err. */
pid_t ttm_bench_ttmemd_start(const char *ttmemd, const char *sock, const char *const *extra,
                             char *err, size_t errlen);
/* Fills ttmemd (len bytes) when it is "" (no --ttmemd PATH given) with the daemon built beside
 * the bench: DIR/../ttmemd, DIR being the bench binary's directory. Exits with one line when the
 * bench cannot find itself. */
void ttm_bench_find_ttmemd(char *ttmemd, size_t len);
/* Makes a fresh directory /tmp/ttmem-NAME.XXXXXX in dir (dlen bytes), its daemon socket
 * DIR/d.sock in sock and the query socket SOCK.query in query. Exits with one line on failure. */
void ttm_bench_private_paths(const char *name, char *dir, size_t dlen, char *sock, size_t slen,
                             char *query, size_t qlen);
/* Stops it with SIGTERM, waits, and removes its lock file and the directory dir. */
void ttm_bench_ttmemd_stop(pid_t pid, const char *sock, const char *dir);

#endif /* TTM_BENCH_UTIL_H */
