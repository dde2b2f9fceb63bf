/* lru_replay: see lru_replay.h. Keys are addressed by their index in the
 * sorted id array. Never-used free keys sit in a min-heap of indices
 * (index order = id order) with lazy deletion, since a key never returns
 * to "never used"; released keys sit in a doubly linked FIFO. A retired
 * key keeps counting its open leases but is never free again. */
#include "lru_replay.h"

#include <stdlib.h>

typedef enum {
    S_ABSENT,    /* not live yet */
    S_FREE_NEW,  /* free, never used: in the heap */
    S_FREE_USED, /* free after use: in the FIFO */
    S_HELD,      /* held by one lease or more */
    S_RETIRED,   /* out for good (holds may still count open leases) */
} s_state_t;

struct lru_replay {
    int32_t *ids;
    size_t count;
    uint8_t *state;
    int32_t *holds;       /* open leases on each key */
    size_t *heap;         /* indices of never-used free keys (and stale ones) */
    size_t heap_len;
    size_t *prev, *next;  /* FIFO links; S_NONE ends */
    size_t head, tail;
};

#define S_NONE ((size_t) -1)

lru_replay_t *lru_replay_new(const int32_t *key_ids, size_t count)
{
    for (size_t i = 1; i < count; i++)
        if (key_ids[i - 1] >= key_ids[i])
            return NULL;
    lru_replay_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    size_t n = count ? count : 1;
    self->ids = malloc(n * sizeof *self->ids);
    self->state = calloc(n, sizeof *self->state);
    self->holds = calloc(n, sizeof *self->holds);
    self->heap = malloc(n * sizeof *self->heap);
    self->prev = malloc(n * sizeof *self->prev);
    self->next = malloc(n * sizeof *self->next);
    if (!self->ids || !self->state || !self->holds || !self->heap || !self->prev || !self->next) {
        lru_replay_destroy(&self);
        return NULL;
    }
    for (size_t i = 0; i < count; i++) {
        self->ids[i] = key_ids[i];
        self->prev[i] = self->next[i] = S_NONE;
    }
    self->count = count;
    self->head = self->tail = S_NONE;
    return self;
}

void lru_replay_destroy(lru_replay_t **self_p)
{
    lru_replay_t *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    free(self->ids);
    free(self->state);
    free(self->holds);
    free(self->heap);
    free(self->prev);
    free(self->next);
    free(self);
    *self_p = NULL;
}

static size_t s_find(const lru_replay_t *self, int32_t key_id)
{
    size_t lo = 0, hi = self->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (self->ids[mid] < key_id)
            lo = mid + 1;
        else if (self->ids[mid] > key_id)
            hi = mid;
        else
            return mid;
    }
    return S_NONE;
}

static void s_heap_push(lru_replay_t *self, size_t key)
{
    size_t at = self->heap_len++;
    while (at > 0) {
        size_t parent = (at - 1) / 2;
        if (self->heap[parent] <= key)
            break;
        self->heap[at] = self->heap[parent];
        at = parent;
    }
    self->heap[at] = key;
}

static void s_heap_pop(lru_replay_t *self)
{
    size_t last = self->heap[--self->heap_len];
    size_t at = 0;
    for (;;) {
        size_t child = 2 * at + 1;
        if (child >= self->heap_len)
            break;
        if (child + 1 < self->heap_len && self->heap[child + 1] < self->heap[child])
            child++;
        if (self->heap[child] >= last)
            break;
        self->heap[at] = self->heap[child];
        at = child;
    }
    if (self->heap_len)
        self->heap[at] = last;
}

static void s_fifo_append(lru_replay_t *self, size_t key)
{
    self->prev[key] = self->tail;
    self->next[key] = S_NONE;
    if (self->tail != S_NONE)
        self->next[self->tail] = key;
    else
        self->head = key;
    self->tail = key;
}

static void s_fifo_unlink(lru_replay_t *self, size_t key)
{
    if (self->prev[key] != S_NONE)
        self->next[self->prev[key]] = self->next[key];
    else
        self->head = self->next[key];
    if (self->next[key] != S_NONE)
        self->prev[self->next[key]] = self->prev[key];
    else
        self->tail = self->prev[key];
    self->prev[key] = self->next[key] = S_NONE;
}

/* The head of the free order, or S_NONE when no key is free. */
static size_t s_head(lru_replay_t *self)
{
    while (self->heap_len && self->state[self->heap[0]] != S_FREE_NEW)
        s_heap_pop(self);
    if (self->heap_len)
        return self->heap[0];
    return self->head;
}

void lru_replay_live(lru_replay_t *self, int32_t key_id)
{
    size_t key = s_find(self, key_id);
    if (key == S_NONE || self->state[key] != S_ABSENT)
        return;
    self->state[key] = S_FREE_NEW;
    s_heap_push(self, key);
}

void lru_replay_retire(lru_replay_t *self, int32_t key_id)
{
    size_t key = s_find(self, key_id);
    if (key == S_NONE || self->state[key] == S_RETIRED)
        return;
    if (self->state[key] == S_FREE_USED)
        s_fifo_unlink(self, key);
    /* S_FREE_NEW keys leave the heap lazily, when they reach its top. */
    self->state[key] = S_RETIRED;
}

lru_grant_t lru_replay_grant(lru_replay_t *self, int32_t key_id, int32_t *expected,
                             bool *any_free)
{
    size_t head = s_head(self);
    size_t key = s_find(self, key_id);
    *any_free = head != S_NONE;
    *expected = head != S_NONE ? self->ids[head] : 0;
    if (key == S_NONE)
        return LRU_GRANT_UNKNOWN;
    lru_grant_t verdict = key == head ? LRU_GRANT_OK : LRU_GRANT_NOT_HEAD;
    switch (self->state[key]) {
    case S_ABSENT:
        verdict = LRU_GRANT_NOT_LIVE;
        break;
    case S_RETIRED:
        verdict = LRU_GRANT_RETIRED;
        break;
    case S_FREE_USED:
        s_fifo_unlink(self, key);
        break;
    default: /* S_FREE_NEW leaves the heap lazily; S_HELD is an overlap */
        break;
    }
    if (self->state[key] != S_RETIRED)
        self->state[key] = S_HELD;
    self->holds[key]++;
    return verdict;
}

void lru_replay_end(lru_replay_t *self, int32_t key_id)
{
    size_t key = s_find(self, key_id);
    if (key == S_NONE || self->holds[key] == 0)
        return;
    self->holds[key]--;
    if (self->holds[key] == 0 && self->state[key] == S_HELD) {
        self->state[key] = S_FREE_USED;
        s_fifo_append(self, key);
    }
}
