/* rs_crypto: every cryptographic operation recsign performs — the signed
 * message, Ed25519 signing and verification, and sealing of secret keys
 * under the master key — on libsodium. Output arguments come first. */
#ifndef RS_CRYPTO_H
#define RS_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

/* message = "recsign/v1" || record id (8 bytes, big-endian) || payload */
#define RS_MESSAGE_DOMAIN "recsign/v1"
#define RS_MESSAGE_DOMAIN_BYTES 10u
#define RS_MESSAGE_HEADER_BYTES 18u

#define RS_SIG_BYTES 64u
#define RS_PK_BYTES 32u
#define RS_SK_BYTES 64u
#define RS_MASTER_KEY_BYTES 32u
/* nonce (24) || XChaCha20-Poly1305 ciphertext of the secret key (64 + 16) */
#define RS_SEALED_BYTES 104u

/* Initialises libsodium; returns -1 when it cannot. */
int rs_crypto_init(void) __attribute__((warn_unused_result));

/* Writes the 18-byte header of the signed message for record_id. */
void rs_message_header(uint8_t *out, int64_t record_id);
/* Writes the whole signed message into out (RS_MESSAGE_HEADER_BYTES +
 * payload_len bytes) and returns its length. */
size_t rs_message_build(uint8_t *out, int64_t record_id, const uint8_t *payload,
                        size_t payload_len);

void rs_keypair_new(uint8_t *pk, uint8_t *sk);
void rs_sign(uint8_t *sig, const uint8_t *message, size_t message_len, const uint8_t *sk);
/* Returns 0 when sig is a valid signature of message under pk, else -1. */
int rs_verify(const uint8_t *sig, const uint8_t *message, size_t message_len, const uint8_t *pk)
    __attribute__((warn_unused_result));

/* Seals sk (RS_SK_BYTES) for key key_id under master; out gets
 * RS_SEALED_BYTES. The key id is bound as associated data, so a sealed
 * secret moved to another key's row does not open. */
void rs_seal(uint8_t *out, const uint8_t *sk, uint32_t key_id, const uint8_t *master);
/* Opens a sealed secret into sk. Returns -1 when the length is wrong, the
 * master key is not the one it was sealed with, or it was tampered with. */
int rs_unseal(uint8_t *sk, const uint8_t *sealed, size_t sealed_len, uint32_t key_id,
              const uint8_t *master) __attribute__((warn_unused_result));

/* Secret memory: guarded pages, locked, excluded from core dumps, wiped on
 * free. Returns NULL when it cannot be had. */
void *rs_secret_alloc(size_t size);
void rs_secret_free(void *secret);

/* Loads the master key file (64 hex digits) into secret memory. Refuses a
 * file that group or others may read. Returns NULL and writes a one-line
 * reason into err on failure. */
uint8_t *rs_master_key_load(const char *path, char *err, size_t err_size);
/* Creates the master key file with mode 0600 unless it exists. Returns 1
 * when created, 0 when it already existed, -1 (reason in err) on failure. */
int rs_master_key_create(const char *path, char *err, size_t err_size)
    __attribute__((warn_unused_result));

#endif
