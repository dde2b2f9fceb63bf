#!/usr/bin/env bash
# keycoord_failover_list.sh: workers are given two keycoord endpoints. The
# keycoord on the first is killed with SIGKILL mid-run, and a second one is
# started on the other endpoint (what a standby taking over looks like to a
# worker: it binds only once it leads). The workers are not restarted or
# told anything: each thread's lease client stops getting answers from the
# first, moves to the next endpoint of its list and stays there. Their
# lease state stays right across the move: leases granted by the first are
# released to (or expired by) the second, which adopted them from the log;
# the run completes; at the workers' stop their goodbye reaches the second
# keycoord and no lease is left open; the audit proves rules 2 and 4 over
# the whole lease log.
source "$(dirname "${BASH_SOURCE[0]}")/../harness.sh"

records=80000 keys=3 batch=5 ttl=2000
h_fault_options "$ttl" 1500 4000

h_start_db
h_init --keys "$keys" --records "$records"
h_worker_endpoints
h_extra_endpoint kc2
h_start_keycoord
first_kc=$H_KC_PID
h_start_sink
h_start_worker 1 --holder wa --keycoord "$H_EP_KC,$kc2"
wa=$H_WORKER_PID wa_log=$H_WORKER_LOG
h_start_worker 1 --holder wb --keycoord "$H_EP_KC, $kc2"
wb=$H_WORKER_PID wb_log=$H_WORKER_LOG
h_start_ventilator "$batch"

h_wait_signed 5000 30
h_kill "$first_kc"
killed_at="$(date +%s.%N)"
h_log_lacks "$wa_log" "trying the next in the list" "worker wa before the kill"
sleep 0.5
h_step "second keycoord on the workers' other endpoint, $kc2"
h_start_keycoord --bind "$kc2"
h_wait_until 10 "the new keycoord to report the unclean stop" \
    grep -q "did not stop cleanly" "$H_KC_LOG"

for log in "$wa_log" "$wb_log"; do
    h_wait_until 30 "$(basename "$log") to move to $kc2" \
        grep -q "keycoord at $kc2 answers; leasing from it" "$log"
done
h_log_has "$wa_log" "keycoord at $H_EP_KC has not answered [0-9]+ attempts of 1000 ms in a row; trying the next in the list, $kc2" \
    "worker wa's move"
h_wait_ventilator 90
h_check_alive

# Both workers, never restarted, were granted leases by the second keycoord.
for w in "wa/$wa" "wb/$wb"; do
    n="$(h_sql "select count(*) from leases where '/' || holder like '%/$w/%' and granted_at > to_timestamp($killed_at)")"
    (( n > 0 )) || h_fail "worker $w got no lease from the keycoord at $kc2"
    h_step "worker $w: $n leases from the second keycoord"
done
# Each keeps the keycoord that answers: once it says so, it never moves
# again (before that, a thread may have come back to the first endpoint
# while the second keycoord was starting, or holding its grants for one
# TTL after the unclean stop).
for log in "$wa_log" "$wb_log"; do
    after="$(sed -n "/keycoord at ${kc2//\//\\/} answers; leasing from it/,\$p" "$log" | grep -c "trying the next in the list" || true)"
    h_eq "$after" 0 "$(basename "$log"): moves after the second keycoord answered"
done

h_finish "$batch"
# The workers' goodbye went to the second keycoord, which then stopped
# cleanly: no lease is left open, those granted by the first included.
h_eq "$(h_sql "select count(*) from leases where ended_at is null")" 0 "leases still open after the stop"
h_log_has "$H_LOGS/audit.out" '^rule 2 .*: ok' "audit rule 2"
h_log_has "$H_LOGS/audit.out" '^rule 4 .*: ok' "audit rule 4"
echo "$RS_PROG: ok: keycoord on the first endpoint killed; workers moved to $kc2 by themselves; run completed in $H_VENT_SECONDS s; test took $SECONDS s"
