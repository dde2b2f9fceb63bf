#!/usr/bin/env bash
# stage_generators.sh: the load generators of scripts/bench_stages.sh,
# each run briefly against real processes, do what they report. The
# ventilator's takes every record the ventilator sends and gets it stored
# (one lease per batch, through the keycoord and the sink), so that the run
# completes; the sink's gets exactly the records it names stored, under
# leases the keycoord logged, through one sink or spread over two; the
# keycoord's leases are all in the log and all ended. Bad input to each is
# a one-line error and a non-zero exit.
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

BENCH_SINK="${bin_bench_sink:?}"
BENCH_VENT="${bin_bench_ventilator:?}"
BENCH_KC="${bin_bench_keycoord:?}"
rs_need_bins "$BENCH_SINK" "$BENCH_VENT" "$BENCH_KC"
command -v curl >/dev/null || h_fail "curl is not installed"

batch=100
h_start_db
h_init --keys 12 --records 6000
h_worker_endpoints
mport1="" mport2="" port_sink2=""
h_free_port mport1 || h_fail "no free port"
h_free_port mport2 || h_fail "no free port"
h_free_port port_sink2 || h_fail "no free port"
sink2_ep="tcp://127.0.0.1:$port_sink2"
h_start_keycoord
h_start_sink --metrics-bind "127.0.0.1:$mport1"

# stored_total PORT: the sink's recsign_signatures_stored_total.
stored_total() {
    curl -fsS "http://127.0.0.1:$1/metrics" | awk '$1 == "recsign_signatures_stored_total" { print $2 }'
}
# signed_in FROM TO: signatures of records FROM..TO; distinct leases; of
# those, leases whose holder is not HOLDER's.
leases_of() {
    h_sql "select count(*), count(distinct s.lease_id),
                  count(distinct s.lease_id) filter (where l.holder not like '%/$3/%')
           from signatures s join leases l on l.id = s.lease_id
           where s.record_id between $1 and $2" | tr '|' ' '
}
# add_records FROM TO: inserts records FROM..TO.
add_records() {
    h_sql "insert into records (id, payload) select g, $(h_payload_sql g 120) from generate_series($1, $2) g" >/dev/null
}

h_step "ventilator generator: every record of the run, then stored"
h_start_ventilator "$batch"
"$BENCH_VENT" --ventilator "$H_EP_VENT" --keycoord "$H_EP_KC" --sink "$H_EP_SINK" --records 6000 \
    --pullers 2 --threads 2 >"$H_LOGS/bench-vent.out" 2>"$H_LOGS/bench-vent.log" \
    || { cat "$H_LOGS/bench-vent.log" >&2; h_fail "recsign-bench-ventilator failed"; }
cat "$H_LOGS/bench-vent.out" >&2
line="$(grep '^stage=ventilator ' "$H_LOGS/bench-vent.out")" || h_fail "no result line from recsign-bench-ventilator"
h_eq "$(rs_field records "$line")" 6000 "records the ventilator generator received"
h_eq "$(rs_field batches "$line")" 60 "batches it received"
stored="$(grep '^stored: ' "$H_LOGS/bench-vent.out")" || h_fail "no stored line from recsign-bench-ventilator"
h_eq "$(rs_field leases "$stored")" 60 "leases it stored them under"
h_eq "$(rs_field records "$stored")" 6000 "records it pushed to the sink"
h_wait_ventilator 60
h_check_complete
h_check_leases "$batch"
h_eq "$(leases_of 1 6000 ventbench)" "6000 60 0" "signatures, leases, leases of another holder (records 1-6000)"

h_step "sink generator, one sink: records 6001-10000"
add_records 6001 10000
run="$(h_sql "insert into runs (batch_size) values ($batch) returning id")"
before1="$(stored_total "$mport1")"
"$BENCH_SINK" --db "$H_DB" --run-id "$run" --first-id 6001 --records 4000 --batch-records "$batch" \
    --threads 3 --keycoord "$H_EP_KC" --sink "$H_EP_SINK" \
    >"$H_LOGS/bench-sink1.out" 2>"$H_LOGS/bench-sink1.log" \
    || { cat "$H_LOGS/bench-sink1.log" >&2; h_fail "recsign-bench-sink failed (one sink)"; }
line="$(grep '^stage=sink ' "$H_LOGS/bench-sink1.out")" || h_fail "no result line from recsign-bench-sink"
echo "$line" >&2
h_eq "$(rs_field records "$line") $(rs_field leases "$line") $(rs_field sinks "$line")" "4000 40 1" \
    "records, leases and sinks the sink generator reports"
h_eq "$(leases_of 6001 10000 sinkbench)" "4000 40 0" "signatures, leases, leases of another holder (records 6001-10000)"
h_eq "$(( $(stored_total "$mport1") - before1 ))" 4000 "signatures the sink counted stored"
h_eq "$(h_sql 'select stored from signature_counts')" 10000 "signature_counts"

h_step "sink generator, two sinks: records 10001-14000 spread over both"
add_records 10001 14000
rs_proc_start sink-2 "$H_LOGS/sink-2.log" \
    "${H_RUN[@]}" "$H_SINK" --db "$H_DB" --bind "$sink2_ep" --metrics-bind "127.0.0.1:$mport2"
h_wait_until 30 "the second sink's metrics" stored_total "$mport2"
before1="$(stored_total "$mport1")"
"$BENCH_SINK" --db "$H_DB" --run-id "$run" --first-id 10001 --records 4000 --batch-records "$batch" \
    --threads 4 --keycoord "$H_EP_KC" --sink "$H_EP_SINK,$sink2_ep" \
    >"$H_LOGS/bench-sink2.out" 2>"$H_LOGS/bench-sink2.log" \
    || { cat "$H_LOGS/bench-sink2.log" >&2; h_fail "recsign-bench-sink failed (two sinks)"; }
line="$(grep '^stage=sink ' "$H_LOGS/bench-sink2.out")" || h_fail "no result line from recsign-bench-sink"
echo "$line" >&2
h_eq "$(rs_field records "$line") $(rs_field sinks "$line")" "4000 2" "records and sinks the sink generator reports"
h_eq "$(leases_of 10001 14000 sinkbench)" "4000 40 0" "signatures, leases, leases of another holder (records 10001-14000)"
by1=$(( $(stored_total "$mport1") - before1 ))
by2="$(stored_total "$mport2")"
(( by1 > 0 && by2 > 0 )) || h_fail "the results were not spread: sink 1 stored $by1, sink 2 $by2"
h_eq "$(( by1 + by2 ))" 4000 "signatures the two sinks counted stored"
h_step "two sinks stored $by1 and $by2"
h_check_complete
h_check_leases "$batch"

h_step "keycoord generator: every cycle a lease in the log, all ended"
line="$("$BENCH_KC" --keycoord "$H_EP_KC" --holders 2 --seconds 1 --warmup-ms 0 --run-id "$run" \
    --batch-records "$batch" 2>"$H_LOGS/bench-kc.log")" \
    || { cat "$H_LOGS/bench-kc.log" >&2; h_fail "recsign-bench-keycoord failed"; }
echo "$line" >&2
cycles="$(rs_field cycles "$line")"
(( cycles > 0 )) || h_fail "recsign-bench-keycoord counted no cycle: $line"
h_wait_sql "select count(*) from leases where holder like '%/kcbench/%' and ended_at is null" 0 \
    "leases of the keycoord generator still open"
kc_leases="$(h_sql "select count(*) from leases where holder like '%/kcbench/%'")"
(( kc_leases >= cycles )) || h_fail "the lease log holds $kc_leases leases of the keycoord generator; it counted $cycles cycles"
h_check_leases "$batch"

h_step "bad input: a one-line error and a non-zero exit"
# bad NAME STATUS PATTERN COMMAND...: COMMAND must exit STATUS with exactly
# one error line on stderr, matching PATTERN, and print no result.
bad() {
    local name="$1" want="$2" pattern="$3" st=0 errors
    shift 3
    "$@" >"$H_LOGS/bad-$name.out" 2>"$H_LOGS/bad-$name.log" || st=$?
    [[ "$st" == "$want" ]] || { cat "$H_LOGS/bad-$name.log" >&2; h_fail "$name: exit status $st; expected $want"; }
    [[ ! -s "$H_LOGS/bad-$name.out" ]] || h_fail "$name: printed a result: $(cat "$H_LOGS/bad-$name.out")"
    errors="$(grep -Ec '(: error: | ERROR )' "$H_LOGS/bad-$name.log" || true)"
    [[ "$errors" == 1 ]] || { cat "$H_LOGS/bad-$name.log" >&2; h_fail "$name: $errors error lines; expected one"; }
    grep -E '(: error: | ERROR )' "$H_LOGS/bad-$name.log" | grep -Eq -- "$pattern" \
        || { cat "$H_LOGS/bad-$name.log" >&2; h_fail "$name: the error does not match '$pattern'"; }
    echo "    $name: $(grep -E '(: error: | ERROR )' "$H_LOGS/bad-$name.log")" >&2
}
sink_flags=(--db "$H_DB" --keycoord "$H_EP_KC" --timeout-ms 1000 --batch-records "$batch")
bad batch_zero 2 'batch-records is 0; expected an integer from 1' \
    "$BENCH_SINK" "${sink_flags[@]}" --sink "$H_EP_SINK" --batch-records 0
bad sink_no_port 2 "--sink: endpoint 'tcp://127.0.0.1' has no port" \
    "$BENCH_SINK" "${sink_flags[@]}" --sink tcp://127.0.0.1
bad sink_empty_item 2 "--sink: .* is not a list of endpoints" \
    "$BENCH_SINK" "${sink_flags[@]}" --sink "$H_EP_SINK,,$sink2_ep"
bad no_such_run 1 'granted no lease: is run 999 in the runs table' \
    "$BENCH_SINK" "${sink_flags[@]}" --sink "$H_EP_SINK" --run-id 999 --first-id 20001 --records 100
bad batch_over_run 1 "granted no lease: is run $run in the runs table, with a batch size of at least 500" \
    "$BENCH_SINK" "${sink_flags[@]}" --sink "$H_EP_SINK" --run-id "$run" --batch-records 500 --records 500
bad already_signed 1 'the sinks stored nothing for 1000 ms, with 200 of the 200 results sent not stored' \
    "$BENCH_SINK" "${sink_flags[@]}" --sink "$H_EP_SINK" --run-id "$run" --first-id 1 --records 200
bad bad_db 1 'connect|database' \
    "$BENCH_SINK" --db "postgresql://recsign@/nosuchdb?host=$H_PG" --sink "$H_EP_SINK" --timeout-ms 1000
bad pullers_zero 2 'pullers is 0; expected an integer from 1' \
    "$BENCH_VENT" --pullers 0
free_port=""
h_free_port free_port || h_fail "no free port"
bad no_ventilator 1 'no batch from the ventilator for 500 ms after 0 of the 10 records' \
    "$BENCH_VENT" --ventilator "tcp://127.0.0.1:$free_port" --records 10 --timeout-ms 500
h_eq "$(h_sql 'select count(*) from signatures')" 14000 "signatures after the bad input"

h_stop_services
echo "$RS_PROG: ok: ventilator, sink (one and two) and keycoord generators; bad input refused; test took $SECONDS s"
