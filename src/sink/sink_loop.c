/* sink_loop: see sink_loop.h. */
#include "sink_loop.h"
#include "sink_metrics.h"
#include "rs_log.h"
#include "rs_socket.h"
#include "rs_time.h"

typedef struct {
    zsock_t *pull;
    sink_store_t *store;
    rs_security_t *security;
    const sink_loop_config_t *config;
    int64_t oldest_pending_us;  /* arrival of the oldest unflushed row, 0 if none */
    int64_t last_arrival_us;    /* arrival of the newest rows, 0 if none came since a flush */
    int64_t total, stored;      /* records in the table, signatures stored */
    int64_t top_id;             /* highest record id counted in total */
    int64_t stored_at_last_report, last_report_us, last_total_us;
    uint64_t dropped, fenced, unauthorized;
} s_loop_t;

/* Counts a dropped message and says why: the first few, then sparsely,
 * so that a flood does not flood the log. */
static void s_dropped(s_loop_t *self, const char *why, size_t bytes)
{
    self->dropped++;
    rs_metric_add(sink_metrics.dropped_malformed, 1);
    if (self->dropped <= 10 || self->dropped % 1000 == 0)
        rs_warn("dropped a %s of %zu bytes; %llu dropped so far", why, bytes,
                (unsigned long long) self->dropped);
}

static void s_take(s_loop_t *self, zframe_t *frame)
{
    if (!rs_security_allowed(self->security, frame)) {
        self->unauthorized++;
        rs_metric_add(sink_metrics.dropped_unauthorized, 1);
        if (self->unauthorized <= 10 || self->unauthorized % 1000 == 0)
            rs_warn("dropped results from a sender whose certificate is not (or no longer) allowed; %llu so far",
                    (unsigned long long) self->unauthorized);
        return;
    }
    rs_results_t results;
    if (rs_results_decode(&results, zframe_data(frame), zframe_size(frame)) != 0) {
        s_dropped(self, "malformed message", zframe_size(frame));
        return;
    }
    char sender[RS_SENDER_TAG_CHARS + 1];
    rs_security_sender_tag(self->security, frame, sender);
    if (sink_store_add(self->store, &results, sender) != 0) {
        s_dropped(self, "message of signatures that could not be buffered (out of memory; they will be signed again)",
                  zframe_size(frame));
        return;
    }
    self->last_arrival_us = rs_mono_us();
    rs_metric_set(sink_metrics.pending, (int64_t) sink_store_pending(self->store));
    if (!self->oldest_pending_us)
        self->oldest_pending_us = self->last_arrival_us;
}

/* Takes one received message: a single frame of RESULTS. */
static void s_take_msg(s_loop_t *self, zmsg_t *msg)
{
    if (zmsg_size(msg) != 1) {
        s_dropped(self, "message of several frames", zmsg_content_size(msg));
        return;
    }
    s_take(self, zmsg_first(msg));
}

/* A flush is due when rows have waited flush_ms, or when new rows came
 * and then nothing for a tenth of that (at least 2 ms): the end of a run,
 * or a pause, is stored at once rather than a whole interval later.
 * Returns the microseconds until then (0: now), or -1 with nothing pending. */
static int64_t s_flush_due_in(const s_loop_t *self, int64_t now)
{
    if (!self->oldest_pending_us)
        return -1;
    int64_t flush_us = (int64_t) self->config->flush_ms * 1000;
    int64_t due = self->oldest_pending_us + flush_us;
    if (self->last_arrival_us) {
        int64_t quiet_us = flush_us / 10 > 2000 ? flush_us / 10 : 2000;
        if (self->last_arrival_us + quiet_us < due)
            due = self->last_arrival_us + quiet_us;
    }
    return due > now ? due - now : 0;
}

/* Flushes, retrying with backoff while the database is away: until
 * shutdown, or a few times for the final flush. Returns 0 or -1. */
static int s_flush(s_loop_t *self, bool final)
{
    int backoff_ms = 100;
    for (int attempt = 1;; attempt++) {
        int64_t inserted, fenced;
        int64_t started = rs_mono_us();
        /* A session that broke while the sink was idle (its progress
         * counts skip a broken one) is replaced before the flush, not after
         * a failed try of it. */
        if (sink_store_reconnect(self->store) == 0
            && sink_store_flush(self->store, &inserted, &fenced) == 0) {
            rs_metric_observe_us(sink_metrics.flush_seconds, rs_mono_us() - started);
            rs_metric_add(sink_metrics.stored, (uint64_t) inserted);
            rs_metric_set(sink_metrics.pending, (int64_t) sink_store_pending(self->store));
            self->stored += inserted;
            self->fenced += (uint64_t) fenced;
            /* Rows left are waiting for their lease, which the keycoord
             * writes just after it answers (its commit, a few ms): try
             * again after the quiet period, not a whole flush interval
             * (that was the tail of a trickle's latency). */
            bool waiting = sink_store_pending(self->store) > 0;
            self->oldest_pending_us = waiting ? rs_mono_us() : 0;
            self->last_arrival_us = waiting ? self->oldest_pending_us : 0;
            return 0;
        }
        if ((zsys_interrupted && !final) || (final && attempt >= 5))
            return -1;
        rs_warn("flush of %zu signatures failed; retrying in %d ms",
                sink_store_pending(self->store), backoff_ms);
        zclock_sleep(backoff_ms);
        backoff_ms = backoff_ms * 2 < 5000 ? backoff_ms * 2 : 5000;
    }
}

static void s_report(s_loop_t *self, int64_t now)
{
    /* Records may be added while running: every 10 s, count those added
     * after the highest id counted so far (cheap at any table size); count
     * the whole table again only when more are stored than were counted
     * (records added below that id), at most once a second. */
    if (self->stored > self->total && now - self->last_total_us >= 1000000) {
        int64_t total, top;
        if (sink_store_count_records(self->store, &total, &top) == 0) {
            self->total = total;
            self->top_id = top;
        }
        self->last_total_us = now;
    }
    else if (now - self->last_total_us >= 10000000) {
        int64_t added, top;
        if (sink_store_count_records_after(self->store, self->top_id, &added, &top) == 0) {
            self->total += added;
            self->top_id = top;
        }
        self->last_total_us = now;
    }
    int64_t delta = self->stored - self->stored_at_last_report;
    /* Every second while signatures arrive, every 30 s while idle. */
    if (now - self->last_report_us < (delta ? 1000000 : 30000000))
        return;
    double seconds = (double) (now - self->last_report_us) / 1e6;
    rs_info("progress: %lld / %lld signed (%.1f%%), %.0f signatures/s",
            (long long) self->stored, (long long) self->total,
            self->total ? 100.0 * (double) self->stored / (double) self->total : 100.0,
            (double) delta / seconds);
    self->stored_at_last_report = self->stored;
    self->last_report_us = now;
}

int sink_loop_run(zsock_t *pull, sink_store_t *store, rs_security_t *security,
                  const sink_loop_config_t *config)
{
    s_loop_t self = { .pull = pull, .store = store, .security = security, .config = config };
    if (sink_store_count_records(store, &self.total, &self.top_id) != 0
        || sink_store_count_signed(store, &self.stored) != 0)
        rs_warn("cannot read the starting counts; progress will be approximate");
    self.stored_at_last_report = self.stored;
    self.last_report_us = self.last_total_us = rs_mono_us();
    rs_info("progress: %lld / %lld signed at start", (long long) self.stored,
            (long long) self.total);

    zpoller_t *poller = zpoller_new(pull, NULL);
    while (!zsys_interrupted) {
        int64_t now = rs_mono_us();
        int64_t due_in = s_flush_due_in(&self, now);
        int wait_ms = due_in < 0 ? 1000 : (int) ((due_in + 999) / 1000);
        if (zpoller_wait(poller, wait_ms)) {
            /* Take what is waiting, up to one flush's worth. */
            while (sink_store_pending(store) < config->flush_rows) {
                zmsg_t *msg = rs_socket_recv_ready(pull);
                if (!msg)
                    break;
                s_take_msg(&self, msg);
                zmsg_destroy(&msg);
            }
        }
        else if (zpoller_terminated(poller))
            break;
        now = rs_mono_us();
        bool due = s_flush_due_in(&self, now) == 0;
        if ((sink_store_pending(store) >= config->flush_rows || due) && s_flush(&self, false) != 0)
            break;
        s_report(&self, now);
    }
    /* Graceful stop: keep what already arrived. */
    for (;;) {
        zmsg_t *msg = rs_socket_recv_ready(pull);
        if (!msg)
            break;
        s_take_msg(&self, msg);
        zmsg_destroy(&msg);
    }
    int rc = 0;
    if (sink_store_pending(store) > 0 && s_flush(&self, true) != 0) {
        rs_error("gave up %zu unflushed signatures at shutdown; their records will be signed again",
                 sink_store_pending(store));
        rc = -1;
    }
    s_report(&self, rs_mono_us() + 60000000);
    rs_info("stopped: %llu signatures refused by lease fencing, %llu malformed messages dropped, %llu from senders not allowed",
            (unsigned long long) self.fenced, (unsigned long long) self.dropped,
            (unsigned long long) self.unauthorized);
    zpoller_destroy(&poller);
    return rc;
}
