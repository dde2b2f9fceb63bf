/* admin_copy: bulk writes with COPY ... FROM STDIN (FORMAT binary), the
 * rows encoded into a buffer that is sent in chunks of about 1 MiB. */
#ifndef ADMIN_COPY_H
#define ADMIN_COPY_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

typedef struct admin_copy admin_copy_t;

/* Starts `sql`, a COPY ... FROM STDIN (FORMAT binary) statement, on conn
 * and writes the binary COPY header. Returns NULL (logged) on failure. */
admin_copy_t *admin_copy_new(PGconn *conn, const char *sql);

/* Starts a row of `fields` fields; the caller then appends exactly that
 * many fields. Returns 0, or -1 (logged) when an earlier write failed. */
int admin_copy_row(admin_copy_t *self, int fields) __attribute__((warn_unused_result));

/* Append one field each. A failure (out of memory) is remembered and
 * reported by the next admin_copy_row or admin_copy_end. */
void admin_copy_int4(admin_copy_t *self, int32_t value);
void admin_copy_int8(admin_copy_t *self, int64_t value);

/* Appends a bytea field of len bytes and returns where the caller writes
 * them (valid until the next call on self), or NULL on failure. */
uint8_t *admin_copy_bytea(admin_copy_t *self, size_t len) __attribute__((warn_unused_result));

/* Sends the trailer, ends the COPY and destroys *self_p (set to NULL).
 * Returns 0 when the server took every row, -1 (logged) otherwise. */
int admin_copy_end(admin_copy_t **self_p) __attribute__((warn_unused_result));

/* Abandons the COPY (the server discards its rows) and destroys *self_p;
 * accepts NULL. */
void admin_copy_destroy(admin_copy_t **self_p);

#endif
