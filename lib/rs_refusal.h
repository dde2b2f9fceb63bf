/* rs_refusal: what a connecting socket's monitor tells that the socket
 * itself does not. libzmq allows one monitor per socket (a second call of
 * zmq_socket_monitor replaces the first), so this one watcher reports
 * both:
 *  - that a server refused our CURVE certificate. A refused handshake is
 *    silent on the socket (messages just queue); the only trace is the
 *    monitor's ZMQ_EVENT_HANDSHAKE_FAILED_AUTH, whose value is the ZAP
 *    status code: 400 when the server's authenticator did not find our
 *    public key in its allow-list (not allowed, or revoked). libzmq keeps
 *    reconnecting, so each refusal is seen again;
 *  - optionally, each connection the socket dropped
 *    (ZMQ_EVENT_DISCONNECTED), e.g. for a message over ZMQ_MAXMSGSIZE,
 *    which libzmq drops only by dropping its connection. */
#ifndef RS_REFUSAL_H
#define RS_REFUSAL_H

#include <czmq.h>

typedef struct rs_refusal_t rs_refusal_t;

/* Called by rs_refusal_count for each dropped connection, with the
 * endpoint as the event names it (the address connected to) and the arg
 * given to rs_refusal_new. */
typedef void(rs_refusal_drop_fn)(void *arg, const char *endpoint);

/* Watches sock (a connecting socket, borrowed: destroy the watcher
 * first); with on_drop, dropped connections too. Returns NULL when the
 * monitor cannot be started (then nothing is known about refusals). */
rs_refusal_t *rs_refusal_new(zsock_t *sock, rs_refusal_drop_fn *on_drop, void *arg);
void rs_refusal_destroy(rs_refusal_t **self_p);

/* Reads the monitor's pending events without blocking, calling on_drop
 * for each dropped connection; returns how many handshakes were refused
 * by authentication since the watcher started (0 for a NULL watcher). */
int rs_refusal_count(rs_refusal_t *self);

/* The libzmq socket the events arrive on, for a zpoller (readable when
 * rs_refusal_count has something to read); NULL for a NULL watcher. */
void *rs_refusal_pollable(rs_refusal_t *self);

#endif
