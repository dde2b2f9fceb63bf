/* recsign-bench-sink: the load generator of the sink stage. It stands in
 * for many workers (bench_feed.h): leases a key per batch from the real
 * keycoord, pushes the batch's results to one or several real sinks, and
 * watches the database until the sinks have stored every one. It reports
 * stored signatures per second: from its first push to the moment the
 * database holds them all. The records should exist (ids first-id ..
 * first-id + records - 1, e.g. from `recsign init --records N`) and be
 * unsigned; what is stored is not a signature (bench_feed.h). Prints one
 * line of key=value results. */
#include "bench_feed.h"
#include "bench_store.h"
#include "rs_db.h"
#include "rs_config.h"
#include "rs_log.h"
#include "rs_process.h"
#include "rs_proto.h"
#include "rs_time.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How often the database is asked how much is stored, once every result
 * is pushed: the resolution of the measured time. */
#define S_WATCH_MS 10

static rs_opt_t s_opts[] = {
    { .name = "db", .env = "RECSIGN_DB_URL", .type = RS_OPT_STRING, .required = true,
      .mask = rs_db_mask_conninfo, .help = "PostgreSQL URL of the database the sinks write to" },
    { .name = "run-id", .type = RS_OPT_INT, .fallback = "1", .min = 1,
      .max = 9223372036854775807LL,
      .help = "run the leases are for (a row of runs whose batch size is at least --batch-records)" },
    { .name = "first-id", .type = RS_OPT_INT, .fallback = "1", .min = -4611686018427387904LL,
      .max = 4611686018427387904LL, .help = "id of the first record whose results are sent" },
    { .name = "records", .type = RS_OPT_INT, .fallback = "100000", .min = 1, .max = 50000000,
      .help = "records whose results are sent: ids first-id, first-id + 1, ..." },
    { .name = "batch-records", .type = RS_OPT_INT, .fallback = "1000", .min = 1,
      .max = RS_BATCH_MAX, .help = "records per batch: one lease and one RESULTS message each" },
    BENCH_FEED_OPTS("sinkbench"),
    RS_PROCESS_SECURITY_OPTS,
};

/* Batches of ids first .. first + n - 1, `size` to a batch; NULL when out
 * of memory. The caller frees ids and starts. */
static int s_batches(bench_batches_t *out, int64_t first, size_t n, size_t size)
{
    int64_t *ids = malloc(n * sizeof *ids);
    size_t count = (n + size - 1) / size;
    size_t *starts = malloc((count + 1) * sizeof *starts);
    if (!ids || !starts) {
        free(ids);
        free(starts);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        ids[i] = first + (int64_t) i;
    for (size_t b = 0; b < count; b++)
        starts[b] = b * size;
    starts[count] = n;
    *out = (bench_batches_t) { .ids = ids, .starts = starts, .count = count };
    return 0;
}

/* Waits until the database holds `records` stored signatures more than
 * the stored0 it held at the start. Fails when
 * the sinks refuse results (fencing) or nothing new is stored for
 * timeout_ms. Returns 0 with *done_us (monotonic) set, or -1 (logged). */
static int s_wait_stored(PGconn *conn, int64_t stored0, int64_t records, int64_t refused0,
                         int timeout_ms, int64_t *done_us)
{
    char err[512];
    int64_t target = stored0 + records;
    int64_t last = -1, moved_us = rs_mono_us();
    for (;;) {
        int64_t stored, refused;
        if (bench_store_counts(conn, &stored, &refused, err, sizeof err) != 0) {
            rs_error("%s", err);
            return -1;
        }
        int64_t now = rs_mono_us();
        if (stored >= target) {
            *done_us = now;
            return 0;
        }
        if (refused > refused0) {
            rs_error("the sinks refused %lld results by lease fencing (see refused_results); expected every result stored",
                     (long long) (refused - refused0));
            return -1;
        }
        if (stored != last) {
            last = stored;
            moved_us = now;
        }
        else if (now - moved_us >= (int64_t) timeout_ms * 1000) {
            rs_error("the sinks stored nothing for %d ms, with %lld of the %lld results sent not stored (are the records unsigned, and the sinks running?)",
                     timeout_ms, (long long) (target - stored), (long long) records);
            return -1;
        }
        if (zsys_interrupted) {
            rs_error("interrupted while waiting for the sinks");
            return -1;
        }
        zclock_sleep(S_WATCH_MS);
    }
}

int main(int argc, char **argv)
{
    rs_config_t config = {
        .program = "recsign-bench-sink",
        .usage = "[options]",
        .summary = "Measures stored signatures/s of one or several sinks: stand-in workers lease "
                   "a key per batch from the keycoord and push results (not real signatures) "
                   "for existing records to the sinks, until the database holds them all.",
        .opts = s_opts,
        .count = sizeof s_opts / sizeof s_opts[0],
    };
    int rc = bench_feed_start(&config, argc, argv, "bench-sink");
    if (rc >= 0)
        return rc;
    int64_t first = rs_config_int(&config, "first-id");
    size_t records = (size_t) rs_config_int(&config, "records");
    char err[512];
    PGconn *conn = bench_store_connect(rs_config_str(&config, "db"), err, sizeof err);
    if (!conn) {
        rs_error("%s", err);
        return RS_EXIT_RUNTIME;
    }
    int64_t stored0, refused0;
    if (bench_store_counts(conn, &stored0, &refused0, err, sizeof err) != 0) {
        rs_error("%s", err);
        PQfinish(conn);
        return RS_EXIT_RUNTIME;
    }
    int security_exit = RS_EXIT_RUNTIME;
    rs_security_t *security = rs_process_security(&config, rs_config_str(&config, "client-cert"),
                                                  false, NULL, &security_exit);
    bench_batches_t batches;
    if (!security || s_batches(&batches, first, records,
                               (size_t) rs_config_int(&config, "batch-records")) != 0) {
        int code = security ? RS_EXIT_RUNTIME : security_exit;
        if (security)
            rs_error("out of memory for %zu record ids", records);
        rs_security_destroy(&security);
        PQfinish(conn);
        return code;
    }
    bench_feed_config_t feed = { .run_id = (uint64_t) rs_config_int(&config, "run-id"),
                                 .security = security };
    bench_feed_config_read(&feed, &config);
    bench_feed_stats_t stats;
    int exit_code = RS_EXIT_RUNTIME;
    int64_t done_us = 0;
    if (bench_feed_run(&feed, &batches, &stats, err, sizeof err) != 0)
        rs_error("%s", err);
    else if (s_wait_stored(conn, stored0, (int64_t) records, refused0, feed.timeout_ms,
                           &done_us)
             == 0) {
        double seconds = (double) (done_us - stats.first_push_us) / 1e6;
        int sinks = 1;
        for (const char *c = feed.sinks; *c; c++)
            sinks += *c == ',';
        printf("stage=sink sinks=%d threads=%d group=%d batch=%lld records=%zu leases=%llu push_seconds=%.3f seconds=%.3f rate=%.0f\n",
               sinks, feed.threads, feed.group, rs_config_int(&config, "batch-records"), records,
               (unsigned long long) stats.leases,
               (double) (stats.last_push_us - stats.first_push_us) / 1e6, seconds,
               seconds > 0 ? (double) records / seconds : 0.0);
        fflush(stdout);
        exit_code = RS_EXIT_OK;
    }
    free((void *) batches.ids);
    free((void *) batches.starts);
    rs_security_destroy(&security);
    PQfinish(conn);
    return exit_code;
}
