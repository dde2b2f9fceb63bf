/* migrate: the versioned schema of the recsign database and how
 * 'recsign init' brings a database up to RS_SCHEMA_VERSION. */
#ifndef ADMIN_MIGRATE_H
#define ADMIN_MIGRATE_H

#include <libpq-fe.h>

/* Applies every migration the database lacks, each in its own transaction
 * under the admin advisory lock, so concurrent runs are safe and re-runs
 * do nothing. *from gets the version found, *to the version left.
 * Returns 0, or -1 (logged) on a database error or when the database is
 * newer than this build. */
int admin_migrate(PGconn *conn, int *from, int *to) __attribute__((warn_unused_result));

#endif
