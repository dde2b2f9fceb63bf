/* recsign-sink: collects signatures from workers and bulk-writes them to
 * PostgreSQL. Reads its configuration, connects, binds and runs the loop. */
#include "sink_loop.h"
#include "sink_metrics.h"
#include "sink_store.h"
#include "rs_config.h"
#include "rs_db.h"
#include "rs_process.h"
#include "rs_proto.h"
#include "rs_log.h"
#include "rs_socket.h"

#include <czmq.h>
#include <stdio.h>

static rs_opt_t s_opts[] = {
    { .name = "db", .env = "RECSIGN_DB_URL", .type = RS_OPT_STRING, .mask = rs_db_mask_conninfo, .required = true,
      .help = "PostgreSQL URL of the recsign database; several servers for failover (host=a,b), the one that accepts writes is used" },
    { .name = "bind", .env = "RECSIGN_SINK_BIND", .type = RS_OPT_STRING, .endpoint = RS_ENDPOINT_BIND,
      .fallback = "tcp://*:5558", .help = "endpoint the results PULL socket binds" },
    { .name = "flush-rows", .env = "RECSIGN_SINK_FLUSH_ROWS", .type = RS_OPT_INT,
      .fallback = "20000", .min = 1, .max = 1000000,
      .help = "write to the database when this many signatures wait" },
    { .name = "flush-ms", .env = "RECSIGN_SINK_FLUSH_MS", .type = RS_OPT_INT, .fallback = "50",
      .min = 1, .max = 60000, .help = "or when the oldest waiting signature is this old" },
    RS_PROCESS_SECURITY_OPTS,
    RS_PROCESS_METRICS_OPT,
};

int main(int argc, char **argv)
{
    rs_config_t config = {
        .program = "recsign-sink",
        .usage = "[options]",
        .summary = "Receives signatures from workers and stores them in PostgreSQL with binary "
                   "COPY; the primary key on signatures.record_id makes every write idempotent.",
        .opts = s_opts,
        .count = sizeof s_opts / sizeof s_opts[0],
    };
    int rc = rs_process_start(&config, argc, argv, "sink");
    if (rc >= 0)
        return rc;
    char err[512];

    int exit_code = RS_EXIT_RUNTIME;
    zsock_t *pull = NULL;
    rs_security_t *security = NULL;
    rs_http_t *metrics = NULL;
    sink_metrics_register();
    if (rs_process_metrics(&config, &metrics) != 0)
        return RS_EXIT_RUNTIME;
    /* Before the database: bad configuration is said first. */
    sink_store_t *store = NULL;
    security = rs_process_security(&config, "sink", true, NULL, &exit_code);
    if (!security)
        goto out;
    exit_code = RS_EXIT_RUNTIME;
    store = sink_store_new(rs_config_str(&config, "db"), err, sizeof err);
    if (!store) {
        rs_error("%s", err);
        goto out;
    }
    /* At the high-water mark, workers' pushes block: backpressure while a
     * flush is slow or the database is away. */
    const rs_socket_opts_t pull_opts = { .rcvhwm = 1000,
                                         .max_msg_bytes = (int64_t) rs_results_size(RS_BATCH_MAX, RS_SIG_MAX) };
    pull = rs_socket_new(ZMQ_PULL, rs_config_str(&config, "bind"), RS_BIND, &pull_opts, security,
                         NULL, err, sizeof err);
    if (!pull) {
        rs_error("%s", err);
        goto out;
    }
    rs_info("collecting signatures on %s", rs_config_str(&config, "bind"));
    rs_process_ready("collecting signatures on %s", rs_config_str(&config, "bind"));
    sink_loop_config_t loop = {
        .flush_rows = (size_t) rs_config_int(&config, "flush-rows"),
        .flush_ms = (int) rs_config_int(&config, "flush-ms"),
    };
    exit_code = sink_loop_run(pull, store, security, &loop) == 0 ? RS_EXIT_OK : RS_EXIT_RUNTIME;
    rs_info("shutting down");
    rs_process_stopping();
out:
    zsock_destroy(&pull);
    rs_security_destroy(&security);
    sink_store_destroy(&store);
    rs_http_destroy(&metrics);
    return exit_code;
}
