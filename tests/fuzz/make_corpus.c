/* make_corpus: writes the seed corpus of the fuzz targets — valid messages
 * of every type made by the real encoders, with the edge cases (empty
 * payload, longest holder, largest sealed secret, negative and extreme ids)
 * — as OUTDIR/<target>/<name>. Usage: make_corpus OUTDIR */
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

static void s_batch(rs_batch_writer_t *w, const char *name, uint64_t run_id,
                    const s_record_t *records, size_t n)
{
    static uint8_t payload[70000];
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (uint8_t) (i * 31 + 7);
    rs_batch_writer_reset(w, run_id);
    for (size_t i = 0; i < n; i++) {
        if (rs_batch_writer_add(w, records[i].id, payload, records[i].payload_len) != 0) {
            fprintf(stderr, "make_corpus: %s: record %zu refused\n", name, i);
            s_failed = 1;
            return;
        }
    }
    size_t size;
    const uint8_t *data = rs_batch_writer_data(w, &size);
    s_write("batch", name, data, size);
}

static void s_batches(void)
{
    rs_batch_writer_t *w = rs_batch_writer_new();
    if (!w) {
        s_failed = 1;
        return;
    }
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
    rs_batch_writer_destroy(&w);
}

/* --- LEASE_REQ -------------------------------------------------------- */

static void s_req(const char *name, const rs_lease_req_t *msg)
{
    uint8_t buf[RS_LEASE_REQ_MAX_BYTES];
    size_t n = rs_lease_req_encode(msg, buf, sizeof buf);
    if (!n) {
        fprintf(stderr, "make_corpus: lease_req %s refused\n", name);
        s_failed = 1;
        return;
    }
    s_write("lease_req", name, buf, n);
}

static void s_reqs(void)
{
    s_req("ping", &(rs_lease_req_t) {.seq = 1, .holder = "worker-1/0"});
    s_req("want", &(rs_lease_req_t) {.seq = 2, .want = true, .run_id = 5, .batch_records = 100,
                                     .holder = "host.example:1234/3"});
    s_req("release-renew-want",
          &(rs_lease_req_t) {.seq = 3, .release_lease_id = 17, .renew_lease_id = 18, .want = true,
                             .run_id = 6, .batch_records = 1, .holder = "w"});
    s_req("release-only", &(rs_lease_req_t) {.seq = 4, .release_lease_id = 19, .holder = "w/1"});
    s_req("empty-holder", &(rs_lease_req_t) {.seq = 5, .want = true, .batch_records = 7});
    rs_lease_req_t max = {.seq = UINT64_MAX, .release_lease_id = UINT64_MAX,
                          .renew_lease_id = UINT64_MAX, .want = true, .run_id = UINT64_MAX,
                          .batch_records = UINT32_MAX};
    for (size_t i = 0; i < RS_HOLDER_MAX; i++)
        max.holder[i] = (char) (0x20 + i % 95); /* every printable character */
    s_req("max-holder-max-ids", &max);
}

/* --- LEASE_REP -------------------------------------------------------- */

static void s_rep(const char *name, rs_lease_rep_t *msg)
{
    for (size_t i = 0; i < msg->sealed_len; i++)
        msg->sealed[i] = (uint8_t) (i * 13 + 1);
    uint8_t buf[RS_LEASE_REP_MAX_BYTES];
    size_t n = rs_lease_rep_encode(msg, buf, sizeof buf);
    if (!n) {
        fprintf(stderr, "make_corpus: lease_rep %s refused\n", name);
        s_failed = 1;
        return;
    }
    s_write("lease_rep", name, buf, n);
}

static void s_reps(void)
{
    s_rep("no-grant", &(rs_lease_rep_t) {.seq = 1});
    s_rep("grant", &(rs_lease_rep_t) {.seq = 2, .granted = true, .lease_id = 9, .key_id = 3,
                                      .ttl_ms = 30000, .sealed_len = RS_SEALED_BYTES});
    s_rep("release-ok-renew-unknown-grant",
          &(rs_lease_rep_t) {.seq = 3, .release_status = RS_RELEASE_OK,
                             .renew_status = RS_RELEASE_UNKNOWN, .granted = true, .lease_id = 10,
                             .key_id = 1, .ttl_ms = 1, .sealed_len = RS_SEALED_BYTES});
    s_rep("release-unknown-no-grant",
          &(rs_lease_rep_t) {.seq = 4, .release_status = RS_RELEASE_UNKNOWN,
                             .renew_status = RS_RELEASE_OK});
    s_rep("max-sealed-max-ids",
          &(rs_lease_rep_t) {.seq = UINT64_MAX, .granted = true, .lease_id = UINT64_MAX,
                             .key_id = UINT32_MAX, .ttl_ms = UINT32_MAX,
                             .sealed_len = RS_SEALED_MAX});
}

/* --- RESULTS ---------------------------------------------------------- */

static void s_results(const char *name, uint64_t lease_id, uint32_t key_id, const int64_t *ids,
                      uint32_t count)
{
    uint8_t *buf = malloc(rs_results_size(count));
    if (!buf) {
        s_failed = 1;
        return;
    }
    size_t size = rs_results_begin(buf, lease_id, key_id, count);
    uint8_t sig[RS_SIG_BYTES];
    for (uint32_t i = 0; i < count; i++) {
        for (size_t j = 0; j < sizeof sig; j++)
            sig[j] = (uint8_t) (i + j * 7);
        rs_results_put(buf, i, ids[i], sig);
    }
    s_write("results", name, buf, size);
    free(buf);
}

static void s_resultses(void)
{
    s_results("one", 1, 0, (int64_t[]) {1}, 1);
    s_results("negative-ids", 7, 3, (int64_t[]) {-1, -2, -1000000}, 3);
    s_results("extreme-ids", UINT64_MAX, UINT32_MAX, (int64_t[]) {INT64_MIN, INT64_MAX, 0}, 3);
    int64_t ids[20];
    for (int i = 0; i < 20; i++)
        ids[i] = i * 3;
    s_results("twenty", 12, 5, ids, 20);
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
