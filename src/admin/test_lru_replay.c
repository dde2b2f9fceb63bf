/* test_lru_replay: the LRU replay of rule 4 — never-used keys first by id,
 * then released keys oldest release first; keys free from going live until
 * retired — and its violations. */
#include "lru_replay.h"

#include "rs_check.h"

#include <stdbool.h>

/* Grants key and returns whether the replay accepted it. */
static bool s_grant(lru_replay_t *r, int32_t key, int32_t *expected, bool *any_free)
{
    return lru_replay_grant(r, key, expected, any_free) == LRU_GRANT_OK;
}

static void test_in_order(void)
{
    int32_t ids[] = { 2, 5, 9 };
    lru_replay_t *r = lru_replay_new(ids, 3);
    RS_CHECK(r);
    int32_t expected;
    bool any;
    /* Live out of id order: never-used keys still go by id. */
    lru_replay_live(r, 9);
    lru_replay_live(r, 5);
    lru_replay_live(r, 2);
    RS_CHECK(s_grant(r, 2, &expected, &any));
    RS_CHECK(s_grant(r, 5, &expected, &any));
    lru_replay_end(r, 5);
    lru_replay_end(r, 2);
    /* Never-used key 9 comes before the released ones. */
    RS_CHECK(s_grant(r, 9, &expected, &any));
    /* Then released keys, oldest release first: 5 before 2. */
    RS_CHECK(!s_grant(r, 2, &expected, &any));
    RS_CHECK(any && expected == 5);
    RS_CHECK(s_grant(r, 5, &expected, &any));
    lru_replay_end(r, 9);
    lru_replay_end(r, 2);
    lru_replay_end(r, 5);
    RS_CHECK(s_grant(r, 9, &expected, &any));
    RS_CHECK(s_grant(r, 2, &expected, &any));
    RS_CHECK(s_grant(r, 5, &expected, &any));
    /* Nothing free: any grant is a violation. */
    RS_CHECK(!s_grant(r, 5, &expected, &any));
    RS_CHECK(!any);
    lru_replay_destroy(&r);
    RS_CHECK(r == NULL);
    lru_replay_destroy(&r);
}

static void test_violations(void)
{
    int32_t ids[] = { 1, 2, 3 };
    lru_replay_t *r = lru_replay_new(ids, 3);
    RS_CHECK(r);
    int32_t expected;
    bool any;
    /* Before it goes live a key is not free. */
    RS_CHECK(lru_replay_grant(r, 1, &expected, &any) == LRU_GRANT_NOT_LIVE);
    RS_CHECK(!any);
    lru_replay_end(r, 1);
    lru_replay_live(r, 1); /* ignored: the key was already used */
    lru_replay_live(r, 2);
    lru_replay_live(r, 3);
    /* Skipping key 2 is a violation; key 2 stays at the head. */
    RS_CHECK(!s_grant(r, 3, &expected, &any));
    RS_CHECK(any && expected == 2);
    RS_CHECK(s_grant(r, 2, &expected, &any));
    /* Key 1 was released before any other: it is next. */
    RS_CHECK(s_grant(r, 1, &expected, &any));
    /* A held key granted again (an overlap) is not free. */
    lru_replay_end(r, 3);
    RS_CHECK(!s_grant(r, 1, &expected, &any));
    RS_CHECK(any && expected == 3);
    /* Key 1 is now held twice: it is free only after both ends. */
    lru_replay_end(r, 1);
    RS_CHECK(!s_grant(r, 1, &expected, &any));
    lru_replay_end(r, 1);
    lru_replay_end(r, 1);
    RS_CHECK(s_grant(r, 3, &expected, &any));
    RS_CHECK(s_grant(r, 1, &expected, &any));
    /* Unknown keys are violations and change nothing. */
    RS_CHECK(lru_replay_grant(r, 42, &expected, &any) == LRU_GRANT_UNKNOWN);
    lru_replay_destroy(&r);
}

static void test_many(void)
{
    enum { N = 1000 };
    int32_t ids[N];
    for (int i = 0; i < N; i++)
        ids[i] = -500 + 3 * i;
    lru_replay_t *r = lru_replay_new(ids, N);
    RS_CHECK(r);
    for (int i = N - 1; i >= 0; i--)
        lru_replay_live(r, ids[i]);
    int32_t expected;
    bool any;
    for (int i = 0; i < N; i++)
        RS_CHECK(s_grant(r, ids[i], &expected, &any));
    for (int i = N - 1; i >= 0; i--)
        lru_replay_end(r, ids[i]);
    for (int round = 0; round < 3; round++)
        for (int i = N - 1; i >= 0; i--) {
            RS_CHECK(s_grant(r, ids[i], &expected, &any));
            lru_replay_end(r, ids[i]);
        }
    lru_replay_destroy(&r);

    int32_t unsorted[] = { 3, 1 };
    RS_CHECK(lru_replay_new(unsorted, 2) == NULL);
    lru_replay_t *empty = lru_replay_new(NULL, 0);
    RS_CHECK(empty && !s_grant(empty, 1, &expected, &any) && !any);
    lru_replay_destroy(&empty);
}

/* Keys going live during a run, retired free and retired held. */
static void test_rotation(void)
{
    int32_t ids[] = { 1, 2, 3, 4, 5 };
    lru_replay_t *r = lru_replay_new(ids, 5);
    RS_CHECK(r);
    int32_t expected;
    bool any;
    lru_replay_live(r, 1);
    lru_replay_live(r, 2);
    RS_CHECK(s_grant(r, 1, &expected, &any));
    lru_replay_end(r, 1);
    /* Key 2 was never used: it comes before released key 1. */
    RS_CHECK(s_grant(r, 2, &expected, &any));
    lru_replay_end(r, 2);
    /* Key 5 goes live while keys 1 and 2 are free: never used, so first. */
    lru_replay_live(r, 5);
    RS_CHECK(lru_replay_grant(r, 1, &expected, &any) == LRU_GRANT_NOT_HEAD);
    RS_CHECK(any && expected == 5);
    lru_replay_end(r, 1);
    RS_CHECK(s_grant(r, 5, &expected, &any));
    lru_replay_end(r, 5);
    /* Free order now: 2, 1, 5. Retiring free key 2 takes it out. */
    lru_replay_retire(r, 2);
    lru_replay_retire(r, 2); /* a repeat changes nothing */
    RS_CHECK(lru_replay_grant(r, 2, &expected, &any) == LRU_GRANT_RETIRED);
    RS_CHECK(any && expected == 1);
    lru_replay_end(r, 2);
    /* Retired key 2 did not come back after that lease ended. */
    RS_CHECK(s_grant(r, 1, &expected, &any));
    /* Retiring held key 1: it never returns, even after its lease. */
    lru_replay_retire(r, 1);
    lru_replay_end(r, 1);
    RS_CHECK(s_grant(r, 5, &expected, &any));
    RS_CHECK(lru_replay_grant(r, 1, &expected, &any) == LRU_GRANT_RETIRED);
    RS_CHECK(!any);
    lru_replay_end(r, 1);
    lru_replay_end(r, 5);
    /* A never-used key retired before use leaves the heap too. */
    lru_replay_live(r, 3);
    lru_replay_retire(r, 3);
    RS_CHECK(s_grant(r, 5, &expected, &any));
    RS_CHECK(lru_replay_grant(r, 3, &expected, &any) == LRU_GRANT_RETIRED);
    RS_CHECK(!any);
    /* A key never live (live_at NULL) is never free; retired keys ignore
     * a late live event. */
    RS_CHECK(lru_replay_grant(r, 4, &expected, &any) == LRU_GRANT_NOT_LIVE);
    lru_replay_live(r, 2);
    lru_replay_end(r, 5);
    RS_CHECK(lru_replay_grant(r, 2, &expected, &any) == LRU_GRANT_RETIRED);
    RS_CHECK(any && expected == 5);
    lru_replay_destroy(&r);
}

int main(void)
{
    test_in_order();
    test_violations();
    test_many();
    test_rotation();
    return 0;
}
