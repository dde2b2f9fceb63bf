/* kc_server: the keycoord's ROUTER loop. Each turn it reads the waiting
 * lease requests, applies them to the coordinator, answers, and hands the
 * turn's lease-log events to the log writer thread. */
#ifndef KC_SERVER_H
#define KC_SERVER_H

#include "kc_coord.h"
#include "kc_logger.h"
#include "kc_store.h"
#include "rs_security.h"

#include <czmq.h>

typedef struct kc_server_t kc_server_t;

/* How long a confirmation of leadership is good for, in ms: a leader
 * grants nothing on an older one, so a deposed leader grants for at most
 * this long after the takeover (and none of that reaches the log); a new
 * leader that takes over from one that did not stop cleanly holds its
 * grants for a TTL and this long. */
#define KC_LEADER_VALID_MS 1000

/* Borrows router, coord, logger, the owner store (the connection that
 * holds the keycoord lock), the epoch of this leadership term and
 * security (which says whether a request's sender is still allowed); they
 * must outlive the server. Returns NULL on allocation failure. */
kc_server_t *kc_server_new(zsock_t *router, kc_coord_t *coord, kc_logger_t *logger,
                           kc_store_t *owner, int64_t epoch, rs_security_t *security);
void kc_server_destroy(kc_server_t **self_p);

/* How a term of serving ended. */
typedef enum {
    KC_SERVE_STOPPED = 0, /* interrupted (SIGINT/SIGTERM); every event handed to the logger */
    KC_SERVE_DEPOSED = 1, /* leadership lost or not confirmed: nothing more may be granted */
} kc_serve_t;

/* Serves while leading, confirming leadership on the owner store every
 * 250 ms and before handling anything after a longer gap (a pause), until
 * interrupted or deposed. Returns a kc_serve_t, or -1 when events could
 * not be handed to the logger. */
int kc_server_run(kc_server_t *self);

/* Frees a waiter cookie (a routing-id frame); for kc_coord_new. */
void kc_server_cookie_free(void **cookie_p);

#endif
