/* kc_metrics: see kc_metrics.h. */
#include "kc_metrics.h"

kc_metrics_t kc_metrics;

/* The states of recsign_keys: each key is in one (a quarantined key that
 * an operator then retired counts as retired). */
static const struct {
    const char *label;
    size_t (*count)(const kc_coord_t *coord);
} s_states[] = {
    { "state=\"free\"", kc_coord_free_count },     /* in the LRU queue */
    { "state=\"leased\"", kc_coord_held_count },   /* held by an open lease */
    { "state=\"retired\"", kc_coord_retired_count }, /* out of the queue for good */
    { "state=\"quarantined\"", kc_coord_quarantined_count }, /* its secret cannot be used */
};
#define S_STATES (sizeof s_states / sizeof s_states[0])
_Static_assert(S_STATES <= KC_KEYS_STATES_MAX, "room for every key state");

void kc_metrics_register(void)
{
    kc_metrics_t *m = &kc_metrics;
    m->granted = rs_metrics_counter("recsign_leases_granted_total", "Leases granted.", NULL);
    m->released = rs_metrics_counter("recsign_leases_released_total",
                                     "Leases their holder gave back.", NULL);
    m->expired = rs_metrics_counter("recsign_leases_expired_total",
                                    "Leases ended by expiry (their holder missed the TTL).", NULL);
    for (size_t s = 0; s < S_STATES; s++)
        m->keys[s] = rs_metrics_gauge("recsign_keys", "Keys of the keyring by state.",
                                      s_states[s].label);
    m->waiting = rs_metrics_gauge("recsign_holders_waiting",
                                  "Holders queued for a key while none is free.", NULL);
    m->leader = rs_metrics_gauge("recsign_keycoord_leader",
                                 "1 while this keycoord leads (grants leases), 0 while it is a standby.",
                                 NULL);
    m->epoch = rs_metrics_gauge("recsign_keycoord_epoch",
                                "The leadership term (keycoord_state.epoch) this keycoord leads; 0 while standby.",
                                NULL);
    m->wait_seconds = rs_metrics_histogram(
        "recsign_lease_wait_seconds",
        "Time from a holder's first lease request (its retries included) to its grant; one "
        "observation per grant.", NULL);
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
    for (size_t s = 0; s < S_STATES; s++)
        rs_metric_set(kc_metrics.keys[s], (int64_t) s_states[s].count(coord));
    rs_metric_set(kc_metrics.waiting, (int64_t) kc_coord_waiting_count(coord));
}
