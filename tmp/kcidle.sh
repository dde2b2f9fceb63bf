#!/usr/bin/env bash
# scratch: CPU of the keycoord's backends while idle and while leasing
source "$(dirname "${BASH_SOURCE[0]}")/../tests/harness.sh"
h_start_db
h_init --keys 100 --records 1000
h_start_keycoord
h_wait_until 20 "kc to lead" h_kc_serves "$H_KC_LOG" 1
cpu() { for p in $(h_sql "select pid from pg_stat_activity where application_name = '$1'"); do
  awk -v hz=100 '{ split($0, a, ") "); split(a[2], f, " "); printf "%s:%.2f ", '"$p"', (f[12]+f[13])/hz }' /proc/$p/stat; done; echo; }
echo "after start: $(cpu recsign-keycoord)" >&2
sleep 10
echo "after 10 s idle: $(cpu recsign-keycoord)" >&2
h_sql "select pid, state, left(query, 80) from pg_stat_activity where application_name = 'recsign-keycoord'" >&2
