#!/usr/bin/env bash
# scripts/bench_stages.sh: the ceiling of one pipeline. Each stage that
# every worker shares (sink, ventilator, keycoord) is measured alone, fed
# by a load generator that stands in for many workers, on real sockets and
# a real PostgreSQL; each rate is then divided by one worker core's signing
# rate: how many worker cores that stage can feed.
#
# usage: scripts/bench_stages.sh [options]
#   --records N       records of each sink and ventilator measurement
#                     (default 1000000)
#   --batch-size N    the runs' batch size: records per lease (default 1000)
#   --threads N       stand-in worker threads of the sink generator (default 4)
#   --pullers N       receiving threads of the ventilator generator (default 4)
#   --holders N       lease holders of the keycoord measurement (default 16)
#   --seconds S       measuring time of the keycoord (default 5)
#   --keys N          keys in the keyring (default 100)
#   --algorithms L    comma-separated key algorithms whose 1-thread signing
#                     rate divides the stage rates (default
#                     ed25519,ecdsa-p256,rsa-2048)
#   --sign-seconds S  measuring time of the raw signing rate (default 3)
#   --quick           preset: 100000 records, keycoord 2 s, signing 1 s,
#                     ed25519 only (about a minute); flags given after
#                     --quick override it
#   --out-dir DIR     where results go (default build/bench/)
#   --insecure-plain  no CURVE on any socket (default: CURVE, as deployed)
#   --help            print this help
#
# What it measures, one stage at a time, each on a signing state reset
# before it (signatures, leases and runs emptied; the processes started
# afresh), all against one private PostgreSQL cluster (fsync on) holding
# `recsign init --keys K --records N`:
#   sink        one recsign-sink; recsign-bench-sink's stand-in workers
#               lease a key per batch from a real keycoord and push the
#               batch's results (not real signatures: the sink does not
#               verify) until the database holds all N. Stored signatures/s,
#               from the first push to the last row stored.
#   2 sinks     the same, two recsign-sink processes into the one database,
#               every stand-in worker pushing to both (round-robin).
#   ventilator  one recsign-ventilator; recsign-bench-ventilator's PULL
#               threads take its batches as fast as it sends them.
#               Dispatched records/s, from the first message to the last
#               record; then the generator gets everything stored through a
#               keycoord and a sink so that the run completes (outside the
#               measured time and CPU figures), and the ventilator must exit 0.
#   keycoord    recsign-bench-keycoord --holders H: lease cycles (release +
#               grant, one round trip) per second, each lease for one batch
#               of the batch size; its records/s is leases/s x batch size.
# The CPU seconds (user + system, /proc) of the stage's process(es) and of
# the whole PostgreSQL cluster are taken over the measurement. A worker
# core's rate is recsign-bench-sign's 1-thread rate per algorithm (the raw
# rate: a worker core signs no faster end to end, so the cores fed are a
# lower bound).
#
# Checks (exit 1 on any): every sink measurement leaves exactly N
# signatures, one lease per batch; the ventilator exits 0 with every record
# signed once; the keycoord leaves no lease open.
#
# Output, in the out dir:
#   stages.csv   stage, records per lease, rate, unit, records/s, seconds,
#                stage CPU s, PostgreSQL CPU s, then worker cores fed per
#                algorithm (cores_ALG columns)
#   stages.md    the table (also printed)
#   logs/stages/ the processes' logs and the generators' result lines
set -euo pipefail

RS_PROG=bench_stages.sh
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# --- options -------------------------------------------------------------------
records=1000000
batch=1000
threads=4
pullers=4
holders=16
kc_seconds=5
keys=100
algorithms="ed25519,ecdsa-p256,rsa-2048"
sign_seconds=3
out_dir=""
plain=0

# option FLAG VALUE: one flag of the command line.
option() {
    local flag="$1" value="$2"
    case "$flag" in
        --records)        rs_need_int "$flag" "$value" 1000 50000000; records="$((10#$value))" ;;
        --batch-size)     rs_need_int "$flag" "$value" 1 100000; batch="$((10#$value))" ;;
        --threads)        rs_need_int "$flag" "$value" 1 256; threads="$((10#$value))" ;;
        --pullers)        rs_need_int "$flag" "$value" 1 256; pullers="$((10#$value))" ;;
        --holders)        rs_need_int "$flag" "$value" 1 1024; holders="$((10#$value))" ;;
        --seconds)        rs_need_int "$flag" "$value" 1 3600; kc_seconds="$((10#$value))" ;;
        --keys)           rs_need_int "$flag" "$value" 1 100000; keys="$((10#$value))" ;;
        --algorithms)     [[ "$value" =~ ^[a-z0-9-]+(,[a-z0-9-]+)*$ ]] \
                              || rs_usage_error "--algorithms is '$value'; expected a comma-separated list of key algorithms"
                          algorithms="$value" ;;
        --sign-seconds)   rs_need_int "$flag" "$value" 1 600; sign_seconds="$((10#$value))" ;;
        --quick)          records=100000; kc_seconds=2; sign_seconds=1; algorithms=ed25519 ;;
        --out-dir)        rs_need_out_dir "$flag" "$value"; out_dir="$value" ;;
        --insecure-plain) plain=1 ;;
        -h|--help)        rs_print_help "${BASH_SOURCE[0]}"; exit 0 ;;
        *)                rs_usage_error "unknown flag '$flag'" ;;
    esac
}
rs_parse_flags '--records|--batch-size|--threads|--pullers|--holders|--seconds|--keys|--algorithms|--sign-seconds|--out-dir' option "$@"
IFS=, read -r -a ALGS <<<"$algorithms"
(( keys >= holders )) \
    || rs_usage_error "--keys is $keys, fewer than --holders $holders; expected a key free for every holder"
(( keys >= threads )) \
    || rs_usage_error "--keys is $keys, fewer than --threads $threads; expected a key free for every stand-in worker"

# --- build -----------------------------------------------------------------------
rs_build_programs
rs_need_bins "$bin_sign" "$bin_bench_keycoord" "$bin_bench_sink" "$bin_bench_ventilator"

# --- files -----------------------------------------------------------------------
[[ -n "$out_dir" ]] || out_dir="$build/bench"
out_dir="$(rs_mkdir_abs "$out_dir")"
logs="$out_dir/logs/stages"
rs_empty_dir "$logs"
csv="$out_dir/stages.csv"
table="$out_dir/stages.md"
work="$(rs_work_dir rsstg)"

# The flags below are the whole configuration.
rs_unset_config_env

# --- cleanup -----------------------------------------------------------------------
pg_dir=""
cleanup() { rs_stop_run "$pg_dir" "$work"; }
rs_on_exit cleanup

# --- helpers ---------------------------------------------------------------------
# result_line LOG PREFIX: the generator's result line starting with PREFIX.
result_line() { grep -m 1 "^$2" "$1" || true; }

# stop_all: stops every process of the stage; each must exit 0.
stop_all() {
    local i pid
    for i in "${!RS_PIDS[@]}"; do
        pid="${RS_PIDS[$i]}"
        [[ -n "$pid" ]] || continue
        kill -TERM "$pid" 2>/dev/null || true
        rs_wait_proc "$pid" 30 || rs_die "${RS_PNAMES[$i]} did not stop within 30 s of SIGTERM"
        [[ "$RS_WAIT_STATUS" == 0 ]] \
            || { tail -n 20 "${RS_PLOGS[$i]}" >&2; rs_die "${RS_PNAMES[$i]} exited with status $RS_WAIT_STATUS"; }
    done
    rs_proc_stop_all
    sleep 0.2   # lets the postmaster reap the stopped processes' backends
}

# wait_exit PID TIMEOUT WHAT: waits for PID alone (whatever the others
# do) and dies unless it exits 0 in time.
wait_exit() {
    local start=$SECONDS st=0 i
    while rs_proc_alive "$1"; do
        (( SECONDS - start < $2 )) || rs_die "$3 did not finish within $2 s"
        sleep 0.1
    done
    wait "$1" 2>/dev/null || st=$?
    i="$(rs_proc_index "$1")" && RS_PIDS[$i]=""
    (( st == 0 )) || { tail -n 20 "${RS_PLOGS[$i]}" >&2; rs_die "$3 exited with status $st"; }
}

# wait_ready LOG PATTERN PID WHAT: waits (20 s at most) for PATTERN in LOG.
wait_ready() {
    local i
    for ((i = 0; i < 200; i++)); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        rs_proc_alive "$3" || { tail -n 20 "$1" >&2; rs_die "$4 exited at start"; }
        sleep 0.1
    done
    rs_die "$4 did not start within 20 s (log: $1)"
}

start_keycoord() {
    rs_proc_start keycoord "$1/keycoord.log" \
        "$bin_keycoord" --db "$db_url" --bind "$kc_ep" "${sec_flags[@]}"
    pid_kc=$RS_LAST_PID
    wait_ready "$1/keycoord.log" 'serving leases on' "$pid_kc" "the keycoord"
}

# start_sink DIR N ENDPOINT: sink number N.
start_sink() {
    rs_proc_start "sink-$2" "$1/sink-$2.log" \
        "$bin_sink" --db "$db_url" --bind "$3" "${sec_flags[@]}"
    PID_SINK[$2]=$RS_LAST_PID
    wait_ready "$1/sink-$2.log" 'collecting signatures on' "$RS_LAST_PID" "sink $2"
}

# new_run: inserts a run of the batch size (the leases the generators ask
# for are for it) and prints its id.
new_run() {
    rs_psql "$db_url" -c "INSERT INTO runs (batch_size) VALUES ($batch) RETURNING id" \
        || rs_die "could not insert a run"
}

# check_stored WHAT: exactly N signatures, one per record, one lease per
# batch.
check_stored() {
    local n distinct leases
    read -r n distinct leases < <(rs_psql "$db_url" -F ' ' \
        -c "SELECT count(*), count(DISTINCT record_id), count(DISTINCT lease_id) FROM signatures") \
        || rs_die "could not count the signatures"
    [[ "$n" == "$records" && "$distinct" == "$records" ]] \
        || rs_die "$1: $n signatures of $distinct records stored; expected $records"
    (( leases == (records + batch - 1) / batch )) \
        || rs_die "$1: $leases leases for $records records in batches of $batch; expected one per batch"
}

# add_row STAGE LEASE_RECORDS RATE UNIT RECORDS_PER_S SECONDS STAGE_CPU PG_CPU
add_row() {
    local cores="" md_cores="" alg c
    for alg in "${ALGS[@]}"; do
        c="$(awk -v r="$5" -v s="${RAW1[$alg]}" 'BEGIN { printf "%.1f", r / s }')"
        cores+=",$c"
        md_cores+=" $c |"
    done
    echo "$1,$2,$3,$4,$5,$6,$7,$8$cores" >>"$csv"
    printf '| %s | %s | %s %s | %s | %s | %s | %s |%s\n' "$1" "$2" "$3" "$4" "$5" "$6" "$7" "$8" "$md_cores" >>"$table"
}

# --- raw signing rate: one worker core ----------------------------------------------
rs_say "raw signing rate of $algorithms on 1 thread, $sign_seconds s each"
"$bin_sign" --threads 1 --seconds "$sign_seconds" --algorithms "$algorithms" >"$logs/raw_sign.csv" \
    2>"$logs/raw_sign.log" || { cat "$logs/raw_sign.log" >&2; rs_die "recsign-bench-sign failed"; }
declare -A RAW1
for alg in "${ALGS[@]}"; do
    RAW1[$alg]="$(awk -F, -v a="$alg" '$1 == a && $2 == 1 { printf "%.0f", $3 }' "$logs/raw_sign.csv")"
    [[ -n "${RAW1[$alg]}" && "${RAW1[$alg]}" != 0 ]] \
        || rs_die "no 1-thread rate of $alg from recsign-bench-sign: $(cat "$logs/raw_sign.csv")"
    rs_say "one worker core signs ${RAW1[$alg]} $alg signatures/s"
done

# --- database, certificates, ports -------------------------------------------------
pg_dir="$work/pg"
rs_pg_start_private "$pg_dir"
db_url="$RS_PG_URL"
rs_say "recsign init: $keys keys, $records records"
"$bin_admin" init --db "$db_url" --master-key "$work/master.key" --keys "$keys" --records "$records" \
    >"$logs/init.log" 2>&1 || { tail -n 20 "$logs/init.log" >&2; rs_die "recsign init failed"; }
if (( plain )); then
    sec_flags=(--insecure-plain)
else
    rs_make_certs "$bin_admin" "$work/certs" "$logs/certs.log"
    sec_flags=(--certs "$work/certs")
fi
port_kc="" port_sink1="" port_sink2="" port_vent=""
rs_free_ports port_kc port_sink1 port_sink2 port_vent
kc_ep="tcp://127.0.0.1:$port_kc"
sink1_ep="tcp://127.0.0.1:$port_sink1"
sink2_ep="tcp://127.0.0.1:$port_sink2"
vent_ep="tcp://127.0.0.1:$port_vent"
declare -a PID_SINK

{
    printf 'stage,records_per_lease,rate,unit,records_per_second,seconds,stage_cpu_s,postgres_cpu_s'
    for alg in "${ALGS[@]}"; do printf ',cores_%s' "$alg"; done
    echo
} >"$csv"
{
    printf '| stage | records per lease | rate | records/s | seconds | stage CPU s | PostgreSQL CPU s |'
    for alg in "${ALGS[@]}"; do printf ' worker cores fed, %s |' "$alg"; done
    printf '\n|---|---:|---:|---:|---:|---:|---:|'
    for alg in "${ALGS[@]}"; do printf -- '---:|'; done
    echo
} >"$table"

# --- sinks -----------------------------------------------------------------------
# measure_sinks COUNT: COUNT sinks (1 or 2) fed N records.
measure_sinks() {
    local count="$1" dir="$logs/sinks$1" run_id line cpu0=0 cpu1=0 p0 p1 i endpoints="$sink1_ep"
    mkdir -p "$dir"
    rs_reset_signing "$db_url"
    run_id="$(new_run)"
    start_keycoord "$dir"
    start_sink "$dir" 1 "$sink1_ep"
    if (( count == 2 )); then
        start_sink "$dir" 2 "$sink2_ep"
        endpoints="$sink1_ep,$sink2_ep"
    fi
    rs_say "$count sink(s): $records records in batches of $batch, $threads stand-in workers"
    for ((i = 1; i <= count; i++)); do cpu0="$(awk -v a="$cpu0" -v b="$(rs_cpu_seconds "${PID_SINK[$i]}")" 'BEGIN { print a + b }')"; done
    p0="$(rs_pg_cpu_seconds "$pg_dir")"
    "$bin_bench_sink" --db "$db_url" --run-id "$run_id" --records "$records" --batch-records "$batch" \
        --threads "$threads" --keycoord "$kc_ep" --sink "$endpoints" "${sec_flags[@]}" \
        >"$dir/result.txt" 2>"$dir/bench-sink.log" \
        || { tail -n 20 "$dir/bench-sink.log" >&2; rs_die "recsign-bench-sink failed with $count sink(s) (log: $dir/bench-sink.log)"; }
    for ((i = 1; i <= count; i++)); do cpu1="$(awk -v a="$cpu1" -v b="$(rs_cpu_seconds "${PID_SINK[$i]}")" 'BEGIN { print a + b }')"; done
    p1="$(rs_pg_cpu_seconds "$pg_dir")"
    line="$(result_line "$dir/result.txt" 'stage=sink')"
    [[ -n "$line" ]] || rs_die "no result line from recsign-bench-sink: $(cat "$dir/result.txt")"
    printf '%s\n' "$line" | tee -a "$logs/measurements.txt" >&2
    stop_all
    check_stored "$count sink(s)"
    local rate
    rate="$(rs_field rate "$line")"
    add_row "$( (( count == 1 )) && echo "sink" || echo "2 sinks, one database")" "$batch" "$rate" \
        "signatures stored/s" "$rate" "$(rs_field seconds "$line")" "$(rs_cpu_delta "$cpu0" "$cpu1")" \
        "$(rs_cpu_delta "$p0" "$p1")"
}
measure_sinks 1
measure_sinks 2

# --- ventilator ---------------------------------------------------------------------
dir="$logs/ventilator"
mkdir -p "$dir"
rs_reset_signing "$db_url"
start_keycoord "$dir"
start_sink "$dir" 1 "$sink1_ep"
rs_say "ventilator: $records records in batches of $batch, $pullers receiving threads"
rs_proc_start bench-ventilator "$dir/bench-ventilator.log" \
    "$bin_bench_ventilator" --ventilator "$vent_ep" --records "$records" --pullers "$pullers" \
    --threads "$threads" --keycoord "$kc_ep" --sink "$sink1_ep" "${sec_flags[@]}"
pid_gen=$RS_LAST_PID
p0="$(rs_pg_cpu_seconds "$pg_dir")"
# A re-dispatch would only follow a stall; the generator stores at once.
rs_proc_start ventilator "$dir/ventilator.log" \
    "$bin_ventilator" --db "$db_url" --bind "$vent_ep" --batch-size "$batch" --redispatch-ms 60000 \
    "${sec_flags[@]}"
pid_vent=$RS_LAST_PID
# The CPU figures are read when the generator says every record came,
# before it gets them stored.
for ((i = 0; ; i++)); do
    line="$(result_line "$dir/bench-ventilator.log" 'stage=ventilator')"
    [[ -n "$line" ]] && break
    rs_proc_alive "$pid_gen" || { tail -n 20 "$dir/bench-ventilator.log" >&2; rs_die "recsign-bench-ventilator failed (log: $dir/bench-ventilator.log)"; }
    rs_proc_alive "$pid_vent" || { tail -n 20 "$dir/ventilator.log" >&2; rs_die "the ventilator exited during the measurement"; }
    sleep 0.02
done
vent_cpu="$(rs_cpu_seconds "$pid_vent")"
p1="$(rs_pg_cpu_seconds "$pg_dir")"
printf '%s\n' "$line" | tee -a "$logs/measurements.txt" >&2
wait_exit "$pid_gen" 600 "recsign-bench-ventilator (storing what it received)"
wait_exit "$pid_vent" 600 "the ventilator (its run complete)"
stop_all
check_stored "ventilator"
rate="$(rs_field rate "$line")"
add_row "ventilator" "$batch" "$rate" "records dispatched/s" "$rate" "$(rs_field seconds "$line")" \
    "$vent_cpu" "$(rs_cpu_delta "$p0" "$p1")"

# --- keycoord -----------------------------------------------------------------------
dir="$logs/keycoord"
mkdir -p "$dir"
rs_reset_signing "$db_url"
run_id="$(new_run)"
start_keycoord "$dir"
rs_say "keycoord: $holders holders, leases of $batch records, $kc_seconds s"
c0="$(rs_cpu_seconds "$pid_kc")"
p0="$(rs_pg_cpu_seconds "$pg_dir")"
line="$(timeout $(( kc_seconds + 120 )) "$bin_bench_keycoord" --mode keycoord --holders "$holders" \
    --seconds "$kc_seconds" --keycoord "$kc_ep" --run-id "$run_id" --batch-records "$batch" \
    "${sec_flags[@]}" 2>"$dir/bench-keycoord.log")" \
    || { tail -n 20 "$dir/bench-keycoord.log" >&2; rs_die "recsign-bench-keycoord failed (log: $dir/bench-keycoord.log)"; }
c1="$(rs_cpu_seconds "$pid_kc")"
p1="$(rs_pg_cpu_seconds "$pg_dir")"
[[ "$line" == mode=keycoord\ * ]] || rs_die "unexpected output of recsign-bench-keycoord: $line"
printf '%s\n' "$line" | tee -a "$logs/measurements.txt" >&2
stop_all
open_leases="$(rs_psql "$db_url" -c "SELECT count(*) FROM leases WHERE ended_at IS NULL")" \
    || rs_die "could not count the open leases"
[[ "$open_leases" == 0 ]] || rs_die "$open_leases leases still open after the keycoord measurement"
rate="$(rs_field rate "$line")"
add_row "keycoord ($holders holders)" "$batch" "$rate" "leases/s" "$(( rate * batch ))" \
    "$(rs_field seconds "$line")" "$(rs_cpu_delta "$c0" "$c1")" "$(rs_cpu_delta "$p0" "$p1")"

# --- report -------------------------------------------------------------------------
echo
echo "the ceiling of one pipeline, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $records records, batch size $batch, $keys keys, $( (( plain )) && echo 'plain sockets' || echo CurveZMQ)"
echo "one worker core (recsign-bench-sign, 1 thread): $(for a in "${ALGS[@]}"; do printf '%s %s/s  ' "$a" "${RAW1[$a]}"; done)"
cat "$table"
echo
echo "csv:   $csv"
echo "logs:  $logs"
