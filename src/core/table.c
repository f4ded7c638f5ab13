/*
 * table.c — growth, clearing and erasure of the core's open-addressing table (table.h). The
 * lookups and the iteration are inline in table.h.
 */
#include "core/table.h"

#include <string.h>

#include "common/alloc.h"

#define TABLE_MIN_CAP 64

void ttm__table_init(ttm_table *t, const ttm_table_type *type, size_t max)
{
    *t = (ttm_table){.type = type, .max = max ? max : 1};
}

void ttm__table_free(ttm_table *t)
{
    if (t == NULL)
        return;
    ttm__free(t->slots);
    t->slots = NULL;
    t->mask = t->used = t->live = 0;
}

static bool present(const ttm_table_type *type, const void *e)
{
    return !type->empty(e) && (type->buried == NULL || !type->buried(e));
}

/* Copies one entry; the sizes of the registry's tables are copied inline. */
static inline void copy_entry(void *dst, const void *src, size_t size)
{
    switch (size) {
    case 8:
        memcpy(dst, src, 8);
        break;
    case 16:
        memcpy(dst, src, 16);
        break;
    default:
        memcpy(dst, src, size);
    }
}

bool ttm__table_grow(ttm_table *t)
{
    size_t oldcap = t->mask ? t->mask + 1 : 0;
    size_t cap = oldcap ? oldcap : TABLE_MIN_CAP;
    while ((t->live + 1) * 2 > cap || cap <= oldcap / 2)
        cap *= 2;
    if (oldcap && (t->live + 1) * 4 > oldcap) /* not mostly tombstones: grow */
        cap = oldcap * 2 > cap ? oldcap * 2 : cap;
    const ttm_table_type *type = t->type;
    uint8_t *slots = ttm__calloc(cap, type->entry_size);
    if (slots == NULL)
        return false;
    /* the old entries in slot order, each at the first empty slot of its probe sequence */
    for (size_t i = 0; i < oldcap; i++) {
        const uint8_t *e = t->slots + i * type->entry_size;
        if (!present(type, e))
            continue;
        size_t j = type->hash(e) & (cap - 1);
        while (!type->empty(slots + j * type->entry_size))
            j = (j + 1) & (cap - 1);
        copy_entry(slots + j * type->entry_size, e, type->entry_size);
    }
    ttm__free(t->slots);
    t->slots = slots;
    t->mask = cap - 1;
    t->used = t->live;
    return true;
}

void ttm__table_clear(ttm_table *t)
{
    if (t->mask != 0)
        memset(t->slots, 0, (t->mask + 1) * t->type->entry_size);
    t->used = t->live = 0;
}

void ttm__table_erase(ttm_table *t, void *entry)
{
    t->type->bury(entry);
    t->live--;
}
