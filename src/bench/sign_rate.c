/* recsign-bench-sign: the raw signing rate of each key algorithm on this
 * machine, on 1..N threads, over messages shaped like recsign's (18-byte
 * header and a payload): the ceiling the end-to-end rate is compared with.
 * It signs through rs_signer as the worker does (libsodium for Ed25519,
 * OpenSSL 3 EVP for the others, one context per key), with a key made and
 * sealed by rs_key_generate, so that what is measured is the worker's own
 * signing path. */
#include "rs_config.h"
#include "rs_crypto.h"
#include "rs_signer.h"
#include "rs_time.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static rs_opt_t s_opts[] = {
    { .name = "threads", .type = RS_OPT_INT, .fallback = "0", .min = 0, .max = 256,
      .help = "measure 1..N threads; 0 means up to the number of online cores" },
    { .name = "seconds", .type = RS_OPT_INT, .fallback = "2", .min = 1, .max = 600,
      .help = "measuring time per algorithm and thread count" },
    { .name = "payload-bytes", .type = RS_OPT_INT, .fallback = "136", .min = 0,
      .max = 1048576, .help = "payload size (recsign init's mean is 136)" },
    { .name = "algorithms", .type = RS_OPT_STRING, .fallback = "all",
      .help = "comma-separated algorithms to measure (" RS_ALG_NAMES "), or all" },
};

typedef struct {
    int64_t until_us;
    size_t payload_bytes;
    rs_signer_t *signer; /* opened on a fresh key before the clock starts */
    uint8_t *msg, *payload;
    uint64_t count;
    int failed;
} s_job_t;

/* Makes and seals a key of alg, opens it for signing and draws a payload:
 * everything but the signing, which is what is timed. Returns 0 or -1. */
static int s_job_prepare(s_job_t *job, rs_alg_t alg, size_t payload_bytes)
{
    uint8_t master[RS_MASTER_KEY_BYTES];
    randombytes_buf(master, sizeof master);
    uint8_t pk[RS_PUBLIC_KEY_MAX], sealed[RS_SEALED_SECRET_MAX];
    size_t pk_len = 0, sealed_len = 0;
    job->payload_bytes = payload_bytes;
    job->signer = rs_signer_new();
    job->msg = malloc(RS_MESSAGE_HEADER_BYTES + payload_bytes);
    job->payload = malloc(payload_bytes + 1);
    int rc = !job->signer || !job->msg || !job->payload
                     || rs_key_generate(pk, &pk_len, sealed, &sealed_len, alg, 1, master)
                     || rs_signer_open(job->signer, sealed, sealed_len, 1, master)
                 ? -1
                 : 0;
    sodium_memzero(master, sizeof master);
    if (rc == 0)
        randombytes_buf(job->payload, payload_bytes);
    return rc;
}

static void s_job_free(s_job_t *job)
{
    rs_signer_destroy(&job->signer);
    free(job->msg);
    free(job->payload);
}

static void *s_sign_loop(void *arg)
{
    s_job_t *job = arg;
    uint8_t sig[RS_SIG_MAX];
    size_t sig_len = 0;
    uint64_t n = 0;
    while (rs_mono_us() < job->until_us) {
        /* Check the clock once per 16 signatures, as recsign's cost of a
         * deadline check is not what is measured here. */
        for (int i = 0; i < 16; i++) {
            size_t len = rs_message_build(job->msg, (int64_t) n, job->payload, job->payload_bytes);
            if (rs_signer_sign(job->signer, sig, &sig_len, job->msg, len)) {
                job->failed = 1;
                return NULL;
            }
            n++;
        }
    }
    job->count = n;
    return NULL;
}

/* Measures alg on 1..max_threads threads, a line each. Returns 0 or -1. */
static int s_measure(rs_alg_t alg, long max_threads, int seconds, size_t payload_bytes)
{
    for (long t = 1; t <= max_threads; t++) {
        s_job_t *jobs = calloc((size_t) t, sizeof *jobs);
        pthread_t *ids = calloc((size_t) t, sizeof *ids);
        int failed = !jobs || !ids;
        for (long i = 0; !failed && i < t; i++)
            failed = s_job_prepare(&jobs[i], alg, payload_bytes) != 0;
        int64_t start = rs_mono_us();
        long started = 0;
        for (long i = 0; !failed && i < t; i++) {
            jobs[i].until_us = start + (int64_t) seconds * 1000000;
            if (pthread_create(&ids[i], NULL, s_sign_loop, &jobs[i]) != 0)
                failed = 1;
            else
                started++;
        }
        uint64_t total = 0;
        for (long i = 0; i < started; i++) {
            pthread_join(ids[i], NULL);
            total += jobs[i].count;
            failed |= jobs[i].failed;
        }
        double elapsed = (double) (rs_mono_us() - start) / 1e6;
        for (long i = 0; jobs && i < t; i++)
            s_job_free(&jobs[i]);
        free(jobs);
        free(ids);
        if (failed) {
            fprintf(stderr, "recsign-bench-sign: %s on %ld threads failed (memory, key "
                            "generation, unsealing or signing)\n", rs_alg_name(alg), t);
            return -1;
        }
        printf("%s,%ld,%.0f\n", rs_alg_name(alg), t, (double) total / elapsed);
        fflush(stdout);
    }
    return 0;
}

int main(int argc, char **argv)
{
    rs_config_t config = { .program = "recsign-bench-sign", .usage = "[options]",
                           .summary = "Measures the raw signing rate of each key algorithm "
                                      "(libsodium for Ed25519, OpenSSL for the others).",
                           .opts = s_opts, .count = sizeof s_opts / sizeof s_opts[0] };
    int rc = rs_config_parse(&config, argc, argv, 1);
    if (rc != 0)
        return rc == RS_CONFIG_HELP ? RS_EXIT_OK : RS_EXIT_USAGE;
    bool wanted[RS_ALG_COUNT] = { false };
    const char *list = rs_config_str(&config, "algorithms");
    if (strcmp(list, "all") == 0)
        for (int a = 0; a < RS_ALG_COUNT; a++)
            wanted[a] = true;
    else {
        char *copy = strdup(list), *save = NULL;
        for (char *name = copy ? strtok_r(copy, ",", &save) : NULL; name;
             name = strtok_r(NULL, ",", &save)) {
            rs_alg_t alg;
            if (rs_alg_parse(&alg, name)) {
                fprintf(stderr, "recsign-bench-sign: error: --algorithms names '%s'; expected "
                                "all or a comma-separated list of " RS_ALG_NAMES "\n", name);
                free(copy);
                return RS_EXIT_USAGE;
            }
            wanted[alg] = true;
        }
        free(copy);
    }
    if (rs_crypto_init() != 0)
        return RS_EXIT_RUNTIME;
    long max_threads = rs_config_int(&config, "threads");
    if (max_threads == 0)
        max_threads = sysconf(_SC_NPROCESSORS_ONLN) > 0 ? sysconf(_SC_NPROCESSORS_ONLN) : 1;
    int seconds = (int) rs_config_int(&config, "seconds");
    size_t payload_bytes = (size_t) rs_config_int(&config, "payload-bytes");
    printf("algorithm,threads,signatures_per_second\n");
    for (int a = 0; a < RS_ALG_COUNT; a++)
        if (wanted[a] && s_measure((rs_alg_t) a, max_threads, seconds, payload_bytes))
            return RS_EXIT_RUNTIME;
    return RS_EXIT_OK;
}
