#!/usr/bin/env bash
# keycoord_same_bind.sh: issue 12's second scenario. A second keycoord
# started with the same --bind as the leader waits as a standby without
# binding. The leader's lock session is cut: the standby takes over (epoch
# 2) and waits for the address, which the deposed leader lets go of once it
# finds out; then it binds and serves. Only the leader of the current epoch
# may record a clean stop: before the fix the second keycoord, unable to
# bind, marked keycoord_state.clean_stop = true on its way out while the
# first still served, and after the first was killed the next keycoord
# granted at once. Here: clean_stop stays false while any keycoord serves,
# also after a third keycoord (a standby) is stopped with SIGTERM; the
# leader is then killed with SIGKILL and the standby that takes over
# (epoch 3) grants nothing for one TTL. The run completes; verify and
# audit pass.
source "$(dirname "${BASH_SOURCE[0]}")/../harness.sh"

records=60000 keys=3 batch=5 ttl=2000
h_fault_options "$ttl" 1500 4000

h_start_db
h_init --keys "$keys" --records "$records"
h_start_kc_pair
a_log=$H_KC_A_LOG b=$H_KC_B b_log=$H_KC_B_LOG
h_kc_run "$batch"

not_clean() { h_eq "$(h_sql "select clean_stop from keycoord_state")" f "keycoord_state.clean_stop while $1"; }
not_clean "A leads"
h_cut_session "$(h_kc_session "$a_log")"
h_wait_until 30 "keycoord B to serve as the leader of epoch 2" h_kc_serves "$b_log" 2
h_log_has "$a_log" "no longer the leader of epoch 1: lease socket closed; back to standby" "A back to standby"
not_clean "B leads, A is a standby"

# A third keycoord, a standby too, stopped: it owns nothing and writes nothing.
h_start_keycoord
c=$H_KC_PID c_log=$H_KC_LOG
h_wait_until 20 "keycoord C to wait as a standby" grep -q "standby: another recsign-keycoord leads (epoch 2)" "$c_log"
h_stop "$c" TERM
h_log_has "$c_log" "stopped while standby" "C's stop as a standby"
not_clean "B leads, after a standby stopped"

epoch2_granted() { (( $(h_sql "select count(*) from leases where epoch = 2") > 0 )); }
h_wait_until 30 "a grant of epoch 2 in the log" epoch2_granted
h_check_mid_run
h_kill "$b"
killed_at="$(date +%s.%N)"
h_wait_until 30 "keycoord A to serve as the leader of epoch 3" h_kc_serves "$a_log" 3
h_log_has "$a_log" "the previous keycoord did not stop cleanly" "A's word on B's unclean stop"
not_clean "A leads again"
h_wait_ventilator 120
h_check_alive

# After the kill, nothing was granted for one TTL.
h_eq "$(h_sql "select count(*) from leases where granted_at > to_timestamp($killed_at)
               and granted_at < to_timestamp($killed_at) + interval '$ttl milliseconds'")" 0 \
    "leases granted within one TTL of the leader's death"
h_finish_kc "$batch" 3
echo "$RS_PROG: ok: a standby on the same address took over, bound once the deposed leader let go; no keycoord but the leader touched clean_stop; the next leader held grants for a TTL; run completed in $H_VENT_SECONDS s; test took $SECONDS s"
