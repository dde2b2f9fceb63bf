#!/usr/bin/env bash
# ventilator_standby.sh [follow|lock_lost|hung|after_finish|stop_together]:
# a second ventilator started while one leads waits as a standby: one log
# line, nothing bound (its endpoint, the second of the workers' --ventilator
# list, refuses connections), the lock tried again and again. One started
# with an explicit batch size other than the run's is refused at once (exit
# 2, one error line naming the run's), and so is one of the other mode
# (--follow or not). The leader is killed with SIGKILL mid-run; the standby,
# started without --batch-size, takes the lock, binds, and resumes the same
# run with the run's stored batch size (rule 5); the workers, given both
# ventilators, pull from it by themselves. The run completes with one
# signature per record. With `follow`, both run --follow, records are
# inserted after the takeover and signed too, and SIGTERM ends the run. With
# `lock_lost`, the leader is not killed: it is paused (SIGSTOP) and its
# database session, which holds the lock, is cut (pg_terminate_backend), as
# when its host drops off the network; the standby takes over; resumed, the
# old leader finds the lock taken on reconnecting, says so and stops with
# exit status 1 instead of dispatching beside the new leader. With `hung`,
# the leader is paused (SIGSTOP) for good, its session left open and idle:
# the server ends that session after the ventilator's idle bound
# (VENT_LEAD_IDLE_TIMEOUT_MS), and the standby takes over by itself and
# completes the run; resumed only then, the old leader finds the lock free
# but its run finished by another, and stops with exit status 1. With
# `after_finish`, the leader is left alone and finishes the run: the
# standby, which waited for that run, then takes the lock, says the run is
# finished and exits 0 without starting another. With `stop_together`, the
# leader and the standby get SIGTERM at once mid-run: the leader leaves the
# run unfinished, and the standby must exit without taking the lock the
# leader lets go of.
source "$(dirname "${BASH_SOURCE[0]}")/../harness.sh"

mode="${1:-batch}"
records=60000 keys=5 batch=10 ttl=3000
h_fault_options "$ttl" 1500
follow=()
[[ "$mode" == follow ]] && follow=(--follow)

h_start_db
h_init --keys "$keys" --records "$records"
h_worker_endpoints
h_extra_endpoint vent2
h_start_keycoord
h_start_sink
# Paced (2 x 3,000 signatures/s: about 10 s for the run), so that the
# kill lands mid-run however fast the machine is.
h_start_worker 1 --max-rate 3000 --ventilator "$H_EP_VENT,$vent2"
h_start_worker 1 --max-rate 3000 --ventilator "$H_EP_VENT, $vent2"
h_start_ventilator "$batch" "${follow[@]}"
leader=$H_VENT_PID leader_log=$H_VENT_LOG
h_wait_sql "select count(*) from runs where finished_at is null" 1 "the leader's run"
run="$(h_sql 'select id from runs')"

h_step "a standby with another batch size: refused at once"
rc=0
timeout -k 5 30 "$H_VENTILATOR" --db "$H_DB" --bind "$vent2" --batch-size $((batch * 2)) \
    "${H_VENT_OPTS[@]}" "${follow[@]}" >"$H_LOGS/refused.out" 2>"$H_LOGS/refused.log" </dev/null || rc=$?
[[ "$rc" == 2 ]] || { cat "$H_LOGS/refused.log" >&2; h_fail "a standby with batch size $((batch * 2)) exited $rc; expected 2"; }
h_eq "$(grep -c 'ERROR' "$H_LOGS/refused.log" || true)" 1 "error lines of the refused standby"
h_log_has "$H_LOGS/refused.log" "run $run is unfinished with batch size $batch.*--batch-size $batch" \
    "the refusal names the run's batch size"

# The run's mode too: a standby of the other would finish a follow run or
# never finish a batch run once it took over (before: it waited, and did).
run_mode=batch other=(--follow)
[[ "$mode" == follow ]] && { run_mode=follow other=(); }
h_step "a standby of the other mode than the $run_mode run: refused at once"
rc=0
env -u RECSIGN_FOLLOW timeout -k 5 30 "$H_VENTILATOR" --db "$H_DB" --bind "$vent2" \
    "${H_VENT_OPTS[@]}" "${other[@]}" >"$H_LOGS/other_mode.out" 2>"$H_LOGS/other_mode.log" </dev/null || rc=$?
[[ "$rc" == 2 ]] || { cat "$H_LOGS/other_mode.log" >&2; h_fail "a standby of the other mode exited $rc; expected 2"; }
h_eq "$(grep -c 'ERROR' "$H_LOGS/other_mode.log" || true)" 1 "error lines of the standby of the other mode"
h_log_has "$H_LOGS/other_mode.log" "run $run is unfinished in $run_mode mode.*start this standby (with|without) --follow" \
    "the refusal names the run's mode"

h_step "a standby without --batch-size on $vent2"
h_start_standby_ventilator "$vent2" "${follow[@]}"
standby=$H_STANDBY_PID standby_log=$H_STANDBY_LOG
h_wait_until 20 "the standby's line" grep -q "standby: another recsign-ventilator leads run $run (batch size $batch, $run_mode mode)" "$standby_log"
h_eq "$(grep -c 'standby:' "$standby_log")" 1 "standby lines"
# Bound to nothing while it waits: its endpoint refuses connections.
listening() { (exec 3<>"/dev/tcp/127.0.0.1/${vent2##*:}") 2>/dev/null; }
if listening; then h_fail "the standby listens on $vent2 before it leads"; fi

# exits_with PID STATUS WHO TIMEOUT: PID exits within TIMEOUT s with STATUS.
exits_with() {
    local rc=0
    rs_wait_proc "$1" "$4" || rc=$?
    h_eq "$rc" 0 "$3's exit within $4 s"
    h_eq "$RS_WAIT_STATUS" "$2" "$3's exit status"
}

h_wait_signed 5000 30
h_check_mid_run

if [[ "$mode" == stop_together ]]; then
    # Before the fix the standby, waiting for the lock, took it the moment
    # the leader let go, said "took the ventilator lock", opened the run
    # and only then obeyed its SIGTERM.
    h_step "SIGTERM to the leader and the standby together"
    kill -TERM "$leader" "$standby"
    h_all_exit 20 "$leader" "$standby"
    h_log_has "$leader_log" "interrupted; run $run stays unfinished" "the leader's last word"
    if grep -q "took the ventilator lock\|resuming run" "$standby_log"; then
        h_fail "the standby, told to stop, took the ventilator lock the leader let go of"
    fi
    h_log_has "$standby_log" "stopped while standby" "the standby's last word"
    h_eq "$(h_sql "select count(*) || ' ' || min(id) || ' ' || bool_or(finished_at is not null) from runs")" \
        "1 $run false" "runs after both stopped"
    h_stop_services
    echo "$RS_PROG: ok ($mode): stopped together, the standby did not take run $run over; test took $SECONDS s"
    exit 0
fi

if [[ "$mode" == lock_lost ]]; then
    h_step "pause the leader and cut its database session"
    kill -STOP "$leader"
    cut="$(h_sql "select count(pg_terminate_backend(l.pid)) from pg_locks l join pg_stat_activity a using (pid)
                  where l.locktype = 'advisory' and l.granted and a.application_name = 'recsign-ventilator'")"
    h_eq "$cut" 1 "ventilator lock sessions cut"
elif [[ "$mode" == hung ]]; then
    h_step "pause the leader for good, its session left open"
    kill -STOP "$leader"
elif [[ "$mode" == after_finish ]]; then
    h_step "the leader finishes the run; the standby waits"
    # Both end by themselves, in either order: the standby takes the lock
    # the moment the leader lets go of it, which can be before the leader's
    # process is gone (slow under the sanitizers).
    h_all_exit 120 "$leader" "$standby"
    h_log_has "$standby_log" "run $run, which this standby waited for, is finished; exiting without starting a run" \
        "the standby's last word"
    if grep -q "starting run\|resuming run" "$standby_log"; then
        h_fail "the standby opened a run after the one it waited for finished"
    fi
    h_eq "$(h_sql "select count(*) || ' ' || min(id) || ' ' || bool_and(finished_at is not null) from runs")" \
        "1 $run true" "runs after the leader finished"
    h_finish "$batch"
    echo "$RS_PROG: ok ($mode): the standby exited 0 once run $run was finished; test took $SECONDS s"
    exit 0
else
    h_kill "$leader"
fi
h_wait_until 20 "the standby to take over" grep -q "took the ventilator lock" "$standby_log"
# The run is opened after the lock is taken and the endpoint bound: its
# line comes a moment later (under the sanitizers, after this check had
# looked once: CI of c76395d).
h_wait_until 20 "the standby to resume run $run with batch size $batch" \
    grep -q "resuming run $run with batch size $batch" "$standby_log"
h_wait_until 10 "the new leader to listen on $vent2" listening
if [[ "$mode" == lock_lost ]]; then
    h_step "resume the old leader"
    kill -CONT "$leader"
    exits_with "$leader" 1 "the old leader" 60
    h_log_has "$leader_log" "ERROR lost the ventilator lock: another recsign-ventilator took run $run over" \
        "the old leader's last word"
fi
H_VENT_PID=$standby H_VENT_LOG=$standby_log H_VENT_T0="$(date +%s%N)"

if [[ "$mode" == follow ]]; then
    h_wait_until 60 "the backlog signed" h_signed_at_least "$records"
    h_step "records inserted after the takeover"
    top="$(h_sql 'select max(id) from records')"
    h_sql "insert into records (id, payload) select i, convert_to('late ' || i, 'UTF8')
           from generate_series($top + 1, $top + 2000) i" >/dev/null
    h_wait_until 60 "the inserted records signed" h_signed_at_least $((records + 2000))
    h_stop "$standby"
else
    h_wait_ventilator 90
fi
if [[ "$mode" == hung ]]; then
    h_step "resume the old leader after the run"
    kill -CONT "$leader"
    exits_with "$leader" 1 "the old leader" 60
    h_log_has "$leader_log" "ERROR lost the ventilator lock: another recsign-ventilator took run $run over" \
        "the old leader's last word"
fi
h_eq "$(h_sql "select count(*) || ' ' || min(id) || ' ' || min(batch_size) || ' ' || bool_and(finished_at is not null) from runs")" \
    "1 $run $batch true" "runs after the takeover"
h_eq "$(h_sql "select count(*) from leases where run_id is distinct from $run or batch_records > $batch")" 0 \
    "leases of another run or over the batch size"

h_finish "$batch"
echo "$RS_PROG: ok ($mode): the standby took run $run over with batch size $batch from the leader; test took $SECONDS s"
