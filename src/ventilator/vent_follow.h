/* vent_follow: the ventilator's follow mode (--follow): a run that stays
 * open, signing the backlog and then every record inserted later, until
 * SIGTERM or SIGINT ends it.
 *
 * How new records are found, cheapest first:
 *  - a notification (channel recsign_records, one per inserting
 *    transaction) wakes it to read the records above its cursor (the
 *    highest id it has read): a query of the new rows only;
 *  - a partial message waits at most linger_ms for more records (Kafka's
 *    linger.ms), so a trickle leaves at once and load forms full batches;
 *    a batch never exceeds the run's batch size;
 *  - every 50 ms while records are in flight, the watch re-reads from the
 *    watermark (the lowest record that may be unsigned) to the cursor: an
 *    unsigned record it never sent (its transaction committed after higher
 *    ids were read) is sent at once, one sent more than redispatch_ms ago is
 *    sent again (a batch was lost on the way). The in-flight set tells the
 *    two apart, so re-dispatch is per record and works while new records
 *    keep arriving. At a trickle (at most 4 batches in flight) a
 *    notification runs the watch at once, at most every 5 ms, so that a
 *    record committed below the cursor does not wait for the tick;
 *  - when more is in flight than the in-flight set holds (config's
 *    inflight_max: a backlog larger than the set, or inserts faster than
 *    signing), reading goes on past the set as a batch run's pass does:
 *    records are sent untracked, and the id range they span is kept; an
 *    unsigned record in that range counts as in flight until the watermark
 *    stands still for redispatch_ms, then it is sent again. So a backlog of
 *    any size drains at the dispatch rate; a record committed late inside
 *    the range waits for that stall;
 *  - a range the watermark passes is read once more when every transaction
 *    that was running then has ended (pg_current_snapshot()): a low id
 *    committed late is found there;
 *  - a notification that finds nothing above the cursor (the records went
 *    below it) reads the page right below the watermark at once;
 *  - a safety poll every second reads above the cursor (a notification
 *    lost with a dropped connection) and one page of a sweep down from the
 *    watermark to the lowest id (any id inserted anywhere, at one page a
 *    second).
 * A record over RS_PAYLOAD_MAX, wherever a read meets it, is refused:
 * recorded once in records_refused and logged then, never sent nor
 * tracked, and the watermark passes it; the service goes on.
 * Memory stays one page (at most page_rows rows and 2 MiB of payloads past
 * the first), one message (RS_BATCH_BYTES_MAX) and the in-flight set (at
 * most inflight_max ids, 32 bytes each) whatever the table or the time. */
#ifndef VENT_FOLLOW_H
#define VENT_FOLLOW_H

#include "vent_dispatch.h"

/* Runs the follow loop until interrupted, then records the run as finished
 * (records still unsigned are the next run's) and returns
 * VENT_RUN_FINISHED, or VENT_RUN_REFUSED when records that cannot be
 * signed (payload over RS_PAYLOAD_MAX: refused once each into
 * records_refused, by this run or an earlier one) are still there, named
 * in the run's last line; VENT_RUN_FAILED on a fatal error (never
 * VENT_RUN_INTERRUPTED: a stop is how a follow run ends). Borrows push and
 * store; store must listen (vent_store_new with listen). */
vent_run_end_t vent_follow_run(zsock_t *push, vent_store_t *store,
                               const vent_dispatch_config_t *config);

#endif
