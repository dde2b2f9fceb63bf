#!/usr/bin/env bash
# scratch: CPU of each service's backends over one run (batch $1)
source "$(dirname "${BASH_SOURCE[0]}")/../tests/harness.sh"
h_start_db
h_init --keys 100 --records 100000
h_start_services 1 2
sleep 1
snap() { h_sql "select application_name, pid from pg_stat_activity where application_name like 'recsign-%'" | while IFS='|' read -r app p; do
  awk -v app="$app" -v pid="$p" '{ split($0, a, ") "); split(a[2], f, " "); printf "%s/%s %.2f\n", app, pid, (f[12]+f[13])/100 }' /proc/$p/stat 2>/dev/null; done | sort; }
snap > "$H_LOGS/before"
h_start_ventilator "$1"
# the ventilator's backend appears now; sample it at the end of the run
while rs_proc_alive "$H_VENT_PID"; do snap > "$H_LOGS/during"; sleep 0.2; done
h_wait_ventilator 120
snap > "$H_LOGS/after"
echo "== before" >&2; cat "$H_LOGS/before" >&2
echo "== last sample during the run" >&2; cat "$H_LOGS/during" >&2
echo "== after" >&2; cat "$H_LOGS/after" >&2
grep -h "stopped\|exiting" "$H_LOGS"/*.log | grep -v config >&2 || true
