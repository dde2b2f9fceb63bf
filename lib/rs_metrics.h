/* rs_metrics: a process's Prometheus metrics. Counters, gauges and
 * histograms are registered once at start (before the threads that count
 * them run) and then changed with relaxed atomic operations where the event
 * happens: no lock and no query on the hot path. rs_metrics_render writes
 * them all, with the process's resident memory, CPU seconds and build
 * info, in the Prometheus text exposition format 0.0.4, in one place.
 *
 * Naming (https://prometheus.io/docs/practices/naming/): prefix recsign_,
 * base units (seconds, bytes), _total on counters; label values come from
 * a fixed set chosen at registration (low cardinality). */
#ifndef RS_METRICS_H
#define RS_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { RS_METRIC_COUNTER, RS_METRIC_GAUGE, RS_METRIC_HISTOGRAM } rs_metric_kind_t;

/* Upper bounds of the default duration buckets, in seconds: 100 us (a
 * lease round trip over loopback, DESIGN.md) up to 10 s (the default lease
 * TTL). */
#define RS_METRICS_DURATION_BUCKETS 16
extern const double rs_metrics_duration_bounds[RS_METRICS_DURATION_BUCKETS];

/* One series. Fields after `labels` are the library's; read the values
 * only through the functions below. */
typedef struct rs_metric_t {
    rs_metric_kind_t kind;
    const char *name;   /* full name, e.g. "recsign_signatures_stored_total" */
    const char *help;
    const char *labels; /* e.g. "reason=\"expired\"", or NULL; not copied */
    _Atomic int64_t value; /* counter or gauge */
    _Atomic uint64_t buckets[RS_METRICS_DURATION_BUCKETS + 1]; /* histogram; last is +Inf */
    _Atomic uint64_t sum_us;
} rs_metric_t;

/* Register a series of the process-wide registry and return it; the
 * strings must outlive the process (literals). Series of one name must be
 * registered one after the other (they share the HELP and TYPE lines).
 * Returns NULL when the registry is full or memory runs out: every update
 * below accepts NULL and does nothing, so a caller never checks. */
rs_metric_t *rs_metrics_counter(const char *name, const char *help, const char *labels);
rs_metric_t *rs_metrics_gauge(const char *name, const char *help, const char *labels);
/* A histogram of durations over rs_metrics_duration_bounds. */
rs_metric_t *rs_metrics_histogram(const char *name, const char *help, const char *labels);

/* The version in recsign_build_info{version="..."} 1; not copied. */
void rs_metrics_set_version(const char *version);

static inline void rs_metric_add(rs_metric_t *m, uint64_t n)
{
    if (m)
        atomic_fetch_add_explicit(&m->value, (int64_t) n, memory_order_relaxed);
}

static inline void rs_metric_set(rs_metric_t *m, int64_t v)
{
    if (m)
        atomic_store_explicit(&m->value, v, memory_order_relaxed);
}

/* Records one duration (microseconds; negative counts as 0). */
void rs_metric_observe_us(rs_metric_t *m, int64_t us);

/* The current value of a counter or gauge (0 for NULL). */
int64_t rs_metric_value(const rs_metric_t *m);

/* Renders every registered series plus process_resident_memory_bytes,
 * process_cpu_seconds_total, process_start_time_seconds and
 * recsign_build_info. Returns a NUL-terminated malloc'd text the caller
 * frees, its length in *size; NULL when memory runs out. Safe to call from
 * any thread while others count. */
char *rs_metrics_render(size_t *size);

/* The content type of rs_metrics_render's text. */
#define RS_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
