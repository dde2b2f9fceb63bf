/* admin_store: the SQL of 'recsign init', 'status', 'verify', 'keys' and
 * 'export'. */
#include "admin_store.h"
#include "rs_lease.h"

#include "rs_bytes.h"
#include "rs_db.h"
#include "rs_log.h"

#include <stdio.h>
#include <stdlib.h>

/* pg_advisory_xact_lock key of the admin CLI ("recsign" in ASCII). */
#define S_ADMIN_LOCK "32199625157470062"

#define S_INT8_OID 20
#define S_INT4_OID 23

/* PostgreSQL counts binary timestamps from 2000-01-01, Unix from 1970. */
#define S_PG_EPOCH_US (946684800LL * 1000000LL)

int admin_store_begin_locked(PGconn *conn)
{
    if (rs_db_exec(conn, "starting a transaction", "BEGIN"))
        return -1;
    return rs_db_exec(conn, "taking the recsign admin lock",
                      "SELECT pg_advisory_xact_lock(" S_ADMIN_LOCK ")");
}

int admin_store_begin_snapshot(PGconn *conn)
{
    return rs_db_exec(conn, "starting a snapshot transaction",
                      "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
}

int admin_store_commit(PGconn *conn)
{
    return rs_db_exec(conn, "committing", "COMMIT");
}

void admin_store_rollback(PGconn *conn)
{
    PGresult *res = PQexec(conn, "ROLLBACK");
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        rs_debug("rollback: %s", rs_db_error(conn));
    PQclear(res);
}

PGresult *admin_store_query(PGconn *conn, const char *what, const char *sql, int nparams,
                            const int64_t *params, ExecStatusType expect)
{
    Oid types[4];
    uint8_t values[4][8];
    const char *ptrs[4];
    int lengths[4], formats[4];
    if (nparams < 0 || nparams > 4) {
        rs_error("%s: %d parameters; expected 0 to 4", what, nparams);
        return NULL;
    }
    for (int i = 0; i < nparams; i++) {
        types[i] = S_INT8_OID;
        rs_put_u64(values[i], (uint64_t) params[i]);
        ptrs[i] = (const char *) values[i];
        lengths[i] = 8;
        formats[i] = 1;
    }
    PGresult *res = PQexecParams(conn, sql, nparams, types, ptrs, lengths, formats, 1);
    if (PQresultStatus(res) != expect) {
        rs_error("%s failed: %s", what, rs_db_error(conn));
        PQclear(res);
        return NULL;
    }
    return res;
}

int admin_store_mark_migrated(PGconn *conn, int version)
{
    int64_t v = version;
    PGresult *res = admin_store_query(conn, "recording the migration",
                                      "INSERT INTO schema_migrations (version) VALUES ($1::int4)",
                                      1, &v, PGRES_COMMAND_OK);
    if (!res)
        return -1;
    PQclear(res);
    return 0;
}

int admin_store_max_key_id(PGconn *conn, int64_t *out)
{
    return rs_db_query_int(conn, "reading the highest key id",
                           "SELECT coalesce(max(id), 0) FROM keys", out);
}

int admin_store_max_record_id(PGconn *conn, int64_t *out)
{
    return rs_db_query_int(conn, "reading the highest record id",
                           "SELECT coalesce(max(id), 0) FROM records", out);
}

PGresult *admin_store_first_sealed(PGconn *conn, int limit)
{
    const int64_t params[1] = { limit };
    return admin_store_query(conn, "reading the keyring's sealed secrets",
                             "SELECT id, sealed_secret FROM keys"
                             " ORDER BY quarantined_at IS NOT NULL, id LIMIT $1",
                             1, params, PGRES_TUPLES_OK);
}

admin_copy_t *admin_store_copy_keys(PGconn *conn)
{
    return admin_copy_new(conn,
                          "COPY keys (id, algorithm, public_key, sealed_secret) FROM STDIN (FORMAT binary)");
}

admin_copy_t *admin_store_copy_records(PGconn *conn)
{
    return admin_copy_new(conn, "COPY records (id, payload) FROM STDIN (FORMAT binary)");
}

PGresult *admin_store_status_counts(PGconn *conn)
{
    return admin_store_query(conn, "counting records, signatures and leases",
                   "SELECT (SELECT count(*) FROM records),"
                   "       (SELECT count(*) FROM signatures s"
                   "         WHERE EXISTS (SELECT 1 FROM records r WHERE r.id = s.record_id)),"
                   "       (SELECT count(*) FROM signatures),"
                   "       (SELECT count(*) FROM keys),"
                   "       count(*),"
                   "       count(*) FILTER (WHERE end_reason = " RS_LEASE_END_RELEASED_SQL "),"
                   "       count(*) FILTER (WHERE end_reason = " RS_LEASE_END_EXPIRED_SQL "),"
                   "       count(*) FILTER (WHERE ended_at IS NULL),"
                   "       (SELECT count(*) FROM runs),"
                   "       (SELECT count(*) FROM keys"
                   "         WHERE live_at IS NOT NULL AND retired_at IS NULL"
                   "           AND quarantined_at IS NULL),"
                   /* Each key in one state, as recsign keys list says:
                    * retired, else quarantined, else live or not yet. */
                   "       (SELECT count(*) FROM keys WHERE live_at IS NOT NULL"
                   "           AND retired_at IS NULL AND quarantined_at IS NULL"
                   "           AND retire_requested_at IS NOT NULL),"
                   "       (SELECT count(*) FROM keys WHERE retired_at IS NOT NULL),"
                   "       (SELECT count(*) FROM keys WHERE live_at IS NULL"
                   "           AND retired_at IS NULL AND quarantined_at IS NULL),"
                   "       (SELECT count(*) FROM signatures s"
                   "         WHERE NOT EXISTS (SELECT 1 FROM records r WHERE r.id = s.record_id)"
                   "           AND EXISTS (SELECT 1 FROM records_deleted d"
                   "                        WHERE d.record_id = s.record_id)),"
                   "       (SELECT count(*) FROM records_refused f"
                   "         WHERE EXISTS (SELECT 1 FROM records r WHERE r.id = f.record_id)"
                   "           AND NOT EXISTS (SELECT 1 FROM signatures s"
                   "                            WHERE s.record_id = f.record_id)),"
                   "       (SELECT count(*) FROM keys WHERE quarantined_at IS NOT NULL"
                   "           AND retired_at IS NULL),"
                   "       (SELECT string_agg(record_id::text, ', ' ORDER BY record_id) FROM"
                   "          (SELECT f.record_id FROM records_refused f"
                   "            WHERE EXISTS (SELECT 1 FROM records r WHERE r.id = f.record_id)"
                   "              AND NOT EXISTS (SELECT 1 FROM signatures s"
                   "                               WHERE s.record_id = f.record_id)"
                   "            ORDER BY f.record_id LIMIT 10) x)"
                   "  FROM leases",
                   0, NULL, PGRES_TUPLES_OK);
}

PGresult *admin_store_keycoord(PGconn *conn)
{
    /* A bigint advisory lock is (classid, objid) = its high and low 32
     * bits, objsubid 1 (PostgreSQL's pg_locks documentation). */
    return admin_store_query(conn, "reading the keycoord's state",
                   "SELECT epoch, clean_stop::int::int8, coalesce(lease_ttl_ms, 0)::int8,"
                   "       coalesce(greatest(0, ceil(extract(epoch FROM grants_held_until"
                   "         - clock_timestamp()) * 1000)), 0)::bigint,"
                   "       coalesce((SELECT min(pid) FROM pg_locks"
                   "          WHERE locktype = 'advisory' AND granted AND objsubid = 1"
                   "            AND database = (SELECT oid FROM pg_database"
                   "                             WHERE datname = current_database())"
                   "            AND (classid::bigint << 32 | objid::bigint)"
                   "                = " RS_KEYCOORD_LOCK_KEY "), 0)::int8"
                   "  FROM keycoord_state WHERE id = 1",
                   0, NULL, PGRES_TUPLES_OK);
}

PGresult *admin_store_open_leases(PGconn *conn, int limit)
{
    int64_t p = limit;
    return admin_store_query(conn, "listing open leases",
                   "SELECT id, key_id, holder, granted_at FROM leases"
                   " WHERE ended_at IS NULL ORDER BY id LIMIT $1",
                   1, &p, PGRES_TUPLES_OK);
}

PGresult *admin_store_key_use(PGconn *conn)
{
    return admin_store_query(conn, "counting the use of each key",
                   "SELECT k.id, coalesce(l.n, 0)::int8, coalesce(s.n, 0)::int8"
                   "  FROM keys k"
                   "  LEFT JOIN (SELECT key_id, count(*) AS n FROM leases GROUP BY key_id) l"
                   "    ON l.key_id = k.id"
                   "  LEFT JOIN (SELECT key_id, count(*) AS n FROM signatures GROUP BY key_id) s"
                   "    ON s.key_id = k.id"
                   " ORDER BY k.id",
                   0, NULL, PGRES_TUPLES_OK);
}

PGresult *admin_store_keys_by_algorithm(PGconn *conn)
{
    return admin_store_query(conn, "counting keys by algorithm",
                   "SELECT algorithm, count(*)::int8,"
                   "       count(*) FILTER (WHERE live_at IS NOT NULL AND retired_at IS NULL"
                   "                          AND quarantined_at IS NULL)::int8"
                   "  FROM keys GROUP BY algorithm ORDER BY algorithm",
                   0, NULL, PGRES_TUPLES_OK);
}

PGresult *admin_store_runs(PGconn *conn, int limit)
{
    int64_t p = limit;
    return admin_store_query(conn, "listing runs",
                   "SELECT * FROM (SELECT id, batch_size, started_at, first_dispatch_at,"
                   "                      finished_at"
                   "                 FROM runs ORDER BY id DESC LIMIT $1) r ORDER BY id",
                   1, &p, PGRES_TUPLES_OK);
}

PGresult *admin_store_keys_list(PGconn *conn)
{
    return admin_store_query(conn, "listing keys",
                   "SELECT k.id, k.created_at, k.live_at, k.retire_requested_at, k.retired_at,"
                   "       coalesce(l.n, 0)::int8, coalesce(s.n, 0)::int8, k.quarantined_at,"
                   "       k.quarantined_by, k.algorithm"
                   "  FROM keys k"
                   "  LEFT JOIN (SELECT key_id, count(*) AS n FROM leases GROUP BY key_id) l"
                   "    ON l.key_id = k.id"
                   "  LEFT JOIN (SELECT key_id, count(*) AS n FROM signatures GROUP BY key_id) s"
                   "    ON s.key_id = k.id"
                   " ORDER BY k.id",
                   0, NULL, PGRES_TUPLES_OK);
}

PGresult *admin_store_keys_public(PGconn *conn)
{
    return admin_store_query(conn, "reading the public keys",
                   "SELECT id, public_key, created_at, live_at, retired_at, algorithm FROM keys"
                   " ORDER BY id",
                   0, NULL, PGRES_TUPLES_OK);
}

PGresult *admin_store_key_retire_state(PGconn *conn, int64_t id)
{
    /* FOR NO KEY UPDATE, the lock the UPDATE after it takes anyway: it
     * waits for another retirement or the keycoord's update of the row,
     * but not for the FOR KEY SHARE lock of the foreign key check of a
     * lease-log write (INSERT INTO leases). FOR UPDATE waited for that
     * write, which could be waiting for a key locked earlier by this
     * transaction: a deadlock, and the retirement failed. */
    return admin_store_query(conn, "reading a key's retirement",
                   "SELECT retire_requested_at, retired_at FROM keys WHERE id = $1"
                   " FOR NO KEY UPDATE",
                   1, &id, PGRES_TUPLES_OK);
}

int admin_store_key_request_retire(PGconn *conn, int64_t id)
{
    PGresult *res = admin_store_query(conn, "requesting a key's retirement",
                   "UPDATE keys SET retire_requested_at = now()"
                   " WHERE id = $1 AND retire_requested_at IS NULL AND retired_at IS NULL",
                   1, &id, PGRES_COMMAND_OK);
    if (!res)
        return -1;
    PQclear(res);
    return 0;
}

int admin_store_keys_in_service(PGconn *conn, int64_t *out)
{
    return rs_db_query_int(conn, "counting keys in service",
                           "SELECT count(*) FROM keys"
                           " WHERE retire_requested_at IS NULL AND retired_at IS NULL", out);
}

/* Sends one of the paged signature queries with its three int8
 * parameters: from_id, max_rows, max_bytes. */
static int s_send_page(PGconn *conn, const char *sql, int64_t from_id, int64_t max_rows,
                       int64_t max_bytes)
{
    Oid types[3] = { S_INT8_OID, S_INT8_OID, S_INT8_OID };
    uint8_t values[3][8];
    rs_put_u64(values[0], (uint64_t) from_id);
    rs_put_u64(values[1], (uint64_t) max_rows);
    rs_put_u64(values[2], (uint64_t) max_bytes);
    const char *ptrs[3] = { (const char *) values[0], (const char *) values[1],
                            (const char *) values[2] };
    int lengths[3] = { 8, 8, 8 }, formats[3] = { 1, 1, 1 };
    if (!PQsendQueryParams(conn, sql, 3, types, ptrs, lengths, formats, 1)) {
        rs_error("reading signatures failed: %s", rs_db_error(conn));
        return -1;
    }
    return 0;
}

int admin_store_send_signed_page(PGconn *conn, int64_t from_id, int64_t max_rows,
                                 int64_t max_bytes)
{
    /* Keyset pagination keeps each page an index range scan however far
     * in (the bound is repeated on records: the planner does not carry it
     * across a left join, and would merge-join from the table's start); the
     * running sum of payload sizes (octet_length reads the TOAST
     * header, not the value) caps a page's memory for large payloads. */
    static const char sql[] =
        "SELECT record_id, key_id, lease_id, payload, signature, public_key, algorithm,"
        "       payload IS NULL AND EXISTS (SELECT 1 FROM records_deleted d"
        "                                    WHERE d.record_id = page.record_id) FROM ("
        "  SELECT s.record_id, s.key_id, s.lease_id, r.payload, s.signature, k.public_key,"
        "         k.algorithm,"
        "         sum(coalesce(octet_length(r.payload), 0))"
        "           OVER (ORDER BY s.record_id ROWS UNBOUNDED PRECEDING) AS upto"
        "    FROM signatures s"
        "    LEFT JOIN records r ON r.id = s.record_id AND r.id >= $1"
        "    LEFT JOIN keys k ON k.id = s.key_id"
        "   WHERE s.record_id >= $1"
        "   ORDER BY s.record_id"
        "   LIMIT $2) page"
        " WHERE upto - coalesce(octet_length(payload), 0) < $3"
        " ORDER BY record_id";
    return s_send_page(conn, sql, from_id, max_rows, max_bytes);
}

PGresult *admin_store_take_result(PGconn *conn, const char *what)
{
    PGresult *res = PQgetResult(conn);
    PGresult *extra;
    while ((extra = PQgetResult(conn)))
        PQclear(extra);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rs_error("%s failed: %s", what, res ? PQresultErrorMessage(res) : rs_db_error(conn));
        PQclear(res);
        return NULL;
    }
    return res;
}

int64_t admin_store_get_time(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return ADMIN_TIME_NULL;
    int64_t pg = rs_db_get_int8(res, row, col);
    /* +-infinity are INT64_MAX / INT64_MIN: keep them out of range. */
    if (pg == INT64_MAX || pg == INT64_MIN)
        return pg;
    return pg + S_PG_EPOCH_US;
}

int admin_store_dash_signed(PGconn *conn, int64_t *out)
{
    return rs_db_query_int(conn, "reading the signed count",
                           "SELECT stored FROM signature_counts WHERE id = 1", out);
}

PGresult *admin_store_dash_records_after(PGconn *conn, int64_t after)
{
    return admin_store_query(conn, "counting new records",
                   "SELECT count(*), coalesce(max(id), $1) FROM records WHERE id > $1",
                   1, &after, PGRES_TUPLES_OK);
}

PGresult *admin_store_dash_changes(PGconn *conn, int64_t after_us)
{
    return admin_store_query(conn, "reading the changes since the last refresh",
                   "SELECT (SELECT coalesce(max(id), 0) FROM leases), count(*),"
                   "       coalesce((extract(epoch FROM max(deleted_at)) * 1000000)::int8, $1)"
                   "  FROM records_deleted"
                   " WHERE deleted_at > 'epoch'::timestamptz + $1 * interval '1 microsecond'",
                   1, &after_us, PGRES_TUPLES_OK);
}

PGresult *admin_store_dash_keys(PGconn *conn)
{
    return admin_store_query(conn, "reading the keyring",
                   "SELECT id, live_at, retire_requested_at, retired_at, quarantined_at, algorithm"
                   "  FROM keys ORDER BY id",
                   0, NULL, PGRES_TUPLES_OK);
}

PGresult *admin_store_dash_lease_use(PGconn *conn, int64_t after)
{
    return admin_store_query(conn, "counting new leases per key",
                   "SELECT key_id, count(*)::int8, max(id), max(granted_at) FROM leases"
                   " WHERE id > $1 GROUP BY key_id",
                   1, &after, PGRES_TUPLES_OK);
}

/* The columns of dash_leases_new and dash_leases_by_id. */
#define S_DASH_LEASE_COLUMNS "id, key_id, holder, granted_at, ended_at, end_reason"

PGresult *admin_store_dash_leases_new(PGconn *conn, int64_t after, int64_t upto, int64_t limit)
{
    int64_t p[3] = { after, upto, limit };
    return admin_store_query(conn, "reading new leases",
                   "SELECT " S_DASH_LEASE_COLUMNS " FROM leases"
                   " WHERE id > $1 AND id <= $2 AND (ended_at IS NULL OR end_reason = 'expired')"
                   " ORDER BY id LIMIT $3",
                   3, p, PGRES_TUPLES_OK);
}

PGresult *admin_store_dash_workers(PGconn *conn, int64_t after, int64_t upto)
{
    int64_t p[2] = { after, upto };
    return admin_store_query(conn, "reading the workers seen",
                   "SELECT regexp_replace(holder, '/[^/]*$', ''), count(*)::int8, max(granted_at)"
                   "  FROM leases WHERE id > $1 AND id <= $2 GROUP BY 1",
                   2, p, PGRES_TUPLES_OK);
}

PGresult *admin_store_dash_leases_by_id(PGconn *conn, const int64_t *ids, size_t count)
{
    /* The ids as one int8[] literal: "{1,2,3}". */
    char *list = malloc(count * 21 + 3);
    if (!list) {
        rs_error("out of memory listing %zu leases", count);
        return NULL;
    }
    size_t len = 0;
    list[len++] = '{';
    for (size_t i = 0; i < count; i++)
        len += (size_t) sprintf(list + len, "%s%lld", i ? "," : "", (long long) ids[i]);
    list[len++] = '}';
    list[len] = '\0';
    const char *values[] = { list };
    PGresult *res = PQexecParams(conn,
                                 "SELECT " S_DASH_LEASE_COLUMNS " FROM leases"
                                 " WHERE id = ANY ($1::int8[]) ORDER BY id",
                                 1, NULL, values, NULL, NULL, 1);
    free(list);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rs_error("re-reading open leases failed: %s", rs_db_error(conn));
        PQclear(res);
        return NULL;
    }
    return res;
}

PGresult *admin_store_dash_refusals(PGconn *conn, int64_t after, int64_t limit)
{
    int64_t p[2] = { after, limit };
    return admin_store_query(conn, "reading refused results",
                   "SELECT id, lease_id, key_id, records, reason, refused_at FROM refused_results"
                   " WHERE id > $1 ORDER BY id LIMIT $2",
                   2, p, PGRES_TUPLES_OK);
}
