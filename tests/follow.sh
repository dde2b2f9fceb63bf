#!/usr/bin/env bash
# follow.sh: recsign-ventilator --follow, a run that stays open. It signs a
# backlog, then records inserted later: one-row and multi-row transactions
# (several statements in one), while the services are idle (past a lease
# TTL: leases expire, nothing may busy-loop or exit) and while they are
# busy with a stream of inserts. Records whose notification never comes
# are still found by the safety poll: inserted with the trigger disabled
# (above every id, and below every id: the sweep), while the ventilator's
# database connection is cut, while the server is down for 2 s (no
# process may log an error for what it rides out), and by a transaction
# that commits a low id after higher ones were signed. SIGTERM mid-stream ends the run cleanly
# (exit 0, run finished); records inserted meanwhile are signed by the next
# run, which may take another batch size. After each part: exactly one
# signature per record, no lease over the run's batch size, verify, audit.
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

backlog=3000 keys=5 batch=50 ttl=2000
h_fault_options "$ttl" 1500
H_VENT_OPTS+=(--follow)

h_start_db
h_init --keys "$keys" --records "$backlog"

# ins FIRST COUNT [PER_STATEMENT]: inserts records FIRST.. in one
# transaction, PER_STATEMENT rows to an INSERT (default: all in one).
ins() {
    local first="$1" count="$2" per="${3:-$2}" sql="BEGIN;" lo
    for ((lo = first; lo < first + count; lo += per)); do
        local hi=$((lo + per - 1))
        (( hi < first + count )) || hi=$((first + count - 1))
        sql+="INSERT INTO records SELECT g, decode(md5(g::text), 'hex') FROM generate_series($lo, $hi) g;"
    done
    h_sql "$sql COMMIT;" >/dev/null
}
records() { h_sql 'select count(*) from records'; }
all_signed() {
    local r s
    r="$(records 2>/dev/null)" && s="$(h_signed 2>/dev/null)" && [[ "$r" == "$s" ]]
}
# wait_all WHAT: every record signed, the ventilator still following.
wait_all() {
    h_wait_until 60 "every record signed ($1)" all_signed
    h_check_alive
    h_step "$1: all $(records) records signed"
}
# proofs: one signature per record, the run's batch size kept, verify, audit.
proofs() {
    h_check_complete
    h_check_leases "$1"
    h_verify
    h_audit
}
# cpu_of PID: CPU seconds so far.
cpu_of() { rs_cpu_seconds "$1"; }

h_start_services 2 1
h_start_ventilator "$batch"
vent=$H_VENT_PID vent_log=$H_VENT_LOG
wait_all "backlog"
h_log_has "$vent_log" "following inserted records" "the ventilator's switch to follow mode"

h_step "idle for $((ttl * 3 / 1000)) s, past the lease TTL"
declare -A cpu0=()
for i in "${!RS_PIDS[@]}"; do [[ -n "${RS_PIDS[$i]}" ]] && cpu0[$i]="$(cpu_of "${RS_PIDS[$i]}")"; done
idle=$((ttl * 3 / 1000))
sleep "$idle"
h_check_alive
# A busy loop burns its whole wall time; an idle service next to nothing.
for i in "${!cpu0[@]}"; do
    used="$(rs_cpu_delta "${cpu0[$i]}" "$(cpu_of "${RS_PIDS[$i]}")")"
    awk -v u="$used" -v t="$idle" 'BEGIN { exit !(u < t / 2) }' \
        || h_fail "${RS_PNAMES[$i]} used $used CPU-s over $idle s idle (busy loop)"
done
h_eq "$(h_sql 'select count(*) from leases where ended_at is null')" 0 "leases open while idle"

h_step "one-row transactions while idle"
top=$backlog
for n in 1 2 3; do ins $((top + n)) 1; wait_all "one-row insert $n"; done
top=$((top + 3))
h_step "multi-row transactions while idle"
ins $((top + 1)) 500; top=$((top + 500)); wait_all "500 rows in one statement"
ins $((top + 1)) 300 7; top=$((top + 300)); wait_all "300 rows in 43 statements of one transaction"
proofs "$batch"

h_step "a stream of inserts (busy): one-row and 100-row transactions"
stream() {
    local at="$1" i
    for ((i = 0; i < 40; i++)); do
        ins "$at" 100 || return 1
        at=$((at + 100))
        ins "$at" 1 || return 1
        at=$((at + 1))
    done
}
stream $((top + 1)) &
stream_pid=$!
wait "$stream_pid" || h_fail "the insert stream failed"
top=$((top + 40 * 101))
wait_all "stream of 40 x (100 + 1) rows"

h_step "records whose notification never comes (the trigger off): next ids, and below every id"
h_sql "BEGIN; ALTER TABLE records DISABLE TRIGGER records_added;
       INSERT INTO records SELECT g, '\\x00' FROM generate_series($((top + 1)), $((top + 50))) g;
       INSERT INTO records VALUES (-7, ''), (-9223372036854775808, '\\x01');
       ALTER TABLE records ENABLE TRIGGER records_added; COMMIT;" >/dev/null
top=$((top + 50))
wait_all "52 rows without a notification"
proofs "$batch"

h_step "the ventilator's connection cut while records are inserted"
h_sql "select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'recsign-ventilator'" >/dev/null
ins $((top + 1)) 200 20; top=$((top + 200))
h_sql "select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'recsign-ventilator'" >/dev/null
ins $((top + 1)) 1; top=$((top + 1))
wait_all "inserts around two cut connections"

# The ventilator waits for notifications; every reconnect fails while the
# server is down, and nothing it then tries may count as an error: the
# services ride an outage out (this logged "reading unsigned records
# failed: no connection" at ERROR).
# Then a crash-like stop (-m immediate: the server goes away while
# statements are sent, and sessions can look alive until read again).
for mode in fast immediate; do
    h_step "PostgreSQL stopped ($mode) for 2 s while the ventilator waits for notifications"
    h_pg_ctl stop "$mode"
    sleep 2
    h_pg_ctl start
    ins $((top + 1)) 30; top=$((top + 30))
    wait_all "inserts after the $mode outage"
done
h_log_has "$vent_log" "database connection re-established" "the ventilator's reconnect"
for log in "$vent_log" "$H_SINK_LOG"; do
    h_log_lacks "$log" ' ERROR ' "$(basename "$log" .log) logged errors while the database was away"
    # libpq's own default would print a server's last words raw.
    h_log_lacks "$log" '^(FATAL|WARNING|ERROR): ' "$(basename "$log" .log) unlogged server messages"
done

# The sink's progress counts read records: an operator's exclusive lock
# on the table must not hold the sink (it stored nothing while it waited).
h_step "records locked (ACCESS EXCLUSIVE) for 12 s: the sink's count gives way"
h_psql_session locker
h_psql_say "BEGIN; LOCK TABLE records IN ACCESS EXCLUSIVE MODE; SELECT 'locked';"
h_wait_until 10 "the lock taken" grep -q '^locked$' "$H_LOGS/locker.log"
h_wait_until 15 "the sink's count to give way" \
    grep -q "counting records: the table is locked by another session" "$H_SINK_LOG"
h_psql_say "COMMIT;"
h_psql_end
ins $((top + 1)) 30; top=$((top + 30))
wait_all "inserts after the lock"

h_step "a low id committed after higher ones were signed"
slow_id=$((top + 1))
h_sql "BEGIN; INSERT INTO records VALUES ($slow_id, '\\x02'); SELECT pg_sleep(3); COMMIT;" >/dev/null &
slow_pid=$!
sleep 0.5
ins $((top + 2)) 100; top=$((top + 101))
visible="$(records)"
h_wait_until 30 "the rows above the open transaction's id signed" h_signed_at_least "$visible"
wait "$slow_pid" || h_fail "the slow transaction failed"
wait_all "a late commit below the watermark"
proofs "$batch"

h_step "SIGTERM mid-stream"
stream $((top + 1)) &
stream_pid=$!
h_wait_until 30 "the stream under way" h_signed_at_least $(( $(h_signed) + 500 ))
run="$(h_sql 'select max(id) from runs')"
h_stop "$vent" TERM
h_log_has "$vent_log" "follow run $run ended on request" "the ventilator's clean end"
# The late commit was found by the re-read of what the watermark passed,
# the rows below every id by the sweep.
h_log_has "$vent_log" " [1-9][0-9]* found late, [1-9][0-9]* found by the sweep" \
    "records found late and by the sweep"
h_log_lacks "$vent_log" ' ERROR ' "the ventilator logged errors"
h_eq "$(h_sql "select count(*) from runs where id = $run and finished_at is not null")" 1 "run $run finished"
wait "$stream_pid" || h_fail "the insert stream failed"
top=$((top + 40 * 101))
left="$(h_sql 'select count(*) from records r where not exists (select 1 from signatures s where s.record_id = r.id)')"
h_step "$left records left unsigned by the ended run"
(( left > 0 )) || h_fail "nothing was left for the next run; the stream ended before the SIGTERM"

h_step "the next run (batch size 20) signs what was left"
h_start_ventilator 20
vent=$H_VENT_PID vent_log=$H_VENT_LOG
h_log_has "$H_LOGS/ventilator-1.log" "starting run $run" "the first run's start"
wait_all "the next run"
h_log_has "$vent_log" "starting run $((run + 1)) with batch size 20" "a new run"
h_step "an id far above the others, then lower ones: the sweep finds those"
ins 1000000000000000 1
ins $((top + 1)) 100 10; top=$((top + 100))
wait_all "100 rows below a far higher id"
h_stop "$vent" TERM
h_eq "$(h_sql "select count(*) from leases l join runs r on r.id = l.run_id where l.batch_records > r.batch_size")" \
    0 "leases over their run's batch size"
h_stop_services
proofs "$batch"
echo "$RS_PROG: ok: backlog, idle and busy inserts, missed notifications, a cut connection, a late commit and SIGTERM mid-stream all signed once; test took $SECONDS s"
