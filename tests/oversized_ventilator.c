/* oversized_ventilator: a peer posing as the ventilator that sends one
 * message over a worker's size limit, for tests/faults/worker_oversized.sh.
 *
 * usage: oversized_ventilator ENDPOINT BYTES [CERTS_DIR]
 *
 * Binds a PUSH socket on ENDPOINT (a CURVE server with CERTS_DIR's
 * ventilator certificate when CERTS_DIR is given, plain otherwise), waits
 * up to 30 s for a worker to connect, sends it one message of BYTES bytes
 * (not a valid BATCH: the worker drops it before it decodes anything),
 * waits up to 30 s for the worker to drop the connection, then closes the
 * socket and exits 0. Exits 1 when no worker connected or the connection
 * was not dropped in time, 2 on bad arguments; one line on stderr says
 * which. */
#include "rs_security.h"
#include "rs_socket.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_WAIT_MS 30000

/* Waits for one monitor event of the kind asked for; true when it came. */
static bool s_wait_event(zsock_t *events, int wanted)
{
    zpoller_t *poller = zpoller_new(events, NULL);
    bool seen = false;
    for (int64_t end = zclock_mono() + S_WAIT_MS; !seen && zclock_mono() < end;) {
        if (!zpoller_wait(poller, 100))
            continue;
        zmsg_t *event = zmsg_recv(events);
        if (!event)
            break;
        zframe_t *first = zmsg_first(event);
        if (first && zframe_size(first) >= 2) {
            uint16_t kind;
            memcpy(&kind, zframe_data(first), sizeof kind);
            seen = kind == wanted;
        }
        zmsg_destroy(&event);
    }
    zpoller_destroy(&poller);
    return seen;
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "oversized_ventilator: usage: oversized_ventilator ENDPOINT BYTES [CERTS_DIR]\n");
        return 2;
    }
    char *end = NULL;
    long long bytes = strtoll(argv[2], &end, 10);
    if (*end || bytes < 1 || bytes > (1LL << 30)) {
        fprintf(stderr, "oversized_ventilator: BYTES '%s' is not a size of 1..1073741824 bytes\n",
                argv[2]);
        return 2;
    }
    zsys_init();
    char err[512];
    rs_security_t *security = rs_security_new(argc < 4, argc == 4 ? argv[3] : NULL, "ventilator",
                                              false, NULL, err, sizeof err);
    if (!security) {
        fprintf(stderr, "oversized_ventilator: %s\n", err);
        return 2;
    }
    const rs_socket_opts_t opts = { .sndhwm = 1, .max_msg_bytes = 64 };
    zsock_t *push = rs_socket_new(ZMQ_PUSH, argv[1], RS_BIND, &opts, security, NULL, err,
                                  sizeof err);
    zsock_t *events = zsock_new(ZMQ_PAIR);
    int rc = 1;
    if (!push || !events
        || zmq_socket_monitor(zsock_resolve(push), "inproc://oversized-monitor",
                              ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED)
               != 0
        || zsock_connect(events, "inproc://oversized-monitor") != 0) {
        fprintf(stderr, "oversized_ventilator: cannot bind %s: %s\n", argv[1],
                push ? zmq_strerror(zmq_errno()) : err);
        goto out;
    }
    if (!s_wait_event(events, ZMQ_EVENT_ACCEPTED)) {
        fprintf(stderr, "oversized_ventilator: no worker connected to %s within %d ms\n", argv[1],
                S_WAIT_MS);
        goto out;
    }
    zframe_t *frame = zframe_new(NULL, (size_t) bytes);
    if (!frame) {
        fprintf(stderr, "oversized_ventilator: out of memory for %lld bytes\n", bytes);
        goto out;
    }
    memset(zframe_data(frame), 0xA5, (size_t) bytes);
    zsock_set_sndtimeo(push, S_WAIT_MS);
    if (zframe_send(&frame, push, 0) != 0) {
        zframe_destroy(&frame);
        fprintf(stderr, "oversized_ventilator: sending %lld bytes failed: %s\n", bytes,
                zmq_strerror(zmq_errno()));
        goto out;
    }
    if (!s_wait_event(events, ZMQ_EVENT_DISCONNECTED)) {
        fprintf(stderr, "oversized_ventilator: the worker kept its connection after a message of %lld bytes\n",
                bytes);
        goto out;
    }
    printf("oversized_ventilator: sent %lld bytes; the worker dropped the connection\n", bytes);
    rc = 0;
out:
    if (push)
        zmq_socket_monitor(zsock_resolve(push), NULL, 0);
    zsock_destroy(&events);
    zsock_destroy(&push);
    rs_security_destroy(&security);
    return rc;
}
