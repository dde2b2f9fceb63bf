/* fuzz_lease_req: libFuzzer target for LEASE_REQ frames. A frame that
 * decodes must carry at most RS_GROUP_MAX release, renew and broken lease ids, none
 * of them 0, a want of at most RS_GROUP_MAX and a bounded, printable,
 * terminated holder, and re-encode to the same bytes. The same input, read
 * as the fields of a request, must encode exactly when the fields are in
 * range and decode back to them. */
#include "fuzz_common.h"
#include "rs_bytes.h"

#include <string.h>

static bool s_printable(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] < 0x20 || s[i] > 0x7e)
            return false;
    return true;
}

static bool s_ids_nonzero(const uint64_t *ids, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (ids[i] == 0)
            return false;
    return true;
}

static bool s_same(const rs_lease_req_t *a, const rs_lease_req_t *b)
{
    return a->seq == b->seq && a->release_count == b->release_count
           && a->renew_count == b->renew_count && a->release_count <= RS_GROUP_MAX
           && a->renew_count <= RS_GROUP_MAX && a->broken_count == b->broken_count
           && a->broken_count <= RS_GROUP_MAX
           && memcmp(a->broken, b->broken, a->broken_count * sizeof a->broken[0]) == 0
           && memcmp(a->release, b->release, a->release_count * sizeof a->release[0]) == 0
           && memcmp(a->renew, b->renew, a->renew_count * sizeof a->renew[0]) == 0
           && a->want == b->want && a->run_id == b->run_id
           && a->batch_records == b->batch_records && strcmp(a->holder, b->holder) == 0;
}

/* Frame -> message -> frame. */
static void s_decoder_direction(const uint8_t *data, size_t size)
{
    int type = fuzz_check_type(data, size);
    rs_lease_req_t msg;
    memset(&msg, 0xa5, sizeof msg);
    if (rs_lease_req_decode(&msg, data, size) != 0)
        return;

    FUZZ_CHECK(type == RS_MSG_LEASE_REQ);
    FUZZ_CHECK(size >= RS_LEASE_REQ_MIN_BYTES && size <= RS_LEASE_REQ_MAX_BYTES);
    FUZZ_CHECK(msg.seq == rs_get_u64(data + 2));
    FUZZ_CHECK(msg.release_count == data[10] && msg.release_count <= RS_GROUP_MAX);
    FUZZ_CHECK(msg.renew_count == data[11] && msg.renew_count <= RS_GROUP_MAX);
    FUZZ_CHECK(msg.want == data[12] && msg.want <= RS_GROUP_MAX);
    FUZZ_CHECK(msg.run_id == rs_get_u64(data + 13));
    FUZZ_CHECK(msg.batch_records == rs_get_u32(data + 21));
    FUZZ_CHECK(msg.broken_count == data[26] && msg.broken_count <= RS_GROUP_MAX);

    /* The release ids, then the renew ids, then the broken ids, then the holder. */
    const uint8_t *p = data + RS_LEASE_REQ_MIN_BYTES;
    for (size_t i = 0; i < msg.release_count; i++, p += 8) {
        FUZZ_CHECK(msg.release[i] != 0);
        FUZZ_CHECK(msg.release[i] == rs_get_u64(p));
    }
    for (size_t i = 0; i < msg.renew_count; i++, p += 8) {
        FUZZ_CHECK(msg.renew[i] != 0);
        FUZZ_CHECK(msg.renew[i] == rs_get_u64(p));
    }
    for (size_t i = 0; i < msg.broken_count; i++, p += 8) {
        FUZZ_CHECK(msg.broken[i] != 0);
        FUZZ_CHECK(msg.broken[i] == rs_get_u64(p));
    }
    size_t holder_len = strnlen(msg.holder, sizeof msg.holder);
    FUZZ_CHECK(holder_len <= RS_HOLDER_MAX);
    FUZZ_CHECK(holder_len == data[25]);
    FUZZ_CHECK(s_printable(msg.holder, holder_len));
    FUZZ_CHECK(p + holder_len == data + size);
    FUZZ_CHECK(memcmp(msg.holder, p, holder_len) == 0);
    FUZZ_CHECK(size
               == RS_LEASE_REQ_MIN_BYTES
                      + 8u * (msg.release_count + msg.renew_count + msg.broken_count) + holder_len);

    uint8_t buf[RS_LEASE_REQ_MAX_BYTES];
    size_t n = rs_lease_req_encode(&msg, buf, sizeof buf);
    FUZZ_CHECK(n == size);
    FUZZ_CHECK(memcmp(buf, data, size) == 0);
    /* One byte too little room is refused, never overrun. */
    FUZZ_CHECK(rs_lease_req_encode(&msg, buf, size - 1) == 0);
}

/* Reads up to 8 bytes big-endian, as if the input went on with zeros. */
static uint64_t s_get_u64_padded(const uint8_t *data, size_t size, size_t *at)
{
    uint8_t b[8] = {0};
    for (size_t i = 0; i < 8 && *at < size; i++)
        b[i] = data[(*at)++];
    return rs_get_u64(b);
}

/* Fields -> frame -> fields. The input, read as fields: seq u64,
 * release_count u8, renew_count u8, want u8, run_id u64, batch_records u32,
 * broken_count u8, then the release, renew and broken ids (u64 each, as many as the counts
 * say, up to RS_GROUP_MAX; missing bytes are zeros), then the holder (what
 * is left, up to one byte past RS_HOLDER_MAX). */
static void s_encoder_direction(const uint8_t *data, size_t size)
{
    if (size < 24)
        return;
    rs_lease_req_t msg;
    memset(&msg, 0, sizeof msg);
    msg.seq = rs_get_u64(data);
    msg.release_count = data[8];
    msg.renew_count = data[9];
    msg.want = data[10];
    msg.run_id = rs_get_u64(data + 11);
    msg.batch_records = rs_get_u32(data + 19);
    msg.broken_count = data[23];
    size_t at = 24;
    for (size_t i = 0; i < msg.release_count && i < RS_GROUP_MAX; i++)
        msg.release[i] = s_get_u64_padded(data, size, &at);
    for (size_t i = 0; i < msg.renew_count && i < RS_GROUP_MAX; i++)
        msg.renew[i] = s_get_u64_padded(data, size, &at);
    for (size_t i = 0; i < msg.broken_count && i < RS_GROUP_MAX; i++)
        msg.broken[i] = s_get_u64_padded(data, size, &at);
    size_t rest = size - at;
    memcpy(msg.holder, data + at, rest < sizeof msg.holder ? rest : sizeof msg.holder);

    size_t holder_len = strnlen(msg.holder, sizeof msg.holder);
    bool valid = holder_len <= RS_HOLDER_MAX && s_printable(msg.holder, holder_len)
                 && msg.release_count <= RS_GROUP_MAX && msg.renew_count <= RS_GROUP_MAX
                 && msg.want <= RS_GROUP_MAX && msg.broken_count <= RS_GROUP_MAX
                 && s_ids_nonzero(msg.release, msg.release_count)
                 && s_ids_nonzero(msg.renew, msg.renew_count)
                 && s_ids_nonzero(msg.broken, msg.broken_count);
    uint8_t buf[RS_LEASE_REQ_MAX_BYTES];
    size_t n = rs_lease_req_encode(&msg, buf, sizeof buf);
    FUZZ_CHECK((n != 0) == valid);
    if (!n)
        return;
    FUZZ_CHECK(n == RS_LEASE_REQ_MIN_BYTES
                        + 8u * (msg.release_count + msg.renew_count + msg.broken_count)
                        + holder_len);
    FUZZ_CHECK(n <= RS_LEASE_REQ_MAX_BYTES);
    FUZZ_CHECK(fuzz_check_type(buf, n) == RS_MSG_LEASE_REQ);
    /* One byte too little room is refused. */
    uint8_t again[RS_LEASE_REQ_MAX_BYTES];
    FUZZ_CHECK(rs_lease_req_encode(&msg, again, n - 1) == 0);
    rs_lease_req_t back;
    memset(&back, 0xa5, sizeof back);
    FUZZ_CHECK(rs_lease_req_decode(&back, buf, n) == 0);
    FUZZ_CHECK(s_same(&back, &msg));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    s_decoder_direction(data, size);
    s_encoder_direction(data, size);
    return 0;
}
