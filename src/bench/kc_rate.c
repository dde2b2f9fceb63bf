/* recsign-bench-keycoord: the keycoord microbenchmark. N client threads,
 * each a lease holder with its own DEALER, run lease cycles (one LEASE_REQ
 * that releases the previous lease and wants the next, one LEASE_REP) for
 * a fixed time and report cycles/s and round-trip latency. The same
 * program, with --serve-echo, is a bare ROUTER echo server on a socket set
 * up exactly like the keycoord's; --mode echo runs the same clients against
 * it, with requests of a LEASE_REQ's size, to measure the transport's own
 * limit on this machine. */
#include "bench_lease.h"
#include "rs_config.h"
#include "rs_lease.h"
#include "rs_log.h"
#include "rs_process.h"
#include "rs_proto.h"
#include "rs_socket.h"

#include <czmq.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static rs_opt_t s_opts[] = {
    { .name = "keycoord", .env = "RECSIGN_KEYCOORD_ENDPOINT", .type = RS_OPT_STRING,
      .endpoint = RS_ENDPOINT_CONNECT, .fallback = "tcp://localhost:5559",
      .help = "endpoint to measure: the keycoord, or with --mode echo an echo server" },
    { .name = "mode", .type = RS_OPT_STRING, .fallback = "keycoord",
      .help = "keycoord (lease cycles) or echo (bare round trips of a LEASE_REQ's size)" },
    { .name = "holders", .type = RS_OPT_INT, .fallback = "16", .min = 1, .max = 1024,
      .help = "client threads, each one holder with its own DEALER socket" },
    { .name = "seconds", .type = RS_OPT_INT, .fallback = "5", .min = 1, .max = 3600,
      .help = "measuring time, after the warm-up" },
    { .name = "warmup-ms", .type = RS_OPT_INT, .fallback = "500", .min = 0, .max = 600000,
      .help = "cycles run but not counted before measuring" },
    { .name = "run-id", .type = RS_OPT_INT, .fallback = "1", .min = 1,
      .max = 9223372036854775807LL, .help = "run the leases are for (a row of runs)" },
    { .name = "batch-records", .type = RS_OPT_INT, .fallback = "1", .min = 1,
      .max = RS_BATCH_MAX, .help = "records each lease claims (at most the run's batch size)" },
    { .name = "holder", .type = RS_OPT_STRING, .fallback = "kcbench",
      .help = "holder name prefix; each thread is PREFIX/PID/N" },
    { .name = "timeout-ms", .type = RS_OPT_INT, .fallback = "5000", .min = 10, .max = 600000,
      .help = "longest wait for one reply (and for the first, at connect)" },
    { .name = "serve-echo", .type = RS_OPT_FLAG,
      .help = "run only a bare ROUTER echo server on --bind until SIGINT/SIGTERM" },
    { .name = "bind", .type = RS_OPT_STRING, .endpoint = RS_ENDPOINT_BIND,
      .fallback = "tcp://127.0.0.1:5599", .help = "endpoint the echo server binds" },
    { .name = "client-cert", .env = "RECSIGN_CLIENT_CERT", .type = RS_OPT_STRING,
      .fallback = "worker", .help = "name of the clients' certificate in the --certs directory" },
    RS_PROCESS_SECURITY_OPTS,
};

typedef enum { S_MODE_KEYCOORD, S_MODE_ECHO } s_mode_t;

/* What every client thread shares; the times are set by the main thread
 * between the two barriers, so the threads read them after the second. */
typedef struct {
    s_mode_t mode;
    const char *endpoint;
    rs_security_t *security;
    uint64_t run_id;
    uint32_t batch_records;
    int timeout_ms;
    pthread_barrier_t ready, go;
    int64_t warm_end_ns, measure_end_ns;
} s_shared_t;

typedef struct {
    s_shared_t *shared;
    char holder[RS_HOLDER_MAX + 1];
    uint64_t cycles;       /* completed inside the measuring window */
    uint32_t *samples_ns;  /* one round trip each, capped at UINT32_MAX */
    size_t sample_count, sample_cap;
    uint64_t errors;       /* refused grants, failed releases */
    bool failed;           /* no reply, or a malformed one: the thread stopped */
    char why[400];
} s_client_t;

static int64_t s_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* --- the echo server -------------------------------------------------- */

/* Sends every message straight back: [routing id][empty][body] in, the
 * same out. Options as the keycoord's ROUTER (src/keycoord/main.c), so the
 * only difference measured is what the keycoord does per request. */
static int s_serve_echo(rs_config_t *config)
{
    int exit_code;
    rs_security_t *security = rs_process_security(config, "keycoord", true, NULL, &exit_code);
    if (!security)
        return exit_code;
    char err[512];
    const rs_socket_opts_t opts = { .sndhwm = 10000, .rcvhwm = 10000,
                                    .max_msg_bytes = RS_LEASE_REQ_MAX_BYTES };
    zsock_t *router = rs_socket_new(ZMQ_ROUTER, rs_config_str(config, "bind"), RS_BIND, &opts,
                                    security, NULL, err, sizeof err);
    if (!router) {
        rs_error("%s", err);
        rs_security_destroy(&security);
        return RS_EXIT_RUNTIME;
    }
    zsock_set_router_mandatory(router, 1);
    zsock_set_sndtimeo(router, 0);
    /* The keycoord's loop shape: wait (bounded, so that SIGTERM is
     * noticed while idle), then take every waiting message. */
    zpoller_t *poller = zpoller_new(router, NULL);
    if (!poller) {
        rs_error("out of memory");
        zsock_destroy(&router);
        rs_security_destroy(&security);
        return RS_EXIT_RUNTIME;
    }
    rs_info("echo server on %s", rs_config_str(config, "bind"));
    uint64_t echoed = 0, undeliverable = 0;
    while (!zsys_interrupted) {
        if (!zpoller_wait(poller, 200)) {
            if (zpoller_terminated(poller))
                break;
            continue;
        }
        zmsg_t *msg;
        while ((msg = rs_socket_recv_ready(router)) != NULL) {
            if (zmsg_send(&msg, router) != 0) {
                zmsg_destroy(&msg);
                undeliverable++;
            }
            else
                echoed++;
        }
    }
    zpoller_destroy(&poller);
    rs_info("echo server stopping: %llu messages echoed, %llu undeliverable",
            (unsigned long long) echoed, (unsigned long long) undeliverable);
    zsock_destroy(&router);
    rs_security_destroy(&security);
    return RS_EXIT_OK;
}

/* --- one client thread ------------------------------------------------ */

static void s_fail(s_client_t *self, const char *why)
{
    self->failed = true;
    snprintf(self->why, sizeof self->why, "%.100s: %.250s", self->holder, why);
}

/* One round trip (bench_lease.h): *rep filled in keycoord mode, the echo
 * checked in echo mode. Returns 0, or -1 after s_fail. */
static int s_round_trip(s_client_t *self, void *sock, rs_lease_req_t *req, rs_lease_rep_t *rep)
{
    char why[300];
    if (self->shared->mode == S_MODE_KEYCOORD) {
        if (bench_lease_call(sock, req, self->shared->timeout_ms, rep, why, sizeof why) != 0) {
            s_fail(self, why);
            return -1;
        }
        return 0;
    }
    uint8_t body[BENCH_LEASE_BODY_MAX];
    size_t size = 0;
    if (bench_lease_exchange(sock, req, self->shared->timeout_ms, body, sizeof body, &size, why,
                             sizeof why)
        != 0) {
        s_fail(self, why);
        return -1;
    }
    rs_lease_req_t echoed;
    if (rs_lease_req_decode(&echoed, body, size) != 0) {
        s_fail(self, "malformed echo");
        return -1;
    }
    if (echoed.seq != req->seq) {
        /* Each thread waits for every reply, so an older one cannot come. */
        s_fail(self, "reply to another request");
        return -1;
    }
    return 0;
}

static int s_sample_add(s_client_t *self, int64_t ns)
{
    if (self->sample_count == self->sample_cap) {
        size_t cap = self->sample_cap ? self->sample_cap * 2 : 65536;
        uint32_t *grown = realloc(self->samples_ns, cap * sizeof *grown);
        if (!grown)
            return -1;
        self->samples_ns = grown;
        self->sample_cap = cap;
    }
    self->samples_ns[self->sample_count++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t) ns;
    return 0;
}

/* One lease cycle (keycoord mode) or one echo. *held is the lease to give
 * back, replaced by the one granted. Returns -1 when the thread must stop. */
static int s_cycle(s_client_t *self, void *sock, uint64_t *seq, uint64_t *held, bool want)
{
    rs_lease_req_t req = { .seq = ++*seq, .release_count = *held != 0, .release = { *held },
                           .want = want, .run_id = self->shared->run_id,
                           .batch_records = self->shared->batch_records };
    snprintf(req.holder, sizeof req.holder, "%s", self->holder);
    rs_lease_rep_t rep;
    if (s_round_trip(self, sock, &req, &rep) != 0)
        return -1;
    if (self->shared->mode == S_MODE_ECHO)
        return 0;
    if (*held && rep.release_status != RS_RELEASE_OK)
        self->errors++; /* the lease had ended already: expired? */
    *held = 0;
    if (want) {
        if (!rep.granted) {
            /* With fewer holders than keys a grant comes at once; none
             * means the run or batch size was refused, or the queue is full. */
            s_fail(self, "the keycoord granted nothing (is --run-id a run with a batch size of at least --batch-records?)");
            return -1;
        }
        *held = rep.grants[0].lease_id;
    }
    return 0;
}

static void *s_client_run(void *arg)
{
    s_client_t *self = arg;
    s_shared_t *shared = self->shared;
    char err[512];
    /* Linger 0: nothing is left to send when the thread is done. */
    const rs_socket_opts_t opts = { .sndhwm = 16, .rcvhwm = 16,
                                    .max_msg_bytes = RS_LEASE_REP_MAX_BYTES };
    zsock_t *dealer = rs_socket_new(ZMQ_DEALER, shared->endpoint, RS_CONNECT, &opts,
                                    shared->security, "keycoord", err, sizeof err);
    if (!dealer)
        s_fail(self, err);
    else
        zsock_set_rcvtimeo(dealer, 100);
    void *sock = dealer ? zsock_resolve(dealer) : NULL;
    uint64_t seq = 0, held = 0;
    /* A first round trip that wants nothing: connected (and through the
     * CURVE handshake) before anyone's clock starts. */
    if (sock && !self->failed)
        s_cycle(self, sock, &seq, &held, false);
    pthread_barrier_wait(&shared->ready);
    pthread_barrier_wait(&shared->go);
    bool want = shared->mode == S_MODE_KEYCOORD;
    while (!self->failed && !zsys_interrupted) {
        int64_t sent = s_now_ns();
        if (sent >= shared->measure_end_ns)
            break;
        if (s_cycle(self, sock, &seq, &held, want) != 0)
            break;
        int64_t received = s_now_ns();
        if (sent >= shared->warm_end_ns && received <= shared->measure_end_ns) {
            self->cycles++;
            if (s_sample_add(self, received - sent) != 0) {
                s_fail(self, "out of memory for latency samples");
                break;
            }
        }
    }
    /* Give the last lease back, so that the keycoord ends clean. */
    if (held && sock) {
        bool failed = self->failed;
        self->failed = false;
        if (s_cycle(self, sock, &seq, &held, false) != 0 && !failed)
            failed = true;
        self->failed = failed;
    }
    zsock_destroy(&dealer);
    return NULL;
}

/* --- main ------------------------------------------------------------- */

static int s_compare_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted samples, in microseconds. */
static double s_percentile_us(const uint32_t *sorted, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t rank = (size_t) (p * (double) n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return (double) sorted[rank - 1] / 1000.0;
}

static int s_measure(rs_config_t *config, s_mode_t mode)
{
    static const char *const peers[] = { "keycoord", NULL };
    int security_exit;
    rs_security_t *security = rs_process_security(config, rs_config_str(config, "client-cert"),
                                                  false, peers, &security_exit);
    if (!security)
        return security_exit;
    size_t holders = (size_t) rs_config_int(config, "holders");
    s_shared_t shared = {
        .mode = mode,
        .endpoint = rs_config_str(config, "keycoord"),
        .security = security,
        .run_id = (uint64_t) rs_config_int(config, "run-id"),
        .batch_records = (uint32_t) rs_config_int(config, "batch-records"),
        .timeout_ms = (int) rs_config_int(config, "timeout-ms"),
    };
    s_client_t *clients = calloc(holders, sizeof *clients);
    pthread_t *ids = calloc(holders, sizeof *ids);
    if (!clients || !ids) {
        rs_error("out of memory");
        free(clients);
        free(ids);
        rs_security_destroy(&security);
        return RS_EXIT_RUNTIME;
    }
    pthread_barrier_init(&shared.ready, NULL, (unsigned) holders + 1);
    pthread_barrier_init(&shared.go, NULL, (unsigned) holders + 1);
    const char *prefix = rs_config_str(config, "holder");
    size_t started = 0;
    for (; started < holders; started++) {
        s_client_t *c = &clients[started];
        c->shared = &shared;
        rs_lease_holder_name(c->holder, sizeof c->holder, prefix, (long) getpid(), (long) started);
        if (pthread_create(&ids[started], NULL, s_client_run, c) != 0)
            break;
    }
    if (started < holders) {
        /* The barriers count every holder: without them all, nothing can run. */
        rs_error("could only start %zu of %zu client threads", started, holders);
        abort();
    }
    pthread_barrier_wait(&shared.ready);
    int64_t start = s_now_ns();
    shared.warm_end_ns = start + rs_config_int(config, "warmup-ms") * 1000000;
    shared.measure_end_ns = shared.warm_end_ns + rs_config_int(config, "seconds") * 1000000000;
    pthread_barrier_wait(&shared.go);

    uint64_t cycles = 0, errors = 0;
    size_t samples = 0;
    int failed = 0;
    for (size_t i = 0; i < holders; i++) {
        pthread_join(ids[i], NULL);
        cycles += clients[i].cycles;
        errors += clients[i].errors;
        samples += clients[i].sample_count;
        if (clients[i].failed) {
            if (failed++ < 3)
                rs_error("%s", clients[i].why);
        }
    }
    uint32_t *all = malloc((samples ? samples : 1) * sizeof *all);
    size_t n = 0;
    for (size_t i = 0; i < holders; i++) {
        if (all)
            memcpy(all + n, clients[i].samples_ns, clients[i].sample_count * sizeof *all);
        n += clients[i].sample_count;
        free(clients[i].samples_ns);
    }
    int exit_code = RS_EXIT_OK;
    if (!all) {
        rs_error("out of memory merging latency samples");
        exit_code = RS_EXIT_RUNTIME;
    }
    else if (failed || zsys_interrupted) {
        rs_error("%d of %zu client threads failed%s", failed, holders,
                 zsys_interrupted ? " (interrupted)" : "");
        exit_code = RS_EXIT_RUNTIME;
    }
    else {
        qsort(all, n, sizeof *all, s_compare_u32);
        double seconds = (double) (shared.measure_end_ns - shared.warm_end_ns) / 1e9;
        printf("mode=%s holders=%zu cycles=%llu seconds=%.3f rate=%.0f p50_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f errors=%llu\n",
               mode == S_MODE_ECHO ? "echo" : "keycoord", holders, (unsigned long long) cycles,
               seconds, (double) cycles / seconds, s_percentile_us(all, n, 0.50),
               s_percentile_us(all, n, 0.99), s_percentile_us(all, n, 0.999),
               s_percentile_us(all, n, 1.0), (unsigned long long) errors);
        fflush(stdout);
        if (errors) {
            rs_error("%llu releases were refused: a lease ended before its holder gave it back",
                     (unsigned long long) errors);
            exit_code = RS_EXIT_RUNTIME;
        }
    }
    free(all);
    pthread_barrier_destroy(&shared.ready);
    pthread_barrier_destroy(&shared.go);
    free(clients);
    free(ids);
    rs_security_destroy(&security);
    return exit_code;
}

int main(int argc, char **argv)
{
    rs_config_t config = {
        .program = "recsign-bench-keycoord",
        .usage = "[options]",
        .summary = "Measures keycoord lease cycles (release folded into the next request: one "
                   "round trip each) per second and their latency, or the same clients' round "
                   "trips against a bare ROUTER echo server (--mode echo; the server itself is "
                   "--serve-echo).",
        .opts = s_opts,
        .count = sizeof s_opts / sizeof s_opts[0],
    };
    /* Parsed once here to check the mode before anything starts or logs;
     * rs_process_start parses again (the same result) and starts. */
    int rc = rs_config_parse(&config, argc, argv, 1);
    if (rc != 0)
        return rc == RS_CONFIG_HELP ? RS_EXIT_OK : RS_EXIT_USAGE;
    const char *mode_name = rs_config_str(&config, "mode");
    if (strcmp(mode_name, "keycoord") && strcmp(mode_name, "echo")) {
        fprintf(stderr, "%s: error: --mode is '%s'; expected keycoord or echo\n", config.program,
                mode_name);
        return RS_EXIT_USAGE;
    }
    rc = rs_process_start(&config, argc, argv, "bench-keycoord");
    if (rc >= 0)
        return rc;
    if (rs_config_flag(&config, "serve-echo"))
        return s_serve_echo(&config);
    return s_measure(&config, strcmp(rs_config_str(&config, "mode"), "echo") ? S_MODE_KEYCOORD
                                                                          : S_MODE_ECHO);
}
