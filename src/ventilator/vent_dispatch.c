/* vent_dispatch: see vent_dispatch.h. */
#include "vent_dispatch.h"
#include "vent_metrics.h"
#include "rs_db.h"
#include "rs_log.h"
#include "rs_proto.h"
#include "rs_time.h"

#include <stdbool.h>
#include <stdio.h>

/* Payload bytes read per page, past its first row: with the message
 * (RS_BATCH_BYTES_MAX, held here, in its frame and in at most two ZeroMQ
 * queue slots) it bounds this process's memory in bytes whatever the
 * payloads and the batch size: under 64 MiB with 1 MiB payloads. */
#define S_PAGE_BYTES (2 * 1024 * 1024)
/* Refused records named in the run's last line, at most. */
#define S_REFUSED_NAMED 10

typedef struct {
    vent_store_t *store;
    const vent_dispatch_config_t *config;
    vent_batcher_t *batcher;
    int64_t watermark;        /* every record with a lower id is signed */
    uint64_t passes;
    int64_t refused;          /* unsigned records over the payload limit, at the last count */
    int64_t backlog;          /* unsigned records at the last count: the gauge's value */
} s_dispatch_t;

/* A record whose payload is over the contract's limit cannot be signed:
 * recorded once in records_refused (logged when first recorded), never
 * sent, and not awaited. A failure to record it is logged by the store;
 * the next scan that meets the record tries again. */
static void s_refuse(vent_store_t *store, int64_t run_id, int64_t id, int64_t len)
{
    int rc = vent_store_refuse(store, run_id, id, len);
    if (rc == 1) {
        rs_metric_add(vent_metrics.refused, 1);
        rs_error("record %lld cannot be signed: payload of %lld bytes; at most %u allowed (recorded in records_refused)",
                 (long long) id, (long long) len, RS_PAYLOAD_MAX);
    }
    else if (rc == 0)
        rs_debug("record %lld refused again (payload of %lld bytes)", (long long) id,
                 (long long) len);
}

int vent_dispatch_scan(vent_store_t *store, vent_batcher_t *batcher,
                       const vent_dispatch_config_t *config, const vent_scan_range_t *range,
                       vent_scan_result_t *out)
{
    const int page_rows = config->page_rows;
    int64_t after = range->from;
    bool first = range->from_inclusive;
    int backoff = 100;
    *out = (vent_scan_result_t) { .complete = true };
    for (int pages = 1;; pages++) {
        PGresult *page = vent_store_page(store, after, first, range->descending, page_rows,
                                         S_PAGE_BYTES);
        if (!page) {
            if (!vent_store_backoff(store, &backoff))
                return 1;
            continue;
        }
        backoff = 100;
        int rows = PQntuples(page);
        int64_t page_bytes = 0; /* as the page query counts them */
        for (int i = 0; i < rows; i++) {
            int64_t id = rs_db_get_int8(page, i, 0);
            if (range->bounded && (range->descending ? id < range->to : id > range->to)) {
                PQclear(page);
                return 0;
            }
            bool is_signed = PQgetisnull(page, i, 2);
            int64_t len = is_signed ? 0 : rs_db_get_int8(page, i, 2);
            bool refused = !is_signed && (len > (int64_t) RS_PAYLOAD_MAX || PQgetisnull(page, i, 1));
            if (!is_signed && !refused)
                page_bytes += len;
            vent_scan_verdict_t verdict = VENT_SCAN_SEND;
            if (!is_signed && !refused && range->filter)
                verdict = range->filter(range->filter_arg, id);
            after = id;
            first = false;
            out->read = true;
            out->last = id;
            if (is_signed)
                continue;
            if (refused) {
                out->refused++;
                s_refuse(store, config->run_id, id, len);
                continue;
            }
            if (!out->any_unsigned) {
                out->any_unsigned = true;
                out->lowest = id;
            }
            if (verdict == VENT_SCAN_SKIP)
                continue;
            const uint8_t *payload = (const uint8_t *) PQgetvalue(page, i, 1);
            out->found++;
            if (range->set_backlog && (int64_t) out->found > range->backlog_floor)
                rs_metric_set(vent_metrics.backlog, (int64_t) out->found);
            if (vent_batcher_add(batcher, id, payload, (size_t) len) != 0) {
                PQclear(page);
                return 1;
            }
        }
        PQclear(page);
        /* A page cut by its bytes is no sign of the range's end. */
        if ((rows < page_rows && page_bytes < S_PAGE_BYTES)
            || (range->bounded && after == range->to))
            return 0;
        if (range->max_pages > 0 && pages >= range->max_pages) {
            out->complete = false;
            return 0;
        }
    }
}

/* One pass over every record unsigned now: from the watermark on, since
 * everything below it is signed. Returns 0, 1 when interrupted. */
static int s_pass(s_dispatch_t *self)
{
    self->passes++;
    rs_metric_add(vent_metrics.passes, 1);
    uint64_t sent_before = vent_batcher_records(self->batcher);
    const vent_scan_range_t all = { .from = self->watermark, .from_inclusive = true,
                                    .set_backlog = true, .backlog_floor = self->backlog };
    vent_scan_result_t seen;
    if (vent_dispatch_scan(self->store, self->batcher, self->config, &all, &seen) != 0
        || vent_batcher_flush(self->batcher) != 0)
        return 1;
    /* What this pass sent was unsigned when it read it: the backlog. */
    uint64_t sent = vent_batcher_records(self->batcher) - sent_before;
    self->backlog = (int64_t) sent;
    rs_metric_set(vent_metrics.backlog, self->backlog);
    if (self->passes > 1)
        rs_metric_add(vent_metrics.redispatched, sent);
    return 0;
}

/* What a watch of the run's end saw. */
typedef enum {
    S_WATCH_ALL_SIGNED = 0,  /* every record is signed: the run is complete */
    S_WATCH_INTERRUPTED = 1, /* a stop was requested */
    S_WATCH_STALLED = 2,     /* no progress for the re-dispatch timeout: send again */
} s_watch_t;

/* Watches the run's end until all is signed, progress stalls for the
 * re-dispatch timeout, or a stop is requested. A poll costs what was
 * signed since the last one, not the size of the tables: it moves the
 * watermark up to the lowest unsigned record (every record below it is
 * signed). Only while the watermark stands still does it also count the
 * signatures above it (the batches still in flight), so that a lost batch
 * at the watermark is sent again only once everything else has stopped
 * moving. When nothing is unsigned from the watermark on, one exact count
 * over the whole table (a hash anti-join, as dear as a pass) confirms the
 * end; it also finds records added anywhere since the pass, which a next
 * pass sends. The first poll after a pass is that exact count too: what
 * was signed since the pass began is most of the pass, and walking it
 * probes the signatures' primary key once per record (measured: 250,000
 * buffer reads for 100,000 records, more than the sink's COPY of them)
 * where the anti-join reads each table once (4,000). Polls are 50 ms apart
 * while signing progresses, so that the watch takes next to nothing from
 * the signing it watches. */
static s_watch_t s_watch(s_dispatch_t *self)
{
    int64_t last_mark = self->watermark, last_span = -1;
    int64_t last_progress = rs_mono_us();
    int backoff = 100;
    int sleep_ms = 10;
    bool first_poll = true;
    while (!zsys_interrupted) {
        bool found = false;
        int64_t mark = 0, span = 0;
        if (first_poll)
            found = false; /* straight to the exact count below */
        else if (vent_store_first_unsigned(self->store, self->watermark, &found, &mark) != 0) {
            if (!vent_store_backoff(self->store, &backoff))
                return S_WATCH_INTERRUPTED;
            continue;
        }
        if (!found) {
            /* Nothing unsigned from the watermark on: confirm. */
            int64_t unsigned_count = 0;
            if (vent_store_unsigned_exact(self->store, &unsigned_count, &mark, &self->refused)
                != 0) {
                if (!vent_store_backoff(self->store, &backoff))
                    return S_WATCH_INTERRUPTED;
                continue;
            }
            first_poll = false;
            self->backlog = unsigned_count;
            rs_metric_set(vent_metrics.backlog, unsigned_count);
            if (unsigned_count == 0)
                return S_WATCH_ALL_SIGNED;
            rs_debug("%lld records unsigned, the lowest id %lld", (long long) unsigned_count,
                     (long long) mark);
        }
        self->watermark = mark;
        rs_metric_set(vent_metrics.watermark, mark);
        bool moved = mark != last_mark;
        if (!moved && vent_store_count_signed_from(self->store, mark, &span) != 0) {
            if (!vent_store_backoff(self->store, &backoff))
                return S_WATCH_INTERRUPTED;
            continue;
        }
        backoff = 100;
        int64_t now = rs_mono_us();
        if (moved || span != last_span) {
            last_mark = mark;
            last_span = moved ? -1 : span;
            last_progress = now;
            sleep_ms = 50;
        }
        else if (now - last_progress >= (int64_t) self->config->redispatch_ms * 1000) {
            rs_info("record %lld and maybe some after it still unsigned and no progress for %d ms: dispatching them again",
                    (long long) mark, self->config->redispatch_ms);
            return S_WATCH_STALLED;
        }
        else
            sleep_ms = sleep_ms < 100 ? sleep_ms * 2 : 200;
        zclock_sleep(sleep_ms);
    }
    return S_WATCH_INTERRUPTED;
}

vent_run_end_t vent_dispatch_run(zsock_t *push, vent_store_t *store,
                                 const vent_dispatch_config_t *config)
{
    s_dispatch_t self = { .store = store, .config = config, .watermark = INT64_MIN };
    self.batcher = vent_batcher_new(push, store, config->run_id, config->batch_size);
    if (!self.batcher) {
        rs_error("out of memory");
        return VENT_RUN_FAILED;
    }
    vent_run_end_t rc;
    for (;;) {
        if (s_pass(&self) != 0) {
            rc = VENT_RUN_INTERRUPTED;
            break;
        }
        rs_info("pass %llu: %llu batches, %llu records dispatched so far; %llu batches cut short to keep messages within %u bytes",
                (unsigned long long) self.passes,
                (unsigned long long) vent_batcher_batches(self.batcher),
                (unsigned long long) vent_batcher_records(self.batcher),
                (unsigned long long) vent_batcher_cut_short(self.batcher), RS_BATCH_BYTES_MAX);
        s_watch_t watched = s_watch(&self);
        if (watched == S_WATCH_STALLED)
            continue;
        rc = watched == S_WATCH_ALL_SIGNED ? VENT_RUN_FINISHED : VENT_RUN_INTERRUPTED;
        break;
    }
    if (rc == VENT_RUN_FINISHED) {
        int backoff = 100;
        while (vent_store_mark_finished(store, config->run_id) != 0)
            if (!vent_store_backoff(store, &backoff))
                break;
        rs_metric_set(vent_metrics.backlog, 0);
        int64_t started = vent_batcher_started_us(self.batcher);
        double seconds = started ? (double) (rs_mono_us() - started) / 1e6 : 0;
        if (self.refused == 0)
            rs_info("run %lld complete: every record is signed; this process dispatched %llu records in %llu batches over %.3f s",
                    (long long) config->run_id,
                    (unsigned long long) vent_batcher_records(self.batcher),
                    (unsigned long long) vent_batcher_batches(self.batcher), seconds);
        else {
            char named[1024] = "";
            if (vent_store_refused_sample(store, S_REFUSED_NAMED, named, sizeof named) != 0)
                snprintf(named, sizeof named, "(cannot list them)");
            rs_error("run %lld ended: every record is signed but %lld that cannot be (payload over %u bytes): %s%s; see records_refused",
                     (long long) config->run_id, (long long) self.refused, RS_PAYLOAD_MAX, named,
                     self.refused > S_REFUSED_NAMED ? ", ..." : "");
            rc = VENT_RUN_REFUSED;
        }
    }
    vent_batcher_destroy(&self.batcher);
    return rc;
}
