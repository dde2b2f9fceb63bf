/* kc_metrics: see kc_metrics.h. */
#include "kc_metrics.h"

kc_metrics_t kc_metrics;

static const char *const s_state_labels[KC_KEYS_STATES] = {
    [KC_KEYS_FREE] = "state=\"free\"",
    [KC_KEYS_LEASED] = "state=\"leased\"",
    [KC_KEYS_RETIRED] = "state=\"retired\"",
};

void kc_metrics_register(void)
{
    kc_metrics_t *m = &kc_metrics;
    m->granted = rs_metrics_counter("recsign_leases_granted_total", "Leases granted.", NULL);
    m->released = rs_metrics_counter("recsign_leases_released_total",
                                     "Leases their holder gave back.", NULL);
    m->expired = rs_metrics_counter("recsign_leases_expired_total",
                                    "Leases ended by expiry (their holder missed the TTL).", NULL);
    for (int s = 0; s < KC_KEYS_STATES; s++)
        m->keys[s] = rs_metrics_gauge("recsign_keys", "Keys of the keyring by state.",
                                      s_state_labels[s]);
    m->waiting = rs_metrics_gauge("recsign_holders_waiting",
                                  "Holders queued for a key while none is free.", NULL);
    m->wait_seconds = rs_metrics_histogram(
        "recsign_lease_wait_seconds",
        "Time from a lease request's arrival at the keycoord to its grant.", NULL);
    m->refused_batch = rs_metrics_counter(
        "recsign_leases_refused_total", "Lease requests refused, by reason.",
        "reason=\"batch_size\"");
    static const char help[] = "Messages dropped, by reason.";
    m->dropped_malformed = rs_metrics_counter("recsign_messages_dropped_total", help,
                                              "reason=\"malformed\"");
    m->dropped_unauthorized = rs_metrics_counter("recsign_messages_dropped_total", help,
                                                 "reason=\"unauthorized\"");
    m->dropped_queue_full = rs_metrics_counter("recsign_messages_dropped_total", help,
                                               "reason=\"queue_full\"");
    m->dropped_undeliverable = rs_metrics_counter("recsign_messages_dropped_total", help,
                                                  "reason=\"undeliverable\"");
}

void kc_metrics_set_keys(const kc_coord_t *coord)
{
    size_t free_keys = kc_coord_free_count(coord), leased = kc_coord_held_count(coord);
    size_t all = kc_coord_key_count(coord);
    rs_metric_set(kc_metrics.keys[KC_KEYS_FREE], (int64_t) free_keys);
    rs_metric_set(kc_metrics.keys[KC_KEYS_LEASED], (int64_t) leased);
    /* Neither free nor held: out of the queue for good. */
    rs_metric_set(kc_metrics.keys[KC_KEYS_RETIRED], (int64_t) (all - free_keys - leased));
    rs_metric_set(kc_metrics.waiting, (int64_t) kc_coord_waiting_count(coord));
}
