/* kc_coord: the key coordinator's state machine, free of sockets and SQL.
 * It owns the LRU queue of free keys, the open leases and the holders
 * waiting for a key, and turns every grant and every lease end into an
 * event that the caller must make durable before it answers anyone.
 *
 * Invariants: a key is either in the free queue or held by exactly one
 * open lease; the free queue is ordered by release time, oldest first (keys
 * never used since start-up come first, in the order they were added);
 * lease ids and event times strictly increase. */
#ifndef KC_COORD_H
#define KC_COORD_H

#include "rs_proto.h"
#include "rs_lease.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kc_coord_t kc_coord_t;

typedef enum {
    KC_EVENT_GRANT,
    KC_EVENT_END,
    KC_EVENT_KEY_LIVE,    /* a key entered the queue (keys.live_at) */
    KC_EVENT_KEY_RETIRED, /* a key left it for good (keys.retired_at) */
    KC_EVENT_KEY_QUARANTINED, /* a key left it for good, its secret unusable
                                 (keys.quarantined_at; holder: who reported it) */
} kc_event_type_t;

typedef struct {
    kc_event_type_t type;
    uint64_t lease_id;      /* GRANT, END */
    uint32_t key_id;
    int64_t at_us;          /* wall-clock event time, microseconds since the epoch */
    const char *end_reason; /* KC_EVENT_END: RS_LEASE_END_RELEASED or _EXPIRED */
    uint64_t run_id;        /* KC_EVENT_GRANT */
    uint32_t batch_records; /* KC_EVENT_GRANT */
    char holder[RS_HOLDER_MAX + 1]; /* KC_EVENT_GRANT, KC_EVENT_KEY_QUARANTINED */
} kc_event_t;

/* A grant ready to be sent: the waiter it answers and its leases, one per
 * batch it asked for (fewer when fewer keys were free). */
typedef struct {
    uint64_t lease_id;
    uint32_t key_id;
    const uint8_t *sealed;  /* valid until the key is removed: keys never are */
    uint16_t sealed_len;
} kc_grant_lease_t;

typedef struct {
    void *cookie;           /* the caller's handle of the waiter (its routing id) */
    uint64_t seq;           /* request sequence to echo */
    uint8_t release_status; /* outcome of the releases folded into the request */
    uint8_t count;          /* 1 .. wanted */
    int64_t waited_us;      /* from the holder's first request (retries included) to this grant */
    kc_grant_lease_t leases[RS_GROUP_MAX];
} kc_grant_t;

/* Destroys a waiter's cookie when the coordinator drops the waiter. */
typedef void (kc_cookie_free_fn)(void **cookie_p);

/* ttl_ms: lease lifetime. first_lease_id: the next fencing token (one past
 * the largest stored). last_event_us: the latest stored event time, so that
 * new events sort after everything already in the log. max_waiters bounds
 * the queue of holders waiting for a key. Returns NULL on allocation
 * failure. */
kc_coord_t *kc_coord_new(uint32_t ttl_ms, uint64_t first_lease_id, int64_t last_event_us,
                         size_t max_waiters, kc_cookie_free_fn *cookie_free);
void kc_coord_destroy(kc_coord_t **self_p);

enum {
    KC_KEY_USED = 1,    /* released before: not among the never-used keys */
    KC_KEY_RETIRED = 2, /* never to be queued again */
    KC_KEY_QUARANTINED = 4, /* never to be queued again: its secret cannot be unsealed */
};

/* Adds a key at start-up; unless retired it goes to the tail of the LRU
 * queue, so call in LRU order (never-used keys by id, then by last
 * release). Returns -1 on a duplicate id, a bad sealed secret length or
 * allocation failure. */
int kc_coord_add_key(kc_coord_t *self, uint32_t key_id, const uint8_t *sealed, size_t sealed_len,
                     unsigned flags) __attribute__((warn_unused_result));

/* Adds, at start-up, a key whose sealed secret is no secret at all (its
 * length outside 1..RS_SEALED_MAX): it is never queued, and unless
 * `flags` says it is quarantined already it is quarantined now, with
 * `reason` as who reported it (a KEY_QUARANTINED event), so that one bad
 * row costs one key, not the keycoord. Returns -1 on a duplicate id or
 * allocation failure. */
int kc_coord_add_damaged_key(kc_coord_t *self, uint32_t key_id, unsigned flags, const char *reason)
    __attribute__((warn_unused_result));

/* Records, as an event, that a key added at start-up is live now (for a
 * key whose keys.live_at is not set yet). Returns -1 for an unknown key. */
int kc_coord_make_live(kc_coord_t *self, uint32_t key_id);

/* Adds a key while running (keys added to the keyring): it is never used,
 * so it joins the never-used keys at the head of the queue in id order.
 * Produces a KEY_LIVE event. Returns -1 as kc_coord_add_key does. */
int kc_coord_add_live_key(kc_coord_t *self, uint32_t key_id, const uint8_t *sealed,
                          size_t sealed_len) __attribute__((warn_unused_result));

/* Takes a key out of the queue for good: at once when free, after its
 * lease when held. Produces a KEY_RETIRED event. Returns 0, 1 when it was
 * retired already, -1 for an unknown key. */
int kc_coord_retire_key(kc_coord_t *self, uint32_t key_id);

bool kc_coord_has_key(const kc_coord_t *self, uint32_t key_id);

/* Marks key_id as held by an open lease found in the log at start-up (its
 * holder may still be using it): it stays held until release or until
 * ttl_ms after the lease was granted, measured from now_mono_us minus the
 * lease's age (age_us). ttl_ms is the TTL the lease was granted with,
 * which may be longer than this coordinator's (a previous leader's).
 * Returns -1 when the key is unknown or already held. */
int kc_coord_adopt_lease(kc_coord_t *self, uint64_t lease_id, uint32_t key_id, const char *holder,
                         uint32_t ttl_ms, int64_t age_us, int64_t now_mono_us)
    __attribute__((warn_unused_result));

/* Ends lease_id if it is open and held by `holder`; the key goes to the tail
 * of the free queue. Returns RS_RELEASE_OK or RS_RELEASE_UNKNOWN. */
int kc_coord_release(kc_coord_t *self, uint64_t lease_id, const char *holder);

/* Ends lease_id if it is open and held by `holder` (so only the holder's
 * certificate can report it), and takes its key out of the queue for good:
 * the holder could not unseal the key's secret. Produces a
 * KEY_QUARANTINED event (before the lease's END, so the key never returns
 * to the free queue). Sets *key_id on success. Returns RS_RELEASE_OK or
 * RS_RELEASE_UNKNOWN. */
int kc_coord_quarantine(kc_coord_t *self, uint64_t lease_id, const char *holder,
                        uint32_t *key_id);

/* Restarts the TTL of lease_id if it is open and held by `holder`: its
 * deadline becomes now_mono_us + ttl. Returns RS_RELEASE_OK or
 * RS_RELEASE_UNKNOWN. */
int kc_coord_renew(kc_coord_t *self, uint64_t lease_id, const char *holder, int64_t now_mono_us);

/* A request from `holder` that asks for no key: the holder has no lease
 * but those in keep (keep_count of them; renewed in the same request) and
 * waits for none. Ends any other lease it holds (a grant that never reached
 * it, e.g. one sent while it was stopping) and drops it from the waiting
 * queue. Returns how many leases ended. */
size_t kc_coord_goodbye(kc_coord_t *self, const char *holder, const uint64_t *keep,
                        size_t keep_count);

/* Queues a holder that wants `want` keys (1..RS_GROUP_MAX), one per batch.
 * A holder already waiting is replaced (its old cookie freed): it retried.
 * A holder gives back every lease it holds in each request that asks for
 * more, so a lease it still holds evidently never reached it (a lost reply
 * it has now retried): those leases end first. Takes ownership of cookie
 * when queued; when the queue is full the cookie stays with the caller. */
typedef enum {
    KC_WANT_QUEUED = 0,     /* waiting for keys; kc_coord_next_grant serves it */
    KC_WANT_QUEUE_FULL = 1, /* the waiting queue is full: tell the holder to retry */
} kc_want_t;

kc_want_t kc_coord_want(kc_coord_t *self, const char *holder, uint8_t want, uint64_t run_id,
                      uint32_t batch_records, uint64_t seq, uint8_t release_status,
                      void *cookie);

/* Grants keys from the head of the free queue to the first waiter, if both
 * exist: as many as it wants, but no more than are free and no more than
 * its share (the keys in circulation divided among the holders granted
 * keys in the last 200 ms, itself included; at least one). Returns true
 * and fills *out (the cookie passes to the caller). */
bool kc_coord_next_grant(kc_coord_t *self, int64_t now_mono_us, kc_grant_t *out);

/* Ends, as expired, every lease whose deadline has passed. Returns how many. */
size_t kc_coord_expire(kc_coord_t *self, int64_t now_mono_us);

/* Ends a lease whose grant could not be delivered: its holder is gone. */
void kc_coord_abandon(kc_coord_t *self, uint64_t lease_id);

/* Grants nothing before until_mono_us: after an unclean stop, a lease the
 * previous keycoord granted may be missing from the log, and its holder
 * may sign until its TTL has run out. */
void kc_coord_hold_grants(kc_coord_t *self, int64_t until_mono_us);

/* Earliest moment something is due on the monotonic clock (an open
 * lease's deadline, or the end of a grant hold), or INT64_MAX. */
int64_t kc_coord_next_deadline(const kc_coord_t *self);

/* Events produced since the last clear, in order. */
const kc_event_t *kc_coord_events(const kc_coord_t *self, size_t *count);
void kc_coord_events_clear(kc_coord_t *self);

/* The fencing token the next grant will get. */
uint64_t kc_coord_next_lease_id(const kc_coord_t *self);

size_t kc_coord_key_count(const kc_coord_t *self);
size_t kc_coord_free_count(const kc_coord_t *self);
size_t kc_coord_held_count(const kc_coord_t *self);
/* Keys out of the queue for good and not serving a last lease; scans the
 * keyring (for the metrics, a few times a second at most). */
size_t kc_coord_retired_count(const kc_coord_t *self);
/* Keys quarantined (their secret could not be unsealed) and not retired
 * since, with no lease open: out of the queue until an operator acts. */
size_t kc_coord_quarantined_count(const kc_coord_t *self);
size_t kc_coord_waiting_count(const kc_coord_t *self);
uint32_t kc_coord_ttl_ms(const kc_coord_t *self);

#endif
