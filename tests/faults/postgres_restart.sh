#!/usr/bin/env bash
# postgres_restart.sh: PostgreSQL restarted (pg_ctl restart -m fast, which
# disconnects every client) in the middle of a run. No process exits: the
# ventilator and the sink reconnect with backoff and say so in their logs;
# the keycoord, whose lock went with its session, stops granting, goes back
# to standby and leads again in a new epoch (after one TTL: its old term did
# not stop cleanly); workers reconnect by themselves. The run completes with
# exactly one signature per record, verify and audit passing. A second
# restart just before the stop: every process still exits 0 on SIGTERM and
# the keycoord, leading again, records its clean stop.
source "$(dirname "${BASH_SOURCE[0]}")/../harness.sh"

records=80000 keys=5 batch=5 ttl=3000
h_fault_options "$ttl" 2000 4000

h_start_db
h_init --keys "$keys" --records "$records"
h_start_services 2 1
h_start_ventilator "$batch"

h_wait_signed 5000 30
h_step "restarting PostgreSQL"
h_pg_restart
h_step "PostgreSQL is back"
h_check_alive
h_wait_ventilator 90
h_check_alive

h_log_has "$H_KC_LOG" "leading as epoch 2 " "the keycoord's new term after the restart"
for log in "$H_SINK_LOG" "$H_VENT_LOG"; do
    h_log_has "$log" "database connection re-established" "no reconnect logged"
    h_step "$(basename "$log" .log): $(grep -c 'database connection re-established' "$log") reconnect(s)"
done
h_eq "$(grep -c 'received fast shutdown request' "$H_PG/postgres.log")" 1 "PostgreSQL restarts"

# A restart just before the stop: the processes' idle connections are dead,
# and still each one stops cleanly (exit 0; the keycoord records its clean
# stop, so that the next one need not wait a TTL).
h_step "restarting PostgreSQL again, then stopping every process"
h_pg_restart
h_wait_until 30 "the keycoord to lead again (epoch 3)" grep -q "serving leases on .* epoch 3$" "$H_KC_LOG"
h_stop "$H_KC_PID" TERM
h_finish "$batch"
h_log_has "$H_KC_LOG" "stopped cleanly" "the keycoord's clean stop after a PostgreSQL restart"
h_eq "$(h_sql 'select count(*) from keycoord_state where clean_stop')" 1 "keycoord state after its stop"
echo "$RS_PROG: ok: every process survived a PostgreSQL restart mid-run; run completed in $H_VENT_SECONDS s; test took $SECONDS s"
