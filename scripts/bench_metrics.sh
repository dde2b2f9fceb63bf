#!/usr/bin/env bash
# scripts/bench_metrics.sh: does serving metrics slow signing? Runs the
# 100,000-record job in pairs: once with no --metrics-bind ("off"), once
# with every service serving /metrics and a scraper fetching all four every
# second ("on", what a Prometheus with a 1 s interval does), the order
# alternating from pair to pair so that drift on a shared machine hits both.
#
# usage: scripts/bench_metrics.sh [options]
#   --records N      records (default 100000)
#   --batch-size L   batch size (default 1000)
#   --keys N         keys in the keyring (default 100)
#   --threads N      signing threads of the one worker (default 2)
#   --pairs N        off/on pairs (default 3)
#   --out-dir DIR    where results go (default build/bench/)
#   --timeout S      give up on a run after S seconds (default 600)
#   --help           print this help
#
# How: one private PostgreSQL cluster (fsync on) and CURVE certificates, as
# scripts/bench_scale.sh. Before each run the signing state is reset; the
# keycoord, sink and one worker are started, the ventilator signs
# everything and exits, the others are stopped (SIGTERM). The rate is as
# scripts/bench.sh computes it: records signed / (newest
# signatures.signed_at of the run - runs.first_dispatch_at). In "on" runs
# the scraper counts its successful scrapes; a run with none is an error.
#
# Output, in the out dir:
#   metrics.csv  one row per run: pair, mode (off/on), records, seconds,
#                records_per_second, scrapes, other load (the rest of the
#                machine's CPU as a share of all cores during the run)
#   metrics.md   the table and the medians printed at the end
set -euo pipefail

RS_PROG=bench_metrics.sh
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# --- options -------------------------------------------------------------------
records=100000
batch=1000
keys=100
threads=2
pairs=3
out_dir=""
timeout=600

option() {
    local flag="$1" value="$2"
    case "$flag" in
        --records)    rs_need_int "$flag" "$value" 1 100000000; records="$((10#$value))" ;;
        --batch-size) rs_need_int "$flag" "$value" 1 100000; batch="$((10#$value))" ;;
        --keys)       rs_need_int "$flag" "$value" 1 100000; keys="$((10#$value))" ;;
        --threads)    rs_need_int "$flag" "$value" 1 1024; threads="$((10#$value))" ;;
        --pairs)      rs_need_int "$flag" "$value" 1 100; pairs="$((10#$value))" ;;
        --timeout)    rs_need_int "$flag" "$value" 1 1000000; timeout="$((10#$value))" ;;
        --out-dir)    rs_need_out_dir "$flag" "$value"; out_dir="$value" ;;
        -h|--help)    rs_print_help "${BASH_SOURCE[0]}"; exit 0 ;;
        *)            rs_usage_error "unknown flag '$flag'" ;;
    esac
}
rs_parse_flags '--records|--batch-size|--keys|--threads|--pairs|--out-dir|--timeout' option "$@"
command -v curl >/dev/null 2>&1 || rs_die "curl is needed to scrape the metrics (apt-get install curl)"

# --- build -----------------------------------------------------------------------
rs_build_programs

# --- files -----------------------------------------------------------------------
rs_bench_files metrics

# --- cleanup -----------------------------------------------------------------------
pg_dir=""
scraper_pid=""
cleanup() {
    [[ -n "$scraper_pid" ]] && kill "$scraper_pid" 2>/dev/null
    rs_proc_stop_all
    rs_release_ports
    [[ -n "$pg_dir" ]] && rs_pg_stop "$pg_dir"
    rm -rf "$work"
}
rs_on_exit cleanup

# --- helpers ---------------------------------------------------------------------
# scraper OUT PORT...: every second, GET /metrics from each port; appends
# one line per successful scrape to OUT. Runs until killed.
scraper() {
    local out="$1" port
    shift
    while :; do
        for port in "$@"; do
            curl -fs -o /dev/null --max-time 1 "http://127.0.0.1:$port/metrics" && echo "$port" >>"$out"
        done
        sleep 1
    done
}

# run_once PAIR MODE: one signing run of the whole table; appends to the csv.
run_once() {
    local pair="$1" mode="$2" dir pid_vent busy0 busy1 wall0 window_s scrapes=""
    local -a m_services=() m_vent=()
    dir="$logs/${pair}_$mode"
    mkdir -p "$dir"
    if [[ "$mode" == on ]]; then
        m_services=("$mport_kc" "$mport_sink" "$mport_wk")
        m_vent=(--metrics-bind "127.0.0.1:$mport_vent")
        : >"$dir/scrapes.txt"
    fi
    rs_reset_signing "$db_url"
    busy0="$(rs_machine_busy_seconds)"
    wall0=$(date +%s%N)
    rs_say "pair $pair, metrics $mode: $records records, batch size $batch"
    rs_bench_services "$dir" "${m_services[@]}"
    if [[ "$mode" == on ]]; then
        scraper "$dir/scrapes.txt" "$mport_kc" "$mport_sink" "$mport_wk" "$mport_vent" &
        scraper_pid=$!
    fi
    rs_proc_start ventilator "$dir/ventilator.log" \
        "$bin_ventilator" --db "$db_url" --bind "tcp://127.0.0.1:$port_vent" --batch-size "$batch" \
        "${m_vent[@]}"
    pid_vent=$RS_LAST_PID
    rs_wait_run "$pid_vent" "$timeout" "$dir" "pair $pair, metrics $mode"
    if [[ -n "$scraper_pid" ]]; then
        kill "$scraper_pid" 2>/dev/null || true
        wait "$scraper_pid" 2>/dev/null || true
        scraper_pid=""
        scrapes="$(wc -l <"$dir/scrapes.txt")"
        (( scrapes > 0 )) || rs_die "no scrape succeeded in pair $pair (logs: $dir)"
    fi
    rs_proc_stop_all
    busy1="$(rs_machine_busy_seconds)"
    window_s="$(awk -v a="$wall0" -v b="$(date +%s%N)" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')"
    local signed wall rate other
    read -r signed wall < <(rs_last_run_timing "$db_url") || rs_die "could not read the run's timing"
    [[ "${signed:-0}" == "$records" ]] || rs_die "run signed ${signed:-0} records, expected $records (logs: $dir)"
    rate="$(awk -v n="$signed" -v t="$wall" 'BEGIN { if (t > 0) printf "%.0f", n / t; else print 0 }')"
    # The whole machine's busy share during the run (recsign, PostgreSQL
    # and everyone else's work): a shared machine shows here.
    other="$(awk -v a="$busy0" -v b="$busy1" -v w="$window_s" -v c="$(nproc)" \
        'BEGIN { if (w > 0) printf "%.2f", (b - a) / (w * c) }')"
    printf '%s,%s,%s,%.3f,%s,%s,%s\n' "$pair" "$mode" "$signed" "$wall" "$rate" "$scrapes" "$other" >>"$csv"
    rs_say "  $signed records in $(printf '%.3f' "$wall") s = $rate records/s${scrapes:+; $scrapes scrapes}; machine busy $other"
}

# --- cluster, certificates, database -------------------------------------------------
rs_bench_cluster
mport_vent="" mport_sink="" mport_kc="" mport_wk=""
rs_free_ports mport_vent mport_sink mport_kc mport_wk
"$bin_admin" init --db "$db_url" --master-key "$master_key" --keys "$keys" --records "$records" \
    >"$logs/init.log" 2>&1 || { tail -n 20 "$logs/init.log" >&2; rs_die "recsign init failed"; }
rs_psql "$db_url" -c 'VACUUM (ANALYZE) records' >/dev/null || rs_die "could not vacuum records"

# --- the runs ----------------------------------------------------------------------
echo "pair,mode,records,seconds,records_per_second,scrapes,machine_busy" >"$csv"
for ((p = 1; p <= pairs; p++)); do
    if (( p % 2 )); then
        run_once "$p" off
        run_once "$p" on
    else
        run_once "$p" on
        run_once "$p" off
    fi
done

# --- table -------------------------------------------------------------------------
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.0f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
off_median="$(awk -F, 'NR > 1 && $2 == "off" { print $5 }' "$csv" | median)"
on_median="$(awk -F, 'NR > 1 && $2 == "on" { print $5 }' "$csv" | median)"
ratio="$(awk -v a="$on_median" -v b="$off_median" 'BEGIN { if (b > 0) printf "%.3f", a / b }')"
{
    echo "recsign with and without metrics, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $records records, batch size $batch, $keys keys, 1 worker x $threads threads"
    echo
    echo "| pair | metrics | s | records/s | scrapes | machine busy |"
    echo "|---:|---|---:|---:|---:|---:|"
    awk -F, 'NR > 1 { printf "| %s | %s | %.3f | %s | %s | %s |\n", $1, $2, $4, $5, ($6 == "" ? "-" : $6), $7 }' "$csv"
    echo
    echo "median records/s: off $off_median, on $on_median; on / off = $ratio"
} >"$table"
echo
cat "$table"
echo
echo "results: $csv"
echo "table:   $table"
