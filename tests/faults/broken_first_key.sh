#!/usr/bin/env bash
# broken_first_key.sh: the secret of key 1 of 3, the key the keycoord
# grants first, damaged, with one signing thread leasing keys for several
# batches at once. The thread gives the key back last (not first, which
# made it the least recently used key again, granted straight back until
# its failures read as a wrong master key and the worker stopped); the
# next key proves the master key, key 1 is quarantined and the run
# completes with keys 2 and 3. Then `recsign keys add` with the right
# master key is accepted (it tried only the lowest key's secret, the
# damaged one, and refused every master key), a wrong one refused, and
# `init` with a master key file it has to make refused without leaving
# that file behind.
source "$(dirname "${BASH_SOURCE[0]}")/../harness.sh"

records=1000 batch=10
h_fault_options 5000 1000
h_start_db
h_init --keys 3 --records "$records"
h_damage_secret 1 255
h_start_services 1 1
h_run_ventilator "$batch" 120

h_check_alive
h_log_lacks "$H_LOGS/worker-1.log" 'master key is not the one' "the worker (a damaged key is no wrong master key)"
h_eq "$(h_sql 'select id from keys where quarantined_at is not null')" 1 "quarantined keys"
h_eq "$(h_sql 'select count(*) from signatures where key_id = 1')" 0 "signatures by key 1"
h_check_complete
h_stop_services
h_verify
h_audit

h_step "keys add with the right master key, key 1 damaged"
h_keys add 1 --master-key "$H_KEY" >"$H_LOGS/keys-add.log" 2>&1 \
    || { cat "$H_LOGS/keys-add.log" >&2; h_fail "keys add refused the right master key"; }
h_eq "$(h_sql 'select count(*) from keys')" 4 "keys after keys add"
wrong="$H_DIR/wrong.key"
(umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$wrong"; echo >>"$wrong")
rc=0
"$H_ADMIN" keys add 1 --db "$H_DB" --master-key "$wrong" >"$H_LOGS/keys-add-wrong.log" 2>&1 || rc=$?
h_eq "$rc" 1 "exit status of keys add with a wrong master key"
grep -q "opens none of the 4 key secrets tried" "$H_LOGS/keys-add-wrong.log" \
    || { cat "$H_LOGS/keys-add-wrong.log" >&2; h_fail "keys add did not name the wrong master key"; }
h_eq "$(h_sql 'select count(*) from keys')" 4 "keys after the refused keys add"
# init with a master key file that is not there yet makes one, which opens
# none of the keyring's secrets: refused, and the file it made is gone.
rc=0
"$H_ADMIN" init --db "$H_DB" --keys 1 --master-key "$H_DIR/new.key" >"$H_LOGS/init-new.log" 2>&1 || rc=$?
h_eq "$rc" 1 "exit status of init with a new master key on an existing keyring"
[[ ! -e "$H_DIR/new.key" ]] || h_fail "init left the master key file it made, which opens no key of the keyring"
h_eq "$(h_sql 'select count(*) from keys')" 4 "keys after the refused init"
echo "$RS_PROG: ok: key 1 (granted first) quarantined, the run completed with keys 2 and 3; keys add took the right master key and refused a wrong one"
