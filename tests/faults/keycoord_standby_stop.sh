#!/usr/bin/env bash
# keycoord_standby_stop.sh: an operator stops the leader and its standby
# together (SIGTERM to both, as a service manager stopping every keycoord
# of a host or the harness at the end of a test does) while the standby is
# reconnecting to the database, which takes seconds: its --db lists two
# hosts that never answer before the real one (h_slow_db). The leader
# stops cleanly and lets go of the lock; the standby, told to stop, must
# not take the lock on its way out: no new epoch may begin, and the state
# must stay the leader's clean stop of epoch 1. (Before the fix a standby
# looked for the stop request only before it began connecting: it
# connected both of its sessions, 4 s each, took the lock the leader had
# just let go of, began epoch 2 and recorded its clean stop, and obeyed
# SIGTERM after 7 s or more: CI's keycoord_hung, a deposed leader that
# was reconnecting as a standby when the test stopped everything, ended
# with the state '3 true' where '2 true' was expected.)
source "$(dirname "${BASH_SOURCE[0]}")/../harness.sh"

h_fault_options 2000 1500 4000

h_start_db
h_init --keys 3 --records 100
h_slow_db
h_start_kc_pair --db "$H_SLOW_DB"
leader_log=$H_KC_A_LOG standby_log=$H_KC_B_LOG

# The standby's two sessions began after the leader's lock session (the
# leader's lease log session began before it): end them, and the standby's
# next try of the lock fails and it connects both again, 4 s each.
lock_pid="$(h_kc_session "$leader_log")"
[[ -n "$lock_pid" ]] || h_fail "the leader did not log the database session of its lock"
cut="$(h_sql "select count(pg_terminate_backend(pid)) from pg_stat_activity
              where application_name = 'recsign-keycoord'
                and backend_start > (select backend_start from pg_stat_activity where pid = $lock_pid)")"
h_eq "$cut" 2 "the standby's database sessions ended"
h_step "ended the standby's two database sessions"
h_wait_until 20 "the standby to find its session gone" \
    grep -q "WARN trying the keycoord lock failed" "$standby_log"
# Into the first of its two connection attempts (4 s each).
sleep 1

# By hand: the harness's own stop would end the silent listeners with the
# first processes it stops, and the standby's connection attempt with them.
h_step "SIGTERM to the leader and the standby together"
kill -TERM "$H_KC_A" "$H_KC_B"
signalled=$SECONDS
h_all_exit 10 "$H_KC_A" "$H_KC_B"
h_step "both exited within $((SECONDS - signalled)) s of SIGTERM"
h_log_has "$leader_log" "stopped cleanly: the lease log is complete" "the leader's clean stop"
h_log_has "$standby_log" "stopped while standby" "the standby's stop"
h_log_lacks "$standby_log" "leading as epoch" "a standby told to stop, which must not take the lock"
h_eq "$(h_sql "select epoch || ' ' || clean_stop from keycoord_state")" "1 true" \
    "keycoord state after both stopped"
h_eq "$(h_sql "select count(*) from keycoord_terms")" 1 "leadership terms begun"
echo "$RS_PROG: ok: a standby stopped while it reconnected did not take the lock its leader let go of; test took $SECONDS s"
