#!/usr/bin/env bash
# scripts/soak.sh: a long run under random faults. Builds, starts a private
# PostgreSQL and every process on loopback ports, signs --records records
# (default 1,000,000) and, for --minutes minutes, injects a random fault
# every few seconds: kill -9, SIGTERM or SIGSTOP of a worker, kill -9 or
# SIGTERM of the keycoord, the sink or the ventilator (each restarted), a
# PostgreSQL restart. When a run completes with time left, --round-records
# more records are added and a new run starts. After the deadline no more
# faults are injected, the last run is left to complete (bounded), and the
# proofs are checked: exactly one signature per record, the lease rules in
# SQL, `recsign verify` and `recsign audit`. A process that exits non-zero
# on SIGTERM, or dies by itself, is a failure; so is every failed check. It
# goes on after a failure and reports them all at the end. The final verify
# and audit read everything signed: about 2 minutes per million signatures
# on two cores, after the --minutes of faults.
#
#   scripts/soak.sh [--minutes N] [--records N] [--round-records N] [--keys N]
#                   [--batch-size N] [--workers N] [--threads N] [--ttl-ms N]
#                   [--faults LIST] [--seed N] [--keep]
#
# --faults takes a comma-separated subset of: worker_kill, worker_term,
# worker_stop, keycoord_kill, keycoord_term, sink_kill, sink_term,
# ventilator_kill, ventilator_term, pg_restart (default: all). --keep keeps
# the directory with every log and the database's files. Exits 0 when
# every check passed. Not part of `meson test`.
set -euo pipefail

RS_PROG=soak.sh
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

minutes=5 records=1000000 round_records=200000 keys=20 batch=50 workers=3 threads=1
ttl=3000 seed="" keep=0
all_faults="worker_kill,worker_term,worker_stop,keycoord_kill,keycoord_term,sink_kill,sink_term,ventilator_kill,ventilator_term,pg_restart"
faults="$all_faults"

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; }
need() { [[ "$2" =~ ^[0-9]+$ ]] || rs_usage_error "$1 is '$2'; expected a number"; }
option() {
    local flag="$1" value="$2"
    case "$flag" in
        --minutes)       need "$flag" "$value"; minutes="$value" ;;
        --records)       need "$flag" "$value"; records="$value" ;;
        --round-records) need "$flag" "$value"; round_records="$value" ;;
        --keys)          need "$flag" "$value"; keys="$value" ;;
        --batch-size)    need "$flag" "$value"; batch="$value" ;;
        --workers)       need "$flag" "$value"; workers="$value" ;;
        --threads)       need "$flag" "$value"; threads="$value" ;;
        --ttl-ms)        need "$flag" "$value"; ttl="$value" ;;
        --seed)          need "$flag" "$value"; seed="$value" ;;
        --faults)        faults="$value" ;;
        --keep)          keep=1 ;;
        -h|--help)       usage; exit 0 ;;
        *)               rs_usage_error "unknown flag '$flag'" ;;
    esac
}
rs_parse_flags '--minutes|--records|--round-records|--keys|--batch-size|--workers|--threads|--ttl-ms|--seed|--faults' option "$@"
(( minutes >= 1 && minutes <= 24 * 60 )) || { rs_warn "--minutes must be 1..1440"; exit 2; }
(( records >= 1 && keys >= 1 && workers >= 1 && threads >= 1 && batch >= 1 && batch <= 100000 )) \
    || { rs_warn "--records, --keys, --workers, --threads must be >= 1; --batch-size 1..100000"; exit 2; }
IFS=, read -r -a fault_list <<<"$faults"
for f in "${fault_list[@]}"; do
    [[ ",$all_faults," == *",$f,"* ]] || { rs_warn "unknown fault '$f'; expected some of $all_faults"; exit 2; }
done
[[ -n "$seed" ]] || seed=$((RANDOM * 32768 + RANDOM))
RANDOM=$seed

rs_ensure_deps
rs_build
export RECSIGN_BUILD_DIR
RECSIGN_BUILD_DIR="$(rs_build_dir)"
[[ "$keep" == 1 ]] && export RECSIGN_TEST_KEEP=1
# The test harness gives us the private cluster, ports, process table,
# the checked stops and the cleanup trap.
# shellcheck source=tests/harness.sh
source "$RS_ROOT/tests/harness.sh"
RS_STOP_GRACE=20

H_KC_OPTS=(--lease-ttl-ms "$ttl")
H_VENT_OPTS=(--redispatch-ms 2000)
H_WORKER_OPTS=(--request-timeout-ms 1000)

FAILURES=()
declare -A INJECTED=()
declare -A LAST_BAD=()   # check name -> the value it last failed with
SOAK_LOG="$H_DIR/soak.log"
soak_say() { printf '%s [%4ss] %s\n' "$RS_PROG" "$SECONDS" "$*" | tee -a "$SOAK_LOG" >&2; }
soak_failure() {
    FAILURES+=("[${SECONDS}s] $*")
    soak_say "FAILURE: $*"
}

# --- process control that records failures instead of exiting ----------------

WORKER_PIDS=()

# soak_stop PID SIGNAL: the process must exit 0 within RS_STOP_GRACE s and
# leave no dangling socket. Forgets it either way.
soak_stop() {
    local pid="$1" sig="$2" i st name log
    i="$(rs_proc_index "$pid")" || return 0
    name="${RS_PNAMES[$i]}" log="${RS_PLOGS[$i]}"
    rs_proc_signal_wait "$pid" "$sig" "$RS_STOP_GRACE" \
        || soak_failure "$name (pid $pid) did not exit within $RS_STOP_GRACE s of SIG$sig"
    rs_proc_reap "$pid"
    st=$RS_REAP_STATUS
    if (( st != 0 )); then
        soak_failure "$name (pid $pid) exited $st after SIG$sig; last lines: $(tail -n 3 "$log" | tr '\n' '|' | cut -c 1-600)"
    elif grep -q dangling "$log"; then
        soak_failure "$name (pid $pid) left ZeroMQ sockets open: $(grep dangling "$log" | head -n 1)"
    fi
}

soak_kill() {
    rs_proc_index "$1" >/dev/null || return 0
    rs_proc_reap "$1"
}

start_worker() {
    h_start_worker "$threads"
    WORKER_PIDS+=("$H_WORKER_PID")
}

# A random live worker's index in WORKER_PIDS, or nothing.
pick_worker() {
    local -a live=() i
    for i in "${!WORKER_PIDS[@]}"; do
        [[ -n "${WORKER_PIDS[$i]}" ]] && live+=("$i")
    done
    (( ${#live[@]} > 0 )) && printf '%s\n' "${live[RANDOM % ${#live[@]}]}"
}

# Anything that died by itself is a failure; it is restarted. A ventilator
# that exited 0 has finished its run: the caller handles that.
watch_processes() {
    local i pid st name
    for i in "${!RS_PIDS[@]}"; do
        pid="${RS_PIDS[$i]}"
        [[ -n "$pid" ]] || continue
        rs_proc_alive "$pid" && continue
        name="${RS_PNAMES[$i]}"
        [[ "$name" == ventilator* ]] && continue
        st=0
        wait "$pid" 2>/dev/null || st=$?
        RS_PIDS[$i]=""
        soak_failure "$name (pid $pid) died by itself with status $st; last lines: $(tail -n 3 "${RS_PLOGS[$i]}" | tr '\n' '|' | cut -c 1-600)"
        case "$name" in
            keycoord*) h_start_keycoord ;;
            sink*)     h_start_sink ;;
            worker*)
                local w
                for w in "${!WORKER_PIDS[@]}"; do [[ "${WORKER_PIDS[$w]}" == "$pid" ]] && WORKER_PIDS[$w]=""; done
                start_worker ;;
        esac
    done
}

# --- faults ----------------------------------------------------------------------

inject() {
    local fault="$1" w pid
    INJECTED[$fault]=$(( ${INJECTED[$fault]:-0} + 1 ))
    soak_say "fault: $fault ($(h_signed 2>/dev/null || echo '?') signed)"
    case "$fault" in
        worker_kill|worker_term|worker_stop)
            w="$(pick_worker)" || { start_worker; return 0; }
            pid="${WORKER_PIDS[$w]}"
            case "$fault" in
                worker_kill) soak_kill "$pid"; WORKER_PIDS[$w]=""; start_worker ;;
                worker_term) soak_stop "$pid" TERM; WORKER_PIDS[$w]=""; start_worker ;;
                worker_stop)
                    kill -STOP "$pid" 2>/dev/null || true
                    sleep "$(( ttl / 1000 + 1 + RANDOM % 3 ))"
                    kill -CONT "$pid" 2>/dev/null || true ;;
            esac ;;
        keycoord_kill) soak_kill "$H_KC_PID"; sleep "0.$((RANDOM % 10))"; h_start_keycoord ;;
        keycoord_term) soak_stop "$H_KC_PID" TERM; h_start_keycoord ;;
        sink_kill)     soak_kill "$H_SINK_PID"; sleep "0.$((RANDOM % 10))"; h_start_sink ;;
        sink_term)     soak_stop "$H_SINK_PID" TERM; h_start_sink ;;
        ventilator_kill|ventilator_term)
            if rs_proc_alive "$H_VENT_PID"; then
                if [[ "$fault" == ventilator_kill ]]; then soak_kill "$H_VENT_PID"
                else soak_stop "$H_VENT_PID" TERM; fi
                h_start_ventilator "$batch"
            fi ;;
        pg_restart)
            (h_pg_restart) || soak_failure "PostgreSQL did not restart" ;;
    esac
}

# --- checks ----------------------------------------------------------------------

# check NAME ACTUAL EXPECTED: a check that fails again with the same value
# (the SQL checks cover every run so far) is reported once.
check() {
    if [[ "$2" == "$3" ]]; then soak_say "ok: $1 ($2)"
    elif [[ "${LAST_BAD[$1]:-}" == "$2" ]]; then soak_say "still failing: $1: got '$2', expected '$3'"
    else LAST_BAD[$1]="$2"; soak_failure "$1: got '$2', expected '$3'"; fi
}

# Exactly once and the lease rules, in SQL (cheap: after every run).
check_sql() {
    check "signatures = records" "$(h_sql 'select count(*) from signatures')" "$(h_sql 'select count(*) from records')"
    check "unsigned records" "$(h_sql 'select count(*) from records r where not exists (select 1 from signatures s where s.record_id = r.id)')" 0
    check "orphan signatures" "$(h_sql 'select count(*) from signatures s where not exists (select 1 from records r where r.id = s.record_id)')" 0
    check "overlapping leases of a key" "$(h_sql "select count(*) from (select granted_at, max(coalesce(ended_at, 'infinity')) over (
        partition by key_id order by granted_at, id rows between unbounded preceding and 1 preceding) as prev_end
        from leases) t where granted_at < prev_end")" 0
    check "signatures whose lease is missing or of another key" "$(h_sql "select count(*) from signatures s left join leases l on l.id = s.lease_id where l.id is null or l.key_id <> s.key_id")" 0
    check "leases over $batch signatures" "$(h_sql "select count(*) from (select lease_id from signatures group by lease_id having count(*) > $batch) t")" 0
}

# --- the soak --------------------------------------------------------------------

soak_say "seed $seed; $minutes min; $records records, then rounds of $round_records; $keys keys; batch $batch; $workers workers x $threads threads; ttl $ttl ms; faults: $faults"
h_start_db
h_init --keys "$keys" --records "$records"
h_start_keycoord
h_start_sink
for ((w = 0; w < workers; w++)); do start_worker; done
h_start_ventilator "$batch"

deadline=$((SECONDS + minutes * 60))
runs=1 completed=0
while (( SECONDS < deadline )); do
    # A random pause of 1-6 s (in 0.2 s steps), watching the processes.
    for ((step = 5 + RANDOM % 26; step > 0; step--)); do
        watch_processes
        rs_proc_alive "$H_VENT_PID" || break
        sleep 0.2
    done
    if ! rs_proc_alive "$H_VENT_PID"; then
        st=0
        wait "$H_VENT_PID" 2>/dev/null || st=$?
        i="$(rs_proc_index "$H_VENT_PID")" && RS_PIDS[$i]=""
        if (( st != 0 )); then
            soak_failure "ventilator-$H_VENT_N exited $st by itself; last lines: $(tail -n 3 "$H_VENT_LOG" | tr '\n' '|' | cut -c 1-600)"
            h_start_ventilator "$batch"
            continue
        fi
        completed=$((completed + 1))
        soak_say "run $runs complete ($(h_signed) signed)"
        check_sql
        (( SECONDS < deadline )) || break
        h_init --records "$round_records"
        runs=$((runs + 1))
        h_start_ventilator "$batch"
        continue
    fi
    inject "${fault_list[RANDOM % ${#fault_list[@]}]}"
done

soak_say "deadline reached: no more faults; letting the last run complete"
if rs_proc_alive "$H_VENT_PID" 2>/dev/null; then
    start=$SECONDS
    while rs_proc_alive "$H_VENT_PID" && (( SECONDS - start < 600 )); do watch_processes; sleep 0.5; done
    if rs_proc_alive "$H_VENT_PID"; then
        soak_failure "the last run did not complete within 600 s of the deadline ($(h_signed) of $(h_sql 'select count(*) from records') signed)"
        soak_stop "$H_VENT_PID" TERM
    else
        st=0
        wait "$H_VENT_PID" 2>/dev/null || st=$?
        i="$(rs_proc_index "$H_VENT_PID")" && RS_PIDS[$i]=""
        if (( st == 0 )); then completed=$((completed + 1)); soak_say "run $runs complete"
        else soak_failure "the last ventilator exited $st"; fi
    fi
fi

soak_say "stopping every process (each must exit 0 on SIGTERM)"
for w in "${!WORKER_PIDS[@]}"; do [[ -n "${WORKER_PIDS[$w]}" ]] && soak_stop "${WORKER_PIDS[$w]}" TERM; done
soak_stop "$H_SINK_PID" TERM
soak_stop "$H_KC_PID" TERM
h_stop_all_checked || soak_failure "a process did not stop cleanly"

soak_say "checking: exactly once, lease rules, verify, audit"
check_sql
if h_admin verify --threads 2 >"$H_LOGS/verify.out" 2>&1; then soak_say "ok: recsign verify: $(tail -n 1 "$H_LOGS/verify.out")"
else soak_failure "recsign verify: $(grep -v INFO "$H_LOGS/verify.out" | head -n 3 | tr '\n' '|' | cut -c 1-600)"; fi
if h_admin audit >"$H_LOGS/audit.out" 2>&1; then soak_say "ok: recsign audit"
else soak_failure "recsign audit: $(grep -E 'VIOLATED' "$H_LOGS/audit.out" | tr '\n' '|' | cut -c 1-800)"; fi
grep -E '^rule' "$H_LOGS/audit.out" | cut -c 1-200 | sed 's/^/    /' >&2 || true

summary=""
for f in "${fault_list[@]}"; do summary+="$f ${INJECTED[$f]:-0}, "; done
soak_say "summary: $SECONDS s; runs started $runs, completed $completed; $(h_signed) signatures, $(h_sql 'select count(*) from leases') leases; faults: ${summary%, }"
cp "$SOAK_LOG" "$H_LOGS/soak.log" 2>/dev/null || true
if (( ${#FAILURES[@]} > 0 )); then
    soak_say "${#FAILURES[@]} failure(s):"
    for f in "${FAILURES[@]}"; do printf '  %s\n' "$f" >&2; done
    exit 1
fi
soak_say "passed: every check held"
