/* bench_store: the SQL of the bench programs: how many signatures the
 * sinks have stored and how many they refused, read from the one-row
 * counters the sink keeps in each flush's own transaction
 * (signature_counts, refused_results), so that watching costs the
 * database next to nothing while it is being measured. */
#ifndef BENCH_STORE_H
#define BENCH_STORE_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

/* Connects to url (a recsign database of this build's schema). Returns
 * NULL with a one-line reason (URL masked) in err. */
PGconn *bench_store_connect(const char *url, char *err, size_t err_size);

/* Reads signatures stored so far (signature_counts.stored) and records
 * refused by the sinks' fencing (the sum of refused_results.records).
 * Returns 0, or -1 with a one-line reason in err. */
int bench_store_counts(PGconn *conn, int64_t *stored, int64_t *refused, char *err,
                       size_t err_size) __attribute__((warn_unused_result));

#endif
