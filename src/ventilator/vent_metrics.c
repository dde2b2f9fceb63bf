/* vent_metrics: see vent_metrics.h. */
#include "vent_metrics.h"

vent_metrics_t vent_metrics;

void vent_metrics_register(void)
{
    vent_metrics_t *m = &vent_metrics;
    m->records = rs_metrics_counter("recsign_records_dispatched_total",
                                    "Records sent to the workers, re-dispatches included.", NULL);
    m->batches = rs_metrics_counter("recsign_batches_dispatched_total",
                                    "Batches sent to the workers.", NULL);
    m->redispatched = rs_metrics_counter(
        "recsign_records_redispatched_total",
        "Records sent again because they were still unsigned when progress stalled.", NULL);
    m->passes = rs_metrics_counter("recsign_dispatch_passes_total",
                                   "Passes over the unsigned records.", NULL);
    m->backlog = rs_metrics_gauge(
        "recsign_unsigned_backlog_records",
        "Records unsigned when last counted: at the end of each pass (all it sent), during a "
        "pass at least those it has found so far, and at each end-of-run check; 0 once the run "
        "is complete. In follow mode: records sent and not yet seen signed.", NULL);
    m->watermark = rs_metrics_gauge("recsign_unsigned_watermark_record_id",
                                    "Every record with a lower id is signed.", NULL);
    m->skipped = rs_metrics_counter("recsign_records_skipped_total",
                                    "Records that could not be added to a batch (out of memory); "
                                    "sent again later.", NULL);
    m->refused = rs_metrics_counter("recsign_records_refused_total",
                                    "Records refused for good (payload over 1 MiB), recorded in "
                                    "records_refused; counted when first recorded.", NULL);
}
