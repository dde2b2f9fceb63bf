#!/usr/bin/env bash
# multi_host.sh: recsign on three "hosts" built on this machine with network
# namespaces, every socket on CurveZMQ, each host given only its own files.
#
# Wiring: a fourth namespace, rsNet, holds a bridge (br0) and nothing else;
# each host namespace has one veth pair to it: its eth0 <-> rsNet's vA, vB,
# vC. The only addresses are in 10.213.7.0/24, which exists only inside
# these namespaces (A 10.213.7.1, B .2, C .3); no namespace has a default
# route and none is linked to the root namespace, so no packet can leave the
# machine (the test checks that there is no default route).
#
#   rsA (10.213.7.1): PostgreSQL (postmaster in rsA, unix socket only:
#        listen_addresses = ''), recsign-keycoord :5559, recsign-sink :5558,
#        one recsign-ventilator per run :5557, and every admin command and
#        SQL query of this test. Its certificate directory holds the service
#        key pairs and the allow-list (worker-b, worker-c). (A unix socket is
#        a file, which network namespaces do not hide: B and C are kept off
#        the database by never being given its URL; workers have no database
#        option at all.)
#   rsB (10.213.7.2), rsC (10.213.7.3): two recsign-worker processes of one
#        signing thread each, reaching A by IP only, holders worker-b/... and
#        worker-c/...; each host has its own directory with a copy of the
#        master key, the three services' public certificates and its own
#        client key pair, nothing else, and no database URL.
#
# Phases (batch size 100, lease TTL 3000 ms, re-dispatch after 1000 ms):
#   1. 100 keys, 20,000 records: the run completes; verify and audit pass;
#      one signature per record; leases went to both B's and C's workers.
#   2. 20,000 more records, a new run: every process in rsB is killed with
#      SIGKILL while it holds leases; C finishes; exactly the leases B held
#      end 'expired', none is granted to B afterwards; verify and audit pass.
#      To make "while it holds leases" certain, C is paused (SIGSTOP) from
#      before the run until B is dead, and B is frozen first and killed only
#      once the lease log, which no longer changes, shows it holding keys.
#   3. 20,000 more records, a new run signed by C alone; worker-c is revoked
#      on A mid-run. C is paused (SIGSTOP) from just before the revocation
#      until 1.2 s after it, so that no message reaches the servers in that
#      window and their allow-list re-read (at most once a second, on the
#      next message) happens before C's next message is looked at: the
#      check can then be exact. C's processes stay alive and connected.
#      Proven: the keycoord logs dropped messages from a sender no longer
#      allowed; no lease is granted to worker-c after the revocation time;
#      the sink stores nothing from C after it resumed; restarted workers on
#      B finish the run; verify and audit pass.
#   4. 2,000 more records, a new run with no allowed worker: on B, a worker
#      with a fresh certificate made in a separate directory (never allowed)
#      is refused by the keycoord and exits 1 saying so (its certificate
#      is not in the keycoord's allow-list); tests/hosts/curve_probe
#      (worker's socket setup, same certificate) sees all three handshakes
#      refused by authentication, receives no batch and no lease reply, and
#      its forged result (a released lease of the right key) is not stored;
#      no lease names either of them. A control probe with worker-b's
#      certificate succeeds and receives batches. New B workers then finish
#      the run; verify and audit pass.
#
# Needs root and iproute2; exits 77 (skip) with one line when it cannot
# create namespaces. A trap kills every process in the namespaces, stops
# PostgreSQL and deletes the namespaces (their veths and bridge go with
# them), also on failure. Runs alone: the namespace names are fixed, and a
# lock directory serialises concurrent runs on one machine. About 50-70 s on
# the 2-core machine (verify and audit after each phase take most of it).

# shellcheck shell=bash
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=../harness.sh
source "$(dirname "${BASH_SOURCE[0]}")/../harness.sh"
# shellcheck source-path=SCRIPTDIR source=netns.sh
source "$(dirname "${BASH_SOURCE[0]}")/netns.sh"
trap ns_cleanup EXIT
ns_need_root

NS_PREFIX=10.213.7
MH_A_IP="$NS_PREFIX.1"
MH_VENT="tcp://$MH_A_IP:5557"
MH_SINK="tcp://$MH_A_IP:5558"
MH_KC="tcp://$MH_A_IP:5559"
MH_PROBE="${RECSIGN_CURVE_PROBE_BIN:-$H_BUILD/tests/curve_probe}"
[[ -x "$MH_PROBE" ]] || h_fail "missing binary $MH_PROBE"
unset RECSIGN_CERTS_DIR RECSIGN_CLIENT_CERT RECSIGN_HOLDER RECSIGN_INSECURE_PLAIN \
      RECSIGN_REDISPATCH_MS RECSIGN_REQUEST_TIMEOUT_MS RECSIGN_CONNECT_TIMEOUT_MS

inA() { ip netns exec rsA "$@"; }
# SQL and the admin CLI run on A only (harness.sh's h_init, h_verify, h_audit
# and h_check_complete use these two).
h_sql() { inA psql -X -Atq -v ON_ERROR_STOP=1 -d "$H_DB" -c "$1"; }
h_admin() { inA "$H_ADMIN" "$1" --db "$H_DB" "${@:2}"; }

ns_lock
h_step "namespaces: rsA, rsB, rsC on bridge br0 in rsNet, $NS_PREFIX.0/24"
ns_create rsNet rsA rsB rsC

# --- processes and queries, each on its host ---------------------------------------

A_DIR="$H_DIR/hostA"
A_CERTS="$A_DIR/certs"
mkdir -p "$A_DIR" "$H_DIR/hostB" "$H_DIR/hostC"

# mh_host_files HOST CERT_DIR CLIENT: what a worker host is given.
mh_host_files() {
    local dir="$H_DIR/host$1" certs="$2" client="$3" s
    mkdir -p "$certs"
    chmod 0700 "$certs"
    for s in ventilator keycoord sink; do cp "$A_CERTS/$s.cert" "$certs/"; done
    [[ "$client" == rogue ]] || cp "$A_CERTS/$client.cert" "$A_CERTS/$client.cert_secret" "$certs/"
    install -m 0600 "$H_KEY" "$dir/master.key"
}

mh_start_service() {
    local name="$1"
    shift
    rs_proc_start "$name" "$H_LOGS/$name.log" ip netns exec rsA "$@" --db "$H_DB" --certs "$A_CERTS"
}

# mh_start_worker HOST NAME: one worker process of one signing thread on host B or C.
mh_start_worker() {
    local host="$1" name="$2" lower
    lower="${host,,}"
    rs_proc_start "$name" "$H_LOGS/$name.log" ip netns exec "rs$host" "$H_WORKER" \
        --ventilator "$MH_VENT" --keycoord "$MH_KC" --sink "$MH_SINK" --threads 1 \
        --master-key "$H_DIR/host$host/master.key" --certs "$H_DIR/host$host/certs" \
        --client-cert "worker-$lower" --holder "worker-$lower"
}

# mh_stop NAME...: SIGTERM (a worker finishes its batch and gives its key back), then reaps.
mh_stop() {
    local name i pid deadline
    for name in "$@"; do
        for i in "${!RS_PIDS[@]}"; do
            [[ "${RS_PNAMES[$i]}" == "$name" && -n "${RS_PIDS[$i]}" ]] || continue
            pid="${RS_PIDS[$i]}"
            kill -TERM "$pid" 2>/dev/null || true
            deadline=$((SECONDS + 10))
            while rs_proc_alive "$pid" && (( SECONDS < deadline )); do sleep 0.1; done
            rs_proc_reap "$pid"   # SIGKILL if it still runs
        done
    done
}

mh_start_ventilator() {
    H_VENT_N=$((H_VENT_N + 1))
    h_step "ventilator run $H_VENT_N on A, batch size 100"
    MH_VENT_T0="$(date +%s%N)"
    mh_start_service "ventilator-$H_VENT_N" "$H_VENTILATOR" --bind "$MH_VENT" \
        --batch-size 100 --redispatch-ms 1000
    MH_VENT_PID=$RS_LAST_PID
}

# Waits for the current run's ventilator to exit 0 (all signed).
mh_wait_ventilator() {
    local rc=0 timeout="${1:-90}"
    rs_wait_proc "$MH_VENT_PID" "$timeout" || rc=$?
    case "$rc" in
        0)   [[ "$RS_WAIT_STATUS" == 0 ]] || h_fail "ventilator exited with status $RS_WAIT_STATUS" ;;
        124) h_fail "ventilator run $H_VENT_N did not finish within $timeout s" ;;
        *)   h_fail "$RS_DEAD_NAME died while ventilator run $H_VENT_N ran" ;;
    esac
    H_VENT_SECONDS="$(awk -v a="$MH_VENT_T0" -v b="$(date +%s%N)" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')"
    h_step "ventilator run $H_VENT_N finished in $H_VENT_SECONDS s"
}

# mh_wait_sql SQL SECONDS WHAT: polls until SQL returns 't'.
mh_wait_sql() {
    local deadline=$((SECONDS + $2))
    until [[ "$(h_sql "$1")" == t ]]; do
        (( SECONDS < deadline )) || h_fail "timed out after $2 s waiting for $3"
        sleep 0.02
    done
}

mh_run_id() { h_sql 'select coalesce(max(id), 0) from runs'; }

mh_unsigned() {
    h_sql 'select count(*) from records r where not exists (select 1 from signatures s where s.record_id = r.id)'
}

mh_proofs() {
    h_check_complete
    h_verify
    h_audit
}

# --- setup on A ----------------------------------------------------------------------

h_step "PostgreSQL in rsA (unix socket only)"
H_PG="$H_DIR/pg"
NS_PG_DIRS=("$H_PG")
# shellcheck disable=SC2016  # expanded by the inner shell
inA bash -c 'source "$1" && rs_pg_start "$2"' pg "$RS_ROOT/scripts/lib.sh" "$H_PG" \
    || h_fail "could not start PostgreSQL in rsA"
H_PG="$(cd "$H_PG" && pwd)"
H_DB="postgresql://recsign@/recsign?host=$H_PG"
[[ "$(inA psql -X -Atq -d "$H_DB" -c "show listen_addresses")" == "" ]] \
    || h_fail "PostgreSQL listens on TCP"

for w in worker-b worker-c; do
    inA "$H_ADMIN" certs --dir "$A_CERTS" --worker "$w" >>"$H_LOGS/certs.log" 2>&1 \
        || { cat "$H_LOGS/certs.log" >&2; h_fail "recsign certs --worker $w failed"; }
done
h_init --keys 100 --records 20000
mh_host_files B "$H_DIR/hostB/certs" worker-b
mh_host_files C "$H_DIR/hostC/certs" worker-c

h_step "keycoord and sink on A; two workers on B, two on C"
mh_start_service keycoord "$H_KEYCOORD" --bind "$MH_KC" --lease-ttl-ms 3000
mh_start_service sink "$H_SINK" --bind "$MH_SINK"
mh_start_worker B b1
mh_start_worker B b2
mh_start_worker C c1
mh_start_worker C c2
# Every worker has reached the keycoord (its start-up ping) before the run.
for w in b1 b2 c1 c2; do
    for ((i = 0; i < 100; i++)); do
        grep -q "signing threads started" "$H_LOGS/$w.log" 2>/dev/null && break
        sleep 0.1
    done
    grep -q "signing threads started" "$H_LOGS/$w.log" || h_fail "worker $w did not start"
done

# --- phase 1: the job, over the network ---------------------------------------------

mh_start_ventilator
mh_wait_ventilator 60
r1_seconds=$H_VENT_SECONDS
run1="$(mh_run_id)"
mh_proofs
h_eq "$(h_sql "select count(*) from (select record_id from signatures group by record_id having count(*) <> 1) t")" \
    0 "records without exactly one signature"
b_leases="$(h_sql "select count(*) from leases where run_id = $run1 and holder like '%/worker-b/%'")"
c_leases="$(h_sql "select count(*) from leases where run_id = $run1 and holder like '%/worker-c/%'")"
(( b_leases > 0 )) || h_fail "phase 1: no lease went to B's workers"
(( c_leases > 0 )) || h_fail "phase 1: no lease went to C's workers"
h_eq "$(h_sql "select count(*) from leases where run_id = $run1 and holder not like '%/worker-b/%' and holder not like '%/worker-c/%'")" \
    0 "phase 1: leases of other holders"
h_step "phase 1 ok: 20000 records in $r1_seconds s; leases: B $b_leases, C $c_leases"

# --- phase 2: host B dies mid-run ----------------------------------------------------

h_init --records 20000
# C is paused while B works, so that B still has batches queued when it is
# frozen; B is killed only once the lease log shows it holding a key.
c_pids="$(ip netns pids rsC)"
# shellcheck disable=SC2086
kill -STOP $c_pids
mh_start_ventilator
b_pids=""
for ((attempt = 1; ; attempt++)); do
    (( attempt <= 50 )) || h_fail "phase 2: never caught B holding a lease"
    seen="$(h_sql "select count(*) from leases where run_id > $run1 and holder like '%/worker-b/%'")"
    mh_wait_sql "select count(*) > $seen from leases where run_id > $run1 and holder like '%/worker-b/%'" 30 \
        "B's workers to take leases in run $H_VENT_N"
    b_pids="$(ip netns pids rsB)"
    # shellcheck disable=SC2086
    kill -STOP $b_pids
    sleep 0.15   # the lease log catches up; B's leases change no more
    b_open="$(h_sql "select count(*) from leases where holder like '%/worker-b/%' and ended_at is null")"
    (( b_open > 0 )) && break
    # shellcheck disable=SC2086
    kill -CONT $b_pids
done
ns_kill_host rsB
b_killed_at="$(date +%s.%N)"
unsigned_at_kill="$(mh_unsigned)"
# shellcheck disable=SC2086
kill -CONT $c_pids
h_step "phase 2: killed every process in rsB, holding $b_open leases, with $unsigned_at_kill records unsigned"
(( unsigned_at_kill > 0 )) || h_fail "phase 2: the run finished before B was killed"
mh_wait_ventilator 60
r2_seconds=$H_VENT_SECONDS
run2="$(mh_run_id)"
# B's open leases run out one TTL after their grant.
mh_wait_sql "select count(*) = 0 from leases where holder like '%/worker-b/%' and ended_at is null" 15 \
    "B's leases to expire"
mh_proofs
b_expired="$(h_sql "select count(*) from leases where run_id = $run2 and holder like '%/worker-b/%' and end_reason = 'expired'")"
h_eq "$b_expired" "$b_open" "phase 2: B's leases ended by expiry (B held $b_open when killed)"
h_eq "$(h_sql "select count(*) from leases where holder like '%/worker-b/%' and granted_at > to_timestamp($b_killed_at)")" \
    0 "phase 2: leases granted to B after it was killed"
c_after="$(h_sql "select count(*) from leases where run_id = $run2 and holder like '%/worker-c/%' and granted_at > to_timestamp($b_killed_at)")"
(( c_after > 0 )) || h_fail "phase 2: C took no lease after B died"
h_step "phase 2 ok: run in $r2_seconds s; B's leases expired: $b_expired; C's leases after the kill: $c_after"

# --- phase 3: worker-c revoked while it works -----------------------------------------

h_init --records 20000
kc_log="$H_LOGS/keycoord.log"
sink_log="$H_LOGS/sink.log"
not_allowed='not (or no longer) allowed'
kc_drops_before="$(grep -c "$not_allowed" "$kc_log" || true)"
sink_drops_before="$(grep -c "$not_allowed" "$sink_log" || true)"
h_eq "$kc_drops_before" 0 "keycoord drops of not-allowed senders before the revocation"
mh_start_ventilator
mh_wait_sql "select count(*) >= 2 from leases where run_id > $run2 and holder like '%/worker-c/%'" 30 \
    "C's workers to take leases in run $H_VENT_N"
c_pids="$(ip netns pids rsC)"
# shellcheck disable=SC2086
kill -STOP $c_pids
sleep 0.3
unsigned_at_revoke="$(mh_unsigned)"
revoked_at="$(date +%s.%N)"
inA "$H_ADMIN" certs --dir "$A_CERTS" --revoke worker-c >>"$H_LOGS/certs.log" 2>&1 \
    || { cat "$H_LOGS/certs.log" >&2; h_fail "recsign certs --revoke worker-c failed"; }
sleep 1.2
resumed_at="$(date +%s.%N)"
# shellcheck disable=SC2086
kill -CONT $c_pids
h_step "phase 3: revoked worker-c with $unsigned_at_revoke records unsigned; C resumed; restarting B"
(( unsigned_at_revoke > 0 )) || h_fail "phase 3: the run finished before the revocation"
mh_start_worker B b3
mh_start_worker B b4
mh_wait_ventilator 90
r3_seconds=$H_VENT_SECONDS
run3="$(mh_run_id)"
for p in $c_pids; do rs_proc_alive "$p" || h_fail "phase 3: a revoked worker on C died (pid $p)"; done
mh_proofs
c_before="$(h_sql "select count(*) from leases where run_id = $run3 and holder like '%/worker-c/%'")"
h_eq "$(h_sql "select count(*) from leases where holder like '%/worker-c/%' and granted_at > to_timestamp($revoked_at)")" \
    0 "phase 3: leases granted to worker-c after its revocation"
h_eq "$(h_sql "select count(*) from signatures s join leases l on l.id = s.lease_id
               where l.holder like '%/worker-c/%' and s.signed_at > to_timestamp($resumed_at)")" \
    0 "phase 3: signatures stored from worker-c after it resumed revoked"
b_new="$(h_sql "select count(*) from leases where run_id = $run3 and holder like '%/worker-b/%'")"
(( b_new > 0 )) || h_fail "phase 3: B's replacement workers took no lease"
kc_drops="$(grep -c "$not_allowed" "$kc_log" || true)"
sink_drops="$(( $(grep -c "$not_allowed" "$sink_log" || true) - sink_drops_before ))"
(( kc_drops > 0 )) || h_fail "phase 3: the keycoord logged no dropped message from the revoked worker"
grep -q 'allow-list changed' "$kc_log" || h_fail "phase 3: the keycoord did not re-read its allow-list"
grep -q 'allow-list changed' "$sink_log" || h_fail "phase 3: the sink did not re-read its allow-list"
h_step "phase 3 ok: run in $r3_seconds s; C's leases before revocation $c_before, after 0; B's new leases $b_new; keycoord log lines of dropped not-allowed messages $kc_drops, sink $sink_drops"
# C is done for; B steps aside so that phase 4 starts with no allowed worker.
ns_kill_host rsC
mh_stop b3 b4

# --- phase 4: a certificate that was never allowed ------------------------------------

h_init --records 2000
max_signed="$(h_sql 'select max(record_id) from signatures')"
read -r forged_lease forged_key < <(h_sql "select id || ' ' || key_id from leases where end_reason = 'released' order by id desc limit 1")
forged_record="$(h_sql "select min(id) from records where id > $max_signed")"
mh_start_ventilator
# The intruder makes its own certificate on B, in a directory of its own.
ip netns exec rsB "$H_ADMIN" certs --dir "$H_DIR/hostB/rogue-ca" --worker rogue >>"$H_LOGS/certs.log" 2>&1 \
    || { cat "$H_LOGS/certs.log" >&2; h_fail "recsign certs --worker rogue failed"; }
mh_host_files B "$H_DIR/hostB/rogue-certs" rogue
cp "$H_DIR/hostB/rogue-ca/rogue.cert" "$H_DIR/hostB/rogue-ca/rogue.cert_secret" "$H_DIR/hostB/rogue-certs/"
h_step "phase 4: a worker and a probe with a never-allowed certificate on B"
ip netns exec rsB "$H_WORKER" --ventilator "$MH_VENT" --keycoord "$MH_KC" --sink "$MH_SINK" \
    --threads 1 --master-key "$H_DIR/hostB/master.key" --certs "$H_DIR/hostB/rogue-certs" \
    --client-cert rogue --holder rogue-b --connect-timeout-ms 3000 \
    </dev/null >"$H_LOGS/rogue-worker.log" 2>&1 &
rogue_pid=$!
ip netns exec rsB "$MH_PROBE" --certs "$H_DIR/hostB/rogue-certs" --client-cert rogue \
    --ventilator "$MH_VENT" --keycoord "$MH_KC" --sink "$MH_SINK" --seconds 3 --expect refused \
    --holder rogue-probe --lease-id "$forged_lease" --key-id "$forged_key" --record-id "$forged_record" \
    </dev/null >"$H_LOGS/probe-rogue.log" 2>&1 || { cat "$H_LOGS/probe-rogue.log" >&2; h_fail "phase 4: the never-allowed probe got through"; }
cat "$H_LOGS/probe-rogue.log" >&2
rogue_status=0
wait "$rogue_pid" || rogue_status=$?
h_eq "$rogue_status" 1 "phase 4: exit status of the never-allowed worker"
grep -q "refused this worker's certificate 'rogue': it is not in the keycoord's allow-list" "$H_LOGS/rogue-worker.log" \
    || { cat "$H_LOGS/rogue-worker.log" >&2; h_fail "phase 4: the never-allowed worker did not say that the keycoord refused its certificate"; }
h_eq "$(h_sql "select count(*) from leases where holder like 'rogue%'")" 0 "phase 4: leases of the never-allowed clients"
h_eq "$(h_sql "select count(*) from signatures where record_id > $max_signed")" 0 \
    "phase 4: signatures stored while only never-allowed clients ran"
ip netns exec rsB "$MH_PROBE" --certs "$H_DIR/hostB/certs" --client-cert worker-b \
    --ventilator "$MH_VENT" --keycoord "$MH_KC" --sink "$MH_SINK" --seconds 1 --expect allowed \
    </dev/null >"$H_LOGS/probe-control.log" 2>&1 || { cat "$H_LOGS/probe-control.log" >&2; h_fail "phase 4: the control probe (worker-b) failed"; }
cat "$H_LOGS/probe-control.log" >&2
mh_start_worker B b5
mh_start_worker B b6
mh_wait_ventilator 60
r4_seconds=$H_VENT_SECONDS
mh_stop b5 b6
mh_proofs
h_eq "$(h_sql "select count(*) from signatures where record_id = $forged_record and lease_id = $forged_lease")" 0 \
    "phase 4: the forged result was stored"
h_step "phase 4 ok: run in $r4_seconds s"

# --- rules 2 and 3 over every run, in SQL apart from the audit --------------------------

h_eq "$(h_sql "select count(*) from leases a join leases b
               on a.key_id = b.key_id and a.id < b.id
              and a.granted_at < coalesce(b.ended_at, 'infinity')
              and b.granted_at < coalesce(a.ended_at, 'infinity')")" \
    0 "overlapping leases of one key"
h_eq "$(h_sql "select count(*) from signatures s left join leases l on l.id = s.lease_id
               where l.id is null or l.key_id <> s.key_id")" \
    0 "signatures whose lease is missing or holds another key"
h_eq "$(h_sql "select count(*) from (select lease_id from signatures group by lease_id having count(*) > 100) t")" \
    0 "leases covering more than 100 signatures"
echo "$RS_PROG: ok: 3 hosts; runs of 20000/20000/20000/2000 records in $r1_seconds/$r2_seconds/$r3_seconds/$r4_seconds s; B killed, C revoked, never-allowed client refused"
