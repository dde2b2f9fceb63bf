/* wk_unseal: see wk_unseal.h. */
#include "wk_unseal.h"

wk_unseal_outcome_t wk_unseal(wk_unseal_state_t *state, rs_signer_t *signer,
                              const rs_lease_grant_t *grant, const uint8_t *master)
{
    if (rs_signer_open(signer, grant->sealed, grant->sealed_len, grant->key_id, master) == 0) {
        atomic_store(&state->proven, 1);
        return WK_UNSEAL_OK;
    }
    if (atomic_load(&state->proven))
        return WK_UNSEAL_KEY_BROKEN;
    if (atomic_fetch_add(&state->failures, 1) + 1 >= WK_UNSEAL_UNPROVEN_MAX)
        return WK_UNSEAL_MASTER_WRONG;
    return WK_UNSEAL_UNPROVEN;
}
