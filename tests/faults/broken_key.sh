#!/usr/bin/env bash
# broken_key.sh: one byte of keys.sealed_secret of key 2 of 3 flipped. The
# worker names the key, gives its lease back as broken and keeps signing;
# the batch is signed with another key; the keycoord quarantines key 2
# (keys.quarantined_at, on its clock) and never leases it again; the run
# completes with keys 1 and 3; status and keys list show the quarantine
# (status with each key in one state, also once it is retired);
# audit's LRU replay takes the key out of the queue at quarantined_at and
# counts it as quarantined, not retired; once an operator retires it, as
# retired (once). A worker with a wrong master key still stops with a
# clear error, and its failures quarantine nothing.
source "$(dirname "${BASH_SOURCE[0]}")/../harness.sh"

records=2000 batch=10
h_fault_options 5000 1000
h_start_db
h_init --keys 3 --records "$records"
h_damage_secret 2 1
h_start_services 1 2
worker=$H_WORKER_PID
h_run_ventilator "$batch" 120

h_check_alive
h_eq "$(h_sql 'select id from keys where quarantined_at is not null')" 2 "quarantined keys"
h_eq "$(h_sql "select count(*) from leases l join keys k on k.id = l.key_id where k.id = 2 and l.granted_at >= k.quarantined_at")" \
    0 "leases of key 2 granted at or after its quarantine"
h_eq "$(h_sql 'select count(*) from signatures where key_id = 2')" 0 "signatures by key 2"
# Key 2 may be leased more than once: a lease can go back unsigned (the
# batch before it in the same grant was slow, or no thread had unsealed a
# key yet, which proves nothing of this one), CI of d9e2ccc. Only one
# lease finds it broken, and it is key 2's last.
h_eq "$(grep -c "key 2 cannot be unsealed" "$H_LOGS"/worker-1.log)" 1 "leases that found key 2 broken"
broken_lease=$(sed -n 's/.*key 2 quarantined: .* under lease \([0-9]*\);.*/\1/p' "$H_LOGS/keycoord.log")
h_eq "$(h_sql 'select max(id) from leases where key_id = 2')" "${broken_lease:-none}" "the last lease of key 2 (the one that found it broken)"
h_check_complete
h_verify
h_audit
grep -q "rule 4 (least recently used first): ok .* 0 keys retired, 1 quarantined; none leased after" "$H_LOGS/audit.out" \
    || { cat "$H_LOGS/audit.out" >&2; h_fail "audit rule 4 does not count key 2 as quarantined, apart from retired keys"; }
h_admin status >"$H_LOGS/status.out" 2>&1 || h_fail "recsign status failed"
grep -q "1 quarantined" "$H_LOGS/status.out" \
    || { cat "$H_LOGS/status.out" >&2; h_fail "status does not show the quarantined key"; }
"$H_ADMIN" keys list --db "$H_DB" >"$H_LOGS/keys.out" 2>&1 || h_fail "recsign keys list failed"
grep -Eq '^ +2 +ed25519 +quarantined ' "$H_LOGS/keys.out" \
    || { cat "$H_LOGS/keys.out" >&2; h_fail "keys list does not show key 2 quarantined"; }

# A wrong master key: every key fails. The worker stops with a clear
# error, and no key is quarantined on its word.
h_step "a worker with a wrong master key"
h_stop "$worker"
h_admin init --records 500 --master-key "$H_KEY" >>"$H_LOGS/init.log" 2>&1 || h_fail "adding records failed"
wrong="$H_DIR/wrong.key"
(umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$wrong"; echo >>"$wrong")
h_start_ventilator "$batch"
rc=0
timeout 60 "${H_RUN[@]}" "$H_WORKER" --ventilator "$H_EP_VENT" --keycoord "$H_EP_KC" --sink "$H_EP_SINK" \
    --threads 1 --master-key "$wrong" "${H_WORKER_OPTS[@]}" >"$H_LOGS/wrong-worker.log" 2>&1 || rc=$?
h_eq "$rc" 1 "exit status of the worker with a wrong master key"
grep -q "master key is not the one the keyring was sealed with" "$H_LOGS/wrong-worker.log" \
    || { cat "$H_LOGS/wrong-worker.log" >&2; h_fail "the wrong master key was not named"; }
h_eq "$(h_sql 'select count(*) from keys where quarantined_at is not null')" 1 "keys quarantined after the wrong master key"
h_start_worker 2
h_wait_ventilator 120
# The operator retires the quarantined key: it counts as retired now, once.
h_keys retire 2 >/dev/null 2>>"$H_LOGS/keys.log" || h_fail "recsign keys retire 2 failed"
h_wait_sql "select count(*) from keys where id = 2 and retired_at is not null" 1 "key 2 retired by the keycoord"
h_stop_services
h_check_complete
h_verify
h_audit
grep -q "rule 4 (least recently used first): ok .* 1 key retired, 0 quarantined; none leased after" "$H_LOGS/audit.out" \
    || { cat "$H_LOGS/audit.out" >&2; h_fail "audit rule 4 does not count the quarantined key, once retired, as one retired key"; }
# recsign status counts each key in one state, as keys list shows it:
# once, the quarantined key, retired since, was counted both retired and
# quarantined (4 of 3 keys), and while only asked to retire it was "live,
# asked to retire" too.
h_admin status >"$H_LOGS/status-end.out" 2>&1 || h_fail "recsign status failed"
h_log_has "$H_LOGS/status-end.out" '^keys: +3: 2 live, 1 retired$' "status once the quarantined key is retired"
h_sql "update keys set retired_at = null, retire_requested_at = now() where id = 2" >/dev/null
h_admin status >"$H_LOGS/status-asked.out" 2>&1 || h_fail "recsign status failed"
h_log_has "$H_LOGS/status-asked.out" '^keys: +3: 2 live, 0 retired, 1 quarantined ' \
    "status of a quarantined key asked to retire (not live, not retiring)"
echo "$RS_PROG: ok: key 2 quarantined, the run completed with keys 1 and 3; a wrong master key stopped its worker and quarantined nothing"
