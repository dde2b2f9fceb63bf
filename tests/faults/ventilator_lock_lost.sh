#!/usr/bin/env bash
# ventilator_lock_lost.sh: the leading ventilator is paused (SIGSTOP) and
# its database session, which holds the ventilator lock, is cut
# (pg_terminate_backend), as when its host drops off the network. The
# standby takes the lock and the run over. When the old leader resumes and
# reconnects, it finds the lock taken: it says so and stops with exit
# status 1 instead of dispatching the run beside the new leader. The new
# leader completes the run, one signature per record.
source "$(dirname "${BASH_SOURCE[0]}")/../harness.sh"

records=60000 keys=5 batch=10 ttl=3000
h_fault_options "$ttl" 1500

h_start_db
h_init --keys "$keys" --records "$records"
h_worker_endpoints
vent2_port=""
h_free_port vent2_port || h_fail "no free port (see the line above)"
vent2="tcp://127.0.0.1:$vent2_port"
h_start_keycoord
h_start_sink
h_start_worker 1 --max-rate 3000 --ventilator "$H_EP_VENT,$vent2"
h_start_worker 1 --max-rate 3000 --ventilator "$H_EP_VENT,$vent2"
h_start_ventilator "$batch"
leader=$H_VENT_PID leader_log=$H_VENT_LOG
h_wait_sql "select count(*) from runs where finished_at is null" 1 "the leader's run"
run="$(h_sql 'select id from runs')"
rs_proc_start ventilator-standby "$H_LOGS/ventilator-standby.log" \
    "${H_RUN[@]}" "$H_VENTILATOR" --db "$H_DB" --bind "$vent2" --batch-size "$batch" "${H_VENT_OPTS[@]}"
standby=$RS_LAST_PID standby_log="$H_LOGS/ventilator-standby.log"
h_wait_until 20 "the standby's line" grep -q "standby: another recsign-ventilator leads run $run" "$standby_log"

h_wait_signed 5000 30
h_step "pause the leader and cut its database session"
kill -STOP "$leader"
cut="$(h_sql "select count(pg_terminate_backend(l.pid)) from pg_locks l join pg_stat_activity a using (pid)
              where l.locktype = 'advisory' and l.granted and a.application_name = 'recsign-ventilator'")"
h_eq "$cut" 1 "ventilator lock sessions cut"
h_wait_until 20 "the standby to take over" grep -q "took the ventilator lock" "$standby_log"
h_log_has "$standby_log" "resuming run $run with batch size $batch" "the standby's run"
h_step "resume the old leader"
kill -CONT "$leader"
rc=0
rs_wait_proc "$leader" 60 || rc=$?
h_eq "$rc" 0 "the old leader's exit within 60 s"
h_eq "$RS_WAIT_STATUS" 1 "the old leader's exit status"
h_log_has "$leader_log" "ERROR lost the ventilator lock: another recsign-ventilator took run $run over" \
    "the old leader's last word"

H_VENT_PID=$standby H_VENT_LOG=$standby_log H_VENT_T0="$(date +%s%N)"
h_wait_ventilator 90
h_eq "$(h_sql "select count(*) || ' ' || min(batch_size) || ' ' || bool_and(finished_at is not null) from runs")" \
    "1 $batch true" "runs after the takeover"
h_finish "$batch"
echo "$RS_PROG: ok: the old leader found its lock taken and stopped; the standby completed run $run; test took $SECONDS s"
