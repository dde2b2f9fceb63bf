/* curve_probe: a test client for tests/hosts/multi_host.sh. It connects to
 * the ventilator (PULL), the keycoord (DEALER) and the sink (PUSH) the way a
 * worker does (lib/rs_security, with a client certificate from --certs),
 * watches each connection's CurveZMQ handshake with a socket monitor, asks
 * the keycoord for a lease, pushes one forged result to the sink, and counts
 * what comes back for --seconds.
 *
 * The worker itself cannot show this: it pings the keycoord before it opens
 * its PULL and PUSH sockets, and exits when that ping is not answered.
 *
 *   --expect refused (default): passes when every handshake was refused by
 *     the server's authenticator (at least one HANDSHAKE_FAILED_AUTH per
 *     socket, none succeeded), no batch and no lease reply arrived.
 *   --expect allowed: the control; passes when all three handshakes
 *     succeeded and at least one batch arrived. It sends nothing.
 *
 * Prints one summary line per socket; exit 0 pass, 1 fail, 2 usage. */
#include "rs_proto.h"
#include "rs_security.h"

#include <czmq.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { S_VENT, S_KC, S_SINK, S_COUNT };

static const char *s_service[S_COUNT] = { "ventilator", "keycoord", "sink" };

typedef struct {
    zsock_t *sock;
    void *monitor;        /* raw PAIR socket receiving the monitor's events */
    int ok, auth_failed, other_failed, received;
} s_conn_t;

static void s_usage(void)
{
    fprintf(stderr,
            "usage: curve_probe --certs DIR --client-cert NAME --ventilator EP --keycoord EP --sink EP\n"
            "                   [--seconds N] [--expect refused|allowed] [--holder NAME]\n"
            "                   [--lease-id N --key-id N --record-id N]\n");
}

/* Reads one monitor event: [uint16 event, uint32 value][endpoint]. */
static int s_read_event(void *monitor)
{
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    if (zmq_msg_recv(&msg, monitor, 0) == -1)
        return -1;
    uint16_t event = 0;
    if (zmq_msg_size(&msg) >= 2)
        memcpy(&event, zmq_msg_data(&msg), 2);
    zmq_msg_close(&msg);
    zmq_msg_init(&msg);
    zmq_msg_recv(&msg, monitor, 0); /* the endpoint: not needed */
    zmq_msg_close(&msg);
    return event;
}

int main(int argc, char **argv)
{
    const char *certs = NULL, *client = NULL, *expect = "refused", *holder = "curve-probe";
    const char *endpoint[S_COUNT] = { NULL, NULL, NULL };
    long seconds = 3;
    unsigned long long lease_id = 1, key_id = 1;
    long long record_id = 1;
    static const struct option opts[] = {
        { "certs", required_argument, NULL, 'c' },
        { "client-cert", required_argument, NULL, 'n' },
        { "ventilator", required_argument, NULL, 'v' },
        { "keycoord", required_argument, NULL, 'k' },
        { "sink", required_argument, NULL, 's' },
        { "seconds", required_argument, NULL, 't' },
        { "expect", required_argument, NULL, 'e' },
        { "holder", required_argument, NULL, 'h' },
        { "lease-id", required_argument, NULL, 'L' },
        { "key-id", required_argument, NULL, 'K' },
        { "record-id", required_argument, NULL, 'R' },
        { NULL, 0, NULL, 0 },
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 'c': certs = optarg; break;
        case 'n': client = optarg; break;
        case 'v': endpoint[S_VENT] = optarg; break;
        case 'k': endpoint[S_KC] = optarg; break;
        case 's': endpoint[S_SINK] = optarg; break;
        case 't': seconds = strtol(optarg, NULL, 10); break;
        case 'e': expect = optarg; break;
        case 'h': holder = optarg; break;
        case 'L': lease_id = strtoull(optarg, NULL, 10); break;
        case 'K': key_id = strtoull(optarg, NULL, 10); break;
        case 'R': record_id = strtoll(optarg, NULL, 10); break;
        default: s_usage(); return 2;
        }
    }
    bool refused = strcmp(expect, "refused") == 0;
    if (!certs || !client || !endpoint[S_VENT] || !endpoint[S_KC] || !endpoint[S_SINK]
        || seconds < 1 || seconds > 60 || (!refused && strcmp(expect, "allowed") != 0)) {
        s_usage();
        return 2;
    }
    zsys_init();
    zsys_set_logstream(NULL);
    char err[512];
    rs_security_t *security = rs_security_new(false, certs, client, false, NULL, err, sizeof err);
    if (!security) {
        fprintf(stderr, "curve_probe: %s\n", err);
        return 2;
    }
    static const int types[S_COUNT] = { ZMQ_PULL, ZMQ_DEALER, ZMQ_PUSH };
    s_conn_t conn[S_COUNT];
    memset(conn, 0, sizeof conn);
    for (int i = 0; i < S_COUNT; i++) {
        conn[i].sock = zsock_new(types[i]);
        zsock_set_linger(conn[i].sock, 0);
        if (rs_security_connect(security, conn[i].sock, s_service[i], err, sizeof err) != 0) {
            fprintf(stderr, "curve_probe: %s\n", err);
            return 2;
        }
        /* The monitor goes on before connect, so no handshake is missed. */
        char inproc[64];
        snprintf(inproc, sizeof inproc, "inproc://curve-probe-monitor-%d", i);
        if (zmq_socket_monitor(zsock_resolve(conn[i].sock), inproc,
                               ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
                                   | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                                   | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
            != 0) {
            fprintf(stderr, "curve_probe: socket monitor: %s\n", zmq_strerror(zmq_errno()));
            return 2;
        }
        conn[i].monitor = zmq_socket(zsys_init(), ZMQ_PAIR);
        zmq_connect(conn[i].monitor, inproc);
        if (zsock_connect(conn[i].sock, "%s", endpoint[i]) != 0) {
            fprintf(stderr, "curve_probe: cannot connect to %s\n", endpoint[i]);
            return 2;
        }
    }
    if (refused) {
        /* A well-formed lease request, and a result that the sink would
         * store from an allowed sender (a released lease of the right key
         * passes its fencing): neither may get through. */
        rs_lease_req_t req = { .seq = 1, .want = true, .run_id = 0, .batch_records = 1 };
        snprintf(req.holder, sizeof req.holder, "%s", holder);
        uint8_t buf[RS_LEASE_REQ_MAX_BYTES];
        size_t size = rs_lease_req_encode(&req, buf, sizeof buf);
        zmsg_t *msg = zmsg_new();
        zmsg_addmem(msg, NULL, 0);
        zmsg_addmem(msg, buf, size);
        zsock_set_sndtimeo(conn[S_KC].sock, 0);
        if (zmsg_send(&msg, conn[S_KC].sock) != 0)
            zmsg_destroy(&msg);
        zframe_t *frame = zframe_new(NULL, rs_results_size(1, 64));
        uint8_t signature[64] = { 0 };
        rs_results_begin(zframe_data(frame), lease_id, (uint32_t) key_id, 1, 64);
        rs_results_put(zframe_data(frame), 64, 0, (int64_t) record_id, signature, sizeof signature);
        zsock_set_sndtimeo(conn[S_SINK].sock, 0);
        if (zframe_send(&frame, conn[S_SINK].sock, 0) == 0)
            conn[S_SINK].received = 1; /* queued on the socket; delivered only after a handshake */
        else
            zframe_destroy(&frame);
    }
    zmq_pollitem_t items[S_COUNT + 2];
    for (int i = 0; i < S_COUNT; i++)
        items[i] = (zmq_pollitem_t) { .socket = conn[i].monitor, .events = ZMQ_POLLIN };
    items[S_COUNT] = (zmq_pollitem_t) { .socket = zsock_resolve(conn[S_VENT].sock), .events = ZMQ_POLLIN };
    items[S_COUNT + 1] = (zmq_pollitem_t) { .socket = zsock_resolve(conn[S_KC].sock), .events = ZMQ_POLLIN };
    int64_t end = zclock_mono() + seconds * 1000;
    while (!zsys_interrupted) {
        int64_t left = end - zclock_mono();
        if (left <= 0)
            break;
        if (zmq_poll(items, S_COUNT + 2, (long) left) < 0)
            break;
        for (int i = 0; i < S_COUNT; i++) {
            if (!(items[i].revents & ZMQ_POLLIN))
                continue;
            int event = s_read_event(conn[i].monitor);
            if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
                conn[i].ok++;
            else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
                conn[i].auth_failed++;
            else if (event > 0)
                conn[i].other_failed++;
        }
        for (int i = 0; i < 2; i++) {
            if (!(items[S_COUNT + i].revents & ZMQ_POLLIN))
                continue;
            zmsg_t *msg = zmsg_recv(i == 0 ? conn[S_VENT].sock : conn[S_KC].sock);
            zmsg_destroy(&msg);
            conn[i == 0 ? S_VENT : S_KC].received++;
        }
    }
    bool pass = true;
    for (int i = 0; i < S_COUNT; i++) {
        printf("curve_probe %s (%s): %s %s: handshakes succeeded %d, refused by authentication %d, other failures %d; %s %d\n",
               client, expect, s_service[i], endpoint[i], conn[i].ok, conn[i].auth_failed,
               conn[i].other_failed,
               i == S_VENT ? "batches received" : i == S_KC ? "lease replies received"
                                                  : "forged results queued",
               conn[i].received);
        if (refused)
            pass = pass && conn[i].ok == 0 && conn[i].auth_failed > 0
                   && (i == S_SINK || conn[i].received == 0);
        else
            pass = pass && conn[i].ok > 0 && conn[i].auth_failed == 0;
    }
    if (!refused)
        pass = pass && conn[S_VENT].received > 0;
    for (int i = 0; i < S_COUNT; i++) {
        zmq_socket_monitor(zsock_resolve(conn[i].sock), NULL, 0);
        zmq_close(conn[i].monitor);
        zsock_destroy(&conn[i].sock);
    }
    rs_security_destroy(&security);
    printf("curve_probe %s: %s\n", client, pass ? "PASS" : "FAIL");
    return pass ? 0 : 1;
}
