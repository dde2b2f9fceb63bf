#!/usr/bin/env bash
# no_key_in_service.sh: every key retired, then a run. Nothing is signed,
# and the keycoord says why (its workers only see a keycoord that does not
# answer): "no key is in service ... add keys with `recsign keys add`".
# Doing so lets the run complete; verify and audit pass.
source "$(dirname "${BASH_SOURCE[0]}")/../harness.sh"

records=500 batch=10
h_fault_options 5000 1000
h_start_db
h_init --keys 2 --records "$records"
h_keys retire 1 2 >/dev/null 2>&1 || h_fail "keys retire failed"
h_start_services 1 2
h_start_ventilator "$batch"
warned() { grep -q 'no key is in service (2 keys: 2 retired, 0 quarantined): [0-9]* holders wait for a key; add keys with `recsign keys add`' "$H_LOGS/keycoord.log"; }
h_wait_until 30 "the keycoord's warning that no key is in service" warned
h_eq "$(h_sql 'select count(*) from signatures')" 0 "signatures while no key is in service"
h_step "recsign keys add 1"
h_keys add 1 --master-key "$H_KEY" >"$H_LOGS/keys-add.log" 2>&1 \
    || { cat "$H_LOGS/keys-add.log" >&2; h_fail "keys add failed"; }
h_wait_ventilator 120
h_stop_services
h_check_complete
h_eq "$(h_sql 'select count(distinct key_id) from signatures')" 1 "keys that signed"
h_eq "$(h_sql 'select min(key_id) from signatures')" 3 "the key that signed"
h_verify
h_audit
echo "$RS_PROG: ok: with every key retired the keycoord said so and nothing was signed; after keys add the run completed with key 3"
