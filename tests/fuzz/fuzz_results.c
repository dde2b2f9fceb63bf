/* fuzz_results: libFuzzer target for RESULTS frames. A frame that decodes
 * must hold exactly `count` entries in slots of `sig_slot` (1..RS_SIG_MAX)
 * bytes inside the frame, every entry readable with rs_results_get with a
 * signature of 1..sig_slot bytes inside its own slot, and rebuilding it with
 * rs_results_begin/put from the read entries must give back the same bytes
 * (the unused end of every slot is zero). */
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
    FUZZ_CHECK(msg.sig_slot >= 1 && msg.sig_slot <= RS_SIG_MAX);
    FUZZ_CHECK(msg.lease_id != 0);
    FUZZ_CHECK(size == rs_results_size(msg.count, msg.sig_slot));
    FUZZ_CHECK(msg.entries == data + RS_RESULTS_HEADER_BYTES);

    uint8_t *rebuilt = malloc(size);
    FUZZ_CHECK(rebuilt);
    FUZZ_CHECK(rs_results_begin(rebuilt, msg.lease_id, msg.key_id, msg.count, msg.sig_slot)
               == size);
    size_t entry_bytes = RS_RESULT_ENTRY_HEAD_BYTES + msg.sig_slot;
    for (uint32_t i = 0; i < msg.count; i++) {
        int64_t record_id;
        const uint8_t *signature;
        size_t sig_len;
        rs_results_get(&msg, i, &record_id, &signature, &sig_len);
        const uint8_t *entry = msg.entries + (size_t) i * entry_bytes;
        FUZZ_CHECK(signature == entry + RS_RESULT_ENTRY_HEAD_BYTES);
        FUZZ_CHECK(sig_len >= 1 && sig_len <= msg.sig_slot);
        FUZZ_CHECK(sig_len == rs_get_u16(entry + 8));
        FUZZ_CHECK(signature + msg.sig_slot <= data + size);
        FUZZ_CHECK((uint64_t) record_id == rs_get_u64(entry));
        rs_results_put(rebuilt, msg.sig_slot, i, record_id, signature, sig_len);
    }
    FUZZ_CHECK(memcmp(rebuilt, data, size) == 0);
    free(rebuilt);
    return 0;
}
