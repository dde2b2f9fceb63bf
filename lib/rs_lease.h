/* rs_lease: what the processes and the lease log agree on about a lease,
 * besides the wire messages (lib/rs_proto.h): how a lease ended
 * (leases.end_reason, written by the keycoord, read by the sink's fencing
 * and by the admin CLI) and how a holder is named (leases.holder). */
#ifndef RS_LEASE_H
#define RS_LEASE_H

#include <stdio.h>

/* leases.end_reason: the holder gave the lease back, or its TTL ran out.
 * The _SQL forms are the same words as SQL string literals. */
#define RS_LEASE_END_RELEASED "released"
#define RS_LEASE_END_EXPIRED "expired"
#define RS_LEASE_END_RELEASED_SQL "'" RS_LEASE_END_RELEASED "'"
#define RS_LEASE_END_EXPIRED_SQL "'" RS_LEASE_END_EXPIRED "'"

/* The SQLSTATE with which the database refuses a lease-log write of a
 * keycoord whose leadership term (epoch) is not the current one
 * (keycoord_state.epoch): raised by keycoord_fence() and by the triggers
 * on leases (schema version 7, src/admin/migrate.c); the keycoord reads
 * it as "deposed". Class RS is recsign's own (PostgreSQL uses none such). */
#define RS_SQLSTATE_DEPOSED "RS001"

/* The PostgreSQL session advisory lock (bigint key) that the leading
 * keycoord holds, one per database: taken by the keycoord
 * (src/keycoord/kc_store.c), looked up in pg_locks by `recsign status`. */
#define RS_KEYCOORD_LOCK_KEY "7378709592457798"

/* A worker thread's holder name, PREFIX/PID/THREAD (PREFIX: the worker's
 * --holder or its host name, at most 80 bytes), into out (out_size bytes,
 * NUL-terminated, truncated if needed). With CURVE the keycoord puts the
 * sender's certificate tag in front (rs_security_qualify), so that the
 * lease log holds TAG/PREFIX/PID/THREAD. */
static inline void rs_lease_holder_name(char *out, size_t out_size, const char *prefix, long pid,
                                        long thread)
{
    snprintf(out, out_size, "%.80s/%ld/%ld", prefix, pid, thread);
}

#endif
