/*
 * fuzz_poctrace.c — the stack-trace log reader on arbitrary bytes: never crashes; every record
 * it reports is well formed (a kind, a 19-byte time, a memtype, at most TTM_POCTRACE_FRAMES
 * frames whose module, function, symbol and source file lie inside their text); and feeding
 * the same bytes in chunks of another size (from the first byte), pausing after every record
 * (ttm__poctrace_feed_part) and resuming, gives the same records and counters.
 */
#include <stdlib.h>
#include <string.h>

#include "common/event.h"
#include "common/poctrace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t ttm__fuzz_seeds(const uint8_t *const **seeds, const size_t **sizes);

typedef struct tally {
    uint64_t n, frames, sum; /* records, their frames, a digest of their fields */
    int pause;               /* the callback's return: 1 pauses the feed after each record */
} tally;

static int check(void *arg, const ttm_poctrace_record *rec)
{
    tally *t = arg;
    if (rec->kind != TTM_POCTRACE_ALLOC && rec->kind != TTM_POCTRACE_FREE)
        abort();
    if (strlen(rec->time) != 19 || rec->nframes > TTM_POCTRACE_FRAMES)
        abort();
    if (rec->memtype != TTM_MEM_ANY && !ttm__memtype_valid(rec->memtype))
        abort();
    if (rec->kind == TTM_POCTRACE_FREE && (rec->size != 0 || rec->memtype != TTM_MEM_ANY))
        abort();
    for (uint32_t i = 0; i < rec->nframes; i++) {
        const ttm_poctrace_frame *f = &rec->frames[i];
        size_t len = f->len;
        if (len >= sizeof f->text || f->text[len] != '\0' || f->module_len > len ||
            (size_t)f->func_off + f->func_len > len || (size_t)f->sym_off + f->sym_len > len ||
            (size_t)f->file_off + f->file_len > len || (f->line != 0) != (f->file_len != 0))
            abort();
        if (f->cut && (f->module_len || f->func_len || f->has_offset || f->has_addr))
            abort();
        t->sum = t->sum * 31 + len + f->offset + f->addr + f->line + f->sym_len;
    }
    t->n++;
    t->frames += rec->nframes;
    t->sum = t->sum * 31 + rec->number + rec->address + rec->size + (uint64_t)rec->device +
             rec->lineno + rec->pid;
    return t->pause;
}

static ttm_poctrace whole, chunked;

static void run(ttm_poctrace *r, tally *t, const uint8_t *data, size_t size, size_t chunk,
                int pause)
{
    memset(t, 0, sizeof *t);
    t->pause = pause;
    ttm__poctrace_init(r, check, t);
    for (size_t off = 0; off < size; off += chunk) {
        size_t n = off + chunk > size ? size - off : chunk, done = 0;
        while (done < n) {
            size_t used = 0;
            int rc = ttm__poctrace_feed_part(r, data + off + done, n - done, &used);
            if (rc != pause && rc != 0)
                abort();
            if (used > n - done || (rc == 0 && used != n - done))
                abort();
            done += used;
        }
    }
    if (ttm__poctrace_finish(r) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tally a, b;
    run(&whole, &a, data, size, size ? size : 1, 0);
    run(&chunked, &b, data, size, size ? (size_t)data[0] % 17 + 1 : 1, 1);
    const ttm_poctrace_stats *st = &whole.st;
    if (a.n != st->records || st->records != st->allocs + st->frees || a.frames != st->frames)
        abort();
    if (a.n != b.n || a.frames != b.frames || a.sum != b.sum ||
        memcmp(&whole.st, &chunked.st, sizeof whole.st) != 0)
        abort();
    return 0;
}

#define RULE "\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\n"
#define SEED(s)                                                                                    \
    {                                                                                              \
        (const uint8_t *)(s), sizeof(s) - 1                                                        \
    }
/* The demo client's own forms: its header, an allocation with demangled frames, a deallocation
 * (no number), backtrace_symbols' raw lines, CRLF line ends, a file cut in a block. */
static const struct {
    const uint8_t *p;
    size_t n;
} seed_table[] = {
    SEED("=== TT-Metal Buffer Allocation Stack Traces ===\nPID: 2685613\n\n" RULE
         "Allocation #0\nTime: 2025-10-14 09:31:07\nDevice: 0\nType: L1\n"
         "Size: 1048576 bytes (1024 KB)\nAddress: 0x1000000\nStack trace:\n"
         "  ./client : AllocationClientWithStackTrace::report_allocation(int, unsigned long, "
         "unsigned char, unsigned long)+0x5e\n  ./client : main+0x3c\n"
         "  /lib/x86_64-linux-gnu/libc.so.6 : +0x271ca\n\n"),
    SEED(RULE "Deallocation\nTime: 2025-10-14 09:31:08\nDevice: 0\nAddress: 0x1100000\n"
              "Stack trace:\n  ./client : main+0x5d\n\n"),
    SEED(RULE
         "Allocation #2\nTime: 2025-10-14 09:31:08\nDevice: 1\nType: UNKNOWN\n"
         "Size: 3000000 bytes (2929.69 KB)\nAddress: 0x2000000\nStack trace:\n"
         "  [0x7f3a2b4c5d6e]\n  /opt/lib/libtt_metal.so(_ZN2tt5guardEv-0x10) [0x7f3a2b000010]\n"
         "\n"),
    SEED("=== TT-Metal Buffer Allocation Stack Traces ===\r\nPID: 7\r\n\r\n" RULE
         "Allocation #5\r\nTime: 2025-10-14 09:31:07\r\nDevice: 3\r\nType: L1_SMALL\r\n"
         "Size: 64 bytes (0.0625 KB)\r\nAddress: 0x40\r\nStack trace:\r\n  m : f+0x1\r\n\r\n"),
    SEED(RULE "Allocation #9\nTime: 2025-10-14 09:31:07\nDevice: 0\nType: TRACE\nSize: 12"),
};
#define NSEEDS (sizeof seed_table / sizeof seed_table[0])
static const uint8_t *seed_ptrs[NSEEDS];
static size_t seed_lens[NSEEDS];

size_t ttm__fuzz_seeds(const uint8_t *const **seeds, const size_t **sizes)
{
    for (size_t i = 0; i < NSEEDS; i++) {
        seed_ptrs[i] = seed_table[i].p;
        seed_lens[i] = seed_table[i].n;
    }
    *seeds = seed_ptrs;
    *sizes = seed_lens;
    return NSEEDS;
}
