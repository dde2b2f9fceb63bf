#!/usr/bin/env bash
# export_openssl.sh: `recsign export` writes one JSON line per signed
# record that an outsider can check with OpenSSL alone. After a small run
# with keys of every algorithm (payloads from empty up), every exported
# line verifies with the OpenSSL CLI command for its "algorithm" (fields
# split with awk, no JSON tool needed): `openssl pkeyutl -verify -rawin` for
# Ed25519, `openssl dgst -sha256 -verify` for ECDSA P-256 and, with the PSS
# options, for RSA; each line's message is "recsign/v1" || id (8 bytes,
# big-endian) || payload; per algorithm, a line with one changed signature
# or message byte fails; the README's jq one-liners (read from README.md,
# one per algorithm) work when jq is installed; stdout and --out give the
# same bytes; an unwritable --out exits 1 and leaves no file.
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

command -v openssl >/dev/null 2>&1 || h_fail "openssl is needed for this test"
records=600

h_start_db
h_init --keys 2 --records "$records" --payload-min 0 --payload-max 300
h_init --keys 2 --algorithm ecdsa-p256
for alg in rsa-2048 rsa-3072 rsa-4096; do
    h_init --keys 1 --algorithm "$alg"
done
algorithms="ed25519 ecdsa-p256 rsa-2048 rsa-3072 rsa-4096"
h_sql "insert into records (id, payload) values (-5, ''), (9223372036854775807, 'max')" >/dev/null
records=$((records + 2))
h_start_services 1 2
h_run_ventilator 9
h_stop_services
h_check_complete
h_verify

h_step "recsign export"
out="$H_DIR/export.jsonl"
"$H_ADMIN" export --db "$H_DB" --out "$out" 2>"$H_LOGS/export.err" \
    || { cat "$H_LOGS/export.err" >&2; h_fail "recsign export failed"; }
[[ ! -e "$out.partial" ]] || h_fail "export left $out.partial behind"
h_eq "$(wc -l <"$out")" "$records" "exported lines"
"$H_ADMIN" export --db "$H_DB" >"$H_DIR/stdout.jsonl" 2>/dev/null || h_fail "export to stdout failed"
cmp -s "$out" "$H_DIR/stdout.jsonl" || h_fail "export to stdout differs from export --out"

# split_fields DIR FILE: for line N of FILE, writes DIR/N.m64 and N.s64 (the
# base64 message and signature), N.pem and N.alg, with awk only.
split_fields() {
    mkdir -p "$1"
    awk -v dir="$1" '
        function field(name,   re) {
            re = "\"" name "\":\"[^\"]*\""
            if (!match($0, re)) { print "line " NR ": no " name > "/dev/stderr"; exit 1 }
            return substr($0, RSTART + length(name) + 4, RLENGTH - length(name) - 5)
        }
        {
            d = dir "/" NR
            print field("message_b64") > (d ".m64"); close(d ".m64")
            print field("signature_b64") > (d ".s64"); close(d ".s64")
            print field("algorithm") > (d ".alg"); close(d ".alg")
            pem = field("public_key_pem")
            gsub(/\\n/, "\n", pem)
            printf "%s", pem > (d ".pem"); close(d ".pem")
        }' "$2" || h_fail "could not split $2 into fields"
}

# check DIR N: OpenSSL verifies line N's signature over its message, with
# the command for the line's algorithm.
check() {
    local p="$1/$2" alg
    alg="$(cat "$p.alg")"
    openssl base64 -d -A -in "$p.m64" -out "$p.m" && openssl base64 -d -A -in "$p.s64" -out "$p.s" \
        || return 1
    case "$alg" in
        ed25519)
            openssl pkeyutl -verify -pubin -inkey "$p.pem" -rawin -in "$p.m" -sigfile "$p.s" ;;
        ecdsa-p256)
            openssl dgst -sha256 -verify "$p.pem" -signature "$p.s" "$p.m" ;;
        rsa-2048|rsa-3072|rsa-4096)
            openssl dgst -sha256 -verify "$p.pem" -sigopt rsa_padding_mode:pss \
                -sigopt rsa_pss_saltlen:32 -sigopt rsa_mgf1_md:sha256 -signature "$p.s" "$p.m" ;;
        *)
            echo "unknown algorithm '$alg'"; false ;;
    esac >"$p.out" 2>&1
}

h_step "verifying all $records lines with openssl"
split_fields "$H_DIR/lines" "$out"
for ((n = 1; n <= records; n++)); do
    check "$H_DIR/lines" "$n" || { cat "$H_DIR/lines/$n.out" >&2; h_fail "openssl rejects line $n ($(cat "$H_DIR/lines/$n.alg"))"; }
done
for alg in $algorithms; do
    h_eq "$(grep -c "\"algorithm\":\"$alg\"" "$out")" \
        "$(h_sql "select count(*) from signatures s join keys k on k.id = s.key_id where k.algorithm = '$alg'")" \
        "exported lines of $alg"
    grep -q "\"algorithm\":\"$alg\"" "$out" || h_fail "no exported line of $alg"
done

if command -v perl >/dev/null 2>&1; then
    h_step "each message is \"recsign/v1\" || id || payload"
    checked="$(perl -MMIME::Base64 -ne '
        my ($id) = /"record_id":(-?\d+)/;
        my ($p) = /"payload_b64":"([^"]*)"/;
        my ($m) = /"message_b64":"([^"]*)"/;
        die "line $.: fields missing\n" unless defined $id && defined $p && defined $m;
        die "line $.: message is not the documented one\n"
            unless decode_base64($m) eq "recsign/v1" . pack("q>", $id) . decode_base64($p);
        $n++;
        END { print $n // 0, "\n" }' "$out")" || h_fail "an exported message is not the documented one"
    h_eq "$checked" "$records" "messages checked against their payloads"
fi

h_step "tampered lines fail, for every algorithm"
tampered="$H_DIR/tampered.jsonl"
: >"$tampered"
for alg in $algorithms; do
    line="$(grep -m 1 "\"algorithm\":\"$alg\"" "$out")"
    # One character in the middle of the signature, then of the message
    # ("cmVj" = "rec"), changed.
    awk '{ i = index($0, "\"signature_b64\":\"") + 17 + 40; c = substr($0, i, 1)
           print substr($0, 1, i - 1) (c == "A" ? "B" : "A") substr($0, i + 1) }' <<<"$line" >>"$tampered"
    sed 's/"message_b64":"cmVj/"message_b64":"cmVk/' <<<"$line" >>"$tampered"
done
h_eq "$(wc -l <"$tampered")" 10 "tampered lines"
grep -Fxf "$tampered" "$out" && h_fail "a tampered line is the same as an exported one"
split_fields "$H_DIR/bad" "$tampered"
for n in $(seq 1 10); do
    if check "$H_DIR/bad" "$n"; then h_fail "openssl accepted tampered line $n ($(cat "$H_DIR/bad/$n.alg"))"; fi
    grep -qi 'fail' "$H_DIR/bad/$n.out" || { cat "$H_DIR/bad/$n.out" >&2; h_fail "tampered line $n: no verification failure reported"; }
done

# one_liner ALG: the README's one-liner for ALG: the first "jq ..." line
# after a line "    # ALG, ...:" (a comment naming ALG) in README.md.
readme="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/README.md"
one_liner() {
    awk -v alg="$1" '
        /^    # / { line = $0; gsub(/[,:]/, " ", line); want = index(line " ", " " alg " ") > 0; next }
        want && /^    jq / { sub(/^    /, ""); print; exit }' "$readme"
}

if command -v jq >/dev/null 2>&1; then
    h_step "the README one-liners (jq), one per algorithm"
    cd "$H_DIR" || h_fail "cannot cd to $H_DIR"
    for alg in $algorithms; do
        cmd="$(one_liner "$alg")"
        [[ "$cmd" == *openssl* ]] || h_fail "README.md has no one-liner for $alg"
        for n in $(grep -n "\"algorithm\":\"$alg\"" "$out" | cut -d: -f1 | sed -n '1p;$p'); do
            sed -n "${n}p" "$out" >l
            eval "$cmd" >one.out 2>&1 || { cat one.out >&2; h_fail "the README one-liner for $alg rejects line $n"; }
        done
        grep -m 1 "\"algorithm\":\"$alg\"" "$tampered" >l
        if eval "$cmd" >one.out 2>&1; then
            h_fail "the README one-liner for $alg accepted a tampered line"
        fi
    done
    cd - >/dev/null || h_fail "cannot cd back"
else
    echo "$RS_PROG: jq not installed; the README one-liners were not run (the awk split was)" >&2
fi

h_step "an unwritable --out"
rc=0
"$H_ADMIN" export --db "$H_DB" --out "$H_DIR/no/such/dir/x.jsonl" >/dev/null 2>"$H_DIR/err" || rc=$?
h_eq "$rc" 1 "exit status of export to a missing directory"
h_eq "$(grep -c ERROR "$H_DIR/err")" 1 "error lines of export to a missing directory"
h_step "bad arguments (exit 2, one error line)"
for args in "extra" "--out" "--format pem"; do
    rc=0
    # shellcheck disable=SC2086  # $args is a word list on purpose
    RECSIGN_LOG_LEVEL=error "$H_ADMIN" export --db "$H_DB" $args >/dev/null 2>"$H_DIR/err" || rc=$?
    h_eq "$rc" 2 "exit status of 'export $args'"
    h_eq "$(wc -l <"$H_DIR/err")" 1 "stderr lines of 'export $args'"
done
echo "$RS_PROG: ok: $records exported lines of $algorithms verified with openssl; tampered lines fail"
