#!/usr/bin/env bash
# deleted_records.sh: records deleted while a run is in progress. 300
# records whose batches were dispatched (and partly signed) are deleted
# mid-run, together with 300 not reached yet. The run completes; the
# signatures of deleted records stay (no service may delete one) and are
# told apart from a broken rule: `recsign verify` and `recsign audit` exit
# 0 and name them with a count and example ids, `recsign status` shows
# them. A signature of a record that never existed is still a violation.
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

records=6000 batch=50
h_fault_options 5000 1000 1500
h_start_db
h_init --keys 3 --records "$records"
h_start_services 1 2
h_start_ventilator "$batch"

h_step "waiting for the run to be under way"
h_wait_until 60 "600 signatures" h_signed_at_least 600
h_check_mid_run
# The lowest 300 records, dispatched first (most of them signed by now,
# the rest in flight), and 300 the ventilator has not reached yet.
h_sql "delete from records where id in (select id from records order by id limit 300)
       or id in (select id from records order by id desc limit 300)" >/dev/null
h_wait_ventilator 120
h_stop_services

h_eq "$(h_sql 'select count(*) from records')" $((records - 600)) "records left"
h_eq "$(h_sql 'select count(*) from records r where not exists (select 1 from signatures s where s.record_id = r.id)')" \
    0 "records without a signature"
orphans="$(h_sql 'select count(*) from signatures s where not exists (select 1 from records r where r.id = s.record_id)')"
(( orphans > 0 )) || h_fail "no signature of a deleted record was stored; the deletion came too late to test anything"
example="$(h_sql 'select min(record_id) from signatures s where not exists (select 1 from records r where r.id = s.record_id)')"
h_step "$orphans signatures of deleted records, e.g. $example"

h_verify
h_eq "$(h_sql 'select count(*) from records_deleted')" 600 "deletions logged"
grep -q "signatures of records deleted since.*$example" "$H_LOGS/verify.out" \
    || { cat "$H_LOGS/verify.out" >&2; h_fail "verify did not name the signatures of deleted records"; }
h_audit
grep -q "^note: $orphans signatures\? of records deleted.*$example" "$H_LOGS/audit.out" \
    || { cat "$H_LOGS/audit.out" >&2; h_fail "audit did not count and name the signatures of deleted records"; }
h_admin status >"$H_LOGS/status.out" 2>&1 || h_fail "recsign status failed"
grep -q "^deleted: *$orphans signatures of records deleted" "$H_LOGS/status.out" \
    || { cat "$H_LOGS/status.out" >&2; h_fail "status did not show the signatures of deleted records"; }

# Not a blanket pass: a signature of a record that never existed is
# still a broken rule 1.
h_step "a signature of a record that never existed"
h_sql "insert into signatures select 999999999, key_id, lease_id, signature, signed_at
       from signatures order by record_id limit 1" >/dev/null
rc=0
h_admin audit >"$H_LOGS/audit.planted.out" 2>&1 || rc=$?
h_eq "$rc" 1 "audit exit status with a signature of no record"
grep -q "rule 1 .*VIOLATED.*signatures without a record: 1 (999999999)" "$H_LOGS/audit.planted.out" \
    || { cat "$H_LOGS/audit.planted.out" >&2; h_fail "audit did not report the signature of no record"; }
rc=0
h_admin verify >"$H_LOGS/verify.planted.out" 2>&1 || rc=$?
h_eq "$rc" 1 "verify exit status with a signature of no record"
echo "$RS_PROG: ok: $orphans signatures of deleted records reported apart from the rules"
