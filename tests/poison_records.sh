#!/usr/bin/env bash
# poison_records.sh: records outside the payload limit, and batches of the
# largest payloads.
#  (a) The limit is part of the data contract: inserting a payload of
#      1 MiB + 1 byte is refused by the database.
#  (b) Records stored before the limit was checked (1 MiB + 1 byte and
#      2 MiB), batch size 1: the ventilator reports each once with its id
#      and reason, records it in records_refused, signs everything else and
#      ends with exit status 3 and a one-line summary naming them (it used
#      to send them again every 3 s forever); a second run does the same at
#      once, without reporting them again; `recsign status` counts them.
#      Once they are deleted, a run ends with 0.
#  (c) 300 records of exactly 1 MiB at batch size 257 (a batch over the
#      worker's message limit, which used to be dropped without a word and
#      sent again forever) and at batch size 10 (the ventilator used to
#      hold a whole page of them: 700 MiB with 600 such records): every
#      record is signed, batches are cut short to keep each message within
#      4 MiB, and every process's peak RSS stays within 64 MiB.
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

mib=1048576
# peak_rss_kib LOG: the peak RSS a process logged at exit.
peak_rss_kib() { sed -n 's/.*exiting: peak RSS \([0-9]*\) KiB.*/\1/p' "$1" | tail -n 1; }

# run_expect STATUS BATCH: runs the ventilator until it exits with STATUS.
run_expect() {
    h_start_ventilator "$2"
    local rc=0
    rs_wait_proc "$H_VENT_PID" 400 || rc=$?
    case "$rc" in
        0) ;;
        124) h_fail "ventilator run $H_VENT_N did not end within 400 s (it loops on records it cannot sign)" ;;
        *) h_fail "$RS_DEAD_NAME died while the ventilator ran" ;;
    esac
    h_eq "$RS_WAIT_STATUS" "$1" "exit status of ventilator run $H_VENT_N"
}

h_start_db
h_init --keys 3 --records 50

h_step "(a) the database refuses a payload over 1 MiB"
if h_sql "insert into records values (999, $(h_payload_sql 999 $((mib + 1))))" >/dev/null 2>"$H_LOGS/insert.err"; then
    h_fail "a payload of 1 MiB + 1 byte was stored"
fi
grep -q records_payload_max "$H_LOGS/insert.err" || { cat "$H_LOGS/insert.err" >&2; h_fail "refused for another reason"; }

h_step "(b) records stored before the limit was checked"
h_sql_past_limit "insert into records values (1000, $(h_payload_sql 1000 $((mib + 1)))), (1001, $(h_payload_sql 1001 $((2 * mib))))" >/dev/null
h_start_services 1 2
run_expect 3 1
h_eq "$(grep -c 'record 1000 cannot be signed: payload of 1048577 bytes; at most 1048576 allowed' "$H_VENT_LOG")" 1 \
    "reports of record 1000"
h_eq "$(grep -c 'record 1001 cannot be signed: payload of 2097152 bytes' "$H_VENT_LOG")" 1 "reports of record 1001"
grep -q "every record is signed but 2 that cannot be (payload over 1048576 bytes): 1000 (1048577 bytes), 1001 (2097152 bytes)" "$H_VENT_LOG" \
    || h_fail "the run's last line does not name the refused records"
h_eq "$(h_sql 'select count(*) from signatures')" 50 "signatures"
h_eq "$(h_sql "select string_agg(record_id || ': ' || reason, '; ' order by record_id) from records_refused")" \
    "1000: payload of 1048577 bytes; at most 1048576 allowed; 1001: payload of 2097152 bytes; at most 1048576 allowed" \
    "records_refused"
h_eq "$(h_sql 'select count(*) from runs where finished_at is not null')" 1 "finished runs"
h_admin status >"$H_LOGS/status.out" 2>&1 || h_fail "recsign status failed"
grep -q "^refused: *2 records cannot be signed (payload over 1 MiB): 1000, 1001" "$H_LOGS/status.out" \
    || { cat "$H_LOGS/status.out" >&2; h_fail "status does not count the refused records"; }
rc=0
h_admin audit >"$H_LOGS/audit.refused.out" 2>&1 || rc=$?
h_eq "$rc" 1 "audit exit status with records that cannot be signed"
grep -q "rule 1 .*VIOLATED.*records that cannot be signed (see records_refused): 2 (1000: payload of 1048577 bytes; at most 1048576 allowed, 1001: payload of 2097152 bytes" "$H_LOGS/audit.refused.out" \
    || { cat "$H_LOGS/audit.refused.out" >&2; h_fail "audit does not name the refused records"; }

h_step "a second run ends at once, without reporting them again"
run_expect 3 1
h_eq "$(grep -c 'cannot be signed: payload of' "$H_VENT_LOG")" 0 "records reported again"
grep -q "every record is signed but 2 that cannot be" "$H_VENT_LOG" || h_fail "the second run did not name them"
h_eq "$(h_sql 'select count(*) from records_refused')" 2 "records_refused rows after two runs"
h_sql "delete from records where id in (1000, 1001)" >/dev/null
run_expect 0 1

h_step "(c) 300 records of exactly 1 MiB"
h_sql "insert into records select g, $(h_payload_sql g $mib) from generate_series(2001, 2300) g" >/dev/null
run_expect 0 257
vent_257="$(peak_rss_kib "$H_VENT_LOG")"
grep -Eq "[1-9][0-9]* batches cut short to keep messages within 4194304 bytes" "$H_VENT_LOG" \
    || h_fail "no batch was cut short"
h_eq "$(h_sql 'select count(*) from signatures where record_id > 2000')" 300 "signatures of the 1 MiB records"
h_eq "$(h_sql 'select max(batch_records) <= 257 from leases')" t "batches within the batch size"
h_step "again at batch size 10"
h_sql "delete from signatures where record_id > 2000" >/dev/null
run_expect 0 10
vent_10="$(peak_rss_kib "$H_VENT_LOG")"
h_stop_services
h_step "peak RSS of the ventilator: $vent_257 KiB at batch size 257, $vent_10 KiB at batch size 10"
# AddressSanitizer keeps freed memory in quarantine (256 MiB) and adds its
# shadow: RSS says nothing there about what the code holds.
rss_max=65536
[[ "${RECSIGN_SANITIZED:-0}" == 1 ]] && rss_max=$((1024 * 1024))
for rss in "$vent_257" "$vent_10"; do
    [[ -n "$rss" ]] || h_fail "the ventilator logged no peak RSS"
    (( rss <= rss_max )) || h_fail "the ventilator's peak RSS was $rss KiB; expected at most 64 MiB"
done
for log in "$H_LOGS"/worker-*.log "$H_LOGS/sink.log" "$H_LOGS/keycoord.log"; do
    rss="$(peak_rss_kib "$log")"
    [[ -n "$rss" ]] || h_fail "$log has no peak RSS"
    h_step "peak RSS of $(basename "$log" .log): $rss KiB"
    (( rss <= rss_max )) || h_fail "$(basename "$log" .log) peaked at $rss KiB; expected at most 64 MiB"
done
h_check_complete
h_verify
h_audit
echo "$RS_PROG: ok: refused records reported once and the run ended; 1 MiB records at batch sizes 257 and 10 within 64 MiB"
