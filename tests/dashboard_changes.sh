#!/usr/bin/env bash
# dashboard_changes.sh: `recsign dashboard` follows what operators do to
# the tables, at a cost per refresh that does not grow with them:
#   1. records deleted after a run leave the total (`recsign status` and
#      the dashboard agree); once the total never went down;
#   2. an operator's reset (TRUNCATE signatures and leases, as
#      rs_reset_signing does) brings the signed count and every key's use
#      count back to 0; once the page kept the old uses and showed more
#      signed than stored.
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

records=2000
h_start_db
h_init --keys 4 --records "$records"
h_start_services 1 2
h_run_ventilator 10
h_stop_services

dport=""
h_free_port dport || h_fail "no free port"
url="http://127.0.0.1:$dport/"
rs_proc_start dashboard "$H_LOGS/dashboard.log" "${H_RUN[@]}" "$H_ADMIN" dashboard --db "$H_DB" \
    --bind "127.0.0.1:$dport" --refresh-ms 200
state_has() { curl -fs "${url}state.json" 2>/dev/null | grep -q "$1"; }
uses() { curl -fs "${url}state.json" | grep -oE '"uses":[0-9]+' | awk -F: '{ n += $2 } END { print n + 0 }'; }
h_wait_until 30 "the dashboard's first state" state_has "\"signed\":$records,\"total\":$records,"
h_eq "$(uses)" "$(h_sql 'select count(*) from leases')" "key uses against the lease log"

h_step "1. delete 380 records"
h_sql "delete from records where id % 10 < 1 or id > 1800" >/dev/null
left="$(h_sql 'select count(*) from records')"
h_wait_until 10 "the dashboard's total of $left" state_has "\"total\":$left,"

h_step "2. an operator's reset of the signing state"
h_sql "TRUNCATE signatures, leases; DELETE FROM runs;
       UPDATE keys SET live_at = NULL, retired_at = NULL, retire_requested_at = NULL;
       UPDATE keycoord_state SET clean_stop = true;" >/dev/null
h_eq "$(h_sql 'select stored from signature_counts')" 0 "signature_counts after TRUNCATE (by trigger)"
h_wait_until 10 "the dashboard's signed count of 0" state_has "\"signed\":0,\"total\":$left,"
no_uses() { [[ "$(uses)" == 0 ]]; }
h_wait_until 10 "every key's use count back to 0" no_uses

h_step "a new run: uses and counts from the new lease log"
h_start_services 1 2
h_run_ventilator 10
h_wait_until 10 "the dashboard's signed count of $left" state_has "\"signed\":$left,\"total\":$left,"
uses_match() { [[ "$(uses)" == "$(h_sql 'select count(*) from leases')" ]]; }
h_wait_until 10 "key uses equal to the new lease log" uses_match
h_stop_services
echo "$RS_PROG: ok: the dashboard followed deletions and a reset; test took $SECONDS s"
