#!/usr/bin/env bash
# audit_detects.sh: `recsign audit` and `recsign verify` are able to fail.
# After a complete small run, each case plants one violation, checks that it
# is caught, then undoes it and checks that audit passes again:
#   (a) an overlapping lease on a key        -> audit exits 1, rule 2
#   (b) one signature byte flipped           -> verify exits 1 naming the
#                                               record; audit exits 1, rule 1
#   (c) one signature deleted                -> audit exits 1, rule 1
#   (d) a lease of an older keycoord epoch after the current epoch's
#       events (a deposed leader's grant): the database refuses it; planted
#       past its triggers                    -> audit exits 1, rule 2
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

h_sign_all 2000 10 50 1 2
h_sql "create schema scratch" >/dev/null   # saved rows live here, out of the contract's way

# (a) An overlapping lease: a copy of a real lease (every column, so that
# columns added later keep their values), granted halfway through the
# original's interval, with a new fencing token.
h_step "(a) overlapping lease"
lease="$(h_sql "select id from leases where ended_at is not null order by id limit 1 offset 3")"
[[ -n "$lease" ]] || h_fail "no ended lease to copy"
h_sql "
create table scratch.planted_lease as select * from leases where id = $lease;
update scratch.planted_lease set id = (select max(id) + 1 from leases),
                         holder = 'intruder',
                         granted_at = granted_at + (ended_at - granted_at) / 2;
insert into leases select * from scratch.planted_lease;" >/dev/null
h_expect_fail audit 2
h_sql "delete from leases where id = (select id from scratch.planted_lease); drop table scratch.planted_lease;" >/dev/null
h_audit

# (b) One flipped bit in one signature.
h_step "(b) tampered signature"
record="$(h_sql 'select record_id from signatures order by record_id limit 1 offset 17')"
h_sql "
create table scratch.saved_signature as select * from signatures where record_id = $record;
update signatures set signature = set_byte(signature, 10, get_byte(signature, 10) # 1)
where record_id = $record;" >/dev/null
h_expect_fail verify - "$record"
h_expect_fail audit 1
h_sql "
update signatures s set signature = v.signature from scratch.saved_signature v where s.record_id = v.record_id;
drop table scratch.saved_signature;" >/dev/null
h_verify
h_audit

# (c) One signature missing.
h_step "(c) deleted signature"
record="$(h_sql 'select record_id from signatures order by record_id desc limit 1 offset 5')"
h_sql "
create table scratch.saved_signature as select * from signatures where record_id = $record;
delete from signatures where record_id = $record;" >/dev/null
h_expect_fail audit 1
h_sql "insert into signatures select * from scratch.saved_signature; drop table scratch.saved_signature;" >/dev/null
h_check_complete
h_verify
h_audit
# (d) A deposed leader's grant: a copy of the last lease, granted after
# everything else, under the epoch before the current one. The database
# refuses it (SQLSTATE RS001); planted with its trigger disabled, the audit
# finds it.
h_step "(d) a lease of a deposed keycoord"
h_eq "$(h_sql "select epoch from keycoord_state")" 1 "keycoord epoch after one keycoord's run"
plant="create table scratch.deposed as select * from leases order by granted_at desc limit 1;
update scratch.deposed set id = (select max(id) + 1 from leases), holder = 'deposed',
    granted_at = (select max(greatest(granted_at, ended_at)) from leases) + interval '1 second',
    ended_at = (select max(greatest(granted_at, ended_at)) from leases) + interval '2 seconds',
    epoch = 0, end_epoch = 0;"
rc=0
h_sql "begin; $plant insert into leases select * from scratch.deposed; commit;" >"$H_LOGS/deposed.out" 2>&1 || rc=$?
(( rc != 0 )) && grep -q "written under keycoord epoch 0, not the current one (1)" "$H_LOGS/deposed.out" \
    || { cat "$H_LOGS/deposed.out" >&2; h_fail "the database took a lease of epoch 0 while epoch 1 is current"; }
h_sql "$plant alter table leases disable trigger leases_fenced_insert;
insert into leases select * from scratch.deposed;
alter table leases enable trigger leases_fenced_insert;" >/dev/null
h_expect_fail audit 2
grep -q "lease events of a deposed keycoord (an older epoch after a newer one's): 2 (lease [0-9]* granted under epoch 0 after an event of epoch 1, lease [0-9]* ended under epoch 0 after an event of epoch 1)" \
    "$H_LOGS/audit.fail.out" || { cat "$H_LOGS/audit.fail.out" >&2; h_fail "the audit did not name the deposed keycoord's lease"; }
h_sql "delete from leases where id = (select id from scratch.deposed); drop table scratch.deposed;" >/dev/null
h_audit
echo "$RS_PROG: ok: audit caught an overlapping lease, a tampered and a missing signature, a deposed keycoord's lease"
