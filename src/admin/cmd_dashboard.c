/* cmd_dashboard: 'recsign dashboard': serves the live page (dash_http)
 * and refreshes its state (dash_state) from the database until SIGINT or
 * SIGTERM. */
#include "commands.h"
#include "dash_http.h"
#include "dash_state.h"

#include "rs_http.h"
#include "rs_log.h"
#include "rs_process.h"
#include "rs_time.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static volatile sig_atomic_t s_stop;

static void s_on_signal(int sig)
{
    s_stop = 1;
}

int cmd_dashboard_check(rs_config_t *cfg, const admin_pos_t *pos)
{
    char err[512], src[80];
    const rs_opt_t *opt = rs_config_opt(cfg, "bind");
    if (rs_http_check_bind(opt->str_value, err, sizeof err) != 0) {
        fprintf(stderr, "%s: error: %s: %s\n", cfg->program, rs_config_source(opt, src, sizeof src),
                err);
        return -1;
    }
    return 0;
}

/* Sleeps ms, in steps short enough to notice a signal soon. */
static void s_sleep_ms(long ms)
{
    for (long slept = 0; slept < ms && !s_stop; slept += 100) {
        long step = ms - slept < 100 ? ms - slept : 100;
        struct timespec ts = { 0, step * 1000000L };
        nanosleep(&ts, NULL);
    }
}

int cmd_dashboard(rs_config_t *cfg, const admin_pos_t *pos, PGconn *conn)
{
    char err[512];
    const char *bind = rs_config_str(cfg, "bind");
    long refresh_ms = (long) rs_config_int(cfg, "refresh-ms");
    dash_state_t *state = dash_state_new();
    dash_http_t *http = state ? dash_http_new(bind, rs_config_str(cfg, "chart-js"), err, sizeof err)
                              : NULL;
    if (!http) {
        rs_error("%s", state ? err : "out of memory");
        dash_state_destroy(&state);
        return -1;
    }
    struct sigaction sa = { .sa_handler = s_on_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* Like a service, its last line gives its peak RSS and CPU time. */
    rs_process_log_exit();
    rs_info("serving the dashboard on http://%s/ (refreshing every %ld ms)", bind, refresh_ms);
    bool failing = false;
    /* While the session is down it is reset with backoff (100 ms doubling
     * to 5 s, as the services reconnect), and no query is tried on it:
     * each would log its failure at every refresh. */
    int64_t reset_after_us = 0, reset_backoff_ms = 100;
    while (!s_stop) {
        int64_t now = rs_wall_us();
        if (PQstatus(conn) != CONNECTION_OK) {
            if (now >= reset_after_us) {
                PQreset(conn);
                reset_after_us = rs_wall_us() + reset_backoff_ms * 1000;
                reset_backoff_ms = reset_backoff_ms * 2 < 5000 ? reset_backoff_ms * 2 : 5000;
            }
        }
        if (PQstatus(conn) != CONNECTION_OK || dash_state_refresh(state, conn, now) != 0) {
            if (!failing)
                rs_warn("refreshing the dashboard failed; showing the last state and retrying");
            failing = true;
        }
        else if (failing) {
            reset_backoff_ms = 100;
            rs_info("refreshing the dashboard works again");
            failing = false;
        }
        size_t size = 0;
        char *json = dash_state_json(state, now, &size);
        int64_t signed_count, total;
        dash_state_counts(state, &signed_count, &total);
        if (json)
            dash_http_publish(http, &json, size, signed_count, total);
        s_sleep_ms(refresh_ms);
    }
    rs_info("stopping the dashboard");
    dash_http_destroy(&http);
    dash_state_destroy(&state);
    return 0;
}
