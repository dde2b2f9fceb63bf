/* cmd_status: 'recsign status': progress, open leases, key use and runs,
 * compact enough to read at a glance on a large keyring. */
#include "admin_format.h"
#include "admin_store.h"
#include "commands.h"

#include "rs_db.h"
#include "rs_log.h"

#include <stdio.h>

/* Lists longer than these are cut, with a count of the rest. */
#define S_OPEN_LEASES_SHOWN 20
#define S_KEYS_SHOWN 24
#define S_KEYS_PER_LINE 4
#define S_RUNS_SHOWN 10
#define S_TIME_BYTES ADMIN_TIME_BYTES

static void s_print_counts(const PGresult *res, int64_t *open_leases)
{
    int64_t records = rs_db_get_int8(res, 0, 0), signed_records = rs_db_get_int8(res, 0, 1);
    int64_t signatures = rs_db_get_int8(res, 0, 2), keys = rs_db_get_int8(res, 0, 3);
    int64_t leases = rs_db_get_int8(res, 0, 4), released = rs_db_get_int8(res, 0, 5);
    int64_t expired = rs_db_get_int8(res, 0, 6), open = rs_db_get_int8(res, 0, 7);
    int64_t runs = rs_db_get_int8(res, 0, 8);
    double pct = records ? 100.0 * (double) signed_records / (double) records : 0.0;
    printf("records:    %lld signed of %lld (%.1f%%), %lld to go", (long long) signed_records,
           (long long) records, pct, (long long) (records - signed_records));
    int64_t of_deleted = rs_db_get_int8(res, 0, 13), refused = rs_db_get_int8(res, 0, 14);
    if (signatures - signed_records > of_deleted)
        printf("; %lld signatures of no record (see recsign audit)",
               (long long) (signatures - signed_records - of_deleted));
    printf("\n");
    if (of_deleted)
        printf("deleted:    %lld signatures of records deleted since they were dispatched (kept; "
               "not a violation)\n", (long long) of_deleted);
    if (refused)
        printf("refused:    %lld records cannot be signed (payload over 1 MiB): %.*s%s\n",
               (long long) refused, PQgetlength(res, 0, 16), PQgetvalue(res, 0, 16),
               refused > 10 ? ", ..." : "");
    int64_t live = rs_db_get_int8(res, 0, 9), retiring = rs_db_get_int8(res, 0, 10);
    int64_t retired = rs_db_get_int8(res, 0, 11), pending = rs_db_get_int8(res, 0, 12);
    printf("keys:       %lld: %lld live", (long long) keys, (long long) live);
    if (retiring)
        printf(" (%lld of them asked to retire)", (long long) retiring);
    printf(", %lld retired", (long long) retired);
    int64_t quarantined = rs_db_get_int8(res, 0, 15);
    if (quarantined)
        printf(", %lld quarantined (secret cannot be unsealed; see recsign keys list)",
               (long long) quarantined);
    if (pending)
        printf(", %lld not live yet (the keycoord has not loaded them)", (long long) pending);
    printf("\n");
    printf("leases:     %lld granted: %lld released, %lld expired, %lld open\n",
           (long long) leases, (long long) released, (long long) expired, (long long) open);
    printf("runs:       %lld\n", (long long) runs);
    *open_leases = open;
}

static void s_print_keycoord(const PGresult *res)
{
    if (PQntuples(res) != 1)
        return;
    long long epoch = (long long) rs_db_get_int8(res, 0, 0);
    long long session = (long long) rs_db_get_int8(res, 0, 4);
    long long ttl = (long long) rs_db_get_int8(res, 0, 2);
    long long hold = (long long) rs_db_get_int8(res, 0, 3);
    if (session)
        printf("keycoord:   leader of epoch %lld (lock held by database session %lld), leases of %lld ms",
               epoch, session, ttl);
    else
        printf("keycoord:   none leads (last epoch %lld, which %s)", epoch,
               rs_db_get_int8(res, 0, 1) ? "stopped cleanly" : "did not stop cleanly");
    if (hold)
        printf("; no key granted for %lld ms more (the hold after an unclean stop)", hold);
    printf("\n");
}

static void s_print_open_leases(const PGresult *res, int64_t total)
{
    if (total == 0)
        return;
    printf("open leases:\n");
    int rows = PQntuples(res);
    for (int i = 0; i < rows; i++) {
        char granted[S_TIME_BYTES];
        printf("  lease %-8lld key %-6d holder %-24.*s granted %s\n",
               (long long) rs_db_get_int8(res, i, 0), rs_db_get_int4(res, i, 1),
               PQgetlength(res, i, 2), PQgetvalue(res, i, 2),
               admin_format_time(admin_store_get_time(res, i, 3), 3, granted, sizeof granted));
    }
    if (total > rows)
        printf("  ... and %lld more\n", (long long) (total - rows));
}

/* One cell per key, several per line, then min/max over every key when
 * the keyring is too large to list. */
static void s_print_key_use(const PGresult *res)
{
    int rows = PQntuples(res);
    if (rows == 0)
        return;
    printf("key use (leases granted / signatures stored):\n");
    int64_t min_l = INT64_MAX, max_l = 0, min_s = INT64_MAX, max_s = 0, unused = 0;
    for (int i = 0; i < rows; i++) {
        int64_t l = rs_db_get_int8(res, i, 1), s = rs_db_get_int8(res, i, 2);
        min_l = l < min_l ? l : min_l;
        max_l = l > max_l ? l : max_l;
        min_s = s < min_s ? s : min_s;
        max_s = s > max_s ? s : max_s;
        unused += l == 0;
        if (i < S_KEYS_SHOWN) {
            char cell[48];
            snprintf(cell, sizeof cell, "key %d: %lld/%lld", rs_db_get_int4(res, i, 0),
                     (long long) l, (long long) s);
            int last = i % S_KEYS_PER_LINE == S_KEYS_PER_LINE - 1 || i == rows - 1
                       || i == S_KEYS_SHOWN - 1;
            const char *indent = i % S_KEYS_PER_LINE ? "" : "  ";
            if (last)
                printf("%s%s\n", indent, cell); /* no trailing blanks */
            else
                printf("%s%-22s", indent, cell);
        }
    }
    if (rows > S_KEYS_SHOWN)
        printf("  ... and %d more keys\n", rows - S_KEYS_SHOWN);
    printf("  per key: leases %lld..%lld, signatures %lld..%lld; %lld keys never leased\n",
           (long long) min_l, (long long) max_l, (long long) min_s, (long long) max_s,
           (long long) unused);
}

/* "keys by algorithm: ecdsa-p256 2 (2 live), ed25519 4 (3 live)". */
static void s_print_algorithms(const PGresult *res)
{
    int rows = PQntuples(res);
    if (rows == 0)
        return;
    printf("keys by algorithm:");
    for (int i = 0; i < rows; i++)
        printf("%s %s %lld (%lld live)", i ? "," : "", PQgetvalue(res, i, 0),
               (long long) rs_db_get_int8(res, i, 1), (long long) rs_db_get_int8(res, i, 2));
    printf("\n");
}

static void s_print_runs(const PGresult *res, int64_t total)
{
    int rows = PQntuples(res);
    if (rows == 0)
        return;
    printf("runs%s:\n", total > rows ? " (latest)" : "");
    for (int i = 0; i < rows; i++) {
        char started[S_TIME_BYTES], first[S_TIME_BYTES], finished[S_TIME_BYTES];
        printf("  run %-5lld batch %-6d started %s  first dispatch %s  finished %s\n",
               (long long) rs_db_get_int8(res, i, 0), rs_db_get_int4(res, i, 1),
               admin_format_time(admin_store_get_time(res, i, 2), 3, started, sizeof started),
               admin_format_time(admin_store_get_time(res, i, 3), 3, first, sizeof first),
               admin_format_time(admin_store_get_time(res, i, 4), 3, finished, sizeof finished));
    }
}

int cmd_status(rs_config_t *cfg, const admin_pos_t *pos, PGconn *conn)
{
    (void) cfg;
    PGresult *counts = NULL, *open = NULL, *keys = NULL, *algs = NULL, *runs = NULL;
    PGresult *leader = NULL;
    int rc = -1;
    /* One snapshot, so the numbers add up while a run is writing. */
    if (admin_store_begin_snapshot(conn))
        return -1;
    counts = admin_store_status_counts(conn);
    open = counts ? admin_store_open_leases(conn, S_OPEN_LEASES_SHOWN) : NULL;
    keys = open ? admin_store_key_use(conn) : NULL;
    algs = keys ? admin_store_keys_by_algorithm(conn) : NULL;
    runs = algs ? admin_store_runs(conn, S_RUNS_SHOWN) : NULL;
    leader = runs ? admin_store_keycoord(conn) : NULL;
    admin_store_rollback(conn);
    if (leader) {
        int64_t open_total = 0;
        s_print_counts(counts, &open_total);
        s_print_keycoord(leader);
        s_print_open_leases(open, open_total);
        s_print_algorithms(algs);
        s_print_key_use(keys);
        s_print_runs(runs, rs_db_get_int8(counts, 0, 8));
        rc = 0;
    }
    PQclear(counts);
    PQclear(open);
    PQclear(keys);
    PQclear(algs);
    PQclear(runs);
    PQclear(leader);
    return rc;
}
