/* wk_lease: a worker thread's lease client. One request at a time over a
 * DEALER socket; a reply that does not come in time is given up on by
 * closing and reopening the socket and sending again (the ZeroMQ guide's
 * Lazy Pirate), which is safe because the keycoord treats a holder's
 * retry as the same request. */
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

/* Borrows security (it must outlive the client). Returns NULL with a
 * reason in err when the endpoint is unusable. */
wk_lease_client_t *wk_lease_client_new(const char *endpoint, int timeout_ms,
                                       rs_security_t *security, char *err, size_t err_size);
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

/* Whether the last call ended because the keycoord refused this worker's
 * certificate at the handshake (the call then logged it, as an error). */
bool wk_lease_client_refused(const wk_lease_client_t *self);

#endif
