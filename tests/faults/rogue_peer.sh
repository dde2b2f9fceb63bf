#!/usr/bin/env bash
# rogue_peer.sh: during a real run a hostile peer (tests/rogue.c) attacks
# every bound socket over loopback: raw TCP garbage on each port; a PULL
# that steals batches from the ventilator and never answers; DEALER and REQ
# sockets sending the keycoord garbage, wrong frame counts, every truncation
# of a valid lease request, oversized and inconsistent ones, duplicate seq,
# releases and renewals of unknown leases, then a flood of 20,000 lease
# requests from many holders (grants never released); and PUSH garbage,
# truncated RESULTS, RESULTS under bogus lease ids and under real leases
# with a wrong key to the sink. Every process stays up; the keycoord and
# the sink count what they dropped or refused; the run completes; nothing
# of the rogue's is stored; verify and audit pass.
source "$(dirname "${BASH_SOURCE[0]}")/../harness.sh"

h_need_rogue

records=100000 keys=5 batch=10 ttl=2000
h_fault_options "$ttl" 1500 4000

h_start_db
h_init --keys "$keys" --records "$records"
h_start_keycoord
h_start_sink
h_start_worker 1
h_start_worker 1
h_start_ventilator "$batch"
h_wait_signed 1000 30

h_step "the rogue attacks, with an allowed certificate (a worker gone bad) so that its garbage reaches every decoder"
"$H_ADMIN" certs --dir "$H_CERTS" --worker rogue >>"$H_LOGS/certs.log" 2>&1 || h_fail "recsign certs --worker rogue failed"
h_worker_endpoints
rc=0
timeout -k 5 60 "$H_ROGUE" --ventilator "$H_EP_VENT" --keycoord "$H_EP_KC" --sink "$H_EP_SINK" \
    --certs "$H_CERTS" --client-cert rogue \
    --flood 20000 --flood-ms 3000 --steal-ms 4000 --bogus-rows 5000 \
    >"$H_LOGS/rogue.out" 2>"$H_LOGS/rogue.log" || rc=$?
sed 's/^/    /' "$H_LOGS/rogue.out" >&2
[[ "$rc" == 0 ]] || { cat "$H_LOGS/rogue.log" >&2; h_fail "recsign-rogue exited $rc"; }
h_check_alive
h_step "every process survived the attacks"
h_wait_ventilator 90

# The attacks did happen.
stolen="$(sed -nE 's/.*stole ([0-9]+) batches.*/\1/p' "$H_LOGS/rogue.out")"
(( ${stolen:-0} > 0 )) || h_fail "the rogue stole no batch; the ventilator attack did not happen"
grants="$(sed -nE 's/.*replies: ([0-9]+) grants.*/\1/p' "$H_LOGS/rogue.out")"
h_step "the rogue stole $stolen batches and was granted ${grants:-0} leases"
# The keycoord and the sink counted what they dropped.
h_log_has "$H_KC_LOG" "dropped a malformed request" "the keycoord's drops"
h_log_has "$H_SINK_LOG" "dropped a malformed message" "the sink's drops"
# Results under a lease not in the log are held up to 10 s, then refused.
h_wait_until 20 "the sink to refuse the bogus lease ids" \
    grep -Eq "refused [0-9]+ signatures under lease [0-9]{13,} .*not in the lease log" "$H_SINK_LOG"
h_log_has "$H_SINK_LOG" "refused [0-9]+ signatures under lease [0-9]+ on key 9[0-9]{5}: the lease is on another key" \
    "the sink's refusal of real leases with a wrong key"

# Nothing of the rogue's was stored.
h_eq "$(h_sql "select count(*) from signatures where lease_id >= 1099511627776")" 0 \
    "signatures under the rogue's bogus lease ids"
h_eq "$(h_sql "select count(*) from signatures s join leases l on l.id = s.lease_id where '/' || l.holder like '%/rogue%'")" 0 \
    "signatures under leases granted to the rogue"
h_eq "$(h_sql "select count(*) from signatures s where not exists (select 1 from keys k where k.id = s.key_id)")" 0 \
    "signatures naming a key that does not exist"

h_finish "$batch"
# Their final counts, logged when they stopped.
kc_dropped="$(grep -oE 'dropped [0-9]+ malformed' "$H_KC_LOG" | tail -n 1 | grep -oE '[0-9]+' || true)"
(( ${kc_dropped:-0} > 0 )) || h_fail "the keycoord's last stats line counts no dropped request"
sink_line="$(grep -E 'stopped: [0-9]+ signatures refused' "$H_SINK_LOG" | tail -n 1 | sed -E 's/.*stopped: //' || true)"
sink_fenced="$(sed -nE 's/^([0-9]+) signatures refused.*/\1/p' <<<"$sink_line")"
sink_dropped="$(sed -nE 's/.*, ([0-9]+) malformed.*/\1/p' <<<"$sink_line")"
(( ${sink_fenced:-0} > 0 && ${sink_dropped:-0} > 0 )) \
    || h_fail "the sink's stop line does not count refused and malformed messages: '$sink_line'"
echo "$RS_PROG: ok: every process survived the rogue; keycoord dropped $kc_dropped requests; sink: $sink_line; run completed in $H_VENT_SECONDS s; test took $SECONDS s"
