/* kc_store: the keycoord's database side, and all of its SQL: loading the
 * keyring in LRU order, recovering open leases, and appending grant and
 * end events to the lease log in one transaction per flush. */
#ifndef KC_STORE_H
#define KC_STORE_H

#include "kc_coord.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct kc_store_t kc_store_t;

/* Connects and checks the schema. The owner connection also takes the
 * keycoord's advisory lock (one keycoord per database) and is the one that
 * loads state and records the clean stop; the lease log writer has a
 * connection of its own. Returns NULL with a one-line reason in err. */
kc_store_t *kc_store_new(const char *db_url, bool owner, char *err, size_t err_size);
void kc_store_destroy(kc_store_t **self_p);

/* Builds the coordinator from the stored state: the next fencing token,
 * the latest event time, free keys in LRU order (never used first, then by
 * last release), and every lease still open in the log, adopted as held
 * until its TTL runs out. Marks the keycoord as running; *unclean tells
 * whether the previous one stopped without writing its whole log. Returns
 * NULL with a reason in err. */
kc_coord_t *kc_store_load(kc_store_t *self, uint32_t ttl_ms, size_t max_waiters,
                          kc_cookie_free_fn *cookie_free, bool *unclean, char *err,
                          size_t err_size);

/* For the owner connection: takes keyring change notifications and, when
 * there were some (or force), reloads the keyring: keys not yet known are
 * added to the queue, keys whose retirement was asked for are retired.
 * Returns the number of changes, or -1 when the reload failed. */
int kc_store_poll_keys(kc_store_t *self, kc_coord_t *coord, bool force);

/* Reserves lease ids up to `up_to` (inclusive) durably, before they are
 * used: after a crash the next keycoord starts past every reserved id,
 * even those it granted without logging. Returns 0 or -1. */
int kc_store_reserve_lease_ids(kc_store_t *self, uint64_t up_to)
    __attribute__((warn_unused_result));

/* The batch size of run run_id, into *batch_size. Returns 0, 1 when there
 * is no such run, -1 on a database error. */
int kc_store_run_batch_size(kc_store_t *self, uint64_t run_id, uint32_t *batch_size)
    __attribute__((warn_unused_result));

/* Whether this keycoord still holds the database's keycoord lock. */
typedef enum {
    KC_OWNER_UNKNOWN = -1, /* the database is away: ask again later */
    KC_OWNER_HELD = 0,     /* alive, or reconnected with the lock taken back */
    KC_OWNER_LOST = 1,     /* another keycoord took the lock meanwhile: stop */
} kc_owner_t;

/* For the owner connection: checks that it is alive and, when it was lost
 * (a database restart drops it, and the advisory lock with it), connects
 * again and takes the lock back. */
kc_owner_t kc_store_check_owner(kc_store_t *self) __attribute__((warn_unused_result));

/* Records a clean stop: every event is in the log. Returns 0 or -1. */
int kc_store_mark_clean_stop(kc_store_t *self) __attribute__((warn_unused_result));

/* Appends events to the lease log atomically and durably. With retry
 * set it is idempotent: an event already stored is left as it is (for a
 * write sent again after a failure, whose first try may have committed).
 * A first try (retry false) skips that check, which costs the database
 * about a fifth of each insert; a lease that is somehow stored already
 * makes it fail, and the retry then succeeds. Returns 0, or -1 after
 * logging why (nothing of this write is stored then). */
int kc_store_write(kc_store_t *self, const kc_event_t *events, size_t count, bool retry)
    __attribute__((warn_unused_result));

/* Re-establishes a broken connection (and the advisory lock). Returns 0
 * when the connection is usable. */
int kc_store_reconnect(kc_store_t *self) __attribute__((warn_unused_result));

#endif
