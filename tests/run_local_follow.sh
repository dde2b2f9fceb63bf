#!/usr/bin/env bash
# run_local_follow.sh: the three parts of the service working together in
# `scripts/run_local.sh --follow`: it signs the backlog, then records
# inserted with the psql line it prints; the dashboard it prints serves the
# page whose `signed` and `total` match the database; the sink's metrics
# endpoint it prints counts what the sink stored; a killed worker is
# restarted; Ctrl-C stops everything it started and ends the run cleanly.
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

export RECSIGN_SKIP_DEPS=1 RECSIGN_VENTILATOR_BIN="$H_VENTILATOR" RECSIGN_KEYCOORD_BIN="$H_KEYCOORD" \
       RECSIGN_WORKER_BIN="$H_WORKER" RECSIGN_SINK_BIN="$H_SINK" RECSIGN_ADMIN_BIN="$H_ADMIN"

out="$H_LOGS/run_local-follow.out"
set -m   # its own process group, as a terminal's foreground job has
RECSIGN_DATA_DIR="$H_DIR/rl" bash "$RS_ROOT/scripts/run_local.sh" --follow --records 3000 \
    --keys 4 --batch-size 10 --threads 1 >"$out" 2>&1 &
rl=$!
set +m

# wait_for WHAT COMMAND...: retries COMMAND for up to 60 s.
wait_for() {
    local what="$1" i
    shift
    for ((i = 0; i < 600; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        rs_proc_alive "$rl" || { cat "$out" >&2; h_fail "run_local.sh exited while waiting for $what"; }
        sleep 0.1
    done
    cat "$out" >&2
    h_fail "no $what within 60 s"
}
# The sink's metrics line is the last of those read below (run_local.sh
# writes them one echo at a time).
wait_for "the sink's metrics line" grep -q '/metrics (sink)' "$out"
db="$(sed -n 's/^    psql "\([^"]*\)" -c .*/\1/p' "$out")"
dash="$(sed -n 's/^  dashboard: *\(http[^ ]*\)$/\1/p' "$out")"
sink_metrics="$(grep -oE 'http://127\.0\.0\.1:[0-9]+/metrics \(sink\)' "$out" | cut -d' ' -f1)"
insert_sql="$(sed -n 's/^    psql "[^"]*" -c "\(.*\)"$/\1/p' "$out")"
[[ -n "$db" && -n "$dash" && -n "$sink_metrics" && -n "$insert_sql" ]] \
    || { cat "$out" >&2; h_fail "run_local.sh --follow did not print the psql line, the dashboard and the metrics"; }

signed() { rs_psql "$db" -c 'select count(*) from signatures'; }
all_signed() { [[ "$(signed)" == "$(rs_psql "$db" -c 'select count(*) from records')" ]]; }
wait_for "signed backlog" all_signed

h_step "insert 500 records with the printed line, 50 times"
for ((i = 0; i < 50; i++)); do
    rs_psql "$db" -c "$insert_sql" >/dev/null
done
h_eq "$(rs_psql "$db" -c 'select count(*) from records')" 3500 "records after the inserts"
wait_for "inserted records signed" all_signed

h_step "kill -9 the worker; insert more; it is restarted and signs them"
worker="$({ ps -o pid=,args= --ppid "$rl" || true; } | awk -v p="$H_WORKER" '$2 == p { print $1 }')"
[[ -n "$worker" ]] || h_fail "no worker of run_local.sh found"
kill -KILL "$worker"
rs_psql "$db" -c "$insert_sql" >/dev/null
wait_for "records inserted after the worker's restart signed" all_signed
h_log_has "$out" 'restarted worker-1' "the worker's restart"

h_step "the dashboard and the sink's metrics agree with the database"
page_counts() {
    local page n total
    page="$(curl -fsS "$dash")" || return 1
    n="$(grep -o '<[a-z]* id="signed"[^>]*>[0-9]*<' <<<"$page" | grep -oE '>[0-9]+<' | tr -d '<>')"
    total="$(grep -o '<[a-z]* id="total"[^>]*>[0-9]*<' <<<"$page" | grep -oE '>[0-9]+<' | tr -d '<>')"
    [[ "$n" == 3510 && "$total" == 3510 ]]
}
wait_for "the dashboard showing 3510 of 3510 signed" page_counts
stored="$(curl -fsS "$sink_metrics" | awk '$1 == "recsign_signatures_stored_total" { print $2 }')"
# The restarted worker pushes to the same sink, which stored every signature
# since the run began (the sink itself was not restarted).
h_eq "$stored" 3510 "recsign_signatures_stored_total of the sink"

h_ctrl_c "$rl" run_local.sh
h_log_lacks "$H_DIR/rl/logs/ventilator.log" ' ERROR ' "the ventilator's log"
echo "$RS_PROG: ok: run_local.sh --follow signed the backlog and inserted records, served the dashboard and metrics, restarted a killed worker, stopped on Ctrl-C; test took $SECONDS s"
