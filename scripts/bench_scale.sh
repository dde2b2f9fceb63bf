#!/usr/bin/env bash
# scripts/bench_scale.sh: the scale run. Signs a large table (10,000,000
# records by default) and a baseline table (100,000) with the same
# configuration in one invocation, and records each recsign process's peak
# RSS.
#
# usage: scripts/bench_scale.sh [options]
#   --records N           records of the scale run (default 10000000)
#   --baseline-records N  records of the baseline run (default 100000)
#   --batch-size L        batch size, or a comma-separated list of them
#                         (default 1000); each gets a baseline and a scale run
#   --keys N              keys in the keyring (default 100)
#   --threads N           signing threads of the one worker (default 2)
#   --out-dir DIR         where results go (default build/bench/)
#   --timeout S           give up on a run after S seconds (default 7200)
#   --help                print this help
#
# Target (issue 5): the scale run's rate within 20 % of the baseline's, and
# every recsign process's peak RSS at most 64 MiB.
#
# How: one private PostgreSQL cluster (fsync on, scripts/lib.sh) and CURVE
# certificates. The database is made by `recsign init --keys K --records N`
# for the baseline, then made again for the scale run (the time init takes
# is recorded). Before each run the signing state is reset as in
# scripts/bench.sh; keycoord, sink and one worker are started, the
# ventilator signs everything and exits, the others are stopped (SIGTERM).
# The rate is computed as scripts/bench.sh does: records signed in the run
# / (newest signatures.signed_at of the run - runs.first_dispatch_at).
# Every scale run is followed by `recsign audit` (rules 1-5, every
# signature verified); a failing audit stops the script with exit status 1.
#
# Peak RSS: each recsign process logs its own as its last line ("exiting:
# peak RSS N KiB ..., CPU ...", getrusage at exit: the kernel's high-water
# mark). Should a line be missing, the script's own samples of VmHWM
# (/proc/PID/status, every 0.5 s, the maximum kept) are used instead.
#
# Output, in the out dir:
#   scale.csv  one row per run: kind (baseline or scale), batch_size, keys,
#              threads, records, seconds, records_per_second,
#              ratio_to_baseline, peak RSS MiB of ventilator, keycoord,
#              sink, worker, CPU seconds of the same four and of the
#              PostgreSQL cluster, PostgreSQL's share of all that CPU, the
#              other load (CPU the rest of the machine used during the run,
#              as a share of all cores: a shared machine skews the ratio),
#              the seconds `recsign init` took to seed the table, the
#              ventilator's lifetime and the audit's seconds (scale runs)
#   scale.md   the table printed at the end
#   scale-logs/ each process's log, per run
set -euo pipefail

RS_PROG=bench_scale.sh
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# --- options -------------------------------------------------------------------
records=10000000
baseline_records=100000
batch_sizes="1000"
keys=100
threads=2
out_dir=""
timeout=7200

RS_INT_DIGITS=10   # --records goes up to 1,000,000,000

# option FLAG VALUE: one flag of the command line.
option() {
    local flag="$1" value="$2"
    case "$flag" in
        --records)          rs_need_int "$flag" "$value" 1 1000000000; records="$((10#$value))" ;;
        --baseline-records) rs_need_int "$flag" "$value" 1 1000000000; baseline_records="$((10#$value))" ;;
        --batch-size)       rs_need_list "$flag" "$value" 1 100000 "a batch size or a comma-separated list"
                            batch_sizes="$value" ;;
        --keys)             rs_need_int "$flag" "$value" 1 100000; keys="$((10#$value))" ;;
        --threads)          rs_need_int "$flag" "$value" 1 1024; threads="$((10#$value))" ;;
        --timeout)          rs_need_int "$flag" "$value" 1 1000000; timeout="$((10#$value))" ;;
        --out-dir)          rs_need_out_dir "$flag" "$value"; out_dir="$value" ;;
        -h|--help)          rs_print_help "${BASH_SOURCE[0]}"; exit 0 ;;
        *)                  rs_usage_error "unknown flag '$flag'" ;;
    esac
}
rs_parse_flags '--records|--baseline-records|--batch-size|--keys|--threads|--out-dir|--timeout' option "$@"
IFS=, read -r -a BATCHES <<<"$batch_sizes"

# --- build -----------------------------------------------------------------------
rs_build_programs

# --- files -----------------------------------------------------------------------
rs_bench_files scale

# --- cleanup -----------------------------------------------------------------------
pg_dir=""
sampler_pid=""
cleanup() {
    [[ -n "$sampler_pid" ]] && kill "$sampler_pid" 2>/dev/null
    rs_proc_stop_all
    rs_release_ports
    [[ -n "$pg_dir" ]] && rs_pg_stop "$pg_dir"
    rm -rf "$work"
}
rs_on_exit cleanup

# --- helpers ---------------------------------------------------------------------
# sampler OUT NAME=PID...: every 0.5 s appends "NAME KIB" with each live
# process's VmHWM to OUT; runs until killed.
sampler() {
    local out="$1" pair name pid hwm
    shift
    while :; do
        for pair in "$@"; do
            name="${pair%%=*}"
            pid="${pair#*=}"
            hwm="$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)" || true
            [[ -n "$hwm" ]] && echo "$name $hwm" >>"$out"
        done
        sleep 0.5
    done
}

# peak_mib LOG SAMPLES NAME: the process's peak RSS in MiB, from its own
# exit line, else the largest sample.
peak_mib() {
    local kib
    kib="$(grep -o 'exiting: peak RSS [0-9]* KiB' "$1" 2>/dev/null | tail -n 1 | awk '{ print $4 }')" || true
    if [[ -z "$kib" ]]; then
        kib="$(awk -v n="$3" '$1 == n && $2 > m { m = $2 } END { if (m) print m }' "$2" 2>/dev/null)" || true
        [[ -n "$kib" ]] && rs_warn "$3 logged no peak RSS; using the sampled VmHWM"
    fi
    [[ -n "$kib" ]] && awk -v k="$kib" 'BEGIN { printf "%.1f", k / 1024 }'
}

# cpu_s LOG: user + system CPU seconds from the process's exit line.
cpu_s() {
    grep -o 'CPU [0-9.]* s user + [0-9.]* s system' "$1" 2>/dev/null | tail -n 1 \
        | awk '{ printf "%.2f", $2 + $5 }' || true
}

# init_db N: a new database with the keys and N records; sets init_s.
init_db() {
    local n="$1" log="$logs/init_$1.log" t0
    rs_pg_recreate_db "$pg_dir"
    rs_say "recsign init: $keys keys, $n records"
    t0=$(date +%s%N)
    "$bin_admin" init --db "$db_url" --master-key "$master_key" --keys "$keys" --records "$n" \
        >"$log" 2>&1 || { tail -n 20 "$log" >&2; rs_die "recsign init failed"; }
    init_s="$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')"
    rs_say "  seeded $n records in $init_s s"
    # Fresh statistics, as a long-lived database would have them, and no
    # autovacuum of the seed competing with the first run.
    rs_psql "$db_url" -c 'VACUUM (ANALYZE) records' >/dev/null || rs_die "could not vacuum records"
}

declare -A base_rate=()
echo "kind,batch_size,keys,threads,records,seconds,records_per_second,ratio_to_baseline,ventilator_rss_mib,keycoord_rss_mib,sink_rss_mib,worker_rss_mib,ventilator_cpu_s,keycoord_cpu_s,sink_cpu_s,worker_cpu_s,postgres_cpu_s,postgres_cpu_share,other_load,init_s,ventilator_s,audit_s" >"$csv"

# run_once KIND BATCH N: one run over the current database (N records);
# appends a row to scale.csv.
run_once() {
    local kind="$1" batch="$2" n="$3" dir samples pid_kc pid_sink pid_wk pid_vent t0 vent_s
    dir="$logs/${kind}_b${batch}"
    mkdir -p "$dir"
    samples="$dir/vmhwm.txt"
    : >"$samples"
    rs_reset_signing "$db_url"
    local pg_cpu0 busy0 wall0
    pg_cpu0="$(rs_pg_cpu_seconds "$pg_dir")"
    busy0="$(rs_machine_busy_seconds)"
    wall0=$(date +%s%N)
    rs_say "$kind run: $n records, batch size $batch, $keys keys, $threads threads"
    rs_bench_services "$dir"
    t0=$(date +%s%N)
    rs_proc_start ventilator "$dir/ventilator.log" \
        "$bin_ventilator" --db "$db_url" --bind "tcp://127.0.0.1:$port_vent" --batch-size "$batch"
    pid_vent=$RS_LAST_PID
    sampler "$samples" "ventilator=$pid_vent" "keycoord=$pid_kc" "sink=$pid_sink" "worker=$pid_wk" &
    sampler_pid=$!
    rs_wait_run "$pid_vent" "$timeout" "$dir" "the $kind run, batch $batch"
    vent_s="$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')"
    rs_proc_stop_all
    kill "$sampler_pid" 2>/dev/null || true
    wait "$sampler_pid" 2>/dev/null || true
    sampler_pid=""
    sleep 0.2   # lets the postmaster reap the backends of the stopped processes
    local pg_cpu pg_cpu1 busy1 window_s
    pg_cpu1="$(rs_pg_cpu_seconds "$pg_dir")"
    busy1="$(rs_machine_busy_seconds)"
    window_s="$(awk -v a="$wall0" -v b="$(date +%s%N)" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')"
    pg_cpu="$(rs_cpu_delta "$pg_cpu0" "$pg_cpu1")"
    local signed wall rate ratio audit_s=""
    read -r signed wall < <(rs_last_run_timing "$db_url") || rs_die "could not read the run's timing"
    [[ "${signed:-0}" == "$n" ]] || rs_die "run signed ${signed:-0} records, expected $n (logs: $dir)"
    rate="$(awk -v n="$signed" -v t="$wall" 'BEGIN { if (t > 0) printf "%.0f", n / t; else print 0 }')"
    if [[ "$kind" == baseline ]]; then
        base_rate[$batch]="$rate"
    else
        rs_say "  recsign audit of $n records"
        local a0
        a0=$(date +%s%N)
        if ! "$bin_admin" audit --db "$db_url" >"$dir/audit.log" 2>&1; then
            cat "$dir/audit.log" >&2
            rs_die "AUDIT FAILED after the scale run (batch $batch); log: $dir/audit.log"
        fi
        audit_s="$(awk -v a="$a0" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')"
        rs_say "  audit ok in $audit_s s"
    fi
    ratio="$(awk -v r="$rate" -v b="${base_rate[$batch]:-}" 'BEGIN { if (b > 0) printf "%.2f", r / b }')"
    local name rss=() cpu=() total_cpu share other
    for name in ventilator keycoord sink worker; do
        rss+=("$(peak_mib "$dir/$name.log" "$samples" "$name")")
        cpu+=("$(cpu_s "$dir/$name.log")")
    done
    total_cpu="$(awk -v a="${cpu[0]}" -v b="${cpu[1]}" -v c="${cpu[2]}" -v d="${cpu[3]}" -v p="$pg_cpu" \
        'BEGIN { printf "%.2f", a + b + c + d + p }')"
    share="$(awk -v p="$pg_cpu" -v t="$total_cpu" 'BEGIN { if (t > 0 && p != "") printf "%.2f", p / t }')"
    # What the rest of the machine used meanwhile, as a share of all its
    # cores over the run: the run competed with that.
    other="$(awk -v a="$busy0" -v b="$busy1" -v t="$total_cpu" -v w="$window_s" -v c="$(nproc)" \
        'BEGIN { o = b - a - t; if (o < 0) o = 0; if (w > 0) printf "%.2f", o / (w * c) }')"
    printf '%s,%s,%s,%s,%s,%.3f,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n' \
        "$kind" "$batch" "$keys" "$threads" "$signed" "$wall" "$rate" "$ratio" \
        "${rss[0]}" "${rss[1]}" "${rss[2]}" "${rss[3]}" "${cpu[0]}" "${cpu[1]}" "${cpu[2]}" "${cpu[3]}" \
        "$pg_cpu" "$share" "$other" "$init_s" "$vent_s" "$audit_s" >>"$csv"
    rs_say "  $kind, batch $batch: $signed records in $(printf '%.3f' "$wall") s = $rate records/s${ratio:+ ($ratio of the baseline)}; peak RSS MiB: ventilator ${rss[0]}, keycoord ${rss[1]}, sink ${rss[2]}, worker ${rss[3]}"
}

# --- cluster and certificates -----------------------------------------------------
rs_bench_cluster

# --- the runs ----------------------------------------------------------------------
init_s=""
init_db "$baseline_records"
for batch in "${BATCHES[@]}"; do
    run_once baseline "$batch" "$baseline_records"
done
init_db "$records"
for batch in "${BATCHES[@]}"; do
    run_once scale "$batch" "$records"
done

# --- table -------------------------------------------------------------------------
{
    echo "recsign scale run, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $keys keys, 1 worker x $threads threads"
    echo
    echo "| run | batch | records | s | records/s | / baseline | peak RSS MiB: ventilator | keycoord | sink | worker | PostgreSQL CPU share | other load | init s | audit s |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    awk -F, 'NR > 1 { printf "| %s | %s | %s | %.1f | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $5, $6, $7, ($8 == "" ? "-" : $8), $9, $10, $11, $12, $18, $19, $20, ($22 == "" ? "-" : $22) }' "$csv"
} >"$table"

echo
cat "$table"
echo
# The target, checked on the scale rows.
verdict="$(awk -F, 'NR > 1 && $1 == "scale" {
        ok = ($8 != "" && $8 >= 0.8)
        for (i = 9; i <= 12; i++) if ($i == "" || $i > 64) ok = 0
        printf "batch %s: %s\n", $2, ok ? "target met (rate >= 0.8 of baseline, every peak RSS <= 64 MiB)" : "target MISSED (rate >= 0.8 of baseline and every peak RSS <= 64 MiB expected)"
    }' "$csv")"
echo "$verdict"
echo
echo "results: $csv"
echo "table:   $table"
echo "logs:    $logs"
