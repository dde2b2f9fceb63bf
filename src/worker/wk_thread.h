/* wk_thread: one signing thread of a worker. It pulls a message of one or
 * more batches, leases a key for each batch in one request, signs every
 * record straight out of the received frame, pushes each batch's
 * signatures with its lease id and gives the keys back. */
#ifndef WK_THREAD_H
#define WK_THREAD_H

#include "rs_security.h"
#include "wk_unseal.h"

#include <stdint.h>

typedef struct {
    const char *ventilator;   /* endpoints to connect */
    const char *keycoord;
    const char *sink;
    const uint8_t *master;    /* master key, read-only, shared by threads */
    wk_unseal_state_t *unseal; /* whether the master key is proven, shared by threads */
    rs_security_t *security;  /* CURVE client settings, shared read-only */
    const char *holder;       /* this thread's holder name, unique per thread */
    int request_timeout_ms;
    int64_t max_batch_bytes;  /* largest batch message accepted */
    double max_rate;          /* signatures per second for this thread; 0: no limit */
    /* Counters written by the thread, read after it ends. */
    uint64_t batches, signatures, dropped, expired_batches, renewals;
    uint64_t broken_keys;     /* leases given back as broken (key quarantined) */
    uint64_t push_failures;   /* batches of signatures the sink did not take */
    uint64_t pull_disconnects; /* ventilator connections dropped (stopped, or oversized) */
    int64_t lease_wait_us, sign_us; /* time spent waiting for leases, signing */
    int failed;               /* set when the thread stopped on an error */
} wk_thread_args_t;

/* Runs until zsys_interrupted; pthread entry point taking wk_thread_args_t. */
void *wk_thread_run(void *args);

#endif
