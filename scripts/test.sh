#!/usr/bin/env bash
# scripts/test.sh: installs what is missing, builds, and runs every meson test
# suite (unit and integration), then prints "N passed, N failed" alone on the
# last line. Extra arguments go to `meson test`, e.g.
#   scripts/test.sh --suite unit
#   scripts/test.sh --suite integration batch_size_7
# Exits non-zero when any test failed (or none could run).
set -euo pipefail

RS_PROG=test.sh
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case "${1:-}" in
    -h|--help)
        sed -n '2,7p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
        exit 0 ;;
esac

rs_ensure_deps
rs_build
build="$(rs_build_dir)"
log="$build/meson-logs/testlog.json"
rm -f "$log"

status=0
meson test -C "$build" --print-errorlogs "$@" || status=$?

# Count results from meson's machine-readable log: expected failures count as
# passed; timeouts, errors and unexpected passes as failed.
summary=""
if [[ -s "$log" ]]; then
    # One JSON object per test, with "result": "OK" | "FAIL" | "SKIP" |
    # "EXPECTEDFAIL" | "UNEXPECTEDPASS" | "TIMEOUT" | "ERROR".
    results="$(grep -oE '"result": *"[A-Z_]+"' "$log" | sed -E 's/.*"([A-Z_]+)"$/\1/')" || true
    passed="$(grep -cE '^(OK|EXPECTEDFAIL)$' <<<"$results")" || true
    skipped="$(grep -cE '^SKIP$' <<<"$results")" || true
    failed="$(grep -cvE '^(OK|EXPECTEDFAIL|SKIP|)$' <<<"$results")" || true
    if (( passed + skipped + failed > 0 )); then
        summary="$passed passed, $failed failed"
        (( skipped == 0 )) || summary+=", $skipped skipped"
    fi
fi
if [[ -z "$summary" ]]; then
    # meson ran nothing we can count (bad arguments or a build failure).
    summary="0 passed, 1 failed"
    (( status != 0 )) || status=1
fi
echo "$summary"
failed="$(sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/' <<<"$summary")"
if (( failed > 0 && status == 0 )); then status=1; fi
exit "$status"
