#!/usr/bin/env bash
# sparse_ids.sh: records inserted by hand with non-contiguous ids (negative,
# zero, 2^40, the bigint extremes) and payloads from empty to 1 MiB are all
# signed exactly once; verify and audit pass; and a few signatures check out
# with an independent Ed25519 implementation (OpenSSL) over the documented
# message "recsign/v1" || id as 8-byte big-endian || payload.
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

h_start_db
h_init --keys 20 --records 0
h_eq "$(h_sql 'select count(*) from records')" 0 "records after init --records 0"

h_step "inserting hand-made records"
h_sql "
insert into records (id, payload) values
    (5, ''),
    (1000, 'x'),
    (1000000, decode(repeat('a5', 1048576), 'hex')),   -- 1 MiB
    (1099511627776, 'two to the fortieth'),            -- 2^40
    (0, ''),
    (-1, ''),
    (-42, 'negative'),
    (-9223372036854775808, 'min bigint'),
    (9223372036854775807, 'max bigint');
-- a few hundred more, spread out, every third one empty
insert into records (id, payload)
select g * 7919 - 1000000,
       case when g % 3 = 0 then ''::bytea
            else convert_to(repeat(md5(g::text), 1 + g % 20), 'UTF8') end
from generate_series(1, 400) g;" >/dev/null
records="$(h_sql 'select count(*) from records')"
h_eq "$records" 409 "records inserted"

h_start_services 1 2
h_run_ventilator 7 60
h_stop_services
h_check_complete
for id in 5 1000 1000000 1099511627776 0 -1 -42 -9223372036854775808 9223372036854775807; do
    h_eq "$(h_sql "select count(*) from signatures where record_id = $id")" 1 "signatures of record $id"
done
h_verify
h_audit

# Independent check with OpenSSL, when its command line tool is there.
if command -v openssl >/dev/null 2>&1 && command -v perl >/dev/null 2>&1; then
    h_step "checking signatures with openssl"
    for id in 1099511627776 -1 -9223372036854775808 5 1000000; do
        d="$H_DIR/ossl"
        mkdir -p "$d"
        h_sql "select encode(k.public_key, 'hex') from signatures s join keys k on k.id = s.key_id where s.record_id = $id" \
            | perl -ne 'chomp; print pack("H*", "302a300506032b6570032100" . $_)' >"$d/pub.der"
        h_sql "select encode(signature, 'hex') from signatures where record_id = $id" \
            | perl -ne 'chomp; print pack("H*", $_)' >"$d/sig.bin"
        { printf 'recsign/v1'
          perl -e 'print pack("q>", $ARGV[0])' -- "$id"
          h_sql "select encode(payload, 'hex') from records where id = $id" | perl -ne 'chomp; print pack("H*", $_)'
        } >"$d/msg.bin"
        openssl pkeyutl -verify -pubin -keyform DER -inkey "$d/pub.der" -rawin \
            -in "$d/msg.bin" -sigfile "$d/sig.bin" >"$d/out" 2>&1 \
            || { cat "$d/out" >&2; h_fail "openssl rejects the signature of record $id"; }
    done
else
    echo "$RS_PROG: openssl or perl missing; independent check skipped" >&2
fi
echo "$RS_PROG: ok: $records sparse records signed, verified and audited"
