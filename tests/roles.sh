#!/usr/bin/env bash
# roles.sh: least privilege. Migration 2 creates one role per service
# (recsign_ventilator, recsign_keycoord, recsign_sink). Connected as each
# (the test's superuser URL with options=-c role=...), every denial that
# matters is proven: no service role may UPDATE, DELETE or TRUNCATE a
# signature; the sink may not read keys (sealed secrets) nor write the
# lease log; the ventilator may not read keys nor insert signatures; the
# keycoord may not touch signatures or records. Every operation each
# service needs is proven allowed (in transactions rolled back). Then a
# whole job runs with each process connected under its role, and verify
# and audit pass; a keycoord connected under the sink's role is refused.
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

h_start_db
h_init --keys 5 --records 2000
h_start_services 1 2
h_run_ventilator 25
h_stop_services
h_check_complete

# role_url SERVICE: the database URL with the service's role set.
role_url() { printf '%s&options=-c%%20role%%3Drecsign_%s' "$H_DB" "$1"; }

checks=0
# deny SERVICE SQL: SQL fails with "permission denied" under the role.
deny() {
    local rc=0
    rs_psql "$(role_url "$1")" -c "$2" >"$H_DIR/out" 2>&1 || rc=$?
    checks=$((checks + 1))
    if (( rc == 0 )) || ! grep -q 'permission denied' "$H_DIR/out"; then
        cat "$H_DIR/out" >&2
        h_fail "recsign_$1 was not denied: $2"
    fi
}
# allow SERVICE SQL: SQL succeeds under the role, in a transaction that is
# rolled back.
allow() {
    rs_psql "$(role_url "$1")" -c "BEGIN" -c "$2" -c "ROLLBACK" >"$H_DIR/out" 2>&1 \
        || { cat "$H_DIR/out" >&2; h_fail "recsign_$1 was refused: $2"; }
    checks=$((checks + 1))
}

h_eq "$(rs_psql "$(role_url sink)" -c 'select current_user')" recsign_sink "current_user under the sink's URL"

h_step "no service role may change or remove a signature"
for svc in sink ventilator keycoord; do
    deny "$svc" "update signatures set signed_at = signed_at"
    deny "$svc" "update signatures set signature = signature where record_id = 1"
    deny "$svc" "delete from signatures where record_id = 1"
    deny "$svc" "truncate signatures"
    deny "$svc" "delete from records where id = 1"
    deny "$svc" "delete from keys where id = 1"
    deny "$svc" "delete from leases where id = 1"
    deny "$svc" "update runs set batch_size = batch_size"
    deny "$svc" "update schema_migrations set version = version"
done

h_step "sink: no keys, no lease log writes, no payloads"
deny sink "select sealed_secret from keys limit 1"
deny sink "select public_key from keys limit 1"
deny sink "insert into leases (id, key_id, holder, granted_at, run_id, batch_records)
           values (1000000, 1, 'x', now(), 1, 1)"
deny sink "update leases set ended_at = ended_at"
deny sink "update leases set end_reason = 'expired' where id = 1"
deny sink "select payload from records limit 1"
deny sink "insert into records values (-1, '')"
deny sink "select * from runs"
deny sink "update keycoord_state set clean_stop = true"
allow sink "select count(*) from records"
allow sink "select id from records order by id limit 1"
allow sink "select id, key_id, coalesce(end_reason = 'expired', false)::int from leases where id = any('{1,2}'::bigint[])"
allow sink "select count(*) from signatures"
allow sink "select coalesce(max(version), 0) from schema_migrations"
allow sink "create temp table if not exists sink_staging (like signatures including defaults) on commit delete rows"
allow sink "insert into signatures (record_id, key_id, lease_id, signature, signed_at)
            values (-77, 1, 1, '\\x00', now()) on conflict do nothing"

h_step "ventilator: no keys, no signature writes, no lease log"
deny ventilator "select sealed_secret from keys limit 1"
deny ventilator "select public_key from keys limit 1"
deny ventilator "insert into signatures (record_id, key_id, lease_id, signature, signed_at)
                 values (-77, 1, 1, '\\x00', now())"
deny ventilator "select * from leases limit 1"
deny ventilator "insert into records values (-1, '')"
deny ventilator "update records set payload = payload"
deny ventilator "update runs set started_at = started_at"
allow ventilator "select r.id, r.payload, exists (select 1 from signatures s where s.record_id = r.id) from records r order by r.id limit 10"
allow ventilator "select count(*) from records r where not exists (select 1 from signatures s where s.record_id = r.id)"
allow ventilator "select id, batch_size, follow::int from runs where finished_at is null order by id desc limit 1"
allow ventilator "insert into runs (batch_size, follow) values (25, true) returning id"
allow ventilator "update runs set follow = false where id = (select max(id) from runs)"
allow ventilator "update runs set first_dispatch_at = clock_timestamp() where id = (select max(id) from runs)"
allow ventilator "update runs set finished_at = clock_timestamp(), first_dispatch_at = coalesce(first_dispatch_at, clock_timestamp()) where id = (select max(id) from runs)"
allow ventilator "select pg_try_advisory_lock(7378709592457799)"
allow ventilator "select coalesce(max(version), 0) from schema_migrations"

h_step "keycoord: no signatures, no records, only its key columns"
deny keycoord "select * from signatures limit 1"
deny keycoord "select count(*) from signatures"
deny keycoord "insert into signatures (record_id, key_id, lease_id, signature, signed_at)
               values (-77, 1, 1, '\\x00', now())"
deny keycoord "select * from records limit 1"
deny keycoord "select count(*) from records"
deny keycoord "update records set payload = payload"
deny keycoord "insert into keys (id, public_key, sealed_secret) values (99, '\\x00', '\\x00')"
deny keycoord "update keys set public_key = public_key"
deny keycoord "update keys set sealed_secret = sealed_secret"
deny keycoord "update keys set retire_requested_at = now()"
deny keycoord "update leases set key_id = key_id"
deny keycoord "update leases set granted_at = granted_at"
deny keycoord "insert into runs (batch_size) values (1)"
allow keycoord "select id, sealed_secret, live_at, retire_requested_at, retired_at from keys order by id"
allow keycoord "update keys set live_at = clock_timestamp() where id = 1 and live_at is null"
allow keycoord "update keys set retired_at = clock_timestamp() where id = 1 and retired_at is null"
allow keycoord "insert into leases (id, key_id, holder, granted_at, run_id, batch_records, epoch)
                values (1000000, 1, 'x', clock_timestamp(), 1, 1, (select epoch from keycoord_state))"
allow keycoord "update leases set ended_at = ended_at, end_reason = end_reason,
                end_epoch = (select epoch from keycoord_state) where id = 1"
allow keycoord "select keycoord_fence((select epoch from keycoord_state))"
allow keycoord "update keycoord_state set epoch = epoch + 1 where id = 1"
allow keycoord "select id, key_id, holder from leases where ended_at is null order by id"
allow keycoord "select clean_stop from keycoord_state where id = 1"
allow keycoord "update keycoord_state set clean_stop = false, updated_at = clock_timestamp() where id = 1"
allow keycoord "select pg_try_advisory_lock(7378709592457798)"
allow keycoord "listen recsign_keys"
allow keycoord "select coalesce(max(version), 0) from schema_migrations"

# The real processes, each connected under its role: a wrapper appends
# --db ROLE_URL, which overrides the harness's --db (the last flag wins).
wrap() {
    local svc="$1" real="$2" w="$H_DIR/as-$1"
    printf '#!/bin/sh\nexec %q "$@" --db %q\n' "$real" "$(role_url "$svc")" >"$w"
    chmod +x "$w"
    printf '%s\n' "$w"
}
real_keycoord="$H_KEYCOORD"
H_KEYCOORD="$(wrap keycoord "$H_KEYCOORD")"
H_SINK="$(wrap sink "$H_SINK")"
H_VENTILATOR="$(wrap ventilator "$H_VENTILATOR")"

h_step "a whole job with every service under its role"
h_init --records 5000
h_start_services 1 2
h_run_ventilator 25
h_stop_services
h_check_complete
h_verify
h_audit
for svc in keycoord sink ventilator-2; do
    grep -qi 'permission denied' "$H_LOGS/$svc.log" && h_fail "$svc met a permission denial: $(grep -i 'permission denied' "$H_LOGS/$svc.log" | head -n 1)"
done

# The keycoord opens its store before its sockets: no certificates needed.
h_step "a keycoord under the sink's role is refused"
# (A name of its own: rs_free_port sets the variable named, and a local
# "port" of its own would hide a common name; the port came out empty, which
# the endpoint check now refuses before the database is reached.)
roles_kc_port=""
rs_free_port roles_kc_port || h_fail "no free port"
[[ -n "$roles_kc_port" ]] || h_fail "rs_free_port gave no port"
rc=0
timeout -k 5 30 "$real_keycoord" --db "$(role_url sink)" --bind "tcp://127.0.0.1:$roles_kc_port" \
    >"$H_LOGS/keycoord-as-sink.log" 2>&1 || rc=$?
(( rc != 0 && rc != 124 )) || h_fail "keycoord under recsign_sink exited $rc; expected a refusal"
grep -q 'permission denied' "$H_LOGS/keycoord-as-sink.log" \
    || { tail -n 5 "$H_LOGS/keycoord-as-sink.log" >&2; h_fail "keycoord under recsign_sink did not report a permission denial"; }
echo "$RS_PROG: ok: $checks privilege checks; a whole job ran with each service under its role"
