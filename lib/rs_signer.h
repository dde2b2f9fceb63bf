/* rs_signer: keys of every algorithm recsign signs with (DESIGN.md,
 * "Algorithms"): their names, generation (sealed at once), signing a batch
 * with one unsealed key and verifying a stored signature. Ed25519 runs on
 * libsodium, ECDSA P-256 and RSA-PSS on OpenSSL 3's EVP interface.
 *
 * Encodings: the public key is 32 raw bytes (Ed25519) or a DER
 * SubjectPublicKeyInfo; the secret a sealed 64-byte libsodium key (Ed25519)
 * or a sealed PKCS#8 DER private key; the signature 64 bytes (Ed25519), a
 * DER ECDSA-Sig-Value over SHA-256 (ECDSA) or RSASSA-PSS with SHA-256,
 * MGF1-SHA-256 and a 32-byte salt (RSA). The signed message is the same for
 * all (rs_message_build).
 *
 * A sealed secret names its own algorithm: 64 bytes is an Ed25519 key,
 * anything else a PKCS#8 key whose type and size are the algorithm. The
 * seal binds it to its key id, so no party between the admin and a worker
 * (a keycoord) can change the algorithm a worker signs with. */
#ifndef RS_SIGNER_H
#define RS_SIGNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    RS_ALG_ED25519 = 0,
    RS_ALG_ECDSA_P256 = 1,
    RS_ALG_RSA_2048 = 2,
    RS_ALG_RSA_3072 = 3,
    RS_ALG_RSA_4096 = 4,
} rs_alg_t;
#define RS_ALG_COUNT 5
/* The names, as keys.algorithm holds them and --algorithm takes them. */
#define RS_ALG_NAMES "ed25519, ecdsa-p256, rsa-2048, rsa-3072, rsa-4096"

/* Largest signature of any algorithm: RSA-4096's 512 bytes. */
#define RS_SIG_MAX 512u
/* Largest DER SubjectPublicKeyInfo: RSA-4096's is 550 bytes. */
#define RS_PUBLIC_KEY_MAX 640u
/* Largest PKCS#8 DER private key: OpenSSL writes RSA-4096 keys in about
 * 2,375 bytes (the CRT numbers vary by a byte or two). */
#define RS_SECRET_MAX 2560u
/* Largest sealed secret (see rs_seal). */
#define RS_SEALED_SECRET_MAX (RS_SECRET_MAX + 40u)

/* "ed25519", ...; NULL for a value out of range. */
const char *rs_alg_name(rs_alg_t alg);
/* Parses an algorithm name (exact, lower case). Returns -1 for anything
 * else. */
int rs_alg_parse(rs_alg_t *alg, const char *name) __attribute__((warn_unused_result));
/* Largest signature of alg in bytes: 64, 72 (ECDSA DER), 256, 384, 512. */
size_t rs_alg_sig_max(rs_alg_t alg);
/* Smallest: the same but for ECDSA, whose DER signature is 8 bytes at
 * least (r and s of one byte each). */
size_t rs_alg_sig_min(rs_alg_t alg);

/* Makes a key of alg for key id key_id: its public key goes to public_key
 * (room for RS_PUBLIC_KEY_MAX) with its length in *public_key_len, and its
 * secret, sealed under master, to sealed (room for RS_SEALED_SECRET_MAX)
 * with its length in *sealed_len. The unsealed secret only ever lives in
 * secret memory and is wiped before returning. Returns 0, or -1 when
 * OpenSSL fails or memory runs out. */
int rs_key_generate(uint8_t *public_key, size_t *public_key_len, uint8_t *sealed,
                    size_t *sealed_len, rs_alg_t alg, uint32_t key_id, const uint8_t *master)
    __attribute__((warn_unused_result));

/* --- signing ---------------------------------------------------------- */

/* One key opened for one batch: the unsealed secret in secret memory and,
 * for OpenSSL's algorithms, one EVP_PKEY_CTX set up for the whole batch, so
 * signing a record allocates and sets up nothing of ours. */
typedef struct rs_signer_t rs_signer_t;

/* Returns NULL when secret memory cannot be had. */
rs_signer_t *rs_signer_new(void);
/* Closes any open key and frees (wipes) the secret memory. */
void rs_signer_destroy(rs_signer_t **self_p);

/* Unseals key key_id's secret under master and prepares to sign with it;
 * closes the key opened before. Returns 0, or -1 when it does not open
 * (wrong master key, tampered, moved to another key id) or is no key of a
 * known algorithm; then nothing is open. */
int rs_signer_open(rs_signer_t *self, const uint8_t *sealed, size_t sealed_len, uint32_t key_id,
                   const uint8_t *master) __attribute__((warn_unused_result));
/* The open key's algorithm. */
rs_alg_t rs_signer_alg(const rs_signer_t *self);
/* Signs message with the open key into sig (room for
 * rs_alg_sig_max(rs_signer_alg(self))); its length goes to *sig_len.
 * Returns 0, or -1 when OpenSSL fails. */
int rs_signer_sign(rs_signer_t *self, uint8_t *sig, size_t *sig_len, const uint8_t *message,
                   size_t message_len) __attribute__((warn_unused_result));
/* Frees the key's OpenSSL objects (their private numbers are wiped as the
 * secure heap frees them) and wipes the unsealed secret. */
void rs_signer_close(rs_signer_t *self);

/* --- verification ----------------------------------------------------- */

/* Verifies signatures under one public key at a time; keeps the last key
 * parsed, so rows of one key in a row parse it once. */
typedef struct rs_verifier_t rs_verifier_t;

rs_verifier_t *rs_verifier_new(void);
void rs_verifier_destroy(rs_verifier_t **self_p);
/* Sets the key to verify under. Returns -1 when public_key is no valid
 * public key of alg (wrong length, not a P-256 or RSA key of that size). */
int rs_verifier_set_key(rs_verifier_t *self, rs_alg_t alg, const uint8_t *public_key,
                        size_t public_key_len) __attribute__((warn_unused_result));
/* Returns 0 when sig is a valid signature of message under the key set,
 * else -1. */
int rs_verifier_check(rs_verifier_t *self, const uint8_t *sig, size_t sig_len,
                      const uint8_t *message, size_t message_len)
    __attribute__((warn_unused_result));

#endif
