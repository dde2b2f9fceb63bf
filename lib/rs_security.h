/* rs_security: how a recsign process authenticates and encrypts its
 * ZeroMQ sockets. CurveZMQ by default: every service has a certificate,
 * every worker a client certificate, and a server accepts only clients
 * whose public certificate is in its allow-list directory, checked when a
 * client connects (ZAP, through CZMQ's zauth) and again on every message,
 * so that removing a certificate locks its holder out at once, without a
 * restart. Plain mode, with neither, exists for local development only.
 *
 * Certificate directory layout (made by 'recsign certs'):
 *   DIR/<service>.cert, DIR/<service>.cert_secret   ventilator, keycoord, sink
 *   DIR/<worker>.cert, DIR/<worker>.cert_secret     a worker's client certificate
 *   DIR/allowed/<worker>.cert                       public certificates allowed in
 * A worker host needs only the services' public .cert files and its own pair. */
#ifndef RS_SECURITY_H
#define RS_SECURITY_H

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct rs_security_t rs_security_t;

/* plain: no security at all (logged loudly). Otherwise loads, from
 * certs_dir, the certificate of `own` (a service name for servers, a
 * worker certificate name for workers; with its secret key) and, for
 * servers (allow_list true), starts the authenticator on DIR/allowed.
 * Returns NULL with a one-line reason in err; then *bad_config (bad_config
 * may be NULL) says whether the configuration was at fault (no directory, a
 * certificate or secret key missing or unreadable, a secret key readable
 * by others, no allow-list) rather than the process (out of memory, the
 * authenticator could not start). */
rs_security_t *rs_security_new(bool plain, const char *certs_dir, const char *own,
                               bool allow_list, bool *bad_config, char *err, size_t err_size);
void rs_security_destroy(rs_security_t **self_p);

/* Configures sock, before it binds, as a CURVE server with our
 * certificate. Returns 0 or -1 (reason in err). No-op in plain mode. */
int rs_security_serve(rs_security_t *self, zsock_t *sock, char *err, size_t err_size);

/* Whether the public certificate of `service` (DIR/<service>.cert) can be
 * loaded, so that a client finds a missing one at start: 0, or -1 with the
 * reason in err. 0 in plain mode. */
int rs_security_check_peer(rs_security_t *self, const char *service, char *err, size_t err_size);

/* Configures sock, before it connects, as a CURVE client of `service`
 * (whose public certificate is DIR/<service>.cert). Returns 0 or -1. */
int rs_security_connect(rs_security_t *self, zsock_t *sock, const char *service, char *err,
                        size_t err_size);

/* Whether the sender of a received frame is (still) allowed: its CURVE
 * public key is in the allow-list now. Always true in plain mode. The
 * allow-list is re-read when its directory changes: checked at most once a
 * second for a listed sender (a revocation takes effect within a second),
 * and at once for a sender not listed yet (a certificate allowed a moment
 * ago is accepted on its first message). */
bool rs_security_allowed(rs_security_t *self, zframe_t *frame);

/* The sender's tag: the first RS_SENDER_TAG_CHARS characters of its CURVE
 * public key (Z85: printable; it may contain '/', so
 * readers split on the length, not on the character), or "" in plain mode. */
#define RS_SENDER_TAG_CHARS 10
void rs_security_sender_tag(rs_security_t *self, zframe_t *frame,
                            char tag[RS_SENDER_TAG_CHARS + 1]);

/* Prefixes name (a buffer of name_size bytes, NUL-terminated) with the
 * sender's tag and a '/', truncating the end if needed, so that names
 * chosen by clients cannot collide across certificates. Leaves name as it
 * is in plain mode. */
void rs_security_qualify(rs_security_t *self, zframe_t *frame, char *name, size_t name_size);

bool rs_security_plain(const rs_security_t *self);

/* The name of our own certificate (e.g. "worker-b"), "(plain)" in plain
 * mode: for messages. */
const char *rs_security_name(const rs_security_t *self);

#endif
