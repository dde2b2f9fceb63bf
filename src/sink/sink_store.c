/* sink_store: see sink_store.h. */
#include "sink_store.h"
#include "rs_bytes.h"
#include "rs_crypto.h"
#include "rs_db.h"
#include "rs_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Binary COPY framing: signature, flags, header extension length. */
static const uint8_t s_copy_header[19] = { 'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xff, '\r', '\n', 0,
                                           0, 0, 0, 0, 0, 0, 0, 0 };
/* Per row: field count, then (length, value) for record_id, key_id,
 * lease_id, signature. */
#define S_ROW_BYTES (2 + (4 + 8) + (4 + 4) + (4 + 8) + (4 + RS_SIG_BYTES))

struct sink_store_t {
    PGconn *conn;
    char *url;
    int staging_ready;
    uint8_t *rows;
    size_t rows_size, rows_cap;
    size_t row_count;
};

static int s_open(sink_store_t *self, char *err, size_t err_size)
{
    self->staging_ready = 0;
    self->conn = rs_db_connect(self->url, "recsign-sink", err, err_size);
    if (!self->conn)
        return -1;
    return rs_db_check_schema(self->conn, err, err_size);
}

sink_store_t *sink_store_new(const char *db_url, char *err, size_t err_size)
{
    sink_store_t *self = calloc(1, sizeof *self);
    if (!self || !(self->url = strdup(db_url ? db_url : ""))) {
        free(self);
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    if (s_open(self, err, err_size) != 0) {
        sink_store_destroy(&self);
        return NULL;
    }
    return self;
}

void sink_store_destroy(sink_store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sink_store_t *self = *self_p;
    if (self->conn)
        PQfinish(self->conn);
    free(self->rows);
    free(self->url);
    free(self);
    *self_p = NULL;
}

int sink_store_reconnect(sink_store_t *self)
{
    if (self->conn && PQstatus(self->conn) == CONNECTION_OK)
        return 0;
    if (self->conn)
        PQfinish(self->conn);
    self->conn = NULL;
    char err[512];
    if (s_open(self, err, sizeof err) != 0) {
        rs_warn("database reconnect failed: %s", err);
        return -1;
    }
    rs_info("database connection re-established");
    return 0;
}

int sink_store_add(sink_store_t *self, const rs_results_t *results)
{
    size_t need = self->rows_size + (size_t) results->count * S_ROW_BYTES;
    if (need > self->rows_cap) {
        size_t cap = self->rows_cap ? self->rows_cap : 1 << 20;
        while (cap < need)
            cap *= 2;
        uint8_t *grown = realloc(self->rows, cap);
        if (!grown)
            return -1;
        self->rows = grown;
        self->rows_cap = cap;
    }
    uint8_t *p = self->rows + self->rows_size;
    for (uint32_t i = 0; i < results->count; i++) {
        int64_t record_id;
        const uint8_t *sig;
        rs_results_get(results, i, &record_id, &sig);
        rs_put_u16(p, 4);
        rs_put_u32(p + 2, 8);
        rs_put_u64(p + 6, (uint64_t) record_id);
        rs_put_u32(p + 14, 4);
        rs_put_u32(p + 18, results->key_id);
        rs_put_u32(p + 22, 8);
        rs_put_u64(p + 26, results->lease_id);
        rs_put_u32(p + 34, RS_SIG_BYTES);
        memcpy(p + 38, sig, RS_SIG_BYTES);
        p += S_ROW_BYTES;
    }
    self->rows_size = need;
    self->row_count += results->count;
    return 0;
}

size_t sink_store_pending(const sink_store_t *self)
{
    return self->row_count;
}

static int s_exec(sink_store_t *self, const char *what, const char *sql)
{
    return rs_db_exec(self->conn, what, sql);
}

static int s_copy_rows(sink_store_t *self)
{
    PGresult *res = PQexec(self->conn, "COPY sink_staging FROM STDIN (FORMAT binary)");
    ExecStatusType status = PQresultStatus(res);
    PQclear(res);
    if (status != PGRES_COPY_IN) {
        rs_error("COPY into staging failed: %s", rs_db_error(self->conn));
        return -1;
    }
    static const uint8_t trailer[2] = { 0xff, 0xff };
    int ok = PQputCopyData(self->conn, (const char *) s_copy_header, sizeof s_copy_header) == 1
             && PQputCopyData(self->conn, (const char *) self->rows, (int) self->rows_size) == 1
             && PQputCopyData(self->conn, (const char *) trailer, sizeof trailer) == 1;
    if (PQputCopyEnd(self->conn, ok ? NULL : "sink could not send rows") != 1)
        ok = 0;
    /* After COPY, read results until NULL. */
    while ((res = PQgetResult(self->conn)) != NULL) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            rs_error("COPY into staging failed: %s", PQresultErrorMessage(res));
            ok = 0;
        }
        PQclear(res);
    }
    return ok ? 0 : -1;
}

int sink_store_flush(sink_store_t *self, int64_t *inserted)
{
    *inserted = 0;
    if (self->row_count == 0)
        return 0;
    if (!self->conn || PQstatus(self->conn) != CONNECTION_OK)
        return -1;
    if (!self->staging_ready) {
        if (s_exec(self, "creating the staging table",
                   "CREATE TEMP TABLE IF NOT EXISTS sink_staging ("
                   " record_id bigint, key_id integer, lease_id bigint, signature bytea)"
                   " ON COMMIT DELETE ROWS")
            != 0)
            return -1;
        self->staging_ready = 1;
    }
    if (s_exec(self, "starting a flush", "BEGIN") != 0)
        return -1;
    if (s_copy_rows(self) != 0)
        goto rollback;
    /* Fencing: only results under a lease that is in the log, on the same
     * key, and that did not end by expiry. signed_at is the commit-side
     * time of this flush, one value for all its rows. */
    PGresult *res = PQexec(self->conn,
                           "INSERT INTO signatures (record_id, key_id, lease_id, signature, signed_at)"
                           " SELECT s.record_id, s.key_id, s.lease_id, s.signature, t.at"
                           " FROM sink_staging s"
                           " JOIN leases l ON l.id = s.lease_id AND l.key_id = s.key_id"
                           " CROSS JOIN (SELECT clock_timestamp() AS at) t"
                           " WHERE l.end_reason IS DISTINCT FROM 'expired'"
                           " ON CONFLICT (record_id) DO NOTHING");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        rs_error("storing signatures failed: %s", rs_db_error(self->conn));
        PQclear(res);
        goto rollback;
    }
    int64_t count = strtoll(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    if (s_exec(self, "committing a flush", "COMMIT") != 0)
        return -1;
    if ((size_t) count < self->row_count)
        rs_debug("flush: %zu rows received, %lld stored, %lld already stored or fenced off",
                 self->row_count, (long long) count, (long long) self->row_count - count);
    *inserted = count;
    self->rows_size = 0;
    self->row_count = 0;
    return 0;

rollback:
    if (PQstatus(self->conn) == CONNECTION_OK && s_exec(self, "rolling back", "ROLLBACK") != 0)
        rs_warn("rollback failed");
    return -1;
}

int sink_store_count_records(sink_store_t *self, int64_t *total)
{
    return rs_db_query_int(self->conn, "counting records", "SELECT count(*) FROM records", total);
}

int sink_store_count_signed(sink_store_t *self, int64_t *signed_count)
{
    return rs_db_query_int(self->conn, "counting signatures", "SELECT count(*) FROM signatures",
                           signed_count);
}
