/*
 * ring.c — the event ring's geometry, its initialisation by the client, its validation by the
 * daemon, and the consumer's half of the protocol described in ring.h.
 *
 * Everything here that runs in the consumer treats the header and the slots as bytes written
 * by an untrusted peer: nslots is re-read and re-checked against the mapping on every call, and
 * every index is masked into the slot array.
 */
#include "common/ring.h"

#include <stdio.h>
#include <string.h>

#include "ttmem/ttmem.h"

#define PREPARE_SLEEP_SPINS 512 /* a few microseconds: a producer finishing an event */

size_t ttm__ring_bytes(uint32_t nslots)
{
    return sizeof(ttm_ring_hdr) + (size_t)nslots * sizeof(ttm_event);
}

static bool nslots_ok(uint32_t n)
{
    return n >= TTM_RING_MIN_SLOTS && n <= TTM_RING_MAX_SLOTS && (n & (n - 1)) == 0;
}

int ttm__ring_init(void *mem, uint32_t nslots, uint32_t creator_pid)
{
    if (mem == NULL || !nslots_ok(nslots))
        return TTM_EINVAL;
    ttm_ring_hdr *h = mem;
    memset(h, 0, sizeof *h);
    h->magic = TTM_RING_MAGIC;
    h->version = TTM_RING_VERSION;
    h->slot_size = sizeof(ttm_event);
    h->nslots = nslots;
    h->hdr_size = sizeof(ttm_ring_hdr);
    h->creator_pid = creator_pid;
    atomic_init(&h->head, 0);
    atomic_init(&h->tail, 0);
    atomic_init(&h->consumer_sleeping, 0);
    atomic_init(&h->consumer_attached, 0);
    atomic_init(&h->waited, 0);
    atomic_init(&h->dropped, 0);
    atomic_init(&h->dropped_reported, 0);
    atomic_init(&h->doorbells, 0);
    /* The slots are left as they are, zero: a zeroed slot reads as "not committed" (the first
     * lap expects seq 1..nslots, every later lap finds the previous lap's seq). */
    return TTM_OK;
}

int ttm__ring_validate(const void *mem, size_t map_bytes, char *msg, size_t msg_len)
{
    char dummy[1];
    if (msg == NULL || msg_len == 0) {
        msg = dummy;
        msg_len = sizeof dummy;
    }
    msg[0] = '\0';
    if (mem == NULL || map_bytes < sizeof(ttm_ring_hdr)) {
        snprintf(msg, msg_len, "ring mapping of %zu bytes is shorter than its %zu-byte header",
                 map_bytes, sizeof(ttm_ring_hdr));
        return TTM_EPROTO;
    }
    const ttm_ring_hdr *h = mem;
    /* Read each identity word once: the peer may be rewriting them. */
    uint64_t magic = ((const volatile ttm_ring_hdr *)h)->magic;
    uint32_t version = ((const volatile ttm_ring_hdr *)h)->version;
    uint32_t slot_size = ((const volatile ttm_ring_hdr *)h)->slot_size;
    uint32_t hdr_size = ((const volatile ttm_ring_hdr *)h)->hdr_size;
    uint32_t nslots = ((const volatile ttm_ring_hdr *)h)->nslots;
    if (magic != TTM_RING_MAGIC) {
        snprintf(msg, msg_len, "ring has bad magic 0x%016llx (not a ttmem ring)",
                 (unsigned long long)magic);
        return TTM_EPROTO;
    }
    if (version != TTM_RING_VERSION) {
        snprintf(msg, msg_len, "ring layout version %u not supported: this side speaks %u",
                 version, TTM_RING_VERSION);
        return TTM_EVERSION;
    }
    if (slot_size != sizeof(ttm_event)) {
        snprintf(msg, msg_len, "ring slot size %u, expected %zu", slot_size, sizeof(ttm_event));
        return TTM_EPROTO;
    }
    if (hdr_size != sizeof(ttm_ring_hdr)) {
        snprintf(msg, msg_len, "ring header size %u, expected %zu", hdr_size,
                 sizeof(ttm_ring_hdr));
        return TTM_EPROTO;
    }
    if (!nslots_ok(nslots)) {
        snprintf(msg, msg_len, "ring slot count %u is not a power of two in [%u, %u]", nslots,
                 TTM_RING_MIN_SLOTS, TTM_RING_MAX_SLOTS);
        return TTM_EPROTO;
    }
    if (ttm__ring_bytes(nslots) > map_bytes) {
        snprintf(msg, msg_len, "ring of %u slots needs %zu bytes but the mapping has %zu",
                 nslots, ttm__ring_bytes(nslots), map_bytes);
        return TTM_EPROTO;
    }
    return TTM_OK;
}

/* nslots as the consumer may use it now, or 0 when the header no longer fits the mapping. */
static uint32_t checked_nslots(const ttm_ring_hdr *h, size_t map_bytes)
{
    if (h == NULL || map_bytes < sizeof(ttm_ring_hdr))
        return 0;
    uint32_t n = ((const volatile ttm_ring_hdr *)h)->nslots;
    if (!nslots_ok(n) || ttm__ring_bytes(n) > map_bytes)
        return 0;
    return n;
}

static bool slot_committed(ttm_event *slot, uint64_t pos)
{
    return __atomic_load_n(&slot->seq, __ATOMIC_ACQUIRE) == (uint32_t)(pos + 1);
}

size_t ttm__ring_peek_at(ttm_ring_hdr *h, size_t map_bytes, uint64_t pos, ttm_event *out,
                         size_t max, bool peer_dead, uint64_t *next)
{
    *next = pos;
    uint32_t n = checked_nslots(h, map_bytes);
    if (n == 0 || out == NULL || max == 0)
        return 0;
    ttm_event *slots = ttm__ring_slots(h);
    uint64_t mask = n - 1;
    uint64_t tail = pos;
    size_t got = 0;

    if (!peer_dead) {
        while (got < max && slot_committed(&slots[tail & mask], tail)) {
            memcpy(&out[got++], &slots[tail & mask], sizeof(ttm_event));
            tail++;
        }
        *next = tail;
        return got;
    }

    /* The producer is gone: nothing more will be committed. Drain what is, skip the rest. */
    uint64_t head = atomic_load_explicit(&h->head, memory_order_acquire);
    if (head < tail)
        return 0; /* corrupt: nothing can be trusted to be pending */
    if (head - tail > n)
        head = tail + n;
    /* A dead peer's ring may hold a long run of holes: look at most max * 4 slots per call
     * so that one call stays bounded; the caller calls again while *next moves. */
    uint64_t limit = tail + (uint64_t)max * 4;
    while (tail < head && got < max && tail < limit) {
        ttm_event *slot = &slots[tail & mask];
        if (slot_committed(slot, tail))
            memcpy(&out[got++], slot, sizeof(ttm_event));
        tail++;
    }
    *next = tail;
    return got;
}

void ttm__ring_release_at(ttm_ring_hdr *h, uint64_t pos)
{
    atomic_store_explicit(&h->tail, pos, memory_order_release);
}

bool ttm__ring_check_at(ttm_ring_hdr *h, size_t map_bytes, uint64_t pos)
{
    uint32_t n = checked_nslots(h, map_bytes);
    if (n == 0)
        return false;
    if (atomic_load_explicit(&h->tail, memory_order_relaxed) != pos)
        return false;
    uint64_t head = atomic_load_explicit(&h->head, memory_order_acquire);
    return head >= pos && head - pos <= n;
}

size_t ttm__ring_consume(ttm_ring_hdr *h, size_t map_bytes, ttm_event *out, size_t max,
                         bool peer_dead)
{
    uint32_t n = checked_nslots(h, map_bytes);
    if (n == 0)
        return 0;
    uint64_t tail = atomic_load_explicit(&h->tail, memory_order_relaxed), next;
    uint64_t start = tail;
    size_t got = 0;
    /* a dead peer's call walks until it finds events or reaches head, one lap at most */
    do {
        got = ttm__ring_peek_at(h, map_bytes, tail, out, max, peer_dead, &next);
        if (next != tail) /* one release store per batch frees the slots for producers */
            ttm__ring_release_at(h, next);
        if (got > 0 || next == tail || next - start >= n)
            break;
        tail = next;
    } while (peer_dead);
    return got;
}

bool ttm__ring_ready_at(ttm_ring_hdr *h, size_t map_bytes, uint64_t pos)
{
    uint32_t n = checked_nslots(h, map_bytes);
    if (n == 0)
        return false;
    return slot_committed(&ttm__ring_slots(h)[pos & (n - 1)], pos);
}

bool ttm__ring_ready(ttm_ring_hdr *h, size_t map_bytes)
{
    if (checked_nslots(h, map_bytes) == 0)
        return false;
    return ttm__ring_ready_at(h, map_bytes, atomic_load_explicit(&h->tail, memory_order_relaxed));
}

bool ttm__ring_prepare_sleep(ttm_ring_hdr *h, size_t map_bytes)
{
    if (checked_nslots(h, map_bytes) == 0)
        return true;
    return ttm__ring_prepare_sleep_at(h, map_bytes,
                                      atomic_load_explicit(&h->tail, memory_order_relaxed));
}

bool ttm__ring_prepare_sleep_at(ttm_ring_hdr *h, size_t map_bytes, uint64_t tail)
{
    uint32_t n = checked_nslots(h, map_bytes);
    if (n == 0)
        return true; /* nothing to consume from an invalid ring; the caller sleeps */
    atomic_store_explicit(&h->consumer_sleeping, 1, memory_order_seq_cst);
    uint64_t head = atomic_load_explicit(&h->head, memory_order_seq_cst);
    if (head == tail)
        return true; /* empty: whoever reserves next sees the announcement and rings */
    /* A reservation exists: its producer may have read consumer_sleeping == 0 and will not
     * ring, so do not block while it finishes. Wait briefly for the commit. */
    ttm_event *slot = &ttm__ring_slots(h)[tail & (n - 1)];
    for (int i = 0; i < PREPARE_SLEEP_SPINS; i++) {
        if (slot_committed(slot, tail)) {
            atomic_store_explicit(&h->consumer_sleeping, 0, memory_order_relaxed);
            return false;
        }
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
    /* Stalled producer (preempted, stopped, or dead mid-event): block; the backstop timeout
     * or the next producer's doorbell brings the consumer back. */
    return true;
}
