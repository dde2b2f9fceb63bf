/* dash_http: see dash_http.h. */
#include "dash_http.h"
#include "dash_page.h"

#include "rs_log.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* An idle stream sends a comment this often: a browser that went away is
 * noticed at the next write, and proxies keep the connection. */
#define S_KEEPALIVE_MS 1000
/* The chart library may not be larger than this (Chart.js 3 is 200 KiB). */
#define S_CHART_JS_MAX (8 << 20)

struct dash_http_t {
    rs_http_t *http;
    char *chart_js;
    size_t chart_js_size;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    char *json; /* the latest state; guarded by lock */
    size_t json_size;
    uint64_t seq; /* bumped at each publish */
    int64_t signed_count, total;
    bool stopping;
};

/* One viewer's event stream: the part of an event not yet written. */
typedef struct {
    dash_http_t *hub;
    uint64_t seq_sent;
    char *pending;
    size_t size, offset;
} s_stream_t;

static char *s_read_file(const char *path, size_t *size, char *err, size_t err_size)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_size, "cannot read the chart library %s; expected the file of Debian's "
                                "libjs-chart.js (apt-get install libjs-chart.js) or --chart-js PATH",
                 path);
        return NULL;
    }
    char *data = malloc(S_CHART_JS_MAX);
    size_t n = data ? fread(data, 1, S_CHART_JS_MAX, f) : 0;
    bool too_big = data && n == S_CHART_JS_MAX;
    fclose(f);
    if (!data || n == 0 || too_big) {
        free(data);
        snprintf(err, err_size, "the chart library %s is empty, unreadable or larger than %d MiB",
                 path, S_CHART_JS_MAX >> 20);
        return NULL;
    }
    *size = n;
    return data;
}

/* Takes the next published state not yet sent, waiting up to the
 * keep-alive interval. Returns 1 with the event in s->pending, 0 on a
 * keep-alive, -1 when the server is stopping. */
static int s_next_event(s_stream_t *s)
{
    dash_http_t *hub = s->hub;
    pthread_mutex_lock(&hub->lock);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += (long) S_KEEPALIVE_MS * 1000000L;
    until.tv_sec += until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    while (!hub->stopping && (hub->seq == s->seq_sent || !hub->json))
        if (pthread_cond_timedwait(&hub->changed, &hub->lock, &until) != 0)
            break;
    int rc = -1;
    free(s->pending);
    s->pending = NULL;
    s->offset = s->size = 0;
    if (!hub->stopping) {
        rc = 0;
        if (hub->json && hub->seq != s->seq_sent) {
            int len = asprintf(&s->pending, "event: state\ndata: %s\n\n", hub->json);
            if (len < 0)
                s->pending = NULL;
            else {
                s->size = (size_t) len;
                s->seq_sent = hub->seq;
                rc = 1;
            }
        }
    }
    pthread_mutex_unlock(&hub->lock);
    return rc;
}

static ssize_t s_stream_read(void *arg, char *buf, size_t max)
{
    s_stream_t *s = arg;
    if (s->offset == s->size) {
        int rc = s_next_event(s);
        if (rc < 0)
            return -1;
        if (rc == 0) {
            static const char keepalive[] = ": keep-alive\n\n";
            size_t n = sizeof keepalive - 1 < max ? sizeof keepalive - 1 : max;
            memcpy(buf, keepalive, n);
            return (ssize_t) n;
        }
    }
    size_t n = s->size - s->offset < max ? s->size - s->offset : max;
    memcpy(buf, s->pending + s->offset, n);
    s->offset += n;
    return (ssize_t) n;
}

static void s_stream_free(void *arg)
{
    s_stream_t *s = arg;
    free(s->pending);
    free(s);
}

static void s_handle(void *arg, const char *path, rs_http_reply_t *reply)
{
    dash_http_t *self = arg;
    if (strcmp(path, "/") == 0) {
        pthread_mutex_lock(&self->lock);
        reply->body = dash_page_render(self->signed_count, self->total, self->json, &reply->size);
        pthread_mutex_unlock(&self->lock);
        reply->status = reply->body ? 200 : 500;
        reply->content_type = "text/html; charset=utf-8";
    }
    else if (strcmp(path, "/chart.js") == 0) {
        reply->body = self->chart_js;
        reply->size = self->chart_js_size;
        reply->body_static = true;
        reply->status = 200;
        reply->content_type = "text/javascript; charset=utf-8";
    }
    else if (strcmp(path, "/state.json") == 0) {
        pthread_mutex_lock(&self->lock);
        rs_http_reply_text(reply, 200, "application/json", self->json ? self->json : "{}");
        pthread_mutex_unlock(&self->lock);
    }
    else if (strcmp(path, "/events") == 0) {
        s_stream_t *s = calloc(1, sizeof *s);
        if (!s)
            return; /* status 0: answered 500 */
        s->hub = self;
        reply->status = 200;
        reply->content_type = "text/event-stream";
        reply->stream = s_stream_read;
        reply->stream_arg = s;
        reply->stream_free = s_stream_free;
    }
    else
        rs_http_reply_text(reply, 404, "text/plain", "not found; the dashboard is at /\n");
}

dash_http_t *dash_http_new(const char *host_port, const char *chart_js_path, char *err,
                           size_t err_size)
{
    dash_http_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&self->lock, NULL);
    pthread_cond_init(&self->changed, NULL);
    self->chart_js = s_read_file(chart_js_path, &self->chart_js_size, err, err_size);
    if (self->chart_js)
        self->http = rs_http_new(host_port, s_handle, self, err, err_size);
    if (!self->http) {
        dash_http_destroy(&self);
        return NULL;
    }
    return self;
}

void dash_http_destroy(dash_http_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dash_http_t *self = *self_p;
    pthread_mutex_lock(&self->lock);
    self->stopping = true;
    pthread_cond_broadcast(&self->changed);
    pthread_mutex_unlock(&self->lock);
    rs_http_destroy(&self->http);
    pthread_cond_destroy(&self->changed);
    pthread_mutex_destroy(&self->lock);
    free(self->json);
    free(self->chart_js);
    free(self);
    *self_p = NULL;
}

void dash_http_publish(dash_http_t *self, char **json_p, size_t size, int64_t signed_count,
                       int64_t total)
{
    pthread_mutex_lock(&self->lock);
    free(self->json);
    self->json = *json_p;
    self->json_size = size;
    *json_p = NULL;
    self->seq++;
    self->signed_count = signed_count;
    self->total = total;
    pthread_cond_broadcast(&self->changed);
    pthread_mutex_unlock(&self->lock);
}
