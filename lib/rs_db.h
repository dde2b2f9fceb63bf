/* rs_db: what every database-using recsign process shares: connecting
 * (one-line errors, passwords masked), the schema version check, and
 * helpers for binary parameters and results. Each process keeps its own
 * SQL in one store file beside its main.c. */
#ifndef RS_DB_H
#define RS_DB_H

#include "rs_log.h"

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

/* The schema version this build reads and writes; 'recsign init' migrates
 * a database up to it. */
#define RS_SCHEMA_VERSION 9

/* Writes conninfo, in any form libpq accepts (a postgresql:// URL, or
 * keyword=value pairs with optional spaces around '=', single-quoted values
 * with spaces, backslash-escaped quotes), into out (out_size bytes) as
 * keyword=value pairs, each secret field (the ones libpq itself marks for
 * hiding: password, sslpassword) as ***. It is read with libpq's own
 * parser, PQconninfoParse, so that it masks exactly what libpq would use.
 * Returns how many secrets it masked; -1 when libpq cannot parse conninfo:
 * then out shows none of it (a parse error may quote any part of it). Fits
 * rs_opt_mask_fn: the mask of every --db option. */
int rs_db_mask_conninfo(const char *conninfo, char *out, size_t out_size);

/* Connects to url as application `app`. url may name several servers
 * (libpq's multi-host form: host=a,b port=p,q, or postgresql://a:p,b:q/db);
 * libpq tries them in order. Unless url sets target_session_attrs itself,
 * it is read-write: libpq skips a server that does not accept writes (a hot
 * standby), so that after a failover the connection reaches the promoted
 * server whatever the order of the list. Returns NULL on failure with a
 * one-line reason (URL masked) in err. */
PGconn *rs_db_connect(const char *url, const char *app, char *err, size_t err_size);

/* The outcome of rs_db_connect_writable when servers answer but none
 * accepts writes: not connected yet (a failover is under way). */
#define RS_DB_READ_ONLY 1

/* Like rs_db_connect, for a service that writes: the session must accept
 * writes (also when url asks for target_session_attrs=any). Returns 0 with
 * the connection in *out (the caller owns it); RS_DB_READ_ONLY when only
 * read-only servers answered (a standby before its promotion: try again
 * later), or -1 on any other failure, each with *out NULL and a one-line
 * reason (URL masked) in err. */
int rs_db_connect_writable(const char *url, const char *app, PGconn **out, char *err,
                           size_t err_size) __attribute__((warn_unused_result));

/* A connection that can be re-established. Opening it connects, checks
 * the schema, then runs the owner's setup (locks, prepared statements);
 * rs_db_link_ensure does all of that again when the connection broke. */
typedef int(rs_db_setup_fn)(PGconn *conn, void *arg, char *err, size_t err_size);
typedef struct rs_db_link_t rs_db_link_t;

/* Connects as rs_db_connect_writable. While only read-only servers answer
 * (a failover under way), waits for one that accepts writes, trying every
 * second, until zsys_interrupted (a stop request). Returns NULL with a
 * one-line reason in err. setup may be NULL. */
rs_db_link_t *rs_db_link_new(const char *url, const char *app, rs_db_setup_fn *setup, void *arg,
                             char *err, size_t err_size);
void rs_db_link_destroy(rs_db_link_t **self_p);
/* The URL the link connects to. */
const char *rs_db_link_url(const rs_db_link_t *self);
/* The current connection; NULL while it is down, and once its server
 * reported that it no longer accepts writes (then rs_db_link_ensure
 * reconnects). */
PGconn *rs_db_link_conn(rs_db_link_t *self);
/* Returns 0 when the connection is usable, reconnecting first when it
 * broke or its server reported that it no longer accepts writes (to
 * whichever server of the URL accepts writes now: after a failover, the
 * promoted one); -1 (logged) when that failed, also when only read-only
 * servers answered: the caller retries later. */
int rs_db_link_ensure(rs_db_link_t *self) __attribute__((warn_unused_result));
/* Closes the current connection, for a caller that found it unusable
 * although libpq still calls it open (a protocol state it cannot leave):
 * the next rs_db_link_ensure connects anew. */
void rs_db_link_drop(rs_db_link_t *self);

/* Checks that the database carries schema version RS_SCHEMA_VERSION.
 * Returns 0, or -1 with a one-line reason in err. */
int rs_db_check_schema(PGconn *conn, char *err, size_t err_size)
    __attribute__((warn_unused_result));

/* Runs SQL that returns no rows. Returns 0, or -1 after logging the
 * server's message with `what` for context (rs_db_failed). */
int rs_db_exec(PGconn *conn, const char *what, const char *sql)
    __attribute__((warn_unused_result));

/* Runs a query whose result is a single bigint (text format) into *out.
 * Returns 0 or -1 (logged by rs_db_failed). */
int rs_db_query_int(PGconn *conn, const char *what, const char *sql, int64_t *out)
    __attribute__((warn_unused_result));

/* Bounds how long the session of conn may sit idle, in a transaction or
 * not (idle_session_timeout and idle_in_transaction_session_timeout, in
 * ms): the server ends a session that issues no statement for that long,
 * and with it the session's advisory locks, so that a standby takes over
 * from a holder that hangs with its session open. A server without the
 * setting (before PostgreSQL 14) gets a warning naming `lock` and the
 * session stays unbounded: the caller goes on. */
void rs_db_bound_idle(PGconn *conn, int timeout_ms, const char *lock);

/* Tries to take the session advisory lock `key` (a bigint literal) for up
 * to wait_ms: the session of a holder that was just killed takes a moment
 * to end. Sets *locked to 1 or 0. Returns 0, or -1 on a database error. */
int rs_db_wait_advisory_lock(PGconn *conn, const char *key, int wait_ms, int64_t *locked)
    __attribute__((warn_unused_result));

/* The server's last error, flattened to one line (a thread-local buffer,
 * valid until the thread's next call). */
const char *rs_db_error(PGconn *conn);

/* Logs "<what> failed: <rs_db_error(conn)>" for a statement that failed on
 * conn, `what` formatted like printf. The level says whether an operator
 * must act: ERROR when the server refused the statement on a live session;
 * WARN when the session broke (CONNECTION_BAD: the server restarted, failed
 * over or ended the session), which every service rides out by
 * reconnecting and trying again, nothing lost; DEBUG when there is no
 * session (conn NULL: the failed reconnect was logged already). */
void rs_db_failed(PGconn *conn, const char *what, ...) __attribute__((format(printf, 2, 3)));

/* The level rs_db_failed logs at for a failure on conn, for callers that
 * log a result's own message (PQresultErrorMessage). Reads what input
 * is waiting (PQconsumeInput), which shows a session whose server went
 * away while the statement was sent. */
rs_log_level_t rs_db_failure_level(PGconn *conn);

/* Binary-format field readers for PQgetvalue results (network order). */
int64_t rs_db_get_int8(const PGresult *res, int row, int col);
int32_t rs_db_get_int4(const PGresult *res, int row, int col);

#endif
