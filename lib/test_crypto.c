/* test_crypto: the signed message's layout, sign/verify, and sealing: a
 * sealed key opens only with its master key and its own key id. */
#include "rs_check.h"
#include "rs_crypto.h"

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
    rs_seal(sealed, sk, 7, master);
    RS_CHECK(rs_unseal(opened, sealed, sizeof sealed, 7, master) == 0);
    RS_CHECK(memcmp(opened, sk, RS_SK_BYTES) == 0);
    RS_CHECK(rs_unseal(opened, sealed, sizeof sealed, 7, other) != 0);   /* wrong master key */
    RS_CHECK(rs_unseal(opened, sealed, sizeof sealed, 8, master) != 0);  /* moved to key 8 */
    RS_CHECK(rs_unseal(opened, sealed, sizeof sealed - 1, 7, master) != 0);
    sealed[30] ^= 1;
    RS_CHECK(rs_unseal(opened, sealed, sizeof sealed, 7, master) != 0);  /* tampered */
    for (size_t i = 0; i < RS_SK_BYTES; i++)
        RS_CHECK(opened[i] == 0); /* a failed open leaves no key material */
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
    test_master_key_file();
    printf("crypto: ok\n");
    return 0;
}
