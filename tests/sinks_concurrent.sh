#!/usr/bin/env bash
# sinks_concurrent.sh: two sinks' stores write the same records into one
# database at once (src/sink/sink_race.c): duplicates from re-dispatch that
# reached different sinks, met in opposite orders, with results under an
# expired lease mixed in. Every record ends up stored exactly once, the
# stores' counts of what they stored add up to the table and to
# signature_counts, each store refuses the expired lease's results on its
# own (fencing), and no flush fails for good.
# Then one flush of 450 records, sent in COPYs of at most 200 rows, meets a
# record already stored in its third COPY: the whole flush is rolled back
# and stored by the staged path, every other record once, the stored one
# unchanged, signature_counts up by what the flush stored.
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

race="${RECSIGN_SINK_RACE_BIN:-$H_BUILD/src/sink/sink_race}"
[[ -x "$race" ]] || h_fail "missing binary $race"
rounds=12 round_records=2000 leases=40 keys=4
records=$((rounds * round_records))

h_start_db
h_init --keys "$keys" --records "$records"
h_sql "insert into runs (batch_size) values (50)" >/dev/null
run="$(h_sql 'select max(id) from runs')"
# Leases 1..40 open, on keys 1..4 in turn; lease 999 ended by expiry.
# (Written under the current keycoord epoch, as its leader would.)
epoch="$(h_sql 'select epoch from keycoord_state where id = 1')"
h_sql "insert into leases (id, key_id, holder, granted_at, run_id, batch_records, epoch)
       select i, (i - 1) % $keys + 1, 'race/1/' || i, clock_timestamp(), $run, 50, $epoch
         from generate_series(1, $leases) i" >/dev/null
h_sql "insert into leases (id, key_id, holder, granted_at, run_id, batch_records, ended_at, end_reason,
                           epoch, end_epoch)
       values (999, 1, 'race/1/0', clock_timestamp() - interval '1 minute', $run, 50,
               clock_timestamp() - interval '30 seconds', 'expired', $epoch, $epoch)" >/dev/null

h_step "two sink stores, $rounds rounds of the same $round_records records each"
"$race" "$H_DB" "$leases" "$keys" >"$H_LOGS/race.out" 2>"$H_LOGS/race.log" \
    || { cat "$H_LOGS/race.log" >&2; h_fail "sink_race failed"; }
read -r _ a b _ ra rb _ retries <"$H_LOGS/race.out"
h_step "stored $a + $b, refused $ra + $rb, $retries flushes retried; $(grep -c 'deadlock' "$H_LOGS/race.log" || true) deadlocks resolved"

h_eq "$((a + b))" "$records" "signatures the two stores say they stored"
h_eq "$(h_sql 'select count(*) from signatures')" "$records" "signatures in the table"
h_eq "$(h_sql 'select count(*) from records r where not exists (select 1 from signatures s where s.record_id = r.id)')" \
    0 "records without a signature"
h_eq "$(h_sql 'select stored from signature_counts')" "$records" "signature_counts.stored"
h_eq "$ra $rb" "$((rounds * 10)) $((rounds * 10))" "results each store refused under the expired lease"
h_eq "$(h_sql 'select count(*) from signatures where lease_id = 999 or record_id >= 1000000')" 0 \
    "signatures stored under the expired lease"
h_eq "$(h_sql "select count(*) || ' ' || sum(records) from refused_results where lease_id = 999 and reason = 'expired'")" \
    "$((2 * rounds)) $((2 * rounds * 10))" "refused_results rows of the expired lease"
h_eq "$(h_sql 'select count(*) from signatures s join leases l on l.id = s.lease_id where l.key_id <> s.key_id')" \
    0 "signatures whose lease holds another key"
h_log_lacks "$H_LOGS/race.log" 'ERROR' "the sink stores"

# A row already stored in a later COPY of one flush.
first=$((records + 1)) extra=450 taken=$((records + 420))
h_sql "insert into records (id, payload)
       select i, convert_to('extra ' || i, 'UTF8') from generate_series($first, $((records + extra))) i" >/dev/null
h_sql "insert into signatures (record_id, key_id, lease_id, signature, signed_at)
       values ($taken, 2, 2, '\\x00', now())" >/dev/null
counted="$(h_sql 'select stored from signature_counts')"
h_step "one flush of $extra records ($first..$((records + extra))); record $taken stored already"
"$race" "$H_DB" "$leases" "$keys" "$first" "$extra" >"$H_LOGS/one_flush.out" 2>"$H_LOGS/one_flush.log" \
    || { cat "$H_LOGS/one_flush.log" >&2; h_fail "sink_race's one flush failed"; }
h_eq "$(cat "$H_LOGS/one_flush.out")" "stored $((extra - 1))" "what the flush says it stored"
h_eq "$(h_sql "select count(*) from signatures where record_id between $first and $((records + extra))")" \
    "$extra" "signatures of the flush's records"
h_eq "$(h_sql "select key_id || ' ' || lease_id || ' ' || encode(signature, 'hex') from signatures where record_id = $taken")" \
    "2 2 00" "the signature stored before the flush"
h_eq "$(h_sql 'select stored from signature_counts')" "$((counted + extra - 1))" "signature_counts.stored after the flush"
h_log_lacks "$H_LOGS/one_flush.log" 'ERROR' "the one flush"
echo "$RS_PROG: ok: $records records stored once by two concurrent sink stores ($a + $b); a flush meeting a stored row in its third COPY stored the other $((extra - 1)); test took $SECONDS s"
