/* verify: parallel verification of stored signatures (see verify.h). */
#include "verify.h"
#include "admin_store.h"

#include "rs_crypto.h"
#include "rs_db.h"
#include "rs_log.h"
#include "rs_signer.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A page is at most this many rows and, past its first row, about this
 * much payload: two pages (one verified while the next is read) bound the
 * memory whatever the table's size. */
#define S_PAGE_ROWS 10000
#define S_PAGE_BYTES (32LL << 20)

typedef struct {
    pthread_t thread;
    bool spawned; /* false: pthread_create failed, run it on the caller */
    const admin_verify_row_t *rows;
    size_t count;
    uint8_t *message; /* reused across pages; grows to the largest message */
    size_t cap;
    rs_verifier_t *verifier; /* this thread's: keeps the last key parsed */
    admin_verify_tally_t tally;
    int error;
} s_worker_t;

typedef struct {
    s_worker_t *workers;
    int threads;
    int running; /* workers given a slice in the current round */
} s_pool_t;

const char *admin_verify_fault_name(admin_verify_fault_t fault)
{
    switch (fault) {
    case ADMIN_VERIFY_BAD_SIGNATURE: return "bad signature";
    case ADMIN_VERIFY_NO_RECORD: return "no such record";
    case ADMIN_VERIFY_NO_KEY: return "no such key";
    case ADMIN_VERIFY_SIGNATURE_LENGTH: return "signature length wrong for its algorithm";
    case ADMIN_VERIFY_KEY_LENGTH: return "public key malformed for its algorithm";
    }
    return "unknown fault";
}

/* Writes what failure i of tally was: its fault, and for a length the
 * length got and expected ("8..72" for ECDSA's DER). */
static void s_fault_text(const admin_verify_tally_t *tally, size_t i, char *out, size_t out_size)
{
    if (tally->faults[i] != ADMIN_VERIFY_SIGNATURE_LENGTH) {
        snprintf(out, out_size, "%s", admin_verify_fault_name(tally->faults[i]));
        return;
    }
    rs_alg_t alg = (rs_alg_t) tally->algs[i];
    size_t min = rs_alg_sig_min(alg), max = rs_alg_sig_max(alg);
    char expected[48];
    if (min == max)
        snprintf(expected, sizeof expected, "%zu", min);
    else
        snprintf(expected, sizeof expected, "%zu..%zu", min, max);
    snprintf(out, out_size, "signature length wrong for %s: got %zu bytes, expected %s",
             rs_alg_name(alg), tally->signature_lens[i], expected);
}

/* Writes "17 (bad signature), 18 and 5 more": the first of `listed` ids
 * (with their faults, when tally is given), `total` in all, into out. */
static void s_describe(const int64_t *ids, const admin_verify_tally_t *tally, size_t listed,
                       int64_t total, size_t max_items, char *out, size_t out_size)
{
    size_t used = 0;
    out[0] = '\0';
    size_t shown = listed < max_items ? listed : max_items;
    for (size_t i = 0; i < shown && used < out_size; i++) {
        char fault[128] = "";
        if (tally)
            s_fault_text(tally, i, fault, sizeof fault);
        int n = tally ? snprintf(out + used, out_size - used, "%s%lld (%s)", i ? ", " : "",
                                 (long long) ids[i], fault)
                      : snprintf(out + used, out_size - used, "%s%lld", i ? ", " : "",
                                 (long long) ids[i]);
        if (n < 0)
            return;
        used += (size_t) n;
    }
    if (total > (int64_t) shown && used < out_size)
        snprintf(out + used, out_size - used, " and %lld more", (long long) (total - (int64_t) shown));
}

void admin_verify_describe(const admin_verify_tally_t *tally, size_t max_items, char *out,
                           size_t out_size)
{
    s_describe(tally->ids, tally, tally->listed, tally->failed, max_items, out, out_size);
}

void admin_verify_describe_deleted(const admin_verify_tally_t *tally, size_t max_items, char *out,
                                   size_t out_size)
{
    s_describe(tally->deleted_ids, NULL, tally->deleted_listed, tally->deleted, max_items, out,
               out_size);
}

static void s_tally_deleted(admin_verify_tally_t *tally, int64_t id)
{
    tally->deleted++;
    if (tally->deleted_listed < ADMIN_VERIFY_LISTED)
        tally->deleted_ids[tally->deleted_listed++] = id;
}

static void s_tally_fail(admin_verify_tally_t *tally, int64_t id, admin_verify_fault_t fault,
                         size_t signature_len, rs_alg_t alg)
{
    tally->failed++;
    if (tally->listed < ADMIN_VERIFY_LISTED) {
        tally->ids[tally->listed] = id;
        tally->faults[tally->listed] = fault;
        tally->signature_lens[tally->listed] = signature_len;
        tally->algs[tally->listed] = (int) alg;
        tally->listed++;
    }
}

static void s_tally_add(admin_verify_tally_t *dst, const admin_verify_tally_t *src)
{
    dst->checked += src->checked;
    dst->failed += src->failed;
    dst->deleted += src->deleted;
    for (size_t i = 0; i < src->deleted_listed && dst->deleted_listed < ADMIN_VERIFY_LISTED; i++)
        dst->deleted_ids[dst->deleted_listed++] = src->deleted_ids[i];
    for (size_t i = 0; i < src->listed && dst->listed < ADMIN_VERIFY_LISTED; i++) {
        dst->ids[dst->listed] = src->ids[i];
        dst->faults[dst->listed] = src->faults[i];
        dst->signature_lens[dst->listed] = src->signature_lens[i];
        dst->algs[dst->listed] = src->algs[i];
        dst->listed++;
    }
}

/* Checks one row; 0 when it verifies, else the fault (the key's algorithm
 * in *alg). -1: out of memory. */
static int s_check(s_worker_t *w, const admin_verify_row_t *row, rs_alg_t *alg)
{
    if (!row->payload)
        return ADMIN_VERIFY_NO_RECORD;
    if (!row->public_key)
        return ADMIN_VERIFY_NO_KEY;
    if ((row->algorithm && rs_alg_parse(alg, row->algorithm))
        || rs_verifier_set_key(w->verifier, *alg, row->public_key, row->public_key_len))
        return ADMIN_VERIFY_KEY_LENGTH;
    /* A length the algorithm never makes (RSA: the modulus in bytes,
     * exactly; Ed25519: 64; ECDSA's DER: 8..72) is told apart from a
     * signature that does not verify. */
    if (row->signature_len < rs_alg_sig_min(*alg) || row->signature_len > rs_alg_sig_max(*alg))
        return ADMIN_VERIFY_SIGNATURE_LENGTH;
    size_t need = RS_MESSAGE_HEADER_BYTES + row->payload_len;
    if (need > w->cap) {
        size_t cap = w->cap ? w->cap : 4096;
        while (cap < need)
            cap *= 2;
        uint8_t *message = realloc(w->message, cap);
        if (!message)
            return -1;
        w->message = message;
        w->cap = cap;
    }
    size_t len = rs_message_build(w->message, row->record_id, row->payload, row->payload_len);
    if (rs_verifier_check(w->verifier, row->signature, row->signature_len, w->message, len))
        return ADMIN_VERIFY_BAD_SIGNATURE;
    return 0;
}

static void *s_work(void *arg)
{
    s_worker_t *w = arg;
    for (size_t i = 0; i < w->count; i++) {
        if (!w->rows[i].payload && w->rows[i].record_deleted) {
            s_tally_deleted(&w->tally, w->rows[i].record_id);
            continue;
        }
        rs_alg_t alg = RS_ALG_ED25519;
        int fault = s_check(w, &w->rows[i], &alg);
        if (fault < 0) {
            w->error = -1;
            break;
        }
        w->tally.checked++;
        if (fault)
            s_tally_fail(&w->tally, w->rows[i].record_id, (admin_verify_fault_t) fault,
                         w->rows[i].signature_len, alg);
    }
    return NULL;
}

static void s_pool_fini(s_pool_t *pool);

static int s_pool_init(s_pool_t *pool, int threads)
{
    if (threads < 1)
        threads = 1;
    pool->workers = calloc((size_t) threads, sizeof *pool->workers);
    if (!pool->workers) {
        rs_error("verify: out of memory for %d threads", threads);
        return -1;
    }
    pool->threads = threads;
    pool->running = 0;
    for (int i = 0; i < threads; i++)
        if (!(pool->workers[i].verifier = rs_verifier_new())) {
            rs_error("verify: out of memory for %d threads", threads);
            s_pool_fini(pool);
            return -1;
        }
    return 0;
}

static void s_pool_fini(s_pool_t *pool)
{
    for (int i = 0; pool->workers && i < pool->threads; i++) {
        free(pool->workers[i].message);
        rs_verifier_destroy(&pool->workers[i].verifier);
    }
    free(pool->workers);
    pool->workers = NULL;
}

/* Splits rows[0..count) into contiguous slices, one per thread, in order,
 * and starts them. The rows must stay valid until s_pool_wait. */
static void s_pool_start(s_pool_t *pool, const admin_verify_row_t *rows, size_t count)
{
    size_t threads = (size_t) pool->threads;
    if (threads > count)
        threads = count;
    size_t at = 0;
    for (size_t i = 0; i < threads; i++) {
        s_worker_t *w = &pool->workers[i];
        size_t slice = count / threads + (i < count % threads ? 1 : 0);
        w->rows = rows + at;
        w->count = slice;
        at += slice;
        memset(&w->tally, 0, sizeof w->tally);
        w->error = 0;
        /* A thread that cannot be had is no reason to fail: its slice
         * runs on the caller in s_pool_wait. */
        w->spawned = pthread_create(&w->thread, NULL, s_work, w) == 0;
    }
    pool->running = (int) threads;
}

/* Waits for the round and adds its outcome to tally in row order. */
static int s_pool_wait(s_pool_t *pool, admin_verify_tally_t *tally)
{
    int rc = 0;
    for (int i = 0; i < pool->running; i++) {
        s_worker_t *w = &pool->workers[i];
        if (w->spawned)
            pthread_join(w->thread, NULL);
        else
            s_work(w);
        if (w->error) {
            rs_error("verify: out of memory for a signed message");
            rc = -1;
        }
        s_tally_add(tally, &w->tally);
    }
    pool->running = 0;
    return rc;
}

int admin_verify_rows(const admin_verify_row_t *rows, size_t count, int threads,
                      admin_verify_tally_t *tally)
{
    s_pool_t pool;
    if (s_pool_init(&pool, threads))
        return -1;
    s_pool_start(&pool, rows, count);
    int rc = s_pool_wait(&pool, tally);
    s_pool_fini(&pool);
    return rc;
}

/* Points rows at the columns of a verify page (see admin_store.h). */
static void s_rows_from_page(admin_verify_row_t *rows, const PGresult *res, int count)
{
    for (int i = 0; i < count; i++) {
        admin_verify_row_t *row = &rows[i];
        row->record_id = rs_db_get_int8(res, i, ADMIN_PAGE_RECORD_ID);
        row->payload = PQgetisnull(res, i, ADMIN_PAGE_PAYLOAD)
                           ? NULL
                           : (const uint8_t *) PQgetvalue(res, i, ADMIN_PAGE_PAYLOAD);
        row->payload_len = (size_t) PQgetlength(res, i, ADMIN_PAGE_PAYLOAD);
        row->record_deleted = !PQgetisnull(res, i, ADMIN_PAGE_RECORD_DELETED)
                              && PQgetvalue(res, i, ADMIN_PAGE_RECORD_DELETED)[0] != 0;
        row->signature = (const uint8_t *) PQgetvalue(res, i, ADMIN_PAGE_SIGNATURE);
        row->signature_len = (size_t) PQgetlength(res, i, ADMIN_PAGE_SIGNATURE);
        row->public_key = PQgetisnull(res, i, ADMIN_PAGE_PUBLIC_KEY)
                              ? NULL
                              : (const uint8_t *) PQgetvalue(res, i, ADMIN_PAGE_PUBLIC_KEY);
        row->public_key_len = (size_t) PQgetlength(res, i, ADMIN_PAGE_PUBLIC_KEY);
        row->algorithm = PQgetisnull(res, i, ADMIN_PAGE_ALGORITHM)
                             ? NULL
                             : PQgetvalue(res, i, ADMIN_PAGE_ALGORITHM);
    }
}

int admin_verify_all(PGconn *conn, int threads, admin_verify_tally_t *tally)
{
    s_pool_t pool;
    if (s_pool_init(&pool, threads))
        return -1;
    admin_verify_row_t *rows = malloc(S_PAGE_ROWS * sizeof *rows);
    if (!rows) {
        rs_error("verify: out of memory for a page of %d rows", S_PAGE_ROWS);
        s_pool_fini(&pool);
        return -1;
    }
    int rc = -1;
    PGresult *page = NULL;
    if (admin_store_send_signed_page(conn, INT64_MIN, S_PAGE_ROWS, S_PAGE_BYTES))
        goto done;
    page = admin_store_take_result(conn, "reading signatures");
    while (page) {
        int count = PQntuples(page);
        if (count == 0) {
            rc = 0;
            break;
        }
        if (count > S_PAGE_ROWS || PQnfields(page) != ADMIN_PAGE_COLUMNS) {
            rs_error("verify: unexpected page shape (%d rows, %d columns)", count,
                     PQnfields(page));
            break;
        }
        s_rows_from_page(rows, page, count);
        int64_t last = rows[count - 1].record_id;
        bool more = last < INT64_MAX;
        /* Ask for the next page first, so the server works while the
         * threads verify this one. */
        if (more && admin_store_send_signed_page(conn, last + 1, S_PAGE_ROWS, S_PAGE_BYTES))
            break;
        s_pool_start(&pool, rows, (size_t) count);
        PGresult *next = more ? admin_store_take_result(conn, "reading signatures") : NULL;
        int waited = s_pool_wait(&pool, tally);
        PQclear(page);
        page = next;
        if (waited)
            break;
        if (!more) {
            rc = 0;
            break;
        }
    }
done:
    PQclear(page);
    free(rows);
    s_pool_fini(&pool);
    return rc;
}
