/* wk_thread: see wk_thread.h. */
#include "wk_thread.h"
#include "wk_lease.h"
#include "wk_metrics.h"
#include "rs_crypto.h"
#include "rs_endpoints.h"
#include "rs_log.h"
#include "rs_proto.h"
#include "rs_signer.h"
#include "rs_refusal.h"
#include "rs_socket.h"
#include "rs_time.h"

#include <czmq.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    wk_thread_args_t *args;
    zsock_t *pull;
    rs_endpoints_t ventilators; /* what pull connects to */
    zsock_t *push;
    rs_refusal_t *pull_refusal; /* the ventilator refused our certificate; dropped connections */
    rs_refusal_t *push_refusal; /* the sink refused it */
    zpoller_t *poller;
    wk_lease_client_t *lease;
    rs_signer_t *signer;    /* the key of the batch being signed, unsealed for it only */
    rs_lease_rep_t *grants; /* the reply whose leases the batches are signed under */
    rs_lease_rep_t *other;  /* replies to renewals and releases */
    /* Leases kept until the next request or idleness: given back in it. */
    uint64_t held[RS_GROUP_MAX];
    uint8_t held_count;
    /* Leases whose key could not be unsealed: given back as broken. */
    uint64_t broken[RS_GROUP_MAX];
    uint8_t broken_count;
    int64_t ready_at_us;    /* with a rate limit: when the next batch may start */
} s_ctx_t;

/* Whether the ventilator's and the sink's refusals were said: once per
 * process, not once per thread. */
static atomic_bool s_said_ventilator_refused, s_said_sink_refused;

/* Says plainly, once per process, that `service` refuses our certificate,
 * when its watcher saw a refused handshake. */
static void s_check_refused(s_ctx_t *ctx, rs_refusal_t *refusal, const char *service,
                            const char *endpoint, atomic_bool *said)
{
    if (rs_refusal_count(refusal) == 0 || atomic_exchange(said, true))
        return;
    const char *name = rs_security_name(ctx->args->security);
    rs_error("the %s at %s refuses this worker's certificate '%s' (not in its allow-list, or revoked); expected it allowed with 'recsign certs --worker %s' on the %s's host",
             service, endpoint, name, name, service);
}

/* With a rate limit (--max-rate), counts n signatures against it. */
static void s_pace_add(s_ctx_t *ctx, uint32_t n)
{
    if (ctx->args->max_rate <= 0)
        return;
    int64_t now = rs_mono_us();
    if (ctx->ready_at_us < now)
        ctx->ready_at_us = now;
    ctx->ready_at_us += (int64_t) ((double) n * 1e6 / ctx->args->max_rate);
}

static void s_request_init(s_ctx_t *ctx, rs_lease_req_t *req)
{
    memset(req, 0, offsetof(rs_lease_req_t, holder));
    snprintf(req->holder, sizeof req->holder, "%s", ctx->args->holder);
}

/* Puts the held leases in the request as releases, and the broken ones
 * as broken; they are no longer ours. */
static void s_release_into(s_ctx_t *ctx, rs_lease_req_t *req)
{
    memcpy(req->release, ctx->held, ctx->held_count * sizeof ctx->held[0]);
    req->release_count = ctx->held_count;
    ctx->held_count = 0;
    memcpy(req->broken, ctx->broken, ctx->broken_count * sizeof ctx->broken[0]);
    req->broken_count = ctx->broken_count;
    ctx->broken_count = 0;
}

/* Moves a held lease to the broken ones. */
static void s_mark_broken(s_ctx_t *ctx, uint64_t lease_id)
{
    for (uint8_t i = 0; i < ctx->held_count; i++)
        if (ctx->held[i] == lease_id) {
            ctx->held[i] = ctx->held[--ctx->held_count];
            ctx->broken[ctx->broken_count++] = lease_id;
            return;
        }
}

/* Moves a held lease to the end of the held ones, so that it is given
 * back last: the keycoord then takes its key as the most recently used
 * of them, and grants the others' keys first. */
static void s_hold_last(s_ctx_t *ctx, uint64_t lease_id)
{
    for (uint8_t i = 0; i + 1 < ctx->held_count; i++)
        if (ctx->held[i] == lease_id) {
            memmove(&ctx->held[i], &ctx->held[i + 1], (size_t) (ctx->held_count - 1 - i) * sizeof ctx->held[0]);
            ctx->held[ctx->held_count - 1] = lease_id;
            return;
        }
}

/* Gives back the held leases on their own, when no batch waits to carry
 * them. max_attempts -1: a single attempt made while shutting down, sent
 * even with no lease held: a request that wants nothing also tells the
 * keycoord to forget any grant still on its way to us. */
static void s_release_held(s_ctx_t *ctx, int max_attempts)
{
    if (!ctx->held_count && !ctx->broken_count && max_attempts >= 0)
        return;
    rs_lease_req_t req;
    s_request_init(ctx, &req);
    s_release_into(ctx, &req);
    int64_t sent;
    if (wk_lease_client_call(ctx->lease, &req, ctx->other, &sent, max_attempts) != 0) {
        if (req.broken_count)
            rs_warn("the keycoord did not answer the report of %u broken keys; their leases will expire",
                    (unsigned) req.broken_count);
    }
    else if (ctx->other->release_status == RS_RELEASE_UNKNOWN)
        rs_debug("release of %u leases: the keycoord no longer knew one (it expired)",
                 (unsigned) req.release_count);
}

/* With a rate limit, waits until the signatures counted so far are within
 * it, holding no key (held leases are given back first). Called before
 * each batch's lease, so that the rate holds to within one batch from the
 * first message on. Wakes every 100 ms to notice a shutdown. */
static void s_pace_wait(s_ctx_t *ctx)
{
    if (ctx->args->max_rate <= 0 || rs_mono_us() >= ctx->ready_at_us)
        return;
    s_release_held(ctx, 2);
    int64_t now;
    while (!zsys_interrupted && (now = rs_mono_us()) < ctx->ready_at_us) {
        int64_t left = ctx->ready_at_us - now;
        zclock_sleep((int) ((left > 100000 ? 100000 : left) + 999) / 1000);
    }
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
    int64_t sent;
    if (wk_lease_client_call(ctx->lease, &req, ctx->other, &sent, 1) != 0) {
        term->renew_at = rs_mono_us() + 100000;
        return;
    }
    if (ctx->other->renew_status != RS_RELEASE_OK) {
        rs_warn("a lease could not be renewed (the keycoord no longer holds it for us); stopping");
        term->deadline = rs_mono_us();
        return;
    }
    s_term_start(term, sent, term->ttl_ms);
    ctx->args->renewals++;
}

/* Sends a frame, waiting out a full queue (the sink is slow or away) in
 * slices of the socket's send bound. Once the process is stopping it
 * tries one more slice: a finished batch is worth delivering, but a stop
 * must end within seconds. Takes the frame. Returns 0 or -1. */
static int s_push(s_ctx_t *ctx, zframe_t **frame_p)
{
    bool last_try = zsys_interrupted;
    for (;;) {
        if (zframe_send(frame_p, ctx->push, 0) == 0)
            return 0;
        int err = zmq_errno();
        s_check_refused(ctx, ctx->push_refusal, "sink", ctx->args->sink, &s_said_sink_refused);
        if ((err != EAGAIN && err != EINTR) || last_try)
            break;
        last_try = zsys_interrupted;
    }
    zframe_destroy(frame_p);
    return -1;
}

/* A batch that signs for longer than this pushes what it has signed so far
 * and goes on: the ventilator sends again whatever sees no new signature
 * for --redispatch-ms (3000 by default), and RSA-4096 takes seconds for a
 * batch of 1000, which must not look lost. Ed25519 signs 1000 records in
 * about 20 ms: its batches still go in one message. */
#define S_CHUNK_US 500000

/* Pushes entries [first, end) of buf (signatures in slots of `slot`) under
 * the grant's lease, in a frame of their own. Returns 0 or -1. */
static int s_push_entries(s_ctx_t *ctx, const rs_lease_grant_t *grant, const uint8_t *buf,
                          uint16_t slot, uint32_t first, uint32_t end)
{
    size_t entry_bytes = rs_results_size(1, slot) - rs_results_size(0, slot);
    zframe_t *frame = zframe_new(NULL, rs_results_size(end - first, slot));
    if (!frame)
        return -1;
    uint8_t *data = zframe_data(frame);
    rs_results_begin(data, grant->lease_id, grant->key_id, end - first, slot);
    memcpy(data + rs_results_size(0, slot), buf + rs_results_size(first, slot),
           (size_t) (end - first) * entry_bytes);
    if (s_push(ctx, &frame) != 0)
        return -1;
    ctx->args->signatures += end - first;
    rs_metric_add(wk_metrics.signatures, end - first);
    return 0;
}

/* What s_sign_batch did when it could not sign with the key. */
enum {
    S_SIGN_MASTER_WRONG = -1, /* this worker cannot unseal keys: the thread must stop */
    S_SIGN_KEY_BROKEN = -2,   /* the key is damaged: its lease goes back as broken */
    S_SIGN_KEY_UNPROVEN = -3, /* unsealing failed before any key did: plain release */
};

/* Signs one batch with the key of one grant and pushes the signatures.
 * The key is unsealed for this batch only and wiped when it ends. Returns
 * how many records it signed, or one of S_SIGN_* (logged). */
static int64_t s_sign_batch(s_ctx_t *ctx, const rs_batch_t *batch, const rs_lease_grant_t *grant,
                            s_term_t *term)
{
    wk_thread_args_t *args = ctx->args;
    int64_t started = rs_mono_us();
    switch (wk_unseal(args->unseal, ctx->signer, grant, args->master)) {
    case WK_UNSEAL_OK:
        break;
    case WK_UNSEAL_KEY_BROKEN:
        rs_error("key %u cannot be unsealed (lease %llu), though this worker's master key unsealed other keys: its sealed secret is damaged or no key of a known algorithm (%s); giving the lease back as broken, the batch goes to another key",
                 grant->key_id, (unsigned long long) grant->lease_id, RS_ALG_NAMES);
        args->broken_keys++;
        return S_SIGN_KEY_BROKEN;
    case WK_UNSEAL_UNPROVEN:
        rs_warn("cannot unseal key %u (lease %llu), and no key yet: giving it back and trying another (after %d such failures in a row this worker stops: its master key would be wrong)",
                grant->key_id, (unsigned long long) grant->lease_id, WK_UNSEAL_UNPROVEN_MAX);
        return S_SIGN_KEY_UNPROVEN;
    case WK_UNSEAL_MASTER_WRONG:
        rs_error("cannot unseal key %u, after %d keys in a row this worker could not unseal, with none unsealed: its master key is not the one the keyring was sealed with",
                 grant->key_id, WK_UNSEAL_UNPROVEN_MAX);
        return S_SIGN_MASTER_WRONG;
    }
    /* Each signature in a slot of the algorithm's largest: the frame's
     * size is known before signing, so signatures go straight into it. */
    uint16_t slot = (uint16_t) rs_alg_sig_max(rs_signer_alg(ctx->signer));
    zframe_t *out = zframe_new(NULL, rs_results_size(batch->count, slot));
    uint8_t *buf = zframe_data(out);
    rs_batch_iter_t it;
    rs_batch_iter_init(&it, batch);
    int64_t record_id;
    const uint8_t *message;
    size_t message_len;
    uint8_t sig[RS_SIG_MAX];
    size_t sig_len = 0;
    uint32_t signed_count = 0;
    uint32_t pushed = 0; /* entries [0, pushed) went out in chunks */
    int64_t chunk_at = rs_mono_us() + S_CHUNK_US;
    int failed = 0;
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
        if (now >= chunk_at && signed_count > pushed) {
            if (s_push_entries(ctx, grant, buf, slot, pushed, signed_count) == 0)
                pushed = signed_count;
            chunk_at = rs_mono_us() + S_CHUNK_US;
        }
        if (rs_signer_sign(ctx->signer, sig, &sig_len, message, message_len) != 0) {
            rs_error("signing with key %u (%s) failed", grant->key_id,
                     rs_alg_name(rs_signer_alg(ctx->signer)));
            failed = 1;
            break;
        }
        rs_results_put(buf, slot, signed_count++, record_id, sig, sig_len);
    }
    rs_signer_close(ctx->signer);
    int sent = pushed > 0;
    if (pushed == 0 && signed_count == batch->count) {
        /* The whole batch in the frame it was signed into. */
        rs_results_begin(buf, grant->lease_id, grant->key_id, signed_count, slot);
        if (s_push(ctx, &out) == 0) {
            args->signatures += signed_count;
            rs_metric_add(wk_metrics.signatures, signed_count);
            sent = 1;
        }
    }
    else if (signed_count > pushed && s_push_entries(ctx, grant, buf, slot, pushed, signed_count) == 0)
        sent = 1;
    zframe_destroy(&out);
    if (sent) {
        args->batches++;
        rs_metric_add(wk_metrics.batches, 1);
        rs_metric_observe_us(wk_metrics.batch_seconds, rs_mono_us() - started);
    }
    if (!sent && signed_count > 0) {
        args->push_failures++;
        rs_warn("the sink did not take the %u signatures of lease %llu (%s); their records will be dispatched again; %llu such batches so far",
                signed_count - pushed, (unsigned long long) grant->lease_id,
                zsys_interrupted ? "stopping" : zmq_strerror(zmq_errno()),
                (unsigned long long) args->push_failures);
    }
    /* A key that unsealed but cannot sign is as broken as one that does
     * not unseal: what it signed is pushed, the rest goes to another key. */
    if (failed) {
        args->broken_keys++;
        return S_SIGN_KEY_BROKEN;
    }
    return signed_count;
}

/* A batch that took longer than this to sign is slow (RSA: 100 records
 * are 80 ms of RSA-2048, 700 ms of RSA-4096; Ed25519 signs 1000 in about
 * 20 ms): keys leased ahead for the message's later batches would sit
 * idle, out of the other holders' reach, while such batches sign. */
#define S_SLOW_BATCH_US 50000

/* Leases a key for every batch of a message, in as few round trips as the
 * free keys allow (each request gives back the keys of the last), signs
 * each batch with its own key and pushes its signatures. Once a batch is
 * slow, the keys leased for the batches after it go back unused and the
 * rest of the message leases one key per batch. */
static void s_sign_batches(s_ctx_t *ctx, const rs_batches_t *batches)
{
    wk_thread_args_t *args = ctx->args;
    bool one_at_a_time = false;
    /* Paced, a thread leases for one batch at a time and waits between. */
    if (args->max_rate > 0)
        one_at_a_time = true;
    for (uint32_t next = 0; next < batches->count && !zsys_interrupted;) {
        s_pace_wait(ctx);
        if (zsys_interrupted)
            break;
        rs_lease_req_t req;
        s_request_init(ctx, &req);
        s_release_into(ctx, &req);
        req.want = one_at_a_time ? 1 : (uint8_t) (batches->count - next);
        req.run_id = batches->batches[next].run_id;
        for (uint32_t i = next; i < batches->count; i++)
            if (batches->batches[i].count > req.batch_records)
                req.batch_records = batches->batches[i].count;
        rs_lease_rep_t *rep = ctx->grants;
        int64_t sent;
        int64_t asked = rs_mono_us();
        if (wk_lease_client_call(ctx->lease, &req, rep, &sent, 0) != 0)
            break; /* interrupted: the batches will be dispatched again */
        int64_t granted = rs_mono_us();
        args->lease_wait_us += granted - asked;
        rs_metric_observe_us(wk_metrics.lease_seconds, granted - asked);
        if (rep->granted == 0) {
            rs_warn("the keycoord granted no key (its waiting queue was full, or it refused or could not read the batch's run: its log says which); %u batches left for re-dispatch",
                    req.want);
            args->dropped += req.want;
            rs_metric_add(wk_metrics.dropped_no_key, req.want);
            break;
        }
        /* Held from now on, also any granted beyond what was asked. */
        for (uint8_t g = 0; g < rep->granted; g++)
            ctx->held[ctx->held_count++] = rep->grants[g].lease_id;
        s_term_t term;
        s_term_start(&term, sent, rep->ttl_ms);
        uint32_t usable = rep->granted < req.want ? rep->granted : req.want;
        uint32_t done = 0;
        for (; done < usable; done++) {
            int64_t batch_started = rs_mono_us();
            int64_t signed_now = s_sign_batch(ctx, &batches->batches[next + done],
                                              &rep->grants[done], &term);
            if (signed_now == S_SIGN_MASTER_WRONG) {
                args->failed = 1;
                s_release_held(ctx, 3);
                zsys_interrupted = 1;
                return;
            }
            /* A key that cannot be unsealed: this batch and those after
             * it ask for keys again, in the next request, which also gives
             * back the rest of these grants (and reports a broken key). */
            if (signed_now == S_SIGN_KEY_BROKEN)
                s_mark_broken(ctx, rep->grants[done].lease_id);
            /* A key not unsealed before any was goes back last: given
             * back first, it would be the least recently used key again
             * and come straight back, and its damage would read as a
             * wrong master key (failures in a row, all of it). */
            if (signed_now == S_SIGN_KEY_UNPROVEN)
                s_hold_last(ctx, rep->grants[done].lease_id);
            if (signed_now < 0)
                break;
            s_pace_add(ctx, (uint32_t) signed_now);
            if (done + 1 < usable && rs_mono_us() - batch_started > S_SLOW_BATCH_US) {
                /* The unused leases stay held and are given back by the
                 * next request. */
                one_at_a_time = true;
                done++;
                break;
            }
        }
        args->sign_us += rs_mono_us() - granted;
        next += done;
    }
}

/* Connects the pull socket to endpoint anew. libzmq reconnects a
 * connection that broke, but never one it dropped for a protocol error,
 * which a message over the size limit is: that ventilator would then send
 * to this thread no more, though it runs on. A fresh connect covers both
 * cases (for a broken connection it takes the place of libzmq's own
 * retry, with the same reconnect interval). */
static void s_pull_reconnect(s_ctx_t *ctx, const char *endpoint)
{
    const char *configured = NULL;
    for (size_t i = 0; i < ctx->ventilators.count; i++)
        if (!strcmp(ctx->ventilators.items[i], endpoint))
            configured = ctx->ventilators.items[i];
    /* The event names the address connected to, which for a host name is
     * not what was configured: with one ventilator there is no doubt. */
    if (!configured && ctx->ventilators.count == 1)
        configured = ctx->ventilators.items[0];
    if (!configured) {
        rs_warn("connection to %s dropped, which is none of --ventilator %s as given; left to libzmq's own reconnect",
                endpoint, ctx->args->ventilator);
        return;
    }
    (void) zsock_disconnect(ctx->pull, "%s", configured); /* gone already after a protocol error */
    if (zsock_connect(ctx->pull, "%s", configured) != 0)
        rs_warn("connecting to the ventilator at %s again failed: %s", configured,
                zmq_strerror(zmq_errno()));
}

/* A dropped connection to a ventilator (rs_refusal_drop_fn): logged,
 * counted and connected again (a message over --max-batch-mib is dropped
 * this way, as is the connection of a ventilator that stops). */
static void s_pull_dropped(void *arg, const char *endpoint)
{
    s_ctx_t *ctx = arg;
    ctx->args->pull_disconnects++;
    rs_info("connection to the ventilator at %s dropped (the ventilator stopped, or sent a message over the %lld MiB this worker accepts); connecting again; %llu so far",
            endpoint, (long long) (ctx->args->max_batch_bytes >> 20),
            (unsigned long long) ctx->args->pull_disconnects);
    s_pull_reconnect(ctx, endpoint);
}

static int s_setup(s_ctx_t *ctx, char *err, size_t err_size)
{
    wk_thread_args_t *args = ctx->args;
    /* A small receive queue per thread, in ZeroMQ and in the kernel:
     * batches wait at the ventilator, where an idle thread can take them,
     * not here. */
    const rs_socket_opts_t pull_opts = { .rcvhwm = 1, .rcvbuf = 64 * 1024,
                                         .max_msg_bytes = args->max_batch_bytes };
    if (rs_endpoints_parse(&ctx->ventilators, args->ventilator, RS_CONNECT, err, err_size) != 0)
        return -1;
    ctx->pull = rs_socket_new(ZMQ_PULL, args->ventilator, RS_CONNECT, &pull_opts, args->security,
                              "ventilator", err, err_size);
    if (!ctx->pull)
        return -1;
    /* Results are pushed with a linger so that a graceful stop still
     * delivers them, bounded so that a stop with the sink gone still ends
     * within seconds (the undelivered batches are dispatched again); at the
     * high-water mark the push blocks (backpressure from a slow sink), in
     * slices of the socket's send bound (1 s) to notice shutdown. */
    /* ZMQ_IMMEDIATE: results are queued only to sinks whose connection is
     * complete, so that with several sinks (--sink takes a list) a sink
     * that is down gets none of them (without it, PUSH would queue up to
     * the high-water mark for it and keep them until it comes back), and
     * when a connection drops its queue is dropped with it: the ventilator
     * sends those records again after --redispatch-ms without progress
     * (docs/RELIABILITY.md, "Several sinks"). With every sink down, the
     * push blocks as at the high-water mark. */
    const rs_socket_opts_t push_opts = { .sndhwm = 100, .linger_ms = 2000, .max_msg_bytes = 64,
                                         .immediate = true };
    ctx->push = rs_socket_new(ZMQ_PUSH, args->sink, RS_CONNECT, &push_opts, args->security,
                              "sink", err, err_size);
    if (!ctx->push)
        return -1;
    /* libzmq drops a message over the size limit by dropping the
     * connection, without a word to the application: the pull socket's
     * monitor is the only place that shows it, as a disconnection. */
    ctx->pull_refusal = rs_refusal_new(ctx->pull, s_pull_dropped, ctx);
    if (!ctx->pull_refusal) {
        snprintf(err, err_size, "cannot monitor the ventilator connection: %s",
                 zmq_strerror(zmq_errno()));
        return -1;
    }
    if (!rs_security_plain(args->security))
        ctx->push_refusal = rs_refusal_new(ctx->push, NULL, NULL);
    ctx->lease = wk_lease_client_new(args->keycoord, args->request_timeout_ms,
                                     WK_LEASE_FAILOVER_ATTEMPTS, args->security, err, err_size);
    if (!ctx->lease)
        return -1;
    ctx->poller = zpoller_new(ctx->pull, rs_refusal_pollable(ctx->pull_refusal), NULL);
    ctx->signer = rs_signer_new();
    /* Replies of up to 64 grants of RSA-4096 secrets: ~170 KB each, too
     * much for a thread's stack. */
    ctx->grants = malloc(sizeof *ctx->grants);
    ctx->other = malloc(sizeof *ctx->other);
    if (!ctx->poller || !ctx->signer || !ctx->grants || !ctx->other) {
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
        void *which = zpoller_wait(ctx.poller, 100);
        if (!which) {
            if (zpoller_terminated(ctx.poller))
                break;
            s_check_refused(&ctx, ctx.pull_refusal, "ventilator", args->ventilator,
                            &s_said_ventilator_refused);
            s_check_refused(&ctx, ctx.push_refusal, "sink", args->sink, &s_said_sink_refused);
            s_release_held(&ctx, 2);
            continue;
        }
        if (which == rs_refusal_pollable(ctx.pull_refusal)) {
            s_check_refused(&ctx, ctx.pull_refusal, "ventilator", args->ventilator,
                            &s_said_ventilator_refused);
            continue;
        }
        zmsg_t *msg = zmsg_recv(ctx.pull);
        if (!msg)
            break;
        zframe_t *frame = zmsg_first(msg);
        rs_batches_t batches;
        if (zmsg_size(msg) != 1
            || rs_batch_decode(&batches, zframe_data(frame), zframe_size(frame)) != 0) {
            args->dropped++;
            rs_metric_add(wk_metrics.dropped_malformed, 1);
            rs_warn("dropped a malformed batch message (%zu frames, %zu bytes)", zmsg_size(msg),
                    zmsg_content_size(msg));
        }
        else
            s_sign_batches(&ctx, &batches);
        zmsg_destroy(&msg);
        /* Keep the keys only if another message is already here to carry
         * their release (and no rate limit makes us wait); otherwise give
         * them back now for others to use. */
        if (ctx.held_count && (args->max_rate > 0 || !(zsock_events(ctx.pull) & ZMQ_POLLIN)))
            s_release_held(&ctx, 2);
    }
out:
    /* Graceful stop: give back what we hold, in one bounded attempt. */
    if (ctx.lease)
        s_release_held(&ctx, -1);
    rs_signer_destroy(&ctx.signer);
    free(ctx.grants);
    free(ctx.other);
    zpoller_destroy(&ctx.poller);
    wk_lease_client_destroy(&ctx.lease);
    rs_refusal_destroy(&ctx.push_refusal);
    rs_refusal_destroy(&ctx.pull_refusal);
    zsock_destroy(&ctx.push);
    zsock_destroy(&ctx.pull);
    return NULL;
}
