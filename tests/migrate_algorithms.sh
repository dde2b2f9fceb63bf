#!/usr/bin/env bash
# migrate_algorithms.sh: a database of schema version 2 (keys without an
# algorithm, signed with them) migrates in place: `recsign init` adds
# keys.algorithm with every existing key as 'ed25519', keeps the 32-byte
# check for Ed25519 keys only, and verify and audit pass on the old
# signatures; then ECDSA P-256 keys are added and a second run signs new
# records with both. Migration 3 is re-runnable: applied again over itself
# (its version mark removed), it changes nothing.
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

h_start_db
h_init --keys 4 --records 1000
h_start_services 1 2
h_run_ventilator 10
h_stop_services

h_step "back to schema version 2 (as a database made before key algorithms)"
h_sql "
alter table keys drop constraint keys_public_key_check;
alter table keys drop constraint keys_algorithm_check;
alter table keys drop column algorithm;
alter table keys add constraint keys_public_key_check check (length(public_key) = 32);
delete from schema_migrations where version >= 3;" >/dev/null
h_eq "$(h_sql "select max(version) from schema_migrations")" 2 "schema version before"
rc=0
h_admin verify >"$H_LOGS/verify.v2.out" 2>&1 || rc=$?
h_eq "$rc" 1 "verify on a version 2 database (refused: init must migrate it first)"

h_step "recsign init migrates it in place"
h_init
h_eq "$(h_sql "select max(version) from schema_migrations")" 9 "schema version after"
h_eq "$(h_sql "select string_agg(distinct algorithm, ',') from keys")" ed25519 "algorithm of the existing keys"
h_verify
h_audit
rc=0
h_sql "insert into keys (id, public_key, sealed_secret) values (99, '\\x00', '\\x00')" >/dev/null 2>&1 || rc=$?
(( rc != 0 )) || h_fail "a 1-byte Ed25519 public key was accepted"
rc=0
h_sql "insert into keys (id, algorithm, public_key, sealed_secret) values (99, 'rsa-1024', repeat('x', 100)::bytea, '\\x00')" \
    >/dev/null 2>&1 || rc=$?
(( rc != 0 )) || h_fail "an unknown algorithm was accepted"

h_step "migrations 3 and later applied again over themselves change nothing"
h_sql "delete from schema_migrations where version >= 3" >/dev/null
h_init
h_eq "$(h_sql "select count(*) from keys where algorithm = 'ed25519'")" 4 "Ed25519 keys after re-applying"
h_eq "$(h_sql "select count(*) from pg_constraint where conrelid = 'keys'::regclass and conname in ('keys_public_key_check', 'keys_algorithm_check')")" \
    2 "checks on keys"
h_eq "$(h_sql "select count(*) from pg_trigger where tgrelid = 'records'::regclass and tgname = 'records_added'")" \
    1 "notification triggers on records (migration 5)"

h_step "ECDSA P-256 keys beside the migrated ones; a second run"
h_init --keys 2 --algorithm ecdsa-p256 --records 2000
h_start_services 1 2
h_run_ventilator 10
h_finish 10
h_eq "$(h_sql "select string_agg(distinct k.algorithm, ',' order by k.algorithm) from signatures s join keys k on k.id = s.key_id")" \
    "ecdsa-p256,ed25519" "algorithms that signed"
echo "$RS_PROG: ok: a version 2 database migrated in place; its Ed25519 signatures verify; ECDSA keys added and used"
