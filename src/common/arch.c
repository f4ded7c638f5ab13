/*
 * arch.c — the device profile table. L1 capacity counts worker cores only: multiplying by the
 * whole grid over-states it (devices.md).
 */
#include "common/arch.h"

#include <stddef.h>
#include <strings.h>

static const ttm_arch_profile profiles[] = {
    {TTM_ARCH_GRAYSKULL, "grayskull", 8, 1ull << 30, 120, 1u << 20},
    {TTM_ARCH_WORMHOLE_B0, "wormhole_b0", 12, 1ull << 30, 64, 1499136},
    {TTM_ARCH_BLACKHOLE, "blackhole", 8, 4278190080ull, 140, 1572864},
};

const ttm_arch_profile *ttm__arch_profile(unsigned arch)
{
    for (size_t i = 0; i < sizeof profiles / sizeof profiles[0]; i++)
        if ((unsigned)profiles[i].arch == arch)
            return &profiles[i];
    return NULL;
}

int ttm__arch_parse(const char *s, ttm_arch *out)
{
    if (s == NULL)
        return TTM_EINVAL;
    for (size_t i = 0; i < sizeof profiles / sizeof profiles[0]; i++) {
        if (strcasecmp(s, profiles[i].name) == 0) {
            *out = profiles[i].arch;
            return TTM_OK;
        }
    }
    if (strcasecmp(s, "wormhole") == 0) {
        *out = TTM_ARCH_WORMHOLE_B0;
        return TTM_OK;
    }
    return TTM_EINVAL;
}

uint64_t ttm__arch_dram_bytes(const ttm_arch_profile *p)
{
    return (uint64_t)p->dram_channels * p->dram_per_channel;
}

uint64_t ttm__arch_l1_bytes(const ttm_arch_profile *p)
{
    return (uint64_t)p->worker_cores * p->l1_per_core;
}
