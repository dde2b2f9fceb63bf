/* fuzz_lease_rep: libFuzzer target for LEASE_REP frames. A frame that
 * decodes must have in-range statuses, a sealed secret exactly when it
 * grants, and re-encode to the same bytes. The same input, read as the
 * fields of a reply, must encode when sealed_len is in range, and decode
 * back to the same fields whenever they are consistent. */
#include "fuzz_common.h"
#include "rs_bytes.h"

#include <string.h>

static bool s_same(const rs_lease_rep_t *a, const rs_lease_rep_t *b)
{
    return a->seq == b->seq && a->release_status == b->release_status
           && a->renew_status == b->renew_status && a->granted == b->granted
           && a->lease_id == b->lease_id && a->key_id == b->key_id && a->ttl_ms == b->ttl_ms
           && a->sealed_len == b->sealed_len && memcmp(a->sealed, b->sealed, a->sealed_len) == 0;
}

/* What the decoder accepts beyond lengths: statuses are known values, and
 * a grant names a lease and carries a secret while a non-grant has neither. */
static bool s_consistent(const rs_lease_rep_t *m)
{
    return m->release_status <= RS_RELEASE_UNKNOWN && m->renew_status <= RS_RELEASE_UNKNOWN
           && m->granted == (m->lease_id != 0) && m->granted == (m->sealed_len != 0);
}

/* Frame -> message -> frame. */
static void s_decoder_direction(const uint8_t *data, size_t size)
{
    int type = fuzz_check_type(data, size);
    rs_lease_rep_t msg;
    memset(&msg, 0xa5, sizeof msg);
    if (rs_lease_rep_decode(&msg, data, size) != 0)
        return;

    FUZZ_CHECK(type == RS_MSG_LEASE_REP);
    FUZZ_CHECK(msg.sealed_len <= RS_SEALED_MAX);
    FUZZ_CHECK(size == RS_LEASE_REP_MIN_BYTES + msg.sealed_len);
    FUZZ_CHECK(s_consistent(&msg));
    FUZZ_CHECK(memcmp(msg.sealed, data + RS_LEASE_REP_MIN_BYTES, msg.sealed_len) == 0);

    uint8_t buf[RS_LEASE_REP_MAX_BYTES];
    size_t n = rs_lease_rep_encode(&msg, buf, sizeof buf);
    FUZZ_CHECK(n == size);
    FUZZ_CHECK(memcmp(buf, data, size) == 0);
    FUZZ_CHECK(rs_lease_rep_encode(&msg, buf, size - 1) == 0);
}

/* Fields -> frame -> fields. */
static void s_encoder_direction(const uint8_t *data, size_t size)
{
    if (size < 29)
        return;
    rs_lease_rep_t msg;
    memset(&msg, 0, sizeof msg);
    msg.seq = rs_get_u64(data);
    msg.release_status = data[8];
    msg.renew_status = data[9];
    msg.granted = data[10] & 1;
    msg.lease_id = rs_get_u64(data + 11);
    msg.key_id = rs_get_u32(data + 19);
    msg.ttl_ms = rs_get_u32(data + 23);
    msg.sealed_len = rs_get_u16(data + 27);
    size_t rest = size - 29;
    memcpy(msg.sealed, data + 29, rest < sizeof msg.sealed ? rest : sizeof msg.sealed);

    uint8_t buf[RS_LEASE_REP_MAX_BYTES];
    size_t n = rs_lease_rep_encode(&msg, buf, sizeof buf);
    FUZZ_CHECK((n != 0) == (msg.sealed_len <= RS_SEALED_MAX));
    if (!n)
        return;
    FUZZ_CHECK(n == RS_LEASE_REP_MIN_BYTES + msg.sealed_len);
    FUZZ_CHECK(fuzz_check_type(buf, n) == RS_MSG_LEASE_REP);
    rs_lease_rep_t back;
    memset(&back, 0xa5, sizeof back);
    int rc = rs_lease_rep_decode(&back, buf, n);
    FUZZ_CHECK((rc == 0) == s_consistent(&msg));
    if (rc == 0)
        FUZZ_CHECK(s_same(&back, &msg));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    s_decoder_direction(data, size);
    s_encoder_direction(data, size);
    return 0;
}
