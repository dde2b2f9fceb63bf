/* cmd_export: 'recsign export' (every signed record as a JSON line that
 * OpenSSL alone can check) and 'recsign keys export' (the public keys as
 * JSON or PEM files). Both write public data only. A file is written
 * under a temporary name and renamed when complete, so a failed export
 * never leaves a plausible-looking partial file. */
#include "admin_format.h"
#include "admin_store.h"
#include "commands.h"

#include "rs_crypto.h"
#include "rs_db.h"
#include "rs_log.h"
#include "rs_time.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Export pages: at most this many rows and, past the first row, about
 * this much payload, so memory stays bounded whatever the table size. */
#define S_PAGE_ROWS 2000
#define S_PAGE_BYTES (32LL << 20)
#define S_OUT_BUFFER (1 << 20)
/* Record ids named when signatures are left out. */
#define S_SKIPPED_NAMED 5

/* Where an export writes: standard output, or a file under a temporary
 * name until s_out_commit. */
typedef struct {
    FILE *file;
    const char *path; /* NULL: standard output */
    char temp[4096];
} s_out_t;

static int s_out_open(s_out_t *out, const char *path)
{
    memset(out, 0, sizeof *out);
    if (!path || !strcmp(path, "-")) {
        out->file = stdout;
        out->path = NULL;
    }
    else {
        out->path = path;
        if ((size_t) snprintf(out->temp, sizeof out->temp, "%s.partial", path)
            >= sizeof out->temp) {
            rs_error("output path too long: %s", path);
            return -1;
        }
        out->file = fopen(out->temp, "w");
        if (!out->file) {
            rs_error("cannot create %s: %s", out->temp, strerror(errno));
            return -1;
        }
    }
    setvbuf(out->file, NULL, _IOFBF, S_OUT_BUFFER);
    return 0;
}

/* Flushes and, for a file, closes and renames it into place (removing
 * it when that fails). Returns 0 or -1 (logged). */
static int s_out_commit(s_out_t *out)
{
    bool ok = fflush(out->file) == 0 && !ferror(out->file);
    int err = errno;
    if (out->path) {
        if (fclose(out->file) != 0 && ok) {
            ok = false;
            err = errno;
        }
        out->file = NULL;
        if (ok && rename(out->temp, out->path) != 0) {
            ok = false;
            err = errno;
        }
        if (!ok)
            remove(out->temp);
    }
    if (!ok) {
        rs_error("writing %s failed: %s", out->path ? out->path : "standard output",
                 strerror(err));
        return -1;
    }
    return 0;
}

static void s_out_abort(s_out_t *out)
{
    if (out->path && out->file) {
        fclose(out->file);
        remove(out->temp);
    }
    else if (out->file)
        fflush(out->file);
}

/* A growable byte buffer for messages and their base64. */
typedef struct {
    char *data;
    size_t cap;
} s_buf_t;

static char *s_reserve(s_buf_t *buf, size_t need)
{
    if (need > buf->cap) {
        size_t cap = buf->cap ? buf->cap : 4096;
        while (cap < need)
            cap *= 2;
        char *data = realloc(buf->data, cap);
        if (!data) {
            rs_error("export: out of memory for %zu bytes", cap);
            return NULL;
        }
        buf->data = data;
        buf->cap = cap;
    }
    return buf->data;
}

/* Writes `"name":"<base64 of bin>"` to file. */
static int s_b64_field(FILE *file, const char *name, const uint8_t *bin, size_t len,
                       s_buf_t *b64)
{
    char *text = s_reserve(b64, admin_format_base64_size(len));
    if (!text)
        return -1;
    fprintf(file, "\"%s\":\"%s\"", name, admin_format_base64(text, bin, len));
    return 0;
}

/* The state of one 'recsign export'. */
typedef struct {
    FILE *file;
    s_buf_t message, b64;
    int64_t written, skipped;
    char skipped_ids[160];
    size_t skipped_len;
} s_export_t;

static void s_skip(s_export_t *ex, int64_t record_id)
{
    if (ex->skipped++ < S_SKIPPED_NAMED && ex->skipped_len < sizeof ex->skipped_ids)
        ex->skipped_len += (size_t) snprintf(ex->skipped_ids + ex->skipped_len,
                                             sizeof ex->skipped_ids - ex->skipped_len, "%s%lld",
                                             ex->skipped > 1 ? ", " : "", (long long) record_id);
}

/* Writes one page's lines (columns: ADMIN_PAGE_*). */
static int s_write_page(s_export_t *ex, const PGresult *page)
{
    int rows = PQntuples(page);
    for (int i = 0; i < rows; i++) {
        int64_t record_id = rs_db_get_int8(page, i, ADMIN_PAGE_RECORD_ID);
        /* Without its record there is no message; without a key of a
         * known algorithm and a possible length no PEM. Such rows are
         * counted, not exported (see recsign audit). */
        rs_alg_t alg;
        char pem[ADMIN_PEM_BYTES];
        if (PQgetisnull(page, i, ADMIN_PAGE_PAYLOAD) || PQgetisnull(page, i, ADMIN_PAGE_PUBLIC_KEY)
            || rs_alg_parse(&alg, PQgetvalue(page, i, ADMIN_PAGE_ALGORITHM))
            || admin_format_pem(pem, alg,
                                (const uint8_t *) PQgetvalue(page, i, ADMIN_PAGE_PUBLIC_KEY),
                                (size_t) PQgetlength(page, i, ADMIN_PAGE_PUBLIC_KEY))) {
            s_skip(ex, record_id);
            continue;
        }
        const uint8_t *payload = (const uint8_t *) PQgetvalue(page, i, ADMIN_PAGE_PAYLOAD);
        size_t payload_len = (size_t) PQgetlength(page, i, ADMIN_PAGE_PAYLOAD);
        char *message = s_reserve(&ex->message, RS_MESSAGE_HEADER_BYTES + payload_len);
        if (!message)
            return -1;
        size_t message_len = rs_message_build((uint8_t *) message, record_id, payload,
                                              payload_len);
        FILE *f = ex->file;
        fprintf(f, "{\"record_id\":%lld,\"key_id\":%d,\"lease_id\":%lld,\"algorithm\":\"%s\",",
                (long long) record_id, rs_db_get_int4(page, i, ADMIN_PAGE_KEY_ID),
                (long long) rs_db_get_int8(page, i, ADMIN_PAGE_LEASE_ID), rs_alg_name(alg));
        if (s_b64_field(f, "payload_b64", payload, payload_len, &ex->b64))
            return -1;
        putc(',', f);
        if (s_b64_field(f, "message_b64", (const uint8_t *) message, message_len, &ex->b64))
            return -1;
        putc(',', f);
        if (s_b64_field(f, "signature_b64", (const uint8_t *) PQgetvalue(page, i, ADMIN_PAGE_SIGNATURE),
                        (size_t) PQgetlength(page, i, ADMIN_PAGE_SIGNATURE), &ex->b64))
            return -1;
        fputs(",\"public_key_pem\":", f);
        admin_format_json_string(f, pem, strlen(pem));
        fputs("}\n", f);
        ex->written++;
    }
    if (ferror(ex->file)) {
        rs_error("export: writing failed: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* Streams every signature, page by page (the next page is asked for
 * before this one is written), in the caller's snapshot. */
static int s_export_all(PGconn *conn, s_export_t *ex)
{
    if (admin_store_send_signed_page(conn, INT64_MIN, S_PAGE_ROWS, S_PAGE_BYTES))
        return -1;
    PGresult *page = admin_store_take_result(conn, "reading signatures");
    int rc = -1;
    while (page) {
        int rows = PQntuples(page);
        if (rows == 0) {
            rc = 0;
            break;
        }
        if (PQnfields(page) != ADMIN_PAGE_COLUMNS) {
            rs_error("export: unexpected page shape (%d columns)", PQnfields(page));
            break;
        }
        int64_t last = rs_db_get_int8(page, rows - 1, ADMIN_PAGE_RECORD_ID);
        bool more = last < INT64_MAX;
        if (more && admin_store_send_signed_page(conn, last + 1, S_PAGE_ROWS, S_PAGE_BYTES))
            break;
        int wrote = s_write_page(ex, page);
        PGresult *next = more ? admin_store_take_result(conn, "reading signatures") : NULL;
        PQclear(page);
        page = next;
        if (wrote)
            break;
        if (!more) {
            rc = 0;
            break;
        }
    }
    PQclear(page);
    return rc;
}

int cmd_export(rs_config_t *cfg, const admin_pos_t *pos, PGconn *conn)
{
    (void) pos;
    s_out_t out;
    s_export_t ex;
    memset(&ex, 0, sizeof ex);
    int64_t t0 = rs_mono_us();
    if (s_out_open(&out, rs_config_str(cfg, "out")))
        return -1;
    ex.file = out.file;
    /* One snapshot: signatures stored during the export wait for the next. */
    int rc = admin_store_begin_snapshot(conn) ? -1 : s_export_all(conn, &ex);
    admin_store_rollback(conn);
    free(ex.message.data);
    free(ex.b64.data);
    if (rc || s_out_commit(&out)) {
        if (rc)
            s_out_abort(&out);
        return -1;
    }
    rs_info("exported %lld signed record%s to %s in %.1f s", (long long) ex.written,
            ex.written == 1 ? "" : "s", out.path ? out.path : "standard output",
            (double) (rs_mono_us() - t0) / 1e6);
    if (ex.skipped) {
        rs_error("left out %lld signature%s whose record or key is missing (record ids %s%s); "
                 "see recsign audit", (long long) ex.skipped, ex.skipped == 1 ? "" : "s",
                 ex.skipped_ids, ex.skipped > S_SKIPPED_NAMED ? ", ..." : "");
        return 1;
    }
    return 0;
}

int cmd_keys_export_check(rs_config_t *cfg, const admin_pos_t *pos)
{
    (void) pos;
    const char *format = rs_config_str(cfg, "format");
    if (strcmp(format, "json") && strcmp(format, "pem")) {
        fprintf(stderr, "%s: error: --format is '%s'; expected json or pem\n", cfg->program,
                format);
        return -1;
    }
    return 0;
}

/* Writes {"keys":[...]}, one key per line. */
static int s_keys_json(const PGresult *res, const char *path)
{
    s_out_t out;
    if (s_out_open(&out, path))
        return -1;
    FILE *f = out.file;
    int rows = PQntuples(res);
    fputs("{\"keys\":[", f);
    for (int i = 0; i < rows; i++) {
        const uint8_t *pk = (const uint8_t *) PQgetvalue(res, i, 1);
        size_t pk_len = (size_t) PQgetlength(res, i, 1);
        char hex[2 * RS_PUBLIC_KEY_MAX + 1], pem[ADMIN_PEM_BYTES];
        rs_alg_t alg = RS_ALG_ED25519;
        /* cmd_keys_export checked every key's algorithm and length. */
        if (rs_alg_parse(&alg, PQgetvalue(res, i, 5)) || admin_format_pem(pem, alg, pk, pk_len))
            pem[0] = '\0';
        for (size_t b = 0; b < pk_len && b < RS_PUBLIC_KEY_MAX; b++)
            snprintf(hex + 2 * b, 3, "%02x", pk[b]);
        fprintf(f, "%s\n{\"id\":%d,\"algorithm\":\"%s\",\"public_key_hex\":\"%s\",\"public_key_pem\":",
                i ? "," : "", rs_db_get_int4(res, i, 0), rs_alg_name(alg), hex);
        admin_format_json_string(f, pem, strlen(pem));
        const char *names[3] = { "created_at", "live_at", "retired_at" };
        for (int c = 0; c < 3; c++) {
            fprintf(f, ",\"%s\":", names[c]);
            admin_format_json_time(f, admin_store_get_time(res, i, 2 + c));
        }
        putc('}', f);
    }
    fputs("\n]}\n", f);
    if (s_out_commit(&out))
        return -1;
    rs_info("exported %d public key%s to %s", rows, rows == 1 ? "" : "s",
            path && strcmp(path, "-") ? path : "standard output");
    return 0;
}

/* Writes the first line of key-<id>.pem: how the key signs, and the
 * OpenSSL command that verifies a signature SIG of a message MESSAGE (the
 * signed bytes, "recsign/v1" || id || payload). Outside the PEM block:
 * OpenSSL reads past it. */
static void s_pem_note(FILE *f, int id, rs_alg_t alg)
{
    /* The command is before, key-<id>.pem, after. */
    const char *scheme, *before, *after;
    switch (alg) {
    case RS_ALG_ED25519:
        scheme = "Ed25519 over the message itself";
        before = "openssl pkeyutl -verify -pubin -inkey";
        after = "-rawin -in MESSAGE -sigfile SIG";
        break;
    case RS_ALG_ECDSA_P256:
        scheme = "ECDSA P-256 with SHA-256, DER-encoded";
        before = "openssl dgst -sha256 -verify";
        after = "-signature SIG MESSAGE";
        break;
    default:
        scheme = "RSASSA-PSS, SHA-256, MGF1-SHA-256, salt 32 bytes";
        before = "openssl dgst -sha256 -verify";
        after = "-sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 "
                "-sigopt rsa_mgf1_md:sha256 -signature SIG MESSAGE";
        break;
    }
    fprintf(f, "recsign key %d, %s: signatures are %s; verify with: %s key-%d.pem %s\n", id,
            rs_alg_name(alg), scheme, before, id, after);
}

/* Writes key-<id>.pem for every key into dir (created if absent), a line
 * saying how the key signs before its PEM block, and prints each path. */
static int s_keys_pem(const PGresult *res, const char *dir)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (errno != ENOENT || mkdir(dir, 0755) != 0) {
            rs_error("cannot create directory %s: %s", dir, strerror(errno));
            return -1;
        }
    }
    else if (!S_ISDIR(st.st_mode)) {
        rs_error("%s is not a directory; expected --out DIR for --format pem", dir);
        return -1;
    }
    int rows = PQntuples(res);
    for (int i = 0; i < rows; i++) {
        char path[4096], pem[ADMIN_PEM_BYTES];
        int id = rs_db_get_int4(res, i, 0);
        snprintf(path, sizeof path, "%s/key-%d.pem", dir, id);
        rs_alg_t alg = RS_ALG_ED25519;
        /* cmd_keys_export checked every key's algorithm and length. */
        if (rs_alg_parse(&alg, PQgetvalue(res, i, 5))
            || admin_format_pem(pem, alg, (const uint8_t *) PQgetvalue(res, i, 1),
                                (size_t) PQgetlength(res, i, 1)))
            return -1;
        s_out_t out;
        if (s_out_open(&out, path))
            return -1;
        s_pem_note(out.file, id, alg);
        fputs(pem, out.file);
        if (s_out_commit(&out))
            return -1;
        printf("%s\n", path);
    }
    rs_info("wrote %d PEM file%s into %s", rows, rows == 1 ? "" : "s", dir);
    return 0;
}

int cmd_keys_export(rs_config_t *cfg, const admin_pos_t *pos, PGconn *conn)
{
    (void) pos;
    if (admin_store_begin_snapshot(conn))
        return -1;
    PGresult *res = admin_store_keys_public(conn);
    admin_store_rollback(conn);
    if (!res)
        return -1;
    for (int i = 0; i < PQntuples(res); i++) {
        rs_alg_t alg;
        char pem[ADMIN_PEM_BYTES];
        if (rs_alg_parse(&alg, PQgetvalue(res, i, 5))
            || admin_format_pem(pem, alg, (const uint8_t *) PQgetvalue(res, i, 1),
                                (size_t) PQgetlength(res, i, 1))) {
            rs_error("key %d (algorithm '%s') has a %d-byte public key; expected 32 bytes for "
                     "ed25519, a DER key of at most %u bytes for the others (" RS_ALG_NAMES ")",
                     rs_db_get_int4(res, i, 0), PQgetvalue(res, i, 5), PQgetlength(res, i, 1),
                     RS_PUBLIC_KEY_MAX);
            PQclear(res);
            return -1;
        }
    }
    const char *out = rs_config_str(cfg, "out");
    int rc = !strcmp(rs_config_str(cfg, "format"), "pem") ? s_keys_pem(res, out ? out : ".")
                                                         : s_keys_json(res, out);
    PQclear(res);
    return rc;
}
