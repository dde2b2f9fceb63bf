/* kc_metrics: the keycoord's Prometheus series, registered once at start,
 * counted by the server loop where the events happen; the gauges of keys
 * by state and waiting holders are set by the loop every 100 ms. Unregistered
 * (NULL) series count nothing. */
#ifndef KC_METRICS_H
#define KC_METRICS_H

#include "kc_coord.h"
#include "rs_metrics.h"

/* recsign_keys{state}: one series per state of the table in kc_metrics.c
 * (label and counting function); a new state, e.g. quarantined, is one
 * more row there. */
#define KC_KEYS_STATES_MAX 8

typedef struct {
    rs_metric_t *granted, *released, *expired;  /* recsign_leases_{granted,released,expired}_total */
    rs_metric_t *keys[KC_KEYS_STATES_MAX];      /* recsign_keys{state} */
    rs_metric_t *waiting;                       /* recsign_holders_waiting */
    rs_metric_t *leader;                        /* recsign_keycoord_leader: 1 leading, 0 standby */
    rs_metric_t *epoch;                         /* recsign_keycoord_epoch: the term led, 0 */
    rs_metric_t *wait_seconds;                  /* recsign_lease_wait_seconds */
    rs_metric_t *refused_batch;                 /* recsign_leases_refused_total{reason="batch_size"} */
    /* recsign_messages_dropped_total{reason} */
    rs_metric_t *dropped_malformed, *dropped_unauthorized, *dropped_queue_full,
        *dropped_undeliverable;
} kc_metrics_t;

extern kc_metrics_t kc_metrics;

/* Registers the series; call once, before the loop starts. */
void kc_metrics_register(void);

/* Sets recsign_keys{state} and recsign_holders_waiting from coord; scans
 * the keyring, so call it a few times a second, not per request. */
void kc_metrics_set_keys(const kc_coord_t *coord);

#endif
