#!/usr/bin/env bash
# metrics_backlog.sh: the ventilator's unsigned backlog shows before any
# record could be sent. With no worker connected, the first pass cannot
# send its first message, yet recsign_unsigned_backlog_records must be
# above 0 (once it stayed 0 until a pass ended, so the stalled-run alert of
# deploy/prometheus could not fire when every worker was gone); once a
# worker joins, the run completes and the audit passes.
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

records=3000
h_start_db
h_init --keys 4 --records "$records"
h_start_keycoord
h_start_sink
mport=""
h_free_port mport
RECSIGN_METRICS_BIND="127.0.0.1:$mport" h_start_ventilator 10

backlog() {
    curl -fsS "http://127.0.0.1:$mport/metrics" 2>/dev/null \
        | awk '$1 == "recsign_unsigned_backlog_records" { print $2 }'
}
backlog_above_zero() { local v; v="$(backlog)"; [[ -n "$v" && "$v" != 0 ]]; }
h_step "no worker: the backlog gauge rises above 0"
h_wait_until 30 "recsign_unsigned_backlog_records above 0 with no worker" backlog_above_zero
shown="$(backlog)"
h_eq "$(curl -fsS "http://127.0.0.1:$mport/metrics" | awk '$1 == "recsign_records_dispatched_total" { print $2 }')" \
    0 "records dispatched with no worker"

h_step "a worker joins: the run completes"
h_start_worker 2
h_wait_ventilator 120
h_finish 10
echo "$RS_PROG: ok: the backlog showed $shown records before any could be sent; the run completed; test took $SECONDS s"
