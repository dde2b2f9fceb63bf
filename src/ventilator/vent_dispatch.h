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

#include "vent_batcher.h"
#include "vent_store.h"

#include <czmq.h>

typedef struct {
    int64_t run_id;
    uint32_t batch_size;
    int page_rows;       /* rows read per query */
    int redispatch_ms;   /* stall after which unsigned records are sent again */
    int linger_ms;       /* follow mode: longest wait of a partial message */
    size_t inflight_max; /* follow mode: records tracked in flight one by one, at most */
} vent_dispatch_config_t;

/* What a scan does with an unsigned record it reads. */
typedef enum {
    VENT_SCAN_SEND, /* hand it to the batcher */
    VENT_SCAN_SKIP, /* leave it (it is in flight) */
} vent_scan_verdict_t;
typedef vent_scan_verdict_t(vent_scan_filter_fn)(void *arg, int64_t id);

/* A range of record ids: from `from` (inclusive or not) up to `to`
 * inclusive when bounded, else to the end of the table; descending walks
 * down from `from` to `to` instead. max_pages > 0 stops the walk after that
 * many queries. filter (may be NULL: send every unsigned record) decides
 * per unsigned record. With set_backlog (a batch-mode pass) the unsigned
 * backlog gauge rises to the records found so far whenever they pass
 * backlog_floor, before they are sent, so that a pass that cannot send (no
 * worker) still shows its backlog. */
typedef struct {
    int64_t from;
    bool from_inclusive;
    bool descending;
    bool bounded;
    int64_t to;
    int max_pages;
    vent_scan_filter_fn *filter;
    void *filter_arg;
    bool set_backlog;
    int64_t backlog_floor;
} vent_scan_range_t;

/* What a walk saw. */
typedef struct {
    bool read;          /* some record was read; then last is the last id read */
    int64_t last;
    bool any_unsigned;  /* some record read was unsigned and can be signed; */
    int64_t lowest;     /* then lowest is the first (the lowest when ascending) */
    uint64_t found;     /* unsigned records handed to the batcher */
    uint64_t refused;   /* unsigned records over RS_PAYLOAD_MAX: refused, not sent */
    bool complete;      /* the walk reached the end of its range */
} vent_scan_result_t;

/* Walks the records of range in id order, config->page_rows and at most
 * 2 MiB of payloads per query, and hands every unsigned one to batcher
 * (which sends full messages; the caller flushes the rest); fills *out. A
 * record over RS_PAYLOAD_MAX is refused instead, without the filter: it is
 * recorded in records_refused for config->run_id and logged when first
 * recorded, never sent, and does not count as unsigned (it holds no
 * watermark). Retries with backoff while the database is away. Returns 0,
 * or 1 when interrupted. */
int vent_dispatch_scan(vent_store_t *store, vent_batcher_t *batcher,
                       const vent_dispatch_config_t *config, const vent_scan_range_t *range,
                       vent_scan_result_t *out);

/* How a run (vent_dispatch_run, vent_follow_run) ended; main maps each to
 * the process's exit code. */
typedef enum {
    VENT_RUN_FAILED = -1,     /* a fatal error (out of memory); logged */
    VENT_RUN_FINISHED = 0,    /* recorded finished: a batch run's records are all
                               * signed; a follow run ended on request */
    VENT_RUN_INTERRUPTED = 1, /* a batch run stopped on request: left unfinished,
                               * the next start resumes it */
    VENT_RUN_REFUSED = 2,     /* finished, but records that cannot be signed are
                               * there (payload over RS_PAYLOAD_MAX: logged once
                               * each, recorded in records_refused, named in the
                               * run's last line) */
} vent_run_end_t;

/* Runs until every record that can be signed is (VENT_RUN_FINISHED, or
 * VENT_RUN_REFUSED when some cannot be), a stop is requested
 * (VENT_RUN_INTERRUPTED) or a fatal error (VENT_RUN_FAILED). Borrows push
 * and store. */
vent_run_end_t vent_dispatch_run(zsock_t *push, vent_store_t *store,
                                 const vent_dispatch_config_t *config);

#endif
