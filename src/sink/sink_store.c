/* sink_store: see sink_store.h. */
#include "sink_store.h"
#include "rs_lease.h"
#include "sink_metrics.h"
#include "rs_bytes.h"
#include "rs_crypto.h"
#include "rs_db.h"
#include "rs_log.h"
#include "rs_security.h"
#include "rs_time.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_INT8_MIN_TEXT "-9223372036854775808"
/* How long a progress count waits for a lock on records (ms): the counts
 * need only a share lock, which only an exclusive one (LOCK TABLE, most
 * ALTER TABLEs) holds up. */
#define S_COUNT_LOCK_WAIT_MS 200

/* Binary COPY framing: signature, flags, header extension length. */
static const uint8_t s_copy_header[19] = { 'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xff, '\r', '\n', 0,
                                           0, 0, 0, 0, 0, 0, 0, 0 };
static const uint8_t s_copy_trailer[2] = { 0xff, 0xff };
/* Per row: field count, then (length, value) for record_id, key_id,
 * lease_id, signed_at, signature. The signature's length varies with the
 * key's algorithm (ECDSA's even from row to row), so it comes last and the
 * rest of a row is at fixed offsets. */
#define S_SIGNED_AT_OFFSET (2 + (4 + 8) + (4 + 4) + (4 + 8) + 4)
#define S_SIG_LEN_OFFSET (S_SIGNED_AT_OFFSET + 8)
#define S_ROW_FIXED_BYTES (S_SIG_LEN_OFFSET + 4)
#define S_COPY_COLUMNS "(record_id, key_id, lease_id, signed_at, signature)"
#define S_PG_EPOCH_OFFSET_US 946684800000000LL
/* After a flush meets rows already stored (re-dispatched work), use the
 * staging path for a while: more duplicates are likely to follow. */
#define S_STAGED_HOLD_US 10000000

/* The keycoord answers before it writes its lease log, so results may
 * arrive before their lease is visible; they wait this long for it before
 * they are refused as unknown. */
#define S_UNKNOWN_LEASE_HOLD_US 10000000

typedef enum { S_ALLOW, S_REFUSE, S_HOLD } s_verdict_t;

/* The rows of one RESULTS message: one lease, one key. */
typedef struct {
    uint64_t lease_id;
    uint32_t key_id;
    size_t offset, size, count;
    int64_t arrived_us;
    s_verdict_t verdict;
    sink_refused_reason_t reason; /* when refused */
    char sender[RS_SENDER_TAG_CHARS + 1];
} s_segment_t;

struct sink_store_t {
    rs_db_link_t *link;
    int staging_ready;
    uint8_t *rows;
    size_t rows_size, rows_cap, row_count;
    s_segment_t *segments;
    size_t segment_count, segment_cap;
    int64_t staged_until_us;
};

/* The link owns the connection (NULL while it is down); every statement
 * asks it, so nothing holds a connection the link has replaced. */
static PGconn *s_conn(const sink_store_t *self)
{
    return rs_db_link_conn(self->link);
}

/* A new connection has no staging table yet. Its statements run without
 * parallel workers: the counts of whole tables (at start and when records
 * are added below the highest counted) would otherwise start a worker
 * process each, which loads its caches and ends within the statement, on
 * the cores the workers sign on (docs/PERFORMANCE.md, "Where the backends'
 * CPU goes"). */
static int s_setup(PGconn *conn, void *arg, char *err, size_t err_size)
{
    sink_store_t *self = arg;
    self->staging_ready = 0;
    if (rs_db_exec(conn, "setting the session up", "SET max_parallel_workers_per_gather = 0") != 0) {
        snprintf(err, err_size, "cannot set the session up: %s", rs_db_error(conn));
        return -1;
    }
    return 0;
}

sink_store_t *sink_store_new(const char *db_url, char *err, size_t err_size)
{
    sink_store_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    self->link = rs_db_link_new(db_url, "recsign-sink", s_setup, self, err, err_size);
    if (!self->link) {
        free(self);
        return NULL;
    }
    return self;
}

void sink_store_destroy(sink_store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sink_store_t *self = *self_p;
    rs_db_link_destroy(&self->link);
    free(self->rows);
    free(self->segments);
    free(self);
    *self_p = NULL;
}

int sink_store_reconnect(sink_store_t *self)
{
    int rc = rs_db_link_ensure(self->link);
    return rc;
}

int sink_store_add(sink_store_t *self, const rs_results_t *results, const char *sender_tag)
{
    /* At most: every signature fills its slot. */
    size_t need = self->rows_size + (size_t) results->count * (S_ROW_FIXED_BYTES + results->sig_slot);
    if (need > self->rows_cap) {
        size_t cap = self->rows_cap ? self->rows_cap : 1 << 20;
        while (cap < need)
            cap *= 2;
        uint8_t *grown = realloc(self->rows, cap);
        if (!grown)
            return -1;
        self->rows = grown;
        self->rows_cap = cap;
    }
    if (self->segment_count == self->segment_cap) {
        size_t cap = self->segment_cap ? self->segment_cap * 2 : 256;
        s_segment_t *grown = realloc(self->segments, cap * sizeof *grown);
        if (!grown)
            return -1;
        self->segments = grown;
        self->segment_cap = cap;
    }
    self->segments[self->segment_count++] = (s_segment_t) {
        .lease_id = results->lease_id,
        .key_id = results->key_id,
        .offset = self->rows_size,
        .size = 0, /* below */
        .count = results->count,
        .arrived_us = rs_mono_us(),
    };
    snprintf(self->segments[self->segment_count - 1].sender, RS_SENDER_TAG_CHARS + 1, "%s",
             sender_tag);
    uint8_t *p = self->rows + self->rows_size;
    for (uint32_t i = 0; i < results->count; i++) {
        int64_t record_id;
        const uint8_t *sig;
        size_t sig_len;
        rs_results_get(results, i, &record_id, &sig, &sig_len);
        rs_put_u16(p, 5);
        rs_put_u32(p + 2, 8);
        rs_put_u64(p + 6, (uint64_t) record_id);
        rs_put_u32(p + 14, 4);
        rs_put_u32(p + 18, results->key_id);
        rs_put_u32(p + 22, 8);
        rs_put_u64(p + 26, results->lease_id);
        rs_put_u32(p + 34, 8); /* signed_at is filled in at flush time */
        rs_put_u32(p + S_SIG_LEN_OFFSET, (uint32_t) sig_len);
        memcpy(p + S_ROW_FIXED_BYTES, sig, sig_len);
        p += S_ROW_FIXED_BYTES + sig_len;
    }
    self->segments[self->segment_count - 1].size = (size_t) (p - (self->rows + self->rows_size));
    self->rows_size += self->segments[self->segment_count - 1].size;
    self->row_count += results->count;
    return 0;
}

size_t sink_store_pending(const sink_store_t *self)
{
    return self->row_count;
}

/* With CURVE, a holder name starts with its certificate's tag and a '/'
 * (the keycoord puts it there): results count only from that certificate. */
static bool s_sent_by_holder(const char *sender, const char *holder)
{
    size_t len = strlen(sender);
    return len == 0 || (strncmp(holder, sender, len) == 0 && holder[len] == '/');
}

static int s_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return x < y ? -1 : x > y;
}

/* A flush reads its leases by id range, one walk of the leases primary
 * key, when the range holds at most this many ids per distinct lease of
 * the flush (plus S_RANGE_SLACK); otherwise it looks each one up. Lease
 * ids are handed out in order, so a flush of many small batches covers a
 * dense range: at batch size 1, 2,500 results of 2,500 leases cost the
 * backend 0.35 ms by range against 3.8 ms by lookup (measured on 40,000
 * lease rows, docs/PERFORMANCE.md "Batch size 1 on a slower host"). The
 * rows of other sinks' leases in the range are read and ignored. */
#define S_RANGE_PER_LEASE 4
#define S_RANGE_SLACK 64
#define S_LEASES_SELECT                                                                        \
    "SELECT id, key_id, coalesce(end_reason = " RS_LEASE_END_EXPIRED_SQL ", false)::int,"     \
    " holder FROM leases WHERE "

/* Gives each segment its verdict: allowed when its lease is in the log,
 * on its key, and did not end by expiry; held while its lease is not in
 * the log yet (for a while); refused otherwise. Returns the rows refused,
 * or -1. */
static int64_t s_fence(sink_store_t *self)
{
    /* The distinct lease ids, sorted. */
    uint64_t *ids = malloc(self->segment_count * sizeof *ids);
    if (!ids)
        return -1;
    for (size_t i = 0; i < self->segment_count; i++)
        ids[i] = self->segments[i].lease_id;
    qsort(ids, self->segment_count, sizeof *ids, s_cmp_u64);
    size_t distinct = 0;
    for (size_t i = 0; i < self->segment_count; i++)
        if (i == 0 || ids[i] != ids[distinct - 1])
            ids[distinct++] = ids[i];
    bool by_range =
        distinct > 0 && ids[distinct - 1] - ids[0] < distinct * S_RANGE_PER_LEASE + S_RANGE_SLACK;
    /* By range: the lowest and highest; otherwise a bigint[] literal. */
    char lo[24], hi[24];
    char *list = by_range ? NULL : malloc(distinct * 21 + 3);
    const char *values[2] = { lo, hi };
    if (by_range) {
        snprintf(lo, sizeof lo, "%llu", (unsigned long long) ids[0]);
        snprintf(hi, sizeof hi, "%llu", (unsigned long long) ids[distinct - 1]);
    }
    else if (list) {
        size_t len = 0;
        list[len++] = '{';
        for (size_t i = 0; i < distinct; i++)
            len += (size_t) sprintf(list + len, "%s%llu", i ? "," : "",
                                    (unsigned long long) ids[i]);
        list[len++] = '}';
        list[len] = '\0';
        values[0] = list;
    }
    free(ids);
    if (!by_range && !list)
        return -1;
    PGresult *res =
        by_range ? PQexecParams(s_conn(self),
                                S_LEASES_SELECT "id BETWEEN $1::bigint AND $2::bigint", 2, NULL,
                                values, NULL, NULL, 1)
                 : PQexecParams(s_conn(self), S_LEASES_SELECT "id = ANY ($1::bigint[])", 1, NULL,
                                values, NULL, NULL, 1);
    free(list);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rs_db_failed(s_conn(self), "checking leases");
        PQclear(res);
        return -1;
    }
    /* (lease, key, expired, result row) quadruples, sorted by lease. */
    int n = PQntuples(res);
    uint64_t *leases = malloc(((size_t) n + 1) * 4 * sizeof *leases);
    if (!leases) {
        PQclear(res);
        return -1;
    }
    for (int r = 0; r < n; r++) {
        leases[4 * r] = (uint64_t) rs_db_get_int8(res, r, 0);
        leases[4 * r + 1] = (uint32_t) rs_db_get_int4(res, r, 1);
        leases[4 * r + 2] = (uint64_t) rs_db_get_int4(res, r, 2);
        leases[4 * r + 3] = (uint64_t) r;
    }
    qsort(leases, (size_t) n, 4 * sizeof *leases, s_cmp_u64);
    int64_t refused = 0;
    int64_t now = rs_mono_us();
    for (size_t i = 0; i < self->segment_count; i++) {
        s_segment_t *seg = &self->segments[i];
        const uint64_t *hit = bsearch(&seg->lease_id, leases, (size_t) n, 4 * sizeof *leases,
                                      s_cmp_u64);
        const char *why = NULL;
        sink_refused_reason_t reason = SINK_REFUSED_REASONS;
        if (!hit) {
            if (now - seg->arrived_us >= S_UNKNOWN_LEASE_HOLD_US)
                why = "is not in the lease log", reason = SINK_REFUSED_NOT_IN_LOG;
        }
        else if (hit[1] != seg->key_id)
            why = "is on another key", reason = SINK_REFUSED_OTHER_KEY;
        else if (hit[2])
            why = "ended by expiry", reason = SINK_REFUSED_EXPIRED;
        else if (!s_sent_by_holder(seg->sender, PQgetvalue(res, (int) hit[3], 3)))
            why = "is held by another certificate than the sender's",
            reason = SINK_REFUSED_OTHER_HOLDER;
        seg->verdict = why ? S_REFUSE : hit ? S_ALLOW : S_HOLD;
        seg->reason = reason;
        if (why) {
            refused += (int64_t) seg->count;
            rs_warn("refused %zu signatures under lease %llu on key %u: the lease %s",
                    seg->count, (unsigned long long) seg->lease_id, seg->key_id, why);
        }
    }
    free(leases);
    PQclear(res);
    return refused;
}

/* Keeps only the held segments, moved to the front of the buffer. */
static void s_keep_held(sink_store_t *self)
{
    size_t kept = 0, rows_size = 0, row_count = 0;
    for (size_t i = 0; i < self->segment_count; i++) {
        s_segment_t seg = self->segments[i];
        if (seg.verdict != S_HOLD)
            continue;
        memmove(self->rows + rows_size, self->rows + seg.offset, seg.size);
        seg.offset = rows_size;
        rows_size += seg.size;
        row_count += seg.count;
        self->segments[kept++] = seg;
    }
    self->segment_count = kept;
    self->rows_size = rows_size;
    self->row_count = row_count;
}

/* Rows per COPY statement. PostgreSQL 15's binary COPY buffers up to 1,000
 * rows for each multi-insert and gives each buffered row a tuple slot
 * that pins the table's row type in the statement's resource owner; past
 * 64 pins that owner keeps them in an open-addressing hash in which
 * identical pointers all collide, so pinning and releasing k slots costs
 * about k * k probes (src/backend/utils/resowner/resowner.c). A flush of
 * 1,000 rows in one COPY spent a fifth of its backend CPU there (perf of
 * the sink's backend at batch 1000). Several COPYs in the flush's one
 * transaction keep k small, at a round trip each (s_send_flush): 200 rows
 * a COPY cost 0.59 CPU-s (backend and client) per 200,000 rows against
 * 0.78 for 1,000 and 0.66 for 50, measured with a message per statement
 * (docs/PERFORMANCE.md, "The sink's COPY in pieces"). */
#define S_COPY_ROWS 200

/* A segment's place in a COPY. */
typedef struct {
    int64_t first; /* its first record id */
    size_t index;  /* in self->segments */
} s_order_t;

static int s_cmp_order(const void *a, const void *b)
{
    const s_order_t *x = a, *y = b;
    return x->first < y->first ? -1 : x->first > y->first ? 1 : (x->index > y->index) - (x->index < y->index);
}

/* Whether a flush that failed with `state` is worth trying again on the
 * staged path: unique_violation (some rows are stored already) or
 * deadlock_detected (another sink was storing the same rows). */
static bool s_retry_staged(const char *state)
{
    return state && (strcmp(state, "23505") == 0 || strcmp(state, "40P01") == 0);
}

/* Feeds the COPY the server asks for: the header, up to S_COPY_ROWS rows
 * from segment order[*k] at byte *off on (moving both past what it
 * sent), the trailer, and the end of the data. Returns 0, or -1 after
 * logging why the data could not be sent (the COPY then ends as failed,
 * and so does the flush's transaction). */
static int s_copy_piece(sink_store_t *self, const s_order_t *order, size_t allowed, size_t *k,
                        size_t *off)
{
    PGconn *conn = s_conn(self);
    bool ok = PQputCopyData(conn, (const char *) s_copy_header, sizeof s_copy_header) == 1;
    size_t in_copy = 0;
    while (ok && *k < allowed && in_copy < S_COPY_ROWS) {
        const s_segment_t *seg = &self->segments[order[*k].index];
        size_t end = seg->offset + seg->size, span_end = *off;
        while (span_end < end && in_copy < S_COPY_ROWS) {
            span_end += S_ROW_FIXED_BYTES + rs_get_u32(self->rows + span_end + S_SIG_LEN_OFFSET);
            in_copy++;
        }
        ok = PQputCopyData(conn, (const char *) self->rows + *off, (int) (span_end - *off)) == 1;
        *off = span_end;
        if (*off == end && ++*k < allowed)
            *off = self->segments[order[*k].index].offset;
    }
    ok = ok && PQputCopyData(conn, (const char *) s_copy_trailer, sizeof s_copy_trailer) == 1;
    if (!ok)
        rs_db_failed(conn, "COPY sending its rows");
    if (PQputCopyEnd(conn, ok ? NULL : "the sink could not send its rows") != 1 && ok) {
        rs_db_failed(conn, "COPY ending its rows");
        ok = false;
    }
    return ok ? 0 : -1;
}

/* Opens the flush's transaction, streams the allowed rows into `table`,
 * S_COPY_ROWS to a COPY, and runs `tail` (further statements, possibly
 * none), all as one query message whose COPYs are fed as the server
 * reaches them: a flush of n COPYs costs n + 1 round trips to the
 * database, not the 2n + 3 of a message per statement (each round trip
 * is a network round trip to a remote database, and on a shared host two
 * context switches that preempt signing). Returns 0 when every statement
 * succeeded; 1 when one failed as s_retry_staged says; -1 on another
 * failure (logged). On non-zero a transaction may be open and aborted:
 * the caller rolls it back (s_rollback).
 *
 * Several sinks may write at once: a COPY that meets a row another
 * sink's open transaction inserted waits for that transaction, and two
 * COPYs that meet each other's rows in opposite orders (re-dispatched
 * records that reached both sinks) deadlock; the victim then takes the
 * staged path, whose inserts run in record order. */
static int s_send_flush(sink_store_t *self, const char *table, const char *tail)
{
    /* The segments in the order of their first record (a worker's rows
     * come in record order within a batch): two sinks' COPYs then take
     * their rows' locks in much the same order, which keeps deadlocks
     * between them rare. The buffer itself keeps its order (s_keep_held
     * relies on it). */
    s_order_t *order = malloc((self->segment_count + 1) * sizeof *order);
    if (!order) {
        rs_error("out of memory ordering %zu result segments", self->segment_count);
        return -1;
    }
    size_t allowed = 0, rows = 0;
    for (size_t i = 0; i < self->segment_count; i++)
        if (self->segments[i].verdict == S_ALLOW) {
            order[allowed++] = (s_order_t) {
                .first = (int64_t) rs_get_u64(self->rows + self->segments[i].offset + 6),
                .index = i,
            };
            rows += self->segments[i].count;
        }
    qsort(order, allowed, sizeof *order, s_cmp_order);
    size_t copies = (rows + S_COPY_ROWS - 1) / S_COPY_ROWS;
    char *sql = NULL;
    size_t sql_len = 0;
    FILE *f = open_memstream(&sql, &sql_len);
    if (f) {
        fputs("BEGIN;", f);
        for (size_t c = 0; c < copies; c++)
            fprintf(f, "COPY %s " S_COPY_COLUMNS " FROM STDIN (FORMAT binary);", table);
        fputs(tail, f);
    }
    bool written = f && !ferror(f);
    if (!f || fclose(f) != 0 || !written) {
        rs_error("out of memory writing a flush's statements (%zu COPYs)", copies);
        free(sql);
        free(order);
        return -1;
    }
    PGconn *conn = s_conn(self);
    int rc = 0;
    if (PQsendQuery(conn, sql) != 1) {
        rs_db_failed(conn, "sending a flush");
        rc = -1;
    }
    free(sql);
    /* Results come one per statement, in order, a COPY's PGRES_COPY_IN
     * before its own: statement `done` is BEGIN (0), a COPY (1..copies),
     * or one of the tail's. */
    size_t k = 0, off = allowed ? self->segments[order[0].index].offset : 0, fed = 0, done = 0;
    PGresult *res;
    while (rc != -1 && (res = PQgetResult(conn)) != NULL) {
        ExecStatusType status = PQresultStatus(res);
        if (status == PGRES_COPY_IN) {
            /* The message holds exactly `copies` COPYs; another one is a
             * bug, ended as failed below. */
            rc = fed++ < copies && s_copy_piece(self, order, allowed, &k, &off) == 0 ? rc : -1;
            PQclear(res);
            continue;
        }
        if (status != PGRES_COMMAND_OK && rc == 0) {
            char which[96];
            if (done == 0)
                snprintf(which, sizeof which, "BEGIN");
            else if (done <= copies)
                snprintf(which, sizeof which, "COPY %zu of %zu into %s", done, copies, table);
            else
                snprintf(which, sizeof which, "the count and COMMIT");
            const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
            if (s_retry_staged(state)) {
                if (strcmp(state, "40P01") == 0)
                    rs_info("a flush met rows another sink was storing in %s (a deadlock, resolved by the database); taking the staged path",
                            which);
                rc = 1;
            }
            else {
                rs_log(rs_db_failure_level(conn), "a flush failed in %s: %s", which,
                       PQresultErrorMessage(res));
                rc = -1;
            }
        }
        done++;
        PQclear(res);
    }
    /* After a failure, read what is left so the connection is ready; a
     * COPY that cannot even be ended leaves it unusable. */
    while ((res = PQgetResult(conn)) != NULL) {
        bool copy_in = PQresultStatus(res) == PGRES_COPY_IN;
        PQclear(res);
        if (copy_in && PQputCopyEnd(conn, "the flush failed") != 1) {
            rs_log(rs_db_failure_level(conn),
                   "cannot end a failed COPY (%s); dropping the database connection",
                   rs_db_error(conn));
            rs_db_link_drop(self->link);
            break;
        }
    }
    if (rc == 0 && k < allowed) {
        rs_error("a flush stored only %zu of its %zu result segments", k, allowed);
        rc = -1;
    }
    free(order);
    return rc;
}

/* Ends a failed flush's transaction, if one is open on a connection that
 * still stands (a flush may fail before its BEGIN ran, or in its COMMIT). */
static void s_rollback(sink_store_t *self)
{
    PGTransactionStatusType in = PQtransactionStatus(s_conn(self));
    if ((in == PQTRANS_INTRANS || in == PQTRANS_INERROR)
        && rs_db_exec(s_conn(self), "rolling back", "ROLLBACK") != 0)
        rs_warn("rollback failed");
}

/* The statements that end a flush, malloc'ed (NULL when out of memory):
 * they add the `stored` rows to signature_counts (the dashboard reads the
 * signed count from that one row instead of counting a table of any
 * size), record the refused results in refused_results (for the
 * dashboard's events and for operators), and commit: in the flush's own
 * transaction, so that a retried flush counts nothing twice. The values
 * are numbers and reason names (sink_refused_reason_name's fixed words),
 * so they go into the text as array literals. */
static char *s_account_sql(const sink_store_t *self, int64_t stored)
{
    char *sql = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&sql, &len);
    if (!f)
        return NULL;
    fprintf(f, "UPDATE signature_counts SET stored = stored + %lld WHERE id = 1;", (long long) stored);
    size_t refused = 0;
    for (size_t i = 0; i < self->segment_count; i++)
        refused += self->segments[i].verdict == S_REFUSE;
    if (refused) {
        fputs("INSERT INTO refused_results (lease_id, key_id, records, reason)"
              " SELECT * FROM unnest(",
              f);
        for (int a = 0; a < 4; a++) {
            fputs(a ? ", '{" : "'{", f);
            const char *sep = "";
            for (size_t i = 0; i < self->segment_count; i++) {
                const s_segment_t *seg = &self->segments[i];
                if (seg->verdict != S_REFUSE)
                    continue;
                if (a == 0)
                    fprintf(f, "%s%llu", sep, (unsigned long long) seg->lease_id);
                else if (a == 1)
                    fprintf(f, "%s%u", sep, seg->key_id);
                else if (a == 2)
                    fprintf(f, "%s%zu", sep, seg->count);
                else
                    fprintf(f, "%s%s", sep, sink_refused_reason_name(seg->reason));
                sep = ",";
            }
            static const char *const types[4] = { "bigint", "integer", "integer", "text" };
            fprintf(f, "}'::%s[]", types[a]);
        }
        fputs(");", f);
    }
    fputs("COMMIT", f);
    bool written = !ferror(f);
    if (fclose(f) != 0 || !written) {
        free(sql);
        return NULL;
    }
    return sql;
}

/* The path for rows of which some may be stored already. Returns the rows
 * newly stored, 0 in *deadlocked when it lost a deadlock (rolled back;
 * worth retrying at once), or -1. Rows go in in record order: two sinks on
 * this path at once take their rows' locks in one order and cannot
 * deadlock (a row another sink is storing is waited for, then skipped);
 * a sink on the COPY path meanwhile can, and the database then aborts one
 * of the two after deadlock_timeout. */
static int64_t s_flush_staged_once(sink_store_t *self, bool *deadlocked)
{
    *deadlocked = false;
    if (!self->staging_ready) {
        if (rs_db_exec(s_conn(self), "creating the staging table",
                       "CREATE TEMP TABLE IF NOT EXISTS sink_staging"
                       " (LIKE signatures INCLUDING DEFAULTS) ON COMMIT DELETE ROWS")
            != 0)
            return -1;
        self->staging_ready = 1;
    }
    if (s_send_flush(self, "sink_staging", "") != 0)
        goto rollback;
    PGresult *res = PQexec(s_conn(self),
                           "INSERT INTO signatures (record_id, key_id, lease_id, signature, signed_at)"
                           " SELECT record_id, key_id, lease_id, signature, signed_at FROM sink_staging"
                           " ORDER BY record_id ON CONFLICT (record_id) DO NOTHING");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        *deadlocked = state && strcmp(state, "40P01") == 0;
        if (*deadlocked)
            rs_info("storing signatures met rows another sink was storing (a deadlock, resolved by the database); trying again");
        else
            rs_db_failed(s_conn(self), "storing signatures");
        PQclear(res);
        goto rollback;
    }
    int64_t count = strtoll(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    char *account = s_account_sql(self, count);
    if (!account)
        rs_error("out of memory writing a flush's count");
    if (!account || rs_db_exec(s_conn(self), "counting and committing a flush", account) != 0) {
        free(account);
        goto rollback;
    }
    free(account);
    return count;

rollback:
    s_rollback(self);
    return -1;
}

/* The staged path, tried again at once after a lost deadlock (the other
 * sink's transaction went on, so the next try waits for it and skips its
 * rows), a few times. Returns the rows newly stored, or -1. */
static int64_t s_flush_staged(sink_store_t *self)
{
    bool deadlocked = false;
    int64_t stored = -1;
    for (int attempt = 0; attempt < 3; attempt++) {
        stored = s_flush_staged_once(self, &deadlocked);
        if (!deadlocked)
            break;
    }
    return stored;
}

int sink_store_flush(sink_store_t *self, int64_t *inserted, int64_t *fenced)
{
    *inserted = 0;
    *fenced = 0;
    if (self->row_count == 0)
        return 0;
    if (!s_conn(self) || PQstatus(s_conn(self)) != CONNECTION_OK)
        return -1;
    int64_t refused = s_fence(self);
    if (refused < 0)
        return -1;
    /* One signed_at for the whole flush: the moment it is written. */
    uint8_t at[8];
    rs_put_u64(at, (uint64_t) (rs_wall_us() - S_PG_EPOCH_OFFSET_US));
    int64_t allowed = 0;
    for (size_t i = 0; i < self->segment_count; i++) {
        const s_segment_t *seg = &self->segments[i];
        if (seg->verdict != S_ALLOW)
            continue;
        allowed += (int64_t) seg->count;
        for (size_t off = seg->offset; off < seg->offset + seg->size;
             off += S_ROW_FIXED_BYTES + rs_get_u32(self->rows + off + S_SIG_LEN_OFFSET))
            memcpy(self->rows + off + S_SIGNED_AT_OFFSET, at, sizeof at);
    }

    int64_t stored = -1;
    if (allowed == 0 && refused == 0)
        stored = 0;
    else if (allowed == 0 || rs_mono_us() >= self->staged_until_us) {
        /* The COPYs and the count of what they stored commit together;
         * with nothing allowed, what was refused is still recorded. */
        char *account = s_account_sql(self, allowed);
        int rc = account ? s_send_flush(self, "signatures", account) : -1;
        if (!account)
            rs_error("out of memory writing a flush's count");
        free(account);
        if (rc == 0)
            stored = allowed;
        else {
            s_rollback(self);
            if (rc != 1)
                return -1;
            rs_debug("some of %lld signatures are stored already; taking the staged path",
                     (long long) allowed);
            self->staged_until_us = rs_mono_us() + S_STAGED_HOLD_US;
        }
    }
    if (stored < 0 && (stored = s_flush_staged(self)) < 0)
        return -1;
    if (stored < allowed)
        rs_debug("flush: %lld signatures already stored", (long long) (allowed - stored));
    *inserted = stored;
    *fenced = refused;
    /* Counted once the refusals are recorded: not again for each try of
     * a flush that failed. */
    for (size_t i = 0; i < self->segment_count; i++)
        if (self->segments[i].verdict == S_REFUSE)
            rs_metric_add(sink_metrics.refused[self->segments[i].reason], self->segments[i].count);
    s_keep_held(self);
    return 0;
}

/* Runs a progress count, "count, max id" (sql with `after` as $1 when
 * given), into *count and *top. A table locked by someone else (an
 * operator's LOCK TABLE records, an ALTER TABLE) is not waited for: the
 * count is a progress report, and a sink blocked on it stores nothing
 * meanwhile. Without a session it does nothing (the next flush
 * reconnects). Returns 0 or -1. */
static int s_count(sink_store_t *self, const char *sql, const char *after, bool index_only,
                   int64_t *count, int64_t *top)
{
    PGconn *conn = s_conn(self);
    if (!conn || PQstatus(conn) != CONNECTION_OK)
        return -1;
    /* A short range of the primary key (index_only); on statistics that lag
     * a table growing by millions, the planner could think it a third of
     * the table and scan all of it. */
    char begin[128];
    snprintf(begin, sizeof begin, "BEGIN; SET LOCAL lock_timeout = %d%s", S_COUNT_LOCK_WAIT_MS,
             index_only ? "; SET LOCAL enable_seqscan = off" : "");
    if (rs_db_exec(conn, "counting records", begin) != 0)
        return -1;
    const char *values[] = { after };
    PGresult *res = PQexecParams(conn, sql, after ? 1 : 0, NULL, values, NULL, NULL, 0);
    int ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 && PQnfields(res) == 2;
    if (ok) {
        *count = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        *top = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    }
    else {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        if (state && strcmp(state, "55P03") == 0) /* lock_not_available */
            rs_info("counting records: the table is locked by another session; the progress line counts them later (signatures are stored meanwhile)");
        else
            rs_db_failed(conn, "counting records");
    }
    PQclear(res);
    if (PQstatus(conn) == CONNECTION_OK
        && rs_db_exec(conn, "counting records", ok ? "COMMIT" : "ROLLBACK") != 0)
        return -1;
    return ok ? 0 : -1;
}

int sink_store_count_records(sink_store_t *self, int64_t *total, int64_t *top)
{
    return s_count(self, "SELECT count(*), coalesce(max(id), " S_INT8_MIN_TEXT ") FROM records",
                   NULL, false, total, top);
}

int sink_store_count_records_after(sink_store_t *self, int64_t after, int64_t *added, int64_t *top)
{
    char after_text[24];
    snprintf(after_text, sizeof after_text, "%lld", (long long) after);
    return s_count(self,
                   "SELECT count(*), coalesce(max(id), $1::bigint) FROM records WHERE id > $1::bigint",
                   after_text, true, added, top);
}

int sink_store_count_signed(sink_store_t *self, int64_t *signed_count)
{
    return rs_db_query_int(s_conn(self), "counting signatures", "SELECT count(*) FROM signatures",
                           signed_count);
}
