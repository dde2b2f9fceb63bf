/* rs_proto: every message recsign sends over ZeroMQ, with its encoder and
 * its decoder side by side. Each message is one frame (a ROUTER adds its
 * own envelope) that starts with a version byte and a type byte; all
 * integers are big-endian. Decoders check every length before reading and
 * return -1 for anything malformed.
 *
 *  message        sender -> receiver     body after [version=1][type]
 *  -------------  ---------------------  ------------------------------------------
 *  BATCH (1)      ventilator -> worker   run_id u64, count u32, count x record
 *                                        record = len u32, signed message (len bytes):
 *                                        "recsign/v1" || record id i64 || payload
 *  LEASE_REQ (2)  worker -> keycoord     seq u64, release_lease_id u64 (0: none),
 *                                        renew_lease_id u64 (0: none), want u8 (0|1),
 *                                        run_id u64, batch_records u32,
 *                                        holder_len u8, holder (printable ASCII)
 *  LEASE_REP (3)  keycoord -> worker     seq u64, release_status u8, renew_status u8,
 *                                        granted u8 (0|1), lease_id u64, key_id u32,
 *                                        ttl_ms u32, sealed_len u16, sealed secret
 *  RESULTS (4)    worker -> sink         lease_id u64, key_id u32, count u32,
 *                                        count x (record id i64, signature 64 bytes)
 *
 * A BATCH record carries the exact bytes to sign, so a worker signs straight
 * out of the received frame without copying payloads. A LEASE_REQ with
 * want = 0 and no release is a ping; the keycoord answers it with a
 * LEASE_REP that grants nothing. */
#ifndef RS_PROTO_H
#define RS_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RS_PROTO_VERSION 1

enum {
    RS_MSG_BATCH = 1,
    RS_MSG_LEASE_REQ = 2,
    RS_MSG_LEASE_REP = 3,
    RS_MSG_RESULTS = 4,
};

#define RS_BATCH_MAX 100000u         /* records in one batch (the batch-size bound) */
#define RS_PAYLOAD_MAX (1u << 20)    /* bytes in one record's payload */
#define RS_HOLDER_MAX 128u           /* bytes in a holder name */
#define RS_SEALED_MAX 256u           /* bytes in a sealed secret */

#define RS_BATCH_HEADER_BYTES 14u    /* version, type, run_id, count */
#define RS_LEASE_REQ_MIN_BYTES 40u   /* all fixed fields, empty holder */
#define RS_LEASE_REP_MIN_BYTES 31u   /* all fixed fields, empty sealed secret */
#define RS_RESULTS_HEADER_BYTES 18u  /* version, type, lease_id, key_id, count */
#define RS_RESULT_ENTRY_BYTES 72u    /* record id, signature */

/* Returns the message type of a frame (after checking the version byte),
 * or -1 when the frame is too short or of another version. */
int rs_proto_type(const uint8_t *data, size_t size);

/* --- BATCH ------------------------------------------------------------ */

/* Builds one BATCH in a growable buffer that is reused across batches. */
typedef struct rs_batch_writer_t rs_batch_writer_t;

/* Returns NULL when out of memory. */
rs_batch_writer_t *rs_batch_writer_new(void);
void rs_batch_writer_destroy(rs_batch_writer_t **self_p);
/* Starts a new, empty batch of the given run. */
void rs_batch_writer_reset(rs_batch_writer_t *self, uint64_t run_id);
/* Appends one record; returns -1 when the payload is over RS_PAYLOAD_MAX,
 * the batch is full or memory ran out (the batch is left unchanged). */
int rs_batch_writer_add(rs_batch_writer_t *self, int64_t record_id, const uint8_t *payload,
                        size_t payload_len) __attribute__((warn_unused_result));
uint32_t rs_batch_writer_count(const rs_batch_writer_t *self);
/* The encoded batch; valid until the next reset or add. */
const uint8_t *rs_batch_writer_data(rs_batch_writer_t *self, size_t *size);

/* A decoded BATCH: views into the frame, which must outlive it. */
typedef struct {
    uint64_t run_id;
    uint32_t count;
    const uint8_t *records; /* first record */
    const uint8_t *end;
} rs_batch_t;

/* Validates the whole frame (every record's length and signed-message
 * prefix) so that iteration needs no further checks. */
int rs_batch_decode(rs_batch_t *out, const uint8_t *data, size_t size)
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
    uint64_t seq;              /* echoed in the reply; stale replies are told apart by it */
    uint64_t release_lease_id; /* lease the sender gives back, 0 for none */
    uint64_t renew_lease_id;   /* lease whose TTL restarts now, 0 for none */
    bool want;                 /* asks for a new lease */
    uint64_t run_id;           /* run of the batch the lease is for */
    uint32_t batch_records;    /* records in that batch */
    char holder[RS_HOLDER_MAX + 1];
} rs_lease_req_t;

#define RS_LEASE_REQ_MAX_BYTES (RS_LEASE_REQ_MIN_BYTES + RS_HOLDER_MAX)

/* Encodes into buf (at least RS_LEASE_REQ_MAX_BYTES); returns the size, or
 * 0 when a field is out of range. */
size_t rs_lease_req_encode(const rs_lease_req_t *msg, uint8_t *buf, size_t cap);
int rs_lease_req_decode(rs_lease_req_t *out, const uint8_t *data, size_t size)
    __attribute__((warn_unused_result));

/* Outcome of a release or a renewal folded into a request. */
enum {
    RS_RELEASE_NONE = 0,    /* nothing was asked */
    RS_RELEASE_OK = 1,      /* the lease ended now (release) or runs one TTL from now (renew) */
    RS_RELEASE_UNKNOWN = 2, /* no such open lease of this holder (already expired?) */
};

typedef struct {
    uint64_t seq;
    uint8_t release_status;
    uint8_t renew_status;
    bool granted;
    uint64_t lease_id;
    uint32_t key_id;
    uint32_t ttl_ms;
    uint16_t sealed_len;
    uint8_t sealed[RS_SEALED_MAX];
} rs_lease_rep_t;

#define RS_LEASE_REP_MAX_BYTES (RS_LEASE_REP_MIN_BYTES + RS_SEALED_MAX)

size_t rs_lease_rep_encode(const rs_lease_rep_t *msg, uint8_t *buf, size_t cap);
int rs_lease_rep_decode(rs_lease_rep_t *out, const uint8_t *data, size_t size)
    __attribute__((warn_unused_result));

/* --- RESULTS ---------------------------------------------------------- */

/* Bytes needed for a RESULTS message of `count` signatures. */
size_t rs_results_size(uint32_t count);
/* Writes the header and returns the size for `count` entries; the caller
 * fills entries with rs_results_put. buf must hold rs_results_size(count). */
size_t rs_results_begin(uint8_t *buf, uint64_t lease_id, uint32_t key_id, uint32_t count);
void rs_results_put(uint8_t *buf, uint32_t index, int64_t record_id, const uint8_t *signature);

typedef struct {
    uint64_t lease_id;
    uint32_t key_id;
    uint32_t count;
    const uint8_t *entries;
} rs_results_t;

int rs_results_decode(rs_results_t *out, const uint8_t *data, size_t size)
    __attribute__((warn_unused_result));
/* Reads entry `index` (< count) of a decoded message. */
void rs_results_get(const rs_results_t *msg, uint32_t index, int64_t *record_id,
                    const uint8_t **signature);

#endif
