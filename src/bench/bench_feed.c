/* bench_feed: see bench_feed.h. */
#include "bench_feed.h"
#include "bench_lease.h"
#include "rs_lease.h"
#include "rs_process.h"
#include "rs_proto.h"
#include "rs_socket.h"
#include "rs_time.h"

#include <czmq.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What every holder thread shares. */
typedef struct {
    const bench_feed_config_t *config;
    const bench_batches_t *batches;
    atomic_size_t next;   /* the next batch no thread has taken yet */
    atomic_bool stop;     /* a thread failed: the others stop too */
} s_shared_t;

typedef struct {
    s_shared_t *shared;
    char holder[RS_HOLDER_MAX + 1];
    bench_feed_stats_t stats;
    bool failed;
    char why[400];
} s_holder_t;

/* What the stored rows carry instead of a signature. */
static uint8_t s_not_a_signature[BENCH_FEED_SIG_BYTES];

static void s_fail(s_holder_t *self, const char *why)
{
    self->failed = true;
    snprintf(self->why, sizeof self->why, "holder %.80s: %.300s", self->holder, why);
    atomic_store(&self->shared->stop, true);
}

void bench_feed_config_read(bench_feed_config_t *config, rs_config_t *options)
{
    config->keycoord = rs_config_str(options, "keycoord");
    config->sinks = rs_config_str(options, "sink");
    config->threads = (int) rs_config_int(options, "threads");
    config->group = (int) rs_config_int(options, "group");
    config->holder = rs_config_str(options, "holder");
    config->timeout_ms = (int) rs_config_int(options, "timeout-ms");
}

int bench_feed_start(rs_config_t *config, int argc, char **argv, const char *component)
{
    /* Parsed once here to check the list before anything starts or logs;
     * rs_process_start parses again (the same result) and starts. */
    int rc = rs_config_parse(config, argc, argv, 1);
    if (rc != 0)
        return rc == RS_CONFIG_HELP ? RS_EXIT_OK : RS_EXIT_USAGE;
    char err[512];
    if (bench_feed_check_endpoints(rs_config_str(config, "sink"), err, sizeof err) != 0) {
        fprintf(stderr, "%s: error: --sink: %s\n", config->program, err);
        return RS_EXIT_USAGE;
    }
    return rs_process_start(config, argc, argv, component);
}

int bench_feed_check_endpoints(const char *list, char *err, size_t err_size)
{
    char *copy = strdup(list ? list : "");
    if (!copy) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    int rc = 0, items = 0;
    char *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item && rc == 0;
         item = strtok_r(NULL, ",", &save), items++)
        rc = rs_socket_check_endpoint(item, RS_CONNECT, err, err_size);
    if (rc == 0 && (items == 0 || list[0] == ',' || list[strlen(list) - 1] == ',' || strstr(list, ",,"))) {
        snprintf(err, err_size, "'%s' is not a list of endpoints; expected tcp://HOST:PORT[,tcp://HOST:PORT...]",
                 list ? list : "");
        rc = -1;
    }
    free(copy);
    return rc;
}

/* A PUSH connected to every sink of the list. At the high-water mark a
 * send waits (the sinks' backpressure, as a worker meets it); the linger
 * lets a finished feed deliver what is queued. */
static zsock_t *s_push_new(const bench_feed_config_t *config, char *err, size_t err_size)
{
    char *copy = strdup(config->sinks);
    if (!copy) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    const rs_socket_opts_t opts = { .sndhwm = 100, .linger_ms = config->timeout_ms,
                                    .max_msg_bytes = 64, .wait_ms = 100 };
    char *save = NULL;
    char *first = strtok_r(copy, ",", &save);
    zsock_t *push = rs_socket_new(ZMQ_PUSH, first, RS_CONNECT, &opts, config->security, "sink",
                                  err, err_size);
    for (char *item = strtok_r(NULL, ",", &save); push && item; item = strtok_r(NULL, ",", &save)) {
        if (item[0] == '>')
            item++;
        if (zsock_connect(push, "%s", item) != 0) {
            snprintf(err, err_size, "cannot connect to %s: %s", item, zmq_strerror(zmq_errno()));
            zsock_destroy(&push);
        }
    }
    free(copy);
    return push;
}

/* Pushes batch `index` as one RESULTS message under grant. Returns 0, or
 * -1 after s_fail. */
static int s_push_batch(s_holder_t *self, zsock_t *push, size_t index,
                        const rs_lease_grant_t *grant)
{
    const bench_batches_t *b = self->shared->batches;
    uint32_t count = (uint32_t) (b->starts[index + 1] - b->starts[index]);
    const int64_t *ids = b->ids + b->starts[index];
    zframe_t *frame = zframe_new(NULL, rs_results_size(count, BENCH_FEED_SIG_BYTES));
    if (!frame) {
        s_fail(self, "out of memory for a RESULTS message");
        return -1;
    }
    uint8_t *data = zframe_data(frame);
    rs_results_begin(data, grant->lease_id, grant->key_id, count, BENCH_FEED_SIG_BYTES);
    for (uint32_t i = 0; i < count; i++)
        rs_results_put(data, BENCH_FEED_SIG_BYTES, i, ids[i], s_not_a_signature,
                       sizeof s_not_a_signature);
    int64_t deadline = rs_mono_us() + (int64_t) self->shared->config->timeout_ms * 1000;
    while (zframe_send(&frame, push, 0) != 0) {
        int err = zmq_errno();
        if ((err != EAGAIN && err != EINTR) || zsys_interrupted || rs_mono_us() >= deadline) {
            zframe_destroy(&frame);
            char why[160];
            snprintf(why, sizeof why, "%s within %d ms",
                     err == EAGAIN ? "no sink took a RESULTS message" : zmq_strerror(err),
                     self->shared->config->timeout_ms);
            s_fail(self, why);
            return -1;
        }
    }
    int64_t now = rs_mono_us();
    if (!self->stats.first_push_us)
        self->stats.first_push_us = now;
    self->stats.last_push_us = now;
    self->stats.leases++;
    self->stats.records += count;
    self->stats.messages++;
    return 0;
}

/* Takes up to `group` batches no thread has taken into pending. */
static uint8_t s_take(s_holder_t *self, size_t *pending)
{
    s_shared_t *sh = self->shared;
    size_t group = (size_t) sh->config->group;
    size_t first = atomic_fetch_add(&sh->next, group);
    uint8_t n = 0;
    for (size_t i = first; i < first + group && i < sh->batches->count; i++)
        pending[n++] = i;
    return n;
}

static void *s_holder_run(void *arg)
{
    s_holder_t *self = arg;
    const bench_feed_config_t *config = self->shared->config;
    char err[512];
    const rs_socket_opts_t dealer_opts = { .sndhwm = 16, .rcvhwm = 16,
                                           .max_msg_bytes = RS_LEASE_REP_MAX_BYTES, .wait_ms = 100 };
    zsock_t *dealer = rs_socket_new(ZMQ_DEALER, config->keycoord, RS_CONNECT, &dealer_opts,
                                    config->security, "keycoord", err, sizeof err);
    zsock_t *push = dealer ? s_push_new(config, err, sizeof err) : NULL;
    rs_lease_rep_t *rep = malloc(sizeof *rep);
    if (!dealer || !push)
        s_fail(self, err);
    else if (!rep)
        s_fail(self, "out of memory");
    uint64_t seq = 0, held[RS_GROUP_MAX];
    uint8_t held_count = 0;
    size_t pending[RS_GROUP_MAX];
    uint8_t pending_count = 0;
    while (!self->failed) {
        if (atomic_load(&self->shared->stop) || zsys_interrupted) {
            /* Another holder failed: give back what is held, take no more. */
            pending_count = 0;
            if (!held_count)
                break;
        }
        else if (!pending_count)
            pending_count = s_take(self, pending);
        if (!pending_count && !held_count)
            break;
        rs_lease_req_t req = { .seq = ++seq, .want = pending_count,
                               .run_id = config->run_id, .release_count = held_count };
        memcpy(req.release, held, held_count * sizeof held[0]);
        snprintf(req.holder, sizeof req.holder, "%s", self->holder);
        const bench_batches_t *b = self->shared->batches;
        for (uint8_t i = 0; i < pending_count; i++) {
            uint32_t n = (uint32_t) (b->starts[pending[i] + 1] - b->starts[pending[i]]);
            if (n > req.batch_records)
                req.batch_records = n;
        }
        if (bench_lease_call(zsock_resolve(dealer), &req, config->timeout_ms, rep, err, sizeof err)
            != 0) {
            s_fail(self, err);
            break;
        }
        if (held_count && rep->release_status != RS_RELEASE_OK) {
            /* The sink refuses what was pushed under an expired lease. */
            s_fail(self, "the keycoord no longer knew a lease it gave back (it expired: is --timeout-ms above the keycoord's --lease-ttl-ms, or the machine overloaded?)");
            break;
        }
        held_count = 0;
        if (pending_count && rep->granted == 0) {
            char why[160];
            snprintf(why, sizeof why,
                     "the keycoord granted no lease: is run %llu in the runs table, with a batch size of at least %u?",
                     (unsigned long long) config->run_id, req.batch_records);
            s_fail(self, why);
            break;
        }
        for (uint8_t g = 0; g < rep->granted && !self->failed; g++) {
            held[held_count++] = rep->grants[g].lease_id;
            s_push_batch(self, push, pending[g], &rep->grants[g]);
        }
        /* Fewer grants than wanted: the rest ask again. */
        memmove(pending, pending + rep->granted, (size_t) (pending_count - rep->granted) * sizeof pending[0]);
        pending_count = (uint8_t) (pending_count - rep->granted);
    }
    free(rep);
    zsock_destroy(&push);
    zsock_destroy(&dealer);
    return NULL;
}

int bench_feed_run(const bench_feed_config_t *config, const bench_batches_t *batches,
                   bench_feed_stats_t *stats, char *why, size_t why_size)
{
    memset(stats, 0, sizeof *stats);
    for (size_t i = 0; i < sizeof s_not_a_signature; i++)
        s_not_a_signature[i] = (uint8_t) "recsign-bench: not a signature "[i % 31];
    s_shared_t shared = { .config = config, .batches = batches };
    size_t n = (size_t) config->threads;
    s_holder_t *holders = calloc(n, sizeof *holders);
    pthread_t *ids = calloc(n, sizeof *ids);
    if (!holders || !ids) {
        free(holders);
        free(ids);
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    size_t started = 0;
    for (; started < n; started++) {
        holders[started].shared = &shared;
        rs_lease_holder_name(holders[started].holder, sizeof holders[started].holder,
                             config->holder, (long) getpid(), (long) started);
        if (pthread_create(&ids[started], NULL, s_holder_run, &holders[started]) != 0)
            break;
    }
    int rc = 0;
    if (started < n) {
        atomic_store(&shared.stop, true);
        snprintf(why, why_size, "could only start %zu of %zu holder threads", started, n);
        rc = -1;
    }
    for (size_t i = 0; i < started; i++) {
        pthread_join(ids[i], NULL);
        const bench_feed_stats_t *s = &holders[i].stats;
        stats->leases += s->leases;
        stats->records += s->records;
        stats->messages += s->messages;
        if (s->first_push_us && (!stats->first_push_us || s->first_push_us < stats->first_push_us))
            stats->first_push_us = s->first_push_us;
        if (s->last_push_us > stats->last_push_us)
            stats->last_push_us = s->last_push_us;
        if (holders[i].failed && rc == 0) {
            snprintf(why, why_size, "%s", holders[i].why);
            rc = -1;
        }
    }
    if (rc == 0 && zsys_interrupted) {
        snprintf(why, why_size, "interrupted after %llu of %zu batches",
                 (unsigned long long) stats->leases, batches->count);
        rc = -1;
    }
    free(holders);
    free(ids);
    return rc;
}
