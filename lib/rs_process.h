/* rs_process: what every recsign service does before its real work. It
 * parses the option table, checks required options and endpoints, starts
 * logging and CZMQ (which turns SIGINT and SIGTERM into zsys_interrupted)
 * and prints the configuration once; at exit it logs the process's peak
 * RSS and CPU time ("exiting: peak RSS N KiB (M MiB), CPU U s user + S s
 * system"). */
#ifndef RS_PROCESS_H
#define RS_PROCESS_H

#include "rs_config.h"
#include "rs_http.h"
#include "rs_security.h"

/* Ignores SIGHUP for the whole process (every thread): recsign logs to
 * stderr and has no file to reopen, and no process may die of a hangup.
 * rs_process_start calls it; the admin CLI calls it itself. */
void rs_process_ignore_hangup(void);

/* Logs "exiting: peak RSS ..." as the process's last line, after main
 * returns (registered with atexit once; later calls do nothing).
 * rs_process_start calls it; a long-running admin command (the
 * dashboard) calls it itself. */
void rs_process_log_exit(void);

/* Returns -1 when the process should go on, or the exit code to return
 * (0 after --help, 2 after a usage error printed as one line). */
int rs_process_start(rs_config_t *config, int argc, char **argv, const char *component);

/* The two options every service has for its transport security, for its
 * option table: --certs DIR and --insecure-plain. */
#define RS_PROCESS_SECURITY_OPTS                                                                \
    { .name = "certs", .env = "RECSIGN_CERTS_DIR", .type = RS_OPT_STRING,                      \
      .help = "CURVE certificate directory (made by 'recsign certs')" },                       \
    { .name = "insecure-plain", .env = "RECSIGN_INSECURE_PLAIN", .type = RS_OPT_FLAG,          \
      .help = "no authentication or encryption: local development only" }

/* The option every service has for its Prometheus endpoint, for its
 * option table: --metrics-bind HOST:PORT (off when unset). */
#define RS_PROCESS_METRICS_OPT                                                                  \
    { .name = "metrics-bind", .env = "RECSIGN_METRICS_BIND", .type = RS_OPT_STRING,            \
      .endpoint = RS_ENDPOINT_HTTP, .empty_is_off = true,                                      \
      .help = "serve GET /metrics (Prometheus) and /healthz on HOST:PORT; off when unset or "  \
              "empty (--metrics-bind '' turns off what the environment set)" }

/* Starts the metrics server when --metrics-bind is set (*out NULL when it
 * is not). Returns 0, or -1 after logging why it could not bind. The
 * caller destroys *out with rs_http_destroy. */
int rs_process_metrics(rs_config_t *config, rs_http_t **out) __attribute__((warn_unused_result));

/* Tells systemd (Type=notify) that the service is bound and connected,
 * with a one-line status; a no-op when NOTIFY_SOCKET is unset. */
void rs_process_ready(const char *status_fmt, ...) __attribute__((format(printf, 1, 2)));

/* Tells systemd the service is stopping; a no-op without NOTIFY_SOCKET. */
void rs_process_stopping(void);

/* Builds the process's security from those options: `own` names its
 * certificate, allow_list is true for services that accept clients, peers
 * (NULL, or a NULL-terminated list of service names) the services whose
 * public certificates a client needs, checked now. Returns NULL after
 * logging why, with *exit_code RS_EXIT_USAGE when the configuration is at
 * fault (both or neither option given, a certificate file missing or
 * unreadable, a secret key readable by others, no allow-list) and
 * RS_EXIT_RUNTIME otherwise (out of memory). */
rs_security_t *rs_process_security(rs_config_t *config, const char *own, bool allow_list,
                                   const char *const *peers, int *exit_code);

#endif
