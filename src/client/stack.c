/*
 * stack.c — capture of call stacks (frame-pointer walk, the unwinder of unwind.h, the policy that
 * picks between them for an event) and their interning into stack ids; the contracts are in
 * stack.h, the measured costs in docs/CLIENT.md ("Stacks") and docs/BENCHMARKS.md.
 *
 * This file is built with -fno-omit-frame-pointer (CMakeLists.txt) so that the capture's own
 * frame is a well-formed link of the chain the walk starts from.
 */
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/side_writer.h"
#include "client/stack.h"
#include "common/hash.h"
#include "client/unwind.h"

#if defined(__aarch64__)
#define FP_ALIGN 16u
#else
#define FP_ALIGN ((uintptr_t)sizeof(uintptr_t))
#endif
#define FRAME_WORDS 2u /* saved frame pointer, return address */
/* Innermost frames inside libttmem that the capture may trim (ttm_* call chains are short). */
#define TRIM_MAX 16u

/* ---- the calling thread's stack bounds ---- */

static __thread uintptr_t t_stack_lo __attribute__((tls_model("initial-exec")));
static __thread uintptr_t t_stack_hi __attribute__((tls_model("initial-exec")));
static __thread bool t_stack_known __attribute__((tls_model("initial-exec")));

/* The calling thread's stack [*lo, return value), read once per thread; 0 when unknown (then
 * the frame-pointer walk records nothing). */
static uintptr_t thread_stack(uintptr_t *lo)
{
    if (__builtin_expect(t_stack_known, 1)) {
        *lo = t_stack_lo;
        return t_stack_hi;
    }
    pthread_attr_t attr;
    uintptr_t l = 0, hi = 0;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        void *addr = NULL;
        size_t size = 0;
        if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
            l = (uintptr_t)addr;
            hi = l + size;
        }
        pthread_attr_destroy(&attr);
    }
    t_stack_lo = l;
    t_stack_hi = hi;
    t_stack_known = true;
    *lo = l;
    return hi;
}

/* ---- libttmem's own text, for trimming ---- */

static pthread_once_t text_once = PTHREAD_ONCE_INIT;
static uintptr_t text_lo, text_hi; /* [lo, hi) of libttmem's executable segment; 0, 0 when
                                      libttmem is linked into the program itself */
static uintptr_t libc_lo, libc_hi; /* the C library's (libc.so.*), 0, 0 when not found: where
                                      the threads' and the program's start-up frames lie */

typedef struct text_find {
    uintptr_t addr;
    int index;
} text_find;

static int text_find_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    text_find *f = arg;
    int index = f->index++;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
        if (f->addr < lo || f->addr >= hi)
            continue;
        /* The first object dl_iterate_phdr reports is the program: trimming by text there
         * would trim the application's frames too. */
        if (index != 0) {
            text_lo = lo;
            text_hi = hi;
        }
        return 1;
    }
    return 0;
}

static int libc_find_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    (void)arg;
    const char *name = info->dlpi_name != NULL ? strrchr(info->dlpi_name, '/') : NULL;
    if (name == NULL || strncmp(name + 1, "libc.so", strlen("libc.so")) != 0)
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
            libc_lo = info->dlpi_addr + ph->p_vaddr;
            libc_hi = libc_lo + ph->p_memsz;
            return 1;
        }
    }
    return 0;
}

static void text_init(void)
{
    text_find f = {.addr = (uintptr_t)&ttm__stack_capture, .index = 0};
    dl_iterate_phdr(text_find_cb, &f);
    dl_iterate_phdr(libc_find_cb, NULL);
}

/* True when the frames tail[0..n) are start-up frames: in the C library, but for the
 * outermost one, which may be the program's _start. */
static bool startup_frames(const uintptr_t *tail, unsigned n)
{
    for (unsigned i = 0; i + 1 < n; i++)
        if (tail[i] < libc_lo || tail[i] >= libc_hi)
            return false;
    return libc_hi != 0;
}

/* ---- walkers ---- */

/* *whole: the chain ended as chains end (a null frame pointer or return address, or depth
 * reached), not at a link that broke a rule (code without frame pointers). */
static inline unsigned fp_walk(uintptr_t cur, uintptr_t lo, uintptr_t hi, uintptr_t *pcs,
                               unsigned depth, bool *whole)
{
    unsigned n = 0;
    *whole = false;
    if (hi < FRAME_WORDS * sizeof(uintptr_t))
        return 0;
    uintptr_t last = hi - FRAME_WORDS * sizeof(uintptr_t);
    while (n < depth) {
        if (cur == 0) {
            *whole = true;
            return n;
        }
        if (cur < lo || cur > last || (cur & (FP_ALIGN - 1)) != 0)
            return n;
        const uintptr_t *frame = (const uintptr_t *)cur;
        uintptr_t ret = frame[1];
        if (ret == 0) {
            *whole = true;
            return n;
        }
        pcs[n++] = ret;
        lo = cur + FRAME_WORDS * sizeof(uintptr_t); /* the next frame lies strictly above */
        cur = frame[0];
    }
    *whole = true;
    return n;
}

unsigned ttm__stack_fp_walk(const void *fp, uintptr_t lo, uintptr_t hi, uintptr_t *pcs,
                            unsigned depth)
{
    bool whole;
    return fp_walk((uintptr_t)fp, lo, hi, pcs, depth, &whole);
}

ttm__stack_walker ttm__stack_walker_default(void)
{
#if defined(__x86_64__) || defined(__aarch64__)
    return TTM__STACK_FP;
#else
    return TTM__STACK_UNWIND;
#endif
}

unsigned __attribute__((noinline)) ttm__stack_capture(uintptr_t *pcs, unsigned depth,
                                                      unsigned skip, ttm__stack_walker w)
{
    uintptr_t buf[TTM__STACK_DEPTH_MAX + TRIM_MAX + 8];
    if (depth > TTM__STACK_DEPTH_MAX)
        depth = TTM__STACK_DEPTH_MAX;
    if (depth == 0)
        return 0;
    pthread_once(&text_once, text_init);
    unsigned want = depth + skip + (text_hi != 0 ? TRIM_MAX : 0);
    if (want > sizeof buf / sizeof buf[0])
        want = sizeof buf / sizeof buf[0];
    unsigned n = 0;
    if (w == TTM__STACK_UNWIND) {
        n = ttm__unwind_capture(buf, want, 1); /* 1: this function's frame */
    } else {
        /* The walk reads only [own frame, top of the thread's stack): that range is mapped.
         * On a stack of another kind (a signal stack, a coroutine's) it records nothing, since
         * the memory between that stack and the thread's is not known to be. */
        uintptr_t fp = (uintptr_t)__builtin_frame_address(0), lo = 0;
        uintptr_t hi = thread_stack(&lo);
        bool whole;
        if (fp >= lo && fp < hi)
            n = fp_walk(fp, fp, hi, buf, want, &whole);
    }
    unsigned first = skip < n ? skip : n;
    while (first < n && buf[first] >= text_lo && buf[first] < text_hi)
        first++;
    n -= first;
    if (n > depth)
        n = depth;
    memcpy(pcs, buf + first, n * sizeof *pcs);
    return n;
}

/* ---- an event's stack: the walker policy ---- */

/* Return addresses where frame-pointer walks end, found by the unwinder to be followed only by
 * the thread's or the program's start-up frames (start_thread, __libc_start_call_main): a walk
 * ending at one of them is whole. A small set, filled at the first sight of each. */
#define TERMINAL_SLOTS 64u
#define TERMINAL_TAIL 3u /* at most this many frames after a terminal one */
/* libttmem's frames the unwinder reports before the application's return address (the
 * public call's and the capture's caller's; more only through unusual inlining). */
#define OWN_MAX 6u
static _Atomic uintptr_t terminal[TERMINAL_SLOTS];
static _Atomic uint64_t unwinds;

uint64_t ttm__stack_unwinds(void)
{
    return atomic_load_explicit(&unwinds, memory_order_relaxed);
}

static inline unsigned terminal_at(uintptr_t pc)
{
    return (unsigned)((pc * 0x9e3779b97f4a7c15ull) >> 58) & (TERMINAL_SLOTS - 1);
}

static bool terminal_known(uintptr_t pc)
{
    for (unsigned i = 0, at = terminal_at(pc); i < 8; i++, at = (at + 1) & (TERMINAL_SLOTS - 1)) {
        uintptr_t v = atomic_load_explicit(&terminal[at], memory_order_relaxed);
        if (v == pc)
            return true;
        if (v == 0)
            return false;
    }
    return false;
}

static void terminal_add(uintptr_t pc)
{
    for (unsigned i = 0, at = terminal_at(pc); i < 8; i++, at = (at + 1) & (TERMINAL_SLOTS - 1)) {
        uintptr_t v = 0;
        if (atomic_compare_exchange_strong(&terminal[at], &v, pc) || v == pc)
            return;
    }
}

static uint32_t lookup(ttm__stack_table *t, const uintptr_t *pcs, unsigned n);
static ttm__stack_table *process_table;

unsigned __attribute__((noinline)) ttm__stack_capture_at(uintptr_t *pcs, unsigned depth,
                                                         uintptr_t ret, const void *fp,
                                                         ttm__stack_walker w, uint32_t *id)
{
    if (id != NULL)
        *id = 0;
    if (depth > TTM__STACK_DEPTH_MAX)
        depth = TTM__STACK_DEPTH_MAX;
    if (depth == 0 || ret == 0)
        return 0;
    unsigned n = 0;
    bool whole = false;
    if (w != TTM__STACK_UNWIND) {
        /* From the public call's frame up to the top of the thread's stack: mapped memory,
         * when that frame lies between this function's own and the top. */
        uintptr_t f = (uintptr_t)fp, own = (uintptr_t)__builtin_frame_address(0), lo = 0;
        uintptr_t hi = thread_stack(&lo);
        if (own >= lo && f >= own && f < hi)
            n = fp_walk(f, f, hi, pcs, depth, &whole);
        if (w == TTM__STACK_FP)
            return n;
        /* Trusted without the unwinder: a walk that filled the depth, or one that ended at an
         * address the unwinder showed to be the outermost frame of a whole chain. A null link
         * alone proves nothing: code without frame pointers leaves any value in the register,
         * 0 included, so a short walk ending there may have skipped the rest of the stack. */
        if (n > 0 && pcs[0] == ret && (n == depth || terminal_known(pcs[n - 1]))) {
            /* A stack the process's table holds was validated (or confirmed by the unwinder)
             * when it was first seen: the same addresses need no second look at the modules. */
            uint32_t found = id != NULL ? lookup(__atomic_load_n(&process_table, __ATOMIC_ACQUIRE),
                                                 pcs, n)
                                        : 0;
            if (found != 0) {
                *id = found;
                return n;
            }
            if (ttm__side_pcs_known(pcs, n))
                return n;
        }
    }
    /* The unwinder, from here: this function's caller, then libttmem's public call, then the
     * application from ret on. */
    uintptr_t buf[TTM__STACK_DEPTH_MAX + OWN_MAX];
    unsigned cap = depth + OWN_MAX; /* no frame unwound beyond what can be kept */
    unsigned m = ttm__unwind_capture(buf, cap, 0);
    atomic_fetch_add_explicit(&unwinds, 1, memory_order_relaxed);
    unsigned first = 0;
    while (first < m && first < OWN_MAX && buf[first] != ret)
        first++;
    if (first >= m || buf[first] != ret)
        return 0; /* the application's frame is not where the unwinder went */
    unsigned got = m - first;
    bool complete = m < cap; /* the unwinder reached the stack's end */
    /* A walk the unwinder confirms is the stack kept (so a call site keeps one id whichever
     * walker captured it): a whole one, or one short of start-up frames only (start_thread
     * and clone3, libc's main glue and _start), whose last address is then terminal. */
    if (w == TTM__STACK_AUTO && n > 0 && got >= n &&
        memcmp(buf + first, pcs, n * sizeof *pcs) == 0) {
        if (whole && complete && got == n) {
            terminal_add(pcs[n - 1]); /* it was right: nothing lies beyond its last frame */
            return n;
        }
        pthread_once(&text_once, text_init);
        if (complete && got <= n + TERMINAL_TAIL && startup_frames(buf + first + n, got - n)) {
            terminal_add(pcs[n - 1]);
            return n;
        }
    }
    if (got > depth)
        got = depth;
    memcpy(pcs, buf + first, got * sizeof *pcs);
    return got;
}

/* ---- the intern table ---- */

typedef struct slot {
    _Atomic uint64_t key; /* the stack's hash, never 0; 0 while the slot is empty */
    uint32_t id;
    uint32_t off; /* into the arena, in addresses */
    uint32_t depth;
} slot;

struct ttm__stack_table {
    uint32_t max_stacks;
    uint32_t mask; /* slots - 1; slots >= 2 * max_stacks, a power of two */
    size_t arena_cap; /* in addresses */
    slot *slots;
    uintptr_t *arena;
    uint32_t *by_id; /* id - 1 -> slot index */
    _Atomic uint32_t count;
    _Atomic uint64_t full;
    size_t arena_used; /* under mu */
    pthread_mutex_t mu; /* inserts */
    /* the process's table: writes each new stack's record (side log) before its id is
     * published; false refuses the stack (counted in full) */
    ttm__stack_emit_fn emit;
};

ttm__stack_table *ttm__stack_table_new(uint32_t max_stacks, size_t arena_bytes)
{
    if (max_stacks == 0 || max_stacks > (1u << 30))
        return NULL;
    ttm__stack_table *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    uint32_t nslots = 2;
    while (nslots < 2 * max_stacks)
        nslots <<= 1;
    t->max_stacks = max_stacks;
    t->mask = nslots - 1;
    t->arena_cap = arena_bytes / sizeof(uintptr_t);
    if (t->arena_cap > UINT32_MAX)
        t->arena_cap = UINT32_MAX;
    t->slots = calloc(nslots, sizeof *t->slots);
    if (t->slots == NULL)
        goto out_free_table;
    t->arena = malloc(t->arena_cap ? t->arena_cap * sizeof *t->arena : 1);
    if (t->arena == NULL)
        goto out_free_slots;
    t->by_id = malloc((size_t)max_stacks * sizeof *t->by_id);
    if (t->by_id == NULL)
        goto out_free_arena;
    if (pthread_mutex_init(&t->mu, NULL) != 0)
        goto out_free_by_id;
    return t;
out_free_by_id:
    free(t->by_id);
out_free_arena:
    free(t->arena);
out_free_slots:
    free(t->slots);
out_free_table:
    free(t);
    return NULL;
}

void ttm__stack_table_free(ttm__stack_table *t)
{
    if (t == NULL)
        return;
    pthread_mutex_destroy(&t->mu);
    free(t->by_id);
    free(t->arena);
    free(t->slots);
    free(t);
}

static pthread_once_t process_once = PTHREAD_ONCE_INIT;

static void process_table_init(void)
{
    ttm__stack_table *t = ttm__stack_table_new(TTM__STACK_MAX_STACKS, TTM__STACK_ARENA_BYTES);
    ttm__stack_table_set_emit(t, ttm__side_stack);
    __atomic_store_n(&process_table, t, __ATOMIC_RELEASE);
}

ttm__stack_table *ttm__stack_table_process(void)
{
    pthread_once(&process_once, process_table_init);
    return process_table;
}

/* A 64-bit hash of the addresses, never 0: four independent multiply-add lanes (a serial
 * chain of multiplies cost ~1.5 ns per address), folded and finished with the
 * project's one mixing function (common/hash.h). */
static inline uint64_t stack_hash(const uintptr_t *pcs, unsigned n)
{
    const uint64_t k = 0x9e3779b97f4a7c15ull;
    /* four scalars, not an array: an array indexed in an inner loop was kept in memory, each
     * step waiting on the previous store (~1.5 ns per address instead of ~0.3) */
    uint64_t l0 = n, l1 = 0x243f6a8885a308d3ull, l2 = 0x13198a2e03707344ull,
             l3 = 0xa4093822299f31d0ull;
    unsigned i = 0;
    for (; i + 4 <= n; i += 4) {
        l0 = (l0 + (uint64_t)pcs[i]) * k;
        l1 = (l1 + (uint64_t)pcs[i + 1]) * k;
        l2 = (l2 + (uint64_t)pcs[i + 2]) * k;
        l3 = (l3 + (uint64_t)pcs[i + 3]) * k;
    }
    for (; i < n; i++)
        l0 = (l0 + (uint64_t)pcs[i]) * k;
    uint64_t h =
        l0 ^ ((l1 << 17) | (l1 >> 47)) ^ ((l2 << 31) | (l2 >> 33)) ^ ((l3 << 47) | (l3 >> 17));
    return ttm__mix64_nz(h);
}

/* The slot holding pcs, or the empty slot where it would go; NULL when neither is found in a
 * whole lap (cannot happen while the load stays under one half). */
static slot *probe(ttm__stack_table *t, uint64_t h, const uintptr_t *pcs, unsigned n)
{
    for (uint32_t i = 0, at = (uint32_t)h & t->mask; i <= t->mask; i++, at = (at + 1) & t->mask) {
        slot *s = &t->slots[at];
        uint64_t k = atomic_load_explicit(&s->key, memory_order_acquire);
        if (k == 0)
            return s;
        if (k == h && s->depth == n && memcmp(t->arena + s->off, pcs, n * sizeof *pcs) == 0)
            return s;
    }
    return NULL;
}

/* The id of pcs[0..n) when t holds it, else 0; no lock, no insert. */
static uint32_t lookup(ttm__stack_table *t, const uintptr_t *pcs, unsigned n)
{
    if (t == NULL || n == 0 || n > TTM__STACK_INTERN_MAX)
        return 0;
    slot *s = probe(t, stack_hash(pcs, n), pcs, n);
    return s != NULL && atomic_load_explicit(&s->key, memory_order_relaxed) != 0 ? s->id : 0;
}

uint32_t ttm__stack_intern(ttm__stack_table *t, const uintptr_t *pcs, unsigned n)
{
    if (t == NULL || n == 0 || n > TTM__STACK_INTERN_MAX)
        return 0;
    uint64_t h = stack_hash(pcs, n);
    slot *s = probe(t, h, pcs, n);
    if (s != NULL && atomic_load_explicit(&s->key, memory_order_relaxed) != 0)
        return s->id;
    uint32_t id = 0;
    pthread_mutex_lock(&t->mu);
    s = probe(t, h, pcs, n); /* another thread may have inserted it meanwhile */
    if (s != NULL && atomic_load_explicit(&s->key, memory_order_relaxed) != 0) {
        id = s->id;
        goto out_unlock;
    }
    uint32_t count = atomic_load_explicit(&t->count, memory_order_relaxed);
    if (s == NULL || count >= t->max_stacks || t->arena_used + n > t->arena_cap) {
        atomic_fetch_add_explicit(&t->full, 1, memory_order_relaxed);
        goto out_unlock;
    }
    id = count + 1;
    if (t->emit != NULL && !t->emit(id, pcs, n)) {
        atomic_fetch_add_explicit(&t->full, 1, memory_order_relaxed);
        id = 0;
        goto out_unlock;
    }
    memcpy(t->arena + t->arena_used, pcs, n * sizeof *pcs);
    s->id = id;
    s->off = (uint32_t)t->arena_used;
    s->depth = n;
    t->arena_used += n;
    t->by_id[count] = (uint32_t)(s - t->slots);
    atomic_store_explicit(&s->key, h, memory_order_release);
    atomic_store_explicit(&t->count, id, memory_order_release);
out_unlock:
    pthread_mutex_unlock(&t->mu);
    return id;
}

void ttm__stack_table_set_emit(ttm__stack_table *t, ttm__stack_emit_fn emit)
{
    if (t != NULL)
        t->emit = emit;
}

void ttm__stack_table_stats(ttm__stack_table *t, ttm__stack_stats *st)
{
    memset(st, 0, sizeof *st);
    if (t == NULL)
        return;
    pthread_mutex_lock(&t->mu);
    st->stacks = atomic_load(&t->count);
    st->arena_bytes = (uint64_t)t->arena_used * sizeof(uintptr_t);
    pthread_mutex_unlock(&t->mu);
    st->full = atomic_load(&t->full);
}

static ttm__stack_table *fork_locked; /* the table prepare locked (it may appear meanwhile) */

void ttm__stack_atfork_prepare(void)
{
    fork_locked = __atomic_load_n(&process_table, __ATOMIC_ACQUIRE);
    if (fork_locked != NULL)
        pthread_mutex_lock(&fork_locked->mu);
}

void ttm__stack_atfork_parent(void)
{
    if (fork_locked != NULL)
        pthread_mutex_unlock(&fork_locked->mu);
}

void ttm__stack_atfork_child(void)
{
    /* The table stays: the child's side log starts as a copy of its parent's, which holds
     * every stack the table does. */
    if (fork_locked != NULL)
        pthread_mutex_unlock(&fork_locked->mu);
}
