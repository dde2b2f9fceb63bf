/* rs_crypto: the signed message, raw Ed25519 on libsodium, sealing of secret
 * keys under the master key and the secret memory they are opened into.
 * Keys of every algorithm (and OpenSSL's part) are in rs_signer.h. Output
 * arguments come first. */
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
/* A sealed secret: nonce (24) || XChaCha20-Poly1305 ciphertext of the
 * secret (its length + a 16-byte tag). */
#define RS_SEAL_OVERHEAD_BYTES 40u
/* A sealed Ed25519 secret key (64 bytes). */
#define RS_SEALED_BYTES (RS_SK_BYTES + RS_SEAL_OVERHEAD_BYTES)
/* OpenSSL's secure heap (see rs_crypto_init): enough for the private
 * numbers of one RSA-4096 key (about 3 KiB) per signing thread, for up to
 * 256 threads. */
#define RS_SECURE_HEAP_BYTES (1u << 20)

/* Initialises libsodium and OpenSSL's secure heap (RS_SECURE_HEAP_BYTES,
 * locked, excluded from core dumps, wiped on free), where OpenSSL keeps the
 * private numbers of the keys it decodes. Returns -1 when libsodium cannot
 * be initialised or the secure heap cannot be had. */
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

/* Seals secret (secret_len bytes: a 64-byte Ed25519 key or a PKCS#8 DER
 * private key) for key key_id under master; out gets secret_len +
 * RS_SEAL_OVERHEAD_BYTES. The key id is bound as associated data, so a
 * sealed secret moved to another key's row does not open. */
void rs_seal(uint8_t *out, const uint8_t *secret, size_t secret_len, uint32_t key_id,
             const uint8_t *master);
/* Opens a sealed secret into secret (room for secret_cap bytes); its length
 * goes to *secret_len. Returns -1 (secret wiped) when the length is out of
 * range, the master key is not the one it was sealed with, or it was
 * tampered with. */
int rs_unseal(uint8_t *secret, size_t *secret_len, size_t secret_cap, const uint8_t *sealed,
              size_t sealed_len, uint32_t key_id, const uint8_t *master)
    __attribute__((warn_unused_result));

/* Secret memory: guarded pages, locked, excluded from core dumps, wiped on
 * free. Returns NULL when it cannot be had. */
void *rs_secret_alloc(size_t size);
void rs_secret_free(void *secret);

/* Loads the master key file (64 hex digits) into secret memory. Refuses a
 * file that group or others may read. Returns NULL and writes a one-line
 * reason into err on failure; errno is then EINVAL when the file's
 * content or mode is at fault (not a regular file, open to others,
 * malformed: a configuration error that a restart would repeat), open(2)'s
 * errno when it cannot be opened (it may yet appear: a mount, a secret
 * store), ENOMEM when locked memory was missing. */
uint8_t *rs_master_key_load(const char *path, char *err, size_t err_size);
/* Creates the master key file with mode 0600 unless it exists. Returns 1
 * when created, 0 when it already existed, -1 (reason in err) on failure. */
int rs_master_key_create(const char *path, char *err, size_t err_size)
    __attribute__((warn_unused_result));

#endif
