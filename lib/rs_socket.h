/* rs_socket: creating a ZeroMQ socket that binds or connects to a
 * user-given endpoint, with high-water marks set deliberately and a
 * one-line error when the endpoint is bad or cannot be bound. */
#ifndef RS_SOCKET_H
#define RS_SOCKET_H

#include "rs_security.h"

#include <czmq.h>
#include <stdbool.h>

typedef enum { RS_BIND, RS_CONNECT } rs_socket_role_t;

/* What each socket sets deliberately. */
typedef struct {
    int sndhwm, rcvhwm;    /* messages queued per peer; 0 leaves libzmq's default */
    int sndbuf, rcvbuf;    /* kernel socket buffer bytes; 0 leaves the system's default */
    int linger_ms;         /* how long unsent messages are kept at close */
    int64_t max_msg_bytes; /* the largest message (its bytes as the application sends
                              them) a peer may send; a peer that announces more is
                              disconnected before anything is allocated for it */
    bool immediate;        /* ZMQ_IMMEDIATE: queue messages only to peers whose connection
                              is complete (a connecting PUSH or DEALER then skips a peer
                              that is down instead of queueing for it) */
    int wait_ms;           /* how long one send or receive may block (ZMQ_SNDTIMEO and
                              ZMQ_RCVTIMEO); 0 means RS_SOCKET_WAIT_MS. Never unbounded: a
                              send to a peer that is gone, refuses us or is full must give
                              the caller back control, so that SIGTERM is obeyed. */
} rs_socket_opts_t;

/* What CurveZMQ adds to every message on the wire (RFC 26, the MESSAGE
 * command): the command name's length byte and "MESSAGE" (8), the short
 * nonce (8), the box's Poly1305 tag (16) and the flags byte (1). libzmq
 * checks ZMQ_MAXMSGSIZE against the wire frame, so rs_socket_new adds this
 * to max_msg_bytes of a CURVE socket: a message of exactly max_msg_bytes
 * then passes, one byte more does not, with or without CURVE (measured
 * with libzmq 4.3.4: 33 bytes exactly). */
#define RS_CURVE_MESSAGE_OVERHEAD 33

/* The default bound on one send or receive, in ms: short enough that a
 * process notices a stop request within a second whatever its peers do. */
#define RS_SOCKET_WAIT_MS 1000

/* type is a ZMQ_* socket type. Endpoints are tcp://, ipc:// or inproc://
 * addresses; a leading '@' or '>' (CZMQ's bind/connect marks) is accepted
 * when it matches the role. A connecting socket takes a comma-separated
 * list (rs_endpoints) and connects to every element of it. Security (NULL: plain) is applied before the
 * bind or connect: a bound socket serves with its own certificate, a
 * connecting one authenticates to `peer` (a service name). Returns NULL
 * with the reason in err; when the bind or connect itself failed, errno
 * is its error (EADDRINUSE: another process has the address). */
zsock_t *rs_socket_new(int type, const char *endpoint, rs_socket_role_t role,
                       const rs_socket_opts_t *opts, rs_security_t *security, const char *peer,
                       char *err, size_t err_size);

/* Checks an endpoint's form without creating anything: tcp://HOST:PORT
 * with HOST a name or IPv4 address (letters, digits, '.', '-', '_'), or
 * '*' (every interface) only for RS_BIND (no IPv6: ZMQ_IPV6 is not set),
 * and PORT 1..65535 ('*', a free port, only for RS_BIND); ipc://PATH or
 * inproc://NAME with a non-empty PATH or NAME. No blanks anywhere. Returns
 * 0, or -1 with a one-line reason in err naming the endpoint and what was
 * expected. */
int rs_socket_check_endpoint(const char *endpoint, rs_socket_role_t role, char *err,
                             size_t err_size);

/* Checks that a bind endpoint's tcp:// host is this host's: '*', an
 * interface name, or a name or IPv4 address that resolves to an address
 * of this host (tried by binding a TCP socket to it on a free port, then
 * closing it; the endpoint's own port is not tried: a leader on this host
 * may hold it). Other transports pass. Returns 0, or -1 with a one-line
 * reason in err: the host does not resolve, or is not this host's. So
 * that a standby, which binds only once it leads, is refused at start
 * rather than at the takeover. */
int rs_socket_check_local(const char *endpoint, char *err, size_t err_size);

/* Receives one message if one is waiting, without blocking; NULL when
 * none is (or on interruption). */
zmsg_t *rs_socket_recv_ready(zsock_t *sock);

#endif
