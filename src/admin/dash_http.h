/* dash_http: the dashboard's web side. It keeps the latest state as JSON
 * (published by the refresh loop) and serves, with rs_http: "/" the page,
 * with the signed and total counts already in it; "/chart.js" the chart
 * library read from its Debian package's file at start; "/state.json" the
 * latest state; "/events" a Server-Sent Events stream with one "state"
 * event per refresh, the same JSON. Every viewer reads the one published
 * state: more viewers cost no more queries. */
#ifndef DASH_HTTP_H
#define DASH_HTTP_H

#include "rs_http.h"

#include <stddef.h>
#include <stdint.h>

typedef struct dash_http_t dash_http_t;

/* Reads the chart library from chart_js_path and serves on host_port.
 * Returns NULL with the reason in err. */
dash_http_t *dash_http_new(const char *host_port, const char *chart_js_path, char *err,
                           size_t err_size);

/* Ends every event stream (within a second), stops serving and frees.
 * NULL-safe. */
void dash_http_destroy(dash_http_t **self_p);

/* Publishes a new state: json (ownership taken; one line, no newline) and
 * the two counts the page shows before its first event. */
void dash_http_publish(dash_http_t *self, char **json_p, size_t size, int64_t signed_count,
                       int64_t total);

#endif
