/* bench_feed: stand-in workers that get given batches of record ids stored
 * by the real sink the way workers do it, without signing. Each of its
 * threads is one holder: it leases a key per batch from the real keycoord
 * (up to `group` batches per request, as the worker asks for the batches
 * of one message), pushes one RESULTS message per lease to the sinks, and
 * gives the leases back in its next request. The keycoord logs every
 * lease, so the sink's fencing accepts the results as it would a worker's.
 *
 * The signatures are not signatures: BENCH_FEED_SIG_BYTES bytes of a fixed
 * pattern (the sink stores what it is given and does not verify; `recsign
 * verify` and the audit's rule 1 would reject them). A database a feed
 * wrote to is a benchmark's, never a real one. */
#ifndef BENCH_FEED_H
#define BENCH_FEED_H

#include "rs_config.h"
#include "rs_proto.h"
#include "rs_security.h"

#include <stddef.h>
#include <stdint.h>

/* An Ed25519 signature's length: the slot of the keys recsign init makes
 * by default (a bench database has Ed25519 keys). */
#define BENCH_FEED_SIG_BYTES 64

/* Batches of record ids: batch i is ids[starts[i] .. starts[i + 1]). */
typedef struct {
    const int64_t *ids;
    const size_t *starts; /* count + 1 offsets, ascending */
    size_t count;
} bench_batches_t;

typedef struct {
    const char *keycoord;     /* endpoint of the keycoord */
    const char *sinks;        /* comma-separated endpoints of the sinks; each thread's PUSH
                                 connects to all of them and ZeroMQ deals its messages
                                 round-robin, as to several sinks of a worker */
    rs_security_t *security;  /* NULL or plain: no CURVE; else the client certificate */
    const char *holder;       /* holder name prefix; thread N is PREFIX/PID/N */
    uint64_t run_id;          /* run the leases are for; its batch size bounds a batch */
    int threads;              /* holders, 1.. */
    int group;                /* batches leased per request, 1..RS_GROUP_MAX */
    int timeout_ms;           /* longest wait for a lease reply or for the sinks to take a message */
} bench_feed_config_t;

typedef struct {
    uint64_t leases;          /* granted and used */
    uint64_t records;         /* pushed under them */
    uint64_t messages;        /* RESULTS messages pushed */
    int64_t first_push_us;    /* monotonic time of the first push, 0 if none */
    int64_t last_push_us;     /* of the last push */
} bench_feed_stats_t;

/* The options of a program that feeds (for its option table), read by
 * bench_feed_config_read. */
#define BENCH_FEED_OPTS(holder_default)                                                         \
    { .name = "keycoord", .env = "RECSIGN_KEYCOORD_ENDPOINT", .type = RS_OPT_STRING,           \
      .endpoint = RS_ENDPOINT_CONNECT, .fallback = "tcp://localhost:5559",                     \
      .help = "keycoord endpoint the stand-in workers lease keys from" },                      \
    { .name = "sink", .env = "RECSIGN_SINK_ENDPOINT", .type = RS_OPT_STRING,                   \
      .fallback = "tcp://localhost:5558",                                                      \
      .help = "sink endpoint, or a comma-separated list of them, the results go to" },         \
    { .name = "threads", .type = RS_OPT_INT, .fallback = "4", .min = 1, .max = 256,            \
      .help = "stand-in worker threads, each one holder with its own sockets" },               \
    { .name = "group", .type = RS_OPT_INT, .fallback = "1", .min = 1, .max = RS_GROUP_MAX,     \
      .help = "batches a thread leases keys for in one request" },                             \
    { .name = "holder", .type = RS_OPT_STRING, .fallback = holder_default,                     \
      .help = "holder name prefix; each thread is PREFIX/PID/N" },                             \
    { .name = "timeout-ms", .type = RS_OPT_INT, .fallback = "10000", .min = 100,               \
      .max = 600000, .help = "longest wait for a lease, for a sink to take results, or for "  \
                             "the next sign of progress" },                                    \
    { .name = "client-cert", .env = "RECSIGN_CLIENT_CERT", .type = RS_OPT_STRING,              \
      .fallback = "worker", .help = "name of the client certificate in the --certs directory" }

/* Fills config from the options of BENCH_FEED_OPTS (strings borrowed from
 * the parsed options); run_id and security are the caller's to set. */
void bench_feed_config_read(bench_feed_config_t *config, rs_config_t *options);

/* What a feeding program does before its work, as rs_process_start (which
 * it calls) does for a service: parses config's table, which holds
 * BENCH_FEED_OPTS, checks --sink's list, starts logging and CZMQ. Returns
 * -1 when the program should go on, or the exit code to return (0 after
 * --help, 2 after a usage error printed as one line). */
int bench_feed_start(rs_config_t *config, int argc, char **argv, const char *component);

/* Checks a comma-separated endpoint list (each an endpoint to connect
 * to). Returns 0, or -1 with a one-line reason in err. */
int bench_feed_check_endpoints(const char *list, char *err, size_t err_size)
    __attribute__((warn_unused_result));

/* Feeds every batch and returns once all were pushed and every lease was
 * given back (the messages may still be on their way: the threads' sockets
 * linger up to timeout_ms to deliver them). Returns 0 with *stats filled,
 * or -1 with a one-line reason in why (a thread that could not connect,
 * got no lease, or could not push within timeout_ms; interrupted). */
int bench_feed_run(const bench_feed_config_t *config, const bench_batches_t *batches,
                   bench_feed_stats_t *stats, char *why, size_t why_size)
    __attribute__((warn_unused_result));

#endif
