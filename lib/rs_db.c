/* rs_db: see rs_db.h. */
#include "rs_db.h"
#include "rs_bytes.h"
#include "rs_log.h"

#include <czmq.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* How often a service that finds only read-only servers at start-up tries
 * again: a promotion takes about a second (pg_ctl promote), a failover
 * manager's detection a few more. */
#define S_READ_ONLY_RETRY_MS 1000

static void s_one_line(char *s)
{
    for (char *p = s; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
    size_t len = strlen(s);
    while (len && s[len - 1] == ' ')
        s[--len] = '\0';
}

const char *rs_db_error(PGconn *conn)
{
    static __thread char buf[512];
    snprintf(buf, sizeof buf, "%s",
             conn ? PQerrorMessage(conn) : "no database session (the last reconnect failed)");
    s_one_line(buf);
    return buf;
}

void rs_db_failed(PGconn *conn, const char *what, ...)
{
    char text[256];
    va_list args;
    va_start(args, what);
    vsnprintf(text, sizeof text, what, args);
    va_end(args);
    rs_log(rs_db_failure_level(conn), "%s failed: %s", text, rs_db_error(conn));
}

rs_log_level_t rs_db_failure_level(PGconn *conn)
{
    if (!conn)
        return RS_LOG_DEBUG;
    /* A server that went away while the statement was sent (an immediate
     * shutdown, a crash) can leave the session CONNECTION_OK until libpq
     * reads again: read what is there, and the end of the stream shows. */
    if (PQstatus(conn) == CONNECTION_OK)
        (void) PQconsumeInput(conn);
    return PQstatus(conn) == CONNECTION_BAD ? RS_LOG_WARN : RS_LOG_ERROR;
}

/* What the server says outside a statement's result (libpq's notice
 * receiver): its notices, and the message of a server that ends the session
 * between statements (a shutdown, pg_terminate_backend), which libpq would
 * print raw on stderr. Logged as one line: WARN for WARNING and worse;
 * DEBUG for notices (chatter of recsign's own statements). */
static void s_notice(void *arg, const PGresult *res)
{
    (void) arg;
    const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    char text[512];
    snprintf(text, sizeof text, "%s", PQresultErrorMessage(res));
    s_one_line(text);
    bool grave = severity
                 && (strcmp(severity, "WARNING") == 0 || strcmp(severity, "ERROR") == 0
                     || strcmp(severity, "FATAL") == 0 || strcmp(severity, "PANIC") == 0);
    rs_log(grave ? RS_LOG_WARN : RS_LOG_DEBUG, "database server says: %s", text);
}

/* Appends text to out (size bytes, *len used so far), truncating. */
static void s_append(char *out, size_t size, size_t *len, const char *text)
{
    if (*len + 1 >= size)
        return;
    int n = snprintf(out + *len, size - *len, "%s", text);
    *len += n < 0 ? 0 : (size_t) n >= size - *len ? size - *len - 1 : (size_t) n;
}

int rs_db_mask_conninfo(const char *conninfo, char *out, size_t out_size)
{
    if (out_size == 0)
        return -1;
    out[0] = '\0';
    char *parse_error = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo ? conninfo : "", &parse_error);
    if (!opts) {
        /* libpq's message may quote any part of the string: not shown. */
        PQfreemem(parse_error);
        snprintf(out, out_size, "(a connection string libpq cannot read; not shown)");
        return -1;
    }
    size_t len = 0;
    int masked = 0;
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val)
            continue;
        if (len)
            s_append(out, out_size, &len, " ");
        s_append(out, out_size, &len, o->keyword);
        s_append(out, out_size, &len, "=");
        if (o->dispchar && o->dispchar[0] == '*') {
            s_append(out, out_size, &len, "***");
            masked++;
            continue;
        }
        /* Quoted as libpq reads it back when it holds a space, a quote or
         * a backslash, or is empty. */
        bool quote = !o->val[0] || strpbrk(o->val, " '\\\t") != NULL;
        if (quote)
            s_append(out, out_size, &len, "'");
        for (const char *c = o->val; *c; c++) {
            char one[3] = { *c, 0, 0 };
            if (*c == '\'' || *c == '\\') {
                one[0] = '\\';
                one[1] = *c;
            }
            s_append(out, out_size, &len, one);
        }
        if (quote)
            s_append(out, out_size, &len, "'");
    }
    PQconninfoFree(opts);
    return masked;
}

/* How many servers url names (libpq's multi-host lists: host=a,b or
 * postgresql://a,b/...); 1 when it names one or none, or cannot be read. */
static int s_host_count(const char *url)
{
    PQconninfoOption *opts = PQconninfoParse(url, NULL);
    int count = 1;
    for (PQconninfoOption *o = opts; o && o->keyword; o++)
        if (o->val && (!strcmp(o->keyword, "host") || !strcmp(o->keyword, "hostaddr"))) {
            int here = 1;
            for (const char *c = o->val; *c; c++)
                here += *c == ',';
            if (here > count)
                count = here;
        }
    PQconninfoFree(opts);
    return count;
}

/* Connects to url as `app`. tsa_default is libpq's target_session_attrs
 * unless url sets its own; tsa_forced overrides url's (NULL: neither). */
static PGconn *s_connect(const char *url, const char *app, const char *tsa_default,
                         const char *tsa_forced, char *err, size_t err_size)
{
    if (!url || !*url) {
        snprintf(err, err_size, "no database URL given; expected --db or RECSIGN_DB_URL, e.g. postgresql://user@host/dbname");
        return NULL;
    }
    char masked[1024];
    if (rs_db_mask_conninfo(url, masked, sizeof masked) < 0) {
        /* Refused before libpq tries it: its parse error could quote a
         * password. */
        snprintf(err, err_size, "the database connection string (--db or RECSIGN_DB_URL) is not one libpq can read; expected a postgresql:// URL or keyword=value pairs (values with spaces in single quotes, quotes inside them as \\')");
        return NULL;
    }
    /* libpq reads these in order and the last value of a keyword wins;
     * dbname is expanded in place: a keyword before it is a default the
     * connection string may override, one after it overrides the string. */
    const char *keys[12], *values[12];
    int n = 0;
    if (tsa_default) {
        keys[n] = "target_session_attrs";
        values[n++] = tsa_default;
    }
    /* Defaults the string may override: a server whose host vanished (no
     * reset, no answer; the primary's host lost) is given up on within
     * seconds rather than the kernel's minutes, so that a failover is
     * followed: unacknowledged data for 10 s (tcp_user_timeout, in ms),
     * or an idle session's keepalive probes unanswered for 10 + 3 x 2 s.
     * libpq ignores them on unix sockets. */
    static const char *const s_tcp_keys[] = { "tcp_user_timeout", "keepalives_idle",
                                             "keepalives_interval", "keepalives_count" };
    static const char *const s_tcp_values[] = { "10000", "10", "2", "3" };
    for (size_t i = 0; i < sizeof s_tcp_keys / sizeof s_tcp_keys[0]; i++) {
        keys[n] = s_tcp_keys[i];
        values[n++] = s_tcp_values[i];
    }
    keys[n] = "dbname";
    values[n++] = url;
    keys[n] = "application_name";
    values[n++] = app;
    /* libpq's connect_timeout, in seconds, applies to each host tried: a
     * connection attempt blocks the caller up to 4 s in all (2 s a host at
     * the least, libpq's minimum), and a stop request waits for it, so it
     * stays within the 5 s in which a process must obey SIGTERM
     * (docs/RELIABILITY.md, "Signals"); every caller retries with backoff. */
    char timeout[16];
    int hosts = s_host_count(url);
    snprintf(timeout, sizeof timeout, "%d", hosts > 2 ? 2 : 4 / hosts);
    keys[n] = "connect_timeout";
    values[n++] = timeout;
    if (tsa_forced) {
        keys[n] = "target_session_attrs";
        values[n++] = tsa_forced;
    }
    keys[n] = NULL;
    values[n] = NULL;
    PGconn *conn = PQconnectdbParams(keys, values, 1);
    if (!conn) {
        snprintf(err, err_size, "cannot connect to %s: out of memory", masked);
        return NULL;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        char reason[400];
        snprintf(reason, sizeof reason, "%s", PQerrorMessage(conn));
        s_one_line(reason);
        snprintf(err, err_size, "cannot connect to database %s: %s", masked, reason);
        PQfinish(conn);
        return NULL;
    }
    PQsetNoticeReceiver(conn, s_notice, NULL);
    return conn;
}

PGconn *rs_db_connect(const char *url, const char *app, char *err, size_t err_size)
{
    return s_connect(url, app, "read-write", NULL, err, err_size);
}

/* 1 when the session may not write (a hot standby, or
 * default_transaction_read_only), 0 when it may, -1 when the query failed. */
static int s_read_only(PGconn *conn)
{
    PGresult *res = PQexec(conn, "SHOW transaction_read_only");
    int rc = -1;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        rc = strcmp(PQgetvalue(res, 0, 0), "on") == 0;
    PQclear(res);
    return rc;
}

/* Whether url asks libpq for a server that never accepts writes
 * (target_session_attrs=read-only or standby); its value then goes to tsa. */
static bool s_asks_read_only(const char *url, char *tsa, size_t tsa_size)
{
    PQconninfoOption *opts = PQconninfoParse(url, NULL);
    bool read_only = false;
    for (PQconninfoOption *o = opts; o && o->keyword; o++)
        if (o->val && !strcmp(o->keyword, "target_session_attrs")
            && (!strcmp(o->val, "read-only") || !strcmp(o->val, "standby"))) {
            snprintf(tsa, tsa_size, "%s", o->val);
            read_only = true;
        }
    PQconninfoFree(opts);
    return read_only;
}

/* rs_db_connect_writable; without `classify`, a failed connection is not
 * tried again to learn whether a read-only server answers (-1 then): a
 * service that retries anyway need not wait twice the connect_timeout. */
static int s_connect_writable(const char *url, const char *app, PGconn **out, bool classify,
                              char *err, size_t err_size)
{
    /* Said at once rather than waited for: no failover makes it a primary. */
    char tsa[16];
    if (url && s_asks_read_only(url, tsa, sizeof tsa)) {
        *out = NULL;
        snprintf(err, err_size, "the database connection string sets target_session_attrs=%s, which never connects to a primary, and this program writes; expected read-write (the default), primary, any or prefer-standby",
                 tsa);
        return -1;
    }
    *out = rs_db_connect(url, app, err, err_size);
    if (*out) {
        int ro = s_read_only(*out);
        if (ro == 0)
            return 0;
        char masked[1024];
        rs_db_mask_conninfo(url, masked, sizeof masked);
        if (ro < 0)
            snprintf(err, err_size, "cannot ask database %s whether it accepts writes: %s", masked,
                     rs_db_error(*out));
        else
            snprintf(err, err_size, "database %s is read-only (a hot standby, or target_session_attrs"
                     " other than read-write); expected a primary", masked);
        PQfinish(*out);
        *out = NULL;
        return ro < 0 ? -1 : RS_DB_READ_ONLY;
    }
    /* No primary among the servers: is any of them a standby (a failover
     * under way, or not yet promoted)? Then this is "not yet", not an
     * error; libpq's own reason stays in err. */
    if (!classify)
        return -1;
    char probe_err[64];
    PGconn *probe = s_connect(url, app, NULL, "any", probe_err, sizeof probe_err);
    if (!probe)
        return -1;
    int ro = s_read_only(probe);
    PQfinish(probe);
    if (ro != 1)
        return -1;
    char masked[1024];
    rs_db_mask_conninfo(url, masked, sizeof masked);
    snprintf(err, err_size, "every server of %s that answers is read-only (a hot standby not yet "
             "promoted?); expected a primary", masked);
    return RS_DB_READ_ONLY;
}

int rs_db_connect_writable(const char *url, const char *app, PGconn **out, char *err,
                           size_t err_size)
{
    return s_connect_writable(url, app, out, true, err, err_size);
}

int rs_db_check_schema(PGconn *conn, char *err, size_t err_size)
{
    PGresult *res = PQexec(conn, "SELECT coalesce(max(version), 0) FROM schema_migrations");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        if (state && !strcmp(state, "42501")) /* insufficient_privilege */
            snprintf(err, err_size, "this role may not read the recsign schema (%s); expected a "
                     "role granted its service's role (recsign_ventilator, recsign_keycoord or "
                     "recsign_sink; see docs/DEPLOY.md) or the database owner",
                     primary ? primary : rs_db_error(conn));
        else
            snprintf(err, err_size, "database has no recsign schema (%s); run 'recsign init' first",
                     primary ? primary : rs_db_error(conn));
        PQclear(res);
        return -1;
    }
    int version = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    if (version < RS_SCHEMA_VERSION) {
        snprintf(err, err_size, "database schema is version %d; expected %d (run 'recsign init' to migrate it)",
                 version, RS_SCHEMA_VERSION);
        return -1;
    }
    if (version > RS_SCHEMA_VERSION) {
        snprintf(err, err_size, "database schema is version %d, newer than this build's %d; expected a recsign build at least as new as the database",
                 version, RS_SCHEMA_VERSION);
        return -1;
    }
    return 0;
}

/* True when the server told this session that it no longer accepts
 * writes: PostgreSQL 14 and later report both settings to the client as
 * they change (an operator or a failover manager fencing a primary with
 * default_transaction_read_only); older servers report neither. */
static bool s_turned_read_only(PGconn *conn)
{
    const char *ro = PQparameterStatus(conn, "default_transaction_read_only");
    const char *standby = PQparameterStatus(conn, "in_hot_standby");
    return (ro && !strcmp(ro, "on")) || (standby && !strcmp(standby, "on"));
}

struct rs_db_link_t {
    PGconn *conn;
    char *url;
    char *app;
    rs_db_setup_fn *setup;
    void *arg;
};

/* Returns 0, RS_DB_READ_ONLY or -1, as s_connect_writable. */
static int s_link_open(rs_db_link_t *self, bool classify, char *err, size_t err_size)
{
    if (self->conn)
        PQfinish(self->conn);
    int rc = s_connect_writable(self->url, self->app, &self->conn, classify, err, err_size);
    if (rc != 0)
        return rc;
    if (rs_db_check_schema(self->conn, err, err_size) != 0
        || (self->setup && self->setup(self->conn, self->arg, err, err_size) != 0)) {
        PQfinish(self->conn);
        self->conn = NULL;
        return -1;
    }
    return 0;
}

rs_db_link_t *rs_db_link_new(const char *url, const char *app, rs_db_setup_fn *setup, void *arg,
                             char *err, size_t err_size)
{
    rs_db_link_t *self = calloc(1, sizeof *self);
    if (!self || !(self->url = strdup(url ? url : "")) || !(self->app = strdup(app))) {
        snprintf(err, err_size, "out of memory");
        rs_db_link_destroy(&self);
        return NULL;
    }
    self->setup = setup;
    self->arg = arg;
    int rc = s_link_open(self, true, err, err_size);
    /* Only standbys answer: a failover is under way. Wait for the
     * promotion (each try bounded by connect_timeout), obeying a stop. */
    bool waited = false;
    while (rc == RS_DB_READ_ONLY && !zsys_interrupted) {
        if (!waited)
            rs_warn("%s; waiting for one (retrying every %d ms)", err, S_READ_ONLY_RETRY_MS);
        waited = true;
        for (int slept = 0; slept < S_READ_ONLY_RETRY_MS && !zsys_interrupted; slept += 100)
            zclock_sleep(100);
        rc = s_link_open(self, true, err, err_size);
    }
    if (rc == RS_DB_READ_ONLY)
        snprintf(err, err_size, "stopped while waiting for a database server that accepts writes");
    if (rc != 0)
        rs_db_link_destroy(&self);
    else if (waited)
        rs_info("a database server accepts writes now; connected");
    return self;
}

void rs_db_link_destroy(rs_db_link_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    rs_db_link_t *self = *self_p;
    if (self->conn)
        PQfinish(self->conn);
    free(self->url);
    free(self->app);
    free(self);
    *self_p = NULL;
}

const char *rs_db_link_url(const rs_db_link_t *self)
{
    return self->url;
}

PGconn *rs_db_link_conn(rs_db_link_t *self)
{
    /* A session whose server stopped accepting writes still answers
     * reads, from a server that no longer gets them (the writes go to the
     * promoted standby): it is down like a broken one, and the owner's
     * next rs_db_link_ensure replaces it. */
    if (self->conn && s_turned_read_only(self->conn))
        return NULL;
    return self->conn;
}

int rs_db_link_ensure(rs_db_link_t *self)
{
    if (self->conn && PQstatus(self->conn) == CONNECTION_OK) {
        if (!s_turned_read_only(self->conn))
            return 0;
        rs_warn("the database server no longer accepts writes; reconnecting to one that does");
    }
    char err[512];
    /* Read-only (a standby not yet promoted) is "not yet" like any other
     * failure here: the caller retries with backoff. */
    int rc = s_link_open(self, false, err, sizeof err);
    if (rc != 0) {
        rs_warn("database reconnect failed: %s", err);
        return -1;
    }
    rs_info("database connection re-established");
    return 0;
}

void rs_db_link_drop(rs_db_link_t *self)
{
    if (self && self->conn) {
        PQfinish(self->conn);
        self->conn = NULL;
    }
}

int rs_db_exec(PGconn *conn, const char *what, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType status = PQresultStatus(res);
    PQclear(res);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
        rs_db_failed(conn, "%s", what);
        return -1;
    }
    return 0;
}

int rs_db_query_int(PGconn *conn, const char *what, const char *sql, int64_t *out)
{
    PGresult *res = PQexec(conn, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 || PQnfields(res) != 1) {
        rs_db_failed(conn, "%s", what);
        PQclear(res);
        return -1;
    }
    *out = PQgetisnull(res, 0, 0) ? 0 : strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return 0;
}

int64_t rs_db_get_int8(const PGresult *res, int row, int col)
{
    return (int64_t) rs_get_u64((const uint8_t *) PQgetvalue(res, row, col));
}

int32_t rs_db_get_int4(const PGresult *res, int row, int col)
{
    return (int32_t) rs_get_u32((const uint8_t *) PQgetvalue(res, row, col));
}

void rs_db_bound_idle(PGconn *conn, int timeout_ms, const char *lock)
{
    char sql[128];
    snprintf(sql, sizeof sql,
             "SET idle_session_timeout = %d; SET idle_in_transaction_session_timeout = %d",
             timeout_ms, timeout_ms);
    PGresult *res = PQexec(conn, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        rs_warn("cannot bound the idle time of the %s's session (%s): a leader that hangs with its session open keeps the lock, and a standby cannot take over, until that session ends; PostgreSQL 14 or later has idle_session_timeout",
                lock, rs_db_error(conn));
    PQclear(res);
}

int rs_db_wait_advisory_lock(PGconn *conn, const char *key, int wait_ms, int64_t *locked)
{
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT pg_try_advisory_lock(%s)::int", key);
    for (int waited = 0;; waited += 100) {
        if (rs_db_query_int(conn, "taking an advisory lock", sql, locked) != 0)
            return -1;
        if (*locked || waited >= wait_ms)
            return 0;
        struct timespec pause = { 0, 100000000L };
        nanosleep(&pause, NULL);
    }
}
