# tests/harness.sh: what every integration test shares. Source it from a
# test script; it gives the test a private directory, a private PostgreSQL
# cluster, free ports, the recsign processes, and a trap that stops all of
# them (also on failure, printing the tail of each process's log).
#
# Binaries come from the environment (set by tests/meson.build from the
# targets' full_path()); run by hand, they default to build/.
#
#   h_start_db                  private cluster; sets H_DB
#   h_pg_restart                pg_ctl restart -m fast, as the cluster's owner
#   h_start_standby             a synchronous hot standby of it; sets H_PG_STANDBY
#   h_start_on_both BATCH       keycoord, sink, 2 workers, ventilator; each
#                               service given both servers (H_DB_BOTH_*)
#   h_init ARGS...              recsign init (master key in the test dir)
#   h_damage_secret ID MASK     flips bits of a key's sealed secret (it no longer unseals)
#   h_keys VERB ARGS...         recsign keys VERB against the test database
#   h_start_services [W] [T]    keycoord, sink and W workers of T threads
#   h_start_keycoord [ARGS]     one process each, with H_KC_OPTS, H_SINK_OPTS,
#   h_start_sink [ARGS]         H_WORKER_OPTS, H_VENT_OPTS (arrays a test may
#   h_start_worker T [ARGS]     set) and ARGS; each sets H_<KIND>_PID and
#   h_start_ventilator B [ARGS] H_<KIND>_LOG (KC, SINK, WORKER, VENT)
#   h_extra_endpoint VAR        a free endpoint for a second service of a kind
#   h_start_standby_ventilator EP [ARGS]  a second ventilator (H_STANDBY_*)
#   h_fault_options TTL REDISPATCH [RATE]  a fault test's H_*_OPTS
#   h_need_rogue                sets H_ROGUE, the hostile peer
#   h_wait_ventilator [S]       waits for it: exit 0 in time, all others alive
#   h_run_ventilator BATCH [S]  both: runs the ventilator until it exits
#   h_stop PID [SIG] [S]        SIGTERM (or SIG) and wait: must exit 0, and
#                               CZMQ must not report dangling sockets
#   h_kill PID                  SIGKILL and reap (a deliberate crash)
#   h_stop_services             stops the rest with SIGTERM: each must exit 0
#   h_wait_until S WHAT CMD...  polls CMD, failing if a process dies meanwhile
#   h_verify, h_audit           must pass
#   h_expect_fail CMD RULE [ID] verify or audit must fail, naming RULE and ID
#   h_check_complete            exactly one stored signature per record
#   h_check_leases BATCH        rules 2 and 3 in SQL, apart from the audit
#   h_sql SQL                   one query, unaligned output
#   h_kc_session LOG            the database session of that keycoord's lock
#   h_kc_serves LOG EPOCH       true once that keycoord serves in EPOCH
#   h_cut_session PID           pg_terminate_backend, as a cut link would
#   h_all_exit TIMEOUT PID...   each PID exits 0 within TIMEOUT s, in any order
#   h_slow_db                   H_SLOW_DB: two hosts that never answer, then the database
#   h_start_kc_pair [ARGS]      a keycoord leading and one (with ARGS) standing by
#   h_kc_run BATCH              sink, workers wa and wb, ventilator; mid-run
#   h_finish_kc BATCH EPOCH     h_finish, the last leader's clean stop, rules 2, 4
#   h_wait_sql SQL VALUE WHAT   polls SQL (10 s at most) until it prints VALUE
#   h_fail MESSAGE              fails the test
#   h_eq ACTUAL EXPECTED WHAT   fails unless equal
#
# Every process still running when a passing test ends is stopped with
# SIGTERM and must exit 0 (a sanitizer report, a crash at exit or a hang
# fails the test) without CZMQ reporting dangling sockets.

# shellcheck shell=bash
# -E: functions inherit the ERR trap below, so that a command failing in
# one of them is named too.
set -eEuo pipefail

RS_PROG="$(basename "$0" .sh)"
# shellcheck source=../scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

rs_find_programs
H_BUILD="$build"
H_VENTILATOR="$bin_ventilator"
H_KEYCOORD="$bin_keycoord"
H_WORKER="$bin_worker"
H_SINK="$bin_sink"
H_ADMIN="$bin_admin"
rs_need_bins "$H_VENTILATOR" "$H_KEYCOORD" "$H_WORKER" "$H_SINK" "$H_ADMIN"
# The processes turn CZMQ's own log off; tests/czmq_logshim.c turns it back
# on (to stderr, so into each process's log), so that CZMQ's "dangling
# sockets" report at exit is seen. Not under a dynamically linked ASan
# runtime, which must come first in the library list (LeakSanitizer reports
# leaked sockets there).
H_RUN=()
h_shim="${RECSIGN_CZMQ_LOGSHIM:-$H_BUILD/tests/libczmq_logshim.so}"
# (ldd's output is read whole: `ldd | grep -q` under pipefail fails when
# grep stops reading early.)
h_libs="$(ldd "$H_WORKER" 2>/dev/null || true)"
if [[ -f "$h_shim" && "$h_libs" != *libasan* ]]; then
    H_RUN=(env "LD_PRELOAD=$h_shim${LD_PRELOAD:+:$LD_PRELOAD}")
fi
# The processes must take their settings from this harness only.
rs_unset_config_env
export RECSIGN_LOG_LEVEL="${RECSIGN_LOG_LEVEL:-info}"

# A short path: the PostgreSQL socket lives under it.
H_DIR="$(mktemp -d /tmp/rsit.XXXXXX)"
chmod 0755 "$H_DIR"   # the postgres user must reach $H_DIR/pg when we are root
H_LOGS="$H_DIR/logs"
mkdir -p "$H_LOGS"
H_KEY="$H_DIR/master.key"
H_DB=""
H_PG=""
H_PG_STANDBY=""
H_WORKERS=0
H_VENT_N=0
H_KC_N=0
H_SINK_N=0
H_PORT_VENT=""
H_PORT_SINK=""
H_PORT_KC=""
# Extra options for the processes the harness starts; a test may set them.
H_KC_OPTS=()
H_SINK_OPTS=()
H_WORKER_OPTS=()
H_VENT_OPTS=()

# h_fault_options TTL_MS REDISPATCH_MS [MAX_RATE]: the settings of a fault
# test. A short lease TTL and re-dispatch timeout, so that what a fault
# leaves behind clears within seconds; workers that retry the keycoord after
# 1 s; and with MAX_RATE, workers paced to that many signatures per second
# (their --max-rate), so that the run lasts seconds on any machine.
h_fault_options() {
    H_KC_OPTS=(--lease-ttl-ms "$1")
    H_VENT_OPTS=(--redispatch-ms "$2")
    H_WORKER_OPTS=(--request-timeout-ms 1000 ${3:+--max-rate "$3"})
}

# h_need_rogue: sets H_ROGUE to the hostile peer (tests/rogue.c), or fails.
h_need_rogue() {
    H_ROGUE="${RECSIGN_ROGUE_BIN:-$H_BUILD/tests/recsign-rogue}"
    [[ -x "$H_ROGUE" ]] || h_fail "missing binary $H_ROGUE"
}

# --- failure and cleanup ---------------------------------------------------------

h_log_tails() {
    local f
    for f in "$H_LOGS"/*.log ${H_PG:+"$H_PG/postgres.log"} ${H_PG_STANDBY:+"$H_PG_STANDBY/postgres.log"}; do
        [[ -f "$f" ]] || continue
        printf -- '----- last 30 lines of %s -----\n' "$f" >&2
        tail -n 30 "$f" >&2 || true
    done
}

h_cleanup() {
    local status=$?
    trap - EXIT INT TERM ERR
    # Stop everything before printing anything: a reader that went away
    # (SIGPIPE) must not leave a server behind.
    trap '' PIPE
    # A passing test still needs every process to stop cleanly.
    if (( status == 0 )) && ! h_stop_all_checked; then
        echo "$RS_PROG: FAIL: a process did not stop cleanly on SIGTERM" >&2
        status=1
    fi
    rs_proc_stop_all
    rs_release_ports
    if [[ -n "$H_PG" ]]; then rs_pg_stop "$H_PG"; fi
    if [[ -n "$H_PG_STANDBY" ]]; then rs_pg_stop "$H_PG_STANDBY"; fi
    if (( status != 0 )); then
        if (( H_FAIL_SAID == 0 )) && [[ -n "$H_ERR_CMD" ]]; then
            echo "$RS_PROG: FAIL: $H_ERR_WHERE: '$H_ERR_CMD' exited with status $H_ERR_STATUS, and the test expected it to succeed" >&2
        fi
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
    H_FAIL_SAID=1
    echo "$RS_PROG: FAIL: $*" >&2
    exit 1
}

# A command that fails outside a condition ends the test (set -e) without a
# word. The ERR trap remembers which one (it fires exactly where errexit
# would, and in subshells, where it changes only the subshell's copy), and
# h_cleanup names it: "FAIL: file:line: 'command' exited with status N".
H_FAIL_SAID=0 H_ERR_STATUS="" H_ERR_WHERE="" H_ERR_CMD=""
trap 'H_ERR_STATUS=$? H_ERR_WHERE="${BASH_SOURCE[0]##*/}:$LINENO" H_ERR_CMD="$BASH_COMMAND"' ERR

h_step() { echo "== $RS_PROG [${SECONDS}s]: $*" >&2; }

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

# h_start_standby: a hot standby of the test's cluster (h_start_db first)
# in $H_DIR/pg2, streaming over the unix socket, made its synchronous
# standby (rs_pg_start_standby). Sets H_PG_STANDBY.
h_start_standby() {
    h_step "synchronous hot standby of $H_PG in $H_DIR/pg2"
    rs_pg_start_standby "$H_DIR/pg2" "$H_PG" recsign_standby || h_fail "could not start the standby"
    H_PG_STANDBY="$RS_PG_STANDBY_DIR"
}

# h_start_on_both BATCH: after h_start_standby, the services of a run and
# two workers of one thread, each service given both servers (primary P,
# standby S) in one of libpq's multi-host forms:
#   keycoord    host=P,S user=recsign dbname=recsign target_session_attrs=read-write
#   sink        postgresql://recsign@/recsign?host=P,S&target_session_attrs=read-write
#   ventilator  host=S,P user=recsign dbname=recsign  (the standby first, and no
#               target_session_attrs: recsign must skip the standby by itself)
# H_DB becomes the sink's URL (h_sql and the admin CLI follow the primary);
# H_DB_SINK is it too, for a sink started later.
h_start_on_both() {
    local p="$H_PG" s="$H_PG_STANDBY"
    H_DB_SINK="postgresql://recsign@/recsign?host=$p,$s&target_session_attrs=read-write"
    H_DB="$H_DB_SINK"
    H_DB="host=$p,$s user=recsign dbname=recsign target_session_attrs=read-write" h_start_keycoord
    h_start_sink
    h_start_worker 1
    h_start_worker 1
    H_DB="host=$s,$p user=recsign dbname=recsign" h_start_ventilator "$1"
}

# h_standby_sql SQL: one query on the standby itself (read-only).
h_standby_sql() {
    rs_psql "postgresql://recsign@/recsign?host=$H_PG_STANDBY&target_session_attrs=any" -c "$1"
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

# h_payload_sql ID BYTES: an SQL expression of a payload of BYTES bytes
# (compressible, so that the database stays small; what travels is the
# whole payload).
h_payload_sql() { echo "substring(convert_to(repeat(md5(($1)::text), $2 / 32 + 1), 'UTF8') from 1 for $2)"; }
# h_sql_past_limit SQL: runs SQL in one transaction without the payload
# limit (constraint records_payload_max dropped, then added back NOT VALID,
# as a row stored before schema version 4 is).
h_sql_past_limit() {
    h_sql "BEGIN; ALTER TABLE records DROP CONSTRAINT records_payload_max; $1;
           ALTER TABLE records ADD CONSTRAINT records_payload_max
               CHECK (octet_length(payload) <= 1048576) NOT VALID; COMMIT;"
}

# h_pg_ctl ACTION [MODE]: pg_ctl start, stop or restart of the cluster
# (shutdown MODE, default fast: every client is disconnected), as its
# owner, detached like rs_pg_start does it.
h_pg_ctl() {
    local bindir
    bindir="$(rs_pg_bindir)"
    local -a detach=()
    command -v setsid >/dev/null 2>&1 && detach=(setsid -w)
    (cd "$H_PG" && rs_pg_as_owner "${detach[@]}" "$bindir/pg_ctl" -D "$H_PG/data" \
        -l "$H_PG/postgres.log" -w -t 60 -m "${2:-fast}" "$1" >/dev/null) \
        || h_fail "pg_ctl $1 failed"
}
h_pg_restart() { h_pg_ctl restart; }

# h_admin ARGS...: runs the admin CLI against the test database.
h_admin() { "$H_ADMIN" "$1" --db "$H_DB" "${@:2}"; }

# h_keys VERB ARGS...: `recsign keys VERB` against the test database.
h_keys() { "$H_ADMIN" keys "$1" --db "$H_DB" "${@:2}"; }

# h_wait_sql SQL EXPECTED WHAT: polls (10 s at most) until SQL prints
# EXPECTED, else fails the test naming WHAT.
h_wait_sql() {
    local i got=""
    for ((i = 0; i < 100; i++)); do
        got="$(h_sql "$1")"
        [[ "$got" == "$2" ]] && return 0
        sleep 0.1
    done
    h_fail "$3: got '$got', expected '$2' within 10 s"
}

# h_damage_secret KEY_ID MASK: flips the bits of MASK in byte 30 of key
# KEY_ID's sealed secret (inside its ciphertext): the key no longer
# unseals, whatever the master key.
h_damage_secret() {
    h_sql "update keys set sealed_secret = set_byte(sealed_secret, 30, get_byte(sealed_secret, 30) # $2) where id = $1" >/dev/null
}

h_init() {
    h_step "recsign init $*"
    h_admin init --master-key "$H_KEY" "$@" >>"$H_LOGS/init.log" 2>&1 \
        || { tail -n 20 "$H_LOGS/init.log" >&2; h_fail "recsign init $* failed"; }
}

# --- processes -------------------------------------------------------------------

# h_free_port VAR: like rs_free_port (same lock directory), but only below
# the kernel's ephemeral port range: a port in that range can be taken at
# any moment as the local end of some outgoing connection (a worker's, a
# psql's), and a later bind, e.g. a sink restarted on its port, then fails
# with "Address already in use".
h_free_port() {
    # (Locals prefixed: VAR is set by name through rs_free_port.)
    local h_fp_lo=32768 h_fp_hi
    read -r h_fp_lo h_fp_hi </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
    if (( h_fp_lo <= 20000 + 1000 )); then
        rs_free_port "$1"
    else
        rs_free_port "$1" "" "$h_fp_lo"
    fi
}

h_ports() {
    [[ -n "$H_PORT_VENT" ]] && return 0
    h_free_port H_PORT_VENT || h_fail "no free port (see the line above)"
    h_free_port H_PORT_SINK || h_fail "no free port (see the line above)"
    h_free_port H_PORT_KC || h_fail "no free port (see the line above)"
}

# The endpoints a worker (or a test's own peer) connects to.
h_worker_endpoints() {
    h_ports
    H_EP_VENT="tcp://127.0.0.1:$H_PORT_VENT"
    H_EP_SINK="tcp://127.0.0.1:$H_PORT_SINK"
    H_EP_KC="tcp://127.0.0.1:$H_PORT_KC"
}

# h_extra_endpoint VAR: sets VAR to tcp://127.0.0.1:PORT on a free port,
# for a second service of a kind (a standby, a second sink) that workers
# get in their endpoint lists.
h_extra_endpoint() {
    # (A name of its own: h_free_port sets the variable named, through
    # functions whose locals would hide a common one.)
    h_extra_endpoint_port=""
    h_free_port h_extra_endpoint_port || h_fail "no free port (see the line above)"
    printf -v "$1" 'tcp://127.0.0.1:%s' "$h_extra_endpoint_port"
}

# h_start_standby_ventilator ENDPOINT [ARGS...]: a second ventilator bound
# (once it leads) to ENDPOINT, without --batch-size unless ARGS give one;
# sets H_STANDBY_PID and H_STANDBY_LOG (ventilator-standby.log).
h_start_standby_ventilator() {
    local endpoint="$1"
    shift
    H_STANDBY_LOG="$H_LOGS/ventilator-standby.log"
    rs_proc_start ventilator-standby "$H_STANDBY_LOG" \
        "${H_RUN[@]}" "$H_VENTILATOR" --db "$H_DB" --bind "$endpoint" "${H_VENT_OPTS[@]}" "$@"
    H_STANDBY_PID=$RS_LAST_PID
}

# h_start_keycoord [ARGS...]: logs to keycoord.log, then keycoord-2.log, ...
h_start_keycoord() {
    h_ports
    H_KC_N=$((H_KC_N + 1))
    local name=keycoord
    (( H_KC_N == 1 )) || name="keycoord-$H_KC_N"
    H_KC_LOG="$H_LOGS/$name.log"
    rs_proc_start "$name" "$H_KC_LOG" \
        "${H_RUN[@]}" "$H_KEYCOORD" --db "$H_DB" --bind "tcp://127.0.0.1:$H_PORT_KC" "${H_KC_OPTS[@]}" "$@"
    H_KC_PID=$RS_LAST_PID
}

# h_start_sink [ARGS...]: logs to sink.log, then sink-2.log, ...
h_start_sink() {
    h_ports
    H_SINK_N=$((H_SINK_N + 1))
    local name=sink
    (( H_SINK_N == 1 )) || name="sink-$H_SINK_N"
    H_SINK_LOG="$H_LOGS/$name.log"
    rs_proc_start "$name" "$H_SINK_LOG" \
        "${H_RUN[@]}" "$H_SINK" --db "$H_DB" --bind "tcp://127.0.0.1:$H_PORT_SINK" "${H_SINK_OPTS[@]}" "$@"
    H_SINK_PID=$RS_LAST_PID
}

# h_start_worker THREADS [ARGS...]: worker-N, N counting from 1.
h_start_worker() {
    local threads="$1"
    shift
    h_worker_endpoints
    H_WORKERS=$((H_WORKERS + 1))
    H_WORKER_LOG="$H_LOGS/worker-$H_WORKERS.log"
    rs_proc_start "worker-$H_WORKERS" "$H_WORKER_LOG" \
        "${H_RUN[@]}" "$H_WORKER" --ventilator "$H_EP_VENT" --keycoord "$H_EP_KC" --sink "$H_EP_SINK" \
        --threads "$threads" --master-key "$H_KEY" "${H_WORKER_OPTS[@]}" "$@"
    H_WORKER_PID=$RS_LAST_PID
}

# h_start_services [WORKERS] [THREADS]: keycoord, sink, then the workers.
h_start_services() {
    local workers="${1:-1}" threads="${2:-2}" w
    h_start_keycoord
    h_start_sink
    for ((w = 1; w <= workers; w++)); do
        h_start_worker "$threads"
    done
}

# h_start_ventilator BATCH [ARGS...]: starts ventilator-N in the background.
h_start_ventilator() {
    local batch="$1"
    shift
    h_ports
    H_VENT_N=$((H_VENT_N + 1))
    H_VENT_LOG="$H_LOGS/ventilator-$H_VENT_N.log"
    h_step "ventilator run $H_VENT_N, batch size $batch"
    H_VENT_T0="$(date +%s%N)"
    rs_proc_start "ventilator-$H_VENT_N" "$H_VENT_LOG" \
        "${H_RUN[@]}" "$H_VENTILATOR" --db "$H_DB" --bind "tcp://127.0.0.1:$H_PORT_VENT" --batch-size "$batch" \
        "${H_VENT_OPTS[@]}" "$@"
    H_VENT_PID=$RS_LAST_PID
}

# h_wait_ventilator [TIMEOUT]: fails the test unless the last ventilator
# started exits 0 in time with every other process alive. Sets H_VENT_SECONDS.
h_wait_ventilator() {
    local timeout="${1:-120}" rc=0
    rs_wait_proc "$H_VENT_PID" "$timeout" || rc=$?
    H_VENT_SECONDS="$(awk -v a="$H_VENT_T0" -v b="$(date +%s%N)" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')"
    case "$rc" in
        0)   [[ "$RS_WAIT_STATUS" == 0 ]] || h_fail "ventilator exited with status $RS_WAIT_STATUS" ;;
        124) h_fail "ventilator did not finish within $timeout s" ;;
        *)   h_fail "$RS_DEAD_NAME died while the ventilator ran" ;;
    esac
    h_step "ventilator run $H_VENT_N finished in $H_VENT_SECONDS s"
}

# h_run_ventilator BATCH [TIMEOUT]: starts the ventilator and waits for it.
h_run_ventilator() {
    h_start_ventilator "$1"
    h_wait_ventilator "${2:-120}"
}

# Name and log of a recorded PID, for messages.
h_pname() {
    local i
    i="$(rs_proc_index "$1")" && printf '%s\n' "${RS_PNAMES[$i]}" || printf 'pid %s\n' "$1"
}

# h_kill PID: SIGKILL (a deliberate crash), reaped and forgotten, so that
# the watchers do not count it as a process that died. Sets H_KILL_STATUS.
h_kill() {
    local pid="$1" i st=0
    i="$(rs_proc_index "$pid")" || h_fail "h_kill: pid $pid is not a process of this test"
    rs_proc_alive "$pid" || h_fail "${RS_PNAMES[$i]} (pid $pid) was not running when it was to be killed"
    h_step "kill -9 ${RS_PNAMES[$i]} (pid $pid)"
    rs_proc_reap "$pid"
    H_KILL_STATUS=$RS_REAP_STATUS
}

# h_stacks PID LOG: appends every thread's stack of a hung PID to LOG, when
# gdb is there (best effort: ptrace may be refused).
h_stacks() {
    command -v gdb >/dev/null 2>&1 || return 0
    { echo "----- stacks of hung pid $1 (gdb) -----"
      timeout 30 gdb -p "$1" -batch -ex 'thread apply all bt' 2>&1 | grep -E '^(Thread|#)' || true
    } >>"$2" 2>/dev/null || true
}

# h_sanitizer_exit_hang PID LOG: true when PID, still alive after its stop
# grace, has finished recsign's own shutdown (its last log line is the
# "exiting: peak RSS" line, written after main returned) and is being
# ptraced: LeakSanitizer's leak check at exit stops every thread under a
# tracer and, rarely, never lets go (google/sanitizers issue 1330). Only in
# the sanitizer pass (RECSIGN_SANITIZED=1); anywhere else a hang is a hang.
h_sanitizer_exit_hang() {
    [[ "${RECSIGN_SANITIZED:-0}" == 1 ]] || return 1
    local tracer
    tracer="$(awk '/^TracerPid:/ { print $2 }' "/proc/$1/status" 2>/dev/null)"
    [[ -n "$tracer" && "$tracer" != 0 ]] || return 1
    tail -n 1 "$2" 2>/dev/null | grep -q 'exiting: peak RSS'
}

# h_stop PID [SIGNAL] [TIMEOUT] [STATUS]: sends SIGNAL (default TERM) and
# waits up to TIMEOUT s (default RS_STOP_GRACE, or 10); the process must
# exit with STATUS (default 0). Sets H_STOP_STATUS.
h_stop() {
    local pid="$1" sig="${2:-TERM}" timeout="${3:-${RS_STOP_GRACE:-10}}" expect="${4:-0}" i st=0
    i="$(rs_proc_index "$pid")" || h_fail "h_stop: pid $pid is not a process of this test"
    local name="${RS_PNAMES[$i]}" log="${RS_PLOGS[$i]}"
    rs_proc_alive "$pid" || { wait "$pid" 2>/dev/null || st=$?; RS_PIDS[$i]="";
        h_fail "$name (pid $pid) had already exited (status $st) before SIG$sig"; }
    h_step "SIG$sig to $name (pid $pid)"
    if ! rs_proc_signal_wait "$pid" "$sig" "$timeout"; then
        if h_sanitizer_exit_hang "$pid" "$log"; then
            rs_proc_reap "$pid"
            rs_warn "$name (pid $pid) shut down cleanly but LeakSanitizer's exit check hung; killed, not counted as a failure"
            H_STOP_STATUS=0
            return 0
        fi
        h_stacks "$pid" "$log"
        rs_proc_reap "$pid"
        tail -n 40 "$log" >&2 || true
        h_fail "$name (pid $pid) did not exit within $timeout s of SIG$sig"
    fi
    rs_proc_reap "$pid"
    st=$RS_REAP_STATUS
    H_STOP_STATUS=$st
    if (( st != expect )); then
        tail -n 30 "$log" >&2 || true
        h_fail "$name (pid $pid) exited with status $st after SIG$sig; expected $expect"
    fi
    h_log_lacks "$log" 'dangling' "$name left ZeroMQ sockets open at exit"
}

# h_all_exit TIMEOUT PID...: every PID (processes of this test, already
# signalled or ending by themselves) exits 0 within TIMEOUT s, in any
# order; each is reaped and forgotten. Not h_stop one by one: it fails on
# a process that exited before its turn, and not h_wait_until, whose
# h_check_alive counts an exit as a death.
h_all_exit() {
    local timeout="$1" pid i any start=$SECONDS name
    shift
    while :; do
        any=0
        for pid in "$@"; do rs_proc_alive "$pid" && any=1; done
        (( any == 0 )) && break
        (( SECONDS - start < timeout )) || h_fail "pids $* did not all exit within $timeout s"
        rs_nap 0.1
    done
    for pid in "$@"; do
        i="$(rs_proc_index "$pid")" || h_fail "h_all_exit: pid $pid is not a process of this test"
        name="${RS_PNAMES[$i]}"
        rs_proc_reap "$pid"
        if (( RS_REAP_STATUS != 0 )); then
            tail -n 30 "${RS_PLOGS[$i]}" >&2 || true
            h_fail "$name (pid $pid) exited with status $RS_REAP_STATUS; expected 0"
        fi
        h_log_lacks "${RS_PLOGS[$i]}" 'dangling' "$name left ZeroMQ sockets open at exit"
    done
}

# h_stop_all_checked: stops every recorded process still running with
# SIGTERM, the workers and ventilators first, then the keycoord and sink,
# and reports each that exits non-zero, had died already, or ignores the
# signal. Returns non-zero when any did.
h_stop_all_checked() {
    local grace="${RS_STOP_GRACE:-10}" bad=0 phase i pid st start any
    for phase in 1 2; do
        local -a idx=()
        local -A was_alive=()
        for i in "${!RS_PIDS[@]}"; do
            [[ -n "${RS_PIDS[$i]}" ]] || continue
            case "${RS_PNAMES[$i]}" in
                keycoord*|sink*) (( phase == 2 )) && idx+=("$i") ;;
                *)               (( phase == 1 )) && idx+=("$i") ;;
            esac
        done
        (( ${#idx[@]} > 0 )) || continue
        for i in "${idx[@]}"; do
            pid="${RS_PIDS[$i]}"
            if rs_proc_alive "$pid"; then
                was_alive[$i]=1
                kill -TERM "$pid" 2>/dev/null || true
                kill -CONT "$pid" 2>/dev/null || true
            fi
        done
        start=$SECONDS
        while :; do
            any=0
            for i in "${idx[@]}"; do rs_proc_alive "${RS_PIDS[$i]}" && any=1; done
            (( any == 0 || SECONDS - start >= grace )) && break
            sleep 0.05
        done
        for i in "${idx[@]}"; do
            pid="${RS_PIDS[$i]}"
            st=0
            if rs_proc_alive "$pid" && h_sanitizer_exit_hang "$pid" "${RS_PLOGS[$i]}"; then
                kill -KILL "$pid" 2>/dev/null || true
                wait "$pid" 2>/dev/null || true
                rs_warn "${RS_PNAMES[$i]} (pid $pid) shut down cleanly but LeakSanitizer's exit check hung; killed, not counted as a failure"
            elif rs_proc_alive "$pid"; then
                h_stacks "$pid" "${RS_PLOGS[$i]}"
                kill -KILL "$pid" 2>/dev/null || true
                wait "$pid" 2>/dev/null || true
                rs_warn "${RS_PNAMES[$i]} (pid $pid) did not exit within $grace s of SIGTERM; killed; its stacks (if gdb could attach) are at the end of ${RS_PLOGS[$i]}"
                bad=$((bad + 1))
            else
                wait "$pid" 2>/dev/null || st=$?
                if (( st != 0 )); then
                    if [[ -n "${was_alive[$i]:-}" ]]; then
                        rs_warn "${RS_PNAMES[$i]} (pid $pid) exited with status $st after SIGTERM; expected 0; last lines of ${RS_PLOGS[$i]}:"
                    else
                        rs_warn "${RS_PNAMES[$i]} (pid $pid) had died before it was stopped, with status $st; last lines of ${RS_PLOGS[$i]}:"
                    fi
                    tail -n 30 "${RS_PLOGS[$i]}" >&2 2>/dev/null || true
                    bad=$((bad + 1))
                elif grep -q 'dangling' "${RS_PLOGS[$i]}" 2>/dev/null; then
                    rs_warn "${RS_PNAMES[$i]} (pid $pid) left ZeroMQ sockets open at exit:"
                    grep 'dangling' "${RS_PLOGS[$i]}" | head -n 5 >&2
                    bad=$((bad + 1))
                fi
            fi
            RS_PIDS[$i]=""
        done
    done
    (( bad == 0 ))
}

# h_ctrl_c PID WHAT: Ctrl-C as a terminal sends it to its foreground job:
# SIGINT to the process group of PID (a script started under `set -m`).
# The script must exit 130, and none of the processes it had started may
# still run.
h_ctrl_c() {
    local pid="$1" what="$2" started child st=0
    started="$({ ps -o pid= --ppid "$pid" || true; } | tr -s ' \n' ' ')"
    h_step "SIGINT to the process group of $what ($pid; children: $started)"
    kill -INT -- "-$pid"
    wait "$pid" || st=$?
    h_eq "$st" 130 "$what's exit status after Ctrl-C"
    for child in $started; do
        rs_proc_alive "$child" && h_fail "pid $child, started by $what, still runs after Ctrl-C"
    done
    return 0
}

h_stop_services() {
    h_stop_all_checked || h_fail "a process did not stop cleanly on SIGTERM"
}

# h_check_alive: fails when a recorded process is no longer running (a
# ventilator that finished counts: the run ended before the test was done).
h_check_alive() {
    local i pid st
    for i in "${!RS_PIDS[@]}"; do
        pid="${RS_PIDS[$i]}"
        [[ -n "$pid" ]] || continue
        rs_proc_alive "$pid" && continue
        st=0
        wait "$pid" 2>/dev/null || st=$?
        RS_PIDS[$i]=""
        tail -n 20 "${RS_PLOGS[$i]}" >&2 2>/dev/null || true
        case "${RS_PNAMES[$i]}:$st" in
            ventilator*:0) h_fail "${RS_PNAMES[$i]} finished the run before the test was done with it (the run is too short for this test)" ;;
            *) h_fail "${RS_PNAMES[$i]} (pid $pid) exited with status $st while it should run" ;;
        esac
    done
}

# h_wait_until TIMEOUT WHAT COMMAND...: polls COMMAND every 0.1 s until it
# succeeds; fails after TIMEOUT s, or at once when a process died.
h_wait_until() {
    local timeout="$1" what="$2" start=$SECONDS
    shift 2
    until "$@"; do
        h_check_alive
        (( SECONDS - start < timeout )) || h_fail "timed out after $timeout s waiting for $what"
        sleep 0.1
    done
}

# A psql session the test drives line by line, to hold a lock or a
# transaction open beside the processes under test: h_psql_session NAME
# starts it as process NAME (output in $H_LOGS/NAME.log), reading from a
# FIFO; h_psql_say SQL sends it a line; h_psql_end quits it and checks its
# exit status. One session at a time: the test writes to it through
# descriptor 4.
h_psql_session() {
    local fifo="$H_DIR/$1.in"
    mkfifo "$fifo"
    # psql opens the FIFO for writing as well: it never sees an end of
    # file, and quits only at \q.
    rs_proc_start "$1" "$H_LOGS/$1.log" bash -c 'exec 3<>"$1"; exec psql -X -At -d "$2" <&3' \
        "$1" "$fifo" "$H_DB"
    H_PSQL_PID=$RS_LAST_PID H_PSQL_NAME=$1
    exec 4>"$fifo"
}
h_psql_say() { printf '%s\n' "$1" >&4; }
h_psql_end() {
    printf '\\q\n' >&4
    exec 4>&-
    rs_wait_proc "$H_PSQL_PID" 10 || h_fail "the $H_PSQL_NAME session did not quit"
    h_eq "$RS_WAIT_STATUS" 0 "exit status of the $H_PSQL_NAME session"
}

# h_held_sql TTL_MS: an SQL condition on a row of leases: a lease its
# holder received. The keycoord ends a grant it could not deliver (the
# holder's socket was gone: a worker that stopped, or a Lazy Pirate retry
# that had just closed the socket the request came from, both legitimate
# under load) as 'expired' in the same turn; a lease that expired for real
# lived a TTL. Half a TTL tells the two apart. A lease still open was
# received too (a plain "not (end_reason = 'expired' and ...)" is NULL for
# it and would leave it out).
h_held_sql() {
    echo "(end_reason is distinct from 'expired' or ended_at - granted_at >= interval '$(( $1 / 2 )) milliseconds')"
}

# Signatures stored so far.
h_signed() { h_sql 'select count(*) from signatures'; }
h_signed_at_least() { local n; n="$(h_signed 2>/dev/null)" && (( n >= $1 )); }

# h_wait_signed N [TIMEOUT]: waits until N signatures are stored, then
# checks that the run is still going (not every record signed yet).
h_wait_signed() {
    h_wait_until "${2:-60}" "$1 stored signatures" h_signed_at_least "$1"
    h_check_mid_run
}

# h_check_mid_run: the ventilator is running and some records are unsigned.
h_check_mid_run() {
    h_check_alive
    local s r
    s="$(h_signed)"
    r="$(h_sql 'select count(*) from records')"
    (( s < r )) || h_fail "every record is signed already ($s of $r); the fault would not be mid-run"
    h_step "mid-run: $s of $r records signed"
}

# h_open_lease PREFIX: the newest lease of a holder named PREFIX/... that
# is still open in the log, or nothing.
h_open_lease() {
    h_sql "select id from leases where '/' || holder like '%/$1/%' and ended_at is null order by id desc limit 1"
}
h_has_open_lease() { [[ -n "$(h_open_lease "$1" 2>/dev/null)" ]]; }

# h_log_has FILE ERE WHAT / h_log_lacks FILE ERE WHAT
h_log_has() {
    grep -Eq -- "$2" "$1" || { tail -n 30 "$1" >&2; h_fail "$3: no line matching '$2' in $(basename "$1")"; }
}
h_log_lacks() {
    if grep -Eq -- "$2" "$1"; then
        grep -E -- "$2" "$1" | head -n 5 >&2
        h_fail "$3: $(basename "$1") has lines matching '$2'"
    fi
}

# h_last_line FILE: a process's last word, i.e. its log's last line but
# for the peak-RSS line every service writes on its way out (lib/rs_process).
h_last_line() {
    grep -Ev -- ' INFO exiting: peak RSS [0-9]+ KiB' "$1" | tail -n 1
}

# --- keycoord leadership ---------------------------------------------------------

# h_kc_session LOG: the database session (backend pid) holding the keycoord
# lock for the keycoord that logs to LOG, from its latest "leading" line.
h_kc_session() {
    grep -oE 'leading as epoch [0-9]+ \(the keycoord lock is held by database session [0-9]+\)' "$1" \
        | tail -n 1 | sed -E 's/.*session ([0-9]+)\)$/\1/'
}

# h_kc_serves LOG EPOCH: true once the keycoord logging to LOG serves leases
# as the leader of EPOCH.
h_kc_serves() { grep -qE "serving leases on .*, epoch $2\$" "$1"; }

# h_cut_session PID: ends a database session as a cut link would
# (pg_terminate_backend).
h_cut_session() {
    h_step "pg_terminate_backend($1)"
    h_eq "$(h_sql "select pg_terminate_backend($1)")" t "terminating database session $1"
}

# h_slow_db: starts two listeners that accept a connection and never
# answer, as libpq sees a host that is gone, and sets H_SLOW_DB to a
# connection string listing them before the test's real server (its unix
# socket): each connection attempt waits the connect timeout (2 s) on both,
# 4 s in all, before it reaches the database.
h_slow_db() {
    local silent1="" silent2="" pg_port
    h_free_port silent1 || h_fail "no free port"
    h_free_port silent2 || h_fail "no free port"
    # shellcheck disable=SC2016  # a Python program, not shell
    rs_proc_start silent "$H_LOGS/silent.log" python3 -c '
import select, signal, socket, sys
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
listeners, held = [], []
for port in sys.argv[1:]:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(port)))
    s.listen(64)
    listeners.append(s)
print("listening, never answering, on", *sys.argv[1:], flush=True)
while True:
    ready, _, _ = select.select(listeners, [], [])
    held += [s.accept()[0] for s in ready]
' "$silent1" "$silent2"
    h_wait_until 10 "the silent listeners" grep -q "^listening" "$H_LOGS/silent.log"
    pg_port="$(h_sql 'show port')"
    H_SLOW_DB="host=127.0.0.1,127.0.0.1,$RS_PG_DIR port=$silent1,$silent2,$pg_port user=recsign dbname=recsign"
}

# h_start_kc_pair [ARGS...]: keycoord A, once it leads epoch 1, then
# keycoord B with ARGS on the same address, once it says it stands by. Sets
# H_KC_A, H_KC_A_LOG, H_KC_B, H_KC_B_LOG.
h_start_kc_pair() {
    h_start_keycoord
    H_KC_A=$H_KC_PID H_KC_A_LOG=$H_KC_LOG
    h_wait_until 20 "keycoord A to lead" h_kc_serves "$H_KC_A_LOG" 1
    h_start_keycoord "$@"
    H_KC_B=$H_KC_PID H_KC_B_LOG=$H_KC_LOG
    h_wait_until 20 "keycoord B to say it is a standby" \
        grep -q "standby: another recsign-keycoord leads (epoch 1); waiting to take over" "$H_KC_B_LOG"
}

# h_kc_run BATCH: the sink, workers wa and wb (one thread each) and the
# ventilator; returns once 5000 records are signed, mid-run.
h_kc_run() {
    h_start_sink
    h_start_worker 1 --holder wa
    h_start_worker 1 --holder wb
    h_start_ventilator "$1"
    h_wait_signed 5000 30
}

# h_finish_kc BATCH EPOCH: h_finish, then the leader of EPOCH recorded the
# clean stop, and the audit proved rules 2 and 4 across the leaders.
h_finish_kc() {
    h_finish "$1"
    h_eq "$(h_sql "select epoch || ' ' || clean_stop from keycoord_state")" "$2 true" \
        "keycoord state after the stop"
    h_log_has "$H_LOGS/audit.out" '^rule 2 .*: ok' "audit rule 2"
    h_log_has "$H_LOGS/audit.out" '^rule 4 .*: ok' "audit rule 4"
}

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

# h_expect_fail CMD RULE [RECORD]: CMD (verify|audit) must exit 1; its output
# (in $H_LOGS/CMD.fail.out) must report RULE violated (when RULE is not '-')
# and name RECORD (if given).
h_expect_fail() {
    local cmd="$1" rule="$2" record="${3:-}" rc=0 out="$H_LOGS/$1.fail.out"
    h_admin "$cmd" >"$out" 2>&1 || rc=$?
    if [[ "$rc" != 1 ]]; then
        cat "$out" >&2
        h_fail "recsign $cmd exited $rc; expected 1"
    fi
    if [[ "$rule" != - ]] && ! grep -Eiq "rule $rule([^0-9].*)?violated" "$out"; then
        cat "$out" >&2
        h_fail "recsign $cmd did not report rule $rule violated"
    fi
    if [[ -n "$record" ]] && ! grep -Eq -- "(^|[^0-9-])$record([^0-9]|$)" "$out"; then
        cat "$out" >&2
        h_fail "recsign $cmd did not name record $record"
    fi
    echo "$RS_PROG: recsign $cmd failed as expected:" >&2
    grep -Ei 'violat|fail|bad|invalid' "$out" | head -n 5 | sed 's/^/    /' >&2 || true
}

# h_check_complete: every record has exactly one stored signature, and
# no signature is of a record that does not exist.
h_check_complete() {
    h_eq "$(h_sql 'select count(*) from signatures')" "$(h_sql 'select count(*) from records')" \
        "signatures vs records"
    h_eq "$(h_sql 'select count(*) from records r where not exists (select 1 from signatures s where s.record_id = r.id)')" \
        0 "unsigned records"
    h_eq "$(h_sql 'select count(*) from signatures s where not exists (select 1 from records r where r.id = s.record_id)')" \
        0 "signatures of no record (orphans)"
    h_eq "$(h_sql 'select count(*) - count(distinct record_id) from signatures')" 0 \
        "records signed more than once"
    h_eq "$(h_sql "select count(*) from signatures s join keys k on k.id = s.key_id where
                     case k.algorithm when 'ed25519' then length(s.signature) <> 64
                                      when 'ecdsa-p256' then length(s.signature) not between 8 and 72
                                      when 'rsa-2048' then length(s.signature) <> 256
                                      when 'rsa-3072' then length(s.signature) <> 384
                                      else length(s.signature) <> 512 end")" 0 \
        "signatures of a length their key's algorithm cannot make"
}

# h_check_leases BATCH: rules 2 and 3 in SQL, apart from the audit: no two
# leases of a key overlap, every signature's lease exists and holds its
# key, no lease covers more than BATCH signatures or several keys.
h_check_leases() {
    local batch="$1"
    # A lease overlaps an earlier one of its key when it starts before the
    # latest end among the leases granted before it (open: never ends).
    h_eq "$(h_sql "select count(*) from (
                   select granted_at, max(coalesce(ended_at, 'infinity')) over (
                       partition by key_id order by granted_at, id
                       rows between unbounded preceding and 1 preceding) as prev_end
                   from leases) t where granted_at < prev_end")" \
        0 "overlapping leases of one key"
    h_eq "$(h_sql "select count(*) from signatures s left join leases l on l.id = s.lease_id
                   where l.id is null or l.key_id <> s.key_id")" \
        0 "signatures whose lease is missing or holds another key"
    h_eq "$(h_sql "select count(*) from (select lease_id from signatures group by lease_id
                   having count(*) > $batch or count(distinct key_id) > 1) t")" \
        0 "leases covering more than $batch signatures or several keys"
}

# h_finish BATCH: the end of every fault test: stops what still runs (each
# must exit 0 on SIGTERM), then exactly one signature per record, the
# lease rules in SQL, verify and audit.
h_finish() {
    h_stop_services
    h_check_complete
    h_check_leases "$1"
    h_verify
    h_audit
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
