/* recsign-keycoord: the only authority over keys. Reads its configuration,
 * loads the keyring and lease log, binds its ROUTER and serves leases. */
#include "kc_coord.h"
#include "kc_metrics.h"
#include "kc_server.h"
#include "kc_store.h"
#include "rs_config.h"
#include "rs_db.h"
#include "rs_process.h"
#include "rs_log.h"
#include "rs_socket.h"
#include "rs_time.h"

#include <czmq.h>
#include <stdio.h>

static rs_opt_t s_opts[] = {
    { .name = "db", .env = "RECSIGN_DB_URL", .type = RS_OPT_STRING, .mask = rs_db_mask_conninfo, .required = true,
      .help = "PostgreSQL URL of the recsign database" },
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
        .summary = "Grants exclusive, expiring leases on Ed25519 keys, least recently used "
                   "first, and logs every lease in PostgreSQL.",
        .opts = s_opts,
        .count = sizeof s_opts / sizeof s_opts[0],
    };
    int rc = rs_process_start(&config, argc, argv, "keycoord");
    if (rc >= 0)
        return rc;
    char err[512];

    int exit_code = RS_EXIT_RUNTIME;
    kc_coord_t *coord = NULL;
    zsock_t *router = NULL;
    kc_server_t *server = NULL;
    kc_logger_t *logger = NULL;
    rs_security_t *security = NULL;
    bool served = false;
    rs_http_t *metrics = NULL;
    kc_metrics_register();
    if (rs_process_metrics(&config, &metrics) != 0)
        return RS_EXIT_RUNTIME;
    /* Before the database: bad configuration is said first. */
    kc_store_t *store = NULL;
    security = rs_process_security(&config, "keycoord", true, NULL, &exit_code);
    if (!security)
        goto out;
    exit_code = RS_EXIT_RUNTIME;
    store = kc_store_new(rs_config_str(&config, "db"), true, err, sizeof err);
    if (!store) {
        rs_error("%s", err);
        goto out;
    }
    bool unclean = false;
    coord = kc_store_load(store, (uint32_t) rs_config_int(&config, "lease-ttl-ms"),
                          (size_t) rs_config_int(&config, "max-waiters"), kc_server_cookie_free,
                          &unclean, err, sizeof err);
    if (!coord) {
        rs_error("%s", err);
        goto out;
    }
    if (unclean) {
        rs_warn("the previous keycoord did not stop cleanly: no key is granted for one lease TTL (%lld ms), until every lease it may have granted has run out",
                rs_config_int(&config, "lease-ttl-ms"));
        kc_coord_hold_grants(coord, rs_mono_us() + rs_config_int(&config, "lease-ttl-ms") * 1000);
    }
    if (kc_coord_key_count(coord) == 0)
        rs_warn("the keyring is empty: no lease can be granted until keys are added ('recsign init --keys N')");
    /* ROUTER drops replies to unknown peers silently unless MANDATORY is
     * set; with it a send to a vanished holder fails at once and its grant
     * is voided. A zero send timeout keeps a stuck peer from blocking us. */
    const rs_socket_opts_t router_opts = { .sndhwm = 10000, .rcvhwm = 10000,
                                           .max_msg_bytes = RS_LEASE_REQ_MAX_BYTES };
    router = rs_socket_new(ZMQ_ROUTER, rs_config_str(&config, "bind"), RS_BIND, &router_opts,
                           security, NULL, err, sizeof err);
    if (!router) {
        rs_error("%s", err);
        goto out;
    }
    zsock_set_router_mandatory(router, 1);
    zsock_set_sndtimeo(router, 0);
    kc_store_t *log_store = kc_store_new(rs_config_str(&config, "db"), false, err, sizeof err);
    if (!log_store) {
        rs_error("%s", err);
        goto out;
    }
    logger = kc_logger_new(&log_store);
    server = kc_server_new(router, coord, logger, store, security);
    if (!logger || !server) {
        rs_error("out of memory");
        goto out;
    }
    rs_info("serving leases on %s: %zu keys, %zu free, ttl %lld ms", rs_config_str(&config, "bind"),
            kc_coord_key_count(coord), kc_coord_free_count(coord),
            rs_config_int(&config, "lease-ttl-ms"));
    served = true;
    kc_metrics_set_keys(coord);
    rs_process_ready("serving leases on %s: %zu keys", rs_config_str(&config, "bind"),
                     kc_coord_key_count(coord));
    /* A clean stop needs every event durable; give the writer a while. */
    if (kc_server_run(server) == 0 && kc_logger_drain(logger, 10000) == 0
        && kc_store_mark_clean_stop(store) == 0) {
        rs_info("stopped cleanly: the lease log is complete");
        exit_code = RS_EXIT_OK;
    }
    else
        rs_error("stopped without writing the whole lease log; the next keycoord will wait one TTL before granting");
    rs_process_stopping();
out:
    /* Failed before serving: nothing was granted, the state stays clean. */
    if (coord && !served && kc_store_mark_clean_stop(store) != 0)
        rs_warn("could not record that nothing was granted");
    kc_server_destroy(&server);
    kc_logger_destroy(&logger);
    zsock_destroy(&router);
    rs_security_destroy(&security);
    kc_coord_destroy(&coord);
    kc_store_destroy(&store);
    rs_http_destroy(&metrics);
    return exit_code;
}
