/*
 * api.c — libttmem's public calls (ttmem.h, client section): the enable gate, the producer
 * hot path into the ring, call stacks and scopes, flush, statistics.
 *
 * Hot path, enabled: one acquire load of the ring pointer, a lock-free reservation (ring.h),
 * 60 bytes of stores, one release store of the slot's seq, and a doorbell check; the thread id
 * and the innermost scope id are thread-locals and the timestamp comes from clock.c. No lock,
 * no system call (except the doorbell on an empty -> non-empty transition while the daemon
 * sleeps). With stacks on, first the capture and a lock-free intern of a stack seen before
 * (stack.c). Disabled: one load and one predictable branch, inline in the caller (the header's
 * gate), or here for callers that reach the exported functions directly.
 *
 * Built with -fno-omit-frame-pointer (CMakeLists.txt): a public call's frame is the link from
 * which the frame-pointer walk starts, and its return address the stack's first entry.
 */
#define TTM_NO_INLINE_GATE /* this file defines the functions the header's gate calls */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "client/client.h"
#include "client/pystack.h"
#include "client/side_writer.h"
#include "client/stack.h"
#include "common/clock.h"
#include "common/event.h"
#include "common/ring.h"
#include "ttmem/ttmem.h"

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

int ttm__gate_word = TTM__GATE_UNKNOWN;

ttm__client ttm__g = {
    .session = TTM__SESS_NONE,
    .ring = NULL,
    .memfd = -1,
    .eventfd = -1,
    .sock = -1,
    .stall_tail = TTM__NO_STALL,
    .mu = PTHREAD_MUTEX_INITIALIZER,
};

__thread uint32_t ttm__t_tid __attribute__((tls_model("initial-exec")));

/* Call stacks: what (TTM_STACKS_* bits, 0 = off), native depth, walker. */
static _Atomic unsigned stacks_what;
static _Atomic unsigned stacks_depth = TTM__STACK_DEPTH_DEFAULT;
static _Atomic int stacks_walker = TTM__STACK_AUTO;
static _Atomic uint64_t stacks_dropped;
static ttm__stack_table *_Atomic stack_table;

/* Scopes: the innermost id, read by every event (initial-exec: one load), and the thread's
 * stack of them (touched by push and pop only). */
#define SCOPE_DEPTH_MAX 64
#define SCOPE_NAME_MAX 255
static __thread uint32_t t_scope_top __attribute__((tls_model("initial-exec")));
static __thread uint32_t t_scopes[SCOPE_DEPTH_MAX];
static __thread unsigned t_nscopes;

static bool env_is_on(const char *v)
{
    return v != NULL && (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0 ||
                         strcasecmp(v, "yes") == 0 || strcasecmp(v, "on") == 0);
}

static bool env_is_off(const char *v)
{
    return strcmp(v, "0") == 0 || strcasecmp(v, "false") == 0 || strcasecmp(v, "no") == 0 ||
           strcasecmp(v, "off") == 0;
}

/* TTMEM_STACKS, TTMEM_STACK_DEPTH, TTMEM_STACK_UNWINDER: read with the gate, when tracking is
 * on. A value that means nothing is said once (log callback) and the default used. */
static void stacks_from_env(void)
{
    const char *v = getenv("TTMEM_STACKS");
    unsigned what = 0;
    if (v != NULL && v[0] != '\0' && !env_is_off(v)) {
        if (env_is_on(v) || strcasecmp(v, "native") == 0)
            what = TTM_STACKS_NATIVE;
        else if (strcasecmp(v, "python") == 0)
            what = TTM_STACKS_NATIVE | TTM_STACKS_PYTHON;
        else
            ttm__client_log(TTM_EINVAL, "TTMEM_STACKS=%s is not 0, 1, native or python; call "
                            "stacks are off", v);
    }
    unsigned depth = TTM__STACK_DEPTH_DEFAULT;
    v = getenv("TTMEM_STACK_DEPTH");
    if (v != NULL && v[0] != '\0') {
        char *end = NULL;
        errno = 0;
        unsigned long d = strtoul(v, &end, 10);
        if (errno != 0 || end == v || *end != '\0' || v[0] == '-') {
            ttm__client_log(TTM_EINVAL, "TTMEM_STACK_DEPTH=%s is not a number; using %u", v,
                            depth);
        } else if (d > TTM__STACK_DEPTH_MAX) {
            ttm__client_log(TTM_ERANGE, "TTMEM_STACK_DEPTH=%s is over %u; using %u", v,
                            TTM__STACK_DEPTH_MAX, TTM__STACK_DEPTH_MAX);
            depth = TTM__STACK_DEPTH_MAX;
        } else if (d > 0) {
            depth = (unsigned)d;
        }
    }
    /* auto where frames are laid out as the walk expects (x86-64, aarch64), else the unwinder */
    int walker =
        ttm__stack_walker_default() == TTM__STACK_FP ? TTM__STACK_AUTO : TTM__STACK_UNWIND;
    v = getenv("TTMEM_STACK_UNWINDER");
    if (v != NULL && v[0] != '\0') {
        if (strcasecmp(v, "fp") == 0)
            walker = TTM__STACK_FP;
        else if (strcasecmp(v, "unwind") == 0)
            walker = TTM__STACK_UNWIND;
        else if (strcasecmp(v, "auto") != 0)
            ttm__client_log(TTM_EINVAL, "TTMEM_STACK_UNWINDER=%s is not auto, fp or unwind; "
                            "using auto", v);
    }
    atomic_store(&stacks_depth, depth);
    atomic_store(&stacks_walker, walker);
    atomic_store(&stacks_what, what);
}

/* Reads the environment once; concurrent first callers agree on the result. No lock (a fork
 * at any moment leaves nothing held): the first caller to claim the environment also reads the
 * stack settings, before it opens the gate; another first caller may open it a moment before
 * that, and its events then carry no stack, as if stacks had been switched on just after. */
static int __attribute__((noinline, cold)) gate_init(void)
{
    static _Atomic int env_claimed;
    int want = env_is_on(getenv("TTMEM")) || env_is_on(getenv("TT_ALLOC_TRACKING_ENABLED"))
                   ? TTM__GATE_ON
                   : TTM__GATE_OFF;
    int unclaimed = 0;
    if (want == TTM__GATE_ON && atomic_compare_exchange_strong(&env_claimed, &unclaimed, 1))
        stacks_from_env();
    int expected = TTM__GATE_UNKNOWN;
    __atomic_compare_exchange_n(&ttm__gate_word, &expected, want, false, __ATOMIC_RELEASE,
                                __ATOMIC_ACQUIRE);
    return __atomic_load_n(&ttm__gate_word, __ATOMIC_ACQUIRE);
}

/* The gate: TTM_EDISABLED after one branch when off. */
#define GATE_CHECK()                                                                             \
    do {                                                                                         \
        int g_ = __atomic_load_n(&ttm__gate_word, __ATOMIC_RELAXED);                             \
        if (g_ == TTM__GATE_OFF)                                                                 \
            return TTM_EDISABLED;                                                                \
        if (unlikely(g_ == TTM__GATE_UNKNOWN) && gate_init() != TTM__GATE_ON)                    \
            return TTM_EDISABLED;                                                                \
    } while (0)

static inline uint32_t my_tid(void)
{
    uint32_t t = ttm__t_tid;
    if (unlikely(t == 0)) {
        t = (uint32_t)gettid();
        ttm__t_tid = t;
    }
    return t;
}

static void sleep_ns(long ns)
{
    struct timespec ts = {.tv_sec = ns / 1000000000l, .tv_nsec = ns % 1000000000l};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Asks for the cache line of a slot a few positions ahead in exclusive state, so that its
 * write is an L1 hit by the time a producer gets there: the ring is larger than L2 and the
 * consumer on another core read the line a lap ago, and a locked CAS waits for the previous
 * event's stores to complete. Measured: see docs/BENCHMARKS.md. */
#define PREFETCH_AHEAD 8
static inline void prefetch_for_write(const void *p)
{
#if defined(__x86_64__)
    __asm__ volatile("prefetchw %0" : : "m"(*(const char *)p));
#else
    __builtin_prefetch(p, 1, 3);
#endif
}

/* Fills the reserved slot pos of ring h (n slots) with ev and commits it. */
static inline void fill_and_commit(ttm_ring_hdr *h, uint32_t n, uint64_t pos, bool bell,
                                   const ttm_event *ev)
{
    ttm_event *slots = ttm__ring_slots(h);
    ttm_event *slot = &slots[pos & (n - 1)];
    prefetch_for_write(&slots[(pos + PREFETCH_AHEAD) & (n - 1)]);
    /* Everything but seq, which is the commit and is stored last, atomically. */
    memcpy(slot, ev, offsetof(ttm_event, seq));
    memcpy((char *)slot + offsetof(ttm_event, ts), (const char *)ev + offsetof(ttm_event, ts),
           sizeof(ttm_event) - offsetof(ttm_event, ts));
    if (unlikely(ttm__ring_commit(h, slot, pos, bell)))
        ttm__client_doorbell();
}

/* wait_for_room()'s verdicts besides TTM_OK and TTM_EAGAIN: the ring was replaced (session.c
 * rebuilt it after the application closed its memfd); retry in the new one. */
#define RING_REPLACED 1

/* The ring is full. With a daemon attached: wait for room (spin, then sleep with a growing
 * period) for as long as the daemon makes progress on this ring (its tail moves, or its
 * consumer_beat while it holds the ring back behind an exit: ring.h); give up when it made none
 * for TTM__FULL_WAIT_NS. Without one: ask the session for one (a connection
 * attempt in progress, or one that could succeed now) and wait for it, bounded; drop only when
 * no daemon accepts the ring. A daemon that let a wait run out is stalled: until it consumes
 * again (tail moves), events that find the ring full are dropped at once, so a hung daemon
 * costs the application one bounded wait, not one per event. Returns 0 with *pos reserved,
 * RING_REPLACED, or TTM_EAGAIN (dropped, counted in the ring). */
static int __attribute__((noinline, cold)) wait_for_room(ttm_ring_hdr *h, uint64_t *pos,
                                                         bool *bell)
{
    bool counted = false;
    for (;;) {
        if (atomic_load_explicit(&ttm__g.ring, memory_order_acquire) != h)
            return RING_REPLACED;
        if (ttm__ring_reserve(h, ttm__g.nslots, &h->tail_cache, pos, bell))
            return TTM_OK;
        if (!atomic_load_explicit(&ttm__g.connected, memory_order_acquire)) {
            if (!ttm__session_await_daemon())
                goto out_drop;
            continue;
        }
        uint64_t stall = atomic_load_explicit(&ttm__g.stall_tail, memory_order_relaxed);
        if (stall != TTM__NO_STALL) {
            if (atomic_load_explicit(&h->tail, memory_order_relaxed) == stall)
                goto out_drop;
            atomic_store_explicit(&ttm__g.stall_tail, TTM__NO_STALL, memory_order_relaxed);
        }
        if (!counted) {
            atomic_fetch_add_explicit(&h->waited, 1, memory_order_relaxed);
            counted = true;
        }
        /* Every reservation right after a check that h is still the ring: a ring the session
         * retires (session.c) takes no new event once producers can see its successor. */
        for (int i = 0; i < 256; i++) {
            cpu_relax();
            if (atomic_load_explicit(&ttm__g.ring, memory_order_acquire) != h)
                return RING_REPLACED;
            if (ttm__ring_reserve(h, ttm__g.nslots, &h->tail_cache, pos, bell))
                return TTM_OK;
        }
        uint64_t seen = atomic_load_explicit(&h->tail, memory_order_acquire);
        uint64_t beat = atomic_load_explicit(&h->consumer_beat, memory_order_acquire);
        int64_t deadline = (int64_t)ttm__mono_ns() + TTM__FULL_WAIT_NS;
        long nap = 1000; /* 1 us, doubling to 1 ms */
        for (;;) {
            sleep_ns(nap);
            if (!atomic_load_explicit(&ttm__g.connected, memory_order_acquire) ||
                atomic_load_explicit(&ttm__g.ring, memory_order_acquire) != h)
                break; /* the outer loop decides */
            if (ttm__ring_reserve(h, ttm__g.nslots, &h->tail_cache, pos, bell))
                return TTM_OK;
            uint64_t t = atomic_load_explicit(&h->tail, memory_order_acquire);
            uint64_t b = atomic_load_explicit(&h->consumer_beat, memory_order_acquire);
            int64_t now = (int64_t)ttm__mono_ns();
            if (t != seen || b != beat) {
                /* the daemon consumes this ring, or holds it back while it settles another
                 * process's exit (ring.h): it is slow, not dead */
                seen = t;
                beat = b;
                deadline = now + TTM__FULL_WAIT_NS;
            } else if (now >= deadline) {
                if (atomic_exchange_explicit(&ttm__g.stall_tail, t, memory_order_relaxed) !=
                    t)
                    ttm__client_log(TTM_ETIMEDOUT,
                                    "the daemon consumed nothing from this process's full ring "
                                    "for %lld s; events that find it full are dropped and "
                                    "counted until it consumes again",
                                    TTM__FULL_WAIT_NS / 1000000000ll);
                goto out_drop;
            }
            if (nap < 1000000)
                nap *= 2;
        }
    }
out_drop:
    atomic_fetch_add_explicit(&h->dropped, 1, memory_order_relaxed);
    return TTM_EAGAIN;
}

/* The full-ring path of produce(): waits for room (possibly in a replacement ring), then
 * fills and commits. */
static int __attribute__((noinline, cold)) produce_waiting(ttm_event *ev)
{
    int saved_errno = errno;
    for (;;) {
        ttm_ring_hdr *h = atomic_load_explicit(&ttm__g.ring, memory_order_acquire);
        uint32_t n = ttm__g.nslots;
        if (h == NULL) { /* only in a child forked meanwhile, which has no ring yet */
            atomic_fetch_add_explicit(&ttm__g.dropped_noring, 1, memory_order_relaxed);
            errno = saved_errno;
            return TTM_EAGAIN;
        }
        uint64_t pos;
        bool bell;
        int err = wait_for_room(h, &pos, &bell);
        if (err == RING_REPLACED)
            continue;
        errno = saved_errno;
        if (err != TTM_OK)
            return err;
        fill_and_commit(h, n, pos, bell, ev);
        return TTM_OK;
    }
}

/* The ring of this process, creating the session at the first enabled call. NULL when no
 * ring could be made (the event is then dropped and counted). */
static ttm_ring_hdr *__attribute__((noinline, cold)) ring_slow(void)
{
    if (atomic_load_explicit(&ttm__g.session, memory_order_acquire) == TTM__SESS_NONE)
        ttm__session_start();
    return atomic_load_explicit(&ttm__g.ring, memory_order_acquire);
}

/* Puts one event into the ring. ev has everything but tid, seq and ts. */
static inline int produce(ttm_event *ev)
{
    ttm_ring_hdr *h = atomic_load_explicit(&ttm__g.ring, memory_order_acquire);
    if (unlikely(h == NULL)) {
        h = ring_slow();
        if (h == NULL) {
            atomic_fetch_add_explicit(&ttm__g.dropped_noring, 1, memory_order_relaxed);
            return TTM_EAGAIN;
        }
    }
    ev->tid = my_tid();
    ev->ts = ttm__clock_now();
    uint32_t n = ttm__g.nslots;
    uint64_t pos;
    bool bell;
    if (unlikely(!ttm__ring_reserve(h, n, &h->tail_cache, &pos, &bell)))
        return produce_waiting(ev);
    fill_and_commit(h, n, pos, bell, ev);
    return TTM_OK;
}

int ttm_client_enabled(void)
{
    int g = __atomic_load_n(&ttm__gate_word, __ATOMIC_RELAXED);
    if (g == TTM__GATE_UNKNOWN)
        g = gate_init();
    return g == TTM__GATE_ON;
}

/* The process's stack table, looked up once. */
static ttm__stack_table *table(void)
{
    ttm__stack_table *t = atomic_load_explicit(&stack_table, memory_order_acquire);
    if (unlikely(t == NULL)) {
        t = ttm__stack_table_process();
        atomic_store_explicit(&stack_table, t, memory_order_release);
    }
    return t;
}

/* The stack id of a public call whose return address into the application is ret and whose
 * frame is fp; 0 (counted) when none could be captured or interned. */
static uint32_t __attribute__((noinline)) event_stack(uintptr_t ret, const void *fp)
{
    uintptr_t pcs[TTM__STACK_INTERN_MAX];
    unsigned what = atomic_load_explicit(&stacks_what, memory_order_relaxed);
    unsigned depth = atomic_load_explicit(&stacks_depth, memory_order_relaxed);
    ttm__stack_walker w =
        (ttm__stack_walker)atomic_load_explicit(&stacks_walker, memory_order_relaxed);
    uint32_t id = 0;
    ttm__stack_table *t = table(); /* the process's, which the capture looks stacks up in */
    unsigned n = ttm__stack_capture_at(pcs, depth, ret, fp, w, &id);
    if (what & TTM_STACKS_PYTHON) {
        n = ttm__py_stack(pcs, n, TTM__STACK_INTERN_MAX);
        id = 0; /* the native part's id is not the whole stack's */
    }
    if (id == 0 && n > 0)
        id = ttm__stack_intern(t, pcs, n);
    if (unlikely(id == 0))
        atomic_fetch_add_explicit(&stacks_dropped, 1, memory_order_relaxed);
    return id;
}

/* The stack of the public call this is expanded in (a macro: __builtin_return_address and
 * __builtin_frame_address must be that call's own). 0 when stacks are off. */
#define CALL_STACK()                                                                             \
    (unlikely(atomic_load_explicit(&stacks_what, memory_order_relaxed) != 0)                     \
         ? event_stack((uintptr_t)__builtin_return_address(0), __builtin_frame_address(0))       \
         : 0u)

static inline __attribute__((always_inline)) int
buffer_event(uint8_t kind, uint16_t device, ttm_memtype memtype, uint64_t addr, uint64_t size,
             uint64_t obj, uint32_t flags, uint32_t stack)
{
    ttm_event ev;
    ev.kind = kind;
    ev.memtype = (uint8_t)memtype;
    ev.flags = (uint16_t)flags;
    ev.device = device;
    ev.reserved = 0;
    ev.addr = addr;
    ev.size = size;
    ev.obj = obj;
    ev.stack = stack;
    ev.scope = t_scope_top;
    memset((char *)&ev + offsetof(ttm_event, scope) + sizeof ev.scope, 0,
           sizeof ev - offsetof(ttm_event, scope) - sizeof ev.scope);
    return produce(&ev);
}

int ttm_buffer_alloc(uint16_t device, ttm_memtype memtype, uint64_t addr, uint64_t size,
                     uint64_t obj, uint32_t flags)
{
    GATE_CHECK();
    if (unlikely((unsigned)memtype >= TTM_MEMTYPE_COUNT || (flags & ~TTM_FLAG_VIEW) != 0))
        return TTM_EINVAL;
    return buffer_event(TTM_EV_ALLOC, device, memtype, addr, size, obj, flags, CALL_STACK());
}

int ttm_buffer_free(uint16_t device, ttm_memtype memtype, uint64_t addr, uint64_t size,
                    uint64_t obj, uint32_t flags)
{
    GATE_CHECK();
    if (unlikely(((unsigned)memtype >= TTM_MEMTYPE_COUNT && memtype != TTM_MEM_ANY) ||
                 (flags & ~TTM_FLAG_VIEW) != 0))
        return TTM_EINVAL;
    return buffer_event(TTM_EV_FREE, device, memtype, addr, size, obj, flags, CALL_STACK());
}

int ttm_stacks_set(unsigned what, unsigned depth)
{
    GATE_CHECK();
    if ((what & ~(TTM_STACKS_NATIVE | TTM_STACKS_PYTHON)) != 0 || depth > TTM__STACK_DEPTH_MAX)
        return TTM_EINVAL;
    if (what & TTM_STACKS_PYTHON)
        what |= TTM_STACKS_NATIVE;
    atomic_store(&stacks_depth, depth == 0 ? TTM__STACK_DEPTH_DEFAULT : depth);
    atomic_store(&stacks_what, what);
    return TTM_OK;
}

unsigned ttm_stacks_get(unsigned *depth)
{
    bool on = ttm_client_enabled(); /* reads the environment at the first call */
    if (depth != NULL)
        *depth = atomic_load(&stacks_depth);
    return on ? atomic_load(&stacks_what) : 0u;
}

int ttm_scope_push(const char *name)
{
    GATE_CHECK();
    if (name == NULL || name[0] == '\0')
        return TTM_EINVAL;
    if (t_nscopes >= SCOPE_DEPTH_MAX)
        return TTM_ELIMIT;
    /* 0 when the string table or the side log is full (counted there): events then carry no
     * scope until this one is popped */
    uint32_t id = ttm__side_string(TTM_SIDE_STR_SCOPE, name, strnlen(name, SCOPE_NAME_MAX));
    t_scopes[t_nscopes++] = id;
    t_scope_top = id;
    return TTM_OK;
}

int ttm_scope_pop(void)
{
    GATE_CHECK();
    if (t_nscopes == 0)
        return TTM_EINVAL;
    t_nscopes--;
    t_scope_top = t_nscopes > 0 ? t_scopes[t_nscopes - 1] : 0;
    return TTM_OK;
}

int ttm_device_describe(uint16_t device, ttm_arch arch, uint64_t dram_bytes, uint64_t l1_bytes)
{
    GATE_CHECK();
    if ((unsigned)arch > TTM_ARCH_QUASAR)
        return TTM_EINVAL;
    ttm_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = TTM_EV_DEVICE_INFO;
    ev.memtype = TTM_MEM_ANY;
    ev.device = device;
    ev.dram_capacity = dram_bytes;
    ev.l1_capacity = l1_bytes;
    ev.arch = (uint32_t)arch;
    return produce(&ev);
}

int ttm_phase_mark(const char *name)
{
    GATE_CHECK();
    if (name == NULL)
        return TTM_EINVAL;
    ttm_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = TTM_EV_MARK;
    ev.memtype = TTM_MEM_ANY;
    size_t n = strnlen(name, TTM_MARK_NAME_MAX - 1);
    memcpy(ev.mark, name, n);
    return produce(&ev);
}

int ttm_client_flush(int timeout_ms)
{
    GATE_CHECK();
    ttm_ring_hdr *h = atomic_load_explicit(&ttm__g.ring, memory_order_acquire);
    if (h == NULL)
        return TTM_OK; /* nothing was ever committed by this process */
    if (timeout_ms < 0)
        timeout_ms = 0;
    uint64_t target = atomic_load_explicit(&h->head, memory_order_acquire);
    int64_t deadline = (int64_t)ttm__mono_ns() + (int64_t)timeout_ms * 1000000;
    long nap = 20000; /* 20 us, doubling to 1 ms */
    for (;;) {
        if (atomic_load_explicit(&h->tail, memory_order_acquire) >= target)
            return TTM_OK;
        if (!atomic_load_explicit(&ttm__g.connected, memory_order_acquire))
            return TTM_ECONN;
        if ((int64_t)ttm__mono_ns() >= deadline)
            return TTM_ETIMEDOUT;
        sleep_ns(nap);
        if (nap < 1000000)
            nap *= 2;
    }
}

void ttm_client_stats_get(ttm_client_stats *out)
{
    if (out == NULL)
        return;
    memset(out, 0, sizeof *out);
    out->enabled = ttm_client_enabled();
    out->dropped = atomic_load(&ttm__g.dropped_noring);
    out->events = atomic_load(&ttm__g.events_base);
    out->reconnects = atomic_load(&ttm__g.reconnects);
    out->connected = atomic_load(&ttm__g.connected);
    ttm_ring_hdr *h = atomic_load_explicit(&ttm__g.ring, memory_order_acquire);
    if (h != NULL) {
        out->events += atomic_load(&h->head);
        out->waited = atomic_load(&h->waited);
        out->dropped += atomic_load(&h->dropped);
    }
    ttm__side_stats side;
    ttm__side_stats_get(&side);
    out->stacks = side.stacks;
    out->stacks_dropped = atomic_load(&stacks_dropped);
    out->side_full = side.full;
    out->side_bytes = side.bytes;
    out->table_full = side.table_full;
    out->modules = side.modules;
    out->unwinds = ttm__stack_unwinds();
}
