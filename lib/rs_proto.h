/* rs_proto: every message recsign sends over ZeroMQ, with its encoder and
 * its decoder side by side. Each message is one frame (a ROUTER adds its
 * own envelope) that starts with a version byte and a type byte; all
 * integers are big-endian. Decoders check every length before reading and
 * return -1 for anything malformed.
 *
 *  message        sender -> receiver     body after [version=3][type]
 *  -------------  ---------------------  ------------------------------------------
 *  BATCH (1)      ventilator -> worker   run_id u64, batches u16 (1..RS_GROUP_MAX),
 *                                        batches x (count u32, count x record)
 *                                        record = len u32, signed message (len bytes):
 *                                        "recsign/v1" || record id i64 || payload
 *  LEASE_REQ (2)  worker -> keycoord     seq u64, releases u8, renewals u8,
 *                                        want u8 (0..RS_GROUP_MAX), run_id u64,
 *                                        batch_records u32, holder_len u8, broken u8,
 *                                        releases x lease_id u64, renewals x lease_id u64,
 *                                        broken x lease_id u64, holder (printable ASCII)
 *  LEASE_REP (3)  keycoord -> worker     seq u64, release_status u8, renew_status u8,
 *                                        ttl_ms u32, granted u8 (0..RS_GROUP_MAX),
 *                                        granted x (lease_id u64, key_id u32,
 *                                        sealed_len u16, sealed secret)
 *  RESULTS (4)    worker -> sink         lease_id u64, key_id u32, count u32,
 *                                        sig_slot u16 (1..RS_SIG_MAX),
 *                                        count x (record id i64, sig_len u16
 *                                        (1..sig_slot), signature: sig_slot bytes,
 *                                        the first sig_len of them used, the rest 0)
 *
 * Ids are PostgreSQL's: a lease_id is 1..INT64_MAX (bigint; 0 names no
 * lease), a run_id 0..INT64_MAX (bigint), a key_id 0..INT32_MAX (integer);
 * a message with another is malformed.
 *
 * A BATCH record carries the exact bytes to sign, so a worker signs straight
 * out of the received frame without copying payloads. Small batches travel
 * several to a message, and one lease request asks for a key for each of
 * them: the round trip to the keycoord is paid per message, not per batch,
 * while every batch still has a lease, and a key, of its own. A LEASE_REQ
 * that wants nothing and releases nothing is a ping; the keycoord answers it
 * with a LEASE_REP that grants nothing. A lease listed as broken is given
 * back because its key's sealed secret could not be unsealed: the
 * keycoord ends it and quarantines the key.
 *
 * Keys of several algorithms (rs_signer.h): a sealed secret is 104 bytes
 * for Ed25519 and up to RS_SEALED_MAX for RSA-4096; the algorithm travels
 * inside the sealed secret, not beside it. Signatures differ in length (64
 * bytes Ed25519, up to 72 ECDSA DER, 256..512 RSA): a RESULTS message gives
 * each of its entries a slot of the key's largest signature, so entries stay
 * fixed-size and are found by index, and the Ed25519 slot (64) wastes
 * nothing. Version 3 added sig_slot and sig_len to RESULTS and raised
 * RS_SEALED_MAX from 256; LEASE_REQ gained its list of broken leases. */
#ifndef RS_PROTO_H
#define RS_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rs_signer.h"

#define RS_PROTO_VERSION 3

enum {
    RS_MSG_BATCH = 1,
    RS_MSG_LEASE_REQ = 2,
    RS_MSG_LEASE_REP = 3,
    RS_MSG_RESULTS = 4,
};

#define RS_BATCH_MAX 100000u         /* records in one batch (the batch-size bound) */
#define RS_PAYLOAD_MAX (1u << 20)    /* bytes in one record's payload (the data contract's
                                        limit; records_payload_max in the schema) */
/* Bytes in one BATCH message. A batch whose records would pass it is cut
 * short (it then holds fewer records than the batch size): every batch
 * the contract allows travels, in a message whose size, and so every
 * process's memory, is bounded whatever the batch size. Room for at least
 * one record of RS_PAYLOAD_MAX. */
#define RS_BATCH_BYTES_MAX (4u << 20)
#define RS_HOLDER_MAX 128u           /* bytes in a holder name */
#define RS_SEALED_MAX RS_SEALED_SECRET_MAX /* bytes in a sealed secret (RSA-4096 PKCS#8, sealed) */
#define RS_GROUP_MAX 64u             /* batches in a BATCH message; leases in one request or reply */

#define RS_BATCH_HEADER_BYTES 12u    /* version, type, run_id, batches */
#define RS_LEASE_REQ_MIN_BYTES 27u   /* all fixed fields, no lease ids, empty holder */
#define RS_LEASE_REP_MIN_BYTES 17u   /* all fixed fields, no grant */
#define RS_LEASE_GRANT_MIN_BYTES 14u /* lease_id, key_id, sealed_len */
#define RS_RESULTS_HEADER_BYTES 20u  /* version, type, lease_id, key_id, count, sig_slot */
#define RS_RESULT_ENTRY_HEAD_BYTES 10u /* record id, sig_len; the signature slot follows */

/* Returns the message type of a frame (after checking the version byte),
 * or -1 when the frame is too short or of another version. */
int rs_proto_type(const uint8_t *data, size_t size);

/* --- BATCH ------------------------------------------------------------ */

/* Builds one BATCH message in a growable buffer that is reused. Records go
 * into the open batch; closing it starts the next batch of the message. */
typedef struct rs_batch_writer_t rs_batch_writer_t;

/* Returns NULL when out of memory. */
rs_batch_writer_t *rs_batch_writer_new(void);
void rs_batch_writer_destroy(rs_batch_writer_t **self_p);
/* Starts a new, empty message of the given run, with an empty open batch. */
void rs_batch_writer_reset(rs_batch_writer_t *self, uint64_t run_id);
/* Whether a record of payload_len bytes still fits the message without
 * passing RS_BATCH_BYTES_MAX (always true for an empty message and a
 * payload within RS_PAYLOAD_MAX). */
bool rs_batch_writer_fits(const rs_batch_writer_t *self, size_t payload_len);
/* Appends one record to the open batch; returns -1 when the payload is
 * over RS_PAYLOAD_MAX, the batch is full, the message would pass
 * RS_BATCH_BYTES_MAX or memory ran out (the message is left unchanged). */
int rs_batch_writer_add(rs_batch_writer_t *self, int64_t record_id, const uint8_t *payload,
                        size_t payload_len) __attribute__((warn_unused_result));
/* Records in the open batch. */
uint32_t rs_batch_writer_count(const rs_batch_writer_t *self);
/* Closes the open batch, if it has records, and opens the next; returns the
 * number of closed batches in the message (at most RS_GROUP_MAX: call
 * rs_batch_writer_data and reset before closing more). Returns -1 when out
 * of memory (the open batch stays open). */
int rs_batch_writer_close(rs_batch_writer_t *self) __attribute__((warn_unused_result));
/* Closed batches in the message. */
uint32_t rs_batch_writer_batches(const rs_batch_writer_t *self);
/* The encoded message of the closed batches (the open one must be empty:
 * close it first); valid until the next reset or add. */
const uint8_t *rs_batch_writer_data(rs_batch_writer_t *self, size_t *size);

/* One decoded batch: views into the frame, which must outlive it. */
typedef struct {
    uint64_t run_id;
    uint32_t count;
    const uint8_t *records; /* first record */
    const uint8_t *end;     /* one past the last record */
} rs_batch_t;

/* A decoded BATCH message. */
typedef struct {
    uint32_t count;
    rs_batch_t batches[RS_GROUP_MAX];
} rs_batches_t;

/* Validates the whole frame (at most RS_BATCH_BYTES_MAX; every batch's
 * count, every record's length and signed-message prefix) so that
 * iteration needs no further checks. */
int rs_batch_decode(rs_batches_t *out, const uint8_t *data, size_t size)
    __attribute__((warn_unused_result));

typedef struct {
    const uint8_t *pos;
    const uint8_t *end;
} rs_batch_iter_t;

void rs_batch_iter_init(rs_batch_iter_t *it, const rs_batch_t *batch);
/* Yields the next record: its id and the bytes to sign. Returns false
 * after the last record. */
bool rs_batch_iter_next(rs_batch_iter_t *it, int64_t *record_id, const uint8_t **message,
                        size_t *message_len);

/* --- LEASE_REQ / LEASE_REP ------------------------------------------- */

typedef struct {
    uint64_t seq;               /* echoed in the reply; stale replies are told apart by it */
    uint8_t release_count;
    uint64_t release[RS_GROUP_MAX]; /* leases the sender gives back */
    uint8_t renew_count;
    uint64_t renew[RS_GROUP_MAX];   /* leases whose TTL restarts now */
    uint8_t broken_count;
    uint64_t broken[RS_GROUP_MAX];  /* leases given back: their key cannot be unsealed */
    uint8_t want;               /* new leases asked for, one per batch */
    uint64_t run_id;            /* run of the batches the leases are for */
    uint32_t batch_records;     /* records in the largest of those batches */
    char holder[RS_HOLDER_MAX + 1];
} rs_lease_req_t;

#define RS_LEASE_REQ_MAX_BYTES (RS_LEASE_REQ_MIN_BYTES + 24u * RS_GROUP_MAX + RS_HOLDER_MAX)

/* Encodes into buf (at least RS_LEASE_REQ_MAX_BYTES); returns the size, or
 * 0 when a field is out of range. */
size_t rs_lease_req_encode(const rs_lease_req_t *msg, uint8_t *buf, size_t cap);
/* Rejects, besides malformed frames, a lease id of 0 in any list. */
int rs_lease_req_decode(rs_lease_req_t *out, const uint8_t *data, size_t size)
    __attribute__((warn_unused_result));

/* Outcome of the releases or the renewals folded into a request. */
enum {
    RS_RELEASE_NONE = 0,    /* nothing was asked */
    RS_RELEASE_OK = 1,      /* every lease ended now (release) or runs one TTL from now (renew) */
    RS_RELEASE_UNKNOWN = 2, /* at least one was no open lease of this holder (expired?) */
};

typedef struct {
    uint64_t lease_id;
    uint32_t key_id;
    uint16_t sealed_len;
    uint8_t sealed[RS_SEALED_MAX];
} rs_lease_grant_t;

typedef struct {
    uint64_t seq;
    uint8_t release_status;
    uint8_t renew_status;
    uint32_t ttl_ms;            /* of every grant, counted from when the request was sent */
    uint8_t granted;            /* 0 .. the number wanted */
    rs_lease_grant_t grants[RS_GROUP_MAX];
} rs_lease_rep_t;

#define RS_LEASE_REP_MAX_BYTES \
    (RS_LEASE_REP_MIN_BYTES + RS_GROUP_MAX * (RS_LEASE_GRANT_MIN_BYTES + RS_SEALED_MAX))

/* Returns the size, or 0 when a field is out of range (a grant without a
 * lease id or a sealed secret among them). */
size_t rs_lease_rep_encode(const rs_lease_rep_t *msg, uint8_t *buf, size_t cap);
/* Rejects, besides malformed frames, a grant without a lease id or a
 * sealed secret. */
int rs_lease_rep_decode(rs_lease_rep_t *out, const uint8_t *data, size_t size)
    __attribute__((warn_unused_result));

/* --- RESULTS ---------------------------------------------------------- */

/* Bytes needed for a RESULTS message of `count` signatures in slots of
 * sig_slot bytes (rs_alg_sig_max of the key's algorithm). */
size_t rs_results_size(uint32_t count, uint16_t sig_slot);
/* Writes the header and returns the size for `count` entries; the caller
 * fills entries with rs_results_put. buf must hold rs_results_size(count,
 * sig_slot). */
size_t rs_results_begin(uint8_t *buf, uint64_t lease_id, uint32_t key_id, uint32_t count,
                        uint16_t sig_slot);
/* Writes entry `index`: sig_len (1..sig_slot) bytes of signature, the rest
 * of the slot zeroed. */
void rs_results_put(uint8_t *buf, uint16_t sig_slot, uint32_t index, int64_t record_id,
                    const uint8_t *signature, size_t sig_len);

typedef struct {
    uint64_t lease_id;
    uint32_t key_id;
    uint32_t count;
    uint16_t sig_slot;
    const uint8_t *entries;
} rs_results_t;

/* Checks every entry (its sig_len within 1..sig_slot, the slot's unused
 * bytes zero), so that rs_results_get needs no further checks. */
int rs_results_decode(rs_results_t *out, const uint8_t *data, size_t size)
    __attribute__((warn_unused_result));
/* Reads entry `index` (< count) of a decoded message: a view into the
 * frame. */
void rs_results_get(const rs_results_t *msg, uint32_t index, int64_t *record_id,
                    const uint8_t **signature, size_t *sig_len);

#endif
