/* vent_follow: see vent_follow.h. */
#include "vent_follow.h"
#include "vent_inflight.h"
#include "vent_metrics.h"
#include "rs_log.h"
#include "rs_proto.h"
#include "rs_time.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

/* The safety poll's period: how late a record whose notification was lost
 * (or that committed below the watermark long after it passed) is noticed
 * at worst, the sweep aside. */
#define S_SAFETY_MS 1000
/* The watch's period while records are in flight: the batch run's 50 ms. */
#define S_WATCH_MS 50
/* Pages one watch reads at most, so that a tick stays short when much is
 * in flight (the watermark climbs that far per tick). */
#define S_WATCH_PAGES 8
/* At a trickle (at most this many batches in flight), a notification also
 * runs the watch at once, at most every S_QUICK_WATCH_MS: a record
 * committed below the cursor (concurrent writers commit out of id order,
 * and at a trickle most records are such) leaves then, not at the next
 * 50 ms tick. Under load the in-flight set is larger and the watch keeps
 * its period, so that its cost does not grow with the notifications. */
#define S_QUICK_WATCH_BATCHES 4
#define S_QUICK_WATCH_MS 5
/* Pages one read above the cursor takes at most, so that the watch, the
 * linger and notifications get their turn while a large backlog is read
 * (the loop reads on at once). */
#define S_READ_PAGES 8
/* Passed ranges waiting for their transactions at most; when full, the
 * newest grows (and waits for the newest transactions). */
#define S_PASSED_MAX 64
/* Records found late are logged at most this often. */
#define S_LATE_LOG_US (10 * 1000000)
/* Longest sleep in one wait, so that shutdown is noticed promptly. */
#define S_WAIT_MAX_MS 100
/* Records that cannot be signed named in the run's last line, at most (as
 * a batch run's). */
#define S_REFUSED_NAMED 10
/* How far the wait before records are sent again grows, in multiples of
 * --redispatch-ms, while sending them again moves nothing: a keycoord that
 * holds its grants for a lease TTL after a database outage (11 s with the
 * defaults) made every record sent meanwhile go out 4 times more, each
 * copy signed once the grants resumed (helper 34's measurement). */
#define S_REDISPATCH_BACKOFF_MAX 8

/* ids [from, to) passed by the watermark while transactions below xmax ran. */
typedef struct {
    int64_t from, to;
    uint64_t xmax;
} s_passed_t;

typedef struct {
    vent_store_t *store;
    const vent_dispatch_config_t *config;
    vent_batcher_t *batcher;
    vent_inflight_t *inflight;
    bool have_cursor;
    int64_t cursor;          /* highest record id read above */
    bool more_above;         /* the last read above stopped early (set full) */
    int64_t watermark;       /* every record below it was signed at the last watch */
    int64_t mark_since_us;   /* when the watermark got where it stands */
    bool stalled;            /* it has stood for redispatch_wait_ms: lost records are sent again */
    int64_t redispatch_wait_ms; /* redispatch_ms, doubled after each sending again that moved
                                 * nothing (up to S_REDISPATCH_BACKOFF_MAX times); back when the
                                 * watermark moves */
    /* Records sent while the in-flight set was full, untracked, as a batch
     * run's pass sends them: all lie in [pass_from, pass_to]. An unsigned
     * record there that the set does not hold counts as in flight until the
     * watermark stalls (then it is sent again), so that a backlog of any
     * size drains at the dispatch rate in bounded memory. */
    bool passing;
    int64_t pass_from, pass_to;
    uint64_t untracked;      /* records sent untracked, in passes */
    /* Ranges the watermark passed, each to be read once more when every
     * transaction running as it passed them has ended (their xmax): a
     * transaction that inserted ids there may have committed after. */
    s_passed_t passed[S_PASSED_MAX];
    size_t passed_head, passed_count;
    int64_t sweep;           /* the sweep's position */
    bool sweep_started;      /* false: the next sweep page starts at the watermark */
    bool missed_above;       /* notified, but nothing new was above the cursor */
    int64_t next_quick_sweep_us; /* no sweep for missed_above before this */
    uint64_t connections;    /* the store's connection count at the last read above */
    int64_t now_us;          /* the time of the scan under way */
    int64_t watched_us;      /* when the last watch ran */
    uint64_t redispatched, found_late, found_swept;
    uint64_t refused_seen;   /* reads of records over the payload limit (refused, not sent) */
    uint64_t late_logged;    /* found_late when last logged */
    int64_t late_logged_us;
} s_follow_t;

/* Says how many records were found late since it last said so, at most
 * every 10 s: with concurrent writers, commits out of id order are routine
 * and would otherwise log a line per watch. */
static void s_log_late(s_follow_t *self, int64_t now)
{
    if (self->found_late == self->late_logged || now - self->late_logged_us < S_LATE_LOG_US)
        return;
    rs_info("%llu records committed below ids read before them (writers committing out of id order); found and dispatched",
            (unsigned long long) (self->found_late - self->late_logged));
    self->late_logged = self->found_late;
    self->late_logged_us = now;
}

/* Walks range (vent_dispatch_scan) and counts the refused records it met.
 * Returns 0, 1 when interrupted. */
static int s_scan(s_follow_t *self, const vent_scan_range_t *range, vent_scan_result_t *seen)
{
    int rc = vent_dispatch_scan(self->store, self->batcher, self->config, range, seen);
    self->refused_seen += seen->refused;
    return rc;
}

/* The in-flight filter: an unsigned record not sent yet is sent (and
 * tracked, or, while the set is full, added to the pass). One sent already
 * is in flight, unless the watermark has stood still for redispatch_ms and
 * it was sent that long ago (or, untracked in the pass, at any time): then
 * it was lost (a record merely queued behind slow work would let the
 * watermark move), and is sent again. */
static vent_scan_verdict_t s_filter(void *arg, int64_t id)
{
    s_follow_t *self = arg;
    int64_t sent_us = 0;
    bool tracked = vent_inflight_get(self->inflight, id, &sent_us);
    bool in_pass = !tracked && self->passing && id >= self->pass_from && id <= self->pass_to;
    if (tracked || in_pass) {
        if (!self->stalled || (tracked && self->now_us - sent_us < self->redispatch_wait_ms * 1000))
            return VENT_SCAN_SKIP;
        self->redispatched++;
    }
    if (vent_inflight_put(self->inflight, id, self->now_us) != 0 && !in_pass) {
        if (!self->passing) {
            self->passing = true;
            self->pass_from = self->pass_to = id;
        }
        else if (id < self->pass_from)
            self->pass_from = id;
        else if (id > self->pass_to)
            self->pass_to = id;
        self->untracked++;
    }
    return VENT_SCAN_SEND;
}

/* Reads the records above the cursor and sends the unsigned ones, at most
 * S_READ_PAGES pages (more_above: the rest next, at once). Returns 0, 1
 * when interrupted. */
static int s_read_new(s_follow_t *self)
{
    self->connections = vent_store_connections(self->store);
    self->now_us = rs_mono_us();
    const vent_scan_range_t above = { .from = self->have_cursor ? self->cursor : INT64_MIN,
                                      .from_inclusive = !self->have_cursor,
                                      .max_pages = S_READ_PAGES, .filter = s_filter,
                                      .filter_arg = self };
    vent_scan_result_t seen;
    int rc = s_scan(self, &above, &seen);
    if (seen.read) {
        self->cursor = seen.last;
        self->have_cursor = true;
    }
    self->more_above = !seen.complete;
    return rc;
}

/* Sends the message being built when its batches are all full (a full
 * batch does not wait: as in Kafka, only a partial one lingers), or once
 * its first record has waited linger_ms. Returns 0, 1 when interrupted. */
static int s_linger(s_follow_t *self, int64_t now)
{
    int64_t since = vent_batcher_pending_since_us(self->batcher);
    if (since
        && (vent_batcher_partial(self->batcher) == 0
            || now - since >= (int64_t) self->config->linger_ms * 1000))
        return vent_batcher_flush(self->batcher);
    return 0;
}

/* Queues [from, to) for a re-read once every transaction below xmax has
 * ended. */
static void s_pass_range(s_follow_t *self, int64_t from, int64_t to, uint64_t xmax)
{
    if (from >= to)
        return;
    if (self->passed_count == S_PASSED_MAX) {
        s_passed_t *newest
            = &self->passed[(self->passed_head + self->passed_count - 1) % S_PASSED_MAX];
        if (from < newest->from)
            newest->from = from;
        if (to > newest->to)
            newest->to = to;
        newest->xmax = xmax;
        return;
    }
    self->passed[(self->passed_head + self->passed_count) % S_PASSED_MAX]
        = (s_passed_t) { .from = from, .to = to, .xmax = xmax };
    self->passed_count++;
}

/* Re-reads the passed ranges whose transactions have all ended (below
 * xmin), sending what committed there late. Returns 0, 1 when interrupted. */
static int s_reread_passed(s_follow_t *self, uint64_t xmin)
{
    while (self->passed_count > 0 && self->passed[self->passed_head].xmax <= xmin) {
        const s_passed_t *p = &self->passed[self->passed_head];
        const vent_scan_range_t range = { .from = p->from, .from_inclusive = true, .bounded = true,
                                          .to = p->to - 1 };
        vent_scan_result_t seen;
        if (s_scan(self, &range, &seen) != 0)
            return 1;
        self->found_late += seen.found;
        self->passed_head = (self->passed_head + 1) % S_PASSED_MAX;
        self->passed_count--;
    }
    return 0;
}

/* The watch: re-reads from the watermark to the cursor, sending what was
 * never sent or was sent too long ago, and moves the watermark to the
 * lowest unsigned record read; the range it passed is re-read once the
 * transactions running meanwhile have ended. Returns 0, 1 when interrupted. */
static int s_watch(s_follow_t *self)
{
    if (!self->have_cursor)
        return 0;
    self->now_us = rs_mono_us();
    self->watched_us = self->now_us;
    self->stalled = self->now_us - self->mark_since_us >= self->redispatch_wait_ms * 1000;
    const vent_scan_range_t range = { .from = self->watermark, .from_inclusive = true,
                                      .bounded = true, .to = self->cursor,
                                      .max_pages = S_WATCH_PAGES, .filter = s_filter,
                                      .filter_arg = self };
    uint64_t redispatched = self->redispatched;
    vent_scan_result_t seen;
    if (s_scan(self, &range, &seen) != 0)
        return 1;
    /* Taken after the scan: every transaction the scan could not see is
     * below this xmax, or started after it (and so, if it takes its ids
     * from a sequence, inserts above the cursor). */
    uint64_t xmin = 0, xmax = 0;
    int backoff = 100;
    while (vent_store_snapshot(self->store, &xmin, &xmax) != 0)
        if (!vent_store_backoff(self->store, &backoff))
            return 1;
    int64_t mark;
    if (seen.any_unsigned)
        mark = seen.lowest;
    else if (seen.complete)
        mark = self->cursor < INT64_MAX ? self->cursor + 1 : self->cursor;
    else if (seen.read)
        mark = seen.last + 1; /* every record read is signed; the rest next time */
    else
        mark = self->watermark;
    uint64_t sent_again = self->redispatched - redispatched;
    rs_metric_add(vent_metrics.redispatched, sent_again);
    if (sent_again)
        rs_info("%llu records sent more than %lld ms ago are still unsigned, the lowest %lld: dispatched again",
                (unsigned long long) sent_again, (long long) self->redispatch_wait_ms,
                (long long) mark);
    if (mark != self->watermark)
        self->redispatch_wait_ms = self->config->redispatch_ms;
    else if (sent_again
             && self->redispatch_wait_ms * 2
                    <= (int64_t) self->config->redispatch_ms * S_REDISPATCH_BACKOFF_MAX)
        self->redispatch_wait_ms *= 2;
    self->found_late += seen.found - sent_again;
    s_pass_range(self, self->watermark, mark, xmax);
    if (mark != self->watermark || sent_again)
        self->mark_since_us = self->now_us;
    self->watermark = mark;
    self->stalled = false;
    vent_inflight_prune_below(self->inflight, mark);
    if (self->passing && mark > self->pass_to)
        self->passing = false; /* the whole pass is signed */
    /* Follow mode's backlog: records tracked in flight (sent and not yet
     * seen signed; those sent past a full set are not counted). */
    rs_metric_set(vent_metrics.watermark, mark);
    rs_metric_set(vent_metrics.backlog, (int64_t) vent_inflight_count(self->inflight));
    return s_reread_passed(self, xmin);
}

/* One page of the sweep, down from the watermark (where ids committed out
 * of order are likeliest) to the lowest id, then again from the watermark;
 * with top, the page right below the watermark only, leaving the sweep's
 * position alone. Returns 0, 1 when interrupted. */
static int s_sweep(s_follow_t *self, bool top)
{
    if (!self->have_cursor || self->watermark == INT64_MIN)
        return 0; /* nothing lies below the watermark */
    bool resume = self->sweep_started && !top;
    const vent_scan_range_t sweep = { .from = resume ? self->sweep : self->watermark,
                                      .descending = true, .bounded = true, .to = INT64_MIN,
                                      .max_pages = 1 };
    vent_scan_result_t seen;
    if (s_scan(self, &sweep, &seen) != 0)
        return 1;
    if (top) {
        /* Commits out of id order, as the watch finds them: counted and
         * logged with those. */
        self->found_late += seen.found;
        return 0;
    }
    if (seen.found) {
        self->found_swept += seen.found;
        rs_info("the sweep found %llu unsigned records below the watermark; dispatched",
                (unsigned long long) seen.found);
    }
    self->sweep_started = !seen.complete && seen.read;
    if (self->sweep_started)
        self->sweep = seen.last;
    return 0;
}

/* The safety poll: the records above the cursor (a lost notification) and
 * one page of the sweep below the watermark (ids inserted anywhere, or
 * committed there after the re-read). Returns 0, 1 when interrupted. */
static int s_safety(s_follow_t *self)
{
    if (s_read_new(self) != 0)
        return 1;
    return s_sweep(self, false);
}

/* Waits up to wait_ms for a notification. Returns the notifications that
 * arrived (0: none), or -1 when interrupted while the database is away.
 * A broken session is replaced before it returns, with backoff: the safety
 * poll that follows needs one (each query trying alone would start its
 * backoff afresh, and the outage would log every 200 ms). */
static int s_wait(s_follow_t *self, int64_t wait_ms)
{
    int fd = vent_store_socket(self->store);
    if (fd >= 0) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        if (wait_ms > 0 && poll(&pfd, 1, (int) wait_ms) < 0 && errno != EINTR)
            rs_warn("waiting for notifications failed: %s", strerror(errno));
        int notified = vent_store_notified(self->store);
        if (notified >= 0)
            return notified;
        rs_warn("the database connection broke while waiting for notifications; reconnecting");
    }
    int backoff = 100;
    do {
        if (!vent_store_backoff(self->store, &backoff))
            return -1;
    } while (vent_store_socket(self->store) < 0);
    return 0;
}

/* The run's last line, with `done` (what this process sent), naming the
 * records that cannot be signed, refused by this run or an earlier one and
 * still there. Returns VENT_RUN_FINISHED, or VENT_RUN_REFUSED when there
 * are such records (as a batch run that ends with them). */
static vent_run_end_t s_report_end(s_follow_t *self, const char *done)
{
    int64_t run_id = self->config->run_id;
    int64_t refused = 0;
    char named[1024] = "";
    /* When the database is away at the end, what this run read says. */
    bool listed = vent_store_refused_left(self->store, S_REFUSED_NAMED, &refused, named,
                                          sizeof named) == 0;
    if (listed ? refused == 0 : self->refused_seen == 0) {
        rs_info("follow run %lld ended on request: %s; what is unsigned is signed by the next run",
                (long long) run_id, done);
        return VENT_RUN_FINISHED;
    }
    if (listed)
        rs_error("follow run %lld ended on request: %s; %lld records cannot be signed (payload over %u bytes): %s%s; see records_refused; what else is unsigned is signed by the next run",
                 (long long) run_id, done, (long long) refused, RS_PAYLOAD_MAX, named,
                 refused > S_REFUSED_NAMED ? ", ..." : "");
    else
        rs_error("follow run %lld ended on request: %s; it read records that cannot be signed (payload over %u bytes), which cannot be listed now; see records_refused",
                 (long long) run_id, done, RS_PAYLOAD_MAX);
    return VENT_RUN_REFUSED;
}

vent_run_end_t vent_follow_run(zsock_t *push, vent_store_t *store,
                               const vent_dispatch_config_t *config)
{
    s_follow_t self = { .store = store, .config = config, .watermark = INT64_MIN };
    self.batcher = vent_batcher_new(push, store, config->run_id, config->batch_size);
    self.inflight = vent_inflight_new(config->inflight_max);
    if (!self.batcher || !self.inflight) {
        rs_error("out of memory");
        vent_batcher_destroy(&self.batcher);
        vent_inflight_destroy(&self.inflight);
        return VENT_RUN_FAILED;
    }
    /* The backlog: read as new records are, from the lowest id. rc: 0, or
     * 1 when a stop was requested during a send or a database wait. */
    int rc = s_read_new(&self);
    if (rc == 0)
        rc = vent_batcher_flush(self.batcher);
    if (rc == 0)
        rs_info("backlog %s: %llu records in %llu batches; following inserted records (linger %d ms)",
                self.more_above ? "dispatching" : "dispatched",
                (unsigned long long) vent_batcher_records(self.batcher),
                (unsigned long long) vent_batcher_batches(self.batcher), config->linger_ms);
    int64_t now = rs_mono_us();
    int64_t next_watch = now, next_safety = now + S_SAFETY_MS * 1000;
    self.mark_since_us = now;
    self.redispatch_wait_ms = config->redispatch_ms;
    while (rc == 0 && !zsys_interrupted) {
        now = rs_mono_us();
        int64_t wake = next_watch < next_safety ? next_watch : next_safety;
        int64_t since = vent_batcher_pending_since_us(self.batcher);
        if (since && since + (int64_t) config->linger_ms * 1000 < wake)
            wake = since + (int64_t) config->linger_ms * 1000;
        int64_t wait_ms = wake > now && !self.more_above ? (wake - now + 999) / 1000 : 0;
        int notified = s_wait(&self, wait_ms < S_WAIT_MAX_MS ? wait_ms : S_WAIT_MAX_MS);
        if (notified < 0 || zsys_interrupted)
            break;
        /* A new connection may have missed notifications: read anyway. */
        if (notified > 0 || self.more_above
            || vent_store_connections(store) != self.connections) {
            uint64_t before = vent_batcher_records(self.batcher) + vent_batcher_pending(self.batcher);
            rc = s_read_new(&self);
            /* Notified, and nothing new above the cursor: the records went
             * below it (ids committed out of order, or below an id far
             * above the rest). Sweep down from the watermark now, at most
             * once a watch period. */
            uint64_t after = vent_batcher_records(self.batcher) + vent_batcher_pending(self.batcher);
            if (rc == 0 && notified > 0 && after == before)
                self.missed_above = true;
        }
        now = rs_mono_us();
        if (rc == 0 && notified > 0
            && vent_inflight_count(self.inflight)
                   <= (size_t) S_QUICK_WATCH_BATCHES * config->batch_size
            && now - self.watched_us >= S_QUICK_WATCH_MS * 1000)
            rc = s_watch(&self);
        if (rc == 0 && self.missed_above && now >= self.next_quick_sweep_us) {
            self.missed_above = false;
            self.next_quick_sweep_us = now + S_WATCH_MS * 1000;
            rc = s_sweep(&self, true);
        }
        if (rc == 0)
            rc = s_linger(&self, now);
        if (rc == 0 && now >= next_watch) {
            rc = s_watch(&self);
            bool busy = vent_inflight_count(self.inflight) > 0 || self.watermark <= self.cursor;
            next_watch = now + (busy ? S_WATCH_MS : S_SAFETY_MS) * 1000;
        }
        if (rc == 0 && now >= next_safety) {
            rc = s_safety(&self);
            next_safety = now + S_SAFETY_MS * 1000;
            s_log_late(&self, now);
        }
        /* Something was sent: watch it soon. */
        if (vent_batcher_pending(self.batcher) && next_watch > now + S_WATCH_MS * 1000)
            next_watch = now + S_WATCH_MS * 1000;
    }
    /* Interrupted: the run ends here, cleanly. What is unsigned now, the
     * open message included, is the next run's. */
    int backoff = 100;
    while (vent_store_mark_finished(store, config->run_id) != 0)
        if (!vent_store_backoff(store, &backoff)) {
            rs_warn("run %lld could not be recorded as finished; the next start resumes it",
                    (long long) config->run_id);
            break;
        }
    char done[400];
    snprintf(done, sizeof done,
             "this process dispatched %llu records in %llu batches (%llu past the in-flight set, %llu sent again, %llu found late, %llu found by the sweep, %llu batches cut short to keep messages within %u bytes)",
             (unsigned long long) vent_batcher_records(self.batcher),
             (unsigned long long) vent_batcher_batches(self.batcher),
             (unsigned long long) self.untracked,
             (unsigned long long) self.redispatched, (unsigned long long) self.found_late,
             (unsigned long long) self.found_swept,
             (unsigned long long) vent_batcher_cut_short(self.batcher), RS_BATCH_BYTES_MAX);
    vent_run_end_t end = s_report_end(&self, done);
    vent_inflight_destroy(&self.inflight);
    vent_batcher_destroy(&self.batcher);
    return end;
}
