#!/usr/bin/env bash
# follow_worker_sigkill.sh: in follow mode, a worker killed with SIGKILL
# while batches of newly inserted records are queued at it. Those records were sent
# and lost; the ventilator, which tracks what it sent and when, sends them
# again once --redispatch-ms has passed, while more records keep being
# inserted and signed around them. Every record ends with exactly one
# signature, no lease over the run's batch size, verify and audit passing.
source "$(dirname "${BASH_SOURCE[0]}")/../harness.sh"

keys=2 batch=250 ttl=2000 redispatch=2500
# Workers paced to 1,000 signatures/s: a message of 4 batches takes 1 s, so
# 3,000 new records keep the victim busy for 3 s, most of them queued at it
# (and lost with it). Queued records wait longer than the re-dispatch
# timeout, but the watermark moves meanwhile (a message a second), so they
# are not sent again while the victim lives.
h_fault_options "$ttl" "$redispatch" 1000
H_VENT_OPTS+=(--follow)

h_start_db
h_init --keys "$keys" --records 500
h_start_keycoord
h_start_sink
h_start_worker 1 --holder victim
victim=$H_WORKER_PID
h_start_ventilator "$batch"
vent_log=$H_VENT_LOG

all_signed() {
    local r s
    r="$(h_sql 'select count(*) from records' 2>/dev/null)" && s="$(h_signed 2>/dev/null)" && [[ "$r" == "$s" ]]
}
# ins FIRST COUNT: one transaction of COUNT records from id FIRST.
ins() {
    h_sql "INSERT INTO records SELECT g, decode(md5(g::text), 'hex') FROM generate_series($1, $(($1 + $2 - 1))) g" >/dev/null
}
h_wait_until 30 "the backlog signed" all_signed

h_step "inserting 3,000 records; the victim takes them"
ins 501 3000
h_wait_until 30 "the victim under way" h_signed_at_least 1000
h_log_lacks "$vent_log" "dispatched again" "records sent again while the worker was alive (queued, not lost)"
h_kill "$victim"
before="$(h_signed)"
h_step "the victim died with records queued; $before of 3500 signed"
(( before < 3500 )) || h_fail "everything was signed before the victim died; nothing was lost"

h_start_worker 1 --holder rescuer
h_step "more inserts while the lost records wait for their re-dispatch"
for i in 0 1 2 3 4; do
    ins $((3501 + i * 100)) 100
    sleep 0.3
done
h_wait_until 60 "every record signed" all_signed
h_log_has "$vent_log" "records sent more than $redispatch ms ago are still unsigned.*dispatched again" \
    "the re-dispatch of the lost records"
grep -E "dispatched again" "$vent_log" >&2
h_check_alive
h_stop "$H_VENT_PID" TERM
h_log_has "$vent_log" "follow run [0-9]+ ended on request" "the ventilator's clean end"
h_finish "$batch"
echo "$RS_PROG: ok: records lost with a killed worker were sent again in follow mode while inserts went on; all $(h_signed) signed once; test took $SECONDS s"
