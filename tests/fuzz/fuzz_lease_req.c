/* fuzz_lease_req: libFuzzer target for LEASE_REQ frames. A frame that
 * decodes must carry a bounded, printable, terminated holder and re-encode
 * to the same bytes. The same input, read as the fields of a request, must
 * encode exactly when the fields are in range and decode back to them. */
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

static bool s_same(const rs_lease_req_t *a, const rs_lease_req_t *b)
{
    return a->seq == b->seq && a->release_lease_id == b->release_lease_id
           && a->renew_lease_id == b->renew_lease_id && a->want == b->want
           && a->run_id == b->run_id && a->batch_records == b->batch_records
           && strcmp(a->holder, b->holder) == 0;
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
    size_t holder_len = strnlen(msg.holder, sizeof msg.holder);
    FUZZ_CHECK(holder_len <= RS_HOLDER_MAX);
    FUZZ_CHECK(size == RS_LEASE_REQ_MIN_BYTES + holder_len);
    FUZZ_CHECK(holder_len == data[39]);
    FUZZ_CHECK(s_printable(msg.holder, holder_len));
    FUZZ_CHECK(msg.seq == rs_get_u64(data + 2));
    FUZZ_CHECK(msg.want == (data[26] == 1));

    uint8_t buf[RS_LEASE_REQ_MAX_BYTES];
    size_t n = rs_lease_req_encode(&msg, buf, sizeof buf);
    FUZZ_CHECK(n == size);
    FUZZ_CHECK(memcmp(buf, data, size) == 0);
    /* One byte too little room is refused, never overrun. */
    FUZZ_CHECK(rs_lease_req_encode(&msg, buf, size - 1) == 0);
}

/* Fields -> frame -> fields. */
static void s_encoder_direction(const uint8_t *data, size_t size)
{
    if (size < 37)
        return;
    rs_lease_req_t msg;
    memset(&msg, 0, sizeof msg);
    msg.seq = rs_get_u64(data);
    msg.release_lease_id = rs_get_u64(data + 8);
    msg.renew_lease_id = rs_get_u64(data + 16);
    msg.want = data[24] & 1;
    msg.run_id = rs_get_u64(data + 25);
    msg.batch_records = rs_get_u32(data + 33);
    size_t rest = size - 37;
    memcpy(msg.holder, data + 37, rest < sizeof msg.holder ? rest : sizeof msg.holder);

    size_t holder_len = strnlen(msg.holder, sizeof msg.holder);
    bool valid = holder_len <= RS_HOLDER_MAX && s_printable(msg.holder, holder_len);
    uint8_t buf[RS_LEASE_REQ_MAX_BYTES];
    size_t n = rs_lease_req_encode(&msg, buf, sizeof buf);
    FUZZ_CHECK((n != 0) == valid);
    if (!n)
        return;
    FUZZ_CHECK(n == RS_LEASE_REQ_MIN_BYTES + holder_len);
    FUZZ_CHECK(fuzz_check_type(buf, n) == RS_MSG_LEASE_REQ);
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
