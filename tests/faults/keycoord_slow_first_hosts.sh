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

# Two addresses that accept and say nothing (a listener that never
# answers), then the real server on its unix socket.
silent1="" silent2=""
h_free_port silent1 || h_fail "no free port"
h_free_port silent2 || h_fail "no free port"
# shellcheck disable=SC2016  # a Python program, not shell
rs_proc_start silent "$H_LOGS/silent.log" python3 -c '
import select, signal, socket, sys
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
listeners, held = [], []
for port in sys.argv[1:]:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(port)))
    s.listen(64)
    listeners.append(s)
print("listening, never answering, on", *sys.argv[1:], flush=True)
while True:
    ready, _, _ = select.select(listeners, [], [])
    held += [s.accept()[0] for s in ready]
' "$silent1" "$silent2"
h_wait_until 10 "the silent listeners" grep -q "^listening" "$H_LOGS/silent.log"
pg_port="$(h_sql 'show port')"
slow_db="host=127.0.0.1,127.0.0.1,$RS_PG_DIR port=$silent1,$silent2,$pg_port user=recsign dbname=recsign"

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
