/* fuzz_batch: libFuzzer target for BATCH frames. A frame that decodes must
 * hold 1..RS_GROUP_MAX batches laid end to end, each of the frame's run and
 * of 1..RS_BATCH_MAX records; every batch must iterate to exactly `count`
 * records that lie inside its own bounds, each a well-formed signed message;
 * and rebuilding the frame with rs_batch_writer from the iterated records
 * (adding a batch's records, then closing it) must give back the same bytes. */
#include "fuzz_common.h"
#include "rs_bytes.h"
#include "rs_crypto.h"

#include <string.h>

static rs_batch_writer_t *s_writer;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int type = fuzz_check_type(data, size);

    rs_batches_t all;
    memset(&all, 0xa5, sizeof all);
    if (rs_batch_decode(&all, data, size) != 0)
        return 0;

    FUZZ_CHECK(type == RS_MSG_BATCH);
    FUZZ_CHECK(size >= RS_BATCH_HEADER_BYTES && size <= RS_BATCH_BYTES_MAX);
    FUZZ_CHECK(all.count >= 1 && all.count <= RS_GROUP_MAX);
    FUZZ_CHECK(all.count == rs_get_u16(data + 10));
    const uint64_t run_id = rs_get_u64(data + 2);

    /* One writer for the whole run, as the ventilator reuses its own. */
    if (!s_writer) {
        s_writer = rs_batch_writer_new();
        FUZZ_CHECK(s_writer);
    }
    rs_batch_writer_reset(s_writer, run_id);
    FUZZ_CHECK(rs_batch_writer_batches(s_writer) == 0);
    FUZZ_CHECK(rs_batch_writer_count(s_writer) == 0);

    /* Batches follow one another: each one's count field sits right after
     * the previous one's last record. */
    const uint8_t *count_at = data + RS_BATCH_HEADER_BYTES;
    for (uint32_t b = 0; b < all.count; b++) {
        const rs_batch_t *batch = &all.batches[b];
        FUZZ_CHECK(batch->run_id == run_id);
        FUZZ_CHECK(batch->count >= 1 && batch->count <= RS_BATCH_MAX);
        FUZZ_CHECK(count_at + 4 <= data + size);
        FUZZ_CHECK(batch->count == rs_get_u32(count_at));
        FUZZ_CHECK(batch->records == count_at + 4);
        FUZZ_CHECK(batch->records < batch->end && batch->end <= data + size);

        rs_batch_iter_t it;
        rs_batch_iter_init(&it, batch);
        uint32_t seen = 0;
        const uint8_t *expect = batch->records;
        int64_t record_id;
        const uint8_t *message;
        size_t message_len;
        while (rs_batch_iter_next(&it, &record_id, &message, &message_len)) {
            seen++;
            FUZZ_CHECK(seen <= batch->count);
            /* Records are contiguous: length prefix, then the message, all
             * inside this batch. */
            FUZZ_CHECK(message == expect + 4);
            FUZZ_CHECK(message_len == rs_get_u32(expect));
            FUZZ_CHECK(message_len >= RS_MESSAGE_HEADER_BYTES);
            FUZZ_CHECK(message_len <= RS_MESSAGE_HEADER_BYTES + RS_PAYLOAD_MAX);
            FUZZ_CHECK(message < batch->end);
            FUZZ_CHECK(message_len <= (size_t) (batch->end - message));
            FUZZ_CHECK(memcmp(message, RS_MESSAGE_DOMAIN, RS_MESSAGE_DOMAIN_BYTES) == 0);
            FUZZ_CHECK((uint64_t) record_id == rs_get_u64(message + RS_MESSAGE_DOMAIN_BYTES));
            expect = message + message_len;
            FUZZ_CHECK(rs_batch_writer_add(s_writer, record_id, message + RS_MESSAGE_HEADER_BYTES,
                                           message_len - RS_MESSAGE_HEADER_BYTES)
                       == 0);
        }
        FUZZ_CHECK(seen == batch->count);
        FUZZ_CHECK(expect == batch->end);
        /* The iterator stays finished. */
        FUZZ_CHECK(!rs_batch_iter_next(&it, &record_id, &message, &message_len));

        FUZZ_CHECK(rs_batch_writer_count(s_writer) == batch->count);
        FUZZ_CHECK(rs_batch_writer_close(s_writer) == (int) (b + 1));
        FUZZ_CHECK(rs_batch_writer_batches(s_writer) == b + 1);
        FUZZ_CHECK(rs_batch_writer_count(s_writer) == 0);
        count_at = batch->end;
    }
    /* The last batch ends the frame. */
    FUZZ_CHECK(count_at == data + size);
    /* Closing an empty batch closes nothing. */
    FUZZ_CHECK(rs_batch_writer_close(s_writer) == (int) all.count);
    FUZZ_CHECK(rs_batch_writer_batches(s_writer) == all.count);

    size_t rebuilt_size;
    const uint8_t *rebuilt = rs_batch_writer_data(s_writer, &rebuilt_size);
    FUZZ_CHECK(rebuilt_size == size);
    FUZZ_CHECK(memcmp(rebuilt, data, size) == 0);

    /* The rebuilt frame decodes to the same batches, at the same offsets. */
    rs_batches_t again;
    memset(&again, 0x5a, sizeof again);
    FUZZ_CHECK(rs_batch_decode(&again, rebuilt, rebuilt_size) == 0);
    FUZZ_CHECK(again.count == all.count);
    for (uint32_t b = 0; b < all.count; b++) {
        FUZZ_CHECK(again.batches[b].run_id == run_id);
        FUZZ_CHECK(again.batches[b].count == all.batches[b].count);
        FUZZ_CHECK(again.batches[b].records - rebuilt == all.batches[b].records - data);
        FUZZ_CHECK(again.batches[b].end - rebuilt == all.batches[b].end - data);
    }

    /* A full message takes no further batch: the writer refuses to close
     * one more, and keeps the batches it has. */
    if (all.count == RS_GROUP_MAX) {
        FUZZ_CHECK(rs_batch_writer_add(s_writer, 1, NULL, 0) == 0);
        FUZZ_CHECK(rs_batch_writer_close(s_writer) == -1);
        FUZZ_CHECK(rs_batch_writer_batches(s_writer) == RS_GROUP_MAX);
        FUZZ_CHECK(rs_batch_writer_count(s_writer) == 1);
    }
    return 0;
}
