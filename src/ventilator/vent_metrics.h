/* vent_metrics: the ventilator's Prometheus series, registered once at
 * start and counted by the dispatch loop where the events happen.
 * Unregistered (NULL) series count nothing. */
#ifndef VENT_METRICS_H
#define VENT_METRICS_H

#include "rs_metrics.h"

typedef struct {
    rs_metric_t *records;      /* recsign_records_dispatched_total */
    rs_metric_t *batches;      /* recsign_batches_dispatched_total */
    rs_metric_t *redispatched; /* recsign_records_redispatched_total: sent again after a stall */
    rs_metric_t *passes;       /* recsign_dispatch_passes_total */
    rs_metric_t *backlog;      /* recsign_unsigned_backlog_records */
    rs_metric_t *watermark;    /* recsign_unsigned_watermark_record_id */
    rs_metric_t *skipped;      /* recsign_records_skipped_total: cannot be sent now (memory) */
    rs_metric_t *refused;      /* recsign_records_refused_total: payload over the limit */
} vent_metrics_t;

extern vent_metrics_t vent_metrics;

/* Registers the series; call once, before the loop starts. */
void vent_metrics_register(void);

#endif
