#!/usr/bin/env bash
# scripts/fuzz.sh: fuzzes every decoder of network messages with libFuzzer
# (tests/fuzz), two targets at a time under `nice -n 19`, SECONDS each
# (default 600), then prints one line per target and exits non-zero when any
# target crashed or a sanitizer reported. Usage:
#   scripts/fuzz.sh [--merge] [SECONDS] [TARGET...]    TARGET: batch lease_req lease_rep results
# --merge adds the inputs that found new coverage to tests/fuzz/corpus/.
# Installs clang and libFuzzer if missing (as root); builds in build-fuzz/.
set -euo pipefail

RS_PROG=fuzz.sh
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ALL_TARGETS=(batch lease_req lease_rep results)
merge=0
seconds="${RECSIGN_FUZZ_SECONDS:-600}"
targets=()
for arg in "$@"; do
    case "$arg" in
        -h|--help) sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        --merge) merge=1 ;;
        [0-9]*) [[ "$arg" =~ ^[0-9]+$ ]] || rs_usage_error "not a number of seconds: $arg"; seconds="$arg" ;;
        -*) rs_usage_error "unknown flag '$arg'; expected --merge, --help, SECONDS or a target (${ALL_TARGETS[*]})" ;;
        *)
            [[ " ${ALL_TARGETS[*]} " == *" $arg "* ]] || rs_usage_error "unknown target '$arg'; expected one of ${ALL_TARGETS[*]}"
            targets+=("$arg") ;;
    esac
done
(( ${#targets[@]} > 0 )) || targets=("${ALL_TARGETS[@]}")
# At most two at a time: fuzzing shares the machine with everything else.
jobs_max="${RECSIGN_FUZZ_JOBS:-2}"
(( jobs_max >= 1 && jobs_max <= 2 )) || jobs_max=2

# --- build -------------------------------------------------------------------
# clang, ASan + UBSan on everything (UBSan made fatal so libFuzzer sees it),
# and libFuzzer's coverage instrumentation on the codec (tests/fuzz/meson.build).

rs_ensure_deps fuzz
rs_fuzzer_runtime_ok || rs_die "clang's libFuzzer runtime is missing (libclang-rt-*-dev)"
build="${RECSIGN_FUZZ_BUILD_DIR:-$RS_ROOT/build-fuzz}"
if [[ ! -f "$build/build.ninja" ]]; then
    rs_say "configuring $build"
    CC=clang meson setup "$build" "$RS_ROOT" -Dfuzz=true -Db_sanitize=address,undefined \
        -Db_lundef=false -Dc_args=-fno-sanitize-recover=all >&2 || rs_die "meson setup failed"
fi
rs_say "building the fuzz targets in $build"
# Only the targets: the rest of the tree is not needed to fuzz the codec.
meson compile -C "$build" "${targets[@]/#/fuzz_}" >&2 || rs_die "build failed"

# --- run ---------------------------------------------------------------------
# Per target, under $build/fuzz/: corpus/T (the working corpus: new inputs go
# here, the committed seeds in tests/fuzz/corpus/T are only read),
# crashes/T (crash-*, leak-*, timeout-*, oom-* reproducers) and logs/T.log.

out="$build/fuzz"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"

declare -A pid_target=() rc_of=()
running=()

# shellcheck disable=SC2317  # called from the traps below
stop_children() {
    local p
    for p in "${running[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
}
trap 'stop_children; exit 130' INT
trap 'stop_children; exit 143' TERM

start_target() {
    local t="$1"
    local -a extra=()
    # A batch's writer starts at 64 KiB: let inputs grow past it so that
    # rebuilding exercises its growth. A reply of RS_GROUP_MAX RSA-4096
    # grants is about 167 KB: let replies reach it. (Others stay at
    # libFuzzer's default.)
    [[ "$t" == batch || "$t" == lease_rep ]] && extra+=(-max_len=262144)
    mkdir -p "$out/corpus/$t" "$out/crashes/$t" "$out/logs"
    rs_say "fuzzing $t for $seconds s (log: $out/logs/$t.log)"
    nice -n 19 "$build/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -print_final_stats=1 \
        -timeout=10 -artifact_prefix="$out/crashes/$t/" "${extra[@]}" \
        "$out/corpus/$t" "$RS_ROOT/tests/fuzz/corpus/$t" >"$out/logs/$t.log" 2>&1 &
    pid_target[$!]="$t"
    running+=("$!")
}

# Waits for one running target; records its exit status.
reap_one() {
    local done_pid="" st=0 p keep=()
    wait -n -p done_pid "${running[@]}" || st=$?
    [[ -n "$done_pid" ]] || return 0
    rc_of[${pid_target[$done_pid]}]=$st
    for p in "${running[@]}"; do [[ "$p" == "$done_pid" ]] || keep+=("$p"); done
    running=("${keep[@]}")
}

for t in "${targets[@]}"; do
    (( ${#running[@]} < jobs_max )) || reap_one
    start_target "$t"
done
while (( ${#running[@]} > 0 )); do reap_one; done
trap - INT TERM

# --- report ------------------------------------------------------------------

status=0
summary="$out/summary.txt"
{
    echo "# $(date -u +%Y-%m-%dT%H:%MZ), $seconds s per target, $(git -C "$RS_ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
} >"$summary"
for t in "${targets[@]}"; do
    log="$out/logs/$t.log"
    execs="$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -n 1)"
    took="$(sed -nE 's/^Done [0-9]+ runs in ([0-9]+) second.*/\1/p' "$log" | tail -n 1)"
    last="$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -n 1)" || true
    cov="$(sed -nE 's/.*cov: ([0-9]+).*/\1/p' <<<"$last")"
    ft="$(sed -nE 's/.*ft: ([0-9]+).*/\1/p' <<<"$last")"
    corp="$(sed -nE 's/.*corp: ([0-9]+).*/\1/p' <<<"$last")"
    crashes="$(find "$out/crashes/$t" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' \
        -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)"
    verdict=OK
    if (( ${rc_of[$t]:-1} != 0 || crashes > 0 )) || grep -qE '==[0-9]+== ?ERROR|^SUMMARY: |runtime error:' "$log"; then
        verdict="FAILED (exit ${rc_of[$t]:-?}; reproducers in $out/crashes/$t/; log $log)"
        status=1
    fi
    printf 'fuzz_%s: %s execs in %s s, cov %s, ft %s, corpus %s: %s\n' \
        "$t" "${execs:-?}" "${took:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$verdict" | tee -a "$summary"
done

# --- merge -------------------------------------------------------------------
# Adds to the committed seeds only the working-corpus inputs that reach new
# coverage (-merge=1 keeps everything already in the first directory).

if (( merge == 1 )); then
    for t in "${targets[@]}"; do
        seeds="$RS_ROOT/tests/fuzz/corpus/$t"
        before="$(find "$seeds" -type f | wc -l)"
        "$build/tests/fuzz/fuzz_$t" -merge=1 "$seeds" "$out/corpus/$t" >"$out/logs/$t.merge.log" 2>&1 \
            || { rs_warn "merge of $t failed (see $out/logs/$t.merge.log)"; status=1; continue; }
        after="$(find "$seeds" -type f | wc -l)"
        rs_say "corpus $t: $before -> $after files"
        (( after <= 200 )) || rs_warn "corpus $t has $after files; keep it under 200 (minimise with -merge=1 into an empty directory)"
    done
fi

exit "$status"
