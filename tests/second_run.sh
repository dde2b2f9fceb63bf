#!/usr/bin/env bash
# second_run.sh: after a complete run, a second ventilator run finds nothing
# to sign: it exits 0 quickly, stores no signature, and audit still passes.
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

h_start_db
h_init --keys 20 --records 3000
h_start_services 1 2
h_run_ventilator 50
h_check_complete
sigs_before="$(h_sql 'select count(*) from signatures')"
last_signed_before="$(h_sql 'select max(signed_at) from signatures')"
last_run="$(h_sql 'select max(id) from runs')"

h_run_ventilator 50 30
(( ${H_VENT_SECONDS%.*} < 10 )) || h_fail "second run took $H_VENT_SECONDS s; expected a quick exit"
h_stop_services

h_eq "$(h_sql 'select count(*) from signatures')" "$sigs_before" "signatures after the second run"
h_eq "$(h_sql 'select max(signed_at) from signatures')" "$last_signed_before" "newest signature after the second run"
h_eq "$(h_sql "select count(*) from signatures s join leases l on l.id = s.lease_id where l.run_id > $last_run")" \
    0 "signatures made by the second run"
h_verify
h_audit
echo "$RS_PROG: ok: second run exited in $H_VENT_SECONDS s and signed nothing"
