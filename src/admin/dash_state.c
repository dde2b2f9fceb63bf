/* dash_state: see dash_state.h. */
#include "dash_state.h"
#include "admin_store.h"

#include "rs_db.h"
#include "rs_log.h"
#include "rs_proto.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_RATE_SAMPLES 300            /* refreshes kept for the chart: 5 min at 1 s */
#define S_RATE_WINDOW_US 5000000LL    /* each point of the chart: the rate over 5 s */
#define S_EVENTS 50                   /* recent events kept */
#define S_WORKER_SHOWN_US 300000000LL /* workers granted a lease in the last 5 min */
#define S_NEW_LEASES_MAX 10000        /* open or expired leases read per refresh */
#define S_REFUSALS_MAX 100            /* refused results read per refresh */
#define S_RECOUNT_US 10000000LL       /* whole-table recount at most this often */

typedef struct {
    int32_t id;
    int64_t live_at, retire_requested_at, retired_at, quarantined_at;
    char algorithm[16]; /* keys.algorithm */
    int64_t uses;          /* leases granted on it */
    int64_t last_used_us;  /* its latest grant, ADMIN_TIME_NULL if none */
} s_key_t;

typedef struct {
    int64_t id;
    int32_t key_id;
    int64_t granted_us;
    char holder[RS_HOLDER_MAX + 1];
} s_lease_t;

typedef struct {
    char name[RS_HOLDER_MAX + 1];
    int64_t leases, last_seen_us;
} s_worker_t;

typedef struct {
    int64_t at_us;
    const char *kind; /* "expired", "refused", "retired", "quarantined" */
    char text[256];
} s_event_t;

typedef struct {
    int64_t at_us, signed_count;
} s_sample_t;

struct dash_state_t {
    int64_t signed_count, total, top_record_id, last_recount_us;
    bool counted;          /* the whole records table was counted once */
    int64_t last_lease_id, last_refusal_id;
    int64_t deleted_after_us; /* deletions up to here are out of `total` */
    s_key_t *keys;
    size_t key_count;
    s_lease_t *open;
    size_t open_count, open_cap;
    s_worker_t *workers;
    size_t worker_count, worker_cap;
    s_event_t events[S_EVENTS];
    size_t event_next, event_count;
    s_sample_t samples[S_RATE_SAMPLES];
    size_t sample_next, sample_count;
    int64_t run_id, run_batch_size, run_started_us, run_dispatched_us, run_finished_us;
    char error[256];
};

dash_state_t *dash_state_new(void)
{
    dash_state_t *self = calloc(1, sizeof *self);
    if (self)
        self->top_record_id = INT64_MIN;
    return self;
}

void dash_state_destroy(dash_state_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dash_state_t *self = *self_p;
    free(self->keys);
    free(self->open);
    free(self->workers);
    free(self);
    *self_p = NULL;
}

void dash_state_counts(const dash_state_t *self, int64_t *signed_count, int64_t *total)
{
    *signed_count = self->signed_count;
    *total = self->total;
}

static void s_event(dash_state_t *self, int64_t at_us, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void s_event(dash_state_t *self, int64_t at_us, const char *kind, const char *fmt, ...)
{
    s_event_t *e = &self->events[self->event_next];
    self->event_next = (self->event_next + 1) % S_EVENTS;
    if (self->event_count < S_EVENTS)
        self->event_count++;
    e->at_us = at_us;
    e->kind = kind;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->text, sizeof e->text, fmt, ap);
    va_end(ap);
}

static s_key_t *s_find_key(dash_state_t *self, int32_t id)
{
    size_t lo = 0, hi = self->key_count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (self->keys[mid].id == id)
            return &self->keys[mid];
        if (self->keys[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* After the lease log was reset: uses, holders and workers start over. */
static void s_forget_leases(dash_state_t *self)
{
    for (size_t i = 0; i < self->key_count; i++) {
        self->keys[i].uses = 0;
        self->keys[i].last_used_us = ADMIN_TIME_NULL;
    }
    self->open_count = 0;
    self->worker_count = 0;
    self->last_lease_id = 0;
}

/* Records: only those above the highest id counted; the whole table again
 * (at most every 10 s) when more are signed than counted, i.e. records
 * were added below that id. */
static int s_refresh_counts(dash_state_t *self, PGconn *conn, int64_t now_us)
{
    if (admin_store_dash_signed(conn, &self->signed_count))
        return -1;
    /* Deleted records leave the total; a lease log that went back (an
     * operator's reset) drops every figure read from it. */
    PGresult *changes = admin_store_dash_changes(conn, self->deleted_after_us);
    if (!changes)
        return -1;
    int64_t top_lease = rs_db_get_int8(changes, 0, 0), deleted = rs_db_get_int8(changes, 0, 1);
    self->deleted_after_us = rs_db_get_int8(changes, 0, 2);
    PQclear(changes);
    if (self->counted)
        self->total -= deleted;
    if (top_lease < self->last_lease_id)
        s_forget_leases(self);
    bool recount = !self->counted
                   || (self->signed_count > self->total
                       && now_us - self->last_recount_us >= S_RECOUNT_US);
    PGresult *res = admin_store_dash_records_after(conn, recount ? INT64_MIN : self->top_record_id);
    if (!res)
        return -1;
    int64_t count = rs_db_get_int8(res, 0, 0), top = rs_db_get_int8(res, 0, 1);
    PQclear(res);
    if (recount) {
        self->total = count;
        self->counted = true;
        self->last_recount_us = now_us;
    }
    else
        self->total += count;
    self->top_record_id = top;
    return 0;
}

/* The keyring, keeping each key's use; a retirement becomes an event. */
static int s_refresh_keys(dash_state_t *self, PGconn *conn)
{
    PGresult *res = admin_store_dash_keys(conn);
    if (!res)
        return -1;
    size_t n = (size_t) PQntuples(res);
    s_key_t *keys = calloc(n ? n : 1, sizeof *keys);
    if (!keys) {
        PQclear(res);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        s_key_t *k = &keys[i];
        k->id = rs_db_get_int4(res, (int) i, 0);
        k->live_at = admin_store_get_time(res, (int) i, 1);
        k->retire_requested_at = admin_store_get_time(res, (int) i, 2);
        k->retired_at = admin_store_get_time(res, (int) i, 3);
        k->quarantined_at = admin_store_get_time(res, (int) i, 4);
        snprintf(k->algorithm, sizeof k->algorithm, "%s", PQgetvalue(res, (int) i, 5));
        k->last_used_us = ADMIN_TIME_NULL;
        const s_key_t *old = s_find_key(self, k->id);
        if (old) {
            k->uses = old->uses;
            k->last_used_us = old->last_used_us;
            if (old->retired_at == ADMIN_TIME_NULL && k->retired_at != ADMIN_TIME_NULL)
                s_event(self, k->retired_at, "retired", "key %d retired", k->id);
        }
        /* A quarantine waits for an operator: shown also when it predates
         * the dashboard. */
        if ((!old || old->quarantined_at == ADMIN_TIME_NULL) && k->quarantined_at != ADMIN_TIME_NULL
            && k->retired_at == ADMIN_TIME_NULL)
            s_event(self, k->quarantined_at, "quarantined",
                    "key %d quarantined: its secret cannot be unsealed (recsign keys retire %d; "
                    "recsign keys add 1)", k->id, k->id);
    }
    PQclear(res);
    free(self->keys);
    self->keys = keys;
    self->key_count = n;
    return 0;
}

static int s_open_add(dash_state_t *self, const PGresult *res, int row)
{
    if (self->open_count == self->open_cap) {
        size_t cap = self->open_cap ? self->open_cap * 2 : 64;
        s_lease_t *grown = realloc(self->open, cap * sizeof *grown);
        if (!grown)
            return -1;
        self->open = grown;
        self->open_cap = cap;
    }
    s_lease_t *l = &self->open[self->open_count++];
    l->id = rs_db_get_int8(res, row, 0);
    l->key_id = rs_db_get_int4(res, row, 1);
    snprintf(l->holder, sizeof l->holder, "%s", PQgetvalue(res, row, 2));
    l->granted_us = admin_store_get_time(res, row, 3);
    return 0;
}

/* A lease row (dash_leases_* columns) that ended by expiry: an event. */
static void s_note_expired(dash_state_t *self, const PGresult *res, int row)
{
    if (PQgetisnull(res, row, 5) || strcmp(PQgetvalue(res, row, 5), "expired") != 0)
        return;
    s_event(self, admin_store_get_time(res, row, 4), "expired",
            "lease %lld on key %d of %s expired", (long long) rs_db_get_int8(res, row, 0),
            rs_db_get_int4(res, row, 1), PQgetvalue(res, row, 2));
}

/* The leases open at the last refresh, re-read by id: those that ended
 * leave the open set. */
static int s_recheck_open(dash_state_t *self, PGconn *conn)
{
    if (self->open_count == 0)
        return 0;
    int64_t *ids = malloc(self->open_count * sizeof *ids);
    if (!ids)
        return -1;
    for (size_t i = 0; i < self->open_count; i++)
        ids[i] = self->open[i].id;
    PGresult *res = admin_store_dash_leases_by_id(conn, ids, self->open_count);
    free(ids);
    if (!res)
        return -1;
    size_t kept = 0;
    int rows = PQntuples(res);
    for (int r = 0; r < rows; r++) {
        if (PQgetisnull(res, r, 4)) {
            kept += s_open_add(self, res, r) == 0; /* appended after the old ones */
            continue;
        }
        s_note_expired(self, res, r);
    }
    PQclear(res);
    /* The still-open ones were appended: move them to the front. */
    memmove(self->open, self->open + (self->open_count - kept), kept * sizeof *self->open);
    self->open_count = kept;
    return 0;
}

static int s_worker_seen(dash_state_t *self, const char *name, int64_t leases, int64_t at_us)
{
    for (size_t i = 0; i < self->worker_count; i++)
        if (strcmp(self->workers[i].name, name) == 0) {
            self->workers[i].leases += leases;
            if (at_us > self->workers[i].last_seen_us)
                self->workers[i].last_seen_us = at_us;
            return 0;
        }
    if (self->worker_count == self->worker_cap) {
        size_t cap = self->worker_cap ? self->worker_cap * 2 : 16;
        s_worker_t *grown = realloc(self->workers, cap * sizeof *grown);
        if (!grown)
            return -1;
        self->workers = grown;
        self->worker_cap = cap;
    }
    s_worker_t *w = &self->workers[self->worker_count++];
    snprintf(w->name, sizeof w->name, "%s", name);
    w->leases = leases;
    w->last_seen_us = at_us;
    return 0;
}

/* Leases granted since the last refresh: key use, new open leases, new
 * expiries, workers. */
static int s_refresh_leases(dash_state_t *self, PGconn *conn)
{
    if (s_recheck_open(self, conn))
        return -1;
    PGresult *res = admin_store_dash_lease_use(conn, self->last_lease_id);
    if (!res)
        return -1;
    int64_t upto = self->last_lease_id;
    for (int r = 0; r < PQntuples(res); r++) {
        s_key_t *k = s_find_key(self, rs_db_get_int4(res, r, 0));
        int64_t top = rs_db_get_int8(res, r, 2), last = admin_store_get_time(res, r, 3);
        if (top > upto)
            upto = top;
        if (!k)
            continue; /* a key added since the keyring was read: next refresh */
        k->uses += rs_db_get_int8(res, r, 1);
        if (last > k->last_used_us)
            k->last_used_us = last;
    }
    PQclear(res);
    if (upto == self->last_lease_id)
        return 0;
    res = admin_store_dash_leases_new(conn, self->last_lease_id, upto, S_NEW_LEASES_MAX);
    if (!res)
        return -1;
    for (int r = 0; r < PQntuples(res); r++) {
        if (PQgetisnull(res, r, 4)) {
            if (s_open_add(self, res, r)) {
                PQclear(res);
                return -1;
            }
        }
        else
            s_note_expired(self, res, r);
    }
    PQclear(res);
    res = admin_store_dash_workers(conn, self->last_lease_id, upto);
    if (!res)
        return -1;
    for (int r = 0; r < PQntuples(res); r++)
        if (s_worker_seen(self, PQgetvalue(res, r, 0), rs_db_get_int8(res, r, 1),
                          admin_store_get_time(res, r, 2))) {
            PQclear(res);
            return -1;
        }
    PQclear(res);
    self->last_lease_id = upto;
    return 0;
}

static int s_refresh_refusals(dash_state_t *self, PGconn *conn)
{
    PGresult *res = admin_store_dash_refusals(conn, self->last_refusal_id, S_REFUSALS_MAX);
    if (!res)
        return -1;
    for (int r = 0; r < PQntuples(res); r++) {
        self->last_refusal_id = rs_db_get_int8(res, r, 0);
        s_event(self, admin_store_get_time(res, r, 5), "refused",
                "%d signatures under lease %lld on key %d refused: %s",
                rs_db_get_int4(res, r, 3), (long long) rs_db_get_int8(res, r, 1),
                rs_db_get_int4(res, r, 2), PQgetvalue(res, r, 4));
    }
    PQclear(res);
    return 0;
}

static int s_refresh_run(dash_state_t *self, PGconn *conn)
{
    PGresult *res = admin_store_runs(conn, 1);
    if (!res)
        return -1;
    if (PQntuples(res) == 1) {
        self->run_id = rs_db_get_int8(res, 0, 0);
        self->run_batch_size = rs_db_get_int4(res, 0, 1);
        self->run_started_us = admin_store_get_time(res, 0, 2);
        self->run_dispatched_us = admin_store_get_time(res, 0, 3);
        self->run_finished_us = admin_store_get_time(res, 0, 4);
    }
    PQclear(res);
    return 0;
}

int dash_state_refresh(dash_state_t *self, PGconn *conn, int64_t now_us)
{
    /* Keys before leases, so that new leases find their key. */
    if (s_refresh_counts(self, conn, now_us) || s_refresh_keys(self, conn)
        || s_refresh_leases(self, conn) || s_refresh_refusals(self, conn)
        || s_refresh_run(self, conn)) {
        snprintf(self->error, sizeof self->error, "database: %s", rs_db_error(conn));
        return -1;
    }
    self->error[0] = '\0';
    s_sample_t *s = &self->samples[self->sample_next];
    self->sample_next = (self->sample_next + 1) % S_RATE_SAMPLES;
    if (self->sample_count < S_RATE_SAMPLES)
        self->sample_count++;
    s->at_us = now_us;
    s->signed_count = self->signed_count;
    return 0;
}

/* Writes text as a JSON string. */
static void s_json_string(FILE *out, const char *text)
{
    fputc('"', out);
    for (const unsigned char *c = (const unsigned char *) text; *c; c++) {
        if (*c == '"' || *c == '\\')
            fprintf(out, "\\%c", *c);
        else if (*c < 0x20 || *c == 0x7f || *c == '<' || *c == '>' || *c == '&')
            fprintf(out, "\\u%04x", *c);
        else
            fputc(*c, out);
    }
    fputc('"', out);
}

/* Microseconds since the epoch as JSON milliseconds, or null. */
static void s_json_ms(FILE *out, int64_t us)
{
    if (us == ADMIN_TIME_NULL || us == INT64_MAX)
        fputs("null", out);
    else
        fprintf(out, "%lld", (long long) (us / 1000));
}

static const char *s_key_state(const s_key_t *k, bool held)
{
    if (held)
        return "leased";
    if (k->retired_at != ADMIN_TIME_NULL)
        return "retired";
    if (k->quarantined_at != ADMIN_TIME_NULL)
        return "quarantined";
    if (k->retire_requested_at != ADMIN_TIME_NULL)
        return "retiring";
    if (k->live_at == ADMIN_TIME_NULL)
        return "new";
    return "free";
}

static void s_json_keys(const dash_state_t *self, FILE *out)
{
    fputs(",\"keys\":[", out);
    for (size_t i = 0; i < self->key_count; i++) {
        const s_key_t *k = &self->keys[i];
        const s_lease_t *lease = NULL;
        for (size_t j = 0; j < self->open_count && !lease; j++)
            if (self->open[j].key_id == k->id)
                lease = &self->open[j];
        fprintf(out, "%s{\"id\":%d,\"state\":\"%s\",\"uses\":%lld,\"last_used\":", i ? "," : "",
                k->id, s_key_state(k, lease != NULL), (long long) k->uses);
        s_json_ms(out, k->last_used_us);
        fputs(",\"holder\":", out);
        s_json_string(out, lease ? lease->holder : "");
        fputs(",\"algorithm\":", out);
        s_json_string(out, k->algorithm);
        fputc('}', out);
    }
    fputc(']', out);
}

static void s_json_activity(const dash_state_t *self, FILE *out, int64_t now_us)
{
    fputs(",\"leases\":[", out);
    for (size_t i = 0; i < self->open_count; i++) {
        const s_lease_t *l = &self->open[i];
        fprintf(out, "%s{\"id\":%lld,\"key\":%d,\"granted\":", i ? "," : "", (long long) l->id,
                l->key_id);
        s_json_ms(out, l->granted_us);
        fputs(",\"holder\":", out);
        s_json_string(out, l->holder);
        fputc('}', out);
    }
    fputs("],\"workers\":[", out);
    bool first = true;
    for (size_t i = 0; i < self->worker_count; i++) {
        const s_worker_t *w = &self->workers[i];
        if (now_us - w->last_seen_us > S_WORKER_SHOWN_US)
            continue;
        fprintf(out, "%s{\"name\":", first ? "" : ",");
        s_json_string(out, w->name);
        fprintf(out, ",\"leases\":%lld,\"last_seen\":", (long long) w->leases);
        s_json_ms(out, w->last_seen_us);
        fputc('}', out);
        first = false;
    }
    fputs("],\"events\":[", out);
    for (size_t i = 0; i < self->event_count; i++) {
        /* Newest first. */
        const s_event_t *e = &self->events[(self->event_next + S_EVENTS - 1 - i) % S_EVENTS];
        fprintf(out, "%s{\"kind\":\"%s\",\"at\":", i ? "," : "", e->kind);
        s_json_ms(out, e->at_us);
        fputs(",\"text\":", out);
        s_json_string(out, e->text);
        fputc('}', out);
    }
    fputc(']', out);
}

char *dash_state_json(const dash_state_t *self, int64_t now_us, size_t *size)
{
    char *text = NULL;
    *size = 0;
    FILE *out = open_memstream(&text, size);
    if (!out)
        return NULL;
    fprintf(out, "{\"now\":%lld,\"signed\":%lld,\"total\":%lld,\"run\":",
            (long long) (now_us / 1000), (long long) self->signed_count, (long long) self->total);
    if (self->run_id) {
        fprintf(out, "{\"id\":%lld,\"batch_size\":%lld,\"started\":", (long long) self->run_id,
                (long long) self->run_batch_size);
        s_json_ms(out, self->run_started_us);
        fputs(",\"first_dispatch\":", out);
        s_json_ms(out, self->run_dispatched_us);
        fputs(",\"finished\":", out);
        s_json_ms(out, self->run_finished_us);
        fputc('}', out);
    }
    else
        fputs("null", out);
    /* Records per second over the last S_RATE_WINDOW_US before each
     * refresh, oldest first: smooth enough to read when workers sign in
     * bursts (a paced worker signs a message of batches, then waits). */
    fputs(",\"rate\":[", out);
    size_t first = (self->sample_next + S_RATE_SAMPLES - self->sample_count) % S_RATE_SAMPLES;
    size_t from = 0;
    for (size_t i = 1; i < self->sample_count; i++) {
        const s_sample_t *b = &self->samples[(first + i) % S_RATE_SAMPLES];
        while (from + 1 < i
               && b->at_us - self->samples[(first + from + 1) % S_RATE_SAMPLES].at_us
                      >= S_RATE_WINDOW_US)
            from++;
        const s_sample_t *a = &self->samples[(first + from) % S_RATE_SAMPLES];
        double seconds = (double) (b->at_us - a->at_us) / 1e6;
        double rate = seconds > 0 ? (double) (b->signed_count - a->signed_count) / seconds : 0;
        fprintf(out, "%s[%lld,%.0f]", i > 1 ? "," : "", (long long) (b->at_us / 1000),
                rate < 0 ? 0 : rate);
    }
    fputc(']', out);
    s_json_keys(self, out);
    s_json_activity(self, out, now_us);
    fputs(",\"error\":", out);
    s_json_string(out, self->error);
    fputc('}', out);
    if (fclose(out) != 0) {
        free(text);
        return NULL;
    }
    return text;
}
