/* rs_process: see rs_process.h. */
#include "rs_process.h"
#include "rs_endpoints.h"
#include "rs_log.h"
#include "rs_metrics.h"
#include "rs_socket.h"

#include <czmq.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <systemd/sd-daemon.h>

/* The process's last line, however main returns: its peak resident set
 * (the kernel's high-water mark, so nothing is missed between samples)
 * and CPU time, for the scale benchmark and for sizing deployments. */
static void s_log_peak_rss(void)
{
    struct rusage usage;
    if (getrusage(RUSAGE_SELF, &usage) == 0)
        rs_info("exiting: peak RSS %ld KiB (%.1f MiB), CPU %.2f s user + %.2f s system",
                usage.ru_maxrss, (double) usage.ru_maxrss / 1024.0,
                (double) usage.ru_utime.tv_sec + (double) usage.ru_utime.tv_usec / 1e6,
                (double) usage.ru_stime.tv_sec + (double) usage.ru_stime.tv_usec / 1e6);
}

void rs_process_log_exit(void)
{
    static bool registered;
    if (!registered && atexit(s_log_peak_rss) == 0)
        registered = true;
}

void rs_process_ignore_hangup(void)
{
    /* Every recsign process logs to stderr and has no file to reopen, so
     * a hangup (a closed terminal, a stray `kill -HUP`, a log rotation
     * script) has nothing to do; by default it would kill the process
     * silently, with status 129, and systemd's Restart=on-failure would
     * not restart it. */
    signal(SIGHUP, SIG_IGN);
}

int rs_process_start(rs_config_t *config, int argc, char **argv, const char *component)
{
    int rc = rs_config_parse(config, argc, argv, 1);
    if (rc != 0)
        return rc == RS_CONFIG_HELP ? RS_EXIT_OK : RS_EXIT_USAGE;
    for (size_t i = 0; i < config->count; i++) {
        const rs_opt_t *o = &config->opts[i];
        if (o->required && !o->str_value) {
            fprintf(stderr, "%s: error: --%s is missing; expected --%s or %s (%s)\n",
                    config->program, o->name, o->name, o->env ? o->env : "its flag", o->help);
            return RS_EXIT_USAGE;
        }
        char err[512], src[80];
        /* Each error names the option as given: a flag, or the variable
         * it came from. */
        rs_config_source(o, src, sizeof src);
        if (o->endpoint == RS_ENDPOINT_CONNECT_LIST) {
            rs_endpoints_t list;
            if (rs_endpoints_parse(&list, o->str_value, RS_CONNECT, err, sizeof err) != 0) {
                fprintf(stderr, "%s: error: %s: %s\n", config->program, src, err);
                return RS_EXIT_USAGE;
            }
            continue;
        }
        if (o->endpoint == RS_ENDPOINT_HTTP) {
            if (o->str_value && rs_http_check_bind(o->str_value, err, sizeof err) != 0) {
                fprintf(stderr, "%s: error: %s: %s\n", config->program, src, err);
                return RS_EXIT_USAGE;
            }
            continue;
        }
        if (o->endpoint
            && rs_socket_check_endpoint(o->str_value,
                                        o->endpoint == RS_ENDPOINT_BIND ? RS_BIND : RS_CONNECT,
                                        err, sizeof err)
                   != 0) {
            fprintf(stderr, "%s: error: %s: %s\n", config->program, src, err);
            return RS_EXIT_USAGE;
        }
        /* A free port chosen by libzmq is one no peer could be told. */
        size_t len = o->str_value ? strlen(o->str_value) : 0;
        if (o->endpoint == RS_ENDPOINT_BIND && len >= 2 && !strcmp(o->str_value + len - 2, ":*")) {
            fprintf(stderr, "%s: error: %s: endpoint '%s' has port '*'; expected a port from 1 to 65535 that peers can be given\n",
                    config->program, src, o->str_value);
            return RS_EXIT_USAGE;
        }
        /* A standby binds only once it leads: an address of another host
         * is said now, not at the takeover. */
        if (o->endpoint == RS_ENDPOINT_BIND && rs_socket_check_local(o->str_value, err, sizeof err) != 0) {
            fprintf(stderr, "%s: error: %s: %s\n", config->program, src, err);
            return RS_EXIT_USAGE;
        }
    }
    rs_log_init(component);
    rs_process_ignore_hangup();
    rs_metrics_set_version(RECSIGN_VERSION);
    zsys_init();
    /* After zsys_init, so that it runs before CZMQ's own exit handler. */
    rs_process_log_exit();
    /* CZMQ's own log lines would go to stdout; recsign logs on stderr. */
    zsys_set_logstream(NULL);
    rs_config_log(config);
    return -1;
}

rs_security_t *rs_process_security(rs_config_t *config, const char *own, bool allow_list,
                                   const char *const *peers, int *exit_code)
{
    *exit_code = RS_EXIT_USAGE;
    bool plain = rs_config_flag(config, "insecure-plain");
    const char *certs = rs_config_str(config, "certs");
    if (plain && certs) {
        rs_error("both --certs and --insecure-plain given; expected one of them");
        return NULL;
    }
    char err[512];
    bool bad_config = true;
    rs_security_t *security = rs_security_new(plain, certs, own, allow_list, &bad_config, err,
                                              sizeof err);
    for (size_t i = 0; security && peers && peers[i]; i++)
        if (rs_security_check_peer(security, peers[i], err, sizeof err) != 0)
            rs_security_destroy(&security);
    if (!security) {
        rs_error("%s", err);
        if (!bad_config)
            *exit_code = RS_EXIT_RUNTIME;
    }
    return security;
}

int rs_process_metrics(rs_config_t *config, rs_http_t **out)
{
    *out = NULL;
    const char *bind = rs_config_str(config, "metrics-bind");
    if (!bind)
        return 0;
    char err[512];
    *out = rs_http_new(bind, rs_http_metrics_handler, NULL, err, sizeof err);
    if (!*out) {
        rs_error("metrics: %s", err);
        return -1;
    }
    rs_info("serving metrics on http://%s/metrics", bind);
    return 0;
}

void rs_process_ready(const char *status_fmt, ...)
{
    char status[256];
    va_list ap;
    va_start(ap, status_fmt);
    vsnprintf(status, sizeof status, status_fmt, ap);
    va_end(ap);
    /* Returns 0 without NOTIFY_SOCKET; a failure only costs the status. */
    if (sd_notifyf(0, "READY=1\nSTATUS=%s", status) < 0)
        rs_warn("could not tell systemd that the service is ready");
}

void rs_process_stopping(void)
{
    /* systemd may be gone already at shutdown: not worth a warning. */
    if (sd_notify(0, "STOPPING=1") < 0)
        rs_debug("could not tell systemd that the service is stopping");
}
