/* test_crypto: the signed message's layout, sign/verify, and sealing: a
 * sealed key opens only with its master key and its own key id; for every
 * algorithm, a generated key signs what its public key verifies, with
 * OpenSSL's own one-shot verification agreeing, and refuses a wrong master
 * key, a moved or tampered secret and a tampered signature. */
#include "rs_check.h"
#include "rs_crypto.h"
#include "rs_signer.h"

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_message(void)
{
    uint8_t msg[RS_MESSAGE_HEADER_BYTES + 3];
    size_t len = rs_message_build(msg, 0x0102030405060708LL, (const uint8_t *) "abc", 3);
    static const uint8_t expect[] = { 'r', 'e', 'c', 's', 'i', 'g', 'n', '/', 'v', '1',
                                      1, 2, 3, 4, 5, 6, 7, 8, 'a', 'b', 'c' };
    RS_CHECK(len == sizeof expect && memcmp(msg, expect, len) == 0);
    /* Negative ids are two's complement. */
    rs_message_build(msg, -1, NULL, 0);
    for (int i = 10; i < 18; i++)
        RS_CHECK(msg[i] == 0xff);
}

static void test_sign_and_seal(void)
{
    uint8_t pk[RS_PK_BYTES], sk[RS_SK_BYTES], sig[RS_SIG_BYTES];
    rs_keypair_new(pk, sk);
    uint8_t msg[RS_MESSAGE_HEADER_BYTES + 5];
    size_t len = rs_message_build(msg, 42, (const uint8_t *) "hello", 5);
    rs_sign(sig, msg, len, sk);
    RS_CHECK(rs_verify(sig, msg, len, pk) == 0);
    msg[len - 1] ^= 1;
    RS_CHECK(rs_verify(sig, msg, len, pk) != 0);

    uint8_t master[RS_MASTER_KEY_BYTES], other[RS_MASTER_KEY_BYTES];
    randombytes_buf(master, sizeof master);
    randombytes_buf(other, sizeof other);
    uint8_t sealed[RS_SEALED_BYTES], opened[RS_SK_BYTES];
    size_t opened_len = 0;
    rs_seal(sealed, sk, RS_SK_BYTES, 7, master);
    RS_CHECK(rs_unseal(opened, &opened_len, sizeof opened, sealed, sizeof sealed, 7, master) == 0);
    RS_CHECK(opened_len == RS_SK_BYTES && memcmp(opened, sk, RS_SK_BYTES) == 0);
    /* wrong master key; moved to key 8; cut short; no room for it */
    RS_CHECK(rs_unseal(opened, &opened_len, sizeof opened, sealed, sizeof sealed, 7, other) != 0);
    RS_CHECK(rs_unseal(opened, &opened_len, sizeof opened, sealed, sizeof sealed, 8, master) != 0);
    RS_CHECK(rs_unseal(opened, &opened_len, sizeof opened, sealed, sizeof sealed - 1, 7, master)
             != 0);
    RS_CHECK(rs_unseal(opened, &opened_len, sizeof opened - 1, sealed, sizeof sealed, 7, master)
             != 0);
    RS_CHECK(rs_unseal(opened, &opened_len, sizeof opened, sealed, RS_SEAL_OVERHEAD_BYTES, 7,
                       master) != 0);
    sealed[30] ^= 1;
    RS_CHECK(rs_unseal(opened, &opened_len, sizeof opened, sealed, sizeof sealed, 7, master)
             != 0); /* tampered */
    for (size_t i = 0; i < RS_SK_BYTES; i++)
        RS_CHECK(opened[i] == 0); /* a failed open leaves no key material */
}

/* OpenSSL's own verification of sig over message under the DER public key,
 * with the options the README's one-liners give the CLI. */
static int s_openssl_verify(rs_alg_t alg, const uint8_t *pk, size_t pk_len, const uint8_t *sig,
                            size_t sig_len, const uint8_t *message, size_t message_len)
{
    const unsigned char *p = pk;
    EVP_PKEY *pkey = d2i_PUBKEY(NULL, &p, (long) pk_len);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    int ok = pkey && md && EVP_DigestVerifyInit(md, &pctx, EVP_sha256(), NULL, pkey) == 1;
    if (ok && alg != RS_ALG_ECDSA_P256)
        ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0
             && EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32) > 0;
    ok = ok && EVP_DigestVerify(md, sig, sig_len, message, message_len) == 1;
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pkey);
    return ok ? 0 : -1;
}

static void test_algorithms(void)
{
    uint8_t master[RS_MASTER_KEY_BYTES], other[RS_MASTER_KEY_BYTES];
    randombytes_buf(master, sizeof master);
    randombytes_buf(other, sizeof other);
    uint8_t msg[RS_MESSAGE_HEADER_BYTES + 5];
    size_t len = rs_message_build(msg, 42, (const uint8_t *) "hello", 5);
    rs_signer_t *signer = rs_signer_new();
    rs_verifier_t *verifier = rs_verifier_new();
    RS_CHECK(signer && verifier);
    static const size_t public_lengths[RS_ALG_COUNT] = { 32, 91, 294, 422, 550 };
    for (int a = 0; a < RS_ALG_COUNT; a++) {
        rs_alg_t alg = (rs_alg_t) a, parsed;
        RS_CHECK(rs_alg_parse(&parsed, rs_alg_name(alg)) == 0 && parsed == alg);
        uint8_t pk[RS_PUBLIC_KEY_MAX], sealed[RS_SEALED_SECRET_MAX];
        size_t pk_len = 0, sealed_len = 0;
        RS_CHECK(rs_key_generate(pk, &pk_len, sealed, &sealed_len, alg, 11, master) == 0);
        RS_CHECK(pk_len == public_lengths[a]);
        RS_CHECK(sealed_len > RS_SEAL_OVERHEAD_BYTES && sealed_len <= RS_SEALED_SECRET_MAX);
        /* The algorithm comes out of the sealed secret. */
        RS_CHECK(rs_signer_open(signer, sealed, sealed_len, 11, master) == 0);
        RS_CHECK(rs_signer_alg(signer) == alg);
        uint8_t sig[RS_SIG_MAX], sig2[RS_SIG_MAX];
        size_t sig_len = 0, sig2_len = 0;
        RS_CHECK(rs_signer_sign(signer, sig, &sig_len, msg, len) == 0);
        RS_CHECK(sig_len >= rs_alg_sig_min(alg) && sig_len <= rs_alg_sig_max(alg));
        if (alg != RS_ALG_ECDSA_P256)
            RS_CHECK(sig_len == rs_alg_sig_max(alg));
        /* A second record under the same context. */
        RS_CHECK(rs_signer_sign(signer, sig2, &sig2_len, msg, len - 1) == 0);
        rs_signer_close(signer);
        RS_CHECK(rs_signer_sign(signer, sig2, &sig2_len, msg, len) != 0); /* closed */
        RS_CHECK(rs_verifier_set_key(verifier, alg, pk, pk_len) == 0);
        RS_CHECK(rs_verifier_check(verifier, sig, sig_len, msg, len) == 0);
        if (alg != RS_ALG_ED25519)
            RS_CHECK(s_openssl_verify(alg, pk, pk_len, sig, sig_len, msg, len) == 0);
        /* The second signature is of the shorter message only. */
        RS_CHECK(rs_verifier_check(verifier, sig, sig_len, msg, len - 1) != 0);
        RS_CHECK(rs_verifier_check(verifier, sig2, sig2_len, msg, len) != 0);
        /* Tampered signature, tampered message. */
        sig[sig_len / 2] ^= 0x10;
        RS_CHECK(rs_verifier_check(verifier, sig, sig_len, msg, len) != 0);
        sig[sig_len / 2] ^= 0x10;
        msg[len - 1] ^= 1;
        RS_CHECK(rs_verifier_check(verifier, sig, sig_len, msg, len) != 0);
        msg[len - 1] ^= 1;
        RS_CHECK(rs_verifier_check(verifier, sig, sig_len, msg, len) == 0);
        RS_CHECK(rs_verifier_check(verifier, sig, 0, msg, len) != 0);
        /* A key of another algorithm (or length) is refused as this one's. */
        rs_alg_t wrong = (rs_alg_t) ((a + 1) % RS_ALG_COUNT);
        RS_CHECK(rs_verifier_set_key(verifier, wrong, pk, pk_len) != 0);
        RS_CHECK(rs_verifier_set_key(verifier, alg, pk, pk_len - 1) != 0);
        /* Wrong master key, another key id, tampered or cut secret. */
        RS_CHECK(rs_signer_open(signer, sealed, sealed_len, 11, other) != 0);
        RS_CHECK(rs_signer_open(signer, sealed, sealed_len, 12, master) != 0);
        RS_CHECK(rs_signer_open(signer, sealed, sealed_len - 1, 11, master) != 0);
        sealed[sealed_len / 2] ^= 1;
        RS_CHECK(rs_signer_open(signer, sealed, sealed_len, 11, master) != 0);
        RS_CHECK(rs_signer_sign(signer, sig, &sig_len, msg, len) != 0); /* nothing open */
    }
    /* A sealed secret that opens but is no key: refused. */
    uint8_t junk[100], sealed[100 + RS_SEAL_OVERHEAD_BYTES];
    memset(junk, 0x30, sizeof junk);
    rs_seal(sealed, junk, sizeof junk, 3, master);
    RS_CHECK(rs_signer_open(signer, sealed, sizeof sealed, 3, master) != 0);
    rs_alg_t alg;
    RS_CHECK(rs_alg_parse(&alg, "rsa-1024") != 0 && rs_alg_parse(&alg, "ED25519") != 0
             && rs_alg_parse(&alg, "") != 0);
    rs_signer_destroy(&signer);
    rs_verifier_destroy(&verifier);
    RS_CHECK(signer == NULL && verifier == NULL);
}

static void test_master_key_file(void)
{
    char dir[] = "/tmp/rs_test_crypto.XXXXXX";
    RS_CHECK(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/master.key", dir);
    char err[256];
    RS_CHECK(rs_master_key_load(path, err, sizeof err) == NULL); /* missing */
    RS_CHECK(strstr(err, "cannot open"));
    RS_CHECK(rs_master_key_create(path, err, sizeof err) == 1);
    RS_CHECK(rs_master_key_create(path, err, sizeof err) == 0); /* kept, not replaced */
    struct stat st;
    RS_CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    uint8_t *key = rs_master_key_load(path, err, sizeof err);
    RS_CHECK(key);
    rs_secret_free(key);
    RS_CHECK(chmod(path, 0644) == 0);
    RS_CHECK(rs_master_key_load(path, err, sizeof err) == NULL); /* readable by others */
    RS_CHECK(strstr(err, "0600"));
    RS_CHECK(chmod(path, 0600) == 0);
    FILE *f = fopen(path, "w");
    fputs("not hex at all\n", f);
    fclose(f);
    RS_CHECK(rs_master_key_load(path, err, sizeof err) == NULL);
    RS_CHECK(strstr(err, "malformed"));
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    RS_CHECK(rs_crypto_init() == 0);
    test_message();
    test_sign_and_seal();
    test_algorithms();
    test_master_key_file();
    printf("crypto: ok\n");
    return 0;
}
