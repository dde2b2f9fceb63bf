/* kc_leader: a keycoord's life between standby and leader. A keycoord
 * started while another leads waits as a hot standby: it keeps trying the
 * database's keycoord lock, without binding its lease socket. Once it has
 * the lock it begins a new leadership term (keycoord_state.epoch + 1, see
 * kc_store_try_lead), rebuilds its state from the lease log, binds and
 * serves until it is stopped or deposed; a deposed leader closes its
 * socket and goes back to standby, never to grant under its old epoch. */
#ifndef KC_LEADER_H
#define KC_LEADER_H

#include "kc_store.h"
#include "rs_security.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *db_url;
    const char *bind;        /* the lease ROUTER's endpoint */
    uint32_t ttl_ms;         /* lease TTL */
    size_t max_waiters;
    rs_security_t *security; /* borrowed */
} kc_leader_config_t;

/* How waiting for leadership ended. */
typedef enum {
    KC_WAIT_LEADING = 0,       /* this keycoord leads; the lock is held */
    KC_WAIT_STOPPED = 1,       /* interrupted (SIGINT/SIGTERM) first */
    KC_WAIT_FAILED = 2,        /* the database refuses the takeover for good (logged) */
    KC_WAIT_MISCONFIGURED = 3, /* the leader's lease TTL is not this keycoord's (logged) */
} kc_wait_t;

/* Waits as a standby until this keycoord leads. *owner_p is the owner
 * store and *log_p the lease log's (either NULL: connect one, retrying
 * with backoff while the database is away; both are connected before the
 * lock is tried, so that nothing blocks on a connection attempt once it
 * is held); on return *owner_p holds the lock. Logs one line when another
 * leads. A leader that was just deposed (stepped_down) waits a second
 * before it tries, so that a standby that was waiting takes over first. A
 * standby whose --lease-ttl-ms differs from the leader's gives up
 * (KC_WAIT_MISCONFIGURED): the keycoords of one database must agree on
 * how long a lease lasts. On KC_WAIT_LEADING, *term has the new epoch,
 * whether the previous leader stopped uncleanly and its lease TTL. */
kc_wait_t kc_leader_wait(const kc_leader_config_t *config, kc_store_t **owner_p,
                         kc_store_t **log_p, bool stepped_down, kc_lead_state_t *term)
    __attribute__((warn_unused_result));

/* How a term ended. */
typedef enum {
    KC_TERM_STOPPED = 0, /* interrupted; clean stop recorded (the whole log written) */
    KC_TERM_UNCLEAN = 1, /* interrupted, but the log could not be completed */
    KC_TERM_DEPOSED = 2, /* another leads now: back to standby */
    KC_TERM_FAILED = 3,  /* could not load, bind or serve: exit */
} kc_term_t;

/* Serves the leadership term that kc_leader_wait began (term) with the
 * owner store *owner_p (which holds the lock; destroyed and set to NULL
 * when the term ends otherwise than by a stop, so that the lock is let
 * go) and the lease log's store *log_p (taken: set to NULL). Leases the
 * log still has open are held for the longer of this keycoord's TTL and
 * the previous leader's; after an unclean stop of the
 * previous leader, grants nothing for that long and KC_LEADER_VALID_MS. */
kc_term_t kc_leader_term(const kc_leader_config_t *config, kc_store_t **owner_p,
                         kc_store_t **log_p, const kc_lead_state_t *term);

#endif
