/* vent_store: the ventilator's database side, and all of its SQL: the run
 * record (batch size fixed per run), keyset-paginated reads of unsigned
 * records, and the watermark queries that tell when the run is complete. */
#ifndef VENT_STORE_H
#define VENT_STORE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct vent_store_t vent_store_t;

/* Connects and checks the schema. The ventilator's advisory lock (one
 * leading ventilator per database) is taken by vent_store_lead; once
 * taken, every new connection takes it again. With listen (follow mode),
 * each connection of the leader listens for inserted records. Returns
 * NULL with the reason in err. */
vent_store_t *vent_store_new(const char *db_url, bool listen, char *err, size_t err_size);
void vent_store_destroy(vent_store_t **self_p);

/* What trying to lead found. */
typedef enum {
    VENT_LEAD_DB_ERROR = -1, /* the database is away (logged); retry after vent_store_backoff */
    VENT_LEAD_TAKEN = 0,     /* the lock is ours: this ventilator leads */
    VENT_LEAD_BUSY = 1,      /* another ventilator holds it (for all of wait_ms) */
} vent_lead_t;

/* Tries for up to wait_ms (0: once) to take the ventilator lock. */
vent_lead_t vent_store_lead(vent_store_t *self, int wait_ms) __attribute__((warn_unused_result));

/* The idle_session_timeout (PostgreSQL 14 and later) of every session of
 * the ventilator, the one that holds its lock included, in ms: a leader
 * that stops issuing statements (frozen by SIGSTOP or a stalled VM, hung,
 * cut off by a partition) has its session, and with it the lock, ended by
 * the server this long after its last one, and a standby takes the run
 * over. The keycoord's bound (KC_OWNER_IDLE_TIMEOUT_MS): eight
 * confirmation periods, so that a busy host that delays a few keeps its
 * lead. */
#define VENT_LEAD_IDLE_TIMEOUT_MS 2000
/* How often a leader that has nothing else to ask the database (a send
 * blocked on busy workers) confirms its lock session: a healthy leader's
 * session is never idle for the bound above. */
#define VENT_LEAD_CONFIRM_MS 250

/* Confirms that the lock session is still there, with a statement on it,
 * unless one was confirmed less than VENT_LEAD_CONFIRM_MS ago. Returns 0,
 * or -1 when the session is gone (logged): retry with vent_store_backoff,
 * which takes the lock again on a new session, or returns false when a
 * standby has taken it (vent_store_lost_lead); nothing may be sent before
 * the lock is confirmed again. Call while leading. */
int vent_store_confirm_lead(vent_store_t *self) __attribute__((warn_unused_result));

/* True once a new connection of this leader found the lock taken by
 * another ventilator (a standby took over while the connection was down),
 * or the lock free and this leader's run (vent_store_open_run's) finished
 * by another (a standby took over and finished it meanwhile): every later database call fails, vent_store_backoff returns false, and
 * the process must stop. */
bool vent_store_lost_lead(const vent_store_t *self);

/* The unfinished run, as a standby sees it. */
typedef struct {
    bool found;     /* there is an unfinished run; the rest is set only then */
    int64_t id;
    int batch_size; /* records per batch, fixed for the run */
    bool follow;    /* led by a follow-mode ventilator (runs.follow) */
} vent_run_info_t;

/* Reads the unfinished run without leading (a standby's check) into *run.
 * Returns 0 or -1 (reason in err). */
int vent_store_peek_run(vent_store_t *self, vent_run_info_t *run, char *err, size_t err_size)
    __attribute__((warn_unused_result));

/* The newest run, led by whichever ventilator: sets *run_id (0 when
 * there is none) and *finished. Returns 0 or -1 (reason in err). */
int vent_store_latest_run(vent_store_t *self, int64_t *run_id, bool *finished, char *err,
                          size_t err_size) __attribute__((warn_unused_result));

/* What opening a run found. */
typedef enum {
    VENT_RUN_DB_ERROR = -1,         /* reason in err */
    VENT_RUN_OPENED = 0,            /* *run_id (and *resumed) set */
    VENT_RUN_OTHER_BATCH_SIZE = 1,  /* the unfinished run has another batch size (reason in err) */
} vent_run_open_t;

/* Resumes the unfinished run if there is one, else records a new run with
 * *batch_size and this ventilator's mode (follow mode when the store
 * listens). An unfinished run of another batch size is refused
 * (VENT_RUN_OTHER_BATCH_SIZE) unless adopt is true: then *batch_size
 * becomes the run's. A resumed run takes this ventilator's mode; *was_follow
 * says which it had. Call while leading. */
vent_run_open_t vent_store_open_run(vent_store_t *self, int *batch_size, bool adopt,
                                    int64_t *run_id, bool *resumed, bool *was_follow, char *err,
                                    size_t err_size) __attribute__((warn_unused_result));

/* Records the first dispatch of the run (kept if already set). */
int vent_store_mark_dispatch(vent_store_t *self, int64_t run_id)
    __attribute__((warn_unused_result));
/* Records that every record is signed. */
int vent_store_mark_finished(vent_store_t *self, int64_t run_id)
    __attribute__((warn_unused_result));

/* The next records with id > after_id (>= on a pass's first page), in id
 * order; descending: with id < after_id (<=), in falling id order. A
 * binary result (id int8, payload bytea, payload_len int8): at most
 * `limit` rows, and no row past the one at which the payloads to send
 * before it reach max_bytes. payload_len is NULL for records signed
 * already; payload is NULL for those and for records over RS_PAYLOAD_MAX
 * (which cannot be signed). Fewer than `limit` rows whose payloads sum to
 * less than max_bytes means the end of the table. NULL on error. Caller
 * PQclears. */
PGresult *vent_store_page(vent_store_t *self, int64_t after_id, bool first, bool descending,
                          int limit, int64_t max_bytes);

/* Records, once, that record_id cannot be signed (its payload of
 * payload_len bytes is over RS_PAYLOAD_MAX), in records_refused. Returns
 * 1 when recorded now, 0 when it was already, -1 on error. */
int vent_store_refuse(vent_store_t *self, int64_t run_id, int64_t record_id, int64_t payload_len)
    __attribute__((warn_unused_result));

/* Writes "17 (1048577 bytes), 40 (2000000 bytes)" for the first `limit`
 * unsigned records over RS_PAYLOAD_MAX into out. Reads the records table
 * in id order: meant for the end of a batch run. Returns 0 or -1. */
int vent_store_refused_sample(vent_store_t *self, int limit, char *out, size_t out_size)
    __attribute__((warn_unused_result));
/* Follow mode's end: the records in records_refused that still exist,
 * unsigned and over RS_PAYLOAD_MAX, counted in *count, the first `limit`
 * of them written into out as vent_store_refused_sample does. Reads
 * records_refused and probes the other tables per row: its cost is the
 * refused records', not the tables'. Returns 0 or -1. */
int vent_store_refused_left(vent_store_t *self, int limit, int64_t *count, char *out,
                            size_t out_size) __attribute__((warn_unused_result));

/* The lowest record id >= from_id without a signature: sets *found, and
 * *id when found. Costs the records walked, i.e. those from from_id on
 * that are signed already. Returns 0 or -1. */
int vent_store_first_unsigned(vent_store_t *self, int64_t from_id, bool *found, int64_t *id)
    __attribute__((warn_unused_result));
/* Signatures of records with id >= from_id. Costs the signatures counted.
 * Returns 0 or -1. */
int vent_store_count_signed_from(vent_store_t *self, int64_t from_id, int64_t *count)
    __attribute__((warn_unused_result));
/* Records that have no signature and can have one, counted exactly over
 * the whole table, the lowest of their ids (0 when none), and those that
 * cannot (payload over RS_PAYLOAD_MAX). Reads both tables: meant to run
 * once, to confirm the end. Returns 0 or -1. */
int vent_store_unsigned_exact(vent_store_t *self, int64_t *count, int64_t *lowest,
                              int64_t *refused) __attribute__((warn_unused_result));

/* Follow mode: the transactions running now, as the current snapshot's
 * xmin (every transaction below it has ended) and xmax (every transaction
 * from it on had not started), full 64-bit transaction ids. A record a
 * scan did not see was being inserted by a transaction below the xmax
 * taken after the scan, or by one that started later. Returns 0 or -1. */
int vent_store_snapshot(vent_store_t *self, uint64_t *xmin, uint64_t *xmax)
    __attribute__((warn_unused_result));

/* Re-establishes a broken connection (and the lock). 0 when usable. */
int vent_store_reconnect(vent_store_t *self) __attribute__((warn_unused_result));
/* Waits *backoff_ms (then doubles it, up to 5 s) and reconnects: the
 * retry step of every database call while the database is away. Returns
 * false when interrupted or when the lead was lost (vent_store_lost_lead). */
bool vent_store_backoff(vent_store_t *self, int *backoff_ms);
/* Connections made so far, the first included: when it grows, the
 * connection was re-established and notifications sent meanwhile are lost. */
uint64_t vent_store_connections(const vent_store_t *self);

/* The connection's socket, to wait on for notifications (follow mode);
 * -1 while the connection is down, which tells a broken session from a
 * statement the server refused. */
int vent_store_socket(vent_store_t *self);
/* Reads what arrived on the connection and counts the notifications of
 * inserted records (0: none), consuming them; -1 when the connection
 * broke. Never blocks. */
int vent_store_notified(vent_store_t *self);

#endif
