/*
 * ttshm.h — TT-Metal's native per-chip shared-memory counter regions
 * (/dev/shm/tt_device_<id>_memory), read without trusting them. User documentation:
 * docs/COMPAT.md, section 2.
 *
 * The runtime creates one region per chip (<id> decimal: the chip's unique id), O_CREAT|O_EXCL
 * with mode 0600, sized with ftruncate, mapped shared and never unlinked; it updates every
 * counter with relaxed atomics, frees subtract with a saturating compare-and-swap, and the CB
 * total is stored (last writer wins), not accumulated. TT_METAL_SHM_TRACKING_DISABLED=1 turns
 * the regions off. The layout of versions 2, 3 and 4 (little-endian, natural alignment,
 * 8,576 bytes):
 *
 *   @0     u32 version              @4   u32 num_active_processes
 *   @8     u64 last_update_timestamp (ns since the epoch)
 *   @16    u32 reference_count (processes attached)
 *   @24    u64 board_serial         @32  u64 asic_id      @40  i32 device_id (last attacher)
 *   @48    u64 totals: dram, l1, l1_small, trace, cb
 *   @88    chips[16], 48 bytes each: u32 chip_id @0 (versions 3 and 4: 0xFFFFFFFF = unused
 *          slot; version 2: 0), u32 is_remote @4, the five counters @8..@40
 *   @856   processes[64], 120 bytes each: i32 pid @0 (0 = free slot), the five counters
 *          @8..@40, u64 last_update_timestamp @48, char process_name[64] @56 (NUL-terminated,
 *          from /proc/PID/comm)
 *   @8536  u32 init_state, version 4 only: 0 uninitialised, 1 in progress, TTM_TTSHM_READY
 *
 * The older pre-release layout (version field 1, 9,280 bytes) has the same header to @48, six
 * totals (kernel @88 after cb), chips[16] of 56 bytes @96 and processes[64] of 128 bytes @992,
 * each with a kernel counter (in the process slot before the timestamp).
 *
 * A process claims a slot with a compare-and-swap of pid 0 -> its pid and, on a clean exit,
 * subtracts its own counters and clears the slot; the last process to detach resets the totals.
 * A process killed with SIGKILL leaves its slot and bytes behind (a "ghost").
 *
 * Regions are read with pread() into a private copy, never mapped, so a region truncated or
 * torn down under the reader cannot fault it; the copy is then validated (size for the
 * version, version, init_state for version 4). Counters are "counters only": bytes, no buffer
 * identity, and not necessarily consistent with each other.
 *
 * Reaping (opt-in, needs write access) is the one writing operation: the slots of processes
 * that no longer exist ("ghosts" left by SIGKILL) have their counters subtracted from the
 * totals with a saturating compare-and-swap, as the runtime does, and are cleared.
 */
#ifndef TTM_COMMON_TTSHM_H
#define TTM_COMMON_TTSHM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TTM_TTSHM_MAX_CHIPS 16
#define TTM_TTSHM_MAX_PROCS 64
#define TTM_TTSHM_SIZE_V2 8576u  /* versions 2, 3, 4 */
#define TTM_TTSHM_SIZE_V1 9280u  /* the older pre-release layout, version field 1 */
#define TTM_TTSHM_READY 0x52454459u
#define TTM_TTSHM_DEFAULT_DIR "/dev/shm"
/* What one scan may cost, whatever the directory holds (anyone may create files in /dev/shm):
 * at most TTM_TTSHM_MAX_ENTRIES directory entries are examined, and of the region files among
 * them at most TTM_TTSHM_MAX_REGIONS (those with the lowest ids) are opened and read. The rest
 * are counted in ttm_ttshm_scan_stats. */
#define TTM_TTSHM_MAX_ENTRIES 65536u
#define TTM_TTSHM_MAX_REGIONS 256u

typedef enum ttm_ttshm_counter {
    TTM_TTSHM_DRAM = 0,
    TTM_TTSHM_L1,
    TTM_TTSHM_L1_SMALL,
    TTM_TTSHM_TRACE,
    TTM_TTSHM_CB,
    TTM_TTSHM_KERNEL, /* only in the older layout */
    TTM_TTSHM_NCOUNTERS
} ttm_ttshm_counter;

typedef struct ttm_ttshm_chip {
    uint32_t chip_id;
    uint32_t is_remote;
    uint64_t bytes[TTM_TTSHM_NCOUNTERS];
} ttm_ttshm_chip;

typedef struct ttm_ttshm_proc {
    int32_t pid;
    bool alive;           /* kill(pid, 0) did not fail with ESRCH */
    uint64_t bytes[TTM_TTSHM_NCOUNTERS];
    uint64_t last_update; /* ns since epoch */
    char name[64];        /* NUL-terminated, sanitised to printable ASCII */
} ttm_ttshm_proc;

typedef enum ttm_ttshm_state {
    TTM_TTSHM_OK = 0,
    TTM_TTSHM_NOT_READY, /* version 4, init_state not ready yet: skip for now */
    TTM_TTSHM_INVALID,   /* wrong size or version: see why */
} ttm_ttshm_state;

typedef struct ttm_ttshm_region {
    char path[256];
    uint64_t id; /* from the file name */
    ttm_ttshm_state state;
    char why[128]; /* for INVALID and NOT_READY */
    uint32_t version;
    uint32_t num_active_processes;
    uint32_t reference_count;
    uint64_t last_update;
    uint64_t board_serial, asic_id;
    int32_t device_id;
    uint64_t total[TTM_TTSHM_NCOUNTERS];
    size_t nchips;
    ttm_ttshm_chip chips[TTM_TTSHM_MAX_CHIPS];
    size_t nprocs;
    ttm_ttshm_proc procs[TTM_TTSHM_MAX_PROCS];
    size_t ghosts; /* procs not alive */
} ttm_ttshm_region;

/* Validates and decodes len bytes of a region into *out (path and id left as they are).
 * Returns 0 with out->state set; never fails on bad bytes (they make the state INVALID). */
int ttm__ttshm_parse(const uint8_t *buf, size_t len, ttm_ttshm_region *out);

/* What a scan left out. */
typedef struct ttm_ttshm_scan_stats {
    size_t entries;         /* directory entries examined */
    bool entries_capped;    /* it stopped at TTM_TTSHM_MAX_ENTRIES: later entries unexamined */
    size_t regions_found;   /* region file names among the entries examined */
    size_t regions_skipped; /* of those, not read: beyond TTM_TTSHM_MAX_REGIONS (highest ids) */
} ttm_ttshm_scan_stats;

/* Reads the tt_device_<id>_memory files of dir (NULL: TTM_TTSHM_DEFAULT_DIR), within the
 * bounds above, sorted by id. *out receives a malloc'ed array the caller frees with ttm__free;
 * *n its length. Unreadable files and files that are not regular files are included as
 * INVALID with the reason. st (may be NULL) receives what was left out. Returns 0, TTM_ENOENT
 * (no such directory: that is the normal "no regions" case, *n = 0) or TTM_ENOMEM. */
int ttm__ttshm_scan_ex(const char *dir, ttm_ttshm_region **out, size_t *n,
                       ttm_ttshm_scan_stats *st);
/* ttm__ttshm_scan_ex without the statistics. */
int ttm__ttshm_scan(const char *dir, ttm_ttshm_region **out, size_t *n);

/* Device-level usage as the runtime's own monitor shows it: DRAM = dram + trace,
 * L1 = l1 + l1_small + cb (+ kernel in the older layout). */
uint64_t ttm__ttshm_dram_usage(const uint64_t bytes[TTM_TTSHM_NCOUNTERS]);
uint64_t ttm__ttshm_l1_usage(const uint64_t bytes[TTM_TTSHM_NCOUNTERS]);

/* Clears the slots of dead processes in the region at path, subtracting their counters from
 * the totals (saturating). *reaped receives how many. Returns 0, TTM_EPERM (no write access),
 * TTM_EPROTO (not a valid region) or TTM_EIO (also when the region is truncated while being
 * reaped: a SIGBUS handler is installed for the duration of the call and the previous one
 * restored); why (len bytes) gets one line on failure. */
int ttm__ttshm_reap(const char *path, size_t *reaped, char *why, size_t len);

#endif /* TTM_COMMON_TTSHM_H */
