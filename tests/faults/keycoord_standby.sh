#!/usr/bin/env bash
# keycoord_standby.sh: a second keycoord, started with the same --bind while
# the first leads, waits as a hot standby: it says so in one line, does not
# bind, and its metrics show recsign_keycoord_leader 0. The leader is killed
# with SIGKILL mid-run; the standby takes the lock, begins epoch 2, finds
# that the previous leader did not stop cleanly and grants nothing for one
# TTL (and the 1 s a deposed leader may still grant), then binds the same
# address and serves. Nothing is restarted by hand: the workers reconnect
# by themselves, the run completes, and the audit proves rules 2 and 4
# across both leaders.
source "$(dirname "${BASH_SOURCE[0]}")/../harness.sh"

records=60000 keys=3 batch=5 ttl=2000
h_fault_options "$ttl" 1500 4000

h_start_db
h_init --keys "$keys" --records "$records"
mport=""
h_free_port mport || h_fail "no free port"
h_start_kc_pair --metrics-bind "127.0.0.1:$mport"
first=$H_KC_A standby_log=$H_KC_B_LOG
leader_gauge() { curl -fsS "http://127.0.0.1:$mport/metrics" | awk '$1 == "recsign_keycoord_leader" { print $2 }'; }
h_eq "$(leader_gauge)" 0 "recsign_keycoord_leader of the standby"
h_kc_run "$batch"
h_log_lacks "$standby_log" "serving leases" "the standby served while the first led"
h_kill "$first"
killed_at="$(date +%s.%N)"

h_wait_until 30 "the standby to serve as the leader of epoch 2" h_kc_serves "$standby_log" 2
h_log_has "$standby_log" "did not stop cleanly" "the new leader's word on the unclean stop"
h_eq "$(leader_gauge)" 1 "recsign_keycoord_leader of the new leader"
h_eq "$(curl -fsS "http://127.0.0.1:$mport/metrics" | awk '$1 == "recsign_keycoord_epoch" { print $2 }')" 2 \
    "recsign_keycoord_epoch of the new leader"
h_admin status >"$H_LOGS/status.out" 2>&1 || { cat "$H_LOGS/status.out" >&2; h_fail "recsign status failed"; }
h_log_has "$H_LOGS/status.out" "^keycoord: +leader of epoch 2 \\(lock held by database session $(h_kc_session "$standby_log")\\), leases of $ttl ms" \
    "recsign status naming the new leader"
h_wait_ventilator 90
h_check_alive

# The new leader granted nothing within one TTL of the kill.
h_eq "$(h_sql "select count(*) from leases where granted_at > to_timestamp($killed_at)
               and granted_at < to_timestamp($killed_at) + interval '$ttl milliseconds'")" 0 \
    "leases granted within one TTL of the leader's death"
h_eq "$(h_sql "select count(*) from leases where epoch is null or epoch not in (1, 2)")" 0 \
    "leases of no epoch, or of another than the two leaders'"
(( $(h_sql "select count(*) from leases where epoch = 2") > 0 )) || h_fail "the new leader granted nothing"
# Both workers, never restarted, were granted leases by the new leader.
for w in wa wb; do
    (( $(h_sql "select count(*) from leases where epoch = 2 and '/' || holder like '%/$w/%'") > 0 )) \
        || h_fail "worker $w got no lease from the new leader"
done

h_finish_kc "$batch" 2
h_admin status >"$H_LOGS/status.out" 2>&1 || h_fail "recsign status failed"
h_log_has "$H_LOGS/status.out" "^keycoord: +none leads \\(last epoch 2, which stopped cleanly\\)" \
    "recsign status after the stop"
echo "$RS_PROG: ok: the standby took over when the leader was killed, held grants for a TTL, the run completed in $H_VENT_SECONDS s; test took $SECONDS s"
