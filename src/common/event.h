/*
 * event.h — the event record: the one fixed-size unit that every way into ttmem (native ring,
 * legacy socket, simulator, log analysis) turns into, and that the core registry consumes.
 *
 * The record is one cache line (64 bytes) so that a ring slot never straddles two. It carries no
 * PID: the daemon learns the PID from the connection (SO_PEERCRED) and passes it beside the event.
 */
#ifndef TTM_COMMON_EVENT_H
#define TTM_COMMON_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ttmem/ttmem.h"

/* Event kinds. ALLOC/FREE describe buffers; the rest are control events. PROC_START and
 * PROC_EXIT are synthesised by the daemon, never accepted from a client. */
#define TTM_EVENT_KIND_MAP(X)                                                                    \
    X(NONE, 0, "none")                                                                           \
    X(ALLOC, 1, "alloc")                                                                         \
    X(FREE, 2, "free")                                                                           \
    X(PROC_START, 3, "proc_start")                                                               \
    X(PROC_EXIT, 4, "proc_exit")                                                                 \
    X(DEVICE_INFO, 5, "device_info")                                                             \
    X(MARK, 6, "mark")

typedef enum ttm_event_kind {
#define TTM__EV_ENUM(name, value, text) TTM_EV_##name = (value),
    TTM_EVENT_KIND_MAP(TTM__EV_ENUM)
#undef TTM__EV_ENUM
        TTM_EV__COUNT
} ttm_event_kind;

#define TTM_MARK_NAME_MAX 40 /* bytes, including the terminating NUL */

typedef struct ttm_event {
    uint8_t kind;     /* ttm_event_kind */
    uint8_t memtype;  /* ttm_memtype; TTM_MEM_ANY on a FREE that does not say */
    uint16_t flags;   /* TTM_FLAG_* */
    uint16_t device;  /* logical device id */
    uint16_t reserved;
    uint32_t tid;     /* producing thread */
    uint32_t seq;     /* per-process order (the ring uses it as the slot's turn) */
    uint64_t ts;      /* monotonic nanoseconds */
    union {
        struct {               /* ALLOC, FREE */
            uint64_t addr;     /* device address */
            uint64_t size;     /* bytes; 0 on a FREE that does not know */
            uint64_t obj;      /* client object identity; 0 = none */
            /* Call site. In a client's ring: the process's own ids (its stack table and scope
             * names, shipped beside the ring: common/side.h). Everywhere past ingest: ids of the
             * registry's stack table (core/stacks.h), which the daemon substitutes. 0 = none. */
            uint32_t stack;    /* the call stack */
            uint32_t scope;    /* the innermost scope name of the producing thread */
        };
        struct {               /* DEVICE_INFO */
            uint64_t dram_capacity; /* bytes of DRAM on the device */
            uint64_t l1_capacity;   /* bytes of L1 over the worker cores */
            uint32_t arch;          /* ttm_arch */
            uint32_t worker_cores;
            uint32_t l1_per_core;
            uint32_t dram_channels;
        };
        char mark[TTM_MARK_NAME_MAX]; /* MARK: NUL-terminated phase name */
    };
} ttm_event;

_Static_assert(sizeof(ttm_event) == 64, "an event is one cache line");

/* Event flag set by the readers of prototype logs (not in the public header): the source wrote
 * the address in decimal (a log's buffer_id=328467008), so reports show that form beside the
 * hex for a user to grep the log. It only changes how an address is shown, never a verdict, so
 * the registry accepts it from any source. */
#define TTM__FLAG_ADDR_DEC 0x8000u

/* Address spaces: a registry key is (device, space, addr). */
typedef enum ttm_space { TTM_SPACE_DRAM = 0, TTM_SPACE_L1 = 1, TTM_SPACE_SYSTEM = 2 } ttm_space;
#define TTM_SPACE_COUNT 3

/* Name of a memtype ("DRAM", "L1", "SYSTEM_MEMORY", "L1_SMALL", "TRACE", "CB", "KERNEL", "ANY");
 * "?" for a value outside the list. */
const char *ttm__memtype_name(unsigned memtype);
/* Parses a memtype name, case-insensitively, also accepting "SYSTEM" and decimal numbers.
 * Returns 0 and stores the value, or TTM_EINVAL. */
int ttm__memtype_parse(const char *s, unsigned *out);
/* True for 0..TTM_MEMTYPE_COUNT-1 (ANY is not a concrete type). */
static inline bool ttm__memtype_valid(unsigned memtype)
{
    return memtype < TTM_MEMTYPE_COUNT;
}

/* Address space of a concrete memtype (inline: the registry asks on every event). */
static inline ttm_space ttm__memtype_space(unsigned memtype)
{
    return memtype == TTM_MEM_DRAM || memtype == TTM_MEM_TRACE ? TTM_SPACE_DRAM
           : memtype == TTM_MEM_SYSTEM                         ? TTM_SPACE_SYSTEM
                                                               : TTM_SPACE_L1;
}
/* "DRAM", "L1", "SYSTEM". */
const char *ttm__space_name(ttm_space space);
/* Name of an event kind ("alloc"), "?" when out of range. */
const char *ttm__event_kind_name(unsigned kind);

#endif /* TTM_COMMON_EVENT_H */
