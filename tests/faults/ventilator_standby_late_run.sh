#!/usr/bin/env bash
# ventilator_standby_late_run.sh: a standby ventilator that starts waiting
# before the leader has begun its run (both started together, at boot) and
# cannot take that run over is refused as soon as the run begins, while
# the leader still leads, not at the takeover, when nobody watches and the
# run would be left without a ventilator. The leader is stood in for by a
# psql session that holds the ventilator lock (vent_store.c's key), then
# records run 1 as a leader does a moment after taking the lock. Twice:
# a standby given --batch-size 7 while the run's is 5; a --follow standby
# while the run is a batch run. Each must exit 2 within seconds of the
# run's start, with one error line naming the run's batch size or mode,
# while the lock is still held. (Before the fix: both waited, and exited 2
# or took the run over in the wrong mode only once the leader was gone.)
source "$(dirname "${BASH_SOURCE[0]}")/../harness.sh"

h_start_db
h_init --keys 3 --records 2000
h_worker_endpoints

# The stand-in leader: a psql session the test drives, which holds the
# ventilator lock until h_psql_end.
lock_key=7378709592457799
h_psql_session leader
h_psql_say "select pg_advisory_lock($lock_key); select 'locked';"
h_wait_until 10 "the stand-in leader to hold the lock" grep -q '^locked$' "$H_LOGS/leader.log"

# late_refusal NAME EXPECTED_ERROR SQL_OF_THE_RUN STANDBY_ARGS...
late_refusal() {
    local name="$1" expected="$2" run_sql="$3"
    shift 3
    local log="$H_LOGS/standby-$name.log" pid rc=0
    rs_proc_start "standby-$name" "$log" "${H_RUN[@]}" "$H_VENTILATOR" --db "$H_DB" \
        --bind "$H_EP_VENT" "${H_VENT_OPTS[@]}" "$@"
    pid=$RS_LAST_PID
    h_wait_until 20 "standby $name to wait" grep -q "standby: another recsign-ventilator leads; waiting" "$log"
    h_psql_say "$run_sql select 'run begun';"
    rs_wait_proc "$pid" 10 || rc=$?
    (( rc == 0 )) || { tail -n 20 "$log" >&2; h_fail "standby $name still waits 10 s after the run began"; }
    h_eq "$RS_WAIT_STATUS" 2 "exit status of standby $name"
    h_eq "$(grep -c ' ERROR ' "$log" || true)" 1 "error lines of standby $name"
    h_log_has "$log" "$expected" "standby $name's refusal"
    h_eq "$(h_sql "select count(*) from pg_locks where locktype = 'advisory' and granted
                   and (classid::bigint << 32 | objid::bigint) = $lock_key")" 1 \
        "the stand-in leader's lock, still held"
    h_step "standby $name refused as the run began, the leader still leading"
}

late_refusal batch_size "run 1 is unfinished with batch size 5.*start this standby with --batch-size 5" \
    "insert into runs (batch_size) values (5);" --batch-size 7
h_psql_say "update runs set finished_at = now() where id = 1;"
late_refusal mode "run 2 is unfinished in batch mode.*start this standby without --follow" \
    "insert into runs (batch_size) values (5);" --follow

h_psql_end
echo "$RS_PROG: ok: standbys that could not take the run over were refused as it began; test took $SECONDS s"
