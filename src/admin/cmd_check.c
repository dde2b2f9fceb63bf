/* cmd_check: the two checking commands, 'recsign verify' and 'recsign
 * audit', on top of the verify and audit engines. */
#include "admin_store.h"
#include "audit.h"
#include "commands.h"
#include "verify.h"

#include "rs_log.h"
#include "rs_time.h"

#include <stdio.h>
#include <string.h>

int cmd_verify(rs_config_t *cfg, const admin_pos_t *pos, PGconn *conn)
{
    int threads = (int) rs_config_int(cfg, "threads");
    admin_verify_tally_t tally;
    memset(&tally, 0, sizeof tally);
    int64_t t0 = rs_mono_us();
    /* One snapshot: signatures stored while verify runs are left for the
     * next verify rather than half seen. */
    if (admin_store_begin_snapshot(conn))
        return -1;
    int rc = admin_verify_all(conn, threads, &tally);
    admin_store_rollback(conn);
    if (rc)
        return -1;
    printf("verify: %lld signatures checked, %lld failed (%d thread%s, %.1f s)\n",
           (long long) tally.checked, (long long) tally.failed, threads, threads == 1 ? "" : "s",
           (double) (rs_mono_us() - t0) / 1e6);
    char list[2048];
    if (tally.deleted) {
        admin_verify_describe_deleted(&tally, 10, list, sizeof list);
        printf("verify: %lld signatures of records deleted since (not a failure; see "
               "records_deleted): %s\n", (long long) tally.deleted, list);
    }
    if (tally.failed == 0)
        return 0;
    admin_verify_describe(&tally, ADMIN_VERIFY_LISTED, list, sizeof list);
    printf("verify: failing records: %s\n", list);
    return 1;
}

int cmd_audit(rs_config_t *cfg, const admin_pos_t *pos, PGconn *conn)
{
    int64_t t0 = rs_mono_us();
    int rc = admin_audit_run(conn, (int) rs_config_int(cfg, "threads"));
    if (rc >= 0)
        rs_info("audit took %.1f s", (double) (rs_mono_us() - t0) / 1e6);
    return rc;
}
