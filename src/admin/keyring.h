/* keyring: adds keys of one algorithm to the keyring, their secrets sealed under
 * the master key. The one code path of 'recsign init --keys' and
 * 'recsign keys add'. */
#ifndef ADMIN_KEYRING_H
#define ADMIN_KEYRING_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "rs_signer.h"

/* Adds count (>= 1) new keys of algorithm alg with ids after the highest, in one
 * transaction, their secrets sealed under the master key read from
 * master_path. When that file is absent it is created (mode 0600) if
 * create_master is true, else that is an error. A master key that does
 * not open the secret of the keyring's lowest existing key is refused, so
 * that no key is ever sealed under a key the workers do not hold.
 * *first gets the first new id; the new ids are first..first+count-1.
 * Returns 0, or -1 (logged; nothing added). */
int admin_keyring_add(PGconn *conn, const char *master_path, bool create_master, int64_t count,
                      rs_alg_t alg, int64_t *first) __attribute__((warn_unused_result));

#endif
