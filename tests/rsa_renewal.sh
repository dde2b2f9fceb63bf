#!/usr/bin/env bash
# rsa_renewal.sh: batch size 1000 with RSA-4096 keys under a short lease TTL
# (3,000 ms). RSA-4096 signs about 150 records/s per core, so one batch
# takes two TTLs and more: the worker renews its lease at half the TTL while it
# signs. Shown: every batch is signed whole under one lease (1000
# signatures), no lease expired, leases lived longer than one TTL, the
# worker counted renewals; verify and audit pass. And a slow batch is not
# taken for a lost one: the worker pushes what it has signed every 0.5 s, so
# the ventilator (which re-dispatches after 3 s without a new signature)
# sends every record once.
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

# Not shorter: a renewal must make its round trip between half the TTL and
# the worker's deadline (0.8 of it), which a loaded CI machine (ASan, tests
# in parallel) may not do within the 450 ms a 1,500 ms TTL leaves.
ttl_ms=3000
h_start_db
h_init --keys 2 --algorithm rsa-4096 --records 2000
H_KC_OPTS=(--lease-ttl-ms "$ttl_ms")
h_start_services 1 2
h_run_ventilator 1000 240
h_finish 1000

h_eq "$(h_sql "select count(*) from leases where end_reason = 'expired'")" 0 "leases that expired"
h_eq "$(h_sql "select count(*) from (select lease_id from signatures group by lease_id having count(*) = 1000) t")" \
    2 "leases that signed a whole batch of 1000"
longest="$(h_sql "select (extract(epoch from max(ended_at - granted_at)) * 1000)::bigint from leases")"
(( longest > ttl_ms )) || h_fail "the longest lease lasted $longest ms, not longer than the $ttl_ms ms TTL: nothing was renewed"
grep -q 'dispatching them again' "$H_VENT_LOG" \
    && { grep 'dispatch' "$H_VENT_LOG" >&2; h_fail "the ventilator took a slow batch for a lost one and sent it again"; }
grep -q 'this process dispatched 2000 records in 2 batches' "$H_VENT_LOG" \
    || { grep 'dispatched' "$H_VENT_LOG" >&2; h_fail "the ventilator did not send each record exactly once"; }
renewals="$(grep -Eo '[0-9]+ lease renewals' "$H_LOGS/worker-1.log" | tail -n 1 | cut -d' ' -f1)"
[[ -n "$renewals" ]] && (( renewals > 0 )) || h_fail "the worker reports no lease renewals"
echo "$RS_PROG: ok: 2 batches of 1000 rsa-4096 signatures under a $ttl_ms ms TTL; longest lease $longest ms, $renewals renewals"
