/*
 * event.c — names and parsing for memtypes, address spaces and event kinds.
 */
#include "common/event.h"

#include <stdlib.h>
#include <strings.h>

static const char *const memtype_names[TTM_MEMTYPE_COUNT] = {
    [TTM_MEM_DRAM] = "DRAM",   [TTM_MEM_L1] = "L1",   [TTM_MEM_SYSTEM] = "SYSTEM_MEMORY",
    [TTM_MEM_L1_SMALL] = "L1_SMALL", [TTM_MEM_TRACE] = "TRACE", [TTM_MEM_CB] = "CB",
    [TTM_MEM_KERNEL] = "KERNEL",
};

const char *ttm__memtype_name(unsigned memtype)
{
    if (memtype < TTM_MEMTYPE_COUNT)
        return memtype_names[memtype];
    return memtype == TTM_MEM_ANY ? "ANY" : "?";
}

int ttm__memtype_parse(const char *s, unsigned *out)
{
    if (s == NULL || *s == '\0')
        return TTM_EINVAL;
    for (unsigned i = 0; i < TTM_MEMTYPE_COUNT; i++) {
        if (strcasecmp(s, memtype_names[i]) == 0) {
            *out = i;
            return TTM_OK;
        }
    }
    if (strcasecmp(s, "SYSTEM") == 0) {
        *out = TTM_MEM_SYSTEM;
        return TTM_OK;
    }
    if (strcasecmp(s, "ANY") == 0) {
        *out = TTM_MEM_ANY;
        return TTM_OK;
    }
    if (*s < '0' || *s > '9')
        return TTM_EINVAL;
    char *end = NULL;
    unsigned long v = strtoul(s, &end, 10);
    if (*end == '\0' && (v < TTM_MEMTYPE_COUNT || v == TTM_MEM_ANY)) {
        *out = (unsigned)v;
        return TTM_OK;
    }
    return TTM_EINVAL;
}

const char *ttm__space_name(ttm_space space)
{
    static const char *const names[TTM_SPACE_COUNT] = {"DRAM", "L1", "SYSTEM"};
    return (unsigned)space < TTM_SPACE_COUNT ? names[space] : "?";
}

const char *ttm__event_kind_name(unsigned kind)
{
    switch (kind) {
#define TTM__EV_NAME(name, value, text)                                                          \
    case value:                                                                                  \
        return text;
        TTM_EVENT_KIND_MAP(TTM__EV_NAME)
#undef TTM__EV_NAME
    default:
        return "?";
    }
}
