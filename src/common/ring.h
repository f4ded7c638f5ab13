/*
 * ring.h — the native transport's event ring: a memfd shared by one client process (many
 * producer threads) and the daemon (one consumer).
 *
 * Layout: a header (ttm_ring_hdr, 256 bytes: identity, then the producer, consumer and
 * statistics words each on its own cache line), then nslots slots of one ttm_event each
 * (nslots a power of two). The total size is ttm__ring_bytes(nslots).
 *
 * Protocol:
 * - A producer reserves a position with a compare-and-swap on head, only while
 *   head - tail < nslots (never a slot it cannot fill); it writes the event into slot
 *   pos & (nslots-1) and commits it by storing seq = (uint32_t)(pos + 1) with release order.
 *   No system call per event.
 * - The consumer reads slots from tail in order; a slot is ready when its seq equals
 *   (uint32_t)(tail + 1) (acquire). After consuming it stores tail + 1 (release).
 * - Doorbell: before sleeping the consumer sets consumer_sleeping = 1 and re-checks the ring;
 *   a producer that commits and finds consumer_sleeping == 1 exchanges it to 0 and writes the
 *   ring's eventfd once. So at most one wake-up per empty -> non-empty transition.
 *   Precisely (no fence of its own on the producer's path): the producer reads
 *   consumer_sleeping right after its reservation CAS on head (both sequentially consistent),
 *   and rings after its commit if it read 1; the consumer stores consumer_sleeping = 1 and
 *   then reads head (both sequentially consistent). Either the consumer sees the reservation
 *   (head != tail: it does not block, ttm__ring_prepare_sleep) or the producer sees the
 *   announcement and rings. A producer stalled between reservation and commit can delay its
 *   event until the consumer's backstop timeout, which every consumer must therefore have.
 * - Full ring: with the daemon alive the producer waits (spin, then sleep), counting `waited`;
 *   with no daemon it drops the event, counting `dropped`.
 * - The peer's bytes are never trusted: the consumer validates the header (magic, version,
 *   slot size, nslots, size of the mapping) before use, and bounds every index it reads.
 */
#ifndef TTM_COMMON_RING_H
#define TTM_COMMON_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/event.h"

#define TTM_RING_MAGIC 0x31474e49524d5454ull /* "TTMRING1" little-endian */
#define TTM_RING_VERSION 1u
#define TTM_RING_MIN_SLOTS 64u
#define TTM_RING_MAX_SLOTS (1u << 24)
#define TTM_RING_DEFAULT_SLOTS (1u << 16) /* 4 MiB of events */

typedef struct ttm_ring_hdr {
    /* identity: written once by the creator */
    uint64_t magic;
    uint32_t version;
    uint32_t slot_size; /* sizeof(ttm_event) */
    uint32_t nslots;
    uint32_t hdr_size;  /* sizeof(ttm_ring_hdr) */
    uint32_t creator_pid;
    uint32_t reserved0[9];
    /* producers */
    _Alignas(64) _Atomic uint64_t head;
    /* The producers' shared lower bound on tail (refreshed only when the ring looks full), kept
     * on head's line, which a producer owns after its CAS anyway. Producer-private: the
     * consumer never reads it. Per ring, so a producer still busy in a retired ring never
     * feeds its successor a stale bound. Was padding in version 1: the layout is unchanged. */
    _Atomic uint64_t tail_cache;
    /* consumer */
    _Alignas(64) _Atomic uint64_t tail;
    _Atomic uint32_t consumer_sleeping;
    _Atomic uint32_t consumer_attached; /* 1 while a daemon holds the ring */
    /* Moved by the consumer while it holds this ring back on purpose (it is settling another
     * process's exit, which must be applied before this ring's later events): a producer
     * waiting for room counts it as progress, as it counts tail moving. Was padding in
     * version 1: the layout is unchanged. */
    _Atomic uint64_t consumer_beat;
    /* statistics, written by producers */
    _Alignas(64) _Atomic uint64_t waited;  /* events that had to wait for room */
    _Atomic uint64_t dropped;              /* events dropped while no daemon existed */
    _Atomic uint64_t dropped_reported;     /* dropped count already reported to a daemon */
    _Atomic uint64_t doorbells;            /* eventfd writes */
} ttm_ring_hdr;

_Static_assert(sizeof(ttm_ring_hdr) == 256, "ring header is four cache lines");

/* Bytes of a ring with nslots slots (header included). */
size_t ttm__ring_bytes(uint32_t nslots);

/* Initialises a zeroed mapping of ttm__ring_bytes(nslots) bytes as an empty ring.
 * nslots must be a power of two in [TTM_RING_MIN_SLOTS, TTM_RING_MAX_SLOTS]. */
int ttm__ring_init(void *mem, uint32_t nslots, uint32_t creator_pid);

/* Validates a mapping received from a peer: magic, version, slot size, header size, nslots a
 * power of two in range, and ttm__ring_bytes(nslots) <= map_bytes. Returns 0, TTM_EPROTO or
 * TTM_EVERSION; msg (if not NULL, msg_len bytes) receives one line saying what is wrong. */
int ttm__ring_validate(const void *mem, size_t map_bytes, char *msg, size_t msg_len);

static inline ttm_event *ttm__ring_slots(ttm_ring_hdr *h)
{
    return (ttm_event *)((char *)h + sizeof(ttm_ring_hdr));
}


/* ---- consumer side (ring.c) ---------------------------------------------------------------
 * The consumer passes map_bytes, the size of its mapping; nslots is re-read and re-checked
 * against it on every call, so a peer rewriting its header can never make the consumer read
 * outside the mapping. */

/* Copies up to max committed events, in ring order, into out and advances tail past them.
 * Live peer (peer_dead false): stops at the first slot not yet committed; head is not read.
 * Dead peer (peer_dead true, the producer process is gone so nothing more will be committed):
 * walks from tail to head (clamped to tail + nslots), skipping slots that were reserved but
 * never committed, so that everything committed is drained; call until it returns 0.
 * Returns the number of events copied; 0 when nothing is ready or the header is invalid. */
size_t ttm__ring_consume(ttm_ring_hdr *h, size_t map_bytes, ttm_event *out, size_t max,
                         bool peer_dead);

/* True when the slot at tail is committed (the consumer has work). */
bool ttm__ring_ready(ttm_ring_hdr *h, size_t map_bytes);

/* The consumer's half of the doorbell: announces consumer_sleeping = 1, then re-checks the
 * ring. Returns false when the consumer must not block: an event is committed at tail (or
 * becomes so within a short spin while a producer finishes it); consumer_sleeping is then put
 * back to 0. Returns true when the consumer may block on the eventfd: a producer reserving
 * after this rings it. Block with a timeout (e.g. 10..100 ms) as a backstop against a
 * producer stalled mid-event or a peer that does not ring, and store consumer_sleeping = 0
 * after waking. */
bool ttm__ring_prepare_sleep(ttm_ring_hdr *h, size_t map_bytes);

/* The same three operations for a consumer that keeps its own position (the daemon): pos is
 * the consumer's tail, never re-read from the peer-writable header, so a peer that rewrites
 * tail cannot make the consumer read an event twice. ttm__ring_peek_at copies up to max
 * committed events from *pos on (dead peer: as ttm__ring_consume, holes skipped) without
 * publishing anything and stores in *next the position after them; ttm__ring_release_at
 * publishes a position (tail = pos, release order) once its events are applied. Returns the
 * number of events copied. ttm__ring_check_at says whether the peer-written head and tail are
 * consistent with pos: tail == pos and pos <= head <= pos + nslots; false on corruption. */
size_t ttm__ring_peek_at(ttm_ring_hdr *h, size_t map_bytes, uint64_t pos, ttm_event *out,
                         size_t max, bool peer_dead, uint64_t *next);
void ttm__ring_release_at(ttm_ring_hdr *h, uint64_t pos);
bool ttm__ring_check_at(ttm_ring_hdr *h, size_t map_bytes, uint64_t pos);
bool ttm__ring_ready_at(ttm_ring_hdr *h, size_t map_bytes, uint64_t pos);
bool ttm__ring_prepare_sleep_at(ttm_ring_hdr *h, size_t map_bytes, uint64_t pos);

/* ---- producer side (inline: the client's hot path) -------------------------------------- */

/* Reserves one position. *tail_cache is the producer's last seen tail (a lower bound, may be
 * stale; refreshed here only when the ring looks full). Returns true and stores the position
 * in *pos, or false when the ring is full (head - tail >= nslots). Lock-free. The cache may
 * be shared by threads; it must be reset to the ring's tail whenever the ring is replaced.
 * On success *bell says whether the consumer had announced sleep; pass it to the commit. */
static inline bool ttm__ring_reserve(ttm_ring_hdr *h, uint32_t nslots,
                                     _Atomic uint64_t *tail_cache, uint64_t *pos, bool *bell)
{
    uint64_t p = atomic_load_explicit(&h->head, memory_order_relaxed);
    uint64_t t = atomic_load_explicit(tail_cache, memory_order_acquire);
    for (;;) {
        if (p - t >= nslots || p < t) {
            /* Looks full (or the cache is ahead of a stale head): refresh tail once. */
            uint64_t nt = atomic_load_explicit(&h->tail, memory_order_acquire);
            if (nt > p) { /* head moved on since we read it, or a broken consumer */
                p = atomic_load_explicit(&h->head, memory_order_relaxed);
                if (nt > p)
                    return false;
            }
            t = nt;
            atomic_store_explicit(tail_cache, nt, memory_order_release);
            if (p - t >= nslots)
                return false;
        }
        if (atomic_compare_exchange_weak_explicit(&h->head, &p, p + 1, memory_order_seq_cst,
                                                  memory_order_relaxed)) {
            *pos = p;
            /* Ordered after the CAS (on x86 the locked CAS is the barrier: no extra cost);
             * pairs with the consumer's store and head load in ttm__ring_prepare_sleep. */
            *bell = atomic_load_explicit(&h->consumer_sleeping, memory_order_seq_cst) != 0;
            return true;
        }
    }
}

/* Commits a reserved, filled slot: stores its seq = (uint32_t)(pos + 1) with release order.
 * Returns true when the caller must ring the doorbell (write the eventfd once): the
 * reservation saw the consumer asleep and this producer is the one that took the job. */
static inline bool ttm__ring_commit(ttm_ring_hdr *h, ttm_event *slot, uint64_t pos, bool bell)
{
    __atomic_store_n(&slot->seq, (uint32_t)(pos + 1), __ATOMIC_RELEASE);
    if (__builtin_expect(!bell, 1))
        return false;
    return atomic_exchange_explicit(&h->consumer_sleeping, 0, memory_order_acq_rel) != 0;
}

#endif /* TTM_COMMON_RING_H */
