/* sink_race: two sink stores writing into one database at once, as two
 * recsign-sink processes do when workers are given both (--sink A,B). Run
 * by tests/sinks_concurrent.sh against a real PostgreSQL whose lease log
 * holds leases 1..LEASES (open, key (id - 1) % KEYS + 1) and lease
 * EXPIRED_LEASE (ended by expiry).
 *
 * Each round, both stores buffer the same ROUND_RECORDS signatures (the
 * same records re-dispatched to two workers that pushed to different
 * sinks): store A in ascending record order, store B in descending order,
 * so that their writes meet in opposite orders; plus results under the
 * expired lease, which each must refuse. Both then flush at the same
 * moment. A flush that fails is retried, as sink_loop does.
 *
 * Prints "stored A B refused A B retries N" and exits 0, or 1 on an error.
 * The test script then checks the table: every record once, the counts.
 *
 * With FIRST COUNT after KEYS, one store instead buffers COUNT records from
 * FIRST on under lease 1, in messages of S_PER_MESSAGE, and flushes them
 * once: a flush of several COPYs (sink_store.c sends at most 200 rows a
 * COPY), for the test to meet rows already stored in a later one of them.
 * Prints "stored N" and exits 0, or 1 on an error. */
#include "sink_store.h"
#include "rs_log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_ROUNDS 12
#define S_ROUND_RECORDS 2000
#define S_PER_MESSAGE 50
#define S_SIG_BYTES 64
#define S_EXPIRED_LEASE 999

typedef struct {
    const char *db_url;
    int leases, keys;
    bool descending;
    pthread_barrier_t *barrier;
    int64_t stored, refused;
    int retries;
    int failed;
} s_side_t;

/* Buffers one message: `count` records from first_id on, under lease_id. */
static int s_add(sink_store_t *store, uint64_t lease_id, uint32_t key_id, int64_t first_id,
                 uint32_t count, bool descending)
{
    size_t size = rs_results_size(count, S_SIG_BYTES);
    uint8_t *buf = malloc(size);
    if (!buf)
        return -1;
    rs_results_begin(buf, lease_id, key_id, count, S_SIG_BYTES);
    uint8_t sig[S_SIG_BYTES];
    for (uint32_t i = 0; i < count; i++) {
        int64_t id = descending ? first_id + count - 1 - i : first_id + i;
        memset(sig, (int) (id & 0xff) | 1, sizeof sig);
        rs_results_put(buf, S_SIG_BYTES, i, id, sig, sizeof sig);
    }
    rs_results_t results;
    int rc = rs_results_decode(&results, buf, size) == 0 ? sink_store_add(store, &results, "") : -1;
    free(buf);
    return rc;
}

static void *s_run(void *arg)
{
    s_side_t *side = arg;
    char err[512];
    sink_store_t *store = sink_store_new(side->db_url, err, sizeof err);
    if (!store) {
        rs_error("%s", err);
        side->failed = 1;
        return NULL;
    }
    const int messages = S_ROUND_RECORDS / S_PER_MESSAGE;
    for (int round = 0; round < S_ROUNDS && !side->failed; round++) {
        int64_t base = 1 + (int64_t) round * S_ROUND_RECORDS;
        for (int m = 0; m < messages; m++) {
            int k = side->descending ? messages - 1 - m : m;
            uint64_t lease = 1 + (uint64_t) ((round * messages + k) % side->leases);
            uint32_t key = (uint32_t) ((lease - 1) % (uint64_t) side->keys + 1);
            if (s_add(store, lease, key, base + (int64_t) k * S_PER_MESSAGE, S_PER_MESSAGE,
                      side->descending)
                != 0) {
                side->failed = 1;
                break;
            }
        }
        /* Records past the round's, under the expired lease: never stored. */
        if (s_add(store, S_EXPIRED_LEASE, 1, 1000000 + round * 10, 10, false) != 0)
            side->failed = 1;
        pthread_barrier_wait(side->barrier);
        for (int attempt = 0; !side->failed; attempt++) {
            int64_t inserted, fenced;
            if (sink_store_flush(store, &inserted, &fenced) == 0) {
                side->stored += inserted;
                side->refused += fenced;
                break;
            }
            side->retries++;
            if (attempt == 10 || sink_store_reconnect(store) != 0)
                side->failed = 1;
        }
        if (sink_store_pending(store) != 0) {
            rs_error("round %d: %zu signatures still pending after the flush", round,
                     sink_store_pending(store));
            side->failed = 1;
        }
    }
    sink_store_destroy(&store);
    return NULL;
}

/* One store, one flush of `count` records from `first` on (see above). */
static int s_one_flush(const char *db_url, int64_t first, uint32_t count)
{
    char err[512];
    sink_store_t *store = sink_store_new(db_url, err, sizeof err);
    if (!store) {
        rs_error("%s", err);
        return 1;
    }
    int rc = 0;
    for (uint32_t done = 0; rc == 0 && done < count; done += S_PER_MESSAGE) {
        uint32_t n = count - done < S_PER_MESSAGE ? count - done : S_PER_MESSAGE;
        rc = s_add(store, 1, 1, first + done, n, false);
    }
    int64_t inserted = 0, fenced = 0;
    if (rc == 0 && sink_store_flush(store, &inserted, &fenced) != 0)
        rc = -1;
    if (rc == 0 && sink_store_pending(store) != 0) {
        rs_error("%zu signatures still pending after the flush", sink_store_pending(store));
        rc = -1;
    }
    sink_store_destroy(&store);
    if (rc != 0)
        return 1;
    printf("stored %lld\n", (long long) inserted);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 4 && argc != 6) {
        fprintf(stderr, "usage: sink_race DB_URL LEASES KEYS [FIRST COUNT]\n");
        return 2;
    }
    rs_log_init("sink-race");
    if (argc == 6) {
        long long first = atoll(argv[4]), count = atoll(argv[5]);
        if (count < 1 || count > 100000) {
            fprintf(stderr, "sink_race: COUNT must be in 1..100000\n");
            return 2;
        }
        return s_one_flush(argv[1], first, (uint32_t) count);
    }
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, 2);
    s_side_t sides[2] = {
        { .db_url = argv[1], .leases = atoi(argv[2]), .keys = atoi(argv[3]), .barrier = &barrier },
        { .db_url = argv[1], .leases = atoi(argv[2]), .keys = atoi(argv[3]), .barrier = &barrier,
          .descending = true },
    };
    if (sides[0].leases < 1 || sides[0].keys < 1) {
        fprintf(stderr, "sink_race: LEASES and KEYS must be positive\n");
        return 2;
    }
    pthread_t ids[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&ids[i], NULL, s_run, &sides[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(ids[i], NULL);
    pthread_barrier_destroy(&barrier);
    printf("stored %lld %lld refused %lld %lld retries %d\n", (long long) sides[0].stored,
           (long long) sides[1].stored, (long long) sides[0].refused,
           (long long) sides[1].refused, sides[0].retries + sides[1].retries);
    return sides[0].failed || sides[1].failed ? 1 : 0;
}
