#!/usr/bin/env bash
# bad_input.sh: every process refuses bad input cleanly. Unknown flags,
# out-of-range values and missing certificate files exit 2, an unreachable
# database, a missing master key and a metrics port in use exit 1; each time stderr carries exactly one error line (and nothing
# else at RECSIGN_LOG_LEVEL=error), and no process crashes, dumps core or
# prints a stack trace; a bad value is named where it came from, its flag
# or its environment variable. --help exits 0 everywhere.
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

# A database URL whose socket directory does not exist: refused at once.
nodb="postgresql://recsign@/recsign?host=$H_DIR/nowhere&connect_timeout=3"
p1="" p2="" p3=""
rs_free_port p1 || h_fail "no free port"
rs_free_port p2 || h_fail "no free port"
rs_free_port p3 || h_fail "no free port"
checks=0

# expect EXIT_CODE LEVEL COMMAND...: runs COMMAND (bounded by 30 s) with
# RECSIGN_LOG_LEVEL=LEVEL and checks its exit code and stderr.
expect() {
    local want="$1" level="$2" rc=0 out="$H_DIR/out" err="$H_DIR/err" what
    shift 2
    what="${*#"$H_DIR"/}"
    RECSIGN_LOG_LEVEL="$level" timeout -k 5 30 "$@" >"$out" 2>"$err" </dev/null || rc=$?
    checks=$((checks + 1))
    local lines errors
    lines="$(wc -l <"$err")"
    errors="$(grep -ci 'error' "$err" || true)"
    if (( rc == 124 || rc == 137 )); then
        h_fail "hung: $what"
    fi
    if (( rc >= 128 )) || grep -Eiq 'segmentation|core dumped|aborted|backtrace|stack trace|sanitizer|assertion|^#[0-9]+ ' "$out" "$err"; then
        cat "$err" >&2
        h_fail "crashed (status $rc): $what"
    fi
    if [[ "$rc" != "$want" ]]; then
        cat "$err" >&2
        h_fail "exit status $rc, expected $want: $what"
    fi
    if [[ "$errors" != 1 ]]; then
        cat "$err" >&2
        h_fail "stderr has $errors error lines, expected exactly 1: $what"
    fi
    if [[ "$level" == error && "$lines" != 1 ]]; then
        cat "$err" >&2
        h_fail "stderr has $lines lines, expected exactly 1: $what"
    fi
    printf '%s: ok (%s): %s\n    %s\n' "$RS_PROG" "$rc" "$what" "$(grep -i error "$err")" >&2
}

# expect_help COMMAND...: --help prints something and exits 0.
expect_help() {
    local rc=0
    timeout 10 "$@" --help >"$H_DIR/out" 2>"$H_DIR/err" </dev/null || rc=$?
    [[ "$rc" == 0 && -s "$H_DIR/out" ]] || { cat "$H_DIR/err" >&2; h_fail "$* --help exited $rc"; }
}

h_step "--help"
for b in "$H_VENTILATOR" "$H_KEYCOORD" "$H_WORKER" "$H_SINK" "$H_ADMIN"; do
    expect_help "$b"
done

h_step "unknown flags and values (exit 2)"
for level in info error; do
    expect 2 "$level" "$H_VENTILATOR" --no-such-flag
    expect 2 "$level" "$H_KEYCOORD" --no-such-flag
    expect 2 "$level" "$H_WORKER" --no-such-flag
    expect 2 "$level" "$H_SINK" --no-such-flag
    expect 2 "$level" "$H_ADMIN" --no-such-flag
    expect 2 "$level" "$H_ADMIN" status --no-such-flag
    expect 2 "$level" "$H_ADMIN" no-such-command
    expect 2 "$level" "$H_VENTILATOR" --db "$nodb" --batch-size 0
    expect 2 "$level" "$H_VENTILATOR" --db "$nodb" --batch-size 100001
    expect 2 "$level" "$H_VENTILATOR" --db "$nodb" --batch-size ten
    expect 2 "$level" "$H_WORKER" --threads -1
done
# The same range check through the environment.
RECSIGN_BATCH_SIZE=0 expect 2 error "$H_VENTILATOR" --db "$nodb"
# Follow mode's flags, by flag and by environment.
for level in info error; do
    expect 2 "$level" "$H_VENTILATOR" --db "$nodb" --follow --linger-ms -1
    expect 2 "$level" "$H_VENTILATOR" --db "$nodb" --follow --linger-ms 60001
    expect 2 "$level" "$H_VENTILATOR" --db "$nodb" --follow --linger-ms soon
    expect 2 "$level" "$H_VENTILATOR" --db "$nodb" --follow=maybe
done
RECSIGN_LINGER_MS=abc expect 2 error "$H_VENTILATOR" --db "$nodb" --follow
RECSIGN_FOLLOW=maybe expect 2 error "$H_VENTILATOR" --db "$nodb"

h_step "endpoint lists of a worker: each element checked, the bad one named (exit 2)"
# expect_named SOURCE TEXT COMMAND...: refused with exit 2, and the one
# error line names SOURCE (a flag, or the variable the value came from)
# and says TEXT.
expect_named() {
    local source="$1" text="$2"
    shift 2
    expect 2 error "$@"
    grep -q -- "error: ${source}[ :].*$text" "$H_DIR/err" \
        || { cat "$H_DIR/err" >&2; h_fail "the error does not name $source and say '$text'"; }
}
# expect_list TEXT SOURCE COMMAND...: the bad element TEXT of a list named.
expect_list() { expect_named "$2" "$1" "${@:3}"; }
ok="tcp://127.0.0.1:$p1"
expect_list "element 2 of '$ok,' is empty" --sink "$H_WORKER" --sink "$ok,"
expect_list "element 1 of ',$ok' is empty" --keycoord "$H_WORKER" --keycoord ",$ok"
expect_list "element 2 of '$ok,,$ok' is empty" --ventilator "$H_WORKER" --ventilator "$ok,,$ok"
expect_list "element 2 of the list: endpoint 'tcp://127.0.0.1' has no port" --keycoord \
    "$H_WORKER" --keycoord "$ok,tcp://127.0.0.1"
expect_list "element 3 of the list: endpoint 'udp://h:1' is not valid" --sink \
    "$H_WORKER" --sink "$ok, tcp://127.0.0.1:$p2 ,udp://h:1"
expect_list "element 2 of the list, '$ok', repeats element 1" --ventilator \
    "$H_WORKER" --ventilator "$ok, $ok"
RECSIGN_KEYCOORD_ENDPOINT="$ok,@tcp://h:1" expect_list "element 2 of the list: endpoint '@tcp://h:1'" \
    RECSIGN_KEYCOORD_ENDPOINT "$H_WORKER"
many="$(for i in $(seq 1 17); do printf 'tcp://h:%d,' "$i"; done)"
expect_list "element 17 .* is one too many; expected at most 16 endpoints" --sink "$H_WORKER" --sink "${many%,}"
# Forms that passed the list check and failed only later (issue 12's review):
# each element is checked at start, the bad one named, exit 2.
expect_list "endpoint 'tcp://127.0.0.1:$p1 tcp://127.0.0.1:$p2' contains a blank" --keycoord \
    "$H_WORKER" --keycoord "tcp://127.0.0.1:$p1 tcp://127.0.0.1:$p2"
expect_list "element 2 of the list: endpoint 'tcp://a:1;tcp://b:2' has ';'" --sink \
    "$H_WORKER" --sink "$ok,tcp://a:1;tcp://b:2"
expect_list "endpoint 'tcp://\\*:5559' connects to '\\*'" --keycoord "$H_WORKER" --keycoord "tcp://*:5559"
expect_list "element 2 of the list: endpoint 'tcp://h:5559/' has port '5559/'; expected tcp://HOST:PORT with a port from 1 to 65535" \
    --keycoord "$H_WORKER" --keycoord "$ok,tcp://h:5559/"
expect_list "has port '0'" --ventilator "$H_WORKER" --ventilator "tcp://h:0"
expect_list "has port '99999'" --ventilator "$H_WORKER" --ventilator "tcp://h:99999"
expect_list "endpoint 'tcp://\\*:\\*' has port '\\*'; expected a port from 1 to 65535" --bind \
    "$H_KEYCOORD" --db "$nodb" --bind "tcp://*:*" --insecure-plain
expect_list "endpoint 'tcp://\\*:5558/' has port '5558/'" --bind \
    "$H_SINK" --db "$nodb" --bind "tcp://*:5558/" --insecure-plain
expect_list "endpoint 'tcp://h:1 tcp://h:2' contains a blank" --bind \
    "$H_VENTILATOR" --db "$nodb" --bind "tcp://h:1 tcp://h:2" --insecure-plain
# An address of another host, which a standby would find out only at the
# takeover (issue 12's second review): 192.0.2.1 is TEST-NET-1 (RFC 5737),
# never this host's; .invalid never resolves (RFC 6761).
expect_list "endpoint 'tcp://192.0.2.1:5559': 192.0.2.1 is not an address of this host" --bind \
    "$H_KEYCOORD" --db "$nodb" --bind "tcp://192.0.2.1:5559" --insecure-plain
expect_list "endpoint 'tcp://recsign.invalid:5557': host 'recsign.invalid' does not resolve" --bind \
    "$H_VENTILATOR" --db "$nodb" --bind "tcp://recsign.invalid:5557" --insecure-plain
expect_list "192.0.2.1 is not an address of this host" --bind \
    "$H_SINK" --db "$nodb" --bind "tcp://192.0.2.1:5558" --insecure-plain

h_step "unreachable database (exit 1)"
# (Plain sockets: the certificates are checked before the database.)
for level in info error; do
    expect 1 "$level" "$H_VENTILATOR" --db "$nodb" --bind "tcp://127.0.0.1:$p1" --insecure-plain
    expect 1 "$level" "$H_VENTILATOR" --db "$nodb" --bind "tcp://127.0.0.1:$p1" --follow --insecure-plain
    expect 1 "$level" "$H_KEYCOORD" --db "$nodb" --bind "tcp://127.0.0.1:$p3" --insecure-plain
    expect 1 "$level" "$H_SINK" --db "$nodb" --bind "tcp://127.0.0.1:$p2" --insecure-plain
    expect 1 "$level" "$H_ADMIN" status --db "$nodb"
    expect 1 "$level" "$H_ADMIN" audit --db "$nodb"
done

h_step "a --db that never reaches a primary: said at once, not waited on (exit 1)"
# (Issue 12's second review: every service waited for a primary for ever.)
for tsa in read-only standby; do
    ro_db="$nodb&target_session_attrs=$tsa"
    for prog in "$H_VENTILATOR" "$H_KEYCOORD" "$H_SINK"; do
        expect 1 error "$prog" --db "$ro_db" --insecure-plain
        grep -q "target_session_attrs=$tsa, which never connects to a primary" "$H_DIR/err" \
            || { cat "$H_DIR/err" >&2; h_fail "$(basename "$prog") with target_session_attrs=$tsa: no word on it"; }
    done
done

h_step "missing master key (exit 1)"
for level in info error; do
    expect 1 "$level" "$H_WORKER" --ventilator "tcp://127.0.0.1:$p1" --sink "tcp://127.0.0.1:$p2" \
        --keycoord "tcp://127.0.0.1:$p3" --threads 1 --master-key "$H_DIR/no-such.key"
done
h_step "malformed master key file, and one open to others (exit 2: a restart would repeat it)"
(umask 077; echo 0123abcd >"$H_DIR/short.key")
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$H_DIR/open.key"; chmod 0644 "$H_DIR/open.key"
for level in info error; do
    for key in short open; do
        expect 2 "$level" "$H_WORKER" --ventilator "tcp://127.0.0.1:$p1" --sink "tcp://127.0.0.1:$p2" \
            --keycoord "tcp://127.0.0.1:$p3" --threads 1 --master-key "$H_DIR/$key.key"
    done
done
grep -q "master key file $H_DIR/open.key has mode 0644; expected 0600" "$H_DIR/err" \
    || { cat "$H_DIR/err" >&2; h_fail "the worker did not name the master key file's mode"; }
h_step "bad HTTP addresses: --metrics-bind, RECSIGN_METRICS_BIND, dashboard --bind (exit 2)"
for level in info error; do
    expect 2 "$level" "$H_VENTILATOR" --db "$nodb" --metrics-bind nope
    expect 2 "$level" "$H_KEYCOORD" --db "$nodb" --metrics-bind 127.0.0.1:0
    expect 2 "$level" "$H_SINK" --db "$nodb" --metrics-bind 127.0.0.1:65536
    expect 2 "$level" "$H_WORKER" --metrics-bind no.such.host.invalid:9100
    expect 2 "$level" "$H_ADMIN" dashboard --db "$nodb" --bind 127.0.0.1
    expect 2 "$level" "$H_ADMIN" dashboard --db "$nodb" --refresh-ms 10
done
RECSIGN_METRICS_BIND=127.0.0.1:http expect 2 error "$H_SINK" --db "$nodb"

h_step "a bad value is named where it came from: the flag, or the variable (exit 2)"
alg_expected="'foo'; expected one of ed25519, ecdsa-p256, rsa-2048, rsa-3072, rsa-4096"
RECSIGN_KEY_ALGORITHM=foo expect_named RECSIGN_KEY_ALGORITHM "$alg_expected" \
    "$H_ADMIN" init --db "$nodb" --keys 1
RECSIGN_KEY_ALGORITHM=foo expect_named RECSIGN_KEY_ALGORITHM "$alg_expected" \
    "$H_ADMIN" keys add 1 --db "$nodb"
# The flag wins over the variable, and is the one named.
RECSIGN_KEY_ALGORITHM=ed25519 expect_named --algorithm "$alg_expected" \
    "$H_ADMIN" keys add 1 --db "$nodb" --algorithm foo
expect_named --algorithm "$alg_expected" "$H_ADMIN" init --db "$nodb" --keys 1 --algorithm foo
RECSIGN_DASHBOARD_BIND=127.0.0.1 expect_named RECSIGN_DASHBOARD_BIND "'127.0.0.1'" \
    "$H_ADMIN" dashboard --db "$nodb"
expect_named --bind "'127.0.0.1'" "$H_ADMIN" dashboard --db "$nodb" --bind 127.0.0.1
RECSIGN_METRICS_BIND=127.0.0.1:http expect_named RECSIGN_METRICS_BIND "127.0.0.1:http" \
    "$H_SINK" --db "$nodb"
RECSIGN_SINK_BIND="tcp://127.0.0.1:*" expect_named RECSIGN_SINK_BIND "port '\*'; expected" \
    "$H_SINK" --db "$nodb"
RECSIGN_KEYCOORD_BIND="tcp://192.0.2.1:$p1" expect_named RECSIGN_KEYCOORD_BIND "192.0.2.1" \
    "$H_KEYCOORD" --db "$nodb"
RECSIGN_VENTILATOR_BIND="nope://x" expect_named RECSIGN_VENTILATOR_BIND "nope://x" \
    "$H_VENTILATOR" --db "$nodb"

h_step "a metrics port already taken (exit 1)"
# A worker serving metrics on p4 while it waits for a keycoord that is not there.
p4=""
rs_free_port p4 || h_fail "no free port"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$H_DIR/master.key"
chmod 0600 "$H_DIR/master.key"
rs_proc_start holder "$H_LOGS/holder.log" "$H_WORKER" --insecure-plain --master-key "$H_DIR/master.key" \
    --keycoord "tcp://127.0.0.1:$p3" --connect-timeout-ms 60000 --metrics-bind "127.0.0.1:$p4"
holder=$RS_LAST_PID
h_wait_until 30 "the worker's metrics on port $p4" curl -fs -o /dev/null "http://127.0.0.1:$p4/healthz"
# err_says REGEX WHAT: the last stderr has a line matching REGEX and no
# warning about HTTP or the address (the error line is the one thing said).
err_says() {
    grep -Eq "$1" "$H_DIR/err" || { cat "$H_DIR/err" >&2; h_fail "stderr does not say $2"; }
    if grep -Eq ' WARN .*(http|in use|bind)' "$H_DIR/err"; then
        cat "$H_DIR/err" >&2
        h_fail "a warning beside the one error line: $2"
    fi
}
for level in info error; do
    expect 1 "$level" "$H_SINK" --db "$nodb" --metrics-bind "127.0.0.1:$p4"
    err_says "ERROR metrics: cannot serve HTTP on 127.0.0.1:$p4: .*in use; expected a free port" "the port in use"
    expect 1 "$level" "$H_VENTILATOR" --db "$nodb" --metrics-bind "127.0.0.1:$p4"
    err_says "cannot serve HTTP on 127.0.0.1:$p4: .*in use; expected" "the port in use"
    expect 1 "$level" "$H_WORKER" --insecure-plain --master-key "$H_DIR/master.key" \
        --metrics-bind "127.0.0.1:$p4"
    err_says "cannot serve HTTP on 127.0.0.1:$p4: .*in use; expected" "the port in use"
done

h_step "an empty --metrics-bind or RECSIGN_METRICS_BIND is off, the flag over the variable"
# The taken port in the environment, '' on the command line: metrics off,
# so the sink gets as far as the database (exit 1 for that, not 2).
RECSIGN_METRICS_BIND="127.0.0.1:$p4" expect 1 error "$H_SINK" --db "$nodb" --insecure-plain --metrics-bind ''
err_says "cannot connect to database" "the unreachable database"
RECSIGN_METRICS_BIND='' expect 1 error "$H_KEYCOORD" --db "$nodb" --insecure-plain
err_says "cannot connect to database" "the unreachable database"
RECSIGN_METRICS_BIND='' expect 1 info "$H_KEYCOORD" --db "$nodb" --insecure-plain
err_says "config metrics-bind = \(none\)" "metrics off"
h_stop "$holder"

h_step "certificate files missing (exit 2, as other bad configuration), before the database"
"$H_ADMIN" certs --dir "$H_DIR/certs" >"$H_LOGS/certs.log" 2>&1 || h_fail "recsign certs failed"
mkdir -p "$H_DIR/no-certs" "$H_DIR/worker-only"
cp -p "$H_DIR/certs/worker.cert" "$H_DIR/certs/worker.cert_secret" "$H_DIR/worker-only/"
for level in info error; do
    expect 2 "$level" "$H_VENTILATOR" --db "$nodb" --certs "$H_DIR/no-certs"
    err_says "cannot load certificate .*/no-certs/ventilator.cert .*; expected" "the missing certificate"
    expect 2 "$level" "$H_KEYCOORD" --db "$nodb" --certs "$H_DIR/no-certs"
    expect 2 "$level" "$H_SINK" --db "$nodb" --certs "$H_DIR/no-certs"
    expect 2 "$level" "$H_WORKER" --master-key "$H_DIR/master.key" --certs "$H_DIR/no-certs"
    # Its own certificate there, the services' public ones not.
    expect 2 "$level" "$H_WORKER" --master-key "$H_DIR/master.key" --certs "$H_DIR/worker-only"
    err_says "cannot load the ventilator's public certificate .*; expected" "the missing public certificate"
done
echo "$RS_PROG: ok: $checks bad inputs refused cleanly"
