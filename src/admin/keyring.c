/* keyring: see keyring.h. */
#include "keyring.h"
#include "admin_store.h"

#include "rs_crypto.h"
#include "rs_db.h"
#include "rs_log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

/* Loads the master key, creating the file first when allowed (*created
 * says whether this call made it). */
static uint8_t *s_master_key(const char *path, bool create, bool *created_now)
{
    *created_now = false;
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
        *created_now = created > 0;
        if (created)
            rs_info("created master key file %s (mode 0600); keep it safe and out of the "
                    "database", path);
    }
    uint8_t *master = rs_master_key_load(path, err, sizeof err);
    if (!master)
        rs_error("%s", err);
    return master;
}

/* Keys whose secrets the master key is tried on: a wrong master key opens
 * none of them, a right one every undamaged one. */
#define S_MASTER_PROBES 8

/* Refuses a master key that opens none of the first S_MASTER_PROBES
 * keys' secrets, those not quarantined first (an empty keyring accepts
 * any). Runs in the caller's transaction. */
static int s_check_master(PGconn *conn, const uint8_t *master, const char *path)
{
    PGresult *res = admin_store_first_sealed(conn, S_MASTER_PROBES);
    if (!res)
        return -1;
    int rc = 0, rows = PQntuples(res);
    uint8_t *secret = rows > 0 ? rs_secret_alloc(RS_SECRET_MAX) : NULL;
    if (rows > 0 && !secret) {
        rs_error("cannot allocate locked memory for secret keys");
        rc = -1;
    }
    else if (rows > 0) {
        /* One key that opens proves the master key; a damaged key (which
         * the keycoord quarantines) must not lock the keyring. */
        int opened = 0;
        for (int r = 0; r < rows && !opened; r++) {
            size_t len = 0;
            opened = rs_unseal(secret, &len, RS_SECRET_MAX, (const uint8_t *) PQgetvalue(res, r, 1),
                               (size_t) PQgetlength(res, r, 1), (uint32_t) rs_db_get_int4(res, r, 0),
                               master)
                  == 0;
        }
        if (!opened) {
            rs_error("master key %s opens none of the %d key secrets tried (key %d first); "
                     "expected the master key the keyring is sealed with",
                     path, rows, rs_db_get_int4(res, 0, 0));
            rc = -1;
        }
    }
    rs_secret_free(secret); /* wipes it */
    PQclear(res);
    return rc;
}

int admin_keyring_add(PGconn *conn, const char *master_path, bool create_master, int64_t count,
                      rs_alg_t alg, int64_t *first)
{
    bool created_now = false;
    uint8_t *master = s_master_key(master_path, create_master, &created_now);
    if (!master) {
        if (created_now)
            unlink(master_path);
        return -1;
    }
    admin_copy_t *copy = NULL;
    int64_t max = 0;
    const char *alg_name = rs_alg_name(alg);
    /* The admin lock serialises id allocation among concurrent adds. */
    if (!alg_name || admin_store_begin_locked(conn) || s_check_master(conn, master, master_path)
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
        uint8_t pk[RS_PUBLIC_KEY_MAX], sealed[RS_SEALED_SECRET_MAX];
        size_t pk_len = 0, sealed_len = 0;
        if (rs_key_generate(pk, &pk_len, sealed, &sealed_len, alg, (uint32_t) id, master)) {
            rs_error("cannot make a %s key (OpenSSL failed)", alg_name);
            goto fail;
        }
        if (admin_copy_row(copy, 4))
            goto fail;
        admin_copy_int4(copy, id);
        /* A text value in binary COPY is its bytes, like a bytea. */
        uint8_t *alg_at = admin_copy_bytea(copy, strlen(alg_name));
        uint8_t *pk_at = alg_at ? (memcpy(alg_at, alg_name, strlen(alg_name)),
                                   admin_copy_bytea(copy, pk_len))
                                : NULL;
        if (!pk_at)
            goto fail;
        memcpy(pk_at, pk, pk_len);
        uint8_t *sealed_at = admin_copy_bytea(copy, sealed_len);
        if (!sealed_at)
            goto fail;
        memcpy(sealed_at, sealed, sealed_len);
    }
    /* The insert trigger notifies the keycoord when this commits. */
    if (admin_copy_end(&copy) || admin_store_commit(conn))
        goto fail;
    rs_secret_free(master);
    *first = max + 1;
    return 0;
fail:
    admin_copy_destroy(&copy);
    admin_store_rollback(conn);
    rs_secret_free(master);
    /* A master key file made for keys that were not added (it opens none
     * of the keyring's) would only mislead: it goes again. */
    if (created_now && unlink(master_path) == 0)
        rs_info("removed master key file %s, made by this command: no key was added", master_path);
    return -1;
}
