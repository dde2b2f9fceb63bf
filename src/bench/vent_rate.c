/* recsign-bench-ventilator: the load generator of the ventilator stage.
 * PULL threads stand in for many workers' receiving sockets and take
 * batches from the real ventilator as fast as it sends them, decoding each
 * with the real codec (rs_batch_decode), until --records records came; it
 * reports dispatched records per second, from the first message to the
 * last record. Then, so that the run completes and the ventilator exits as
 * after any run, it gets every received batch stored the way workers do
 * (bench_feed.h: a lease per batch from the real keycoord, results to the
 * real sink; not real signatures), outside the measured time. Prints a
 * line of key=value results once the records came (stage=ventilator ...),
 * and one when they were handed to the sink (stored: ...). */
#include "bench_feed.h"
#include "rs_config.h"
#include "rs_log.h"
#include "rs_process.h"
#include "rs_proto.h"
#include "rs_socket.h"
#include "rs_time.h"

#include <czmq.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static rs_opt_t s_opts[] = {
    { .name = "ventilator", .env = "RECSIGN_VENTILATOR_ENDPOINT", .type = RS_OPT_STRING,
      .endpoint = RS_ENDPOINT_CONNECT, .fallback = "tcp://localhost:5557",
      .help = "ventilator endpoint to take batches from" },
    { .name = "pullers", .type = RS_OPT_INT, .fallback = "4", .min = 1, .max = 256,
      .help = "receiving threads, each with its own PULL socket as a worker thread has" },
    { .name = "records", .type = RS_OPT_INT, .fallback = "100000", .min = 1, .max = 50000000,
      .help = "records to receive: the run's unsigned records" },
    BENCH_FEED_OPTS("ventbench"),
    RS_PROCESS_SECURITY_OPTS,
};

/* What the receiving threads share. */
typedef struct {
    const char *endpoint;
    rs_security_t *security;
    uint64_t expect;
    int timeout_ms;
    atomic_uint_fast64_t records;   /* received by all threads */
    atomic_uint_fast64_t messages;
    atomic_int_fast64_t first_us;   /* arrival of the first message */
    atomic_uint_fast64_t first_records; /* the records of that message */
    atomic_int_fast64_t done_us;    /* arrival of the message that completed --records */
    atomic_int_fast64_t last_us;    /* arrival of the newest message */
    atomic_uint_fast64_t run_id;    /* of the batches, all of one run */
    atomic_bool stop;
} s_shared_t;

/* One receiving thread and the batches it received. */
typedef struct {
    s_shared_t *shared;
    int64_t *ids;
    size_t id_count, id_cap;
    size_t *ends;           /* end offset (in ids) of each batch */
    size_t batch_count, batch_cap;
    bool failed;
    char why[300];
} s_puller_t;

static void s_fail(s_puller_t *self, const char *why)
{
    self->failed = true;
    snprintf(self->why, sizeof self->why, "%.290s", why);
    atomic_store(&self->shared->stop, true);
}

/* Keeps the record ids of one decoded batch. Returns 0 or -1 (memory). */
static int s_keep(s_puller_t *self, const rs_batch_t *batch)
{
    if (self->id_count + batch->count > self->id_cap) {
        size_t cap = self->id_cap ? self->id_cap : 65536;
        while (cap < self->id_count + batch->count)
            cap *= 2;
        int64_t *grown = realloc(self->ids, cap * sizeof *grown);
        if (!grown)
            return -1;
        self->ids = grown;
        self->id_cap = cap;
    }
    if (self->batch_count == self->batch_cap) {
        size_t cap = self->batch_cap ? self->batch_cap * 2 : 1024;
        size_t *grown = realloc(self->ends, cap * sizeof *grown);
        if (!grown)
            return -1;
        self->ends = grown;
        self->batch_cap = cap;
    }
    rs_batch_iter_t it;
    rs_batch_iter_init(&it, batch);
    int64_t id;
    const uint8_t *message;
    size_t len;
    while (rs_batch_iter_next(&it, &id, &message, &len))
        self->ids[self->id_count++] = id;
    self->ends[self->batch_count++] = self->id_count;
    return 0;
}

/* Takes one BATCH message. Returns 0, or -1 after s_fail. */
static int s_take(s_puller_t *self, zframe_t *frame)
{
    s_shared_t *sh = self->shared;
    int64_t now = rs_mono_us();
    rs_batches_t msg;
    if (rs_batch_decode(&msg, zframe_data(frame), zframe_size(frame)) != 0) {
        s_fail(self, "a malformed BATCH message from the ventilator");
        return -1;
    }
    uint64_t records = 0;
    for (uint32_t b = 0; b < msg.count; b++) {
        uint64_t expected = 0;
        if (!atomic_compare_exchange_strong(&sh->run_id, &expected, msg.batches[b].run_id)
            && expected != msg.batches[b].run_id) {
            s_fail(self, "batches of two runs: is another ventilator on the endpoint?");
            return -1;
        }
        if (s_keep(self, &msg.batches[b]) != 0) {
            s_fail(self, "out of memory for the received record ids");
            return -1;
        }
        records += msg.batches[b].count;
    }
    int_fast64_t unset = 0;
    if (atomic_compare_exchange_strong(&sh->first_us, &unset, now))
        atomic_store(&sh->first_records, records);
    atomic_fetch_add(&sh->messages, 1);
    atomic_store(&sh->last_us, now);
    uint64_t total = atomic_fetch_add(&sh->records, records) + records;
    unset = 0;
    if (total >= sh->expect)
        atomic_compare_exchange_strong(&sh->done_us, &unset, now);
    return 0;
}

static void *s_puller_run(void *arg)
{
    s_puller_t *self = arg;
    s_shared_t *sh = self->shared;
    char err[512];
    /* As a worker thread's PULL (src/worker/wk_thread.c): a queue of one
     * message, in ZeroMQ and in the kernel, so that batches wait at the
     * ventilator as they do for many workers. */
    const rs_socket_opts_t opts = { .rcvhwm = 1, .rcvbuf = 64 * 1024,
                                    .max_msg_bytes = RS_BATCH_BYTES_MAX, .wait_ms = 100 };
    zsock_t *pull = rs_socket_new(ZMQ_PULL, sh->endpoint, RS_CONNECT, &opts, sh->security,
                                  "ventilator", err, sizeof err);
    if (!pull) {
        s_fail(self, err);
        return NULL;
    }
    while (!atomic_load(&sh->stop) && !zsys_interrupted && atomic_load(&sh->done_us) == 0) {
        zframe_t *frame = zframe_recv(pull);
        if (!frame)
            continue; /* the receive timeout: look at the flags again */
        s_take(self, frame);
        zframe_destroy(&frame);
    }
    zsock_destroy(&pull);
    return NULL;
}

/* Waits until the pullers received --records records, one failed, or no
 * message came for timeout_ms (counted from the start for the first).
 * Returns 0 or -1 (logged). */
static int s_wait_received(s_shared_t *sh)
{
    int64_t started = rs_mono_us();
    while (!atomic_load(&sh->done_us)) {
        if (atomic_load(&sh->stop))
            return -1; /* the failed thread says why */
        int64_t last = atomic_load(&sh->last_us);
        int64_t since = last ? last : started;
        if (rs_mono_us() - since >= (int64_t) sh->timeout_ms * 1000) {
            rs_error("no batch from the ventilator for %d ms after %llu of the %llu records expected (is --records the number of unsigned records, and the ventilator running?)",
                     sh->timeout_ms, (unsigned long long) atomic_load(&sh->records),
                     (unsigned long long) sh->expect);
            return -1;
        }
        if (zsys_interrupted) {
            rs_error("interrupted after %llu records", (unsigned long long) atomic_load(&sh->records));
            return -1;
        }
        zclock_sleep(10);
    }
    return 0;
}

/* Joins the pullers' batches into one list. Returns 0 or -1 (memory). */
static int s_merge(bench_batches_t *out, s_puller_t *pullers, size_t n)
{
    size_t ids = 0, batches = 0;
    for (size_t p = 0; p < n; p++) {
        ids += pullers[p].id_count;
        batches += pullers[p].batch_count;
    }
    int64_t *all = malloc((ids ? ids : 1) * sizeof *all);
    size_t *starts = malloc((batches + 1) * sizeof *starts);
    if (!all || !starts) {
        free(all);
        free(starts);
        return -1;
    }
    size_t at = 0, b = 0;
    for (size_t p = 0; p < n; p++) {
        size_t begin = 0;
        for (size_t i = 0; i < pullers[p].batch_count; i++) {
            starts[b++] = at;
            size_t end = pullers[p].ends[i];
            memcpy(all + at, pullers[p].ids + begin, (end - begin) * sizeof *all);
            at += end - begin;
            begin = end;
        }
    }
    starts[b] = at;
    *out = (bench_batches_t) { .ids = all, .starts = starts, .count = batches };
    return 0;
}

int main(int argc, char **argv)
{
    rs_config_t config = {
        .program = "recsign-bench-ventilator",
        .usage = "[options]",
        .summary = "Measures dispatched records/s of the ventilator: PULL threads take its "
                   "batches as fast as it sends them until --records records came; then stand-in "
                   "workers get them stored (not real signatures) through the keycoord and the "
                   "sink, so that the run completes.",
        .opts = s_opts,
        .count = sizeof s_opts / sizeof s_opts[0],
    };
    int rc = bench_feed_start(&config, argc, argv, "bench-ventilator");
    if (rc >= 0)
        return rc;
    char err[512];
    int security_exit = RS_EXIT_RUNTIME;
    rs_security_t *security = rs_process_security(&config, rs_config_str(&config, "client-cert"),
                                                  false, NULL, &security_exit);
    if (!security)
        return security_exit;
    bench_feed_config_t feed = { .security = security };
    bench_feed_config_read(&feed, &config);
    s_shared_t shared = { .endpoint = rs_config_str(&config, "ventilator"), .security = security,
                          .expect = (uint64_t) rs_config_int(&config, "records"),
                          .timeout_ms = feed.timeout_ms };
    size_t n = (size_t) rs_config_int(&config, "pullers");
    s_puller_t *pullers = calloc(n, sizeof *pullers);
    pthread_t *ids = calloc(n, sizeof *ids);
    size_t started = 0;
    for (; pullers && ids && started < n; started++) {
        pullers[started].shared = &shared;
        if (pthread_create(&ids[started], NULL, s_puller_run, &pullers[started]) != 0)
            break;
    }
    int exit_code = RS_EXIT_RUNTIME;
    bool received = started == n && s_wait_received(&shared) == 0;
    if (started < n)
        rs_error("could only start %zu of %zu receiving threads", started, n);
    atomic_store(&shared.stop, true);
    for (size_t i = 0; i < started; i++)
        pthread_join(ids[i], NULL);
    for (size_t i = 0; i < started; i++)
        if (pullers[i].failed) {
            rs_error("%s", pullers[i].why);
            received = false;
            break;
        }
    bench_batches_t batches = { 0 };
    if (received && s_merge(&batches, pullers, started) != 0) {
        rs_error("out of memory joining the received batches");
        received = false;
    }
    if (received) {
        uint64_t records = atomic_load(&shared.records);
        double seconds = (double) (atomic_load(&shared.done_us) - atomic_load(&shared.first_us)) / 1e6;
        /* The first message's records came before the clock started. */
        uint64_t timed = records - atomic_load(&shared.first_records);
        /* The measurement's line first, before storing adds its load: a
         * script reads the processes' CPU time when it appears. */
        printf("stage=ventilator pullers=%zu records=%llu batches=%zu messages=%llu run=%llu seconds=%.3f rate=%.0f\n",
               n, (unsigned long long) records, batches.count,
               (unsigned long long) atomic_load(&shared.messages),
               (unsigned long long) atomic_load(&shared.run_id), seconds,
               seconds > 0 ? (double) timed / seconds : 0.0);
        fflush(stdout);
        feed.run_id = atomic_load(&shared.run_id);
        bench_feed_stats_t stats;
        int64_t feed_start = rs_mono_us();
        if (bench_feed_run(&feed, &batches, &stats, err, sizeof err) != 0)
            rs_error("storing what was received: %s", err);
        else {
            printf("stored: leases=%llu records=%llu seconds=%.3f\n",
                   (unsigned long long) stats.leases, (unsigned long long) stats.records,
                   (double) (rs_mono_us() - feed_start) / 1e6);
            fflush(stdout);
            exit_code = RS_EXIT_OK;
        }
    }
    free((void *) batches.ids);
    free((void *) batches.starts);
    for (size_t i = 0; pullers && i < n; i++) {
        free(pullers[i].ids);
        free(pullers[i].ends);
    }
    free(pullers);
    free(ids);
    rs_security_destroy(&security);
    return exit_code;
}
