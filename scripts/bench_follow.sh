#!/usr/bin/env bash
# scripts/bench_follow.sh: the follow-mode benchmark. A client inserts
# records at a steady rate while `recsign-ventilator --follow` runs, and the
# latency from each insert's commit to its signature's commit is measured;
# then the highest insert rate the service sustains, against the batch-mode
# rate measured first on the same machine.
#
# usage: scripts/bench_follow.sh [options]
#   --seconds S          insert for S seconds per latency scenario (default 60)
#   --rates LIST         insert rates of the latency scenarios, records/s
#                        (default 1000,10000)
#   --rows LIST          records per insert transaction (default 1,100)
#   --sustain-seconds S  insert for S seconds per step of the sustained-rate
#                        search (default 30; 0 skips the search)
#   --batch-records N    records of the batch-mode baseline (default 100000)
#   --batch-size N       the run's batch size (default 100)
#   --linger-ms N        the ventilator's --linger-ms (default 20)
#   --keys N             keys in the keyring (default 100)
#   --threads N          signing threads of the one worker (default 2)
#   --connections N      the client's database connections (default 8: one
#                        connection commits one transaction per WAL flush)
#   --out-dir DIR        where results go (default build/bench/)
#   --help               print this help
#
# Targets (issue 10, on the 2-core reference machine): p99 <= 100 ms at
# 1,000 records/s; p99 <= 500 ms at 10,000 records/s; sustained rate >= 0.8
# of the batch-mode rate.
#
# How the two commits are timed: the private cluster runs with
# track_commit_timestamp = on, and every latency is
# pg_xact_commit_timestamp(signature row's xmin) -
# pg_xact_commit_timestamp(record row's xmin): the commit times of the
# client's INSERT and of the sink's COPY, both from the server's clock, per
# record. (signatures.signed_at is taken just before the sink's COPY, so it
# would leave out the COPY and its commit.)
#
# Steps: one private PostgreSQL cluster (fsync on) and CURVE certificates;
# `recsign init` with the baseline's records; a batch-mode run signs them
# (its rate: records / (newest signed_at - first dispatch), as bench.sh);
# then keycoord, sink, one worker and `recsign-ventilator --follow` start
# and stay up. Each latency scenario runs `recsign-bench-insert` (src/bench/
# insert_rate.c: transactions at fixed intervals, dealt round-robin to the
# connections, so ids may commit out of order as with concurrent writers),
# waits until every record it inserted is signed, and reads the latencies
# of its records. The sustained-rate search inserts 1,000-row transactions
# at 0.5, 0.6, ... 1.2 x the batch-mode rate, and stops at the first rate
# not sustained: one where the client fell more than 5 % short of the
# rate, or where the backlog (records committed and not yet signed, from
# the commit times) grew over the second half of the run by more than 5 %
# of the rate per second. At the end the
# ventilator gets SIGTERM and `recsign audit` must pass.
#
# Output, in the out dir:
#   follow.csv  one row per scenario: kind (latency or sustain), rate asked,
#               rows per transaction, records, insert rate achieved, p50,
#               p99, max latency (ms), unsigned when the client stopped, the
#               backlog's growth over the second half (records/s),
#               seconds from the last insert's commit to the last signature's
#               commit (the tail), CPU seconds of ventilator,
#               sink, worker, keycoord, PostgreSQL and the client, other load
#   follow.md   the table printed at the end
#   follow-stages.csv  per scenario, p50 and p99 of three stages of each
#               record's latency: insert commit -> its lease's grant,
#               grant -> the sink's COPY (signatures.signed_at), COPY ->
#               the signature's commit (ms)
#   follow-logs/ every process's log (batch/ and follow/: the two runs')
set -euo pipefail

RS_PROG=bench_follow.sh
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# --- options -------------------------------------------------------------------
seconds=60
rates="1000,10000"
rows_list="1,100"
sustain_seconds=30
batch_records=100000
batch=100
linger=20
keys=100
threads=2
connections=8
out_dir=""

option() {
    local flag="$1" value="$2"
    case "$flag" in
        --seconds)         rs_need_int "$flag" "$value" 1 86400; seconds="$((10#$value))" ;;
        --rates)           rs_need_list "$flag" "$value" 1 10000000; rates="$value" ;;
        --rows)            rs_need_list "$flag" "$value" 1 100000; rows_list="$value" ;;
        --sustain-seconds) rs_need_int "$flag" "$value" 0 86400; sustain_seconds="$((10#$value))" ;;
        --batch-records)   rs_need_int "$flag" "$value" 1000 100000000; batch_records="$((10#$value))" ;;
        --batch-size)      rs_need_int "$flag" "$value" 1 100000; batch="$((10#$value))" ;;
        --linger-ms)       rs_need_int "$flag" "$value" 0 60000; linger="$((10#$value))" ;;
        --keys)            rs_need_int "$flag" "$value" 1 100000; keys="$((10#$value))" ;;
        --threads)         rs_need_int "$flag" "$value" 1 1024; threads="$((10#$value))" ;;
        --connections)     rs_need_int "$flag" "$value" 1 256; connections="$((10#$value))" ;;
        --out-dir)         rs_need_out_dir "$flag" "$value"; out_dir="$value" ;;
        -h|--help)         rs_print_help "${BASH_SOURCE[0]}"; exit 0 ;;
        *)                 rs_usage_error "unknown flag '$flag'" ;;
    esac
}
rs_parse_flags '--seconds|--rates|--rows|--sustain-seconds|--batch-records|--batch-size|--linger-ms|--keys|--threads|--connections|--out-dir' option "$@"
IFS=, read -r -a RATES <<<"$rates"
IFS=, read -r -a ROWS <<<"$rows_list"

# --- build -----------------------------------------------------------------------
rs_build_programs
bin_insert="$build/src/bench/recsign-bench-insert"
rs_need_bins "$bin_insert"

# --- files -----------------------------------------------------------------------
rs_bench_files follow

# --- cleanup -----------------------------------------------------------------------
pg_dir=""
cleanup() { rs_stop_run "$pg_dir" "$work"; }
rs_on_exit cleanup

# --- helpers ---------------------------------------------------------------------
sql() { rs_psql "$db_url" -c "$1"; }
machine_busy_seconds() {
    awk -v hz="$(getconf CLK_TCK)" '$1 == "cpu" { printf "%.2f", ($2 + $3 + $4 + $7 + $8 + $9) / hz; exit }' /proc/stat
}
# signed_between A B: signatures of records A..B.
signed_between() { sql "select count(*) from signatures where record_id between $1 and $2"; }

# --- cluster, certificates, the batch-mode baseline --------------------------------
rs_bench_cluster
# Commit times of every transaction, for the latency (needs a restart).
sql "ALTER SYSTEM SET track_commit_timestamp = on" >/dev/null
rs_pg_stop "$pg_dir"
rs_pg_start "$pg_dir" || rs_die "could not restart PostgreSQL"
[[ "$(sql 'show track_commit_timestamp')" == on ]] || rs_die "track_commit_timestamp is not on"

rs_say "recsign init: $keys keys, $batch_records records"
"$bin_admin" init --db "$db_url" --master-key "$master_key" --keys "$keys" --records "$batch_records" \
    >"$logs/init.log" 2>&1 || { tail -n 20 "$logs/init.log" >&2; rs_die "recsign init failed"; }
sql 'VACUUM (ANALYZE) records' >/dev/null

rs_say "batch mode: $batch_records records, batch size $batch"
rs_bench_services "$logs/batch"
rs_proc_start ventilator "$logs/batch/ventilator.log" \
    "$bin_ventilator" --db "$db_url" --bind "tcp://127.0.0.1:$port_vent" --batch-size "$batch"
wait_rc=0
rs_wait_proc "$RS_LAST_PID" 1800 || wait_rc=$?
(( wait_rc == 0 )) && [[ "$RS_WAIT_STATUS" == 0 ]] || rs_die "the batch-mode run failed (logs: $logs)"
rs_proc_stop_all
read -r b_signed b_wall < <(rs_last_run_timing "$db_url") || rs_die "could not read the run's timing"
batch_rate="$(awk -v n="$b_signed" -v t="$b_wall" 'BEGIN { printf "%.0f", n / t }')"
rs_say "  batch mode: $b_signed records in $b_wall s = $batch_rate records/s"

# --- follow mode ---------------------------------------------------------------------
rs_bench_services "$logs/follow"
rs_proc_start ventilator "$logs/follow/ventilator.log" \
    "$bin_ventilator" --db "$db_url" --bind "tcp://127.0.0.1:$port_vent" --batch-size "$batch" \
    --follow --linger-ms "$linger"
pid_vent=$RS_LAST_PID
next_id=$((batch_records + 1))

stages_csv="$out_dir/follow-stages.csv"
echo "kind,rate_asked,rows,grant_p50_ms,grant_p99_ms,copy_p50_ms,copy_p99_ms,commit_p50_ms,commit_p99_ms" >"$stages_csv"
echo "kind,rate_asked,rows,records,insert_rate,p50_ms,p99_ms,max_ms,unsigned_at_stop,backlog_growth_per_s,tail_s,ventilator_cpu_s,sink_cpu_s,worker_cpu_s,keycoord_cpu_s,postgres_cpu_s,client_cpu_s,other_load" >"$csv"

# scenario KIND RATE ROWS SECONDS: one client run; appends a row to
# follow.csv and sets last_sustained (1 or 0).
scenario() {
    local kind="$1" rate="$2" rows="$3" secs="$4" first="$next_id" out last
    rs_say "$kind: $rate records/s in $rows-row transactions for $secs s"
    local -a c0=()
    local p pg0 busy0 wall0
    for p in "$pid_vent" "$pid_sink" "$pid_wk" "$pid_kc"; do c0+=("$(rs_cpu_seconds "$p")"); done
    pg0="$(rs_pg_cpu_seconds "$pg_dir")"
    busy0="$(machine_busy_seconds)"
    wall0=$(date +%s%N)
    out="$logs/client-$kind-$rate-$rows.txt"
    # The client's CPU from this shell's accounting of its children (the
    # builtin `times`, run in this shell: not in a pipe or a $(...)).
    local t_before t_after
    times >"$work/times"
    t_before="$(tail -n 1 "$work/times")"
    "$bin_insert" --db "$db_url" --rate "$rate" --rows "$rows" --seconds "$secs" \
        --connections "$connections" --first-id "$first" >"$out" 2>"$logs/client.err" \
        || { cat "$logs/client.err" >&2; rs_die "the insert client failed"; }
    times >"$work/times"
    t_after="$(tail -n 1 "$work/times")"
    last="$(sed -n 's/.* last_id=\([-0-9]*\).*/\1/p' "$out")"
    local achieved; achieved="$(sed -n 's/.* rate=\([0-9]*\).*/\1/p' "$out")"
    local inserted; inserted="$(sed -n 's/.* records=\([0-9]*\).*/\1/p' "$out")"
    local deadline=$((SECONDS + 120))
    until [[ "$(signed_between "$first" "$last")" == "$inserted" ]]; do
        rs_proc_alive "$pid_vent" || rs_die "the ventilator died (logs: $logs)"
        (( SECONDS < deadline )) || rs_die "records $first..$last not all signed 120 s after the client stopped"
        sleep 0.05
    done
    local -a cpu=()
    local i=0
    for p in "$pid_vent" "$pid_sink" "$pid_wk" "$pid_kc"; do
        cpu+=("$(rs_cpu_delta "${c0[$i]}" "$(rs_cpu_seconds "$p")")"); i=$((i + 1))
    done
    local pg_cpu client_cpu total other window
    pg_cpu="$(rs_cpu_delta "$pg0" "$(rs_pg_cpu_seconds "$pg_dir")")"
    client_cpu="$(awk -v a="$t_before" -v b="$t_after" 'function s(t, m) { split(t, m, "m"); return m[1] * 60 + m[2] }
        BEGIN { split(a, x, " "); split(b, y, " "); printf "%.2f", s(y[1]) + s(y[2]) - s(x[1]) - s(x[2]) }')"
    window="$(awk -v a="$wall0" -v b="$(date +%s%N)" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')"
    total="$(awk -v a="${cpu[0]}" -v b="${cpu[1]}" -v c="${cpu[2]}" -v d="${cpu[3]}" -v p="$pg_cpu" -v q="$client_cpu" \
        'BEGIN { printf "%.2f", a + b + c + d + p + q }')"
    other="$(awk -v a="$busy0" -v b="$(machine_busy_seconds)" -v t="$total" -v w="$window" -v c="$(nproc)" \
        'BEGIN { o = b - a - t; if (o < 0) o = 0; printf "%.2f", o / (w * c) }')"
    # Per record, both commit times. The backlog at a moment: records whose
    # insert had committed and whose signature had not. At the stop (the
    # client's last insert commit) and half way through; the tail: from the
    # last insert's commit to the last signature's.
    local stats p50 p99 pmax unsigned_at_stop drain mid_backlog half_s
    stats="$(rs_psql "$db_url" -F ' ' -c "
        with t as (select pg_xact_commit_timestamp(r.xmin) as ins, pg_xact_commit_timestamp(s.xmin) as sig
                   from records r join signatures s on s.record_id = r.id
                   where r.id between $first and $last),
             e as (select min(ins) as first_ins, max(ins) as last_ins, max(sig) as last_sig,
                          min(ins) + (max(ins) - min(ins)) / 2 as mid from t)
        select round(percentile_cont(0.5) within group (order by ms)::numeric, 1),
               round(percentile_cont(0.99) within group (order by ms)::numeric, 1),
               round(max(ms)::numeric, 1),
               (select count(*) from t, e where t.sig > e.last_ins),
               (select round(extract(epoch from last_sig - last_ins)::numeric, 3) from e),
               (select count(*) filter (where t.ins <= e.mid and t.sig > e.mid) from t, e),
               (select round(extract(epoch from last_ins - mid)::numeric, 3) from e)
        from (select extract(epoch from sig - ins) * 1000 as ms from t) l")"
    read -r p50 p99 pmax unsigned_at_stop drain mid_backlog half_s <<<"$stats"
    local growth
    growth="$(awk -v e="$unsigned_at_stop" -v m="$mid_backlog" -v h="$half_s" \
        'BEGIN { if (h > 0) printf "%.0f", (e - m) / h; else print 0 }')"
    printf '%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n' "$kind" "$rate" "$rows" "$inserted" \
        "$achieved" "$p50" "$p99" "$pmax" "$unsigned_at_stop" "$growth" "$drain" "${cpu[0]}" "${cpu[1]}" "${cpu[2]}" \
        "${cpu[3]}" "$pg_cpu" "$client_cpu" "$other" >>"$csv"
    rs_say "  inserted $inserted at $achieved/s; latency ms p50 $p50, p99 $p99, max $pmax; $unsigned_at_stop unsigned at the stop, the last signed $drain s after the last insert"
    # Where the time goes, per record, in three stages cut by the lease's
    # grant (the keycoord's event time) and signed_at (the sink's clock just
    # before its COPY): insert commit -> grant (notification, the
    # ventilator's read and linger, the batch's way to a worker thread, the
    # lease request), grant -> COPY (signing, the push, the sink's wait for
    # its flush), COPY -> commit (the COPY and its commit).
    local stages
    stages="$(rs_psql "$db_url" -F ' ' -c "
        with t as (select extract(epoch from l.granted_at - pg_xact_commit_timestamp(r.xmin)) * 1000 as a,
                          extract(epoch from s.signed_at - l.granted_at) * 1000 as b,
                          extract(epoch from pg_xact_commit_timestamp(s.xmin) - s.signed_at) * 1000 as c
                   from records r join signatures s on s.record_id = r.id join leases l on l.id = s.lease_id
                   where r.id between $first and $last)
        select concat_ws(' ', round(percentile_cont(0.5) within group (order by a)::numeric, 1),
                              round(percentile_cont(0.99) within group (order by a)::numeric, 1),
                              round(percentile_cont(0.5) within group (order by b)::numeric, 1),
                              round(percentile_cont(0.99) within group (order by b)::numeric, 1),
                              round(percentile_cont(0.5) within group (order by c)::numeric, 1),
                              round(percentile_cont(0.99) within group (order by c)::numeric, 1))
        from t")"
    local a50 a99 b50 b99 c50 c99
    read -r a50 a99 b50 b99 c50 c99 <<<"$stages"
    rs_say "  stages ms p50/p99: commit -> lease grant $a50/$a99, grant -> sink's COPY $b50/$b99, COPY -> commit $c50/$c99"
    echo "$kind,$rate,$rows,$a50,$a99,$b50,$b99,$c50,$c99" >>"$stages_csv"
    # Sustained: the client kept 95 % of the rate, and the backlog grew
    # by less than 5 % of the rate over the second half.
    rs_say "  backlog half way $mid_backlog, at the stop $unsigned_at_stop: growing by $growth records/s"
    last_sustained=0
    if awk -v a="$achieved" -v r="$rate" -v g="$growth" \
        'BEGIN { exit !(a >= 0.95 * r && g <= 0.05 * r) }'; then
        last_sustained=1
    fi
    next_id=$((last + 1))
}

for rows in "${ROWS[@]}"; do
    for rate in "${RATES[@]}"; do
        scenario latency "$rate" "$rows" "$seconds"
    done
done

sustained=""
if (( sustain_seconds > 0 )); then
    for tenth in 5 6 7 8 9 10 11 12; do
        rate=$((batch_rate * tenth / 10))
        scenario sustain "$rate" 1000 "$sustain_seconds"
        (( last_sustained )) || { rs_say "  not sustained"; break; }
        sustained="$rate"
    done
fi

rs_say "SIGTERM to the ventilator; recsign audit"
kill -TERM "$pid_vent"
rs_wait_proc "$pid_vent" 30 || rs_die "the ventilator did not stop within 30 s"
[[ "$RS_WAIT_STATUS" == 0 ]] || rs_die "the ventilator exited with status $RS_WAIT_STATUS"
rs_proc_stop_all
"$bin_admin" audit --db "$db_url" >"$logs/audit.log" 2>&1 \
    || { cat "$logs/audit.log" >&2; rs_die "AUDIT FAILED (log: $logs/audit.log)"; }

# --- table -------------------------------------------------------------------------
{
    echo "recsign follow mode, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, batch size $batch, linger $linger ms, $keys keys, 1 worker x $threads threads, client on $connections connections"
    echo
    echo "batch-mode rate: $batch_rate records/s ($b_signed records)"
    echo
    echo "| kind | rate asked | rows/txn | records | insert rate | p50 ms | p99 ms | max ms | unsigned at stop | backlog growth /s | tail s | CPU s: ventilator | sink | worker | keycoord | PostgreSQL | client | other load |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    awk -F, 'NR > 1 { printf "| %s |", $1; for (i = 2; i <= 18; i++) printf " %s |", $i; printf "\n" }' "$csv"
    echo
    if [[ -n "$sustained" ]]; then
        echo "highest sustained rate: $sustained records/s = $(awk -v s="$sustained" -v b="$batch_rate" 'BEGIN { printf "%.2f", s / b }') of the batch-mode rate (target 0.8)"
    elif (( sustain_seconds > 0 )); then
        echo "highest sustained rate: below 0.5 of the batch-mode rate (target 0.8)"
    fi
} >"$table"
echo
cat "$table"
echo
awk -F, 'NR > 1 && $1 == "latency" {
        target = $2 <= 1000 ? 100 : ($2 <= 10000 ? 500 : 0)
        if (target) printf "%s records/s, %s-row transactions: p99 %s ms, target %s ms: %s\n", $2, $3, $7, target, ($7 <= target ? "met" : "MISSED")
    }' "$csv"
echo
echo "results: $csv"
echo "table:   $table"
echo "logs:    $logs"
