/*
 * fuzz_ttshm_reap.c — ttm__ttshm_reap(), the one operation that writes into TT-Metal's
 * shared-memory regions (opt-in in the CLI), on a file holding arbitrary bytes: never crashes,
 * reaps at most one slot per process slot, fails only with TTM_EPROTO and a reason on a file
 * that stays whole, and only ever lowers the totals and the active count (saturating). Kept
 * apart from fuzz_ttshm (the parser) because each input costs a file rewrite and a mapping:
 * a few thousand inputs a second instead of tens of thousands. Its seeds are the regions
 * tests/integration/shm_writer.py writes (fuzz/corpus.sh).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/ttshm.h"
#include "common/util.h"
#include "ttmem/ttmem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One file, rewritten for every input, in a private directory removed at exit: in /dev/shm
 * (tmpfs, where the regions live) when it can be written, else in $TMPDIR or /tmp. */
static char region_dir[64], region_path[96];
static int region_fd = -1;

static void region_remove(void)
{
    if (region_fd >= 0)
        close(region_fd);
    unlink(region_path);
    rmdir(region_dir);
}

static void region_open(void)
{
    const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    snprintf(region_dir, sizeof region_dir, "%s/ttmem-fuzz-XXXXXX", tmp ? tmp : "/tmp");
    if (mkdtemp(region_dir) == NULL) {
        fprintf(stderr, "fuzz_ttshm: mkdtemp %s: %s\n", region_dir, strerror(errno));
        abort();
    }
    snprintf(region_path, sizeof region_path, "%s/tt_device_0_memory", region_dir);
    region_fd = open(region_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (region_fd < 0)
        abort();
    atexit(region_remove);
}

static void reap(const uint8_t *data, size_t size, const ttm_ttshm_region *before)
{
    if (region_fd < 0)
        region_open();
    if (ftruncate(region_fd, 0) != 0 ||
        (size > 0 && pwrite(region_fd, data, size, 0) != (ssize_t)size))
        abort();
    size_t reaped = 99;
    char why[160] = "";
    int err = ttm__ttshm_reap(region_path, &reaped, why, sizeof why);
    if (reaped > TTM_TTSHM_MAX_PROCS || (err != TTM_OK && (reaped != 0 || why[0] == '\0')))
        abort();
    if (err != TTM_OK && err != TTM_EPROTO)
        abort(); /* the file is ours and stays whole: no EPERM, no EIO */
    if (err != TTM_OK || before->state != TTM_TTSHM_OK)
        return;
    /* the totals at 48 (one u64 per counter of the layout), the active count at 4 */
    uint8_t head[48 + 8 * TTM_TTSHM_NCOUNTERS];
    if (pread(region_fd, head, sizeof head, 0) != (ssize_t)sizeof head)
        abort();
    if (ttm__le32(head + 4) > before->num_active_processes)
        abort();
    unsigned ntotals = before->version == 1 ? 6 : 5; /* the older layout adds KERNEL */
    for (unsigned c = 0; c < ntotals; c++)
        if (ttm__le64(head + 48 + 8 * c) > before->total[c])
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ttm_ttshm_region r; /* what the region said before reaping (fuzz_ttshm checks it) */
    memset(&r, 0, sizeof r);
    ttm__ttshm_parse(data, size, &r);
    reap(data, size, &r);
    return 0;
}
