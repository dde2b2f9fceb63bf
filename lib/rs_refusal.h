/* rs_refusal: tells a CURVE client that a server refused its certificate.
 * A refused handshake is silent on the socket (messages just queue); the
 * only trace is the socket monitor's ZMQ_EVENT_HANDSHAKE_FAILED_AUTH,
 * whose value is the ZAP status code: 400 when the server's authenticator
 * did not find our public key in its allow-list (not allowed, or revoked).
 * libzmq keeps reconnecting, so each refusal is seen again. */
#ifndef RS_REFUSAL_H
#define RS_REFUSAL_H

#include <czmq.h>

typedef struct rs_refusal_t rs_refusal_t;

/* Watches sock (a connecting socket, borrowed: destroy the watcher
 * first). Returns NULL when the monitor cannot be started (then nothing
 * is known about refusals). */
rs_refusal_t *rs_refusal_new(zsock_t *sock);
void rs_refusal_destroy(rs_refusal_t **self_p);

/* Reads the monitor's pending events without blocking; returns how many
 * handshakes were refused by authentication since the watcher started
 * (0 for a NULL watcher). */
int rs_refusal_count(rs_refusal_t *self);

#endif
