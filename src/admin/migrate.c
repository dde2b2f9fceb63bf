/* migrate: the schema migrations of the recsign database, applied in order. */
#include "migrate.h"
#include "rs_lease.h"
#include "admin_store.h"

#include "rs_db.h"
#include "rs_log.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct {
    int version;
    const char *name;
    const char *sql;
} s_migration_t;

/* Version 1: the data contract (README, "Data contract"). signatures has neither
 * foreign keys nor checks on purpose: they would slow the sink's COPY
 * several times over, and 'recsign audit' proves the same facts. Likewise
 * leases.run_id has no foreign key: audit rule 5 checks it. */
static const char s_v1[] =
    "CREATE TABLE records ("
    "  id bigint PRIMARY KEY,"
    "  payload bytea NOT NULL);"
    "CREATE TABLE keys ("
    "  id integer PRIMARY KEY,"
    "  public_key bytea NOT NULL UNIQUE CHECK (length(public_key) = 32),"
    "  sealed_secret bytea NOT NULL,"
    "  created_at timestamptz NOT NULL DEFAULT clock_timestamp());"
    "CREATE TABLE runs ("
    "  id bigserial PRIMARY KEY,"
    "  batch_size integer NOT NULL CHECK (batch_size BETWEEN 1 AND 100000),"
    "  started_at timestamptz NOT NULL DEFAULT clock_timestamp(),"
    "  first_dispatch_at timestamptz,"
    "  finished_at timestamptz);"
    /* Rule 5 in the database too: a run's batch size never changes. */
    "CREATE FUNCTION runs_batch_size_frozen() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN"
    "  IF NEW.batch_size IS DISTINCT FROM OLD.batch_size THEN"
    "   RAISE EXCEPTION 'the batch size of run % is fixed at % (rule 5)', OLD.id, OLD.batch_size;"
    "  END IF;"
    "  RETURN NEW;"
    " END $$;"
    "CREATE TRIGGER runs_batch_size_frozen BEFORE UPDATE ON runs"
    "  FOR EACH ROW EXECUTE FUNCTION runs_batch_size_frozen();"
    "CREATE TABLE leases ("
    "  id bigint PRIMARY KEY,"
    "  key_id integer NOT NULL REFERENCES keys,"
    "  holder text NOT NULL,"
    "  granted_at timestamptz NOT NULL,"
    "  ended_at timestamptz,"
    "  end_reason text CHECK (end_reason IN (" RS_LEASE_END_RELEASED_SQL ", " RS_LEASE_END_EXPIRED_SQL ")),"
    "  run_id bigint NOT NULL,"
    "  batch_records integer NOT NULL,"
    "  CHECK ((ended_at IS NULL) = (end_reason IS NULL)),"
    "  CHECK (ended_at IS NULL OR ended_at > granted_at));"
    "CREATE INDEX leases_key_granted ON leases (key_id, granted_at);"
    "CREATE TABLE signatures ("
    "  record_id bigint PRIMARY KEY,"
    "  key_id integer NOT NULL,"
    "  lease_id bigint NOT NULL,"
    "  signature bytea NOT NULL,"
    "  signed_at timestamptz NOT NULL);"
    /* Whether the last keycoord stopped cleanly, with its whole lease log
     * written; if not, the next one waits a TTL before granting. */
    "CREATE TABLE keycoord_state ("
    "  id integer PRIMARY KEY CHECK (id = 1),"
    "  clean_stop boolean NOT NULL,"
    "  updated_at timestamptz NOT NULL DEFAULT clock_timestamp());"
    "INSERT INTO keycoord_state (id, clean_stop) VALUES (1, true);";

/* Version 2: key rotation and least privilege.
 * keys.live_at and keys.retired_at are the keycoord's own event times (the
 * clock of granted_at and ended_at): the moment it put the key in its queue
 * and the moment it took the key out for good. An operator asks for a
 * retirement by setting retire_requested_at; inserting a key or asking for
 * a retirement notifies the keycoord (channel recsign_keys), which picks the
 * change up without a restart.
 * One role per service, with only what it needs; no service role may
 * UPDATE or DELETE a stored signature. The roles are created without a
 * password or login; a deployment grants them to its login roles (or sets
 * LOGIN and a password) as DEPLOY.md shows. */
static const char s_v2[] =
    "ALTER TABLE keys"
    "  ADD COLUMN live_at timestamptz,"
    "  ADD COLUMN retire_requested_at timestamptz,"
    "  ADD COLUMN retired_at timestamptz,"
    "  ADD CHECK (retired_at IS NULL OR live_at IS NOT NULL);"
    /* Keys leased before this version were live before their first grant. */
    "UPDATE keys k SET live_at = least(k.created_at,"
    "  (SELECT min(l.granted_at) - interval '1 microsecond' FROM leases l WHERE l.key_id = k.id))"
    "  WHERE EXISTS (SELECT 1 FROM leases l WHERE l.key_id = k.id);"
    "CREATE FUNCTION keys_changed_notify() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN PERFORM pg_notify('recsign_keys', ''); RETURN NULL; END $$;"
    "CREATE TRIGGER keys_added AFTER INSERT ON keys"
    "  FOR EACH STATEMENT EXECUTE FUNCTION keys_changed_notify();"
    "CREATE TRIGGER keys_retire_requested AFTER UPDATE OF retire_requested_at ON keys"
    "  FOR EACH STATEMENT EXECUTE FUNCTION keys_changed_notify();"
    "DO $$ BEGIN"
    " IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'recsign_ventilator') THEN"
    "  CREATE ROLE recsign_ventilator NOLOGIN; END IF;"
    " IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'recsign_keycoord') THEN"
    "  CREATE ROLE recsign_keycoord NOLOGIN; END IF;"
    " IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'recsign_sink') THEN"
    "  CREATE ROLE recsign_sink NOLOGIN; END IF;"
    " END $$;"
    "REVOKE ALL ON records, keys, runs, leases, signatures, keycoord_state, schema_migrations"
    "  FROM PUBLIC;"
    /* ventilator: reads records and signatures, records its runs. */
    "GRANT SELECT ON records, signatures, schema_migrations TO recsign_ventilator;"
    "GRANT SELECT, INSERT ON runs TO recsign_ventilator;"
    "GRANT UPDATE (first_dispatch_at, finished_at) ON runs TO recsign_ventilator;"
    "GRANT USAGE ON SEQUENCE runs_id_seq TO recsign_ventilator;"
    /* keycoord: reads keys, writes leases and its own state. */
    "GRANT SELECT ON keys, runs, schema_migrations TO recsign_keycoord;"
    /* Lease ids are reserved in blocks before use: a keycoord that answers
     * before its log write must never reuse an id after a crash. */
    "ALTER TABLE keycoord_state ADD COLUMN lease_ids_reserved bigint NOT NULL DEFAULT 0;"
    "GRANT UPDATE (live_at, retired_at) ON keys TO recsign_keycoord;"
    "GRANT SELECT, INSERT ON leases TO recsign_keycoord;"
    "GRANT UPDATE (ended_at, end_reason) ON leases TO recsign_keycoord;"
    "GRANT SELECT, UPDATE ON keycoord_state TO recsign_keycoord;"
    /* sink: inserts signatures, reads the lease log to fence, counts. */
    "GRANT SELECT, INSERT ON signatures TO recsign_sink;"
    "GRANT SELECT ON leases, schema_migrations TO recsign_sink;"
    "GRANT SELECT (id) ON records TO recsign_sink;";

/* Version 3: keys of several algorithms (DESIGN.md, "Algorithms"). Keys
 * stored before are Ed25519 (the default fills them in); a public key is
 * 32 raw bytes for Ed25519 and a DER SubjectPublicKeyInfo otherwise, so
 * the length check of version 1 now holds for Ed25519 only. Re-runnable. */
static const char s_v3[] =
    "ALTER TABLE keys ADD COLUMN IF NOT EXISTS algorithm text NOT NULL DEFAULT 'ed25519';"
    "ALTER TABLE keys DROP CONSTRAINT IF EXISTS keys_algorithm_check;"
    "ALTER TABLE keys ADD CONSTRAINT keys_algorithm_check CHECK (algorithm IN"
    "  ('ed25519', 'ecdsa-p256', 'rsa-2048', 'rsa-3072', 'rsa-4096'));"
    "ALTER TABLE keys DROP CONSTRAINT IF EXISTS keys_public_key_check;"
    "ALTER TABLE keys ADD CONSTRAINT keys_public_key_check CHECK"
    "  (CASE WHEN algorithm = 'ed25519' THEN length(public_key) = 32"
    "        ELSE length(public_key) BETWEEN 64 AND 640 END);";

/* Version 4: the data contract's limits and what happens outside it.
 * - records.payload is at most 1 MiB (RS_PAYLOAD_MAX), checked at insert
 *   and update. NOT VALID: rows stored before this version are not
 *   rechecked here (a large table would be read whole, and one bad row
 *   would make the migration fail); the ventilator refuses them at
 *   dispatch and records them in records_refused instead.
 * - records_refused: records a run could not sign, with the reason, once
 *   each (the ventilator's; status and audit read it).
 * - records_deleted: every record id deleted (or truncated) is logged by
 *   trigger, so that a stored signature of a record that no longer exists
 *   is told apart from one of a record that never existed.
 * - keys.quarantined_at: set by the keycoord, on its clock, when a holder
 *   reported that the key's sealed secret cannot be unsealed; the key is
 *   never leased again (an operator retires it and adds another).
 * Every statement can run again. */
static const char s_v4[] =
    "DO $$ BEGIN"
    " IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'records_payload_max') THEN"
    "  ALTER TABLE records ADD CONSTRAINT records_payload_max"
    "   CHECK (octet_length(payload) <= 1048576) NOT VALID;"
    " END IF;"
    " END $$;"
    "CREATE TABLE IF NOT EXISTS records_refused ("
    "  record_id bigint PRIMARY KEY,"
    "  reason text NOT NULL,"
    "  run_id bigint NOT NULL,"
    "  refused_at timestamptz NOT NULL DEFAULT clock_timestamp());"
    "CREATE TABLE IF NOT EXISTS records_deleted ("
    "  record_id bigint PRIMARY KEY,"
    "  deleted_at timestamptz NOT NULL DEFAULT clock_timestamp());"
    /* The dashboard reads the deletions since its last refresh. */
    "CREATE INDEX IF NOT EXISTS records_deleted_at ON records_deleted (deleted_at);"
    /* SECURITY DEFINER: whoever may delete records gets them logged,
     * without a grant on the log. */
    "CREATE OR REPLACE FUNCTION records_deleted_log() RETURNS trigger"
    "  LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$"
    " BEGIN"
    "  IF TG_OP = 'TRUNCATE' THEN"
    "   INSERT INTO records_deleted (record_id) SELECT id FROM records"
    "    ON CONFLICT (record_id) DO UPDATE SET deleted_at = clock_timestamp();"
    "  ELSE"
    "   INSERT INTO records_deleted (record_id) SELECT id FROM gone"
    "    ON CONFLICT (record_id) DO UPDATE SET deleted_at = clock_timestamp();"
    "  END IF;"
    "  RETURN NULL;"
    " END $$;"
    "DROP TRIGGER IF EXISTS records_deleted_log ON records;"
    "CREATE TRIGGER records_deleted_log AFTER DELETE ON records"
    "  REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION records_deleted_log();"
    "DROP TRIGGER IF EXISTS records_truncated_log ON records;"
    "CREATE TRIGGER records_truncated_log BEFORE TRUNCATE ON records"
    "  FOR EACH STATEMENT EXECUTE FUNCTION records_deleted_log();"
    "ALTER TABLE keys ADD COLUMN IF NOT EXISTS quarantined_at timestamptz,"
    "  ADD COLUMN IF NOT EXISTS quarantined_by text;"
    "REVOKE ALL ON records_refused, records_deleted FROM PUBLIC;"
    "GRANT SELECT, INSERT ON records_refused TO recsign_ventilator;"
    "GRANT UPDATE (quarantined_at, quarantined_by) ON keys TO recsign_keycoord;";

/* Version 5: what the dashboard reads. The sink adds what each flush
 * stores to the one row of signature_counts, and records what it refused
 * in refused_results, in the flush's own transaction, so that a live page
 * reads the signed count from one row instead of counting a table of any
 * size per refresh. Seeded from the table once; self-contained and
 * re-runnable. */
static const char s_v5[] =
    "CREATE TABLE IF NOT EXISTS signature_counts ("
    "  id integer PRIMARY KEY CHECK (id = 1),"
    "  stored bigint NOT NULL);"
    "INSERT INTO signature_counts (id, stored) SELECT 1, count(*) FROM signatures"
    "  ON CONFLICT (id) DO NOTHING;"
    "REVOKE ALL ON signature_counts FROM PUBLIC;"
    "GRANT SELECT, UPDATE (stored) ON signature_counts TO recsign_sink;"
    "GRANT SELECT ON signature_counts TO recsign_ventilator;"
    /* The results the sink refused under fencing, for the dashboard's
     * events and for operators; written in the flush's transaction. */
    "CREATE TABLE IF NOT EXISTS refused_results ("
    "  id bigserial PRIMARY KEY,"
    "  lease_id bigint NOT NULL,"
    "  key_id integer NOT NULL,"
    "  records integer NOT NULL,"
    "  reason text NOT NULL,"
    "  refused_at timestamptz NOT NULL DEFAULT clock_timestamp());"
    "REVOKE ALL ON refused_results FROM PUBLIC;"
    "GRANT INSERT ON refused_results TO recsign_sink;"
    "GRANT USAGE ON SEQUENCE refused_results_id_seq TO recsign_sink;"
    /* No service deletes a signature, but an operator may (a reset for a
     * new job, a benchmark): the counter follows a TRUNCATE or DELETE, so
     * that the dashboard never shows more signed than stored. */
    "CREATE OR REPLACE FUNCTION signature_counts_follow() RETURNS trigger"
    "  LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$"
    " BEGIN"
    "  IF TG_OP = 'TRUNCATE' THEN"
    "   UPDATE signature_counts SET stored = 0;"
    "  ELSE"
    "   UPDATE signature_counts SET stored = stored - (SELECT count(*) FROM gone);"
    "  END IF;"
    "  RETURN NULL;"
    " END $$;"
    "DROP TRIGGER IF EXISTS signature_counts_truncated ON signatures;"
    "CREATE TRIGGER signature_counts_truncated AFTER TRUNCATE ON signatures"
    "  FOR EACH STATEMENT EXECUTE FUNCTION signature_counts_follow();"
    "DROP TRIGGER IF EXISTS signature_counts_deleted ON signatures;"
    "CREATE TRIGGER signature_counts_deleted AFTER DELETE ON signatures"
    "  REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION signature_counts_follow();";

/* Version 6: continuous signing (recsign-ventilator --follow). Inserting
 * records notifies channel recsign_records once per statement, with an
 * empty payload, so that PostgreSQL folds every statement of a transaction
 * into one notification, delivered at commit: a bulk insert costs one
 * notification, not one per row, and no transition table is kept. The
 * ventilator treats a notification as "look again": what it reads is the
 * table, so a lost notification delays a record, never loses it. Written
 * to be re-runnable on its own (CREATE OR REPLACE, DROP ... IF EXISTS). */
static const char s_v6[] =
    "CREATE OR REPLACE FUNCTION records_added_notify() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN PERFORM pg_notify('recsign_records', ''); RETURN NULL; END $$;"
    "DROP TRIGGER IF EXISTS records_added ON records;"
    "CREATE TRIGGER records_added AFTER INSERT ON records"
    "  FOR EACH STATEMENT EXECUTE FUNCTION records_added_notify();";

/* Version 7: keycoord leadership fenced in the database (issue 12). A
 * keycoord that takes over increments keycoord_state.epoch (its
 * leadership term) under the advisory lock; every lease-log write carries
 * the writer's epoch (leases.epoch on a grant, leases.end_epoch on an end)
 * and the database refuses, with SQLSTATE RS001, any write whose epoch is
 * not the current one. The check and the takeover serialize on the state
 * row: a write takes it FOR SHARE for its transaction, a takeover updates
 * it, so a takeover waits for writes in flight and every write after it
 * sees the new epoch. keycoord_fence(epoch) is the same check for the
 * other writes of a flush (key events), called first in each. Rows
 * written before this version carry no epoch. Self-contained and
 * re-runnable. */
static const char s_v7[] =
    "ALTER TABLE keycoord_state ADD COLUMN IF NOT EXISTS epoch bigint NOT NULL DEFAULT 0;"
    "ALTER TABLE leases ADD COLUMN IF NOT EXISTS epoch bigint,"
    "  ADD COLUMN IF NOT EXISTS end_epoch bigint;"
    "CREATE OR REPLACE FUNCTION keycoord_fence(writer_epoch bigint) RETURNS void"
    "  LANGUAGE plpgsql AS $$"
    " DECLARE current_epoch bigint;"
    " BEGIN"
    "  SELECT epoch INTO current_epoch FROM keycoord_state WHERE id = 1 FOR SHARE;"
    "  IF current_epoch IS DISTINCT FROM writer_epoch THEN"
    "   RAISE EXCEPTION USING ERRCODE = '" RS_SQLSTATE_DEPOSED "',"
    "    MESSAGE = format('keycoord epoch %s is not the current one (%s): a deposed leader may not"
    " write the lease log', coalesce(writer_epoch::text, 'none'), current_epoch);"
    "  END IF;"
    " END $$;"
    /* Statement triggers: one check per write, over its transition table. */
    "CREATE OR REPLACE FUNCTION leases_fenced() RETURNS trigger LANGUAGE plpgsql AS $$"
    " DECLARE current_epoch bigint; stale bigint; sample bigint;"
    " BEGIN"
    "  SELECT epoch INTO current_epoch FROM keycoord_state WHERE id = 1 FOR SHARE;"
    "  IF TG_OP = 'INSERT' THEN"
    "   SELECT count(*), min(coalesce(epoch, -1)) INTO stale, sample FROM written"
    "    WHERE epoch IS DISTINCT FROM current_epoch"
    "       OR (ended_at IS NOT NULL AND end_epoch IS DISTINCT FROM current_epoch);"
    "  ELSE"
    "   SELECT count(*), min(coalesce(end_epoch, -1)) INTO stale, sample FROM written"
    "    WHERE end_epoch IS DISTINCT FROM current_epoch;"
    "  END IF;"
    "  IF stale > 0 THEN"
    "   RAISE EXCEPTION USING ERRCODE = '" RS_SQLSTATE_DEPOSED "',"
    "    MESSAGE = format('%s lease rows written under keycoord epoch %s, not the current one (%s)',"
    "                     stale, sample, current_epoch);"
    "  END IF;"
    "  RETURN NULL;"
    " END $$;"
    "DROP TRIGGER IF EXISTS leases_fenced_insert ON leases;"
    "CREATE TRIGGER leases_fenced_insert AFTER INSERT ON leases"
    "  REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION leases_fenced();"
    "DROP TRIGGER IF EXISTS leases_fenced_update ON leases;"
    "CREATE TRIGGER leases_fenced_update AFTER UPDATE ON leases"
    "  REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION leases_fenced();"
    "REVOKE ALL ON FUNCTION keycoord_fence(bigint) FROM PUBLIC;"
    "GRANT EXECUTE ON FUNCTION keycoord_fence(bigint) TO recsign_keycoord;"
    "GRANT UPDATE (end_epoch) ON leases TO recsign_keycoord;";

/* Version 8: how long leases last, across leaders. Each leader records
 * its --lease-ttl-ms when it begins its term: in keycoord_state (so that a
 * standby with a different TTL refuses to wait) and in keycoord_terms, one
 * row per epoch (so that a later leader holds a lease left open for the
 * TTL of the term that granted it, whatever leaders came in between).
 * keycoord_state.grants_held_until is the end of the hold after an unclean
 * stop (no key granted until the leases a dead leader may have granted
 * without logging them have run out): a leader that stops before its hold
 * is over, cleanly or not, passes what is left of it on. Self-contained
 * and re-runnable. */
static const char s_v8[] =
    "ALTER TABLE keycoord_state ADD COLUMN IF NOT EXISTS lease_ttl_ms integer"
    "  CHECK (lease_ttl_ms > 0),"
    "  ADD COLUMN IF NOT EXISTS grants_held_until timestamptz;"
    "CREATE TABLE IF NOT EXISTS keycoord_terms ("
    "  epoch bigint PRIMARY KEY,"
    "  lease_ttl_ms integer NOT NULL CHECK (lease_ttl_ms > 0),"
    "  began_at timestamptz NOT NULL DEFAULT clock_timestamp());"
    "REVOKE ALL ON keycoord_terms FROM PUBLIC;"
    "GRANT SELECT, INSERT ON keycoord_terms TO recsign_keycoord;";

/* Version 9: the mode of a run. runs.follow is true while a follow-mode
 * ventilator (--follow) leads the run: a standby of the other mode is
 * refused while it waits (as one with another --batch-size is) rather than
 * ending a follow run, or never ending a batch run, after it takes over. A
 * ventilator that resumes the run after a restart records its own mode.
 * Runs from before are taken as batch runs. Self-contained and
 * re-runnable. */
static const char s_v9[] =
    "ALTER TABLE runs ADD COLUMN IF NOT EXISTS follow boolean NOT NULL DEFAULT false;"
    "GRANT UPDATE (first_dispatch_at, finished_at, follow) ON runs TO recsign_ventilator;";

static const s_migration_t s_migrations[] = {
    { 1, "initial schema", s_v1 },
    { 2, "key rotation and service roles", s_v2 },
    { 3, "key algorithms", s_v3 },
    { 4, "payload limit, refused and deleted records, key quarantine", s_v4 },
    { 5, "signature counter and refused results", s_v5 },
    { 6, "notify on inserted records", s_v6 },
    { 7, "keycoord leadership epochs", s_v7 },
    { 8, "lease TTLs across keycoord leaders", s_v8 },
    { 9, "the mode of a run", s_v9 },
};
#define S_MIGRATION_COUNT (sizeof s_migrations / sizeof s_migrations[0])

/* Reads the highest applied version; the caller holds the lock. */
static int s_current_version(PGconn *conn, int *version)
{
    int64_t v = 0;
    if (rs_db_query_int(conn, "reading the schema version",
                        "SELECT coalesce(max(version), 0) FROM schema_migrations", &v))
        return -1;
    *version = (int) v;
    return 0;
}

/* Applies migration m unless present. *seen gets the version found before. */
static int s_apply(PGconn *conn, const s_migration_t *m, int *seen)
{
    if (admin_store_begin_locked(conn))
        return -1;
    /* Created under the lock, so two first inits cannot race on it. */
    if (rs_db_exec(conn, "creating schema_migrations",
                   "CREATE TABLE IF NOT EXISTS schema_migrations ("
                   "  version integer PRIMARY KEY,"
                   "  applied_at timestamptz NOT NULL DEFAULT now())")
        || s_current_version(conn, seen))
        goto fail;
    if (*seen > RS_SCHEMA_VERSION) {
        rs_error("database schema is version %d, newer than this recsign (version %d); "
                 "expected a recsign built for schema %d or later",
                 *seen, RS_SCHEMA_VERSION, *seen);
        goto fail;
    }
    if (*seen >= m->version) {
        admin_store_rollback(conn);
        return 0;
    }
    char what[96];
    snprintf(what, sizeof what, "migration %d (%s)", m->version, m->name);
    if (rs_db_exec(conn, what, m->sql) || admin_store_mark_migrated(conn, m->version)
        || admin_store_commit(conn))
        goto fail;
    rs_info("applied %s", what);
    return 0;
fail:
    admin_store_rollback(conn);
    return -1;
}

int admin_migrate(PGconn *conn, int *from, int *to)
{
    _Static_assert(sizeof s_migrations / sizeof s_migrations[0] == RS_SCHEMA_VERSION,
                   "one migration per schema version");
    *from = *to = 0;
    for (size_t i = 0; i < S_MIGRATION_COUNT; i++) {
        int seen = 0;
        if (s_apply(conn, &s_migrations[i], &seen))
            return -1;
        if (i == 0)
            *from = seen;
    }
    *to = RS_SCHEMA_VERSION;
    return 0;
}
