/*
 * table.h — the one open-addressing hash table of the core: fixed-size entries in a
 * power-of-two array, linear probing, kept at most half full, with an upper bound on its
 * entries. Every side table of the registry (the history of keys, the two generations of freed
 * objects, the offenders, the pid map) is one of these.
 *
 * The caller describes its entries once, in a static const ttm_table_type: their size, the hash
 * of an entry present (used when the table grows), how an empty slot, a key match and (when the
 * table erases) a tombstone look. An empty slot is all zero bytes (the array is calloc'ed): a
 * present entry must never be all zero, e.g. it carries a used bit or a non-zero fingerprint.
 *
 * The lookups are static inline and take the type as an argument: pass the caller's static const
 * object itself and the compiler inlines its functions, so a lookup costs what a table written
 * for that one entry type would. The growth, iteration and erasure are in table.c.
 *
 * Lifecycle: ttm__table_init() makes an empty table that owns no memory yet;
 * ttm__table_free() releases its array (a zeroed or freed table is a no-op). Entry pointers
 * stay valid until the next ttm__table_reserve() or ttm__table_add() (either may move every
 * entry).
 */
#ifndef TTM_CORE_TABLE_H
#define TTM_CORE_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ttm_table_type {
    size_t entry_size;
    /* The hash of a present entry: the same the caller gives for its key. */
    uint64_t (*hash)(const void *entry);
    /* True for an empty slot (one that was never used, or cleared). */
    bool (*empty)(const void *entry);
    /* True when a present entry has the caller's key. */
    bool (*match)(const void *entry, const void *key);
    /* Marks a present entry erased (a tombstone: neither empty nor present) and tells one.
     * Both NULL for a table that never erases. */
    void (*bury)(void *entry);
    bool (*buried)(const void *entry);
} ttm_table_type;

typedef struct ttm_table {
    const ttm_table_type *type;
    uint8_t *slots;
    size_t mask; /* capacity - 1, a power of two; 0 while no array is allocated */
    size_t used; /* slots not empty (tombstones included) */
    size_t live; /* entries present */
    size_t max;  /* entries at most: ttm__table_reserve() refuses the one beyond */
} ttm_table;

/* An empty table of entries of type (a static object of the caller's) holding at most max
 * entries (0 is taken as 1). Allocates nothing. */
void ttm__table_init(ttm_table *t, const ttm_table_type *type, size_t max);

/* Releases the array; the table is then empty, as after ttm__table_init(). NULL is a no-op. */
void ttm__table_free(ttm_table *t);

/* The slow part of ttm__table_reserve(): a new array, or the same size swept of tombstones. */
bool ttm__table_grow(ttm_table *t);

/*
 * Ensures room for one more entry at a load of at most 1/2: grows the array (doubling), or
 * rehashes it at its size when tombstones fill it. Returns false when the table holds max
 * entries already, or memory is short (the table is then unchanged): the caller counts the
 * entry it could not keep. Moves the entries when it reallocates.
 */
static inline bool ttm__table_reserve(ttm_table *t)
{
    if (t->live >= t->max)
        return false;
    if (t->mask != 0 && (t->used + 1) * 2 <= t->mask + 1)
        return true;
    return ttm__table_grow(t);
}

/* Forgets every entry and tombstone, keeping the array. */
void ttm__table_clear(ttm_table *t);

/* Erases a present entry (a pointer from a lookup): it becomes a tombstone. The type must have
 * bury/buried. */
void ttm__table_erase(ttm_table *t, void *entry);

/* The slot where a probe for hash starts (for a prefetch); NULL while no array is allocated. */
static inline const void *ttm__table_home(const ttm_table *t, const ttm_table_type *type,
                                          uint64_t hash)
{
    return t->mask != 0 ? t->slots + (hash & t->mask) * type->entry_size : NULL;
}

/* The entry with key (of hash hash), or NULL. type is t's type. */
static inline void *ttm__table_find(const ttm_table *t, const ttm_table_type *type, uint64_t hash,
                                    const void *key)
{
    if (t->mask == 0)
        return NULL;
    for (size_t i = hash & t->mask;; i = (i + 1) & t->mask) {
        uint8_t *e = t->slots + i * type->entry_size;
        if (type->empty(e))
            return NULL;
        if ((type->buried == NULL || !type->buried(e)) && type->match(e, key))
            return e;
    }
}

/*
 * Takes the slot for a new entry of hash hash, whose key the caller knows is absent: the first
 * tombstone or empty slot of its probe sequence, counted present. Returns it for the caller to
 * fill (with a present, non-empty entry: its old bytes are a tombstone's or zeros), or NULL
 * when ttm__table_reserve() refused (full at max, or out of memory). type is t's type.
 */
static inline void *ttm__table_add(ttm_table *t, const ttm_table_type *type, uint64_t hash)
{
    if (!ttm__table_reserve(t))
        return NULL;
    for (size_t i = hash & t->mask;; i = (i + 1) & t->mask) {
        uint8_t *e = t->slots + i * type->entry_size;
        bool is_empty = type->empty(e);
        if (is_empty || (type->buried != NULL && type->buried(e))) {
            t->used += is_empty;
            t->live++;
            return e;
        }
    }
}

/* The next present entry at slot index *pos or after it, in slot order, and *pos past it; NULL
 * when there is none. Start with *pos = 0. The table must not change during the walk except
 * through ttm__table_erase() of the entry just returned. type is t's type. */
static inline void *ttm__table_next(const ttm_table *t, const ttm_table_type *type, size_t *pos)
{
    for (size_t i = *pos; t->mask != 0 && i <= t->mask; i++) {
        uint8_t *e = t->slots + i * type->entry_size;
        if (!type->empty(e) && (type->buried == NULL || !type->buried(e))) {
            *pos = i + 1;
            return e;
        }
    }
    *pos = t->mask ? t->mask + 1 : 0;
    return NULL;
}

#endif /* TTM_CORE_TABLE_H */
