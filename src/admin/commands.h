/* commands: the subcommands of the recsign admin CLI. Each takes its
 * parsed option table (see main.c) and an open connection, prints its
 * report to stdout and returns 0 on success, 1 when a check it made
 * failed (verify, audit), or -1 (logged) on a runtime error. */
#ifndef ADMIN_COMMANDS_H
#define ADMIN_COMMANDS_H

#include "rs_config.h"

#include <libpq-fe.h>

/* Validates init's options beyond their bounds (payload-min <= max).
 * Returns 0, or -1 after printing a one-line usage error to stderr. */
int cmd_init_check(rs_config_t *cfg) __attribute__((warn_unused_result));

/* Migrates the schema, adds keys (sealed under the master key) and random
 * records. */
int cmd_init(rs_config_t *cfg, PGconn *conn) __attribute__((warn_unused_result));

/* Prints progress, open leases, key use and runs. */
int cmd_status(rs_config_t *cfg, PGconn *conn) __attribute__((warn_unused_result));

/* Verifies every stored signature; 1 when any fails. */
int cmd_verify(rs_config_t *cfg, PGconn *conn) __attribute__((warn_unused_result));

/* Proves rules 1-5; 1 when any is violated. */
int cmd_audit(rs_config_t *cfg, PGconn *conn) __attribute__((warn_unused_result));

#endif
