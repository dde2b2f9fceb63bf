/* vent_store: see vent_store.h. */
#include "vent_store.h"
#include "rs_bytes.h"
#include "rs_db.h"
#include "rs_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_LOCK_KEY "7378709592457799" /* one ventilator per database */
#define S_INT8_OID 20
#define S_INT4_OID 23

struct vent_store_t {
    rs_db_link_t *link;
    PGconn *conn; /* the link's connection, refreshed on reconnect */
};

static int s_setup(PGconn *conn, void *arg, char *err, size_t err_size)
{
    (void) arg;
    int64_t locked = 0;
    if (rs_db_wait_advisory_lock(conn, S_LOCK_KEY, 5000, &locked) != 0) {
        snprintf(err, err_size, "cannot take the ventilator lock: %s", rs_db_error(conn));
        return -1;
    }
    if (!locked) {
        snprintf(err, err_size, "another recsign-ventilator holds this database's ventilator lock; expected one ventilator per database");
        return -1;
    }
    static const Oid types[] = { S_INT8_OID, S_INT4_OID };
    /* Walks records in id order and probes signatures per row. OFFSET 0
     * keeps the planner from turning the EXISTS into a hash of the whole
     * signatures table, which it does on stale statistics: this way a page
     * costs the same at any table size. Signed rows come back with a NULL
     * payload (payload is NOT NULL), so the scan position still advances.
     * The first page of a pass includes its bound: a record may have the
     * smallest bigint as its id. */
    static const char *const pages[2][2] = {
        { "vent_page", ">" },
        { "vent_first_page", ">=" },
    };
    PGresult *res = NULL;
    for (int i = 0; i < 2; i++) {
        char sql[512];
        snprintf(sql, sizeof sql,
                 "SELECT r.id, CASE WHEN EXISTS (SELECT 1 FROM signatures s"
                 "   WHERE s.record_id = r.id OFFSET 0) THEN NULL ELSE r.payload END"
                 " FROM records r WHERE r.id %s $1 ORDER BY r.id LIMIT $2",
                 pages[i][1]);
        PQclear(res);
        res = PQprepare(conn, pages[i][0], sql, 2, types);
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            break;
    }
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (!ok) {
        snprintf(err, err_size, "cannot prepare the record query: %s", rs_db_error(conn));
        return -1;
    }
    return 0;
}

vent_store_t *vent_store_new(const char *db_url, char *err, size_t err_size)
{
    vent_store_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    self->link = rs_db_link_new(db_url, "recsign-ventilator", s_setup, NULL, err, err_size);
    if (!self->link) {
        free(self);
        return NULL;
    }
    self->conn = rs_db_link_conn(self->link);
    return self;
}

void vent_store_destroy(vent_store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    rs_db_link_destroy(&(*self_p)->link);
    free(*self_p);
    *self_p = NULL;
}

int vent_store_reconnect(vent_store_t *self)
{
    int rc = rs_db_link_ensure(self->link);
    self->conn = rs_db_link_conn(self->link);
    return rc;
}

int vent_store_open_run(vent_store_t *self, int batch_size, int64_t *run_id, bool *resumed,
                        char *err, size_t err_size)
{
    PGresult *res = PQexec(self->conn,
                           "SELECT id, batch_size FROM runs WHERE finished_at IS NULL"
                           " ORDER BY id DESC LIMIT 1");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(err, err_size, "cannot read runs: %s", rs_db_error(self->conn));
        PQclear(res);
        return -1;
    }
    if (PQntuples(res) == 1) {
        int64_t id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        int stored = atoi(PQgetvalue(res, 0, 1));
        PQclear(res);
        if (stored != batch_size) {
            snprintf(err, err_size,
                     "run %lld is unfinished with batch size %d; the batch size of a run cannot change: restart with --batch-size %d to resume it",
                     (long long) id, stored, stored);
            return 1;
        }
        *run_id = id;
        *resumed = true;
        return 0;
    }
    PQclear(res);
    char size_text[16];
    snprintf(size_text, sizeof size_text, "%d", batch_size);
    const char *values[] = { size_text };
    res = PQexecParams(self->conn, "INSERT INTO runs (batch_size) VALUES ($1::integer) RETURNING id",
                       1, NULL, values, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(err, err_size, "cannot record the run: %s", rs_db_error(self->conn));
        PQclear(res);
        return -1;
    }
    *run_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    *resumed = false;
    PQclear(res);
    return 0;
}

static int s_update_run(vent_store_t *self, const char *sql, int64_t run_id)
{
    char id_text[24];
    snprintf(id_text, sizeof id_text, "%lld", (long long) run_id);
    const char *values[] = { id_text };
    PGresult *res = PQexecParams(self->conn, sql, 1, NULL, values, NULL, NULL, 0);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok)
        rs_error("updating run %lld failed: %s", (long long) run_id, rs_db_error(self->conn));
    PQclear(res);
    return ok ? 0 : -1;
}

int vent_store_mark_dispatch(vent_store_t *self, int64_t run_id)
{
    return s_update_run(self,
                        "UPDATE runs SET first_dispatch_at = clock_timestamp()"
                        " WHERE id = $1::bigint AND first_dispatch_at IS NULL",
                        run_id);
}

int vent_store_mark_finished(vent_store_t *self, int64_t run_id)
{
    return s_update_run(self,
                        "UPDATE runs SET finished_at = clock_timestamp(),"
                        " first_dispatch_at = coalesce(first_dispatch_at, clock_timestamp())"
                        " WHERE id = $1::bigint",
                        run_id);
}

PGresult *vent_store_page(vent_store_t *self, int64_t after_id, bool first, int limit)
{
    uint8_t after[8], lim[4];
    rs_put_u64(after, (uint64_t) after_id);
    rs_put_u32(lim, (uint32_t) limit);
    const char *values[] = { (char *) after, (char *) lim };
    const int lengths[] = { 8, 4 };
    const int formats[] = { 1, 1 };
    PGresult *res = PQexecPrepared(self->conn, first ? "vent_first_page" : "vent_page", 2, values,
                                   lengths, formats, 1);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rs_error("reading unsigned records failed: %s", rs_db_error(self->conn));
        PQclear(res);
        return NULL;
    }
    return res;
}

int vent_store_count_records(vent_store_t *self, int64_t *count)
{
    return rs_db_query_int(self->conn, "counting records", "SELECT count(*) FROM records", count);
}

int vent_store_count_signatures(vent_store_t *self, int64_t *count)
{
    return rs_db_query_int(self->conn, "counting signatures", "SELECT count(*) FROM signatures",
                           count);
}

int vent_store_unsigned_exact(vent_store_t *self, int64_t *count)
{
    return rs_db_query_int(self->conn, "counting unsigned records",
                           "SELECT count(*) FROM records r"
                           " WHERE NOT EXISTS (SELECT 1 FROM signatures s WHERE s.record_id = r.id)",
                           count);
}
