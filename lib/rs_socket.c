/* rs_socket: see rs_socket.h. */
#include "rs_socket.h"
#include "rs_endpoints.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define S_MIN_MAX_MSG_BYTES 4096

static const char *s_strip_mark(const char *endpoint, rs_socket_role_t role)
{
    if ((role == RS_BIND && endpoint[0] == '@') || (role == RS_CONNECT && endpoint[0] == '>'))
        return endpoint + 1;
    return endpoint;
}

/* A host name or address character (RFC 1123 names; IPv4; '_' as in
 * some container names). Blanks, ';', '/', ',' and the like are not. */
static bool s_host_char(char c)
{
    return isalnum((unsigned char) c) || c == '.' || c == '-' || c == '_';
}

/* Checks a tcp:// address, HOST:PORT, of endpoint (for the messages). */
static int s_check_tcp(const char *endpoint, const char *address, rs_socket_role_t role,
                       char *err, size_t err_size)
{
    /* libzmq's SOURCE;DESTINATION form, or two endpoints run together. */
    if (strchr(address, ';')) {
        snprintf(err, err_size, "endpoint '%s' has ';'; expected one tcp://HOST:PORT (several go in a comma-separated list)",
                 endpoint);
        return -1;
    }
    const char *colon = strrchr(address, ':');
    if (!colon) {
        snprintf(err, err_size, "endpoint '%s' has no port; expected tcp://HOST:PORT", endpoint);
        return -1;
    }
    int host_len = (int) (colon - address);
    const char *port = colon + 1;
    if (host_len == 0) {
        snprintf(err, err_size, "endpoint '%s' has no host; expected tcp://HOST:PORT (tcp://*:PORT to bind every interface)",
                 endpoint);
        return -1;
    }
    if (address[0] == '[') {
        /* The sockets do not set ZMQ_IPV6: libzmq would never reach it. */
        snprintf(err, err_size, "endpoint '%s' has an IPv6 address, which recsign's sockets do not use; expected a host name or an IPv4 address",
                 endpoint);
        return -1;
    }
    else if (host_len == 1 && address[0] == '*') {
        if (role != RS_BIND) {
            snprintf(err, err_size, "endpoint '%s' connects to '*'; expected the host name or address of the peer ('*', every interface, is only for binding)",
                     endpoint);
            return -1;
        }
    }
    else {
        for (int i = 0; i < host_len; i++)
            if (!s_host_char(address[i])) {
                snprintf(err, err_size, "endpoint '%s' has '%c' in its host '%.*s'; expected tcp://HOST:PORT with one host name or IPv4 address (a list is comma-separated)",
                         endpoint, address[i], host_len, address);
                return -1;
            }
    }
    /* '*' binds a free port (libzmq's ephemeral port): for tests, not for
     * a service that peers must find (rs_process refuses it in --bind). */
    if (role == RS_BIND && !strcmp(port, "*"))
        return 0;
    bool digits = *port && strlen(port) <= 5;
    for (const char *c = port; digits && *c; c++)
        digits = isdigit((unsigned char) *c);
    long number = digits ? strtol(port, NULL, 10) : 0;
    if (number < 1 || number > 65535) {
        snprintf(err, err_size, "endpoint '%s' has port '%s'; expected tcp://HOST:PORT with a port from 1 to 65535 and nothing after it",
                 endpoint, port);
        return -1;
    }
    return 0;
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
    for (const char *c = plain; *c; c++)
        if (isspace((unsigned char) *c)) {
            snprintf(err, err_size, "endpoint '%s' contains a blank; expected one endpoint (several go in a comma-separated list)",
                     endpoint);
            return -1;
        }
    if (!strncmp(plain, "tcp://", 6))
        return s_check_tcp(endpoint, plain + 6, role, err, err_size);
    const char *name = plain + (strncmp(plain, "ipc://", 6) ? 9 : 6);
    if (!*name) {
        snprintf(err, err_size, "endpoint '%s' has no %s; expected %s", endpoint,
                 name == plain + 6 ? "path" : "name",
                 name == plain + 6 ? "ipc://PATH" : "inproc://NAME");
        return -1;
    }
    return 0;
}

int rs_socket_check_local(const char *endpoint, char *err, size_t err_size)
{
    const char *plain = s_strip_mark(endpoint, RS_BIND);
    if (strncmp(plain, "tcp://", 6) != 0)
        return 0;
    const char *address = plain + 6;
    const char *colon = strrchr(address, ':');
    size_t host_len = colon ? (size_t) (colon - address) : 0;
    char host[256];
    if (host_len == 0 || host_len >= sizeof host)
        return 0; /* the form is rs_socket_check_endpoint's to judge */
    memcpy(host, address, host_len);
    host[host_len] = '\0';
    /* Every interface, or one named as libzmq takes it (tcp://eth0:PORT). */
    if (!strcmp(host, "*") || if_nametoindex(host) != 0)
        return 0;
    struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE };
    struct addrinfo *found = NULL;
    int rc = getaddrinfo(host, NULL, &hints, &found);
    if (rc != 0) {
        snprintf(err, err_size, "endpoint '%s': host '%s' does not resolve (%s); expected an address or interface of this host, or *",
                 endpoint, host, gai_strerror(rc));
        return -1;
    }
    /* Bound on port 0 (any free one) and closed at once: the address is
     * tried, not the port, which a leader on this host may hold. */
    struct sockaddr_in probe;
    memcpy(&probe, found->ai_addr, sizeof probe);
    freeaddrinfo(found);
    probe.sin_port = 0;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0; /* cannot tell: the bind itself will say */
    int bound = bind(fd, (const struct sockaddr *) &probe, sizeof probe);
    int bind_errno = errno;
    close(fd);
    if (bound != 0 && bind_errno == EADDRNOTAVAIL) {
        char text[INET_ADDRSTRLEN] = "";
        inet_ntop(AF_INET, &probe.sin_addr, text, sizeof text);
        snprintf(err, err_size, "endpoint '%s': %s is not an address of this host (%s); expected one of this host's addresses or interfaces, or * for all of them",
                 endpoint, text, strerror(bind_errno));
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
