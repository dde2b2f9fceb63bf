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

usage_error() {
    printf '%s: error: %s; see --help\n' "$RS_PROG" "$1" >&2
    exit 2
}

# --- options -------------------------------------------------------------------
holder_counts="1,16,64"
seconds=5
warmup_ms=500
keys=100
out_dir=""
plain=0

need_int() {
    [[ "$2" =~ ^[0-9]{1,9}$ ]] && (( 10#$2 >= $3 && 10#$2 <= $4 )) \
        || usage_error "$1 is '$2'; expected an integer from $3 to $4"
}

while (( $# > 0 )); do
    flag="$1"
    value=""
    case "$flag" in
        --*=*) value="${flag#*=}"; flag="${flag%%=*}" ;;
        --holders|--seconds|--warmup-ms|--keys|--out-dir)
            (( $# >= 2 )) || usage_error "flag '$flag' needs a value"; value="$2"; shift ;;
    esac
    shift
    case "$flag" in
        --holders)
            [[ "$value" =~ ^[0-9]+(,[0-9]+)*$ ]] || usage_error "--holders is '$value'; expected a comma-separated list of integers"
            IFS=, read -r -a _items <<<"$value"
            for v in "${_items[@]}"; do need_int --holders "$v" 1 1024; done
            holder_counts="$value" ;;
        --seconds)        need_int "$flag" "$value" 1 3600; seconds="$((10#$value))" ;;
        --warmup-ms)      need_int "$flag" "$value" 0 600000; warmup_ms="$((10#$value))" ;;
        --keys)           need_int "$flag" "$value" 1 100000; keys="$((10#$value))" ;;
        --out-dir)        [[ -n "$value" ]] || usage_error "--out-dir needs a path"; out_dir="$value" ;;
        --insecure-plain) plain=1 ;;
        -h|--help)        sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *)                usage_error "unknown flag '$flag'" ;;
    esac
done
IFS=, read -r -a HOLDERS <<<"$holder_counts"

# --- build -----------------------------------------------------------------------
rs_ensure_deps
rs_build
build="$(rs_build_dir)"
bin_keycoord="$build/src/keycoord/recsign-keycoord"
bin_admin="$build/src/admin/recsign"
bin_bench="$build/src/bench/recsign-bench-keycoord"
for b in "$bin_keycoord" "$bin_admin" "$bin_bench"; do
    [[ -x "$b" ]] || rs_die "missing binary after the build: $b"
done

# --- files -----------------------------------------------------------------------
[[ -n "$out_dir" ]] || out_dir="$build/bench"
mkdir -p "$out_dir"
out_dir="$(cd "$out_dir" && pwd)"
logs="$out_dir/logs/kc"
rm -rf "$logs"
mkdir -p "$logs"
csv="$out_dir/keycoord.csv"
table="$out_dir/keycoord.md"
work="$(mktemp -d /tmp/rskcb.XXXXXX)"
chmod 0755 "$work"   # the postgres user must reach the cluster under it when we are root

# The flags below are the whole configuration.
unset RECSIGN_DB_URL RECSIGN_KEYCOORD_BIND RECSIGN_KEYCOORD_ENDPOINT RECSIGN_LEASE_TTL_MS \
      RECSIGN_KEYCOORD_MAX_WAITERS RECSIGN_CLIENT_CERT RECSIGN_CERTS_DIR RECSIGN_INSECURE_PLAIN

# --- cleanup -----------------------------------------------------------------------
pg_dir=""
cleaned=0
cleanup() {
    (( cleaned )) && return 0
    cleaned=1
    trap '' PIPE
    rs_proc_stop_all
    rs_release_ports
    [[ -n "$pg_dir" ]] && rs_pg_stop "$pg_dir"
    rm -rf "$work"
}
trap cleanup EXIT
trap 'rs_say "interrupted; stopping"; cleanup; exit 130' INT
trap 'rs_say "terminated; stopping"; cleanup; exit 143' TERM

# --- helpers ---------------------------------------------------------------------
# CPU seconds (user + system) of a running PID, from /proc/PID/stat.
cpu_seconds() {
    local stat rest
    { read -r stat <"/proc/$1/stat"; } 2>/dev/null || { echo ""; return; }
    rest="${stat##*) }"
    # shellcheck disable=SC2086
    set -- $rest
    awk -v u="${12}" -v s="${13}" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (u + s) / hz }'
}

# CPU seconds of the PostgreSQL cluster so far: the postmaster, its reaped
# children and its live ones.
pg_cpu_seconds() {
    local pm pid stat rest hz total=0
    hz="$(getconf CLK_TCK)"
    read -r pm <"$pg_dir/data/postmaster.pid" 2>/dev/null || { echo ""; return; }
    { read -r stat <"/proc/$pm/stat"; } 2>/dev/null || { echo ""; return; }
    rest="${stat##*) }"
    # shellcheck disable=SC2086
    set -- $rest
    total=$(( ${12} + ${13} + ${14} + ${15} ))
    for pid in $(ps -o pid= --ppid "$pm"); do
        { read -r stat <"/proc/$pid/stat"; } 2>/dev/null || continue
        rest="${stat##*) }"
        # shellcheck disable=SC2086
        set -- $rest
        total=$(( total + ${12} + ${13} ))
    done
    awk -v t="$total" -v hz="$hz" 'BEGIN { printf "%.2f", t / hz }'
}

delta() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b != "") printf "%.2f", b - a }'; }

# field NAME LINE: the value of NAME=... in a measurement line.
field() { tr ' ' '\n' <<<"$2" | awk -F= -v n="$1" '$1 == n { print $2 }'; }

# measure MODE HOLDERS ENDPOINT [SECONDS WARMUP]: runs one measurement,
# prints its line on stdout and keeps it in $line.
measure() {
    local mode="$1" h="$2" endpoint="$3" s="${4:-$seconds}" w="${5:-$warmup_ms}" log
    log="$logs/${mode}_h$h.log"
    line="$(timeout $(( s + w / 1000 + 120 )) "$bin_bench" --mode "$mode" --holders "$h" \
        --seconds "$s" --warmup-ms "$w" --keycoord "$endpoint" --run-id "$run_id" \
        --batch-records 1 "${sec_flags[@]}" 2>"$log")" \
        || { tail -n 20 "$log" >&2; rs_die "the $mode measurement with $h holders failed (log: $log)"; }
    [[ "$line" == mode=$mode\ * ]] || rs_die "unexpected output of recsign-bench-keycoord: $line"
    printf '%s\n' "$line" | tee -a "$logs/measurements.txt"
}

# --- database, certificates, servers -------------------------------------------
pg_dir="$work/pg"
rs_say "starting a private PostgreSQL in $pg_dir"
rs_pg_start "$pg_dir" || rs_die "could not start PostgreSQL"
db_url="$RS_PG_URL"
"$bin_admin" init --db "$db_url" --master-key "$work/master.key" --keys "$keys" --records 0 \
    >"$logs/init.log" 2>&1 || { tail -n 20 "$logs/init.log" >&2; rs_die "recsign init failed"; }
# Every lease is for this run; batch size 1 and one record per lease.
run_id="$(rs_psql "$db_url" -c "INSERT INTO runs (batch_size) VALUES (1) RETURNING id")" \
    || rs_die "could not insert a run"
if (( plain )); then
    sec_flags=(--insecure-plain)
else
    "$bin_admin" certs --dir "$work/certs" >"$logs/certs.log" 2>&1 \
        || { cat "$logs/certs.log" >&2; rs_die "recsign certs failed"; }
    sec_flags=(--certs "$work/certs")
fi
port_kc="" port_echo=""
rs_free_port port_kc || rs_die "no free port"
rs_free_port port_echo || rs_die "no free port"
kc_ep="tcp://127.0.0.1:$port_kc"
echo_ep="tcp://127.0.0.1:$port_echo"

rs_proc_start keycoord "$logs/keycoord.log" \
    "$bin_keycoord" --db "$db_url" --bind "$kc_ep" "${sec_flags[@]}"
pid_kc=$RS_LAST_PID
rs_proc_start echo "$logs/echo.log" \
    "$bin_bench" --serve-echo --bind "$echo_ep" "${sec_flags[@]}"
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
    c0="$(cpu_seconds "$pid_echo")"
    measure echo "$h" "$echo_ep"
    echo_line="$line"
    echo_cpu="$(delta "$c0" "$(cpu_seconds "$pid_echo")")"
    c0="$(cpu_seconds "$pid_kc")"
    p0="$(pg_cpu_seconds)"
    measure keycoord "$h" "$kc_ep"
    kc_line="$line"
    kc_cpu="$(delta "$c0" "$(cpu_seconds "$pid_kc")")"
    pg_cpu="$(delta "$p0" "$(pg_cpu_seconds)")"
    rs_proc_alive "$pid_kc" || rs_die "the keycoord died during the measurement with $h holders"
    er="$(field rate "$echo_line")"; e50="$(field p50_us "$echo_line")"; e99="$(field p99_us "$echo_line")"
    kr="$(field rate "$kc_line")"; k50="$(field p50_us "$kc_line")"; k99="$(field p99_us "$kc_line")"
    ratio="$(awk -v k="$kr" -v e="$er" 'BEGIN { if (e > 0) printf "%.2f", k / e; else print 0 }')"
    echo "$h,$er,$e50,$e99,$kr,$k50,$k99,$ratio,$echo_cpu,$kc_cpu,$pg_cpu" >>"$csv"
    printf '| %s | %s | %s / %s | %s | %s / %s | %s |\n' "$h" "$er" "$e50" "$e99" "$kr" "$k50" "$k99" "$ratio" >>"$table"
done

# --- health and audit ---------------------------------------------------------------
# Still serving: a short measurement must succeed (it fails on any refused
# grant or release, or a missing reply).
health="$(timeout 60 "$bin_bench" --mode keycoord --holders 1 --seconds 1 --warmup-ms 0 \
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
