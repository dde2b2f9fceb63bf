/* rs_crypto: see rs_crypto.h. */
#include "rs_crypto.h"
#include "rs_bytes.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(RS_SIG_BYTES == crypto_sign_BYTES, "signature size");
_Static_assert(RS_PK_BYTES == crypto_sign_PUBLICKEYBYTES, "public key size");
_Static_assert(RS_SK_BYTES == crypto_sign_SECRETKEYBYTES, "secret key size");
_Static_assert(RS_MASTER_KEY_BYTES == crypto_aead_xchacha20poly1305_ietf_KEYBYTES, "master size");
_Static_assert(RS_SEAL_OVERHEAD_BYTES == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
                                            + crypto_aead_xchacha20poly1305_ietf_ABYTES,
               "sealed size");

#define S_NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES

int rs_crypto_init(void)
{
    if (sodium_init() < 0)
        return -1;
    /* OpenSSL allocates the private numbers of the keys it decodes (RSA's
     * d, p, q, dp, dq, qinv; the EC private scalar) with BN_secure_new:
     * from this heap once it exists. It is mmap'ed between guard pages,
     * mlock'ed when the limit allows (1 is locked, 2 is not) and
     * MADV_DONTDUMP, and every block is wiped when freed. Smallest block:
     * 16 bytes. */
    if (!CRYPTO_secure_malloc_initialized()
        && CRYPTO_secure_malloc_init(RS_SECURE_HEAP_BYTES, 16) == 0)
        return -1;
    return 0;
}

void rs_message_header(uint8_t *out, int64_t record_id)
{
    memcpy(out, RS_MESSAGE_DOMAIN, RS_MESSAGE_DOMAIN_BYTES);
    rs_put_u64(out + RS_MESSAGE_DOMAIN_BYTES, (uint64_t) record_id);
}

size_t rs_message_build(uint8_t *out, int64_t record_id, const uint8_t *payload,
                        size_t payload_len)
{
    rs_message_header(out, record_id);
    if (payload_len)
        memcpy(out + RS_MESSAGE_HEADER_BYTES, payload, payload_len);
    return RS_MESSAGE_HEADER_BYTES + payload_len;
}

void rs_keypair_new(uint8_t *pk, uint8_t *sk)
{
    crypto_sign_keypair(pk, sk);
}

void rs_sign(uint8_t *sig, const uint8_t *message, size_t message_len, const uint8_t *sk)
{
    crypto_sign_detached(sig, NULL, message, message_len, sk);
}

int rs_verify(const uint8_t *sig, const uint8_t *message, size_t message_len, const uint8_t *pk)
{
    return crypto_sign_verify_detached(sig, message, message_len, pk) == 0 ? 0 : -1;
}

void rs_seal(uint8_t *out, const uint8_t *secret, size_t secret_len, uint32_t key_id,
             const uint8_t *master)
{
    uint8_t ad[4];
    rs_put_u32(ad, key_id);
    randombytes_buf(out, S_NONCE_BYTES);
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + S_NONCE_BYTES, NULL, secret, secret_len, ad,
                                               sizeof ad, NULL, out, master);
}

int rs_unseal(uint8_t *secret, size_t *secret_len, size_t secret_cap, const uint8_t *sealed,
              size_t sealed_len, uint32_t key_id, const uint8_t *master)
{
    *secret_len = 0;
    if (sealed_len <= RS_SEAL_OVERHEAD_BYTES || sealed_len - RS_SEAL_OVERHEAD_BYTES > secret_cap)
        return -1;
    uint8_t ad[4];
    rs_put_u32(ad, key_id);
    unsigned long long len = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(secret, &len, NULL, sealed + S_NONCE_BYTES,
                                                   sealed_len - S_NONCE_BYTES, ad, sizeof ad,
                                                   sealed, master)
        != 0) {
        sodium_memzero(secret, secret_cap);
        return -1;
    }
    *secret_len = (size_t) len;
    return 0;
}

void *rs_secret_alloc(size_t size)
{
    /* sodium_malloc places the buffer between guard pages, locks it in
     * memory and marks it MADV_DONTDUMP, so secrets stay out of swap and
     * core dumps; sodium_free wipes it. */
    return sodium_malloc(size);
}

void rs_secret_free(void *secret)
{
    if (secret)
        sodium_free(secret);
}

uint8_t *rs_master_key_load(const char *path, char *err, size_t err_size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int open_errno = errno;
        snprintf(err, err_size, "cannot open master key file %s: %s; expected a file made by 'recsign init'",
                 path, strerror(open_errno));
        errno = open_errno == EINVAL ? EIO : open_errno;
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, err_size, "master key file %s is not a regular file", path);
        close(fd);
        errno = EINVAL;
        return NULL;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        snprintf(err, err_size,
                 "master key file %s has mode %04o; expected 0600 (readable by its owner only)",
                 path, (unsigned) (st.st_mode & 07777));
        close(fd);
        errno = EINVAL;
        return NULL;
    }
    char hex[2 * RS_MASTER_KEY_BYTES + 2];
    ssize_t n = read(fd, hex, sizeof hex);
    close(fd);
    uint8_t *key = rs_secret_alloc(RS_MASTER_KEY_BYTES);
    if (!key) {
        snprintf(err, err_size, "cannot allocate locked memory for the master key");
        sodium_memzero(hex, sizeof hex);
        errno = ENOMEM;
        return NULL;
    }
    size_t bin_len = 0;
    const char *hex_end = NULL;
    int bad = n < (ssize_t) (2 * RS_MASTER_KEY_BYTES)
              || sodium_hex2bin(key, RS_MASTER_KEY_BYTES, hex, (size_t) n, "\n", &bin_len, &hex_end)
                     != 0
              || bin_len != RS_MASTER_KEY_BYTES;
    sodium_memzero(hex, sizeof hex);
    if (bad) {
        snprintf(err, err_size, "master key file %s is malformed; expected %u hex digits",
                 path, 2 * RS_MASTER_KEY_BYTES);
        rs_secret_free(key);
        errno = EINVAL;
        return NULL;
    }
    return key;
}

int rs_master_key_create(const char *path, char *err, size_t err_size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            return 0;
        snprintf(err, err_size, "cannot create master key file %s: %s", path, strerror(errno));
        return -1;
    }
    uint8_t key[RS_MASTER_KEY_BYTES];
    char hex[2 * RS_MASTER_KEY_BYTES + 2];
    randombytes_buf(key, sizeof key);
    sodium_bin2hex(hex, sizeof hex - 1, key, sizeof key);
    sodium_memzero(key, sizeof key);
    size_t len = strlen(hex);
    hex[len++] = '\n';
    int ok = write(fd, hex, len) == (ssize_t) len && fsync(fd) == 0;
    sodium_memzero(hex, sizeof hex);
    close(fd);
    if (!ok) {
        snprintf(err, err_size, "cannot write master key file %s: %s", path, strerror(errno));
        unlink(path);
        return -1;
    }
    return 1;
}
