/* vent_batcher: see vent_batcher.h. */
#include "vent_batcher.h"
#include "vent_metrics.h"
#include "rs_log.h"
#include "rs_proto.h"
#include "rs_time.h"

#include <stdlib.h>

/* Small batches travel several to a message, up to this many records: one
 * message, and one lease request, then carry many batches, which is what
 * makes batch sizes of 1 or 10 fast. Small enough that a message is a few
 * milliseconds of signing, so threads still share the work evenly. */
#define S_MESSAGE_RECORDS 1024u
#define S_MESSAGE_BYTES (256u * 1024u) /* and no more bytes than this */

struct vent_batcher_t {
    zsock_t *push;
    vent_store_t *store;
    int64_t run_id;
    uint32_t batch_size;
    rs_batch_writer_t *writer;
    uint32_t message_batches; /* batches per message */
    uint32_t message_records; /* records in the message being built */
    size_t message_bytes;
    int64_t pending_since_us; /* first record of the message being built */
    bool dispatched;          /* the run's first dispatch is recorded */
    uint64_t batches, records;
    uint64_t cut_short;       /* batches closed early to keep a message within its bytes */
    int64_t started_us;
};

vent_batcher_t *vent_batcher_new(zsock_t *push, vent_store_t *store, int64_t run_id,
                                 uint32_t batch_size)
{
    vent_batcher_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->push = push;
    self->store = store;
    self->run_id = run_id;
    self->batch_size = batch_size;
    self->message_batches = S_MESSAGE_RECORDS / batch_size;
    if (self->message_batches < 1)
        self->message_batches = 1;
    if (self->message_batches > RS_GROUP_MAX)
        self->message_batches = RS_GROUP_MAX;
    self->writer = rs_batch_writer_new();
    if (!self->writer) {
        free(self);
        return NULL;
    }
    rs_batch_writer_reset(self->writer, (uint64_t) run_id);
    return self;
}

void vent_batcher_destroy(vent_batcher_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    rs_batch_writer_destroy(&(*self_p)->writer);
    free(*self_p);
    *self_p = NULL;
}

int vent_batcher_flush(vent_batcher_t *self)
{
    if (rs_batch_writer_close(self->writer) <= 0)
        return 0;
    size_t size;
    const uint8_t *data = rs_batch_writer_data(self->writer, &size);
    /* The send timeout only lets us notice shutdown, and confirm the lock
     * session while the workers are busy (vent_store_confirm_lead): a
     * leader whose session is gone sends nothing until it has the lock
     * again, and stops if a standby took it. */
    for (;;) {
        int backoff = 100;
        while (vent_store_confirm_lead(self->store) != 0)
            if (!vent_store_backoff(self->store, &backoff))
                return 1;
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
        while (vent_store_mark_dispatch(self->store, self->run_id) != 0)
            if (!vent_store_backoff(self->store, &backoff))
                return 1;
        self->dispatched = true;
        self->started_us = rs_mono_us();
    }
    self->batches += rs_batch_writer_batches(self->writer);
    self->records += self->message_records;
    rs_metric_add(vent_metrics.batches, rs_batch_writer_batches(self->writer));
    rs_metric_add(vent_metrics.records, self->message_records);
    self->message_records = 0;
    self->message_bytes = 0;
    self->pending_since_us = 0;
    rs_batch_writer_reset(self->writer, (uint64_t) self->run_id);
    return 0;
}

int vent_batcher_add(vent_batcher_t *self, int64_t id, const uint8_t *payload, size_t len)
{
    /* A record that would take the message past its bytes goes into the
     * next message, and the open batch is cut short here: a batch never
     * spans messages, and so never leases. */
    if (!rs_batch_writer_fits(self->writer, len)) {
        if (rs_batch_writer_count(self->writer) > 0
            && rs_batch_writer_count(self->writer) < self->batch_size)
            self->cut_short++;
        if (vent_batcher_flush(self) != 0)
            return 1;
    }
    if (rs_batch_writer_add(self->writer, id, payload, len) != 0) {
        /* Only out of memory is left (the scan refuses payloads over
         * RS_PAYLOAD_MAX): the record stays unsigned, and is sent again
         * after the re-dispatch timeout. */
        rs_error("record %lld (payload of %zu bytes) cannot be added to a batch: out of memory; it will be dispatched again",
                 (long long) id, len);
        rs_metric_add(vent_metrics.skipped, 1);
        return 0;
    }
    if (self->message_records++ == 0)
        self->pending_since_us = rs_mono_us();
    self->message_bytes += len;
    if (rs_batch_writer_count(self->writer) < self->batch_size)
        return 0;
    int closed = rs_batch_writer_close(self->writer);
    if (closed < 0 || (uint32_t) closed >= self->message_batches
        || self->message_bytes >= S_MESSAGE_BYTES)
        return vent_batcher_flush(self);
    return 0;
}

uint32_t vent_batcher_pending(const vent_batcher_t *self)
{
    return self->message_records;
}

uint32_t vent_batcher_partial(const vent_batcher_t *self)
{
    return rs_batch_writer_count(self->writer);
}

int64_t vent_batcher_pending_since_us(const vent_batcher_t *self)
{
    return self->pending_since_us;
}

uint64_t vent_batcher_batches(const vent_batcher_t *self)
{
    return self->batches;
}

uint64_t vent_batcher_records(const vent_batcher_t *self)
{
    return self->records;
}

uint64_t vent_batcher_cut_short(const vent_batcher_t *self)
{
    return self->cut_short;
}

int64_t vent_batcher_started_us(const vent_batcher_t *self)
{
    return self->started_us;
}
