/* verify: checks stored signatures against their keys' public keys over
 * the signed message, on several threads, streaming the signatures table
 * page by page so memory stays bounded. Used by 'recsign verify' and by
 * 'recsign audit' (rule 1). */
#ifndef ADMIN_VERIFY_H
#define ADMIN_VERIFY_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How many failing (and deleted) record ids a tally keeps (the first ones, by id). */
#define ADMIN_VERIFY_LISTED 20

typedef enum {
    ADMIN_VERIFY_BAD_SIGNATURE = 1, /* does not verify under the key */
    ADMIN_VERIFY_NO_RECORD,         /* signature of a record that does not exist */
    ADMIN_VERIFY_NO_KEY,            /* signature by a key that does not exist */
    ADMIN_VERIFY_SIGNATURE_LENGTH,  /* signature of a length its key's algorithm never makes */
    ADMIN_VERIFY_KEY_LENGTH,        /* public key malformed for its algorithm, or unknown algorithm */
} admin_verify_fault_t;

/* One signature to check; the pointers are borrowed. */
typedef struct {
    int64_t record_id;
    const uint8_t *payload; /* NULL: the record is missing */
    size_t payload_len;
    bool record_deleted;    /* missing because it was deleted (records_deleted) */
    const uint8_t *signature;
    size_t signature_len;
    const uint8_t *public_key; /* NULL: the key is missing */
    size_t public_key_len;
    const char *algorithm;     /* keys.algorithm of the key; NULL counts as "ed25519" */
} admin_verify_row_t;

typedef struct {
    int64_t checked;
    int64_t failed;
    size_t listed; /* entries used in ids and faults */
    int64_t ids[ADMIN_VERIFY_LISTED];
    admin_verify_fault_t faults[ADMIN_VERIFY_LISTED];
    /* Of ADMIN_VERIFY_SIGNATURE_LENGTH: the length got and the algorithm
     * (an rs_alg_t), which says the length expected. */
    size_t signature_lens[ADMIN_VERIFY_LISTED];
    int algs[ADMIN_VERIFY_LISTED];
    /* Signatures of records deleted since (logged in records_deleted):
     * nothing to check them against, and no failure. */
    int64_t deleted;
    size_t deleted_listed;
    int64_t deleted_ids[ADMIN_VERIFY_LISTED];
} admin_verify_tally_t;

/* A short name for a fault, e.g. "bad signature". */
const char *admin_verify_fault_name(admin_verify_fault_t fault);

/* Writes "17 (bad signature), 18 (no record) and 5 more" for the failures
 * listed in tally, at most max_items of them, into out; a length fault
 * reads "19 (signature length wrong for rsa-2048: got 255 bytes, expected
 * 256)". */
void admin_verify_describe(const admin_verify_tally_t *tally, size_t max_items, char *out,
                           size_t out_size);

/* Verifies rows[0..count) on up to `threads` threads and adds the outcome
 * to *tally; failures are listed in row order. Returns 0, or -1 (logged)
 * when a thread or memory could not be had. */
int admin_verify_rows(const admin_verify_row_t *rows, size_t count, int threads,
                      admin_verify_tally_t *tally) __attribute__((warn_unused_result));

/* Writes "17, 18, 19 and 5 more" for the signatures of deleted records
 * listed in tally, at most max_items of them, into out. */
void admin_verify_describe_deleted(const admin_verify_tally_t *tally, size_t max_items, char *out,
                                   size_t out_size);

/* Verifies every row of signatures (in the caller's transaction, so one
 * snapshot), failures listed by ascending record id. A signature whose
 * record or key is missing, or whose length is wrong, counts as failed;
 * but one whose record was deleted (its id is in records_deleted) counts
 * in tally->deleted instead, not as checked nor failed.
 * Returns 0 when every signature was checked (whatever the outcome), or
 * -1 (logged) on a database or thread error. */
int admin_verify_all(PGconn *conn, int threads, admin_verify_tally_t *tally)
    __attribute__((warn_unused_result));

#endif
