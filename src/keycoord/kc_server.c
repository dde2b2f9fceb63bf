/* kc_server: see kc_server.h. */
#include "kc_server.h"
#include "kc_metrics.h"
#include "rs_log.h"
#include "rs_socket.h"
#include "rs_time.h"

#include <stdlib.h>
#include <string.h>

#define S_DRAIN_MAX 512        /* requests taken per loop turn before writing the log */
#define S_STATS_INTERVAL_US 10000000
#define S_LOG_BACKLOG_MAX 20000   /* lease log events not yet durable */
#define S_LOG_RECHECK_US 1000     /* backlog re-check while grants are held back for it */
#define S_LEASE_ID_BLOCK 100000   /* lease ids reserved at a time */
#define S_RUN_CACHE 64             /* runs whose batch size is remembered */
/* Leadership is confirmed on the lock's own session this often, and a
 * confirmation is good for S_LEADER_VALID_US after the query was sent: no
 * grant, release, renewal or expiry is handled on an older one (a process
 * resumed after SIGSTOP confirms before it does anything). A deposed
 * leader can so grant for at most S_LEADER_VALID_US after a takeover, and
 * none of it reaches the log; the new leader holds its grants for a TTL
 * and this long (KC_LEADER_VALID_MS, kc_server.h). */
#define S_LEADER_CHECK_US 250000
#define S_LEADER_VALID_US ((int64_t) KC_LEADER_VALID_MS * 1000)
#define S_KEYRING_POLL_US 100000     /* how often keyring notifications are read */
#define S_KEYRING_RELOAD_US 30000000 /* full keyring reload, in case a notification was missed */
/* Keys one certificate may have quarantined over this keycoord's life:
 * a key is quarantined only on the report of its lease's holder, and a
 * worker reports only after its master key has unsealed another key, but
 * a rogue or broken client with an allowed certificate could still lease
 * and report key after key. Past this many, its reports are taken as
 * plain releases and logged as errors. (Without CURVE every worker counts
 * as one sender.) */
#define S_QUARANTINES_PER_SENDER 3
#define S_REPORTERS_MAX 256
#define S_GAUGES_US 100000           /* keys by state and waiting holders, for the metrics */

/* A reply waiting to be sent; encoded only when sent, into one buffer. */
typedef struct {
    zframe_t *routing;
    uint8_t renew_status;
    kc_grant_t grant; /* count 0: a plain acknowledgement */
} s_reply_t;

struct kc_server_t {
    zsock_t *router;
    kc_coord_t *coord;
    kc_logger_t *logger;
    kc_store_t *owner;
    rs_security_t *security;
    zpoller_t *poller;
    s_reply_t *replies;
    size_t reply_count, reply_cap;
    uint8_t encoded[RS_LEASE_REP_MAX_BYTES];
    uint64_t dropped_malformed, unauthorized, refused_full, undeliverable, grants, releases,
        expiries;
    int64_t next_stats_us;
    int64_t epoch;        /* this leader's term */
    int64_t confirmed_us; /* when the last confirmation that held was sent */
    int64_t next_keyring_reload_us;
    int64_t next_keyring_poll_us;
    int64_t next_gauges_us;
    /* Batch sizes of recent runs (0: no such run), for rule 5. */
    struct {
        uint64_t run_id;
        uint32_t batch_size;
    } runs[S_RUN_CACHE];
    size_t runs_next;
    uint64_t refused_batch;
    /* Grants were held back this turn because the log writer is behind:
     * poll again soon, as nothing else wakes the loop when it catches up. */
    bool held_for_log;
    uint64_t held_for_log_turns;
    uint64_t lease_ids_reserved; /* highest lease id durably reserved */
    /* Keys quarantined on each sender's reports (S_QUARANTINES_PER_SENDER). */
    struct {
        char tag[RS_SENDER_TAG_CHARS + 1];
        uint32_t count;
    } reporters[S_REPORTERS_MAX];
    size_t reporter_count;
    uint64_t quarantined, quarantine_refused;
};

/* The number of keys quarantined on the reports of the sender with this
 * tag so far; NULL when the table is full (then no more are taken). */
static uint32_t *s_reporter(kc_server_t *self, const char *tag)
{
    for (size_t i = 0; i < self->reporter_count; i++)
        if (strcmp(self->reporters[i].tag, tag) == 0)
            return &self->reporters[i].count;
    if (self->reporter_count == S_REPORTERS_MAX)
        return NULL;
    size_t i = self->reporter_count++;
    snprintf(self->reporters[i].tag, sizeof self->reporters[i].tag, "%s", tag);
    self->reporters[i].count = 0;
    return &self->reporters[i].count;
}

/* A holder gives lease_id back because it cannot unseal the key's secret:
 * the key is quarantined, unless this sender has reported too many.
 * Returns the outcome as a release's. */
static int s_take_broken_report(kc_server_t *self, zframe_t *body, uint64_t lease_id,
                                const char *holder)
{
    char tag[RS_SENDER_TAG_CHARS + 1];
    rs_security_sender_tag(self->security, body, tag);
    uint32_t *reported = s_reporter(self, tag);
    if (!reported || *reported >= S_QUARANTINES_PER_SENDER) {
        self->quarantine_refused++;
        if (self->quarantine_refused <= 10 || self->quarantine_refused % 1000 == 0)
            rs_error("holder '%s' reported the key of lease %llu broken, but its certificate has had %u keys quarantined already: taken as a plain release (check that worker's master key, or revoke its certificate); %llu such reports so far",
                     holder, (unsigned long long) lease_id, S_QUARANTINES_PER_SENDER,
                     (unsigned long long) self->quarantine_refused);
        return kc_coord_release(self->coord, lease_id, holder);
    }
    uint32_t key_id = 0;
    int outcome = kc_coord_quarantine(self->coord, lease_id, holder, &key_id);
    if (outcome != RS_RELEASE_OK) {
        rs_warn("holder '%s' reported the key of lease %llu broken, but holds no such lease (expired?); nothing quarantined",
                holder, (unsigned long long) lease_id);
        return outcome;
    }
    (*reported)++;
    self->quarantined++;
    self->releases++;
    rs_error("key %u quarantined: holder '%s' could not unseal its secret under lease %llu; it is leased no more (an operator retires it and adds another: recsign keys retire %u; recsign keys add 1)",
             key_id, holder, (unsigned long long) lease_id, key_id);
    return outcome;
}

/* Keeps a block of lease ids reserved ahead of the grants. Returns false
 * when the reservation cannot be written: grant nothing then. */
static bool s_lease_ids_ready(kc_server_t *self)
{
    uint64_t next = kc_coord_next_lease_id(self->coord);
    if (next + S_LEASE_ID_BLOCK / 2 <= self->lease_ids_reserved)
        return true;
    uint64_t up_to = next + S_LEASE_ID_BLOCK;
    if (kc_store_reserve_lease_ids(self->owner, up_to, self->epoch) != 0) {
        /* Refused or failed on the lock's session: leadership is in doubt
         * until the next confirmation says otherwise. */
        self->confirmed_us = INT64_MIN / 2;
        return false;
    }
    self->lease_ids_reserved = up_to;
    return true;
}

typedef enum {
    S_BATCH_FITS = 0,
    S_BATCH_REFUSED = 1, /* no such run, or more records than its batch size */
    S_BATCH_UNKNOWN = 2, /* the run could not be read (logged): ask again later */
} s_batch_t;

/* Whether a lease for batch_records records of run_id keeps to the run's
 * batch size (rule 5, enforced here as well as audited). Unknown runs are
 * looked up once and remembered, also when they do not exist. */
static s_batch_t s_batch_fits(kc_server_t *self, uint64_t run_id, uint32_t batch_records)
{
    for (size_t i = 0; i < S_RUN_CACHE; i++)
        if (self->runs[i].run_id == run_id && run_id != 0)
            return self->runs[i].batch_size != 0 && batch_records <= self->runs[i].batch_size
                       ? S_BATCH_FITS
                       : S_BATCH_REFUSED;
    uint32_t size = 0;
    int rc = kc_store_run_batch_size(self->owner, run_id, &size);
    if (rc < 0) {
        /* Failed on the lock's session: leadership is in doubt until the
         * next confirmation says otherwise. */
        self->confirmed_us = INT64_MIN / 2;
        return S_BATCH_UNKNOWN;
    }
    self->runs[self->runs_next].run_id = run_id;
    self->runs[self->runs_next].batch_size = rc == 0 ? size : 0;
    self->runs_next = (self->runs_next + 1) % S_RUN_CACHE;
    return rc == 0 && batch_records <= size ? S_BATCH_FITS : S_BATCH_REFUSED;
}

void kc_server_cookie_free(void **cookie_p)
{
    zframe_destroy((zframe_t **) cookie_p);
}

kc_server_t *kc_server_new(zsock_t *router, kc_coord_t *coord, kc_logger_t *logger,
                           kc_store_t *owner, int64_t epoch, rs_security_t *security)
{
    kc_server_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->router = router;
    self->coord = coord;
    self->logger = logger;
    self->owner = owner;
    self->epoch = epoch;
    self->confirmed_us = rs_mono_us(); /* the takeover itself confirmed it */
    self->security = security;
    self->poller = zpoller_new(router, NULL);
    self->reply_cap = S_DRAIN_MAX * 2;
    self->replies = calloc(self->reply_cap, sizeof *self->replies);
    if (!self->poller || !self->replies) {
        kc_server_destroy(&self);
        return NULL;
    }
    return self;
}

void kc_server_destroy(kc_server_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kc_server_t *self = *self_p;
    for (size_t i = 0; i < self->reply_count; i++)
        zframe_destroy(&self->replies[i].routing);
    free(self->replies);
    zpoller_destroy(&self->poller);
    free(self);
    *self_p = NULL;
}

static s_reply_t *s_reply_new(kc_server_t *self)
{
    if (self->reply_count == self->reply_cap) {
        size_t cap = self->reply_cap * 2;
        s_reply_t *grown = realloc(self->replies, cap * sizeof *grown);
        if (!grown)
            return NULL;
        self->replies = grown;
        self->reply_cap = cap;
    }
    s_reply_t *r = &self->replies[self->reply_count++];
    r->routing = NULL;
    r->renew_status = RS_RELEASE_NONE;
    r->grant.cookie = NULL;
    r->grant.count = 0;
    return r;
}

static void s_drop(kc_server_t *self, const char *why)
{
    self->dropped_malformed++;
    rs_metric_add(kc_metrics.dropped_malformed, 1);
    /* Log the first few, then sparsely: a flood must not flood the log. */
    if (self->dropped_malformed <= 10 || self->dropped_malformed % 1000 == 0)
        rs_warn("dropped a malformed request (%s); %llu dropped so far", why,
                (unsigned long long) self->dropped_malformed);
}

/* The status of several releases (or renewals) so far, and one more: OK
 * while every one was, UNKNOWN once one was not. */
static uint8_t s_fold_status(uint8_t so_far, int outcome)
{
    return so_far == RS_RELEASE_UNKNOWN || outcome != RS_RELEASE_OK ? RS_RELEASE_UNKNOWN
                                                                    : RS_RELEASE_OK;
}

/* Takes one message off the router: [routing id][empty][request]. */
static void s_handle_one(kc_server_t *self, zmsg_t *msg)
{
    if (zmsg_size(msg) != 3) {
        s_drop(self, "wrong frame count");
        return;
    }
    zframe_t *routing = zmsg_pop(msg);
    zframe_t *empty = zmsg_pop(msg);
    zframe_t *body = zmsg_pop(msg);
    rs_lease_req_t req;
    if (zframe_size(empty) != 0) {
        s_drop(self, "missing empty delimiter");
        goto done;
    }
    if (!rs_security_allowed(self->security, body)) {
        self->unauthorized++;
        rs_metric_add(kc_metrics.dropped_unauthorized, 1);
        if (self->unauthorized <= 10 || self->unauthorized % 1000 == 0)
            rs_warn("dropped a request from a sender whose certificate is not (or no longer) allowed; %llu so far",
                    (unsigned long long) self->unauthorized);
        goto done;
    }
    if (rs_lease_req_decode(&req, zframe_data(body), zframe_size(body)) != 0) {
        s_drop(self, "bad lease request");
        goto done;
    }
    if (req.want && (req.holder[0] == '\0' || req.batch_records == 0 || req.batch_records > RS_BATCH_MAX)) {
        s_drop(self, "lease wanted without holder or with a bad batch size");
        goto done;
    }
    s_batch_t fits = req.want ? s_batch_fits(self, req.run_id, req.batch_records) : S_BATCH_FITS;
    if (fits == S_BATCH_UNKNOWN) {
        /* Nothing granted; the holder asks again. */
        req.want = false;
    }
    else if (fits == S_BATCH_REFUSED) {
        self->refused_batch++;
        rs_metric_add(kc_metrics.refused_batch, 1);
        if (self->refused_batch <= 10 || self->refused_batch % 1000 == 0)
            rs_warn("refused a lease for %u records of run %llu: no such run, or larger than its batch size; %llu refused so far",
                    req.batch_records, (unsigned long long) req.run_id,
                    (unsigned long long) self->refused_batch);
        req.want = false;
    }
    /* The holder name is the worker's to choose; prefixing it with the
     * sender's certificate ties every lease in the log to a certificate,
     * and keeps one worker from releasing or renewing another's lease. */
    rs_security_qualify(self->security, body, req.holder, sizeof req.holder);
    uint8_t release_status = RS_RELEASE_NONE;
    for (size_t i = 0; i < req.release_count; i++) {
        int outcome = kc_coord_release(self->coord, req.release[i], req.holder);
        release_status = s_fold_status(release_status, outcome);
        if (outcome == RS_RELEASE_OK) {
            self->releases++;
            rs_metric_add(kc_metrics.released, 1);
        }
        else
            /* Also a retried request whose first try already released it. */
            rs_debug("holder '%s' released lease %llu, which it does not hold (expired?)",
                     req.holder, (unsigned long long) req.release[i]);
    }
    for (size_t i = 0; i < req.broken_count; i++)
        release_status = s_fold_status(release_status,
                                       s_take_broken_report(self, body, req.broken[i], req.holder));
    uint8_t renew_status = RS_RELEASE_NONE;
    int64_t now = req.renew_count ? rs_mono_us() : 0;
    for (size_t i = 0; i < req.renew_count; i++) {
        int outcome = kc_coord_renew(self->coord, req.renew[i], req.holder, now);
        renew_status = s_fold_status(renew_status, outcome);
        if (outcome != RS_RELEASE_OK)
            rs_warn("holder '%s' renewed lease %llu, which it does not hold (expired?)",
                    req.holder, (unsigned long long) req.renew[i]);
    }
    if (!req.want && kc_coord_goodbye(self->coord, req.holder, req.renew, req.renew_count) > 0)
        rs_info("holder '%s' holds no lease: ended the one granted to it that it never received",
                req.holder);
    if (req.want) {
        kc_want_t wanted = kc_coord_want(self->coord, req.holder, req.want, req.run_id,
                                         req.batch_records, req.seq, release_status, routing);
        if (wanted == KC_WANT_QUEUED) {
            routing = NULL; /* the coordinator owns it now */
            goto done;
        }
        self->refused_full++;
        rs_metric_add(kc_metrics.dropped_queue_full, 1);
        if (self->refused_full <= 10 || self->refused_full % 1000 == 0)
            rs_warn("waiting queue full; told holder '%s' to retry later; %llu told so far",
                    req.holder, (unsigned long long) self->refused_full);
    }
    /* A release, a ping, or a want that cannot wait: answer now, granting nothing. */
    s_reply_t *r = s_reply_new(self);
    if (!r) {
        self->undeliverable++;
        rs_error("out of memory for the reply to holder '%s'; it will retry; %llu replies undeliverable so far",
                 req.holder, (unsigned long long) self->undeliverable);
    }
    else {
        r->grant.seq = req.seq;
        r->grant.release_status = release_status;
        r->renew_status = renew_status;
        r->routing = routing;
        routing = NULL;
    }
done:
    zframe_destroy(&routing);
    zframe_destroy(&empty);
    zframe_destroy(&body);
}

static void s_collect_grants(kc_server_t *self)
{
    int64_t now = rs_mono_us();
    for (;;) {
        s_reply_t *r = s_reply_new(self);
        if (!r)
            break; /* out of memory: the waiters wait for the next turn */
        if (!kc_coord_next_grant(self->coord, now, &r->grant)) {
            self->reply_count--;
            break;
        }
        r->routing = r->grant.cookie;
        r->grant.cookie = NULL;
        self->grants += r->grant.count;
        rs_metric_add(kc_metrics.granted, r->grant.count);
        rs_metric_observe_us(kc_metrics.wait_seconds, r->grant.waited_us);
    }
}

/* Hands this turn's events to the lease log writer. Returns -1 when they
 * cannot be queued. */
static int s_log_events(kc_server_t *self)
{
    size_t count;
    const kc_event_t *events = kc_coord_events(self->coord, &count);
    if (count && kc_logger_append(self->logger, events, count) != 0) {
        rs_error("out of memory queueing %zu lease log events", count);
        return -1;
    }
    kc_coord_events_clear(self->coord);
    return 0;
}

/* Sends this turn's replies. Returns how many grants could not be
 * delivered (their keys are free again). */
static size_t s_send_replies(kc_server_t *self)
{
    size_t voided = 0;
    rs_lease_rep_t rep;
    for (size_t i = 0; i < self->reply_count; i++) {
        s_reply_t *r = &self->replies[i];
        rep.seq = r->grant.seq;
        rep.release_status = r->grant.release_status;
        rep.renew_status = r->renew_status;
        rep.ttl_ms = kc_coord_ttl_ms(self->coord);
        rep.granted = r->grant.count;
        for (size_t g = 0; g < r->grant.count; g++) {
            const kc_grant_lease_t *lease = &r->grant.leases[g];
            rep.grants[g].lease_id = lease->lease_id;
            rep.grants[g].key_id = lease->key_id;
            rep.grants[g].sealed_len = lease->sealed_len;
            memcpy(rep.grants[g].sealed, lease->sealed, lease->sealed_len);
        }
        size_t size = rs_lease_rep_encode(&rep, self->encoded, sizeof self->encoded);
        zmsg_t *msg = zmsg_new();
        zmsg_append(msg, &r->routing);
        zmsg_addmem(msg, NULL, 0);
        zmsg_addmem(msg, self->encoded, size);
        if (size == 0 || zmsg_send(&msg, self->router) != 0) {
            /* ROUTER_MANDATORY: the peer is gone. Its grants are void. */
            zmsg_destroy(&msg);
            self->undeliverable++;
            rs_metric_add(kc_metrics.dropped_undeliverable, 1);
            for (size_t g = 0; g < r->grant.count; g++) {
                /* Log sparsely: a crowd of vanished holders is one event. */
                if (self->undeliverable <= 10 || self->undeliverable % 1000 == 0)
                    rs_warn("grant of lease %llu could not be delivered (its holder is gone); ending it; %llu so far",
                            (unsigned long long) r->grant.leases[g].lease_id,
                            (unsigned long long) self->undeliverable);
                kc_coord_abandon(self->coord, r->grant.leases[g].lease_id);
                voided++;
            }
        }
    }
    self->reply_count = 0;
    return voided;
}

/* Grants free keys to waiting holders and answers. A grant to a holder
 * that has gone frees its key at once: grant again, now, to whoever waits
 * next (bounded, to stay responsive). While the log writer is far behind
 * (the database is slow or away), grants nothing: holders wait. */
static void s_serve_waiters(kc_server_t *self)
{
    self->held_for_log = false;
    for (int round = 0; round < 1000; round++) {
        if (rs_mono_us() - self->confirmed_us >= S_LEADER_VALID_US) {
            /* Leadership not confirmed lately: no grant. */
        }
        else if (kc_logger_backlog(self->logger) >= S_LOG_BACKLOG_MAX) {
            if (kc_coord_waiting_count(self->coord) && kc_coord_free_count(self->coord)) {
                self->held_for_log = true;
                self->held_for_log_turns++;
            }
        }
        else if (s_lease_ids_ready(self))
            s_collect_grants(self);
        if (s_send_replies(self) == 0)
            break;
    }
}

static void s_log_stats(kc_server_t *self, int64_t now)
{
    if (now < self->next_stats_us)
        return;
    self->next_stats_us = now + S_STATS_INTERVAL_US;
    unsigned long long writes;
    double mean_events, mean_us;
    kc_logger_stats(self->logger, &writes, &mean_events, &mean_us);
    rs_info("keys free %zu, held %zu, waiting holders %zu; grants %llu, releases %llu, expiries %llu, keys quarantined %llu (reports refused %llu), dropped %llu malformed and %llu unauthorized, undeliverable %llu; lease log: %llu writes of %.1f events, %.0f us each; grants held back for the log in %llu turns",
            kc_coord_free_count(self->coord), kc_coord_held_count(self->coord),
            kc_coord_waiting_count(self->coord), (unsigned long long) self->grants,
            (unsigned long long) self->releases, (unsigned long long) self->expiries,
            (unsigned long long) self->quarantined, (unsigned long long) self->quarantine_refused,
            (unsigned long long) self->dropped_malformed, (unsigned long long) self->unauthorized,
            (unsigned long long) self->undeliverable, writes, mean_events, mean_us,
            (unsigned long long) self->held_for_log_turns);
    /* Holders waiting while no key can ever be granted: say what is
     * missing (a worker only sees a keycoord that does not answer). */
    size_t in_service = kc_coord_free_count(self->coord) + kc_coord_held_count(self->coord);
    if (in_service == 0 && kc_coord_waiting_count(self->coord) > 0)
        rs_warn("no key is in service (%zu keys: %zu retired, %zu quarantined): %zu holders wait for a key; add keys with `recsign keys add`",
                kc_coord_key_count(self->coord), kc_coord_retired_count(self->coord),
                kc_coord_quarantined_count(self->coord), kc_coord_waiting_count(self->coord));
}

/* Confirms leadership when the last confirmation is S_LEADER_CHECK_US
 * old. Returns false once it is lost (logged). */
static bool s_still_leading(kc_server_t *self, int64_t now)
{
    if (kc_logger_deposed(self->logger)) {
        rs_error("the database refused a lease log write of epoch %lld: another recsign-keycoord leads now; this one grants nothing more",
                 (long long) self->epoch);
        return false;
    }
    if (now - self->confirmed_us < S_LEADER_CHECK_US)
        return true;
    char why[512];
    if (kc_store_confirm(self->owner, self->epoch, why, sizeof why) != KC_OWNER_HELD) {
        char when[64] = "its session failed a statement since";
        if (self->confirmed_us != INT64_MIN / 2)
            snprintf(when, sizeof when, "last confirmed %lld ms ago",
                     (long long) ((now - self->confirmed_us) / 1000));
        rs_error("leadership of epoch %lld cannot be confirmed (%s): %s; this keycoord grants nothing more",
                 (long long) self->epoch, when, why);
        return false;
    }
    self->confirmed_us = now;
    return true;
}

int kc_server_run(kc_server_t *self)
{
    self->next_stats_us = rs_mono_us() + S_STATS_INTERVAL_US;
    int outcome = KC_SERVE_STOPPED;
    while (!zsys_interrupted) {
        int64_t now = rs_mono_us();
        int64_t deadline = kc_coord_next_deadline(self->coord);
        int64_t wait_us = deadline == INT64_MAX ? S_LEADER_CHECK_US : deadline - now;
        if (wait_us > S_LEADER_CHECK_US)
            wait_us = S_LEADER_CHECK_US;
        if (self->held_for_log && wait_us > S_LOG_RECHECK_US)
            wait_us = S_LOG_RECHECK_US;
        if (wait_us < 0)
            wait_us = 0;
        void *which = zpoller_wait(self->poller, (int) ((wait_us + 999) / 1000));
        if (zpoller_terminated(self->poller))
            break;
        now = rs_mono_us();
        /* Before anything is handled: after a pause (SIGSTOP, a stalled
         * VM) the confirmation is old, and another may lead by now. */
        if (!s_still_leading(self, now)) {
            outcome = KC_SERVE_DEPOSED;
            break;
        }
        size_t expired = kc_coord_expire(self->coord, now);
        self->expiries += expired;
        rs_metric_add(kc_metrics.expired, expired);
        if (which) {
            for (int i = 0; i < S_DRAIN_MAX; i++) {
                zmsg_t *msg = rs_socket_recv_ready(self->router);
                if (!msg)
                    break;
                s_handle_one(self, msg);
                zmsg_destroy(&msg);
            }
        }
        /* Replies leave before this turn's events are durable, so that a
         * holder never waits for a commit. What keeps that safe: the sink
         * stores nothing under a lease until the lease is in the log, and a
         * keycoord that stops before its log is written leaves an unclean
         * stop behind, after which the next one grants nothing for a TTL. */
        s_serve_waiters(self);
        if (s_log_events(self) != 0)
            return -1;
        s_log_stats(self, now);
        if (now >= self->next_gauges_us) {
            self->next_gauges_us = now + S_GAUGES_US;
            kc_metrics_set_keys(self->coord);
        }
        /* Only while the log writer gets through: with the database away
         * a query or a reconnect attempt could stall this loop. */
        if (now >= self->next_keyring_poll_us && kc_logger_healthy(self->logger)) {
            self->next_keyring_poll_us = now + S_KEYRING_POLL_US;
            bool force = now >= self->next_keyring_reload_us;
            if (force)
                self->next_keyring_reload_us = now + S_KEYRING_RELOAD_US;
            if (kc_store_poll_keys(self->owner, self->coord, force) > 0) {
                /* New keys may serve holders waiting now. */
                s_serve_waiters(self);
                if (s_log_events(self) != 0)
                    return -1;
            }
        }
    }
    self->next_stats_us = 0; /* a last line, whatever the time */
    s_log_stats(self, rs_mono_us());
    return outcome;
}
