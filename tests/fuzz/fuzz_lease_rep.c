/* fuzz_lease_rep: libFuzzer target for LEASE_REP frames. A frame that
 * decodes must have known statuses and 0..RS_GROUP_MAX grants laid end to
 * end, each naming a lease and carrying a sealed secret of 1..RS_SEALED_MAX
 * bytes, and re-encode to the same bytes. The same input, read as the
 * fields of a reply, must encode exactly when every grant is consistent,
 * and decode back to the same fields exactly when the statuses are known
 * too. */
#include "fuzz_common.h"
#include "rs_bytes.h"

#include <string.h>

static bool s_same_grant(const rs_lease_grant_t *a, const rs_lease_grant_t *b)
{
    return a->lease_id == b->lease_id && a->key_id == b->key_id && a->sealed_len == b->sealed_len
           && a->sealed_len <= RS_SEALED_MAX && memcmp(a->sealed, b->sealed, a->sealed_len) == 0;
}

static bool s_same(const rs_lease_rep_t *a, const rs_lease_rep_t *b)
{
    if (a->seq != b->seq || a->release_status != b->release_status
        || a->renew_status != b->renew_status || a->ttl_ms != b->ttl_ms
        || a->granted != b->granted || a->granted > RS_GROUP_MAX)
        return false;
    for (size_t i = 0; i < a->granted; i++)
        if (!s_same_grant(&a->grants[i], &b->grants[i]))
            return false;
    return true;
}

/* What the encoder needs: at most RS_GROUP_MAX grants, each naming a lease
 * and carrying a secret of 1..RS_SEALED_MAX bytes. */
static bool s_grants_valid(const rs_lease_rep_t *m)
{
    if (m->granted > RS_GROUP_MAX)
        return false;
    for (size_t i = 0; i < m->granted; i++) {
        const rs_lease_grant_t *g = &m->grants[i];
        if (g->lease_id == 0 || g->sealed_len == 0 || g->sealed_len > RS_SEALED_MAX)
            return false;
    }
    return true;
}

/* What the decoder needs besides: statuses are known values. */
static bool s_statuses_known(const rs_lease_rep_t *m)
{
    return m->release_status <= RS_RELEASE_UNKNOWN && m->renew_status <= RS_RELEASE_UNKNOWN;
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
    FUZZ_CHECK(size >= RS_LEASE_REP_MIN_BYTES && size <= RS_LEASE_REP_MAX_BYTES);
    FUZZ_CHECK(msg.seq == rs_get_u64(data + 2));
    FUZZ_CHECK(msg.release_status == data[10] && msg.renew_status == data[11]);
    FUZZ_CHECK(s_statuses_known(&msg));
    FUZZ_CHECK(msg.ttl_ms == rs_get_u32(data + 12));
    FUZZ_CHECK(msg.granted == data[16] && msg.granted <= RS_GROUP_MAX);

    /* Grants follow one another to the end of the frame. */
    const uint8_t *p = data + RS_LEASE_REP_MIN_BYTES;
    size_t expect_size = RS_LEASE_REP_MIN_BYTES;
    for (size_t i = 0; i < msg.granted; i++) {
        const rs_lease_grant_t *g = &msg.grants[i];
        FUZZ_CHECK(p + RS_LEASE_GRANT_MIN_BYTES <= data + size);
        FUZZ_CHECK(g->lease_id != 0 && g->lease_id == rs_get_u64(p));
        FUZZ_CHECK(g->key_id == rs_get_u32(p + 8));
        FUZZ_CHECK(g->sealed_len == rs_get_u16(p + 12));
        FUZZ_CHECK(g->sealed_len >= 1 && g->sealed_len <= RS_SEALED_MAX);
        p += RS_LEASE_GRANT_MIN_BYTES;
        FUZZ_CHECK(g->sealed_len <= (size_t) (data + size - p));
        FUZZ_CHECK(memcmp(g->sealed, p, g->sealed_len) == 0);
        p += g->sealed_len;
        expect_size += RS_LEASE_GRANT_MIN_BYTES + g->sealed_len;
    }
    FUZZ_CHECK(p == data + size);
    FUZZ_CHECK(size == expect_size);
    FUZZ_CHECK(s_grants_valid(&msg));

    uint8_t buf[RS_LEASE_REP_MAX_BYTES];
    size_t n = rs_lease_rep_encode(&msg, buf, sizeof buf);
    FUZZ_CHECK(n == size);
    FUZZ_CHECK(memcmp(buf, data, size) == 0);
    /* One byte too little room is refused, never overrun. */
    FUZZ_CHECK(rs_lease_rep_encode(&msg, buf, size - 1) == 0);
}

/* Copies up to n bytes from the input at *at, as if it went on with zeros. */
static void s_take(uint8_t *out, size_t n, const uint8_t *data, size_t size, size_t *at)
{
    size_t have = *at < size ? size - *at : 0;
    size_t k = have < n ? have : n;
    memcpy(out, data + *at, k);
    memset(out + k, 0, n - k);
    *at += k;
}

/* Fields -> frame -> fields. The input, read as fields: seq u64,
 * release_status u8, renew_status u8, ttl_ms u32, granted u8, then per
 * grant (as many as granted says, up to RS_GROUP_MAX) lease_id u64,
 * key_id u32, sealed_len u16 and the secret's bytes (as many as sealed_len
 * says, up to RS_SEALED_MAX); missing bytes are zeros. */
static void s_encoder_direction(const uint8_t *data, size_t size)
{
    if (size < 15)
        return;
    rs_lease_rep_t msg;
    memset(&msg, 0, sizeof msg);
    msg.seq = rs_get_u64(data);
    msg.release_status = data[8];
    msg.renew_status = data[9];
    msg.ttl_ms = rs_get_u32(data + 10);
    msg.granted = data[14];
    size_t at = 15;
    for (size_t i = 0; i < msg.granted && i < RS_GROUP_MAX && at < size; i++) {
        rs_lease_grant_t *g = &msg.grants[i];
        uint8_t head[RS_LEASE_GRANT_MIN_BYTES];
        s_take(head, sizeof head, data, size, &at);
        g->lease_id = rs_get_u64(head);
        g->key_id = rs_get_u32(head + 8);
        g->sealed_len = rs_get_u16(head + 12);
        s_take(g->sealed, g->sealed_len < RS_SEALED_MAX ? g->sealed_len : RS_SEALED_MAX, data,
               size, &at);
    }

    bool valid = s_grants_valid(&msg);
    uint8_t buf[RS_LEASE_REP_MAX_BYTES];
    size_t n = rs_lease_rep_encode(&msg, buf, sizeof buf);
    FUZZ_CHECK((n != 0) == valid);
    if (!n)
        return;
    size_t expect_size = RS_LEASE_REP_MIN_BYTES;
    for (size_t i = 0; i < msg.granted; i++)
        expect_size += RS_LEASE_GRANT_MIN_BYTES + msg.grants[i].sealed_len;
    FUZZ_CHECK(n == expect_size);
    FUZZ_CHECK(n <= RS_LEASE_REP_MAX_BYTES);
    FUZZ_CHECK(fuzz_check_type(buf, n) == RS_MSG_LEASE_REP);
    /* One byte too little room is refused. */
    static uint8_t again[RS_LEASE_REP_MAX_BYTES];
    FUZZ_CHECK(rs_lease_rep_encode(&msg, again, n - 1) == 0);
    rs_lease_rep_t back;
    memset(&back, 0xa5, sizeof back);
    int rc = rs_lease_rep_decode(&back, buf, n);
    FUZZ_CHECK((rc == 0) == s_statuses_known(&msg));
    if (rc == 0)
        FUZZ_CHECK(s_same(&back, &msg));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    s_decoder_direction(data, size);
    s_encoder_direction(data, size);
    return 0;
}
