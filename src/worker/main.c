/* recsign-worker: signing threads that pull batches from the ventilator,
 * lease keys from the keycoord and push signatures to the sink. Holds the
 * master key to unseal leased keys; has no database access. */
#include "wk_lease.h"
#include "rs_lease.h"
#include "wk_metrics.h"
#include "wk_thread.h"
#include "rs_config.h"
#include "rs_process.h"
#include "rs_crypto.h"
#include "rs_log.h"
#include "rs_socket.h"
#include "rs_time.h"

#include <czmq.h>
#include <pthread.h>
#include <sodium.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static rs_opt_t s_opts[] = {
    /* Each a comma-separated list (rs_endpoints): the batch PULL connects
     * to every ventilator (a standby binds only once it leads) and
     * fair-queues among them; the results PUSH connects to every sink and
     * spreads over those that are up; the lease client uses one keycoord at
     * a time and moves on when it stops answering (wk_lease). */
    { .name = "ventilator", .env = "RECSIGN_VENTILATOR_ENDPOINT", .type = RS_OPT_STRING, .endpoint = RS_ENDPOINT_CONNECT_LIST,
      .fallback = "tcp://localhost:5557",
      .help = "ventilator endpoint to pull batches from, or a comma-separated list: pulls from every one" },
    { .name = "keycoord", .env = "RECSIGN_KEYCOORD_ENDPOINT", .type = RS_OPT_STRING, .endpoint = RS_ENDPOINT_CONNECT_LIST,
      .fallback = "tcp://localhost:5559",
      .help = "keycoord endpoint to lease keys from, or a comma-separated list: uses the one that answers, moving to the next after 2 unanswered requests spanning a lease TTL" },
    { .name = "sink", .env = "RECSIGN_SINK_ENDPOINT", .type = RS_OPT_STRING, .endpoint = RS_ENDPOINT_CONNECT_LIST,
      .fallback = "tcp://localhost:5558",
      .help = "sink endpoint to push signatures to, or a comma-separated list: spreads them over every one that is up" },
    { .name = "threads", .env = "RECSIGN_WORKER_THREADS", .type = RS_OPT_INT, .fallback = "0",
      .min = 0, .max = 256, .help = "signing threads; 0 means one per online core" },
    { .name = "master-key", .env = "RECSIGN_MASTER_KEY", .type = RS_OPT_STRING,
      .fallback = "recsign-master.key", .help = "file holding the master key that unseals leased keys" },
    { .name = "request-timeout-ms", .env = "RECSIGN_REQUEST_TIMEOUT_MS", .type = RS_OPT_INT,
      .fallback = "2500", .min = 50, .max = 600000,
      .help = "wait for a keycoord reply before reconnecting and retrying" },
    { .name = "connect-timeout-ms", .env = "RECSIGN_CONNECT_TIMEOUT_MS", .type = RS_OPT_INT,
      .fallback = "10000", .min = 100, .max = 3600000,
      .help = "at start, how long the keycoord may take to first answer; with a list, each endpoint also gets at least one try of --request-timeout-ms, so a worker waits at least that many times the count" },
    { .name = "holder", .env = "RECSIGN_HOLDER", .type = RS_OPT_STRING,
      .help = "holder name prefix in the lease log (default: host name)" },
    /* At least what a ventilator may send (RS_BATCH_BYTES_MAX, 4 MiB), so
     * that no batch of an honest ventilator is ever dropped; more only
     * lets a hostile peer take more memory. */
    { .name = "max-batch-mib", .env = "RECSIGN_MAX_BATCH_MIB", .type = RS_OPT_INT,
      .fallback = "4", .min = RS_BATCH_BYTES_MAX >> 20, .max = 1024,
      .help = "largest batch message accepted, at least the 4 MiB a ventilator sends at most; a bigger one drops the connection" },
    { .name = "max-rate", .env = "RECSIGN_WORKER_MAX_RATE", .type = RS_OPT_INT,
      .fallback = "0", .min = 0, .max = 100000000,
      .help = "signatures per second this worker may make, for sharing a host; 0: no limit" },
    { .name = "client-cert", .env = "RECSIGN_CLIENT_CERT", .type = RS_OPT_STRING,
      .fallback = "worker", .help = "name of this worker's certificate in the --certs directory" },
    RS_PROCESS_SECURITY_OPTS,
    RS_PROCESS_METRICS_OPT,
};

/* Asks the keycoord for nothing, to learn at start whether it is there.
 * One endpoint: a single attempt of timeout_ms. A list: each endpoint in
 * turn, an attempt of request_ms each, until one answers; the worker gives
 * up only once every endpoint has had a full attempt and timeout_ms have
 * passed, so the wait is at least the count times request_ms. */
static int s_ping_keycoord(const char *endpoints, int timeout_ms, int request_ms,
                           rs_security_t *security, char *err, size_t err_size)
{
    bool list = strchr(endpoints, ',') != NULL;
    wk_lease_client_t *client = wk_lease_client_new(endpoints, list ? request_ms : timeout_ms, 1,
                                                    security, err, err_size);
    if (!client)
        return -1;
    size_t count = wk_lease_client_count(client);
    rs_lease_req_t req = { .want = false };
    snprintf(req.holder, sizeof req.holder, "ping");
    rs_lease_rep_t rep;
    int64_t sent;
    int64_t start = rs_mono_us();
    int64_t until = start + (int64_t) timeout_ms * 1000;
    size_t tries = 0;
    int rc;
    do {
        rc = wk_lease_client_call(client, &req, &rep, &sent, 1);
        tries++;
    } while (rc != 0 && list && !zsys_interrupted && !wk_lease_client_refused(client)
             && (tries < count || rs_mono_us() < until));
    bool refused = wk_lease_client_refused(client);
    long waited_ms = (long) ((rs_mono_us() - start) / 1000);
    if (rc != 0 && !zsys_interrupted && refused)
        snprintf(err, err_size, "the keycoord at %s refused this worker's certificate '%s': it is not in the keycoord's allow-list (or was revoked); expected it allowed with 'recsign certs --worker %s' on the keycoord's host",
                 wk_lease_client_endpoint(client), rs_security_name(security),
                 rs_security_name(security));
    else if (rc != 0 && !zsys_interrupted && list)
        snprintf(err, err_size, "none of the keycoords %s answered within %ld ms (each tried for %d ms at least once); expected a running recsign-keycoord at one of them",
                 endpoints, waited_ms, request_ms);
    else if (rc != 0 && !zsys_interrupted)
        snprintf(err, err_size, "the keycoord at %s did not answer within %d ms; expected a running recsign-keycoord there",
                 endpoints, timeout_ms);
    wk_lease_client_destroy(&client);
    return rc;
}

int main(int argc, char **argv)
{
    rs_config_t config = {
        .program = "recsign-worker",
        .usage = "[options]",
        .summary = "Signs batches of records with leased keys (Ed25519 on libsodium; ECDSA P-256 "
                   "and RSA-PSS on OpenSSL). Runs until SIGTERM or "
                   "SIGINT, then finishes its batch, gives its key back and exits.",
        .opts = s_opts,
        .count = sizeof s_opts / sizeof s_opts[0],
    };
    int early = rs_process_start(&config, argc, argv, "worker");
    if (early >= 0)
        return early;
    char err[512];
    /* Unsealed keys live in this process: keep it out of core dumps and
     * away from ptrace by other users. (Not in sanitizer builds: the leak
     * checker needs to ptrace the process at exit.) */
#ifndef __SANITIZE_ADDRESS__
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
#endif
    if (rs_crypto_init() != 0) {
        rs_error("cannot initialise libsodium or OpenSSL's secure heap (%u bytes)",
                 RS_SECURE_HEAP_BYTES);
        return RS_EXIT_RUNTIME;
    }
    uint8_t *master = rs_master_key_load(rs_config_str(&config, "master-key"), err, sizeof err);
    if (!master) {
        /* A file whose content or mode is at fault is a configuration
         * error (exit 2: supervisors that stop on usage errors do not
         * restart it to fail again); one not there (yet) is not. */
        int load_errno = errno;
        rs_error("%s", err);
        return load_errno == EINVAL ? RS_EXIT_USAGE : RS_EXIT_RUNTIME;
    }
    sodium_mprotect_readonly(master);
    static const char *const peers[] = { "ventilator", "keycoord", "sink", NULL };
    int security_exit;
    rs_security_t *security = rs_process_security(&config, rs_config_str(&config, "client-cert"),
                                                  false, peers, &security_exit);
    if (!security) {
        rs_secret_free(master);
        return security_exit;
    }

    int exit_code = RS_EXIT_RUNTIME;
    rs_http_t *metrics = NULL;
    wk_metrics_register();
    if (rs_process_metrics(&config, &metrics) != 0) {
        rs_security_destroy(&security);
        rs_secret_free(master);
        return RS_EXIT_RUNTIME;
    }
    long threads = rs_config_int(&config, "threads");
    if (threads == 0)
        threads = sysconf(_SC_NPROCESSORS_ONLN) > 0 ? sysconf(_SC_NPROCESSORS_ONLN) : 1;
    wk_thread_args_t *args = calloc((size_t) threads, sizeof *args);
    pthread_t *ids = calloc((size_t) threads, sizeof *ids);
    char (*holders)[RS_HOLDER_MAX + 1] = calloc((size_t) threads, sizeof *holders);
    if (!args || !ids || !holders) {
        rs_error("out of memory");
        goto out;
    }
    if (s_ping_keycoord(rs_config_str(&config, "keycoord"),
                        (int) rs_config_int(&config, "connect-timeout-ms"),
                        (int) rs_config_int(&config, "request-timeout-ms"), security, err,
                        sizeof err)
        != 0) {
        if (zsys_interrupted)
            exit_code = RS_EXIT_OK;
        else
            rs_error("%s", err);
        goto out;
    }
    char host[64] = "worker";
    gethostname(host, sizeof host - 1);
    const char *prefix = rs_config_str(&config, "holder") ? rs_config_str(&config, "holder") : host;
    static wk_unseal_state_t unseal; /* zero: no key unsealed yet */
    long started = 0;
    for (; started < threads; started++) {
        rs_lease_holder_name(holders[started], RS_HOLDER_MAX + 1, prefix, (long) getpid(), started);
        args[started] = (wk_thread_args_t) {
            .ventilator = rs_config_str(&config, "ventilator"),
            .keycoord = rs_config_str(&config, "keycoord"),
            .sink = rs_config_str(&config, "sink"),
            .master = master,
            .unseal = &unseal,
            .security = security,
            .holder = holders[started],
            .request_timeout_ms = (int) rs_config_int(&config, "request-timeout-ms"),
            .max_batch_bytes = rs_config_int(&config, "max-batch-mib") << 20,
            .max_rate = (double) rs_config_int(&config, "max-rate") / (double) threads,
        };
        if (pthread_create(&ids[started], NULL, wk_thread_run, &args[started]) != 0) {
            rs_error("cannot start signing thread %ld", started);
            zsys_interrupted = 1;
            break;
        }
    }
    rs_info("%ld signing threads started", started);
    rs_process_ready("%ld signing threads, keycoord %s", started,
                     rs_config_str(&config, "keycoord"));
    uint64_t batches = 0, signatures = 0, dropped = 0, expired = 0, renewals = 0, broken = 0;
    uint64_t push_failures = 0, pull_disconnects = 0;
    int64_t lease_wait_us = 0, sign_us = 0;
    int failed = 0;
    for (long i = 0; i < started; i++) {
        pthread_join(ids[i], NULL);
        batches += args[i].batches;
        signatures += args[i].signatures;
        dropped += args[i].dropped;
        expired += args[i].expired_batches;
        renewals += args[i].renewals;
        broken += args[i].broken_keys;
        push_failures += args[i].push_failures;
        pull_disconnects += args[i].pull_disconnects;
        failed |= args[i].failed;
        lease_wait_us += args[i].lease_wait_us;
        sign_us += args[i].sign_us;
    }
    rs_info("stopped: %llu batches, %llu signatures pushed, %llu batches dropped, %llu batches of signatures not taken by the sink, %llu cut short by a lease deadline, %llu keys given back as broken, %llu lease renewals, %llu ventilator connections dropped; threads spent %.3f s signing and %.3f s waiting for leases",
            (unsigned long long) batches, (unsigned long long) signatures,
            (unsigned long long) dropped, (unsigned long long) push_failures,
            (unsigned long long) expired, (unsigned long long) broken,
            (unsigned long long) renewals, (unsigned long long) pull_disconnects, (double) sign_us / 1e6,
            (double) lease_wait_us / 1e6);
    exit_code = failed ? RS_EXIT_RUNTIME : RS_EXIT_OK;
out:
    rs_process_stopping();
    rs_http_destroy(&metrics);
    free(holders);
    free(ids);
    free(args);
    rs_security_destroy(&security);
    rs_secret_free(master);
    return exit_code;
}
