/* cmd_init: 'recsign init': migrates the schema, adds a keyring of sealed
 * keys of one algorithm (Ed25519 by default) and seeds random records. */
#include "admin_store.h"
#include "commands.h"
#include "keyring.h"
#include "migrate.h"

#include "rs_log.h"
#include "rs_time.h"

#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    rs_alg_t alg;
    return admin_args_algorithm(cfg, &alg);
}

/* Random bytes drawn from the system a pool at a time: one
 * randombytes_buf per record (and one per length) was a getrandom system
 * call each, most of the client's time at millions of records. */
#define S_POOL_BYTES (1u << 16)

typedef struct {
    uint8_t bytes[S_POOL_BYTES];
    size_t used;
} s_pool_t;

/* Copies `len` random bytes to `out`. */
static void s_pool_take(s_pool_t *pool, uint8_t *out, size_t len)
{
    while (len > 0) {
        if (pool->used == S_POOL_BYTES) {
            randombytes_buf(pool->bytes, S_POOL_BYTES);
            pool->used = 0;
        }
        size_t n = S_POOL_BYTES - pool->used < len ? S_POOL_BYTES - pool->used : len;
        memcpy(out, pool->bytes + pool->used, n);
        pool->used += n;
        out += n;
        len -= n;
    }
}

/* A number uniform in [0, range), range >= 1: rejection sampling, as
 * randombytes_uniform does, so that no value is favoured. */
static uint32_t s_pool_uniform(s_pool_t *pool, uint32_t range)
{
    if (range <= 1)
        return 0;
    uint32_t floor = (uint32_t) -range % range; /* 2^32 mod range */
    uint32_t v;
    do {
        uint8_t b[4];
        s_pool_take(pool, b, sizeof b);
        v = (uint32_t) b[0] | (uint32_t) b[1] << 8 | (uint32_t) b[2] << 16 | (uint32_t) b[3] << 24;
    } while (v < floor);
    return v % range;
}

/* Adds `count` records with ids after the highest and random payloads of
 * a length uniform in [min, max], in one transaction. */
static int s_add_records(PGconn *conn, int64_t count, uint32_t min, uint32_t max, int64_t *first)
{
    admin_copy_t *copy = NULL;
    s_pool_t *pool = NULL;
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
    pool = malloc(sizeof *pool);
    if (!pool) {
        rs_error("out of memory");
        goto fail;
    }
    pool->used = S_POOL_BYTES;
    for (int64_t i = 1; i <= count; i++) {
        /* The options bound both to 1 MiB: the range cannot overflow. */
        uint32_t len = min + s_pool_uniform(pool, max - min + 1);
        if (admin_copy_row(copy, 2))
            goto fail;
        admin_copy_int8(copy, top + i);
        uint8_t *payload = admin_copy_bytea(copy, len);
        if (!payload)
            goto fail;
        s_pool_take(pool, payload, len);
    }
    free(pool);
    pool = NULL;
    if (admin_copy_end(&copy) || admin_store_commit(conn))
        goto fail;
    *first = top + 1;
    return 0;
fail:
    free(pool);
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
        rs_alg_t alg = RS_ALG_ED25519;
        if (admin_args_algorithm(cfg, &alg)
            || admin_keyring_add(conn, rs_config_str(cfg, "master-key"), true, keys, alg, &first))
            goto out;
        len += (size_t) snprintf(done + len, sizeof done - len,
                                 "; added %lld %s keys (ids %lld..%lld) in %.2f s", (long long) keys, rs_alg_name(alg),
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
