/* cmd_init: 'recsign init': migrates the schema, adds a keyring of sealed
 * Ed25519 keys and seeds random records. */
#include "admin_store.h"
#include "commands.h"
#include "keyring.h"
#include "migrate.h"

#include "rs_log.h"
#include "rs_time.h"

#include <sodium.h>
#include <stdint.h>
#include <stdio.h>

int cmd_init_check(rs_config_t *cfg, const admin_pos_t *pos)
{
    long long min = rs_config_int(cfg, "payload-min");
    long long max = rs_config_int(cfg, "payload-max");
    if (min > max) {
        fprintf(stderr,
                "%s: error: --payload-min is %lld but --payload-max is %lld; "
                "expected payload-min <= payload-max\n",
                cfg->program, min, max);
        return -1;
    }
    return 0;
}

/* Adds `count` records with ids after the highest and random payloads of
 * a length uniform in [min, max], in one transaction. */
static int s_add_records(PGconn *conn, int64_t count, uint32_t min, uint32_t max, int64_t *first)
{
    admin_copy_t *copy = NULL;
    int64_t top = 0;
    if (admin_store_begin_locked(conn) || admin_store_max_record_id(conn, &top))
        goto fail;
    if (top > INT64_MAX - count) {
        rs_error("cannot add %lld records after record id %lld: ids would overflow",
                 (long long) count, (long long) top);
        goto fail;
    }
    copy = admin_store_copy_records(conn);
    if (!copy)
        goto fail;
    for (int64_t i = 1; i <= count; i++) {
        uint32_t len = min + randombytes_uniform(max - min + 1);
        if (admin_copy_row(copy, 2))
            goto fail;
        admin_copy_int8(copy, top + i);
        uint8_t *payload = admin_copy_bytea(copy, len);
        if (!payload)
            goto fail;
        randombytes_buf(payload, len);
    }
    if (admin_copy_end(&copy) || admin_store_commit(conn))
        goto fail;
    *first = top + 1;
    return 0;
fail:
    admin_copy_destroy(&copy);
    admin_store_rollback(conn);
    return -1;
}

int cmd_init(rs_config_t *cfg, const admin_pos_t *pos, PGconn *conn)
{
    int64_t keys = rs_config_int(cfg, "keys");
    int64_t records = rs_config_int(cfg, "records");
    /* The summary says what was done even when a later step fails. */
    char done[512];
    size_t len = 0;
    int rc = -1;
    int from = 0, to = 0;
    if (admin_migrate(conn, &from, &to))
        return -1;
    if (from == to)
        len += (size_t) snprintf(done, sizeof done, "schema at version %d (up to date)", to);
    else
        len += (size_t) snprintf(done, sizeof done, "schema at version %d (migrated from %d)", to,
                                 from);
    if (keys > 0) {
        int64_t first = 0;
        int64_t t0 = rs_mono_us();
        if (admin_keyring_add(conn, rs_config_str(cfg, "master-key"), true, keys, &first))
            goto out;
        len += (size_t) snprintf(done + len, sizeof done - len,
                                 "; added %lld keys (ids %lld..%lld) in %.2f s", (long long) keys,
                                 (long long) first, (long long) (first + keys - 1),
                                 (double) (rs_mono_us() - t0) / 1e6);
    }
    if (records > 0) {
        int64_t first = 0;
        int64_t t0 = rs_mono_us();
        if (s_add_records(conn, records, (uint32_t) rs_config_int(cfg, "payload-min"),
                          (uint32_t) rs_config_int(cfg, "payload-max"), &first))
            goto out;
        len += (size_t) snprintf(done + len, sizeof done - len,
                                 "; added %lld records (ids %lld..%lld) in %.2f s",
                                 (long long) records, (long long) first,
                                 (long long) (first + records - 1),
                                 (double) (rs_mono_us() - t0) / 1e6);
    }
    rc = 0;
out:
    printf("%s\n", done);
    return rc;
}
