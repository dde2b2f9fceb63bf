/* cmd_keys: 'recsign keys add', 'keys retire' and 'keys list': key
 * rotation by the operator. The keycoord, notified by the keys table's
 * triggers, does the rest: it puts new keys in its queue (live_at) and
 * takes retired ones out for good (retired_at). */
#include "admin_format.h"
#include "admin_store.h"
#include "commands.h"
#include "keyring.h"

#include "rs_db.h"
#include "rs_log.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Key ids named in one line of an error, at most. */
#define S_IDS_NAMED 8

int cmd_keys_add_check(rs_config_t *cfg, const admin_pos_t *pos)
{
    long long n;
    if (admin_args_int(pos->items[0], 1, ADMIN_KEYS_ADD_MAX, &n)) {
        fprintf(stderr, "%s: error: '%s' is not a number of keys; expected an integer from 1 "
                        "to %d\n", cfg->program, pos->items[0], ADMIN_KEYS_ADD_MAX);
        return -1;
    }
    rs_alg_t alg;
    return admin_args_algorithm(cfg, &alg);
}

int cmd_keys_add(rs_config_t *cfg, const admin_pos_t *pos, PGconn *conn)
{
    long long n = 0;
    if (admin_args_int(pos->items[0], 1, ADMIN_KEYS_ADD_MAX, &n))
        return -1; /* cmd_keys_add_check let it through: cannot happen */
    int64_t first = 0;
    rs_alg_t alg = RS_ALG_ED25519;
    if (admin_args_algorithm(cfg, &alg)
        || admin_keyring_add(conn, rs_config_str(cfg, "master-key"), false, n, alg, &first))
        return -1;
    for (int64_t id = first; id < first + n; id++)
        printf("%lld\n", (long long) id);
    char ids[64];
    if (n == 1)
        snprintf(ids, sizeof ids, "id %lld", (long long) first);
    else
        snprintf(ids, sizeof ids, "ids %lld..%lld", (long long) first, (long long) (first + n - 1));
    rs_info("added %lld %s key%s (%s); a running keycoord puts them in its queue now, "
            "a keycoord started later at its start", n, rs_alg_name(alg), n == 1 ? "" : "s", ids);
    return 0;
}

int cmd_keys_retire_check(rs_config_t *cfg, const admin_pos_t *pos)
{
    for (int i = 0; i < pos->count; i++) {
        long long id;
        if (admin_args_int(pos->items[i], INT32_MIN, INT32_MAX, &id)) {
            fprintf(stderr, "%s: error: '%s' is not a key id; expected integers, e.g. 'recsign "
                            "keys retire 3 7'\n", cfg->program, pos->items[i]);
            return -1;
        }
    }
    return 0;
}

static int s_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return (x > y) - (x < y);
}

/* The distinct ids of pos, ascending, into a new array (*count set).
 * NULL when out of memory. */
static int64_t *s_unique_ids(const admin_pos_t *pos, int *count)
{
    int64_t *ids = malloc((size_t) pos->count * sizeof *ids);
    if (!ids)
        return NULL;
    for (int i = 0; i < pos->count; i++) {
        long long id = 0;
        /* cmd_keys_retire_check let only valid ids through. */
        ids[i] = admin_args_int(pos->items[i], INT32_MIN, INT32_MAX, &id) ? 0 : id;
    }
    qsort(ids, (size_t) pos->count, sizeof *ids, s_cmp_i64);
    int n = 0;
    for (int i = 0; i < pos->count; i++)
        if (n == 0 || ids[n - 1] != ids[i])
            ids[n++] = ids[i];
    *count = n;
    return ids;
}

/* The retirement state of a key, read under a row lock. */
typedef struct {
    bool exists;
    int64_t requested_at, retired_at;
} s_retire_state_t;

static int s_read_states(PGconn *conn, const int64_t *ids, int count, s_retire_state_t *states)
{
    for (int i = 0; i < count; i++) {
        PGresult *res = admin_store_key_retire_state(conn, ids[i]);
        if (!res)
            return -1;
        states[i].exists = PQntuples(res) == 1;
        states[i].requested_at = states[i].exists ? admin_store_get_time(res, 0, 0)
                                                  : ADMIN_TIME_NULL;
        states[i].retired_at = states[i].exists ? admin_store_get_time(res, 0, 1)
                                                : ADMIN_TIME_NULL;
        PQclear(res);
    }
    return 0;
}

/* Logs "no key with id 42" or "no keys with ids 42, 43" when an id names
 * no key; returns how many did not. */
static int s_report_missing(const int64_t *ids, int count, const s_retire_state_t *states)
{
    char list[256];
    size_t len = 0;
    int missing = 0;
    list[0] = '\0';
    for (int i = 0; i < count; i++) {
        if (states[i].exists)
            continue;
        if (missing < S_IDS_NAMED && len < sizeof list)
            len += (size_t) snprintf(list + len, sizeof list - len, "%s%lld", missing ? ", " : "",
                                     (long long) ids[i]);
        missing++;
    }
    if (missing)
        rs_error("no key%s with id%s %s%s; nothing retired (see recsign keys list)",
                 missing == 1 ? "" : "s", missing == 1 ? "" : "s", list,
                 missing > S_IDS_NAMED ? ", ..." : "");
    return missing;
}

int cmd_keys_retire(rs_config_t *cfg, const admin_pos_t *pos, PGconn *conn)
{
    (void) cfg;
    int count = 0;
    int64_t *ids = s_unique_ids(pos, &count);
    s_retire_state_t *states = ids ? calloc((size_t) count, sizeof *states) : NULL;
    if (!states) {
        free(ids);
        rs_error("out of memory for %d key ids", pos->count);
        return -1;
    }
    int rc = -1, requested = 0;
    int64_t in_service = 0;
    if (rs_db_exec(conn, "starting a transaction", "BEGIN")
        || s_read_states(conn, ids, count, states))
        goto fail;
    if (s_report_missing(ids, count, states)) {
        rc = 1;
        goto fail;
    }
    for (int i = 0; i < count; i++) {
        char at[ADMIN_TIME_BYTES];
        if (states[i].retired_at != ADMIN_TIME_NULL)
            printf("key %lld: already retired at %s\n", (long long) ids[i],
                   admin_format_time(states[i].retired_at, 3, at, sizeof at));
        else if (states[i].requested_at != ADMIN_TIME_NULL)
            printf("key %lld: retirement already requested at %s, not done by the keycoord "
                   "yet\n", (long long) ids[i],
                   admin_format_time(states[i].requested_at, 3, at, sizeof at));
        else {
            if (admin_store_key_request_retire(conn, ids[i]))
                goto fail;
            printf("key %lld: retirement requested\n", (long long) ids[i]);
            requested++;
        }
    }
    if (admin_store_keys_in_service(conn, &in_service) || admin_store_commit(conn))
        goto fail;
    if (requested)
        rs_info("a running keycoord takes a free key out of its queue at once and a leased one "
                "when its lease ends; 'recsign keys list' shows when");
    if (in_service == 0)
        rs_warn("no key is left in service: signing waits until keys are added (recsign keys "
                "add N)");
    free(ids);
    free(states);
    return 0;
fail:
    admin_store_rollback(conn);
    free(ids);
    free(states);
    return rc;
}

/* A key's state in one word, from its times. */
static const char *s_state(int64_t live, int64_t requested, int64_t retired, int64_t quarantined)
{
    if (quarantined != ADMIN_TIME_NULL && retired == ADMIN_TIME_NULL)
        return "quarantined";
    if (retired != ADMIN_TIME_NULL)
        return "retired";
    if (requested != ADMIN_TIME_NULL)
        return "retiring";
    if (live != ADMIN_TIME_NULL)
        return "live";
    return "new";
}

int cmd_keys_list(rs_config_t *cfg, const admin_pos_t *pos, PGconn *conn)
{
    (void) cfg;
    if (admin_store_begin_snapshot(conn))
        return -1;
    PGresult *res = admin_store_keys_list(conn);
    admin_store_rollback(conn);
    if (!res)
        return -1;
    int rows = PQntuples(res);
    printf("%8s  %-10s  %-11s  %-24s  %-24s  %-24s  %-24s  %8s  %10s  %s\n", "id", "algorithm",
           "state", "created", "live (keycoord)", "retire requested", "retired (keycoord)",
           "leases", "signatures", "quarantined (keycoord)");
    for (int i = 0; i < rows; i++) {
        int64_t t[4];
        char text[4][ADMIN_TIME_BYTES];
        for (int c = 0; c < 4; c++) {
            t[c] = admin_store_get_time(res, i, 1 + c);
            admin_format_time(t[c], 3, text[c], sizeof text[c]);
        }
        int64_t quarantined = admin_store_get_time(res, i, 7);
        char qtext[ADMIN_TIME_BYTES];
        admin_format_time(quarantined, 3, qtext, sizeof qtext);
        printf("%8d  %-10s  %-11s  %-24s  %-24s  %-24s  %-24s  %8lld  %10lld  %s%s%.*s%s\n",
               rs_db_get_int4(res, i, 0), PQgetvalue(res, i, 9),
               s_state(t[1], t[2], t[3], quarantined), text[0], text[1], text[2], text[3],
               (long long) rs_db_get_int8(res, i, 5), (long long) rs_db_get_int8(res, i, 6),
               quarantined == ADMIN_TIME_NULL ? "-" : qtext,
               quarantined == ADMIN_TIME_NULL ? "" : " (reported by ",
               quarantined == ADMIN_TIME_NULL ? 0 : PQgetlength(res, i, 8), PQgetvalue(res, i, 8),
               quarantined == ADMIN_TIME_NULL ? "" : ")");
    }
    printf("%d key%s\n", rows, rows == 1 ? "" : "s");
    PQclear(res);
    return 0;
}
