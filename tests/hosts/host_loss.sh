#!/usr/bin/env bash
# host_loss.sh: no single point of failure: host A, with the PostgreSQL
# primary and a keycoord, a ventilator and a sink, is lost mid-run, and the
# run completes by itself on host B.
#
# Wiring (tests/hosts/netns.sh): namespaces rhA .. rhD on bridge br0 in
# rhNet, addresses 10.213.8.1 .. .4, nothing leaves the machine.
#   rhA (10.213.8.1): PostgreSQL primary on TCP 5432; recsign-keycoord
#        :5559, recsign-sink :5558, recsign-ventilator :5557.
#   rhB (10.213.8.2): PostgreSQL, a hot standby of A by streaming
#        replication over the namespace network, A's one synchronous standby
#        (synchronous_standby_names); a keycoord (waits as a hot standby,
#        its socket unbound until it leads), a sink (several sinks run at
#        once), a ventilator (waits as a standby, takes over the unfinished
#        run) on the same ports.
#   rhC (.3), rhD (.4): one worker each, of two signing threads, given both
#        hosts' endpoints: --keycoord tcp://A:5559,tcp://B:5559, and the
#        same for --ventilator and --sink.
# Every service and admin command is given both databases in libpq's URL
# form: postgresql://recsign@A:5432,B:5432/recsign?target_session_attrs=read-write
# CurveZMQ throughout: the services of A and B share one set of service key
# pairs; each worker host has the services' public certificates and its own
# client key pair.
#
# Steps: 100 keys, 40,000 records, batch size 100, lease TTL 3000 ms; the
# run starts on A; once a fifth of it is signed, A's link is cut (it
# vanishes from the network: no reset, no answer) and every process of A,
# PostgreSQL included, is killed at once (SIGKILL); B's PostgreSQL is
# promoted (pg_ctl promote, as a failover manager would); B's ventilator
# finishes the run by itself (exit 0), nobody restarts anything; exactly
# one signature per record, no overlapping leases of a key, verify and
# audit pass against B.
#
# Relies on the keycoord standby, the ventilator standby, several sinks and
# the workers' endpoint lists. Needs root and iproute2; skips (exit 77, one
# line) otherwise. Takes the 'hosts' lock (one such test at a time).

# shellcheck shell=bash
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=../harness.sh
source "$(dirname "${BASH_SOURCE[0]}")/../harness.sh"
# shellcheck source-path=SCRIPTDIR source=netns.sh
source "$(dirname "${BASH_SOURCE[0]}")/netns.sh"
trap ns_cleanup EXIT

ns_need_root

NS_PREFIX=10.213.8
A_IP="$NS_PREFIX.1" B_IP="$NS_PREFIX.2"
unset RECSIGN_CERTS_DIR RECSIGN_CLIENT_CERT RECSIGN_HOLDER RECSIGN_INSECURE_PLAIN \
      RECSIGN_REDISPATCH_MS RECSIGN_REQUEST_TIMEOUT_MS RECSIGN_CONNECT_TIMEOUT_MS
records=40000 keys=100 batch=100 ttl=3000

ns_lock
ns_create rhNet rhA rhB rhC rhD
h_step "namespaces: rhA, rhB, rhC, rhD on bridge br0 in rhNet, $NS_PREFIX.0/24"

# --- each host's commands --------------------------------------------------------

on() { local host="$1"; shift; ip netns exec "rh$host" "$@"; }
# Every admin command and query runs on B, which lives through the test;
# libpq finds the primary among both servers.
H_DB="postgresql://recsign@$A_IP:5432,$B_IP:5432/recsign?target_session_attrs=read-write"
h_sql() { on B psql -X -Atq -v ON_ERROR_STOP=1 -d "$H_DB" -c "$1"; }
h_admin() { on B "$H_ADMIN" "$1" --db "$H_DB" "${@:2}"; }
# on_lib HOST FUNCTION ARGS...: a scripts/lib.sh function run on HOST.
on_lib() {
    local host="$1"
    shift
    # shellcheck disable=SC2016  # expanded by the inner shell
    on "$host" bash -c 'source "$1" && shift && "$@"' lib "$RS_ROOT/scripts/lib.sh" "$@"
}

# --- PostgreSQL: A primary, B its synchronous hot standby -------------------------

PG_A="$H_DIR/pgA" PG_B="$H_DIR/pgB"
NS_PG_DIRS=("$PG_A" "$PG_B")
h_step "PostgreSQL primary on A ($A_IP:5432)"
on_lib A rs_pg_start "$PG_A" "$A_IP" "$NS_PREFIX.0/24" || h_fail "could not start PostgreSQL on A"
for h in A B C D; do mkdir -p "$H_DIR/host$h"; done
CERTS="$H_DIR/hostA/certs"
for w in worker-c worker-d; do
    on A "$H_ADMIN" certs --dir "$CERTS" --worker "$w" >>"$H_LOGS/certs.log" 2>&1 \
        || { cat "$H_LOGS/certs.log" >&2; h_fail "recsign certs --worker $w failed"; }
done
h_step "recsign init on A's database"
on A "$H_ADMIN" init --db "$H_DB" --master-key "$H_KEY" --keys "$keys" --records "$records" \
    >>"$H_LOGS/init.log" 2>&1 || { tail -n 20 "$H_LOGS/init.log" >&2; h_fail "recsign init failed"; }
h_step "PostgreSQL on B: synchronous hot standby of A over the network"
on_lib B rs_pg_start_standby "$PG_B" "$A_IP" recsign_b "$B_IP" "$NS_PREFIX.0/24" \
    || h_fail "could not start B's standby"
h_eq "$(on A psql -X -Atq -h "$A_IP" -U recsign -d postgres -c \
        "select host(client_addr) || ' ' || sync_state from pg_stat_replication where application_name = 'recsign_b'")" \
    "$B_IP sync" "A's replication to B"
h_eq "$(on B psql -X -Atq -h "$B_IP" -U recsign -d recsign -c 'select pg_is_in_recovery()')" t \
    "B's PostgreSQL is a standby"

# --- services on A and B, workers on C and D -----------------------------------------

# B gets the services' key pairs too (its services stand in for A's); C and
# D the services' public certificates and their own client key pair.
cp -a "$CERTS" "$H_DIR/hostB/certs"
for h in C D; do
    lower="${h,,}"
    mkdir -m 0700 "$H_DIR/host$h/certs"
    for s in ventilator keycoord sink; do cp "$CERTS/$s.cert" "$H_DIR/host$h/certs/"; done
    cp "$CERTS/worker-$lower.cert" "$CERTS/worker-$lower.cert_secret" "$H_DIR/host$h/certs/"
    install -m 0600 "$H_KEY" "$H_DIR/host$h/master.key"
done

# start_services HOST: keycoord, sink and ventilator on HOST, on its
# address. (ip netns exec runs the program in its own pid: the harness
# signals the program itself.)
start_services() {
    local host="$1" ip certs="$H_DIR/host$1/certs"
    ip="$([[ "$host" == A ]] && echo "$A_IP" || echo "$B_IP")"
    rs_proc_start "keycoord-$host" "$H_LOGS/keycoord-$host.log" ip netns exec "rh$host" "$H_KEYCOORD" \
        --db "$H_DB" --certs "$certs" --bind "tcp://$ip:5559" --lease-ttl-ms "$ttl"
    rs_proc_start "sink-$host" "$H_LOGS/sink-$host.log" ip netns exec "rh$host" "$H_SINK" \
        --db "$H_DB" --certs "$certs" --bind "tcp://$ip:5558"
    rs_proc_start "ventilator-$host" "$H_LOGS/ventilator-$host.log" ip netns exec "rh$host" "$H_VENTILATOR" \
        --db "$H_DB" --certs "$certs" --bind "tcp://$ip:5557" --batch-size "$batch" --redispatch-ms 1000
    VENT_PID=$RS_LAST_PID
}

h_step "services on A, then their standbys on B"
start_services A
run_started() { [[ "$(h_sql 'select count(*) from runs')" -ge 1 ]]; }
h_wait_until 60 "A's ventilator to start the run" run_started
start_services B
VENT_B_PID=$VENT_PID
both() { echo "tcp://$A_IP:$1,tcp://$B_IP:$1"; }
for h in C D; do
    lower="${h,,}"
    rs_proc_start "worker-$lower" "$H_LOGS/worker-$lower.log" ip netns exec "rh$h" "$H_WORKER" \
        --ventilator "$(both 5557)" --keycoord "$(both 5559)" --sink "$(both 5558)" --threads 2 \
        --master-key "$H_DIR/host$h/master.key" --certs "$H_DIR/host$h/certs" \
        --client-cert "worker-$lower" --holder "worker-$lower" --request-timeout-ms 1000 \
        --max-rate 2000   # paced, so that A is lost mid-run whatever the machine's speed
done

# --- host A is lost ------------------------------------------------------------------

h_wait_until 120 "a fifth of the records signed" h_signed_at_least $((records / 5))
signed="$(h_sql 'select count(*) from signatures')"
(( signed < records )) || h_fail "every record was signed before A was lost; the run is too short"
# As a lost host does, A vanishes from the network first (no reset, no
# answer: B's sessions to A's PostgreSQL must time out, see lib/rs_db.c),
# then every process of A dies.
h_step "host A lost: its link cut, then SIGKILL to every process of rhA, PostgreSQL included ($signed of $records signed)"
ip -n rhA link set eth0 down
ns_kill_host rhA
killed_at="$(date +%s.%N)"
h_step "promoting B's PostgreSQL"
on_lib B rs_pg_promote "$PG_B" || h_fail "could not promote B's PostgreSQL"

rc=0
rs_wait_proc "$VENT_B_PID" 180 || rc=$?
case "$rc" in
    0)   h_eq "$RS_WAIT_STATUS" 0 "exit status of B's ventilator" ;;
    124) h_fail "the run did not complete on B within 180 s of A's loss" ;;
    *)   h_fail "$RS_DEAD_NAME died while B finished the run" ;;
esac
h_step "B's ventilator finished the run"

# --- proofs, against B -----------------------------------------------------------------

h_eq "$(h_sql "select current_setting('listen_addresses')")" "$B_IP" "the primary now"
h_stop_services
h_check_complete
h_check_leases "$batch"
leases_after="$(h_sql "select count(*) from leases where granted_at > to_timestamp($killed_at)")"
stored_after="$(h_sql "select count(*) from signatures s join leases l on l.id = s.lease_id
                       where l.granted_at > to_timestamp($killed_at)")"
(( leases_after > 0 && stored_after > 0 )) \
    || h_fail "nothing was leased or stored after A's loss ($leases_after leases, $stored_after signatures)"
h_step "after A's loss: $leases_after leases granted by B's keycoord, $stored_after signatures under them"
h_verify
h_audit
echo "$RS_PROG: ok: host A (PostgreSQL primary, keycoord, ventilator, sink) lost with $signed of $records records signed; B finished the run; verify and audit pass; test took $SECONDS s"
