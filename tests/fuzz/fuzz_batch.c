/* fuzz_batch: libFuzzer target for BATCH frames. A frame that decodes must
 * iterate to exactly `count` records that lie inside the frame, each a
 * well-formed signed message, and rebuilding it with rs_batch_writer from
 * the iterated records must give back the same bytes. */
#include "fuzz_common.h"
#include "rs_bytes.h"
#include "rs_crypto.h"

#include <string.h>

static rs_batch_writer_t *s_writer;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int type = fuzz_check_type(data, size);

    rs_batch_t batch;
    memset(&batch, 0xa5, sizeof batch);
    if (rs_batch_decode(&batch, data, size) != 0)
        return 0;

    FUZZ_CHECK(type == RS_MSG_BATCH);
    FUZZ_CHECK(size >= RS_BATCH_HEADER_BYTES);
    FUZZ_CHECK(batch.count >= 1 && batch.count <= RS_BATCH_MAX);
    FUZZ_CHECK(batch.count == rs_get_u32(data + 10));
    FUZZ_CHECK(batch.run_id == rs_get_u64(data + 2));
    FUZZ_CHECK(batch.records == data + RS_BATCH_HEADER_BYTES);
    FUZZ_CHECK(batch.end == data + size);

    /* One writer for the whole run, as the ventilator reuses its own. */
    if (!s_writer) {
        s_writer = rs_batch_writer_new();
        FUZZ_CHECK(s_writer);
    }
    rs_batch_writer_reset(s_writer, batch.run_id);

    rs_batch_iter_t it;
    rs_batch_iter_init(&it, &batch);
    uint32_t seen = 0;
    const uint8_t *expect = batch.records;
    int64_t record_id;
    const uint8_t *message;
    size_t message_len;
    while (rs_batch_iter_next(&it, &record_id, &message, &message_len)) {
        seen++;
        FUZZ_CHECK(seen <= batch.count);
        /* Records are contiguous: length prefix, then the message. */
        FUZZ_CHECK(message == expect + 4);
        FUZZ_CHECK(message_len >= RS_MESSAGE_HEADER_BYTES);
        FUZZ_CHECK(message_len <= RS_MESSAGE_HEADER_BYTES + RS_PAYLOAD_MAX);
        FUZZ_CHECK(message_len <= (size_t) (batch.end - message));
        FUZZ_CHECK(memcmp(message, RS_MESSAGE_DOMAIN, RS_MESSAGE_DOMAIN_BYTES) == 0);
        FUZZ_CHECK((uint64_t) record_id == rs_get_u64(message + RS_MESSAGE_DOMAIN_BYTES));
        expect = message + message_len;
        FUZZ_CHECK(rs_batch_writer_add(s_writer, record_id, message + RS_MESSAGE_HEADER_BYTES,
                                       message_len - RS_MESSAGE_HEADER_BYTES)
                   == 0);
    }
    FUZZ_CHECK(seen == batch.count);
    FUZZ_CHECK(expect == batch.end);
    /* The iterator stays finished. */
    FUZZ_CHECK(!rs_batch_iter_next(&it, &record_id, &message, &message_len));

    FUZZ_CHECK(rs_batch_writer_count(s_writer) == batch.count);
    size_t rebuilt_size;
    const uint8_t *rebuilt = rs_batch_writer_data(s_writer, &rebuilt_size);
    FUZZ_CHECK(rebuilt_size == size);
    FUZZ_CHECK(memcmp(rebuilt, data, size) == 0);

    /* The rebuilt frame decodes to the same batch. */
    rs_batch_t again;
    FUZZ_CHECK(rs_batch_decode(&again, rebuilt, rebuilt_size) == 0);
    FUZZ_CHECK(again.run_id == batch.run_id && again.count == batch.count);
    return 0;
}
