# tests/harness.sh: what every integration test shares. Source it from a
# test script; it gives the test a private directory, a private PostgreSQL
# cluster, free ports, the recsign processes, and a trap that stops all of
# them (also on failure, printing the tail of each process's log).
#
# Binaries come from the environment (set by tests/meson.build from the
# targets' full_path()); run by hand, they default to build/.
#
#   h_start_db                  private cluster; sets H_DB
#   h_init ARGS...              recsign init (master key in the test dir)
#   h_start_services [W] [T]    keycoord, sink and W workers of T threads
#   h_run_ventilator BATCH [S]  runs the ventilator until it exits (0 or fail)
#   h_stop_services             stops keycoord, sink and workers
#   h_verify, h_audit           must pass
#   h_sql SQL                   one query, unaligned output
#   h_fail MESSAGE              fails the test
#   h_eq ACTUAL EXPECTED WHAT   fails unless equal

# shellcheck shell=bash
set -euo pipefail

RS_PROG="$(basename "$0" .sh)"
# shellcheck source=../scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

H_BUILD="${RECSIGN_BUILD_DIR:-$RS_ROOT/build}"
H_VENTILATOR="${RECSIGN_VENTILATOR_BIN:-$H_BUILD/src/ventilator/recsign-ventilator}"
H_KEYCOORD="${RECSIGN_KEYCOORD_BIN:-$H_BUILD/src/keycoord/recsign-keycoord}"
H_WORKER="${RECSIGN_WORKER_BIN:-$H_BUILD/src/worker/recsign-worker}"
H_SINK="${RECSIGN_SINK_BIN:-$H_BUILD/src/sink/recsign-sink}"
H_ADMIN="${RECSIGN_ADMIN_BIN:-$H_BUILD/src/admin/recsign}"
for h_b in "$H_VENTILATOR" "$H_KEYCOORD" "$H_WORKER" "$H_SINK" "$H_ADMIN"; do
    [[ -x "$h_b" ]] || { echo "$RS_PROG: missing binary $h_b" >&2; exit 1; }
done
# The processes must take their settings from this harness only.
unset RECSIGN_DB_URL RECSIGN_KEYCOORD_BIND RECSIGN_SINK_BIND RECSIGN_VENTILATOR_BIND \
      RECSIGN_BATCH_SIZE RECSIGN_VENTILATOR_ENDPOINT RECSIGN_KEYCOORD_ENDPOINT \
      RECSIGN_SINK_ENDPOINT RECSIGN_WORKER_THREADS RECSIGN_MASTER_KEY RECSIGN_LEASE_TTL_MS
export RECSIGN_LOG_LEVEL="${RECSIGN_LOG_LEVEL:-info}"

# A short path: the PostgreSQL socket lives under it.
H_DIR="$(mktemp -d /tmp/rsit.XXXXXX)"
chmod 0755 "$H_DIR"   # the postgres user must reach $H_DIR/pg when we are root
H_LOGS="$H_DIR/logs"
mkdir -p "$H_LOGS"
H_KEY="$H_DIR/master.key"
H_DB=""
H_PG=""
H_WORKERS=0
H_VENT_N=0

# --- failure and cleanup ---------------------------------------------------------

h_log_tails() {
    local f
    for f in "$H_LOGS"/*.log ${H_PG:+"$H_PG/postgres.log"}; do
        [[ -f "$f" ]] || continue
        printf -- '----- last 30 lines of %s -----\n' "$f" >&2
        tail -n 30 "$f" >&2 || true
    done
}

h_cleanup() {
    local status=$?
    trap - EXIT INT TERM
    # Stop everything before printing anything: a reader that went away
    # (SIGPIPE) must not leave a server behind.
    trap '' PIPE
    rs_proc_stop_all
    rs_release_ports
    if [[ -n "$H_PG" ]]; then rs_pg_stop "$H_PG"; fi
    if (( status != 0 )); then
        echo "$RS_PROG: FAILED (status $status); logs of every process follow" >&2
        h_log_tails
    fi
    if [[ "${RECSIGN_TEST_KEEP:-0}" == 1 ]]; then
        echo "$RS_PROG: kept $H_DIR" >&2
    else
        rm -rf "$H_DIR"
    fi
    exit "$status"
}
trap h_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

h_fail() {
    echo "$RS_PROG: FAIL: $*" >&2
    exit 1
}

h_step() { echo "== $RS_PROG: $*" >&2; }

h_eq() {
    [[ "$1" == "$2" ]] || h_fail "$3: got '$1', expected '$2'"
}

# --- database --------------------------------------------------------------------

h_start_db() {
    H_PG="$H_DIR/pg"
    rs_pg_start "$H_PG" || h_fail "could not start PostgreSQL"
    H_DB="$RS_PG_URL"
    h_make_certs
}

# h_make_certs: CURVE certificates for every process of the test (they read
# RECSIGN_CERTS_DIR), with one allowed worker certificate, "worker".
h_make_certs() {
    H_CERTS="$H_DIR/certs"
    "$H_ADMIN" certs --dir "$H_CERTS" >>"$H_LOGS/certs.log" 2>&1 \
        || { cat "$H_LOGS/certs.log" >&2; h_fail "recsign certs failed"; }
    export RECSIGN_CERTS_DIR="$H_CERTS"
}

h_sql() { rs_psql "$H_DB" -c "$1"; }

# h_admin ARGS...: runs the admin CLI against the test database.
h_admin() { "$H_ADMIN" "$1" --db "$H_DB" "${@:2}"; }

h_init() {
    h_step "recsign init $*"
    h_admin init --master-key "$H_KEY" "$@" >>"$H_LOGS/init.log" 2>&1 \
        || { tail -n 20 "$H_LOGS/init.log" >&2; h_fail "recsign init $* failed"; }
}

# --- processes -------------------------------------------------------------------

# h_start_services [WORKERS] [THREADS]: keycoord, sink, then the workers.
h_start_services() {
    local workers="${1:-1}" threads="${2:-2}" w
    rs_free_port H_PORT_VENT || h_fail "no free port"
    rs_free_port H_PORT_SINK || h_fail "no free port"
    rs_free_port H_PORT_KC || h_fail "no free port"
    rs_proc_start keycoord "$H_LOGS/keycoord.log" \
        "$H_KEYCOORD" --db "$H_DB" --bind "tcp://127.0.0.1:$H_PORT_KC"
    rs_proc_start sink "$H_LOGS/sink.log" \
        "$H_SINK" --db "$H_DB" --bind "tcp://127.0.0.1:$H_PORT_SINK"
    for ((w = 1; w <= workers; w++)); do
        rs_proc_start "worker-$w" "$H_LOGS/worker-$w.log" \
            "$H_WORKER" --ventilator "tcp://127.0.0.1:$H_PORT_VENT" \
            --keycoord "tcp://127.0.0.1:$H_PORT_KC" --sink "tcp://127.0.0.1:$H_PORT_SINK" \
            --threads "$threads" --master-key "$H_KEY"
    done
    H_WORKERS=$workers
}

# h_run_ventilator BATCH [TIMEOUT]: starts the ventilator and waits for it;
# fails the test unless it exits 0 in time with every other process alive.
# Sets H_VENT_SECONDS.
h_run_ventilator() {
    local batch="$1" timeout="${2:-120}" rc=0 t0
    H_VENT_N=$((H_VENT_N + 1))
    local log="$H_LOGS/ventilator-$H_VENT_N.log"
    h_step "ventilator run $H_VENT_N, batch size $batch"
    t0="$(date +%s%N)"
    rs_proc_start "ventilator-$H_VENT_N" "$log" \
        "$H_VENTILATOR" --db "$H_DB" --bind "tcp://127.0.0.1:$H_PORT_VENT" --batch-size "$batch"
    rs_wait_proc "$RS_LAST_PID" "$timeout" || rc=$?
    H_VENT_SECONDS="$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')"
    case "$rc" in
        0)   [[ "$RS_WAIT_STATUS" == 0 ]] || h_fail "ventilator exited with status $RS_WAIT_STATUS" ;;
        124) h_fail "ventilator did not finish within $timeout s" ;;
        *)   h_fail "$RS_DEAD_NAME died while the ventilator ran" ;;
    esac
    h_step "ventilator run $H_VENT_N finished in $H_VENT_SECONDS s"
}

h_stop_services() { rs_proc_stop_all; }

# --- proofs -------------------------------------------------------------------------

h_verify() {
    h_step "recsign verify"
    h_admin verify --threads 2 >"$H_LOGS/verify.out" 2>&1 \
        || { cat "$H_LOGS/verify.out" >&2; h_fail "recsign verify failed"; }
}

h_audit() {
    h_step "recsign audit"
    h_admin audit >"$H_LOGS/audit.out" 2>&1 \
        || { cat "$H_LOGS/audit.out" >&2; h_fail "recsign audit failed"; }
}

# h_check_complete: every record has exactly one stored signature.
h_check_complete() {
    h_eq "$(h_sql 'select count(*) from signatures')" "$(h_sql 'select count(*) from records')" \
        "signatures vs records"
    h_eq "$(h_sql 'select count(*) from records r where not exists (select 1 from signatures s where s.record_id = r.id)')" \
        0 "unsigned records"
    h_eq "$(h_sql 'select count(*) from signatures where length(signature) <> 64')" 0 \
        "signatures not 64 bytes long"
}

# h_sign_all RECORDS KEYS BATCH WORKERS THREADS: the whole happy path on a
# fresh database, ending with verify and audit.
h_sign_all() {
    h_start_db
    h_init --keys "$2" --records "$1"
    h_start_services "$4" "$5"
    h_run_ventilator "$3"
    h_stop_services
    h_check_complete
    h_verify
    h_audit
}
