/* bench_lease: see bench_lease.h. */
#include "bench_lease.h"
#include "rs_time.h"

#include <czmq.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

int bench_lease_exchange(void *sock, const rs_lease_req_t *req, int timeout_ms, uint8_t *body,
                         size_t cap, size_t *size, char *why, size_t why_size)
{
    uint8_t buf[RS_LEASE_REQ_MAX_BYTES];
    size_t len = rs_lease_req_encode(req, buf, sizeof buf);
    if (len == 0) {
        snprintf(why, why_size, "the lease request does not encode (a field out of range)");
        return -1;
    }
    if (zmq_send(sock, NULL, 0, ZMQ_SNDMORE) != 0 || zmq_send(sock, buf, len, 0) != (int) len) {
        snprintf(why, why_size, "cannot send a lease request: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    int64_t deadline = rs_mono_us() + (int64_t) timeout_ms * 1000;
    for (;;) {
        uint8_t empty[1];
        int n = zmq_recv(sock, empty, sizeof empty, 0);
        if (n < 0) {
            if (zmq_errno() != EAGAIN && zmq_errno() != EINTR) {
                snprintf(why, why_size, "receiving a lease reply: %s", zmq_strerror(zmq_errno()));
                return -1;
            }
            if (zsys_interrupted) {
                snprintf(why, why_size, "interrupted");
                return -1;
            }
            if (rs_mono_us() >= deadline) {
                snprintf(why, why_size, "no reply from the keycoord within %d ms", timeout_ms);
                return -1;
            }
            continue;
        }
        int more = 0;
        size_t more_size = sizeof more;
        zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &more_size);
        if (n != 0 || !more) {
            snprintf(why, why_size, "a reply without the empty delimiter frame");
            return -1;
        }
        n = zmq_recv(sock, body, cap, 0);
        zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &more_size);
        if (n < 0 || more || (size_t) n > cap) {
            snprintf(why, why_size, "a reply body missing, truncated or followed by more frames");
            return -1;
        }
        *size = (size_t) n;
        return 0;
    }
}

int bench_lease_call(void *sock, const rs_lease_req_t *req, int timeout_ms, rs_lease_rep_t *rep,
                     char *why, size_t why_size)
{
    /* A reply of 64 RSA-4096 grants is ~170 KB: not for a thread's stack. */
    uint8_t *body = malloc(BENCH_LEASE_BODY_MAX);
    if (!body) {
        snprintf(why, why_size, "out of memory for a lease reply");
        return -1;
    }
    size_t size = 0;
    int rc = bench_lease_exchange(sock, req, timeout_ms, body, BENCH_LEASE_BODY_MAX, &size, why,
                                  why_size);
    if (rc == 0 && rs_lease_rep_decode(rep, body, size) != 0) {
        snprintf(why, why_size, "a malformed LEASE_REP from the keycoord");
        rc = -1;
    }
    else if (rc == 0 && rep->seq != req->seq) {
        /* Each holder waits for every reply, so an older one cannot come. */
        snprintf(why, why_size, "a reply to another request (seq %llu, expected %llu)",
                 (unsigned long long) rep->seq, (unsigned long long) req->seq);
        rc = -1;
    }
    free(body);
    return rc;
}
