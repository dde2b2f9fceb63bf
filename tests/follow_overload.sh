#!/usr/bin/env bash
# follow_overload.sh: recsign-ventilator --follow meets a backlog larger
# than its in-flight set (--inflight-max, here 300 records): records
# inserted while following, by concurrent transactions that commit out of
# id order, many times the set's size. The ventilator reads past the set in
# passes (as a batch run does), so every record is signed without the
# sweep, the safety net that finds a page a second below the watermark: the
# run's last line must say that the sweep found none. Then one signature
# per record, no lease over the batch size, verify, audit.
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

keys=5 batch=50 inflight=300 per_txn=500 txns=24
h_fault_options 2000 1500
H_VENT_OPTS+=(--follow --inflight-max "$inflight" --page-rows 100)

h_start_db
h_init --keys "$keys" --records 100

records() { h_sql 'select count(*) from records'; }
all_signed() {
    local r s
    r="$(records 2>/dev/null)" && s="$(h_signed 2>/dev/null)" && [[ "$r" == "$s" ]]
}

h_start_services 2 2
h_start_ventilator "$batch"
vent=$H_VENT_PID vent_log=$H_VENT_LOG
h_wait_until 60 "the first backlog signed" all_signed
h_log_has "$vent_log" "following inserted records" "the ventilator's switch to follow mode"

# Four writers taking ids from one sequence, as applications do, each
# transaction holding its ids a moment before it commits: they commit out
# of id order, and records turn up below the cursor while the set is full.
# (Ids chosen by hand could also go, in a transaction that begins after the
# watermark passed them, below it: only the sweep finds those, by design.)
h_step "$((txns * per_txn)) records in $txns transactions of $per_txn by 4 writers, $((txns * per_txn / inflight))x the in-flight set"
h_sql "CREATE SEQUENCE overload_ids START 1000" >/dev/null
writer() {
    local w="$1" t
    for ((t = w; t < txns; t += 4)); do
        h_sql "BEGIN; INSERT INTO records SELECT nextval('overload_ids'), decode(md5(g::text), 'hex')
               FROM generate_series(1, $per_txn) g; SELECT pg_sleep(0.$(( (t * 7) % 4 ))); COMMIT" \
            >/dev/null || return 1
    done
}
pids=()
for w in 0 1 2 3; do writer "$w" & pids+=($!); done
for p in "${pids[@]}"; do wait "$p" || h_fail "a writer failed"; done
h_wait_until 120 "every record signed" all_signed
h_check_alive
h_stop "$vent" TERM
h_log_has "$vent_log" " 0 found by the sweep" "no record left to the sweep"
h_stop_services
h_check_complete
h_check_leases "$batch"
h_verify
h_audit
echo "$RS_PROG: ok: $((txns * per_txn)) records past a $inflight-record in-flight set signed once, none left to the sweep; test took $SECONDS s"
