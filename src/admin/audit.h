/* audit: proves rules 1-5 (README, the list at the top) from what is stored. */
#ifndef ADMIN_AUDIT_H
#define ADMIN_AUDIT_H

#include <libpq-fe.h>

/* Checks every rule on one snapshot of the database (it opens and ends
 * its own read-only transaction) and prints one line per rule to stdout,
 * "rule N (name): ok — detail" or "rule N (name): VIOLATED — detail".
 * `threads` verify signatures (rule 1). Returns 0 when every rule holds,
 * 1 when one is violated, -1 (logged) on a database error. */
int admin_audit_run(PGconn *conn, int threads) __attribute__((warn_unused_result));

#endif
