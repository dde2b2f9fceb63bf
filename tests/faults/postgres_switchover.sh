#!/usr/bin/env bash
# postgres_switchover.sh: the primary is fenced, not killed, as a failover
# manager does in a switchover: made read-only mid-run (ALTER SYSTEM SET
# default_transaction_read_only = on, reloaded), and its synchronous
# standby promoted while it still runs. The services' sessions on the old
# primary stay open and stay usable for reading: each service must notice
# that its server no longer accepts writes (the server reports it), leave
# it, and reach the promoted standby by itself. Services and connection
# strings as in postgres_failover (h_start_on_both). The run completes;
# the old primary took no write after its fencing; exactly one signature
# per record; verify and audit pass against the new primary.
source "$(dirname "${BASH_SOURCE[0]}")/../harness.sh"

records=40000 keys=5 batch=5 ttl=3000
h_fault_options "$ttl" 2000 4000

h_start_db
h_init --keys "$keys" --records "$records"
h_start_standby
h_start_on_both "$batch"

h_wait_signed 5000 60
old_primary="postgresql://recsign@/recsign?host=$H_PG&target_session_attrs=any"
h_step "fencing the primary: default_transaction_read_only = on"
rs_psql "$old_primary" -c "alter system set default_transaction_read_only = on" \
    -c "select pg_reload_conf()" >/dev/null || h_fail "could not fence the primary"
# Both servers are read-only now: the sink and the keycoord must see their
# writes refused, leave the old primary, and find no server to write to.
for log in "$H_SINK_LOG" "$H_KC_LOG"; do
    h_wait_until 30 "$(basename "$log" .log) to leave the fenced primary" \
        grep -q "no longer accepts writes; reconnecting" "$log"
done
h_wait_until 30 "the sink to find no server that accepts writes" \
    grep -q "database reconnect failed" "$H_SINK_LOG"
fenced_signed="$(rs_psql "$old_primary" -c 'select count(*) from signatures')"
h_check_alive

h_step "promoting the standby while the fenced primary still runs"
rs_pg_promote "$H_PG_STANDBY" || h_fail "could not promote the standby"
h_wait_ventilator 120

h_eq "$(rs_psql "$old_primary" -c 'select count(*) from signatures')" "$fenced_signed" \
    "signatures on the old primary after its fencing"
h_eq "$(h_sql "select current_setting('unix_socket_directories')")" "$H_PG_STANDBY" "the admin CLI's server"
h_finish "$batch"
echo "$RS_PROG: ok: every service left the fenced primary ($fenced_signed signatures on it) for the promoted standby; run completed in $H_VENT_SECONDS s; test took $SECONDS s"
