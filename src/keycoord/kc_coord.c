/* kc_coord: see kc_coord.h. Sizes here are small (keys in the hundreds or
 * thousands, open leases and waiters bounded by the number of signing
 * threads), so the held set and the waiters are scanned linearly. */
#include "kc_coord.h"
#include "rs_lease.h"
#include "rs_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint32_t id;
    uint16_t sealed_len;
    uint8_t *sealed;    /* sealed_len bytes, owned: up to RS_SEALED_MAX for RSA-4096 */
    int32_t prev, next; /* free-queue links, -1 at the ends */
    bool is_free;
    bool used;          /* granted at least once: no longer "never used" */
    bool retired;       /* out of the queue for good, by an operator */
    bool quarantined;   /* out of the queue for good: its secret cannot be unsealed */
    int32_t held_slot;  /* position in self->held while held */
    uint64_t lease_id;
    int64_t deadline_mono_us;
    char holder[RS_HOLDER_MAX + 1];
} s_key_t;

typedef struct {
    void *cookie;
    uint64_t seq;
    uint8_t want;
    uint64_t run_id;
    uint32_t batch_records;
    uint8_t release_status;
    int64_t queued_mono_us; /* when its first request came: the lease wait starts */
    char holder[RS_HOLDER_MAX + 1];
} s_waiter_t;

/* A holder granted keys lately: how many holders share the keys now. */
typedef struct {
    char holder[RS_HOLDER_MAX + 1];
    int64_t granted_us;
} s_recent_t;

#define S_RECENT_MAX 256           /* holders remembered */
#define S_RECENT_WINDOW_US 200000  /* granted this recently: still sharing the keys */

struct kc_coord_t {
    uint32_t ttl_ms;
    int64_t hold_until_us;
    uint64_t next_lease_id;
    int64_t last_event_us;
    kc_cookie_free_fn *cookie_free;

    s_key_t *keys;
    size_t key_count, key_cap;
    int32_t *slots;     /* open-addressing map key id -> index + 1 (0: empty) */
    size_t slot_cap;    /* a power of two, at least twice key_cap */
    int32_t head, tail;
    size_t free_count;
    int32_t *held;      /* key indices of open leases */
    size_t held_count;

    s_waiter_t *waiters; /* ring buffer, FIFO */
    size_t waiter_cap, waiter_first, waiter_count;

    kc_event_t *events;
    size_t event_count, event_cap;

    s_recent_t recent[S_RECENT_MAX];
    size_t recent_count;
};

kc_coord_t *kc_coord_new(uint32_t ttl_ms, uint64_t first_lease_id, int64_t last_event_us,
                         size_t max_waiters, kc_cookie_free_fn *cookie_free)
{
    kc_coord_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->ttl_ms = ttl_ms;
    self->next_lease_id = first_lease_id ? first_lease_id : 1;
    self->last_event_us = last_event_us;
    self->cookie_free = cookie_free;
    self->head = self->tail = -1;
    self->waiter_cap = max_waiters ? max_waiters : 1;
    self->waiters = calloc(self->waiter_cap, sizeof *self->waiters);
    if (!self->waiters) {
        free(self);
        return NULL;
    }
    return self;
}

void kc_coord_destroy(kc_coord_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kc_coord_t *self = *self_p;
    for (size_t i = 0; i < self->waiter_count; i++) {
        s_waiter_t *w = &self->waiters[(self->waiter_first + i) % self->waiter_cap];
        if (self->cookie_free && w->cookie)
            self->cookie_free(&w->cookie);
    }
    free(self->waiters);
    for (size_t i = 0; i < self->key_count; i++)
        free(self->keys[i].sealed);
    free(self->keys);
    free(self->slots);
    free(self->held);
    free(self->events);
    free(self);
    *self_p = NULL;
}

/* Event times are the coordinator's own clock, forced strictly increasing
 * so that the log replays in the order events were handled. */
static int64_t s_event_time(kc_coord_t *self)
{
    int64_t now = rs_wall_us();
    if (now <= self->last_event_us)
        now = self->last_event_us + 1;
    self->last_event_us = now;
    return now;
}

static kc_event_t *s_event_new(kc_coord_t *self, kc_event_type_t type, const s_key_t *key)
{
    if (self->event_count == self->event_cap) {
        size_t cap = self->event_cap ? self->event_cap * 2 : 64;
        kc_event_t *grown = realloc(self->events, cap * sizeof *grown);
        if (!grown)
            abort(); /* an event we cannot record is a grant we must not give */
        self->events = grown;
        self->event_cap = cap;
    }
    kc_event_t *e = &self->events[self->event_count++];
    memset(e, 0, sizeof *e);
    e->type = type;
    e->lease_id = key->lease_id;
    e->key_id = key->id;
    e->at_us = s_event_time(self);
    return e;
}

static void s_free_push_tail(kc_coord_t *self, int32_t index)
{
    s_key_t *k = &self->keys[index];
    k->is_free = true;
    k->next = -1;
    k->prev = self->tail;
    if (self->tail >= 0)
        self->keys[self->tail].next = index;
    else
        self->head = index;
    self->tail = index;
    self->free_count++;
}

static int32_t s_free_pop_head(kc_coord_t *self)
{
    int32_t index = self->head;
    if (index < 0)
        return -1;
    s_key_t *k = &self->keys[index];
    self->head = k->next;
    if (self->head >= 0)
        self->keys[self->head].prev = -1;
    else
        self->tail = -1;
    k->is_free = false;
    k->prev = k->next = -1;
    self->free_count--;
    return index;
}

static void s_hold(kc_coord_t *self, int32_t index, uint64_t lease_id, const char *holder,
                   int64_t deadline)
{
    s_key_t *k = &self->keys[index];
    k->lease_id = lease_id;
    k->deadline_mono_us = deadline;
    snprintf(k->holder, sizeof k->holder, "%s", holder);
    k->held_slot = (int32_t) self->held_count;
    self->held[self->held_count++] = index;
}

/* Ends the open lease on key `index` and queues the key at the tail. */
static void s_end(kc_coord_t *self, int32_t index, const char *reason)
{
    s_key_t *k = &self->keys[index];
    kc_event_t *e = s_event_new(self, KC_EVENT_END, k);
    e->end_reason = reason;
    int32_t last = self->held[--self->held_count];
    self->held[k->held_slot] = last;
    self->keys[last].held_slot = k->held_slot;
    k->lease_id = 0;
    k->holder[0] = '\0';
    k->used = true;
    if (!k->retired && !k->quarantined)
        s_free_push_tail(self, index);
}

static size_t s_slot_of(const kc_coord_t *self, uint32_t key_id)
{
    return (size_t) ((key_id * 2654435761u) & (uint32_t) (self->slot_cap - 1));
}

/* Index of key_id, or -1. */
static int32_t s_lookup(const kc_coord_t *self, uint32_t key_id)
{
    if (!self->slot_cap)
        return -1;
    for (size_t i = s_slot_of(self, key_id);; i = (i + 1) & (self->slot_cap - 1)) {
        int32_t entry = self->slots[i];
        if (entry == 0)
            return -1;
        if (self->keys[entry - 1].id == key_id)
            return entry - 1;
    }
}

static void s_slot_put(kc_coord_t *self, int32_t index)
{
    size_t i = s_slot_of(self, self->keys[index].id);
    while (self->slots[i])
        i = (i + 1) & (self->slot_cap - 1);
    self->slots[i] = index + 1;
}

/* Makes room for one more key. Returns -1 when out of memory. */
static int s_grow(kc_coord_t *self)
{
    if (self->key_count < self->key_cap)
        return 0;
    size_t cap = self->key_cap ? self->key_cap * 2 : 64;
    s_key_t *keys = realloc(self->keys, cap * sizeof *keys);
    if (!keys)
        return -1;
    self->keys = keys;
    int32_t *held = realloc(self->held, cap * sizeof *held);
    if (!held)
        return -1;
    self->held = held;
    int32_t *slots = calloc(cap * 2, sizeof *slots);
    if (!slots)
        return -1;
    free(self->slots);
    self->slots = slots;
    self->slot_cap = cap * 2;
    self->key_cap = cap;
    for (size_t i = 0; i < self->key_count; i++)
        s_slot_put(self, (int32_t) i);
    return 0;
}

/* Appends a key record, not yet in the queue. Returns its index or -1. */
static int32_t s_key_new(kc_coord_t *self, uint32_t key_id, const uint8_t *sealed,
                         size_t sealed_len)
{
    if (sealed_len == 0 || sealed_len > RS_SEALED_MAX || s_lookup(self, key_id) >= 0
        || s_grow(self) != 0)
        return -1;
    uint8_t *copy = malloc(sealed_len);
    if (!copy)
        return -1;
    int32_t index = (int32_t) self->key_count++;
    s_key_t *k = &self->keys[index];
    memset(k, 0, sizeof *k);
    k->id = key_id;
    k->prev = k->next = -1;
    k->sealed_len = (uint16_t) sealed_len;
    k->sealed = copy;
    memcpy(k->sealed, sealed, sealed_len);
    s_slot_put(self, index);
    return index;
}

int kc_coord_add_key(kc_coord_t *self, uint32_t key_id, const uint8_t *sealed, size_t sealed_len,
                     unsigned flags)
{
    int32_t index = s_key_new(self, key_id, sealed, sealed_len);
    if (index < 0)
        return -1;
    s_key_t *k = &self->keys[index];
    k->used = (flags & KC_KEY_USED) != 0;
    k->quarantined = (flags & KC_KEY_QUARANTINED) != 0;
    k->retired = (flags & KC_KEY_RETIRED) != 0;
    if (!k->retired && !k->quarantined)
        s_free_push_tail(self, index);
    return 0;
}

int kc_coord_add_damaged_key(kc_coord_t *self, uint32_t key_id, unsigned flags, const char *reason)
{
    /* A one-byte placeholder: never granted, never sent. */
    static const uint8_t none[1] = { 0 };
    if (kc_coord_add_key(self, key_id, none, sizeof none, flags | KC_KEY_QUARANTINED) != 0)
        return -1;
    if (!(flags & KC_KEY_QUARANTINED)) {
        s_key_t *k = &self->keys[s_lookup(self, key_id)];
        kc_event_t *e = s_event_new(self, KC_EVENT_KEY_QUARANTINED, k);
        snprintf(e->holder, sizeof e->holder, "%s", reason);
    }
    return 0;
}

int kc_coord_make_live(kc_coord_t *self, uint32_t key_id)
{
    int32_t index = s_lookup(self, key_id);
    if (index < 0)
        return -1;
    s_event_new(self, KC_EVENT_KEY_LIVE, &self->keys[index]);
    return 0;
}

int kc_coord_add_live_key(kc_coord_t *self, uint32_t key_id, const uint8_t *sealed,
                          size_t sealed_len)
{
    int32_t index = s_key_new(self, key_id, sealed, sealed_len);
    if (index < 0)
        return -1;
    /* Never used, so it goes among the never-used keys at the head of the
     * queue, in id order: where the audit's replay expects it. */
    int32_t before = self->head;
    while (before >= 0 && !self->keys[before].used && self->keys[before].id < key_id)
        before = self->keys[before].next;
    s_key_t *k = &self->keys[index];
    if (before < 0)
        s_free_push_tail(self, index);
    else {
        k->is_free = true;
        k->next = before;
        k->prev = self->keys[before].prev;
        if (k->prev >= 0)
            self->keys[k->prev].next = index;
        else
            self->head = index;
        self->keys[before].prev = index;
        self->free_count++;
    }
    s_event_new(self, KC_EVENT_KEY_LIVE, k);
    return 0;
}

static void s_free_unlink(kc_coord_t *self, int32_t index)
{
    s_key_t *k = &self->keys[index];
    if (k->prev >= 0)
        self->keys[k->prev].next = k->next;
    else
        self->head = k->next;
    if (k->next >= 0)
        self->keys[k->next].prev = k->prev;
    else
        self->tail = k->prev;
    k->is_free = false;
    k->prev = k->next = -1;
    self->free_count--;
}

int kc_coord_retire_key(kc_coord_t *self, uint32_t key_id)
{
    int32_t index = s_lookup(self, key_id);
    if (index < 0)
        return -1;
    s_key_t *k = &self->keys[index];
    if (k->retired)
        return 1;
    if (k->is_free)
        s_free_unlink(self, index);
    /* A held key finishes its lease and then stays out (a quarantined
     * one is out already: its retirement is only recorded). */
    k->retired = true;
    s_event_new(self, KC_EVENT_KEY_RETIRED, k);
    return 0;
}

bool kc_coord_has_key(const kc_coord_t *self, uint32_t key_id)
{
    return s_lookup(self, key_id) >= 0;
}

int kc_coord_adopt_lease(kc_coord_t *self, uint64_t lease_id, uint32_t key_id, const char *holder,
                         uint32_t ttl_ms, int64_t age_us, int64_t now_mono_us)
{
    int32_t index = s_lookup(self, key_id);
    if (index < 0 || self->keys[index].lease_id != 0)
        return -1;
    s_key_t *k = &self->keys[index];
    if (k->is_free)
        s_free_unlink(self, index);
    k->used = true;
    int64_t remaining = (int64_t) ttl_ms * 1000 - (age_us > 0 ? age_us : 0);
    s_hold(self, index, lease_id, holder, now_mono_us + (remaining > 0 ? remaining : 0));
    if (lease_id >= self->next_lease_id)
        self->next_lease_id = lease_id + 1;
    return 0;
}

static int32_t s_find_held(const kc_coord_t *self, uint64_t lease_id)
{
    for (size_t i = 0; i < self->held_count; i++)
        if (self->keys[self->held[i]].lease_id == lease_id)
            return self->held[i];
    return -1;
}

int kc_coord_release(kc_coord_t *self, uint64_t lease_id, const char *holder)
{
    int32_t index = s_find_held(self, lease_id);
    if (index < 0 || strcmp(self->keys[index].holder, holder) != 0)
        return RS_RELEASE_UNKNOWN;
    s_end(self, index, RS_LEASE_END_RELEASED);
    return RS_RELEASE_OK;
}

int kc_coord_quarantine(kc_coord_t *self, uint64_t lease_id, const char *holder,
                        uint32_t *key_id)
{
    int32_t index = s_find_held(self, lease_id);
    if (index < 0 || strcmp(self->keys[index].holder, holder) != 0)
        return RS_RELEASE_UNKNOWN;
    s_key_t *k = &self->keys[index];
    if (!k->quarantined) {
        k->quarantined = true;
        kc_event_t *e = s_event_new(self, KC_EVENT_KEY_QUARANTINED, k);
        snprintf(e->holder, sizeof e->holder, "%s", holder);
    }
    *key_id = k->id;
    s_end(self, index, "released");
    return RS_RELEASE_OK;
}

int kc_coord_renew(kc_coord_t *self, uint64_t lease_id, const char *holder, int64_t now_mono_us)
{
    int32_t index = s_find_held(self, lease_id);
    if (index < 0 || strcmp(self->keys[index].holder, holder) != 0)
        return RS_RELEASE_UNKNOWN;
    self->keys[index].deadline_mono_us = now_mono_us + (int64_t) self->ttl_ms * 1000;
    return RS_RELEASE_OK;
}

static bool s_listed(uint64_t lease_id, const uint64_t *ids, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (ids[i] == lease_id)
            return true;
    return false;
}

/* Ends every lease of holder but those listed. Returns how many ended. */
static size_t s_end_holder(kc_coord_t *self, const char *holder, const uint64_t *keep,
                           size_t keep_count)
{
    size_t ended = 0;
    for (size_t i = 0; i < self->held_count;) {
        int32_t index = self->held[i];
        if (strcmp(self->keys[index].holder, holder) == 0
            && !s_listed(self->keys[index].lease_id, keep, keep_count)) {
            s_end(self, index, RS_LEASE_END_RELEASED); /* swaps the last into slot i */
            ended++;
        }
        else
            i++;
    }
    return ended;
}

size_t kc_coord_goodbye(kc_coord_t *self, const char *holder, const uint64_t *keep,
                        size_t keep_count)
{
    size_t ended = s_end_holder(self, holder, keep, keep_count);
    /* Rebuild the ring without the holder's entry, keeping the order. */
    size_t kept = 0;
    for (size_t i = 0; i < self->waiter_count; i++) {
        s_waiter_t w = self->waiters[(self->waiter_first + i) % self->waiter_cap];
        if (strcmp(w.holder, holder) == 0) {
            if (self->cookie_free && w.cookie)
                self->cookie_free(&w.cookie);
            continue;
        }
        self->waiters[(self->waiter_first + kept) % self->waiter_cap] = w;
        kept++;
    }
    self->waiter_count = kept;
    return ended;
}

kc_want_t kc_coord_want(kc_coord_t *self, const char *holder, uint8_t want, uint64_t run_id,
                      uint32_t batch_records, uint64_t seq, uint8_t release_status,
                      void *cookie)
{
    s_end_holder(self, holder, NULL, 0);
    s_waiter_t *slot = NULL;
    for (size_t i = 0; i < self->waiter_count && !slot; i++) {
        s_waiter_t *w = &self->waiters[(self->waiter_first + i) % self->waiter_cap];
        if (strcmp(w->holder, holder) == 0) {
            if (self->cookie_free && w->cookie)
                self->cookie_free(&w->cookie);
            slot = w;
        }
    }
    if (!slot) {
        if (self->waiter_count == self->waiter_cap)
            return KC_WANT_QUEUE_FULL;
        slot = &self->waiters[(self->waiter_first + self->waiter_count) % self->waiter_cap];
        self->waiter_count++;
        /* The wait starts at the holder's first request; its retries keep
         * the place and the clock. */
        slot->queued_mono_us = rs_mono_us();
    }
    slot->cookie = cookie;
    slot->seq = seq;
    slot->want = want ? want : 1;
    slot->run_id = run_id;
    slot->batch_records = batch_records;
    slot->release_status = release_status;
    snprintf(slot->holder, sizeof slot->holder, "%s", holder);
    return KC_WANT_QUEUED;
}

/* Notes that holder is granted keys now; returns how many holders were
 * granted keys within the window, this one included. */
static size_t s_note_recent(kc_coord_t *self, const char *holder, int64_t now_mono_us)
{
    size_t active = 0, slot = SIZE_MAX, oldest = 0;
    for (size_t i = 0; i < self->recent_count; i++) {
        s_recent_t *r = &self->recent[i];
        if (strcmp(r->holder, holder) == 0)
            slot = i;
        else if (now_mono_us - r->granted_us < S_RECENT_WINDOW_US)
            active++;
        if (r->granted_us < self->recent[oldest].granted_us)
            oldest = i;
    }
    if (slot == SIZE_MAX)
        slot = self->recent_count < S_RECENT_MAX ? self->recent_count++ : oldest;
    snprintf(self->recent[slot].holder, sizeof self->recent[slot].holder, "%s", holder);
    self->recent[slot].granted_us = now_mono_us;
    return active + 1;
}

bool kc_coord_next_grant(kc_coord_t *self, int64_t now_mono_us, kc_grant_t *out)
{
    if (self->waiter_count == 0 || self->free_count == 0 || now_mono_us < self->hold_until_us)
        return false;
    s_waiter_t *w = &self->waiters[self->waiter_first];
    self->waiter_first = (self->waiter_first + 1) % self->waiter_cap;
    self->waiter_count--;

    out->cookie = w->cookie;
    out->seq = w->seq;
    out->release_status = w->release_status;
    out->waited_us = now_mono_us - w->queued_mono_us;
    out->count = 0;
    w->cookie = NULL;
    /* A holder asking for several keys gets its share of them: the keys in
     * circulation divided among the holders granted keys lately. One
     * thread taking every key for a message of small batches would leave
     * the others waiting while it signs them one after another. */
    size_t share = (self->free_count + self->held_count) / s_note_recent(self, w->holder, now_mono_us);
    size_t limit = share < 1 ? 1 : share < w->want ? share : w->want;
    while (out->count < limit && self->free_count > 0) {
        int32_t index = s_free_pop_head(self);
        uint64_t lease_id = self->next_lease_id++;
        s_hold(self, index, lease_id, w->holder, now_mono_us + (int64_t) self->ttl_ms * 1000);
        s_key_t *k = &self->keys[index];
        kc_event_t *e = s_event_new(self, KC_EVENT_GRANT, k);
        e->run_id = w->run_id;
        e->batch_records = w->batch_records;
        snprintf(e->holder, sizeof e->holder, "%s", w->holder);
        out->leases[out->count++] = (kc_grant_lease_t) {
            .lease_id = lease_id, .key_id = k->id, .sealed = k->sealed, .sealed_len = k->sealed_len,
        };
    }
    return true;
}

size_t kc_coord_expire(kc_coord_t *self, int64_t now_mono_us)
{
    size_t expired = 0;
    /* s_end swaps the last held lease into slot i, so re-check slot i. */
    for (size_t i = 0; i < self->held_count;) {
        int32_t index = self->held[i];
        if (self->keys[index].deadline_mono_us <= now_mono_us) {
            s_end(self, index, RS_LEASE_END_EXPIRED);
            expired++;
        }
        else
            i++;
    }
    return expired;
}

void kc_coord_abandon(kc_coord_t *self, uint64_t lease_id)
{
    int32_t index = s_find_held(self, lease_id);
    if (index >= 0)
        s_end(self, index, RS_LEASE_END_EXPIRED);
}

void kc_coord_hold_grants(kc_coord_t *self, int64_t until_mono_us)
{
    self->hold_until_us = until_mono_us;
}

int64_t kc_coord_next_deadline(const kc_coord_t *self)
{
    int64_t next = INT64_MAX;
    if (self->hold_until_us && self->waiter_count)
        next = self->hold_until_us;
    for (size_t i = 0; i < self->held_count; i++)
        if (self->keys[self->held[i]].deadline_mono_us < next)
            next = self->keys[self->held[i]].deadline_mono_us;
    return next;
}

const kc_event_t *kc_coord_events(const kc_coord_t *self, size_t *count)
{
    *count = self->event_count;
    return self->events;
}

void kc_coord_events_clear(kc_coord_t *self)
{
    self->event_count = 0;
}

uint64_t kc_coord_next_lease_id(const kc_coord_t *self)
{
    return self->next_lease_id;
}

size_t kc_coord_key_count(const kc_coord_t *self)
{
    return self->key_count;
}

size_t kc_coord_free_count(const kc_coord_t *self)
{
    return self->free_count;
}

size_t kc_coord_held_count(const kc_coord_t *self)
{
    return self->held_count;
}

size_t kc_coord_retired_count(const kc_coord_t *self)
{
    size_t n = 0;
    for (size_t i = 0; i < self->key_count; i++)
        n += self->keys[i].retired && self->keys[i].lease_id == 0;
    return n;
}

size_t kc_coord_quarantined_count(const kc_coord_t *self)
{
    size_t n = 0;
    for (size_t i = 0; i < self->key_count; i++)
        n += self->keys[i].quarantined && !self->keys[i].retired && self->keys[i].lease_id == 0;
    return n;
}

size_t kc_coord_waiting_count(const kc_coord_t *self)
{
    return self->waiter_count;
}

uint32_t kc_coord_ttl_ms(const kc_coord_t *self)
{
    return self->ttl_ms;
}
