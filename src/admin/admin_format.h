/* admin_format: the text forms the admin CLI gives stored values for
 * people and other tools: times in ISO 8601 UTC, base64, a public key of
 * any algorithm as PEM (SubjectPublicKeyInfo, what OpenSSL reads), JSON
 * strings. */
#ifndef ADMIN_FORMAT_H
#define ADMIN_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "rs_signer.h"

/* Room for any time admin_format_time writes. */
#define ADMIN_TIME_BYTES 80
/* Room for the PEM of one public key, with its final newline and NUL: an
 * RSA-4096 key's 550 DER bytes are 12 lines of base64. */
#define ADMIN_PEM_BYTES 1024
/* Ed25519 SubjectPublicKeyInfo DER (RFC 8410): this 12-byte prefix, then
 * the 32-byte key. */
#define ADMIN_SPKI_PREFIX "\x30\x2a\x30\x05\x06\x03\x2b\x65\x70\x03\x21\x00"
#define ADMIN_SPKI_PREFIX_BYTES 12u

/* Writes us (microseconds since the Unix epoch, as admin_store_get_time
 * gives) as e.g. "2026-11-21T10:00:00.123Z" with `digits` (3 or 6)
 * fractional digits; ADMIN_TIME_NULL as "-", +infinity as "infinity".
 * Returns out. */
const char *admin_format_time(int64_t us, int digits, char *out, size_t size);

/* Bytes of base64 (standard alphabet, padded) for len bytes, plus NUL. */
size_t admin_format_base64_size(size_t len);
/* Writes bin[0..len) as base64 with a NUL into out, which must have
 * admin_format_base64_size(len) bytes. Returns out. */
char *admin_format_base64(char *out, const uint8_t *bin, size_t len);

/* Writes the PEM "-----BEGIN PUBLIC KEY-----" block (lines of 64
 * characters) of a public key as keys.public_key stores it for alg (32 raw
 * bytes for Ed25519, DER SubjectPublicKeyInfo otherwise), ending in a
 * newline, into out (ADMIN_PEM_BYTES). Returns 0, or -1 when the key's
 * length is impossible for alg (an Ed25519 key not 32 bytes, a DER key
 * empty or over RS_PUBLIC_KEY_MAX). */
int admin_format_pem(char out[ADMIN_PEM_BYTES], rs_alg_t alg, const uint8_t *public_key,
                     size_t public_key_len) __attribute__((warn_unused_result));

/* Writes s[0..len) to out as a JSON string, quotes included. */
void admin_format_json_string(FILE *out, const char *s, size_t len);

/* Writes a time as a JSON string with microseconds, or null. */
void admin_format_json_time(FILE *out, int64_t us);

#endif
