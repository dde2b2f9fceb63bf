#!/usr/bin/env bash
# algorithms_mixed.sh: a keyring of several algorithms, and moving it from
# Ed25519 to ECDSA P-256 while a run signs.
# 1. Keys of all five algorithms sign one job: the LRU rule runs across all
#    live keys (every key is used, the audit's replay of rule 4 passes),
#    each signature verifies under its own key's algorithm.
# 2. A second run: ECDSA P-256 keys are added and every Ed25519 key retired
#    while it signs; the run completes, no Ed25519 key is leased at or after
#    its retirement, the new keys sign, verify and audit pass.
# 3. keys list, status, keys export (PEM read back with OpenSSL, JSON) show
#    each key's algorithm; each PEM file's first line, outside the PEM
#    block, says how the key signs (RSA: RSASSA-PSS, SHA-256, MGF1-SHA-256,
#    salt 32) and the OpenSSL command that verifies, which verifies a stored
#    signature of the key; a bad --algorithm exits 2 with one error line.
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

h_start_db
h_init --keys 3 --records 2000
h_init --keys 2 --algorithm ecdsa-p256
h_init --keys 1 --algorithm rsa-2048
h_init --keys 1 --algorithm rsa-3072
h_init --keys 1 --algorithm rsa-4096
h_eq "$(h_sql "select string_agg(algorithm || ':' || n, ',' order by algorithm)
               from (select algorithm, count(*) n from keys group by algorithm) t")" \
    "ecdsa-p256:2,ed25519:3,rsa-2048:1,rsa-3072:1,rsa-4096:1" "keys by algorithm"

h_step "1. a mixed keyring signs one job"
h_start_services 1 2
h_run_ventilator 10 240
h_wait_sql "select count(*) from keys where live_at is not null" 8 "keys live after run 1"
h_check_complete
h_eq "$(h_sql "select count(distinct s.key_id) from signatures s")" 8 "keys that signed (all algorithms)"
h_eq "$(h_sql "select string_agg(distinct k.algorithm, ',' order by k.algorithm)
               from signatures s join keys k on k.id = s.key_id")" \
    "ecdsa-p256,ed25519,rsa-2048,rsa-3072,rsa-4096" "algorithms that signed"
h_verify
h_audit
grep -q '^rule 4 .*: ok' "$H_LOGS/audit.out" || { cat "$H_LOGS/audit.out" >&2; h_fail "rule 4 not proven"; }

h_step "2. from Ed25519 to ECDSA P-256 while running"
h_init --records 20000
ed_ids="$(h_sql "select string_agg(id::text, ' ' order by id) from keys where algorithm = 'ed25519'")"
# shellcheck disable=SC2086  # $ed_ids is a list of ids
( sleep 0.5 && h_keys add 3 --algorithm ecdsa-p256 --master-key "$H_KEY" >"$H_DIR/added.out" 2>>"$H_LOGS/keys.log" \
      && h_keys retire $ed_ids >"$H_DIR/retire.out" 2>>"$H_LOGS/keys.log" ) &
rotation=$!
h_run_ventilator 10 240
wait "$rotation" || h_fail "keys add or keys retire failed (see keys.log)"
h_eq "$(cat "$H_DIR/added.out")" $'9\n10\n11' "ids printed by keys add"
h_wait_sql "select count(*) from keys where algorithm = 'ed25519' and retired_at is not null" 3 \
    "Ed25519 keys retired by the keycoord"
h_wait_sql "select count(*) from keys where live_at is not null" 11 "keys live"
h_stop_services
h_check_complete
h_check_leases 10
h_eq "$(h_sql "select count(*) from leases l join keys k on k.id = l.key_id
               where k.retired_at is not null and l.granted_at >= k.retired_at")" 0 \
    "leases granted at or after their key's retirement"
h_eq "$(h_sql "select count(distinct s.key_id) from signatures s where s.key_id in (9, 10, 11)")" 3 \
    "new ECDSA keys that signed"
h_verify
h_audit
grep -q 'rule 4 .*: ok .*3 keys retired, 0 quarantined; none leased after retirement' "$H_LOGS/audit.out" \
    || { cat "$H_LOGS/audit.out" >&2; h_fail "audit does not report the retired keys"; }

h_step "3. keys list, status, keys export show the algorithm"
h_keys list >"$H_DIR/list.out" 2>/dev/null || h_fail "keys list failed"
h_eq "$(grep -Ec '^ +[1-3] +ed25519 +retired ' "$H_DIR/list.out")" 3 "retired Ed25519 keys listed"
h_eq "$(grep -Ec '^ +([45]|9|10|11) +ecdsa-p256 +live ' "$H_DIR/list.out")" 5 "live ECDSA keys listed"
grep -Eq '^ +8 +rsa-4096 +live ' "$H_DIR/list.out" || { cat "$H_DIR/list.out" >&2; h_fail "the RSA-4096 key is not listed"; }
h_admin status >"$H_DIR/status.out" 2>/dev/null || h_fail "status failed"
grep -q '^keys by algorithm: ecdsa-p256 5 (5 live), ed25519 3 (0 live), rsa-2048 1 (1 live), rsa-3072 1 (1 live), rsa-4096 1 (1 live)$' \
    "$H_DIR/status.out" || { cat "$H_DIR/status.out" >&2; h_fail "status does not count keys by algorithm"; }
h_keys export --format pem --out "$H_DIR/pem" >/dev/null 2>&1 || h_fail "keys export --format pem failed"
h_keys export >"$H_DIR/keys.json" 2>/dev/null || h_fail "keys export (json) failed"
for id in $(seq 1 11); do
    alg="$(h_sql "select algorithm from keys where id = $id")"
    der="$(openssl pkey -pubin -in "$H_DIR/pem/key-$id.pem" -outform DER 2>/dev/null | od -An -tx1 -v | tr -d ' \n')"
    want="$(h_sql "select encode(public_key, 'hex') from keys where id = $id")"
    # Ed25519 keys are stored raw: the PEM's DER ends with them.
    [[ "$alg" == ed25519 ]] && der="${der: -64}"
    h_eq "$der" "$want" "public key of $alg key $id in its PEM file"
    text="$(openssl pkey -pubin -in "$H_DIR/pem/key-$id.pem" -noout -text 2>&1)"
    case "$alg" in
        ed25519)    grep -q 'ED25519 Public-Key' <<<"$text" ;;
        ecdsa-p256) grep -q 'NIST CURVE: P-256' <<<"$text" ;;
        rsa-*)      grep -q "Public-Key: (${alg#rsa-} bit)" <<<"$text" ;;
    esac || { echo "$text" >&2; h_fail "OpenSSL does not read key $id as $alg"; }
    grep -q "{\"id\":$id,\"algorithm\":\"$alg\",\"public_key_hex\":\"$want\"" "$H_DIR/keys.json" \
        || h_fail "the JSON export lacks key $id as $alg"
    # The first line says how the key signs, and the command that verifies.
    note="$(head -n 1 "$H_DIR/pem/key-$id.pem")"
    case "$alg" in
        ed25519)    scheme="Ed25519 over the message itself" ;;
        ecdsa-p256) scheme="ECDSA P-256 with SHA-256, DER-encoded" ;;
        rsa-*)      scheme="RSASSA-PSS, SHA-256, MGF1-SHA-256, salt 32 bytes" ;;
    esac
    [[ "$note" == "recsign key $id, $alg: signatures are $scheme; verify with: openssl "* ]] \
        || h_fail "key-$id.pem does not begin with how $alg key $id signs: '$note'"
    # That command verifies one of the key's stored signatures (the message
    # is "recsign/v1" || id (8 bytes, big-endian) || payload).
    h_sql "select encode(s.signature, 'hex'), encode('recsign/v1'::bytea || int8send(r.id) || r.payload, 'hex')
           from signatures s join records r on r.id = s.record_id
           where s.key_id = $id order by s.record_id limit 1" | tr '|' ' ' >"$H_DIR/sig.hex"
    read -r sig msg <"$H_DIR/sig.hex" || h_fail "no signature of key $id"
    xxd -r -p <<<"$sig" >"$H_DIR/pem/SIG"
    xxd -r -p <<<"$msg" >"$H_DIR/pem/MESSAGE"
    read -ra verify <<<"${note#*verify with: }"
    ( cd "$H_DIR/pem" && "${verify[@]}" ) >"$H_DIR/verify-$id.out" 2>&1 \
        || { cat "$H_DIR/verify-$id.out" >&2; h_fail "the command in key-$id.pem does not verify a signature of key $id"; }
done

h_step "a bad --algorithm (exit 2, one error line)"
for cmd in "init --algorithm rsa-1024 --keys 1" "keys add 1 --algorithm ED25519"; do
    rc=0
    # shellcheck disable=SC2086  # $cmd is a word list on purpose
    RECSIGN_LOG_LEVEL=error "$H_ADMIN" $cmd --db "$H_DB" --master-key "$H_KEY" >/dev/null 2>"$H_DIR/err" || rc=$?
    h_eq "$rc" 2 "exit status of '$cmd'"
    h_eq "$(wc -l <"$H_DIR/err")" 1 "stderr lines of '$cmd'"
    grep -q "expected one of ed25519, ecdsa-p256, rsa-2048, rsa-3072, rsa-4096" "$H_DIR/err" \
        || { cat "$H_DIR/err" >&2; h_fail "'$cmd' does not name the algorithms expected"; }
done
h_eq "$(h_sql "select count(*) from keys")" 11 "keys after the refused commands"
echo "$RS_PROG: ok: a keyring of five algorithms signs; moved from Ed25519 to ECDSA P-256 while running"
