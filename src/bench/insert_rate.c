/* recsign-bench-insert: the load of the follow-mode benchmark
 * (scripts/bench_follow.sh). It inserts records at a steady rate for a
 * fixed time, ROWS to a transaction, over CONNECTIONS connections: the
 * transactions are scheduled at fixed intervals (transaction k at
 * start + k * rows / rate) and dealt round-robin to the connections, each
 * of which sends its next one when it is due (at once when behind), until
 * the time is up (a client that falls behind inserts fewer records and
 * says so: the achieved rate is part of the result). Record
 * k*rows+i gets id first-id + k*rows + i, so connections may commit ids out
 * of order, as concurrent writers using one sequence do. It measures no
 * latency itself: the benchmark reads both commits' times from the
 * database (track_commit_timestamp). Prints one line of key=value results. */
#include "rs_bytes.h"
#include "rs_config.h"
#include "rs_db.h"
#include "rs_log.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static rs_opt_t s_opts[] = {
    { .name = "db", .type = RS_OPT_STRING, .required = true, .mask = rs_db_mask_conninfo,
      .help = "PostgreSQL URL of the recsign database" },
    { .name = "rate", .type = RS_OPT_INT, .fallback = "1000", .min = 1, .max = 10000000,
      .help = "records inserted per second" },
    { .name = "rows", .type = RS_OPT_INT, .fallback = "1", .min = 1, .max = 100000,
      .help = "records per transaction (one INSERT)" },
    { .name = "seconds", .type = RS_OPT_INT, .fallback = "60", .min = 1, .max = 86400,
      .help = "how long to insert" },
    { .name = "connections", .type = RS_OPT_INT, .fallback = "8", .min = 1, .max = 256,
      .help = "database connections the transactions are dealt to" },
    { .name = "first-id", .type = RS_OPT_INT, .fallback = "1", .min = -4611686018427387904LL,
      .max = 4611686018427387904LL, .help = "id of the first record inserted" },
    { .name = "payload-bytes", .type = RS_OPT_INT, .fallback = "100", .min = 0, .max = 1048576,
      .help = "payload size of every record" },
};

typedef struct {
    const char *db;
    int64_t rate, rows, first_id, transactions;
    int connections;
    uint8_t *payload;
    size_t payload_bytes;
    int64_t start_ns, end_ns;
    atomic_int failed;
} s_shared_t;

typedef struct {
    s_shared_t *shared;
    int index;
    int64_t done;      /* transactions committed */
    int64_t max_lag_ns; /* latest start behind its schedule */
} s_conn_t;

static int64_t s_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *s_run(void *arg)
{
    s_conn_t *c = arg;
    s_shared_t *sh = c->shared;
    PGconn *conn = PQconnectdb(sh->db);
    if (PQstatus(conn) != CONNECTION_OK) {
        rs_error("connection %d: %s", c->index, PQerrorMessage(conn));
        atomic_store(&sh->failed, 1);
        PQfinish(conn);
        return NULL;
    }
    static const Oid types[] = { 20, 20, 17 }; /* int8, int8, bytea */
    PGresult *res = PQprepare(conn, "ins",
                              "INSERT INTO records (id, payload)"
                              " SELECT g, $3 FROM generate_series($1::int8, $2::int8) g",
                              3, types);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        rs_error("connection %d: preparing the insert: %s", c->index, PQerrorMessage(conn));
        atomic_store(&sh->failed, 1);
    }
    PQclear(res);
    for (int64_t k = c->index; k < sh->transactions && !atomic_load(&sh->failed);
         k += sh->connections) {
        int64_t due = sh->start_ns + k * sh->rows * 1000000000 / sh->rate;
        int64_t now = s_now_ns();
        if (now >= sh->end_ns)
            break; /* time is up; behind schedule */
        if (now < due) {
            struct timespec ts = { .tv_sec = due / 1000000000, .tv_nsec = due % 1000000000 };
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        }
        else if (now - due > c->max_lag_ns)
            c->max_lag_ns = now - due;
        uint8_t lo[8], hi[8];
        rs_put_u64(lo, (uint64_t) (sh->first_id + k * sh->rows));
        rs_put_u64(hi, (uint64_t) (sh->first_id + k * sh->rows + sh->rows - 1));
        const char *values[] = { (char *) lo, (char *) hi, (char *) sh->payload };
        const int lengths[] = { 8, 8, (int) sh->payload_bytes };
        const int formats[] = { 1, 1, 1 };
        res = PQexecPrepared(conn, "ins", 3, values, lengths, formats, 0);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            rs_error("connection %d: insert failed: %s", c->index, PQerrorMessage(conn));
            atomic_store(&sh->failed, 1);
        }
        else
            c->done++;
        PQclear(res);
    }
    PQfinish(conn);
    return NULL;
}

int main(int argc, char **argv)
{
    rs_config_t config = {
        .program = "recsign-bench-insert",
        .usage = "--db URL [options]",
        .summary = "Inserts records at a steady rate for the follow-mode benchmark "
                   "(scripts/bench_follow.sh) and prints what it achieved.",
        .opts = s_opts,
        .count = sizeof s_opts / sizeof s_opts[0],
    };
    int rc = rs_config_parse(&config, argc, argv, 1);
    if (rc == RS_CONFIG_HELP)
        return RS_EXIT_OK;
    if (rc != 0)
        return RS_EXIT_USAGE;
    rs_log_init("bench-insert");
    s_shared_t sh = {
        .db = rs_config_str(&config, "db"),
        .rate = rs_config_int(&config, "rate"),
        .rows = rs_config_int(&config, "rows"),
        .first_id = rs_config_int(&config, "first-id"),
        .connections = (int) rs_config_int(&config, "connections"),
        .payload_bytes = (size_t) rs_config_int(&config, "payload-bytes"),
    };
    sh.transactions = sh.rate * rs_config_int(&config, "seconds") / sh.rows;
    if (sh.transactions < 1)
        sh.transactions = 1;
    sh.payload = malloc(sh.payload_bytes + 1);
    s_conn_t *conns = calloc((size_t) sh.connections, sizeof *conns);
    pthread_t *threads = calloc((size_t) sh.connections, sizeof *threads);
    if (!sh.payload || !conns || !threads) {
        rs_error("out of memory");
        return RS_EXIT_RUNTIME;
    }
    for (size_t i = 0; i < sh.payload_bytes; i++)
        sh.payload[i] = (uint8_t) (i * 131 + 7);
    /* A little ahead, so that every connection is up at the first due time. */
    sh.start_ns = s_now_ns() + 200000000;
    sh.end_ns = sh.start_ns + rs_config_int(&config, "seconds") * 1000000000;
    int started = 0;
    for (int i = 0; i < sh.connections; i++) {
        conns[i] = (s_conn_t) { .shared = &sh, .index = i };
        if (pthread_create(&threads[i], NULL, s_run, &conns[i]) != 0) {
            rs_error("cannot start connection thread %d", i);
            atomic_store(&sh.failed, 1);
            break;
        }
        started++;
    }
    int64_t done = 0, max_lag = 0;
    for (int i = 0; i < started; i++) {
        pthread_join(threads[i], NULL);
        done += conns[i].done;
        if (conns[i].max_lag_ns > max_lag)
            max_lag = conns[i].max_lag_ns;
    }
    double seconds = (double) (s_now_ns() - sh.start_ns) / 1e9;
    /* Ids up to last_id may have been inserted (the transactions not sent
     * left holes, which is fine: ids need not be contiguous). */
    printf("transactions=%lld records=%lld first_id=%lld last_id=%lld seconds=%.3f rate=%.0f"
           " max_schedule_lag_ms=%.1f\n",
           (long long) done, (long long) (done * sh.rows), (long long) sh.first_id,
           (long long) (sh.first_id + sh.transactions * sh.rows - 1), seconds,
           seconds > 0 ? (double) (done * sh.rows) / seconds : 0.0, (double) max_lag / 1e6);
    free(threads);
    free(conns);
    free(sh.payload);
    return atomic_load(&sh.failed) ? RS_EXIT_RUNTIME : RS_EXIT_OK;
}
