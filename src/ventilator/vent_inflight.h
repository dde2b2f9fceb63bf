/* vent_inflight: the records a follow run has dispatched and not yet seen
 * signed, each with the time it was (last) sent: a hash set of record ids.
 * It tells a record in flight (leave it, until the re-dispatch timeout)
 * from one the ventilator never sent (a transaction that committed it after
 * higher ids were read), and so re-dispatches per record, even while new
 * records keep arriving. Its size is bounded by the caller's maximum. */
#ifndef VENT_INFLIGHT_H
#define VENT_INFLIGHT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct vent_inflight_t vent_inflight_t;

/* A set that holds at most max ids. NULL when out of memory. */
vent_inflight_t *vent_inflight_new(size_t max);
void vent_inflight_destroy(vent_inflight_t **self_p);

/* Records that id was sent at sent_us (monotonic µs), replacing an earlier
 * time. Returns 0, or -1 when the set holds its maximum (or memory ran
 * out) and id is not in it. */
int vent_inflight_put(vent_inflight_t *self, int64_t id, int64_t sent_us)
    __attribute__((warn_unused_result));
/* Whether id is in the set; then *sent_us is when it was sent. */
bool vent_inflight_get(const vent_inflight_t *self, int64_t id, int64_t *sent_us);
/* Forgets every id below `id` (all of them are signed). */
void vent_inflight_prune_below(vent_inflight_t *self, int64_t id);
/* Ids in the set, and how many more it takes. */
size_t vent_inflight_count(const vent_inflight_t *self);
size_t vent_inflight_room(const vent_inflight_t *self);

#endif
