/* test_verify: the verify engine on rows made here: good signatures pass,
 * each kind of fault is found and listed in row order on any thread count. */
#include "verify.h"

#include "rs_check.h"
#include "rs_crypto.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

enum { N = 500 };

static uint8_t s_payload[N][40];
static uint8_t s_sig[N][RS_SIG_BYTES];

int main(void)
{
    RS_CHECK(rs_crypto_init() == 0);
    uint8_t pk[RS_PK_BYTES], sk[RS_SK_BYTES];
    rs_keypair_new(pk, sk);
    admin_verify_row_t rows[N];
    uint8_t msg[RS_MESSAGE_HEADER_BYTES + sizeof s_payload[0]];
    for (int i = 0; i < N; i++) {
        size_t len = (size_t) (i % 40); /* empty payloads too */
        randombytes_buf(s_payload[i], len);
        size_t mlen = rs_message_build(msg, (int64_t) i - 10, s_payload[i], len);
        rs_sign(s_sig[i], msg, mlen, sk);
        rows[i] = (admin_verify_row_t) { .record_id = (int64_t) i - 10,
                                         .payload = s_payload[i], .payload_len = len,
                                         .signature = s_sig[i], .signature_len = RS_SIG_BYTES,
                                         .public_key = pk, .public_key_len = RS_PK_BYTES };
    }
    for (int threads = 1; threads <= 8; threads *= 2) {
        admin_verify_tally_t tally;
        memset(&tally, 0, sizeof tally);
        RS_CHECK(admin_verify_rows(rows, N, threads, &tally) == 0);
        RS_CHECK(tally.checked == N && tally.failed == 0 && tally.listed == 0);
    }

    /* Plant one fault of each kind, in row order. */
    static uint8_t bad_sig[RS_SIG_BYTES];
    memcpy(bad_sig, s_sig[100], RS_SIG_BYTES);
    bad_sig[0] ^= 1;
    rows[100].signature = bad_sig;
    rows[200].payload = NULL;
    rows[300].public_key = NULL;
    rows[350].signature_len = 12;
    rows[400].public_key_len = 31;
    rows[450].record_id += 1; /* signed as another record */
    for (int threads = 1; threads <= 16; threads *= 2) {
        admin_verify_tally_t tally;
        memset(&tally, 0, sizeof tally);
        RS_CHECK(admin_verify_rows(rows, N, threads, &tally) == 0);
        RS_CHECK(tally.checked == N && tally.failed == 6 && tally.listed == 6);
        RS_CHECK(tally.ids[0] == 90 && tally.faults[0] == ADMIN_VERIFY_BAD_SIGNATURE);
        RS_CHECK(tally.ids[1] == 190 && tally.faults[1] == ADMIN_VERIFY_NO_RECORD);
        RS_CHECK(tally.ids[2] == 290 && tally.faults[2] == ADMIN_VERIFY_NO_KEY);
        RS_CHECK(tally.ids[3] == 340 && tally.faults[3] == ADMIN_VERIFY_SIGNATURE_LENGTH);
        RS_CHECK(tally.ids[4] == 390 && tally.faults[4] == ADMIN_VERIFY_KEY_LENGTH);
        RS_CHECK(tally.ids[5] == 441 && tally.faults[5] == ADMIN_VERIFY_BAD_SIGNATURE);
        char text[256];
        admin_verify_describe(&tally, 2, text, sizeof text);
        RS_CHECK(strcmp(text, "90 (bad signature), 190 (no such record) and 4 more") == 0);
    }

    /* More failures than are listed: the count goes on, the list stops. */
    for (int i = 0; i < N; i++)
        rows[i].signature_len = 0;
    admin_verify_tally_t tally;
    memset(&tally, 0, sizeof tally);
    RS_CHECK(admin_verify_rows(rows, N, 3, &tally) == 0);
    RS_CHECK(tally.failed == N && tally.listed == ADMIN_VERIFY_LISTED);
    for (size_t i = 1; i < tally.listed; i++)
        RS_CHECK(tally.ids[i] > tally.ids[i - 1]);
    memset(&tally, 0, sizeof tally);
    RS_CHECK(admin_verify_rows(rows, 0, 4, &tally) == 0 && tally.checked == 0);
    sodium_memzero(sk, sizeof sk);
    return 0;
}
