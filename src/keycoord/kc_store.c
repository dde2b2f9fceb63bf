/* kc_store: see kc_store.h. */
#include "kc_store.h"
#include "rs_bytes.h"
#include "rs_lease.h"
#include "rs_db.h"
#include "rs_log.h"
#include "rs_time.h"

#include <czmq.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_LOCK_KEY RS_KEYCOORD_LOCK_KEY /* one keycoord per database */
/* PostgreSQL's binary timestamptz counts microseconds from 2000-01-01. */
#define S_PG_EPOCH_OFFSET_US 946684800000000LL
#define S_TIMESTAMPTZ_OID 1184
#define S_INT8_OID 20
#define S_INT4_OID 23
#define S_TEXT_OID 25

struct kc_store_t {
    rs_db_link_t *link;
    bool owner;
};

/* The link owns the connection (NULL while it is down); every statement
 * asks it, so nothing holds a connection the link has replaced. */
static PGconn *s_conn(const kc_store_t *self)
{
    return rs_db_link_conn(self->link);
}

/* Lease-log statements: grants and ends take one array per column, so a
 * flush of any size is two statements; key events are rare and single. A
 * lease that ends in the flush that grants it is inserted already ended
 * (ended_at and end_reason set; NULL otherwise): the flush is one
 * transaction, so no reader could have seen it open in between, and one
 * insert costs the database far less than an insert and an update.
 * Both lease statements are idempotent, for re-sending a flush whose
 * outcome was lost with the connection. */
static int s_prepare(PGconn *conn)
{
    static const struct {
        const char *name, *sql;
    } statements[] = {
        /* Every write of a flush begins with this: it fails (RS001) unless
         * the writer's epoch is the current one, and holds the state row
         * until the flush commits, so that no takeover passes it meanwhile.
         * The triggers on leases check the rows' epochs as well. */
        { "kc_fence", "SELECT keycoord_fence($1::bigint)" },
        { "kc_grants",
          "INSERT INTO leases (id, key_id, holder, granted_at, run_id, batch_records, ended_at,"
          "                    end_reason, epoch, end_epoch)"
          " SELECT u.*, $9::bigint, CASE WHEN u.ended_at IS NOT NULL THEN $9::bigint END"
          " FROM unnest($1::bigint[], $2::integer[], $3::text[], $4::timestamptz[],"
          "             $5::bigint[], $6::integer[], $7::timestamptz[], $8::text[])"
          "  AS u (id, key_id, holder, granted_at, run_id, batch_records, ended_at, end_reason)"
          " ON CONFLICT (id) DO NOTHING" },
        /* The same without the conflict check, for a first try. */
        { "kc_grants_new",
          "INSERT INTO leases (id, key_id, holder, granted_at, run_id, batch_records, ended_at,"
          "                    end_reason, epoch, end_epoch)"
          " SELECT u.*, $9::bigint, CASE WHEN u.ended_at IS NOT NULL THEN $9::bigint END"
          " FROM unnest($1::bigint[], $2::integer[], $3::text[], $4::timestamptz[],"
          "             $5::bigint[], $6::integer[], $7::timestamptz[], $8::text[])"
          "  AS u (id, key_id, holder, granted_at, run_id, batch_records, ended_at, end_reason)" },
        { "kc_ends",
          "UPDATE leases l SET ended_at = u.at, end_reason = u.reason, end_epoch = $4::bigint"
          " FROM unnest($1::bigint[], $2::timestamptz[], $3::text[]) AS u (id, at, reason)"
          " WHERE l.id = u.id AND l.ended_at IS NULL" },
        { "kc_key_live",
          "UPDATE keys SET live_at = $2::timestamptz WHERE id = $1::integer AND live_at IS NULL" },
        { "kc_key_retired",
          "UPDATE keys SET retired_at = $2::timestamptz"
          " WHERE id = $1::integer AND retired_at IS NULL" },
        { "kc_key_quarantined",
          "UPDATE keys SET quarantined_at = $2::timestamptz, quarantined_by = $3::text"
          " WHERE id = $1::integer AND quarantined_at IS NULL" },
    };
    for (size_t i = 0; i < sizeof statements / sizeof statements[0]; i++) {
        PGresult *res = PQprepare(conn, statements[i].name, statements[i].sql, 0, NULL);
        int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        PQclear(res);
        if (!ok)
            return -1;
    }
    return 0;
}

static int s_setup(PGconn *conn, void *arg, char *err, size_t err_size)
{
    kc_store_t *self = arg;
    /* The log writer only ever touches a few leases by id. A plan made
     * while the table was small (or its statistics stale) would scan it
     * all on every write as it grows: keep this session on index lookups.
     * A write holds the state row (FOR SHARE) until it commits; should the
     * writer stop mid-transaction (SIGSTOP), the server ends its session
     * after 5 s, so that a takeover waits no longer than that. */
    if (!self->owner
        && rs_db_exec(conn, "setting the lease log's plan",
                      "SET enable_seqscan = off; SET enable_hashjoin = off;"
                      " SET enable_mergejoin = off; SET idle_in_transaction_session_timeout = 5000")
               != 0) {
        snprintf(err, err_size, "cannot configure the lease log session: %s", rs_db_error(conn));
        return -1;
    }
    /* The owner session's idle time is bounded (KC_OWNER_IDLE_TIMEOUT_MS,
     * kc_store.h), in a transaction or not; a server without the setting
     * still works. */
    if (self->owner)
        rs_db_bound_idle(conn, KC_OWNER_IDLE_TIMEOUT_MS, "keycoord lock");
    if (s_prepare(conn) != 0) {
        snprintf(err, err_size, "cannot prepare lease statements: %s", rs_db_error(conn));
        return -1;
    }
    return 0;
}

kc_store_t *kc_store_new(const char *db_url, bool owner, char *err, size_t err_size)
{
    kc_store_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    self->owner = owner;
    self->link = rs_db_link_new(db_url, "recsign-keycoord", s_setup, self, err, err_size);
    if (!self->link) {
        free(self);
        return NULL;
    }
    return self;
}

void kc_store_destroy(kc_store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    rs_db_link_destroy(&(*self_p)->link);
    free(*self_p);
    *self_p = NULL;
}

int kc_store_reconnect(kc_store_t *self)
{
    int rc = rs_db_link_ensure(self->link);
    return rc;
}

kc_coord_t *kc_store_load(kc_store_t *self, uint32_t ttl_ms, uint32_t adopt_extra_ms,
                          size_t max_waiters, kc_cookie_free_fn *cookie_free, char *err,
                          size_t err_size)
{
    PGresult *res;
    res = PQexec(s_conn(self),
                           "SELECT coalesce(max(id), 0),"
                           " coalesce((extract(epoch FROM greatest(max(granted_at), max(ended_at),"
                           "   (SELECT max(greatest(live_at, retired_at, quarantined_at)) FROM keys)))"
                           " * 1000000)::bigint, 0),"
                           " (SELECT lease_ids_reserved FROM keycoord_state WHERE id = 1) FROM leases");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(err, err_size, "cannot read the lease log: %s", rs_db_error(s_conn(self)));
        PQclear(res);
        return NULL;
    }
    uint64_t next_lease = (uint64_t) strtoll(PQgetvalue(res, 0, 0), NULL, 10) + 1;
    uint64_t reserved = (uint64_t) strtoll(PQgetvalue(res, 0, 2), NULL, 10);
    /* Ids up to the reservation may have been granted without being
     * logged: start past them. */
    if (reserved + 1 > next_lease)
        next_lease = reserved + 1;
    int64_t last_event = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    PQclear(res);

    kc_coord_t *coord = kc_coord_new(ttl_ms, next_lease, last_event, max_waiters, cookie_free);
    if (!coord) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    /* LRU order: keys never released first (by id), then by last release. */
    res = PQexecParams(s_conn(self),
                       "SELECT k.id, k.sealed_secret, (l.last_end IS NOT NULL)::int,"
                       " (k.retired_at IS NOT NULL)::int, (k.live_at IS NULL)::int,"
                       " (k.retire_requested_at IS NOT NULL AND k.retired_at IS NULL)::int,"
                       " (k.quarantined_at IS NOT NULL)::int"
                       " FROM keys k"
                       " LEFT JOIN (SELECT key_id, max(ended_at) AS last_end FROM leases"
                       "            GROUP BY key_id) l ON l.key_id = k.id"
                       " ORDER BY l.last_end NULLS FIRST, k.id",
                       0, NULL, NULL, NULL, NULL, 1);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(err, err_size, "cannot read the keyring: %s", rs_db_error(s_conn(self)));
        goto fail;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        uint32_t key_id = (uint32_t) rs_db_get_int4(res, i, 0);
        unsigned flags = (rs_db_get_int4(res, i, 2) ? KC_KEY_USED : 0)
                         | (rs_db_get_int4(res, i, 3) ? KC_KEY_RETIRED : 0)
                         | (rs_db_get_int4(res, i, 6) ? KC_KEY_QUARANTINED : 0);
        int sealed_len = PQgetlength(res, i, 1);
        if (sealed_len < 1 || sealed_len > (int) RS_SEALED_MAX) {
            char reason[RS_HOLDER_MAX + 1];
            snprintf(reason, sizeof reason, "keycoord: sealed secret of %d bytes", sealed_len);
            if (!(flags & (KC_KEY_QUARANTINED | KC_KEY_RETIRED)))
                rs_warn("key %u has a sealed secret of %d bytes; expected 1..%u: quarantined, the other keys sign",
                        key_id, sealed_len, RS_SEALED_MAX);
            if (kc_coord_add_damaged_key(coord, key_id, flags, reason) != 0) {
                snprintf(err, err_size, "cannot add key %u (out of memory or a duplicate id)", key_id);
                goto fail;
            }
        }
        else if (kc_coord_add_key(coord, key_id, (const uint8_t *) PQgetvalue(res, i, 1),
                                  (size_t) sealed_len, flags)
                 != 0) {
            snprintf(err, err_size, "cannot add key %u (out of memory or a duplicate id)", key_id);
            goto fail;
        }
        /* New to the queue now: its live_at is this moment. */
        else if (rs_db_get_int4(res, i, 4) && !(flags & (KC_KEY_RETIRED | KC_KEY_QUARANTINED)))
            (void) kc_coord_make_live(coord, key_id);
        if (rs_db_get_int4(res, i, 5))
            (void) kc_coord_retire_key(coord, key_id);
    }
    PQclear(res);

    /* A lease still open in the log may be in use by a holder that outlived
     * the previous keycoord: keep its key out of the queue. Its holder may
     * have renewed it (renewals are not logged) up to the moment the
     * previous leader stopped, so its deadline is counted from now: the
     * TTL of the term that granted it (keycoord_terms), or this leader's
     * when longer or unknown, plus adopt_extra_ms. */
    res = PQexec(s_conn(self),
                 "SELECT l.id, l.key_id, l.holder, coalesce(t.lease_ttl_ms, 0)"
                 " FROM leases l LEFT JOIN keycoord_terms t ON t.epoch = l.epoch"
                 " WHERE l.ended_at IS NULL ORDER BY l.id");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(err, err_size, "cannot read open leases: %s", rs_db_error(s_conn(self)));
        goto fail;
    }
    int64_t now = rs_mono_us();
    for (int i = 0; i < PQntuples(res); i++) {
        uint64_t lease_id = (uint64_t) strtoll(PQgetvalue(res, i, 0), NULL, 10);
        uint32_t key_id = (uint32_t) strtoul(PQgetvalue(res, i, 1), NULL, 10);
        uint32_t granted_ttl = (uint32_t) strtoul(PQgetvalue(res, i, 3), NULL, 10);
        uint32_t held_ms = (granted_ttl > ttl_ms ? granted_ttl : ttl_ms) + adopt_extra_ms;
        if (kc_coord_adopt_lease(coord, lease_id, key_id, PQgetvalue(res, i, 2), held_ms, 0, now)
            != 0)
            rs_warn("open lease %llu names key %u, which is unknown or already held; ignored",
                    (unsigned long long) lease_id, key_id);
        else
            rs_info("lease %llu on key %u is still open in the log; the key stays out of the queue for %u ms unless its holder releases it first",
                    (unsigned long long) lease_id, key_id, held_ms);
    }
    PQclear(res);
    return coord;

fail:
    PQclear(res);
    kc_coord_destroy(&coord);
    return NULL;
}

int kc_store_poll_keys(kc_store_t *self, kc_coord_t *coord, bool force)
{
    bool notified = false;
    if (s_conn(self) && PQconsumeInput(s_conn(self))) {
        PGnotify *n;
        while ((n = PQnotifies(s_conn(self))) != NULL) {
            notified = true;
            PQfreemem(n);
        }
    }
    if (!notified && !force)
        return 0;
    PGresult *res = PQexecParams(s_conn(self),
                                 "SELECT id, sealed_secret, (retire_requested_at IS NOT NULL)::int"
                                 " FROM keys ORDER BY id",
                                 0, NULL, NULL, NULL, NULL, 1);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rs_warn("cannot reload the keyring: %s", rs_db_error(s_conn(self)));
        PQclear(res);
        return -1;
    }
    int changes = 0;
    for (int i = 0; i < PQntuples(res); i++) {
        uint32_t key_id = (uint32_t) rs_db_get_int4(res, i, 0);
        bool retire = rs_db_get_int4(res, i, 2) != 0;
        if (!kc_coord_has_key(coord, key_id)) {
            if (retire)
                continue; /* retired before it was ever live: never queued */
            if (kc_coord_add_live_key(coord, key_id, (const uint8_t *) PQgetvalue(res, i, 1),
                                      (size_t) PQgetlength(res, i, 1))
                != 0) {
                rs_warn("key %u cannot be added (sealed secret of %d bytes)", key_id,
                        PQgetlength(res, i, 1));
                continue;
            }
            rs_info("key %u added to the queue", key_id);
            changes++;
        }
        else if (retire && kc_coord_retire_key(coord, key_id) == 0) {
            rs_info("key %u retired: it is leased no more", key_id);
            changes++;
        }
    }
    PQclear(res);
    return changes;
}

int kc_store_reserve_lease_ids(kc_store_t *self, uint64_t up_to, int64_t epoch)
{
    char value[24], term[24];
    snprintf(value, sizeof value, "%llu", (unsigned long long) up_to);
    snprintf(term, sizeof term, "%lld", (long long) epoch);
    const char *values[] = { value, term };
    PGresult *res = PQexecParams(s_conn(self),
                                 "UPDATE keycoord_state SET lease_ids_reserved = $1::bigint"
                                 " WHERE id = 1 AND epoch = $2::bigint",
                                 2, NULL, values, NULL, NULL, 0);
    int rc = -1;
    if (PQresultStatus(res) == PGRES_COMMAND_OK)
        rc = strcmp(PQcmdTuples(res), "1") == 0 ? 0 : 1;
    else
        rs_warn("reserving lease ids failed: %s", rs_db_error(s_conn(self)));
    PQclear(res);
    return rc;
}

int kc_store_run_batch_size(kc_store_t *self, uint64_t run_id, uint32_t *batch_size)
{
    char id[24];
    snprintf(id, sizeof id, "%llu", (unsigned long long) run_id);
    const char *values[] = { id };
    PGresult *res = PQexecParams(s_conn(self), "SELECT batch_size FROM runs WHERE id = $1::bigint",
                                 1, NULL, values, NULL, NULL, 0);
    int rc = -1;
    if (PQresultStatus(res) == PGRES_TUPLES_OK) {
        rc = PQntuples(res) == 1 ? 0 : 1;
        if (rc == 0)
            *batch_size = (uint32_t) strtoul(PQgetvalue(res, 0, 0), NULL, 10);
    }
    else
        rs_warn("reading run %s failed: %s", id, rs_db_error(s_conn(self)));
    PQclear(res);
    return rc;
}

/* Runs one statement of the takeover transaction: KC_LEAD_TAKEN (done),
 * KC_LEAD_RETRY (logged) on a failure worth another try (the connection
 * broke, a lock wait timed out), KC_LEAD_FAILED (logged) on one that will
 * not go away by itself (e.g. the role may not update keycoord_state). */
static kc_lead_t s_lead_step(kc_store_t *self, const char *sql, PGresult **out)
{
    PGresult *res = PQexec(s_conn(self), sql);
    ExecStatusType status = PQresultStatus(res);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        bool transient = PQstatus(s_conn(self)) != CONNECTION_OK || !state
                         || !strcmp(state, "55P03") /* lock_not_available */
                         || !strcmp(state, "40001") || !strcmp(state, "40P01");
        rs_log(transient ? RS_LOG_WARN : RS_LOG_ERROR, "taking over the keycoord state failed: %s",
               rs_db_error(s_conn(self)));
        PQclear(res);
        return transient ? KC_LEAD_RETRY : KC_LEAD_FAILED;
    }
    if (out)
        *out = res;
    else
        PQclear(res);
    return KC_LEAD_TAKEN;
}

/* Reads the epoch and lease TTL of the keycoord that holds the lock. */
static kc_lead_t s_read_leader(kc_store_t *self, kc_lead_state_t *state)
{
    PGresult *res = PQexec(s_conn(self), "SELECT epoch, coalesce(lease_ttl_ms, 0)"
                                         " FROM keycoord_state WHERE id = 1");
    kc_lead_t rc = KC_LEAD_STANDBY;
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        rs_warn("reading the keycoord epoch failed: %s", rs_db_error(s_conn(self)));
        rc = KC_LEAD_RETRY;
    }
    else {
        state->epoch = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        state->lease_ttl_ms = (uint32_t) strtoul(PQgetvalue(res, 0, 1), NULL, 10);
    }
    PQclear(res);
    return rc;
}

kc_lead_t kc_store_try_lead(kc_store_t *self, uint32_t ttl_ms, int unclean_extra_ms,
                            kc_lead_state_t *state)
{
    *state = (kc_lead_state_t) { 0 };
    if (kc_store_reconnect(self) != 0 || zsys_interrupted)
        return KC_LEAD_RETRY;
    int64_t locked = 0;
    if (rs_db_query_int(s_conn(self), "trying the keycoord lock",
                        "SELECT pg_try_advisory_lock(" S_LOCK_KEY ")::int", &locked)
        != 0)
        return KC_LEAD_RETRY;
    if (!locked)
        return s_read_leader(self, state);
    /* The lock is ours: a new term. FOR UPDATE waits for a write of the
     * previous leader in flight (it holds the row FOR SHARE); once this
     * commits, every write of an older epoch is refused, and what the log
     * holds now is all it will ever hold of them. */
    PGresult *res = NULL;
    kc_lead_t rc = s_lead_step(self, "BEGIN", NULL);
    if (rc != KC_LEAD_TAKEN)
        goto fail;
    if ((rc = s_lead_step(self, "SET LOCAL lock_timeout = 2000", NULL)) != KC_LEAD_TAKEN
        || (rc = s_lead_step(self,
                             "SELECT clean_stop::int, coalesce(lease_ttl_ms, 0),"
                             " coalesce(greatest(0, ceil(extract(epoch FROM grants_held_until"
                             "   - clock_timestamp()) * 1000)), 0)::bigint"
                             " FROM keycoord_state WHERE id = 1 FOR UPDATE",
                             &res))
               != KC_LEAD_TAKEN)
        goto rollback;
    bool found = PQntuples(res) == 1;
    state->unclean = !found || strcmp(PQgetvalue(res, 0, 0), "1") != 0;
    state->lease_ttl_ms = found ? (uint32_t) strtoul(PQgetvalue(res, 0, 1), NULL, 10) : 0;
    int64_t held = found ? strtoll(PQgetvalue(res, 0, 2), NULL, 10) : 0;
    PQclear(res);
    /* Grants the previous leader made but never logged last its TTL from
     * its end, which is before now, plus the time a deposed leader may
     * still grant (unclean_extra_ms); a hold that was still running when
     * the previous leader stopped, cleanly or not, runs on. */
    uint32_t longer = state->lease_ttl_ms > ttl_ms ? state->lease_ttl_ms : ttl_ms;
    if (state->unclean && (int64_t) longer + unclean_extra_ms > held)
        held = (int64_t) longer + unclean_extra_ms;
    state->hold_ms = held;
    char begin_term[512];
    snprintf(begin_term, sizeof begin_term,
             "WITH term AS (UPDATE keycoord_state SET epoch = epoch + 1, clean_stop = false,"
             "   lease_ttl_ms = %u,"
             "   grants_held_until = clock_timestamp() + %lld * interval '1 millisecond',"
             "   updated_at = clock_timestamp() WHERE id = 1 RETURNING epoch)"
             " INSERT INTO keycoord_terms (epoch, lease_ttl_ms) SELECT epoch, %u FROM term"
             " RETURNING epoch",
             ttl_ms, (long long) held, ttl_ms);
    if ((rc = s_lead_step(self, begin_term, &res)) != KC_LEAD_TAKEN)
        goto rollback;
    state->epoch = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    PQclear(res);
    if (state->epoch == 0) {
        rs_error("keycoord_state has no row; expected the one 'recsign init' makes");
        rc = KC_LEAD_FAILED;
        goto rollback;
    }
    if ((rc = s_lead_step(self, "COMMIT", NULL)) != KC_LEAD_TAKEN)
        goto rollback;
    /* Keys added or retirements asked for are announced on this channel;
     * only a leader listens (a standby would let notifications pile up). */
    if ((rc = s_lead_step(self, "LISTEN recsign_keys", NULL)) != KC_LEAD_TAKEN)
        goto fail;
    return KC_LEAD_TAKEN;
rollback:
    PQclear(PQexec(s_conn(self), "ROLLBACK"));
fail:
    /* Without a new term the lock is of no use: let another have it. */
    PQclear(PQexec(s_conn(self), "SELECT pg_advisory_unlock(" S_LOCK_KEY ")"));
    return rc;
}

int kc_store_session_pid(kc_store_t *self)
{
    return s_conn(self) ? PQbackendPID(s_conn(self)) : 0;
}

kc_owner_t kc_store_confirm(kc_store_t *self, int64_t epoch, char *why, size_t why_size)
{
    /* A statement that succeeds on the lock's own session proves the
     * session, and with it the lock, alive; the epoch proves that nobody
     * took over in between (a takeover needs the lock, so that cannot
     * happen while the session lives, but a bump by hand or a bug must
     * depose us all the same). Never reconnects: a new session would not
     * hold the lock. */
    if (!s_conn(self) || PQstatus(s_conn(self)) != CONNECTION_OK) {
        snprintf(why, why_size, "the session holding the keycoord lock is gone");
        return KC_OWNER_LOST;
    }
    PGresult *res = PQexec(s_conn(self), "SELECT epoch FROM keycoord_state WHERE id = 1");
    kc_owner_t owner = KC_OWNER_LOST;
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        snprintf(why, why_size, "the session holding the keycoord lock failed (%s)",
                 rs_db_error(s_conn(self)));
    else {
        int64_t current = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        if (current == epoch)
            owner = KC_OWNER_HELD;
        else
            snprintf(why, why_size, "the keycoord epoch is %lld now, not this leader's %lld",
                     (long long) current, (long long) epoch);
    }
    PQclear(res);
    return owner;
}

int kc_store_mark_clean_stop(kc_store_t *self, int64_t epoch)
{
    char term[24];
    snprintf(term, sizeof term, "%lld", (long long) epoch);
    const char *values[] = { term };
    /* Only the leader of the current epoch owns the state. The lock's
     * session may have died unnoticed (a database restart): the epoch,
     * not the session, says whether the state is still ours, so one more
     * try on a new connection is safe. */
    for (int attempt = 0; attempt < 2; attempt++) {
        if (kc_store_reconnect(self) != 0)
            return -1;
        PGresult *res = PQexecParams(s_conn(self),
                                     "UPDATE keycoord_state SET clean_stop = true,"
                                     " updated_at = clock_timestamp()"
                                     " WHERE id = 1 AND epoch = $1::bigint",
                                     1, NULL, values, NULL, NULL, 0);
        int rc = PQresultStatus(res) != PGRES_COMMAND_OK ? -1
                 : strcmp(PQcmdTuples(res), "1") == 0     ? 0
                                                          : 1;
        PQclear(res);
        if (rc >= 0)
            return rc;
    }
    rs_db_failed(s_conn(self), "recording a clean stop");
    return -1;
}

static void s_put_time(uint8_t *buf, int64_t wall_us)
{
    rs_put_u64(buf, (uint64_t) (wall_us - S_PG_EPOCH_OFFSET_US));
}

/* A PostgreSQL array in binary form, built one element at a time. */
typedef struct {
    uint8_t *buf;
    size_t size, cap;
    uint32_t count;
} s_array_t;

static int s_array_reserve(s_array_t *a, size_t more)
{
    if (a->size + more <= a->cap)
        return 0;
    size_t cap = a->cap ? a->cap : 4096;
    while (cap < a->size + more)
        cap *= 2;
    uint8_t *grown = realloc(a->buf, cap);
    if (!grown)
        return -1;
    a->buf = grown;
    a->cap = cap;
    return 0;
}

/* Header: one dimension, no nulls, element type, length (patched at the
 * end), lower bound 1. */
static int s_array_begin(s_array_t *a, Oid element)
{
    a->size = 0;
    a->count = 0;
    if (s_array_reserve(a, 20) != 0)
        return -1;
    rs_put_u32(a->buf, 1);
    rs_put_u32(a->buf + 4, 0);
    rs_put_u32(a->buf + 8, element);
    rs_put_u32(a->buf + 12, 0);
    rs_put_u32(a->buf + 16, 1);
    a->size = 20;
    return 0;
}

static int s_array_put(s_array_t *a, const void *data, uint32_t len)
{
    if (s_array_reserve(a, 4 + (size_t) len) != 0)
        return -1;
    rs_put_u32(a->buf + a->size, len);
    memcpy(a->buf + a->size + 4, data, len);
    a->size += 4 + len;
    a->count++;
    rs_put_u32(a->buf + 12, a->count);
    return 0;
}

/* A NULL element: length -1 and the header's has-nulls flag. */
static int s_array_put_null(s_array_t *a)
{
    if (s_array_reserve(a, 4) != 0)
        return -1;
    rs_put_u32(a->buf + a->size, UINT32_MAX);
    a->size += 4;
    a->count++;
    rs_put_u32(a->buf + 4, 1);
    rs_put_u32(a->buf + 12, a->count);
    return 0;
}

#define S_GRANT_COLUMNS 8
#define S_END_COLUMNS 3

/* Column arrays of one flush. */
typedef struct {
    s_array_t grant[S_GRANT_COLUMNS];
    s_array_t end[S_END_COLUMNS];
    size_t *end_of; /* per event: its folded partner (GRANT <-> END), or SIZE_MAX */
} s_columns_t;

static void s_columns_free(s_columns_t *c)
{
    for (size_t i = 0; i < S_GRANT_COLUMNS; i++)
        free(c->grant[i].buf);
    for (size_t i = 0; i < S_END_COLUMNS; i++)
        free(c->end[i].buf);
    free(c->end_of);
}

/* Pairs each END with the GRANT of the same lease in this flush, if any:
 * c->end_of[grant index] = end index, and c->end_of[end index] = the grant
 * index (so the END is not sent as an update). Grants come in lease id
 * order (ids strictly increase), so a binary search finds them; should
 * they not, nothing is folded. Returns -1 when out of memory. */
static int s_columns_pair(s_columns_t *c, const kc_event_t *events, size_t count)
{
    c->end_of = malloc(count * sizeof *c->end_of);
    size_t *grants = malloc(count * sizeof *grants);
    if (!c->end_of || !grants) {
        free(grants);
        return -1;
    }
    size_t n = 0;
    bool sorted = true;
    for (size_t i = 0; i < count; i++) {
        c->end_of[i] = SIZE_MAX;
        if (events[i].type != KC_EVENT_GRANT)
            continue;
        if (n && events[grants[n - 1]].lease_id >= events[i].lease_id)
            sorted = false;
        grants[n++] = i;
    }
    for (size_t i = 0; i < count && sorted; i++) {
        if (events[i].type != KC_EVENT_END)
            continue;
        size_t lo = 0, hi = n;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (events[grants[mid]].lease_id < events[i].lease_id)
                lo = mid + 1;
            else
                hi = mid;
        }
        /* Only an END after its GRANT (always so) and the first END of a
         * lease (there is only one) is folded. */
        if (lo < n && events[grants[lo]].lease_id == events[i].lease_id && grants[lo] < i
            && c->end_of[grants[lo]] == SIZE_MAX) {
            c->end_of[grants[lo]] = i;
            c->end_of[i] = grants[lo];
        }
    }
    free(grants);
    return 0;
}

static int s_columns_fill(s_columns_t *c, const kc_event_t *events, size_t count)
{
    static const Oid grant_types[S_GRANT_COLUMNS] = { S_INT8_OID, S_INT4_OID, S_TEXT_OID,
                                                      S_TIMESTAMPTZ_OID, S_INT8_OID, S_INT4_OID,
                                                      S_TIMESTAMPTZ_OID, S_TEXT_OID };
    static const Oid end_types[S_END_COLUMNS] = { S_INT8_OID, S_TIMESTAMPTZ_OID, S_TEXT_OID };
    if (s_columns_pair(c, events, count) != 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < S_GRANT_COLUMNS; i++)
        rc |= s_array_begin(&c->grant[i], grant_types[i]);
    for (size_t i = 0; i < S_END_COLUMNS; i++)
        rc |= s_array_begin(&c->end[i], end_types[i]);
    for (size_t i = 0; i < count && rc == 0; i++) {
        const kc_event_t *e = &events[i];
        uint8_t id[8], key[4], at[8], run[8], batch[4];
        rs_put_u64(id, e->lease_id);
        rs_put_u32(key, e->key_id);
        s_put_time(at, e->at_us);
        if (e->type == KC_EVENT_GRANT) {
            rs_put_u64(run, e->run_id);
            rs_put_u32(batch, e->batch_records);
            rc |= s_array_put(&c->grant[0], id, 8);
            rc |= s_array_put(&c->grant[1], key, 4);
            rc |= s_array_put(&c->grant[2], e->holder, (uint32_t) strlen(e->holder));
            rc |= s_array_put(&c->grant[3], at, 8);
            rc |= s_array_put(&c->grant[4], run, 8);
            rc |= s_array_put(&c->grant[5], batch, 4);
            if (c->end_of[i] == SIZE_MAX) {
                rc |= s_array_put_null(&c->grant[6]);
                rc |= s_array_put_null(&c->grant[7]);
            }
            else {
                const kc_event_t *end = &events[c->end_of[i]];
                uint8_t ended[8];
                s_put_time(ended, end->at_us);
                rc |= s_array_put(&c->grant[6], ended, 8);
                rc |= s_array_put(&c->grant[7], end->end_reason,
                                  (uint32_t) strlen(end->end_reason));
            }
        }
        else if (e->type == KC_EVENT_END && c->end_of[i] == SIZE_MAX) {
            rc |= s_array_put(&c->end[0], id, 8);
            rc |= s_array_put(&c->end[1], at, 8);
            rc |= s_array_put(&c->end[2], e->end_reason, (uint32_t) strlen(e->end_reason));
        }
    }
    return rc ? -1 : 0;
}

/* Sends a prepared lease statement: its column arrays, then the writer's
 * epoch (binary int8) as the last parameter. */
static int s_send_arrays(kc_store_t *self, const char *statement, s_array_t *arrays, int n,
                         const uint8_t epoch[8])
{
    const char *values[S_GRANT_COLUMNS + 1];
    int lengths[S_GRANT_COLUMNS + 1], formats[S_GRANT_COLUMNS + 1];
    for (int i = 0; i < n; i++) {
        values[i] = (const char *) arrays[i].buf;
        lengths[i] = (int) arrays[i].size;
        formats[i] = 1;
    }
    values[n] = (const char *) epoch;
    lengths[n] = 8;
    formats[n] = 1;
    return PQsendQueryPrepared(s_conn(self), statement, n + 1, values, lengths, formats, 0) ? 0
                                                                                            : -1;
}

static int s_send_key_event(kc_store_t *self, const kc_event_t *e)
{
    uint8_t key[4], at[8];
    rs_put_u32(key, e->key_id);
    s_put_time(at, e->at_us);
    const char *values[] = { (char *) key, (char *) at, e->holder };
    const int lengths[] = { 4, 8, (int) strlen(e->holder) };
    const int formats[] = { 1, 1, 1 };
    const char *statement = e->type == KC_EVENT_KEY_LIVE      ? "kc_key_live"
                            : e->type == KC_EVENT_KEY_RETIRED ? "kc_key_retired"
                                                              : "kc_key_quarantined";
    int params = e->type == KC_EVENT_KEY_QUARANTINED ? 3 : 2;
    return PQsendQueryPrepared(s_conn(self), statement, params, values, lengths, formats, 0) ? 0
                                                                                          : -1;
}

int kc_store_write(kc_store_t *self, const kc_event_t *events, size_t count, bool retry,
                   int64_t epoch)
{
    if (count == 0)
        return 0;
    if (!s_conn(self) || PQstatus(s_conn(self)) != CONNECTION_OK)
        return -1;
    s_columns_t columns = { 0 };
    if (s_columns_fill(&columns, events, count) != 0) {
        s_columns_free(&columns);
        rs_error("lease log: out of memory for %zu events", count);
        return -1;
    }
    /* One pipeline up to one Sync runs as one implicit transaction: either
     * every event of this flush is stored, or none is. All grants go in one
     * statement (those that end in this flush already ended), then the ends
     * of earlier leases, then the rare key events one by one. */
    if (!PQenterPipelineMode(s_conn(self))) {
        rs_db_failed(s_conn(self), "lease log: entering pipeline mode");
        s_columns_free(&columns);
        return -1;
    }
    int failed = 0, sent = 0;
    bool deposed = false;
    uint8_t term[8];
    rs_put_u64(term, (uint64_t) epoch);
    {
        const char *values[] = { (const char *) term };
        const int lengths[] = { 8 }, formats[] = { 1 };
        failed |= PQsendQueryPrepared(s_conn(self), "kc_fence", 1, values, lengths, formats, 0)
                      ? 0
                      : -1;
        sent++;
    }
    if (columns.grant[0].count && !failed) {
        failed |= s_send_arrays(self, retry ? "kc_grants" : "kc_grants_new", columns.grant,
                                S_GRANT_COLUMNS, term);
        sent++;
    }
    if (columns.end[0].count && !failed) {
        failed |= s_send_arrays(self, "kc_ends", columns.end, S_END_COLUMNS, term);
        sent++;
    }
    for (size_t i = 0; i < count && !failed; i++)
        if (events[i].type == KC_EVENT_KEY_LIVE || events[i].type == KC_EVENT_KEY_RETIRED
            || events[i].type == KC_EVENT_KEY_QUARANTINED) {
            failed |= s_send_key_event(self, &events[i]);
            sent++;
        }
    if (failed)
        rs_db_failed(s_conn(self), "lease log: sending");
    if (!PQpipelineSync(s_conn(self))) {
        rs_db_failed(s_conn(self), "lease log: sending the sync");
        failed = 1;
    }
    for (int i = 0; i < sent; i++) {
        PGresult *res = PQgetResult(s_conn(self));
        if (!res) {
            failed = 1;
            break;
        }
        if (PQresultStatus(res) == PGRES_FATAL_ERROR) {
            const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
            if (state && strcmp(state, RS_SQLSTATE_DEPOSED) == 0) {
                deposed = true;
                rs_error("lease log write refused: %s",
                         PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
            }
            else
                rs_log(rs_db_failure_level(s_conn(self)), "lease log write failed: %s",
                       PQresultErrorMessage(res));
            failed = 1;
        }
        else if (PQresultStatus(res) != PGRES_COMMAND_OK
                 && PQresultStatus(res) != PGRES_TUPLES_OK) /* the fence's SELECT */
            failed = 1;
        PQclear(res);
        /* Each query's results end with a NULL. */
        while ((res = PQgetResult(s_conn(self))) != NULL)
            PQclear(res);
    }
    /* Drain up to and including the Sync's result. */
    for (int guard = 0; guard < 1000000; guard++) {
        PGresult *res = PQgetResult(s_conn(self));
        if (!res) {
            if (PQstatus(s_conn(self)) != CONNECTION_OK)
                break;
            continue;
        }
        ExecStatusType status = PQresultStatus(res);
        PQclear(res);
        if (status == PGRES_PIPELINE_SYNC)
            break;
    }
    if (!PQexitPipelineMode(s_conn(self))) {
        rs_db_failed(s_conn(self), "lease log: leaving pipeline mode");
        failed = 1;
    }
    s_columns_free(&columns);
    return deposed ? KC_WRITE_DEPOSED : failed ? -1 : 0;
}
