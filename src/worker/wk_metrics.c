/* wk_metrics: see wk_metrics.h. */
#include "wk_metrics.h"

wk_metrics_t wk_metrics;

void wk_metrics_register(void)
{
    wk_metrics_t *m = &wk_metrics;
    m->signatures = rs_metrics_counter("recsign_worker_signatures_total",
                                       "Signatures this worker made and pushed to the sink.", NULL);
    m->batches = rs_metrics_counter("recsign_worker_batches_total",
                                    "Batches this worker signed and pushed.", NULL);
    m->batch_seconds = rs_metrics_histogram(
        "recsign_worker_batch_signing_seconds",
        "Time to unseal a batch's key, sign its records and push the signatures.", NULL);
    m->lease_seconds = rs_metrics_histogram(
        "recsign_worker_lease_round_trip_seconds",
        "Time from a lease request to the keycoord's grant, waiting for a free key included.",
        NULL);
    m->deadline_cut = rs_metrics_counter(
        "recsign_worker_batches_cut_short_total",
        "Batches left partly unsigned because their lease reached its deadline.", NULL);
    m->dropped_malformed = rs_metrics_counter("recsign_messages_dropped_total",
                                              "Messages dropped, by reason.", "reason=\"malformed\"");
    m->dropped_no_key = rs_metrics_counter(
        "recsign_messages_dropped_total", "Messages dropped, by reason.", "reason=\"no_key\"");
}
