#!/usr/bin/env bash
# cpu_account.sh: the CPU account of scripts/lib_cpu.sh over one small run
# (what bench.sh and run_local.sh --cpu-account print). Its structure: the
# machine's rows, a part for every recsign process (from its exit line),
# the PostgreSQL backends by the service they serve (each service sets its
# own application_name) and PostgreSQL's own processes by kind; a backend
# that exits during the run is still counted, under its application_name;
# the named parts sum to within the machine's busy time. No timing is
# asserted: only what the figures must satisfy whatever the machine's load.
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

h_start_db
# 30,000 records: enough work for the sink's backend to take a clock tick
# (10 ms) on any machine. With 3,000 it took 0.01-0.02 CPU-s, and once the
# sink checked a flush's leases by range, 0.00 in a CI run (ASan pass of
# 01ba877).
h_init --keys 20 --records 30000

acct="$H_DIR/account"
rs_cpu_account_begin "$acct" "$H_PG"
h_start_services 1 2
# A connection that comes and goes during the run, busy long enough for
# the sampler to see it: its CPU must be counted under its name, although
# its backend is gone when the account ends.
PGAPPNAME=rs-short-lived psql -X -Atq -d "$H_DB" \
    -c 'select count(*) from generate_series(1, 3000000)' >/dev/null
h_run_ventilator 100 120
h_stop_services
rs_cpu_account_end || h_fail "rs_cpu_account_end failed"
csv="$acct/account.csv"
[[ -s "$csv" ]] || h_fail "no $csv"

h_step "the account's structure"
h_eq "$(head -n 1 "$csv")" "part,cpu_seconds" "the account's header"
# part VALUE: the value of a row, or a failure naming the missing row.
part() {
    local v
    v="$(awk -F, -v p="$1" '$1 == p { print $2; found = 1 } END { exit !found }' "$csv")" \
        || h_fail "the account has no row '$1'; it has: $(cut -d, -f1 "$csv" | paste -sd '|')"
    [[ "$v" =~ ^-?[0-9]+(\.[0-9]+)?$ ]] || h_fail "the row '$1' holds '$v', not a number"
    printf '%s\n' "$v"
}
# at_least A B WHAT: fails unless A >= B.
at_least() {
    awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }' || h_fail "$3: $1 < $2"
}
for row in wall_seconds cores wall_x_cores idle stolen busy; do part "$row" >/dev/null; done
h_eq "$(awk -F, '$1 == "cores" { printf "%.0f", $2 }' "$csv")" "$(grep -c '^cpu[0-9]' /proc/stat)" \
    "cores seen by the account (/proc/stat over wall time)"
at_least "$(part wall_seconds)" 0.001 "wall seconds"
# busy + idle + stolen is the whole of wall x cores.
h_eq "$(awk -F, '$1 == "busy" || $1 == "idle" || $1 == "stolen" { s += $2 }
                  $1 == "wall_x_cores" { t = $2 } END { d = s - t; print (d < 0.02 && d > -0.02) ? "ok" : s " vs " t }' "$csv")" \
    ok "busy + idle + stolen against wall x cores"
# Every recsign process, from its own exit line; the worker signed 30,000
# records, which takes CPU on any machine.
for p in keycoord sink worker-1 ventilator-1; do
    at_least "$(part "recsign $p")" 0 "recsign $p"
done
at_least "$(part "recsign worker-1")" 0.01 "the worker's CPU"
grep -q '^warning,' "$csv" && h_fail "the account warns: $(grep '^warning,' "$csv")"
# The backends by the service they serve, PostgreSQL's own by kind.
for p in "postgres backend recsign-keycoord" "postgres backend recsign-sink" \
         "postgres backend recsign-ventilator" "postgres checkpointer" "postgres walwriter" \
         "postgres postmaster" "launcher (script and its commands)" "this account (sampler and snapshots)" \
         "kernel threads" "other processes (not this run)" "unnamed"; do
    part "$p" >/dev/null
done
# Interrupts: a part where the kernel accounts IRQ time apart, else a note
# (they are inside the processes' figures; counted twice, "unnamed" went
# negative by as much).
if grep -q '^note,interrupts (irq and softirq) took [0-9.]* CPU-s; this kernel counts them inside' "$csv"; then
    grep -q '^interrupts' "$csv" && h_fail "interrupts both a part and a note: $(cat "$csv")"
else
    part "interrupts (irq and softirq)" >/dev/null
fi
at_least "$(part "postgres backend recsign-sink")" 0.01 "the sink's backend (it stored 30,000 rows)"
# The connection that came and went: counted, under its name.
at_least "$(part "postgres backend rs-short-lived")" 0.05 "the exited backend rs-short-lived"

h_step "the named parts against the machine's total"
# Everything but "unnamed" (which is the machine's busy time minus the
# rest, so it closes the sum) must fit in the busy time; per-process
# figures (nanosecond run times) and /proc/stat's (ticks) are read
# differently, so a few per cent of slack.
named="$(awk -F, 'NR > 7 && $1 != "unnamed" && $1 != "warning" && $1 != "note" { s += $2 } END { printf "%.2f", s }' "$csv")"
busy="$(part busy)"
awk -v n="$named" -v b="$busy" 'BEGIN { exit !(n <= b * 1.05 + 0.2) }' \
    || h_fail "the named parts sum to $named CPU-s, more than the machine's busy $busy"
# Every part together is busy (unnamed closes the sum), but for each
# part's rounding to 0.01.
awk -F, -v b="$busy" 'NR > 7 && $1 != "warning" && $1 != "note" { s += $2; n++ }
    END { d = s - b; exit !(d <= 0.01 * n && d >= -0.01 * n) }' "$csv" \
    || h_fail "the parts do not sum to busy ($busy CPU-s): $(cat "$csv")"
# This run's own parts (recsign, postgres, launcher, sampler) fit in wall x cores.
ours="$(awk -F, '$1 ~ /^(recsign |postgres|launcher|this account)/ { s += $2 } END { printf "%.2f", s }' "$csv")"
awk -v o="$ours" -v t="$(part wall_x_cores)" 'BEGIN { exit !(o <= t) }' \
    || h_fail "this run's parts ($ours CPU-s) exceed wall x cores"

h_step "the printed account"
printed="$(rs_cpu_account_print "$csv" 30000)"
grep -q '^CPU account: .* s wall; .* CPU-s of .* cores (/proc/stat): busy ' <<<"$printed" || h_fail "no account header in: $printed"
# Per 100,000 records needs records: with none, '-', not 0.00.
rs_cpu_account_print "$csv" 0 | grep -q 'postgres backend recsign-sink  *[0-9.]*  *- ' \
    || h_fail "with 0 records the per-100k column is not '-': $(rs_cpu_account_print "$csv" 0)"
grep -q 'postgres backend recsign-sink' <<<"$printed" || h_fail "the printed account lacks the sink's backend"

# A database given by URL (run_local.sh --db): when its postmaster runs
# on this host it is accounted by part as a private cluster is; once, it
# fell into "other processes" without a word.
h_step "a database given by URL, on this host"
acct_url="$H_DIR/account-url"
rs_cpu_account_begin "$acct_url" "$H_DB"
PGAPPNAME=rs-by-url psql -X -Atq -d "$H_DB" -c 'select count(*) from generate_series(1, 3000000)' >/dev/null
rs_cpu_account_end || h_fail "rs_cpu_account_end failed (URL)"
csv="$acct_url/account.csv"
at_least "$(part "postgres backend rs-by-url")" 0.05 "the backend of a database given by URL"
grep -q '^note,the database' "$csv" && h_fail "the account of a local database by URL says it is not in it: $(grep '^note,' "$csv")"
h_step "a database given by URL, not reachable: the account says PostgreSQL is not in it"
acct_far="$H_DIR/account-far"
rs_cpu_account_begin "$acct_far" "postgresql://recsign@/recsign?host=$H_DIR/nowhere"
rs_cpu_account_end || h_fail "rs_cpu_account_end failed (no database)"
grep -q '^note,the database (--db) is not on this host' "$acct_far/account.csv" \
    || h_fail "no note that PostgreSQL is not accounted: $(cat "$acct_far/account.csv")"
grep -q '^postgres' "$acct_far/account.csv" && h_fail "postgres parts without a database: $(cat "$acct_far/account.csv")"
rs_cpu_account_print "$acct_far/account.csv" 0 | grep -q '^  note: the database (--db) is not on this host' \
    || h_fail "the printed account does not say PostgreSQL is not in it"

h_step "run_local.sh --cpu-account refuses --follow"
rc=0
out="$("$RS_ROOT/scripts/run_local.sh" --cpu-account --follow 2>&1)" || rc=$?
h_eq "$rc" 2 "exit status of run_local.sh --cpu-account --follow"
grep -q -- '--cpu-account accounts a run that ends' <<<"$out" || h_fail "unexpected message: $out"

h_verify
h_audit
echo "$RS_PROG: ok: the CPU account of a 30,000-record run names every part and sums to the machine's busy time"
