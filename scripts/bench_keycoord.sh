#!/usr/bin/env bash
# scripts/bench_keycoord.sh: the keycoord microbenchmark, next to the
# transport's own limit measured in the same run.
#
# usage: scripts/bench_keycoord.sh [options]
#   --holders L       comma-separated concurrent holders (client threads)
#                     (default 1,16,64)
#   --seconds S       measuring time of each measurement (default 5)
#   --warmup-ms MS    cycles run but not counted first (default 500)
#   --keys N          keys in the keyring (default 100)
#   --out-dir DIR     where results go (default build/bench/)
#   --insecure-plain  no CURVE on any socket (default: CURVE, as deployed)
#   --help            print this help
#
# What it measures, for each holder count H, in this order:
#   echo      H client threads, each with its own DEALER, do round trips of
#             a LEASE_REQ-sized message against a bare ROUTER echo server
#             (recsign-bench-keycoord --serve-echo), whose socket is set up
#             exactly like the keycoord's: the transport's limit.
#   keycoord  the same H threads against the real recsign-keycoord, each
#             cycle one LEASE_REQ that releases the lease of the previous
#             cycle and wants a new one (one round trip per cycle), over
#             --keys keys; the lease log is written to PostgreSQL (fsync on)
#             as in production.
# Both report cycles/s and the round trip's p50 and p99 latency.
#
# How: one private PostgreSQL cluster, `recsign init --keys N --records 0`,
# one run row (batch size 1) that every lease is for, CURVE certificates
# (`recsign certs`), one keycoord and one echo server for the whole run.
# Afterwards the keycoord must still answer (a last 1-holder measurement),
# must stop cleanly (its lease log complete, no lease left open), and
# `recsign audit` (rules 1-5; rule 2 and the LRU replay of rule 4 are the
# ones this exercises) must pass; otherwise the script exits 1.
#
# Output, in the out dir:
#   keycoord.csv  one row per holder count: holders, echo rate, p50, p99,
#                 keycoord rate, p50, p99, keycoord rate / echo rate, and
#                 the CPU seconds of the echo server, the keycoord and the
#                 PostgreSQL cluster during their measurement
#   keycoord.md   the table (also printed)
#   logs/kc/      the processes' logs and the measurement lines
# On stdout: one line per measurement as the benchmark program prints it
# (mode=... holders=... cycles=... seconds=... rate=... p50_us=... p99_us=...
# errors=...), then the table.
set -euo pipefail

RS_PROG=bench_keycoord.sh
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# --- options -------------------------------------------------------------------
holder_counts="1,16,64"
seconds=5
warmup_ms=500
keys=100
out_dir=""
plain=0

# option FLAG VALUE: one flag of the command line.
option() {
    local flag="$1" value="$2"
    case "$flag" in
        --holders)        rs_need_list "$flag" "$value" 1 1024; holder_counts="$value" ;;
        --seconds)        rs_need_int "$flag" "$value" 1 3600; seconds="$((10#$value))" ;;
        --warmup-ms)      rs_need_int "$flag" "$value" 0 600000; warmup_ms="$((10#$value))" ;;
        --keys)           rs_need_int "$flag" "$value" 1 100000; keys="$((10#$value))" ;;
        --out-dir)        rs_need_out_dir "$flag" "$value"; out_dir="$value" ;;
        --insecure-plain) plain=1 ;;
        -h|--help)        rs_print_help "${BASH_SOURCE[0]}"; exit 0 ;;
        *)                rs_usage_error "unknown flag '$flag'" ;;
    esac
}
rs_parse_flags '--holders|--seconds|--warmup-ms|--keys|--out-dir' option "$@"
IFS=, read -r -a HOLDERS <<<"$holder_counts"

# --- build -----------------------------------------------------------------------
rs_build_programs

# --- files -----------------------------------------------------------------------
[[ -n "$out_dir" ]] || out_dir="$build/bench"
out_dir="$(rs_mkdir_abs "$out_dir")"
logs="$out_dir/logs/kc"
rs_empty_dir "$logs"
csv="$out_dir/keycoord.csv"
table="$out_dir/keycoord.md"
work="$(rs_work_dir rskcb)"

# The flags below are the whole configuration.
rs_unset_config_env

# --- cleanup -----------------------------------------------------------------------
pg_dir=""
cleanup() { rs_stop_run "$pg_dir" "$work"; }
rs_on_exit cleanup

# --- helpers ---------------------------------------------------------------------
# measure MODE HOLDERS ENDPOINT [SECONDS WARMUP]: runs one measurement,
# prints its line on stdout and keeps it in $line.
measure() {
    local mode="$1" h="$2" endpoint="$3" s="${4:-$seconds}" w="${5:-$warmup_ms}" log
    log="$logs/${mode}_h$h.log"
    line="$(timeout $(( s + w / 1000 + 120 )) "$bin_bench_keycoord" --mode "$mode" --holders "$h" \
        --seconds "$s" --warmup-ms "$w" --keycoord "$endpoint" --run-id "$run_id" \
        --batch-records 1 "${sec_flags[@]}" 2>"$log")" \
        || { tail -n 20 "$log" >&2; rs_die "the $mode measurement with $h holders failed (log: $log)"; }
    [[ "$line" == mode=$mode\ * ]] || rs_die "unexpected output of recsign-bench-keycoord: $line"
    printf '%s\n' "$line" | tee -a "$logs/measurements.txt"
}

# --- database, certificates, servers -------------------------------------------
pg_dir="$work/pg"
rs_pg_start_private "$pg_dir"
db_url="$RS_PG_URL"
"$bin_admin" init --db "$db_url" --master-key "$work/master.key" --keys "$keys" --records 0 \
    >"$logs/init.log" 2>&1 || { tail -n 20 "$logs/init.log" >&2; rs_die "recsign init failed"; }
# Every lease is for this run; batch size 1 and one record per lease.
run_id="$(rs_psql "$db_url" -c "INSERT INTO runs (batch_size) VALUES (1) RETURNING id")" \
    || rs_die "could not insert a run"
if (( plain )); then
    sec_flags=(--insecure-plain)
else
    rs_make_certs "$bin_admin" "$work/certs" "$logs/certs.log"
    sec_flags=(--certs "$work/certs")
fi
port_kc="" port_echo=""
rs_free_ports port_kc port_echo
kc_ep="tcp://127.0.0.1:$port_kc"
echo_ep="tcp://127.0.0.1:$port_echo"

rs_proc_start keycoord "$logs/keycoord.log" \
    "$bin_keycoord" --db "$db_url" --bind "$kc_ep" "${sec_flags[@]}"
pid_kc=$RS_LAST_PID
rs_proc_start echo "$logs/echo.log" \
    "$bin_bench_keycoord" --serve-echo --bind "$echo_ep" "${sec_flags[@]}"
pid_echo=$RS_LAST_PID
# Both answer the first request of each client (its connect time is not
# measured); wait here only for them to be up.
for ((i = 0; i < 100; i++)); do
    grep -q 'serving leases on' "$logs/keycoord.log" 2>/dev/null \
        && grep -q 'echo server on' "$logs/echo.log" 2>/dev/null && break
    rs_proc_alive "$pid_kc" || { tail -n 20 "$logs/keycoord.log" >&2; rs_die "the keycoord exited at start"; }
    rs_proc_alive "$pid_echo" || { tail -n 20 "$logs/echo.log" >&2; rs_die "the echo server exited at start"; }
    sleep 0.1
done
(( i < 100 )) || rs_die "the keycoord or the echo server did not start within 10 s"

# --- the measurements -------------------------------------------------------------
rs_say "holders $holder_counts over $keys keys, $seconds s each after $warmup_ms ms, $( (( plain )) && echo plain || echo CURVE) sockets"
echo "holders,echo_rate,echo_p50_us,echo_p99_us,keycoord_rate,keycoord_p50_us,keycoord_p99_us,ratio,echo_server_cpu_s,keycoord_cpu_s,postgres_cpu_s" >"$csv"
{
    echo "| holders | echo round trips/s | echo p50 / p99 us | keycoord cycles/s | keycoord p50 / p99 us | keycoord / echo |"
    echo "|---:|---:|---:|---:|---:|---:|"
} >"$table"
for h in "${HOLDERS[@]}"; do
    c0="$(rs_cpu_seconds "$pid_echo")"
    measure echo "$h" "$echo_ep"
    echo_line="$line"
    echo_cpu="$(rs_cpu_delta "$c0" "$(rs_cpu_seconds "$pid_echo")")"
    c0="$(rs_cpu_seconds "$pid_kc")"
    p0="$(rs_pg_cpu_seconds "$pg_dir")"
    measure keycoord "$h" "$kc_ep"
    kc_line="$line"
    kc_cpu="$(rs_cpu_delta "$c0" "$(rs_cpu_seconds "$pid_kc")")"
    pg_cpu="$(rs_cpu_delta "$p0" "$(rs_pg_cpu_seconds "$pg_dir")")"
    rs_proc_alive "$pid_kc" || rs_die "the keycoord died during the measurement with $h holders"
    er="$(rs_field rate "$echo_line")"; e50="$(rs_field p50_us "$echo_line")"; e99="$(rs_field p99_us "$echo_line")"
    kr="$(rs_field rate "$kc_line")"; k50="$(rs_field p50_us "$kc_line")"; k99="$(rs_field p99_us "$kc_line")"
    ratio="$(awk -v k="$kr" -v e="$er" 'BEGIN { if (e > 0) printf "%.2f", k / e; else print 0 }')"
    echo "$h,$er,$e50,$e99,$kr,$k50,$k99,$ratio,$echo_cpu,$kc_cpu,$pg_cpu" >>"$csv"
    printf '| %s | %s | %s / %s | %s | %s / %s | %s |\n' "$h" "$er" "$e50" "$e99" "$kr" "$k50" "$k99" "$ratio" >>"$table"
done

# --- health and audit ---------------------------------------------------------------
# Still serving: a short measurement must succeed (it fails on any refused
# grant or release, or a missing reply).
health="$(timeout 60 "$bin_bench_keycoord" --mode keycoord --holders 1 --seconds 1 --warmup-ms 0 \
    --keycoord "$kc_ep" --run-id "$run_id" --batch-records 1 "${sec_flags[@]}" 2>"$logs/health.log")" \
    || { tail -n 20 "$logs/health.log" >&2; rs_die "KEYCOORD UNHEALTHY: it no longer grants leases (log: $logs/health.log)"; }
rs_say "keycoord still serving: $health"
kill -TERM "$pid_kc" 2>/dev/null || true
rs_wait_proc "$pid_kc" 30 || rs_die "the keycoord did not stop within 30 s of SIGTERM"
[[ "$RS_WAIT_STATUS" == 0 ]] && grep -q 'stopped cleanly' "$logs/keycoord.log" \
    || { tail -n 20 "$logs/keycoord.log" >&2; rs_die "KEYCOORD UNHEALTHY: it did not stop cleanly (status $RS_WAIT_STATUS)"; }
read -r leases open_leases < <(rs_psql "$db_url" -F ' ' \
    -c "SELECT count(*), count(*) FILTER (WHERE ended_at IS NULL) FROM leases") \
    || rs_die "could not count the leases"
[[ "$open_leases" == 0 ]] || rs_die "KEYCOORD UNHEALTHY: $open_leases leases are still open after every holder released"
grep -o 'grants [0-9]*, releases [0-9]*, expiries [0-9]*.*' "$logs/keycoord.log" | tail -n 1 \
    | sed 's/^/keycoord: /' >&2 || true
rs_say "lease log: $leases leases, none open; running recsign audit"
if ! "$bin_admin" audit --db "$db_url" >"$logs/audit.log" 2>&1; then
    cat "$logs/audit.log" >&2
    rs_die "AUDIT FAILED after the keycoord microbenchmark; log: $logs/audit.log"
fi
rs_say "audit ok: $(tail -n 1 "$logs/audit.log")"

echo
echo "keycoord microbenchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $keys keys, $seconds s per measurement, $( (( plain )) && echo 'plain sockets' || echo CurveZMQ)"
cat "$table"
echo
echo "csv:   $csv"
echo "logs:  $logs"
