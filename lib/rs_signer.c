/* rs_signer: see rs_signer.h. */
#include "rs_signer.h"
#include "rs_crypto.h"

#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* RSASSA-PSS salt length (DESIGN.md): the SHA-256 output size. */
#define S_PSS_SALT_BYTES 32
#define S_DIGEST_BYTES crypto_hash_sha256_BYTES

static const struct {
    const char *name;
    size_t sig_min, sig_max;
    int rsa_bits; /* 0: not RSA */
} s_algs[RS_ALG_COUNT] = {
    [RS_ALG_ED25519] = { "ed25519", RS_SIG_BYTES, RS_SIG_BYTES, 0 },
    /* SEQUENCE { INTEGER r, INTEGER s }: 2 + 2 x (2 + 1 to 33) bytes. */
    [RS_ALG_ECDSA_P256] = { "ecdsa-p256", 8, 72, 0 },
    /* RSA: exactly the modulus in bytes. */
    [RS_ALG_RSA_2048] = { "rsa-2048", 256, 256, 2048 },
    [RS_ALG_RSA_3072] = { "rsa-3072", 384, 384, 3072 },
    [RS_ALG_RSA_4096] = { "rsa-4096", 512, 512, 4096 },
};

_Static_assert(RS_SEALED_SECRET_MAX == RS_SECRET_MAX + RS_SEAL_OVERHEAD_BYTES, "sealed bound");

const char *rs_alg_name(rs_alg_t alg)
{
    return (unsigned) alg < RS_ALG_COUNT ? s_algs[alg].name : NULL;
}

int rs_alg_parse(rs_alg_t *alg, const char *name)
{
    for (int i = 0; i < RS_ALG_COUNT; i++)
        if (name && strcmp(name, s_algs[i].name) == 0) {
            *alg = (rs_alg_t) i;
            return 0;
        }
    return -1;
}

size_t rs_alg_sig_max(rs_alg_t alg)
{
    return (unsigned) alg < RS_ALG_COUNT ? s_algs[alg].sig_max : 0;
}

size_t rs_alg_sig_min(rs_alg_t alg)
{
    return (unsigned) alg < RS_ALG_COUNT ? s_algs[alg].sig_min : 0;
}

/* The algorithm of an OpenSSL key, or -1 for one recsign does not use. */
static int s_pkey_alg(EVP_PKEY *pkey)
{
    if (EVP_PKEY_is_a(pkey, "EC")) {
        char group[64];
        size_t len = 0;
        if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                           &len)
            && strcmp(group, "prime256v1") == 0)
            return RS_ALG_ECDSA_P256;
        return -1;
    }
    if (EVP_PKEY_is_a(pkey, "RSA")) {
        int bits = EVP_PKEY_get_bits(pkey);
        for (int i = 0; i < RS_ALG_COUNT; i++)
            if (s_algs[i].rsa_bits && s_algs[i].rsa_bits == bits)
                return i;
    }
    return -1;
}

/* Sets ctx (initialised for sign or verify) to the algorithm's padding and
 * digest. Returns 0 or -1. */
static int s_ctx_params(EVP_PKEY_CTX *ctx, rs_alg_t alg)
{
    if (EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) <= 0)
        return -1;
    if (s_algs[alg].rsa_bits
        && (EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) <= 0
            || EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) <= 0
            || EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, S_PSS_SALT_BYTES) <= 0))
        return -1;
    return 0;
}

static EVP_PKEY *s_openssl_generate(rs_alg_t alg)
{
    if (alg == RS_ALG_ECDSA_P256)
        return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) s_algs[alg].rsa_bits);
}

int rs_key_generate(uint8_t *public_key, size_t *public_key_len, uint8_t *sealed,
                    size_t *sealed_len, rs_alg_t alg, uint32_t key_id, const uint8_t *master)
{
    if ((unsigned) alg >= RS_ALG_COUNT)
        return -1;
    uint8_t *secret = rs_secret_alloc(RS_SECRET_MAX);
    if (!secret)
        return -1;
    int rc = -1;
    size_t secret_len = 0;
    EVP_PKEY *pkey = NULL;
    PKCS8_PRIV_KEY_INFO *p8 = NULL;
    if (alg == RS_ALG_ED25519) {
        rs_keypair_new(public_key, secret);
        *public_key_len = RS_PK_BYTES;
        secret_len = RS_SK_BYTES;
    }
    else {
        pkey = s_openssl_generate(alg);
        if (!pkey || s_pkey_alg(pkey) != (int) alg)
            goto out;
        int len = i2d_PUBKEY(pkey, NULL);
        if (len <= 0 || (size_t) len > RS_PUBLIC_KEY_MAX)
            goto out;
        uint8_t *p = public_key;
        if (i2d_PUBKEY(pkey, &p) != len)
            goto out;
        *public_key_len = (size_t) len;
        /* The PKCS#8 structure's copy of the key is wiped when it is freed
         * (its free callback clears the octet string). */
        p8 = EVP_PKEY2PKCS8(pkey);
        if (!p8)
            goto out;
        len = i2d_PKCS8_PRIV_KEY_INFO(p8, NULL);
        if (len <= 0 || (size_t) len > RS_SECRET_MAX)
            goto out;
        p = secret;
        if (i2d_PKCS8_PRIV_KEY_INFO(p8, &p) != len)
            goto out;
        secret_len = (size_t) len;
    }
    rs_seal(sealed, secret, secret_len, key_id, master);
    *sealed_len = secret_len + RS_SEAL_OVERHEAD_BYTES;
    rc = 0;
out:
    PKCS8_PRIV_KEY_INFO_free(p8);
    EVP_PKEY_free(pkey);
    rs_secret_free(secret);
    return rc;
}

/* --- signing ---------------------------------------------------------- */

struct rs_signer_t {
    uint8_t *secret; /* RS_SECRET_MAX bytes of secret memory */
    size_t secret_len;
    rs_alg_t alg;
    bool open;
    EVP_PKEY *pkey;      /* OpenSSL algorithms: the decoded key */
    EVP_PKEY_CTX *ctx;   /* ... and its signing context, for the batch */
    /* PKCS#8 DER decoders into pkey, one for EC keys and one for RSA keys,
     * each made at its first use and kept: OpenSSL 3.0 takes one to four
     * milliseconds to assemble a decoder (it searches every provider's
     * decoders), as long as ECDSA takes to sign 35 to 140 records, and a
     * decoder told the key type decodes in a third of the time of one that
     * tries every type. They hold no key material. */
    OSSL_DECODER_CTX *decoder_ec, *decoder_rsa;
};

rs_signer_t *rs_signer_new(void)
{
    rs_signer_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->secret = rs_secret_alloc(RS_SECRET_MAX);
    if (!self->secret) {
        free(self);
        return NULL;
    }
    return self;
}

void rs_signer_destroy(rs_signer_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    rs_signer_close(*self_p);
    OSSL_DECODER_CTX_free((*self_p)->decoder_ec);
    OSSL_DECODER_CTX_free((*self_p)->decoder_rsa);
    rs_secret_free((*self_p)->secret);
    free(*self_p);
    *self_p = NULL;
}

void rs_signer_close(rs_signer_t *self)
{
    EVP_PKEY_CTX_free(self->ctx);
    EVP_PKEY_free(self->pkey);
    self->ctx = NULL;
    self->pkey = NULL;
    if (self->secret_len)
        sodium_memzero(self->secret, self->secret_len);
    self->secret_len = 0;
    self->open = false;
}

/* The decoder for the key type a PKCS#8 secret names ("EC" or "RSA"),
 * made at its first use; NULL for another type or on failure. The type is
 * read from the structure's AlgorithmIdentifier; the structure's copy of
 * the key is wiped as it is freed (its free callback clears it). */
static OSSL_DECODER_CTX *s_decoder(rs_signer_t *self)
{
    const unsigned char *p = self->secret;
    PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long) self->secret_len);
    const ASN1_OBJECT *oid = NULL;
    int nid = p8 && PKCS8_pkey_get0(&oid, NULL, NULL, NULL, p8) ? OBJ_obj2nid(oid) : NID_undef;
    PKCS8_PRIV_KEY_INFO_free(p8);
    OSSL_DECODER_CTX **slot = nid == NID_X9_62_id_ecPublicKey ? &self->decoder_ec
                              : nid == NID_rsaEncryption      ? &self->decoder_rsa
                                                              : NULL;
    if (slot && !*slot)
        *slot = OSSL_DECODER_CTX_new_for_pkey(&self->pkey, "DER", "PrivateKeyInfo",
                                              slot == &self->decoder_ec ? "EC" : "RSA",
                                              OSSL_KEYMGMT_SELECT_KEYPAIR, NULL, NULL);
    return slot ? *slot : NULL;
}

/* Decodes the PKCS#8 secret into an OpenSSL key and sets up its signing
 * context. Returns 0 or -1. The decoder reads the secret in place (a
 * read-only memory BIO). */
static int s_open_openssl(rs_signer_t *self)
{
    OSSL_DECODER_CTX *decoder = s_decoder(self);
    const unsigned char *p = self->secret;
    size_t left = self->secret_len;
    self->pkey = NULL;
    if (!decoder || !OSSL_DECODER_from_data(decoder, &p, &left) || !self->pkey || left != 0)
        return -1;
    int alg = s_pkey_alg(self->pkey);
    if (alg < 0)
        return -1;
    self->alg = (rs_alg_t) alg;
    self->ctx = EVP_PKEY_CTX_new_from_pkey(NULL, self->pkey, NULL);
    if (!self->ctx || EVP_PKEY_sign_init(self->ctx) <= 0 || s_ctx_params(self->ctx, self->alg))
        return -1;
    return 0;
}

int rs_signer_open(rs_signer_t *self, const uint8_t *sealed, size_t sealed_len, uint32_t key_id,
                   const uint8_t *master)
{
    rs_signer_close(self);
    if (rs_unseal(self->secret, &self->secret_len, RS_SECRET_MAX, sealed, sealed_len, key_id,
                  master))
        return -1;
    if (self->secret_len == RS_SK_BYTES)
        self->alg = RS_ALG_ED25519;
    else if (s_open_openssl(self)) {
        rs_signer_close(self);
        return -1;
    }
    self->open = true;
    return 0;
}

rs_alg_t rs_signer_alg(const rs_signer_t *self)
{
    return self->alg;
}

int rs_signer_sign(rs_signer_t *self, uint8_t *sig, size_t *sig_len, const uint8_t *message,
                   size_t message_len)
{
    if (!self->open)
        return -1;
    if (self->alg == RS_ALG_ED25519) {
        rs_sign(sig, message, message_len, self->secret);
        *sig_len = RS_SIG_BYTES;
        return 0;
    }
    /* The digest on the stack, the signature straight into sig: the
     * context was set up once for the batch. */
    uint8_t digest[S_DIGEST_BYTES];
    crypto_hash_sha256(digest, message, message_len);
    size_t len = s_algs[self->alg].sig_max;
    int ok = EVP_PKEY_sign(self->ctx, sig, &len, digest, sizeof digest) > 0;
    *sig_len = ok ? len : 0;
    return ok ? 0 : -1;
}

/* --- verification ----------------------------------------------------- */

struct rs_verifier_t {
    rs_alg_t alg;
    bool set;
    uint8_t key[RS_PUBLIC_KEY_MAX]; /* the key set, to skip parsing it again */
    size_t key_len;
    EVP_PKEY *pkey;
    EVP_PKEY_CTX *ctx;
    /* SubjectPublicKeyInfo decoders into pkey (EC, RSA), made at first use
     * and kept: assembling one costs about a millisecond (see rs_signer_t),
     * and verify meets a new key every batch. */
    OSSL_DECODER_CTX *decoder_ec, *decoder_rsa;
};

rs_verifier_t *rs_verifier_new(void)
{
    return calloc(1, sizeof(rs_verifier_t));
}

static void s_verifier_clear(rs_verifier_t *self)
{
    EVP_PKEY_CTX_free(self->ctx);
    EVP_PKEY_free(self->pkey);
    self->ctx = NULL;
    self->pkey = NULL;
    self->set = false;
}

void rs_verifier_destroy(rs_verifier_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    s_verifier_clear(*self_p);
    OSSL_DECODER_CTX_free((*self_p)->decoder_ec);
    OSSL_DECODER_CTX_free((*self_p)->decoder_rsa);
    free(*self_p);
    *self_p = NULL;
}

int rs_verifier_set_key(rs_verifier_t *self, rs_alg_t alg, const uint8_t *public_key,
                        size_t public_key_len)
{
    if (self->set && self->alg == alg && self->key_len == public_key_len
        && memcmp(self->key, public_key, public_key_len) == 0)
        return 0;
    s_verifier_clear(self);
    if ((unsigned) alg >= RS_ALG_COUNT || public_key_len > RS_PUBLIC_KEY_MAX)
        return -1;
    if (alg == RS_ALG_ED25519) {
        if (public_key_len != RS_PK_BYTES)
            return -1;
    }
    else {
        bool ec = alg == RS_ALG_ECDSA_P256;
        OSSL_DECODER_CTX **decoder = ec ? &self->decoder_ec : &self->decoder_rsa;
        if (!*decoder)
            *decoder = OSSL_DECODER_CTX_new_for_pkey(&self->pkey, "DER", "SubjectPublicKeyInfo",
                                                     ec ? "EC" : "RSA",
                                                     OSSL_KEYMGMT_SELECT_PUBLIC_KEY, NULL, NULL);
        const unsigned char *p = public_key;
        size_t left = public_key_len;
        if (!*decoder || !OSSL_DECODER_from_data(*decoder, &p, &left) || !self->pkey || left != 0
            || s_pkey_alg(self->pkey) != (int) alg)
            goto fail;
        self->ctx = EVP_PKEY_CTX_new_from_pkey(NULL, self->pkey, NULL);
        if (!self->ctx || EVP_PKEY_verify_init(self->ctx) <= 0 || s_ctx_params(self->ctx, alg))
            goto fail;
    }
    memcpy(self->key, public_key, public_key_len);
    self->key_len = public_key_len;
    self->alg = alg;
    self->set = true;
    return 0;
fail:
    s_verifier_clear(self);
    return -1;
}

int rs_verifier_check(rs_verifier_t *self, const uint8_t *sig, size_t sig_len,
                      const uint8_t *message, size_t message_len)
{
    if (!self->set || sig_len == 0 || sig_len > s_algs[self->alg].sig_max)
        return -1;
    if (self->alg == RS_ALG_ED25519)
        return sig_len == RS_SIG_BYTES ? rs_verify(sig, message, message_len, self->key) : -1;
    uint8_t digest[S_DIGEST_BYTES];
    crypto_hash_sha256(digest, message, message_len);
    return EVP_PKEY_verify(self->ctx, sig, sig_len, digest, sizeof digest) == 1 ? 0 : -1;
}
