/* sink_metrics: the sink's Prometheus series, registered once at start and
 * counted where the events happen (sink_loop, sink_store). Unregistered
 * (NULL) series count nothing, so code under unit test needs no registry. */
#ifndef SINK_METRICS_H
#define SINK_METRICS_H

#include "rs_metrics.h"

/* Why a flush refused the results of a lease (fencing). */
typedef enum {
    SINK_REFUSED_NOT_IN_LOG,   /* the lease never reached the lease log */
    SINK_REFUSED_OTHER_KEY,    /* the lease is on another key */
    SINK_REFUSED_EXPIRED,      /* the lease ended by expiry */
    SINK_REFUSED_OTHER_HOLDER, /* another certificate holds the lease */
    SINK_REFUSED_REASONS
} sink_refused_reason_t;

/* The reason's name: the label value and refused_results.reason. */
const char *sink_refused_reason_name(sink_refused_reason_t reason);

typedef struct {
    rs_metric_t *stored;                          /* recsign_signatures_stored_total */
    rs_metric_t *refused[SINK_REFUSED_REASONS];   /* recsign_results_refused_total{reason} */
    rs_metric_t *dropped_malformed, *dropped_unauthorized; /* recsign_messages_dropped_total */
    rs_metric_t *flush_seconds;                   /* recsign_sink_flush_duration_seconds */
    rs_metric_t *pending;                         /* recsign_sink_pending_signatures */
} sink_metrics_t;

extern sink_metrics_t sink_metrics;

/* Registers the series; call once, before the loop starts. */
void sink_metrics_register(void);

#endif
