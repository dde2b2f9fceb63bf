/* vent_dispatch: the ventilator's work loop. It walks the records table in
 * id order (keyset pagination, so memory stays bounded by one page and one
 * batch), sends every unsigned record once per pass in batches of exactly
 * the run's batch size (the last one of a pass may be smaller), small
 * batches several to a message, then watches the run's end from a
 * watermark (the lowest record id that may be unsigned), at a cost that
 * does not grow with the tables. The database, not the socket, says what
 * is still unsigned: when progress stalls for the re-dispatch timeout,
 * what was lost in flight is sent again in a new pass. */
#ifndef VENT_DISPATCH_H
#define VENT_DISPATCH_H

#include "vent_store.h"

#include <czmq.h>

typedef struct {
    int64_t run_id;
    uint32_t batch_size;
    int page_rows;       /* rows read per query */
    int redispatch_ms;   /* stall after which unsigned records are sent again */
} vent_dispatch_config_t;

/* Runs until every record that can be signed is (returns 0, or
 * VENT_DISPATCH_REFUSED when some records cannot be: payloads over
 * RS_PAYLOAD_MAX, logged once each and recorded in records_refused; the
 * run is finished either way), interruption (returns 1) or a fatal error
 * (returns -1). Borrows push and store. */
#define VENT_DISPATCH_REFUSED 3
int vent_dispatch_run(zsock_t *push, vent_store_t *store, const vent_dispatch_config_t *config);

#endif
