/* wk_thread: see wk_thread.h. */
#include "wk_thread.h"
#include "wk_lease.h"
#include "rs_crypto.h"
#include "rs_log.h"
#include "rs_proto.h"
#include "rs_socket.h"
#include "rs_time.h"

#include <czmq.h>
#include <sodium.h>
#include <string.h>

typedef struct {
    wk_thread_args_t *args;
    zsock_t *pull;
    zsock_t *push;
    zpoller_t *poller;
    wk_lease_client_t *lease;
    uint8_t *sk;            /* unsealed secret key, in secret memory */
    uint64_t held_lease;    /* lease kept until the next request or idleness */
    int64_t ready_at_us;    /* with a rate limit: when the next batch may start */
} s_ctx_t;

/* With a rate limit, waits (holding no key) until the signatures made so
 * far are within it. Wakes every 100 ms to notice a shutdown. */
static void s_pace(s_ctx_t *ctx, uint32_t signed_now)
{
    if (ctx->args->max_rate <= 0)
        return;
    int64_t now = rs_mono_us();
    if (ctx->ready_at_us < now)
        ctx->ready_at_us = now;
    ctx->ready_at_us += (int64_t) ((double) signed_now * 1e6 / ctx->args->max_rate);
    while (!zsys_interrupted && (now = rs_mono_us()) < ctx->ready_at_us) {
        int64_t left = ctx->ready_at_us - now;
        zclock_sleep((int) ((left > 100000 ? 100000 : left) + 999) / 1000);
    }
}

/* Stop signing this long before the lease's deadline: covers clock-rate
 * differences and the time a last signature and push take. */
static int64_t s_margin_us(uint32_t ttl_ms)
{
    return (int64_t) ttl_ms * 1000 / 5;
}

/* Gives back the held lease on its own, when no batch waits to carry it.
 * max_attempts -1: a single attempt made while shutting down, sent even
 * with no lease held: a request that wants nothing also tells the keycoord
 * to forget any grant still on its way to us. */
static void s_release_held(s_ctx_t *ctx, int max_attempts)
{
    if (!ctx->held_lease && max_attempts >= 0)
        return;
    rs_lease_req_t req = { .release_lease_id = ctx->held_lease };
    snprintf(req.holder, sizeof req.holder, "%s", ctx->args->holder);
    rs_lease_rep_t rep;
    int64_t sent;
    if (wk_lease_client_call(ctx->lease, &req, &rep, &sent, max_attempts) == 0
        && rep.release_status != RS_RELEASE_OK)
        rs_debug("release of lease %llu: the keycoord no longer knew it (it expired)",
                 (unsigned long long) ctx->held_lease);
    ctx->held_lease = 0;
}

/* Asks the keycoord to restart the lease's TTL, for a batch that takes
 * longer than half of it. Moves *deadline and *renew_at on success; on a
 * refusal the lease is gone and *deadline becomes now; without an answer
 * both stay and the renewal is tried again shortly. */
static void s_renew(s_ctx_t *ctx, const rs_lease_rep_t *lease, int64_t *deadline,
                    int64_t *renew_at)
{
    rs_lease_req_t req = { .renew_lease_id = lease->lease_id };
    snprintf(req.holder, sizeof req.holder, "%s", ctx->args->holder);
    rs_lease_rep_t rep;
    int64_t sent;
    if (wk_lease_client_call(ctx->lease, &req, &rep, &sent, 1) != 0) {
        *renew_at = rs_mono_us() + 100000;
        return;
    }
    if (rep.renew_status != RS_RELEASE_OK) {
        rs_warn("lease %llu could not be renewed (the keycoord no longer holds it for us); stopping",
                (unsigned long long) lease->lease_id);
        *deadline = rs_mono_us();
        return;
    }
    *deadline = sent + (int64_t) lease->ttl_ms * 1000 - s_margin_us(lease->ttl_ms);
    *renew_at = sent + (int64_t) lease->ttl_ms * 500;
    ctx->args->renewals++;
}

/* Sends a frame, waiting out a full queue (the sink is slow or away). At
 * shutdown it still tries for a few seconds: a finished batch is worth
 * delivering. Takes the frame. Returns 0 or -1. */
static int s_push(s_ctx_t *ctx, zframe_t **frame_p)
{
    for (int tries = 1;; tries++) {
        if (zframe_send(frame_p, ctx->push, 0) == 0)
            return 0;
        int err = zmq_errno();
        if ((err != EAGAIN && err != EINTR) || (zsys_interrupted && tries >= 5))
            break;
    }
    zframe_destroy(frame_p);
    return -1;
}

/* Leases a key, signs the batch and pushes the signatures. Returns how
 * many records it signed. */
static uint32_t s_sign_batch(s_ctx_t *ctx, const rs_batch_t *batch)
{
    wk_thread_args_t *args = ctx->args;
    rs_lease_req_t req = {
        .release_lease_id = ctx->held_lease,
        .want = true,
        .run_id = batch->run_id,
        .batch_records = batch->count,
    };
    snprintf(req.holder, sizeof req.holder, "%s", args->holder);
    rs_lease_rep_t rep;
    int64_t sent;
    int64_t asked = rs_mono_us();
    if (wk_lease_client_call(ctx->lease, &req, &rep, &sent, 0) != 0)
        return 0; /* interrupted: the batch will be dispatched again */
    int64_t granted = rs_mono_us();
    args->lease_wait_us += granted - asked;
    ctx->held_lease = 0;
    if (!rep.granted) {
        rs_warn("the keycoord granted no key (its queue is full); batch left for re-dispatch");
        args->dropped++;
        return 0;
    }
    ctx->held_lease = rep.lease_id;
    int64_t deadline = sent + (int64_t) rep.ttl_ms * 1000 - s_margin_us(rep.ttl_ms);
    int64_t renew_at = sent + (int64_t) rep.ttl_ms * 500;
    if (rs_unseal(ctx->sk, rep.sealed, rep.sealed_len, rep.key_id, args->master) != 0) {
        rs_error("cannot unseal key %u: this worker's master key is not the one the keyring was sealed with",
                 rep.key_id);
        args->failed = 1;
        s_release_held(ctx, 3);
        zsys_interrupted = 1;
        return 0;
    }
    /* Sign into the outgoing frame directly. */
    zframe_t *out = zframe_new(NULL, rs_results_size(batch->count));
    uint8_t *buf = zframe_data(out);
    rs_batch_iter_t it;
    rs_batch_iter_init(&it, batch);
    int64_t record_id;
    const uint8_t *message;
    size_t message_len;
    uint8_t sig[RS_SIG_BYTES];
    uint32_t signed_count = 0;
    while (rs_batch_iter_next(&it, &record_id, &message, &message_len)) {
        /* The lease's deadline is checked before every signature, on the
         * monotonic clock: a thread that was paused past it signs nothing
         * more under this lease. */
        int64_t now = rs_mono_us();
        if (now >= renew_at && now < deadline) {
            s_renew(ctx, &rep, &deadline, &renew_at);
            now = rs_mono_us();
        }
        if (now >= deadline) {
            args->expired_batches++;
            rs_warn("lease %llu reached its deadline after %u of %u records; the rest are left for re-dispatch",
                    (unsigned long long) rep.lease_id, signed_count, batch->count);
            break;
        }
        rs_sign(sig, message, message_len, ctx->sk);
        rs_results_put(buf, signed_count++, record_id, sig);
    }
    sodium_memzero(ctx->sk, RS_SK_BYTES);
    sodium_memzero(sig, sizeof sig);
    args->sign_us += rs_mono_us() - granted;
    if (signed_count == 0) {
        zframe_destroy(&out);
        return 0;
    }
    if (signed_count < batch->count) {
        /* Cut short: re-frame with the real count. */
        zframe_t *shorter = zframe_new(NULL, rs_results_size(signed_count));
        memcpy(zframe_data(shorter), buf, rs_results_size(signed_count));
        zframe_destroy(&out);
        out = shorter;
        buf = zframe_data(out);
    }
    rs_results_begin(buf, rep.lease_id, rep.key_id, signed_count);
    if (s_push(ctx, &out) == 0) {
        args->batches++;
        args->signatures += signed_count;
    }
    return signed_count;
}

static int s_setup(s_ctx_t *ctx, char *err, size_t err_size)
{
    wk_thread_args_t *args = ctx->args;
    /* A small receive queue per thread: batches wait at the ventilator,
     * where an idle thread can take them, not here. */
    const rs_socket_opts_t pull_opts = { .rcvhwm = 2, .max_msg_bytes = args->max_batch_bytes };
    ctx->pull = rs_socket_new(ZMQ_PULL, args->ventilator, RS_CONNECT, &pull_opts, args->security,
                              "ventilator", err, err_size);
    if (!ctx->pull)
        return -1;
    /* Results are pushed with a long linger so that a graceful stop still
     * delivers them; at the high-water mark the push blocks (backpressure
     * from a slow sink), in 1 s slices to notice shutdown. */
    const rs_socket_opts_t push_opts = { .sndhwm = 100, .linger_ms = 5000, .max_msg_bytes = 64 };
    ctx->push = rs_socket_new(ZMQ_PUSH, args->sink, RS_CONNECT, &push_opts, args->security,
                              "sink", err, err_size);
    if (!ctx->push)
        return -1;
    zsock_set_sndtimeo(ctx->push, 1000);
    ctx->lease = wk_lease_client_new(args->keycoord, args->request_timeout_ms, args->security, err,
                                     err_size);
    if (!ctx->lease)
        return -1;
    ctx->poller = zpoller_new(ctx->pull, NULL);
    ctx->sk = rs_secret_alloc(RS_SK_BYTES);
    if (!ctx->poller || !ctx->sk) {
        snprintf(err, err_size, "out of memory (secret memory for the signing key)");
        return -1;
    }
    return 0;
}

void *wk_thread_run(void *arg)
{
    s_ctx_t ctx = { .args = arg };
    wk_thread_args_t *args = ctx.args;
    char err[512];
    if (s_setup(&ctx, err, sizeof err) != 0) {
        rs_error("%s", err);
        args->failed = 1;
        zsys_interrupted = 1;
        goto out;
    }
    while (!zsys_interrupted) {
        if (!zpoller_wait(ctx.poller, 100)) {
            if (zpoller_terminated(ctx.poller))
                break;
            s_release_held(&ctx, 2);
            continue;
        }
        zmsg_t *msg = zmsg_recv(ctx.pull);
        if (!msg)
            break;
        zframe_t *frame = zmsg_first(msg);
        rs_batch_t batch;
        uint32_t signed_count = 0;
        if (zmsg_size(msg) != 1
            || rs_batch_decode(&batch, zframe_data(frame), zframe_size(frame)) != 0) {
            args->dropped++;
            rs_warn("dropped a malformed batch (%zu frames, %zu bytes)", zmsg_size(msg),
                    zmsg_content_size(msg));
        }
        else
            signed_count = s_sign_batch(&ctx, &batch);
        zmsg_destroy(&msg);
        /* Keep the key only if another batch is already here to carry the
         * release (and no rate limit makes us wait); otherwise give it back
         * now for others to use. */
        if (ctx.held_lease && (args->max_rate > 0 || !(zsock_events(ctx.pull) & ZMQ_POLLIN)))
            s_release_held(&ctx, 2);
        s_pace(&ctx, signed_count);
    }
out:
    /* Graceful stop: give back what we hold, in one bounded attempt. */
    if (ctx.lease)
        s_release_held(&ctx, -1);
    rs_secret_free(ctx.sk);
    zpoller_destroy(&ctx.poller);
    wk_lease_client_destroy(&ctx.lease);
    zsock_destroy(&ctx.push);
    zsock_destroy(&ctx.pull);
    return NULL;
}
