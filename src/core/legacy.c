/*
 * legacy.c — classified events as the prototype's log lines.
 *
 * The prototype printed: an allocation (with its reference count when above one), a free of a
 * known buffer (the owner's pid, the stored size, the references left or FINAL), and for every
 * other free "Deallocation for unknown buffer" with the sender's pid.
 */
#include "core/legacy.h"

#include "common/poclog.h"

static size_t clamp(int n, size_t len)
{
    if (n <= 0)
        return 0;
    return (size_t)n < len ? (size_t)n : (len ? len - 1 : 0);
}

size_t ttm_legacy_log_line(char *buf, size_t len, uint32_t pid, const ttm_event *ev,
                           uint32_t mask, const ttm_apply_info *info)
{
    const uint32_t alloc_mask = TTM_CLASS_BIT(TTM_CLASS_ALLOC_OK) |
                                TTM_CLASS_BIT(TTM_CLASS_DUPLICATE_ALLOC) |
                                TTM_CLASS_BIT(TTM_CLASS_OVERLAP);
    if (ev->kind == TTM_EV_ALLOC && (mask & alloc_mask))
        return clamp(ttm__poclog_format_alloc(buf, len, pid, ev->size, ev->memtype, ev->device,
                                              ev->addr, info->refs),
                     len);
    if (ev->kind != TTM_EV_FREE || (mask & TTM_CLASS_BIT(TTM_CLASS_INVALID)))
        return 0;
    if (mask & TTM_CLASS_BIT(TTM_CLASS_FREE_OK))
        return clamp(ttm__poclog_format_freed(buf, len, info->owner_pid, ev->addr, ev->device,
                                              info->size, info->refs),
                     len);
    if (mask & (TTM_CLASS_BIT(TTM_CLASS_FREE_VIEW) | TTM_CLASS_BIT(TTM_CLASS_VIEW_AFTER_OWNER)))
        return 0;
    return clamp(ttm__poclog_format_unknown(buf, len, pid, ev->addr, ev->device), len);
}
