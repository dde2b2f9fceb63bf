#!/usr/bin/env bash
# keycoord_slow_first_hosts.sh: the standby keycoord's --db lists two
# servers before the real one that accept a connection and never answer,
# as libpq sees a host that is gone: each of its connection attempts waits
# the connect timeout (2 s) on both before it reaches the database, 4 s in
# all, twice as long as the session holding the keycoord lock may stay idle
# before the server ends it (2 s). The leader is killed mid-run; the
# standby takes the lock and must serve under epoch 2 without losing it:
# nothing it does once it holds the lock may wait on a connection attempt.
# (Before the fix the new leader connected the lease log's session after
# taking the lock, lost the lock meanwhile, and went round lead, lose,
# lead again, granting nothing: host_loss's run on host B.) The run
# completes under epoch 2; the audit proves rules 2 and 4.
source "$(dirname "${BASH_SOURCE[0]}")/../harness.sh"

records=40000 keys=3 batch=5 ttl=2000
h_fault_options "$ttl" 1500 4000

h_start_db
h_init --keys "$keys" --records "$records"

h_slow_db
slow_db=$H_SLOW_DB

h_start_kc_pair --db "$slow_db"
first=$H_KC_A standby_log=$H_KC_B_LOG
h_kc_run "$batch"
h_kill "$first"
killed_at="$(date +%s.%N)"

h_wait_until 60 "the standby to serve as the leader of epoch 2" h_kc_serves "$standby_log" 2
h_wait_ventilator 120
h_check_alive
h_log_lacks "$standby_log" "cannot be confirmed|no longer the leader" "the new leader, which must keep the lock"
h_eq "$(h_sql "select epoch from keycoord_state")" 2 "the keycoord epoch once the run is done"
(( $(h_sql "select count(*) from leases where epoch = 2 and granted_at > to_timestamp($killed_at)") > 0 )) \
    || h_fail "the new leader granted nothing"

h_finish_kc "$batch" 2
echo "$RS_PROG: ok: a standby whose first two database hosts never answer took over and kept the lock; the run completed in $H_VENT_SECONDS s; test took $SECONDS s"
