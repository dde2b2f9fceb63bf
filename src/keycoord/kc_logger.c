/* kc_logger: see kc_logger.h. A mutex guards the queue; the condition
 * variable wakes the writer when events arrive and wakes drainers when a
 * write completes. */
#include "kc_logger.h"
#include "rs_log.h"
#include "rs_time.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_WRITE_MAX 4096 /* events in one write (one transaction) */

struct kc_logger_t {
    kc_store_t *store;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    kc_event_t *queue;       /* appended by the loop, taken from the head by the writer */
    size_t head, queued, queue_cap;
    size_t in_flight;        /* taken by the writer, not yet durable */
    bool stopping;
    bool failing;            /* the last write attempt failed */
    bool deposed;            /* the database refused a write: the epoch is not current */
    int64_t epoch;           /* the leadership term every write carries */
    unsigned long long writes, events_written;
    int64_t write_us;
};

static void s_deadline(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long) (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Writes one batch until it is durable or the logger stops; *took_us
 * gets the time of the successful attempt. */
static int s_write(kc_logger_t *self, const kc_event_t *events, size_t count, int64_t *took_us)
{
    int backoff_ms = 100;
    for (bool retry = false;; retry = true) {
        int64_t started = rs_mono_us();
        int rc = kc_store_write(self->store, events, count, retry, self->epoch);
        if (rc == 0) {
            *took_us = rs_mono_us() - started;
            return 0;
        }
        pthread_mutex_lock(&self->lock);
        bool stopping = self->stopping;
        self->failing = true;
        if (rc == KC_WRITE_DEPOSED)
            self->deposed = true;
        pthread_mutex_unlock(&self->lock);
        /* Deposed: no later write of this epoch can succeed, and none may
         * be tried under another; the loop notices and steps down. */
        if (stopping || rc == KC_WRITE_DEPOSED)
            return -1;
        rs_warn("lease log write of %zu events failed; retrying in %d ms", count, backoff_ms);
        struct timespec pause = { backoff_ms / 1000, (long) (backoff_ms % 1000) * 1000000L };
        nanosleep(&pause, NULL);
        backoff_ms = backoff_ms < 5000 ? backoff_ms * 2 : 5000;
        if (kc_store_reconnect(self->store) != 0)
            continue;
    }
}

static void *s_run(void *arg)
{
    kc_logger_t *self = arg;
    kc_event_t *batch = NULL;
    size_t batch_cap = 0;
    pthread_mutex_lock(&self->lock);
    for (;;) {
        while (self->queued == 0 && !self->stopping)
            pthread_cond_wait(&self->changed, &self->lock);
        if (self->queued == 0 && self->stopping)
            break;
        /* Take everything queued, up to S_WRITE_MAX: one write, one
         * commit. The bound keeps a backlog from turning into one long
         * write during which the backlog cannot shrink (the loop holds
         * grants back while it is large); a few thousand events already
         * share the commit's cost. */
        size_t count = self->queued < S_WRITE_MAX ? self->queued : S_WRITE_MAX;
        if (batch_cap < count) {
            kc_event_t *grown = realloc(batch, count * sizeof *grown);
            if (!grown) {
                pthread_mutex_unlock(&self->lock);
                rs_error("out of memory taking lease log events; retrying");
                nanosleep(&(struct timespec) { 0, 100000000L }, NULL);
                pthread_mutex_lock(&self->lock);
                continue;
            }
            batch = grown;
            batch_cap = count;
        }
        memcpy(batch, self->queue + self->head, count * sizeof *batch);
        self->queued -= count;
        self->head = self->queued ? self->head + count : 0;
        self->in_flight = count;
        pthread_mutex_unlock(&self->lock);

        int64_t took_us = 0;
        int rc = s_write(self, batch, count, &took_us);

        pthread_mutex_lock(&self->lock);
        if (rc != 0) {
            /* Stopping (or deposed) with this batch unwritten: leave it
             * counted in the backlog so that the stop is not taken as
             * clean. */
            pthread_cond_broadcast(&self->changed);
            break;
        }
        self->in_flight = 0;
        self->failing = false;
        self->write_us += took_us;
        self->writes++;
        self->events_written += count;
        pthread_cond_broadcast(&self->changed);
    }
    pthread_mutex_unlock(&self->lock);
    free(batch);
    return NULL;
}

kc_logger_t *kc_logger_new(kc_store_t **store_p, int64_t epoch)
{
    kc_logger_t *self = calloc(1, sizeof *self);
    if (!self) {
        kc_store_destroy(store_p);
        return NULL;
    }
    self->epoch = epoch;
    self->store = *store_p;
    *store_p = NULL;
    pthread_mutex_init(&self->lock, NULL);
    pthread_cond_init(&self->changed, NULL);
    if (pthread_create(&self->thread, NULL, s_run, self) != 0) {
        kc_store_destroy(&self->store);
        pthread_cond_destroy(&self->changed);
        pthread_mutex_destroy(&self->lock);
        free(self);
        return NULL;
    }
    return self;
}

void kc_logger_destroy(kc_logger_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kc_logger_t *self = *self_p;
    pthread_mutex_lock(&self->lock);
    self->stopping = true;
    pthread_cond_broadcast(&self->changed);
    pthread_mutex_unlock(&self->lock);
    pthread_join(self->thread, NULL);
    kc_store_destroy(&self->store);
    pthread_cond_destroy(&self->changed);
    pthread_mutex_destroy(&self->lock);
    free(self->queue);
    free(self);
    *self_p = NULL;
}

int kc_logger_append(kc_logger_t *self, const kc_event_t *events, size_t count)
{
    if (count == 0)
        return 0;
    pthread_mutex_lock(&self->lock);
    if (self->head + self->queued + count > self->queue_cap && self->head > 0) {
        /* Move what is left to the front before growing. */
        memmove(self->queue, self->queue + self->head, self->queued * sizeof *self->queue);
        self->head = 0;
    }
    if (self->queued + count > self->queue_cap) {
        size_t cap = self->queue_cap ? self->queue_cap : 256;
        while (cap < self->queued + count)
            cap *= 2;
        kc_event_t *grown = realloc(self->queue, cap * sizeof *grown);
        if (!grown) {
            pthread_mutex_unlock(&self->lock);
            return -1;
        }
        self->queue = grown;
        self->queue_cap = cap;
    }
    memcpy(self->queue + self->head + self->queued, events, count * sizeof *events);
    self->queued += count;
    pthread_cond_signal(&self->changed);
    pthread_mutex_unlock(&self->lock);
    return 0;
}

size_t kc_logger_backlog(kc_logger_t *self)
{
    pthread_mutex_lock(&self->lock);
    size_t backlog = self->queued + self->in_flight;
    pthread_mutex_unlock(&self->lock);
    return backlog;
}

int kc_logger_drain(kc_logger_t *self, int timeout_ms)
{
    struct timespec until;
    s_deadline(&until, timeout_ms);
    pthread_mutex_lock(&self->lock);
    int rc = 0;
    while (self->queued + self->in_flight > 0) {
        if (pthread_cond_timedwait(&self->changed, &self->lock, &until) == ETIMEDOUT) {
            rc = self->queued + self->in_flight > 0 ? -1 : 0;
            break;
        }
    }
    pthread_mutex_unlock(&self->lock);
    return rc;
}

bool kc_logger_deposed(kc_logger_t *self)
{
    pthread_mutex_lock(&self->lock);
    bool deposed = self->deposed;
    pthread_mutex_unlock(&self->lock);
    return deposed;
}

bool kc_logger_healthy(kc_logger_t *self)
{
    pthread_mutex_lock(&self->lock);
    bool healthy = !self->failing;
    pthread_mutex_unlock(&self->lock);
    return healthy;
}

void kc_logger_stats(kc_logger_t *self, unsigned long long *writes, double *mean_events,
                     double *mean_us)
{
    pthread_mutex_lock(&self->lock);
    *writes = self->writes;
    *mean_events = self->writes ? (double) self->events_written / (double) self->writes : 0;
    *mean_us = self->writes ? (double) self->write_us / (double) self->writes : 0;
    pthread_mutex_unlock(&self->lock);
}
