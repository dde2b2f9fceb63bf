/* vent_dispatch: see vent_dispatch.h. */
#include "vent_dispatch.h"
#include "vent_metrics.h"
#include "rs_db.h"
#include "rs_log.h"
#include "rs_proto.h"
#include "rs_time.h"

#include <stdbool.h>

/* Small batches travel several to a message, up to this many records: one
 * message, and one lease request, then carry many batches, which is what
 * makes batch sizes of 1 or 10 fast. Small enough that a message is a few
 * milliseconds of signing, so threads still share the work evenly. */
#define S_MESSAGE_RECORDS 1024u
#define S_MESSAGE_BYTES (256u * 1024u) /* and no more bytes than this */
/* Payload bytes read per page, past its first row: with the message
 * (RS_BATCH_BYTES_MAX, held here, in its frame and in at most two ZeroMQ
 * queue slots) it bounds this process's memory in bytes whatever the
 * payloads and the batch size: under 64 MiB with 1 MiB payloads. */
#define S_PAGE_BYTES (2 * 1024 * 1024)
/* Refused records named in the run's last line, at most. */
#define S_REFUSED_NAMED 10

typedef struct {
    zsock_t *push;
    vent_store_t *store;
    const vent_dispatch_config_t *config;
    rs_batch_writer_t *writer;
    uint32_t message_batches; /* batches per message */
    uint32_t message_records; /* records in the message being built */
    size_t message_bytes;
    bool dispatched;          /* the run's first dispatch is recorded */
    int64_t watermark;        /* every record with a lower id is signed */
    uint64_t batches, records, passes;
    uint64_t cut_short;       /* batches closed early to keep a message within its bytes */
    int64_t refused;          /* unsigned records over the payload limit, at the last count */
    uint64_t pass_records;    /* records sent in the current pass */
    int64_t started_us;
} s_dispatch_t;

/* Retries a database step with backoff while the database is away.
 * Returns false when interrupted. */
static bool s_wait_for_db(s_dispatch_t *self, int *backoff_ms)
{
    if (zsys_interrupted)
        return false;
    zclock_sleep(*backoff_ms);
    *backoff_ms = *backoff_ms < 5000 ? *backoff_ms * 2 : 5000;
    if (vent_store_reconnect(self->store) != 0)
        rs_warn("database unavailable; retrying in %d ms", *backoff_ms);
    return !zsys_interrupted;
}

/* Sends the message being built (closing its open batch). PUSH blocks
 * while every worker's queue is full (that is the flow control); the send
 * timeout only lets us notice shutdown. Returns 0, or 1 when interrupted. */
static int s_send(s_dispatch_t *self)
{
    if (rs_batch_writer_close(self->writer) <= 0)
        return 0;
    size_t size;
    const uint8_t *data = rs_batch_writer_data(self->writer, &size);
    for (;;) {
        zframe_t *frame = zframe_new(data, size);
        if (zframe_send(&frame, self->push, 0) == 0)
            break;
        zframe_destroy(&frame);
        if (zsys_interrupted)
            return 1;
    }
    /* The run's clock starts when its first batch has left: PUSH accepts
     * a message only once a worker is connected. */
    if (!self->dispatched) {
        int backoff = 100;
        while (vent_store_mark_dispatch(self->store, self->config->run_id) != 0)
            if (!s_wait_for_db(self, &backoff))
                return 1;
        self->dispatched = true;
        self->started_us = rs_mono_us();
    }
    self->batches += rs_batch_writer_batches(self->writer);
    self->records += self->message_records;
    rs_metric_add(vent_metrics.batches, rs_batch_writer_batches(self->writer));
    rs_metric_add(vent_metrics.records, self->message_records);
    self->pass_records += self->message_records;
    if (self->passes > 1)
        rs_metric_add(vent_metrics.redispatched, self->message_records);
    self->message_records = 0;
    self->message_bytes = 0;
    rs_batch_writer_reset(self->writer, (uint64_t) self->config->run_id);
    return 0;
}

/* Adds a record to the open batch; closes the batch when full, and sends
 * the message when it has its batches or bytes. Returns 0, 1 when
 * interrupted. */
static int s_add(s_dispatch_t *self, int64_t id, const uint8_t *payload, size_t len)
{
    /* A record that would take the message past its bytes goes into the
     * next message, and the open batch is cut short here: a batch never
     * spans messages, and so never leases. */
    if (!rs_batch_writer_fits(self->writer, len)) {
        if (rs_batch_writer_count(self->writer) > 0
            && rs_batch_writer_count(self->writer) < self->config->batch_size)
            self->cut_short++;
        if (s_send(self) != 0)
            return 1;
    }
    if (rs_batch_writer_add(self->writer, id, payload, len) != 0) {
        /* Only out of memory is left: the record stays unsigned, and the
         * watch sends it again after the re-dispatch timeout. */
        rs_error("record %lld (payload of %zu bytes) cannot be added to a batch: out of memory; it will be dispatched again",
                 (long long) id, len);
        rs_metric_add(vent_metrics.skipped, 1);
        return 0;
    }
    self->message_records++;
    self->message_bytes += len;
    if (rs_batch_writer_count(self->writer) < self->config->batch_size)
        return 0;
    int closed = rs_batch_writer_close(self->writer);
    if (closed < 0 || (uint32_t) closed >= self->message_batches
        || self->message_bytes >= S_MESSAGE_BYTES)
        return s_send(self);
    return 0;
}

/* A record whose payload is over the contract's limit cannot be signed:
 * recorded once in records_refused (logged when first recorded), never
 * sent, and not awaited by the watch. */
static void s_refuse(s_dispatch_t *self, int64_t id, int64_t len)
{
    int rc = vent_store_refuse(self->store, self->config->run_id, id, len);
    if (rc == 1) {
        rs_metric_add(vent_metrics.refused, 1);
        rs_error("record %lld cannot be signed: payload of %lld bytes; at most %u allowed (recorded in records_refused)",
                 (long long) id, (long long) len, RS_PAYLOAD_MAX);
    }
    else if (rc == 0)
        rs_debug("record %lld refused again (payload of %lld bytes)", (long long) id,
                 (long long) len);
}

/* One pass over every record unsigned now: from the watermark on, since
 * everything below it is signed. Returns 0, 1 when interrupted. */
static int s_pass(s_dispatch_t *self)
{
    int64_t after = self->watermark;
    bool first = true;
    int backoff = 100;
    self->passes++;
    self->pass_records = 0;
    rs_metric_add(vent_metrics.passes, 1);
    rs_batch_writer_reset(self->writer, (uint64_t) self->config->run_id);
    for (;;) {
        PGresult *page = vent_store_page(self->store, after, first, self->config->page_rows,
                                         S_PAGE_BYTES);
        if (!page) {
            if (!s_wait_for_db(self, &backoff))
                return 1;
            continue;
        }
        backoff = 100;
        first = false;
        int rows = PQntuples(page);
        int64_t page_bytes = 0;
        for (int i = 0; i < rows; i++) {
            int64_t id = rs_db_get_int8(page, i, 0);
            after = id;
            if (PQgetisnull(page, i, 2))
                continue; /* signed already */
            int64_t len = rs_db_get_int8(page, i, 2);
            if (len > (int64_t) RS_PAYLOAD_MAX || PQgetisnull(page, i, 1)) {
                s_refuse(self, id, len);
                continue;
            }
            const uint8_t *payload = (const uint8_t *) PQgetvalue(page, i, 1);
            page_bytes += len;
            if (s_add(self, id, payload, (size_t) len) != 0) {
                PQclear(page);
                return 1;
            }
        }
        PQclear(page);
        /* A page cut by its bytes is no sign of the table's end. */
        if (rows < self->config->page_rows && page_bytes < S_PAGE_BYTES)
            break;
    }
    return s_send(self);
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
 * pass sends. Polls are 50 ms apart while signing progresses, so that the
 * watch takes next to nothing from the signing it watches. */
static s_watch_t s_watch(s_dispatch_t *self)
{
    int64_t last_mark = self->watermark, last_span = -1;
    int64_t last_progress = rs_mono_us();
    int backoff = 100;
    int sleep_ms = 10;
    while (!zsys_interrupted) {
        bool found = false;
        int64_t mark = 0, span = 0;
        if (vent_store_first_unsigned(self->store, self->watermark, &found, &mark) != 0) {
            if (!s_wait_for_db(self, &backoff))
                return S_WATCH_INTERRUPTED;
            continue;
        }
        if (!found) {
            /* Nothing unsigned from the watermark on: confirm. */
            int64_t unsigned_count = 0;
            if (vent_store_unsigned_exact(self->store, &unsigned_count, &mark, &self->refused)
                != 0) {
                if (!s_wait_for_db(self, &backoff))
                    return S_WATCH_INTERRUPTED;
                continue;
            }
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
            if (!s_wait_for_db(self, &backoff))
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

int vent_dispatch_run(zsock_t *push, vent_store_t *store, const vent_dispatch_config_t *config)
{
    s_dispatch_t self = { .push = push, .store = store, .config = config, .watermark = INT64_MIN };
    self.message_batches = S_MESSAGE_RECORDS / config->batch_size;
    if (self.message_batches < 1)
        self.message_batches = 1;
    if (self.message_batches > RS_GROUP_MAX)
        self.message_batches = RS_GROUP_MAX;
    self.writer = rs_batch_writer_new();
    if (!self.writer) {
        rs_error("out of memory");
        return -1;
    }
    int rc;
    for (;;) {
        if (s_pass(&self) != 0) {
            rc = 1;
            break;
        }
        rs_metric_set(vent_metrics.backlog, (int64_t) self.pass_records);
        rs_info("pass %llu: %llu batches, %llu records dispatched so far; %llu batches cut short to keep messages within %u bytes",
                (unsigned long long) self.passes, (unsigned long long) self.batches,
                (unsigned long long) self.records, (unsigned long long) self.cut_short,
                RS_BATCH_BYTES_MAX);
        s_watch_t watched = s_watch(&self);
        if (watched == S_WATCH_STALLED)
            continue;
        rc = watched == S_WATCH_ALL_SIGNED ? 0 : 1;
        break;
    }
    if (rc == 0) {
        rs_metric_set(vent_metrics.backlog, 0);
        int backoff = 100;
        while (vent_store_mark_finished(store, config->run_id) != 0)
            if (!s_wait_for_db(&self, &backoff))
                break;
        double seconds = self.started_us ? (double) (rs_mono_us() - self.started_us) / 1e6 : 0;
        if (self.refused == 0)
            rs_info("run %lld complete: every record is signed; this process dispatched %llu records in %llu batches over %.3f s",
                    (long long) config->run_id, (unsigned long long) self.records,
                    (unsigned long long) self.batches, seconds);
        else {
            char named[1024] = "";
            if (vent_store_refused_sample(store, S_REFUSED_NAMED, named, sizeof named) != 0)
                snprintf(named, sizeof named, "(cannot list them)");
            rs_error("run %lld ended: every record is signed but %lld that cannot be (payload over %u bytes): %s%s; see records_refused",
                     (long long) config->run_id, (long long) self.refused, RS_PAYLOAD_MAX, named,
                     self.refused > S_REFUSED_NAMED ? ", ..." : "");
            rc = VENT_DISPATCH_REFUSED;
        }
    }
    rs_batch_writer_destroy(&self.writer);
    return rc;
}
