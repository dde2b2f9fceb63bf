/* kc_logger: the thread that writes the lease log. The keycoord's loop
 * hands it each turn's events and goes on serving; the thread writes
 * whatever has accumulated in one transaction per write (group commit)
 * over its own connection, retrying with backoff while the database is
 * away. Writes are idempotent, so a write whose outcome was lost with the
 * connection is simply sent again. */
#ifndef KC_LOGGER_H
#define KC_LOGGER_H

#include "kc_coord.h"
#include "kc_store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kc_logger_t kc_logger_t;

/* Starts the writer thread; it takes ownership of *store_p (a connection
 * of its own). Every write carries epoch, the leader's term: once the
 * database refuses one (another keycoord took over), the thread writes
 * nothing more and kc_logger_deposed says so. Returns NULL on failure
 * (the store is destroyed then). */
kc_logger_t *kc_logger_new(kc_store_t **store_p, int64_t epoch);

/* Stops the thread (after its current write) and frees everything. */
void kc_logger_destroy(kc_logger_t **self_p);

/* Queues events (copied) for writing. Returns -1 when out of memory. */
int kc_logger_append(kc_logger_t *self, const kc_event_t *events, size_t count)
    __attribute__((warn_unused_result));

/* Events queued or being written, not yet known durable. */
size_t kc_logger_backlog(kc_logger_t *self);

/* Waits until every queued event is durable. Returns 0, or -1 when
 * timeout_ms passed first. */
int kc_logger_drain(kc_logger_t *self, int timeout_ms) __attribute__((warn_unused_result));

/* Whether the database refused a write of this logger's epoch: the
 * keycoord is no longer the leader, and the events not yet written never
 * will be. */
bool kc_logger_deposed(kc_logger_t *self);

/* Whether the last write attempt succeeded (the database is reachable). */
bool kc_logger_healthy(kc_logger_t *self);

/* Writes done and their mean time, for the keycoord's statistics. */
void kc_logger_stats(kc_logger_t *self, unsigned long long *writes, double *mean_events,
                     double *mean_us);

#endif
