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

void admin_format_pem(char out[ADMIN_PEM_BYTES], const uint8_t *public_key)
{
    uint8_t der[ADMIN_SPKI_PREFIX_BYTES + RS_PK_BYTES];
    memcpy(der, ADMIN_SPKI_PREFIX, ADMIN_SPKI_PREFIX_BYTES);
    memcpy(der + ADMIN_SPKI_PREFIX_BYTES, public_key, RS_PK_BYTES);
    /* 44 bytes are 60 base64 characters: one line, under PEM's 64. */
    char b64[64];
    _Static_assert(sodium_base64_ENCODED_LEN(sizeof der, sodium_base64_VARIANT_ORIGINAL)
                       <= sizeof b64,
                   "one PEM line");
    admin_format_base64(b64, der, sizeof der);
    snprintf(out, ADMIN_PEM_BYTES, "-----BEGIN PUBLIC KEY-----\n%s\n-----END PUBLIC KEY-----\n",
             b64);
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
