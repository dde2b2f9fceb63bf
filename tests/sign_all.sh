#!/usr/bin/env bash
# sign_all.sh BATCH [RECORDS] [KEYS] [WORKERS] [THREADS]: a fresh database of
# RECORDS records (default 10000) and KEYS keys (default 100) is signed
# completely with batch size BATCH; every record gets exactly one signature,
# `recsign verify` and `recsign audit` pass, and every lease of the run
# covers at most BATCH records (rule 5 from the outside).
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
echo "$RS_PROG: ok: $records records, $keys keys, batch $batch, $workers x $threads threads; ventilator ${H_VENT_SECONDS} s"
