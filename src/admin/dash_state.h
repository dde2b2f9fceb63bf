/* dash_state: what the dashboard shows, kept up to date from the database
 * at a cost per refresh that does not grow with the tables. The signed
 * count is one row (signature_counts, kept by the sink in each flush's
 * transaction); the total counts only records above the highest id
 * counted so far (the whole table once, at start); key use, open leases,
 * workers and expired leases come from the leases above the highest lease
 * id seen (a primary-key range: what was granted since the last refresh),
 * and the leases known to be open are re-read by id; refused results
 * likewise from refused_results. Records per second come from the signed
 * count's change between refreshes. */
#ifndef DASH_STATE_H
#define DASH_STATE_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

typedef struct dash_state_t dash_state_t;

/* Returns NULL when memory runs out. */
dash_state_t *dash_state_new(void);
void dash_state_destroy(dash_state_t **self_p);

/* Reads what changed since the last refresh; now_us is the wall clock
 * (microseconds since the epoch). Returns 0, or -1 (logged) when a query
 * failed: the state keeps what it had, and the next refresh tries again. */
int dash_state_refresh(dash_state_t *self, PGconn *conn, int64_t now_us)
    __attribute__((warn_unused_result));

/* The last refresh's signed and total record counts. */
void dash_state_counts(const dash_state_t *self, int64_t *signed_count, int64_t *total);

/* The whole state as one line of JSON (no newline): signed, total, run,
 * rate ([unix ms, records/s] per refresh over the last minutes), keys
 * (id, state, uses, holder, last_used ms), leases, workers, events, error.
 * Returns a malloc'd string the caller frees, its length in *size; NULL
 * when memory runs out. */
char *dash_state_json(const dash_state_t *self, int64_t now_us, size_t *size);

#endif
