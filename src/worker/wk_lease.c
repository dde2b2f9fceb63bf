/* wk_lease: see wk_lease.h. */
#include "wk_lease.h"
#include "rs_endpoints.h"
#include "rs_log.h"
#include "rs_refusal.h"
#include "rs_socket.h"
#include "rs_time.h"

#include <czmq.h>
#include <stdlib.h>
#include <string.h>

struct wk_lease_client_t {
    rs_endpoints_t endpoints;
    size_t current;         /* the endpoint in use */
    int unanswered;         /* attempts in a row it left unanswered */
    int64_t unanswered_since; /* monotonic: when the first of them was sent */
    uint32_t ttl_ms;        /* the lease TTL the keycoord last told (0: not yet) */
    int failover_attempts;  /* after this many, the next endpoint is tried */
    bool moved;             /* moved since an endpoint last answered */
    rs_security_t *security;
    int timeout_ms;
    zsock_t *dealer;
    rs_refusal_t *refusal;  /* the dealer's refused handshakes */
    int refusals_seen;      /* of the current dealer, already acted upon */
    bool refused;           /* the keycoord refused our certificate (last attempt) */
    uint64_t refused_said;  /* refusals logged so far */
    uint64_t next_seq;
    uint64_t malformed; /* replies dropped as malformed */
};

/* Closes the dealer and its refusal watcher. */
static void s_close(wk_lease_client_t *self)
{
    rs_refusal_destroy(&self->refusal);
    zsock_destroy(&self->dealer);
}

static int s_open(wk_lease_client_t *self, char *err, size_t err_size)
{
    /* Linger 0: a request abandoned with its socket must not be sent later. */
    const rs_socket_opts_t opts = { .sndhwm = 16, .rcvhwm = 16,
                                    .max_msg_bytes = RS_LEASE_REP_MAX_BYTES,
                                    .wait_ms = WK_LEASE_STOP_WAIT_MS };
    self->dealer = rs_socket_new(ZMQ_DEALER, wk_lease_client_endpoint(self), RS_CONNECT, &opts,
                                 self->security, "keycoord", err, err_size);
    if (!self->dealer)
        return -1;
    if (!rs_security_plain(self->security))
        self->refusal = rs_refusal_new(self->dealer, NULL, NULL);
    self->refusals_seen = 0;
    return 0;
}

wk_lease_client_t *wk_lease_client_new(const char *endpoints, int timeout_ms,
                                       int failover_attempts, rs_security_t *security, char *err,
                                       size_t err_size)
{
    wk_lease_client_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    if (rs_endpoints_parse(&self->endpoints, endpoints, RS_CONNECT, err, err_size) != 0) {
        free(self);
        return NULL;
    }
    self->failover_attempts = failover_attempts > 0 ? failover_attempts : 1;
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
    s_close(*self_p);
    free(*self_p);
    *self_p = NULL;
}

const char *wk_lease_client_endpoint(const wk_lease_client_t *self)
{
    return self->endpoints.items[self->current];
}

size_t wk_lease_client_count(const wk_lease_client_t *self)
{
    return self->endpoints.count;
}

/* Counts an unanswered attempt, sent at sent_us; after failover_attempts
 * of them in a row, spanning at least one lease TTL, moves to the next
 * endpoint of the list (the socket is reopened by the caller, as after any
 * unanswered attempt). The TTL because a keycoord that has just taken the
 * lead after an unclean stop grants nothing for one TTL (and a held key
 * comes free within one): a worker must not leave the live keycoord for a
 * dead one meanwhile. */
static void s_unanswered(wk_lease_client_t *self, int64_t sent_us)
{
    if (self->endpoints.count < 2)
        return;
    if (self->unanswered++ == 0)
        self->unanswered_since = sent_us;
    if (self->unanswered < self->failover_attempts
        || rs_mono_us() - self->unanswered_since < (int64_t) self->ttl_ms * 1000)
        return;
    const char *from = wk_lease_client_endpoint(self);
    self->current = (self->current + 1) % self->endpoints.count;
    rs_info("keycoord at %s has not answered %d attempts of %d ms in a row; trying the next in the list, %s",
            from, self->unanswered, self->timeout_ms, wk_lease_client_endpoint(self));
    self->unanswered = 0;
    self->moved = true;
}

/* An endpoint answered: it is kept for as long as it answers. */
static void s_answered(wk_lease_client_t *self)
{
    self->unanswered = 0;
    if (self->moved)
        rs_info("keycoord at %s answers; leasing from it", wk_lease_client_endpoint(self));
    self->moved = false;
}

/* What s_await saw. */
typedef enum {
    S_AWAIT_INTERRUPTED = -1,
    S_AWAIT_REPLY = 0,
    S_AWAIT_TIMEOUT = 1,
    S_AWAIT_REFUSED = 2, /* the keycoord refused our certificate at the handshake */
} s_await_t;

/* True when the dealer saw a handshake refused since we last asked. */
static bool s_newly_refused(wk_lease_client_t *self)
{
    int count = rs_refusal_count(self->refusal);
    if (count <= self->refusals_seen)
        return false;
    self->refusals_seen = count;
    return true;
}

/* Waits for the reply to `seq` until deadline, or until the keycoord
 * refuses our certificate. Stale or malformed replies are dropped. */
static s_await_t s_await(wk_lease_client_t *self, uint64_t seq, int64_t deadline,
                         rs_lease_rep_t *rep, bool shutting_down)
{
    zpoller_t *poller = zpoller_new(self->dealer, NULL);
    zpoller_set_nonstop(poller, shutting_down);
    s_await_t rc = S_AWAIT_TIMEOUT;
    while (shutting_down || !zsys_interrupted) {
        int64_t left = deadline - rs_mono_us();
        if (left <= 0)
            break;
        /* Short slices so that shutdown is noticed promptly. */
        int slice = left > 200000 ? 200 : (int) ((left + 999) / 1000);
        if (!zpoller_wait(poller, slice)) {
            if (zpoller_terminated(poller)) {
                rc = S_AWAIT_INTERRUPTED;
                break;
            }
            if (s_newly_refused(self)) {
                rc = S_AWAIT_REFUSED;
                break;
            }
            continue;
        }
        zmsg_t *msg = zmsg_recv(self->dealer);
        if (!msg) {
            rc = S_AWAIT_INTERRUPTED;
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
        rc = S_AWAIT_REPLY;
        break;
    }
    if (zsys_interrupted && rc == S_AWAIT_TIMEOUT && !shutting_down)
        rc = S_AWAIT_INTERRUPTED;
    zpoller_destroy(&poller);
    return rc;
}

int wk_lease_client_call(wk_lease_client_t *self, rs_lease_req_t *req, rs_lease_rep_t *rep,
                         int64_t *sent_mono_us, int max_attempts)
{
    bool shutting_down = max_attempts < 0;
    /* While stopping, one short attempt: a stop must end within a few
     * seconds whatever the keycoord does. */
    int timeout_ms = self->timeout_ms;
    if (shutting_down) {
        max_attempts = 1;
        if (timeout_ms > WK_LEASE_STOP_WAIT_MS)
            timeout_ms = WK_LEASE_STOP_WAIT_MS;
    }
    /* Attempts on the endpoint in use: counted afresh after a move, so a
     * log line about one endpoint never counts another's attempts. */
    size_t on = self->current;
    int on_attempts = 0;
    for (int attempt = 1; max_attempts == 0 || attempt <= max_attempts; attempt++) {
        if (zsys_interrupted && !shutting_down)
            return -1;
        if (self->current != on) {
            on = self->current;
            on_attempts = 0;
        }
        on_attempts++;
        if (!self->dealer) {
            char err[256];
            if (s_open(self, err, sizeof err) != 0) {
                rs_error("%s", err);
                /* In slices, so that a stop request is noticed. */
                for (int64_t until = rs_mono_us() + (int64_t) timeout_ms * 1000;
                     !zsys_interrupted && rs_mono_us() < until;)
                    zclock_sleep(100);
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
        /* A send waits at most the socket's bound (rs_socket): a keycoord
         * that is gone or refuses our certificate leaves the request
         * unsent, which is an unanswered attempt like any other. */
        int64_t deadline = sent + (int64_t) timeout_ms * 1000;
        s_await_t rc = S_AWAIT_TIMEOUT;
        if (zmsg_send(&msg, self->dealer) != 0)
            zmsg_destroy(&msg);
        else
            rc = s_await(self, req->seq, deadline, rep, shutting_down);
        if (rc == S_AWAIT_TIMEOUT && s_newly_refused(self))
            rc = S_AWAIT_REFUSED;
        self->refused = rc == S_AWAIT_REFUSED;
        if (rc == S_AWAIT_REPLY) {
            s_answered(self);
            if (rep->ttl_ms > 0)
                self->ttl_ms = rep->ttl_ms;
            *sent_mono_us = sent;
            return 0;
        }
        if (rc == S_AWAIT_INTERRUPTED || (zsys_interrupted && !shutting_down))
            return -1;
        if (rc == S_AWAIT_REFUSED) {
            /* The caller says it after the last attempt. */
            if (max_attempts != 0 && attempt >= max_attempts)
                return -1;
            /* Said plainly, and sparsely: it lasts until an operator acts. */
            if (self->refused_said++ % 100 == 0)
                rs_error("the keycoord at %s refuses this worker's certificate '%s' (not in its allow-list, or revoked); expected it allowed with 'recsign certs --worker %s' on the keycoord's host; retrying",
                         wk_lease_client_endpoint(self), rs_security_name(self->security),
                         rs_security_name(self->security));
            /* Not sooner than an unanswered attempt would retry. */
            while (!zsys_interrupted && rs_mono_us() < deadline)
                zclock_sleep(100);
        }
        /* Lazy Pirate: the socket may hold a lost request or a late reply;
         * throw it away and start clean. */
        /* Under contention a holder may wait for a key for a while; retrying
         * keeps its place in the keycoord's queue. */
        /* Warned at the 5th unanswered attempt, then at the 8th, 16th,
         * 32nd...: a keycoord away for minutes (its database gone, its
         * hold of a TTL after) is said a few times per thread, not every
         * attempt. */
        bool warn = on_attempts == 5 || (on_attempts >= 8 && (on_attempts & (on_attempts - 1)) == 0);
        if (rc == S_AWAIT_TIMEOUT)
            rs_log(warn ? RS_LOG_WARN : RS_LOG_DEBUG,
                   "keycoord at %s has not answered %d attempts of %d ms; reconnecting",
                   wk_lease_client_endpoint(self), on_attempts, self->timeout_ms);
        /* A keycoord that refuses us is no more use than a silent one. */
        s_unanswered(self, sent);
        s_close(self);
    }
    return -1;
}

bool wk_lease_client_refused(const wk_lease_client_t *self)
{
    return self->refused;
}
