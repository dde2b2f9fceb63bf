/* test_proto: every message round-trips, and every decoder rejects
 * truncated, oversized and garbage input. */
#include "rs_bytes.h"
#include "rs_check.h"
#include "rs_crypto.h"
#include "rs_proto.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* Every proper prefix and every one-byte extension must fail to decode. */
typedef int (*s_decode_fn)(const uint8_t *data, size_t size);

static void s_check_truncations(s_decode_fn decode, const uint8_t *data, size_t size)
{
    RS_CHECK(decode(data, size) == 0);
    for (size_t n = 0; n < size; n++)
        RS_CHECK(decode(data, n) != 0);
    uint8_t *longer = malloc(size + 1);
    memcpy(longer, data, size);
    longer[size] = 0;
    RS_CHECK(decode(longer, size + 1) != 0);
    free(longer);
}

static int s_batch(const uint8_t *d, size_t n)
{
    rs_batches_t b;
    return rs_batch_decode(&b, d, n);
}

static int s_req(const uint8_t *d, size_t n)
{
    rs_lease_req_t m;
    return rs_lease_req_decode(&m, d, n);
}

static int s_rep(const uint8_t *d, size_t n)
{
    rs_lease_rep_t m;
    return rs_lease_rep_decode(&m, d, n);
}

static int s_results(const uint8_t *d, size_t n)
{
    rs_results_t m;
    return rs_results_decode(&m, d, n);
}

/* The writer keeps a message within RS_BATCH_BYTES_MAX: records of the
 * largest payload fit a few to a message, and one always fits an empty one. */
static void test_batch_bytes(void)
{
    rs_batch_writer_t *w = rs_batch_writer_new();
    RS_CHECK(w);
    rs_batch_writer_reset(w, 1);
    uint8_t *big = calloc(1, RS_PAYLOAD_MAX);
    uint32_t fitted = 0;
    while (rs_batch_writer_fits(w, RS_PAYLOAD_MAX)) {
        RS_CHECK(rs_batch_writer_add(w, fitted, big, RS_PAYLOAD_MAX) == 0);
        fitted++;
    }
    RS_CHECK(fitted == RS_BATCH_BYTES_MAX / (RS_PAYLOAD_MAX + 1));
    RS_CHECK(rs_batch_writer_add(w, 99, big, RS_PAYLOAD_MAX) != 0);
    RS_CHECK(rs_batch_writer_count(w) == fitted);
    RS_CHECK(rs_batch_writer_close(w) == 1);
    size_t size;
    const uint8_t *data = rs_batch_writer_data(w, &size);
    RS_CHECK(size <= RS_BATCH_BYTES_MAX);
    rs_batches_t all;
    RS_CHECK(rs_batch_decode(&all, data, size) == 0 && all.batches[0].count == fitted);
    rs_batch_writer_reset(w, 1);
    RS_CHECK(rs_batch_writer_fits(w, RS_PAYLOAD_MAX) && !rs_batch_writer_fits(w, RS_PAYLOAD_MAX + 1));
    free(big);
    rs_batch_writer_destroy(&w);
}

static void test_batch(void)
{
    rs_batch_writer_t *w = rs_batch_writer_new();
    RS_CHECK(w);
    rs_batch_writer_reset(w, 42);
    const uint8_t payload[] = "hello";
    RS_CHECK(rs_batch_writer_add(w, 7, payload, 5) == 0);
    RS_CHECK(rs_batch_writer_add(w, -3, NULL, 0) == 0);
    uint8_t *big = calloc(1, RS_PAYLOAD_MAX + 1);
    RS_CHECK(rs_batch_writer_add(w, 9, big, RS_PAYLOAD_MAX + 1) != 0);
    RS_CHECK(rs_batch_writer_add(w, INT64_MAX, big, 300000) == 0);
    RS_CHECK(rs_batch_writer_count(w) == 3);
    RS_CHECK(rs_batch_writer_close(w) == 1 && rs_batch_writer_count(w) == 0);
    RS_CHECK(rs_batch_writer_close(w) == 1); /* an empty batch is not closed */
    RS_CHECK(rs_batch_writer_add(w, 8, payload, 2) == 0);
    RS_CHECK(rs_batch_writer_close(w) == 2 && rs_batch_writer_batches(w) == 2);
    size_t size;
    const uint8_t *data = rs_batch_writer_data(w, &size);

    rs_batches_t all;
    RS_CHECK(rs_batch_decode(&all, data, size) == 0);
    RS_CHECK(all.count == 2);
    /* A frame over RS_BATCH_BYTES_MAX is refused however well formed. */
    uint8_t *huge = calloc(1, RS_BATCH_BYTES_MAX + 1);
    memcpy(huge, data, size);
    RS_CHECK(rs_batch_decode(&all, huge, RS_BATCH_BYTES_MAX + 1) != 0);
    free(huge);
    RS_CHECK(rs_batch_decode(&all, data, size) == 0);
    rs_batch_t b = all.batches[0];
    RS_CHECK(b.run_id == 42 && b.count == 3);
    uint8_t *beyond = malloc(size); /* a run id beyond bigint */
    RS_CHECK(beyond);
    memcpy(beyond, data, size);
    rs_put_u64(beyond + 2, (uint64_t) INT64_MAX + 1);
    RS_CHECK(rs_batch_decode(&all, beyond, size) != 0);
    free(beyond);
    RS_CHECK(rs_batch_decode(&all, data, size) == 0);
    rs_batch_iter_t it;
    rs_batch_iter_init(&it, &b);
    int64_t id;
    const uint8_t *msg;
    size_t len;
    uint8_t expect[RS_MESSAGE_HEADER_BYTES + 5];
    RS_CHECK(rs_batch_iter_next(&it, &id, &msg, &len));
    RS_CHECK(id == 7 && len == rs_message_build(expect, 7, payload, 5));
    RS_CHECK(memcmp(msg, expect, len) == 0);
    RS_CHECK(rs_batch_iter_next(&it, &id, &msg, &len));
    RS_CHECK(id == -3 && len == RS_MESSAGE_HEADER_BYTES);
    RS_CHECK(rs_batch_iter_next(&it, &id, &msg, &len));
    RS_CHECK(id == INT64_MAX && len == RS_MESSAGE_HEADER_BYTES + 300000);
    RS_CHECK(!rs_batch_iter_next(&it, &id, &msg, &len));
    b = all.batches[1];
    RS_CHECK(b.run_id == 42 && b.count == 1 && b.records == all.batches[0].end + 4);
    rs_batch_iter_init(&it, &b);
    RS_CHECK(rs_batch_iter_next(&it, &id, &msg, &len) && id == 8);
    RS_CHECK(!rs_batch_iter_next(&it, &id, &msg, &len));

    /* No more than RS_GROUP_MAX batches to a message. */
    rs_batch_writer_reset(w, 2);
    for (uint32_t i = 1; i <= RS_GROUP_MAX; i++) {
        RS_CHECK(rs_batch_writer_add(w, i, payload, 1) == 0);
        RS_CHECK(rs_batch_writer_close(w) == (int) i);
    }
    RS_CHECK(rs_batch_writer_add(w, 0, payload, 1) == 0);
    RS_CHECK(rs_batch_writer_close(w) == -1);

    /* Small copy for the exhaustive truncation check: two batches. */
    rs_batch_writer_reset(w, 1);
    RS_CHECK(rs_batch_writer_add(w, 1, payload, 5) == 0);
    RS_CHECK(rs_batch_writer_close(w) == 1);
    RS_CHECK(rs_batch_writer_add(w, 2, payload, 3) == 0);
    RS_CHECK(rs_batch_writer_add(w, 3, payload, 0) == 0);
    RS_CHECK(rs_batch_writer_close(w) == 2);
    data = rs_batch_writer_data(w, &size);
    uint8_t copy[256];
    memcpy(copy, data, size);
    s_check_truncations(s_batch, copy, size);

    /* A record whose length overruns the frame, a wrong domain prefix, a
     * batch count or record count of zero or beyond the bound, another
     * version: all rejected. */
    uint8_t bad[256];
    const size_t first_record = RS_BATCH_HEADER_BYTES + 4;
    memcpy(bad, copy, size);
    rs_put_u32(bad + first_record, 0xffffffffu);
    RS_CHECK(s_batch(bad, size) != 0);
    memcpy(bad, copy, size);
    bad[first_record + 4] ^= 1;
    RS_CHECK(s_batch(bad, size) != 0);
    memcpy(bad, copy, size);
    rs_put_u16(bad + 10, 0);
    RS_CHECK(s_batch(bad, size) != 0);
    rs_put_u16(bad + 10, RS_GROUP_MAX + 1);
    RS_CHECK(s_batch(bad, size) != 0);
    rs_put_u16(bad + 10, 1); /* the second batch is left over */
    RS_CHECK(s_batch(bad, size) != 0);
    memcpy(bad, copy, size);
    rs_put_u32(bad + RS_BATCH_HEADER_BYTES, 0);
    RS_CHECK(s_batch(bad, size) != 0);
    rs_put_u32(bad + RS_BATCH_HEADER_BYTES, RS_BATCH_MAX + 1);
    RS_CHECK(s_batch(bad, size) != 0);
    memcpy(bad, copy, size);
    bad[0] = RS_PROTO_VERSION + 1;
    RS_CHECK(s_batch(bad, size) != 0);
    free(big);
    rs_batch_writer_destroy(&w);
    RS_CHECK(w == NULL);
}

static void test_lease_req(void)
{
    rs_lease_req_t in = { .seq = 9, .release_count = 2, .release = { 77, 79 }, .renew_count = 1,
                          .renew = { 78 }, .broken_count = 1, .broken = { 80 }, .want = 3,
                          .run_id = 3, .batch_records = 100 };
    strcpy(in.holder, "host/123/4");
    uint8_t buf[RS_LEASE_REQ_MAX_BYTES];
    size_t size = rs_lease_req_encode(&in, buf, sizeof buf);
    RS_CHECK(size == RS_LEASE_REQ_MIN_BYTES + 4 * 8 + strlen(in.holder));
    rs_lease_req_t out;
    RS_CHECK(rs_lease_req_decode(&out, buf, size) == 0);
    RS_CHECK(out.seq == 9 && out.release_count == 2 && out.release[0] == 77
             && out.release[1] == 79 && out.renew_count == 1 && out.renew[0] == 78
             && out.broken_count == 1 && out.broken[0] == 80
             && out.want == 3 && out.run_id == 3 && out.batch_records == 100
             && strcmp(out.holder, in.holder) == 0);
    s_check_truncations(s_req, buf, size);
    RS_CHECK(rs_lease_req_encode(&in, buf, 10) == 0);
    size = rs_lease_req_encode(&in, buf, sizeof buf);
    buf[12] = RS_GROUP_MAX + 1; /* want is bounded */
    RS_CHECK(s_req(buf, size) != 0);
    buf[12] = RS_GROUP_MAX;
    RS_CHECK(s_req(buf, size) == 0);
    rs_put_u64(buf + RS_LEASE_REQ_MIN_BYTES + 8, 0); /* lease 0 names no lease */
    RS_CHECK(s_req(buf, size) != 0);
    size = rs_lease_req_encode(&in, buf, sizeof buf);
    rs_put_u64(buf + RS_LEASE_REQ_MIN_BYTES + 24, 0); /* nor as a broken one */
    RS_CHECK(s_req(buf, size) != 0);
    size = rs_lease_req_encode(&in, buf, sizeof buf);
    buf[26] = RS_GROUP_MAX + 1; /* the broken list is bounded */
    RS_CHECK(s_req(buf, size) != 0);
    buf[26] = 0; /* and counted: the frame's size must agree */
    RS_CHECK(s_req(buf, size) != 0);
    size = rs_lease_req_encode(&in, buf, sizeof buf);
    /* Ids beyond PostgreSQL's bigint: a lease or a run no row can have. */
    rs_put_u64(buf + RS_LEASE_REQ_MIN_BYTES + 8, (uint64_t) INT64_MAX + 1);
    RS_CHECK(s_req(buf, size) != 0);
    rs_put_u64(buf + RS_LEASE_REQ_MIN_BYTES + 8, (uint64_t) INT64_MAX);
    RS_CHECK(s_req(buf, size) == 0);
    rs_put_u64(buf + 13, UINT64_MAX);
    RS_CHECK(s_req(buf, size) != 0);
    size = rs_lease_req_encode(&in, buf, sizeof buf);
    buf[size - 1] = '\n'; /* holder must be printable */
    RS_CHECK(s_req(buf, size) != 0);
    in.holder[3] = '\t';
    RS_CHECK(rs_lease_req_encode(&in, buf, sizeof buf) == 0);
    in.holder[3] = 't';
    in.release_count = RS_GROUP_MAX + 1;
    RS_CHECK(rs_lease_req_encode(&in, buf, sizeof buf) == 0);
    /* The largest request fits the bound. */
    in.release_count = in.renew_count = in.broken_count = RS_GROUP_MAX;
    for (uint32_t i = 0; i < RS_GROUP_MAX; i++)
        in.release[i] = in.renew[i] = in.broken[i] = (uint64_t) INT64_MAX - i;
    memset(in.holder, 'h', RS_HOLDER_MAX);
    in.holder[RS_HOLDER_MAX] = '\0';
    RS_CHECK(rs_lease_req_encode(&in, buf, sizeof buf) == RS_LEASE_REQ_MAX_BYTES);
    RS_CHECK(rs_lease_req_decode(&out, buf, RS_LEASE_REQ_MAX_BYTES) == 0);
}

static void test_lease_rep(void)
{
    rs_lease_rep_t in = { .seq = 5, .release_status = RS_RELEASE_OK,
                          .renew_status = RS_RELEASE_UNKNOWN, .ttl_ms = 10000, .granted = 2 };
    in.grants[0] = (rs_lease_grant_t) { .lease_id = 1234, .key_id = 17, .sealed_len = RS_SEALED_BYTES };
    in.grants[1] = (rs_lease_grant_t) { .lease_id = 1235, .key_id = 18, .sealed_len = 3 };
    randombytes_buf(in.grants[0].sealed, RS_SEALED_BYTES);
    randombytes_buf(in.grants[1].sealed, 3);
    /* An RSA-4096 secret is the largest that travels. */
    in.grants[2] = (rs_lease_grant_t) { .lease_id = 1236, .key_id = 19, .sealed_len = 2415 };
    randombytes_buf(in.grants[2].sealed, 2415);
    in.granted = 3;
    uint8_t buf[RS_LEASE_REP_MAX_BYTES];
    size_t size = rs_lease_rep_encode(&in, buf, sizeof buf);
    RS_CHECK(size == RS_LEASE_REP_MIN_BYTES + 3 * RS_LEASE_GRANT_MIN_BYTES + RS_SEALED_BYTES + 3
                         + 2415);
    rs_lease_rep_t out;
    RS_CHECK(rs_lease_rep_decode(&out, buf, size) == 0);
    RS_CHECK(out.seq == 5 && out.release_status == RS_RELEASE_OK
             && out.renew_status == RS_RELEASE_UNKNOWN && out.granted == 3 && out.ttl_ms == 10000);
    for (int i = 0; i < 3; i++)
        RS_CHECK(out.grants[i].lease_id == in.grants[i].lease_id
                 && out.grants[i].key_id == in.grants[i].key_id
                 && out.grants[i].sealed_len == in.grants[i].sealed_len
                 && !memcmp(out.grants[i].sealed, in.grants[i].sealed, in.grants[i].sealed_len));
    s_check_truncations(s_rep, buf, size);
    /* A grant without a secret or without a lease does not encode, and
     * does not decode either. */
    rs_lease_rep_t odd = { .seq = 1, .granted = 1, .grants = { { .lease_id = 3 } } };
    RS_CHECK(rs_lease_rep_encode(&odd, buf, sizeof buf) == 0);
    size = rs_lease_rep_encode(&in, buf, sizeof buf);
    rs_put_u64(buf + RS_LEASE_REP_MIN_BYTES, 0);
    RS_CHECK(s_rep(buf, size) != 0);
    rs_put_u64(buf + RS_LEASE_REP_MIN_BYTES, (uint64_t) INT64_MAX + 1); /* beyond bigint */
    RS_CHECK(s_rep(buf, size) != 0);
    size = rs_lease_rep_encode(&in, buf, sizeof buf);
    rs_put_u32(buf + RS_LEASE_REP_MIN_BYTES + 8, (uint32_t) INT32_MAX + 1); /* beyond integer */
    RS_CHECK(s_rep(buf, size) != 0);
    size = rs_lease_rep_encode(&in, buf, sizeof buf);
    rs_put_u16(buf + RS_LEASE_REP_MIN_BYTES + 12, 0);
    RS_CHECK(s_rep(buf, size) != 0);
    rs_lease_rep_t none = { .seq = 1, .release_status = RS_RELEASE_UNKNOWN };
    size = rs_lease_rep_encode(&none, buf, sizeof buf);
    RS_CHECK(size == RS_LEASE_REP_MIN_BYTES);
    RS_CHECK(rs_lease_rep_decode(&out, buf, size) == 0 && out.granted == 0);
    buf[10] = 9;
    RS_CHECK(s_rep(buf, size) != 0);
    buf[10] = 0;
    buf[16] = RS_GROUP_MAX + 1;
    RS_CHECK(s_rep(buf, size) != 0);
    /* A sealed length beyond the bound. */
    in.grants[1].sealed_len = RS_SEALED_MAX + 1;
    RS_CHECK(rs_lease_rep_encode(&in, buf, sizeof buf) == 0);
    /* The largest reply fits the bound. */
    in.granted = RS_GROUP_MAX;
    for (uint32_t i = 0; i < RS_GROUP_MAX; i++)
        in.grants[i] = (rs_lease_grant_t) { .lease_id = i + 1, .key_id = i, .sealed_len = RS_SEALED_MAX };
    RS_CHECK(rs_lease_rep_encode(&in, buf, sizeof buf) == RS_LEASE_REP_MAX_BYTES);
    RS_CHECK(rs_lease_rep_decode(&out, buf, RS_LEASE_REP_MAX_BYTES) == 0 && out.granted == RS_GROUP_MAX);
}

/* Builds a RESULTS message of `count` entries in slots of `slot` bytes,
 * entry i signed by i + 1 repeated over lengths[i] bytes. */
static uint8_t *s_results_build(uint32_t count, uint16_t slot, const size_t *lengths,
                                size_t *size)
{
    uint8_t *buf = malloc(rs_results_size(count, slot));
    *size = rs_results_begin(buf, 99, 4, count, slot);
    uint8_t sig[RS_SIG_MAX];
    for (uint32_t i = 0; i < count; i++) {
        memset(sig, (int) i + 1, sizeof sig);
        rs_results_put(buf, slot, i, (int64_t) i * 1000 - 1, sig, lengths[i]);
    }
    return buf;
}

static void test_results(void)
{
    /* Ed25519 (every signature fills its 64-byte slot), ECDSA (DER
     * signatures of 70 to 72 bytes in 72-byte slots) and RSA-4096. */
    static const struct {
        uint16_t slot;
        size_t lengths[3];
    } cases[] = { { RS_SIG_BYTES, { 64, 64, 64 } }, { 72, { 71, 72, 70 } },
                  { RS_SIG_MAX, { 512, 512, 512 } } };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        uint32_t count = 3;
        uint16_t slot = cases[c].slot;
        size_t size;
        uint8_t *buf = s_results_build(count, slot, cases[c].lengths, &size);
        RS_CHECK(size == RS_RESULTS_HEADER_BYTES + count * (RS_RESULT_ENTRY_HEAD_BYTES + slot));
        rs_results_t r;
        RS_CHECK(rs_results_decode(&r, buf, size) == 0);
        RS_CHECK(r.lease_id == 99 && r.key_id == 4 && r.count == 3 && r.sig_slot == slot);
        for (uint32_t i = 0; i < count; i++) {
            int64_t id;
            const uint8_t *sg;
            size_t len;
            rs_results_get(&r, i, &id, &sg, &len);
            RS_CHECK(id == (int64_t) i * 1000 - 1 && len == cases[c].lengths[i]
                     && sg[0] == i + 1 && sg[len - 1] == i + 1);
        }
        s_check_truncations(s_results, buf, size);
        rs_put_u32(buf + 14, 0xffffffffu); /* a count the frame cannot hold */
        RS_CHECK(s_results(buf, size) != 0);
        rs_put_u32(buf + 14, count);
        rs_put_u64(buf + 2, 0); /* lease 0 names no lease */
        RS_CHECK(s_results(buf, size) != 0);
        /* Nor does one beyond PostgreSQL's bigint: the sink's fencing
         * query failed on it, and every retry of that flush with it. */
        rs_put_u64(buf + 2, (uint64_t) INT64_MAX + 1);
        RS_CHECK(s_results(buf, size) != 0);
        rs_put_u64(buf + 2, (uint64_t) INT64_MAX);
        RS_CHECK(s_results(buf, size) == 0);
        rs_put_u64(buf + 2, 99);
        /* Nor a key id beyond PostgreSQL's integer: the sink records the
         * key of refused results, and failed every retry on that one. */
        rs_put_u32(buf + 10, (uint32_t) INT32_MAX + 1);
        RS_CHECK(s_results(buf, size) != 0);
        rs_put_u32(buf + 10, 4);
        uint8_t *entry1 = buf + RS_RESULTS_HEADER_BYTES + RS_RESULT_ENTRY_HEAD_BYTES + slot;
        rs_put_u16(entry1 + 8, 0); /* an empty signature */
        RS_CHECK(s_results(buf, size) != 0);
        rs_put_u16(entry1 + 8, (uint16_t) (slot + 1)); /* longer than its slot */
        RS_CHECK(s_results(buf, size) != 0);
        rs_put_u16(entry1 + 8, (uint16_t) cases[c].lengths[1]);
        RS_CHECK(s_results(buf, size) == 0);
        rs_put_u16(buf + 18, 0); /* no slot */
        RS_CHECK(s_results(buf, size) != 0);
        rs_put_u16(buf + 18, RS_SIG_MAX + 1); /* a slot over the largest signature */
        RS_CHECK(s_results(buf, size) != 0);
        free(buf);
    }
    /* The unused end of a slot must be zero. */
    size_t lengths[1] = { 70 }, size;
    uint8_t *buf = s_results_build(1, 72, lengths, &size);
    RS_CHECK(s_results(buf, size) == 0);
    buf[size - 1] = 1;
    RS_CHECK(s_results(buf, size) != 0);
    free(buf);
}

static void test_garbage(void)
{
    /* Random frames of every small size, with the right header bytes so
     * that each decoder's body checks are what gets exercised. */
    uint8_t buf[512];
    for (int round = 0; round < 200000; round++) {
        size_t size = (size_t) randombytes_uniform(sizeof buf);
        randombytes_buf(buf, size);
        if (size >= 2) {
            buf[0] = RS_PROTO_VERSION;
            buf[1] = (uint8_t) (1 + randombytes_uniform(4));
        }
        rs_batches_t all;
        if (rs_batch_decode(&all, buf, size) == 0) {
            for (uint32_t i = 0; i < all.count; i++) {
                rs_batch_iter_t it;
                rs_batch_iter_init(&it, &all.batches[i]);
                int64_t id;
                const uint8_t *m;
                size_t len;
                uint32_t n = 0;
                while (rs_batch_iter_next(&it, &id, &m, &len))
                    n++;
                RS_CHECK(n == all.batches[i].count);
            }
        }
        (void) s_req(buf, size);
        (void) s_rep(buf, size);
        (void) s_results(buf, size);
    }
    RS_CHECK(rs_proto_type(NULL, 0) == -1);
}

int main(void)
{
    RS_CHECK(rs_crypto_init() == 0);
    test_batch();
    test_batch_bytes();
    test_lease_req();
    test_lease_rep();
    test_results();
    test_garbage();
    printf("proto: ok\n");
    return 0;
}
