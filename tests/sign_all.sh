#!/usr/bin/env bash
# sign_all.sh BATCH [RECORDS] [KEYS] [WORKERS] [THREADS]: a fresh database of
# RECORDS records (default 10000) and KEYS keys (default 100) is signed
# completely with batch size BATCH; every record gets exactly one signature,
# `recsign verify` and `recsign audit` pass; and, checked in SQL apart from
# the audit: every lease covers at most BATCH records of one key, no two
# leases of a key overlap, every signature's lease holds its key.
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

batch="${1:?batch size}"
records="${2:-10000}"
keys="${3:-100}"
workers="${4:-1}"
threads="${5:-2}"

h_sign_all "$records" "$keys" "$batch" "$workers" "$threads"

h_eq "$(h_sql "select count(*) from runs where batch_size = $batch")" 1 "runs with batch size $batch"
h_eq "$(h_sql "select count(*) from (select lease_id from signatures group by lease_id having count(*) > $batch) t")" \
    0 "leases covering more than $batch signatures"
h_eq "$(h_sql "select count(*) from (select lease_id from signatures group by lease_id having count(distinct key_id) > 1) t")" \
    0 "leases whose signatures use more than one key"
# Rules 2 and 3 checked here in SQL too, independently of `recsign audit`.
h_eq "$(h_sql "select count(*) from leases a join leases b
               on a.key_id = b.key_id and a.id < b.id
              and a.granted_at < coalesce(b.ended_at, 'infinity')
              and b.granted_at < coalesce(a.ended_at, 'infinity')")" \
    0 "overlapping leases of one key"
h_eq "$(h_sql "select count(*) from signatures s left join leases l on l.id = s.lease_id
               where l.id is null or l.key_id <> s.key_id")" \
    0 "signatures whose lease is missing or holds another key"
echo "$RS_PROG: ok: $records records, $keys keys, batch $batch, $workers x $threads threads; ventilator ${H_VENT_SECONDS} s"
