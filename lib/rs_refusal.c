/* rs_refusal: see rs_refusal.h. */
#include "rs_refusal.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct rs_refusal_t {
    void *watched; /* the libzmq socket being monitored */
    void *pair;    /* our end of its monitor */
    int refused;
    rs_refusal_drop_fn *on_drop;
    void *arg;
};

static atomic_uint s_next_id;

rs_refusal_t *rs_refusal_new(zsock_t *sock, rs_refusal_drop_fn *on_drop, void *arg)
{
    rs_refusal_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->on_drop = on_drop;
    self->arg = arg;
    char endpoint[80];
    snprintf(endpoint, sizeof endpoint, "inproc://rs-refusal-%ld-%u", (long) getpid(),
             atomic_fetch_add(&s_next_id, 1));
    self->watched = zsock_resolve(sock);
    int events = ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | (on_drop ? ZMQ_EVENT_DISCONNECTED : 0);
    if (zmq_socket_monitor(self->watched, endpoint, events) != 0) {
        free(self);
        return NULL;
    }
    /* The monitor's PAIR lives in the socket's context: CZMQ's. */
    self->pair = zmq_socket(zsys_init(), ZMQ_PAIR);
    int linger = 0;
    if (!self->pair || zmq_setsockopt(self->pair, ZMQ_LINGER, &linger, sizeof linger) != 0
        || zmq_connect(self->pair, endpoint) != 0) {
        rs_refusal_destroy(&self);
        return NULL;
    }
    return self;
}

void rs_refusal_destroy(rs_refusal_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    rs_refusal_t *self = *self_p;
    zmq_socket_monitor(self->watched, NULL, 0);
    if (self->pair)
        zmq_close(self->pair);
    free(self);
    *self_p = NULL;
}

int rs_refusal_count(rs_refusal_t *self)
{
    if (!self)
        return 0;
    for (;;) {
        /* An event is two frames: [event u16, value u32] and the endpoint. */
        zmq_msg_t head;
        zmq_msg_init(&head);
        if (zmq_msg_recv(&head, self->pair, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&head);
            break;
        }
        uint16_t event = 0;
        uint32_t value = 0;
        if (zmq_msg_size(&head) >= 6) {
            memcpy(&event, zmq_msg_data(&head), 2);
            memcpy(&value, (uint8_t *) zmq_msg_data(&head) + 2, 4);
            /* ZAP status 400: the authenticator refused our public key. */
            if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH && value == 400)
                self->refused++;
        }
        int more = zmq_msg_more(&head);
        zmq_msg_close(&head);
        char endpoint[256] = "";
        while (more) {
            zmq_msg_t rest;
            zmq_msg_init(&rest);
            if (zmq_msg_recv(&rest, self->pair, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&rest);
                break;
            }
            if (!endpoint[0]) {
                size_t size = zmq_msg_size(&rest) < sizeof endpoint - 1 ? zmq_msg_size(&rest)
                                                                         : sizeof endpoint - 1;
                memcpy(endpoint, zmq_msg_data(&rest), size);
                endpoint[size] = '\0';
            }
            more = zmq_msg_more(&rest);
            zmq_msg_close(&rest);
        }
        if (event == ZMQ_EVENT_DISCONNECTED && self->on_drop)
            self->on_drop(self->arg, endpoint[0] ? endpoint : "?");
    }
    return self->refused;
}

void *rs_refusal_pollable(rs_refusal_t *self)
{
    return self ? self->pair : NULL;
}
