/* kc_store: the keycoord's database side, and all of its SQL: leadership
 * (the advisory lock and the epoch of keycoord_state), loading the keyring
 * in LRU order, recovering open leases, and appending grant and end events
 * to the lease log, fenced by the epoch, in one transaction per flush. */
#ifndef KC_STORE_H
#define KC_STORE_H

#include "kc_coord.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct kc_store_t kc_store_t;

/* Connects and checks the schema. The owner connection is the one that
 * tries for leadership (kc_store_try_lead) and, once leading, holds the
 * keycoord's advisory lock, loads state and records the clean stop; the
 * lease log writer has a connection of its own. Returns NULL with a
 * one-line reason in err. */
kc_store_t *kc_store_new(const char *db_url, bool owner, char *err, size_t err_size);
void kc_store_destroy(kc_store_t **self_p);

/* The owner session's idle_session_timeout (PostgreSQL 14 and later), in
 * ms. A leader confirms its leadership on that session every 250 ms
 * (kc_server.c); one that stops issuing statements (frozen by SIGSTOP or
 * a stalled VM, hung, cut off by a partition) has its session ended by
 * the server this long after the last one, and with it the lock, so that
 * a standby takes over without an operator. Eight confirmation periods:
 * a busy host that delays a few confirmations keeps its leadership. The
 * same bound applies to an owner session left inside a transaction. */
#define KC_OWNER_IDLE_TIMEOUT_MS 2000

/* What one try for leadership found. */
typedef enum {
    KC_LEAD_TAKEN = 0,   /* this keycoord leads now, in a new epoch */
    KC_LEAD_STANDBY = 1, /* another keycoord holds the lock */
    KC_LEAD_RETRY = 2,   /* a database error worth another try on a new connection (logged) */
    KC_LEAD_FAILED = 3,  /* an error that will not go away by itself, e.g. a role that may
                          * not update keycoord_state (logged) */
} kc_lead_t;

/* What the state row said at a try for leadership. */
typedef struct {
    int64_t epoch;         /* KC_LEAD_TAKEN: the new term's; KC_LEAD_STANDBY: the leader's */
    bool unclean;          /* KC_LEAD_TAKEN: the previous leader stopped without its whole
                            * log written */
    uint32_t lease_ttl_ms; /* the lease TTL of the leader (KC_LEAD_STANDBY) or of the previous
                            * one (KC_LEAD_TAKEN); 0 when none was recorded (before schema
                            * version 8) */
    int64_t hold_ms;       /* KC_LEAD_TAKEN: no key may be granted for this long from now, 0
                            * for none: after an unclean stop, the longer of the previous
                            * leader's TTL and this one's plus unclean_extra_ms; at least what
                            * was left of a hold the previous leader was serving (recorded in
                            * keycoord_state.grants_held_until, so that a stop in the middle
                            * of a hold, clean or not, does not shorten it) */
} kc_lead_state_t;

/* For the owner connection: tries once to become the leader. Connects
 * again if needed, tries the advisory lock without waiting and, when it
 * gets it, starts a new term in one transaction: keycoord_state.epoch + 1
 * (from then on the database refuses every lease-log write of an older
 * epoch, and writes of the previous leader in flight have committed),
 * clean_stop false, lease_ttl_ms = ttl_ms (this keycoord's TTL, recorded
 * so that standbys and the next leader know it), grants_held_until = now
 * + state->hold_ms, and a keycoord_terms row (epoch, ttl_ms) that tells
 * later leaders how long this term's leases last. unclean_extra_ms: what
 * a hold after an unclean stop adds to the TTL (KC_LEADER_VALID_MS).
 * Fills *state. A stop asked for (SIGINT/SIGTERM) while it connected
 * again is KC_LEAD_RETRY, the lock not tried: a keycoord on its way out
 * takes nothing over. */
kc_lead_t kc_store_try_lead(kc_store_t *self, uint32_t ttl_ms, int unclean_extra_ms,
                            kc_lead_state_t *state) __attribute__((warn_unused_result));

/* The database session (backend pid) of the owner connection, 0 when
 * there is none: the session that holds the lock while leading. */
int kc_store_session_pid(kc_store_t *self);

/* Builds the coordinator from the stored state, for a leader that has
 * just begun its term: the next fencing token, the latest event time, free
 * keys in LRU order (never used first, then by last release), and every
 * lease still open in the log, adopted as held from now for the TTL of
 * the term that granted it (its holder may have renewed it until the
 * previous leader stopped; renewals are not logged), at least this
 * leader's ttl_ms, plus adopt_extra_ms (after an unclean stop, the time a
 * deposed leader may still renew). Returns NULL with a reason in err. */
kc_coord_t *kc_store_load(kc_store_t *self, uint32_t ttl_ms, uint32_t adopt_extra_ms,
                          size_t max_waiters, kc_cookie_free_fn *cookie_free, char *err,
                          size_t err_size);

/* For the owner connection: takes keyring change notifications and, when
 * there were some (or force), reloads the keyring: keys not yet known are
 * added to the queue, keys whose retirement was asked for are retired.
 * Returns the number of changes, or -1 when the reload failed. */
int kc_store_poll_keys(kc_store_t *self, kc_coord_t *coord, bool force);

/* Reserves lease ids up to `up_to` (inclusive) durably, before they are
 * used: after a crash the next keycoord starts past every reserved id,
 * even those it granted without logging. Only while `epoch` is current,
 * so that a deposed leader cannot reserve ids past those a new leader
 * started from. Returns 0, 1 when epoch is not current, -1 on error. */
int kc_store_reserve_lease_ids(kc_store_t *self, uint64_t up_to, int64_t epoch)
    __attribute__((warn_unused_result));

/* The batch size of run run_id, into *batch_size. Returns 0, 1 when there
 * is no such run, -1 on a database error. */
int kc_store_run_batch_size(kc_store_t *self, uint64_t run_id, uint32_t *batch_size)
    __attribute__((warn_unused_result));

/* Whether this keycoord still leads. */
typedef enum {
    KC_OWNER_HELD = 0, /* the lock's session lives and the epoch is ours */
    KC_OWNER_LOST = 1, /* the session (and the lock) is gone, or the epoch moved on */
} kc_owner_t;

/* For the owner connection: confirms leadership in epoch with one query
 * on the lock's session, never reconnecting (a new session would not hold
 * the lock). On KC_OWNER_LOST, why says what was found. */
kc_owner_t kc_store_confirm(kc_store_t *self, int64_t epoch, char *why, size_t why_size)
    __attribute__((warn_unused_result));

/* Records a clean stop (every event is in the log), only while epoch is
 * the current one: a keycoord that does not own the state never touches
 * it. Returns 0, 1 when epoch is not current (nothing written), -1 on a
 * database error. */
int kc_store_mark_clean_stop(kc_store_t *self, int64_t epoch) __attribute__((warn_unused_result));

/* kc_store_write's outcome when the database refused the write because
 * epoch is not the current one: this keycoord was deposed. */
#define KC_WRITE_DEPOSED 1

/* Appends events to the lease log atomically and durably, under the
 * writer's epoch: every row carries it, and the transaction stores
 * nothing unless it is the current epoch. With retry set it is
 * idempotent: an event already stored is left as it is (for a write sent
 * again after a failure, whose first try may have committed). A first
 * try (retry false) skips that check, which costs the database about a
 * fifth of each insert; a lease that is somehow stored already makes it
 * fail, and the retry then succeeds. Returns 0, KC_WRITE_DEPOSED when
 * the epoch is not current, or -1 after logging why (nothing of this
 * write is stored in either case). */
int kc_store_write(kc_store_t *self, const kc_event_t *events, size_t count, bool retry,
                   int64_t epoch) __attribute__((warn_unused_result));

/* Re-establishes a broken connection (not the advisory lock: a leader
 * whose lock session broke is no longer the leader). Returns 0 when the
 * connection is usable. */
int kc_store_reconnect(kc_store_t *self) __attribute__((warn_unused_result));

#endif
