/* rs_proto: see rs_proto.h for the message table. */
#include "rs_proto.h"
#include "rs_bytes.h"
#include "rs_crypto.h"

#include <stdlib.h>
#include <string.h>

#define RS_BATCH_RECORD_MIN (4u + RS_MESSAGE_HEADER_BYTES)

int rs_proto_type(const uint8_t *data, size_t size)
{
    if (!data || size < 2 || data[0] != RS_PROTO_VERSION)
        return -1;
    return data[1];
}

static void s_put_header(uint8_t *buf, uint8_t type)
{
    buf[0] = RS_PROTO_VERSION;
    buf[1] = type;
}

/* --- BATCH ------------------------------------------------------------ */

struct rs_batch_writer_t {
    uint8_t *buf;
    size_t size;        /* bytes written, including the open batch's count field */
    size_t cap;         /* always 4 bytes more than size needs: room to open a batch */
    size_t open_at;     /* offset of the open batch's count field */
    uint32_t count;     /* records in the open batch */
    uint32_t batches;   /* closed batches */
};

rs_batch_writer_t *rs_batch_writer_new(void)
{
    rs_batch_writer_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->cap = 64 * 1024;
    self->buf = malloc(self->cap);
    if (!self->buf) {
        free(self);
        return NULL;
    }
    rs_batch_writer_reset(self, 0);
    return self;
}

void rs_batch_writer_destroy(rs_batch_writer_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->buf);
    free(*self_p);
    *self_p = NULL;
}

/* Opens an empty batch at the end; cap always leaves room for it. */
static void s_batch_open(rs_batch_writer_t *self)
{
    self->open_at = self->size;
    self->size += 4;
    self->count = 0;
}

void rs_batch_writer_reset(rs_batch_writer_t *self, uint64_t run_id)
{
    s_put_header(self->buf, RS_MSG_BATCH);
    rs_put_u64(self->buf + 2, run_id);
    self->size = RS_BATCH_HEADER_BYTES;
    self->batches = 0;
    s_batch_open(self);
}

bool rs_batch_writer_fits(const rs_batch_writer_t *self, size_t payload_len)
{
    /* self->size counts the open batch's count field already. */
    return payload_len <= RS_PAYLOAD_MAX
           && self->size + 4 + RS_MESSAGE_HEADER_BYTES + payload_len <= RS_BATCH_BYTES_MAX;
}

int rs_batch_writer_add(rs_batch_writer_t *self, int64_t record_id, const uint8_t *payload,
                        size_t payload_len)
{
    if (!rs_batch_writer_fits(self, payload_len) || self->count >= RS_BATCH_MAX)
        return -1;
    size_t need = self->size + 4 + RS_MESSAGE_HEADER_BYTES + payload_len;
    if (need + 4 > self->cap) {
        size_t cap = self->cap;
        while (cap < need + 4)
            cap *= 2;
        uint8_t *grown = realloc(self->buf, cap);
        if (!grown)
            return -1;
        self->buf = grown;
        self->cap = cap;
    }
    uint8_t *p = self->buf + self->size;
    rs_put_u32(p, (uint32_t) (RS_MESSAGE_HEADER_BYTES + payload_len));
    rs_message_header(p + 4, record_id);
    if (payload_len)
        memcpy(p + 4 + RS_MESSAGE_HEADER_BYTES, payload, payload_len);
    self->size = need;
    self->count++;
    return 0;
}

uint32_t rs_batch_writer_count(const rs_batch_writer_t *self)
{
    return self->count;
}

int rs_batch_writer_close(rs_batch_writer_t *self)
{
    if (self->count == 0)
        return (int) self->batches;
    if (self->batches >= RS_GROUP_MAX)
        return -1;
    rs_put_u32(self->buf + self->open_at, self->count);
    self->batches++;
    s_batch_open(self);
    return (int) self->batches;
}

uint32_t rs_batch_writer_batches(const rs_batch_writer_t *self)
{
    return self->batches;
}

const uint8_t *rs_batch_writer_data(rs_batch_writer_t *self, size_t *size)
{
    rs_put_u16(self->buf + 10, (uint16_t) self->batches);
    /* Leaves out the open batch's count field: that batch is empty. */
    *size = self->size - 4;
    return self->buf;
}

/* Lease and run ids are PostgreSQL bigints: 1..INT64_MAX for a lease (0
 * names none), 0..INT64_MAX for a run. A larger id could never match a row,
 * and a statement carrying it fails as a whole ("out of range for type
 * bigint"): one such message in a sink's flush failed every retry of it. */
static bool s_id_valid(uint64_t id)
{
    return id != 0 && id <= (uint64_t) INT64_MAX;
}

static bool s_run_id_valid(uint64_t run_id)
{
    return run_id <= (uint64_t) INT64_MAX;
}

/* A key id is a PostgreSQL integer: at most INT32_MAX (refused results
 * are recorded with theirs, and one beyond it failed that flush, and so
 * every retry of it). */
static bool s_key_id_valid(uint32_t key_id)
{
    return key_id <= (uint32_t) INT32_MAX;
}

int rs_batch_decode(rs_batches_t *out, const uint8_t *data, size_t size)
{
    if (size < RS_BATCH_HEADER_BYTES || size > RS_BATCH_BYTES_MAX
        || rs_proto_type(data, size) != RS_MSG_BATCH)
        return -1;
    uint64_t run_id = rs_get_u64(data + 2);
    uint32_t batches = rs_get_u16(data + 10);
    if (batches == 0 || batches > RS_GROUP_MAX || !s_run_id_valid(run_id))
        return -1;
    const uint8_t *p = data + RS_BATCH_HEADER_BYTES;
    const uint8_t *end = data + size;
    for (uint32_t b = 0; b < batches; b++) {
        if ((size_t) (end - p) < 4)
            return -1;
        uint32_t count = rs_get_u32(p);
        if (count == 0 || count > RS_BATCH_MAX)
            return -1;
        p += 4;
        rs_batch_t *batch = &out->batches[b];
        batch->run_id = run_id;
        batch->count = count;
        batch->records = p;
        for (uint32_t i = 0; i < count; i++) {
            if ((size_t) (end - p) < RS_BATCH_RECORD_MIN)
                return -1;
            uint32_t len = rs_get_u32(p);
            if (len < RS_MESSAGE_HEADER_BYTES || len > RS_MESSAGE_HEADER_BYTES + RS_PAYLOAD_MAX
                || (size_t) (end - p - 4) < len)
                return -1;
            if (memcmp(p + 4, RS_MESSAGE_DOMAIN, RS_MESSAGE_DOMAIN_BYTES) != 0)
                return -1;
            p += 4 + len;
        }
        batch->end = p;
    }
    if (p != end)
        return -1;
    out->count = batches;
    return 0;
}

void rs_batch_iter_init(rs_batch_iter_t *it, const rs_batch_t *batch)
{
    it->pos = batch->records;
    it->end = batch->end;
}

bool rs_batch_iter_next(rs_batch_iter_t *it, int64_t *record_id, const uint8_t **message,
                        size_t *message_len)
{
    if (it->pos >= it->end)
        return false;
    uint32_t len = rs_get_u32(it->pos);
    *message = it->pos + 4;
    *message_len = len;
    *record_id = (int64_t) rs_get_u64(it->pos + 4 + RS_MESSAGE_DOMAIN_BYTES);
    it->pos += 4 + len;
    return true;
}

/* --- LEASE_REQ -------------------------------------------------------- */

static bool s_printable(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] < 0x20 || s[i] > 0x7e)
            return false;
    return true;
}

static bool s_ids_valid(const uint64_t *ids, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (!s_id_valid(ids[i]))
            return false;
    return true;
}

static uint8_t *s_put_ids(uint8_t *p, const uint64_t *ids, size_t count)
{
    for (size_t i = 0; i < count; i++, p += 8)
        rs_put_u64(p, ids[i]);
    return p;
}

static const uint8_t *s_get_ids(const uint8_t *p, uint64_t *ids, size_t count)
{
    for (size_t i = 0; i < count; i++, p += 8)
        ids[i] = rs_get_u64(p);
    return p;
}

size_t rs_lease_req_encode(const rs_lease_req_t *msg, uint8_t *buf, size_t cap)
{
    size_t holder_len = strnlen(msg->holder, sizeof msg->holder);
    if (holder_len > RS_HOLDER_MAX || !s_printable(msg->holder, holder_len)
        || msg->release_count > RS_GROUP_MAX || msg->renew_count > RS_GROUP_MAX
        || msg->want > RS_GROUP_MAX || msg->broken_count > RS_GROUP_MAX
        || !s_ids_valid(msg->release, msg->release_count)
        || !s_ids_valid(msg->renew, msg->renew_count)
        || !s_ids_valid(msg->broken, msg->broken_count))
        return 0;
    size_t size = RS_LEASE_REQ_MIN_BYTES
                  + 8u * (msg->release_count + msg->renew_count + msg->broken_count) + holder_len;
    if (cap < size)
        return 0;
    s_put_header(buf, RS_MSG_LEASE_REQ);
    rs_put_u64(buf + 2, msg->seq);
    buf[10] = msg->release_count;
    buf[11] = msg->renew_count;
    buf[12] = msg->want;
    rs_put_u64(buf + 13, msg->run_id);
    rs_put_u32(buf + 21, msg->batch_records);
    buf[25] = (uint8_t) holder_len;
    buf[26] = msg->broken_count;
    uint8_t *p = s_put_ids(buf + RS_LEASE_REQ_MIN_BYTES, msg->release, msg->release_count);
    p = s_put_ids(p, msg->renew, msg->renew_count);
    p = s_put_ids(p, msg->broken, msg->broken_count);
    memcpy(p, msg->holder, holder_len);
    return size;
}

int rs_lease_req_decode(rs_lease_req_t *out, const uint8_t *data, size_t size)
{
    if (size < RS_LEASE_REQ_MIN_BYTES || rs_proto_type(data, size) != RS_MSG_LEASE_REQ)
        return -1;
    size_t releases = data[10], renewals = data[11], holder_len = data[25], broken = data[26];
    if (releases > RS_GROUP_MAX || renewals > RS_GROUP_MAX || data[12] > RS_GROUP_MAX
        || broken > RS_GROUP_MAX || holder_len > RS_HOLDER_MAX
        || size != RS_LEASE_REQ_MIN_BYTES + 8 * (releases + renewals + broken) + holder_len)
        return -1;
    const uint8_t *holder = data + RS_LEASE_REQ_MIN_BYTES + 8 * (releases + renewals + broken);
    if (!s_printable((const char *) holder, holder_len))
        return -1;
    out->seq = rs_get_u64(data + 2);
    out->release_count = (uint8_t) releases;
    out->renew_count = (uint8_t) renewals;
    out->broken_count = (uint8_t) broken;
    out->want = data[12];
    out->run_id = rs_get_u64(data + 13);
    out->batch_records = rs_get_u32(data + 21);
    const uint8_t *p = s_get_ids(data + RS_LEASE_REQ_MIN_BYTES, out->release, releases);
    p = s_get_ids(p, out->renew, renewals);
    s_get_ids(p, out->broken, broken);
    memcpy(out->holder, holder, holder_len);
    out->holder[holder_len] = '\0';
    if (!s_ids_valid(out->release, releases) || !s_ids_valid(out->renew, renewals)
        || !s_ids_valid(out->broken, broken) || !s_run_id_valid(out->run_id))
        return -1;
    return 0;
}

/* --- LEASE_REP -------------------------------------------------------- */

size_t rs_lease_rep_encode(const rs_lease_rep_t *msg, uint8_t *buf, size_t cap)
{
    if (msg->granted > RS_GROUP_MAX)
        return 0;
    size_t size = RS_LEASE_REP_MIN_BYTES;
    for (size_t i = 0; i < msg->granted; i++) {
        const rs_lease_grant_t *g = &msg->grants[i];
        if (!s_id_valid(g->lease_id) || g->sealed_len == 0 || g->sealed_len > RS_SEALED_MAX)
            return 0;
        size += RS_LEASE_GRANT_MIN_BYTES + g->sealed_len;
    }
    if (cap < size)
        return 0;
    s_put_header(buf, RS_MSG_LEASE_REP);
    rs_put_u64(buf + 2, msg->seq);
    buf[10] = msg->release_status;
    buf[11] = msg->renew_status;
    rs_put_u32(buf + 12, msg->ttl_ms);
    buf[16] = msg->granted;
    uint8_t *p = buf + RS_LEASE_REP_MIN_BYTES;
    for (size_t i = 0; i < msg->granted; i++) {
        const rs_lease_grant_t *g = &msg->grants[i];
        rs_put_u64(p, g->lease_id);
        rs_put_u32(p + 8, g->key_id);
        rs_put_u16(p + 12, g->sealed_len);
        memcpy(p + RS_LEASE_GRANT_MIN_BYTES, g->sealed, g->sealed_len);
        p += RS_LEASE_GRANT_MIN_BYTES + g->sealed_len;
    }
    return size;
}

int rs_lease_rep_decode(rs_lease_rep_t *out, const uint8_t *data, size_t size)
{
    if (size < RS_LEASE_REP_MIN_BYTES || rs_proto_type(data, size) != RS_MSG_LEASE_REP)
        return -1;
    if (data[10] > RS_RELEASE_UNKNOWN || data[11] > RS_RELEASE_UNKNOWN || data[16] > RS_GROUP_MAX)
        return -1;
    out->seq = rs_get_u64(data + 2);
    out->release_status = data[10];
    out->renew_status = data[11];
    out->ttl_ms = rs_get_u32(data + 12);
    out->granted = data[16];
    const uint8_t *p = data + RS_LEASE_REP_MIN_BYTES;
    const uint8_t *end = data + size;
    for (size_t i = 0; i < out->granted; i++) {
        if ((size_t) (end - p) < RS_LEASE_GRANT_MIN_BYTES)
            return -1;
        rs_lease_grant_t *g = &out->grants[i];
        g->lease_id = rs_get_u64(p);
        g->key_id = rs_get_u32(p + 8);
        g->sealed_len = rs_get_u16(p + 12);
        p += RS_LEASE_GRANT_MIN_BYTES;
        /* A grant must name a lease and carry a secret. */
        if (!s_id_valid(g->lease_id) || !s_key_id_valid(g->key_id) || g->sealed_len == 0
            || g->sealed_len > RS_SEALED_MAX || (size_t) (end - p) < g->sealed_len)
            return -1;
        memcpy(g->sealed, p, g->sealed_len);
        p += g->sealed_len;
    }
    if (p != end)
        return -1;
    return 0;
}

/* --- RESULTS ---------------------------------------------------------- */

static size_t s_entry_bytes(uint16_t sig_slot)
{
    return RS_RESULT_ENTRY_HEAD_BYTES + (size_t) sig_slot;
}

size_t rs_results_size(uint32_t count, uint16_t sig_slot)
{
    return RS_RESULTS_HEADER_BYTES + (size_t) count * s_entry_bytes(sig_slot);
}

size_t rs_results_begin(uint8_t *buf, uint64_t lease_id, uint32_t key_id, uint32_t count,
                        uint16_t sig_slot)
{
    s_put_header(buf, RS_MSG_RESULTS);
    rs_put_u64(buf + 2, lease_id);
    rs_put_u32(buf + 10, key_id);
    rs_put_u32(buf + 14, count);
    rs_put_u16(buf + 18, sig_slot);
    return rs_results_size(count, sig_slot);
}

void rs_results_put(uint8_t *buf, uint16_t sig_slot, uint32_t index, int64_t record_id,
                    const uint8_t *signature, size_t sig_len)
{
    uint8_t *p = buf + RS_RESULTS_HEADER_BYTES + (size_t) index * s_entry_bytes(sig_slot);
    rs_put_u64(p, (uint64_t) record_id);
    rs_put_u16(p + 8, (uint16_t) sig_len);
    memcpy(p + RS_RESULT_ENTRY_HEAD_BYTES, signature, sig_len);
    if (sig_len < sig_slot)
        memset(p + RS_RESULT_ENTRY_HEAD_BYTES + sig_len, 0, sig_slot - sig_len);
}

int rs_results_decode(rs_results_t *out, const uint8_t *data, size_t size)
{
    if (size < RS_RESULTS_HEADER_BYTES || rs_proto_type(data, size) != RS_MSG_RESULTS)
        return -1;
    uint32_t count = rs_get_u32(data + 14);
    uint16_t sig_slot = rs_get_u16(data + 18);
    if (count == 0 || count > RS_BATCH_MAX || sig_slot == 0 || sig_slot > RS_SIG_MAX
        || size != rs_results_size(count, sig_slot))
        return -1;
    out->lease_id = rs_get_u64(data + 2);
    out->key_id = rs_get_u32(data + 10);
    if (!s_id_valid(out->lease_id) || !s_key_id_valid(out->key_id))
        return -1;
    const uint8_t *p = data + RS_RESULTS_HEADER_BYTES;
    for (uint32_t i = 0; i < count; i++, p += s_entry_bytes(sig_slot)) {
        uint16_t sig_len = rs_get_u16(p + 8);
        if (sig_len == 0 || sig_len > sig_slot)
            return -1;
        /* The unused end of a slot is zero: one encoding per message. */
        for (const uint8_t *q = p + RS_RESULT_ENTRY_HEAD_BYTES + sig_len;
             q < p + RS_RESULT_ENTRY_HEAD_BYTES + sig_slot; q++)
            if (*q)
                return -1;
    }
    out->count = count;
    out->sig_slot = sig_slot;
    out->entries = data + RS_RESULTS_HEADER_BYTES;
    return 0;
}

void rs_results_get(const rs_results_t *msg, uint32_t index, int64_t *record_id,
                    const uint8_t **signature, size_t *sig_len)
{
    const uint8_t *p = msg->entries + (size_t) index * s_entry_bytes(msg->sig_slot);
    *record_id = (int64_t) rs_get_u64(p);
    *sig_len = rs_get_u16(p + 8);
    *signature = p + RS_RESULT_ENTRY_HEAD_BYTES;
}
