/* admin_store: the SQL of the admin CLI's init, status and verify
 * commands (migrations live in migrate.c, the audit's checks in audit.c).
 * Results are binary: read them with rs_db_get_int8/int4 and
 * admin_store_get_time. */
#ifndef ADMIN_STORE_H
#define ADMIN_STORE_H

#include "admin_copy.h"

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

/* "No timestamp" for admin_store_get_time: a NULL column. */
#define ADMIN_TIME_NULL INT64_MIN

/* BEGIN, then take the admin advisory lock for the transaction: it
 * serialises migrations and id allocation among concurrent inits.
 * Returns 0 or -1 (logged; the caller rolls back). */
int admin_store_begin_locked(PGconn *conn) __attribute__((warn_unused_result));
/* BEGIN a read-only transaction on one snapshot, so that every query of a
 * status, verify or audit sees the same data while others write. */
int admin_store_begin_snapshot(PGconn *conn) __attribute__((warn_unused_result));
int admin_store_commit(PGconn *conn) __attribute__((warn_unused_result));
/* Rolls back any open transaction; errors are ignored (logged at debug). */
void admin_store_rollback(PGconn *conn);

/* Runs sql with nparams (0..4) int8 parameters ($1::int8 ...) and binary
 * results. Returns the result when its status is `expect` (the caller
 * PQclears it), else NULL (logged with `what`). */
PGresult *admin_store_query(PGconn *conn, const char *what, const char *sql, int nparams,
                            const int64_t *params, ExecStatusType expect)
    __attribute__((warn_unused_result));

/* Records that migration `version` was applied (inside its transaction). */
int admin_store_mark_migrated(PGconn *conn, int version) __attribute__((warn_unused_result));

/* Highest id in keys or records (0 when empty) into *out. */
int admin_store_max_key_id(PGconn *conn, int64_t *out) __attribute__((warn_unused_result));
int admin_store_max_record_id(PGconn *conn, int64_t *out) __attribute__((warn_unused_result));

/* Up to `limit` keys, those not quarantined first, each by id: id int4,
 * sealed_secret bytea; no row when the keyring is empty. NULL (logged) on
 * failure; the caller PQclears. */
PGresult *admin_store_first_sealed(PGconn *conn, int limit) __attribute__((warn_unused_result));

/* Binary COPY writers: keys rows are (int4 id, text algorithm, bytea
 * public_key, bytea sealed_secret); records rows are (int8 id, bytea payload). NULL
 * (logged) on failure; the caller ends or destroys the writer. */
admin_copy_t *admin_store_copy_keys(PGconn *conn) __attribute__((warn_unused_result));
admin_copy_t *admin_store_copy_records(PGconn *conn) __attribute__((warn_unused_result));

/* The keycoord's leadership: one row of bigints (epoch, clean_stop 0/1,
 * lease_ttl_ms, hold_left_ms: how much longer no key may be
 * granted, session: the database session holding the keycoord lock, 0
 * when no keycoord leads). NULL on error (logged). */
PGresult *admin_store_keycoord(PGconn *conn);

/* Status queries. Each returns a result with tuples that the caller
 * PQclears, or NULL (logged).
 * counts: one row of int8: records, signed records, signatures, keys,
 *   leases, released, expired, open leases, runs, then keys live (live_at
 *   set, not retired), live keys with a retirement requested, keys
 *   retired, keys not yet live (live_at NULL).
 * open_leases: id int8, key_id int4, holder text, granted_at; the oldest
 *   `limit` open leases.
 * key_use: key_id int4, leases int8, signatures int8; every key by id.
 * keys_by_algorithm: algorithm text, keys int8, live keys int8 (live_at
 *   set, not retired); one row per algorithm in the keyring, by name.
 * runs: id int8, batch_size int4, started_at, first_dispatch_at,
 *   finished_at; the latest `limit` runs, oldest first. */
PGresult *admin_store_status_counts(PGconn *conn) __attribute__((warn_unused_result));
PGresult *admin_store_open_leases(PGconn *conn, int limit) __attribute__((warn_unused_result));
PGresult *admin_store_key_use(PGconn *conn) __attribute__((warn_unused_result));
PGresult *admin_store_keys_by_algorithm(PGconn *conn) __attribute__((warn_unused_result));
PGresult *admin_store_runs(PGconn *conn, int limit) __attribute__((warn_unused_result));

/* Key rotation ('recsign keys'). Results as above.
 * keys_list: id int4, created_at, live_at, retire_requested_at,
 *   retired_at, leases int8, signatures int8, algorithm text; every key by
 *   id.
 * keys_public: id int4, public_key bytea, created_at, live_at,
 *   retired_at, algorithm text; every key by id.
 * key_retire_state: retire_requested_at, retired_at of key `id`, locked
 *   for update in the caller's transaction; no row when there is no
 *   such key. */
PGresult *admin_store_keys_list(PGconn *conn) __attribute__((warn_unused_result));
PGresult *admin_store_keys_public(PGconn *conn) __attribute__((warn_unused_result));
PGresult *admin_store_key_retire_state(PGconn *conn, int64_t id)
    __attribute__((warn_unused_result));
/* Sets retire_requested_at = now() on key `id` unless a retirement was
 * already requested or done (the update trigger notifies the keycoord at
 * commit). Returns 0 or -1 (logged). */
int admin_store_key_request_retire(PGconn *conn, int64_t id) __attribute__((warn_unused_result));
/* Keys neither retired nor asked to retire, into *out. */
int admin_store_keys_in_service(PGconn *conn, int64_t *out) __attribute__((warn_unused_result));

/* Sends (without waiting) the query for the next page of stored
 * signatures, for verify and export: those with record_id >= from_id in id
 * order, at most max_rows and about max_bytes of payload (at least one row
 * whatever its size). Columns (ADMIN_PAGE_*): record_id int8, key_id int4,
 * lease_id int8, payload bytea (NULL: no such record), signature bytea,
 * public_key bytea (NULL: no such key), algorithm text (NULL: no such
 * key), record_deleted bool (true when the record is missing because it
 * was deleted: its id is in records_deleted). Collect it with
 * admin_store_take_result. Returns 0 or -1 (logged). */
enum {
    ADMIN_PAGE_RECORD_ID,
    ADMIN_PAGE_KEY_ID,
    ADMIN_PAGE_LEASE_ID,
    ADMIN_PAGE_PAYLOAD,
    ADMIN_PAGE_SIGNATURE,
    ADMIN_PAGE_PUBLIC_KEY,
    ADMIN_PAGE_ALGORITHM,
    ADMIN_PAGE_RECORD_DELETED,
    ADMIN_PAGE_COLUMNS,
};
int admin_store_send_signed_page(PGconn *conn, int64_t from_id, int64_t max_rows,
                                 int64_t max_bytes) __attribute__((warn_unused_result));

/* Waits for the result of the query sent last and reads the connection
 * until it is idle. Returns the rows, or NULL (logged with `what`). */
PGresult *admin_store_take_result(PGconn *conn, const char *what)
    __attribute__((warn_unused_result));

/* The dashboard's queries ('recsign dashboard', dash_state.c). Each costs
 * what changed since the last refresh, not the size of the tables: one row,
 * the keyring, or a primary-key range above the last id seen. Results as
 * above (NULL, logged, on failure; the caller PQclears).
 * dash_signed: signature_counts.stored into *out (kept by the sink).
 * dash_records_after: count int8, max(id) int8 (`after` when none) of the
 *   records with id > after.
 * dash_changes: the highest lease id int8 (0: none; lower than the last
 *   seen means the lease log was reset), and count int8 and latest
 *   deleted_at int8 (microseconds since the Unix epoch; `after_us` when
 *   none) of the records deleted after after_us.
 * dash_keys: id int4, live_at, retire_requested_at, retired_at,
 *   quarantined_at, algorithm text; by id.
 * dash_lease_use: key_id int4, leases int8, max(id) int8, max(granted_at)
 *   of the leases with id > after, per key.
 * dash_leases_new: id int8, key_id int4, holder text, granted_at, ended_at,
 *   end_reason text of the leases in (after, upto] that are open or ended
 *   by expiry, by id, at most `limit`.
 * dash_workers: worker text (holder without its thread number), leases
 *   int8, max(granted_at) of the leases in (after, upto].
 * dash_leases_by_id: as dash_leases_new, for the `count` ids given.
 * dash_refusals: id int8, lease_id int8, key_id int4, records int4,
 *   reason text, refused_at of refused_results with id > after, by id, at
 *   most `limit`. */
int admin_store_dash_signed(PGconn *conn, int64_t *out) __attribute__((warn_unused_result));
PGresult *admin_store_dash_records_after(PGconn *conn, int64_t after)
    __attribute__((warn_unused_result));
PGresult *admin_store_dash_changes(PGconn *conn, int64_t after_us)
    __attribute__((warn_unused_result));
PGresult *admin_store_dash_keys(PGconn *conn) __attribute__((warn_unused_result));
PGresult *admin_store_dash_lease_use(PGconn *conn, int64_t after)
    __attribute__((warn_unused_result));
PGresult *admin_store_dash_leases_new(PGconn *conn, int64_t after, int64_t upto, int64_t limit)
    __attribute__((warn_unused_result));
PGresult *admin_store_dash_workers(PGconn *conn, int64_t after, int64_t upto)
    __attribute__((warn_unused_result));
PGresult *admin_store_dash_leases_by_id(PGconn *conn, const int64_t *ids, size_t count)
    __attribute__((warn_unused_result));
PGresult *admin_store_dash_refusals(PGconn *conn, int64_t after, int64_t limit)
    __attribute__((warn_unused_result));

/* A binary timestamp(tz) column as microseconds since the Unix epoch, or
 * ADMIN_TIME_NULL when the value is NULL. */
int64_t admin_store_get_time(const PGresult *res, int row, int col);

#endif
