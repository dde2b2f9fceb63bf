/* recsign-keycoord: the only authority over keys. Reads its configuration,
 * then waits as a standby until it leads, and serves leases while it leads
 * (kc_leader.c): loads the keyring and lease log, binds its ROUTER and
 * serves; deposed, it is a standby again. */
#include "kc_leader.h"
#include "kc_metrics.h"
#include "kc_store.h"
#include "rs_config.h"
#include "rs_db.h"
#include "rs_process.h"
#include "rs_log.h"

#include <czmq.h>
#include <stdio.h>

static rs_opt_t s_opts[] = {
    { .name = "db", .env = "RECSIGN_DB_URL", .type = RS_OPT_STRING, .mask = rs_db_mask_conninfo, .required = true,
      .help = "PostgreSQL URL of the recsign database; several servers for failover (host=a,b), the one that accepts writes is used" },
    { .name = "bind", .env = "RECSIGN_KEYCOORD_BIND", .type = RS_OPT_STRING, .endpoint = RS_ENDPOINT_BIND,
      .fallback = "tcp://*:5559", .help = "endpoint the lease ROUTER binds" },
    { .name = "lease-ttl-ms", .env = "RECSIGN_LEASE_TTL_MS", .type = RS_OPT_INT,
      .fallback = "10000", .min = 100, .max = 3600000,
      .help = "lease lifetime; an unreleased key returns to the queue after it" },
    { .name = "max-waiters", .env = "RECSIGN_KEYCOORD_MAX_WAITERS", .type = RS_OPT_INT,
      .fallback = "4096", .min = 1, .max = 1000000,
      .help = "holders that may wait for a free key at once; more are told to retry" },
    RS_PROCESS_SECURITY_OPTS,
    RS_PROCESS_METRICS_OPT,
};

int main(int argc, char **argv)
{
    rs_config_t config = {
        .program = "recsign-keycoord",
        .usage = "[options]",
        .summary = "Grants exclusive, expiring leases on keys, least recently used first, and "
                   "logs every lease in PostgreSQL. Started while another leads, it waits as a "
                   "hot standby (its lease socket unbound) and takes over when that one dies "
                   "or loses leadership.",
        .opts = s_opts,
        .count = sizeof s_opts / sizeof s_opts[0],
    };
    int rc = rs_process_start(&config, argc, argv, "keycoord");
    if (rc >= 0)
        return rc;
    char err[512];
    int exit_code = RS_EXIT_RUNTIME;
    rs_http_t *metrics = NULL;
    kc_metrics_register();
    if (rs_process_metrics(&config, &metrics) != 0)
        return RS_EXIT_RUNTIME;
    kc_store_t *owner = NULL, *log_store = NULL;
    /* Before the database: bad configuration is said first. */
    rs_security_t *security = rs_process_security(&config, "keycoord", true, NULL, &exit_code);
    if (!security)
        goto out;
    exit_code = RS_EXIT_RUNTIME;
    /* The first connections say at once what is wrong with the database
     * (no schema, a role it may not use); later ones are retried. The
     * lease log's session first: the lock's may not wait idle on another
     * connection attempt (kc_leader_wait). */
    log_store = kc_store_new(rs_config_str(&config, "db"), false, err, sizeof err);
    if (log_store)
        owner = kc_store_new(rs_config_str(&config, "db"), true, err, sizeof err);
    if (!owner) {
        rs_error("%s", err);
        goto out;
    }
    const kc_leader_config_t leader = {
        .db_url = rs_config_str(&config, "db"),
        .bind = rs_config_str(&config, "bind"),
        .ttl_ms = (uint32_t) rs_config_int(&config, "lease-ttl-ms"),
        .max_waiters = (size_t) rs_config_int(&config, "max-waiters"),
        .security = security,
    };
    /* Standby until leading; a deposed leader is a standby again. */
    for (bool deposed = false;; deposed = true) {
        kc_lead_state_t term;
        kc_wait_t waited = kc_leader_wait(&leader, &owner, &log_store, deposed, &term);
        if (waited == KC_WAIT_STOPPED) {
            rs_info("stopped while standby");
            exit_code = RS_EXIT_OK;
        }
        else if (waited == KC_WAIT_MISCONFIGURED)
            exit_code = RS_EXIT_USAGE;
        if (waited != KC_WAIT_LEADING)
            break;
        kc_term_t ended = kc_leader_term(&leader, &owner, &log_store, &term);
        if (ended == KC_TERM_DEPOSED)
            continue;
        exit_code = ended == KC_TERM_STOPPED ? RS_EXIT_OK : RS_EXIT_RUNTIME;
        break;
    }
    rs_process_stopping();
out:
    rs_security_destroy(&security);
    kc_store_destroy(&owner);
    kc_store_destroy(&log_store);
    rs_http_destroy(&metrics);
    return exit_code;
}
