/*
 * ttshm.c — reading (and, on request, reaping) TT-Metal's per-chip shared-memory regions.
 */
#include "common/ttshm.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/bytes.h"
#include "ttmem/ttmem.h"

/* The header every layout shares (little-endian, naturally aligned): version u32 @0,
 * num_active_processes u32 @4, last_update_timestamp u64 @8 (ns since epoch), reference_count
 * u32 @16, board_serial u64 @24, asic_id u64 @32, device_id i32 @40; then the totals, one u64
 * per counter. Version 4 adds init_state (u32) after the per-process slots. */
#define HEADER_SIZE 48u      /* what a region must hold before its version can mean anything */
#define TOTALS_OFF 48u
#define INIT_STATE_OFF 8536u /* version 4 only */

/* Offsets of one layout: versions 2..4 share one, version 1 (pre-release) has its own. */
typedef struct layout {
    size_t size;
    unsigned ntotals;     /* counters in the totals block at TOTALS_OFF */
    size_t chips_off, chip_size;
    size_t procs_off, proc_size;
    unsigned nproc_counters; /* counters after pid+pad */
    size_t proc_ts_off, proc_name_off;
} layout;

static const layout layout_v2 = {TTM_TTSHM_SIZE_V2, 5, 88, 48, 856, 120, 5, 48, 56};
static const layout layout_v1 = {TTM_TTSHM_SIZE_V1, 6, 96, 56, 992, 128, 6, 56, 64};

static const layout *layout_of(uint32_t version)
{
    if (version == 1)
        return &layout_v1;
    if (version >= 2 && version <= 4)
        return &layout_v2;
    return NULL;
}

static bool pid_alive(int32_t pid)
{
    if (pid <= 0)
        return false;
    return kill(pid, 0) == 0 || errno != ESRCH;
}

int ttm__ttshm_parse(const uint8_t *buf, size_t len, ttm_ttshm_region *out)
{
    out->state = TTM_TTSHM_INVALID;
    out->nchips = out->nprocs = out->ghosts = 0;
    if (len < HEADER_SIZE) {
        snprintf(out->why, sizeof out->why, "%zu bytes: too short for any layout", len);
        return TTM_OK;
    }
    out->version = ttm__le32(buf);
    const layout *l = layout_of(out->version);
    if (l == NULL) {
        snprintf(out->why, sizeof out->why, "unsupported layout version %u (known: 1 to 4)",
                 out->version);
        return TTM_OK;
    }
    if (len < l->size) {
        snprintf(out->why, sizeof out->why, "%zu bytes, version %u needs %zu (truncated?)", len,
                 out->version, l->size);
        return TTM_OK;
    }
    if (out->version == 4) {
        uint32_t init = ttm__le32(buf + INIT_STATE_OFF);
        if (init != TTM_TTSHM_READY) {
            out->state = TTM_TTSHM_NOT_READY;
            snprintf(out->why, sizeof out->why, "being initialised (init_state 0x%x)", init);
            return TTM_OK;
        }
    }
    out->num_active_processes = ttm__le32(buf + 4);
    out->last_update = ttm__le64(buf + 8);
    out->reference_count = ttm__le32(buf + 16);
    out->board_serial = ttm__le64(buf + 24);
    out->asic_id = ttm__le64(buf + 32);
    out->device_id = (int32_t)ttm__le32(buf + 40);
    memset(out->total, 0, sizeof out->total);
    for (unsigned c = 0; c < l->ntotals; c++)
        out->total[c] = ttm__le64(buf + TOTALS_OFF + 8 * c);

    for (size_t i = 0; i < TTM_TTSHM_MAX_CHIPS; i++) {
        const uint8_t *s = buf + l->chips_off + i * l->chip_size;
        ttm_ttshm_chip ch = {.chip_id = ttm__le32(s), .is_remote = ttm__le32(s + 4)};
        bool any = false;
        for (unsigned c = 0; c < l->ntotals; c++) {
            ch.bytes[c] = ttm__le64(s + 8 + 8 * c);
            any |= ch.bytes[c] != 0;
        }
        /* version 3 marks unused slots with 0xFFFFFFFF; versions 1 and 2 leave them zeroed */
        bool used = out->version == 3 || out->version == 4 ? ch.chip_id != 0xFFFFFFFFu
                                                           : (ch.chip_id != 0 || any);
        if (used)
            out->chips[out->nchips++] = ch;
    }

    for (size_t i = 0; i < TTM_TTSHM_MAX_PROCS; i++) {
        const uint8_t *s = buf + l->procs_off + i * l->proc_size;
        int32_t pid = (int32_t)ttm__le32(s);
        if (pid == 0)
            continue;
        ttm_ttshm_proc *p = &out->procs[out->nprocs++];
        memset(p, 0, sizeof *p);
        p->pid = pid;
        for (unsigned c = 0; c < l->nproc_counters; c++)
            p->bytes[c] = ttm__le64(s + 8 + 8 * c);
        p->last_update = ttm__le64(s + l->proc_ts_off);
        const uint8_t *name = s + l->proc_name_off;
        size_t k = 0;
        for (; k < sizeof p->name - 1 && name[k] != '\0'; k++)
            p->name[k] = (name[k] >= 0x20 && name[k] < 0x7f) ? (char)name[k] : '?';
        p->name[k] = '\0';
        p->alive = pid_alive(pid);
        if (!p->alive)
            out->ghosts++;
    }
    out->state = TTM_TTSHM_OK;
    out->why[0] = '\0';
    return TTM_OK;
}

/* "tt_device_<decimal>_memory" → id */
static bool region_name(const char *name, uint64_t *id)
{
    static const char pre[] = "tt_device_", suf[] = "_memory";
    size_t n = strlen(name);
    if (n <= sizeof pre - 1 + sizeof suf - 1 || strncmp(name, pre, sizeof pre - 1) != 0 ||
        strcmp(name + n - (sizeof suf - 1), suf) != 0)
        return false;
    const char *p = name + sizeof pre - 1, *end = name + n - (sizeof suf - 1);
    uint64_t v = 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *id = v;
    return true;
}

static void read_region(ttm_ttshm_region *r)
{
    uint8_t buf[TTM_TTSHM_SIZE_V1 + 64];
    int fd = open(r->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        r->state = TTM_TTSHM_INVALID;
        snprintf(r->why, sizeof r->why, "cannot open: %s", strerror(errno));
        return;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        r->state = TTM_TTSHM_INVALID;
        snprintf(r->why, sizeof r->why, "not a regular file");
        return;
    }
    size_t got = 0;
    while (got < sizeof buf) {
        ssize_t k = pread(fd, buf + got, sizeof buf - got, (off_t)got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    close(fd);
    ttm__ttshm_parse(buf, got, r);
}

/* A region file found in the directory, before it is read. */
typedef struct candidate {
    uint64_t id;
    char name[256];
} candidate;

/* Keeps the TTM_TTSHM_MAX_REGIONS lowest ids of the names seen, sorted; returns false when the
 * name was not kept (or pushed out the highest one kept: either way one is skipped). */
static bool keep_lowest(candidate *c, size_t *count, uint64_t id, const char *name)
{
    size_t n = *count;
    if (n == TTM_TTSHM_MAX_REGIONS && id >= c[n - 1].id)
        return false;
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c[mid].id <= id)
            lo = mid + 1;
        else
            hi = mid;
    }
    bool full = n == TTM_TTSHM_MAX_REGIONS;
    size_t move = (full ? n - 1 : n) - lo;
    memmove(&c[lo + 1], &c[lo], move * sizeof *c);
    c[lo].id = id;
    snprintf(c[lo].name, sizeof c[lo].name, "%s", name);
    if (!full)
        (*count)++;
    return !full;
}

int ttm__ttshm_scan_ex(const char *dir, ttm_ttshm_region **out, size_t *n,
                       ttm_ttshm_scan_stats *st)
{
    ttm_ttshm_scan_stats local;
    if (st == NULL)
        st = &local;
    memset(st, 0, sizeof *st);
    *out = NULL;
    *n = 0;
    if (dir == NULL)
        dir = TTM_TTSHM_DEFAULT_DIR;
    DIR *d = opendir(dir);
    if (d == NULL)
        return TTM_ENOENT;
    candidate *cand = ttm__calloc(TTM_TTSHM_MAX_REGIONS, sizeof *cand);
    if (cand == NULL) {
        closedir(d);
        return TTM_ENOMEM;
    }
    size_t count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (st->entries == TTM_TTSHM_MAX_ENTRIES) {
            st->entries_capped = true;
            break;
        }
        st->entries++;
        uint64_t id;
        if (!region_name(e->d_name, &id))
            continue;
        st->regions_found++;
        if (!keep_lowest(cand, &count, id, e->d_name))
            st->regions_skipped++;
    }
    closedir(d);
    ttm_ttshm_region *regions = count ? ttm__calloc(count, sizeof *regions) : NULL;
    if (count > 0 && regions == NULL) {
        ttm__free(cand);
        return TTM_ENOMEM;
    }
    for (size_t i = 0; i < count; i++) {
        ttm_ttshm_region *r = &regions[i];
        r->id = cand[i].id;
        int len = snprintf(r->path, sizeof r->path, "%s/%s", dir, cand[i].name);
        if (len < 0 || (size_t)len >= sizeof r->path) {
            r->state = TTM_TTSHM_INVALID;
            snprintf(r->why, sizeof r->why, "path too long under %.60s", dir);
            continue;
        }
        read_region(r);
    }
    ttm__free(cand);
    *out = regions;
    *n = count;
    return TTM_OK;
}

int ttm__ttshm_scan(const char *dir, ttm_ttshm_region **out, size_t *n)
{
    return ttm__ttshm_scan_ex(dir, out, n, NULL);
}

uint64_t ttm__ttshm_dram_usage(const uint64_t bytes[TTM_TTSHM_NCOUNTERS])
{
    return bytes[TTM_TTSHM_DRAM] + bytes[TTM_TTSHM_TRACE];
}

uint64_t ttm__ttshm_l1_usage(const uint64_t bytes[TTM_TTSHM_NCOUNTERS])
{
    return bytes[TTM_TTSHM_L1] + bytes[TTM_TTSHM_L1_SMALL] + bytes[TTM_TTSHM_CB] +
           bytes[TTM_TTSHM_KERNEL];
}

static void sub_saturating(uint64_t *p, uint64_t v)
{
    uint64_t cur = __atomic_load_n(p, __ATOMIC_RELAXED);
    for (;;) {
        uint64_t next = cur > v ? cur - v : 0;
        if (__atomic_compare_exchange_n(p, &cur, next, false, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED))
            return;
    }
}

/* Reaping writes through a shared mapping that the runtime may truncate under us: a SIGBUS
 * during the walk jumps back here instead of killing the caller. */
static __thread sigjmp_buf *reap_jmp;

static void reap_on_sigbus(int sig)
{
    if (reap_jmp != NULL)
        siglongjmp(*reap_jmp, 1);
    signal(sig, SIG_DFL);
    raise(sig);
}

int ttm__ttshm_reap(const char *path, size_t *reaped, char *why, size_t len)
{
    *reaped = 0;
    int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        int e = errno;
        snprintf(why, len, "cannot open %s for writing: %s", path, strerror(e));
        return e == EACCES || e == EPERM || e == EROFS ? TTM_EPERM : TTM_EIO;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size < HEADER_SIZE) {
        snprintf(why, len, "%s is not a TT-Metal memory region (too short)", path);
        close(fd);
        return TTM_EPROTO;
    }
    size_t size = (size_t)st.st_size;
    uint8_t *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED) {
        snprintf(why, len, "cannot map %s: %s", path, strerror(errno));
        return TTM_EIO;
    }
    struct sigaction guard = {.sa_handler = reap_on_sigbus}, saved;
    sigemptyset(&guard.sa_mask);
    sigaction(SIGBUS, &guard, &saved);
    sigjmp_buf jb;
    volatile int rc = TTM_OK;
    if (sigsetjmp(jb, 1) != 0) {
        snprintf(why, len, "%s was truncated while being reaped; run again", path);
        rc = TTM_EIO;
        goto out_unguard;
    }
    reap_jmp = &jb;
    uint32_t version = __atomic_load_n((uint32_t *)m, __ATOMIC_ACQUIRE);
    const layout *l = layout_of(version);
    if (l == NULL || size < l->size ||
        (version == 4 && __atomic_load_n((uint32_t *)(m + INIT_STATE_OFF), __ATOMIC_ACQUIRE) !=
                             TTM_TTSHM_READY)) {
        snprintf(why, len, "%s: not a ready TT-Metal memory region of a known layout", path);
        rc = TTM_EPROTO;
        goto out_unguard;
    }
    for (size_t i = 0; i < TTM_TTSHM_MAX_PROCS; i++) {
        uint8_t *s = m + l->procs_off + i * l->proc_size;
        int32_t pid = __atomic_load_n((int32_t *)s, __ATOMIC_ACQUIRE);
        if (pid == 0 || pid_alive(pid))
            continue;
        /* claim the slot first, so two reapers never subtract the same ghost twice */
        if (!__atomic_compare_exchange_n((int32_t *)s, &pid, 0, false, __ATOMIC_ACQ_REL,
                                         __ATOMIC_RELAXED))
            continue;
        for (unsigned c = 0; c < l->nproc_counters && c < l->ntotals; c++) {
            uint64_t *counter = (uint64_t *)(s + 8 + 8 * c);
            uint64_t v = __atomic_exchange_n(counter, 0, __ATOMIC_RELAXED);
            sub_saturating((uint64_t *)(m + TOTALS_OFF + 8 * c), v);
        }
        uint32_t *active = (uint32_t *)(m + 4);
        uint32_t cur = __atomic_load_n(active, __ATOMIC_RELAXED);
        while (cur > 0 && !__atomic_compare_exchange_n(active, &cur, cur - 1, false,
                                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            ;
        (*reaped)++;
    }
out_unguard:
    reap_jmp = NULL;
    sigaction(SIGBUS, &saved, NULL);
    munmap(m, size);
    return rc;
}
