/* vent_batcher: builds the ventilator's BATCH messages and sends them. It
 * closes a batch when it holds the run's batch size (rule 5: never more),
 * packs small batches several to a message, and sends a message when it has
 * its batches or bytes, when the next record would take it past
 * RS_BATCH_BYTES_MAX (the open batch is then cut short), or when the caller
 * flushes it (the end of a pass, or a linger that ran out in follow mode:
 * the open batch then leaves partial, never larger). The run's clock starts
 * with its first message sent. */
#ifndef VENT_BATCHER_H
#define VENT_BATCHER_H

#include "vent_store.h"

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct vent_batcher_t vent_batcher_t;

/* Borrows push and store (store records the run's first dispatch). Returns
 * NULL when out of memory. */
vent_batcher_t *vent_batcher_new(zsock_t *push, vent_store_t *store, int64_t run_id,
                                 uint32_t batch_size);
void vent_batcher_destroy(vent_batcher_t **self_p);

/* Adds a record (payload of at most RS_PAYLOAD_MAX bytes: the caller
 * refuses longer ones) to the open batch, sending the message first when
 * the record would take it past RS_BATCH_BYTES_MAX, and after when it is
 * full. A record that cannot be added for want of memory is logged and
 * left unsigned. Returns 0, or 1 when interrupted while the send waited. */
int vent_batcher_add(vent_batcher_t *self, int64_t id, const uint8_t *payload, size_t len);

/* Sends the message being built, its last batch possibly partial; nothing
 * when it is empty. PUSH blocks while every worker's queue is full (the
 * pipeline's flow control). Returns 0, or 1 when interrupted. */
int vent_batcher_flush(vent_batcher_t *self);

/* Records in the message being built (0: nothing waits). */
uint32_t vent_batcher_pending(const vent_batcher_t *self);
/* Records in the open batch, the one not yet full (0: every batch of the
 * message being built is full). */
uint32_t vent_batcher_partial(const vent_batcher_t *self);
/* Monotonic time (rs_mono_us) at which the first record of the message
 * being built was added; 0 when it is empty. The linger runs from here. */
int64_t vent_batcher_pending_since_us(const vent_batcher_t *self);

/* What this process sent: batches, records, and the monotonic time of the
 * first send (0 before it). */
uint64_t vent_batcher_batches(const vent_batcher_t *self);
uint64_t vent_batcher_records(const vent_batcher_t *self);
/* Batches closed before the batch size to keep a message within
 * RS_BATCH_BYTES_MAX. */
uint64_t vent_batcher_cut_short(const vent_batcher_t *self);
int64_t vent_batcher_started_us(const vent_batcher_t *self);

#endif
