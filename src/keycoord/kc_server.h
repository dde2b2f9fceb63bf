/* kc_server: the keycoord's ROUTER loop. Each turn it reads the waiting
 * lease requests, applies them to the coordinator, answers, and hands the
 * turn's lease-log events to the log writer thread. */
#ifndef KC_SERVER_H
#define KC_SERVER_H

#include "kc_coord.h"
#include "kc_logger.h"
#include "rs_security.h"

#include <czmq.h>

typedef struct kc_server_t kc_server_t;

/* Borrows router, coord, logger, the owner store (the connection that
 * holds the keycoord lock) and security (which says whether a request's
 * sender is still allowed); they must outlive the server. Returns NULL on
 * allocation failure. */
kc_server_t *kc_server_new(zsock_t *router, kc_coord_t *coord, kc_logger_t *logger,
                           kc_store_t *owner, rs_security_t *security);
void kc_server_destroy(kc_server_t **self_p);

/* Serves until interrupted (SIGINT/SIGTERM). Returns 0 when every event
 * was handed to the logger, -1 otherwise. */
int kc_server_run(kc_server_t *self);

/* Frees a waiter cookie (a routing-id frame); for kc_coord_new. */
void kc_server_cookie_free(void **cookie_p);

#endif
