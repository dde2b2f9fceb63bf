#!/usr/bin/env bash
# keycoord_sigstop.sh: the leader frozen (SIGSTOP), as a long pause or a
# stalled VM would freeze it, with its database session open. Nobody cuts
# that session: the server ends it by itself once it has been idle for
# KC_OWNER_IDLE_TIMEOUT_MS (2 s; idle_session_timeout), which lets go of
# the lock, and the standby (same --bind) takes it and begins epoch 2 (before
# that bound, a frozen leader kept the lock, and the standby waited, for
# ever). The standby cannot bind while the frozen one has the address, and
# waits. Meanwhile the workers' lease requests pile up at the frozen
# leader's socket. Resumed (SIGCONT), the old leader confirms its
# leadership before it handles anything (its last confirmation is seconds
# old), finds its session gone, grants nothing, closes its socket and goes
# back to standby; whatever its writer still held is refused by the
# database (epoch 1 is not current). The new leader binds and serves. No
# lease of epoch 1 is granted after the freeze; the run completes; verify
# and audit pass.
source "$(dirname "${BASH_SOURCE[0]}")/../harness.sh"

records=60000 keys=3 batch=5 ttl=2000
h_fault_options "$ttl" 1500 4000

h_start_db
h_init --keys "$keys" --records "$records"
h_start_kc_pair
a=$H_KC_A a_log=$H_KC_A_LOG b_log=$H_KC_B_LOG
h_kc_run "$batch"

session="$(h_kc_session "$a_log")"
kill -STOP "$a"
frozen_at="$(date +%s.%N)"
h_step "SIGSTOP keycoord A (pid $a), whose lock is held by database session $session"
h_wait_until 30 "keycoord B to lead epoch 2 without anyone cutting A's session" \
    grep -q "leading as epoch 2 " "$b_log"
h_eq "$(h_sql "select count(*) from pg_stat_activity where pid = $session")" 0 \
    "database sessions $session (the frozen leader's lock session) still open"
h_wait_until 30 "keycoord B to find the address taken" grep -q "waiting up to [0-9]* ms for it" "$b_log"
sleep 1   # lease requests reach the frozen leader's socket meanwhile
h_log_lacks "$b_log" "serving leases on .* epoch 2" "B serving while the frozen leader holds the address"
kill -CONT "$a"
h_step "SIGCONT keycoord A (pid $a)"

h_wait_until 30 "keycoord B to serve as the leader of epoch 2" h_kc_serves "$b_log" 2
h_wait_until 30 "keycoord A to step down" \
    grep -q "no longer the leader of epoch 1: lease socket closed; back to standby" "$a_log"
# The first thing it did after the pause was to find its leadership gone:
# either its confirmation (the last one older than the pause) failed, or
# its lease-log writer, which may run first, had a write of epoch 1
# refused by the database.
# (No match is one of the two outcomes: `|| true` keeps set -e out of it.)
line="$(grep -E "leadership of epoch 1 cannot be confirmed \\(last confirmed [0-9]+ ms ago\\)" "$a_log" | tail -n 1 || true)"
if [[ -n "$line" ]]; then
    ago="$(sed -E 's/.*last confirmed ([0-9]+) ms ago.*/\1/' <<<"$line")"
    (( ago >= 1000 )) || h_fail "keycoord A confirmed its leadership $ago ms before it stepped down; expected the pause (over 1 s) in between"
    found_out="its confirmation failed, $ago ms after the last one"
else
    h_log_has "$a_log" "the database refused a lease log write of epoch 1" \
        "keycoord A said neither that it could not confirm its leadership nor that a write of epoch 1 was refused"
    found_out="the database refused its lease log writer a write of epoch 1"
fi
h_wait_ventilator 120
h_check_alive

h_eq "$(h_sql "select count(*) from leases where epoch = 1 and granted_at > to_timestamp($frozen_at)")" 0 \
    "leases of the frozen leader's epoch granted after the freeze"
h_eq "$(h_sql "select count(*) from leases where epoch = 1 and ended_at > to_timestamp($frozen_at)
               and end_epoch = 1")" 0 "lease ends written by the frozen leader after the freeze"
h_eq "$(h_sql "select count(*) from signatures s join leases l on l.id = s.lease_id
               where l.epoch = 1 and l.granted_at > to_timestamp($frozen_at)")" 0 \
    "signatures stored under epoch 1 leases granted after the freeze"
h_finish_kc "$batch" 2
echo "$RS_PROG: ok: a frozen leader, resumed after its lock was taken over, found out ($found_out) before granting anything; run completed in $H_VENT_SECONDS s; test took $SECONDS s"
