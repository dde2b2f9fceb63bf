/* kc_server: the keycoord's ROUTER loop. It reads lease requests, applies
 * them to the coordinator, makes the resulting lease-log events durable in
 * one write per loop turn (group commit), and only then answers. */
#ifndef KC_SERVER_H
#define KC_SERVER_H

#include "kc_coord.h"
#include "kc_store.h"

#include <czmq.h>

typedef struct kc_server_t kc_server_t;

/* Borrows router, coord and store; they must outlive the server. Returns
 * NULL on allocation failure. */
kc_server_t *kc_server_new(zsock_t *router, kc_coord_t *coord, kc_store_t *store);
void kc_server_destroy(kc_server_t **self_p);

/* Serves until interrupted (SIGINT/SIGTERM). Returns 0. */
int kc_server_run(kc_server_t *self);

/* Frees a waiter cookie (a routing-id frame); for kc_coord_new. */
void kc_server_cookie_free(void **cookie_p);

#endif
