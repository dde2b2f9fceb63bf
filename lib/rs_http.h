/* rs_http: a small HTTP server on libmicrohttpd, in threads of its own
 * (one per connection, so that a streamed reply may block). It answers GET
 * and HEAD through one handler; any other method gets 405. Used by every
 * service for /metrics and by the admin CLI's dashboard. */
#ifndef RS_HTTP_H
#define RS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct rs_http_t rs_http_t;

/* Produces the next part of a streamed reply (e.g. Server-Sent Events):
 * writes at most `max` bytes into buf and returns how many (> 0), or -1 to
 * end the reply. It may block (a second or so at a time, so that the
 * server can stop), but must not return 0. */
typedef ssize_t(rs_http_stream_fn)(void *arg, char *buf, size_t max);

typedef struct {
    int status;               /* HTTP status, e.g. 200 */
    const char *content_type; /* not copied; a literal */
    char *body;               /* the whole reply; freed with free() unless body_static */
    size_t size;
    bool body_static;         /* body lives as long as the server: not freed, not copied */
    rs_http_stream_fn *stream; /* instead of body: a reply of unknown length */
    void *stream_arg;
    void (*stream_free)(void *stream_arg); /* called once the streamed reply ends */
} rs_http_reply_t;

/* Fills *reply for a GET (or HEAD) of `path` (without the query string).
 * Runs on a connection's thread; several may run at once. A reply left
 * with status 0 is answered 500. */
typedef void(rs_http_handler_fn)(void *arg, const char *path, rs_http_reply_t *reply);

/* Checks "HOST:PORT" ("*:9100", "127.0.0.1:9100", "[::1]:9100",
 * "localhost:9100"): returns 0, or -1 with what was wrong and what was
 * expected in err. Resolves HOST. */
int rs_http_check_bind(const char *host_port, char *err, size_t err_size);

/* Binds host_port and serves until destroyed. The handler and arg are
 * borrowed. Returns NULL with the reason in err. */
rs_http_t *rs_http_new(const char *host_port, rs_http_handler_fn *handler, void *arg, char *err,
                       size_t err_size);

/* Stops accepting, waits for the connection threads, frees. NULL-safe. */
void rs_http_destroy(rs_http_t **self_p);

/* Fills a reply with a copy of text (NUL-terminated), or 500 when memory
 * runs out. */
void rs_http_reply_text(rs_http_reply_t *reply, int status, const char *content_type,
                        const char *text);

/* Serves /metrics (rs_metrics_render) and /healthz ("ok"); 404 otherwise.
 * A handler for rs_http_new; arg unused. */
void rs_http_metrics_handler(void *arg, const char *path, rs_http_reply_t *reply);

#endif
