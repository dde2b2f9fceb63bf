/* rs_socket: see rs_socket.h. */
#include "rs_socket.h"
#include "rs_endpoints.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define S_MIN_MAX_MSG_BYTES 4096

static const char *s_strip_mark(const char *endpoint, rs_socket_role_t role)
{
    if ((role == RS_BIND && endpoint[0] == '@') || (role == RS_CONNECT && endpoint[0] == '>'))
        return endpoint + 1;
    return endpoint;
}

int rs_socket_check_endpoint(const char *endpoint, rs_socket_role_t role, char *err,
                             size_t err_size)
{
    if (!endpoint || !*endpoint) {
        snprintf(err, err_size, "empty endpoint; expected tcp://HOST:PORT");
        return -1;
    }
    const char *plain = s_strip_mark(endpoint, role);
    if (strncmp(plain, "tcp://", 6) && strncmp(plain, "ipc://", 6) && strncmp(plain, "inproc://", 9)) {
        snprintf(err, err_size, "endpoint '%s' is not valid; expected tcp://HOST:PORT (or ipc://PATH)%s",
                 endpoint, (plain[0] == '@' || plain[0] == '>') ? " without a bind/connect mark that contradicts its role" : "");
        return -1;
    }
    if (!strncmp(plain, "tcp://", 6) && !strchr(plain + 6, ':')) {
        snprintf(err, err_size, "endpoint '%s' has no port; expected tcp://HOST:PORT", endpoint);
        return -1;
    }
    return 0;
}

zsock_t *rs_socket_new(int type, const char *endpoint, rs_socket_role_t role,
                       const rs_socket_opts_t *opts, rs_security_t *security, const char *peer,
                       char *err, size_t err_size)
{
    /* A bound socket has one endpoint, a connecting one a list of them. */
    rs_endpoints_t list = { .count = 1 };
    if (role == RS_BIND) {
        if (rs_socket_check_endpoint(endpoint, role, err, err_size) != 0)
            return NULL;
        snprintf(list.items[0], sizeof list.items[0], "%s", endpoint);
    }
    else if (rs_endpoints_parse(&list, endpoint, role, err, err_size) != 0)
        return NULL;
    zsock_t *sock = zsock_new(type);
    if (!sock) {
        snprintf(err, err_size, "cannot create a socket: %s", zmq_strerror(zmq_errno()));
        return NULL;
    }
    if (opts->sndhwm > 0)
        zsock_set_sndhwm(sock, opts->sndhwm);
    if (opts->rcvhwm > 0)
        zsock_set_rcvhwm(sock, opts->rcvhwm);
    if (opts->sndbuf > 0)
        zsock_set_sndbuf(sock, opts->sndbuf);
    if (opts->rcvbuf > 0)
        zsock_set_rcvbuf(sock, opts->rcvbuf);
    zsock_set_linger(sock, opts->linger_ms);
    if (opts->immediate)
        zsock_set_immediate(sock, 1);
    int wait_ms = opts->wait_ms > 0 ? opts->wait_ms : RS_SOCKET_WAIT_MS;
    zsock_set_sndtimeo(sock, wait_ms);
    zsock_set_rcvtimeo(sock, wait_ms);
    /* The limit also applies to the CURVE handshake's commands (a few
     * hundred bytes): never below S_MIN_MAX_MSG_BYTES. libzmq compares it
     * with the frame on the wire, which CURVE makes longer than the
     * message: without the overhead a message within 33 bytes of the limit
     * is refused, and libzmq 4.3 does not reconnect a session it dropped
     * for a protocol error. */
    int64_t limit = opts->max_msg_bytes <= 0                  ? -1
                    : opts->max_msg_bytes < S_MIN_MAX_MSG_BYTES ? S_MIN_MAX_MSG_BYTES
                                                              : opts->max_msg_bytes;
    if (limit > 0 && security && !rs_security_plain(security))
        limit += RS_CURVE_MESSAGE_OVERHEAD;
    zmq_setsockopt(zsock_resolve(sock), ZMQ_MAXMSGSIZE, &limit, sizeof limit);
    if (security
        && (role == RS_BIND ? rs_security_serve(security, sock, err, err_size)
                            : rs_security_connect(security, sock, peer, err, err_size))
               != 0) {
        zsock_destroy(&sock);
        return NULL;
    }
    for (size_t i = 0; i < list.count; i++) {
        const char *plain = s_strip_mark(list.items[i], role);
        int rc = role == RS_BIND ? zsock_bind(sock, "%s", plain) : zsock_connect(sock, "%s", plain);
        if (rc == -1) {
            int failed_errno = zmq_errno();
            snprintf(err, err_size, "cannot %s %s: %s", role == RS_BIND ? "bind" : "connect to",
                     plain, zmq_strerror(failed_errno));
            zsock_destroy(&sock);
            errno = failed_errno;
            return NULL;
        }
    }
    return sock;
}

zmsg_t *rs_socket_recv_ready(zsock_t *sock)
{
    if (!(zsock_events(sock) & ZMQ_POLLIN))
        return NULL;
    return zmsg_recv(sock);
}
