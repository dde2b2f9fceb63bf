/* wk_metrics: the worker's Prometheus series, registered once at start and
 * counted by every signing thread where the events happen. Unregistered
 * (NULL) series count nothing. */
#ifndef WK_METRICS_H
#define WK_METRICS_H

#include "rs_metrics.h"

typedef struct {
    rs_metric_t *signatures;      /* recsign_worker_signatures_total: signed and pushed */
    rs_metric_t *batches;         /* recsign_worker_batches_total */
    rs_metric_t *batch_seconds;   /* recsign_worker_batch_signing_seconds: unseal, sign, push */
    rs_metric_t *lease_seconds;   /* recsign_worker_lease_round_trip_seconds */
    rs_metric_t *deadline_cut;    /* recsign_worker_batches_cut_short_total: lease deadline */
    rs_metric_t *dropped_malformed, *dropped_no_key; /* recsign_messages_dropped_total */
} wk_metrics_t;

extern wk_metrics_t wk_metrics;

/* Registers the series; call once, before the threads start. */
void wk_metrics_register(void);

#endif
