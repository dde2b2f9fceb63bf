/* fuzz_results: libFuzzer target for RESULTS frames. A frame that decodes
 * must hold exactly `count` entries inside the frame, every entry readable
 * with rs_results_get, and rebuilding it with rs_results_begin/put from the
 * read entries must give back the same bytes. */
#include "fuzz_common.h"
#include "rs_bytes.h"
#include "rs_crypto.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int type = fuzz_check_type(data, size);
    rs_results_t msg;
    memset(&msg, 0xa5, sizeof msg);
    if (rs_results_decode(&msg, data, size) != 0)
        return 0;

    FUZZ_CHECK(type == RS_MSG_RESULTS);
    FUZZ_CHECK(msg.count >= 1 && msg.count <= RS_BATCH_MAX);
    FUZZ_CHECK(msg.lease_id != 0);
    FUZZ_CHECK(size == rs_results_size(msg.count));
    FUZZ_CHECK(msg.entries == data + RS_RESULTS_HEADER_BYTES);

    uint8_t *rebuilt = malloc(size);
    FUZZ_CHECK(rebuilt);
    FUZZ_CHECK(rs_results_begin(rebuilt, msg.lease_id, msg.key_id, msg.count) == size);
    for (uint32_t i = 0; i < msg.count; i++) {
        int64_t record_id;
        const uint8_t *signature;
        rs_results_get(&msg, i, &record_id, &signature);
        const uint8_t *entry = msg.entries + (size_t) i * RS_RESULT_ENTRY_BYTES;
        FUZZ_CHECK(signature == entry + 8);
        FUZZ_CHECK(signature + RS_SIG_BYTES <= data + size);
        FUZZ_CHECK((uint64_t) record_id == rs_get_u64(entry));
        rs_results_put(rebuilt, i, record_id, signature);
    }
    FUZZ_CHECK(memcmp(rebuilt, data, size) == 0);
    free(rebuilt);
    return 0;
}
