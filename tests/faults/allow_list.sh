#!/usr/bin/env bash
# allow_list.sh: allow-list changes take effect for the next message, and a
# refused worker says so plainly.
#   1. While a paced worker keeps the keycoord and the sink busy (so that
#      each has just looked at its allow-list), a new certificate is
#      allowed with `recsign certs --worker late` and a worker using it is
#      started at once: it is answered on its first message and signs.
#   2. A worker whose certificate is not allowed exits 1 saying that the
#      keycoord refused its certificate, naming it, instead of "did not
#      answer".
#   3. The late worker's certificate is revoked while it runs: it says
#      that the keycoord (or the sink, or the ventilator) refuses its
#      certificate; the run completes without it.
source "$(dirname "${BASH_SOURCE[0]}")/../harness.sh"

records=40000 keys=4 batch=10
h_fault_options 3000 1500

h_start_db
h_init --keys "$keys" --records "$records"
h_start_keycoord
h_start_sink
h_start_worker 1 --max-rate 2000
h_start_ventilator "$batch"
h_wait_signed 2000 30

h_step "case 1: allow 'late' and start its worker at once"
"$H_ADMIN" certs --dir "$H_CERTS" --worker late >>"$H_LOGS/certs.log" 2>&1 \
    || { cat "$H_LOGS/certs.log" >&2; h_fail "recsign certs --worker late failed"; }
h_start_worker 1 --client-cert late --max-rate 2000; late=$H_WORKER_PID late_log=$H_WORKER_LOG
# Its ping is answered (or refused: the worker then exits, which the wait
# notices); then it signs.
h_wait_until 30 "the newly allowed worker's start" grep -q 'signing threads started' "$late_log"
h_log_lacks "$late_log" 'did not answer|refuses|refused' "the newly allowed worker"
h_log_lacks "$H_KC_LOG" 'not \(or no longer\) allowed' "the keycoord after the allow"
h_log_lacks "$H_SINK_LOG" 'not \(or no longer\) allowed' "the sink after the allow"

h_step "case 2: a worker whose certificate is not allowed"
"$H_ADMIN" certs --dir "$H_CERTS" --worker stranger >>"$H_LOGS/certs.log" 2>&1 \
    && "$H_ADMIN" certs --dir "$H_CERTS" --revoke stranger >>"$H_LOGS/certs.log" 2>&1 \
    || { cat "$H_LOGS/certs.log" >&2; h_fail "could not make the stranger's certificate"; }
st=0
"$H_WORKER" --ventilator "$H_EP_VENT" --keycoord "$H_EP_KC" --sink "$H_EP_SINK" --threads 1 \
    --master-key "$H_KEY" --client-cert stranger --connect-timeout-ms 20000 \
    >"$H_LOGS/stranger.log" 2>&1 || st=$?
h_eq "$st" 1 "the stranger worker's exit status"
h_log_has "$H_LOGS/stranger.log" "keycoord at $H_EP_KC refused this worker's certificate 'stranger': it is not in the keycoord's allow-list" \
    "the stranger's error"
h_log_lacks "$H_LOGS/stranger.log" 'did not answer' "the stranger's error"

h_step "case 3: revoke 'late' while its worker runs"
h_check_mid_run
"$H_ADMIN" certs --dir "$H_CERTS" --revoke late >>"$H_LOGS/certs.log" 2>&1 \
    || { cat "$H_LOGS/certs.log" >&2; h_fail "recsign certs --revoke late failed"; }
h_wait_until 30 "the revoked worker to say it is refused" \
    grep -Eq "the (keycoord|sink|ventilator) at tcp://[^ ]+ refuses this worker's certificate 'late'" "$late_log"
h_stop "$late" TERM 10

h_wait_ventilator 120
h_finish "$batch"
echo "$RS_PROG: ok: a certificate allowed mid-run was accepted at once; refused workers said so; test took $SECONDS s"
