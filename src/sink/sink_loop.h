/* sink_loop: the sink's receive loop. Collects RESULTS from workers,
 * flushes them to the store when enough rows wait or the oldest has
 * waited long enough, and reports progress every second. */
#ifndef SINK_LOOP_H
#define SINK_LOOP_H

#include "sink_store.h"
#include "rs_security.h"

#include <czmq.h>

typedef struct {
    size_t flush_rows;   /* flush when this many rows wait */
    int flush_ms;        /* or when the oldest waiting row is this old */
} sink_loop_config_t;

/* Runs until interrupted, then drains what already arrived and flushes it.
 * Borrows pull, store and security (results from a sender that is not
 * allowed are dropped). Returns 0 when everything received was flushed,
 * -1 when rows had to be given up (they will be signed again). */
int sink_loop_run(zsock_t *pull, sink_store_t *store, rs_security_t *security,
                  const sink_loop_config_t *config);

#endif
