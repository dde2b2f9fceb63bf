/* admin_format: see admin_format.h. */
#include "admin_format.h"
#include "admin_store.h"

#include "rs_crypto.h"

#include <sodium.h>
#include <string.h>
#include <time.h>

const char *admin_format_time(int64_t us, int digits, char *out, size_t size)
{
    if (us == ADMIN_TIME_NULL) {
        snprintf(out, size, "-");
        return out;
    }
    if (us == INT64_MAX) {
        snprintf(out, size, "infinity");
        return out;
    }
    int64_t secs = us / 1000000, frac = us % 1000000;
    if (frac < 0) {
        secs--;
        frac += 1000000;
    }
    time_t t = (time_t) secs;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(out, size, "?");
        return out;
    }
    if (digits == 6)
        snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int) frac);
    else
        snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (int) (frac / 1000));
    return out;
}

size_t admin_format_base64_size(size_t len)
{
    return sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
}

char *admin_format_base64(char *out, const uint8_t *bin, size_t len)
{
    return sodium_bin2base64(out, admin_format_base64_size(len), bin, len,
                             sodium_base64_VARIANT_ORIGINAL);
}

int admin_format_pem(char out[ADMIN_PEM_BYTES], rs_alg_t alg, const uint8_t *public_key,
                     size_t public_key_len)
{
    uint8_t der[RS_PUBLIC_KEY_MAX];
    size_t der_len = public_key_len;
    if (alg == RS_ALG_ED25519) {
        if (public_key_len != RS_PK_BYTES)
            return -1;
        memcpy(der, ADMIN_SPKI_PREFIX, ADMIN_SPKI_PREFIX_BYTES);
        memcpy(der + ADMIN_SPKI_PREFIX_BYTES, public_key, RS_PK_BYTES);
        der_len = ADMIN_SPKI_PREFIX_BYTES + RS_PK_BYTES;
    }
    else if (public_key_len == 0 || public_key_len > RS_PUBLIC_KEY_MAX)
        return -1;
    else
        memcpy(der, public_key, public_key_len);
    char b64[sodium_base64_ENCODED_LEN(RS_PUBLIC_KEY_MAX, sodium_base64_VARIANT_ORIGINAL)];
    admin_format_base64(b64, der, der_len);
    size_t b64_len = strlen(b64);
    _Static_assert(sizeof "-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n" + sizeof b64
                           + sizeof b64 / 64 + 1
                       <= ADMIN_PEM_BYTES,
                   "PEM room");
    size_t used = (size_t) snprintf(out, ADMIN_PEM_BYTES, "-----BEGIN PUBLIC KEY-----\n");
    /* PEM (RFC 7468) wraps base64 at 64 characters a line. */
    for (size_t at = 0; at < b64_len; at += 64)
        used += (size_t) snprintf(out + used, ADMIN_PEM_BYTES - used, "%.64s\n", b64 + at);
    snprintf(out + used, ADMIN_PEM_BYTES - used, "-----END PUBLIC KEY-----\n");
    return 0;
}

void admin_format_json_string(FILE *out, const char *s, size_t len)
{
    putc('"', out);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) s[i];
        if (c == '"' || c == '\\') {
            putc('\\', out);
            putc(c, out);
        }
        else if (c == '\n')
            fputs("\\n", out);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            putc(c, out);
    }
    putc('"', out);
}

void admin_format_json_time(FILE *out, int64_t us)
{
    if (us == ADMIN_TIME_NULL) {
        fputs("null", out);
        return;
    }
    char text[ADMIN_TIME_BYTES];
    admin_format_time(us, 6, text, sizeof text);
    admin_format_json_string(out, text, strlen(text));
}
