#!/usr/bin/env bash
# worker_sigstop.sh: a worker frozen (SIGSTOP) in the middle of a batch past
# its lease's TTL, as a long GC pause or a stalled VM would freeze it. The
# keycoord expires its lease and grants the only key to another worker;
# when the frozen one resumes (SIGCONT) it finds its deadline passed and
# signs nothing more under that lease; what it pushes after the lease ended
# is refused by the sink (fencing: the lease ended by expiry), so nothing
# of that lease is stored after its end. The key's leases never overlap,
# and the run completes. The dashboard, watching throughout, lists the
# expiry and the refusal among its recent events.
source "$(dirname "${BASH_SOURCE[0]}")/../harness.sh"

records=60000 keys=1 batch=40000 ttl=2000
h_fault_options "$ttl" 1500

h_start_db
h_init --keys "$keys" --records "$records"
dport=""
h_free_port dport || h_fail "no free port"
rs_proc_start dashboard "$H_LOGS/dashboard.log" "${H_RUN[@]}" "$H_ADMIN" dashboard --db "$H_DB" \
    --bind "127.0.0.1:$dport" --refresh-ms 200
h_start_keycoord
h_start_sink
h_start_worker 1 --holder frozen
frozen=$H_WORKER_PID
frozen_log=$H_WORKER_LOG
h_start_ventilator "$batch"

h_step "waiting for the worker to hold the key"
h_wait_until 30 "an open lease of the first worker" h_has_open_lease "frozen/$frozen"
kill -STOP "$frozen"
h_step "SIGSTOP worker-1 (pid $frozen)"
sleep 0.3   # the grant's log write may trail its reply
# Its newest lease, open or (on a machine so busy that the TTL ran out
# before this query) already expired, but not given back: it was frozen
# holding that one.
lease="$(h_sql "select id from leases where '/' || holder like '%/frozen/$frozen/%'
                and coalesce(end_reason, '') <> 'released' order by id desc limit 1")"
[[ -n "$lease" ]] || h_fail "the worker held no open lease when it was frozen; cannot test fencing"
h_check_mid_run
h_step "worker-1 frozen holding lease $lease"

lease_expired() { [[ "$(h_sql "select coalesce(end_reason, '') from leases where id = $lease")" == expired ]]; }
h_wait_until $((ttl / 1000 + 10)) "lease $lease to end by expiry" lease_expired
sleep 0.5   # past the TTL by a margin

h_start_worker 1 --holder second
second=$H_WORKER_PID
h_step "waiting for the second worker to be granted the key"
second_granted() { [[ "$(h_sql "select count(*) from leases where '/' || holder like '%/second/$second/%'")" -gt 0 ]]; }
h_wait_until 30 "a lease of the second worker" second_granted
kill -CONT "$frozen"
h_step "SIGCONT worker-1 (pid $frozen)"

h_wait_ventilator 60

# The frozen worker noticed its deadline and cut the batch short.
h_log_has "$frozen_log" "lease $lease reached its deadline after [0-9]+ of [0-9]+ records" \
    "the resumed worker did not stop at its lease's deadline"
line="$(grep -E "lease $lease reached its deadline" "$frozen_log" | head -n 1)"
signed_before="$(sed -E 's/.*after ([0-9]+) of ([0-9]+) records.*/\1/' <<<"$line")"
batch_count="$(sed -E 's/.*after ([0-9]+) of ([0-9]+) records.*/\2/' <<<"$line")"
(( signed_before < batch_count )) || h_fail "lease $lease: $signed_before of $batch_count signed; the worker was not stopped mid-batch"
# Fencing: what the worker signed under the lease before it froze may have
# been pushed in chunks and stored while the lease was valid (a busy machine
# signs thousands before the SIGSTOP lands); everything it pushed after its
# lease ended was refused. Every signature it made is one or the other.
stored="$(h_sql "select count(*) from signatures where lease_id = $lease")"
refused="$(h_sql "select coalesce(sum(records), 0) from refused_results where lease_id = $lease")"
h_eq "$((stored + refused))" "$signed_before" "signatures of lease $lease stored ($stored) plus refused ($refused)"
h_eq "$(h_sql "select count(*) from signatures s, leases l where l.id = $lease and s.lease_id = l.id
               and s.signed_at >= l.ended_at")" 0 "signatures of lease $lease stored after it ended"
refused_text=""
if (( refused > 0 )); then
    h_log_has "$H_SINK_LOG" "refused [0-9]+ signatures under lease $lease .*ended by expiry" \
        "the sink did not refuse the late results of lease $lease"
    # ... and recorded the refusal where the dashboard reads it.
    h_eq "$(h_sql "select string_agg(distinct reason, ',') from refused_results where lease_id = $lease")" \
        expired "reason of the refusals under lease $lease"
    refused_text="\"text\":\"[0-9][0-9]* signatures under lease $lease on key [0-9]* refused: expired\""
fi
# The dashboard saw the expiry and the refusal happen.
dashboard_says() { curl -fs "http://127.0.0.1:$dport/state.json" 2>/dev/null | grep -q "$1"; }
h_wait_until 30 "the dashboard's event of lease $lease expiring" \
    dashboard_says "\"kind\":\"expired\",\"at\":[0-9]*,\"text\":\"lease $lease on key [0-9]* of [^\"]*frozen/$frozen/0 expired\""
if [[ -n "$refused_text" ]]; then
    h_wait_until 30 "the dashboard's event of the refusal under lease $lease" dashboard_says "$refused_text"
fi
# The signed count the dashboard reads is the table's.
h_eq "$(h_sql "select stored from signature_counts")" "$(h_signed)" "signature_counts.stored"
h_eq "$(h_sql "select end_reason from leases where id = $lease")" expired "end of the frozen worker's lease"
# The key went to the second worker only after the frozen one's lease ended.
h_eq "$(h_sql "select count(*) from leases l, leases f where f.id = $lease and '/' || l.holder like '%/second/%'
               and l.granted_at < f.ended_at")" 0 "leases of the second worker granted before lease $lease ended"

h_finish "$batch"
echo "$RS_PROG: ok: frozen worker signed $signed_before of $batch_count under lease $lease, stopped at its deadline, results refused; run completed in $H_VENT_SECONDS s; test took $SECONDS s"
