#!/usr/bin/env bash
# keycoord_hung.sh: the leader hangs for good with its database session
# open (SIGSTOP, never resumed while the run lasts), as a wedged process or
# a host cut off from everyone but its idle TCP connections would. A
# standby on another address, and workers given both addresses, must carry
# the run without an operator: the server ends the frozen leader's idle
# session after KC_OWNER_IDLE_TIMEOUT_MS (2 s), the standby takes the lock,
# holds its grants for one TTL and 1 s (the leader did not stop cleanly),
# binds its own address and serves; the workers move to it by themselves;
# the run completes with every record signed once, and nothing of epoch 1
# was granted or written after the freeze. Resumed at the end, the old
# leader finds its leadership gone and steps down without granting.
source "$(dirname "${BASH_SOURCE[0]}")/../harness.sh"

records=60000 keys=3 batch=5 ttl=2000
h_fault_options "$ttl" 1500 4000

h_start_db
h_init --keys "$keys" --records "$records"
h_worker_endpoints
h_extra_endpoint kc2
h_start_keycoord
a=$H_KC_PID a_log=$H_KC_LOG
h_wait_until 20 "keycoord A to lead" h_kc_serves "$a_log" 1
h_start_keycoord --bind "$kc2"
b_log=$H_KC_LOG
h_wait_until 20 "keycoord B to say it is a standby" \
    grep -q "standby: another recsign-keycoord leads (epoch 1); waiting to take over" "$b_log"
h_start_sink
h_start_worker 1 --holder wa --keycoord "$H_EP_KC,$kc2"
wa_log=$H_WORKER_LOG
h_start_worker 1 --holder wb --keycoord "$H_EP_KC,$kc2"
wb_log=$H_WORKER_LOG
h_start_ventilator "$batch"
h_wait_signed 5000 30

session="$(h_kc_session "$a_log")"
kill -STOP "$a"
frozen_at="$(date +%s.%N)"
h_step "SIGSTOP keycoord A (pid $a) for the rest of the run; its lock is held by database session $session"
h_wait_until 30 "keycoord B to lead epoch 2 while A hangs" grep -q "leading as epoch 2 " "$b_log"
took="$(awk -v t="$frozen_at" -v n="$(date +%s.%N)" 'BEGIN { printf "%.1f", n - t }')"
h_step "keycoord B leads epoch 2, $took s after the freeze"
h_log_has "$b_log" "did not stop cleanly" "the new leader's word on the unclean stop"
h_wait_until 30 "keycoord B to serve epoch 2 on $kc2" h_kc_serves "$b_log" 2
for log in "$wa_log" "$wb_log"; do
    h_wait_until 30 "$(basename "$log") to move to $kc2" \
        grep -q "keycoord at $kc2 answers; leasing from it" "$log"
done
h_wait_ventilator 120
[[ "$(ps -o stat= -p "$a")" == T* ]] || h_fail "keycoord A was not frozen for the whole run (state $(ps -o stat= -p "$a"))"

h_eq "$(h_sql "select count(*) from leases where epoch = 1 and granted_at > to_timestamp($frozen_at)")" 0 \
    "leases of the hung leader's epoch granted after the freeze"
h_eq "$(h_sql "select count(*) from leases where epoch = 1 and ended_at > to_timestamp($frozen_at)
               and end_epoch = 1")" 0 "lease ends written by the hung leader after the freeze"
for w in wa wb; do
    (( $(h_sql "select count(*) from leases where epoch = 2 and '/' || holder like '%/$w/%'") > 0 )) \
        || h_fail "worker $w got no lease from the standby"
done

kill -CONT "$a"
h_step "SIGCONT keycoord A (pid $a)"
h_wait_until 30 "keycoord A to step down" \
    grep -q "no longer the leader of epoch 1: lease socket closed; back to standby" "$a_log"
h_finish_kc "$batch" 2
echo "$RS_PROG: ok: a leader hung with its session open lost the lock by itself; the standby on $kc2 carried the run (took over $took s after the freeze; run completed in $H_VENT_SECONDS s); test took $SECONDS s"
