/* migrate: the schema migrations of the recsign database, applied in order. */
#include "migrate.h"
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

/* Version 1: the data contract of DESIGN.md. signatures has neither
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
    "  end_reason text CHECK (end_reason IN ('released', 'expired')),"
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

static const s_migration_t s_migrations[] = {
    { 1, "initial schema", s_v1 },
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
