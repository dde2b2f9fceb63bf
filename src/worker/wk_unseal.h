/* wk_unseal: unseals leased keys for every signing thread of a worker and
 * tells a damaged key from a wrong master key. A sealed secret is
 * authenticated (XChaCha20-Poly1305, key id as associated data), so once
 * this worker's master key has unsealed one key it is the keyring's, and
 * a key that fails after that is damaged. Until then a failure proves
 * nothing either way: the lease is given back plainly (never reported,
 * so that a worker with a wrong master key cannot quarantine the
 * keyring), and a few failures in a row with no key unsealed mean a
 * wrong master key. Shared by the threads; every field is atomic. */
#ifndef WK_UNSEAL_H
#define WK_UNSEAL_H

#include "rs_proto.h"
#include "rs_signer.h"

#include <stdatomic.h>
#include <stdint.h>

/* Failures in a row, with no key unsealed, that mean a wrong master key. */
#define WK_UNSEAL_UNPROVEN_MAX 3

typedef struct {
    atomic_int proven;   /* a key was unsealed: the master key is right */
    atomic_int failures; /* failures while not proven */
} wk_unseal_state_t;

typedef enum {
    WK_UNSEAL_OK,           /* the signer holds the key, open for the batch */
    WK_UNSEAL_KEY_BROKEN,   /* the master key is proven: this key's secret is damaged */
    WK_UNSEAL_UNPROVEN,     /* failed before any key was unsealed: give it back, try another */
    WK_UNSEAL_MASTER_WRONG, /* WK_UNSEAL_UNPROVEN_MAX failures with none unsealed: stop */
} wk_unseal_outcome_t;

/* Opens the grant's key in signer (rs_signer_open: unseals it with the
 * master key and prepares it for its algorithm), and judges a failure as
 * above. A secret that unseals but is no key of a known algorithm counts
 * as damaged too. */
wk_unseal_outcome_t wk_unseal(wk_unseal_state_t *state, rs_signer_t *signer,
                              const rs_lease_grant_t *grant, const uint8_t *master)
    __attribute__((warn_unused_result));

#endif
