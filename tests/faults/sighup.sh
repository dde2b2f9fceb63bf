#!/usr/bin/env bash
# sighup.sh: no process dies of SIGHUP (a closed terminal, a careless
# `kill -HUP`, a log rotation script). Mid-run, SIGHUP goes to the
# keycoord, the sink, each worker and the ventilator, twice each; every
# process keeps running (they ignore SIGHUP: they log to stderr and have no
# file to reopen), the run completes, every process then stops with exit 0 on SIGTERM, and the
# keycoord records a clean stop. `recsign verify` (a long admin command) is
# sent SIGHUP too and still finishes with exit 0.
source "$(dirname "${BASH_SOURCE[0]}")/../harness.sh"

records=60000 keys=4 batch=10
h_fault_options 3000 1500 2000

h_start_db
h_init --keys "$keys" --records "$records"
h_start_keycoord
h_start_sink
h_start_worker 1; w1=$H_WORKER_PID
h_start_worker 1; w2=$H_WORKER_PID
h_start_ventilator "$batch"
h_wait_signed 2000 30

hup() {
    local pid="$1" name
    name="$(h_pname "$pid")"
    h_step "SIGHUP to $name (pid $pid)"
    kill -HUP "$pid"
}
for round in 1 2; do
    for pid in "$H_KC_PID" "$H_SINK_PID" "$w1" "$w2" "$H_VENT_PID"; do
        hup "$pid"
    done
    sleep 0.5
    h_check_alive
done
h_check_mid_run

h_wait_ventilator 120
h_finish "$batch"
h_log_has "$H_LOGS/keycoord.log" "stopped cleanly" "the keycoord's clean stop after SIGHUP"

h_step "SIGHUP to recsign verify"
"$H_ADMIN" verify --db "$H_DB" --threads 1 >"$H_LOGS/verify-hup.out" 2>&1 &
vpid=$!
# Once it has set SIGHUP aside (bit 1 of the ignored-signals mask; a
# signal before main() runs would kill any program), and while it verifies.
hup_ignored() {
    local mask
    mask="$(awk '/^SigIgn:/ { print $2 }' "/proc/$vpid/status" 2>/dev/null)" || return 1
    [[ -n "$mask" ]] && (( (16#$mask & 1) == 1 ))
}
for ((i = 0; i < 300; i++)); do hup_ignored && break; rs_proc_alive "$vpid" || break; sleep 0.01; done
kill -HUP "$vpid" 2>/dev/null || true
st=0
wait "$vpid" || st=$?
(( st == 0 )) || { cat "$H_LOGS/verify-hup.out" >&2; h_fail "recsign verify exited with status $st after SIGHUP"; }
echo "$RS_PROG: ok: every process survived SIGHUP mid-run; the run completed; test took $SECONDS s"
