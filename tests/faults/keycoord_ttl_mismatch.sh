#!/usr/bin/env bash
# keycoord_ttl_mismatch.sh: the keycoords of one database disagree on the
# lease TTL. Each leader records its TTL in keycoord_state.lease_ttl_ms.
# 1. A standby started with another --lease-ttl-ms than the leader's would
#    hold the leases it adopts for the wrong time: it refuses to wait, with
#    one line naming both TTLs, and exits 2 (a configuration error, which
#    the systemd unit does not restart).
# 2. A keycoord with a shorter TTL that takes over from a leader killed
#    mid-run holds the leases left open for the TTL they were granted with,
#    not its own: nothing is granted for the old TTL and 1 s after the kill
#    (its own TTL would have allowed grants after 1.5 s), the run completes
#    and the audit proves that no key had two holders.
source "$(dirname "${BASH_SOURCE[0]}")/../harness.sh"

records=60000 keys=3 batch=5 ttl=4000 short=500
h_fault_options "$ttl" 1500 4000

h_start_db
h_init --keys "$keys" --records "$records"
h_start_keycoord
a=$H_KC_PID a_log=$H_KC_LOG
h_wait_until 20 "keycoord A to lead" h_kc_serves "$a_log" 1
h_eq "$(h_sql "select lease_ttl_ms from keycoord_state")" "$ttl" "the leader's recorded lease TTL"

h_step "a standby with --lease-ttl-ms 9000 beside the leader's $ttl"
H_KC_OPTS=(--lease-ttl-ms 9000)
h_start_keycoord
b=$H_KC_PID b_log=$H_KC_LOG
rs_wait_proc "$b" 20 || h_fail "the standby with another TTL did not exit within 20 s"
h_eq "$RS_WAIT_STATUS" 2 "exit status of the standby with another TTL"
h_log_has "$b_log" "ERROR --lease-ttl-ms 9000 differs from the $ttl ms of the keycoord that leads \\(epoch 1\\); expected the same TTL on every keycoord" \
    "the standby's one-line refusal"
h_log_lacks "$b_log" "standby: another recsign-keycoord leads" "the mismatched standby waiting"
h_eq "$(h_sql "select epoch || ' ' || lease_ttl_ms from keycoord_state")" "1 $ttl" \
    "keycoord state after the refusal"

h_step "mid-run, A ($ttl ms leases) killed; a keycoord with $short ms leases takes over"
h_kc_run "$batch"
h_kill "$a"
killed_at="$(date +%s.%N)"
H_KC_OPTS=(--lease-ttl-ms "$short")
h_start_keycoord
c_log=$H_KC_LOG
h_wait_until 30 "keycoord C to serve as the leader of epoch 2" h_kc_serves "$c_log" 2
h_log_has "$c_log" "the previous keycoord granted leases of $ttl ms, this one grants $short ms: leases left open are held for the TTL they were granted with" \
    "keycoord C's word on the longer TTL of the leases it adopted"
h_log_has "$c_log" "no key is granted for one lease TTL and 1000 ms \\($((ttl + 1000)) ms\\)" \
    "keycoord C's hold after the unclean stop"
h_wait_ventilator 120
h_check_alive
h_eq "$(h_sql "select count(*) from leases where granted_at > to_timestamp($killed_at)
               and granted_at < to_timestamp($killed_at) + interval '$ttl milliseconds'")" 0 \
    "leases granted within the old TTL of the leader's death"
h_eq "$(h_sql "select lease_ttl_ms from keycoord_state")" "$short" "the new leader's recorded lease TTL"
h_finish_kc "$batch" 2
echo "$RS_PROG: ok: a standby with another TTL refused to wait (exit 2); a leader with a shorter TTL held the leases it adopted for their own; run completed in $H_VENT_SECONDS s; test took $SECONDS s"
