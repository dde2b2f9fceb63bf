#!/usr/bin/env bash
# scripts/test.sh: installs what is missing, builds, and runs every meson test
# suite (unit and integration), then again in a sanitizer build (build-asan:
# ASan, LeakSanitizer and UBSan; RECSIGN_SANITIZE=0 skips it), then prints
# "N passed, N failed" for both passes together alone on the last line.
# Extra arguments go to `meson test` in both passes, e.g.
#   scripts/test.sh --suite unit
#   scripts/test.sh --suite integration batch_size_7
# Exits non-zero when any test failed, a sanitizer reported, or none could run.
set -euo pipefail

RS_PROG=test.sh
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case "${1:-}" in
    -h|--help)
        sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
        exit 0 ;;
esac

passed=0 failed=0 skipped=0 status=0
failures=""  # what count_log kept of the tests that did not pass, each pass

# count_log LOG PASS: reads meson's machine-readable log once (one JSON
# object per test, "result": "OK" | "FAIL" | "SKIP" | "EXPECTEDFAIL" |
# "UNEXPECTEDPASS" | "TIMEOUT" | "ERROR"), adds its results to the totals
# (expected failures count as passed; timeouts, errors and unexpected passes
# as failed) and keeps, for each test that did not pass, "PASS: NAME
# (RESULT)", then, indented, its last steps and FAIL line, the errors and
# warnings of the process logs it printed (each kind once) and its last lines,
# so that the end of a long CI log names what failed and why. Returns 1 when the log holds no
# result at all.
count_log() {
    local log="$1" p s f
    [[ -s "$log" ]] || return 1
    local report
    report="$(python3 - "$log" "$2" <<'PY'
import json, re, sys
counts = {"passed": 0, "skipped": 0, "failed": 0}
lines = []
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    try:
        t = json.loads(line)
    except ValueError:
        continue
    result = t.get("result")
    if result in ("OK", "EXPECTEDFAIL"):
        counts["passed"] += 1
        continue
    if result == "SKIP":
        counts["skipped"] += 1
        continue
    counts["failed"] += 1
    lines.append(f"{sys.argv[2]}: {t.get('name', '?')} ({result or '?'})")
    out = ((t.get("stdout") or "") + (t.get("stderr") or "")).rstrip().splitlines()
    # What the test said last before it failed (its steps, warnings and FAIL line),
    # then the processes' errors and warnings from the log tails it
    # printed (once each, the last 20), then its last lines.
    # The harness's own warnings name the process that hung or exited
    # badly ("worker-1 (pid N) did not exit within 10 s of SIGTERM").
    said = [l for l in out if l.startswith("== ") or ": FAIL: " in l
            or re.match(r"^[\w.-]+: warning: ", l)][-8:]
    seen, notes = set(), []
    for l in out:
        kind = re.sub(r"[0-9]+", "#", l[24:])  # counts and ids aside
        if (" ERROR " in l or " WARN " in l) and kind not in seen:
            seen.add(kind)
            notes.append(l)
    lines += ["    " + l for l in said + notes[-20:] + out[-8:]]
print(counts["passed"], counts["skipped"], counts["failed"])
print("\n".join(lines))
PY
)" || return 1
    read -r p s f <<<"${report%%$'\n'*}"
    (( p + s + f > 0 )) || return 1
    passed=$((passed + p)) skipped=$((skipped + s)) failed=$((failed + f))
    [[ "$report" == *$'\n'* ]] && failures+="${report#*$'\n'}"$'\n'
    return 0
}

# --- normal build --------------------------------------------------------------

# shellcheck disable=SC2119  # no argument: the normal build's dependencies
rs_ensure_deps
rs_build
build="$(rs_build_dir)"
log="$build/meson-logs/testlog.json"
rm -f "$log"
meson test -C "$build" --print-errorlogs "$@" || status=$?
if ! count_log "$log" normal; then
    # meson ran nothing we can count (bad arguments or a build failure).
    failed=$((failed + 1))
    (( status != 0 )) || status=1
fi

# --- sanitizer build -------------------------------------------------------------
# The same suites built with -fsanitize=address,undefined at -O0. Every
# sanitizer report (ASan, LeakSanitizer at exit, UBSan) aborts the process.
# ASan and LeakSanitizer reports are written to files under
# meson-logs/sanitizer/ (named after the executable and pid) rather than to
# stderr, so that a report from a process whose exit status nobody checked,
# or whose log a passing test deleted, still fails the pass. (GCC's UBSan
# ignores log_path next to ASan: its reports stay on stderr, and the abort is
# what fails the test.) Suppressions, for third-party libraries only, live
# in tests/lsan.supp and tests/ubsan.supp.

sanitize_pass() {
    local dir="${RECSIGN_ASAN_BUILD_DIR:-$RS_ROOT/build-asan}" reports st=0
    if [[ ! -f "$dir/build.ninja" ]]; then
        local -a opts=()
        [[ "${CI:-}" == true ]] && opts+=(--werror)
        rs_say "configuring $dir (ASan + UBSan)"
        meson setup "${opts[@]}" --buildtype=debug -Db_sanitize=address,undefined \
            -Db_lundef=false "$dir" "$RS_ROOT" >&2 || { rs_warn "meson setup of $dir failed"; return 1; }
    fi
    rs_say "building in $dir"
    meson compile -C "$dir" >&2 || { rs_warn "sanitizer build failed"; return 1; }

    reports="$dir/meson-logs/sanitizer"
    rm -rf "$reports"
    mkdir -p "$reports"
    local common="halt_on_error=1:abort_on_error=1:print_summary=1:log_path=$reports/report:log_exe_name=1"
    # verify_asan_link_order=0: the harness may LD_PRELOAD its CZMQ log shim
    # (tests/czmq_logshim.c) ahead of libasan; the shim defines no allocator
    # function, so the order is harmless and must not abort the process.
    local asan="$common:detect_leaks=1:detect_stack_use_after_return=1:verify_asan_link_order=0"
    local ubsan="$common:print_stacktrace=1"
    local lsan=""
    [[ -f "$RS_ROOT/tests/lsan.supp" ]] && lsan="suppressions=$RS_ROOT/tests/lsan.supp:print_suppressions=0"
    [[ -f "$RS_ROOT/tests/ubsan.supp" ]] && ubsan+=":suppressions=$RS_ROOT/tests/ubsan.supp"

    local log="$dir/meson-logs/testlog.json"
    rm -f "$log"
    rs_say "running the suites again under ASan + UBSan ($dir)"
    # -O0 and instrumentation make everything slower: meson's own per-test
    # timeouts are doubled (the tests' internal deadlines are not).
    ASAN_OPTIONS="$asan" UBSAN_OPTIONS="$ubsan" LSAN_OPTIONS="$lsan" RECSIGN_SANITIZED=1 \
        meson test -C "$dir" --print-errorlogs --timeout-multiplier 2 "$@" || st=$?
    if ! count_log "$log" sanitizer; then
        rs_warn "the sanitizer pass ran no test"
        return 1
    fi
    local -a found=()
    mapfile -t found < <(find "$reports" -type f -name 'report.*' | sort)
    if (( ${#found[@]} > 0 )); then
        local f
        rs_warn "${#found[@]} sanitizer report(s) in $reports:"
        for f in "${found[@]}"; do
            printf -- '----- %s -----\n' "$f" >&2
            head -n 80 "$f" >&2
        done
        return 1
    fi
    # Failed tests are counted already; only the exit status is left to pass on.
    (( st == 0 || status != 0 )) || status=$st
    return 0
}

if [[ "${RECSIGN_SANITIZE:-1}" != 0 ]]; then
    # A failed build or a report counts as one failure beyond the tests'.
    sanitize_pass "$@" || { failed=$((failed + 1)); (( status != 0 )) || status=1; }
fi

# --- summary ---------------------------------------------------------------------

if [[ -n "${failures//$'\n'/}" ]]; then
    echo "test.sh: what did not pass (pass: test (result), then its last lines):"
    printf '%s' "$failures" | sed '/^$/d'
fi
summary="$passed passed, $failed failed"
(( skipped == 0 )) || summary+=", $skipped skipped"
echo "$summary"
if (( failed > 0 && status == 0 )); then status=1; fi
exit "$status"
