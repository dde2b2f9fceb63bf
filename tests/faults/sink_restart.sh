#!/usr/bin/env bash
# sink_restart.sh: the sink killed with SIGKILL mid-run and started again.
# What it had received but not committed is lost and dispatched again; what
# it had committed stays exactly as it was (same rows, same signatures, same
# leases, same signed_at); the new sink skips records stored already; the
# run completes with exactly one signature per record.
source "$(dirname "${BASH_SOURCE[0]}")/../harness.sh"

records=80000 keys=5 batch=5 ttl=3000
h_fault_options "$ttl" 1500

h_start_db
h_init --keys "$keys" --records "$records"
h_sql "create schema scratch" >/dev/null   # saved rows, out of the contract's way
h_start_keycoord
h_start_sink
first_sink=$H_SINK_PID
# Paced (2 x 3,000 signatures/s: about 13 s for the run), so that the kill
# lands mid-run however fast the machine is.
h_start_worker 1 --max-rate 3000
h_start_worker 1 --max-rate 3000
h_start_ventilator "$batch"

# A sample taken while the sink runs (every 7th signature stored so far:
# committed rows), with its checksum.
checksum_sql="select count(*) || ' ' || md5(string_agg(s.record_id || ':' || s.key_id || ':' || s.lease_id
              || ':' || encode(s.signature, 'hex') || ':' || s.signed_at, ',' order by s.record_id))
              from signatures s join scratch.sample_ids i using (record_id)"
h_wait_signed 5000 30
h_sql "create table scratch.sample_ids as select record_id from signatures where record_id % 7 = 0" >/dev/null
sample_before="$(h_sql "$checksum_sql")"
h_kill "$first_sink"
# Nothing writes signatures until the new sink starts: this is exactly
# what had been committed before the kill.
h_sql "create table scratch.committed as select * from signatures" >/dev/null
committed="$(h_sql 'select count(*) from scratch.committed')"
h_check_mid_run
h_step "$committed signatures committed when the sink died"
sleep 1
h_start_sink
h_wait_ventilator 90

h_eq "$(h_sql "$checksum_sql")" "$sample_before" "sample checksum of signatures stored before the kill"
h_eq "$(h_sql "select count(*) from scratch.committed c left join signatures s using (record_id)
               where s.record_id is null or s.signature <> c.signature or s.key_id <> c.key_id
                  or s.lease_id <> c.lease_id or s.signed_at <> c.signed_at")" \
    0 "signatures committed before the kill that are gone or changed"
# The new sink starts from what is stored: at least what was committed
# when the test looked (a commit already on its way when the sink was
# killed may still have landed just after).
h_wait_until 10 "the new sink's starting count" grep -q "signed at start" "$H_SINK_LOG"
at_start="$(grep -oE 'progress: [0-9]+ / [0-9]+ signed at start' "$H_SINK_LOG" | tail -n 1 | grep -oE '[0-9]+' | head -n 1)"
(( ${at_start:-0} >= committed )) \
    || h_fail "the new sink's starting count: $at_start signed, fewer than the $committed committed before the kill"
h_sql "drop schema scratch cascade" >/dev/null

h_finish "$batch"
echo "$RS_PROG: ok: $committed signatures committed before the sink was killed are unchanged; run completed in $H_VENT_SECONDS s; test took $SECONDS s"
