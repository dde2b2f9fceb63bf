/* wk_lease: see wk_lease.h. */
#include "wk_lease.h"
#include "rs_log.h"
#include "rs_socket.h"
#include "rs_time.h"

#include <czmq.h>
#include <stdlib.h>
#include <string.h>

struct wk_lease_client_t {
    char *endpoint;
    rs_security_t *security;
    int timeout_ms;
    zsock_t *dealer;
    uint64_t next_seq;
    uint64_t malformed; /* replies dropped as malformed */
};

static int s_open(wk_lease_client_t *self, char *err, size_t err_size)
{
    /* Linger 0: a request abandoned with its socket must not be sent later. */
    const rs_socket_opts_t opts = { .sndhwm = 16, .rcvhwm = 16,
                                    .max_msg_bytes = RS_LEASE_REP_MAX_BYTES };
    self->dealer = rs_socket_new(ZMQ_DEALER, self->endpoint, RS_CONNECT, &opts, self->security,
                                 "keycoord", err, err_size);
    return self->dealer ? 0 : -1;
}

wk_lease_client_t *wk_lease_client_new(const char *endpoint, int timeout_ms,
                                       rs_security_t *security, char *err, size_t err_size)
{
    wk_lease_client_t *self = calloc(1, sizeof *self);
    if (!self || !(self->endpoint = strdup(endpoint))) {
        free(self);
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    self->timeout_ms = timeout_ms;
    self->security = security;
    self->next_seq = 1;
    if (s_open(self, err, err_size) != 0) {
        wk_lease_client_destroy(&self);
        return NULL;
    }
    return self;
}

void wk_lease_client_destroy(wk_lease_client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zsock_destroy(&(*self_p)->dealer);
    free((*self_p)->endpoint);
    free(*self_p);
    *self_p = NULL;
}

/* Waits for the reply to `seq` until deadline. Returns 0 with *rep, 1 on
 * timeout, -1 when interrupted. Stale or malformed replies are dropped. */
static int s_await(wk_lease_client_t *self, uint64_t seq, int64_t deadline, rs_lease_rep_t *rep,
                   bool shutting_down)
{
    zpoller_t *poller = zpoller_new(self->dealer, NULL);
    zpoller_set_nonstop(poller, shutting_down);
    int rc = 1;
    while (shutting_down || !zsys_interrupted) {
        int64_t left = deadline - rs_mono_us();
        if (left <= 0)
            break;
        /* Short slices so that shutdown is noticed promptly. */
        int slice = left > 200000 ? 200 : (int) ((left + 999) / 1000);
        if (!zpoller_wait(poller, slice)) {
            if (zpoller_terminated(poller)) {
                rc = -1;
                break;
            }
            continue;
        }
        zmsg_t *msg = zmsg_recv(self->dealer);
        if (!msg) {
            rc = -1;
            break;
        }
        /* [empty][reply], the REQ envelope the keycoord answers with. */
        zframe_t *empty = zmsg_pop(msg);
        zframe_t *body = zmsg_pop(msg);
        int ok = empty && body && zframe_size(empty) == 0 && zmsg_size(msg) == 0
                 && rs_lease_rep_decode(rep, zframe_data(body), zframe_size(body)) == 0;
        zframe_destroy(&empty);
        zframe_destroy(&body);
        zmsg_destroy(&msg);
        if (!ok) {
            self->malformed++;
            rs_warn("dropped a malformed reply from the keycoord; %llu so far",
                    (unsigned long long) self->malformed);
            continue;
        }
        if (rep->seq != seq) {
            rs_debug("dropped a stale keycoord reply (seq %llu, waiting for %llu)",
                     (unsigned long long) rep->seq, (unsigned long long) seq);
            continue;
        }
        rc = 0;
        break;
    }
    if (zsys_interrupted && rc == 1 && !shutting_down)
        rc = -1;
    zpoller_destroy(&poller);
    return rc;
}

int wk_lease_client_call(wk_lease_client_t *self, rs_lease_req_t *req, rs_lease_rep_t *rep,
                         int64_t *sent_mono_us, int max_attempts)
{
    bool shutting_down = max_attempts < 0;
    if (shutting_down)
        max_attempts = 1;
    for (int attempt = 1; max_attempts == 0 || attempt <= max_attempts; attempt++) {
        if (zsys_interrupted && !shutting_down)
            return -1;
        if (!self->dealer) {
            char err[256];
            if (s_open(self, err, sizeof err) != 0) {
                rs_error("%s", err);
                zclock_sleep(self->timeout_ms);
                continue;
            }
        }
        req->seq = self->next_seq++;
        uint8_t buf[RS_LEASE_REQ_MAX_BYTES];
        size_t size = rs_lease_req_encode(req, buf, sizeof buf);
        if (size == 0) {
            rs_error("internal error: lease request does not encode (holder '%s')", req->holder);
            return -1;
        }
        zmsg_t *msg = zmsg_new();
        zmsg_addmem(msg, NULL, 0);
        zmsg_addmem(msg, buf, size);
        int64_t sent = rs_mono_us();
        if (zmsg_send(&msg, self->dealer) != 0) {
            zmsg_destroy(&msg);
            return -1;
        }
        int rc = s_await(self, req->seq, sent + (int64_t) self->timeout_ms * 1000, rep, shutting_down);
        if (rc == 0) {
            *sent_mono_us = sent;
            return 0;
        }
        if (rc < 0)
            return -1;
        /* Lazy Pirate: the socket may hold a lost request or a late reply;
         * throw it away and start clean. */
        /* Under contention a holder may wait for a key for a while; retrying
         * keeps its place in the keycoord's queue. */
        rs_log(attempt >= 5 ? RS_LOG_WARN : RS_LOG_DEBUG,
               "keycoord at %s has not answered %d attempts of %d ms; reconnecting",
                    self->endpoint, attempt, self->timeout_ms);
        zsock_destroy(&self->dealer);
    }
    return -1;
}
