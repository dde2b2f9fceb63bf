#!/usr/bin/env bash
# keys_rotation.sh: `recsign keys` and rule 4 with rotation. After a run
# on 4 keys, keys are added and retired while a second run signs (the
# running keycoord picks both up): the second run completes, retired keys
# get no lease granted at or after their retired_at, the new keys go live
# and are used, and verify and audit pass ("2 keys retired, 0 quarantined; none leased
# after retirement"). `keys list`, `keys export` (JSON and PEM, read back
# with OpenSSL) and `status` show the rotation; a retire of an unknown id
# changes nothing and exits 1; bad operands exit 2 with one error line.
# Finally the audit is shown failing on a planted grant of a retired key
# and on a grant before its key's live_at.
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

h_start_db
h_init --keys 4 --records 3000
h_start_services 1 2
h_run_ventilator 10
h_wait_sql "select count(*) from keys where live_at is not null" 4 "keys live after run 1"

h_step "bad operands (exit 2, one error line)"
for args in "add" "add 0" "add x" "add 1 2" "retire" "retire abc" "retire 1 2x" "export --format xml" \
            "frob" "list extra"; do
    rc=0
    # shellcheck disable=SC2086  # $args is a word list on purpose
    RECSIGN_LOG_LEVEL=error "$H_ADMIN" keys $args --db "$H_DB" >/dev/null 2>"$H_DIR/err" || rc=$?
    h_eq "$rc" 2 "exit status of 'keys $args'"
    h_eq "$(wc -l <"$H_DIR/err")" 1 "stderr lines of 'keys $args'"
    grep -q 'error' "$H_DIR/err" || h_fail "'keys $args' printed no error"
done

h_step "keys retire of an unknown id changes nothing (exit 1)"
rc=0
RECSIGN_LOG_LEVEL=error h_keys retire 3 99 >/dev/null 2>"$H_DIR/err" || rc=$?
h_eq "$rc" 1 "exit status of 'keys retire 3 99'"
h_eq "$(wc -l <"$H_DIR/err")" 1 "stderr lines of 'keys retire 3 99'"
grep -q 'no key with id 99' "$H_DIR/err" || { cat "$H_DIR/err" >&2; h_fail "the unknown id is not named"; }
h_eq "$(h_sql 'select count(*) from keys where retire_requested_at is not null')" 0 "retirements requested"

h_step "more records; keys added and retired while run 2 signs"
h_init --records 20000
# A worker paced to 2,000 signatures/s: the run lasts 10 s, so that the
# rotation, which takes well under a second, always happens during it (an
# unpaced run could end before a descheduled 'keys add', and the new keys
# would then not be used in it).
h_stop "$H_WORKER_PID"
h_start_worker 2 --max-rate 2000
# The rotation runs beside the ventilator (started by the harness as usual).
( h_keys add 2 --master-key "$H_KEY" >"$H_DIR/added.out" 2>>"$H_LOGS/keys.log" \
      && h_keys retire 1 2 >"$H_DIR/retire.out" 2>>"$H_LOGS/keys.log" ) &
rotation=$!
h_run_ventilator 10
wait "$rotation" || h_fail "keys add or keys retire failed (see keys.log)"
h_eq "$(cat "$H_DIR/added.out")" $'5\n6' "ids printed by keys add (one per line)"
h_eq "$(grep -c 'retirement requested' "$H_DIR/retire.out")" 2 "retirements reported"
h_wait_sql "select count(*) from keys where retired_at is not null" 2 "keys retired by the keycoord"
h_wait_sql "select count(*) from keys where live_at is not null" 6 "keys live"
h_stop_services
h_check_complete

h_eq "$(h_sql "select count(*) from leases l join keys k on k.id = l.key_id
               where k.retired_at is not null and l.granted_at >= k.retired_at")" 0 \
    "leases granted at or after their key's retirement"
h_eq "$(h_sql "select count(*) from keys k where k.id in (5, 6)
               and exists (select 1 from leases l where l.key_id = k.id)")" 2 "new keys used"
h_keys retire 1 >"$H_DIR/again.out" 2>/dev/null || h_fail "retiring a retired key again failed"
grep -q 'key 1: already retired at' "$H_DIR/again.out" || { cat "$H_DIR/again.out" >&2; h_fail "no 'already retired'"; }
h_verify
h_audit
grep -q 'rule 4 .*: ok .*2 keys retired, 0 quarantined; none leased after retirement' "$H_LOGS/audit.out" \
    || { cat "$H_LOGS/audit.out" >&2; h_fail "audit does not report the retired keys"; }

h_step "keys list, status, keys export"
h_keys list >"$H_DIR/list.out" 2>/dev/null || h_fail "keys list failed"
h_eq "$(grep -Ec '^ +[12] +ed25519 +retired ' "$H_DIR/list.out")" 2 "retired keys listed"
h_eq "$(grep -Ec '^ +[3-6] +ed25519 +live ' "$H_DIR/list.out")" 4 "live keys listed"
h_admin status >"$H_DIR/status.out" 2>/dev/null || h_fail "status failed"
grep -q '^keys: *6: 4 live, 2 retired' "$H_DIR/status.out" || { cat "$H_DIR/status.out" >&2; h_fail "status key counts"; }
h_keys export --format pem --out "$H_DIR/pem" >"$H_DIR/pem.out" 2>/dev/null || h_fail "keys export --format pem failed"
h_eq "$(wc -l <"$H_DIR/pem.out")" 6 "PEM files reported"
for id in 1 2 3 4 5 6; do
    f="$H_DIR/pem/key-$id.pem"
    h_eq "$(openssl pkey -pubin -in "$f" -outform DER 2>/dev/null | od -An -tx1 -v | tr -d ' \n' | tail -c 64)" \
        "$(h_sql "select encode(public_key, 'hex') from keys where id = $id")" "public key in $f"
done
h_keys export >"$H_DIR/keys.json" 2>/dev/null || h_fail "keys export (json) failed"
h_eq "$(grep -c '"public_key_hex"' "$H_DIR/keys.json")" 6 "keys in the JSON export"
grep -q 'sealed\|secret' "$H_DIR/keys.json" && h_fail "the JSON export mentions a secret"
if command -v jq >/dev/null 2>&1; then
    h_eq "$(jq '[.keys[] | select(.retired_at != null) | .id] | join(",")' -r "$H_DIR/keys.json")" "1,2" \
        "retired keys in the JSON export"
    # (The PEM file's first line, outside the PEM block, says how the key signs.)
    h_eq "$(jq -j '.keys[0].public_key_pem' "$H_DIR/keys.json" | cmp - <(tail -n +2 "$H_DIR/pem/key-1.pem") && echo same)" same \
        "JSON and PEM exports of key 1"
fi

h_sql "create schema scratch" >/dev/null
# expect_rule4 WORDS: audit exits 1 with rule 4 violated, naming WORDS.
expect_rule4() {
    local rc=0 out="$H_LOGS/audit.fail.out"
    h_admin audit >"$out" 2>&1 || rc=$?
    h_eq "$rc" 1 "audit exit status with a planted violation"
    grep -Eq "^rule 4 .*VIOLATED.*$1" "$out" || { cat "$out" >&2; h_fail "audit did not report: $1"; }
    grep -E '^rule [1235] .*VIOLATED' "$out" && h_fail "a planted rule 4 violation broke another rule"
    echo "$RS_PROG: audit failed as expected: $(grep '^rule 4' "$out")" >&2
}

h_step "planted: a grant of a retired key"
h_sql "
create table scratch.planted as select * from leases where key_id = 1 order by id desc limit 1;
update scratch.planted p set id = (select max(id) + 1 from leases), holder = 'intruder',
       granted_at = k.retired_at + interval '1 second', ended_at = k.retired_at + interval '2 seconds'
  from keys k where k.id = 1;
insert into leases select * from scratch.planted;" >/dev/null
expect_rule4 'at or after its retirement: 1 \(lease [0-9]+ took key 1\)'
h_sql "delete from leases where id = (select id from scratch.planted); drop table scratch.planted;" >/dev/null
h_audit

h_step "planted: key 5 live after its first grant"
h_sql "
create table scratch.saved as select id, live_at from keys where id = 5;
update keys set live_at = (select min(granted_at) from leases where key_id = 5) + interval '1 microsecond'
 where id = 5;" >/dev/null
expect_rule4 'before it went live'
h_sql "update keys k set live_at = s.live_at from scratch.saved s where k.id = s.id; drop table scratch.saved;" >/dev/null
h_audit

# A retirement beside a lease-log write in flight: the write's foreign key
# check holds key 3's row FOR KEY SHARE until it commits. The retirement
# must not wait for it (before the fix it took the row FOR UPDATE, waited,
# and, having locked another key the write then needed, deadlocked: a CI
# run's 'keys retire 1 2' beside run 2 failed so).
h_step "keys retire beside a lease-log write holding key 3 (FOR KEY SHARE)"
h_psql_session writer
h_psql_say "begin; select id from keys where id = 3 for key share; select 'held';"
h_wait_until 10 "the writer's lock on key 3" grep -q '^held$' "$H_LOGS/writer.log"
rc=0
timeout -k 5 15 "$H_ADMIN" keys retire 3 --db "$H_DB" >"$H_DIR/beside.out" 2>>"$H_LOGS/keys.log" || rc=$?
(( rc != 124 )) || h_fail "'keys retire 3' waited for a lease-log write's key share lock"
h_eq "$rc" 0 "exit status of 'keys retire 3' beside the write"
grep -q 'key 3: retirement requested' "$H_DIR/beside.out" || { cat "$H_DIR/beside.out" >&2; h_fail "key 3 not retired"; }
h_psql_say "commit;"
h_psql_end
echo "$RS_PROG: ok: 2 keys added and 2 retired during a run; audit proves rule 4 with rotation; a retirement does not wait for a lease-log write"
