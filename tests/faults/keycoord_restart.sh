#!/usr/bin/env bash
# keycoord_restart.sh: the keycoord killed with SIGKILL mid-run and started
# again a moment later. The new one finds that the previous one did not stop
# cleanly, says so, and grants nothing for one TTL (a lease the dead one
# granted but had not logged yet may still be in use); it rebuilds the LRU
# queue and the open leases from the log. The workers are not restarted:
# they reconnect by themselves and go on. The run completes; the audit
# proves rules 2 (no overlapping leases) and 4 (LRU order) over the whole
# lease log, across both keycoords.
source "$(dirname "${BASH_SOURCE[0]}")/../harness.sh"

records=80000 keys=3 batch=5 ttl=2000
h_fault_options "$ttl" 1500 4000

h_start_db
h_init --keys "$keys" --records "$records"
h_start_keycoord
first_kc=$H_KC_PID
h_start_sink
h_start_worker 1 --holder wa
wa=$H_WORKER_PID
h_start_worker 1 --holder wb
wb=$H_WORKER_PID
h_start_ventilator "$batch"

h_wait_signed 5000 30
h_kill "$first_kc"
killed_at="$(date +%s.%N)"
sleep 0.5
restarted_at="$(date +%s.%N)"
h_start_keycoord
h_step "keycoord restarted"

h_wait_until 10 "the new keycoord to report the unclean stop" \
    grep -q "did not stop cleanly" "$H_KC_LOG"
h_wait_ventilator 90
h_check_alive

# It held its grants for one TTL: no lease granted between the kill and
# one TTL after the new keycoord started (event times are the keycoord's).
early="$(h_sql "select count(*) from leases where granted_at > to_timestamp($killed_at)
                and granted_at < to_timestamp($restarted_at) + interval '$((ttl - 20)) milliseconds'")"
h_eq "$early" 0 "leases granted within one TTL of the unclean restart"
# Both workers, never restarted, were granted leases by the new keycoord.
for w in "wa/$wa" "wb/$wb"; do
    n="$(h_sql "select count(*) from leases where '/' || holder like '%/$w/%' and granted_at > to_timestamp($restarted_at)")"
    (( n > 0 )) || h_fail "worker $w got no lease from the restarted keycoord"
done

h_finish "$batch"
# Workers released their last leases when stopped; the keycoord then
# stopped cleanly: nothing is left open.
h_eq "$(h_sql "select count(*) from leases where ended_at is null")" 0 "leases still open after the stop"
grep -E '^rule (2|4)' "$H_LOGS/audit.out" | sed 's/^/    /' >&2 || true
h_log_has "$H_LOGS/audit.out" '^rule 2 .*: ok' "audit rule 2"
h_log_has "$H_LOGS/audit.out" '^rule 4 .*: ok' "audit rule 4"
echo "$RS_PROG: ok: keycoord killed and restarted; it held grants for $ttl ms; workers reconnected; run completed in $H_VENT_SECONDS s; test took $SECONDS s"
