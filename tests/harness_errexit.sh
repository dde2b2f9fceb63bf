#!/usr/bin/env bash
# harness_errexit.sh: a test that a failing command ends (set -e), not
# h_fail, still says what failed. keycoord_sigstop once died in CI on
# `line="$(grep ... | tail -n 1)"` finding nothing (one of the two outcomes
# it meant to accept), and the only trace was "exit status 1" after the
# processes' logs. Three small tests on the harness: a command failing in a
# function, an empty grep in a substitution at the top, and failures the
# script handles (if, ||, `|| true`), which must pass without a word.
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

harness="$RS_ROOT/tests/harness.sh"

# run_case NAME BODY: writes BODY after the harness's source line into
# $H_DIR/NAME.sh, runs it, and leaves its exit status in $rc and its
# stderr in $H_DIR/NAME.err.
run_case() {
    printf 'source %q\n%s\n' "$harness" "$2" >"$H_DIR/$1.sh"
    rc=0
    RECSIGN_TEST_KEEP=0 bash "$H_DIR/$1.sh" >/dev/null 2>"$H_DIR/$1.err" || rc=$?
}

h_step "a command failing inside a function"
run_case in_function 'check_rows() { grep -q "^rows: 3$" /dev/null; }
echo before
check_rows
echo after'
h_eq "$rc" 1 "exit status of a test whose function's grep failed"
h_log_has "$H_DIR/in_function.err" \
    "^in_function: FAIL: in_function.sh:2: 'grep -q \"\\^rows: 3\\$\" /dev/null' exited with status 1, and the test expected it to succeed\$" \
    "no FAIL line naming the function's grep and its line"

h_step "an empty grep in a command substitution at the top"
run_case in_substitution 'x=1
line="$(grep -E "cannot be confirmed" /dev/null | tail -n 1)"
echo "not reached: $line"'
h_eq "$rc" 1 "exit status of a test whose substitution failed"
h_log_has "$H_DIR/in_substitution.err" \
    "^in_substitution: FAIL: in_substitution.sh:3: 'line=.*' exited with status 1" \
    "no FAIL line naming the assignment and its line"

h_step "failures the script handles, then h_fail: one FAIL line, its own"
run_case handled 'if grep -q x /dev/null; then echo found; fi
grep -q x /dev/null || true
v="$(grep x /dev/null || true)"
f() { grep -q x /dev/null || return 3; }
f || echo "f said $?"
h_fail "the message of the test itself"'
h_eq "$rc" 1 "exit status of a test that called h_fail"
h_eq "$(grep -c ': FAIL: ' "$H_DIR/handled.err")" 1 "FAIL lines of a test that handled its failures and called h_fail"
h_log_has "$H_DIR/handled.err" "^handled: FAIL: the message of the test itself\$" "h_fail's own line missing"

h_step "failures the script handles, then a clean end"
run_case passes 'grep -q x /dev/null || true
if ! grep -q x /dev/null; then :; fi'
h_eq "$rc" 0 "exit status of a test that handled every failure"
h_eq "$(grep -c 'FAIL' "$H_DIR/passes.err" || true)" 0 "FAIL lines of a passing test"
echo "$RS_PROG: ok: a command that ends a test through set -e is named with its file and line"
