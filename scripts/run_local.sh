#!/usr/bin/env bash
# scripts/run_local.sh: signs a database's records on this machine, end to end.
#
# usage: scripts/run_local.sh [options]
#   --records N      records to seed (default 100000)
#   --keys N         keys to create (default 100)
#   --batch-size N   records per batch, 1..100000 (default 100)
#   --workers N      worker processes (default 1)
#   --threads N      signing threads per worker (default: number of cores)
#   --db URL         use this existing database instead of a private one, and
#                    leave it running with its data; when it already has the
#                    schema and no --keys/--records are given, nothing is
#                    added: only what is unsigned gets signed
#   --master-key P   master key file (default .recsign/master.key; created by
#                    `recsign init` when absent)
#   --keep           leave the private database running; prints its URL and
#                    the command that stops it
#   --timeout S      give up after S seconds of signing (default 1800)
#   --follow         keep the services running after the backlog (the
#                    ventilator's --follow): records inserted later are
#                    signed as they come; prints how to insert some; runs
#                    until Ctrl-C, which ends the run cleanly (no verify or
#                    audit then: with --keep, run them on the kept database)
#   --help           print this help
#
# Steps: install missing packages (as root) and build; start a private
# PostgreSQL cluster; `recsign init`; start keycoord, sink, the workers, then
# the ventilator; wait for the ventilator to finish; stop everything; run
# `recsign verify` and `recsign audit`; print a summary. Logs go to
# .recsign/logs/ (RECSIGN_DATA_DIR overrides .recsign/). Ctrl-C stops
# everything this script started.
set -euo pipefail

RS_PROG=run_local.sh
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# --- options -------------------------------------------------------------------
records=100000
keys=100
batch=100
workers=1
threads=""
db_url=""
master_key=""
keep=0
timeout=1800
records_set=0
keys_set=0
follow=0

# option FLAG VALUE: one flag of the command line.
option() {
    local flag="$1" value="$2"
    case "$flag" in
        --records)    rs_need_int "$flag" "$value" 0 100000000; records="$((10#$value))"; records_set=1 ;;
        --keys)       rs_need_int "$flag" "$value" 1 1000000; keys="$((10#$value))"; keys_set=1 ;;
        --batch-size) rs_need_int "$flag" "$value" 1 100000; batch="$((10#$value))" ;;
        --workers)    rs_need_int "$flag" "$value" 1 256; workers="$((10#$value))" ;;
        --threads)    rs_need_int "$flag" "$value" 0 1024; threads="$((10#$value))" ;;
        --timeout)    rs_need_int "$flag" "$value" 1 1000000; timeout="$((10#$value))" ;;
        --db)         [[ -n "$value" ]] || rs_usage_error "--db needs a URL"; db_url="$value" ;;
        --master-key) [[ -n "$value" ]] || rs_usage_error "--master-key needs a path"; master_key="$value" ;;
        --keep)       keep=1 ;;
        --follow)     follow=1 ;;
        -h|--help)    rs_print_help "${BASH_SOURCE[0]}"; exit 0 ;;
        *)            rs_usage_error "unknown flag '$flag'" ;;
    esac
}
rs_parse_flags '--records|--keys|--batch-size|--workers|--threads|--db|--master-key|--timeout' option "$@"
# 0 means one per core (as the worker reads it); say the real number.
[[ -n "$threads" && "$threads" != 0 ]] || threads="$(nproc 2>/dev/null || echo 1)"
if [[ -n "$db_url" && $keep -eq 1 ]]; then
    rs_warn "--keep has no effect with --db (an external database is always left running)"
fi

# --- build -----------------------------------------------------------------------
rs_build_programs

# --- files -----------------------------------------------------------------------
data_dir="${RECSIGN_DATA_DIR:-$RS_ROOT/.recsign}"
data_dir="$(rs_mkdir_abs "$data_dir")"
logs="$data_dir/logs"
rs_empty_dir "$logs"
[[ -n "$master_key" ]] || master_key="$data_dir/master.key"

# --- cleanup -----------------------------------------------------------------------
# Runs on every exit: stops the processes this script started, then the
# private database unless it is kept.
pg_dir=""
cleanup() {
    rs_proc_stop_all
    rs_release_ports
    if [[ -n "$pg_dir" ]]; then
        if (( keep )); then
            rs_say "database kept running: $RS_PG_URL"
            rs_say "stop it with: $(rs_pg_stop_command "$pg_dir") && rm -rf $pg_dir"
        else
            rs_pg_stop "$pg_dir"
            rm -rf "$pg_dir"
        fi
    fi
}
rs_on_exit cleanup

# --- database -----------------------------------------------------------------------
# admin COMMAND [ARGS...]: the admin CLI against the database in use.
admin() { "$bin_admin" "$1" --db "$db_url" "${@:2}"; }

if [[ -z "$db_url" ]]; then
    pg_dir="$(mktemp -d /tmp/rspg.XXXXXX)"
    rs_pg_start_private "$pg_dir"
    db_url="$RS_PG_URL"
    do_init=1
else
    has_schema="$(rs_psql "$db_url" -c "select to_regclass('public.records') is not null" 2>"$logs/psql.log")" \
        || rs_die "cannot reach database $db_url: $(head -n 1 "$logs/psql.log")"
    if [[ "$has_schema" == t && $records_set -eq 0 && $keys_set -eq 0 ]]; then
        do_init=0
        rs_say "database has the schema; signing what is unsigned (no keys or records added)"
    else
        do_init=1
    fi
fi
if (( do_init )); then
    rs_say "recsign init: $keys keys, $records records"
    admin init --master-key "$master_key" --keys "$keys" --records "$records" >"$logs/init.log" 2>&1 \
        || { tail -n 20 "$logs/init.log" >&2; rs_die "recsign init failed (log: $logs/init.log)"; }
fi
[[ -r "$master_key" ]] || rs_die "master key file $master_key is missing (it must be the one that sealed the keys)"

# --- transport security -------------------------------------------------------------
# CURVE on every socket: a certificate per service and one allowed worker
# certificate, made once and kept in the data directory.
rs_make_certs "$bin_admin" "$data_dir/certs" "$logs/certs.log"
export RECSIGN_CERTS_DIR="$data_dir/certs"

# --- processes -----------------------------------------------------------------------
port_vent="" port_sink="" port_kc=""
rs_free_ports port_vent=5557 port_sink=5558 port_kc=5559

rs_proc_start keycoord "$logs/keycoord.log" \
    "$bin_keycoord" --db "$db_url" --bind "tcp://*:$port_kc"
rs_proc_start sink "$logs/sink.log" \
    "$bin_sink" --db "$db_url" --bind "tcp://*:$port_sink"
for ((w = 1; w <= workers; w++)); do
    rs_proc_start "worker-$w" "$logs/worker-$w.log" \
        "$bin_worker" --ventilator "tcp://127.0.0.1:$port_vent" \
        --keycoord "tcp://127.0.0.1:$port_kc" --sink "tcp://127.0.0.1:$port_sink" \
        --threads "$threads" --master-key "$master_key"
done
prev_run="$(rs_psql "$db_url" -c 'select coalesce(max(id), 0) from runs')"
unsigned="$(rs_psql "$db_url" -c 'select count(*) from records r where not exists (select 1 from signatures s where s.record_id = r.id)')"
rs_say "signing $unsigned unsigned records: batch size $batch, $workers worker(s) x $threads thread(s); logs in $logs"
start_ns="$(date +%s%N)"
vent_follow=()
(( follow )) && vent_follow=(--follow)
rs_proc_start ventilator "$logs/ventilator.log" \
    "$bin_ventilator" --db "$db_url" --bind "tcp://*:$port_vent" --batch-size "$batch" "${vent_follow[@]}"
vent_pid="$RS_LAST_PID"

# --- follow mode: the services stay up until Ctrl-C ----------------------------------
if (( follow )); then
    echo
    echo "recsign is following: records inserted from now on are signed as they come."
    echo "  insert 10 records:"
    printf "    psql '%s' -c \"INSERT INTO records SELECT m + g, convert_to('hello ' || g, 'UTF8') FROM (SELECT coalesce(max(id), 0) AS m FROM records) t, generate_series(1, 10) g\"\n" "$db_url"
    echo "  progress:"
    echo "    $bin_admin status --db '$db_url'"
    # --- follow mode: metrics and dashboard lines ---
    # (issue 10, parts 2 and 3: the --metrics-bind endpoints of the services
    # and the `recsign dashboard` address are printed here.)
    echo "  logs: $logs"
    echo "Ctrl-C stops every service; the ventilator ends its run cleanly."
    wait_rc=0
    rs_wait_proc "$vent_pid" 315360000 || wait_rc=$?
    if (( wait_rc == 0 )); then
        rs_warn "the ventilator exited (status $RS_WAIT_STATUS) while following; last lines of $logs/ventilator.log:"
        tail -n 20 "$logs/ventilator.log" >&2
    fi
    exit 1
fi

wait_rc=0
rs_wait_proc "$vent_pid" "$timeout" || wait_rc=$?
end_ns="$(date +%s%N)"
case "$wait_rc" in
    0)  if [[ "$RS_WAIT_STATUS" != 0 ]]; then
            rs_warn "ventilator exited with status $RS_WAIT_STATUS; last lines of $logs/ventilator.log:"
            tail -n 20 "$logs/ventilator.log" >&2
            exit 1
        fi ;;
    124) rs_warn "ventilator did not finish within $timeout s"
         rs_proc_tails 10
         exit 1 ;;
    *)  exit 1 ;;  # rs_wait_proc said which process died
esac
rs_proc_stop_all

# --- proof -----------------------------------------------------------------------
rs_say "verifying every signature"
verify_rc=0
admin verify --threads "$threads" >"$logs/verify.log" 2>&1 || verify_rc=$?
rs_say "auditing rules 1-5"
audit_rc=0
admin audit >"$logs/audit.log" 2>&1 || audit_rc=$?

# Wall time of this run's signing phase, as stored: last signature of the run
# minus the run's first dispatch.
read -r run_id run_signed run_wall < <(rs_psql "$db_url" -F ' ' -c "
    select r.id, count(s.record_id),
           coalesce(extract(epoch from max(s.signed_at) - r.first_dispatch_at), 0)
    from runs r
    left join leases l on l.run_id = r.id
    left join signatures s on s.lease_id = l.id
    where r.id = (select max(id) from runs where id > $prev_run)
    group by r.id, r.first_dispatch_at") || true
n_records="$(rs_psql "$db_url" -c 'select count(*) from records')"
n_keys="$(rs_psql "$db_url" -c 'select count(*) from keys')"
n_sigs="$(rs_psql "$db_url" -c 'select count(*) from signatures')"
rate="-"
if [[ -n "${run_wall:-}" ]]; then
    rate="$(awk -v n="$run_signed" -v t="$run_wall" 'BEGIN { if (t > 0) printf "%.0f", n / t; else print "-" }')"
fi
script_wall="$(awk -v a="$start_ns" -v b="$end_ns" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')"

echo
echo "recsign local run"
echo "  records           $n_records ($n_sigs signed)"
echo "  keys              $n_keys"
echo "  batch size        $batch"
echo "  workers x threads $workers x $threads"
if [[ -n "${run_id:-}" ]]; then
    printf '  signing phase     run %s: %s records in %.3f s = %s records/s (from the database)\n' \
        "$run_id" "$run_signed" "$run_wall" "$rate"
else
    echo "  signing phase     (no run recorded)"
fi
echo "  ventilator wall   $script_wall s (start to exit, seen by this script)"
if (( verify_rc == 0 )); then
    echo "  verify            ok ($(tail -n 1 "$logs/verify.log"))"
else
    echo "  verify            FAILED (exit $verify_rc; see $logs/verify.log)"
    tail -n 10 "$logs/verify.log" | sed 's/^/    /'
fi
if (( audit_rc == 0 )); then
    echo "  audit             ok"
else
    echo "  audit             FAILED (exit $audit_rc; see $logs/audit.log)"
fi
grep -i '^ *rule' "$logs/audit.log" | sed 's/^ */    /' || true
echo "  logs              $logs"
(( verify_rc == 0 && audit_rc == 0 ))
