#!/usr/bin/env bash
# script_lifecycle.sh: the scripts' one lifecycle (scripts/lib.sh) takes its
# lists and bounds from the programs themselves.
#   1. Every RECSIGN_* variable the C sources read appears in some
#      program's --help, and so in the list the scripts clear.
#   2. run_local.sh refuses, as a usage error (exit 2), every value its
#      programs would refuse: --threads above the worker's maximum, --keys
#      above recsign init's, --batch-size above the ventilator's, --max-rate
#      above the worker's; the message gives the programs' range. A
#      flag that takes no value refuses one (--cpu-account=0), a flag that
#      takes one refuses another flag as it (--master-key --keep); soak.sh
#      and fuzz.sh say a bad flag in one line; a logs directory or file
#      the scripts did not make is left alone, and --out-dir that cannot
#      be a directory is a usage error.
#   3. run_local.sh in a hostile environment (every variable the programs
#      read set to something that would break the run) still signs every
#      record: what it starts takes its settings from it alone.
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

export RECSIGN_SKIP_DEPS=1 RECSIGN_VENTILATOR_BIN="$H_VENTILATOR" RECSIGN_KEYCOORD_BIN="$H_KEYCOORD" \
       RECSIGN_WORKER_BIN="$H_WORKER" RECSIGN_SINK_BIN="$H_SINK" RECSIGN_ADMIN_BIN="$H_ADMIN"

h_step "case 1: every variable the sources read is in a --help"
read_by_sources="$(grep -rhoE '"RECSIGN_[A-Z0-9_]+"' "$RS_ROOT/src" "$RS_ROOT/lib" | tr -d '"' | sort -u)"
[[ -n "$read_by_sources" ]] || h_fail "found no RECSIGN_* variable in the sources"
in_help="$(rs_config_env_names)"
for v in $read_by_sources; do
    grep -qx -- "$v" <<<"$in_help" || h_fail "$v is read by a program but printed by no --help"
done
h_step "$(wc -w <<<"$read_by_sources") variables, all in the programs' --help"

h_step "case 2: run_local.sh refuses what its programs refuse"
range() { rs_help_range "$@" | tr ' ' '-'; }
threads_max="$(rs_help_range --threads "$H_WORKER" | awk '{ print $2 }')"
keys_max="$(rs_help_range --keys "$H_ADMIN" init | awk '{ print $2 }')"
batch_max="$(rs_help_range --batch-size "$H_VENTILATOR" | awk '{ print $2 }')"
rate_max="$(rs_help_range --max-rate "$H_WORKER" | awk '{ print $2 }')"
[[ -n "$threads_max" && -n "$keys_max" && -n "$batch_max" && -n "$rate_max" ]] \
    || h_fail "could not read the programs' ranges from their --help"
# exits STATUS PATTERN WHAT CMD...: runs CMD, its output in $exits_out;
# it must exit STATUS and print a line matching PATTERN.
exits_out="$H_LOGS/exits.out"
exits() {
    local want="$1" pattern="$2" what="$3" st=0
    shift 3
    "$@" >"$exits_out" 2>&1 || st=$?
    h_eq "$st" "$want" "$what: exit status"
    h_log_has "$exits_out" "$pattern" "$what: message"
}
# run_local ARGS...: scripts/run_local.sh with a data directory of its own.
run_local() { RECSIGN_DATA_DIR="$H_DIR/rl-refused" bash "$RS_ROOT/scripts/run_local.sh" "$@"; }
refused() {   # refused FLAG VALUE EXPECTED_RANGE_TEXT
    exits 2 "$1 is '$2'; expected an integer from $3" "run_local.sh $1 $2" run_local "$1" "$2"
}
refused --threads $((threads_max + 1)) "0 to $threads_max"
refused --keys $((keys_max + 1)) "1 to $keys_max"
refused --keys 0 "1 to $keys_max"
refused --batch-size $((batch_max + 1)) "1 to $batch_max"
refused --max-rate $((rate_max + 1)) "0 to $rate_max"
# A flag without a value given one (--cpu-account=0) is refused, not taken
# as on: --cpu-account=0 --follow once said the two could not be combined,
# and --cpu-account=1 or --help=x ran as if the value were not there.
for given in --cpu-account=0 --keep=1 --follow=no --help=x; do
    exits 2 "flag '${given%%=*}' takes no value \\(got '$given'\\)" "run_local.sh $given" run_local "$given"
done
# A logs directory the scripts did not make is not theirs to empty: once,
# bench.sh --out-dir DIR deleted DIR/logs whatever it held.
mkdir -p "$H_DIR/foreign/logs"
echo precious >"$H_DIR/foreign/logs/keep.txt"
exits 1 "is not empty and has no \\.recsign-logs file" "run_local.sh with a foreign logs directory" \
    env RECSIGN_DATA_DIR="$H_DIR/foreign" bash "$RS_ROOT/scripts/run_local.sh"
h_eq "$(cat "$H_DIR/foreign/logs/keep.txt")" precious "the foreign file, left alone"
# A file where the logs directory goes is not deleted either.
echo precious >"$H_DIR/foreign2-logs"
mkdir -p "$H_DIR/foreign2" && mv "$H_DIR/foreign2-logs" "$H_DIR/foreign2/logs"
exits 1 "logs' exists and is not a directory" "run_local.sh with a file named logs" \
    env RECSIGN_DATA_DIR="$H_DIR/foreign2" bash "$RS_ROOT/scripts/run_local.sh"
h_eq "$(cat "$H_DIR/foreign2/logs")" precious "the file named logs, left alone"
# A logs directory holding only marked ones (bench_keycoord.sh alone
# writes DIR/logs/kc) is the scripts' own: emptied, not refused.
(source "$RS_ROOT/scripts/lib.sh"; rs_empty_dir "$H_DIR/own/logs/kc"; rs_empty_dir "$H_DIR/own/logs") \
    || h_fail "a logs directory holding only bench_keycoord.sh's marked logs/kc was refused"
# A flag that takes a value followed by another flag: the value is
# missing (once, --master-key --keep wrote a master key file named --keep).
exits 2 "flag '--master-key' needs a value; got the flag '--keep'" "run_local.sh --master-key --keep" \
    env -C "$H_DIR" RECSIGN_DATA_DIR="$H_DIR/rl-refused" bash "$RS_ROOT/scripts/run_local.sh" --master-key --keep
[[ ! -e "$H_DIR/--keep" ]] || h_fail "run_local.sh --master-key --keep made a file named --keep"
# soak.sh and fuzz.sh: a bad flag is one line and exit 2 (soak.sh printed
# its 24-line usage, or nothing at all for --faults without a value;
# fuzz.sh took -x for a target and exited 1).
for given in "soak.sh --keep=1" "soak.sh --faults" "soak.sh --minutes=x" "fuzz.sh -x" "fuzz.sh --merge=1"; do
    # shellcheck disable=SC2086  # script and flag, split on purpose
    exits 2 "^(soak|fuzz)\\.sh: error: " "$given" bash "$RS_ROOT/scripts/"$given
    h_eq "$(wc -l <"$exits_out")" 1 "$given: lines of output ($(head -c 300 "$exits_out"))"
done
# --out-dir that cannot be a directory: a usage error before any work.
: >"$H_DIR/a-file"
for given in "$H_DIR/a-file" "$H_DIR/a-file/sub"; do
    exits 2 "^bench.sh: error: --out-dir is '$given'" "bench.sh --out-dir $given" \
        bash "$RS_ROOT/scripts/bench.sh" --out-dir "$given"
done

h_step "case 3: run_local.sh in a hostile environment"
declare -A hostile=(
    [RECSIGN_INSECURE_PLAIN]=1 [RECSIGN_WORKER_MAX_RATE]=1 [RECSIGN_CLIENT_CERT]=nobody
    [RECSIGN_MAX_BATCH_MIB]=junk [RECSIGN_VERIFY_THREADS]=junk [RECSIGN_CERTS_DIR]=/nonexistent
    [RECSIGN_BATCH_SIZE]=junk [RECSIGN_LEASE_TTL_MS]=1 [RECSIGN_HOLDER]=x [RECSIGN_MASTER_KEY]=/nonexistent
    [RECSIGN_SINK_FLUSH_ROWS]=junk [RECSIGN_KEYCOORD_ENDPOINT]=tcp://127.0.0.1:1
)
# Every variable a program reads is set; those without a bad value above
# get an unparseable one.
for v in $in_help; do
    [[ "$v" == RECSIGN_LOG_LEVEL || "$v" == RECSIGN_DB_URL ]] && continue
    [[ -n "${hostile[$v]:-}" ]] || hostile[$v]="junk"
done
env_args=()
for v in "${!hostile[@]}"; do env_args+=("$v=${hostile[$v]}"); done
st=0
env "${env_args[@]}" RECSIGN_DATA_DIR="$H_DIR/rl-hostile" bash "$RS_ROOT/scripts/run_local.sh" \
    --records 2000 --keys 3 --workers 1 --threads 1 >"$H_LOGS/hostile.out" 2>&1 || st=$?
(( st == 0 )) || { cat "$H_LOGS/hostile.out" >&2; h_fail "run_local.sh in a hostile environment exited $st"; }
h_log_has "$H_LOGS/hostile.out" '^  records +2000 \(2000 signed\)' "every record signed"
h_log_has "$H_LOGS/hostile.out" '^  audit +ok' "audit"
echo "$RS_PROG: ok: the scripts' variable list and bounds come from the programs; test took $SECONDS s"
