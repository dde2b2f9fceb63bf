/* wk_lease: a worker thread's lease client. One request at a time over a
 * DEALER socket; a reply that does not come in time is given up on by
 * closing and reopening the socket and sending again (the ZeroMQ guide's
 * Lazy Pirate), which is safe because the keycoord treats a holder's
 * retry as the same request. Given several keycoord endpoints (only one
 * keycoord leads at a time; a standby binds nothing until it leads), it
 * talks to one of them, keeps it while it answers, and moves to the next
 * in the list after `failover_attempts` unanswered attempts in a row,
 * spanning at least one lease TTL (the
 * guide's Freelance pattern, model 1: try each server in turn). Moving is
 * safe for the same reason: every lease request names its holder, and a
 * new leader knows the open leases from the lease log. */
#ifndef WK_LEASE_H
#define WK_LEASE_H

#include "rs_proto.h"
#include "rs_security.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct wk_lease_client_t wk_lease_client_t;

/* While the process stops, the last release waits at most this long (ms)
 * for its reply, and one send on the lease socket never blocks longer:
 * a stop ends within seconds whatever the keycoord does. */
#define WK_LEASE_STOP_WAIT_MS 1000

/* Unanswered attempts in a row after which a worker thread moves to the
 * next keycoord of its list, provided they span at least one lease TTL
 * (as the keycoord last told it). One attempt is the guide's model 1; two,
 * and the TTL, because a keycoord with no free key answers a holder only
 * when a key frees up (within one TTL), and one that took the lead after
 * an unclean stop grants nothing for one TTL. */
#define WK_LEASE_FAILOVER_ATTEMPTS 2

/* endpoints: one keycoord endpoint or a comma-separated list of them
 * (rs_endpoints). timeout_ms: how long one attempt waits for its reply.
 * failover_attempts (>= 1): unanswered attempts in a row on one endpoint
 * before the next is tried, once they span the lease TTL of the last
 * reply (meaningless with a single endpoint). Borrows
 * security (it must outlive the client). Returns NULL with a reason in err
 * when an endpoint is unusable. */
wk_lease_client_t *wk_lease_client_new(const char *endpoints, int timeout_ms,
                                       int failover_attempts, rs_security_t *security, char *err,
                                       size_t err_size);
void wk_lease_client_destroy(wk_lease_client_t **self_p);

/* Sends req and waits for its reply, retrying up to max_attempts times (0:
 * until interrupted; -1: one attempt that proceeds even while the process
 * is shutting down, for a last release). On success fills *rep and *sent_mono_us, the
 * monotonic time at which the answered attempt was sent: the keycoord's
 * lease began after it, so a deadline counted from it is conservative.
 * Returns 0, or -1 when interrupted or out of attempts. */
int wk_lease_client_call(wk_lease_client_t *self, rs_lease_req_t *req, rs_lease_rep_t *rep,
                         int64_t *sent_mono_us, int max_attempts)
    __attribute__((warn_unused_result));

/* The endpoint the client talks to now (the one that last answered, or
 * the one it tries next). Valid while the client lives. */
const char *wk_lease_client_endpoint(const wk_lease_client_t *self);

/* How many keycoord endpoints the client was given (1..RS_ENDPOINTS_MAX). */
size_t wk_lease_client_count(const wk_lease_client_t *self);

/* Whether the last call ended because the keycoord refused this worker's
 * certificate at the handshake (the call then logged it, as an error). */
bool wk_lease_client_refused(const wk_lease_client_t *self);

#endif
