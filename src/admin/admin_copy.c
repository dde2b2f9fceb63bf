/* admin_copy: see admin_copy.h. Binary COPY format: a 19-byte header, per
 * row an int16 field count then per field an int32 length and the value
 * in network order, and an int16 -1 trailer. */
#include "admin_copy.h"

#include "rs_bytes.h"
#include "rs_db.h"
#include "rs_log.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Big enough that a 100,000-row COPY is a hundred or so sends, small
 * enough to stay in cache. */
#define S_FLUSH_BYTES (1u << 20)

struct admin_copy {
    PGconn *conn;
    uint8_t *buf;
    size_t len, cap;
    bool failed;
};

static const uint8_t s_header[19] = { 'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xff, '\r', '\n', 0,
                                      0,   0,   0,   0,   0,   0,   0,    0 };

/* Makes room for `more` bytes; returns NULL (and marks failure) on OOM. */
static uint8_t *s_reserve(admin_copy_t *self, size_t more)
{
    if (self->failed)
        return NULL;
    if (self->len + more > self->cap) {
        size_t cap = self->cap ? self->cap : S_FLUSH_BYTES + 4096;
        while (cap < self->len + more)
            cap *= 2;
        uint8_t *buf = realloc(self->buf, cap);
        if (!buf) {
            rs_error("COPY: out of memory for a %zu-byte buffer", cap);
            self->failed = true;
            return NULL;
        }
        self->buf = buf;
        self->cap = cap;
    }
    uint8_t *at = self->buf + self->len;
    self->len += more;
    return at;
}

static int s_flush(admin_copy_t *self)
{
    if (self->failed)
        return -1;
    if (self->len && PQputCopyData(self->conn, (const char *) self->buf, (int) self->len) != 1) {
        rs_error("COPY: sending rows failed: %s", rs_db_error(self->conn));
        self->failed = true;
        return -1;
    }
    self->len = 0;
    return 0;
}

admin_copy_t *admin_copy_new(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        rs_error("starting COPY failed: %s", rs_db_error(conn));
        PQclear(res);
        return NULL;
    }
    PQclear(res);
    admin_copy_t *self = calloc(1, sizeof *self);
    if (!self) {
        PQputCopyEnd(conn, "out of memory");
        PGresult *r;
        while ((r = PQgetResult(conn)))
            PQclear(r);
        rs_error("COPY: out of memory");
        return NULL;
    }
    self->conn = conn;
    uint8_t *at = s_reserve(self, sizeof s_header);
    if (at)
        memcpy(at, s_header, sizeof s_header);
    return self;
}

int admin_copy_row(admin_copy_t *self, int fields)
{
    if (self->len >= S_FLUSH_BYTES && s_flush(self))
        return -1;
    uint8_t *at = s_reserve(self, 2);
    if (!at)
        return -1;
    rs_put_u16(at, (uint16_t) fields);
    return 0;
}

void admin_copy_int4(admin_copy_t *self, int32_t value)
{
    uint8_t *at = s_reserve(self, 8);
    if (!at)
        return;
    rs_put_u32(at, 4);
    rs_put_u32(at + 4, (uint32_t) value);
}

void admin_copy_int8(admin_copy_t *self, int64_t value)
{
    uint8_t *at = s_reserve(self, 12);
    if (!at)
        return;
    rs_put_u32(at, 8);
    rs_put_u64(at + 4, (uint64_t) value);
}

uint8_t *admin_copy_bytea(admin_copy_t *self, size_t len)
{
    if (len > INT32_MAX) {
        rs_error("COPY: a %zu-byte field is too long", len);
        self->failed = true;
        return NULL;
    }
    uint8_t *at = s_reserve(self, 4 + len);
    if (!at)
        return NULL;
    rs_put_u32(at, (uint32_t) len);
    return at + 4;
}

int admin_copy_end(admin_copy_t **self_p)
{
    admin_copy_t *self = *self_p;
    if (!self)
        return -1;
    uint8_t *at = s_reserve(self, 2);
    if (at)
        rs_put_u16(at, 0xffff);
    if (s_flush(self)) {
        admin_copy_destroy(self_p);
        return -1;
    }
    int rc = 0;
    if (PQputCopyEnd(self->conn, NULL) != 1) {
        rs_error("COPY: ending failed: %s", rs_db_error(self->conn));
        rc = -1;
    }
    /* Every result must be read, or the connection stays busy. */
    PGresult *res;
    while ((res = PQgetResult(self->conn))) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK && rc == 0) {
            rs_error("COPY failed: %s", rs_db_error(self->conn));
            rc = -1;
        }
        PQclear(res);
    }
    free(self->buf);
    free(self);
    *self_p = NULL;
    return rc;
}

void admin_copy_destroy(admin_copy_t **self_p)
{
    admin_copy_t *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    PQputCopyEnd(self->conn, "abandoned by recsign");
    PGresult *res;
    while ((res = PQgetResult(self->conn)))
        PQclear(res);
    free(self->buf);
    free(self);
    *self_p = NULL;
}
