/* test_vent_inflight: the follow run's in-flight set — ids found with their
 * send time, times replaced, the maximum kept, pruning below an id, growth
 * and shrinking through rebuilds, ids at both ends of bigint. */
#include "vent_inflight.h"
#include "rs_check.h"

#include <stdio.h>

static void test_put_get_replace(void)
{
    vent_inflight_t *f = vent_inflight_new(10);
    RS_CHECK(f);
    int64_t t = 0;
    RS_CHECK(!vent_inflight_get(f, 5, &t));
    RS_CHECK(vent_inflight_put(f, 5, 100) == 0);
    RS_CHECK(vent_inflight_get(f, 5, &t) && t == 100);
    RS_CHECK(vent_inflight_put(f, 5, 250) == 0); /* sent again: the new time */
    RS_CHECK(vent_inflight_get(f, 5, &t) && t == 250);
    RS_CHECK(vent_inflight_count(f) == 1 && vent_inflight_room(f) == 9);
    /* The extremes of bigint are ids like any other. */
    RS_CHECK(vent_inflight_put(f, INT64_MIN, 1) == 0 && vent_inflight_put(f, INT64_MAX, 2) == 0);
    RS_CHECK(vent_inflight_get(f, INT64_MIN, &t) && t == 1);
    RS_CHECK(vent_inflight_get(f, INT64_MAX, &t) && t == 2);
    vent_inflight_destroy(&f);
    RS_CHECK(f == NULL);
    vent_inflight_destroy(&f); /* NULL is fine */
}

static void test_maximum(void)
{
    vent_inflight_t *f = vent_inflight_new(3);
    RS_CHECK(f);
    for (int64_t id = 1; id <= 3; id++)
        RS_CHECK(vent_inflight_put(f, id, id) == 0);
    RS_CHECK(vent_inflight_put(f, 4, 4) == -1); /* full: a new id is refused */
    RS_CHECK(vent_inflight_put(f, 2, 9) == 0);  /* an id in it still takes a new time */
    int64_t t = 0;
    RS_CHECK(!vent_inflight_get(f, 4, &t));
    RS_CHECK(vent_inflight_count(f) == 3 && vent_inflight_room(f) == 0);
    vent_inflight_prune_below(f, 2);
    RS_CHECK(vent_inflight_count(f) == 2);
    RS_CHECK(vent_inflight_put(f, 4, 4) == 0); /* room again */
    vent_inflight_destroy(&f);
}

static void test_grow_prune_shrink(void)
{
    const int64_t n = 200000;
    vent_inflight_t *f = vent_inflight_new((size_t) n);
    RS_CHECK(f);
    /* Ids 1, 3, 5, ...: the set grows through several rebuilds. */
    for (int64_t i = 0; i < n; i++)
        RS_CHECK(vent_inflight_put(f, 2 * i + 1, i + 1) == 0);
    RS_CHECK(vent_inflight_count(f) == (size_t) n);
    int64_t t = 0;
    for (int64_t i = 0; i < n; i++) {
        RS_CHECK(vent_inflight_get(f, 2 * i + 1, &t) && t == i + 1);
        RS_CHECK(!vent_inflight_get(f, 2 * i + 2, &t));
    }
    /* Everything below 2n - 99 is signed: the last 50 ids stay. */
    vent_inflight_prune_below(f, 2 * n - 99);
    RS_CHECK(vent_inflight_count(f) == 50);
    for (int64_t i = 0; i < n; i++)
        RS_CHECK(vent_inflight_get(f, 2 * i + 1, &t) == (2 * i + 1 >= 2 * n - 99));
    vent_inflight_prune_below(f, INT64_MAX);
    RS_CHECK(vent_inflight_count(f) == 0);
    vent_inflight_prune_below(f, 0); /* empty: nothing to do */
    RS_CHECK(vent_inflight_put(f, -1, 7) == 0 && vent_inflight_get(f, -1, &t) && t == 7);
    vent_inflight_destroy(&f);
}

int main(void)
{
    test_put_get_replace();
    test_maximum();
    test_grow_prune_shrink();
    printf("vent_inflight: ok\n");
    return 0;
}
