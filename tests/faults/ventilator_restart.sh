#!/usr/bin/env bash
# ventilator_restart.sh: the ventilator killed with SIGKILL mid-run. A new
# one started with another batch size is refused (exit 2, one clear error
# line, the run untouched: rule 5); one started with the same batch size
# resumes the same run (same id in `runs`, no second run) and completes it.
source "$(dirname "${BASH_SOURCE[0]}")/../harness.sh"

records=50000 keys=5 batch=10 ttl=3000
h_fault_options "$ttl" 1500

h_start_db
h_init --keys "$keys" --records "$records"
h_start_keycoord
h_start_sink
# Paced, so that the kill lands mid-run on a fast machine too (the end of a
# run is noticed within milliseconds).
h_start_worker 1 --max-rate 4000
h_start_ventilator "$batch"
first_vent=$H_VENT_PID
first_log=$H_VENT_LOG

h_wait_signed 5000 30
h_kill "$first_vent"
run="$(h_sql 'select id from runs')"
h_eq "$(h_sql "select count(*) from runs where id = $run and finished_at is null and batch_size = $batch")" 1 \
    "unfinished run $run with batch size $batch after the kill"
h_log_has "$first_log" "starting run $run with batch size $batch" "the first ventilator's run"

h_step "restart with another batch size: refused"
rc=0
RECSIGN_LOG_LEVEL=info timeout -k 5 30 "$H_VENTILATOR" --db "$H_DB" --bind "tcp://127.0.0.1:$H_PORT_VENT" \
    --batch-size $((batch * 2)) "${H_VENT_OPTS[@]}" >"$H_LOGS/refused.out" 2>"$H_LOGS/refused.log" </dev/null || rc=$?
if [[ "$rc" != 2 ]]; then
    cat "$H_LOGS/refused.log" >&2
    h_fail "a ventilator with batch size $((batch * 2)) for unfinished run $run exited $rc; expected 2"
fi
errors="$(grep -c 'ERROR' "$H_LOGS/refused.log" || true)"
h_eq "$errors" 1 "error lines of the refused ventilator"
error_line="$(grep 'ERROR' "$H_LOGS/refused.log")"
grep -q "batch size $batch" <<<"$error_line" && grep -q -- "--batch-size $batch" <<<"$error_line" \
    || h_fail "the refusal does not say which batch size the run needs: $error_line"
h_step "refused: $error_line"
h_eq "$(h_sql "select count(*) || ' ' || min(id) || ' ' || min(batch_size) || ' ' || bool_and(finished_at is null) from runs")" \
    "1 $run $batch true" "runs after the refused restart"

h_step "restart with the same batch size: resumes run $run"
h_start_ventilator "$batch"
h_wait_ventilator 90
h_log_has "$H_VENT_LOG" "resuming run $run with batch size $batch" "the second ventilator's run"
h_eq "$(h_sql "select count(*) || ' ' || min(id) || ' ' || min(batch_size) || ' ' || bool_and(finished_at is not null) from runs")" \
    "1 $run $batch true" "runs after the resumed run"
h_eq "$(h_sql "select count(*) from leases where run_id is distinct from $run")" 0 "leases of another run"

h_finish "$batch"
echo "$RS_PROG: ok: run $run resumed after the kill, a batch-size change was refused; run completed in $H_VENT_SECONDS s; test took $SECONDS s"
