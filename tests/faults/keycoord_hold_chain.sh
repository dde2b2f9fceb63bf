#!/usr/bin/env bash
# keycoord_hold_chain.sh: how long a lease lasts and how long grants are
# held back must not shrink as leaders come and go (review of issue 12).
# One key, two workers. Worker wa is frozen holding lease L, granted by
# keycoord A with an 8 s TTL. A is killed; B (1 s TTL) takes over and is
# killed at once; C (1 s TTL) takes over. Before the fix C judged L by B's
# TTL (the last one recorded), ended it after 1 s and granted its key to wb
# while wa's lease still had 7 s to run: two holders of one key. Now each
# term's TTL is kept (keycoord_terms) and L is held for A's TTL, counted
# from C's takeover (renewals are not logged). Then C is stopped with
# SIGTERM in the middle of its hold after the unclean stop: it records a
# clean stop, and before the fix the next keycoord granted at once; now the
# hold's end is recorded (keycoord_state.grants_held_until) and keycoord D
# serves what is left of it. The run completes; the audit proves rule 2.
source "$(dirname "${BASH_SOURCE[0]}")/../harness.sh"

records=200000 batch=2000 long=8000 short=1000
H_VENT_OPTS=(--redispatch-ms 3000)
H_WORKER_OPTS=(--request-timeout-ms 1000 --max-rate 8000)

h_start_db
h_init --keys 1 --records "$records"
h_worker_endpoints
h_start_keycoord --lease-ttl-ms "$long"
a=$H_KC_PID
h_wait_until 20 "keycoord A to lead" h_kc_serves "$H_KC_LOG" 1
h_start_sink
h_start_worker 1 --holder wa
wa=$H_WORKER_PID
h_start_worker 1 --holder wb
h_start_ventilator "$batch"
h_wait_signed 10000 60

lease=""
for ((i = 0; i < 200; i++)); do
    kill -STOP "$wa"
    sleep 0.3
    lease="$(h_sql "select id from leases where '/' || holder like '%/wa/%' and ended_at is null order by id desc limit 1")"
    [[ -n "$lease" ]] && break
    kill -CONT "$wa"
    sleep 0.05
done
[[ -n "$lease" ]] || h_fail "worker wa was never caught holding a lease"
h_step "worker wa frozen holding lease $lease (granted by A with a $long ms TTL)"
h_kill "$a"
h_start_keycoord --lease-ttl-ms "$short"
b=$H_KC_PID
h_wait_until 30 "keycoord B to lead epoch 2" grep -q "leading as epoch 2 " "$H_KC_LOG"
h_kill "$b"
h_start_keycoord --lease-ttl-ms "$short"
c=$H_KC_PID c_log=$H_KC_LOG
h_wait_until 30 "keycoord C to lead epoch 3" grep -q "leading as epoch 3 " "$c_log"
h_wait_until 10 "keycoord C to adopt lease $lease" grep -q "lease $lease on key 1 is still open" "$c_log"
h_log_has "$c_log" "lease $lease on key 1 is still open in the log; the key stays out of the queue for $((long + 1000)) ms" \
    "keycoord C holding lease $lease for the TTL of the term that granted it"

h_step "SIGTERM to keycoord C in the middle of its hold"
sleep 1
held_until="$(h_sql "select extract(epoch from grants_held_until) from keycoord_state")"
h_stop "$c"
h_eq "$(h_sql "select epoch || ' ' || clean_stop from keycoord_state")" "3 true" "state after C's clean stop"
h_start_keycoord --lease-ttl-ms "$short"
d_log=$H_KC_LOG
h_wait_until 30 "keycoord D to serve epoch 4" h_kc_serves "$d_log" 4
h_log_has "$d_log" "the previous keycoord stopped during its hold after an unclean stop: no key is granted for the [0-9]+ ms left of it" \
    "keycoord D serving the rest of the hold"
kill -CONT "$wa"
h_step "SIGCONT worker wa"
h_wait_ventilator 300
h_check_alive

h_eq "$(h_sql "select count(*) from leases where epoch in (2, 3, 4) and granted_at < to_timestamp($held_until)")" 0 \
    "leases granted before the end of the hold begun after A's death"
h_eq "$(h_sql "select count(*) from leases l where l.id <> $lease and l.key_id = 1
               and l.granted_at < (select granted_at from leases where id = $lease) + interval '$long milliseconds'
               and l.granted_at > (select granted_at from leases where id = $lease)")" 0 \
    "leases of key 1 granted within A's TTL of lease $lease"
h_finish "$batch"
h_log_has "$H_LOGS/audit.out" '^rule 2 .*: ok' "audit rule 2"
echo "$RS_PROG: ok: lease $lease held for its own term's TTL across two leaders; a hold cut short by a clean stop went on under the next leader; run completed in $H_VENT_SECONDS s; test took $SECONDS s"
