#!/usr/bin/env bash
# algorithms.sh ALGORITHM [RECORDS] [KEYS] [BATCH]: a whole job with keys of
# one algorithm (`recsign init --algorithm`). Every record gets one
# signature made with its key's algorithm (length checked in SQL: 64 bytes
# Ed25519, DER of at most 72 bytes ECDSA, the modulus size for RSA-PSS), the
# lease rules hold, verify and audit pass. Then one signature has a bit
# flipped: verify exits 1 naming its record ("bad signature") and audit
# reports rule 1 violated; restored, both pass again. A signature one byte
# shorter than the algorithm's shortest (RSA: one short of the modulus) or
# one longer than its longest is a length fault, named with the length got
# and expected, in verify and audit alike.
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

alg="${1:?algorithm}"
records="${2:-2000}"
keys="${3:-10}"
batch="${4:-50}"

h_start_db
h_init --keys "$keys" --algorithm "$alg" --records "$records" --payload-min 0 --payload-max 300
h_eq "$(h_sql "select count(*) from keys where algorithm = '$alg'")" "$keys" "keys of $alg"
h_start_services 1 2
h_run_ventilator "$batch" 240
h_finish "$batch"

case "$alg" in
    ed25519)    lengths="64 64" ;;
    ecdsa-p256) lengths="8 72" ;;
    rsa-*)      n=$(( ${alg#rsa-} / 8 )); lengths="$n $n" ;;
esac
read -r min max <<<"$lengths"
h_eq "$(h_sql "select count(*) from signatures where length(signature) not between $min and $max")" 0 \
    "signatures of a length $alg cannot make"
h_eq "$(h_sql "select count(distinct key_id) from signatures")" "$keys" "keys that signed"

h_step "a tampered $alg signature"
h_sql "create schema scratch" >/dev/null
record="$(h_sql 'select record_id from signatures order by record_id limit 1 offset 17')"
h_sql "
create table scratch.saved as select * from signatures where record_id = $record;
update signatures set signature = set_byte(signature, length(signature) / 2,
                                           get_byte(signature, length(signature) / 2) # 1)
where record_id = $record;" >/dev/null
h_expect_fail verify - "$record"
grep -Eq -- "(^|[^0-9-])$record \(bad signature\)" "$H_LOGS/verify.fail.out" \
    || { cat "$H_LOGS/verify.fail.out" >&2; h_fail "verify did not name record $record as a bad signature"; }
h_expect_fail audit 1
h_sql "update signatures s set signature = v.signature from scratch.saved v where s.record_id = v.record_id" >/dev/null

h_step "$alg signatures of a length $alg cannot make"
[[ "$min" == "$max" ]] && expected="$min" || expected="$min..$max"
for len in $((min - 1)) $((max + 1)); do
    h_sql "update signatures set signature = substring(signature || decode(repeat('00', $len), 'hex') from 1 for $len)
           where record_id = $record" >/dev/null
    want="$record (signature length wrong for $alg: got $len bytes, expected $expected)"
    for cmd in verify audit; do
        h_expect_fail "$cmd" - "$record"
        grep -qF -- "$want" "$H_LOGS/$cmd.fail.out" \
            || { cat "$H_LOGS/$cmd.fail.out" >&2; h_fail "$cmd did not say '$want'"; }
    done
done
h_sql "
update signatures s set signature = v.signature from scratch.saved v where s.record_id = v.record_id;
drop table scratch.saved;" >/dev/null
h_verify
h_audit
echo "$RS_PROG: ok: $records records signed with $keys $alg keys, batch $batch; a tampered signature caught"
