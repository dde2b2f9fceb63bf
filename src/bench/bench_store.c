/* bench_store: see bench_store.h. */
#include "bench_store.h"
#include "rs_db.h"

#include <stdio.h>
#include <stdlib.h>

PGconn *bench_store_connect(const char *url, char *err, size_t err_size)
{
    PGconn *conn = rs_db_connect(url, "recsign-bench", err, err_size);
    if (conn && rs_db_check_schema(conn, err, err_size) != 0) {
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

int bench_store_counts(PGconn *conn, int64_t *stored, int64_t *refused, char *err,
                       size_t err_size)
{
    PGresult *res = PQexec(conn, "SELECT (SELECT stored FROM signature_counts WHERE id = 1),"
                                 " (SELECT coalesce(sum(records), 0) FROM refused_results)");
    int ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1
             && !PQgetisnull(res, 0, 0);
    if (ok) {
        *stored = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        *refused = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    }
    else
        snprintf(err, err_size, "cannot read the stored signatures (signature_counts): %s",
                 PQresultStatus(res) == PGRES_TUPLES_OK ? "no counter row" : rs_db_error(conn));
    PQclear(res);
    return ok ? 0 : -1;
}
