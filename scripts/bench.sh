#!/usr/bin/env bash
# scripts/bench.sh: measures recsign against the hardware's limit, in one run.
#
# usage: scripts/bench.sh [options]
#   --batch-sizes L  comma-separated batch sizes (default 1,10,100,1000)
#   --keys L         comma-separated key counts (default 1,5,100)
#   --threads L      comma-separated signing threads of the one worker
#                    (default 1,2,4)
#   --repeat N       repetitions of each point; medians are reported with
#                    their spread (min-max); the targets are judged on at
#                    least 5 (default 5)
#   --records N      records signed at each repetition (default 100000) with
#                    ed25519 and ecdsa-p256 keys
#   --algorithms L   comma-separated key algorithms, the sweep's outer axis
#                    (ed25519, ecdsa-p256, rsa-2048, rsa-3072, rsa-4096;
#                    default ed25519)
#   --rsa-records N  records signed at each repetition with RSA keys
#                    (default 5000: RSA-2048 signs ~1,200/s per core,
#                    RSA-4096 ~150/s)
#   --quick          preset: batch sizes 1,100,1000 (the targets); keys 100;
#                    threads 2; repeat 5 (some minutes); flags given after
#                    --quick override it
#   --sign-seconds S measuring time of the raw signing benchmark per thread
#                    count (default 3)
#   --raw-seconds S  measuring time of the raw signing rate taken again
#                    just before and just after every repetition,
#                    alternately with the runs (default 1)
#   --out-dir DIR    where results go (default build/bench/)
#   --timeout S      give up on a repetition after S seconds (default 1800)
#   --no-keycoord    skip the keycoord microbenchmark (section 3)
#   --no-scale       skip the 10,000,000-record scale run (section 4; the
#                    longest part); --quick implies it
#   --help           print this help
#
# What it measures:
#   1. the raw signing rate of each algorithm of the sweep on 1 and 2
#      threads (libsodium for Ed25519, OpenSSL for the others;
#      build/src/bench/recsign-bench-sign --threads 2 --seconds S
#      --algorithms L);
#   2. recsign's end-to-end rate for every point of the sweep algorithm x
#      batch size x keys x threads, on one private PostgreSQL cluster
#      (fsync on). The
#      rate is records / signing phase, the signing phase being the run's
#      newest signatures.signed_at minus runs.first_dispatch_at, as
#      scripts/run_local.sh computes it. The raw 2-thread rate is measured
#      again just before and just after each repetition (--raw-seconds),
#      and each run's ratio is its rate over the mean of the two, so that
#      a host whose speed drifts (a shared or throttled machine) gives the
#      same verdict: on a host whose raw rate moves by a third from one
#      second to the next, one measurement before the run alone decides
#      too much of the ratio. A point's ratio is the median of its runs'
#      ratios, with min-max. The points take turns: the first
#      repetition of every point, then the second, and so on, so that a
#      drift over the sweep moves every point alike. Each
#      run has a CPU account (scripts/lib_cpu.sh, as
#      `scripts/run_local.sh --cpu-account`): every recsign process,
#      PostgreSQL's backends by application_name and its own processes by
#      kind, the launcher, the rest of the machine, against wall x cores;
#      a point's account is the median per part, per 100,000 records;
#      targets (Ed25519, 100 keys, 2 threads): batch 1000 >= 0.70 x raw
#      2-thread, batch 100 >= 0.65, batch 1 >= 25,000 records/s; ECDSA
#      P-256 batch 100 >= 0.60, RSA-2048 batch 100 >= 0.80 (issue 11);
#      the verdict on each target in the sweep is printed at the end,
#      with a note for each sign that the host was not quiet (2 threads
#      under 1.6 x 1 thread, a raw rate that moved by over a quarter,
#      other processes above a tenth of the busy time);
#   3. the keycoord microbenchmark: lease+release cycles/s and latency with
#      1, 16 and 64 holders next to a bare ROUTER echo server
#      (scripts/bench_keycoord.sh, which writes keycoord.csv and keycoord.md);
#   4. the scale run: 10,000,000 records against a 100,000-record baseline,
#      with every process's peak RSS (scripts/bench_scale.sh, which writes
#      scale.csv and scale.md).
# Sections 3 and 4 start clusters of their own once the sweep's is stopped;
# a failure in any section (an audit among them) fails the benchmark.
#
# How: one cluster for the whole benchmark. For each algorithm and key count
# the database is recreated and `recsign init --algorithm` adds the keys and
# the records once. Before
# each repetition the signing state is reset (signatures, leases and runs
# emptied, keys made new again, keycoord_state marked as a clean stop), then
# keycoord, sink and one worker are started with CURVE certificates, the
# ventilator signs everything, and all processes are stopped (their stop
# lines, e.g. the worker's time spent signing and waiting for leases, stay
# in the logs). Every repetition is followed by `recsign verify` and
# `recsign audit` (rules 1-5, including verification of every signature),
# outside its CPU account; a failing one stops the benchmark with exit
# status 1.
#
# Output, in the out dir:
#   results.csv   one row per repetition: batch_size,keys,threads,repeat,
#                 records,seconds,records_per_second, then the raw 1- and
#                 2-thread signing rates and the CPU seconds (user+system,
#                 from /proc/PID/stat) of keycoord, sink, worker and the
#                 PostgreSQL cluster (all its processes), read once the
#                 ventilator has finished and before the services are
#                 stopped (accounts.csv takes the processes' own exit
#                 lines: their whole lives, shutdown included, so a few
#                 hundredths more), the worker's signing and lease-waiting
#                 thread-seconds, and the keycoord's lease-log statistics
#                 (writes, events per write, microseconds per write), and
#                 the keys' algorithm, the raw 2-thread rate measured just
#                 before the repetition, the run's ratio to the mean of
#                 that and the rate measured just after it, and the latter
#   raw_sign.csv  the raw signing benchmark's output (algorithm,threads,
#                 signatures_per_second)
#   medians.csv   per point: the median rate and its ratio to the raw
#                 2-thread rate of its algorithm, and the algorithm, then
#                 the median of the runs' own ratios (to the raw rates
#                 measured around each) with its min and max; also
#                 printed as a table at the end
#   accounts.csv  every run's CPU account: algorithm,batch_size,keys,
#                 threads,repeat,records,part,cpu_seconds (each run's is
#                 also printed on stderr as the run ends)
#   table.md      the medians as a Markdown table (printed at the end)
#   account.md    per point, CPU-seconds per 100,000 records by part:
#                 median (min-max) over the repetitions; printed at the end
#   bench.png     Ed25519 only: records/s against batch size (threads = 2, one line per
#                 key count, the raw 2-thread rate as a ceiling); needs
#                 gnuplot (Debian gnuplot-nox, installed when running as
#                 root), skipped with a warning otherwise
#   logs/         each process's log, per repetition
set -euo pipefail

RS_PROG=bench.sh
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# --- options -------------------------------------------------------------------
batch_sizes="1,10,100,1000"
key_counts="1,5,100"
thread_counts="1,2,4"
repeat=5
raw_seconds=1
records=100000
rsa_records=5000
algorithms="ed25519"
sign_seconds=3
out_dir=""
timeout=1800
run_keycoord=1
run_scale=1

# need_algorithms LIST: a comma-separated list of key algorithms, or a
# usage error.
need_algorithms() {
    local a
    [[ -n "$1" ]] || rs_usage_error "--algorithms needs a list"
    IFS=, read -r -a _algs <<<"$1"
    for a in "${_algs[@]}"; do
        case "$a" in
            ed25519|ecdsa-p256|rsa-2048|rsa-3072|rsa-4096) ;;
            *) rs_usage_error "--algorithms names '$a'; expected ed25519, ecdsa-p256, rsa-2048, rsa-3072 or rsa-4096" ;;
        esac
    done
}

# records_of ALG: records signed at each repetition with ALG keys.
records_of() { [[ "$1" == rsa-* ]] && echo "$rsa_records" || echo "$records"; }

# option FLAG VALUE: one flag of the command line.
option() {
    local flag="$1" value="$2"
    case "$flag" in
        --batch-sizes)  rs_need_list "$flag" "$value" 1 100000; batch_sizes="$value" ;;
        --keys)         rs_need_list "$flag" "$value" 1 100000; key_counts="$value" ;;
        --threads)      rs_need_list "$flag" "$value" 1 1024; thread_counts="$value" ;;
        --repeat)       rs_need_int "$flag" "$value" 1 1000; repeat="$((10#$value))" ;;
        --records)      rs_need_int "$flag" "$value" 1 100000000; records="$((10#$value))" ;;
        --rsa-records)  rs_need_int "$flag" "$value" 1 100000000; rsa_records="$((10#$value))" ;;
        --algorithms)   need_algorithms "$value"; algorithms="$value" ;;
        --sign-seconds) rs_need_int "$flag" "$value" 1 600; sign_seconds="$((10#$value))" ;;
        --raw-seconds)  rs_need_int "$flag" "$value" 1 600; raw_seconds="$((10#$value))" ;;
        --timeout)      rs_need_int "$flag" "$value" 1 1000000; timeout="$((10#$value))" ;;
        --out-dir)      rs_need_out_dir "$flag" "$value"; out_dir="$value" ;;
        --quick)        batch_sizes="1,100,1000"; key_counts="100"; thread_counts="2"; repeat=5; run_scale=0 ;;
        --no-keycoord)  run_keycoord=0 ;;
        --no-scale)     run_scale=0 ;;
        -h|--help)      rs_print_help "${BASH_SOURCE[0]}"; exit 0 ;;
        *)              rs_usage_error "unknown flag '$flag'" ;;
    esac
}
rs_parse_flags '--batch-sizes|--keys|--threads|--repeat|--records|--rsa-records|--algorithms|--out-dir|--timeout|--sign-seconds|--raw-seconds' option "$@"
IFS=, read -r -a ALGS <<<"$algorithms"
IFS=, read -r -a BATCHES <<<"$batch_sizes"
IFS=, read -r -a KEYS <<<"$key_counts"
IFS=, read -r -a THREADS <<<"$thread_counts"

# --- build -----------------------------------------------------------------------
rs_build_programs

# gnuplot for the plot: installed as root like the other dependencies,
# otherwise the plot is skipped.
have_gnuplot=0
if command -v gnuplot >/dev/null 2>&1; then
    have_gnuplot=1
elif [[ "$(id -u)" -eq 0 && "${RECSIGN_SKIP_DEPS:-0}" != 1 ]]; then
    rs_say "installing gnuplot-nox for the plot"
    if DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gnuplot-nox </dev/null; then
        have_gnuplot=1
    fi
fi
(( have_gnuplot )) || rs_warn "gnuplot is not available (Debian package gnuplot-nox); the plot will be skipped"

# --- files -----------------------------------------------------------------------
[[ -n "$out_dir" ]] || out_dir="$build/bench"
out_dir="$(rs_mkdir_abs "$out_dir")"
logs="$out_dir/logs"
rs_empty_dir "$logs"
results="$out_dir/results.csv"
medians="$out_dir/medians.csv"
raw_csv="$out_dir/raw_sign.csv"
accounts="$out_dir/accounts.csv"
account_md="$out_dir/account.md"
work="$(rs_work_dir rsbench)"
master_key="$work/master.key"

# Unset what the processes would otherwise read from the environment: the
# flags below are the whole configuration.
rs_unset_config_env

# --- cleanup -----------------------------------------------------------------------
pg_dir=""
cleanup() { rs_stop_run "$pg_dir" "$work"; }
rs_on_exit cleanup

# --- helpers ---------------------------------------------------------------------
# median of the numbers on stdin, one a line.
median() {
    sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit; if (NR % 2) print v[(NR + 1) / 2]; else printf "%.0f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# --- raw signing rate ---------------------------------------------------------------
rs_say "raw signing rate of $algorithms, 1 and 2 threads, $sign_seconds s each"
"$bin_sign" --threads 2 --seconds "$sign_seconds" --algorithms "$algorithms" >"$raw_csv" \
    || rs_die "recsign-bench-sign failed"
declare -A RAW1 RAW2
for alg in "${ALGS[@]}"; do
    RAW1[$alg]="$(awk -F, -v a="$alg" '$1 == a && $2 == 1 { printf "%.0f", $3 }' "$raw_csv")"
    RAW2[$alg]="$(awk -F, -v a="$alg" '$1 == a && $2 == 2 { printf "%.0f", $3 }' "$raw_csv")"
    [[ -n "${RAW1[$alg]}" && -n "${RAW2[$alg]}" ]] \
        || rs_die "unexpected output of recsign-bench-sign: $(cat "$raw_csv")"
    rs_say "raw $alg signing: ${RAW1[$alg]}/s on 1 thread, ${RAW2[$alg]}/s on 2 threads"
done

# --- database and certificates ----------------------------------------------------
rs_bench_cluster

echo "batch_size,keys,threads,repeat,records,seconds,records_per_second,raw_1t_sps,raw_2t_sps,keycoord_cpu_s,sink_cpu_s,worker_cpu_s,postgres_cpu_s,worker_sign_s,worker_lease_wait_s,keycoord_log_writes,keycoord_log_events_per_write,keycoord_log_us_per_write,algorithm,raw_2t_before_sps,ratio_to_raw_around,raw_2t_after_sps" >"$results"
echo "algorithm,batch_size,keys,threads,repeat,records,part,cpu_seconds" >"$accounts"

# raw_now ALG FILE: measures the raw 2-thread signing rate of ALG for
# --raw-seconds (the output in FILE.csv, its log in FILE.log) and prints it
# in signatures/s.
raw_now() {
    local alg="$1" file="$2" rate
    "$bin_sign" --threads 2 --seconds "$raw_seconds" --algorithms "$alg" >"$file.csv" 2>"$file.log" \
        || rs_die "recsign-bench-sign failed (log: $file.log)"
    rate="$(awk -F, -v a="$alg" '$1 == a && $2 == 2 { printf "%.0f", $3 }' "$file.csv")"
    [[ -n "$rate" ]] || rs_die "unexpected output of recsign-bench-sign: $(cat "$file.csv")"
    echo "$rate"
}

# run_once ALG BATCH KEYS THREADS REP: one repetition; appends a row to
# results.csv.
run_once() {
    local alg="$1" batch="$2" k="$3" threads="$4" rep="$5" dir pid_kc pid_sink pid_wk pid_vent
    local t="$threads"
    local expect
    expect="$(records_of "$alg")"
    dir="$logs/${alg}_k${k}_b${batch}_t${t}_r${rep}"
    mkdir -p "$dir"
    # The raw rate just before and just after the run, alternately with
    # the runs: the run's ratio is to what this host signed around it.
    local raw_before raw_after
    raw_before="$(raw_now "$alg" "$dir/raw_sign")" || exit 1
    rs_reset_signing "$db_url"
    local pg_cpu0
    pg_cpu0="$(rs_pg_cpu_seconds "$pg_dir")"
    rs_cpu_account_begin "$dir/cpu-account" "$pg_dir"
    rs_bench_services "$dir"
    rs_proc_start ventilator "$dir/ventilator.log" \
        "$bin_ventilator" --db "$db_url" --bind "tcp://127.0.0.1:$port_vent" --batch-size "$batch"
    pid_vent=$RS_LAST_PID
    rs_wait_run "$pid_vent" "$timeout" "$dir" "batch $batch, keys $k, threads $t, repetition $rep"
    local cpu_kc cpu_sink cpu_wk
    cpu_kc="$(rs_cpu_seconds "$pid_kc")"
    cpu_sink="$(rs_cpu_seconds "$pid_sink")"
    cpu_wk="$(rs_cpu_seconds "$pid_wk")"
    rs_proc_stop_all
    sleep 0.2   # lets the postmaster reap the backends of the stopped processes
    rs_cpu_account_end || rs_die "the CPU account of $dir failed"
    local pg_cpu pg_cpu1
    pg_cpu1="$(rs_pg_cpu_seconds "$pg_dir")"
    raw_after="$(raw_now "$alg" "$dir/raw_sign_after")" || exit 1
    pg_cpu="$(rs_cpu_delta "$pg_cpu0" "$pg_cpu1")"
    local signed wall rate sign_s wait_s line kc_w kc_e kc_us
    read -r signed wall < <(rs_last_run_timing "$db_url") || rs_die "could not read the run's timing"
    [[ "${signed:-0}" == "$expect" ]] \
        || rs_die "run signed ${signed:-0} records, expected $expect (logs: $dir)"
    rate="$(awk -v n="$signed" -v t="$wall" 'BEGIN { if (t > 0) printf "%.0f", n / t; else print 0 }')"
    local ratio
    ratio="$(awk -v r="$rate" -v b="$raw_before" -v a="$raw_after" 'BEGIN { printf "%.3f", 2 * r / (b + a) }')"
    line="$(grep -o 'threads spent [0-9.]* s signing and [0-9.]* s waiting' "$dir/worker.log" | tail -n 1 || true)"
    sign_s="$(awk '{ print $3 }' <<<"$line")"
    wait_s="$(awk '{ print $7 }' <<<"$line")"
    # The keycoord's last stats line: "lease log: N writes of M events, X us each".
    read -r kc_w kc_e kc_us < <(grep -o 'lease log: [0-9]* writes of [0-9.]* events, [0-9]* us each' "$dir/keycoord.log" \
        | tail -n 1 | awk '{ print $3, $6, $8 }') || true
    printf '%s,%s,%s,%s,%s,%.3f,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n' "$batch" "$k" "$t" "$rep" "$signed" "$wall" "$rate" \
        "${RAW1[$alg]}" "${RAW2[$alg]}" "$cpu_kc" "$cpu_sink" "$cpu_wk" "$pg_cpu" "$sign_s" "$wait_s" "${kc_w:-}" "${kc_e:-}" "${kc_us:-}" \
        "$alg" "$raw_before" "$ratio" "$raw_after" >>"$results"
    awk -F, -v pre="$alg,$batch,$k,$t,$rep,$signed" 'NR > 1 && $1 != "warning" && $1 != "note" { print pre "," $1 "," $2 }' \
        "$dir/cpu-account/account.csv" >>"$accounts"
    # Every run's signatures must verify and pass the audit (rules 1-5).
    local check
    for check in verify audit; do
        if ! "$bin_admin" "$check" --db "$db_url" >"$dir/$check.log" 2>&1; then
            cat "$dir/$check.log" >&2
            rs_die "${check^^} FAILED for $alg, batch $batch, keys $k, threads $t, repetition $rep; log: $dir/$check.log"
        fi
    done
    rs_say "  $alg, batch $batch, keys $k, threads $t, repetition $rep: $signed records in $(printf '%.3f' "$wall") s = $rate records/s, $ratio x raw 2-thread (mean of $raw_before/s just before and $raw_after/s just after); verify and audit ok"
    # The run's CPU account, on stderr with the progress lines (the
    # medians per point are printed at the end).
    rs_cpu_account_print "$dir/cpu-account/account.csv" "$signed" | sed 's/^/    /' >&2
}

# --- the sweep -------------------------------------------------------------------------
points=$(( ${#ALGS[@]} * ${#BATCHES[@]} * ${#KEYS[@]} * ${#THREADS[@]} ))
rs_say "sweep: algorithms $algorithms x batch sizes $batch_sizes x keys $key_counts x threads $thread_counts, $records records ($rsa_records with RSA), $repeat repetition(s): $points points"
for alg in "${ALGS[@]}"; do
    n="$(records_of "$alg")"
    for k in "${KEYS[@]}"; do
        rs_say "new database: recsign init with $k $alg keys and $n records"
        rs_pg_recreate_db "$pg_dir"
        "$bin_admin" init --db "$db_url" --master-key "$master_key" --keys "$k" --algorithm "$alg" \
            --records "$n" >"$logs/init_${alg}_k$k.log" 2>&1 \
            || { tail -n 20 "$logs/init_${alg}_k$k.log" >&2; rs_die "recsign init failed"; }
        # Repetition by repetition across the points, not point by point:
        # a host whose speed drifts during the sweep then shifts every
        # point alike instead of the points run last.
        for ((rep = 1; rep <= repeat; rep++)); do
            for batch in "${BATCHES[@]}"; do
                for t in "${THREADS[@]}"; do
                    run_once "$alg" "$batch" "$k" "$t" "$rep"
                done
            done
        done
    done
done

# --- medians, table, account, verdict, plot ----------------------------------------------
# account_point ALG BATCH KEYS THREADS: the point's CPU account as a
# table: per part, CPU-seconds per 100,000 records, median (min-max) over
# its runs, in the order of the first run's account.
account_point() {
    echo
    echo "$1, batch $2, keys $3, threads $4 ($repeat run(s)):"
    echo
    echo "| part | CPU-s per 100k records | min-max |"
    echo "|---|---:|---:|"
    awk -F, -v a="$1" -v b="$2" -v k="$3" -v t="$4" '
        NR > 1 && $1 == a && $2 == b && $3 == k && $4 == t {
            if (!($7 in n)) order[++np] = $7
            v = ($7 ~ /^(wall_seconds|cores)$/ || $6 == 0) ? $8 : $8 * 100000 / $6
            x[$7, ++n[$7]] = v }
        END {
            for (i = 1; i <= np; i++) {
                p = order[i]; c = n[p]
                for (j = 1; j <= c; j++) s[j] = x[p, j]
                for (j = 1; j <= c; j++) for (l = j + 1; l <= c; l++) if (s[l] < s[j]) { tmp = s[j]; s[j] = s[l]; s[l] = tmp }
                m = (c % 2) ? s[(c + 1) / 2] : (s[c / 2] + s[c / 2 + 1]) / 2
                name = p
                if (p == "wall_seconds") name = "wall seconds (not per 100k)"
                if (p == "cores") name = "cores (not per 100k)"
                if (p == "wall_x_cores") name = "wall x cores"
                # "-0.30 to -0.10", not "-0.30--0.10"; no "-0.00"
                lo = f2(s[1]); hi = f2(s[c])
                printf "| %s | %s | %s%s%s |\n", name, f2(m), lo, (lo ~ /^-/ || hi ~ /^-/) ? " to " : "-", hi }
        }
        function f2(v,   r) { r = sprintf("%.2f", v); return (r == "-0.00") ? "0.00" : r }' "$accounts"
}

# target ALG BATCH: "ratio MIN" or "rate MIN", the target of that point
# (Ed25519 from issue 13, ECDSA P-256 and RSA-2048 from issue 11), or
# nothing.
target() {
    case "$1/$2" in
        ed25519/1000)    echo "ratio 0.70" ;;
        ed25519/100)     echo "ratio 0.65" ;;
        ed25519/1)       echo "rate 25000" ;;
        ecdsa-p256/100)  echo "ratio 0.60" ;;
        rsa-2048/100)    echo "ratio 0.80" ;;
    esac
}

# verdict: for each point of the sweep with a target (100 keys, 2
# threads), whether its median meets it; fewer than 5 runs are not judged.
# The medians it compares carry three decimals: at two, a median of 0.596
# printed as 0.60 passed a target of 0.60.
verdict() {
    local line alg batch k t med_rate r_med r_min r_max kind min
    while IFS=, read -r batch k t _ _ _ med_rate _ alg r_med r_min r_max; do
        [[ "$k" == 100 && "$t" == 2 ]] || continue
        read -r kind min < <(target "$alg" "$batch") || continue
        [[ -n "$kind" ]] || continue
        local met=0 word
        if [[ "$kind" == ratio ]]; then
            line="$alg batch $batch: median $r_med x raw 2-thread (runs $r_min-$r_max), target >= $min"
            awk -v v="$r_med" -v m="$min" 'BEGIN { exit !(v >= m) }' && met=1
        else
            line="$alg batch $batch: median $med_rate records/s, target >= $min"
            (( med_rate >= min )) && met=1
        fi
        if (( repeat < 5 )); then
            word="not judged ($repeat run(s), the verdict needs 5):"
        elif (( met )); then
            word="met    "
        else
            word="MISSED "
        fi
        line="$word $line"
        echo "$line"
    done < <(tail -n +2 "$medians")
}

# host_notes: what about the host makes a verdict less sure, one "note:"
# line each (nothing on a quiet host): two threads that did not sign
# about twice as fast as one (the cores were not both free: another load,
# or cores the hypervisor shares), a raw rate that moved by more than a
# quarter across the sweep, other processes taking more than a tenth of
# the machine's busy time during the runs.
host_notes() {
    local alg
    for alg in "${!RAW1[@]}"; do
        awk -v a="$alg" -v r1="${RAW1[$alg]}" -v r2="${RAW2[$alg]}" 'BEGIN {
            if (r1 > 0 && r2 < 1.6 * r1)
                printf "note: raw %s signed %d/s on 2 threads, only %.2f x its %d/s on 1: the two cores were not both free (another load, or cores the hypervisor shares); on a quiet host the ratios may differ\n", a, r2, r2 / r1, r1 }'
    done
    awk -F, 'NR > 1 && $20 > 0 && $22 > 0 {
            for (i = 20; i <= 22; i += 2) { if (!(($19) in lo) || $i < lo[$19]) lo[$19] = $i; if ($i > hi[$19]) hi[$19] = $i } }
        END { for (a in lo) if (hi[a] > 1.25 * lo[a])
            printf "note: the raw %s 2-thread rate measured around the runs moved from %d/s to %d/s (%.0f %%): the host'"'"'s speed changed during the sweep; each run is judged against the rate measured around it\n", a, lo[a], hi[a], 100 * (hi[a] / lo[a] - 1) }' "$results"
    awk -F, 'NR > 1 { key = $1 "," $2 "," $3 "," $4 "," $5
            if ($7 == "busy") busy[key] = $8
            if ($7 == "other processes (not this run)") other[key] = $8 }
        END { n = 0; m = 0
            for (k in busy) { n++; if (busy[k] > 0 && other[k] > 0.1 * busy[k]) m++ }
            if (m > 0) printf "note: in %d of %d runs other processes (not this run) took more than a tenth of the busy CPU time: the machine was not quiet\n", m, n }' "$accounts"
}

echo "batch_size,keys,threads,records,repeats,median_seconds,median_records_per_second,ratio_to_raw_2t,algorithm,median_run_ratio,min_run_ratio,max_run_ratio" >"$medians"
table="$out_dir/table.md"
{
    for alg in "${ALGS[@]}"; do
        echo "raw $alg signing: ${RAW1[$alg]}/s on 1 thread, ${RAW2[$alg]}/s on 2 threads"
    done
    echo
    echo
    echo "| algorithm | batch size | keys | threads | records | median records/s | median s | / raw 2-thread | runs' own ratio: median (min-max) | runs (records/s) |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
} >"$table"
echo "CPU-seconds per 100,000 records by part: median (min-max) of each point's runs" >"$account_md"
for alg in "${ALGS[@]}"; do
    n="$(records_of "$alg")"
    for k in "${KEYS[@]}"; do
        for batch in "${BATCHES[@]}"; do
            for t in "${THREADS[@]}"; do
                rows="$(awk -F, -v a="$alg" -v b="$batch" -v k="$k" -v t="$t" 'NR > 1 && $19 == a && $1 == b && $2 == k && $3 == t' "$results")"
                med_rate="$(cut -d, -f7 <<<"$rows" | median)"
                med_s="$(cut -d, -f6 <<<"$rows" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }')"
                ratio="$(awk -v r="$med_rate" -v c="${RAW2[$alg]}" 'BEGIN { printf "%.2f", r / c }')"
                all="$(cut -d, -f7 <<<"$rows" | paste -sd/ | sed 's#/# / #g')"
                read -r r_med r_min r_max < <(cut -d, -f21 <<<"$rows" | sort -g \
                    | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
                                                printf "%.3f %.3f %.3f\n", m, v[1], v[NR] }')
                echo "$batch,$k,$t,$n,$repeat,$med_s,$med_rate,$ratio,$alg,$r_med,$r_min,$r_max" >>"$medians"
                printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s (%s-%s) | %s |\n' "$alg" "$batch" "$k" "$t" "$n" "$med_rate" "$med_s" "$ratio" \
                    "$r_med" "$r_min" "$r_max" "$all" >>"$table"
                account_point "$alg" "$batch" "$k" "$t" >>"$account_md"
            done
        done
    done
done

if (( have_gnuplot )); then
    has_t2="$(awk -F, 'NR > 1 && $3 == 2 && $9 == "ed25519"' "$medians" | head -n 1)"
    if [[ -z "$has_t2" ]]; then
        rs_warn "no Ed25519 point with 2 threads in the sweep; the plot (Ed25519, threads = 2) is skipped"
    else
        plot_cmds="$work/plot.gp"
        {
            echo "set terminal pngcairo size 900,560 noenhanced" 2>/dev/null
            echo "set output '$out_dir/bench.png'"
            echo "set datafile separator ','"
            echo "set logscale x 10"
            echo "set xlabel 'batch size (records per lease)'"
            echo "set ylabel 'records signed per second'"
            raw2="${RAW2[ed25519]}"
            echo "set yrange [0:$(( raw2 * 115 / 100 ))]"
            echo "set key bottom right"
            echo "set grid"
            echo "set title 'recsign end to end, $records records, 1 worker x 2 threads (median of $repeat)'"
            printf "plot %s" "$raw2 with lines dt 2 lw 2 lc rgb 'black' title 'raw Ed25519, libsodium, 2 threads ($raw2/s)'"
            for k in "${KEYS[@]}"; do
                awk -F, -v k="$k" 'NR > 1 && $2 == k && $3 == 2 && $9 == "ed25519" { print $1 "," $7 }' "$medians" | sort -t, -k1,1g >"$work/k$k.dat"
                printf ", '%s' using 1:2 with linespoints lw 2 pt 7 title '%s key(s)'" "$work/k$k.dat" "$k"
            done
            echo
        } >"$plot_cmds"
        if ! gnuplot "$plot_cmds" 2>"$work/gnuplot.err"; then
            # pngcairo may be missing: fall back to the plain png terminal.
            sed -i '1s/.*/set terminal png size 900,560/' "$plot_cmds"
            gnuplot "$plot_cmds" 2>"$work/gnuplot.err" || { rs_warn "gnuplot failed: $(head -n 3 "$work/gnuplot.err")"; rm -f "$out_dir/bench.png"; }
        fi
    fi
fi

# --- keycoord microbenchmark and scale run ---------------------------------------------
# They start clusters of their own: stop this one first, so that nothing
# of the sweep competes with them for the cores.
rs_proc_stop_all
rs_pg_stop "$pg_dir"
pg_dir=""
here="$(dirname "${BASH_SOURCE[0]}")"
if (( run_keycoord )); then
    rs_say "keycoord microbenchmark (scripts/bench_keycoord.sh)"
    "$here/bench_keycoord.sh" --out-dir "$out_dir" >"$logs/bench_keycoord.out" \
        || { cat "$logs/bench_keycoord.out" >&2; rs_die "the keycoord microbenchmark failed; see above"; }
fi
if (( run_scale )); then
    rs_say "scale run (scripts/bench_scale.sh)"
    "$here/bench_scale.sh" --out-dir "$out_dir" >"$logs/bench_scale.out" \
        || { cat "$logs/bench_scale.out" >&2; rs_die "the scale run failed; see above"; }
fi

echo
echo "recsign benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $records records per run ($rsa_records with RSA keys), median of $repeat"
cat "$table"
echo
echo "verdict against the targets (medians of $repeat run(s), each run's ratio to the mean of the raw 2-thread rates measured just before and just after it):"
verdict_text="$(verdict)"
echo "${verdict_text:-  (no point of the sweep has a target: they are at 100 keys and 2 threads)}"
host_notes
echo
cat "$account_md"
if (( run_keycoord )); then
    echo
    echo "keycoord microbenchmark: lease+release cycles/s against a bare ROUTER echo"
    cat "$out_dir/keycoord.md"
fi
if (( run_scale )); then
    echo
    echo "scale run"
    cat "$out_dir/scale.md"
fi
echo
echo "results:  $results"
echo "medians:  $medians"
(( run_keycoord )) && echo "keycoord: $out_dir/keycoord.csv"
(( run_scale )) && echo "scale:    $out_dir/scale.csv"
[[ -f "$out_dir/bench.png" ]] && echo "plot:     $out_dir/bench.png"
echo "accounts: $accounts"
echo "logs:     $logs (verify and audit of every repetition)"
