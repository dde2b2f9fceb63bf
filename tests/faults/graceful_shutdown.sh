#!/usr/bin/env bash
# graceful_shutdown.sh: every process stops cleanly on request. Mid-run,
# the ventilator, both workers, the sink and the keycoord are sent SIGTERM
# (phase A), then a fresh set resumes the run and is sent SIGINT (phase B);
# each process exits 0, logs no ERROR, and leaves no ZeroMQ socket open
# (CZMQ's "dangling sockets" report; the harness turns CZMQ's log on); the
# workers end on their stop summary with every lease released; the keycoord
# logs "stopped cleanly" and the next one therefore grants at once. A third
# fresh set completes the run correctly (phase C).
source "$(dirname "${BASH_SOURCE[0]}")/../harness.sh"

records=60000 keys=3 batch=5 ttl=3000
h_fault_options "$ttl" 1500 4000

h_start_db
h_init --keys "$keys" --records "$records"

# clean LOG: no ERROR line, no CZMQ dangling-socket report.
clean() {
    h_log_lacks "$1" ' ERROR ' "$(basename "$1" .log) logged errors"
    h_log_lacks "$1" 'dangling' "$(basename "$1" .log) left ZeroMQ sockets open"
}

# phase SIGNAL: a fresh set of processes runs until 4,000 more records are
# signed, then each is sent SIGNAL in turn and must exit 0.
phase() {
    local sig="$1" before kc sink vent w1 w2 kc_log sink_log vent_log w1_log w2_log run
    before="$(h_signed)"
    h_start_keycoord; kc=$H_KC_PID kc_log=$H_KC_LOG
    h_start_sink; sink=$H_SINK_PID sink_log=$H_SINK_LOG
    h_start_worker 1; w1=$H_WORKER_PID w1_log=$H_WORKER_LOG
    h_start_worker 1; w2=$H_WORKER_PID w2_log=$H_WORKER_LOG
    h_start_ventilator "$batch"; vent=$H_VENT_PID vent_log=$H_VENT_LOG
    h_wait_signed $((before + 4000)) 30
    run="$(h_sql 'select id from runs')"

    h_stop "$vent" "$sig"
    h_log_has "$vent_log" "interrupted; run $run stays unfinished" "the ventilator's stop"
    for w in "$w1" "$w2"; do h_stop "$w" "$sig"; done
    for l in "$w1_log" "$w2_log"; do
        h_last_line "$l" | grep -Eq 'stopped: [0-9]+ batches, [0-9]+ signatures pushed' \
            || h_fail "$(basename "$l" .log): last line is not the stop summary: $(h_last_line "$l")"
    done
    h_stop "$sink" "$sig"
    h_log_has "$sink_log" "stopped: [0-9]+ signatures refused" "the sink's stop"
    h_stop "$kc" "$sig"
    h_log_has "$kc_log" "stopped cleanly" "the keycoord's clean stop"
    for l in "$kc_log" "$sink_log" "$vent_log" "$w1_log" "$w2_log"; do clean "$l"; done

    h_eq "$(h_sql 'select count(*) from leases where ended_at is null')" 0 "leases open after a clean stop"
    # Every lease a worker received was released (a grant the keycoord
    # could not deliver to a stopped worker is voided at once, h_held_sql).
    h_eq "$(h_sql "select count(*) from leases where end_reason <> 'released' and $(h_held_sql "$ttl")")" \
        0 "leases received that did not end by release"
    h_eq "$(h_sql 'select count(*) from keycoord_state where clean_stop')" 1 "keycoord state after a clean stop"
    h_eq "$(h_sql "select count(*) from runs where id = $run and finished_at is null")" 1 "run $run unfinished"
    h_step "phase with SIG$sig: every process exited 0; $(h_signed) of $records signed"
}

h_step "phase A: SIGTERM mid-run"
phase TERM
h_step "phase B: SIGINT mid-run"
phase INT
h_log_lacks "$H_LOGS/keycoord-2.log" "did not stop cleanly" "keycoord-2 after a clean stop"
h_log_has "$H_LOGS/ventilator-2.log" "resuming run" "the second ventilator"

h_step "phase C: the run completes"
h_start_services 2 1
h_run_ventilator "$batch" 90
h_finish "$batch"
h_log_lacks "$H_LOGS/keycoord-3.log" "did not stop cleanly" "keycoord-3 after a clean stop"
for l in "$H_LOGS"/keycoord-3.log "$H_LOGS"/sink-3.log "$H_LOGS"/ventilator-3.log "$H_LOGS"/worker-5.log "$H_LOGS"/worker-6.log; do
    clean "$l"
done
h_log_has "$H_LOGS/keycoord-3.log" "stopped cleanly" "the last keycoord's clean stop"
echo "$RS_PROG: ok: SIGTERM and SIGINT mid-run stopped every process with exit 0, no error, no dangling socket; run completed; test took $SECONDS s"
