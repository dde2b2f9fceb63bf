#!/usr/bin/env bash
# prometheus_rules.sh: the example Prometheus files in deploy/prometheus are
# valid for the Prometheus the scripts install (promtool check rules, check
# config), and each alert fires on the series that mean trouble and stays
# quiet on a healthy run (promtool test rules, tests/prometheus_rules_test.yml).
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

command -v promtool >/dev/null || h_fail "promtool is not installed (Debian package prometheus)"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
deploy="$here/../deploy/prometheus"

h_step "promtool check rules"
promtool check rules "$deploy/recsign-alerts.yml" >"$H_LOGS/rules.out" 2>&1 \
    || { cat "$H_LOGS/rules.out" >&2; h_fail "promtool rejects deploy/prometheus/recsign-alerts.yml"; }
h_log_has "$H_LOGS/rules.out" 'SUCCESS: 5 rules found' "every alert rule read"

h_step "promtool check config"
(cd "$deploy" && promtool check config prometheus.yml) >"$H_LOGS/config.out" 2>&1 \
    || { cat "$H_LOGS/config.out" >&2; h_fail "promtool rejects deploy/prometheus/prometheus.yml"; }

h_step "promtool test rules: each alert fires, and only on trouble"
promtool test rules "$here/prometheus_rules_test.yml" >"$H_LOGS/test.out" 2>&1 \
    || { cat "$H_LOGS/test.out" >&2; h_fail "the alert rules do not behave as their tests expect"; }
echo "$RS_PROG: ok"
