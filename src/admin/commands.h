/* commands: the subcommands of the recsign admin CLI. Each takes its
 * parsed option table and positional arguments (see main.c) and an open
 * connection, prints its report to stdout and returns 0 on success, 1
 * when a check it made failed (verify, audit, export) or an operand named
 * nothing (keys retire), or -1 (logged) on a runtime error.
 * The *_check functions validate options and positionals beyond what the
 * option table can say; each returns 0, or -1 after printing a one-line
 * usage error to stderr (exit 2). */
#ifndef ADMIN_COMMANDS_H
#define ADMIN_COMMANDS_H

#include "admin_args.h"
#include "rs_config.h"

#include <libpq-fe.h>

/* payload-min <= payload-max. */
int cmd_init_check(rs_config_t *cfg, const admin_pos_t *pos) __attribute__((warn_unused_result));

/* Migrates the schema, adds keys (sealed under the master key) and random
 * records. */
int cmd_init(rs_config_t *cfg, const admin_pos_t *pos, PGconn *conn)
    __attribute__((warn_unused_result));

/* Prints progress, key states, open leases, key use and runs. */
int cmd_status(rs_config_t *cfg, const admin_pos_t *pos, PGconn *conn)
    __attribute__((warn_unused_result));

/* Verifies every stored signature; 1 when any fails. */
int cmd_verify(rs_config_t *cfg, const admin_pos_t *pos, PGconn *conn)
    __attribute__((warn_unused_result));

/* Proves rules 1-5; 1 when any is violated. */
int cmd_audit(rs_config_t *cfg, const admin_pos_t *pos, PGconn *conn)
    __attribute__((warn_unused_result));

/* keys add N: one positional, 1..ADMIN_KEYS_ADD_MAX. Adds N keys through
 * the same path as init --keys and prints their ids, one per line. */
#define ADMIN_KEYS_ADD_MAX 100000
int cmd_keys_add_check(rs_config_t *cfg, const admin_pos_t *pos)
    __attribute__((warn_unused_result));
int cmd_keys_add(rs_config_t *cfg, const admin_pos_t *pos, PGconn *conn)
    __attribute__((warn_unused_result));

/* keys retire ID...: one or more 32-bit key ids. Asks the keycoord to
 * retire them (all or, when an id names no key, none: exit 1). */
int cmd_keys_retire_check(rs_config_t *cfg, const admin_pos_t *pos)
    __attribute__((warn_unused_result));
int cmd_keys_retire(rs_config_t *cfg, const admin_pos_t *pos, PGconn *conn)
    __attribute__((warn_unused_result));

/* keys list: a table of every key's times and use. */
int cmd_keys_list(rs_config_t *cfg, const admin_pos_t *pos, PGconn *conn)
    __attribute__((warn_unused_result));

/* keys export: --format json|pem. Public keys only. */
int cmd_keys_export_check(rs_config_t *cfg, const admin_pos_t *pos)
    __attribute__((warn_unused_result));
int cmd_keys_export(rs_config_t *cfg, const admin_pos_t *pos, PGconn *conn)
    __attribute__((warn_unused_result));

/* export: every signed record as a JSON line an outsider can check with
 * OpenSSL; 1 when signatures had to be left out (no record or key). */
int cmd_export(rs_config_t *cfg, const admin_pos_t *pos, PGconn *conn)
    __attribute__((warn_unused_result));

/* dashboard: --bind HOST:PORT (checked); serves the live page until SIGINT
 * or SIGTERM (returns 0 then). */
int cmd_dashboard_check(rs_config_t *cfg, const admin_pos_t *pos)
    __attribute__((warn_unused_result));
int cmd_dashboard(rs_config_t *cfg, const admin_pos_t *pos, PGconn *conn)
    __attribute__((warn_unused_result));

/* certs: makes (or completes) a certificate directory, or revokes a
 * worker (certs.h). Needs no database; conn is NULL. */
int cmd_certs(rs_config_t *cfg, const admin_pos_t *pos, PGconn *conn)
    __attribute__((warn_unused_result));

#endif
