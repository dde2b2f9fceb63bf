#!/usr/bin/env bash
# metrics_prometheus.sh: all four services serve /metrics and /healthz on
# --metrics-bind (the ventilator through RECSIGN_METRICS_BIND); a real
# Prometheus server scrapes them every second during a paced run; its HTTP
# API then says what the database says: recsign_signatures_stored_total is
# the count of signatures, recsign_leases_granted_total the count of leases,
# the keys by state add up to the keyring. Each service tells a real
# systemd notify socket READY=1 once it is bound and connected.
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

command -v prometheus >/dev/null || h_fail "prometheus is not installed (Debian package prometheus)"
command -v curl >/dev/null || h_fail "curl is not installed"
H_NOTIFY_LISTEN="${RECSIGN_NOTIFY_LISTEN_BIN:-$H_BUILD/tests/notify_listen}"

records=10000
keys=20
h_start_db
h_init --keys "$keys" --records "$records"

declare -A port
for svc in keycoord sink worker ventilator prometheus; do
    h_free_port p || h_fail "no free port"
    port[$svc]="$p"
done
metrics_url() { printf 'http://127.0.0.1:%s' "${port[$1]}"; }

h_step "a real Prometheus scraping all four every second"
prom_dir="$H_DIR/prometheus"
mkdir -p "$prom_dir/data"
cat >"$prom_dir/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: recsign
    static_configs:
      - targets: ['127.0.0.1:${port[keycoord]}']
        labels: {service: keycoord}
      - targets: ['127.0.0.1:${port[sink]}']
        labels: {service: sink}
      - targets: ['127.0.0.1:${port[worker]}']
        labels: {service: worker}
      - targets: ['127.0.0.1:${port[ventilator]}']
        labels: {service: ventilator}
EOF
promtool check config "$prom_dir/prometheus.yml" >"$H_LOGS/promtool.out" 2>&1 \
    || { cat "$H_LOGS/promtool.out" >&2; h_fail "promtool rejects the test's scrape config"; }
prom="http://127.0.0.1:${port[prometheus]}"
rs_proc_start prometheus "$H_LOGS/prometheus.log" prometheus \
    --config.file="$prom_dir/prometheus.yml" --storage.tsdb.path="$prom_dir/data" \
    --web.listen-address="127.0.0.1:${port[prometheus]}" --log.level=warn
h_wait_until 60 "Prometheus ready" curl -fs -o /dev/null "$prom/-/ready"

# prom_value QUERY: the value of an instant query with one result, or nothing.
prom_value() {
    curl -fsS "$prom/api/v1/query" --data-urlencode "query=$1" 2>/dev/null \
        | sed -nE 's/.*"result":\[\{"metric":\{[^}]*\},"value":\[[0-9.]+,"([^"]*)"\]\}\].*/\1/p'
}
prom_is() { [[ "$(prom_value "$1")" == "$2" ]]; }

h_step "a notify socket, as systemd gives a Type=notify unit"
notify_log="$H_LOGS/notify.out"
rs_proc_start notify_listen "$notify_log" "$H_NOTIFY_LISTEN" "$H_DIR/notify.sock"
h_wait_until 10 "the notify socket" test -S "$H_DIR/notify.sock"
export NOTIFY_SOCKET="$H_DIR/notify.sock"

h_step "services with metrics; workers paced so that the run lasts seconds"
h_start_keycoord --metrics-bind "127.0.0.1:${port[keycoord]}"
h_start_sink --metrics-bind "127.0.0.1:${port[sink]}"
h_start_worker 2 --metrics-bind "127.0.0.1:${port[worker]}" --max-rate 1000

# notified SERVICE PID: the service's READY=1 came from its own pid.
notified() { grep -q "^pid=$2 READY=1 STATUS=" "$notify_log"; }
h_wait_until 30 "keycoord READY=1" notified keycoord "$H_KC_PID"
h_wait_until 30 "sink READY=1" notified sink "$H_SINK_PID"
h_wait_until 30 "worker READY=1" notified worker "$H_WORKER_PID"

h_step "each endpoint by hand: /healthz, /metrics, 404, 405"
for svc in keycoord sink worker; do
    h_eq "$(curl -fsS "$(metrics_url "$svc")/healthz")" ok "$svc /healthz"
    curl -fsS -D "$H_LOGS/$svc.headers" "$(metrics_url "$svc")/metrics" >"$H_LOGS/$svc.metrics" \
        || h_fail "$svc /metrics failed"
    grep -qi '^content-type: text/plain; version=0.0.4' "$H_LOGS/$svc.headers" \
        || h_fail "$svc /metrics content type is not the text format 0.0.4"
    for name in process_resident_memory_bytes process_cpu_seconds_total 'process_start_time_seconds [1-9]' \
                'recsign_build_info{version="[0-9.]+"} 1'; do
        grep -Eq "^$name" "$H_LOGS/$svc.metrics" || h_fail "$svc /metrics lacks $name"
    done
    h_eq "$(curl -s -o /dev/null -w '%{http_code}' "$(metrics_url "$svc")/nothing")" 404 "$svc unknown path"
    h_eq "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$(metrics_url "$svc")/metrics")" 405 \
        "$svc POST /metrics"
done
h_log_has "$H_LOGS/sink.metrics" '^recsign_results_refused_total\{reason="expired"\} 0$' "sink refusals by reason"
h_log_has "$H_LOGS/sink.metrics" '^# TYPE recsign_sink_flush_duration_seconds histogram$' "sink flush histogram"
h_log_has "$H_LOGS/keycoord.metrics" "^recsign_keys\\{state=\"free\"\\} $keys\$" "keycoord keys by state"
h_log_has "$H_LOGS/worker.metrics" '^recsign_worker_lease_round_trip_seconds_bucket\{le="\+Inf"\} ' "worker lease round trip"

h_step "the ventilator's metrics come from RECSIGN_METRICS_BIND"
RECSIGN_METRICS_BIND="127.0.0.1:${port[ventilator]}" h_start_ventilator 50
h_wait_until 30 "ventilator READY=1" notified ventilator "$H_VENT_PID"
h_wait_until 60 "Prometheus scraping the ventilator mid-run" \
    prom_is 'up{service="ventilator"}' 1
stored_mid_run() {
    local v
    v="$(prom_value 'recsign_signatures_stored_total{service="sink"}')"
    [[ -n "$v" ]] && (( v > 0 && v < records ))
}
h_wait_until 60 "Prometheus seeing signatures stored mid-run" stored_mid_run
h_check_mid_run
h_wait_ventilator 120

h_step "Prometheus's figures against the database"
signed="$(h_signed)"
h_eq "$signed" "$records" "signatures stored"
leases="$(h_sql 'select count(*) from leases')"
h_wait_until 30 "Prometheus's recsign_signatures_stored_total = $signed" \
    prom_is 'recsign_signatures_stored_total{service="sink"}' "$signed"
h_wait_until 30 "Prometheus's recsign_leases_granted_total = $leases" \
    prom_is 'recsign_leases_granted_total{service="keycoord"}' "$leases"
h_wait_until 30 "the keys by state adding up to $keys, none leased" \
    prom_is 'sum(recsign_keys) == '"$keys"' and on() recsign_keys{state="leased"} == 0' "$keys"
# Each target is scraped on its own schedule: the worker's last scrape may
# predate its last signatures even once the sink's figure is complete.
h_wait_until 30 "Prometheus's recsign_worker_signatures_total = $signed (one worker, no refusals)" \
    prom_is 'recsign_worker_signatures_total' "$signed"
h_eq "$(prom_value 'sum(recsign_results_refused_total)')" 0 "results refused"
h_eq "$(prom_value 'sum(recsign_messages_dropped_total)')" 0 "messages dropped"
dispatched="$(prom_value 'max_over_time(recsign_records_dispatched_total[10m])')"
[[ -n "$dispatched" ]] && (( dispatched > 0 && dispatched <= records )) \
    || h_fail "the ventilator's records dispatched as scraped: '$dispatched'; expected 1..$records"
h_eq "$(prom_value 'recsign_sink_flush_duration_seconds_count > 0')" \
    "$(prom_value 'recsign_sink_flush_duration_seconds_count')" "sink flushes observed"
# The ventilator has exited: its series go stale at its first failed
# scrape after the exit, up to a scrape interval later (a CI run under ASan
# asked sooner and still counted it: 4).
h_wait_until 30 "build info of the 3 services still running only" \
    prom_is 'count(recsign_build_info)' 3

h_stop_services
h_verify
h_audit
echo "$RS_PROG: ok: Prometheus saw $signed stored signatures and $leases leases, as the database says"
