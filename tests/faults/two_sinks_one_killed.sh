#!/usr/bin/env bash
# two_sinks_one_killed.sh: two sinks write into one database at once; the
# workers are given both (--sink A,B) and spread their results over them.
# Mid-run, once both have stored signatures, sink B is killed with SIGKILL
# and not started again. The run completes by itself: the workers' results
# go to sink A alone from then on (ZMQ_IMMEDIATE: nothing more is queued
# for the dead one), and what B had received but not committed is
# dispatched again by the ventilator. Each sink fenced on its own; no
# record is signed twice; what B committed stays as it was.
source "$(dirname "${BASH_SOURCE[0]}")/../harness.sh"

records=80000 keys=5 batch=5 ttl=3000
h_fault_options "$ttl" 1500

h_start_db
h_init --keys "$keys" --records "$records"
h_sql "create schema scratch" >/dev/null   # saved rows, out of the contract's way
h_worker_endpoints
ma="" mb=""
h_extra_endpoint sink_b
h_free_port ma || h_fail "no free port (see the line above)"
h_free_port mb || h_fail "no free port (see the line above)"
h_start_keycoord
h_start_sink --metrics-bind "127.0.0.1:$ma"
sink_a_log=$H_SINK_LOG
h_start_sink --bind "$sink_b" --metrics-bind "127.0.0.1:$mb"
sink_b_pid=$H_SINK_PID sink_b_log=$H_SINK_LOG
# Paced (2 x 3,000 signatures/s: about 13 s for the run), so that the kill
# lands mid-run however fast the machine is.
h_start_worker 1 --max-rate 3000 --sink "$H_EP_SINK,$sink_b"
h_start_worker 1 --max-rate 3000 --sink "$H_EP_SINK, $sink_b"
h_start_ventilator "$batch"

# stored PORT: the sink's recsign_signatures_stored_total (what it committed).
stored() {
    curl -fs "http://127.0.0.1:$1/metrics" 2>/dev/null \
        | awk '$1 == "recsign_signatures_stored_total" { print $2 }'
}
both_stored() {
    local a b
    a="$(stored "$ma")" b="$(stored "$mb")"
    (( ${a:-0} >= 2000 && ${b:-0} >= 2000 ))
}
h_wait_until 30 "both sinks to store 2,000 signatures" both_stored
h_check_mid_run
b_stored="$(stored "$mb")" a_before="$(stored "$ma")"
h_step "sink A stored $a_before, sink B $b_stored"
h_kill "$sink_b_pid"
# What B committed, as it stands now (nothing else writes its rows again).
h_sql "create table scratch.committed as select * from signatures" >/dev/null
committed="$(h_sql 'select count(*) from scratch.committed')"
h_check_mid_run
h_wait_ventilator 90
a_total="$(stored "$ma")"

h_eq "$(h_sql "select count(*) from scratch.committed c left join signatures s using (record_id)
               where s.record_id is null or s.signature <> c.signature or s.key_id <> c.key_id
                  or s.lease_id <> c.lease_id or s.signed_at <> c.signed_at")" \
    0 "signatures committed before the kill that are gone or changed"
h_sql "drop schema scratch cascade" >/dev/null
# Records dispatched more than once: those whose signatures were lost with
# sink B (received or queued, not committed), and any a stall sent again.
dispatched="$(grep -oE 'this process dispatched [0-9]+ records' "$H_VENT_LOG" | grep -oE '[0-9]+')"
h_step "measured: sink B stored $b_stored before the kill; sink A $a_total in all; the ventilator dispatched $dispatched records for $records ($((dispatched - records)) again)"
# Every record not stored when B died was stored by A afterwards.
(( a_total - a_before >= records - committed )) \
    || h_fail "sink A stored $((a_total - a_before)) after the kill; expected at least the $((records - committed)) records left then"
h_log_lacks "$sink_a_log" 'ERROR' "sink A"
h_log_lacks "$sink_b_log" 'ERROR' "sink B"

h_finish "$batch"
echo "$RS_PROG: ok: two sinks, one killed after storing $b_stored; $((dispatched - records)) records dispatched again; run completed in $H_VENT_SECONDS s; test took $SECONDS s"
