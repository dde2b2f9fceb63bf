/* lru_replay: replays a lease log against the least-recently-used rule
 * (rule 4) without a database, one event at a time, with key rotation. A
 * key joins the free keys when it goes live (keys.live_at) and leaves
 * them for good when it is retired (keys.retired_at): at once if free,
 * and if held it never comes back. Free keys are ordered never-used first
 * (by key id), then released keys by release time, oldest first; each
 * grant must take the head of that order. The caller feeds events in time
 * order; at equal times: live events and lease ends, then retirements,
 * then grants. */
#ifndef ADMIN_LRU_REPLAY_H
#define ADMIN_LRU_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct lru_replay lru_replay_t;

/* What a grant was, by rule 4. */
typedef enum {
    LRU_GRANT_OK = 0,   /* took the head of the free order */
    LRU_GRANT_NOT_HEAD, /* took another key than the head, or none was free */
    LRU_GRANT_NOT_LIVE, /* took a key that had not gone live yet */
    LRU_GRANT_RETIRED,  /* took a key after its retirement */
    LRU_GRANT_UNKNOWN,  /* took a key the replay does not know */
} lru_grant_t;

/* Makes a replay over the keys key_ids[0..count), which must be sorted
 * ascending without duplicates (copied). Every key starts not yet live.
 * Returns NULL when out of memory or the ids are not sorted. */
lru_replay_t *lru_replay_new(const int32_t *key_ids, size_t count);
void lru_replay_destroy(lru_replay_t **self_p);

/* The key went live: it becomes free as never used. Ignored for unknown
 * keys and for keys that are live, used or retired already. */
void lru_replay_live(lru_replay_t *self, int32_t key_id);

/* The key was retired: it leaves the free keys for good (if held, it
 * does not return when its leases end). Ignored for unknown keys and
 * repeats. */
void lru_replay_retire(lru_replay_t *self, int32_t key_id);

/* A lease on key_id was granted. Returns LRU_GRANT_OK when that key was
 * the head of the free order, else why not; *expected is set to the head
 * and *any_free to whether any key was free at all. Either way the replay
 * goes on as if the grant happened (the key becomes held; a retired key
 * stays retired), so one violation does not cascade into reports for the
 * grants after it. */
lru_grant_t lru_replay_grant(lru_replay_t *self, int32_t key_id, int32_t *expected,
                             bool *any_free);

/* A lease on key_id ended (released or expired): once no lease holds the
 * key any more it goes to the tail of the free order, unless retired. */
void lru_replay_end(lru_replay_t *self, int32_t key_id);

#endif
