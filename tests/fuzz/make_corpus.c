/* make_corpus: writes the seed corpus of the fuzz targets — valid messages
 * of every type made by the real encoders, with the edge cases (empty
 * payload, several batches to a message and the most a message holds,
 * several release and renew ids, the largest want, longest holder, several
 * grants, largest sealed secret and largest reply, negative and extreme
 * ids, signatures of every algorithm's length) — as OUTDIR/<target>/<name>. Each one is checked to decode before it
 * is written. Usage: make_corpus OUTDIR */
#include "rs_crypto.h"
#include "rs_proto.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *s_outdir;
static int s_failed;

static void s_write(const char *target, const char *name, const uint8_t *data, size_t size)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", s_outdir, target);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        perror(path);
        s_failed = 1;
        return;
    }
    snprintf(path, sizeof path, "%s/%s/%s", s_outdir, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
        perror(path);
        s_failed = 1;
    }
}

/* --- BATCH ------------------------------------------------------------ */

typedef struct {
    int64_t id;
    size_t payload_len;
} s_record_t;

/* In a list of records: closes the open batch (the list's end closes the
 * last one). */
#define S_CLOSE ((s_record_t) {0, SIZE_MAX})

static void s_batch(rs_batch_writer_t *w, const char *name, uint64_t run_id,
                    const s_record_t *records, size_t n)
{
    static uint8_t payload[70000];
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (uint8_t) (i * 31 + 7);
    rs_batch_writer_reset(w, run_id);
    for (size_t i = 0; i <= n; i++) {
        if (i == n || records[i].payload_len == SIZE_MAX) {
            if (rs_batch_writer_close(w) < 0) {
                fprintf(stderr, "make_corpus: %s: batch closing at %zu refused\n", name, i);
                s_failed = 1;
                return;
            }
            continue;
        }
        if (rs_batch_writer_add(w, records[i].id, payload, records[i].payload_len) != 0) {
            fprintf(stderr, "make_corpus: %s: record %zu refused\n", name, i);
            s_failed = 1;
            return;
        }
    }
    size_t size;
    const uint8_t *data = rs_batch_writer_data(w, &size);
    rs_batches_t check;
    if (rs_batch_decode(&check, data, size) != 0) {
        fprintf(stderr, "make_corpus: %s: does not decode\n", name);
        s_failed = 1;
        return;
    }
    s_write("batch", name, data, size);
}

static void s_batches(void)
{
    rs_batch_writer_t *w = rs_batch_writer_new();
    if (!w) {
        s_failed = 1;
        return;
    }
    /* One batch. */
    s_batch(w, "one-record", 1, (s_record_t[]) {{1, 16}}, 1);
    s_batch(w, "empty-payload", 2, (s_record_t[]) {{42, 0}}, 1);
    s_batch(w, "negative-ids", 3, (s_record_t[]) {{-1, 5}, {INT64_MIN, 0}, {-1000, 1}}, 3);
    s_batch(w, "extreme-ids-run-max", UINT64_MAX,
            (s_record_t[]) {{INT64_MAX, 3}, {INT64_MIN, 3}, {0, 3}}, 3);
    s_batch(w, "run-zero-mixed", 0,
            (s_record_t[]) {{1, 0}, {2, 1}, {3, 17}, {5, 64}, {8, 0}, {13, 100}, {21, 2}}, 7);
    s_batch(w, "payload-4k", 7, (s_record_t[]) {{100, 4096}, {101, 0}}, 2);
    /* Over the writer's first 64 KiB: rebuilding it makes the writer grow. */
    s_batch(w, "payload-70k", 8, (s_record_t[]) {{200, 70000}}, 1);
    s_record_t many[100];
    for (size_t i = 0; i < 100; i++)
        many[i] = (s_record_t) {(int64_t) i * 1000 - 50000, i % 9};
    s_batch(w, "hundred-records", 9, many, 100);

    /* Several batches to a message. */
    s_batch(w, "two-batches", 10, (s_record_t[]) {{1, 5}, {2, 0}, S_CLOSE, {3, 3}}, 4);
    s_batch(w, "three-batches-mixed", 11,
            (s_record_t[]) {{-5, 0}, S_CLOSE, {INT64_MAX, 40}, {INT64_MIN, 1}, {0, 0}, S_CLOSE,
                            {7, 300}, {7, 300}},
            8);
    /* The writer grows past its first 64 KiB in a later batch. */
    s_batch(w, "two-batches-payload-70k", 12,
            (s_record_t[]) {{300, 100}, {301, 2}, S_CLOSE, {302, 70000}, {303, 1}}, 5);
    /* The most batches a message holds: RS_GROUP_MAX of one record each. */
    s_record_t singles[2 * RS_GROUP_MAX];
    size_t n = 0;
    for (size_t b = 0; b < RS_GROUP_MAX; b++) {
        singles[n++] = (s_record_t) {(int64_t) b + 1, b % 5};
        singles[n++] = S_CLOSE;
    }
    s_batch(w, "max-batches-one-record", 13, singles, n);
    /* RS_GROUP_MAX batches of 1..7 records each. */
    s_record_t groups[RS_GROUP_MAX * 8];
    n = 0;
    for (size_t b = 0; b < RS_GROUP_MAX; b++) {
        for (size_t i = 0; i <= b % 7; i++)
            groups[n++] = (s_record_t) {(int64_t) (b * 100 + i) - 3000, (b + i) % 11};
        groups[n++] = S_CLOSE;
    }
    s_batch(w, "max-batches-mixed", UINT64_MAX - 1, groups, n);
    rs_batch_writer_destroy(&w);
}

/* --- LEASE_REQ -------------------------------------------------------- */

static void s_req(const char *name, const rs_lease_req_t *msg)
{
    uint8_t buf[RS_LEASE_REQ_MAX_BYTES];
    size_t n = rs_lease_req_encode(msg, buf, sizeof buf);
    rs_lease_req_t check;
    if (!n || rs_lease_req_decode(&check, buf, n) != 0) {
        fprintf(stderr, "make_corpus: lease_req %s refused\n", name);
        s_failed = 1;
        return;
    }
    s_write("lease_req", name, buf, n);
}

static void s_reqs(void)
{
    s_req("ping", &(rs_lease_req_t) {.seq = 1, .holder = "worker-1/0"});
    s_req("want", &(rs_lease_req_t) {.seq = 2, .want = 1, .run_id = 5, .batch_records = 100,
                                     .holder = "host.example:1234/3"});
    s_req("release-renew-want",
          &(rs_lease_req_t) {.seq = 3, .release_count = 1, .release = {17}, .renew_count = 1,
                             .renew = {18}, .want = 1, .run_id = 6, .batch_records = 1,
                             .holder = "w"});
    s_req("release-only",
          &(rs_lease_req_t) {.seq = 4, .release_count = 1, .release = {19}, .holder = "w/1"});
    s_req("broken-release-want",
          &(rs_lease_req_t) {.seq = 10, .release_count = 1, .release = {40}, .broken_count = 2,
                             .broken = {41, 42}, .want = 2, .run_id = 11, .batch_records = 50,
                             .holder = "w/5"});
    s_req("renew-only",
          &(rs_lease_req_t) {.seq = 6, .renew_count = 2, .renew = {20, 21}, .holder = "w/2"});
    s_req("empty-holder", &(rs_lease_req_t) {.seq = 5, .want = 1, .batch_records = 7});
    s_req("several-release-renew-want",
          &(rs_lease_req_t) {.seq = 7, .release_count = 3, .release = {30, 31, UINT64_MAX},
                             .renew_count = 2, .renew = {1, 32}, .want = 5, .run_id = 8,
                             .batch_records = 2500, .holder = "host-b:5555/7"});
    s_req("want-max", &(rs_lease_req_t) {.seq = 8, .want = RS_GROUP_MAX, .run_id = 9,
                                         .batch_records = 10, .holder = "w/3"});
    rs_lease_req_t rel = {.seq = 9, .release_count = RS_GROUP_MAX, .want = 2, .run_id = 10,
                          .batch_records = 1, .holder = "w/4"};
    for (size_t i = 0; i < RS_GROUP_MAX; i++)
        rel.release[i] = 1000 + i;
    s_req("release-max-want", &rel);
    /* The largest request: every list full, the longest holder, extreme
     * values everywhere. */
    rs_lease_req_t max = {.seq = UINT64_MAX, .release_count = RS_GROUP_MAX,
                          .renew_count = RS_GROUP_MAX, .broken_count = RS_GROUP_MAX,
                          .want = RS_GROUP_MAX,
                          .run_id = UINT64_MAX, .batch_records = UINT32_MAX};
    for (size_t i = 0; i < RS_GROUP_MAX; i++) {
        max.release[i] = UINT64_MAX - i;
        max.renew[i] = UINT64_MAX - RS_GROUP_MAX - i;
        max.broken[i] = UINT64_MAX - 2 * RS_GROUP_MAX - i;
    }
    for (size_t i = 0; i < RS_HOLDER_MAX; i++)
        max.holder[i] = (char) (0x20 + i % 95); /* every printable character */
    s_req("max-holder-max-ids", &max);
}

/* --- LEASE_REP -------------------------------------------------------- */

static void s_rep(const char *name, rs_lease_rep_t *msg)
{
    for (size_t g = 0; g < msg->granted && g < RS_GROUP_MAX; g++)
        for (size_t i = 0; i < msg->grants[g].sealed_len && i < RS_SEALED_MAX; i++)
            msg->grants[g].sealed[i] = (uint8_t) (i * 13 + g * 7 + 1);
    uint8_t buf[RS_LEASE_REP_MAX_BYTES];
    size_t n = rs_lease_rep_encode(msg, buf, sizeof buf);
    static rs_lease_rep_t check;
    if (!n || rs_lease_rep_decode(&check, buf, n) != 0) {
        fprintf(stderr, "make_corpus: lease_rep %s refused\n", name);
        s_failed = 1;
        return;
    }
    s_write("lease_rep", name, buf, n);
}

static void s_reps(void)
{
    static rs_lease_rep_t m;
    m = (rs_lease_rep_t) {.seq = 1};
    s_rep("no-grant", &m);
    m = (rs_lease_rep_t) {.seq = 2, .ttl_ms = 30000, .granted = 1};
    m.grants[0] = (rs_lease_grant_t) {.lease_id = 9, .key_id = 3, .sealed_len = RS_SEALED_BYTES};
    s_rep("grant", &m);
    m = (rs_lease_rep_t) {.seq = 3, .release_status = RS_RELEASE_OK,
                          .renew_status = RS_RELEASE_UNKNOWN, .ttl_ms = 1, .granted = 2};
    m.grants[0] = (rs_lease_grant_t) {.lease_id = 10, .key_id = 1, .sealed_len = RS_SEALED_BYTES};
    m.grants[1] = (rs_lease_grant_t) {.lease_id = 11, .key_id = 2, .sealed_len = RS_SEALED_BYTES};
    s_rep("release-ok-renew-unknown-grants", &m);
    m = (rs_lease_rep_t) {.seq = 4, .release_status = RS_RELEASE_UNKNOWN,
                          .renew_status = RS_RELEASE_OK};
    s_rep("release-unknown-no-grant", &m);
    /* Grants of different sizes, the smallest secret among them. */
    m = (rs_lease_rep_t) {.seq = 5, .release_status = RS_RELEASE_OK,
                          .renew_status = RS_RELEASE_OK, .ttl_ms = 60000, .granted = 3};
    m.grants[0] = (rs_lease_grant_t) {.lease_id = 20, .key_id = 0, .sealed_len = 1};
    m.grants[1] = (rs_lease_grant_t) {.lease_id = 21, .key_id = 7, .sealed_len = RS_SEALED_BYTES};
    m.grants[2] = (rs_lease_grant_t) {.lease_id = 1, .key_id = UINT32_MAX,
                                      .sealed_len = RS_SEALED_MAX};
    s_rep("three-grants-mixed-sizes", &m);
    m = (rs_lease_rep_t) {.seq = UINT64_MAX, .ttl_ms = UINT32_MAX, .granted = 1};
    m.grants[0] = (rs_lease_grant_t) {.lease_id = UINT64_MAX, .key_id = UINT32_MAX,
                                      .sealed_len = RS_SEALED_MAX};
    s_rep("max-sealed-max-ids", &m);
    /* Sealed secrets of every algorithm's size: Ed25519 (104), ECDSA P-256
     * PKCS#8 (178), RSA-2048, -3072 and -4096 PKCS#8 (about 1,258, 1,834
     * and 2,415 bytes). */
    static const uint16_t sealed_sizes[] = { RS_SEALED_BYTES, 178, 1258, 1834, 2415 };
    m = (rs_lease_rep_t) {.seq = 7, .ttl_ms = 10000, .granted = 5};
    for (uint32_t i = 0; i < 5; i++)
        m.grants[i] = (rs_lease_grant_t) {.lease_id = 200 + i, .key_id = 40 + i,
                                          .sealed_len = sealed_sizes[i]};
    s_rep("secrets-of-every-algorithm", &m);
    /* As many grants as a request may want, each of a real sealed size. */
    m = (rs_lease_rep_t) {.seq = 6, .ttl_ms = 30000, .granted = RS_GROUP_MAX};
    for (uint32_t i = 0; i < RS_GROUP_MAX; i++)
        m.grants[i] = (rs_lease_grant_t) {.lease_id = 100 + i, .key_id = i,
                                          .sealed_len = RS_SEALED_BYTES};
    s_rep("max-grants", &m);
    /* The largest reply: RS_LEASE_REP_MAX_BYTES. */
    m = (rs_lease_rep_t) {.seq = UINT64_MAX, .release_status = RS_RELEASE_UNKNOWN,
                          .renew_status = RS_RELEASE_UNKNOWN, .ttl_ms = UINT32_MAX,
                          .granted = RS_GROUP_MAX};
    for (uint32_t i = 0; i < RS_GROUP_MAX; i++)
        m.grants[i] = (rs_lease_grant_t) {.lease_id = UINT64_MAX - i, .key_id = UINT32_MAX - i,
                                          .sealed_len = RS_SEALED_MAX};
    s_rep("largest-reply", &m);
}

/* --- RESULTS ---------------------------------------------------------- */

/* A RESULTS message of `count` entries in slots of `slot` bytes, entry i's
 * signature lengths[i] bytes long (slot when lengths is NULL). */
static void s_results(const char *name, uint64_t lease_id, uint32_t key_id, const int64_t *ids,
                      uint32_t count, uint16_t slot, const size_t *lengths)
{
    uint8_t *buf = malloc(rs_results_size(count, slot));
    if (!buf) {
        s_failed = 1;
        return;
    }
    size_t size = rs_results_begin(buf, lease_id, key_id, count, slot);
    uint8_t sig[RS_SIG_MAX];
    for (uint32_t i = 0; i < count; i++) {
        for (size_t j = 0; j < sizeof sig; j++)
            sig[j] = (uint8_t) (i + j * 7 + 1);
        rs_results_put(buf, slot, i, ids[i], sig, lengths ? lengths[i] : slot);
    }
    rs_results_t check;
    if (rs_results_decode(&check, buf, size) != 0) {
        fprintf(stderr, "make_corpus: results %s does not decode\n", name);
        s_failed = 1;
    } else {
        s_write("results", name, buf, size);
    }
    free(buf);
}

static void s_resultses(void)
{
    s_results("one", 1, 0, (int64_t[]) {1}, 1, RS_SIG_BYTES, NULL);
    s_results("negative-ids", 7, 3, (int64_t[]) {-1, -2, -1000000}, 3, RS_SIG_BYTES, NULL);
    s_results("extreme-ids", UINT64_MAX, UINT32_MAX, (int64_t[]) {INT64_MIN, INT64_MAX, 0}, 3,
              RS_SIG_BYTES, NULL);
    int64_t ids[20];
    for (int i = 0; i < 20; i++)
        ids[i] = i * 3;
    s_results("twenty", 12, 5, ids, 20, RS_SIG_BYTES, NULL);
    /* ECDSA P-256: DER signatures of 70 to 72 bytes (and a short one) in
     * 72-byte slots. */
    s_results("ecdsa-mixed-lengths", 13, 6, ids, 5, 72, (size_t[]) {70, 71, 72, 71, 8});
    s_results("rsa-2048", 14, 7, ids, 2, 256, NULL);
    s_results("rsa-3072", 15, 8, ids, 2, 384, NULL);
    s_results("rsa-4096", 16, 9, ids, 3, RS_SIG_MAX, NULL);
    s_results("one-byte-slot", 17, 10, ids, 2, 1, NULL);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_corpus OUTDIR\n");
        return 2;
    }
    s_outdir = argv[1];
    if (mkdir(s_outdir, 0755) != 0 && errno != EEXIST) {
        perror(s_outdir);
        return 1;
    }
    s_batches();
    s_reqs();
    s_reps();
    s_resultses();
    return s_failed;
}
