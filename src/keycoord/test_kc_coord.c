/* test_kc_coord: the LRU queue of keys — least recently released first,
 * one holder per key, waiting holders served in order, expiry, retries. */
#include "kc_coord.h"
#include "rs_lease.h"
#include "rs_check.h"
#include "rs_time.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static const uint8_t s_sealed[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
static int s_freed;

static void s_cookie_free(void **cookie_p)
{
    s_freed++;
    *cookie_p = NULL;
}

static kc_coord_t *s_coord(int keys, uint32_t ttl_ms)
{
    kc_coord_t *c = kc_coord_new(ttl_ms, 1, 0, 16, s_cookie_free);
    RS_CHECK(c);
    for (int i = 1; i <= keys; i++)
        RS_CHECK(kc_coord_add_key(c, (uint32_t) i, s_sealed, sizeof s_sealed, 0) == 0);
    return c;
}

/* Asks for one key for `holder` and returns its lease (fails if none). */
static kc_grant_lease_t s_lease(kc_coord_t *c, const char *holder, int64_t now)
{
    static int cookie;
    RS_CHECK(kc_coord_want(c, holder, 1, 1, 10, 1, RS_RELEASE_NONE, &cookie) == KC_WANT_QUEUED);
    kc_grant_t g;
    RS_CHECK(kc_coord_next_grant(c, now, &g));
    RS_CHECK(g.count == 1);
    return g.leases[0];
}

static void test_lru_order(void)
{
    kc_coord_t *c = s_coord(3, 1000);
    RS_CHECK(kc_coord_add_key(c, 2, s_sealed, sizeof s_sealed, 0) != 0); /* duplicate id */
    kc_grant_lease_t a = s_lease(c, "a", 0), b = s_lease(c, "b", 0);
    RS_CHECK(a.key_id == 1 && b.key_id == 2); /* never-used keys in the order added */
    RS_CHECK(a.lease_id == 1 && b.lease_id == 2);
    RS_CHECK(kc_coord_release(c, b.lease_id, "b") == RS_RELEASE_OK);
    RS_CHECK(kc_coord_release(c, a.lease_id, "a") == RS_RELEASE_OK);
    /* Free order now: 3 (never used), 2 (released first), 1. */
    RS_CHECK(s_lease(c, "x", 0).key_id == 3);
    RS_CHECK(s_lease(c, "y", 0).key_id == 2);
    RS_CHECK(s_lease(c, "z", 0).key_id == 1);
    RS_CHECK(kc_coord_free_count(c) == 0 && kc_coord_held_count(c) == 3);

    /* Events: 5 grants and 2 ends, times strictly increasing. */
    size_t n;
    const kc_event_t *e = kc_coord_events(c, &n);
    RS_CHECK(n == 7);
    for (size_t i = 1; i < n; i++)
        RS_CHECK(e[i].at_us > e[i - 1].at_us);
    RS_CHECK(e[2].type == KC_EVENT_END && e[2].key_id == 2 && !strcmp(e[2].end_reason, RS_LEASE_END_RELEASED));
    RS_CHECK(e[0].type == KC_EVENT_GRANT && !strcmp(e[0].holder, "a") && e[0].batch_records == 10);
    kc_coord_events_clear(c);
    RS_CHECK(kc_coord_events(c, &n) && n == 0);
    kc_coord_destroy(&c);
    RS_CHECK(c == NULL);
}

static void test_exclusive_and_waiting(void)
{
    kc_coord_t *c = s_coord(1, 1000);
    kc_grant_lease_t a = s_lease(c, "a", 0);
    int cookie_b, cookie_c;
    RS_CHECK(kc_coord_want(c, "b", 1, 1, 10, 5, RS_RELEASE_NONE, &cookie_b) == KC_WANT_QUEUED);
    RS_CHECK(kc_coord_want(c, "c", 1, 1, 10, 6, RS_RELEASE_NONE, &cookie_c) == KC_WANT_QUEUED);
    kc_grant_t g;
    RS_CHECK(!kc_coord_next_grant(c, 0, &g)); /* the only key is held */
    RS_CHECK(kc_coord_waiting_count(c) == 2);
    /* Only the holder can release; a wrong holder or lease id is unknown. */
    RS_CHECK(kc_coord_release(c, a.lease_id, "b") == RS_RELEASE_UNKNOWN);
    RS_CHECK(kc_coord_release(c, a.lease_id + 100, "a") == RS_RELEASE_UNKNOWN);
    RS_CHECK(kc_coord_release(c, a.lease_id, "a") == RS_RELEASE_OK);
    RS_CHECK(kc_coord_release(c, a.lease_id, "a") == RS_RELEASE_UNKNOWN); /* not twice */
    RS_CHECK(kc_coord_next_grant(c, 0, &g));
    RS_CHECK(g.cookie == &cookie_b && g.seq == 5 && g.count == 1 && g.leases[0].key_id == 1); /* first come, first served */
    RS_CHECK(!kc_coord_next_grant(c, 0, &g));
    RS_CHECK(kc_coord_release(c, 2, "b") == RS_RELEASE_OK);
    RS_CHECK(kc_coord_next_grant(c, 0, &g) && g.cookie == &cookie_c);
    kc_coord_destroy(&c);
}

static void test_retry_and_bounds(void)
{
    kc_coord_t *c = s_coord(1, 1000);
    kc_grant_lease_t a = s_lease(c, "a", 0);
    (void) a;
    int first, second;
    s_freed = 0;
    int64_t asked_us = rs_mono_us();
    RS_CHECK(kc_coord_want(c, "b", 1, 1, 10, 1, RS_RELEASE_NONE, &first) == KC_WANT_QUEUED);
    /* The same holder again (a Lazy Pirate retry) replaces its request; its
     * wait still runs from the first one. */
    nanosleep(&(struct timespec) { .tv_nsec = 30 * 1000000 }, NULL);
    int64_t retried_us = rs_mono_us();
    RS_CHECK(kc_coord_want(c, "b", 1, 1, 10, 2, RS_RELEASE_NONE, &second) == KC_WANT_QUEUED);
    RS_CHECK(s_freed == 1 && kc_coord_waiting_count(c) == 1);
    /* Holder "a" asks again without releasing: its grant was lost, so its
     * old lease ends and the key goes to the next waiter ("b"). */
    int again;
    RS_CHECK(kc_coord_want(c, "a", 1, 1, 10, 3, RS_RELEASE_NONE, &again) == KC_WANT_QUEUED);
    kc_grant_t g;
    int64_t granted_us = rs_mono_us();
    RS_CHECK(kc_coord_next_grant(c, granted_us, &g) && g.cookie == &second && g.seq == 2);
    RS_CHECK(g.waited_us > granted_us - retried_us && g.waited_us <= granted_us - asked_us);
    /* The waiting queue is bounded. */
    int cookies[20];
    int refused = 0;
    for (int i = 0; i < 20; i++) {
        char holder[8];
        snprintf(holder, sizeof holder, "w%d", i);
        refused += kc_coord_want(c, holder, 1, 1, 1, 1, RS_RELEASE_NONE, &cookies[i]) == KC_WANT_QUEUE_FULL;
    }
    RS_CHECK(kc_coord_waiting_count(c) == 16 && refused == 5);
    s_freed = 0;
    kc_coord_destroy(&c);
    RS_CHECK(s_freed == 16); /* every queued cookie is freed */
}

static void test_expiry(void)
{
    kc_coord_t *c = s_coord(2, 100);
    kc_grant_lease_t a = s_lease(c, "a", 1000);
    RS_CHECK(kc_coord_next_deadline(c) == 1000 + 100 * 1000);
    RS_CHECK(kc_coord_expire(c, 100999) == 0);
    RS_CHECK(kc_coord_expire(c, 101000) == 1);
    RS_CHECK(kc_coord_next_deadline(c) == INT64_MAX);
    RS_CHECK(kc_coord_release(c, a.lease_id, "a") == RS_RELEASE_UNKNOWN);
    RS_CHECK(kc_coord_renew(c, a.lease_id, "a", 101000) == RS_RELEASE_UNKNOWN); /* too late */
    size_t n;
    const kc_event_t *e = kc_coord_events(c, &n);
    RS_CHECK(n == 2 && e[1].type == KC_EVENT_END && !strcmp(e[1].end_reason, RS_LEASE_END_EXPIRED));
    /* The expired key went to the tail: the never-used key 2 comes first. */
    RS_CHECK(s_lease(c, "b", 200000).key_id == 2);
    RS_CHECK(s_lease(c, "c", 200000).key_id == 1);
    /* A renewal restarts the TTL; only the holder can renew. */
    RS_CHECK(kc_coord_renew(c, 3, "c", 250000) == RS_RELEASE_OK);
    RS_CHECK(kc_coord_renew(c, 3, "b", 250000) == RS_RELEASE_UNKNOWN);
    RS_CHECK(kc_coord_expire(c, 349999) == 1); /* lease 2 ("b", granted at 200000) */
    RS_CHECK(kc_coord_next_deadline(c) == 350000);
    /* An undeliverable grant ends at once. */
    kc_coord_abandon(c, 3);
    RS_CHECK(kc_coord_free_count(c) == 2);
    kc_coord_destroy(&c);
}

static void test_adopt(void)
{
    /* An open lease found in the log keeps its key out of the queue until
     * what is left of its TTL has passed. */
    kc_coord_t *c = kc_coord_new(1000, 50, 0, 16, s_cookie_free);
    RS_CHECK(kc_coord_add_key(c, 1, s_sealed, sizeof s_sealed, 0) == 0);
    RS_CHECK(kc_coord_add_key(c, 2, s_sealed, sizeof s_sealed, 0) == 0);
    RS_CHECK(kc_coord_adopt_lease(c, 60, 1, "old", 1000, 400000, 0) == 0);
    RS_CHECK(kc_coord_adopt_lease(c, 61, 1, "old", 1000, 0, 0) != 0); /* already held */
    RS_CHECK(kc_coord_adopt_lease(c, 62, 9, "old", 1000, 0, 0) != 0); /* no such key */
    RS_CHECK(kc_coord_next_deadline(c) == 600000);
    kc_grant_lease_t g = s_lease(c, "new", 0);
    RS_CHECK(g.key_id == 2 && g.lease_id == 61); /* fencing tokens continue past the log */
    RS_CHECK(kc_coord_expire(c, 600000) == 1);
    RS_CHECK(kc_coord_free_count(c) == 1);
    kc_coord_destroy(&c);

    /* A lease granted by a previous leader with a longer TTL (3 s) than
     * this one's (1 s) is held for the longer one: not free at 1 s. */
    c = kc_coord_new(1000, 50, 0, 16, s_cookie_free);
    RS_CHECK(kc_coord_add_key(c, 1, s_sealed, sizeof s_sealed, 0) == 0);
    RS_CHECK(kc_coord_adopt_lease(c, 70, 1, "old", 3000, 500000, 0) == 0);
    RS_CHECK(kc_coord_next_deadline(c) == 2500000);
    RS_CHECK(kc_coord_expire(c, 1000000) == 0);
    RS_CHECK(kc_coord_free_count(c) == 0);
    RS_CHECK(kc_coord_expire(c, 2500000) == 1);
    RS_CHECK(kc_coord_free_count(c) == 1);
    kc_coord_destroy(&c);
}

static void test_rotation(void)
{
    kc_coord_t *c = s_coord(3, 1000);
    kc_grant_lease_t a = s_lease(c, "a", 0);
    RS_CHECK(a.key_id == 1);
    RS_CHECK(kc_coord_release(c, a.lease_id, "a") == RS_RELEASE_OK);
    /* Queue: 2, 3 (never used), 1. A new key 5 joins the never-used keys
     * in id order, before the used key 1; key 4 then goes before 5. */
    RS_CHECK(kc_coord_add_live_key(c, 5, s_sealed, sizeof s_sealed) == 0);
    RS_CHECK(kc_coord_add_live_key(c, 4, s_sealed, sizeof s_sealed) == 0);
    RS_CHECK(kc_coord_add_live_key(c, 4, s_sealed, sizeof s_sealed) != 0);
    RS_CHECK(kc_coord_has_key(c, 4) && !kc_coord_has_key(c, 6));
    /* Retiring a free key takes it out at once; a held one after its lease. */
    RS_CHECK(kc_coord_retire_key(c, 3) == 0);
    RS_CHECK(kc_coord_retire_key(c, 3) == 1);
    RS_CHECK(kc_coord_retire_key(c, 9) == -1);
    kc_grant_lease_t g2 = s_lease(c, "b", 0);
    RS_CHECK(g2.key_id == 2);
    RS_CHECK(kc_coord_retire_key(c, 2) == 0);
    RS_CHECK(s_lease(c, "c", 0).key_id == 4);
    RS_CHECK(s_lease(c, "d", 0).key_id == 5);
    RS_CHECK(kc_coord_release(c, g2.lease_id, "b") == RS_RELEASE_OK); /* 2 stays out */
    RS_CHECK(s_lease(c, "e", 0).key_id == 1);
    RS_CHECK(kc_coord_free_count(c) == 0);
    size_t n;
    const kc_event_t *e = kc_coord_events(c, &n);
    size_t live = 0, retired = 0;
    for (size_t i = 0; i < n; i++) {
        live += e[i].type == KC_EVENT_KEY_LIVE;
        retired += e[i].type == KC_EVENT_KEY_RETIRED;
    }
    RS_CHECK(live == 2 && retired == 2);
    kc_coord_destroy(&c);

    /* Many keys: the id map grows and still finds every key. */
    c = kc_coord_new(1000, 1, 0, 16, s_cookie_free);
    for (uint32_t id = 1; id <= 5000; id++)
        RS_CHECK(kc_coord_add_key(c, id * 7, s_sealed, sizeof s_sealed,
                                  id % 2 ? KC_KEY_USED : KC_KEY_RETIRED) == 0);
    for (uint32_t id = 1; id <= 5000; id++)
        RS_CHECK(kc_coord_has_key(c, id * 7) && !kc_coord_has_key(c, id * 7 + 1));
    RS_CHECK(kc_coord_free_count(c) == 2500);
    kc_coord_destroy(&c);
}

static void test_goodbye(void)
{
    kc_coord_t *c = s_coord(1, 1000);
    kc_grant_lease_t a = s_lease(c, "a", 0);
    int cookie;
    RS_CHECK(kc_coord_want(c, "b", 1, 1, 10, 1, RS_RELEASE_NONE, &cookie) == KC_WANT_QUEUED);
    /* "b" stops waiting: its place in the queue goes. */
    s_freed = 0;
    RS_CHECK(kc_coord_goodbye(c, "b", NULL, 0) == 0 && s_freed == 1);
    RS_CHECK(kc_coord_waiting_count(c) == 0);
    /* A renewal keeps the renewed lease; any other request wanting nothing
     * ends a lease the holder never received. */
    RS_CHECK(kc_coord_goodbye(c, "a", &a.lease_id, 1) == 0 && kc_coord_held_count(c) == 1);
    RS_CHECK(kc_coord_goodbye(c, "a", NULL, 0) == 1 && kc_coord_free_count(c) == 1);
    kc_coord_destroy(&c);
}

static void test_several_per_request(void)
{
    kc_coord_t *c = s_coord(5, 1000);
    kc_grant_lease_t a = s_lease(c, "a", 0); /* key 1 */
    int cookie_b, cookie_c;
    /* "b" wants 3 for 3 batches: keys 2, 3, 4, in LRU order, each its own
     * lease ("a" was granted long enough ago not to share the keys now). */
    const int64_t later = 1000000;
    RS_CHECK(kc_coord_want(c, "b", 3, 1, 1, 7, RS_RELEASE_NONE, &cookie_b) == KC_WANT_QUEUED);
    kc_grant_t g;
    RS_CHECK(kc_coord_next_grant(c, later, &g) && g.cookie == &cookie_b && g.count == 3);
    for (uint8_t i = 0; i < 3; i++)
        RS_CHECK(g.leases[i].key_id == 2u + i && g.leases[i].lease_id == 2u + i);
    /* "c" wants 4 while one key is free: it gets that one now. */
    RS_CHECK(kc_coord_want(c, "c", 4, 1, 1, 8, RS_RELEASE_NONE, &cookie_c) == KC_WANT_QUEUED);
    RS_CHECK(kc_coord_next_grant(c, later, &g) && g.count == 1 && g.leases[0].key_id == 5);
    RS_CHECK(kc_coord_free_count(c) == 0 && kc_coord_held_count(c) == 5);
    /* "b" renews two of its three and asks for nothing: the third, which it
     * does not mention, is one it never received, and ends. */
    uint64_t keep[2] = { 2, 4 };
    RS_CHECK(kc_coord_goodbye(c, "b", keep, 2) == 1 && kc_coord_free_count(c) == 1);
    /* "b" asks for more without giving its leases back: they were lost. */
    RS_CHECK(kc_coord_want(c, "b", 2, 1, 1, 9, RS_RELEASE_NONE, &cookie_b) == KC_WANT_QUEUED);
    RS_CHECK(kc_coord_held_count(c) == 2); /* "a" and "c" still hold theirs */
    RS_CHECK(kc_coord_next_grant(c, later, &g) && g.count == 2);
    RS_CHECK(g.leases[0].key_id == 3 && g.leases[1].key_id == 2); /* released in that order */
    RS_CHECK(kc_coord_release(c, a.lease_id, "a") == RS_RELEASE_OK);
    /* Every grant is its own event, in order. */
    size_t n;
    const kc_event_t *e = kc_coord_events(c, &n);
    size_t grants = 0;
    for (size_t i = 0; i < n; i++)
        grants += e[i].type == KC_EVENT_GRANT;
    RS_CHECK(grants == 7);
    kc_coord_destroy(&c);

    /* Holders granted keys lately share them: with "x" active, "y" gets
     * half of the 4 keys however many it wants; alone, "y" gets them all. */
    c = s_coord(4, 1000);
    RS_CHECK(kc_coord_want(c, "x", 1, 1, 1, 1, RS_RELEASE_NONE, &cookie_b) == KC_WANT_QUEUED);
    RS_CHECK(kc_coord_next_grant(c, 0, &g) && g.count == 1);
    RS_CHECK(kc_coord_release(c, g.leases[0].lease_id, "x") == RS_RELEASE_OK);
    RS_CHECK(kc_coord_want(c, "y", 4, 1, 1, 2, RS_RELEASE_NONE, &cookie_c) == KC_WANT_QUEUED);
    RS_CHECK(kc_coord_next_grant(c, 100000, &g) && g.count == 2);
    RS_CHECK(kc_coord_want(c, "y", 4, 1, 1, 3, RS_RELEASE_NONE, &cookie_c) == KC_WANT_QUEUED);
    RS_CHECK(kc_coord_next_grant(c, 400000, &g) && g.count == 4);
    kc_coord_destroy(&c);
}

/* A key reported broken by its holder leaves the queue for good; only
 * the holder of an open lease can report it; loaded quarantined keys are
 * never queued; retiring a quarantined key is still recorded. */
static void test_quarantine(void)
{
    kc_coord_t *c = s_coord(3, 1000);
    kc_grant_lease_t a = s_lease(c, "a", 0), b = s_lease(c, "b", 0);
    RS_CHECK(a.key_id == 1 && b.key_id == 2);
    uint32_t key = 0;
    RS_CHECK(kc_coord_quarantine(c, b.lease_id, "a", &key) == RS_RELEASE_UNKNOWN); /* not a's */
    RS_CHECK(kc_coord_quarantine(c, 999, "b", &key) == RS_RELEASE_UNKNOWN);
    kc_coord_events_clear(c);
    RS_CHECK(kc_coord_quarantine(c, b.lease_id, "b", &key) == RS_RELEASE_OK && key == 2);
    RS_CHECK(kc_coord_quarantine(c, b.lease_id, "b", &key) == RS_RELEASE_UNKNOWN); /* ended */
    size_t n;
    const kc_event_t *e = kc_coord_events(c, &n);
    RS_CHECK(n == 2 && e[0].type == KC_EVENT_KEY_QUARANTINED && e[0].key_id == 2
             && !strcmp(e[0].holder, "b") && e[1].type == KC_EVENT_END
             && e[1].lease_id == b.lease_id && e[1].at_us > e[0].at_us);
    RS_CHECK(kc_coord_held_count(c) == 1 && kc_coord_free_count(c) == 1);
    RS_CHECK(kc_coord_release(c, a.lease_id, "a") == RS_RELEASE_OK);
    /* Key 2 never comes back: 3, then 1, then nothing. */
    RS_CHECK(s_lease(c, "x", 0).key_id == 3);
    RS_CHECK(s_lease(c, "y", 0).key_id == 1);
    static int cookie;
    RS_CHECK(kc_coord_want(c, "z", 1, 1, 10, 1, RS_RELEASE_NONE, &cookie) == 0);
    kc_grant_t g;
    RS_CHECK(!kc_coord_next_grant(c, 0, &g));
    /* The operator retires it: recorded, though it was out already. */
    kc_coord_events_clear(c);
    RS_CHECK(kc_coord_retire_key(c, 2) == 0);
    e = kc_coord_events(c, &n);
    RS_CHECK(n == 1 && e[0].type == KC_EVENT_KEY_RETIRED && e[0].key_id == 2);
    kc_coord_destroy(&c);

    c = kc_coord_new(1000, 1, 0, 16, s_cookie_free);
    RS_CHECK(kc_coord_add_key(c, 1, s_sealed, sizeof s_sealed, KC_KEY_QUARANTINED) == 0);
    RS_CHECK(kc_coord_add_key(c, 2, s_sealed, sizeof s_sealed, 0) == 0);
    RS_CHECK(kc_coord_free_count(c) == 1 && s_lease(c, "a", 0).key_id == 2);
    kc_coord_destroy(&c);
}

int main(void)
{
    test_lru_order();
    test_exclusive_and_waiting();
    test_retry_and_bounds();
    test_expiry();
    test_adopt();
    test_rotation();
    test_goodbye();
    test_several_per_request();
    test_quarantine();
    printf("kc_coord: ok\n");
    return 0;
}
