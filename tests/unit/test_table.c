/*
 * test_table.c — unit tests of the core's open-addressing table (src/core/table.h): insert,
 * find and erase, growth at load 1/2, tombstones reused and swept by a same-size rehash, the
 * max bound, iteration, and allocation failure at every N.
 *
 * The entries are (key, value) pairs with a key that is never 0 (the empty slot) nor
 * UINT64_MAX (the tombstone). Two hashes: a mixing one, and the key itself, which makes keys
 * k, k + 64, k + 128... collide in a 64-slot table so that probe chains and tombstones in the
 * middle of them are exercised.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "core/store.h"
#include "core/table.h"

typedef struct kv {
    uint64_t key;
    uint64_t value;
} kv;

#define TOMB UINT64_MAX

static uint64_t kv_mix(const void *e)
{
    return ttm__mix64(((const kv *)e)->key);
}

static uint64_t kv_ident(const void *e)
{
    return ((const kv *)e)->key;
}

static bool kv_empty(const void *e)
{
    return ((const kv *)e)->key == 0;
}

static bool kv_match(const void *e, const void *key)
{
    return ((const kv *)e)->key == *(const uint64_t *)key;
}

static void kv_bury(void *e)
{
    ((kv *)e)->key = TOMB;
}

static bool kv_buried(const void *e)
{
    return ((const kv *)e)->key == TOMB;
}

static const ttm_table_type mixed = {.entry_size = sizeof(kv),
                                     .hash = kv_mix,
                                     .empty = kv_empty,
                                     .match = kv_match,
                                     .bury = kv_bury,
                                     .buried = kv_buried};

static const ttm_table_type colliding = {.entry_size = sizeof(kv),
                                         .hash = kv_ident,
                                         .empty = kv_empty,
                                         .match = kv_match,
                                         .bury = kv_bury,
                                         .buried = kv_buried};

static uint64_t hash_of(const ttm_table_type *type, uint64_t key)
{
    kv e = {.key = key};
    return type->hash(&e);
}

static kv *find(const ttm_table *t, uint64_t key)
{
    return ttm__table_find(t, t->type, hash_of(t->type, key), &key);
}

/* Adds key (known absent) with value; NULL when the table refused. */
static kv *add(ttm_table *t, uint64_t key, uint64_t value)
{
    kv *e = ttm__table_add(t, t->type, hash_of(t->type, key));
    if (e != NULL)
        *e = (kv){key, value};
    return e;
}

static bool erase(ttm_table *t, uint64_t key)
{
    kv *e = find(t, key);
    if (e == NULL)
        return false;
    ttm__table_erase(t, e);
    return true;
}

/* How many present entries a walk visits; each one's key must be found at that entry. */
static size_t walk(const ttm_table *t)
{
    size_t n = 0, pos = 0;
    for (kv *e; (e = ttm__table_next(t, t->type, &pos)) != NULL; n++) {
        assert_true(e->key != 0 && e->key != TOMB);
        assert_ptr_equal(find(t, e->key), e);
    }
    return n;
}

static void test_insert_find_erase(void **state)
{
    (void)state;
    const ttm_table_type *types[] = {&mixed, &colliding};
    for (unsigned ty = 0; ty < 2; ty++) {
        ttm_table t;
        ttm__table_init(&t, types[ty], 1000);
        assert_null(find(&t, 5)); /* nothing allocated yet */
        assert_int_equal(t.mask, 0);
        for (uint64_t k = 1; k <= 20; k++)
            assert_non_null(add(&t, k * 64 + 1, k * 10)); /* one chain in the colliding type */
        assert_int_equal(t.live, 20);
        for (uint64_t k = 1; k <= 20; k++) {
            kv *e = find(&t, k * 64 + 1);
            assert_non_null(e);
            assert_int_equal(e->value, k * 10);
        }
        assert_null(find(&t, 2));
        assert_null(find(&t, 21 * 64 + 1));
        /* erase from the middle of the chain: the entries behind it stay reachable */
        assert_true(erase(&t, 10 * 64 + 1));
        assert_false(erase(&t, 10 * 64 + 1));
        assert_null(find(&t, 10 * 64 + 1));
        for (uint64_t k = 11; k <= 20; k++)
            assert_non_null(find(&t, k * 64 + 1));
        assert_int_equal(t.live, 19);
        assert_int_equal(t.used, 20); /* the tombstone still occupies its slot */
        assert_int_equal(walk(&t), 19);
        ttm__table_free(&t);
        ttm__table_free(&t); /* twice: a freed table is empty */
        assert_null(find(&t, 11 * 64 + 1));
    }
    ttm__table_free(NULL);
}

static void test_growth(void **state)
{
    (void)state;
    ttm_table t;
    ttm__table_init(&t, &mixed, 1u << 20);
    size_t last_cap = 0, grows = 0;
    for (uint64_t k = 1; k <= 10000; k++) {
        assert_non_null(add(&t, k, ~k));
        size_t cap = t.mask + 1;
        assert_true(t.used * 2 <= cap); /* load at most 1/2 */
        if (cap != last_cap) {
            if (last_cap != 0)
                assert_int_equal(cap, last_cap * 2); /* doubling */
            last_cap = cap;
            grows++;
        }
    }
    assert_int_equal(last_cap, 32768); /* 10,000 entries fit in 2^15 at load 1/2, not 2^14 */
    assert_int_equal(grows, 10);       /* 64 .. 32768 */
    for (uint64_t k = 1; k <= 10000; k++) {
        kv *e = find(&t, k);
        assert_non_null(e);
        assert_int_equal(e->value, ~k);
    }
    assert_int_equal(walk(&t), 10000);
    ttm__table_free(&t);
}

static void test_tombstone_reuse(void **state)
{
    (void)state;
    ttm_table t;
    ttm__table_init(&t, &colliding, 1000);
    for (uint64_t k = 0; k < 8; k++)
        assert_non_null(add(&t, 3 + 64 * k, k)); /* slots 3..10 */
    assert_true(erase(&t, 3 + 64 * 2));          /* slot 5 becomes a tombstone */
    size_t used = t.used;
    kv *e = add(&t, 3 + 64 * 100, 100); /* same chain: takes the tombstone, not slot 11 */
    assert_ptr_equal(e, (kv *)t.slots + 5);
    assert_int_equal(t.used, used);
    assert_int_equal(t.live, 8);
    assert_non_null(find(&t, 3 + 64 * 7)); /* still reachable past the reused slot */
    assert_int_equal(walk(&t), 8);

    /* a table that fills with tombstones is rehashed at its size, not grown: a few entries
     * live at any time, a thousand added and erased in turn */
    ttm__table_clear(&t);
    assert_int_equal(t.live, 0);
    assert_int_equal(t.used, 0);
    assert_int_equal(walk(&t), 0);
    size_t cap = t.mask + 1, most_used = 0;
    for (uint64_t k = 1; k <= 1000; k++) {
        assert_non_null(add(&t, k, k));
        if (k > 4)
            assert_true(erase(&t, k - 4));
        assert_true(t.used * 2 <= t.mask + 1);
        most_used = t.used > most_used ? t.used : most_used;
    }
    assert_int_equal(t.live, 4);
    assert_int_equal(t.mask + 1, cap);
    assert_int_equal(most_used, cap / 2); /* tombstones filled it to the load bound, then went */
    for (uint64_t k = 997; k <= 1000; k++)
        assert_non_null(find(&t, k));
    assert_null(find(&t, 996));
    assert_int_equal(walk(&t), 4);
    ttm__table_free(&t);
}

static void test_max_bound(void **state)
{
    (void)state;
    ttm_table t;
    ttm__table_init(&t, &mixed, 100);
    for (uint64_t k = 1; k <= 100; k++)
        assert_non_null(add(&t, k, k));
    assert_false(ttm__table_reserve(&t));
    assert_null(add(&t, 101, 101)); /* refused: the caller counts the drop */
    assert_int_equal(t.live, 100);
    assert_null(find(&t, 101));
    assert_true(erase(&t, 50)); /* erasing makes room again */
    assert_non_null(add(&t, 101, 101));
    assert_int_equal(walk(&t), 100);
    ttm__table_free(&t);

    ttm__table_init(&t, &mixed, 0); /* 0 is taken as 1 */
    assert_non_null(add(&t, 1, 1));
    assert_null(add(&t, 2, 2));
    ttm__table_free(&t);
}

static void test_iteration(void **state)
{
    (void)state;
    ttm_table t;
    ttm__table_init(&t, &mixed, 1000);
    size_t pos = 0;
    assert_null(ttm__table_next(&t, t.type, &pos)); /* nothing allocated */
    bool seen[301] = {false};
    for (uint64_t k = 1; k <= 300; k++)
        add(&t, k, k);
    for (uint64_t k = 3; k <= 300; k += 3)
        erase(&t, k);
    pos = 0;
    size_t n = 0, last = 0;
    for (kv *e; (e = ttm__table_next(&t, t.type, &pos)) != NULL; n++) {
        size_t at = (size_t)(e - (kv *)t.slots);
        assert_true(n == 0 || at > last); /* slot order */
        last = at;
        assert_true(e->key % 3 != 0);
        assert_false(seen[e->key]);
        seen[e->key] = true;
        if (e->key % 2 == 0)
            ttm__table_erase(&t, e); /* erasing the entry just returned is allowed */
    }
    assert_int_equal(n, 200);
    assert_null(ttm__table_next(&t, t.type, &pos)); /* stays at the end */
    assert_int_equal(walk(&t), 100);
    for (uint64_t k = 1; k <= 300; k++)
        assert_true((find(&t, k) != NULL) == (k % 2 == 1 && k % 3 != 0));
    ttm__table_free(&t);
}

static void test_alloc_failure_every_n(void **state)
{
    (void)state;
    enum { N = 3000 };
    unsigned long k;
    for (k = 1; k < 1000; k++) {
        ttm__alloc_fail_at(k);
        ttm_table t;
        ttm__table_init(&t, &colliding, N);
        uint64_t added = 0;
        bool refused = false;
        for (uint64_t key = 1; key <= N; key++) {
            size_t live = t.live, mask = t.mask;
            if (add(&t, key * 7, key) == NULL) {
                /* a failed growth leaves the table as it was */
                assert_int_equal(t.live, live);
                assert_int_equal(t.mask, mask);
                refused = true;
                continue;
            }
            added++;
        }
        unsigned long made = ttm__alloc_fail_at(0);
        assert_int_equal(t.live, added);
        assert_int_equal(walk(&t), added);
        for (uint64_t key = 1; key <= N; key++) {
            kv *e = find(&t, key * 7);
            if (e != NULL)
                assert_int_equal(e->value, key);
        }
        ttm__table_free(&t);
        if (!refused) {
            assert_true(made < k); /* every allocation was made before the N-th */
            break;
        }
    }
    assert_true(k > 1 && k < 1000); /* some N failed, and a large enough one did not */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_insert_find_erase), cmocka_unit_test(test_growth),
        cmocka_unit_test(test_tombstone_reuse),   cmocka_unit_test(test_max_bound),
        cmocka_unit_test(test_iteration),         cmocka_unit_test(test_alloc_failure_every_n),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
