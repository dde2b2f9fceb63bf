/* keyring: see keyring.h. */
#include "keyring.h"
#include "admin_store.h"

#include "rs_crypto.h"
#include "rs_db.h"
#include "rs_log.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* Loads the master key, creating the file first when allowed. */
static uint8_t *s_master_key(const char *path, bool create)
{
    char err[512];
    struct stat st;
    if (!create && stat(path, &st) != 0 && errno == ENOENT) {
        rs_error("master key file %s not found; expected the master key the keyring is "
                 "sealed with (--master-key PATH or RECSIGN_MASTER_KEY)", path);
        return NULL;
    }
    if (create) {
        int created = rs_master_key_create(path, err, sizeof err);
        if (created < 0) {
            rs_error("%s", err);
            return NULL;
        }
        if (created)
            rs_info("created master key file %s (mode 0600); keep it safe and out of the "
                    "database", path);
    }
    uint8_t *master = rs_master_key_load(path, err, sizeof err);
    if (!master)
        rs_error("%s", err);
    return master;
}

/* Refuses a master key that does not open the lowest existing key's
 * secret (an empty keyring accepts any). Runs in the caller's
 * transaction. */
static int s_check_master(PGconn *conn, const uint8_t *master, const char *path, uint8_t *sk)
{
    PGresult *res = admin_store_first_sealed(conn);
    if (!res)
        return -1;
    int rc = 0;
    if (PQntuples(res) == 1) {
        int32_t id = rs_db_get_int4(res, 0, 0);
        if (rs_unseal(sk, (const uint8_t *) PQgetvalue(res, 0, 1),
                      (size_t) PQgetlength(res, 0, 1), (uint32_t) id, master)) {
            rs_error("master key %s does not open the secret of key %d; expected the master "
                     "key the keyring is sealed with", path, id);
            rc = -1;
        }
        sodium_memzero(sk, RS_SK_BYTES);
    }
    PQclear(res);
    return rc;
}

int admin_keyring_add(PGconn *conn, const char *master_path, bool create_master, int64_t count,
                      int64_t *first)
{
    uint8_t *master = s_master_key(master_path, create_master);
    if (!master)
        return -1;
    uint8_t *sk = rs_secret_alloc(RS_SK_BYTES);
    if (!sk) {
        rs_error("cannot allocate locked memory for secret keys");
        rs_secret_free(master);
        return -1;
    }
    admin_copy_t *copy = NULL;
    int64_t max = 0;
    /* The admin lock serialises id allocation among concurrent adds. */
    if (admin_store_begin_locked(conn) || s_check_master(conn, master, master_path, sk)
        || admin_store_max_key_id(conn, &max))
        goto fail;
    if (max + count > INT32_MAX) {
        rs_error("cannot add %lld keys after key id %lld: key ids are 32-bit integers",
                 (long long) count, (long long) max);
        goto fail;
    }
    copy = admin_store_copy_keys(conn);
    if (!copy)
        goto fail;
    for (int64_t i = 1; i <= count; i++) {
        int32_t id = (int32_t) (max + i);
        uint8_t pk[RS_PK_BYTES];
        if (admin_copy_row(copy, 3))
            goto fail;
        rs_keypair_new(pk, sk);
        admin_copy_int4(copy, id);
        uint8_t *pk_at = admin_copy_bytea(copy, RS_PK_BYTES);
        if (!pk_at)
            goto fail;
        memcpy(pk_at, pk, RS_PK_BYTES);
        uint8_t *sealed_at = admin_copy_bytea(copy, RS_SEALED_BYTES);
        if (!sealed_at)
            goto fail;
        rs_seal(sealed_at, sk, (uint32_t) id, master);
        sodium_memzero(sk, RS_SK_BYTES);
    }
    /* The insert trigger notifies the keycoord when this commits. */
    if (admin_copy_end(&copy) || admin_store_commit(conn))
        goto fail;
    rs_secret_free(sk);
    rs_secret_free(master);
    *first = max + 1;
    return 0;
fail:
    admin_copy_destroy(&copy);
    admin_store_rollback(conn);
    rs_secret_free(sk);
    rs_secret_free(master);
    return -1;
}
