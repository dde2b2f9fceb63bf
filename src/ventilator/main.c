/* recsign-ventilator: streams unsigned records to workers in batches of
 * the run's fixed size and exits once every record is signed, or with
 * --follow keeps the run open and signs records inserted later. */
#include "vent_dispatch.h"
#include "vent_follow.h"
#include "vent_metrics.h"
#include "vent_standby.h"
#include "vent_store.h"
#include "rs_config.h"
#include "rs_db.h"
#include "rs_process.h"
#include "rs_log.h"
#include "rs_proto.h"
#include "rs_socket.h"

#include <czmq.h>
#include <stdio.h>

static rs_opt_t s_opts[] = {
    { .name = "db", .env = "RECSIGN_DB_URL", .type = RS_OPT_STRING, .mask = rs_db_mask_conninfo, .required = true,
      .help = "PostgreSQL URL of the recsign database; several servers for failover (host=a,b), the one that accepts writes is used" },
    { .name = "bind", .env = "RECSIGN_VENTILATOR_BIND", .type = RS_OPT_STRING, .endpoint = RS_ENDPOINT_BIND,
      .fallback = "tcp://*:5557", .help = "endpoint the batch PUSH socket binds" },
    { .name = "batch-size", .env = "RECSIGN_BATCH_SIZE", .type = RS_OPT_INT, .fallback = "100",
      .min = 1, .max = RS_BATCH_MAX,
      .help = "records per batch, fixed for the whole run; when not given, an unfinished run is resumed with its own" },
    { .name = "redispatch-ms", .env = "RECSIGN_REDISPATCH_MS", .type = RS_OPT_INT,
      .fallback = "3000", .min = 10, .max = 3600000,
      .help = "no progress for this long sends unsigned records again" },
    { .name = "page-rows", .env = "RECSIGN_VENTILATOR_PAGE_ROWS", .type = RS_OPT_INT,
      .fallback = "2000", .min = 1, .max = 100000, .help = "records read per database query" },
    { .name = "follow", .env = "RECSIGN_FOLLOW", .type = RS_OPT_FLAG,
      .help = "after the backlog, keep the run open and sign records inserted later, until "
              "SIGTERM or SIGINT ends the run" },
    /* Kafka's linger.ms (default 0 there, 5 ms since Kafka 4.0); 20 ms
     * keeps a trickle's latency low and lets load fill whole batches. */
    { .name = "linger-ms", .env = "RECSIGN_LINGER_MS", .type = RS_OPT_INT, .fallback = "20",
      .min = 0, .max = 60000,
      .help = "with --follow: longest wait of a partial batch for more records before it is sent" },
    /* 2^18 ids: far above what the pipeline holds (a few messages per
     * worker thread and one sink flush); 32 bytes an id at most (a hash
     * table at most half full), so 8 MiB. */
    { .name = "inflight-max", .env = "RECSIGN_VENTILATOR_INFLIGHT_MAX", .type = RS_OPT_INT,
      .fallback = "262144", .min = 1, .max = 4194304,
      .help = "with --follow: records tracked in flight one by one, at most (32 bytes each); "
              "past it, records are sent in passes, as in a batch run" },
    RS_PROCESS_SECURITY_OPTS,
    RS_PROCESS_METRICS_OPT,
};

int main(int argc, char **argv)
{
    rs_config_t config = {
        .program = "recsign-ventilator",
        .usage = "[options]",
        .summary = "Sends every unsigned record to the workers in batches of a size fixed for "
                   "the run, and exits 0 once every record is signed (3 when some cannot be: "
                   "payloads over 1 MiB, named and recorded in records_refused). With --follow, "
                   "keeps the run open and sends records as they are inserted, until SIGTERM or "
                   "SIGINT (exit 0, or 3 likewise; the run is finished and the next run signs "
                   "what is left).",
        .opts = s_opts,
        .count = sizeof s_opts / sizeof s_opts[0],
    };
    int rc = rs_process_start(&config, argc, argv, "ventilator");
    if (rc >= 0)
        return rc;
    char err[512];

    int exit_code = RS_EXIT_RUNTIME;
    zsock_t *push = NULL;
    rs_security_t *security = NULL;
    const bool follow = rs_config_flag(&config, "follow");
    if (!follow && rs_config_opt(&config, "linger-ms")->set)
        rs_warn("--linger-ms applies to --follow only; this run ignores it");
    rs_http_t *metrics = NULL;
    vent_metrics_register();
    if (rs_process_metrics(&config, &metrics) != 0)
        return RS_EXIT_RUNTIME;
    /* Before the database: bad configuration is said first. */
    vent_store_t *store = NULL;
    security = rs_process_security(&config, "ventilator", true, NULL, &exit_code);
    if (!security)
        goto out;
    exit_code = RS_EXIT_RUNTIME;
    store = vent_store_new(rs_config_str(&config, "db"), follow, err, sizeof err);
    if (!store) {
        rs_error("%s", err);
        goto out;
    }
    /* One ventilator leads per database; one started while another leads
     * waits here as a standby, bound to nothing. */
    const char *bind = rs_config_str(&config, "bind");
    int batch_size = (int) rs_config_int(&config, "batch-size");
    const bool batch_size_given = rs_config_opt(&config, "batch-size")->set;
    vent_standby_t standby = vent_standby_lead(store, batch_size, batch_size_given, follow, bind,
                                               err, sizeof err);
    if (standby != VENT_STANDBY_LEADING) {
        if (standby == VENT_STANDBY_REFUSED)
            rs_error("%s", err);
        exit_code = standby == VENT_STANDBY_REFUSED ? RS_EXIT_USAGE
                    : standby == VENT_STANDBY_INTERRUPTED || standby == VENT_STANDBY_RUN_ENDED
                        ? RS_EXIT_OK
                        : RS_EXIT_RUNTIME;
        goto out;
    }
    int64_t run_id;
    bool resumed, was_follow;
    /* The batch size is read once, here, and recorded with the run; an
     * unfinished run keeps its own (given another one explicitly, this
     * ventilator is refused). */
    vent_run_open_t opened = vent_store_open_run(store, &batch_size, !batch_size_given, &run_id,
                                                 &resumed, &was_follow, err, sizeof err);
    if (opened != VENT_RUN_OPENED) {
        rs_error("%s", err);
        exit_code = opened == VENT_RUN_OTHER_BATCH_SIZE ? RS_EXIT_USAGE : RS_EXIT_RUNTIME;
        goto out;
    }
    if (resumed && !batch_size_given && batch_size != (int) rs_config_int(&config, "batch-size"))
        rs_info("--batch-size not given: run %lld keeps its batch size, %d", (long long) run_id,
                batch_size);
    if (resumed && was_follow != follow)
        rs_info("run %lld was led in %s mode; resumed in %s mode, as this ventilator was started",
                (long long) run_id, was_follow ? "follow" : "batch", follow ? "follow" : "batch");
    rs_info("%s run %lld with batch size %d", resumed ? "resuming" : "starting", (long long) run_id,
            batch_size);
    /* A small per-worker queue keeps batches here until a thread is free to
     * take them and bounds what is lost when a worker dies. At the mark the
     * send blocks: that is the pipeline's flow control. */
    /* A PUSH socket receives nothing: any message from a peer is hostile. */
    /* Little queued per worker thread, in ZeroMQ and in the kernel: a
     * batch waits here, where whichever thread is free next takes it, not
     * behind a busy thread (which would leave the others idle at the end). */
    const rs_socket_opts_t push_opts = { .sndhwm = 1, .sndbuf = 64 * 1024, .max_msg_bytes = 64 };
    push = rs_socket_new(ZMQ_PUSH, bind, RS_BIND, &push_opts, security,
                         NULL, err, sizeof err);
    if (!push) {
        rs_error("%s", err);
        goto out;
    }
    zsock_set_sndtimeo(push, 200);
    rs_process_ready("run %lld, batch size %d, dispatching on %s", (long long) run_id, batch_size,
                     bind);
    vent_dispatch_config_t dispatch = {
        .run_id = run_id,
        .batch_size = (uint32_t) batch_size,
        .page_rows = (int) rs_config_int(&config, "page-rows"),
        .redispatch_ms = (int) rs_config_int(&config, "redispatch-ms"),
        .linger_ms = (int) rs_config_int(&config, "linger-ms"),
        .inflight_max = (size_t) rs_config_int(&config, "inflight-max"),
    };
    vent_run_end_t end = follow ? vent_follow_run(push, store, &dispatch)
                                : vent_dispatch_run(push, store, &dispatch);
    exit_code = end == VENT_RUN_FAILED    ? RS_EXIT_RUNTIME
                : end == VENT_RUN_REFUSED ? RS_EXIT_REFUSED
                                          : RS_EXIT_OK;
    if (vent_store_lost_lead(store)) {
        /* Its database session was cut and a standby took the lock and the
         * run: two ventilators must not dispatch one run. */
        rs_error("lost the ventilator lock: another recsign-ventilator took run %lld over while this one's database session was gone (cut, or ended by the server after %d ms without a statement: was this process paused?); stopping (restarted, this one waits as its standby)",
                 (long long) run_id, VENT_LEAD_IDLE_TIMEOUT_MS);
        exit_code = RS_EXIT_RUNTIME;
    }
    else if (end == VENT_RUN_INTERRUPTED)
        rs_info("interrupted; run %lld stays unfinished and resumes on the next start",
                (long long) run_id);
    rs_process_stopping();
out:
    zsock_destroy(&push);
    rs_security_destroy(&security);
    vent_store_destroy(&store);
    rs_http_destroy(&metrics);
    return exit_code;
}
