#!/usr/bin/env bash
# passwords.sh: no log and no error of any program or script shows the
# database password. A role with a real password (password authentication
# in the private cluster's pg_hba.conf) runs a whole job with the
# connection string in each form libpq accepts: a URL with a
# percent-encoded password; keyword=value with spaces around '=' and a
# quoted password holding a space and an escaped quote; the password first.
# Then errors: a wrong password, a string libpq cannot read, and
# scripts/run_local.sh --db against an unreachable and an unreadable
# string. Every log and every error output is searched for any fragment
# of the password. A process given the password on its command line says
# so once, as a warning; one given it in RECSIGN_DB_URL does not.
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

records=3000 keys=3 batch=10
# A space and a quote inside: the forms that leaked before.
pw_a="Zq9kW4" pw_b="xV'7mPq2"
password="$pw_a $pw_b"
pw_url="Zq9kW4%20xV%277mPq2"
fragments=("$pw_a" "$pw_b" "xV%277mPq2" "7mPq2")

h_start_db
h_init --keys "$keys" --records "$records"
trust_db="$H_DB"
h_sql "create role app login superuser password '$(sed "s/'/''/g" <<<"$password")'" >/dev/null
# Password authentication for `app`, trust for the test's own role.
hba="$H_PG/data/pg_hba.conf"
{ echo "local all app scram-sha-256"; cat "$hba"; } >"$H_DIR/hba.new"
rs_pg_as_owner tee "$hba" <"$H_DIR/hba.new" >/dev/null
h_sql "select pg_reload_conf()" >/dev/null
sleep 0.5
[[ -z "$(psql -X -Atq -d "dbname=recsign host=$H_PG user=app password=wrong" -c 'select 1' 2>/dev/null)" ]] \
    || h_fail "role app logs in with a wrong password: password authentication is not on"

forms=(
    "postgresql://app:$pw_url@/recsign?host=$H_PG"
    "host=$H_PG dbname = recsign user= app password = 'Zq9kW4 xV\\'7mPq2'"
    "password='Zq9kW4 xV\\'7mPq2' user=app host='$H_PG' dbname=recsign"
)

# no_leak FILE...: fails when any file holds a fragment of the password.
no_leak() {
    local f frag
    for f in "$@"; do
        for frag in "${fragments[@]}"; do
            if grep -qF -- "$frag" "$f"; then
                grep -nF -- "$frag" "$f" | head -n 3 >&2
                h_fail "$(basename "$f") shows the password (fragment '$frag')"
            fi
        done
    done
}

n=0
for form in "${forms[@]}"; do
    n=$((n + 1))
    h_step "form $n: a whole job"
    H_DB="$trust_db"
    rs_reset_signing "$H_DB"
    H_DB="$form"
    # Every service and admin command gets it on its command line (--db),
    # and must say so once; `recsign status` below gets it from
    # RECSIGN_DB_URL, and must not.
    h_start_keycoord
    kc_log="$H_KC_LOG"
    h_start_sink
    h_start_worker 2
    h_run_ventilator "$batch" 120
    h_finish "$batch"
    RECSIGN_DB_URL="$form" "$H_ADMIN" status >"$H_LOGS/status-$n.out" 2>&1 \
        || { cat "$H_LOGS/status-$n.out" >&2; h_fail "recsign status with RECSIGN_DB_URL failed"; }
    h_log_lacks "$H_LOGS/status-$n.out" 'warning' "status given the password in RECSIGN_DB_URL"
    h_eq "$(grep -c 'holds a password' "$kc_log")" 1 "the keycoord's warnings about --db holding a password"
    h_log_has "$kc_log" 'config db = .*password=\*\*\*' "the keycoord's masked configuration line"
done
H_DB="$trust_db"

h_step "errors"
err() {   # err NAME COMMAND...: must fail; its output is kept for the search
    local name="$1" st=0
    shift
    "$@" >"$H_LOGS/err-$name.out" 2>&1 || st=$?
    (( st != 0 )) || h_fail "$name: succeeded; expected a failure"
}
wrong="host=$H_PG dbname=recsign user=app password = 'Zq9kW4 xV\\'7mPq2-wrong'"
unreadable="host=$H_PG dbname=recsign user=app password=Zq9kW4 xV'7mPq2"
err status-wrong env RECSIGN_DB_URL="$wrong" "$H_ADMIN" status
h_log_has "$H_LOGS/err-status-wrong.out" 'password authentication failed' "the wrong password's error"
err status-unreadable "$H_ADMIN" status --db "$unreadable"
h_log_has "$H_LOGS/err-status-unreadable.out" 'not one libpq can read' "the unreadable string's error"
err sink-unreadable env RECSIGN_DB_URL="$unreadable" "$H_SINK" --insecure-plain
err keycoord-wrong "$H_KEYCOORD" --db "$wrong" --insecure-plain
err ventilator-url-wrong "$H_VENTILATOR" --db "postgresql://app:$pw_url-wrong@/recsign?host=$H_PG" --insecure-plain
for db in "$wrong" "$unreadable" "postgresql://app:$pw_url@/recsign?host=$H_DIR/nowhere"; do
    n=$((n + 1))
    err "run_local-$n" env RECSIGN_SKIP_DEPS=1 RECSIGN_DATA_DIR="$H_DIR/run_local-$n" \
        bash "$RS_ROOT/scripts/run_local.sh" --db "$db"
    h_log_has "$H_LOGS/err-run_local-$n.out" 'cannot use the database given with --db' "run_local.sh's error"
done

no_leak "$H_LOGS"/*.log "$H_LOGS"/*.out "$H_DIR"/run_local-*/logs/*
echo "$RS_PROG: ok: 3 forms of a password-protected connection string, a job each and 8 errors; no log or error shows the password; test took $SECONDS s"
