/* rs_endpoints: see rs_endpoints.h. */
#include "rs_endpoints.h"

#include <stdio.h>
#include <string.h>

#define S_EXPECTED "expected a comma-separated list of tcp://HOST:PORT endpoints"

int rs_endpoints_parse(rs_endpoints_t *out, const char *text, rs_socket_role_t role, char *err,
                       size_t err_size)
{
    out->count = 0;
    if (!text || !*text) {
        snprintf(err, err_size, "no endpoint given; " S_EXPECTED);
        return -1;
    }
    const char *p = text;
    for (size_t n = 1;; n++) {
        const char *comma = strchr(p, ',');
        const char *end = comma ? comma : p + strlen(p);
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        const char *last = end;
        while (last > p && (last[-1] == ' ' || last[-1] == '\t'))
            last--;
        size_t len = (size_t) (last - p);
        if (len == 0) {
            snprintf(err, err_size, "element %zu of '%s' is empty; " S_EXPECTED " (no empty element, no comma at either end)",
                     n, text);
            return -1;
        }
        if (len > RS_ENDPOINT_CHARS) {
            snprintf(err, err_size, "element %zu of the list is %zu characters long; expected an endpoint of at most %d",
                     n, len, RS_ENDPOINT_CHARS);
            return -1;
        }
        if (out->count == RS_ENDPOINTS_MAX) {
            snprintf(err, err_size, "element %zu of '%s' is one too many; expected at most %d endpoints",
                     n, text, RS_ENDPOINTS_MAX);
            return -1;
        }
        char *item = out->items[out->count];
        memcpy(item, p, len);
        item[len] = '\0';
        char why[384];
        if (rs_socket_check_endpoint(item, role, why, sizeof why) != 0) {
            /* A single endpoint's reason stands on its own. */
            if (!strchr(text, ','))
                snprintf(err, err_size, "%s", why);
            else
                snprintf(err, err_size, "element %zu of the list: %s", n, why);
            return -1;
        }
        for (size_t i = 0; i < out->count; i++)
            if (!strcmp(out->items[i], item)) {
                snprintf(err, err_size, "element %zu of the list, '%s', repeats element %zu; expected each endpoint once",
                         n, item, i + 1);
                return -1;
            }
        out->count++;
        if (!comma)
            return 0;
        p = comma + 1;
    }
}
