/* test_verify: the verify engine on rows made here: good signatures pass,
 * each kind of fault is found and listed in row order on any thread count;
 * a signature whose length cannot be its algorithm's is a length fault,
 * named with the length got and expected, for every algorithm. */
#include "verify.h"

#include "rs_check.h"
#include "rs_crypto.h"
#include "rs_signer.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { N = 500 };

static uint8_t s_payload[N][40];
static uint8_t s_sig[N][RS_SIG_BYTES];

/* One row per case of alg's key: the signature as made, one byte short,
 * one byte long, of the smallest and largest wrong lengths, and of the
 * right length but altered; checks each row's fault and how it is told. */
static void s_check_lengths(rs_alg_t alg, size_t min, size_t max)
{
    uint8_t master[RS_MASTER_KEY_BYTES], pk[RS_PUBLIC_KEY_MAX], sealed[RS_SEALED_SECRET_MAX];
    randombytes_buf(master, sizeof master);
    size_t pk_len = 0, sealed_len = 0;
    RS_CHECK(rs_key_generate(pk, &pk_len, sealed, &sealed_len, alg, 3, master) == 0);
    rs_signer_t *signer = rs_signer_new();
    RS_CHECK(signer && rs_signer_open(signer, sealed, sealed_len, 3, master) == 0);
    static const uint8_t payload[] = "payload";
    uint8_t msg[RS_MESSAGE_HEADER_BYTES + sizeof payload];
    size_t msg_len = rs_message_build(msg, 7, payload, sizeof payload);
    static uint8_t sig[RS_SIG_MAX + 1], bad[RS_SIG_MAX];
    size_t sig_len = 0;
    RS_CHECK(rs_signer_sign(signer, sig, &sig_len, msg, msg_len) == 0);
    rs_signer_destroy(&signer);
    memcpy(bad, sig, sig_len);
    bad[sig_len / 2] ^= 0x10;
    /* The lengths: as made, wrong ones, the right one altered. */
    size_t lens[] = { sig_len, min - 1, max + 1, 0, sig_len };
    admin_verify_row_t rows[5];
    for (size_t i = 0; i < 5; i++)
        rows[i] = (admin_verify_row_t) { .record_id = 7, .payload = payload,
                                         .payload_len = sizeof payload,
                                         .signature = i == 4 ? bad : sig,
                                         .signature_len = lens[i], .public_key = pk,
                                         .public_key_len = pk_len,
                                         .algorithm = rs_alg_name(alg) };
    admin_verify_tally_t tally;
    memset(&tally, 0, sizeof tally);
    RS_CHECK(admin_verify_rows(rows, 5, 2, &tally) == 0);
    RS_CHECK(tally.checked == 5 && tally.failed == 4 && tally.listed == 4);
    for (size_t i = 0; i < 3; i++)
        RS_CHECK(tally.faults[i] == ADMIN_VERIFY_SIGNATURE_LENGTH);
    RS_CHECK(tally.faults[3] == ADMIN_VERIFY_BAD_SIGNATURE);
    char text[512], want[512], expected[32];
    if (min == max)
        snprintf(expected, sizeof expected, "%zu", min);
    else
        snprintf(expected, sizeof expected, "%zu..%zu", min, max);
    admin_verify_describe(&tally, 4, text, sizeof text);
    snprintf(want, sizeof want,
             "7 (signature length wrong for %s: got %zu bytes, expected %s), "
             "7 (signature length wrong for %s: got %zu bytes, expected %s), "
             "7 (signature length wrong for %s: got 0 bytes, expected %s), 7 (bad signature)",
             rs_alg_name(alg), min - 1, expected, rs_alg_name(alg), max + 1, expected,
             rs_alg_name(alg), expected);
    if (strcmp(text, want) != 0)
        fprintf(stderr, "got:      %s\nexpected: %s\n", text, want);
    RS_CHECK(strcmp(text, want) == 0);
}

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

    /* RSA: exactly the modulus in bytes; Ed25519: 64; ECDSA P-256 (DER): 8..72. */
    s_check_lengths(RS_ALG_ED25519, 64, 64);
    s_check_lengths(RS_ALG_ECDSA_P256, 8, 72);
    s_check_lengths(RS_ALG_RSA_2048, 256, 256);
    s_check_lengths(RS_ALG_RSA_3072, 384, 384);
    s_check_lengths(RS_ALG_RSA_4096, 512, 512);
    sodium_memzero(sk, sizeof sk);
    return 0;
}
