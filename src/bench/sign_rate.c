/* recsign-bench-sign: libsodium's raw Ed25519 signing rate on this machine,
 * on 1..N threads, over messages shaped like recsign's (18-byte header and
 * a payload), the ceiling the end-to-end rate is compared with. */
#include "rs_config.h"
#include "rs_crypto.h"
#include "rs_time.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static rs_opt_t s_opts[] = {
    { .name = "threads", .type = RS_OPT_INT, .fallback = "0", .min = 0, .max = 256,
      .help = "measure 1..N threads; 0 means up to the number of online cores" },
    { .name = "seconds", .type = RS_OPT_INT, .fallback = "2", .min = 1, .max = 600,
      .help = "measuring time per thread count" },
    { .name = "payload-bytes", .type = RS_OPT_INT, .fallback = "136", .min = 0,
      .max = 1048576, .help = "payload size (recsign init's mean is 136)" },
};

typedef struct {
    int64_t until_us;
    size_t payload_bytes;
    uint64_t count;
} s_job_t;

static void *s_sign_loop(void *arg)
{
    s_job_t *job = arg;
    uint8_t pk[RS_PK_BYTES], sk[RS_SK_BYTES], sig[RS_SIG_BYTES];
    rs_keypair_new(pk, sk);
    uint8_t *msg = malloc(RS_MESSAGE_HEADER_BYTES + job->payload_bytes);
    uint8_t *payload = malloc(job->payload_bytes + 1);
    randombytes_buf(payload, job->payload_bytes);
    uint64_t n = 0;
    while (rs_mono_us() < job->until_us) {
        /* Check the clock once per 64 signatures, as recsign's cost of a
         * deadline check is not what is measured here. */
        for (int i = 0; i < 64; i++) {
            size_t len = rs_message_build(msg, (int64_t) n, payload, job->payload_bytes);
            rs_sign(sig, msg, len, sk);
            n++;
        }
    }
    job->count = n;
    free(msg);
    free(payload);
    return NULL;
}

int main(int argc, char **argv)
{
    rs_config_t config = { .program = "recsign-bench-sign", .usage = "[options]",
                           .summary = "Measures libsodium's Ed25519 signing rate.",
                           .opts = s_opts, .count = sizeof s_opts / sizeof s_opts[0] };
    int rc = rs_config_parse(&config, argc, argv, 1);
    if (rc != 0)
        return rc == RS_CONFIG_HELP ? RS_EXIT_OK : RS_EXIT_USAGE;
    if (rs_crypto_init() != 0)
        return RS_EXIT_RUNTIME;
    long max_threads = rs_config_int(&config, "threads");
    if (max_threads == 0)
        max_threads = sysconf(_SC_NPROCESSORS_ONLN) > 0 ? sysconf(_SC_NPROCESSORS_ONLN) : 1;
    int seconds = (int) rs_config_int(&config, "seconds");
    printf("threads,signatures_per_second\n");
    for (long t = 1; t <= max_threads; t++) {
        s_job_t *jobs = calloc((size_t) t, sizeof *jobs);
        pthread_t *ids = calloc((size_t) t, sizeof *ids);
        int64_t start = rs_mono_us();
        for (long i = 0; i < t; i++) {
            jobs[i].until_us = start + (int64_t) seconds * 1000000;
            jobs[i].payload_bytes = (size_t) rs_config_int(&config, "payload-bytes");
            pthread_create(&ids[i], NULL, s_sign_loop, &jobs[i]);
        }
        uint64_t total = 0;
        for (long i = 0; i < t; i++) {
            pthread_join(ids[i], NULL);
            total += jobs[i].count;
        }
        double elapsed = (double) (rs_mono_us() - start) / 1e6;
        printf("%ld,%.0f\n", t, (double) total / elapsed);
        fflush(stdout);
        free(jobs);
        free(ids);
    }
    return RS_EXIT_OK;
}
