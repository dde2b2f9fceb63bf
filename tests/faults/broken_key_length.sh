#!/usr/bin/env bash
# broken_key_length.sh: key 3 of 4 with a sealed secret of 0 bytes and key
# 4 with one of 70,000 (both outside 1..RS_SEALED_MAX) when the keycoord
# starts. It quarantines both (keys.quarantined_by names the length) and
# serves keys 1 and 2: the run completes, verify and audit pass. Before,
# the keycoord exited at start ("key 3 has a sealed secret of 0 bytes")
# and nothing was signed.
source "$(dirname "${BASH_SOURCE[0]}")/../harness.sh"

records=1000 batch=10
h_fault_options 5000 1000
h_start_db
h_init --keys 4 --records "$records"
h_sql "update keys set sealed_secret = '' where id = 3;
       update keys set sealed_secret = convert_to(repeat('x', 70000), 'UTF8') where id = 4" >/dev/null
h_start_services 1 2
h_run_ventilator "$batch" 120

h_check_alive
h_eq "$(h_sql "select string_agg(id || ': ' || quarantined_by, ', ' order by id) from keys where quarantined_at is not null")" \
    "3: keycoord: sealed secret of 0 bytes, 4: keycoord: sealed secret of 70000 bytes" "quarantined keys"
h_eq "$(h_sql 'select count(*) from leases where key_id in (3, 4)')" 0 "leases of the damaged keys"
h_log_has "$H_LOGS/keycoord.log" 'key 3 has a sealed secret of 0 bytes; expected 1\.\.[0-9]+: quarantined' "the keycoord's word on key 3"
h_check_complete
h_stop_services
h_verify
h_audit
grep -q "rule 4 (least recently used first): ok" "$H_LOGS/audit.out" || h_fail "audit rule 4"
echo "$RS_PROG: ok: keys 3 and 4 (sealed secrets of 0 and 70,000 bytes) quarantined at the keycoord's start; the run completed with keys 1 and 2"
