#!/usr/bin/env bash
# scripts/run_local.sh: signs a database's records on this machine, end to end.
#
# usage: scripts/run_local.sh [options]
#   --records N      records to seed (default 100000; bounds: recsign init's)
#   --keys N         keys to create (default 100; at most what recsign init takes)
#   --batch-size N   records per batch (default 100; bounds: the ventilator's)
#   --workers N      worker processes, 1..256 (default 1)
#   --threads N      signing threads per worker (default: number of cores;
#                    bounds: the worker's)
#   --max-rate N     signatures per second each worker may make (default 0:
#                    no limit; bounds: the worker's)
#   --db URL         use this existing database instead of a private one, and
#                    leave it running with its data; when it already has the
#                    schema, only the --keys and --records given are added
#                    (none: only what is unsigned gets signed). Any libpq
#                    connection string. Better given as RECSIGN_DB_URL (a
#                    command line is visible to every user in ps), with the
#                    password in ~/.pgpass or a service file; never printed
#   --master-key P   master key file (default .recsign/master.key; created by
#                    `recsign init` when absent)
#   --keep           leave the private database running; prints its URL and
#                    the command that stops it
#   --timeout S      give up after S seconds of signing (default 1800)
#   --follow         keep the services running after the backlog (the
#                    ventilator's --follow): records inserted later are
#                    signed as they come; every service serves Prometheus
#                    metrics on 127.0.0.1 and `recsign dashboard` runs
#                    beside them; prints how to insert records and where
#                    the dashboard and metrics are; runs until Ctrl-C,
#                    which ends the run cleanly (no verify or
#                    audit then: with --keep, run them on the kept database)
#   --cpu-account    print where the run's CPU went, by part: every recsign
#                    process, PostgreSQL's backends by the service they
#                    serve and its own processes (also for a --db on this
#                    host), the launcher, the rest of the machine, against
#                    wall time x cores (files in the logs' cpu-account/,
#                    described in its README); not with --follow
#   --help           print this help
#
# Steps: install missing packages (as root) and build; start a private
# PostgreSQL cluster; `recsign init`; start keycoord, sink, the workers, then
# the ventilator; wait for the ventilator to finish, restarting any process
# that exits meanwhile (backoff from 1 s doubling to 30 s, as the systemd
# units do); stop everything; run `recsign verify` and `recsign audit`;
# print a summary, with each restart and its cause. Logs go to
# .recsign/logs/ (RECSIGN_DATA_DIR overrides .recsign/), replaced at each
# run (a logs directory these scripts did not make is refused, not
# emptied). Ctrl-C stops everything this script started.
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
max_rate=0
db_url="${RECSIGN_DB_URL:-}"
master_key=""
keep=0
timeout=1800
records_set=0
keys_set=0
do_private=0
db_flag=0
follow=0
cpu_account=0

# option FLAG VALUE: one flag of the command line. The values the programs
# take are checked against the programs' own bounds once they are built.
option() {
    local flag="$1" value="$2"
    case "$flag" in
        --records)    records="$value"; records_set=1 ;;
        --keys)       keys="$value"; keys_set=1 ;;
        --batch-size) batch="$value" ;;
        --workers)    rs_need_int "$flag" "$value" 1 256; workers="$((10#$value))" ;;
        --threads)    threads="$value" ;;
        --max-rate)   max_rate="$value" ;;
        --timeout)    rs_need_int "$flag" "$value" 1 1000000; timeout="$((10#$value))" ;;
        --db)         [[ -n "$value" ]] || rs_usage_error "--db needs a URL"; db_url="$value"; db_flag=1 ;;
        --master-key) [[ -n "$value" ]] || rs_usage_error "--master-key needs a path"; master_key="$value" ;;
        --keep)       keep=1 ;;
        --follow)     follow=1 ;;
        --cpu-account) cpu_account=1 ;;
        -h|--help)    rs_print_help "${BASH_SOURCE[0]}"; exit 0 ;;
        *)            rs_usage_error "unknown flag '$flag'" ;;
    esac
}
rs_parse_flags '--records|--keys|--batch-size|--workers|--threads|--max-rate|--db|--master-key|--timeout' option "$@"
(( cpu_account && follow )) \
    && rs_usage_error "--cpu-account accounts a run that ends; it cannot be combined with --follow"
if [[ -n "$db_url" && $keep -eq 1 ]]; then
    rs_warn "--keep has no effect with --db (an external database is always left running)"
fi

# --- build -----------------------------------------------------------------------
rs_build_programs
# The processes take their settings from this script only; the database
# reaches them in the environment, never on a command line (ps).
rs_unset_config_env
# The bounds are the programs' own (their --help): what they would refuse
# is refused here, before anything starts. Signing needs at least one key.
rs_need_int_as --records "$records" --records "$bin_admin" init
RS_MIN_OVERRIDE=1 rs_need_int_as --keys "$keys" --keys "$bin_admin" init
rs_need_int_as --batch-size "$batch" --batch-size "$bin_ventilator"
[[ -z "$threads" ]] || rs_need_int_as --threads "$threads" --threads "$bin_worker"
rs_need_int_as --max-rate "$max_rate" --max-rate "$bin_worker"
records="$((10#$records))" keys="$((10#$keys))" batch="$((10#$batch))" max_rate="$((10#$max_rate))"
# 0 means one per core (as the worker reads it); say the real number.
[[ -n "$threads" && "$threads" != 0 ]] && threads="$((10#$threads))" || threads="$(nproc 2>/dev/null || echo 1)"
if [[ -n "$db_url" ]]; then
    export RECSIGN_DB_URL="$db_url"
    (( db_flag == 0 )) || rs_warn "--db is visible to every user of this host (ps); prefer RECSIGN_DB_URL, with the password in ~/.pgpass or a service file"
fi

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
# admin COMMAND [ARGS...]: the admin CLI against the database in use
# (RECSIGN_DB_URL).
admin() { "$bin_admin" "$@"; }

if [[ -z "$db_url" ]]; then
    pg_dir="$(mktemp -d /tmp/rspg.XXXXXX)"
    rs_pg_start_private "$pg_dir"
    db_url="$RS_PG_URL"
    export RECSIGN_DB_URL="$db_url"
    do_init=1
    do_private=1
else
    # The admin CLI connects first: its errors never show a password (and
    # a string libpq cannot read is refused before psql could quote it).
    has_schema=t
    if ! admin status >/dev/null 2>"$logs/db-check.log"; then
        grep -q "recsign init" "$logs/db-check.log" \
            || rs_die "cannot use the database given with --db or RECSIGN_DB_URL: $(sed -n '1s/.* ERROR //p' "$logs/db-check.log")"
        has_schema=f
    fi
    if [[ "$has_schema" == t && $records_set -eq 0 && $keys_set -eq 0 ]]; then
        do_init=0
        rs_say "database has the schema; signing what is unsigned (no keys or records added)"
    else
        do_init=1
        # On a database that has the schema, only what was asked for is
        # added: --records alone once added 100 keys too.
        if [[ "$has_schema" == t ]]; then
            (( keys_set )) || keys=0
            (( records_set )) || records=0
        fi
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

# Follow mode is a service: every process serves Prometheus metrics on
# 127.0.0.1, and the dashboard runs beside them.
m_vent=() m_kc=() m_sink=() m_wk=()
if (( follow )); then
    port_m_vent="" port_m_kc="" port_m_sink="" port_dash=""
    rs_free_ports port_m_vent=9557 port_m_sink=9558 port_m_kc=9559 port_dash=8080
    m_vent=(--metrics-bind "127.0.0.1:$port_m_vent")
    m_kc=(--metrics-bind "127.0.0.1:$port_m_kc")
    m_sink=(--metrics-bind "127.0.0.1:$port_m_sink")
fi
# What is to sign, counted before the account begins: a whole-table count
# of the script's own is no part of the run (it took 0.2-0.3 CPU-s of
# PostgreSQL per 100,000 records inside the account).
prev_run="$(rs_psql "$db_url" -c 'select coalesce(max(id), 0) from runs')"
unsigned="$(rs_psql "$db_url" -c 'select count(*) from records r where not exists (select 1 from signatures s where s.record_id = r.id)')"
# The account starts before the services and ends once they stopped: their
# start-up and their tail count too.
(( cpu_account )) && rs_cpu_account_begin "$logs/cpu-account" "${pg_dir:-$db_url}"
rs_proc_start keycoord "$logs/keycoord.log" \
    "$bin_keycoord" --bind "tcp://*:$port_kc" "${m_kc[@]}"
rs_proc_start sink "$logs/sink.log" \
    "$bin_sink" --bind "tcp://*:$port_sink" "${m_sink[@]}"
worker_metrics=()
for ((w = 1; w <= workers; w++)); do
    if (( follow )); then
        port_m_wk=""
        rs_free_ports port_m_wk=9560
        m_wk=(--metrics-bind "127.0.0.1:$port_m_wk")
        worker_metrics+=("http://127.0.0.1:$port_m_wk/metrics")
    fi
    rs_proc_start "worker-$w" "$logs/worker-$w.log" \
        "$bin_worker" --ventilator "tcp://127.0.0.1:$port_vent" \
        --keycoord "tcp://127.0.0.1:$port_kc" --sink "tcp://127.0.0.1:$port_sink" \
        --threads "$threads" --master-key "$master_key" --max-rate "$max_rate" "${m_wk[@]}"
done
rs_say "signing $unsigned unsigned records: batch size $batch, $workers worker(s) x $threads thread(s); logs in $logs"
start_ns="$(date +%s%N)"
vent_follow=()
(( follow )) && vent_follow=(--follow)
rs_proc_start ventilator "$logs/ventilator.log" \
    "$bin_ventilator" --bind "tcp://*:$port_vent" --batch-size "$batch" "${vent_follow[@]}" \
    "${m_vent[@]}"
vent_pid="$RS_LAST_PID"
(( follow )) && rs_proc_start dashboard "$logs/dashboard.log" \
    "$bin_admin" dashboard --bind "127.0.0.1:$port_dash"

# --- follow mode: the services stay up until Ctrl-C ----------------------------------
if (( follow )); then
    echo
    echo "recsign is following: records inserted from now on are signed as they come."
    # The URL of a private database has no password; a database given by
    # the caller is named by the variable only, never printed.
    db_shown="$db_url"
    (( do_private )) || db_shown='$RECSIGN_DB_URL'
    echo "  insert 10 records:"
    printf "    psql \"%s\" -c \"INSERT INTO records SELECT m + g, convert_to('hello ' || g, 'UTF8') FROM (SELECT coalesce(max(id), 0) AS m FROM records) t, generate_series(1, 10) g\"\n" "$db_shown"
    echo "  progress:    $bin_admin status --db \"$db_shown\""
    echo "  dashboard:   http://127.0.0.1:$port_dash/"
    echo "  metrics:     http://127.0.0.1:$port_m_vent/metrics (ventilator), http://127.0.0.1:$port_m_kc/metrics (keycoord),"
    echo "               http://127.0.0.1:$port_m_sink/metrics (sink), ${worker_metrics[*]} (workers)"
    echo "  logs:        $logs"
    echo "Ctrl-C stops every service; the ventilator ends its run cleanly. A service that exits is restarted."
    wait_rc=0
    rs_supervise "$vent_pid" 315360000 || wait_rc=$?
    if (( wait_rc == 0 )); then
        rs_warn "the ventilator exited (status $RS_WAIT_STATUS) while following; last lines of $logs/ventilator.log:"
        tail -n 20 "$logs/ventilator.log" >&2
    fi
    exit 1
fi

wait_rc=0
rs_supervise "$vent_pid" "$timeout" || wait_rc=$?
end_ns="$(date +%s%N)"
case "$wait_rc" in
    0)  ;;
    124) rs_warn "the run did not finish within $timeout s"
         rs_proc_tails 10
         exit 1 ;;
    *)  exit 1 ;;  # rs_supervise said which process failed for good
esac
rs_proc_stop_all
account_rc=0
(( cpu_account )) && { rs_cpu_account_end || account_rc=$?; }

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
if (( ${#RS_RESTARTS[@]} == 0 )); then
    echo "  restarts          none"
else
    echo "  restarts          ${#RS_RESTARTS[@]}"
    printf '    %s\n' "${RS_RESTARTS[@]}"
fi
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
if (( cpu_account )); then
    echo
    rs_cpu_account_print "$logs/cpu-account/account.csv" "${run_signed:-$unsigned}"
    echo "  (per 100k records signed in this run; the account's files, described in its README: $logs/cpu-account)"
fi
(( verify_rc == 0 && audit_rc == 0 && account_rc == 0 ))
