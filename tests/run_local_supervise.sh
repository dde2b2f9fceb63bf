#!/usr/bin/env bash
# run_local_supervise.sh: scripts/run_local.sh supervises what it started.
#   1. A worker and then the sink are killed (SIGKILL) mid-run: the script
#      restarts each, the run completes, verify and audit pass, and the
#      summary lists both restarts with their cause.
#   2. Ctrl-C (SIGINT to the script's process group, as a terminal sends
#      it) stops everything the script started: it exits 130 and none of
#      its processes is left, its private database included; during
#      verify too, and the script says so on its own output.
#   3. A malformed master key file (an existing database, --db): the
#      worker exits 2 and the script stops at once with the cause.
#   4. On that database, --records 50 adds 50 records and no keys.
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

# The programs come from the harness (nothing is built); no package check.
export RECSIGN_SKIP_DEPS=1 RECSIGN_VENTILATOR_BIN="$H_VENTILATOR" RECSIGN_KEYCOORD_BIN="$H_KEYCOORD" \
       RECSIGN_WORKER_BIN="$H_WORKER" RECSIGN_SINK_BIN="$H_SINK" RECSIGN_ADMIN_BIN="$H_ADMIN"

# child PARENT PROGRAM: the pid of PARENT's newest child running PROGRAM
# (a path); nothing when there is none.
child() {
    { ps -o pid=,args= --ppid "$1" || true; } | awk -v p="$2" '$2 == p { pid = $1 } END { if (pid) print pid }'
}
# wait_child PARENT PROGRAM WHAT: prints such a child's pid, waiting up to 60 s.
wait_child() {
    local i pid
    for ((i = 0; i < 600; i++)); do
        pid="$(child "$1" "$2")"
        [[ -n "$pid" ]] && { printf '%s\n' "$pid"; return 0; }
        rs_proc_alive "$1" || h_fail "run_local.sh exited before starting a $3"
        sleep 0.1
    done
    h_fail "no $3 was started by run_local.sh within 60 s"
}
# signed_at_least LOG N: the sink's log reports at least N records signed.
signed_at_least() {
    local n
    n="$(grep -oE 'progress: [0-9]+' "$1" 2>/dev/null | tail -n 1 | grep -oE '[0-9]+')" || return 1
    (( n >= $2 ))
}
wait_signed() {
    local i
    for ((i = 0; i < 600; i++)); do
        signed_at_least "$1" "$2" && return 0
        rs_proc_alive "$rl" || h_fail "run_local.sh exited before $2 records were signed"
        sleep 0.1
    done
    h_fail "fewer than $2 records signed after 60 s"
}

h_step "case 1: kill a worker, then the sink, while run_local.sh runs"
RECSIGN_DATA_DIR="$H_DIR/rl1" bash "$RS_ROOT/scripts/run_local.sh" --records 30000 --keys 4 \
    --batch-size 10 --workers 2 --threads 1 --max-rate 1500 >"$H_LOGS/run_local-1.out" 2>&1 &
rl=$!
logs="$H_DIR/rl1/logs"
wait_child "$rl" "$H_VENTILATOR" ventilator >/dev/null
wait_signed "$logs/sink.log" 3000
worker="$(wait_child "$rl" "$H_WORKER" worker)"
h_step "kill -9 a worker (pid $worker)"
kill -KILL "$worker"
wait_signed "$logs/sink.log" 8000
sink="$(wait_child "$rl" "$H_SINK" sink)"
h_step "kill -9 the sink (pid $sink)"
kill -KILL "$sink"
st=0
wait "$rl" || st=$?
out="$H_LOGS/run_local-1.out"
(( st == 0 )) || { cat "$out" >&2; h_fail "run_local.sh exited with status $st after a worker and the sink were killed"; }
h_log_has "$out" '^  records +30000 \(30000 signed\)' "every record signed"
h_log_has "$out" '^  verify +ok' "verify"
h_log_has "$out" '^  audit +ok' "audit"
h_log_has "$out" '^  restarts +2$' "the summary's count of restarts"
h_log_has "$out" '^    worker-[12]: killed by signal KILL; restarted after [0-9]+ s' "the worker's restart in the summary"
h_log_has "$out" '^    sink: killed by signal KILL; restarted after [0-9]+ s' "the sink's restart in the summary"
# Every process the script started, restarted ones included, ended with it
# (a restart once ran the program under a subshell whose stop left the
# program running): none runs with the certificates of its data directory.
left=""
for env in /proc/[0-9]*/environ; do
    grep -qz "^RECSIGN_CERTS_DIR=$H_DIR/rl1/certs\$" "$env" 2>/dev/null || continue
    pid="${env#/proc/}"; pid="${pid%/environ}"
    left+=" $pid ($(tr '\0' ' ' </proc/"$pid"/cmdline 2>/dev/null | cut -c1-80))"
done
[[ -z "$left" ]] || h_fail "processes started by run_local.sh still run after it exited:$left"

h_step "case 2: Ctrl-C stops everything run_local.sh started"
set -m   # its own process group, as a terminal's foreground job has
RECSIGN_DATA_DIR="$H_DIR/rl2" bash "$RS_ROOT/scripts/run_local.sh" --records 20000 --keys 4 \
    --batch-size 10 --workers 2 --threads 1 --max-rate 1000 >"$H_LOGS/run_local-2.out" 2>&1 &
rl=$!
set +m
wait_child "$rl" "$H_VENTILATOR" ventilator >/dev/null
wait_signed "$H_DIR/rl2/logs/sink.log" 2000
pg_dir="$(sed -n 's/.*starting a private PostgreSQL in \(.*\)$/\1/p' "$H_LOGS/run_local-2.out")"
[[ -n "$pg_dir" && -d "$pg_dir" ]] || h_fail "run_local.sh did not say where its database is"
h_ctrl_c "$rl" run_local.sh
[[ ! -e "$pg_dir" ]] || h_fail "run_local.sh's private database $pg_dir is still there after Ctrl-C"
h_log_lacks "$H_LOGS/run_local-2.out" 'restarted' "run_local.sh after Ctrl-C"

# Ctrl-C while `recsign verify` runs: the trap ran inside that command's
# redirection, so "interrupted; stopping" went into verify.log and the
# script ended with status 130 and no word.
h_step "case 2b: Ctrl-C during verify"
set -m
RECSIGN_DATA_DIR="$H_DIR/rl2b" bash "$RS_ROOT/scripts/run_local.sh" --records 40000 --keys 4 \
    --threads 1 >"$H_LOGS/run_local-2b.out" 2>&1 &
rl=$!
set +m
verifying() { ps -o args= --ppid "$rl" 2>/dev/null | grep -q "^$H_ADMIN verify"; }
h_wait_until 120 "run_local.sh's recsign verify" verifying
h_ctrl_c "$rl" run_local.sh
h_log_has "$H_LOGS/run_local-2b.out" '^run_local.sh: interrupted; stopping$' "run_local.sh's word on Ctrl-C during verify"
h_log_lacks "$H_DIR/rl2b/logs/verify.log" 'interrupted' "verify.log after Ctrl-C"

# A master key file at fault is a configuration error: the worker exits 2
# and run_local.sh stops at once, naming it (it restarted the worker with
# backoff until its whole --timeout passed, saying only "exit status 1").
h_step "case 3: a malformed master key file on an existing database"
h_start_db
h_init --keys 2 --records 100
bad="$H_DIR/bad.key"
(umask 077; echo 0123abcd >"$bad")
st=0
SECONDS_AT=$SECONDS
RECSIGN_DATA_DIR="$H_DIR/rl3" timeout 120 bash "$RS_ROOT/scripts/run_local.sh" --db "$H_DB" \
    --master-key "$bad" --threads 1 --timeout 100 >"$H_LOGS/run_local-3.out" 2>&1 || st=$?
(( st != 0 && st != 124 )) || { cat "$H_LOGS/run_local-3.out" >&2; h_fail "run_local.sh exited with status $st with a malformed master key"; }
(( SECONDS - SECONDS_AT < 60 )) || h_fail "run_local.sh took $((SECONDS - SECONDS_AT)) s to give up on a malformed master key"
h_log_has "$H_LOGS/run_local-3.out" "master key file $bad is malformed; expected 64 hex digits" "the cause on run_local.sh's output"
h_log_lacks "$H_LOGS/run_local-3.out" 'restarting it in' "run_local.sh with a malformed master key"
# On a database that has the schema, only what is asked for is added:
# --records alone once added 100 keys as well.
h_step "case 4: --db with --records adds records, not keys"
keys_before="$(h_sql 'select count(*) from keys')"
records_before="$(h_sql 'select count(*) from records')"
RECSIGN_DATA_DIR="$H_DIR/rl4" RECSIGN_DB_URL="$H_DB" timeout 120 bash "$RS_ROOT/scripts/run_local.sh" \
    --master-key "$H_KEY" --records 50 --threads 1 >"$H_LOGS/run_local-4.out" 2>&1 \
    || { cat "$H_LOGS/run_local-4.out" >&2; h_fail "run_local.sh --db --records 50 failed"; }
h_eq "$(h_sql 'select count(*) from keys')" "$keys_before" "keys after run_local.sh --db --records 50"
h_eq "$(h_sql 'select count(*) from records')" "$((records_before + 50))" "records after run_local.sh --db --records 50"
h_log_has "$H_LOGS/run_local-4.out" '^  audit +ok' "audit after run_local.sh --db --records 50"
echo "$RS_PROG: ok: run_local.sh restarted a killed worker and sink and completed; Ctrl-C stopped everything; a malformed master key stopped it at once; test took $SECONDS s"
