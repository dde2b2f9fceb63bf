/* bench_lease: one round trip of a bench program's holder to the keycoord
 * (or to the echo server of recsign-bench-keycoord) over its own DEALER:
 * [empty][LEASE_REQ] out, [empty][body] back, as the worker's lease client
 * sends and reads them. The bench programs stand in for many workers, so
 * they speak the real wire codec (lib/rs_proto.h), never frames of their own. */
#ifndef BENCH_LEASE_H
#define BENCH_LEASE_H

#include "rs_proto.h"

#include <stdbool.h>
#include <stddef.h>

/* The largest reply body either server sends back. */
#define BENCH_LEASE_BODY_MAX \
    (RS_LEASE_REP_MAX_BYTES > RS_LEASE_REQ_MAX_BYTES ? RS_LEASE_REP_MAX_BYTES : RS_LEASE_REQ_MAX_BYTES)

/* Sends req on sock (a libzmq DEALER whose receive timeout is short, e.g.
 * 100 ms, so that a stop is noticed) and waits up to timeout_ms for one
 * reply, whose body (at most BENCH_LEASE_BODY_MAX bytes) goes into body
 * (cap bytes) and its size into *size. Returns 0, or -1 with a one-line
 * reason in why (no reply in time, interrupted, a reply without its
 * delimiter frame, truncated or of several frames). The body is not
 * decoded: an echo server returns the request itself. */
int bench_lease_exchange(void *sock, const rs_lease_req_t *req, int timeout_ms, uint8_t *body,
                         size_t cap, size_t *size, char *why, size_t why_size)
    __attribute__((warn_unused_result));

/* bench_lease_exchange with the keycoord: the reply decoded into *rep,
 * which must answer req (its seq). Returns 0 or -1 with why. */
int bench_lease_call(void *sock, const rs_lease_req_t *req, int timeout_ms, rs_lease_rep_t *rep,
                     char *why, size_t why_size) __attribute__((warn_unused_result));

#endif
