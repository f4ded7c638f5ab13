/*
 * arch.h — built-in device profiles: memory sizes per architecture (the figures and where they
 * come from: docs/ARCHITECTURE.md, "Device profiles"). Used for capacities when no device-info
 * event has been seen, and by the legacy protocol's DEVICE_INFO replies.
 */
#ifndef TTM_COMMON_ARCH_H
#define TTM_COMMON_ARCH_H

#include <stdint.h>

#include "ttmem/ttmem.h"

typedef struct ttm_arch_profile {
    ttm_arch arch;
    const char *name;          /* "wormhole_b0" */
    uint32_t dram_channels;    /* as the runtime exposes them (banks) */
    uint64_t dram_per_channel; /* bytes */
    uint32_t worker_cores;
    uint32_t l1_per_core;      /* bytes */
} ttm_arch_profile;

/* Profile of an architecture, or NULL for TTM_ARCH_INVALID and unknown values. */
const ttm_arch_profile *ttm__arch_profile(unsigned arch);
/* Parses "wormhole_b0" / "wormhole" / "blackhole" / "grayskull" (case-insensitive).
 * Returns 0 and stores the arch, or TTM_EINVAL. */
int ttm__arch_parse(const char *s, ttm_arch *out);
/* Total DRAM bytes and L1 bytes (over worker cores) of a profile. */
uint64_t ttm__arch_dram_bytes(const ttm_arch_profile *p);
uint64_t ttm__arch_l1_bytes(const ttm_arch_profile *p);

#endif /* TTM_COMMON_ARCH_H */
