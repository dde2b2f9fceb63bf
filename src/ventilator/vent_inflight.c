/* vent_inflight: see vent_inflight.h. Open addressing with linear probing,
 * at most half full; pruning rebuilds the table, which is small (the
 * records of a few messages) whenever signing keeps up. */
#include "vent_inflight.h"

#include <stdlib.h>

#define S_MIN_SLOTS 1024u

typedef struct {
    int64_t id;
    int64_t sent_us; /* 0: the slot is free (monotonic times are positive) */
} s_slot_t;

struct vent_inflight_t {
    s_slot_t *slots;
    size_t mask;  /* slots - 1, a power of two minus one */
    size_t count;
    size_t max;
    int64_t lowest; /* no id in the set is below this */
};

/* splitmix64's finaliser (Steele, Lea, Flood 2014): ids that differ in low
 * bits only spread over the whole table. */
static size_t s_hash(int64_t id)
{
    uint64_t z = (uint64_t) id + 0x9e3779b97f4a7c15u;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return (size_t) (z ^ (z >> 31));
}

static s_slot_t *s_find(const vent_inflight_t *self, int64_t id)
{
    for (size_t i = s_hash(id) & self->mask;; i = (i + 1) & self->mask) {
        s_slot_t *slot = &self->slots[i];
        if (!slot->sent_us || slot->id == id)
            return slot;
    }
}

/* Moves every entry of self kept by `keep_from` into a table of `slots`
 * slots. Returns 0 or -1 (out of memory; self unchanged). */
static int s_rebuild(vent_inflight_t *self, size_t slots, int64_t keep_from)
{
    s_slot_t *fresh = calloc(slots, sizeof *fresh);
    if (!fresh)
        return -1;
    s_slot_t *old = self->slots;
    size_t old_slots = self->mask + 1;
    self->slots = fresh;
    self->mask = slots - 1;
    self->count = 0;
    self->lowest = INT64_MAX;
    for (size_t i = 0; i < old_slots; i++)
        if (old[i].sent_us && old[i].id >= keep_from) {
            *s_find(self, old[i].id) = old[i];
            self->count++;
            if (old[i].id < self->lowest)
                self->lowest = old[i].id;
        }
    free(old);
    return 0;
}

vent_inflight_t *vent_inflight_new(size_t max)
{
    vent_inflight_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->slots = calloc(S_MIN_SLOTS, sizeof *self->slots);
    if (!self->slots) {
        free(self);
        return NULL;
    }
    self->mask = S_MIN_SLOTS - 1;
    self->max = max;
    self->lowest = INT64_MAX;
    return self;
}

void vent_inflight_destroy(vent_inflight_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->slots);
    free(*self_p);
    *self_p = NULL;
}

int vent_inflight_put(vent_inflight_t *self, int64_t id, int64_t sent_us)
{
    if (sent_us <= 0)
        sent_us = 1; /* 0 marks a free slot */
    s_slot_t *slot = s_find(self, id);
    if (slot->sent_us) {
        slot->sent_us = sent_us;
        return 0;
    }
    if (self->count >= self->max)
        return -1;
    if (2 * (self->count + 1) > self->mask + 1) {
        if (s_rebuild(self, 2 * (self->mask + 1), INT64_MIN) != 0)
            return -1;
        slot = s_find(self, id);
    }
    *slot = (s_slot_t) { .id = id, .sent_us = sent_us };
    self->count++;
    if (id < self->lowest)
        self->lowest = id;
    return 0;
}

bool vent_inflight_get(const vent_inflight_t *self, int64_t id, int64_t *sent_us)
{
    const s_slot_t *slot = s_find(self, id);
    if (!slot->sent_us)
        return false;
    *sent_us = slot->sent_us;
    return true;
}

void vent_inflight_prune_below(vent_inflight_t *self, int64_t id)
{
    if (self->count == 0 || self->lowest >= id)
        return; /* nothing below id: no rebuild */
    /* Shrinks back as the set empties, so that a prune costs what is in
     * flight now, not the largest it ever was. */
    size_t slots = self->mask + 1;
    while (slots > S_MIN_SLOTS && 8 * self->count < slots)
        slots /= 2;
    /* Out of memory: the table stays as it was, pruned next time. */
    (void) s_rebuild(self, slots, id);
}

size_t vent_inflight_count(const vent_inflight_t *self)
{
    return self->count;
}

size_t vent_inflight_room(const vent_inflight_t *self)
{
    return self->max - self->count;
}
