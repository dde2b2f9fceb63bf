/* sink_store: the sink's database side, and all of its SQL. Signatures are
 * buffered as PostgreSQL binary COPY rows. A flush first fences: results
 * whose lease is not in the log, names another key, or ended by expiry are
 * dropped (the lease id is a fencing token). The rest is written in one
 * transaction: straight into `signatures` with COPY when none of them is
 * stored yet, and otherwise (a COPY that hits the primary key) through a
 * staging table and INSERT ... ON CONFLICT DO NOTHING, so every write is
 * idempotent. Rows whose lease is not in the log yet wait for it. A
 * flush costs the fence's round trip and one more per COPY of 200 rows
 * and one for the rest (the transaction goes to the database as one
 * query message). */
#ifndef SINK_STORE_H
#define SINK_STORE_H

#include "rs_proto.h"

#include <stddef.h>
#include <stdint.h>

typedef struct sink_store_t sink_store_t;

/* Connects and checks the schema. Returns NULL with the reason in err. */
sink_store_t *sink_store_new(const char *db_url, char *err, size_t err_size);
void sink_store_destroy(sink_store_t **self_p);

/* Buffers every signature of a decoded RESULTS message; sender_tag is
 * the sender's certificate tag ("" in plain mode): results are stored only
 * when it is the tag of the lease's holder. Returns -1 when memory runs
 * out (nothing of the message is kept then). */
int sink_store_add(sink_store_t *self, const rs_results_t *results, const char *sender_tag)
    __attribute__((warn_unused_result));

/* Rows buffered and not yet flushed. */
size_t sink_store_pending(const sink_store_t *self);

/* Writes the buffered rows in one transaction. On success sets *inserted
 * to the rows newly stored and *fenced to the rows refused for their
 * lease (the rest were stored already) and empties the buffer but for rows
 * whose lease is not in the log yet: those wait for a later flush (the
 * keycoord answers before it writes), and are refused after 10 s.
 * Returns -1 after logging why; the buffer is kept for the next try. */
int sink_store_flush(sink_store_t *self, int64_t *inserted, int64_t *fenced)
    __attribute__((warn_unused_result));

/* Counts for progress reports. Return 0 or -1: also, without a word, when
 * the session is down (the next flush reconnects), and, said at INFO, when
 * another session locks records (the count waits for it 200 ms at most:
 * the sink stores nothing while it waits). All records, and the highest id
 * (the smallest bigint when there is none): reads the whole table. */
int sink_store_count_records(sink_store_t *self, int64_t *total, int64_t *top)
    __attribute__((warn_unused_result));
/* Records with an id above `after`, and the highest id (`after` when there
 * is none): costs only the records counted. */
int sink_store_count_records_after(sink_store_t *self, int64_t after, int64_t *added, int64_t *top)
    __attribute__((warn_unused_result));
int sink_store_count_signed(sink_store_t *self, int64_t *signed_count)
    __attribute__((warn_unused_result));

/* Re-establishes a broken connection. Returns 0 when usable. */
int sink_store_reconnect(sink_store_t *self) __attribute__((warn_unused_result));

#endif
