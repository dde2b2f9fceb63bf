#!/usr/bin/env bash
# postgres_failover.sh: the PostgreSQL primary dies mid-run (SIGKILL to the
# postmaster and all its processes, as when its host is lost) and its
# synchronous hot standby is promoted; every service follows by itself.
#
# Two clusters: the primary (pg) and its synchronous standby (pg2, by
# streaming replication, synchronous_standby_names naming it). Each service
# is given both servers in one of libpq's multi-host forms:
#   keycoord    host=P,S user=recsign dbname=recsign target_session_attrs=read-write
#   sink        postgresql://recsign@/recsign?host=P,S&target_session_attrs=read-write
#   ventilator  host=S,P user=recsign dbname=recsign   (the standby first, and no
#               target_session_attrs: recsign must skip the standby by itself)
#   admin CLI   the sink's URL (verify and audit run against the new primary)
# Steps: a run is mid-way; the primary is killed; the sink's count of
# signatures it was told were committed is read (nothing can commit now);
# the standby, still read-only, must hold at least that many signatures and
# every lease they name (an asynchronous standby could lack them); the sink
# is killed and started again while only the read-only standby answers: it
# must wait for a primary, not exit; the standby is promoted; the run
# completes with no process restarted by hand but the sink, exactly one
# signature per record, verify and audit passing.
source "$(dirname "${BASH_SOURCE[0]}")/../harness.sh"

records=60000 keys=5 batch=5 ttl=3000
h_fault_options "$ttl" 2000 4000

h_start_db
h_init --keys "$keys" --records "$records"
h_start_standby
h_free_port metrics_port || h_fail "no free port (see the line above)"
H_SINK_OPTS=(--metrics-bind "127.0.0.1:$metrics_port")
h_start_on_both "$batch"

h_wait_signed 5000 60
h_step "killing the primary (SIGKILL to the postmaster and every PostgreSQL process)"
rs_pg_crash "$H_PG" || h_fail "could not kill the primary"
# Nothing can commit now (the standby is read-only): what the sink counts
# as stored is every signature it was told was committed.
stored_metric() {
    curl -fs "http://127.0.0.1:$metrics_port/metrics" | awk '$1 == "recsign_signatures_stored_total" { print $2 }'
}
acked="$(stored_metric)"
[[ "$acked" =~ ^[0-9]+$ ]] || h_fail "cannot read recsign_signatures_stored_total from the sink (got '$acked')"
h_eq "$(h_standby_sql 'select pg_is_in_recovery()')" t "the standby before its promotion is in recovery"
on_standby="$(h_standby_sql 'select count(*) from signatures')"
h_step "the sink had $acked signatures committed; the standby holds $on_standby"
(( on_standby >= acked )) \
    || h_fail "the standby lacks signatures whose commit the primary acknowledged: $on_standby < $acked"
h_eq "$(h_standby_sql 'select count(*) from signatures s where not exists (select 1 from leases l where l.id = s.lease_id and l.key_id = s.key_id)')" \
    0 "signatures on the standby whose lease is not in its lease log"

# A service started while only the read-only standby answers waits for a
# primary: the sink is killed and started again now.
h_kill "$H_SINK_PID"
h_start_sink
h_wait_until 30 "the new sink to wait for a primary" \
    grep -q "waiting for one" "$H_SINK_LOG"
h_check_alive

h_step "promoting the standby"
rs_pg_promote "$H_PG_STANDBY" || h_fail "could not promote the standby"
h_step "the standby is the primary now"
h_wait_ventilator 120

for log in "$H_LOGS/keycoord.log" "$H_LOGS/ventilator-1.log"; do
    h_log_has "$log" "database connection re-established" "$(basename "$log" .log) did not reconnect"
done
h_log_has "$H_SINK_LOG" "a database server accepts writes now; connected" "the new sink's connection after the promotion"
h_eq "$(h_sql 'select pg_is_in_recovery()')" f "the admin CLI's server is the new primary"
h_eq "$(h_sql "select current_setting('unix_socket_directories')")" "$H_PG_STANDBY" "the admin CLI's server"
h_finish "$batch"
echo "$RS_PROG: ok: every service followed the failover to the promoted standby; $acked acknowledged signatures all on it; run completed in $H_VENT_SECONDS s; test took $SECONDS s"
