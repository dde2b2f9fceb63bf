/* wk_thread: see wk_thread.h. */
#include "wk_thread.h"
#include "wk_lease.h"
#include "wk_metrics.h"
#include "rs_crypto.h"
#include "rs_log.h"
#include "rs_proto.h"
#include "rs_socket.h"
#include "rs_time.h"

#include <czmq.h>
#include <sodium.h>
#include <stddef.h>
#include <string.h>

typedef struct {
    wk_thread_args_t *args;
    zsock_t *pull;
    zsock_t *push;
    zpoller_t *poller;
    wk_lease_client_t *lease;
    uint8_t *sk;            /* unsealed secret key, in secret memory */
    /* Leases kept until the next request or idleness: given back in it. */
    uint64_t held[RS_GROUP_MAX];
    uint8_t held_count;
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

static void s_request_init(s_ctx_t *ctx, rs_lease_req_t *req)
{
    memset(req, 0, offsetof(rs_lease_req_t, holder));
    snprintf(req->holder, sizeof req->holder, "%s", ctx->args->holder);
}

/* Puts the held leases in the request as releases; they are no longer ours. */
static void s_release_into(s_ctx_t *ctx, rs_lease_req_t *req)
{
    memcpy(req->release, ctx->held, ctx->held_count * sizeof ctx->held[0]);
    req->release_count = ctx->held_count;
    ctx->held_count = 0;
}

/* Gives back the held leases on their own, when no batch waits to carry
 * them. max_attempts -1: a single attempt made while shutting down, sent
 * even with no lease held: a request that wants nothing also tells the
 * keycoord to forget any grant still on its way to us. */
static void s_release_held(s_ctx_t *ctx, int max_attempts)
{
    if (!ctx->held_count && max_attempts >= 0)
        return;
    rs_lease_req_t req;
    s_request_init(ctx, &req);
    s_release_into(ctx, &req);
    rs_lease_rep_t rep;
    int64_t sent;
    if (wk_lease_client_call(ctx->lease, &req, &rep, &sent, max_attempts) == 0
        && rep.release_status == RS_RELEASE_UNKNOWN)
        rs_debug("release of %u leases: the keycoord no longer knew one (it expired)",
                 (unsigned) req.release_count);
}

/* The term of the leases granted in one reply, as the signing loop sees it. */
typedef struct {
    int64_t deadline; /* monotonic: sign nothing under these leases from then on */
    int64_t renew_at; /* monotonic: restart their TTL from then on */
    uint32_t ttl_ms;
} s_term_t;

/* Stop signing this long before the lease's deadline: covers clock-rate
 * differences and the time a last signature and push take. */
static void s_term_start(s_term_t *term, int64_t sent, uint32_t ttl_ms)
{
    term->ttl_ms = ttl_ms;
    term->deadline = sent + (int64_t) ttl_ms * 1000 - (int64_t) ttl_ms * 1000 / 5;
    term->renew_at = sent + (int64_t) ttl_ms * 500;
}

/* Asks the keycoord to restart the TTL of every held lease, for batches
 * that take longer than half of it. Moves the term on success; on a
 * refusal a lease is gone and the deadline becomes now; without an answer
 * the term stays and the renewal is tried again shortly. */
static void s_renew(s_ctx_t *ctx, s_term_t *term)
{
    rs_lease_req_t req;
    s_request_init(ctx, &req);
    memcpy(req.renew, ctx->held, ctx->held_count * sizeof ctx->held[0]);
    req.renew_count = ctx->held_count;
    rs_lease_rep_t rep;
    int64_t sent;
    if (wk_lease_client_call(ctx->lease, &req, &rep, &sent, 1) != 0) {
        term->renew_at = rs_mono_us() + 100000;
        return;
    }
    if (rep.renew_status != RS_RELEASE_OK) {
        rs_warn("a lease could not be renewed (the keycoord no longer holds it for us); stopping");
        term->deadline = rs_mono_us();
        return;
    }
    s_term_start(term, sent, term->ttl_ms);
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

/* Signs one batch with the key of one grant and pushes the signatures.
 * Returns how many records it signed; -1 when the key cannot be unsealed
 * (then the thread must stop). */
static int64_t s_sign_batch(s_ctx_t *ctx, const rs_batch_t *batch, const rs_lease_grant_t *grant,
                            s_term_t *term)
{
    wk_thread_args_t *args = ctx->args;
    int64_t started = rs_mono_us();
    if (rs_unseal(ctx->sk, grant->sealed, grant->sealed_len, grant->key_id, args->master) != 0) {
        rs_error("cannot unseal key %u: this worker's master key is not the one the keyring was sealed with",
                 grant->key_id);
        return -1;
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
        if (now >= term->renew_at && now < term->deadline) {
            s_renew(ctx, term);
            now = rs_mono_us();
        }
        if (now >= term->deadline) {
            args->expired_batches++;
            rs_metric_add(wk_metrics.deadline_cut, 1);
            rs_warn("lease %llu reached its deadline after %u of %u records; the rest are left for re-dispatch",
                    (unsigned long long) grant->lease_id, signed_count, batch->count);
            break;
        }
        rs_sign(sig, message, message_len, ctx->sk);
        rs_results_put(buf, signed_count++, record_id, sig);
    }
    sodium_memzero(ctx->sk, RS_SK_BYTES);
    sodium_memzero(sig, sizeof sig);
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
    rs_results_begin(buf, grant->lease_id, grant->key_id, signed_count);
    if (s_push(ctx, &out) == 0) {
        args->batches++;
        args->signatures += signed_count;
        rs_metric_add(wk_metrics.batches, 1);
        rs_metric_add(wk_metrics.signatures, signed_count);
        rs_metric_observe_us(wk_metrics.batch_seconds, rs_mono_us() - started);
    }
    return signed_count;
}

/* Leases a key for every batch of a message, in as few round trips as the
 * free keys allow (each request gives back the keys of the last), signs
 * each batch with its own key and pushes its signatures. Returns how many
 * records it signed. */
static uint32_t s_sign_batches(s_ctx_t *ctx, const rs_batches_t *batches)
{
    wk_thread_args_t *args = ctx->args;
    uint32_t total = 0;
    for (uint32_t next = 0; next < batches->count && !zsys_interrupted;) {
        rs_lease_req_t req;
        s_request_init(ctx, &req);
        s_release_into(ctx, &req);
        req.want = (uint8_t) (batches->count - next);
        req.run_id = batches->batches[next].run_id;
        for (uint32_t i = next; i < batches->count; i++)
            if (batches->batches[i].count > req.batch_records)
                req.batch_records = batches->batches[i].count;
        rs_lease_rep_t rep;
        int64_t sent;
        int64_t asked = rs_mono_us();
        if (wk_lease_client_call(ctx->lease, &req, &rep, &sent, 0) != 0)
            break; /* interrupted: the batches will be dispatched again */
        int64_t granted = rs_mono_us();
        args->lease_wait_us += granted - asked;
        rs_metric_observe_us(wk_metrics.lease_seconds, granted - asked);
        if (rep.granted == 0) {
            rs_warn("the keycoord granted no key (its queue is full); %u batches left for re-dispatch",
                    req.want);
            args->dropped += req.want;
            rs_metric_add(wk_metrics.dropped_no_key, req.want);
            break;
        }
        /* Held from now on, also any granted beyond what was asked. */
        for (uint8_t g = 0; g < rep.granted; g++)
            ctx->held[ctx->held_count++] = rep.grants[g].lease_id;
        s_term_t term;
        s_term_start(&term, sent, rep.ttl_ms);
        uint32_t usable = rep.granted < req.want ? rep.granted : req.want;
        for (uint32_t g = 0; g < usable; g++) {
            int64_t signed_now = s_sign_batch(ctx, &batches->batches[next + g], &rep.grants[g], &term);
            if (signed_now < 0) {
                args->failed = 1;
                s_release_held(ctx, 3);
                zsys_interrupted = 1;
                return total;
            }
            total += (uint32_t) signed_now;
        }
        args->sign_us += rs_mono_us() - granted;
        next += usable;
    }
    return total;
}

static int s_setup(s_ctx_t *ctx, char *err, size_t err_size)
{
    wk_thread_args_t *args = ctx->args;
    /* A small receive queue per thread, in ZeroMQ and in the kernel:
     * batches wait at the ventilator, where an idle thread can take them,
     * not here. */
    const rs_socket_opts_t pull_opts = { .rcvhwm = 1, .rcvbuf = 64 * 1024,
                                         .max_msg_bytes = args->max_batch_bytes };
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
        rs_batches_t batches;
        uint32_t signed_count = 0;
        if (zmsg_size(msg) != 1
            || rs_batch_decode(&batches, zframe_data(frame), zframe_size(frame)) != 0) {
            args->dropped++;
            rs_metric_add(wk_metrics.dropped_malformed, 1);
            rs_warn("dropped a malformed batch message (%zu frames, %zu bytes)", zmsg_size(msg),
                    zmsg_content_size(msg));
        }
        else
            signed_count = s_sign_batches(&ctx, &batches);
        zmsg_destroy(&msg);
        /* Keep the keys only if another message is already here to carry
         * their release (and no rate limit makes us wait); otherwise give
         * them back now for others to use. */
        if (ctx.held_count && (args->max_rate > 0 || !(zsock_events(ctx.pull) & ZMQ_POLLIN)))
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
