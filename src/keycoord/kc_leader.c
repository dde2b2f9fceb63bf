/* kc_leader: see kc_leader.h. */
#include "kc_leader.h"
#include "kc_coord.h"
#include "kc_logger.h"
#include "kc_metrics.h"
#include "kc_server.h"
#include "rs_log.h"
#include "rs_process.h"
#include "rs_socket.h"
#include "rs_time.h"

#include <czmq.h>
#include <errno.h>
#include <time.h>

#define S_STANDBY_POLL_MS 200  /* a standby tries the lock this often */
#define S_RETRY_MAX_MS 5000    /* database reconnects back off up to this */
#define S_BIND_WAIT_MS 30000   /* a new leader waits this long for its address */
#define S_BIND_RETRY_MS 100
/* A deposed leader steps back this long before it tries the lock again,
 * so that a standby that has been waiting takes over first. */
#define S_STEP_BACK_MS 1000

/* Sleeps ms, in slices, returning early when interrupted. */
static void s_nap(int ms)
{
    for (int slept = 0; slept < ms && !zsys_interrupted; slept += 50) {
        struct timespec pause = { 0, 50000000L };
        nanosleep(&pause, NULL);
    }
}

/* Whether *store_p is connected: connects it when NULL (the owner store
 * when owner), else logs why not and naps the backoff, doubling it. */
static bool s_connected(const char *db_url, bool owner, kc_store_t **store_p, int *backoff_ms)
{
    if (*store_p)
        return true;
    char err[512];
    *store_p = kc_store_new(db_url, owner, err, sizeof err);
    if (*store_p)
        return true;
    rs_warn("%s; retrying in %d ms", err, *backoff_ms);
    s_nap(*backoff_ms);
    *backoff_ms = *backoff_ms * 2 > S_RETRY_MAX_MS ? S_RETRY_MAX_MS : *backoff_ms * 2;
    return false;
}

kc_wait_t kc_leader_wait(const kc_leader_config_t *config, kc_store_t **owner_p,
                         kc_store_t **log_p, bool stepped_down, kc_lead_state_t *term)
{
    rs_metric_set(kc_metrics.leader, 0);
    rs_metric_set(kc_metrics.epoch, 0);
    if (stepped_down)
        s_nap(S_STEP_BACK_MS);
    bool said_standby = false;
    int backoff_ms = 100;
    while (!zsys_interrupted) {
        /* The lease log's session is opened first, never while the lock's
         * session is open: a connection attempt blocks for up to the
         * connect timeout of each host (rs_db.c; seconds when the first
         * hosts of the list are gone), longer than the lock's session may
         * stay idle (KC_OWNER_IDLE_TIMEOUT_MS) before the server ends it:
         * the standby would lose its session before it tries the lock, a
         * new leader the lock before it serves. */
        if (!*log_p)
            kc_store_destroy(owner_p);
        /* Each attempt may take seconds: a stop asked for meanwhile is
         * obeyed before the next step (the loop's test; kc_store_try_lead
         * looks too, after connecting). A standby stopped with its leader
         * would otherwise take the lock the leader let go of, and begin
         * and end a term of its own on its way out (tests/faults/
         * keycoord_standby_stop.sh). */
        if (!s_connected(config->db_url, false, log_p, &backoff_ms) || zsys_interrupted
            || !s_connected(config->db_url, true, owner_p, &backoff_ms))
            continue;
        switch (kc_store_try_lead(*owner_p, config->ttl_ms, KC_LEADER_VALID_MS, term)) {
        case KC_LEAD_TAKEN:
            rs_metric_set(kc_metrics.leader, 1);
            rs_metric_set(kc_metrics.epoch, term->epoch);
            rs_info("leading as epoch %lld (the keycoord lock is held by database session %d)",
                    (long long) term->epoch, kc_store_session_pid(*owner_p));
            return KC_WAIT_LEADING;
        case KC_LEAD_STANDBY:
            backoff_ms = 100;
            if (term->lease_ttl_ms != 0 && term->lease_ttl_ms != config->ttl_ms) {
                rs_error("--lease-ttl-ms %u differs from the %u ms of the keycoord that leads (epoch %lld); expected the same TTL on every keycoord of a database, so that a standby holds the leases it adopts for as long as their holders use them",
                         config->ttl_ms, term->lease_ttl_ms, (long long) term->epoch);
                return KC_WAIT_MISCONFIGURED;
            }
            if (!said_standby) {
                rs_info("standby: another recsign-keycoord leads (epoch %lld); waiting to take over, %s not bound until then",
                        (long long) term->epoch, config->bind);
                rs_process_ready("standby: another keycoord leads (epoch %lld)",
                                 (long long) term->epoch);
                said_standby = true;
            }
            s_nap(S_STANDBY_POLL_MS);
            continue;
        case KC_LEAD_FAILED:
            return KC_WAIT_FAILED;
        case KC_LEAD_RETRY:
            break;
        }
        /* A database error: start over on new connections. */
        kc_store_destroy(owner_p);
        kc_store_destroy(log_p);
        s_nap(backoff_ms);
        backoff_ms = backoff_ms * 2 > S_RETRY_MAX_MS ? S_RETRY_MAX_MS : backoff_ms * 2;
    }
    return KC_WAIT_STOPPED;
}

/* Binds the lease ROUTER. A deposed leader on this host may still have
 * the address for a moment (it lets go once it finds out): while the
 * address is in use, retries for S_BIND_WAIT_MS, confirming leadership
 * meanwhile. Returns the socket, or NULL with *outcome set. */
static zsock_t *s_bind(const kc_leader_config_t *config, kc_store_t *owner, int64_t epoch,
                       kc_term_t *outcome)
{
    /* ROUTER drops replies to unknown peers silently unless MANDATORY is
     * set; with it a send to a vanished holder fails at once and its grant
     * is voided. A zero send timeout keeps a stuck peer from blocking us. */
    const rs_socket_opts_t router_opts = { .sndhwm = 10000, .rcvhwm = 10000,
                                           .max_msg_bytes = RS_LEASE_REQ_MAX_BYTES };
    bool said_waiting = false;
    for (int waited = 0;; waited += S_BIND_RETRY_MS) {
        char err[512];
        zsock_t *router = rs_socket_new(ZMQ_ROUTER, config->bind, RS_BIND, &router_opts,
                                        config->security, NULL, err, sizeof err);
        if (router) {
            zsock_set_router_mandatory(router, 1);
            zsock_set_sndtimeo(router, 0);
            if (said_waiting)
                rs_info("bound %s after %d ms", config->bind, waited);
            return router;
        }
        if (zsys_interrupted) {
            rs_info("stopped while waiting for %s; nothing granted", config->bind);
            *outcome = KC_TERM_STOPPED;
            return NULL;
        }
        if (errno != EADDRINUSE || waited >= S_BIND_WAIT_MS) {
            rs_error("%s", err);
            *outcome = KC_TERM_FAILED;
            return NULL;
        }
        if (!said_waiting) {
            rs_warn("%s; waiting up to %d ms for it (a deposed leader lets go of it once it finds out)",
                    err, S_BIND_WAIT_MS);
            said_waiting = true;
        }
        char why[512];
        if (kc_store_confirm(owner, epoch, why, sizeof why) != KC_OWNER_HELD) {
            rs_error("lost leadership of epoch %lld while waiting to bind: %s", (long long) epoch,
                     why);
            *outcome = KC_TERM_DEPOSED;
            return NULL;
        }
        s_nap(S_BIND_RETRY_MS);
    }
}

/* A term that failed to start: with the lock's session gone (the
 * database went away meanwhile) it is a lost leadership, to be tried
 * again as a standby; otherwise a failure. */
static kc_term_t s_failed_or_deposed(kc_store_t *owner, int64_t epoch)
{
    char why[512];
    return kc_store_confirm(owner, epoch, why, sizeof why) == KC_OWNER_HELD ? KC_TERM_FAILED
                                                                           : KC_TERM_DEPOSED;
}

kc_term_t kc_leader_term(const kc_leader_config_t *config, kc_store_t **owner_p,
                         kc_store_t **log_p, const kc_lead_state_t *term)
{
    const int64_t epoch = term->epoch;
    const bool unclean = term->unclean;
    if (term->lease_ttl_ms != 0 && term->lease_ttl_ms != config->ttl_ms)
        rs_warn("the previous keycoord granted leases of %u ms, this one grants %u ms: leases left open are held for the TTL they were granted with",
                term->lease_ttl_ms, config->ttl_ms);
    char err[512];
    kc_term_t outcome = KC_TERM_FAILED;
    zsock_t *router = NULL;
    kc_logger_t *logger = NULL;
    kc_server_t *server = NULL;
    bool served = false;
    kc_coord_t *coord = NULL;
    /* Asked to stop while it took the lock (the few statements of
     * kc_store_try_lead): the term ends before anything is loaded, bound
     * or granted, as a clean stop when the predecessor's was. */
    if (zsys_interrupted) {
        rs_info("stopped before serving epoch %lld: nothing granted", (long long) epoch);
        outcome = KC_TERM_STOPPED;
        goto out;
    }
    /* After an unclean stop, a deposed leader may have renewed a lease
     * for up to KC_LEADER_VALID_MS after it lost leadership. */
    coord = kc_store_load(*owner_p, config->ttl_ms, unclean ? KC_LEADER_VALID_MS : 0,
                          config->max_waiters, kc_server_cookie_free, err, sizeof err);
    if (!coord) {
        rs_error("%s", err);
        outcome = s_failed_or_deposed(*owner_p, epoch);
        goto out;
    }
    if (term->hold_ms > 0) {
        if (unclean)
            rs_warn("the previous keycoord did not stop cleanly: no key is granted for one lease TTL and %d ms (%lld ms), until every lease it may have granted has run out",
                    KC_LEADER_VALID_MS, (long long) term->hold_ms);
        else
            rs_warn("the previous keycoord stopped during its hold after an unclean stop: no key is granted for the %lld ms left of it",
                    (long long) term->hold_ms);
        kc_coord_hold_grants(coord, rs_mono_us() + term->hold_ms * 1000);
    }
    if (kc_coord_key_count(coord) == 0)
        rs_warn("the keyring is empty: no lease can be granted until keys are added ('recsign init --keys N')");
    router = s_bind(config, *owner_p, epoch, &outcome);
    if (!router)
        goto out;
    /* The writer's session was opened before the lock was taken; should
     * it have broken since, the writer reconnects on its own thread. */
    logger = kc_logger_new(log_p, epoch);
    server = kc_server_new(router, coord, logger, *owner_p, epoch, config->security);
    if (!logger || !server) {
        rs_error("out of memory");
        goto out;
    }
    rs_info("serving leases on %s: %zu keys, %zu free, ttl %u ms, epoch %lld", config->bind,
            kc_coord_key_count(coord), kc_coord_free_count(coord), config->ttl_ms,
            (long long) epoch);
    served = true;
    kc_metrics_set_keys(coord);
    rs_process_ready("serving leases on %s: %zu keys, epoch %lld", config->bind,
                     kc_coord_key_count(coord), (long long) epoch);
    int served_rc = kc_server_run(server);
    if (served_rc == KC_SERVE_DEPOSED) {
        /* What the writer still holds is of the old epoch: never written. */
        outcome = KC_TERM_DEPOSED;
        goto out;
    }
    /* A clean stop needs every event durable; give the writer a while. */
    int marked = served_rc == KC_SERVE_STOPPED && kc_logger_drain(logger, 10000) == 0
                     ? kc_store_mark_clean_stop(*owner_p, epoch)
                     : -1;
    if (marked == 0) {
        rs_info("stopped cleanly: the lease log is complete");
        outcome = KC_TERM_STOPPED;
    }
    else if (marked == 1 || kc_logger_deposed(logger))
        rs_error("stopped after another recsign-keycoord took over: the state is the new leader's, left as it is");
    else
        rs_error("stopped without writing the whole lease log; the next keycoord will wait one TTL before granting");
    if (marked != 0)
        outcome = KC_TERM_UNCLEAN;
out:
    /* Failed or stopped before serving after a clean predecessor: nothing
     * was granted, so the state is clean again (only while the epoch is
     * ours). */
    if (!served && outcome != KC_TERM_DEPOSED && !unclean && *owner_p
        && kc_store_mark_clean_stop(*owner_p, epoch) != 0)
        rs_warn("could not record that nothing was granted");
    kc_server_destroy(&server);
    kc_logger_destroy(&logger);
    zsock_destroy(&router);
    kc_coord_destroy(&coord);
    rs_metric_set(kc_metrics.leader, 0);
    rs_metric_set(kc_metrics.epoch, 0);
    if (outcome == KC_TERM_DEPOSED) {
        /* Closing the session lets go of the lock, if it is still held. */
        kc_store_destroy(owner_p);
        rs_error("no longer the leader of epoch %lld: lease socket closed; back to standby",
                 (long long) epoch);
    }
    return outcome;
}
