#!/usr/bin/env bash
# follow_refused.sh: records a follow run cannot sign. While
# recsign-ventilator --follow runs, records over the 1 MiB payload limit get
# in (the constraint dropped for their transaction): one above every id,
# followed by ordinary records, and one below every id. Each is refused
# once (one error line, one records_refused row), never sent, and does not
# hold signing up: the records inserted after it, also seconds later (past
# the re-dispatch timeout), are all signed, and it is never reported or
# sent again although every read meets it again. Six records of exactly
# 1 MiB at batch size 10 travel in messages of at most 4 MiB (batches cut
# short). SIGTERM then ends the run with exit status 3 and a last line
# naming the two refused records. A second follow run meets them without
# reporting them again; once they are deleted, its SIGTERM exits 0, and
# every other record has exactly one signature, verify and audit pass.
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

backlog=200 batch=10 ttl=2000 redispatch=1500 mib=1048576
h_fault_options "$ttl" "$redispatch"
H_VENT_OPTS+=(--follow)

h_start_db
h_init --keys 3 --records "$backlog"

# ins FIRST COUNT: inserts ordinary records FIRST.. in one transaction.
ins() {
    h_sql "INSERT INTO records SELECT g, decode(md5(g::text), 'hex')
           FROM generate_series($1, $(($1 + $2 - 1))) g" >/dev/null
}
unsigned_count() {
    h_sql 'select count(*) from records r where not exists (select 1 from signatures s where s.record_id = r.id)'
}
# only_refused_left: every record is signed but the two over the limit.
only_refused_left() { [[ "$(unsigned_count 2>/dev/null)" == 2 ]]; }
none_unsigned() { [[ "$(unsigned_count 2>/dev/null)" == 0 ]]; }
refused_rows() { h_sql 'select count(*) from records_refused'; }
both_refused() { [[ "$(refused_rows 2>/dev/null)" == 2 ]]; }

h_start_services 1 2
# At debug level the ventilator says each time it meets a refused record again.
RECSIGN_LOG_LEVEL=debug h_start_ventilator "$batch"
vent=$H_VENT_PID vent_log=$H_VENT_LOG
h_wait_until 60 "the backlog signed" h_signed_at_least "$backlog"
h_log_has "$vent_log" "following inserted records" "the ventilator's switch to follow mode"
run="$(h_sql 'select max(id) from runs')"

h_step "records over the payload limit while following: 201 above every id, -5 below"
h_sql_past_limit "insert into records values (201, $(h_payload_sql 201 $((mib + 1))))" >/dev/null
ins 202 100
h_sql_past_limit "insert into records values (-5, $(h_payload_sql -5 $((2 * mib))))" >/dev/null
h_step "six records of exactly 1 MiB"
h_sql "insert into records select g, $(h_payload_sql g $mib) from generate_series(302, 307) g" >/dev/null
h_wait_until 60 "the two refusals recorded" both_refused
h_wait_until 60 "every record signed but the two refused" only_refused_left
h_check_alive

h_step "$((redispatch * 3 / 1000)) s past the re-dispatch timeout, then more records"
sleep "$((redispatch * 3 / 1000))"
ins 308 100
h_wait_until 60 "the records inserted after the refusals signed" only_refused_left
h_check_alive
for id in 201 -5; do
    h_eq "$(grep -c -- "record $id cannot be signed: payload of" "$vent_log")" 1 "reports of record $id"
    h_eq "$(grep -- "record $id " "$vent_log" | grep -vc -- "record $id \(cannot be signed: payload of\|refused again\)")" \
        0 "other lines about record $id (sent, skipped or dispatched again)"
done
h_log_has "$vent_log" "record 201 refused again \(payload of 1048577 bytes\)" \
    "record 201 met again (so its single report means something)"
h_eq "$(h_sql "select string_agg(record_id || ' ' || run_id || ' ' || reason, '; ' order by record_id) from records_refused")" \
    "-5 $run payload of 2097152 bytes; at most 1048576 allowed; 201 $run payload of 1048577 bytes; at most 1048576 allowed" \
    "records_refused"

h_step "SIGTERM: the run ends with exit status 3, naming them"
h_stop "$vent" TERM "" 3
h_log_has "$vent_log" "follow run $run ended on request: .* [1-9][0-9]* batches cut short to keep messages within 4194304 bytes\); 2 records cannot be signed \(payload over 1048576 bytes\): -5 \(2097152 bytes\), 201 \(1048577 bytes\); see records_refused" \
    "the run's last line"
h_eq "$(h_sql "select count(*) from runs where id = $run and finished_at is not null")" 1 "run $run finished"
h_check_leases "$batch"

h_step "a second follow run meets them without reporting them again"
RECSIGN_LOG_LEVEL=debug h_start_ventilator "$batch"
vent=$H_VENT_PID vent_log=$H_VENT_LOG
h_wait_until 60 "the second run following" grep -q "following inserted records" "$vent_log"
h_wait_until 60 "the second run meeting record 201" grep -q "record 201 refused again" "$vent_log"
h_log_lacks "$vent_log" "cannot be signed: payload of" "refused records reported again"
h_step "deleted, they are no longer waited for"
h_sql "delete from records where id in (201, -5)" >/dev/null
ins 408 50
h_wait_until 60 "every record signed" none_unsigned
h_stop "$vent" TERM
h_log_has "$vent_log" "follow run $((run + 1)) ended on request: .*; what is unsigned is signed by the next run" \
    "the second run's last line"
h_eq "$(refused_rows)" 2 "records_refused rows after two runs"
h_stop_services
h_check_complete
h_check_leases "$batch"
h_verify
h_audit
echo "$RS_PROG: ok: records over the limit refused once while following, later records signed, exit 3 at SIGTERM naming them; test took $SECONDS s"
