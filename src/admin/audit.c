/* audit: the checks that prove rules 1-5 from stored data, with their SQL,
 * and the report 'recsign audit' prints. */
#include "audit.h"
#include "admin_store.h"
#include "lru_replay.h"
#include "verify.h"

#include "rs_db.h"
#include "rs_log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Offenders named per finding; the count covers them all. */
#define S_SAMPLE 5
#define S_EVENT_PAGE "10000"

/* Each check's query returns, for up to $1 offenders in order, a text
 * naming it and the total number of offenders (zero rows: none). */
typedef enum {
    C_UNSIGNED,      /* rule 1: records without a signature, not refused */
    C_REFUSED,       /* rule 1: records without a signature that cannot have one */
    C_ORPHAN,        /* rule 1: signatures of a record that never existed */
    C_DELETED,       /* no rule: signatures of a record deleted since (records_deleted) */
    C_DOUBLE,        /* rule 1: records signed more than once */
    C_OVERLAP,       /* rule 2: leases that start while the key is leased */
    C_DEPOSED,       /* rule 2: lease events of an older keycoord epoch after a newer one's */
    C_NO_LEASE,      /* rules 2, 3: signatures whose lease does not exist */
    C_KEY_MISMATCH,  /* rules 2, 3: signatures by another key than their lease's */
    C_NO_KEY,        /* rule 2: signatures whose key does not exist */
    C_MIXED_KEYS,    /* rule 3: leases whose signatures use several keys */
    C_OVER_BATCH,    /* rule 3: leases with more signatures than records */
    C_RUN_BOUNDS,    /* rule 5: runs with a batch size out of bounds */
    C_NO_RUN,        /* rule 5: leases of no known run */
    C_LEASE_OVER_RUN, /* rule 5: lease batches larger than their run's size */
    C_SIGS_OVER_RUN, /* rule 5: leases with more signatures than the run's size */
    C_COUNT
} s_check_id_t;

static const char *const s_check_sql[C_COUNT] = {
    [C_UNSIGNED] =
        "SELECT r.id::text, count(*) OVER () FROM records r"
        " WHERE NOT EXISTS (SELECT 1 FROM signatures s WHERE s.record_id = r.id)"
        "   AND NOT EXISTS (SELECT 1 FROM records_refused f WHERE f.record_id = r.id)"
        " ORDER BY r.id LIMIT $1",
    /* Refused by the ventilator (payload over the limit): named apart,
     * with the reason, though still unsigned. */
    [C_REFUSED] =
        "SELECT format('%s: %s', r.id, f.reason), count(*) OVER ()"
        "  FROM records r JOIN records_refused f ON f.record_id = r.id"
        " WHERE NOT EXISTS (SELECT 1 FROM signatures s WHERE s.record_id = r.id)"
        " ORDER BY r.id LIMIT $1",
    [C_ORPHAN] =
        "SELECT s.record_id::text, count(*) OVER () FROM signatures s"
        " WHERE NOT EXISTS (SELECT 1 FROM records r WHERE r.id = s.record_id)"
        "   AND NOT EXISTS (SELECT 1 FROM records_deleted d WHERE d.record_id = s.record_id)"
        " ORDER BY s.record_id LIMIT $1",
    /* A record deleted after it was signed (or while its batch was in
     * flight) leaves its signature behind: no service may delete one.
     * The deletion log tells it apart from a signature of nothing. */
    [C_DELETED] =
        "SELECT s.record_id::text, count(*) OVER () FROM signatures s"
        " WHERE NOT EXISTS (SELECT 1 FROM records r WHERE r.id = s.record_id)"
        "   AND EXISTS (SELECT 1 FROM records_deleted d WHERE d.record_id = s.record_id)"
        " ORDER BY s.record_id LIMIT $1",
    [C_DOUBLE] =
        "SELECT format('%s (%s times)', record_id, count(*)), count(*) OVER ()"
        "  FROM signatures GROUP BY record_id HAVING count(*) > 1"
        " ORDER BY record_id LIMIT $1",
    /* A lease overlaps an earlier one of its key exactly when it starts
     * before the latest end among the leases granted before it (an open
     * lease ends at infinity). Only the named few look up a partner. */
    [C_OVERLAP] =
        "SELECT format('lease %s on key %s overlaps lease %s', o.id, o.key_id, p.id), o.total"
        "  FROM (SELECT id, key_id, granted_at, count(*) OVER () AS total FROM ("
        "          SELECT id, key_id, granted_at,"
        "                 max(coalesce(ended_at, 'infinity')) OVER (PARTITION BY key_id"
        "                   ORDER BY granted_at, id"
        "                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)"
        "                   AS busy_until"
        "            FROM leases) l"
        "         WHERE busy_until > granted_at ORDER BY id LIMIT $1) o"
        "  LEFT JOIN LATERAL (SELECT e.id FROM leases e"
        "                      WHERE e.key_id = o.key_id"
        "                        AND (e.granted_at, e.id) < (o.granted_at, o.id)"
        "                        AND coalesce(e.ended_at, 'infinity') > o.granted_at"
        "                      ORDER BY e.granted_at, e.id LIMIT 1) p ON true"
        " ORDER BY o.id",
    /* Keycoord leadership (schema version 7): the database takes a
     * lease-log write only under the current epoch, and a new leader's
     * events come after everything it loaded, so in time order the
     * epochs of grants and ends never go back. An event of an older epoch
     * after a newer epoch's is one a deposed leader got into the log:
     * its grant may overlap the new leader's without the log showing it.
     * Rows from before version 7 carry no epoch and are left out. */
    [C_DEPOSED] =
        "SELECT format('lease %s %s under epoch %s after an event of epoch %s', id, what, e,"
        "              newest), count(*) OVER ()"
        "  FROM (SELECT id, what, e, max(e) OVER (ORDER BY at, kind, id"
        "                 ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS newest"
        "          FROM (SELECT id, 'granted' AS what, granted_at AS at, 0 AS kind, epoch AS e"
        "                  FROM leases WHERE epoch IS NOT NULL"
        "                UNION ALL"
        "                SELECT id, 'ended', ended_at, 1, end_epoch FROM leases"
        "                 WHERE end_epoch IS NOT NULL) ev) t"
        " WHERE e < newest ORDER BY id LIMIT $1",
    /* In these two, OFFSET 0 plans the join without the LIMIT: with it
     * the planner walks signatures in record order probing leases per
     * row (it takes the LIMIT for an early stop, which count(*) OVER ()
     * rules out), several times slower at millions of signatures than
     * hashing the leases. */
    [C_NO_LEASE] =
        "SELECT format('record %s: lease %s', record_id, lease_id), count(*) OVER ()"
        "  FROM (SELECT s.record_id, s.lease_id FROM signatures s"
        "         WHERE NOT EXISTS (SELECT 1 FROM leases l WHERE l.id = s.lease_id) OFFSET 0) o"
        " ORDER BY record_id LIMIT $1",
    [C_KEY_MISMATCH] =
        "SELECT format('record %s: key %s, lease %s has key %s', record_id, key_id, lease_id,"
        "              lease_key_id), count(*) OVER ()"
        "  FROM (SELECT s.record_id, s.key_id, l.id AS lease_id, l.key_id AS lease_key_id"
        "          FROM signatures s JOIN leases l ON l.id = s.lease_id"
        "         WHERE l.key_id <> s.key_id OFFSET 0) o"
        " ORDER BY record_id LIMIT $1",
    [C_NO_KEY] =
        "SELECT format('record %s: key %s', s.record_id, s.key_id), count(*) OVER ()"
        "  FROM signatures s"
        " WHERE NOT EXISTS (SELECT 1 FROM keys k WHERE k.id = s.key_id)"
        " ORDER BY s.record_id LIMIT $1",
    [C_MIXED_KEYS] =
        "SELECT format('lease %s: %s keys', lease_id, count(DISTINCT key_id)), count(*) OVER ()"
        "  FROM signatures GROUP BY lease_id HAVING count(DISTINCT key_id) > 1"
        " ORDER BY lease_id LIMIT $1",
    [C_OVER_BATCH] =
        "SELECT format('lease %s: %s signatures, batch of %s', l.id, c.n, l.batch_records),"
        "       count(*) OVER ()"
        "  FROM (SELECT lease_id, count(*) AS n FROM signatures GROUP BY lease_id) c"
        "  JOIN leases l ON l.id = c.lease_id"
        " WHERE c.n > l.batch_records ORDER BY l.id LIMIT $1",
    [C_RUN_BOUNDS] =
        "SELECT format('run %s: batch size %s', id, batch_size), count(*) OVER () FROM runs"
        " WHERE batch_size IS NULL OR batch_size NOT BETWEEN 1 AND 100000"
        " ORDER BY id LIMIT $1",
    [C_NO_RUN] =
        "SELECT format('lease %s: run %s', l.id, l.run_id), count(*) OVER () FROM leases l"
        " WHERE NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = l.run_id)"
        " ORDER BY l.id LIMIT $1",
    [C_LEASE_OVER_RUN] =
        "SELECT format('lease %s: batch of %s, run %s batch size %s', l.id, l.batch_records,"
        "              r.id, r.batch_size), count(*) OVER ()"
        "  FROM leases l JOIN runs r ON r.id = l.run_id"
        " WHERE l.batch_records > r.batch_size ORDER BY l.id LIMIT $1",
    [C_SIGS_OVER_RUN] =
        "SELECT format('lease %s: %s signatures, run %s batch size %s', l.id, c.n, r.id,"
        "              r.batch_size), count(*) OVER ()"
        "  FROM (SELECT lease_id, count(*) AS n FROM signatures GROUP BY lease_id) c"
        "  JOIN leases l ON l.id = c.lease_id JOIN runs r ON r.id = l.run_id"
        " WHERE c.n > r.batch_size ORDER BY l.id LIMIT $1",
};

/* What a check found: how many offenders, and the first few named. */
typedef struct {
    int64_t total;
    char sample[400];
} s_found_t;

/* Counts over the whole snapshot, for the details of rules that hold. */
typedef struct {
    int64_t records, signatures, keys, leases, open_leases, keys_leased, runs, frozen, epochs;
} s_stats_t;

/* One kind of rule 4 violation: how many, and the first few named. */
typedef struct {
    int64_t total;
    char sample[400];
    size_t len;
} s_lru_finding_t;

/* Rule 4's replay outcome. */
typedef struct {
    /* retired: keys with retired_at; quarantined: with quarantined_at and
     * no retired_at (a quarantined key retired since is retired, as in
     * recsign keys list). */
    int64_t live, retired, quarantined, grants, ends;
    s_lru_finding_t not_head;  /* not the least recently used free key */
    s_lru_finding_t not_live;  /* key not live yet (or unknown) */
    s_lru_finding_t retired_g; /* key retired already */
} s_lru_t;

/* One rule's report line under construction. */
typedef struct {
    char text[2048];
    size_t len;
    int violations;
} s_line_t;

static void s_append(char *buf, size_t size, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void s_append(char *buf, size_t size, size_t *len, const char *fmt, ...)
{
    if (*len >= size - 1)
        return;
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(buf + *len, size - *len, fmt, args);
    va_end(args);
    if (n > 0)
        *len = *len + (size_t) n < size ? *len + (size_t) n : size - 1;
}

/* Adds "label: N (first, second, ...)" to the line when found->total > 0. */
static void s_report(s_line_t *line, const char *label, const s_found_t *found)
{
    if (found->total == 0)
        return;
    s_append(line->text, sizeof line->text, &line->len, "%s%s: %lld (%s)",
             line->violations ? "; " : "", label, (long long) found->total, found->sample);
    line->violations++;
}

static int s_run_check(PGconn *conn, s_check_id_t id, s_found_t *found)
{
    int64_t limit = S_SAMPLE;
    char what[64];
    snprintf(what, sizeof what, "audit check %d", (int) id);
    PGresult *res = admin_store_query(conn, what, s_check_sql[id], 1, &limit, PGRES_TUPLES_OK);
    if (!res)
        return -1;
    int rows = PQntuples(res);
    size_t len = 0;
    found->total = rows ? rs_db_get_int8(res, 0, 1) : 0;
    found->sample[0] = '\0';
    for (int i = 0; i < rows; i++)
        s_append(found->sample, sizeof found->sample, &len, "%s%.*s", i ? ", " : "",
                 PQgetlength(res, i, 0), PQgetvalue(res, i, 0));
    if (found->total > rows)
        s_append(found->sample, sizeof found->sample, &len, ", ...");
    PQclear(res);
    return 0;
}

static int s_read_stats(PGconn *conn, s_stats_t *stats)
{
    PGresult *res = admin_store_query(
        conn, "audit counts",
        "SELECT (SELECT count(*) FROM records), (SELECT count(*) FROM signatures),"
        "       (SELECT count(*) FROM keys), (SELECT count(*) FROM leases),"
        "       (SELECT count(*) FROM leases WHERE ended_at IS NULL),"
        "       (SELECT count(DISTINCT key_id) FROM leases), (SELECT count(*) FROM runs),"
        "       (SELECT count(*) FROM pg_trigger WHERE tgrelid = 'runs'::regclass"
        "           AND tgname = 'runs_batch_size_frozen' AND tgenabled <> 'D'),"
        "       (SELECT count(DISTINCT epoch) FROM leases)",
        0, NULL, PGRES_TUPLES_OK);
    if (!res)
        return -1;
    int64_t *out[] = { &stats->records, &stats->signatures, &stats->keys, &stats->leases,
                       &stats->open_leases, &stats->keys_leased, &stats->runs, &stats->frozen,
                       &stats->epochs };
    for (int i = 0; i < 9; i++)
        *out[i] = rs_db_get_int8(res, 0, i);
    PQclear(res);
    return 0;
}

static void s_lru_note(s_lru_finding_t *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Counts a violation and names it while fewer than S_SAMPLE are. */
static void s_lru_note(s_lru_finding_t *f, const char *fmt, ...)
{
    if (f->total++ >= S_SAMPLE) {
        if (f->total == S_SAMPLE + 1)
            s_append(f->sample, sizeof f->sample, &f->len, ", ...");
        return;
    }
    char item[160];
    va_list args;
    va_start(args, fmt);
    vsnprintf(item, sizeof item, fmt, args);
    va_end(args);
    s_append(f->sample, sizeof f->sample, &f->len, "%s%s", f->len ? ", " : "", item);
}

/* Feeds one grant to the replay and notes what it violated. */
static void s_lru_grant(lru_replay_t *replay, s_lru_t *lru, int32_t key, int64_t lease)
{
    int32_t expected;
    bool any_free;
    lru->grants++;
    switch (lru_replay_grant(replay, key, &expected, &any_free)) {
    case LRU_GRANT_OK:
        break;
    case LRU_GRANT_NOT_HEAD:
        if (any_free)
            s_lru_note(&lru->not_head, "lease %lld took key %d (expected %d)", (long long) lease,
                       key, expected);
        else
            s_lru_note(&lru->not_head, "lease %lld took key %d (none free)", (long long) lease,
                       key);
        break;
    case LRU_GRANT_NOT_LIVE:
    case LRU_GRANT_UNKNOWN:
        s_lru_note(&lru->not_live, "lease %lld took key %d", (long long) lease, key);
        break;
    case LRU_GRANT_RETIRED:
        s_lru_note(&lru->retired_g, "lease %lld took key %d", (long long) lease, key);
        break;
    }
}

/* Rule 4: replays keys going live, lease ends, key retirements (and
 * quarantines) and grants in time order through a cursor, so the lease
 * log is streamed rather than held in memory. live_at and retired_at are
 * the keycoord's event times, on the clock of granted_at and ended_at. At equal times: keys go
 * live and leases end, then keys retire, then grants (a grant at a key's
 * retired_at is after its retirement). */
static int s_replay_lru(PGconn *conn, s_lru_t *lru)
{
    memset(lru, 0, sizeof *lru);
    PGresult *res = admin_store_query(conn, "listing key ids", "SELECT id FROM keys ORDER BY id",
                                      0, NULL, PGRES_TUPLES_OK);
    if (!res)
        return -1;
    int nkeys = PQntuples(res);
    int32_t *ids = malloc((size_t) (nkeys ? nkeys : 1) * sizeof *ids);
    if (!ids) {
        PQclear(res);
        rs_error("audit: out of memory for %d key ids", nkeys);
        return -1;
    }
    for (int i = 0; i < nkeys; i++)
        ids[i] = rs_db_get_int4(res, i, 0);
    PQclear(res);
    lru_replay_t *replay = lru_replay_new(ids, (size_t) nkeys);
    free(ids);
    if (!replay) {
        rs_error("audit: out of memory for the replay of %d keys", nkeys);
        return -1;
    }
    int rc = -1;
    if (rs_db_exec(conn, "opening the lease log",
                   "DECLARE recsign_lru_events NO SCROLL CURSOR FOR"
                   /* counted: of kind 2, 1 for a retirement, 2 for a
                    * quarantine of a key not retired since, 0 else. */
                   " SELECT kind, key_id, lease_id, counted FROM ("
                   "   SELECT 0 AS kind, live_at AS at, id AS key_id, 0::int8 AS lease_id,"
                   "       0 AS counted"
                   "     FROM keys WHERE live_at IS NOT NULL"
                   "   UNION ALL SELECT 1, ended_at, key_id, id, 0 FROM leases"
                   "     WHERE ended_at IS NOT NULL"
                   "   UNION ALL SELECT 2, retired_at, id, 0, 1 FROM keys"
                   "     WHERE retired_at IS NOT NULL"
                   /* A quarantined key leaves the queue for good, as a
                    * retired one does. */
                   "   UNION ALL SELECT 2, quarantined_at, id, 0,"
                   "       CASE WHEN retired_at IS NULL THEN 2 ELSE 0 END FROM keys"
                   "     WHERE quarantined_at IS NOT NULL"
                   "   UNION ALL SELECT 3, granted_at, key_id, id, 0 FROM leases) e"
                   " ORDER BY at, kind, lease_id, key_id"))
        goto done;
    for (;;) {
        PGresult *page = admin_store_query(conn, "reading the lease log",
                                           "FETCH " S_EVENT_PAGE " FROM recsign_lru_events", 0,
                                           NULL, PGRES_TUPLES_OK);
        if (!page)
            goto done;
        int rows = PQntuples(page);
        for (int i = 0; i < rows; i++) {
            int32_t kind = rs_db_get_int4(page, i, 0);
            int32_t key = rs_db_get_int4(page, i, 1);
            int64_t lease = rs_db_get_int8(page, i, 2);
            if (kind == 0) {
                lru->live++;
                lru_replay_live(replay, key);
            }
            else if (kind == 1) {
                lru->ends++;
                lru_replay_end(replay, key);
            }
            else if (kind == 2) {
                int32_t counted = rs_db_get_int4(page, i, 3);
                lru->retired += counted == 1;
                lru->quarantined += counted == 2;
                lru_replay_retire(replay, key);
            }
            else
                s_lru_grant(replay, lru, key, lease);
        }
        PQclear(page);
        if (rows == 0)
            break;
    }
    rc = rs_db_exec(conn, "closing the lease log", "CLOSE recsign_lru_events");
done:
    lru_replay_destroy(&replay);
    return rc;
}

static const char *s_plural(int64_t n)
{
    return n == 1 ? "" : "s";
}

static void s_print(int rule, const char *name, const s_line_t *line, const char *ok_detail)
{
    if (line->violations)
        printf("rule %d (%s): VIOLATED — %s\n", rule, name, line->text);
    else
        printf("rule %d (%s): ok — %s\n", rule, name, ok_detail);
}

/* Composes and prints the five lines; returns how many rules failed. */
static int s_print_rules(const s_stats_t *st, const s_found_t *f, const admin_verify_tally_t *v,
                         const s_lru_t *lru, int threads)
{
    int violated = 0;
    char ok[512];
    s_line_t line;

    memset(&line, 0, sizeof line);
    /* Signatures of deleted records are no violation, and no record's. */
    int64_t of_records = st->signatures - f[C_DELETED].total;
    if (st->records != of_records) {
        s_append(line.text, sizeof line.text, &line.len, "%lld records but %lld signatures",
                 (long long) st->records, (long long) of_records);
        line.violations++;
    }
    s_report(&line, "records without a signature", &f[C_UNSIGNED]);
    s_report(&line, "records that cannot be signed (see records_refused)", &f[C_REFUSED]);
    s_report(&line, "signatures without a record", &f[C_ORPHAN]);
    s_report(&line, "records signed more than once", &f[C_DOUBLE]);
    if (v->failed) {
        char list[400];
        admin_verify_describe(v, S_SAMPLE, list, sizeof list);
        s_append(line.text, sizeof line.text, &line.len,
                 "%ssignatures that fail to verify: %lld (%s)", line.violations ? "; " : "",
                 (long long) v->failed, list);
        line.violations++;
    }
    snprintf(ok, sizeof ok,
             "%lld records, %lld signatures, one per record; all verify (%d thread%s)",
             (long long) st->records, (long long) of_records, threads, s_plural(threads));
    s_print(1, "no double signing", &line, ok);
    if (f[C_DELETED].total)
        printf("note: %lld signature%s of records deleted since they were dispatched (not a "
               "violation; logged in records_deleted): %s\n",
               (long long) f[C_DELETED].total, s_plural(f[C_DELETED].total),
               f[C_DELETED].sample);
    violated += line.violations > 0;

    memset(&line, 0, sizeof line);
    s_report(&line, "leases overlapping an earlier lease of their key", &f[C_OVERLAP]);
    s_report(&line, "lease events of a deposed keycoord (an older epoch after a newer one's)",
             &f[C_DEPOSED]);
    s_report(&line, "signatures whose lease does not exist", &f[C_NO_LEASE]);
    s_report(&line, "signatures whose lease has another key", &f[C_KEY_MISMATCH]);
    s_report(&line, "signatures whose key does not exist", &f[C_NO_KEY]);
    snprintf(ok, sizeof ok,
             "%lld lease%s on %lld key%s, no two of one key overlap (%lld open); every "
             "signature's lease and key exist and match; %lld keycoord epoch%s, none written "
             "after a newer one",
             (long long) st->leases, s_plural(st->leases), (long long) st->keys_leased,
             s_plural(st->keys_leased), (long long) st->open_leases, (long long) st->epochs,
             st->epochs == 1 ? "" : "s");
    s_print(2, "one holder per key", &line, ok);
    violated += line.violations > 0;

    memset(&line, 0, sizeof line);
    s_report(&line, "signatures whose lease has another key", &f[C_KEY_MISMATCH]);
    s_report(&line, "leases whose signatures use several keys", &f[C_MIXED_KEYS]);
    s_report(&line, "leases with more signatures than their batch", &f[C_OVER_BATCH]);
    snprintf(ok, sizeof ok,
             "the signatures of each of %lld lease%s share its key and fit its batch",
             (long long) st->leases, s_plural(st->leases));
    s_print(3, "one key per batch", &line, ok);
    violated += line.violations > 0;

    memset(&line, 0, sizeof line);
    if (lru->not_head.total) {
        s_append(line.text, sizeof line.text, &line.len,
                 "grants that did not take the least recently used free key: %lld of %lld (%s)",
                 (long long) lru->not_head.total, (long long) lru->grants,
                 lru->not_head.sample);
        line.violations++;
    }
    if (lru->not_live.total) {
        s_append(line.text, sizeof line.text, &line.len,
                 "%sgrants of a key before it went live (keys.live_at later or NULL): %lld (%s)",
                 line.violations ? "; " : "", (long long) lru->not_live.total,
                 lru->not_live.sample);
        line.violations++;
    }
    if (lru->retired_g.total) {
        s_append(line.text, sizeof line.text, &line.len,
                 "%sgrants of a key at or after its retirement: %lld (%s)",
                 line.violations ? "; " : "", (long long) lru->retired_g.total,
                 lru->retired_g.sample);
        line.violations++;
    }
    snprintf(ok, sizeof ok,
             "replayed %lld key%s going live, %lld grant%s, %lld end%s: every grant took the "
             "least recently used free key; %lld key%s retired, %lld quarantined; none leased "
             "after retirement or quarantine",
             (long long) lru->live, s_plural(lru->live), (long long) lru->grants,
             s_plural(lru->grants), (long long) lru->ends, s_plural(lru->ends),
             (long long) lru->retired, s_plural(lru->retired), (long long) lru->quarantined);
    s_print(4, "least recently used first", &line, ok);
    violated += line.violations > 0;

    memset(&line, 0, sizeof line);
    s_report(&line, "runs with a batch size outside 1..100000", &f[C_RUN_BOUNDS]);
    s_report(&line, "leases of no known run", &f[C_NO_RUN]);
    s_report(&line, "leases with a batch larger than their run's batch size", &f[C_LEASE_OVER_RUN]);
    s_report(&line, "leases with more signatures than their run's batch size", &f[C_SIGS_OVER_RUN]);
    snprintf(ok, sizeof ok,
             "%lld run%s with batch sizes in 1..100000; every lease and its signatures within its "
             "run's batch size%s",
             (long long) st->runs, s_plural(st->runs),
             st->frozen ? "; batch size frozen by trigger"
                        : "; note: trigger runs_batch_size_frozen is missing or disabled");
    s_print(5, "fixed batch size", &line, ok);
    violated += line.violations > 0;
    return violated;
}

int admin_audit_run(PGconn *conn, int threads)
{
    s_stats_t stats;
    s_found_t found[C_COUNT];
    admin_verify_tally_t tally;
    s_lru_t lru;
    memset(&tally, 0, sizeof tally);
    /* One snapshot for every check: the counts, the references and the
     * replay then agree even while a run is writing. */
    if (admin_store_begin_snapshot(conn))
        return -1;
    if (s_read_stats(conn, &stats))
        goto fail;
    for (int id = 0; id < C_COUNT; id++)
        if (s_run_check(conn, (s_check_id_t) id, &found[id]))
            goto fail;
    if (s_replay_lru(conn, &lru))
        goto fail;
    if (admin_verify_all(conn, threads, &tally))
        goto fail;
    admin_store_rollback(conn);
    int violated = s_print_rules(&stats, found, &tally, &lru, threads);
    if (violated)
        printf("audit: %d of 5 rules VIOLATED\n", violated);
    else
        printf("audit: all 5 rules hold\n");
    return violated ? 1 : 0;
fail:
    admin_store_rollback(conn);
    return -1;
}
