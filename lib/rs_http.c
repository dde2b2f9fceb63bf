/* rs_http: see rs_http.h. */
#include "rs_http.h"
#include "rs_log.h"
#include "rs_metrics.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Limits for a server that answers a scraper and a few browsers: more
 * connections than that are refused rather than given threads. A
 * connection idle for S_IDLE_TIMEOUT_S is closed, so that clients that
 * open connections and send nothing hold the places for seconds, not for
 * good: a scrape takes milliseconds, and the dashboard's event stream
 * writes at least every second. */
#define S_CONNECTION_LIMIT 64
#define S_IDLE_TIMEOUT_S 10
#define S_STREAM_BLOCK_BYTES 4096

struct rs_http_t {
    struct MHD_Daemon *daemon;
    _Atomic bool serving; /* started: MHD's messages are then about clients */
    char start_error[256]; /* before: MHD's last message, for rs_http_new's error */
    rs_http_handler_fn *handler;
    void *arg;
};

typedef struct {
    rs_http_stream_fn *fn;
    void *arg;
    void (*free_fn)(void *arg);
} s_stream_t;

/* Splits "HOST:PORT" and resolves it. Returns 0 with *out to freeaddrinfo,
 * or -1 with the reason in err. */
static int s_resolve(const char *host_port, struct addrinfo **out, char *err, size_t err_size)
{
    const char *expect = "expected HOST:PORT, e.g. 127.0.0.1:9100, *:9100 or [::1]:9100";
    char host[256];
    const char *colon = host_port ? strrchr(host_port, ':') : NULL;
    if (!colon || colon == host_port + strlen(host_port) - 1) {
        snprintf(err, err_size, "'%s' has no port; %s", host_port ? host_port : "", expect);
        return -1;
    }
    size_t host_len = (size_t) (colon - host_port);
    const char *h = host_port;
    if (host_len >= 2 && h[0] == '[' && h[host_len - 1] == ']') {
        h++;
        host_len -= 2;
    }
    if (host_len >= sizeof host) {
        snprintf(err, err_size, "host of '%s' is too long; %s", host_port, expect);
        return -1;
    }
    memcpy(host, h, host_len);
    host[host_len] = '\0';
    const char *port = colon + 1;
    char *end = NULL;
    long port_number = strtol(port, &end, 10);
    if (*end || port_number < 1 || port_number > 65535) {
        snprintf(err, err_size, "port of '%s' is not a number from 1 to 65535; %s", host_port,
                 expect);
        return -1;
    }
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
    bool any = host[0] == '\0' || strcmp(host, "*") == 0;
    if (any)
        hints.ai_family = AF_INET;
    int rc = getaddrinfo(any ? NULL : host, port, &hints, out);
    if (rc != 0) {
        snprintf(err, err_size, "cannot resolve the host of '%s' (%s); %s", host_port,
                 gai_strerror(rc), expect);
        return -1;
    }
    return 0;
}

int rs_http_check_bind(const char *host_port, char *err, size_t err_size)
{
    struct addrinfo *ai = NULL;
    if (s_resolve(host_port, &ai, err, err_size) != 0)
        return -1;
    freeaddrinfo(ai);
    return 0;
}

/* MHD's messages: why it cannot start (kept for rs_http_new's one error
 * line), then a client that went away mid-reply and the like (debug: an
 * event stream's viewer closing the page is one). */
static void s_log(void *arg, const char *fmt, va_list ap)
{
    rs_http_t *self = arg;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t len = strlen(line);
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        line[--len] = '\0';
    if (atomic_load(&self->serving))
        rs_debug("http: %s", line);
    else {
        /* Cut to start_error's size: the first part says why. */
        len = len < sizeof self->start_error ? len : sizeof self->start_error - 1;
        memcpy(self->start_error, line, len);
        self->start_error[len] = '\0';
    }
}

static ssize_t s_stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    s_stream_t *stream = cls;
    ssize_t n = stream->fn(stream->arg, buf, max);
    return n > 0 ? n : (ssize_t) MHD_CONTENT_READER_END_OF_STREAM;
}

static void s_stream_free(void *cls)
{
    s_stream_t *stream = cls;
    if (stream->free_fn)
        stream->free_fn(stream->arg);
    free(stream);
}

static enum MHD_Result s_queue(struct MHD_Connection *connection, int status, const char *type,
                               struct MHD_Response *response)
{
    if (!response)
        return MHD_NO;
    if (type)
        MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    enum MHD_Result rc = MHD_queue_response(connection, (unsigned) status, response);
    MHD_destroy_response(response);
    return rc;
}

static enum MHD_Result s_access(void *cls, struct MHD_Connection *connection, const char *url,
                                const char *method, const char *version, const char *upload_data,
                                size_t *upload_data_size, void **con_cls)
{
    rs_http_t *self = cls;
    static const char s_not_allowed[] = "only GET and HEAD are served\n";
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        struct MHD_Response *r = MHD_create_response_from_buffer(
            sizeof s_not_allowed - 1, (void *) s_not_allowed, MHD_RESPMEM_PERSISTENT);
        if (r)
            MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
        return s_queue(connection, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", r);
    }
    rs_http_reply_t reply = { 0 };
    self->handler(self->arg, url, &reply);
    if (reply.stream) {
        s_stream_t *stream = malloc(sizeof *stream);
        if (!stream) {
            if (reply.stream_free)
                reply.stream_free(reply.stream_arg);
            return MHD_NO;
        }
        *stream = (s_stream_t) { reply.stream, reply.stream_arg, reply.stream_free };
        struct MHD_Response *r = MHD_create_response_from_callback(
            MHD_SIZE_UNKNOWN, S_STREAM_BLOCK_BYTES, s_stream_read, stream, s_stream_free);
        if (!r) {
            s_stream_free(stream);
            return MHD_NO;
        }
        MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
        return s_queue(connection, reply.status ? reply.status : 200, reply.content_type, r);
    }
    if (reply.status == 0) {
        if (!reply.body_static)
            free(reply.body);
        rs_http_reply_text(&reply, 500, "text/plain", "internal error\n");
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(
        reply.size, reply.body, reply.body_static ? MHD_RESPMEM_PERSISTENT : MHD_RESPMEM_MUST_FREE);
    if (!r && !reply.body_static)
        free(reply.body);
    return s_queue(connection, reply.status, reply.content_type, r);
}

rs_http_t *rs_http_new(const char *host_port, rs_http_handler_fn *handler, void *arg, char *err,
                       size_t err_size)
{
    struct addrinfo *ai = NULL;
    if (s_resolve(host_port, &ai, err, err_size) != 0)
        return NULL;
    rs_http_t *self = calloc(1, sizeof *self);
    if (!self) {
        freeaddrinfo(ai);
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    self->handler = handler;
    self->arg = arg;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD
                     | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    uint16_t port = ai->ai_family == AF_INET6
                        ? ntohs(((struct sockaddr_in6 *) ai->ai_addr)->sin6_port)
                        : ntohs(((struct sockaddr_in *) ai->ai_addr)->sin_port);
    /* The logger first: MHD logs options it meets before it its own way. */
    self->daemon = MHD_start_daemon(flags, port, NULL, NULL, s_access, self,
                                    MHD_OPTION_EXTERNAL_LOGGER, s_log, self,
                                    MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                                    MHD_OPTION_CONNECTION_LIMIT, (unsigned) S_CONNECTION_LIMIT,
                                    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) S_IDLE_TIMEOUT_S,
                                    MHD_OPTION_END);
    freeaddrinfo(ai);
    atomic_store(&self->serving, true);
    if (!self->daemon) {
        snprintf(err, err_size,
                 "cannot serve HTTP on %s: %s; expected a free port on an address of this host",
                 host_port, self->start_error[0] ? self->start_error : "libmicrohttpd failed");
        free(self);
        return NULL;
    }
    return self;
}

void rs_http_destroy(rs_http_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    rs_http_t *self = *self_p;
    MHD_stop_daemon(self->daemon);
    free(self);
    *self_p = NULL;
}

void rs_http_reply_text(rs_http_reply_t *reply, int status, const char *content_type,
                        const char *text)
{
    reply->body = strdup(text);
    reply->body_static = false;
    reply->size = reply->body ? strlen(text) : 0;
    reply->status = reply->body ? status : 500;
    reply->content_type = content_type;
}

void rs_http_metrics_handler(void *arg, const char *path, rs_http_reply_t *reply)
{
    if (strcmp(path, "/metrics") == 0) {
        size_t size = 0;
        reply->body = rs_metrics_render(&size);
        reply->size = size;
        reply->status = reply->body ? 200 : 500;
        reply->content_type = RS_METRICS_CONTENT_TYPE;
    }
    else if (strcmp(path, "/healthz") == 0)
        rs_http_reply_text(reply, 200, "text/plain", "ok\n");
    else
        rs_http_reply_text(reply, 404, "text/plain", "not found; try /metrics or /healthz\n");
}
