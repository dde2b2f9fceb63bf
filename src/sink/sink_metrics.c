/* sink_metrics: see sink_metrics.h. */
#include "sink_metrics.h"

sink_metrics_t sink_metrics;

const char *sink_refused_reason_name(sink_refused_reason_t reason)
{
    static const char *const names[SINK_REFUSED_REASONS] = {
        [SINK_REFUSED_NOT_IN_LOG] = "not_in_log",
        [SINK_REFUSED_OTHER_KEY] = "other_key",
        [SINK_REFUSED_EXPIRED] = "expired",
        [SINK_REFUSED_OTHER_HOLDER] = "other_holder",
    };
    return reason < SINK_REFUSED_REASONS ? names[reason] : "unknown";
}

void sink_metrics_register(void)
{
    sink_metrics_t *m = &sink_metrics;
    m->stored = rs_metrics_counter("recsign_signatures_stored_total",
                                   "Signatures this sink committed to the database.", NULL);
    static const char *const reasons[SINK_REFUSED_REASONS] = {
        [SINK_REFUSED_NOT_IN_LOG] = "reason=\"not_in_log\"",
        [SINK_REFUSED_OTHER_KEY] = "reason=\"other_key\"",
        [SINK_REFUSED_EXPIRED] = "reason=\"expired\"",
        [SINK_REFUSED_OTHER_HOLDER] = "reason=\"other_holder\"",
    };
    for (int r = 0; r < SINK_REFUSED_REASONS; r++)
        m->refused[r] = rs_metrics_counter("recsign_results_refused_total",
                                           "Signatures refused by lease fencing, by reason.",
                                           reasons[r]);
    m->dropped_malformed = rs_metrics_counter("recsign_messages_dropped_total",
                                              "Messages dropped, by reason.",
                                              "reason=\"malformed\"");
    m->dropped_unauthorized = rs_metrics_counter("recsign_messages_dropped_total",
                                                 "Messages dropped, by reason.",
                                                 "reason=\"unauthorized\"");
    m->flush_seconds = rs_metrics_histogram("recsign_sink_flush_duration_seconds",
                                            "Time to fence and write one flush.", NULL);
    m->pending = rs_metrics_gauge("recsign_sink_pending_signatures",
                                  "Signatures received and not yet written.", NULL);
}
