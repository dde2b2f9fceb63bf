/* lru_replay: replays a lease log against the least-recently-used rule
 * (rule 4) without a database, one event at a time. Free keys are ordered
 * never-used first (by key id), then released keys by release time, oldest
 * first; each grant must take the head of that order. */
#ifndef ADMIN_LRU_REPLAY_H
#define ADMIN_LRU_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct lru_replay lru_replay_t;

/* Makes a replay over the keys key_ids[0..count), which must be sorted
 * ascending without duplicates (copied). Every key starts not yet created.
 * Returns NULL when out of memory or the ids are not sorted. */
lru_replay_t *lru_replay_new(const int32_t *key_ids, size_t count);
void lru_replay_destroy(lru_replay_t **self_p);

/* The key was created: it becomes free as never used. Repeated or unknown
 * keys are ignored. */
void lru_replay_created(lru_replay_t *self, int32_t key_id);

/* A lease on key_id was granted. Returns true when that key was the head
 * of the free order; false otherwise, with *expected set to the head and
 * *any_free to whether any key was free at all. Either way the replay goes
 * on as if the grant happened (the key becomes held), so one violation
 * does not cascade into reports for the grants after it. */
bool lru_replay_grant(lru_replay_t *self, int32_t key_id, int32_t *expected, bool *any_free);

/* A lease on key_id ended (released or expired): once no lease holds the
 * key any more it goes to the tail of the free order. */
void lru_replay_end(lru_replay_t *self, int32_t key_id);

#endif
