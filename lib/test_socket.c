/* Unit test of rs_socket's message size limit: a socket made with
 * max_msg_bytes N takes every message of N bytes and refuses N + 1, over
 * CurveZMQ as well as plain (regression: libzmq checks ZMQ_MAXMSGSIZE on
 * the wire frame, 33 bytes longer under CURVE, so a batch within 33 bytes
 * of the limit dropped the worker's connection to the ventilator for good).
 * Real sockets over loopback TCP, certificates made in a temporary
 * directory. */
#include "rs_check.h"
#include "rs_socket.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The size the worker accepts by default and the ventilator never passes. */
#define S_LIMIT (4u << 20)

/* Sends one message of `size` bytes from a bound PUSH to a connected PULL
 * limited to S_LIMIT; returns whether it arrived within 2 s. */
static bool s_passes(rs_security_t *server, rs_security_t *client, size_t size)
{
    char err[256];
    const rs_socket_opts_t push_opts = { .sndhwm = 1, .max_msg_bytes = 64, .wait_ms = 2000 };
    const rs_socket_opts_t pull_opts = { .rcvhwm = 1, .max_msg_bytes = S_LIMIT, .wait_ms = 2000 };
    zsock_t *push = rs_socket_new(ZMQ_PUSH, "tcp://127.0.0.1:*", RS_BIND, &push_opts, server,
                                  NULL, err, sizeof err);
    RS_CHECK(push != NULL);
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%s",
             strrchr(zsock_endpoint(push), ':') + 1);
    zsock_t *pull = rs_socket_new(ZMQ_PULL, endpoint, RS_CONNECT, &pull_opts, client,
                                  "ventilator", err, sizeof err);
    RS_CHECK(pull != NULL);
    zframe_t *frame = zframe_new(NULL, size);
    memset(zframe_data(frame), 0x5a, size);
    RS_CHECK(zframe_send(&frame, push, 0) == 0);
    zframe_t *got = zframe_recv(pull);
    bool passed = got && zframe_size(got) == size;
    zframe_destroy(&got);
    zsock_destroy(&pull);
    zsock_destroy(&push);
    return passed;
}

int main(void)
{
    zsys_init();
    zsys_set_logstream(NULL);
    char dir[] = "/tmp/rs-test-socket.XXXXXX";
    RS_CHECK(mkdtemp(dir) != NULL);
    char allowed[600];
    snprintf(allowed, sizeof allowed, "%s/allowed", dir);
    RS_CHECK(zsys_dir_create("%s", allowed) == 0);
    zcert_t *service = zcert_new(), *worker = zcert_new();
    char path[700];
    snprintf(path, sizeof path, "%s/ventilator.cert", dir);
    RS_CHECK(zcert_save(service, path) == 0);
    snprintf(path, sizeof path, "%s/worker.cert", dir);
    RS_CHECK(zcert_save(worker, path) == 0);
    snprintf(path, sizeof path, "%s/worker.cert", allowed);
    RS_CHECK(zcert_save_public(worker, path) == 0);

    char err[256];
    rs_security_t *server = rs_security_new(false, dir, "ventilator", true, NULL, err, sizeof err);
    RS_CHECK(server != NULL);
    rs_security_t *client = rs_security_new(false, dir, "worker", false, NULL, err, sizeof err);
    RS_CHECK(client != NULL);
    rs_security_t *plain = rs_security_new(true, NULL, NULL, false, NULL, err, sizeof err);
    RS_CHECK(plain != NULL);

    /* At the limit: the message passes, CURVE or not. */
    RS_CHECK(s_passes(server, client, S_LIMIT));
    RS_CHECK(s_passes(server, client, S_LIMIT - 1));
    RS_CHECK(s_passes(plain, plain, S_LIMIT));
    /* One byte over: refused, CURVE or not. */
    RS_CHECK(!s_passes(server, client, S_LIMIT + 1));
    RS_CHECK(!s_passes(plain, plain, S_LIMIT + 1));

    rs_security_destroy(&plain);
    rs_security_destroy(&client);
    rs_security_destroy(&server);
    zcert_destroy(&worker);
    zcert_destroy(&service);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    RS_CHECK(system(cmd) == 0);
    printf("test_socket: OK\n");
    return 0;
}
