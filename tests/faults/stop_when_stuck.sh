#!/usr/bin/env bash
# stop_when_stuck.sh: SIGTERM ends a process in any state, within a bounded
# time, with exit 0 and no dangling socket: every send and receive waits a
# bounded time. Each case leaves a process stuck the way operators meet it,
# then stops it (the harness fails a process that has not exited 10 s after
# the signal: a generous bound over the 5 s promised, not a speed test):
#   1. a worker whose certificate was revoked while it ran (its lease
#      requests and results go nowhere);
#   2. a worker whose sink is gone while its result queues are full (the
#      ventilator keeps it busy);
#   3. a worker whose keycoord is gone (it retries a lease forever);
#   4. a ventilator whose workers are all gone with batches queued;
#   5. a keycoord and a sink whose clients are gone, and whose database is
#      gone too (the keycoord, unable to confirm its leadership without its
#      database, has stepped down to standby by then, leaving its term
#      unclean; it stops as a standby with exit 0, as documented; the sink
#      exits 0).
# The run then completes with fresh processes, and verify and audit pass.
source "$(dirname "${BASH_SOURCE[0]}")/../harness.sh"

records=60000 keys=4 batch=10
h_fault_options 3000 1500 1000

h_start_db
h_init --keys "$keys" --records "$records"
# A second allowed worker certificate, revoked in case 1.
"$H_ADMIN" certs --dir "$H_CERTS" --worker doomed >>"$H_LOGS/certs.log" 2>&1 \
    || { cat "$H_LOGS/certs.log" >&2; h_fail "recsign certs --worker doomed failed"; }

h_start_keycoord
h_start_sink
h_start_worker 1 --client-cert doomed; doomed=$H_WORKER_PID
h_start_worker 1; steady=$H_WORKER_PID
h_start_ventilator "$batch"
h_wait_signed 1000 30

h_step "case 1: revoke the doomed worker's certificate, then SIGTERM it"
"$H_ADMIN" certs --dir "$H_CERTS" --revoke doomed >>"$H_LOGS/certs.log" 2>&1 \
    || { cat "$H_LOGS/certs.log" >&2; h_fail "recsign certs --revoke doomed failed"; }
# Long enough for its requests and results to pile up unanswered.
sleep 4
h_check_alive
h_stop "$doomed" TERM 10

h_step "case 2: the sink is gone; the steady worker's result queue fills; SIGTERM it"
h_kill "$H_SINK_PID"
sleep 4
h_check_alive
h_stop "$steady" TERM 10

h_step "case 3: a worker whose keycoord is gone"
h_kill "$H_KC_PID"
h_start_worker 1 --connect-timeout-ms 600000; orphan=$H_WORKER_PID
sleep 3
h_check_alive
h_stop "$orphan" TERM 10

h_step "case 4: a ventilator with no worker left and batches queued"
h_check_alive
h_stop "$H_VENT_PID" TERM 10

h_step "case 5: a keycoord and a sink with no client, and no database"
h_start_keycoord
h_start_sink
# Both past their start-up (which needs the database) before it goes.
log_says() { grep -q -- "$2" "$1"; }
h_wait_until 60 "the keycoord to serve" log_says "$H_KC_LOG" 'serving leases on'
h_wait_until 60 "the sink to collect" log_says "$H_SINK_LOG" 'collecting signatures on'
rs_pg_stop "$H_PG"
sleep 2
h_check_alive
h_stop "$H_SINK_PID" TERM 10
h_step "SIGTERM to keycoord-2 (pid $H_KC_PID), its database gone"
kill -TERM "$H_KC_PID"
kc_status=""
for ((i = 0; i < 100; i++)); do
    rs_proc_alive "$H_KC_PID" || { kc_status=0; wait "$H_KC_PID" || kc_status=$?; break; }
    sleep 0.1
done
[[ -n "$kc_status" ]] || h_fail "keycoord-2 did not exit within 10 s of SIGTERM with its database gone"
RS_PIDS[$(rs_proc_index "$H_KC_PID")]=""
h_eq "$kc_status" 0 "keycoord-2's exit status without its database"
h_log_has "$H_KC_LOG" 'leadership of epoch [0-9]+ cannot be confirmed' "keycoord-2 stepping down without its database"
h_log_has "$H_KC_LOG" 'stopped while standby' "keycoord-2's stop as a standby"

h_step "the run completes with fresh processes, unpaced"
rs_pg_start "$H_PG" >/dev/null || h_fail "could not restart PostgreSQL"
H_WORKER_OPTS=(--request-timeout-ms 1000)
h_start_services 2 1
h_wait_until 60 "the next keycoord to find the unclean term" grep -q "did not stop cleanly" "$H_KC_LOG"
h_run_ventilator "$batch" 120
h_finish "$batch"
echo "$RS_PROG: ok: SIGTERM ended every stuck process with exit 0; the run completed; test took $SECONDS s"
